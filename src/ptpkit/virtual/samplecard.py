"""The sample memory card the virtual camera starts with when no folder is given.

A DCF-style tree, so that tools see what they expect of a camera::

    DCIM/100PTPKT/IMG_0001.JPG .. IMG_0004.JPG   real JPEGs, EXIF dates a day apart
    DCIM/101PTPKT/IMG_0101.JPG
    MISC/README.TXT
    MISC/nested/level2/level3/NOTES.TXT          folders inside folders
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Final

from ptpkit.virtual.imaging import render_jpeg

#: The folder new captures go to (DCF: three digits and five characters).
CAPTURE_FOLDER: Final = "DCIM/100PTPKT"

_README: Final = """\
This card belongs to ptpkit's virtual camera.
Everything on it was generated when the camera started; it lives in a temporary folder.
"""


def make_sample_card(root: Path, *, now: _dt.datetime | None = None) -> None:
    """Fill ``root`` with the sample card (it may already exist and should be empty)."""
    now = (now or _dt.datetime.now()).replace(microsecond=0)
    first = now - _dt.timedelta(days=5)
    for index in range(1, 5):
        taken = first + _dt.timedelta(days=index - 1, hours=index)
        _picture(root / CAPTURE_FOLDER / f"IMG_{index:04d}.JPG", index, taken)
    _picture(root / "DCIM/101PTPKT/IMG_0101.JPG", 101, first - _dt.timedelta(days=30))
    misc = root / "MISC"
    misc.mkdir(parents=True, exist_ok=True)
    (misc / "README.TXT").write_text(_README)
    deep = misc / "nested" / "level2" / "level3"
    deep.mkdir(parents=True, exist_ok=True)
    (deep / "NOTES.TXT").write_text("A file three folders down.\n")
    _touch(misc / "README.TXT", now)
    _touch(deep / "NOTES.TXT", now)


def _picture(path: Path, index: int, taken: _dt.datetime) -> None:
    render_jpeg(path, title=f"ptpkit  {path.name}", taken=taken, seed=index)
    _touch(path, taken)


def _touch(path: Path, when: _dt.datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))
