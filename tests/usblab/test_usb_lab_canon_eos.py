"""Debian's gphoto2 against ptpkit's virtual Canon EOS over real USB, in the USB lab's guest.

The virtual EOS is a FunctionFS gadget with Canon's vendor id and the EOS 6D's product id
(0x04A9:0x3250, an EOS entry of libgphoto2's models table), so gphoto2 detects it as a Canon EOS
on its own and drives it through its EOS code paths, as over PTP/IP in
tests/interop/test_gphoto2_canon_eos.py. A missing lab skips on a developer's machine and fails
in CI (tests/usblab/conftest.py).
"""

from __future__ import annotations

import hashlib
import re

import pytest
from tests.usblab.conftest import GPHOTO2_GADGET_TIMEOUT, GadgetRun

# A dozen gphoto2 runs, each much slower under emulation; a capture waits about 2 s for focus
# information in libgphoto2. The guest boot that runs them also runs test_usb_lab.py's gphoto2
# test (conftest.py): the first of the two to run waits for both.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("usb-lab"),  # one worker: its guest boot is shared (conftest.py)
    pytest.mark.timeout(GPHOTO2_GADGET_TIMEOUT + 120),
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_gphoto2_drives_the_virtual_eos_over_usb(gphoto2_gadget_runs: dict[str, GadgetRun]) -> None:
    # The card holds MVI_0002.MOV, 2 MiB + 11 bytes: read in several pieces. The guest served a
    # copy of it; the one on the host is as it was before the run.
    card = gphoto2_gadget_runs["canon-eos"].card
    on_host = {p.name: _sha(p.read_bytes()) for p in card.rglob("*") if p.is_file()}
    run = gphoto2_gadget_runs["canon-eos"].run
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()

    # Canon's ids on the bus, and gphoto2's table names the camera from them.
    assert [int(x, 16) for x in result["ids"]] == [0x04A9, 0x3250]
    assert "Canon EOS 6D" in result["detect"]["out"], result["detect"]
    assert "usb:" in result["detect"]["out"]

    summary = result["summary"]
    assert summary["rc"] == 0, summary
    assert "Model: Canon EOS 6D" in summary["out"]
    assert "Canon EOS Capture" in summary["out"]
    assert "Vendor Extension ID: 0xb" in summary["out"]

    listed = result["list_config"]["out"].split()
    for name in ("iso", "aperture", "shutterspeed", "imageformat", "capturetarget"):
        assert any(entry.endswith("/" + name) for entry in listed), name
    for name, shown in (("iso", "800"), ("aperture", "4"), ("shutterspeed", "1/250")):
        assert result[f"set_{name}"]["rc"] == 0, result[f"set_{name}"]
        assert f"Current: {shown}\n" in result[f"get_{name}"]["out"], result[f"get_{name}"]
    assert result["values"] == {"0xd103": 0x60, "0xd101": 0x28, "0xd102": 0x78}

    listing = result["list"]
    assert listing["rc"] == 0, listing
    for name in on_host:
        assert re.search(rf"#\d+\s+{re.escape(name)}\s", listing["out"]), name
    assert result["get_all"]["rc"] == 0, result["get_all"]
    assert result["saved"] == on_host == result["card"], "gphoto2's downloads differ"

    capture = result["capture_card"]
    assert capture["rc"] == 0, capture
    assert "IMG_0005.JPG" in capture["out"]
    assert set(result["captured_card"]) == {"IMG_0005.JPG"}
    assert result["captured_card"] == result["card_after"], "the download differs from the card"
    capture = result["capture_pc"]
    assert capture["rc"] == 0, capture
    produced = dict(result["produced"])
    assert list(produced) == ["IMG_0005.JPG", "IMG_0006.JPG"]
    assert result["captured_pc"] == {"capt0000.jpg": produced["IMG_0006.JPG"]}
    assert result["in_memory"] == 0  # TransferComplete freed the camera's memory

    events = result["wait_event"]
    assert events["rc"] == 0, events
    assert 'PTP Property d103 changed, "iso" to "800"' in events["out"]

    preview = result["preview"]
    assert preview["rc"] == 0, preview
    assert result["previewed"] == {"capture_preview.jpg": result["last_frame"]}
