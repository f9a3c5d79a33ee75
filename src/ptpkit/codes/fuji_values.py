"""Fujifilm property values as photographers and the Go ``ptpip`` tool write them, both ways.

Sources: malc0mn/ptp-ip ``ip/packets_fuji.go`` (the value constants) and ``fmt/string_fuji.go``
(their texts: "PROVIA", "S 6400", "L 3:2", "fine + RAW"...); libgphoto2 ``camlibs/ptp2/ptp.h``
(the property codes). Texts shown are the Go tool's, so a user's scripts keep reading them;
parsing also takes short forms (``velvia``, ``classic-chrome``, ``auto``, ``800``, ``1/250``).

Encodings:

- ISO, 0xD02A (u32): 0xFFFFFFFF is "auto"; the high 16 bits are flags: 0x8000 "S" (the auto-ISO
  choices with their upper limit: "S 6400"), 0x4000 an extended value ("L 100" below 200,
  "H 12800" above); the low 16 bits are the ISO number (the seed's 0x902B dump of an X-T1 lists
  0x80000190..0x80001900, 0x40000064, 200..6400, 0x40003200..0x4000C800).
- Shutter speed, 0xD240 (u32): **assumed** exposure time in microseconds, 0xFFFFFFFF "auto"
  (ptp-ip's X-T1 dump answers 0xFFFFFFFF in aperture priority); no source on the wire gives the
  table, so this is the one encoding here not confirmed by a dump (see ``format_shutter``).
- Focus point, 0xD17C: ``x = (v >> 8) & 0xFF``, ``y = v & 0xFF`` shown "XxY" (ptp-ip).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

# -- property codes (libgphoto2 ptp.h PTP_DPC_FUJI_*, ptp-ip DPC_Fuji_*) ----------------------

FILM_SIMULATION: Final = 0xD001
IMAGE_QUALITY: Final = 0xD018
REC_MODE: Final = 0xD019
COMMAND_DIAL_MODE: Final = 0xD028
ISO: Final = 0xD02A
MOVIE_ISO: Final = 0xD02B
FOCUS_POINT: Final = 0xD17C
PRIORITY_MODE: Final = 0xD207
FOCUS_LOCK: Final = 0xD209
CURRENT_STATE: Final = 0xD212
DEVICE_ERROR: Final = 0xD21B
CAPTURE_REMAINING: Final = 0xD229
MOVIE_REMAINING_TIME: Final = 0xD22A
SHUTTER_SPEED: Final = 0xD240
IMAGE_SIZE: Final = 0xD241
BATTERY_LEVEL: Final = 0xD242
PC_MODE: Final = 0xD38C
OBJECT_COUNT: Final = 0xD222
CAMERA_STATE: Final = 0xDF00
INIT_SEQUENCE: Final = 0xDF01
APP_VERSION: Final = 0xDF24

# Standard properties whose values Fujifilm extends (ptp-ip FujiDevicePropValueAsString).
STD_BATTERY_LEVEL: Final = 0x5001
STD_WHITE_BALANCE: Final = 0x5005
STD_FOCUS_MODE: Final = 0x500A
STD_FLASH_MODE: Final = 0x500C
STD_CAPTURE_DELAY: Final = 0x5012
#: Standard ExposureTime, which a Fujifilm body gives in microseconds (libgphoto2 library.c
#: camera_fuji_capture lists 10079368 for 10 s, 32000000 for 30 s), not PTP's 1/10,000 s.
STD_EXPOSURE_TIME: Final = 0x500D

ISO_AUTO: Final = 0xFFFFFFFF
ISO_FLAG_STANDARD: Final = 0x8000  # "S": auto ISO with this upper limit
ISO_FLAG_EXTENDED: Final = 0x4000  # "L" / "H"
SHUTTER_AUTO: Final = 0xFFFFFFFF

FILM_SIMULATIONS: Final[Mapping[int, str]] = {
    0x01: "PROVIA",
    0x02: "Velvia",
    0x03: "ASTIA",
    0x04: "Monochrome",
    0x05: "Sepia",
    0x06: "PRO Neg. Hi",
    0x07: "PRO Neg. Std",
    0x08: "Monochrome + Ye Filter",
    0x09: "Monochrome + R Filter",
    0x0A: "Monochrome + G Filter",
    0x0B: "Classic Chrome",
    0x0C: "ACROS",
    0x0D: "ACROS Ye",
    0x0E: "ACROS R",
    0x0F: "ACROS G",
    0x10: "ETERNA",
}
#: Other names people type for them (the slugs are made from the texts above too).
_FILM_ALIASES: Final[Mapping[str, int]] = {
    "standard": 0x01,
    "vivid": 0x02,
    "soft": 0x03,
    "bw": 0x04,
    "mono": 0x04,
    "proneghigh": 0x06,
    "pronegstandard": 0x07,
    "pronegstd": 0x07,
    "monochromeye": 0x08,
    "monochromer": 0x09,
    "monochromeg": 0x0A,
    "acrosye": 0x0D,
    "acrosr": 0x0E,
    "acrosg": 0x0F,
}

IMAGE_QUALITIES: Final[Mapping[int, str]] = {
    0x02: "fine",
    0x03: "normal",
    0x04: "fine + RAW",
    0x05: "normal + RAW",
    0x06: "RAW",
}

IMAGE_SIZES: Final[Mapping[int, str]] = {
    0x02: "S 3:2",
    0x03: "S 16:9",
    0x04: "S 1:1",
    0x06: "M 3:2",
    0x07: "M 16:9",
    0x08: "M 1:1",
    0x0A: "L 3:2",
    0x0B: "L 16:9",
    0x0C: "L 1:1",
}

BATTERY_LEVELS: Final[Mapping[int, str]] = {
    0x01: "critical",
    0x02: "1/3",
    0x03: "2/3",
    0x04: "3/3",
    0x06: "critical",
    0x07: "1/5",
    0x08: "2/5",
    0x09: "3/5",
    0x0A: "4/5",
    0x0B: "5/5",
}

COMMAND_DIAL_MODES: Final[Mapping[int, str]] = {
    0: "both",
    1: "aperture",
    2: "shutter speed",
    3: "none",
}

FOCUS_LOCKS: Final[Mapping[int, str]] = {0: "off", 1: "on"}
DEVICE_ERRORS: Final[Mapping[int, str]] = {0: "none"}

#: White balance: Fujifilm's values beside ISO 15740's (ptp-ip WB_Fuji_*; "temperature" where
#: the Go tool prints "temprerature", which is accepted too).
WHITE_BALANCES: Final[Mapping[int, str]] = {
    0x8001: "fluorescent 1",
    0x8002: "fluorescent 2",
    0x8003: "fluorescent 3",
    0x8006: "shade",
    0x800A: "underwater",
    0x800B: "temperature",
    0x800C: "custom",
}

FOCUS_MODES: Final[Mapping[int, str]] = {
    0x0001: "manual",
    0x8001: "single auto",
    0x8002: "continuous auto",
}

FLASH_MODES: Final[Mapping[int, str]] = {
    0x8001: "on",
    0x8002: "red eye",
    0x8003: "red eye on",
    0x8004: "red eye sync",
    0x8005: "red eye rear",
    0x8006: "slow sync",
    0x8007: "rear sync",
    0x8008: "commander",
    0x8009: "disabled",
    0x800A: "enabled",
}

#: CaptureDelay 0x5012 on a Fujifilm is the self-timer's setting, not milliseconds.
SELF_TIMERS: Final[Mapping[int, str]] = {
    0: "off",
    1: "1 second",
    2: "2 seconds",
    3: "5 seconds",
    4: "10 seconds",
}

_TABLES: Final[Mapping[int, Mapping[int, str]]] = {
    FILM_SIMULATION: FILM_SIMULATIONS,
    IMAGE_QUALITY: IMAGE_QUALITIES,
    IMAGE_SIZE: IMAGE_SIZES,
    BATTERY_LEVEL: BATTERY_LEVELS,
    STD_BATTERY_LEVEL: BATTERY_LEVELS,
    COMMAND_DIAL_MODE: COMMAND_DIAL_MODES,
    FOCUS_LOCK: FOCUS_LOCKS,
    DEVICE_ERROR: DEVICE_ERRORS,
    STD_FOCUS_MODE: FOCUS_MODES,
    STD_FLASH_MODE: FLASH_MODES,
    STD_CAPTURE_DELAY: SELF_TIMERS,
}
#: Tables that only add to a standard property's names: other values are the standard's.
_VENDOR_ONLY: Final[Mapping[int, Mapping[int, str]]] = {STD_WHITE_BALANCE: WHITE_BALANCES}
_EXTRA_NAMES: Final[Mapping[int, Mapping[str, int]]] = {
    FILM_SIMULATION: _FILM_ALIASES,
    STD_WHITE_BALANCE: {"temprerature": 0x800B, "kelvin": 0x800B, "fluorescent": 0x8001},
    STD_FOCUS_MODE: {"afs": 0x8001, "afc": 0x8002, "mf": 0x0001, "single": 0x8001,
                     "continuous": 0x8002},
    IMAGE_QUALITY: {"fineraw": 0x04, "normalraw": 0x05, "rawfine": 0x04, "rawnormal": 0x05},
}  # fmt: skip


def _slug(text: str) -> str:
    """Lower case, letters and digits only: "PRO Neg. Hi" and "pro-neg-hi" are one name."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def has_table(code: int) -> bool:
    return code in _TABLES or code in _VENDOR_ONLY or code in (
        ISO, MOVIE_ISO, SHUTTER_SPEED, STD_EXPOSURE_TIME, FOCUS_POINT
    )  # fmt: skip


def format_value(code: int, value: int) -> str | None:
    """``value`` as the Go tool shows it, or None when this module has no text for it (the
    standard catalog's then)."""
    if code in (ISO, MOVIE_ISO):
        return format_iso(value)
    if code in (SHUTTER_SPEED, STD_EXPOSURE_TIME):
        return format_shutter(value)
    if code == FOCUS_POINT:
        return f"{(value >> 8) & 0xFF}x{value & 0xFF}"
    table = _TABLES.get(code) or _VENDOR_ONLY.get(code)
    if table is None:
        return None
    return table.get(value)


def parse_value(code: int, text: str, allowed: Sequence[int] | None = None) -> int | None:
    """The raw value ``text`` means for ``code``; None when this module does not know it (the
    standard parsing then). Raises ValueError for a text that names no value of a table of
    Fujifilm's own."""
    if code in (ISO, MOVIE_ISO):
        return parse_iso(text, allowed)
    if code in (SHUTTER_SPEED, STD_EXPOSURE_TIME):
        return parse_shutter(text, allowed)
    if code == FOCUS_POINT:
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
        if match is None:
            raise ValueError(f"{text!r} is not a focus point (write it XxY, e.g. 4x3)")
        return (int(match.group(1)) << 8) | int(match.group(2))
    wanted = _slug(text)
    extra = _EXTRA_NAMES.get(code, {})
    if wanted in extra:
        return extra[wanted]
    table = _TABLES.get(code) or _VENDOR_ONLY.get(code)
    if table is None:
        return None
    for raw, name in table.items():
        if _slug(name) == wanted:
            if allowed is not None and raw not in allowed:
                # Two raw values, one text (battery "critical"): the one allowed.
                others = [r for r, n in table.items() if _slug(n) == wanted and r in allowed]
                if others:
                    return others[0]
            return raw
    if code in _VENDOR_ONLY:
        return None  # a standard name ("daylight"): the standard catalog's
    try:
        return int(text.strip(), 0)
    except ValueError:
        names = ", ".join(table.values())
        raise ValueError(f"{text!r} is none of: {names}") from None


# -- ISO ---------------------------------------------------------------------------------------


def format_iso(value: int) -> str:
    """ptp-ip FujiExposureIndexAsString: "auto", "S 6400", "L 100", "H 12800", "800"."""
    if value == ISO_AUTO:
        return "auto"
    number = value & 0xFFFF
    flags = (value >> 16) & 0xFFFF
    if flags == ISO_FLAG_EXTENDED:
        return f"{'L' if number < 200 else 'H'} {number}"
    if flags == ISO_FLAG_STANDARD:
        return f"S {number}"
    return str(number) if not flags else f"0x{value:08X}"


def parse_iso(text: str, allowed: Sequence[int] | None = None) -> int:
    """ "auto", "S 6400" / "auto 6400" / "auto-6400", "L 100", "H 12800", "800", "ISO 800" or a
    raw number (0x80001900). A plain number the camera lists only as extended (100 as "L 100")
    is that value."""
    cleaned = text.strip().lower().replace("iso", "").strip()
    if cleaned == "auto":
        return ISO_AUTO
    if re.fullmatch(r"0x[0-9a-f]+", cleaned):
        return int(cleaned, 16)
    match = re.fullmatch(r"(s|auto|l|h)?\s*[- ]?\s*(\d+)", cleaned)
    if match is None:
        raise ValueError(f"{text!r} is not an ISO value (e.g. 800, auto, S 6400, H 12800)")
    prefix, number = match.group(1), int(match.group(2))
    if number > 0xFFFF:
        raise ValueError(f"ISO {number} is out of range")
    if prefix in ("s", "auto"):
        return (ISO_FLAG_STANDARD << 16) | number
    if prefix in ("l", "h"):
        return (ISO_FLAG_EXTENDED << 16) | number
    if allowed is not None and number not in allowed:
        extended = (ISO_FLAG_EXTENDED << 16) | number
        if extended in allowed:
            return extended
    return number


# -- shutter speed -----------------------------------------------------------------------------


#: The speeds photographers and camera dials write, in third stops: a body's exact values sit on
#: the 2^(k/3) grid (15625 us is 2^-6 s), shown by the nearest of these ("1/60", not "1/64").
_NOMINAL_FRACTIONS: Final = (
    8000, 6400, 5000, 4000, 3200, 2500, 2000, 1600, 1250, 1000, 800, 640, 500, 400, 320, 250, 200,
    160, 125, 100, 80, 60, 50, 40, 30, 25, 20, 15, 13, 10, 8, 6, 5, 4, 3, 2,
)  # fmt: skip
_NOMINAL_SECONDS: Final = (
    "0.4", "0.6", "0.8", "1", "1.3", "1.6", "2", "2.5", "3", "4", "5", "6", "8", "10", "13",
    "15", "20", "25", "30",
)  # fmt: skip
#: How far from a nominal speed a value may be and still take its name: a sixth of a stop.
_NOMINAL_RATIO: Final = 2 ** (1 / 6)


def format_shutter(value: int) -> str:
    """Microseconds as a photographer writes the speed: "1/250", "1/60", "1/2", "2", "30"; a
    value between nominal speeds exactly ("1/64")."""
    if value == SHUTTER_AUTO:
        return "auto"
    micros = value & 0x7FFFFFFF
    if micros == 0:
        return "0"
    seconds = micros / 1_000_000
    texts = [f"1/{d}" for d in _NOMINAL_FRACTIONS] + list(_NOMINAL_SECONDS)
    speeds = [1 / d for d in _NOMINAL_FRACTIONS] + [float(t) for t in _NOMINAL_SECONDS]
    ratio, text = min(
        (max(seconds / speed, speed / seconds), text)
        for speed, text in zip(speeds, texts, strict=True)
    )
    if ratio <= _NOMINAL_RATIO:
        return text
    if seconds >= 1:
        return f"{seconds:.1f}".removesuffix(".0")
    return f"1/{round(1 / seconds)}"


def parse_shutter(text: str, allowed: Sequence[int] | None = None) -> int:
    """ "auto", "1/250", "0.5", "2", "2s", "30\"" as microseconds; with an allowed list, the
    nearest allowed value within a sixth of a stop ("1/60" is the body's 15625 us, 2^-6 s)."""
    from fractions import Fraction  # noqa: PLC0415  (loaded on use: start-up time)

    cleaned = text.strip().lower().rstrip('s"').strip()
    if cleaned == "auto":
        return SHUTTER_AUTO
    try:
        if "/" in cleaned:
            top, _, bottom = cleaned.partition("/")
            seconds = Fraction(int(top), int(bottom))
        else:
            seconds = Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a shutter speed (e.g. 1/250, 2, auto)") from None
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a shutter speed")
    micros = round(seconds * 1_000_000)
    if allowed:
        candidates = [a for a in allowed if a != SHUTTER_AUTO]
        if candidates:

            def stops_apart(allowed_value: int) -> float:
                there = max(allowed_value & 0x7FFFFFFF, 1)
                return max(there / micros, micros / there)

            best = min(candidates, key=stops_apart)
            if stops_apart(best) <= _NOMINAL_RATIO:
                return best
    return micros


__all__ = [
    "FILM_SIMULATIONS",
    "format_iso",
    "format_shutter",
    "format_value",
    "has_table",
    "parse_iso",
    "parse_shutter",
    "parse_value",
]
