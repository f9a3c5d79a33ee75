"""Golden bytes for PTP's simple types (ISO 15740 §5.3): integers, arrays, strings; and the
date-time string format (§5.3.5).

Layouts, all little endian (ISO 15740 §5.3.1):
- integers: 1, 2, 4, 8 or 16 bytes, two's complement for the signed ones;
- arrays (§5.3.3): a uint32 element count, then the elements back to back;
- strings (§5.3.4): a uint8 count of UTF-16LE code units *including* the terminating NUL, then the
  units; the empty string is the single byte 0x00 (no NUL unit).
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptpkit.core.buffer import Reader, Writer
from ptpkit.core.datasets import (
    decode_uint32_array,
    decode_value,
    encode_uint32_array,
    encode_value,
)
from ptpkit.core.datatypes import DataType, Value, format_datetime, parse_datetime
from ptpkit.errors import DecodeError, LocalProtocolError

from .core_strategies import ptp_text, typed_values


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# -- strings -------------------------------------------------------------------------------------

STRING_VECTORS = [
    # ISO 15740 §5.3.4: the empty string is one zero byte, with no NUL unit.
    ("", "00"),
    # count 4 = 3 characters + NUL, each a UTF-16LE unit.
    ("abc", "04 6100 6200 6300 0000"),
    ("é", "02 e900 0000"),
    # U+1F600 is a surrogate pair: two units, so the count is 3.
    ("\U0001f600", "03 3dd8 00de 0000"),
    # From the gphoto2 capture (see test_datasets.py): "Virtual SD".
    ("Virtual SD", "0b 5600 6900 7200 7400 7500 6100 6c00 2000 5300 4400 0000"),
]


@pytest.mark.parametrize(("text", "golden"), STRING_VECTORS)
def test_string_golden(text: str, golden: str) -> None:
    writer = Writer()
    writer.string(text)
    assert writer.getvalue() == h(golden)
    reader = Reader(h(golden))
    assert reader.string() == text
    assert reader.at_end()


def test_string_of_254_units_is_the_longest() -> None:
    writer = Writer()
    writer.string("x" * 254)
    data = writer.getvalue()
    assert data[0] == 0xFF  # 254 characters + NUL
    assert len(data) == 1 + 255 * 2
    assert data[-2:] == b"\x00\x00"
    assert Reader(data).string() == "x" * 254
    with pytest.raises(LocalProtocolError):
        Writer().string("x" * 255)
    # 127 surrogate pairs are 254 units; one more character does not fit.
    Writer().string("\U0001f600" * 127)
    with pytest.raises(LocalProtocolError):
        Writer().string("\U0001f600" * 127 + "x")


def test_string_decoding_is_forgiving_of_device_quirks() -> None:
    # A count of 1 is just the NUL: the empty string, written in the long form.
    assert Reader(h("01 0000")).string() == ""
    # An embedded NUL ends the string (as in C readers); the rest of the units are skipped.
    reader = Reader(h("04 6100 0000 6200 0000 ff"))
    assert reader.string() == "a"
    assert reader.offset == 9
    # No terminating NUL inside the counted units: take them all.
    assert Reader(h("02 6100 6200")).string() == "ab"
    # A lone surrogate becomes U+FFFD instead of an exception.
    assert Reader(h("02 00d8 0000")).string() == "\ufffd"


def test_string_count_beyond_the_data_is_a_decode_error() -> None:
    with pytest.raises(DecodeError) as info:
        Reader(h("ff 6100 6200")).string()
    assert info.value.offset == 1  # after the count byte
    with pytest.raises(DecodeError) as info:
        Reader(b"").string()
    assert info.value.offset == 0


# -- integers ------------------------------------------------------------------------------------

INTEGER_VECTORS: list[tuple[DataType, int, str]] = [
    (DataType.INT8, -2, "fe"),
    (DataType.INT8, -128, "80"),
    (DataType.UINT8, 0xAB, "ab"),
    (DataType.INT16, -2, "feff"),
    (DataType.INT16, 0x7FFF, "ff7f"),
    (DataType.UINT16, 0x1234, "3412"),
    (DataType.INT32, -2, "feffffff"),
    (DataType.INT32, -0x80000000, "00000080"),
    (DataType.UINT32, 0x12345678, "78563412"),
    (DataType.INT64, -2, "feffffffffffffff"),
    (DataType.UINT64, 0x0102030405060708, "0807060504030201"),
    (DataType.UINT64, 0xFFFFFFFFFFFFFFFF, "ffffffffffffffff"),
    (DataType.INT128, -2, "fe" + "ff" * 15),
    (DataType.INT128, -(1 << 127), "00" * 15 + "80"),
    (DataType.INT128, (1 << 127) - 1, "ff" * 15 + "7f"),
    (DataType.UINT128, 0x0102030405060708090A0B0C0D0E0F10, "100f0e0d0c0b0a090807060504030201"),
    (DataType.UINT128, (1 << 128) - 1, "ff" * 16),
]


@pytest.mark.parametrize(("datatype", "value", "golden"), INTEGER_VECTORS)
def test_integer_golden(datatype: DataType, value: int, golden: str) -> None:
    assert encode_value(datatype, value) == h(golden)
    assert decode_value(h(golden), datatype) == value


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (DataType.UINT8, 256),
        (DataType.UINT8, -1),
        (DataType.INT8, 128),
        (DataType.UINT16, 0x10000),
        (DataType.INT16, -0x8001),
        (DataType.UINT32, 1 << 32),
        (DataType.INT32, 1 << 31),
        (DataType.UINT64, 1 << 64),
        (DataType.INT64, -(1 << 63) - 1),
        (DataType.UINT128, 1 << 128),
        (DataType.UINT128, -1),
        (DataType.INT128, 1 << 127),
    ],
)
def test_integer_out_of_range_is_a_local_error(datatype: DataType, value: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_value(datatype, value)


@pytest.mark.parametrize(
    ("method", "size"),
    [
        ("uint8", 1),
        ("int8", 1),
        ("uint16", 2),
        ("int16", 2),
        ("uint32", 4),
        ("int32", 4),
        ("uint64", 8),
        ("int64", 8),
        ("uint128", 16),
        ("int128", 16),
    ],
)
def test_reader_never_reads_past_the_end(method: str, size: int) -> None:
    data = b"\x01" * (size - 1)
    reader = Reader(b"\x00" + data)
    reader.uint8()
    with pytest.raises(DecodeError) as info:
        getattr(reader, method)()
    assert info.value.offset == 1
    assert reader.offset == 1  # nothing consumed by the failed read


def test_wrong_kind_of_value_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_value(DataType.UINT16, "12")
    with pytest.raises(LocalProtocolError):
        encode_value(DataType.UINT16, True)
    with pytest.raises(LocalProtocolError):
        encode_value(DataType.STR, 12)
    with pytest.raises(LocalProtocolError):
        encode_value(DataType.AUINT8, 12)
    with pytest.raises(LocalProtocolError):
        encode_value(DataType.UNDEF, 0)


# -- arrays --------------------------------------------------------------------------------------

ARRAY_VECTORS: list[tuple[DataType, tuple[int, ...], str]] = [
    (DataType.AUINT32, (), "00000000"),
    (DataType.AINT8, (-1, 1), "02000000 ff 01"),
    (DataType.AUINT8, (0, 0xFF, 0x10), "03000000 00 ff 10"),
    (DataType.AINT16, (-2,), "01000000 feff"),
    (DataType.AUINT16, (0x3801, 0x3001), "02000000 0138 0130"),
    (DataType.AINT32, (-1, 2), "02000000 ffffffff 02000000"),
    (DataType.AUINT32, (0x00010001, 0xFFFFFFFF), "02000000 01000100 ffffffff"),
    (DataType.AINT64, (-3,), "01000000 fdffffffffffffff"),
    (DataType.AUINT64, (1 << 40,), "01000000 0000000000010000"),
    (DataType.AINT128, (-1, 1), "02000000" + "ff" * 16 + "01" + "00" * 15),
    (DataType.AUINT128, (1 << 120,), "01000000" + "00" * 15 + "01"),
]


@pytest.mark.parametrize(("datatype", "values", "golden"), ARRAY_VECTORS)
def test_array_golden(datatype: DataType, values: tuple[int, ...], golden: str) -> None:
    assert encode_value(datatype, values) == h(golden)
    assert decode_value(h(golden), datatype) == values


def test_handle_list_golden() -> None:
    # GetObjectHandles data from the gphoto2 capture (fakecam's answer): handles 2, 3, 4.
    golden = h("03000000 02000000 03000000 04000000")
    assert decode_uint32_array(golden) == (2, 3, 4)
    assert encode_uint32_array([2, 3, 4]) == golden


def test_array_element_out_of_range_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode_value(DataType.AUINT16, (0x10000,))
    with pytest.raises(LocalProtocolError):
        encode_value(DataType.AINT128, (1 << 127,))


@pytest.mark.parametrize("datatype", [t for t in DataType if t.is_array])
def test_array_count_larger_than_the_data_fails_at_the_count(datatype: DataType) -> None:
    # A count of 0xFFFFFFF0 with 8 bytes behind it: refused before anything is allocated.
    with pytest.raises(DecodeError) as info:
        decode_value(h("f0ffffff 0102030405060708"), datatype)
    assert info.value.offset == 4


# -- datatype table --------------------------------------------------------------------------------


def test_datatype_codes_and_properties() -> None:
    # ISO 15740 table 3: scalar codes 0x0001..0x000A, arrays 0x4000 | scalar, STR 0xFFFF.
    assert [int(t) for t in DataType if t.is_integer] == list(range(1, 11))
    assert DataType.AUINT16.element is DataType.UINT16
    assert DataType.AINT128.size == 16
    assert DataType.AINT128.signed
    assert not DataType.UINT64.signed
    assert not DataType.STR.is_array
    assert DataType.STR.size == 0
    assert DataType.AUINT8.is_array
    assert DataType(0xFFFF) is DataType.STR


@settings(max_examples=300, deadline=None)
@given(typed_values())
def test_value_round_trip(typed: tuple[DataType, Value]) -> None:
    datatype, value = typed
    data = encode_value(datatype, value)
    assert decode_value(data, datatype) == value


@settings(max_examples=200, deadline=None)
@given(ptp_text)
def test_string_round_trip(text: str) -> None:
    writer = Writer()
    writer.string(text)
    data = writer.getvalue()
    units = len(text.encode("utf-16-le")) // 2
    assert len(data) == (1 if not text else 1 + 2 * (units + 1))
    reader = Reader(data)
    assert reader.string() == text
    assert reader.at_end()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.sampled_from([t for t in DataType if t is not DataType.UNDEF]))
def test_any_bytes_decode_to_a_value_or_a_decode_error(data: bytes, datatype: DataType) -> None:
    error: DecodeError | None = None
    try:
        decode_value(data, datatype)
    except DecodeError as exc:
        error = exc
    if error is not None:
        assert error.offset is not None
        assert 0 <= error.offset <= len(data)


# -- date-time strings (ISO 15740 §5.3.5) ---------------------------------------------------------

UTC = dt.timezone.utc
PLUS_0130 = dt.timezone(dt.timedelta(hours=1, minutes=30))
MINUS_0500 = dt.timezone(dt.timedelta(hours=-5))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20240131T235959", dt.datetime(2024, 1, 31, 23, 59, 59)),
        ("20240102T030405", dt.datetime(2024, 1, 2, 3, 4, 5)),  # the gphoto2 capture's date
        ("20240131T235959.5", dt.datetime(2024, 1, 31, 23, 59, 59, 500_000)),
        ("20240131T235959.25", dt.datetime(2024, 1, 31, 23, 59, 59, 250_000)),
        ("20240131T235959Z", dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC)),
        ("20240131T235959.3+0130", dt.datetime(2024, 1, 31, 23, 59, 59, 300_000, PLUS_0130)),
        ("20240131T235959+0130", dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=PLUS_0130)),
        ("20240131T235959-0500", dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=MINUS_0500)),
        (" 20240131T235959 ", dt.datetime(2024, 1, 31, 23, 59, 59)),
    ],
)
def test_parse_datetime_golden(text: str, expected: dt.datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "00000000T000000",  # all zeros: month 0 (seen on real cameras)
        "20241301T000000",  # month 13
        "20240230T120000",  # 30 February
        "20240131T246060",  # hour 24
        "20240131 235959",  # no T
        "2024-01-31T23:59:59",  # ISO 8601 extended form is not PTP's
        "20240131T2359",  # no seconds
        "20240131T235959.",  # a dot without tenths
        "20240131T235959+1",  # a truncated zone
        "20240131T235959X",
        "20240131T235959+2400",  # a zone of 24 hours or more
        "20240131T235959-9959",
        "２０２４0131T235959",  # fullwidth digits
    ],
)
def test_parse_datetime_garbage_is_none(text: str) -> None:
    assert parse_datetime(text) is None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.from_regex(r"\A\d{8}T\d{6}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2})?\Z"),
    )
)
def test_parse_datetime_never_raises(text: str) -> None:
    # Any device string gives a datetime or None (digits out of range included).
    result = parse_datetime(text)
    assert result is None or isinstance(result, dt.datetime)


@pytest.mark.parametrize(
    ("value", "tenths", "expected"),
    [
        (dt.datetime(2024, 1, 31, 23, 59, 59), False, "20240131T235959"),
        (dt.datetime(2024, 1, 31, 23, 59, 59, 567_000), True, "20240131T235959.5"),
        (dt.datetime(2024, 1, 31, 23, 59, 59, 99_999), True, "20240131T235959.0"),
        (dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC), False, "20240131T235959Z"),
        (dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=PLUS_0130), False, "20240131T235959+0130"),
        (dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=MINUS_0500), False, "20240131T235959-0500"),
        (
            dt.datetime(2024, 1, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(minutes=-30))),
            False,
            "20240131T235959-0030",
        ),
        (dt.datetime(1999, 12, 31, 0, 0, 0, 100_000, UTC), True, "19991231T000000.1Z"),
    ],
)
def test_format_datetime_golden(value: dt.datetime, tenths: bool, expected: str) -> None:
    assert format_datetime(value, tenths=tenths) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(
        min_value=dt.datetime(1000, 1, 1),
        max_value=dt.datetime(9999, 12, 31),
        timezones=st.one_of(
            st.none(),
            st.just(UTC),
            st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
                lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
            ),
        ),
    ).map(lambda value: value.replace(microsecond=value.microsecond // 100_000 * 100_000))
)
def test_datetime_round_trip(value: dt.datetime) -> None:
    parsed = parse_datetime(format_datetime(value, tenths=True))
    assert parsed == value
    assert parsed is not None
    assert parsed.utcoffset() == value.utcoffset()
