"""Standard PTP operations as pure specs: what to send, and how to read the answer; no I/O.

Each builder returns an :class:`Operation`: the operation code, its parameters, the data to send
(a dataset, or None) and a parser from the answer (the data the camera sent and the response's
parameters) to a typed value. The Camera's services run them (:meth:`Camera._call`); an asyncio
facade can run the same specs over its own engine without copying any of the decoding rules
(issue 12: "pure operation specs shared by every front end").

ISO 15740 §10.5 names and numbers every operation here. Data phases that stream to a file
(GetObject, GetPartialObject, SendObject) are not specs: the caller gives their sink or source.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from ptpkit.codes.common import Op
from ptpkit.core.buffer import BytesLike
from ptpkit.core.datasets import (
    DeviceInfo,
    DevicePropDesc,
    ObjectInfo,
    StorageInfo,
    decode_uint32_array,
    decode_value,
    encode_value,
)
from ptpkit.core.datatypes import DataType, Value
from ptpkit.errors import PropertyError, RemoteProtocolError
from ptpkit.ext.listing import handle_array

__all__ = [
    "ALL_STORAGES",
    "ROOT",
    "Operation",
    "close_session",
    "delete_object",
    "get_device_info",
    "get_device_prop_desc",
    "get_device_prop_value",
    "get_object_handle_tuple",
    "get_object_handles",
    "get_object_info",
    "get_storage_ids",
    "get_storage_info",
    "get_thumb",
    "initiate_capture",
    "open_session",
    "send_object_info",
    "set_device_prop_value",
]

_T = TypeVar("_T")

#: GetObjectHandles' storage wildcard and "root folder" parent (ISO 15740 §10.5.6).
ALL_STORAGES: Final = 0xFFFFFFFF
ROOT: Final = 0xFFFFFFFF


def _nothing(data: bytes, params: tuple[int, ...]) -> None:
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Operation(Generic[_T]):
    """One transaction to run: ``code(params)``, sending ``data`` if not None; ``parse`` turns
    the camera's data (empty when it sent none) and response parameters into the result."""

    code: int
    params: tuple[int, ...] = ()
    data: bytes | None = None
    parse: Callable[[bytes, tuple[int, ...]], _T]


# -- the session -----------------------------------------------------------------------------------


def get_device_info() -> Operation[DeviceInfo]:
    return Operation(code=Op.GET_DEVICE_INFO, parse=lambda data, _: DeviceInfo.from_bytes(data))


def open_session(session_id: int) -> Operation[None]:
    return Operation(code=Op.OPEN_SESSION, params=(session_id,), parse=_nothing)


def close_session() -> Operation[None]:
    return Operation(code=Op.CLOSE_SESSION, parse=_nothing)


# -- storages and objects --------------------------------------------------------------------------


def get_storage_ids() -> Operation[tuple[int, ...]]:
    return Operation(
        code=Op.GET_STORAGE_IDS,
        parse=lambda data, _: decode_uint32_array(data, "storage id list"),
    )


def get_storage_info(storage_id: int) -> Operation[StorageInfo]:
    return Operation(
        code=Op.GET_STORAGE_INFO,
        params=(storage_id,),
        parse=lambda data, _: StorageInfo.from_bytes(data),
    )


def get_object_handles(
    storage_id: int = ALL_STORAGES, *, object_format: int = 0, parent: int = 0
) -> Operation[array[int]]:
    """Handles of every object (``parent`` 0), of the top of a storage (ROOT) or of one folder,
    as a compact ``array('I')`` (a card can hold a million objects: 4 bytes a handle)."""
    return Operation(
        code=Op.GET_OBJECT_HANDLES,
        params=(storage_id, object_format, parent),
        parse=lambda data, _: handle_array(data),
    )


def get_object_handle_tuple(
    storage_id: int = ALL_STORAGES, *, object_format: int = 0, parent: int = 0
) -> Operation[tuple[int, ...]]:
    """:func:`get_object_handles` answered as a tuple (the public ``Camera.object_handles``)."""
    return Operation(
        code=Op.GET_OBJECT_HANDLES,
        params=(storage_id, object_format, parent),
        parse=lambda data, _: decode_uint32_array(data, "object handle list"),
    )


def get_object_info(handle: int) -> Operation[ObjectInfo]:
    return Operation(
        code=Op.GET_OBJECT_INFO, params=(handle,), parse=lambda data, _: ObjectInfo.from_bytes(data)
    )


def get_thumb(handle: int) -> Operation[bytes]:
    return Operation(code=Op.GET_THUMB, params=(handle,), parse=lambda data, _: data)


def delete_object(handle: int, object_format: int = 0) -> Operation[None]:
    return Operation(code=Op.DELETE_OBJECT, params=(handle, object_format), parse=_nothing)


def send_object_info(storage_id: int, parent: int, info: ObjectInfo) -> Operation[int]:
    """SendObjectInfo; the result is the new object's handle (the response's third parameter,
    ISO 15740 §10.5.10). SendObject follows with the data, streamed by the caller."""

    def new_handle(data: bytes, params: tuple[int, ...]) -> int:
        if len(params) < 3:
            what = "folder" if info.is_folder else "object"
            raise RemoteProtocolError(f"SendObjectInfo's response lacks the new {what}'s handle")
        return params[2]

    return Operation(
        code=Op.SEND_OBJECT_INFO,
        params=(storage_id, parent),
        data=info.to_bytes(),
        parse=new_handle,
    )


# -- properties ------------------------------------------------------------------------------------


def get_device_prop_desc(code: int) -> Operation[DevicePropDesc]:
    return Operation(
        code=Op.GET_DEVICE_PROP_DESC,
        params=(code,),
        parse=lambda data, _: _prop_desc(code, data),
    )


def _prop_desc(code: int, data: BytesLike) -> DevicePropDesc:
    """A description; OK with no data is how some bodies say they lack the property (ptp-ip's
    X-T1 traces, petabyt/vcam's Fujifilm), so it reads as DevicePropNotSupported, not as a
    dataset cut short."""
    if len(data) == 0:
        error = PropertyError(
            0x200A,
            name="DevicePropNotSupported",
            operation=Op.GET_DEVICE_PROP_DESC,
            operation_name="GetDevicePropDesc",
            params=(code,),
        )
        error.args = (f"the camera has no property 0x{code:04X} (its description came empty)",)
        raise error
    return DevicePropDesc.from_bytes(data)


def get_device_prop_value(code: int, datatype: DataType) -> Operation[Value]:
    return Operation(
        code=Op.GET_DEVICE_PROP_VALUE,
        params=(code,),
        parse=lambda data, _: decode_value(data, datatype),
    )


def set_device_prop_value(code: int, datatype: DataType, value: Value) -> Operation[None]:
    """SetDevicePropValue; encoding the value raises PTPError for one the type cannot hold."""
    return Operation(
        code=Op.SET_DEVICE_PROP_VALUE,
        params=(code,),
        data=encode_value(datatype, value),
        parse=_nothing,
    )


# -- capture ---------------------------------------------------------------------------------------


def initiate_capture(storage_id: int = 0, object_format: int = 0) -> Operation[None]:
    """InitiateCapture (ISO 15740 §10.5.24): the answer comes as ObjectAdded and
    CaptureComplete events, not in the response."""
    return Operation(code=Op.INITIATE_CAPTURE, params=(storage_id, object_format), parse=_nothing)
