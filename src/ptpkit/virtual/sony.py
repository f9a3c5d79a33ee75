"""A virtual Sony Alpha 7 III in "PC Remote" mode: the personality ``sony``.

::

    VirtualCamera(personality=personality_for("sony"))
    ptpkit.connect("virtual:?model=sony&protocol=200")
    ptpkit virtual serve --model sony            # standard PTP/IP on 15740

What a client of a Sony body meets (vendors.md section 3; sources cited where each fact is used):

- DeviceInfo with Sony's vendor extension (0x11) over USB; over PTP/IP the MTP one (6) with the
  manufacturer "Sony Corporation", as bodies report it there (libgphoto2 library.c forces Sony
  from that manufacturer "mostly for PTP/IP mode");
- the SDIO handshake: SDIO_Connect 0x9201 phases 1, 2, 3 (each with a data-in phase, empty here),
  SDIO_GetExtDeviceInfo 0x9202 (the protocol version the body speaks, 3.00 = 0x12C or, with the
  option ``protocol=200``, only 2.00 = 0xC8, and the property and control codes);
- GetAllExtDevicePropInfo 0x9209 (u64 count + Sony descriptors) as the only way to read settings;
  SetControlDeviceA 0x9205 to set them (ISO 0xD21E, shutter speed 0xD20D, f-number 0x5007,
  exposure compensation 0x5010, white balance 0x5005, focus mode 0x500A, Still Image Save
  Destination 0xD222, PriorityMode 0xD25A) and SetControlDeviceB 0x9207 for buttons (half press
  0xD2C1, full press 0xD2C2: 2 press, 1 release) and for a setting's notch (a one-byte +1 / -1:
  the "notch up/down" of protocol 2.00 bodies, vendors.md 3.1);
- events 0xC203 (a property changed: its code, no value) and 0xC201 (an object is ready);
- capture: the full press takes the picture; FocusFound 0xD213 goes to 2 unless the focus mode is
  manual; the picture is ready in the camera's memory a few 0x9209 reads later, when
  ObjectInMemory 0xD215 turns 0x8001, at handle 0xFFFFC001 (read before that: an error);
  with Still Image Save Destination "camera" it goes to the card only;
- live view at 0xFFFFC002: a header with the JPEG's offset and size, then the JPEG
  (:func:`ptpkit.core.sony.encode_live_view`); InvalidObjectHandle while it starts, AccessDenied
  0x200F when asked again before the next frame;
- Sony over Wi-Fi: 0x9280 / 0x9281 (library.c sends them before file access and at exit).

Options (:data:`OPTIONS`): ``protocol`` (300 or 200), ``mode`` (remote, or mtp: "PC Remote" not
selected, the body is an MTP device without SDIO operations), ``save`` (pc, camera, both: the
Still Image Save Destination it starts with), ``empty_ext_info`` (how many 0x9202 answers are
empty before the body is ready), ``busy_frames`` (AccessDenied answers after each live-view
frame), ``ready_polls`` (0x9209 reads before a capture is in memory).

Not modelled, for want of a source: the QX lens-style operations (0x96xx), movies, RAW + JPEG
pairs in memory, 0x9203/0x9204 single-property reads, the exposure program's limits on which
settings may change.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ptpkit.codes.common import Ofc, Op, Rc
from ptpkit.core import sony
from ptpkit.core.datasets import DeviceInfo, EnumerationForm, ObjectInfo, decode_value
from ptpkit.core.datatypes import DataType, Value, as_int
from ptpkit.core.ptpip import PtpIpFraming
from ptpkit.errors import DecodeError, UsageError
from ptpkit.virtual.camera import DEFAULT_STORAGE_ID, Personality, VirtualCamera
from ptpkit.virtual.imaging import render_jpeg_bytes
from ptpkit.virtual.properties import VirtualProperty
from ptpkit.virtual.responder import Operation, OperationContext, Reply, ResponderSession, error

log = logging.getLogger("ptpkit.virtual")

# -- codes (libgphoto2 camlibs/ptp2/ptp.h PTP_OC_SONY_*, PTP_DPC_SONY_*, PTP_EC_Sony_*) ----------

SDIO_CONNECT: Final = 0x9201
SDIO_GET_EXT_DEVICE_INFO: Final = 0x9202
SET_CONTROL_DEVICE_A: Final = 0x9205
SET_CONTROL_DEVICE_B: Final = 0x9207
GET_ALL_EXT_DEVICE_PROP_INFO: Final = 0x9209
WIFI_9280: Final = 0x9280
WIFI_9281: Final = 0x9281
SDIO_OPERATIONS: Final = (SDIO_CONNECT, SDIO_GET_EXT_DEVICE_INFO, SET_CONTROL_DEVICE_A,
                          SET_CONTROL_DEVICE_B, GET_ALL_EXT_DEVICE_PROP_INFO, WIFI_9280,
                          WIFI_9281)  # fmt: skip

EC_OBJECT_ADDED: Final = 0xC201
EC_PROPERTY_CHANGED: Final = 0xC203

COMPRESSION: Final = 0x5004
WHITE_BALANCE: Final = 0x5005
F_NUMBER: Final = 0x5007
FOCUS_MODE: Final = 0x500A
EXPOSURE_PROGRAM: Final = 0x500E
EXPOSURE_COMPENSATION: Final = 0x5010
SHUTTER_SPEED: Final = 0xD20D
BATTERY_LEVEL: Final = 0xD20E
FOCUS_FOUND: Final = 0xD213
OBJECT_IN_MEMORY: Final = 0xD215
ISO: Final = 0xD21E
SAVE_DESTINATION: Final = 0xD222
PRIORITY_MODE: Final = 0xD25A
HALF_PRESS: Final = 0xD2C1
FULL_PRESS: Final = 0xD2C2
BUTTONS: Final = (HALF_PRESS, FULL_PRESS)
#: Button values (vendors.md 3.3): 2 = press, 1 = release.
PRESS: Final = 2
RELEASE: Final = 1

#: The captured picture in the camera's memory and the live-view frame (library.c).
CAPTURE_HANDLE: Final = 0xFFFFC001
LIVE_VIEW_HANDLE: Final = 0xFFFFC002
#: ObjectInMemory: 0x8000 + the number of pictures waiting (0x8001: one), 0 for none.
IN_MEMORY_BASE: Final = 0x8000

#: Focus: FocusFound 1 = not focused, 2 = focused (library.c camera_sony_capture waits for 2).
FOCUS_NONE: Final = 1
FOCUS_FOUND_VALUE: Final = 2
#: Focus modes (ptp.h / Sony values as libgphoto2's config.c focusmodes table lists them):
#: manual 1, AF-S 2, AF-C 0x8004, DMF 0x8005, AF-A 0x8006.
MANUAL_FOCUS: Final = 1
FOCUS_MODES: Final = (MANUAL_FOCUS, 2, 0x8004, 0x8005, 0x8006)

#: Still Image Save Destination values. Unconfirmed (no source at hand gives the numbers):
#: 0x0001 the computer only, 0x0010 the camera (card) only, 0x0011 both.
SAVE_PC: Final = 0x0001
SAVE_CAMERA: Final = 0x0010
SAVE_BOTH: Final = 0x0011
SAVE_CHOICES: Final = {"pc": SAVE_PC, "camera": SAVE_CAMERA, "both": SAVE_BOTH}

#: Sony shutter speed (0xD20D, u32): numerator << 16 | denominator (1/125 = 0x0001007D, 30" =
#: 0x012C000A); 0 is bulb (libgphoto2 config.c _get_Sony_ShutterSpeed).
SHUTTER_BULB: Final = 0


def shutter(numerator: int, denominator: int) -> int:
    return numerator << 16 | denominator


SHUTTER_SPEEDS: Final = (
    SHUTTER_BULB,
    *(shutter(n * 10, 10) for n in (30, 25, 20, 15, 13, 10, 8, 6, 5, 4)),
    *(shutter(n, 10) for n in (32, 25, 20, 16, 13, 10, 8, 6, 5, 4)),
    shutter(1, 3),
    *(shutter(1, d) for d in (4, 5, 6, 8, 10, 13, 15, 20, 25, 30, 40, 50, 60, 80, 100, 125,
                               160, 200, 250, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000,
                               2500, 3200, 4000, 5000, 6400, 8000)),
)  # fmt: skip
#: ISO (0xD21E, u32): 0xFFFFFF = auto (libgphoto2 config.c _get_Sony_ISO), else the number.
ISO_AUTO: Final = 0xFFFFFF
ISO_VALUES: Final = (ISO_AUTO, 50, 100, 125, 160, 200, 250, 320, 400, 500, 640, 800, 1000,
                     1250, 1600, 2000, 2500, 3200, 4000, 5000, 6400, 8000, 10000, 12800, 25600,
                     51200)  # fmt: skip
#: F-numbers in hundredths (0x5007, u16), f/4 to f/22 (the FE 28-70 mm kit lens).
F_NUMBERS: Final = (400, 450, 500, 560, 630, 710, 800, 900, 1000, 1100, 1300, 1400, 1600,
                    1800, 2000, 2200)  # fmt: skip
#: Exposure compensation in thousandths of a stop (0x5010, i16), -3 to +3 in thirds as Sony
#: rounds them (300, 700, 1000...).
EV_VALUES: Final = (-3000, -2700, -2300, -2000, -1700, -1300, -1000, -700, -300, 0, 300, 700,
                    1000, 1300, 1700, 2000, 2300, 2700, 3000)  # fmt: skip
#: White balance (0x5005): auto 2, daylight 4, tungsten 6, flash 7, fluorescent 0x8001-0x8006,
#: cloudy 0x8010, shade 0x8011, colour temperature 0x8012, custom 0x8020.
WHITE_BALANCES: Final = (0x0002, 0x0004, 0x0006, 0x0007, 0x8001, 0x8002, 0x8003, 0x8004,
                         0x8005, 0x8006, 0x8010, 0x8011, 0x8012, 0x8020)  # fmt: skip
#: Exposure program (0x500E, u32 on protocol 3.00 bodies, vendors.md 3.1): M 1, P 2, A 3, S 4.
EXPOSURE_PROGRAMS: Final = (1, 2, 3, 4)

#: The live-view picture and the padding between the header and the JPEG (unconfirmed size).
LIVE_VIEW_SIZE: Final = (640, 424)
LIVE_VIEW_PADDING: Final = 16
CAPTURE_FOLDER: Final = "DCIM/100MSDCF"


def _enum(*values: Value) -> EnumerationForm:
    return EnumerationForm(values=tuple(values))


def _props(save: int) -> list[VirtualProperty]:
    u8, u16, u32 = DataType.UINT8, DataType.UINT16, DataType.UINT32
    return [
        # Image quality: libgphoto2 camera_sony_capture reads it (RAW + JPEG makes two objects):
        # standard 2, fine 3, extra fine 4 (JPEG only here; RAW is not modelled).
        VirtualProperty(COMPRESSION, u8, 3, 3, _enum(2, 3, 4)),
        VirtualProperty(F_NUMBER, u16, 560, 560, _enum(*F_NUMBERS)),
        VirtualProperty(WHITE_BALANCE, u16, 2, 2, _enum(*WHITE_BALANCES)),
        VirtualProperty(FOCUS_MODE, u16, 2, 2, _enum(*FOCUS_MODES)),
        VirtualProperty(EXPOSURE_PROGRAM, u32, 1, 1, _enum(*EXPOSURE_PROGRAMS)),
        VirtualProperty(EXPOSURE_COMPENSATION, DataType.INT16, 0, 0, _enum(*EV_VALUES)),
        VirtualProperty(SHUTTER_SPEED, u32, shutter(1, 125), shutter(1, 125),
                        _enum(*SHUTTER_SPEEDS)),
        VirtualProperty(ISO, u32, ISO_AUTO, ISO_AUTO, _enum(*ISO_VALUES)),
        VirtualProperty(SAVE_DESTINATION, u16, SAVE_PC, save, _enum(SAVE_PC, SAVE_CAMERA,
                                                                    SAVE_BOTH)),
        VirtualProperty(PRIORITY_MODE, u8, 0, 0, _enum(0, 1)),
        VirtualProperty(BATTERY_LEVEL, u8, 100, 80, writable=False),
        VirtualProperty(FOCUS_FOUND, u8, FOCUS_NONE, FOCUS_NONE, writable=False),
        VirtualProperty(OBJECT_IN_MEMORY, u16, 0, 0, writable=False),
        # The buttons (SetControlDeviceB only): released 1, pressed 2.
        VirtualProperty(HALF_PRESS, u16, RELEASE, RELEASE, _enum(RELEASE, PRESS)),
        VirtualProperty(FULL_PRESS, u16, RELEASE, RELEASE, _enum(RELEASE, PRESS)),
    ]  # fmt: skip


#: What 0x9202 lists besides the properties: the buttons and Sony's events (libgphoto2 merges
#: these into DeviceInfo by class).
CONTROL_CODES: Final = (HALF_PRESS, FULL_PRESS, EC_OBJECT_ADDED, EC_PROPERTY_CHANGED)
#: Set directly only with protocol 3.00 ("direct-set shutter/ISO/f-stop", vendors.md 3.1).
NOTCH_ONLY: Final = (SHUTTER_SPEED, ISO, F_NUMBER)
#: getset of a button in 0x9209 (vendors.md 3.2: 0x81 button).
GETSET_BUTTON: Final = 0x81
#: isenabled "display only" (vendors.md 3.2), what a read-only value is.
DISPLAY_ONLY: Final = 2


# -- options ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SonyOptions:
    #: The SDIO protocol the body speaks: 300 (2020 models and later) or 200 (earlier ones).
    protocol: int = 300
    #: "remote" ("PC Remote" selected) or "mtp" (the USB setting left at MTP: files only).
    mode: str = "remote"
    #: Still Image Save Destination at start: SAVE_PC, SAVE_CAMERA or SAVE_BOTH.
    save: int = SAVE_PC
    #: 0x9202 answers that are empty before the body is ready (libgphoto2 retries).
    empty_ext_info: int = 0
    #: AccessDenied answers to GetObject(0xFFFFC002) after each frame (asked too fast).
    busy_frames: int = 1
    #: 0x9209 reads after the full press before the picture is in memory.
    ready_polls: int = 2


OPTIONS: Final = {
    "protocol": "300 or 200",
    "mode": "remote or mtp",
    "save": "pc, camera or both",
    "empty_ext_info": "a count",
    "busy_frames": "a count",
    "ready_polls": "a count",
}


def _count(key: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 100:
        raise UsageError(f"sony option {key} takes a count from 0 to 100, not {text!r}")
    return value


def parse_options(options: Mapping[str, str]) -> SonyOptions:
    """``virtual:`` URL or command-line options -> SonyOptions (UsageError for a bad one)."""
    fields: dict[str, int | str] = {}
    for key, value in options.items():
        text = value.strip().lower()
        if key == "protocol":
            if text not in ("300", "200"):
                raise UsageError(f"sony option protocol takes 300 or 200, not {value!r}")
            fields[key] = int(text)
        elif key == "mode":
            if text not in ("remote", "mtp"):
                raise UsageError(f"sony option mode takes remote or mtp, not {value!r}")
            fields[key] = text
        elif key == "save":
            if text not in SAVE_CHOICES:
                raise UsageError(f"sony option save takes pc, camera or both, not {value!r}")
            fields[key] = SAVE_CHOICES[text]
        elif key in ("empty_ext_info", "busy_frames", "ready_polls"):
            fields[key] = _count(key, text)
        else:
            raise UsageError(f"model sony has no option {key!r}; its options: {', '.join(OPTIONS)}")
    return SonyOptions(**fields)  # type: ignore[arg-type]


# -- state -----------------------------------------------------------------------------------------


@dataclass
class _Connection:
    #: SDIO_Connect phases done (1, 2, 3), in order.
    phase: int = 0
    #: 0x9202 answered with codes (the handshake may go on to phase 3).
    ext_info: bool = False
    #: Empty 0x9202 answers given so far.
    empty_answers: int = 0
    #: The protocol version 0x9202 answered (0xC8 or 0x12C).
    version: int = 0
    #: 0x9280 "open" received (Wi-Fi file access).
    wifi_open: bool = False
    #: Live view: GetObjectInfo(0xFFFFC002) answered at least once since it started.
    live_started: bool = False
    #: AccessDenied answers left before the next frame.
    busy_left: int = 0
    frame: bytes | None = None


@dataclass
class _Picture:
    name: str
    data: bytes


@dataclass
class SonyState:
    """The Sony side of one virtual camera."""

    camera: VirtualCamera
    options: SonyOptions
    lock: threading.RLock = field(default_factory=threading.RLock)
    connections: weakref.WeakKeyDictionary[ResponderSession, _Connection] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    #: Pictures in the camera's memory, oldest first (0xFFFFC001 is the first).
    in_memory: list[_Picture] = field(default_factory=list)
    #: A picture taken whose processing is not finished: 0x9209 reads left, and the picture.
    processing: tuple[int, _Picture] | None = None
    half_pressed: bool = False
    full_pressed: bool = False
    #: Every picture taken, as (name, bytes) (tests compare downloads with these).
    captured: list[tuple[str, bytes]] = field(default_factory=list)
    #: Every (operation, code, value) a host sent through 0x9205 / 0x9207, in order.
    control_log: list[tuple[int, int, int]] = field(default_factory=list)
    #: 0x9280 blocks received, in order.
    wifi_log: list[sony.WifiBlock] = field(default_factory=list)
    #: Reads of 0xFFFFC001 refused because no picture was ready.
    early_reads: int = 0
    frames: int = 0
    #: The last live-view JPEG made (tests compare a client's frame with it).
    last_frame: bytes = b""
    number: int = 0

    def connection(self, session: ResponderSession) -> _Connection:
        with self.lock:
            found = self.connections.get(session)
            if found is None:
                found = self.connections[session] = _Connection()
            return found

    def value(self, code: int) -> int:
        return as_int(self.camera.properties[code].current())

    def put(self, code: int, value: Value) -> None:
        """The camera's own change of ``code``: 0xC203 with the code (Sony sends no value)."""
        prop = self.camera.properties[code]
        if prop.current() != value:
            prop.value = value
            self.camera.emit(EC_PROPERTY_CHANGED, code)

    def update_in_memory(self) -> None:
        count = len(self.in_memory)
        self.put(OBJECT_IN_MEMORY, IN_MEMORY_BASE + count if count else 0)

    # -- the shutter -------------------------------------------------------------------------

    def fire(self) -> None:
        """The full press: the picture is taken; it reaches memory (and/or the card) once
        processed (``ready_polls`` reads of 0x9209 later)."""
        self.number = self.number % 9999 + 1
        name = f"DSC{self.number:05d}.JPG"
        exposure = self.value(SHUTTER_SPEED)
        numerator, denominator = exposure >> 16, exposure & 0xFFFF
        iso = self.value(ISO)
        data = render_jpeg_bytes(
            title=f"ILCE-7M3  {name}",
            taken=self.camera.properties.clock.now(),
            seed=4000 + self.number,
            make=self.camera.personality.manufacturer,
            model=self.camera.personality.model,
            exposure=(numerator, denominator) if denominator else None,
            f_number=(self.value(F_NUMBER), 100),
            iso=None if iso == ISO_AUTO else iso,
        )
        self.captured.append((name, data))
        del self.captured[:-16]
        picture = _Picture(name, data)
        if self.options.ready_polls == 0:
            self.finish(picture)
        else:
            self.processing = (self.options.ready_polls, picture)

    def finish(self, picture: _Picture) -> None:
        destination = self.value(SAVE_DESTINATION)
        if destination in (SAVE_CAMERA, SAVE_BOTH):
            self.to_card(picture)
        if destination in (SAVE_PC, SAVE_BOTH):
            self.in_memory.append(picture)
            self.update_in_memory()
            self.camera.emit(EC_OBJECT_ADDED, CAPTURE_HANDLE)

    def to_card(self, picture: _Picture) -> None:
        store = self.camera.stores[DEFAULT_STORAGE_ID]
        if store.read_only:
            log.warning("virtual Sony: the card is read only; %s not saved", picture.name)
            return
        try:
            folder = store.root / CAPTURE_FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            (folder / picture.name).write_bytes(picture.data)
            obj = store.add_file(f"{CAPTURE_FOLDER}/{picture.name}")
        except OSError as exc:
            log.warning("virtual Sony: saving %s failed: %s", picture.name, exc)
            return
        self.camera.emit(0x4002, obj.handle)  # standard ObjectAdded for the card

    def tick(self) -> None:
        """One 0x9209 read: processing advances."""
        if self.processing is None:
            return
        left, picture = self.processing
        if left > 1:
            self.processing = (left - 1, picture)
            return
        self.processing = None
        self.finish(picture)

    # -- live view ---------------------------------------------------------------------------

    def live_view_frame(self, counter: int) -> bytes:
        # The camera's live-view picture numbers its frames itself (counter is the
        # caller's count); it waits for the next frame to be due, outside this lock.
        frame = self.camera.live_picture.next_frame()
        with self.lock:
            self.frames += 1
            self.last_frame = frame
        return frame


_STATES: weakref.WeakKeyDictionary[VirtualCamera, SonyState] = weakref.WeakKeyDictionary()


def sony_state(camera: VirtualCamera) -> SonyState:
    """The Sony side of a camera made with the ``sony`` personality (KeyError if not)."""
    return _STATES[camera]


def over_ptpip(session: ResponderSession) -> bool:
    return isinstance(session.connection.framing, PtpIpFraming)


# -- operations ------------------------------------------------------------------------------------


def _operations(camera: VirtualCamera, state: SonyState) -> dict[int, Operation]:
    fallback_ops = dict(camera.operations)

    def fallback(code: int, ctx: OperationContext) -> Reply:
        return fallback_ops[code].handler(ctx)

    def connected(ctx: OperationContext) -> bool:
        return state.connection(ctx.session).phase >= 3

    def sdio_connect(ctx: OperationContext) -> Reply:
        phase = ctx.param(0)
        with state.lock:
            conn = state.connection(ctx.session)
            # Phases in order: 1, 2, then 3 after 0x9202 (library.c camera_init). A phase out
            # of order is refused; asking a phase again (a host starting over) is accepted.
            if phase not in (1, 2, 3) or phase > conn.phase + 1:
                return error(Rc.INVALID_PARAMETER)
            if phase == 3 and not conn.ext_info:
                return error(Rc.INVALID_PARAMETER)
            conn.phase = phase
        return Reply(data=b"")

    def get_ext_device_info(ctx: OperationContext) -> Reply:
        asked = ctx.param(0)
        with state.lock:
            conn = state.connection(ctx.session)
            if conn.phase < 2:
                return error(Rc.INVALID_PARAMETER)
            if conn.empty_answers < state.options.empty_ext_info:
                # Not ready yet: an empty answer (libgphoto2 asks again, up to 20 times).
                conn.empty_answers += 1
                return Reply(data=b"")
            conn.ext_info = True
        # The body answers the version it speaks: 0x12C when asked for it and able, else 0xC8.
        speaks_3 = state.options.protocol == 300 and asked >= sony.PROTOCOL_3_00
        version = sony.PROTOCOL_3_00 if speaks_3 else sony.PROTOCOL_2_00
        with state.lock:
            state.connection(ctx.session).version = version
        props = tuple(prop.code for prop in sony_properties() if prop.code not in BUTTONS)
        controls = CONTROL_CODES
        info = sony.ExtDeviceInfo(version=version, property_codes=props, control_codes=controls)
        return Reply(data=sony.encode_ext_device_info(info))

    def sony_properties() -> list[VirtualProperty]:
        return [prop for prop in camera.properties if prop.code != FRIENDLY_NAME]

    def descriptors() -> list[sony.SonyPropDesc]:
        out = []
        for prop in sony_properties():
            if prop.code in BUTTONS:
                get_set = GETSET_BUTTON
            else:
                get_set = sony.GETSET_READ_WRITE if prop.writable else sony.GETSET_READ_ONLY
            out.append(
                sony.SonyPropDesc(
                    code=prop.code,
                    datatype=prop.datatype,
                    get_set=get_set,
                    is_enabled=sony.ENABLED if prop.writable else DISPLAY_ONLY,
                    factory_default=prop.factory_default,
                    current=prop.current(),
                    form=prop.form,
                )
            )
        return out

    def get_all_prop_info(ctx: OperationContext) -> Reply:
        if not connected(ctx):
            return error(Rc.ACCESS_DENIED)
        with state.lock:
            state.tick()
            return Reply(data=sony.encode_all_prop_info(descriptors()))

    def set_control_a(ctx: OperationContext) -> Reply:
        if not connected(ctx):
            return error(Rc.ACCESS_DENIED)
        code = ctx.param(0)
        if code not in camera.properties or code in BUTTONS or code == FRIENDLY_NAME:
            return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
        prop = camera.properties[code]
        if not prop.writable:
            return error(Rc.ACCESS_DENIED)
        try:
            value = decode_value(ctx.data, prop.datatype)
        except DecodeError:
            return error(Rc.INVALID_DEVICE_PROP_FORMAT)
        with state.lock:
            state.control_log.append((SET_CONTROL_DEVICE_A, code, as_int(value)))
            if state.connection(ctx.session).version != sony.PROTOCOL_3_00 and code in NOTCH_ONLY:
                # Protocol 2.00: these move by notches only (vendors.md 3.1); a direct value is
                # taken and has no effect. Inferred from libgphoto2 2.5.30, which after
                # stepping the shutter speed sends SetControlDeviceA(0xD20D, 0) and expects
                # the speed it stepped to to stay.
                return Reply()
            if not prop.accepts(value):
                return error(Rc.INVALID_DEVICE_PROP_VALUE)
            state.put(code, value)
        return Reply()

    def notch(code: int, step: int) -> Reply:
        # A protocol-2.00 body moves a setting one notch up or down (vendors.md 3.1).
        prop = camera.properties[code]
        if not prop.writable or not isinstance(prop.form, EnumerationForm):
            return error(Rc.ACCESS_DENIED)
        values = prop.form.values
        index = values.index(prop.current()) if prop.current() in values else 0
        index = max(0, min(len(values) - 1, index + step))
        state.put(code, values[index])
        return Reply()

    def set_control_b(ctx: OperationContext) -> Reply:
        if not connected(ctx):
            return error(Rc.ACCESS_DENIED)
        code = ctx.param(0)
        data = ctx.data
        if not data:
            return error(Rc.INVALID_DEVICE_PROP_FORMAT)
        raw = int.from_bytes(data[:2], "little")
        with state.lock:
            state.control_log.append((SET_CONTROL_DEVICE_B, code, raw))
            if code in BUTTONS:
                if raw not in (PRESS, RELEASE):
                    return error(Rc.INVALID_DEVICE_PROP_VALUE)
                return button(code, raw == PRESS)
            if code in camera.properties and code != FRIENDLY_NAME and len(data) == 1:
                return notch(code, 1 if data[0] < 0x80 else -1)
        return error(Rc.DEVICE_PROP_NOT_SUPPORTED)

    def button(code: int, down: bool) -> Reply:
        if code == HALF_PRESS:
            state.half_pressed = down
            if down and state.value(FOCUS_MODE) != MANUAL_FOCUS:
                state.put(FOCUS_FOUND, FOCUS_FOUND_VALUE)
            elif not down:
                state.put(FOCUS_FOUND, FOCUS_NONE)
            state.put(HALF_PRESS, PRESS if down else RELEASE)
            return Reply()
        state.put(FULL_PRESS, PRESS if down else RELEASE)
        if down and not state.full_pressed:
            state.full_pressed = True
            if state.value(FOCUS_MODE) != MANUAL_FOCUS:
                state.put(FOCUS_FOUND, FOCUS_FOUND_VALUE)
            state.fire()
        elif not down:
            state.full_pressed = False
        return Reply()

    # -- objects: the picture in memory, live view, Wi-Fi file access ----------------------------

    def picture_info(picture: _Picture) -> ObjectInfo:
        stamp = camera.properties.clock.now().strftime("%Y%m%dT%H%M%S")
        return ObjectInfo(
            storage_id=0,
            object_format=Ofc.EXIF_JPEG,
            compressed_size=len(picture.data),
            parent_object=0,
            filename=picture.name,
            capture_date=stamp,
            modification_date=stamp,
        )

    def live_frame(ctx: OperationContext) -> bytes | Reply:
        conn = state.connection(ctx.session)
        if not conn.live_started:
            # Live view starting: "can persist for up to 1 second on the ZV-1" (library.c).
            conn.live_started = True
            return error(Rc.INVALID_OBJECT_HANDLE)
        if conn.frame is None:
            if conn.busy_left > 0:
                conn.busy_left -= 1
                return error(Rc.ACCESS_DENIED)
            jpeg = state.live_view_frame(state.frames)
            conn.frame = sony.encode_live_view(
                sony.LiveViewFrame(jpeg=jpeg), padding_bytes=LIVE_VIEW_PADDING
            )
        return conn.frame

    def file_access_allowed(ctx: OperationContext) -> bool:
        # Over Wi-Fi the card is reachable after 0x9280 "open" (library.c sends it first).
        return not over_ptpip(ctx.session) or state.connection(ctx.session).wifi_open

    def get_object_info(ctx: OperationContext) -> Reply:
        handle = ctx.param(0)
        with state.lock:
            if handle == CAPTURE_HANDLE:
                if not state.in_memory:
                    state.early_reads += 1
                    return error(Rc.INVALID_OBJECT_HANDLE)
                return Reply(data=picture_info(state.in_memory[0]).to_bytes())
            if handle == LIVE_VIEW_HANDLE:
                frame = live_frame(ctx)
                if isinstance(frame, Reply):
                    return frame
                info = ObjectInfo(storage_id=0, object_format=Ofc.EXIF_JPEG,
                                  compressed_size=len(frame), filename="LIVEVIEW.JPG")  # fmt: skip
                return Reply(data=info.to_bytes())
        if not file_access_allowed(ctx):
            return error(Rc.ACCESS_DENIED)
        return fallback(Op.GET_OBJECT_INFO, ctx)

    def get_object(ctx: OperationContext) -> Reply:
        handle = ctx.param(0)
        with state.lock:
            if handle == CAPTURE_HANDLE:
                if not state.in_memory:
                    state.early_reads += 1
                    return error(Rc.INVALID_OBJECT_HANDLE)
                # Read: the camera lets it go (ObjectInMemory counts down). Done now, not after
                # the response: the next request must see the count without it.
                picture = state.in_memory.pop(0)
                state.update_in_memory()
                return Reply(data=picture.data)
            if handle == LIVE_VIEW_HANDLE:
                conn = state.connection(ctx.session)
                frame = live_frame(ctx)
                if isinstance(frame, Reply):
                    return frame
                conn.frame = None
                conn.busy_left = state.options.busy_frames
                return Reply(data=frame)
        if not file_access_allowed(ctx):
            return error(Rc.ACCESS_DENIED)
        return fallback(Op.GET_OBJECT, ctx)

    def guarded(code: int) -> Callable[[OperationContext], Reply]:
        def handler(ctx: OperationContext) -> Reply:
            if not file_access_allowed(ctx):
                return error(Rc.ACCESS_DENIED)
            return fallback(code, ctx)

        return handler

    def wifi_9280(ctx: OperationContext) -> Reply:
        try:
            block = sony.decode_wifi_block(ctx.data)
        except DecodeError:
            return error(Rc.INVALID_PARAMETER)
        with state.lock:
            state.wifi_log.append(block)
            state.connection(ctx.session).wifi_open = block.additional == 2
        return Reply()

    def wifi_9281(ctx: OperationContext) -> Reply:
        return Reply(data=b"")

    handlers: dict[int, Callable[[OperationContext], Reply]] = {
        SDIO_CONNECT: sdio_connect,
        SDIO_GET_EXT_DEVICE_INFO: get_ext_device_info,
        GET_ALL_EXT_DEVICE_PROP_INFO: get_all_prop_info,
        WIFI_9281: wifi_9281,
        Op.GET_OBJECT_INFO: get_object_info,
        Op.GET_OBJECT: get_object,
    }
    for card_op in (Op.GET_OBJECT_HANDLES, Op.GET_NUM_OBJECTS, Op.GET_PARTIAL_OBJECT):
        if card_op in fallback_ops:
            handlers[card_op] = guarded(card_op)
    table = {code: Operation(code=code, handler=handler) for code, handler in handlers.items()}
    for out_op, handler in (
        (SET_CONTROL_DEVICE_A, set_control_a),
        (SET_CONTROL_DEVICE_B, set_control_b),
        (WIFI_9280, wifi_9280),
    ):
        table[out_op] = Operation(code=out_op, handler=handler, data_out=True)
    return table


#: Operations an Alpha in PC Remote mode does not have (MTP object properties, Android reads).
_NOT_AN_MTP_DEVICE: Final = range(0x9500, 0x9900)
#: MTP's DeviceFriendlyName, kept for the network server's name.
FRIENDLY_NAME: Final = 0xD402


def _device_info(camera: VirtualCamera, state: SonyState) -> Callable[[], DeviceInfo]:
    base = camera.device_info

    def device_info() -> DeviceInfo:
        info = base()
        # The operation table holds the SDIO ones only in PC Remote mode (install()).
        ops = info.operations_supported
        return DeviceInfo(
            standard_version=info.standard_version,
            vendor_extension_id=info.vendor_extension_id,
            vendor_extension_version=info.vendor_extension_version,
            vendor_extension_desc=info.vendor_extension_desc,
            functional_mode=0,
            operations_supported=ops,
            events_supported=info.events_supported,
            # Every property comes from 0x9202 (libgphoto2 merges them in).
            device_properties_supported=(),
            capture_formats=(Ofc.EXIF_JPEG,),
            playback_formats=info.playback_formats,
            manufacturer=info.manufacturer,
            model=info.model,
            device_version=info.device_version,
            serial_number=info.serial_number,
        )

    return device_info


VENDOR_MTP: Final = 0xFFFFFFFF
MTP_DESC: Final = "microsoft.com: 1.0;"


def _device_info_op(camera: VirtualCamera, state: SonyState) -> Operation:
    def get_device_info(ctx: OperationContext) -> Reply:
        info = camera.device_info()
        if over_ptpip(ctx.session):
            # Over PTP/IP a body reports the MTP vendor extension id libgphoto2 calls
            # PTP_VENDOR_MTP (0xFFFFFFFF, "occasionally" used for MTP: ptp.h) with its
            # manufacturer "Sony Corporation", from which library.c takes it for a Sony
            # ("Mostly for PTP/IP mode").
            info = dataclasses.replace(
                info, vendor_extension_id=VENDOR_MTP, vendor_extension_desc=MTP_DESC
            )
        elif state.options.mode == "mtp":
            # The USB setting left at MTP: an MTP device (Microsoft's id 6).
            info = dataclasses.replace(info, vendor_extension_id=6, vendor_extension_desc=MTP_DESC)
        return Reply(data=info.to_bytes())

    return Operation(code=Op.GET_DEVICE_INFO, handler=get_device_info, sessionless=True)


def install(camera: VirtualCamera, options: SonyOptions | None = None) -> None:
    """Give ``camera`` the Alpha's properties and operations (Personality.install)."""
    state = SonyState(camera, options or SonyOptions())
    camera.properties.define([*_props(state.options.save), camera.properties[FRIENDLY_NAME]])
    for code in list(camera.operations):
        if code in _NOT_AN_MTP_DEVICE:
            del camera.operations[code]
    ops = _operations(camera, state)
    if state.options.mode == "mtp":
        # "PC Remote" not selected: files only, no SDIO operations (libgphoto2#912).
        ops = {code: op for code, op in ops.items() if code not in SDIO_OPERATIONS}
        ops = {code: op for code, op in ops.items() if code not in (Op.GET_OBJECT_INFO,
                                                                     Op.GET_OBJECT)}  # fmt: skip
    camera.operations.update(ops)
    camera.operations[Op.GET_DEVICE_INFO] = _device_info_op(camera, state)
    camera.device_info = _device_info(camera, state)  # type: ignore[method-assign]
    camera.live_view_frames = state.live_view_frame
    _STATES[camera] = state


#: libgphoto2's models table: "Sony:Alpha-A7 III (Control)" 0x054C:0x0C34, and the same body in
#: MTP mode 0x0C03 (Debian's 20-libgphoto2-6.hwdb: "Sony Alpha-A7 III (PC Control)" /
#: usb:v054Cp0C34*, "(MTP mode)" / usb:v054Cp0C03*).
USB_VENDOR_ID: Final = 0x054C
USB_PRODUCT_ID_CONTROL: Final = 0x0C34
USB_PRODUCT_ID_MTP: Final = 0x0C03


def personality(options: Mapping[str, str] | None = None) -> Personality:
    """The ``sony`` personality (options: :data:`OPTIONS`)."""
    parsed = parse_options(options or {})

    def install_with_options(camera: VirtualCamera) -> None:
        install(camera, parsed)

    return Personality(
        manufacturer="Sony Corporation",
        model="ILCE-7M3",
        serial_number="00000000000000003282933003503283",
        device_version="3.10",
        standard_version=100,
        vendor_extension_id=0x00000011,  # PTP_VENDOR_SONY (ptp.h)
        vendor_extension_version=100,
        vendor_extension_desc="Sony PTP Extensions",
        install=install_with_options,
        usb_vendor_id=USB_VENDOR_ID,
        usb_product_id=USB_PRODUCT_ID_MTP if parsed.mode == "mtp" else USB_PRODUCT_ID_CONTROL,
    )


__all__ = [
    "OPTIONS",
    "SonyOptions",
    "SonyState",
    "install",
    "parse_options",
    "personality",
    "sony_state",
]
