"""The camera's events for ``ptpkit.aio``: one bounded queue on the loop, read with
``await next_event()``, ``async for event in cam.events()`` and ``await wait_event(codes)``, and
seen first by internal listeners (a capture waiting for its answer), as in
:class:`ptpkit.client.events.EventStream`: the same :class:`CameraEvent`, the same queue limit
(the oldest go first in a flood), the same rule for events a wait skips (kept, in order)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator

from ptpkit._log import get_logger
from ptpkit.aio._timeouts import bounded
from ptpkit.client.events import EVENT_QUEUE_LIMIT, CameraEvent
from ptpkit.core.events import Event
from ptpkit.errors import ClosedError, PTPError, TransportTimeout

log = get_logger("ptpkit")

#: An internal listener: sees each event first; True means it consumed it (not queued).
Listener = Callable[[CameraEvent], bool]


class AsyncEventStream:
    """The event service of one asyncio camera; every method runs on the loop's thread."""

    def __init__(self, event_name: Callable[[int], str]) -> None:
        self._event_name = event_name
        self._queue: collections.deque[CameraEvent] = collections.deque(maxlen=EVENT_QUEUE_LIMIT)
        #: Set when something arrives or no more can: waiters look again (then clear it).
        self._arrived = asyncio.Event()
        self._error: PTPError | None = None
        self._closed = False
        self._listeners: list[Listener] = []
        #: Tasks waiting for an event now (an attentive poller polls faster meanwhile).
        self.waiting = 0
        #: Called when a task begins to wait (the poller's attention).
        self.on_wait: Callable[[], None] | None = None

    def deliver(self, event: Event, details: object = None) -> None:
        camera_event = CameraEvent(
            code=event.code,
            name=self._event_name(event.code),
            params=event.params,
            transaction_id=event.transaction_id,
            received=time.monotonic(),
            details=details,
        )
        log.debug("event %s", camera_event)
        consumed = False
        for listener in list(self._listeners):
            consumed = listener(camera_event) or consumed
        if not consumed:
            self._queue.append(camera_event)
        self._arrived.set()

    def fail(self, error: PTPError) -> None:
        """The event link failed: waiters raise ``error`` from now on."""
        self._error = error
        self._arrived.set()

    def stop(self) -> None:
        self._closed = True
        self._arrived.set()

    @contextlib.contextmanager
    def listening(self, listener: Listener) -> Iterator[None]:
        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)

    def raise_if_ended(self) -> None:
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self._closed:
            raise ClosedError("the camera is closed")

    async def changed(self, timeout_s: float | None) -> bool:
        """Wait until an event arrives (or no more can), at most ``timeout_s``; False on
        timeout."""
        self._arrived.clear()
        self.waiting += 1
        try:
            if self.on_wait is not None:
                self.on_wait()
            await bounded(self._arrived.wait(), timeout_s)
        except asyncio.TimeoutError:
            return False
        finally:
            self.waiting -= 1
        return True

    async def next_event(self, timeout_s: float | None = None) -> CameraEvent | None:
        """The next event, waiting up to ``timeout_s`` (None: forever). None on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while True:
            with contextlib.suppress(IndexError):
                return self._queue.popleft()
            self.raise_if_ended()
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            await self.changed(remaining)

    async def events(self, timeout_s: float | None = None) -> AsyncIterator[CameraEvent]:
        """Events as they come; ends when none arrives within ``timeout_s``."""
        while True:
            event = await self.next_event(timeout_s)
            if event is None:
                return
            yield event

    async def wait_event(
        self, codes: Iterable[int] | None = None, *, timeout_s: float = 10.0
    ) -> CameraEvent:
        """The next event with one of ``codes`` (any if None); the others are kept for later,
        in order. Raises TransportTimeout."""
        wanted = set(codes) if codes is not None else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        skipped: collections.deque[CameraEvent] = collections.deque(maxlen=EVENT_QUEUE_LIMIT)
        try:
            while True:
                event = await self.next_event(max(0.0, deadline - loop.time()))
                if event is None:
                    raise TransportTimeout(f"no event within {timeout_s:g} s")
                if wanted is None or event.code in wanted:
                    return event
                skipped.append(event)
        finally:
            if skipped:
                room = EVENT_QUEUE_LIMIT - len(self._queue)
                keep = list(skipped)[-room:] if room > 0 else []
                self._queue.extendleft(reversed(keep))
