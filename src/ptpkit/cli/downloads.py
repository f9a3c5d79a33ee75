"""Downloading many objects into one folder safely: ``download``, ``capture --download`` and
``tether`` all go through here.

The rules:

- Nothing is written outside the target folder: every local name is built from the camera's
  names with :func:`~ptpkit.client.files.safe_filename` (one harmless component each), and the
  result is checked to lie inside the folder, symlinks resolved.
- An incomplete file never stands under its final name: ``Camera.download`` writes ``NAME.part``
  and renames it when complete (an interrupted download is resumed from the ``.part``).
- An existing file is never replaced unless asked (``--force-overwrite``). ``--skip-existing``
  skips it; otherwise it is reported as not downloaded and the command exits with code 108.
  Two objects of one run that would get the same name get ``NAME (2).EXT``.
- ``--new`` means "not downloaded into this folder before": every download is recorded in
  ``.ptpkit-downloads.json`` in the target folder (per camera: its camera path and size, and the
  local file), and ``--new`` skips what is recorded, even if the local file was since moved or
  deleted (as a photo importer does). The record also tells that an existing local file came from
  a *different* object of the same name (a card that restarted its numbering): the new object
  then gets a new name instead of being refused.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from ptpkit.cli.output import Output, format_size
from ptpkit.cli.progress import BatchProgress
from ptpkit.client.camera import Camera
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
from ptpkit.errors import ResponseError, SessionError, TransactionCancelled

LOG_NAME: Final = ".ptpkit-downloads.json"
_LOG_VERSION: Final = 1


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


def camera_key(cam: Camera) -> str:
    """Which camera a record belongs to: what it says it is."""
    info = cam.device_info
    return f"{info.manufacturer}|{info.model}|{info.serial_number}"


def object_key(entry: Entry) -> str:
    # PTP promises object handles only for the life of a session (many cameras renumber on
    # every connection); the path and size of a picture survive.
    return f"{entry.path}|{entry.size}"


class DownloadLog:
    """``.ptpkit-downloads.json``: what was downloaded into a folder, per camera.

    The file holds the folder's whole history, so it is not rewritten after every download of a
    batch (that grew quadratically: minutes for a card of some thousand pictures) but at most
    every :attr:`save_interval_s`, and by :meth:`flush` when the batch ends, however it ends.
    """

    save_interval_s: float = 2.0

    def __init__(self, folder: Path, camera: str) -> None:
        self.path = folder / LOG_NAME
        self.camera = camera
        self._data: dict[str, Any] = {"version": _LOG_VERSION, "cameras": {}}
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # Missing, or damaged: a damaged record must not stop a download; it is rewritten
            # on the next one.
            loaded = None
        if isinstance(loaded, dict) and isinstance(loaded.get("cameras"), dict):
            self._data = loaded
        cameras = self._data["cameras"]
        if not isinstance(cameras.get(camera), dict):
            cameras[camera] = {}
        if not isinstance(cameras[camera].get("objects"), dict):
            cameras[camera]["objects"] = {}
        self._objects: dict[str, Any] = cameras[camera]["objects"]
        #: Local file -> (camera, object key) of the download that wrote it.
        self._owners: dict[str, tuple[str, str]] = {}
        for camera_name, records in cameras.items():
            objects = records.get("objects", {}) if isinstance(records, dict) else {}
            for key, record in objects.items():
                if isinstance(record, dict) and isinstance(record.get("file"), str):
                    self._owners.setdefault(record["file"], (camera_name, key))
        self._unsaved = False
        self._saved_at: float | None = None

    def has(self, entry: Entry) -> bool:
        return object_key(entry) in self._objects

    def belongs_to_other(self, relative: PurePosixPath, entry: Entry) -> bool:
        """Whether the local file was recorded as another object's download."""
        owner = self._owners.get(relative.as_posix())
        return owner is not None and owner != (self.camera, object_key(entry))

    def record(self, entry: Entry, relative: PurePosixPath) -> None:
        key = object_key(entry)
        self._objects[key] = {
            "file": relative.as_posix(),
            "handle": entry.handle,
            "size": entry.size,
            "downloaded": _dt.datetime.now().replace(microsecond=0).isoformat(),
        }
        self._owners[relative.as_posix()] = (self.camera, key)
        self._unsaved = True
        now = time.monotonic()
        if self._saved_at is None or now - self._saved_at >= self.save_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write what was recorded since the last write, if anything."""
        if not self._unsaved:
            return
        # Written whole and renamed: an interrupted run leaves the old record, never half of one.
        with tempfile.NamedTemporaryFile(
            "w", dir=self.path.parent, prefix=".ptpkit-downloads-", suffix=".tmp", delete=False
        ) as tmp:
            try:
                json.dump(self._data, tmp, indent=1, sort_keys=True)
            except BaseException:
                tmp.close()
                os.unlink(tmp.name)
                raise
        os.replace(tmp.name, self.path)
        self._unsaved = False
        self._saved_at = time.monotonic()


# -- planning ------------------------------------------------------------------------------------


def plan(cam: Camera, roots: Iterable[Entry] | None, *, tree: bool) -> list[Planned]:
    """Every file to download for ``roots`` (files, and folders with everything below them;
    None: the whole card), each with its local path: flat (the file's name) or, with ``tree``,
    the camera's folders from each root folder down (for the whole card: from the top of the
    storage, below a ``store_XXXXXXXX`` folder each when the camera has several).

    Local folders follow each object's parent, not its path: a camera's name may hold a ``/``
    (``a/b.jpg`` is one object, not a file ``b.jpg`` in a folder ``a``)."""
    entries: Iterable[Entry]
    if roots is None:
        entries = cam.walk()
    else:
        entries = itertools.chain.from_iterable(_with_contents(cam, root) for root in roots)
    several_storages = tree and roots is None and len(cam.storage_ids()) > 1
    #: The local folder of each camera folder met so far (--tree).
    folders: dict[int, PurePosixPath] = {}
    planned: list[Planned] = []
    seen: set[int] = set()
    taken: set[str] = set()
    for entry in entries:
        if entry.handle in seen:
            continue
        seen.add(entry.handle)
        folder = folders.get(entry.parent) if tree else None
        if folder is None:  # a root, or the top of the card
            folder = PurePosixPath(storage_folder(entry.storage_id) if several_storages else "")
        if entry.is_folder:
            folders[entry.handle] = folder / safe_filename(
                entry.name, fallback=f"folder_{entry.handle:08x}"
            )
        else:
            planned.append(Planned(entry, _unique_in_run(folder / entry.local_name, taken)))
    return planned


def _with_contents(cam: Camera, root: Entry) -> Iterator[Entry]:
    """``root``, then, for a folder, everything below it (each folder before its contents)."""
    yield root
    if root.is_folder:
        yield from cam.walk(folder=root)


def _unique_in_run(relative: PurePosixPath, taken: set[str]) -> PurePosixPath:
    """``relative``, or its ``NAME (2).EXT`` twin when another file of this run has that name."""
    chosen = next(
        candidate
        for candidate in (relative.with_name(name) for name in numbered(relative.name))
        if candidate.as_posix() not in taken
    )
    taken.add(chosen.as_posix())
    return chosen


# -- running -------------------------------------------------------------------------------------


#: Why a file was not downloaded when another download holds its ``.part``.
BUSY_REASON: Final = "another download is writing it"
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


def run(
    cam: Camera,
    planned: list[Planned],
    target: Path,
    policy: Policy,
    out: Output,
) -> list[Outcome]:
    """Download ``planned`` into ``target`` under ``policy``; one text line per file."""
    target.mkdir(parents=True, exist_ok=True)
    log = DownloadLog(target, camera_key(cam))
    outcomes: list[Outcome] = []
    total = sum(p.entry.size for p in planned)
    try:
        with BatchProgress(
            out.progress_console, files=len(planned), total_bytes=total, enabled=out.shows_progress
        ) as progress:
            for item in planned:
                outcome = _download_one(
                    cam, item, target=target, policy=policy, log=log, progress=progress, out=out
                )
                progress.finished(item.entry.size)
                outcomes.append(outcome)
    finally:
        log.flush()  # also when a download fails or Ctrl-C stops the batch
    return outcomes


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
    if policy.only_new and log.has(entry):
        out.text(f"skipped {entry.path}: downloaded before")
        return Outcome(entry, "skipped", None, "downloaded before")
    relative = item.relative
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
            return Outcome(entry, "skipped", final, "exists")
        else:
            reason = "is a folder" if final.is_dir() else "exists"
            out.text(f"not downloaded {entry.path}: {final} {reason}")
            return Outcome(entry, "failed", final, reason)
    # The last line of defence: whatever the names were, the file and its .part stay inside.
    if not (inside(target, final.parent) and inside(target, part_path(final))):
        out.text(f"not downloaded {entry.path}: {final} would be outside {target}")
        return Outcome(entry, "failed", None, "outside the target folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        with progress.file(entry.name, entry.size) as callback:
            saved = cam.download(entry, final, progress=callback, overwrite=overwrite)
    except PartBusyError as exc:
        # Another download (another ptpkit) is writing this name: its file, not ours to touch.
        out.text(f"not downloaded {entry.path}: {exc.strerror}")
        return Outcome(entry, "failed", final, BUSY_REASON)
    except ResponseError as exc:
        if not refused_by_camera(exc):
            raise  # the session is gone, or the transfer was cancelled: the batch stops
        # This object only (deleted on the camera meanwhile, protected, unreadable): the rest
        # of the batch goes on; whatever arrived stays in the .part for a resume.
        out.text(f"not downloaded {entry.path}: {exc}")
        return Outcome(entry, "failed", final, camera_reason(exc))
    assert saved is not None
    log.record(entry, relative)
    out.text(f"{entry.path} -> {saved} ({format_size(saved.stat().st_size)})")
    return Outcome(entry, "downloaded", saved)


def summary(outcomes: list[Outcome]) -> str:
    downloaded = [o for o in outcomes if o.status == "downloaded"]
    size = sum(o.entry.size for o in downloaded)
    parts = [f"{len(downloaded)} downloaded ({format_size(size)})"]
    skipped = sum(1 for o in outcomes if o.status == "skipped")
    failed = sum(1 for o in outcomes if o.status == "failed")
    if skipped:
        parts.append(f"{skipped} skipped")
    if failed:
        parts.append(f"{failed} not downloaded")
    return ", ".join(parts)
