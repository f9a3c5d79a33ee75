"""A virtual Fujifilm X-T2: the personality ``fuji-x`` and the Fujifilm behaviour it answers.

::

    VirtualCamera(personality=personality_for("fuji-x"))
    ptpkit.connect("virtual:?model=fuji-x&empty_device_info=1")
    ptpkit virtual serve --model fuji-x          # Fujifilm's PTP/IP variant on 55740-55742

What a client of a Fujifilm X body meets (vendors.md section 4; the sources are cited where each
fact is used):

- session set-up: SetDevicePropValue InitSequence 0xDF01 (u16, 5), GetDevicePropValue and an
  echoing SetDevicePropValue of AppVersion / RemoteVersion 0xDF24 (u32), InitiateOpenCapture
  0x101C(0, 0), which opens the event (55741) and live-view (55742) connections over Wi-Fi;
- DeviceInfo as an X-T2 gives it (Fujifilm's vendor extension 0x0000000E, its properties and
  operations), or, with the option ``empty_device_info``, the empty one some bodies (X-T4) give
  over Wi-Fi, for testing a client's synthesis;
- Fujifilm's "GetDeviceInfo" 0x902B: a u32 count, then per property a u32 length (counting
  itself) and a standard DevicePropDesc;
- properties with Fujifilm codes and encodings (film simulation 0xD001, quality 0xD018, ISO
  0xD02A with its auto and extended flags, the standard white balance 0x5005 with Fujifilm's
  values, exposure time 0x500D in Fujifilm's microsecond steps, F-number, exposure
  compensation, exposure program, focus mode, battery 0xD242...), every one describable;
- the CurrentState / events list 0xD212: ``u16 count`` then ``{u16 code, u32 value}`` records;
- capture as X bodies do it: the shutter action 0xD208 and AF status 0xD209 libgphoto2 drives,
  ObjectAdded 0xC004, and over Wi-Fi PreviewAvailable 0xC001, GetCapturePreview 0x9022 and
  CaptureComplete, without which the camera never fires again;
- live view: the 55742 stream over Wi-Fi, the object 0x80000001 over USB.

Options (:data:`OPTIONS`; ``virtual:?model=fuji-x&KEY=VALUE``, ``--model-option KEY=VALUE``):
``empty_device_info=1``, ``state=changes`` (0xD212 lists only changes in remote mode too),
``preview_gate=0`` (the shutter does not wait for GetCapturePreview), ``af=fail`` (autofocus
finds no focus: 0xD209 ends at 3, and a shot is answered DeviceBusy until the focus is let go or
tried again) or ``af=never`` (0xD209 stays "focusing").

Not modelled, for want of a source: the RAF of the RAW + JPEG qualities (a capture writes the
JPEG only), the step operations 0x902C-0x902E, focus points 0x9026/0x9027, movies.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ptpkit.codes.common import Ec, Ofc, Op, Rc
from ptpkit.core.buffer import Writer
from ptpkit.core.datasets import (
    DeviceInfo,
    EnumerationForm,
    ObjectInfo,
    encode_value,
)
from ptpkit.core.datatypes import DataType, Value, as_int
from ptpkit.core.fujiptpip import FujiPtpIpFraming
from ptpkit.errors import UsageError
from ptpkit.virtual.camera import DEFAULT_STORAGE_ID, Personality, VirtualCamera
from ptpkit.virtual.imaging import render_jpeg_bytes
from ptpkit.virtual.operations import build_operations, settable_value
from ptpkit.virtual.properties import VirtualProperty
from ptpkit.virtual.responder import Operation, OperationContext, Reply, ResponderSession, error

log = logging.getLogger("ptpkit.virtual")

# -- codes (libgphoto2 camlibs/ptp2/ptp.h PTP_*_FUJI_*, unless said otherwise) ---------------------

GET_CAPTURE_PREVIEW: Final = 0x9022
FUJI_GET_DEVICE_INFO: Final = 0x902B
EC_PREVIEW_AVAILABLE: Final = 0xC001
EC_OBJECT_ADDED: Final = 0xC004

FILM_SIMULATION: Final = 0xD001
QUALITY: Final = 0xD018
REC_MODE: Final = 0xD019
COMMAND_DIAL_MODE: Final = 0xD028
EXPOSURE_INDEX: Final = 0xD02A  # Fujifilm's ISO, with flags
PRIORITY_MODE: Final = 0xD207
#: libgphoto2 uses 0xD208 by number (library.c camera_fuji_capture, config.c "fuji_action"): the
#: shutter action the next InitiateCapture performs. ptp.h has no name for it.
SHUTTER_ACTION: Final = 0xD208
AF_STATUS: Final = 0xD209
CURRENT_STATE: Final = 0xD212
DEVICE_ERROR: Final = 0xD21B
#: ptp.h calls 0xD222 SensitivityFineTune1 with "????"; the Fujifilm app's traces (petabyt/vcam
#: PTP_DPC_FUJI_ObjectCount, vendors.md 4.1) show it carrying the number of pictures.
OBJECT_COUNT: Final = 0xD222
CAPTURE_REMAINING: Final = 0xD229
MOVIE_REMAINING_TIME: Final = 0xD22A
#: ptp.h ShutterSpeed2 ("Movie Aperture?"); ptp-ip (ip/packets_fuji.go DPC_Fuji_ShutterSpeed) and
#: the app's remote state (petabyt/vcam) use it for the shutter speed.
SHUTTER_SPEED: Final = 0xD240
IMAGE_ASPECT_RATIO: Final = 0xD241  # ptp-ip: the image size
BATTERY_LEVEL: Final = 0xD242
#: The self-timer (CaptureDelay 0x5012 on an X body: ptp-ip FujiSelfTimer) and the seconds each
#: setting waits before the shutter fires (codes/fuji_values.py SELF_TIMERS).
SELF_TIMER: Final = 0x5012
SELF_TIMER_SECONDS: Final[Mapping[int, float]] = {1: 1.0, 2: 2.0, 3: 5.0, 4: 10.0}
#: ptp.h calls 0xD38C LensZoomPosCaps; libgphoto2 sets it to 1 as "PC mode" before a tethered
#: capture (config.c camera_prepare_capture, "timelapse does: d38c -> 1 (PC Mode)").
PC_MODE: Final = 0xD38C
CAMERA_STATE: Final = 0xDF00
INIT_SEQUENCE: Final = 0xDF01
#: AppVersion in ptp-ip, RemoteVersion in petabyt/fudge (lib/fujiptp.h).
APP_VERSION: Final = 0xDF24

#: The X-T2's RemoteVersion (petabyt/vcam fuji_x_t2: 0x0002000a); the X-T1 gives 0x00020001
#: (ptp-ip PM_Fuji_AppVersion). A client reads it and sets it back.
X_T2_APP_VERSION: Final = 0x0002000A
#: InitSequence values a body takes (ptp-ip PM_Fuji_InitSequence on an X-T1: 3 is accepted, 4
#: is taken without the prompt, 5 "hits the sweet spot"); others are refused.
INIT_SEQUENCES: Final = (3, 4, 5)
#: CameraState "remote access" (petabyt/fudge lib/fujiptp.h FUJI_REMOTE_ACCESS = 6): a body
#: with remote mode, as the X-T2 is.
REMOTE_ACCESS: Final = 6

#: Shutter actions (config.c fuji_action and its comment: the X-T2 lists these; the camera
#: starts at 0x0304).
ACTION_SHOOT: Final = 0x0304
ACTION_AF: Final = 0x0200
ACTION_CANCEL_AF: Final = 0x0004
ACTION_BULB_ON: Final = 0x0500
ACTION_BULB_OFF: Final = 0x000C
ACTION_AF_DRIVE: Final = 0x9300  # config.c _put_Fuji_AFDrive: focus only
ACTION_RELEASE_FOCUS: Final = 0x0005  # config.c _put_Fuji_AFDrive: release the focus lock
X_T2_ACTIONS: Final = (
    0x0104,
    0x0200,
    0x0004,
    0x0304,
    0x0500,
    0x000C,
    0xA000,
    0x0006,
    0x9000,
    0x0002,
    0x9100,
    0x0001,
    0x9300,
    0x0005,
)
#: AF status (library.c camera_fuji_capture: 1 focusing, 2 in focus, 3 failed).
AF_IDLE: Final = 0
AF_BUSY: Final = 1
AF_OK: Final = 2
AF_FAILED: Final = 3
#: AF status reads that answer "focusing" before the result (libgphoto2 reads it back to back).
AF_BUSY_READS: Final = 1
#: How autofocus ends (the option ``af``): in focus, no focus found, or never.
AF_OUTCOMES: Final = ("ok", "fail", "never")

#: The live-view object over USB (library.c Fuji live view, vendors.md 4.2).
LIVE_VIEW_HANDLE: Final = 0x80000001
LIVE_VIEW_SIZE: Final = (640, 426)
#: The capture preview (GetCapturePreview) is a small JPEG of the picture.
PREVIEW_SIZE: Final = (640, 426)

#: Where an X body files its pictures (DCF: folder 100_FUJI, files DSCFnnnn.JPG).
CAPTURE_FOLDER: Final = "DCIM/100_FUJI"
_CAPTURE_NAME = re.compile(r"^DSCF(\d{4})\.JPG$", re.IGNORECASE)

# -- property values -------------------------------------------------------------------------------


def exposure_time_us(step: int) -> int:
    """Fujifilm's exposure time for ``step`` third stops from 1 s: microseconds on the exact
    2^(step/3) grid, cut to an integer (library.c camera_fuji_capture lists 10079368 for 10 s,
    16000000 for 15 s, 32000000 for 30 s)."""
    return int(1_000_000 * 2 ** (step / 3))


#: 1/8000 s (the X-T2's mechanical shutter) to 30 s.
EXPOSURE_TIMES: Final = tuple(exposure_time_us(step) for step in range(-39, 16))
#: F-numbers in hundredths (standard 0x5007) on the third-stop grid, f/2.8 to f/22 (the XF
#: 18-55 mm kit lens).
F_NUMBERS: Final = (
    280, 320, 350, 400, 450, 500, 560, 630, 710, 800, 900, 1000, 1100, 1300, 1400, 1600, 1800,
    2000, 2200,
)  # fmt: skip
#: Exposure compensation in thousandths of a stop, -3 to +3 in thirds (the X-T2's list as the
#: app's traces hold it, petabyt/vcam payload_5010).
EV_THIRDS: Final = tuple(round(k * 1000 / 3) for k in range(-9, 10))
#: Fujifilm ISO (0xD02A, u32): bit 31 = auto with this maximum, bit 30 = an extended setting
#: (L / H), else the ISO itself (ptp-ip EDX_Fuji_MaxSensitivity / EDX_Fuji_Extended; the list
#: is the one in the app's traces, petabyt/vcam payload_d02a).
ISO_AUTO: Final = 0x80000000
ISO_EXTENDED: Final = 0x40000000
ISO_VALUES: Final = (
    *(ISO_AUTO | iso for iso in (400, 800, 1600, 3200, 6400)),
    ISO_EXTENDED | 100,
    *(200, 250, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000, 2500, 3200, 4000, 5000, 6400),
    *(ISO_EXTENDED | iso for iso in (12800, 25600, 51200)),
)
#: White balance (standard 0x5005) with Fujifilm's own values (ptp-ip WB_Fuji_*; the order is
#: the traces', petabyt/vcam payload_5005): auto, daylight, shade, fluorescent 1-3,
#: incandescent, underwater, colour temperature, custom.
WHITE_BALANCES: Final = (0x0002, 0x0004, 0x8006, 0x8001, 0x8002, 0x8003, 0x0006, 0x800A, 0x800B,
                         0x800C)  # fmt: skip
#: Film simulations (ptp-ip FS_Fuji_*): Provia 1 ... Classic Chrome 11, ACROS 12-15 (the X-T2
#: has ACROS, not ETERNA).
FILM_SIMULATIONS: Final = tuple(range(1, 16))
#: Quality (ptp-ip IQ_Fuji_*): fine 2, normal 3, fine + RAW 4, normal + RAW 5 (no RAW alone in
#: remote mode).
QUALITIES: Final = (2, 3, 4, 5)
#: Image size and aspect (ptp-ip IS_Fuji_*): small/medium/large x 3:2, 16:9, 1:1.
IMAGE_SIZES: Final = (0x2, 0x3, 0x4, 0x6, 0x7, 0x8, 0xA, 0xB, 0xC)
#: Focus mode (standard 0x500A): manual 1, Fujifilm's AF-S 0x8001 and AF-C 0x8002 (ptp-ip).
FOCUS_MODES: Final = (0x0001, 0x8001, 0x8002)
#: Battery (0xD242, ptp-ip BAT_Fuji_5b*): a five-bar battery, 6 critical ... 0xB full.
BATTERY_LEVELS: Final = (0x6, 0x7, 0x8, 0x9, 0xA, 0xB)
#: Exposure program (standard 0x500E): manual 1, program 2, aperture priority 3, shutter
#: priority 4.
MANUAL, PROGRAM, APERTURE_PRIORITY, SHUTTER_PRIORITY = 1, 2, 3, 4
#: The state's shutter speed when the camera chooses it (petabyt/vcam's remote state in
#: aperture priority: 0xD240 = 0xffffffff).
CAMERA_CHOOSES: Final = 0xFFFFFFFF


#: The same ISO settings as the standard ExposureIndex 0x500F (u16, no flags), the property
#: libgphoto2's "iso" widget drives (config.c has no Fujifilm ISO entry; 0xD02A appears only in
#: ptp.h): extended values keep their number, auto shows its maximum.
STANDARD_ISOS: Final = (100, *(iso for iso in ISO_VALUES if iso < ISO_EXTENDED), 12800, 25600,
                        51200)  # fmt: skip


def iso_from_standard(iso: int) -> int:
    """0x500F's ISO as Fujifilm's 0xD02A value (L 100 and H 12800+ are extended settings)."""
    return iso if 200 <= iso <= 6400 else ISO_EXTENDED | iso


def _enum(*values: Value) -> EnumerationForm:
    return EnumerationForm(values=tuple(values))


def _props() -> list[VirtualProperty]:
    u16, u32 = DataType.UINT16, DataType.UINT32
    fuji_iso = VirtualProperty(EXPOSURE_INDEX, u32, 200, 200, _enum(*ISO_VALUES))
    return [
        fuji_iso,
        VirtualProperty(
            0x500F,
            u16,
            200,
            200,
            _enum(*STANDARD_ISOS),
            read_hook=lambda: as_int(fuji_iso.current()) & 0xFFFF,
        ),
        VirtualProperty(0x5005, u16, 0x0002, 0x0002, _enum(*WHITE_BALANCES)),
        VirtualProperty(0x5007, u16, 560, 560, _enum(*F_NUMBERS)),
        VirtualProperty(0x500A, u16, 0x8001, 0x8001, _enum(*FOCUS_MODES)),
        # Flash: Fujifilm's "disabled" / "enabled" (ptp-ip FM_Fuji_*, vcam payload_500c).
        VirtualProperty(0x500C, u16, 0x8009, 0x8009, _enum(0x8009, 0x800A)),
        VirtualProperty(
            0x500D, u32, exposure_time_us(-18), exposure_time_us(-18), _enum(*EXPOSURE_TIMES)
        ),
        VirtualProperty(
            0x500E, u16, MANUAL, MANUAL, _enum(MANUAL, PROGRAM, APERTURE_PRIORITY, SHUTTER_PRIORITY)
        ),
        VirtualProperty(0x5010, DataType.INT16, 0, 0, _enum(*EV_THIRDS)),
        # Self-timer: off, 2 s, 10 s (ptp-ip FujiSelfTimer 0, 2, 4; vcam payload_5012).
        VirtualProperty(0x5012, u16, 0, 0, _enum(0, 2, 4)),
        VirtualProperty(FILM_SIMULATION, u16, 1, 1, _enum(*FILM_SIMULATIONS)),
        VirtualProperty(QUALITY, u16, 2, 2, _enum(*QUALITIES)),
        VirtualProperty(REC_MODE, u16, 1, 1, _enum(0, 1)),
        VirtualProperty(COMMAND_DIAL_MODE, u16, 0, 0, _enum(0, 1, 2, 3)),
        VirtualProperty(PRIORITY_MODE, u16, 1, 1, _enum(1, 2)),
        VirtualProperty(SHUTTER_ACTION, u16, ACTION_SHOOT, ACTION_SHOOT, _enum(*X_T2_ACTIONS)),
        VirtualProperty(AF_STATUS, u16, AF_IDLE, AF_IDLE, writable=False),
        VirtualProperty(DEVICE_ERROR, u16, 0, 0, writable=False),
        VirtualProperty(OBJECT_COUNT, u32, 0, 0, writable=False),
        VirtualProperty(CAPTURE_REMAINING, u32, 1889, 1889, writable=False),
        VirtualProperty(MOVIE_REMAINING_TIME, u32, 6609, 6609, writable=False),
        VirtualProperty(SHUTTER_SPEED, u32, 0, 0, writable=False),
        VirtualProperty(IMAGE_ASPECT_RATIO, u16, 0xA, 0xA, _enum(*IMAGE_SIZES)),
        VirtualProperty(BATTERY_LEVEL, u16, 0xA, 0xA, _enum(*BATTERY_LEVELS), writable=False),
        VirtualProperty(PC_MODE, u16, 0, 0, _enum(0, 1)),
        VirtualProperty(CAMERA_STATE, u16, REMOTE_ACCESS, REMOTE_ACCESS, _enum(0, 1, 2, 3, 6)),
        VirtualProperty(INIT_SEQUENCE, u16, 0, 0, _enum(0, *INIT_SEQUENCES)),
        VirtualProperty(APP_VERSION, u32, X_T2_APP_VERSION, X_T2_APP_VERSION),
    ]


#: MTP's DeviceFriendlyName, which the virtual camera keeps for its network server's name.
FRIENDLY_NAME: Final = 0xD402
#: The properties DeviceInfo does not list (the session ones 0xDF00-0xDF24 are answered, not
#: listed; the state list 0xD212 has no description).
_HIDDEN: Final = (CAMERA_STATE, INIT_SEQUENCE, APP_VERSION, FRIENDLY_NAME)

#: The remote state (0xD212 after InitiateOpenCapture): the properties the app's traces show
#: in it (petabyt/vcam ptp_fuji_capture, in this order).
REMOTE_STATE: Final = (
    DEVICE_ERROR,
    0x500C,
    0x5012,
    CAPTURE_REMAINING,
    MOVIE_REMAINING_TIME,
    0x500E,
    BATTERY_LEVEL,
    QUALITY,
    IMAGE_ASPECT_RATIO,
    EXPOSURE_INDEX,
    SHUTTER_SPEED,
    COMMAND_DIAL_MODE,
    0x5007,
    0x5010,
    0x5005,
    FILM_SIMULATION,
    0x500A,
    AF_STATUS,
)

# -- state -----------------------------------------------------------------------------------------


@dataclass
class _Connection:
    """What the camera keeps per connection."""

    #: Property codes changed since this connection's last 0xD212 read, in order.
    changed: list[int] = field(default_factory=list)
    #: InitiateOpenCapture answered OK and no TerminateOpenCapture since (remote mode).
    remote: bool = False
    #: The live-view frame GetObjectInfo(0x80000001) described, for the GetObject that follows.
    frame: bytes | None = None


@dataclass
class _Preview:
    """A picture's preview the host has not fetched with GetCapturePreview (Wi-Fi)."""

    owner: weakref.ref[ResponderSession]
    capture_transaction: int
    jpeg: bytes


@dataclass(frozen=True)
class FujiOptions:
    """The personality's options (``virtual:?model=fuji-x&NAME=VALUE``)."""

    #: DeviceInfo with no operations, events or properties (X-T4 over Wi-Fi, landscape.md 1.4).
    empty_device_info: bool = False
    #: 0xD212 in remote mode: "full" (the remote state every read) or "changes" (only what
    #: changed since the last read, as outside remote mode).
    state: str = "full"
    #: Over Wi-Fi, a picture whose preview was not fetched with GetCapturePreview blocks the
    #: shutter (ptp-ip, X-T1) until the connection ends; False: the shutter never waits for it.
    preview_gate: bool = True
    #: How autofocus (shutter action AF or AF drive, then InitiateCapture) ends: "ok" (0xD209
    #: goes 1 then 2), "fail" (1 then 3: no focus; library.c "3 - means failed and
    #: initiatecapture will get busy": a shot answers DeviceBusy until the focus is let go or
    #: tried again) or "never" (0xD209 stays 1).
    af: str = "ok"


#: Option name -> what it takes (for usage errors).
OPTIONS: Final = {
    "empty_device_info": "0 or 1",
    "state": "full or changes",
    "preview_gate": "0 or 1",
    "af": "ok, fail or never",
}

_TRUE: Final = ("1", "true", "yes", "")
_FALSE: Final = ("0", "false", "no")


def parse_options(options: Mapping[str, str]) -> FujiOptions:
    """``virtual:`` URL or command-line options -> FujiOptions (UsageError for a bad one)."""
    flags = {"empty_device_info": False, "preview_gate": True}
    state = "full"
    af = "ok"
    for key, value in options.items():
        text = value.strip().lower()
        if key in flags:
            if text not in (*_TRUE, *_FALSE):
                raise UsageError(f"fuji-x option {key} takes 0 or 1, not {value!r}")
            flags[key] = text in _TRUE
        elif key == "state":
            if text not in ("full", "changes"):
                raise UsageError(f"fuji-x option state takes full or changes, not {value!r}")
            state = text
        elif key == "af":
            if text not in AF_OUTCOMES:
                raise UsageError(f"fuji-x option af takes ok, fail or never, not {value!r}")
            af = text
        else:
            known = ", ".join(OPTIONS)
            raise UsageError(f"model fuji-x has no option {key!r}; its options: {known}")
    return FujiOptions(
        empty_device_info=flags["empty_device_info"],
        state=state,
        preview_gate=flags["preview_gate"],
        af=af,
    )


class FujiState:
    """The Fujifilm side of one virtual camera."""

    def __init__(self, camera: VirtualCamera, options: FujiOptions) -> None:
        self.camera = camera
        self.options = options
        self.lock = threading.RLock()
        self._connections: weakref.WeakKeyDictionary[ResponderSession, _Connection] = (
            weakref.WeakKeyDictionary()
        )
        self.preview: _Preview | None = None
        #: AF status reads left before a started autofocus reports its result (-1: never).
        self.af_reads_left = 0
        #: Autofocus runs started (shutter action AF or AF drive, then InitiateCapture).
        self.af_runs = 0
        #: The last pictures taken, as (name, bytes) (tests compare downloads with these).
        self.captured: list[tuple[str, bytes]] = []
        #: Every value a host set, in order, as (code, value) (tests check a client's set-up).
        self.set_log: list[tuple[int, Value]] = []
        #: InitiateCapture requests accepted without firing (the preview was not fetched).
        self.ignored_captures = 0
        self.frames = 0
        self.last_frame = b""

    # -- connections -----------------------------------------------------------------------------

    def connection(self, session: ResponderSession) -> _Connection:
        with self.lock:
            found = self._connections.get(session)
            if found is None:
                # What a body reports first (petabyt/vcam vcam_fuji_setup): its state and the
                # number of pictures.
                found = self._connections[session] = _Connection(
                    changed=[CAMERA_STATE, OBJECT_COUNT]
                )
            return found

    def changed(self, *codes: int) -> None:
        """``codes`` changed: every connection's next 0xD212 read reports them."""
        with self.lock:
            for conn in self._connections.values():
                for code in codes:
                    if code not in conn.changed:
                        conn.changed.append(code)

    # -- values ----------------------------------------------------------------------------------

    def value(self, code: int) -> int:
        return as_int(self.camera.properties[code].current())

    def put(self, code: int, value: Value) -> None:
        """The camera's own change of ``code`` (AF status, picture count...)."""
        prop = self.camera.properties[code]
        if prop.current() != value:
            prop.value = value
            self.changed(code)

    def state_value(self, code: int) -> int:
        """``code`` as 0xD212 carries it: the value in 32 bits (a signed 16-bit value as its
        two's complement in the low half); the shutter speed is the exposure time, or
        0xFFFFFFFF when the exposure program lets the camera choose it."""
        if code == SHUTTER_SPEED:
            if self.value(0x500E) in (PROGRAM, APERTURE_PRIORITY):
                return CAMERA_CHOOSES
            return self.value(0x500D)
        prop = self.camera.properties[code]
        value = as_int(prop.current())
        if prop.datatype == DataType.INT16:
            return value & 0xFFFF
        return value & 0xFFFFFFFF

    def current_state(self, session: ResponderSession) -> bytes:
        """0xD212's value for ``session``: u16 count, then {u16 code, u32 value} records (ptp-ip
        FujiGetDeviceState; libgphoto2 ptp_fuji_getevents reads the same)."""
        with self.lock:
            conn = self.connection(session)
            codes, conn.changed = conn.changed, []
            if conn.remote and self.options.state == "full":
                codes += [code for code in REMOTE_STATE if code not in codes]
            writer = Writer()
            writer.uint16(len(codes))
            for code in codes:
                writer.uint16(code)
                writer.uint32(self.state_value(code))
            return writer.getvalue()

    def object_count(self) -> int:
        store = self.camera.stores[DEFAULT_STORAGE_ID]
        return sum(1 for obj in store.objects.values() if not obj.is_folder and not obj.pending)

    # -- live view -------------------------------------------------------------------------------

    def live_view_frame(self, counter: int) -> bytes:
        """A live-view JPEG (the 55742 stream's, and the USB object 0x80000001's)."""
        # The camera's live-view picture numbers its frames itself (counter is the
        # caller's count); it waits for the next frame to be due, outside this lock.
        frame = self.camera.live_picture.next_frame()
        with self.lock:
            self.frames += 1
            self.last_frame = frame
        return frame


_STATES: weakref.WeakKeyDictionary[VirtualCamera, FujiState] = weakref.WeakKeyDictionary()


def fuji_state(camera: VirtualCamera) -> FujiState:
    """The Fujifilm side of a camera made with the ``fuji-x`` personality (KeyError if not)."""
    return _STATES[camera]


def _over_wifi(session: ResponderSession) -> bool:
    """The connection speaks Fujifilm's PTP/IP variant (the Wi-Fi behaviour applies)."""
    return isinstance(session.connection.framing, FujiPtpIpFraming)


# -- pictures --------------------------------------------------------------------------------------


def _exif(state: FujiState) -> tuple[tuple[int, int], tuple[int, int], int]:
    micros = state.value(0x500D)
    if micros >= 1_000_000:
        exposure = (round(micros / 1_000_000), 1)
    else:
        exposure = (1, max(1, round(1_000_000 / micros)))
    iso = state.value(EXPOSURE_INDEX) & 0xFFFF
    return exposure, (state.value(0x5007), 100), iso or 200


def _next_name(folder_names: Iterable[str]) -> str:
    """The next DSCFnnnn.JPG after the folder's (after 9999 numbering starts again at 1)."""
    numbers = [int(m.group(1)) for name in folder_names if (m := _CAPTURE_NAME.match(name))]
    return f"DSCF{(max(numbers, default=0) % 9999) + 1:04d}.JPG"


def take_picture(state: FujiState) -> tuple[int, int | None]:
    """The shutter fires: a JPEG in DCIM/100_FUJI. Returns (response code, new handle)."""
    camera = state.camera
    with camera.lock:
        store = camera.stores[DEFAULT_STORAGE_ID]
        if store.read_only:
            return Rc.STORE_READ_ONLY, None
        folder = store.root / CAPTURE_FOLDER
        existing = [p.name for p in folder.iterdir()] if folder.is_dir() else []
        name = _next_name(existing)
        exposure, f_number, iso = _exif(state)
        taken = camera.properties.clock.now()
        data = render_jpeg_bytes(
            title=f"X-T2  {name}",
            taken=taken,
            seed=3000 + len(state.captured),
            make=camera.personality.manufacturer,
            model=camera.personality.model,
            exposure=exposure,
            f_number=f_number,
            iso=iso,
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
            obj = store.add_file(f"{CAPTURE_FOLDER}/{name}")
        except OSError as exc:
            log.warning("virtual X-T2: capture failed: %s", exc)
            return Rc.STORE_FULL, None
        state.captured.append((name, data))
        del state.captured[:-16]
        state.put(OBJECT_COUNT, state.object_count())
        return Rc.OK, obj.handle


def _preview_of(state: FujiState, name: str) -> bytes:
    """The capture preview: a small JPEG of the picture just taken."""
    exposure, f_number, iso = _exif(state)
    return render_jpeg_bytes(
        title=f"preview {name}",
        taken=state.camera.properties.clock.now(),
        size=PREVIEW_SIZE,
        seed=3000 + len(state.captured) - 1,
        make=state.camera.personality.manufacturer,
        model=state.camera.personality.model,
        exposure=exposure,
        f_number=f_number,
        iso=iso,
        quality=70,
    )


# -- operations ------------------------------------------------------------------------------------


def _operations(camera: VirtualCamera, state: FujiState) -> dict[int, Operation]:
    generic = build_operations()

    def fallback(code: int, ctx: OperationContext) -> Reply:
        return generic[code].handler(ctx)

    # -- properties ----------------------------------------------------------------------------

    def nothing() -> Reply:
        # A property the body does not have (or cannot describe, the state list): OK with no
        # data, not DevicePropNotSupported (ptp-ip FujiGetDevicePropertyDesc on the X-T1: "the
        # camera does not return an error code, it just does not return any data"; petabyt/vcam
        # answers unknown GetDevicePropValue the same way).
        return Reply(data=b"")

    def get_prop_desc(ctx: OperationContext) -> Reply:
        code = ctx.param(0)
        if code == CURRENT_STATE or code not in camera.properties:
            return nothing()
        return fallback(Op.GET_DEVICE_PROP_DESC, ctx)

    def get_prop_value(ctx: OperationContext) -> Reply:
        code = ctx.param(0)
        if code == CURRENT_STATE:
            return Reply(data=state.current_state(ctx.session))
        if code not in camera.properties:
            return nothing()
        if code == AF_STATUS and state.af_reads_left != 0:
            # Autofocus takes a moment: "focusing" first, then the result (libgphoto2 polls
            # while the status is 1, library.c camera_fuji_capture); with af=never, forever.
            if state.af_reads_left > 0:
                state.af_reads_left -= 1
            if state.af_reads_left == 0:
                state.put(AF_STATUS, AF_FAILED if state.options.af == "fail" else AF_OK)
            else:
                return Reply(data=encode_value(DataType.UINT16, AF_BUSY))
        return fallback(Op.GET_DEVICE_PROP_VALUE, ctx)

    def set_prop_value(ctx: OperationContext) -> Reply:
        value = settable_value(ctx)
        if isinstance(value, Reply):
            return value
        code = ctx.param(0)
        prop = camera.properties[code]
        if code == APP_VERSION:
            # The client echoes the version it read (ptp-ip FujiInitCommandDataConn); a lower
            # one is the "please update the app" a body shows: refused.
            if as_int(value) < X_T2_APP_VERSION:
                return error(Rc.INVALID_DEVICE_PROP_VALUE)
        elif not prop.accepts(value):
            return error(Rc.INVALID_DEVICE_PROP_VALUE)
        state.set_log.append((code, value))
        if code == 0x500F:
            # One ISO setting, two properties: the standard one sets Fujifilm's.
            code, prop, value = EXPOSURE_INDEX, camera.properties[EXPOSURE_INDEX], as_int(value)
            value = iso_from_standard(value)
        before = prop.current()
        prop.value = value
        if before != value:
            # Fujifilm bodies report changes through the 0xD212 list, not DevicePropChanged.
            state.changed(code)
            if code in (0x500D, 0x500E):
                state.changed(SHUTTER_SPEED)
        return Reply()

    def fuji_device_info(ctx: OperationContext) -> Reply:
        # ptp-ip FujiGetDeviceInfo: u32 count, then each property as u32 length (counting the
        # length itself, petabyt/vcam devinfo_add_prop) and a standard DevicePropDesc.
        descs = [
            prop.desc().to_bytes()
            for prop in camera.properties
            if prop.writable and prop.code not in _HIDDEN
        ]
        writer = Writer()
        writer.uint32(len(descs))
        for desc in descs:
            writer.uint32(4 + len(desc))
            writer.raw(desc)
        return Reply(data=writer.getvalue())

    # -- remote mode, capture ------------------------------------------------------------------

    def open_capture(ctx: OperationContext) -> Reply:
        # Remote mode: over Wi-Fi the event and live-view ports open now (fujiserver); over USB
        # the live-view object 0x80000001 appears (library.c Fuji live view).
        with state.lock:
            conn = state.connection(ctx.session)
            conn.remote = True
            if state.options.state == "changes":
                for code in REMOTE_STATE:
                    if code not in conn.changed:
                        conn.changed.append(code)
        return Reply()

    def terminate_capture(ctx: OperationContext) -> Reply:
        with state.lock:
            conn = state.connection(ctx.session)
            conn.remote = False
            conn.frame = None
        return Reply()

    def shoot(session: ResponderSession, tid: int, wifi: bool) -> Reply:
        """The shutter fires now (state.lock held): the picture, then (after the response) its
        events, for the capture of transaction ``tid``."""
        code, handle = take_picture(state)
        state.af_reads_left = 0
        state.put(AF_STATUS, AF_IDLE)
        if code != Rc.OK or handle is None:
            return error(code)
        preview = _preview_of(state, state.captured[-1][0]) if wifi else b""
        if wifi:
            state.preview = _Preview(weakref.ref(session), tid, preview)

        def announce() -> None:
            if wifi:
                # The event connection's records as an X-T1 sends them (ptp-ip
                # ip/packets_fuji.go FujiEventPacket golden bytes, 28 bytes each): ObjectAdded
                # then PreviewAvailable, the record's transaction id field 1, then four
                # parameters: the capture's transaction id twice, the preview's size (0 in
                # ObjectAdded), 0. Deviation: the first parameter of ObjectAdded is the new
                # object's handle (libgphoto2 camera_fuji_capture reads it as one; the X-T1 sent
                # the capture's transaction id there, which no client uses).
                camera.emit(EC_OBJECT_ADDED, handle, tid, 0, 0, transaction_id=1)
                camera.emit(EC_PREVIEW_AVAILABLE, tid, tid, len(preview), 0, transaction_id=1)
            else:
                # USB: ObjectAdded with the handle (library.c camera_fuji_capture takes
                # PTP_EC_FUJI_ObjectAdded or PTP_EC_ObjectAdded with Param1), then
                # CaptureComplete for the capture's transaction.
                camera.emit(EC_OBJECT_ADDED, handle, transaction_id=tid)
                camera.emit(Ec.CAPTURE_COMPLETE, transaction_id=tid)

        return Reply(after=announce)

    def initiate_capture(ctx: OperationContext) -> Reply:
        session = ctx.session
        tid = ctx.request.transaction_id
        wifi = _over_wifi(session)
        with state.lock:
            held = state.preview
            if held is not None:
                owner = held.owner()
                if owner is None or owner.closed:
                    state.preview = None  # the connection that had to fetch it is gone
                elif state.options.preview_gate:
                    # ptp-ip FujiInitiateCapture: without GetCapturePreview "the operation
                    # request will be accepted but no further actions will be taken".
                    state.ignored_captures += 1
                    log.info("virtual X-T2: capture preview not fetched, shutter ignored")
                    return Reply()
            action = state.value(SHUTTER_ACTION)
            if action in (ACTION_AF, ACTION_AF_DRIVE):
                # S1: focus, and report it through 0xD209 (config.c _put_Fuji_Bulb,
                # _put_Fuji_AFDrive, library.c camera_fuji_capture). No picture, no event.
                state.put(AF_STATUS, AF_BUSY)
                state.af_reads_left = -1 if state.options.af == "never" else AF_BUSY_READS + 1
                state.af_runs += 1
                return Reply()
            if action in (ACTION_CANCEL_AF, ACTION_RELEASE_FOCUS):
                state.af_reads_left = 0
                state.put(AF_STATUS, AF_IDLE)
                return Reply()
            if state.value(AF_STATUS) == AF_FAILED:
                # library.c: "3 - means failed and initiatecapture will get busy", until the
                # focus is let go (above) or tried again.
                return error(Rc.DEVICE_BUSY)
            if action == ACTION_BULB_ON:
                return Reply()  # the shutter opens; ACTION_BULB_OFF closes it (the picture)
            delay_s = SELF_TIMER_SECONDS.get(as_int(state.value(SELF_TIMER)), 0)
            if delay_s:
                # The self-timer: the answer now, the picture and its events when it runs out
                # (a failure then is only logged: there is no response left to carry it).
                def shoot_later() -> None:
                    with state.lock:
                        reply = shoot(session, tid, wifi)
                    if reply.code != Rc.OK:
                        log.warning("virtual X-T2: the self-timer's capture failed: %s", reply)
                    elif reply.after is not None:
                        reply.after()

                return Reply(after=lambda: camera.after(delay_s, shoot_later))
            return shoot(session, tid, wifi)

    def get_capture_preview(ctx: OperationContext) -> Reply:
        with state.lock:
            held = state.preview
            if held is None:
                return error(Rc.NO_THUMBNAIL_PRESENT)
            state.preview = None

        def complete() -> None:
            # ptp-ip FujiInitiateCapture: CaptureComplete follows the preview's transfer.
            camera.emit(Ec.CAPTURE_COMPLETE, transaction_id=held.capture_transaction)

        return Reply(data=held.jpeg, after=complete)

    # -- objects: the live-view object over USB, deletions --------------------------------------

    def live_view_available(ctx: OperationContext) -> bool:
        return (
            ctx.param(0) == LIVE_VIEW_HANDLE
            and not _over_wifi(ctx.session)
            and state.connection(ctx.session).remote
        )

    def get_object_info(ctx: OperationContext) -> Reply:
        if ctx.param(0) != LIVE_VIEW_HANDLE:
            return fallback(Op.GET_OBJECT_INFO, ctx)
        if not live_view_available(ctx):
            return error(Rc.INVALID_OBJECT_HANDLE)
        frame = state.live_view_frame(state.frames)
        state.connection(ctx.session).frame = frame
        stamp = camera.properties.clock.now().strftime("%Y%m%dT%H%M%S")
        info = ObjectInfo(
            storage_id=0,
            object_format=Ofc.EXIF_JPEG,
            compressed_size=len(frame),
            image_pix_width=camera.live_picture.size[0],
            image_pix_height=camera.live_picture.size[1],
            filename="LIVEVIEW.JPG",
            capture_date=stamp,
            modification_date=stamp,
        )
        return Reply(data=info.to_bytes())

    def get_object(ctx: OperationContext) -> Reply:
        if ctx.param(0) != LIVE_VIEW_HANDLE:
            return fallback(Op.GET_OBJECT, ctx)
        if not live_view_available(ctx):
            return error(Rc.INVALID_OBJECT_HANDLE)
        conn = state.connection(ctx.session)
        frame, conn.frame = conn.frame, None
        return Reply(data=frame if frame is not None else state.live_view_frame(state.frames))

    def delete_object(ctx: OperationContext) -> Reply:
        reply = fallback(Op.DELETE_OBJECT, ctx)
        if reply.code == Rc.OK:
            state.put(OBJECT_COUNT, state.object_count())
        return reply

    handlers: dict[int, Callable[[OperationContext], Reply]] = {
        Op.GET_DEVICE_PROP_DESC: get_prop_desc,
        Op.GET_DEVICE_PROP_VALUE: get_prop_value,
        FUJI_GET_DEVICE_INFO: fuji_device_info,
        Op.INITIATE_OPEN_CAPTURE: open_capture,
        Op.TERMINATE_OPEN_CAPTURE: terminate_capture,
        Op.INITIATE_CAPTURE: initiate_capture,
        GET_CAPTURE_PREVIEW: get_capture_preview,
        Op.GET_OBJECT_INFO: get_object_info,
        Op.GET_OBJECT: get_object,
        Op.DELETE_OBJECT: delete_object,
    }
    table = {code: Operation(code=code, handler=handler) for code, handler in handlers.items()}
    table[Op.SET_DEVICE_PROP_VALUE] = Operation(
        code=Op.SET_DEVICE_PROP_VALUE, handler=set_prop_value, data_out=True
    )
    return table


#: Operations an X-T2 does not have (MTP's object properties, Android's 64-bit reads: it is a
#: PTP camera with Fujifilm's extension, not an MTP device).
_NOT_AN_MTP_DEVICE: Final = range(0x9500, 0x9900)

#: Events DeviceInfo lists.
_EVENTS: Final = (
    Ec.OBJECT_ADDED,
    Ec.OBJECT_REMOVED,
    Ec.DEVICE_PROP_CHANGED,
    Ec.CAPTURE_COMPLETE,
    EC_PREVIEW_AVAILABLE,
    EC_OBJECT_ADDED,
)
#: Fujifilm's RAF (ptp.h PTP_OFC_FUJI_RAF).
RAF_FORMAT: Final = 0xB103


def _device_info(camera: VirtualCamera, state: FujiState) -> Callable[[], DeviceInfo]:
    base = camera.device_info

    def device_info() -> DeviceInfo:
        info = base()
        if state.options.empty_device_info:
            # What an X-T4 gives over Wi-Fi (landscape.md 1.4): the dataset with nothing in
            # it; libgphoto2 then makes one up.
            return DeviceInfo(
                standard_version=info.standard_version,
                vendor_extension_id=info.vendor_extension_id,
                vendor_extension_version=info.vendor_extension_version,
                vendor_extension_desc=info.vendor_extension_desc,
                manufacturer=info.manufacturer,
                model=info.model,
                device_version=info.device_version,
                serial_number=info.serial_number,
            )
        return DeviceInfo(
            standard_version=info.standard_version,
            vendor_extension_id=info.vendor_extension_id,
            vendor_extension_version=info.vendor_extension_version,
            vendor_extension_desc=info.vendor_extension_desc,
            functional_mode=0,
            operations_supported=info.operations_supported,
            events_supported=tuple(int(code) for code in _EVENTS),
            device_properties_supported=tuple(
                prop.code for prop in camera.properties if prop.code not in _HIDDEN
            ),
            capture_formats=(Ofc.EXIF_JPEG, RAF_FORMAT),
            playback_formats=info.playback_formats,
            manufacturer=info.manufacturer,
            model=info.model,
            device_version=info.device_version,
            serial_number=info.serial_number,
        )

    return device_info


def install(camera: VirtualCamera, options: FujiOptions | None = None) -> None:
    """Give ``camera`` the X-T2's properties and operations (Personality.install)."""
    state = FujiState(camera, options or FujiOptions())
    # The friendly name stays (the network server names itself with it), unlisted.
    camera.properties.define([*_props(), camera.properties[FRIENDLY_NAME]])
    for code in list(camera.operations):
        if code in _NOT_AN_MTP_DEVICE:
            del camera.operations[code]
    camera.operations.update(_operations(camera, state))
    camera.device_info = _device_info(camera, state)  # type: ignore[method-assign]
    camera.live_view_frames = state.live_view_frame
    # 0xD240 follows the exposure time and program (what 0xD212 reports for it).
    camera.properties[SHUTTER_SPEED].read_hook = lambda: state.state_value(SHUTTER_SPEED)
    state.put(OBJECT_COUNT, state.object_count())
    _STATES[camera] = state


#: libgphoto2's models table names 0x04CB:0x02CD "Fuji:Fujifilm X-T2" (Debian's
#: 20-libgphoto2-6.hwdb: "# Fuji Fujifilm X-T2 / usb:v04CBp02CD*").
USB_VENDOR_ID: Final = 0x04CB
USB_PRODUCT_ID: Final = 0x02CD


def personality(options: Mapping[str, str] | None = None) -> Personality:
    """The ``fuji-x`` personality (options: :data:`OPTIONS`)."""
    parsed = parse_options(options or {})

    def install_with_options(camera: VirtualCamera) -> None:
        install(camera, parsed)

    return Personality(
        manufacturer="FUJIFILM",
        model="X-T2",
        serial_number="PTPKIT-XT2-0001",
        device_version="4.30",
        standard_version=100,
        vendor_extension_id=0x0000000E,  # PTP_VENDOR_FUJI (ptp.h)
        vendor_extension_version=100,
        # What X bodies say (petabyt/vcam fuji_init_cam).
        vendor_extension_desc="fujifilm.co.jp: 1.0; ",
        install=install_with_options,
        usb_vendor_id=USB_VENDOR_ID,
        usb_product_id=USB_PRODUCT_ID,
        ptpip_variant="fuji",
    )


__all__ = [
    "FujiOptions",
    "FujiState",
    "fuji_state",
    "install",
    "parse_options",
    "personality",
]
