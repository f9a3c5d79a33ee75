"""A PTP gateway to a PowerShot on Canon's native protocol: ``ptpkit.connect("canon-usb:")``.

:class:`PowerShotTransport` is a :class:`~ptpkit.transports.base.Transport` whose far end is not
a PTP device but this module: it takes the engine's PTP requests (framed as USB containers,
decoded by the core in the responder role, as the in-process virtual camera's are) and answers
each from the :class:`~ptpkit.client.powershot.PowerShot` API. So ``connect("canon-usb:")``
returns an ordinary :class:`ptpkit.Camera`, and ``info``, ``storage``, ``ls -R``, ``download``
(``.part``, resume), ``thumb``, ``rm``, ``capture [--download]``, ``get/set owner``,
``get/set datetime``, ``upload`` work unchanged. What the protocol cannot do is absent from the
DeviceInfo the gateway reports, so the client's "not supported" answers apply (live view,
formatting, protection).

What maps to what:

- DeviceInfo: manufacturer "Canon Inc.", the model and firmware from IdentifyCamera, the serial
  number empty (the protocol has none for PowerShots); the operations below only.
- One storage (0x00010001), the card's drive: capacity and free space from DiskInfo.
- Objects: the card's listing (one recursive GetDirEntries); each path keeps its handle for
  the whole session. ObjectInfo: the format by extension, folders as associations, the
  parent, the size, the camera-local time as capture and modification date (no zone, as the
  camera knows none), write protection from the attribute bit.
- GetObject / GetThumb: GetFile streamed; GetPartialObject: GetFile read from the start, the
  bytes before the offset dropped (the protocol has no offset), so ``.part`` files resume.
- DeleteObject: DeleteFile (a folder: RemoveDir, which an empty folder only allows).
- SendObjectInfo / SendObject: an upload in libgphoto2's experimental canon_usb_put_file format,
  its blocks sent as the data arrives (within each write's time), completed by the file's time
  and attributes.
- Properties: BatteryLevel 0x5001 (PowerStatus: 100 good, 0 low), DateTime 0x5011
  (GetTime/SetTime), Canon CameraOwner 0xD033 (IdentifyCamera / SetOwner).
- InitiateCapture: :meth:`PowerShot.capture`, then ObjectAdded (the new file's handle) and
  CaptureComplete on the event channel, as a PTP camera sends them.

Each answer's PowerShot I/O runs in the engine's ``read_into`` with the time the engine gives
it, so the engine's deadlines (and its progress rule for data phases) bound the camera's work.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as _dt
import itertools
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from ptpkit import _log
from ptpkit.client.powershot import CaptureFailedError, CardEntry, PowerShot, Upload, canon_join
from ptpkit.codes.common import Dpc, Ec, Op, Rc
from ptpkit.codes.formats import ASSOCIATION, EXIF_JPEG, format_for_name
from ptpkit.core import canon_usb as cu
from ptpkit.core.buffer import BytesLike, Writer
from ptpkit.core.connection import Connection
from ptpkit.core.datasets import (
    AccessCapability,
    DeviceInfo,
    DevicePropDesc,
    FilesystemType,
    GetSet,
    ObjectInfo,
    ProtectionStatus,
    RangeForm,
    StorageInfo,
    StorageType,
    decode_value,
    encode_value,
)
from ptpkit.core.datatypes import DataType, Value, format_datetime
from ptpkit.core.datatypes import parse_datetime as parse_ptp_datetime
from ptpkit.core.events import (
    NEED_DATA,
    Data,
    DataEnd,
    DataStart,
    Event,
    Request,
    Response,
)
from ptpkit.core.framing import Framing
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import UsbFraming, decode_cancel_request
from ptpkit.errors import (
    ClosedError,
    DecodeError,
    LocalProtocolError,
    TransportTimeout,
    UsageError,
)
from ptpkit.transports.base import EventCallback, EventErrorCallback, Transport, WriteProgress
from ptpkit.transports.canon_usb import CanonStatusError, CanonUsbLink, VariableReply

__all__ = ["OWNER_PROP", "STORAGE_ID", "PowerShotTransport"]

log = _log.get_logger("ptpkit.canon")

#: The one store: the card (ISO 15740 storage ids: physical 1, logical 1).
STORAGE_ID: Final = 0x00010001
#: Canon's CameraOwner property (libgphoto2 ptp.h PTP_DPC_CANON_CameraOwner).
OWNER_PROP: Final = 0xD033
_ALL: Final = 0xFFFFFFFF
_TOP: Final = 0xFFFFFFFF
#: A property value sent by the initiator is refused beyond this (a date or a 31-byte name).
MAX_PROPERTY_BYTES: Final = 4096
#: Data-out operations (over USB the responder knows only from the code; ISO 15740 table 22):
#: their data is taken whole before the answer, even when refused.
_DATA_OUT: Final = frozenset(
    {
        Op.SEND_OBJECT_INFO,
        Op.SEND_OBJECT,
        Op.SET_DEVICE_PROP_VALUE,
        Op.SET_OBJECT_PROP_VALUE,
    }
)
#: Status codes of the camera as PTP response codes.
_STATUS_RC: Final = {
    0x02000022: Rc.INVALID_OBJECT_HANDLE,
    0x02000029: Rc.OBJECT_WRITE_PROTECTED,
    0x0200002A: Rc.STORE_FULL,
    0x02000086: Rc.INVALID_PARAMETER,
    0x02000087: Rc.STORE_NOT_AVAILABLE,
}

_Output = Generator[tuple[list[BytesLike], bool], None, None]


@dataclass(frozen=True, kw_only=True)
class _Answer:
    """A handler's answer: a response code and parameters; data as bytes or streamed from a
    variable reply (``skip`` bytes dropped first, ``count`` bytes sent); events after it."""

    code: int = Rc.OK
    params: tuple[int, ...] = ()
    data: bytes | None = None
    stream: VariableReply | None = None
    skip: int = 0
    count: int | None = None
    events: tuple[Event, ...] = ()


def _error(code: int, *params: int) -> _Answer:
    return _Answer(code=code, params=params)


@dataclass
class _Node:
    entry: CardEntry
    handle: int
    parent: int  # 0 at the top of the card


class _Index:
    """The card's objects by handle and by path; a path keeps its handle for the session."""

    def __init__(self) -> None:
        self._handles: dict[str, int] = {}
        self.nodes: dict[int, _Node] = {}
        self.children: dict[int, list[int]] = collections.defaultdict(list)
        self._next = itertools.count(1)
        self.loaded = False

    def handle_for(self, path: str) -> int:
        handle = self._handles.get(path)
        if handle is None:
            handle = self._handles[path] = next(self._next)
        return handle

    def rebuild(self, root: str, entries: Iterator[CardEntry]) -> None:
        self.nodes.clear()
        self.children.clear()
        for entry in entries:
            self.add(root, entry)
        self.loaded = True

    def add(self, root: str, entry: CardEntry) -> _Node:
        folder = entry.folder
        parent = 0
        if folder and folder.rstrip("\\") != root.rstrip("\\"):
            known = self._handles.get(folder)
            if known is None or known not in self.nodes:
                # A folder the listing did not show first (a capture's new folder): made here.
                parent_node = self.add(
                    root, CardEntry(path=folder, size=0, time=0, attrs=0, is_dir=True)
                )
                known = parent_node.handle
            parent = known
        handle = self.handle_for(entry.path)
        if handle in self.nodes:
            old = self.nodes[handle]
            old.entry = entry
            return old
        node = self.nodes[handle] = _Node(entry=entry, handle=handle, parent=parent)
        self.children[parent].append(handle)
        return node

    def remove(self, handle: int) -> None:
        node = self.nodes.pop(handle, None)
        if node is None:
            return
        siblings = self.children.get(node.parent)
        if siblings and handle in siblings:
            siblings.remove(handle)
        for child in list(self.children.pop(handle, ())):
            self.remove(child)


class PowerShotTransport(Transport):
    """A PowerShot's native link behind PTP (see the module's docstring). ``link`` is opened by
    :meth:`open`; ``on_close`` runs after the link closes (a virtual camera made for it)."""

    kind = "canon-usb"
    vendor_hint = "canon"

    def __init__(
        self,
        link: CanonUsbLink,
        *,
        url: str | None = None,
        open_timeout_s: float = 20.0,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.link = link
        self._url = url or link.url
        self._open_timeout_s = open_timeout_s
        self._on_close = on_close
        self.powershot: PowerShot | None = None
        self._conn = Connection(Role.RESPONDER, UsbFraming())
        self._outbox: collections.deque[tuple[memoryview, bool]] = collections.deque()
        self._job: _Output | None = None
        self._pending: tuple[Request, bytearray] | None = None
        self._after: list[Event] = []
        self._timeout_s: float | None = None
        self._on_event: EventCallback | None = None
        self._cancel_done = False
        self._index = _Index()
        self._lock = threading.RLock()
        self._closed = False
        #: SendObjectInfo's object, until SendObject sends it; the upload under way.
        self._send_target: _SendTarget | None = None
        self._sending: _Sending | None = None
        self._write_timeout_s: float | None = None

    # -- Transport --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._url

    def framing(self) -> Framing:
        return UsbFraming()

    def open(self) -> None:
        try:
            self.link.open(self._open_timeout_s)
        except BaseException:
            self._closed = True
            self._run_on_close()
            raise
        self.powershot = PowerShot(self.link, timeout_s=self._open_timeout_s)

    def _camera(self) -> PowerShot:
        if self.powershot is None or self._closed:
            raise ClosedError(f"{self._url}: the link is closed")
        return self.powershot

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            job, self._job = self._job, None
        try:
            if job is not None:
                # Its rest is not read (the link closes); a job running in another thread
                # (the engine's read) ends with the link's error instead.
                with contextlib.suppress(ValueError):
                    job.close()
        finally:
            try:
                if self.powershot is not None:
                    self.powershot.close()
                else:
                    self.link.close()
            finally:
                self._run_on_close()

    def _run_on_close(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        data = b"".join(bytes(b) for b in buffers)
        with self._lock:
            self._camera()
            # An upload's blocks go to the camera as its data arrives, within this write's time.
            self._write_timeout_s = timeout_s
            self._conn.receive_data(data, transfer_ended=ends_transfer)
            while (event := self._conn.next_event()) is not NEED_DATA:
                self._handle(event)
        if progress is not None and data:
            progress(len(data))

    def _handle(self, event: object) -> None:
        if isinstance(event, Request):
            if event.code == Op.SEND_OBJECT:
                self._start_send_object(event)
                return
            if event.code in _DATA_OUT:
                self._pending = (event, bytearray())
                return
            self._job = self._respond(event, b"")
        elif isinstance(event, DataStart):
            return
        elif isinstance(event, Data) and self._sending is not None:
            self._sending.feed(event.chunk, self._write_timeout_s)
        elif isinstance(event, DataEnd) and self._sending is not None:
            sending, self._sending = self._sending, None
            self._job = self._respond_send_object(sending)
        elif isinstance(event, Data):
            if self._pending is not None:
                buffer = self._pending[1]
                if len(buffer) + len(event.chunk) <= MAX_PROPERTY_BYTES:
                    buffer += event.chunk
                else:
                    buffer.clear()
                    buffer += b"\x00" * (MAX_PROPERTY_BYTES + 1)  # marks "too long"
        elif isinstance(event, DataEnd):
            pending, self._pending = self._pending, None
            if pending is not None:
                self._job = self._respond(pending[0], bytes(pending[1]))
        else:
            raise LocalProtocolError(f"the PowerShot gateway did not expect {event!r}")

    def read_into(
        self, buffer: memoryview, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[int, bool]:
        with self._lock:
            self._camera()
            self._timeout_s = timeout_s
            filled = 0
            ended = False
            while filled < len(buffer) and not ended:
                # The camera is asked for more only while nothing is ready to hand over: a
                # failure of its next read never takes bytes already read with it.
                if not self._outbox and (filled or not self._advance()):
                    break
                view, boundary = self._outbox[0]
                step = min(len(view), len(buffer) - filled)
                buffer[filled : filled + step] = view[:step]
                filled += step
                if step == len(view):
                    self._outbox.popleft()
                    ended = boundary
                else:
                    self._outbox[0] = (view[step:], boundary)
            events, self._after = self._after, []
        if filled == 0:
            raise TransportTimeout(f"{self._url}: no answer is under way (nothing was asked)")
        for event in events:
            if self._on_event is not None:
                self._on_event(event)
        return filled, ended

    def _advance(self) -> bool:
        """Run the answer under way to its next output (the camera's I/O happens here)."""
        if self._job is None:
            return False
        try:
            buffers, boundary = next(self._job)
        except StopIteration:
            self._job = None
            return False
        except BaseException:
            self._job = None
            raise
        views = [memoryview(b).cast("B") for b in buffers if len(b)]
        for view in views[:-1]:
            self._outbox.append((view, False))
        if views:
            self._outbox.append((views[-1], boundary))
        return True

    def cancel(self, request: Sequence[BytesLike]) -> None:
        transaction_id = decode_cancel_request(b"".join(bytes(b) for b in request))
        with self._lock:
            log.debug("%s: transaction %d cancelled", self._url, transaction_id)
            job, self._job = self._job, None
            self._outbox.clear()
            self._pending = None
            self._sending = None  # an unfinished upload: the camera drops it (no time set)
            self._conn.finish_cancel()
            self._cancel_done = True
        if job is not None:
            # Closing the answer drops what the camera still sends of a file (the protocol
            # cannot stop a GetFile), so the next command finds the pipe quiet.
            job.close()

    def cancel_finished(self) -> bool:
        done, self._cancel_done = self._cancel_done, False
        return done

    def reset(self) -> None:
        with self._lock:
            job, self._job = self._job, None
            self._outbox.clear()
            self._pending = None
            self._sending = None
            self._send_target = None
            self._conn.reset()
        if job is not None:
            job.close()

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        self._on_event = on_event

    # -- answering ---------------------------------------------------------------------------------

    def _time_s(self) -> float | None:
        return self._timeout_s

    def _respond(self, request: Request, data: bytes) -> _Output:
        tid = request.transaction_id
        try:
            answer = self._answer(request, data)
        except CanonStatusError as exc:
            log.debug("%s: %s", self._url, exc)
            answer = _error(_STATUS_RC.get(exc.code, Rc.GENERAL_ERROR))
        except CaptureFailedError as exc:
            log.warning("%s", exc)
            answer = _error(Rc.GENERAL_ERROR)
        except (UsageError, LocalProtocolError) as exc:
            log.debug("%s: %s", self._url, exc)
            answer = _error(Rc.OPERATION_NOT_SUPPORTED)
        conn = self._conn
        params = answer.params
        if answer.stream is not None and answer.count is not None:
            # GetPartialObject answers how many bytes it sent (ISO 15740 §10.5.22).
            params = (min(answer.count, max(0, answer.stream.length - answer.skip)),)
        response = Response(code=answer.code, transaction_id=tid, params=params)
        if answer.stream is not None:
            yield from self._stream_data(tid, answer)
        elif answer.data is not None:
            header = conn.send(DataStart(transaction_id=tid, total_bytes=len(answer.data)))
            if answer.data:
                yield header + conn.send(Data(transaction_id=tid, chunk=answer.data)), True
            else:
                yield header, True
        out = conn.send(response)
        self._after.extend(answer.events)
        yield out, True

    def _stream_data(self, tid: int, answer: _Answer) -> _Output:
        reply = answer.stream
        assert reply is not None
        conn = self._conn
        available = max(0, reply.length - answer.skip)
        total = available if answer.count is None else min(answer.count, available)
        header = conn.send(DataStart(transaction_id=tid, total_bytes=total))
        chunks = reply.chunks
        try:
            if total == 0:
                yield header, True
                return
            skip = answer.skip
            left = total
            first = True
            while left > 0:
                reply.allow(self._time_s())
                chunk = next(chunks)
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk = chunk[dropped:]
                    skip -= dropped
                    if not chunk:
                        continue
                chunk = chunk[:left]
                left -= len(chunk)
                out = conn.send(Data(transaction_id=tid, chunk=chunk))
                if first:
                    out = header + out
                    first = False
                yield out, conn.phase is Phase.DATA_DONE or left == 0
        finally:
            # The rest of the camera's data (GetPartialObject's tail, a cancel) is read and
            # dropped here, so the link stays in step; not when the link is closing.
            if self._closed:
                chunks.abandon()
            else:
                reply.allow(self._time_s())
                chunks.close()

    def _answer(self, request: Request, data: bytes) -> _Answer:
        handler = _HANDLERS.get(request.code)
        if handler is None:
            return _error(Rc.OPERATION_NOT_SUPPORTED)
        if (
            request.code not in (Op.GET_DEVICE_INFO, Op.OPEN_SESSION)
            and self._conn.session_id is None
        ):
            return _error(Rc.SESSION_NOT_OPEN)
        return handler(self, request, data)

    # -- operations -------------------------------------------------------------------------------

    def _device_info(self) -> DeviceInfo:
        cam = self._camera()
        identity = cam.link.identity or cam.identify(timeout_s=self._time_s())
        operations = [
            Op.GET_DEVICE_INFO,
            Op.OPEN_SESSION,
            Op.CLOSE_SESSION,
            Op.GET_STORAGE_IDS,
            Op.GET_STORAGE_INFO,
            Op.GET_OBJECT_HANDLES,
            Op.GET_OBJECT_INFO,
            Op.GET_OBJECT,
            Op.GET_THUMB,
            Op.GET_PARTIAL_OBJECT,
            Op.GET_DEVICE_PROP_DESC,
            Op.GET_DEVICE_PROP_VALUE,
            Op.SET_DEVICE_PROP_VALUE,
        ]
        if cam.link.protocol_class != 3:  # class 3 cannot delete (canon.h CANON_CLASS_3)
            operations.append(Op.DELETE_OBJECT)
        # libgphoto2's upload format (the same blocks for every class; class 6 closes the file
        # with SetFileAttributes2).
        operations += [Op.SEND_OBJECT_INFO, Op.SEND_OBJECT]
        events: list[int] = []
        if cam.link.model.capture_capable:
            operations.append(Op.INITIATE_CAPTURE)
            events += [Ec.OBJECT_ADDED, Ec.CAPTURE_COMPLETE]
        return DeviceInfo(
            standard_version=100,
            vendor_extension_id=0,
            vendor_extension_desc="",
            operations_supported=tuple(sorted(operations)),
            events_supported=tuple(events),
            device_properties_supported=(Dpc.BATTERY_LEVEL, Dpc.DATE_TIME, OWNER_PROP),
            capture_formats=(EXIF_JPEG,) if cam.link.model.capture_capable else (),
            playback_formats=(EXIF_JPEG, 0x300A, 0x3008, 0x3000, ASSOCIATION),
            manufacturer="Canon Inc.",
            model=identity.model or cam.link.model.display_name,
            device_version=identity.firmware_text,
            serial_number="",
        )

    def _op_device_info(self, request: Request, data: bytes) -> _Answer:
        return _Answer(data=self._device_info().to_bytes())

    def _op_open_session(self, request: Request, data: bytes) -> _Answer:
        if not request.params or request.params[0] == 0:
            return _error(Rc.INVALID_PARAMETER)
        return _Answer()

    def _op_close_session(self, request: Request, data: bytes) -> _Answer:
        return _Answer()

    def _op_storage_ids(self, request: Request, data: bytes) -> _Answer:
        writer = Writer()
        writer.uint32_array((STORAGE_ID,))
        return _Answer(data=writer.getvalue())

    def _op_storage_info(self, request: Request, data: bytes) -> _Answer:
        if _param(request, 0) != STORAGE_ID:
            return _error(Rc.INVALID_STORAGE_ID)
        space = self._camera().disk_space(timeout_s=self._time_s())
        info = StorageInfo(
            storage_type=StorageType.REMOVABLE_RAM,
            filesystem_type=FilesystemType.GENERIC_HIERARCHICAL,
            access_capability=AccessCapability.READ_WRITE,
            max_capacity=space.capacity_bytes,
            free_space_bytes=space.free_bytes,
            description=space.drive,
            volume_label="",
        )
        return _Answer(data=info.to_bytes())

    def _load(self, *, again: bool = False) -> None:
        if self._index.loaded and not again:
            return
        cam = self._camera()
        root = cam.drive(timeout_s=self._time_s())
        self._index.rebuild(root, cam.walk(timeout_s=self._time_s()))

    def _op_object_handles(self, request: Request, data: bytes) -> _Answer:
        storage, fmt, parent = _param(request, 0), _param(request, 1), _param(request, 2)
        if storage not in (STORAGE_ID, _ALL):
            return _error(Rc.INVALID_STORAGE_ID)
        # A listing from the top (a walk's start) reads the card again; a folder's children
        # come from that reading.
        self._load(again=parent in (0, _TOP))
        index = self._index
        if parent == 0:
            handles = list(index.nodes)
        else:
            key = 0 if parent == _TOP else parent
            if key and (key not in index.nodes or not index.nodes[key].entry.is_dir):
                return _error(Rc.INVALID_PARENT_OBJECT)
            handles = list(index.children.get(key, ()))
        if fmt:
            handles = [h for h in handles if _format(index.nodes[h].entry) == fmt]
        writer = Writer()
        writer.uint32_array(tuple(handles))
        return _Answer(data=writer.getvalue())

    def _node(self, handle: int) -> _Node | None:
        self._load()
        return self._index.nodes.get(handle)

    def _op_object_info(self, request: Request, data: bytes) -> _Answer:
        node = self._node(_param(request, 0))
        if node is None:
            return _error(Rc.INVALID_OBJECT_HANDLE)
        return _Answer(data=_object_info(node).to_bytes())

    def _file_node(self, handle: int) -> _Node | _Answer:
        node = self._node(handle)
        if node is None:
            return _error(Rc.INVALID_OBJECT_HANDLE)
        if node.entry.is_dir:
            return _error(Rc.INVALID_OBJECT_HANDLE)
        return node

    def _op_object(self, request: Request, data: bytes) -> _Answer:
        node = self._file_node(_param(request, 0))
        if isinstance(node, _Answer):
            return node
        reply = self._open(node.entry)
        return _Answer(stream=reply)

    def _open(self, entry: CardEntry, *, thumbnail: bool = False) -> VariableReply:
        cam = self._camera()
        limit = None
        if not thumbnail:
            limit = max(entry.size, cam.link.model.max_picture_size, cam.link.model.max_movie_size)
        return cam.open_file(
            entry.path, thumbnail=thumbnail, timeout_s=self._time_s(), max_bytes=limit
        )

    def _op_partial_object(self, request: Request, data: bytes) -> _Answer:
        node = self._file_node(_param(request, 0))
        if isinstance(node, _Answer):
            return node
        offset, count = _param(request, 1), _param(request, 2)
        reply = self._open(node.entry)
        return _Answer(stream=reply, skip=offset, count=count)

    def _op_thumb(self, request: Request, data: bytes) -> _Answer:
        node = self._file_node(_param(request, 0))
        if isinstance(node, _Answer):
            return node
        if _format(node.entry) != EXIF_JPEG:
            return _error(Rc.NO_THUMBNAIL_PRESENT)
        try:
            thumb = self._camera().thumbnail(node.entry.path, timeout_s=self._time_s())
        except CanonStatusError:
            return _error(Rc.NO_THUMBNAIL_PRESENT)
        if thumb is None:
            return _error(Rc.NO_THUMBNAIL_PRESENT)
        return _Answer(data=thumb)

    def _op_delete(self, request: Request, data: bytes) -> _Answer:
        handle = _param(request, 0)
        if handle == _ALL:
            return _error(Rc.PARAMETER_NOT_SUPPORTED)  # "delete everything": refused
        node = self._node(handle)
        if node is None:
            return _error(Rc.INVALID_OBJECT_HANDLE)
        if not node.entry.is_dir and node.entry.write_protected:
            return _error(Rc.OBJECT_WRITE_PROTECTED)
        # A folder goes with everything in it (ISO 15740 DeleteObject): files first, then each
        # folder once empty; what the camera keeps (protected files) makes it partial.
        kept = self._delete_tree(node)
        return _error(Rc.PARTIAL_DELETION) if kept else _Answer()

    def _delete_tree(self, node: _Node) -> int:
        """Delete ``node`` and what is under it; returns how many objects stayed."""
        cam = self._camera()
        kept = 0
        if node.entry.is_dir:
            for child in list(self._index.children.get(node.handle, ())):
                kept += self._delete_tree(self._index.nodes[child])
            if kept:
                return kept + 1
            cam.rmdir(node.entry.path, timeout_s=self._time_s())
        elif node.entry.write_protected:
            return 1
        else:
            try:
                cam.delete(node.entry.path, timeout_s=self._time_s())
            except CanonStatusError as exc:
                if exc.code != 0x02000029:  # protected: kept, the rest goes on
                    raise
                return 1
        self._index.remove(node.handle)
        return 0

    def _op_capture(self, request: Request, data: bytes) -> _Answer:
        if _param(request, 0) not in (0, STORAGE_ID):
            return _error(Rc.INVALID_STORAGE_ID)
        cam = self._camera()
        self._load()
        result = cam.capture(timeout_s=self._time_s())
        node = self._index.add(cam.drive(), result.entry)
        return _Answer(
            events=(
                Event(code=Ec.OBJECT_ADDED, params=(node.handle,)),
                Event(code=Ec.CAPTURE_COMPLETE, transaction_id=request.transaction_id),
            )
        )

    # -- upload -----------------------------------------------------------------------------------

    def _op_send_object_info(self, request: Request, data: bytes) -> _Answer:
        storage, parent = _param(request, 0), _param(request, 1)
        if storage not in (0, STORAGE_ID):
            return _error(Rc.INVALID_STORAGE_ID)
        if len(data) > MAX_PROPERTY_BYTES:
            return _error(Rc.INVALID_DATASET)
        try:
            info = ObjectInfo.from_bytes(data)
        except DecodeError:
            return _error(Rc.INVALID_DATASET)
        cam = self._camera()
        if parent in (0, _TOP):
            folder = cam.drive(timeout_s=self._time_s())
            parent = 0
        else:
            node = self._node(parent)
            if node is None or not node.entry.is_dir:
                return _error(Rc.INVALID_PARENT_OBJECT)
            folder = node.entry.path
        name = info.filename
        if not name or "\\" in name or "/" in name or not name.isascii():
            return _error(Rc.INVALID_DATASET)
        if info.object_format == ASSOCIATION:
            # A folder: MakeDir now (a folder has no SendObject after it).
            cam.mkdir(canon_join(folder, name), timeout_s=self._time_s())
            self._load()
            node = self._index.add(
                cam.drive(),
                CardEntry(path=canon_join(folder, name), size=0, time=0, attrs=0, is_dir=True),
            )
            return _Answer(params=(STORAGE_ID, parent or _TOP, node.handle))
        modified = parse_ptp_datetime(info.modification_date or info.capture_date)
        self._send_target = _SendTarget(
            folder=folder,
            name=name,
            size=info.compressed_size,
            modified=_camera_local(modified) if modified is not None else None,
            parent=parent,
        )
        handle = self._index.handle_for(canon_join(folder, name))
        return _Answer(params=(STORAGE_ID, parent or _TOP, handle))

    def _start_send_object(self, request: Request) -> None:
        target, self._send_target = self._send_target, None
        self._sending = _Sending(request=request, target=target, camera=self._camera())

    def _respond_send_object(self, sending: _Sending) -> _Output:
        request = sending.request
        answer: _Answer
        if sending.refusal is not None:
            answer = _error(sending.refusal)
        else:
            try:
                entry = sending.finish(self._write_timeout_s)
                self._load()
                self._index.add(self._camera().drive(), entry)
                answer = _Answer()
            except CanonStatusError as exc:
                log.debug("%s: %s", self._url, exc)
                answer = _error(_STATUS_RC.get(exc.code, Rc.GENERAL_ERROR))
            except (UsageError, LocalProtocolError) as exc:
                log.debug("%s: %s", self._url, exc)
                answer = _error(Rc.INVALID_DATASET)
        response = Response(code=answer.code, transaction_id=request.transaction_id)
        yield self._conn.send(response), True

    # -- properties -------------------------------------------------------------------------------

    def _prop_value(self, code: int) -> tuple[DataType, Value] | None:
        cam = self._camera()
        t = self._time_s()
        if code == Dpc.BATTERY_LEVEL:
            power = cam.power_status(timeout_s=t)
            return DataType.UINT8, 100 if power.ok else 0
        if code == Dpc.DATE_TIME:
            return DataType.STR, format_datetime(cam.get_time(timeout_s=t))
        if code == OWNER_PROP:
            return DataType.STR, cam.get_owner(timeout_s=t)
        return None

    def _op_prop_desc(self, request: Request, data: bytes) -> _Answer:
        code = _param(request, 0)
        found = self._prop_value(code)
        if found is None:
            return _error(Rc.DEVICE_PROP_NOT_SUPPORTED)
        datatype, value = found
        if code == Dpc.BATTERY_LEVEL:
            desc = DevicePropDesc(
                code=code,
                datatype=datatype,
                get_set=GetSet.GET,
                factory_default=0,
                current=value,
                form=RangeForm(minimum=0, maximum=100, step=100),
            )
        else:
            desc = DevicePropDesc(
                code=code,
                datatype=datatype,
                get_set=GetSet.GET_SET,
                factory_default="",
                current=value,
            )
        return _Answer(data=desc.to_bytes())

    def _op_prop_value(self, request: Request, data: bytes) -> _Answer:
        found = self._prop_value(_param(request, 0))
        if found is None:
            return _error(Rc.DEVICE_PROP_NOT_SUPPORTED)
        datatype, value = found
        return _Answer(data=encode_value(datatype, value))

    def _op_set_prop(self, request: Request, data: bytes) -> _Answer:
        code = _param(request, 0)
        if code not in (Dpc.DATE_TIME, OWNER_PROP):
            if code == Dpc.BATTERY_LEVEL:
                return _error(Rc.ACCESS_DENIED)
            return _error(Rc.DEVICE_PROP_NOT_SUPPORTED)
        if len(data) > MAX_PROPERTY_BYTES:
            return _error(Rc.INVALID_DEVICE_PROP_VALUE)
        try:
            text = decode_value(data, DataType.STR)
        except DecodeError:
            return _error(Rc.INVALID_DEVICE_PROP_FORMAT)
        assert isinstance(text, str)
        cam = self._camera()
        if code == OWNER_PROP:
            try:
                cu.encode_owner(text)
            except LocalProtocolError:
                return _error(Rc.INVALID_DEVICE_PROP_VALUE)
            cam.set_owner(text, timeout_s=self._time_s())
            return _Answer()
        when = parse_ptp_datetime(text)
        if when is None:
            return _error(Rc.INVALID_DEVICE_PROP_VALUE)
        cam.set_time(_camera_local(when), timeout_s=self._time_s())
        return _Answer()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<PowerShotTransport {self._url} {state}>"


@dataclass(frozen=True)
class _SendTarget:
    folder: str
    name: str
    size: int
    modified: _dt.datetime | None
    parent: int


class _Sending:
    """SendObject's data on its way to the camera as upload blocks; a refusal (no
    SendObjectInfo first, the camera's error) still takes the rest of the data, then answers."""

    def __init__(self, *, request: Request, target: _SendTarget | None, camera: PowerShot) -> None:
        self.request = request
        self.target = target
        self.refusal: int | None = None if target is not None else Rc.NO_VALID_OBJECT_INFO
        self.upload: Upload | None = None
        if target is not None:
            try:
                self.upload = camera.start_upload(target.folder, target.name)
            except UsageError:
                self.refusal = Rc.OPERATION_NOT_SUPPORTED
        self.received = 0

    def feed(self, chunk: BytesLike, timeout_s: float | None) -> None:
        self.received += len(chunk)
        if self.refusal is not None or self.upload is None:
            return
        try:
            self.upload.send(bytes(chunk), timeout_s=timeout_s)
        except CanonStatusError as exc:
            log.debug("upload refused: %s", exc)
            self.refusal = _STATUS_RC.get(exc.code, Rc.GENERAL_ERROR)
        except BaseException:
            # The link failed (the engine hears of it from this write): nothing more goes out.
            self.refusal = Rc.GENERAL_ERROR
            raise

    def finish(self, timeout_s: float | None) -> CardEntry:
        assert self.upload is not None
        assert self.target is not None
        return self.upload.finish(self.target.modified, timeout_s=timeout_s)


def _camera_local(when: _dt.datetime) -> _dt.datetime:
    """A PTP date-time as the camera's wall clock: with a zone, converted to this computer's
    local time; without, taken as it is (PTP's DateTime is the device's local time)."""
    if when.tzinfo is not None:
        return when.astimezone().replace(tzinfo=None)
    return when


def _param(request: Request, index: int) -> int:
    return request.params[index] if index < len(request.params) else 0


def _format(entry: CardEntry) -> int:
    return ASSOCIATION if entry.is_dir else format_for_name(entry.name)


def _object_info(node: _Node) -> ObjectInfo:
    entry = node.entry
    fmt = _format(entry)
    when = entry.modified
    date = format_datetime(when) if when is not None else ""
    return ObjectInfo(
        storage_id=STORAGE_ID,
        object_format=fmt,
        protection_status=(
            ProtectionStatus.READ_ONLY if entry.write_protected else ProtectionStatus.NONE
        ),
        compressed_size=0 if entry.is_dir else entry.size,
        # A JPEG's thumbnail is its EXIF one (GetFile with the thumbnail flag); its size is
        # not known before it is read.
        thumb_format=0x3808 if fmt == EXIF_JPEG else 0,
        parent_object=node.parent,
        association_type=1 if entry.is_dir else 0,  # generic folder
        filename=entry.name,
        capture_date=date,
        modification_date=date,
    )


_Handler = Callable[[PowerShotTransport, Request, bytes], _Answer]
_HANDLERS: Final[dict[int, _Handler]] = {
    Op.GET_DEVICE_INFO: PowerShotTransport._op_device_info,
    Op.OPEN_SESSION: PowerShotTransport._op_open_session,
    Op.CLOSE_SESSION: PowerShotTransport._op_close_session,
    Op.GET_STORAGE_IDS: PowerShotTransport._op_storage_ids,
    Op.GET_STORAGE_INFO: PowerShotTransport._op_storage_info,
    Op.GET_OBJECT_HANDLES: PowerShotTransport._op_object_handles,
    Op.GET_OBJECT_INFO: PowerShotTransport._op_object_info,
    Op.GET_OBJECT: PowerShotTransport._op_object,
    Op.GET_THUMB: PowerShotTransport._op_thumb,
    Op.GET_PARTIAL_OBJECT: PowerShotTransport._op_partial_object,
    Op.DELETE_OBJECT: PowerShotTransport._op_delete,
    Op.INITIATE_CAPTURE: PowerShotTransport._op_capture,
    Op.GET_DEVICE_PROP_DESC: PowerShotTransport._op_prop_desc,
    Op.GET_DEVICE_PROP_VALUE: PowerShotTransport._op_prop_value,
    Op.SET_DEVICE_PROP_VALUE: PowerShotTransport._op_set_prop,
    Op.SEND_OBJECT_INFO: PowerShotTransport._op_send_object_info,
}
