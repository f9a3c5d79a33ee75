"""Where a rig's shots go on disk: the layout names a relative path for each file.

- ``meshroom``: Meshroom's multi-camera rig layout, one folder per camera by index,
  ``rig/<camera index>/<shot>.<ext>`` (``rig/0/0001.JPG``): Meshroom takes the sub-folders of
  ``rig/`` as the rig's cameras (by index, from 0) and links the pictures with the same name
  in every camera's folder as one pose of the rig (Meshroom wiki, "Multi Camera Rig"), so every
  camera's picture of shot 1 is named ``0001``. (Meshroom also wants each camera's EXIF body
  serial number to differ, which real cameras' do.)
- ``shots``: one folder per shot, ``shot_0001/<camera name>.<ext>``.
- a pattern of your own, in Python's format syntax, with ``/`` between folders:
  ``{shot}``, ``{camera}``, ``{index}``, ``{serial}``, ``{name}`` (the camera's file name),
  ``{stem}``, ``{ext}`` (without the dot), e.g. ``"{camera}/{shot:04d}_{name}"``.

Every part of a path is made safe (:func:`ptpkit.client.files.safe_filename`): a camera's name for
a file can never climb out of the destination folder.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from ptpkit.client.files import safe_filename
from ptpkit.errors import UsageError

__all__ = ["BUILTIN_LAYOUTS", "Layout", "layout_for"]

#: The layouts by name, as patterns.
BUILTIN_LAYOUTS: Final = {
    "meshroom": "rig/{index}/{shot:04d}.{ext}",
    "shots": "shot_{shot:04d}/{camera}.{ext}",
}
_FIELDS: Final = frozenset({"shot", "camera", "index", "serial", "name", "stem", "ext"})
#: A pattern must tell the cameras apart and the shots apart, or files would collide.
_PER_CAMERA: Final = frozenset({"camera", "index", "serial", "name"})
_PER_SHOT: Final = frozenset({"shot", "name", "stem"})


@dataclass(frozen=True)
class Layout:
    """A checked layout pattern."""

    pattern: str

    def path_for(
        self, *, shot: int, camera: str, index: int, name: str, serial: str | None = None
    ) -> PurePosixPath:
        """The relative path of ``name`` (the camera's file name) of ``camera``'s picture of
        ``shot``."""
        clean = safe_filename(name, fallback="picture.JPG")
        stem, dot, ext = clean.rpartition(".")
        if not dot:
            stem, ext = clean, "JPG"
        text = self.pattern.format(
            shot=shot,
            camera=camera,
            index=index,
            serial=serial or "unknown",
            name=clean,
            stem=stem,
            ext=ext,
        )
        parts = [safe_filename(part, fallback="_") for part in text.split("/") if part]
        if not parts:
            raise UsageError(f"layout {self.pattern!r} gave an empty path")
        return PurePosixPath(*parts)


def layout_for(text: str) -> Layout:
    """The layout called ``text`` (``meshroom``, ``shots``) or the pattern ``text`` is; a
    :class:`UsageError` for a pattern that is not one."""
    pattern = BUILTIN_LAYOUTS.get(text.strip().lower(), text)
    fields: set[str] = set()
    try:
        for _, field_name, spec, conversion in string.Formatter().parse(pattern):
            if field_name is None:
                continue
            # Only plain names: "{shot.__class__}" or "{camera[0]}" would reach into objects.
            if field_name not in _FIELDS:
                known = ", ".join(f"{{{name}}}" for name in sorted(_FIELDS))
                raise UsageError(
                    f"layout {text!r}: unknown field {{{field_name}}}; use meshroom, shots or a "
                    f"pattern with {known}"
                )
            if conversion or (spec and ("{" in spec)):
                raise UsageError(f"layout {text!r}: {{{field_name}}} takes no conversion")
            fields.add(field_name)
    except ValueError as exc:
        raise UsageError(f"layout {text!r} is not a pattern: {exc}") from None
    if not fields & _PER_CAMERA:
        raise UsageError(
            f"layout {text!r} puts every camera's pictures under one name: use {{camera}}, "
            "{index}, {serial} or {name}"
        )
    if not fields & _PER_SHOT:
        raise UsageError(
            f"layout {text!r} puts every shot under one name: use {{shot}} or {{name}}"
        )
    if pattern.startswith("/"):
        raise UsageError(f"layout {text!r} must be relative to the destination folder")
    layout = Layout(pattern)
    try:  # a format spec that does not suit the field ("{camera:04d}") fails now, not later
        layout.path_for(shot=1, camera="cam00", index=0, name="IMG_0001.JPG", serial="S")
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise UsageError(f"layout {text!r} is not a pattern: {exc}") from None
    return layout
