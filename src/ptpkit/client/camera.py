"""The Camera: what a program holds to talk to one camera.

::

    with ptpkit.connect("virtual:") as cam:
        print(cam.device_info.model)
        for entry in cam.walk():
            if not entry.is_folder:
                cam.download(entry, "photos/")
        cam.set_property("iso", 400)
        new = cam.capture()

Every method is one or a few PTP transactions; transactions from several threads are serialised.
A response other than OK raises the :class:`~ptpkit.errors.ResponseError` subclass for its code,
except :meth:`Camera.transaction`, the raw call, which returns the code (miniPtp's one-liner API).

The Camera is a facade (issue 12): it owns the link, the session and the extensions, and hands
each concern to a service that asks the extensions in order (vendor, then MTP) before doing
standard PTP: :mod:`~ptpkit.client.properties`, :mod:`~ptpkit.client.objects` (listing, paths),
:mod:`~ptpkit.client.transfers` (downloads, reads, uploads), :mod:`~ptpkit.client.capture`
(capture, live view) and :mod:`~ptpkit.client.events`. The standard operations themselves are
pure specs in :mod:`~ptpkit.client.operations`, shared with any other front end.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

from ptpkit._log import get_logger
from ptpkit._sync import Latch
from ptpkit.client import operations as ops
from ptpkit.client.engine import Engine, PreparedRequest
from ptpkit.client.events import EVENT_QUEUE_LIMIT, CameraEvent, EventStream
from ptpkit.client.operations import ALL_STORAGES, ROOT, Operation
from ptpkit.client.properties import Properties, PropertyDescription
from ptpkit.client.session import CameraSession
from ptpkit.client.streams import (
    DEFAULT_MEMORY_LIMIT,
    BytesSink,
    BytesSource,
    DataSink,
    DataSource,
    FileSink,
    FileSource,
    ProgressCallback,
    file_size,
)
from ptpkit.codes import STANDARD, Kind, Vocabulary
from ptpkit.codes.common import Op, Rc
from ptpkit.codes.properties import (
    STANDARD_CATALOG,
    PropertyCatalog,
)
from ptpkit.core.datasets import (
    DeviceInfo,
    ObjectInfo,
    StorageInfo,
)
from ptpkit.core.datatypes import Value
from ptpkit.core.events import Event, Response
from ptpkit.core.state import Phase
from ptpkit.errors import (
    ClosedError,
    PTPError,
    SessionError,
    UsageError,
    response_error_class,
)
from ptpkit.ext import Extension, extensions_for, registered
from ptpkit.ext.base import (
    ExtensionFactory,
    FrameSource,
    HalfPress,
    check_extension_names,
)
from ptpkit.timing import SYSTEM_CLOCK, Clock
from ptpkit.transports.base import Transport

if TYPE_CHECKING:
    from ptpkit.client.capture import ArmedCapture, Capture, CaptureResult
    from ptpkit.client.files import Entry
    from ptpkit.client.liveview import LiveFrame, LiveView
    from ptpkit.client.objects import (
        SORTED_FOLDER_LIMIT,
        Objects,
        SkipCallback,
        SkippedObject,
    )
    from ptpkit.client.transfers import RESUME_CHECK_BYTES, Transfers, object_time

#: Names this module gives from the services it loads on first use (start-up time: a command
#: that reads a property loads neither the listing, the transfers nor the capture, nor their
#: dataclasses; tests/cli/test_startup.py holds it).
_LAZY: dict[str, str] = {
    "ArmedCapture": "ptpkit.client.capture",
    "CaptureResult": "ptpkit.client.capture",
    "SORTED_FOLDER_LIMIT": "ptpkit.client.objects",
    "SkipCallback": "ptpkit.client.objects",
    "SkippedObject": "ptpkit.client.objects",
    "RESUME_CHECK_BYTES": "ptpkit.client.transfers",
    "object_time": "ptpkit.client.transfers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module), name)


__all__ = [
    "ALL_STORAGES",
    "EVENT_QUEUE_LIMIT",
    "RESUME_CHECK_BYTES",
    "ROOT",
    "SORTED_FOLDER_LIMIT",
    "Camera",
    "CameraEvent",
    "CaptureResult",
    "NamedCode",
    "PropertyDescription",
    "SkipCallback",
    "SkippedObject",
    "StateValue",
    "Storage",
    "TransactionResult",
    "object_time",
]

log = get_logger("ptpkit")

_T = TypeVar("_T")


@dataclass(frozen=True)
class NamedCode:
    """A code with its name in the camera's vocabulary: prints as ``0x1001 GetDeviceInfo``."""

    code: int
    name: str

    def __str__(self) -> str:
        return f"0x{self.code:04X} {self.name}"


@dataclass(frozen=True, kw_only=True)
class TransactionResult:
    """What the raw :meth:`Camera.transaction` returns."""

    code: int
    name: str
    params: tuple[int, ...] = ()
    #: The data the camera sent (empty when it was streamed into a file with ``into=``).
    data: bytes = b""
    #: How many bytes of data the camera sent, kept or streamed.
    data_size: int = 0

    @property
    def ok(self) -> bool:
        return self.code == Rc.OK


@dataclass(frozen=True, kw_only=True)
class StateValue:
    """One property of the camera's exposure state (:meth:`Camera.exposure_state`)."""

    code: int
    #: The name in the camera's vocabulary ("FilmSimulation").
    name: str
    #: What people call it ("film simulation").
    label: str
    value: Value
    #: The value as people write it ("Velvia", "S 6400").
    text: str


@dataclass(frozen=True, kw_only=True)
class Storage:
    storage_id: int
    info: StorageInfo

    @property
    def folder(self) -> str:
        """The first component of this storage's paths (``store_00010001``)."""
        from ptpkit.client.files import storage_folder  # noqa: PLC0415  (see _LAZY)

        return storage_folder(self.storage_id)

    @property
    def description(self) -> str:
        return self.info.description or self.info.volume_label or self.folder


class Camera:
    """One camera over one transport. Use as a context manager, or call open() and close()."""

    def __init__(
        self,
        transport: Transport,
        *,
        timeout_s: float | None = 20.0,
        session_id: int = 1,
        extensions: Iterable[ExtensionFactory] = (),
        vendors: Iterable[str] = (),
        busy_retries: int = 5,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.transport = transport
        #: The clock behind busy back-off, capture waits, pollers and keep-alives (a test's
        #: FakeClock instead of sleeps).
        self.clock = clock
        self._session = CameraSession(self, clock)
        self.timeout_s = timeout_s
        self.session_id = session_id
        #: How often an operation answered DeviceBusy is tried again (with back-off).
        self.busy_retries = busy_retries
        self._extra_extensions: list[ExtensionFactory] = list(extensions)
        #: Registered extensions used whatever the camera says (checked now: before any I/O).
        self._forced_vendors = check_extension_names(vendors)
        # A link that only one vendor speaks (Fujifilm's PTP/IP variant) names that vendor's
        # extension, used when the body's DeviceInfo is empty (an X-T4 over Wi-Fi), which
        # matches no vendor; a whole DeviceInfo is matched as usual.
        hint = getattr(transport, "vendor_hint", None)
        self._vendor_hint: str | None = (
            hint
            if isinstance(hint, str) and hint in {factory.name for factory in registered()}
            else None
        )
        #: This camera's extension instances, in the order they are asked (vendor, MTP).
        self.extensions: list[Extension] = []
        self.vocabulary: Vocabulary = STANDARD
        self.catalog: PropertyCatalog = STANDARD_CATALOG
        self._engine: Engine | None = None
        self._device_info: DeviceInfo | None = None
        self._event_stream = EventStream(
            # Looked up per event: the vocabulary is replaced when DeviceInfo is read again.
            clock=clock,
            event_name=lambda code: self.vocabulary.event_name(code),  # noqa: PLW0108
        )
        #: A whole-card index (MTP GetObjPropList) failed on this camera: folder by folder from
        #: now on (the object service reads and sets it).
        self._fast_listing_failed = False
        self._properties = Properties(self)
        # The listing, transfer and capture services are made on first use (see _LAZY).
        self._services_lock = threading.Lock()
        self._capture_service: Capture | None = None
        self._objects_service: Objects | None = None
        self._transfers_service: Transfers | None = None
        self._opened = False
        self._closed = False
        #: The thread running close(): its transactions do not wait for their turn.
        self._closing_thread: int | None = None

    @property
    def _capture(self) -> Capture:
        with self._services_lock:
            if self._capture_service is None:
                from ptpkit.client.capture import Capture  # noqa: PLC0415  (see _LAZY)

                self._capture_service = Capture(self, self._event_stream)
            return self._capture_service

    @property
    def _objects(self) -> Objects:
        with self._services_lock:
            if self._objects_service is None:
                from ptpkit.client.objects import Objects  # noqa: PLC0415  (see _LAZY)

                self._objects_service = Objects(self)
            return self._objects_service

    @property
    def _transfers(self) -> Transfers:
        with self._services_lock:
            if self._transfers_service is None:
                from ptpkit.client.transfers import Transfers  # noqa: PLC0415  (see _LAZY)

                self._transfers_service = Transfers(self)
            return self._transfers_service

    # -- life ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.transport.url

    @property
    def transactions_run(self) -> int:
        """Transactions started on this camera so far (a keep-alive watches it for idleness)."""
        return self._engine.transactions if self._engine is not None else 0

    @property
    def link_idle(self) -> bool:
        """No transaction under way on the command channel, and the link usable (True before
        the camera is opened; False once it is closed or broken)."""
        return self._engine is None or self._engine.idle

    def open(self) -> Camera:
        """Open the link, read DeviceInfo, choose extensions and open a session."""
        # Closed first: _opened stays True after close(), and a closed Camera must not pass
        # for an open one.
        if self._closed:
            raise ClosedError("this Camera was closed; connect again")
        if self._opened:
            return self
        self.transport.open()
        try:
            self._engine = Engine(
                self.transport,
                timeout_s=self.timeout_s,
                on_event=self._deliver_event,
                operation_name=self.vocabulary.operation_name,
                response_name=self.vocabulary.response_name,
            )
            self.transport.start_events(self._deliver_event, self._fail_events)
            try:
                info = self._read_device_info()
            except SessionError:
                # GetDeviceInfo works outside a session by the spec (ISO 15740 §10.5.1), but some
                # responders refuse it (umtprd); libgphoto2 opens the session first, so do that.
                self._open_session()
                self._configure(self._read_device_info())
            else:
                self._configure(info)
                self._open_session()
            self._opened = True
            for extension in self.extensions:
                extension.open_session()
            self._synthesise_device_info()
            self._start_poller()
        except BaseException:
            self._shutdown(close_session=False)
            raise
        return self

    def close(self) -> None:
        """Close the session and the link. Safe to call more than once."""
        if self._closed:
            return
        self._shutdown(close_session=self._opened)

    def _shutdown(self, *, close_session: bool) -> None:
        # The poller stops first; the extensions' tear-down (Canon EOS: its documented order)
        # still runs transactions, so the camera is marked closed only after it.
        self._closing_thread = threading.get_ident()
        self._event_stream.stop()
        try:
            if close_session and self._engine is not None and not self._closed:
                for extension in reversed(self.extensions):
                    try:
                        extension.close_session()
                    except PTPError as exc:
                        log.debug("extension %s failed before close: %s", extension.name, exc)
            self._closed = True
            if close_session and self._engine is not None:
                conn = self._engine.connection
                if conn.session_id is not None and conn.phase is Phase.IDLE:
                    try:
                        # Not behind another thread's transaction (a big download could take
                        # minutes): that one ends with ClosedError, and closing the link ends
                        # the session anyway.
                        self._engine.run(Op.CLOSE_SESSION, timeout_s=5.0, wait_turn=False)
                    except PTPError as exc:  # the camera may be gone already, or busy
                        log.debug("CloseSession failed: %s", exc)
        finally:
            self._closed = True
            if self._engine is not None:
                self._engine.close()
            self.transport.close()
            self._event_stream.wake()

    def __enter__(self) -> Camera:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        model = self._device_info.model if self._device_info else "?"
        return f"<Camera {model!r} at {self.url}>"

    def _read_device_info(self) -> DeviceInfo:
        return self._call(ops.get_device_info())

    def _configure(self, info: DeviceInfo) -> None:
        self._device_info = info
        forced = set(self._forced_vendors)
        if self._vendor_hint is not None and not info.operations_supported:
            forced.add(self._vendor_hint)
        factories = extensions_for(info, self._extra_extensions, forced=forced)
        known = {type(extension): extension for extension in self.extensions}
        # One instance per camera; a DeviceInfo read again keeps the instances it still wants.
        self.extensions = [known.get(factory) or factory(self._session) for factory in factories]
        sets = [code_set for ext in self.extensions for code_set in ext.code_sets]
        self.vocabulary = STANDARD.with_sets(*sets)
        self.catalog = STANDARD_CATALOG.with_specs(
            spec for ext in self.extensions for spec in ext.properties
        )
        engine = self._require_engine()
        engine.operation_name = self.vocabulary.operation_name
        engine.response_name = self.vocabulary.response_name

    def _synthesise_device_info(self) -> None:
        """An extension's DeviceInfo in place of an empty one the body sent (Fujifilm over
        Wi-Fi); extensions it brings in are opened too."""
        info = self._ask(lambda extension: extension.synthesise_device_info(self.device_info))
        if info is None:
            return
        before = list(self.extensions)
        self._configure(info)
        for extension in self.extensions:
            if all(extension is not old for old in before):
                extension.open_session()

    def _open_session(self) -> None:
        opening, closing = ops.open_session(self.session_id), ops.close_session()
        response = self._run(opening.code, opening.params, check=False)
        if response.code == Rc.SESSION_ALREADY_OPEN:
            # A session left open by an earlier program (libgphoto2 does the same): close it and
            # open ours.
            self._run(closing.code, closing.params, check=False)
            response = self._run(opening.code, opening.params, check=False)
        self._check(Op.OPEN_SESSION, response)

    # -- running transactions --------------------------------------------------------------------

    def _require_engine(self) -> Engine:
        if self._closed or self._engine is None:
            raise ClosedError("the camera is closed" if self._closed else "the camera is not open")
        return self._engine

    def _run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data_out: DataSource | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Response:
        engine = self._require_engine()
        if self._closing_thread == threading.get_ident():
            # The extensions' tear-down (Canon EOS: its documented order) does not queue behind
            # another thread's transaction, as CloseSession does not: that one ends with
            # ClosedError, and closing the link ends the session anyway.
            wait_turn = False
        delay = 0.05
        # A timeout bounds the whole call, busy retries included: the retries and their pauses
        # fit in what is left of it (an extension's own back-off loop, e.g. Nikon DeviceReady,
        # must not be overrun by ours).
        deadline = None if timeout_s is None else self.clock.monotonic() + timeout_s
        attempt_timeout_s = timeout_s
        for attempt in range(self.busy_retries + 1):
            response, _ = engine.run(
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
                left_s = deadline - self.clock.monotonic() - delay
                if left_s <= 0:
                    break  # no time left to wait and ask again: the busy answer stands
                attempt_timeout_s = left_s
            # Only retry what can be repeated: not after a data-out phase was consumed, nor
            # after a data phase reached the sink (a busy answer normally comes before either).
            if data_out is not None or getattr(sink, "started", False):
                break
            log.debug(
                "%s: device busy, retry %d in %.2f s",
                self.vocabulary.operation_name(code),
                attempt + 1,
                delay,
            )
            self.clock.sleep(delay)
            delay = min(delay * 2, 1.0)
        if check:
            self._check(code, response)
        return response

    def _can_prepare(self) -> bool:
        """Whether this link can send a request prepared in advance (an armed capture)."""
        return type(self.transport).prepared_send is not Transport.prepared_send

    def _prepare(
        self, code: int, params: Sequence[int] = (), *, timeout_s: float | None = None
    ) -> PreparedRequest | None:
        return self._require_engine().prepare(code, params, timeout_s=timeout_s)

    def _check(self, code: int, response: Response) -> None:
        if response.code != Rc.OK:
            cls = next(
                (
                    found
                    for extension in self.extensions
                    if (found := extension.response_error(response.code)) is not None
                ),
                None,
            ) or response_error_class(response.code)
            raise cls(
                response.code,
                name=self.vocabulary.response_name(response.code),
                operation=code,
                operation_name=self.vocabulary.operation_name(code),
                params=response.params,
            )

    def _call(self, operation: Operation[_T], *, limit: int = DEFAULT_MEMORY_LIMIT) -> _T:
        """Run an operation spec (:mod:`ptpkit.client.operations`) and parse its answer; the
        camera's data is kept in memory, at most ``limit`` bytes."""
        if operation.data is not None:
            response = self._run(
                operation.code, operation.params, data_out=BytesSource(operation.data)
            )
            return operation.parse(b"", response.params)
        sink = BytesSink(limit)
        response = self._run(operation.code, operation.params, sink=sink)
        return operation.parse(sink.getvalue(), response.params)

    def transaction(
        self,
        code: int,
        params: Sequence[int] = (),
        data: bytes | BinaryIO | None = None,
        *,
        into: BinaryIO | None = None,
        timeout_s: float | None = None,
        max_data_bytes: int = DEFAULT_MEMORY_LIMIT,
    ) -> TransactionResult:
        """A raw transaction: ``code`` with ``params``, sending ``data`` if given.

        Returns the response code, its parameters and any data the camera sent. Does not raise
        for a response other than OK (check ``.ok`` or ``.code``)::

            mac = cam.transaction(0x9033).data

        Data of any size streams: ``data`` may be a seekable binary file (sent from its position
        to its end: PTP announces a data phase's length before it), and ``into`` a binary file
        that receives the camera's data instead of ``.data`` (which otherwise holds at most
        ``max_data_bytes``).
        """
        source: DataSource | None
        if data is None:
            source = None
        elif isinstance(data, bytes | bytearray | memoryview):
            source = BytesSource(data)
        elif hasattr(data, "read") and hasattr(data, "seekable") and data.seekable():
            size = file_size(data)
            if size < 0:
                raise UsageError("the data file is positioned past its end")
            source = FileSource(data, size)
        else:
            raise UsageError(
                f"data must be bytes or a seekable binary file, not {type(data).__name__} "
                "(PTP sends a data phase's length first: read a pipe into bytes)"
            )
        sink: FileSink | BytesSink = (
            FileSink(into) if into is not None else BytesSink(max_data_bytes)
        )
        response = self._run(
            code, params, data_out=source, sink=sink, timeout_s=timeout_s, check=False
        )
        kept = sink.getvalue() if isinstance(sink, BytesSink) else b""
        return TransactionResult(
            code=response.code,
            name=self.vocabulary.response_name(response.code),
            params=response.params,
            data=kept,
            data_size=sink.written if isinstance(sink, FileSink) else len(kept),
        )

    # -- what the camera is ----------------------------------------------------------------------

    @property
    def device_info(self) -> DeviceInfo:
        if self._device_info is None:
            raise ClosedError("the camera is not open")
        return self._device_info

    def refresh_device_info(self) -> DeviceInfo:
        """Read DeviceInfo again (it can change, e.g. after a mode switch)."""
        self._configure(self._read_device_info())
        self._synthesise_device_info()
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

    def properties_supported(self) -> list[NamedCode]:
        return self._named(Kind.PROPERTY, self.property_codes())

    # -- asking the extensions -------------------------------------------------------------------

    def _ask(self, hook: Callable[[Extension], _T | None]) -> _T | None:
        """The first answer of the camera's extensions to ``hook``, in their order (vendor, then
        MTP); None when none answers: the caller does standard PTP (issue 12)."""
        for extension in self.extensions:
            answer = hook(extension)
            if answer is not None:
                return answer
        return None

    # -- storages and objects --------------------------------------------------------------------

    def storage_ids(self) -> tuple[int, ...]:
        return self._call(ops.get_storage_ids())

    def storage_info(self, storage_id: int) -> StorageInfo:
        return self._call(ops.get_storage_info(storage_id))

    def storages(self) -> list[Storage]:
        return [Storage(storage_id=s, info=self.storage_info(s)) for s in self.storage_ids()]

    def object_handles(
        self, storage_id: int = ALL_STORAGES, *, object_format: int = 0, parent: int | None = None
    ) -> tuple[int, ...]:
        """Handles of objects: all of them (``parent=None``), those at the top of the storage
        (``parent=ROOT``), or those in one folder (``parent=handle``)."""
        return self._call(
            ops.get_object_handle_tuple(
                storage_id, object_format=object_format, parent=0 if parent is None else parent
            )
        )

    def object_info(self, handle: int) -> ObjectInfo:
        return self._call(ops.get_object_info(handle))

    def object_size(self, handle: int, info: ObjectInfo | None = None) -> int | None:
        """The object's size in bytes, 64-bit where the camera can tell (None when unknown)."""
        return self._objects.object_size(handle, info)

    def entry(self, handle: int) -> Entry:
        """The entry of one object, with its full path (reads its parents' ObjectInfo, however
        deep; a camera whose parents form a cycle is a RemoteProtocolError).

        Its storage follows the rule of :meth:`walk`: the storage that lists its top-level
        folder, so ``entry(h).path`` is the path ``walk()`` gives the same object."""
        return self._objects.entry(handle)

    def _entry_at(self, handle: int, info: ObjectInfo, *, in_memory: bool = False) -> Entry:
        return self._objects.entry_at(handle, info, in_memory=in_memory)

    def event_entry(self, event: CameraEvent) -> Entry:
        """The entry of the object an ObjectAdded event announces: from the event's
        :attr:`~CameraEvent.details` when an extension described the object there (a
        :class:`~ptpkit.ext.base.CapturedObject` or an ObjectInfo: no GetObjectInfo), else read
        from the camera. ``tether`` downloads what this gives."""
        return self._capture.event_entry(event)

    def _can_list_fast(self) -> bool:
        """Whether a whole-card index is asked for (not after one failed on this camera)."""
        return not self._fast_listing_failed

    def _as_entry(self, target: Entry | int | str) -> Entry:
        return self._objects.as_entry(target)

    def walk(
        self,
        storage_id: int | None = None,
        *,
        folder: Entry | int | str | None = None,
        on_error: SkipCallback | None = None,
    ) -> Iterator[Entry]:
        """Every folder and file, depth first, each folder before what it contains (see
        :meth:`ptpkit.client.objects.Objects.walk`: a whole-card index where an extension gives
        one, MTP's GetObjPropList; else folder by folder, the extensions first)."""
        return self._objects.walk(storage_id, folder=folder, on_error=on_error)

    def iter_folder(
        self, folder: Entry | int | str | None = None, *, on_error: SkipCallback | None = None
    ) -> Iterator[Entry]:
        """The objects directly inside a folder (None: the top of every storage), as they are
        read: :meth:`list_folder` without holding them all (a folder of a million files)."""
        return self._objects.iter_folder(folder, on_error=on_error)

    def list_folder(
        self, folder: Entry | int | str | None = None, *, on_error: SkipCallback | None = None
    ) -> list[Entry]:
        """The objects directly inside a folder (None: the top of every storage). Objects the
        camera cannot describe go to ``on_error``, as in :meth:`walk`; the order is walk()'s."""
        return list(self.iter_folder(folder, on_error=on_error))

    def find(self, path: str) -> Entry:
        """The entry at a path: ``/store_00010001/DCIM/IMG_0001.JPG``, or, on a camera with one
        storage, ``DCIM/IMG_0001.JPG``. Raises NotFoundError. Objects on the way that the
        camera cannot describe are passed over (logged as warnings)."""
        return self._objects.find(path)

    # -- reading objects -------------------------------------------------------------------------

    def download(
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
        """Copy an object to ``dest``: a folder (the object's name, made safe, inside it), a file
        path, or a binary file object (see :meth:`ptpkit.client.transfers.Transfers.download`:
        a partial file of ours renamed when complete, resumed where the camera can; an object
        in the camera's memory is reported to the extensions once downloaded)."""
        return self._transfers.download(
            target,
            dest,
            progress=progress,
            resume=resume,
            overwrite=overwrite,
            fsync=fsync,
            keep_time=keep_time,
        )

    def describe_now(self, entry: Entry) -> Entry:
        """An entry a capture could not describe yet (:attr:`Entry.in_turn`: one of several
        pictures a Sony hands out in turn at 0xFFFFC001) described now, just before it is read;
        any other entry as it is. :meth:`download` does this itself."""
        return self._capture.describe_now(entry)

    def _downloaded(self, entry: Entry) -> None:
        self._capture.downloaded(entry)

    def _part_owner(self, entry: Entry) -> str:
        return self._transfers.part_owner(entry)

    def _read_range(self, handle: int, offset: int, length: int, sink: DataSink) -> None:
        # Every partial read passes here (a test seam: a camera that refuses them).
        self._transfers.read_range(handle, offset, length, sink)

    def read(self, target: Entry | int | str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes of an object, all of it or a range, in memory (use download() for big files)."""
        return self._transfers.read(target, offset, length)

    def thumbnail(self, target: Entry | int | str) -> bytes:
        """The object's thumbnail (usually a small JPEG)."""
        return self._transfers.thumbnail(target)

    # -- changing objects ------------------------------------------------------------------------

    def upload(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        name: str | None = None,
        storage_id: int | None = None,
        folder: Entry | int | str | None = None,
        object_format: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Entry:
        """Send a file to the camera (SendObjectInfo, then SendObject streamed from the file)."""
        return self._transfers.upload(
            source,
            name=name,
            storage_id=storage_id,
            folder=folder,
            object_format=object_format,
            progress=progress,
        )

    def make_folder(
        self, name: str, *, folder: Entry | int | str | None = None, storage_id: int | None = None
    ) -> Entry:
        """Create a folder (SendObjectInfo of an Association, no data)."""
        return self._transfers.make_folder(name, folder=folder, storage_id=storage_id)

    def delete(self, target: Entry | int | str) -> None:
        """Delete an object; a folder goes with everything in it."""
        self._transfers.delete(target)

    # -- properties ------------------------------------------------------------------------------

    def property_code(self, prop: int | str) -> int:
        """The code of a property given by code, friendly name ("iso"), PTP name
        ("ExposureIndex") or hex ("0x500F")."""
        return self._properties.property_code(prop)

    def property_codes(self) -> tuple[int, ...]:
        """Every property the camera has: DeviceInfo's list, then those its extensions add
        (:meth:`Extension.property_codes`: a Canon EOS reports some only in its events)."""
        return self._properties.property_codes()

    def describe_property(self, prop: int | str) -> PropertyDescription:
        """A property's description: from the first extension that describes it (a Canon EOS's
        event cache), else GetDevicePropDesc."""
        return self._properties.describe_property(prop)

    def properties(self) -> list[PropertyDescription]:
        """Every property the camera lists, described (one that fails to describe is skipped)."""
        return self._properties.properties()

    def exposure_state(self) -> list[StateValue] | None:
        """The exposure state as the camera reports it, in its order (Fujifilm's 0xD212 list:
        which properties depends on the exposure program), each value with its text; None when
        no extension has such a report (``ptpkit state`` then describes the standard exposure
        properties)."""
        pairs = self._ask(lambda extension: extension.exposure_state())
        if pairs is None:
            return None
        out = []
        for code, value in pairs:
            spec = self.catalog.get(code)
            text = self._properties._format_value(code, value)
            if text is None:
                text = self.catalog.format(code, value)
            out.append(
                StateValue(
                    code=code,
                    name=self.vocabulary.property_name(code),
                    label=spec.label if spec is not None else self.vocabulary.property_name(code),
                    value=value,
                    text=text,
                )
            )
        return out

    def get_property(self, prop: int | str) -> Value:
        """The current value, decoded by the property's data type (from the first extension
        that describes the property, else GetDevicePropValue)."""
        return self._properties.get_property(prop)

    def get_property_text(self, prop: int | str) -> str:
        return self._properties.get_property_text(prop)

    def set_property(self, prop: int | str, value: Value, *, check: bool = True) -> None:
        """Set a property. ``value`` is the raw value, or text people would type ("1/125",
        "f/5.6", "+1/3", "daylight", "now"). With ``check``, a value outside the camera's allowed
        values is refused here with the list of allowed ones. The first extension that sets it
        its vendor's way does (Canon EOS SetDevicePropValueEx), else SetDevicePropValue."""
        self._properties.set_property(prop, value, check=check)

    # -- capture and events ----------------------------------------------------------------------

    def capture(self, *, timeout_s: float = 30.0, storage_id: int = 0) -> CaptureResult:
        """Take a picture and return the new objects.

        The first extension that captures its vendor's way (:meth:`Extension.capture`, Canon
        EOS RemoteReleaseOn/Off) does it; else standard InitiateCapture, which waits for
        ObjectAdded events until CaptureComplete (or, on a camera that does not send
        CaptureComplete, the first ObjectAdded). Those events are the capture's answer: they are
        in the result's ``events`` and not queued again for :meth:`events`; any other event is.
        ``storage_id`` is InitiateCapture's (0: where the camera chooses). The wait is on the
        camera's clock.

        A Sony delivers the pictures that were waiting in its memory too, oldest first, then the
        new one, all at 0xFFFFC001: only the first is described; the others are
        :attr:`Entry.in_turn` and are described when downloaded (:meth:`describe_now`), so
        download them in the order given.
        """
        return self._capture.capture(timeout_s=timeout_s, storage_id=storage_id)

    def arm_capture(self, *, timeout_s: float = 30.0, storage_id: int = 0) -> ArmedCapture | None:
        """A capture made ready up to the release of the shutter, to be fired at a moment of
        the caller's choosing with next to no work left (:class:`ArmedCapture`: ``fire()``,
        then ``finish()`` for the same result :meth:`capture` gives; ``disarm()`` to drop it).
        A rig fires many cameras' from one thread at its deadline.

        What comes before the release is done now (a vendor's plan,
        :meth:`Extension.capture_plan`: Canon EOS reads its events and holds the half press,
        Nikon waits until ready), within ``timeout_s``; ``timeout_s`` then bounds the rest
        of the capture from the moment it is fired. Until it is finished or disarmed the
        camera's command channel is held for it: another transaction from this thread raises
        BusyError, other threads' wait.

        None where a capture cannot be armed; :meth:`capture` then does it the ordinary way:

        - a link without a raw send of a prepared request (:meth:`Transport.prepared_send`:
          PTP/IP, USB and the in-process virtual camera have one; Fujifilm's PTP/IP variant
          and the PowerShot link do not);
        - a vendor that takes its pictures its own way in one piece (an extension overriding
          :meth:`Extension.capture`: Sony's button presses and polls, Fujifilm's);
        - a release with a data phase from the computer (none of ptpkit's plans has one).
        """
        return self._capture.arm(timeout_s=timeout_s, storage_id=storage_id)

    def half_press_plan(self) -> HalfPress | None:
        """The camera's half press (autofocus without a picture) as its extension gives it
        (:class:`ptpkit.ext.base.HalfPress`), when the camera lists its operations; None when
        it has none (standard PTP has none)."""
        return self._capture.half_press_plan()

    def half_press(self, *, hold: bool = False, timeout_s: float | None = None) -> HalfPress:
        """Focus as a half-pressed shutter button does, without taking a picture, the vendor's
        way (Canon EOS DoAf, Nikon AfDrive, Sony's half-press button, Fujifilm's shutter action
        0xD208 with InitiateCapture and its AF status 0xD209 polled); returns the plan sent.

        ``hold=False`` lets go at once where the vendor has a release (Canon EOS AfCancel, Sony
        button up, Fujifilm's "release focus lock"); ``hold=True`` keeps the button half
        pressed until :meth:`release_half_press` or a capture (a Sony's or a Fujifilm's capture
        lets go of it itself; a Nikon ends its AfDrive by itself, answering DeviceBusy until
        focused, which the next operation's busy retries wait out).

        ``timeout_s`` bounds the whole call (every transaction and every wait for the camera's
        focus status); None: each transaction has the camera's timeout and each wait the
        vendor's bound. Raises OperationNotSupportedError when the camera has none, FocusError
        when the camera reports that it could not focus, TransportTimeout when it is still
        focusing at the bound; a press that failed half way is let go first."""
        return self._capture.half_press(hold=hold, timeout_s=timeout_s)

    def release_half_press(self, *, timeout_s: float | None = None) -> HalfPress:
        """Let go of a half press (:meth:`half_press` with ``hold=True``): the vendor's release,
        where it has one (nothing is sent for a Nikon). Raises OperationNotSupportedError when
        the camera has no half press."""
        return self._capture.release_half_press(timeout_s=timeout_s)

    def live_view(self, *, frame_timeout_s: float | None = None) -> LiveView:
        """Live view: a context manager and iterator of :class:`ptpkit.LiveFrame` (see
        :mod:`ptpkit.client.liveview`)::

            with cam.live_view() as lv:
                for frame in lv:
                    ...

        It starts live view on the camera on entry and ends it on exit; a reader thread keeps
        the next frame request in flight and keeps only the newest frame; other transactions
        (property changes, capture) run between its frames. ``frame_timeout_s``: longest wait
        for a frame (TransportTimeout after it). Raises OperationNotSupportedError when no
        extension of the camera has live view (standard PTP defines none)."""
        from ptpkit.client.liveview import FRAME_TIMEOUT_S, LiveView  # noqa: PLC0415

        source = self._capture.live_view()
        engine = self._require_engine()
        return LiveView(
            source,
            frame_timeout_s=FRAME_TIMEOUT_S if frame_timeout_s is None else frame_timeout_s,
            waiting=lambda: engine.waiting,
            label=self.device_info.model or "camera",
        )

    def capture_preview(self, *, timeout_s: float | None = None) -> LiveFrame:
        """One live-view frame (gphoto2's ``--capture-preview``): live view started, the first
        frame the camera has, live view ended. TransportTimeout when none comes within
        ``timeout_s`` (default: the live view's frame timeout)."""
        from ptpkit.client.liveview import FRAME_TIMEOUT_S, preview_frame  # noqa: PLC0415

        source = self._capture.live_view()
        return preview_frame(source, timeout_s=FRAME_TIMEOUT_S if timeout_s is None else timeout_s)

    def live_view_source(self) -> FrameSource:
        """The first extension's live-view frame source itself (start(), frame(), stop(): no
        thread, no pacing; :meth:`live_view` is built on it). Raises
        OperationNotSupportedError when none has one."""
        return self._capture.live_view()

    def _deliver_event(self, event: Event, details: object = None) -> None:
        self._event_stream.deliver(event, details)

    def _fail_events(self, error: PTPError) -> None:
        self._event_stream.fail(error)

    def _start_poller(self) -> None:
        """Poll for events when the camera's extension says they must be asked for."""
        poller = self._ask(lambda extension: extension.event_poller())
        if poller is not None:
            self._event_stream.start_poller(poller, name=f"events {self.url}")

    def next_event(self, timeout_s: float | None = None) -> CameraEvent | None:
        """The next event, waiting up to ``timeout_s`` (None: forever). None on timeout."""
        return self._event_stream.next_event(timeout_s)

    def events(self, timeout_s: float | None = None) -> Iterator[CameraEvent]:
        """Events as they come; the iterator ends when none arrives within ``timeout_s``."""
        return self._event_stream.events(timeout_s)

    def wait_event(
        self, codes: Iterable[int] | None = None, *, timeout_s: float = 10.0
    ) -> CameraEvent:
        """The next event with one of ``codes`` (any event if None); other events are kept for
        later. Raises TransportTimeout."""
        return self._event_stream.wait_event(codes, timeout_s=timeout_s)

    @contextlib.contextmanager
    def observing_events(self, observer: Callable[[CameraEvent], None]) -> Iterator[None]:
        """Show ``observer`` each event as it arrives while the block runs, without taking it
        from the queue :meth:`next_event` and :meth:`wait_event` read (a live-view overlay
        watches the camera's state while a program waits for its events). The observer runs on
        the thread that delivers events: it must return at once; what it raises is logged."""

        def listener(event: CameraEvent) -> bool:
            try:
                observer(event)
            except Exception:
                log.exception("event observer %r failed", observer)
            return False  # seen, not consumed

        with self._event_stream.listening(listener, Latch()):
            yield
