"""PTP over USB: the generic container (ISO 15740 Annex D, "USB Still Image Capture Device").

A container is a 12-byte header ``u32 length | u16 type | u16 code | u32 transaction id`` and a
payload: up to five uint32 parameters for commands and responses, up to three for events (the
interrupt endpoint), or the data of a data phase. A data container whose length does not fit in
32 bits carries 0xFFFFFFFF; the receiver then reads until the transfer ends with a short packet
(libgphoto2 ``usb.c`` handles objects over 4 GiB the same way).

:class:`UsbFraming` turns a bulk-IN byte stream into events and events into bytes. It never
touches USB: the transport tells it where transfers end (``transfer_ended``).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from ptpkit.core.buffer import BytesLike, Reader
from ptpkit.core.events import (
    MAX_PARAMS,
    NEED_DATA,
    Cancel,
    Data,
    DataEnd,
    DataStart,
    Event,
    Request,
    Response,
    _NeedData,
)
from ptpkit.core.framing import LinkEvent
from ptpkit.core.inbox import Inbox
from ptpkit.core.state import AnyPhase, Phase, Role, TransitionKey
from ptpkit.errors import DecodeError, LocalProtocolError, RemoteProtocolError

HEADER: Final = struct.Struct("<IHHI")
HEADER_SIZE: Final = HEADER.size
#: Container length of a data phase too large for 32 bits: "read until a short packet".
LENGTH_UNKNOWN: Final = 0xFFFFFFFF
#: Largest data payload whose length still fits the 32-bit length field.
MAX_SIZED_PAYLOAD: Final = LENGTH_UNKNOWN - 1 - HEADER_SIZE


class ContainerType(enum.IntEnum):
    COMMAND = 1
    DATA = 2
    RESPONSE = 3
    EVENT = 4


# USB still-image class requests (bRequest), Annex D §5.2.
class ClassRequest(enum.IntEnum):
    CANCEL = 0x64
    GET_EXTENDED_EVENT_DATA = 0x65
    DEVICE_RESET = 0x66
    GET_DEVICE_STATUS = 0x67


#: CancellationCode in the Cancel request's data (Annex D §5.2.1).
CANCELLATION_CODE: Final = 0x4001
_CANCEL: Final = struct.Struct("<HI")


def _pack(fmt: struct.Struct, *values: int) -> bytes:
    """``fmt.pack``, with an opcode over 16 bits or an id over 32 bits (the caller's mistake)
    raised as a LocalProtocolError like every other encoding error, not as struct.error."""
    try:
        return fmt.pack(*values)
    except struct.error as exc:
        raise LocalProtocolError(f"a field does not fit its PTP type: {values!r}") from exc


@dataclass(frozen=True, kw_only=True, slots=True)
class Container:
    """A whole container, for golden tests and small messages. Data phases stream instead."""

    type: int
    code: int
    transaction_id: int
    payload: bytes = b""

    @property
    def params(self) -> tuple[int, ...]:
        return struct.unpack(
            f"<{len(self.payload) // 4}I", self.payload[: len(self.payload) // 4 * 4]
        )


def push_container(container: Container) -> bytes:
    length = HEADER_SIZE + len(container.payload)
    if container.type == ContainerType.DATA and len(container.payload) > MAX_SIZED_PAYLOAD:
        length = LENGTH_UNKNOWN
    return (
        _pack(HEADER, length, container.type, container.code, container.transaction_id)
        + container.payload
    )


def pull_container(data: BytesLike) -> Container:
    """One whole container. A length that disagrees with the bytes given is a DecodeError."""
    reader = Reader(data, what="USB container")
    length = reader.uint32()
    ctype = reader.uint16()
    code = reader.uint16()
    tid = reader.uint32()
    # Only a data container may say 0xFFFFFFFF ("4 GiB or more, read to the end of the
    # transfer"); on a command, response or event it is a wrong length like any other.
    unknown = length == LENGTH_UNKNOWN and ctype == ContainerType.DATA
    if not unknown and length != len(data):
        raise DecodeError(f"length field says {length}, container has {len(data)} bytes", offset=0)
    if length < HEADER_SIZE:
        raise DecodeError(f"length {length} is shorter than the header", offset=0)
    return Container(type=ctype, code=code, transaction_id=tid, payload=reader.rest())


def encode_params(params: tuple[int, ...], limit: int = MAX_PARAMS) -> bytes:
    if len(params) > limit:
        raise LocalProtocolError(f"at most {limit} parameters, got {len(params)}")
    try:
        return struct.pack(f"<{len(params)}I", *params)
    except struct.error as exc:
        raise LocalProtocolError(f"parameters must be uint32: {params!r}") from exc


def encode_cancel_request(transaction_id: int) -> bytes:
    """Data of the Cancel class request (0x64): CancellationCode 0x4001 and the transaction id."""
    return _pack(_CANCEL, CANCELLATION_CODE, transaction_id)


def decode_cancel_request(data: BytesLike) -> int:
    """The transaction id of a Cancel class request's data."""
    reader = Reader(data, what="Cancel request")
    code = reader.uint16()
    if code != CANCELLATION_CODE:
        raise reader.fail(f"cancellation code 0x{code:04X} is not 0x4001")
    return reader.uint32()


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceStatus:
    """Answer of Get Device Status (0x67): a response code and endpoint numbers (Annex D §5.2.4)."""

    code: int
    params: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ExtendedEvent:
    """Answer of Get Extended Event Data (0x65): an event whose parameters did not fit the
    interrupt endpoint's container (Annex D §5.2.2: wEventCode, dwTransactionID,
    wNumParameters, then each parameter as wParameterSize and its bytes)."""

    code: int
    transaction_id: int
    params: tuple[bytes, ...] = ()


def decode_extended_event(data: BytesLike) -> ExtendedEvent:
    reader = Reader(data, what="extended event data")
    code = reader.uint16()
    tid = reader.uint32()
    count = reader.uint16()
    if count * 2 > reader.remaining:
        raise reader.fail(f"{count} parameters claimed, {reader.remaining} bytes left")
    params = tuple(reader.raw(reader.uint16()) for _ in range(count))
    return ExtendedEvent(code=code, transaction_id=tid, params=params)


def encode_device_status(status: DeviceStatus) -> bytes:
    return struct.pack(
        f"<HH{len(status.params)}I", 4 + 4 * len(status.params), status.code, *status.params
    )


def decode_device_status(data: BytesLike) -> DeviceStatus:
    reader = Reader(data, what="device status")
    length = reader.uint16()
    code = reader.uint16()
    # wLength counts the whole dataset; believe the bytes present over the field.
    count = max(0, min(length, len(data)) - 4) // 4
    return DeviceStatus(code=code, params=tuple(reader.uint32() for _ in range(count)))


IncomingUsb = Request | DataStart | Data | DataEnd | Response | Event


class UsbFraming:
    """Encode events as containers; decode a bulk (or interrupt) byte stream into events."""

    name: Final = "usb"
    #: USB has no handshake: a connection is usable as soon as the interface is claimed.
    handshake: Final = False
    initial_phase: Final = Phase.IDLE
    #: No link-level packets: the class requests (Cancel, Device Reset) go on the control pipe.
    transitions: Final[Mapping[TransitionKey, AnyPhase]] = MappingProxyType({})
    anytime: Final[Mapping[type, tuple[Role, ...]]] = MappingProxyType({})

    def __init__(self) -> None:
        self._inbox = Inbox()
        self._in_data = False
        self._data_tid = 0
        self._data_remaining: int | None = 0

    # -- encoding --------------------------------------------------------------------------------

    def encode(self, event: object, *, final: bool = False) -> list[BytesLike]:
        """Bytes for an event. ``Data`` chunks pass through untouched (no copy).

        ``Cancel`` yields the data of the Cancel class request, which the transport sends as a
        control transfer, not on the bulk pipe.
        """
        if isinstance(event, Data):
            return [event.chunk]
        if isinstance(event, Request):
            params = encode_params(event.params)
            return [
                _pack(
                    HEADER,
                    HEADER_SIZE + len(params),
                    ContainerType.COMMAND,
                    event.code,
                    event.transaction_id,
                )
                + params
            ]
        if isinstance(event, Response):
            params = encode_params(event.params)
            return [
                _pack(
                    HEADER,
                    HEADER_SIZE + len(params),
                    ContainerType.RESPONSE,
                    event.code,
                    event.transaction_id,
                )
                + params
            ]
        if isinstance(event, Event):
            params = encode_params(event.params)
            return [
                _pack(
                    HEADER,
                    HEADER_SIZE + len(params),
                    ContainerType.EVENT,
                    event.code,
                    event.transaction_id,
                )
                + params
            ]
        if isinstance(event, DataStart):
            if event.total_bytes is None or event.total_bytes < 0:
                # (A negative total would make a header shorter than itself.)
                raise LocalProtocolError("a data phase must be sent with its total size")
            length = (
                HEADER_SIZE + event.total_bytes
                if event.total_bytes <= MAX_SIZED_PAYLOAD
                else LENGTH_UNKNOWN
            )
            return [_pack(HEADER, length, ContainerType.DATA, event.code, event.transaction_id)]
        if isinstance(event, Cancel):
            return [encode_cancel_request(event.transaction_id)]
        raise LocalProtocolError(f"{type(event).__name__} cannot be sent over USB")

    def encode_empty_end(self, transaction_id: int) -> list[BytesLike]:
        """A zero-length data phase is just its header over USB."""
        return []

    # -- decoding --------------------------------------------------------------------------------

    def receive_data(self, data: BytesLike, *, transfer_ended: bool = False) -> None:
        """Bytes from the bulk-IN (or interrupt) pipe. ``transfer_ended``: the read came back
        shorter than asked (a short or zero-length packet ended the transfer)."""
        self._inbox.feed(data, transfer_ended=transfer_ended)

    def next_event(self) -> IncomingUsb | _NeedData:
        inbox = self._inbox
        if self._in_data:
            return self._next_data_event()
        if len(inbox) < HEADER_SIZE:
            if inbox.transfer_ended and len(inbox):
                raise RemoteProtocolError(
                    f"a USB transfer ended inside a container header ({len(inbox)} bytes)"
                )
            inbox.stash()
            return NEED_DATA
        length, ctype, code, tid = HEADER.unpack(inbox.peek(HEADER_SIZE))
        if ctype == ContainerType.DATA:
            inbox.take_exact(HEADER_SIZE)
            if length == LENGTH_UNKNOWN:
                self._data_remaining = None
            elif length < HEADER_SIZE:
                raise DecodeError(f"data container length {length} is shorter than its header")
            else:
                self._data_remaining = length - HEADER_SIZE
            self._in_data = True
            self._data_tid = tid
            return DataStart(transaction_id=tid, total_bytes=self._data_remaining, code=code)
        if ctype not in (ContainerType.COMMAND, ContainerType.RESPONSE, ContainerType.EVENT):
            raise DecodeError(f"unknown container type {ctype} (length {length})")
        if length < HEADER_SIZE or length > HEADER_SIZE + 4 * MAX_PARAMS or length % 4:
            raise DecodeError(
                f"{ContainerType(ctype).name.lower()} container length {length} is not "
                f"a header plus 0 to {MAX_PARAMS} parameters"
            )
        if len(inbox) < length:
            if inbox.transfer_ended:
                raise RemoteProtocolError(f"a USB transfer ended inside a {length}-byte container")
            inbox.stash()
            return NEED_DATA
        raw = inbox.take_exact(length)
        params = struct.unpack_from(f"<{(length - HEADER_SIZE) // 4}I", raw, HEADER_SIZE)
        if ctype == ContainerType.RESPONSE:
            return Response(code=code, transaction_id=tid, params=params)
        if ctype == ContainerType.EVENT:
            return Event(code=code, transaction_id=tid, params=params)
        return Request(code=code, transaction_id=tid, params=params)

    def _next_data_event(self) -> IncomingUsb | _NeedData:
        inbox = self._inbox
        remaining = self._data_remaining
        if remaining == 0:
            return self._end_data()
        if len(inbox):
            chunk = inbox.take_upto(remaining if remaining is not None else len(inbox))
            if remaining is not None:
                self._data_remaining = remaining - len(chunk)
            return Data(transaction_id=self._data_tid, chunk=chunk)
        if inbox.transfer_ended:
            if remaining is None:
                return self._end_data()
            raise RemoteProtocolError(
                f"the USB transfer ended {remaining} bytes before the end of the data phase"
            )
        inbox.stash()
        return NEED_DATA

    def _end_data(self) -> DataEnd:
        inbox = self._inbox
        self._in_data = False
        if not len(inbox):
            # The short packet that ended this transfer is consumed by the data phase.
            inbox.transfer_ended = False
        # Bytes after the announced data, in the same transfer: a device that sent no
        # zero-length packet after a data container of whole packets, so the host's read ran
        # on into the response (libgphoto2 keeps that surplus as the response too). They are
        # the next container; ``transfer_ended`` stays set, so a truncated one is an error, and
        # a device that sent more data than it announced fails that container's checks.
        return DataEnd(transaction_id=self._data_tid)

    def link_event(self, sender: Role, event: LinkEvent) -> None:
        """USB has no link packets."""

    def reset(self) -> None:
        """Forget partial input (after a device reset or a cancelled transfer)."""
        self._inbox.clear()
        self._in_data = False
        self._data_remaining = 0
