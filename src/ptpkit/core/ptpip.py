"""PTP/IP (CIPA DC-X005): the packets of the command and event TCP connections.

Every packet is ``u32 length (header included) | u32 type | payload``, little endian. The 14 types
and their layouts follow CIPA DC-X005 as implemented by libgphoto2 ``camlibs/ptp2/ptpip.c`` and
decoded by Wireshark's ``packet-ptpip.c``.

Each packet type is a frozen dataclass with a golden-tested ``pull_packet``/``push_packet`` pair.
:class:`PtpIpFraming` decodes a TCP byte stream into transport-neutral events (requests, data,
responses, events) plus the link packets (handshake and probes), streaming Data payload without
copying it; and it encodes events into packets.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from ptpkit.core.buffer import BytesLike, Reader, Writer
from ptpkit.core.events import (
    MAX_PARAMS,
    NEED_DATA,
    Cancel,
    Data,
    DataEnd,
    DataPhase,
    DataStart,
    Event,
    Request,
    Response,
    _NeedData,
)
from ptpkit.core.framing import LinkEvent
from ptpkit.core.inbox import Inbox
from ptpkit.core.state import AnyPhase, Phase, Role, TransitionKey
from ptpkit.errors import DecodeError, LocalProtocolError

HEADER: Final = struct.Struct("<II")
HEADER_SIZE: Final = HEADER.size
_DATA_HEADER: Final = struct.Struct("<III")
#: The TCP port of PTP/IP (IANA "ptp-ip", CIPA DC-X005).
DEFAULT_PORT: Final = 15740
#: PTP/IP version 1.0, major in the high 16 bits (libgphoto2 sends u16 minor 0, then u16 major 1).
PROTOCOL_VERSION: Final = 0x00010000
#: Non-data packets are tiny; anything larger than this is refused before it is buffered.
MAX_CONTROL_PACKET: Final = 8192
#: StartData's total length when the sender does not know it (libgphoto2 reads only 32 bits of it).
LENGTH_UNKNOWN_64: Final = 0xFFFFFFFFFFFFFFFF


class PacketType(enum.IntEnum):
    INIT_COMMAND_REQUEST = 1
    INIT_COMMAND_ACK = 2
    INIT_EVENT_REQUEST = 3
    INIT_EVENT_ACK = 4
    INIT_FAIL = 5
    OPERATION_REQUEST = 6
    OPERATION_RESPONSE = 7
    EVENT = 8
    START_DATA = 9
    DATA = 10
    CANCEL = 11
    END_DATA = 12
    PROBE_REQUEST = 13
    PROBE_RESPONSE = 14


class InitFailReason(enum.IntEnum):
    """InitFail reasons (CIPA DC-X005 §2.3.5)."""

    REJECTED_INITIATOR = 1
    BUSY = 2
    UNSPECIFIED = 3


# -- link packets (handshake, probes) ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class InitCommandRequest(LinkEvent):
    guid: bytes
    friendly_name: str
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True, kw_only=True, slots=True)
class InitCommandAck(LinkEvent):
    connection_number: int
    guid: bytes
    friendly_name: str
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True, kw_only=True, slots=True)
class InitEventRequest(LinkEvent):
    connection_number: int


@dataclass(frozen=True, kw_only=True, slots=True)
class InitEventAck(LinkEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class InitFail(LinkEvent):
    reason: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeRequest(LinkEvent):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeResponse(LinkEvent):
    pass


# -- operation packets (whole-packet forms; the framing streams Data payloads instead) -----------


@dataclass(frozen=True, kw_only=True, slots=True)
class OperationRequest:
    data_phase: int
    code: int
    transaction_id: int
    params: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class OperationResponse:
    code: int
    transaction_id: int
    params: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class EventPacket:
    code: int
    transaction_id: int
    params: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class StartData:
    transaction_id: int
    total_length: int


@dataclass(frozen=True, kw_only=True, slots=True)
class DataPacket:
    transaction_id: int
    payload: bytes = b""


@dataclass(frozen=True, kw_only=True, slots=True)
class EndData:
    transaction_id: int
    payload: bytes = b""


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelPacket:
    transaction_id: int


LinkPacket = (
    InitCommandRequest
    | InitCommandAck
    | InitEventRequest
    | InitEventAck
    | InitFail
    | (ProbeRequest | ProbeResponse)
)
Packet = (
    LinkPacket
    | OperationRequest
    | OperationResponse
    | EventPacket
    | StartData
    | (DataPacket | EndData | CancelPacket)
)


_LINK_PACKETS = (
    InitCommandRequest,
    InitCommandAck,
    InitEventRequest,
    InitEventAck,
    InitFail,
    ProbeRequest,
    ProbeResponse,
)


# -- whole-packet codec --------------------------------------------------------------------------


def _pull_name(reader: Reader) -> str:
    """A NUL-terminated UTF-16LE name (InitCommandRequest/Ack carry no count byte)."""
    start = reader.offset
    units = bytearray()
    while True:
        if reader.remaining < 2:
            raise DecodeError("friendly name has no NUL terminator", offset=start, what=reader.what)
        unit = reader.raw(2)
        if unit == b"\x00\x00":
            break
        units += unit
    return bytes(units).decode("utf-16-le", errors="replace")


def _push_name(writer: Writer, name: str) -> None:
    if "\x00" in name:
        # The name ends at the first NUL: one inside it would make the peer read the rest of
        # the name as the version field, a malformed packet.
        raise LocalProtocolError(f"a PTP/IP friendly name cannot contain NUL: {name!r}")
    writer.raw(name.encode("utf-16-le", errors="surrogatepass") + b"\x00\x00")


def _pull_params(reader: Reader, limit: int = MAX_PARAMS) -> tuple[int, ...]:
    if reader.remaining % 4:
        raise reader.fail(f"{reader.remaining} bytes of parameters is not a multiple of 4")
    count = reader.remaining // 4
    if count > limit:
        raise reader.fail(f"{count} parameters, at most {limit} allowed")
    return tuple(reader.uint32() for _ in range(count))


def _push_params(writer: Writer, params: tuple[int, ...], limit: int = MAX_PARAMS) -> None:
    if len(params) > limit:
        raise LocalProtocolError(f"at most {limit} parameters, got {len(params)}")
    for param in params:
        writer.uint32(param)


def _check_guid(guid: bytes) -> None:
    if len(guid) != 16:
        raise LocalProtocolError(f"a PTP/IP GUID is 16 bytes, got {len(guid)}")


def push_packet(packet: Packet) -> bytes:
    """The bytes of one whole packet, header included."""
    writer = Writer()
    ptype = _push_payload(writer, packet)
    payload = writer.getvalue()
    return HEADER.pack(HEADER_SIZE + len(payload), ptype) + payload


def _push_payload(writer: Writer, packet: Packet) -> PacketType:
    if isinstance(packet, InitCommandRequest):
        _check_guid(packet.guid)
        writer.raw(packet.guid)
        _push_name(writer, packet.friendly_name)
        writer.uint32(packet.protocol_version)
        return PacketType.INIT_COMMAND_REQUEST
    if isinstance(packet, InitCommandAck):
        _check_guid(packet.guid)
        writer.uint32(packet.connection_number)
        writer.raw(packet.guid)
        _push_name(writer, packet.friendly_name)
        writer.uint32(packet.protocol_version)
        return PacketType.INIT_COMMAND_ACK
    if isinstance(packet, InitEventRequest):
        writer.uint32(packet.connection_number)
        return PacketType.INIT_EVENT_REQUEST
    if isinstance(packet, InitEventAck):
        return PacketType.INIT_EVENT_ACK
    if isinstance(packet, InitFail):
        writer.uint32(packet.reason)
        return PacketType.INIT_FAIL
    if isinstance(packet, OperationRequest):
        writer.uint32(packet.data_phase)
        writer.uint16(packet.code)
        writer.uint32(packet.transaction_id)
        _push_params(writer, packet.params)
        return PacketType.OPERATION_REQUEST
    if isinstance(packet, OperationResponse):
        writer.uint16(packet.code)
        writer.uint32(packet.transaction_id)
        _push_params(writer, packet.params)
        return PacketType.OPERATION_RESPONSE
    if isinstance(packet, EventPacket):
        writer.uint16(packet.code)
        writer.uint32(packet.transaction_id)
        _push_params(writer, packet.params)
        return PacketType.EVENT
    if isinstance(packet, StartData):
        writer.uint32(packet.transaction_id)
        writer.uint64(packet.total_length)
        return PacketType.START_DATA
    if isinstance(packet, DataPacket):
        writer.uint32(packet.transaction_id)
        writer.raw(packet.payload)
        return PacketType.DATA
    if isinstance(packet, EndData):
        writer.uint32(packet.transaction_id)
        writer.raw(packet.payload)
        return PacketType.END_DATA
    if isinstance(packet, CancelPacket):
        writer.uint32(packet.transaction_id)
        return PacketType.CANCEL
    if isinstance(packet, ProbeRequest):
        return PacketType.PROBE_REQUEST
    if isinstance(packet, ProbeResponse):
        return PacketType.PROBE_RESPONSE
    raise LocalProtocolError(f"not a PTP/IP packet: {packet!r}")


def pull_packet(data: BytesLike) -> Packet:
    """One whole packet. The length field must match the bytes given."""
    reader = Reader(data, what="PTP/IP packet")
    length = reader.uint32()
    ptype = reader.uint32()
    if length != len(data):
        raise DecodeError(f"length field says {length}, packet has {len(data)} bytes", offset=0)
    return _pull_payload(ptype, Reader(memoryview(data)[HEADER_SIZE:], what=_packet_what(ptype)))


def _packet_what(ptype: int) -> str:
    try:
        return f"PTP/IP {PacketType(ptype).name}"
    except ValueError:
        return f"PTP/IP packet of type {ptype}"


def _pull_payload(ptype: int, reader: Reader) -> Packet:
    packet: Packet
    if ptype == PacketType.INIT_COMMAND_REQUEST:
        packet = InitCommandRequest(
            guid=reader.raw(16),
            friendly_name=_pull_name(reader),
            protocol_version=reader.uint32(),
        )
    elif ptype == PacketType.INIT_COMMAND_ACK:
        packet = InitCommandAck(
            connection_number=reader.uint32(),
            guid=reader.raw(16),
            friendly_name=_pull_name(reader),
            protocol_version=reader.uint32(),
        )
    elif ptype == PacketType.INIT_EVENT_REQUEST:
        packet = InitEventRequest(connection_number=reader.uint32())
    elif ptype == PacketType.INIT_EVENT_ACK:
        packet = InitEventAck()
    elif ptype == PacketType.INIT_FAIL:
        packet = InitFail(reason=reader.uint32())
    elif ptype == PacketType.OPERATION_REQUEST:
        packet = OperationRequest(
            data_phase=reader.uint32(),
            code=reader.uint16(),
            transaction_id=reader.uint32(),
            params=_pull_params(reader),
        )
    elif ptype == PacketType.OPERATION_RESPONSE:
        packet = OperationResponse(
            code=reader.uint16(), transaction_id=reader.uint32(), params=_pull_params(reader)
        )
    elif ptype == PacketType.EVENT:
        packet = EventPacket(
            code=reader.uint16(), transaction_id=reader.uint32(), params=_pull_params(reader)
        )
    elif ptype == PacketType.START_DATA:
        packet = StartData(transaction_id=reader.uint32(), total_length=reader.uint64())
    elif ptype == PacketType.DATA:
        packet = DataPacket(transaction_id=reader.uint32(), payload=reader.rest())
    elif ptype == PacketType.END_DATA:
        packet = EndData(transaction_id=reader.uint32(), payload=reader.rest())
    elif ptype == PacketType.CANCEL:
        packet = CancelPacket(transaction_id=reader.uint32())
    elif ptype == PacketType.PROBE_REQUEST:
        packet = ProbeRequest()
    elif ptype == PacketType.PROBE_RESPONSE:
        packet = ProbeResponse()
    else:
        raise DecodeError(f"unknown PTP/IP packet type {ptype}", offset=4)
    if not reader.at_end():
        raise reader.fail(f"{reader.remaining} unexpected bytes after the packet's fields")
    return packet


# -- streaming framing ---------------------------------------------------------------------------


def _pack_data_header(length: int, ptype: int, transaction_id: int) -> bytes:
    """The 12-byte Data/EndData header; a transaction id over 32 bits is a LocalProtocolError
    (like every other encoding error), not a struct.error."""
    try:
        return _DATA_HEADER.pack(length, ptype, transaction_id)
    except struct.error as exc:
        raise LocalProtocolError(f"transaction id {transaction_id!r} does not fit 32 bits") from exc


IncomingPtpIp = Request | DataStart | Data | DataEnd | Response | Event | Cancel | LinkPacket

_REQUEST_HEAD: Final = struct.Struct("<IHI")
_RESPONSE_HEAD: Final = struct.Struct("<HI")
_START_DATA: Final = struct.Struct("<IQ")
#: Parameters 0..MAX_PARAMS as one struct each.
_PARAMS: Final = tuple(struct.Struct(f"<{count}I") for count in range(MAX_PARAMS + 1))
_OPERATION_REQUEST: Final = int(PacketType.OPERATION_REQUEST)
_OPERATION_RESPONSE: Final = int(PacketType.OPERATION_RESPONSE)
_EVENT: Final = int(PacketType.EVENT)
_START_DATA_TYPE: Final = int(PacketType.START_DATA)
_DATA_TYPE: Final = int(PacketType.DATA)
_END_DATA_TYPE: Final = int(PacketType.END_DATA)
_DATA_PHASES: Final = {int(phase): phase for phase in DataPhase}


#: An OperationRequest / OperationResponse (or Event) with 0..MAX_PARAMS parameters, header
#: included.
_REQUEST_PACKETS: Final = tuple(
    struct.Struct(f"<II{_REQUEST_HEAD.format[1:]}{count}I") for count in range(MAX_PARAMS + 1)
)
_RESPONSE_PACKETS: Final = tuple(
    struct.Struct(f"<II{_RESPONSE_HEAD.format[1:]}{count}I") for count in range(MAX_PARAMS + 1)
)


_FAST_ENCODED: Final = (Request, Response, Event)


def _fast_encode(event: Request | Response | Event) -> bytes | None:
    """A request, response or event packed in one step (every transaction sends a request and
    a response; a camera's events come by the thousand); None when a field does not fit, for
    :func:`push_packet` to report as it always has."""
    params = event.params
    if len(params) > MAX_PARAMS:
        return None
    try:
        if isinstance(event, Request):
            packing = _REQUEST_PACKETS[len(params)]
            return packing.pack(
                packing.size,
                _OPERATION_REQUEST,
                event.data_phase,
                event.code,
                event.transaction_id,
                *params,
            )
        packing = _RESPONSE_PACKETS[len(params)]  # an event's packet has the same layout
        ptype = _EVENT if isinstance(event, Event) else _OPERATION_RESPONSE
        return packing.pack(packing.size, ptype, event.code, event.transaction_id, *params)
    except struct.error:
        return None


def _fast_event(ptype: int, length: int, buffer: BytesLike, start: int) -> IncomingPtpIp | None:
    """A well-formed request, response, event or StartData (the packets of every transaction)
    decoded straight from ``buffer`` at ``start`` (the whole ``length``-byte packet is there),
    without the packet object :func:`pull_packet` makes on the way; None for every other packet
    and for a malformed one, which the general path decodes or reports (the same event, the same
    errors: tests/core/test_ptpip.py compares them)."""
    if ptype in (_OPERATION_RESPONSE, _EVENT):
        count, odd = divmod(length - HEADER_SIZE - _RESPONSE_HEAD.size, 4)
        if count < 0 or odd or count > MAX_PARAMS:
            return None
        code, tid = _RESPONSE_HEAD.unpack_from(buffer, start + HEADER_SIZE)
        params = _PARAMS[count].unpack_from(buffer, start + HEADER_SIZE + _RESPONSE_HEAD.size)
        if ptype == _EVENT:
            return Event(code=code, transaction_id=tid, params=params)
        return Response(code=code, transaction_id=tid, params=params)
    if ptype == _OPERATION_REQUEST:
        count, odd = divmod(length - HEADER_SIZE - _REQUEST_HEAD.size, 4)
        if count < 0 or odd or count > MAX_PARAMS:
            return None
        phase_code, code, tid = _REQUEST_HEAD.unpack_from(buffer, start + HEADER_SIZE)
        phase = _DATA_PHASES.get(phase_code, DataPhase.UNKNOWN)
        params = _PARAMS[count].unpack_from(buffer, start + HEADER_SIZE + _REQUEST_HEAD.size)
        return Request(code=code, transaction_id=tid, params=params, data_phase=phase)
    if ptype == _START_DATA_TYPE and length == HEADER_SIZE + _START_DATA.size:
        tid, total = _START_DATA.unpack_from(buffer, start + HEADER_SIZE)
        return DataStart(
            transaction_id=tid, total_bytes=None if total == LENGTH_UNKNOWN_64 else total
        )
    return None


def _as_event(packet: Packet) -> IncomingPtpIp:
    """The transport-neutral event for a whole non-data packet."""
    if isinstance(packet, OperationRequest):
        try:
            phase = DataPhase(packet.data_phase)
        except ValueError:
            phase = DataPhase.UNKNOWN
        return Request(
            code=packet.code,
            transaction_id=packet.transaction_id,
            params=packet.params,
            data_phase=phase,
        )
    if isinstance(packet, OperationResponse):
        return Response(
            code=packet.code, transaction_id=packet.transaction_id, params=packet.params
        )
    if isinstance(packet, EventPacket):
        return Event(code=packet.code, transaction_id=packet.transaction_id, params=packet.params)
    if isinstance(packet, StartData):
        total = None if packet.total_length == LENGTH_UNKNOWN_64 else packet.total_length
        return DataStart(transaction_id=packet.transaction_id, total_bytes=total)
    if isinstance(packet, CancelPacket):
        return Cancel(transaction_id=packet.transaction_id)
    assert not isinstance(packet, (DataPacket, EndData))
    return packet


class PtpIpPhase(enum.Enum):
    """The handshake's own phases, between the generic CONNECTING and IDLE / EVENT_CHANNEL."""

    AWAITING_COMMAND_ACK = "awaiting InitCommandAck"
    AWAITING_EVENT_ACK = "awaiting InitEventAck"


_I: Final = Role.INITIATOR
_R: Final = Role.RESPONDER

# The handshake (CIPA DC-X005 §2.3.1-2.3.5): the first packet names the channel.
#
#   CONNECTING --InitCommandRequest(I)--> AWAITING_COMMAND_ACK --InitCommandAck(R)--> IDLE
#              --InitEventRequest(I)--->  AWAITING_EVENT_ACK   --InitEventAck(R)--> EVENT_CHANNEL
#                                         (either)             --InitFail(R)------> CLOSED
HANDSHAKE_TRANSITIONS: Final[Mapping[TransitionKey, AnyPhase]] = MappingProxyType(
    {
        (Phase.CONNECTING, _I, InitCommandRequest): PtpIpPhase.AWAITING_COMMAND_ACK,
        (PtpIpPhase.AWAITING_COMMAND_ACK, _R, InitCommandAck): Phase.IDLE,
        (PtpIpPhase.AWAITING_COMMAND_ACK, _R, InitFail): Phase.CLOSED,
        (Phase.CONNECTING, _I, InitEventRequest): PtpIpPhase.AWAITING_EVENT_ACK,
        (PtpIpPhase.AWAITING_EVENT_ACK, _R, InitEventAck): Phase.EVENT_CHANNEL,
        (PtpIpPhase.AWAITING_EVENT_ACK, _R, InitFail): Phase.CLOSED,
    }
)
#: Probes may come from either end on any open connection (CIPA DC-X005 §2.3.11).
PROBES: Final[Mapping[type, tuple[Role, ...]]] = MappingProxyType(
    {ProbeRequest: (_I, _R), ProbeResponse: (_I, _R)}
)


def probe_response_for(event: object) -> ProbeResponse | None:
    """The answer a ProbeRequest needs (callers send it right away)."""
    return ProbeResponse() if isinstance(event, ProbeRequest) else None


class PtpIpFraming:
    """Encode events as PTP/IP packets; decode a TCP stream into events.

    Data and EndData payloads are streamed as :class:`Data` events as bytes arrive, so a packet of
    any size costs no memory; EndData is followed by :class:`DataEnd`.
    """

    name: Final = "ptpip"
    #: A PTP/IP connection starts with InitCommandRequest or InitEventRequest.
    handshake: Final = True
    transitions: Final = HANDSHAKE_TRANSITIONS
    anytime: Final = PROBES

    def __init__(
        self,
        *,
        initial_phase: AnyPhase = Phase.CONNECTING,
        connection_number: int | None = None,
    ) -> None:
        """``initial_phase``: CONNECTING for a new TCP connection; IDLE (or EVENT_CHANNEL) for
        one whose handshake already ran elsewhere: the client's transport runs it in ``open()``
        on a connection of its own, and the engine's connection then starts here, after it."""
        #: Where a connection over this framing starts (see :class:`~ptpkit.core.framing.
        #: Framing`): per instance, so a channel can start past a handshake done elsewhere.
        self.initial_phase = initial_phase
        #: The connection number from InitCommandAck (the event channel must quote it), as
        #: either end saw it go by; None before the handshake.
        self.connection_number = connection_number
        self._inbox = Inbox()
        self._payload_left = 0
        self._payload_type = 0
        self._payload_tid = 0
        self._end_pending = False
        #: After StartData(0): the transaction whose optional empty EndData is still to skip.
        self._skip_empty_end: int | None = None

    # -- encoding --------------------------------------------------------------------------------

    def encode(self, event: object, *, final: bool = False) -> list[BytesLike]:
        """Bytes for an event. A ``Data`` chunk becomes a Data packet, or EndData when ``final``;
        its payload is passed through without a copy."""
        if isinstance(event, Data):
            size = len(event.chunk)
            if size > 0xFFFFFFFF - _DATA_HEADER.size:
                raise LocalProtocolError(f"a data chunk of {size} bytes does not fit one packet")
            ptype = PacketType.END_DATA if final else PacketType.DATA
            header = _pack_data_header(_DATA_HEADER.size + size, ptype, event.transaction_id)
            return [header, event.chunk] if size else [header]
        if type(event) in _FAST_ENCODED:
            fast = _fast_encode(event)  # type: ignore[arg-type]
            if fast is not None:
                return [fast]
        packet: Packet
        if isinstance(event, Request):
            packet = OperationRequest(
                data_phase=event.data_phase,
                code=event.code,
                transaction_id=event.transaction_id,
                params=event.params,
            )
        elif isinstance(event, Response):
            packet = OperationResponse(
                code=event.code, transaction_id=event.transaction_id, params=event.params
            )
        elif isinstance(event, Event):
            packet = EventPacket(
                code=event.code, transaction_id=event.transaction_id, params=event.params
            )
        elif isinstance(event, DataStart):
            total = LENGTH_UNKNOWN_64 if event.total_bytes is None else event.total_bytes
            packet = StartData(transaction_id=event.transaction_id, total_length=total)
        elif isinstance(event, Cancel):
            packet = CancelPacket(transaction_id=event.transaction_id)
        elif isinstance(event, _LINK_PACKETS):
            packet = event
        else:
            raise LocalProtocolError(f"{type(event).__name__} cannot be sent over PTP/IP")
        return [push_packet(packet)]

    def encode_empty_end(self, transaction_id: int) -> list[BytesLike]:
        """A zero-length data phase: StartData is followed by an empty EndData."""
        return [_pack_data_header(_DATA_HEADER.size, PacketType.END_DATA, transaction_id)]

    # -- decoding --------------------------------------------------------------------------------

    def receive_data(self, data: BytesLike, *, transfer_ended: bool = False) -> None:
        self._inbox.feed(data)

    def next_event(self) -> IncomingPtpIp | _NeedData:
        inbox = self._inbox
        # A loop, not recursion: a stream of empty Data packets must not exhaust the stack.
        while True:
            if self._payload_left:
                if not len(inbox):
                    inbox.stash()
                    return NEED_DATA
                chunk = inbox.take_upto(self._payload_left)
                self._payload_left -= len(chunk)
                return Data(transaction_id=self._payload_tid, chunk=chunk)
            if self._end_pending:
                self._end_pending = False
                return DataEnd(transaction_id=self._payload_tid)
            available = len(inbox)
            if available < HEADER_SIZE:
                inbox.stash()
                return NEED_DATA
            length, ptype = HEADER.unpack_from(*inbox.head(HEADER_SIZE))
            if length < HEADER_SIZE:
                raise DecodeError(f"packet length {length} is shorter than the 8-byte header")
            if ptype not in (_DATA_TYPE, _END_DATA_TYPE):
                break
            if length < _DATA_HEADER.size:
                raise DecodeError(f"data packet length {length} is shorter than its 12-byte header")
            if available < _DATA_HEADER.size:
                inbox.stash()
                return NEED_DATA
            buffer, start = inbox.head(_DATA_HEADER.size)
            _, _, tid = _DATA_HEADER.unpack_from(buffer, start)
            inbox.skip(_DATA_HEADER.size)
            skip, self._skip_empty_end = self._skip_empty_end, None
            if skip == tid and ptype == _END_DATA_TYPE and length == _DATA_HEADER.size:
                continue  # the empty EndData closing a zero-length phase that already ended
            self._payload_left = length - _DATA_HEADER.size
            self._payload_tid = tid
            self._end_pending = ptype == _END_DATA_TYPE
        if length > MAX_CONTROL_PACKET:
            raise DecodeError(
                f"{_packet_what(ptype)} of {length} bytes exceeds the {MAX_CONTROL_PACKET}-byte "
                "limit for non-data packets"
            )
        if available < length:
            inbox.stash()
            return NEED_DATA
        self._skip_empty_end = None
        buffer, start = inbox.head(length)
        event = _fast_event(ptype, length, buffer, start)
        if event is None:
            event = _as_event(pull_packet(inbox.take_exact(length)))
        else:
            inbox.skip(length)
        if isinstance(event, DataStart) and event.total_bytes == 0:
            # libgphoto2 sends a zero-length data phase as StartData alone, without EndData
            # (ptpip.c's send loop never runs); CIPA senders add an empty EndData. End the phase
            # here and skip that EndData if it comes.
            self._end_pending = True
            self._payload_tid = event.transaction_id
            self._skip_empty_end = event.transaction_id
        return event

    def link_event(self, sender: Role, event: LinkEvent) -> None:
        if isinstance(event, (InitCommandAck, InitEventRequest)):
            self.connection_number = event.connection_number

    def reset(self) -> None:
        self._inbox.clear()
        self._payload_left = 0
        self._end_pending = False
        self._skip_empty_end = None
