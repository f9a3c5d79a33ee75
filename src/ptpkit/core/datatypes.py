"""PTP data types (ISO 15740 §5.3, table 3) and the date-time string format (§5.3.5).

A property value is decoded according to its datatype code into a Python value:

- integer types -> ``int``
- array types   -> ``tuple[int, ...]``
- ``STR``       -> ``str``
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ptpkit.core.buffer import Reader, Writer
from ptpkit.errors import DecodeError, LocalProtocolError

if TYPE_CHECKING:
    # Imported where used: CPython's datetime imports time, and the core keeps clocks out of
    # its import graph (tests/core/test_imports.py).
    import datetime as _dt

Value = int | str | tuple[int, ...]


class DataType(enum.IntEnum):
    """PTP datatype codes (ISO 15740 table 3)."""

    UNDEF = 0x0000
    INT8 = 0x0001
    UINT8 = 0x0002
    INT16 = 0x0003
    UINT16 = 0x0004
    INT32 = 0x0005
    UINT32 = 0x0006
    INT64 = 0x0007
    UINT64 = 0x0008
    INT128 = 0x0009
    UINT128 = 0x000A
    AINT8 = 0x4001
    AUINT8 = 0x4002
    AINT16 = 0x4003
    AUINT16 = 0x4004
    AINT32 = 0x4005
    AUINT32 = 0x4006
    AINT64 = 0x4007
    AUINT64 = 0x4008
    AINT128 = 0x4009
    AUINT128 = 0x400A
    STR = 0xFFFF

    @property
    def is_array(self) -> bool:
        return self & 0x4000 != 0 and self != DataType.STR

    @property
    def is_integer(self) -> bool:
        return DataType.INT8 <= self <= DataType.UINT128

    @property
    def element(self) -> DataType:
        """The scalar type of an array type (itself for scalars)."""
        return DataType(self & 0x00FF) if self.is_array else self

    @property
    def size(self) -> int:
        """Bytes of one scalar element (0 for STR and UNDEF)."""
        return _SIZES.get(self.element, 0)

    @property
    def signed(self) -> bool:
        return self.element in (
            DataType.INT8,
            DataType.INT16,
            DataType.INT32,
            DataType.INT64,
            DataType.INT128,
        )

    @property
    def short_name(self) -> str:
        return self.name.lower()


_SIZES: Final = {
    DataType.INT8: 1,
    DataType.UINT8: 1,
    DataType.INT16: 2,
    DataType.UINT16: 2,
    DataType.INT32: 4,
    DataType.UINT32: 4,
    DataType.INT64: 8,
    DataType.UINT64: 8,
    DataType.INT128: 16,
    DataType.UINT128: 16,
}


_BY_CODE: Final = {int(member): member for member in DataType}


def as_datatype(code: int, reader: Reader | None = None) -> DataType:
    """The DataType for a code read from a device; an unknown code is a DecodeError."""
    datatype = _BY_CODE.get(code)
    if datatype is None:
        message = f"unknown datatype code 0x{code:04X}"
        raise (reader.fail(message) if reader else DecodeError(message)) from None
    if datatype is DataType.UNDEF:
        message = "datatype UNDEF (0x0000) has no encoding"
        raise reader.fail(message) if reader else DecodeError(message)
    return datatype


def pull_value(reader: Reader, datatype: DataType) -> Value:
    """Read one value of ``datatype``."""
    pull = _PULL.get(datatype)
    if pull is None:
        raise reader.fail(f"datatype {datatype.name} cannot be decoded")
    return pull(reader)


def push_value(writer: Writer, datatype: DataType, value: Value) -> None:
    """Write one value of ``datatype``; a value of the wrong kind is a LocalProtocolError."""
    if datatype is DataType.STR:
        if not isinstance(value, str):
            raise LocalProtocolError(f"a STR value must be text, not {value!r}")
        writer.string(value)
        return
    if datatype.is_array:
        if isinstance(value, (str, int)):
            raise LocalProtocolError(f"a {datatype.short_name} value must be a sequence of ints")
        writer.int_array(tuple(value), datatype.size, datatype.signed)
        return
    if datatype.is_integer:
        if isinstance(value, bool) or not isinstance(value, int):
            raise LocalProtocolError(f"a {datatype.short_name} value must be an int, not {value!r}")
        writer.int_bytes(value, _SIZES[datatype], signed=datatype.signed)
        return
    raise LocalProtocolError(f"datatype {datatype.name} cannot be encoded")


def as_int(value: Value) -> int:
    """An integer property value as an int (a string or array is a DecodeError)."""
    if isinstance(value, int):
        return value
    raise DecodeError(f"expected an integer value, got {value!r}")


def _array_puller(datatype: DataType) -> Callable[[Reader], Value]:
    size, signed = datatype.size, datatype.signed
    return lambda reader: reader.int_array(size, signed)


# One dict lookup per value: listing a card decodes tens of thousands of them.
_PULL: Final[dict[DataType, Callable[[Reader], Value]]] = {
    DataType.INT8: Reader.int8,
    DataType.UINT8: Reader.uint8,
    DataType.INT16: Reader.int16,
    DataType.UINT16: Reader.uint16,
    DataType.INT32: Reader.int32,
    DataType.UINT32: Reader.uint32,
    DataType.INT64: Reader.int64,
    DataType.UINT64: Reader.uint64,
    DataType.INT128: Reader.int128,
    DataType.UINT128: Reader.uint128,
    DataType.STR: Reader.string,
    **{member: _array_puller(member) for member in DataType if member.is_array},
}


# -- date-time strings ---------------------------------------------------------------------------

# ISO 15740 §5.3.5: "YYYYMMDDThhmmss.s" with optional tenths and an optional "Z" or "+hhmm"/"-hhmm".
# re.ASCII: without it \d also matches other scripts' digits ("２０２４..."), which int() accepts,
# so a string that is not a PTP date-time would parse.
_DATETIME_RE: Final = re.compile(
    r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$", re.ASCII
)


def parse_datetime(text: str) -> _dt.datetime | None:
    """A PTP date-time string as a datetime; None for the empty string or anything malformed.

    Devices send garbage here often enough (all zeros, missing 'T') that a bad date must not be
    an error: the field is informational.
    """
    import datetime as _dt  # noqa: PLC0415 (lazy: see the TYPE_CHECKING import)

    match = _DATETIME_RE.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        tz: _dt.tzinfo | None = None
        if zone == "Z":
            tz = _dt.timezone.utc
        elif zone:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            # Inside the try: a zone of 24 hours or more ("+2400") is a ValueError too.
            offset = _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tz = _dt.timezone(sign * offset)
        return _dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), microsecond, tz
        )
    except ValueError:
        return None


def format_datetime(value: _dt.datetime, *, tenths: bool = False) -> str:
    """A datetime as a PTP date-time string ("20240131T235959", "+hhmm" when it has a zone)."""
    import datetime as _dt  # noqa: PLC0415 (lazy: see the TYPE_CHECKING import)

    # Not strftime("%Y..."): glibc does not pad years before 1000 to four digits, so year 1 came
    # out as "10101T000000", which no reader (parse_datetime included) takes for a date-time
    # (found by fuzz/ target parse_datetime's round trip).
    text = (
        f"{value.year:04d}{value.month:02d}{value.day:02d}"
        f"T{value.hour:02d}{value.minute:02d}{value.second:02d}"
    )
    if tenths:
        text += f".{value.microsecond // 100_000}"
    offset = value.utcoffset()
    if offset is not None:
        if offset == _dt.timedelta(0) and value.tzinfo is _dt.timezone.utc:
            text += "Z"
        else:
            minutes = int(offset.total_seconds()) // 60
            sign = "-" if minutes < 0 else "+"
            text += f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return text
