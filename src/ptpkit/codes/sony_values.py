"""Sony property values as photographers write them, both ways.

Encodings (libgphoto2 ``camlibs/ptp2/config.c`` _get/_put_Sony_ShutterSpeed, _get/_put_Sony_ISO,
the Sony capture target table; vendors.md section 3):

- Shutter speed, 0xD20D (u32): ``numerator << 16 | denominator`` (1/125 = 0x0001007D, 2.5" =
  0x0019000A); 0 is "Bulb". Shown as gphoto2 shows it: ``1/125``, ``2.5``, ``30``.
- ISO, 0xD21E (u32): 0xFFFFFF is "Auto"; the low 24 bits the ISO number (the high byte carries
  multi-frame noise reduction on some bodies, shown as a suffix).
- F-number, 0x5007 (u16): hundredths, ``f/5.6``.
- Exposure compensation, 0x5010 (i16): thousandths of a stop, ``+0.7``; thirds as ``+2/3`` too.
- Still Image Save Destination, 0xD222 (u16): 0x0001 the computer ("sdram" in gphoto2), 0x0010 the
  camera's card ("card"), 0x0011 both ("card+sdram") (gphoto2 2.5.30's capturetarget choices for
  these values, seen against ptpkit's virtual Sony).
- Focus mode 0x500A and white balance 0x5005: Sony's values beside the standard ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Final

SHUTTER_SPEED: Final = 0xD20D
ISO: Final = 0xD21E
F_NUMBER: Final = 0x5007
EXPOSURE_COMPENSATION: Final = 0x5010
SAVE_DESTINATION: Final = 0xD222
FOCUS_MODE: Final = 0x500A
WHITE_BALANCE: Final = 0x5005
PRIORITY_MODE: Final = 0xD25A
OBJECT_IN_MEMORY: Final = 0xD215
FOCUS_FOUND: Final = 0xD213
BATTERY_LEVEL: Final = 0xD20E

SHUTTER_BULB: Final = 0
ISO_AUTO: Final = 0xFFFFFF
SAVE_PC: Final = 0x0001
SAVE_CAMERA: Final = 0x0010
SAVE_BOTH: Final = 0x0011

_NAMED: Final[Mapping[int, Mapping[int, str]]] = {
    SAVE_DESTINATION: {SAVE_PC: "computer", SAVE_CAMERA: "camera", SAVE_BOTH: "camera+computer"},
    FOCUS_MODE: {1: "manual", 2: "AF-S", 0x8004: "AF-C", 0x8005: "DMF", 0x8006: "AF-A"},
    WHITE_BALANCE: {
        0x0002: "auto", 0x0004: "daylight", 0x0006: "tungsten", 0x0007: "flash",
        0x8001: "fluorescent warm white", 0x8002: "fluorescent cool white",
        0x8003: "fluorescent day white", 0x8004: "fluorescent daylight",
        0x8005: "fluorescent 5", 0x8006: "fluorescent 6", 0x8010: "cloudy", 0x8011: "shade",
        0x8012: "colour temperature", 0x8020: "custom",
    },
    PRIORITY_MODE: {0: "camera", 1: "computer"},
}  # fmt: skip
#: More words a user may type for a named value.
_ALIASES: Final[Mapping[int, Mapping[str, int]]] = {
    SAVE_DESTINATION: {"pc": SAVE_PC, "sdram": SAVE_PC, "host": SAVE_PC, "card": SAVE_CAMERA,
                       "both": SAVE_BOTH, "card+sdram": SAVE_BOTH, "pc+camera": SAVE_BOTH},
    FOCUS_MODE: {"mf": 1, "afs": 2, "afc": 0x8004, "afa": 0x8006},
    WHITE_BALANCE: {"awb": 0x0002, "incandescent": 0x0006},
}  # fmt: skip

_SECONDS: Final = re.compile(r"\d{1,6}(\.\d{1,4})?(/\d{1,6})?")
_STOPS: Final = re.compile(r"\d{1,2}(\.\d{1,4})?(/\d{1,2})?")

_TABLES: Final = frozenset({SHUTTER_SPEED, ISO, F_NUMBER, EXPOSURE_COMPENSATION, *_NAMED})


def has_table(code: int) -> bool:
    return code in _TABLES


def format_value(code: int, value: int) -> str | None:
    """``value`` of ``code`` as text, or None when this module has no table for it."""
    if code == SHUTTER_SPEED:
        return format_shutter(value)
    if code == ISO:
        return format_iso(value)
    if code == F_NUMBER:
        return f"f/{value / 100:g}"
    if code == EXPOSURE_COMPENSATION:
        return format_ev(value)
    names = _NAMED.get(code)
    if names is None:
        return None
    return names.get(value, f"0x{value:04X}")


def parse_value(code: int, text: str, allowed: Sequence[int] | None = None) -> int | None:
    """The value ``text`` means for ``code`` (None: no table; ValueError: no such value)."""
    if code == SHUTTER_SPEED:
        return parse_shutter(text, allowed)
    if code == ISO:
        return parse_iso(text, allowed)
    if code == F_NUMBER:
        number = _number(text.strip().lower().removeprefix("f/").removeprefix("f"))
        if not 0 < number * 100 <= 0xFFFF:
            raise ValueError(f"{text!r} is not an f-number (f/2.8, 8)")
        return _pick(round(number * 100), allowed, text)
    if code == EXPOSURE_COMPENSATION:
        return parse_ev(text, allowed)
    names = _NAMED.get(code)
    if names is None:
        return None
    wanted = _slug(text)
    for value, name in names.items():
        if _slug(name) == wanted:
            return value
    alias = _ALIASES.get(code, {}).get(wanted)
    if alias is not None:
        return alias
    if re.fullmatch(r"0x[0-9a-f]+|\d+", wanted):
        return int(wanted, 0)
    raise ValueError(f"{text!r} is not one of: {', '.join(names.values())}")


def _slug(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text.strip().lower())


def _number(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a number")
    return number


def _pick(value: int, allowed: Sequence[int] | None, text: str) -> int:
    # Whether the camera offers it now is the caller's check (it lists what is allowed).
    return value


# -- shutter speed ---------------------------------------------------------------------------------


def format_shutter(value: int) -> str:
    if value == SHUTTER_BULB:
        return "Bulb"
    numerator, denominator = value >> 16, value & 0xFFFF
    if denominator == 0:
        return f"0x{value:08X}"
    if numerator == 1 and denominator > 1:
        return f"1/{denominator}"
    return f"{numerator / denominator:g}"


def parse_shutter(text: str, allowed: Sequence[int] | None = None) -> int:
    """``1/250``, ``2.5``, ``2.5"``, ``30s``, ``bulb``: the camera's value for it. With
    ``allowed`` a time is matched to the offered value of equal length; one not offered is
    encoded anyway (the caller refuses it, listing what is allowed)."""
    from fractions import Fraction  # noqa: PLC0415 - parsing only: not loaded at start-up

    clean = text.strip().lower().rstrip('"').removesuffix("s").strip()
    if clean == "bulb":
        return _pick(SHUTTER_BULB, allowed, text)
    # Plain numbers only (no exponents: "1e999999" must not become a huge fraction).
    if not _SECONDS.fullmatch(clean):
        raise ValueError(f"{text!r} is not a shutter speed (1/250, 2.5, 30, bulb)")
    try:
        seconds = Fraction(clean)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a shutter speed (1/250, 2.5, 30, bulb)") from None
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a shutter speed")
    if allowed is not None:
        for value in allowed:
            numerator, denominator = value >> 16, value & 0xFFFF
            if (
                value != SHUTTER_BULB
                and denominator
                and Fraction(numerator, denominator) == seconds
            ):
                return value
    if seconds < 1 and seconds.numerator == 1:
        return 1 << 16 | seconds.denominator
    tenths = seconds * 10
    if tenths.denominator != 1 or tenths > 0xFFFF:
        raise ValueError(f"{text!r} is not a shutter speed a Sony encodes")
    return int(tenths) << 16 | 10


# -- ISO -------------------------------------------------------------------------------------------


def format_iso(value: int) -> str:
    if value & 0xFFFFFF == ISO_AUTO:
        return "Auto"
    high = value >> 24
    text = f"{value & 0xFFFFFF}"
    return f"{text} (multi-frame NR {high})" if high else text


def parse_iso(text: str, allowed: Sequence[int] | None = None) -> int:
    clean = text.strip().lower().removeprefix("iso").strip()
    if clean in ("auto", "a"):
        return _pick(ISO_AUTO, allowed, text)
    if not (clean.isascii() and clean.isdigit()) or int(clean) > ISO_AUTO:
        raise ValueError(f"{text!r} is not an ISO (100, 3200, auto)")
    return _pick(int(clean), allowed, text)


# -- exposure compensation -------------------------------------------------------------------------


def format_ev(value: int) -> str:
    return "0" if value == 0 else f"{value / 1000:+.1f}"


def parse_ev(text: str, allowed: Sequence[int] | None = None) -> int:
    """``+0.7``, ``-1.3``, ``+2/3``, ``-1 1/3``, ``0``: thousandths, matched to the nearest value
    the camera offers (Sony rounds thirds: 0.3, 0.7)."""
    from fractions import Fraction  # noqa: PLC0415 - parsing only: not loaded at start-up

    clean = text.strip().replace(" ", "+") if " " in text.strip() else text.strip()
    sign = -1 if clean.startswith("-") else 1
    body = clean.lstrip("+-")
    if not all(_STOPS.fullmatch(part) for part in body.split("+") if part):
        raise ValueError(f"{text!r} is not an exposure compensation (+0.7, -1 1/3)")
    try:
        stops = sum((Fraction(part) for part in body.split("+") if part), Fraction(0))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not an exposure compensation (+0.7, -1 1/3)") from None
    thousandths = float(sign * stops * 1000)
    if abs(thousandths) > 0x7FFF:
        raise ValueError(f"{text!r} is not an exposure compensation (+0.7, -1 1/3)")
    if allowed:
        best = min(allowed, key=lambda v: abs(v - thousandths))
        if abs(best - thousandths) <= 60:
            return best
    return round(thousandths)


__all__ = [
    "format_ev",
    "format_iso",
    "format_shutter",
    "format_value",
    "has_table",
    "parse_ev",
    "parse_iso",
    "parse_shutter",
    "parse_value",
]
