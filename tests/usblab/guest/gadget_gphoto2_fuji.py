"""Runs inside the USB-lab guest (mode ffs): ptpkit's virtual Fujifilm X-T2 (fuji-x) as a
FunctionFS gadget with Fujifilm's USB ids (0x04CB:0x02CD, libgphoto2's "Fujifilm X-T2"), and
Debian's gphoto2 driving it over the guest's real USB stack through its Fujifilm USB code paths:
--summary, --set-config autofocusdrive=1 (config.c _put_Fuji_AFDrive) and
--capture-image-and-download (library.c camera_fuji_capture). Then ptpkit's own client (PyUSB,
the fuji extension) half-presses and captures on the same gadget. Prints ``RESULT {json}``.
"""

import dataclasses
import json

from gadget_common import CARD, WORK, gphoto2, saved, serve_gadget, sha

from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual import fujifilm as xt

AF_EXCHANGE = (0x1015, 0x1016, 0x100E)


def watch(camera, into):
    """Record (operation, parameters, data) of the shutter action, AF status and
    InitiateCapture requests, in order."""
    for code in AF_EXCHANGE:
        operation = camera.operations[code]

        def watched(ctx, _handler=operation.handler):
            params = list(ctx.request.params)
            if ctx.request.code == 0x100E or (params and params[0] in (0xD208, 0xD209)):
                into.append([ctx.request.code, params, bytes(ctx.data or b"").hex()])
            return _handler(ctx)

        camera.operations[code] = dataclasses.replace(operation, handler=watched)


def ptpkit_client(state, exchange):
    """ptpkit's own client on the same gadget, after gphoto2."""
    import ptpkit

    out = {}
    try:
        with ptpkit.connect("usb:04cb:02cd") as cam:
            out["extensions"] = [ext.name for ext in cam.extensions]
            start = len(exchange)
            plan = cam.half_press()
            out["half_press"] = [plan.name, plan.press.code]
            out["exchange"] = exchange[start:]
            out["af_runs"] = state.af_runs
            (entry,) = cam.capture()
            out["captured"] = [entry.name, sha(cam.read(entry))]
            out["produced"] = [state.captured[-1][0], sha(state.captured[-1][1])]
    except Exception as exc:  # reported to the host-side test, which fails on it
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def main():
    result = {}
    with VirtualCamera(CARD, personality=personality_for("fuji-x")) as camera:
        state = xt.fuji_state(camera)
        exchange = []
        watch(camera, exchange)
        gadget = serve_gadget(camera, result)
        result["summary"] = gphoto2("--summary")
        start = len(exchange)
        result["autofocus"] = gphoto2("--set-config", "autofocusdrive=1")
        result["af_exchange"] = exchange[start:]
        result["af_runs"] = state.af_runs
        result["pictures_after_af"] = len(state.captured)
        capture = WORK / "capture"
        capture.mkdir()
        result["capture"] = gphoto2("--capture-image-and-download", cwd=str(capture))
        result["captured"] = saved(capture)
        result["produced"] = [[name, sha(data)] for name, data in state.captured]
        result["set_log"] = [[code, value] for code, value in state.set_log]
        result["ptpkit"] = ptpkit_client(state, exchange)
        gadget.close()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
