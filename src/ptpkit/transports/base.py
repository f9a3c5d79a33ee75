"""The Transport interface: a byte channel to one camera, and a description of its framing.

A transport opens the link (claiming a USB interface, or the PTP/IP handshake on two TCP
connections), then moves bytes of the command channel both ways and delivers events from the
event channel (USB interrupt endpoint, PTP/IP event connection) to a callback. It knows nothing of
PTP's rules: the protocol lives in a sans-IO :class:`ptpkit.core.Connection`, which the engine
(:mod:`ptpkit.client.engine`) makes from :meth:`Transport.framing` after :meth:`Transport.open`
and owns. A transport never holds the command channel's connection nor reads its phase; where the
link must know a protocol fact, the engine says it in the call (the whole interface)::

    framing() -> Framing            the command channel's framing, as it stands after open()
    open() / close()
    write(buffers, timeout_s, progress, *, ends_transfer=True)
                                    ends_transfer=False: a data-out phase goes on after these
                                    bytes (USB sends only whole packets until it ends, then a
                                    zero-length packet when needed; the in-process camera is told
                                    where the data ends)
    read_into(buffer, timeout_s, *, in_data=False) -> (count, transfer_ended)
                                    in_data: the read continues the camera's data phase (USB: a
                                    stall then loses bytes and is fatal; between transfers it is
                                    cleared and the read tried again)
    cancel(request) / cancel_finished()
    reset()                         the link's own reset (USB Device Reset); the engine then
                                    resets its connection
    set_idle(idle)                  no transaction under way (USB events="between" polls only then)
    start_events(on_event, on_error)
    receive_buffer(), read_size, kind, url

Why this split: one core connection per channel, in one place, so every transport (and a new one,
such as Fujifilm's PTP/IP variant) is only I/O. A link-level handshake that comes before any
transaction (PTP/IP's InitCommandRequest/Ack) stays inside ``open()``, run on a throw-away
connection of the same framing that reads no byte past the handshake's last packet (what follows,
a probe say, is the engine's connection's to read); :meth:`Transport.framing` then describes the
channel as the handshake left it (``PtpIpFraming(initial_phase=Phase.IDLE)``). An event channel
is a channel of its own: a transport decodes it with a private connection (PTP/IP's event
connection also answers probes and keeps its handshake state), since the engine never reads it.

Implementations: :mod:`ptpkit.transports.inprocess` (the virtual camera in this process), and
PTP/IP and USB in their own modules.
"""

from __future__ import annotations

import abc
import mmap
import time
from collections.abc import Callable, Sequence

from ptpkit.core.buffer import BytesLike
from ptpkit.core.events import Event
from ptpkit.core.framing import Framing
from ptpkit.errors import PTPError, TransportError, UsageError

#: Called with each event from the event channel, from whatever thread reads it.
EventCallback = Callable[[Event], None]
#: Called once when the event channel fails (closed by the device, protocol error...).
EventErrorCallback = Callable[[PTPError], None]
#: Sends one request prepared in advance (:meth:`Transport.prepared_send`) at once: the count
#: of bytes the link took (all, or fewer when it could not take them without waiting: the rest
#: goes with a later :meth:`Transport.write`); TransportError when the link failed.
PreparedSend = Callable[[], int]
#: Told how many more bytes the camera has taken during a write; returns the seconds left from
#: now for the rest of it (None: no limit). The engine's low-speed rule for a data-out phase.
WriteProgress = Callable[[int], float | None]


def url_number(
    text: str, url: str, *, what: str = "port", minimum: int = 1, maximum: int = 65535
) -> int:
    """A decimal number of a camera URL (a port, a USB bus or address): ASCII digits only
    (``int()`` alone takes any script's digits and "1_5740", and raises a bare ValueError past
    4,300 digits), ``minimum`` to ``maximum``; UsageError naming the URL otherwise. The URL
    patterns match ``[0-9]+`` and leave the bounds to this."""
    if not (text.isascii() and text.isdigit()):
        raise UsageError(f"{url!r}: {what} {text!r} is not a number")
    digits = text.lstrip("0") or "0"
    value = int(digits) if len(digits) <= len(str(maximum)) else maximum + 1
    if not minimum <= value <= maximum:
        shown = digits if len(digits) <= 12 else digits[:12] + "..."
        raise UsageError(f"{url!r}: {what} {shown} is out of range ({minimum} to {maximum})")
    return value


class WriteDeadline:
    """How a transport keeps the deadline of one :meth:`Transport.write` (see there)."""

    def __init__(self, timeout_s: float | None, progress: WriteProgress | None) -> None:
        self._progress = progress
        self._at = None if timeout_s is None else time.monotonic() + timeout_s

    def remaining(self) -> float | None:
        """Seconds left (never below 0), None for no limit."""
        return None if self._at is None else max(0.0, self._at - time.monotonic())

    def took(self, count: int) -> None:
        """The camera took ``count`` more bytes: tell the caller, and move the deadline."""
        if self._progress is not None and count:
            left = self._progress(count)
            self._at = None if left is None else time.monotonic() + left


class Transport(abc.ABC):
    """One link to one camera."""

    #: Bytes a single read should ask for (USB rounds it to a multiple of wMaxPacketSize).
    read_size: int = 1 << 20
    #: What carries the session ("usb", "ptpip", "inprocess"): what an extension may know of
    #: its transport (a keep-alive only over PTP/IP), instead of parsing the URL.
    kind: str = "unknown"
    #: The extension a link of one vendor's own protocol always needs (Fujifilm's PTP/IP
    #: variant: "fuji"), used even when the body's DeviceInfo names no vendor; None for links
    #: every camera speaks.
    vendor_hint: str | None = None

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The URL that reaches this camera again (``usb:1,5``, ``ptpip:192.168.1.1``)."""

    @abc.abstractmethod
    def framing(self) -> Framing:
        """A new framing for the command channel, in the state :meth:`open` leaves the channel
        in: the engine makes its :class:`~ptpkit.core.connection.Connection` from it once the
        link is open. A framing with a link-level handshake that ``open()`` ran must start after
        it (``initial_phase`` IDLE), so the engine's connection starts ready for transactions."""

    @abc.abstractmethod
    def open(self) -> None:
        """Establish the link (and the PTP/IP handshake); raise ConnectError on failure."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the link. Safe to call twice."""

    @abc.abstractmethod
    def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        """Send these bytes on the command channel, in order, as one write where possible.

        ``ends_transfer`` is False while a data phase to the camera goes on after these bytes
        (the engine knows it from its connection): a USB transport then sends whole packets only
        and keeps the rest for the next write, since a short packet would end the transfer; with
        True it sends everything, then a zero-length packet if the transfer's length is a
        multiple of the packet size. A stream transport (PTP/IP) ignores it.

        Raises TransportTimeout when the camera has not taken them within ``timeout_s`` (None:
        no limit of the caller's; a transport may keep its own bound for a camera that is gone,
        PTP/IP's ``send_timeout_s``). Without ``progress`` that bounds the whole write. With it,
        the transport calls ``progress(bytes taken)`` as the camera takes bytes (each socket
        send, each USB piece) and the seconds it returns are the time left from then: the
        caller moves the deadline with progress (a data phase's low-speed rule, see
        :mod:`ptpkit.client.engine`). A transport may buffer bytes and send them with a later
        write. After a timeout part of the bytes may have gone: the link is out of step.
        """

    @abc.abstractmethod
    def read_into(
        self, buffer: memoryview, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[int, bool]:
        """Read command-channel bytes into ``buffer``.

        Returns (bytes read, transfer_ended). ``transfer_ended`` matters for USB only: the read
        was cut short by a short or zero-length packet. Raises TransportTimeout when nothing
        arrives within ``timeout_s``, DisconnectedError when the link is gone. ``in_data``: the
        read continues a data phase from the camera (the engine's connection is in it), so a
        failure that loses bytes (a USB stall) cannot be retried; otherwise the read is between
        transfers and a transport may recover and read again.
        """

    @abc.abstractmethod
    def cancel(self, request: Sequence[BytesLike]) -> None:
        """Send a cancel request encoded by the framing (``connection.send(Cancel(...))``): the
        data of USB's Cancel class request, or a PTP/IP Cancel packet. The transport knows the
        channel it goes on. The client then drains the command channel until the transaction ends.
        """

    @abc.abstractmethod
    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        """Start delivering events from the event channel to ``on_event``."""

    def prepared_send(self, buffers: Sequence[BytesLike]) -> PreparedSend | None:
        """A function that sends ``buffers`` (one whole request, encoded before the moment it
        must go: an armed capture, :meth:`ptpkit.client.engine.Engine.prepare`) with as little
        work as the link allows, never waiting long for the camera; None where the link has no
        such raw send (the default): the caller runs the transaction the ordinary way.

        Made while the engine holds the command channel (nothing else is written on it until
        the function has run or been dropped); the bytes are the start of a transfer."""
        return None

    def receive_buffer(self) -> memoryview:
        """The buffer reads go into, allocated once per connection. A transport may need its own
        kind (PyUSB reads only into an ``array.array``)."""
        # Anonymous memory, not bytearray(n): bytearray zeroes (touches) every page of the 4 MiB
        # at once, ~3-6 ms at each connection; the system maps these pages as reads first reach
        # them, so a small command (`ptpkit get iso`) never pays for the big-download buffer.
        return memoryview(mmap.mmap(-1, self.read_size))

    def cancel_finished(self) -> bool:
        """Whether a cancelled transaction is over without a response (USB: device status OK).

        PTP/IP and the in-process transport end a cancelled transaction with a response, so
        the default is False: keep reading until it comes.
        """
        return False

    def reset(self) -> None:
        """The link's own reset, after an error left the channel out of step (USB: Device Reset,
        0x66, and unsent bytes dropped). The engine resets its connection after it
        (:meth:`ptpkit.client.engine.Engine.reset`). A link without one says so."""
        raise TransportError(f"{self.url}: this link has no reset; reconnect instead")

    def set_idle(self, idle: bool) -> None:
        """The engine says whether the command channel is idle: no transaction under way, and
        not broken. A transport that touches the device between transactions only (USB's
        events="between" looks at the interrupt endpoint then) waits for idle; others ignore it.
        Called from the engine's thread; read from any."""
        return  # most links do not care

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"
