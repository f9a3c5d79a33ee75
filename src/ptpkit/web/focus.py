"""Half-press (autofocus without a picture) where the camera's vendor has an operation for it.

The operations, by the camera's extension (facts from libgphoto2's camlibs/ptp2/config.c):

- Canon EOS: DoAf 0x9154, then AfCancel 0x9160 to let go (``_put_Canon_EOS_AutoFocus``);
- Nikon: AfDrive 0x90C1 (``_put_Nikon_AFDrive``); the camera answers DeviceBusy until it has
  focused, which the next operation's busy retries wait out, as libgphoto2's nikon_wait_busy.

Standard PTP has no half-press; a camera without one of these is told so (501).
"""

from __future__ import annotations

from typing import Final

from ptpkit.aio import Camera
from ptpkit.codes.common import Rc
from ptpkit.errors import OperationNotSupportedError, response_error_class

#: Extension name -> (the half-press operation, the release or None).
HALF_PRESS: Final = {
    "canon-eos": (0x9154, 0x9160),
    "nikon": (0x90C1, None),
}


def half_press_operations(cam: Camera) -> tuple[int, int | None] | None:
    """The camera's half-press and release operations, or None when it has none."""
    for name in cam.extension_names:
        found = HALF_PRESS.get(name)
        if found is not None and cam.supports(found[0]):
            return found
    return None


async def half_press(cam: Camera) -> None:
    """Focus as a half-pressed shutter button does, then let go."""
    operations = half_press_operations(cam)
    if operations is None:
        raise OperationNotSupportedError(
            Rc.OPERATION_NOT_SUPPORTED,
            name="OperationNotSupported",
            operation_name="half-press (autofocus)",
        )
    press, release = operations
    for code in (press, release):
        if code is None:
            continue
        result = await cam.transaction(code)
        if result.code != Rc.OK:
            raise response_error_class(result.code)(result.code, name=result.name, operation=code)
