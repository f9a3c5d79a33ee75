"""Runs inside the USB-lab guest (mode ffs): ptpkit's virtual Canon PowerShot G3, which speaks
Canon's pre-PTP USB protocol (issue 16), as a FunctionFS gadget with the G3's USB ids
(0x04A9:0x306E, "Canon:PowerShot G3 (normal mode)" in libgphoto2's canon camlib), and Debian's
gphoto2 driving it with its ``canon`` driver over the guest's real USB stack: vendor control
requests on ep0, replies on bulk IN, capture news on interrupt IN.

The gadget runs in this process (so that what the camera holds can be compared with what gphoto2
saved); gphoto2 runs as a separate program: --auto-detect, --summary, --list-files,
--get-all-files, --get-all-thumbnails, --show-exif (the canon driver reads a JPEG's thumbnail
from its EXIF block), --delete-file, --capture-image and --capture-image-and-download. Prints
``RESULT {json}`` with what gphoto2 printed, SHA-256 of the files it saved and of the card's.
"""

import json
import os
from pathlib import Path

from gadget_common import CARD, WORK, gphoto2, saved, sha, show_to_gphoto2

from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.ffs_powershot import PowerShotGadget
from ptpkit.virtual.powershot import PowerShotDevice

MODEL = "powershot-g3"


def card_files():
    return {str(p.relative_to(CARD)): sha(p.read_bytes()) for p in CARD.rglob("*") if p.is_file()}


def main():
    result = {}
    # Debian's libgphoto2 ships the canon camlib (the check the issue asks for).
    result["camlibs"] = sorted(p.name for p in Path("/usr/lib").glob("*/libgphoto2/*/canon.so"))
    listed = gphoto2("--list-cameras")["out"].splitlines()
    result["g3_models"] = [line.strip() for line in listed if "PowerShot G3" in line]
    with VirtualCamera(CARD) as camera:
        device = PowerShotDevice(camera, MODEL)
        gadget = show_to_gphoto2(PowerShotGadget(device, os.environ["FFS"]).start(), result)
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
        result["exif"] = gphoto2("--folder=/DCIM/100PTPKT", "--show-exif=1")

        result["delete"] = gphoto2("--folder=/DCIM/101PTPKT", "--delete-file=1")
        result["after_delete"] = card_files()

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
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
