"""A virtual Nikon: the personality ``nikon`` (a D850) and the Nikon operations it answers.

What makes libgphoto2 drive a camera as a Nikon (camlibs/ptp2/library.c; vendors.md 2): the
Nikon vendor extension id 0x0000000A (or "Nikon" in the manufacturer, USB vendor id 0x04B0),
the Nikon operations in DeviceInfo, and GetVendorPropCodes 0x90CA, which lists the vendor
properties a Nikon DSLR does not put in DeviceInfo (library.c merges them). Then (vendors.md
2.1-2.6, 8):

- **events** are asked for: GetEvent 0x90C7 (u16 count + 6-byte records) and GetEventEx 0x941C
  (multi-parameter records) drain one queue per connection; nothing is pushed on the interrupt
  pipe or the PTP/IP event connection for them, as on Nikon USB bodies;
- **DeviceReady 0x90C8** answers DeviceBusy for a while after a capture, AfDrive or
  StartLiveView (:attr:`NikonState.busy_answers_after_capture`, ``..._after_live_view``, and
  a time in seconds, ``busy_after_capture_s``), OK otherwise;
- **capture**: InitiateCaptureRecInMedia 0x9207 (p1 0xFFFFFFFE = AF first, 0xFFFFFFFF = no AF;
  p2 1 = to SDRAM, 0 = to the card; without p2 the RecordingMedia property 0xD10B decides),
  InitiateCaptureRecInSdram 0x90C0 and AfCaptureSDRAM 0x90CB. To SDRAM the picture is object
  0xFFFF0001, announced by ObjectAddedInSDRAM 0xC101 and CaptureCompleteRecInSdram 0xC102, read
  with GetObjectInfo / GetObject / GetPartialObject and dropped by DeleteObject or
  DelImageSDRAM 0x90C3; to the card it is a new file, announced by ObjectAdded 0x4002 and
  CaptureComplete 0x400D. A capture while busy answers DeviceBusy;
- **properties** in Nikon's encodings (vendors.md 2.6): ExposureTime 0xD100 (num<<16|den, bulb,
  time) kept in step with the standard ExposureTime 0x500D, FNumber, ExposureIndex, exposure
  bias, white balance with Nikon's values, compression (JPEG Basic ... NEF+Fine), focus mode,
  RecordingMedia 0xD10B, LiveViewStatus 0xD1A2, LiveViewProhibitCondition 0xD1A4, the live-view
  AF mode 0xD061; a change is reported as DevicePropChanged in GetEvent;
- **live view**: StartLiveView 0x9201 (refused with InvalidStatus 0xA004 while 0xD1A4 has a
  refusing bit), GetLiveViewImg 0x9203 = 384-byte header + JPEG, NotLiveView 0xA00B when live
  view is off (also after :attr:`NikonState.live_view_frame_limit` frames, as a D7000 drops it),
  EndLiveView 0x9202;
- **large files**: GetObjectSize 0x9421 (u64) and GetPartialObjectEx 0x9431 (64-bit offset and
  length; the bytes sent as two response parameters).
"""

from __future__ import annotations

import collections
import datetime as _dt
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from ptpkit.codes.common import Ec, Ofc, Op, Rc
from ptpkit.core import nikon
from ptpkit.core.buffer import Writer
from ptpkit.core.datasets import EnumerationForm, ObjectInfo, RangeForm
from ptpkit.core.datatypes import DataType, Value
from ptpkit.core.nikon import LiveViewFrame, NikonEvent
from ptpkit.errors import UsageError
from ptpkit.virtual.camera import Personality, VirtualCamera
from ptpkit.virtual.content import BytesData, ObjectData
from ptpkit.virtual.imaging import render_jpeg_bytes
from ptpkit.virtual.operations import build_operations, settable_value
from ptpkit.virtual.properties import VirtualProperty
from ptpkit.virtual.responder import Operation, OperationContext, Reply, error

log = logging.getLogger("ptpkit.virtual")

# -- codes (codes/nikon.py; libgphoto2 ptp.h PTP_OC_NIKON_*) ---------------------------------------

INITIATE_CAPTURE_REC_IN_SDRAM: Final = 0x90C0
AF_DRIVE: Final = 0x90C1
CHANGE_CAMERA_MODE: Final = 0x90C2
DEL_IMAGE_SDRAM: Final = 0x90C3
GET_EVENT: Final = 0x90C7
DEVICE_READY: Final = 0x90C8
GET_VENDOR_PROP_CODES: Final = 0x90CA
AF_CAPTURE_SDRAM: Final = 0x90CB
START_LIVE_VIEW: Final = 0x9201
END_LIVE_VIEW: Final = 0x9202
GET_LIVE_VIEW_IMG: Final = 0x9203
MF_DRIVE: Final = 0x9204
CHANGE_AF_AREA: Final = 0x9205
AF_DRIVE_CANCEL: Final = 0x9206
INITIATE_CAPTURE_REC_IN_MEDIA: Final = 0x9207
GET_EVENT_EX: Final = 0x941C
GET_OBJECT_SIZE: Final = 0x9421
GET_PARTIAL_OBJECT_EX: Final = 0x9431

#: Nikon response codes (ptp.h PTP_RC_NIKON_*).
INVALID_STATUS: Final = 0xA004
NOT_LIVE_VIEW: Final = 0xA00B

#: Nikon event codes (ptp.h PTP_EC_Nikon_*).
OBJECT_ADDED_IN_SDRAM: Final = 0xC101
CAPTURE_COMPLETE_REC_IN_SDRAM: Final = 0xC102

#: Nikon properties (ptp.h PTP_DPC_NIKON_*).
AF_MODE_LIVE_VIEW_PROP: Final = 0xD061
SHUTTER_PROP: Final = 0xD100
RECORDING_MEDIA_PROP: Final = 0xD10B
LIVE_VIEW_STATUS_PROP: Final = 0xD1A2
LIVE_VIEW_PROHIBIT_PROP: Final = 0xD1A4

#: 0x9207's first parameter: focus first, or not (vendors.md 2.3).
AF_FIRST: Final = 0xFFFFFFFE
NO_AF: Final = 0xFFFFFFFF
#: The handle of a picture in the camera's memory (library.c: "SDRAM image handle").
SDRAM_HANDLE: Final = 0xFFFF0001
#: RecordingMedia 0xD10B: 0 the card, 1 SDRAM (the computer).
MEDIA_CARD: Final = 0
MEDIA_SDRAM: Final = 1

LIVE_VIEW_SIZE: Final = (640, 424)
LIVE_VIEW_HEADER_BYTES: Final = 384
#: Events waiting for one connection; older ones are dropped beyond this (a host that never
#: asks must not grow the camera's memory).
MAX_QUEUED_EVENTS: Final = 1024
KEEP_CAPTURED: Final = 16
#: The battery level the generic virtual camera reports too.
BATTERY_PERCENT: Final = 87
#: StillCaptureMode 0x5013's self-timer (vendors.md 2.6) and the delay this body uses.
SELF_TIMER: Final = 0x8011
SELF_TIMER_S: Final = 10.0

#: Nikon's shutter speeds (num<<16|den) and the standard ExposureTime (0.0001 s) of each.
_SPEEDS: Final = (
    (1, 8000), (1, 4000), (1, 2000), (1, 1000), (1, 500), (1, 250), (1, 125), (1, 60),
    (1, 30), (1, 15), (1, 8), (1, 4), (10, 25), (1, 2), (1, 1), (13, 10), (2, 1), (30, 1),
)  # fmt: skip
SHUTTER_VALUES: Final = (*(num << 16 | den for num, den in _SPEEDS), nikon.BULB, nikon.TIME)


def exposure_time_of(value: int) -> int:
    """0xD100's value as the standard ExposureTime (0.0001 s); 0xFFFFFFFF for bulb and time."""
    if value in (nikon.BULB, nikon.TIME, nikon.FLASH_SYNC):
        return 0xFFFFFFFF
    num, den = value >> 16, value & 0xFFFF
    return round(num * 10000 / den) if den else 0xFFFFFFFF


#: Image quality (compression 0x5004, u8): libgphoto2 config.c's Nikon table.
COMPRESSION: Final = {0: "JPEG Basic", 1: "JPEG Normal", 2: "JPEG Fine", 4: "NEF (Raw)",
                      5: "NEF+Basic", 6: "NEF+Normal", 7: "NEF+Fine"}  # fmt: skip
#: White balance (0x5005): the standard values and Nikon's own (config.c).
WHITE_BALANCE: Final = {2: "Auto", 4: "Daylight", 5: "Fluorescent", 6: "Tungsten", 7: "Flash",
                        0x8010: "Cloudy", 0x8011: "Shade", 0x8012: "Color Temperature",
                        0x8013: "Preset"}  # fmt: skip
#: Focus mode (0x500A): standard manual / automatic and Nikon's AF-S, AF-C, AF-A.
FOCUS_MODE: Final = {1: "Manual", 2: "Automatic", 0x8010: "AF-S", 0x8011: "AF-C",
                     0x8012: "AF-A"}  # fmt: skip
#: AF mode in live view (0xD061, u8): vendors.md 2.6.
LIVE_VIEW_AF_MODE: Final = {0: "AF-S", 1: "AF-C", 4: "MF"}


@dataclass
class MemoryObject:
    """A picture in the camera's SDRAM, waiting for the host."""

    name: str
    data: bytes
    created: _dt.datetime


class NikonState:
    """The Nikon side of one virtual camera: event queues, busy periods, SDRAM, live view."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._queues: weakref.WeakKeyDictionary[object, list[NikonEvent]] = (
            weakref.WeakKeyDictionary()
        )
        #: DeviceReady answers DeviceBusy this many more times (then while busy_until lasts).
        self.busy_answers = 0
        self.busy_until = 0.0
        #: Busy answers and seconds after a capture / AfDrive, and after StartLiveView.
        self.busy_answers_after_capture = 2
        self.busy_after_capture_s = 0.0
        self.busy_answers_after_live_view = 1
        #: The next this-many capture operations answer DeviceBusy (a body still writing).
        self.refuse_captures = 0
        #: The picture in SDRAM (one at a time, as libgphoto2 reads 0xFFFF0001).
        self.sdram: MemoryObject | None = None
        #: The last pictures taken, as (name, bytes), wherever they went.
        self.captured: collections.deque[tuple[str, bytes]] = collections.deque(
            maxlen=KEEP_CAPTURED
        )
        self.last_number = 0
        self.pc_mode = 0
        self.af_drives = 0
        #: Live view: on or off, frames served, the last frame's JPEG, and after how many
        #: frames the camera drops it (None: never).
        self.live_view = False
        self.frames = 0
        self.last_frame = b""
        self.live_view_frame_limit: int | None = None
        #: The live-view header's size: 384 (D800/D600/D500 and later) or 64 (D3X/D700/D90).
        self.live_view_header_bytes = LIVE_VIEW_HEADER_BYTES
        #: LiveViewProhibitCondition 0xD1A4 (tests set the refusal bits).
        self.prohibit = 0
        self.clock: Callable[[], float] = time.monotonic

    # -- events ------------------------------------------------------------------------------------

    def queue(self, camera: VirtualCamera, *events: NikonEvent) -> None:
        """Tell every connection, at its next GetEvent."""
        # The camera's list first, outside this lock: a picture is queued under the camera's
        # lock, so taking the two the other way round here could deadlock.
        sessions = camera.sessions
        with self.lock:
            for session in sessions:
                waiting = self._queues.setdefault(session, [])
                waiting.extend(events)
                del waiting[:-MAX_QUEUED_EVENTS]

    def take(self, session: object) -> list[NikonEvent]:
        with self.lock:
            waiting = self._queues.get(session, [])
            self._queues[session] = []
            return waiting

    # -- busy --------------------------------------------------------------------------------------

    def make_busy(self, answers: int, seconds: float = 0.0) -> None:
        with self.lock:
            self.busy_answers = max(self.busy_answers, answers)
            self.busy_until = max(self.busy_until, self.clock() + seconds)

    def busy(self) -> bool:
        """Whether the camera is busy now (counts one busy answer)."""
        with self.lock:
            if self.busy_answers > 0:
                self.busy_answers -= 1
                return True
            return self.clock() < self.busy_until


_STATES: weakref.WeakKeyDictionary[VirtualCamera, NikonState] = weakref.WeakKeyDictionary()


def nikon_state(camera: VirtualCamera) -> NikonState:
    """The Nikon side of a camera made with the ``nikon`` personality (KeyError if not)."""
    return _STATES[camera]


# -- properties ------------------------------------------------------------------------------------


def _enum(*values: Value) -> EnumerationForm:
    return EnumerationForm(values=tuple(values))


def _properties(camera: VirtualCamera, state: NikonState) -> list[VirtualProperty]:
    clock = camera.properties.clock
    thirds = tuple(round(stop * 1000 / 3) for stop in range(-15, 16))  # -5 .. +5 EV
    start_speed = 1 << 16 | 125
    shutter = VirtualProperty(SHUTTER_PROP, DataType.UINT32, start_speed, start_speed,
                              _enum(*SHUTTER_VALUES))  # fmt: skip
    exposure_times = tuple(
        sorted({exposure_time_of(v) for v in SHUTTER_VALUES if exposure_time_of(v) != 0xFFFFFFFF})
    )
    exposure = VirtualProperty(0x500D, DataType.UINT32, 80, 80, _enum(*exposure_times))

    def set_shutter(value: Value) -> bool:
        # One shutter, two properties: the standard one follows Nikon's (bulb / time have no
        # standard value: it keeps its last).
        assert isinstance(value, int)
        shutter.value = value
        if exposure_time_of(value) != 0xFFFFFFFF:
            exposure.value = exposure_time_of(value)
        return True

    def set_exposure(value: Value) -> bool:
        assert isinstance(value, int)
        for speed in SHUTTER_VALUES:
            if exposure_time_of(speed) == value:
                shutter.value = speed
                exposure.value = value
                return True
        return False

    shutter.write_hook = set_shutter
    exposure.write_hook = set_exposure
    return [
        VirtualProperty(
            0x5001,
            DataType.UINT8,
            100,
            BATTERY_PERCENT,
            RangeForm(minimum=0, maximum=100, step=1),
            writable=False,
        ),
        VirtualProperty(
            0x5003,
            DataType.STR,
            "8256x5504",
            "8256x5504",
            _enum("8256x5504", "6192x4128", "4128x2752"),
        ),
        VirtualProperty(0x5004, DataType.UINT8, 2, 2, _enum(*COMPRESSION)),
        VirtualProperty(0x5005, DataType.UINT16, 2, 2, _enum(*WHITE_BALANCE)),
        VirtualProperty(
            0x5007, DataType.UINT16, 560, 560, _enum(180, 280, 400, 560, 800, 1100, 1600, 2200)
        ),
        VirtualProperty(0x5008, DataType.UINT32, 5000, 5000, writable=False),
        VirtualProperty(0x500A, DataType.UINT16, 0x8010, 0x8010, _enum(*FOCUS_MODE)),
        VirtualProperty(0x500B, DataType.UINT16, 2, 2, _enum(2, 3, 4)),
        exposure,
        VirtualProperty(0x500E, DataType.UINT16, 1, 1, _enum(1, 2, 3, 4)),
        VirtualProperty(
            0x500F, DataType.UINT16, 200, 200, _enum(100, 200, 400, 800, 1600, 3200, 6400)
        ),
        VirtualProperty(0x5010, DataType.INT16, 0, 0, EnumerationForm(values=thirds)),
        VirtualProperty(0x5011, DataType.STR, "", "", read_hook=clock.read, write_hook=clock.write),
        VirtualProperty(0x5013, DataType.UINT16, 1, 1, _enum(1, 2, 0x8010, 0x8011, 0x8016)),
        VirtualProperty(0xD402, DataType.STR, camera.personality.model, camera.personality.model),
        # Nikon's own (listed by GetVendorPropCodes, not DeviceInfo).
        VirtualProperty(AF_MODE_LIVE_VIEW_PROP, DataType.UINT8, 0, 0, _enum(*LIVE_VIEW_AF_MODE)),
        shutter,
        VirtualProperty(
            RECORDING_MEDIA_PROP,
            DataType.UINT8,
            MEDIA_SDRAM,
            MEDIA_SDRAM,
            _enum(MEDIA_CARD, MEDIA_SDRAM),
        ),
        VirtualProperty(
            LIVE_VIEW_STATUS_PROP,
            DataType.UINT8,
            0,
            0,
            writable=False,
            read_hook=lambda: int(state.live_view),
        ),
        VirtualProperty(
            LIVE_VIEW_PROHIBIT_PROP,
            DataType.UINT32,
            0,
            0,
            writable=False,
            read_hook=lambda: state.prohibit,
        ),
    ]


def vendor_prop_codes(camera: VirtualCamera) -> tuple[int, ...]:
    """What GetVendorPropCodes lists: the camera's 0xDxxx properties (not MTP's 0xD4xx)."""
    return tuple(code for code in camera.properties.codes() if 0xD000 <= code < 0xD400)


# -- pictures --------------------------------------------------------------------------------------


def _exif(camera: VirtualCamera) -> tuple[tuple[int, int] | None, tuple[int, int], int]:
    props = camera.properties
    speed = props[SHUTTER_PROP].current()
    exposure = None
    if isinstance(speed, int) and speed not in (nikon.BULB, nikon.TIME):
        exposure = (speed >> 16, speed & 0xFFFF)
    f_number = props[0x5007].current()
    iso = props[0x500F].current()
    return (
        exposure,
        (f_number if isinstance(f_number, int) else 560, 100),
        (iso if isinstance(iso, int) else 100),
    )


def _take_to_sdram(camera: VirtualCamera, state: NikonState) -> None:
    state.last_number = state.last_number % 9999 + 1
    name = f"DSC_{state.last_number:04d}.JPG"
    exposure, f_number, iso = _exif(camera)
    taken = camera.properties.clock.now()
    data = render_jpeg_bytes(
        title=f"ptpkit Nikon  {name}",
        taken=taken,
        seed=3000 + state.last_number,
        model=camera.personality.model,
        make=camera.personality.manufacturer,
        exposure=exposure,
        f_number=f_number,
        iso=iso,
    )
    state.sdram = MemoryObject(name=name, data=data, created=taken)
    state.captured.append((name, data))
    state.queue(
        camera,
        NikonEvent(code=OBJECT_ADDED_IN_SDRAM, params=(SDRAM_HANDLE,)),
        NikonEvent(code=CAPTURE_COMPLETE_REC_IN_SDRAM, params=(0,)),
    )


def _take_to_card(camera: VirtualCamera, state: NikonState) -> int:
    store = camera.stores[min(camera.stores)]
    if store.read_only:
        return Rc.STORE_READ_ONLY
    before = set(store.objects)
    try:
        obj = camera.capture()  # a JPEG in the card's capture folder (the EXIF from 0x500D...)
    except OSError as exc:
        log.warning("virtual Nikon: capture to the card failed: %s", exc)
        return Rc.STORE_FULL
    state.captured.append((obj.name, store.path_of(obj).read_bytes()))
    events = [
        NikonEvent(code=Ec.OBJECT_ADDED, params=(handle,))
        for handle in sorted(set(store.objects) - before - {obj.handle})
    ]  # a folder made for the picture first
    events.append(NikonEvent(code=Ec.OBJECT_ADDED, params=(obj.handle,)))
    events.append(NikonEvent(code=Ec.CAPTURE_COMPLETE, params=(0,)))
    state.queue(camera, *events)
    return Rc.OK


# -- operations ------------------------------------------------------------------------------------


def _operations(camera: VirtualCamera, state: NikonState) -> dict[int, Operation]:
    generic = build_operations()

    def fallback(code: int, ctx: OperationContext) -> Reply:
        return generic[code].handler(ctx)

    def ok(ctx: OperationContext) -> Reply:
        return Reply()

    # -- events, readiness, mode ---------------------------------------------------------------

    def get_event(ctx: OperationContext) -> Reply:
        return Reply(data=nikon.encode_get_event(state.take(ctx.session)))

    def get_event_ex(ctx: OperationContext) -> Reply:
        return Reply(data=nikon.encode_get_event_ex(state.take(ctx.session)))

    def device_ready(ctx: OperationContext) -> Reply:
        return error(Rc.DEVICE_BUSY) if state.busy() else Reply()

    def change_camera_mode(ctx: OperationContext) -> Reply:
        state.pc_mode = ctx.param(0)
        return Reply()

    def get_vendor_prop_codes(ctx: OperationContext) -> Reply:
        writer = Writer()
        writer.uint16_array(list(vendor_prop_codes(camera)))
        return Reply(data=writer.getvalue())

    def af_drive(ctx: OperationContext) -> Reply:
        state.af_drives += 1
        state.make_busy(state.busy_answers_after_capture)
        return Reply()

    # -- properties: changes reported in GetEvent, not pushed -----------------------------------

    def set_prop_value(ctx: OperationContext) -> Reply:
        value = settable_value(ctx)
        if isinstance(value, Reply):
            return value
        code = ctx.param(0)
        prop = camera.properties[code]
        before = prop.current()
        if not prop.set(value):
            return error(Rc.INVALID_DEVICE_PROP_VALUE)
        if prop.current() != before:
            changed = [code]
            if code == SHUTTER_PROP:
                changed.append(0x500D)
            elif code == 0x500D:
                changed.append(SHUTTER_PROP)
            state.queue(
                camera, *(NikonEvent(code=Ec.DEVICE_PROP_CHANGED, params=(c,)) for c in changed)
            )
        return Reply()

    # -- capture -------------------------------------------------------------------------------

    def shoot(*, to_sdram: bool, autofocus: bool) -> Reply:
        if state.refuse_captures > 0:
            state.refuse_captures -= 1
            return error(Rc.DEVICE_BUSY)
        if state.busy():
            return error(Rc.DEVICE_BUSY)
        if autofocus and state.live_view:
            # libgphoto2: "if in liveview mode, we have to run non-af capture".
            return error(INVALID_STATUS)
        if camera.properties[0x5013].current() == SELF_TIMER:
            # The picture follows the self-timer; DeviceReady answers busy until then.
            state.make_busy(state.busy_answers_after_capture, SELF_TIMER_S)

            def shoot_later() -> None:
                with camera.lock:
                    take(to_sdram=to_sdram)

            camera.after(SELF_TIMER_S, shoot_later)
            return Reply()
        code = take(to_sdram=to_sdram)
        if code != Rc.OK:
            return error(code)
        state.make_busy(state.busy_answers_after_capture, state.busy_after_capture_s)
        return Reply()

    def take(*, to_sdram: bool) -> int:
        if to_sdram:
            _take_to_sdram(camera, state)
            return Rc.OK
        return _take_to_card(camera, state)

    def capture_in_media(ctx: OperationContext) -> Reply:
        af = ctx.param(0, NO_AF)
        if af not in (AF_FIRST, NO_AF):
            return error(Rc.INVALID_PARAMETER)
        media = ctx.param(1) if len(ctx.request.params) >= 2 else None
        if media is None:
            current = camera.properties[RECORDING_MEDIA_PROP].current()
            media = current if isinstance(current, int) else MEDIA_CARD
        if media not in (MEDIA_CARD, MEDIA_SDRAM):
            return error(Rc.INVALID_PARAMETER)
        return shoot(to_sdram=media == MEDIA_SDRAM, autofocus=af == AF_FIRST)

    def capture_in_sdram(ctx: OperationContext) -> Reply:
        return shoot(to_sdram=True, autofocus=False)

    def af_capture_sdram(ctx: OperationContext) -> Reply:
        return shoot(to_sdram=True, autofocus=True)

    # -- the SDRAM picture beside the card's objects -------------------------------------------

    def held(handle: int) -> MemoryObject | None:
        return state.sdram if handle == SDRAM_HANDLE else None

    def object_info(ctx: OperationContext) -> Reply:
        picture = held(ctx.param(0))
        if picture is None:
            return fallback(Op.GET_OBJECT_INFO, ctx)
        stamp = picture.created.strftime("%Y%m%dT%H%M%S")
        info = ObjectInfo(
            storage_id=0,  # not on a card (libgphoto2 takes 0 as 0x00010001 for the path)
            object_format=Ofc.EXIF_JPEG,
            parent_object=0,
            filename=picture.name,
            compressed_size=len(picture.data),
            capture_date=stamp,
            modification_date=stamp,
        )
        return Reply(data=info.to_bytes())

    def whole(ctx: OperationContext) -> Reply:
        picture = held(ctx.param(0))
        return fallback(Op.GET_OBJECT, ctx) if picture is None else Reply(data=picture.data)

    def content(handle: int) -> ObjectData | Reply:
        picture = held(handle)
        if picture is not None:
            return BytesData(picture.data)
        found = camera.find(handle)
        if found is None:
            return error(Rc.INVALID_OBJECT_HANDLE)
        store, obj = found
        if obj.is_folder:
            return error(Rc.INVALID_OBJECT_HANDLE)
        return store.open_data(obj)

    def partial(ctx: OperationContext, offset: int, max_bytes: int, *, wide: bool) -> Reply:
        data = content(ctx.param(0))
        if isinstance(data, Reply):
            return data
        if offset > data.size:
            return error(Rc.INVALID_PARAMETER)
        length = min(max_bytes, data.size - offset)
        # GetPartialObjectEx answers the bytes sent as two 32-bit halves (ptp.c, vendors.md 2.5).
        params = (length & 0xFFFFFFFF, length >> 32) if wide else (length,)
        return Reply(params=params, data=data, offset=offset, length=length)

    def get_partial(ctx: OperationContext) -> Reply:
        return partial(ctx, ctx.param(1), ctx.param(2), wide=False)

    def get_partial_ex(ctx: OperationContext) -> Reply:
        # (handle, offset low, offset high, max low, max high): ptp.c ptp_nikon_getpartialobjectex.
        offset = ctx.param(1) | ctx.param(2) << 32
        return partial(ctx, offset, ctx.param(3) | ctx.param(4) << 32, wide=True)

    def get_object_size(ctx: OperationContext) -> Reply:
        data = content(ctx.param(0))
        if isinstance(data, Reply):
            return data
        return Reply(data=nikon.encode_object_size(data.size))

    def delete(ctx: OperationContext) -> Reply:
        if held(ctx.param(0)) is not None:
            state.sdram = None
            return Reply()
        return fallback(Op.DELETE_OBJECT, ctx)

    def del_image_sdram(ctx: OperationContext) -> Reply:
        if held(ctx.param(0)) is None:
            return error(Rc.INVALID_OBJECT_HANDLE)
        state.sdram = None
        return Reply()

    # -- live view -----------------------------------------------------------------------------

    def start_live_view(ctx: OperationContext) -> Reply:
        if nikon.refusing_bits(state.prohibit):
            return error(INVALID_STATUS)
        if not state.live_view:
            state.live_view = True
            state.frames = 0
            state.make_busy(state.busy_answers_after_live_view)
        return Reply()

    def end_live_view(ctx: OperationContext) -> Reply:
        if not state.live_view:
            return error(NOT_LIVE_VIEW)
        state.live_view = False
        return Reply()

    def live_view_image(ctx: OperationContext) -> Reply:
        if not state.live_view:
            return error(NOT_LIVE_VIEW)
        if state.busy():
            return error(Rc.DEVICE_BUSY)
        limit = state.live_view_frame_limit
        if limit is not None and state.frames >= limit:
            state.live_view = False  # the body dropped live view (a D7000 after 14000 frames)
            return error(NOT_LIVE_VIEW)
        state.frames += 1
        picture = camera.live_picture
        jpeg = picture.next_frame()
        state.last_frame = jpeg
        width, height = picture.size
        # The 384-byte header holds the sizes (vendors.md 2.4); the 64-byte form of older
        # bodies is sent as zeros (its fields are not documented).
        header = b"" if state.live_view_header_bytes == 384 else bytes(64)
        frame = LiveViewFrame(header=header, jpeg=jpeg, width=width, height=height,
                              image_width=8256, image_height=5504)  # fmt: skip
        return Reply(data=nikon.encode_live_view(frame))

    handlers: dict[int, Callable[[OperationContext], Reply]] = {
        Op.SET_DEVICE_PROP_VALUE: set_prop_value,
        Op.GET_OBJECT_INFO: object_info,
        Op.GET_OBJECT: whole,
        Op.GET_PARTIAL_OBJECT: get_partial,
        Op.DELETE_OBJECT: delete,
        INITIATE_CAPTURE_REC_IN_SDRAM: capture_in_sdram,
        AF_DRIVE: af_drive,
        CHANGE_CAMERA_MODE: change_camera_mode,
        DEL_IMAGE_SDRAM: del_image_sdram,
        GET_EVENT: get_event,
        DEVICE_READY: device_ready,
        GET_VENDOR_PROP_CODES: get_vendor_prop_codes,
        AF_CAPTURE_SDRAM: af_capture_sdram,
        START_LIVE_VIEW: start_live_view,
        END_LIVE_VIEW: end_live_view,
        GET_LIVE_VIEW_IMG: live_view_image,
        MF_DRIVE: ok,
        CHANGE_AF_AREA: ok,
        AF_DRIVE_CANCEL: ok,
        INITIATE_CAPTURE_REC_IN_MEDIA: capture_in_media,
        GET_EVENT_EX: get_event_ex,
        GET_OBJECT_SIZE: get_object_size,
        GET_PARTIAL_OBJECT_EX: get_partial_ex,
    }
    return {
        code: Operation(
            code=code,
            handler=handler,
            data_out=code == Op.SET_DEVICE_PROP_VALUE,
            sessionless=False,
            sink_factory=None,
        )
        for code, handler in handlers.items()
    }


def install(camera: VirtualCamera, options: NikonOptions | None = None) -> None:
    """Give ``camera`` the Nikon operations and properties (Personality.install)."""
    options = options or NikonOptions()
    state = NikonState()
    state.live_view_header_bytes = options.live_view_header_bytes
    camera.properties.define(_properties(camera, state))
    camera.operations.update(_operations(camera, state))
    if not options.get_event_ex:
        del camera.operations[GET_EVENT_EX]
    # InitiateCapture stays: libgphoto2 uses it when the Nikon ones are not listed; a D850 lists
    # the standard properties in DeviceInfo and its own through GetVendorPropCodes.
    vendor = set(vendor_prop_codes(camera))
    camera.property_codes = tuple(code for code in camera.properties.codes() if code not in vendor)
    _STATES[camera] = state


#: libgphoto2's models table (camlibs/ptp2/library.c): {"Nikon:DSC D850", 0x04b0, 0x0441}.
USB_VENDOR_ID: Final = 0x04B0
USB_PRODUCT_ID: Final = 0x0441


@dataclass(frozen=True)
class NikonOptions:
    """How this body differs from the default D850 (``virtual:?model=nikon&KEY=VALUE``)."""

    #: GetEventEx 0x941C listed (libgphoto2 prefers it); without it only GetEvent 0x90C7.
    get_event_ex: bool = True
    #: The live-view header's size: 384 or 64.
    live_view_header_bytes: int = LIVE_VIEW_HEADER_BYTES


#: The options ``virtual:?model=nikon&...`` and ``--model-option`` take.
OPTIONS: Final = {"get_event_ex": "0 or 1", "live_view_header": "384 or 64"}


def parse_options(options: Mapping[str, str]) -> NikonOptions:
    """URL or command-line options -> NikonOptions (UsageError for a bad one)."""
    get_event_ex, header = True, LIVE_VIEW_HEADER_BYTES
    for key, value in options.items():
        text = value.strip().lower()
        if key == "get_event_ex" and text in ("0", "1"):
            get_event_ex = text == "1"
        elif key == "live_view_header" and text in ("384", "64"):
            header = int(text)
        elif key in OPTIONS:
            raise UsageError(f"nikon option {key} takes {OPTIONS[key]}, not {value!r}")
        else:
            raise UsageError(
                f"model nikon has no option {key!r}; its options: {', '.join(OPTIONS)}"
            )
    return NikonOptions(get_event_ex=get_event_ex, live_view_header_bytes=header)


def personality(options: Mapping[str, str] | None = None) -> Personality:
    """The ``nikon`` personality: a D850 (options: :data:`OPTIONS`)."""
    parsed = parse_options(options or {})
    setup: Callable[[VirtualCamera], None] = install
    if parsed != NikonOptions():
        # Only a body that differs gets its own set-up (the default compares equal to itself:
        # tests tell the model of a camera by its personality).
        def setup(camera: VirtualCamera) -> None:
            install(camera, parsed)

    return Personality(
        manufacturer="Nikon Corporation",
        model="D850",
        serial_number="PTPKIT-NIKON-0001",
        device_version="V1.10",
        vendor_extension_id=0x0000000A,  # Nikon (PTP_VENDOR_NIKON, libgphoto2 ptp.h)
        vendor_extension_version=100,
        vendor_extension_desc="",
        install=setup,
        usb_vendor_id=USB_VENDOR_ID,
        usb_product_id=USB_PRODUCT_ID,
    )
