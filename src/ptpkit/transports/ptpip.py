"""PTP/IP (CIPA DC-X005): ``ptpkit.connect("ptpip:HOST[:PORT[:EVENTPORT]]")``.

Two TCP connections to the camera. The command connection carries requests, data and responses;
the event connection carries events, read by a background thread and handed to the Camera
without blocking transactions. The handshake follows libgphoto2 ``camlibs/ptp2/ptpip.c``:
InitCommandRequest with our GUID and name on the command connection, InitCommandAck with a
connection number, then the event connection (retried briefly when refused, "seen on Ricoh
Theta") with InitEventRequest quoting that number.

Data phases stream through one reused receive buffer (``recv_into``); outgoing data goes out as
``sendmsg`` of header and payload, never joined. StartData's length is 64 bits, so objects over
4 GiB work both ways.

Deadlines: the handshake (TCP connects, InitCommandAck, InitEventAck) has one deadline,
``connect_timeout_s``, not reset by each byte. The wait for the first byte of InitCommandAck is
apart, ``pairing_timeout_s``: a camera may ask its user to accept this computer first, and
``on_pairing_wait`` is called once when that wait lasts more than a second, so a program can say
so. Transactions are bounded by the engine (:mod:`ptpkit.client.engine`), writes too: each
``sendmsg`` waits at most what is left of the transaction's deadline (a socket timeout alone
bounds one send, and a camera taking a byte now and then would pass it for ever), and at most
``send_timeout_s``, the outer bound for a camera that takes nothing.

Liveness: probes keep an idle connection alive, but an unanswered probe does not make a camera
gone. libgphoto2 never sends a ProbeRequest and leaves the ones it gets unanswered
(``camlibs/ptp2/ptpip.c``, ``ptp_ptpip_event``: "TODO: Handle cancel transaction and
ping/pong", logged as an unhandled packet), so cameras that ignore probes work with it and must
work here. Any traffic on either connection counts as the camera being there; a camera that is
really gone (Wi-Fi dropped, no reset) is found by TCP keep-alive, tuned to the probe settings,
and by each transaction's deadline.

The engine (:mod:`ptpkit.client.engine`) owns the command connection's sans-IO connection, made
from :meth:`PtpIpTransport.framing` after ``open()``: the handshake runs here on a throw-away
connection of the same framing, which reads InitCommandAck to its last byte and no further (what
the camera sends next, a probe say, is the engine's to read), and the engine's connection starts
after it, in IDLE. The event connection is a channel of its own and keeps its private connection:
it carries its handshake (InitEventRequest/Ack), the events and the probes this transport answers,
and no transaction; the engine never reads it.

A PTP/IP Cancel packet goes on the command connection, where the data phase it stops flows. The
sources we have do not say which connection CIPA intends; a camera that ignores it is drained to
its response, so the link stays usable either way.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ptpkit._log import get_logger
from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection, ConnectionEvent
from ptpkit.core.events import NEED_DATA, Event, _NeedData
from ptpkit.core.framing import Framing
from ptpkit.core.ptpip import (
    DEFAULT_PORT,
    HEADER,
    HEADER_SIZE,
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
from ptpkit.core.state import Phase, Role
from ptpkit.errors import (
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    ProtocolError,
    PTPError,
    TransportTimeout,
    UsageError,
)
from ptpkit.identity import default_friendly_name, format_guid, initiator_guid, parse_guid
from ptpkit.transports.base import (
    EventCallback,
    EventErrorCallback,
    PreparedSend,
    Transport,
    WriteDeadline,
    WriteProgress,
    url_number,
)

log = get_logger("ptpkit.ptpip")

#: Receive buffer for the command connection: big reads mean few system calls per gigabyte.
READ_BYTES: Final = 4 << 20
#: Kernel socket buffers asked for (the kernel may grant less).
SOCKET_BUFFER_BYTES: Final = 4 << 20
#: The event connection is retried this often when refused (libgphoto2 retries twice, 100 ms).
EVENT_CONNECT_ATTEMPTS: Final = 5
EVENT_CONNECT_PAUSE_S: Final = 0.1
#: The wait for InitCommandAck that is taken as the camera asking its user (``on_pairing_wait``).
PAIRING_NOTICE_S: Final = 1.0
#: Unanswered TCP keep-alive probes before the kernel gives the connection up.
KEEPALIVE_PROBES: Final = 3

#: Called once when the camera is slow to accept this computer, with the pairing timeout (s).
PairingWaitCallback = Callable[[float], None]

_URL: Final = re.compile(
    r"^ptpip:(?://)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:/\[\]]+))"
    r"(?::(?P<port>[0-9]+))?(?::(?P<event_port>[0-9]+))?/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PtpIpAddress:
    host: str
    port: int = DEFAULT_PORT
    event_port: int | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        url = f"ptpip:{host}"
        if self.port != DEFAULT_PORT or self.event_port is not None:
            url += f":{self.port}"
        if self.event_port is not None:
            url += f":{self.event_port}"
        return url


def parse_url(url: str) -> PtpIpAddress:
    """``ptpip:HOST[:PORT[:EVENTPORT]]`` (gphoto2's syntax; ``[v6addr]`` for IPv6)."""
    match = _URL.match(url.strip())
    if not match:
        raise UsageError(f"{url!r} is not a PTP/IP URL: use ptpip:HOST[:PORT[:EVENTPORT]]")
    host = match.group("v6") or match.group("host")
    port = url_number(match.group("port"), url) if match.group("port") else DEFAULT_PORT
    event_port = url_number(match.group("event_port"), url) if match.group("event_port") else None
    return PtpIpAddress(host=host, port=port, event_port=event_port)


_INIT_FAIL_HINTS: Final = {
    InitFailReason.REJECTED_INITIATOR: (
        "the camera rejected this computer (not paired). Pair it first: on the camera choose "
        "to connect to a computer and accept this computer's name"
    ),
    InitFailReason.BUSY: "the camera is busy with another connection; close the other program",
    InitFailReason.UNSPECIFIED: "the camera refused the connection without saying why",
    4: "the camera does not know this computer's GUID (not paired)",
    # Fujifilm's reasons (ptp-ip packets_fuji.go): a Fujifilm camera speaks its own variant.
    0x201D: "the camera refused the protocol version (InitFail 0x201D): a Fujifilm camera "
    "speaks its own PTP/IP variant, use fuji:HOST",
    0x2019: "the camera refused this computer (InitFail 0x2019): a Fujifilm camera speaks its "
    "own PTP/IP variant, use fuji:HOST",
}


def tune_socket(
    sock: socket.socket,
    *,
    probe_interval_s: float | None,
    probe_timeout_s: float,
    send_timeout_s: float,
) -> None:
    """A PTP/IP connection's socket options (the blocking transport's and ``ptpkit.aio``'s):
    no Nagle delay (small requests and responses go at once), big kernel buffers (a download
    moves in few system calls), and TCP keep-alive on the probe schedule: the camera's TCP stack
    answers these even when its PTP/IP code ignores probes, so a camera that is really gone is
    found (the kernel's default waits two hours). Keep-alive stays quiet while sent bytes await
    their ACK (a probe to a vanished camera), so TCP_USER_TIMEOUT (Linux) ends that after
    ``send_timeout_s`` instead of TCP's ~15 minutes of retries. Where the system lacks an
    option, its default stays."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for buffer_option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, buffer_option, SOCKET_BUFFER_BYTES)
    idle_s = max(1, round(probe_interval_s or 10.0))
    interval_s = max(1, round(probe_timeout_s))
    idle_option = getattr(socket, "TCP_KEEPIDLE", None) or getattr(
        socket, "TCP_KEEPALIVE", None
    )  # TCP_KEEPALIVE is macOS's name for it
    for option, value in (
        (idle_option, idle_s),
        (getattr(socket, "TCP_KEEPINTVL", None), interval_s),
        (getattr(socket, "TCP_KEEPCNT", None), KEEPALIVE_PROBES),
        (getattr(socket, "TCP_USER_TIMEOUT", None), round(send_timeout_s * 1000)),
    ):
        if option is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


def init_fail_error(url: str, guid: bytes, fail: InitFail) -> ConnectError:
    """The error for a camera's InitFail, with what to do about its reason."""
    hint = _INIT_FAIL_HINTS.get(fail.reason, f"the camera refused (InitFail reason {fail.reason})")
    return ConnectError(f"{url}: {hint}. This computer's GUID is {format_guid(guid)}")


def check_options(
    **seconds: float | None,
) -> None:
    """PTP/IP's time options must be positive, finite numbers of seconds (None: never)."""
    for label, value in seconds.items():
        if value is not None and not 0 < value < float("inf"):
            raise UsageError(f"{label} must be a positive number of seconds, not {value!r}")


class PtpIpTransport(Transport):
    """One PTP/IP camera."""

    kind = "ptpip"

    read_size = READ_BYTES

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        event_port: int | None = None,
        *,
        guid: bytes | None = None,
        friendly_name: str | None = None,
        connect_timeout_s: float = 5.0,
        pairing_timeout_s: float = 60.0,
        probe_interval_s: float | None = 10.0,
        probe_timeout_s: float = 5.0,
        send_timeout_s: float = 30.0,
        on_pairing_wait: PairingWaitCallback | None = None,
    ) -> None:
        self.address = PtpIpAddress(host, port, event_port)
        self.guid = guid if guid is not None else initiator_guid()
        if len(self.guid) != 16:
            raise UsageError("a PTP/IP GUID is 16 bytes")
        self.friendly_name = friendly_name or default_friendly_name()
        check_options(
            connect_timeout_s=connect_timeout_s,
            pairing_timeout_s=pairing_timeout_s,
            probe_timeout_s=probe_timeout_s,
            send_timeout_s=send_timeout_s,
            probe_interval_s=probe_interval_s,
        )
        #: The whole handshake (connects, InitCommandAck, InitEventAck) within this, the wait
        #: for the camera to accept this computer apart.
        self.connect_timeout_s = connect_timeout_s
        #: How long to wait for InitCommandAck to begin: a camera may show an "accept?" prompt.
        self.pairing_timeout_s = pairing_timeout_s
        #: Called once (with pairing_timeout_s) when that wait lasts over PAIRING_NOTICE_S.
        self.on_pairing_wait = on_pairing_wait
        #: Probe an idle camera this often (None: never) to keep its connection alive.
        self.probe_interval_s = probe_interval_s
        #: A probe unanswered for this long counts as missed (logged, never fatal).
        self.probe_timeout_s = probe_timeout_s
        #: Probes answered and missed so far (diagnostics: a camera may ignore them all).
        self.probes_answered = 0
        self.probes_missed = 0
        #: When the command connection last brought bytes (monotonic s): traffic is liveness.
        self._command_heard_at = 0.0
        #: A camera that takes none of our bytes for this long is gone (a Wi-Fi link dropped
        #: without a reset would otherwise block a send for the ~15 minutes TCP retries).
        self.send_timeout_s = send_timeout_s
        self.responder_name = ""
        self.responder_guid = b""
        #: The camera's number for this session's connections (InitCommandAck); None before.
        self.connection_number: int | None = None
        self._command: socket.socket | None = None
        self._events: socket.socket | None = None
        self._event_connection: Connection | None = None
        self._event_thread: threading.Thread | None = None
        self._event_write_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._closing = threading.Event()

    @property
    def url(self) -> str:
        return self.address.url

    # -- opening ---------------------------------------------------------------------------------

    def _connect(self, port: int, what: str, deadline: float) -> socket.socket:
        host = self.address.host
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            sock = socket.create_connection((host, port), timeout=remaining)
        except TimeoutError as exc:
            raise ConnectTimeout(
                f"no answer from {host}:{port} ({what} connection) within "
                f"{self.connect_timeout_s:g} s: is the camera on this network with PTP/IP on?"
            ) from exc
        except ConnectionRefusedError as exc:
            raise ConnectError(
                f"{host}:{port} refused the {what} connection: is PTP/IP enabled on the camera "
                "(a 'connect to computer' mode), and is the port right?"
            ) from exc
        except socket.gaierror as exc:
            raise ConnectError(f"cannot resolve {host!r}: {exc.strerror}") from exc
        except OSError as exc:
            raise ConnectError(f"cannot reach {host}:{port}: {exc.strerror or exc}") from exc
        tune_socket(
            sock,
            probe_interval_s=self.probe_interval_s,
            probe_timeout_s=self.probe_timeout_s,
            send_timeout_s=self.send_timeout_s,
        )
        return sock

    def framing(self) -> Framing:
        """The command connection's framing after the handshake ``open()`` ran: ready for
        transactions (the engine's connection starts in IDLE)."""
        return PtpIpFraming(initial_phase=Phase.IDLE, connection_number=self.connection_number)

    def open(self) -> None:
        deadline = time.monotonic() + self.connect_timeout_s
        self._command = self._connect(self.address.port, "command", deadline)
        # The handshake's own connection, thrown away after it: the engine makes the one that
        # runs transactions from framing() (see the module docstring).
        greeting = Connection(Role.INITIATOR, PtpIpFraming())
        try:
            self._send(
                self._command,
                greeting.send(InitCommandRequest(guid=self.guid, friendly_name=self.friendly_name)),
            )
            # The user's time to accept this computer is not the handshake's: the deadline
            # moves by the time the wait for the first byte of the answer took.
            deadline += self._await_acceptance(self._command)
            ack = self._read_link(
                self._command, greeting, deadline, "InitCommandAck", to_packet_end=True
            )
            if isinstance(ack, InitFail):
                raise self._init_fail(ack)
            assert isinstance(ack, InitCommandAck)
            self.connection_number = ack.connection_number
            self.responder_name = ack.friendly_name
            self.responder_guid = ack.guid
            log.debug(
                "connected to %r (guid %s), connection number %d",
                ack.friendly_name,
                format_guid(ack.guid),
                ack.connection_number,
            )
            self._open_events(ack.connection_number, deadline)
        except BaseException:
            self.close()
            raise

    def _await_acceptance(self, sock: socket.socket) -> float:
        """Wait for the camera's answer to InitCommandRequest to begin (a camera may ask its
        user to accept this computer first); returns how long that took."""
        started = time.monotonic()
        give_up = started + self.pairing_timeout_s
        notice_at = started + PAIRING_NOTICE_S
        noticed = self.on_pairing_wait is None
        while True:
            now = time.monotonic()
            if now >= give_up:
                raise ConnectTimeout(
                    f"{self.url}: no InitCommandAck within {self.pairing_timeout_s:g} s: the "
                    "camera did not accept this computer. If it asks, accept it on the camera "
                    "(more time: --pairing-timeout, or pairing_timeout_s)"
                )
            wake = give_up if noticed else min(give_up, notice_at)
            try:
                readable, _, _ = select.select([sock], [], [], max(0.0, wake - now))
            except (OSError, ValueError) as exc:
                raise ConnectError(
                    f"{self.url}: connection lost waiting for InitCommandAck"
                ) from exc
            if readable:
                return time.monotonic() - started
            if not noticed and time.monotonic() >= notice_at:
                noticed = True
                assert self.on_pairing_wait is not None
                self.on_pairing_wait(self.pairing_timeout_s)

    def _open_events(self, connection_number: int, deadline: float) -> None:
        port = self.address.event_port or self.address.port
        for attempt in range(EVENT_CONNECT_ATTEMPTS):
            try:
                self._events = self._connect(port, "event", deadline)
                break
            except ConnectError as exc:
                if not isinstance(exc.__cause__, ConnectionRefusedError):
                    raise
                if attempt == EVENT_CONNECT_ATTEMPTS - 1:
                    raise
                time.sleep(EVENT_CONNECT_PAUSE_S)
        assert self._events is not None
        self._event_connection = Connection(Role.INITIATOR, PtpIpFraming())
        self._send(
            self._events,
            self._event_connection.send(InitEventRequest(connection_number=connection_number)),
        )
        answer = self._read_link(self._events, self._event_connection, deadline, "InitEventAck")
        if isinstance(answer, InitFail):
            raise self._init_fail(answer)
        if not isinstance(answer, InitEventAck):
            raise ConnectError(f"the camera answered InitEventRequest with {answer!r}")

    def _init_fail(self, fail: InitFail) -> ConnectError:
        return init_fail_error(self.url, self.guid, fail)

    def _read_link(
        self,
        sock: socket.socket,
        conn: Connection,
        deadline: float,
        what: str,
        *,
        to_packet_end: bool = False,
    ) -> ConnectionEvent:
        """The next handshake packet, by the handshake's ``deadline`` (each byte does not
        reset it: a camera that sends its answer a byte at a time ends in time).

        ``to_packet_end``: read no byte past the end of the packet (header first, then the
        length it gives), because ``conn`` is thrown away after it and what follows on the
        socket is for another connection (the engine's)."""
        buffer = bytearray(4096)
        view = memoryview(buffer)
        #: The packet being read (to_packet_end): its header as it arrives, bytes read of it.
        header = bytearray(HEADER_SIZE)
        length = got = 0
        late = (
            f"{self.url}: the PTP/IP handshake did not finish within "
            f"{self.connect_timeout_s:g} s (waiting for {what})"
        )
        while True:
            event = conn.next_event()
            if not isinstance(event, _NeedData):
                return event
            want = len(buffer)
            if to_packet_end:
                if got >= HEADER_SIZE and got >= length:
                    length = got = 0  # that packet is in (a link packet needing no answer)
                # The framing has judged each header before more is read: a bad length has
                # raised above, so what is asked for here is one small packet's worth.
                want = HEADER_SIZE - got if got < HEADER_SIZE else min(want, length - got)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectTimeout(late)
            sock.settimeout(remaining)
            try:
                count = sock.recv_into(view, want)
            except TimeoutError as exc:
                raise ConnectTimeout(late) from exc
            except OSError as exc:
                raise ConnectError(
                    f"{self.url}: connection lost waiting for {what}: {exc}"
                ) from exc
            if count == 0:
                raise ConnectError(
                    f"{self.url}: the camera closed the connection instead of sending {what}"
                )
            if to_packet_end and got < HEADER_SIZE:
                header[got : got + count] = view[:count]
                if got + count == HEADER_SIZE:
                    length = HEADER.unpack(header)[0]
            got += count
            conn.receive_data(view[:count])

    # -- the command connection ------------------------------------------------------------------

    def _send(
        self,
        sock: socket.socket,
        buffers: Sequence[BytesLike],
        deadline: WriteDeadline | None = None,
    ) -> None:
        """Send it all, each ``sendmsg`` waiting at most the time left of ``deadline`` and at
        most ``send_timeout_s`` (a camera that takes nothing for that long is gone, whatever
        the caller allows); each send's bytes are reported to the deadline as progress."""
        views = [memoryview(b).cast("B") for b in buffers if len(b)]
        deadline = deadline or WriteDeadline(None, None)
        in_time = f"{self.url}: the camera did not take the data in time"
        late = in_time
        try:
            while views:
                remaining = deadline.remaining()
                if remaining is not None and remaining <= 0:
                    raise TransportTimeout(in_time)
                late = in_time
                if remaining is None or remaining >= self.send_timeout_s:
                    late = f"{self.url}: the camera took no data for {self.send_timeout_s:g} s"
                    remaining = self.send_timeout_s
                sock.settimeout(remaining)
                # A socket timeout bounds one sendmsg (it returns once some bytes fit): a camera
                # taking a byte now and then would pass it for ever, so the deadline is ours.
                sent = sock.sendmsg(views)
                deadline.took(sent)
                # sendmsg may send part of the data: drop what went and go on with the rest.
                while views and sent >= len(views[0]):
                    sent -= len(views[0])
                    views.pop(0)
                if views and sent:
                    views[0] = views[0][sent:]
        except TimeoutError as exc:
            raise TransportTimeout(late) from exc
        except OSError as exc:
            raise DisconnectedError(f"{self.url}: connection lost while sending: {exc}") from exc

    def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        # A byte stream: where a data phase ends is in its packets, not in the write.
        if self._command is None:
            raise DisconnectedError(f"{self.url}: not connected")
        self._send(self._command, buffers, WriteDeadline(timeout_s, progress))

    def prepared_send(self, buffers: Sequence[BytesLike]) -> PreparedSend:
        """One ``send`` on the command socket, non-blocking: a camera whose socket buffer is
        full takes 0 bytes now (the engine sends the rest within the transaction's deadline)
        instead of holding up the others of a synchronised release."""
        sock = self._command
        if sock is None:
            raise DisconnectedError(f"{self.url}: not connected")
        data = b"".join(buffers)
        # Non-blocking from now: a send with a timeout polls before it sends (a system call
        # more). Every other use of the socket sets its own timeout first.
        sock.settimeout(0.0)
        send = sock.send
        url = self.url

        def send_now() -> int:
            try:
                return send(data)
            except BlockingIOError:
                return 0
            except OSError as exc:
                raise DisconnectedError(f"{url}: connection lost while sending: {exc}") from exc

        return send_now

    def read_into(
        self, buffer: memoryview, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[int, bool]:
        sock = self._command
        if sock is None:
            raise DisconnectedError(f"{self.url}: not connected")
        try:
            sock.settimeout(timeout_s)
            count = sock.recv_into(buffer)
        except TimeoutError as exc:
            raise TransportTimeout(
                f"{self.url}: the camera sent nothing for {timeout_s:g} s (waiting for "
                "data or a response)"
            ) from exc
        except OSError as exc:
            raise DisconnectedError(f"{self.url}: connection lost: {exc}") from exc
        if count == 0:
            raise DisconnectedError(f"{self.url}: the camera closed the command connection")
        self._command_heard_at = time.monotonic()
        return count, False

    def cancel(self, request: Sequence[BytesLike]) -> None:
        self.write(request)

    # -- the event connection --------------------------------------------------------------------

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        if self._events is None or self._event_connection is None:
            raise DisconnectedError(f"{self.url}: the event connection is not open")
        thread = threading.Thread(
            target=self._event_loop,
            args=(self._events, self._event_connection, on_event, on_error),
            name=f"ptpkit-events-{self.address.host}",
            daemon=True,
        )
        self._event_thread = thread
        thread.start()

    def _event_loop(
        self,
        sock: socket.socket,
        conn: Connection,
        on_event: EventCallback,
        on_error: EventErrorCallback,
    ) -> None:
        buffer = bytearray(65536)
        view = memoryview(buffer)
        interval = self.probe_interval_s
        next_probe = None if interval is None else time.monotonic() + interval
        #: When the probe in flight counts as missed (None: none in flight).
        answer_due: float | None = None
        probe_sent_at = 0.0
        try:
            # Inside the try: a camera closed at once may have closed the socket already.
            sock.setblocking(False)
            # Packets that came with InitEventAck (a camera may probe at once) are already in
            # the decoder: deliver them before waiting on the socket.
            self._deliver(sock, conn, on_event)
            while not self._closing.is_set():
                now = time.monotonic()
                if answer_due is not None and self._command_heard_at > probe_sent_at:
                    answer_due = None  # the command connection answered: it is there
                if answer_due is not None and now >= answer_due:
                    # Not fatal: cameras that ignore probes exist (see the module docstring).
                    answer_due = None
                    self.probes_missed += 1
                    if self.probes_missed == 1:
                        log.debug(
                            "%s: the camera does not answer PTP/IP probes (%g s); TCP "
                            "keep-alive and transaction deadlines watch the link instead",
                            self.url,
                            self.probe_timeout_s,
                        )
                if interval is not None and next_probe is not None:
                    # An idle link is one where neither connection brought anything.
                    next_probe = max(next_probe, self._command_heard_at + interval)
                    if now >= next_probe and answer_due is None:
                        self._send_event_channel(sock, conn.send(ProbeRequest()))
                        probe_sent_at = now
                        answer_due = now + self.probe_timeout_s
                        next_probe = now + interval
                        continue
                timers = [t for t in (answer_due, next_probe) if t is not None]
                wait = max(0.0, min(timers) - now) if timers else None
                readable, _, _ = select.select([sock, self._wake_r], [], [], wait)
                if self._closing.is_set():
                    return
                if sock not in readable:
                    continue
                try:
                    count = sock.recv_into(buffer)
                except BlockingIOError:
                    continue
                if count == 0:
                    raise DisconnectedError(f"{self.url}: the camera closed the event connection")
                # Anything from the camera shows it is there: the probe need not be answered.
                if answer_due is not None:
                    answer_due = None
                if interval is not None:
                    next_probe = time.monotonic() + interval
                conn.receive_data(view[:count])
                self._deliver(sock, conn, on_event)
        except Exception as exc:  # a thread must not die with a traceback: all is reported
            if self._closing.is_set():
                return  # closed under us (a closed socket, select on fd -1): expected
            error = (
                exc
                if isinstance(exc, PTPError)
                else DisconnectedError(f"{self.url}: event connection lost: {exc}")
            )
            if isinstance(error, ProtocolError):
                log.warning("%s: event connection: %s", self.url, error)
            on_error(error)

    def _deliver(self, sock: socket.socket, conn: Connection, on_event: EventCallback) -> None:
        """Hand out every event the decoder has; answer probes."""
        while (event := conn.next_event()) is not NEED_DATA:
            if isinstance(event, Event):
                on_event(event)
            elif isinstance(event, ProbeRequest):
                self._send_event_channel(sock, conn.send(ProbeResponse()))
            elif isinstance(event, ProbeResponse):
                self.probes_answered += 1

    def _send_event_channel(self, sock: socket.socket, buffers: Sequence[BytesLike]) -> None:
        data = b"".join(bytes(b) for b in buffers)
        with self._event_write_lock:
            sock.settimeout(self.send_timeout_s)  # a timeout is an OSError: the link is lost
            try:
                sock.sendall(data)
            finally:
                sock.setblocking(False)

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        for sock in (self._command, self._events):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        thread = self._event_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._wake_r.close()
        self._wake_w.close()
        self._command = self._events = None


_OPTIONS: Final = frozenset(
    {
        "friendly_name",
        "connect_timeout_s",
        "pairing_timeout_s",
        "probe_interval_s",
        "probe_timeout_s",
        "send_timeout_s",
        "on_pairing_wait",
    }
)


def open_url(url: str, options: dict[str, Any]) -> PtpIpTransport:
    """The ``ptpip:`` scheme for :func:`ptpkit.connect`; options are PtpIpTransport's keywords
    (``guid`` may be given as text)."""
    address = parse_url(url)
    guid = options.pop("guid", None)
    if isinstance(guid, str):
        guid = parse_guid(guid)
    unknown = set(options) - _OPTIONS
    if unknown:
        raise UsageError(
            f"ptpip: unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: guid, {', '.join(sorted(_OPTIONS))}"
        )
    return PtpIpTransport(address.host, address.port, address.event_port, guid=guid, **options)
