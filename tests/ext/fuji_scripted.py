"""A scripted Fujifilm body for the client tests: the generic virtual camera with what
vendors.md section 4 and the Go ptpip tool's X-T1 traces say a Fujifilm answers, so the ``fuji``
extension runs through the real Camera, engine and transports (in-process, and the Fujifilm
PTP/IP variant on 127.0.0.1). Not the ``fuji-x`` personality (built independently, and tested by
tests/ext/test_fujifilm_virtual.py once it lands): only what these tests need.

- Session set-up: InitSequence 0xDF01 (u16), AppVersion 0xDF24 (u32, echoed), InitiateOpenCapture.
- 0x902B: ``u32 count`` + ``{u32 length, DevicePropDesc}`` of the writable properties.
- 0xD212: ``u16 count`` + ``{u16 code, u32 value}``; which properties depends on the exposure
  program (0x500E): manual lists shutter and aperture, aperture priority the aperture, shutter
  priority the shutter, program neither.
- InitiateCapture: events 0xC004, then 0xC001 (param 2 = the preview's size); GetCapturePreview
  0x9022 sends the preview and then 0x400D follows. While a preview is owed, InitiateCapture
  answers OK and does nothing (the camera "never fires again", ptp-ip FujiInitiateCapture).
- ``empty_info``: GetDeviceInfo answers an empty dataset (an X-T4 over Wi-Fi).
- Live view over the in-process link: handle 0x80000001 answers InvalidObjectHandle, then
  DeviceBusy, then the frame (library.c's retries).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from typing import Final

from ptpkit.codes.common import Ec, Op, Rc
from ptpkit.core.datasets import DeviceInfo, EnumerationForm
from ptpkit.core.datatypes import DataType
from ptpkit.core.fuji_datasets import StateEntry, encode_prop_desc_list, encode_state_list
from ptpkit.virtual import GENERIC, Personality, VirtualCamera
from ptpkit.virtual.imaging import render_jpeg_bytes
from ptpkit.virtual.properties import VirtualProperty
from ptpkit.virtual.responder import Operation, OperationContext, Reply, error

FILM, ISO, QUALITY, SIZE, BATTERY, SHUTTER = 0xD001, 0xD02A, 0xD018, 0xD241, 0xD242, 0xD240
PROGRAM, BIAS, DELAY, FNUMBER, WB = 0x500E, 0x5010, 0x5012, 0x5007, 0x5005
INIT_SEQUENCE, APP_VERSION, CURRENT_STATE = 0xDF01, 0xDF24, 0xD212
X_T1_APP_VERSION: Final = 0x00020001
LIVE_VIEW_HANDLE: Final = 0x80000001

SEED_ISO: Final = (
    0x80000190, 0x80000320, 0x80000640, 0x80000C80, 0x80001900, 0x40000064,
    200, 250, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000, 2500, 3200, 4000, 5000, 6400,
    0x40003200, 0x40006400, 0x4000C800,
)  # fmt: skip
SHUTTERS: Final = (125, 250, 500, 1000, 2000, 4000, 8000, 16667, 33333, 1_000_000, 0xFFFFFFFF)

#: What 0x902B describes (the writable ones), in this order.
DESCRIBED: Final = (DELAY, WB, BIAS, FILM, ISO, SHUTTER, QUALITY)


@dataclass
class FujiScript:
    """The scripted body's state, for tests to look at and to change."""

    camera: VirtualCamera
    empty_info: bool = False
    preview: bytes = b""
    preview_owed: bool = False
    captures: int = 0
    #: InitiateCapture requests that did nothing because a preview was owed.
    ignored_captures: int = 0
    #: (code, value) of every SetDevicePropValue, in order.
    set_log: list[tuple[int, int]] = field(default_factory=list)
    #: Operation codes in the order they came.
    ops: list[int] = field(default_factory=list)
    live_view_polls: int = 0
    last_handle: int = 0

    def state_codes(self) -> list[int]:
        program = self.camera.properties[PROGRAM].current()
        codes = [0x5001, PROGRAM, FILM, ISO, BIAS, WB, QUALITY, SIZE, BATTERY]
        if program in (1, 4):  # manual, shutter priority
            codes.append(SHUTTER)
        if program in (1, 3):  # manual, aperture priority
            codes.append(FNUMBER)
        return codes

    def state_list(self) -> bytes:
        props = self.camera.properties
        entries = []
        for code in self.state_codes():
            value = props[code].current()
            assert isinstance(value, int)
            entries.append(StateEntry(code=code, value=value & 0xFFFFFFFF))
        return encode_state_list(entries)


_SCRIPTS: dict[int, FujiScript] = {}


def script_of(camera: VirtualCamera) -> FujiScript:
    return _SCRIPTS[id(camera)]


def _enum(*values: int) -> EnumerationForm:
    return EnumerationForm(values=values)


def install(camera: VirtualCamera, *, empty_info: bool = False) -> None:
    script = FujiScript(camera=camera, empty_info=empty_info)
    script.preview = render_jpeg_bytes(
        title="preview", taken=_dt.datetime(2024, 5, 1, 12, 0), size=(160, 120), seed=7
    )
    _SCRIPTS[id(camera)] = script
    props = camera.properties._props
    for prop in (
        VirtualProperty(DELAY, DataType.UINT16, 0, 0, _enum(0, 1, 2, 3, 4)),
        VirtualProperty(WB, DataType.UINT16, 2, 2, _enum(2, 4, 6, 0x8001, 0x8006, 0x800B)),
        VirtualProperty(FILM, DataType.UINT16, 1, 2, _enum(*range(1, 0x11))),
        VirtualProperty(ISO, DataType.UINT32, 0xFFFFFFFF, 0x80001900, _enum(*SEED_ISO)),
        VirtualProperty(SHUTTER, DataType.UINT32, 0xFFFFFFFF, 4000, _enum(*SHUTTERS)),
        VirtualProperty(QUALITY, DataType.UINT16, 2, 4, _enum(2, 3, 4, 5, 6)),
        VirtualProperty(SIZE, DataType.UINT16, 0x0A, 0x0A, _enum(2, 6, 0x0A, 0x0B)),
        VirtualProperty(BATTERY, DataType.UINT16, 4, 3, writable=False),
        VirtualProperty(INIT_SEQUENCE, DataType.UINT16, 0, 0),
        VirtualProperty(APP_VERSION, DataType.UINT32, X_T1_APP_VERSION, X_T1_APP_VERSION),
    ):
        props[prop.code] = prop
    camera.property_codes = (
        0x5001, WB, FNUMBER, PROGRAM, BIAS, DELAY, FILM, QUALITY, ISO, SHUTTER, SIZE, BATTERY,
        CURRENT_STATE, INIT_SEQUENCE, APP_VERSION,
    )  # fmt: skip
    ops = camera.operations
    get, put, info_op = (
        ops[Op.GET_DEVICE_PROP_VALUE],
        ops[Op.SET_DEVICE_PROP_VALUE],
        ops[Op.GET_DEVICE_INFO],
    )
    get_info, get_object = ops[Op.GET_OBJECT_INFO], ops[Op.GET_OBJECT]

    def get_value(ctx: OperationContext) -> Reply:
        script.ops.append(Op.GET_DEVICE_PROP_VALUE)
        if ctx.param(0) == CURRENT_STATE:
            return Reply(data=script.state_list())
        return get.handler(ctx)

    def set_value(ctx: OperationContext) -> Reply:
        script.ops.append(Op.SET_DEVICE_PROP_VALUE)
        reply = put.handler(ctx)
        if reply.code == Rc.OK:
            value = camera.properties[ctx.param(0)].current()
            assert isinstance(value, int)
            script.set_log.append((ctx.param(0), value))
        return reply

    def device_info(ctx: OperationContext) -> Reply:
        if script.empty_info:
            return Reply(data=DeviceInfo().to_bytes())
        return info_op.handler(ctx)

    def fuji_device_info(ctx: OperationContext) -> Reply:
        script.ops.append(0x902B)
        descs = [camera.properties[code].desc() for code in DESCRIBED]
        return Reply(data=encode_prop_desc_list(descs))

    def initiate_capture(ctx: OperationContext) -> Reply:
        script.ops.append(Op.INITIATE_CAPTURE)
        if script.preview_owed:
            script.ignored_captures += 1
            return Reply()  # accepted, and nothing happens (ptp-ip)
        obj = camera.capture()
        script.captures += 1
        script.preview_owed = True
        tid = ctx.request.transaction_id
        size = len(script.preview)
        script.last_handle = obj.handle

        def announce() -> None:
            # ptp-ip's X-T1 trace: param 1 is the capture's transaction id, C001's param 2 the
            # preview's size.
            camera.emit(0xC004, tid, 0, transaction_id=tid)
            camera.emit(0xC001, tid, size, transaction_id=tid)

        return Reply(after=announce)

    def capture_preview(ctx: OperationContext) -> Reply:
        script.ops.append(0x9022)
        if not script.preview_owed:
            return error(Rc.ACCESS_DENIED)
        script.preview_owed = False
        tid = ctx.request.transaction_id
        # On a timer, not the reply's ``after``: the responder runs that of a reply with data
        # only when its output is advanced past the response, which may be the next request.
        camera.after(0.005, lambda: camera.emit(Ec.CAPTURE_COMPLETE, transaction_id=tid))
        return Reply(data=script.preview)

    def object_info(ctx: OperationContext) -> Reply:
        if ctx.param(0) != LIVE_VIEW_HANDLE:
            return get_info.handler(ctx)
        script.live_view_polls += 1
        if script.live_view_polls == 1:
            return error(Rc.INVALID_OBJECT_HANDLE)
        if script.live_view_polls == 2:
            return error(Rc.DEVICE_BUSY)
        return Reply(data=b"")  # not parsed by the client

    def live_object(ctx: OperationContext) -> Reply:
        if ctx.param(0) != LIVE_VIEW_HANDLE:
            return get_object.handler(ctx)
        return Reply(data=script.preview)

    def opened(ctx: OperationContext) -> Reply:
        script.ops.append(0x101C)
        return Reply()

    ops[Op.GET_DEVICE_PROP_VALUE] = dataclasses.replace(get, handler=get_value)
    ops[Op.SET_DEVICE_PROP_VALUE] = dataclasses.replace(put, handler=set_value)
    ops[Op.GET_DEVICE_INFO] = dataclasses.replace(info_op, handler=device_info)
    ops[Op.INITIATE_CAPTURE] = dataclasses.replace(
        ops[Op.INITIATE_CAPTURE], handler=initiate_capture
    )
    ops[Op.GET_OBJECT_INFO] = dataclasses.replace(get_info, handler=object_info)
    ops[Op.GET_OBJECT] = dataclasses.replace(get_object, handler=live_object)
    partial = ops[Op.GET_PARTIAL_OBJECT]

    def partial_object(ctx: OperationContext) -> Reply:
        script.ops.append(Op.GET_PARTIAL_OBJECT)  # a client should not use it (libgphoto2#653)
        return partial.handler(ctx)

    ops[Op.GET_PARTIAL_OBJECT] = dataclasses.replace(partial, handler=partial_object)
    ops[0x902B] = Operation(code=0x902B, handler=fuji_device_info)
    ops[0x9022] = Operation(code=0x9022, handler=capture_preview)
    ops[Op.INITIATE_OPEN_CAPTURE] = Operation(code=Op.INITIATE_OPEN_CAPTURE, handler=opened)


def personality(*, empty_info: bool = False) -> Personality:
    return dataclasses.replace(
        GENERIC,
        manufacturer="FUJIFILM",
        model="X-T1 (scripted)",
        vendor_extension_id=0x0000000E,
        vendor_extension_desc="",
        install=lambda camera: install(camera, empty_info=empty_info),
        ptpip_variant="fuji",
    )


def scripted_camera(*, empty_info: bool = False) -> tuple[VirtualCamera, FujiScript]:
    camera = VirtualCamera(personality=personality(empty_info=empty_info))
    return camera, script_of(camera)


__all__ = ["FujiScript", "personality", "script_of", "scripted_camera"]
