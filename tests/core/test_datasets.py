"""Golden bytes for the datasets (ISO 15740 §5.5, MTP 1.1 §5.4.1) and their round trips.

Sources of the vectors:

- "capture": /tmp/research, a throwaway PTP/IP responder talking to Debian's gphoto2 2.5.28 /
  libgphoto2 2.5.30 over 127.0.0.1 (dumpcap). The responder's datasets were decoded by gphoto2
  (``gphoto2 --summary`` printed the values named in the comments), and the upload ObjectInfo was
  *encoded by libgphoto2* (ptp_pack_OI). Bytes are copied from the pcapng as hex.
- "by hand": written from the field tables of ISO 15740 §5.5 (quoted in the module docstrings of
  ptpkit.core.datasets); no public capture at hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptpkit.core.buffer import Reader
from ptpkit.core.datasets import (
    DeviceInfo,
    DevicePropDesc,
    EnumerationForm,
    FormFlag,
    ObjectInfo,
    ObjectPropElement,
    ObjectPropList,
    OtherForm,
    RangeForm,
    StorageInfo,
)
from ptpkit.core.datatypes import DataType, pull_value
from ptpkit.errors import DecodeError, LocalProtocolError

from .core_strategies import (
    device_infos,
    object_infos,
    object_prop_lists,
    prop_descs,
    storage_infos,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# -- DeviceInfo ----------------------------------------------------------------------------------

# capture (cap_summary.pcapng, GetDeviceInfo EndData payload, 0x95 = 149 bytes); gphoto2 printed
# Manufacturer "ptpkit", Model "Virtual Camera", Version "1.0", Serial Number "0001",
# Capture Formats JPEG, Display Formats JPEG + Association.
DEVICE_INFO_CAPTURE = h(
    "6400"  # StandardVersion 100 (1.00)
    "00000000"  # VendorExtensionID
    "0000"  # VendorExtensionVersion
    "00"  # VendorExtensionDesc ""
    "0000"  # FunctionalMode
    "11000000"  # OperationsSupported: 17 x uint16
    "0110 0210 0310 0410 0510 0710 0810 0910 0a10 0b10 0c10 0d10 0e10 1410 1510 1610 1b10"
    "04000000 0240 0340 0d40 0840"  # EventsSupported
    "02000000 0150 1150"  # DevicePropertiesSupported: BatteryLevel, DateTime
    "01000000 0138"  # CaptureFormats: EXIF/JPEG
    "02000000 0138 0130"  # ImageFormats: EXIF/JPEG, Association
    "07 7000 7400 7000 6b00 6900 7400 0000"  # Manufacturer "ptpkit"
    "0f 5600 6900 7200 7400 7500 6100 6c00 2000 4300 6100 6d00 6500 7200 6100 0000"  # Model
    "04 3100 2e00 3000 0000"  # DeviceVersion "1.0"
    "05 3000 3000 3000 3100 0000"  # SerialNumber "0001"
)
CAPTURE_OPERATIONS = (
    0x1001, 0x1002, 0x1003, 0x1004, 0x1005, 0x1007, 0x1008, 0x1009, 0x100A, 0x100B,
    0x100C, 0x100D, 0x100E, 0x1014, 0x1015, 0x1016, 0x101B,
)  # fmt: skip
DEVICE_INFO_CAPTURE_VALUE = DeviceInfo(
    standard_version=100,
    operations_supported=CAPTURE_OPERATIONS,
    events_supported=(0x4002, 0x4003, 0x400D, 0x4008),
    device_properties_supported=(0x5001, 0x5011),
    capture_formats=(0x3801,),
    playback_formats=(0x3801, 0x3001),
    manufacturer="ptpkit",
    model="Virtual Camera",
    device_version="1.0",
    serial_number="0001",
)

# by hand: a vendor DeviceInfo with every field non-zero (ISO 15740 §5.5.1 field order).
DEVICE_INFO_VENDOR = h(
    "6e00"  # StandardVersion 110
    "0b000000"  # VendorExtensionID 11 (Canon)
    "c800"  # VendorExtensionVersion 200
    "0b 6d00 6900 6300 7200 6f00 7300 6f00 6600 7400 2e00 0000"  # "microsoft."
    "0100"  # FunctionalMode 1
    "01000000 0191"  # Operations: 0x9101
    "01000000 0dc1"  # Events: 0xC10D
    "00000000"  # Properties: none
    "00000000"  # CaptureFormats: none
    "01000000 0bb1"  # ImageFormats: 0xB10B
    "06 4300 6100 6e00 6f00 6e00 0000"  # "Canon"
    "02 5200 0000"  # "R"
    "00"  # DeviceVersion ""
    "02 5800 0000"  # SerialNumber "X"
)
DEVICE_INFO_VENDOR_VALUE = DeviceInfo(
    standard_version=110,
    vendor_extension_id=11,
    vendor_extension_version=200,
    vendor_extension_desc="microsoft.",
    functional_mode=1,
    operations_supported=(0x9101,),
    events_supported=(0xC10D,),
    playback_formats=(0xB10B,),
    manufacturer="Canon",
    model="R",
    serial_number="X",
)

# by hand: every field at its default; arrays are a zero count, strings a zero byte.
DEVICE_INFO_EMPTY = h("6400 00000000 0000 00 0000" + " 00000000" * 5 + " 00 00 00 00")


# -- StorageInfo ---------------------------------------------------------------------------------

# capture (cap_summary.pcapng, GetStorageInfo 0x00010001, 0x3c = 60 bytes); gphoto2 printed
# "Storage Type: Builtin RAM" (FixedRAM = 3), "Generic Hierarchical", "Read-Write",
# Maximum 8589934592, Free 4294967296 bytes, Free Images -1, "Virtual SD", "VOL1".
STORAGE_INFO_CAPTURE = h(
    "0300"  # StorageType FixedRAM
    "0200"  # FilesystemType GenericHierarchical
    "0000"  # AccessCapability ReadWrite
    "0000000002000000"  # MaxCapacity 8 GiB (uint64)
    "0000000001000000"  # FreeSpaceInBytes 4 GiB (uint64)
    "ffffffff"  # FreeSpaceInImages: not used
    "0b 5600 6900 7200 7400 7500 6100 6c00 2000 5300 4400 0000"  # "Virtual SD"
    "05 5600 4f00 4c00 3100 0000"  # "VOL1"
)
STORAGE_INFO_CAPTURE_VALUE = StorageInfo(
    storage_type=3,
    filesystem_type=2,
    access_capability=0,
    max_capacity=8 << 30,
    free_space_bytes=4 << 30,
    free_space_images=0xFFFFFFFF,
    description="Virtual SD",
    volume_label="VOL1",
)

# by hand: a read-only removable ROM, capacities beyond 32 bits, empty strings.
STORAGE_INFO_ROM = h("0200 0300 0100 0100000000000080 ffffffffffffffff 05000000 00 00")
STORAGE_INFO_ROM_VALUE = StorageInfo(
    storage_type=2,
    filesystem_type=3,
    access_capability=1,
    max_capacity=0x8000000000000001,
    free_space_bytes=0xFFFFFFFFFFFFFFFF,
    free_space_images=5,
)


# -- ObjectInfo ----------------------------------------------------------------------------------

# capture (upload.pcapng): SendObjectInfo data *encoded by libgphoto2* (ptp_pack_OI) for
# "gphoto2 --upload-file upload.jpg" (5000 bytes) into folder handle 2: 78 bytes.
OBJECT_INFO_LIBGPHOTO2 = h(
    "00000000"  # StorageID 0 (the responder chooses)
    "0138"  # ObjectFormat EXIF/JPEG
    "0000"  # ProtectionStatus
    "88130000"  # ObjectCompressedSize 5000
    "0000"  # ThumbFormat
    "00000000 00000000 00000000"  # ThumbCompressedSize, ThumbPixWidth, ThumbPixHeight
    "00000000 00000000 00000000"  # ImagePixWidth, ImagePixHeight, ImageBitDepth
    "02000000"  # ParentObject 2
    "0000"  # AssociationType
    "00000000"  # AssociationDesc
    "00000000"  # SequenceNumber
    "0b 7500 7000 6c00 6f00 6100 6400 2e00 6a00 7000 6700 0000"  # Filename "upload.jpg"
    "00 00 00"  # CaptureDate, ModificationDate, Keywords: empty
)
OBJECT_INFO_LIBGPHOTO2_VALUE = ObjectInfo(
    object_format=0x3801, compressed_size=5000, parent_object=2, filename="upload.jpg"
)

# "20240102T030405": count 16 (15 characters + NUL), UTF-16LE.
_DATE = "10 3200 3000 3200 3400 3000 3100 3000 3200 5400 3000 3300 3000 3400 3000 3500 0000"
# capture (capture.pcapng, GetObjectInfo 0x0a after InitiateCapture, 0x92 = 146 bytes); gphoto2
# saved the capture as CAP_0010.JPG.
OBJECT_INFO_CAPTURE = h(
    "01000100"  # StorageID 0x00010001
    "0138 0000"  # EXIF/JPEG, not protected
    "0c000000"  # 12 bytes
    "0838"  # ThumbFormat JFIF
    "04000000 a0000000 78000000"  # thumb 4 bytes, 160 x 120
    "80020000 e0010000 18000000"  # 640 x 480, 24 bits
    "02000000"  # ParentObject 2
    "0000 00000000 00000000"  # AssociationType, AssociationDesc, SequenceNumber
    "0d 4300 4100 5000 5f00 3000 3000 3100 3000 2e00 4a00 5000 4700 0000"  # "CAP_0010.JPG"
    + _DATE  # CaptureDate
    + _DATE  # ModificationDate
    + "00"  # Keywords
)
OBJECT_INFO_CAPTURE_VALUE = ObjectInfo(
    storage_id=0x00010001,
    object_format=0x3801,
    compressed_size=12,
    thumb_format=0x3808,
    thumb_compressed_size=4,
    thumb_pix_width=160,
    thumb_pix_height=120,
    image_pix_width=640,
    image_pix_height=480,
    image_bit_depth=24,
    parent_object=2,
    filename="CAP_0010.JPG",
    capture_date="20240102T030405",
    modification_date="20240102T030405",
)

# capture (upload.pcapng, GetObjectInfo 1): the folder DCIM, AssociationType GenericFolder.
OBJECT_INFO_FOLDER = h(
    "01000100 0130 0000 00000000 0000"
    "00000000 00000000 00000000 00000000 00000000 00000000"
    "00000000 0100 00000000 00000000"
    "05 4400 4300 4900 4d00 0000" + _DATE + _DATE + "00"
)
OBJECT_INFO_FOLDER_VALUE = ObjectInfo(
    storage_id=0x00010001,
    object_format=0x3001,
    association_type=1,
    filename="DCIM",
    capture_date="20240102T030405",
    modification_date="20240102T030405",
)


# -- DevicePropDesc ------------------------------------------------------------------------------

# capture (cap_summary.pcapng, GetDevicePropDesc 0x5001, 11 bytes); gphoto2 printed
# "Battery Level(0x5001):(read only) (type=0x2) Range [0 - 100, step 1] value: 80% (80)".
PROP_RANGE_CAPTURE = h(
    "0150"  # DevicePropertyCode BatteryLevel
    "0200"  # DataType UINT8
    "00"  # GetSet: get only
    "64"  # FactoryDefaultValue 100
    "50"  # CurrentValue 80
    "01"  # FormFlag Range
    "00 64 01"  # minimum 0, maximum 100, step 1
)
PROP_RANGE_CAPTURE_VALUE = DevicePropDesc(
    code=0x5001,
    datatype=DataType.UINT8,
    get_set=0,
    factory_default=100,
    current=80,
    form=RangeForm(minimum=0, maximum=100, step=1),
)

# capture (cap_summary.pcapng, GetDevicePropDesc 0x5011, 0x48 = 72 bytes); gphoto2 printed
# "Date & Time(0x5011):(readwrite) (type=0xffff) '20240102T030405'".
PROP_STR_CAPTURE = h(
    "1150 ffff 01"  # DateTime, STR, get/set
    + _DATE  # FactoryDefaultValue
    + _DATE  # CurrentValue
    + "00"  # FormFlag None
)
PROP_STR_CAPTURE_VALUE = DevicePropDesc(
    code=0x5011,
    datatype=DataType.STR,
    get_set=1,
    factory_default="20240102T030405",
    current="20240102T030405",
)

# by hand: WhiteBalance UINT16, Enumeration form (ISO 15740 §5.5.4: NumberOfValues is a UINT16).
PROP_ENUM = h(
    "0550 0400 01"  # WhiteBalance, UINT16, get/set
    "0200 0400"  # factory 2 (Auto), current 4 (Daylight)
    "02"  # FormFlag Enumeration
    "0300 0200 0400 0600"  # 3 values: 2, 4, 6
)
PROP_ENUM_VALUE = DevicePropDesc(
    code=0x5005,
    datatype=DataType.UINT16,
    get_set=1,
    factory_default=2,
    current=4,
    form=EnumerationForm(values=(2, 4, 6)),
)

# by hand: ExposureBiasCompensation INT16, Range -3000..3000 step 333 (signed values).
PROP_SIGNED_RANGE = h("1050 0300 01 0000 18fc 01 48f4 b80b 4d01")
PROP_SIGNED_RANGE_VALUE = DevicePropDesc(
    code=0x5010,
    datatype=DataType.INT16,
    get_set=1,
    factory_default=0,
    current=-1000,
    form=RangeForm(minimum=-3000, maximum=3000, step=333),
)

# by hand: a vendor property of type AUINT8 (an array: uint32 count, then bytes), no form.
PROP_ARRAY = h("00d0 0240 00 03000000 010203 00000000 00")
PROP_ARRAY_VALUE = DevicePropDesc(
    code=0xD000, datatype=DataType.AUINT8, factory_default=(1, 2, 3), current=()
)

# by hand: an Enumeration of STR values (each value a PTP string).
PROP_STR_ENUM = h("0d50 ffff 01 02 4100 0000 02 4200 0000 02 0200 02 4100 0000 02 4200 0000")
PROP_STR_ENUM_VALUE = DevicePropDesc(
    code=0x500D,
    datatype=DataType.STR,
    get_set=1,
    factory_default="A",
    current="B",
    form=EnumerationForm(values=("A", "B")),
)

# by hand: an MTP RegularExpression form (FormFlag 5, MTP 1.1 §5.3.2.3): kept raw, whatever follows.
PROP_OTHER_FORM = h("0350 ffff 01 00 00 05 04 5b00 3000 5d00 0000")
PROP_OTHER_FORM_VALUE = DevicePropDesc(
    code=0x5003,
    datatype=DataType.STR,
    get_set=1,
    factory_default="",
    current="",
    form=OtherForm(flag=5, raw=h("04 5b00 3000 5d00 0000")),
)

# by hand: the DateTime form (FormFlag 3, PTP 1.1) has no form bytes.
PROP_DATETIME_FORM = h("1150 ffff 01 00 00 03")
PROP_DATETIME_FORM_VALUE = DevicePropDesc(
    code=0x5011,
    datatype=DataType.STR,
    get_set=1,
    factory_default="",
    current="",
    form=OtherForm(flag=3),
)

# by hand: UINT128 and INT64 values (the widest scalars).
PROP_UINT128 = h("01d1 0a00 00" + "01" + "00" * 15 + "ff" * 16 + "00")
PROP_UINT128_VALUE = DevicePropDesc(
    code=0xD101, datatype=DataType.UINT128, factory_default=1, current=(1 << 128) - 1
)


# -- ObjectPropList ------------------------------------------------------------------------------

# by hand (MTP 1.1 §5.4.1 ObjectPropList: NumberOfElements uint32, then per element ObjectHandle
# uint32, ObjectPropertyCode uint16, Datatype uint16, Value).
OBJECT_PROP_LIST = h(
    "03000000"  # 3 elements
    "03000000 07dc ffff 06 6100 2e00 6a00 7000 6700 0000"  # handle 3, ObjectFileName "a.jpg"
    "03000000 04dc 0800 8813000000000000"  # handle 3, ObjectSize uint64 5000
    "04000000 0bdc 0600 02000000"  # handle 4, ParentObject uint32 2
)
OBJECT_PROP_LIST_VALUE = ObjectPropList(
    elements=(
        ObjectPropElement(handle=3, property_code=0xDC07, datatype=DataType.STR, value="a.jpg"),
        ObjectPropElement(handle=3, property_code=0xDC04, datatype=DataType.UINT64, value=5000),
        ObjectPropElement(handle=4, property_code=0xDC0B, datatype=DataType.UINT32, value=2),
    )
)


GOLDEN: list[tuple[str, type[Any], bytes, Any]] = [
    ("device-info-capture", DeviceInfo, DEVICE_INFO_CAPTURE, DEVICE_INFO_CAPTURE_VALUE),
    ("device-info-vendor", DeviceInfo, DEVICE_INFO_VENDOR, DEVICE_INFO_VENDOR_VALUE),
    ("device-info-empty", DeviceInfo, DEVICE_INFO_EMPTY, DeviceInfo()),
    ("storage-info-capture", StorageInfo, STORAGE_INFO_CAPTURE, STORAGE_INFO_CAPTURE_VALUE),
    ("storage-info-rom", StorageInfo, STORAGE_INFO_ROM, STORAGE_INFO_ROM_VALUE),
    ("object-info-libgphoto2", ObjectInfo, OBJECT_INFO_LIBGPHOTO2, OBJECT_INFO_LIBGPHOTO2_VALUE),
    ("object-info-capture", ObjectInfo, OBJECT_INFO_CAPTURE, OBJECT_INFO_CAPTURE_VALUE),
    ("object-info-folder", ObjectInfo, OBJECT_INFO_FOLDER, OBJECT_INFO_FOLDER_VALUE),
    ("prop-range-capture", DevicePropDesc, PROP_RANGE_CAPTURE, PROP_RANGE_CAPTURE_VALUE),
    ("prop-str-capture", DevicePropDesc, PROP_STR_CAPTURE, PROP_STR_CAPTURE_VALUE),
    ("prop-enum", DevicePropDesc, PROP_ENUM, PROP_ENUM_VALUE),
    ("prop-signed-range", DevicePropDesc, PROP_SIGNED_RANGE, PROP_SIGNED_RANGE_VALUE),
    ("prop-array", DevicePropDesc, PROP_ARRAY, PROP_ARRAY_VALUE),
    ("prop-str-enum", DevicePropDesc, PROP_STR_ENUM, PROP_STR_ENUM_VALUE),
    ("prop-other-form", DevicePropDesc, PROP_OTHER_FORM, PROP_OTHER_FORM_VALUE),
    ("prop-datetime-form", DevicePropDesc, PROP_DATETIME_FORM, PROP_DATETIME_FORM_VALUE),
    ("prop-uint128", DevicePropDesc, PROP_UINT128, PROP_UINT128_VALUE),
    ("object-prop-list", ObjectPropList, OBJECT_PROP_LIST, OBJECT_PROP_LIST_VALUE),
    ("object-prop-list-empty", ObjectPropList, h("00000000"), ObjectPropList()),
]
GOLDEN_IDS = [name for name, *_ in GOLDEN]


@pytest.mark.parametrize(("name", "cls", "golden", "value"), GOLDEN, ids=GOLDEN_IDS)
def test_dataset_golden(name: str, cls: type[Any], golden: bytes, value: Any) -> None:
    assert cls.from_bytes(golden) == value
    assert value.to_bytes() == golden
    # Decoding works from any bytes-like object (transports hand over views of their buffers).
    assert cls.from_bytes(bytearray(golden)) == value
    assert cls.from_bytes(memoryview(golden)) == value


@pytest.mark.parametrize(("name", "cls", "golden", "value"), GOLDEN, ids=GOLDEN_IDS)
def test_dataset_trailing_bytes_are_tolerated(
    name: str, cls: type[Any], golden: bytes, value: Any
) -> None:
    decoded = cls.from_bytes(golden + b"\x00\xff\x17")
    if isinstance(value, DevicePropDesc) and isinstance(value.form, OtherForm) and value.form.raw:
        # A form kept raw takes every byte after its flag.
        assert decoded.form.raw == value.form.raw + b"\x00\xff\x17"
    else:
        assert decoded == value


# -- datasets that end early ----------------------------------------------------------------------
#
# Ground truth for where a dataset may end, independent of the pull_* functions: each dataset's
# wire layout (ISO 15740 §5.5) walked field by field with the Reader's primitives. ``_layout``
# gives each field's name and end offset, and how many leading fields are required (the minimum
# libgphoto2 ptp-pack.c needs too, see the ptpkit.core.datasets docstring).

Layout = tuple[list[tuple[str, int]], int]


def _walk(reader: Reader, fields: list[tuple[str, Callable[[], object]]]) -> list[tuple[str, int]]:
    ends = []
    for name, pull in fields:
        pull()
        ends.append((name, reader.offset))
    return ends


def _layout(cls: type[Any], data: bytes) -> Layout:
    r = Reader(data)
    if cls is DeviceInfo:
        fields = [
            ("standard_version", r.uint16),
            ("vendor_extension_id", r.uint32),
            ("vendor_extension_version", r.uint16),
            ("vendor_extension_desc", r.string),
            ("functional_mode", r.uint16),
            ("operations_supported", r.uint16_array),
            ("events_supported", r.uint16_array),
            ("device_properties_supported", r.uint16_array),
            ("capture_formats", r.uint16_array),
            ("playback_formats", r.uint16_array),
            ("manufacturer", r.string),
            ("model", r.string),
            ("device_version", r.string),
            ("serial_number", r.string),
        ]
        return _walk(r, fields), 11  # through Manufacturer (ptp_unpack_DI)
    if cls is StorageInfo:
        fields = [
            ("storage_type", r.uint16),
            ("filesystem_type", r.uint16),
            ("access_capability", r.uint16),
            ("max_capacity", r.uint64),
            ("free_space_bytes", r.uint64),
            ("free_space_images", r.uint32),
            ("description", r.string),
            ("volume_label", r.string),
        ]
        return _walk(r, fields), 6  # the 26 fixed bytes (ptp_unpack_SI)
    if cls is ObjectInfo:
        u16, u32 = r.uint16, r.uint32
        fields = [
            ("storage_id", u32),
            ("object_format", u16),
            ("protection_status", u16),
            ("compressed_size", u32),
            ("thumb_format", u16),
            ("thumb_compressed_size", u32),
            ("thumb_pix_width", u32),
            ("thumb_pix_height", u32),
            ("image_pix_width", u32),
            ("image_pix_height", u32),
            ("image_bit_depth", u32),
            ("parent_object", u32),
            ("association_type", u16),
            ("association_desc", u32),
            ("sequence_number", u32),
            ("filename", r.string),
            ("capture_date", r.string),
            ("modification_date", r.string),
            ("keywords", r.string),
        ]
        return _walk(r, fields), 15  # the 52 fixed bytes (ptp_unpack_OI)
    assert cls is DevicePropDesc
    ends = _walk(r, [("code", r.uint16)])
    datatype = DataType(r.uint16())
    ends.append(("datatype", r.offset))
    ends += _walk(
        r,
        [
            ("get_set", r.uint8),
            ("factory_default", lambda: pull_value(r, datatype)),
            ("current", lambda: pull_value(r, datatype)),
        ],
    )
    flag = r.uint8()
    if flag == FormFlag.RANGE:
        for _ in range(3):
            pull_value(r, datatype)
    elif flag == FormFlag.ENUMERATION:
        for _ in range(r.uint16()):
            pull_value(r, datatype)
    elif flag != FormFlag.NONE and flag != FormFlag.DATETIME:
        r.rest()
    ends.append(("form", r.offset))
    # A string property may stop after its factory default (ptp_unpack_DPD); others need current.
    return ends, 4 if datatype is DataType.STR else 5


def _cut(value: Any, kept: int, ends: list[tuple[str, int]]) -> Any:
    """``value`` as decoded from the first ``kept`` fields: the rest take their empty value."""
    empty = {name: (None if name == "form" else "") for name, _ in ends[kept:]}
    return dataclasses.replace(value, **empty)


def _check_every_prefix(cls: type[Any], data: bytes, value: Any, sizes: Iterable[int]) -> None:
    """A prefix that ends at a field boundary past the minimum decodes to ``value`` with the
    missing fields empty; any other prefix is a DecodeError pointing inside it."""
    ends, minimum = _layout(cls, data)
    assert ends[-1][1] == len(data)
    boundaries = {end: index + 1 for index, (_, end) in enumerate(ends) if index + 1 >= minimum}
    raw_form = isinstance(value, DevicePropDesc) and isinstance(value.form, OtherForm)
    flag_end = ends[-2][1] + 1
    for size in sizes:
        if size in boundaries:
            assert cls.from_bytes(data[:size]) == _cut(value, boundaries[size], ends), size
        elif raw_form and size >= flag_end:
            # A form kept raw takes whatever follows its flag: a shorter form, not a cut field.
            assert cls.from_bytes(data[:size]).form.raw == data[flag_end:size]
        else:
            with pytest.raises(DecodeError) as info:
                cls.from_bytes(data[:size])
            assert info.value.offset is not None
            assert 0 <= info.value.offset <= size, (size, info.value.offset)


TRUNCATABLE = [case for case in GOLDEN if case[1] is not ObjectPropList]


@pytest.mark.parametrize(
    ("name", "cls", "golden", "value"), TRUNCATABLE, ids=[c[0] for c in TRUNCATABLE]
)
def test_dataset_ends_early_only_at_a_field_boundary_past_its_minimum(
    name: str, cls: type[Any], golden: bytes, value: Any
) -> None:
    _check_every_prefix(cls, golden, value, range(len(golden) + 1))


@pytest.mark.parametrize(
    "golden", [OBJECT_PROP_LIST, h("00000000")], ids=["object-prop-list", "object-prop-list-empty"]
)
def test_object_prop_list_every_truncation_is_a_decode_error(golden: bytes) -> None:
    # Strict on purpose (pull_object_prop_list): a short list makes the client list object by
    # object rather than silently drop objects.
    for size in range(len(golden)):
        with pytest.raises(DecodeError) as info:
            ObjectPropList.from_bytes(golden[:size])
        assert info.value.offset is not None
        assert 0 <= info.value.offset <= size


# Real truncations, cut from the golden bytes at field boundaries.
_FIXED_OI = 52
_FILENAME_END = _FIXED_OI + 1 + 2 * 0x0D  # "CAP_0010.JPG" + NUL
_CAPTURE_END = _FILENAME_END + 1 + 2 * 0x10  # one date: 15 characters + NUL


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # ends after the file name: no dates, no keywords
        (
            OBJECT_INFO_CAPTURE[:_FILENAME_END],
            dataclasses.replace(OBJECT_INFO_CAPTURE_VALUE, capture_date="", modification_date=""),
        ),
        # ends after CaptureDate: ModificationDate and Keywords missing
        (
            OBJECT_INFO_CAPTURE[:_CAPTURE_END],
            dataclasses.replace(OBJECT_INFO_CAPTURE_VALUE, modification_date=""),
        ),
        # ends after ModificationDate: no Keywords string
        (OBJECT_INFO_CAPTURE[:-1], OBJECT_INFO_CAPTURE_VALUE),
        # the fixed part only (libgphoto2 needs no more)
        (
            OBJECT_INFO_CAPTURE[:_FIXED_OI],
            dataclasses.replace(
                OBJECT_INFO_CAPTURE_VALUE, filename="", capture_date="", modification_date=""
            ),
        ),
    ],
    ids=["after-filename", "after-capture-date", "no-keywords", "fixed-part-only"],
)
def test_object_info_that_ends_early_is_accepted(data: bytes, expected: ObjectInfo) -> None:
    info = ObjectInfo.from_bytes(data)
    assert info == expected
    assert info.keywords == ""
    if not expected.modification_date:
        assert info.modification_datetime is None
    if expected.capture_date:
        assert info.capture_datetime is not None


def test_object_info_cut_inside_a_field_is_a_decode_error() -> None:
    # The file name's count byte says 13 characters; 3 are there.
    with pytest.raises(DecodeError, match="string of 13 characters") as info:
        ObjectInfo.from_bytes(OBJECT_INFO_CAPTURE[: _FIXED_OI + 1 + 6])
    assert info.value.offset == _FIXED_OI + 1
    # CaptureDate cut half way.
    with pytest.raises(DecodeError) as info:
        ObjectInfo.from_bytes(OBJECT_INFO_CAPTURE[: _FILENAME_END + 9])
    assert info.value.offset == _FILENAME_END + 1
    # Inside the fixed part (libgphoto2's len < 48 check would read SequenceNumber past the end).
    with pytest.raises(DecodeError) as info:
        ObjectInfo.from_bytes(OBJECT_INFO_CAPTURE[:50])
    assert info.value.offset == 48


def test_storage_info_without_its_strings_is_accepted() -> None:
    no_label = STORAGE_INFO_CAPTURE[: 26 + 1 + 2 * 0x0B]
    assert StorageInfo.from_bytes(no_label) == dataclasses.replace(
        STORAGE_INFO_CAPTURE_VALUE, volume_label=""
    )
    assert StorageInfo.from_bytes(STORAGE_INFO_CAPTURE[:26]) == dataclasses.replace(
        STORAGE_INFO_CAPTURE_VALUE, description="", volume_label=""
    )
    with pytest.raises(DecodeError) as info:
        StorageInfo.from_bytes(STORAGE_INFO_CAPTURE[:25])
    assert info.value.offset == 22


def test_device_info_without_its_trailing_strings_is_accepted() -> None:
    serial = len("05 3000 3000 3000 3100 0000".replace(" ", "")) // 2
    version = len("04 3100 2e00 3000 0000".replace(" ", "")) // 2
    no_serial = DEVICE_INFO_CAPTURE[:-serial]
    assert DeviceInfo.from_bytes(no_serial) == dataclasses.replace(
        DEVICE_INFO_CAPTURE_VALUE, serial_number=""
    )
    assert DeviceInfo.from_bytes(DEVICE_INFO_CAPTURE[: -serial - version]) == dataclasses.replace(
        DEVICE_INFO_CAPTURE_VALUE, serial_number="", device_version=""
    )
    # Ending before Manufacturer fails, as in libgphoto2's ptp_unpack_DI.
    manufacturer_at = DEVICE_INFO_CAPTURE.index(h("07 7000 7400"))
    with pytest.raises(DecodeError) as info:
        DeviceInfo.from_bytes(DEVICE_INFO_CAPTURE[:manufacturer_at])
    assert info.value.offset == manufacturer_at


def test_prop_desc_that_ends_early_is_accepted_where_libgphoto2_accepts_it() -> None:
    # No form flag: no form.
    assert DevicePropDesc.from_bytes(PROP_RANGE_CAPTURE[:7]) == dataclasses.replace(
        PROP_RANGE_CAPTURE_VALUE, form=None
    )
    # A string property that stops after its factory default.
    date_units = 1 + 2 * 0x10
    assert DevicePropDesc.from_bytes(PROP_STR_CAPTURE[: 5 + date_units]) == dataclasses.replace(
        PROP_STR_CAPTURE_VALUE, current=""
    )
    # A UINT8 property without its current value, and a range cut after its flag, are not.
    with pytest.raises(DecodeError) as info:
        DevicePropDesc.from_bytes(PROP_RANGE_CAPTURE[:6])
    assert info.value.offset == 6
    with pytest.raises(DecodeError) as info:
        DevicePropDesc.from_bytes(PROP_RANGE_CAPTURE[:9])
    assert info.value.offset == 9


def test_array_whose_count_exceeds_the_bytes_present_is_still_a_decode_error() -> None:
    # OperationsSupported claims 0x7FFFFFFF uint16s: refused at the count, nothing allocated.
    data = bytearray(DEVICE_INFO_EMPTY)
    data[11:15] = (0x7FFFFFFF).to_bytes(4, "little")
    with pytest.raises(DecodeError, match="array of 2147483647 elements") as info:
        DeviceInfo.from_bytes(bytes(data))
    assert info.value.offset == 15


def test_device_info_convenience() -> None:
    assert DEVICE_INFO_CAPTURE_VALUE.supports_operation(0x101B)
    assert not DEVICE_INFO_CAPTURE_VALUE.supports_operation(0x9101)


def test_object_info_of_4_gib_or_more_writes_the_32_bit_sentinel() -> None:
    # ISO 15740 §5.5.2: ObjectCompressedSize is a UINT32; 0xFFFFFFFF says "look elsewhere".
    big = dataclasses.replace(OBJECT_INFO_LIBGPHOTO2_VALUE, compressed_size=5 << 30)
    data = big.to_bytes()
    assert data[8:12] == h("ffffffff")
    assert ObjectInfo.from_bytes(data).compressed_size == 0xFFFFFFFF
    assert data[:8] + data[12:] == OBJECT_INFO_LIBGPHOTO2[:8] + OBJECT_INFO_LIBGPHOTO2[12:]


def test_object_info_properties() -> None:
    assert OBJECT_INFO_FOLDER_VALUE.is_folder
    assert not OBJECT_INFO_CAPTURE_VALUE.is_folder
    captured = OBJECT_INFO_CAPTURE_VALUE.capture_datetime
    assert captured is not None
    assert (captured.year, captured.month, captured.day, captured.second) == (2024, 1, 2, 5)
    assert OBJECT_INFO_LIBGPHOTO2_VALUE.capture_datetime is None


def test_prop_desc_properties() -> None:
    assert not PROP_RANGE_CAPTURE_VALUE.writable
    assert PROP_ENUM_VALUE.writable
    assert PROP_RANGE_CAPTURE_VALUE.form_flag == FormFlag.RANGE
    assert PROP_ENUM_VALUE.form_flag == FormFlag.ENUMERATION
    assert PROP_STR_CAPTURE_VALUE.form_flag == FormFlag.NONE
    assert PROP_OTHER_FORM_VALUE.form_flag == 5
    assert PROP_RANGE_CAPTURE_VALUE.allows(100)
    assert not PROP_RANGE_CAPTURE_VALUE.allows(101)
    assert PROP_SIGNED_RANGE_VALUE.allows(-3000 + 333)
    assert not PROP_SIGNED_RANGE_VALUE.allows(-3000 + 300)
    assert PROP_ENUM_VALUE.allows(6)
    assert not PROP_ENUM_VALUE.allows(5)
    assert PROP_OTHER_FORM_VALUE.allows("anything")
    assert PROP_STR_CAPTURE_VALUE.allows("anything")


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (h("0150 0b00 00 00 00 00"), 4),  # datatype 0x000B does not exist
        (h("0150 0000 00 00 00 00"), 4),  # UNDEF has no encoding
        (h("0150 0040 00 00 00 00"), 4),  # 0x4000 would be "array of UNDEF": not a type
        (h("0150 fffe 00 00 00 00"), 4),  # 0xFEFF is not STR (0xFFFF)
    ],
)
def test_prop_desc_with_a_bad_datatype_is_a_decode_error(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        DevicePropDesc.from_bytes(data)
    assert info.value.offset == offset


def test_enumeration_count_beyond_the_data_fails_before_building_anything() -> None:
    # 0xFFFF values claimed, 4 bytes left.
    with pytest.raises(DecodeError) as info:
        DevicePropDesc.from_bytes(h("0550 0400 01 0200 0200 02 ffff 0200 0400"))
    assert info.value.offset == 12  # just after the count


def test_object_prop_list_count_beyond_the_data_fails_at_the_count() -> None:
    with pytest.raises(DecodeError) as info:
        ObjectPropList.from_bytes(h("f0ffffff 03000000 04dc 0600 02000000"))
    assert info.value.offset == 4


def test_object_prop_list_with_an_unknown_datatype_is_a_decode_error() -> None:
    with pytest.raises(DecodeError) as info:
        ObjectPropList.from_bytes(h("01000000 03000000 04dc 3412 02000000"))
    assert info.value.offset == 12


def test_enumeration_of_more_than_65535_values_cannot_be_sent() -> None:
    desc = DevicePropDesc(
        code=0x5005, datatype=DataType.UINT8, form=EnumerationForm(values=(0,) * 0x10000)
    )
    with pytest.raises(LocalProtocolError):
        desc.to_bytes()


def test_value_of_the_wrong_kind_cannot_be_sent() -> None:
    with pytest.raises(LocalProtocolError):
        DevicePropDesc(code=0x5001, datatype=DataType.UINT8, current="80").to_bytes()
    with pytest.raises(LocalProtocolError):
        DevicePropDesc(code=0x5001, datatype=DataType.UINT8, current=256).to_bytes()
    with pytest.raises(LocalProtocolError):
        StorageInfo(storage_type=0x10000).to_bytes()
    with pytest.raises(LocalProtocolError):
        ObjectInfo(filename="x" * 255).to_bytes()


# -- round trips ---------------------------------------------------------------------------------

DATASET_STRATEGIES: list[tuple[str, st.SearchStrategy[Any], Callable[[bytes], Any]]] = [
    ("DeviceInfo", device_infos, DeviceInfo.from_bytes),
    ("StorageInfo", storage_infos, StorageInfo.from_bytes),
    ("ObjectInfo", object_infos, ObjectInfo.from_bytes),
    ("DevicePropDesc", prop_descs(), DevicePropDesc.from_bytes),
    ("ObjectPropList", object_prop_lists, ObjectPropList.from_bytes),
]


@pytest.mark.parametrize(
    ("name", "strategy", "decode"), DATASET_STRATEGIES, ids=[n for n, *_ in DATASET_STRATEGIES]
)
def test_dataset_round_trip(
    name: str, strategy: st.SearchStrategy[Any], decode: Callable[[bytes], Any]
) -> None:
    @settings(max_examples=300, deadline=None)
    @given(strategy)
    def check(value: Any) -> None:
        data = value.to_bytes()
        assert decode(data) == value
        # Encoding is deterministic and the decoder consumed exactly what the encoder wrote.
        assert decode(data).to_bytes() == data

    check()


@pytest.mark.parametrize(
    ("name", "strategy", "decode"),
    DATASET_STRATEGIES[:4],
    ids=[n for n, *_ in DATASET_STRATEGIES[:4]],
)
def test_any_prefix_decodes_at_a_field_boundary_and_fails_cleanly_elsewhere(
    name: str, strategy: st.SearchStrategy[Any], decode: Callable[[bytes], Any]
) -> None:
    @settings(max_examples=150, deadline=None)
    @given(strategy, st.data())
    def check(value: Any, data: st.DataObject) -> None:
        encoded = value.to_bytes()
        ends, _ = _layout(type(value), encoded)
        # Every field boundary, and a few cuts anywhere.
        sizes = {0, len(encoded)} | {end for _, end in ends}
        sizes |= set(data.draw(st.lists(st.integers(0, len(encoded)), max_size=24)))
        _check_every_prefix(type(value), encoded, value, sorted(sizes))

    check()
