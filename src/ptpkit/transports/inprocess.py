"""A responder in this process, such as the virtual camera of ``ptpkit.connect("virtual:")``.

The transport takes any :class:`ResponderFactory` and imports nothing of the virtual camera (nor
Pillow): ``connect("virtual:")`` makes the camera and hands it over. A responder that must act on
the link (stall, hang up) raises :class:`~ptpkit.core.link.LinkFault` from its output.

No sockets and no USB, but no shortcuts either: requests, data and responses go through the core in
the initiator role (the engine's connection, made from :meth:`InProcessTransport.framing`) and the
core in the responder role in the virtual camera, framed as USB containers; events are framed as
interrupt-endpoint containers and decoded again by a private connection of this transport (the
event channel is its own channel; the engine never reads it). A cancel behaves as on USB: the
transaction stops and the link is reset without a response. Where a data phase to the camera ends
(USB's short packet), the engine says with each write (``ends_transfer``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection
from ptpkit.core.events import NEED_DATA, Event
from ptpkit.core.framing import Framing
from ptpkit.core.link import LinkFault
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import UsbFraming, decode_cancel_request
from ptpkit.errors import ClosedError, DisconnectedError, TransportTimeout
from ptpkit.transports.base import (
    EventCallback,
    EventErrorCallback,
    PreparedSend,
    Transport,
    WriteProgress,
)


class Responder(Protocol):
    """What the transport needs of the responder end (a ``ResponderSession``)."""

    on_event: Callable[[], None] | None

    def receive_data(self, data: BytesLike, *, transfer_ended: bool = False) -> None: ...

    def read_output(self, target: memoryview) -> tuple[int, bool]: ...

    def cancel(self, transaction_id: int, *, respond: bool) -> None: ...

    def take_events(self) -> list[Event]: ...

    def close(self) -> None: ...


class ResponderFactory(Protocol):
    def new_session(self, framing: UsbFraming) -> Responder: ...


class InProcessTransport(Transport):
    kind = "inprocess"

    def __init__(
        self,
        device: ResponderFactory,
        *,
        url: str = "virtual:",
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._device = device
        self._url = url
        #: Runs after the link closes (connect("virtual:") closes the camera it made).
        self._on_close = on_close
        self._session: Responder | None = None
        self._cancel_done = False
        self._on_event: EventCallback | None = None
        self._event_lock = threading.Lock()
        # Interrupt-endpoint framing for events: encoded by the device end, decoded by ours.
        self._device_events = UsbFraming()
        self._host_events = Connection(Role.INITIATOR, UsbFraming())
        self._host_events.phase = Phase.EVENT_CHANNEL

    @property
    def url(self) -> str:
        return self._url

    def framing(self) -> Framing:
        return UsbFraming()

    def open(self) -> None:
        session = self._device.new_session(UsbFraming())
        self._session = session
        # The camera calls this from whatever thread emits (a capture timer, say).
        session.on_event = self._pump_events

    def _responder(self) -> Responder:
        if self._session is None:
            raise ClosedError("the in-process link is closed")
        return self._session

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        # The camera takes everything at once (it never blocks): no deadline can pass.
        responder = self._responder()
        # Over USB a data phase ends with a short packet; here, when the engine says so.
        data = b"".join(buffers)
        responder.receive_data(data, transfer_ended=ends_transfer)
        if progress is not None and data:
            progress(len(data))

    def prepared_send(self, buffers: Sequence[BytesLike]) -> PreparedSend:
        """The bytes handed to the camera (which answers inside the call, as for a write)."""
        responder = self._responder()
        data = b"".join(buffers)

        def send_now() -> int:
            responder.receive_data(data, transfer_ended=True)
            return len(data)

        return send_now

    def read_into(
        self, buffer: memoryview, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[int, bool]:
        try:
            count, ended = self._responder().read_output(buffer)
        except LinkFault as fault:
            # A misbehaving virtual camera: going silent or hanging up, as a link would show it.
            if fault.action == "disconnect":
                raise DisconnectedError("the virtual camera hung up") from None
            raise TransportTimeout("the virtual camera went silent mid-transfer") from None
        if count == 0 and not ended:
            # Everything here is synchronous: nothing to read now means nothing will come.
            raise TransportTimeout("the virtual camera sent nothing while an answer was awaited")
        return count, ended

    def cancel(self, request: Sequence[BytesLike]) -> None:
        transaction_id = decode_cancel_request(b"".join(request))
        self._responder().cancel(transaction_id, respond=False)
        self._cancel_done = True

    def cancel_finished(self) -> bool:
        done, self._cancel_done = self._cancel_done, False
        return done

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        self._on_event = on_event
        self._pump_events()

    def _pump_events(self) -> None:
        session = self._session
        if session is None or self._on_event is None:
            return
        with self._event_lock:
            for event in session.take_events():
                for chunk in self._device_events.encode(event):
                    self._host_events.receive_data(chunk, transfer_ended=True)
                while (decoded := self._host_events.next_event()) is not NEED_DATA:
                    if isinstance(decoded, Event):
                        self._on_event(decoded)

    def __repr__(self) -> str:
        state = "open" if self._session is not None else "closed"
        return f"<InProcessTransport {self._url} {state}>"
