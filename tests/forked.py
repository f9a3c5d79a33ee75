"""Run a measurement in a forked child, where the calling thread is the only one.

``tracemalloc`` counts the allocations of every thread of the process. A pytest-xdist worker that
ran other tests first may still have threads of theirs at work (a server's, a poller's, a
transport's event reader until its daemon thread notices its socket closed), and what they
allocate while a test measures lands in that test's peak (CI: a listing's peak went past its
bound once, as a download plan's had). A forked child has the forking thread alone: the threads
it has are the ones the measurement starts itself.

The measured function must make everything it talks to in the child (a VirtualCamera and an
in-process connection are fine; a server thread of the parent is not there).
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def in_a_forked_child(measure: Callable[[], T]) -> T:
    """``measure()`` run in a forked child; its result (pickled back), or AssertionError with
    the child's traceback when it raised."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 1
        try:
            os.close(read_end)
            try:
                payload = pickle.dumps((True, measure()))
            except BaseException:  # anything the child hits goes to the parent
                payload = pickle.dumps((False, traceback.format_exc()))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    reaped = False
    try:
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        if not reaped:  # the parent was interrupted (pytest-timeout, Ctrl-C): no orphan left
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the measuring child failed"
    assert payload, "the measuring child sent nothing"
    ok, result = pickle.loads(payload)  # our own child's bytes
    if not ok:
        raise AssertionError(f"in the forked child:\n{result}")
    return result  # type: ignore[no-any-return]
