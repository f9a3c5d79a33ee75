"""What the guest scripts that serve a vendor's virtual camera as a FunctionFS gadget to Debian's
gphoto2 share (gadget_gphoto2_eos.py, _nikon.py, _sony.py, _powershot.py). Copied into the
guest's /test beside them (tests/usblab/conftest.py), found there as the running script's
folder."""

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def serve_gadget(camera, result):
    """Serve ``camera`` as the gadget and wait until gphoto2 sees it; ``result`` gets the UDC,
    the USB ids on the bus and gphoto2's --auto-detect."""
    # The live-view picture's first frame loads Pillow, its font and draws the background:
    # seconds on the guest's emulated CPU under load, past gphoto2's 5 s USB timeout for the
    # preview's first read. Done before gphoto2 starts (a real body's sensor is ready).
    camera.live_picture.render(0, 0)
    return show_to_gphoto2(FunctionFsGadget(camera, os.environ["FFS"]).start(), result)


def show_to_gphoto2(gadget, result):
    """Bind the started ``gadget`` (a FunctionFsGadget or PowerShotGadget) and wait until
    gphoto2 sees it; ``result`` gets the UDC, the USB ids on the bus and gphoto2's
    --auto-detect."""
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
    return gadget
