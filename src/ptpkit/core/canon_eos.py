"""Canon EOS wire formats as sans-IO codecs: GetEvent records, property values,
SetDevicePropValueEx and GetObjectInfoEx.

Facts come from libgphoto2 ``camlibs/ptp2/ptp-pack.c`` (``ptp_unpack_EOS_events`` /
``ptp_unpack_CANON_changes``, ``ptp_unpack_Canon_EOS_FE``, ``ptp_unpack_EOS_ImageFormat``),
``ptp.c`` (``ptp_canon_eos_setdevicepropvalueex``, ``ptp_canon_eos_getobjectinfoex``) and
``ptp.h``, as summarised in vendors.md section 1. The code is ours.

Public functions (bytes in, frozen dataclasses out, and back):

- :func:`decode_get_event` ``(data) -> tuple[EosRecord, ...]`` and
  :func:`encode_get_event` ``(records, *, terminator_size=8) -> bytes``: the data phase of
  EOS_GetEvent (0x9116). :func:`decode_record` / :func:`encode_record` do one record.
- :func:`decode_prop_value` ``(prop, raw) -> PropValue`` (never raises: an unexpected layout gives
  the raw bytes back) and :func:`encode_prop_value` ``(prop, value) -> bytes``: a property value
  as EOS carries it in PropValueChanged (0xC189) and SetDevicePropValueEx (0x9110).
  :func:`prop_kind` tells how a property is carried (:class:`PropKind`).
- :func:`decode_set_prop_value_ex` / :func:`encode_set_prop_value_ex`: the data phase of
  EOS_SetDevicePropValueEx (:class:`SetPropValueEx`).
- :func:`decode_object_info_ex` / :func:`encode_object_info_ex`: the data phase of
  EOS_GetObjectInfoEx (0x9109), a tuple of :class:`FolderEntry`;
  :func:`decode_folder_listing`: the same as a :class:`FolderListing`, decoded entry by entry
  from compact bytes (a folder's answer can be 64 MiB).
- :class:`ImageFormat` with :meth:`ImageFormat.code` / :meth:`ImageFormat.from_code`
  (libgphoto2's 16-bit summary), :func:`pull_image_format` / :func:`push_image_format`.

Lenient where cameras are sloppy, strict on lengths:

- A record whose size is below 8 or runs past the data is a :class:`DecodeError` at the record's
  offset, and so is a cut record header. So is a count inside a record that claims more values
  than the record holds (AvailListChanged, ImageFormat entries), and every such error carries the
  offset in the whole GetEvent data.
- A record of a known type too short for its fixed fields is kept as an :class:`UnknownRecord`
  (libgphoto2 skips it with "size ... is smaller than"); records of unknown types are
  :class:`UnknownRecord` too. Nothing about a type is fatal.
- The terminator (type 0) ends the data; bytes after it are ignored. Data that ends at a record
  boundary without a terminator is accepted (libgphoto2 drops the last record of such data, which
  is why :func:`encode_get_event` always writes one).
- Bytes inside a record that no source explains (gaps between known fields, bytes after a name's
  NUL) are not kept: a decoded record re-encodes with zeros there. Round trips compare values.
"""

from __future__ import annotations

import array
import enum
import struct
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, overload

from ptpkit.core.buffer import BytesLike, Reader, Writer
from ptpkit.errors import DecodeError, LocalProtocolError

# -- record types (names as in codes/canon.py, from libgphoto2 ptp.h PTP_EC_CANON_EOS_*) ---------

TERMINATOR: Final = 0x0000
OBJECT_ADDED_EX: Final = 0xC181
OBJECT_REMOVED: Final = 0xC182
STORAGE_STATUS_CHANGED: Final = 0xC184
STORAGE_INFO_CHANGED: Final = 0xC185
REQUEST_OBJECT_TRANSFER: Final = 0xC186
OBJECT_INFO_CHANGED_EX: Final = 0xC187
OBJECT_CONTENT_CHANGED: Final = 0xC188
PROP_VALUE_CHANGED: Final = 0xC189
AVAIL_LIST_CHANGED: Final = 0xC18A
CAMERA_STATUS_CHANGED: Final = 0xC18B
STORE_ADDED: Final = 0xC192
STORE_REMOVED: Final = 0xC193
BULB_EXPOSURE_TIME: Final = 0xC194
CTG_INFO_CHECK_COMPLETE: Final = 0xC1A4
OLC_INFO_CHANGED: Final = 0xC1A5
OBJECT_ADDED_EX64: Final = 0xC1A7
REQUEST_OBJECT_TRANSFER64: Final = 0xC1A9

#: AvailListChanged list type that libgphoto2 parses: an enumeration in 4-byte slots.
LIST_TYPE_ENUMERATION: Final = 3

#: libgphoto2 refuses AvailListChanged counts at or above this ("buggy or exploit").
MAX_LIST_COUNT: Final = 2 << 16

_HEADER: Final = 8
_U32_MAX: Final = 0xFFFFFFFF


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _c_string(data: bytes) -> str:
    """A NUL-terminated 8-bit name (EOS sends plain ASCII, not PTP strings: libgphoto2 strdup()s
    them). Without a NUL, the name runs to the end of its field. Bytes that are not UTF-8 survive
    as surrogate escapes, so a name always re-encodes to the same bytes."""
    nul = data.find(b"\x00")
    return (data if nul < 0 else data[:nul]).decode("utf-8", errors="surrogateescape")


def _c_string_bytes(text: str, what: str) -> bytes:
    try:
        raw = text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"{what} {text!r} cannot be sent as 8-bit text") from exc
    if b"\x00" in raw:
        raise LocalProtocolError(f"{what} {text!r} contains a NUL character")
    return raw


# -- property values -----------------------------------------------------------------------------


class PropKind(enum.Enum):
    """How an EOS property's value is carried (libgphoto2 ptp-pack.c, "set DataType")."""

    U8 = "uint8"
    U16 = "uint16"
    U32 = "uint32"
    I16 = "int16"
    I32 = "int32"
    STRING = "string"
    IMAGE_FORMAT = "image-format"


_WIDTH: Final = {
    PropKind.U8: (1, False),
    PropKind.U16: (2, False),
    PropKind.U32: (4, False),
    PropKind.I16: (2, True),
    PropKind.I32: (4, True),
}

#: Property code -> kind, for the properties whose layout libgphoto2 knows (ptp-pack.c
#: ptp_unpack_EOS_events, the "set DataType" switch; vendors.md 1.2). Others decode as raw bytes.
PROP_KINDS: Final[dict[int, PropKind]] = {
    # uint16
    0xD101: PropKind.U16,  # Aperture
    0xD102: PropKind.U16,  # ShutterSpeed
    0xD103: PropKind.U16,  # ISOSpeed
    0xD105: PropKind.U16,  # AutoExposureMode
    0xD106: PropKind.U16,  # DriveMode
    0xD10F: PropKind.U16,  # ColorSpace
    0xD111: PropKind.U16,  # BatteryPower
    0xD112: PropKind.U16,  # BatterySelect
    0xD119: PropKind.U16,  # PTPExtensionVersion
    0xD11A: PropKind.U16,  # DPOFVersion
    0xD11D: PropKind.U16,  # BracketMode
    0xD138: PropKind.U16,  # AEModeDial
    0xD1B1: PropKind.U16,  # EVFMode
    # uint8 (ExpCompensation is a signed eighth-stop count in a byte: "actually int8")
    0xD104: PropKind.U8,  # ExpCompensation
    0xD107: PropKind.U8,  # MeteringMode
    0xD109: PropKind.U8,  # WhiteBalance
    0xD110: PropKind.U8,  # PictureStyle
    # uint32
    0xD108: PropKind.U32,  # FocusMode (3 = manual, library.c:6104)
    0xD10A: PropKind.U32,  # ColorTemperature
    0xD10D: PropKind.U32,  # WhiteBalanceXA
    0xD10E: PropKind.U32,  # WhiteBalanceXB
    0xD113: PropKind.U32,  # CameraTime
    0xD116: PropKind.U32,  # ModelID
    0xD11B: PropKind.U32,  # AvailableShots
    0xD11C: PropKind.U32,  # CaptureDestination
    0xD11E: PropKind.U32,  # CurrentStorage
    0xD11F: PropKind.U32,  # CurrentFolder
    0xD199: PropKind.U32,  # OLCInfoVersion
    0xD1B0: PropKind.U32,  # EVFOutputDevice
    0xD1B8: PropKind.U32,  # EVFRecordStatus
    # int16 / int32
    0xD10B: PropKind.I16,  # WhiteBalanceAdjustA
    0xD10C: PropKind.I16,  # WhiteBalanceAdjustB
    0xD114: PropKind.I32,  # AutoPowerOff (vendors.md 1.2)
    # strings: plain ASCII, NUL-terminated ("5D MII and 400D actually store plain ASCII")
    0xD115: PropKind.STRING,  # Owner
    0xD125: PropKind.STRING,  # CameraNickname
    0xD1A0: PropKind.STRING,  # Artist (ptp.h PTP_DPC_CANON_EOS_Artist)
    0xD1A1: PropKind.STRING,  # Copyright
    0xD1AF: PropKind.STRING,  # SerialNumber
    0xD1D0: PropKind.STRING,  # LensName
    # ImageFormat family: packed entries (ptp_unpack_EOS_ImageFormat)
    0xD120: PropKind.IMAGE_FORMAT,
    0xD121: PropKind.IMAGE_FORMAT,
    0xD122: PropKind.IMAGE_FORMAT,
    0xD123: PropKind.IMAGE_FORMAT,
}


def prop_kind(prop: int) -> PropKind | None:
    """How ``prop``'s value is carried, or None when no source says (raw bytes then)."""
    return PROP_KINDS.get(prop)


@dataclass(frozen=True, kw_only=True)
class ImageFormatEntry:
    """One file a shot produces (ptp-pack.c ptp_unpack_EOS_ImageFormat): ``kind`` 1 = JPEG,
    6 = RAW; ``size`` 0 L, 1 M, 2 S, 5 M1, 6 M2, 0xE S1, 0xF S2, 0x10 S3; ``compression``
    2 normal, 3 fine (cRAW for RAW), 4 lossless RAW."""

    kind: int
    size: int
    compression: int


#: Each ImageFormat entry is 16 bytes: its own size (always 0x10 in libgphoto2) and 3 uint32.
_IMAGE_FORMAT_ENTRY_SIZE: Final = 0x10
_IMAGE_FORMAT_ENTRY: Final = struct.Struct("<4I")
KIND_JPEG: Final = 1
KIND_RAW: Final = 6


@dataclass(frozen=True, kw_only=True)
class ImageFormat:
    """EOS image quality: one or two files per shot (RAW + JPEG)."""

    entries: tuple[ImageFormatEntry, ...]

    @property
    def code(self) -> int:
        """libgphoto2's 16-bit summary (newer ptp_unpack_EOS_ImageFormat): nibbles entry-1
        size, entry-1 compression (| 8 for RAW), entry-2 size, entry-2 compression; S1..S3 sizes
        are lowered by one to fit a nibble; no second entry is 0xFF. Only meaningful for one or
        two entries with small fields."""

        def half(entry: ImageFormatEntry | None) -> int:
            if entry is None:
                return 0xFF
            size = entry.size - 1 if entry.size >= 0xE else entry.size
            comp = entry.compression | (8 if entry.kind == KIND_RAW else 0)
            return ((size & 0xF) << 4) | (comp & 0xF)

        first = self.entries[0] if self.entries else None
        second = self.entries[1] if len(self.entries) > 1 else None
        return (half(first) << 8) | half(second)

    @classmethod
    def of(cls, entries: Iterable[tuple[int, int, int]]) -> ImageFormat:
        """From (kind, size, compression) triples, as codes.canon_eos_values.parse_image_format
        gives them."""
        return cls(
            entries=tuple(ImageFormatEntry(kind=k, size=s, compression=c) for k, s, c in entries)
        )

    @classmethod
    def from_code(cls, code: int) -> ImageFormat:
        """The inverse of :attr:`code` (ptp_pack_EOS_ImageFormat)."""
        if not 0 <= code <= 0xFFFF:
            raise LocalProtocolError(f"image format code {code!r} is not a uint16")

        def entry(half: int) -> ImageFormatEntry:
            size = (half >> 4) & 0xF
            return ImageFormatEntry(
                kind=KIND_RAW if half & 0x8 else KIND_JPEG,
                size=size + 1 if size >= 0xD else size,
                compression=half & 0x7,
            )

        halves = [code >> 8] + ([] if code & 0xFF == 0xFF else [code & 0xFF])
        return cls(entries=tuple(entry(h) for h in halves))


def pull_image_format(reader: Reader, *, base: int = 0) -> ImageFormat:
    """A count, then that many 16-byte entries. The count is checked against the bytes left
    before anything is built; an entry whose own size is not 16 is a DecodeError (nothing says
    how to skip it). ``base`` is added to error offsets (the reader's start in the whole data)."""
    what = reader.what or "EOS image format"
    if reader.remaining < 4:
        raise DecodeError(
            "an image format needs its 4-byte count", offset=base + reader.offset, what=what
        )
    start = reader.offset
    count = reader.uint32()
    if count * _IMAGE_FORMAT_ENTRY_SIZE > reader.remaining:
        raise DecodeError(
            f"an image format of {count} entries needs {count * 16} bytes, "
            f"{reader.remaining} are left",
            offset=base + start,
            what=what,
        )
    entries = []
    for _ in range(count):
        start = reader.offset
        size, kind, size_code, compression = reader.unpack(_IMAGE_FORMAT_ENTRY)
        if size != _IMAGE_FORMAT_ENTRY_SIZE:
            raise DecodeError(
                f"image format entry size {size}, expected 16", offset=base + start, what=what
            )
        entries.append(ImageFormatEntry(kind=kind, size=size_code, compression=compression))
    return ImageFormat(entries=tuple(entries))


def push_image_format(writer: Writer, value: ImageFormat) -> None:
    writer.uint32(len(value.entries))
    for entry in value.entries:
        writer.uint32(_IMAGE_FORMAT_ENTRY_SIZE)
        writer.uint32(entry.kind)
        writer.uint32(entry.size)
        writer.uint32(entry.compression)


#: A decoded property value: a number, a string, an image format, or the raw bytes when the
#: property is unknown or its bytes do not have the expected layout.
PropValue = int | str | ImageFormat | bytes


def decode_prop_value(prop: int, raw: bytes) -> PropValue:
    """The value of ``prop`` from the bytes after the property code. Never raises.

    Numbers are read from the low bytes of their slot, as libgphoto2 does (u8/u16 values sit in
    a 4-byte slot); fewer bytes than the number's width give the raw bytes back."""
    kind = PROP_KINDS.get(prop)
    raw = bytes(raw)
    if kind is None:
        return raw
    if kind is PropKind.STRING:
        return _c_string(raw)
    if kind is PropKind.IMAGE_FORMAT:
        try:
            return pull_image_format(Reader(raw, what="EOS image format"))
        except DecodeError:
            return raw
    width, signed = _WIDTH[kind]
    if len(raw) < width:
        return raw
    return int.from_bytes(raw[:width], "little", signed=signed)


def encode_prop_value(prop: int, value: PropValue) -> bytes:
    """The bytes for ``value`` as EOS carries them: a number in a 4-byte slot (low bytes, the
    way libgphoto2's ptp_canon_eos_setdevicepropvalueex packs it), a string NUL-terminated, an
    image format packed, raw bytes as given. LocalProtocolError when ``value`` does not fit
    ``prop``."""
    if isinstance(value, bytes):
        return value
    kind = PROP_KINDS.get(prop)
    if isinstance(value, str):
        if kind not in (None, PropKind.STRING):
            raise LocalProtocolError(f"property 0x{prop:04X} takes a {kind.value}, not text")
        return _c_string_bytes(value, f"the value of 0x{prop:04X}") + b"\x00"
    if isinstance(value, ImageFormat):
        if kind not in (None, PropKind.IMAGE_FORMAT):
            raise LocalProtocolError(f"property 0x{prop:04X} is not an image format")
        writer = Writer()
        push_image_format(writer, value)
        return writer.getvalue()
    if isinstance(value, bool) or not isinstance(value, int):
        raise LocalProtocolError(f"{value!r} is not a property value")
    if kind is PropKind.IMAGE_FORMAT:
        return encode_prop_value(prop, ImageFormat.from_code(value))
    if kind in (None, PropKind.STRING):
        if kind is PropKind.STRING:
            raise LocalProtocolError(f"property 0x{prop:04X} takes text, not {value!r}")
        kind = PropKind.U32
    width, signed = _WIDTH[kind]
    try:
        low = value.to_bytes(width, "little", signed=signed)
    except OverflowError as exc:
        raise LocalProtocolError(
            f"{value!r} does not fit property 0x{prop:04X} ({kind.value})"
        ) from exc
    # The slot is 4 bytes whatever the width; a negative value fills it like its sign.
    pad = b"\xff" if signed and value < 0 else b"\x00"
    return low + pad * (4 - width)


# -- GetEvent records ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UnknownRecord:
    """A record of a type this module does not decode (or a known type too short for its
    fields): kept whole, never fatal."""

    type: int
    payload: bytes = b""


@dataclass(frozen=True, kw_only=True)
class PropValueChanged:
    """0xC189: ``prop``'s current value. ``raw`` keeps the bytes as sent; :attr:`value` reads
    them for the property (:func:`decode_prop_value`)."""

    type: ClassVar[int] = PROP_VALUE_CHANGED
    prop: int
    raw: bytes

    @property
    def value(self) -> PropValue:
        return decode_prop_value(self.prop, self.raw)

    @classmethod
    def of(cls, prop: int, value: PropValue) -> PropValueChanged:
        """The record an EOS camera sends for ``prop`` = ``value``."""
        return cls(prop=prop, raw=encode_prop_value(prop, value))


@dataclass(frozen=True, kw_only=True)
class AvailListChanged:
    """0xC18A: the values ``prop`` may take now.

    For ``list_type`` 3 (the one libgphoto2 reads), ``values`` holds the 4-byte slots as
    unsigned numbers, or :class:`ImageFormat` entries for the ImageFormat properties;
    :attr:`allowed` reads the slots for the property's width. Other list types keep their bytes
    in ``extra`` (values empty). ``extra`` also keeps bytes after a type-3 list."""

    type: ClassVar[int] = AVAIL_LIST_CHANGED
    prop: int
    list_type: int = LIST_TYPE_ENUMERATION
    values: tuple[int | ImageFormat, ...] = ()
    extra: bytes = b""

    @property
    def allowed(self) -> tuple[PropValue, ...]:
        """The values as :func:`decode_prop_value` would give them."""
        kind = PROP_KINDS.get(self.prop)
        out: list[PropValue] = []
        for value in self.values:
            if isinstance(value, int) and kind in _WIDTH:
                width, signed = _WIDTH[kind]
                out.append(
                    int.from_bytes(value.to_bytes(4, "little")[:width], "little", signed=signed)
                )
            else:
                out.append(value)
        return tuple(out)

    @classmethod
    def of(cls, prop: int, values: Iterable[PropValue]) -> AvailListChanged:
        """An enumeration (list type 3) of ``values`` as a camera sends it."""
        slots: list[int | ImageFormat] = []
        for value in values:
            if PROP_KINDS.get(prop) is PropKind.IMAGE_FORMAT:
                fmt = value if isinstance(value, ImageFormat) else None
                if fmt is None and isinstance(value, int) and not isinstance(value, bool):
                    fmt = ImageFormat.from_code(value)
                if fmt is None:
                    raise LocalProtocolError(f"{value!r} is not an image format")
                slots.append(fmt)
                continue
            if isinstance(value, (str, bytes, ImageFormat)):
                raise LocalProtocolError(f"an allowed-values list holds numbers, not {value!r}")
            slots.append(_u32(encode_prop_value(prop, value), 0))
        return cls(prop=prop, values=tuple(slots))


@dataclass(frozen=True, kw_only=True)
class ObjectAdded:
    """0xC181 ObjectAddedEx, 0xC187 ObjectInfoChangedEx (same layout) and 0xC1A7
    ObjectAddedEx64: a new (or changed) object on a card. ``second_handle`` exists only in the
    64-bit record (libgphoto2 PTP_cee_OA64_2ndOID)."""

    type: int = OBJECT_ADDED_EX
    handle: int
    storage_id: int
    format: int
    size: int
    parent: int
    name: str
    second_handle: int = 0

    @property
    def is_info_change(self) -> bool:
        return self.type == OBJECT_INFO_CHANGED_EX


@dataclass(frozen=True, kw_only=True)
class RequestObjectTransfer:
    """0xC186 / 0xC1A9: the camera asks the host to pull an object (capture to the computer)."""

    type: int = REQUEST_OBJECT_TRANSFER
    handle: int
    format: int
    size: int
    name: str


@dataclass(frozen=True, kw_only=True)
class ObjectRemoved:
    type: ClassVar[int] = OBJECT_REMOVED
    handle: int


@dataclass(frozen=True, kw_only=True)
class ObjectContentChanged:
    type: ClassVar[int] = OBJECT_CONTENT_CHANGED
    handle: int


@dataclass(frozen=True, kw_only=True)
class StorageChanged:
    """0xC184 StorageStatusChanged, 0xC185 StorageInfoChanged, 0xC192 StoreAdded, 0xC193
    StoreRemoved: ``storage_id`` is the u32 at offset 8 (vendors.md 1.2)."""

    type: int
    storage_id: int


@dataclass(frozen=True, kw_only=True)
class CameraStatusChanged:
    """0xC18B: 1 = busy (libgphoto2 will not release the shutter while 1, library.c)."""

    type: ClassVar[int] = CAMERA_STATUS_CHANGED
    status: int


@dataclass(frozen=True, kw_only=True)
class BulbExposureTime:
    type: ClassVar[int] = BULB_EXPOSURE_TIME
    seconds: int


@dataclass(frozen=True, kw_only=True)
class CtgInfoCheckComplete:
    """0xC1A4: emitted after each block of a bulk dump (vendors.md 1.2: 0x20001)."""

    type: ClassVar[int] = CTG_INFO_CHECK_COMPLETE
    value: int


@dataclass(frozen=True, kw_only=True)
class OlcInfoChanged:
    """0xC1A5: a compact status block (u32 length = record size - 8, u16 mask, sub-records).
    The sub-records' sizes depend on the OLCInfoVersion property (0xD199), so they are kept as
    ``data`` (everything after the mask) for the caller who knows the version."""

    type: ClassVar[int] = OLC_INFO_CHANGED
    mask: int
    data: bytes = b""


EosRecord = (
    UnknownRecord
    | PropValueChanged
    | AvailListChanged
    | ObjectAdded
    | RequestObjectTransfer
    | ObjectRemoved
    | ObjectContentChanged
    | StorageChanged
    | CameraStatusChanged
    | BulbExposureTime
    | CtgInfoCheckComplete
    | OlcInfoChanged
)

_STORAGE_TYPES: Final = (STORAGE_STATUS_CHANGED, STORAGE_INFO_CHANGED, STORE_ADDED, STORE_REMOVED)

# Fixed-field offsets from the record start (libgphoto2 PTP_cee_*).
_OA_NAME: Final = 0x28  # ObjectAddedEx: handle 8, storage 0xC, ofc 0x10, size 0x1C, parent 0x20
_OA64_NAME: Final = 0x2C  # 64: size 0x1C (8 bytes), parent 0x24, second handle 0x28
_OT_NAME: Final = 0x1C  # RequestObjectTransfer: handle 8, ofc 0xC, size 0x14


def _pull_avail_list(body: bytes, base: int) -> AvailListChanged:
    """``base``: where the body starts in the whole data (for error offsets)."""
    what = "EOS AvailListChanged"
    reader = Reader(body, what=what)
    prop = reader.uint32()
    list_type = reader.uint32()
    if list_type != LIST_TYPE_ENUMERATION:
        return AvailListChanged(prop=prop, list_type=list_type, extra=reader.rest())
    count = reader.uint32()
    values: list[int | ImageFormat] = []
    if PROP_KINDS.get(prop) is PropKind.IMAGE_FORMAT:
        # Each image format takes at least its own count (4 bytes): check before the loop.
        if count > reader.remaining // 4:
            raise DecodeError(
                f"{count} image formats cannot fit in {reader.remaining} bytes",
                offset=base + 8,
                what=what,
            )
        for _ in range(count):
            values.append(pull_image_format(reader, base=base))
    else:
        if count * 4 > reader.remaining:
            raise DecodeError(
                f"{count} values need {count * 4} bytes, {reader.remaining} are left",
                offset=base + 8,
                what=what,
            )
        values.extend(reader.unpack(struct.Struct(f"<{count}I")))
    return AvailListChanged(
        prop=prop, list_type=list_type, values=tuple(values), extra=reader.rest()
    )


def _pull_typed(record_type: int, body: bytes, base: int) -> EosRecord | None:
    """The typed record, or None when ``body`` is too short for the type's fixed fields."""
    size = len(body) + _HEADER
    if record_type == PROP_VALUE_CHANGED:
        if len(body) < 4:
            return None
        return PropValueChanged(prop=_u32(body, 0), raw=body[4:])
    if record_type == AVAIL_LIST_CHANGED:
        if len(body) < 8 or (_u32(body, 4) == LIST_TYPE_ENUMERATION and len(body) < 12):
            return None
        return _pull_avail_list(body, base + _HEADER)
    if record_type in (OBJECT_ADDED_EX, OBJECT_INFO_CHANGED_EX):
        if size < _OA_NAME:
            return None
        return ObjectAdded(
            type=record_type,
            handle=_u32(body, 0x08 - 8),
            storage_id=_u32(body, 0x0C - 8),
            format=_u16(body, 0x10 - 8),
            size=_u32(body, 0x1C - 8),
            parent=_u32(body, 0x20 - 8),
            name=_c_string(body[_OA_NAME - 8 :]),
        )
    if record_type == OBJECT_ADDED_EX64:
        if size < _OA64_NAME:
            return None
        return ObjectAdded(
            type=record_type,
            handle=_u32(body, 0x08 - 8),
            storage_id=_u32(body, 0x0C - 8),
            format=_u16(body, 0x10 - 8),
            # libgphoto2 reads 32 bits here ("might be 64 bit now?"); the parent follows at
            # 0x24, so the field has room for 64 bits and we read them all.
            size=int.from_bytes(body[0x1C - 8 : 0x24 - 8], "little"),
            parent=_u32(body, 0x24 - 8),
            second_handle=_u32(body, 0x28 - 8),
            name=_c_string(body[_OA64_NAME - 8 :]),
        )
    if record_type in (REQUEST_OBJECT_TRANSFER, REQUEST_OBJECT_TRANSFER64):
        if size < _OT_NAME:
            return None
        # 0xC186 carries a 32-bit size; in the 64-bit variant the size field runs up to the
        # name (0x14..0x1B), so it is read as 64 bits (libgphoto2 reads the low 32).
        width = 8 if record_type == REQUEST_OBJECT_TRANSFER64 else 4
        return RequestObjectTransfer(
            type=record_type,
            handle=_u32(body, 0x08 - 8),
            format=_u16(body, 0x0C - 8),
            size=int.from_bytes(body[0x14 - 8 : 0x14 - 8 + width], "little"),
            name=_c_string(body[_OT_NAME - 8 :]),
        )
    if record_type == OLC_INFO_CHANGED:
        # libgphoto2 only trusts the block when its length is the record's size - 8.
        if len(body) < 6 or _u32(body, 0) != len(body):
            return None
        return OlcInfoChanged(mask=_u16(body, 4), data=body[6:])
    if len(body) < 4:
        return None
    value = _u32(body, 0)
    if record_type == CAMERA_STATUS_CHANGED:
        return CameraStatusChanged(status=value)
    if record_type == OBJECT_REMOVED:
        return ObjectRemoved(handle=value)
    if record_type == OBJECT_CONTENT_CHANGED:
        return ObjectContentChanged(handle=value)
    if record_type in _STORAGE_TYPES:
        return StorageChanged(type=record_type, storage_id=value)
    if record_type == BULB_EXPOSURE_TIME:
        return BulbExposureTime(seconds=value)
    if record_type == CTG_INFO_CHECK_COMPLETE:
        return CtgInfoCheckComplete(value=value)
    return None


def decode_record(record_type: int, payload: BytesLike, *, offset: int = 0) -> EosRecord:
    """One record from its type and the bytes after its 8-byte header. ``offset`` (where the
    record starts in the GetEvent data) only places DecodeErrors."""
    body = bytes(payload)
    typed = _pull_typed(record_type, body, offset)
    return typed if typed is not None else UnknownRecord(type=record_type, payload=body)


def decode_get_event(data: BytesLike) -> tuple[EosRecord, ...]:
    """The records of an EOS_GetEvent data phase, up to the terminator (or the end)."""
    view = bytes(data)
    records: list[EosRecord] = []
    pos = 0
    end = len(view)
    while pos < end:
        if end - pos < _HEADER:
            raise DecodeError(
                f"a record header needs 8 bytes, {end - pos} are left",
                offset=pos,
                what="EOS GetEvent data",
            )
        size = _u32(view, pos)
        record_type = _u32(view, pos + 4)
        if size < _HEADER:
            raise DecodeError(
                f"record size {size} is below the 8-byte header",
                offset=pos,
                what="EOS GetEvent data",
            )
        if size > end - pos:
            raise DecodeError(
                f"record 0x{record_type:04X} claims {size} bytes, {end - pos} are left",
                offset=pos,
                what="EOS GetEvent data",
            )
        if record_type == TERMINATOR:
            break
        records.append(decode_record(record_type, view[pos + _HEADER : pos + size], offset=pos))
        pos += size
    return tuple(records)


def _record_body(record: EosRecord) -> bytes:
    writer = Writer()
    if isinstance(record, UnknownRecord):
        return bytes(record.payload)
    if isinstance(record, PropValueChanged):
        writer.uint32(record.prop)
        writer.raw(record.raw)
    elif isinstance(record, AvailListChanged):
        writer.uint32(record.prop)
        writer.uint32(record.list_type)
        if record.list_type == LIST_TYPE_ENUMERATION:
            writer.uint32(len(record.values))
            for value in record.values:
                if isinstance(value, ImageFormat):
                    push_image_format(writer, value)
                else:
                    writer.uint32(value)
        elif record.values:
            raise LocalProtocolError(f"list type {record.list_type} carries no values")
        writer.raw(record.extra)
    elif isinstance(record, ObjectAdded):
        is64 = record.type == OBJECT_ADDED_EX64
        if record.type not in (OBJECT_ADDED_EX, OBJECT_INFO_CHANGED_EX, OBJECT_ADDED_EX64):
            raise LocalProtocolError(f"0x{record.type:04X} is not an object-added record")
        writer.uint32(record.handle)
        writer.uint32(record.storage_id)
        writer.uint16(record.format)
        writer.raw(bytes(0x1C - 0x12))
        if is64:
            writer.uint64(record.size)
            writer.uint32(record.parent)
            writer.uint32(record.second_handle)
        else:
            writer.uint32(record.size)
            writer.uint32(record.parent)
            writer.raw(bytes(4))
            if record.second_handle:
                raise LocalProtocolError("only the 64-bit ObjectAdded record has a second handle")
        writer.raw(_c_string_bytes(record.name, "object name") + b"\x00")
    elif isinstance(record, RequestObjectTransfer):
        if record.type not in (REQUEST_OBJECT_TRANSFER, REQUEST_OBJECT_TRANSFER64):
            raise LocalProtocolError(f"0x{record.type:04X} is not a transfer request")
        writer.uint32(record.handle)
        writer.uint16(record.format)
        writer.raw(bytes(0x14 - 0x0E))
        if record.type == REQUEST_OBJECT_TRANSFER64:
            writer.uint64(record.size)
        else:
            writer.uint32(record.size)
            writer.raw(bytes(4))
        writer.raw(_c_string_bytes(record.name, "object name") + b"\x00")
    elif isinstance(record, OlcInfoChanged):
        writer.uint32(6 + len(record.data))
        writer.uint16(record.mask)
        writer.raw(record.data)
    elif isinstance(record, StorageChanged):
        if record.type not in _STORAGE_TYPES:
            raise LocalProtocolError(f"0x{record.type:04X} is not a storage record")
        writer.uint32(record.storage_id)
    elif isinstance(record, CameraStatusChanged):
        writer.uint32(record.status)
    elif isinstance(record, (ObjectRemoved, ObjectContentChanged)):
        writer.uint32(record.handle)
    elif isinstance(record, BulbExposureTime):
        writer.uint32(record.seconds)
    else:
        writer.uint32(record.value)
    return writer.getvalue()


def encode_record(record: EosRecord) -> bytes:
    """One record with its 8-byte header."""
    if record.type == TERMINATOR:
        raise LocalProtocolError("type 0 is the terminator, not a record")
    body = _record_body(record)
    if len(body) + _HEADER > _U32_MAX:
        raise LocalProtocolError("an EOS event record is limited to 4 GiB")
    writer = Writer()
    writer.uint32(len(body) + _HEADER)
    writer.uint32(record.type)
    writer.raw(body)
    return writer.getvalue()


def encode_get_event(records: Iterable[EosRecord], *, terminator_size: int = 8) -> bytes:
    """GetEvent data: the records, then the terminator. libgphoto2 ends on an 8-byte terminator
    and discards a record that reaches the very end of the data, so one is always written;
    emulators write a 12-byte one (``terminator_size=12``), which libgphoto2 also accepts."""
    if terminator_size < _HEADER:
        raise LocalProtocolError(f"a terminator has at least 8 bytes, not {terminator_size}")
    out = bytearray()
    for record in records:
        out += encode_record(record)
    out += terminator_size.to_bytes(4, "little") + bytes(terminator_size - 4)
    return bytes(out)


# -- SetDevicePropValueEx ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SetPropValueEx:
    """The data of EOS_SetDevicePropValueEx (0x9110): u32 total size, u32 property, value
    (ptp.c ptp_canon_eos_setdevicepropvalueex; vendors.md 1.5)."""

    prop: int
    raw: bytes

    @property
    def value(self) -> PropValue:
        return decode_prop_value(self.prop, self.raw)

    @classmethod
    def of(cls, prop: int, value: PropValue) -> SetPropValueEx:
        return cls(prop=prop, raw=encode_prop_value(prop, value))


def decode_set_prop_value_ex(data: BytesLike) -> SetPropValueEx:
    """Strict on the size field: below 8 or beyond the data is a DecodeError; bytes after the
    stated size are ignored."""
    view = bytes(data)
    if len(view) < _HEADER:
        raise DecodeError(
            f"needs 8 bytes, got {len(view)}", offset=0, what="EOS SetDevicePropValueEx"
        )
    size = _u32(view, 0)
    if size < _HEADER or size > len(view):
        raise DecodeError(
            f"size field {size} does not fit the {len(view)} bytes sent",
            offset=0,
            what="EOS SetDevicePropValueEx",
        )
    return SetPropValueEx(prop=_u32(view, 4), raw=view[8:size])


def encode_set_prop_value_ex(prop: int | SetPropValueEx, value: PropValue | None = None) -> bytes:
    """``encode_set_prop_value_ex(0xD103, 0x68)`` or ``encode_set_prop_value_ex(record)``."""
    record = prop if isinstance(prop, SetPropValueEx) else None
    if record is None:
        if value is None or not isinstance(prop, int):
            raise LocalProtocolError("a property code and a value are needed")
        record = SetPropValueEx.of(prop, value)
    writer = Writer()
    writer.uint32(_HEADER + len(record.raw))
    writer.uint32(record.prop)
    writer.raw(record.raw)
    return writer.getvalue()


# -- GetObjectInfoEx -----------------------------------------------------------------------------

#: Entry size including its own u32 size field (ptp-pack.c: the entry needs PTP_cefe_Time + 4 =
#: 52 bytes after the size; the sample entry is 0x38).
FOLDER_ENTRY_SIZE: Final = 0x38
_FE_NAME_LEN: Final = 16
#: The "new" flag of a folder entry (not downloaded yet; vendors.md 1.8).
FLAG_NEW: Final = 0x20


@dataclass(frozen=True, kw_only=True)
class FolderEntry:
    """One object of EOS_GetObjectInfoEx (ptp-pack.c ptp_unpack_Canon_EOS_FE). Offsets after
    the entry's size field: handle 0, storage 4, format 8 (u16), flags 16 (u8), size 20,
    parent 24 (seen as the ParentObject in the sample of ptp-pack.c's comment; libgphoto2 does
    not read it), name 32 (16 bytes, NUL-padded 8.3), time 48 (unix seconds)."""

    handle: int
    storage_id: int
    format: int
    flags: int = 0
    size: int
    parent: int = 0
    name: str
    time: int = 0


#: The 52 bytes of an entry after its size field that are read: handle, storage, format (u16),
#: 6 unknown, flags (u8), 3 unknown, size, parent, 4 unknown, name (16), time.
_FE_KNOWN: Final = struct.Struct("<IIH6xB3xII4x16sI")
_U32_FIELD: Final = struct.Struct("<I")


class FolderListing(Sequence[FolderEntry]):
    """The entries of one EOS_GetObjectInfoEx answer, decoded one at a time when asked for.

    A folder's answer is one data phase (up to the 64 MiB data limit: ~1.2 million entries); as
    FolderEntry objects it took ~780 bytes an entry (~0.9 GB). Kept here as each entry's 52 known
    bytes: the answer itself when every entry is 56 bytes (no copy), else those bytes packed
    (an entry that says it is bigger keeps none of its extra bytes). The framing was checked
    whole by :func:`decode_folder_listing`, so every entry decodes."""

    __slots__ = ("_count", "_data", "_first", "_stride")

    def __init__(self, data: bytes | bytearray, first: int, stride: int, count: int) -> None:
        self._data = data
        self._first = first
        self._stride = stride
        self._count = count

    def __len__(self) -> int:
        return self._count

    def _at(self, index: int) -> int:
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("folder listing index out of range")
        return self._first + index * self._stride

    @overload
    def __getitem__(self, index: int) -> FolderEntry: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[FolderEntry, ...]: ...

    def __getitem__(self, index: int | slice) -> FolderEntry | tuple[FolderEntry, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self._count)))
        handle, storage, fmt, flags, size, parent, name, time = _FE_KNOWN.unpack_from(
            self._data, self._at(index)
        )
        return FolderEntry(
            handle=handle,
            storage_id=storage,
            format=fmt,
            flags=flags,
            size=size,
            parent=parent,
            name=_c_string(name),
            time=time,
        )

    def __iter__(self) -> Iterator[FolderEntry]:
        for index in range(self._count):
            yield self[index]

    def handle(self, index: int) -> int:
        """The handle of entry ``index``, without decoding the rest of it."""
        return int(_U32_FIELD.unpack_from(self._data, self._at(index))[0])


#: Entries whose sizes :func:`_all_entries_plain` compares at a time.
_PLAIN_RUN: Final = 1 << 14
_PLAIN_SIZES: Final = array.array("I", [FOLDER_ENTRY_SIZE]) * _PLAIN_RUN


def _all_entries_plain(view: bytes | bytearray, start: int, count: int) -> bool:
    """Whether the ``count`` entries from ``start`` are all 56 bytes (as cameras send them),
    checked in C a run at a time: a 64 MiB answer is ~1.2 million entries."""
    if array.array("I").itemsize != 4 or sys.byteorder != "little":
        return False  # the u32 view below is native; the other path reads little-endian
    if (len(view) - start) // FOLDER_ENTRY_SIZE < count:
        return False
    words = FOLDER_ENTRY_SIZE // 4
    with memoryview(view)[start : start + count * FOLDER_ENTRY_SIZE] as raw, raw.cast("I") as u32:
        for run in range(0, count, _PLAIN_RUN):
            length = min(_PLAIN_RUN, count - run)
            expected = _PLAIN_SIZES if length == _PLAIN_RUN else _PLAIN_SIZES[:length]
            if u32[run * words : (run + length) * words : words] != expected:
                return False
    return True


def decode_folder_listing(data: BytesLike) -> FolderListing:
    """A u32 count, then ``count`` entries each starting with its own size. The count is checked
    against the bytes present (each entry takes at least 56 bytes), then every entry's size,
    before any entry is read: an entry size below 56 or past the data is a DecodeError (the
    entries after it cannot be found). Bytes after the last entry and inside an entry past its
    56 known bytes are ignored. Memory: see :class:`FolderListing`; a bytearray given here is
    kept as it is (not copied), so the caller must not change it after."""
    # Not copied: bytes, or a bytearray its caller hands over (the client's listing sink).
    view = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    what = "EOS GetObjectInfoEx data"
    if not view:
        return FolderListing(b"", 0, _FE_KNOWN.size, 0)  # an empty folder: some send no data
    reader = Reader(view, what=what)
    count = reader.uint32()
    if count > reader.remaining // FOLDER_ENTRY_SIZE:
        raise reader.fail(f"{count} entries cannot fit in {reader.remaining} bytes")
    first = reader.offset + 4  # past the first entry's size field
    if _all_entries_plain(view, reader.offset, count):
        return FolderListing(view, first, FOLDER_ENTRY_SIZE, count)
    end = len(view)
    offset = reader.offset
    for _ in range(count):
        if end - offset < _U32_FIELD.size:  # an earlier entry's size took the bytes
            raise DecodeError(
                f"an entry's size needs 4 bytes; {end - offset} left", offset=offset, what=what
            )
        size = _U32_FIELD.unpack_from(view, offset)[0]
        if size < FOLDER_ENTRY_SIZE or size > end - offset:
            raise DecodeError(
                f"entry size {size} is below 56 or past the {end - offset} bytes left",
                offset=offset,
                what=what,
            )
        offset += size
    known = _FE_KNOWN.size
    packed = bytearray(count * known)
    source = memoryview(view)
    offset = reader.offset
    for index in range(count):
        size = _U32_FIELD.unpack_from(view, offset)[0]
        packed[index * known : (index + 1) * known] = source[offset + 4 : offset + 4 + known]
        offset += size
    source.release()
    return FolderListing(packed, 0, known, count)


def decode_object_info_ex(data: BytesLike) -> tuple[FolderEntry, ...]:
    """Every entry of :func:`decode_folder_listing` at once (small answers, tests)."""
    return tuple(decode_folder_listing(data))


def encode_object_info_ex(entries: Sequence[FolderEntry]) -> bytes:
    """The data a camera sends for one folder. Names hold at most 15 bytes (8.3 names; the 16th
    byte is the NUL libgphoto2 forces)."""
    writer = Writer()
    writer.uint32(len(entries))
    for entry in entries:
        name = _c_string_bytes(entry.name, "file name")
        if len(name) >= _FE_NAME_LEN:
            raise LocalProtocolError(
                f"file name {entry.name!r} has {len(name)} bytes; GetObjectInfoEx holds 15"
            )
        writer.uint32(FOLDER_ENTRY_SIZE)
        writer.uint32(entry.handle)
        writer.uint32(entry.storage_id)
        writer.uint16(entry.format)
        writer.raw(bytes(6))
        writer.uint8(entry.flags)
        writer.raw(bytes(3))
        writer.uint32(entry.size)
        writer.uint32(entry.parent)
        writer.raw(bytes(4))
        writer.raw(name.ljust(_FE_NAME_LEN, b"\x00"))
        writer.uint32(entry.time)
    return writer.getvalue()


# -- GetViewFinderData ---------------------------------------------------------------------------

#: Live-view blob types that carry a JPEG (libgphoto2 library.c:3680-3745): 1, and 11 on newer
#: bodies; 9 is a movie-mode frame that is not a JPEG; others are metadata.
EVF_JPEG_TYPES: Final = (1, 11)


@dataclass(frozen=True, kw_only=True)
class ViewfinderBlob:
    """One blob of EOS_GetViewFinderData (0x9153): u32 length (with its 8-byte header), u32
    type, payload (vendors.md 1.7)."""

    type: int
    payload: bytes

    @property
    def is_jpeg(self) -> bool:
        return self.type in EVF_JPEG_TYPES


def decode_viewfinder_data(data: BytesLike) -> tuple[ViewfinderBlob, ...]:
    """The blobs of a GetViewFinderData answer. A length below 8 or past the data, or a cut
    header, is a DecodeError at the blob's offset."""
    view = bytes(data)
    blobs = []
    pos = 0
    while pos < len(view):
        left = len(view) - pos
        if left < _HEADER:
            raise DecodeError(
                f"a blob header needs 8 bytes, {left} are left",
                offset=pos,
                what="EOS viewfinder data",
            )
        length = _u32(view, pos)
        if length < _HEADER or length > left:
            raise DecodeError(
                f"blob length {length} does not fit the {left} bytes left",
                offset=pos,
                what="EOS viewfinder data",
            )
        blobs.append(ViewfinderBlob(type=_u32(view, pos + 4), payload=view[pos + 8 : pos + length]))
        pos += length
    return tuple(blobs)


def encode_viewfinder_data(blobs: Iterable[ViewfinderBlob]) -> bytes:
    writer = Writer()
    for blob in blobs:
        if len(blob.payload) + _HEADER > _U32_MAX:
            raise LocalProtocolError("a viewfinder blob is limited to 4 GiB")
        writer.uint32(len(blob.payload) + _HEADER)
        writer.uint32(blob.type)
        writer.raw(blob.payload)
    return writer.getvalue()
