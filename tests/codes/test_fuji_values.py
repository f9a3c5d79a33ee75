"""Fujifilm value texts both ways (codes/fuji_values.py): the Go ptpip tool's texts
(fmt/string_fuji.go) shown, and what people type read back."""

from __future__ import annotations

import pytest

from ptpkit.codes import fuji_values as fv

# The seed's X-T1 ISO list (0x902B dump): auto-ISO limits, L 100, 200..6400, H 12800..51200.
SEED_ISO = (
    0x80000190, 0x80000320, 0x80000640, 0x80000C80, 0x80001900, 0x40000064,
    200, 250, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000, 2500, 3200, 4000, 5000, 6400,
    0x40003200, 0x40006400, 0x4000C800,
)  # fmt: skip


@pytest.mark.parametrize(
    ("code", "raw", "text"),
    [
        (fv.FILM_SIMULATION, 1, "PROVIA"),
        (fv.FILM_SIMULATION, 2, "Velvia"),
        (fv.FILM_SIMULATION, 6, "PRO Neg. Hi"),
        (fv.FILM_SIMULATION, 0x0B, "Classic Chrome"),
        (fv.FILM_SIMULATION, 0x10, "ETERNA"),
        (fv.ISO, 0xFFFFFFFF, "auto"),
        (fv.ISO, 0x80001900, "S 6400"),
        (fv.ISO, 0x40000064, "L 100"),
        (fv.ISO, 0x40003200, "H 12800"),
        (fv.ISO, 800, "800"),
        (fv.IMAGE_QUALITY, 4, "fine + RAW"),
        (fv.IMAGE_SIZE, 0x0A, "L 3:2"),
        (fv.BATTERY_LEVEL, 3, "2/3"),
        (fv.BATTERY_LEVEL, 0x0B, "5/5"),
        (fv.STD_BATTERY_LEVEL, 4, "3/3"),
        (fv.STD_WHITE_BALANCE, 0x8006, "shade"),
        (fv.STD_FOCUS_MODE, 0x8001, "single auto"),
        (fv.STD_FLASH_MODE, 0x800A, "enabled"),
        (fv.STD_CAPTURE_DELAY, 3, "5 seconds"),
        (fv.COMMAND_DIAL_MODE, 2, "shutter speed"),
        (fv.FOCUS_POINT, 0x03020404, "4x4"),
        (fv.SHUTTER_SPEED, 0xFFFFFFFF, "auto"),
        (fv.SHUTTER_SPEED, 4000, "1/250"),
        (fv.SHUTTER_SPEED, 500_000, "1/2"),
        (fv.SHUTTER_SPEED, 2_000_000, "2"),
        (fv.SHUTTER_SPEED, 30_000_000, "30"),
    ],
)
def test_format_as_the_go_tool(code: int, raw: int, text: str) -> None:
    assert fv.format_value(code, raw) == text


def test_standard_values_are_left_to_the_standard_catalog() -> None:
    assert fv.format_value(fv.STD_WHITE_BALANCE, 2) is None  # "automatic": ISO 15740's name
    assert fv.parse_value(fv.STD_WHITE_BALANCE, "daylight") is None
    assert fv.format_value(0x5007, 560) is None


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("velvia", 2),
        ("Velvia", 2),
        ("PROVIA", 1),
        ("standard", 1),
        ("classic-chrome", 0x0B),
        ("pro neg hi", 6),
        ("PRO Neg. Std", 7),
        ("acros-r", 0x0E),
        ("Monochrome + Ye Filter", 8),
        ("eterna", 0x10),
        ("0x2", 2),
    ],
)
def test_parse_film_simulation(text: str, raw: int) -> None:
    assert fv.parse_value(fv.FILM_SIMULATION, text) == raw


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("800", 800),
        ("ISO 800", 800),
        ("auto", 0xFFFFFFFF),
        ("S 6400", 0x80001900),
        ("auto 6400", 0x80001900),
        ("auto-400", 0x80000190),
        ("H 12800", 0x40003200),
        ("L100", 0x40000064),
        ("100", 0x40000064),  # only listed as extended: that one
        ("0x320", 0x320),  # the Go tool's hex form
    ],
)
def test_parse_iso(text: str, raw: int) -> None:
    assert fv.parse_value(fv.ISO, text, SEED_ISO) == raw


def test_every_listed_iso_reads_back_from_its_text() -> None:
    for raw in SEED_ISO:
        text = fv.format_value(fv.ISO, raw)
        assert text is not None
        assert fv.parse_value(fv.ISO, text, SEED_ISO) == raw


def test_every_table_value_reads_back_from_its_text() -> None:
    for code, table in (
        (fv.FILM_SIMULATION, fv.FILM_SIMULATIONS),
        (fv.IMAGE_QUALITY, fv.IMAGE_QUALITIES),
        (fv.IMAGE_SIZE, fv.IMAGE_SIZES),
        (fv.STD_FLASH_MODE, fv.FLASH_MODES),
    ):
        for raw, text in table.items():
            assert fv.parse_value(code, text) == raw, (code, text)


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("1/250", 4000),
        ("0.5", 500_000),
        ("2", 2_000_000),
        ('30"', 30_000_000),
        ("auto", 0xFFFFFFFF),
    ],
)
def test_parse_shutter(text: str, raw: int) -> None:
    assert fv.parse_value(fv.SHUTTER_SPEED, text) == raw


def test_shutter_snaps_to_the_nearest_allowed_value() -> None:
    allowed = [125, 250, 4000, 0xFFFFFFFF]  # 1/8000 listed as 125 us
    assert fv.parse_value(fv.SHUTTER_SPEED, "1/8000", allowed) == 125
    assert fv.parse_value(fv.SHUTTER_SPEED, "1/4000", allowed) == 250


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (15625, "1/60"),  # 2^-6 s, the body's "1/60"
        (125, "1/8000"),
        (3906, "1/250"),
        (500_000, "1/2"),
        (630_000, "0.6"),
        (1_000_000, "1"),
        (10_079_368, "10"),  # libgphoto2 camera_fuji_capture's 10 s
        (32_000_000, "30"),
        (45_000_000, "45"),  # between nominal speeds: exact
        (0xFFFFFFFF, "auto"),
    ],
)
def test_shutter_speeds_read_as_photographers_write_them(micros: int, text: str) -> None:
    assert fv.format_value(fv.SHUTTER_SPEED, micros) == text
    # The standard ExposureTime is in microseconds on a Fujifilm too.
    assert fv.format_value(fv.STD_EXPOSURE_TIME, micros) == text


def test_a_nominal_speed_sets_the_body_s_exact_value() -> None:
    grid = [int(1_000_000 * 2 ** (k / 3)) for k in range(-39, 16)]
    for micros in grid:
        text = fv.format_value(fv.STD_EXPOSURE_TIME, micros)
        assert text is not None
        assert fv.parse_value(fv.STD_EXPOSURE_TIME, text, grid) == micros, text


def test_fuji_extra_names() -> None:
    assert fv.parse_value(fv.STD_WHITE_BALANCE, "temprerature") == 0x800B  # the Go tool's text
    assert fv.parse_value(fv.STD_WHITE_BALANCE, "Fluorescent 2") == 0x8002
    assert fv.parse_value(fv.STD_FOCUS_MODE, "AF-C") == 0x8002
    assert fv.parse_value(fv.IMAGE_QUALITY, "fine+raw") == 4
    assert fv.parse_value(fv.FOCUS_POINT, "4x3") == 0x0403


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (fv.FILM_SIMULATION, "kodachrome"),
        (fv.ISO, "fast"),
        (fv.SHUTTER_SPEED, "1/0"),
        (fv.SHUTTER_SPEED, "-1"),
        (fv.FOCUS_POINT, "middle"),
    ],
)
def test_nonsense_is_refused(code: int, text: str) -> None:
    with pytest.raises(ValueError, match=r"not|none of"):
        fv.parse_value(code, text)
