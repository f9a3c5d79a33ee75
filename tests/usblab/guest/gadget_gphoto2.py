"""Runs inside the USB-lab guest (mode ffs): ptpkit's virtual camera as a FunctionFS gadget, and
Debian's gphoto2 talking to it over the guest's real USB stack (dummy_hcd).

Serves /test/card (copied in by the host), then runs gphoto2 --auto-detect, --summary,
--list-files, --get-all-files and --capture-image-and-download, and prints ``RESULT {json}``
with what gphoto2 printed and the SHA-256 of every file it saved.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The card to serve: the folder the host copied in (first argument), /test/card by default.
CARD = Path(sys.argv[1] if len(sys.argv) > 1 else "/test/card")
# Where gphoto2 saves files: a fresh folder of this run's own.
WORK = Path(tempfile.mkdtemp())


def gphoto2(*args, cwd=None):
    cwd = cwd or str(WORK)
    started = time.monotonic()
    done = subprocess.run(
        ["gphoto2", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    took = round(time.monotonic() - started, 2)  # seconds, for whoever looks into the lab's speed
    return {"rc": done.returncode, "out": done.stdout, "s": took, "err": done.stderr}


def main():
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ptpkit",
            "virtual",
            "serve",
            "--usb-gadget",
            "--ffs",
            os.environ["FFS"],
            "--bind",
            os.environ["GADGET"],
            "--root",
            str(CARD),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    result = {"server": []}
    for line in server.stdout:
        result["server"].append(line.rstrip())
        if line.startswith("bound "):
            break
    # No udev in the guest: wait until gphoto2 sees the camera.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        detect = gphoto2("--auto-detect")
        if "usb:" in detect["out"]:
            break
        time.sleep(0.5)
    result["detect"] = detect
    result["summary"] = gphoto2("--summary")
    result["list"] = gphoto2("--list-files")
    downloads = WORK / "downloads"
    downloads.mkdir()
    result["get_all"] = gphoto2("--get-all-files", cwd=str(downloads))
    result["saved"] = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in downloads.iterdir()
    }
    result["card"] = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in CARD.rglob("*") if p.is_file()
    }
    captures = WORK / "captures"
    captures.mkdir()
    result["capture"] = gphoto2("--capture-image-and-download", "--keep", cwd=str(captures))
    result["captured"] = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in captures.iterdir()
    }
    result["captured_on_card"] = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in CARD.rglob("IMG_0005.JPG")
    }
    server.terminate()
    server.wait(timeout=10)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
