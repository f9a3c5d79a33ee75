"""Canon's pre-PTP USB protocol (PowerShot G1-G6, S/A series, early EOS), sans-IO.

Facts from vendors.md section 5 (libgphoto2 ``camlibs/canon``: ``usb.c``, ``canon.h``,
``canon.c``, ``doc/Protocol.xml``), checked against libgphoto2's usb.c and canon.c (the
functions are named where a fact is used); ``lgc`` below = libgphoto2 ``camlibs/canon/``.

- **Command block** (:class:`Command`): a 0x50-byte header and a payload, sent by the host as one
  vendor control write with wValue 0x10 (lgc usb.c:1440-1460 canon_usb_dialogue_full). Encoded
  by the initiator, decoded by the responder (the virtual PowerShot): one layout, two roles.
- **Fixed replies** (:class:`Reply`, cmd3 0x201): the same 0x50-byte header, cmd3 and cmd2
  answered with +0x100 / +0x10, a u32 status at 0x50, command-specific data after it; the
  length is the command table's (:data:`COMMANDS`, lgc usb.c:88-142) or what the camera reports
  (:func:`reported_reply_bytes`). Identify, time, disk info, power status, owner decoded.
- **Variable replies** (cmd3 0x202): a 0x40-byte header whose u32 at 6 is the number of data
  bytes that follow (lgc usb.c canon_usb_long_dialogue), no status.
- **Directory entries** (:func:`iter_dirents` over a whole listing, :class:`DirentStream` fed
  as the bulk reads arrive): packed ``u16 attrs, u32 size, u32 time, name NUL`` records ended
  by an all-zero entry (lgc canon.h CANON_DIRENT_*), decoded one at a time.
- **RemoteControl** payloads and subcommand lengths (lgc usb.c canon_usb_control_cmd, canon.c
  canon_int_pack_control_subcmd).
- **Interrupt messages** (:class:`InterruptMessage`): remote capture's notifications, type at
  byte 4 (lgc usb.c canon_usb_capture_dialogue).
- **Wake-up** constants and the 0x58-byte init packet (lgc usb.c:195-425
  canon_usb_camera_init).

Strict on every length: a header's two length fields must agree with the bytes given, a fixed
reply must be as long as the table says when the caller gives that length. Lenient where the
source shows devices are sloppy: a fixed reply whose first length word is 0 (libgphoto2 then
takes the one at 0x48), an IdentifyCamera answer longer than expected, an image-ready interrupt
message of another length than 0x17 (libgphoto2 logs both and reads on).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from ptpkit.core.buffer import BytesLike, Reader
from ptpkit.core.exif import exif_thumbnail
from ptpkit.errors import DecodeError, LocalProtocolError

__all__ = [
    "ACTIVE_READ_BYTES",
    "ATTR_DIR_ENTERED",
    "ATTR_DIR_NOT_ENTERED",
    "ATTR_NOT_DOWNLOADED",
    "ATTR_WRITE_PROTECTED",
    "BULK_READ_BYTES",
    "CAMSTAT_BYTES",
    "CAPTURE_DONE",
    "CAPTURE_FAILED",
    "CAPTURE_FIRST",
    "COMMANDS",
    "CONTROL",
    "DIRENT_TERMINATOR",
    "FIXED",
    "HEADER_BYTES",
    "IMAGE_READY_BYTES",
    "INIT_BULK_BYTES",
    "INIT_BULK_TX",
    "INIT_PACKET_BYTES",
    "INIT_WRITE_BYTES",
    "INTERRUPT_BYTES",
    "MAX_NAME_BYTES",
    "MIN_DIRENT_BYTES",
    "POWER_BATTERY_BIT",
    "POWER_OK",
    "REMOTE_SUBS",
    "REQUEST_TYPE_READ",
    "REQUEST_TYPE_WRITE",
    "STATUS_NAMES",
    "STATUS_OK",
    "STORAGE",
    "TRANSFER_FULL_TO_CARD",
    "TRANSFER_FULL_TO_PC",
    "TRANSFER_THUMB_TO_CARD",
    "TRANSFER_THUMB_TO_PC",
    "VALUE_ACTIVE_READ",
    "VALUE_CAMSTAT",
    "VALUE_COMMAND",
    "VALUE_INIT_READ",
    "VALUE_INIT_WRITE",
    "VARIABLE",
    "VARIABLE_HEADER_BYTES",
    "VENDOR_ID",
    "CamStat",
    "Command",
    "CommandSpec",
    "Dirent",
    "DirentStream",
    "DiskInfo",
    "Identity",
    "InitPacket",
    "InterruptMessage",
    "InterruptType",
    "PowerStatus",
    "RemoteSub",
    "Reply",
    "control_request",
    "decode_body_id",
    "decode_camstat",
    "decode_command",
    "decode_dirents",
    "decode_disk_info",
    "decode_identity",
    "decode_init_packet",
    "decode_interrupt",
    "decode_owner",
    "decode_power_status",
    "decode_remote_payload",
    "decode_reply",
    "decode_time",
    "decode_variable_header",
    "encode_body_id",
    "encode_command",
    "encode_dirent",
    "encode_dirents",
    "encode_disk_info",
    "encode_identity",
    "encode_init_packet",
    "encode_interrupt",
    "encode_owner",
    "encode_power_status",
    "encode_remote_payload",
    "encode_reply",
    "encode_time",
    "encode_variable_header",
    "extract_jpeg_thumbnail",
    "find_command",
    "image_ready",
    "init_bulk_is_tx",
    "init_bulk_more",
    "init_write_block",
    "iter_dirents",
    "long_read_bytes",
    "lookup_command",
    "remote_reply_bytes",
    "remote_sub",
    "reported_reply_bytes",
    "split_reply_read",
    "status_text",
]

_U32_MAX: Final = 0xFFFFFFFF
_U16_MAX: Final = 0xFFFF

# -- USB constants (vendors.md 5.1-5.3) ---------------------------------------------------------

#: Canon's USB vendor id (lgc canon.c:103-310 model table).
VENDOR_ID: Final = 0x04A9
#: Vendor control transfers: bmRequestType 0xC0 reads, 0x40 writes (Protocol.xml "USB Interface").
REQUEST_TYPE_READ: Final = 0xC0
REQUEST_TYPE_WRITE: Final = 0x40
#: wValue of a command block's control write (lgc usb.c:1440-1460).
VALUE_COMMAND: Final = 0x10
#: Wake-up control reads/writes, their wValue and length (lgc usb.c:195-425 canon_usb_camera_init).
VALUE_CAMSTAT: Final = 0x55
CAMSTAT_BYTES: Final = 1
VALUE_INIT_READ: Final = 0x01
INIT_PACKET_BYTES: Final = 0x58
VALUE_ACTIVE_READ: Final = 0x04
ACTIVE_READ_BYTES: Final = 0x50
VALUE_INIT_WRITE: Final = 0x11
INIT_WRITE_BYTES: Final = 0x50
#: The bulk read after the init write: 0x44 bytes, read as 0x40 then 4 on most models.
INIT_BULK_BYTES: Final = 0x44
#: Its last four bytes may be "Tx\0\0" (54 78 00 00); libgphoto2 then ignores the rest.
INIT_BULK_TX: Final = b"Tx\x00\x00"
#: libgphoto2's bulk chunk (usb.h USB_BULK_READ_SIZE), also the default transfer length.
BULK_READ_BYTES: Final = 0x1400
#: The first interrupt message after wake-up, and remote capture's notifications, are this long
#: (some models send it as 8 + 8).
INTERRUPT_BYTES: Final = 0x10


def control_request(length: int) -> int:
    """bRequest for a control transfer of ``length`` bytes: 0x04 above one byte, else 0x0C
    (Protocol.xml "USB Interface / Notes")."""
    return 0x04 if length > 1 else 0x0C


class CamStat(enum.Enum):
    """The camstat byte from control read 0x55 (lgc usb.c canon_usb_camera_init)."""

    ACTIVE = "A"  # already awake: read 0x04, then commands
    WOKEN = "C"  # just woken up: the 0x11 write and the bulk/interrupt reads follow
    ERROR_I = "I"
    ERROR_E = "E"


def decode_camstat(data: BytesLike) -> CamStat:
    reader = Reader(data, what="Canon camstat (control read 0x55)")
    if len(data) != CAMSTAT_BYTES:
        raise reader.fail(f"camstat is one byte, not {len(data)}")
    value = chr(reader.uint8())
    try:
        return CamStat(value)
    except ValueError:
        raise DecodeError(
            f"unknown camstat {value!r}", offset=0, what="Canon camstat (control read 0x55)"
        ) from None


@dataclass(frozen=True, kw_only=True, slots=True)
class InitPacket:
    """The 0x58 bytes of control read 0x01 (lgc usb.c:195-425; vendors.md 5.3 step 2)."""

    #: The whole packet: the init write is built from it (:func:`init_write_block`).
    raw: bytes
    #: Bytes 0x40-0x43, a protocol-ish id: 01 06 15 83 on G3/S45/A60, 01 00 05 03 on G2/D30,
    #: 00 05 07 00 on G1.
    camera_id: bytes
    #: Bytes 0x44-0x47, "often the USB VID/PID" (u16 each).
    id_vendor: int
    id_product: int
    #: u32 at 0x4C: the largest transfer the camera wants; 0xFFFFFFFF means the default 0x1400.
    xfer_length: int


def decode_init_packet(data: BytesLike) -> InitPacket:
    reader = Reader(data, what="Canon init packet (control read 0x01)")
    if len(data) != INIT_PACKET_BYTES:
        raise reader.fail(f"the init packet is {INIT_PACKET_BYTES:#x} bytes, not {len(data):#x}")
    reader.raw(0x40)
    camera_id = reader.raw(4)
    id_vendor = reader.uint16()
    id_product = reader.uint16()
    reader.raw(4)
    xfer = reader.uint32()
    return InitPacket(
        raw=bytes(data),
        camera_id=camera_id,
        id_vendor=id_vendor,
        id_product=id_product,
        xfer_length=BULK_READ_BYTES if xfer == _U32_MAX else xfer,
    )


def encode_init_packet(packet: InitPacket) -> bytes:
    """The packet's bytes (its ``raw``), refused unless they carry its fields."""
    if decode_init_packet(packet.raw) != packet:
        raise LocalProtocolError(f"the raw bytes do not carry these fields: {packet!r}")
    return packet.raw


def init_write_block(packet: InitPacket) -> bytes:
    """The 0x50 bytes of control write 0x11 after a 'C' camstat: the init packet with bytes
    0-0x3F zeroed, byte 0 = 0x10, bytes 0x48-0x57 copied to 0x40-0x4F (lgc usb.c:195-425)."""
    raw = packet.raw
    return b"\x10" + bytes(0x3F) + raw[0x48:0x58]


def init_bulk_more(first: BytesLike) -> int:
    """How many more bytes the first 0x40 of the post-init bulk read announce (u32 at 0; 4 is
    expected, libgphoto2 reads 4 whatever it says: usb.c canon_usb_camera_init)."""
    reader = Reader(first, what="Canon init bulk read")
    if len(first) != 0x40:
        raise reader.fail(f"the first init bulk read is 0x40 bytes, not {len(first):#x}")
    return reader.uint32()


def init_bulk_is_tx(data: BytesLike) -> bool:
    """Whether the 0x44-byte bulk answer to the init write ends in "Tx\\0\\0" (then libgphoto2
    ignores it; lgc usb.c canon_usb_camera_init)."""
    return len(data) == INIT_BULK_BYTES and bytes(data[-4:]) == INIT_BULK_TX


# -- the command table (lgc usb.c:88-142; vendors.md 5.6) ----------------------------------------

#: cmd2 of storage and control commands; a reply answers with cmd2 + 0x10.
STORAGE: Final = 0x11
CONTROL: Final = 0x12
#: cmd3: 0x201 a fixed-length reply, 0x202 a variable one; a reply answers with cmd3 + 0x100.
FIXED: Final = 0x201
VARIABLE: Final = 0x202


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandSpec:
    """One row of libgphoto2's command table. ``reply_bytes`` is the whole fixed reply (header
    included); None for a variable reply (cmd3 0x202) or one whose length depends on a
    subcommand (RemoteControl)."""

    name: str
    cmd1: int
    cmd2: int
    cmd3: int
    reply_bytes: int | None


def _spec(name: str, cmd1: int, cmd2: int, cmd3: int, reply: int | None) -> CommandSpec:
    return CommandSpec(name=name, cmd1=cmd1, cmd2=cmd2, cmd3=cmd3, reply_bytes=reply)


#: The command table (lgc usb.c:88-142 canon_usb_cmd). Some (cmd1, cmd2, cmd3) triples mean two
#: commands depending on the camera's protocol class (old / new, e.g. 0x0D/0x11 DeleteFile on
#: old models, DiskInfo on class 6): :func:`find_command` returns every match.
COMMANDS: Final[tuple[CommandSpec, ...]] = (
    _spec("GetFile", 0x01, STORAGE, VARIABLE, None),
    _spec("MakeDir", 0x05, STORAGE, FIXED, 0x54),
    _spec("RemoveDir", 0x06, STORAGE, FIXED, 0x54),
    _spec("SetFileAttributes2", 0x07, STORAGE, FIXED, 0x54),
    _spec("DiskInfo", 0x09, STORAGE, FIXED, 0x5C),
    _spec("FlashDeviceIdent", 0x0A, STORAGE, VARIABLE, None),
    _spec("DeleteFile2", 0x0A, STORAGE, FIXED, 0x54),
    _spec("GetDirEntries", 0x0B, STORAGE, VARIABLE, None),
    _spec("DeleteFile", 0x0D, STORAGE, FIXED, 0x54),
    _spec("DiskInfo2", 0x0D, STORAGE, FIXED, 0x5C),
    _spec("SetFileAttributes", 0x0E, STORAGE, FIXED, 0x54),
    _spec("FlashDeviceIdent2", 0x0E, STORAGE, VARIABLE, None),
    _spec("SetFileTime", 0x0F, STORAGE, FIXED, 0x54),
    _spec("IdentifyCamera", 0x01, CONTROL, FIXED, 0x9C),
    _spec("GetTime", 0x03, CONTROL, FIXED, 0x60),
    _spec("SetTime", 0x04, CONTROL, FIXED, 0x54),
    _spec("SetOwner", 0x05, CONTROL, FIXED, 0x54),
    _spec("GetOwner2", 0x05, CONTROL, FIXED, 0x74),
    _spec("SetOwner2", 0x06, CONTROL, FIXED, 0x54),
    _spec("PowerStatus", 0x0A, CONTROL, FIXED, 0x58),
    _spec("RemoteControl", 0x13, CONTROL, FIXED, None),
    _spec("PowerStatus2", 0x13, CONTROL, FIXED, 0x58),
    _spec("RetrieveCapture", 0x17, CONTROL, VARIABLE, None),
    _spec("RetrievePreview", 0x18, CONTROL, VARIABLE, None),
    _spec("Unknown1A", 0x1A, CONTROL, FIXED, 0x80),
    _spec("EOSLockKeys", 0x1B, CONTROL, FIXED, 0x54),
    _spec("EOSUnlockKeys", 0x1C, CONTROL, FIXED, 0x54),
    _spec("EOSGetBodyID", 0x1D, CONTROL, FIXED, 0x58),
    _spec("GetPicAbilities", 0x1F, CONTROL, FIXED, 0x384),
    _spec("GenericLockKeys", 0x20, CONTROL, FIXED, 0x54),
    _spec("Unknown21", 0x21, CONTROL, FIXED, 0x54),
    _spec("Unknown22", 0x22, CONTROL, FIXED, 0x54),
    _spec("GetBodyID2", 0x23, CONTROL, FIXED, 0x58),
    _spec("GetPicAbilities2", 0x24, CONTROL, FIXED, 0x474),
    _spec("RemoteControl2", 0x25, CONTROL, FIXED, None),
    _spec("RetrieveCapture2", 0x26, CONTROL, VARIABLE, None),
    _spec("LockKeys2", 0x35, CONTROL, FIXED, 0x5C),
    _spec("UnlockKeys2", 0x36, CONTROL, FIXED, 0x54),
)

_BY_NAME: Final[dict[str, CommandSpec]] = {spec.name: spec for spec in COMMANDS}


def lookup_command(name: str) -> CommandSpec:
    """A command by its name in :data:`COMMANDS`; KeyError for an unknown name."""
    return _BY_NAME[name]


def find_command(cmd1: int, cmd2: int, cmd3: int) -> tuple[CommandSpec, ...]:
    """Every table row with these codes (two for an overloaded triple, none for an unknown one);
    the caller picks by the camera's protocol class."""
    return tuple(s for s in COMMANDS if (s.cmd1, s.cmd2, s.cmd3) == (cmd1, cmd2, cmd3))


#: Reply status codes (lgc usb.c:63-76); 0 is OK.
STATUS_OK: Final = 0
STATUS_NAMES: Final[dict[int, str]] = {
    0x00000000: "OK",
    0x02000022: "file not found",
    0x02000029: "file protected",
    0x0200002A: "compact flash card full",
    0x02000081: "failed to lock EOS keys",
    0x02000082: "failed to unlock EOS keys",
    0x02000085: "could not switch to capture mode",
    0x02000086: "invalid command parameters (or path not found)",
    0x02000087: "no storage card in camera",
    0x00000086: "cannot unlock keys (new protocol)",
}


def status_text(status: int) -> str:
    return STATUS_NAMES.get(status, f"unknown status 0x{status:08X}")


# -- command block and fixed reply (lgc usb.c:1440-1460; vendors.md 5.4-5.5) ---------------------

#: The header of a command block and of a fixed reply.
HEADER_BYTES: Final = 0x50
#: The length words count from 0x40: the 0x10 bytes of the header's second part + the payload.
_LENGTH_BASE: Final = 0x40
_HEAD: Final = struct.Struct("<II")  # u32 length@0, u32 cmd3@4
_TAIL: Final = struct.Struct("<IBBBBII")  # 0x40: u32 2, cmd1, 0, flags, cmd2, u32 len, u32 serial
_MAGIC_0x40: Final = 2


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    """A command block: what the host sends with control write wValue 0x10."""

    cmd1: int
    cmd2: int
    cmd3: int
    #: u32 at 0x4C, echoed in the reply (libgphoto2 counts it up per command).
    serial: int = 0
    #: Byte 0x46: 0 on old classes; class 6 puts 0x10 for cmd3 0x201, 0x20 for 0x202.
    flags: int = 0
    payload: bytes = b""


def _check_u8(value: int, what: str) -> None:
    if not 0 <= value <= 0xFF:
        raise LocalProtocolError(f"{what} is a byte, not {value}")


def _check_u32(value: int, what: str) -> None:
    if not 0 <= value <= _U32_MAX:
        raise LocalProtocolError(f"{what} is a u32, not {value}")


def _push_header(*, length: int, cmd3: int, cmd1: int, flags: int, cmd2: int, serial: int) -> bytes:
    for value, what in ((cmd1, "cmd1"), (cmd2, "cmd2"), (flags, "flags")):
        _check_u8(value, what)
    for value, what in ((cmd3, "cmd3"), (serial, "serial"), (length, "the length")):
        _check_u32(value, what)
    return (
        _HEAD.pack(length, cmd3)
        + bytes(0x38)
        + _TAIL.pack(_MAGIC_0x40, cmd1, 0, flags, cmd2, length, serial)
    )


def encode_command(command: Command) -> bytes:
    """The block of a command: 0x50-byte header + payload (lgc usb.c:1440-1460)."""
    if command.cmd3 not in (FIXED, VARIABLE):
        raise LocalProtocolError(f"cmd3 is 0x201 or 0x202, not 0x{command.cmd3:X}")
    header = _push_header(
        length=0x10 + len(command.payload),
        cmd3=command.cmd3,
        cmd1=command.cmd1,
        flags=command.flags,
        cmd2=command.cmd2,
        serial=command.serial,
    )
    return header + command.payload


def _pull_header(reader: Reader, total: int) -> tuple[int, int, int, int, int, int, int]:
    """length@0, cmd3@4, then 0x40: cmd1, flags, cmd2, length@0x48, serial. Checks the word at
    0x40 (2) and byte 0x45 (0); the bytes 8-0x3F are not looked at (libgphoto2 never reads them
    in a reply)."""
    if total < HEADER_BYTES:
        raise reader.fail(f"a header is {HEADER_BYTES:#x} bytes, only {total:#x} were given")
    length0, cmd3 = reader.unpack(_HEAD, "the length and cmd3")
    reader.raw(0x38)
    start = reader.offset
    magic, cmd1, zero, flags, cmd2, length48, serial = reader.unpack(_TAIL, "the header's end")
    if magic != _MAGIC_0x40:
        raise DecodeError(f"the u32 at 0x40 is 2, not {magic}", offset=start, what=reader.what)
    if zero != 0:
        raise DecodeError(f"byte 0x45 is 0, not {zero}", offset=start + 5, what=reader.what)
    return length0, cmd3, cmd1, flags, cmd2, length48, serial


def decode_command(data: BytesLike) -> Command:
    """A command block as the camera (the responder) receives it: both length words must be the
    bytes after 0x40, cmd3 0x201 or 0x202."""
    reader = Reader(data, what="Canon command block")
    total = len(data)
    length0, cmd3, cmd1, flags, cmd2, length48, serial = _pull_header(reader, total)
    expected = total - _LENGTH_BASE
    if length0 != expected:
        raise DecodeError(
            f"the length at 0 says {length0:#x}, the block has {expected:#x} after 0x40",
            offset=0,
            what=reader.what,
        )
    if length48 != expected:
        raise DecodeError(
            f"the length at 0x48 says {length48:#x}, the block has {expected:#x} after 0x40",
            offset=0x48,
            what=reader.what,
        )
    if cmd3 not in (FIXED, VARIABLE):
        raise DecodeError(f"cmd3 is 0x201 or 0x202, not 0x{cmd3:X}", offset=4, what=reader.what)
    return Command(
        cmd1=cmd1, cmd2=cmd2, cmd3=cmd3, serial=serial, flags=flags, payload=reader.rest()
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Reply:
    """A fixed-length reply (cmd3 0x201). ``cmd2``/``cmd3`` are the request's (0x11/0x12,
    0x201): on the wire they read +0x10 and +0x100 (vendors.md 5.5)."""

    cmd1: int
    cmd2: int
    cmd3: int = FIXED
    serial: int = 0
    flags: int = 0
    #: u32 at 0x50 (0 = OK; :data:`STATUS_NAMES`).
    status: int = STATUS_OK
    #: The command-specific bytes after the status.
    data: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK


_STATUS: Final = struct.Struct("<I")


def encode_reply(reply: Reply) -> bytes:
    length = 0x14 + len(reply.data)
    header = _push_header(
        length=length,
        cmd3=reply.cmd3 + 0x100,
        cmd1=reply.cmd1,
        flags=reply.flags,
        cmd2=reply.cmd2 + 0x10,
        serial=reply.serial,
    )
    _check_u32(reply.status, "the status")
    return header + _STATUS.pack(reply.status) + reply.data


def decode_reply(data: BytesLike, *, reply_bytes: int | None = None) -> Reply:
    """A fixed reply. ``reply_bytes`` (the table's length) is checked when given. The length at
    0x48 must match the bytes; the one at 0 may be 0 instead (some models; vendors.md 5.5)."""
    reader = Reader(data, what="Canon reply")
    total = len(data)
    if reply_bytes is not None and total != reply_bytes:
        raise reader.fail(f"the reply should be {reply_bytes:#x} bytes, not {total:#x}")
    length0, cmd3, cmd1, flags, cmd2, length48, serial = _pull_header(reader, total)
    expected = total - _LENGTH_BASE
    if length48 != expected:
        raise DecodeError(
            f"the length at 0x48 says {length48:#x}, the reply has {expected:#x} after 0x40",
            offset=0x48,
            what=reader.what,
        )
    if length0 not in (0, expected):
        raise DecodeError(
            f"the length at 0 says {length0:#x}, the reply has {expected:#x} after 0x40",
            offset=0,
            what=reader.what,
        )
    if cmd3 != FIXED + 0x100:
        raise DecodeError(
            f"a fixed reply's cmd3 is 0x301, not 0x{cmd3:X}", offset=4, what=reader.what
        )
    if cmd2 < 0x10:
        raise DecodeError(
            f"a reply's cmd2 is the request's + 0x10, not 0x{cmd2:X}", offset=0x47, what=reader.what
        )
    status = reader.uint32()
    return Reply(
        cmd1=cmd1,
        cmd2=cmd2 - 0x10,
        cmd3=FIXED,
        serial=serial,
        flags=flags,
        status=status,
        data=reader.rest(),
    )


# -- variable reply header (lgc usb.c canon_usb_long_dialogue) ----------------------------------

#: A variable reply starts with exactly this many bytes; its u32 at 6 is the data length.
VARIABLE_HEADER_BYTES: Final = 0x40
_VAR_LENGTH_AT: Final = 6


def decode_variable_header(data: BytesLike) -> int:
    """The number of data bytes announced by a variable reply's 0x40-byte header (u32 at 6, the
    only field libgphoto2 reads; the rest of the header is not interpreted)."""
    reader = Reader(data, what="Canon variable-reply header")
    if len(data) != VARIABLE_HEADER_BYTES:
        raise reader.fail(f"the header is exactly 0x40 bytes, not {len(data):#x}")
    reader.raw(_VAR_LENGTH_AT)
    return reader.uint32()


def encode_variable_header(length: int) -> bytes:
    """A variable reply's header for ``length`` data bytes. Only the u32 at 6 is documented
    (vendors.md 5.5: bytes 4-5 read 02 03 in a captured header, i.e. cmd3 0x302 as a u16 at 4,
    so that is written too); everything else is zero."""
    _check_u32(length, "the data length")
    return b"\x00" * 4 + struct.pack("<HI", VARIABLE + 0x100, length) + bytes(0x36)


# -- directory entries (lgc canon.h CANON_DIRENT_*; vendors.md 5.7) -----------------------------

#: Attribute bits (lgc canon.h:530-595).
ATTR_WRITE_PROTECTED: Final = 0x01
ATTR_DIR_NOT_ENTERED: Final = 0x10
ATTR_NOT_DOWNLOADED: Final = 0x20
ATTR_DIR_ENTERED: Final = 0x80
#: attrs u16@0, size u32@2, time u32@6, name@10 (lgc canon.h CANON_DIRENT_ATTRS..NAME).
_DIRENT: Final = struct.Struct("<HII")
#: The smallest entry: the fixed 10 bytes and an empty name's NUL (CANON_MINIMUM_DIRENT_SIZE 11).
MIN_DIRENT_BYTES: Final = 11
#: A name longer than this is refused (FAT paths on these cards are far shorter; bounds memory).
MAX_NAME_BYTES: Final = 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class Dirent:
    """One directory entry. ``time`` is the camera's local time as Unix-like seconds. The ".."
    entry closes an entered directory; the listed directory itself comes first (attr 0x80)."""

    attrs: int
    size: int
    time: int
    #: The name as sent (ASCII / code page bytes; recursive listings prefix ".\\").
    name: bytes

    @property
    def is_dir(self) -> bool:
        return bool(self.attrs & (ATTR_DIR_ENTERED | ATTR_DIR_NOT_ENTERED))

    @property
    def is_parent(self) -> bool:
        return self.name == b".."


def _is_terminator(attrs: int, size: int, time: int) -> bool:
    # libgphoto2 stops where attrs, size and time are all zero (canon.c canon_int_find_new_image).
    return attrs == 0 and size == 0 and time == 0


_DIRENT_WHAT: Final = "Canon directory entry"
#: What :func:`_pull_dirent` returns when the bytes so far end inside an entry.
_NEED_MORE: Final = None


def _pull_dirent(view: BytesLike, pos: int, *, final: bool, base: int) -> tuple[Dirent, int] | None:
    """The entry at ``pos`` and the offset after it; None when the bytes end inside it and more
    may come (``final`` False). The all-zero terminator comes back as an entry with attrs,
    size and time zero (the caller stops there). ``base`` is added to error offsets."""
    end = len(view)
    if end - pos < _DIRENT.size:
        if not final:
            return _NEED_MORE
        raise DecodeError(
            f"an entry needs {_DIRENT.size} bytes before its name, {end - pos} are left",
            offset=base + pos,
            what=_DIRENT_WHAT,
        )
    attrs, size, time = _DIRENT.unpack_from(view, pos)
    name_at = pos + _DIRENT.size
    limit = min(end, name_at + MAX_NAME_BYTES + 1)
    nul = bytes(view[name_at:limit]).find(b"\x00")
    if nul < 0:
        if limit == name_at + MAX_NAME_BYTES + 1:
            # A bound on what one entry may hold, so a stream without NULs is refused early
            # (libgphoto2 canon.c canon_int_list_dir gives up on names over 256 bytes).
            raise DecodeError(
                f"a name longer than {MAX_NAME_BYTES} bytes",
                offset=base + name_at,
                what=_DIRENT_WHAT,
            )
        if not final:
            return _NEED_MORE
        raise DecodeError(
            "the name has no terminating NUL", offset=base + name_at, what=_DIRENT_WHAT
        )
    name = bytes(view[name_at : name_at + nul])
    return Dirent(attrs=attrs, size=size, time=time, name=name), name_at + nul + 1


def iter_dirents(data: BytesLike) -> Iterator[Dirent]:
    """Entries of a GetDirEntries listing held whole, one at a time, up to the all-zero
    terminator (attrs, size, time zero: canon.c canon_int_find_new_image stops there). Bytes
    after the terminator are ignored. A listing without a terminator ends where the data ends
    (canon.c canon_int_list_dir walks to the end of the buffer), but an entry cut inside is a
    DecodeError, as there. For a listing read in pieces, :class:`DirentStream`."""
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    pos = 0
    while pos < len(view):
        pulled = _pull_dirent(view, pos, final=True, base=0)
        assert pulled is not None  # final: never "need more"
        entry, pos = pulled
        if _is_terminator(entry.attrs, entry.size, entry.time):
            return
        yield entry


class DirentStream:
    """A listing fed in the pieces the bulk reads bring (0x1400 bytes or the camera's transfer
    length): :meth:`feed` returns the entries completed so far and keeps only the unfinished
    one, so a whole card is listed in memory bounded by one read and one entry."""

    __slots__ = ("_buffer", "_consumed", "done")

    def __init__(self) -> None:
        self._buffer = bytearray()
        #: Bytes of the listing already decoded and dropped (for error offsets).
        self._consumed = 0
        #: True once the terminator has been read; later bytes are ignored.
        self.done = False

    def feed(self, chunk: BytesLike) -> list[Dirent]:
        if self.done:
            return []
        self._buffer += chunk
        entries: list[Dirent] = []
        pos = 0
        while pos < len(self._buffer):
            pulled = _pull_dirent(self._buffer, pos, final=False, base=self._consumed)
            if pulled is None:
                break
            entry, pos = pulled
            if _is_terminator(entry.attrs, entry.size, entry.time):
                self.done = True
                self._buffer.clear()
                return entries
            entries.append(entry)
        del self._buffer[:pos]
        self._consumed += pos
        return entries

    def close(self) -> None:
        """The listing's data has ended: refused if it ended inside an entry."""
        if not self.done and self._buffer:
            _pull_dirent(bytes(self._buffer), 0, final=True, base=self._consumed)
        self._buffer.clear()


def decode_dirents(data: BytesLike) -> tuple[Dirent, ...]:
    """Every entry of a listing (:func:`iter_dirents` collected)."""
    return tuple(iter_dirents(data))


def encode_dirent(entry: Dirent) -> bytes:
    if not 0 <= entry.attrs <= _U16_MAX:
        raise LocalProtocolError(f"attrs is a u16, not {entry.attrs}")
    _check_u32(entry.size, "size")
    _check_u32(entry.time, "time")
    if b"\x00" in entry.name or len(entry.name) > MAX_NAME_BYTES:
        raise LocalProtocolError(
            f"a name without NUL of at most {MAX_NAME_BYTES} bytes: {entry.name!r}"
        )
    if _is_terminator(entry.attrs, entry.size, entry.time):
        raise LocalProtocolError(f"attrs, size and time all zero would end the listing: {entry!r}")
    return _DIRENT.pack(entry.attrs, entry.size, entry.time) + entry.name + b"\x00"


#: The entry that ends a listing: attrs, size, time zero and an empty name.
DIRENT_TERMINATOR: Final = bytes(MIN_DIRENT_BYTES)


def encode_dirents(entries: Iterable[Dirent]) -> bytes:
    """A listing: the entries, then the all-zero terminator."""
    return b"".join(encode_dirent(entry) for entry in entries) + DIRENT_TERMINATOR


# -- interrupt messages (lgc canon.c canon_int_capture_image; vendors.md 5.8) -------------------


class InterruptType(enum.IntEnum):
    """Byte 4 of an interrupt message."""

    THUMBNAIL_READY = 0x08
    CAPTURE_STATUS = 0x0A
    FULL_IMAGE_READY = 0x0C
    EOS_FLASH_WRITE_COMPLETE = 0x0E
    EOS_FINAL = 0x0F
    SECONDARY_IMAGE_READY = 0x10


#: Byte 0x0C of a 0x0A (status) message.
CAPTURE_FIRST: Final = 0x1C
CAPTURE_DONE: Final = 0x1D
CAPTURE_FAILED: Final = 0x0A
#: Image-ready messages (0x08 / 0x0C / 0x10) are 0x17 bytes: key u32@0x0C, size u32@0x11.
IMAGE_READY_BYTES: Final = 0x17
_READY_FIELDS_END: Final = 0x15
_READY_TYPES: Final = frozenset(
    {
        InterruptType.THUMBNAIL_READY,
        InterruptType.FULL_IMAGE_READY,
        InterruptType.SECONDARY_IMAGE_READY,
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class InterruptMessage:
    """One message from the interrupt endpoint. ``kind`` is byte 4 (an :class:`InterruptType`
    value or another byte). Decoded fields are None where the type does not carry them."""

    raw: bytes
    kind: int
    #: Image-ready types: the image key (u32@0x0C) and size (u32@0x11).
    key: int | None = None
    size: int | None = None
    #: Type 0x0A: the byte at 0x0C (0x1C first, 0x1D done, 0x0A failure) ...
    status: int | None = None
    #: ... and with 0x0A failure, the code u32@0x10 (1 = AF failure).
    failure: int | None = None


def decode_interrupt(data: BytesLike) -> InterruptMessage:
    """An interrupt message: at least 5 bytes (the type at 4); the fields a type carries must
    be present. Other types are kept raw (the wake-up message after init, e.g.
    02 00 00 00 20 00 ...)."""
    reader = Reader(data, what="Canon interrupt message")
    raw = bytes(data)
    if len(raw) < 5:
        raise reader.fail(f"an interrupt message has its type at byte 4; only {len(raw)} bytes")
    kind = raw[4]
    if kind in _READY_TYPES:
        # libgphoto2 only logs an image-ready message of another length than 0x17 and reads
        # its fields anyway (usb.c canon_usb_capture_dialogue): the fields must be there.
        if len(raw) < _READY_FIELDS_END:
            raise reader.fail(
                f"an image-ready message (0x{kind:02X}) carries its size at 0x11..0x14; "
                f"only {len(raw):#x} bytes"
            )
        (key,) = struct.unpack_from("<I", raw, 0x0C)
        (size,) = struct.unpack_from("<I", raw, 0x11)
        return InterruptMessage(raw=raw, kind=kind, key=key, size=size)
    if kind == InterruptType.CAPTURE_STATUS:
        if len(raw) < 0x0D:
            raise reader.fail(f"a capture-status message needs byte 0x0C; {len(raw)} bytes")
        status = raw[0x0C]
        if status != CAPTURE_FAILED:
            return InterruptMessage(raw=raw, kind=kind, status=status)
        if len(raw) < 0x14:
            raise reader.fail(f"a capture failure carries its code at 0x10; {len(raw)} bytes")
        (failure,) = struct.unpack_from("<I", raw, 0x10)
        return InterruptMessage(raw=raw, kind=kind, status=status, failure=failure)
    return InterruptMessage(raw=raw, kind=kind)


def encode_interrupt(message: InterruptMessage) -> bytes:
    """The bytes of a message (its ``raw``): decoding them again must give the same fields."""
    if decode_interrupt(message.raw) != message:
        raise LocalProtocolError(f"the raw bytes do not carry these fields: {message!r}")
    return message.raw


def image_ready(kind: InterruptType, *, key: int, size: int) -> InterruptMessage:
    """An image-ready message built field by field (the bytes not documented are zero)."""
    _check_u32(key, "key")
    _check_u32(size, "size")
    buf = bytearray(IMAGE_READY_BYTES)
    buf[4] = kind
    struct.pack_into("<I", buf, 0x0C, key)
    struct.pack_into("<I", buf, 0x11, size)
    return decode_interrupt(bytes(buf))


# -- fixed replies' data, decoded (vendors.md 5.6) -----------------------------------------------
# Offsets in vendors.md count from the status word at 0x50 ("@+8" = 0x58); Reply.data starts
# after the status, at +4, so each offset below is the documented one minus 4.

_TEXT_FIELD_BYTES: Final = 32


def _text(raw: bytes) -> str:
    """A NUL-padded fixed text field: up to the first NUL, bytes kept as Latin-1 (no decoding
    error is possible; the cameras write ASCII)."""
    return raw.split(b"\x00", 1)[0].decode("latin-1")


def _pad_text(text: str, what: str) -> bytes:
    raw = text.encode("latin-1", errors="strict") if text.isascii() else b""
    if not text.isascii() or len(raw) >= _TEXT_FIELD_BYTES or "\x00" in text:
        raise LocalProtocolError(f"{what} is ASCII of at most 31 characters without NUL: {text!r}")
    return raw.ljust(_TEXT_FIELD_BYTES, b"\x00")


@dataclass(frozen=True, kw_only=True, slots=True)
class Identity:
    """IdentifyCamera 0x01/0x12 (reply 0x9C): firmware 4 bytes @+8, model @+12 (32 bytes),
    owner @+44 (32 bytes) (vendors.md 5.6, lgc canon.c canon_int_identify_camera)."""

    #: The 4 firmware bytes as sent; shown reversed (00 02 00 01 = "1.0.2.0").
    firmware: bytes
    model: str
    owner: str
    #: The 4 bytes at +4, which libgphoto2 does not read; a G3 sends 01 06 15 83 there, its
    #: init packet's id (canon-remote's docs, index.rst, a captured IdentifyCamera reply).
    camera_id: bytes = bytes(4)

    @property
    def firmware_text(self) -> str:
        return ".".join(str(b) for b in reversed(self.firmware))


_IDENTITY_DATA_BYTES: Final = 0x9C - HEADER_BYTES - 4


def decode_identity(data: bytes) -> Identity:
    """IdentifyCamera's data after the status. Longer data is accepted and the rest ignored:
    libgphoto2 logs an unexpected length and reads the fields anyway (canon.c
    canon_int_identify_camera, "continuing"); shorter data lacks fields and is refused."""
    reader = Reader(data, what="Canon IdentifyCamera reply")
    if len(data) < _IDENTITY_DATA_BYTES:
        raise reader.fail(
            f"IdentifyCamera data is {_IDENTITY_DATA_BYTES} bytes, only {len(data)} came"
        )
    camera_id = reader.raw(4)
    firmware = reader.raw(4)
    model = _text(reader.raw(_TEXT_FIELD_BYTES))
    owner = _text(reader.raw(_TEXT_FIELD_BYTES))
    return Identity(firmware=firmware, model=model, owner=owner, camera_id=camera_id)


#: GetOwner2 (0x05/0x12, reply 0x74, class 6): the owner, 32 bytes after the status
#: (canon.c canon_int_identify_camera reads msg + 4).
_OWNER_DATA_BYTES: Final = 0x74 - HEADER_BYTES - 4


def decode_owner(data: bytes) -> str:
    reader = _words(data, "Canon GetOwner reply", _OWNER_DATA_BYTES)
    return _text(reader.raw(_TEXT_FIELD_BYTES))


def encode_owner(owner: str) -> bytes:
    return _pad_text(owner, "the owner")


#: GetBodyID (0x1D, class 4) / GetBodyID2 (0x23, class 6), reply 0x58: the body's serial
#: number, a u32 right after the status (lgc usb.c canon_usb_get_body_id).
_BODY_ID_DATA_BYTES: Final = 0x58 - HEADER_BYTES - 4


def decode_body_id(data: bytes) -> int:
    return _words(data, "Canon GetBodyID reply", _BODY_ID_DATA_BYTES).uint32()


def encode_body_id(body_id: int) -> bytes:
    _check_u32(body_id, "the body id")
    return struct.pack("<I", body_id)


def encode_identity(identity: Identity) -> bytes:
    if len(identity.firmware) != 4 or len(identity.camera_id) != 4:
        raise LocalProtocolError(
            f"the firmware and the id are 4 bytes each: {identity.firmware!r}, "
            f"{identity.camera_id!r}"
        )
    return (
        identity.camera_id
        + identity.firmware
        + _pad_text(identity.model, "the model")
        + _pad_text(identity.owner, "the owner")
    )


def _words(data: bytes, what: str, count_bytes: int) -> Reader:
    reader = Reader(data, what=what)
    if len(data) != count_bytes:
        raise reader.fail(f"the data is {count_bytes} bytes, not {len(data)}")
    return reader


def decode_time(data: bytes) -> int:
    """GetTime 0x03/0x12 (reply 0x60): the camera's local time, Unix-like seconds, u32 @+4."""
    reader = _words(data, "Canon GetTime reply", 0x60 - HEADER_BYTES - 4)
    return reader.uint32()


def encode_time(seconds: int) -> bytes:
    _check_u32(seconds, "the time")
    return struct.pack("<I", seconds) + bytes(8)


@dataclass(frozen=True, kw_only=True, slots=True)
class DiskInfo:
    """DiskInfo (reply 0x5C): capacity u32 @+4, free u32 @+8 (bytes on old 0x09, libgphoto2
    divides by 1024; kilobytes as-is for the new 0x0D: vendors.md 5.6). Units as sent."""

    capacity: int
    free: int


def decode_disk_info(data: bytes) -> DiskInfo:
    reader = _words(data, "Canon DiskInfo reply", 0x5C - HEADER_BYTES - 4)
    return DiskInfo(capacity=reader.uint32(), free=reader.uint32())


def encode_disk_info(info: DiskInfo) -> bytes:
    _check_u32(info.capacity, "capacity")
    _check_u32(info.free, "free")
    return struct.pack("<II", info.capacity, info.free)


#: PowerStatus: byte @+4 is 6 when the power is good; bit 0x20 of byte @+7 set = battery
#: (lgc canon.h:28-40).
POWER_OK: Final = 0x06
POWER_BATTERY_BIT: Final = 0x20


@dataclass(frozen=True, kw_only=True, slots=True)
class PowerStatus:
    status: int
    flags: int

    @property
    def ok(self) -> bool:
        return self.status == POWER_OK

    @property
    def on_battery(self) -> bool:
        return bool(self.flags & POWER_BATTERY_BIT)


def decode_power_status(data: bytes) -> PowerStatus:
    """PowerStatus 0x0A/0x12 (reply 0x58): the 4 bytes after the status word."""
    reader = _words(data, "Canon PowerStatus reply", 0x58 - HEADER_BYTES - 4)
    raw = reader.raw(4)
    return PowerStatus(status=raw[0], flags=raw[3])


def encode_power_status(power: PowerStatus) -> bytes:
    _check_u8(power.status, "the power status")
    _check_u8(power.flags, "the power flags")
    return bytes((power.status, 0, 0, power.flags))


# -- remote control (vendors.md 5.8; lgc usb.c:994-1265) -----------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class RemoteSub:
    """A RemoteControl subcommand: its command length (header's length word: 0x10 + payload)
    and the extra bytes of its reply (the reply is 0x40 + ``reply_extra``)."""

    name: str
    sub: int
    command_length: int
    reply_extra: int


def _sub(name: str, sub: int, command_length: int, reply_extra: int) -> RemoteSub:
    return RemoteSub(name=name, sub=sub, command_length=command_length, reply_extra=reply_extra)


#: Subcommands with known lengths (lgc usb.c canon_usb_control_cmd table, vendors.md 5.8).
REMOTE_SUBS: Final[tuple[RemoteSub, ...]] = (
    _sub("Init", 0x00, 0x18, 0x1C),
    _sub("Exit", 0x01, 0x18, 0x1C),
    _sub("Release", 0x04, 0x18, 0x1C),
    _sub("SetReleaseParams", 0x07, 0x3C, 0x1C),
    _sub("SetTransferMode", 0x09, 0x1C, 0x1C),
    _sub("GetReleaseParams", 0x0A, 0x18, 0x4C),
    _sub("GetZoom", 0x0B, 0x18, 0x20),
    _sub("SetZoom", 0x0C, 0x1C, 0x1C),
    _sub("GetAvailableShots", 0x0D, 0x18, 0x20),
    _sub("GetCustomFunction", 0x0F, 0x22, 0x26),
    _sub("GetExtParamsSize", 0x10, 0x1C, 0x20),
    _sub("GetExtParams", 0x12, 0x1C, 0x2C),
    _sub("SetExtParams", 0x13, 0x15, 0x1C),
)
_SUB_BY_CODE: Final[dict[int, RemoteSub]] = {s.sub: s for s in REMOTE_SUBS}

#: SetTransferMode's word1 bits (vendors.md 5.8).
TRANSFER_THUMB_TO_PC: Final = 0x1
TRANSFER_FULL_TO_PC: Final = 0x2
TRANSFER_THUMB_TO_CARD: Final = 0x4
TRANSFER_FULL_TO_CARD: Final = 0x8


def remote_sub(sub: int) -> RemoteSub:
    """A subcommand's lengths; KeyError for one without documented lengths."""
    return _SUB_BY_CODE[sub]


def encode_remote_payload(sub: int, *words: int, new_protocol: bool = False) -> bytes:
    """A RemoteControl payload: u32 subcmd, then word0 and word1 as far as the subcommand's
    command length - 0x10 holds them, zeros after (canon.c canon_int_pack_control_subcmd).
    ``new_protocol`` (class 6, RemoteControl2 0x25): one more zero byte at the end
    (canon.c canon_int_do_control_command)."""
    spec = remote_sub(sub)
    size = spec.command_length - 0x10
    if len(words) > 2:
        raise LocalProtocolError(f"a RemoteControl payload has at most two words, not {len(words)}")
    for word in words:
        _check_u32(word, "a RemoteControl word")
    fitting = max(0, size // 4 - 1)
    if any(words[fitting:]):
        raise LocalProtocolError(f"{spec.name} carries {size} bytes; word {fitting} does not fit")
    body = struct.pack(f"<I{len(words)}I", sub, *words)[:size].ljust(size, b"\x00")
    return body + b"\x00" if new_protocol else body


def decode_remote_payload(payload: BytesLike) -> tuple[RemoteSub, int, int]:
    """The subcommand and its two words (0 where the payload is too short to hold them) of a
    RemoteControl payload, as the camera reads it; the payload must be the subcommand's length
    (+1 for the new protocol's extra zero byte)."""
    reader = Reader(payload, what="Canon RemoteControl payload")
    sub = reader.uint32()
    spec = _SUB_BY_CODE.get(sub)
    if spec is None:
        raise DecodeError(f"unknown RemoteControl subcommand 0x{sub:X}", offset=0, what=reader.what)
    size = spec.command_length - 0x10
    if len(payload) not in (size, size + 1):
        raise DecodeError(
            f"{spec.name} carries {size} bytes (or {size + 1}), not {len(payload)}",
            offset=0,
            what=reader.what,
        )
    word0 = reader.uint32() if size >= 8 else 0
    word1 = reader.uint32() if size >= 12 else 0
    return spec, word0, word1


def remote_reply_bytes(sub: int) -> int:
    """The whole reply to a RemoteControl subcommand: 0x40 (the table's base) + the
    subcommand's extra length (usb.c canon_usb_dialogue_full)."""
    return 0x40 + remote_sub(sub).reply_extra


# -- reading a fixed reply (usb.c canon_usb_dialogue_full) --------------------------------------


def split_reply_read(reply_bytes: int) -> tuple[int, int]:
    """The two bulk reads of a fixed reply on the old protocol: the length rounded down to a
    multiple of 0x40, then the rest (0 = no second read). Class 6 and replies over 0x400 are
    read in one piece instead (usb.c canon_usb_dialogue_full: the D30 refuses one read)."""
    if reply_bytes < 0:
        raise LocalProtocolError(f"a reply length is not negative: {reply_bytes}")
    first = reply_bytes - reply_bytes % 0x40
    return first, reply_bytes - first


def long_read_bytes(left: int, xfer_bytes: int, *, new_protocol: bool) -> int:
    """The next bulk read of a variable reply's data with ``left`` bytes to come (lgc usb.c
    canon_usb_long_dialogue): the transfer length while more than it is left; then, on the
    old protocol, what is left rounded down to a multiple of 0x40 while over 0x40, and the
    rest last; class 6 reads what is left in one piece."""
    if left <= 0 or xfer_bytes <= 0:
        raise LocalProtocolError(f"nothing to read: {left} left, transfers of {xfer_bytes}")
    if left > xfer_bytes:
        return xfer_bytes
    if left > 0x40 and not new_protocol:
        return left - left % 0x40
    return left


def reported_reply_bytes(first: BytesLike) -> int | None:
    """The whole reply length a camera reports in the first read of a fixed reply: u32@0 +
    0x40, or when that is 0, u32@0x48 + 0x40 if the read reached it; None if neither is there.
    libgphoto2 trusts this over its table (the picture-abilities length varies by model) and
    reads the rest accordingly (usb.c canon_usb_dialogue_full)."""
    reader = Reader(first, what="Canon reply (first read)")
    if len(first) < 4:
        raise reader.fail(f"the length word needs 4 bytes, only {len(first)}")
    length = reader.uint32()
    if length == 0 and len(first) >= HEADER_BYTES:
        (length,) = struct.unpack_from("<I", first, 0x48)
    return length + _LENGTH_BASE if length else None


# -- thumbnails (lgc canon.c canon_int_extract_jpeg_thumb) ---------------------------------------

_JPEG_ESC: Final = 0xFF
_JPEG_SOI: Final = 0xD8
_JPEG_EOI: Final = 0xD9
#: The byte after the embedded JPEG's first marker's FF: DQT (0xDB), or DHT (0xC4) in an A50's
#: files (canon.h JPEG_SOS, JPEG_A50_SOS: libgphoto2's names for them).
_THUMB_MARKERS: Final = frozenset({0xDB, 0xC4})


def extract_jpeg_thumbnail(data: BytesLike) -> bytes:
    """The JPEG embedded in a picture's head (what GetFile with the thumbnail flag answers) or
    in a movie's .THM file, found as libgphoto2 finds it (canon.c canon_int_get_thumbnail):
    the EXIF block's IFD1 thumbnail (libexif) when there is one; else the scan of canon.c
    canon_int_extract_jpeg_thumb: the data must start with FF D8; from byte 3 on, the first
    FF D8 xx (DB|C4) starts the thumbnail and the next FF D9 ends it. DecodeError when there
    is no such JPEG."""
    what = "Canon thumbnail data"
    view = bytes(data)
    if len(view) < 2 or view[0] != _JPEG_ESC or view[1] != _JPEG_SOI:
        raise DecodeError("the data is not JFIF (no FF D8 at its start)", offset=0, what=what)
    thumbnail = exif_thumbnail(view)
    if thumbnail is not None:
        return thumbnail
    start = None
    position = 3
    end = len(view)
    while True:
        position = view.find(b"\xff", position)
        if position < 0:
            break
        if start is None:
            if (
                position < end - 3
                and view[position + 1] == _JPEG_SOI
                and view[position + 3] in _THUMB_MARKERS
            ):
                start = position
        elif position < end - 1 and view[position + 1] == _JPEG_EOI:
            return view[start : position + 2]
        position += 1
    where = 0 if start is None else start
    raise DecodeError(
        "no embedded JPEG" if start is None else "the embedded JPEG has no end (FF D9)",
        offset=where,
        what=what,
    )
