"""The sans-IO PTP core: bytes <-> events, datasets, the state table. No sockets, USB, threads
or clocks here (a test checks the imports); transports and the virtual camera drive it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ptpkit.core.buffer import Reader, Writer
    from ptpkit.core.connection import Connection, ConnectionEvent, OutgoingEvent
    from ptpkit.core.datasets import (
        DeviceInfo,
        DevicePropDesc,
        EnumerationForm,
        ObjectInfo,
        ObjectPropList,
        OtherForm,
        RangeForm,
        StorageInfo,
    )
    from ptpkit.core.datatypes import DataType, Value, format_datetime, parse_datetime
    from ptpkit.core.events import (
        NEED_DATA,
        Cancel,
        Data,
        DataEnd,
        DataPhase,
        DataStart,
        Event,
        Request,
        Response,
    )
    from ptpkit.core.framing import Framing, LinkEvent
    from ptpkit.core.ptpip import PtpIpFraming
    from ptpkit.core.state import Phase, Role, StateTable
    from ptpkit.core.usb import UsbFraming

# The names load on first use (PEP 562): importing one core module (say ptpkit.core.buffer) runs
# this file, and a PTP/IP command must not pay for the USB framing (start-up time).
_LAZY: dict[str, str] = {
    "Cancel": "ptpkit.core.events",
    "Connection": "ptpkit.core.connection",
    "ConnectionEvent": "ptpkit.core.connection",
    "Data": "ptpkit.core.events",
    "DataEnd": "ptpkit.core.events",
    "DataPhase": "ptpkit.core.events",
    "DataStart": "ptpkit.core.events",
    "DataType": "ptpkit.core.datatypes",
    "DeviceInfo": "ptpkit.core.datasets",
    "DevicePropDesc": "ptpkit.core.datasets",
    "EnumerationForm": "ptpkit.core.datasets",
    "Event": "ptpkit.core.events",
    "Framing": "ptpkit.core.framing",
    "LinkEvent": "ptpkit.core.framing",
    "NEED_DATA": "ptpkit.core.events",
    "ObjectInfo": "ptpkit.core.datasets",
    "ObjectPropList": "ptpkit.core.datasets",
    "OtherForm": "ptpkit.core.datasets",
    "OutgoingEvent": "ptpkit.core.connection",
    "Phase": "ptpkit.core.state",
    "PtpIpFraming": "ptpkit.core.ptpip",
    "RangeForm": "ptpkit.core.datasets",
    "Reader": "ptpkit.core.buffer",
    "Request": "ptpkit.core.events",
    "Response": "ptpkit.core.events",
    "Role": "ptpkit.core.state",
    "StateTable": "ptpkit.core.state",
    "StorageInfo": "ptpkit.core.datasets",
    "UsbFraming": "ptpkit.core.usb",
    "Value": "ptpkit.core.datatypes",
    "Writer": "ptpkit.core.buffer",
    "format_datetime": "ptpkit.core.datatypes",
    "parse_datetime": "ptpkit.core.datatypes",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "NEED_DATA",
    "Cancel",
    "Connection",
    "ConnectionEvent",
    "Data",
    "DataEnd",
    "DataPhase",
    "DataStart",
    "DataType",
    "DeviceInfo",
    "DevicePropDesc",
    "EnumerationForm",
    "Event",
    "Framing",
    "LinkEvent",
    "ObjectInfo",
    "ObjectPropList",
    "OtherForm",
    "OutgoingEvent",
    "Phase",
    "PtpIpFraming",
    "RangeForm",
    "Reader",
    "Request",
    "Response",
    "Role",
    "StateTable",
    "StorageInfo",
    "UsbFraming",
    "Value",
    "Writer",
    "format_datetime",
    "parse_datetime",
]
