"""A virtual camera's store, backed by a real folder.

Every file and folder under the root gets an object handle when the store is scanned; objects the
camera creates later (captures, uploads) get new handles. Generated objects (any size, no file)
live beside them. Symbolic links are never served, so a store cannot reach outside its folder.
Uploads are written to a hidden temporary file and renamed when complete: an interrupted upload
never leaves a partial file under its final name.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Final

from ptpkit.codes.formats import EXIF_JPEG, IMAGE_FORMATS, format_for_name
from ptpkit.core.datasets import (
    ASSOCIATION_GENERIC_FOLDER,
    FORMAT_ASSOCIATION,
    AccessCapability,
    FilesystemType,
    ObjectInfo,
    StorageInfo,
    StorageType,
)
from ptpkit.core.datatypes import format_datetime
from ptpkit.virtual.content import FileData, GeneratedData, ObjectData
from ptpkit.virtual.imaging import ImageMeta, image_meta, make_thumbnail

#: Prefix of the hidden files uploads are written to before they are complete.
UPLOAD_PREFIX: Final = ".ptpkit-upload-"

#: The card size a store reports unless told otherwise: a 64 GB SD card, counted in decimal
#: gigabytes as card makers do. A fixed figure, not the host's free disk space, so what the
#: camera reports (and anything computed from it) is the same on every machine and every run.
DEFAULT_CAPACITY_BYTES: Final = 64 * 10**9

FORMAT_EXIF_JPEG: Final = EXIF_JPEG


def unsafe_name_reason(name: str) -> str | None:
    """Why ``name`` cannot be created in a store, or None when it can.

    A name from a client must stay one path component inside the store: no separators, no
    ``.``/``..``, no NUL or control characters, nothing hidden under our upload prefix.
    """
    if not name or name in (".", ".."):
        return "empty or a dot name"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "contains a control character"
    if name.startswith(UPLOAD_PREFIX):
        return "uses the name of a temporary upload"
    if len(name.encode("utf-8", errors="surrogateescape")) > 255:
        return "is longer than 255 bytes"
    return None


@dataclass(eq=False)
class StoredObject:
    handle: int
    parent: int  # 0 at the root of the store
    name: str
    is_folder: bool
    #: Path relative to the store root; None for generated objects.
    relpath: PurePosixPath | None
    generated: GeneratedData | None = None
    protected: bool = False
    #: SendObjectInfo made it; SendObject has not filled it yet (not listed until then).
    pending: bool = False
    declared_size: int = 0
    declared_format: int = 0x3000  # Undefined
    created: _dt.datetime = field(default_factory=_dt.datetime.now)


class HandleAllocator:
    """Object handles unique across a camera's stores: 1, 2, 3... (0, 0xFFFFFFFF are special)."""

    def __init__(self) -> None:
        self._next = 1

    def allocate(self) -> int:
        handle = self._next
        self._next += 1
        if self._next >= 0xFFFFFFFF:
            raise RuntimeError("object handles exhausted")
        return handle


class Store:
    """One store: a folder on disk plus generated objects."""

    def __init__(
        self,
        storage_id: int,
        root: Path,
        handles: HandleAllocator,
        *,
        description: str = "Virtual SD card",
        volume_label: str = "PTPKIT",
        read_only: bool = False,
        erasable: bool = False,
        capacity_bytes: int = DEFAULT_CAPACITY_BYTES,
    ) -> None:
        if capacity_bytes < 0:
            raise ValueError(f"a card's capacity cannot be negative: {capacity_bytes}")
        self.storage_id = storage_id
        #: The MaxCapacity this store reports; its free space is this less what its objects use.
        self.capacity_bytes = capacity_bytes
        self.root = root.resolve()
        self.description = description
        self.volume_label = volume_label
        self.read_only = read_only
        #: FormatStore is allowed (only on a temporary card: never erase a user's folder).
        self.erasable = erasable
        self._handles = handles
        self.objects: dict[int, StoredObject] = {}
        self._meta_cache: dict[tuple[int, float, int], ImageMeta | None] = {}
        self._thumb_cache: dict[tuple[int, float, int], bytes | None] = {}
        self.scan()

    # -- the object table ------------------------------------------------------------------------

    def scan(self) -> None:
        """(Re)build the object table from the folder; handles of known paths are kept."""
        known: dict[PurePosixPath | None, StoredObject] = {
            obj.relpath: obj for obj in self.objects.values() if obj.relpath is not None
        }
        keep = {h: o for h, o in self.objects.items() if o.relpath is None or o.pending}
        self.objects = keep
        self._scan_folder(self.root, PurePosixPath(), 0, known)

    def _scan_folder(
        self,
        folder: Path,
        relfolder: PurePosixPath,
        parent: int,
        known: dict[PurePosixPath | None, StoredObject],
    ) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(UPLOAD_PREFIX) or entry.is_symlink():
                continue
            relpath = relfolder / entry.name
            is_folder = entry.is_dir(follow_symlinks=False)
            if not is_folder and not entry.is_file(follow_symlinks=False):
                continue  # sockets, devices, fifos: not camera objects
            obj = known.get(relpath)
            if obj is None or obj.is_folder != is_folder:
                obj = StoredObject(
                    handle=self._handles.allocate(),
                    parent=parent,
                    name=entry.name,
                    is_folder=is_folder,
                    relpath=relpath,
                )
            obj.parent = parent
            obj.protected = not os.access(entry.path, os.W_OK)
            self.objects[obj.handle] = obj
            if is_folder:
                self._scan_folder(Path(entry.path), relpath, obj.handle, known)

    def listed(self) -> Iterator[StoredObject]:
        return (obj for obj in self.objects.values() if not obj.pending)

    def children(self, parent: int) -> Iterator[StoredObject]:
        return (obj for obj in self.listed() if obj.parent == parent)

    def descendants(self, handle: int) -> list[StoredObject]:
        out: list[StoredObject] = []
        stack = [handle]
        while stack:
            current = stack.pop()
            for child in self.children(current):
                out.append(child)
                if child.is_folder:
                    stack.append(child.handle)
        return out

    def path_of(self, obj: StoredObject) -> Path:
        assert obj.relpath is not None
        # Joining a str is much cheaper than joining path parts, and relpath is already safe.
        return self.root / str(obj.relpath)

    def folder_path(self, handle: int) -> Path:
        """The folder a new object under ``handle`` goes in (0: the store root)."""
        if handle == 0:
            return self.root
        return self.path_of(self.objects[handle])

    def find(self, relpath: str) -> StoredObject | None:
        wanted = PurePosixPath(relpath)
        return next((o for o in self.listed() if o.relpath == wanted), None)

    # -- datasets --------------------------------------------------------------------------------

    def used_bytes(self) -> int:
        """What the card's objects take: files (as they are now on disk), generated objects and
        uploads that have announced their size. A file that vanished counts as nothing."""
        used = 0
        for obj in self.objects.values():
            if obj.is_folder:
                continue
            if obj.generated is not None:
                used += obj.generated.size
            elif obj.pending:
                used += obj.declared_size
            else:
                with contextlib.suppress(OSError):
                    used += self.path_of(obj).stat().st_size
        return used

    def storage_info(self) -> StorageInfo:
        # The card's own size, not the host's disk: a deterministic figure (see
        # DEFAULT_CAPACITY_BYTES). Free space never goes below zero, however full the card.
        free = max(0, self.capacity_bytes - self.used_bytes())
        return StorageInfo(
            storage_type=StorageType.REMOVABLE_RAM,
            filesystem_type=FilesystemType.GENERIC_HIERARCHICAL,
            access_capability=(
                AccessCapability.READ_ONLY_WITHOUT_DELETION
                if self.read_only
                else AccessCapability.READ_WRITE
            ),
            max_capacity=min(self.capacity_bytes, 0xFFFFFFFFFFFFFFFF),
            free_space_bytes=min(free, 0xFFFFFFFFFFFFFFFF),
            # Roughly how many more 8 MB pictures fit, as cameras report it.
            free_space_images=min(free // 8_000_000, 0xFFFFFFFE),
            description=self.description,
            volume_label=self.volume_label,
        )

    def size_of(self, obj: StoredObject) -> int:
        if obj.is_folder:
            return 0
        if obj.generated is not None:
            return obj.generated.size
        return self.path_of(obj).stat().st_size

    def format_of(self, obj: StoredObject) -> int:
        if obj.is_folder:
            return FORMAT_ASSOCIATION
        if obj.generated is not None or obj.pending:
            return obj.declared_format
        return format_for_name(obj.name)

    def wire_name(self, obj: StoredObject) -> str:
        return _wire_name(obj.name)

    def dates(self, obj: StoredObject) -> tuple[str, str]:
        """(capture date, modification date) as PTP strings: EXIF's DateTimeOriginal for
        pictures, else the file's modification time."""
        if obj.relpath is None:
            stamp = format_datetime(obj.created.replace(microsecond=0))
            return stamp, stamp
        stat = self.path_of(obj).stat()
        modified = _dt.datetime.fromtimestamp(stat.st_mtime).replace(microsecond=0)
        taken = modified
        if not obj.is_folder and self.format_of(obj) in IMAGE_FORMATS:
            meta = self._image_meta(obj, stat)
            if meta is not None and meta.taken is not None:
                taken = meta.taken
        return format_datetime(taken), format_datetime(modified)

    def object_info(self, obj: StoredObject) -> ObjectInfo:
        captured, modified = self.dates(obj)
        base = ObjectInfo(
            storage_id=self.storage_id,
            object_format=self.format_of(obj),
            protection_status=int(obj.protected),
            parent_object=obj.parent,
            filename=self.wire_name(obj),
            capture_date=captured,
            modification_date=modified,
        )
        if obj.is_folder:
            return replace(base, association_type=ASSOCIATION_GENERIC_FOLDER)
        meta = self.image_meta(obj) if obj.relpath and base.object_format in IMAGE_FORMATS else None
        thumb = self.thumbnail(obj) if meta is not None else None
        return replace(
            base,
            compressed_size=min(self.size_of(obj), 0xFFFFFFFF),
            thumb_format=FORMAT_EXIF_JPEG if thumb else 0,
            thumb_compressed_size=len(thumb) if thumb else 0,
            thumb_pix_width=_thumb_dim(meta, 0) if thumb else 0,
            thumb_pix_height=_thumb_dim(meta, 1) if thumb else 0,
            image_pix_width=meta.width if meta else 0,
            image_pix_height=meta.height if meta else 0,
            image_bit_depth=meta.bit_depth if meta else 0,
        )

    def _cache_key(
        self, obj: StoredObject, stat: os.stat_result | None = None
    ) -> tuple[int, float, int]:
        stat = stat or self.path_of(obj).stat()
        return (obj.handle, stat.st_mtime, stat.st_size)

    def image_meta(self, obj: StoredObject) -> ImageMeta | None:
        return self._image_meta(obj, None)

    def _image_meta(self, obj: StoredObject, stat: os.stat_result | None) -> ImageMeta | None:
        key = self._cache_key(obj, stat)
        if key not in self._meta_cache:
            self._meta_cache[key] = image_meta(self.path_of(obj))
        return self._meta_cache[key]

    def thumbnail(self, obj: StoredObject) -> bytes | None:
        if obj.is_folder or obj.relpath is None:
            return None
        if format_for_name(obj.name) not in IMAGE_FORMATS:
            return None
        key = self._cache_key(obj)
        if key not in self._thumb_cache:
            self._thumb_cache[key] = make_thumbnail(self.path_of(obj))
        return self._thumb_cache[key]

    def open_data(self, obj: StoredObject) -> ObjectData:
        if obj.generated is not None:
            return obj.generated
        return FileData(self.path_of(obj))

    # -- changes ---------------------------------------------------------------------------------

    def add_file(self, relpath: str) -> StoredObject:
        """Register a file the camera itself wrote under the root (a capture)."""
        rel = PurePosixPath(relpath)
        parent = 0
        for depth in range(1, len(rel.parts)):
            folder = PurePosixPath(*rel.parts[:depth])
            existing = self.find(str(folder))
            if existing is None:
                existing = StoredObject(
                    handle=self._handles.allocate(),
                    parent=parent,
                    name=folder.name,
                    is_folder=True,
                    relpath=folder,
                )
                self.objects[existing.handle] = existing
            parent = existing.handle
        obj = StoredObject(
            handle=self._handles.allocate(),
            parent=parent,
            name=rel.name,
            is_folder=False,
            relpath=rel,
        )
        self.objects[obj.handle] = obj
        return obj

    def add_generated(
        self,
        name: str,
        size: int,
        *,
        seed: int = 0,
        parent: int = 0,
        object_format: int | None = None,
    ) -> StoredObject:
        obj = StoredObject(
            handle=self._handles.allocate(),
            parent=parent,
            name=name,
            is_folder=False,
            relpath=None,
            generated=GeneratedData(size, seed),
            declared_format=format_for_name(name) if object_format is None else object_format,
        )
        self.objects[obj.handle] = obj
        return obj

    def reserve(self, parent: int, info: ObjectInfo) -> StoredObject:
        """SendObjectInfo: a folder is made at once; a file waits for SendObject's data."""
        folder = self.folder_path(parent)
        if info.object_format == FORMAT_ASSOCIATION:
            (folder / info.filename).mkdir()
            relpath = self._relpath(parent, info.filename)
            obj = StoredObject(
                handle=self._handles.allocate(),
                parent=parent,
                name=info.filename,
                is_folder=True,
                relpath=relpath,
            )
        else:
            obj = StoredObject(
                handle=self._handles.allocate(),
                parent=parent,
                name=info.filename,
                is_folder=False,
                relpath=self._relpath(parent, info.filename),
                pending=True,
                declared_size=info.compressed_size,
                declared_format=info.object_format,
            )
        self.objects[obj.handle] = obj
        return obj

    def _relpath(self, parent: int, name: str) -> PurePosixPath:
        if parent == 0:
            return PurePosixPath(name)
        base = self.objects[parent].relpath
        assert base is not None
        return base / name

    def upload_file(self, obj: StoredObject) -> tuple[Path, BinaryIO]:
        """The hidden file SendObject's data goes to, opened for writing."""
        temp = self.path_of(obj).with_name(f"{UPLOAD_PREFIX}{obj.handle}")
        return temp, temp.open("wb")

    def commit_upload(self, obj: StoredObject, temp: Path) -> None:
        final = self.path_of(obj)
        if final.exists():
            temp.unlink(missing_ok=True)
            raise FileExistsError(final.name)
        os.replace(temp, final)
        obj.pending = False

    def delete(self, obj: StoredObject) -> None:
        """Delete an object; a folder goes with everything in it (ISO 15740 §10.5.10)."""
        for child in self.descendants(obj.handle) if obj.is_folder else []:
            self.objects.pop(child.handle, None)
        if obj.relpath is not None:
            path = self.path_of(obj)
            if obj.is_folder:
                shutil.rmtree(path)
            else:
                path.unlink()
        self.objects.pop(obj.handle, None)

    def erase(self) -> None:
        """FormatStore: remove everything (callers check ``erasable`` first)."""
        for entry in os.scandir(self.root):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        self.objects.clear()


def _wire_name(name: str) -> str:
    """A name that fits a PTP string (254 UTF-16 units at most)."""
    encoded = name.encode("utf-16-le", errors="surrogatepass")
    if len(encoded) <= 254 * 2:
        return name
    return encoded[: 254 * 2].decode("utf-16-le", errors="ignore")


def _thumb_dim(meta: ImageMeta | None, axis: int) -> int:
    if meta is None:
        return 0
    scale = min(160 / meta.width, 120 / meta.height, 1.0)
    return max(1, round((meta.width, meta.height)[axis] * scale))
