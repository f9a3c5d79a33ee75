"""Live view under ``ptpkit.aio``: frames from the camera's extension's frame source
(:class:`~ptpkit.ext.base.FrameSource`: Canon EOS, Nikon, Sony, Fujifilm)::

    async with cam.live_view() as lv:
        async for frame in lv:            # ptpkit.LiveFrame
            show(frame.jpeg)
        print(lv.fps, lv.dropped)

The rules of :class:`ptpkit.client.liveview.LiveView`, on the loop: a reader task asks the
camera for the next frame while the program handles the last one (the source's blocking
``frame()`` in one of the camera's hook threads, its transactions on the engine), and only the
newest frame waits for the program: an older one still waiting is dropped (counted in
:attr:`AsyncLiveView.dropped`), not queued, so a slow consumer gets fresh pictures. Other
tasks' transactions run between frames (the engine's lock is fair: a task waiting for it goes
before the reader's next request). Live view ends on the camera on exit, also after an error
or a cancel; a camera with no frame for ``frame_timeout_s`` is TransportTimeout; a frame
without a readable JPEG header is skipped, a run of
:data:`~ptpkit.client.liveview.BAD_FRAMES_LIMIT` of them is an error.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any

from ptpkit._log import get_logger
from ptpkit.aio._timeouts import bounded
from ptpkit.client.liveview import (
    BAD_FRAMES_LIMIT,
    FPS_WINDOW,
    NOT_READY_PAUSE_S,
    LiveFrame,
    jpeg_size,
)
from ptpkit.errors import ClosedError, DecodeError, PTPError, TransportTimeout
from ptpkit.ext.base import FrameSource

log = get_logger("ptpkit.liveview")

#: Runs a blocking call of the frame source in a hook thread (the camera's VendorBridge.call).
HookRunner = Callable[..., Awaitable[Any]]


class AsyncLiveView:
    """Live view as an async context manager and async iterator of :class:`LiveFrame`."""

    def __init__(
        self,
        make_source: Callable[[], Awaitable[FrameSource]],
        run: HookRunner,
        *,
        frame_timeout_s: float,
        label: str,
    ) -> None:
        self._make_source = make_source
        #: The extension's frame source, once started.
        self.source: FrameSource | None = None
        self._run = run
        self.frame_timeout_s = frame_timeout_s
        self.label = label
        self._started = False
        self._closed = False
        self._reader: asyncio.Task[None] | None = None
        #: The newest frame not yet delivered (jpeg, width, height, arrival, side data).
        self._pending: tuple[bytes, int, int, float, Mapping[str, object]] | None = None
        self._arrived = asyncio.Event()
        self._error: BaseException | None = None
        self._sequence = 0
        self._dropped = 0
        self._received = 0
        self._delivered: collections.deque[float] = collections.deque(maxlen=FPS_WINDOW)

    # -- life cycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncLiveView:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start live view on the camera and the reader task (done by ``async with``)."""
        if self._closed:
            raise ClosedError("this live view is closed; start another with cam.live_view()")
        if self._started:
            return
        self.source = await self._make_source()
        await self._run(self.source.start)
        self._started = True
        self._reader = asyncio.get_running_loop().create_task(
            self._read(self.source), name=f"ptpkit-liveview-{self.label}"
        )

    async def close(self) -> None:
        """Stop the reader and end live view on the camera (once). An error ending it is
        logged, not raised: the error that ended the live view is the one the caller sees."""
        if self._closed:
            return
        self._closed = True
        self._arrived.set()
        reader = self._reader
        if reader is not None:
            # Not cancelled: its frame request in a hook thread cannot be stopped, and stop()
            # must not run beside it. It sees the close after that request (bounded by its
            # transaction's timeout).
            with contextlib.suppress(asyncio.CancelledError, PTPError):
                await asyncio.shield(reader)
        if self._started and self.source is not None:
            try:
                await asyncio.shield(self._run(self.source.stop))
            except PTPError as exc:
                log.warning("%s: could not end live view: %s", self.label, exc)

    # -- frames ----------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncLiveView:
        return self

    async def __anext__(self) -> LiveFrame:
        try:
            return await self.next_frame()
        except ClosedError:
            if self._closed:
                raise StopAsyncIteration from None
            raise

    async def next_frame(self, timeout_s: float | None = None) -> LiveFrame:
        """The newest frame not yet delivered, waiting up to ``timeout_s`` (default:
        ``frame_timeout_s``); TransportTimeout when none comes, the reader's error when the
        camera failed, ClosedError once closed."""
        frame = await self.poll_frame(self.frame_timeout_s if timeout_s is None else timeout_s)
        if frame is None:
            limit_s = self.frame_timeout_s if timeout_s is None else timeout_s
            raise TransportTimeout(f"no live-view frame from {self.label} within {limit_s:g} s")
        return frame

    async def poll_frame(self, timeout_s: float) -> LiveFrame | None:
        """Like :meth:`next_frame`, but None when no frame came within ``timeout_s``."""
        if not self._started and not self._closed:
            await self.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._pending is None:
            if self._error is not None:
                raise self._error
            if self._closed:
                raise ClosedError("the live view is closed")
            left = deadline - loop.time()
            if left <= 0:
                return None
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await bounded(self._arrived.wait(), left)
        (jpeg, width, height, arrived_s, side_data), self._pending = self._pending, None
        sequence, self._sequence = self._sequence, self._sequence + 1
        self._delivered.append(time.monotonic())
        return LiveFrame(
            jpeg=jpeg,
            width=width,
            height=height,
            sequence=sequence,
            timestamp_s=arrived_s,
            side_data=side_data,
        )

    @property
    def fps(self) -> float:
        """Frames per second delivered to the program, over the last :data:`FPS_WINDOW`."""
        times = list(self._delivered)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    @property
    def dropped(self) -> int:
        """Frames replaced by a newer one before the program took them, and frames whose JPEG
        header could not be read."""
        return self._dropped

    @property
    def received(self) -> int:
        """Frames received from the camera so far."""
        return self._received

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the reader task -------------------------------------------------------------------------

    async def _read(self, source: FrameSource) -> None:
        try:
            await self._read_frames(source)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the program's next_frame
            self._error = exc
            self._arrived.set()

    async def _read_frames(self, source: FrameSource) -> None:
        last_frame_at = time.monotonic()
        bad_in_a_row = 0
        while not self._closed:
            jpeg: bytes | None = await self._run(source.frame)
            now = time.monotonic()
            if jpeg is None:
                if now - last_frame_at > self.frame_timeout_s:
                    raise TransportTimeout(
                        f"{self.label} sent no live-view frame for {self.frame_timeout_s:g} s"
                    )
                await asyncio.sleep(NOT_READY_PAUSE_S)
                continue
            last_frame_at = now
            try:
                width, height = jpeg_size(jpeg)
            except DecodeError:
                bad_in_a_row += 1
                self._dropped += 1
                if bad_in_a_row >= BAD_FRAMES_LIMIT:
                    raise
                log.info("%s: a live-view frame without a readable JPEG header", self.label)
                continue
            bad_in_a_row = 0
            side = getattr(source, "side_data", None)
            side_data: Mapping[str, object] = MappingProxyType(dict(side)) if side else _NONE
            if self._pending is not None:
                self._dropped += 1
            self._pending = (jpeg, width, height, now, side_data)
            self._received += 1
            self._arrived.set()


_NONE: Mapping[str, object] = MappingProxyType({})
