"""Friendly device properties: short names, readable values, and parsing what people type.

``iso`` is ExposureIndex (0x500F), ``shutter`` is ExposureTime (0x500D, in 0.0001 s: 80 shows as
"1/125"), ``f-number`` is FNumber (0x5007, in hundredths: 560 shows as "f/5.6"), ``exp-bias`` is
ExposureBiasCompensation (0x5010, thousandths of a stop: -333 shows as "-0.3"). Value names for
the enumerated standard properties follow ISO 15740 §13.5. Extensions add specs for their own
properties.

gphoto2's config names for the standard properties are names here too, so a gphoto2 user's
``--get-config`` names work: ``imagequality``, ``expprogram``, ``exposurecompensation``,
``exposuremetermode``, ``focusmetermode``, ``shutterspeed``, ``capturedelay``, ``effectmode``,
``capturemode``, ``batterylevel``... (libgphoto2 camlibs/ptp2/config.c, as Debian's gphoto2
2.5 lists them with ``--list-config`` for ptpkit's virtual camera; names differ from ours only
by ``-``, which names ignore). :func:`config_name` reads gphoto2's full paths.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from ptpkit.codes.table import normalize_name

if TYPE_CHECKING:
    from fractions import Fraction

#: A decoded property value (the same union as ``ptpkit.core.datatypes.Value``).
Value = int | str | tuple[int, ...]


class ValueParseError(ValueError):
    """Text that does not read as a value of the property."""


@dataclass(frozen=True, kw_only=True)
class PropertySpec:
    """How people name, read and write one device property."""

    code: int
    #: Friendly names, the first one preferred ("iso", "exposure-index"...).
    names: tuple[str, ...]
    label: str
    #: Names of enumerated values (white balance 2 = "automatic").
    value_names: Mapping[int, str] = field(default_factory=dict)
    formatter: Callable[[Value], str] | None = None
    parser: Callable[[str], Value] | None = None

    @property
    def name(self) -> str:
        return self.names[0]

    def format(self, value: Value) -> str:
        if isinstance(value, int) and value in self.value_names:
            return self.value_names[value]
        if self.formatter is not None:
            try:
                return self.formatter(value)
            except (TypeError, ValueError, ZeroDivisionError):
                pass
        return format_plain(value)

    def parse(self, text: str) -> Value:
        """The raw value for ``text`` (a value name, the formatted form, or a plain number)."""
        wanted = normalize_name(text)
        for raw, name in self.value_names.items():
            if normalize_name(name) == wanted:
                return raw
        if self.parser is not None:
            try:
                return self.parser(text.strip())
            # OverflowError: "inf" reads as a float, and round(inf) cannot be an int (found by
            # fuzz/ target property_parse).
            except (ValueError, ZeroDivisionError, OverflowError) as exc:
                raise ValueParseError(f"{text!r} is not a valid {self.label}: {exc}") from None
        return parse_plain(text)

    def match(self, text: str, allowed: Iterable[Value]) -> Value | None:
        """The allowed value ``text`` stands for, or None.

        A value matches when it reads as ``text`` does, or when its shown form does: "0.3",
        "+0.3" and "0.333" all pick the exposure bias shown as "+0.3" (333), as "-1" picks
        "-1.0". Shown forms round (thirds of a stop show one decimal), so comparing only the
        parsed numbers would refuse what the allowed list itself prints."""
        try:
            wanted = self.parse(text)
        except ValueParseError:
            return None
        values = list(allowed)
        if wanted in values:
            return wanted
        for value in values:
            try:
                if self.parse(self.format(value)) == wanted:
                    return value
            except ValueParseError:
                continue
        return None


#: gphoto2's config folders (``gphoto2 --list-config``): ``/main/capturesettings/expprogram``.
_GPHOTO2_PATH = re.compile(r"^/?main/[a-z0-9_-]+/(?P<name>[^/]+)$", re.IGNORECASE)
_HEX4 = re.compile(r"^[0-9a-fA-F]{4}$")


def config_name(text: str) -> str:
    """A property name as gphoto2's ``--get-config``/``--set-config`` take it, as ptpkit names
    it: the full path ``/main/capturesettings/expprogram`` is its last part (``expprogram``, a
    friendly name), and ``/main/other/500f`` (gphoto2's folder of properties it has no name
    for, named by hex code) is ``0x500f``. Anything else is returned as it is."""
    match = _GPHOTO2_PATH.match(text.strip())
    if match is None:
        return text
    name = match.group("name")
    return f"0x{name}" if _HEX4.match(name) else name


def format_plain(value: Value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def parse_plain(text: str) -> Value:
    """An integer (decimal or 0x hex), a list "[1, 2]" of them, or the text itself."""
    stripped = text.strip()
    try:
        return int(stripped, 0)
    except ValueError:
        pass
    if stripped.startswith("[") and stripped.endswith("]"):
        inner = stripped[1:-1].strip()
        try:
            return tuple(int(part, 0) for part in inner.split(",")) if inner else ()
        except ValueError:
            pass
    return text


# -- value formats of the standard properties ----------------------------------------------------


def _int(value: Value) -> int:
    """The value as an int for a formatter. A camera may report a property with another datatype
    than the standard's (a STR FNumber, an array): that is a TypeError, which ``format`` answers
    with the plain form. (An assert here escaped ``format`` as AssertionError: found by fuzz/
    target property_format.)"""
    if not isinstance(value, int):
        raise TypeError(f"expected an integer value, got {type(value).__name__}")
    return value


def _shutter_format(value: Value) -> str:
    """ExposureTime is in units of 0.0001 s (ISO 15740 §13.5.15)."""
    value = _int(value)
    if value <= 0:
        return str(value)
    if value >= 10000:
        return f"{value / 10000:g}s"
    return f"1/{round(10000 / value)}"


#: Exponents people may type in a value ("1e-3"). Fraction("1e99999999") computes 10**99999999:
#: minutes of CPU and hundreds of MB for ten characters (found by fuzz/ target property_parse,
#: as a libFuzzer timeout). Fraction accepts "_" between digits, so this pattern does too.
_EXPONENT = re.compile(r"e([+-]?[\d_]+)", re.IGNORECASE)
_MAX_EXPONENT = 30


def _fraction(text: str) -> Fraction:
    """``Fraction(text)``, refusing an exponent beyond ±30 before it is computed."""
    for match in _EXPONENT.finditer(text):
        if abs(int(match.group(1))) > _MAX_EXPONENT:
            raise ValueError(f"exponent {match.group(1)} is out of range")
    # fractions (with decimal) loads when a value is parsed, not with the vocabulary: start-up.
    from fractions import Fraction  # noqa: PLC0415

    return Fraction(text)


def _shutter_parse(text: str) -> Value:
    cleaned = text.lower().removesuffix("s").removesuffix("sec").strip()
    seconds = _fraction(cleaned)  # "1/125", "0.5", "2"
    if seconds <= 0:
        raise ValueError("an exposure time is positive")
    return round(seconds * 10000)


def _fnumber_format(value: Value) -> str:
    value = _int(value)
    return f"f/{value / 100:g}"


def _fnumber_parse(text: str) -> Value:
    cleaned = text.lower().removeprefix("f/").removeprefix("f").strip()
    return round(float(cleaned) * 100)


def _bias_format(value: Value) -> str:
    value = _int(value)
    return "0" if value == 0 else f"{value / 1000:+.1f}"


def _bias_parse(text: str) -> Value:
    """ "+1 1/3", "-0.7", "2/3 EV" -> thousandths of a stop."""
    cleaned = text.lower().removesuffix("ev").strip()
    sign = -1 if cleaned.startswith("-") else 1
    parts = cleaned.lstrip("+-").split()
    if not parts:
        raise ValueError("no number")
    return round(sign * sum(_fraction(part) for part in parts) * 1000)


def _percent_format(value: Value) -> str:
    return f"{value}%"


def _focal_format(value: Value) -> str:
    """FocalLength is in hundredths of a millimetre."""
    value = _int(value)
    return f"{value / 100:g} mm"


def _focal_parse(text: str) -> Value:
    return round(float(text.lower().removesuffix("mm").strip()) * 100)


def _delay_format(value: Value) -> str:
    """CaptureDelay is in milliseconds."""
    value = _int(value)
    return f"{value / 1000:g} s" if value % 100 == 0 else f"{value} ms"


def _delay_parse(text: str) -> Value:
    cleaned = text.lower().strip()
    if cleaned.endswith("ms"):
        return int(cleaned.removesuffix("ms").strip())
    return round(float(cleaned.removesuffix("s").strip()) * 1000)


def _datetime_format(value: Value) -> str:
    """DateTime is "YYYYMMDDThhmmss[.s]" (ISO 15740 §5.3.5); shown as ISO 8601."""
    if not isinstance(value, str):
        raise TypeError(f"expected a date-time string, got {type(value).__name__}")
    match = re.match(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})", value)
    if not match:
        return value
    y, mo, d, h, mi, s = match.groups()
    return f"{y}-{mo}-{d} {h}:{mi}:{s}{value[match.end() :]}"


#: A PTP date-time as people may type it: "YYYYMMDDThhmmss", optional tenths, then "Z" or
#: "+hhmm"/"-hh:mm" (the grammar ``ptpkit.core.datatypes.parse_datetime`` reads). ASCII digits
#: only: ``\d`` would also match other scripts' digits, which would go to the camera as they are.
_PTP_DATETIME = re.compile(r"(\d{8}T\d{6})(?:\.\d)?(Z|[+-]\d{2}:?\d{2})?", re.ASCII)


def _datetime_parse(text: str) -> Value:
    text = text.strip()
    match = _PTP_DATETIME.fullmatch(text)
    if match:
        # Sent as typed, so it must be a real date and time ("00000000T000000" is not) with a
        # zone under 24 hours: checked here rather than by the camera (found by fuzz/ target
        # property_parse: the old pattern let any date and any text after "+" through).
        _dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S")
        zone = (match.group(2) or "Z").replace(":", "")
        if zone != "Z" and int(zone[1:3]) * 60 + int(zone[3:5]) >= 24 * 60:
            raise ValueError(f"time zone {match.group(2)} is 24 hours or more")
        return text
    when = _dt.datetime.now() if text.lower() == "now" else _dt.datetime.fromisoformat(text)
    # Not strftime("%Y..."): glibc does not pad years before 1000 to four digits, and
    # "10101T000000" is not a date-time (found by fuzz/ target property_parse).
    return (
        f"{when.year:04d}{when.month:02d}{when.day:02d}"
        f"T{when.hour:02d}{when.minute:02d}{when.second:02d}"
    )


STANDARD_PROPERTIES: tuple[PropertySpec, ...] = (
    PropertySpec(
        code=0x5001,
        names=("battery", "battery-level"),
        label="battery level",
        formatter=_percent_format,
    ),
    PropertySpec(code=0x5003, names=("image-size", "imagesize", "resolution"), label="image size"),
    PropertySpec(
        code=0x5004, names=("compression", "quality", "imagequality"), label="compression setting"
    ),
    PropertySpec(
        code=0x5005,
        names=("white-balance", "whitebalance", "wb"),
        label="white balance",
        value_names={
            1: "manual",
            2: "automatic",
            3: "one-push-automatic",
            4: "daylight",
            5: "fluorescent",
            6: "tungsten",
            7: "flash",
        },
    ),
    PropertySpec(
        code=0x5007,
        names=("f-number", "fnumber", "aperture"),
        label="f-number",
        formatter=_fnumber_format,
        parser=_fnumber_parse,
    ),
    PropertySpec(
        code=0x5008,
        names=("focal-length", "focallength"),
        label="focal length",
        formatter=_focal_format,
        parser=_focal_parse,
    ),
    PropertySpec(code=0x5009, names=("focus-distance",), label="focus distance (mm)"),
    PropertySpec(
        code=0x500A,
        names=("focus-mode", "focusmode"),
        label="focus mode",
        value_names={1: "manual", 2: "automatic", 3: "automatic-macro"},
    ),
    PropertySpec(
        code=0x500B,
        names=("metering", "exposure-metering", "exposuremetering", "exposuremetermode"),
        label="exposure metering mode",
        value_names={1: "average", 2: "center-weighted", 3: "multi-spot", 4: "center-spot"},
    ),
    PropertySpec(
        code=0x500C,
        names=("flash-mode", "flashmode", "flash"),
        label="flash mode",
        value_names={
            1: "auto",
            2: "off",
            3: "fill",
            4: "red-eye-auto",
            5: "red-eye-fill",
            6: "external-sync",
        },
    ),
    PropertySpec(
        code=0x500D,
        names=("shutter", "exposure", "exposure-time", "shutter-speed"),
        label="exposure time",
        formatter=_shutter_format,
        parser=_shutter_parse,
    ),
    PropertySpec(
        code=0x500E,
        names=("program", "exposure-program", "mode", "expprogram"),
        label="exposure program",
        value_names={
            1: "manual",
            2: "automatic",
            3: "aperture-priority",
            4: "shutter-priority",
            5: "creative",
            6: "action",
            7: "portrait",
        },
    ),
    PropertySpec(code=0x500F, names=("iso", "exposure-index"), label="ISO"),
    PropertySpec(
        code=0x5010,
        names=("exp-bias", "exposure-bias", "ev", "exposure-compensation"),
        label="exposure bias (EV)",
        formatter=_bias_format,
        parser=_bias_parse,
    ),
    PropertySpec(
        code=0x5011,
        names=("date-time", "datetime", "clock"),
        label="date and time",
        formatter=_datetime_format,
        parser=_datetime_parse,
    ),
    PropertySpec(
        code=0x5012,
        names=("delay", "capture-delay"),
        label="capture delay",
        formatter=_delay_format,
        parser=_delay_parse,
    ),
    PropertySpec(
        code=0x5013,
        names=("capture-mode", "still-capture-mode", "drive"),
        label="still capture mode",
        value_names={1: "normal", 2: "burst", 3: "timelapse"},
    ),
    PropertySpec(code=0x5014, names=("contrast",), label="contrast"),
    PropertySpec(code=0x5015, names=("sharpness",), label="sharpness"),
    PropertySpec(code=0x5016, names=("digital-zoom",), label="digital zoom"),
    PropertySpec(
        code=0x5017,
        names=("effect", "effect-mode"),
        label="effect mode",
        value_names={1: "standard", 2: "black-and-white", 3: "sepia"},
    ),
    PropertySpec(code=0x5018, names=("burst-number",), label="burst number"),
    PropertySpec(code=0x5019, names=("burst-interval",), label="burst interval (ms)"),
    PropertySpec(
        code=0x501C,
        names=("focusmtr", "focus-metering", "focusmetermode"),
        label="focus metering mode",
        value_names={1: "center-spot", 2: "multi-spot"},
    ),
    PropertySpec(code=0x501E, names=("artist",), label="artist"),
    PropertySpec(code=0x501F, names=("copyright",), label="copyright"),
    PropertySpec(code=0xD402, names=("friendly-name", "device-name"), label="device name"),
)


#: Canon's own properties that PTP PowerShots (and the native-protocol gateway,
#: ptpkit.client.powershot_ptp) use: CameraOwner 0xD033 (libgphoto2 ptp.h
#: PTP_DPC_CANON_CameraOwner; config.c names it "ownername"). Added by the canon extension
#: (0xD033 is another property on a Nikon).
CANON_PROPERTIES: tuple[PropertySpec, ...] = (
    PropertySpec(code=0xD033, names=("owner", "ownername", "camera-owner"), label="owner name"),
)


class PropertyCatalog:
    """Friendly specs by code and by name, for one camera (standard plus its extensions)."""

    def __init__(self, specs: Iterable[PropertySpec] = STANDARD_PROPERTIES) -> None:
        by_code: dict[int, PropertySpec] = {}
        by_name: dict[str, list[PropertySpec]] = {}
        for spec in specs:
            by_code[spec.code] = spec
            for name in spec.names:
                by_name.setdefault(normalize_name(name), []).append(spec)
        self.by_code: Mapping[int, PropertySpec] = MappingProxyType(by_code)
        self._by_name = by_name

    def get(self, code: int) -> PropertySpec | None:
        return self.by_code.get(code)

    def find(self, name: str) -> PropertySpec | None:
        found = self._by_name.get(normalize_name(name))
        return found[0] if found else None

    def candidates(self, name: str) -> tuple[PropertySpec, ...]:
        """Every spec a name may mean, standard first: "iso" is the standard ExposureIndex and
        a Canon EOS's own ISO property; the camera's property list picks one."""
        return tuple(self._by_name.get(normalize_name(name), ()))

    def names(self) -> list[str]:
        return sorted({spec.name for spec in self.by_code.values()})

    def format(self, code: int, value: Value) -> str:
        spec = self.by_code.get(code)
        return spec.format(value) if spec else format_plain(value)

    def with_specs(self, specs: Iterable[PropertySpec]) -> PropertyCatalog:
        return PropertyCatalog([*self.by_code.values(), *specs])


STANDARD_CATALOG = PropertyCatalog()
