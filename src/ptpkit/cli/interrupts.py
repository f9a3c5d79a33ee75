"""Stopping long-running commands (tether, serve-commands, virtual serve) cleanly.

A command sets a signal handler only for as long as it runs, and puts the previous one back on
every path: main() may run in a process that goes on (an application, the test suite), and a
handler left behind there (worse, a signal left ignored) is inherited by whatever that process
does next, down to the processes it starts (an ignored SIGINT survives exec).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

Handler = Callable[[int, "FrameType | None"], object]


@contextlib.contextmanager
def handling(handler: Handler, *signums: signal.Signals) -> Iterator[None]:
    """``handler`` for ``signums`` while the block runs, the previous handlers after it.

    Signal handlers can only be set from the main thread; elsewhere (a shell inside a command
    server) nothing is set and the block just runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[signal.Signals, object] = {}
    try:
        for signum in signums:
            previous[signum] = signal.signal(signum, handler)
        yield
    finally:
        for signum, old in previous.items():
            # None: a handler set outside Python, which cannot be put back; the default is the
            # nearest (an ignored signal is SIG_IGN, never None, so it is put back as it was).
            signal.signal(signum, signal.SIG_DFL if old is None else old)  # type: ignore[arg-type]


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (a service manager, ``timeout``, ``kill``) stops the command as Ctrl-C does, so it
    ends the same clean way: camera session closed, temporary files removed."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    with handling(interrupt, signal.SIGTERM):
        yield


@contextlib.contextmanager
def on_sigterm(action: Callable[[], object]) -> Iterator[None]:
    """SIGTERM calls ``action`` (a server's close(), which ends its serve_forever) while the
    block runs."""
    with handling(lambda signum, frame: action(), signal.SIGTERM):
        yield
