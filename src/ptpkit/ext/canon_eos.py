"""Canon EOS, client side: the extension ``canon-eos`` (issue 12 section 2).

An EOS tells the host about itself only through EOS_GetEvent (0x9116) polling, sets values with
EOS_SetDevicePropValueEx (0x9110), shoots with EOS_RemoteReleaseOn/Off and lists a folder with
EOS_GetObjectInfoEx (0x9109). The facts are libgphoto2's (camlibs/ptp2 library.c, config.c,
ptp.c, ptp.h) as summarised in vendors.md section 1; the wire codecs are the sans-IO ones of
:mod:`ptpkit.core.canon_eos` and the value texts those of :mod:`ptpkit.codes.canon_eos_values`.

Per camera (one :class:`CanonEosExtension` each):

- a **property cache** (:class:`EosPropertyCache`) filled by the first, full GetEvent dump and
  kept current by every later record, whoever polled it (the poller thread, a capture's own
  polls, the session start): properties are described and read from it, without transactions;
- a **GetEvent poller** (:class:`EosEventPoller`) with an adaptive interval: 50 ms while records
  come, +50 ms per empty answer up to 200 ms (libgphoto2's wait loop, sequoia-ptpy's 200 ms:
  vendors.md 1.10); every record becomes an event (:func:`record_event`), unknown types too;
- capture with RemoteReleaseOn/Off, or RemoteRelease on bodies without them, delivered by the
  ObjectAddedEx / RequestObjectTransfer record that announces the picture;
- listing with GetObjectInfoEx, 64-bit reads with GetPartialObjectEX64 past 4 GiB, the EOS
  response codes as named errors, KeepDeviceOn while idle, and live view (GetViewFinderData).

It is matched alongside the ``canon`` extension (which brings Canon's code names); that one's
PowerShot keep-alive (GetObjectHandles over PTP/IP) is not sent to an EOS: libgphoto2 keeps an EOS
awake with EOS_KeepDeviceOn (config.c) and never with GetObjectHandles, which on a full card
costs the camera a whole handle list.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from ptpkit.codes import STANDARD_CODES, Vocabulary
from ptpkit.codes import canon_eos_values as values
from ptpkit.codes.common import Ec, Ofc, Rc
from ptpkit.codes.properties import PropertySpec
from ptpkit.core.buffer import BytesLike
from ptpkit.core.canon_eos import (
    PROP_KINDS,
    AvailListChanged,
    BulbExposureTime,
    CameraStatusChanged,
    CtgInfoCheckComplete,
    EosRecord,
    FolderListing,
    ImageFormat,
    ObjectAdded,
    ObjectContentChanged,
    ObjectRemoved,
    OlcInfoChanged,
    PropKind,
    PropValue,
    PropValueChanged,
    RequestObjectTransfer,
    StorageChanged,
    UnknownRecord,
    decode_folder_listing,
    decode_get_event,
    decode_prop_value,
    decode_viewfinder_data,
    encode_set_prop_value_ex,
    prop_kind,
)
from ptpkit.core.datasets import (
    DeviceInfo,
    DevicePropDesc,
    EnumerationForm,
    GetSet,
    ObjectInfo,
)
from ptpkit.core.datatypes import DataType, Value
from ptpkit.errors import (
    AccessDeniedError,
    CaptureError,
    DecodeError,
    DeviceBusyError,
    LocalProtocolError,
    OperationNotSupportedError,
    PTPError,
    RemoteProtocolError,
    ResponseError,
    TransportTimeout,
    UsageError,
    response_error_class,
)
from ptpkit.ext.base import (
    AnswerEvent,
    CapturedObject,
    CaptureOutcome,
    DataSink,
    Extension,
    FrameSource,
    HalfPress,
    ListedObjects,
    Reply,
    Session,
    SideChannels,
    Step,
)
from ptpkit.ext.keepalive import IdleKeepAlive
from ptpkit.ext.matching import is_eos
from ptpkit.ext.mtp import checked_read_count
from ptpkit.ext.polling import ExtensionPoller, adaptive_interval
from ptpkit.timing import Clock

log = logging.getLogger("ptpkit.ext.canon_eos")

# -- operation codes (libgphoto2 ptp.h PTP_OC_CANON_EOS_*; names in codes/canon.py) --------------

GET_STORAGE_IDS: Final = 0x9101
GET_STORAGE_INFO: Final = 0x9102
GET_DEVICE_INFO_EX: Final = 0x9108
GET_OBJECT_INFO_EX: Final = 0x9109
REMOTE_RELEASE: Final = 0x910F
SET_DEVICE_PROP_VALUE_EX: Final = 0x9110
SET_REMOTE_MODE: Final = 0x9114
SET_EVENT_MODE: Final = 0x9115
GET_EVENT: Final = 0x9116
TRANSFER_COMPLETE: Final = 0x9117
PC_HDD_CAPACITY: Final = 0x911A
RESET_UI_LOCK: Final = 0x911C
KEEP_DEVICE_ON: Final = 0x911D
REQUEST_DEVICE_PROP_VALUE: Final = 0x9127
REMOTE_RELEASE_ON: Final = 0x9128
REMOTE_RELEASE_OFF: Final = 0x9129
SET_REQUEST_OLC_INFO_GROUP: Final = 0x913D
GET_VIEWFINDER_DATA: Final = 0x9153
DO_AF: Final = 0x9154
AF_CANCEL: Final = 0x9160
GET_OBJECT_INFO_64: Final = 0x9170
GET_PARTIAL_OBJECT_EX_64: Final = 0x9174

# -- property codes (vendors.md 1.3; ptp.h PTP_DPC_CANON_EOS_*) ----------------------------------

BATTERY_POWER_PROP: Final = 0xD111
AVAILABLE_SHOTS_PROP: Final = 0xD11B
OWNER_PROP: Final = 0xD115
MODEL_ID_PROP: Final = 0xD116
SERIAL_NUMBER_PROP: Final = 0xD1AF
ARTIST_PROP: Final = 0xD1D0
COPYRIGHT_PROP: Final = 0xD1D1
FOCUS_INFO_EX_PROP: Final = 0xD1D3
EVF_OUTPUT_DEVICE_PROP: Final = 0xD1B0
EVF_MODE_PROP: Final = 0xD1B1

#: Properties the camera reports but does not take from the host.
READ_ONLY_PROPS: Final = frozenset(
    {BATTERY_POWER_PROP, AVAILABLE_SHOTS_PROP, MODEL_ID_PROP, SERIAL_NUMBER_PROP,
     FOCUS_INFO_EX_PROP}
)  # fmt: skip
#: Text properties whose kind core.canon_eos does not know (ptp.h Artist/Copyright 0xD1D0/1).
TEXT_PROPS: Final = frozenset({OWNER_PROP, SERIAL_NUMBER_PROP, ARTIST_PROP, COPYRIGHT_PROP})

#: CaptureDestination 4 is the computer's RAM (PTP_CANON_EOS_CAPTUREDEST_HD); the card is the
#: other enumerated value, usually 2 (vendors.md 1.4, config.c:283-320).
CAPTURE_TO_PC: Final = 4
CAPTURE_TO_CARD: Final = 2

# -- response codes (ptp.h PTP_RC_CANON_EOS_*) ---------------------------------------------------


class EosUnknownCommand(OperationNotSupportedError):
    """0xA001 PTP_RC_CANON_EOS_UnknownCommand: the body does not know the operation."""


class EosOperationRefused(AccessDeniedError):
    """0xA005 PTP_RC_CANON_EOS_OperationRefused: refused in the camera's present state (a dial
    position, a menu open on the body)."""


class EosLensCoverClosed(CaptureError):
    """0xA006 PTP_RC_CANON_EOS_LensCoverClose."""


class EosLowBattery(ResponseError):
    """0xA101 PTP_RC_CANON_EOS_LowBattery."""

    codes = (0xA101,)


class EosObjectNotReady(DeviceBusyError):
    """0xA102 PTP_RC_CANON_EOS_ObjectNotReady: not yet (a live-view frame while it warms up,
    a picture still being written); retrying later helps, like DeviceBusy."""

    codes = (0xA102,)


class EosCannotMakeObject(CaptureError):
    """0xA104 PTP_RC_CANON_EOS_CannotMakeObject: the shot could not be stored."""

    codes = (0xA104,)


class EosMemoryStatusNotReady(DeviceBusyError):
    """0xA106 PTP_RC_CANON_EOS_MemoryStatusNotReady: the card is not ready yet."""

    codes = (0xA106,)


#: The EOS response codes libgphoto2's ptp.h names (PTP_RC_CANON_EOS_*), by class; the names
#: come from codes/canon.py through the camera's vocabulary.
RESPONSE_ERRORS: Final[dict[int, type[ResponseError]]] = {
    0xA001: EosUnknownCommand,
    0xA005: EosOperationRefused,
    0xA006: EosLensCoverClosed,
    0xA101: EosLowBattery,
    0xA102: EosObjectNotReady,
    0xA104: EosCannotMakeObject,
    0xA106: EosMemoryStatusNotReady,
}
OBJECT_NOT_READY: Final = 0xA102

#: EOS_RemoteRelease's first response parameter (library.c:6222-6245).
_RELEASE_FAILURES: Final = {
    1: "the camera could not focus",
    3: "the mirror is up",
    7: "the card is full",
    8: "the card is read-only",
}

# -- timing (vendors.md 1.6, 1.9, 1.10) ------------------------------------------------------------

#: GetEvent interval while records come, and its growth per empty answer, up to the idle bound
#: (libgphoto2 sleeps +50 ms per wait cycle up to 200 ms; sequoia-ptpy polls every 200 ms).
POLL_FAST_S: Final = 0.05
POLL_STEP_S: Final = 0.05
POLL_IDLE_S: Final = 0.2
#: Poll interval after the camera refused GetEvent (busy) or sent data that does not decode.
POLL_TROUBLE_S: Final = 0.5
#: After a half press, GetEvent is polled this long for the focus result (library.c:6112-6181).
FOCUS_WAIT_S: Final = 0.5
#: libgphoto2 sends KeepDeviceOn at most every 10 s while waiting (config.c:13171-13179).
KEEPALIVE_INTERVAL_S: Final = 10.0
#: EOS_PCHDDCapacity(free clusters, cluster size, 1): "the host has room" (library.c:6060-6100).
PC_HDD_CAPACITY_PARAMS: Final = (0x0FFFFFFF, 0x00001000, 0x00000001)
#: GetViewFinderData parameters "from trace" (ptp.c:4976).
VIEWFINDER_PARAMS: Final = (0x00200000, 0, 0)
#: GetObjectInfoEx's "max entries" (libgphoto2 passes 0x100000).
LIST_MAX_ENTRIES: Final = 0x100000
#: The most a folder's GetObjectInfoEx answer may hold: the client's limit for data kept in
#: memory (ptpkit.client.streams.DEFAULT_MEMORY_LIMIT), ~1.2 million entries.
LIST_MAX_BYTES: Final = 64 << 20
#: One GetPartialObjectEX64 asks at most this much (the length parameter is 32 bits).
READ_STEP_BYTES: Final = 0x7FFFFFFF
_U32_MAX: Final = 0xFFFFFFFF
#: Sizes from 64-bit object records remembered for object_size, most recent first out.
_SIZE_MEMORY: Final = 4096
#: Object records a capture keeps while waiting (a burst of RAW + JPEG pairs fits easily).
_CAPTURE_RECORD_LIMIT: Final = 256

EVF_PC_BIT: Final = 0x2

#: The image-quality family, carried as packed entries (ptp-pack.c ptp_unpack_EOS_ImageFormat).
IMAGE_FORMAT_PROP_CODES: Final = frozenset(
    code for code, kind in PROP_KINDS.items() if kind is PropKind.IMAGE_FORMAT
)

#: Seconds left before a capture's deadline (raises TransportTimeout when none are).
_Remaining = Callable[[], float]

#: Properties asked once at session start with RequestDevicePropValue (vendors.md 1.1 step 6).
_REQUESTED_AT_START: Final = (OWNER_PROP, ARTIST_PROP, COPYRIGHT_PROP, SERIAL_NUMBER_PROP)


#: Friendly names: libgphoto2's (gphoto2 --get-config iso ...) with an ``eos-`` form first, which
#: no standard property's name takes (the standard catalog's "iso" names 0x500F, which an EOS
#: does not list).
#: The standard names photographers type ("shutter", "f-number", "ev", "exp-bias", "quality",
#: "artist") are aliases too: a name that means a standard and an EOS property resolves to the
#: one the camera lists (client/properties.py), so ``set iso 400`` sets an EOS's own ISO.
EOS_PROPERTIES: Final = tuple(
    PropertySpec(code=code, names=(f"eos-{name}", name, *aliases), label=label)
    for code, name, aliases, label in (
        (values.ISO_PROP, "iso", (), "ISO speed"),
        (values.APERTURE_PROP, "aperture", ("f-number",), "aperture"),
        (values.SHUTTER_PROP, "shutterspeed", ("shutter", "shutter-speed"), "shutter speed"),
        (
            values.EXPOSURE_COMP_PROP,
            "exposurecompensation",
            ("exposure-compensation", "ev", "exp-bias", "exposure-bias"),
            "exposure compensation",
        ),
        (values.WHITE_BALANCE_PROP, "whitebalance", ("white-balance", "wb"), "white balance"),
        (values.DRIVE_MODE_PROP, "drivemode", ("drive",), "drive mode"),
        (values.IMAGE_FORMAT_PROP, "imageformat", ("quality", "imagequality"), "image quality"),
        (values.CAPTURE_TARGET_PROP, "capturetarget", (), "capture target"),
        # The picture's EXIF texts, plain ASCII (libgphoto2 config.c names: "artist",
        # "copyright", "ownername"); the standard Artist / Copyright an EOS does not list.
        (ARTIST_PROP, "artist", (), "artist"),
        (COPYRIGHT_PROP, "copyright", (), "copyright"),
        (OWNER_PROP, "ownername", ("owner",), "owner name"),
    )
)


# -- the property cache ----------------------------------------------------------------------------


@dataclass
class EosPropertyCache:
    """Every property value and allowed list the camera reported (GetEvent 0xC189 / 0xC18A),
    as decoded values (ImageFormat for the image-quality family)."""

    values: dict[int, PropValue] = field(default_factory=dict)
    allowed: dict[int, tuple[PropValue, ...]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def apply(self, record: EosRecord) -> None:
        with self.lock:
            if isinstance(record, PropValueChanged):
                self.values[record.prop] = _decoded(record.prop, record.raw)
            elif isinstance(record, AvailListChanged):
                self.allowed[record.prop] = tuple(record.allowed)

    def value(self, prop: int) -> PropValue | None:
        with self.lock:
            return self.values.get(prop)

    def set_value(self, prop: int, value: PropValue) -> None:
        with self.lock:
            self.values[prop] = value

    def codes(self) -> list[int]:
        with self.lock:
            return sorted(self.values)

    def snapshot(self, prop: int) -> tuple[PropValue | None, tuple[PropValue, ...] | None]:
        with self.lock:
            return self.values.get(prop), self.allowed.get(prop)


def _decoded(prop: int, raw: bytes) -> PropValue:
    value = decode_prop_value(prop, raw)
    if isinstance(value, bytes) and prop in TEXT_PROPS:
        # Plain ASCII up to the NUL (vendors.md 1.2); core.canon_eos has no kind for Copyright.
        return value.partition(b"\0")[0].decode("ascii", errors="replace")
    return value


def _datatype(prop: int, value: PropValue) -> DataType | None:
    """How a cached value is described to users (None: not describable, raw bytes of an
    unknown layout)."""
    if isinstance(value, str):
        return DataType.STR
    if isinstance(value, ImageFormat):
        return DataType.UINT16  # libgphoto2's 16-bit summary (ImageFormat.code)
    if isinstance(value, bytes):
        return None
    kind = prop_kind(prop)
    return {
        PropKind.U8: DataType.UINT8,
        PropKind.U16: DataType.UINT16,
        PropKind.U32: DataType.UINT32,
        PropKind.I16: DataType.INT16,
        PropKind.I32: DataType.INT32,
    }.get(kind or PropKind.U32, DataType.UINT32)


def _plain(value: PropValue) -> Value:
    """A cached value as a PTP value (an ImageFormat as its 16-bit summary)."""
    if isinstance(value, ImageFormat):
        return value.code
    assert not isinstance(value, bytes)
    return value


# -- records as events -----------------------------------------------------------------------------


def record_params(record: EosRecord) -> tuple[int, ...]:
    """The event parameters a record is emitted with (its numbers; the record is the details)."""
    if isinstance(record, PropValueChanged):
        value = _decoded(record.prop, record.raw)
        if isinstance(value, ImageFormat):
            return (record.prop, value.code)
        return (record.prop, value) if isinstance(value, int) else (record.prop,)
    if isinstance(record, AvailListChanged):
        return (record.prop, len(record.values))
    if isinstance(record, ObjectAdded):
        return (record.handle, record.storage_id, record.parent)
    if isinstance(record, RequestObjectTransfer):
        return (record.handle,)
    if isinstance(record, (ObjectRemoved, ObjectContentChanged)):
        return (record.handle,)
    if isinstance(record, StorageChanged):
        return (record.storage_id,)
    if isinstance(record, CameraStatusChanged):
        return (record.status,)
    if isinstance(record, BulbExposureTime):
        return (record.seconds,)
    if isinstance(record, CtgInfoCheckComplete):
        return (record.value,)
    if isinstance(record, OlcInfoChanged):
        return (record.mask,)
    return ()


def captured_object(record: ObjectAdded | RequestObjectTransfer) -> CapturedObject:
    """The object a record announces, described from the record: on a card (ObjectAddedEx) or
    in the camera's memory for the host to fetch (RequestObjectTransfer: no storage, no parent,
    as libgphoto2's camera_canon_eos_capture takes it)."""
    if isinstance(record, ObjectAdded):
        info = ObjectInfo(
            storage_id=record.storage_id,
            object_format=record.format,
            compressed_size=min(record.size, _U32_MAX),
            parent_object=record.parent,
            association_type=1 if record.format == Ofc.ASSOCIATION else 0,
            filename=record.name,
        )
        return CapturedObject(handle=record.handle, info=info)
    info = ObjectInfo(
        object_format=record.format,
        compressed_size=min(record.size, _U32_MAX),
        filename=record.name,
    )
    return CapturedObject(handle=record.handle, info=info, in_memory=True)


def _is_folder(record: ObjectAdded | RequestObjectTransfer) -> bool:
    return isinstance(record, ObjectAdded) and record.format == Ofc.ASSOCIATION


#: Records that announce a new object (ObjectInfoChangedEx 0xC187 shares the layout, not the
#: meaning, so it is not one of them).
_NEW_OBJECT_TYPES: Final = (0xC181, 0xC1A7, 0xC186, 0xC1A9)


def _announces(record: EosRecord) -> ObjectAdded | RequestObjectTransfer | None:
    if isinstance(record, (ObjectAdded, RequestObjectTransfer)) and (
        record.type in _NEW_OBJECT_TYPES
    ):
        return record
    return None


# -- the poller ------------------------------------------------------------------------------------


class EosEventPoller(ExtensionPoller):
    """EOS_GetEvent on the camera's poller thread (:meth:`CanonEosExtension.event_poller`)."""

    fast_s, step_s, idle_s, trouble_s = POLL_FAST_S, POLL_STEP_S, POLL_IDLE_S, POLL_TROUBLE_S
    # Never fatal, unlike "unknown EOS event" in other tools.
    what = "EOS GetEvent data"

    def __init__(self, extension: CanonEosExtension) -> None:
        super().__init__(extension, extension.poll_events)


def next_interval(previous_s: float, records: int) -> float:
    """Fast while records come; 50 ms slower per empty answer, up to the idle bound."""
    return adaptive_interval(
        previous_s, records, fast_s=POLL_FAST_S, step_s=POLL_STEP_S, idle_s=POLL_IDLE_S
    )


# -- capture waiting -------------------------------------------------------------------------------


class _CaptureWatch:
    """What a capture is waiting for, fed by every decoded batch whoever polled it.

    The records that answer the capture (the new objects, the camera's busy / idle status around
    the shot) are its answer: kept here as events, with the standard ObjectAdded of each object,
    and not emitted to the event queue, as the standard capture's ObjectAdded and
    CaptureComplete are not (client/capture.py). Everything else (property changes, a focus
    result) is emitted as usual."""

    def __init__(self) -> None:
        self.objects: list[ObjectAdded | RequestObjectTransfer] = []
        #: The capture's answer, in order (AnswerEvents with the records as details).
        self.answer: list[AnswerEvent] = []
        #: CameraStatusChanged 0 (idle) after an object arrived.
        self.settled = False
        self.focus_reported = False

    def feed(self, records: Sequence[EosRecord]) -> set[int]:
        """Take a batch; the indexes of the records that are this capture's answer."""
        claimed: set[int] = set()
        for index, record in enumerate(records):
            announced = _announces(record)
            if (
                announced is not None
                and not _is_folder(announced)
                and len(self.objects) < _CAPTURE_RECORD_LIMIT
            ):
                self.objects.append(announced)
                self._keep(record)
                self.answer.append(
                    AnswerEvent(
                        code=Ec.OBJECT_ADDED,
                        params=(announced.handle,),
                        details=captured_object(announced),
                    )
                )
                claimed.add(index)
            if isinstance(record, CameraStatusChanged) and len(self.answer) < _CAPTURE_RECORD_LIMIT:
                if record.status == 0 and self.objects:
                    self.settled = True
                self._keep(record)
                claimed.add(index)
            if isinstance(record, PropValueChanged) and record.prop == FOCUS_INFO_EX_PROP:
                self.focus_reported = True
            if isinstance(record, OlcInfoChanged):
                self.focus_reported = True
        return claimed

    def _keep(self, record: EosRecord) -> None:
        self.answer.append(
            AnswerEvent(code=record.type, params=record_params(record), details=record)
        )


# -- capture ---------------------------------------------------------------------------------------


class EosCapturePlan:
    """An EOS capture (library.c:6060-6245) cut at the release: before it, the events read
    ("otherwise capture might return busy", library.c:6060), a busy camera waited out
    (library.c:6077 refuses to shoot then), PCHDDCapacity for a capture to the computer, and on
    bodies with RemoteReleaseOn the half press and the wait for focus (library.c:6112-6181);
    the release is RemoteReleaseOn(2, 0), the full press (RemoteRelease on older bodies).
    After it: both buttons let go (RemoteReleaseOff 2 then 1, whatever the answer), then the
    wait for the records announcing the picture(s) until the camera is idle again."""

    def __init__(self, extension: CanonEosExtension, timeout_s: float) -> None:
        self.extension = extension
        self.timeout_s = timeout_s
        self._stack = contextlib.ExitStack()
        self._watch = _CaptureWatch()
        #: RemoteReleaseOn(1, 0) went: RemoteReleaseOff(1) is owed.
        self._half_pressed = False

    def _remaining(self, deadline: float) -> _Remaining:
        clock = self.extension.session.clock

        def remaining() -> float:
            left = deadline - clock.monotonic()
            if left <= 0:
                raise TransportTimeout(
                    f"the camera did not report the capture within {self.timeout_s:g} s"
                )
            return left

        return remaining

    def prepare(self, deadline: float) -> Step:
        ext = self.extension
        clock = ext.session.clock
        remaining = self._remaining(deadline)
        self._watch = self._stack.enter_context(ext._watching())
        try:
            ext.poll_events(timeout_s=remaining())
            while ext.camera_busy:
                # Not while the camera says busy: wait, within the deadline, for it to say it
                # is idle again.
                if ext.poll_events(timeout_s=remaining()) == 0:
                    clock.sleep(min(POLL_FAST_S, remaining()))
            if ext.cache.value(values.CAPTURE_TARGET_PROP) == CAPTURE_TO_PC and ext.supports(
                PC_HDD_CAPACITY
            ):
                ext._quiet(PC_HDD_CAPACITY, PC_HDD_CAPACITY_PARAMS)  # busy ignored
            if not ext.supports(REMOTE_RELEASE_ON):
                return Step(code=REMOTE_RELEASE)
            ext.session.run(REMOTE_RELEASE_ON, (1, 0), timeout_s=remaining())
            self._half_pressed = True
            focus_until = clock.monotonic() + min(FOCUS_WAIT_S, remaining())
            while not self._watch.focus_reported and clock.monotonic() < focus_until:
                if ext.poll_events(timeout_s=remaining()) == 0:
                    clock.sleep(min(POLL_FAST_S, remaining()))
            return Step(code=REMOTE_RELEASE_ON, params=(2, 0))
        except BaseException:
            self.abandon(sent=False)
            raise

    def abandon(self, *, sent: bool) -> None:
        ext = self.extension
        try:
            if self._half_pressed:
                if sent:
                    ext._quiet(REMOTE_RELEASE_OFF, (2,))
                self._half_pressed = False
                ext._quiet(REMOTE_RELEASE_OFF, (1,))
        finally:
            self._stack.close()

    def finish(self, reply: Reply, deadline: float) -> CaptureOutcome:
        ext = self.extension
        clock = ext.session.clock
        remaining = self._remaining(deadline)
        watch = self._watch
        try:
            if self._half_pressed:
                try:
                    try:
                        if reply.code != Rc.OK:
                            raise ext.release_error(reply, REMOTE_RELEASE_ON,
                                                    "EOS_RemoteReleaseOn")  # fmt: skip
                    finally:
                        ext._quiet(REMOTE_RELEASE_OFF, (2,))
                    with contextlib.suppress(DecodeError):
                        ext.poll_events(timeout_s=remaining())
                finally:
                    self._half_pressed = False
                    ext._quiet(REMOTE_RELEASE_OFF, (1,))
            else:
                if reply.code != Rc.OK:
                    raise ext.release_error(reply, REMOTE_RELEASE, "EOS_RemoteRelease")
                result = reply.params[0] if reply.params else 0
                if result != 0:
                    why = _RELEASE_FAILURES.get(result, f"result 0x{result:X}")
                    raise CaptureError(result, name=why, operation=REMOTE_RELEASE,
                                       operation_name="EOS_RemoteRelease")  # fmt: skip
            # Until the camera is idle again after the picture(s) (CameraStatusChanged 0), or
            # has nothing more to say: a RAW + JPEG shot announces two objects.
            while not (watch.objects and watch.settled):
                if deadline - clock.monotonic() <= 0 and watch.objects:
                    break
                count = ext.poll_events(timeout_s=remaining())
                if watch.objects and count == 0:
                    break
                if not (watch.objects and count):
                    clock.sleep(max(0.0, min(POLL_FAST_S, deadline - clock.monotonic())))
            objects = tuple(captured_object(record) for record in watch.objects)
            return CaptureOutcome(objects=objects, events=tuple(watch.answer))
        finally:
            self._stack.close()


# -- live view -------------------------------------------------------------------------------------


class EosLiveView:
    """Live-view frames (vendors.md 1.7): EVFMode 1 and the PC bit of EVFOutputDevice on
    :meth:`start`, EOS_GetViewFinderData per :meth:`frame` (None while the camera answers
    ObjectNotReady 0xA102 or DeviceBusy: it warms up), EVFOutputDevice 0 on :meth:`stop`."""

    def __init__(self, extension: CanonEosExtension) -> None:
        self.extension = extension
        #: The last answer's other blobs (not the JPEG), by type: LiveFrame.side_data.
        self.side_data: dict[str, object] = {}

    def start(self) -> None:
        ext = self.extension
        if ext.cache.value(EVF_MODE_PROP) not in (None, 1):
            with contextlib.suppress(DeviceBusyError):  # movie mode answers busy (library.c)
                ext.set_eos_property(EVF_MODE_PROP, 1)
        output = ext.cache.value(EVF_OUTPUT_DEVICE_PROP)
        # libgphoto2 sets 2 (PC) when no bit but the TFT's (bit 0) is set.
        if not isinstance(output, int) or not output & ~1:
            ext.set_eos_property(EVF_OUTPUT_DEVICE_PROP, EVF_PC_BIT)

    def frame(self) -> bytes | None:
        ext = self.extension
        reply = ext.session.run(GET_VIEWFINDER_DATA, VIEWFINDER_PARAMS, check=False)
        if reply.code in (OBJECT_NOT_READY, Rc.DEVICE_BUSY):
            return None
        if reply.code != Rc.OK:
            cls = ext.response_error(reply.code) or ResponseError
            raise cls(reply.code, operation=GET_VIEWFINDER_DATA,
                      operation_name="EOS_GetViewFinderData")  # fmt: skip
        blobs = decode_viewfinder_data(reply.data)
        jpeg = next((blob.payload for blob in blobs if blob.is_jpeg), None)
        others = {f"blob_0x{blob.type:X}": blob.payload for blob in blobs if not blob.is_jpeg}
        self.side_data = {"blobs": others} if others else {}
        return jpeg

    def stop(self) -> None:
        self.extension.set_eos_property(EVF_OUTPUT_DEVICE_PROP, 0)


def viewfinder_jpeg(data: bytes) -> bytes | None:
    """The first JPEG among GetViewFinderData's blobs (core.canon_eos.decode_viewfinder_data);
    None when no blob is one."""
    return next((blob.payload for blob in decode_viewfinder_data(data) if blob.is_jpeg), None)


# -- the extension ---------------------------------------------------------------------------------


class _ListingSink:
    """Keeps a GetObjectInfoEx answer in one bytearray that the listing then holds as it is:
    kept in memory the usual way, the answer was copied to bytes at its end (two 64 MiB copies
    at once for the biggest answer)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.started = False

    def start(self, total_bytes: int | None) -> None:
        if total_bytes is not None and total_bytes > LIST_MAX_BYTES:
            raise RemoteProtocolError(
                f"the camera announced a folder listing of {total_bytes} bytes, more than "
                f"the {LIST_MAX_BYTES}-byte limit for data kept in memory"
            )
        self.started = True

    def write(self, chunk: BytesLike) -> None:
        if len(self.data) + len(chunk) > LIST_MAX_BYTES:
            raise RemoteProtocolError(
                f"the camera sent a folder listing of more than {LIST_MAX_BYTES} bytes, the "
                "limit for data kept in memory"
            )
        self.data += chunk

    def finish(self) -> None:
        pass


class _EosListing(ListedObjects):
    """A folder as EOS_GetObjectInfoEx lists it, each entry made an ObjectInfo when asked."""

    __slots__ = ("_entries", "_parent")

    def __init__(self, entries: FolderListing, parent: int) -> None:
        self._entries = entries
        self._parent = parent

    def __len__(self) -> int:
        return len(self._entries)

    def handle(self, index: int) -> int:
        return self._entries.handle(index)

    def info(self, index: int) -> ObjectInfo:
        entry = self._entries[index]
        stamp = ""
        if entry.time:
            # A POSIX time: libgphoto2 stores it as the object's time_t (ptp.c
            # ptp_list_folder_eos), as it does the ObjectInfo date it reads as local time; so
            # the camera's wall clock is the local one here too, and a file listed here shows
            # the date GetObjectInfo gives it (UTC would shift it by the host's offset).
            when = _dt.datetime.fromtimestamp(entry.time)
            stamp = when.strftime("%Y%m%dT%H%M%S")
        parent = self._parent
        return ObjectInfo(
            storage_id=entry.storage_id,
            object_format=entry.format,
            compressed_size=entry.size,
            parent_object=entry.parent or (0 if parent in (0, _U32_MAX) else parent),
            association_type=1 if entry.format == Ofc.ASSOCIATION else 0,
            filename=entry.name,
            capture_date=stamp,
            modification_date=stamp,
        )


class CanonEosExtension(Extension):
    """Canon EOS behaviour (see the module's docstring)."""

    name = "canon-eos"
    properties = EOS_PROPERTIES
    #: GetObjectInfoEx tells name, format, size, parent and date: not a whole ObjectInfo.
    lists_whole_object_info = False

    #: Idle seconds before EOS_KeepDeviceOn; None: no keep-alive.
    keepalive_interval_s: float | None = KEEPALIVE_INTERVAL_S
    #: SetRemoteMode's parameter (1 for regular EOS; EOS M bodies want 0x15: vendors.md 1.1).
    remote_mode: int = 1

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return is_eos(info)

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.cache = EosPropertyCache()
        self.closing = False
        #: CameraStatusChanged said 1 (busy) last: libgphoto2 does not trigger then.
        self.camera_busy = False
        self._polls = 0  # our own GetEvents: not user activity for the keep-alive
        self._watch_lock = threading.Lock()
        self._watches: list[_CaptureWatch] = []
        self._sizes: OrderedDict[int, int] = OrderedDict()
        self._keepalive: IdleKeepAlive | None = None
        self._changed_capture_target = False

    # -- helpers ---------------------------------------------------------------------------------

    def supports(self, code: int) -> bool:
        return code in self.session.device_info.operations_supported

    def _quiet(self, code: int, params: Sequence[int] = ()) -> None:
        """A transaction whose failure is only logged (libgphoto2 does the same at start and
        tear-down: "errors only logged")."""
        try:
            reply = self.session.run(code, params, check=False)
        except PTPError as exc:
            log.debug("%s: 0x%04X failed: %s", self.session.label, code, exc)
            return
        if reply.code != Rc.OK:
            log.debug("%s: 0x%04X answered 0x%04X", self.session.label, code, reply.code)

    # -- events ----------------------------------------------------------------------------------

    def poll_events(
        self,
        *,
        emit_properties: bool = True,
        timeout_s: float | None = None,
        wait_turn: bool = True,
    ) -> int:
        """One GetEvent: decode, update the cache, tell waiting captures, emit. The number of
        records (0: nothing changed)."""
        self._polls += 1
        reply = self.session.run(GET_EVENT, timeout_s=timeout_s, wait_turn=wait_turn)
        records = decode_get_event(reply.data)
        self.handle_records(records, emit_properties=emit_properties)
        return len(records)

    def handle_records(self, records: Sequence[EosRecord], *, emit_properties: bool = True) -> None:
        """Every record once, in order (linear in the batch: no re-scanning)."""
        for record in records:
            self.cache.apply(record)
            if isinstance(record, CameraStatusChanged):
                self.camera_busy = record.status == 1
            size = getattr(record, "size", None)
            handle = getattr(record, "handle", None)
            if isinstance(size, int) and isinstance(handle, int) and size > _U32_MAX:
                self._remember_size(handle, size)
        with self._watch_lock:
            watches = list(self._watches)
        claimed: set[int] = set()
        for watch in watches:
            claimed |= watch.feed(records)
        for index, record in enumerate(records):
            if index in claimed:
                continue  # a capture's answer: it returns them (CaptureResult.events)
            if not emit_properties and isinstance(
                record, (PropValueChanged, AvailListChanged, CtgInfoCheckComplete)
            ):
                continue  # the start's dump (its block markers too): nothing changed
            self._emit(record)

    def _emit(self, record: EosRecord) -> None:
        if isinstance(record, UnknownRecord):
            log.info(
                "%s: EOS event record 0x%04X (%d bytes) not known; reported as is",
                self.session.label,
                record.type,
                len(record.payload),
            )
        self.session.emit(record.type, record_params(record), details=record)
        announced = _announces(record)
        if announced is not None and not _is_folder(announced):
            # The standard ObjectAdded too, with the object described: what `tether` and
            # wait-event consumers wait for (Camera.event_entry reads a CapturedObject).
            self.session.emit(
                Ec.OBJECT_ADDED, (announced.handle,), details=captured_object(announced)
            )

    def _remember_size(self, handle: int, size: int) -> None:
        self._sizes[handle] = size
        self._sizes.move_to_end(handle)
        while len(self._sizes) > _SIZE_MEMORY:
            self._sizes.popitem(last=False)

    @contextlib.contextmanager
    def _watching(self) -> Iterator[_CaptureWatch]:
        watch = _CaptureWatch()
        with self._watch_lock:
            self._watches.append(watch)
        try:
            yield watch
        finally:
            with self._watch_lock:
                self._watches.remove(watch)

    def event_poller(self) -> EosEventPoller:
        return EosEventPoller(self)

    # -- session ---------------------------------------------------------------------------------

    def open_session(self) -> None:
        """The start EOS software does (vendors.md 1.1; library.c camera_init, config.c
        camera_prepare_canon_eos_capture)."""
        self.closing = False
        self.session.run(SET_REMOTE_MODE, (self.remote_mode,))
        self.session.run(SET_EVENT_MODE, (1,))
        if self.supports(SET_REQUEST_OLC_INFO_GROUP):
            self._quiet(SET_REQUEST_OLC_INFO_GROUP, (0x00001FFF,))
        # The first answer is the full dump: values and allowed lists into the cache (not
        # emitted as changes: nothing changed; object and status records are emitted).
        self.poll_events(emit_properties=False)
        if self.supports(REQUEST_DEVICE_PROP_VALUE):
            for prop in _REQUESTED_AT_START:
                self._quiet(REQUEST_DEVICE_PROP_VALUE, (prop,))
        if self.supports(GET_DEVICE_INFO_EX):
            self._quiet(GET_DEVICE_INFO_EX)  # logged only by libgphoto2 too
        if self.supports(GET_STORAGE_IDS):
            self._storage_ops()
        self.poll_events(emit_properties=False)
        if self.keepalive_interval_s is not None and self.supports(KEEP_DEVICE_ON):
            self._keepalive = IdleKeepAlive(
                _UserActivity(self),
                interval_s=self.keepalive_interval_s,
                action=lambda session: session.run(KEEP_DEVICE_ON, check=False),
                name="eos-keepdeviceon",
            ).start()

    def _storage_ops(self) -> None:
        try:
            reply = self.session.run(GET_STORAGE_IDS, check=False)
        except PTPError as exc:
            log.debug("%s: EOS_GetStorageIDs failed: %s", self.session.label, exc)
            return
        if reply.code != Rc.OK or len(reply.data) < 4:
            return
        count = int.from_bytes(reply.data[:4], "little")
        if count * 4 > len(reply.data) - 4:
            log.debug("%s: EOS_GetStorageIDs count %d too large", self.session.label, count)
            return
        for index in range(count):
            storage = int.from_bytes(reply.data[4 + 4 * index : 8 + 4 * index], "little")
            if self.supports(GET_STORAGE_INFO):
                self._quiet(GET_STORAGE_INFO, (storage,))

    def close_session(self) -> None:
        """The tear-down order of config.c camera_unprepare_canon_eos_capture: AfCancel, the
        capture target back to the card, drain GetEvent, SetRemoteMode 0 then 1 ("resets the
        camera state" / "enables camera display"), SetEventMode 0. Failures are logged: the
        session closes anyway."""
        self.closing = True
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None:
            keepalive.stop()
        if self.supports(AF_CANCEL):
            self._quiet(AF_CANCEL)
        if (
            self._changed_capture_target
            and self.cache.value(values.CAPTURE_TARGET_PROP) == CAPTURE_TO_PC
        ):
            with contextlib.suppress(PTPError):
                self.set_eos_property(values.CAPTURE_TARGET_PROP, self._card_target())
        with contextlib.suppress(PTPError):
            self.poll_events()
        self._quiet(SET_REMOTE_MODE, (0,))
        self._quiet(SET_REMOTE_MODE, (1,))
        self._quiet(SET_EVENT_MODE, (0,))

    def response_error(self, code: int) -> type[ResponseError] | None:
        return RESPONSE_ERRORS.get(code)

    # -- properties ------------------------------------------------------------------------------

    def property_codes(self) -> Collection[int]:
        out = []
        for code in self.cache.codes():
            value = self.cache.value(code)
            if value is not None and _datatype(code, value) is not None:
                out.append(code)
        return out

    def describe_property(self, code: int) -> DevicePropDesc | None:
        value, allowed = self.cache.snapshot(code)
        if value is None:
            return None
        datatype = _datatype(code, value)
        if datatype is None:
            return None
        form = None
        if allowed:
            form = EnumerationForm(
                values=tuple(_plain(v) for v in allowed if not isinstance(v, bytes))
            )
        writable = code not in READ_ONLY_PROPS and self.supports(SET_DEVICE_PROP_VALUE_EX)
        return DevicePropDesc(
            code=code,
            datatype=datatype,
            get_set=GetSet.GET_SET if writable else GetSet.GET,
            factory_default=_plain(value),
            current=_plain(value),
            form=form,
        )

    def set_eos_property(self, code: int, value: PropValue) -> None:
        """EOS_SetDevicePropValueEx; the cache takes the value once the camera answers OK
        (libgphoto2 caches only after OK; the camera confirms in a later 0xC189)."""
        if code in IMAGE_FORMAT_PROP_CODES and isinstance(value, int):
            value = ImageFormat.from_code(value)
        data = encode_set_prop_value_ex(code, value)
        self.session.run(SET_DEVICE_PROP_VALUE_EX, data=data)
        self.cache.set_value(code, value)

    def set_property(self, code: int, value: Value, datatype: DataType) -> bool:
        if self.cache.value(code) is None or not self.supports(SET_DEVICE_PROP_VALUE_EX):
            return False
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            raise UsageError(f"property 0x{code:04X} takes a number or text, not {value!r}")
        try:
            self.set_eos_property(code, value)
        except LocalProtocolError as exc:
            raise UsageError(f"property 0x{code:04X}: {exc}") from None
        if code == values.CAPTURE_TARGET_PROP:
            self._changed_capture_target = True
        return True

    def format_value(self, code: int, value: Value) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        if code in IMAGE_FORMAT_PROP_CODES:
            return values.format_image_format(ImageFormat.from_code(value & 0xFFFF).entries)
        if not values.has_table(code):
            return None
        text = values.format_value(code, value)
        if code == values.ISO_PROP and text.isdigit():
            return f"ISO {text}"
        return text

    def parse_value(self, code: int, text: str, allowed: Sequence[Value] | None) -> Value | None:
        allowed_ints = None
        if allowed is not None:
            allowed_ints = [v for v in allowed if isinstance(v, int)]
        try:
            if code in IMAGE_FORMAT_PROP_CODES:
                parsed = ImageFormat.of(values.parse_image_format(text)).code
                if allowed_ints is not None and parsed not in allowed_ints:
                    shown = ", ".join(self.format_value(code, v) or "" for v in allowed_ints)
                    raise ValueError(f"{text!r} is not allowed now (allowed: {shown})")
                return parsed
            if not values.has_table(code):
                return None
            return values.parse_value(code, text, allowed_ints)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    # -- capture ---------------------------------------------------------------------------------

    def _card_target(self) -> int:
        _value, allowed = self.cache.snapshot(values.CAPTURE_TARGET_PROP)
        others = [v for v in allowed or () if isinstance(v, int) and v != CAPTURE_TO_PC]
        return others[0] if others else CAPTURE_TO_CARD

    def capture_plan(self, *, timeout_s: float) -> EosCapturePlan | None:
        """Shoot and wait for the records announcing the picture (library.c:6060-6245), as a
        plan cut at the full press (:class:`EosCapturePlan`)."""
        if not (self.supports(REMOTE_RELEASE_ON) or self.supports(REMOTE_RELEASE)):
            return None
        return EosCapturePlan(self, timeout_s)

    def release_error(self, reply: Reply, operation: int, name: str) -> ResponseError:
        """The error a release answered with ``reply`` (not OK) raises."""
        cls = self.response_error(reply.code) or response_error_class(reply.code)
        return cls(
            reply.code,
            name=Vocabulary([STANDARD_CODES, *self.code_sets]).response_name(reply.code),
            operation=operation,
            operation_name=name,
            params=reply.params,
        )

    def after_download(self, captured: CapturedObject) -> None:
        """A picture taken to the computer was read: EOS_TransferComplete lets the camera drop
        it (vendors.md 1.6)."""
        if captured.in_memory and self.supports(TRANSFER_COMPLETE):
            self.session.run(TRANSFER_COMPLETE, (captured.handle,))

    # -- objects ---------------------------------------------------------------------------------

    def list_folder(self, storage_id: int, parent: int) -> ListedObjects | None:
        """One EOS_GetObjectInfoEx per folder (vendors.md 1.8); the top level is 0xFFFFFFFF
        as libgphoto2 asks it. The entries stay compact and are described one by one as the
        walk reaches them (:class:`~ptpkit.core.canon_eos.FolderListing`): one answer can be
        64 MiB."""
        if not self.supports(GET_OBJECT_INFO_EX):
            return None
        asked = _U32_MAX if parent == 0 else parent
        answer = _ListingSink()
        reply = self.session.run(
            GET_OBJECT_INFO_EX, (storage_id, asked, LIST_MAX_ENTRIES), sink=answer
        )
        # A session may keep the data itself (a test's, another front end's) rather than
        # pass it on to the sink.
        data = answer.data if answer.started else reply.data
        return _EosListing(decode_folder_listing(data), parent)

    def object_size(self, handle: int, info: ObjectInfo) -> int | None:
        """Past 4 GiB: the size a 64-bit record gave, else EOS_GetObjectInfo64."""
        if info.compressed_size != _U32_MAX:
            return None
        known = self._sizes.get(handle)
        if known is not None:
            return known
        if not self.supports(GET_OBJECT_INFO_64):
            return None
        reply = self.session.run(GET_OBJECT_INFO_64, (handle,))
        # No source gives this dataset's layout (vendors.md 1.9: "unverified"); the virtual EOS
        # answers a GetObjectInfoEx entry and then the size as 64 bits, which is read here.
        if len(reply.data) < 52 + 8:
            raise DecodeError(
                f"{len(reply.data)} bytes cannot hold an entry and a 64-bit size",
                offset=0,
                what="EOS GetObjectInfo64",
            )
        return int.from_bytes(reply.data[-8:], "little")

    def reads_from(self, offset: int) -> bool:
        return offset > _U32_MAX and self.supports(GET_PARTIAL_OBJECT_EX_64)

    def read_object(self, handle: int, offset: int, length: int, sink: DataSink) -> bool:
        """Only what a 32-bit GetPartialObject cannot reach: reads past 4 GiB with
        EOS_GetPartialObjectEX64 (handle, offset low, offset high, max bytes: ptp.h's comment,
        vendors.md 1.9), one sink across the pieces."""
        if offset + length <= _U32_MAX or not self.supports(GET_PARTIAL_OBJECT_EX_64):
            return False
        end = offset + length
        while offset < end:
            step = min(end - offset, READ_STEP_BYTES)
            reply = self.session.run(
                GET_PARTIAL_OBJECT_EX_64,
                (handle, offset & _U32_MAX, offset >> 32, step),
                sink=sink,
            )
            offset += checked_read_count(reply.params, step, offset)
        return True

    # -- half press ------------------------------------------------------------------------------

    def half_press(self) -> HalfPress | None:
        # libgphoto2 config.c _put_Canon_EOS_AutoFocus: DoAf 0x9154 to focus, AfCancel 0x9160
        # to let go (the "autofocusdrive" toggle on and off).
        return HalfPress(name="DoAf", press=Step(code=DO_AF), release=Step(code=AF_CANCEL))

    # -- live view -------------------------------------------------------------------------------

    def live_view(self) -> FrameSource | None:
        if not self.supports(GET_VIEWFINDER_DATA):
            return None
        return EosLiveView(self)


class _UserActivity:
    """The session as the keep-alive sees it: our own GetEvent polls are not activity (the
    camera's auto power-off is not held off by them: libgphoto2 sends KeepDeviceOn while it
    polls)."""

    def __init__(self, extension: CanonEosExtension) -> None:
        self._ext = extension
        self._session = extension.session

    @property
    def label(self) -> str:
        return self._session.label

    @property
    def transport_kind(self) -> str:
        return self._session.transport_kind

    @property
    def device_info(self) -> DeviceInfo:
        return self._session.device_info

    @property
    def clock(self) -> Clock:
        return self._session.clock

    @property
    def transactions_run(self) -> int:
        return self._session.transactions_run - self._ext._polls

    @property
    def idle(self) -> bool:
        return self._session.idle

    def run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data: BytesLike | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Reply:
        return self._session.run(
            code,
            params,
            data=data,
            sink=sink,
            timeout_s=timeout_s,
            check=check,
            wait_turn=wait_turn,
        )

    def emit(self, code: int, params: Sequence[int] = (), *, details: object = None) -> None:
        self._session.emit(code, params, details=details)

    def wait_event(self, codes: Collection[int], timeout_s: float) -> AnswerEvent:
        return self._session.wait_event(codes, timeout_s)

    @property
    def side_channels(self) -> SideChannels | None:
        return self._session.side_channels


__all__ = [
    "CanonEosExtension",
    "EosEventPoller",
    "EosLiveView",
    "EosPropertyCache",
    "is_eos",
    "next_interval",
    "record_params",
    "viewfinder_jpeg",
]
