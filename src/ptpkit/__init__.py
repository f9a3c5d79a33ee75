"""ptpkit: talk to digital cameras with the Picture Transfer Protocol (PTP, ISO 15740).

::

    import ptpkit

    with ptpkit.connect("virtual:") as cam:      # or "ptpip:192.168.1.1", "usb:"
        print(cam.device_info.model)
        for entry in cam.walk():
            print(entry.path, entry.size)

The names below are loaded on first use, so that ``import ptpkit.core`` (the sans-IO core) does
not pull in the client and its threads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ptpkit._version import __version__

_EXPORTS = {
    "connect": "ptpkit.client.connect",
    "Camera": "ptpkit.client.camera",
    "CameraEvent": "ptpkit.client.camera",
    "CaptureResult": "ptpkit.client.camera",
    "PropertyDescription": "ptpkit.client.camera",
    "SkippedObject": "ptpkit.client.camera",
    "Storage": "ptpkit.client.camera",
    "TransactionResult": "ptpkit.client.camera",
    "Entry": "ptpkit.client.files",
    "VirtualCamera": "ptpkit.virtual.camera",
    "discover": "ptpkit.discovery",
    "DiscoveredCamera": "ptpkit.discovery",
    "PTPError": "ptpkit.errors",
    "ProtocolError": "ptpkit.errors",
    "LocalProtocolError": "ptpkit.errors",
    "RemoteProtocolError": "ptpkit.errors",
    "DecodeError": "ptpkit.errors",
    "ResponseError": "ptpkit.errors",
    "DeviceBusyError": "ptpkit.errors",
    "TransactionCancelled": "ptpkit.errors",
    "TransportError": "ptpkit.errors",
    "TransportTimeout": "ptpkit.errors",
    "ConnectError": "ptpkit.errors",
    "DisconnectedError": "ptpkit.errors",
    "ClosedError": "ptpkit.errors",
    "BusyError": "ptpkit.errors",
    "UsageError": "ptpkit.errors",
    "NotFoundError": "ptpkit.errors",
}

__all__ = [
    "BusyError",
    "Camera",
    "CameraEvent",
    "CaptureResult",
    "ClosedError",
    "ConnectError",
    "DecodeError",
    "DeviceBusyError",
    "DisconnectedError",
    "DiscoveredCamera",
    "Entry",
    "LocalProtocolError",
    "NotFoundError",
    "PTPError",
    "PropertyDescription",
    "ProtocolError",
    "RemoteProtocolError",
    "ResponseError",
    "SkippedObject",
    "Storage",
    "TransactionCancelled",
    "TransactionResult",
    "TransportError",
    "TransportTimeout",
    "UsageError",
    "VirtualCamera",
    "__version__",
    "connect",
    "discover",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ptpkit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from ptpkit.client.camera import (
        Camera,
        CameraEvent,
        CaptureResult,
        PropertyDescription,
        SkippedObject,
        Storage,
        TransactionResult,
    )
    from ptpkit.client.connect import connect
    from ptpkit.client.files import Entry
    from ptpkit.discovery import DiscoveredCamera, discover
    from ptpkit.errors import (
        BusyError,
        ClosedError,
        ConnectError,
        DecodeError,
        DeviceBusyError,
        DisconnectedError,
        LocalProtocolError,
        NotFoundError,
        ProtocolError,
        PTPError,
        RemoteProtocolError,
        ResponseError,
        TransactionCancelled,
        TransportError,
        TransportTimeout,
        UsageError,
    )
    from ptpkit.virtual.camera import VirtualCamera
