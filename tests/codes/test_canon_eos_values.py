"""EOS value encodings (vendors.md 1.4, libgphoto2 config.c tables): text both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptpkit.codes import canon_eos_values as v
from ptpkit.core.canon_eos import ImageFormat, ImageFormatEntry


@pytest.mark.parametrize(
    ("prop", "code", "text"),
    [
        # vendors.md 1.4 anchors
        (v.APERTURE_PROP, 0x30, "f/5.6"),
        (v.APERTURE_PROP, 0x08, "f/1"),
        (v.APERTURE_PROP, 0x70, "f/91"),
        (v.APERTURE_PROP, 0xFFFF, "Auto"),
        (v.SHUTTER_PROP, 0x70, "1/125"),
        (v.SHUTTER_PROP, 0x10, "30s"),
        (v.SHUTTER_PROP, 0x40, "0.5s"),
        (v.SHUTTER_PROP, 0xA8, "1/16000"),
        (v.SHUTTER_PROP, 0x04, "Bulb"),
        (v.ISO_PROP, 0x00, "Auto"),
        (v.ISO_PROP, 0x48, "100"),
        (v.ISO_PROP, 0x4B, "125"),
        (v.ISO_PROP, 0x4D, "160"),
        (v.ISO_PROP, 0xB0, "819200"),
        (v.EXPOSURE_COMP_PROP, 0x08, "+1"),
        (v.EXPOSURE_COMP_PROP, 0x03, "+1/3"),
        (v.EXPOSURE_COMP_PROP, 0x05, "+2/3"),
        (v.EXPOSURE_COMP_PROP, 0x04, "+1/2"),
        (v.EXPOSURE_COMP_PROP, 0x00, "0"),
        (v.EXPOSURE_COMP_PROP, 0xFD, "-1/3"),
        (v.EXPOSURE_COMP_PROP, 0xF8, "-1"),
        (v.EXPOSURE_COMP_PROP, 0xE8, "-3"),
        (v.EXPOSURE_COMP_PROP, 0xD8, "-5"),
        (v.EXPOSURE_COMP_PROP, 0x0D, "+1 2/3"),
        (v.WHITE_BALANCE_PROP, 0, "Auto"),
        (v.WHITE_BALANCE_PROP, 8, "Shadow"),
        (v.DRIVE_MODE_PROP, 0x01, "Continuous"),
        (v.DRIVE_MODE_PROP, 0x10, "Timer 10 s"),
        (v.CAPTURE_TARGET_PROP, 4, "computer"),
        (v.CAPTURE_TARGET_PROP, 2, "card"),
    ],
)
def test_known_values(prop: int, code: int, text: str) -> None:
    assert v.format_value(prop, code) == text
    assert v.parse_value(prop, text) == code


@pytest.mark.parametrize(
    ("prop", "text", "code"),
    [
        (v.APERTURE_PROP, "5.6", 0x30),
        (v.APERTURE_PROP, "f5.6", 0x30),
        (v.APERTURE_PROP, "F/1.0", 0x08),
        (v.APERTURE_PROP, "auto", 0xFFFF),
        (v.SHUTTER_PROP, "30", 0x10),
        (v.SHUTTER_PROP, '30"', 0x10),
        (v.SHUTTER_PROP, "0.5", 0x40),
        (v.SHUTTER_PROP, "1/ 125", 0x70),
        (v.ISO_PROP, "ISO 400", 0x58),
        (v.EXPOSURE_COMP_PROP, "1/3", 0x03),
        (v.EXPOSURE_COMP_PROP, "-1/3 EV", 0xFD),
        (v.EXPOSURE_COMP_PROP, "0x68", 0x68),
        (v.ISO_PROP, "0x68", 0x68),
    ],
)
def test_spellings(prop: int, text: str, code: int) -> None:
    assert v.parse_value(prop, text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # Decimals mean the nearest third or half stop: libgphoto2 writes the thirds "0.3" and
        # "0.6" (config.c canon_expcompensation2), other tools "0.7"; a sign is optional.
        ("0.3", 0x03),
        ("+0.3", 0x03),
        ("0.6", 0x05),
        ("0.7", 0x05),
        ("-0.3", 0xFD),
        ("-0.7", 0xFB),
        ("1.3", 0x0B),
        ("+1.5", 0x0C),
        ("-1.0", 0xF8),
        ("0.0", 0x00),
        ("-5.0", 0xD8),
        ("0.3 EV", 0x03),
    ],
)
def test_exposure_compensation_as_a_decimal(text: str, code: int) -> None:
    assert v.parse_value(v.EXPOSURE_COMP_PROP, text) == code


def test_a_decimal_takes_the_nearest_allowed_stop_and_nothing_far() -> None:
    # Half stops only: 0.6 is the nearest allowed, 1/2 (within 0.1 EV).
    assert v.parse_value(v.EXPOSURE_COMP_PROP, "0.6", [0x00, 0x04, 0x08]) == 0x04
    for far in ("2.2", "0.2", "5.5"):
        with pytest.raises(ValueError, match="not a value"):
            v.parse_value(v.EXPOSURE_COMP_PROP, far)


def test_shared_text_prefers_the_allowed_code() -> None:
    # f/1.2 is 0x0D (third stop) and 0x0C (half stop): the camera's list decides.
    assert v.parse_value(v.APERTURE_PROP, "f/1.2") == 0x0D
    assert v.parse_value(v.APERTURE_PROP, "f/1.2", allowed=[0x0C, 0x10]) == 0x0C
    with pytest.raises(ValueError, match="not allowed now"):
        v.parse_value(v.APERTURE_PROP, "f/8", allowed=[0x0C, 0x10])


@pytest.mark.parametrize("text", ["f/0.3", "fast", "", "1/3 of a second", "0x10000"])
def test_unreadable_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked elsewhere
        v.parse_value(v.APERTURE_PROP, text)


def test_unknown_codes_show_as_hex() -> None:
    assert v.format_value(v.APERTURE_PROP, 0x31) == "0x31"
    assert v.format_value(v.WHITE_BALANCE_PROP, 7) == "0x7"
    assert v.format_value(0xD1FF, 12) == "0xC"
    # The value is read at the property's width (slots may carry high bytes).
    assert v.format_value(v.ISO_PROP, 0xAB0068) == "1600"
    assert v.format_value(v.EXPOSURE_COMP_PROP, -8) == "-1"


@pytest.mark.parametrize("prop", sorted(v.TABLES))
def test_every_table_entry_parses_back_to_a_code_with_its_text(prop: int) -> None:
    for code, text in v.TABLES[prop].items():
        back = v.parse_value(prop, text)
        assert v.format_value(prop, back) == text
        assert v.parse_value(prop, text, allowed=[code]) == code


@given(st.sampled_from(sorted(v.TABLES)), st.integers(-(2**40), 2**40))
def test_format_never_raises(prop: int, value: int) -> None:
    assert isinstance(v.format_value(prop, value), str)


# -- image format ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0x03FF, "Large Fine JPEG"),
        (0x12FF, "Medium Normal JPEG"),
        (0x0C03, "RAW + Large Fine JPEG"),
        (0x0BFF, "cRAW"),
        (0x2CFF, "sRAW"),
        (0x0BD2, "cRAW + Small 1 Normal JPEG"),  # libgphoto2's example
    ],
)
def test_image_format_text(code: int, text: str) -> None:
    fmt = ImageFormat.from_code(code)
    assert v.format_image_format(fmt.entries) == text
    assert ImageFormat.of(v.parse_image_format(text)) == fmt


def test_image_format_unknown_entry_is_shown_not_raised() -> None:
    odd = (ImageFormatEntry(kind=9, size=3, compression=7),)
    assert v.format_image_format(odd) == "type 0x9 size 0x3 compression 0x7"
    assert v.format_image_format(()) == "none"
    with pytest.raises(ValueError, match="not an EOS image format"):
        v.parse_image_format("Huge JPEG")
