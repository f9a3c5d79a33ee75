"""Files on the camera as the client sees them, and turning camera names into safe local names.

Paths follow gphoto2's convention: the storage comes first, ``/store_00010001/DCIM/IMG_0001.JPG``,
so every object has one unambiguous path even with two cards.

Names come from an untrusted device: :func:`safe_filename` makes a name one harmless path
component (no ``/``, ``\\``, ``..``, NUL or control characters, a bounded length), and
:func:`unique_path` keeps two objects with the same name from overwriting each other.

Local files are written to ``NAME.part`` and given their final name with :func:`publish` when
complete, so an incomplete file never stands under the final name and an existing file is never
replaced unless asked.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import logging
import os
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Final

from ptpkit.core.datasets import ObjectInfo

#: Longest local file name in bytes (ext4, APFS, NTFS all allow 255).
MAX_NAME_BYTES: Final = 255
#: Suffix of a download that is not complete yet.
PART_SUFFIX: Final = ".part"

log = logging.getLogger("ptpkit")

_STORE_RE: Final = re.compile(r"^store_([0-9a-fA-F]{8})$")


def storage_folder(storage_id: int) -> str:
    return f"store_{storage_id:08x}"


def parse_storage_folder(name: str) -> int | None:
    match = _STORE_RE.match(name)
    return int(match.group(1), 16) if match else None


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One object on the camera: a file or a folder."""

    handle: int
    storage_id: int
    #: Handle of the folder it is in; 0 at the top of its storage.
    parent: int
    #: The name as the camera reports it (untrusted: see :func:`safe_filename`).
    name: str
    #: ``/store_XXXXXXXX/folder/name``.
    path: str
    #: Size in bytes; 64-bit where the camera says so (MTP's ObjectSize), else ObjectInfo's.
    size: int
    is_folder: bool
    object_format: int
    captured: _dt.datetime | None = None
    modified: _dt.datetime | None = None
    #: The full ObjectInfo when it was fetched (the fast MTP listing does not fetch it).
    info: ObjectInfo | None = None

    @property
    def folder(self) -> str:
        return str(PurePosixPath(self.path).parent)

    @property
    def local_name(self) -> str:
        """The name for a local copy: :func:`safe_filename` of the camera's name, or
        ``object_HANDLE`` when nothing of it is left (an empty name, ``..``)."""
        return safe_filename(self.name, fallback=f"object_{self.handle:08x}")

    def __str__(self) -> str:
        return self.path


def safe_filename(name: str, *, fallback: str = "object") -> str:
    """A camera's object name as one safe local file name component."""
    # Separators of any platform become underscores; a name cannot climb out of its folder.
    text = name.replace("/", "_").replace("\\", "_")
    # Control characters (NUL included) and lone surrogates become underscores too.
    text = "".join("_" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    text = _strip_end(text.strip())
    if text in ("", ".", ".."):
        text = fallback
    # Room for ".part" and a " (NN)" de-duplication suffix.
    limit = MAX_NAME_BYTES - len(PART_SUFFIX) - 8
    if len(text.encode("utf-8")) > limit:
        # Keep the extension; cut the stem on a character boundary.
        stem, dot, extension = text.rpartition(".")
        if not dot or len(extension) > 16:
            stem, extension = text, ""
        budget = limit - len(extension.encode("utf-8")) - (1 if extension else 0)
        stem = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
        # The cut may end the name in dots or spaces again ("." * 300 + "x" * 20 left only dots).
        text = f"{stem}.{extension}" if extension else (_strip_end(stem) or fallback)
    return text


def _strip_end(text: str) -> str:
    """``text`` without trailing dots and whitespace, which Windows drops from file names (so
    "x ." and "x" would be one file; "..." would become ""). Dots and spaces are stripped
    together: ``strip().rstrip(".")`` left "x " from "x ." (found by fuzz/ target
    safe_filename). A loop over the end, linear however long the run is."""
    end = len(text)
    while end and (text[end - 1] == "." or text[end - 1].isspace()):
        end -= 1
    return text[:end]


def numbered(name: str) -> Iterator[str]:
    """``name``, then ``stem (2).ext``, ``stem (3).ext`` ...: the names to try, in order, for a
    file that must not take another's name."""
    yield name
    stem, extension = os.path.splitext(name)
    counter = 2
    while True:
        yield f"{stem} ({counter}){extension}"
        counter += 1


def unique_path(folder: Path, name: str, taken: set[str] | None = None) -> Path:
    """``folder/name``, or ``folder/name (2).ext`` ... when that name is in use (a file, a link,
    a download in progress) or in ``taken``."""
    taken = taken if taken is not None else set()
    free = next(
        candidate
        for candidate in numbered(name)
        if candidate not in taken
        and not os.path.lexists(folder / candidate)
        and not part_path(folder / candidate).exists()
    )
    taken.add(free)
    return folder / free


def part_path(path: Path) -> Path:
    """Where a download of ``path`` is written until it is complete."""
    return path.with_name(path.name + PART_SUFFIX)


def inside(folder: Path, path: Path) -> bool:
    """Whether ``path`` (resolved) lies inside ``folder`` (resolved)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def publish(part: Path, final: Path, *, overwrite: bool = False) -> None:
    """Give the complete file ``part`` its final name.

    Without ``overwrite`` an existing ``final`` is never replaced, not even one another program
    created a moment ago: the new name is made with a hard link, which the operating system
    refuses atomically when the name is taken. File systems without hard links (FAT and exFAT
    cards, some network shares) fall back to a check and a rename.
    """
    if overwrite:
        os.replace(part, final)
        return
    try:
        os.link(part, final)
    except FileExistsError:
        raise _exists(final) from None
    except OSError:
        if os.path.lexists(final):
            raise _exists(final) from None
        os.replace(part, final)
    else:
        part.unlink()


class PartBusyError(OSError):
    """Another download is writing this ``.part`` (EBUSY)."""

    def __init__(self, part: Path) -> None:
        super().__init__(
            errno.EBUSY,
            f"{part} is being written by another download of the same name (another ptpkit?)",
            str(part),
        )


_PART_FLAGS: Final = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


@contextlib.contextmanager
def open_part(part: Path, *, fresh: bool = False) -> Iterator[BinaryIO]:
    """Open ``part`` for reading and writing, created if missing, locked for this download.

    Two downloads of objects with the same final name (two processes, or two threads) would
    otherwise append to one ``.part`` and publish a mix of both; the second one gets
    :class:`PartBusyError` instead. The lock is advisory (``flock``), held until the file is
    closed, so it is released even when the process dies. Windows has no ``flock`` (nor have some
    network file systems): there the file is opened without a lock.

    An existing ``.part`` is kept for a resume, except one that is not ours to write into: a
    symbolic link (never followed), a file with other hard links (someone else's file, or the
    final file itself after a publish that was interrupted), or one we may not write. Such a
    file is removed and a new one made; so is any content with ``fresh``.
    """
    fd: int | None
    try:
        fd = _open_locked(part, os.O_CREAT)
    except PermissionError:
        fd = None  # a stale .part we may not write: replaced below, as a directory allows
    except OSError:
        if not part.is_symlink():
            raise
        fd = None  # O_NOFOLLOW refused a symbolic link (ELOOP): replaced below, not followed
    if fd is not None:
        stat = os.fstat(fd)
        if stat.st_nlink == 1 and not (fresh and stat.st_size):
            with _as_file(fd) as file:
                yield file
            return
        # Not ours to write (or to be emptied): unlinked while we hold its lock where the
        # system allows (Windows removes no open file), then a new file in its place. Not
        # unlinked again after the close: by then the name may be another download's new file.
        if sys.platform != "win32":
            part.unlink(missing_ok=True)
        os.close(fd)
        if sys.platform == "win32":
            part.unlink(missing_ok=True)
    else:
        part.unlink(missing_ok=True)
    with _as_file(_open_locked(part, os.O_CREAT | os.O_EXCL)) as file:
        yield file


def _open_locked(part: Path, flags: int) -> int:
    try:
        fd = os.open(part, _PART_FLAGS | flags, 0o666)
    except FileExistsError:
        raise PartBusyError(part) from None  # O_EXCL: another download made it just now
    try:
        if sys.platform != "win32":
            import fcntl  # noqa: PLC0415 (POSIX only)

            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PartBusyError(part) from None
            except OSError as exc:  # ENOLCK, EOPNOTSUPP: a file system without locks
                log.debug("%s: no lock (%s); writing it unlocked", part, exc.strerror)
            # Locked, but maybe an inode the other download has just published and unlinked
            # (or replaced): not the .part any more.
            try:
                current = os.lstat(part).st_ino
            except FileNotFoundError:
                raise PartBusyError(part) from None
            if os.fstat(fd).st_ino != current:
                raise PartBusyError(part)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _as_file(fd: int) -> BinaryIO:
    try:
        return os.fdopen(fd, "r+b")
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def writing(
    final: Path, *, overwrite: bool = False, fsync: bool = True, resumable: bool = False
) -> Iterator[BinaryIO]:
    """Write ``final`` the safe way: the block writes into ``NAME.part`` (open, locked against a
    second writer), which is flushed, synced and published under ``final`` when the block ends
    without an error. An existing ``final`` is an error before any work unless ``overwrite``.

    ``resumable``: the block finds what an earlier attempt left in the ``.part`` (at position 0)
    and resumes or cuts it, and a failed attempt's bytes stay for the next one. Otherwise the
    ``.part`` starts empty and goes when the block fails.
    """
    if not overwrite and os.path.lexists(final):
        raise _exists(final)  # before any work: nothing to clean up
    part = part_path(final)
    # Windows removes no open file: there the .part goes, and is published, once closed.
    later = sys.platform == "win32"
    remove = False
    with open_part(part, fresh=not resumable) as file:
        try:
            yield file
            file.flush()
            if fsync:
                os.fsync(file.fileno())
            if not later:
                # Published while still locked: after the hard link the .part is the final
                # file, and a writer let in now would write into it.
                publish(part, final, overwrite=overwrite)
        except BaseException:
            # Nothing worth resuming: not resumable, or nothing written (fstat and the buffer).
            remove = not resumable or (file.tell() == 0 and os.fstat(file.fileno()).st_size == 0)
            if remove and not later:
                part.unlink(missing_ok=True)
            raise
        finally:
            if later and remove:
                file.close()
                part.unlink(missing_ok=True)
    if later:
        try:
            publish(part, final, overwrite=overwrite)
        except BaseException:
            if not resumable:
                part.unlink(missing_ok=True)
            raise


def write_file(final: Path, data: bytes, *, overwrite: bool = False, fsync: bool = True) -> None:
    """Save ``data`` as ``final`` with the guarantees of a download (see :func:`writing`)."""
    with writing(final, overwrite=overwrite, fsync=fsync) as file:
        file.write(data)


def _exists(path: Path) -> FileExistsError:
    return FileExistsError(errno.EEXIST, f"{path} exists; not replacing it", str(path))
