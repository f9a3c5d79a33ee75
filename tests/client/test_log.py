"""ptpkit._log: the library's loggers give the same records as logging's own, and load logging
only once a record could go somewhere (start-up time, issue 11 section 5)."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from ptpkit import _log
from ptpkit.client import engine


def test_records_are_logging_s_own_with_the_caller_s_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = _log.get_logger("ptpkit.test-log")
    with caplog.at_level(_log.TRACE, logger="ptpkit.test-log"):
        log.debug("debug %d", 1)
        log.info("info %s", "two")
        log.warning("warning")
        log.log(_log.TRACE, "trace %r", b"\x00")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed %s", "here")
    records = [r for r in caplog.records if r.name == "ptpkit.test-log"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("DEBUG", "debug 1"),
        ("INFO", "info two"),
        ("WARNING", "warning"),
        ("TRACE", "trace b'\\x00'"),
        ("ERROR", "failed here"),
    ]
    assert {r.funcName for r in records} == {
        "test_records_are_logging_s_own_with_the_caller_s_line"
    }
    assert records[-1].exc_info is not None
    assert records[-1].exc_info[0] is ValueError


def test_levels_follow_the_logger_s_configuration(caplog: pytest.LogCaptureFixture) -> None:
    log = _log.get_logger("ptpkit.test-levels")
    logging.getLogger("ptpkit.test-levels").setLevel(logging.WARNING)
    try:
        with caplog.at_level(logging.WARNING, logger="ptpkit.test-levels"):
            assert not log.isEnabledFor(_log.DEBUG)
            assert log.isEnabledFor(_log.WARNING)
            log.debug("not shown")
            log.info("not shown")
            log.warning("shown")
        assert [r.getMessage() for r in caplog.records if r.name == "ptpkit.test-levels"] == [
            "shown"
        ]
    finally:
        logging.getLogger("ptpkit.test-levels").setLevel(logging.NOTSET)
    assert engine.TRACE == _log.TRACE == 5
    assert logging.getLevelName(_log.TRACE) == "TRACE"


#: In a fresh interpreter: DEBUG/INFO without loading logging; a warning loads it and reaches
#: logging's last-resort handler (stderr), as a Logger's warning does with logging unconfigured.
_FRESH = """
import sys
from ptpkit import _log
log = _log.get_logger("ptpkit.fresh")
log.debug("dropped %d", 1)
log.info("dropped")
log.log(_log.TRACE, "dropped")
assert not log.isEnabledFor(_log.DEBUG)
print("logging" in sys.modules)
log.warning("the warning %s", "shown")
print("logging" in sys.modules)
import logging
print(logging.getLevelName(5))
"""


def test_nothing_loads_logging_until_a_record_could_be_shown() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FRESH], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True", "TRACE"]
    assert done.stderr == "the warning shown\n"
