"""Listing at scale and against cameras that describe objects badly (issue 11, sections 1 and 4).

- one object the camera cannot describe is reported (handle, folder, reason) and the listing goes
  on, on the object-by-object path and on MTP's GetObjPropList path, through every transport;
- one object keeps one path, even when ObjectInfo names another storage than the listing;
- paths of a tree 3,000 levels deep are right;
- peak memory of a listing does not grow with the number of objects or the depth of the tree.
"""

from __future__ import annotations

import functools
import io
import tracemalloc
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from tests.forked import in_a_forked_child

import ptpkit
from ptpkit.client import objects as objects_module
from ptpkit.client.camera import Camera, SkippedObject
from ptpkit.errors import DecodeError, RemoteProtocolError, ResponseError
from ptpkit.ext import listing
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.misbehave import WRONG_STORAGE_ID, Misbehavior, Mode
from ptpkit.virtual.synthetic import SyntheticCard

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Rig

STORE = "/store_00010001"
#: Two folders, six files; the camera cannot describe file 2 (refused) and file 5 (garbled).
BAD_CARD = SyntheticCard(files=6, depth=2, refused=frozenset({2}), garbled=frozenset({5}))
FOLDER = f"{STORE}/L00001/L00002"


def slow(cam: Camera) -> Camera:
    """The object-by-object path, as on a camera without MTP."""
    cam._fast_listing_failed = True
    return cam


@pytest.mark.parametrize("path", ["fast", "slow"])
def test_an_object_that_cannot_be_described_is_reported_and_the_rest_listed(
    make_rig: Callable[..., Rig], path: str
) -> None:
    rig = make_rig(VirtualCamera(synthetic=BAD_CARD))
    cam = slow(rig.cam) if path == "slow" else rig.cam
    skipped: list[SkippedObject] = []
    entries = list(cam.walk(on_error=skipped.append))
    assert [e.path for e in entries] == [
        f"{STORE}/L00001",
        FOLDER,
        *(f"{FOLDER}/F000000{n}.JPG" for n in (1, 3, 4, 6)),
    ]
    # Handles: folders 1 and 2, then files 3.. (file 2 is handle 4, file 5 handle 7).
    assert [(s.handle, s.folder) for s in skipped] == [(4, FOLDER), (7, FOLDER)]
    assert all(
        s.reason and isinstance(s.error, (DecodeError, ResponseError, RemoteProtocolError))
        for s in skipped
    )
    # The fast path skipped them itself: it did not give up and fall back to the slow one.
    assert cam._fast_listing_failed is (path == "slow")


def test_list_folder_find_and_entry_go_past_a_bad_object(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(VirtualCamera(synthetic=BAD_CARD))
    skipped: list[SkippedObject] = []
    names = [e.name for e in rig.cam.list_folder(FOLDER, on_error=skipped.append)]
    assert names == ["F0000001.JPG", "F0000003.JPG", "F0000004.JPG", "F0000006.JPG"]
    assert [s.handle for s in skipped] == [4, 7]
    # find() reads its way past the refused and the garbled object to the one after them.
    found = rig.cam.find("L00001/L00002/F0000006.JPG")
    assert found.path == f"{FOLDER}/F0000006.JPG"
    assert rig.cam.entry(found.handle) == found


def test_a_bad_object_in_getobjproplist_is_skipped_alone() -> None:
    """The index reports one object's missing or mistyped property as that object's problem."""
    with (
        VirtualCamera(synthetic=BAD_CARD) as vcam,
        ptpkit.connect("virtual:", camera=vcam) as cam,
    ):
        skipped: list[SkippedObject] = []
        files = [e.name for e in cam.walk(on_error=skipped.append) if not e.is_folder]
    assert files == ["F0000001.JPG", "F0000003.JPG", "F0000004.JPG", "F0000006.JPG"]
    reasons = {s.handle: s.reason for s in skipped}
    assert "left out its ObjectFileName" in reasons[4]
    assert "wrong datatype" in reasons[7]


@pytest.mark.parametrize("path", ["fast", "slow"])
def test_one_object_keeps_one_path_when_objectinfo_names_another_storage(
    make_rig: Callable[..., Rig], card: Path, tmp_path: Path, path: str
) -> None:
    vcam = VirtualCamera(card, misbehavior=Misbehavior(modes=frozenset({Mode.WRONG_STORAGE_ID})))
    rig = make_rig(vcam)
    cam = slow(rig.cam) if path == "slow" else rig.cam
    assert cam.object_info(cam.find("MISC").handle).storage_id == WRONG_STORAGE_ID
    walked = list(cam.walk())
    assert walked
    for entry in walked:
        assert entry.path.startswith(STORE + "/")
        assert entry.storage_id == 0x00010001
        by_handle = cam.entry(entry.handle)
        assert (by_handle.path, by_handle.storage_id) == (entry.path, entry.storage_id)
        assert cam.find(entry.path).path == entry.path
    assert [e.path for e in cam.list_folder("MISC")] == [
        e.path for e in walked if e.path.count("/") == 3 and e.path.startswith(f"{STORE}/MISC/")
    ]
    uploaded = cam.upload(io.BytesIO(b"hello"), name="NEW.TXT", folder="MISC")
    assert uploaded.path == f"{STORE}/MISC/NEW.TXT"
    assert uploaded.storage_id == 0x00010001


def test_paths_of_a_tree_3000_levels_deep(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(VirtualCamera(synthetic=SyntheticCard(files=1, depth=3000)))
    deepest = rig.cam.entry(3001)  # the one file, below 3,000 folders
    folders = "/".join(f"L{level:05d}" for level in range(1, 3001))
    assert deepest.path == f"{STORE}/{folders}/F0000001.JPG"


@pytest.mark.parametrize("path", ["fast", "slow"])
def test_walk_of_a_tree_3000_levels_deep(path: str) -> None:
    with (
        VirtualCamera(synthetic=SyntheticCard(files=1, depth=3000)) as vcam,
        ptpkit.connect("virtual:", camera=vcam) as cam,
    ):
        walked = list((slow(cam) if path == "slow" else cam).walk())
        assert len(walked) == 3001
        assert walked[-1].path == cam.entry(3001).path
        assert walked[-1].path.count("/") == 3002
        assert [e.handle for e in walked] == list(range(1, 3002))


def test_entry_of_a_parent_cycle_is_an_error_not_a_hang() -> None:
    """A camera whose ParentObject links loop: entry() ends with an error (no depth limit)."""
    from ptpkit.virtual.storage import StoredObject

    with VirtualCamera(synthetic=SyntheticCard(files=1, depth=3)) as vcam:
        store = vcam.stores[0x00010001]
        make = store.make  # type: ignore[attr-defined]

        def looping(number: int) -> StoredObject:
            obj: StoredObject = make(number)
            if number == 1:
                obj.parent = 3  # the top folder claims to be inside the third
            return obj

        store.make = looping  # type: ignore[attr-defined]
        with ptpkit.connect("virtual:", camera=vcam) as cam, pytest.raises(RemoteProtocolError):
            cam.entry(4)


# -- memory --------------------------------------------------------------------------------------


def _listing_peak_bytes(card: SyntheticCard, *, fast: bool) -> int:
    """Peak traced memory while listing ``card`` (camera and client: the in-process camera is
    streamed and small, so growth is the client's), in a forked child: tracemalloc counts every
    thread, and the worker's leftover threads of earlier tests went into the peak (tests.forked).
    """
    return in_a_forked_child(functools.partial(_listing_peak_bytes_here, card, fast=fast))


def _listing_peak_bytes_here(card: SyntheticCard, *, fast: bool) -> int:
    with VirtualCamera(synthetic=card) as vcam, ptpkit.connect("virtual:", camera=vcam) as cam:
        if not fast:
            slow(cam)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            count = sum(1 for _ in cam.walk())
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    assert count == card.total
    return peak


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scale the thresholds down with the cards (a test cannot list a million objects): a folder
    of more than 100 objects is streamed, a GetObjPropList answer over 64 KiB goes to disk."""
    monkeypatch.setattr(objects_module, "SORTED_FOLDER_LIMIT", 100)
    monkeypatch.setattr(listing, "SPOOL_MEMORY_BYTES", 64 << 10)


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize(
    ("fast", "files", "depth", "bound"),
    [
        # Before: the whole answer decoded into a dict of every property (+4 MB for +1,500).
        (True, 500, 1, 600_000),
        # Before: a set of every handle and each folder's Entry list (+1.2 MB for +900).
        (False, 300, 1, 300_000),
        # Before: every level's path and entry list held at once, O(depth^2) (+4 MB).
        (False, 0, 250, 400_000),
        (True, 0, 500, 1_500_000),
    ],
    ids=["fast-flat", "slow-flat", "slow-deep", "fast-deep"],
)
def test_listing_memory_does_not_grow_with_the_card(
    fast: bool, files: int, depth: int, bound: int
) -> None:
    small = _listing_peak_bytes(SyntheticCard(files=files, depth=depth), fast=fast)
    big = _listing_peak_bytes(SyntheticCard(files=files * 4, depth=depth * 4), fast=fast)
    assert big - small < bound, (small, big)


# -- the GetObjPropList index --------------------------------------------------------------------


def _element(handle: int, code: int, value: int | str) -> bytes:
    """One ObjectPropList element (MTP 1.1 §5.4.1): a UINT32 value or a PTP string."""
    head = handle.to_bytes(4, "little") + code.to_bytes(2, "little")
    if isinstance(value, str):
        text = (value + "\0").encode("utf-16-le")
        return head + (0xFFFF).to_bytes(2, "little") + bytes([len(text) // 2]) + text
    return head + (0x0006).to_bytes(2, "little") + value.to_bytes(4, "little")


def _proplist(elements: list[bytes]) -> io.BytesIO:
    return io.BytesIO(len(elements).to_bytes(4, "little") + b"".join(elements))


def test_index_of_elements_alternating_between_objects_is_linear() -> None:
    """A camera that alternates between objects gives each a run per element; linking a new
    run used to walk the object's chain from its first run (quadratic: minutes for this)."""
    import time

    from ptpkit.codes.common import Opc

    count = 60_000
    elements = [_element(1 + n % 2, Opc.OBJECT_SIZE, n) for n in range(count)]
    elements += [_element(1, Opc.OBJECT_FILE_NAME, "A.JPG"), _element(2, Opc.OBJECT_SIZE, 7)]
    data = _proplist(elements)
    started = time.monotonic()
    index = listing.PropListIndex(data, len(data.getvalue()))
    assert time.monotonic() - started < 5  # was: ~30 s here
    assert len(index) == 2
    assert index.props(0).name == "A.JPG"
    assert index.props(0).size == count - 2  # the last ObjectSize of handle 1 wins
    assert index.props(1).size == 7


def test_index_of_an_answer_given_property_by_property() -> None:
    """Property-major order (one run per property per object): every object has all its
    properties, and the links between runs cost no Python object per run."""
    from ptpkit.codes.common import Opc

    handles = range(1, 2001)
    elements = [_element(h, Opc.PARENT_OBJECT, 0) for h in handles]
    elements += [_element(h, Opc.STORAGE_ID, 0x00010001) for h in handles]
    elements += [_element(h, Opc.OBJECT_FORMAT, 0x3801) for h in handles]
    elements += [_element(h, Opc.OBJECT_SIZE, h * 10) for h in handles]
    elements += [_element(h, Opc.OBJECT_FILE_NAME, f"F{h}.JPG") for h in handles]
    data = _proplist(elements)

    def held_bytes() -> tuple[int, listing.PropListIndex]:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            index = listing.PropListIndex(data, len(data.getvalue()))
            return tracemalloc.get_traced_memory()[0] - base, index
        finally:
            tracemalloc.stop()

    # In a forked child, as the listing's peaks above (tests.forked); the index comes back too.
    held, index = in_a_forked_child(held_bytes)
    # 10,000 runs: compact arrays (~100 KB with the handle table), not a dict entry per run
    # (was: ~700 KB more).
    assert held < 300_000, held
    assert all(index.problem(i, top=True) is None for i in range(len(index)))
    props = index.props(1999)
    assert (props.handle, props.name, props.size, props.storage_id) == (
        2000,
        "F2000.JPG",
        20000,
        0x00010001,
    )


@pytest.mark.parametrize(
    ("parents", "lost"),
    [
        ({3: 3}, [3, 4, 5]),  # a folder inside itself, and what it holds
        ({1: 3}, [1, 2, 3, 4, 5]),  # the top folder inside the third: a cycle
        ({5: 999}, [5]),  # a parent the camera does not have
        ({5: 4}, [5]),  # a parent that is a file
    ],
    ids=["self", "cycle", "dangling", "in-a-file"],
)
def test_fast_listing_reports_objects_it_cannot_reach(
    parents: dict[int, int], lost: list[int]
) -> None:
    """GetObjPropList objects whose parents never lead to the top used to vanish unreported."""
    from ptpkit.virtual.storage import StoredObject

    with VirtualCamera(synthetic=SyntheticCard(files=2, depth=3)) as vcam:
        store = vcam.stores[0x00010001]
        make = store.make  # type: ignore[attr-defined]

        def misplaced(number: int) -> StoredObject:
            obj: StoredObject = make(number)
            if number in parents:
                obj.parent = parents[number]
            return obj

        def parent_of(number: int, real: Callable[[int], int] = store.parent_of) -> int:  # type: ignore[attr-defined]
            return parents.get(number, real(number))

        store.make = misplaced  # type: ignore[attr-defined]
        store.parent_of = parent_of  # type: ignore[attr-defined]  (GetObjPropList reads it)
        with ptpkit.connect("virtual:", camera=vcam) as cam:
            skipped: list[SkippedObject] = []
            listed = [e.handle for e in cam.walk(on_error=skipped.append)]
            assert cam._fast_listing_failed is False
    assert sorted(s.handle for s in skipped) == lost
    assert sorted(listed + lost) == [1, 2, 3, 4, 5]
    assert all("ParentObject" in s.reason for s in skipped)


def test_fast_listing_paths_follow_the_listing_storage_not_getobjproplist(
    make_rig: Callable[..., Rig], card: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera whose GetObjPropList names a storage it does not have (as its ObjectInfo
    can): walk() used to put everything under /store_00020001, where entry() and find() do
    not (one object, two paths)."""
    from ptpkit.codes.common import Opc
    from ptpkit.virtual import operations

    real = operations._object_properties

    def lying(store: object, obj: object) -> dict[int, object]:
        values = dict(real(store, obj))  # type: ignore[arg-type]
        values[Opc.STORAGE_ID] = WRONG_STORAGE_ID
        return values

    monkeypatch.setattr(operations, "_object_properties", lying)
    cam = make_rig(VirtualCamera(card)).cam
    walked = list(cam.walk())
    assert walked
    assert cam._fast_listing_failed is False
    for entry in walked:
        assert (entry.storage_id, entry.path.startswith(STORE + "/")) == (0x00010001, True)
        assert cam.entry(entry.handle).path == entry.path
    assert [e.path for e in cam.walk(0x00010001)] == [e.path for e in walked]


def test_fast_listing_of_two_storages_whose_objects_claim_the_first(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two cards; GetObjPropList says every object is on the first: each object's path is on
    the storage that lists it at its top, as entry() and the object-by-object path say."""
    from ptpkit.codes.common import Opc
    from ptpkit.virtual import operations
    from ptpkit.virtual.storage import Store

    second = tmp_path / "second"
    (second / "DCIM").mkdir(parents=True)
    (second / "DCIM" / "ON_B.JPG").write_bytes(b"b")
    real = operations._object_properties

    def lying(store: object, obj: object) -> dict[int, object]:
        values = dict(real(store, obj))  # type: ignore[arg-type]
        values[Opc.STORAGE_ID] = 0x00010001
        return values

    monkeypatch.setattr(operations, "_object_properties", lying)
    with VirtualCamera(card) as vcam:
        vcam.stores[0x00020001] = Store(0x00020001, second, vcam.handles)
        with ptpkit.connect("virtual:", camera=vcam) as cam:
            fast = [(e.path, e.storage_id) for e in cam.walk()]
            assert cam._fast_listing_failed is False
            by_entry = [(cam.entry(e.handle).path) for e in cam.walk()]
            slow_paths = [(e.path, e.storage_id) for e in slow(cam).walk()]
    assert ("/store_00020001/DCIM/ON_B.JPG", 0x00020001) in fast
    assert fast == slow_paths
    assert by_entry == [path for path, _ in fast]


def test_index_steps_over_a_huge_array_value_without_holding_it() -> None:
    """One element whose value is a 24 MB array (a property the listing does not use): the
    index used to read all of it into memory at once; the object is still reported alone."""
    from ptpkit.codes.common import Opc

    items = 24 << 20
    huge = (
        (9).to_bytes(4, "little")
        + (0xDC99).to_bytes(2, "little")  # a vendor property
        + (0x4002).to_bytes(2, "little")  # AUINT8
        + items.to_bytes(4, "little")
        + bytes(items)
    )
    elements = [
        _element(9, Opc.PARENT_OBJECT, 0),
        _element(9, Opc.OBJECT_FORMAT, 0x3801),
        _element(9, Opc.OBJECT_FILE_NAME, "BIG.JPG"),
        huge,
        _element(10, Opc.OBJECT_FILE_NAME, "NEXT.JPG"),
    ]
    data = _proplist(elements)
    size = len(data.getvalue())

    def peak_bytes() -> tuple[int, listing.PropListIndex]:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            index = listing.PropListIndex(data, size)
            return tracemalloc.get_traced_memory()[1] - base, index
        finally:
            tracemalloc.stop()

    peak, index = in_a_forked_child(peak_bytes)  # as the listing's peaks above (tests.forked)
    assert peak < 8 << 20, peak  # was: more than the 24 MB array
    assert [index.handles[i] for i in range(len(index))] == [9, 10]
    with pytest.raises(DecodeError):
        index.props(0)  # more than MAX_OBJECT_PROPS_BYTES: that object alone is skipped
    cut = io.BytesIO(data.getvalue()[: size - 100])
    with pytest.raises(DecodeError):
        listing.PropListIndex(cut, size - 100)


@pytest.mark.parametrize("path", ["fast", "slow"])
def test_an_object_listed_with_the_handle_meaning_all_is_skipped_not_deletable(
    make_rig: Callable[..., Rig], path: str
) -> None:
    """A camera that lists an object as 0xFFFFFFFF: an Entry with that handle made delete()
    send DeleteObject(0xFFFFFFFF), which deletes every object on the card."""
    from ptpkit.errors import UsageError

    vcam = VirtualCamera(synthetic=SyntheticCard(files=2, depth=1))
    store = vcam.stores[0x00010001]
    store._first = 0xFFFFFFFD  # type: ignore[attr-defined]  (the folder, then 0x..FE, 0x..FF)
    cam = make_rig(vcam).cam
    if path == "slow":
        slow(cam)
    skipped: list[SkippedObject] = []
    walked = list(cam.walk(on_error=skipped.append))
    assert [e.handle for e in walked] == [0xFFFFFFFD, 0xFFFFFFFE]
    assert [s.handle for s in skipped] == [0xFFFFFFFF]
    folder, first = walked[0].path, walked[1].path
    with pytest.raises(ptpkit.errors.NotFoundError):
        cam.find(first.replace("1.JPG", "2.JPG"))  # the object numbered 0xFFFFFFFF
    assert cam.find(first).handle == 0xFFFFFFFE
    assert [e.handle for e in cam.list_folder(folder)] == [0xFFFFFFFE]
    entry = cam.entry(0xFFFFFFFE)
    forged = type(entry)(**{**entry.__dict__, "handle": 0xFFFFFFFF})
    with pytest.raises(UsageError):
        cam.delete(forged)
