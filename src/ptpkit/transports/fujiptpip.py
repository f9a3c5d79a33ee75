"""Fujifilm's PTP/IP variant: ``ptpkit.connect("fuji:HOST[:CMDPORT[:EVENTPORT[:STREAMPORT]]]")``.

Three TCP connections to the camera (:mod:`ptpkit.core.fujiptpip` has the wire format):

- the command connection (55740), opened by :meth:`FujiPtpIpTransport.open`: the 82-byte
  InitCommandRequest with our GUID and name, the camera's InitCommandAck (or InitFail, which
  is a ConnectError naming the reason), then requests, data and responses;
- the event connection (55741) and the live-view stream (55742), which the camera listens on
  only after InitiateOpenCapture (libgphoto2 ``camlibs/ptp2/fujiptpip.c``). So they are not
  opened here: the session set-up (OpenSession, InitSequence 0xDF01, AppVersion 0xDF24,
  InitiateOpenCapture, the Fujifilm extension's business) calls :meth:`open_event_channel`
  and, for live view, :meth:`open_stream`. libgphoto2 does the same in ``camera_init``
  (``library.c``: ``ptp_initiateopencapture`` then ``ptp_fujiptpip_init_event``, which connects
  the event and the JPEG port, each retried twice 100 ms apart when refused); malc0mn/ptp-ip
  dials the event port after ``FujiInitCommandDataConn`` (10 tries, 500 ms apart). Here a
  refused connection is retried every 100 ms until the call's deadline.

Events read by :meth:`start_events`' thread begin once the event connection is open. The
variant has no probes and no InitEventRequest; liveness is TCP keep-alive and each call's
deadline. It has no cancel either: :meth:`cancel` gets no bytes, and the engine drains the
cancelled transaction to its response.

Ports: ``fuji:HOST`` is 55740, 55741 and 55742. A command port alone moves the others with it
(event = command + 1, stream = event + 1, as ``ptpkit virtual serve --port P`` lays them out
and as libgphoto2 puts the JPEG port after the event port); each may be given.

The engine (:mod:`ptpkit.client.engine`) owns the command connection's sans-IO connection, made
from :meth:`FujiPtpIpTransport.framing` after ``open()``: the handshake runs here on a throw-away
connection of the same framing, which reads InitCommandAck to its last byte and no further, and
the engine's connection starts after it, in IDLE. The event connection keeps a private
connection of its own (it carries only events; the engine never reads it).

Deadlines as in :mod:`ptpkit.transports.ptpip`: the handshake has one (``connect_timeout_s``),
not reset by each byte, apart from the wait for the camera's user to accept this computer
(``pairing_timeout_s``, ``on_pairing_wait``); each write waits at most what is left of its
call's deadline and at most ``send_timeout_s``; a read waits at most what the engine allows.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection, ConnectionEvent
from ptpkit.core.events import NEED_DATA, Event, _NeedData
from ptpkit.core.framing import Framing
from ptpkit.core.fujiptpip import (
    COMMAND_PORT,
    MAX_LINK_PACKET,
    MAX_REQUEST_NAME_UNITS,
    Channel,
    FujiPtpIpFraming,
    InitCommandAck,
    InitCommandRequest,
    InitFail,
    InitFailReason,
    StreamDecoder,
    fit_name,
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
    Transport,
    WriteDeadline,
    WriteProgress,
    url_number,
)

log = logging.getLogger("ptpkit.fujiptpip")

#: Receive buffer for the command connection (big reads: few system calls per gigabyte).
READ_BYTES: Final = 4 << 20
SOCKET_BUFFER_BYTES: Final = 4 << 20
#: A refused event or stream connection is tried again this often until the deadline.
CHANNEL_RETRY_PAUSE_S: Final = 0.1
#: The wait for InitCommandAck taken as the camera asking its user (``on_pairing_wait``).
PAIRING_NOTICE_S: Final = 1.0
#: TCP keep-alive: idle seconds, seconds between probes, unanswered probes before giving up.
KEEPALIVE_IDLE_S: Final = 10
KEEPALIVE_INTERVAL_S: Final = 5
KEEPALIVE_PROBES: Final = 3

#: Called once when the camera is slow to accept this computer, with the pairing timeout (s).
PairingWaitCallback = Callable[[float], None]

_URL: Final = re.compile(
    r"^fuji:(?://)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:/\[\]]+))"
    r"(?::(?P<port>[0-9]+))?(?::(?P<event_port>[0-9]+))?(?::(?P<stream_port>[0-9]+))?/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FujiAddress:
    """A camera's host and its three ports (None: the port before it, plus one)."""

    host: str
    port: int = COMMAND_PORT
    event_port: int | None = None
    stream_port: int | None = None

    @property
    def events(self) -> int:
        return self.event_port if self.event_port is not None else self.port + 1

    @property
    def stream(self) -> int:
        return self.stream_port if self.stream_port is not None else self.events + 1

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        url = f"fuji:{host}"
        if self.stream_port is not None:
            return f"{url}:{self.port}:{self.events}:{self.stream_port}"
        if self.event_port is not None:
            return f"{url}:{self.port}:{self.event_port}"
        return url if self.port == COMMAND_PORT else f"{url}:{self.port}"


def parse_url(url: str) -> FujiAddress:
    """``fuji:HOST[:CMDPORT[:EVENTPORT[:STREAMPORT]]]`` (``[v6addr]`` for IPv6)."""
    match = _URL.match(url.strip())
    if not match:
        raise UsageError(
            f"{url!r} is not a Fujifilm PTP/IP URL: "
            "use fuji:HOST[:CMDPORT[:EVENTPORT[:STREAMPORT]]]"
        )
    host = match.group("v6") or match.group("host")
    ports = [match.group(name) for name in ("port", "event_port", "stream_port")]
    values = [url_number(p, url) if p else None for p in ports]
    address = FujiAddress(host, values[0] or COMMAND_PORT, values[1], values[2])
    if address.stream > 65535:
        raise UsageError(f"{url!r}: the event or stream port after {address.port} is out of range")
    return address


_INIT_FAIL_HINTS: Final[dict[int, str]] = {
    InitFailReason.DEVICE_BUSY: (
        "the camera refused this computer (InitFail 0x2019): it has another computer's name "
        "stored, or it stopped waiting. On the camera choose 'change' (to accept a new "
        "computer) or 'retry', then connect again"
    ),
    InitFailReason.INVALID_PARAMETER: (
        "the camera refused the protocol version (InitFail 0x201D): is this a Fujifilm camera "
        "in its 'connect to computer' mode?"
    ),
}


class FujiPtpIpTransport(Transport):
    """One Fujifilm camera over its PTP/IP variant."""

    kind = "fujiptpip"
    vendor_hint = "fuji"

    read_size = READ_BYTES

    def __init__(
        self,
        host: str,
        port: int = COMMAND_PORT,
        event_port: int | None = None,
        stream_port: int | None = None,
        *,
        guid: bytes | None = None,
        friendly_name: str | None = None,
        connect_timeout_s: float = 5.0,
        pairing_timeout_s: float = 60.0,
        send_timeout_s: float = 30.0,
        on_pairing_wait: PairingWaitCallback | None = None,
    ) -> None:
        self.address = FujiAddress(host, port, event_port, stream_port)
        self.guid = guid if guid is not None else initiator_guid()
        if len(self.guid) != 16:
            raise UsageError("a PTP/IP GUID is 16 bytes")
        # The packet is 82 bytes whatever the name: a longer one is cut, as libgphoto2 does.
        self.friendly_name = fit_name(
            friendly_name or default_friendly_name(), MAX_REQUEST_NAME_UNITS
        )
        for label, value in (
            ("connect_timeout_s", connect_timeout_s),
            ("pairing_timeout_s", pairing_timeout_s),
            ("send_timeout_s", send_timeout_s),
        ):
            if not 0 < value < float("inf"):
                raise UsageError(f"{label} must be a positive number of seconds, not {value!r}")
        #: The handshake, and each later connection's opening, within this.
        self.connect_timeout_s = connect_timeout_s
        #: How long InitCommandAck may take to begin: the camera may ask its user first.
        self.pairing_timeout_s = pairing_timeout_s
        self.on_pairing_wait = on_pairing_wait
        #: A camera that takes none of our bytes for this long is gone.
        self.send_timeout_s = send_timeout_s
        self.responder_name = ""
        self.responder_guid = b""
        self._command: socket.socket | None = None
        self._events: socket.socket | None = None
        self._event_connection: Connection | None = None
        self._event_thread: threading.Thread | None = None
        self._event_callbacks: tuple[EventCallback, EventErrorCallback] | None = None
        self._stream: socket.socket | None = None
        self._stream_decoder: StreamDecoder | None = None
        self._stream_buffer = bytearray(1 << 16)
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._closing = threading.Event()

    @property
    def url(self) -> str:
        return self.address.url

    @property
    def event_channel_open(self) -> bool:
        return self._events is not None

    @property
    def stream_open(self) -> bool:
        return self._stream is not None

    # -- connecting ------------------------------------------------------------------------------

    def _connect(self, port: int, what: str, deadline: float, *, retry: bool) -> socket.socket:
        """A TCP connection by ``deadline``; ``retry``: a refused one is tried again (the camera
        starts listening on its event and stream ports a moment after InitiateOpenCapture)."""
        host = self.address.host
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                sock = socket.create_connection((host, port), timeout=remaining)
                break
            except TimeoutError as exc:
                raise ConnectTimeout(
                    f"no answer from {host}:{port} ({what} connection) in time: is the camera "
                    "on this network, in its 'connect to computer' mode?"
                ) from exc
            except ConnectionRefusedError as exc:
                if retry and deadline - time.monotonic() > CHANNEL_RETRY_PAUSE_S:
                    time.sleep(CHANNEL_RETRY_PAUSE_S)
                    continue
                hint = (
                    "the camera opens it only after InitiateOpenCapture"
                    if retry
                    else "is the camera waiting for a computer, and is the port right?"
                )
                raise ConnectError(f"{host}:{port} refused the {what} connection: {hint}") from exc
            except socket.gaierror as exc:
                raise ConnectError(f"cannot resolve {host!r}: {exc.strerror}") from exc
            except OSError as exc:
                raise ConnectError(f"cannot reach {host}:{port}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
        # The variant has no probes: TCP keep-alive finds a camera that is gone, and
        # TCP_USER_TIMEOUT (Linux) ends a send to one after send_timeout_s.
        for name, value in (
            ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),
            ("TCP_KEEPALIVE", KEEPALIVE_IDLE_S),  # macOS's name for it
            ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
            ("TCP_KEEPCNT", KEEPALIVE_PROBES),
            ("TCP_USER_TIMEOUT", round(self.send_timeout_s * 1000)),
        ):
            number: int | None = getattr(socket, name, None)
            if number is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, number, value)
        return sock

    def framing(self) -> Framing:
        """The command connection's framing after the handshake ``open()`` ran: the engine's
        connection starts in IDLE, ready for transactions."""
        return FujiPtpIpFraming(initial_phase=Phase.IDLE)

    def open(self) -> None:
        deadline = time.monotonic() + self.connect_timeout_s
        try:
            self._command = self._connect(self.address.port, "command", deadline, retry=False)
            # The handshake's own connection, thrown away after it (module docstring).
            greeting = Connection(Role.INITIATOR, FujiPtpIpFraming())
            request = InitCommandRequest(guid=self.guid, friendly_name=self.friendly_name)
            self._send(
                self._command,
                greeting.send(request),
                WriteDeadline(max(0.0, deadline - time.monotonic()), None),
            )
            # The user's time to accept this computer is not the handshake's.
            deadline += self._await_acceptance(self._command)
            answer = self._read_link(self._command, greeting, deadline)
            if isinstance(answer, InitFail):
                hint = _INIT_FAIL_HINTS.get(
                    answer.reason,
                    f"the camera refused the connection (InitFail reason 0x{answer.reason:04X})",
                )
                raise ConnectError(
                    f"{self.url}: {hint}. This computer's name is {self.friendly_name!r}, "
                    f"its GUID {format_guid(self.guid)}"
                )
            if not isinstance(answer, InitCommandAck):
                raise ConnectError(
                    f"{self.url}: the camera answered InitCommandRequest with {answer!r}"
                )
            self.responder_name = answer.friendly_name
            self.responder_guid = answer.guid
            log.debug("connected to %r (guid %s)", answer.friendly_name, format_guid(answer.guid))
        except BaseException:
            self.close()
            raise

    def _await_acceptance(self, sock: socket.socket) -> float:
        """Wait for the answer to InitCommandRequest to begin (the camera may show an "accept
        this computer?" prompt); returns how long that took."""
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

    def _read_link(self, sock: socket.socket, conn: Connection, deadline: float) -> ConnectionEvent:
        """InitCommandAck or InitFail by ``deadline`` (each byte does not reset it). No byte
        past the packet's end is read: what follows is the engine's connection's to read."""
        buffer = bytearray(MAX_LINK_PACKET)
        view = memoryview(buffer)
        #: The packet's length once its first 4 bytes are in, and the bytes read of it.
        length = got = 0
        late = (
            f"{self.url}: the Fujifilm handshake did not finish within "
            f"{self.connect_timeout_s:g} s (waiting for InitCommandAck)"
        )
        while True:
            try:
                event = conn.next_event()
            except ProtocolError as exc:
                raise ConnectError(
                    f"{self.url}: a bad answer to InitCommandRequest: {exc}"
                ) from exc
            if not isinstance(event, _NeedData):
                return event
            # The header first (the framing judges its length before more is read), then the rest.
            want = 8 - got if got < 8 else min(length, len(buffer)) - got
            if want <= 0:  # the framing judged this header and waits for no more: a bug
                raise ConnectError(f"{self.url}: cannot read the answer to InitCommandRequest")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectTimeout(late)
            sock.settimeout(remaining)
            try:
                count = sock.recv_into(view[got:], want)
            except TimeoutError as exc:
                raise ConnectTimeout(late) from exc
            except OSError as exc:
                raise ConnectError(
                    f"{self.url}: connection lost waiting for InitCommandAck: {exc}"
                ) from exc
            if count == 0:
                # What an X-T4 does with an InitCommandRequest it does not take (libgphoto2).
                raise ConnectError(
                    f"{self.url}: the camera closed the connection instead of answering "
                    "InitCommandRequest: is it a Fujifilm camera waiting for a computer?"
                )
            conn.receive_data(view[got : got + count])
            got += count
            if got >= 4 and not length:
                length = int.from_bytes(buffer[:4], "little")

    def open_event_channel(self, timeout_s: float | None = None) -> None:
        """Connect the event connection (call after InitiateOpenCapture answered OK); events
        then flow to :meth:`start_events`' callback. ``timeout_s`` (default
        ``connect_timeout_s``) bounds the whole call, retries of a refused port included."""
        if self._command is None or self._closing.is_set():
            raise DisconnectedError(f"{self.url}: not connected")
        with self._lock:
            if self._events is not None:
                return
        deadline = time.monotonic() + (self.connect_timeout_s if timeout_s is None else timeout_s)
        sock = self._connect(self.address.events, "event", deadline, retry=True)
        with self._lock:
            if self._closing.is_set():
                sock.close()
                raise DisconnectedError(f"{self.url}: closed while opening the event connection")
            self._events = sock
            self._event_connection = Connection(Role.INITIATOR, FujiPtpIpFraming(Channel.EVENT))
            callbacks = self._event_callbacks
        if callbacks is not None:
            self._start_event_thread(*callbacks)

    def open_stream(self, timeout_s: float | None = None) -> None:
        """Connect the live-view connection (after InitiateOpenCapture); read its frames with
        :meth:`read_stream_frame`."""
        if self._command is None or self._closing.is_set():
            raise DisconnectedError(f"{self.url}: not connected")
        if self._stream is not None:
            return
        deadline = time.monotonic() + (self.connect_timeout_s if timeout_s is None else timeout_s)
        sock = self._connect(self.address.stream, "live-view", deadline, retry=True)
        with self._lock:
            if self._closing.is_set():
                sock.close()
                raise DisconnectedError(
                    f"{self.url}: closed while opening the live-view connection"
                )
            self._stream = sock
            self._stream_decoder = StreamDecoder()

    def read_stream_frame(self, timeout_s: float | None) -> bytes:
        """The next live-view blob (a 14-byte header and a JPEG: ``fujiptpip.split_frame``),
        within ``timeout_s`` for the whole frame."""
        sock, decoder = self._stream, self._stream_decoder
        if sock is None or decoder is None:
            raise DisconnectedError(f"{self.url}: the live-view connection is not open")
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            frame = decoder.next_frame()
            if not isinstance(frame, _NeedData):
                return frame
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TransportTimeout(f"{self.url}: no live-view frame within {timeout_s:g} s")
            try:
                sock.settimeout(remaining)
                count = sock.recv_into(self._stream_buffer)
            except TimeoutError as exc:
                raise TransportTimeout(
                    f"{self.url}: no live-view frame within {timeout_s:g} s"
                ) from exc
            except OSError as exc:
                raise DisconnectedError(f"{self.url}: live-view connection lost: {exc}") from exc
            if count == 0:
                raise DisconnectedError(f"{self.url}: the camera closed the live-view connection")
            decoder.receive_data(memoryview(self._stream_buffer)[:count])

    def close_stream(self) -> None:
        with self._lock:
            sock, self._stream, self._stream_decoder = self._stream, None, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # -- the command connection ------------------------------------------------------------------

    def _send(
        self, sock: socket.socket, buffers: Sequence[BytesLike], deadline: WriteDeadline
    ) -> None:
        """Send it all, each ``sendmsg`` waiting at most what is left of ``deadline`` and at most
        ``send_timeout_s``; the bytes taken are reported to the deadline as progress."""
        views = [memoryview(b).cast("B") for b in buffers if len(b)]
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
                sent = sock.sendmsg(views)
                deadline.took(sent)
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
        # A byte stream: where a data phase ends is in its container's length, not the write.
        if self._command is None:
            raise DisconnectedError(f"{self.url}: not connected")
        self._send(self._command, buffers, WriteDeadline(timeout_s, progress))

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
        return count, False

    def cancel(self, request: Sequence[BytesLike]) -> None:
        # The framing encodes no cancel (the variant has none): nothing is written, and the
        # engine drains the transaction to its response.
        if any(len(b) for b in request):
            self.write(request)

    # -- the event connection --------------------------------------------------------------------

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        """Deliver events from the event connection once it is open (:meth:`open_event_channel`)."""
        with self._lock:
            self._event_callbacks = (on_event, on_error)
            ready = self._events is not None and self._event_thread is None
        if ready:
            self._start_event_thread(on_event, on_error)

    def _start_event_thread(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        with self._lock:
            if self._event_thread is not None or self._events is None:
                return
            assert self._event_connection is not None
            thread = threading.Thread(
                target=self._event_loop,
                args=(self._events, self._event_connection, on_event, on_error),
                name=f"ptpkit-fuji-events-{self.address.host}",
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
        try:
            sock.setblocking(False)
            while not self._closing.is_set():
                readable, _, _ = select.select([sock, self._wake_r], [], [])
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
                conn.receive_data(view[:count])
                while (event := conn.next_event()) is not NEED_DATA:
                    if isinstance(event, Event):
                        on_event(event)
        except Exception as exc:  # a thread must not die with a traceback: all is reported
            if self._closing.is_set():
                return
            error = (
                exc
                if isinstance(exc, PTPError)
                else DisconnectedError(f"{self.url}: event connection lost: {exc}")
            )
            if isinstance(error, ProtocolError):
                log.warning("%s: event connection: %s", self.url, error)
            on_error(error)

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        with self._lock:
            sockets = [self._command, self._events, self._stream]
            thread = self._event_thread
        for sock in sockets:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        self._wake_r.close()
        self._wake_w.close()
        self._command = self._events = self._stream = None


_OPTIONS: Final = frozenset(
    {
        "friendly_name",
        "connect_timeout_s",
        "pairing_timeout_s",
        "send_timeout_s",
        "on_pairing_wait",
    }
)


def open_url(url: str, options: dict[str, Any]) -> FujiPtpIpTransport:
    """The ``fuji:`` scheme for :func:`ptpkit.connect`; options are FujiPtpIpTransport's
    keywords (``guid`` may be given as text)."""
    address = parse_url(url)
    guid = options.pop("guid", None)
    if isinstance(guid, str):
        guid = parse_guid(guid)
    unknown = set(options) - _OPTIONS
    if unknown:
        raise UsageError(
            f"fuji: unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: guid, {', '.join(sorted(_OPTIONS))}"
        )
    return FujiPtpIpTransport(
        address.host,
        address.port,
        address.event_port,
        address.stream_port,
        guid=guid,
        **options,
    )
