"""Third-party extensions installed as entry points (group ``ptpkit.extensions``), found fast.

Finding entry points with :mod:`importlib.metadata` reads the metadata of every installed
distribution: with a development environment's ~60 packages that is 25-40 ms on every
connection, more than the whole PTP session start of a camera on a LAN. The result depends only
on what is installed, so it is kept in a small cache file keyed by what is installed: the
metadata folder (``*.dist-info``, ``*.egg-info``) of each distribution on ``sys.path`` and the
modification time of its ``entry_points.txt`` (one directory listing per ``sys.path`` entry,
well under a millisecond). Installing, upgrading or removing a distribution (pip writes a new
metadata folder each time), or editing an ``entry_points.txt`` by hand, changes the key: the next
connection scans again. A
cache that cannot be read or written costs only the scan; it never stops a connection.

An entry point's value is ``module:attribute`` (PyPA's entry point specification); loading it
from the cache is an import and a ``getattr``, as :meth:`importlib.metadata.EntryPoint.load`
does.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Final

from ptpkit._log import get_logger
from ptpkit.identity import cache_dir

log = get_logger("ptpkit.ext")

#: The cache file, in :func:`ptpkit.identity.cache_dir`.
CACHE_FILE: Final = "entry-points.txt"
#: The cache file's first line; its number changes with the layout (an older layout is
#: scanned again, not misread).
_HEADER: Final = "ptpkit entry point cache 1"
#: The metadata folders of installed distributions (wheels / pip; eggs and setup.py develop).
_METADATA_SUFFIXES: Final = (".dist-info", ".egg-info")
_ENTRY_POINTS: Final = "entry_points.txt"
#: A cache file larger than this is not ours to read (a few lines per installed extension).
_CACHE_MAX_BYTES: Final = 256 * 1024


def _path_key() -> list[object]:
    """What the installed set depends on: each distribution's metadata folder on sys.path, with
    its ``entry_points.txt``'s modification time (-1: none). Folders without metadata (the
    current folder, a script's folder) do not count, so ``python -c`` and the ``ptpkit`` script
    share one key, and downloading into the current folder does not invalidate it."""
    key: list[object] = [sys.version]
    for entry in sys.path:
        folder = entry or "."
        found: list[list[object]] = []
        try:
            with os.scandir(folder) as listing:
                for item in listing:
                    if item.name.endswith(_METADATA_SUFFIXES):
                        found.append([item.name, _mtime(os.path.join(item.path, _ENTRY_POINTS))])
        except NotADirectoryError:  # a zip on sys.path: its time stands for its contents
            found.append(["", _mtime(folder)])
        except OSError:
            continue
        if found:
            key.append([os.path.abspath(folder), sorted(found, key=str)])
    return key


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _scan(group: str) -> list[list[str]]:
    # Loaded only when the cache misses: importlib.metadata brings email, zipfile, csv...
    from importlib.metadata import entry_points  # noqa: PLC0415

    return [[point.name, point.value] for point in entry_points(group=group)]


def _read_cache(path: Path, group: str, key: list[object]) -> list[list[str]] | None:
    """The cached points, or None when the file is missing, damaged or for another key.

    The file is lines of text (no json: a ``get`` loads nothing it does not use): a header with
    the layout's version, the group, the key as Python writes it (``repr``: lists of strings and
    integers, one line), then one ``name<TAB>value`` line per entry point."""
    try:
        with path.open("rb") as file:
            raw = file.read(_CACHE_MAX_BYTES + 1)
        if len(raw) > _CACHE_MAX_BYTES:
            return None
        lines = raw.decode("utf-8").split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    if len(lines) < 4 or lines[-1] != "" or lines[:3] != [_HEADER, group, repr(key)]:
        return None
    points: list[list[str]] = []
    for line in lines[3:-1]:
        fields = line.split("\t")
        if len(fields) != 2 or not all(fields):
            return None
        points.append(fields)
    return points


def _write_cache(path: Path, group: str, key: list[object], points: list[list[str]]) -> None:
    if any(c in "\t\n" for point in points for field in point for c in field):
        return  # names and values never hold these; one that does is not cached, only scanned
    import tempfile  # noqa: PLC0415

    text = "".join(f"{line}\n" for line in (_HEADER, group, repr(key)))
    text += "".join(f"{name}\t{value}\n" for name, value in points)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A new file of our own, then renamed over the cache: whatever already lies at a
        # temporary name is never written, and readers never see half a file.
        fd, temp = tempfile.mkstemp(prefix=".entry-points-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError as exc:
        log.debug("could not keep the entry point cache %s: %s", path, exc)


def installed_entry_points(group: str, *, directory: Path | None = None) -> list[tuple[str, str]]:
    """(name, ``module:attribute``) of each installed entry point in ``group``."""
    path = (directory or cache_dir()) / CACHE_FILE
    key = _path_key()
    points = _read_cache(path, group, key)
    if points is None:
        points = _scan(group)
        _write_cache(path, group, key, points)
    return [(name, value) for name, value in points]


def load_entry_point(value: str) -> object:
    """The object an entry point's value names: ``package.module:Attr.attr [extra]``."""
    target = value.partition("[")[0]  # extras concern installation, not loading
    module_name, _, attribute = target.partition(":")
    module_name, attribute = module_name.strip(), attribute.strip()
    if not module_name:
        raise ValueError(f"entry point value {value!r} names no module")
    loaded: object = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        loaded = getattr(loaded, part)
    return loaded
