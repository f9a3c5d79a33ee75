"""The client: ``connect()`` and the ``Camera`` it returns."""

from ptpkit.client.camera import (
    Camera,
    CameraEvent,
    NamedCode,
    PropertyDescription,
    Storage,
    TransactionResult,
)
from ptpkit.client.connect import connect, register_scheme, schemes, transport_for
from ptpkit.client.files import Entry, safe_filename
from ptpkit.client.operations import ALL_STORAGES, ROOT

__all__ = [
    "ALL_STORAGES",
    "ROOT",
    "Camera",
    "CameraEvent",
    "Entry",
    "NamedCode",
    "PropertyDescription",
    "Storage",
    "TransactionResult",
    "connect",
    "register_scheme",
    "safe_filename",
    "schemes",
    "transport_for",
]
