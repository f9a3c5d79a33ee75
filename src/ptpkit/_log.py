"""The library's loggers, without importing :mod:`logging` before a record could go anywhere.

ptpkit logs each transaction at DEBUG and never configures logging (DESIGN.md). A command that
logs nothing (``ptpkit get iso`` without ``-v``) paid for importing logging and what it loads
(traceback, string, ...) at start-up (issue 11 section 5). While :mod:`logging` is not imported,
nobody can have configured it: the root logger's level is WARNING, so a DEBUG or INFO record
would be dropped, and a WARNING or worse would reach logging's last-resort handler. So a
:class:`LazyLogger` drops DEBUG and INFO while logging is not loaded, and for everything else
(or once anything loaded logging: pytest, ``-v``, an application) it is the
``logging.getLogger(name)`` logger, the same records on the same logger names as before.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

__all__ = ["DEBUG", "TRACE", "WARNING", "LazyLogger", "get_logger", "hexdump"]

#: Below DEBUG: hex dumps of every read and write (``-vvv``); logging calls it "TRACE".
TRACE = 5
#: logging.WARNING: the root logger's level while logging is not configured.
WARNING = 30
DEBUG = 10
_INFO = 20


def _loaded() -> bool:
    """Whether logging is loaded (else nobody configured it); names TRACE when it is."""
    if "logging" not in sys.modules:
        return False
    import logging  # noqa: PLC0415

    if logging.getLevelName(TRACE) != "TRACE":
        logging.addLevelName(TRACE, "TRACE")
    return True


class LazyLogger:
    """The few :class:`logging.Logger` methods ptpkit calls, on the logger ``name``.

    Once logging is loaded, the real logger is kept: the engines ask ``isEnabledFor`` several
    times per transaction, and looking the logger up each time (``getLogger`` takes logging's
    lock) was a tenth of an event loop's time with many cameras. ``getLogger`` returns the same
    object for a name for the life of the process, so keeping it changes nothing; its level
    checks are logging's own (cached by logging, cleared when levels change)."""

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    def logger(self) -> logging.Logger:
        """The real logger (loads logging)."""
        logger = self._logger
        if logger is None:
            import logging  # noqa: PLC0415

            _loaded()
            logger = self._logger = logging.getLogger(self.name)
        return logger

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802  (logging's name)
        logger = self._logger
        if logger is None:
            if level < WARNING and not _loaded():
                return False
            logger = self.logger()
        return logger.isEnabledFor(level)

    def log(self, level: int, msg: str, *args: object) -> None:
        if self.isEnabledFor(level):
            # stacklevel: the record names the caller's line, as a Logger's own call does.
            self.logger().log(level, msg, *args, stacklevel=2)

    def debug(self, msg: str, *args: object) -> None:
        if self.isEnabledFor(DEBUG):
            self.logger().debug(msg, *args, stacklevel=2)

    def info(self, msg: str, *args: object) -> None:
        if self.isEnabledFor(_INFO):
            self.logger().info(msg, *args, stacklevel=2)

    def warning(self, msg: str, *args: object) -> None:
        self.logger().warning(msg, *args, stacklevel=2)

    def exception(self, msg: str, *args: object) -> None:
        """ERROR with the exception being handled, as :meth:`logging.Logger.exception`."""
        self.logger().error(msg, *args, exc_info=True, stacklevel=2)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)


def hexdump(data: bytes | bytearray | memoryview, limit: int = 256) -> str:
    """The TRACE (``-vvv``) dump of bytes on the wire: offset, 16 bytes in hex, their ASCII;
    past ``limit`` bytes, how many more there were. One format for every link (the engine's
    PTP containers, the PowerShot link's control and bulk transfers)."""
    view = bytes(data[:limit])
    lines = []
    for offset in range(0, len(view), 16):
        row = view[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"  {offset:04x}  {hexes:<47}  {text}")
    if len(data) > limit:
        lines.append(f"  ... {len(data) - limit} more bytes")
    return "\n".join(lines)
