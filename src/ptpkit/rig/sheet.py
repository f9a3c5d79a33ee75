"""A contact sheet: every camera's live-view frame in one JPEG grid (Pillow), captioned with the
camera's name; a camera without a frame gets a grey tile saying why."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Final

from ptpkit.rig.backend import FrameOutcome
from ptpkit.rig.spec import RigSpec

__all__ = ["contact_sheet"]

#: Tiles are 4:3 below a caption band this tall (pixels).
_CAPTION_PX: Final = 24
_QUALITY: Final = 85


def contact_sheet(frames: Sequence[FrameOutcome], spec: RigSpec, *, tile_width: int = 480) -> bytes:
    """The grid as JPEG bytes: one tile per camera of ``spec`` in index order."""
    from PIL import Image, ImageDraw, UnidentifiedImageError  # noqa: PLC0415

    by_camera = {frame.camera: frame for frame in frames}
    cameras = sorted(spec.cameras, key=lambda c: c.index)
    count = max(1, len(cameras))
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    tile_w = max(64, tile_width)
    tile_h = tile_w * 3 // 4
    sheet = Image.new("RGB", (columns * tile_w, rows * (tile_h + _CAPTION_PX)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for place, camera in enumerate(cameras):
        x = (place % columns) * tile_w
        y = (place // columns) * (tile_h + _CAPTION_PX)
        frame = by_camera.get(camera.name)
        caption = f"{camera.index}  {camera.name}"
        picture = None
        if frame is not None and frame.ok and frame.jpeg:
            try:
                with Image.open(io.BytesIO(frame.jpeg), formats=("JPEG",)) as image:
                    picture = image.convert("RGB")
                    picture.thumbnail((tile_w, tile_h))
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
                caption += "  (not a JPEG)"
        if picture is not None:
            sheet.paste(
                picture,
                (x + (tile_w - picture.width) // 2, y + (tile_h - picture.height) // 2),
            )
        else:
            draw.rectangle((x + 2, y + 2, x + tile_w - 3, y + tile_h - 3), fill=(70, 70, 70))
            why = "no frame" if frame is None else (frame.error or "no frame")
            draw.text((x + 8, y + tile_h // 2), why[: tile_w // 7], fill=(255, 200, 200))
        draw.text((x + 6, y + tile_h + 5), caption[: tile_w // 7], fill=(235, 235, 235))
    out = io.BytesIO()
    sheet.save(out, format="JPEG", quality=_QUALITY)
    return out.getvalue()
