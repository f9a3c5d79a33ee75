"""Storages and files: ``storage``, ``ls``, ``download``, ``upload``, ``rm``, ``thumb``.

Objects are named by handle (``0x0000000A`` as ``ls`` prints it, or decimal) or by path; see
:mod:`ptpkit.cli.targets`.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import click

from ptpkit.cli import downloads, schema
from ptpkit.cli.errors import CliError, Hinted
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.output import Json, Output, columns, dumps, format_size, format_when
from ptpkit.cli.progress import BatchProgress
from ptpkit.cli.session import Session, json_option, pass_session, session_command
from ptpkit.cli.targets import parse_storage, resolve
from ptpkit.client.camera import Camera, SkipCallback, SkippedObject
from ptpkit.client.files import Entry, numbered, parse_storage_folder, write_file
from ptpkit.codes.common import Rc
from ptpkit.errors import NotFoundError, ResponseError, UsageError

force_overwrite_option = click.option(
    "--force-overwrite", is_flag=True, help="Replace files that already exist."
)
output_dir_option = click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default="the current folder",
    help="Folder to write to (created if missing).",
)


@session_command
@click.command()
@json_option
@pass_session
def storage(session: Session, as_json: bool) -> None:
    """List the camera's storages (cards) with capacity and free space."""
    out = session.out(as_json)
    docs = [schema.storage(item) for item in session.camera().storages()]
    out.data(docs)
    rows = [
        [
            doc["folder"],
            doc["description"] or "-",
            doc["volume_label"] or "-",
            f"{format_size(doc['free_space_bytes'])} free"
            f" of {format_size(doc['max_capacity_bytes'])}",
            "read-only" if doc["read_only"] else "read-write",
            doc["storage_type"],
        ]
        for doc in docs
    ]
    for line in columns(rows):
        out.text(line)


# -- listing -------------------------------------------------------------------------------------


@session_command
@click.command()
@click.argument("path", required=False)
@click.option("-R", "--recursive", is_flag=True, help="Everything below, folders first.")
@click.option("-l", "--long", "long_format", is_flag=True, help="Sizes and dates too.")
@json_option
@pass_session
def ls(
    session: Session, path: str | None, recursive: bool, long_format: bool, as_json: bool
) -> None:
    """List files with their handles (PATH: a folder, file, storage or handle; default: the top
    of every storage).

    Entries are printed as they are read (a card of a million files is never held in memory).
    An object the camera cannot describe is reported on stderr (handle and reason) and the
    listing goes on; the command then exits with 107."""
    out = session.out(as_json)
    cam = session.camera()
    docs = JsonArray(out)
    skips = SkipReport(out, docs)
    try:
        for entry in _listing(cam, path, recursive=recursive, on_error=skips):
            docs.add(schema.entry(entry, cam))
            shown = entry.path + ("/" if entry.is_folder else "")
            if long_format:
                size = "-" if entry.is_folder else str(entry.size)
                when = format_when(entry.modified or entry.captured)
                # Fixed widths: lines are printed as they come, not aligned afterwards.
                out.text(f"0x{entry.handle:08X}  {size:>12}  {when:<16}  {shown}")
            else:
                out.text(f"0x{entry.handle:08X}  {shown}")
    finally:
        docs.close()
    skips.finish()


def _listing(
    cam: Camera, path: str | None, *, recursive: bool, on_error: SkipCallback
) -> Iterator[Entry]:
    if path is None or path.strip("/") == "":
        if recursive:
            return cam.walk(on_error=on_error)
        return cam.iter_folder(None, on_error=on_error)
    storage_id = parse_storage_folder(path.strip("/"))
    if storage_id is not None:
        if storage_id not in cam.storage_ids():
            raise NotFoundError(f"the camera has no storage {path.strip('/')}")
        if recursive:
            return cam.walk(storage_id, on_error=on_error)
        return (e for e in cam.iter_folder(None, on_error=on_error) if e.storage_id == storage_id)
    entry = resolve(cam, path)
    if not entry.is_folder:
        return iter([entry])
    if recursive:
        return cam.walk(folder=entry, on_error=on_error)
    return cam.iter_folder(entry, on_error=on_error)


class JsonArray:
    """A command's JSON result that is a list, written item by item as ``json.dumps(list,
    indent=2)`` would print it whole, so that a listing of a million objects is never held.
    (The command server collects documents for its envelope: there the list is built.)"""

    def __init__(self, out: Output) -> None:
        self._out = out
        self._items: list[Json] | None = [] if out.collect else None
        self._count = 0

    def add(self, document: Json) -> None:
        out = self._out
        if not out.json_mode:
            return
        if self._items is not None:
            self._items.append(document)
            return
        lead = "[\n" if self._count == 0 else ",\n"
        out.stdout.write(lead + textwrap.indent(dumps(document, indent=2), "  "))
        self._count += 1

    def close(self) -> None:
        """End the array (also after an error: what was listed stays valid JSON)."""
        out = self._out
        if not out.json_mode:
            return
        if self._items is not None:
            out.data(self._items)
            return
        out.stdout.write("[]\n" if self._count == 0 else "\n]\n")
        out.stdout.flush()


class SkipReport:
    """Objects a listing went past: each is told on stderr as it happens (made safe for the
    terminal) and put in the JSON result as ``{"handle", "hex", "folder", "skipped": true,
    "reason"}``; :meth:`finish` ends the command with 107 (the camera broke the protocol)."""

    def __init__(self, out: Output, docs: JsonArray | None = None) -> None:
        self._out = out
        self._docs = docs
        self.count = 0
        self._first: list[SkippedObject] = []

    def __call__(self, skipped: SkippedObject) -> None:
        self.count += 1
        if len(self._first) < 3:
            self._first.append(skipped)
        self._out.note(
            f"skipped 0x{skipped.handle:08X} in {skipped.folder}: the camera cannot describe it "
            f"({skipped.reason})"
        )
        if self._docs is not None:
            self._docs.add(skipped_doc(skipped))

    def finish(self) -> None:
        if not self.count:
            return
        shown = ", ".join(f"0x{s.handle:08X}" for s in self._first)
        raise CliError(
            f"{self.count} object(s) skipped: the camera could not describe them ({shown}"
            + (" ...)" if self.count > len(self._first) else ")"),
            ExitCode.LINK_ERROR,
            hint="the rest was listed; `ptpkit --debug` shows the camera's answers",
        )


def skipped_doc(skipped: SkippedObject) -> dict[str, Json]:
    return {
        "handle": skipped.handle,
        "hex": f"0x{skipped.handle:08X}",
        "folder": skipped.folder,
        "skipped": True,
        "reason": skipped.reason,
    }


# -- download ------------------------------------------------------------------------------------


@session_command
@click.command()
@click.argument("targets", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every file on the camera.")
@output_dir_option
@click.option(
    "--tree",
    is_flag=True,
    help="Recreate the camera's folders below the output folder (default: all files in it).",
)
@click.option("--skip-existing", is_flag=True, help="Skip files that already exist.")
@click.option(
    "--new",
    "only_new",
    is_flag=True,
    help="Only objects not downloaded into this folder before (recorded in "
    f"{downloads.LOG_NAME} there).",
)
@force_overwrite_option
@json_option
@pass_session
def download(
    session: Session,
    *,
    targets: tuple[str, ...],
    everything: bool,
    output: Path,
    tree: bool,
    skip_existing: bool,
    only_new: bool,
    force_overwrite: bool,
    as_json: bool,
) -> None:
    """Download files (HANDLE or PATH; a folder means everything in it) with a progress bar.

    Never overwrites an existing file unless --force-overwrite; an incomplete download stays
    as NAME.part (and is resumed next time), never under the final name."""
    out = session.out(as_json)
    if everything == bool(targets):
        raise click.UsageError("give HANDLE or PATH arguments, or --all (not both)")
    if skip_existing and force_overwrite:
        raise click.UsageError("--skip-existing and --force-overwrite contradict each other")
    cam = session.camera()
    roots = None if everything else [resolve(cam, target) for target in targets]
    planned = downloads.plan(cam, roots, tree=tree)
    policy = downloads.Policy(
        skip_existing=skip_existing, force_overwrite=force_overwrite, only_new=only_new
    )
    outcomes = downloads.run(cam, planned, output, policy, out)
    out.data([outcome.doc() for outcome in outcomes])
    out.note(downloads.summary(outcomes))
    refused = [o for o in outcomes if o.status == "failed"]
    by_camera = [o for o in refused if (o.reason or "").startswith(downloads.CAMERA_REASON)]
    if by_camera and len(by_camera) == len(refused):
        raise CliError(
            f"{len(refused)} file(s) not downloaded: "
            + ", ".join(f"{o.entry.path} ({o.reason})" for o in refused[:3])
            + (" ..." if len(refused) > 3 else ""),
            ExitCode.CAMERA_ERROR,
            hint="`ptpkit ls -R` shows what the camera holds now",
        )
    if refused:
        raise CliError(
            f"{len(refused)} file(s) not downloaded: "
            + ", ".join(f"{o.file or o.entry.path} ({o.reason})" for o in refused[:3])
            + (" ..." if len(refused) > 3 else ""),
            ExitCode.FILE_ERROR,
            hint="pass --skip-existing to keep them, --new to skip earlier downloads, "
            "or --force-overwrite to replace them"
            if any(_local_trouble(o.reason) for o in refused)
            else "run it again once the other download has finished",
        )


def _local_trouble(reason: str | None) -> bool:
    """A reason the download options can change (a file exists, a folder is in the way)."""
    return not (
        reason == downloads.BUSY_REASON or (reason or "").startswith(downloads.CAMERA_REASON)
    )


# -- upload, rm, thumb ---------------------------------------------------------------------------


@session_command
@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--storage", "storage_text", help="Storage: store_00010001 or its hex id.")
@click.option("--folder", help="Folder on the camera (path or handle; default: the top).")
@json_option
@pass_session
def upload(
    session: Session,
    files: tuple[Path, ...],
    storage_text: str | None,
    folder: str | None,
    as_json: bool,
) -> None:
    """Send files to the camera."""
    out = session.out(as_json)
    cam = session.camera()
    storage_id = parse_storage(storage_text) if storage_text is not None else None
    folder_entry = resolve(cam, folder) if folder is not None else None
    if folder_entry is not None and not folder_entry.is_folder:
        raise UsageError(f"{folder_entry.path} is not a folder")
    if folder_entry is not None and storage_id not in (None, folder_entry.storage_id):
        raise UsageError(f"{folder_entry.path} is not on storage 0x{storage_id:08X}")
    uploaded = _upload(cam, files, storage_id, folder_entry, out)
    out.data([schema.entry(entry, cam) for entry in uploaded])


def _upload(
    cam: Camera,
    files: tuple[Path, ...],
    storage_id: int | None,
    folder: Entry | None,
    out: Output,
) -> list[Entry]:
    sizes = {path: path.stat().st_size for path in files}
    uploaded = []
    with BatchProgress(
        out.progress_console,
        files=len(files),
        total_bytes=sum(sizes.values()),
        enabled=out.shows_progress,
    ) as progress:
        for path in files:
            with progress.file(path.name, sizes[path]) as callback:
                entry = cam.upload(path, storage_id=storage_id, folder=folder, progress=callback)
            progress.finished(sizes[path])
            uploaded.append(entry)
            out.text(f"{path} -> {entry.path} (0x{entry.handle:08X})")
    return uploaded


@session_command
@click.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("-r", "--recursive", is_flag=True, help="Allow deleting folders with their contents.")
@json_option
@pass_session
def rm(session: Session, targets: tuple[str, ...], recursive: bool, as_json: bool) -> None:
    """Delete objects from the camera (HANDLE or PATH)."""
    out = session.out(as_json)
    cam = session.camera()
    entries = [resolve(cam, target) for target in targets]
    for entry in entries:
        if entry.is_folder and not recursive:
            raise UsageError(f"{entry.path} is a folder; pass -r to delete it with its contents")
    deleted = []
    for entry in entries:
        cam.delete(entry)
        deleted.append(schema.entry(entry, cam))
        out.text(f"deleted {entry.path}")
    out.data(deleted)


@session_command
@click.command()
@click.argument("targets", nargs=-1, required=True)
@output_dir_option
@force_overwrite_option
@json_option
@pass_session
def thumb(
    session: Session, targets: tuple[str, ...], output: Path, force_overwrite: bool, as_json: bool
) -> None:
    """Save objects' thumbnails as thumb_NAME.jpg (HANDLE or PATH; a folder means every file
    below it, as gphoto2 does). In a folder, a file without a thumbnail or one the camera
    refuses is reported and the rest goes on; two files of one name get ``thumb_NAME (2).jpg``."""
    out = session.out(as_json)
    cam = session.camera()
    output.mkdir(parents=True, exist_ok=True)
    docs = JsonArray(out)
    skips = SkipReport(out, docs)
    refused: list[str] = []
    taken: set[str] = set()
    try:
        for target in targets:
            entry = resolve(cam, target)
            if not entry.is_folder:
                _save_thumb(
                    cam,
                    entry,
                    output=output,
                    force_overwrite=force_overwrite,
                    taken=taken,
                    docs=docs,
                    out=out,
                )
                continue
            for item in cam.walk(folder=entry, on_error=skips):
                if item.is_folder:
                    continue
                try:
                    _save_thumb(
                        cam,
                        item,
                        output=output,
                        force_overwrite=force_overwrite,
                        taken=taken,
                        docs=docs,
                        out=out,
                    )
                except ResponseError as exc:
                    # One file without a thumbnail (a text file) must not end the folder.
                    out.note(f"{item.path}: no thumbnail ({exc})")
                    docs.add(
                        {
                            "handle": item.handle,
                            "path": item.path,
                            "file": None,
                            "size": 0,
                            "reason": str(exc),
                        }
                    )
                    if exc.code != Rc.NO_THUMBNAIL_PRESENT:
                        refused.append(item.path)
    finally:
        docs.close()
    skips.finish()
    if refused:
        raise CliError(
            f"{len(refused)} thumbnail(s) refused by the camera: " + ", ".join(refused[:3]),
            ExitCode.CAMERA_ERROR,
        )


def _save_thumb(
    cam: Camera,
    entry: Entry,
    *,
    output: Path,
    force_overwrite: bool,
    taken: set[str],
    docs: JsonArray,
    out: Output,
) -> None:
    data = cam.thumbnail(entry)
    # One safe name component: the file cannot land outside the folder. A name this command
    # already wrote (IMG_0001.JPG in two folders) is numbered, never overwritten.
    base = f"thumb_{os.path.splitext(entry.local_name)[0]}.jpg"
    name = next(n for n in numbered(base) if n not in taken)
    taken.add(name)
    path = output / name
    try:
        write_file(path, data, overwrite=force_overwrite)
    except FileExistsError as exc:
        raise Hinted(exc, "pass --force-overwrite to replace it") from None
    docs.add({"handle": entry.handle, "path": entry.path, "file": str(path), "size": len(data)})
    out.text(f"{entry.path} -> {path} ({format_size(len(data))})")


COMMANDS = [storage, ls, download, upload, rm, thumb]
