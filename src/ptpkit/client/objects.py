"""The camera's objects as entries with paths: listing (walk, one folder, find), one object's
entry, and sizes.

Listing asks the camera's extensions first, in order (issue 12): a whole-card index
(:meth:`Extension.index_objects`, MTP GetObjPropList: one transaction) unless an earlier
extension lists folders its own way; else folder by folder, each folder from the first extension
that lists it (:meth:`Extension.list_folder`, Canon EOS GetObjectInfoEx), else GetObjectHandles
and GetObjectInfo per object.

Memory stays bounded whatever the card holds (see :mod:`ptpkit.ext.listing`).
"""

from __future__ import annotations

import dataclasses
import logging
from array import array
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Final, Protocol, TypeVar

from ptpkit.client import operations as ops
from ptpkit.client.files import Entry, parse_storage_folder, storage_folder
from ptpkit.client.operations import ROOT
from ptpkit.codes.formats import ASSOCIATION
from ptpkit.core.datasets import SIZE_UNKNOWN_32, DeviceInfo, ObjectInfo
from ptpkit.core.datatypes import parse_datetime
from ptpkit.errors import (
    DecodeError,
    NotFoundError,
    PTPError,
    RemoteProtocolError,
    ResponseError,
    SessionError,
    UsageError,
)
from ptpkit.ext.base import Extension, ListedObjects
from ptpkit.ext.listing import ROOT_PARENTS, HandleTable, ObjectProps, PropListIndex

log = logging.getLogger("ptpkit")

_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class SkippedObject:
    """An object a listing could not describe and went past (:meth:`Camera.walk`'s
    ``on_error``): its ObjectInfo could not be decoded, or the camera refused it."""

    handle: int
    #: The path of the folder it was listed in (``/store_00010001/DCIM``).
    folder: str
    #: Why, in words (the decode error or the camera's response).
    reason: str
    error: PTPError


#: Called with each object a listing skips.
SkipCallback = Callable[[SkippedObject], None]


#: Handles that are never one object (ISO 15740): 0 is "no object" and 0xFFFFFFFF "every
#: object" (DeleteObject of it empties the card). A camera that lists one is
#: not believed: an Entry with it would make delete() erase everything.
RESERVED_HANDLES: Final = (0, 0xFFFFFFFF)


def _reserved(handle: int, folder: str, on_error: SkipCallback | None) -> bool:
    """Report ``handle`` as skipped if it is a reserved one (True: do not list it)."""
    if handle not in RESERVED_HANDLES:
        return False
    reason = f"the camera lists the reserved handle 0x{handle:08X} as an object"
    report_skipped(
        SkippedObject(
            handle=handle, folder=folder, reason=reason, error=RemoteProtocolError(reason)
        ),
        on_error,
    )
    return True


def report_skipped(skipped: SkippedObject, on_error: SkipCallback | None) -> None:
    if on_error is not None:
        on_error(skipped)
    else:
        log.warning(
            "skipped object 0x%08X in %s: %s", skipped.handle, skipped.folder, skipped.reason
        )


#: A folder of up to this many objects is listed sorted by name; a bigger one in the camera's
#: order, as it is read (sorting means holding the whole folder). DCF numbers the files of a
#: camera folder 0001 to 9999 (CIPA DC-009, DCF 2.0 §3.2), so a camera's own folders are sorted.
SORTED_FOLDER_LIMIT: Final = 10_000

#: One object of a folder being listed: (name, key, what its entry is made from).
_Item = tuple[str, int, Any]


def entry_from_info(
    handle: int, info: ObjectInfo, path: str, storage_id: int, *, size: int | None = None
) -> Entry:
    """The entry of ``handle`` from its ObjectInfo, at ``path`` (every front end's rule).
    ``size``: the 64-bit size where ObjectInfo's says unknown (0xFFFFFFFF) and an extension
    could tell it."""
    # A folder's size is 0 whatever the camera says (QEMU's MTP device reports 4096, a
    # directory's size on its host): the fast listing path reports 0 too.
    if info.is_folder:
        size = 0
    elif size is None:
        size = info.compressed_size
    return Entry(
        handle=handle,
        storage_id=storage_id,
        parent=info.parent_object,
        name=info.filename,
        path=path,
        size=size,
        is_folder=info.is_folder,
        object_format=info.object_format,
        captured=info.capture_datetime,
        modified=info.modification_datetime,
        info=info,
    )


class _Lister(Protocol):
    def children(self, storage_id: int, key: int) -> Collection[int]: ...

    def describe(self, key: int, folder: str, on_error: SkipCallback | None) -> _Item | None: ...

    def entry(self, key: int, payload: Any, path: str, storage_id: int) -> Entry: ...


@dataclass(frozen=True, slots=True)
class _Listed:
    """What an extension's folder listing said of an object when that is not a whole ObjectInfo
    (:attr:`Extension.lists_whole_object_info`; Canon EOS GetObjectInfoEx: name, format, size,
    parent, date): enough for its Entry, whose ``info`` stays None (its thumbnail and image
    fields were never read), as on the fast MTP path; :meth:`Objects.entry` fetches the whole
    one."""

    info: ObjectInfo


class _ListedKeys(Collection[int]):
    """The handles of a :class:`ListedObjects` folder, read from it as they are taken (no
    copy); each one taken is noted on the lister, which describes it from the listing."""

    __slots__ = ("lister", "listing", "whole")

    def __init__(self, lister: _SlowLister, listing: ListedObjects, whole: bool) -> None:
        self.lister = lister
        self.listing = listing
        self.whole = whole

    def __len__(self) -> int:
        return len(self.listing)

    def __iter__(self) -> Iterator[int]:
        listing = self.listing
        for position in range(len(listing)):
            self.lister.last_listed = (self, position)
            yield listing.handle(position)

    def __contains__(self, key: object) -> bool:
        return any(self.listing.handle(i) == key for i in range(len(self.listing)))


class _SlowLister:
    """Folder by folder: the first extension that lists a folder (:meth:`Extension.list_folder`,
    Canon EOS GetObjectInfoEx: one transaction), else GetObjectHandles per folder and
    GetObjectInfo per object."""

    def __init__(self, objects: Objects) -> None:
        self._cam = objects.camera
        self._objects = objects
        #: Every handle listed so far, compact: a camera that lists an object twice (a folder
        #: inside itself) has it listed once, and a cycle ends.
        self._seen = HandleTable()
        #: What an extension gave with a folder's handles, until the object is described: a
        #: whole ObjectInfo, or a _Listed one.
        self._described: dict[int, ObjectInfo | _Listed] = {}
        #: The key a :class:`ListedObjects` listing gave last, and where in it: described from
        #: the listing (else, as any other handle, with GetObjectInfo).
        self.last_listed: tuple[_ListedKeys, int] | None = None

    def children(self, storage_id: int, key: int) -> Collection[int]:
        for extension in self._cam.extensions:  # in order; the first that lists it
            try:
                listed = extension.list_folder(storage_id, key)
            except (DecodeError, ResponseError) as exc:
                if isinstance(exc, SessionError):
                    raise
                # One answer the camera got wrong (an entry of a bad size ends the decoding of
                # the whole folder) must not end the listing: the folder is listed the
                # standard way, each object its own GetObjectInfo, so only a bad object is
                # skipped (libgphoto2 ptp_list_folder falls back the same way when
                # ptp_list_folder_eos fails). A link failure is not caught here.
                log.warning("listing folder 0x%08X of storage 0x%08X the %s way failed (%s); "
                            "listing it object by object", key, storage_id, extension.name,
                            exc)  # fmt: skip
                continue
            if listed is not None:
                break
        else:
            return self._cam._call(ops.get_object_handles(storage_id, parent=key))
        whole = extension.lists_whole_object_info
        if isinstance(listed, ListedObjects):
            return _ListedKeys(self, listed, whole)
        handles = array("I")
        for handle, info in listed:
            handles.append(handle)
            self._described[handle] = info if whole else _Listed(info)
        return handles

    def _from_listing(self, key: int) -> ObjectInfo | _Listed | None:
        """What a :class:`ListedObjects` says of ``key`` when it is the handle its keys gave
        last (the walk describes each key as it takes it), made now: one object at a time."""
        last = self.last_listed
        if last is None:
            return None
        keys, position = last
        if keys.listing.handle(position) != key:
            return None
        self.last_listed = None
        info = keys.listing.info(position)
        return info if keys.whole else _Listed(info)

    def describe(self, key: int, folder: str, on_error: SkipCallback | None) -> _Item | None:
        known = self._described.pop(key, None)
        if known is None:
            known = self._from_listing(key)
        if not self._seen.add(key) or _reserved(key, folder, on_error):
            return None
        if isinstance(known, _Listed):
            return known.info.filename, key, known
        if known is not None:
            return known.filename, key, known
        try:
            info = self._cam.object_info(key)
        except (DecodeError, ResponseError) as exc:
            # One object the camera cannot describe must not hide the rest of the card
            # (libgphoto2 goes on past it too). A link failure is not caught here.
            report_skipped(
                SkippedObject(handle=key, folder=folder, reason=str(exc), error=exc), on_error
            )
            return None
        return info.filename, key, info

    def entry(self, key: int, payload: Any, path: str, storage_id: int) -> Entry:
        if isinstance(payload, _Listed):
            entry = self._objects.make_entry(key, payload.info, path, storage_id)
            return dataclasses.replace(entry, info=None)
        return self._objects.make_entry(key, payload, path, storage_id)


class _Chain(Collection[int]):
    """A folder's objects in the fast listing's sibling links, followed as they are read (a
    folder of a million objects is not copied)."""

    def __init__(self, first_child: array[int], next_sibling: array[int], first: int) -> None:
        self._next = next_sibling
        self._first = first
        self._length = -1

    def __iter__(self) -> Iterator[int]:
        child, links = self._first, self._next
        while child >= 0:
            yield child
            child = links[child]

    def __len__(self) -> int:
        if self._length < 0:
            self._length = sum(1 for _ in self)
        return self._length

    def __contains__(self, key: object) -> bool:
        return any(child == key for child in self)


class _FastLister:
    """Objects of an indexed GetObjPropList answer (keys are index slots, not handles)."""

    def __init__(self, index: PropListIndex) -> None:
        self._index = index
        self.first_child = array("i")
        self.next_sibling = array("i")

    def children(self, storage_id: int, key: int) -> Collection[int]:
        return _Chain(self.first_child, self.next_sibling, self.first_child[key])

    def describe(self, key: int, folder: str, on_error: SkipCallback | None) -> _Item | None:
        index = self._index
        if _reserved(index.handles[key], folder, on_error):
            return None
        problem = index.problem(key, top=False)
        error: PTPError = RemoteProtocolError(problem or "")
        if problem is None:
            try:
                props = index.props(key)
            except DecodeError as exc:
                problem, error = str(exc), exc
        if problem is not None:
            report_skipped(
                SkippedObject(
                    handle=index.handles[key], folder=folder, reason=problem, error=error
                ),
                on_error,
            )
            return None
        return props.name, key, props

    def entry(self, key: int, payload: Any, path: str, storage_id: int) -> Entry:
        props: ObjectProps = payload
        is_folder = props.object_format == ASSOCIATION
        return Entry(
            handle=props.handle,
            storage_id=storage_id,
            parent=props.parent,
            name=props.name,
            path=path,
            size=0 if is_folder else props.size,
            is_folder=is_folder,
            object_format=props.object_format,
            captured=parse_datetime(props.created),
            modified=parse_datetime(props.modified),
        )


class _Level:
    """One open folder of a depth-first listing: what is left of it to yield. A small folder
    holds its described objects (sorted); a big one only its compact key array."""

    __slots__ = ("_items", "_keys", "_lister", "_on_error", "name_len")

    def __init__(
        self,
        lister: _Lister,
        keys: Collection[int],
        folder: str,
        on_error: SkipCallback | None,
        name_len: int,
    ) -> None:
        self._lister = lister
        self._on_error = on_error
        self.name_len = name_len
        self._items: list[_Item] | None = None
        self._keys: Iterator[int] | None = None
        if len(keys) <= SORTED_FOLDER_LIMIT:
            items = [
                item for key in keys if (item := lister.describe(key, folder, on_error)) is not None
            ]
            items.sort(key=lambda item: item[0])
            items.reverse()  # popped from the end: equal names keep the camera's order
            self._items = items
        else:
            self._keys = iter(keys)

    def next(self, folder: str) -> _Item | None:
        if self._items is not None:
            return self._items.pop() if self._items else None
        assert self._keys is not None
        for key in self._keys:
            item = self._lister.describe(key, folder, self._on_error)
            if item is not None:
                return item
        return None


def _depth_first(
    lister: _Lister,
    storage_id: int,
    path: str,
    keys: Collection[int],
    on_error: SkipCallback | None,
    *,
    recursive: bool = True,
) -> Iterator[Entry]:
    """Entries below the folder at ``path``, depth first, each folder before its contents.

    An explicit stack, not recursion (a camera can report any depth). Only the current
    folder's path is kept as a string: going up cuts it, going down extends it, so a tree
    3,000 levels deep costs one path per folder, not every ancestor's path at once."""
    stack = [_Level(lister, keys, path, on_error, 0)]
    while stack:
        level = stack[-1]
        item = level.next(path)
        if item is None:
            stack.pop()
            if stack:
                path = path[: len(path) - level.name_len - 1]
            continue
        name, key, payload = item
        entry = lister.entry(key, payload, f"{path}/{name}", storage_id)
        yield entry
        if recursive and entry.is_folder:
            path = entry.path
            stack.append(
                _Level(lister, lister.children(storage_id, key), path, on_error, len(name))
            )


def walk_index(
    index: PropListIndex,
    storage_id: int | None,
    start: Entry | None,
    on_error: SkipCallback | None,
    *,
    ids: Sequence[int],
    top_handles: Sequence[Collection[int]],
) -> Iterator[Entry]:
    """The entries of a whole-card index (MTP GetObjPropList) below ``start`` (None: the whole
    card, of ``storage_id`` or every storage), depth first, with no I/O: every front end's
    fast walk. For the whole card, ``ids`` are the camera's storages and ``top_handles`` the
    handles at the top of each (needed only with more than one: :func:`fast_groups`)."""
    lister = _FastLister(index)
    for orphan in index.without_parent():
        # Not placeable in any folder: reported, not listed.
        report_skipped(
            SkippedObject(
                handle=index.handles[orphan],
                folder=start.path if start is not None else "/",
                reason="GetObjPropList left out its ParentObject",
                error=RemoteProtocolError("no ParentObject"),
            ),
            on_error,
        )
    top_parents = ROOT_PARENTS if start is None else (start.handle,)
    lister.first_child, lister.next_sibling, tops = index.tree(top_parents)
    # Only for the whole card: for one folder, a camera may answer with more than
    # what is below it (the folder itself, or everything), which is not lost.
    lost_objects = (
        index.unplaced(lister.first_child, lister.next_sibling, tops) if start is None else ()
    )
    for lost in lost_objects:
        handle = index.handles[lost]
        reason = (
            f"its ParentObject 0x{index.parents[lost]:08X} is not a folder this listing "
            "reaches (missing, a file, or a cycle of parents)"
        )
        report_skipped(
            SkippedObject(
                handle=handle, folder="/", reason=reason, error=RemoteProtocolError(reason)
            ),
            on_error,
        )
    if start is not None:
        groups: list[tuple[int, str, Collection[int]]] = [(start.storage_id, start.path, tops)]
    else:
        groups = fast_groups(index, tops, on_error, ids, top_handles)
    for sid, path, keys in groups:
        if storage_id is not None and sid != storage_id:
            continue
        yield from _depth_first(lister, sid, path, keys, on_error)


def fast_groups(
    index: PropListIndex,
    tops: Collection[int],
    on_error: SkipCallback | None,
    ids: Sequence[int],
    top_handles: Sequence[Collection[int]],
) -> list[tuple[int, str, Collection[int]]]:
    """The top-level objects grouped by storage (ascending), by the rule of
    :meth:`Objects._path_storage`: the storage that lists the object at its top
    (``top_handles``, one collection per storage of ``ids``), not the StorageID the object
    claims (a camera that claims another storage in ObjectInfo can do so in GetObjPropList
    too), so that walk(), entry() and find() give one object one path."""
    listed_in = HandleTable()  # top-level handle -> its position in ids
    if len(ids) > 1:
        for position, handles in enumerate(top_handles):
            for handle in handles:
                if listed_in.get(handle) < 0:
                    listed_in.put(handle, position)
    by_storage: dict[int, array[int]] = {}
    for top in tops:
        problem = index.problem(top, top=True)
        if problem is not None:
            report_skipped(
                SkippedObject(
                    handle=index.handles[top],
                    folder="/",
                    reason=problem,
                    error=RemoteProtocolError(problem),
                ),
                on_error,
            )
            continue
        if len(ids) == 1:
            sid = ids[0]
        else:
            position = listed_in.get(index.handles[top])
            sid = ids[position] if position >= 0 else index.storages[top]
        by_storage.setdefault(sid, array("i")).append(top)
    return [(sid, "/" + storage_folder(sid), by_storage[sid]) for sid in sorted(by_storage)]


def overrides(extension: Extension, hook: str) -> bool:
    """Whether ``extension`` has its own ``hook`` (not the base class's "not mine")."""
    return getattr(type(extension), hook) is not getattr(Extension, hook)


class _Camera(Protocol):
    """What the object service uses of its camera (declared here: camera.py imports this)."""

    extensions: list[Extension]
    #: True once a whole-card index failed on this camera: folder by folder from then on.
    _fast_listing_failed: bool

    @property
    def device_info(self) -> DeviceInfo: ...

    def storage_ids(self) -> tuple[int, ...]: ...

    def object_info(self, handle: int) -> ObjectInfo: ...

    def _can_list_fast(self) -> bool: ...

    def _ask(self, hook: Callable[[Extension], _T | None]) -> _T | None: ...

    def _call(self, operation: ops.Operation[_T]) -> _T: ...


class Objects:
    """The object service of one camera."""

    def __init__(self, camera: _Camera) -> None:
        self.camera = camera

    def object_size(self, handle: int, info: ObjectInfo | None = None) -> int | None:
        """The object's size in bytes, 64-bit where the camera can tell (None when unknown)."""
        info = info or self.camera.object_info(handle)
        if info.compressed_size != SIZE_UNKNOWN_32:
            return info.compressed_size
        known = info
        size = self.camera._ask(lambda extension: extension.object_size(handle, known))
        return size

    def make_entry(self, handle: int, info: ObjectInfo, path: str, storage_id: int) -> Entry:
        size = None
        if not info.is_folder and info.compressed_size == SIZE_UNKNOWN_32:
            size = self.object_size(handle, info) or None
        return entry_from_info(handle, info, path, storage_id, size=size)

    def entry(self, handle: int) -> Entry:
        """The entry of one object, with its full path (reads its parents' ObjectInfo, however
        deep; a camera whose parents form a cycle is a RemoteProtocolError).

        Its storage follows the rule of :meth:`walk`: the storage that lists its top-level
        folder, so ``entry(h).path`` is the path ``walk()`` gives the same object."""
        return self.entry_at(handle, self.camera.object_info(handle))

    def entry_at(self, handle: int, info: ObjectInfo, *, in_memory: bool = False) -> Entry:
        """The entry of ``handle`` described by ``info``: its parents are read for the path.
        An object in the camera's memory (capture to PC) is on no card: its path is its
        storage's folder and its name, with no storage listing read."""
        names = [info.filename]
        top, top_info = handle, info
        parent = info.parent_object
        # Cycle detection bounds the climb, not a depth limit: a 3,000-level tree is legal.
        climbed = HandleTable()
        climbed.add(handle)
        while parent not in (0, ROOT):
            if not climbed.add(parent):
                raise RemoteProtocolError(
                    f"object 0x{handle:08X}: the camera's ParentObject links form a cycle "
                    f"(0x{parent:08X} again)"
                )
            top, top_info = parent, self.camera.object_info(parent)
            names.append(top_info.filename)
            parent = top_info.parent_object
        storage_id = (
            top_info.storage_id if in_memory else self._path_storage(top, top_info.storage_id)
        )
        names.append(storage_folder(storage_id))
        names.reverse()
        entry = self.make_entry(handle, info, "/" + "/".join(names), storage_id)
        return dataclasses.replace(entry, in_memory=True) if in_memory else entry

    def _path_storage(self, top: int, claimed: int) -> int:
        """The storage a top-level object is listed in: the one storage of a one-card camera
        whatever its ObjectInfo says, else the storage whose top-level handles hold it
        (``claimed``, the ObjectInfo's StorageID, is asked first)."""
        ids = self.camera.storage_ids()
        if len(ids) == 1:
            return ids[0]
        order = sorted(ids, key=lambda sid: sid != claimed)
        for sid in order:
            if top in self.camera._call(ops.get_object_handles(sid, parent=ROOT)):
                return sid
        return claimed

    def as_entry(self, target: Entry | int | str) -> Entry:
        if isinstance(target, Entry):
            return target
        if isinstance(target, int):
            return self.entry(target)
        return self.find(target)

    def walk(
        self,
        storage_id: int | None = None,
        *,
        folder: Entry | int | str | None = None,
        on_error: SkipCallback | None = None,
    ) -> Iterator[Entry]:
        """Every folder and file, depth first, each folder before what it contains.

        Uses MTP's GetObjPropList where the camera has it (one transaction for the whole card),
        else GetObjectHandles per folder and GetObjectInfo per object.

        The listing streams: entries are yielded as they are read, and memory stays bounded
        however many objects the card holds or however deep its folders go (GetObjPropList's
        answer is spooled to a temporary file and indexed in compact arrays). Order: the
        objects of a folder of up to :data:`SORTED_FOLDER_LIMIT` objects come sorted by name; a
        bigger folder is listed in the camera's order (sorting it would mean holding all of it).

        Paths: an object's storage (:attr:`Entry.storage_id`, the first component of its path)
        is the storage that lists its top-level folder, never what its own ObjectInfo claims
        (cameras that report another StorageID there exist); :meth:`entry` and :meth:`find`
        follow the same rule, so one object keeps one path.

        An object the camera cannot describe (an ObjectInfo that does not decode, a handle it
        refuses, GetObjPropList properties missing or of a wrong datatype) does not end the
        listing: it is passed to ``on_error`` as a :class:`SkippedObject` (logged as a warning
        when ``on_error`` is None) and the rest goes on (a skipped folder's contents cannot be
        placed and are not listed). A failed link still raises.
        """
        start = self.as_entry(folder) if folder is not None else None
        if start is not None and not start.is_folder:
            raise UsageError(f"{start.path} is not a folder")
        index = None
        if self.camera._can_list_fast():
            try:
                index = self._index(ROOT if start is None else start.handle)
            except (ResponseError, DecodeError, RemoteProtocolError) as exc:
                log.info("fast listing failed (%s); listing object by object", exc)
                self.camera._fast_listing_failed = True
        if index is not None:
            yield from self._walk_fast(index, storage_id, start, on_error)
        else:
            yield from self._walk_slow(storage_id, start, on_error)

    def _index(self, parent: int) -> PropListIndex | None:
        """The first extension's index of everything below ``parent`` (MTP GetObjPropList), in
        order; None when none gives one, or when an extension before the one that would lists
        folders its own way (:meth:`Extension.list_folder`: a vendor's listing comes first)."""
        for extension in self.camera.extensions:
            index = extension.index_objects(parent)
            if index is not None:
                return index
            if overrides(extension, "list_folder"):
                return None
        return None

    def _walk_fast(
        self,
        index: PropListIndex,
        storage_id: int | None,
        start: Entry | None,
        on_error: SkipCallback | None,
    ) -> Iterator[Entry]:
        try:
            ids: tuple[int, ...] = ()
            top_handles: list[Collection[int]] = []
            if start is None:
                # The storages the top-level objects are listed in (see fast_groups).
                ids = self.camera.storage_ids()
                if len(ids) > 1:
                    for sid in ids:
                        top = self.camera._call(ops.get_object_handles(sid, parent=ROOT))
                        top_handles.append(top)
            yield from walk_index(
                index, storage_id, start, on_error, ids=ids, top_handles=top_handles
            )
        finally:
            index.close()

    def _walk_slow(
        self, storage_id: int | None, start: Entry | None, on_error: SkipCallback | None
    ) -> Iterator[Entry]:
        if start is not None:
            tops = [(start.storage_id, start.handle, start.path)]
        else:
            ids = self.camera.storage_ids() if storage_id is None else (storage_id,)
            tops = [(sid, ROOT, "/" + storage_folder(sid)) for sid in ids]
        lister = _SlowLister(self)
        for sid, parent, prefix in tops:
            keys = lister.children(sid, parent)
            yield from _depth_first(lister, sid, prefix, keys, on_error)

    def iter_folder(
        self, folder: Entry | int | str | None = None, *, on_error: SkipCallback | None = None
    ) -> Iterator[Entry]:
        """The objects directly inside a folder (None: the top of every storage), as they are
        read: :meth:`list_folder` without holding them all (a folder of a million files)."""
        lister = _SlowLister(self)
        if folder is None:
            for sid in self.camera.storage_ids():
                prefix = "/" + storage_folder(sid)
                keys = lister.children(sid, ROOT)
                yield from _depth_first(lister, sid, prefix, keys, on_error, recursive=False)
            return
        start = self.as_entry(folder)
        if not start.is_folder:
            raise UsageError(f"{start.path} is not a folder")
        keys = lister.children(start.storage_id, start.handle)
        yield from _depth_first(
            lister, start.storage_id, start.path, keys, on_error, recursive=False
        )

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
        parts = [p for p in PurePosixPath(path).parts if p not in ("/", "")]
        if not parts:
            raise NotFoundError(f"{path!r} names no object")
        storage_id = parse_storage_folder(parts[0])
        if storage_id is not None:
            # An unknown storage is a path that names nothing (NotFoundError, as documented),
            # not the camera's InvalidStorageID from the listing below.
            if storage_id not in self.camera.storage_ids():
                raise NotFoundError(f"{path!r}: the camera has no storage {parts[0]}")
            parts = parts[1:]
        else:
            ids = self.camera.storage_ids()
            if len(ids) != 1:
                raise NotFoundError(
                    f"{path!r}: this camera has {len(ids)} storages; start the path with one of "
                    + ", ".join(storage_folder(s) for s in ids)
                )
            storage_id = ids[0]
        if not parts:
            raise NotFoundError(f"{path!r} is a storage, not an object")
        parent = ROOT
        prefix = "/" + storage_folder(storage_id)
        entry: Entry | None = None
        lister = _SlowLister(self)
        for part in parts:
            for handle in lister.children(storage_id, parent):
                # Reserved handles and objects the camera cannot describe are passed over
                # (logged as warnings).
                item = lister.describe(handle, prefix, None)
                if item is None:
                    continue
                name = item[0]
                if name == part:
                    prefix = f"{prefix}/{part}"
                    entry = lister.entry(handle, item[2], prefix, storage_id)
                    parent = handle
                    break
            else:
                raise NotFoundError(f"no {part!r} in {prefix} on the camera")
        assert entry is not None
        return entry
