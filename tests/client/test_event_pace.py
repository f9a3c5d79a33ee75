"""The poller's pace: its own back-off when nobody waits, its attentive interval while a program
waits for an event (issue 12 §4: event latency below the fastest poll interval)."""

from __future__ import annotations

import contextlib
import itertools
import threading

from ptpkit.client.events import EventStream
from ptpkit.errors import ClosedError
from ptpkit.testing import FakeClock
from ptpkit.timing import SYSTEM_CLOCK


class _Pacer:
    """Returns the idle interval; records when it polled; stops the stream after ``polls``."""

    attentive_interval_s = 0.05

    def __init__(self, stream: EventStream, clock: FakeClock, polls: int) -> None:
        self.stream, self.clock, self.left = stream, clock, polls
        self.at: list[float] = []

    def poll(self) -> float:
        self.at.append(self.clock.monotonic())
        self.left -= 1
        if self.left == 0:
            self.stream.stop()
        return 0.2


def _gaps(times: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


def _stream(clock: FakeClock) -> EventStream:
    return EventStream(clock=clock, event_name=lambda code: f"0x{code:04X}")


def test_nobody_waiting_the_poller_backs_off() -> None:
    clock = FakeClock()
    stream = _stream(clock)
    pacer = _Pacer(stream, clock, polls=4)
    stream._poll(pacer)
    assert _gaps(pacer.at) == [0.2, 0.2, 0.2]


def test_while_a_program_waits_the_poller_keeps_its_attentive_pace() -> None:
    clock = FakeClock()
    stream = _stream(clock)
    pacer = _Pacer(stream, clock, polls=4)
    with stream._watching():
        stream._poll(pacer)
    assert _gaps(pacer.at) == [0.05, 0.05, 0.05]


def test_a_poller_without_an_attentive_interval_keeps_its_own() -> None:
    clock = FakeClock()
    stream = _stream(clock)
    pacer = _Pacer(stream, clock, polls=3)
    pacer.attentive_interval_s = None  # type: ignore[assignment]
    with stream._watching():
        stream._poll(pacer)
    assert _gaps(pacer.at) == [0.2, 0.2]


def _wait_until_closed(stream: EventStream) -> None:
    """Wait for an event until the stream closes (no timeout of its own: a waiter that gave up
    before the poller got round to looking would leave it its idle wait, rightly)."""
    with contextlib.suppress(ClosedError):
        stream.next_event(None)


#: Bound on each real-time step of the test below: far below the poller's idle hour (so the
#: second poll proves the wait was cut short), far above a loaded CI machine's scheduling.
_STEP_S = 30.0


def test_a_waiter_arriving_cuts_the_idle_wait_short() -> None:
    """Real time: the poller sleeps its idle wait (an hour here); next_event() wakes it to poll
    again after the attentive interval, long before the idle wait would have ended."""
    stream = EventStream(clock=SYSTEM_CLOCK, event_name=lambda code: f"0x{code:04X}")
    polled = threading.Semaphore(0)
    times: list[float] = []

    class Slow:
        attentive_interval_s = 0.0

        def poll(self) -> float:
            times.append(SYSTEM_CLOCK.monotonic())
            if len(times) == 2:
                # Two polls are the test; polling on at the attentive pace of 0 s would be a
                # busy loop contending for the GIL with the threads the test waits for.
                stream.stop()
            polled.release()
            return 3600.0  # idle: an hour, unless someone waits

    stream.start_poller(Slow(), name="pace test")
    waiter = threading.Thread(target=_wait_until_closed, args=(stream,))
    try:
        assert polled.acquire(timeout=_STEP_S)
        waiter.start()
        # Without the waiter this would take an hour.
        assert polled.acquire(timeout=_STEP_S)
        assert len(times) == 2
    finally:
        stream.stop()
        stream.wake()  # as Camera.close() does: the waiter sees the stream closed at once
        if waiter.ident is not None:
            waiter.join(_STEP_S)
    assert not waiter.is_alive()
