"""Local files from camera objects: names (``Entry.local_name``, ``numbered``, ``unique_path``) and
writing (``publish``, ``write_file``, and ``Camera.download`` through them): never an existing file
replaced unless asked, never an incomplete file under the final name, never a write through a
link someone left in the folder."""

from __future__ import annotations

import errno
import os
import sys
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ptpkit.client.files import (
    Entry,
    numbered,
    open_part,
    part_path,
    publish,
    unique_path,
    write_file,
    writing,
)

if TYPE_CHECKING:
    from conftest import Rig


def _entry(name: str, handle: int = 0x2A) -> Entry:
    return Entry(
        handle=handle,
        storage_id=0x00010001,
        parent=0,
        name=name,
        path=f"/store_00010001/{name}",
        size=1,
        is_folder=False,
        object_format=0x3801,
    )


def test_local_name_is_safe_with_the_handle_as_fallback() -> None:
    assert _entry("IMG_0001.JPG").local_name == "IMG_0001.JPG"
    assert _entry("../x.jpg").local_name == ".._x.jpg"
    assert _entry("..").local_name == "object_0000002a"
    assert _entry("").local_name == "object_0000002a"


def test_numbered_names_keep_the_extension() -> None:
    assert list(islice(numbered("IMG.JPG"), 3)) == ["IMG.JPG", "IMG (2).JPG", "IMG (3).JPG"]
    assert list(islice(numbered("README"), 2)) == ["README", "README (2)"]


def test_unique_path_skips_files_links_parts_and_taken_names(tmp_path: Path) -> None:
    (tmp_path / "A.JPG").write_bytes(b"")
    (tmp_path / "A (2).JPG").symlink_to(tmp_path / "nowhere")  # a dangling link holds its name
    part_path(tmp_path / "A (3).JPG").write_bytes(b"")  # so does a download in progress
    taken = {"A (4).JPG"}
    assert unique_path(tmp_path, "A.JPG", taken) == tmp_path / "A (5).JPG"
    assert "A (5).JPG" in taken


def test_publish_never_replaces_a_file_unless_asked(tmp_path: Path) -> None:
    final = tmp_path / "IMG.JPG"
    part = part_path(final)
    part.write_bytes(b"new")
    final.write_bytes(b"theirs")  # appeared while the download ran
    with pytest.raises(FileExistsError):
        publish(part, final)
    assert final.read_bytes() == b"theirs"
    assert part.read_bytes() == b"new"  # kept: the data is not lost

    publish(part, final, overwrite=True)
    assert final.read_bytes() == b"new"
    assert not part.exists()

    part.write_bytes(b"again")
    link = tmp_path / "LINK.JPG"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        publish(part, link)
    assert link.is_symlink()


def test_publish_without_hard_links_checks_then_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")  # as on a FAT card

    monkeypatch.setattr(os, "link", no_links)
    final = tmp_path / "IMG.JPG"
    part = part_path(final)
    part.write_bytes(b"new")
    publish(part, final)
    assert final.read_bytes() == b"new"
    assert not part.exists()

    part.write_bytes(b"newer")
    with pytest.raises(FileExistsError):
        publish(part, final)
    assert final.read_bytes() == b"new"


def test_write_file_keeps_existing_files_and_leaves_no_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = tmp_path / "thumb.jpg"
    write_file(final, b"one")
    assert final.read_bytes() == b"one"
    umask = os.umask(0)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o666 & ~umask  # as any new file, not 0600

    with pytest.raises(FileExistsError):
        write_file(final, b"two")
    assert final.read_bytes() == b"one"
    write_file(final, b"two", overwrite=True)
    assert final.read_bytes() == b"two"

    def fail(src: object, dst: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        write_file(final, b"three", overwrite=True)
    assert final.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thumb.jpg"]


def test_write_file_does_not_write_through_a_planted_part_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me")
    folder = tmp_path / "out"
    folder.mkdir()
    part_path(folder / "thumb.jpg").symlink_to(outside)
    write_file(folder / "thumb.jpg", b"thumbnail")
    assert outside.read_bytes() == b"keep me"
    assert (folder / "thumb.jpg").read_bytes() == b"thumbnail"


def test_download_does_not_write_through_a_planted_part_link(rig: Rig, tmp_path: Path) -> None:
    expected = (rig.card / "DCIM/100PTPKT/IMG_0001.JPG").read_bytes()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"short")  # shorter than the picture: would be "resumed"
    folder = tmp_path / "out"
    folder.mkdir()
    part_path(folder / "IMG_0001.JPG").symlink_to(outside)
    saved = rig.cam.download("DCIM/100PTPKT/IMG_0001.JPG", folder)
    assert saved == folder / "IMG_0001.JPG"
    assert saved.read_bytes() == expected
    assert outside.read_bytes() == b"short"
    # The link is not ours: left where it was, neither followed nor removed.
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0001.JPG", "IMG_0001.JPG.ptpkit-part"]
    assert part_path(folder / "IMG_0001.JPG").is_symlink()


def test_download_refuses_a_dangling_link_under_the_final_name(rig: Rig, tmp_path: Path) -> None:
    (tmp_path / "IMG_0001.JPG").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        rig.cam.download("DCIM/100PTPKT/IMG_0001.JPG", tmp_path)
    assert not (tmp_path / "nowhere").exists()
    assert not part_path(tmp_path / "IMG_0001.JPG").exists()  # refused before any transfer


@pytest.mark.skipif(os.name == "nt", reason="flock is POSIX; Windows opens partial files unlocked")
def test_open_part_lets_one_download_write_at_a_time(tmp_path: Path) -> None:
    final = tmp_path / "IMG_0001.JPG"
    with open_part(final, owner="object A") as first:
        first.file.write(b"first")
        with (
            pytest.raises(OSError, match="another download") as refused,
            open_part(final, owner="object A"),
        ):
            pass
        assert refused.value.errno == errno.EBUSY
    with open_part(final, owner="object A") as again:  # released on close
        assert again.path == part_path(final)
        assert again.file.read() == b"first"


def test_download_refuses_a_part_another_download_is_writing(rig: Rig, tmp_path: Path) -> None:
    """Two downloads of one object (two processes) would append to one partial file and publish
    a mix; the second is refused and the first's bytes stay as they were."""
    folder = tmp_path / "out"
    folder.mkdir()
    entry = rig.cam.find("DCIM/100PTPKT/IMG_0001.JPG")
    owner = rig.cam._part_owner(entry)
    with open_part(folder / "IMG_0001.JPG", owner=owner) as other:
        other.file.write(b"\xff\xd8 someone else's bytes")
        other.file.flush()
        with pytest.raises(OSError, match="another download") as refused:
            rig.cam.download(entry, folder)
        assert refused.value.errno == errno.EBUSY
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0001.JPG.ptpkit-part"]
    assert part_path(folder / "IMG_0001.JPG").read_bytes() == b"\xff\xd8 someone else's bytes"


@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_writing_sets_the_time_where_an_open_file_cannot_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    """Windows sets no time through a file descriptor (os.utime is not in os.supports_fd): the
    published file must still get the camera's time, set by name."""
    monkeypatch.setattr(os, "supports_fd", os.supports_fd - {os.utime})
    monkeypatch.setattr(sys, "platform", platform)
    stamp = 1_600_000_000.0
    final = tmp_path / "IMG.JPG"
    with writing(final, mtime=stamp) as file:
        file.write(b"picture")
    monkeypatch.undo()
    assert final.read_bytes() == b"picture"
    assert final.stat().st_mtime == stamp


def test_a_complete_download_that_cannot_take_its_name_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    """Another program (another ptpkit) made the final name while the download ran: the
    publish is refused, and the complete copy, which no resume can use (nothing is left to
    read), must not stay behind as a full-size NAME.ptpkit-part."""
    final = tmp_path / "IMG.JPG"

    def download() -> None:
        with writing(final, resumable=True, owner="camera's IMG.JPG") as file:
            file.write(b"picture")
            final.write_bytes(b"theirs")

    with pytest.raises(FileExistsError):
        download()
    assert final.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG.JPG"]
