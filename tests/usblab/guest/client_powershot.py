"""Runs inside the USB-lab guest (mode ffs): ptpkit's own client against ptpkit's virtual
PowerShot G3 as a FunctionFS gadget, through the guest kernel's USB stack and libusb: the
native API (``PowerShot.open("canon-usb:")``: identify, owner, time, drive, disk, power,
listing, downloads, thumbnail, upload, delete, capture) and the PTP gateway (``ptpkit.connect(
"canon-usb:")``: DeviceInfo, walk, downloads byte for byte, thumbnail, capture, upload).

The gadget is served by this process; the client runs as a child process of it (``--client``),
as another program would. Prints ``RESULT {json}`` with what the client saw and what the card
held before and after; the card is the folder the host copied in (first argument).
"""

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

CARD = Path(sys.argv[1] if len(sys.argv) > 1 else "/test/card")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def card_files():
    return {str(p.relative_to(CARD)): sha(p.read_bytes()) for p in CARD.rglob("*") if p.is_file()}


def client():
    import ptpkit
    from ptpkit.client.powershot import PowerShot

    out = {}
    with PowerShot.open("canon-usb:", timeout_s=20.0) as cam:
        out["model"] = cam.model
        out["firmware"] = cam.firmware
        cam.set_owner("USB lab")
        out["owner"] = cam.get_owner()
        when = dt.datetime(2024, 2, 29, 13, 14, 15)
        cam.set_time(when)
        out["time_error_s"] = abs((cam.get_time() - when).total_seconds())
        out["drive"] = cam.drive()
        space = cam.disk_space()
        out["disk"] = [space.capacity_bytes, space.free_bytes]
        out["power_ok"] = cam.power_status().ok
        entries = list(cam.walk())
        out["files"] = {e.path: e.size for e in entries if not e.is_dir}
        out["native_sha"] = {}
        for entry in entries:
            if not entry.is_dir:
                got = bytearray()
                cam.download(entry.path, got.extend)
                out["native_sha"][entry.path] = sha(bytes(got))
        thumb = bytearray()
        cam.download("D:\\DCIM\\100PTPKT\\IMG_0001.JPG", thumb.extend, thumbnail=True)
        out["thumb"] = [len(thumb), sha(bytes(thumb))]
        out["native_thumbnail"] = sha(cam.thumbnail("D:\\DCIM\\100PTPKT\\IMG_0001.JPG") or b"")
        # Upload (libgphoto2's experimental format): blocks on bulk OUT, then time and attributes.
        data = bytes((i * 7) % 251 for i in range(3 * 0x1400 + 77))
        entry = cam.upload(io.BytesIO(data), "D:\\DCIM\\100PTPKT", "UPL_0001.JPG")
        out["native_upload"] = [entry.path, entry.size, sha(data)]
        cam.delete("D:\\DCIM\\101PTPKT\\IMG_0101.JPG")
        out["deleted"] = "D:\\DCIM\\101PTPKT\\IMG_0101.JPG"
        shot = cam.capture(timeout_s=60.0)
        out["native_capture"] = [shot.path, shot.entry.size]
    with ptpkit.connect("canon-usb:") as cam:
        info = cam.device_info
        out["gateway"] = [info.manufacturer, info.model, info.device_version]
        out["url"] = cam.url
        work = Path(tempfile.mkdtemp())
        first = cam.find("/store_00010001/DCIM/100PTPKT/IMG_0001.JPG")
        out["gateway_thumb"] = sha(cam.thumbnail(first))
        out["gateway_sha"] = {}
        for entry in cam.walk():
            if not entry.is_folder:
                saved = cam.download(entry, work / f"{entry.handle}-{entry.name}")
                out["gateway_sha"][entry.path] = sha(saved.read_bytes())
        shots = cam.capture(timeout_s=60.0)
        out["gateway_capture"] = [shots[0].path, [event.name for event in shots.events]]
        source = work / "UPL_0002.TXT"
        source.write_bytes(b"uploaded through the PTP gateway " * 400)
        entry = cam.upload(source, folder=cam.find("/store_00010001/DCIM/101PTPKT"))
        out["gateway_upload"] = [entry.path, entry.size, sha(source.read_bytes())]
    print("CLIENT " + json.dumps(out), flush=True)


def main():
    from ptpkit.virtual import VirtualCamera
    from ptpkit.virtual.ffs_powershot import PowerShotGadget
    from ptpkit.virtual.powershot import CARD_CAPACITY_BYTES, PowerShotDevice

    result = {"card_before": card_files()}
    with VirtualCamera(CARD, capacity_bytes=CARD_CAPACITY_BYTES) as camera:
        gadget = PowerShotGadget(PowerShotDevice(camera, "powershot-g3"), os.environ["FFS"])
        gadget.start()
        result["udc"] = gadget.bind(os.environ["GADGET"])
        # No udev in the guest: wait until the kernel has the device.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "04a9:306e" not in _lsusb():
            time.sleep(0.5)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, __file__, str(CARD), "--client"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        result["client_s"] = round(time.monotonic() - started, 2)
        result["client_rc"] = done.returncode
        result["client_err"] = done.stderr[-3000:]
        for line in done.stdout.splitlines():
            if line.startswith("CLIENT "):
                result["client"] = json.loads(line[len("CLIENT ") :])
        result["card_after"] = card_files()
        gadget.close()
    print("RESULT " + json.dumps(result), flush=True)


def _lsusb():
    return subprocess.run(["lsusb"], capture_output=True, text=True, check=False).stdout


if __name__ == "__main__":
    if "--client" in sys.argv:
        try:
            client()
        except Exception:
            traceback.print_exc()
            sys.exit(1)
    else:
        main()
