"""Debian's gphoto2 with its Fujifilm Wi-Fi driver ("Fuji X (WLAN)", libgphoto2
``camlibs/ptp2/fujiptpip.c``) against the virtual camera served over the Fujifilm variant.

libgphoto2 picks that driver when the camera model's name contains "Fuji" and the port is
``ptpip:`` (``library.c`` camera_init). It reads the command and event ports from ``--port
ptpip:HOST:CMD:EVENT`` and connects the live view on EVENT + 1; given only CMD it uses 55741 for
events whatever CMD is (the event port is computed before the command port is parsed). Its
session set-up needs InitSequence 0xDF01, AppVersion 0xDF24 and InitiateOpenCapture, which the
generic camera lacks: ``tests/interop/fuji_setup.py`` adds them (the ``fuji-x`` personality has
its own). What gphoto2 checks here is the wire: the handshake, containers, data phases both
ways, and events on the event connection.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.interop.conftest import GPhoto2, Served, require_tool
from tests.interop.fuji_setup import APP_VERSION, FUJI_SETUP, INIT_SEQUENCE, X_T1_APP_VERSION

from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.fujiserver import FujiPtpIpServer
from ptpkit.virtual.network import network_server

MODEL = "Fuji X (WLAN)"
SAMPLE_FILES = {
    "IMG_0001.JPG",
    "IMG_0002.JPG",
    "IMG_0003.JPG",
    "IMG_0004.JPG",
    "IMG_0101.JPG",
    "README.TXT",
    "NOTES.TXT",
}


class FujiServed(Served):
    @property
    def fuji(self) -> FujiPtpIpServer:
        assert isinstance(self.server, FujiPtpIpServer)
        return self.server

    @property
    def port_spec(self) -> str:
        return self.fuji.gphoto2_port


class FujiGPhoto2(GPhoto2):
    """gphoto2 told to use its Fujifilm Wi-Fi driver."""

    camera_model = MODEL
    timeout_s = 60.0


@pytest.fixture
def served() -> Iterator[FujiServed]:
    with VirtualCamera(personality=FUJI_SETUP) as camera, network_server(camera, port=0) as server:
        yield FujiServed(camera, server)


@pytest.fixture
def gphoto2(tmp_path: Path, served: FujiServed) -> FujiGPhoto2:
    return FujiGPhoto2(require_tool("gphoto2"), served, tmp_path)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_summary_after_the_fujifilm_session_set_up(
    gphoto2: FujiGPhoto2, served: FujiServed
) -> None:
    result = gphoto2("--summary")
    out = result.stdout
    assert "Manufacturer: ptpkit" in out
    assert "Model: Virtual Camera" in out
    assert "StorageDescription: Virtual SD card" in out
    assert re.search(r"Exposure Index.*Enumeration \[100,200,400", out)
    # What libgphoto2's camera_init sent, in order: InitSequence 5, AppVersion echoed.
    assert served.camera.fuji_set_log == [  # type: ignore[attr-defined]
        (INIT_SEQUENCE, 5),
        (APP_VERSION, X_T1_APP_VERSION),
    ]
    # After InitiateOpenCapture it opened the event and the live-view connections (each
    # accepted on a thread of its own: allow it a moment).
    give_up = time.monotonic() + 5
    while served.fuji.stream_connections < 1 and time.monotonic() < give_up:
        time.sleep(0.02)
    assert (served.fuji.event_connections, served.fuji.stream_connections) == (1, 1)


def test_list_files(gphoto2: FujiGPhoto2) -> None:
    out = gphoto2("--list-files").stdout
    listed = set(re.findall(r"^#\d+\s+(\S+)", out, re.MULTILINE))
    assert listed == SAMPLE_FILES
    assert "folder '/store_00010001/MISC/nested/level2/level3'" in out


def test_get_all_files_is_byte_identical(gphoto2: FujiGPhoto2, served: FujiServed) -> None:
    # Each object comes as one data container (libgphoto2 ptp_fujiptpip_getdata reads it whole).
    big = served.root / "DCIM" / "100PTPKT" / "BIG_0001.MOV"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    served.camera.stores[0x00010001].scan()
    gphoto2("--get-all-files")
    saved = {p.name: p for p in gphoto2.work.iterdir()}
    assert set(saved) == SAMPLE_FILES | {"BIG_0001.MOV"}
    for name, path in saved.items():
        assert _sha(path) == _sha(next(served.root.rglob(name))), name


def test_upload_sends_one_data_container(
    gphoto2: FujiGPhoto2, served: FujiServed, tmp_path: Path
) -> None:
    # libgphoto2 ptp_fujiptpip_senddata: one header with the total length, then the raw bytes.
    source = tmp_path / "from-gphoto2.bin"
    source.write_bytes(os.urandom(200_000))
    gphoto2("--folder", "/store_00010001/MISC", "--upload-file", str(source))
    assert _sha(served.root / "MISC" / "from-gphoto2.bin") == _sha(source)


def test_capture_events_come_on_the_event_connection(
    gphoto2: FujiGPhoto2, served: FujiServed
) -> None:
    # The generic camera's capture: gphoto2 waits for ObjectAdded on the event connection.
    out = gphoto2("--capture-image-and-download", "--keep").stdout
    assert "New file is in location /store_00010001/DCIM/100PTPKT/IMG_0005.JPG" in out
    on_card = served.root / "DCIM" / "100PTPKT" / "IMG_0005.JPG"
    assert _sha(gphoto2.work / "IMG_0005.JPG") == _sha(on_card)


def test_wait_event_sees_an_event_from_the_camera(gphoto2: FujiGPhoto2, served: FujiServed) -> None:
    def change() -> None:
        # Once gphoto2 has opened its event connection, a property changes on the camera.
        give_up = time.monotonic() + 20
        while served.fuji.event_connections == 0 and time.monotonic() < give_up:
            time.sleep(0.05)
        time.sleep(0.3)
        served.camera.emit(0x4006, 0x500F)

    changer = threading.Thread(target=change)
    changer.start()
    try:
        out = gphoto2("--wait-event=3s").stdout
    finally:
        changer.join()
    assert re.search(r"Property 500f changed", out), out


def test_a_camera_without_the_set_up_is_refused_by_gphoto2(tmp_path: Path) -> None:
    # The plain generic camera answers SetDevicePropValue(0xDF01) DevicePropNotSupported, and
    # libgphoto2 gives up (C_PTP_REP in camera_init): the set-up is not optional for it.
    executable = require_tool("gphoto2")
    with VirtualCamera() as camera, network_server(camera, port=0, variant="fuji") as server:
        runner = FujiGPhoto2(executable, FujiServed(camera, server), tmp_path)
        result = runner("--summary", check=False)
    assert result.returncode != 0
    assert "PTP Device Prop Not Supported" in result.stdout + result.stderr
