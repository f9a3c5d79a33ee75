"""The virtual camera's live view: an animated test picture that carries its own frame number
and time stamp.

Every personality's live view (Canon EOS GetViewFinderData, Nikon GetLiveViewImg, Sony's
0xFFFFC002 object, Fujifilm's 55742 stream and 0x80000001 object) shows this picture. Each
frame has its number and the camera's ``time.monotonic_ns()`` when it was made twice: drawn into
the picture (a person sees them) and in a JPEG comment segment ``ptpkit-frame <n> <ns>``
(:func:`frame_stamp` reads it: tests and benchmarks measure latency and dropped frames).

A new frame is made at most every 1/fps seconds: a request that comes sooner waits for the
frame to be due, as a camera's sensor gives frames at its own pace. Size and pace are the
``liveview_size`` and ``liveview_fps`` model options (default 1024x680 at 60 fps).

Frames are cheap to make: the background is drawn once; each frame copies it, draws a moving bar
and the two numbers, and encodes a JPEG at a moderate quality (about 3-5 ms at 1024x680).
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ptpkit.errors import UsageError

if TYPE_CHECKING:
    from PIL import Image, ImageFont

    _Font = ImageFont.ImageFont | ImageFont.FreeTypeFont

DEFAULT_SIZE: Final = (1024, 680)
DEFAULT_FPS: Final = 60.0
#: JPEG quality of the frames: what live-view streams use (a frame of tens of kB), and cheap to
#: encode.
QUALITY: Final = 70
#: The options every live-view model takes (``virtual:?model=nikon&liveview_fps=30``).
OPTIONS: Final = {
    "liveview_size": "WIDTHxHEIGHT (16x16 to 4096x4096)",
    "liveview_fps": "frames per second (1 to 240)",
}
#: The comment segment's text: ``ptpkit-frame <number> <monotonic ns>``.
STAMP_PREFIX: Final = b"ptpkit-frame "
_STAMP = re.compile(rb"ptpkit-frame (\d{1,20}) (\d{1,20})")
_MAX_EDGE: Final = 4096
_MAX_FPS: Final = 240.0


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveViewSettings:
    """Size and pace of a virtual camera's live view."""

    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    fps: float = DEFAULT_FPS


#: The default settings (a frozen value: shared).
DEFAULT_LIVE_VIEW: Final = LiveViewSettings()


def parse_options(options: Mapping[str, str]) -> tuple[LiveViewSettings, dict[str, str]]:
    """The live-view options among a model's options -> (settings, the other options);
    UsageError for a bad value."""
    rest = dict(options)
    width, height = DEFAULT_SIZE
    fps = DEFAULT_FPS
    size_text = rest.pop("liveview_size", None)
    if size_text is not None:
        match = re.fullmatch(r"\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*", size_text)
        if match is None:
            raise UsageError(f"liveview_size takes WIDTHxHEIGHT (e.g. 640x480), not {size_text!r}")
        width, height = int(match[1]), int(match[2])
        if not (16 <= width <= _MAX_EDGE and 16 <= height <= _MAX_EDGE):
            raise UsageError(f"liveview_size takes 16x16 to 4096x4096, not {size_text!r}")
    fps_text = rest.pop("liveview_fps", None)
    if fps_text is not None:
        try:
            fps = float(fps_text)
        except ValueError:
            fps = -1.0
        if not 1.0 <= fps <= _MAX_FPS:
            raise UsageError(f"liveview_fps takes 1 to 240 frames per second, not {fps_text!r}")
    return LiveViewSettings(width=width, height=height, fps=fps), rest


def frame_stamp(jpeg: bytes) -> tuple[int, int] | None:
    """(frame number, camera's monotonic ns) of a virtual camera's live-view frame; None for
    another JPEG. The comment segment follows the start of image (looked for in the head)."""
    match = _STAMP.search(jpeg, 0, 256)
    if match is None:
        return None
    return int(match[1]), int(match[2])


class LivePicture:
    """Makes the frames of one camera's live view (thread-safe; one sequence per camera, as one
    sensor)."""

    def __init__(
        self,
        settings: LiveViewSettings | None = None,
        *,
        label: str = "ptpkit virtual camera",
        clock_ns: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or LiveViewSettings()
        self.label = label
        self._clock_ns = clock_ns
        self._sleep = sleep
        self._interval_ns = round(1e9 / self.settings.fps)
        self._lock = threading.Lock()
        self._last_ns: int | None = None
        #: Frames made so far (the next frame's number).
        self.frames = 0
        #: The last frame made.
        self.last_frame = b""
        # Pillow loads on first use: ``virtual serve`` without live view does not need it.
        self._background: Image.Image | None = None  # drawn once, on first use
        self._fonts: tuple[_Font, _Font] | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.settings.width, self.settings.height

    def next_frame(self) -> bytes:
        """The next frame, made when it is due (waits up to one frame interval)."""
        with self._lock:
            now = self._clock_ns()
            if self._last_ns is not None:
                due = self._last_ns + self._interval_ns
                if now < due:
                    self._sleep((due - now) / 1e9)
                    now = self._clock_ns()
                # On the frame grid while requests keep up (a sleep's overshoot must not slow
                # the pace: 60 fps, not 59); a request that came late starts the grid afresh.
                self._last_ns = due if now - due < self._interval_ns else now
            else:
                self._last_ns = now
            number = self.frames
            self.frames += 1
            jpeg = self.render(number, now)
            self.last_frame = jpeg
            return jpeg

    def render(self, number: int, stamp_ns: int) -> bytes:
        """Frame ``number`` stamped ``stamp_ns`` (no pacing)."""
        from PIL import ImageDraw  # noqa: PLC0415

        background = self._background
        if background is None:
            background = self._background = self._draw_background()
        big, small = self._font_pair()
        image = background.copy()
        draw = ImageDraw.Draw(image)
        width, height = image.size
        # A bar that sweeps across once a second at the nominal pace: motion a viewer sees.
        step = max(1, round(width / self.settings.fps))
        x = (number * step) % width
        bar = max(4, width // 64)
        draw.rectangle((x, 0, x + bar, height), fill=(255, 210, 0))
        draw.text((width // 24, height // 3), f"#{number}", fill=(255, 255, 255), font=big,
                  stroke_width=2, stroke_fill=(0, 0, 0))  # fmt: skip
        stamp_text = f"t={stamp_ns / 1e9:.3f} s  {self.settings.fps:g} fps"
        draw.text((width // 24, height // 3 + height // 6), stamp_text, fill=(255, 255, 255),
                  font=small, stroke_width=1, stroke_fill=(0, 0, 0))  # fmt: skip
        out = io.BytesIO()
        image.save(
            out, "JPEG", quality=QUALITY, comment=b"%s%d %d" % (STAMP_PREFIX, number, stamp_ns)
        )
        return out.getvalue()

    def _font_pair(self) -> tuple[_Font, _Font]:
        if self._fonts is None:
            from ptpkit.virtual.imaging import font  # noqa: PLC0415

            height = self.settings.height
            self._fonts = (font(max(12, height // 7)), font(max(10, height // 18)))
        return self._fonts

    def _draw_background(self) -> Image.Image:
        from PIL import Image, ImageDraw  # noqa: PLC0415

        from ptpkit.virtual.imaging import font  # noqa: PLC0415

        width, height = self.size
        gradient = Image.linear_gradient("L").resize((width, height))
        image = Image.composite(
            Image.new("RGB", (width, height), (30, 60, 120)),
            Image.new("RGB", (width, height), (20, 130, 90)),
            gradient,
        )
        draw = ImageDraw.Draw(image)
        # A test chart's grid and centre mark: framing and scaling errors show.
        grid = max(8, width // 16)
        for x in range(0, width, grid):
            draw.line((x, 0, x, height), fill=(90, 110, 140))
        for y in range(0, height, grid):
            draw.line((0, y, width, y), fill=(90, 110, 140))
        cx, cy, r = width // 2, height // 2, min(width, height) // 8
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(255, 255, 255), width=3)
        draw.text((width // 24, height // 24), f"{self.label}  {width}x{height}",
                  fill=(255, 255, 255), font=font(max(10, height // 18)))  # fmt: skip
        return image


__all__ = [
    "DEFAULT_FPS",
    "DEFAULT_LIVE_VIEW",
    "DEFAULT_SIZE",
    "OPTIONS",
    "LivePicture",
    "LiveViewSettings",
    "frame_stamp",
    "parse_options",
]
