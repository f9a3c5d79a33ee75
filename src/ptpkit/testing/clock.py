"""A clock for tests: time moves only when the code under test sleeps or waits, or the test says.

``FakeClock.sleep(s)`` and a ``wait`` that times out advance the time at once instead of
sleeping, so a poller's back-off or a keep-alive's idle interval is tested in microseconds.
"""

from __future__ import annotations

import threading

from ptpkit._sync import Latch


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        #: Every sleep and timed-out wait, in seconds, in order (what the code asked for).
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))

    def wait(self, flag: Latch, timeout_s: float | None) -> bool:
        if flag.is_set():
            return True
        if timeout_s is None:
            # Nothing else moves a fake clock: waiting forever would hang the test.
            return flag.wait(None)
        self.sleep(timeout_s)
        return flag.is_set()
