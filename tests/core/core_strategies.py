"""Hypothesis strategies for valid values of the core's datasets, containers and packets.

"Valid" means what a correct peer could send: strings of at most 254 UTF-16 units without NUL
or lone surrogates (ISO 15740 §5.3.4), integers in the range of their datatype, at most five
parameters (§9.3), GUIDs of 16 bytes (CIPA DC-X005 §2.3.1).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ptpkit.core.datasets import (
    DeviceInfo,
    DevicePropDesc,
    EnumerationForm,
    ObjectInfo,
    ObjectPropElement,
    ObjectPropList,
    OtherForm,
    RangeForm,
    StorageInfo,
)
from ptpkit.core.datatypes import DataType, Value
from ptpkit.core.events import Event, Request, Response
from ptpkit.core.ptpip import (
    CancelPacket,
    DataPacket,
    EndData,
    EventPacket,
    InitCommandAck,
    InitCommandRequest,
    InitEventAck,
    InitEventRequest,
    InitFail,
    OperationRequest,
    OperationResponse,
    Packet,
    ProbeRequest,
    ProbeResponse,
    StartData,
)
from ptpkit.core.usb import Container

# -- scalars -------------------------------------------------------------------------------------


def uint(bits: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=(1 << bits) - 1)


def sint(bits: int) -> st.SearchStrategy[int]:
    return st.integers(min_value=-(1 << (bits - 1)), max_value=(1 << (bits - 1)) - 1)


u8, u16, u32, u64 = uint(8), uint(16), uint(32), uint(64)

# No NUL (it ends a PTP string), no lone surrogates (they cannot be UTF-16).
_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


#: A PTP string: at most 254 UTF-16 units (the count byte includes the NUL).
ptp_text: st.SearchStrategy[str] = st.text(_CHARS, max_size=254).filter(
    lambda text: _utf16_units(text) <= 254
)
#: A PTP/IP friendly name: NUL-terminated UTF-16 without a count byte, so any length.
friendly_names: st.SearchStrategy[str] = st.text(_CHARS, max_size=40)

params = st.lists(u32, max_size=5).map(tuple)
guids = st.binary(min_size=16, max_size=16)
short_u16_arrays = st.lists(u16, max_size=12).map(tuple)

# -- typed values --------------------------------------------------------------------------------

ENCODABLE_TYPES: tuple[DataType, ...] = tuple(t for t in DataType if t is not DataType.UNDEF)


def _scalar(datatype: DataType) -> st.SearchStrategy[int]:
    bits = datatype.size * 8
    return sint(bits) if datatype.signed else uint(bits)


def values_of(datatype: DataType) -> st.SearchStrategy[Any]:
    """Values a property of ``datatype`` can hold."""
    if datatype is DataType.STR:
        return ptp_text
    if datatype.is_array:
        return st.lists(_scalar(datatype.element), max_size=6).map(tuple)
    return _scalar(datatype)


datatypes = st.sampled_from(ENCODABLE_TYPES)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[DataType, Value]:
    datatype = draw(datatypes)
    return datatype, draw(values_of(datatype))


# -- datasets ------------------------------------------------------------------------------------

device_infos = st.builds(
    DeviceInfo,
    standard_version=u16,
    vendor_extension_id=u32,
    vendor_extension_version=u16,
    vendor_extension_desc=ptp_text,
    functional_mode=u16,
    operations_supported=short_u16_arrays,
    events_supported=short_u16_arrays,
    device_properties_supported=short_u16_arrays,
    capture_formats=short_u16_arrays,
    playback_formats=short_u16_arrays,
    manufacturer=ptp_text,
    model=ptp_text,
    device_version=ptp_text,
    serial_number=ptp_text,
)

storage_infos = st.builds(
    StorageInfo,
    storage_type=u16,
    filesystem_type=u16,
    access_capability=u16,
    max_capacity=u64,
    free_space_bytes=u64,
    free_space_images=u32,
    description=ptp_text,
    volume_label=ptp_text,
)

object_infos = st.builds(
    ObjectInfo,
    storage_id=u32,
    object_format=u16,
    protection_status=u16,
    compressed_size=u32,
    thumb_format=u16,
    thumb_compressed_size=u32,
    thumb_pix_width=u32,
    thumb_pix_height=u32,
    image_pix_width=u32,
    image_pix_height=u32,
    image_bit_depth=u32,
    parent_object=u32,
    association_type=u16,
    association_desc=u32,
    sequence_number=u32,
    filename=ptp_text,
    capture_date=ptp_text,
    modification_date=ptp_text,
    keywords=ptp_text,
)


@st.composite
def prop_descs(draw: st.DrawFn) -> DevicePropDesc:
    datatype = draw(datatypes)
    value = values_of(datatype)
    kind = draw(st.sampled_from(["none", "range", "enum", "datetime", "other"]))
    form: RangeForm | EnumerationForm | OtherForm | None
    if kind == "none":
        form = None
    elif kind == "range":
        form = RangeForm(minimum=draw(value), maximum=draw(value), step=draw(value))
    elif kind == "enum":
        form = EnumerationForm(values=tuple(draw(st.lists(value, max_size=8))))
    elif kind == "datetime":
        form = OtherForm(flag=0x03)  # DateTime form: no bytes follow
    else:
        # Forms kept raw: FixedLengthArray, RegularExpression, ByteArray, LongString, vendor.
        form = OtherForm(flag=draw(st.integers(4, 0xFF)), raw=draw(st.binary(max_size=32)))
    return DevicePropDesc(
        code=draw(u16),
        datatype=datatype,
        get_set=draw(u8),
        factory_default=draw(value),
        current=draw(value),
        form=form,
    )


@st.composite
def prop_elements(draw: st.DrawFn) -> ObjectPropElement:
    datatype, value = draw(typed_values())
    return ObjectPropElement(
        handle=draw(u32), property_code=draw(u16), datatype=datatype, value=value
    )


object_prop_lists = st.builds(
    ObjectPropList, elements=st.lists(prop_elements(), max_size=8).map(tuple)
)

# -- USB -----------------------------------------------------------------------------------------

containers = st.builds(
    Container,
    type=st.integers(1, 4),
    code=u16,
    transaction_id=u32,
    payload=st.binary(max_size=64),
)

requests = st.builds(Request, code=u16, transaction_id=u32, params=params)
responses = st.builds(Response, code=u16, transaction_id=u32, params=params)
events = st.builds(Event, code=u16, transaction_id=u32, params=params)

# -- PTP/IP --------------------------------------------------------------------------------------

packets: st.SearchStrategy[Packet] = st.one_of(
    st.builds(InitCommandRequest, guid=guids, friendly_name=friendly_names, protocol_version=u32),
    st.builds(
        InitCommandAck,
        connection_number=u32,
        guid=guids,
        friendly_name=friendly_names,
        protocol_version=u32,
    ),
    st.builds(InitEventRequest, connection_number=u32),
    st.just(InitEventAck()),
    st.builds(InitFail, reason=u32),
    st.builds(OperationRequest, data_phase=u32, code=u16, transaction_id=u32, params=params),
    st.builds(OperationResponse, code=u16, transaction_id=u32, params=params),
    st.builds(EventPacket, code=u16, transaction_id=u32, params=params),
    st.builds(StartData, transaction_id=u32, total_length=u64),
    st.builds(DataPacket, transaction_id=u32, payload=st.binary(max_size=64)),
    st.builds(EndData, transaction_id=u32, payload=st.binary(max_size=64)),
    st.builds(CancelPacket, transaction_id=u32),
    st.just(ProbeRequest()),
    st.just(ProbeResponse()),
)
