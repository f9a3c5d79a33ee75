"""Keep an idle session alive: run a cheap transaction when the camera has been idle a while.

Some cameras end a PTP/IP session that carries no operations, whatever the PTP/IP probes on the
event connection say (Canon PowerShots: see :class:`ptpkit.ext.vendors.CanonExtension`). An
extension that needs this starts an :class:`IdleKeepAlive` in ``open_session`` and stops it in
``close_session``::

    keepalive = IdleKeepAlive(session, interval_s=20.0, action=lambda s: s.run(0x1004))
    keepalive.start()
    ...
    keepalive.stop()

A thread wakes every ``interval_s / 4`` (on the session's clock) and looks at the session's
transaction counter and whether a transaction is under way:
a transaction run since the last look, or one under way, is activity. When there has been none for
``interval_s``, it runs ``action``. Transactions are serialised by the camera's engine, so the
keep-alive never runs during another transaction: at worst it waits for one that started between
its look and its call. It stops at :meth:`IdleKeepAlive.stop` (joining the thread, which waits for
a keep-alive transaction under way), and by itself when ``action`` fails (the camera is closed or
gone: the failure is logged at DEBUG, and the next user call reports it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ptpkit._log import get_logger
from ptpkit._sync import Latch
from ptpkit.errors import PTPError
from ptpkit.ext.base import Session

log = get_logger("ptpkit.ext")

KeepAliveAction = Callable[[Session], object]


class IdleKeepAlive:
    """Runs ``action(session)`` whenever the session has been idle for ``interval_s`` seconds."""

    def __init__(
        self,
        session: Session,
        *,
        interval_s: float,
        action: KeepAliveAction,
        name: str = "keep-alive",
    ) -> None:
        if interval_s <= 0:
            raise ValueError("a keep-alive interval must be positive")
        self.session = session
        self.interval_s = interval_s
        self.action = action
        self.name = name
        #: Keep-alive transactions run so far.
        self.runs = 0
        self._stop = Latch()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> IdleKeepAlive:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"{self.name} {self.session.label}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop, waiting for a keep-alive transaction under way to end."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _loop(self) -> None:
        clock = self.session.clock
        poll_s = self.interval_s / 4
        seen = self.session.transactions_run
        idle_since = clock.monotonic()
        while not clock.wait(self._stop, poll_s):
            now = clock.monotonic()
            count = self.session.transactions_run
            if count != seen or not self.session.idle:
                seen, idle_since = count, now
                continue
            if now - idle_since < self.interval_s:
                continue
            try:
                self.action(self.session)
            except PTPError as exc:
                log.debug("%s for %s stopped: %s", self.name, self.session.label, exc)
                return
            self.runs += 1
            seen, idle_since = self.session.transactions_run, clock.monotonic()
