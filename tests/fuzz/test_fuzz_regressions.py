"""Every finding of ``python -m fuzz``, with the exact input the fuzzer saved (inline, as hex).

Each case replays the input through its fuzz target (the harness's own check: no exception that
is not allowed, no broken invariant) and states the fixed behaviour on the library function
directly. The inputs are in the targets' formats (``fuzz/targets.py``): for the text targets, a
selector byte (which standard property: index modulo 27) and a mode byte (UTF-8, UTF-16 or
Latin-1, modulo 3) come before the text.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time
from pathlib import Path

import pytest

from ptpkit.client.files import safe_filename
from ptpkit.codes.properties import STANDARD_CATALOG, STANDARD_PROPERTIES, ValueParseError
from ptpkit.core.datasets import ObjectInfo, decode_value
from ptpkit.core.datatypes import format_datetime, parse_datetime

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from fuzz.harness import execute  # noqa: E402
from fuzz.targets import TARGETS, as_text, pick_datatype  # noqa: E402


def replay(target: str, hex_input: str) -> bytes:
    """Run the saved input through its target: it must pass now."""
    data = bytes.fromhex(hex_input)
    exc, _ = execute(TARGETS[target], data)
    assert exc is None, f"{target} still fails on {hex_input}: {exc!r}"
    return data


def spec_and_text(data: bytes) -> tuple[str, str]:
    return STANDARD_PROPERTIES[data[0] % len(STANDARD_PROPERTIES)].name, as_text(data[1:])


# -- PropertySpec.parse --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hex_input",
    [
        # property_parse: OverflowError at properties.py in _fnumber_parse ("inf")
        "0400696e66",
        # property_parse: OverflowError at properties.py in _focal_parse ("inf")
        "0500696e66",
        # property_parse: OverflowError at properties.py in _delay_parse ("inf")
        "0f00696e66",
    ],
    ids=["fnumber-inf", "focal-length-inf", "delay-inf"],
)
def test_infinity_is_a_parse_error_not_an_overflow(hex_input: str) -> None:
    # float("inf") * 100 is inf, and round(inf) raised OverflowError out of PropertySpec.parse,
    # which promises ValueParseError only ("ptpkit set f-number inf" printed a traceback).
    name, text = spec_and_text(replay("property_parse", hex_input))
    assert text == "inf"
    spec = STANDARD_CATALOG.find(name)
    assert spec is not None
    with pytest.raises(ValueParseError):
        spec.parse(text)


@pytest.mark.parametrize(
    "hex_input",
    [
        # property_parse: libFuzzer timeout (exp-bias "55555551e5555555555555555 s")
        "0d353535353535353535316535353535353535353535353535353535353535352073",
        # property_parse: libFuzzer timeout (exp-bias "1e333...", 104 digits of exponent)
        "0d5c31653333333333333333333333333333333333333333333333333333333333333333333333333333"
        "333333333333333333333333333333333333333333333333333333333333333333333333333333333333"
        "3333333333333333333333333333333333333333",
        # property_parse: libFuzzer timeout (shutter "111...1e999111...")
        "0a003131313131313131313131313131313131313131313131313131313131313131313131313131313165"
        "3939393131313131313131313131313131313131313131313131313131",
    ],
    ids=["exp-bias-1e5555555555555555", "exp-bias-1e333", "shutter-1e999111"],
)
def test_a_huge_exponent_is_refused_at_once(hex_input: str) -> None:
    # Fraction("1e99999999") computes 10**99999999: minutes and hundreds of MB for a few typed
    # characters. Exponents beyond ±30 are now refused before Fraction sees them.
    started = time.monotonic()
    name, text = spec_and_text(replay("property_parse", hex_input))
    spec = STANDARD_CATALOG.find(name)
    assert spec is not None
    with pytest.raises(ValueParseError, match="exponent"):
        spec.parse(text)
    # Computing the number took minutes; refused, it takes microseconds. 10 s tells them apart
    # on any machine, however loaded.
    assert time.monotonic() - started < 10
    # Exponents people type still work.
    assert STANDARD_CATALOG.find("shutter").parse("1e-3") == 10  # type: ignore[union-attr]


def test_a_datetime_value_must_be_a_date() -> None:
    # property_parse: invariant datetime-value. "00000000T000000" matched the old pattern
    # (\d{8}T\d{6}, then anything after Z/+/-) and was sent to the camera as its DateTime.
    name, text = spec_and_text(replay("property_parse", "292f303030303030303054303030303030"))
    assert (name, text) == ("date-time", "00000000T000000")
    spec = STANDARD_CATALOG.find("date-time")
    assert spec is not None
    with pytest.raises(ValueParseError):
        spec.parse(text)
    for bad in ("20240131T235959+garbage", "20240131T235959+2400", "２０２４０１３１T235959"):
        with pytest.raises(ValueParseError):
            spec.parse(bad)
    # What a camera (and parse_datetime) reads still passes, as typed.
    for good in ("20240131T235959", "20240131T235959.5Z", "20240131T235959-05:30"):
        assert spec.parse(good) == good
        assert parse_datetime(good) is not None
    # ISO input is converted with a four-digit year (strftime("%Y") gives "1" for year 1).
    assert spec.parse("0001-02-03T04:05:06") == "00010203T040506"


# -- PropertySpec.format -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_input", "name", "shown"),
    [
        # property_format: AssertionError at properties.py in _datetime_format (UINT32 0)
        ("0e060000000000", "date-time", "0"),
        # property_format: AssertionError at properties.py in _focal_format (AINT32 [1, 2, 3])
        ("05054003000000010000000200000003000000", "focal-length", "[1, 2, 3]"),
        # property_format: AssertionError at properties.py in _fnumber_format (AINT8 [])
        ("1f060100000000", "f-number", "[]"),
        # property_format: AssertionError at properties.py in _shutter_format (STR "")
        ("0ad100010000000000000000", "shutter", ""),
        # property_format: AssertionError at properties.py in _delay_format (AUINT64 [])
        ("0f260000000000", "delay", "[]"),
        # property_format: AssertionError at properties.py in _bias_format (AINT8 [])
        ("0d730000000000000000000000bd0000000000000000000000000000000000", "exp-bias", "[]"),
    ],
    ids=["date-time", "focal-length", "f-number", "shutter", "delay", "exp-bias"],
)
def test_a_value_of_another_datatype_is_shown_plainly(
    hex_input: str, name: str, shown: str
) -> None:
    # A camera may describe a standard property with another datatype than the standard's. The
    # formatters asserted the type, and AssertionError escaped format(), which catches TypeError
    # and ValueError only: `ptpkit props` died on such a camera.
    data = replay("property_format", hex_input)
    spec = STANDARD_PROPERTIES[data[0] % len(STANDARD_PROPERTIES)]
    assert spec.name == name
    datatype, rest = pick_datatype(data[1:])
    assert spec.format(decode_value(rest, datatype)) == shown  # the plain form
    assert STANDARD_CATALOG.format(0x5007, "f/2.8") == "f/2.8"
    assert STANDARD_CATALOG.format(0x5007, 280) == "f/2.8"  # the right type still formats


# -- safe_filename -------------------------------------------------------------------------------


def test_trailing_dots_and_spaces_are_stripped_together() -> None:
    # safe_filename: invariant safe-name-trailing. " . \0 . " became " . _ ." and then
    # strip().rstrip(".") left a trailing space, which Windows drops ("x ." and "x" are one
    # file there).
    data = replay("safe_filename", "00202e2000202e20")
    assert as_text(data) == " . \x00 . "
    assert safe_filename(as_text(data)) == ". _"
    assert safe_filename("x .") == "x"
    assert safe_filename("IMG.JPG . . ") == "IMG.JPG"
    # A name cut to length cannot end in dots either ("." * 300 + "x" * 20 left 242 dots).
    assert safe_filename("." * 300 + "x" * 20) == "object"


OBJECT_INFO_HEX = (
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000152e002e002f00dc006e00ef006300f8006400ffffffffffffffffffffffffffffe90020002e0000"
    "000000000000000000202e006741720000004141002d0000a000000078000000401a0000801100001800ffffff7f"
    "0090000000000000000000000d49004d0047005f00300030003000316a002e004a00004700000010320030003200"
    "3400300031003300310054003200330035003900350039000000173200300032003400"
)


def test_an_object_name_ending_in_space_dot_is_made_safe() -> None:
    # object_info: invariant safe-name-trailing, through ObjectInfo's filename as a camera sends
    # it: "../Ünïcød\uffff...é ." was saved as ".._Ünïcød...é " (a trailing space).
    data = replay("object_info", OBJECT_INFO_HEX)
    name = ObjectInfo.from_bytes(data).filename
    assert name.endswith("é .")
    assert safe_filename(name).endswith("é")


# -- format_datetime -----------------------------------------------------------------------------


def test_years_before_1000_keep_four_digits() -> None:
    # parse_datetime: invariant datetime-round-trip. "00010101T000000" parses as year 1, but
    # format_datetime used strftime("%Y"), which glibc does not pad: "10101T000000" is not a
    # date-time, so the virtual camera would serve an unreadable date.
    data = replay("parse_datetime", "00303030313031303154303030303030")
    when = parse_datetime(as_text(data))
    assert when == _dt.datetime(1, 1, 1)
    assert format_datetime(when) == "00010101T000000"
    assert parse_datetime(format_datetime(when)) == when
    assert format_datetime(_dt.datetime(999, 12, 31, 23, 59, 59, 900000), tenths=True) == (
        "09991231T235959.9"
    )
