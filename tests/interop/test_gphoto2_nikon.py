"""Debian's gphoto2 against the virtual Nikon D850 (``nikon`` personality) over PTP/IP.

gphoto2 is told the camera is "Nikon DSLR (WLAN)" (libgphoto2's model for Nikon's Wi-Fi bodies);
libgphoto2 takes its Nikon paths from the vendor extension id 0x0000000A and the Nikon operations
in DeviceInfo: GetVendorPropCodes 0x90CA merged into the property list, its Nikon config tables
(config.c: "shutterspeed2" for 0xD100, Nikon's white balance, image quality and focus mode
names, "recordingmedia", "liveviewprohibit"), camera_nikon_capture (ChangeCameraMode,
InitiateCaptureRecInMedia to SDRAM or the card, DeviceReady, GetEventEx until
ObjectAddedInSDRAM, the SDRAM object read and deleted) and its Nikon live view
(LiveViewProhibitCondition, RecordingMedia, StartLiveView, DeviceReady, GetLiveViewImg,
EndLiveView). Each test checks what gphoto2 printed or saved against what the virtual camera
holds or produced, and which operations it used.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import watch_operations
from tests.interop.conftest import GPhoto2, Served, require_tool

from ptpkit.codes.common import Op
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.nikon import (
    CHANGE_CAMERA_MODE,
    DEVICE_READY,
    END_LIVE_VIEW,
    GET_EVENT,
    GET_EVENT_EX,
    GET_LIVE_VIEW_IMG,
    GET_VENDOR_PROP_CODES,
    INITIATE_CAPTURE_REC_IN_MEDIA,
    SHUTTER_PROP,
    START_LIVE_VIEW,
    nikon_state,
    personality,
)
from ptpkit.virtual.server import PtpIpServer

MODEL = "Nikon DSLR (WLAN)"


class NikonGPhoto2(GPhoto2):
    """gphoto2 with ``--camera "Nikon DSLR (WLAN)"``."""

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
def gphoto2(tmp_path: Path, served: Served) -> NikonGPhoto2:
    return NikonGPhoto2(require_tool("gphoto2"), served, tmp_path)


@pytest.fixture
def calls(served: Served) -> Counter[tuple[int, tuple[int, ...]]]:
    """Each operation that ran on the virtual camera, with its parameters, and how often."""
    counter: Counter[tuple[int, tuple[int, ...]]] = Counter()
    watch_operations(
        served.camera, lambda ctx: counter.update([(ctx.request.code, tuple(ctx.request.params))])
    )
    return counter


def _ran(calls: Counter[tuple[int, tuple[int, ...]]], code: int) -> int:
    return sum(count for (each, _), count in calls.items() if each == code)


def _card_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_summary_shows_a_nikon_with_nikon_capture(
    gphoto2: NikonGPhoto2, calls: Counter[tuple[int, tuple[int, ...]]]
) -> None:
    out = gphoto2("--summary").stdout
    assert "Manufacturer: Nikon Corporation" in out
    assert "Model: D850" in out
    assert "Vendor Extension ID: 0xa" in out
    assert "Nikon Capture 2" in out  # libgphoto2 took InitiateCaptureRecInMedia
    # The vendor properties came through GetVendorPropCodes, described in Nikon's words.
    assert "Nikon Exposure Time(0xd100)" in out
    assert "Recording Media(0xd10b)" in out
    assert "Live View Prohibit Condition(0xd1a4)" in out
    assert _ran(calls, GET_VENDOR_PROP_CODES) >= 1  # once per DeviceInfo read


def test_list_config_has_the_nikon_settings(gphoto2: NikonGPhoto2) -> None:
    listed = gphoto2("--list-config").stdout.split()
    for name in (
        "iso",
        "f-number",
        "shutterspeed",
        "shutterspeed2",
        "whitebalance",
        "imagequality",
        "focusmode",
        "exposurecompensation",
        "recordingmedia",
        "capturetarget",
        "liveviewprohibit",
        "liveviewaffocus",
        "batterylevel",
    ):
        assert any(entry.endswith("/" + name) for entry in listed), name


def test_nikon_value_names_agree_with_libgphoto2(gphoto2: NikonGPhoto2) -> None:
    """The personality's Nikon values are the ones libgphoto2's config.c names (and ptpkit's
    extension names them the same way)."""
    choices = {
        name: re.findall(r"^Choice: \d+ (.+)$", gphoto2("--get-config", name).stdout, re.M)
        for name in ("whitebalance", "imagequality", "focusmode", "liveviewaffocus", "capturemode")
    }
    assert choices["whitebalance"][-4:] == ["Cloudy", "Shade", "Color Temperature", "Preset"]
    assert choices["imagequality"] == [
        "JPEG Basic", "JPEG Normal", "JPEG Fine", "NEF (Raw)", "NEF+Basic", "NEF+Normal",
        "NEF+Fine",
    ]  # fmt: skip
    assert choices["focusmode"][-3:] == ["AF-S", "AF-C", "AF-A"]
    assert choices["capturemode"][-3:] == ["Continuous Low Speed", "Timer", "Quiet Release"]
    assert choices["liveviewaffocus"] == [
        "Single-servo AF",
        "Continuous-servo AF",
        "Manual Focus (selection)",
    ]


def test_set_config_iso_and_shutterspeed(gphoto2: NikonGPhoto2, served: Served) -> None:
    assert "Current: 200\n" in gphoto2("--get-config", "iso").stdout
    assert "Current: 1/125\n" in gphoto2("--get-config", "shutterspeed2").stdout
    gphoto2("--set-config", "iso=800", "--set-config", "shutterspeed=1/250")
    assert "Current: 800\n" in gphoto2("--get-config", "iso").stdout
    props = served.camera.properties
    assert props[0x500F].current() == 800
    assert props[0x500D].current() == 40  # 1/250 s in 0.0001 s
    # The Nikon shutter (0xD100, num<<16|den) follows, as on a body.
    assert props[SHUTTER_PROP].current() == 1 << 16 | 250
    assert "Current: 1/250\n" in gphoto2("--get-config", "shutterspeed2").stdout
    gphoto2("--set-config", "shutterspeed2=1/1000")
    assert props[0x500D].current() == 10


def test_capture_to_sdram_and_download(
    gphoto2: NikonGPhoto2, served: Served, calls: Counter[tuple[int, tuple[int, ...]]]
) -> None:
    card_before = _card_files(served.root)
    out = gphoto2("--capture-image-and-download").stdout
    assert "capt0000.jpg" in out
    state = nikon_state(served.camera)
    _, produced = state.captured[-1]
    assert (gphoto2.work / "capt0000.jpg").read_bytes() == produced
    assert _card_files(served.root) == card_before  # SDRAM: nothing on the card
    assert state.sdram is None  # read, then deleted by gphoto2
    # gphoto2's default: no AF, to SDRAM; it waited for DeviceReady and polled GetEventEx.
    assert calls[(INITIATE_CAPTURE_REC_IN_MEDIA, (0xFFFFFFFF, 1))] == 1
    assert calls[(CHANGE_CAMERA_MODE, (1,))] >= 1
    assert _ran(calls, DEVICE_READY) >= 2  # busy, then ready
    assert _ran(calls, GET_EVENT_EX) >= 1
    assert calls[(Op.DELETE_OBJECT, (0xFFFF0001, 0))] == 1


def test_capture_to_the_card_and_download(
    gphoto2: NikonGPhoto2, served: Served, calls: Counter[tuple[int, tuple[int, ...]]]
) -> None:
    out = gphoto2("--set-config", "capturetarget=1", "--capture-image-and-download", "--keep")
    assert "/store_00010001/DCIM/100PTPKT/IMG_0005.JPG" in out.stdout
    on_card = served.root / "DCIM" / "100PTPKT" / "IMG_0005.JPG"
    assert (gphoto2.work / "IMG_0005.JPG").read_bytes() == on_card.read_bytes()
    assert calls[(INITIATE_CAPTURE_REC_IN_MEDIA, (0xFFFFFFFF, 0))] == 1


def test_capture_preview_through_nikon_live_view(
    gphoto2: NikonGPhoto2, served: Served, calls: Counter[tuple[int, tuple[int, ...]]]
) -> None:
    out = gphoto2("--capture-preview").stdout
    assert "capture_preview.jpg" in out
    state = nikon_state(served.camera)
    saved = (gphoto2.work / "capture_preview.jpg").read_bytes()
    assert saved == state.last_frame  # the JPEG found after the 384-byte header
    assert saved[:2] == b"\xff\xd8"
    assert _ran(calls, START_LIVE_VIEW) == 1
    assert _ran(calls, GET_LIVE_VIEW_IMG) >= 1
    assert _ran(calls, END_LIVE_VIEW) == 1
    assert not state.live_view


def test_capture_preview_refused_while_the_camera_prohibits_live_view(
    gphoto2: NikonGPhoto2, served: Served, calls: Counter[tuple[int, tuple[int, ...]]]
) -> None:
    nikon_state(served.camera).prohibit = 1 << 14  # no memory card
    result = gphoto2("--capture-preview", check=False)
    assert result.returncode != 0
    assert _ran(calls, START_LIVE_VIEW) == 0  # libgphoto2 read 0xD1A4 and did not try


def test_get_all_files_is_byte_identical(gphoto2: NikonGPhoto2, served: Served) -> None:
    gphoto2("--get-all-files")
    saved = {p.name: p.read_bytes() for p in gphoto2.work.iterdir() if p.is_file()}
    assert saved == _card_files(served.root)


def test_capture_waits_out_a_busy_second(
    gphoto2: NikonGPhoto2, served: Served, calls: Counter[tuple[int, tuple[int, ...]]]
) -> None:
    """DeviceReady answers DeviceBusy for a second after the release (a long exposure):
    libgphoto2's nikon_wait_busy keeps asking, then downloads the picture."""
    state = nikon_state(served.camera)
    state.busy_after_capture_s = 1.0
    gphoto2("--capture-image-and-download")
    _, produced = state.captured[-1]
    assert (gphoto2.work / "capt0000.jpg").read_bytes() == produced
    assert _ran(calls, DEVICE_READY) >= 5  # libgphoto2 asks every 100 ms or so


def test_an_older_body_with_get_event_only(tmp_path: Path) -> None:
    """Without GetEventEx in DeviceInfo libgphoto2 polls GetEvent 0x90C7 for the capture's
    ObjectAddedInSDRAM."""
    with (
        VirtualCamera(personality=personality({"get_event_ex": "0"})) as camera,
        PtpIpServer(camera, "127.0.0.1", 0) as server,
    ):
        served = Served(camera, server)
        seen: list[int] = []
        watch_operations(camera, lambda ctx: seen.append(ctx.request.code))
        gphoto2 = NikonGPhoto2(require_tool("gphoto2"), served, tmp_path)
        gphoto2("--capture-image-and-download")
        _, produced = nikon_state(camera).captured[-1]
        assert (gphoto2.work / "capt0000.jpg").read_bytes() == produced
        assert GET_EVENT in seen
        assert GET_EVENT_EX not in seen


def test_autofocusdrive_is_ptpkits_half_press(
    gphoto2: NikonGPhoto2, served: Served, calls: Counter[tuple[int, tuple[int, ...]]]
) -> None:
    """libgphoto2's "autofocusdrive" (config.c _put_Nikon_AFDrive) sends the Nikon extension's
    half press, AfDrive, and nothing to let go of it (the plan has no release)."""
    from ptpkit.ext.nikon import NikonExtension

    plan = NikonExtension.half_press(None)  # type: ignore[arg-type]  # pure: no session used
    assert plan is not None
    assert plan.release is None
    gphoto2("--set-config", "autofocusdrive=1")
    assert _ran(calls, plan.press.code) == 1
    assert nikon_state(served.camera).af_drives == 1
