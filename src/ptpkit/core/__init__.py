"""The sans-IO PTP core: bytes <-> events, datasets, the state table. No sockets, USB, threads
or clocks here (a test checks the imports); transports and the virtual camera drive it."""

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
from ptpkit.core.ptpip import PtpIpFraming
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import UsbFraming

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
    "StorageInfo",
    "UsbFraming",
    "Value",
    "Writer",
    "format_datetime",
    "parse_datetime",
]
