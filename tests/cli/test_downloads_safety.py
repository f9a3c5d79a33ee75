"""``download`` never loses or clobbers anything (issue 11, section 3), and keeps memory bounded
however large the card (section 4): ptpkit's own record cannot be hijacked or confused with a
camera file, a local failure names the file and the batch goes on with advice that fits, camera
names are escaped everywhere (the progress bar too), files keep the camera's time, and objects
the listing skips are reported."""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import json
import os
import sqlite3
import subprocess
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from rich.console import Console
from tests.forked import in_a_forked_child

import ptpkit
from ptpkit.cli import downloads
from ptpkit.cli.downloads import LEGACY_LOG_NAME, LOG_NAME, DownloadLog
from ptpkit.cli.output import Output
from ptpkit.cli.progress import BatchProgress
from ptpkit.client.camera import Camera
from ptpkit.client.files import Entry
from ptpkit.errors import DecodeError, ResponseError
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.misbehave import Misbehavior
from ptpkit.virtual.server import PtpIpServer

from .conftest import Cli, Served, card_files, one_line_error

IMG1 = "/store_00010001/DCIM/100PTPKT/IMG_0001.JPG"
MiB = 1 << 20


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.name != LOG_NAME
    }


def _expected_flat(served: Served, folder: str) -> dict[str, bytes]:
    return {
        path.rsplit("/", 1)[1]: data
        for path, data in card_files(served.card).items()
        if path.startswith(f"/store_00010001/{folder}/")
    }


# -- the record: never a link, a folder or a foreign file; never a camera file's name ------------


@pytest.mark.parametrize("planted", ["link", "folder", "foreign", "huge"])
def test_a_planted_record_is_neither_read_nor_written(
    served: Served, cli: Cli, tmp_path: Path, planted: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.db"
    outside.write_bytes(b"keep me")
    record = out / LOG_NAME
    if planted == "link":
        record.symlink_to(outside)
    elif planted == "folder":
        record.mkdir()
    elif planted == "foreign":
        record.write_bytes(b"not a database of ours")
    else:
        with record.open("wb") as file:  # sparse: bigger than the bound, costs no disk
            file.seek(downloads.LOG_MAX_BYTES + 1)
            file.write(b"x")
    before = record.lstat()

    result = cli(*served.camera_args(), "download", "DCIM/100PTPKT", "-o", str(out))

    assert result.code == 0, result
    assert "the download record is not used this time" in result.stderr
    assert _files(out) == _expected_flat(served, "DCIM/100PTPKT")
    assert outside.read_bytes() == b"keep me"
    after = record.lstat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert not [p for p in out.iterdir() if p.name.startswith(f"{LOG_NAME}-")]


@pytest.fixture
def reserved_card(card: Path) -> Path:
    """A card holding files named as ptpkit's own files are."""
    (card / LOG_NAME).write_bytes(b"a camera file called like the record")
    (card / LEGACY_LOG_NAME).write_bytes(b"{}")
    (card / f"{LOG_NAME}-journal").write_bytes(b"journal?")
    return card


def test_camera_files_with_the_records_names_are_saved_under_other_names(
    reserved_card: Path, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with (
        VirtualCamera(reserved_card) as vcam,
        PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
    ):
        args = ("--camera", server.url)
        first = cli(*args, "download", "--all", "--tree", "-o", str(out), "--json")
        assert first.code == 0, first
        again = cli(*args, "download", "--all", "--tree", "--new", "-o", str(out), "--json")
        assert again.code == 0, again
    saved = {doc["path"]: Path(doc["file"]).name for doc in first.json()}
    assert saved[f"/store_00010001/{LOG_NAME}"] == ".ptpkit-downloads (2).db"
    assert saved[f"/store_00010001/{LEGACY_LOG_NAME}"] == ".ptpkit-downloads (2).json"
    assert saved[f"/store_00010001/{LOG_NAME}-journal"] == ".ptpkit-downloads (2).db-journal"
    assert (out / ".ptpkit-downloads (2).db").read_bytes() == (
        reserved_card / LOG_NAME
    ).read_bytes()
    # The record is intact and knows everything: --new downloads nothing again.
    assert {doc["status"] for doc in again.json()} == {"skipped"}
    with contextlib.closing(sqlite3.connect(out / LOG_NAME)) as db:
        [(count,)] = db.execute("SELECT count(*) FROM downloads").fetchall()
    assert count == len(first.json())


def test_an_old_json_record_is_imported_and_left_as_it_is(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with ptpkit.connect(served.url) as cam:
        key = downloads.camera_key(cam)
        size = cam.find(IMG1).size
    old = {
        "version": 1,
        "cameras": {key: {"objects": {f"{IMG1}|{size}": {"file": "IMG_0001.JPG", "size": size}}}},
    }
    (out / LEGACY_LOG_NAME).write_text(json.dumps(old))
    before = (out / LEGACY_LOG_NAME).read_bytes()
    result = cli(
        *served.camera_args(), "download", "DCIM/100PTPKT", "--new", "-o", str(out), "--json"
    )
    assert result.code == 0, result
    status = {doc["path"]: doc["status"] for doc in result.json()}
    assert status[IMG1] == "skipped"  # downloaded before, by an older ptpkit
    assert {s for p, s in status.items() if p != IMG1} == {"downloaded"}
    assert (out / LEGACY_LOG_NAME).read_bytes() == before


def _entry(number: int) -> Entry:
    name = f"IMG_{number:07d}.JPG"
    return Entry(
        handle=number + 1,
        storage_id=0x00010001,
        parent=0,
        name=name,
        path=f"/store_00010001/DCIM/{name}",
        size=1000 + number,
        is_folder=False,
        object_format=0x3801,
    )


def test_parallel_downloads_into_one_folder_keep_every_record(tmp_path: Path) -> None:
    """Two batches writing the record at once (threads here; processes lock the same way):
    every record of both is kept, nothing lost to a rewrite."""
    errors: list[BaseException] = []

    def batch(first: int) -> None:
        try:
            log = DownloadLog(tmp_path, "camera")
            log.save_batch = 7  # many small transactions, interleaved with the other batch
            for number in range(first, first + 300):
                log.record(_entry(number), PurePosixPath(f"f{number}"))
            log.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=batch, args=(start,)) for start in (0, 1000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with contextlib.closing(sqlite3.connect(tmp_path / LOG_NAME)) as db:
        [(count,)] = db.execute("SELECT count(*) FROM downloads").fetchall()
    assert count == 600
    assert [p.name for p in tmp_path.iterdir()] == [LOG_NAME]


def test_two_processes_downloading_into_one_folder_keep_every_record(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    processes = [
        cli.popen(*served.camera_args(), "download", folder, "-o", str(out))
        for folder in ("DCIM", "MISC")
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    expected = set(card_files(served.card))
    with contextlib.closing(sqlite3.connect(out / LOG_NAME)) as db:
        recorded = {key.rsplit("|", 1)[0] for (key,) in db.execute("SELECT object FROM downloads")}
    assert recorded == expected
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".ptpkit")) == [LOG_NAME]


def test_a_record_that_cannot_be_written_leaves_no_temporary_file(tmp_path: Path) -> None:
    notes: list[str] = []
    log = DownloadLog(tmp_path, "camera", warn=notes.append)
    log._db.execute("PRAGMA max_page_count = 3")  # the record's "disk" is full
    for number in range(200):
        log.record(_entry(number), PurePosixPath(f"f{number}"))
    log.close()
    assert any("could not be written" in note for note in notes)
    assert [p.name for p in tmp_path.iterdir()] == [LOG_NAME]  # no journal, no temp file


# -- local failures: named, the batch goes on, advice that fits ----------------------------------


@pytest.mark.parametrize("where", ["dangling link", "below a file"])
def test_output_that_is_not_a_folder_gets_no_overwrite_advice(
    served: Served, cli: Cli, tmp_path: Path, where: str
) -> None:
    """(An existing file as -o is refused by the option's own check, exit code 2.)"""
    mine = tmp_path / "a-file"
    mine.write_bytes(b"mine")
    if where == "dangling link":
        target = tmp_path / "link"
        target.symlink_to(tmp_path / "nowhere")
        expected = f"{target} is not a folder"
    else:
        target = mine / "photos"
        expected = f"cannot write to {target}: Not a directory"
    result = cli(*served.camera_args(), "download", IMG1, "-o", str(target))
    assert result.code == 108, result
    line = one_line_error(result)
    assert expected in line
    assert "give " in line
    assert "a folder" in line
    assert "--force-overwrite" not in result.stderr
    assert mine.read_bytes() == b"mine"
    assert not (tmp_path / "nowhere").exists()


def test_a_file_in_the_way_of_a_folder_fails_that_file_only(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "DCIM").write_bytes(b"a file where --tree wants a folder")
    result = cli(*served.camera_args(), "download", "--all", "--tree", "-o", str(out), "--json")
    assert result.code == 108, result
    docs = result.json()
    failed = [d for d in docs if d["status"] == "failed"]
    assert failed
    assert all(d["path"].startswith("/store_00010001/DCIM/") for d in failed)
    assert all("in the way of the folder" in d["reason"] for d in failed)
    assert {d["status"] for d in docs if not d["path"].startswith("/store_00010001/DCIM/")} == {
        "downloaded"
    }
    assert (out / "MISC/README.TXT").exists()  # the rest went on
    assert "--force-overwrite" not in result.stderr
    assert (out / "DCIM").read_bytes() == b"a file where --tree wants a folder"


def test_a_file_and_a_folder_of_one_name_get_two_names(tmp_path: Path) -> None:
    """On the camera a folder ``X`` and a file ``X`` (two storages' worth of names, or a name
    made safe into another's): --tree keeps both."""

    class FakeCamera:
        def walk(self, **_: Any) -> Iterator[Entry]:
            base = {"storage_id": 0x00010001, "object_format": 0x3000, "size": 5}
            yield Entry(handle=1, parent=0, name="X", path="/s/X", is_folder=True, **base)
            yield Entry(
                handle=2, parent=1, name="a.jpg", path="/s/X/a.jpg", is_folder=False, **base
            )
            yield Entry(handle=3, parent=0, name="X", path="/s/X ", is_folder=False, **base)
            yield Entry(handle=4, parent=0, name="X/", path="/s/X_", is_folder=True, **base)

        def storage_ids(self) -> tuple[int, ...]:
            return (0x00010001,)

    book = DownloadLog(None, "")
    planned = list(downloads.plan_stream(FakeCamera(), None, tree=True, book=book))  # type: ignore[arg-type]
    assert [p.relative.as_posix() for p in planned] == ["X/a.jpg", "X (2)"]


@contextlib.contextmanager
def _tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A tmpfs at ``mount`` (tests run as root, where permissions cannot make a folder
    unwritable); the test is skipped where mounting is not allowed, except in CI."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs here: {done.stderr.decode().strip()}"
        if os.environ.get("CI"):  # CI runs as root: there the test must run, not skip
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB disk."""
    with _tmpfs(tmp_path / "disk", "size=2m") as mount:
        yield mount


def test_a_folder_that_cannot_be_written_fails_its_files_only(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with _tmpfs(out / "DCIM", "ro,size=1m"):
        result = cli(*served.camera_args(), "download", "--all", "--tree", "-o", str(out), "--json")
    assert result.code == 108, result
    docs = result.json()
    failed = [d for d in docs if d["status"] == "failed"]
    assert failed
    assert all(d["path"].startswith("/store_00010001/DCIM/") for d in failed)
    assert all("Read-only file system" in d["reason"] for d in failed)
    assert all(d["file"].startswith(str(out / "DCIM")) for d in failed)  # named
    assert (out / "MISC/README.TXT").exists()  # the rest went on
    assert "--force-overwrite" not in result.stderr
    assert "can be written" in result.stderr


def test_a_full_disk_names_the_file_and_the_batch_goes_on(
    card: Path, cli: Cli, small_disk: Path
) -> None:
    (card / "AA_BIG.MOV").write_bytes(os.urandom(3 * MiB))  # more than the disk holds
    with (
        VirtualCamera(card) as vcam,
        PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
    ):
        result = cli(
            "--camera",
            server.url,
            "download",
            "AA_BIG.MOV",
            "MISC",
            "-o",
            str(small_disk),
            "--json",
        )
    assert result.code == 108, result
    status = {doc["path"]: doc for doc in result.json()}
    big = status["/store_00010001/AA_BIG.MOV"]
    assert big["status"] == "failed"
    assert big["reason"] == f"no space left for {small_disk / 'AA_BIG.MOV'}"
    others = [doc for path, doc in status.items() if path.startswith("/store_00010001/MISC/")]
    assert others
    assert {doc["status"] for doc in others} == {"downloaded"}
    assert not (small_disk / "AA_BIG.MOV").exists()
    assert "--force-overwrite" not in result.stderr
    assert "free space" in result.stderr


def test_enospc_while_writing_is_a_failure_of_that_file(
    card: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same without a tmpfs: the write of one file fails with ENOSPC."""
    from ptpkit.client import streams

    real_write = streams.FileSink.write

    def full_for_readme(self: streams.FileSink, chunk: Any) -> None:
        if "README" in os.readlink(f"/proc/self/fd/{self.file.fileno()}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, chunk)

    monkeypatch.setattr(streams.FileSink, "write", full_for_readme)
    out = tmp_path / "out"
    text = io.StringIO()
    with VirtualCamera(card) as vcam, ptpkit.connect("virtual:", camera=vcam) as cam:
        planned = downloads.plan(cam, [cam.find("MISC")], tree=False)
        outcomes = downloads.run(
            cam, planned, out, downloads.Policy(), Output(text, io.StringIO(), progress=False)
        )
    [failed] = [o for o in outcomes if o.status == "failed"]
    assert failed.entry.name == "README.TXT"
    assert failed.reason == f"no space left for {out / 'README.TXT'}"
    assert len(outcomes) > 1
    assert {o.status for o in outcomes if o is not failed} == {"downloaded"}
    assert not [p for p in out.iterdir() if "README" in p.name]  # nothing half-written left


# -- names on the terminal, times, skipped objects -----------------------------------------------


def test_the_progress_bar_escapes_camera_names() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    with (
        BatchProgress(console, files=2, total_bytes=10) as progress,
        progress.file("bell\x07 and \x1b[31mred.jpg", 10) as update,
    ):
        update(5, 10)
        progress._progress.refresh()
    shown = buffer.getvalue()
    assert "\\x1b[31mred.jpg" in shown
    assert "\x1b[31mred" not in shown  # the camera's ESC never reaches the terminal raw
    assert "\x07" not in shown


def test_download_of_hostile_names_writes_no_raw_escape(
    card: Path, cli: Cli, tmp_path: Path
) -> None:
    with (
        VirtualCamera(card, misbehavior=Misbehavior.parse("hostile-names")) as vcam,
        PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
    ):
        result = cli("--camera", server.url, "download", "--all", "-o", str(tmp_path / "o"))
    assert result.code == 0, result
    assert "\\x1b[31mred.jpg" in result.stdout
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream
        assert "\x07" not in stream


def test_downloaded_files_keep_the_cameras_time(served: Served, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = cli(*served.camera_args(), "download", "MISC/README.TXT", "-o", str(out))
    assert result.code == 0, result
    # The virtual camera's ModificationDate is its file's time, to the second.
    card_mtime = int((served.card / "MISC/README.TXT").stat().st_mtime)
    assert (out / "README.TXT").stat().st_mtime == card_mtime


@pytest.mark.parametrize(
    ("error", "code"),
    [
        # An ObjectInfo that does not decode: the camera broke the protocol (107, as `ls`).
        (lambda: DecodeError("ObjectInfo ends inside its file name", offset=60), 107),
        # A GetObjectInfo the camera refuses: its response code (106).
        (lambda: ResponseError(0x2009, name="InvalidObjectHandle"), 106),
    ],
    ids=["undecodable", "refused"],
)
def test_objects_the_listing_skips_are_reported_and_the_rest_downloaded(
    card: Path,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Any,
    code: int,
) -> None:
    from ptpkit.cli.main import main

    real_object_info = Camera.object_info
    broken: list[int] = []

    def object_info(self: Camera, handle: int) -> Any:
        info = real_object_info(self, handle)
        if info.filename == "IMG_0002.JPG":
            broken.append(handle)
            raise error()
        return info

    monkeypatch.setattr(Camera, "object_info", object_info)
    # Object by object (GetObjectInfo), not MTP's one-transaction listing.
    monkeypatch.setattr(Camera, "_can_list_fast", lambda self: False)
    out = tmp_path / "out"
    with (
        VirtualCamera(card) as vcam,
        PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
        pytest.raises(SystemExit) as exited,
    ):
        main(["--camera", server.url, "download", "--all", "-o", str(out), "--json"])
    assert exited.value.code == code
    captured = capsys.readouterr()
    [handle] = broken
    docs = json.loads(captured.out)
    [skipped] = [d for d in docs if d["handle"] == handle]
    assert skipped["status"] == "failed"
    assert skipped["reason"].startswith("the listing skipped it: ")
    assert f"not downloaded 0x{handle:08X} in /store_00010001/DCIM/100PTPKT" in captured.err
    assert {d["status"] for d in docs if d is not skipped} == {"downloaded"}
    assert not (out / "IMG_0002.JPG").exists()
    assert (out / "IMG_0001.JPG").exists()


# -- memory: bounded however many objects ----------------------------------------------------------


def _plan_and_record_peak(tmp_path: Path, count: int) -> int:
    """Peak traced memory of planning ``count`` files and recording them in the folder's record
    (the CLI's part of ``download --all``; the camera's listing is W1's and measured there)."""

    class ManyFiles:
        def walk(self, **_: Any) -> Iterator[Entry]:
            return (_entry(number) for number in range(count))

        def storage_ids(self) -> tuple[int, ...]:
            return (0x00010001,)

    folder = tmp_path / f"n{count}"
    folder.mkdir()
    tracemalloc.start()
    try:
        book = DownloadLog(folder, "camera")
        for item in downloads.plan_stream(ManyFiles(), None, tree=False, book=book):  # type: ignore[arg-type]
            if not book.has(item.entry):
                book.record(item.entry, item.relative)
        book.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_planning_and_recording_keep_memory_bounded(tmp_path: Path) -> None:
    # In a forked child each (tests.forked): tracemalloc counts every thread, and an xdist
    # worker's leftover threads of earlier tests took the peak to 4 MiB once in CI.
    small = in_a_forked_child(functools.partial(_plan_and_record_peak, tmp_path, 2_000))
    large = in_a_forked_child(functools.partial(_plan_and_record_peak, tmp_path, 20_000))
    # Ten times the files, not ten times the memory: the names live in SQLite, not in Python.
    # (A set and a list of 20,000 entries alone took ~10 MiB.)
    assert large < small + 2 * MiB, (small, large)
    assert large < 8 * MiB


@pytest.mark.parametrize(
    "name", [LOG_NAME.upper(), f"{LOG_NAME}-Journal", ".PTPKIT-Downloads.json"]
)
def test_a_camera_file_is_not_saved_under_a_records_name_in_another_case(name: str) -> None:
    """macOS and Windows folders ignore case: a camera file ``.PTPKIT-DOWNLOADS.DB-JOURNAL``
    saved there is the record's journal, which SQLite would play back into the record (and
    --force-overwrite would replace ``.PTPKIT-DOWNLOADS.DB``, the record itself)."""
    book = DownloadLog(None, "")
    try:
        taken = book.take(PurePosixPath(name))
    finally:
        book.close()
    assert taken.name.casefold() not in {n.casefold() for n in downloads.RESERVED_NAMES}
    assert taken.name.startswith(name.rsplit(".", 1)[0] + " (2)")


def test_a_damaged_record_is_reported_not_raised(tmp_path: Path) -> None:
    """A record whose header and schema are fine but whose pages are damaged (a bad sector, a
    copy cut short): SQLite's DatabaseError reached the user as a traceback from --new's check
    (has) or an existing file's (belongs_to_other). The record is then not used: nothing is
    skipped on its word, an existing file is still refused."""
    book = DownloadLog(tmp_path, "cam")
    for number in range(3000):
        book.record(_entry(number), PurePosixPath(f"IMG_{number}.JPG"))
    book.close()
    record = tmp_path / LOG_NAME
    size = record.stat().st_size
    with record.open("r+b") as file:
        file.seek(3 * 4096)  # past the header, sqlite_master and meta
        file.write(b"\xff" * (size - 3 * 4096))
    warnings: list[str] = []
    book = DownloadLog(tmp_path, "cam", warn=warnings.append)
    try:
        assert not book.has(_entry(5))
        assert not book.belongs_to_other(PurePosixPath("IMG_5.JPG"), _entry(6))
        book.record(_entry(7), PurePosixPath("IMG_7.JPG"))
    finally:
        book.close()
    assert len(warnings) == 1, warnings
    assert "malformed" in warnings[0]


class _FullScratch:
    """This run's bookkeeping database on a temporary folder that is full."""

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    def close(self) -> None:
        pass


def test_a_full_temporary_folder_stops_the_batch_with_an_oserror() -> None:
    """A raw sqlite3.OperationalError is a traceback for a CLI user; an OSError gets ptpkit's
    one-line message (cli.errors.describe_error)."""
    book = DownloadLog(None, "")
    book._names.close()
    book._names = _FullScratch()  # type: ignore[assignment]
    try:
        with pytest.raises(OSError, match=r"disk is full.*TMPDIR"):
            book.first_time(1)
        with pytest.raises(OSError, match="disk is full"):
            book.take(PurePosixPath("IMG.JPG"))
    finally:
        book.close()
