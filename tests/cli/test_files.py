"""Files: download (bytes compared with the card), the never-overwrite and stay-inside rules,
--skip-existing, --new, --force-overwrite, interrupted downloads; upload, rm, thumb."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

import ptpkit
from ptpkit.cli import downloads
from ptpkit.cli.downloads import LOG_NAME, DownloadLog
from ptpkit.cli.output import Output
from ptpkit.client.files import Entry
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.content import generated_sha256

from .conftest import Cli, Served, card_files, one_line_error

IMG1 = "/store_00010001/DCIM/100PTPKT/IMG_0001.JPG"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _local_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != LOG_NAME
    }


def test_download_by_handle_path_and_folder(served: Served, cli: Cli, tmp_path: Path) -> None:
    card = card_files(served.card)
    out = tmp_path / "out"
    ls = cli(*served.camera_args(), "ls", "DCIM/100PTPKT", "--json").json()
    handle = ls[1]["hex"]
    result = cli(*served.camera_args(), "download", handle, IMG1, "-o", str(out), "--json")
    assert result.code == 0, result
    docs = result.json()
    assert [d["status"] for d in docs] == ["downloaded", "downloaded"]
    assert _local_files(out) == {
        "IMG_0002.JPG": card["/store_00010001/DCIM/100PTPKT/IMG_0002.JPG"],
        "IMG_0001.JPG": card[IMG1],
    }
    # No progress bar when piped, and no .part left behind.
    assert "━" not in result.stderr
    assert not list(out.glob("*part"))

    tree = tmp_path / "tree"
    result = cli(
        *served.camera_args(), "download", "/store_00010001/MISC", "--tree", "-o", str(tree)
    )
    assert result.code == 0, result
    assert _local_files(tree) == {
        "MISC/README.TXT": card["/store_00010001/MISC/README.TXT"],
        "MISC/nested/level2/level3/NOTES.TXT": card[
            "/store_00010001/MISC/nested/level2/level3/NOTES.TXT"
        ],
    }


def test_download_all_skip_existing_force_and_new(served: Served, cli: Cli, tmp_path: Path) -> None:
    card = card_files(served.card)
    out = tmp_path / "all"
    first = cli(*served.camera_args(), "download", "--all", "--tree", "-o", str(out))
    assert first.code == 0, first
    assert _local_files(out) == {path.split("/", 2)[2]: data for path, data in card.items()}

    # Again: every file exists; nothing is replaced and the command says so (exit 108).
    marker = out / "DCIM/100PTPKT/IMG_0001.JPG"
    marker.write_bytes(b"mine")
    again = cli(*served.camera_args(), "download", "--all", "--tree", "-o", str(out))
    assert again.code == 108, again
    assert "--skip-existing" in one_line_error(again)
    assert marker.read_bytes() == b"mine"

    skip = cli(
        *served.camera_args(),
        "download",
        "--all",
        "--tree",
        "-o",
        str(out),
        "--skip-existing",
        "--json",
    )
    assert skip.code == 0, skip
    assert {d["status"] for d in skip.json()} == {"skipped"}
    assert marker.read_bytes() == b"mine"

    force = cli(
        *served.camera_args(),
        "download",
        IMG1,
        "-o",
        str(out / "DCIM/100PTPKT"),
        "--force-overwrite",
    )
    assert force.code == 0, force
    assert marker.read_bytes() == card[IMG1]

    # --new: only what was not downloaded into this folder before: the new capture.
    capture = cli(*served.camera_args(), "capture", "--json")
    [new_path] = [o["path"] for o in capture.json()[0]["objects"]]
    new = cli(
        *served.camera_args(), "download", "--all", "--tree", "--new", "-o", str(out), "--json"
    )
    assert new.code == 0, new
    downloaded = [d["path"] for d in new.json() if d["status"] == "downloaded"]
    assert downloaded == [new_path]
    assert (out / new_path.split("/", 2)[2]).read_bytes() == card_files(served.card)[new_path]
    assert f"{new_path}|{len(card_files(served.card)[new_path])}" in _records(out)


def test_download_never_writes_outside_the_folder(served: Served, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"keep me")
    (out / "IMG_0001.JPG").symlink_to(outside)
    refused = cli(*served.camera_args(), "download", IMG1, "-o", str(out))
    assert refused.code == 108, refused
    assert outside.read_bytes() == b"keep me"
    # Replacing it replaces the link, not what it points at.
    forced = cli(*served.camera_args(), "download", IMG1, "-o", str(out), "--force-overwrite")
    assert forced.code == 0, forced
    assert outside.read_bytes() == b"keep me"
    assert not (out / "IMG_0001.JPG").is_symlink()
    assert (out / "IMG_0001.JPG").read_bytes() == card_files(served.card)[IMG1]


def test_force_overwrite_never_replaces_or_fills_a_folder(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "README.TXT").mkdir(parents=True)  # a local folder with the camera file's name
    result = cli(
        *served.camera_args(), "download", "MISC/README.TXT", "-o", str(out), "--force-overwrite"
    )
    assert result.code == 108, result
    assert "is a folder" in one_line_error(result)
    assert list((out / "README.TXT").iterdir()) == []  # nothing written into it either


def test_interrupted_download_leaves_only_a_part_file_and_resumes(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    size = 768 << 20
    served.vcam.add_generated_object(size, name="BIG.MOV", seed=7)
    out = tmp_path / "out"
    process = cli.popen(
        *served.camera_args(), "download", "/store_00010001/BIG.MOV", "-o", str(out)
    )
    part = out / "BIG.MOV.ptpkit-part"
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not (out / "BIG.MOV").exists()
    assert part.exists()
    assert part.stat().st_size < size

    resumed = cli(
        *served.camera_args(), "-v", "download", "/store_00010001/BIG.MOV", "-o", str(out)
    )
    assert resumed.code == 0, resumed
    assert "GetPartialObject" in resumed.stderr  # resumed, not started again
    assert not part.exists()
    digest = hashlib.sha256()
    with (out / "BIG.MOV").open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() == generated_sha256(size, seed=7)
    (out / "BIG.MOV").unlink()  # 768 MiB: not kept until the end of the run


def test_upload_rm_thumb(served: Served, cli: Cli, tmp_path: Path) -> None:
    local = tmp_path / "notes.txt"
    local.write_bytes(b"uploaded by the CLI test\n")
    up = cli(*served.camera_args(), "upload", str(local), "--folder", "MISC", "--json")
    assert up.code == 0, up
    [entry] = up.json()
    assert entry["path"] == "/store_00010001/MISC/notes.txt"
    assert (served.card / "MISC/notes.txt").read_bytes() == local.read_bytes()

    top = cli(*served.camera_args(), "upload", str(local), "--storage", "store_00010001")
    assert top.code == 0, top
    assert (served.card / "notes.txt").exists()

    rm = cli(*served.camera_args(), "rm", "MISC/notes.txt", "--json")
    assert rm.code == 0, rm
    assert [e["path"] for e in rm.json()] == ["/store_00010001/MISC/notes.txt"]
    assert not (served.card / "MISC/notes.txt").exists()

    folder = cli(*served.camera_args(), "rm", "MISC/nested")
    assert folder.code == 2
    assert "-r" in one_line_error(folder)
    assert (served.card / "MISC/nested").is_dir()
    recursive = cli(*served.camera_args(), "rm", "-r", "MISC/nested")
    assert recursive.code == 0, recursive
    assert not (served.card / "MISC/nested").exists()

    thumbs = tmp_path / "thumbs"
    thumb = cli(*served.camera_args(), "thumb", IMG1, "-o", str(thumbs), "--json")
    assert thumb.code == 0, thumb
    [doc] = thumb.json()
    saved = Path(doc["file"])
    assert saved == thumbs / "thumb_IMG_0001.jpg"
    assert saved.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    assert doc["size"] == saved.stat().st_size
    assert saved.stat().st_mode & 0o777 == 0o666 & ~_umask()  # as any new file, not 0600
    assert sorted(p.name for p in thumbs.iterdir()) == ["thumb_IMG_0001.jpg"]  # nothing else
    again = cli(*served.camera_args(), "thumb", IMG1, "-o", str(thumbs))
    assert again.code == 108
    assert "--force-overwrite" in one_line_error(again)


def test_rm_refuses_the_reserved_handles(served: Served, cli: Cli) -> None:
    before = card_files(served.card)
    # DeleteObject(0xFFFFFFFF) would empty the card: never sent, whatever the camera would say.
    for handle in ("0xFFFFFFFF", "4294967295", "0"):
        result = cli(*served.camera_args(), "rm", "-r", handle)
        assert result.code == 2, result
        assert "reserved" in one_line_error(result)
    assert card_files(served.card) == before


def _records(folder: Path) -> dict[str, Any]:
    """The object keys the folder's download record holds (one camera), with their files."""
    with contextlib.closing(sqlite3.connect(folder / LOG_NAME)) as db:
        rows = db.execute("SELECT camera, object, file FROM downloads").fetchall()
    assert len({camera for camera, _, _ in rows}) <= 1
    return {key: file for _, key, file in rows}


def test_the_download_record_is_written_once_an_interval_not_once_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(downloads.time, "monotonic", lambda: 100.0)  # no time passes
    log = DownloadLog(tmp_path, "camera")
    for number in range(50):
        name = f"IMG_{number:04d}.JPG"
        entry = Entry(
            handle=number + 1,
            storage_id=0x00010001,
            parent=0,
            name=name,
            path=f"/store_00010001/{name}",
            size=1000 + number,
            is_folder=False,
            object_format=0x3801,
        )
        log.record(entry, PurePosixPath(name))
    assert len(_records(tmp_path)) == 1  # the first at once, the rest within the interval
    log.flush()
    assert len(_records(tmp_path)) == 50
    log.close()
    assert [p.name for p in tmp_path.iterdir()] == [LOG_NAME]  # no temporary file left


def test_an_interrupted_batch_keeps_the_record_of_what_it_downloaded(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(downloads.time, "monotonic", lambda: 100.0)
    out = tmp_path / "out"
    with VirtualCamera(card) as vcam, ptpkit.connect("virtual:", camera=vcam) as cam:
        planned = downloads.plan(cam, [cam.find("DCIM/100PTPKT")], tree=False)
        real_download = cam.download
        started: list[Entry] = []

        def download_then_ctrl_c(entry: Entry, *args: Any, **kwargs: Any) -> Path | None:
            started.append(entry)
            if len(started) == 3:
                raise KeyboardInterrupt
            return real_download(entry, *args, **kwargs)

        monkeypatch.setattr(cam, "download", download_then_ctrl_c)
        quiet = Output(io.StringIO(), io.StringIO(), progress=False)
        with pytest.raises(KeyboardInterrupt):
            downloads.run(cam, planned, out, downloads.Policy(), quiet)
    assert sorted(_records(out)) == sorted(f"{e.path}|{e.size}" for e in started[:2])


def test_download_leaves_a_file_another_download_is_writing(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    """Another ptpkit downloading the same object holds its partial file locked: that file is
    reported and left alone, the others are downloaded, and the exit code says not everything
    was."""
    from ptpkit.client.files import open_part

    card = card_files(served.card)
    out = tmp_path / "all"
    (out / "DCIM/100PTPKT").mkdir(parents=True)
    with ptpkit.connect(served.server.url) as cam:
        owner = cam._part_owner(cam.find(IMG1))
    with open_part(out / "DCIM/100PTPKT/IMG_0001.JPG", owner=owner) as other:
        other.file.write(b"theirs")
        other.file.flush()
        result = cli(*served.camera_args(), "download", "--all", "--tree", "-o", str(out))
    assert result.code == 108, result
    assert "another download is writing it" in one_line_error(result)
    assert "once the other download has finished" in result.stderr
    got = _local_files(out)
    assert got.pop("DCIM/100PTPKT/IMG_0001.JPG.ptpkit-part") == b"theirs"
    expected = {path.split("/", 2)[2]: data for path, data in card.items()}
    del expected["DCIM/100PTPKT/IMG_0001.JPG"]
    assert got == expected


def test_an_object_the_camera_refuses_does_not_stop_the_batch(card: Path, tmp_path: Path) -> None:
    """A picture deleted on the camera after the listing (InvalidObjectHandle) is reported; the
    rest of the batch is downloaded."""
    out = tmp_path / "out"
    with VirtualCamera(card) as vcam, ptpkit.connect("virtual:", camera=vcam) as cam:
        planned = downloads.plan(cam, [cam.find("DCIM/100PTPKT")], tree=False)
        gone = planned[1].entry
        found = vcam.find(gone.handle)
        assert found is not None
        store, obj = found
        store.delete(obj)  # on the camera, after the listing
        text = io.StringIO()
        outcomes = downloads.run(
            cam, planned, out, downloads.Policy(), Output(text, io.StringIO(), progress=False)
        )
    assert [o.status for o in outcomes].count("downloaded") == len(planned) - 1
    [refused] = [o for o in outcomes if o.status == "failed"]
    assert refused.entry == gone
    assert refused.reason == "the camera answered 0x2009 InvalidObjectHandle"
    assert f"not downloaded {gone.path}: " in text.getvalue()
    assert sorted(p.name for p in out.iterdir() if p.name != LOG_NAME) == sorted(
        p.entry.name for p in planned if p.entry != gone
    )


def test_download_exit_code_when_only_the_camera_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every failure a camera refusal: exit code 106 (camera error), not 108 (a local file)."""
    from ptpkit.cli.main import main

    real_plan = downloads.plan_stream

    def plan_with_a_stale_entry(
        cam: Any, roots: Any, **options: Any
    ) -> Iterator[downloads.Planned]:
        planned = list(real_plan(cam, roots, **options))
        stale = replace(planned[0].entry, handle=0x0BAD0BAD, name="GONE.JPG")
        return iter([*planned, downloads.Planned(stale, PurePosixPath("GONE.JPG"))])

    monkeypatch.setattr(downloads, "plan_stream", plan_with_a_stale_entry)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        main(["--camera", "virtual:", "download", "DCIM/100PTPKT/IMG_0001.JPG", "-o", str(out)])
    assert exited.value.code == 106
    error = capsys.readouterr().err
    assert "1 file(s) not downloaded" in error
    assert "(the camera answered 0x2009 InvalidObjectHandle)" in error
    assert sorted(p.name for p in out.iterdir() if p.name != LOG_NAME) == ["IMG_0001.JPG"]


def test_capture_download_that_saves_nothing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new picture that could not be saved (a full disk) is named and the capture goes on,
    but the command does not end with 0 as if it were saved: a script would go on without it."""
    from ptpkit.cli.main import main
    from ptpkit.client.camera import Camera

    def full_disk(*args: Any, **options: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Camera, "download", full_disk)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        main(["--camera", "virtual:", "capture", "--download", str(out)])
    assert exited.value.code == 108
    error = capsys.readouterr().err
    assert "1 file(s) not downloaded" in error
    assert "no space left" in error


def test_rm_names_an_object_twice_deletes_it_once(served: Served, cli: Cli) -> None:
    """Old code: the second DeleteObject of the same handle failed (InvalidObjectHandle) and
    the command exited with an error after deleting what was asked, its JSON result lost."""
    notes = "/store_00010001/MISC/nested/level2/level3/NOTES.TXT"
    handle = cli(*served.camera_args(), "ls", notes, "--json").json()[0]["hex"]
    result = cli(*served.camera_args(), "rm", notes, handle, "--json")
    assert result.code == 0, result
    assert [e["path"] for e in result.json()] == [notes]
    assert not (served.card / "MISC/nested/level2/level3/NOTES.TXT").exists()


def test_rm_that_fails_part_way_still_reports_what_it_deleted(served: Served, cli: Cli) -> None:
    """Old code: the JSON result was printed only when every delete succeeded, so a script
    never learnt that the first objects were gone."""
    folder = "/store_00010001/MISC/nested/level2"
    inside = f"{folder}/level3/NOTES.TXT"  # deleted with the folder: its own delete then fails
    result = cli(*served.camera_args(), "rm", "-r", folder, inside, "--json")
    assert result.code != 0, result
    assert [e["path"] for e in result.json()] == [folder]
    assert not (served.card / "MISC/nested/level2").exists()
