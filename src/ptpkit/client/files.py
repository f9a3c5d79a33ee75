"""Files on the camera as the client sees them, and turning camera names into safe local names.

Paths follow gphoto2's convention: the storage comes first, ``/store_00010001/DCIM/IMG_0001.JPG``,
so every object has one unambiguous path even with two cards.

Names come from an untrusted device: :func:`safe_filename` makes a name one harmless path
component (no ``/``, ``\\``, ``..``, NUL or control characters, a bounded length), and
:func:`unique_path` keeps two objects with the same name from overwriting each other.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from ptpkit.core.datasets import ObjectInfo

#: Longest local file name in bytes (ext4, APFS, NTFS all allow 255).
MAX_NAME_BYTES: Final = 255
#: Suffix of a download that is not complete yet.
PART_SUFFIX: Final = ".part"

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


def unique_path(folder: Path, name: str, taken: set[str] | None = None) -> Path:
    """``folder/name``, or ``folder/name (2).ext`` ... when that exists or is in ``taken``."""
    taken = taken if taken is not None else set()
    candidate = folder / name
    stem, extension = os.path.splitext(name)
    counter = 2
    while candidate.name in taken or candidate.exists() or _part_of(candidate).exists():
        candidate = folder / f"{stem} ({counter}){extension}"
        counter += 1
    taken.add(candidate.name)
    return candidate


def _part_of(path: Path) -> Path:
    return path.with_name(path.name + PART_SUFFIX)


def part_path(path: Path) -> Path:
    """Where a download of ``path`` is written until it is complete."""
    return _part_of(path)


def inside(folder: Path, path: Path) -> bool:
    """Whether ``path`` (resolved) lies inside ``folder`` (resolved)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True
