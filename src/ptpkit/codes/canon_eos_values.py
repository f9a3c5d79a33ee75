"""Canon EOS property values as photographers write them, and back.

EOS encodes exposure values on a grid of eighth stops (vendors.md 1.4, from libgphoto2
``camlibs/ptp2/config.c`` tables ``canon_aperture``, ``canon_shutterspeed``, ``canon_isospeed``,
``canon_expcompensation2``, ``canon_eos_whitebalance``, ``canon_eos_drive_mode``): a full stop
is +8, third stops are +3 and +5, a half stop is +4. The tables below are data, code -> text;
several codes can share a text (a third-stop and a half-stop f/1.2), and parsing then picks the
third-stop code unless the camera's allowed list says otherwise.

Public functions (none raises on a device value: an unknown code is shown as hex):

- :func:`format_value` ``(prop, value) -> str`` and :func:`parse_value`
  ``(prop, text, allowed=None) -> int`` for ISO (0xD103), aperture (0xD101), shutter speed
  (0xD102), exposure compensation (0xD104), white balance (0xD109), drive mode (0xD106) and
  capture target (0xD11C); :func:`has_table` tells which properties have one.
- :func:`format_image_format` ``(entries) -> str`` / :func:`parse_image_format`
  ``(text) -> tuple[(kind, size, compression), ...]`` for ImageFormat (0xD120):
  "RAW + Large Fine JPEG". Entries are anything with ``kind``, ``size`` and ``compression``
  (``ptpkit.core.canon_eos.ImageFormatEntry``).
- The per-property functions (``format_aperture`` ...), and the tables (``APERTURE`` ...).

``parse_value`` raises :class:`ValueError` for text it cannot read or a value the allowed list
does not hold (the caller turns it into a usage error).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Protocol

APERTURE_PROP: Final = 0xD101
SHUTTER_PROP: Final = 0xD102
ISO_PROP: Final = 0xD103
EXPOSURE_COMP_PROP: Final = 0xD104
DRIVE_MODE_PROP: Final = 0xD106
WHITE_BALANCE_PROP: Final = 0xD109
CAPTURE_TARGET_PROP: Final = 0xD11C
IMAGE_FORMAT_PROP: Final = 0xD120

# -- tables (code -> text); the first code listed for a text is the one parsing picks -----------

#: f-numbers on the eighth-stop grid (0x08 = f/1, +8 per stop); third stops first, then the
#: half stops (+4) that print the same or their own conventional number.
APERTURE: Final[dict[int, str]] = {
    0x0000: "implicit auto",
    0xFFFF: "Auto",
    **{
        code: f"f/{text}"
        for code, text in (
            (0x08, "1"), (0x0B, "1.1"), (0x0D, "1.2"), (0x10, "1.4"), (0x13, "1.6"),
            (0x15, "1.8"), (0x18, "2"), (0x1B, "2.2"), (0x1D, "2.5"), (0x20, "2.8"),
            (0x23, "3.2"), (0x25, "3.5"), (0x28, "4"), (0x2B, "4.5"), (0x2D, "5"),
            (0x30, "5.6"), (0x33, "6.3"), (0x35, "7.1"), (0x38, "8"), (0x3B, "9"),
            (0x3D, "10"), (0x40, "11"), (0x43, "13"), (0x45, "14"), (0x48, "16"),
            (0x4B, "18"), (0x4D, "20"), (0x50, "22"), (0x53, "25"), (0x55, "29"),
            (0x58, "32"), (0x5B, "36"), (0x5D, "40"), (0x60, "45"), (0x63, "51"),
            (0x65, "57"), (0x68, "64"), (0x6B, "72"), (0x6D, "80"), (0x70, "91"),
            # half stops
            (0x0C, "1.2"), (0x14, "1.8"), (0x1C, "2.5"), (0x24, "3.5"), (0x2C, "4.5"),
            (0x34, "6.7"), (0x3C, "9.5"), (0x44, "13"), (0x4C, "19"), (0x54, "27"),
            (0x5C, "38"), (0x64, "54"), (0x6C, "76"),
        )
    },
}  # fmt: skip

#: Exposure times: 0x10 = 30 s, 0x70 = 1/125, +8 per stop. Seconds are written "30s" / "0.5s".
SHUTTER: Final[dict[int, str]] = {
    0x00: "Auto",
    0x04: "Bulb",
    0x0C: "Bulb",
    **{
        0x10: "30s", 0x13: "25s", 0x15: "20s", 0x18: "15s", 0x1B: "13s",
            0x1D: "10s", 0x20: "8s", 0x23: "6s", 0x25: "5s", 0x28: "4s",
            0x2B: "3.2s", 0x2D: "2.5s", 0x30: "2s", 0x33: "1.6s", 0x35: "1.3s",
            0x38: "1s", 0x3B: "0.8s", 0x3D: "0.6s", 0x40: "0.5s", 0x43: "0.4s",
            0x45: "0.3s", 0x48: "1/4", 0x4B: "1/5", 0x4D: "1/6", 0x50: "1/8",
            0x53: "1/10", 0x55: "1/13", 0x58: "1/15", 0x5B: "1/20", 0x5D: "1/25",
            0x60: "1/30", 0x63: "1/40", 0x65: "1/50", 0x68: "1/60", 0x6B: "1/80",
            0x6D: "1/100", 0x70: "1/125", 0x73: "1/160", 0x75: "1/200",
            0x78: "1/250", 0x7B: "1/320", 0x7D: "1/400", 0x80: "1/500",
            0x83: "1/640", 0x85: "1/800", 0x88: "1/1000", 0x8B: "1/1250",
            0x8D: "1/1600", 0x90: "1/2000", 0x93: "1/2500", 0x95: "1/3200",
            0x98: "1/4000", 0x9B: "1/5000", 0x9D: "1/6400", 0xA0: "1/8000",
            0xA3: "1/10000", 0xA5: "1/12800", 0xA8: "1/16000",
            # half stops
            0x14: "20s", 0x1C: "10s", 0x24: "6s", 0x2C: "3s", 0x34: "1.5s",
            0x3C: "0.7s", 0x44: "0.3s", 0x4C: "1/6", 0x54: "1/10", 0x5C: "1/20",
            0x64: "1/45", 0x6C: "1/90", 0x74: "1/180", 0x7C: "1/350",
            0x84: "1/750", 0x8C: "1/1500", 0x94: "1/3000", 0x9C: "1/6000",
    },
}  # fmt: skip

#: ISO: 0x48 = 100, +8 per stop, third stops in between.
ISO: Final[dict[int, str]] = {
    0x00: "Auto",
    **{
        code: str(speed)
        for code, speed in (
            (0x40, 50), (0x48, 100), (0x4B, 125), (0x4D, 160), (0x50, 200), (0x53, 250),
            (0x55, 320), (0x58, 400), (0x5B, 500), (0x5D, 640), (0x60, 800), (0x63, 1000),
            (0x65, 1250), (0x68, 1600), (0x6B, 2000), (0x6D, 2500), (0x70, 3200),
            (0x73, 4000), (0x75, 5000), (0x78, 6400), (0x7B, 8000), (0x7D, 10000),
            (0x80, 12800), (0x83, 16000), (0x85, 20000), (0x88, 25600), (0x8B, 32000),
            (0x8D, 40000), (0x90, 51200), (0x93, 64000), (0x95, 80000), (0x98, 102400),
            (0xA0, 204800), (0xA8, 409600), (0xB0, 819200),
        )
    },
}  # fmt: skip

_FRACTIONS: Final = {0: "", 3: "1/3", 4: "1/2", 5: "2/3"}


#: The stop fraction each eighth remainder stands for (3/8 is the grid's 1/3, 5/8 its 2/3).
_FRACTION_EV: Final = {0: 0.0, 3: 1 / 3, 4: 0.5, 5: 2 / 3}
#: How far a decimal EV may be from a grid value and still mean it: libgphoto2 writes the
#: thirds as "0.3" and "0.6" (config.c canon_expcompensation2), others "0.7"; 0.1 covers both
#: and still tells 1/3 (0.33) from 1/2 (0.5) from 2/3 (0.67).
_EV_DECIMAL_SLACK: Final = 0.1 + 1e-9


def _ev_value(code: int) -> float:
    """The EV an exposure compensation code stands for (0x05 is 2/3, not 5/8)."""
    eighths = code - 0x100 if code & 0x80 else code
    whole, rest = divmod(abs(eighths), 8)
    value = whole + _FRACTION_EV.get(rest, rest / 8)
    return -value if eighths < 0 else value


def _ev_decimal_codes(text: str, table: Mapping[int, str]) -> list[int]:
    """The codes a decimal EV ("+0.3", "-0.7", "1.3", "-0.6") stands for, nearest first;
    empty when ``text`` is not a decimal number."""
    t = _norm(text).removesuffix("ev").strip()
    if "." not in t:
        return []
    try:
        number = float(t)
    except ValueError:
        return []
    near = [(abs(_ev_value(code) - number), code) for code in table]
    return [code for distance, code in sorted(near) if distance <= _EV_DECIMAL_SLACK]


def _ev_text(eighths: int) -> str:
    whole, rest = divmod(abs(eighths), 8)
    sign = "" if eighths == 0 else ("+" if eighths > 0 else "-")
    parts = ([str(whole)] if whole else []) + ([_FRACTIONS[rest]] if rest else [])
    return sign + (" ".join(parts) or "0")


#: Exposure compensation: a signed byte of eighth stops (0x03 = +1/3, 0xF8 = -1), +-5 EV.
EXPOSURE_COMP: Final[dict[int, str]] = {
    eighths & 0xFF: _ev_text(eighths)
    for eighths in sorted(range(-40, 41), key=lambda e: (abs(e), -e))
    if abs(eighths) % 8 in _FRACTIONS
}

#: White balance (u8), libgphoto2 canon_eos_whitebalance ("confirmed against EOS 450D").
WHITE_BALANCE: Final[dict[int, str]] = {
    0: "Auto",
    1: "Daylight",
    2: "Cloudy",
    3: "Tungsten",
    4: "Fluorescent",
    5: "Flash",
    6: "Manual",
    8: "Shadow",
    9: "Color temperature",
}

#: Drive mode (u16), libgphoto2 canon_eos_drive_mode.
DRIVE_MODE: Final[dict[int, str]] = {
    0x00: "Single",
    0x01: "Continuous",
    0x02: "Video",
    0x04: "Continuous high speed",
    0x05: "Continuous low speed",
    0x06: "Single silent shooting",
    0x07: "Continuous timer",
    0x10: "Timer 10 s",
    0x11: "Timer 2 s",
    0x12: "Super high speed continuous",
    0x13: "Single silent",
    0x14: "Continuous silent",
    0x15: "Silent high speed continuous",
    0x16: "Silent low speed continuous",
}

#: Capture target / CaptureDestination (u32): 4 = the computer (PTP_CANON_EOS_CAPTUREDEST_HD,
#: ptp.h); the card is the other enumerated value, usually 2 (config.c).
CAPTURE_TARGET: Final[dict[int, str]] = {2: "card", 4: "computer"}

#: Value widths, to read a value the way the camera stores it (u8 / u16 / u32).
_MASKS: Final = {
    APERTURE_PROP: 0xFFFF,
    SHUTTER_PROP: 0xFFFF,
    ISO_PROP: 0xFFFF,
    EXPOSURE_COMP_PROP: 0xFF,
    WHITE_BALANCE_PROP: 0xFF,
    DRIVE_MODE_PROP: 0xFFFF,
    CAPTURE_TARGET_PROP: 0xFFFFFFFF,
}

TABLES: Final[dict[int, Mapping[int, str]]] = {
    APERTURE_PROP: APERTURE,
    SHUTTER_PROP: SHUTTER,
    ISO_PROP: ISO,
    EXPOSURE_COMP_PROP: EXPOSURE_COMP,
    WHITE_BALANCE_PROP: WHITE_BALANCE,
    DRIVE_MODE_PROP: DRIVE_MODE,
    CAPTURE_TARGET_PROP: CAPTURE_TARGET,
}


def has_table(prop: int) -> bool:
    return prop in TABLES


def _hex(value: int) -> str:
    return f"0x{value:X}" if value >= 0 else f"-0x{-value:X}"


def format_value(prop: int, value: int) -> str:
    """``value`` of ``prop`` as text; a code the table does not know (or a property without a
    table) is shown as hex. Never raises."""
    table = TABLES.get(prop)
    if table is None:
        return _hex(value)
    masked = value & _MASKS[prop]
    text = table.get(masked)
    return text if text is not None else _hex(masked)


def format_aperture(value: int) -> str:
    return format_value(APERTURE_PROP, value)


def format_shutter_speed(value: int) -> str:
    return format_value(SHUTTER_PROP, value)


def format_iso(value: int) -> str:
    return format_value(ISO_PROP, value)


def format_exposure_compensation(value: int) -> str:
    return format_value(EXPOSURE_COMP_PROP, value)


def format_white_balance(value: int) -> str:
    return format_value(WHITE_BALANCE_PROP, value)


def format_drive_mode(value: int) -> str:
    return format_value(DRIVE_MODE_PROP, value)


def format_capture_target(value: int) -> str:
    return format_value(CAPTURE_TARGET_PROP, value)


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().split())


def _normalise_for(prop: int, text: str) -> list[str]:
    """The spellings ``text`` may stand for in ``prop``'s table (normalised)."""
    t = _norm(text)
    if prop == APERTURE_PROP:
        bare = t.removeprefix("f/").removeprefix("f")
        try:
            number = float(bare)
        except ValueError:
            return [t]
        return [t, f"f/{number:g}"]
    if prop == SHUTTER_PROP:
        if t.endswith('"'):
            t = t[:-1] + "s"
        if "/" in t or t.endswith("s"):
            return [t, t.replace(" ", "")]
        try:
            return [t, f"{float(t):g}s"]
        except ValueError:
            return [t]
    if prop == ISO_PROP:
        return [t, t.removeprefix("iso").strip()]
    if prop == EXPOSURE_COMP_PROP:
        t = t.removesuffix("ev").strip()
        if t and t[0].isdigit() and t != "0":
            t = "+" + t
        return [t, t.replace("+0", "0") if t in ("+0", "-0") else t]
    return [t]


def parse_value(prop: int, text: str, allowed: Sequence[int] | None = None) -> int:
    """The code for ``text`` ("f/5.6", "1/125", "+1/3", "400", "Auto", "card", or a number such
    as "0x68"). Where several codes print the same, the one in ``allowed`` wins, else the
    third-stop one. ValueError when nothing matches, or when ``allowed`` lacks the value."""
    table = TABLES.get(prop)
    if table is None:
        raise ValueError(f"no value table for property 0x{prop:04X}")
    mask = _MASKS[prop]
    candidates: list[int] = []
    spellings = set(_normalise_for(prop, text))
    for code, name in table.items():
        if _norm(name) in spellings and code not in candidates:
            candidates.append(code)
    if not candidates and prop == EXPOSURE_COMP_PROP:
        # The decimal way ("-0.7", gphoto2's "0.3"): the grid's thirds and halves are shown as
        # fractions, and a decimal means the nearest of them.
        candidates = _ev_decimal_codes(text, table)
    if not candidates:
        raw = _norm(text)
        try:
            number = int(raw, 0)
        except ValueError:
            raise ValueError(f"{text!r} is not a value of property 0x{prop:04X}") from None
        if prop == EXPOSURE_COMP_PROP and -128 <= number < 0:
            number &= 0xFF
        if not 0 <= number <= mask:
            raise ValueError(f"{text!r} does not fit property 0x{prop:04X}")
        candidates = [number]
    if allowed is None:
        return candidates[0]
    allowed_masked = {value & mask for value in allowed}
    for code in candidates:
        if code in allowed_masked:
            return code
    shown = ", ".join(format_value(prop, v) for v in allowed)
    raise ValueError(f"{text!r} is not allowed now (allowed: {shown})")


# -- image format --------------------------------------------------------------------------------

_KIND_JPEG: Final = 1
_KIND_RAW: Final = 6
JPEG_SIZES: Final[dict[int, str]] = {
    0x0: "Large",
    0x1: "Medium",
    0x2: "Small",
    0x5: "Medium 1",
    0x6: "Medium 2",
    0xE: "Small 1",
    0xF: "Small 2",
    0x10: "Small 3",
}
JPEG_QUALITIES: Final[dict[int, str]] = {2: "Normal", 3: "Fine"}
RAW_SIZES: Final[dict[int, str]] = {0: "RAW", 1: "mRAW", 2: "sRAW"}
#: RAW compression 3 is Canon's compressed RAW (libgphoto2: "fine: JPG/cRAW").
RAW_COMPRESSED: Final = 3


class ImageFormatEntryLike(Protocol):
    @property
    def kind(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def compression(self) -> int: ...


def _entry_text(kind: int, size: int, compression: int) -> str:
    if kind == _KIND_RAW and size in RAW_SIZES:
        return "cRAW" if compression == RAW_COMPRESSED and size == 0 else RAW_SIZES[size]
    if kind == _KIND_JPEG and size in JPEG_SIZES and compression in JPEG_QUALITIES:
        return f"{JPEG_SIZES[size]} {JPEG_QUALITIES[compression]} JPEG"
    return f"type 0x{kind:X} size 0x{size:X} compression 0x{compression:X}"


def format_image_format(entries: Iterable[ImageFormatEntryLike]) -> str:
    """ "RAW + Large Fine JPEG"; unknown entries shown with their numbers. Never raises."""
    parts = [_entry_text(e.kind, e.size, e.compression) for e in entries]
    return " + ".join(parts) if parts else "none"


def _parse_entry(text: str) -> tuple[int, int, int]:
    t = _norm(text)
    for size, name in RAW_SIZES.items():
        if t == name.lower():
            return (_KIND_RAW, size, 4)
    if t == "craw":
        return (_KIND_RAW, 0, RAW_COMPRESSED)
    words = t.removesuffix(" jpeg").removesuffix(" jpg")
    for size, size_name in JPEG_SIZES.items():
        for comp, comp_name in JPEG_QUALITIES.items():
            if words == f"{size_name} {comp_name}".lower():
                return (_KIND_JPEG, size, comp)
    raise ValueError(f"{text!r} is not an EOS image format (e.g. 'RAW + Large Fine JPEG')")


def parse_image_format(text: str) -> tuple[tuple[int, int, int], ...]:
    """(kind, size, compression) per file for text such as "RAW + Large Fine JPEG"."""
    parts = text.split("+")
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"{text!r}: an EOS shot makes one or two files")
    return tuple(_parse_entry(part) for part in parts)
