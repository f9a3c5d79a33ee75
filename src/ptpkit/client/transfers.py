"""Moving objects between the camera and the computer: downloads (to a partial file of ours,
renamed when complete, resumed where the camera allows), reads of a range, thumbnails, uploads,
new folders and deletion.

Reads ask the camera's extensions first, in order (:meth:`Extension.read_object`: a vendor's
64-bit operation, MTP's GetPartialObject64 past 4 GiB), else GetObject / GetPartialObject. An
object a capture left in the camera's memory is reported to the extensions once downloaded
(:meth:`Extension.after_download`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Final, Protocol, TypeVar

from ptpkit.client import operations as ops
from ptpkit.client.files import Entry, storage_folder, writing
from ptpkit.client.objects import RESERVED_HANDLES
from ptpkit.client.operations import ROOT
from ptpkit.client.streams import (
    BytesSink,
    DataSink,
    DataSource,
    FileSink,
    FileSource,
    ProgressCallback,
    WindowSink,
    file_size,
)
from ptpkit.codes.common import Op
from ptpkit.codes.formats import ASSOCIATION, format_for_name
from ptpkit.core.datasets import SIZE_UNKNOWN_32, DeviceInfo, ObjectInfo
from ptpkit.core.datatypes import format_datetime
from ptpkit.core.events import Response
from ptpkit.errors import (
    DecodeError,
    RemoteProtocolError,
    ResponseError,
    SessionError,
    UsageError,
)
from ptpkit.ext.base import Extension

log = logging.getLogger("ptpkit")

_T = TypeVar("_T")

#: How much of a ``.part`` file's end is compared with the camera before resuming it: one small
#: GetPartialObject, against completing the wrong file.
RESUME_CHECK_BYTES: Final = 64 * 1024

#: The largest read GetPartialObject can ask for in one transaction (a uint32 length).
_MAX_PARTIAL: Final = 0xFFFFFFFF


class _Camera(Protocol):
    """What the transfer service uses of its camera (declared here: camera.py imports this)."""

    extensions: list[Extension]

    @property
    def device_info(self) -> DeviceInfo: ...

    def _run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data_out: DataSource | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
        check: bool = True,
    ) -> Response: ...

    def _call(self, operation: ops.Operation[_T]) -> _T: ...

    def supports(self, operation: int | str) -> bool: ...

    def storage_ids(self) -> tuple[int, ...]: ...

    def entry(self, handle: int) -> Entry: ...

    def _as_entry(self, target: Entry | int | str) -> Entry: ...

    def _read_range(self, handle: int, offset: int, length: int, sink: DataSink) -> None: ...

    def _downloaded(self, entry: Entry) -> None: ...

    def describe_now(self, entry: Entry) -> Entry: ...


class Transfers:
    """The transfer service of one camera."""

    def __init__(self, camera: _Camera) -> None:
        self.camera = camera

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
        path, or a binary file object.

        A download to a path is written to a partial file of ours (``NAME.ptpkit-part``, marked
        as this object's download: see :func:`~ptpkit.client.files.open_part`) and renamed when
        complete and checked (:func:`~ptpkit.client.files.publish`), so an incomplete file never
        stands under the final name and a file ptpkit did not make is never touched. A partial
        file of the same object left by an earlier attempt is resumed with GetPartialObject
        where the camera has it. Returns the final path (None for a file object). An existing
        file (or a link) is an error unless ``overwrite``, also one that appears while the
        download runs. Nothing past the object's declared size is written: a camera that sends
        more gets :class:`RemoteProtocolError`.

        ``keep_time``: the file gets the object's modification time (else its capture time) as
        its modification and access time, as gphoto2 does.
        """
        # One of several pictures handed out in turn at one handle (Sony 0xFFFFC001) is
        # described just before it is read: its name and size are known only now.
        entry = self.camera.describe_now(self.camera._as_entry(target))
        if entry.is_folder:
            raise UsageError(f"{entry.path} is a folder; download the files in it")
        if hasattr(dest, "write"):
            sink = FileSink(
                dest,  # type: ignore[arg-type]
                progress=progress,
                total_bytes=entry.size,
                limit=size_limit(entry, 0),
            )
            self._read_object(entry, 0, sink)
            self.camera._downloaded(entry)
            return None
        final = download_path(entry, dest)
        with writing(
            final,
            overwrite=overwrite,
            fsync=fsync,
            resumable=True,
            owner=self.part_owner(entry),
            mtime=object_time(entry) if keep_time else None,
        ) as file:
            self._fill_part(entry, file, final, resume=resume, progress=progress)
        self.camera._downloaded(entry)
        return final

    def part_owner(self, entry: Entry) -> str:
        return part_owner(self.camera.device_info, entry)

    def _fill_part(
        self,
        entry: Entry,
        file: BinaryIO,
        final: Path,
        *,
        resume: bool,
        progress: ProgressCallback | None,
    ) -> None:
        """Write ``entry`` into its open, locked partial file, resuming what is there if it can."""
        have = os.fstat(file.fileno()).st_size
        offset = 0
        if have and resume and self._can_resume(entry, have):
            if self._resume_check(entry, file, have):
                offset = have
                log.info("resuming %s at byte %d of %d", entry.path, offset, entry.size)
            else:
                log.warning(
                    "%s: the partial file of %s holds other bytes; starting over",
                    entry.path,
                    final,
                )
        if offset < have:
            # Only when there is something to cut: ext4 treats any truncate to 0 as a file
            # being replaced and flushes it when closed (auto_da_alloc), ~0.3 s per GiB.
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
            self._read_object(entry, offset, sink)
        except ResponseError as exc:
            # A camera that lists GetPartialObject and refuses it (the session still open): the
            # object whole, else the partial file kept would make every attempt fail alike.
            if not offset or sink.started or isinstance(exc, SessionError):
                raise
            log.warning("%s: the camera refused to resume (%s); starting over", entry.path, exc)
            file.truncate(0)
            file.seek(0)
            sink = FileSink(
                file, progress=progress, total_bytes=entry.size, limit=size_limit(entry, 0)
            )
            self._read_object(entry, 0, sink)
        size = file.tell()
        if entry.size not in (SIZE_UNKNOWN_32, size):
            kept = "; the partial file stays for a resume" if size else ""
            raise RemoteProtocolError(f"{entry.path}: got {size} of {entry.size} bytes{kept}")

    def _can_resume(self, entry: Entry, have: int) -> bool:
        # An unknown size (0xFFFFFFFF: a PTP object past 4 GiB) gives no end to read up to: a
        # resume would stop at byte 0xFFFFFFFF and publish the object cut there.
        if entry.size == SIZE_UNKNOWN_32 or not 0 < have < entry.size:
            return False
        if not all(extension.partial_reads for extension in self.camera.extensions):
            return False  # GetPartialObject not to be trusted (Fujifilm: libgphoto2#653)
        return (have <= _MAX_PARTIAL and self.camera.supports(Op.GET_PARTIAL_OBJECT)) or any(
            extension.reads_from(have) for extension in self.camera.extensions
        )

    def _resume_check(self, entry: Entry, part: BinaryIO, have: int) -> bool:
        """:meth:`_part_matches`, False where the camera refuses the partial read it needs."""
        try:
            return self._part_matches(entry, part, have)
        except ResponseError as exc:
            if isinstance(exc, SessionError):
                raise
            log.warning("%s: the camera refused a partial read (%s)", entry.path, exc)
            return False

    def _part_matches(self, entry: Entry, part: BinaryIO, have: int) -> bool:
        """Whether the end of a ``.part`` file is what the camera holds there. A ``.part`` left by
        another object of the same name (a card renumbered, another camera) would otherwise be
        completed into a file of the right size and the wrong content."""
        length = min(have, RESUME_CHECK_BYTES)
        part.seek(have - length)
        ours = part.read(length)
        return self.read(entry, have - length, length) == ours

    def _extension_read(self, handle: int, offset: int, length: int, sink: DataSink) -> bool:
        """Whether an extension read the range its way (64-bit operations), asked in order."""
        return any(
            extension.read_object(handle, offset, length, sink)
            for extension in self.camera.extensions
        )

    def _read_object(self, entry: Entry, offset: int, sink: FileSink | BytesSink) -> None:
        if entry.size != SIZE_UNKNOWN_32 and self._extension_read(
            entry.handle, offset, entry.size - offset, sink
        ):
            return
        if offset == 0:
            self.camera._run(Op.GET_OBJECT, (entry.handle,), sink=sink)
            return
        self.camera._read_range(entry.handle, offset, entry.size - offset, sink)

    def read_range(self, handle: int, offset: int, length: int, sink: DataSink) -> None:
        """``length`` bytes from ``offset`` with GetPartialObject, in as few transactions as the
        32-bit length field allows; what its 32-bit offset cannot reach (past 4 GiB) is asked of
        the extensions (MTP: Android's GetPartialObject64)."""
        end = offset + length
        while offset < end:
            step = min(end - offset, _MAX_PARTIAL)
            if offset <= _MAX_PARTIAL and self.camera.supports(Op.GET_PARTIAL_OBJECT):
                response = self.camera._run(
                    Op.GET_PARTIAL_OBJECT, (handle, offset, step), sink=sink
                )
            elif self._extension_read(handle, offset, end - offset, sink):
                return
            else:
                raise UsageError("the camera cannot read part of an object (no GetPartialObject)")
            sent = response.params[0] if response.params else step
            if sent == 0:
                raise RemoteProtocolError(f"the camera sent no bytes at offset {offset}")
            if sent > step:
                # The sink stopped the data at the asked length; the count must agree.
                raise RemoteProtocolError(
                    f"the camera says it sent {sent} bytes at offset {offset}; {step} were asked"
                )
            offset += sent

    def read(self, target: Entry | int | str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes of an object, all of it or a range, in memory (use download() for big files)."""
        entry = self.camera.describe_now(self.camera._as_entry(target))
        if length is None and entry.size == SIZE_UNKNOWN_32:
            # The size unknown (past 4 GiB, and no 64-bit size to ask: a Fujifilm): up to the end
            # of the object's data, not up to byte 0xFFFFFFFF (nothing at all from past it).
            window = WindowSink(offset, _UNBOUNDED)
            self.camera._run(Op.GET_OBJECT, (entry.handle,), sink=window)
            return window.getvalue()
        if length is None:
            length = max(0, entry.size - offset)
        elif entry.size != SIZE_UNKNOWN_32:
            # A range reaching past the end reads what is there, as a file read does; asking the
            # camera for bytes past the end would end in a transaction that sends none.
            length = max(0, min(length, entry.size - offset))
        sink = BytesSink(limit=max(length, 1))
        if length and self._extension_read(entry.handle, offset, length, sink):
            pass
        elif offset == 0 and length >= entry.size:
            self.camera._run(Op.GET_OBJECT, (entry.handle,), sink=sink)
        elif length and not all(ext.partial_reads for ext in self.camera.extensions):
            # GetPartialObject not to be trusted (Fujifilm: libgphoto2#653): the whole object
            # read, the range of it kept.
            window = WindowSink(offset, length)
            self.camera._run(Op.GET_OBJECT, (entry.handle,), sink=window)
            return window.getvalue()
        elif length:
            self.camera._read_range(entry.handle, offset, length, sink)
        return sink.getvalue()

    def thumbnail(self, target: Entry | int | str) -> bytes:
        """The object's thumbnail (usually a small JPEG)."""
        entry = self.camera._as_entry(target)
        return self.camera._call(ops.get_thumb(entry.handle))

    # -- changing objects ------------------------------------------------------------------------

    def _folder_handle(self, folder: Entry | int | str | None) -> tuple[int | None, int]:
        """(storage of the folder or None, parent handle for SendObjectInfo)."""
        if folder is None:
            return None, ROOT
        entry = self.camera._as_entry(folder)
        if not entry.is_folder:
            raise UsageError(f"{entry.path} is not a folder")
        return entry.storage_id, entry.handle

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
        folder_storage, parent = self._folder_handle(folder)
        if hasattr(source, "read"):
            file: BinaryIO = source  # type: ignore[assignment]
            if name is None:
                raise UsageError("uploading from a file object needs name=")
            return self._upload_file(
                file,
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
            return self._upload_file(
                file,
                name=name or path.name,
                storage_id=folder_storage or storage_id,
                parent=parent,
                object_format=object_format,
                progress=progress,
                modified=path.stat().st_mtime,
            )

    def _upload_file(
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
        storage = storage_id if storage_id is not None else self.camera.storage_ids()[0]
        info = upload_info(
            name,
            size,
            storage=storage,
            parent=parent,
            object_format=object_format,
            modified=modified,
        )
        handle = self.camera._call(ops.send_object_info(storage, parent, info))
        self.camera._run(Op.SEND_OBJECT, data_out=FileSource(file, size, progress=progress))
        try:
            return self.camera.entry(handle)
        except (ResponseError, DecodeError, RemoteProtocolError) as exc:
            # The upload is done; some devices learn the new handle a moment later (QEMU's
            # usb-mtp registers new files through inotify), or describe it badly. Describe the
            # object from what we sent rather than fail a successful upload.
            log.debug("new object 0x%08X not described yet (%s)", handle, exc)
            prefix, path_storage = "/" + storage_folder(storage), storage
            if parent != ROOT:
                with contextlib.suppress(ResponseError, DecodeError, RemoteProtocolError):
                    # The path rule of walk(): the folder's storage, whatever was asked.
                    folder_entry = self.camera.entry(parent)
                    prefix, path_storage = folder_entry.path, folder_entry.storage_id
            return Entry(
                handle=handle,
                storage_id=path_storage,
                parent=info.parent_object,
                name=name,
                path=f"{prefix}/{name}",
                size=size,
                is_folder=False,
                object_format=info.object_format,
                modified=info.modification_datetime,
                info=info,
            )

    def make_folder(
        self, name: str, *, folder: Entry | int | str | None = None, storage_id: int | None = None
    ) -> Entry:
        """Create a folder (SendObjectInfo of an Association, no data)."""
        folder_storage, parent = self._folder_handle(folder)
        storage = folder_storage or storage_id or self.camera.storage_ids()[0]
        info = folder_info(name, storage, parent)
        return self.camera.entry(self.camera._call(ops.send_object_info(storage, parent, info)))

    def delete(self, target: Entry | int | str) -> None:
        """Delete an object; a folder goes with everything in it."""
        entry = self.camera._as_entry(target)
        if entry.handle in RESERVED_HANDLES:
            # DeleteObject(0xFFFFFFFF) deletes every object (ISO 15740, DeleteObject).
            raise UsageError(f"0x{entry.handle:08X} is a reserved handle, not one object")
        self.camera._call(ops.delete_object(entry.handle))


def part_owner(device: DeviceInfo, entry: Entry) -> str:
    """What a partial file is the download of: the camera, and the object by its path, size
    and times (handles change between sessions; a card that restarted its numbering gives a
    new picture the old one's path but rarely its size and time too)."""
    return "\n".join(
        [
            device.manufacturer,
            device.model,
            device.serial_number,
            entry.path,
            str(entry.size),
            str(entry.modified or entry.captured or ""),
        ]
    )


def download_path(entry: Entry, dest: str | os.PathLike[str]) -> Path:
    """Where a download of ``entry`` to ``dest`` goes: inside ``dest`` under the object's safe
    name when ``dest`` is a folder (made when it ends with a slash), else ``dest`` itself."""
    dest_path = Path(dest)
    # "photos/" names a folder even before it exists (Path() drops the trailing slash, and
    # the object would otherwise be written to a file called "photos").
    if not dest_path.is_dir() and os.fspath(dest).endswith(("/", os.sep)):
        dest_path.mkdir(parents=True, exist_ok=True)
    return dest_path / entry.local_name if dest_path.is_dir() else dest_path


def upload_info(
    name: str,
    size: int,
    *,
    storage: int,
    parent: int,
    object_format: int | None,
    modified: float | None,
) -> ObjectInfo:
    """The ObjectInfo SendObjectInfo announces for an upload of ``size`` bytes named ``name``
    into ``parent`` (ROOT: the top) of ``storage``; ``modified``: the file's time (seconds
    since the epoch; None: now)."""
    when = _dt.datetime.fromtimestamp(modified) if modified is not None else _dt.datetime.now()
    stamp = format_datetime(when.replace(microsecond=0))
    return ObjectInfo(
        storage_id=storage,
        object_format=object_format if object_format is not None else format_for_name(name),
        compressed_size=min(size, SIZE_UNKNOWN_32),
        parent_object=0 if parent == ROOT else parent,
        filename=name,
        capture_date=stamp,
        modification_date=stamp,
    )


def folder_info(name: str, storage: int, parent: int) -> ObjectInfo:
    """The ObjectInfo of a new folder (an Association, no data) named ``name`` in ``parent``."""
    return ObjectInfo(
        storage_id=storage,
        object_format=ASSOCIATION,
        association_type=1,
        parent_object=0 if parent == ROOT else parent,
        filename=name,
    )


#: A window with no end (a read to the end of an object whose size is unknown).
_UNBOUNDED: Final = 2**64


def size_limit(entry: Entry, offset: int) -> int | None:
    """The most bytes a read of ``entry`` from ``offset`` may bring: what is left of its
    declared size (None when the camera does not know the size)."""
    if entry.size == SIZE_UNKNOWN_32:
        return None
    return max(0, entry.size - offset)


def object_time(entry: Entry) -> float | None:
    """The time a downloaded copy of ``entry`` gets, in seconds since the epoch: its
    modification date, as gphoto2 gives a saved file (libgphoto2 camlibs/ptp2/library.c takes
    the file's mtime from ObjectInfo's ModificationDate; ptpcam sets it with utime), else its
    capture date (our fallback: some cameras leave ModificationDate empty). PTP dates carry no
    zone unless the camera adds one (ISO 15740 §5.5.5 DateTime string): a date without one is
    local time, as libgphoto2's ptp_unpack_PTPTIME reads it (ptp-pack.c, mktime)."""
    when = entry.modified or entry.captured
    if when is None:
        return None
    try:
        return when.timestamp()  # naive: local time
    except (OverflowError, OSError, ValueError):
        return None
