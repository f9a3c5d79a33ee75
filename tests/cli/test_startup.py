"""Start-up: a command for a real camera loads only what it needs (issue 11, section 5): talking
to a ``ptpip:`` camera imports neither the virtual camera nor Pillow, and ``ptpkit --help``
imports neither the client nor rich. Checked in a fresh interpreter, as users run it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import click
import pytest
from tests.forked import in_a_forked_child

import ptpkit.client
from ptpkit import codes, core
from ptpkit.cli import main as cli_main
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.client import camera as client_camera
from ptpkit.client import connect
from ptpkit.ext import CanonExtension
from ptpkit.ext.vendors import VendorExtension
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.models import personality_for
from ptpkit.virtual.network import network_server
from ptpkit.virtual.server import PtpIpServer

from .conftest import Cli, Served

#: Runs ``ptpkit ARGS...`` and then prints the loaded modules' names on stderr as JSON (the
#: last line), whatever way the command exits.
_PROBE = """
import atexit, sys
def report():
    names = sorted(sys.modules)  # before json loads for this report
    import json
    print(json.dumps(names), file=sys.stderr)
atexit.register(report)
from ptpkit.cli.main import main
main(sys.argv[1:])
"""


def _modules_after(cli: Cli, *args: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env=cli.env,
        cwd=cli.cwd,
        timeout=60,
        check=False,
    )
    last = done.stderr.strip().splitlines()[-1]
    return done.returncode, set(json.loads(last))


def _loaded(modules: set[str], *prefixes: str) -> list[str]:
    return sorted(
        m for m in modules if m in prefixes or m.startswith(tuple(p + "." for p in prefixes))
    )


def test_a_ptpip_command_imports_neither_the_virtual_camera_nor_pillow(
    served: Served, cli: Cli
) -> None:
    code, modules = _modules_after(cli, *served.camera_args(), "get", "iso")
    assert code == 0
    assert "ptpkit.client.camera" in modules  # it did talk to the camera
    assert _loaded(modules, "ptpkit.virtual", "PIL") == []


#: What a ``get`` over PTP/IP has no use for, each loaded on use elsewhere (start-up time): the
#: USB framing and transport, the tables and extensions of vendors other than the camera's (the
#: virtual camera says it is no Canon, Nikon, Fuji or Sony), the terminal tables, the
#: partial-file mark's digest, value parsing's fractions, platformdirs (PTPKIT_CONFIG_DIR is
#: set), json (no --json). Not tempfile: the first run writes the extensions' entry point cache
#: with it (ptpkit.ext.installed).
_NOT_FOR_A_PTPIP_GET = (
    "ptpkit.virtual",
    "PIL",
    "rich",
    "ptpkit.core.usb",
    "ptpkit.transports.usb",
    "ptpkit.codes.canon",
    "ptpkit.codes.nikon",
    "ptpkit.codes.fuji",
    "ptpkit.codes.sony",
    # The vendor extensions the camera does not choose (ptpkit.ext.lazy.LazyExtension): their
    # codecs' dataclasses took ~15 ms of every command once the EOS and Fujifilm ones came.
    "ptpkit.ext.canon_eos",
    "ptpkit.core.canon_eos",
    "ptpkit.codes.canon_eos_values",
    "ptpkit.ext.fujifilm",
    "ptpkit.core.fuji_datasets",
    "ptpkit.codes.fuji_values",
    "ptpkit.ext.nikon",
    "ptpkit.core.nikon",
    "ptpkit.ext.sony",
    "ptpkit.core.sony",
    "ptpkit.codes.sony_values",
    "ptpkit.cli.verbose",
    "hashlib",
    "fractions",
    "decimal",
    "platformdirs",
    "json",
    # No config file (PTPKIT_CONFIG_DIR is empty): its parser loads with a file to read.
    "configparser",
    # Nothing is logged without -v: the library's loggers (ptpkit._log) load logging, and
    # what it loads, once logging is loaded or a record could be shown.
    "logging",
    "traceback",
    # The camera's listing, transfer and capture services, the file machinery and their
    # dataclasses load with the first command that uses them (ptpkit.client.camera._LAZY).
    "ptpkit.client.files",
    "ptpkit.client.objects",
    "ptpkit.client.transfers",
    "ptpkit.client.capture",
)


def test_a_ptpip_get_loads_only_what_it_uses(served: Served, cli: Cli) -> None:
    code, modules = _modules_after(cli, *served.camera_args(), "get", "iso")
    assert code == 0
    assert {"ptpkit.client.camera", "ptpkit.core.ptpip"} <= modules
    assert _loaded(modules, *_NOT_FOR_A_PTPIP_GET) == []


def test_what_a_ptpip_get_skips_still_loads_on_use(served: Served, cli: Cli) -> None:
    """The lazy names resolve: the vendor tables, the core's re-exports, -v's logging."""
    assert codes.CANON_CODES in codes.ALL_CODE_SETS
    assert codes.VENDOR_CODE_SETS[codes.VendorId.CANON] is codes.CANON_CODES
    assert CanonExtension.code_sets == (codes.CANON_CODES,)

    class OwnVendor(VendorExtension):  # a third party's, no table of ptpkit's: none, as before
        name = "own"

    assert OwnVendor.code_sets == ()

    class OwnWithCodes(VendorExtension):  # still assignable
        name = "own-codes"
        code_sets = (codes.SONY_CODES,)

    assert OwnWithCodes.code_sets == (codes.SONY_CODES,)
    assert core.UsbFraming.__module__ == "ptpkit.core.usb"
    # The client's names that load on use.
    assert client_camera.SkippedObject.__module__ == "ptpkit.client.objects"
    assert client_camera.CaptureResult.__module__ == "ptpkit.client.capture"
    assert client_camera.object_time.__module__ == "ptpkit.client.transfers"
    assert client_camera.RESUME_CHECK_BYTES > 0 < client_camera.SORTED_FOLDER_LIMIT
    assert ptpkit.client.Entry.__module__ == "ptpkit.client.files"
    assert ptpkit.client.safe_filename("a/b") != "a/b"
    assert set(client_camera.__all__) <= set(dir(client_camera)) | set(client_camera._LAZY)
    with pytest.raises(AttributeError):
        _ = client_camera.NoSuchName
    assert set(core.__all__) <= set(dir(core)) | set(core._LAZY)
    code, modules = _modules_after(cli, "-v", *served.camera_args(), "get", "iso")
    assert code == 0
    assert "ptpkit.cli.verbose" in modules


@pytest.mark.parametrize("model", ["canon-eos", "fuji-x"])
def test_a_vendor_camera_s_commands_import_neither_the_virtual_camera_nor_pillow(
    cli: Cli, model: str
) -> None:
    """The same rule with a vendor extension at work: a Canon EOS over PTP/IP and a Fujifilm
    over its variant (fuji:), served by another process's worth of virtual camera here, for
    the commands that reach the extensions' paths (properties, listing, the Fujifilm state)."""
    with (
        VirtualCamera(personality=personality_for(model)) as vcam,
        network_server(vcam, port=0) as server,
    ):
        commands: list[tuple[str, ...]] = [("get", "iso"), ("ls", "-R"), ("info",)]
        if model == "fuji-x":
            commands.append(("state",))
        for command in commands:
            code, modules = _modules_after(cli, "--camera", server.url, *command)
            assert code == 0, command
            assert "ptpkit.client.camera" in modules
            assert _loaded(modules, "ptpkit.virtual", "PIL") == [], command


def test_a_usb_command_imports_neither_the_virtual_camera_nor_pillow(cli: Cli) -> None:
    # No USB bus here: the command ends "no camera found" (105), having loaded the USB path.
    _code, modules = _modules_after(cli, "--camera", "usb:", "--timeout", "2", "info")
    assert "ptpkit.client.camera" in modules
    assert _loaded(modules, "ptpkit.virtual", "PIL") == []


def test_ptpkit_help_imports_neither_the_client_nor_rich(cli: Cli) -> None:
    code, modules = _modules_after(cli, "--help")
    assert code == 0
    assert _loaded(modules, "ptpkit.client", "ptpkit.virtual", "rich", "PIL") == []
    # Nor what only a command's options use (start-up time): -v's logging, dataclasses.
    assert _loaded(modules, "ptpkit.core", "ptpkit.cli.verbose", "logging", "dataclasses") == []


def test_command_table_matches_the_commands() -> None:
    """main.COMMANDS (the --help listing, read without importing anything) says what each
    command module really holds: same names, modules and one-line help."""
    real: dict[str, tuple[str, str]] = {}
    for module_name in cli_main.COMMAND_MODULES:
        for command in importlib.import_module(module_name).COMMANDS:
            assert command.name is not None
            real[command.name] = (module_name, command.get_short_help_str(limit=1000))
    assert real == cli_main.COMMANDS, "update COMMANDS in src/ptpkit/cli/main.py"
    assert set(cli_main.COMMAND_MODULES) == {module for module, _ in real.values()}


def test_help_lists_every_command_as_click_would(cli: Cli) -> None:
    result = cli("--help")
    assert result.code == 0, result
    for name in cli_main.COMMANDS:
        assert f"  {name} " in result.stdout
    # A command loads on use, aliases included.
    assert cli("shoot", "--help").stdout.startswith("Usage: ptpkit shoot")
    assert isinstance(cli_main.cli, click.Group)


def test_a_connection_allocates_no_read_buffer_until_reads_need_it(card: Path) -> None:
    """The 4 MiB read buffer of a PTP/IP connection is mapped, not zeroed up front: zeroing it
    cost every command 3-6 ms of start-up (a bytearray touches all its pages at once)."""

    def measured() -> tuple[int, int, int]:
        with (
            VirtualCamera(card) as vcam,
            PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
            connect(server.url) as camera,
        ):
            tracemalloc.start()
            try:
                view = camera.transport.receive_buffer()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            size = len(view)
            view.release()
            return size, camera.transport.read_size, peak

    # In a forked child, server included (tests.forked): tracemalloc counts every thread, and
    # another thread's read buffer (an xdist worker's leftover of an earlier test) is 4 MiB.
    size, read_size, peak = in_a_forked_child(measured)
    assert size == read_size >= 1 << 20
    assert peak < 1 << 20  # was the whole buffer: bytearray(read_size)


#: ``ptpkit`` as the console script runs it (main() without arguments reads sys.argv), with an
#: atexit function of the program's own that must still run.
_AS_A_PROGRAM = """
import atexit, sys
atexit.register(lambda: print("atexit ran", flush=True))
sys.argv = ["ptpkit", *sys.argv[1:]]
from ptpkit.cli.main import main
main()
"""


def _as_a_program(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _AS_A_PROGRAM, *args],
        capture_output=True,
        text=True,
        env=cli.env,
        cwd=cli.cwd,
        timeout=60,
        check=False,
    )


def test_a_program_that_ends_without_python_s_teardown_loses_nothing(
    served: Served, cli: Cli
) -> None:
    """main() ends the process at once (Python's teardown cost 10-15 ms of every command): its
    output is whole, atexit functions run, and the exit code is the command's."""
    done = _as_a_program(cli, *served.camera_args(), "get", "iso")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "atexit ran"
    assert done.stdout.splitlines()[0].strip() != ""
    listing = _as_a_program(cli, "--help")
    assert listing.returncode == 0
    assert listing.stdout.startswith("Usage: ptpkit")
    assert "Exit codes:" in listing.stdout  # the whole help, the epilog included
    assert listing.stdout.endswith("atexit ran\n")
    refused = _as_a_program(cli, "no-such-command")
    assert refused.returncode == ExitCode.INVALID_ARGUMENTS
    assert "no-such-command" in refused.stderr
    assert refused.stdout == "atexit ran\n"


def test_main_with_arguments_raises_systemexit_and_leaves_the_process_alone() -> None:
    """Called with arguments (tests, a program of its own), main() raises SystemExit."""
    with pytest.raises(SystemExit) as raised:
        cli_main.main(["--version"])
    assert raised.value.code == 0
