"""Signal handlers: the command line sets them only while a command runs and puts the previous
ones back on every path (cli/interrupts.py), and the suite never starts a process with SIGINT
ignored (tests/conftest.py: interruptible_children), the cause of servers that went on after
the SIGINT a test sent them (each such test then hung to its 15 s timeout)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest
from tests.conftest import interruptible_children

from ptpkit.cli.interrupts import handling, on_sigterm, stop_on_sigterm

#: A child that says how it would take a SIGINT: "ignored", or its handler's name.
_REPORT_SIGINT = (
    "import signal; h = signal.getsignal(signal.SIGINT); "
    "print('ignored' if h == signal.SIG_IGN else getattr(h, '__name__', h))"
)


def _child_sigint() -> str:
    done = subprocess.run(
        [sys.executable, "-c", _REPORT_SIGINT],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def test_children_of_the_suite_take_sigint_as_keyboard_interrupt() -> None:
    assert _child_sigint() == "default_int_handler"


def test_a_run_started_with_sigint_ignored_still_starts_interruptible_children() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `pytest &` in a script starts
    try:
        # The mechanism: an ignored SIGINT survives exec, and Python keeps it ignored.
        assert _child_sigint() == "ignored"
        interruptible_children()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert _child_sigint() == "default_int_handler"
    finally:
        signal.signal(signal.SIGINT, previous)


def test_handling_puts_the_previous_handlers_back_after_an_error() -> None:
    seen: list[int] = []
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def fail_while_handling() -> None:
        with handling(lambda signum, frame: seen.append(signum), signal.SIGINT, signal.SIGTERM):
            signal.raise_signal(signal.SIGTERM)
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        fail_while_handling()
    assert seen == [signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before


def test_handling_puts_an_ignored_signal_back_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with handling(lambda signum, frame: None, signal.SIGINT):
            assert signal.getsignal(signal.SIGINT) != signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_stop_on_sigterm_interrupts_and_is_undone() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stop_on_sigterm():
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before


def test_on_sigterm_calls_its_action_and_is_undone() -> None:
    closed: list[bool] = []
    before = signal.getsignal(signal.SIGTERM)
    with on_sigterm(lambda: closed.append(True)):
        signal.raise_signal(signal.SIGTERM)
    assert closed == [True]
    assert signal.getsignal(signal.SIGTERM) == before


def test_handling_outside_the_main_thread_sets_nothing() -> None:
    before = signal.getsignal(signal.SIGTERM)
    during: list[object] = []

    def body() -> None:
        with handling(lambda signum, frame: None, signal.SIGTERM):
            during.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(timeout=30)
    assert during == [before]
