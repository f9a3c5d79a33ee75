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
    "Rig": "ptpkit.rig.rig",
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
    # Types and constants the client's results and settings use (the command line takes them
    # from here: it uses only the public API). "module:name" where the module calls it otherwise.
    "AccessCapability": "ptpkit.core.datasets",
    "FilesystemType": "ptpkit.core.datasets",
    "StorageType": "ptpkit.core.datasets",
    "Value": "ptpkit.core.datatypes",
    "PTPIP_PORT": "ptpkit.core.ptpip:DEFAULT_PORT",
    "TRACE": "ptpkit.client.engine",
    "LiveFrame": "ptpkit.client.liveview",
    "LiveView": "ptpkit.client.liveview",
}

__all__ = [
    "PTPIP_PORT",
    "TRACE",
    "AccessCapability",
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
    "FilesystemType",
    "LiveFrame",
    "LiveView",
    "LocalProtocolError",
    "NotFoundError",
    "PTPError",
    "PropertyDescription",
    "ProtocolError",
    "RemoteProtocolError",
    "ResponseError",
    "Rig",
    "SkippedObject",
    "Storage",
    "StorageType",
    "TransactionCancelled",
    "TransactionResult",
    "TransportError",
    "TransportTimeout",
    "UsageError",
    "Value",
    "VirtualCamera",
    "__version__",
    "connect",
    "discover",
]


def __getattr__(name: str) -> Any:
    spec = _EXPORTS.get(name)
    if spec is None:
        raise AttributeError(f"module 'ptpkit' has no attribute {name!r}")
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute or name)


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
    from ptpkit.client.engine import TRACE
    from ptpkit.client.files import Entry
    from ptpkit.client.liveview import LiveFrame, LiveView
    from ptpkit.core.datasets import AccessCapability, FilesystemType, StorageType
    from ptpkit.core.datatypes import Value
    from ptpkit.core.ptpip import DEFAULT_PORT as PTPIP_PORT
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
    from ptpkit.rig.rig import Rig
    from ptpkit.virtual.camera import VirtualCamera
