"""The asyncio Camera: ``async with ptpkit.aio.connect(url) as cam: ...``.

::

    async with ptpkit.aio.connect("ptpip:192.168.1.1") as cam:
        print(cam.device_info.model)
        async for entry in cam.walk():
            if not entry.is_folder:
                await cam.download(entry, "photos/")
        await cam.set_property("iso", 400)
        new = await cam.capture()

The same operations and names as :class:`ptpkit.Camera`, each a coroutine, run by the asyncio
engine (:mod:`ptpkit.aio.engine`) from the same operation specs
(:mod:`ptpkit.client.operations`) and the same pure rules (entries and paths of
:mod:`ptpkit.client.objects`, downloads to a partial file of ours published only when complete
by :func:`ptpkit.client.files.writing`, property names, values and checks of
:mod:`ptpkit.client.properties`). No thread per camera (PTP/IP, in-process).

Vendor extensions are the blocking Camera's own objects (:mod:`ptpkit.aio.vendor`): their
set-up and tear-down, event poller (Canon EOS, Nikon GetEvent), properties, capture and live
view, folder listings (Canon EOS GetObjectInfoEx), 64-bit sizes and reads past 4 GiB run in a
few worker threads of the camera's, their transactions on this camera's engine; MTP's
whole-card GetObjPropList runs on the engine itself (no thread). ``extensions=False`` gives
standard PTP only (no thread at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import BinaryIO, TypeVar

from ptpkit._log import get_logger
from ptpkit.aio.engine import AnySink, AnySource, AsyncEngine
from ptpkit.aio.events import AsyncEventStream
from ptpkit.aio.liveview import AsyncLiveView
from ptpkit.aio.transports import AsyncTransport
from ptpkit.aio.vendor import VendorBridge
from ptpkit.client import operations as ops
from ptpkit.client.camera import NamedCode, StateValue, Storage, TransactionResult
from ptpkit.client.capture import (
    PLAN_DATA_LIMIT,
    CaptureResult,
    capture_event,
    no_half_press,
    usable_half_press,
)
from ptpkit.client.events import CameraEvent
from ptpkit.client.files import Entry, parse_storage_folder, storage_folder, writing
from ptpkit.client.liveview import FRAME_TIMEOUT_S, LiveFrame
from ptpkit.client.objects import (
    RESERVED_HANDLES,
    SORTED_FOLDER_LIMIT,
    SkipCallback,
    SkippedObject,
    entry_from_info,
    overrides,
    report_skipped,
    walk_index,
)
from ptpkit.client.operations import ALL_STORAGES, ROOT, Operation
from ptpkit.client.properties import (
    PropertyDescription,
    describe,
    property_code,
    value_to_set,
)
from ptpkit.client.streams import (
    DEFAULT_MEMORY_LIMIT,
    BytesSink,
    BytesSource,
    DataSource,
    FileSink,
    FileSource,
    ProgressCallback,
    WindowSink,
    file_size,
)
from ptpkit.client.transfers import (
    RESUME_CHECK_BYTES,
    download_path,
    folder_info,
    object_time,
    part_owner,
    size_limit,
    upload_info,
)
from ptpkit.codes import STANDARD, Kind, Vocabulary
from ptpkit.codes.common import Ec, Op, Rc
from ptpkit.codes.properties import STANDARD_CATALOG, PropertyCatalog
from ptpkit.core.datasets import SIZE_UNKNOWN_32, DeviceInfo, ObjectInfo, StorageInfo
from ptpkit.core.datatypes import DataType, Value
from ptpkit.core.events import Event, Response
from ptpkit.core.state import Phase
from ptpkit.errors import (
    ClosedError,
    DecodeError,
    NotFoundError,
    OperationNotSupportedError,
    PTPError,
    RemoteProtocolError,
    ResponseError,
    SessionError,
    TransportTimeout,
    UsageError,
    response_error_class,
)
from ptpkit.ext.base import (
    CapturedObject,
    CaptureOutcome,
    Extension,
    FrameSource,
    HalfPress,
    Reply,
    extensions_for,
    registered,
)
from ptpkit.ext.listing import HandleTable, PropListIndex, SpoolSink
from ptpkit.ext.mtp import PROPLIST_LIMIT_BYTES, MtpExtension, proplist_request
from ptpkit.ext.plans import Transact, drive_async, half_press_run, release_run

log = get_logger("ptpkit")

_T = TypeVar("_T")

#: The largest read GetPartialObject can ask for in one transaction (a uint32 length).
_MAX_PARTIAL = 0xFFFFFFFF
#: A whole-card listing gives the loop a turn after this many entries.
_LISTING_TURN = 256
#: A window with no end (a read to the end of an object whose size is unknown).
_UNBOUNDED = 2**64


class Camera:
    """One camera over one asyncio link. ``async with`` it, or ``await open()`` and
    ``await close()``. Transactions from several tasks are serialised (one at a time)."""

    def __init__(
        self,
        transport: AsyncTransport,
        *,
        timeout_s: float | None = 20.0,
        session_id: int = 1,
        busy_retries: int = 5,
        extensions: bool = True,
    ) -> None:
        self.transport = transport
        #: Use the matching vendor extensions' behaviour (else their names only).
        self.use_extensions = extensions
        self._vendor: VendorBridge | None = None
        self.timeout_s = timeout_s
        self.session_id = session_id
        #: How often an operation answered DeviceBusy is tried again (with back-off).
        self.busy_retries = busy_retries
        #: Standard PTP's names and those of the matching extensions (see _configure).
        self.vocabulary: Vocabulary = STANDARD
        self.catalog: PropertyCatalog = STANDARD_CATALOG
        #: The registered extensions that match the camera (names only: see _configure).
        self.extension_names: tuple[str, ...] = ()
        self._engine: AsyncEngine | None = None
        self._device_info: DeviceInfo | None = None
        self._events = AsyncEventStream(lambda code: self.vocabulary.event_name(code))  # noqa: PLW0108
        #: Each property's data type, from its description (GetDevicePropValue is decoded by it).
        self._datatypes: dict[int, DataType] = {}
        #: A whole-card index failed on this camera: folder by folder from now on.
        self._fast_listing_failed = False
        self._opened = False
        self._closed = False

    # -- life ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.transport.url

    @property
    def transactions_run(self) -> int:
        return self._engine.transactions if self._engine is not None else 0

    @property
    def extensions(self) -> list[Extension]:
        """This camera's extension instances, in the order they are asked (vendor, then MTP);
        empty with ``extensions=False``."""
        return self._vendor.extensions if self._vendor is not None else []

    @property
    def link_idle(self) -> bool:
        return self._engine is None or self._engine.idle

    async def open(self) -> Camera:
        """Open the link, read DeviceInfo and open a session."""
        if self._closed:
            raise ClosedError("this Camera was closed; connect again")
        if self._opened:
            return self
        await self.transport.open()
        try:
            if self.use_extensions:
                self._vendor = VendorBridge(self)
            self._engine = AsyncEngine(
                self.transport,
                timeout_s=self.timeout_s,
                on_event=self._events.deliver,
                operation_name=self.vocabulary.operation_name,
                response_name=self.vocabulary.response_name,
            )
            self.transport.start_events(self._events.deliver, self._events.fail)
            try:
                self._configure(await self._call(ops.get_device_info()))
            except SessionError:
                # GetDeviceInfo outside a session is refused by some responders (umtprd):
                # libgphoto2 opens the session first, so do that (as the blocking Camera).
                await self._open_session()
                self._configure(await self._call(ops.get_device_info()))
            else:
                await self._open_session()
            self._opened = True
            if self._vendor is not None:
                self._events.on_wait = self._vendor.attention
                await self._vendor.open()
                await self._synthesise_device_info()
        except BaseException:
            await self._shutdown(close_session=False)
            raise
        return self

    def _configure(self, info: DeviceInfo) -> None:
        """DeviceInfo, and the extensions that match it: their code sets and property specs
        (vendor operation, response, event and property names for :meth:`transaction`, the
        log and :meth:`property_code`) always; their instances (one per camera, kept when
        DeviceInfo is read again) unless ``extensions=False``."""
        self._device_info = info
        # A link only one vendor speaks names its extension, used when the body's DeviceInfo
        # is empty (a Fujifilm over Wi-Fi), as the blocking Camera does.
        hint = self.transport.vendor_hint
        forced = (
            {hint}
            if hint is not None
            and not info.operations_supported
            and hint in {factory.name for factory in registered()}
            else set()
        )
        factories = extensions_for(info, forced=forced)
        self.extension_names = tuple(factory.name for factory in factories)
        if self._vendor is not None:
            self._vendor.configure(factories)
        self.vocabulary = STANDARD.with_sets(*(cs for f in factories for cs in f.code_sets))
        self.catalog = STANDARD_CATALOG.with_specs(
            spec for factory in factories for spec in factory.properties
        )
        engine = self._require_engine()
        engine.operation_name = self.vocabulary.operation_name
        engine.response_name = self.vocabulary.response_name

    async def _synthesise_device_info(self) -> None:
        """An extension's DeviceInfo in place of an empty one the body sent (Fujifilm over
        Wi-Fi); extensions it brings in are set up too."""
        if self._vendor is None:
            return
        device_info = self.device_info
        info = await self._vendor.ask(
            "synthesise_device_info",
            lambda extension: extension.synthesise_device_info(device_info),
        )
        if info is None:
            return
        before = list(self.extensions)
        self._configure(info)
        for extension in self.extensions:
            if all(extension is not old for old in before) and overrides(extension, "open_session"):
                await self._vendor.call(extension.open_session)

    async def _open_session(self) -> None:
        opening, closing = ops.open_session(self.session_id), ops.close_session()
        response = await self._run(opening.code, opening.params, check=False)
        if response.code == Rc.SESSION_ALREADY_OPEN:
            # A session left open by an earlier program: close it and open ours.
            await self._run(closing.code, closing.params, check=False)
            response = await self._run(opening.code, opening.params, check=False)
        self._check(Op.OPEN_SESSION, response)

    async def close(self) -> None:
        """Close the session and the link. Safe to call more than once."""
        if self._closed:
            return
        await self._shutdown(close_session=self._opened)

    async def _shutdown(self, *, close_session: bool) -> None:
        self._events.stop()
        engine = self._engine
        try:
            if self._vendor is not None:
                # Its tear-down still runs transactions (Canon EOS: its documented order).
                if close_session and engine is not None:
                    await self._vendor.close()
                else:
                    await self._vendor.settle()
            self._closed = True
            if close_session and engine is not None:
                conn = engine.connection
                if conn.session_id is not None and conn.phase is Phase.IDLE:
                    closing = ops.close_session()
                    try:
                        await engine.run(closing.code, closing.params, wait_turn=False)
                    except PTPError as exc:
                        log.debug("CloseSession failed: %s", exc)
        finally:
            self._closed = True
            if engine is not None:
                engine.close()
            await self.transport.close()

    async def __aenter__(self) -> Camera:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._opened else "new"
        return f"<ptpkit.aio.Camera {self.url} {state}>"

    # -- running transactions --------------------------------------------------------------------

    def _require_engine(self) -> AsyncEngine:
        if self._closed or self._engine is None:
            raise ClosedError("the camera is closed" if self._closed else "the camera is not open")
        return self._engine

    async def _run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data_out: AnySource | None = None,
        sink: AnySink | None = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Response:
        """One operation, tried again while the camera answers DeviceBusy (the blocking
        Camera's rule: back-off from 50 ms to 1 s, within what is left of ``timeout_s``; never
        after a data phase was sent or began to arrive)."""
        engine = self._require_engine()
        loop = asyncio.get_running_loop()
        delay = 0.05
        deadline = None if timeout_s is None else loop.time() + timeout_s
        attempt_timeout_s = timeout_s
        for attempt in range(self.busy_retries + 1):
            response, _ = await engine.run(
                code,
                params,
                data_out=data_out,
                sink=sink,
                timeout_s=attempt_timeout_s,
                wait_turn=wait_turn,
            )
            if response.code != Rc.DEVICE_BUSY or attempt == self.busy_retries:
                break
            if deadline is not None:
                left_s = deadline - loop.time() - delay
                if left_s <= 0:
                    break
                attempt_timeout_s = left_s
            if data_out is not None or getattr(sink, "started", False):
                break
            log.debug(
                "%s: device busy, retry %d in %.2f s",
                self.vocabulary.operation_name(code),
                attempt + 1,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        if check:
            self._check(code, response)
        return response

    def _check(self, code: int, response: Response) -> None:
        if response.code != Rc.OK:
            vendor = (
                self._vendor.ask_now(
                    "response_error", lambda extension: extension.response_error(response.code)
                )
                if self._vendor is not None
                else None
            )
            raise (vendor or response_error_class(response.code))(
                response.code,
                name=self.vocabulary.response_name(response.code),
                operation=code,
                operation_name=self.vocabulary.operation_name(code),
                params=response.params,
            )

    async def _call(self, operation: Operation[_T], *, limit: int = DEFAULT_MEMORY_LIMIT) -> _T:
        """Run an operation spec and parse its answer (the camera's data kept in memory, at
        most ``limit`` bytes)."""
        if operation.data is not None:
            response = await self._run(
                operation.code, operation.params, data_out=BytesSource(operation.data)
            )
            return operation.parse(b"", response.params)
        sink = BytesSink(limit)
        response = await self._run(operation.code, operation.params, sink=sink)
        return operation.parse(sink.getvalue(), response.params)

    async def transaction(
        self,
        code: int,
        params: Sequence[int] = (),
        data: bytes | BinaryIO | AnySource | None = None,
        *,
        into: BinaryIO | AnySink | None = None,
        timeout_s: float | None = None,
        max_data_bytes: int = DEFAULT_MEMORY_LIMIT,
    ) -> TransactionResult:
        """A raw transaction (see :meth:`ptpkit.Camera.transaction`): the response code is
        returned, not raised. ``data``: bytes, a seekable binary file, or a source (``size``
        and ``read``, which may be a coroutine); ``into``: a binary file, or a sink whose
        methods may be coroutines, instead of ``.data``."""
        source: AnySource | None
        if data is None:
            source = None
        elif isinstance(data, bytes | bytearray | memoryview):
            source = BytesSource(data)
        elif hasattr(data, "size") and hasattr(data, "read"):
            source = data
        elif hasattr(data, "read") and hasattr(data, "seekable") and data.seekable():
            size = file_size(data)  # type: ignore[arg-type]
            if size < 0:
                raise UsageError("the data file is positioned past its end")
            source = FileSource(data, size)  # type: ignore[arg-type]
        else:
            raise UsageError(
                f"data must be bytes, a seekable binary file or a source, not "
                f"{type(data).__name__} (PTP sends a data phase's length first)"
            )
        sink: AnySink
        if into is None:
            sink = BytesSink(max_data_bytes)
        elif hasattr(into, "start") and hasattr(into, "finish"):
            sink = into
        else:
            sink = FileSink(into)
        response = await self._run(
            code, params, data_out=source, sink=sink, timeout_s=timeout_s, check=False
        )
        kept = sink.getvalue() if isinstance(sink, BytesSink) else b""
        return TransactionResult(
            code=response.code,
            name=self.vocabulary.response_name(response.code),
            params=response.params,
            data=kept,
            data_size=sink.written
            if isinstance(sink, FileSink)
            else len(kept)
            if isinstance(sink, BytesSink)
            else 0,
        )

    # -- what the camera is ----------------------------------------------------------------------

    @property
    def device_info(self) -> DeviceInfo:
        if self._device_info is None:
            raise ClosedError("the camera is not open")
        return self._device_info

    async def refresh_device_info(self) -> DeviceInfo:
        """Read DeviceInfo again (it can change, e.g. after a mode switch)."""
        self._configure(await self._call(ops.get_device_info()))
        await self._synthesise_device_info()
        return self.device_info

    def supports(self, operation: int | str) -> bool:
        code = (
            operation
            if isinstance(operation, int)
            else self.vocabulary.code(Kind.OPERATION, operation)
        )
        return code in self.device_info.operations_supported

    def _named(self, kind: Kind, codes: Iterable[int]) -> list[NamedCode]:
        return [NamedCode(code, self.vocabulary.name(kind, code)) for code in codes]

    def operations_supported(self) -> list[NamedCode]:
        return self._named(Kind.OPERATION, self.device_info.operations_supported)

    def events_supported(self) -> list[NamedCode]:
        return self._named(Kind.EVENT, self.device_info.events_supported)

    async def properties_supported(self) -> list[NamedCode]:
        return self._named(Kind.PROPERTY, await self.property_codes())

    # -- storages and objects --------------------------------------------------------------------

    async def storage_ids(self) -> tuple[int, ...]:
        return await self._call(ops.get_storage_ids())

    async def storage_info(self, storage_id: int) -> StorageInfo:
        return await self._call(ops.get_storage_info(storage_id))

    async def storages(self) -> list[Storage]:
        return [
            Storage(storage_id=s, info=await self.storage_info(s)) for s in await self.storage_ids()
        ]

    async def object_handles(
        self, storage_id: int = ALL_STORAGES, *, object_format: int = 0, parent: int | None = None
    ) -> tuple[int, ...]:
        """Handles of objects: all (``parent=None``), the top of the storage (``ROOT``), or
        one folder's."""
        return await self._call(
            ops.get_object_handle_tuple(
                storage_id, object_format=object_format, parent=0 if parent is None else parent
            )
        )

    async def object_info(self, handle: int) -> ObjectInfo:
        return await self._call(ops.get_object_info(handle))

    async def entry(self, handle: int) -> Entry:
        """The entry of one object with its full path (its parents read; a cycle of parents is
        a RemoteProtocolError). Its storage is the one that lists its top-level folder, the
        rule of :meth:`walk` (see :meth:`ptpkit.Camera.entry`)."""
        return await self._entry_at(handle, await self.object_info(handle))

    async def _entry_at(self, handle: int, info: ObjectInfo) -> Entry:
        names = [info.filename]
        top, top_info = handle, info
        parent = info.parent_object
        climbed = HandleTable()
        climbed.add(handle)
        while parent not in (0, ROOT):
            if not climbed.add(parent):
                raise RemoteProtocolError(
                    f"object 0x{handle:08X}: the camera's ParentObject links form a cycle "
                    f"(0x{parent:08X} again)"
                )
            top, top_info = parent, await self.object_info(parent)
            names.append(top_info.filename)
            parent = top_info.parent_object
        storage_id = await self._path_storage(top, top_info.storage_id)
        names.append(storage_folder(storage_id))
        names.reverse()
        size = await self._sized(handle, info)
        return entry_from_info(handle, info, "/" + "/".join(names), storage_id, size=size)

    async def _path_storage(self, top: int, claimed: int) -> int:
        ids = await self.storage_ids()
        if len(ids) == 1:
            return ids[0]
        for sid in sorted(ids, key=lambda sid: sid != claimed):
            if top in await self._call(ops.get_object_handles(sid, parent=ROOT)):
                return sid
        return claimed

    async def _as_entry(self, target: Entry | int | str) -> Entry:
        if isinstance(target, Entry):
            return target
        if isinstance(target, int):
            return await self.entry(target)
        return await self.find(target)

    async def _describe(
        self, handle: int, folder: str, on_error: SkipCallback | None, seen: HandleTable
    ) -> ObjectInfo | None:
        """One listed object's ObjectInfo, or None when it is passed over: listed before (a
        folder inside itself), a reserved handle, or one the camera cannot describe (reported
        to ``on_error`` as the blocking walk does)."""
        if not seen.add(handle):
            return None
        if handle in RESERVED_HANDLES:
            reason = f"the camera lists the reserved handle 0x{handle:08X} as an object"
            report_skipped(SkippedObject(handle=handle, folder=folder, reason=reason,
                                error=RemoteProtocolError(reason)), on_error)  # fmt: skip
            return None
        try:
            return await self.object_info(handle)
        except (DecodeError, ResponseError) as exc:
            if isinstance(exc, SessionError):
                raise
            report_skipped(
                SkippedObject(handle=handle, folder=folder, reason=str(exc), error=exc), on_error
            )
            return None

    async def _vendor_listing(
        self, storage_id: int, parent: int
    ) -> tuple[Sequence[tuple[int, ObjectInfo]], bool] | None:
        """The first extension's listing of a folder (Canon EOS GetObjectInfoEx: one
        transaction for the folder) and whether it gives whole ObjectInfos; None: none lists
        it (GetObjectHandles and GetObjectInfo then). A listing the camera got wrong falls
        back to the standard way, as in the blocking walk (libgphoto2 ptp_list_folder)."""
        if self._vendor is None:
            return None
        for extension in self._vendor.overriding("list_folder"):
            try:
                listed = await self._vendor.call(extension.list_folder, storage_id, parent)
            except (DecodeError, ResponseError) as exc:
                if isinstance(exc, SessionError):
                    raise
                log.warning("listing folder 0x%08X of storage 0x%08X the %s way failed (%s); "
                            "listing it object by object", parent, storage_id, extension.name,
                            exc)  # fmt: skip
                continue
            if listed is not None:
                return listed, extension.lists_whole_object_info
        return None

    async def _listed(
        self,
        storage_id: int,
        parent: int,
        path: str,
        on_error: SkipCallback | None,
        seen: HandleTable,
    ) -> AsyncIterator[tuple[int, ObjectInfo, bool]]:
        """The objects of one folder as they are read: (handle, ObjectInfo, whole), from the
        vendor's listing or GetObjectInfo each; passed over: repeats, reserved handles and
        objects the camera cannot describe (to ``on_error``)."""
        vendor = await self._vendor_listing(storage_id, parent)
        if vendor is None:
            for handle in await self._call(ops.get_object_handles(storage_id, parent=parent)):
                info = await self._describe(handle, path, on_error, seen)
                if info is not None:
                    yield handle, info, True
            return
        listing, whole = vendor
        for position in range(len(listing)):
            handle, info = listing[position]
            if not seen.add(handle):
                continue
            if handle in RESERVED_HANDLES:
                reason = f"the camera lists the reserved handle 0x{handle:08X} as an object"
                report_skipped(SkippedObject(handle=handle, folder=path, reason=reason,
                                       error=RemoteProtocolError(reason)), on_error)  # fmt: skip
                continue
            yield handle, info, whole

    async def _folder(
        self,
        storage_id: int,
        parent: int,
        path: str,
        on_error: SkipCallback | None,
        seen: HandleTable,
    ) -> AsyncIterator[Entry]:
        """The entries directly in one folder: sorted by name up to SORTED_FOLDER_LIMIT
        objects (equal names in the camera's order), a bigger folder in the camera's order.
        An entry from a vendor listing that is not a whole ObjectInfo has ``info`` None (as in
        the blocking walk: :meth:`entry` reads the whole one)."""
        listed = self._listed(storage_id, parent, path, on_error, seen)
        described: list[tuple[str, int, ObjectInfo, bool]] = []
        async for handle, info, whole in listed:
            described.append((info.filename, handle, info, whole))
            if len(described) > SORTED_FOLDER_LIMIT:
                break
        big = len(described) > SORTED_FOLDER_LIMIT
        if not big:
            described.sort(key=lambda item: item[0])
        for name, handle, info, whole in described:
            yield await self._listed_entry(handle, info, f"{path}/{name}", storage_id, whole)
        if big:  # the rest in the camera's order, as read
            async for handle, info, whole in listed:
                path_of = f"{path}/{info.filename}"
                yield await self._listed_entry(handle, info, path_of, storage_id, whole)

    async def _listed_entry(
        self, handle: int, info: ObjectInfo, path: str, storage_id: int, whole: bool
    ) -> Entry:
        entry = entry_from_info(
            handle, info, path, storage_id, size=await self._sized(handle, info)
        )
        return entry if whole else dataclasses.replace(entry, info=None)

    async def _index(self, parent: int) -> PropListIndex | None:
        """The whole-card index of everything below ``parent`` (MTP GetObjPropList: one
        transaction, spooled to a temporary file), in the extensions' order (an extension
        that lists folders its own way, before it, wins: None). MTP's request is run here on
        the engine (no hook thread: :func:`ptpkit.ext.mtp.proplist_request`); another
        extension's ``index_objects`` in a hook thread. A camera that fails it is listed
        folder by folder from then on (as the blocking Camera)."""
        if self._vendor is None or self._fast_listing_failed:
            return None
        try:
            for extension in self.extensions:
                if isinstance(extension, MtpExtension):
                    if not self.supports(Op.GET_OBJ_PROP_LIST):
                        continue
                    sink = SpoolSink(PROPLIST_LIMIT_BYTES)
                    try:
                        code, params = proplist_request(parent)
                        await self._run(code, params, sink=sink)
                        return PropListIndex(sink.file, sink.size)
                    except BaseException:
                        sink.close()
                        raise
                if overrides(extension, "index_objects"):
                    index = await self._vendor.call(extension.index_objects, parent)
                    if index is not None:
                        return index
                if overrides(extension, "list_folder"):
                    return None
        except (ResponseError, DecodeError, RemoteProtocolError) as exc:
            if isinstance(exc, SessionError):
                raise
            log.info("fast listing failed (%s); listing object by object", exc)
            self._fast_listing_failed = True
        return None

    async def _walk_index(
        self,
        index: PropListIndex,
        storage_id: int | None,
        start: Entry | None,
        on_error: SkipCallback | None,
    ) -> AsyncIterator[Entry]:
        """:func:`ptpkit.client.objects.walk_index` (no I/O) after the storages' top-level
        handles it needs; the loop gets a turn every few hundred entries."""
        try:
            ids: tuple[int, ...] = ()
            top_handles: list[Collection[int]] = []
            if start is None:
                ids = await self.storage_ids()
                if len(ids) > 1:
                    for sid in ids:
                        top = await self._call(ops.get_object_handles(sid, parent=ROOT))
                        top_handles.append(top)
            entries = walk_index(
                index, storage_id, start, on_error, ids=ids, top_handles=top_handles
            )
            for count, entry in enumerate(entries, 1):
                yield entry
                if count % _LISTING_TURN == 0:
                    await asyncio.sleep(0)
        finally:
            index.close()

    async def walk(
        self,
        storage_id: int | None = None,
        *,
        folder: Entry | int | str | None = None,
        on_error: SkipCallback | None = None,
    ) -> AsyncIterator[Entry]:
        """Every folder and file, depth first, each folder before what it contains: the
        order, path and skipping rules of :meth:`ptpkit.Camera.walk`. A whole-card index
        where the camera has one (MTP GetObjPropList), else folder by folder (a vendor's
        listing, or GetObjectHandles and GetObjectInfo). Entries come as they are read; an
        explicit stack, so any depth works."""
        start: Entry | None = None
        if folder is not None:
            start = await self._as_entry(folder)
            if not start.is_folder:
                raise UsageError(f"{start.path} is not a folder")
        index = await self._index(ROOT if start is None else start.handle)
        if index is not None:
            async for entry in self._walk_index(index, storage_id, start, on_error):
                yield entry
            return
        if start is not None:
            tops = [(start.storage_id, start.handle, start.path)]
        else:
            ids = await self.storage_ids() if storage_id is None else (storage_id,)
            tops = [(sid, ROOT, "/" + storage_folder(sid)) for sid in ids]
        seen = HandleTable()
        for sid, parent, prefix in tops:
            stack = [self._folder(sid, parent, prefix, on_error, seen)]
            while stack:
                try:
                    entry = await stack[-1].__anext__()
                except StopAsyncIteration:
                    stack.pop()
                    continue
                yield entry
                if entry.is_folder:
                    stack.append(self._folder(sid, entry.handle, entry.path, on_error, seen))

    async def iter_folder(
        self, folder: Entry | int | str | None = None, *, on_error: SkipCallback | None = None
    ) -> AsyncIterator[Entry]:
        """The objects directly inside a folder (None: the top of every storage), as they are
        read: :meth:`list_folder` without holding them all."""
        seen = HandleTable()
        if folder is None:
            for sid in await self.storage_ids():
                async for entry in self._folder(
                    sid, ROOT, "/" + storage_folder(sid), on_error, seen
                ):
                    yield entry
            return
        start = await self._as_entry(folder)
        if not start.is_folder:
            raise UsageError(f"{start.path} is not a folder")
        async for entry in self._folder(start.storage_id, start.handle, start.path, on_error, seen):
            yield entry

    async def list_folder(
        self, folder: Entry | int | str | None = None, *, on_error: SkipCallback | None = None
    ) -> list[Entry]:
        """The objects directly inside a folder (None: the top of every storage)."""
        return [entry async for entry in self.iter_folder(folder, on_error=on_error)]

    async def object_size(self, handle: int, info: ObjectInfo | None = None) -> int | None:
        """The object's size in bytes, 64-bit where the camera can tell (None when unknown)."""
        info = info or await self.object_info(handle)
        if info.compressed_size != SIZE_UNKNOWN_32:
            return info.compressed_size
        return await self._sized(handle, info)

    async def find(self, path: str) -> Entry:
        """The entry at a path (``/store_00010001/DCIM/IMG_0001.JPG``, or without the storage
        on a camera with one). Raises NotFoundError."""
        parts = [p for p in PurePosixPath(path).parts if p not in ("/", "")]
        if not parts:
            raise NotFoundError(f"{path!r} names no object")
        ids = await self.storage_ids()
        storage_id = parse_storage_folder(parts[0])
        if storage_id is not None:
            if storage_id not in ids:
                raise NotFoundError(f"{path!r}: the camera has no storage {parts[0]}")
            parts = parts[1:]
        elif len(ids) != 1:
            raise NotFoundError(
                f"{path!r}: this camera has {len(ids)} storages; start the path with one of "
                + ", ".join(storage_folder(s) for s in ids)
            )
        else:
            storage_id = ids[0]
        if not parts:
            raise NotFoundError(f"{path!r} is a storage, not an object")
        parent, prefix = ROOT, "/" + storage_folder(storage_id)
        found: Entry | None = None
        for part in parts:
            seen = HandleTable()
            for handle in await self._call(ops.get_object_handles(storage_id, parent=parent)):
                info = await self._describe(handle, prefix, None, seen)
                if info is not None and info.filename == part:
                    prefix = f"{prefix}/{part}"
                    size = await self._sized(handle, info)
                    found = entry_from_info(handle, info, prefix, storage_id, size=size)
                    parent = handle
                    break
            else:
                raise NotFoundError(f"no {part!r} in {prefix} on the camera")
        assert found is not None
        return found

    # -- reading objects -------------------------------------------------------------------------

    async def download(
        self,
        target: Entry | int | str,
        dest: str | os.PathLike[str] | BinaryIO,
        *,
        progress: ProgressCallback | None = None,
        resume: bool = True,
        overwrite: bool = False,
        fsync: bool = True,
        keep_time: bool = True,
    ) -> Path | None:
        """Copy an object to ``dest`` (a folder, a file path, or a binary file object) with
        the blocking Camera's guarantees (:meth:`ptpkit.Camera.download`): streamed into a
        partial file of ours, published under the final name only when complete, an existing
        file never replaced unless ``overwrite``, a file ptpkit did not make never touched, a
        partial file of the same object resumed with GetPartialObject. A cancelled download
        (``task.cancel()``) is cancelled on the camera and leaves no final file; its partial
        file stays for a resume, as after any failure."""
        # One of several pictures handed out in turn is described just before it is read.
        entry = await self.describe_now(await self._as_entry(target))
        if entry.is_folder:
            raise UsageError(f"{entry.path} is a folder; download the files in it")
        if hasattr(dest, "write"):
            sink = FileSink(
                dest,  # type: ignore[arg-type]
                progress=progress,
                total_bytes=entry.size,
                limit=size_limit(entry, 0),
            )
            await self._read_object(entry, 0, sink)
            await self._downloaded(entry)
            return None
        final = download_path(entry, dest)
        with writing(
            final,
            overwrite=overwrite,
            fsync=fsync,
            resumable=True,
            owner=part_owner(self.device_info, entry),
            mtime=object_time(entry) if keep_time else None,
        ) as file:
            await self._fill_part(entry, file, final, resume=resume, progress=progress)
        await self._downloaded(entry)
        return final

    async def _downloaded(self, entry: Entry) -> None:
        """A download is complete: an object in the camera's memory (capture to PC) is
        reported to the extensions (:meth:`Extension.after_download`: the camera may drop it)."""
        if not entry.in_memory or self._vendor is None:
            return
        captured = CapturedObject(handle=entry.handle, info=entry.info, in_memory=True)
        for extension in self._vendor.overriding("after_download"):
            await self._vendor.call(extension.after_download, captured)

    async def _fill_part(
        self,
        entry: Entry,
        file: BinaryIO,
        final: Path,
        *,
        resume: bool,
        progress: ProgressCallback | None,
    ) -> None:
        """:meth:`ptpkit.client.transfers.Transfers._fill_part` on the loop: resume what the
        partial file holds when its end matches the camera's bytes there."""
        have = os.fstat(file.fileno()).st_size
        offset = 0
        if have and resume and self._can_resume(entry, have):
            if await self._resume_check(entry, file, have):
                offset = have
                log.info("resuming %s at byte %d of %d", entry.path, offset, entry.size)
            else:
                log.warning(
                    "%s: the partial file of %s holds other bytes; starting over",
                    entry.path,
                    final,
                )
        if offset < have:
            file.truncate(offset)
        file.seek(offset)
        sink = FileSink(
            file,
            progress=progress,
            offset=offset,
            total_bytes=entry.size,
            limit=size_limit(entry, offset),
        )
        try:
            await self._read_object(entry, offset, sink)
        except ResponseError as exc:
            if not offset or sink.started or isinstance(exc, SessionError):
                raise
            log.warning("%s: the camera refused to resume (%s); starting over", entry.path, exc)
            file.truncate(0)
            file.seek(0)
            sink = FileSink(
                file, progress=progress, total_bytes=entry.size, limit=size_limit(entry, 0)
            )
            await self._read_object(entry, 0, sink)
        size = file.tell()
        if entry.size not in (SIZE_UNKNOWN_32, size):
            kept = "; the partial file stays for a resume" if size else ""
            raise RemoteProtocolError(f"{entry.path}: got {size} of {entry.size} bytes{kept}")

    def _can_resume(self, entry: Entry, have: int) -> bool:
        if entry.size == SIZE_UNKNOWN_32 or not 0 < have < entry.size:
            return False
        if not all(extension.partial_reads for extension in self.extensions):
            return False  # GetPartialObject not to be trusted (Fujifilm: libgphoto2#653)
        return (have <= _MAX_PARTIAL and self.supports(Op.GET_PARTIAL_OBJECT)) or bool(
            self._ask_now("reads_from", lambda extension: extension.reads_from(have) or None)
        )

    async def _resume_check(self, entry: Entry, part: BinaryIO, have: int) -> bool:
        length = min(have, RESUME_CHECK_BYTES)
        part.seek(have - length)
        ours = part.read(length)
        try:
            return await self.read(entry, have - length, length) == ours
        except ResponseError as exc:
            if isinstance(exc, SessionError):
                raise
            log.warning("%s: the camera refused a partial read (%s)", entry.path, exc)
            return False

    async def _read_object(self, entry: Entry, offset: int, sink: AnySink) -> None:
        if offset == 0:
            await self._run(Op.GET_OBJECT, (entry.handle,), sink=sink)
        else:
            await self._read_range(entry.handle, offset, entry.size - offset, sink)

    async def _read_range(self, handle: int, offset: int, length: int, sink: AnySink) -> None:
        """``length`` bytes from ``offset`` with GetPartialObject, in as few transactions as its
        32-bit fields allow; what its 32-bit offset cannot reach (past 4 GiB) is asked of the
        extensions (MTP's GetPartialObject64, a vendor's 64-bit read), as the blocking
        Camera does."""
        end = offset + length
        while offset < end:
            step = min(end - offset, _MAX_PARTIAL)
            if offset <= _MAX_PARTIAL and self.supports(Op.GET_PARTIAL_OBJECT):
                response = await self._run(Op.GET_PARTIAL_OBJECT, (handle, offset, step), sink=sink)
            elif await self._extension_read(handle, offset, end - offset, sink):
                return
            else:
                raise UsageError("the camera cannot read part of an object (no GetPartialObject)")
            sent = response.params[0] if response.params else step
            if sent == 0:
                raise RemoteProtocolError(f"the camera sent no bytes at offset {offset}")
            if sent > step:
                raise RemoteProtocolError(
                    f"the camera says it sent {sent} bytes at offset {offset}; {step} were asked"
                )
            offset += sent

    async def _extension_read(self, handle: int, offset: int, length: int, sink: AnySink) -> bool:
        """Whether an extension read the range its way (64-bit operations), asked in order."""
        if self._vendor is None:
            return False
        for extension in self._vendor.overriding("read_object"):
            if await self._vendor.call(extension.read_object, handle, offset, length, sink):
                return True
        return False

    async def _sized(self, handle: int, info: ObjectInfo) -> int | None:
        """The 64-bit size of an object whose ObjectInfo says 0xFFFFFFFF (past 4 GiB), where
        an extension can tell it (MTP's ObjectSize); None otherwise."""
        if info.is_folder or info.compressed_size != SIZE_UNKNOWN_32:
            return None
        return await self._ask("object_size", lambda extension: extension.object_size(handle, info))

    async def read(
        self, target: Entry | int | str, offset: int = 0, length: int | None = None
    ) -> bytes:
        """Bytes of an object, all of it or a range, in memory (download() for big files)."""
        entry = await self.describe_now(await self._as_entry(target))
        if length is None and entry.size == SIZE_UNKNOWN_32:
            # The size unknown (past 4 GiB, no 64-bit size to ask): to the end of the data.
            window = WindowSink(offset, _UNBOUNDED)
            await self._run(Op.GET_OBJECT, (entry.handle,), sink=window)
            return window.getvalue()
        if length is None:
            length = max(0, entry.size - offset)
        elif entry.size != SIZE_UNKNOWN_32:
            # A range past the end reads what is there, as a file read does.
            length = max(0, min(length, entry.size - offset))
        sink = BytesSink(limit=max(length, 1))
        if offset == 0 and length >= entry.size:
            await self._run(Op.GET_OBJECT, (entry.handle,), sink=sink)
        elif length and not all(extension.partial_reads for extension in self.extensions):
            # GetPartialObject not to be trusted (Fujifilm: libgphoto2#653): the whole object
            # read, the range of it kept.
            window = WindowSink(offset, length)
            await self._run(Op.GET_OBJECT, (entry.handle,), sink=window)
            return window.getvalue()
        elif length:
            await self._read_range(entry.handle, offset, length, sink)
        return sink.getvalue()

    async def thumbnail(self, target: Entry | int | str) -> bytes:
        """The object's thumbnail (usually a small JPEG)."""
        entry = await self._as_entry(target)
        return await self._call(ops.get_thumb(entry.handle))

    # -- changing objects ------------------------------------------------------------------------

    async def _folder_handle(self, folder: Entry | int | str | None) -> tuple[int | None, int]:
        if folder is None:
            return None, ROOT
        entry = await self._as_entry(folder)
        if not entry.is_folder:
            raise UsageError(f"{entry.path} is not a folder")
        return entry.storage_id, entry.handle

    async def upload(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        name: str | None = None,
        storage_id: int | None = None,
        folder: Entry | int | str | None = None,
        object_format: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Entry:
        """Send a file to the camera (SendObjectInfo, then SendObject streamed from it)."""
        folder_storage, parent = await self._folder_handle(folder)
        if hasattr(source, "read"):
            if name is None:
                raise UsageError("uploading from a file object needs name=")
            return await self._upload_file(
                source,  # type: ignore[arg-type]
                name=name,
                storage_id=folder_storage or storage_id,
                parent=parent,
                object_format=object_format,
                progress=progress,
                modified=None,
            )
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{path} is not a file")
        with path.open("rb") as file:
            return await self._upload_file(
                file,
                name=name or path.name,
                storage_id=folder_storage or storage_id,
                parent=parent,
                object_format=object_format,
                progress=progress,
                modified=path.stat().st_mtime,
            )

    async def _upload_file(
        self,
        file: BinaryIO,
        *,
        name: str,
        storage_id: int | None,
        parent: int,
        object_format: int | None,
        progress: ProgressCallback | None,
        modified: float | None,
    ) -> Entry:
        size = file_size(file)
        storage = storage_id if storage_id is not None else (await self.storage_ids())[0]
        info = upload_info(
            name,
            size,
            storage=storage,
            parent=parent,
            object_format=object_format,
            modified=modified,
        )
        handle = await self._call(ops.send_object_info(storage, parent, info))
        source: DataSource = FileSource(file, size, progress=progress)
        await self._run(Op.SEND_OBJECT, data_out=source)
        try:
            return await self.entry(handle)
        except (ResponseError, DecodeError, RemoteProtocolError) as exc:
            # Done; some devices describe the new handle only a moment later (the blocking
            # Camera's rule): the entry from what was sent.
            log.debug("new object 0x%08X not described yet (%s)", handle, exc)
            prefix = "/" + storage_folder(storage)
            path_storage = storage
            if parent != ROOT:
                try:
                    above = await self.entry(parent)
                    prefix, path_storage = above.path, above.storage_id
                except (ResponseError, DecodeError, RemoteProtocolError):
                    pass
            return entry_from_info(handle, info, f"{prefix}/{name}", path_storage, size=size)

    async def make_folder(
        self, name: str, *, folder: Entry | int | str | None = None, storage_id: int | None = None
    ) -> Entry:
        """Create a folder (SendObjectInfo of an Association, no data)."""
        folder_storage, parent = await self._folder_handle(folder)
        storage = folder_storage or storage_id or (await self.storage_ids())[0]
        info = folder_info(name, storage, parent)
        return await self.entry(await self._call(ops.send_object_info(storage, parent, info)))

    async def delete(self, target: Entry | int | str) -> None:
        """Delete an object; a folder goes with everything in it."""
        entry = await self._as_entry(target)
        if entry.handle in RESERVED_HANDLES:
            # DeleteObject(0xFFFFFFFF) deletes every object (ISO 15740, DeleteObject).
            raise UsageError(f"0x{entry.handle:08X} is a reserved handle, not one object")
        await self._call(ops.delete_object(entry.handle))

    # -- properties ------------------------------------------------------------------------------

    def _ask_now(self, hook: str, call: Callable[[Extension], _T | None]) -> _T | None:
        return self._vendor.ask_now(hook, call) if self._vendor is not None else None

    async def _ask(self, hook: str, call: Callable[[Extension], _T | None]) -> _T | None:
        vendor = self._vendor
        if vendor is None or not vendor.overriding(hook):
            return None  # standard PTP (no hook thread, no further coroutine per transaction)
        return await vendor.ask(hook, call)

    async def property_codes(self) -> tuple[int, ...]:
        """Every property the camera has: DeviceInfo's list, then those its extensions add
        (a Canon EOS reports some only in its events; a Sony's list is read from the camera)."""
        codes = dict.fromkeys(self.device_info.device_properties_supported)
        if self._vendor is not None:
            for extension in self._vendor.overriding("property_codes"):
                listed: Collection[int] | None = await self._vendor.call(extension.property_codes)
                codes.update(dict.fromkeys(listed or ()))
        return tuple(codes)

    async def property_code(self, prop: int | str) -> int:
        """The code of a property given by code, friendly name ("iso"), PTP name
        ("ExposureIndex") or hex ("0x500F")."""
        if isinstance(prop, int):
            return prop
        candidates = self.catalog.candidates(prop)
        # One name, several properties (standard and vendor): the one this camera has.
        have = await self.property_codes() if len(candidates) > 1 else ()
        return property_code(prop, self.catalog, self.vocabulary, lambda: have)

    def _format_value(self, code: int, value: Value) -> str | None:
        return self._ask_now("format_value", lambda extension: extension.format_value(code, value))

    async def describe_property(self, prop: int | str) -> PropertyDescription:
        """A property's description: from the first extension that describes it (a Canon
        EOS's event cache), else GetDevicePropDesc."""
        self._require_engine()
        code = await self.property_code(prop)
        desc = await self._ask(
            "describe_property", lambda extension: extension.describe_property(code)
        )
        if desc is None:
            desc = await self._call(ops.get_device_prop_desc(code))
        self._datatypes[code] = desc.datatype
        return describe(code, desc, self.vocabulary, self.catalog, self._format_value)

    async def properties(self) -> list[PropertyDescription]:
        """Every property the camera lists, described (one that fails to describe is skipped)."""
        out = []
        for code in await self.property_codes():
            try:
                out.append(await self.describe_property(code))
            except (ResponseError, DecodeError) as exc:
                log.info("property 0x%04X could not be described: %s", code, exc)
        return out

    async def get_property(self, prop: int | str) -> Value:
        """The current value, decoded by the property's data type (from the first extension
        that describes the property, else GetDevicePropValue)."""
        self._require_engine()
        code = prop if isinstance(prop, int) else await self.property_code(prop)
        desc = await self._ask(
            "describe_property", lambda extension: extension.describe_property(code)
        )
        if desc is not None:
            self._datatypes[code] = desc.datatype
            return desc.current
        if code not in self._datatypes or not self.supports(Op.GET_DEVICE_PROP_VALUE):
            description = await self.describe_property(code)
            if not self.supports(Op.GET_DEVICE_PROP_VALUE):
                return description.current
        return await self._call(ops.get_device_prop_value(code, self._datatypes[code]))

    async def get_property_text(self, prop: int | str) -> str:
        code = await self.property_code(prop)
        value = await self.get_property(code)
        text = self._format_value(code, value)
        return text if text is not None else self.catalog.format(code, value)

    async def set_property(self, prop: int | str, value: Value, *, check: bool = True) -> None:
        """Set a property: a raw value, or text people would type ("1/125", "f/5.6"); with
        ``check`` a value outside the allowed ones is refused here, listing them (the rules of
        :meth:`ptpkit.Camera.set_property`). The first extension that sets it its vendor's
        way does (Canon EOS SetDevicePropValueEx), else SetDevicePropValue."""
        description = await self.describe_property(prop)
        raw, operation = value_to_set(description, value, check=check, extensions=self.extensions)
        if self._vendor is not None:
            for extension in self._vendor.overriding("set_property"):
                if await self._vendor.call(
                    extension.set_property, description.code, raw, description.datatype
                ):
                    return
        await self._call(operation)

    # -- capture and events ----------------------------------------------------------------------

    async def capture(self, *, timeout_s: float = 30.0, storage_id: int = 0) -> CaptureResult:
        """Take a picture (standard InitiateCapture) and return the new objects: ObjectAdded
        events until CaptureComplete (or the first ObjectAdded on a camera that does not send
        CaptureComplete), as :meth:`ptpkit.Camera.capture`. Those events are the answer (in
        the result's ``events``), not queued again for :meth:`events`."""
        outcome = await self._ask(
            "capture", lambda extension: extension.capture(timeout_s=timeout_s)
        )
        if outcome is not None:
            return await self._captured(outcome)
        added: list[CameraEvent] = []
        answer: list[CameraEvent] = []
        done = False
        capture_tid: list[int] = []
        has_complete = Ec.CAPTURE_COMPLETE in self.device_info.events_supported

        def listen(event: CameraEvent) -> bool:
            nonlocal done
            if done:
                return False
            if event.code == Ec.OBJECT_ADDED and event.params:
                added.append(event)
                answer.append(event)
                if not has_complete:
                    done = True
                return True
            if event.code == Ec.CAPTURE_COMPLETE and (
                not capture_tid or event.transaction_id in (capture_tid[0], 0xFFFFFFFF)
            ):
                answer.append(event)
                done = True
                return True
            return False

        loop = asyncio.get_running_loop()
        with self._events.listening(listen):
            initiate = ops.initiate_capture(storage_id)
            response = await self._run(initiate.code, initiate.params)
            capture_tid.append(response.transaction_id)
            deadline = loop.time() + timeout_s
            while not done:
                self._events.raise_if_ended()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TransportTimeout(
                        f"the camera did not report the capture within {timeout_s:g} s "
                        f"({len(added)} new object(s) so far)"
                    )
                await self._events.changed(remaining)
        entries = [await self.entry(event.params[0]) for event in added]
        return CaptureResult(entries, answer)

    async def _captured(self, outcome: CaptureOutcome) -> CaptureResult:
        """A capture an extension made: entries from the ObjectInfo it gave (else
        GetObjectInfo), in the camera's memory marked so (:attr:`Entry.in_memory`)."""
        entries = [await self._captured_entry(captured) for captured in outcome.objects]
        now = asyncio.get_running_loop().time()
        events = [capture_event(item, self.vocabulary, now) for item in outcome.events]
        return CaptureResult(entries, events, outcome.preview)

    async def _captured_entry(self, captured: CapturedObject) -> Entry:
        """The entry of a captured object. One of several pictures a camera hands out in turn
        at one handle (Sony's 0xFFFFC001) cannot be described before its turn: a name from its
        handle until :meth:`describe_now` (download() and read() call it)."""
        if captured.in_turn:
            name = f"object_{captured.handle:08x}"
            return Entry(
                handle=captured.handle,
                storage_id=0,
                parent=0,
                name=name,
                path=f"/{storage_folder(0)}/{name}",
                size=0,
                is_folder=False,
                object_format=0,
                in_memory=captured.in_memory,
                in_turn=True,
            )
        if captured.info is None:
            entry = await self.entry(captured.handle)
        else:
            entry = await self._entry_at(captured.handle, captured.info)
        return dataclasses.replace(entry, in_memory=captured.in_memory)

    async def describe_now(self, entry: Entry) -> Entry:
        """An entry whose turn has come (:attr:`Entry.in_turn`) described now, just before it
        is read; any other entry as it is."""
        if not entry.in_turn:
            return entry
        described = await self._entry_at(entry.handle, await self.object_info(entry.handle))
        return dataclasses.replace(described, in_memory=entry.in_memory)

    # -- half press ------------------------------------------------------------------------------

    def half_press_plan(self) -> HalfPress | None:
        """The camera's half press as its extension gives it, when the camera lists its
        operations; None when it has none (see :meth:`ptpkit.Camera.half_press_plan`). The
        hook is pure data: asked inline, no hook thread."""
        plan = self._ask_now("half_press", lambda extension: extension.half_press())
        return usable_half_press(plan, self.device_info.operations_supported)

    def _require_half_press(self) -> HalfPress:
        plan = self._ask_now("half_press", lambda extension: extension.half_press())
        usable = usable_half_press(plan, self.device_info.operations_supported)
        if usable is None:
            raise no_half_press(plan, self.device_info.model, self.extensions, self.vocabulary)
        return usable

    async def _transact(self, request: Transact) -> Reply:
        """One transaction of a plan (ptpkit.ext.plans runs the plan, as for the blocking
        Camera)."""
        sink = BytesSink(PLAN_DATA_LIMIT) if request.keep_data else None
        response = await self._run(
            request.code,
            request.params,
            data_out=None if request.data is None else BytesSource(request.data),
            sink=sink,
            timeout_s=request.timeout_s,
        )
        data = sink.getvalue() if sink is not None else b""
        return Reply(code=response.code, params=tuple(response.params), data=data)

    async def half_press(self, *, hold: bool = False, timeout_s: float | None = None) -> HalfPress:
        """Focus as a half-pressed shutter button does, the vendor's way; ``hold=True`` keeps
        it until :meth:`release_half_press` or a capture (see :meth:`ptpkit.Camera.half_press`,
        whose plan runner this shares: ``timeout_s`` bounds the whole call). Raises
        OperationNotSupportedError when the camera has none, FocusError when it reports that it
        could not focus. Returns the plan sent."""
        self._require_engine()
        plan = self._require_half_press()
        loop = asyncio.get_running_loop()
        run = half_press_run(plan, hold=hold, timeout_s=timeout_s, monotonic=loop.time)
        await drive_async(run, self._transact, asyncio.sleep)
        return plan

    async def release_half_press(self, *, timeout_s: float | None = None) -> HalfPress:
        """Let go of a held half press: the vendor's release, where it has one."""
        self._require_engine()
        plan = self._require_half_press()
        loop = asyncio.get_running_loop()
        run = release_run(plan, timeout_s=timeout_s, monotonic=loop.time)
        await drive_async(run, self._transact, asyncio.sleep)
        return plan

    def live_view(self, *, frame_timeout_s: float | None = None) -> AsyncLiveView:
        """Live view from the camera's extension (standard PTP has none)::

            async with cam.live_view() as lv:
                async for frame in lv:
                    ...

        Live view starts on entry and ends on exit (also after an error or a cancel); a
        reader task keeps the next frame request in flight and only the newest frame waits
        (see :mod:`ptpkit.aio.liveview`). Entering raises OperationNotSupportedError when no
        extension of the camera has live view."""
        return AsyncLiveView(
            self._live_view_source,
            self._vendor.call if self._vendor is not None else _no_hooks,
            frame_timeout_s=FRAME_TIMEOUT_S if frame_timeout_s is None else frame_timeout_s,
            label=self.url,
        )

    async def _live_view_source(self) -> FrameSource:
        source = await self._ask("live_view", lambda extension: extension.live_view())
        if source is None:
            names = ", ".join(e.name for e in self.extensions) or "none"
            raise _not_supported(
                "live view",
                f"{self.device_info.model or 'this camera'} has no live view ptpkit can use: "
                f"standard PTP has none, and no extension of this camera offers one "
                f"(extensions: {names})",
            )
        return source

    async def capture_preview(self, *, timeout_s: float | None = None) -> LiveFrame:
        """One live-view frame (gphoto2's ``--capture-preview``): live view started, its
        first frame, live view ended. TransportTimeout when none comes within ``timeout_s``."""
        async with self.live_view(frame_timeout_s=timeout_s) as view:
            return await view.next_frame()

    async def event_entry(self, event: CameraEvent) -> Entry:
        """The entry of the object an ObjectAdded event announces: from the event's details
        when an extension described the object there (no GetObjectInfo), else read from the
        camera (see :meth:`ptpkit.Camera.event_entry`)."""
        details = event.details
        if isinstance(details, CapturedObject):
            return await self._captured_entry(details)
        if not event.params:
            raise UsageError(f"event {event} names no object")
        if isinstance(details, ObjectInfo):
            return await self._entry_at(event.params[0], details)
        return await self.entry(event.params[0])

    async def exposure_state(self) -> list[StateValue] | None:
        """The exposure state as the camera reports it, in its order (Fujifilm's 0xD212
        list), each value with its text; None when no extension has such a report."""
        pairs = await self._ask("exposure_state", lambda extension: extension.exposure_state())
        if pairs is None:
            return None
        out = []
        for code, value in pairs:
            spec = self.catalog.get(code)
            text = self._format_value(code, value)
            out.append(
                StateValue(
                    code=code,
                    name=self.vocabulary.property_name(code),
                    label=spec.label if spec is not None else self.vocabulary.property_name(code),
                    value=value,
                    text=text if text is not None else self.catalog.format(code, value),
                )
            )
        return out

    @contextlib.contextmanager
    def observing_events(self, observer: Callable[[CameraEvent], None]) -> Iterator[None]:
        """Show ``observer`` each event as it arrives while the block runs, without taking it
        from the queue :meth:`next_event` reads (a live-view overlay watching the camera's
        state). It runs on the loop: it must return at once; what it raises is logged."""

        def listener(event: CameraEvent) -> bool:
            try:
                observer(event)
            except Exception:
                log.exception("event observer %r failed", observer)
            return False  # seen, not consumed

        with self._events.listening(listener):
            yield

    async def next_event(self, timeout_s: float | None = None) -> CameraEvent | None:
        """The next event, waiting up to ``timeout_s`` (None: forever); None on timeout."""
        return await self._events.next_event(timeout_s)

    def events(self, timeout_s: float | None = None) -> AsyncIterator[CameraEvent]:
        """``async for event in cam.events():`` events as they come; ends when none arrives
        within ``timeout_s`` (None: never)."""
        return self._events.events(timeout_s)

    async def wait_event(
        self, codes: Iterable[int] | None = None, *, timeout_s: float = 10.0
    ) -> CameraEvent:
        """The next event with one of ``codes`` (any if None); the others are kept for later.
        Raises TransportTimeout."""
        return await self._events.wait_event(codes, timeout_s=timeout_s)

    def _deliver_event(self, event: Event, details: object = None) -> None:
        self._events.deliver(event, details)


async def _no_hooks(function: Callable[..., _T], *args: object) -> _T:
    """The hook runner of a camera without extensions: never reached (no frame source)."""
    raise ClosedError("this camera runs no extension")


def _not_supported(what: str, message: str) -> OperationNotSupportedError:
    error = OperationNotSupportedError(
        Rc.OPERATION_NOT_SUPPORTED, name="OperationNotSupported", operation_name=what
    )
    error.args = (message,)
    return error


__all__ = ["Camera"]
