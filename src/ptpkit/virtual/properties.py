"""Device properties of the virtual camera, with the forms a real camera reports.

Codes and value units are the standard ones (ISO 15740 §13.5): FNumber in hundredths (560 =
f/5.6), ExposureTime in units of 0.0001 s (80 = 1/125 s), ExposureBiasCompensation in
thousandths of a stop, CaptureDelay in milliseconds. The DateTime property follows the host's
clock plus whatever offset a client set, like a camera's own clock.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ptpkit.core.datasets import DevicePropDesc, EnumerationForm, Form, GetSet, RangeForm
from ptpkit.core.datatypes import DataType, Value, format_datetime, parse_datetime


@dataclass
class VirtualProperty:
    code: int
    datatype: DataType
    factory_default: Value
    value: Value
    form: Form | None = None
    writable: bool = True
    #: Computes the current value at read time (the clock); None for stored values.
    read_hook: Callable[[], Value] | None = field(default=None, repr=False)
    #: Validates and applies a new value; returns False when it is refused.
    write_hook: Callable[[Value], bool] | None = field(default=None, repr=False)

    def current(self) -> Value:
        return self.read_hook() if self.read_hook else self.value

    def desc(self) -> DevicePropDesc:
        return DevicePropDesc(
            code=self.code,
            datatype=self.datatype,
            get_set=GetSet.GET_SET if self.writable else GetSet.GET,
            factory_default=self.factory_default,
            current=self.current(),
            form=self.form,
        )

    def accepts(self, value: Value) -> bool:
        if isinstance(self.form, (RangeForm, EnumerationForm)):
            return self.form.contains(value)
        return True

    def set(self, value: Value) -> bool:
        if not self.accepts(value):
            return False
        if self.write_hook is not None:
            return self.write_hook(value)
        self.value = value
        return True


def _enum(*values: Value) -> EnumerationForm:
    return EnumerationForm(values=tuple(values))


class Clock:
    """A camera clock: the host's time plus an offset set through the DateTime property."""

    def __init__(self) -> None:
        self.offset = _dt.timedelta(0)

    def now(self) -> _dt.datetime:
        return (_dt.datetime.now() + self.offset).replace(microsecond=0)

    def read(self) -> Value:
        return format_datetime(self.now())

    def write(self, value: Value) -> bool:
        when = parse_datetime(value) if isinstance(value, str) else None
        if when is None:
            return False
        self.offset = when.replace(tzinfo=None) - _dt.datetime.now()
        return True


class DeviceProperties:
    """The property set of one virtual camera."""

    def __init__(self, *, friendly_name: str, battery_percent: int = 87) -> None:
        self.clock = Clock()
        thirds = tuple(round(stop * 1000 / 3) for stop in range(-9, 10))  # -3 .. +3 EV in 1/3
        props = [
            VirtualProperty(
                0x5001,
                DataType.UINT8,
                100,
                battery_percent,
                RangeForm(minimum=0, maximum=100, step=1),
                writable=False,
            ),
            VirtualProperty(
                0x5003,
                DataType.STR,
                "6000x4000",
                "6000x4000",
                _enum("6000x4000", "3984x2656", "2976x1984", "1920x1280"),
            ),
            VirtualProperty(0x5004, DataType.UINT8, 2, 2, _enum(1, 2, 3)),  # compression
            VirtualProperty(0x5005, DataType.UINT16, 2, 2, _enum(1, 2, 4, 5, 6, 7)),
            VirtualProperty(
                0x5007, DataType.UINT16, 560, 560, _enum(280, 400, 560, 800, 1100, 1600, 2200)
            ),
            VirtualProperty(0x5008, DataType.UINT32, 5000, 5000, writable=False),
            VirtualProperty(0x500A, DataType.UINT16, 2, 2, _enum(1, 2, 3)),
            VirtualProperty(0x500B, DataType.UINT16, 3, 3, _enum(1, 2, 3, 4)),
            VirtualProperty(0x500C, DataType.UINT16, 2, 2, _enum(1, 2, 3, 4)),
            VirtualProperty(
                0x500D,
                DataType.UINT32,
                80,
                80,
                _enum(2, 5, 10, 20, 40, 80, 166, 333, 666, 1250, 2500, 5000, 10000, 20000),
            ),
            VirtualProperty(0x500E, DataType.UINT16, 2, 2, _enum(1, 2, 3, 4)),
            VirtualProperty(
                0x500F, DataType.UINT16, 200, 200, _enum(100, 200, 400, 800, 1600, 3200, 6400)
            ),
            VirtualProperty(0x5010, DataType.INT16, 0, 0, EnumerationForm(values=thirds)),
            VirtualProperty(
                0x5011, DataType.STR, "", "", read_hook=self.clock.read, write_hook=self.clock.write
            ),
            VirtualProperty(0x5012, DataType.UINT32, 0, 0, _enum(0, 2000, 10000)),
            VirtualProperty(0x5013, DataType.UINT16, 1, 1, _enum(1, 2, 3)),
            VirtualProperty(0x5017, DataType.UINT16, 1, 1, _enum(1, 2, 3)),
            VirtualProperty(0x501C, DataType.UINT16, 2, 2, _enum(1, 2)),
            VirtualProperty(0x501E, DataType.STR, "", ""),
            VirtualProperty(0x501F, DataType.STR, "", ""),
            # MTP DeviceFriendlyName: what a computer shows for the device.
            VirtualProperty(0xD402, DataType.STR, friendly_name, friendly_name),
        ]
        self._props = {prop.code: prop for prop in props}

    def __contains__(self, code: int) -> bool:
        return code in self._props

    def __getitem__(self, code: int) -> VirtualProperty:
        return self._props[code]

    def __iter__(self) -> Iterator[VirtualProperty]:
        return iter(self._props.values())

    def codes(self) -> tuple[int, ...]:
        return tuple(self._props)

    def define(self, props: Iterable[VirtualProperty]) -> None:
        """Replace the whole set with ``props`` (a personality's own properties; the clock
        stays)."""
        self._props = {prop.code: prop for prop in props}
