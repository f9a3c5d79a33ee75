"""Sony's SDIO wire formats as sans-IO codecs.

Facts from libgphoto2 ``camlibs/ptp2/ptp.c`` (``ptp_sony_get_vendorpropcodes``,
``ptp_sony_getalldevicepropdesc``, ``ptp_sony_9280``), ``ptp-pack.c`` (``ptp_unpack_Sony_DPD``) and
``library.c`` (Sony live view), as summarised in vendors.md section 3. The code is ours.

- :func:`decode_ext_device_info` / :func:`encode_ext_device_info`: the data of
  SDIO_GetExtDeviceInfo 0x9202: ``u16 version``, then a PTP u16 array (u32 count + u16s) of
  property codes and, when bytes remain, a second one of control codes (libgphoto2 reads the
  second array only "if psize1*2 + 2 + 4 < xsize"). Both hold operation (0x1xxx), event (0x4xxx)
  and property (0x5xxx) codes by class (``code & 0x7000``).
- :func:`decode_all_prop_info` / :func:`encode_all_prop_info`: the data of
  SDIO_GetAllExtDevicePropInfo 0x9209: ``u64 count`` then ``count`` Sony descriptors
  (:class:`SonyPropDesc`): ``u16 code, u16 datatype, u8 getset, u8 isenabled``, default and
  current value, ``u8 form flag`` and the form; on 2024 and later bodies a second enumeration
  (``u16 n`` + values) follows an enumeration form, told apart from the next descriptor because
  its count is below 0x200 while a property code is 0x5xxx or 0xDxxx (ptp_unpack_Sony_DPD).
- :func:`decode_live_view` / :func:`encode_live_view`: the object 0xFFFFC002: a header
  ``u32 offset_to_jpeg, u32 jpeg_size, u32 offset_to_focal_frame_info, u32 focal_frame_size``
  (vendors.md 3.5: a TypeScript reimplementation's description, unconfirmed by libgphoto2, which
  scans for FF D8), then the JPEG.
- :func:`decode_wifi_block` / :func:`encode_wifi_block`: the data-out of 0x9280 (Sony over Wi-Fi,
  before file access and at exit): ``u32 additional, u32 data2, u32 data3, u32 data4`` and, when
  additional is 2, ``u8 x, u8 y``.

Strict on every count and length (a count larger than the bytes can hold fails before anything is
allocated), lenient where bodies are sloppy: the second code array may be missing; the last
descriptor may end after its current value (no form flag: no form).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ptpkit.core.buffer import BytesLike, Reader, Writer
from ptpkit.core.datasets import (
    DevicePropDesc,
    EnumerationForm,
    Form,
    GetSet,
    pull_form,
    push_form,
)
from ptpkit.core.datatypes import DataType, Value, as_datatype, pull_value, push_value
from ptpkit.errors import DecodeError, LocalProtocolError

__all__ = [
    "LIVE_VIEW_HEADER_BYTES",
    "PROTOCOL_2_00",
    "PROTOCOL_3_00",
    "ExtDeviceInfo",
    "LiveViewFrame",
    "SonyPropDesc",
    "WifiBlock",
    "decode_all_prop_info",
    "decode_ext_device_info",
    "decode_live_view",
    "decode_wifi_block",
    "encode_all_prop_info",
    "encode_ext_device_info",
    "encode_live_view",
    "encode_wifi_block",
]

#: SDIO protocol versions a host asks for in 0x9202 (libgphoto2 library.c: 0x12C = 3.00, "2020
#: models or later"; 0xC8 = 2.00, earlier bodies).
PROTOCOL_3_00: Final = 0x12C
PROTOCOL_2_00: Final = 0xC8

#: The smallest descriptor: code, type, getset, isenabled, two one-byte values (the form flag may
#: be missing on the last one).
_MIN_DESC_BYTES: Final = 2 + 2 + 1 + 1 + 1 + 1
#: A second enumeration's count is below this; a descriptor's code never is (ptp_unpack_Sony_DPD).
SECOND_LIST_BELOW: Final = 0x200
#: Sony getset values (vendors.md 3.2): 0 read only, 1 read/write; in protocol 2 control
#: properties have bit 0x80 (0x81 button, 0x82 notch, 0x83 lock, 0x84 variable).
GETSET_READ_ONLY: Final = 0
GETSET_READ_WRITE: Final = 1
#: isenabled: 0 greyed out, 1 enabled, 2 display only.
ENABLED: Final = 1


# -- 0x9202 ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ExtDeviceInfo:
    """What SDIO_GetExtDeviceInfo answered."""

    version: int
    property_codes: tuple[int, ...] = ()
    control_codes: tuple[int, ...] = ()

    def codes(self) -> tuple[int, ...]:
        """Both arrays, in order (libgphoto2 merges them into DeviceInfo by class)."""
        return (*self.property_codes, *self.control_codes)


def decode_ext_device_info(data: BytesLike) -> ExtDeviceInfo:
    """An 0x9202 answer. Empty data is a DecodeError (a body not ready yet answers nothing: the
    caller asks again, libgphoto2 up to 20 times)."""
    reader = Reader(data, what="Sony SDIO_GetExtDeviceInfo (0x9202)")
    version = reader.uint16()
    props = reader.uint16_array()
    controls = () if reader.at_end() else reader.uint16_array()
    return ExtDeviceInfo(version=version, property_codes=props, control_codes=controls)


def encode_ext_device_info(info: ExtDeviceInfo) -> bytes:
    writer = Writer()
    writer.uint16(info.version)
    writer.uint16_array(info.property_codes)
    writer.uint16_array(info.control_codes)
    return writer.getvalue()


# -- 0x9209 ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class SonyPropDesc:
    """One Sony property descriptor as 0x9209 carries it."""

    code: int
    datatype: DataType
    get_set: int = GETSET_READ_WRITE
    is_enabled: int = ENABLED
    factory_default: Value = 0
    current: Value = 0
    form: Form | None = None
    #: 2024+ bodies: the second enumeration after the form (libgphoto2 uses it in place of the
    #: first); None when the descriptor had none.
    second_values: tuple[Value, ...] | None = None

    @property
    def writable(self) -> bool:
        """Settable now: read/write (or a protocol-2 control) and enabled (ptp_unpack_Sony_DPD
        makes greyed-out and display-only properties read only)."""
        return self.get_set != GETSET_READ_ONLY and self.is_enabled == ENABLED

    @property
    def allowed_form(self) -> Form | None:
        """The form a host offers: the second enumeration where there is one."""
        if self.second_values is not None and isinstance(self.form, EnumerationForm):
            return EnumerationForm(values=self.second_values)
        return self.form

    def to_standard(self) -> DevicePropDesc:
        """As a standard DevicePropDesc (what the rest of ptpkit shows and checks)."""
        return DevicePropDesc(
            code=self.code,
            datatype=self.datatype,
            get_set=GetSet.GET_SET if self.writable else GetSet.GET,
            factory_default=self.factory_default,
            current=self.current,
            form=self.allowed_form,
        )


def _pull_sony_desc(reader: Reader, raw: bytes) -> SonyPropDesc:
    code = reader.uint16()
    datatype = as_datatype(reader.uint16(), reader)
    get_set = reader.uint8()
    is_enabled = reader.uint8()
    default = pull_value(reader, datatype)
    current = pull_value(reader, datatype)
    if reader.at_end():
        # A last descriptor cut after its current value: no form (lenient, as libgphoto2 is
        # with a standard DevicePropDesc).
        return SonyPropDesc(
            code=code,
            datatype=datatype,
            get_set=get_set,
            is_enabled=is_enabled,
            factory_default=default,
            current=current,
        )
    form = pull_form(reader, datatype)
    second: tuple[Value, ...] | None = None
    at = reader.offset
    # Peek: a u16 below 0x200 is a second list's count, anything else the next code.
    if (
        isinstance(form, EnumerationForm)
        and reader.remaining >= 2
        and int.from_bytes(raw[at : at + 2], "little") < SECOND_LIST_BELOW
    ):
        count = reader.uint16()
        if count > reader.remaining:
            raise reader.fail(
                f"property 0x{code:04X}: second list claims {count} values, "
                f"only {reader.remaining} bytes left"
            )
        second = tuple(pull_value(reader, datatype) for _ in range(count))
    return SonyPropDesc(
        code=code,
        datatype=datatype,
        get_set=get_set,
        is_enabled=is_enabled,
        factory_default=default,
        current=current,
        form=form,
        second_values=second,
    )


def _push_sony_desc(writer: Writer, desc: SonyPropDesc) -> None:
    if desc.code < SECOND_LIST_BELOW:
        # It would read back as the previous descriptor's second list.
        raise LocalProtocolError(f"a Sony property code is 0x0200 or above, not 0x{desc.code:04X}")
    writer.uint16(desc.code)
    writer.uint16(desc.datatype)
    writer.uint8(desc.get_set)
    writer.uint8(desc.is_enabled)
    push_value(writer, desc.datatype, desc.factory_default)
    push_value(writer, desc.datatype, desc.current)
    push_form(writer, desc.datatype, desc.form)
    if desc.second_values is not None:
        if not isinstance(desc.form, EnumerationForm):
            raise LocalProtocolError("a second list follows an enumeration form only")
        if len(desc.second_values) >= SECOND_LIST_BELOW:
            raise LocalProtocolError(f"a second list holds under {SECOND_LIST_BELOW} values")
        writer.uint16(len(desc.second_values))
        for value in desc.second_values:
            push_value(writer, desc.datatype, value)


def decode_all_prop_info(data: BytesLike) -> tuple[SonyPropDesc, ...]:
    """The descriptors of an 0x9209 answer, in the camera's order."""
    raw = bytes(data)
    reader = Reader(raw, what="Sony SDIO_GetAllExtDevicePropInfo (0x9209)")
    count = reader.uint64()
    if count * _MIN_DESC_BYTES > reader.remaining:
        raise reader.fail(f"{count} property descriptors cannot fit in {reader.remaining} bytes")
    return tuple(_pull_sony_desc(reader, raw) for _ in range(count))


def encode_all_prop_info(descs: Sequence[SonyPropDesc]) -> bytes:
    writer = Writer()
    writer.uint64(len(descs))
    for desc in descs:
        _push_sony_desc(writer, desc)
    return writer.getvalue()


# -- live view 0xFFFFC002 --------------------------------------------------------------------------

#: The header's four u32 fields.
LIVE_VIEW_HEADER_BYTES: Final = 16
_SOI: Final = b"\xff\xd8"
_EOI: Final = b"\xff\xd9"


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveViewFrame:
    """A live-view object: the JPEG, and the focus frame information when the header had any."""

    jpeg: bytes
    focal_frame: bytes = b""
    #: True when the header's offset pointed at the JPEG; False when it was found by scanning.
    from_header: bool = True


def decode_live_view(data: BytesLike) -> LiveViewFrame:
    """The JPEG in a live-view object. The header's offset is used when it points at FF D8 and
    its size fits; otherwise the data is scanned for FF D8 up to the last FF D9 (libgphoto2
    library.c does only the scan; gphoto2#389 had FF D8 inside a header)."""
    raw = bytes(data)
    if len(raw) >= LIVE_VIEW_HEADER_BYTES:
        reader = Reader(raw, what="Sony live-view header")
        offset, size, focal_offset, focal_size = (reader.uint32() for _ in range(4))
        if (
            offset >= LIVE_VIEW_HEADER_BYTES
            and size >= 2
            and offset + size <= len(raw)
            and raw[offset : offset + 2] == _SOI
        ):
            focal = b""
            if focal_size and focal_offset + focal_size <= len(raw):
                focal = raw[focal_offset : focal_offset + focal_size]
            return LiveViewFrame(jpeg=raw[offset : offset + size], focal_frame=focal)
    start = raw.find(_SOI)
    if start < 0:
        raise DecodeError("Sony live view: no JPEG (no FF D8) in the data", offset=0)
    end = raw.rfind(_EOI)
    stop = end + 2 if end > start else len(raw)
    return LiveViewFrame(jpeg=raw[start:stop], from_header=False)


def encode_live_view(frame: LiveViewFrame, *, padding_bytes: int = 0) -> bytes:
    """A live-view object: the header, ``padding_bytes`` of zeros, the JPEG, the focus frame."""
    offset = LIVE_VIEW_HEADER_BYTES + padding_bytes
    focal_offset = offset + len(frame.jpeg) if frame.focal_frame else 0
    writer = Writer()
    writer.uint32(offset)
    writer.uint32(len(frame.jpeg))
    writer.uint32(focal_offset)
    writer.uint32(len(frame.focal_frame))
    writer.raw(bytes(padding_bytes))
    writer.raw(frame.jpeg)
    writer.raw(frame.focal_frame)
    return writer.getvalue()


# -- 0x9280 ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class WifiBlock:
    """0x9280's data (ptp_sony_9280): ``additional`` is 0 or 2; with 2, ``x`` and ``y`` follow."""

    additional: int
    data2: int = 0
    data3: int = 0
    data4: int = 0
    x: int = 0
    y: int = 0


#: What libgphoto2 sends before file access over Wi-Fi (library.c: 0x9280(4, 2,2,0,0, 1,1))
#: and at exit (0x9280(4, 0,5,0,0)).
WIFI_OPEN: Final = WifiBlock(additional=2, data2=2, data3=0, data4=0, x=1, y=1)
WIFI_CLOSE: Final = WifiBlock(additional=0, data2=5)


def decode_wifi_block(data: BytesLike) -> WifiBlock:
    reader = Reader(data, what="Sony 0x9280 data")
    additional = reader.uint32()
    if additional not in (0, 2):
        raise DecodeError(f"Sony 0x9280: additional is 0 or 2, not {additional}", offset=0)
    if len(data) != 16 + additional:
        raise DecodeError(
            f"Sony 0x9280: additional {additional} means {16 + additional} bytes, not {len(data)}",
            offset=min(len(data), 16 + additional),
        )
    data2, data3, data4 = reader.uint32(), reader.uint32(), reader.uint32()
    x = y = 0
    if additional == 2:
        x, y = reader.uint8(), reader.uint8()
    return WifiBlock(additional=additional, data2=data2, data3=data3, data4=data4, x=x, y=y)


def encode_wifi_block(block: WifiBlock) -> bytes:
    if block.additional not in (0, 2):
        raise LocalProtocolError("Sony 0x9280: additional is 0 or 2")
    if block.additional == 0 and (block.x or block.y):
        raise LocalProtocolError("Sony 0x9280: x and y are sent only with additional 2")
    writer = Writer()
    writer.uint32(block.additional)
    writer.uint32(block.data2)
    writer.uint32(block.data3)
    writer.uint32(block.data4)
    if block.additional == 2:
        writer.uint8(block.x)
        writer.uint8(block.y)
    return writer.getvalue()
