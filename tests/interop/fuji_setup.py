"""The session set-up a Fujifilm body answers over Wi-Fi, added to the generic virtual camera.

A client of the Fujifilm variant (libgphoto2 ``library.c`` camera_init, ptp-ip
``FujiInitCommandDataConn``) sets InitSequence 0xDF01 to 5 (UINT16), reads AppVersion 0xDF24
(UINT32) and sets it back, then calls InitiateOpenCapture(0, 0) before it opens the event and
live-view connections. libgphoto2 gives up on the camera if any of these fails.

The Fujifilm personality of the virtual camera (``--model fuji-x``) answers these and much
more; this adds just these three to the generic camera, so that the wire tests here stand on
their own. The properties hold what is set (a value of the wrong size is refused, as the
generic camera refuses it) and are not listed in DeviceInfo; InitiateOpenCapture answers OK.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Final

from ptpkit.codes.common import Op, Rc
from ptpkit.virtual import GENERIC, Personality, VirtualCamera
from ptpkit.virtual.responder import Operation, OperationContext, Reply, error

INIT_SEQUENCE: Final = 0xDF01
APP_VERSION: Final = 0xDF24
#: The X-T1's AppVersion (ptp-ip PM_Fuji_AppVersion), what a client must echo back.
X_T1_APP_VERSION: Final = 0x00020001

_FORMATS: Final = {INIT_SEQUENCE: "<H", APP_VERSION: "<I"}


def install(camera: VirtualCamera) -> None:
    values = {INIT_SEQUENCE: 0, APP_VERSION: X_T1_APP_VERSION}
    #: Every value set, in order (tests check what the client sent).
    camera.fuji_set_log = []  # type: ignore[attr-defined]
    get, put = (
        camera.operations[Op.GET_DEVICE_PROP_VALUE],
        camera.operations[Op.SET_DEVICE_PROP_VALUE],
    )

    def get_value(ctx: OperationContext) -> Reply:
        code = ctx.param(0)
        if code in values:
            return Reply(data=struct.pack(_FORMATS[code], values[code]))
        return get.handler(ctx)

    def set_value(ctx: OperationContext) -> Reply:
        code = ctx.param(0)
        if code not in values:
            return put.handler(ctx)
        if len(ctx.data) != struct.calcsize(_FORMATS[code]):
            return error(Rc.INVALID_DEVICE_PROP_FORMAT)
        (values[code],) = struct.unpack(_FORMATS[code], ctx.data)
        camera.fuji_set_log.append((code, values[code]))  # type: ignore[attr-defined]
        return Reply()

    camera.operations[Op.GET_DEVICE_PROP_VALUE] = dataclasses.replace(get, handler=get_value)
    camera.operations[Op.SET_DEVICE_PROP_VALUE] = dataclasses.replace(put, handler=set_value)
    camera.operations[Op.INITIATE_OPEN_CAPTURE] = Operation(
        code=Op.INITIATE_OPEN_CAPTURE, handler=lambda ctx: Reply()
    )


#: The generic camera with the Fujifilm session set-up, served over the Fujifilm variant.
FUJI_SETUP: Final = dataclasses.replace(GENERIC, install=install, ptpip_variant="fuji")


def personality() -> Personality:
    return FUJI_SETUP
