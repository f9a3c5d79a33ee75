"""The virtual camera as a responder: what it answers, and what it does (or refuses to do) to its
card. Driven through the client and raw transactions over every transport in ``TRANSPORTS``."""

from __future__ import annotations

import datetime as _dt
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ptpkit.codes.common import Dpc, Ec, Ofc, Op, Rc
from ptpkit.core.datasets import ObjectInfo, decode_uint32_array
from ptpkit.core.datatypes import parse_datetime
from ptpkit.errors import InvalidParameterError
from ptpkit.virtual import DEFAULT_STORAGE_ID, VirtualCamera
from ptpkit.virtual.storage import UPLOAD_PREFIX

if TYPE_CHECKING:
    from conftest import Rig

ALL = 0xFFFFFFFF
ROOT = 0xFFFFFFFF

UNSAFE_NAMES = [
    "a/b",
    "../escape",
    "..",
    ".",
    "",
    "a\\b",
    "..\\escape",
    "nul\x00byte",
    "trailing-nul\x00",
    "bell\x07",
    "new\nline",
    "tab\there",
    "del\x7f",
    "é" * 200,  # 400 bytes of UTF-8: longer than any file system takes
    ".ptpkit-upload-7",  # the hidden name of an upload in progress
]


class Interrupted(Exception):
    """Raised by a test's progress callback to break a transfer midway."""


def send_object_info(rig: Rig, name: str, *, parent: int = ROOT, folder: bool = False) -> int:
    """A raw SendObjectInfo for ``name``; returns the response code."""
    info = ObjectInfo(
        storage_id=DEFAULT_STORAGE_ID,
        object_format=Ofc.ASSOCIATION if folder else Ofc.TEXT,
        association_type=1 if folder else 0,
        compressed_size=0 if folder else 4,
        filename=name,
    )
    result = rig.cam.transaction(
        Op.SEND_OBJECT_INFO, [DEFAULT_STORAGE_ID, parent], data=info.to_bytes()
    )
    return result.code


def handles(rig: Rig, storage_id: int, parent: int, object_format: int = 0) -> set[int]:
    result = rig.cam.transaction(Op.GET_OBJECT_HANDLES, [storage_id, object_format, parent])
    assert result.ok, result.name
    return set(decode_uint32_array(result.data))


def handle_of(rig: Rig, path: str) -> int:
    return rig.cam.find(path).handle


def files_named(root: Path, prefix: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(prefix)]


# -- names from the client -------------------------------------------------------------------


@pytest.mark.parametrize("name", UNSAFE_NAMES, ids=repr)
def test_send_object_info_refuses_unsafe_names(rig: Rig, name: str) -> None:
    before = rig.card_tree()
    listed = [e.path for e in rig.cam.walk()]
    outside = sorted(p.name for p in rig.card.parent.iterdir())
    misc = handle_of(rig, "MISC")
    assert send_object_info(rig, name) == Rc.INVALID_PARAMETER
    assert send_object_info(rig, name, parent=misc) == Rc.INVALID_PARAMETER
    assert send_object_info(rig, name, parent=misc, folder=True) == Rc.INVALID_PARAMETER
    # A SendObject now has no object to fill.
    assert rig.cam.transaction(Op.SEND_OBJECT, data=b"data").code == Rc.NO_VALID_OBJECT_INFO
    with pytest.raises(InvalidParameterError) as caught:
        rig.cam.upload(io.BytesIO(b"data"), name=name, folder="MISC")
    assert caught.value.code == Rc.INVALID_PARAMETER
    assert rig.card_tree() == before
    assert sorted(p.name for p in rig.card.parent.iterdir()) == outside
    assert [e.path for e in rig.cam.walk()] == listed


def test_names_are_not_reused_through_send_object_info(rig: Rig) -> None:
    before = rig.card_tree()
    # A taken name is refused too: an upload never replaces what is on the card.
    assert send_object_info(rig, "README.TXT", parent=handle_of(rig, "MISC")) == (
        Rc.INVALID_PARAMETER
    )
    assert send_object_info(rig, "MISC", folder=True) == Rc.INVALID_PARAMETER
    assert rig.card_tree() == before


def test_an_interrupted_upload_leaves_nothing(rig: Rig, tmp_path: Path) -> None:
    source = tmp_path / "BIG.BIN"
    data = os.urandom(3 * 2**20 + 99)
    source.write_bytes(data)
    before = rig.card_tree()
    reads: list[int] = []

    def stop_on_second_chunk(done: int, total: int | None) -> None:
        reads.append(done)
        if len(reads) == 2:  # the first chunk is on its way to the camera by now
            raise Interrupted

    with pytest.raises(Interrupted):
        rig.cam.upload(source, folder="DCIM", progress=stop_on_second_chunk)
    assert not (rig.card / "DCIM/BIG.BIN").exists()
    assert files_named(rig.card, UPLOAD_PREFIX) == []
    assert rig.card_tree() == before
    assert "BIG.BIN" not in {e.name for e in rig.cam.walk()}

    # The link and the name are both still usable.
    entry = rig.cam.upload(source, folder="DCIM")
    assert entry.path == "/store_00010001/DCIM/BIG.BIN"
    assert (rig.card / "DCIM/BIG.BIN").read_bytes() == data
    assert files_named(rig.card, UPLOAD_PREFIX) == []


def test_send_object_with_the_wrong_size_keeps_nothing(rig: Rig) -> None:
    before = rig.card_tree()
    assert send_object_info(rig, "SHORT.TXT") == Rc.OK  # announced 4 bytes
    result = rig.cam.transaction(Op.SEND_OBJECT, data=b"too many bytes")
    assert result.code == Rc.INCOMPLETE_TRANSFER
    assert rig.card_tree() == before
    assert "SHORT.TXT" not in {e.name for e in rig.cam.walk()}


# -- FormatStore -------------------------------------------------------------------------------


def test_format_store_erases_only_the_temporary_sample_card(
    make_rig: Callable[..., Rig],
) -> None:
    temporary = make_rig(VirtualCamera())
    assert temporary.vcam.temporary
    assert list(temporary.cam.walk())
    result = temporary.cam.transaction(Op.FORMAT_STORE, [DEFAULT_STORAGE_ID])
    assert result.ok
    assert list(temporary.cam.walk()) == []
    assert list(temporary.card.iterdir()) == []
    assert temporary.cam.transaction(Op.FORMAT_STORE, [0x00020001]).code == Rc.INVALID_STORAGE_ID


def test_format_store_refuses_a_user_folder(rig: Rig) -> None:
    assert not rig.vcam.temporary
    before = rig.card_tree()
    listed = [e.path for e in rig.cam.walk()]
    result = rig.cam.transaction(Op.FORMAT_STORE, [DEFAULT_STORAGE_ID])
    assert result.code == Rc.ACCESS_DENIED
    assert rig.card_tree() == before
    assert [e.path for e in rig.cam.walk()] == listed


# -- sessions ----------------------------------------------------------------------------------


def test_open_session_twice(rig: Rig) -> None:
    again = rig.cam.transaction(Op.OPEN_SESSION, [rig.cam.session_id])
    assert again.code == Rc.SESSION_ALREADY_OPEN
    assert again.name == "SessionAlreadyOpened"  # ptp.h spelling
    assert rig.cam.transaction(Op.OPEN_SESSION, [7]).code == Rc.SESSION_ALREADY_OPEN
    assert rig.cam.storage_ids() == (DEFAULT_STORAGE_ID,)


def test_operations_without_a_session(rig: Rig) -> None:
    cam = rig.cam
    before = rig.card_tree()
    assert cam.transaction(Op.CLOSE_SESSION).ok
    for code, params in (
        (Op.GET_STORAGE_IDS, []),
        (Op.GET_OBJECT_HANDLES, [ALL, 0, 0]),
        (Op.GET_OBJECT, [1]),
        (Op.GET_DEVICE_PROP_VALUE, [Dpc.EXPOSURE_INDEX]),
        (Op.INITIATE_CAPTURE, [0, 0]),
    ):
        assert cam.transaction(code, params).code == Rc.SESSION_NOT_OPEN
    # Outside a session, a data-out operation is refused after its data.
    assert cam.transaction(Op.SEND_OBJECT_INFO, [0, ROOT], data=b"x" * 60).code == (
        Rc.SESSION_NOT_OPEN
    )
    assert cam.transaction(Op.CLOSE_SESSION).code == Rc.SESSION_NOT_OPEN
    # GetDeviceInfo needs no session; OpenSession brings everything back.
    assert cam.transaction(Op.GET_DEVICE_INFO).ok
    assert cam.transaction(Op.OPEN_SESSION, [cam.session_id]).ok
    assert cam.storage_ids() == (DEFAULT_STORAGE_ID,)
    assert rig.card_tree() == before


# -- listing -----------------------------------------------------------------------------------


def test_get_object_handles_semantics(rig: Rig) -> None:
    entries = {e.path.removeprefix("/store_00010001/"): e.handle for e in rig.cam.walk()}
    every = set(entries.values())
    assert handles(rig, ALL, 0) == every
    assert handles(rig, DEFAULT_STORAGE_ID, 0) == every
    assert handles(rig, ALL, ROOT) == {entries["DCIM"], entries["MISC"]}
    assert handles(rig, DEFAULT_STORAGE_ID, entries["DCIM"]) == {
        entries["DCIM/100PTPKT"],
        entries["DCIM/101PTPKT"],
    }
    assert handles(rig, DEFAULT_STORAGE_ID, entries["MISC/nested/level2"]) == {
        entries["MISC/nested/level2/level3"]
    }
    jpegs = {h for p, h in entries.items() if p.endswith(".JPG")}
    assert handles(rig, ALL, 0, Ofc.EXIF_JPEG) == jpegs
    assert len(jpegs) == 5

    count = rig.cam.transaction(Op.GET_NUM_OBJECTS, [ALL, 0, 0])
    assert count.ok
    assert count.params == (len(every),)

    file_handle = entries["MISC/README.TXT"]
    for storage_id in (ALL, DEFAULT_STORAGE_ID):
        result = rig.cam.transaction(Op.GET_OBJECT_HANDLES, [storage_id, 0, file_handle])
        assert result.code == Rc.INVALID_PARENT_OBJECT
    unknown = rig.cam.transaction(Op.GET_OBJECT_HANDLES, [DEFAULT_STORAGE_ID, 0, 0xBEEF])
    assert unknown.code == Rc.INVALID_OBJECT_HANDLE
    bad_store = rig.cam.transaction(Op.GET_OBJECT_HANDLES, [0x00020001, 0, 0])
    assert bad_store.code == Rc.INVALID_STORAGE_ID


def test_get_partial_object_reports_the_bytes_sent(rig: Rig) -> None:
    content = (rig.card / "DCIM/100PTPKT/IMG_0001.JPG").read_bytes()
    handle = handle_of(rig, "DCIM/100PTPKT/IMG_0001.JPG")
    size = len(content)

    def partial(offset: int, length: int) -> tuple[int, tuple[int, ...], bytes]:
        result = rig.cam.transaction(Op.GET_PARTIAL_OBJECT, [handle, offset, length])
        return result.code, result.params, result.data

    assert partial(10, 100) == (Rc.OK, (100,), content[10:110])
    assert partial(size - 5, 100) == (Rc.OK, (5,), content[-5:])
    assert partial(0, 0xFFFFFFFF) == (Rc.OK, (size,), content)
    assert partial(size, 10) == (Rc.OK, (0,), b"")
    assert partial(size + 1, 10)[0] == Rc.INVALID_PARAMETER
    folder = handle_of(rig, "DCIM")
    result = rig.cam.transaction(Op.GET_PARTIAL_OBJECT, [folder, 0, 10])
    assert result.code == Rc.INVALID_OBJECT_HANDLE

    result = rig.cam.transaction(Op.ANDROID_GET_PARTIAL_OBJECT_64, [handle, 20, 0, 30])
    assert (result.code, result.params, result.data) == (Rc.OK, (30,), content[20:50])


# -- properties --------------------------------------------------------------------------------


def test_date_time_follows_the_clock_after_a_set(rig: Rig) -> None:
    cam = rig.cam
    list(cam.events(timeout_s=0))
    cam.set_property("date-time", "2001-02-03T04:05:06")
    assert cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=5).params == (Dpc.DATE_TIME,)
    first_text = cam.get_property("date-time")
    assert isinstance(first_text, str)
    first = parse_datetime(first_text)
    assert first is not None
    assert _dt.datetime(2001, 2, 3, 4, 5, 6) <= first <= _dt.datetime(2001, 2, 3, 4, 5, 9)
    assert cam.get_property_text("date-time").startswith("2001-02-03 04:05:")
    time.sleep(1.05)
    later = parse_datetime(str(cam.get_property("date-time")))
    assert later is not None
    assert later > first  # the camera's clock runs on from where it was set
    assert later - first < _dt.timedelta(seconds=5)

    # A picture taken now carries the camera's date.
    new = cam.capture(timeout_s=10)[0]
    assert new.captured is not None
    assert new.captured.date() == _dt.date(2001, 2, 3)


def test_reset_device_prop_value(rig: Rig) -> None:
    rig.cam.set_property("iso", 1600)
    assert rig.cam.transaction(Op.RESET_DEVICE_PROP_VALUE, [Dpc.EXPOSURE_INDEX]).ok
    assert rig.cam.get_property("iso") == 200
    battery = rig.cam.transaction(Op.RESET_DEVICE_PROP_VALUE, [Dpc.BATTERY_LEVEL])
    assert battery.code == Rc.ACCESS_DENIED


# -- the card folder ---------------------------------------------------------------------------


def test_symlinks_in_a_served_folder_are_not_listed(
    card: Path, tmp_path: Path, make_rig: Callable[..., Rig]
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the camera\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "PRIVATE.JPG").write_bytes(b"\xff\xd8private")
    (card / "OUT.TXT").symlink_to(secret)
    (card / "OUTDIR").symlink_to(outside, target_is_directory=True)
    (card / "DCIM/100PTPKT/LINK.JPG").symlink_to(card / "DCIM/100PTPKT/IMG_0001.JPG")
    rig = make_rig(VirtualCamera(card))

    names = {e.name for e in rig.cam.walk()}
    assert names.isdisjoint({"OUT.TXT", "OUTDIR", "LINK.JPG", "PRIVATE.JPG"})
    cam = rig.cam
    cam._fast_listing_failed = True
    assert names == {e.name for e in cam.walk()}
    cam._fast_listing_failed = False
    assert len(names) == 14
    for path in ("OUT.TXT", "OUTDIR", "OUTDIR/PRIVATE.JPG", "DCIM/100PTPKT/LINK.JPG"):
        with pytest.raises(LookupError):
            rig.cam.find(path)
    # An upload cannot write through a link either.
    with pytest.raises(InvalidParameterError):
        rig.cam.upload(io.BytesIO(b"overwritten"), name="OUT.TXT")
    assert secret.read_text() == "not for the camera\n"
