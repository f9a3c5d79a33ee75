"""Runs inside the USB-lab guest (mode ffs): ptpkit's virtual Canon EOS as a FunctionFS gadget
with Canon's USB ids, and Debian's gphoto2 driving it over the guest's real USB stack.

The gadget runs in this process (so that what the camera produced can be compared with what
gphoto2 saved); gphoto2 runs as a separate program: --auto-detect, --summary, --list-config,
--get-config / --set-config of iso, aperture and shutterspeed, --capture-image-and-download to
the card (--keep) and to the computer, --wait-event=3s, --list-files, --get-all-files and
--capture-preview (live view). Prints
``RESULT {json}`` with what gphoto2 printed, SHA-256 of the files it saved and of the card's.
"""

import json

from gadget_common import CARD, WORK, gphoto2, saved, serve_gadget, sha

from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.canon_eos import eos_state


def main():
    result = {}
    with VirtualCamera(CARD, personality=personality_for("canon-eos")) as camera:
        gadget = serve_gadget(camera, result)
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
