"""A virtual Canon EOS: the personality ``canon-eos`` and the EOS operations it answers.

What makes libgphoto2 treat a camera as an EOS (camlibs/ptp2/library.c; vendors.md 1.1): the
Canon vendor extension id 0x0000000B, manufacturer "Canon", and the EOS operations in DeviceInfo
(EOS_RemoteRelease, EOS_GetEvent ...). It then sends EOS_SetRemoteMode(1), EOS_SetEventMode(1)
and polls EOS_GetEvent: the first answer is a dump of every property (PropValueChanged 0xC189 and
AvailListChanged 0xC18A records, each block closed by a CTGInfoCheckComplete 0xC1A4 as cameras
do), later ones only what changed, always ending with a terminator (vendors.md 1.2). Properties
are set with EOS_SetDevicePropValueEx (vendors.md 1.5), which the camera answers OK and reports
through the next GetEvent. As on a real EOS, DeviceInfo does not list the EOS properties: that
is what makes libgphoto2 take them from the GetEvent dump and set them with
SetDevicePropValueEx (config.c ``have_eos_prop``) rather than with the standard operations.

Beyond properties this camera has (vendors.md 1.6-1.9, 8):

- storage: EOS_GetStorageIDs / EOS_GetStorageInfo and EOS_GetObjectInfoEx, one folder a call;
- reading: EOS_GetObject, EOS_GetPartialObject (32-bit offsets), EOS_GetPartialObjectEx and the
  64-bit operations as ptp.h's comments give them (GetObject64 (oid), GetPartialObject64 (oid,
  offset, max), GetPartialObjectEX64 (oid, offset low, offset high, max)), GetObjectInfo64 (no
  source gives its layout: see get_object_info_64), EOS_TransferComplete;
- shooting: EOS_RemoteRelease (old bodies) and EOS_RemoteReleaseOn/Off (half press 1, full press
  2, both 3): a full press takes a picture. With the capture destination (0xD11C) on the card,
  the next GetEvent holds ObjectAddedEx (0xC181) for the file (and any folder made for it); with
  it on the computer (4) the picture stays in the camera's memory and GetEvent holds
  RequestObjectTransfer (0xC186): the host reads it (GetPartialObject) and ends with
  EOS_TransferComplete, which frees it. CameraStatusChanged (0xC18B) 1 then 0 frame the shot;
- live view: EVFOutputDevice (0xD1B0) with the PC bit starts it; EOS_GetViewFinderData answers
  ObjectNotReady (0xA102) for the first calls while it "warms up", then JPEG frames.
"""

from __future__ import annotations

import collections
import datetime as _dt
import logging
import re
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from ptpkit.codes.canon_eos_values import (
    APERTURE,
    APERTURE_PROP,
    CAPTURE_TARGET_PROP,
    DRIVE_MODE_PROP,
    EXPOSURE_COMP_PROP,
    IMAGE_FORMAT_PROP,
    ISO,
    ISO_PROP,
    SHUTTER,
    SHUTTER_PROP,
    WHITE_BALANCE,
    WHITE_BALANCE_PROP,
)
from ptpkit.codes.common import Ofc, Op, Rc
from ptpkit.core.buffer import Writer
from ptpkit.core.canon_eos import (
    AvailListChanged,
    CameraStatusChanged,
    CtgInfoCheckComplete,
    EosRecord,
    FolderEntry,
    ImageFormat,
    ObjectAdded,
    ObjectRemoved,
    PropKind,
    PropValue,
    PropValueChanged,
    RequestObjectTransfer,
    decode_prop_value,
    decode_set_prop_value_ex,
    encode_get_event,
    encode_object_info_ex,
    encode_prop_value,
    prop_kind,
)
from ptpkit.core.datasets import (
    DevicePropDesc,
    EnumerationForm,
    GetSet,
    ObjectInfo,
    decode_value,
    encode_uint32_array,
    encode_value,
)
from ptpkit.core.datatypes import DataType
from ptpkit.errors import DecodeError, LocalProtocolError
from ptpkit.virtual.camera import DEFAULT_STORAGE_ID, Personality, VirtualCamera
from ptpkit.virtual.content import BytesData, ObjectData
from ptpkit.virtual.imaging import render_jpeg_bytes
from ptpkit.virtual.operations import build_operations
from ptpkit.virtual.responder import Operation, OperationContext, Reply, error
from ptpkit.virtual.samplecard import CAPTURE_FOLDER
from ptpkit.virtual.storage import Store, StoredObject

log = logging.getLogger("ptpkit.virtual")

# -- codes ---------------------------------------------------------------------------------------

# EOS operation codes (codes/canon.py; libgphoto2 ptp.h PTP_OC_CANON_EOS_*).
GET_STORAGE_IDS: Final = 0x9101
GET_STORAGE_INFO: Final = 0x9102
GET_OBJECT_INFO: Final = 0x9103
GET_OBJECT: Final = 0x9104
DELETE_OBJECT: Final = 0x9105
GET_PARTIAL_OBJECT: Final = 0x9107
GET_DEVICE_INFO_EX: Final = 0x9108
GET_OBJECT_INFO_EX: Final = 0x9109
REMOTE_RELEASE: Final = 0x910F
SET_DEVICE_PROP_VALUE_EX: Final = 0x9110
GET_REMOTE_MODE: Final = 0x9113
SET_REMOTE_MODE: Final = 0x9114
SET_EVENT_MODE: Final = 0x9115
GET_EVENT: Final = 0x9116
TRANSFER_COMPLETE: Final = 0x9117
PC_HDD_CAPACITY: Final = 0x911A
SET_UI_LOCK: Final = 0x911B
RESET_UI_LOCK: Final = 0x911C
KEEP_DEVICE_ON: Final = 0x911D
REQUEST_DEVICE_PROP_VALUE: Final = 0x9127
REMOTE_RELEASE_ON: Final = 0x9128
REMOTE_RELEASE_OFF: Final = 0x9129
GET_PARTIAL_OBJECT_EX: Final = 0x912C
GET_VIEWFINDER_DATA: Final = 0x9153
DO_AF: Final = 0x9154
AF_CANCEL: Final = 0x9160
GET_OBJECT_INFO_64: Final = 0x9170
GET_OBJECT_64: Final = 0x9171
GET_PARTIAL_OBJECT_64: Final = 0x9172
GET_PARTIAL_OBJECT_EX_64: Final = 0x9174

#: PTP_RC_CANON_EOS_ObjectNotReady (ptp.h): live view has no frame yet.
OBJECT_NOT_READY: Final = 0xA102

BATTERY_LEVEL: Final = 0x5001
DEVICE_FRIENDLY_NAME: Final = 0xD402

# Property codes beyond codes/canon_eos_values.py's (libgphoto2 ptp.h PTP_DPC_CANON_EOS_*).
AVAILABLE_SHOTS_PROP: Final = 0xD11B
EVF_OUTPUT_DEVICE_PROP: Final = 0xD1B0
EVF_MODE_PROP: Final = 0xD1B1
# The four texts libgphoto2 2.5.30 asks for with EOS_RequestDevicePropValue (its --debug log:
# 0xD115, 0xD1D0, 0xD1D1, 0xD1AF).
OWNER_PROP: Final = 0xD115
ARTIST_PROP: Final = 0xD1D0
COPYRIGHT_PROP: Final = 0xD1D1
SERIAL_NUMBER_PROP: Final = 0xD1AF
FOCUS_INFO_PROP: Final = 0xD1D3

#: CaptureDestination: the computer's memory ("HD", PTP_CANON_EOS_CAPTUREDEST_HD, ptp.h);
#: the card is 2 on the bodies libgphoto2 has seen (config.c picks the listed value != 4).
CAPTURE_TO_PC: Final = 4
CAPTURE_TO_CARD: Final = 2
#: EVFOutputDevice bit for the computer (vendors.md 1.7: bit0 TFT, bit1 PC).
EVF_PC: Final = 0x2

#: GetViewFinderData calls answered ObjectNotReady after live view is switched on (a real body
#: takes up to 1.2 s for its first frame, vendors.md 1.7). Counted in calls, not seconds, so
#: tests need no clock.
LIVE_VIEW_WARMUP_CALLS: Final = 3
#: Live-view frame size: what EOS bodies send to the host (about VGA).
LIVE_VIEW_SIZE: Final = (640, 424)
#: The blob type of a JPEG frame in GetViewFinderData's data (vendors.md 1.7).
EVF_BLOB_JPEG: Final = 1

#: Pictures taken to the computer the camera holds before it refuses to shoot (DeviceBusy)
#: until the host fetches them; and how many recent pictures EosState.captured keeps.
MAX_IN_MEMORY: Final = 16
KEEP_CAPTURED: Final = 16
#: Records queued for one connection that does not poll GetEvent; past this the oldest go
#: (property changes are never lost: they are kept once each, by code).
MAX_QUEUED_RECORDS: Final = 1024

#: CTGInfoCheckComplete's value after a block of the bulk dump (vendors.md 1.2).
_CTG_DONE: Final = 0x20001
_ROOT_PARENTS: Final = (0, 0xFFFFFFFF)
_CAPTURE_NAME = re.compile(r"^IMG_(\d{4})\.JPG$", re.IGNORECASE)

# -- properties ----------------------------------------------------------------------------------


def _third_stops(table: dict[int, str], low: int, high: int) -> tuple[int, ...]:
    """The codes of ``table`` from ``low`` to ``high`` on the third-stop grid (x, x+3, x+5)."""
    return tuple(code for code in sorted(table) if low <= code <= high and code % 8 in (0, 3, 5))


def _ev_thirds(limit_ev: int) -> tuple[int, ...]:
    """Exposure compensation codes (signed eighths in a byte) from -limit to +limit EV."""
    eighths = [e for e in range(-8 * limit_ev, 8 * limit_ev + 1) if abs(e) % 8 in (0, 3, 5)]
    return tuple(e & 0xFF for e in eighths)


def _jpeg(size: int, compression: int) -> ImageFormat:
    return ImageFormat.of([(1, size, compression)])


#: FocusInfoEx's coordinate space (the sensor's, as EOS bodies report it) and the one AF point.
_AF_SPACE: Final = (6000, 4000)
_AF_POINT: Final = (0, 0, 300, 200)  # x, y (the middle is 0, 0), width, height


def focus_info(*, in_focus: bool) -> bytes:
    """A FocusInfoEx value (ptp-pack.c ptp_unpack_EOS_FocusInfoEx): u32 size, u16 size - 4,
    u16 version, u16 points in the struct, u16 points in use, u16 width and height of the AF
    space twice, then per point four u16 arrays (heights, widths, x, y), a bitfield of the
    selected points and trailing bytes ending 0xFFFF. Out of focus: the zero-filled placeholder
    libgphoto2 skips; in focus: one point, selected (libgphoto2's capture looks for a
    non-empty ``select={...}``)."""
    writer = Writer()
    if not in_focus:
        writer.uint32(20)
        writer.uint16(16)
        writer.raw(bytes(14))
        return writer.getvalue()
    x, y, width, height = _AF_POINT
    body = Writer()
    body.uint16(2)  # version
    body.uint16(1)  # points in the struct
    body.uint16(1)  # points in use
    for _ in range(2):
        body.uint16(_AF_SPACE[0])
        body.uint16(_AF_SPACE[1])
    for value in (height, width, x, y):
        body.raw((value & 0xFFFF).to_bytes(2, "little"))
    body.uint8(0x01)  # point 0 selected
    body.uint8(0x01)  # point 0 active (libgphoto2: "unknown stuff")
    body.uint16(0xFFFF)
    data = body.getvalue()
    size = 6 + len(data)
    writer.uint32(size)
    writer.uint16(size - 4)
    writer.raw(data)
    return writer.getvalue()


def _is_text(value: PropValue) -> bool:
    return isinstance(value, str) and len(value) < 64 and value.isascii()


_RAW: Final = (6, 0, 4)  # kind RAW, size L, lossless (codes/canon_eos_values.py)
_LARGE_FINE: Final = (1, 0, 3)


@dataclass(frozen=True)
class PropSpec:
    """One EOS property of the virtual camera: its start value, and the values it takes
    (``allowed``: an enumeration sent as AvailListChanged; None: any value ``accepts`` takes;
    ``writable`` False: the camera's own, refused to the host)."""

    code: int
    start: PropValue
    allowed: tuple[PropValue, ...] | None = None
    writable: bool = True
    accepts: Callable[[PropValue], bool] | None = None


#: The properties; the codes are libgphoto2 config.c's tables (codes/canon_eos_values.py), the
#: lists what a body with an f/1.4-f/22 lens offers. ISO 100, f/7.1, 1/80 s, 0 EV, Auto white
#: balance, single shot, Large Fine JPEG, to the card, live view off.
PROPS: Final[tuple[PropSpec, ...]] = (
    PropSpec(APERTURE_PROP, 0x35, _third_stops(APERTURE, 0x10, 0x50)),
    PropSpec(SHUTTER_PROP, 0x6B, (0x0C, *_third_stops(SHUTTER, 0x10, 0xA0))),
    PropSpec(ISO_PROP, 0x48, (0x00, *_third_stops(ISO, 0x48, 0x88))),
    PropSpec(EXPOSURE_COMP_PROP, 0x00, _ev_thirds(3)),
    PropSpec(DRIVE_MODE_PROP, 0x00, (0x00, 0x01, 0x10, 0x11)),
    PropSpec(WHITE_BALANCE_PROP, 0x00, tuple(WHITE_BALANCE)),
    PropSpec(
        IMAGE_FORMAT_PROP,
        ImageFormat.of([_LARGE_FINE]),
        (
            _jpeg(0, 3),
            _jpeg(0, 2),
            _jpeg(1, 3),
            _jpeg(1, 2),
            _jpeg(2, 3),
            _jpeg(2, 2),
            ImageFormat.of([_RAW]),
            ImageFormat.of([_RAW, _LARGE_FINE]),
        ),
    ),
    PropSpec(CAPTURE_TARGET_PROP, CAPTURE_TO_CARD, (CAPTURE_TO_CARD, CAPTURE_TO_PC)),
    PropSpec(AVAILABLE_SHOTS_PROP, 999, writable=False),
    PropSpec(
        EVF_OUTPUT_DEVICE_PROP,
        0,
        accepts=lambda v: isinstance(v, int) and 0 <= v <= 0xF,
    ),
    PropSpec(EVF_MODE_PROP, 0, (0, 1)),
    # Text properties (plain ASCII, NUL-terminated: vendors.md 1.2); libgphoto2 asks for these
    # four with EOS_RequestDevicePropValue when it prepares a capture.
    PropSpec(OWNER_PROP, "", accepts=_is_text),
    PropSpec(ARTIST_PROP, "", accepts=_is_text),
    PropSpec(COPYRIGHT_PROP, "", accepts=_is_text),
    PropSpec(SERIAL_NUMBER_PROP, "PTPKIT-EOS-0001", writable=False),
    PropSpec(FOCUS_INFO_PROP, focus_info(in_focus=False), writable=False),
)

_DESC_TYPES: Final = {
    PropKind.U8: DataType.UINT8,
    PropKind.U16: DataType.UINT16,
    PropKind.U32: DataType.UINT32,
}


@dataclass
class _Queue:
    """What one connection has not been told yet."""

    #: The next GetEvent is a full dump (first GetEvent, or after SetRemoteMode/SetEventMode).
    dump: bool = True
    #: Property codes (report the current value) and object records, in order.
    items: list[int | EosRecord] = field(default_factory=list)


@dataclass
class MemoryObject:
    """A picture taken to the computer: it stays in the camera's memory (not on the card) until
    the host ends its transfer with EOS_TransferComplete."""

    handle: int
    name: str
    data: bytes
    created: _dt.datetime


class EosState:
    """The EOS side of one virtual camera: properties, what each connection has not seen yet,
    pictures waiting in memory, the shutter button and live view."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.specs: dict[int, PropSpec] = {spec.code: spec for spec in PROPS}
        self.current: dict[int, bytes] = {
            spec.code: encode_prop_value(spec.code, spec.start) for spec in PROPS
        }
        # Per connection (weakly: a closed one is forgotten, and a new one never inherits an
        # old one's state): missing until its first GetEvent (then a full dump).
        self._queues: weakref.WeakKeyDictionary[object, _Queue] = weakref.WeakKeyDictionary()
        #: Pictures taken to the computer and not yet transferred, by handle.
        self.in_memory: dict[int, MemoryObject] = {}
        #: The last pictures taken, as (name, bytes) (tests compare downloads with these).
        self.captured: collections.deque[tuple[str, bytes]] = collections.deque(
            maxlen=KEEP_CAPTURED
        )
        #: The number of the last IMG_nnnn taken (to memory or to the card).
        self.last_number = 0
        #: Shutter button: bit 1 half pressed, bit 2 fully pressed (RemoteReleaseOn's p1).
        self.pressed = 0
        #: Autofocus without a picture: DoAf calls so far, and whether it is on (AfCancel ends it).
        self.af_drives = 0
        self.focusing = False
        self.ui_locked = False
        #: GetViewFinderData calls still to answer ObjectNotReady; frames served so far.
        self.warmup_left = 0
        self.frames = 0
        #: The last live-view JPEG sent (tests compare a client's frame with it).
        self.last_frame = b""
        self.host_free_bytes = 0

    # -- properties ------------------------------------------------------------------------------

    def codes(self) -> tuple[int, ...]:
        return tuple(sorted(self.current))

    def value(self, prop: int) -> PropValue:
        with self.lock:
            return self._decode(prop, self.current[prop])

    def _decode(self, prop: int, raw: bytes) -> PropValue:
        value = decode_prop_value(prop, raw)
        if isinstance(value, bytes) and isinstance(self.specs[prop].start, str):
            # A text property core.canon_eos has no kind for (Copyright): ASCII up to the NUL.
            return value.partition(b"\0")[0].decode("ascii", errors="replace")
        return value

    def set(self, prop: int, raw: bytes, *, by_host: bool = True) -> int:
        """Set ``prop`` to ``raw``: a response code (only allowed values are taken)."""
        with self.lock:
            spec = self.specs.get(prop)
            if spec is None:
                return Rc.DEVICE_PROP_NOT_SUPPORTED
            if by_host and not spec.writable:
                return Rc.ACCESS_DENIED
            # Compare values, not bytes: a 16-bit value may come in 2 or 4 bytes.
            value = self._decode(prop, raw)
            if isinstance(value, bytes):
                return Rc.INVALID_DEVICE_PROP_FORMAT
            if spec.allowed is not None and value not in spec.allowed:
                return Rc.INVALID_DEVICE_PROP_VALUE
            if spec.accepts is not None and not spec.accepts(value):
                return Rc.INVALID_DEVICE_PROP_VALUE
            raw = encode_prop_value(prop, value)
            if raw != self.current[prop]:
                before = self.current[prop]
                self.current[prop] = raw
                self._changed(prop, before)
                for queue in self._queues.values():
                    if prop not in queue.items:
                        queue.items.append(prop)
            return Rc.OK

    def _changed(self, prop: int, before: bytes) -> None:
        if prop == EVF_OUTPUT_DEVICE_PROP:
            was = decode_prop_value(prop, before)
            now = decode_prop_value(prop, self.current[prop])
            if (
                isinstance(now, int)
                and now & EVF_PC
                and not (isinstance(was, int) and was & EVF_PC)
            ):
                self.warmup_left = LIVE_VIEW_WARMUP_CALLS

    def desc(self, prop: int) -> DevicePropDesc | None:
        """``prop`` as a standard DevicePropDesc, for initiators that ask GetDevicePropDesc
        (None for the image format, which has no standard form)."""
        with self.lock:
            spec = self.specs[prop]
            datatype = _DESC_TYPES.get(prop_kind(prop) or PropKind.U32)
            value = decode_prop_value(prop, self.current[prop])
            if datatype is None or not isinstance(value, int) or not isinstance(spec.start, int):
                return None
            allowed = tuple(v for v in spec.allowed or () if isinstance(v, int))
            return DevicePropDesc(
                code=prop,
                datatype=datatype,
                get_set=GetSet.GET_SET if spec.writable else GetSet.GET,
                factory_default=spec.start,
                current=value,
                form=EnumerationForm(values=allowed) if allowed else None,
            )

    def set_focus(self, *, in_focus: bool) -> None:
        """The camera's own FocusInfoEx changes (autofocus found a point, or was released)."""
        with self.lock:
            raw = focus_info(in_focus=in_focus)
            if raw != self.current[FOCUS_INFO_PROP]:
                self.current[FOCUS_INFO_PROP] = raw
                for queue in self._queues.values():
                    if FOCUS_INFO_PROP not in queue.items:
                        queue.items.append(FOCUS_INFO_PROP)

    # -- the GetEvent stream ---------------------------------------------------------------------

    def full_dump_next(self, connection: object) -> None:
        """SetRemoteMode / SetEventMode: the connection's next GetEvent is a full dump again
        (what it had queued besides property changes still follows)."""
        with self.lock:
            queue = self._queues.get(connection)
            if queue is not None:
                queue.dump = True

    def queue(self, records: list[EosRecord]) -> None:
        """Records every connection will get in its next GetEvent."""
        with self.lock:
            for queue in self._queues.values():
                queue.items.extend(records)
                excess = sum(not isinstance(i, int) for i in queue.items) - MAX_QUEUED_RECORDS
                if excess > 0:
                    kept: list[int | EosRecord] = []
                    for item in queue.items:
                        if excess > 0 and not isinstance(item, int):
                            excess -= 1
                            continue
                        kept.append(item)
                    queue.items = kept

    def next_event(self, connection: object) -> list[EosRecord]:
        with self.lock:
            queue = self._queues.get(connection)
            if queue is None:
                queue = self._queues[connection] = _Queue()
            items, queue.items = queue.items, []
            records: list[EosRecord] = []
            if queue.dump:
                queue.dump = False
                records.extend(self._dump())
            for item in items:
                if isinstance(item, int):
                    if not any(isinstance(r, PropValueChanged) and r.prop == item for r in records):
                        records.append(PropValueChanged(prop=item, raw=self.current[item]))
                else:
                    records.append(item)
            return records

    def _dump(self) -> list[EosRecord]:
        """Every value, a CTG marker, every allowed list, a CTG marker (vendors.md 1.2)."""
        records: list[EosRecord] = [
            PropValueChanged(prop=prop, raw=self.current[prop]) for prop in self.codes()
        ]
        records.append(CtgInfoCheckComplete(value=_CTG_DONE))
        for prop in self.codes():
            allowed = self.specs[prop].allowed
            if allowed is not None:
                records.append(AvailListChanged.of(prop, allowed))
        records.append(CtgInfoCheckComplete(value=_CTG_DONE))
        return records


_STATES: weakref.WeakKeyDictionary[VirtualCamera, EosState] = weakref.WeakKeyDictionary()


def eos_state(camera: VirtualCamera) -> EosState:
    """The EOS side of a camera made with the ``canon-eos`` personality (KeyError if not)."""
    return _STATES[camera]


# -- pictures ------------------------------------------------------------------------------------


def _exif_numbers(state: EosState) -> tuple[tuple[int, int] | None, tuple[int, int] | None, int]:
    """(exposure time, f-number, ISO) for the EXIF of a picture, from the EOS settings."""
    shutter = SHUTTER.get(_int(state.value(SHUTTER_PROP)), "")
    exposure: tuple[int, int] | None = None
    if shutter.startswith("1/"):
        exposure = (1, int(shutter[2:]))
    elif shutter.endswith("s"):
        seconds = Fraction(shutter[:-1]).limit_denominator(10)
        exposure = (seconds.numerator, seconds.denominator)
    aperture = APERTURE.get(_int(state.value(APERTURE_PROP)), "")
    f_number = None
    if aperture.startswith("f/"):
        ratio = Fraction(aperture[2:]).limit_denominator(10)
        f_number = (ratio.numerator, ratio.denominator)
    iso_text = ISO.get(_int(state.value(ISO_PROP)), "")
    return exposure, f_number, int(iso_text) if iso_text.isdigit() else 100


def _int(value: PropValue) -> int:
    return value if isinstance(value, int) else -1


def _next_name(state: EosState, store: Store) -> str | None:
    """The next free IMG_nnnn.JPG: after the card's pictures and those taken to memory, never a
    name the card's folder already holds (after IMG_9999 numbering starts again at 1, as DCF
    cameras do); None when all 9999 are taken."""
    folder = store.root / CAPTURE_FOLDER
    numbers = [state.last_number]
    if folder.is_dir():
        numbers += [int(m.group(1)) for p in folder.iterdir() if (m := _CAPTURE_NAME.match(p.name))]
    number = max(numbers)
    for _ in range(9999):
        number = number % 9999 + 1
        name = f"IMG_{number:04d}.JPG"
        if not (folder / name).exists():
            state.last_number = number
            return name
    return None


def take_picture(camera: VirtualCamera, state: EosState) -> tuple[int, list[EosRecord]]:
    """The shutter fires: a JPEG to the card or to memory, by the capture destination.

    Returns (a response code, the records announcing the picture). Runs under the camera's lock.
    """
    camera.shutter_fired()
    store = camera.stores[DEFAULT_STORAGE_ID]
    to_pc = state.value(CAPTURE_TARGET_PROP) == CAPTURE_TO_PC
    if not to_pc and store.read_only:
        return Rc.STORE_READ_ONLY, []
    if to_pc and len(state.in_memory) >= MAX_IN_MEMORY:
        # The buffer is full of pictures the host has not fetched: a body stays busy then.
        return Rc.DEVICE_BUSY, []
    name = _next_name(state, store)
    if name is None:
        return Rc.STORE_FULL, []
    exposure, f_number, iso = _exif_numbers(state)
    taken = camera.properties.clock.now()
    data = render_jpeg_bytes(
        title=f"ptpkit EOS  {name}",
        taken=taken,
        seed=2000 + state.last_number,
        model=camera.personality.model,
        make=camera.personality.manufacturer,
        exposure=exposure,
        f_number=f_number,
        iso=iso,
    )
    state.captured.append((name, data))
    if to_pc:
        handle = camera.handles.allocate()
        state.in_memory[handle] = MemoryObject(handle, name, data, taken)
        record = RequestObjectTransfer(
            handle=handle, format=Ofc.EXIF_JPEG, size=len(data), name=name
        )
        return Rc.OK, [record]
    before = set(store.objects)
    target = store.root / CAPTURE_FOLDER / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        obj = store.add_file(f"{CAPTURE_FOLDER}/{name}")
    except OSError as exc:
        log.warning("virtual EOS: capture failed: %s", exc)
        return Rc.STORE_FULL, []
    records: list[EosRecord] = []
    # A folder made for the picture comes first (libgphoto2 skips association records).
    for handle in sorted(set(store.objects) - before - {obj.handle}):
        records.append(_object_added(store, store.objects[handle]))
    records.append(_object_added(store, obj))
    return Rc.OK, records


def _object_added(store: Store, obj: StoredObject) -> ObjectAdded:
    return ObjectAdded(
        handle=obj.handle,
        storage_id=store.storage_id,
        format=store.format_of(obj),
        size=min(store.size_of(obj), 0xFFFFFFFF),
        parent=obj.parent,
        name=store.wire_name(obj),
    )


#: The drive modes that are self-timers (codes/canon_eos_values.py DRIVE_MODE: libgphoto2's
#: "Timer 10 s" 0x10 and "Timer 2 s" 0x11): seconds from the full press to the picture.
SELF_TIMER_S: Final = {0x10: 10.0, 0x11: 2.0}


def _shoot(camera: VirtualCamera, state: EosState) -> Reply:
    """A full press: the picture, framed by CameraStatusChanged busy / idle in GetEvent. With a
    self-timer drive mode the press is answered at once and the picture follows on a timer (the
    camera busy meanwhile), as the generic camera's CaptureDelay does."""
    delay_s = SELF_TIMER_S.get(_int(state.value(DRIVE_MODE_PROP)))
    if delay_s is None:
        code, records = take_picture(camera, state)
        if code != Rc.OK:
            return error(code)
        state.queue(
            [CameraStatusChanged(status=1), *records, CameraStatusChanged(status=0)],
        )
        return Reply()

    def shoot_later() -> None:
        with camera.lock:
            code, records = take_picture(camera, state)
        if code != Rc.OK:
            log.warning("virtual EOS: the self-timer's picture failed (0x%04X)", code)
        state.queue([*records, CameraStatusChanged(status=0)])

    state.queue([CameraStatusChanged(status=1)])
    camera.after(delay_s, shoot_later)
    return Reply()


# -- listing -------------------------------------------------------------------------------------

#: GetObjectInfoEx holds 15-byte names (8.3 on a real card).
_MAX_NAME_BYTES: Final = 15


def _folder_entries(store: Store, parent: int, limit: int) -> list[FolderEntry]:
    entries = []
    for obj in store.children(parent):
        name = store.wire_name(obj)
        if len(name.encode("utf-8", errors="surrogateescape")) > _MAX_NAME_BYTES:
            # No DCF name is this long; a folder lent as a card may have one. EOS has no way
            # to say it: leave it out rather than send a cut name no one could ask for.
            log.info("virtual EOS: %r is too long for GetObjectInfoEx, not listed", name)
            continue
        entries.append(
            FolderEntry(
                handle=obj.handle,
                storage_id=store.storage_id,
                format=store.format_of(obj),
                size=min(store.size_of(obj), 0xFFFFFFFF),
                parent=obj.parent,
                name=name,
                time=_unix_time(store, obj),
            )
        )
        if limit and len(entries) >= limit:
            break
    return entries


def _unix_time(store: Store, obj: StoredObject) -> int:
    if obj.relpath is None:
        return int(obj.created.timestamp())
    try:
        return int(store.path_of(obj).stat().st_mtime)
    except OSError:
        return 0


# -- operations ----------------------------------------------------------------------------------


def _ok(ctx: OperationContext) -> Reply:
    return Reply()


def _operations(camera: VirtualCamera, state: EosState) -> dict[int, Operation]:
    generic = build_operations()

    def fallback(code: int, ctx: OperationContext) -> Reply:
        return generic[code].handler(ctx)

    # -- session, events, properties ---------------------------------------------------------

    def set_mode(ctx: OperationContext) -> Reply:
        state.full_dump_next(ctx.session)
        return Reply()

    def do_af(ctx: OperationContext) -> Reply:
        with state.lock:
            state.af_drives += 1
            state.focusing = True
        return Reply()

    def af_cancel(ctx: OperationContext) -> Reply:
        with state.lock:
            state.focusing = False
        return Reply()

    def get_event(ctx: OperationContext) -> Reply:
        return Reply(data=encode_get_event(state.next_event(ctx.session)))

    def set_prop_value_ex(ctx: OperationContext) -> Reply:
        try:
            sent = decode_set_prop_value_ex(ctx.data)
        except DecodeError:
            return error(Rc.INVALID_DEVICE_PROP_FORMAT)
        return error(state.set(sent.prop, sent.raw))

    def request_prop_value(ctx: OperationContext) -> Reply:
        # The value follows in the next GetEvent (libgphoto2 asks for Owner, Artist ... at start
        # and only logs errors).
        prop = ctx.param(0)
        if prop not in state.current:
            return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
        state.queue([PropValueChanged(prop=prop, raw=state.current[prop])])
        return Reply()

    def get_device_info_ex(ctx: OperationContext) -> Reply:
        # ptp-pack.c ptp_unpack_EOS_DI: a u32 length, then three u32 arrays: events, properties,
        # and one libgphoto2 does not name (2.5.30 refuses the whole answer when any array is
        # empty, so it holds one zero).
        body = Writer()
        body.uint32_array(sorted(_EVENT_TYPES))
        body.uint32_array(list(state.codes()))
        body.uint32_array([0])
        data = body.getvalue()
        return Reply(data=(4 + len(data)).to_bytes(4, "little") + data)

    def standard_prop(code: int, ctx: OperationContext) -> Reply:
        # Of the standard properties only those DeviceInfo lists: the generic camera's others
        # (ExposureIndex, FNumber, CaptureDelay...) are not this camera's, whose exposure lives
        # in its EOS properties (a camera answers DevicePropNotSupported for a property it
        # does not have, ISO 15740 §10.5.22).
        if ctx.param(0) not in (camera.property_codes or ()):
            return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
        return fallback(code, ctx)

    def get_prop_desc(ctx: OperationContext) -> Reply:
        if ctx.param(0) in state.current:
            desc = state.desc(ctx.param(0))
            if desc is None:
                return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
            return Reply(data=desc.to_bytes())
        return standard_prop(Op.GET_DEVICE_PROP_DESC, ctx)

    def get_prop_value(ctx: OperationContext) -> Reply:
        if ctx.param(0) in state.current:
            desc = state.desc(ctx.param(0))
            if desc is None:
                return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
            return Reply(data=encode_value(desc.datatype, desc.current))
        return standard_prop(Op.GET_DEVICE_PROP_VALUE, ctx)

    def set_prop_value(ctx: OperationContext) -> Reply:
        prop = ctx.param(0)
        if prop not in state.current:
            return standard_prop(Op.SET_DEVICE_PROP_VALUE, ctx)
        desc = state.desc(prop)
        if desc is None:
            return error(Rc.DEVICE_PROP_NOT_SUPPORTED)
        try:
            value = decode_value(ctx.data, desc.datatype)
            raw = encode_prop_value(prop, value)  # type: ignore[arg-type]
        except (DecodeError, LocalProtocolError):
            return error(Rc.INVALID_DEVICE_PROP_FORMAT)
        return error(state.set(prop, raw))

    # -- storage and listing -----------------------------------------------------------------

    def get_storage_ids(ctx: OperationContext) -> Reply:
        return Reply(data=encode_uint32_array(sorted(camera.stores)))

    def get_storage_info(ctx: OperationContext) -> Reply:
        # libgphoto2 fetches this and does not unpack it (ptp.c: "FIXME: do stuff with data"):
        # the standard StorageInfo dataset is what the camera would know to say.
        store = camera.store(ctx.param(0))
        if store is None:
            return error(Rc.INVALID_STORAGE_ID)
        return Reply(data=store.storage_info().to_bytes())

    def get_object_info_ex(ctx: OperationContext) -> Reply:
        # (storage, parent, max entries); libgphoto2 asks per folder, 0xFFFFFFFF for the top.
        storage_id, parent, limit = ctx.param(0), ctx.param(1), ctx.param(2)
        stores = (
            list(camera.stores.values())
            if storage_id == 0xFFFFFFFF
            else [s for s in (camera.store(storage_id),) if s is not None]
        )
        if not stores:
            return error(Rc.INVALID_STORAGE_ID)
        entries: list[FolderEntry] = []
        for store in stores:
            if parent in _ROOT_PARENTS:
                folder = 0
            else:
                found = store.objects.get(parent)
                if found is None or found.pending:
                    if len(stores) > 1:
                        continue
                    return error(Rc.INVALID_OBJECT_HANDLE)
                if not found.is_folder:
                    return error(Rc.INVALID_PARENT_OBJECT)
                folder = parent
            entries += _folder_entries(store, folder, limit - len(entries) if limit else 0)
        return Reply(data=encode_object_info_ex(entries))

    # -- reading objects (the card, or a picture in memory) ----------------------------------

    def memory(handle: int) -> MemoryObject | None:
        return state.in_memory.get(handle)

    def object_info(ctx: OperationContext) -> Reply:
        held = memory(ctx.param(0))
        if held is None:
            return fallback(Op.GET_OBJECT_INFO, ctx)
        # Not on a card: no storage, no parent (what libgphoto2 takes a capture to the computer
        # to be, library.c camera_canon_eos_capture).
        stamp = held.created.strftime("%Y%m%dT%H%M%S")
        info = ObjectInfo(
            storage_id=0,
            object_format=Ofc.EXIF_JPEG,
            parent_object=0,
            filename=held.name,
            compressed_size=len(held.data),
            capture_date=stamp,
            modification_date=stamp,
        )
        return Reply(data=info.to_bytes())

    def whole(ctx: OperationContext) -> Reply:
        held = memory(ctx.param(0))
        if held is None:
            return fallback(Op.GET_OBJECT, ctx)
        return Reply(data=held.data)

    def partial(ctx: OperationContext, offset: int, max_bytes: int) -> Reply:
        handle = ctx.param(0)
        held = memory(handle)
        content: ObjectData
        if held is not None:
            content = BytesData(held.data)
        else:
            found = camera.find(handle)
            if found is None:
                return error(Rc.INVALID_OBJECT_HANDLE)
            store, obj = found
            if obj.is_folder:
                return error(Rc.INVALID_OBJECT_HANDLE)
            content = store.open_data(obj)
        if offset > content.size:
            return error(Rc.INVALID_PARAMETER)
        length = min(max_bytes, content.size - offset)
        # The first response parameter is the number of bytes sent, as GetPartialObject's.
        return Reply(params=(length,), data=content, offset=offset, length=length)

    def get_partial_standard(ctx: OperationContext) -> Reply:
        return partial(ctx, ctx.param(1), ctx.param(2))

    def get_partial_32(ctx: OperationContext) -> Reply:
        # EOS_GetPartialObject (handle, offset, size): libgphoto2 ptp_canon_eos_getpartialobject.
        return partial(ctx, ctx.param(1), ctx.param(2))

    def get_partial_ex(ctx: OperationContext) -> Reply:
        # EOS_GetPartialObjectEx (handle, offset, size, offset high 32 bits): ptp.h's comment on
        # the 4th parameter ("64bit part?"); 0 from 32-bit initiators.
        return partial(ctx, ctx.param(1) | ctx.param(3) << 32, ctx.param(2))

    def get_partial_64(ctx: OperationContext) -> Reply:
        # EOS_GetPartialObject64 (handle, offset, max bytes): ptp.h's comment ("args: oid,
        # offset, maxbyte"); libgphoto2 does not use it (vendors.md 1.9).
        return partial(ctx, ctx.param(1), ctx.param(2))

    def get_partial_ex_64(ctx: OperationContext) -> Reply:
        # EOS_GetPartialObjectEX64 (handle, offset low, offset high, max bytes): ptp.h's comment
        # ("args: oid, offset 64bit, maxbyte"), the offset as two 32-bit halves (vendors.md 1.9).
        return partial(ctx, ctx.param(1) | ctx.param(2) << 32, ctx.param(3))

    def get_object_info_64(ctx: OperationContext) -> Reply:
        # No source gives a 64-bit ObjectInfo layout; the one entry of GetObjectInfoEx's format
        # with a 64-bit size after it is what this camera answers (documented, not copied).
        handle = ctx.param(0)
        held = memory(handle)
        if held is not None:
            entry = FolderEntry(
                handle=handle,
                storage_id=0,
                format=Ofc.EXIF_JPEG,
                size=len(held.data),
                name=held.name,
                time=int(held.created.timestamp()),
            )
            size = len(held.data)
        else:
            found = camera.find(handle)
            if found is None:
                return error(Rc.INVALID_OBJECT_HANDLE)
            store, obj = found
            entry = _folder_entries_one(store, obj)
            size = store.size_of(obj)
        return Reply(data=encode_object_info_ex([entry])[4:] + size.to_bytes(8, "little"))

    def transfer_complete(ctx: OperationContext) -> Reply:
        handle = ctx.param(0)
        if state.in_memory.pop(handle, None) is not None:
            return Reply()
        if camera.find(handle) is None:
            return error(Rc.INVALID_OBJECT_HANDLE)
        return Reply()

    def delete(ctx: OperationContext) -> Reply:
        handle = ctx.param(0)
        if state.in_memory.pop(handle, None) is not None:
            return Reply()
        reply = fallback(Op.DELETE_OBJECT, ctx)
        if reply.code == Rc.OK and handle != 0xFFFFFFFF:
            state.queue([ObjectRemoved(handle=handle)])
        return reply

    # -- shooting ------------------------------------------------------------------------------

    def remote_release(ctx: OperationContext) -> Reply:
        # Old bodies: one call; response parameter 0 = released (library.c: 1 no focus, 7 card
        # full, 8 card read-only).
        reply = _shoot(camera, state)
        if reply.code == Rc.STORE_READ_ONLY:
            return Reply(params=(8,))
        if reply.code != Rc.OK:
            return Reply(params=(7,))
        return Reply(params=(0,))

    def release_on(ctx: OperationContext) -> Reply:
        press = ctx.param(0)
        if press not in (1, 2, 3):
            return error(Rc.INVALID_PARAMETER)
        was_full = state.pressed & 2
        was_half = state.pressed & 1
        state.pressed |= press
        if press & 1 and not was_half:
            # Autofocus locks at once on the virtual subject: FocusInfoEx with a selected point
            # (libgphoto2 waits for it after the half press, up to 2 s without).
            state.set_focus(in_focus=True)
        if press & 2 and not was_full:
            reply = _shoot(camera, state)
            if reply.code != Rc.OK:
                state.pressed &= ~2
            return reply
        return Reply()

    def release_off(ctx: OperationContext) -> Reply:
        press = ctx.param(0)
        if press not in (1, 2, 3):
            return error(Rc.INVALID_PARAMETER)
        if press & 1 and state.pressed & 1:
            state.set_focus(in_focus=False)
        state.pressed &= ~press
        return Reply()

    def pc_hdd_capacity(ctx: OperationContext) -> Reply:
        # (free clusters, cluster size, 1): the host's room for pictures taken to it.
        state.host_free_bytes = ctx.param(0) * ctx.param(1)
        return Reply()

    def ui_lock(locked: bool) -> Callable[[OperationContext], Reply]:
        def handler(ctx: OperationContext) -> Reply:
            state.ui_locked = locked
            return Reply()

        return handler

    # -- live view -----------------------------------------------------------------------------

    def viewfinder_data(ctx: OperationContext) -> Reply:
        output = state.value(EVF_OUTPUT_DEVICE_PROP)
        if not isinstance(output, int) or not output & EVF_PC:
            # Live view is not on the computer: nothing will come (no source says which code a
            # body answers; a distinct one lets a client fail at once rather than retry).
            return error(Rc.ACCESS_DENIED)
        if state.warmup_left > 0:
            state.warmup_left -= 1
            return error(OBJECT_NOT_READY)
        state.frames += 1
        frame = camera.live_picture.next_frame()
        state.last_frame = frame
        blob = Writer()
        blob.uint32(8 + len(frame))
        blob.uint32(EVF_BLOB_JPEG)
        blob.raw(frame)
        return Reply(data=blob.getvalue())

    handlers: dict[int, Callable[[OperationContext], Reply]] = {
        Op.GET_DEVICE_PROP_DESC: get_prop_desc,
        Op.SET_DEVICE_PROP_VALUE: set_prop_value,
        Op.GET_DEVICE_PROP_VALUE: get_prop_value,
        Op.GET_OBJECT_INFO: object_info,
        Op.GET_OBJECT: whole,
        Op.GET_PARTIAL_OBJECT: get_partial_standard,
        Op.DELETE_OBJECT: delete,
        GET_STORAGE_IDS: get_storage_ids,
        GET_STORAGE_INFO: get_storage_info,
        GET_OBJECT_INFO: object_info,
        GET_OBJECT: whole,
        DELETE_OBJECT: delete,
        GET_PARTIAL_OBJECT: get_partial_32,
        GET_DEVICE_INFO_EX: get_device_info_ex,
        GET_OBJECT_INFO_EX: get_object_info_ex,
        REMOTE_RELEASE: remote_release,
        SET_DEVICE_PROP_VALUE_EX: set_prop_value_ex,
        GET_REMOTE_MODE: _ok,
        SET_REMOTE_MODE: set_mode,
        SET_EVENT_MODE: set_mode,
        GET_EVENT: get_event,
        TRANSFER_COMPLETE: transfer_complete,
        PC_HDD_CAPACITY: pc_hdd_capacity,
        SET_UI_LOCK: ui_lock(True),
        RESET_UI_LOCK: ui_lock(False),
        KEEP_DEVICE_ON: _ok,
        REQUEST_DEVICE_PROP_VALUE: request_prop_value,
        REMOTE_RELEASE_ON: release_on,
        REMOTE_RELEASE_OFF: release_off,
        GET_PARTIAL_OBJECT_EX: get_partial_ex,
        GET_VIEWFINDER_DATA: viewfinder_data,
        DO_AF: do_af,
        AF_CANCEL: af_cancel,
        GET_OBJECT_INFO_64: get_object_info_64,
        GET_OBJECT_64: whole,
        GET_PARTIAL_OBJECT_64: get_partial_64,
        GET_PARTIAL_OBJECT_EX_64: get_partial_ex_64,
    }
    data_out = (SET_DEVICE_PROP_VALUE_EX, Op.SET_DEVICE_PROP_VALUE)
    return {
        code: Operation(
            code=code,
            handler=handler,
            data_out=code in data_out,
            sessionless=False,
            sink_factory=None,
        )
        for code, handler in handlers.items()
    }


def _folder_entries_one(store: Store, obj: StoredObject) -> FolderEntry:
    return FolderEntry(
        handle=obj.handle,
        storage_id=store.storage_id,
        format=store.format_of(obj),
        size=min(store.size_of(obj), 0xFFFFFFFF),
        parent=obj.parent,
        name=store.wire_name(obj)
        .encode("utf-8", "surrogateescape")[:_MAX_NAME_BYTES]
        .decode("utf-8", "ignore"),
        time=_unix_time(store, obj),
    )


#: The GetEvent record types this camera sends (GetDeviceInfoEx lists them).
_EVENT_TYPES: Final = (0xC181, 0xC182, 0xC186, 0xC189, 0xC18A, 0xC18B, 0xC1A4)


def install(camera: VirtualCamera) -> None:
    """Give ``camera`` the EOS operations and properties (Personality.install)."""
    state = EosState()
    camera.operations.update(_operations(camera, state))
    # A real EOS lists a few standard properties, not its EOS ones: libgphoto2 then reads those
    # from the GetEvent dump and sets them with SetDevicePropValueEx (config.c have_eos_prop).
    camera.property_codes = (BATTERY_LEVEL, DEVICE_FRIENDLY_NAME)
    _STATES[camera] = state


#: What libgphoto2's models table (camlibs/ptp2/library.c) calls 0x04A9:0x3250: "Canon:EOS 6D",
#: an EOS driver entry (also in Debian's udev hwdb for libgphoto2).
USB_VENDOR_ID: Final = 0x04A9
USB_PRODUCT_ID: Final = 0x3250


def personality() -> Personality:
    """The ``canon-eos`` personality."""
    return Personality(
        manufacturer="Canon Inc.",
        model="Canon EOS 6D",
        serial_number="PTPKIT-EOS-0001",
        vendor_extension_id=0x0000000B,  # Canon (PTP_VENDOR_CANON, libgphoto2 ptp.h)
        vendor_extension_version=100,
        vendor_extension_desc="",
        install=install,
        usb_vendor_id=USB_VENDOR_ID,
        usb_product_id=USB_PRODUCT_ID,
    )
