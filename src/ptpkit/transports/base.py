"""The Transport interface: the I/O a camera link needs, and nothing of PTP's rules.

A transport opens the link (claiming a USB interface, or the PTP/IP handshake on two TCP
connections), then moves bytes of the command channel both ways and delivers events from the
event channel (USB interrupt endpoint, PTP/IP event connection) to a callback. The protocol lives
in :class:`ptpkit.core.Connection`, which the transport creates with its framing and hands to
the client through :attr:`Transport.connection`.

Implementations: :mod:`ptpkit.transports.inprocess` (the virtual camera in this process), and
PTP/IP and USB in their own modules.
"""

from __future__ import annotations

import abc
import mmap
import time
from collections.abc import Callable, Sequence

from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection
from ptpkit.core.events import Event
from ptpkit.errors import PTPError

#: Called with each event from the event channel, from whatever thread reads it.
EventCallback = Callable[[Event], None]
#: Called once when the event channel fails (closed by the device, protocol error...).
EventErrorCallback = Callable[[PTPError], None]
#: Told how many more bytes the camera has taken during a write; returns the seconds left from
#: now for the rest of it (None: no limit). The engine's low-speed rule for a data-out phase.
WriteProgress = Callable[[int], float | None]


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

    #: The sans-IO connection of the command channel; valid after :meth:`open`.
    connection: Connection
    #: Bytes a single read should ask for (USB rounds it to a multiple of wMaxPacketSize).
    read_size: int = 1 << 20
    #: What carries the session ("usb", "ptpip", "inprocess"): what an extension may know of
    #: its transport (a keep-alive only over PTP/IP), instead of parsing the URL.
    kind: str = "unknown"

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The URL that reaches this camera again (``usb:1,5``, ``ptpip:192.168.1.1``)."""

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
    ) -> None:
        """Send these bytes on the command channel, in order, as one write where possible.

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
    def read_into(self, buffer: memoryview, timeout_s: float | None) -> tuple[int, bool]:
        """Read command-channel bytes into ``buffer``.

        Returns (bytes read, transfer_ended). ``transfer_ended`` matters for USB only: the read
        was cut short by a short or zero-length packet. Raises TransportTimeout when nothing
        arrives within ``timeout_s``, DisconnectedError when the link is gone.
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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"
