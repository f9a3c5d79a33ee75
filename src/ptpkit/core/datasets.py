"""PTP datasets (ISO 15740 §5.5) as frozen dataclasses with paired pull/push codecs.

Each dataset has ``pull_<name>(reader)`` and ``push_<name>(writer, value)`` plus the shortcuts
``Dataset.from_bytes(data)`` and ``dataset.to_bytes()``.

Lenient where real devices are sloppy, strict on every length and count:

- A dataset may *end early*, at a field boundary after its minimum fixed part, where real devices
  leave trailing fields out; libgphoto2 (camlibs/ptp2/ptp-pack.c) accepts the same. The missing
  fields take their empty value ("" for strings, no form for a DevicePropDesc):

  ==============  ===============================================  ================================
  dataset         required (minimum)                               may be left out
  ==============  ===============================================  ================================
  DeviceInfo      StandardVersion .. Manufacturer                  Model, DeviceVersion,
                                                                   SerialNumber
  StorageInfo     StorageType .. FreeSpaceInImages (26 bytes)      StorageDescription, VolumeLabel
  ObjectInfo      StorageID .. SequenceNumber (52 bytes)           Filename, CaptureDate,
                                                                   ModificationDate, Keywords
  DevicePropDesc  code, datatype, GetSet, FactoryDefaultValue      CurrentValue (strings only),
                                                                   FormFlag and form
  ==============  ===============================================  ================================

- A field that *starts* but is cut inside (a string whose count byte claims more characters than
  are left, an array whose count exceeds the bytes present, a form cut after its flag) is a
  DecodeError with its offset, and so is a dataset that ends inside its minimum part. Counts and
  lengths are checked against the bytes present before anything is allocated (buffer.Reader).
- MTP's ObjectPropList stays strict: a list shorter than its element count is a DecodeError (see
  pull_object_prop_list).
- Extra bytes after the last field are ignored, as before: some vendors append their own.

Since left-out fields decode to the values an encoder writes for empty ones, a truncated dataset
re-encodes to the full (longer) layout, and that encoding decodes to the same value.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ptpkit.core.buffer import BytesLike, Reader, Writer
from ptpkit.core.datatypes import (
    DataType,
    Value,
    as_datatype,
    parse_datetime,
    pull_value,
    push_value,
)
from ptpkit.errors import LocalProtocolError

if TYPE_CHECKING:
    import datetime as _dt  # annotations only: datetime imports time (see datatypes.py)

#: ObjectInfo's 32-bit ObjectCompressedSize holds this when the object is 4 GiB or larger; the real
#: size then comes from MTP's ObjectSize object property (uint64) or a vendor operation.
SIZE_UNKNOWN_32: Final = 0xFFFFFFFF

#: Object format code of a folder ("Association", ISO 15740 table 18).
FORMAT_ASSOCIATION: Final = 0x3001
#: Association type of an ordinary folder ("GenericFolder", table 19).
ASSOCIATION_GENERIC_FOLDER: Final = 0x0001


class StorageType(enum.IntEnum):
    """ISO 15740 table 17."""

    UNDEFINED = 0x0000
    FIXED_ROM = 0x0001
    REMOVABLE_ROM = 0x0002
    FIXED_RAM = 0x0003
    REMOVABLE_RAM = 0x0004


class FilesystemType(enum.IntEnum):
    UNDEFINED = 0x0000
    GENERIC_FLAT = 0x0001
    GENERIC_HIERARCHICAL = 0x0002
    DCF = 0x0003


class AccessCapability(enum.IntEnum):
    READ_WRITE = 0x0000
    READ_ONLY_WITHOUT_DELETION = 0x0001
    READ_ONLY_WITH_DELETION = 0x0002


class ProtectionStatus(enum.IntEnum):
    NONE = 0x0000
    READ_ONLY = 0x0001


class GetSet(enum.IntEnum):
    """DevicePropDesc GetSet field."""

    GET = 0x00
    GET_SET = 0x01


class FormFlag(enum.IntEnum):
    """DevicePropDesc FormFlag (ISO 15740 §13.3.3; 3.. are PTP 1.1 / MTP additions)."""

    NONE = 0x00
    RANGE = 0x01
    ENUMERATION = 0x02
    DATETIME = 0x03
    FIXED_LENGTH_ARRAY = 0x04
    REGULAR_EXPRESSION = 0x05
    BYTE_ARRAY = 0x06
    LONG_STRING = 0xFF


def _trailing_string(reader: Reader) -> str:
    """A string that ends a dataset and that devices may leave out: absent ("") only when the
    data ends exactly where it would start. A string that starts and is cut inside is still a
    DecodeError (Reader.string checks its count against the bytes left)."""
    return "" if reader.at_end() else reader.string()


# -- DeviceInfo ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DeviceInfo:
    """What the device is and what it supports (ISO 15740 §5.5.1)."""

    standard_version: int = 100
    vendor_extension_id: int = 0
    vendor_extension_version: int = 0
    vendor_extension_desc: str = ""
    functional_mode: int = 0
    operations_supported: tuple[int, ...] = ()
    events_supported: tuple[int, ...] = ()
    device_properties_supported: tuple[int, ...] = ()
    capture_formats: tuple[int, ...] = ()
    playback_formats: tuple[int, ...] = ()
    manufacturer: str = ""
    model: str = ""
    device_version: str = ""
    serial_number: str = ""

    @classmethod
    def from_bytes(cls, data: BytesLike) -> DeviceInfo:
        return pull_device_info(Reader(data, what="DeviceInfo"))

    def to_bytes(self) -> bytes:
        writer = Writer()
        push_device_info(writer, self)
        return writer.getvalue()

    def supports_operation(self, code: int) -> bool:
        return code in self.operations_supported


def pull_device_info(reader: Reader) -> DeviceInfo:
    # libgphoto2 ptp_unpack_DI fails when the data ends before Manufacturer and accepts a
    # DeviceInfo without Model, DeviceVersion or SerialNumber ("as these are optional its ok if
    # they are not here"): the same boundary here.
    return DeviceInfo(
        standard_version=reader.uint16(),
        vendor_extension_id=reader.uint32(),
        vendor_extension_version=reader.uint16(),
        vendor_extension_desc=reader.string(),
        functional_mode=reader.uint16(),
        operations_supported=reader.uint16_array(),
        events_supported=reader.uint16_array(),
        device_properties_supported=reader.uint16_array(),
        capture_formats=reader.uint16_array(),
        playback_formats=reader.uint16_array(),
        manufacturer=reader.string(),
        model=_trailing_string(reader),
        device_version=_trailing_string(reader),
        serial_number=_trailing_string(reader),
    )


def push_device_info(writer: Writer, info: DeviceInfo) -> None:
    writer.uint16(info.standard_version)
    writer.uint32(info.vendor_extension_id)
    writer.uint16(info.vendor_extension_version)
    writer.string(info.vendor_extension_desc)
    writer.uint16(info.functional_mode)
    writer.uint16_array(info.operations_supported)
    writer.uint16_array(info.events_supported)
    writer.uint16_array(info.device_properties_supported)
    writer.uint16_array(info.capture_formats)
    writer.uint16_array(info.playback_formats)
    writer.string(info.manufacturer)
    writer.string(info.model)
    writer.string(info.device_version)
    writer.string(info.serial_number)


# -- StorageInfo ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StorageInfo:
    """One store of the device (ISO 15740 §5.5.3)."""

    storage_type: int = StorageType.REMOVABLE_RAM
    filesystem_type: int = FilesystemType.GENERIC_HIERARCHICAL
    access_capability: int = AccessCapability.READ_WRITE
    max_capacity: int = 0
    free_space_bytes: int = 0
    free_space_images: int = 0xFFFFFFFF
    description: str = ""
    volume_label: str = ""

    @classmethod
    def from_bytes(cls, data: BytesLike) -> StorageInfo:
        return pull_storage_info(Reader(data, what="StorageInfo"))

    def to_bytes(self) -> bytes:
        writer = Writer()
        push_storage_info(writer, self)
        return writer.getvalue()

    @property
    def read_only(self) -> bool:
        return self.access_capability != AccessCapability.READ_WRITE


def pull_storage_info(reader: Reader) -> StorageInfo:
    # libgphoto2 ptp_unpack_SI needs the 26 fixed bytes and reads StorageDescription and
    # VolumeLabel only where the data still holds them (ptp_unpack_string returns NULL past the
    # end): both strings may be left out.
    return StorageInfo(
        storage_type=reader.uint16(),
        filesystem_type=reader.uint16(),
        access_capability=reader.uint16(),
        max_capacity=reader.uint64(),
        free_space_bytes=reader.uint64(),
        free_space_images=reader.uint32(),
        description=_trailing_string(reader),
        volume_label=_trailing_string(reader),
    )


def push_storage_info(writer: Writer, info: StorageInfo) -> None:
    writer.uint16(info.storage_type)
    writer.uint16(info.filesystem_type)
    writer.uint16(info.access_capability)
    writer.uint64(info.max_capacity)
    writer.uint64(info.free_space_bytes)
    writer.uint32(info.free_space_images)
    writer.string(info.description)
    writer.string(info.volume_label)


# -- ObjectInfo ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ObjectInfo:
    """One object (file or folder) on a store (ISO 15740 §5.5.2).

    ``compressed_size`` is 32 bits on the wire: objects of 4 GiB or more carry 0xFFFFFFFF here.
    Dates are kept as the device's strings (lossless); ``capture_datetime`` parses them.
    """

    storage_id: int = 0
    object_format: int = 0
    protection_status: int = ProtectionStatus.NONE
    compressed_size: int = 0
    thumb_format: int = 0
    thumb_compressed_size: int = 0
    thumb_pix_width: int = 0
    thumb_pix_height: int = 0
    image_pix_width: int = 0
    image_pix_height: int = 0
    image_bit_depth: int = 0
    parent_object: int = 0
    association_type: int = 0
    association_desc: int = 0
    sequence_number: int = 0
    filename: str = ""
    capture_date: str = ""
    modification_date: str = ""
    keywords: str = ""

    @classmethod
    def from_bytes(cls, data: BytesLike) -> ObjectInfo:
        return pull_object_info(Reader(data, what="ObjectInfo"))

    def to_bytes(self) -> bytes:
        writer = Writer()
        push_object_info(writer, self)
        return writer.getvalue()

    @property
    def is_folder(self) -> bool:
        return self.object_format == FORMAT_ASSOCIATION

    @property
    def capture_datetime(self) -> _dt.datetime | None:
        return parse_datetime(self.capture_date)

    @property
    def modification_datetime(self) -> _dt.datetime | None:
        return parse_datetime(self.modification_date)


def pull_object_info(reader: Reader) -> ObjectInfo:
    # libgphoto2 ptp_unpack_OI needs the fixed part (its check, len < PTP_oi_SequenceNumber, is
    # 4 bytes short: here all 52 bytes up to and including SequenceNumber are required), then
    # reads Filename, CaptureDate and ModificationDate only where the data holds them, and never
    # reads Keywords: cameras that end the dataset early (no Keywords, no ModificationDate) work
    # with gphoto2, so they must work here.
    return ObjectInfo(
        storage_id=reader.uint32(),
        object_format=reader.uint16(),
        protection_status=reader.uint16(),
        compressed_size=reader.uint32(),
        thumb_format=reader.uint16(),
        thumb_compressed_size=reader.uint32(),
        thumb_pix_width=reader.uint32(),
        thumb_pix_height=reader.uint32(),
        image_pix_width=reader.uint32(),
        image_pix_height=reader.uint32(),
        image_bit_depth=reader.uint32(),
        parent_object=reader.uint32(),
        association_type=reader.uint16(),
        association_desc=reader.uint32(),
        sequence_number=reader.uint32(),
        filename=_trailing_string(reader),
        capture_date=_trailing_string(reader),
        modification_date=_trailing_string(reader),
        keywords=_trailing_string(reader),
    )


def push_object_info(writer: Writer, info: ObjectInfo) -> None:
    writer.uint32(info.storage_id)
    writer.uint16(info.object_format)
    writer.uint16(info.protection_status)
    writer.uint32(min(info.compressed_size, SIZE_UNKNOWN_32))
    writer.uint16(info.thumb_format)
    writer.uint32(info.thumb_compressed_size)
    writer.uint32(info.thumb_pix_width)
    writer.uint32(info.thumb_pix_height)
    writer.uint32(info.image_pix_width)
    writer.uint32(info.image_pix_height)
    writer.uint32(info.image_bit_depth)
    writer.uint32(info.parent_object)
    writer.uint16(info.association_type)
    writer.uint32(info.association_desc)
    writer.uint32(info.sequence_number)
    writer.string(info.filename)
    writer.string(info.capture_date)
    writer.string(info.modification_date)
    writer.string(info.keywords)


# -- DevicePropDesc ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RangeForm:
    minimum: Value
    maximum: Value
    step: Value

    def contains(self, value: Value) -> bool:
        if not all(isinstance(v, int) for v in (value, self.minimum, self.maximum, self.step)):
            return True
        assert isinstance(value, int)
        assert isinstance(self.minimum, int)
        assert isinstance(self.maximum, int)
        assert isinstance(self.step, int)
        if not self.minimum <= value <= self.maximum:
            return False
        return self.step == 0 or (value - self.minimum) % self.step == 0


@dataclass(frozen=True, kw_only=True)
class EnumerationForm:
    values: tuple[Value, ...]

    def contains(self, value: Value) -> bool:
        return value in self.values


@dataclass(frozen=True, kw_only=True)
class OtherForm:
    """A form this library does not interpret (MTP additions, vendor forms): ``raw`` holds the
    bytes after the form flag. DateTime (3) has none."""

    flag: int
    raw: bytes = b""

    def contains(self, value: Value) -> bool:
        return True


Form = RangeForm | EnumerationForm | OtherForm


@dataclass(frozen=True, kw_only=True)
class DevicePropDesc:
    """Description of one device property (ISO 15740 §5.5.4): type, values and allowed values."""

    code: int
    datatype: DataType
    get_set: int = GetSet.GET
    factory_default: Value = 0
    current: Value = 0
    form: Form | None = None

    @classmethod
    def from_bytes(cls, data: BytesLike) -> DevicePropDesc:
        return pull_device_prop_desc(Reader(data, what="DevicePropDesc"))

    def to_bytes(self) -> bytes:
        writer = Writer()
        push_device_prop_desc(writer, self)
        return writer.getvalue()

    @property
    def writable(self) -> bool:
        return self.get_set == GetSet.GET_SET

    @property
    def form_flag(self) -> int:
        if self.form is None:
            return FormFlag.NONE
        if isinstance(self.form, RangeForm):
            return FormFlag.RANGE
        if isinstance(self.form, EnumerationForm):
            return FormFlag.ENUMERATION
        return self.form.flag

    def allows(self, value: Value) -> bool:
        return self.form is None or self.form.contains(value)


def pull_device_prop_desc(reader: Reader) -> DevicePropDesc:
    code = reader.uint16()
    datatype = as_datatype(reader.uint16(), reader)
    get_set = reader.uint8()
    factory_default = pull_value(reader, datatype)
    current: Value
    form: Form | None
    if reader.at_end() and datatype == DataType.STR:
        # libgphoto2 ptp_unpack_DPD returns a string property whose data ends right after its
        # factory default as it is (current empty, no form). Other types need their current
        # value there (its ptp_unpack_DPV fails at the end of the data).
        current, form = "", None
    else:
        current = pull_value(reader, datatype)
        # libgphoto2 ptp_unpack_DPD (current versions) returns the description without a form
        # when the data ends before the FormFlag byte. A form that starts (its flag byte is
        # there) must be whole.
        form = None if reader.at_end() else pull_form(reader, datatype)
    return DevicePropDesc(
        code=code,
        datatype=datatype,
        get_set=get_set,
        factory_default=factory_default,
        current=current,
        form=form,
    )


def pull_form(reader: Reader, datatype: DataType) -> Form | None:
    """The FormFlag byte and the form that follows it (shared with MTP's ObjectPropDesc)."""
    flag = reader.uint8()
    if flag == FormFlag.NONE:
        return None
    if flag == FormFlag.RANGE:
        return RangeForm(
            minimum=pull_value(reader, datatype),
            maximum=pull_value(reader, datatype),
            step=pull_value(reader, datatype),
        )
    if flag == FormFlag.ENUMERATION:
        count = reader.uint16()
        # Each value takes at least one byte, so a count larger than what is left is a lie:
        # refuse it before building a tuple of that size.
        if count > reader.remaining:
            raise reader.fail(
                f"enumeration claims {count} values, only {reader.remaining} bytes left"
            )
        return EnumerationForm(values=tuple(pull_value(reader, datatype) for _ in range(count)))
    if flag == FormFlag.DATETIME:
        return OtherForm(flag=flag)
    # FixedLengthArray, RegularExpression, ByteArray, LongString (MTP) and vendor forms: their
    # layouts are not settled across sources, and the form always ends the dataset, so keep
    # its bytes as they are (a lossless round trip).
    return OtherForm(flag=flag, raw=reader.rest())


def push_device_prop_desc(writer: Writer, desc: DevicePropDesc) -> None:
    writer.uint16(desc.code)
    writer.uint16(desc.datatype)
    writer.uint8(desc.get_set)
    push_value(writer, desc.datatype, desc.factory_default)
    push_value(writer, desc.datatype, desc.current)
    push_form(writer, desc.datatype, desc.form)


def push_form(writer: Writer, datatype: DataType, form: Form | None) -> None:
    if form is None:
        writer.uint8(FormFlag.NONE)
    elif isinstance(form, RangeForm):
        writer.uint8(FormFlag.RANGE)
        push_value(writer, datatype, form.minimum)
        push_value(writer, datatype, form.maximum)
        push_value(writer, datatype, form.step)
    elif isinstance(form, EnumerationForm):
        if len(form.values) > 0xFFFF:
            raise LocalProtocolError("an enumeration form holds at most 65535 values")
        writer.uint8(FormFlag.ENUMERATION)
        writer.uint16(len(form.values))
        for value in form.values:
            push_value(writer, datatype, value)
    else:
        writer.uint8(form.flag)
        writer.raw(form.raw)


# -- property values and arrays ------------------------------------------------------------------


def decode_value(data: BytesLike, datatype: DataType) -> Value:
    """A property value as sent by GetDevicePropValue."""
    return pull_value(Reader(data, what=f"{datatype.short_name} value"), datatype)


def encode_value(datatype: DataType, value: Value) -> bytes:
    writer = Writer()
    push_value(writer, datatype, value)
    return writer.getvalue()


def decode_uint32_array(data: BytesLike, what: str = "handle list") -> tuple[int, ...]:
    """GetStorageIDs and GetObjectHandles data: an AUINT32."""
    return Reader(data, what=what).uint32_array()


def encode_uint32_array(values: tuple[int, ...] | list[int]) -> bytes:
    writer = Writer()
    writer.uint32_array(values)
    return writer.getvalue()


# -- MTP ObjectPropList (the fast listing path) --------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ObjectPropElement:
    """One (object, property, value) triple of MTP's GetObjPropList (MTP 1.1 §5.4.1)."""

    handle: int
    property_code: int
    datatype: DataType
    value: Value


@dataclass(frozen=True, kw_only=True)
class ObjectPropList:
    elements: tuple[ObjectPropElement, ...] = field(default=())

    @classmethod
    def from_bytes(cls, data: BytesLike) -> ObjectPropList:
        return pull_object_prop_list(Reader(data, what="ObjectPropList"))

    def to_bytes(self) -> bytes:
        writer = Writer()
        push_object_prop_list(writer, self)
        return writer.getvalue()


_ELEMENT_HEADER: Final = struct.Struct("<IHH")


def pull_object_prop_list(reader: Reader) -> ObjectPropList:
    # Strict, unlike the datasets above: libgphoto2 ptp_unpack_OPL keeps the elements read when
    # the list ends short of its count, but advises the BROKEN_MTPGETOBJPROPLIST device flag
    # (stop using the operation). Keeping a short list would drop objects from a listing without a
    # word; a DecodeError makes the client list object by object instead (Camera.walk).
    count = reader.uint32()
    # An element is at least 8 bytes (handle, code, datatype) plus a value of 1 or more bytes.
    if count > reader.remaining // 9:
        raise reader.fail(f"ObjectPropList claims {count} elements, {reader.remaining} bytes left")
    elements: list[ObjectPropElement] = []
    append = elements.append
    for _ in range(count):
        handle, code, type_code = reader.unpack(_ELEMENT_HEADER, "an ObjectPropList element")
        datatype = as_datatype(type_code, reader)
        append(
            ObjectPropElement(
                handle=handle,
                property_code=code,
                datatype=datatype,
                value=pull_value(reader, datatype),
            )
        )
    return ObjectPropList(elements=tuple(elements))


def push_object_prop_list(writer: Writer, plist: ObjectPropList) -> None:
    writer.uint32(len(plist.elements))
    for element in plist.elements:
        writer.uint32(element.handle)
        writer.uint16(element.property_code)
        writer.uint16(element.datatype)
        push_value(writer, element.datatype, element.value)
