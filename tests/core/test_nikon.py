"""Nikon's wire formats (ptpkit.core.nikon): golden bytes, round trips, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptpkit.core import nikon
from ptpkit.core.nikon import LiveViewFrame, NikonEvent
from ptpkit.errors import DecodeError, LocalProtocolError

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + bytes(6) + b"\xff\xd9"


# -- GetEvent 0x90C7 -------------------------------------------------------------------------------


def test_get_event_golden_bytes() -> None:
    # count 2; ObjectAddedInSDRAM(0xFFFF0001); CaptureComplete(0).
    data = bytes.fromhex("020001c10100ffff0d4000000000")
    events = (NikonEvent(code=0xC101, params=(0xFFFF0001,)), NikonEvent(code=0x400D, params=(0,)))
    assert nikon.decode_get_event(data) == events
    assert nikon.encode_get_event(events) == data


def test_get_event_empty_data_and_zero_count_are_no_events() -> None:
    assert nikon.decode_get_event(b"") == ()
    assert nikon.decode_get_event(b"\x00\x00") == ()
    assert nikon.encode_get_event([]) == b"\x00\x00"


def test_get_event_count_beyond_the_data_is_refused_at_once() -> None:
    with pytest.raises(DecodeError) as caught:
        nikon.decode_get_event(b"\xff\xff" + bytes(6))
    assert caught.value.offset == 2
    assert "65535 records" in str(caught.value)


def test_get_event_cut_count_is_refused() -> None:
    with pytest.raises(DecodeError):
        nikon.decode_get_event(b"\x01")


def test_get_event_cannot_carry_two_params() -> None:
    with pytest.raises(LocalProtocolError):
        nikon.encode_get_event([NikonEvent(code=0x4002, params=(1, 2))])


_events = st.lists(
    st.builds(
        NikonEvent,
        code=st.integers(0, 0xFFFF),
        params=st.tuples(st.integers(0, 0xFFFFFFFF)),
    ),
    max_size=20,
)


@given(_events)
def test_get_event_round_trip(events: list[NikonEvent]) -> None:
    assert nikon.decode_get_event(nikon.encode_get_event(events)) == tuple(events)


# -- GetEventEx 0x941C -----------------------------------------------------------------------------


def test_get_event_ex_golden_bytes() -> None:
    # count 2, two skipped bytes; ObjectAdded(1 param); CaptureCompleteRecInSdram (none).
    data = bytes.fromhex("02000000024001000100010002c10000")
    events = (NikonEvent(code=0x4002, params=(0x10001,)), NikonEvent(code=0xC102, params=()))
    assert nikon.decode_get_event_ex(data) == events
    assert nikon.encode_get_event_ex(events) == data


def test_get_event_ex_more_than_five_params_is_refused() -> None:
    data = bytes.fromhex("0100000002400600") + bytes(24)
    with pytest.raises(DecodeError) as caught:
        nikon.decode_get_event_ex(data)
    assert caught.value.offset == 6


@pytest.mark.parametrize("data", [b"\x01\x00", bytes.fromhex("0500000002400000")])
def test_get_event_ex_short_data_is_refused(data: bytes) -> None:
    with pytest.raises(DecodeError):
        nikon.decode_get_event_ex(data)


@given(
    st.lists(
        st.builds(
            NikonEvent,
            code=st.integers(0, 0xFFFF),
            params=st.lists(st.integers(0, 0xFFFFFFFF), max_size=5).map(tuple),
        ),
        max_size=12,
    )
)
def test_get_event_ex_round_trip(events: list[NikonEvent]) -> None:
    assert nikon.decode_get_event_ex(nikon.encode_get_event_ex(events)) == tuple(events)


# -- GetObjectSize 0x9421 --------------------------------------------------------------------------


def test_object_size_is_a_u64() -> None:
    five_gib = 5 * 2**30
    assert nikon.encode_object_size(five_gib) == bytes.fromhex("0000004001000000")
    assert nikon.decode_object_size(bytes.fromhex("0000004001000000")) == five_gib
    with pytest.raises(DecodeError):
        nikon.decode_object_size(bytes(4))
    with pytest.raises(DecodeError):
        nikon.decode_object_size(bytes(9))


# -- live view -------------------------------------------------------------------------------------


def test_live_view_384_byte_header_golden() -> None:
    frame = LiveViewFrame(header=b"", jpeg=JPEG, width=640, height=424, image_width=8256,
                          image_height=5504)  # fmt: skip
    data = nikon.encode_live_view(frame)
    assert len(data) == 384 + len(JPEG)
    # u16 big-endian sizes at 8, 10, 12, 14 (vendors.md 2.4).
    assert data[8:16] == bytes.fromhex("028001a820401580")
    decoded = nikon.decode_live_view(data)
    assert decoded.jpeg == JPEG
    assert (decoded.width, decoded.height) == (640, 424)
    assert (decoded.image_width, decoded.image_height) == (8256, 5504)
    assert len(decoded.header) == 384


def test_live_view_64_byte_header() -> None:
    header = bytes(range(64))
    decoded = nikon.decode_live_view(header + JPEG)
    assert decoded.header == header
    assert decoded.jpeg == JPEG
    assert decoded.width == 0  # the 64-byte form's fields are not documented


def test_live_view_other_header_sizes_are_found_by_searching() -> None:
    decoded = nikon.decode_live_view(bytes(100) + JPEG + bytes(7))
    assert len(decoded.header) == 100
    assert decoded.jpeg == JPEG  # the padding after FF D9 is dropped


def test_live_view_a_given_header_size_wins() -> None:
    # A header of 64 whose bytes at 384 also look like a JPEG: the size the caller knows wins.
    data = bytes(64) + JPEG + bytes(384 - 64 - len(JPEG)) + JPEG
    assert len(nikon.decode_live_view(data, header_bytes=64).header) == 64


def test_live_view_without_a_jpeg_is_a_decode_error() -> None:
    # Nikon 1 bodies answer 12 empty bytes when no frame is ready (libgphoto2 PR #1291).
    with pytest.raises(DecodeError):
        nikon.decode_live_view(bytes(12))


def test_live_view_encoder_refuses_a_non_jpeg_and_a_header_with_a_jpeg_start() -> None:
    with pytest.raises(LocalProtocolError):
        nikon.encode_live_view(LiveViewFrame(header=b"", jpeg=b"GIF89a"))
    with pytest.raises(LocalProtocolError):
        nikon.encode_live_view(LiveViewFrame(header=b"\xff\xd8\xff" + bytes(61), jpeg=JPEG))


@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.binary(max_size=64).map(lambda body: b"\xff\xd8\xff" + body + b"\xff\xd9"),
)
def test_live_view_round_trip(width: int, height: int, jpeg: bytes) -> None:
    frame = LiveViewFrame(header=b"", jpeg=jpeg, width=width, height=height)
    decoded = nikon.decode_live_view(nikon.encode_live_view(frame))
    assert decoded.jpeg == jpeg
    assert (decoded.width, decoded.height) == (width, height)


# -- shutter speed 0xD100 --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0x00010FA0, "1/4000"),
        (0x000100FA, "1/250"),
        (0x00010001, "1s"),
        (0x001E0001, "30s"),
        (0x000A0019, "1/2.5"),
        (0x000D000A, "1.3s"),
        (0x00030007, "3/7"),
        (0xFFFFFFFF, "Bulb"),
        (0xFFFFFFFD, "Time"),
        (0xFFFFFFFE, "Flash sync"),
    ],
)
def test_shutter_golden_values(value: int, text: str) -> None:
    assert nikon.format_shutter(value) == text
    assert nikon.parse_shutter(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("30", 0x001E0001), ('30"', 0x001E0001), ("10/25", 0x000A0019), ("BULB", 0xFFFFFFFF),
     ("x-sync", 0xFFFFFFFE), (" 1/250 ", 0x000100FA)],
)  # fmt: skip
def test_shutter_other_spellings(text: str, value: int) -> None:
    assert nikon.parse_shutter(text) == value


@pytest.mark.parametrize("text", ["", "fast", "1/0", "0", "1/99999", "2/2.5", "-1/250", "1/2.55"])
def test_shutter_nonsense_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"shutter|numerator|denominator|decimal"):
        nikon.parse_shutter(text)


@given(st.integers(1, 0xFFFF), st.integers(1, 0xFFFF))
def test_shutter_text_round_trip(num: int, den: int) -> None:
    value = num << 16 | den
    if value in (nikon.BULB, nikon.TIME, nikon.FLASH_SYNC):
        return
    assert nikon.parse_shutter(nikon.format_shutter(value)) == value


# -- live view prohibit condition 0xD1A4 -----------------------------------------------------------


def test_prohibit_reasons_in_words() -> None:
    condition = 1 << 8 | 1 << 14 | 1 << 24 | 1 << 30
    assert nikon.prohibit_reasons(condition) == (
        "the battery is too low",
        "there is no memory card",
        "the lens is retracting",
        "reason bit 30",
    )
    assert nikon.refusing_bits(1 << 24) == 0  # lens retracting alone does not refuse
    assert nikon.refusing_bits(condition) == 1 << 8 | 1 << 14 | 1 << 30
    assert nikon.prohibit_reasons(0) == ()
