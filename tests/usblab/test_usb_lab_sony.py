"""Debian's gphoto2 against ptpkit's virtual Sony over real USB, in the USB lab's guest.

The virtual Sony is a FunctionFS gadget with Sony's vendor id and the product id libgphoto2's
models table gives the Alpha 7 III in PC Control mode (0x054C:0x0C34, "Sony Alpha-A7 III (PC
Control)"), so gphoto2 detects it on its own and drives it through its Sony code paths (the SDIO
handshake, 0x9209, SetControlDeviceB notches and buttons, 0xFFFFC001 / 0xFFFFC002), as over
PTP/IP in tests/interop/test_gphoto2_sony.py. The guest boot is the one the other gphoto2 gadget
tests share (conftest.py GPHOTO2_GADGET_SCRIPTS); after gphoto2, ptpkit's own client drives the
same gadget over the guest's USB stack. A missing lab skips on a developer's machine
and fails in CI.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from tests.usblab.conftest import GPHOTO2_GADGET_TIMEOUT, GadgetRun

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("usb-lab"),  # one worker: its guest boot is shared (conftest.py)
    pytest.mark.timeout(GPHOTO2_GADGET_TIMEOUT + 120),
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_gphoto2_drives_the_virtual_sony_over_usb(
    gphoto2_gadget_runs: dict[str, GadgetRun],
) -> None:
    card = gphoto2_gadget_runs["sony"].card
    on_host = {p.name: _sha(p.read_bytes()) for p in card.rglob("*") if p.is_file()}
    run = gphoto2_gadget_runs["sony"].run
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()

    # Sony's ids on the bus; gphoto2's table names the body in PC Control mode from them.
    assert [int(x, 16) for x in result["ids"]] == [0x054C, 0x0C34]
    assert "Sony Alpha-A7 III (PC Control)" in result["detect"]["out"], result["detect"]

    summary = result["summary"]
    assert summary["rc"] == 0, summary
    assert "Model: ILCE-7M3" in summary["out"]
    assert "Vendor Extension ID: 0x11" in summary["out"]
    # The Sony properties: from SDIO_GetExtDeviceInfo, their values from 0x9209.
    assert "ISO(0xd21e)" in summary["out"]

    listed = result["list_config"]["out"].split()
    for name in ("iso", "shutterspeed", "f-number", "exposurecompensation", "capturetarget"):
        assert any(entry.endswith("/" + name) for entry in listed), name
    for name, shown in (("iso", "800"), ("shutterspeed", "1/250")):
        assert result[f"set_{name}"]["rc"] == 0, result[f"set_{name}"]
        assert f"Current: {shown}\n" in result[f"get_{name}"]["out"], result[f"get_{name}"]
    assert result["values"] == {"0xd21e": 800, "0xd20d": 0x000100FA}

    capture = result["capture"]
    assert capture["rc"] == 0, capture
    produced = dict(result["produced"])
    assert list(produced) == ["DSC00001.JPG"]
    assert result["captured"] == {"capt0000.jpg": produced["DSC00001.JPG"]}
    # camera_sony_capture: half press, full press, release both; 0xFFFFC001 read only once
    # ObjectInMemory said the picture was there, and reading it emptied the memory.
    assert result["buttons"] == [[0xD2C1, 2], [0xD2C2, 2], [0xD2C2, 1], [0xD2C1, 1]]
    assert result["early_reads"] == 0
    assert result["in_memory"] == 0

    preview = result["preview"]
    assert preview["rc"] == 0, preview
    assert result["previewed"] == {"capture_preview.jpg": result["last_frame"]}

    listing = result["list"]
    assert listing["rc"] == 0, listing
    for name in on_host:
        assert re.search(rf"#\d+\s+{re.escape(name)}\s", listing["out"]), name
    assert result["get_all"]["rc"] == 0, result["get_all"]
    assert result["saved"] == on_host == result["card"], "gphoto2's downloads differ"

    # ptpkit's own client on the same gadget over the guest's USB stack (PyUSB): the sony
    # extension sets with SetControlDeviceA, captures into memory, takes a live-view frame.
    mine = result["ptpkit"]
    assert "error" not in mine, mine.get("error")
    assert mine["extensions"] == ["sony"]
    assert (mine["iso"], mine["iso_on_camera"]) == ("1600", 1600)
    assert mine["captured"] == mine["produced"]
    assert mine["frame"] == mine["last_frame"]
