"""The camera's events: one queue fed by the transport (pushed events) and by an extension's
poller (Canon EOS GetEvent...), read with :meth:`EventStream.next_event` and friends, and seen
first by internal listeners (a capture waiting for its answer).

Ctrl-C safe waiting (:mod:`ptpkit._sync`): no lock around the queue (a deque's append, popleft
and extendleft are each atomic), waits on a Wakeup.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from ptpkit._log import get_logger
from ptpkit._sync import Latch, Wakeup
from ptpkit.core.events import Event
from ptpkit.errors import ClosedError, PTPError, ResponseError, TransportTimeout
from ptpkit.ext.base import EventPoller
from ptpkit.timing import Clock

log = get_logger("ptpkit")

#: Objects kept in the event queue before the oldest are dropped (an event flood must not eat RAM).
EVENT_QUEUE_LIMIT: Final = 100_000
#: Seconds before polling again after a poll the camera refused (busy): not the end of events.
_REFUSED_POLL_RETRY_S: Final = 1.0


@dataclass(frozen=True, kw_only=True)
class CameraEvent:
    code: int
    name: str
    params: tuple[int, ...] = ()
    transaction_id: int = 0xFFFFFFFF
    #: time.monotonic() when it arrived.
    received: float = field(default_factory=time.monotonic, compare=False)
    #: The vendor's decoded record behind the event, when an extension polled it (a Canon EOS
    #: property value, the new object's ObjectInfo...); None for a plain PTP event.
    details: object = field(default=None, compare=False)

    def __str__(self) -> str:
        params = ", ".join(f"0x{p:08X}" for p in self.params)
        return f"0x{self.code:04X} {self.name}({params})"


#: An internal listener: sees each event first; True means it consumed it (not queued).
Listener = Callable[[CameraEvent], bool]


class EventStream:
    """The event service of one camera. ``event_name`` names a code in the camera's current
    vocabulary; ``clock`` times the poller and stamps events."""

    def __init__(self, *, clock: Clock, event_name: Callable[[int], str]) -> None:
        self._clock = clock
        self._event_name = event_name
        self._queue: collections.deque[CameraEvent] = collections.deque(maxlen=EVENT_QUEUE_LIMIT)
        self._wakeup = Wakeup()
        self._error: PTPError | None = None
        self._listeners: list[Listener] = []
        #: Latches of the listeners waiting now: set when no more events can come.
        self._wakers: set[Latch] = set()
        self._closed = False
        self._poller_stop = Latch()
        #: Set to cut the poller's current wait short (a new one for each wait).
        self._attention = Latch()
        #: Threads blocked for an event now: while there are any, the poller keeps its fastest
        #: pace instead of backing off (someone is watching: latency matters, not traffic).
        self._waiting = 0
        self.poller_thread: threading.Thread | None = None

    # -- arriving --------------------------------------------------------------------------------

    def deliver(self, event: Event, details: object = None) -> None:
        """An event from the transport, or emitted by an extension (with its ``details``)."""
        camera_event = CameraEvent(
            code=event.code,
            name=self._event_name(event.code),
            params=event.params,
            transaction_id=event.transaction_id,
            received=self._clock.monotonic(),
            details=details,
        )
        log.debug("event %s", camera_event)
        consumed = False
        for listener in list(self._listeners):
            consumed = listener(camera_event) or consumed
        if not consumed:
            self._queue.append(camera_event)
        # Also for a consumed one: capture() waits for its answer.
        self._wakeup.notify_all()

    def fail(self, error: PTPError) -> None:
        """The event link failed: waiters raise ``error`` from now on."""
        self._error = error
        self.wake()

    def stop(self) -> None:
        """The camera closes: no more events; the poller stops (waited for, briefly)."""
        self._closed = True
        self._poller_stop.set()
        self._attention.set()
        thread, self.poller_thread = self.poller_thread, None
        if thread is not None and thread is not threading.current_thread():
            # A poll under way ends with the session (ClosedError) at the latest.
            thread.join(5.0)

    def wake(self) -> None:
        """No more events can come (or the camera closes): every waiter looks again."""
        self._wakeup.notify_all()
        for wake in list(self._wakers):
            wake.set()

    @contextlib.contextmanager
    def listening(self, listener: Listener, wake: Latch) -> Iterator[None]:
        """Let ``listener`` see each event first while the block runs; ``wake`` is set when no
        more events can come (the listener sets it too, when it has what it waits for)."""
        self._listeners.append(listener)
        self._wakers.add(wake)
        try:
            with self._watching():
                yield
        finally:
            self._wakers.discard(wake)
            self._listeners.remove(listener)

    @contextlib.contextmanager
    def _watching(self) -> Iterator[None]:
        """Someone waits for an event: the poller polls at its attentive pace, starting now."""
        # `+=` on an attribute is not atomic across threads; the count only steers the pace
        # (a miscount by one costs a poll's pace, never an event), so no lock that Ctrl-C could
        # leave held (see ptpkit._sync).
        self._waiting += 1
        self._attention.set()
        try:
            yield
        finally:
            self._waiting = max(0, self._waiting - 1)

    # -- polling ---------------------------------------------------------------------------------

    def start_poller(self, poller: EventPoller, *, name: str) -> None:
        """Run ``poller`` on a thread of its own until :meth:`stop`, waiting between polls the
        intervals it returns, on the camera's clock; while a thread waits for an event, at most
        the poller's ``attentive_interval_s`` (when it has one)."""
        self.poller_thread = threading.Thread(
            target=self._poll, args=(poller,), name=name, daemon=True
        )
        self.poller_thread.start()

    def _poll(self, poller: EventPoller) -> None:
        attentive_s: float | None = getattr(poller, "attentive_interval_s", None)
        while not self._poller_stop.is_set():
            try:
                interval_s = poller.poll()
            except ResponseError as exc:  # busy, or refused now: not the end of the events
                log.debug("event poll answered %s; polling on", exc)
                interval_s = _REFUSED_POLL_RETRY_S
            except PTPError as exc:
                if not self._closed:
                    self.fail(exc)
                return
            polled_at = self._clock.monotonic()
            while True:
                # The latch first, then the checks: a waiter arriving after them sets this
                # latch, one arriving before them is counted (see _watching).
                attention = self._attention = Latch()
                if self._poller_stop.is_set():
                    return
                wait_s = interval_s
                if self._waiting and attentive_s is not None:
                    wait_s = min(interval_s, attentive_s)
                remaining = polled_at + wait_s - self._clock.monotonic()
                if remaining <= 0:
                    break
                self._clock.wait(attention, remaining)

    # -- reading ---------------------------------------------------------------------------------

    def raise_if_ended(self) -> None:
        """Raise why no more events can come (the event link failed, or the camera closed)."""
        if self._error is not None:
            # The same error object each time: its traceback is reset, or it grows per raise.
            raise self._error.with_traceback(None)
        if self._closed:
            raise ClosedError("the camera is closed")

    def next_event(self, timeout_s: float | None = None) -> CameraEvent | None:
        """The next event, waiting up to ``timeout_s`` (None: forever). None on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with contextlib.suppress(IndexError):
            return self._queue.popleft()
        # Registered before looking again, so an event arriving in between still wakes us.
        with self._wakeup.watch() as sleep, self._watching():
            while True:
                with contextlib.suppress(IndexError):
                    return self._queue.popleft()
                self.raise_if_ended()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                sleep(remaining)

    def events(self, timeout_s: float | None = None) -> Iterator[CameraEvent]:
        """Events as they come; the iterator ends when none arrives within ``timeout_s``."""
        while True:
            event = self.next_event(timeout_s)
            if event is None:
                return
            yield event

    def wait_event(
        self, codes: Iterable[int] | None = None, *, timeout_s: float = 10.0
    ) -> CameraEvent:
        """The next event with one of ``codes`` (any event if None); other events are kept for
        later. Raises TransportTimeout."""
        wanted = set(codes) if codes is not None else None
        deadline = time.monotonic() + timeout_s
        # Bounded like the queue: in a flood the oldest skipped ones go, as there.
        skipped: collections.deque[CameraEvent] = collections.deque(maxlen=EVENT_QUEUE_LIMIT)
        try:
            while True:
                event = self.next_event(max(0.0, deadline - time.monotonic()))
                if event is None:
                    raise TransportTimeout(f"no event within {timeout_s:g} s")
                if wanted is None or event.code in wanted:
                    return event
                skipped.append(event)
        finally:
            if skipped:
                # Skipped ones go back in front, in order. If that overflows, the oldest go
                # (the queue's rule), never the newest: only the newest skipped that fit.
                room = EVENT_QUEUE_LIMIT - len(self._queue)
                keep = list(skipped)[-room:] if room > 0 else []
                self._queue.extendleft(reversed(keep))
