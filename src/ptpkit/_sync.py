"""Waiting that Ctrl-C can interrupt at any instant without breaking a lock.

``threading.Condition.wait`` (and ``threading.Event.wait``, built on it) releases its lock, sleeps,
then takes the lock back. A signal handler that raises (Python's SIGINT handler raises
KeyboardInterrupt) can do so just after the release, before ``wait`` has noted it; the caller's
``with condition:`` then releases a lock it no longer holds and Ctrl-C ends in
``RuntimeError: cannot release un-acquired lock`` with a traceback instead of a clean exit (seen
in CI: ``wait-event`` interrupted while waiting).

Here a waiter sleeps on a queue of its own (``queue.SimpleQueue``, written in C: an interrupted
``get`` leaves nothing half done), and no lock is taken at all, so an exception a signal handler
raises anywhere leaves no lock behind.
A signal handler may itself notify (``Latch.set`` from a SIGINT handler): there is no lock to
find held, and ``SimpleQueue.put`` is documented as safe in signal handlers.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Latch", "Wakeup"]


class Wakeup:
    """Wake every current waiter; a waiter registers before checking its condition, so a
    notification between the check and the sleep is not lost.

    No lock: adding to, removing from and copying a set are each one C call (atomic under the
    GIL; free-threaded builds lock each set), so there is no lock a signal handler could find
    held by the code it interrupted, nor one an exception could leave held."""

    def __init__(self) -> None:
        self._waiters: set[queue.SimpleQueue[None]] = set()

    @contextmanager
    def watch(self) -> Iterator[Callable[[float | None], bool]]:
        """Register a waiter; yields ``sleep(timeout_s)``, which returns True when notified
        (since registration or the previous sleep) and False on timeout."""
        own: queue.SimpleQueue[None] = queue.SimpleQueue()
        try:
            self._waiters.add(own)
            yield lambda timeout_s: _sleep(own, timeout_s)
        finally:
            self._waiters.discard(own)

    def notify_all(self) -> None:
        for waiter in tuple(self._waiters):
            # One pending wake-up is as good as many: a queue never grows past one or two
            # (the check and the put race harmlessly), even one an interrupted waiter left.
            if waiter.empty():
                waiter.put(None)


def _sleep(own: queue.SimpleQueue[None], timeout_s: float | None) -> bool:
    try:
        own.get(timeout=None if timeout_s is None else max(0.0, timeout_s))
    except queue.Empty:
        return False
    # Several notifications may have piled up: one wake-up stands for all of them.
    while True:
        try:
            own.get_nowait()
        except queue.Empty:
            return True


class Latch:
    """A flag set once (like ``threading.Event`` without clear()), safe to wait on from the
    main thread under Ctrl-C."""

    def __init__(self) -> None:
        self._set = False
        self._wakeup = Wakeup()

    def set(self) -> None:
        self._set = True
        self._wakeup.notify_all()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout_s: float | None = None) -> bool:
        """True once set; False if ``timeout_s`` passed first (None: wait forever)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._wakeup.watch() as sleep:
            while not self._set:
                if deadline is None:
                    sleep(None)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                sleep(remaining)
        return True
