"""Runs inside the USB-lab guest (mode ffs): ptpkit's virtual Nikon D850 as a FunctionFS gadget
with Nikon's USB ids (0x04B0:0x0441, "Nikon:DSC D850" in libgphoto2's models table), and
Debian's gphoto2 driving it over the guest's real USB stack through its Nikon code paths.

The gadget runs in this process (so that what the camera produced can be compared with what
gphoto2 saved); gphoto2 runs as a separate program: --auto-detect, --summary, --list-config,
--get-config / --set-config of iso, shutterspeed and shutterspeed2, --capture-image-and-download
to the camera's memory (SDRAM, gphoto2's default) and to the card (--keep), --get-all-files and
--capture-preview (Nikon live view). Prints ``RESULT {json}`` with what gphoto2 printed, SHA-256
of the files it saved and of the card's.
"""

import json

from gadget_common import CARD, WORK, gphoto2, saved, serve_gadget, sha

from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.nikon import nikon_state


def main():
    result = {}
    with VirtualCamera(CARD, personality=personality_for("nikon")) as camera:
        gadget = serve_gadget(camera, result)
        result["summary"] = gphoto2("--summary")
        result["list_config"] = gphoto2("--list-config")
        for name, value in (("iso", "800"), ("shutterspeed", "1/250")):
            result[f"set_{name}"] = gphoto2("--set-config", f"{name}={value}")
        result["get"] = gphoto2(
            "--get-config", "iso", "--get-config", "shutterspeed", "--get-config", "shutterspeed2"
        )
        props = camera.properties
        result["values"] = {hex(p): props[p].current() for p in (0x500F, 0x500D, 0xD100)}

        downloads = WORK / "downloads"
        downloads.mkdir()
        result["get_all"] = gphoto2("--get-all-files", cwd=str(downloads))
        result["saved"] = saved(downloads)
        result["card"] = {p.name: sha(p.read_bytes()) for p in CARD.rglob("*") if p.is_file()}

        state = nikon_state(camera)
        to_sdram = WORK / "to_sdram"
        to_sdram.mkdir()
        result["capture_sdram"] = gphoto2("--capture-image-and-download", cwd=str(to_sdram))
        result["captured_sdram"] = saved(to_sdram)
        result["produced_sdram"] = [[name, sha(data)] for name, data in state.captured]
        result["sdram_left"] = state.sdram is not None
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
        preview = WORK / "preview"
        preview.mkdir()
        result["preview"] = gphoto2("--capture-preview", cwd=str(preview))
        result["previewed"] = saved(preview)
        result["last_frame"] = sha(state.last_frame)
        result["live_view_left_on"] = state.live_view
        gadget.close()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
