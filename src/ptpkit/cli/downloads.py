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
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from ptpkit.cli.output import Output, format_size
from ptpkit.cli.progress import BatchProgress
from ptpkit.client.camera import Camera
from ptpkit.client.files import Entry, inside, part_path, safe_filename, unique_path

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
    """``.ptpkit-downloads.json``: what was downloaded into a folder, per camera."""

    def __init__(self, folder: Path, camera: str) -> None:
        self.path = folder / LOG_NAME
        self.camera = camera
        self._data: dict[str, Any] = {"version": _LOG_VERSION, "cameras": {}}
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            loaded = None
        except (OSError, ValueError):
            # A damaged record must not stop a download; it is rewritten on the next one.
            loaded = None
        if isinstance(loaded, dict) and isinstance(loaded.get("cameras"), dict):
            self._data = loaded
        cameras = self._data["cameras"]
        if not isinstance(cameras.get(camera), dict):
            cameras[camera] = {}
        if not isinstance(cameras[camera].get("objects"), dict):
            cameras[camera]["objects"] = {}
        self._objects: dict[str, Any] = cameras[camera]["objects"]

    def has(self, entry: Entry) -> bool:
        return object_key(entry) in self._objects

    def owner_of(self, relative: PurePosixPath) -> tuple[str, str] | None:
        """(camera, object key) recorded for a local file, if any."""
        wanted = relative.as_posix()
        for camera, records in self._data["cameras"].items():
            objects = records.get("objects", {}) if isinstance(records, dict) else {}
            for key, record in objects.items():
                if isinstance(record, dict) and record.get("file") == wanted:
                    return camera, key
        return None

    def belongs_to_other(self, relative: PurePosixPath, entry: Entry) -> bool:
        """Whether the local file was recorded as another object's download."""
        owner = self.owner_of(relative)
        return owner is not None and owner != (self.camera, object_key(entry))

    def record(self, entry: Entry, relative: PurePosixPath) -> None:
        self._objects[object_key(entry)] = {
            "file": relative.as_posix(),
            "handle": entry.handle,
            "size": entry.size,
            "downloaded": _dt.datetime.now().replace(microsecond=0).isoformat(),
        }
        self._save()

    def _save(self) -> None:
        # Written whole and renamed: an interrupted run leaves the old record, never half of one.
        folder = self.path.parent
        with tempfile.NamedTemporaryFile(
            "w", dir=folder, prefix=".ptpkit-downloads-", suffix=".tmp", delete=False
        ) as tmp:
            json.dump(self._data, tmp, indent=1, sort_keys=True)
        os.replace(tmp.name, self.path)


# -- planning ------------------------------------------------------------------------------------


def plan(
    cam: Camera, roots: Iterable[Entry], *, tree: bool, whole_card: bool = False
) -> list[Planned]:
    """Every file to download for ``roots`` (files, and folders with everything below them), each
    with its local path: flat (the file's name) or, with ``tree``, the camera's folders below
    the root (from the top of the storage for ``whole_card``)."""
    multi_storage = whole_card and len(cam.storage_ids()) > 1
    planned: list[Planned] = []
    seen: set[int] = set()
    taken: set[str] = set()
    for root in roots:
        files: Iterable[Entry]
        if root.is_folder:
            files = (e for e in cam.walk(folder=root) if not e.is_folder)
        else:
            files = [root]
        for entry in files:
            if entry.handle in seen:
                continue
            seen.add(entry.handle)
            relative = _local_relative(entry, root, tree=tree, whole_card=whole_card)
            if multi_storage and tree:
                relative = PurePosixPath(safe_filename(entry.path.split("/")[1])) / relative
            planned.append(Planned(entry, _unique_in_run(relative, taken)))
    return planned


def _local_relative(entry: Entry, root: Entry, *, tree: bool, whole_card: bool) -> PurePosixPath:
    name = safe_filename(entry.name, fallback=f"object_{entry.handle:08x}")
    if not tree:
        return PurePosixPath(name)
    parts = PurePosixPath(entry.path).parts[1:]  # drop "/"
    if whole_card:
        below = parts[1:]  # below the storage folder
    else:
        # From the root folder itself: `download --tree DCIM/100PTPKT` makes 100PTPKT/...
        root_parts = PurePosixPath(root.path).parts[1:]
        below = parts[len(root_parts) - 1 :] if root.is_folder else parts[-1:]
    folders = [safe_filename(part) for part in below[:-1]]
    return PurePosixPath(*folders, name)


def _unique_in_run(relative: PurePosixPath, taken: set[str]) -> PurePosixPath:
    if relative.as_posix() not in taken:
        taken.add(relative.as_posix())
        return relative
    stem, extension = os.path.splitext(relative.name)
    counter = 2
    while True:
        candidate = relative.with_name(f"{stem} ({counter}){extension}")
        if candidate.as_posix() not in taken:
            taken.add(candidate.as_posix())
            return candidate
        counter += 1


# -- running -------------------------------------------------------------------------------------


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
    with BatchProgress(
        out.progress_console, files=len(planned), total_bytes=total, enabled=out.shows_progress
    ) as progress:
        for item in planned:
            outcome = _one(
                cam, item, target=target, policy=policy, log=log, progress=progress, out=out
            )
            progress.finished(item.entry.size)
            outcomes.append(outcome)
    return outcomes


def _one(
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
    if final.exists() or final.is_symlink():
        if policy.force_overwrite:
            overwrite = True
        elif policy.rename_existing or log.belongs_to_other(relative, entry):
            # The file there is another object's (or a new picture must be kept): a new name.
            final = unique_path(final.parent, final.name)
            relative = PurePosixPath(*final.relative_to(target).parts)
        elif policy.skip_existing:
            out.text(f"skipped {entry.path}: {final} exists")
            return Outcome(entry, "skipped", final, "exists")
        else:
            out.text(f"not downloaded {entry.path}: {final} exists")
            return Outcome(entry, "failed", final, "exists")
    # The last line of defence: whatever the names were, the file and its .part stay inside.
    if not (inside(target, final.parent) and inside(target, part_path(final))):
        out.text(f"not downloaded {entry.path}: {final} would be outside {target}")
        return Outcome(entry, "failed", None, "outside the target folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    with progress.file(entry.name, entry.size) as callback:
        saved = cam.download(entry, final, progress=callback, overwrite=overwrite)
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
