"""Import hygiene: the sans-IO core pulls in no I/O, threads or clocks (DESIGN.md, "Layers").

CPython loads ``time`` during start-up (zipimport needs it), so the child process first drops
every watched module from ``sys.modules`` and then checks that importing the core did not load
any of them again (``datetime`` would, for one: it imports ``time``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ptpkit.core

FORBIDDEN = [
    "socket",
    "usb",
    "threading",
    "asyncio",
    "selectors",
    "select",
    "ssl",
    "logging",
    "time",
]
SRC = Path(ptpkit.core.__file__).resolve().parents[2]
CORE_MODULES = sorted(
    f"ptpkit.core.{path.stem}"
    for path in Path(ptpkit.core.__file__).parent.glob("*.py")
    if path.stem != "__init__"
)

CHILD = """
import json, sys
forbidden, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name in forbidden:
    sys.modules.pop(name, None)
import importlib
for name in modules:
    importlib.import_module(name)
print(json.dumps(sorted(set(forbidden) & set(sys.modules))))
"""


def imported_forbidden(modules: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-S", "-c", CHILD, json.dumps(FORBIDDEN), json.dumps(modules)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    found: list[str] = json.loads(result.stdout)
    return found


def test_core_modules_are_all_checked() -> None:
    assert {
        "ptpkit.core.buffer",
        "ptpkit.core.connection",
        "ptpkit.core.datasets",
        "ptpkit.core.datatypes",
        "ptpkit.core.events",
        "ptpkit.core.inbox",
        "ptpkit.core.ptpip",
        "ptpkit.core.state",
        "ptpkit.core.usb",
    } <= set(CORE_MODULES)


def test_core_imports_no_io_threads_or_clocks() -> None:
    assert imported_forbidden(["ptpkit.core", *CORE_MODULES]) == []


@pytest.mark.parametrize("module", ["ptpkit", "ptpkit.errors", "ptpkit.testing"])
def test_package_root_errors_and_testing_helpers_stay_light(module: str) -> None:
    # ``ptpkit`` exports the client lazily, so importing it (or its errors) costs nothing; the
    # public test helpers are sans-IO too.
    assert imported_forbidden([module]) == []


def test_the_check_would_notice() -> None:
    # The child process really does see a forbidden import (so an empty list above means
    # something).
    assert imported_forbidden(["datetime"]) == ["time"]
    assert {"logging", "threading"} <= set(imported_forbidden(["logging"]))
