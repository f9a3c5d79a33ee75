"""Debian's gphoto2 against the virtual Sony (``sony`` personality) over PTP/IP.

gphoto2 is told the camera is a "PTP/IP Camera"; libgphoto2 takes its Sony paths from DeviceInfo:
over PTP/IP a Sony reports the MTP vendor extension id (0xFFFFFFFF) with the manufacturer "Sony
Corporation", which library.c turns into Sony's ("Mostly for PTP/IP mode"), then it runs the SDIO
handshake (0x9201 x3, 0x9202 with 0xC8 in libgphoto2 2.5.30), sets PriorityMode, opens file
access with 0x9280/0x9281, reads every setting with 0x9209, steps settings with
SetControlDeviceB, captures with camera_sony_capture (buttons, FocusFound, ObjectInMemory,
0xFFFFC001) and takes previews from 0xFFFFC002. Each test checks what gphoto2 printed or saved
against what the virtual camera holds or produced, and which operations it used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import watch_operations
from tests.interop.conftest import GPhoto2, Served, require_tool

from ptpkit.core import sony as sony_core
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.responder import OperationContext
from ptpkit.virtual.server import PtpIpServer
from ptpkit.virtual.sony import (
    CAPTURE_HANDLE,
    FULL_PRESS,
    HALF_PRESS,
    ISO,
    SET_CONTROL_DEVICE_B,
    SHUTTER_SPEED,
    personality,
    shutter,
    sony_state,
)

MODEL = "PTP/IP Camera"


class SonyGPhoto2(GPhoto2):
    camera_model = MODEL
    timeout_s = 90.0


@pytest.fixture
def served() -> Iterator[Served]:
    with (
        VirtualCamera(personality=personality()) as camera,
        PtpIpServer(camera, "127.0.0.1", 0) as server,
    ):
        yield Served(camera, server)


@pytest.fixture
def gphoto2(tmp_path: Path, served: Served) -> SonyGPhoto2:
    return SonyGPhoto2(require_tool("gphoto2"), served, tmp_path)


@pytest.fixture
def calls(served: Served) -> Counter[int]:
    counter: Counter[int] = Counter()
    watch_operations(served.camera, lambda ctx: counter.update([ctx.request.code]))
    return counter


def test_summary_shows_the_sony_after_the_sdio_handshake(
    gphoto2: SonyGPhoto2, calls: Counter[int]
) -> None:
    out = gphoto2("--summary").stdout
    assert "Manufacturer: Sony Corporation" in out
    assert "Model: ILCE-7M3" in out
    # The Sony properties came from 0x9202 and their values from 0x9209.
    assert "ISO(0xd21e)" in out
    assert "Shutter speed(0xd20d)" in out
    # Three SDIO_Connect phases per 0x9202 (gphoto2 may initialise the camera more than once).
    assert calls[0x9202] >= 1
    assert calls[0x9201] == 3 * calls[0x9202]
    assert calls[0x9209] >= 1
    # "Open" before file access; Debian's libgphoto2 2.5.30 sends no "close" at exit (newer
    # library.c does).
    assert calls[0x9280] >= 1


def test_list_config_shows_the_sony_widgets(gphoto2: SonyGPhoto2) -> None:
    out = gphoto2("--list-config").stdout.split()
    for widget in ("iso", "shutterspeed", "f-number", "exposurecompensation", "capturetarget"):
        assert any(line.endswith("/" + widget) for line in out), widget


def test_get_config_reads_the_sony_encodings(gphoto2: SonyGPhoto2) -> None:
    iso = gphoto2("--get-config", "iso").stdout
    assert "Current: Auto ISO" in iso
    speed = gphoto2("--get-config", "shutterspeed").stdout
    assert "Current: 1/125" in speed
    target = gphoto2("--get-config", "capturetarget").stdout
    assert "Current: sdram" in target  # Still Image Save Destination 0x0001


def test_set_config_iso_steps_by_notches(gphoto2: SonyGPhoto2, served: Served) -> None:
    gphoto2("--set-config", "iso=800")
    assert served.camera.properties[ISO].current() == 800
    assert "Current: 800" in gphoto2("--get-config", "iso").stdout
    state = sony_state(served.camera)
    assert any(op == SET_CONTROL_DEVICE_B and code == ISO for op, code, _ in state.control_log)


def test_set_config_shutterspeed_steps_and_stays(gphoto2: SonyGPhoto2, served: Served) -> None:
    gphoto2("--set-config", "shutterspeed=1/250")
    # libgphoto2 2.5.30 then sends SetControlDeviceA(0xD20D, 0): a 2.00 body keeps the speed.
    assert served.camera.properties[SHUTTER_SPEED].current() == shutter(1, 250)
    assert "Current: 1/250" in gphoto2("--get-config", "shutterspeed").stdout


def test_capture_image_and_download(
    gphoto2: SonyGPhoto2, served: Served, calls: Counter[int]
) -> None:
    out = gphoto2("--capture-image-and-download").stdout
    assert "capt0000.jpg" in out
    state = sony_state(served.camera)
    assert (gphoto2.work / "capt0000.jpg").read_bytes() == state.captured[-1][1]
    buttons = [(code, raw) for op, code, raw in state.control_log if op == SET_CONTROL_DEVICE_B]
    assert buttons == [(HALF_PRESS, 2), (FULL_PRESS, 2), (FULL_PRESS, 1), (HALF_PRESS, 1)]
    assert state.early_reads == 0  # 0xFFFFC001 read only once ObjectInMemory said so
    assert not state.in_memory
    assert served.camera.properties[0xD215].current() == 0
    assert CAPTURE_HANDLE  # the handle gphoto2 read (its log: GetObject 0xffffc001)


def test_capture_preview_saves_the_live_view_frame(gphoto2: SonyGPhoto2, served: Served) -> None:
    gphoto2("--capture-preview")
    frame = (gphoto2.work / "capture_preview.jpg").read_bytes()
    assert frame == sony_state(served.camera).last_frame
    assert frame[:2] == b"\xff\xd8"


def test_get_all_files_is_byte_identical(gphoto2: SonyGPhoto2, served: Served) -> None:
    gphoto2("--get-all-files")
    saved = {p.name: p.read_bytes() for p in gphoto2.work.iterdir() if p.is_file()}
    card = {p.name: p.read_bytes() for p in served.root.rglob("*") if p.is_file()}
    assert saved == card


def test_wifi_blocks_are_libgphoto2s(gphoto2: SonyGPhoto2, served: Served) -> None:
    gphoto2("--list-files")
    # ptp.c ptp_sony_9280(params, 4, 2,2,0,0, 1,1): the 18-byte "open" block, before file access.
    assert sony_state(served.camera).wifi_log == [sony_core.WIFI_OPEN]


def test_autofocus_is_ptpkits_half_press(gphoto2: SonyGPhoto2, served: Served) -> None:
    """libgphoto2's Sony "autofocus" toggle sends the Sony extension's half press: the
    half-press button 0xD2C1 pressed (2) with SetControlDeviceB, let go (1) when set off.

    Debian's libgphoto2 then also writes 0xD2C1 as a property (SetControlDeviceA, value 0),
    which the virtual Sony refuses (DevicePropNotSupported: a button, not a setting), so
    gphoto2 exits 1 after the press; what matters here is the press it sent."""
    from ptpkit.ext.sony import SonyExtension

    plan = SonyExtension.half_press(None)  # type: ignore[arg-type]  # pure: no session used
    assert plan is not None
    assert plan.release is not None
    seen: list[tuple[int, tuple[int, ...], bytes]] = []

    def record(ctx: OperationContext) -> None:
        seen.append((ctx.request.code, tuple(ctx.request.params), bytes(ctx.data or b"")))

    watch_operations(served.camera, record, [plan.press.code])
    gphoto2("--set-config", "autofocus=1", check=False)
    assert seen == [(plan.press.code, plan.press.params, plan.press.data)]
    assert sony_state(served.camera).half_pressed
    del seen[:]
    gphoto2("--set-config", "autofocus=0", check=False)
    assert seen == [(plan.release.code, plan.release.params, plan.release.data)]
    assert not sony_state(served.camera).half_pressed
