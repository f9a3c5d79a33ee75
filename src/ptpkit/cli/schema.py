"""The JSON documents ``--json`` prints: one builder per kind of thing, so every command that shows
a file, a property or an event shows it with the same field names.

The names are a documented interface (README, "JSON output"); add fields freely, but renaming or
removing one is a breaking change. Conventions: codes are integers with a ``hex`` twin and a
``name``; sizes are bytes; times are ISO 8601 text or null; property values are the raw value
(integer, text or list of integers) with a ``*_text`` twin as people read it.
"""

from __future__ import annotations

import datetime as _dt
import enum
import os
from typing import TYPE_CHECKING, Any

from ptpkit import AccessCapability, FilesystemType, StorageType, Value
from ptpkit.client.camera import (
    Camera,
    CameraEvent,
    NamedCode,
    PropertyDescription,
    Storage,
    TransactionResult,
)
from ptpkit.codes import Kind
from ptpkit.codes.common import Ec

if TYPE_CHECKING:
    # Only as a type: a command without files (get, set) loads no file machinery.
    from ptpkit.client.files import Entry

Doc = dict[str, Any]


def code(value: int, name: str, *, width: int = 4) -> Doc:
    """``{"code": 4097, "hex": "0x1001", "name": "GetDeviceInfo"}``."""
    return {"code": value, "hex": f"0x{value:0{width}X}", "name": name}


def named(item: NamedCode) -> Doc:
    return code(item.code, item.name)


def _enum_name(kind: type[enum.IntEnum], value: int) -> str:
    try:
        return kind(value).name.lower().replace("_", "-")
    except ValueError:
        return f"0x{value:04X}"


def _when(value: _dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def json_value(value: Value) -> Any:
    return list(value) if isinstance(value, tuple) else value


# -- the camera ------------------------------------------------------------------------------------


def device_info(cam: Camera) -> Doc:
    info = cam.device_info
    vocabulary = cam.vocabulary
    return {
        "url": cam.url,
        "manufacturer": info.manufacturer,
        "model": info.model,
        "device_version": info.device_version,
        "serial_number": info.serial_number,
        "standard_version": info.standard_version,
        "vendor_extension_id": info.vendor_extension_id,
        "vendor_extension_version": info.vendor_extension_version,
        "vendor_extension_desc": info.vendor_extension_desc,
        "functional_mode": info.functional_mode,
        "extensions": [extension.name for extension in cam.extensions],
        "operations": [named(item) for item in cam.operations_supported()],
        "events": [named(item) for item in cam.events_supported()],
        "properties": [named(item) for item in cam.properties_supported()],
        "capture_formats": [code(c, vocabulary.name(Kind.FORMAT, c)) for c in info.capture_formats],
        "playback_formats": [
            code(c, vocabulary.name(Kind.FORMAT, c)) for c in info.playback_formats
        ],
    }


def storage(item: Storage) -> Doc:
    info = item.info
    return {
        "storage_id": item.storage_id,
        "hex": f"0x{item.storage_id:08X}",
        "folder": item.folder,
        "description": info.description,
        "volume_label": info.volume_label,
        "storage_type": _enum_name(StorageType, info.storage_type),
        "filesystem_type": _enum_name(FilesystemType, info.filesystem_type),
        "access": _enum_name(AccessCapability, info.access_capability),
        "read_only": info.read_only,
        "max_capacity_bytes": info.max_capacity,
        "free_space_bytes": info.free_space_bytes,
        "free_space_images": info.free_space_images,
    }


def entry(item: Entry, cam: Camera) -> Doc:
    return {
        "handle": item.handle,
        "hex": f"0x{item.handle:08X}",
        "path": item.path,
        "name": item.name,
        "storage_id": item.storage_id,
        "parent": item.parent,
        "is_folder": item.is_folder,
        "size": item.size,
        "format": code(item.object_format, cam.vocabulary.name(Kind.FORMAT, item.object_format)),
        "captured": _when(item.captured),
        "modified": _when(item.modified),
    }


#: The fields of an entry, for a document about an object that is not there (a failed upload).
ENTRY_FIELDS = (
    "handle",
    "hex",
    "path",
    "name",
    "storage_id",
    "parent",
    "is_folder",
    "size",
    "format",
    "captured",
    "modified",
)


def uploaded(item: Entry, cam: Camera, source: os.PathLike[str] | str) -> Doc:
    """An upload: the new object's entry, the local ``file`` it came from, ``status``
    (``uploaded``), ``reason`` (null): the same ``file``/``status``/``reason`` as downloads."""
    return {**entry(item, cam), "file": str(source), "status": "uploaded", "reason": None}


def upload_failed(source: os.PathLike[str] | str, reason: str) -> Doc:
    """A file that was not uploaded: every entry field null, ``status`` ``failed``."""
    return {
        **dict.fromkeys(ENTRY_FIELDS),
        "file": str(source),
        "status": "failed",
        "reason": reason,
    }


def thumbnail(item: Entry, source: os.PathLike[str] | str, file_bytes: int) -> Doc:
    """A saved thumbnail. ``file_bytes`` is the size of the thumbnail ``file``; ``size`` is the
    same number, kept for scripts written before 0.x (deprecated: everywhere else ``size`` is
    the camera object's size)."""
    return {
        "handle": item.handle,
        "hex": f"0x{item.handle:08X}",
        "path": item.path,
        "file": str(source),
        "file_bytes": file_bytes,
        "size": file_bytes,
    }


def no_thumbnail(item: Entry, reason: str) -> Doc:
    """A file of a folder whose thumbnail could not be had: the fields of :func:`thumbnail`,
    with ``file`` null, and the camera's ``reason``."""
    return {
        "handle": item.handle,
        "hex": f"0x{item.handle:08X}",
        "path": item.path,
        "file": None,
        "file_bytes": 0,
        "size": 0,
        "reason": reason,
    }


# -- properties ------------------------------------------------------------------------------------


def property_description(description: PropertyDescription) -> Doc:
    desc = description.desc
    allowed = description.allowed
    range_form = description.range
    return {
        **code(description.code, description.name),
        "friendly_name": description.friendly_name,
        "label": description.label,
        "datatype": description.datatype.short_name,
        "writable": description.writable,
        "current": json_value(description.current),
        "current_text": description.current_text,
        # The same names as `get` and `state` give the current value.
        "value": json_value(description.current),
        "text": description.current_text,
        "factory_default": json_value(desc.factory_default),
        "factory_default_text": description.format(desc.factory_default),
        "form": "enumeration" if allowed is not None else "range" if range_form else "none",
        "allowed": [json_value(v) for v in allowed] if allowed is not None else None,
        "allowed_text": [description.format(v) for v in allowed] if allowed is not None else None,
        "range": (
            {
                "minimum": json_value(range_form.minimum),
                "maximum": json_value(range_form.maximum),
                "step": json_value(range_form.step),
            }
            if range_form is not None
            else None
        ),
    }


def property_value(description: PropertyDescription, value: Value) -> Doc:
    return {
        **code(description.code, description.name),
        "friendly_name": description.friendly_name,
        "label": description.label,
        "value": json_value(value),
        "text": description.format(value),
    }


# -- events and transactions -----------------------------------------------------------------------


def event(item: CameraEvent, cam: Camera) -> Doc:
    doc: Doc = {
        **code(item.code, item.name),
        "params": list(item.params),
        "transaction_id": item.transaction_id,
    }
    if item.code == Ec.DEVICE_PROP_CHANGED and item.params:
        spec = cam.catalog.get(item.params[0])
        doc["property"] = code(item.params[0], cam.vocabulary.property_name(item.params[0]))
        doc["property"]["friendly_name"] = spec.name if spec else None
    return doc


def transaction(
    cam: Camera,
    operation: int,
    params: tuple[int, ...],
    result: TransactionResult,
    *,
    data_out_bytes: int,
    data_in_file: str | None,
    data_in_head: bytes | None = None,
) -> Doc:
    """``data_in_hex`` is the whole data, or with ``data_in_file`` its first ``--dump-bytes``
    (``data_in_head``): the whole is in the file."""
    return {
        "operation": code(operation, cam.vocabulary.operation_name(operation)),
        "params": list(params),
        "data_out_bytes": data_out_bytes,
        "response": code(result.code, result.name),
        "ok": result.ok,
        "response_params": list(result.params),
        "data_in_bytes": result.data_size,
        "data_in_hex": (result.data if data_in_head is None else data_in_head).hex(),
        # With --data-in, data_in_hex is the first --dump-bytes only; the file has the rest.
        "data_in_hex_complete": data_in_head is None or len(data_in_head) == result.data_size,
        "data_in_file": data_in_file,
    }
