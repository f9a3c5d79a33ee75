"""Fujifilm's PTP/IP variant ("PTP/IP-USB"): one PTP/IP-shaped handshake, then USB containers.

Fujifilm X cameras over Wi-Fi do not speak CIPA DC-X005. Only the first packet on the command
connection looks like PTP/IP; "the rest speaks a protocol very like to the USB Bulk protocol"
(libgphoto2 ``camlibs/ptp2/fujiptpip.c``, header comment). Three TCP connections: commands on
55740, events on 55741 and a live-view stream on 55742; the last two are listened on only after
InitiateOpenCapture (same source; malc0mn/ptp-ip ``ip/packets_fuji.go``). There is no
InitEventRequest: the event connection carries containers from its first byte (ptp-ip
``NewFujiInitEventRequestPacket`` returns nil; libgphoto2 only connects).

Packet layouts, little endian (offsets in bytes)::

    InitCommandRequest (initiator, first packet), exactly 82 bytes
      0  u32 length = 82          libgphoto2 fujiptpip.c: "Fuji X-Acquire always sends packets
      4  u32 type = 1             of fixed length 82. At least the X-T4 just closes the socket
      8  u32 0x8F53E4F2           when sending packets of other lengths" (libgphoto2 2.5.30,
     12  GUID[16]                 as Debian ships it, sends exactly this); the "protocol
     28  name, UTF-16LE, NUL      version" comes first, before the GUID (ptp-ip PV_Fuji;
         terminated, zero padded  libgphoto2 fujiptpip_initcmd_* offsets)

    InitCommandAck (responder), 68 (0x44) bytes
      0  u32 length = 0x44        petabyt/vcam src/fuji.c fuji_get_ack_packet (a responder
      4  u32 type = 2             that Fujifilm's own app accepts): FUJI_ACK_PACKET_SIZE 0x44,
      8  u32 connection number    this field 0; libgphoto2 reads it as "eventpipeid" and never
     12  GUID[16]                 uses it, then the GUID at 12 and the name at 28 up to its NUL
     28  name, UTF-16LE, NUL terminated, zero padded

    InitFail (responder), 12 bytes: u32 length = 12 | u32 type = 5 | u32 reason
      0x2019: the camera has another computer's name stored, or gave up waiting ("change" or
      "retry" on the camera); 0x201D: wrong protocol version (ptp-ip FR_Fuji_DeviceBusy,
      FR_Fuji_InvalidParameter). libgphoto2 maps any InitFail to AccessDenied.

    Everything after the handshake, on the command and the event connection:
      u32 length | u16 type (1 command, 2 data, 3 response, 4 event) | u16 code | u32 tid | ...
      commands, responses and events carry 0-5 uint32 parameters; a data container carries the
      operation's code and the whole data phase (libgphoto2 ptp_fujiptpip_senddata: one header
      with the total length, then the raw bytes; ptp_fujiptpip_getdata: one container).

    The live-view stream (55742): u32 length (itself included) | 14-byte header | JPEG
      (libgphoto2 ptp_fujiptpip_jpeg: "a 14 byte blob in front of the FF D8 start"; ptp-ip
      FujiProcessStreamData: the JPEG from offset 18 of the packet, a frame counter at 8).

A link packet and a container are told apart by their bytes: a link packet's u32 type has a zero
high half, which as a container would be code 0, a code no operation, response or event has.
So :class:`FujiPtpIpFraming` refuses to send a container with code 0.

libgphoto2 2.5.30 sends InitCommandRequest a second time after the first InitCommandAck (its
``connect_tries`` loop runs twice when the first try succeeds; seen on the wire against ptpkit's
virtual camera). A camera answers it again, so the table lets the initiator repeat the request
until its first command; after that it is a protocol error.

The variant has no Cancel: none of the sources sends or describes one. A cancelled transaction
sends nothing and is drained to its response (see :meth:`FujiPtpIpFraming.encode`).
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
    DataStart,
    Event,
    Request,
    Response,
    _NeedData,
)
from ptpkit.core.framing import LinkEvent
from ptpkit.core.inbox import Inbox
from ptpkit.core.state import AnyPhase, Phase, Role, TransitionKey
from ptpkit.core.usb import HEADER, HEADER_SIZE, ContainerType, encode_params
from ptpkit.errors import DecodeError, LocalProtocolError, RemoteProtocolError

#: The camera's ports (libgphoto2 fujiptpip.c; ptp-ip's Fuji config files).
COMMAND_PORT: Final = 55740
EVENT_PORT: Final = 55741
STREAM_PORT: Final = 55742

#: The "protocol version" word of InitCommandRequest (ptp-ip PV_Fuji; libgphoto2 "magic").
PROTOCOL_VERSION: Final = 0x8F53E4F2
#: The most payload bytes one Data event carries (the data phase is one container: a read of the
#: whole receive buffer would otherwise be one event, and a download's progress one call).
DATA_EVENT_BYTES: Final = 256 * 1024
#: The fixed sizes of the handshake packets (see the module docstring for their sources).
INIT_REQUEST_BYTES: Final = 82
INIT_ACK_BYTES: Final = 0x44
INIT_FAIL_BYTES: Final = 12
#: Where the name starts in InitCommandRequest and InitCommandAck.
NAME_OFFSET: Final = 28
#: The longest names that fit their fixed packets with a NUL: 26 and 19 UTF-16 units.
MAX_REQUEST_NAME_UNITS: Final = (INIT_REQUEST_BYTES - NAME_OFFSET) // 2 - 1
MAX_ACK_NAME_UNITS: Final = (INIT_ACK_BYTES - NAME_OFFSET) // 2 - 1
#: Handshake packets received may be longer than ours (older libgphoto2 and the Go tool send
#: the name's length, not 82), but never more than this: refused before it is buffered.
MAX_LINK_PACKET: Final = 1024
#: A container without data: the header and at most five parameters.
MAX_CONTAINER: Final = HEADER_SIZE + 4 * MAX_PARAMS
#: Largest data phase one container can announce (its length field is 32 bits).
MAX_DATA_PAYLOAD: Final = 0xFFFFFFFF - HEADER_SIZE
#: A live-view frame larger than this is refused (frames are a few hundred KiB).
MAX_STREAM_FRAME: Final = 16 << 20
#: The header in front of each live-view JPEG.
STREAM_HEADER_BYTES: Final = 14

_GUID_BYTES: Final = 16


class LinkType(enum.IntEnum):
    """The u32 type of the handshake packets (PTP/IP's numbers, CIPA DC-X005)."""

    INIT_COMMAND_REQUEST = 1
    INIT_COMMAND_ACK = 2
    INIT_FAIL = 5


_LINK_TYPES: Final = frozenset(LinkType)


class InitFailReason(enum.IntEnum):
    """Reasons in a Fujifilm InitFail (ptp-ip ``ip/packets_fuji.go``)."""

    #: The camera stores another computer's name, or timed out waiting for one.
    DEVICE_BUSY = 0x2019
    #: InitCommandRequest had the wrong protocol version.
    INVALID_PARAMETER = 0x201D


class Channel(enum.Enum):
    """Which of the camera's connections a framing decodes."""

    COMMAND = "command"
    EVENT = "event"


# -- link packets ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class InitCommandRequest(LinkEvent):
    guid: bytes
    friendly_name: str
    #: Anything but :data:`PROTOCOL_VERSION` is refused by the camera (InitFail 0x201D).
    protocol_version: int = PROTOCOL_VERSION


@dataclass(frozen=True, kw_only=True, slots=True)
class InitCommandAck(LinkEvent):
    guid: bytes
    friendly_name: str
    connection_number: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class InitFail(LinkEvent):
    reason: int


LinkPacket = InitCommandRequest | InitCommandAck | InitFail


def fit_name(name: str, units: int) -> str:
    """``name`` cut to at most ``units`` UTF-16 code units, never inside a surrogate pair, and
    to its first NUL (the field ends there): what a fixed-size name field can carry."""
    name = name.split("\x00", 1)[0]
    encoded = name.encode("utf-16-le", errors="surrogatepass")[: 2 * units]
    if len(encoded) >= 2 and 0xD800 <= int.from_bytes(encoded[-2:], "little") <= 0xDBFF:
        encoded = encoded[:-2]  # a high surrogate whose partner did not fit
    return encoded.decode("utf-16-le", errors="surrogatepass")


def _push_name(writer: Writer, name: str, field_bytes: int) -> None:
    if "\x00" in name:
        raise LocalProtocolError(f"a Fujifilm PTP/IP name cannot contain NUL: {name!r}")
    encoded = name.encode("utf-16-le", errors="surrogatepass")
    if len(encoded) + 2 > field_bytes:
        raise LocalProtocolError(
            f"the name {name!r} is {len(encoded) // 2} UTF-16 units; its {field_bytes}-byte "
            f"field holds {field_bytes // 2 - 1} and the NUL (fit_name() shortens it)"
        )
    writer.raw(encoded.ljust(field_bytes, b"\x00"))


def _pull_name(reader: Reader) -> str:
    """The name field to the end of the packet: UTF-16LE up to its NUL; what follows the NUL is
    padding. A field that fills the packet without a NUL is taken whole (a fixed field may)."""
    field = reader.rest()
    if len(field) % 2:
        raise DecodeError(
            f"the name field is {len(field)} bytes, not whole UTF-16 units",
            offset=NAME_OFFSET,
            what=reader.what,
        )
    end = len(field)
    for index in range(0, len(field), 2):
        if field[index : index + 2] == b"\x00\x00":
            end = index
            break
    return field[:end].decode("utf-16-le", errors="replace")


def _check_guid(guid: bytes) -> None:
    if len(guid) != _GUID_BYTES:
        raise LocalProtocolError(f"a PTP/IP GUID is 16 bytes, got {len(guid)}")


def push_link_packet(packet: LinkPacket) -> bytes:
    """The bytes of a handshake packet, at its fixed size (82, 68 or 12 bytes). A field out of
    its range is a LocalProtocolError (the Writer's)."""
    writer = Writer()
    if isinstance(packet, InitCommandRequest):
        _check_guid(packet.guid)
        writer.uint32(INIT_REQUEST_BYTES)
        writer.uint32(LinkType.INIT_COMMAND_REQUEST)
        writer.uint32(packet.protocol_version)
        writer.raw(packet.guid)
        _push_name(writer, packet.friendly_name, INIT_REQUEST_BYTES - NAME_OFFSET)
    elif isinstance(packet, InitCommandAck):
        _check_guid(packet.guid)
        writer.uint32(INIT_ACK_BYTES)
        writer.uint32(LinkType.INIT_COMMAND_ACK)
        writer.uint32(packet.connection_number)
        writer.raw(packet.guid)
        _push_name(writer, packet.friendly_name, INIT_ACK_BYTES - NAME_OFFSET)
    elif isinstance(packet, InitFail):
        writer.uint32(INIT_FAIL_BYTES)
        writer.uint32(LinkType.INIT_FAIL)
        writer.uint32(packet.reason)
    else:
        raise LocalProtocolError(f"not a Fujifilm PTP/IP handshake packet: {packet!r}")
    return writer.getvalue()


def _link_length_ok(ltype: int, length: int) -> bool:
    if ltype == LinkType.INIT_FAIL:
        return length == INIT_FAIL_BYTES
    # Version (request) or connection number (ack), and the GUID; a missing name reads as "".
    return NAME_OFFSET <= length <= MAX_LINK_PACKET


def pull_link_packet(data: BytesLike) -> LinkPacket:
    """One whole handshake packet. Its length field must match the bytes given. Longer packets
    than ours are read (the name runs to the end of the packet, padding after its NUL)."""
    reader = Reader(data, what="Fujifilm PTP/IP handshake packet")
    length = reader.uint32()
    ltype = reader.uint32()
    if length != len(data):
        raise DecodeError(f"length field says {length}, packet has {len(data)} bytes", offset=0)
    if ltype not in _LINK_TYPES:
        raise DecodeError(f"type {ltype} is not a Fujifilm handshake packet", offset=4)
    if not _link_length_ok(ltype, length):
        raise DecodeError(f"a {LinkType(ltype).name} packet cannot be {length} bytes", offset=0)
    if ltype == LinkType.INIT_FAIL:
        return InitFail(reason=reader.uint32())
    first = reader.uint32()
    guid = reader.raw(_GUID_BYTES)
    name = _pull_name(reader)
    if ltype == LinkType.INIT_COMMAND_REQUEST:
        return InitCommandRequest(guid=guid, friendly_name=name, protocol_version=first)
    return InitCommandAck(guid=guid, friendly_name=name, connection_number=first)


# -- the framing ----------------------------------------------------------------------------------


class FujiPhase(enum.Enum):
    """The handshake's own phase, between CONNECTING and IDLE."""

    AWAITING_ACK = "awaiting the Fujifilm InitCommandAck"


_I: Final = Role.INITIATOR
_R: Final = Role.RESPONDER

#: The handshake, on the command connection only (the event connection starts in EVENT_CHANNEL)::
#:
#:   CONNECTING --InitCommandRequest(I)--> AWAITING_ACK --InitCommandAck(R)--> IDLE
#:                                                      --InitFail(R)--------> CLOSED
#:   IDLE --InitCommandRequest(I)--> AWAITING_ACK   (libgphoto2 2.5.30 repeats the request; the
#:                                                   framing refuses it after the first command)
HANDSHAKE_TRANSITIONS: Final[Mapping[TransitionKey, AnyPhase]] = MappingProxyType(
    {
        (Phase.CONNECTING, _I, InitCommandRequest): FujiPhase.AWAITING_ACK,
        (FujiPhase.AWAITING_ACK, _R, InitCommandAck): Phase.IDLE,
        (FujiPhase.AWAITING_ACK, _R, InitFail): Phase.CLOSED,
        (Phase.IDLE, _I, InitCommandRequest): FujiPhase.AWAITING_ACK,
    }
)
_NO_ANYTIME: Final[Mapping[type, tuple[Role, ...]]] = MappingProxyType({})

_CONTAINER_TYPES: Final = {
    Request: ContainerType.COMMAND,
    Response: ContainerType.RESPONSE,
    Event: ContainerType.EVENT,
}

IncomingFuji = Request | DataStart | Data | DataEnd | Response | Event | LinkPacket


class FujiPtpIpFraming:
    """Encode events as Fujifilm packets; decode a TCP stream of them into events.

    ``channel``: the command connection starts with the handshake (CONNECTING), the event
    connection carries events at once (EVENT_CHANNEL). A data phase is one container whose
    payload streams as :class:`Data` events as bytes arrive.
    """

    name: Final = "fujiptpip"
    handshake: Final = True
    transitions: Final = HANDSHAKE_TRANSITIONS
    anytime: Final = _NO_ANYTIME

    def __init__(
        self, channel: Channel = Channel.COMMAND, *, initial_phase: AnyPhase | None = None
    ) -> None:
        """``initial_phase``: where a connection over this framing starts, when not where its
        channel starts (CONNECTING or EVENT_CHANNEL): IDLE for a command connection whose
        handshake ran on another connection (the client transport runs it in ``open()``)."""
        self.channel = channel
        self._initial_phase = initial_phase
        #: From InitCommandAck, as either end saw it go by (0 on the cameras we know of).
        self.connection_number: int | None = None
        #: A container has gone by: InitCommandRequest may no longer be repeated.
        self._commands_begun = False
        self._inbox = Inbox()
        self._in_data = False
        self._data_left = 0
        self._data_tid = 0

    @property
    def initial_phase(self) -> AnyPhase:
        if self._initial_phase is not None:
            return self._initial_phase
        return Phase.CONNECTING if self.channel is Channel.COMMAND else Phase.EVENT_CHANNEL

    # -- encoding --------------------------------------------------------------------------------

    def encode(self, event: object, *, final: bool = False) -> list[BytesLike]:
        """Bytes for an event. ``Data`` chunks pass through untouched (no copy).

        ``Cancel`` is no bytes at all: the variant has no cancel (module docstring), so the
        transaction runs on and the canceller drains it to its response.
        """
        if isinstance(event, Data):
            return [event.chunk]
        if isinstance(event, (Request, Response, Event)):
            self._check_code(event.code)
            params = encode_params(event.params)
            header = self._header(
                HEADER_SIZE + len(params), _CONTAINER_TYPES[type(event)], event.code, event
            )
            self._commands_begun = True
            return [header + params]
        if isinstance(event, DataStart):
            total = event.total_bytes
            if total is None or total < 0:
                raise LocalProtocolError("a data phase must be sent with its total size")
            if total > MAX_DATA_PAYLOAD:
                raise LocalProtocolError(
                    f"a data phase of {total} bytes does not fit the variant's 32-bit length"
                )
            self._check_code(event.code)
            return [self._header(HEADER_SIZE + total, ContainerType.DATA, event.code, event)]
        if isinstance(event, Cancel):
            return []
        if isinstance(event, InitCommandRequest) and self._commands_begun:
            raise LocalProtocolError("InitCommandRequest after the first command")
        if isinstance(event, (InitCommandRequest, InitCommandAck, InitFail)):
            return [push_link_packet(event)]
        raise LocalProtocolError(f"{type(event).__name__} cannot be sent over Fujifilm PTP/IP")

    @staticmethod
    def _check_code(code: int) -> None:
        if code == 0:
            # On the wire a container with code 0 reads as a handshake packet.
            raise LocalProtocolError("code 0 is not a PTP code (it would read as a handshake)")

    @staticmethod
    def _header(length: int, ctype: int, code: int, event: object) -> bytes:
        tid = getattr(event, "transaction_id", 0)
        try:
            return HEADER.pack(length, ctype, code, tid)
        except struct.error as exc:
            raise LocalProtocolError(f"a field does not fit its PTP type: {event!r}") from exc

    def encode_empty_end(self, transaction_id: int) -> list[BytesLike]:
        """A zero-length data phase is its container header alone."""
        return []

    # -- decoding --------------------------------------------------------------------------------

    def receive_data(self, data: BytesLike, *, transfer_ended: bool = False) -> None:
        self._inbox.feed(data)

    def next_event(self) -> IncomingFuji | _NeedData:
        inbox = self._inbox
        if self._in_data:
            if self._data_left == 0:
                self._in_data = False
                return DataEnd(transaction_id=self._data_tid)
            if not len(inbox):
                inbox.stash()
                return NEED_DATA
            # At most DATA_EVENT_BYTES per event: one read may bring megabytes (a fast link),
            # and a download's progress comes by event, as the other framings give it.
            chunk = inbox.take_upto(min(self._data_left, DATA_EVENT_BYTES))
            self._data_left -= len(chunk)
            return Data(transaction_id=self._data_tid, chunk=chunk)
        if len(inbox) < 8:
            inbox.stash()
            return NEED_DATA
        length, ctype, code = struct.unpack("<IHH", inbox.peek(8))
        if code == 0:
            return self._link_packet(length, ctype)
        if ctype == ContainerType.DATA:
            if length < HEADER_SIZE:
                raise DecodeError(f"data container length {length} is shorter than its header")
            if len(inbox) < HEADER_SIZE:
                inbox.stash()
                return NEED_DATA
            _, _, _, tid = HEADER.unpack(inbox.take_exact(HEADER_SIZE))
            self._commands_begun = True
            self._in_data = True
            self._data_left = length - HEADER_SIZE
            self._data_tid = tid
            return DataStart(transaction_id=tid, total_bytes=self._data_left, code=code)
        if ctype not in (ContainerType.COMMAND, ContainerType.RESPONSE, ContainerType.EVENT):
            raise DecodeError(f"unknown container type {ctype} (length {length})")
        if length < HEADER_SIZE or length > MAX_CONTAINER or length % 4:
            raise DecodeError(
                f"{ContainerType(ctype).name.lower()} container length {length} is not "
                f"a header plus 0 to {MAX_PARAMS} parameters"
            )
        if len(inbox) < length:
            inbox.stash()
            return NEED_DATA
        raw = inbox.take_exact(length)
        _, _, _, tid = HEADER.unpack_from(raw)
        params = struct.unpack_from(f"<{(length - HEADER_SIZE) // 4}I", raw, HEADER_SIZE)
        self._commands_begun = True
        if ctype == ContainerType.RESPONSE:
            return Response(code=code, transaction_id=tid, params=params)
        if ctype == ContainerType.EVENT:
            return Event(code=code, transaction_id=tid, params=params)
        return Request(code=code, transaction_id=tid, params=params)

    def _link_packet(self, length: int, ltype: int) -> LinkPacket | _NeedData:
        if ltype not in _LINK_TYPES:
            raise DecodeError(f"a container with code 0 (type {ltype}, length {length})")
        if not _link_length_ok(ltype, length):
            raise DecodeError(f"a {LinkType(ltype).name} packet cannot be {length} bytes")
        if ltype == LinkType.INIT_COMMAND_REQUEST and self._commands_begun:
            raise RemoteProtocolError("InitCommandRequest again after the first command")
        inbox = self._inbox
        if len(inbox) < length:
            inbox.stash()
            return NEED_DATA
        return pull_link_packet(inbox.take_exact(length))

    def link_event(self, sender: Role, event: LinkEvent) -> None:
        if isinstance(event, InitCommandAck):
            self.connection_number = event.connection_number

    def reset(self) -> None:
        """Forget partial input (a cancelled transfer)."""
        self._inbox.clear()
        self._in_data = False
        self._data_left = 0


# -- the live-view stream -------------------------------------------------------------------------


class StreamDecoder:
    """The live-view connection's frames: ``u32 length (itself included) | blob``, as bytes
    arrive. Each blob is a 14-byte header and a JPEG (:func:`split_frame`)."""

    def __init__(self, max_frame_bytes: int = MAX_STREAM_FRAME) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._inbox = Inbox()

    def receive_data(self, data: BytesLike) -> None:
        self._inbox.feed(data)

    def next_frame(self) -> bytes | _NeedData:
        """The next whole blob (without its length field), or NEED_DATA."""
        inbox = self._inbox
        if len(inbox) < 4:
            inbox.stash()
            return NEED_DATA
        (length,) = struct.unpack("<I", inbox.peek(4))
        if length < 4 or length - 4 > self.max_frame_bytes:
            raise DecodeError(
                f"live-view frame length {length} is not 4 to {self.max_frame_bytes + 4} bytes"
            )
        if len(inbox) < length:
            inbox.stash()
            return NEED_DATA
        return inbox.take_exact(length)[4:]


def encode_stream_frame(jpeg: bytes, counter: int) -> bytes:
    """A live-view frame as a camera sends it: length, header (4 zero bytes, the frame counter
    wrapping at 0xFF, 9 bytes of unknown meaning, sent as zeros), JPEG (ptp-ip
    FujiProcessStreamData; vendors.md 4.1)."""
    header = bytes(4) + bytes([counter & 0xFF]) + bytes(STREAM_HEADER_BYTES - 5)
    return struct.pack("<I", 4 + len(header) + len(jpeg)) + header + jpeg


def split_frame(blob: bytes) -> tuple[bytes, bytes]:
    """(header, JPEG) of a live-view blob. The JPEG starts at 14 on the cameras described;
    libgphoto2 searches for FF D8 instead, and so does this when it is not there."""
    start = STREAM_HEADER_BYTES
    if blob[start : start + 2] != b"\xff\xd8":
        found = blob.find(b"\xff\xd8")
        if found < 0:
            raise DecodeError("a live-view frame without a JPEG (no FF D8)")
        start = found
    return blob[:start], blob[start:]
