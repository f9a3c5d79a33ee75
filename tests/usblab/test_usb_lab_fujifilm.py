"""Debian's gphoto2 against ptpkit's virtual Fujifilm X-T2 over real USB, in the USB lab's guest.

The virtual X-T2 is a FunctionFS gadget with Fujifilm's vendor id and the X-T2's product id
(0x04CB:0x02CD, libgphoto2's "Fujifilm X-T2"), so gphoto2 detects it on its own and drives it
through its Fujifilm USB code paths: the tether preparation (0xD38C PC mode, 0xD207 priority),
"Drive Fuji Autofocus" (config.c _put_Fuji_AFDrive: shutter action 0xD208 = 0x9300 and
InitiateCapture, AF status 0xD209 polled, 0x0005 and InitiateCapture) and camera_fuji_capture
(0xD208 = 0x200 focus, 0x304 shoot). After gphoto2, ptpkit's own client half-presses and
captures on the same gadget over the guest's USB stack (as over PTP/IP in
tests/interop/test_gphoto2_fujifilm.py). A missing lab skips on a developer's machine and fails in
CI.
"""

from __future__ import annotations

import pytest
from tests.usblab.conftest import GPHOTO2_GADGET_TIMEOUT, GadgetRun

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("usb-lab"),  # one worker: its guest boot is shared (conftest.py)
    pytest.mark.timeout(GPHOTO2_GADGET_TIMEOUT + 120),
]

#: The exchange of a half press, as both clients send it: (operation, parameters, data hex).
AF_EXCHANGE = [
    [0x1016, [0xD208], "0093"],  # shutter action 0x9300: focus only
    [0x100E, [0, 0], ""],
    [0x1015, [0xD209], ""],  # AF status 1: focusing
    [0x1015, [0xD209], ""],  # 2: in focus
    [0x1016, [0xD208], "0500"],  # 0x0005: release the focus lock
    [0x100E, [0, 0], ""],
]


def test_gphoto2_and_ptpkit_half_press_the_virtual_fujifilm_over_usb(
    gphoto2_gadget_runs: dict[str, GadgetRun],
) -> None:
    run = gphoto2_gadget_runs["fuji-x"].run
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()

    # Fujifilm's ids on the bus; gphoto2's table names the body from them.
    assert [int(x, 16) for x in result["ids"]] == [0x04CB, 0x02CD]
    assert "Fujifilm X-T2" in result["detect"]["out"], result["detect"]
    summary = result["summary"]
    assert summary["rc"] == 0, summary
    assert "Model: X-T2" in summary["out"]
    assert "Vendor Extension ID: 0xe" in summary["out"]

    autofocus = result["autofocus"]
    assert autofocus["rc"] == 0, autofocus
    assert result["af_exchange"] == AF_EXCHANGE
    assert result["af_runs"] == 1
    assert result["pictures_after_af"] == 0  # focusing took no picture

    capture = result["capture"]
    assert capture["rc"] == 0, capture
    assert result["captured"] == dict(result["produced"][:1])
    # gphoto2 prepared the tether (PC mode, USB priority), focused with 0x200 and shot with
    # 0x304 (camera_fuji_capture), and gave the camera its priority back each time it left.
    log = [tuple(entry) for entry in result["set_log"]]
    assert (0xD208, 0x0200) in log
    assert log.index((0xD208, 0x0200)) < log.index((0xD208, 0x0304))
    assert (0xD38C, 1) in log
    assert log[-1] == (0xD207, 1)

    ours = result["ptpkit"]
    assert "error" not in ours, ours
    assert ours["extensions"] == ["fuji"]
    assert ours["half_press"] == ["Fujifilm AF drive", 0x100E]
    assert ours["exchange"] == AF_EXCHANGE  # ptpkit's half press is gphoto2's, byte for byte
    assert ours["captured"] == ours["produced"]
