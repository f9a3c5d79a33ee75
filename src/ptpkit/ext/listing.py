"""The pieces that keep a card listing bounded in memory, however large the card.

Here in ext/ (not client/) because both use them: the Camera's listing, and the MTP extension,
which builds the whole-card index (:meth:`ptpkit.ext.mtp.MtpExtension.index_objects`).

A card can hold a million objects, a folder tree thousands of levels deep, and MTP's
GetObjPropList can answer with hundreds of MiB. Listing streams (:meth:`Camera.walk` yields as it
goes); what it must remember is kept compact:

- :class:`HandleTable`: object handles in flat ``array('I')`` open-addressing tables, 8 to 16
  bytes per handle, where a Python ``set``/``dict`` of ints costs 60 to 100;
- :func:`handle_array`: a GetObjectHandles answer as an ``array('I')`` (4 bytes a handle, not a
  tuple of int objects, 36);
- :class:`SpoolSink` and :class:`PropListIndex`: a GetObjPropList data phase goes to a temporary
  file (in memory while small, removed at once), is read once to build an index of a few arrays
  (handle, parent, storage, format, where its properties are in the file), and each object's
  properties are decoded from the file only when the listing reaches it.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Final

from ptpkit.codes.common import Opc
from ptpkit.codes.formats import ASSOCIATION
from ptpkit.core.buffer import BytesLike, Reader
from ptpkit.core.datatypes import DataType, Value, as_datatype, pull_value
from ptpkit.errors import DecodeError, RemoteProtocolError

#: GetObjectHandles' "root folder" parent (ISO 15740 §10.5.6); 0 also means "no parent".
_ROOT: Final = 0xFFFFFFFF
#: A GetObjPropList data phase up to this size is kept in memory, larger ones go to disk.
SPOOL_MEMORY_BYTES: Final = 8 << 20
#: The properties of one object are read back in one piece of at most this size; more is not a
#: description of a file but a camera sending garbage (names are 255 characters at most).
MAX_OBJECT_PROPS_BYTES: Final = 1 << 20
_READ_BYTES: Final = 1 << 20
_LITTLE: Final = sys.byteorder == "little"


def handle_array(data: BytesLike, what: str = "object handle list") -> array[int]:
    """An AUINT32 (GetObjectHandles, GetStorageIDs) as a compact ``array('I')``, strictly
    checked: the count must fit in the data."""
    reader = Reader(data, what=what)
    count = reader.uint32()
    if count * 4 > reader.remaining:
        raise reader.fail(f"{what} claims {count} handles, {reader.remaining} bytes left")
    handles = array("I")
    handles.frombytes(bytes(memoryview(data)[4 : 4 + count * 4]))
    if not _LITTLE:
        handles.byteswap()
    return handles


class HandleTable:
    """A map from object handle (any uint32) to a small int, or a set of handles (value 1), in
    two ``array('I')`` of a power-of-two size, linear probing. Python's own set costs ~60 bytes
    per int handle (the int objects and the hash table); this costs 16 at most."""

    __slots__ = ("_count", "_keys", "_mask", "_values")

    def __init__(self) -> None:
        self._mask = 1023
        self._keys = array("I", bytes(4 * 1024))
        #: value + 1; 0 marks an empty slot (so the handle 0 is a key like any other).
        self._values = array("I", bytes(4 * 1024))
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def get(self, handle: int) -> int:
        """The value stored for ``handle``, -1 when there is none."""
        keys, values, mask = self._keys, self._values, self._mask
        slot = ((handle * 0x9E3779B1) >> 11) & mask
        while True:
            value = values[slot]
            if value == 0:
                return -1
            if keys[slot] == handle:
                return value - 1
            slot = (slot + 1) & mask

    def put(self, handle: int, value: int) -> None:
        if (self._count + 1) * 2 > self._mask:
            self._grow()
        keys, values, mask = self._keys, self._values, self._mask
        slot = ((handle * 0x9E3779B1) >> 11) & mask
        while values[slot] != 0 and keys[slot] != handle:
            slot = (slot + 1) & mask
        if values[slot] == 0:
            self._count += 1
        keys[slot] = handle
        values[slot] = value + 1

    def add(self, handle: int) -> bool:
        """Set use: add ``handle``; False when it was there already."""
        if self.get(handle) >= 0:
            return False
        self.put(handle, 0)
        return True

    def _grow(self) -> None:
        old_keys, old_values = self._keys, self._values
        size = (self._mask + 1) * 2
        self._mask = size - 1
        self._keys = array("I", bytes(4 * size))
        self._values = array("I", bytes(4 * size))
        self._count = 0
        for key, value in zip(old_keys, old_values, strict=True):
            if value:
                self.put(key, value - 1)


class SpoolSink:
    """Receives a data phase into a temporary file (kept in memory while small; on disk it has
    no name, so nothing is left behind whatever happens), refusing more than ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        import tempfile  # noqa: PLC0415  (only for MTP's big listings; start-up time)

        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115  (closed by close())
            max_size=SPOOL_MEMORY_BYTES, prefix="ptpkit-proplist-"
        )

    def start(self, total_bytes: int | None) -> None:
        if total_bytes is not None and total_bytes > self.limit:
            raise RemoteProtocolError(
                f"the device announced {total_bytes} bytes of object properties, more than the "
                f"{self.limit}-byte limit"
            )

    def write(self, chunk: BytesLike) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise RemoteProtocolError(
                f"the device sent more than the {self.limit}-byte limit for object properties"
            )
        self.file.write(chunk)

    def finish(self) -> None:
        pass

    def close(self) -> None:
        self.file.close()


# Flags of an object in the index.
_HAS_PARENT: Final = 1
_HAS_STORAGE: Final = 2
_HAS_FORMAT: Final = 4
_HAS_NAME: Final = 8
_HAS_SIZE: Final = 16
#: One of the properties the listing needs has a type it cannot be (a name that is a number...).
_BAD_TYPE: Final = 32
_SCALAR_SIZES: Final = {int(t): t.size for t in DataType if t.is_integer}
_SIGNED: Final = frozenset(int(t) for t in DataType if t.is_integer and t.signed)
_STR: Final = int(DataType.STR)
_INDEXED: Final = {
    int(Opc.PARENT_OBJECT): _HAS_PARENT,
    int(Opc.STORAGE_ID): _HAS_STORAGE,
    int(Opc.OBJECT_FORMAT): _HAS_FORMAT,
}


@dataclass(frozen=True, kw_only=True)
class ObjectProps:
    """What the listing needs of one object, decoded from GetObjPropList."""

    handle: int
    parent: int
    storage_id: int
    object_format: int
    name: str
    size: int
    created: str
    modified: str


class PropListIndex:
    """GetObjPropList's answer (MTP 1.1 §5.4.1: a count, then (handle, code, datatype, value)
    elements) read once from a file into compact arrays, one slot per object, in the order the
    camera first names each object. The file stays open until :meth:`close`; each object's
    properties are decoded from it on demand (:meth:`props`).

    A structural fault (a count the data cannot hold, an element cut short, an unknown datatype)
    is a DecodeError for the whole answer; a fault in one object's values (a property missing or
    of the wrong type) is that object's alone (:meth:`problem`).
    """

    def __init__(self, file: IO[bytes], size: int) -> None:
        self._file = file
        self.handles = array("I")
        self.parents = array("I")
        self.storages = array("I")
        self.formats = array("H")
        self.flags = array("B")
        # Runs: stretches of consecutive elements of one object (usually one per object).
        self._first_run = array("I")
        # Where each run starts in the file: 4 bytes a run while the answer is under 4 GiB.
        self._run_offset = array("I" if size <= 0xFFFFFFFF else "Q")
        #: The next run of the same object, per run (-1: its last). An object's elements can
        #: come in several runs (a camera that answers property by property gives each object
        #: one run per property): 4 bytes a run, not a dict entry.
        self._next_run = array("i")
        self._end = 0
        self._table = HandleTable()
        self._read(size)

    def __len__(self) -> int:
        return len(self.handles)

    def close(self) -> None:
        """Close the file the properties are read from (a spooled answer goes with it)."""
        self._file.close()

    def _read(self, size: int) -> None:
        file = self._file
        file.seek(0)
        buf = bytearray(file.read(_READ_BYTES))
        base = 0  # file offset of buf[0]
        pos = 0
        eof = len(buf) >= size

        def fill(need: int) -> None:
            nonlocal buf, base, pos, eof
            while len(buf) - pos < need:
                if eof:
                    raise DecodeError(
                        f"ObjectPropList ends inside an element at byte {base + pos}",
                        offset=base + pos,
                        what="ObjectPropList",
                    )
                del buf[:pos]
                base += pos
                pos = 0
                more = file.read(_READ_BYTES)
                if not more:
                    eof = True
                buf += more

        def skip(nbytes: int) -> None:
            """Step over ``nbytes`` (an array value the listing does not need) without holding
            them: one element can be almost the whole answer."""
            nonlocal buf, base, pos, eof
            if len(buf) - pos >= nbytes:
                pos += nbytes
                return
            target = base + pos + nbytes
            if target > size:
                raise DecodeError(
                    f"ObjectPropList ends inside an element at byte {size}",
                    offset=size,
                    what="ObjectPropList",
                )
            file.seek(target)
            base, pos = target, 0
            buf = bytearray(file.read(_READ_BYTES))
            eof = base + len(buf) >= size

        fill(4)
        count = int.from_bytes(buf[0:4], "little")
        pos = 4
        # An element is at least 9 bytes: handle, code, datatype and a 1-byte value.
        if count > (size - 4) // 9:
            raise DecodeError(
                f"ObjectPropList claims {count} elements, {size - 4} bytes left",
                offset=0,
                what="ObjectPropList",
            )
        handles, parents, storages, formats, flags = (
            self.handles,
            self.parents,
            self.storages,
            self.formats,
            self.flags,
        )
        table = self._table
        run_offset, next_run, first_run = self._run_offset, self._next_run, self._first_run
        # Each object's last run so far, so a new run is linked in one step: walking the chain
        # from the first would be quadratic for a camera that alternates between objects.
        last_run = array("i")
        current = -1
        current_handle = -1
        sizes, signed_types, indexed = _SCALAR_SIZES, _SIGNED, _INDEXED
        for _ in range(count):
            if len(buf) - pos < 9:
                fill(9)
            start = base + pos
            handle = int.from_bytes(buf[pos : pos + 4], "little")
            code = buf[pos + 4] | buf[pos + 5] << 8
            type_code = buf[pos + 6] | buf[pos + 7] << 8
            pos += 8
            if handle != current_handle:
                # A run ends where the next begins: only its start is kept.
                run = len(run_offset)
                run_offset.append(start)
                next_run.append(-1)
                current = table.get(handle)
                if current < 0:
                    current = len(handles)
                    table.put(handle, current)
                    handles.append(handle)
                    parents.append(0)
                    storages.append(0)
                    formats.append(0)
                    flags.append(0)
                    first_run.append(run)
                    last_run.append(run)
                else:
                    next_run[last_run[current]] = run
                    last_run[current] = run
                current_handle = handle
            width = sizes.get(type_code)
            if width is not None:
                if len(buf) - pos < width:
                    fill(width)
                bit = indexed.get(code)
                if bit is not None:
                    value = int.from_bytes(
                        buf[pos : pos + width], "little", signed=type_code in signed_types
                    )
                    if bit == _HAS_PARENT:
                        parents[current] = value & 0xFFFFFFFF
                    elif bit == _HAS_STORAGE:
                        storages[current] = value & 0xFFFFFFFF
                    else:
                        formats[current] = value & 0xFFFF  # ObjectFormat is a UINT16
                    flags[current] |= bit
                elif code == Opc.OBJECT_SIZE:
                    flags[current] |= _HAS_SIZE
                elif code == Opc.OBJECT_FILE_NAME:
                    flags[current] |= _HAS_NAME | _BAD_TYPE
                pos += width
            elif type_code == _STR:
                fill(1)
                units = buf[pos]
                pos += 1
                if units:
                    fill(units * 2)
                    pos += units * 2
                if code == Opc.OBJECT_FILE_NAME:
                    flags[current] |= _HAS_NAME
                elif code in indexed:
                    flags[current] |= indexed[code] | _BAD_TYPE
                elif code == Opc.OBJECT_SIZE:
                    flags[current] |= _HAS_SIZE | _BAD_TYPE
            else:
                datatype = as_datatype(type_code)  # unknown codes and UNDEF: DecodeError
                if not datatype.is_array:
                    raise DecodeError(f"datatype {datatype.name} in an ObjectPropList")
                fill(4)
                items = int.from_bytes(buf[pos : pos + 4], "little")
                pos += 4
                nbytes = items * datatype.size
                if nbytes > size:
                    raise DecodeError(
                        f"an ObjectPropList array claims {items} items",
                        offset=base + pos,
                        what="ObjectPropList",
                    )
                skip(nbytes)
                if code in indexed:
                    flags[current] |= indexed[code] | _BAD_TYPE
                elif code == Opc.OBJECT_SIZE:
                    flags[current] |= _HAS_SIZE | _BAD_TYPE
                elif code == Opc.OBJECT_FILE_NAME:
                    flags[current] |= _HAS_NAME | _BAD_TYPE
        self._end = base + pos

    def problem(self, index: int, *, top: bool) -> str | None:
        """Why object ``index`` cannot be listed (None: it can). A top-level object must say
        which storage it is on; the others are on their top-level folder's."""
        flag = self.flags[index]
        missing = []
        if not flag & _HAS_NAME:
            missing.append("ObjectFileName")
        if not flag & _HAS_PARENT:
            missing.append("ParentObject")
        if not flag & _HAS_FORMAT:
            missing.append("ObjectFormat")
        if top and not flag & _HAS_STORAGE:
            missing.append("StorageID")
        if flag & _HAS_FORMAT and self.formats[index] != ASSOCIATION and not flag & _HAS_SIZE:
            missing.append("ObjectSize")
        if missing:
            return "GetObjPropList left out its " + ", ".join(missing)
        if flag & _BAD_TYPE:
            return "GetObjPropList gave one of its properties a wrong datatype"
        return None

    def has_size(self, index: int) -> bool:
        return bool(self.flags[index] & _HAS_SIZE)

    def props(self, index: int) -> ObjectProps:
        """Object ``index``'s properties, decoded from the file (DecodeError if they do not)."""
        total = 0
        values: dict[int, Value] = {}
        run = self._first_run[index]
        offsets, runs = self._run_offset, len(self._run_offset)
        while run >= 0:
            length = (offsets[run + 1] if run + 1 < runs else self._end) - offsets[run]
            total += length
            if total > MAX_OBJECT_PROPS_BYTES:
                raise DecodeError(f"more than {MAX_OBJECT_PROPS_BYTES} bytes of properties")
            self._file.seek(self._run_offset[run])
            _decode_wanted(self._file.read(length), values)
            run = self._next_run[run]
        name = values.get(Opc.OBJECT_FILE_NAME, "")
        size = values.get(Opc.OBJECT_SIZE, 0)
        if not isinstance(name, str) or not isinstance(size, int):
            raise DecodeError("ObjectFileName or ObjectSize of a wrong datatype")
        created = values.get(Opc.DATE_CREATED, "")
        modified = values.get(Opc.DATE_MODIFIED, "")
        return ObjectProps(
            handle=self.handles[index],
            parent=self.parents[index],
            storage_id=self.storages[index],
            object_format=self.formats[index],
            name=name,
            size=size,
            created=created if isinstance(created, str) else "",
            modified=modified if isinstance(modified, str) else "",
        )

    def tree(self, top_parents: tuple[int, ...]) -> tuple[array[int], array[int], array[int]]:
        """Children lists as two arrays (first child, next sibling; -1 ends) and the top-level
        objects (those whose parent is one of ``top_parents``), each in the camera's order.
        Each object has one parent, so it is in one list: a cycle of parents cannot make a
        listing loop (its objects are simply never reached from the top)."""
        n = len(self.handles)
        first_child = array("i", [-1]) * n
        next_sibling = array("i", [-1]) * n
        tops = array("i")
        for index in range(n - 1, -1, -1):
            if not self.flags[index] & _HAS_PARENT:
                continue
            parent = self.parents[index]
            if parent in top_parents:
                tops.append(index)
                continue
            at = self._table.get(parent)
            if at >= 0 and at != index:
                next_sibling[index] = first_child[at]
                first_child[at] = index
        tops.reverse()
        self._table = HandleTable()  # not needed any more: 8-16 bytes an object given back
        return first_child, next_sibling, tops

    def unplaced(
        self, first_child: array[int], next_sibling: array[int], tops: array[int]
    ) -> Iterator[int]:
        """Objects with a ParentObject that the listing never reaches from ``tops`` (a parent
        the answer does not hold, a file, the object itself, or a cycle of parents): they would
        be left out without a word. One byte an object and a stack of indexes, no recursion."""
        n = len(self.handles)
        reached = bytearray(n)
        stack = array("i", tops)
        while stack:
            index = stack.pop()
            reached[index] = 1
            if self.flags[index] & _HAS_FORMAT and self.formats[index] == ASSOCIATION:
                child = first_child[index]
                while child >= 0:
                    stack.append(child)
                    child = next_sibling[child]
        return (i for i in range(n) if not reached[i] and self.flags[i] & _HAS_PARENT)

    def without_parent(self) -> Iterator[int]:
        """Objects the camera gave no ParentObject: they cannot be placed in any folder."""
        return (i for i in range(len(self.handles)) if not self.flags[i] & _HAS_PARENT)


ROOT_PARENTS: Final = (0, _ROOT)

_HEADER: Final = struct.Struct("<IHH")
#: The properties an entry is made of that the index does not hold.
_WANTED: Final = frozenset(
    int(code)
    for code in (Opc.OBJECT_FILE_NAME, Opc.OBJECT_SIZE, Opc.DATE_CREATED, Opc.DATE_MODIFIED)
)


def _decode_wanted(data: bytes, values: dict[int, Value]) -> None:
    """The wanted properties of one run of elements (already checked whole by the index);
    the others are stepped over. A hot loop: one struct call per element."""
    pos, end = 0, len(data)
    sizes, wanted = _SCALAR_SIZES, _WANTED
    while pos < end:
        _handle, code, type_code = _HEADER.unpack_from(data, pos)
        pos += 8
        width = sizes.get(type_code)
        if width is not None:
            if code in wanted:
                values[code] = int.from_bytes(
                    data[pos : pos + width], "little", signed=type_code in _SIGNED
                )
            pos += width
        elif type_code == _STR:
            units = data[pos]
            if code in wanted:
                values[code] = Reader(data[pos : pos + 1 + units * 2]).string()
            pos += 1 + units * 2
        else:
            datatype = as_datatype(type_code)
            reader = Reader(data[pos:])
            value = pull_value(reader, datatype)
            if code in wanted:
                values[code] = value
            pos += reader.offset
    if pos != end:
        raise DecodeError("an ObjectPropList element runs past its object's properties")
