"""Sony's SDIO wire formats (ptpkit.core.sony): golden bytes written from the layouts libgphoto2
reads (ptp.c ptp_sony_get_vendorpropcodes, ptp_sony_9280; ptp-pack.c ptp_unpack_Sony_DPD),
round trips, and bounded failures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptpkit.core import sony
from ptpkit.core.datasets import EnumerationForm, GetSet, RangeForm
from ptpkit.core.datatypes import DataType
from ptpkit.errors import DecodeError, LocalProtocolError

from .core_strategies import ENCODABLE_TYPES, values_of

# -- 0x9202 ----------------------------------------------------------------------------------------

#: version 0x012C, property codes [0x5007, 0xD21E], control codes [0xD2C1].
EXT_INFO_GOLDEN = bytes.fromhex("2c010200000007501ed201000000c1d2")


def test_ext_device_info_golden_bytes() -> None:
    info = sony.ExtDeviceInfo(version=0x12C, property_codes=(0x5007, 0xD21E),
                              control_codes=(0xD2C1,))  # fmt: skip
    assert sony.encode_ext_device_info(info) == EXT_INFO_GOLDEN
    assert sony.decode_ext_device_info(EXT_INFO_GOLDEN) == info
    assert info.codes() == (0x5007, 0xD21E, 0xD2C1)


def test_ext_device_info_without_the_second_array_is_accepted() -> None:
    # libgphoto2 reads the control codes only when bytes remain after the first array.
    info = sony.decode_ext_device_info(EXT_INFO_GOLDEN[:10])
    assert info == sony.ExtDeviceInfo(version=0x12C, property_codes=(0x5007, 0xD21E))


@pytest.mark.parametrize(
    "data",
    [b"", b"\x2c", bytes.fromhex("2c01ffffffff"), EXT_INFO_GOLDEN[:-1], EXT_INFO_GOLDEN[:12]],
)
def test_ext_device_info_bad_lengths_are_decode_errors(data: bytes) -> None:
    with pytest.raises(DecodeError):
        sony.decode_ext_device_info(data)


u16_codes = st.lists(st.integers(0, 0xFFFF), max_size=20).map(tuple)


@given(st.integers(0, 0xFFFF), u16_codes, u16_codes)
def test_ext_device_info_round_trip(version: int, props: tuple[int, ...],
                                    controls: tuple[int, ...]) -> None:  # fmt: skip
    info = sony.ExtDeviceInfo(version=version, property_codes=props, control_codes=controls)
    assert sony.decode_ext_device_info(sony.encode_ext_device_info(info)) == info


# -- 0x9209 ----------------------------------------------------------------------------------------

#: count 2 (u64); ISO 0xD21E u32, getset 1, enabled 1, default 0xFFFFFF, current 100, enum
#: [100, 200], a second list [100]; f-number 0x5007 u16, getset 1, enabled 1, 0, 560, form none.
ALL_PROPS_GOLDEN = bytes.fromhex(
    "0200000000000000"
    "1ed2" "0600" "01" "01" "ffffff00" "64000000" "02" "0200" "64000000" "c8000000"
    "0100" "64000000"
    "0750" "0400" "01" "01" "0000" "3002" "00"
)  # fmt: skip
ALL_PROPS = (
    sony.SonyPropDesc(code=0xD21E, datatype=DataType.UINT32, factory_default=0xFFFFFF,
                      current=100, form=EnumerationForm(values=(100, 200)), second_values=(100,)),
    sony.SonyPropDesc(code=0x5007, datatype=DataType.UINT16, current=560),
)  # fmt: skip


def test_all_prop_info_golden_bytes() -> None:
    assert sony.encode_all_prop_info(ALL_PROPS) == ALL_PROPS_GOLDEN
    assert sony.decode_all_prop_info(ALL_PROPS_GOLDEN) == ALL_PROPS


def test_the_second_list_is_what_a_host_offers() -> None:
    iso = ALL_PROPS[0].to_standard()
    assert iso.form == EnumerationForm(values=(100,))
    assert iso.get_set == GetSet.GET_SET


@pytest.mark.parametrize(("get_set", "enabled", "writable"),
                         [(0, 1, False), (1, 1, True), (1, 0, False), (1, 2, False),
                          (0x81, 1, True)])  # fmt: skip
def test_greyed_out_and_display_only_are_read_only(get_set: int, enabled: int,
                                                   writable: bool) -> None:  # fmt: skip
    desc = sony.SonyPropDesc(code=0xD20D, datatype=DataType.UINT32, get_set=get_set,
                             is_enabled=enabled)  # fmt: skip
    assert desc.writable is writable
    assert desc.to_standard().writable is writable


def test_a_last_descriptor_without_its_form_flag_is_accepted() -> None:
    cut = sony.decode_all_prop_info(ALL_PROPS_GOLDEN[:-1])
    assert cut[1] == ALL_PROPS[1]  # no form either way


def test_a_descriptor_cut_inside_a_value_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        sony.decode_all_prop_info(ALL_PROPS_GOLDEN[:-2])


def test_a_count_beyond_the_data_fails_before_reading() -> None:
    data = (2**63).to_bytes(8, "little") + ALL_PROPS_GOLDEN[8:]
    with pytest.raises(DecodeError, match="cannot fit"):
        sony.decode_all_prop_info(data)


def test_a_second_list_count_beyond_the_data_is_a_decode_error() -> None:
    data = ALL_PROPS_GOLDEN[:37] + b"\xff\x01"
    with pytest.raises(DecodeError):
        sony.decode_all_prop_info(data)


def test_codes_below_0x200_cannot_be_sent() -> None:
    with pytest.raises(LocalProtocolError):
        sony.encode_all_prop_info([sony.SonyPropDesc(code=0x100, datatype=DataType.UINT8)])


_SCALARS = tuple(t for t in ENCODABLE_TYPES if not t.is_array)


@st.composite
def sony_descs(draw: st.DrawFn) -> sony.SonyPropDesc:
    datatype = draw(st.sampled_from(_SCALARS))
    value = values_of(datatype)
    kind = draw(st.sampled_from(["none", "range", "enum", "enum2"]))
    form: RangeForm | EnumerationForm | None = None
    second = None
    if kind == "range":
        form = RangeForm(minimum=draw(value), maximum=draw(value), step=draw(value))
    elif kind.startswith("enum"):
        form = EnumerationForm(values=tuple(draw(st.lists(value, max_size=6))))
        if kind == "enum2":
            second = tuple(draw(st.lists(value, max_size=6)))
    return sony.SonyPropDesc(
        code=draw(st.integers(0x200, 0xFFFF)),
        datatype=datatype,
        get_set=draw(st.integers(0, 0xFF)),
        is_enabled=draw(st.integers(0, 2)),
        factory_default=draw(value),
        current=draw(value),
        form=form,
        second_values=second,
    )


@given(st.lists(sony_descs(), max_size=6))
def test_all_prop_info_round_trip(descs: list[sony.SonyPropDesc]) -> None:
    assert sony.decode_all_prop_info(sony.encode_all_prop_info(descs)) == tuple(descs)


# -- live view -------------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0" + bytes(8) + b"\xff\xd9"


def test_live_view_golden_bytes() -> None:
    data = sony.encode_live_view(sony.LiveViewFrame(jpeg=JPEG), padding_bytes=4)
    assert data[:16] == bytes.fromhex("140000000e0000000000000000000000")
    assert data[16:20] == bytes(4)
    assert data[20:] == JPEG
    assert sony.decode_live_view(data) == sony.LiveViewFrame(jpeg=JPEG)


def test_live_view_with_focus_frame_round_trip() -> None:
    frame = sony.LiveViewFrame(jpeg=JPEG, focal_frame=b"\x01\x02\x03")
    assert sony.decode_live_view(sony.encode_live_view(frame)) == frame


def test_a_header_that_does_not_point_at_the_jpeg_falls_back_to_scanning() -> None:
    # gphoto2#389: a header whose offset is wrong; the JPEG is found by its FF D8.
    data = bytes.fromhex("000100000e0000000000000000000000") + b"\x00\x11" + JPEG
    frame = sony.decode_live_view(data)
    assert frame.jpeg == JPEG
    assert frame.from_header is False


def test_live_view_without_a_jpeg_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="no JPEG"):
        sony.decode_live_view(bytes(40))


@given(st.binary(max_size=64), st.integers(0, 32))
def test_live_view_round_trip(body: bytes, padding: int) -> None:
    jpeg = b"\xff\xd8" + body
    frame = sony.LiveViewFrame(jpeg=jpeg)
    assert sony.decode_live_view(sony.encode_live_view(frame, padding_bytes=padding)) == frame


# -- 0x9280 ----------------------------------------------------------------------------------------


def test_wifi_blocks_golden_bytes() -> None:
    # library.c: 0x9280(4, 2,2,0,0, 1,1) before file access, 0x9280(4, 0,5,0,0) at exit.
    opening = bytes.fromhex("020000000200000000000000000000000101")
    closing = bytes.fromhex("00000000050000000000000000000000")
    assert sony.encode_wifi_block(sony.WIFI_OPEN) == opening
    assert sony.encode_wifi_block(sony.WIFI_CLOSE) == closing
    assert sony.decode_wifi_block(opening) == sony.WIFI_OPEN
    assert sony.decode_wifi_block(closing) == sony.WIFI_CLOSE


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("01000000") + bytes(12),  # additional must be 0 or 2
        bytes.fromhex("02000000") + bytes(12),  # 2 announces two more bytes
        bytes(18),  # 0 announces none
    ],
)
def test_bad_wifi_blocks_are_decode_errors(data: bytes) -> None:
    with pytest.raises(DecodeError):
        sony.decode_wifi_block(data)


@given(st.sampled_from([0, 2]), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(0, 255))  # fmt: skip
def test_wifi_block_round_trip(additional: int, d2: int, d3: int, d4: int, x: int, y: int) -> None:
    if additional == 0:
        x = y = 0
    block = sony.WifiBlock(additional=additional, data2=d2, data3=d3, data4=d4, x=x, y=y)
    assert sony.decode_wifi_block(sony.encode_wifi_block(block)) == block


# -- value texts (codes.sony_values) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "value", "shown"),
    [
        (0xD20D, "1/250", 0x000100FA, "1/250"),
        (0xD20D, '2.5"', 0x0019000A, "2.5"),
        (0xD20D, "30s", 0x012C000A, "30"),
        (0xD20D, "bulb", 0, "Bulb"),
        (0xD21E, "auto", 0xFFFFFF, "Auto"),
        (0xD21E, "ISO 3200", 3200, "3200"),
        (0x5007, "f/5.6", 560, "f/5.6"),
        (0x5010, "+2/3", 667, "+0.7"),
        (0x5010, "-1 1/3", -1333, "-1.3"),
        (0xD222, "card+sdram", 0x0011, "camera+computer"),
        (0x500A, "AF-C", 0x8004, "AF-C"),
    ],
)
def test_value_texts(code: int, text: str, value: int, shown: str) -> None:
    from ptpkit.codes import sony_values

    assert sony_values.parse_value(code, text) == value
    assert sony_values.format_value(code, value) == shown


@pytest.mark.parametrize(
    ("code", "text"),
    [(0xD20D, "1e999999"), (0xD20D, "-1/4"), (0x5007, "inf"), (0x5007, "nan"),
     (0xD21E, "fast"), (0x5010, "9e99"), (0xD222, "sd card")],
)  # fmt: skip
def test_bad_value_texts_are_value_errors(code: int, text: str) -> None:
    from ptpkit.codes import sony_values

    with pytest.raises(ValueError, match="not"):
        sony_values.parse_value(code, text)
