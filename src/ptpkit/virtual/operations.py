"""What the virtual camera does for each operation: one handler per operation code.

Parameters and answers follow ISO 15740 §10 (and MTP 1.1 for the object-property operations).
Handlers run under the camera's lock; data they return is streamed afterwards.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Final

from ptpkit.codes.common import Dpc, Ec, Ofc, Op, Opc, Rc
from ptpkit.core.buffer import BytesLike, Writer
from ptpkit.core.datasets import (
    ObjectInfo,
    ObjectPropElement,
    ObjectPropList,
    decode_value,
    encode_uint32_array,
    encode_value,
)
from ptpkit.core.datatypes import DataType, Value, as_int
from ptpkit.errors import DecodeError
from ptpkit.virtual.responder import (
    DataOutSink,
    MemorySink,
    Operation,
    OperationContext,
    Reply,
    ServedCamera,
    error,
)
from ptpkit.virtual.storage import Store, StoredObject, unsafe_name_reason

log = logging.getLogger("ptpkit.virtual")

ALL: Final = 0xFFFFFFFF
ROOT: Final = 0xFFFFFFFF  # GetObjectHandles' "root folder" parent (ISO 15740 §10.5.6)

_HANDLERS: dict[int, Operation] = {}


def operation(
    code: int,
    *,
    data_out: bool = False,
    sessionless: bool = False,
    sink: Callable[[OperationContext], DataOutSink | Reply] | None = None,
) -> Callable[[Callable[[OperationContext], Reply]], Callable[[OperationContext], Reply]]:
    def register(
        handler: Callable[[OperationContext], Reply],
    ) -> Callable[[OperationContext], Reply]:
        _HANDLERS[code] = Operation(
            code=code,
            handler=handler,
            data_out=data_out or sink is not None,
            sessionless=sessionless,
            sink_factory=sink,
        )
        return handler

    return register


def build_operations() -> dict[int, Operation]:
    """The operation table of a new virtual camera (a copy: personalities may change it)."""
    return dict(_HANDLERS)


def _object(ctx: OperationContext, handle: int) -> tuple[Store, StoredObject] | Reply:
    found = ctx.camera.find(handle)
    return found if found is not None else error(Rc.INVALID_OBJECT_HANDLE)


# -- session and device --------------------------------------------------------------------------


@operation(Op.GET_DEVICE_INFO, sessionless=True)
def get_device_info(ctx: OperationContext) -> Reply:
    return Reply(data=ctx.camera.device_info().to_bytes())


@operation(Op.OPEN_SESSION, sessionless=True)
def open_session(ctx: OperationContext) -> Reply:
    session_id = ctx.param(0)
    if session_id == 0:
        return error(Rc.INVALID_PARAMETER)
    current = ctx.session.connection.session_id
    if current is not None:
        return error(Rc.SESSION_ALREADY_OPEN, current)
    return Reply()


@operation(Op.CLOSE_SESSION)
def close_session(ctx: OperationContext) -> Reply:
    ctx.session.send_target = None
    return Reply()


# -- storage -------------------------------------------------------------------------------------


@operation(Op.GET_STORAGE_IDS)
def get_storage_ids(ctx: OperationContext) -> Reply:
    return Reply(data=encode_uint32_array(sorted(ctx.camera.stores)))


@operation(Op.GET_STORAGE_INFO)
def get_storage_info(ctx: OperationContext) -> Reply:
    store = ctx.camera.store(ctx.param(0))
    if store is None:
        return error(Rc.INVALID_STORAGE_ID)
    return Reply(data=store.storage_info().to_bytes())


@operation(Op.FORMAT_STORE)
def format_store(ctx: OperationContext) -> Reply:
    store = ctx.camera.store(ctx.param(0))
    if store is None:
        return error(Rc.INVALID_STORAGE_ID)
    if store.read_only:
        return error(Rc.STORE_READ_ONLY)
    if not store.erasable:
        # Never erase a folder the user lent us; only the generated temporary card.
        return error(Rc.ACCESS_DENIED)
    store.erase()
    ctx.camera.emit(Ec.STORAGE_INFO_CHANGED, store.storage_id, exclude=ctx.session)
    return Reply()


# -- listing -------------------------------------------------------------------------------------


def _select(ctx: OperationContext) -> list[StoredObject] | Reply:
    """Objects chosen by (storage, format, parent) as GetNumObjects/GetObjectHandles take them."""
    storage_id, object_format, parent = ctx.param(0), ctx.param(1), ctx.param(2)
    if storage_id == ALL:
        stores = list(ctx.camera.stores.values())
    else:
        store = ctx.camera.store(storage_id)
        if store is None:
            return error(Rc.INVALID_STORAGE_ID)
        stores = [store]
    chosen: list[StoredObject] = []
    for store in stores:
        if parent == 0:
            candidates: Iterable[StoredObject] = store.listed()
        elif parent == ROOT:
            candidates = store.children(0)
        else:
            folder = store.objects.get(parent)
            if folder is None or folder.pending:
                if storage_id != ALL:
                    return error(Rc.INVALID_OBJECT_HANDLE)
                continue
            if not folder.is_folder:
                return error(Rc.INVALID_PARENT_OBJECT)
            candidates = store.children(parent)
        for obj in candidates:
            if object_format and store.format_of(obj) != object_format:
                continue
            chosen.append(obj)
    return chosen


@operation(Op.GET_NUM_OBJECTS)
def get_num_objects(ctx: OperationContext) -> Reply:
    chosen = _select(ctx)
    if isinstance(chosen, Reply):
        return chosen
    return Reply(params=(len(chosen),))


@operation(Op.GET_OBJECT_HANDLES)
def get_object_handles(ctx: OperationContext) -> Reply:
    chosen = _select(ctx)
    if isinstance(chosen, Reply):
        return chosen
    return Reply(data=encode_uint32_array([obj.handle for obj in chosen]))


@operation(Op.GET_OBJECT_INFO)
def get_object_info(ctx: OperationContext) -> Reply:
    found = _object(ctx, ctx.param(0))
    if isinstance(found, Reply):
        return found
    store, obj = found
    return Reply(data=store.object_info(obj).to_bytes())


# -- reading objects -----------------------------------------------------------------------------


@operation(Op.GET_OBJECT)
def get_object(ctx: OperationContext) -> Reply:
    found = _object(ctx, ctx.param(0))
    if isinstance(found, Reply):
        return found
    store, obj = found
    if obj.is_folder:
        return Reply(data=b"")
    return Reply(data=store.open_data(obj))


@operation(Op.GET_PARTIAL_OBJECT)
def get_partial_object(ctx: OperationContext) -> Reply:
    return _partial(ctx, offset=ctx.param(1), max_bytes=ctx.param(2))


@operation(Op.ANDROID_GET_PARTIAL_OBJECT_64)
def android_get_partial_object_64(ctx: OperationContext) -> Reply:
    # Android's extension: handle, offset low 32 bits, offset high 32 bits, max bytes (libgphoto2
    # ptp.h PTP_OC_ANDROID_GetPartialObject64 and its use in library.c).
    return _partial(ctx, offset=ctx.param(1) | ctx.param(2) << 32, max_bytes=ctx.param(3))


def _partial(ctx: OperationContext, *, offset: int, max_bytes: int) -> Reply:
    found = _object(ctx, ctx.param(0))
    if isinstance(found, Reply):
        return found
    store, obj = found
    if obj.is_folder:
        return error(Rc.INVALID_OBJECT_HANDLE)
    data = store.open_data(obj)
    if offset > data.size:
        return error(Rc.INVALID_PARAMETER)
    length = min(max_bytes, data.size - offset)
    # The response's first parameter is the number of bytes actually sent (ISO 15740 §10.5.25).
    return Reply(params=(length,), data=data, offset=offset, length=length)


@operation(Op.GET_THUMB)
def get_thumb(ctx: OperationContext) -> Reply:
    found = _object(ctx, ctx.param(0))
    if isinstance(found, Reply):
        return found
    store, obj = found
    thumb = store.thumbnail(obj)
    if thumb is None:
        return error(Rc.NO_THUMBNAIL_PRESENT)
    return Reply(data=thumb)


# -- changing objects ----------------------------------------------------------------------------


@operation(Op.DELETE_OBJECT)
def delete_object(ctx: OperationContext) -> Reply:
    handle, object_format = ctx.param(0), ctx.param(1)
    camera = ctx.camera
    if handle == ALL:
        targets = [
            (store, obj)
            for store in camera.stores.values()
            for obj in list(store.listed())
            if obj.parent == 0 and (not object_format or store.format_of(obj) == object_format)
        ]
    else:
        found = _object(ctx, handle)
        if isinstance(found, Reply):
            return found
        targets = [found]
    deleted = 0
    for store, obj in targets:
        if store.read_only:
            return error(Rc.STORE_READ_ONLY)
        if obj.protected or any(o.protected for o in store.descendants(obj.handle)):
            if handle != ALL:
                return error(Rc.OBJECT_WRITE_PROTECTED)
            continue
        try:
            store.delete(obj)
        except OSError as exc:
            log.warning("virtual camera: could not delete %s: %s", obj.name, exc)
            return error(Rc.PARTIAL_DELETION if deleted else Rc.ACCESS_DENIED)
        deleted += 1
        camera.emit(Ec.OBJECT_REMOVED, obj.handle, exclude=ctx.session)
    if handle == ALL and deleted < len(targets):
        return error(Rc.PARTIAL_DELETION)
    return Reply()


def _object_info_sink(ctx: OperationContext) -> DataOutSink | Reply:
    return MemorySink(limit=64 * 1024)  # an ObjectInfo is a few hundred bytes


@operation(Op.SEND_OBJECT_INFO, sink=_object_info_sink)
def send_object_info(ctx: OperationContext) -> Reply:
    camera = ctx.camera
    storage_id = ctx.param(0) or next(iter(camera.stores))
    parent = ctx.param(1)
    store = camera.store(storage_id)
    if store is None:
        return error(Rc.INVALID_STORAGE_ID)
    if store.read_only:
        return error(Rc.STORE_READ_ONLY)
    try:
        info = ObjectInfo.from_bytes(ctx.data)
    except DecodeError:
        return error(Rc.INVALID_DATASET)
    parent_handle = 0 if parent in (0, ROOT) else parent
    if parent_handle:
        folder = store.objects.get(parent_handle)
        if folder is None or folder.pending:
            return error(Rc.INVALID_OBJECT_HANDLE)
        if not folder.is_folder:
            return error(Rc.INVALID_PARENT_OBJECT)
        if folder.protected:
            return error(Rc.ACCESS_DENIED)
    reason = unsafe_name_reason(info.filename)
    if reason is None and _filename_has_nul(ctx.data):
        reason = "contains a NUL character"
    if reason is not None:
        log.info("virtual camera: refused upload name %r: %s", info.filename, reason)
        return error(Rc.INVALID_PARAMETER)
    target = store.folder_path(parent_handle) / info.filename
    if target.exists() or target.is_symlink():
        log.info("virtual camera: refused upload %r: the name is taken", info.filename)
        return error(Rc.INVALID_PARAMETER)
    declared = info.compressed_size
    if declared != 0xFFFFFFFF and declared > store.storage_info().free_space_bytes:
        return error(Rc.STORE_FULL)
    # A new SendObjectInfo voids an earlier one that got no SendObject (ISO 15740 §10.5.11).
    _drop_send_target(ctx)
    try:
        obj = store.reserve(parent_handle, info)
    except OSError as exc:
        log.warning("virtual camera: could not create %r: %s", info.filename, exc)
        return error(Rc.ACCESS_DENIED)
    if obj.is_folder:
        camera.emit(Ec.OBJECT_ADDED, obj.handle, exclude=ctx.session)
    else:
        ctx.session.send_target = (store, obj)
    return Reply(params=(storage_id, parent if parent else 0, obj.handle))


#: Where ObjectInfo's Filename string starts: after 52 bytes of fixed fields (ISO 15740 §5.5.2).
_FILENAME_OFFSET: Final = 52


def _filename_has_nul(data: bytes) -> bool:
    """Whether ObjectInfo's Filename holds a NUL before its terminating one.

    The core's string reader stops at the first NUL (as C readers do), so ``"a\\x00b"`` decodes
    as ``"a"``: without this check the camera would create a file the client did not name.
    """
    if len(data) <= _FILENAME_OFFSET:
        return False
    units = data[_FILENAME_OFFSET]
    raw = data[_FILENAME_OFFSET + 1 : _FILENAME_OFFSET + 1 + 2 * max(0, units - 1)]
    return any(raw[i] == 0 and raw[i + 1] == 0 for i in range(0, len(raw) - 1, 2))


def _drop_send_target(ctx: OperationContext) -> None:
    target = ctx.session.send_target
    if target is not None:
        store, obj = target
        if obj.pending:
            store.objects.pop(obj.handle, None)
        ctx.session.send_target = None


class _UploadSink:
    """SendObject's data: written to a hidden file, renamed into place only when complete."""

    def __init__(self, store: Store, obj: StoredObject) -> None:
        self.store = store
        self.obj = obj
        self.temp: Path
        self.file: BinaryIO
        self.temp, self.file = store.upload_file(obj)
        self.received = 0
        self.error: OSError | None = None

    def start(self, total_bytes: int | None) -> None:
        pass

    def write(self, chunk: BytesLike) -> None:
        if self.error is None:
            try:
                self.file.write(chunk)
            except OSError as exc:  # disk full: remember, keep draining the data phase
                self.error = exc
        self.received += len(chunk)

    def finish(self) -> None:
        self.file.close()

    def abort(self) -> None:
        self.file.close()
        self.temp.unlink(missing_ok=True)


def _send_object_sink(ctx: OperationContext) -> DataOutSink | Reply:
    target = ctx.session.send_target
    if target is None:
        return error(Rc.NO_VALID_OBJECT_INFO)
    store, obj = target
    try:
        return _UploadSink(store, obj)
    except OSError as exc:
        log.warning("virtual camera: cannot write %s: %s", obj.name, exc)
        return error(Rc.ACCESS_DENIED)


@operation(Op.SEND_OBJECT, sink=_send_object_sink)
def send_object(ctx: OperationContext) -> Reply:
    sink = ctx.sink
    assert isinstance(sink, _UploadSink)
    ctx.session.send_target = None
    store, obj = sink.store, sink.obj
    if sink.error is not None:
        sink.abort()
        store.objects.pop(obj.handle, None)
        return error(Rc.STORE_FULL)
    if obj.declared_size not in (0xFFFFFFFF, sink.received):
        # The data does not match the ObjectInfo it was announced with: keep nothing.
        sink.abort()
        store.objects.pop(obj.handle, None)
        return error(Rc.INCOMPLETE_TRANSFER)
    try:
        store.commit_upload(obj, sink.temp)
    except OSError:
        store.objects.pop(obj.handle, None)
        return error(Rc.ACCESS_DENIED)
    ctx.camera.emit(Ec.OBJECT_ADDED, obj.handle, exclude=ctx.session)
    return Reply()


# -- properties ----------------------------------------------------------------------------------


@operation(Op.GET_DEVICE_PROP_DESC)
def get_device_prop_desc(ctx: OperationContext) -> Reply:
    code = ctx.param(0)
    if code not in ctx.camera.properties:
        return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
    return Reply(data=ctx.camera.properties[code].desc().to_bytes())


@operation(Op.GET_DEVICE_PROP_VALUE)
def get_device_prop_value(ctx: OperationContext) -> Reply:
    code = ctx.param(0)
    if code not in ctx.camera.properties:
        return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
    prop = ctx.camera.properties[code]
    return Reply(data=encode_value(prop.datatype, prop.current()))


def settable_value(ctx: OperationContext) -> Value | Reply:
    """SetDevicePropValue's checks before the value itself is judged: the property exists
    (DevicePropNotSupported), is writable (AccessDenied) and the data decodes by its type
    (InvalidDevicePropFormat). The decoded value, or the error reply. Personalities with their
    own SetDevicePropValue start with it."""
    code = ctx.param(0)
    if code not in ctx.camera.properties:
        return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
    prop = ctx.camera.properties[code]
    if not prop.writable:
        return error(Rc.ACCESS_DENIED)
    try:
        return decode_value(ctx.data, prop.datatype)
    except DecodeError:
        return error(Rc.INVALID_DEVICE_PROP_FORMAT)


@operation(Op.SET_DEVICE_PROP_VALUE, data_out=True)
def set_device_prop_value(ctx: OperationContext) -> Reply:
    value = settable_value(ctx)
    if isinstance(value, Reply):
        return value
    return _change_property(ctx.camera, ctx.param(0), value)


def _change_property(camera: ServedCamera, code: int, value: Value) -> Reply:
    prop = camera.properties[code]
    before = prop.current()
    if not prop.set(value):
        return error(Rc.INVALID_DEVICE_PROP_VALUE)
    if prop.current() != before or code == Dpc.DATE_TIME:
        # Cameras report their own property changes to every initiator, the one that asked too.
        camera.emit(Ec.DEVICE_PROP_CHANGED, code)
    return Reply()


@operation(Op.RESET_DEVICE_PROP_VALUE)
def reset_device_prop_value(ctx: OperationContext) -> Reply:
    code = ctx.param(0)
    camera = ctx.camera
    codes = [p.code for p in camera.properties if p.writable] if code == ALL else [code]
    for each in codes:
        if each not in camera.properties:
            return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
        prop = camera.properties[each]
        if not prop.writable:
            return error(Rc.ACCESS_DENIED)
        if prop.read_hook is None:
            reply = _change_property(camera, each, prop.factory_default)
            if reply.code != Rc.OK:
                return reply
    return Reply()


# -- capture -------------------------------------------------------------------------------------


@operation(Op.INITIATE_CAPTURE)
def initiate_capture(ctx: OperationContext) -> Reply:
    storage_id, object_format = ctx.param(0), ctx.param(1)
    camera = ctx.camera
    if storage_id not in (0, *camera.stores):
        return error(Rc.INVALID_STORAGE_ID)
    if object_format not in (0, Ofc.EXIF_JPEG):
        return error(Rc.INVALID_OBJECT_FORMAT_CODE)
    if any(store.read_only for store in camera.stores.values()):
        return error(Rc.STORE_READ_ONLY)
    tid = ctx.request.transaction_id
    # A personality without CaptureDelay (the virtual Nikon, Sony) shoots at once: it raised
    # KeyError here, answered GeneralError with a traceback on the server's log.
    delay_ms = (
        as_int(camera.properties[Dpc.CAPTURE_DELAY].current())
        if Dpc.CAPTURE_DELAY in camera.properties
        else 0
    )

    def announce(handle: int) -> None:
        # ObjectAdded for the new picture, then CaptureComplete quoting the capture's
        # transaction (ISO 15740 §10.5.13).
        camera.emit(Ec.OBJECT_ADDED, handle)
        camera.emit(Ec.CAPTURE_COMPLETE, transaction_id=tid)

    if delay_ms:

        def shoot_later() -> None:
            try:
                with camera.lock:
                    obj = camera.capture()
            except Exception:
                log.exception("virtual camera: the delayed capture failed")
                return
            announce(obj.handle)

        return Reply(after=lambda: camera.after(delay_ms / 1000, shoot_later))
    # Take the picture before answering, so that a failure is an error response rather than
    # events that never come (gphoto2 waits for CaptureComplete without a timeout); the events
    # still follow the response.
    try:
        obj = camera.capture()
    except OSError as exc:
        log.warning("virtual camera: capture failed: %s", exc)
        return error(Rc.STORE_FULL if exc.errno == errno.ENOSPC else Rc.GENERAL_ERROR)
    return Reply(after=lambda: announce(obj.handle))


# -- MTP object properties (the fast listing path) -----------------------------------------------

OBJECT_PROPERTIES: Final[dict[int, DataType]] = {
    Opc.STORAGE_ID: DataType.UINT32,
    Opc.OBJECT_FORMAT: DataType.UINT16,
    Opc.PROTECTION_STATUS: DataType.UINT16,
    Opc.OBJECT_SIZE: DataType.UINT64,
    Opc.OBJECT_FILE_NAME: DataType.STR,
    Opc.DATE_CREATED: DataType.STR,
    Opc.DATE_MODIFIED: DataType.STR,
    Opc.PARENT_OBJECT: DataType.UINT32,
    Opc.NAME: DataType.STR,
}


def _object_properties(store: Store, obj: StoredObject) -> dict[int, Value]:
    """Every served object property of one object, reading the file system once."""
    created, modified = store.dates(obj)
    name = store.wire_name(obj)
    return {
        Opc.STORAGE_ID: store.storage_id,
        Opc.OBJECT_FORMAT: store.format_of(obj),
        Opc.PROTECTION_STATUS: int(obj.protected),
        Opc.OBJECT_SIZE: store.size_of(obj),  # 64 bits: what ObjectInfo cannot hold past 4 GiB
        Opc.OBJECT_FILE_NAME: name,
        Opc.DATE_CREATED: created,
        Opc.DATE_MODIFIED: modified,
        Opc.PARENT_OBJECT: obj.parent,
        Opc.NAME: name,
    }


@operation(Op.GET_OBJECT_PROPS_SUPPORTED)
def get_object_props_supported(ctx: OperationContext) -> Reply:
    writer = Writer()
    writer.uint16_array(list(OBJECT_PROPERTIES))
    return Reply(data=writer.getvalue())


@operation(Op.GET_OBJECT_PROP_VALUE)
def get_object_prop_value(ctx: OperationContext) -> Reply:
    found = _object(ctx, ctx.param(0))
    if isinstance(found, Reply):
        return found
    store, obj = found
    code = ctx.param(1)
    if code not in OBJECT_PROPERTIES:
        return error(0xA801)  # MTP Invalid_ObjectPropCode
    value = _object_properties(store, obj)[code]
    return Reply(data=encode_value(OBJECT_PROPERTIES[code], value))


@operation(Op.GET_OBJ_PROP_LIST)
def get_obj_prop_list(ctx: OperationContext) -> Reply:
    """MTP GetObjPropList: handle (0xFFFFFFFF all, 0 the root), format, property (0xFFFFFFFF
    all), group (unsupported), depth (0 the object, 1 its children, 0xFFFFFFFF all below)."""
    handle, object_format, prop, group, depth = (ctx.param(i) for i in range(5))
    camera = ctx.camera
    if prop == 0 and group:
        return error(0xA805)  # MTP Specification_By_Group_Unsupported
    if prop != ALL and prop not in OBJECT_PROPERTIES:
        return error(0xA801)
    selected: list[tuple[Store, StoredObject]] = []
    if handle == ALL:
        selected = [(s, o) for s in camera.stores.values() for o in s.listed()]
    elif handle == 0:
        if depth == 0:
            selected = []
        elif depth == 1:
            selected = [(s, o) for s in camera.stores.values() for o in s.children(0)]
        elif depth == ALL:
            selected = [(s, o) for s in camera.stores.values() for o in s.listed()]
        else:
            return error(0xA808)  # MTP Specification_By_Depth_Unsupported
    else:
        found = _object(ctx, handle)
        if isinstance(found, Reply):
            return found
        store, obj = found
        if depth == 0:
            selected = [found]
        elif depth == 1:
            selected = [(store, child) for child in store.children(handle)]
        elif depth == ALL:
            selected = [(store, child) for child in store.descendants(handle)]
        else:
            return error(0xA808)
    codes = list(OBJECT_PROPERTIES) if prop == ALL else [prop]
    elements = []
    for store, obj in selected:
        if object_format and store.format_of(obj) != object_format:
            continue
        values = _object_properties(store, obj)
        for code in codes:
            elements.append(
                ObjectPropElement(
                    handle=obj.handle,
                    property_code=code,
                    datatype=OBJECT_PROPERTIES[code],
                    value=values[code],
                )
            )
    return Reply(data=ObjectPropList(elements=tuple(elements)).to_bytes())
