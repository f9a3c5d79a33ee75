"""Keep an idle session alive: run a cheap transaction when the camera has been idle a while.

Some cameras end a PTP/IP session that carries no operations, whatever the PTP/IP probes on the
event connection say (Canon PowerShots: see :class:`ptpkit.ext.vendors.CanonExtension`). An
extension that needs this starts an :class:`IdleKeepAlive` in ``after_open`` and stops it in
``before_close``::

    keepalive = IdleKeepAlive(camera, interval_s=20.0, action=lambda cam: cam.transaction(0x1004))
    keepalive.start()
    ...
    keepalive.stop()

A thread wakes every ``interval_s / 4`` and looks at the camera's transaction counter and phase:
a transaction run since the last look, or one under way, is activity. When there has been none for
``interval_s``, it runs ``action``. Transactions are serialised by the camera's engine, so the
keep-alive never runs during another transaction: at worst it waits for one that started between
its look and its call. It stops at :meth:`IdleKeepAlive.stop` (joining the thread, which waits for
a keep-alive transaction under way), and by itself when ``action`` fails (the camera is closed or
gone: the failure is logged at DEBUG, and the next user call reports it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ptpkit.core.state import Phase
from ptpkit.errors import PTPError
from ptpkit.ext.base import CameraView

log = logging.getLogger("ptpkit.ext")

KeepAliveAction = Callable[[CameraView], object]


class IdleKeepAlive:
    """Runs ``action(camera)`` whenever the camera has been idle for ``interval_s`` seconds."""

    def __init__(
        self,
        camera: CameraView,
        *,
        interval_s: float,
        action: KeepAliveAction,
        name: str = "keep-alive",
    ) -> None:
        if interval_s <= 0:
            raise ValueError("a keep-alive interval must be positive")
        self.camera = camera
        self.interval_s = interval_s
        self.action = action
        self.name = name
        #: Keep-alive transactions run so far.
        self.runs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> IdleKeepAlive:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name=f"{self.name} {self.camera.url}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop, waiting for a keep-alive transaction under way to end."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _busy(self) -> bool:
        try:
            return self.camera.transport.connection.phase is not Phase.IDLE
        except AttributeError:  # the transport has no connection yet / any more
            return False

    def _loop(self) -> None:
        poll_s = self.interval_s / 4
        seen = self.camera.transactions_run
        idle_since = time.monotonic()
        while not self._stop.wait(poll_s):
            now = time.monotonic()
            count = self.camera.transactions_run
            if count != seen or self._busy():
                seen, idle_since = count, now
                continue
            if now - idle_since < self.interval_s:
                continue
            try:
                self.action(self.camera)
            except PTPError as exc:
                log.debug("%s for %s stopped: %s", self.name, self.camera.url, exc)
                return
            self.runs += 1
            seen, idle_since = self.camera.transactions_run, time.monotonic()
