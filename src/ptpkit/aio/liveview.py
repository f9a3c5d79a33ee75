"""Live view under ``ptpkit.aio``: frames from the camera's extension's frame source
(:class:`~ptpkit.ext.base.FrameSource`: Canon EOS, Nikon, Sony, Fujifilm), each asked for when
the program wants it::

    async with cam.live_view() as lv:
        async for frame in lv:            # ptpkit.LiveFrame
            show(frame.jpeg)

The rules of :class:`ptpkit.client.liveview.LiveView` where they apply: live view ends on the
camera on exit, also after an error or a cancel; a camera with no frame for
``frame_timeout_s`` is TransportTimeout; a frame without a readable JPEG header is skipped, a
run of :data:`~ptpkit.client.liveview.BAD_FRAMES_LIMIT` of them is an error. Unlike it, no
reader runs ahead (the blocking one keeps the next request in flight in a thread): the loop
asks for a frame when it takes one, and other tasks' transactions run between frames.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from ptpkit._log import get_logger
from ptpkit.client.liveview import (
    BAD_FRAMES_LIMIT,
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
        #: Frames delivered, and frames skipped for a bad JPEG header.
        self.received = 0
        self.dropped = 0

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
        if self._closed:
            raise ClosedError("this live view was closed")
        if not self._started:
            self.source = await self._make_source()
            await self._run(self.source.start)
            self._started = True

    async def close(self) -> None:
        """End live view on the camera (once); an error doing so is logged, not raised, so
        the error that ended the live view is the one the caller sees."""
        if self._closed:
            return
        self._closed = True
        if self._started and self.source is not None:
            try:
                await asyncio.shield(self._run(self.source.stop))
            except PTPError as exc:
                log.warning("%s: could not end live view: %s", self.label, exc)

    def __aiter__(self) -> AsyncLiveView:
        return self

    async def __anext__(self) -> LiveFrame:
        if self._closed:
            raise StopAsyncIteration
        return await self.next_frame()

    async def next_frame(self) -> LiveFrame:
        """The camera's next frame (TransportTimeout after ``frame_timeout_s`` without one)."""
        await self.start()
        source = self.source
        assert source is not None
        asked_at = time.monotonic()
        bad_in_a_row = 0
        while True:
            jpeg: bytes | None = await self._run(source.frame)
            now = time.monotonic()
            if jpeg is None:
                if now - asked_at > self.frame_timeout_s:
                    raise TransportTimeout(
                        f"{self.label} sent no live-view frame for {self.frame_timeout_s:g} s"
                    )
                await asyncio.sleep(NOT_READY_PAUSE_S)
                continue
            try:
                width, height = jpeg_size(jpeg)
            except DecodeError:
                bad_in_a_row += 1
                self.dropped += 1
                if bad_in_a_row >= BAD_FRAMES_LIMIT:
                    raise
                log.info("%s: a live-view frame without a readable JPEG header", self.label)
                continue
            side_data = getattr(source, "side_data", None)
            frame = LiveFrame(
                jpeg=jpeg,
                width=width,
                height=height,
                sequence=self.received,
                timestamp_s=now,
                **({"side_data": dict(side_data)} if side_data else {}),
            )
            self.received += 1
            return frame
