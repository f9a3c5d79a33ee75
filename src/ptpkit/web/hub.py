"""Fan-out for the page: messages to every open event stream (:class:`Broadcaster`) and a
camera's live-view frames to every viewer (:class:`FrameHub`), both with bounded memory.

A slow page never holds the camera up: a subscriber whose queue is full is dropped (its
stream ends and the page reconnects and reloads its state), and a viewer is sent the newest
frame there is when it is ready for one, never a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, Protocol

from ptpkit._log import get_logger

log = get_logger("ptpkit.web")

#: Messages a page may be behind by before it is dropped.
SUBSCRIBER_QUEUE: Final = 512
#: Messages kept for the event log of a page that opens later.
LOG_KEPT: Final = 200


class Broadcaster:
    """Messages (JSON-able dicts) to every subscriber, and the last :data:`LOG_KEPT` log
    entries."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_KEPT)

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    def publish(self, message: dict[str, Any]) -> None:
        if message.get("type") == "log":
            self.log.append(message)
        for queue in list(self._queues):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                # Too far behind: end its stream (None) rather than hold messages for it.
                self._queues.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    async def messages(self) -> AsyncGenerator[dict[str, Any], None]:
        """Every message from now on, until the subscriber falls behind or the caller stops."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._queues.add(queue)
        try:
            while (message := await queue.get()) is not None:
                yield message
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        self._queues.clear()


class Frame(Protocol):
    """A live-view frame (:class:`ptpkit.LiveFrame`)."""

    @property
    def jpeg(self) -> bytes: ...
    @property
    def sequence(self) -> int: ...


#: Opens the camera's live view: an async context manager that iterates frames.
LiveViewOpener = Callable[[], AbstractAsyncContextManager[AsyncIterator[Frame]]]


class FrameHub:
    """One camera's live view, read once for every viewer while there is at least one: the
    reader starts with the first viewer and stops (live view ends on the camera) when the last
    one leaves."""

    def __init__(self, open_live_view: LiveViewOpener, on_error: Callable[[str], None]) -> None:
        self._open = open_live_view
        self._on_error = on_error
        self._viewers = 0
        self._newest: Frame | None = None
        self._count = 0
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        #: The reader was told to stop (no viewer left) and is ending live view.
        self._stopping = False
        #: Why the last reader stopped (None: it did not fail).
        self.error: str | None = None

    @property
    def viewers(self) -> int:
        return self._viewers

    @property
    def frames_read(self) -> int:
        return self._count

    async def _read(self) -> None:
        try:
            async with self._open() as frames:
                async for frame in frames:
                    async with self._changed:
                        self._newest = frame
                        self._count += 1
                        self._changed.notify_all()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a camera's failure ends the streams
            self.error = str(exc) or type(exc).__name__
            self._on_error(f"live view stopped: {self.error}")
        finally:
            async with self._changed:
                if self._reader is asyncio.current_task():
                    self._reader = None
                    self._stopping = False
                self._changed.notify_all()

    async def frames(self) -> AsyncGenerator[Frame, None]:
        """Frames for one viewer: the newest each time it asks, each at most once; ends when
        the camera's live view ends."""
        self._viewers += 1
        try:
            async with self._changed:
                # A reader whose last viewer left is still ending live view on the camera:
                # wait for it, then start anew.
                await self._changed.wait_for(lambda: not self._stopping)
                if self._reader is None:
                    self.error = None
                    self._reader = asyncio.create_task(self._read())
                seen = self._count
            while True:
                async with self._changed:
                    await self._changed.wait_for(
                        lambda seen=seen: self._count != seen or self._reader is None  # type: ignore[misc]
                    )
                    if self._count == seen:
                        return
                    seen = self._count
                    frame = self._newest
                assert frame is not None
                yield frame
        finally:
            self._viewers -= 1
            if self._viewers == 0 and self._reader is not None and not self._stopping:
                # Not awaited here: this viewer's task may itself be cancelled (the page went
                # away), and its cancellation must not reach the reader's ending of live view.
                self._stopping = True
                self._reader.cancel()

    async def wait_idle(self) -> None:
        """Return once no viewer is left and the reader has stopped (live view ended)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._viewers == 0 and self._reader is None)

    async def close(self) -> None:
        """Stop reading (live view ends on the camera) and wait for it."""
        reader = self._reader
        if reader is not None:
            self._stopping = True
            reader.cancel()
            # asyncio.wait: a cancel of the caller does not reach the reader's ending.
            await asyncio.wait([reader])
