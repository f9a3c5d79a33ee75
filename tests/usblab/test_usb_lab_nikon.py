"""Debian's gphoto2 against ptpkit's virtual Nikon D850 over real USB, in the USB lab's guest.

The virtual Nikon is a FunctionFS gadget with Nikon's vendor id and the D850's product id
(0x04B0:0x0441, "Nikon:DSC D850" in libgphoto2's models table), so gphoto2 detects it as a
Nikon on its own and drives it through its Nikon code paths, as over PTP/IP in
tests/interop/test_gphoto2_nikon.py. It runs in the same guest boot as the other gphoto2 gadget
scripts (conftest.py). A missing lab skips on a developer's machine and fails in CI.
"""

from __future__ import annotations

import hashlib

import pytest
from tests.usblab.conftest import GPHOTO2_GADGET_TIMEOUT, GadgetRun

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("usb-lab"),  # one worker: its guest boot is shared (conftest.py)
    pytest.mark.timeout(GPHOTO2_GADGET_TIMEOUT + 120),
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_gphoto2_drives_the_virtual_nikon_over_usb(
    gphoto2_gadget_runs: dict[str, GadgetRun],
) -> None:
    card = gphoto2_gadget_runs["nikon"].card
    on_host = {p.name: _sha(p.read_bytes()) for p in card.rglob("*") if p.is_file()}
    run = gphoto2_gadget_runs["nikon"].run
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()

    # Nikon's ids on the bus, and gphoto2's table names the camera from them.
    assert [int(x, 16) for x in result["ids"]] == [0x04B0, 0x0441]
    assert "Nikon DSC D850" in result["detect"]["out"], result["detect"]
    assert "usb:" in result["detect"]["out"]

    summary = result["summary"]
    assert summary["rc"] == 0, summary
    assert "Model: D850" in summary["out"]
    assert "Vendor Extension ID: 0xa" in summary["out"]
    assert "Nikon Capture 2" in summary["out"]
    assert "Nikon Exposure Time(0xd100)" in summary["out"]  # from GetVendorPropCodes

    listed = result["list_config"]["out"].split()
    for name in ("iso", "shutterspeed", "shutterspeed2", "recordingmedia", "capturetarget"):
        assert any(entry.endswith("/" + name) for entry in listed), name
    for name in ("set_iso", "set_shutterspeed", "get"):
        assert result[name]["rc"] == 0, result[name]
    shown = result["get"]["out"]
    assert "Current: 800\n" in shown
    assert "Current: 0.0040s\n" in shown  # 0x500D, as libgphoto2 shows it
    assert "Current: 1/250\n" in shown  # 0xD100 followed it
    assert result["values"] == {"0x500f": 800, "0x500d": 40, "0xd100": 1 << 16 | 250}

    assert result["get_all"]["rc"] == 0, result["get_all"]
    assert result["saved"] == on_host == result["card"], "gphoto2's downloads differ"

    capture = result["capture_sdram"]
    assert capture["rc"] == 0, capture
    produced = dict(result["produced_sdram"])
    assert list(produced) == ["DSC_0001.JPG"]
    assert result["captured_sdram"] == {"capt0000.jpg": produced["DSC_0001.JPG"]}
    assert result["sdram_left"] is False  # gphoto2 deleted the SDRAM object after reading it

    capture = result["capture_card"]
    assert capture["rc"] == 0, capture
    assert "IMG_0005.JPG" in capture["out"]
    assert set(result["captured_card"]) == {"IMG_0005.JPG"}
    assert result["captured_card"] == result["card_after"], "the download differs from the card"

    preview = result["preview"]
    assert preview["rc"] == 0, preview
    assert result["previewed"] == {"capture_preview.jpg": result["last_frame"]}
    assert result["live_view_left_on"] is False
