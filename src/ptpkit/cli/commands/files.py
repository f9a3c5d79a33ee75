"""Storages and files: ``storage``, ``ls``, ``download``, ``upload``, ``rm``, ``thumb``.

Objects are named by handle (``0x0000000A`` as ``ls`` prints it, or decimal) or by path; see
:mod:`ptpkit.cli.targets`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from ptpkit.cli import downloads, schema
from ptpkit.cli.errors import CliError, Hinted, describe_error
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.output import Json, Output, columns, format_size, format_when
from ptpkit.cli.progress import BatchProgress
from ptpkit.cli.session import Session, json_option, pass_session, session_command
from ptpkit.cli.targets import named_storage, resolve, storage_id
from ptpkit.client.camera import Camera, SkipCallback, SkippedObject
from ptpkit.client.files import Entry, numbered, write_file
from ptpkit.codes.common import Rc
from ptpkit.errors import ResponseError, UsageError

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
@click.argument("which", required=False, metavar="[STORAGE]")
@json_option
@pass_session
def storage(session: Session, which: str | None, as_json: bool) -> None:
    """List the camera's storages (cards) with capacity and free space."""
    out = session.out(as_json)
    cam = session.camera()
    wanted = storage_id(cam, which) if which is not None else None
    docs = [
        schema.storage(item)
        for item in cam.storages()
        if wanted is None or item.storage_id == wanted
    ]
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
    # Resolved before the array opens: a path that names nothing is an error with no result,
    # not an empty list (which a script would read as an empty folder).
    entries = _listing(cam, path, recursive=recursive, on_error=skips)
    try:
        for entry in entries:
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
    named = named_storage(cam, path)
    if named is not None:
        if recursive:
            return cam.walk(named, on_error=on_error)
        return (e for e in cam.iter_folder(None, on_error=on_error) if e.storage_id == named)
    entry = resolve(cam, path)
    if not entry.is_folder:
        return iter([entry])
    if recursive:
        return cam.walk(folder=entry, on_error=on_error)
    return cam.iter_folder(entry, on_error=on_error)


class JsonArray:
    """:meth:`Output.array` as an object that callbacks can hold (a listing's skip report adds
    to it): the command's list result written item by item, never held whole, and ended by
    :meth:`close` however the command ends."""

    def __init__(self, out: Output) -> None:
        self._out = out
        # Opened at the first item or at close(): a command that fails before its result
        # starts (a path that names nothing) prints no array at all.
        self._array: contextlib.AbstractContextManager[Callable[[Json], None]] | None = None
        self._add: Callable[[Json], None] | None = None

    def add(self, document: Json) -> None:
        if self._add is None:
            self._array = self._out.array()
            self._add = self._array.__enter__()
        self._add(document)

    def close(self) -> None:
        """End the array (also after an error: what was listed stays valid JSON)."""
        if self._array is None:
            self._array = self._out.array()
            self._array.__enter__()
        self._array.__exit__(None, None, None)


class SkipReport:
    """Objects a listing went past: each is told on stderr as it happens (made safe for the
    terminal) and put in the JSON result as ``{"handle", "hex", "folder", "skipped": true,
    "reason"}``; :meth:`finish` ends the command with
    :func:`~ptpkit.cli.downloads.skip_exit_code`'s code (107, or 106 for refusals)."""

    def __init__(self, out: Output, docs: JsonArray | None = None) -> None:
        self._out = out
        self._docs = docs
        self.count = 0
        #: Whether a skipped object broke the protocol (an undecodable ObjectInfo...) rather
        #: than being refused with a response code.
        self.protocol_errors = False
        self._first: list[SkippedObject] = []

    def __call__(self, skipped: SkippedObject) -> None:
        self.count += 1
        self.protocol_errors |= not isinstance(skipped.error, ResponseError)
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
            downloads.skip_exit_code(self.protocol_errors),
            hint="the rest was listed; `ptpkit -vv ...` shows the camera's answers",
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
    as NAME.ptpkit-part (and is resumed next time), never under the final name. Files keep the
    camera's time. A file that cannot be downloaded is named and the rest goes on."""
    out = session.out(as_json)
    if everything == bool(targets):
        raise click.UsageError("give HANDLE or PATH arguments, or --all (not both)")
    if skip_existing and force_overwrite:
        raise click.UsageError("--skip-existing and --force-overwrite contradict each other")
    if os.path.lexists(output) and not output.is_dir():
        raise CliError(
            f"{output} is not a folder",
            ExitCode.FILE_ERROR,
            hint="give -o a folder (it is made if missing)",
        )
    # (A folder that cannot be made, say below a file, is refused by open_record.)
    cam = session.camera()
    roots = None if everything else [resolve(cam, target) for target in targets]
    policy = downloads.Policy(
        skip_existing=skip_existing, force_overwrite=force_overwrite, only_new=only_new
    )
    book = downloads.open_record(output, cam, out)
    tally = downloads.Tally()
    with out.array() as add, contextlib.closing(book):

        def skipped(item: SkippedObject) -> None:
            # Reported as it comes (stderr: not a file line), counted, and the walk goes on.
            out.note(f"not downloaded 0x{item.handle:08X} in {item.folder}: {item.reason}")
            tally.add_skip(item)
            add(downloads.skipped_doc(item))

        planned = downloads.plan_stream(cam, roots, tree=tree, book=book, on_skip=skipped)
        downloads.run_batch(
            cam,
            planned,
            output,
            policy,
            out,
            on_outcome=lambda outcome: add(outcome.doc()),
            log_book=book,
            tally=tally,
        )
    out.note(tally.summary())
    if tally.failed:
        downloads.fail_batch(tally)


# -- upload, rm, thumb ---------------------------------------------------------------------------


@session_command
@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--storage", "storage_text", help="Storage: store_00010001 or its hex id (0x00010001)."
)
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
    """Send files to the camera. A file that fails is reported by name and the rest go on;
    the command then ends with an error (106 if the camera refused, 108 for a local file)."""
    out = session.out(as_json)
    cam = session.camera()
    target_storage = storage_id(cam, storage_text) if storage_text is not None else None
    folder_entry = resolve(cam, folder) if folder is not None else None
    if folder_entry is not None and not folder_entry.is_folder:
        raise UsageError(f"{folder_entry.path} is not a folder")
    if folder_entry is not None and target_storage not in (None, folder_entry.storage_id):
        raise UsageError(f"{folder_entry.path} is not on storage 0x{target_storage:08X}")
    docs, failed = _upload(cam, files, target_storage, folder_entry, out)
    out.data(docs)
    if failed:
        names = ", ".join(f"{path} ({reason})" for path, reason, _ in failed[:3])
        local = any(not by_camera for _, _, by_camera in failed)
        raise CliError(
            f"{len(failed)} of {len(files)} file(s) not uploaded: {names}"
            + (" ..." if len(failed) > 3 else ""),
            ExitCode.FILE_ERROR if local else ExitCode.CAMERA_ERROR,
        )


#: One upload that failed: the local file, why, and whether the camera refused it.
_Failure = tuple[Path, str, bool]


def _upload(
    cam: Camera,
    files: tuple[Path, ...],
    storage: int | None,
    folder: Entry | None,
    out: Output,
) -> tuple[list[schema.Doc], list[_Failure]]:
    sizes = {path: _size(path) for path in files}
    docs: list[schema.Doc] = []
    failed: list[_Failure] = []
    with BatchProgress.for_output(
        out,
        files=len(files),
        total_bytes=sum(sizes.values()),
    ) as progress:
        for path in files:
            try:
                with progress.file(path.name, sizes[path]) as callback:
                    entry = cam.upload(path, storage_id=storage, folder=folder, progress=callback)
            except (ResponseError, OSError, UsageError) as exc:
                # One file the camera refuses (StoreFull, a name it does not take...) or that
                # cannot be read here: named, and the others still go. A broken link is not
                # caught: nothing after it could succeed.
                reason, _ = describe_error(exc)
                failed.append((path, reason, isinstance(exc, ResponseError)))
                docs.append(schema.upload_failed(path, reason))
                out.text(f"not uploaded {path}: {reason}")
                continue
            finally:
                progress.finished(sizes[path])
            docs.append(schema.uploaded(entry, cam, path))
            out.text(f"{path} -> {entry.path} (0x{entry.handle:08X})")
    return docs, failed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # reported when the upload itself fails to open it


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
    done: set[int] = set()
    try:
        for entry in entries:
            if entry.handle in done:
                continue  # named twice (a path and its handle): deleted once
            cam.delete(entry)
            done.add(entry.handle)
            deleted.append(schema.entry(entry, cam))
            out.text(f"deleted {entry.path}")
    finally:
        # Also when a delete fails part way: what is gone already is reported.
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
    # Every target resolved before anything is written: one that names nothing is an error
    # with no result (not an empty list) and no thumbnail saved.
    entries = [resolve(cam, target) for target in targets]
    output.mkdir(parents=True, exist_ok=True)
    docs = JsonArray(out)
    skips = SkipReport(out, docs)
    refused: list[str] = []
    taken: set[str] = set()
    try:
        for entry in entries:
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
                    docs.add(schema.no_thumbnail(item, str(exc)))
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
    docs.add(schema.thumbnail(entry, path, len(data)))
    out.text(f"{entry.path} -> {path} ({format_size(len(data))})")


COMMANDS = [storage, ls, download, upload, rm, thumb]
