"""``--usb-backend NAME`` and ``[responder] usb_backend``: the PyUSB backend a ``usb:`` camera is
reached through, by name (PyUSB's libusb1, libusb0, openusb, or ``module:function``, such as a
network bridge). Here ``module:function`` returns the virtual camera as a USB device."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ptpkit.cli.exitcodes import ExitCode

from .conftest import Cli, one_line_error

MODULE = "w3_cli_bridge"


@pytest.fixture
def bridge(cli: Cli, tmp_path: Path) -> Cli:
    """The CLI with a module on its path whose make() returns a virtual USB backend."""
    folder = tmp_path / "modules"
    folder.mkdir()
    card = tmp_path / "bridge-card"
    (card / "DCIM").mkdir(parents=True)
    (card / "DCIM" / "bridged.jpg").write_bytes(b"\xff\xd8 not much of a photo \xff\xd9")
    (folder / f"{MODULE}.py").write_text(
        "from ptpkit.virtual import VirtualCamera\n"
        "from ptpkit.virtual.usb_device import VirtualUsbDevice, make_backend\n"
        "def make():\n"
        f"    return make_backend(VirtualUsbDevice(VirtualCamera({str(card)!r})))\n"
        "def broken():\n"
        "    raise RuntimeError('the bridge is down')\n"
    )
    paths = [str(folder), cli.env.get("PYTHONPATH", "")]
    cli.env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return cli


def test_usb_backend_option_reaches_the_camera_behind_it(bridge: Cli) -> None:
    result = bridge("--usb-backend", f"{MODULE}:make", "--camera", "usb:", "ls", "-R")
    assert result.code == 0, result
    assert "bridged.jpg" in result.stdout


def test_usb_backend_alone_means_the_only_camera_behind_it(bridge: Cli) -> None:
    # No --camera: discovery would search the default backend, so the camera is "usb:".
    result = bridge("--usb-backend", f"{MODULE}:make", "ls", "-R")
    assert result.code == 0, result
    assert "bridged.jpg" in result.stdout


@pytest.mark.parametrize("url_line", ['url = "usb:"\n', ""])
def test_usb_backend_from_the_config_file(bridge: Cli, tmp_path: Path, url_line: str) -> None:
    config = tmp_path / "bridge.ini"
    config.write_text(f"[responder]\n{url_line}usb_backend = {MODULE}:make\n")
    result = bridge("-f", str(config), "ls", "-R")
    assert result.code == 0, result
    assert "bridged.jpg" in result.stdout


def test_a_bad_usb_backend_in_the_config_file_names_the_file(bridge: Cli, tmp_path: Path) -> None:
    config = tmp_path / "bridge.ini"
    config.write_text("[responder]\nusb_backend = libusb9\n")
    result = bridge("-f", str(config), "info")
    assert result.code == ExitCode.CANNOT_CREATE_CLIENT, result
    line = one_line_error(result)
    assert f"config file {config}" in line
    assert "unknown USB backend 'libusb9'" in line


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("libusb9", "unknown USB backend 'libusb9'"),
        ("no_such_module_w3:make", "cannot import no_such_module_w3"),
        (f"{MODULE}:broken", "the bridge is down"),
    ],
)
def test_a_usb_backend_that_cannot_be_made_is_exit_104(
    bridge: Cli, name: str, message: str
) -> None:
    result = bridge("--usb-backend", name, "--camera", "usb:", "info")
    assert result.code == ExitCode.CANNOT_CREATE_CLIENT, result
    line = one_line_error(result)
    assert "cannot create a client for usb:" in line
    assert message in line
