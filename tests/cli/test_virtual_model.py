"""``ptpkit virtual serve --model``: which camera the virtual one says it is (issue 12, s. 3)."""

from __future__ import annotations

import signal
from pathlib import Path

from .conftest import Cli


def test_serve_model_canon_eos_is_seen_as_a_canon(cli: Cli) -> None:
    server = cli.popen("virtual", "serve", "--port", "0", "--model", "canon-eos")
    try:
        assert server.stdout is not None
        url = next(
            (line.split()[-1] for line in server.stdout if line.startswith("listening on ")), None
        )
        assert url is not None, server.stderr.read() if server.stderr else ""
        result = cli("--camera", url, "info", "--json")
        assert result.code == 0, result
        assert "Canon EOS" in result.stdout
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=15)


def test_serve_refuses_an_unknown_model_and_names_the_known_ones(cli: Cli) -> None:
    result = cli("virtual", "serve", "--port", "0", "--model", "nikon-z")
    assert result.code == 2
    assert "generic" in result.stderr
    assert "canon-eos" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_a_powershot_needs_the_usb_gadget(cli: Cli) -> None:
    """The PowerShots speak Canon's USB protocol only: without --usb-gadget, one line says how
    to serve them (the USB lab serves one as a gadget: tests/usblab/test_usb_lab_powershot.py)."""
    result = cli("virtual", "serve", "--port", "0", "--model", "powershot-g3")
    assert result.code == 2
    assert "powershot-g3 speaks Canon's USB protocol, not PTP/IP" in result.stderr
    assert "--usb-gadget" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_a_powershot_gadget_without_functionfs_says_so(cli: Cli, tmp_path: Path) -> None:
    result = cli(
        "virtual", "serve", "--model", "powershot-g3", "--usb-gadget", "--ffs", str(tmp_path)
    )
    assert result.code != 0
    assert "cannot set up the FunctionFS function" in result.stderr
    assert "Traceback" not in result.stderr
