"""The virtual camera on the network: a PTP/IP responder (``ptpkit virtual serve``).

::

    with VirtualCamera() as camera, PtpIpServer(camera, port=0) as server:
        print(server.url)                      # ptpip:127.0.0.1:PORT:PORT
        ...                                    # any PTP/IP client, gphoto2 included

Each TCP connection is served by a thread. Its first packet says what it is: InitCommandRequest
opens a command connection with a new connection number; InitEventRequest quoting that number
becomes its event connection, which carries the events of that session and answers probes.
Several clients can be connected at once, each with its own session on the shared camera.

What a client can hold is bounded, so that no client, however it behaves, keeps the others out
for long (each limit is a constructor argument and a ``virtual serve`` option):

- a new connection has ONE deadline from accept (``handshake_timeout_s``) to say what it is, and a
  command connection has the same deadline to be joined by its event connection: sending the
  Init packet a byte at a time, or never opening the event connection, does not extend it;
- connections that have not sent their Init packet yet are at most ``max_pending``; when one more
  arrives, the oldest is dropped (a real client sends its Init packet at once, so it passes
  through in a moment; a flood only displaces itself);
- sessions are at most ``max_sessions``. When they are all taken, a new client takes the place of
  a session whose event connection never came, else of the session idle longest if it has been
  idle ``reclaim_idle_s`` (events written to it do not count: every session gets them), else it
  gets InitFail(busy). Sessions in use are never dropped for a
  newcomer: a flood of complete handshakes cannot push out a client at work;
- a session with no traffic either way for ``idle_timeout_s`` is closed (0: never). The default
  is an hour because real clients idle for long: gphoto2 waiting for events over PTP/IP sends
  nothing at all (libgphoto2 sends no probes), and a tethering session sits between shots.
  It is housekeeping for forgotten sessions; the reclaiming above is what keeps the server open;
- a write that makes no progress for ``send_timeout_s`` (a client that stopped reading) ends the
  connection.

Writes are vectored (``sendmsg`` of headers and payload views, no copies) with TCP_NODELAY, and a
reply's packets are coalesced into one write by default: separate small writes are what costs
round trips through delayed ACKs. ``packet_per_write=True`` instead writes each PTP/IP packet on
its own, because Wireshark's PTP/IP dissector decodes only the first packet of a TCP segment
(it does no reassembly); captures meant for it use that mode.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import platform
import select
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ptpkit._sync import Latch
from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection
from ptpkit.core.events import NEED_DATA, Cancel
from ptpkit.core.framing import LinkEvent
from ptpkit.core.link import LinkFault
from ptpkit.core.ptpip import (
    DEFAULT_PORT,
    InitCommandAck,
    InitCommandRequest,
    InitEventAck,
    InitEventRequest,
    InitFail,
    InitFailReason,
    ProbeRequest,
    ProbeResponse,
    PtpIpFraming,
)
from ptpkit.core.state import Role
from ptpkit.errors import ConnectError, PTPError
from ptpkit.virtual.camera import VirtualCamera, request_arrived
from ptpkit.virtual.misbehave import Mode, send_handshake_answer
from ptpkit.virtual.responder import ResponderSession

if TYPE_CHECKING:
    from ptpkit.core import fujiptpip

log = logging.getLogger("ptpkit.virtual")

#: One deadline from accept: for the Init packet, and for a command connection's event connection
#: to join it. A real client needs milliseconds on a LAN (libgphoto2 ptpip.c opens the event
#: connection right after the InitCommandAck); 10 s leaves room for a slow Wi-Fi link.
HANDSHAKE_TIMEOUT_S: Final = 10.0
#: Connections that have not sent their Init packet yet; one more drops the oldest.
MAX_PENDING: Final = 32
#: Sessions (command connections) at once; see the module docstring for what happens beyond.
MAX_SESSIONS: Final = 64
#: A session with no traffic for this long is closed (0: never). Why so long: module docstring.
IDLE_TIMEOUT_S: Final = 3600.0
#: When every session is taken, one idle this long gives its place to a new client.
RECLAIM_IDLE_S: Final = 60.0
#: A write that makes no progress for this long (the client stopped reading) ends the connection.
SEND_TIMEOUT_S: Final = 30.0
_RECV_BYTES: Final = 1 << 20

#: Serves one accepted connection: (socket, peer address, when it was accepted).
_Handler = Callable[[socket.socket, str, float], None]


#: Linux stamps each received packet with the wall-clock time it arrived (SO_TIMESTAMPNS,
#: socket(7)): a timespec of two native longs in an ancillary message of that type. Python does
#: not name the option; 35 is its number in asm-generic/socket.h, which every Linux
#: architecture but alpha, mips, parisc and sparc uses.
_TIMESTAMPNS: Final = getattr(
    socket,
    "SO_TIMESTAMPNS",
    35
    if sys.platform == "linux"
    and not platform.machine().lower().startswith(("alpha", "mips", "parisc", "sparc"))
    else None,
)
_TIMESPEC: Final = struct.Struct("@ll")


def _stamp_arrivals(sock: socket.socket) -> None:
    """Ask the kernel to stamp what arrives on ``sock`` (where it can)."""
    if _TIMESTAMPNS is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, _TIMESTAMPNS, 1)


def _receive(sock: socket.socket, view: memoryview) -> tuple[int, int | None]:
    """Read into ``view``: (bytes read, the kernel's arrival time of the data in ns, or None
    where the kernel gives none)."""
    if _TIMESTAMPNS is None:
        return sock.recv_into(view), None
    count, ancillary, _, _ = sock.recvmsg_into([view], socket.CMSG_SPACE(_TIMESPEC.size))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == _TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return count, seconds * 1_000_000_000 + nanoseconds
    return count, None


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge at once instead of delaying the ACK (Linux re-enables delaying after reads).

    Clients that leave Nagle's algorithm on (gphoto2 does) send a data phase as a small header
    write then the data; Nagle holds the data until the header is acknowledged, and a delayed
    ACK makes that 40 ms per transaction.
    """
    if hasattr(socket, "TCP_QUICKACK"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


class _Wakeup:
    """A self-pipe that a select() loop can wait on beside its socket."""

    def __init__(self) -> None:
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        self._writer.setblocking(False)

    def set(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe is already a pending wake-up
            self._writer.send(b"!")

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            while self.reader.recv(4096):
                pass

    def close(self) -> None:
        self.reader.close()
        self._writer.close()


@dataclass(eq=False)
class _Link:
    """One client: its command connection, its session, and its event connection once open."""

    number: int
    session: ResponderSession
    command: socket.socket
    peer: str
    name: str
    #: When the command connection was accepted (time.monotonic()): its handshake deadline,
    #: event connection included, counts from there.
    accepted_at: float = 0.0
    #: The last traffic either way, on either connection (time.monotonic()).
    last_activity: float = 0.0
    #: The same without the events written to it (time.monotonic()): what reclaiming goes by.
    #: Every session gets the camera's events, another client's capture's included, so they
    #: do not show that this one's client is still there.
    last_heard: float = 0.0
    #: Why the server dropped this link (it is closing); None while it is served.
    dropped: str | None = None
    event_socket: socket.socket | None = None
    #: Wakes the event connection's thread: events are queued (or the link is closing).
    events_ready: _Wakeup = field(default_factory=_Wakeup)
    #: Wakes the command connection's thread: a cancel from the event connection queued output.
    output_ready: _Wakeup = field(default_factory=_Wakeup)
    #: Threads using the wake-up pipes (command, then event): the last one out closes them.
    _users: int = 1
    _users_lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self) -> None:
        with self._users_lock:
            self._users += 1

    def release(self) -> None:
        with self._users_lock:
            self._users -= 1
            last = self._users == 0
        if last:
            self.events_ready.close()
            self.output_ready.close()


class PtpIpServer:
    """Serves one VirtualCamera to PTP/IP clients on a TCP port (127.0.0.1 unless told)."""

    def __init__(
        self,
        camera: VirtualCamera,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        name: str | None = None,
        guid: bytes | None = None,
        packet_per_write: bool = False,
        max_sessions: int = MAX_SESSIONS,
        max_pending: int = MAX_PENDING,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        reclaim_idle_s: float = RECLAIM_IDLE_S,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        # max_sessions=0 is a camera that is always busy (InitFail(busy) for everyone).
        if max_sessions < 0 or max_pending < 1:
            raise ValueError(
                f"max_sessions must be at least 0 and max_pending at least 1, not "
                f"{max_sessions} and {max_pending}"
            )
        for label, seconds in (
            ("handshake_timeout_s", handshake_timeout_s),
            ("idle_timeout_s", idle_timeout_s),
            ("reclaim_idle_s", reclaim_idle_s),
            ("send_timeout_s", send_timeout_s),
        ):
            if not math.isfinite(seconds) or seconds < 0:
                raise ValueError(f"{label} must be a finite number of seconds >= 0, not {seconds}")
        if handshake_timeout_s == 0 or send_timeout_s == 0:
            raise ValueError("handshake_timeout_s and send_timeout_s must be more than 0")
        self.camera = camera
        self.host = host
        self.requested_port = port
        self.name = name or str(camera.properties[0xD402].current())
        # Stable per camera serial number, like a real camera's GUID.
        self.guid = guid or uuid.uuid5(uuid.NAMESPACE_OID, camera.personality.serial_number).bytes
        self.packet_per_write = packet_per_write
        self.max_sessions = max_sessions
        self.max_pending = max_pending
        self.handshake_timeout_s = handshake_timeout_s
        #: 0: sessions never expire for idleness.
        self.idle_timeout_s = idle_timeout_s
        self.reclaim_idle_s = reclaim_idle_s
        self.send_timeout_s = send_timeout_s
        self._listener: socket.socket | None = None
        #: Every listening socket (a variant may listen on several ports).
        self._listeners: list[socket.socket] = []
        self._links: dict[int, _Link] = {}
        #: Connections that have not sent their Init packet, oldest first (dicts keep order).
        self._pending: dict[socket.socket, float] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()
        self._closed = Latch()  # waited on by serve_forever: Ctrl-C safe (ptpkit._sync)
        self.connections_served = 0
        #: Connections and sessions dropped by the limits above (for diagnostics and tests).
        self.connections_dropped = 0

    # -- life ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._listener is None:
            return self.requested_port
        return int(self._listener.getsockname()[1])

    @property
    def url(self) -> str:
        """The URL a client connects with (gphoto2 takes the same: ``ptpip:HOST:PORT:PORT``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ptpip:{host}:{self.port}:{self.port}"

    def start(self) -> PtpIpServer:
        listener = self._bind(self.requested_port)
        self._listener = listener
        self._listeners.append(listener)
        self._spawn(self._accept_loop, "ptpip-accept", listener, self._serve_connection)
        log.info("virtual camera serving PTP/IP at %s", self.url)
        return self

    def _bind(self, port: int) -> socket.socket:
        """A listening socket on ``port`` of the server's host (ConnectError when taken)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, port))
        except OSError as exc:
            listener.close()
            raise ConnectError(
                f"cannot listen on {self.host}:{port}: {exc.strerror or exc}"
            ) from exc
        listener.listen(128)
        return listener

    def serve_forever(self) -> None:
        """Serve until close() (from another thread) or Ctrl-C."""
        if self._listener is None:
            self.start()
        try:
            self._closed.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5.0)

    def __enter__(self) -> PtpIpServer:
        return self.start() if self._listener is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def active_sessions(self) -> int:
        with self._lock:
            return len(self._links)

    @property
    def pending_connections(self) -> int:
        """Connections accepted that have not sent their Init packet yet."""
        with self._lock:
            return len(self._pending)

    def _spawn(self, target: object, name: str, *args: object) -> None:
        assert callable(target)

        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        # Added and started under the lock, so close() never sees a thread it cannot join yet
        # (joining an unstarted thread raises) nor the set changing while it copies it.
        with self._lock:
            self._threads.add(thread)
            thread.start()

    # -- accepting -------------------------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket, handler: _Handler) -> None:
        while not self._closed.is_set():
            try:
                sock, address = listener.accept()
            except OSError as exc:
                if self._closed.is_set() or listener.fileno() == -1:
                    return  # closed
                # A connection reset before it was accepted (ECONNABORTED on BSDs), or out of
                # file descriptors (EMFILE): the next client may fare better.
                log.warning("PTP/IP server: accept failed: %s", exc)
                time.sleep(0.05)
                continue
            # A client may have reset the connection while it waited to be accepted; some
            # systems (macOS) then refuse setsockopt. The accept loop must not die of it.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            accepted_at = time.monotonic()
            with self._lock:
                self._sockets.add(sock)
                self.connections_served += 1
                oldest = None
                if len(self._pending) >= self.max_pending:
                    # Full of connections that say nothing: the oldest has had the longest to
                    # speak. Dropping it (not the newcomer) means a flood displaces only itself,
                    # while a real client, which speaks at once, gets through.
                    oldest = next(iter(self._pending))
                    del self._pending[oldest]
                    self.connections_dropped += 1
                self._pending[sock] = accepted_at
            if oldest is not None:
                log.info("PTP/IP server: too many connections without a handshake; dropping one")
                with contextlib.suppress(OSError):
                    oldest.shutdown(socket.SHUT_RDWR)
            self._spawn(
                self._serve,
                f"ptpip-{address[0]}:{address[1]}",
                handler,
                sock,
                f"{address[0]}",
                accepted_at,
            )

    def _serve(self, handler: _Handler, sock: socket.socket, peer: str, accepted_at: float) -> None:
        try:
            handler(sock, peer, accepted_at)
        except (PTPError, OSError) as exc:
            log.info("PTP/IP client %s: %s", peer, exc)
        except Exception:  # never let one client's surprise kill the server
            log.exception("PTP/IP client %s: unexpected error", peer)
        finally:
            with self._lock:
                self._sockets.discard(sock)
                self._pending.pop(sock, None)
            with contextlib.suppress(OSError):
                sock.close()

    def _serve_connection(self, sock: socket.socket, peer: str, accepted_at: float) -> None:
        greeter = Connection(Role.RESPONDER, PtpIpFraming())
        first = self._first_packet(sock, greeter, accepted_at)
        with self._lock:
            self._pending.pop(sock, None)
        if first is None:
            return
        # From here on, reads wait in select() with their own deadlines; the socket's timeout
        # bounds writes: one that makes no progress for send_timeout_s raises TimeoutError.
        sock.settimeout(self.send_timeout_s)
        if isinstance(first, InitCommandRequest):
            self._command_connection(sock, peer, greeter, first, accepted_at)
        elif isinstance(first, InitEventRequest):
            self._event_connection(sock, peer, greeter, first)

    def _first_packet(
        self, sock: socket.socket, greeter: Connection, accepted_at: float
    ) -> LinkEvent | None:
        # One deadline for the whole packet: a timeout per read would let a client that sends
        # a byte every few seconds hold the connection (and its thread) for as long as it likes.
        deadline = accepted_at + self.handshake_timeout_s
        buffer = bytearray(4096)
        while True:
            event = greeter.next_event()
            if event is not NEED_DATA:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.info(
                    "PTP/IP server: no Init packet within %g s; dropping the connection",
                    self.handshake_timeout_s,
                )
                return None
            sock.settimeout(remaining)
            try:
                count = sock.recv_into(buffer)
            except TimeoutError:
                continue  # the deadline check above ends it
            if count == 0:
                return None
            greeter.receive_data(memoryview(buffer)[:count])
        if isinstance(event, LinkEvent):
            return event
        return None  # the state table allows nothing else first; ProtocolError covered above

    # -- the command connection ------------------------------------------------------------------

    # -- what a variant of PTP/IP answers (ptpkit.virtual.fujiserver overrides these) -----------

    def _refusal(self, request: LinkEvent) -> LinkEvent | None:
        """The InitFail for a command connection refused at once, or None to serve it."""
        if Mode.INIT_FAIL in self.camera.misbehavior:
            # A camera that does not know this computer: "not paired".
            return InitFail(reason=InitFailReason.REJECTED_INITIATOR)
        return None

    def _busy(self) -> LinkEvent:
        """The InitFail for a client when every session is taken."""
        return InitFail(reason=InitFailReason.BUSY)

    def _acknowledge(self, number: int) -> LinkEvent:
        return InitCommandAck(connection_number=number, guid=self.guid, friendly_name=self.name)

    def _new_session(self, greeter: Connection) -> ResponderSession:
        return ResponderSession(self.camera, connection=greeter)

    def _command_connection(
        self,
        sock: socket.socket,
        peer: str,
        greeter: Connection,
        request: InitCommandRequest | fujiptpip.InitCommandRequest,
        accepted_at: float,
    ) -> None:
        refusal = self._refusal(request)
        if refusal is not None:
            self._write(sock, greeter.send(refusal))
            return
        session = self._new_session(greeter)
        link = _Link(
            0,
            session,
            sock,
            peer,
            request.friendly_name,
            accepted_at=accepted_at,
            last_activity=time.monotonic(),
            last_heard=time.monotonic(),
        )
        # Registered before the Ack goes out: the client opens its event connection as soon as
        # it reads the Ack, and that connection must find this one.
        with self._lock:
            victim = None
            if len(self._links) >= self.max_sessions:
                victim = self._reclaimable(time.monotonic())
                if victim is not None:
                    del self._links[victim.number]
                    self.connections_dropped += 1
            busy = len(self._links) >= self.max_sessions
            if not busy:
                link.number = next(self._numbers)
                self._links[link.number] = link
        if victim is not None:
            self._drop(victim)
        if busy:
            log.info("PTP/IP client %s refused: %d sessions, none idle", peer, self.max_sessions)
            session.close()
            link.release()
            self._write(sock, greeter.send(self._busy()))
            return
        number = link.number
        session.on_event = link.events_ready.set
        session.on_output = link.output_ready.set  # a misbehaving camera's timed output
        try:
            ack = greeter.send(self._acknowledge(number))
            answer = b"".join(bytes(b) for b in ack)
            if not send_handshake_answer(self.camera.misbehavior, sock, answer, self._closed):
                return
            log.info("PTP/IP client %r at %s: connection %d", request.friendly_name, peer, number)
            # Bytes that came in the handshake's read after InitCommandRequest (a client that
            # did not wait for the Ack) are in the connection already: act on them now, or
            # they would wait for more bytes that may never come.
            session.receive_data(b"")
            self._command_loop(link)
        finally:
            self._link_ending(link)
            with self._lock:
                self._links.pop(number, None)
            session.close()
            event_socket = link.event_socket
            if event_socket is not None:
                with contextlib.suppress(OSError):
                    event_socket.shutdown(socket.SHUT_RDWR)
            link.events_ready.set()
            link.release()
            log.info("PTP/IP connection %d closed", number)

    def _link_ending(self, link: _Link) -> None:
        """Called as ``link``'s command connection ends, before the link is forgotten (a variant
        whose other connections are matched to it late matches them now)."""

    def _reclaimable(self, now: float) -> _Link | None:
        """The session to give up for a newcomer when all are taken (called under the lock):
        the oldest whose event connection never came, else the one idle longest if it has been
        idle ``reclaim_idle_s``; None if every session is in use."""
        unpaired = [link for link in self._links.values() if link.event_socket is None]
        if unpaired:
            return min(unpaired, key=lambda link: link.accepted_at)
        if not self._links:
            return None
        idlest = min(self._links.values(), key=lambda link: link.last_heard)
        return idlest if now - idlest.last_heard >= self.reclaim_idle_s else None

    def _drop(self, link: _Link) -> None:
        """End a session from another thread: its threads see their sockets shut and clean up."""
        link.dropped = "its place went to a new client"
        log.info("PTP/IP connection %d dropped: %s", link.number, link.dropped)
        with contextlib.suppress(OSError):
            link.command.shutdown(socket.SHUT_RDWR)

    def _expiry(self, link: _Link, now: float) -> tuple[float | None, str | None]:
        """(seconds until the link's next deadline or None, why it expired or None)."""
        waits: list[float] = []
        if link.event_socket is None:
            left = link.accepted_at + self.handshake_timeout_s - now
            if left <= 0:
                return 0.0, f"no event connection within {self.handshake_timeout_s:g} s"
            waits.append(left)
        if self.idle_timeout_s:
            left = link.last_activity + self.idle_timeout_s - now
            if left <= 0:
                return 0.0, f"idle for {self.idle_timeout_s:g} s"
            waits.append(left)
        return (min(waits) if waits else None), None

    def _command_loop(self, link: _Link) -> None:
        sock, session = link.command, link.session
        _stamp_arrivals(sock)
        buffer = bytearray(_RECV_BYTES)
        view = memoryview(buffer)
        silent = False
        while not self._closed.is_set():
            if not silent:
                try:
                    self._flush(link)
                except LinkFault as fault:
                    if fault.action == "disconnect":
                        log.info("misbehaving: hanging up on connection %d", link.number)
                        return
                    # A stall: stay connected, read what comes, answer nothing ever again.
                    log.info("misbehaving: connection %d goes silent", link.number)
                    silent = True
            wait_s, expired = self._expiry(link, time.monotonic())
            if expired is not None:
                link.dropped = expired
                log.info("PTP/IP connection %d closed: %s", link.number, expired)
                return
            # Wait for the client, or for a wake-up (a cancel that queued a response), or for
            # the link's next deadline.
            readable, _, _ = select.select([sock, link.output_ready.reader], [], [], wait_s)
            if link.output_ready.reader in readable:
                link.output_ready.clear()
            if sock not in readable:
                continue
            budget = self.camera.misbehavior.read_budget(session.connection.phase)
            count, arrived_ns = _receive(sock, view[:budget] if budget else view)
            if count == 0:
                return
            link.last_activity = link.last_heard = time.monotonic()
            _quick_ack(sock)
            # Requests answered in this call arrived at this (kernel) time: a capture's log
            # says when its request reached the camera (VirtualCamera.on_capture).
            request_arrived(arrived_ns)
            try:
                session.receive_data(view[:count])
            finally:
                request_arrived(None)
            if budget is not None:  # slow-reader: the next bytes are read a tick later
                self._closed.wait(self.camera.misbehavior.tick_s)

    def _flush(self, link: _Link) -> None:
        """Send everything the session has to say, reading any cancel that arrives meanwhile."""
        sock, session = link.command, link.session
        while True:
            buffers = session.output_packet() if self.packet_per_write else session.output_buffers()
            if not buffers:
                return
            sent = sock.sendmsg(buffers)
            session.consume_output(sent)
            link.last_activity = link.last_heard = time.monotonic()
            # A long data phase: look for a Cancel without blocking, between writes.
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                chunk = bytearray(65536)
                count, arrived_ns = _receive(sock, memoryview(chunk))
                if not count:
                    return  # closed: the command loop sees it on its next read
                request_arrived(arrived_ns)
                try:
                    session.receive_data(memoryview(chunk)[:count])
                finally:
                    request_arrived(None)

    # -- the event connection --------------------------------------------------------------------

    def _event_connection(
        self, sock: socket.socket, peer: str, greeter: Connection, request: InitEventRequest
    ) -> None:
        with self._lock:
            link = self._links.get(request.connection_number)
            # One event connection per command connection, and only while that one is open.
            # ... and from the same host: connection numbers are easy to guess, and a stranger
            # must not take another client's events (nor, pairing it, keep it from being
            # reclaimed). A client opens both connections to the camera from one address.
            accepted = link is not None and link.event_socket is None and link.peer == peer
            if link is not None and accepted:
                link.event_socket = sock
                link.acquire()
        if link is None or not accepted:
            self._write(sock, greeter.send(InitFail(reason=InitFailReason.UNSPECIFIED)))
            return
        try:
            self._write(sock, greeter.send(InitEventAck()))
            link.events_ready.set()  # events queued before this connection opened
            self._event_loop(link, sock, greeter, memoryview(bytearray(65536)))
        finally:
            link.release()

    def _event_loop(
        self, link: _Link, sock: socket.socket, greeter: Connection, view: memoryview
    ) -> None:
        self._event_channel_input(link, sock, greeter)  # what came with InitEventRequest
        while not self._closed.is_set() and not link.session.closed:
            readable, _, _ = select.select([sock, link.events_ready.reader], [], [])
            if link.events_ready.reader in readable:
                link.events_ready.clear()
                events = link.session.take_events()
                if self.packet_per_write:
                    for event in events:
                        self._write(sock, greeter.send(event))
                elif events:
                    # The events queued so far in one write, as a reply's packets: an event a
                    # write would cost a segment and a wake-up of the client each.
                    self._write(sock, [b for event in events for b in greeter.send(event)])
                if events:
                    link.last_activity = time.monotonic()
            if sock in readable:
                count = sock.recv_into(view)
                if count == 0:
                    return
                link.last_activity = link.last_heard = time.monotonic()
                greeter.receive_data(view[:count])
                self._event_channel_input(link, sock, greeter)

    def _event_channel_input(self, link: _Link, sock: socket.socket, greeter: Connection) -> None:
        """Act on what the client sent on its event connection: probes and cancels."""
        while (incoming := greeter.next_event()) is not NEED_DATA:
            if isinstance(incoming, ProbeRequest):
                if not self.camera.misbehavior.ignores_probes:
                    self._write(sock, greeter.send(ProbeResponse()))
            elif isinstance(incoming, Cancel):
                link.session.cancel(incoming.transaction_id, respond=True)
                link.output_ready.set()

    @staticmethod
    def _write(sock: socket.socket, buffers: Sequence[BytesLike]) -> None:
        sock.sendall(b"".join(bytes(b) for b in buffers))
