"""Ctrl-C safe waiting (ptpkit._sync): a signal handler may raise or notify at any instant of a
wait, and nothing but its own exception comes out, no lock is left held, nothing grows.

CI once saw ``wait-event`` end Ctrl-C with "cannot release un-acquired lock" from
threading.Condition.wait (a KeyboardInterrupt landing just after the condition released its
lock). A real SIGINT lands at a point the interpreter picks, so instead of hoping to hit the
window these tests raise KeyboardInterrupt at every bytecode of the wait, one run per bytecode,
and check the harness finds that very bug in threading.Condition."""

from __future__ import annotations

import itertools
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

import ptpkit
import ptpkit._sync
import ptpkit.client.camera
from ptpkit._sync import Latch, Wakeup
from ptpkit.core.events import Event


def _interrupt_at_every_bytecode(wait: Callable[[], object], files: set[str]) -> int:
    """Run ``wait()`` once per bytecode it executes in ``files``, raising KeyboardInterrupt at
    that bytecode; any other exception propagates. Returns the number of bytecodes covered."""
    for target in itertools.count():
        executed = 0
        fired = False

        def local(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal executed, fired
            if event == "opcode" and not fired:
                if executed == target:  # noqa: B023 (read in the same iteration)
                    fired = True
                    raise KeyboardInterrupt
                executed += 1
            return local

        def enter(frame: FrameType, event: str, arg: Any) -> Any:
            if frame.f_code.co_filename in files:
                frame.f_trace_opcodes = True
                return local
            return None

        sys.settrace(enter)
        try:
            wait()
        except KeyboardInterrupt:
            pass
        finally:
            sys.settrace(None)
        if not fired:
            return target
    raise AssertionError("unreachable")


SYNC_FILE = ptpkit._sync.__file__
CAMERA_FILE = ptpkit.client.camera.__file__


def test_the_harness_finds_the_condition_bug() -> None:
    """The check is able to see the bug CI hit: threading.Condition breaks under it."""
    condition = threading.Condition()

    def wait() -> None:
        with condition:
            condition.wait(0.0001)

    with pytest.raises(RuntimeError, match="un-acquired lock"):
        _interrupt_at_every_bytecode(wait, {threading.__file__})


def test_wakeup_interrupted_at_every_bytecode() -> None:
    wakeup = Wakeup()

    def wait() -> None:
        with wakeup.watch() as sleep:
            sleep(0.0001)

    assert _interrupt_at_every_bytecode(wait, {SYNC_FILE}) > 20
    # A waiter interrupted in its last bytecodes may stay registered; notifying it never makes
    # its queue grow, and a new waiter is woken as ever.
    for _ in range(1000):
        wakeup.notify_all()
    assert all(waiter.qsize() <= 1 for waiter in wakeup._waiters)
    woken: list[bool] = []
    ready = threading.Event()

    def later() -> None:
        with wakeup.watch() as sleep:
            ready.set()
            woken.append(sleep(5.0))

    thread = threading.Thread(target=later)
    thread.start()
    assert ready.wait(5.0)
    wakeup.notify_all()
    thread.join(5.0)
    assert woken == [True]


def test_latch_wait_interrupted_at_every_bytecode() -> None:
    latch = Latch()
    assert _interrupt_at_every_bytecode(lambda: latch.wait(0.0001), {SYNC_FILE}) > 20
    latch.set()
    assert latch.wait(1.0) is True


def test_camera_next_event_interrupted_at_every_bytecode() -> None:
    with ptpkit.connect("virtual:") as cam:
        covered = _interrupt_at_every_bytecode(
            lambda: cam.next_event(0.0001), {SYNC_FILE, CAMERA_FILE}
        )
        assert covered > 20
        # The camera is still usable and its queue works after all that.
        cam._deliver_event(Event(code=0x4002, params=(1,)))
        got = cam.next_event(1.0)
        assert got is not None
        assert got.code == 0x4002
        assert cam.storage_ids()


def test_latch_set_from_a_signal_handler_while_waiting() -> None:
    """The capture loop's stop flag is set by the SIGINT handler while the main thread waits
    on it: no deadlock, the wait ends at once."""
    latch = Latch()
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: latch.set())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        started = time.monotonic()
        assert latch.wait(10.0) is True
        assert time.monotonic() - started < 5.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_latch_times_out_and_stays_set() -> None:
    latch = Latch()
    assert latch.wait(0.01) is False
    assert not latch.is_set()
    latch.set()
    latch.set()
    assert latch.is_set()
    assert latch.wait(0) is True
    assert latch.wait() is True


def test_wait_event_puts_skipped_events_back_in_order() -> None:
    with ptpkit.connect("virtual:") as cam:
        for code in (0x4004, 0x4005, 0x4002):
            cam._deliver_event(Event(code=code, params=(1,)))
        assert cam.wait_event([0x4002], timeout_s=1.0).code == 0x4002
        assert [cam.next_event(0.1), cam.next_event(0.1)] == [
            ptpkit.CameraEvent(code=0x4004, name="StoreAdded", params=(1,)),
            ptpkit.CameraEvent(code=0x4005, name="StoreRemoved", params=(1,)),
        ]
