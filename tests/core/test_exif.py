"""ptpkit.core.exif: the EXIF thumbnail reader shared by the PowerShot client and the virtual
cameras (its golden cases are in test_canon_usb.py's thumbnail tests and the virtual cameras'
embed/read round trips); here: what any bytes give."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from ptpkit.core import exif


def _jpeg_with_ifd1(thumb: bytes, *, order: str = "<", length: int | None = None) -> bytes:
    """SOI + APP1(EXIF: IFD0 empty -> IFD1 pointing at ``thumb``) + EOI."""
    mark = b"II*\0" if order == "<" else b"MM\0*"
    ifd1 = 8 + 2 + 4  # right after the empty IFD0
    data_at = ifd1 + 2 + 2 * 12 + 4
    tiff = mark + struct.pack(order + "IHI", 8, 0, ifd1)
    tiff += struct.pack(order + "H", 2)
    tiff += struct.pack(order + "HHII", exif.TAG_JPEG_OFFSET, exif.TIFF_LONG, 1, data_at)
    size = len(thumb) if length is None else length
    tiff += struct.pack(order + "HHII", exif.TAG_JPEG_LENGTH, exif.TIFF_LONG, 1, size)
    tiff += struct.pack(order + "I", 0) + thumb
    body = exif.EXIF_HEADER + tiff
    return b"\xff\xd8\xff\xe1" + struct.pack(">H", len(body) + 2) + body + b"\xff\xd9"


THUMB = b"\xff\xd8\xff\xdb" + bytes(range(40)) + b"\xff\xd9"


def test_ifd1_thumbnail_in_both_byte_orders() -> None:
    for order in "<>":
        jpeg = _jpeg_with_ifd1(THUMB, order=order)
        assert exif.exif_thumbnail(jpeg) == THUMB
        head = exif.exif_head(jpeg)
        assert head is not None
        assert head == jpeg[:-2]  # through APP1, not the EOI after it


def test_a_length_past_the_block_or_not_a_whole_jpeg_is_none() -> None:
    assert exif.exif_thumbnail(_jpeg_with_ifd1(THUMB, length=len(THUMB) + 1)) is None
    assert exif.exif_thumbnail(_jpeg_with_ifd1(THUMB[:-2])) is None  # no EOI
    assert exif.exif_thumbnail(b"\xff\xd8\xff\xd9") is None
    assert exif.exif_head(b"not a jpeg") is None


@given(st.binary(max_size=300))
def test_any_bytes_give_a_thumbnail_or_none(data: bytes) -> None:
    for jpeg in (data, b"\xff\xd8" + data, _jpeg_with_ifd1(THUMB)[:20] + data):
        result = exif.exif_thumbnail(jpeg)
        assert result is None or (result[:2] == b"\xff\xd8" and result[-2:] == b"\xff\xd9")
        exif.exif_head(jpeg)
        exif.jpeg_segments(jpeg)
