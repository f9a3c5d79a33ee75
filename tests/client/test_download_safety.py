"""Downloads never lose or clobber anything (issue 11, sections 2 and 3), at the library level:
partial files are ptpkit's own and marked, a file ptpkit did not make is never touched, two
objects never share a partial file, a camera that sends more than the object is stopped at its
size, and a downloaded file keeps the camera's time."""

from __future__ import annotations

import dataclasses
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.client.files import PART_XATTR, open_part, part_path
from ptpkit.core.datasets import SIZE_UNKNOWN_32
from ptpkit.errors import RemoteProtocolError, ResponseError
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.misbehave import Misbehavior
from ptpkit.virtual.server import PtpIpServer

PICTURE = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture
def card(tmp_path: Path) -> Path:
    root = tmp_path / "card"
    (root / "DCIM").mkdir(parents=True)
    (root / "DCIM/IMG.JPG").write_bytes(PICTURE)
    # A camera file whose name ends in ptpkit's partial suffix: its copy must not be taken for
    # the partial file of IMG.JPG.
    (root / "DCIM/IMG.JPG.ptpkit-part").write_bytes(b"a camera file" * 100)
    stamp = time.mktime((2021, 7, 14, 10, 30, 15, 0, 0, -1))
    os.utime(root / "DCIM/IMG.JPG", (stamp, stamp))
    return root


def _open(card: Path, modes: str = "", transport: str = "virtual") -> Iterator[Camera]:
    with VirtualCamera(card, misbehavior=Misbehavior.parse(modes)) as vcam:
        if transport == "ptpip":
            with (
                PtpIpServer(vcam, "127.0.0.1", 0) as server,
                ptpkit.connect(server.url, timeout_s=5) as cam,
            ):
                yield cam
        else:
            with ptpkit.connect(f"{transport}:", camera=vcam, timeout_s=5) as cam:
                yield cam


@pytest.fixture
def cam(card: Path) -> Iterator[Camera]:
    yield from _open(card)


def _snapshot(folder: Path) -> dict[str, tuple[bool, bytes, int]]:
    return {
        p.name: (p.is_symlink(), b"" if p.is_symlink() else p.read_bytes(), p.lstat().st_ino)
        for p in folder.iterdir()
    }


def test_files_ptpkit_did_not_make_are_never_touched(cam: Camera, tmp_path: Path) -> None:
    """A browser's NAME.part, an unmarked file and a link at ptpkit's partial name: none of them
    written, truncated, renamed or deleted; the download takes another partial name."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "IMG.JPG.part").write_bytes(b"a browser's unfinished download")
    part_path(out / "IMG.JPG").write_bytes(PICTURE[:100])  # unmarked: not provably ours
    (tmp_path / "elsewhere").write_bytes(b"x")
    part_path(out / "IMG.JPG", 2).symlink_to(tmp_path / "elsewhere")
    before = _snapshot(out)

    saved = cam.download("/store_00010001/DCIM/IMG.JPG", out)

    assert saved == out / "IMG.JPG"
    assert saved.read_bytes() == PICTURE
    after = _snapshot(out)
    del after["IMG.JPG"]
    assert after == before  # the three others as they were, same inodes
    assert (tmp_path / "elsewhere").read_bytes() == b"x"


def test_a_resume_uses_only_this_objects_own_partial_file(cam: Camera, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    entry = cam.find("/store_00010001/DCIM/IMG.JPG")
    # Another object's partial file under the first name (same bytes, another owner): not used.
    with open_part(out / "IMG.JPG", owner="another camera's IMG.JPG") as other:
        other.file.write(PICTURE[:5000])
    with open_part(out / "IMG.JPG", owner=cam._part_owner(entry)) as ours:
        assert ours.path == part_path(out / "IMG.JPG", 2)
        ours.file.write(PICTURE[:8000])

    saved = cam.download(entry, out)

    assert saved is not None
    assert saved.read_bytes() == PICTURE
    assert not part_path(out / "IMG.JPG", 2).exists()  # resumed, published
    assert part_path(out / "IMG.JPG").read_bytes() == PICTURE[:5000]  # left alone
    with pytest.raises(OSError, match="No data available"):
        os.getxattr(saved, PART_XATTR)  # the final file carries no partial mark


def test_two_objects_whose_names_meet_never_share_a_partial_file(
    cam: Camera, tmp_path: Path
) -> None:
    """The copy of the camera file IMG.JPG.ptpkit-part stands where IMG.JPG's partial file would
    go: IMG.JPG takes another partial name, and both files come out whole."""
    out = tmp_path / "out"
    out.mkdir()
    first = cam.download("/store_00010001/DCIM/IMG.JPG.ptpkit-part", out)
    second = cam.download("/store_00010001/DCIM/IMG.JPG", out)
    assert first is not None
    assert first.read_bytes() == b"a camera file" * 100
    assert second is not None
    assert second.read_bytes() == PICTURE
    assert sorted(p.name for p in out.iterdir()) == ["IMG.JPG", "IMG.JPG.ptpkit-part"]


def test_a_failed_download_keeps_its_marked_partial_file_for_a_resume(
    card: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for cam in _open(card, "truncated"):
        with pytest.raises(RemoteProtocolError):
            cam.download("/store_00010001/DCIM/IMG.JPG", out)
    part = part_path(out / "IMG.JPG")
    assert part.stat().st_size == len(PICTURE) // 2
    assert os.getxattr(part, PART_XATTR).startswith(b"ptpkit-part/1\n")
    for cam in _open(card):
        saved = cam.download("/store_00010001/DCIM/IMG.JPG", out)
        assert saved is not None
        assert saved.read_bytes() == PICTURE
    assert sorted(p.name for p in out.iterdir()) == ["IMG.JPG"]


@pytest.mark.parametrize("transport", ["virtual", "virtual+usb", "ptpip"])
def test_a_data_phase_longer_than_the_object_is_stopped_at_its_size(
    card: Path, tmp_path: Path, transport: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for cam in _open(card, "oversize", transport):
        with pytest.raises(RemoteProtocolError, match="more than the 16384 bytes"):
            cam.download("/store_00010001/DCIM/IMG.JPG", out)
        part = part_path(out / "IMG.JPG")
        assert part.read_bytes() == PICTURE  # up to the size, nothing past it
        assert not (out / "IMG.JPG").exists()

        memory = io.BytesIO()
        with pytest.raises(RemoteProtocolError):
            cam.download("/store_00010001/DCIM/IMG.JPG", memory)
        assert memory.getvalue() == PICTURE

        with pytest.raises(RemoteProtocolError):
            cam.read("/store_00010001/DCIM/IMG.JPG")
        # The link survived the cancelled transfers.
        assert cam.find("/store_00010001/DCIM/IMG.JPG").size == len(PICTURE)


def test_a_download_keeps_the_cameras_time(cam: Camera, tmp_path: Path) -> None:
    entry = cam.find("/store_00010001/DCIM/IMG.JPG")
    assert entry.modified is not None
    saved = cam.download(entry, tmp_path / "a.jpg")
    assert saved is not None
    expected = time.mktime((2021, 7, 14, 10, 30, 15, 0, 0, -1))  # local time, as gphoto2
    assert saved.stat().st_mtime == expected
    assert saved.stat().st_atime == expected

    fresh = cam.download(entry, tmp_path / "b.jpg", keep_time=False)
    assert fresh is not None
    assert abs(fresh.stat().st_mtime - time.time()) < 600


def test_a_partial_file_of_an_object_of_unknown_size_is_not_resumed(
    cam: Camera, tmp_path: Path
) -> None:
    """A PTP camera gives an object past 4 GiB the size 0xFFFFFFFF (unknown): a resume would
    read up to byte 0xFFFFFFFF and publish a 5 GiB video cut at 4 GiB. It starts over instead."""
    out = tmp_path / "out"
    out.mkdir()
    entry = dataclasses.replace(cam.find("/store_00010001/DCIM/IMG.JPG"), size=SIZE_UNKNOWN_32)
    with open_part(out / "IMG.JPG", owner=cam._part_owner(entry)) as ours:
        ours.file.write(PICTURE[:8000])

    saved = cam.download(entry, out)

    assert saved is not None
    assert saved.read_bytes() == PICTURE
    assert not part_path(out / "IMG.JPG").exists()


@pytest.mark.parametrize("refused", ["check", "rest"])
def test_a_camera_that_refuses_partial_reads_gets_the_object_whole(
    cam: Camera, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    """A camera that lists GetPartialObject but refuses it (GeneralError): the resume starts
    over with GetObject. It failed instead, and the partial file it kept made every later
    attempt fail the same way: the picture could never be downloaded."""
    out = tmp_path / "out"
    out.mkdir()
    entry = cam.find("/store_00010001/DCIM/IMG.JPG")
    with open_part(out / "IMG.JPG", owner=cam._part_owner(entry)) as ours:
        ours.file.write(PICTURE[:8000])
    real_range = Camera._read_range
    calls = []

    def refusing(self: Camera, handle: int, offset: int, length: int, sink: object) -> None:
        calls.append(offset)
        if refused == "check" or len(calls) > 1:
            raise ResponseError(0x2002, name="GeneralError", operation_name="GetPartialObject")
        real_range(self, handle, offset, length, sink)  # type: ignore[arg-type]

    monkeypatch.setattr(Camera, "_read_range", refusing)

    saved = cam.download(entry, out)

    assert calls  # the resume was tried
    assert saved is not None
    assert saved.read_bytes() == PICTURE
    assert sorted(p.name for p in out.iterdir()) == ["IMG.JPG"]
