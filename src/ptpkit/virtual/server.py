"""The virtual camera on the network: a PTP/IP responder (``ptpkit virtual serve``).

::

    with VirtualCamera() as camera, PtpIpServer(camera, port=0) as server:
        print(server.url)                      # ptpip:127.0.0.1:PORT:PORT
        ...                                    # any PTP/IP client, gphoto2 included

Each TCP connection is served by a thread. Its first packet says what it is: InitCommandRequest
opens a command connection with a new connection number; InitEventRequest quoting that number
becomes its event connection, which carries the events of that session and answers probes.
Several clients can be connected at once, each with its own session on the shared camera.

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
import select
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection
from ptpkit.core.events import NEED_DATA, Cancel
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
from ptpkit.virtual.camera import VirtualCamera
from ptpkit.virtual.misbehave import LinkFault, Mode, send_handshake_answer
from ptpkit.virtual.responder import ResponderSession

log = logging.getLogger("ptpkit.virtual")

#: How long a new connection may take to send its Init packet.
HANDSHAKE_TIMEOUT_S: Final = 10.0
#: Command connections served at once; more get InitFail(busy).
MAX_SESSIONS: Final = 64
_RECV_BYTES: Final = 1 << 20


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
    ) -> None:
        self.camera = camera
        self.host = host
        self.requested_port = port
        self.name = name or str(camera.properties[0xD402].current())
        # Stable per camera serial number, like a real camera's GUID.
        self.guid = guid or uuid.uuid5(uuid.NAMESPACE_OID, camera.personality.serial_number).bytes
        self.packet_per_write = packet_per_write
        self.max_sessions = max_sessions
        self._listener: socket.socket | None = None
        self._links: dict[int, _Link] = {}
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()
        self._closed = threading.Event()
        self.connections_served = 0

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
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.requested_port))
        except OSError as exc:
            listener.close()
            raise ConnectError(
                f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror or exc}"
            ) from exc
        listener.listen(128)
        self._listener = listener
        self._spawn(self._accept_loop, "ptpip-accept")
        log.info("virtual camera serving PTP/IP at %s", self.url)
        return self

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
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
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

    def _spawn(self, target: object, name: str, *args: object) -> None:
        assert callable(target)

        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    # -- accepting -------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
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
            with self._lock:
                self._sockets.add(sock)
                self.connections_served += 1
            self._spawn(self._serve, f"ptpip-{address[0]}:{address[1]}", sock, f"{address[0]}")

    def _serve(self, sock: socket.socket, peer: str) -> None:
        try:
            self._serve_connection(sock, peer)
        except (PTPError, OSError) as exc:
            log.info("PTP/IP client %s: %s", peer, exc)
        except Exception:  # never let one client's surprise kill the server
            log.exception("PTP/IP client %s: unexpected error", peer)
        finally:
            with self._lock:
                self._sockets.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def _serve_connection(self, sock: socket.socket, peer: str) -> None:
        greeter = Connection(Role.RESPONDER, PtpIpFraming())
        first = self._first_packet(sock, greeter)
        if first is None:
            return
        if isinstance(first, InitCommandRequest):
            self._command_connection(sock, peer, greeter, first)
        elif isinstance(first, InitEventRequest):
            self._event_connection(sock, greeter, first)

    def _first_packet(
        self, sock: socket.socket, greeter: Connection
    ) -> InitCommandRequest | InitEventRequest | None:
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        buffer = bytearray(4096)
        while True:
            event = greeter.next_event()
            if event is not NEED_DATA:
                break
            count = sock.recv_into(buffer)
            if count == 0:
                return None
            greeter.receive_data(memoryview(buffer)[:count])
        sock.settimeout(None)
        if isinstance(event, (InitCommandRequest, InitEventRequest)):
            return event
        return None  # the state table allows nothing else first; ProtocolError covered above

    # -- the command connection ------------------------------------------------------------------

    def _command_connection(
        self, sock: socket.socket, peer: str, greeter: Connection, request: InitCommandRequest
    ) -> None:
        if Mode.INIT_FAIL in self.camera.misbehavior:
            # A camera that does not know this computer: "not paired".
            self._write(sock, greeter.send(InitFail(reason=InitFailReason.REJECTED_INITIATOR)))
            return
        with self._lock:
            busy = len(self._links) >= self.max_sessions
            number = 0 if busy else next(self._numbers)
        if busy:
            self._write(sock, greeter.send(InitFail(reason=InitFailReason.BUSY)))
            return
        session = ResponderSession(self.camera, connection=greeter)
        link = _Link(number, session, sock, peer, request.friendly_name)
        session.on_event = link.events_ready.set
        session.on_output = link.output_ready.set  # a misbehaving camera's timed output
        # Registered before the Ack goes out: the client opens its event connection as soon as
        # it reads the Ack, and that connection must find this one.
        with self._lock:
            self._links[number] = link
        try:
            ack = greeter.send(
                InitCommandAck(connection_number=number, guid=self.guid, friendly_name=self.name)
            )
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

    def _command_loop(self, link: _Link) -> None:
        sock, session = link.command, link.session
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
            # Wait for the client, or for a wake-up (a cancel that queued a response).
            readable, _, _ = select.select([sock, link.output_ready.reader], [], [])
            if link.output_ready.reader in readable:
                link.output_ready.clear()
            if sock not in readable:
                continue
            budget = self.camera.misbehavior.read_budget(session.connection.phase)
            count = sock.recv_into(buffer, budget or 0)
            if count == 0:
                return
            _quick_ack(sock)
            session.receive_data(view[:count])
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
            # A long data phase: look for a Cancel without blocking, between writes.
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                chunk = sock.recv(65536)
                if not chunk:
                    return  # closed: the command loop sees it on its next read
                session.receive_data(chunk)

    # -- the event connection --------------------------------------------------------------------

    def _event_connection(
        self, sock: socket.socket, greeter: Connection, request: InitEventRequest
    ) -> None:
        with self._lock:
            link = self._links.get(request.connection_number)
            # One event connection per command connection, and only while that one is open.
            accepted = link is not None and link.event_socket is None
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
                for event in link.session.take_events():
                    self._write(sock, greeter.send(event))
            if sock in readable:
                count = sock.recv_into(view)
                if count == 0:
                    return
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
