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


# -- layering (DESIGN.md "Layers"; the contracts are in pyproject.toml) --------------------------

#: A responder that is not the virtual camera: the in-process transport must take any.
INPROCESS_CHILD = """
import json, sys
from ptpkit.transports.inprocess import InProcessTransport

class Session:
    on_event = None
    def receive_data(self, data, *, transfer_ended=False): pass
    def read_output(self, target): return 0, True
    def cancel(self, transaction_id, *, respond): pass
    def take_events(self): return []
    def close(self): pass

class Device:
    def new_session(self, framing): return Session()

link = InProcessTransport(Device(), url="test:")
link.open()
link.start_events(lambda event: None, lambda error: None)
link.write([b"\\x0c\\x00\\x00\\x00\\x01\\x00\\x02\\x10\\x01\\x00\\x00\\x00"])
link.close()
print(json.dumps(sorted(
    m for m in sys.modules
    if m in ("PIL", "ptpkit.virtual") or m.startswith(("PIL.", "ptpkit.virtual."))
)))
"""


def test_the_in_process_transport_loads_neither_the_virtual_camera_nor_pillow() -> None:
    # Issue 12: it takes a ResponderFactory; only connect("virtual:") makes the virtual camera.
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-c", INPROCESS_CHILD],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout) == []


def test_the_public_names_the_command_line_uses_resolve() -> None:
    # The command line takes these from ``ptpkit`` rather than from the core or the engine.
    import ptpkit
    from ptpkit.client.engine import TRACE
    from ptpkit.core.datasets import AccessCapability, FilesystemType, StorageType
    from ptpkit.core.datatypes import Value
    from ptpkit.core.ptpip import DEFAULT_PORT

    assert ptpkit.PTPIP_PORT == DEFAULT_PORT == 15740
    assert ptpkit.TRACE == TRACE
    assert (ptpkit.AccessCapability, ptpkit.FilesystemType, ptpkit.StorageType) == (
        AccessCapability,
        FilesystemType,
        StorageType,
    )
    assert ptpkit.Value == Value
    assert set(ptpkit.__all__) <= {*dir(ptpkit), *ptpkit._EXPORTS}
    for name in ptpkit.__all__:
        assert getattr(ptpkit, name) is not None


#: ``lint-imports`` run by this interpreter (its script may not be on PATH).
LINT_IMPORTS = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def test_the_layering_contracts_hold() -> None:
    # The same check as `make lint` (import-linter reads imports inside functions and under
    # TYPE_CHECKING too, so a circle hidden behind a lazy import still fails).
    try:
        import importlinter  # noqa: F401  (the dev extra has it)
    except ImportError:
        if os.environ.get("CI"):  # CI installs the dev extra: there it must run
            raise
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    config = SRC.parent / "pyproject.toml"
    result = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *sys.path])},
        cwd=SRC.parent,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
