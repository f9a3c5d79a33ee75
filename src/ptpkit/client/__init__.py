"""The client: ``connect()`` and the ``Camera`` it returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ptpkit.client.camera import (
    Camera,
    CameraEvent,
    NamedCode,
    PropertyDescription,
    Storage,
    TransactionResult,
)
from ptpkit.client.connect import connect, register_scheme, schemes, transport_for
from ptpkit.client.operations import ALL_STORAGES, ROOT

if TYPE_CHECKING:
    from ptpkit.client.files import Entry, safe_filename

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


def __getattr__(name: str) -> Any:
    # The file machinery loads on first use: a command that reads a property has no files
    # (start-up time; tests/cli/test_startup.py).
    if name in {"Entry", "safe_filename"}:
        from ptpkit.client import files  # noqa: PLC0415

        return getattr(files, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
