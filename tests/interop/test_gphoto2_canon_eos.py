"""Debian's gphoto2 against the virtual Canon EOS (``canon-eos`` personality) over PTP/IP.

gphoto2 is told the camera is "Canon EOS (WLAN)" (libgphoto2's model for Canon's Wi-Fi bodies),
and libgphoto2 takes its EOS paths from the Canon vendor extension id and the EOS operations in
DeviceInfo: SetRemoteMode, SetEventMode, GetEvent polling with the property dump, properties set
with SetDevicePropValueEx, listing with GetObjectInfoEx, "Canon EOS Capture" with
RemoteReleaseOn/Off, downloads of pictures taken to the computer with TransferComplete. Each test
checks what gphoto2 printed or saved against what the virtual camera holds or produced, and
which operations it used.
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
from ptpkit.virtual.canon_eos import (
    GET_OBJECT_INFO_EX,
    GET_VIEWFINDER_DATA,
    LIVE_VIEW_WARMUP_CALLS,
    REMOTE_RELEASE_OFF,
    REMOTE_RELEASE_ON,
    SET_DEVICE_PROP_VALUE_EX,
    TRANSFER_COMPLETE,
    eos_state,
    personality,
)
from ptpkit.virtual.server import PtpIpServer

MODEL = "Canon EOS (WLAN)"
ISO = 0xD103
CAPTURE_TARGET = 0xD11C


class EosGPhoto2(GPhoto2):
    """gphoto2 with ``--camera "Canon EOS (WLAN)"``."""

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
def gphoto2(tmp_path: Path, served: Served) -> EosGPhoto2:
    return EosGPhoto2(require_tool("gphoto2"), served, tmp_path)


@pytest.fixture
def calls(served: Served) -> Counter[int]:
    """How often each operation ran on the virtual camera (a wrapper around every handler)."""
    counter: Counter[int] = Counter()
    watch_operations(served.camera, lambda ctx: counter.update([ctx.request.code]))
    return counter


def _card_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_summary_shows_a_canon_eos(gphoto2: EosGPhoto2) -> None:
    out = gphoto2("--summary").stdout
    assert "Manufacturer: Canon" in out
    assert "Model: Canon EOS 6D" in out
    assert "Canon EOS Capture" in out  # libgphoto2 took its EOS capture path
    assert "Vendor Extension ID: 0xb" in out


def test_list_config_shows_the_eos_properties(gphoto2: EosGPhoto2) -> None:
    listed = gphoto2("--list-config").stdout.split()
    for name in (
        "iso",
        "aperture",
        "shutterspeed",
        "exposurecompensation",
        "whitebalance",
        "drivemode",
        "imageformat",
        "capturetarget",
        "availableshots",
    ):
        assert any(entry.endswith("/" + name) for entry in listed), name


def test_get_config_iso_lists_the_allowed_values(gphoto2: EosGPhoto2) -> None:
    out = gphoto2("--get-config", "iso").stdout
    assert "Label: ISO Speed" in out
    assert "Current: 100" in out
    assert re.search(r"^Choice: \d+ 800$", out, re.MULTILINE)
    out = gphoto2("--get-config", "imageformat").stdout
    assert "Current: Large Fine JPEG" in out
    assert re.search(r"^Choice: \d+ RAW \+ Large Fine JPEG$", out, re.MULTILINE)


@pytest.mark.parametrize(
    ("name", "before", "after", "prop", "code"),
    [
        ("iso", "100", "800", 0xD103, 0x60),
        ("aperture", "7.1", "4", 0xD101, 0x28),
        ("shutterspeed", "1/80", "1/250", 0xD102, 0x78),
    ],
)
def test_set_config_goes_through_set_device_prop_value_ex(
    gphoto2: EosGPhoto2,
    served: Served,
    calls: Counter[int],
    name: str,
    before: str,
    after: str,
    prop: int,
    code: int,
) -> None:
    assert f"Current: {before}\n" in gphoto2("--get-config", name).stdout
    gphoto2("--set-config", f"{name}={after}")
    assert f"Current: {after}\n" in gphoto2("--get-config", name).stdout
    assert eos_state(served.camera).value(prop) == code
    # libgphoto2's EOS path (config.c have_eos_prop), not the standard operation.
    assert calls[SET_DEVICE_PROP_VALUE_EX] >= 1
    assert calls[Op.SET_DEVICE_PROP_VALUE] == 0


def test_set_config_of_a_value_the_camera_does_not_list_fails(gphoto2: EosGPhoto2) -> None:
    result = gphoto2("--set-config", "iso=7777", check=False)
    assert result.returncode != 0
    assert "Current: 100" in gphoto2("--get-config", "iso").stdout


def test_capture_to_the_card_and_download(
    gphoto2: EosGPhoto2, served: Served, calls: Counter[int]
) -> None:
    out = gphoto2("--set-config", "capturetarget=1", "--capture-image-and-download").stdout
    assert "/store_00010001/DCIM/100PTPKT/IMG_0005.JPG" in out
    name, produced = eos_state(served.camera).captured[-1]
    assert name == "IMG_0005.JPG"
    assert (gphoto2.work / name).read_bytes() == produced
    # gphoto2 deletes what it downloaded unless told --keep.
    assert not (served.root / "DCIM" / "100PTPKT" / name).exists()
    assert calls[REMOTE_RELEASE_ON] == 2  # half press, then full press
    assert calls[REMOTE_RELEASE_OFF] == 2
    assert calls[Op.DELETE_OBJECT] == 1


def test_capture_to_the_card_kept_is_the_card_file(gphoto2: EosGPhoto2, served: Served) -> None:
    gphoto2("--set-config", "capturetarget=1", "--capture-image-and-download", "--keep")
    on_card = served.root / "DCIM" / "100PTPKT" / "IMG_0005.JPG"
    assert (gphoto2.work / "IMG_0005.JPG").read_bytes() == on_card.read_bytes()


def test_capture_to_the_computer_and_download(
    gphoto2: EosGPhoto2, served: Served, calls: Counter[int]
) -> None:
    card_before = _card_files(served.root)
    out = gphoto2("--set-config", "capturetarget=0", "--capture-image-and-download").stdout
    assert "capt0000.jpg" in out
    state = eos_state(served.camera)
    # gphoto2 set "Internal RAM" (4, the computer) to shoot and the card back on its way out
    # (config.c camera_unprepare_canon_eos_capture).
    assert state.value(CAPTURE_TARGET) == 2
    _, produced = state.captured[-1]
    assert (gphoto2.work / "capt0000.jpg").read_bytes() == produced
    assert _card_files(served.root) == card_before  # nothing was written to the card
    assert calls[TRANSFER_COMPLETE] == 1
    assert state.in_memory == {}  # transferred: freed


def test_wait_event_prints_the_property_events(gphoto2: EosGPhoto2) -> None:
    out = gphoto2("--wait-event=3s").stdout
    assert 'PTP Property d103 changed, "iso" to "100"' in out
    assert 'PTP Property d101 changed, "aperture" to "7.1"' in out
    assert "CTGInfoCheckComplete" in out


def test_list_files_shows_the_card(
    gphoto2: EosGPhoto2, served: Served, calls: Counter[int]
) -> None:
    out = gphoto2("--list-files").stdout
    for name in _card_files(served.root):
        assert re.search(rf"#\d+\s+{re.escape(name)}\s", out), name
    assert "There are 4 files in folder '/store_00010001/DCIM/100PTPKT'." in out
    assert calls[GET_OBJECT_INFO_EX] >= 1  # the EOS listing, one folder a call
    assert calls[Op.GET_OBJECT_HANDLES] == 0


def test_get_all_files_is_byte_identical(gphoto2: EosGPhoto2, served: Served) -> None:
    gphoto2("--get-all-files")
    saved = {p.name: p.read_bytes() for p in gphoto2.work.iterdir() if p.is_file()}
    assert saved == _card_files(served.root)


def test_capture_preview_waits_out_the_warm_up_then_saves_the_frame(
    gphoto2: EosGPhoto2, served: Served, calls: Counter[int]
) -> None:
    out = gphoto2("--capture-preview").stdout
    assert "capture_preview.jpg" in out
    state = eos_state(served.camera)
    assert (gphoto2.work / "capture_preview.jpg").read_bytes() == state.last_frame
    assert state.last_frame[:2] == b"\xff\xd8"
    # ObjectNotReady while live view warms up (libgphoto2 retries it), then one frame.
    assert calls[GET_VIEWFINDER_DATA] == LIVE_VIEW_WARMUP_CALLS + 1
    # gphoto2 switched live view's output to the computer (EVFOutputDevice bit 1).
    assert state.value(0xD1B0) == 2


def test_autofocusdrive_is_ptpkits_half_press(gphoto2: EosGPhoto2, served: Served) -> None:
    """libgphoto2's "autofocusdrive" toggle (config.c _put_Canon_EOS_AutoFocus) sends the
    operations of the EOS extension's half press: DoAf on, AfCancel off."""
    from ptpkit.ext.canon_eos import CanonEosExtension

    plan = CanonEosExtension.half_press(None)  # type: ignore[arg-type]  # pure: no session used
    assert plan is not None
    assert plan.release is not None
    seen: list[int] = []
    codes = (plan.press.code, plan.release.code)
    watch_operations(served.camera, lambda ctx: seen.append(ctx.request.code), codes)
    gphoto2("--set-config", "autofocusdrive=1")
    # DoAf, then libgphoto2's EOS tear-down at exit (camera_unprepare_canon_eos_capture) lets
    # go with AfCancel, as the extension's close_session does.
    assert seen == [plan.press.code, plan.release.code]
    assert eos_state(served.camera).af_drives == 1
    del seen[:]
    gphoto2("--set-config", "autofocusdrive=0")
    assert seen == [plan.release.code, plan.release.code]  # the toggle's, then the tear-down's
    assert not eos_state(served.camera).focusing
