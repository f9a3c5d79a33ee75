"""Live view as a product: a stream of frames from a vendor's frame source.

::

    with cam.live_view() as lv:
        for frame in lv:                  # blocks for the next frame
            show(frame.jpeg, frame.width, frame.height)
        print(lv.fps, lv.dropped)

A reader thread asks the camera for the next frame while the caller handles the last one (the
request is in flight during the caller's work); only the newest frame waits for the caller, an
older one still waiting is dropped (counted in :attr:`LiveView.dropped`) rather than queued, so a
slow consumer always gets fresh pictures. The reader takes the camera for one frame's
transactions at a time and steps aside when another thread waits for it (a property set, a
capture), so live view does not block what the camera allows during it.

Stopping (leaving the ``with``, :meth:`LiveView.close`) always ends live view on the camera (the
source's ``stop``: Nikon EndLiveView, EOS EVFOutputDevice back to 0), also after an error or
Ctrl-C. A camera that stops sending frames raises TransportTimeout after ``frame_timeout_s``.
"""

from __future__ import annotations

import collections
import io
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Final

from ptpkit.errors import ClosedError, DecodeError, PTPError, TransportTimeout
from ptpkit.ext.base import FrameSource

log = logging.getLogger("ptpkit.liveview")

#: Seconds a camera may go without a frame before live view fails (a real EOS takes up to
#: 1.2 s for its first frame, vendors.md 1.7; a Sony ZV-1 up to 1 s).
FRAME_TIMEOUT_S: Final = 10.0
#: Pause before asking again when the camera had no frame ready (its "not yet" answers):
#: short against a frame interval (16.7 ms at 60 fps), long enough to leave the camera to
#: other threads.
NOT_READY_PAUSE_S: Final = 0.002
#: Longest the reader steps aside for other threads' transactions after a frame.
YIELD_LIMIT_S: Final = 0.5
#: Frames without a readable JPEG header in a row before live view fails (one bad frame is
#: skipped; a stream of them is a broken camera).
BAD_FRAMES_LIMIT: Final = 30
#: Deliveries :attr:`LiveView.fps` averages over.
FPS_WINDOW: Final = 30
#: Seconds the close waits for a frame request under way to end before stopping anyway.
JOIN_TIMEOUT_S: Final = 30.0

_NO_SIDE_DATA: Final[Mapping[str, object]] = MappingProxyType({})


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveFrame:
    """One live-view picture."""

    #: The JPEG as the camera sent it.
    jpeg: bytes
    #: The picture's size, from the JPEG's frame header (SOF).
    width: int
    height: int
    #: 0, 1, 2... in the order this live view delivered frames.
    sequence: int
    #: ``time.monotonic()`` when the frame arrived.
    timestamp_s: float
    #: The vendor's side data (focus frame, zoom...) where the source gives any, else empty.
    side_data: Mapping[str, object] = field(default_factory=lambda: _NO_SIDE_DATA)


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header; DecodeError when ``jpeg`` is not a JPEG
    Pillow can read the header of (Pillow reads the header only: no decoding)."""
    # Loaded on use: a command without live view does not load Pillow (start-up time).
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(io.BytesIO(jpeg), formats=("JPEG",)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DecodeError(str(exc) or type(exc).__name__, what="live-view JPEG") from exc
    return int(width), int(height)


def _side_data(source: FrameSource) -> Mapping[str, object]:
    # A source that knows more than the JPEG offers it as ``side_data`` (the last frame's).
    data = getattr(source, "side_data", None)
    if isinstance(data, Mapping) and data:
        return MappingProxyType(dict(data))
    return _NO_SIDE_DATA


@dataclass(kw_only=True, slots=True)
class _Received:
    jpeg: bytes
    width: int
    height: int
    timestamp_s: float
    side_data: Mapping[str, object]


class LiveView:
    """Frames from a camera's live view (see the module's docstring). Made by
    :meth:`ptpkit.Camera.live_view`; a context manager and an iterator of :class:`LiveFrame`."""

    def __init__(
        self,
        source: FrameSource,
        *,
        frame_timeout_s: float = FRAME_TIMEOUT_S,
        waiting: Callable[[], int] = lambda: 0,
        label: str = "camera",
    ) -> None:
        self.source = source
        self.frame_timeout_s = frame_timeout_s
        #: How many other threads wait for the camera (the engine's count): the reader steps
        #: aside for them between frames.
        self._waiting = waiting
        self.label = label
        self._cond = threading.Condition()
        self._pending: _Received | None = None
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._closed = False
        self._sequence = 0
        self._dropped = 0
        self._received = 0
        self._delivered: collections.deque[float] = collections.deque(maxlen=FPS_WINDOW)

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start live view on the camera and the reader thread (done by ``with``)."""
        if self._closed:
            raise ClosedError("this live view is closed; start another with cam.live_view()")
        if self._started:
            return
        self.source.start()
        self._started = True
        self._thread = threading.Thread(
            target=self._read, name=f"ptpkit-liveview-{self.label}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop the reader and end live view on the camera (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        thread = self._thread
        try:
            if thread is not None and thread is not threading.current_thread():
                # The request under way is bounded by its transaction's timeout.
                thread.join(JOIN_TIMEOUT_S)
                if thread.is_alive():
                    log.warning("%s: a live-view frame request is still under way", self.label)
        finally:
            if self._started:
                self.source.stop()

    def __enter__(self) -> LiveView:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        # Leaving on an error (or Ctrl-C): live view still ends on the camera, and the error
        # that ended the loop is the one the caller sees.
        try:
            self.close()
        except PTPError as stop_error:
            log.warning("%s: could not end live view: %s", self.label, stop_error)

    # -- frames ----------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[LiveFrame]:
        while True:
            try:
                frame = self.next_frame()
            except ClosedError:
                if self._closed:
                    return  # closed by another thread (or a break's close): the end
                raise
            yield frame

    def next_frame(self, timeout_s: float | None = None) -> LiveFrame:
        """The newest frame not yet delivered, waiting for one up to ``timeout_s`` (default:
        ``frame_timeout_s``); TransportTimeout when none comes, the reader's error when the
        camera failed, ClosedError once closed."""
        limit_s = self.frame_timeout_s if timeout_s is None else timeout_s
        frame = self.poll_frame(limit_s)
        if frame is None:
            raise TransportTimeout(f"no live-view frame from {self.label} within {limit_s:g} s")
        return frame

    def poll_frame(self, timeout_s: float) -> LiveFrame | None:
        """Like :meth:`next_frame`, but None when no frame came within ``timeout_s`` (a loop
        that also watches something else, a Ctrl-C or a deadline, waits in short steps; the
        reader still fails with TransportTimeout when the camera sends nothing for
        ``frame_timeout_s``)."""
        if not self._started and not self._closed:
            self.start()
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending is None:
                if self._error is not None:
                    raise self._error
                if self._closed:
                    raise ClosedError("the live view is closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            received, self._pending = self._pending, None
            sequence = self._sequence
            self._sequence += 1
            self._delivered.append(time.monotonic())
        return LiveFrame(
            jpeg=received.jpeg,
            width=received.width,
            height=received.height,
            sequence=sequence,
            timestamp_s=received.timestamp_s,
            side_data=received.side_data,
        )

    @property
    def fps(self) -> float:
        """Frames per second delivered to the caller, over the last :data:`FPS_WINDOW`."""
        with self._cond:
            times = list(self._delivered)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    @property
    def dropped(self) -> int:
        """Frames received but replaced by a newer one before the caller took them (and frames
        whose JPEG header could not be read)."""
        with self._cond:
            return self._dropped

    @property
    def received(self) -> int:
        """Frames received from the camera so far."""
        with self._cond:
            return self._received

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the reader thread -----------------------------------------------------------------------

    def _read(self) -> None:
        try:
            self._read_frames()
        except BaseException as exc:  # handed to the caller's next_frame
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _read_frames(self) -> None:
        last_frame_at = time.monotonic()
        bad_in_a_row = 0
        while not self._stopping.is_set():
            jpeg = self.source.frame()
            now = time.monotonic()
            if jpeg is None:
                if now - last_frame_at > self.frame_timeout_s:
                    raise TransportTimeout(
                        f"{self.label} sent no live-view frame for {self.frame_timeout_s:g} s"
                    )
                self._stopping.wait(NOT_READY_PAUSE_S)
                continue
            last_frame_at = now
            try:
                width, height = jpeg_size(jpeg)
            except DecodeError:
                bad_in_a_row += 1
                with self._cond:
                    self._dropped += 1
                if bad_in_a_row >= BAD_FRAMES_LIMIT:
                    raise
                log.info("%s: a live-view frame without a readable JPEG header", self.label)
                continue
            bad_in_a_row = 0
            received = _Received(jpeg=jpeg, width=width, height=height, timestamp_s=now,
                                 side_data=_side_data(self.source))  # fmt: skip
            with self._cond:
                if self._pending is not None:
                    self._dropped += 1
                self._pending = received
                self._received += 1
                self._cond.notify_all()
            self._step_aside()

    def _step_aside(self) -> None:
        """Let threads waiting for the camera run their transactions before the next frame
        request (the engine's lock is not fair: a loop that takes it again at once can keep
        another thread out for as long as live view runs)."""
        if not self._waiting():
            return
        deadline = time.monotonic() + YIELD_LIMIT_S
        while self._waiting() and time.monotonic() < deadline:
            if self._stopping.wait(0.0005):
                return


def preview_frame(source: FrameSource, *, timeout_s: float = FRAME_TIMEOUT_S) -> LiveFrame:
    """One frame (gphoto2's ``--capture-preview``): live view started, the first frame the
    camera has taken (in this thread: no reader, nothing in flight), live view stopped."""
    deadline = time.monotonic() + timeout_s
    source.start()
    try:
        frame = _first_frame(source, deadline, timeout_s)
    except BaseException:
        # The error that ended the wait is the one the caller sees; live view still ends.
        try:
            source.stop()
        except PTPError as stop_error:
            log.warning("could not end live view: %s", stop_error)
        raise
    source.stop()
    return frame


def _first_frame(source: FrameSource, deadline: float, timeout_s: float) -> LiveFrame:
    while True:
        jpeg = source.frame()
        now = time.monotonic()
        if jpeg is not None:
            try:
                width, height = jpeg_size(jpeg)
            except DecodeError:
                if now >= deadline:
                    raise
                continue
            return LiveFrame(jpeg=jpeg, width=width, height=height, sequence=0,
                             timestamp_s=now, side_data=_side_data(source))  # fmt: skip
        if now >= deadline:
            raise TransportTimeout(f"no live-view frame within {timeout_s:g} s")
        time.sleep(min(NOT_READY_PAUSE_S, deadline - now))


__all__ = ["FRAME_TIMEOUT_S", "LiveFrame", "LiveView", "jpeg_size", "preview_frame"]
