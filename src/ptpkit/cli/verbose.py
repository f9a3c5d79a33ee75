"""``ptpkit -v``: the library's log lines on stderr. Apart from cli.main so that logging loads
only when it is used (start-up time of ``ptpkit --help``)."""

from __future__ import annotations

import logging
import sys

_handler: logging.Handler | None = None


class _VerboseFormatter(logging.Formatter):
    """-v shows each transaction by name only; -vv the library's full lines with parameters."""

    def __init__(self, verbose: int) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if (
            self.verbose == 1
            and record.name == "ptpkit.transaction"
            and isinstance(record.msg, str)
            and record.msg.startswith(("-> ", "<- "))
            and isinstance(record.args, tuple)
            and record.args
        ):
            # The engine logs "-> %s(%s) tid=%d..." and "<- %s (0x%04X)... tid=%d": the first
            # argument is the operation's or the response's name.
            return f"{record.msg[:3]}{record.args[0]}"
        return f"{record.name}: {record.getMessage()}"


def configure_logging(verbose: int) -> None:
    """Log the library's ``ptpkit`` loggers to stderr (the library never configures logging)."""
    global _handler
    logger = logging.getLogger("ptpkit")
    if _handler is not None:  # main() run again in one process (tests)
        logger.removeHandler(_handler)
        _handler = None
    if not verbose:
        return
    from ptpkit import TRACE  # noqa: PLC0415  (loads the client only when asked)

    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(_VerboseFormatter(verbose))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO if verbose == 1 else logging.DEBUG if verbose == 2 else TRACE)
    logging.getLogger("ptpkit.transaction").setLevel(logging.DEBUG if verbose < 3 else TRACE)
