"""Debian's gphoto2 against the virtual Canon EOS (``canon-eos`` personality).

libgphoto2 takes its EOS paths (SetRemoteMode, SetEventMode, GetEvent polling, "Canon EOS
Capture") from the Canon vendor extension id and the EOS operations in DeviceInfo; the EOS
properties it reads come from the GetEvent dump.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from tests.interop.conftest import GPhoto2, Served

from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.canon_eos import eos_state, personality
from ptpkit.virtual.server import PtpIpServer

ISO = 0xD103
ISO_800 = 0x60


@pytest.fixture
def served() -> Iterator[Served]:
    with (
        VirtualCamera(personality=personality()) as camera,
        PtpIpServer(camera, "127.0.0.1", 0) as server,
    ):
        yield Served(camera, server)


def test_summary_shows_a_canon_eos(gphoto2: GPhoto2) -> None:
    out = gphoto2("--summary").stdout
    assert "Manufacturer: Canon" in out
    assert "Canon EOS Capture" in out  # libgphoto2 took its EOS capture path
    assert "Vendor Extension ID: 0xb" in out


def test_list_and_get_config_iso(gphoto2: GPhoto2) -> None:
    listed = gphoto2("--list-config").stdout.split()
    for name in ("iso", "aperture", "shutterspeed", "exposurecompensation", "whitebalance"):
        assert any(entry.endswith("/" + name) for entry in listed), name
    out = gphoto2("--get-config", "iso").stdout
    assert "Label: ISO Speed" in out
    assert "Current: 100" in out
    assert re.search(r"^Choice: \d+ 800$", out, re.MULTILINE)


def test_set_config_iso_reaches_the_camera_and_its_events(gphoto2: GPhoto2, served: Served) -> None:
    gphoto2("--set-config", "iso=800")
    assert "Current: 800" in gphoto2("--get-config", "iso").stdout
    # gphoto2 2.5 sets it with the standard SetDevicePropValue; the EOS state holds it.
    state = eos_state(served.camera)
    assert state.current[ISO] == ISO_800.to_bytes(4, "little")


def test_set_config_of_a_value_the_camera_does_not_list_fails(gphoto2: GPhoto2) -> None:
    result = gphoto2("--set-config", "iso=7777", check=False)
    assert result.returncode != 0
    assert "Current: 100" in gphoto2("--get-config", "iso").stdout
