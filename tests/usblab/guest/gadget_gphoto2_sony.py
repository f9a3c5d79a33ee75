"""Runs inside the USB-lab guest (mode ffs): ptpkit's virtual Sony (ILCE-7M3 in PC Remote) as a
FunctionFS gadget with Sony's USB ids (0x054C:0x0C34, libgphoto2's "Sony Alpha-A7 III (PC
Control)"), and Debian's gphoto2 driving it over the guest's real USB stack.

gphoto2 runs as a separate program: --auto-detect, --summary, --list-config, --set-config /
--get-config of iso and shutterspeed, --capture-image-and-download, --capture-preview,
--list-files and --get-all-files. Prints ``RESULT {json}`` with what gphoto2 printed, SHA-256 of
the files it saved, of the card's and of what the camera produced.
"""

import json

from gadget_common import CARD, WORK, gphoto2, saved, serve_gadget, sha

from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.sony import sony_state


def ptpkit_client(state):
    """ptpkit's own client (PyUSB, the sony extension) on the same gadget, after gphoto2."""
    import ptpkit

    out = {}
    try:
        with ptpkit.connect("usb:054c:0c34") as cam:
            out["extensions"] = [ext.name for ext in cam.extensions]
            cam.set_property("iso", "1600")
            out["iso"] = cam.get_property_text("iso")
            out["iso_on_camera"] = state.value(0xD21E)
            (entry,) = cam.capture()
            out["captured"] = [entry.name, sha(cam.read(entry))]
            out["produced"] = [state.captured[-1][0], sha(state.captured[-1][1])]
            source = cam.live_view_source()
            source.start()
            frame = source.frame()
            source.stop()
            out["frame"] = sha(frame or b"")
            out["last_frame"] = sha(state.last_frame)
    except Exception as exc:  # reported to the host-side test, which fails on it
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def main():
    result = {}
    with VirtualCamera(CARD, personality=personality_for("sony")) as camera:
        state = sony_state(camera)
        gadget = serve_gadget(camera, result)
        result["summary"] = gphoto2("--summary")
        result["list_config"] = gphoto2("--list-config")
        for name, value in (("iso", "800"), ("shutterspeed", "1/250")):
            result[f"set_{name}"] = gphoto2("--set-config", f"{name}={value}")
            result[f"get_{name}"] = gphoto2("--get-config", name)
        result["values"] = {hex(p): state.value(p) for p in (0xD21E, 0xD20D)}

        capture = WORK / "capture"
        capture.mkdir()
        result["capture"] = gphoto2("--capture-image-and-download", cwd=str(capture))
        result["captured"] = saved(capture)
        result["produced"] = [[name, sha(data)] for name, data in state.captured]
        result["early_reads"] = state.early_reads
        result["in_memory"] = len(state.in_memory)
        result["buttons"] = [[code, raw] for op, code, raw in state.control_log if op == 0x9207
                             and code in (0xD2C1, 0xD2C2)]  # fmt: skip

        preview = WORK / "preview"
        preview.mkdir()
        result["preview"] = gphoto2("--capture-preview", cwd=str(preview))
        result["previewed"] = saved(preview)
        result["last_frame"] = sha(state.last_frame)

        result["list"] = gphoto2("--list-files")
        downloads = WORK / "downloads"
        downloads.mkdir()
        result["get_all"] = gphoto2("--get-all-files", cwd=str(downloads))
        result["saved"] = saved(downloads)
        result["card"] = {p.name: sha(p.read_bytes()) for p in CARD.rglob("*") if p.is_file()}
        result["ptpkit"] = ptpkit_client(state)
        gadget.close()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
