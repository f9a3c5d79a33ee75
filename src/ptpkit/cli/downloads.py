"""Downloading many objects into one folder safely: ``download``, ``capture --download`` and
``tether`` all go through here.

The rules:

- Nothing is written outside the target folder: every local name is built from the camera's
  names with :func:`~ptpkit.client.files.safe_filename` (one harmless component each), and the
  result is checked to lie inside the folder, symlinks resolved.
- An incomplete file never stands under its final name: ``Camera.download`` writes a partial
  file of its own (``NAME.ptpkit-part``, marked as the download of that object) and renames it
  when complete; an interrupted download is resumed from it. A file ptpkit did not make (a
  browser's ``NAME.part``, a ``.part`` of an older ptpkit, which carries no mark) is never
  touched.
- An existing file is never replaced unless asked (``--force-overwrite``). ``--skip-existing``
  skips it; otherwise it is reported as not downloaded and the command exits with code 108.
  Two objects of one run that would get the same name get ``NAME (2).EXT``; a file and a folder
  of one name (``--tree``) get two names too.
- ``--new`` means "not downloaded into this folder before": every download is recorded in the
  folder's download record (:class:`DownloadLog`, per camera: the object's camera path and size,
  and the local file), and ``--new`` skips what is recorded, even if the local file was since
  moved or deleted (as a photo importer does). The record also tells that an existing local file
  came from a *different* object of the same name (a card that restarted its numbering): the new
  object then gets a new name instead of being refused.
- A failure that concerns one file (the camera refuses it, a full disk, a folder that cannot be
  written, a file in the way of a folder) is reported naming the file; the batch goes on.
- Memory stays bounded however large the card: the batch is planned and downloaded as the
  listing comes, and the names taken this run live in the record's database (a temporary table
  SQLite keeps on disk), not in Python sets.
"""

from __future__ import annotations

import datetime as _dt
import errno
import itertools
import json
import logging
import os
import sqlite3
import stat as _stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final

from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.output import Output, format_size
from ptpkit.cli.progress import BatchProgress
from ptpkit.client.camera import Camera, SkippedObject
from ptpkit.client.files import (
    Entry,
    PartBusyError,
    inside,
    numbered,
    part_path,
    safe_filename,
    storage_folder,
    unique_path,
)
from ptpkit.codes.common import Rc
from ptpkit.errors import ResponseError, SessionError, TransactionCancelled

log = logging.getLogger("ptpkit")

#: The download record: an SQLite database (see :class:`DownloadLog` for why).
LOG_NAME: Final = ".ptpkit-downloads.db"
#: The record of ptpkit before 0.x: JSON, read once and imported (never written again).
LEGACY_LOG_NAME: Final = ".ptpkit-downloads.json"
#: Names of ptpkit's own in the target folder: a camera file or folder is never saved under
#: one of them (SQLite's journal files included).
RESERVED_NAMES: Final = frozenset(
    {LOG_NAME, f"{LOG_NAME}-journal", f"{LOG_NAME}-wal", f"{LOG_NAME}-shm", LEGACY_LOG_NAME}
)
#: The same, case folded: macOS and Windows folders ignore case, so ``.PTPKIT-DOWNLOADS.DB``
#: names the record there.
_RESERVED_FOLDED: Final = frozenset(name.casefold() for name in RESERVED_NAMES)
#: Largest old JSON record read (a card of 100,000 pictures made ~15 MiB).
LEGACY_LOG_MAX_BYTES: Final = 64 << 20
#: Largest download record opened (a million objects take ~200 MiB).
LOG_MAX_BYTES: Final = 4 << 30
_SCHEMA: Final = "ptpkit-downloads/2"
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
#: How long a parallel download's write lock is waited for.
LOCK_WAIT_S: Final = 60.0


@dataclass
class Planned:
    entry: Entry
    #: Where it goes, relative to the target folder (safe components only).
    relative: PurePosixPath


@dataclass
class Outcome:
    entry: Entry
    #: "downloaded", "skipped" or "failed".
    status: str
    file: Path | None
    reason: str | None = None

    def doc(self) -> dict[str, Any]:
        return {
            "handle": self.entry.handle,
            "hex": f"0x{self.entry.handle:08X}",  # as in every document about an object
            "path": self.entry.path,
            "size": self.entry.size,
            "status": self.status,
            "file": str(self.file) if self.file is not None else None,
            "reason": self.reason,
        }


def skipped_doc(skipped: SkippedObject) -> dict[str, Any]:
    """The JSON row of an object the listing could not describe (same fields as a download)."""
    return {
        "handle": skipped.handle,
        "hex": f"0x{skipped.handle:08X}",
        "path": None,
        "folder": skipped.folder,
        "size": None,
        "status": "failed",
        "file": None,
        "reason": f"{LISTING_REASON}: {skipped.reason}",
    }


def camera_key(cam: Camera) -> str:
    """Which camera a record belongs to: what it says it is."""
    info = cam.device_info
    return f"{info.manufacturer}|{info.model}|{info.serial_number}"


def object_key(entry: Entry) -> str:
    # PTP promises object handles only for the life of a session (many cameras renumber on
    # every connection); the path and size of a picture survive.
    return f"{entry.path}|{entry.size}"


class RecordError(OSError):
    """The download record cannot be used (not a regular file, too large, not ours)."""


class DownloadLog:
    """The download record of a folder (``.ptpkit-downloads.db``): what was downloaded into it,
    per camera, and this run's bookkeeping.

    SQLite (the standard library's ``sqlite3``) rather than the JSON file of earlier versions,
    because a record must scale and be shared: memory stays bounded however many objects it
    holds (JSON was read whole: ~1 GiB for a million objects), each write is a small
    transaction instead of a rewrite of the whole file, a crash leaves the old record or the
    new one (SQLite's journal), and two downloads into one folder each keep their records
    (SQLite locks the file; a writer waits up to :data:`LOCK_WAIT_S`). Records are written in
    batches of at most :attr:`save_interval_s` (and by :meth:`flush` when the batch ends,
    however it ends), one short transaction each.

    What is in the folder is not trusted: the record is opened only if it is missing or a
    regular file (not a link, a folder, a FIFO) of at most :data:`LOG_MAX_BYTES` that is an
    SQLite database of ours; otherwise this run keeps its record in memory and says so. An old
    ``.ptpkit-downloads.json`` is imported once if it is a regular file of at most
    :data:`LEGACY_LOG_MAX_BYTES`, and left as it is.
    """

    save_interval_s: float = 2.0
    #: Records kept unwritten at most (a batch of tiny files outpaces the interval).
    save_batch: int = 1000

    def __init__(
        self, folder: Path | None, camera: str, *, warn: Callable[[str], None] | None = None
    ) -> None:
        """The record of ``folder`` (None: one in memory, for this run only)."""
        self.path = (folder or Path()) / LOG_NAME
        self.camera = camera
        self._warn = warn or (lambda message: log.warning("%s", message))
        self._pending: dict[str, tuple[str, int, int, str]] = {}
        self._pending_files: dict[str, str] = {}
        self._saved_at: float | None = None
        self.persistent = folder is not None
        try:
            if folder is None:
                raise RecordError(errno.ENOENT, "no folder")
            self._db = self._open_file()
        except (RecordError, sqlite3.Error, OSError) as exc:
            if folder is not None:
                self._warn(f"the download record is not used this time: {exc}")
            self.persistent = False
            self._db = self._connect(":memory:")
            self._create()
        # This run's bookkeeping (names taken, handles met) in a private database SQLite keeps
        # in a temporary file of its own (outside the target folder, deleted when closed), so a
        # card of a million objects does not fill the memory. Apart from the record: one long
        # transaction, no journal, no sync, no lock another download could wait for.
        self._names = sqlite3.connect("", isolation_level=None)
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -8192"):
            self._names.execute(f"PRAGMA {pragma}")
        self._names.execute("CREATE TABLE taken (name TEXT PRIMARY KEY, folder INTEGER)")
        self._names.execute("CREATE TABLE seen (handle INTEGER PRIMARY KEY)")
        self._names.execute("BEGIN")

    @staticmethod
    def _connect(where: str) -> sqlite3.Connection:
        db = sqlite3.connect(where, timeout=LOCK_WAIT_S, isolation_level=None)
        db.execute("PRAGMA cache_size = -8192")  # 8 MiB of pages at most
        return db

    def _open_file(self) -> sqlite3.Connection:
        _check_regular(self.path, LOG_MAX_BYTES, magic=_SQLITE_MAGIC)
        db = self._connect(str(self.path))
        try:
            db.execute("PRAGMA journal_mode = DELETE")
            db.execute("PRAGMA synchronous = NORMAL")
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if not tables:
                # New (or just made empty by a parallel download that creates it now: the
                # tables are made in one locked transaction, IF NOT EXISTS).
                self._db = db
                self._create()
            elif "meta" not in tables or self._meta(db, "schema") != _SCHEMA:
                raise RecordError(
                    errno.EINVAL, f"{self.path} is an SQLite database that is not ptpkit's"
                )
            # Checked again once open: what was checked is what SQLite opened (a link swapped in
            # between is refused, the connection closed without writing).
            _check_regular(self.path, LOG_MAX_BYTES, magic=_SQLITE_MAGIC)
        except BaseException:
            db.close()
            raise
        self._db = db
        self._import_legacy()
        return db

    def _create(self) -> None:
        with self._transaction():
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS downloads (camera TEXT NOT NULL, object TEXT NOT NULL,"
                " file TEXT NOT NULL, handle INTEGER, size INTEGER, downloaded TEXT,"
                " PRIMARY KEY (camera, object))"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS downloads_file ON downloads (file)")
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?)", (_SCHEMA,)
            )

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _transaction(self) -> Any:
        db = self._db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")  # the write lock now: no deadlock with a reader

            def __exit__(self, kind: object, *rest: object) -> None:
                db.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    def _import_legacy(self) -> None:
        """Records of the JSON file of earlier versions, imported once (it is left as it is:
        an older ptpkit may still use it)."""
        if self._meta(self._db, "legacy_imported") is not None:
            return
        legacy = self.path.with_name(LEGACY_LOG_NAME)
        rows: list[tuple[str, str, str, Any, Any, Any]] = []
        try:
            data = json.loads(_read_regular(legacy, LEGACY_LOG_MAX_BYTES).decode("utf-8"))
        except FileNotFoundError:
            data = None
        except (OSError, ValueError) as exc:
            self._warn(f"{legacy} not imported: {exc}")
            data = None
        cameras = data.get("cameras") if isinstance(data, dict) else None
        for camera, records in cameras.items() if isinstance(cameras, dict) else ():
            objects = records.get("objects") if isinstance(records, dict) else None
            for key, record in objects.items() if isinstance(objects, dict) else ():
                if isinstance(record, dict) and isinstance(record.get("file"), str):
                    rows.append(
                        (
                            str(camera),
                            str(key),
                            record["file"],
                            record.get("handle") if isinstance(record.get("handle"), int) else None,
                            record.get("size") if isinstance(record.get("size"), int) else None,
                            str(record.get("downloaded", "")),
                        )
                    )
        with self._transaction():
            self._db.executemany("INSERT OR IGNORE INTO downloads VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('legacy_imported', ?)", (str(len(rows)),)
            )

    # -- what was downloaded ---------------------------------------------------------------------

    def has(self, entry: Entry) -> bool:
        key = object_key(entry)
        if key in self._pending:
            return True
        try:
            row = self._db.execute(
                "SELECT 1 FROM downloads WHERE camera = ? AND object = ?", (self.camera, key)
            ).fetchone()
        except sqlite3.Error as exc:
            self._unusable(exc)
            return False
        return row is not None

    def belongs_to_other(self, relative: PurePosixPath, entry: Entry) -> bool:
        """Whether the local file was recorded as another object's download."""
        name = relative.as_posix()
        mine = (self.camera, object_key(entry))
        if name in self._pending_files:
            return self._pending_files[name] != object_key(entry)
        try:
            rows = self._db.execute(
                "SELECT camera, object FROM downloads WHERE file = ? LIMIT 2", (name,)
            ).fetchall()
        except sqlite3.Error as exc:
            self._unusable(exc)
            return False
        return any(tuple(row) != mine for row in rows)

    def _unusable(self, exc: sqlite3.Error) -> None:
        """A record that fails a read (damaged pages behind a sound header, a lock held past
        :data:`LOCK_WAIT_S`): not used for the rest of the run, as one refused at the start
        (nothing is skipped on its word; this run's downloads are kept in memory)."""
        self._warn(f"the download record is not used from now on: {exc}")
        self._db.close()
        self.persistent = False
        self._db = self._connect(":memory:")
        self._create()

    def record(self, entry: Entry, relative: PurePosixPath) -> None:
        key = object_key(entry)
        stamp = _dt.datetime.now().replace(microsecond=0).isoformat()
        self._pending[key] = (relative.as_posix(), entry.handle, entry.size, stamp)
        self._pending_files[relative.as_posix()] = key
        now = time.monotonic()
        if (
            self._saved_at is None
            or now - self._saved_at >= self.save_interval_s
            or len(self._pending) >= self.save_batch
        ):
            self.flush()

    def flush(self) -> None:
        """Write what was recorded since the last write, if anything: one transaction (all of
        it or none of it; SQLite removes its journal either way)."""
        if not self._pending:
            return
        rows = [
            (self.camera, key, file, handle, size, stamp)
            for key, (file, handle, size, stamp) in self._pending.items()
        ]
        try:
            with self._transaction():
                self._db.executemany(
                    "INSERT OR REPLACE INTO downloads VALUES (?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error as exc:
            # A full disk, say: the downloads are safe; only --new will not know them.
            self._warn(
                f"the download record could not be written ({exc}); "
                f"{len(rows)} download(s) not recorded"
            )
        self._pending.clear()
        self._pending_files.clear()
        self._saved_at = time.monotonic()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()
            self._names.close()  # its temporary file goes with it

    # -- this run's names ------------------------------------------------------------------------

    def first_time(self, handle: int) -> bool:
        """Whether ``handle`` is met for the first time this run."""
        cursor = self._scratch("INSERT OR IGNORE INTO seen VALUES (?)", (handle,))
        return cursor.rowcount == 1

    def _scratch(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        """A statement on this run's bookkeeping. Its temporary file can fill the temporary
        folder (a card of millions of objects, a small /tmp): the batch then stops with an
        OSError naming the cause, not with a raw sqlite3 traceback."""
        try:
            return self._names.execute(sql, params)
        except sqlite3.Error as exc:
            raise RecordError(
                errno.EIO,
                f"this run's list of names could not be kept ({exc}); check the "
                "free space of the temporary folder (TMPDIR)",
            ) from None

    def take(self, relative: PurePosixPath, *, folder: bool = False) -> PurePosixPath:
        """``relative``, or its ``NAME (2).EXT`` twin when another file of this run has that
        name (or a folder does, or it is one of ptpkit's own names). A folder's name may be
        shared by folders (two camera folders of one name become one local folder)."""
        for name in numbered(relative.name):
            candidate = relative.with_name(name)
            if len(candidate.parts) == 1 and name.casefold() in _RESERVED_FOLDED:
                continue
            key = candidate.as_posix()
            row = self._scratch("SELECT folder FROM taken WHERE name = ?", (key,)).fetchone()
            if row is None:
                self._scratch("INSERT INTO taken VALUES (?, ?)", (key, int(folder)))
                return candidate
            if folder and row[0]:
                return candidate
        raise AssertionError("numbered() never ends")  # pragma: no cover


def _check_regular(path: Path, limit: int, *, magic: bytes) -> bool:
    """Whether ``path`` exists; if it does, it must be a regular file (not followed if a link)
    of at most ``limit`` bytes beginning with ``magic``, else :class:`RecordError`."""
    try:
        head = _read_regular(path, limit, max_read=len(magic))
    except FileNotFoundError:
        return False
    if head and head != magic:
        raise RecordError(errno.EINVAL, f"{path} is not a download record of ptpkit's")
    return True


def _read_regular(path: Path, limit: int, *, max_read: int | None = None) -> bytes:
    """The bytes of ``path`` (the first ``max_read``), read only if it is a regular file of at
    most ``limit`` bytes; a symbolic link is not followed."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RecordError(errno.ELOOP, f"{path} is a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not _stat.S_ISREG(info.st_mode):
            raise RecordError(errno.EINVAL, f"{path} is not a regular file")
        if info.st_size > limit:
            raise RecordError(errno.EFBIG, f"{path} is larger than {format_size(limit)}")
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read(max_read if max_read is not None else limit + 1)
    finally:
        os.close(fd)


# -- planning ------------------------------------------------------------------------------------


def plan(cam: Camera, roots: Iterable[Entry] | None, *, tree: bool) -> list[Planned]:
    """The whole plan as a list, for small batches (a capture's new pictures, a tether's one)."""
    book = DownloadLog(None, "")
    try:
        return list(plan_stream(cam, roots, tree=tree, book=book))
    finally:
        book.close()


def plan_stream(
    cam: Camera,
    roots: Iterable[Entry] | None,
    *,
    tree: bool,
    book: DownloadLog,
    on_skip: Callable[[SkippedObject], None] | None = None,
) -> Iterator[Planned]:
    """Every file to download for ``roots`` (files, and folders with everything below them;
    None: the whole card), each with its local path, as the listing yields them: flat (the
    file's name) or, with ``tree``, the camera's folders from each root folder down (for the
    whole card: from the top of the storage, below a ``store_XXXXXXXX`` folder each when the
    camera has several). ``on_skip``: objects the listing could not describe.

    Local folders follow each object's parent, not its path: a camera's name may hold a ``/``
    (``a/b.jpg`` is one object, not a file ``b.jpg`` in a folder ``a``)."""
    entries: Iterable[Entry]
    if roots is None:
        entries = cam.walk(on_error=on_skip)
    else:
        entries = itertools.chain.from_iterable(
            _with_contents(cam, root, on_skip) for root in roots
        )
    several_storages = tree and roots is None and len(cam.storage_ids()) > 1
    #: The local folder of each camera folder met so far (--tree): folders only, a small part
    #: of a card.
    folders: dict[int, PurePosixPath] = {}
    for entry in entries:
        # Pictures handed out in turn share one handle (Sony 0xFFFFC001): each is its own.
        if not entry.in_turn and not book.first_time(entry.handle):
            continue
        folder = folders.get(entry.parent) if tree else None
        if folder is None:  # a root, or the top of the card
            folder = PurePosixPath(storage_folder(entry.storage_id) if several_storages else "")
        if entry.is_folder:
            if tree:
                name = safe_filename(entry.name, fallback=f"folder_{entry.handle:08x}")
                folders[entry.handle] = book.take(folder / name, folder=True)
            continue
        yield Planned(entry, book.take(folder / entry.local_name))


def _with_contents(
    cam: Camera, root: Entry, on_skip: Callable[[SkippedObject], None] | None
) -> Iterator[Entry]:
    """``root``, then, for a folder, everything below it (each folder before its contents)."""
    yield root
    if root.is_folder:
        yield from cam.walk(folder=root, on_error=on_skip)


# -- running -------------------------------------------------------------------------------------


#: Why a file was not downloaded when another download holds its ``.part``.
BUSY_REASON: Final = "another download is writing it"
#: Why a picture handed out in turn (Sony 0xFFFFC001) was not downloaded: none waits any more.
FETCHED_REASON: Final = "no picture waits in the camera's memory any more (fetched already)"
#: How the reason of a file the camera refused begins.
CAMERA_REASON: Final = "the camera answered"


def camera_reason(exc: ResponseError) -> str:
    return f"{CAMERA_REASON} 0x{exc.code:04X} {exc.name}"


def refused_by_camera(exc: ResponseError) -> bool:
    """Whether an error concerns one object only (the camera refused it), so a batch can go on:
    not a lost session, not a cancelled transfer."""
    return not isinstance(exc, SessionError | TransactionCancelled)


@dataclass(frozen=True)
class Policy:
    skip_existing: bool = False
    force_overwrite: bool = False
    only_new: bool = False
    #: Give an existing name a " (2)" twin instead of refusing (capture and tether: a new picture
    #: must be kept whatever is in the folder).
    rename_existing: bool = False


#: Why a listed object was not downloaded when the listing could not describe it.
LISTING_REASON: Final = "the listing skipped it"
#: Reasons a file was not downloaded that the download options can change.
EXISTS_REASON: Final = "exists"
FOLDER_REASON: Final = "is a folder"
#: The kind of every other local failure (a full disk, a folder that cannot be written).
LOCAL_KIND: Final = "local"
#: Planned files looked at before a batch starts, to show totals (a bigger batch shows counts).
PREVIEW_FILES: Final = 1000


@dataclass
class Tally:
    """What a batch did, kept in bounded memory: counts, and the first few failures."""

    downloaded: int = 0
    downloaded_bytes: int = 0
    skipped: int = 0
    failed: int = 0
    #: The first failures, for the closing message.
    first_failures: list[Outcome] = field(default_factory=list)
    #: Whether every failure was the camera's (a refusal, a listing skip), none a local one.
    only_camera_failures: bool = True
    #: The kinds of failure met: EXISTS_REASON, FOLDER_REASON, BUSY_REASON, LOCAL_KIND,
    #: CAMERA_REASON, LISTING_REASON.
    kinds: set[str] = field(default_factory=set)
    #: Whether an object the listing skipped broke the protocol (not refused with a code).
    protocol_errors: bool = False

    def add(self, outcome: Outcome) -> None:
        if outcome.status == "downloaded":
            self.downloaded += 1
            self.downloaded_bytes += outcome.entry.size
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self._failure(outcome, outcome.reason)

    def add_skip(self, skipped: SkippedObject) -> None:
        self.protocol_errors |= not isinstance(skipped.error, ResponseError)
        placeholder = Outcome(
            Entry(
                handle=skipped.handle,
                storage_id=0,
                parent=0,
                name="",
                path=f"{skipped.folder}/(object 0x{skipped.handle:08X})",
                size=0,
                is_folder=False,
                object_format=0,
            ),
            "failed",
            None,
            f"{LISTING_REASON}: {skipped.reason}",
        )
        self._failure(placeholder, placeholder.reason)

    def _failure(self, outcome: Outcome, reason: str | None) -> None:
        self.failed += 1
        if len(self.first_failures) < 3:
            self.first_failures.append(outcome)
        text = reason or ""
        kind: str = LOCAL_KIND
        if text in (EXISTS_REASON, FOLDER_REASON, BUSY_REASON):
            kind = text
        elif text.startswith(CAMERA_REASON):
            kind = CAMERA_REASON
        elif text.startswith(LISTING_REASON):
            kind = LISTING_REASON
        self.kinds.add(kind)
        if kind not in (CAMERA_REASON, LISTING_REASON):
            self.only_camera_failures = False

    def summary(self) -> str:
        parts = [f"{self.downloaded} downloaded ({format_size(self.downloaded_bytes)})"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.failed:
            parts.append(f"{self.failed} not downloaded")
        return ", ".join(parts)


def run(
    cam: Camera,
    planned: list[Planned],
    target: Path,
    policy: Policy,
    out: Output,
) -> list[Outcome]:
    """Download ``planned`` (a small batch) into ``target`` under ``policy``; one text line per
    file; the outcomes as a list."""
    outcomes: list[Outcome] = []
    run_batch(cam, planned, target, policy, out, on_outcome=outcomes.append)
    return outcomes


def run_batch(
    cam: Camera,
    planned: Iterable[Planned],
    target: Path,
    policy: Policy,
    out: Output,
    *,
    on_outcome: Callable[[Outcome], None] | None = None,
    log_book: DownloadLog | None = None,
    tally: Tally | None = None,
) -> Tally:
    """Download ``planned`` (any number, as they come) into ``target`` under ``policy``; one text
    line and one ``on_outcome`` call per file. Memory stays bounded: outcomes are handed on, not
    kept. ``log_book``: the target folder's record (opened here when None)."""
    tally = tally if tally is not None else Tally()
    book = log_book if log_book is not None else open_record(target, cam, out)
    items = iter(planned)
    try:
        # Totals for the progress bar when the batch is small enough to look at first.
        preview = list(itertools.islice(items, PREVIEW_FILES))
        known = len(preview) < PREVIEW_FILES
        with BatchProgress.for_output(
            out,
            files=len(preview) if known else None,
            total_bytes=sum(p.entry.size for p in preview) if known else None,
        ) as progress:
            for item in itertools.chain(preview, items):
                outcome = _download_one(
                    cam, item, target=target, policy=policy, log=book, progress=progress, out=out
                )
                progress.finished(item.entry.size)
                tally.add(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
    finally:
        if log_book is None:
            book.close()  # written also when a download fails or Ctrl-C stops the batch
    return tally


def open_record(target: Path, cam: Camera, out: Output) -> DownloadLog:
    """The target folder's record (the folder made if missing). A target that is not a folder
    and cannot be made one ends the command with advice that can help (no option would)."""
    try:
        target.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CliError(
            f"{target} is not a folder",
            ExitCode.FILE_ERROR,
            hint="give a folder to download into (it is made if missing)",
        ) from None
    except OSError as exc:
        raise CliError(
            f"cannot write to {target}: {exc.strerror or exc}",
            ExitCode.FILE_ERROR,
            hint="give a folder to download into that you can write to",
        ) from None
    return DownloadLog(target, camera_key(cam), warn=out.note)


def _download_one(
    cam: Camera,
    item: Planned,
    *,
    target: Path,
    policy: Policy,
    log: DownloadLog,
    progress: BatchProgress,
    out: Output,
) -> Outcome:
    entry = item.entry
    relative = item.relative
    if entry.in_turn:
        # Its turn (a Sony picture at 0xFFFFC001): described just before it is read, and
        # saved under its own name, not the handle's that stood for it in the plan.
        try:
            entry = cam.describe_now(entry)
        except ResponseError as exc:
            if not refused_by_camera(exc):
                raise
            if exc.code == Rc.INVALID_OBJECT_HANDLE:
                # Nothing waits there any more: the picture this entry stood for was fetched
                # already (a capture that delivered it, in a shell before this tether).
                out.text(f"skipped {entry.path}: {FETCHED_REASON}")
                return Outcome(entry, "skipped", None, FETCHED_REASON)
            out.text(f"not downloaded {entry.path}: {exc}")
            return Outcome(entry, "failed", None, camera_reason(exc))
        relative = relative.with_name(entry.local_name)
    if policy.only_new and log.has(entry):
        out.text(f"skipped {entry.path}: downloaded before")
        return Outcome(entry, "skipped", None, "downloaded before")
    final = target.joinpath(*relative.parts)
    overwrite = False
    if os.path.lexists(final):
        # A folder is never replaced: Camera.download would write into it instead.
        if policy.force_overwrite and not final.is_dir():
            overwrite = True
        elif policy.rename_existing or log.belongs_to_other(relative, entry):
            # The file there is another object's (or a new picture must be kept): a new name.
            final = unique_path(final.parent, final.name)
            relative = PurePosixPath(*final.relative_to(target).parts)
        elif policy.skip_existing:
            out.text(f"skipped {entry.path}: {final} exists")
            return Outcome(entry, "skipped", final, EXISTS_REASON)
        else:
            reason = FOLDER_REASON if final.is_dir() else EXISTS_REASON
            out.text(f"not downloaded {entry.path}: {final} {reason}")
            return Outcome(entry, "failed", final, reason)
    # The last line of defence: whatever the names were, the file and its partial file stay
    # inside.
    if not (inside(target, final.parent) and inside(target, part_path(final))):
        out.text(f"not downloaded {entry.path}: {final} would be outside {target}")
        return Outcome(entry, "failed", None, "outside the target folder")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        with progress.file(entry.name, entry.size) as callback:
            saved = cam.download(entry, final, progress=callback, overwrite=overwrite)
    except PartBusyError:
        # Another download (another ptpkit) is writing this object: its file, not ours to touch.
        out.text(f"not downloaded {entry.path}: {BUSY_REASON}")
        return Outcome(entry, "failed", final, BUSY_REASON)
    except ResponseError as exc:
        if not refused_by_camera(exc):
            raise  # the session is gone, or the transfer was cancelled: the batch stops
        # This object only (deleted on the camera meanwhile, protected, unreadable): the rest
        # of the batch goes on; whatever arrived stays in the partial file for a resume.
        out.text(f"not downloaded {entry.path}: {exc}")
        return Outcome(entry, "failed", final, camera_reason(exc))
    except OSError as exc:
        # This file only: a full disk, a folder that cannot be written, a file where a folder
        # should be. Named, and the batch goes on where it can.
        reason = _local_reason(exc, final)
        out.text(f"not downloaded {entry.path}: {reason}")
        return Outcome(entry, "failed", final, reason)
    assert saved is not None
    log.record(entry, relative)
    out.text(f"{entry.path} -> {saved} ({format_size(saved.stat().st_size)})")
    return Outcome(entry, "downloaded", saved)


def skip_exit_code(protocol_errors: bool) -> ExitCode:
    """How a command ends when the camera failed it, listing skips included (``ls``, ``thumb``,
    ``download``): 107 when an object broke the protocol (an ObjectInfo that does not decode),
    else 106 (the camera refused with a response code), as for any other camera error."""
    return ExitCode.LINK_ERROR if protocol_errors else ExitCode.CAMERA_ERROR


def fail_batch(tally: Tally) -> None:
    """The error a batch with failures ends with: when the camera refused every one or could
    not describe it, 106 (107 if one broke the protocol: :func:`skip_exit_code`), else 108; the
    advice fits the failures (download, capture --download)."""
    shown = tally.first_failures
    message = (
        f"{tally.failed} file(s) not downloaded: "
        + ", ".join(f"{o.file or o.entry.path} ({o.reason})" for o in shown)
        + (" ..." if tally.failed > len(shown) else "")
    )
    if tally.only_camera_failures:
        raise CliError(
            message,
            skip_exit_code(tally.protocol_errors),
            hint="`ptpkit ls -R` shows what the camera holds now",
        )
    hints = []
    if EXISTS_REASON in tally.kinds:
        hints.append(
            "pass --skip-existing to keep existing files, --new to skip earlier downloads, "
            "or --force-overwrite to replace them"
        )
    if FOLDER_REASON in tally.kinds:
        hints.append("a folder has the file's name: move it, or download elsewhere with -o")
    if BUSY_REASON in tally.kinds:
        hints.append("run it again once the other download has finished")
    if LOCAL_KIND in tally.kinds:
        hints.append("check the free space and that the folders can be written")
    raise CliError(message, ExitCode.FILE_ERROR, hint="; ".join(hints) or None)


def _local_reason(exc: OSError, final: Path) -> str:
    """Why a local file could not be written, naming it."""
    if exc.errno == errno.EEXIST and os.path.lexists(final):
        return EXISTS_REASON  # appeared while the download ran
    parent = final.parent
    if exc.errno in (errno.ENOTDIR, errno.EEXIST) and not parent.is_dir():
        return f"a file is in the way of the folder {parent}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left for {final}"
    where = exc.filename or final
    return f"{where}: {exc.strerror or exc}"


def summary(outcomes: list[Outcome]) -> str:
    tally = Tally()
    for outcome in outcomes:
        tally.add(outcome)
    return tally.summary()
