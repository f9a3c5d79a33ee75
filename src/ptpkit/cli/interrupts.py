"""Stopping long-running commands (tether, serve-commands) cleanly."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM (a service manager, ``timeout``, ``kill``) stops the command as Ctrl-C does, so it
    ends the same clean way: camera session closed, temporary files removed."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (a shell inside a server)
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
