"""Files on the camera as the client sees them, and turning camera names into safe local names.

Paths follow gphoto2's convention: the storage comes first, ``/store_00010001/DCIM/IMG_0001.JPG``,
so every object has one unambiguous path even with two cards.

Names come from an untrusted device: :func:`safe_filename` makes a name one harmless path
component (no ``/``, ``\\``, ``..``, NUL or control characters, a bounded length), and
:func:`unique_path` keeps two objects with the same name from overwriting each other.

Local files are written to a partial file of ours, ``NAME.ptpkit-part`` (marked with an extended
attribute, see :func:`open_part`), and given their final name with :func:`publish` when complete,
so an incomplete file never stands under the final name, an existing file is never replaced
unless asked, and a file ptpkit did not make (a browser's ``NAME.part``) is never touched.
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
from stat import S_ISREG
from typing import BinaryIO, Final

from ptpkit.core.datasets import ObjectInfo

#: Longest local file name in bytes (ext4, APFS, NTFS all allow 255).
MAX_NAME_BYTES: Final = 255
#: Suffix of a download that is not complete yet: not ``.part``, which browsers and other
#: programs use too (a file of theirs must never be taken for ours).
PART_SUFFIX: Final = ".ptpkit-part"
#: The user extended attribute that marks a partial file as ptpkit's, and says of which object.
PART_XATTR: Final = "user.ptpkit.part"
#: Partial-file names tried for one final name before giving up (``NAME.N.ptpkit-part``).
MAX_PART_NAMES: Final = 99
_MARK_MAGIC: Final = b"ptpkit-part/1\n"

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
    #: A capture's object held in the camera's memory for the computer to fetch (capture to
    #: PC), not on a card: after it is downloaded the camera is told it may drop it.
    in_memory: bool = False
    #: Not described yet: one of several objects the camera hands out in turn at one handle
    #: (Sony 0xFFFFC001), whose name and size are known only when its turn comes; a download
    #: describes it just before reading it (:meth:`Camera.describe_now`), so download such
    #: entries in the order the capture gave them.
    in_turn: bool = False

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
    # Room for ".NN.ptpkit-part" and a " (NN)" de-duplication suffix.
    limit = MAX_NAME_BYTES - len(PART_SUFFIX) - 3 - 8
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


def part_path(path: Path, index: int = 1) -> Path:
    """Where a download of ``path`` is written until it is complete: ``NAME.ptpkit-part``, or
    ``NAME.N.ptpkit-part`` (``index`` N > 1) when that name holds a file that is not ours."""
    infix = f".{index}" if index > 1 else ""
    return path.with_name(f"{path.name}{infix}{PART_SUFFIX}")


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
    """Another download is writing this object's partial file (EBUSY)."""

    def __init__(self, part: Path) -> None:
        super().__init__(
            errno.EBUSY,
            f"{part} is being written by another download of the same object (another ptpkit?)",
            str(part),
        )


_PART_FLAGS: Final = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def _read_mark(fd: int) -> bytes | None:
    try:
        return os.getxattr(fd, PART_XATTR)
    except (OSError, AttributeError):  # no such attribute, no xattrs here, not Linux
        return None


def _set_mark(fd: int, owner: str | None) -> bool:
    """Mark a partial file we just created as ours (and, with ``owner``, as the download of one
    object); False where the file system keeps no user extended attributes."""
    try:
        os.setxattr(fd, PART_XATTR, _mark_value(owner))
    except (OSError, AttributeError) as exc:
        log.debug("no user extended attributes here (%s): partial file not marked", exc)
        return False
    return True


def _mark_value(owner: str | None) -> bytes:
    """The mark: a digest of ``owner`` (fixed size however long the camera's names; two owners
    never share one), or no digest for a file that is never to be resumed."""
    if owner is None:
        return _MARK_MAGIC
    import hashlib  # noqa: PLC0415  (loads with a partial file, not with every command: start-up)

    digest = hashlib.sha256(owner.encode("utf-8", errors="surrogateescape")).hexdigest()
    return _MARK_MAGIC + digest.encode("ascii")


def _clear_mark(fd: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.removexattr(fd, PART_XATTR)


@dataclass
class PartFile:
    """An open, locked partial file of ours (see :func:`open_part`)."""

    file: BinaryIO
    path: Path
    #: It carries our mark: a later run can recognise (and resume) it.
    marked: bool
    #: It was made by this call (so it is ours whatever the file system keeps).
    created: bool

    def still_ours(self) -> bool:
        """Whether :attr:`path` still names the file we hold (nobody replaced it meanwhile)."""
        try:
            current = os.lstat(self.path)
        except OSError:
            return False
        held = os.fstat(self.file.fileno())
        return (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino)


@contextlib.contextmanager
def open_part(final: Path, *, owner: str | None = None) -> Iterator[PartFile]:
    """Open a partial file for ``final``, ours and locked for this download.

    The names tried are ``NAME.ptpkit-part``, ``NAME.2.ptpkit-part`` ... (:func:`part_path`).
    A name that is free gets a new file (``O_EXCL``), marked with a user extended attribute
    (:data:`PART_XATTR`) that holds ``owner``: what the download is of (the camera, the
    object's path, size and time). A name that is taken is reused only for a resume: when
    ``owner`` is given and the file there is a regular file with one link, not a symbolic link,
    carrying exactly that mark. Anything else there (a browser's download, a camera file of that
    name, another object's partial file, a link) is never written, truncated, renamed or
    deleted: the next name is tried.

    The lock (``flock``, advisory, released when the file is closed even if the process dies)
    keeps two downloads of one object from writing one file: the second gets
    :class:`PartBusyError`. Windows (and some network file systems) have no ``flock``; there
    the file is used unlocked. Where the file system keeps no extended attributes (FAT cards,
    some network shares) a partial file cannot be told apart later, so it is never resumed by
    a later run; :func:`writing` removes it when the download fails.
    """
    wanted = _mark_value(owner) if owner is not None else None
    for index in range(1, MAX_PART_NAMES + 1):
        part = part_path(final, index)
        try:
            fd = os.open(part, _PART_FLAGS | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            if wanted is None:
                continue  # never reused without an owner to recognise it by
            reused = _open_ours(part, wanted)
            if reused is None:
                continue  # not ours, or another object's: left alone
            fd, created = reused, False
        else:
            created = True
        try:
            _lock(fd, part)
            marked = (not created) or _set_mark(fd, owner)
        except BaseException:
            os.close(fd)
            if created:
                with contextlib.suppress(OSError):
                    os.unlink(part)
            raise
        with _as_file(fd) as file:
            yield PartFile(file=file, path=part, marked=marked, created=created)
        return
    raise OSError(
        errno.EEXIST,
        f"no free name for a partial file of {final.name} ({MAX_PART_NAMES} taken by other files)",
        str(final),
    )


def _open_ours(part: Path, wanted: bytes) -> int | None:
    """An fd of ``part`` if it is our partial file of the object ``wanted`` names, else None."""
    try:
        fd = os.open(part, _PART_FLAGS)
    except OSError:
        return None  # a symbolic link (ELOOP), a folder, unreadable, gone: not ours
    stat = os.fstat(fd)
    if S_ISREG(stat.st_mode) and stat.st_nlink == 1 and _read_mark(fd) == wanted:
        return fd
    os.close(fd)
    return None


def _lock(fd: int, part: Path) -> None:
    if sys.platform == "win32":
        return
    import fcntl  # noqa: PLC0415 (POSIX only)

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise PartBusyError(part) from None
    except OSError as exc:  # ENOLCK, EOPNOTSUPP: a file system without locks
        log.debug("%s: no lock (%s); writing it unlocked", part, exc.strerror)
        return
    # Locked, but maybe an inode the other download has just published and unlinked: not the
    # partial file any more.
    try:
        current = os.lstat(part).st_ino
    except FileNotFoundError:
        raise PartBusyError(part) from None
    if os.fstat(fd).st_ino != current:
        raise PartBusyError(part)


def _as_file(fd: int) -> BinaryIO:
    try:
        return os.fdopen(fd, "r+b")
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def writing(
    final: Path,
    *,
    overwrite: bool = False,
    fsync: bool = True,
    resumable: bool = False,
    owner: str | None = None,
    mtime: float | None = None,
) -> Iterator[BinaryIO]:
    """Write ``final`` the safe way: the block writes into a partial file of ours (see
    :func:`open_part`), which is flushed, synced and published under ``final`` when the block
    ends without an error. An existing ``final`` is an error before any work unless
    ``overwrite``.

    ``resumable`` (with ``owner``, what the download is of): the block finds what an earlier
    attempt at the same object left (at position 0) and resumes or cuts it, and a failed
    attempt's bytes stay for the next one. Otherwise the partial file starts empty and goes when
    the block fails. ``mtime``: the published file's modification and access time (seconds
    since the epoch).
    """
    if not overwrite and os.path.lexists(final):
        raise _exists(final)  # before any work: nothing to clean up
    # Windows removes no open file: there the partial file goes, and is published, once closed.
    later = sys.platform == "win32"
    remove = False
    timed = mtime is None
    #: The data is all there: a failure now is the publish's, and a complete copy is nothing a
    #: resume could use (no byte is left to read), only a full-size file left behind.
    complete = False
    with open_part(final, owner=owner if resumable else None) as part:
        file = part.file
        try:
            yield file
            file.flush()
            if mtime is not None:
                timed = _set_times(file.fileno(), mtime)
            if fsync:
                os.fsync(file.fileno())
            complete = True
            if not later:
                # Published while still locked: after the hard link the partial file is the
                # final file, and a writer let in now would write into it.
                publish(part.path, final, overwrite=overwrite)
                _clear_mark(file.fileno())  # the final file is nobody's partial file
                if not timed:
                    _set_path_times(final, mtime)
        except BaseException as exc:
            # Nothing worth resuming: not resumable, complete (the publish failed), nothing
            # written (fstat and the buffer), unmarked (no later run could tell it is ours), or
            # a full disk (the partial file would keep it full: the rest of a batch could not be
            # written either).
            remove = (
                not resumable
                or complete
                or not part.marked
                or (isinstance(exc, OSError) and exc.errno in _DISK_FULL)
                or (file.tell() == 0 and os.fstat(file.fileno()).st_size == 0)
            )
            # Only the file we hold: never a name someone else has put there meanwhile.
            if remove and not later and part.still_ours():
                part.path.unlink(missing_ok=True)
            raise
        finally:
            if later and remove:
                file.close()
                part.path.unlink(missing_ok=True)
    if later:
        try:
            publish(part.path, final, overwrite=overwrite)
        except BaseException:
            part.path.unlink(missing_ok=True)  # complete: see ``complete`` above
            raise
        if not timed:
            _set_path_times(final, mtime)


#: A full disk, or the user's quota.
_DISK_FULL: Final = frozenset({errno.ENOSPC, errno.EDQUOT})


def _set_times(fd: int, mtime: float) -> bool:
    """The file's access and modification times (set through the open file where the system
    allows: the name may not be ours yet). False where it does not (Windows): then
    :func:`_set_path_times` sets them once the file is published."""
    if os.utime not in os.supports_fd:
        return False
    try:
        os.utime(fd, (mtime, mtime))
    except (OSError, OverflowError, ValueError) as exc:  # a date the file system cannot hold
        log.debug("could not set the file's time (%s)", exc)
    return True


def _set_path_times(final: Path, mtime: float | None) -> None:
    """The published file's times, by name (a link put there meanwhile is not followed where
    the system can tell)."""
    if mtime is None:
        return
    follow = os.utime not in os.supports_follow_symlinks
    try:
        os.utime(final, (mtime, mtime), follow_symlinks=follow)
    except (OSError, OverflowError, ValueError) as exc:
        log.debug("could not set the file's time (%s)", exc)


def write_file(final: Path, data: bytes, *, overwrite: bool = False, fsync: bool = True) -> None:
    """Save ``data`` as ``final`` with the guarantees of a download (see :func:`writing`)."""
    with writing(final, overwrite=overwrite, fsync=fsync) as file:
        file.write(data)


def _exists(path: Path) -> FileExistsError:
    return FileExistsError(errno.EEXIST, f"{path} exists; not replacing it", str(path))
