"""Object formats by file name extension (ISO 15740 table 18; MP4 is MTP's 0xB982)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from types import MappingProxyType
from typing import Final

UNDEFINED: Final = 0x3000
ASSOCIATION: Final = 0x3001
EXIF_JPEG: Final = 0x3801

FORMATS_BY_EXTENSION: Final[Mapping[str, int]] = MappingProxyType(
    {
        ".jpg": EXIF_JPEG,
        ".jpeg": EXIF_JPEG,
        ".jpe": EXIF_JPEG,
        ".tif": 0x380D,
        ".tiff": 0x380D,
        ".png": 0x380B,
        ".gif": 0x3807,
        ".bmp": 0x3804,
        ".jp2": 0x380F,
        ".jpx": 0x3810,
        ".dng": 0x3811,
        ".txt": 0x3004,
        ".htm": 0x3005,
        ".html": 0x3005,
        ".wav": 0x3008,
        ".mp3": 0x3009,
        ".avi": 0x300A,
        ".mpg": 0x300B,
        ".mpeg": 0x300B,
        ".mov": 0x300D,
        ".mp4": 0xB982,
    }
)

IMAGE_FORMATS: Final = frozenset(
    {EXIF_JPEG, 0x380D, 0x380B, 0x3807, 0x3804, 0x380F, 0x3810, 0x3811}
)


def format_for_name(name: str) -> int:
    """The object format a file of this name most likely is (Undefined when unknown)."""
    return FORMATS_BY_EXTENSION.get(PurePath(name).suffix.lower(), UNDEFINED)
