"""The numbers users type: one validated reading for every numeric option and config value.

Python's ``float()`` reads ``inf``, ``nan`` and ``1e300``, and each of those then fails far from
where it was typed (``time.sleep(1e300)`` raises OverflowError, a ``nan`` deadline never comes).
Every duration, count, port and byte count the command line or the config file takes is read
here instead, so all of them refuse what makes no sense with one line naming the option.

Durations take gphoto2's suffixes (``--wait-event=5s``, ``500ms``; gphoto2(1)) and ``m``/``h``;
a plain number is seconds.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    _FloatType = click.ParamType[float, Any]
    _IntType = click.ParamType[int, Any]
else:
    # click before 8.2 (Debian 12 has 8.1) has no generic ParamType: subscripting it at run time
    # raises TypeError, so only type checkers see the parameters.
    _FloatType = _IntType = click.ParamType

#: The longest wait any option takes: 30 days. Far beyond a real timelapse interval or timeout,
#: and below the smallest ``threading.TIMEOUT_MAX`` of the platforms Python runs on (Windows:
#: 2**32 ms, about 49.7 days), so no wait can overflow a platform timer.
MAX_SECONDS: Final = 30 * 24 * 3600.0
#: The longest --pairing-timeout (and config pairing_timeout): a day; someone walks to the camera.
MAX_PAIRING_TIMEOUT_S: Final = 86400.0
#: The largest count (pictures, events, bytes to dump): 2**31 - 1, as a C int would hold.
MAX_COUNT: Final = 2**31 - 1

_UNIT_S: Final = {"": 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION: Final = re.compile(r"^([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(ms|s|min|m|h)?$")
_INTEGER: Final = re.compile(r"^[+]?[0-9]+$")


class NumberError(ValueError):
    """Text that is not an acceptable number for where it was given."""


def parse_seconds(
    text: str, *, minimum: float = 0.0, allow_minimum: bool = True, maximum: float = MAX_SECONDS
) -> float:
    """A duration in seconds: ``10``, ``2.5``, ``10s``, ``500ms``, ``5m``, ``1h``; finite and
    within ``minimum`` (included when ``allow_minimum``) .. ``maximum``."""
    cleaned = text.strip().lower()
    match = _DURATION.match(cleaned)
    if match is None:
        raise NumberError(f"{text!r} is not a number of seconds (e.g. 10, 2.5s, 500ms, 5m)")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2) or ""]
    if seconds == 0 and re.search(r"[1-9]", match.group(1).lower().split("e")[0]):
        # 1e-400 underflows to 0, which for an idle timeout means "never": the opposite.
        raise NumberError(f"{text!r} is too short to tell from 0")
    if not math.isfinite(seconds) or seconds > maximum:
        raise NumberError(f"{text!r} is too long (at most {_long(maximum)})")
    if seconds < minimum or (seconds == minimum and not allow_minimum):
        bound = "more than" if not allow_minimum else "at least"
        raise NumberError(f"{text!r} is too short ({bound} {minimum:g} s)")
    return seconds


def _long(seconds: float) -> str:
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds:g} s"


def parse_count(text: str, *, minimum: int = 0, maximum: int = MAX_COUNT, what: str = "") -> int:
    """A whole number in ``minimum .. maximum`` (decimal digits only: no ``1e3``, no ``nan``)."""
    cleaned = text.strip()
    if not _INTEGER.match(cleaned):
        raise NumberError(f"{text!r} is not a whole number{what}")
    # Bounded before int(): a thousand-digit count is refused without converting it.
    if len(cleaned.lstrip("+0")) > len(str(maximum)) or not minimum <= int(cleaned) <= maximum:
        raise NumberError(f"{text!r} is out of range ({minimum} .. {maximum}{what})")
    return int(cleaned)


def parse_port(text: str, *, allow_zero: bool = False) -> int:
    """A TCP/UDP port, 1 .. 65535 (0, "any free port", where ``allow_zero``)."""
    return parse_count(text, minimum=0 if allow_zero else 1, maximum=65535, what=" for a port")


class Seconds(_FloatType):
    """A duration option (see :func:`parse_seconds`)."""

    name = "seconds"

    def __init__(
        self, *, minimum: float = 0.0, allow_minimum: bool = True, maximum: float = MAX_SECONDS
    ) -> None:
        self.minimum = minimum
        self.allow_minimum = allow_minimum
        self.maximum = maximum

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:
        return "S"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = repr(float(value))  # a default given as a number is checked the same way
        try:
            return parse_seconds(
                str(value),
                minimum=self.minimum,
                allow_minimum=self.allow_minimum,
                maximum=self.maximum,
            )
        except NumberError as exc:
            self.fail(str(exc), param, ctx)


class Count(_IntType):
    """A whole-number option (see :func:`parse_count`)."""

    name = "count"

    def __init__(self, *, minimum: int = 0, maximum: int = MAX_COUNT) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:
        return "N"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        try:
            return parse_count(str(value), minimum=self.minimum, maximum=self.maximum)
        except NumberError as exc:
            self.fail(str(exc), param, ctx)


class Port(Count):
    name = "port"

    def __init__(self, *, allow_zero: bool = True) -> None:
        super().__init__(minimum=0 if allow_zero else 1, maximum=65535)

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:
        return "PORT"
