"""Runs inside the USB-lab guest (mode ffs): ptpkit's virtual Canon PowerShot G3, which speaks
Canon's pre-PTP USB protocol (issue 16), as a FunctionFS gadget with the G3's USB ids
(0x04A9:0x306E, "Canon:PowerShot G3 (normal mode)" in libgphoto2's canon camlib), and Debian's
gphoto2 driving it with its ``canon`` driver over the guest's real USB stack: vendor control
requests on ep0, replies on bulk IN, capture news on interrupt IN.

The gadget runs in this process (so that what the camera holds can be compared with what gphoto2
saved); gphoto2 runs as a separate program: --auto-detect, --summary, --list-files,
--get-all-files, --get-all-thumbnails, --show-exif (the canon driver reads a JPEG's thumbnail
from its EXIF block), --delete-file, --upload-file, --capture-image and
--capture-image-and-download; then the same camera served by ``ptpkit virtual serve
--usb-gadget --model powershot-g3``. Prints
``RESULT {json}`` with what gphoto2 printed, SHA-256 of the files it saved and of the card's.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gadget_common import CARD, WORK, gphoto2, saved, sha, show_to_gphoto2

from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.ffs_powershot import PowerShotGadget
from ptpkit.virtual.powershot import CARD_CAPACITY_BYTES, PowerShotDevice

# The virtual model (second argument): powershot-g3 by default.
MODEL = sys.argv[2] if len(sys.argv) > 2 else "powershot-g3"
# The G3 runs every check; another model (the G2, class 1) those its protocol class changes
# (wake-up, identify, listing, downloads, thumbnails, delete, capture), not the model-blind EXIF
# view, the upload Debian's build refuses, nor the command-line server again (each gphoto2 run
# costs seconds in the emulated guest).
FULL = MODEL == "powershot-g3"
# An EOS body (the 350D, protocol class 6: libgphoto2's "new protocol" codes) runs a reduced
# script, as the guest boot is shared by every lab test: the listing, one download, a delete
# and a capture, plus the commands the camera saw (which codes the driver used).
REDUCED = MODEL.startswith("powershot-eos")


def card_files():
    return {str(p.relative_to(CARD)): sha(p.read_bytes()) for p in CARD.rglob("*") if p.is_file()}


def main():
    result = {}
    # Debian's libgphoto2 ships the canon camlib (the check the issue asks for).
    result["camlibs"] = sorted(p.name for p in Path("/usr/lib").glob("*/libgphoto2/*/canon.so"))
    listed = gphoto2("--list-cameras")["out"].splitlines()
    result["g3_models"] = [line.strip() for line in listed if "PowerShot G3" in line]
    with VirtualCamera(CARD, capacity_bytes=CARD_CAPACITY_BYTES) as camera:
        device = PowerShotDevice(camera, MODEL)
        gadget = show_to_gphoto2(PowerShotGadget(device, os.environ["FFS"]).start(), result)
        if REDUCED:
            reduced(device, result)
            gadget.close()
            print("RESULT " + json.dumps(result), flush=True)
            return
        result["summary"] = gphoto2("--summary")
        result["list"] = gphoto2("--list-files")
        result["card"] = card_files()

        downloads = WORK / "downloads"
        downloads.mkdir()
        result["get_all"] = gphoto2("--get-all-files", cwd=str(downloads))
        result["saved"] = saved(downloads)

        thumbs = WORK / "thumbs"
        thumbs.mkdir()
        result["thumbs_get"] = gphoto2("--get-all-thumbnails", cwd=str(thumbs))
        result["thumbs"] = saved(thumbs)
        if FULL:
            result["exif"] = gphoto2("--folder=/DCIM/100PTPKT", "--show-exif=1")

        result["delete"] = gphoto2("--folder=/DCIM/101PTPKT", "--delete-file=1")
        result["after_delete"] = card_files()

        if FULL:
            # Debian builds libgphoto2 without CANON_EXPERIMENTAL_UPLOAD: the driver says so.
            upload = WORK / "UPL_0009.JPG"
            upload.write_bytes(b"not for the camera" * 100)
            result["upload"] = gphoto2("--folder=/DCIM/100PTPKT", f"--upload-file={upload}")
            result["after_upload"] = card_files()

        result["capture"] = gphoto2("--capture-image")
        result["after_capture"] = card_files()
        captured = WORK / "captured"
        captured.mkdir()
        result["capture_download"] = gphoto2("--capture-image-and-download", cwd=str(captured))
        result["captured"] = {
            p.name: [len(p.read_bytes()), p.read_bytes()[:2].hex(), p.read_bytes()[-2:].hex()]
            for p in captured.iterdir()
        }
        result["after_capture_download"] = card_files()
        gadget.close()
    if FULL:
        result["cli"] = serve_from_the_command_line()
    print("RESULT " + json.dumps(result), flush=True)


def reduced(device, result):
    # The speed the guest's host side sees the camera at (a class 6 body is high speed).
    devices = Path("/sys/bus/usb/devices")
    result["speed"] = [
        (d / "speed").read_text().strip()
        for d in devices.iterdir()
        if (d / "idProduct").is_file() and (d / "idProduct").read_text().strip() == "30ee"
    ]
    result["list"] = gphoto2("--list-files")
    result["card"] = card_files()
    downloads = WORK / "downloads"
    downloads.mkdir()
    result["get_one"] = gphoto2("--folder=/DCIM/100PTPKT", "--get-file=1", cwd=str(downloads))
    result["saved"] = saved(downloads)
    result["delete"] = gphoto2("--folder=/DCIM/101PTPKT", "--delete-file=1")
    result["after_delete"] = card_files()
    result["capture"] = gphoto2("--capture-image")
    result["after_capture"] = card_files()
    result["commands"] = list(device.log)


def serve_from_the_command_line():
    """The same camera from ``ptpkit virtual serve --usb-gadget --model powershot-g3 --bind``,
    seen by gphoto2, then stopped with SIGTERM (as a service manager stops it)."""
    out = {}
    server = subprocess.Popen(
        [
            sys.executable, "-m", "ptpkit", "virtual", "serve", "--model", MODEL,
            "--usb-gadget", "--ffs", os.environ["FFS"], "--bind", os.environ["GADGET"],
            "--root", str(CARD),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out["detect"] = gphoto2("--auto-detect")
            if "usb:" in out["detect"]["out"]:
                break
            time.sleep(0.5)
        out["summary"] = gphoto2("--summary")
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=60)
    out["server"] = {"rc": server.returncode, "out": stdout, "err": stderr[-3000:]}
    out["udc_after"] = Path(os.environ["GADGET"], "UDC").read_text().strip()
    return out


if __name__ == "__main__":
    main()
