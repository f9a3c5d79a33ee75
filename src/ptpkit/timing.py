"""Time as an argument: the clock that pollers, keep-alives, busy back-off and capture waits use.

Behaviour that depends on time takes a :class:`Clock` (aioquic passes ``now`` into its
connection for the same reason), so tests drive it with :class:`ptpkit.testing.FakeClock` instead
of sleeping. The core stays clock-free: it is handed ``now`` values.
"""

from __future__ import annotations

import time
from typing import Protocol

from ptpkit._sync import Latch

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, flag: Latch, timeout_s: float | None) -> bool:
        """Wait until ``flag`` is set (True) or ``timeout_s`` passed (False)."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and real waits."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, flag: Latch, timeout_s: float | None) -> bool:
        return flag.wait(timeout_s)


SYSTEM_CLOCK = SystemClock()
