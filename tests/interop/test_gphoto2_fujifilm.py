"""Debian's gphoto2 with its Fujifilm Wi-Fi driver ("Fuji X (WLAN)") against the virtual
Fujifilm X-T2 (``ptpkit virtual serve --model fuji-x``), served in process on 127.0.0.1.

libgphoto2 (camlibs/ptp2, written against real bodies) is the independent check of the
personality: its camera_init session set-up (InitSequence 0xDF01, AppVersion 0xDF24,
InitiateOpenCapture, the event connection), its Fujifilm property tables (config.c: film
simulation names, Fujifilm's exposure-time encoding behind "shutterspeed"), the tether
preparation (0xD38C PC mode, 0xD207 priority) and camera_fuji_capture (shutter action 0xD208,
AF status 0xD209, the 0xD212 list, ObjectAdded 0xC004 on the event connection).
"""

from __future__ import annotations

import hashlib
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import watch_operations
from tests.interop.conftest import require_tool
from tests.interop.test_gphoto2_fuji import FujiGPhoto2, FujiServed

import ptpkit
from ptpkit.errors import FocusError
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual import fujifilm as xt
from ptpkit.virtual.livepicture import frame_stamp
from ptpkit.virtual.network import network_server
from ptpkit.virtual.responder import OperationContext

SAMPLE_FILES = {
    "IMG_0001.JPG",
    "IMG_0002.JPG",
    "IMG_0003.JPG",
    "IMG_0004.JPG",
    "IMG_0101.JPG",
    "README.TXT",
    "NOTES.TXT",
}


@pytest.fixture
def served() -> Iterator[FujiServed]:
    with (
        VirtualCamera(personality=personality_for("fuji-x")) as camera,
        network_server(camera, port=0) as server,
    ):
        yield FujiServed(camera, server)


@pytest.fixture
def gphoto2(tmp_path: Path, served: FujiServed) -> FujiGPhoto2:
    return FujiGPhoto2(require_tool("gphoto2"), served, tmp_path)


def _value(served: FujiServed, code: int) -> object:
    return served.camera.properties[code].current()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_summary_after_the_session_set_up(gphoto2: FujiGPhoto2, served: FujiServed) -> None:
    out = gphoto2("--summary").stdout
    assert "Manufacturer: FUJIFILM" in out
    assert "Model: X-T2" in out
    assert "Vendor Extension ID: 0xe" in out
    assert re.search(r"Film Simulation\(0xd001\).*Enumeration \[1,2,3", out)
    assert re.search(r"F-Number\(0x5007\).*value: f/5.6", out)
    # camera_init's set-up reached the camera: InitSequence 5, AppVersion echoed (the event
    # connection it opens after InitiateOpenCapture carries the capture's events, below).
    log = xt.fuji_state(served.camera).set_log
    assert log[:2] == [(xt.INIT_SEQUENCE, 5), (xt.APP_VERSION, xt.X_T2_APP_VERSION)]
    # It set PC mode and USB priority (config.c camera_prepare_capture) and gave the camera its
    # priority back when it left.
    assert {(xt.PC_MODE, 1), (xt.PRIORITY_MODE, 2)} <= set(log)
    assert log[-1] == (xt.PRIORITY_MODE, 1)


def test_list_get_and_set_config(gphoto2: FujiGPhoto2, served: FujiServed) -> None:
    listed = set(gphoto2("--list-config").stdout.split())
    names = ("filmsimulation", "iso", "shutterspeed", "f-number", "exposurecompensation")
    for name in (*names, "whitebalance"):
        assert any(entry.endswith(f"/{name}") for entry in listed), name
    # What libgphoto2 shows for the camera's start values: Fujifilm's names and encodings.
    out = gphoto2(*(arg for name in names for arg in ("--get-config", name))).stdout
    currents = re.findall(r"^Current: (.*)$", out, re.MULTILINE)
    assert currents == ["PROVIA/Standard", "200", "1/60", "f/5.6", "0"]
    gphoto2(
        "--set-config", "filmsimulation=Velvia/Vivid",
        "--set-config", "iso=800",
        "--set-config", "shutterspeed=1/125",
        "--set-config", "f-number=f/8",
        "--set-config", "exposurecompensation=-1",
        "--set-config", "whitebalance=Daylight",
    )  # fmt: skip
    assert _value(served, xt.FILM_SIMULATION) == 2  # Velvia (ptp-ip FS_Fuji_Velvia)
    assert _value(served, xt.EXPOSURE_INDEX) == 800
    assert _value(served, 0x500D) == xt.exposure_time_us(-21) == 7812  # 1/128 s, "1/125"
    assert _value(served, 0x5007) == 800
    assert _value(served, 0x5010) == -1000
    assert _value(served, 0x5005) == 0x0004  # daylight
    out = gphoto2("--get-config", "filmsimulation", "--get-config", "shutterspeed").stdout
    assert re.findall(r"^Current: (.*)$", out, re.MULTILINE) == ["Velvia/Vivid", "1/125"]


def test_capture_image_and_download(gphoto2: FujiGPhoto2, served: FujiServed) -> None:
    out = gphoto2("--capture-image-and-download", "--keep").stdout
    assert "New file is in location /store_00010001/DCIM/100_FUJI/DSCF0001.JPG" in out
    state = xt.fuji_state(served.camera)
    name, data = state.captured[-1]
    assert name == "DSCF0001.JPG"
    assert _sha((gphoto2.work / name).read_bytes()) == _sha(data)
    assert _sha((served.root / xt.CAPTURE_FOLDER / name).read_bytes()) == _sha(data)
    # camera_fuji_capture focused first (0xD208 = 0x200, AF status polled to 2) and shot with
    # 0x304; the preview it never fetched stays with the connection it left.
    assert _value(served, xt.SHUTTER_ACTION) == xt.ACTION_SHOOT
    assert state.ignored_captures == 0
    # A new gphoto2 (a new connection) shoots again.
    gphoto2("--capture-image-and-download", "--force-overwrite")
    assert state.captured[-1][0] == "DSCF0002.JPG"
    assert _sha((gphoto2.work / "DSCF0002.JPG").read_bytes()) == _sha(state.captured[-1][1])
    assert not (served.root / xt.CAPTURE_FOLDER / "DSCF0002.JPG").exists()  # gphoto2 deleted it
    assert _value(served, xt.OBJECT_COUNT) == 8  # the sample card's 7 and DSCF0001


def test_list_files_and_get_all_files(gphoto2: FujiGPhoto2, served: FujiServed) -> None:
    out = gphoto2("--list-files").stdout
    assert set(re.findall(r"^#\d+\s+(\S+)", out, re.MULTILINE)) == SAMPLE_FILES
    gphoto2("--get-all-files")
    saved = {p.name: p for p in gphoto2.work.iterdir()}
    assert set(saved) == SAMPLE_FILES
    for name, path in saved.items():
        original = next(served.root.rglob(name))
        assert _sha(path.read_bytes()) == _sha(original.read_bytes()), name


def test_capture_preview_reads_the_live_view_stream(
    gphoto2: FujiGPhoto2, served: FujiServed
) -> None:
    # libgphoto2 reads one frame from the live-view connection (event port + 1) and cuts the
    # 14-byte header in front of the JPEG (fujiptpip.c ptp_fujiptpip_jpeg).
    assert "Saving file as capture_preview.jpg" in gphoto2("--capture-preview").stdout
    jpeg = (gphoto2.work / "capture_preview.jpg").read_bytes()
    assert jpeg[:2] == b"\xff\xd8"
    assert jpeg[-2:] == b"\xff\xd9"
    # The live-view picture, numbered (ptpkit.virtual.livepicture), whole: the header cut.
    assert frame_stamp(jpeg) is not None
    assert xt.fuji_state(served.camera).frames >= 1  # the personality made the frame


def _u16(value: int) -> bytes:
    return struct.pack("<H", value)


def _af_exchange(camera: VirtualCamera) -> list[tuple[int, tuple[int, ...], bytes]]:
    """What the camera is asked of the shutter action 0xD208, the AF status 0xD209 and
    InitiateCapture from now on, in order."""
    seen: list[tuple[int, tuple[int, ...], bytes]] = []

    def record(ctx: OperationContext) -> None:
        params = tuple(ctx.request.params)
        if ctx.request.code == 0x100E or (params and params[0] in (0xD208, 0xD209)):
            seen.append((ctx.request.code, params, bytes(ctx.data or b"")))

    watch_operations(camera, record, [0x1015, 0x1016, 0x100E])
    return seen


def test_autofocusdrive_is_ptpkits_half_press(gphoto2: FujiGPhoto2, served: FujiServed) -> None:
    """libgphoto2's "Drive Fuji Autofocus" (config.c _put_Fuji_AFDrive, reached through the
    Fujifilm Wi-Fi driver: the menu entry is chosen by the vendor extension 0xE) against the
    same exchange ptpkit's Fujifilm half press sends: 0xD208 = 0x9300 and InitiateCapture,
    0xD209 read while 1, 0xD208 = 0x0005 and InitiateCapture. No picture is taken."""
    state = xt.fuji_state(served.camera)
    seen = _af_exchange(served.camera)
    with ptpkit.connect(served.server.url, timeout_s=10) as cam:
        plan = cam.half_press()
    assert plan.name == "Fujifilm AF drive"
    ours = list(seen)
    gphoto2("--set-config", "autofocusdrive=1")
    theirs = seen[len(ours) :]
    expected = [
        (0x1016, (0xD208,), _u16(0x9300)),
        (0x100E, (0, 0), b""),
        (0x1015, (0xD209,), b""),  # 1: focusing
        (0x1015, (0xD209,), b""),  # 2: in focus
        (0x1016, (0xD208,), _u16(0x0005)),
        (0x100E, (0, 0), b""),
    ]
    assert ours == expected
    # gphoto2's calls are the same (its session set-up and capture preparation touch neither
    # property nor InitiateCapture).
    assert theirs == expected
    assert state.af_runs == 2
    assert state.captured == []
    assert _value(served, xt.SHUTTER_ACTION) == xt.ACTION_RELEASE_FOCUS


def test_autofocusdrive_that_finds_no_focus(tmp_path: Path) -> None:
    """AF status 3: gphoto2 reports "Perhaps no auto-focus?" and returns with the shutter action
    left at 0x9300 (config.c); ptpkit raises FocusError and lets go first (0x0005), so the
    body does not answer the next shot busy."""
    failing = personality_for("fuji-x", {"af": "fail"})
    with (
        VirtualCamera(personality=failing) as camera,
        network_server(camera, port=0) as server,
    ):
        served = FujiServed(camera, server)
        gphoto2 = FujiGPhoto2(require_tool("gphoto2"), served, tmp_path)
        result = gphoto2("--set-config", "autofocusdrive=1", check=False)
        assert result.returncode != 0
        assert "Perhaps no auto-focus?" in result.stdout + result.stderr
        assert _value(served, xt.SHUTTER_ACTION) == xt.ACTION_AF_DRIVE
        assert _value(served, xt.AF_STATUS) == xt.AF_FAILED
        # gphoto2's session ended on the camera's side too before ptpkit's begins (the event
        # connection of a new client is matched to the newest session from its host).
        give_up = time.monotonic() + 10
        while server.active_sessions and time.monotonic() < give_up:
            time.sleep(0.01)
        with ptpkit.connect(server.url, timeout_s=10) as cam:
            with pytest.raises(FocusError, match="could not focus"):
                cam.half_press()
            assert _value(served, xt.SHUTTER_ACTION) == xt.ACTION_RELEASE_FOCUS
            assert _value(served, xt.AF_STATUS) == xt.AF_IDLE
            assert [entry.name for entry in cam.capture(timeout_s=10)] == ["DSCF0001.JPG"]
