"""The virtual camera over Fujifilm's PTP/IP variant (``ptpkit virtual serve --model fuji-x``).

::

    with VirtualCamera() as camera, FujiPtpIpServer(camera, port=0) as server:
        print(server.url)           # fuji:127.0.0.1:P:P+1:P+2, for ptpkit
        print(server.gphoto2_port)  # ptpip:127.0.0.1:P:P+1 with --camera "Fuji X (WLAN)"

Three listening ports, like a camera (:mod:`ptpkit.core.fujiptpip` has the wire format and its
sources): commands on P (55740 unless told), events on P+1 and live view on P+2. gphoto2 takes
the command and event ports from ``--port`` and connects the live view on event + 1, so the three
stay consecutive; with port 0 the server finds three free ones in a row.

The command connection is :class:`~ptpkit.virtual.server.PtpIpServer`'s, with Fujifilm's packets:
the 82-byte InitCommandRequest must carry the protocol version 0x8F53E4F2 (anything else gets
InitFail 0x201D, as the cameras do); the answer is the 0x44-byte InitCommandAck with connection
number 0; a client that finds every session taken, or ``--misbehave init-fail``, gets InitFail
0x2019 (the camera's "press change or retry"). A repeated InitCommandRequest before the first
command is answered again: libgphoto2 2.5.30 sends it twice. The same limits hold (sessions,
pending connections, idle and send timeouts), but a command connection is not dropped for lack of
an event connection: a client opens that only after InitiateOpenCapture, if at all.

The event and live-view connections have no handshake, so they are matched to the newest command
connection from the same host that has none yet, once that session's InitiateOpenCapture has
answered OK (a camera listens on them only then; a camera without the operation matches at once).
An event connection is matched as it is accepted, and a session's InitiateOpenCapture first
accepts and matches every event connection already waiting: one a client made earlier (before
this session opened capture) is never given to this session because the server had not got round
to it yet (two clients on one host under load had their event connections swapped that way, and
each heard the other's events). Likewise a session that ends first matches those waiting, which
may be its own. A connection that matches nothing is closed: the nearest a server
shared by all clients can come to the refused connection a camera gives. The live-view connection
then carries a frame every ``frame_interval_s`` (by default: as fast as the personality's
live-view picture is paced): the JPEG of ``frame_source`` (by default the personality's, else a
generated picture) behind the 14-byte header, as long as the session lasts.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from ptpkit.codes.common import Op, Rc
from ptpkit.core import fujiptpip as fuji
from ptpkit.core.connection import Connection
from ptpkit.core.events import Request
from ptpkit.core.framing import LinkEvent
from ptpkit.core.state import Role
from ptpkit.errors import ConnectError, PTPError
from ptpkit.virtual.camera import VirtualCamera
from ptpkit.virtual.imaging import render_jpeg_bytes
from ptpkit.virtual.misbehave import Mode
from ptpkit.virtual.responder import Reply, ResponderSession, ServedCamera
from ptpkit.virtual.server import PtpIpServer, _Link

log = logging.getLogger("ptpkit.virtual")

#: Live-view frames per second on the stream connection (a camera sends about this many).
FRAME_INTERVAL_S: Final = 0.1
#: Longest a new live-view connection waits for the session's previous one to end.
STREAM_HANDOVER_S: Final = 0.5
#: With port 0: tries at finding three free consecutive ports.
_PORT_ATTEMPTS: Final = 32

#: Makes the JPEG of live-view frame ``n``; None: no frame this time.
FrameSource = Callable[[int], bytes | None]
#: Matches a connection accepted on the event or live-view port (socket, peer host).
_Matcher = Callable[[socket.socket, str], None]


class _FujiSession(ResponderSession):
    """A command connection's session: it also answers a repeated InitCommandRequest, and
    notes when InitiateOpenCapture succeeded (the event and live-view ports open then)."""

    def __init__(
        self, camera: ServedCamera, connection: Connection, answer: Callable[[LinkEvent], LinkEvent]
    ) -> None:
        super().__init__(camera, connection=connection)
        self._answer = answer
        #: InitiateOpenCapture answered OK: the event and live-view connections may come.
        self.capture_opened = False
        #: Called just before capture_opened is set (the server matches the event connections
        #: already made, which belong to sessions that opened capture before this one).
        self.before_capture_opens: Callable[[], None] | None = None

    def _handle(self, event: object) -> None:
        if isinstance(event, fuji.InitCommandRequest):
            # libgphoto2 2.5.30 repeats the request after the first ack; the table allows it
            # only before the first command.
            self.outbox.put(self.connection.send(self._answer(event)), boundary=True)
            return
        super()._handle(event)

    def _send_reply(self, request: Request, reply: Reply) -> None:
        if request.code == Op.INITIATE_OPEN_CAPTURE and reply.code == Rc.OK:
            if self.before_capture_opens is not None:
                self.before_capture_opens()
            self.capture_opened = True
        super()._send_reply(request, reply)


class FujiPtpIpServer(PtpIpServer):
    """Serves one VirtualCamera over Fujifilm's PTP/IP variant (127.0.0.1 unless told).

    Takes :class:`PtpIpServer`'s options, and ``frame_source`` (the live-view JPEG for frame
    ``n``; default: a generated picture) and ``frame_interval_s``.
    """

    def __init__(
        self,
        camera: VirtualCamera,
        host: str = "127.0.0.1",
        port: int = fuji.COMMAND_PORT,
        *,
        frame_source: FrameSource | None = None,
        frame_interval_s: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(camera, host, port, **options)
        # The ack's name field holds 19 characters (0x44-byte packet).
        self.name = fuji.fit_name(self.name, fuji.MAX_ACK_NAME_UNITS)
        if frame_interval_s is None:
            # The personality's frames come at the camera's own pace (its live-view picture,
            # ptpkit.virtual.livepicture, waits for each frame to be due): no pause of our own.
            paced = frame_source is None and camera.live_view_frames is not None
            frame_interval_s = 0.0 if paced else FRAME_INTERVAL_S
        if not 0 <= frame_interval_s < float("inf"):
            raise ValueError(f"frame_interval_s must be a number >= 0, not {frame_interval_s}")
        self.frame_interval_s = frame_interval_s
        # The personality's frames (Fujifilm X: ptpkit.virtual.fujifilm), else generated ones.
        self.frame_source = frame_source or camera.live_view_frames or self._generated_frame
        #: Link numbers whose live-view connection is open.
        self._streaming: set[int] = set()
        #: The event and live-view listeners (non-blocking), and the lock held while accepting
        #: from them and matching what was accepted (by their accept loops, by a session opening
        #: capture and by a session ending: see _accept_waiting).
        self._side_listeners: list[tuple[socket.socket, _Matcher]] = []
        self._side_accept_lock = threading.Lock()
        #: Event and live-view connections matched to a session so far (diagnostics, tests).
        self.event_connections = 0
        self.stream_connections = 0

    # -- ports -----------------------------------------------------------------------------------

    def start(self) -> FujiPtpIpServer:
        listeners = self._bind_three()
        self._listener = listeners[0]
        self._listeners += listeners
        command, events, stream = listeners
        self._spawn(self._accept_loop, "fuji-accept-cmd", command, self._serve_command)
        for listener, matcher in (
            (events, self._match_event_connection),
            (stream, self._match_stream_connection),
        ):
            listener.setblocking(False)
            self._side_listeners.append((listener, matcher))
        self._spawn(self._side_accept_loop, "fuji-accept-side", [events, stream])
        log.info("virtual camera serving Fujifilm PTP/IP at %s", self.url)
        return self

    def _bind_three(self) -> list[socket.socket]:
        """Listeners on P, P+1 and P+2 (P = the port asked for, or the first of three free)."""
        for _ in range(_PORT_ATTEMPTS):
            command = self._bind(self.requested_port)
            base = int(command.getsockname()[1])
            others: list[socket.socket] = []
            try:
                if base + 2 > 0xFFFF:
                    raise ConnectError(f"no ports after {base} for events and live view")
                others = [self._bind(base + 1), self._bind(base + 2)]
            except ConnectError:
                for sock in (command, *others):
                    sock.close()
                if self.requested_port:
                    raise
                continue
            return [command, *others]
        raise ConnectError(f"no three free consecutive ports on {self.host}")

    @property
    def event_port(self) -> int:
        return self.port + 1

    @property
    def stream_port(self) -> int:
        return self.port + 2

    @property
    def url(self) -> str:
        """ptpkit's URL for this camera: ``fuji:HOST:P:P+1:P+2``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"fuji:{host}:{self.port}:{self.event_port}:{self.stream_port}"

    @property
    def gphoto2_port(self) -> str:
        """gphoto2's ``--port`` for this camera (with ``--camera "Fuji X (WLAN)"``): it takes the
        command and event ports and connects live view on the event port + 1."""
        return f"ptpip:{self.host}:{self.port}:{self.event_port}"

    # -- the command connection ------------------------------------------------------------------

    def _serve_command(self, sock: socket.socket, peer: str, accepted_at: float) -> None:
        greeter = Connection(Role.RESPONDER, fuji.FujiPtpIpFraming())
        first = self._first_packet(sock, greeter, accepted_at)
        with self._lock:
            self._pending.pop(sock, None)
        if not isinstance(first, fuji.InitCommandRequest):
            return
        sock.settimeout(self.send_timeout_s)  # writes; reads wait in select() (PtpIpServer)
        self._command_connection(sock, peer, greeter, first, accepted_at)

    def _refusal(self, request: LinkEvent) -> LinkEvent | None:
        wrong_version = (
            isinstance(request, fuji.InitCommandRequest)
            and request.protocol_version != fuji.PROTOCOL_VERSION
        )
        if wrong_version:
            return fuji.InitFail(reason=fuji.InitFailReason.INVALID_PARAMETER)
        if Mode.INIT_FAIL in self.camera.misbehavior:
            # A camera with another computer stored, waiting for "change" on its screen.
            return fuji.InitFail(reason=fuji.InitFailReason.DEVICE_BUSY)
        return None

    def _busy(self) -> LinkEvent:
        return fuji.InitFail(reason=fuji.InitFailReason.DEVICE_BUSY)

    def _acknowledge(self, number: int) -> LinkEvent:
        # Connection number 0, as the responder Fujifilm's app accepts (petabyt/vcam).
        return fuji.InitCommandAck(guid=self.guid, friendly_name=self.name)

    def _new_session(self, greeter: Connection) -> ResponderSession:
        def answer(request: LinkEvent) -> LinkEvent:
            return self._refusal(request) or self._acknowledge(0)

        if Op.INITIATE_OPEN_CAPTURE not in self.camera.operations:
            # A camera without it matches an event connection to a session at once: one made
            # before this session exists is an earlier session's, matched before this one can
            # be a candidate (as at InitiateOpenCapture below).
            self._accept_waiting()
        session = _FujiSession(self.camera, greeter, answer)
        session.before_capture_opens = self._accept_waiting
        return session

    def _expiry(self, link: _Link, now: float) -> tuple[float | None, str | None]:
        # Only the idle timeout: the event connection may never come (see the module docstring).
        if not self.idle_timeout_s:
            return None, None
        left = link.last_activity + self.idle_timeout_s - now
        if left <= 0:
            return 0.0, f"idle for {self.idle_timeout_s:g} s"
        return left, None

    def _reclaimable(self, now: float) -> _Link | None:
        # Called under the lock. Only idleness counts: a session without an event connection
        # may be at work (commands only), unlike in standard PTP/IP.
        if not self._links:
            return None
        idlest = min(self._links.values(), key=lambda link: link.last_heard)
        return idlest if now - idlest.last_heard >= self.reclaim_idle_s else None

    # -- the event and live-view connections -----------------------------------------------------

    def _match(self, peer: str, taken: Callable[[_Link], bool]) -> _Link | None:
        """The newest command connection from ``peer`` whose session may open this connection
        (called under the lock)."""
        supports_open_capture = Op.INITIATE_OPEN_CAPTURE in self.camera.operations
        candidates = [
            link
            for link in self._links.values()
            if link.peer == peer
            and not taken(link)
            and link.dropped is None
            and (
                not supports_open_capture
                or (isinstance(link.session, _FujiSession) and link.session.capture_opened)
            )
        ]
        return max(candidates, key=lambda link: link.accepted_at, default=None)

    def _side_accept_loop(self, listeners: list[socket.socket]) -> None:
        """Accept event and live-view connections as they come (the listeners are non-blocking:
        a session opening capture or ending accepts from them too, see :meth:`_accept_waiting`)."""
        while not self._closed.is_set():
            try:
                select.select(listeners, [], [])
            except (OSError, ValueError):  # closed under us
                return
            if self._closed.is_set():
                return
            self._accept_waiting()

    def _accept_waiting(self) -> None:
        """Accept every event and live-view connection waiting and match each now.

        Called by their accept loop; by a session about to answer its InitiateOpenCapture (a
        connection made before then is some earlier session's: its client dialled after its own
        InitiateOpenCapture, so it is matched before this session can be a candidate); and by a
        session ending (one made while it lived may be its own: a quick client can be done and
        gone before a loaded server's accept loop runs). The lock makes a connection the accept
        loop has just taken count as waiting too: its match is done before this returns."""
        with self._side_accept_lock:
            for listener, matcher in self._side_listeners:
                while True:
                    try:
                        sock, address = listener.accept()
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        if not self._closed.is_set():
                            log.warning("Fujifilm PTP/IP: accept failed: %s", exc)
                        break
                    sock.setblocking(True)  # accepted sockets inherit the listener's mode
                    with contextlib.suppress(OSError):  # as PtpIpServer's accept loop
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    with self._lock:
                        self.connections_served += 1
                    matcher(sock, str(address[0]))

    def _link_ending(self, link: _Link) -> None:
        self._accept_waiting()

    def _match_event_connection(self, sock: socket.socket, peer: str) -> None:
        with self._lock:
            link = self._match(peer, lambda link: link.event_socket is not None)
            if link is not None:
                self._sockets.add(sock)
                link.event_socket = sock
                link.acquire()
                self.event_connections += 1
        if link is None:
            log.info("Fujifilm event connection from %s matches no session ready for it", peer)
            with contextlib.suppress(OSError):
                sock.close()
            return
        self._spawn(self._serve_events, f"fuji-events-{peer}", link, sock)

    def _serve_events(self, link: _Link, sock: socket.socket) -> None:
        try:
            sock.settimeout(self.send_timeout_s)
            greeter = Connection(Role.RESPONDER, fuji.FujiPtpIpFraming(fuji.Channel.EVENT))
            link.events_ready.set()  # events queued before this connection opened
            self._event_loop(link, sock, greeter, memoryview(bytearray(65536)))
        except (PTPError, OSError) as exc:
            log.info("Fujifilm event connection of %s: %s", link.peer, exc)
        except Exception:  # never let one client's surprise kill the server
            log.exception("Fujifilm event connection of %s: unexpected error", link.peer)
        finally:
            link.release()
            with self._lock:
                self._sockets.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _match_stream_connection(self, sock: socket.socket, peer: str) -> None:
        with self._lock:
            link = self._match(peer, lambda link: link.number in self._streaming)
            if link is not None:
                self._streaming.add(link.number)
                self.stream_connections += 1
            # A session whose previous live-view connection still streams (see _handover).
            busy = link is None and self._match(peer, lambda link: False) is not None
            if link is not None or busy:
                self._sockets.add(sock)
        if link is not None:
            self._spawn(self._serve_stream, f"fuji-lv-{peer}", link, sock)
        elif busy:
            self._spawn(self._handover, f"fuji-lv-{peer}", peer, sock)
        else:
            log.info("Fujifilm live-view connection from %s matches no session ready for it", peer)
            with contextlib.suppress(OSError):
                sock.close()

    def _handover(self, peer: str, sock: socket.socket) -> None:
        """A client that closes its live-view connection and opens the next at once (live view
        stopped and started again) may find the old one still streaming for a moment (until its
        loop sees the close, within a frame): the new one waits for that, briefly."""
        give_up = time.monotonic() + STREAM_HANDOVER_S
        link = None
        while not self._closed.is_set() and time.monotonic() < give_up:
            time.sleep(0.005)
            with self._lock:
                link = self._match(peer, lambda link: link.number in self._streaming)
                if link is not None:
                    self._streaming.add(link.number)
                    self.stream_connections += 1
                    break
                if self._match(peer, lambda link: False) is None:
                    break  # that session ended: nothing to wait for
        if link is None:
            log.info("Fujifilm live-view connection from %s matches no session ready for it", peer)
            with self._lock:
                self._sockets.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()
            return
        self._serve_stream(link, sock)

    def _serve_stream(self, link: _Link, sock: socket.socket) -> None:
        try:
            sock.settimeout(self.send_timeout_s)  # a client that stops reading ends the stream
            self._stream_loop(link, sock)
        except (PTPError, OSError) as exc:
            log.info("Fujifilm live-view connection of %s: %s", link.peer, exc)
        except Exception:  # never let one client's surprise kill the server
            log.exception("Fujifilm live-view connection of %s: unexpected error", link.peer)
        finally:
            with self._lock:
                self._streaming.discard(link.number)
                self._sockets.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _stream_loop(self, link: _Link, sock: socket.socket) -> None:
        counter = 0
        while not self._closed.is_set() and not link.session.closed and link.dropped is None:
            jpeg = self.frame_source(counter)
            if jpeg is not None:
                sock.sendall(fuji.encode_stream_frame(jpeg, counter))
                counter += 1
            # The client sends nothing here; what it sends is read and dropped, its close ends
            # the stream.
            readable, _, _ = select.select([sock], [], [], self.frame_interval_s)
            if readable and not sock.recv(4096):
                return

    def _generated_frame(self, counter: int) -> bytes:
        personality = self.camera.personality
        return render_jpeg_bytes(
            title=f"live view {counter}",
            taken=_dt.datetime.now().replace(microsecond=0),
            size=(640, 426),
            seed=counter % 8,
            make=personality.manufacturer,
            model=personality.model,
            quality=70,
        )


__all__ = ["FRAME_INTERVAL_S", "FrameSource", "FujiPtpIpServer"]
