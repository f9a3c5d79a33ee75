"""Runs inside the USB-lab guest: ptpkit's USB transport against a real USB device.

The device is QEMU's usb-mtp or Debian's umtprd gadget, seen through the guest kernel's USB stack
and PyUSB. Prints one line ``RESULT {json}`` for the host-side test to check.
Arguments: the camera's URL (``usb:VID:PID`` when the guest has several devices), the path to
upload into ("" for the top of the store), the name of a file to delete, then the sizes of the
files to upload.
"""

import hashlib
import json
import sys
import tempfile
import traceback
from pathlib import Path

import ptpkit


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> None:
    url, upload_folder, delete_name = ([*sys.argv[1:], "usb:", "", ""])[:3]
    sizes = [int(size) for size in sys.argv[4:]]
    out = {}
    work = Path(tempfile.mkdtemp())
    with ptpkit.connect(url) as cam:
        out["model"] = cam.device_info.model
        out["url"] = cam.url
        entries = list(cam.walk())
        out["files"] = {e.path: e.size for e in entries if not e.is_folder}
        out["sha"] = {}
        for entry in entries:
            if not entry.is_folder:
                saved = cam.download(entry, work / f"{entry.handle}-{entry.name}")
                out["sha"][entry.path] = sha(saved.read_bytes())
        folder = cam.find(upload_folder) if upload_folder else None
        out["uploaded"] = {}
        for size in sizes:
            name = f"up-{size}.bin"
            data = bytes((i * 7 + size) % 251 for i in range(size))
            source = work / name
            source.write_bytes(data)
            entry = cam.upload(source, folder=folder)
            out["uploaded"][name] = {"size": entry.size, "sha": sha(data), "path": entry.path}
        if delete_name:
            cam.delete(cam.find(delete_name))
            out["deleted"] = delete_name
        try:
            cam.object_info(0x7EADBEEF)
        except ptpkit.ResponseError as exc:
            out["error"] = [type(exc).__name__, exc.code, exc.name]
        # Still usable after the error: the session goes on.
        out["storages"] = [s.storage_id for s in cam.storages()]
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
