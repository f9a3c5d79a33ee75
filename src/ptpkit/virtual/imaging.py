"""Pictures for the virtual camera: real JPEGs with EXIF, thumbnails, and image metadata.

Made with Pillow so that every program that reads what the virtual camera serves (gphoto2,
image viewers, EXIF tools) sees ordinary camera files.
"""

from __future__ import annotations

import datetime as _dt
import io
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import ExifTags, Image, ImageDraw, ImageFont, UnidentifiedImageError

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
