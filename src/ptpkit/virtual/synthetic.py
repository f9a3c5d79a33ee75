"""A synthetic card: huge or deep cards made on demand, for tests and benchmarks of listing.

::

    VirtualCamera(synthetic=SyntheticCard(files=1_000_000))      # a million files, one folder
    VirtualCamera(synthetic=SyntheticCard(files=1, depth=3000))  # a tree 3,000 levels deep
    ptpkit virtual serve --synthetic files=1000000,depth=1

Nothing is stored: the card is ``depth`` nested folders ``L00001/L00002/...`` with ``files``
files ``F0000001.JPG ...`` in the deepest one (at the top when ``depth`` is 0), and every object
is described from its handle when asked. Folders have handles 1..depth, files the next ones.
GetObjectHandles answers with a compact array and MTP's GetObjPropList is streamed as it is
encoded, so the camera itself stays small however large the card (the client is what is
measured). The card is read-only.

``refused`` and ``garbled`` name file numbers (1 is the first file) the camera cannot describe:
GetObjectInfo answers GeneralError for a refused one and three bytes of garbage for a garbled
one; in GetObjPropList a refused file lacks its ObjectFileName and a garbled one has it as a
UINT32. A listing must report them and go on.
"""

from __future__ import annotations

import datetime as _dt
import functools
import struct
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ptpkit.codes.common import Op, Opc, Rc
from ptpkit.codes.formats import EXIF_JPEG
from ptpkit.core.buffer import BytesLike, Writer
from ptpkit.core.datasets import (
    ASSOCIATION_GENERIC_FOLDER,
    FORMAT_ASSOCIATION,
    AccessCapability,
    FilesystemType,
    ObjectInfo,
    StorageInfo,
    StorageType,
)
from ptpkit.core.datatypes import DataType, push_value
from ptpkit.virtual.content import GeneratedData, ObjectData
from ptpkit.virtual.responder import Operation, OperationContext, Reply, ServedCamera, error
from ptpkit.virtual.storage import HandleAllocator, Store, StoredObject

_ALL: Final = 0xFFFFFFFF
_STAMP: Final = "20260101T120000"
#: GetObjPropList is encoded in pieces this big: the camera holds one piece, not the answer.
_PROPLIST_CHUNK_BYTES: Final = 64 << 10
_CREATED: Final = _dt.datetime(2026, 1, 1, 12, 0, 0)


@dataclass(frozen=True, kw_only=True)
class SyntheticCard:
    """The shape of a synthetic card (see the module's docstring)."""

    files: int = 1000
    depth: int = 1
    refused: frozenset[int] = frozenset()
    garbled: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.files < 0 or self.depth < 0 or self.files + self.depth >= 0xFFFFFFF0:
            raise ValueError("a synthetic card holds 0 to about 4 billion objects")

    @classmethod
    def parse(cls, text: str) -> SyntheticCard:
        """From ``files=N,depth=D[,refused=I:J,garbled=K]`` (a bare number is ``files``)."""
        fields: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, eq, value = part.partition("=")
            if not eq:
                key, value = "files", key
            try:
                if key in ("files", "depth"):
                    fields[key] = int(value.replace("_", ""))
                elif key in ("refused", "garbled"):
                    fields[key] = frozenset(int(v) for v in value.split(":") if v)
                else:
                    raise ValueError(f"unknown field {key!r} (files, depth, refused, garbled)")
            except ValueError as exc:
                raise ValueError(f"synthetic card {text!r}: {exc}") from None
        return cls(**fields)  # type: ignore[arg-type]

    @property
    def total(self) -> int:
        return self.depth + self.files

    def describe(self) -> str:
        return f"synthetic card: {self.files} files, {self.depth} folder levels"


class SyntheticStore(Store):
    """A read-only store whose objects are computed from their handles."""

    def __init__(self, storage_id: int, card: SyntheticCard, handles: HandleAllocator) -> None:
        # Not Store.__init__: there is no folder to scan. The attributes Store's users read:
        self.storage_id = storage_id
        self.card = card
        self.root = Path(card.describe())
        self.description = "Synthetic card"
        self.volume_label = "SYNTHETIC"
        self.read_only = True
        self.erasable = False
        self._handles = handles
        self._first = handles.allocate()
        for _ in range(card.total - 1):
            handles.allocate()
        self.objects = _Objects(self)
        self._folder_width = max(5, len(str(card.depth)))
        self._file_width = max(7, len(str(card.files)))

    # -- the shape -------------------------------------------------------------------------------

    def number(self, handle: int) -> int:
        """0 for no object of ours, 1..depth for folders, depth+1.. for files."""
        number = handle - self._first + 1
        return number if 1 <= number <= self.card.total else 0

    def handle(self, number: int) -> int:
        return self._first + number - 1

    def file_number(self, handle: int) -> int:
        """1 for the first file; 0 for a folder or no object of ours."""
        number = self.number(handle)
        return number - self.card.depth if number > self.card.depth else 0

    def parent_of(self, number: int) -> int:
        depth = self.card.depth
        parent = number - 1 if number <= depth else depth
        return self.handle(parent) if parent else 0

    def name_of(self, number: int) -> str:
        depth = self.card.depth
        if number <= depth:
            return f"L{number:0{self._folder_width}d}"
        return f"F{number - depth:0{self._file_width}d}.JPG"

    def children_range(self, handle: int) -> range:
        """Numbers of the objects in folder ``handle`` (0: the top of the card)."""
        depth, total = self.card.depth, self.card.total
        if handle == 0:
            return range(1, 2) if depth else range(1, total + 1)
        number = self.number(handle)
        if number < depth:
            return range(number + 1, number + 2)
        return range(depth + 1, total + 1)

    def make(self, number: int) -> StoredObject:
        is_folder = number <= self.card.depth
        handle = self.handle(number)
        return StoredObject(
            handle=handle,
            parent=self.parent_of(number),
            name=self.name_of(number),
            is_folder=is_folder,
            relpath=None,
            generated=None if is_folder else GeneratedData(self.file_size(number), handle & 0xFF),
            protected=True,
            declared_format=FORMAT_ASSOCIATION if is_folder else EXIF_JPEG,
            created=_CREATED,
        )

    def file_size(self, number: int) -> int:
        return 0 if number <= self.card.depth else 4096 + number % 997

    # -- Store's interface -----------------------------------------------------------------------

    def scan(self) -> None:
        pass

    def listed(self) -> Iterator[StoredObject]:
        return (self.make(n) for n in range(1, self.card.total + 1))

    def children(self, parent: int) -> Iterator[StoredObject]:
        return (self.make(n) for n in self.children_range(parent))

    def descendants(self, handle: int) -> list[StoredObject]:
        return [self.make(n) for n in range(self.number(handle) + 1, self.card.total + 1)]

    def find(self, relpath: str) -> StoredObject | None:
        return None

    def storage_info(self) -> StorageInfo:
        # Fixed figures: a synthetic card has no disk behind it.
        return StorageInfo(
            storage_type=StorageType.REMOVABLE_RAM,
            filesystem_type=FilesystemType.GENERIC_HIERARCHICAL,
            access_capability=AccessCapability.READ_ONLY_WITHOUT_DELETION,
            max_capacity=64 << 30,
            free_space_bytes=0,
            free_space_images=0,
            description=self.description,
            volume_label=self.volume_label,
        )

    def size_of(self, obj: StoredObject) -> int:
        return self.file_size(self.number(obj.handle))

    def format_of(self, obj: StoredObject) -> int:
        return obj.declared_format

    def dates(self, obj: StoredObject) -> tuple[str, str]:
        return _STAMP, _STAMP

    def object_info(self, obj: StoredObject) -> ObjectInfo:
        info = ObjectInfo(
            storage_id=self.storage_id,
            object_format=obj.declared_format,
            protection_status=1,
            compressed_size=self.size_of(obj),
            parent_object=obj.parent,
            filename=obj.name,
            capture_date=_STAMP,
            modification_date=_STAMP,
            association_type=ASSOCIATION_GENERIC_FOLDER if obj.is_folder else 0,
        )
        return info

    def thumbnail(self, obj: StoredObject) -> bytes | None:
        return None

    def open_data(self, obj: StoredObject) -> ObjectData:
        assert obj.generated is not None
        return obj.generated


class _Objects(dict[int, StoredObject]):
    """``store.objects`` of a synthetic store: objects made when looked up, never stored."""

    def __init__(self, store: SyntheticStore) -> None:
        super().__init__()
        self._store = store

    def get(self, handle: int, default: object = None) -> StoredObject | None:  # type: ignore[override]
        number = self._store.number(handle)
        return self._store.make(number) if number else None

    def __getitem__(self, handle: int) -> StoredObject:
        found = self.get(handle)
        if found is None:
            raise KeyError(handle)
        return found

    def __contains__(self, handle: object) -> bool:
        return isinstance(handle, int) and self._store.number(handle) != 0

    def __len__(self) -> int:
        return self._store.card.total


# -- the operations that must not walk the whole card ---------------------------------------------


def install(camera: ServedCamera, store: SyntheticStore) -> None:
    """Replace the listing operations of ``camera`` (whose only store is ``store``) by ones that
    compute their answers from the card's shape."""

    def handles(ctx: OperationContext) -> Reply:
        chosen = _select(ctx, store)
        if isinstance(chosen, Reply):
            return chosen
        numbers = array("I", (store.handle(n) for n in chosen))
        return Reply(data=struct.pack("<I", len(numbers)) + _little(numbers))

    def count(ctx: OperationContext) -> Reply:
        chosen = _select(ctx, store)
        return chosen if isinstance(chosen, Reply) else Reply(params=(len(chosen),))

    default_info = camera.operations[Op.GET_OBJECT_INFO].handler

    def info(ctx: OperationContext) -> Reply:
        file = store.file_number(ctx.param(0))
        if file in store.card.refused:
            return error(Rc.GENERAL_ERROR)
        if file in store.card.garbled:
            return Reply(data=b"\x01\x00\x01")
        return default_info(ctx)

    def prop_list(ctx: OperationContext) -> Reply:
        handle, object_format, prop, _group, depth = (ctx.param(i) for i in range(5))
        if prop != _ALL or object_format:
            return error(0xA805)  # MTP Specification_By_Group_Unsupported: all or nothing here
        if handle == _ALL or (handle == 0 and depth == _ALL):
            numbers = range(1, store.card.total + 1)
        elif handle == 0 and depth == 1:
            numbers = store.children_range(0)
        elif store.number(handle) == 0:
            return error(Rc.INVALID_OBJECT_HANDLE)
        elif depth == 0:
            numbers = range(store.number(handle), store.number(handle) + 1)
        elif depth == 1:
            numbers = store.children_range(handle)
        elif depth == _ALL:
            numbers = range(store.number(handle) + 1, store.card.total + 1)
        else:
            return error(0xA808)  # MTP Specification_By_Depth_Unsupported
        return Reply(data=_PropListData(store, numbers))

    table: dict[int, Callable[[OperationContext], Reply]] = {
        Op.GET_OBJECT_HANDLES: handles,
        Op.GET_NUM_OBJECTS: count,
        Op.GET_OBJECT_INFO: info,
        Op.GET_OBJ_PROP_LIST: prop_list,
    }
    for code, handler in table.items():
        if code in camera.operations:
            camera.operations[code] = Operation(code=code, handler=handler)


def _little(numbers: array[int]) -> bytes:
    if struct.pack("=I", 1) != struct.pack("<I", 1):
        numbers.byteswap()
    return numbers.tobytes()


def _select(ctx: OperationContext, store: SyntheticStore) -> range | Reply:
    storage_id, object_format, parent = ctx.param(0), ctx.param(1), ctx.param(2)
    if storage_id not in (_ALL, store.storage_id):
        return error(Rc.INVALID_STORAGE_ID)
    if parent == 0:
        numbers = range(1, store.card.total + 1)
    elif parent == _ALL:
        numbers = store.children_range(0)
    else:
        number = store.number(parent)
        if number == 0:
            return error(Rc.INVALID_OBJECT_HANDLE)
        if number > store.card.depth:
            return error(Rc.INVALID_PARENT_OBJECT)
        numbers = store.children_range(parent)
    depth = store.card.depth
    if object_format == FORMAT_ASSOCIATION:
        return range(numbers.start, min(numbers.stop, depth + 1))
    if object_format and object_format != EXIF_JPEG:
        return range(0)
    if object_format:
        return range(max(numbers.start, depth + 1), numbers.stop)
    return numbers


def _ptp_string(text: str) -> bytes:
    """A PTP string: a count of UTF-16 units with the NUL, the units, the NUL."""
    units = text.encode("utf-16-le") + b"\x00\x00"
    return bytes([len(units) // 2]) + units


_STAMP_BYTES: Final = _ptp_string(_STAMP)


@functools.lru_cache(maxsize=4)
def _element_struct(name_bytes: int) -> struct.Struct:
    """The layout of one object's nine elements, names of ``name_bytes`` (count included)."""
    header = "IHH"
    name = f"{name_bytes}s"
    stamp = f"{len(_STAMP_BYTES)}s"
    return struct.Struct(
        "<"
        + "".join(header + value for value in ("I", "H", "H", "Q", name, stamp, stamp, "I", name))
    )


class _PropListData:
    """GetObjPropList's answer for a range of objects, every property, encoded as it is sent
    (the size is computed up front: names have a fixed width)."""

    # (code, datatype) in the order each object's elements are sent.
    _PROPS: Final = (
        (Opc.STORAGE_ID, DataType.UINT32),
        (Opc.OBJECT_FORMAT, DataType.UINT16),
        (Opc.PROTECTION_STATUS, DataType.UINT16),
        (Opc.OBJECT_SIZE, DataType.UINT64),
        (Opc.OBJECT_FILE_NAME, DataType.STR),
        (Opc.DATE_CREATED, DataType.STR),
        (Opc.DATE_MODIFIED, DataType.STR),
        (Opc.PARENT_OBJECT, DataType.UINT32),
        (Opc.NAME, DataType.STR),
    )

    def __init__(self, store: SyntheticStore, numbers: range) -> None:
        self._store = store
        self._numbers = numbers
        card = store.card
        elements = 0
        size = 4
        folders = range(max(numbers.start, 1), min(numbers.stop, card.depth + 1))
        files = range(max(numbers.start, card.depth + 1), numbers.stop)
        odd = [n for n in (*card.refused, *card.garbled) if card.depth + n in files]
        normal_files = len(files) - len(odd)
        for sample, how_many in (
            (folders.start, len(folders)),
            (files.start, normal_files),
        ):
            if how_many:
                encoded, count = self._encode(sample)
                size += len(encoded) * how_many
                elements += count * how_many
        for file in odd:
            encoded, count = self._encode(card.depth + file)
            size += len(encoded)
            elements += count
        self._size = size
        self._elements = elements

    @property
    def size(self) -> int:
        return self._size

    def _encode(self, number: int) -> tuple[bytes, int]:
        store = self._store
        card = store.card
        handle = store.handle(number)
        file = number - card.depth if number > card.depth else 0
        if file not in card.refused and file not in card.garbled:
            return self._pack(number, handle, file == 0), len(self._PROPS)
        return self._encode_odd(number, handle, file)

    def _pack(self, number: int, handle: int, is_folder: bool) -> bytes:
        """A well-formed object's elements in one struct call (a million objects must not
        take a minute to serve)."""
        store = self._store
        name = _ptp_string(store.name_of(number))
        layout = _element_struct(len(name))
        return layout.pack(
            *(handle, Opc.STORAGE_ID, DataType.UINT32, store.storage_id),
            *(handle, Opc.OBJECT_FORMAT, DataType.UINT16),
            FORMAT_ASSOCIATION if is_folder else EXIF_JPEG,
            *(handle, Opc.PROTECTION_STATUS, DataType.UINT16, 1),
            *(handle, Opc.OBJECT_SIZE, DataType.UINT64, store.file_size(number)),
            *(handle, Opc.OBJECT_FILE_NAME, DataType.STR, name),
            *(handle, Opc.DATE_CREATED, DataType.STR, _STAMP_BYTES),
            *(handle, Opc.DATE_MODIFIED, DataType.STR, _STAMP_BYTES),
            *(handle, Opc.PARENT_OBJECT, DataType.UINT32, store.parent_of(number)),
            *(handle, Opc.NAME, DataType.STR, name),
        )

    def _encode_odd(self, number: int, handle: int, file: int) -> tuple[bytes, int]:
        store = self._store
        card = store.card
        is_folder = file == 0
        name = store.name_of(number)
        values: dict[int, object] = {
            Opc.STORAGE_ID: store.storage_id,
            Opc.OBJECT_FORMAT: FORMAT_ASSOCIATION if is_folder else EXIF_JPEG,
            Opc.PROTECTION_STATUS: 1,
            Opc.OBJECT_SIZE: store.file_size(number),
            Opc.OBJECT_FILE_NAME: name,
            Opc.DATE_CREATED: _STAMP,
            Opc.DATE_MODIFIED: _STAMP,
            Opc.PARENT_OBJECT: store.parent_of(number),
            Opc.NAME: name,
        }
        writer = Writer()
        count = 0
        for code, datatype in self._PROPS:
            if code == Opc.OBJECT_FILE_NAME and file in card.refused:
                continue
            if code == Opc.OBJECT_FILE_NAME and file in card.garbled:
                writer.uint32(handle)
                writer.uint16(code)
                writer.uint16(DataType.UINT32)
                writer.uint32(7)
                count += 1
                continue
            writer.uint32(handle)
            writer.uint16(code)
            writer.uint16(datatype)
            push_value(writer, datatype, values[code])  # type: ignore[arg-type]
            count += 1
        return writer.getvalue(), count

    def chunks(
        self, offset: int, length: int, chunk_bytes: int = _PROPLIST_CHUNK_BYTES
    ) -> Iterator[BytesLike]:
        end = min(offset + length, self._size)
        position = 0  # where buffer[0] is in the data
        buffer = bytearray(struct.pack("<I", self._elements))
        numbers = iter(self._numbers)
        encode = self._encode
        while position < end:
            for number in numbers:
                buffer += encode(number)[0]
                if len(buffer) >= chunk_bytes:
                    break
            if not buffer:
                break
            start, stop = max(offset - position, 0), min(end - position, len(buffer))
            if start < stop:
                yield bytes(buffer[start:stop])
            position += len(buffer)
            buffer = bytearray()
