"""Runs inside the USB-lab guest (mode ffs): ptpkit's virtual Canon EOS as a FunctionFS gadget
with Canon's USB ids, and Debian's gphoto2 driving it over the guest's real USB stack.

The gadget runs in this process (so that what the camera produced can be compared with what
gphoto2 saved); gphoto2 runs as a separate program: --auto-detect, --summary, --list-config,
--get-config / --set-config of iso, aperture and shutterspeed, --capture-image-and-download to
the card (--keep) and to the computer, --wait-event=3s, --list-files, --get-all-files and
--capture-preview (live view). Prints
``RESULT {json}`` with what gphoto2 printed, SHA-256 of the files it saved and of the card's.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.canon_eos import eos_state
from ptpkit.virtual.ffs_gadget import FunctionFsGadget

# The card to serve: the folder the host copied in (first argument), /test/card by default.
CARD = Path(sys.argv[1] if len(sys.argv) > 1 else "/test/card")
# Where gphoto2 saves files: a fresh folder of this run's own.
WORK = Path(tempfile.mkdtemp())


def sha(data):
    return hashlib.sha256(data).hexdigest()


def gphoto2(*args, cwd=None):
    cwd = cwd or str(WORK)
    started = time.monotonic()
    done = subprocess.run(
        ["gphoto2", *args], cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )
    took = round(time.monotonic() - started, 2)  # seconds, for whoever looks into the lab's speed
    return {"rc": done.returncode, "out": done.stdout, "s": took, "err": done.stderr[-3000:]}


def saved(folder):
    return {p.name: sha(p.read_bytes()) for p in folder.iterdir() if p.is_file()}


def main():
    result = {}
    with VirtualCamera(CARD, personality=personality_for("canon-eos")) as camera:
        # The live-view picture's first frame loads Pillow, its font and draws the background:
        # seconds on the guest's emulated CPU under load, past gphoto2's 5 s USB timeout for the
        # preview's first read. Done before gphoto2 starts (a real body's sensor is ready).
        camera.live_picture.render(0, 0)
        gadget = FunctionFsGadget(camera, os.environ["FFS"]).start()
        result["udc"] = gadget.bind(os.environ["GADGET"])
        gadget_dir = Path(os.environ["GADGET"])
        result["ids"] = [
            (gadget_dir / "idVendor").read_text().strip(),
            (gadget_dir / "idProduct").read_text().strip(),
        ]
        # No udev in the guest: wait until gphoto2 sees the camera.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            detect = gphoto2("--auto-detect")
            if "usb:" in detect["out"]:
                break
            time.sleep(0.5)
        result["detect"] = detect
        result["summary"] = gphoto2("--summary")
        result["list_config"] = gphoto2("--list-config")
        for name, value in (("iso", "800"), ("aperture", "4"), ("shutterspeed", "1/250")):
            result[f"set_{name}"] = gphoto2("--set-config", f"{name}={value}")
            result[f"get_{name}"] = gphoto2("--get-config", name)
        state = eos_state(camera)
        result["values"] = {hex(p): state.value(p) for p in (0xD103, 0xD101, 0xD102)}

        result["list"] = gphoto2("--list-files")
        downloads = WORK / "downloads"
        downloads.mkdir()
        result["get_all"] = gphoto2("--get-all-files", cwd=str(downloads))
        result["saved"] = saved(downloads)
        result["card"] = {p.name: sha(p.read_bytes()) for p in CARD.rglob("*") if p.is_file()}

        to_card = WORK / "to_card"
        to_card.mkdir()
        result["capture_card"] = gphoto2(
            "--set-config", "capturetarget=1", "--capture-image-and-download", "--keep",
            cwd=str(to_card),
        )  # fmt: skip
        result["captured_card"] = saved(to_card)
        result["card_after"] = {
            p.name: sha(p.read_bytes()) for p in CARD.rglob("IMG_0005.JPG") if p.is_file()
        }
        to_pc = WORK / "to_pc"
        to_pc.mkdir()
        result["capture_pc"] = gphoto2(
            "--set-config", "capturetarget=0", "--capture-image-and-download", cwd=str(to_pc)
        )
        result["captured_pc"] = saved(to_pc)
        result["produced"] = [[name, sha(data)] for name, data in state.captured]
        result["in_memory"] = len(state.in_memory)
        result["wait_event"] = gphoto2("--wait-event=3s")
        preview = WORK / "preview"
        preview.mkdir()
        result["preview"] = gphoto2("--capture-preview", cwd=str(preview))
        result["previewed"] = saved(preview)
        result["last_frame"] = sha(state.last_frame)
        gadget.close()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
