"""The little of JPEG and EXIF that cameras' thumbnails need, sans-IO: the segments before a
JPEG's scan, the TIFF block of its EXIF APP1 segment, and the thumbnail JPEG that IFD1 points at.

Used by the Canon PowerShot client (GetFile with the thumbnail flag answers a picture's head, and
libgphoto2 hands that to libexif for IFD1's JPEG: camlibs/canon/canon.c canon_int_get_thumbnail)
and by the virtual cameras, which embed such thumbnails in the pictures they make. Layouts:
JPEG (ITU T.81 B.1: marker, big-endian length including itself), EXIF 2.2 §4.5.4 (APP1 with
"Exif\\0\\0" and a TIFF block), TIFF 6.0 (byte order, IFD0 offset; IFD = count, 12-byte entries,
next-IFD offset) and §4.6.5 (IFD1's JPEGInterchangeFormat and its length). Every offset is checked
against the block: bad EXIF gives None, never an exception.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = [
    "APP1",
    "COMPRESSION_JPEG",
    "EXIF_HEADER",
    "TAG_COMPRESSION",
    "TAG_JPEG_LENGTH",
    "TAG_JPEG_OFFSET",
    "TIFF_LONG",
    "TIFF_SHORT",
    "exif_head",
    "exif_thumbnail",
    "exif_tiff_span",
    "ifd_next_pointer",
    "jpeg_segments",
    "tiff_byte_order",
]

APP1: Final = 0xE1
SOS: Final = 0xDA
EXIF_HEADER: Final = b"Exif\x00\x00"
#: TIFF tags of IFD1 (the thumbnail's IFD): Compression, JPEGInterchangeFormat(+Length).
TAG_COMPRESSION: Final = 0x0103
TAG_JPEG_OFFSET: Final = 0x0201
TAG_JPEG_LENGTH: Final = 0x0202
TIFF_SHORT: Final = 3
TIFF_LONG: Final = 4
COMPRESSION_JPEG: Final = 6
#: IFD entries looked at, at most (a real IFD1 has about six).
_MAX_IFD_ENTRIES: Final = 256


def jpeg_segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of the JPEG's segments before the scan data (SOS), each with its
    marker and length bytes, up to the first one that runs off the data: a picture's head cut
    after its EXIF block (what a PowerShot's GetFile with the thumbnail flag sends) keeps the
    segments it has whole. [] for bytes that are not a JPEG."""
    if jpeg[:2] != b"\xff\xd8":
        return []
    out: list[tuple[int, int, int]] = []
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        if marker == SOS:
            break
        (length,) = struct.unpack_from(">H", jpeg, pos + 2)
        end = pos + 2 + length
        if length < 2 or end > len(jpeg):
            break
        out.append((marker, pos, end))
        pos = end
    return out


def exif_tiff_span(jpeg: bytes) -> tuple[int, int] | None:
    """(start, end) of the TIFF block inside the JPEG's EXIF APP1 segment, or None."""
    for marker, start, end in jpeg_segments(jpeg):
        body = start + 4
        if marker == APP1 and jpeg[body : body + 6] == EXIF_HEADER:
            return body + 6, end
    return None


def exif_head(jpeg: bytes) -> bytes | None:
    """The JPEG's start through its EXIF APP1 segment (SOI, the segments before it, APP1), or
    None when it has no EXIF block."""
    for marker, start, end in jpeg_segments(jpeg):
        if marker == APP1 and jpeg[start + 4 : start + 10] == EXIF_HEADER:
            return jpeg[:end]
    return None


def tiff_byte_order(tiff: bytes) -> str | None:
    """The struct byte order of a TIFF block ("<" for II, ">" for MM), None for neither."""
    return {b"II": "<", b"MM": ">"}.get(bytes(tiff[:2]))


def ifd_next_pointer(tiff: bytes, order: str, ifd: int) -> int | None:
    """Where IFD ``ifd``'s next-IFD offset is stored; None when the IFD runs off the block (or
    starts inside the TIFF header)."""
    if not 8 <= ifd <= len(tiff) - 2:
        return None
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    pointer = ifd + 2 + 12 * count
    return pointer if pointer + 4 <= len(tiff) else None


def exif_thumbnail(jpeg: bytes) -> bytes | None:
    """The thumbnail JPEG that the EXIF block's IFD1 points at (JPEGInterchangeFormat and its
    length), whole (SOI to EOI), or None when there is none."""
    span = exif_tiff_span(jpeg)
    if span is None:
        return None
    tiff = jpeg[span[0] : span[1]]
    order = tiff_byte_order(tiff)
    if order is None or len(tiff) < 8:
        return None
    (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
    pointer = ifd_next_pointer(tiff, order, ifd0)
    if pointer is None:
        return None
    (ifd1,) = struct.unpack_from(order + "I", tiff, pointer)
    if ifd1 == 0 or ifd_next_pointer(tiff, order, ifd1) is None:
        return None
    (count,) = struct.unpack_from(order + "H", tiff, ifd1)
    fields: dict[int, int] = {}
    for index in range(min(count, _MAX_IFD_ENTRIES)):
        at = ifd1 + 2 + 12 * index
        tag, kind = struct.unpack_from(order + "HH", tiff, at)
        if kind == TIFF_SHORT:
            fields[tag] = struct.unpack_from(order + "H", tiff, at + 8)[0]
        elif kind == TIFF_LONG:
            fields[tag] = struct.unpack_from(order + "I", tiff, at + 8)[0]
    offset, length = fields.get(TAG_JPEG_OFFSET), fields.get(TAG_JPEG_LENGTH)
    if offset is None or not length or offset + length > len(tiff):
        return None
    thumb = bytes(tiff[offset : offset + length])
    # A JPEG, whole: its SOI and its EOI (anything else is not a thumbnail to hand out).
    return thumb if thumb[:2] == b"\xff\xd8" and thumb[-2:] == b"\xff\xd9" else None
