"""Pictures for the virtual camera: real JPEGs with EXIF, thumbnails, and image metadata.

Made with Pillow so that every program that reads what the virtual camera serves (gphoto2,
image viewers, EXIF tools) sees ordinary camera files.
"""

from __future__ import annotations

import datetime as _dt
import io
import random
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import ExifTags, Image, ImageDraw, ImageFont, UnidentifiedImageError

from ptpkit.core import exif

#: Largest edge of a thumbnail (ISO 15740 suggests 160x120 for the classic thumbnail).
THUMB_SIZE: Final = (160, 120)


@dataclass(frozen=True, kw_only=True)
class ImageMeta:
    width: int
    height: int
    bit_depth: int
    taken: _dt.datetime | None


def render_jpeg(
    path: Path,
    *,
    title: str,
    taken: _dt.datetime,
    size: tuple[int, int] = (1200, 800),
    seed: int = 0,
    make: str = "ptpkit",
    model: str = "Virtual Camera",
    exposure: tuple[int, int] | None = (1, 125),
    f_number: tuple[int, int] | None = (56, 10),
    iso: int | None = 200,
    quality: int = 85,
) -> None:
    """Write a JPEG picture with EXIF (Make, Model, DateTimeOriginal, exposure) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        render_jpeg_bytes(
            title=title,
            taken=taken,
            size=size,
            seed=seed,
            make=make,
            model=model,
            exposure=exposure,
            f_number=f_number,
            iso=iso,
            quality=quality,
        )
    )


def render_jpeg_bytes(
    *,
    title: str,
    taken: _dt.datetime,
    size: tuple[int, int] = (1200, 800),
    seed: int = 0,
    make: str = "ptpkit",
    model: str = "Virtual Camera",
    exposure: tuple[int, int] | None = (1, 125),
    f_number: tuple[int, int] | None = (56, 10),
    iso: int | None = 200,
    quality: int = 85,
) -> bytes:
    """The JPEG :func:`render_jpeg` writes, as bytes (pictures kept in the camera's memory,
    live-view frames)."""
    rng = random.Random(seed)
    width, height = size
    top = tuple(rng.randrange(40, 200) for _ in range(3))
    bottom = tuple(rng.randrange(40, 200) for _ in range(3))
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(Image.new("RGB", size, top), Image.new("RGB", size, bottom), gradient)
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randrange(width // 30, width // 6)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=colour, width=6)
    font = _font(max(16, height // 12))
    draw.text((width // 20, height // 20), title, fill=(255, 255, 255), font=font)
    draw.text(
        (width // 20, height - height // 6),
        taken.strftime("%Y-%m-%d %H:%M:%S"),
        fill=(255, 255, 255),
        font=font,
    )

    exif = Image.Exif()
    stamp = taken.strftime("%Y:%m:%d %H:%M:%S")
    exif[ExifTags.Base.Make] = make
    exif[ExifTags.Base.Model] = model
    exif[ExifTags.Base.DateTime] = stamp
    exif[ExifTags.Base.Software] = "ptpkit virtual camera"
    details = exif.get_ifd(ExifTags.IFD.Exif)
    details[ExifTags.Base.DateTimeOriginal] = stamp
    details[ExifTags.Base.DateTimeDigitized] = stamp
    if exposure:
        details[ExifTags.Base.ExposureTime] = exposure[0] / exposure[1]
    if f_number:
        details[ExifTags.Base.FNumber] = f_number[0] / f_number[1]
    if iso:
        details[ExifTags.Base.ISOSpeedRatings] = iso
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` (a size needs Pillow 10.1; older ones, such as
    Debian bookworm's 9.4, get the small bitmap font)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


#: Pillow's built-in font at a size (the live-view picture's text, ptpkit.virtual.livepicture).
font = _font


def image_meta(path: Path) -> ImageMeta | None:
    """Size, bit depth and EXIF capture time of an image file; None when it is not an image."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            bands = len(image.getbands())
            bits = (
                8 * bands
                if image.mode not in ("1", "I;16", "I", "F")
                else {"1": 1}.get(image.mode, 16)
            )
            taken = _exif_taken(image.getexif())
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return ImageMeta(width=width, height=height, bit_depth=bits, taken=taken)


def _exif_taken(exif: Image.Exif) -> _dt.datetime | None:
    raw = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal) or exif.get(
        ExifTags.Base.DateTime
    )
    if not isinstance(raw, str):
        return None
    try:
        return _dt.datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def make_thumbnail(path: Path, max_size: tuple[int, int] = THUMB_SIZE) -> bytes | None:
    """A small JPEG of an image file; None when the file is not an image."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", max_size)  # JPEG: decode at reduced scale, much faster
            small = image.convert("RGB")
            small.thumbnail(max_size)
            out = io.BytesIO()
            small.save(out, "JPEG", quality=80)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    return out.getvalue()


# -- EXIF thumbnails (what a camera embeds in its JPEGs, and what Canon's GetFile flag 1 sends) --

#: The reading side is ptpkit.core.exif's (the PowerShot client reads the same thumbnails).
exif_thumbnail_bytes = exif.exif_thumbnail
exif_head = exif.exif_head


#: SOI and an EXIF APP1 segment with an empty IFD0: the head of a picture that had none, for
#: :func:`with_exif_thumbnail` to put a thumbnail in.
EMPTY_EXIF_HEAD: Final = (
    b"\xff\xd8\xff\xe1"
    + struct.pack(">H", 2 + 6 + 14)
    + b"Exif\0\0"
    + b"II*\0"
    + struct.pack("<IHI", 8, 0, 0)  # IFD0 at 8: no entries, no next IFD
)


def exif_thumbnail(path: Path) -> bytes | None:
    """The EXIF thumbnail of a JPEG file (its APP1 segment is read, not the picture)."""
    try:
        with path.open("rb") as file:
            head = file.read(1 << 16)  # APP1 is at most 64 KiB, and comes first
    except OSError:
        return None
    return exif_thumbnail_bytes(head)


def with_exif_thumbnail(jpeg: bytes, thumbnail: bytes) -> bytes:
    """``jpeg`` with ``thumbnail`` embedded in its EXIF block as IFD1 (as cameras write it):
    IFD0's next-IFD pointer is set to a new IFD1 (Compression 6, JPEGInterchangeFormat and its
    length) appended to the TIFF block, the thumbnail after it. Pillow reads EXIF thumbnails
    but does not write them. The JPEG must have an EXIF block without an IFD1."""
    span = exif.exif_tiff_span(jpeg)
    if span is None:
        raise ValueError("the JPEG has no EXIF block")
    start, end = span
    tiff = bytearray(jpeg[start:end])
    endian = exif.tiff_byte_order(bytes(tiff))
    if endian is None or len(tiff) < 8:
        raise ValueError("the EXIF block is not TIFF")
    (ifd0,) = struct.unpack_from(endian + "I", tiff, 4)
    pointer = exif.ifd_next_pointer(bytes(tiff), endian, ifd0)
    if pointer is None or struct.unpack_from(endian + "I", tiff, pointer)[0] != 0:
        raise ValueError("the EXIF block already has an IFD1 (or a broken IFD0)")
    if len(tiff) % 2:
        tiff.append(0)  # IFDs start on a word boundary (TIFF 6.0 section 2)
    ifd1 = len(tiff)
    struct.pack_into(endian + "I", tiff, pointer, ifd1)
    entries = 3
    data_at = ifd1 + 2 + 12 * entries + 4
    tiff += struct.pack(endian + "H", entries)
    tiff += struct.pack(
        endian + "HHIHH", exif.TAG_COMPRESSION, exif.TIFF_SHORT, 1, exif.COMPRESSION_JPEG, 0
    )
    tiff += struct.pack(endian + "HHII", exif.TAG_JPEG_OFFSET, exif.TIFF_LONG, 1, data_at)
    tiff += struct.pack(endian + "HHII", exif.TAG_JPEG_LENGTH, exif.TIFF_LONG, 1, len(thumbnail))
    tiff += struct.pack(endian + "I", 0)
    tiff += thumbnail
    segment_body = exif.EXIF_HEADER + bytes(tiff)
    if len(segment_body) + 2 > 0xFFFF:
        raise ValueError(f"a {len(thumbnail)}-byte thumbnail does not fit in APP1")
    app1_start = start - 6 - 4
    segment = b"\xff\xe1" + struct.pack(">H", len(segment_body) + 2) + segment_body
    return jpeg[:app1_start] + segment + jpeg[end:]


def thumbnail_of_bytes(jpeg: bytes, max_size: tuple[int, int] = THUMB_SIZE) -> bytes:
    """A small JPEG of a picture held in memory (a capture's embedded thumbnail)."""
    with Image.open(io.BytesIO(jpeg)) as image:
        image.draft("RGB", max_size)
        small = image.convert("RGB")
        small.thumbnail(max_size)
        out = io.BytesIO()
        small.save(out, "JPEG", quality=80)
    return out.getvalue()


def mjpeg_avi(frames: list[bytes], *, size: tuple[int, int], fps: int = 15) -> bytes:
    """A Motion-JPEG AVI of ``frames`` (JPEGs of ``size``), as the PowerShots of the G3's time
    record movies: RIFF 'AVI ' with an 'avih' header, one 'vids'/'MJPG' stream, the frames as
    '00dc' chunks in 'movi' and an 'idx1' index (Microsoft's AVI RIFF reference)."""
    width, height = size

    def chunk(fourcc: bytes, body: bytes) -> bytes:
        return fourcc + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")

    def riff_list(kind: bytes, fourcc: bytes, body: bytes) -> bytes:
        return kind + struct.pack("<I", len(body) + 4) + fourcc + body

    largest = max((len(f) for f in frames), default=0)
    avih = struct.pack(
        "<10I4I",
        1_000_000 // fps,  # dwMicroSecPerFrame
        largest * fps,  # dwMaxBytesPerSec
        0,  # dwPaddingGranularity
        0x10,  # AVIF_HASINDEX
        len(frames),
        0,  # dwInitialFrames
        1,  # dwStreams
        largest,  # dwSuggestedBufferSize
        width,
        height,
        0,
        0,
        0,
        0,
    )
    strh = b"vidsMJPG" + struct.pack(
        "<IHHIIIIIIII4h",
        0,  # dwFlags
        0,  # wPriority
        0,  # wLanguage
        0,  # dwInitialFrames
        1,  # dwScale
        fps,  # dwRate
        0,  # dwStart
        len(frames),  # dwLength
        largest,  # dwSuggestedBufferSize
        0xFFFFFFFF,  # dwQuality: default
        0,  # dwSampleSize
        0,
        0,
        width,
        height,
    )
    strf = struct.pack(
        "<IiiHH4sIiiII", 40, width, height, 1, 24, b"MJPG", width * height * 3, 0, 0, 0, 0
    )
    strl = riff_list(b"LIST", b"strl", chunk(b"strh", strh) + chunk(b"strf", strf))
    hdrl = riff_list(b"LIST", b"hdrl", chunk(b"avih", avih) + strl)
    movi_body = bytearray()
    index = bytearray()
    for frame in frames:
        offset = 4 + len(movi_body)  # from the 'movi' fourcc
        movi_body += chunk(b"00dc", frame)
        index += b"00dc" + struct.pack("<III", 0x10, offset, len(frame))  # AVIIF_KEYFRAME
    movi = riff_list(b"LIST", b"movi", bytes(movi_body))
    return riff_list(b"RIFF", b"AVI ", hdrl + movi + chunk(b"idx1", bytes(index)))
