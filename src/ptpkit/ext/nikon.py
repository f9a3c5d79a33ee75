"""Nikon, client side: the extension ``nikon`` (issue 14 section 1).

A Nikon tells the host about new pictures and property changes only when asked (GetEvent 0x90C7,
or GetEventEx 0x941C where listed), says it is still busy through DeviceReady 0x90C8, shoots
with InitiateCaptureRecInMedia 0x9207 (to its memory, "SDRAM", or to the card) or the older
InitiateCaptureRecInSdram 0x90C0, keeps its own properties out of DeviceInfo (GetVendorPropCodes
0x90CA lists them), reads files over 4 GiB with GetObjectSize 0x9421 / GetPartialObjectEx
0x9431 and has its own live view (0x9201-0x9203). The facts are libgphoto2's (camlibs/ptp2
library.c, config.c, ptp.c, ptp.h) as vendors.md section 2 summarises them; the wire formats
are the sans-IO codecs of :mod:`ptpkit.core.nikon`.

Per camera (one :class:`NikonExtension` each):

- a **GetEvent poller** (:class:`NikonEventPoller`, the shared adaptive pace of
  :mod:`ptpkit.ext.polling`): every record becomes an event on the camera's event stream; an
  ObjectAdded or ObjectAddedInSDRAM is also reported with the object described as a
  :class:`~ptpkit.ext.base.CapturedObject`, which ``tether`` downloads;
- **DeviceReady waiting** (:meth:`NikonExtension.wait_ready`): a back-off from 10 ms doubling to
  200 ms, bounded by the caller's deadline (libgphoto2 nikon_wait_busy polls at a fixed pace);
- **capture** (:meth:`NikonExtension.capture`): 0x9207 with or without AF, to SDRAM or the card
  as RecordingMedia 0xD10B says; 0x90C0 on bodies without 0x9207; the capture operation retried
  while the camera answers DeviceBusy, InvalidStatus 0xA004 or Waiting_2ndRelease 0xA207
  (library.c: up to 200 times); then DeviceReady; then GetEvent until the new object and the
  capture's end are announced. A picture in SDRAM (0xFFFF0001) is deleted once downloaded, as
  libgphoto2 does;
- **property texts** for Nikon's encodings (shutter 0xD100 "1/250", white balance "Cloudy",
  image quality "NEF+Fine", focus mode "AF-S", RecordingMedia "card" / "SDRAM", 0xD1A4's
  refusal bits in words);
- the **Nikon response codes** (0xA0xx, 0xA2xx) as named errors;
- **live view** (:class:`NikonLiveView`): the refusal reasons of 0xD1A4 in words, StartLiveView,
  DeviceReady, frames from GetLiveViewImg (header skipped, JPEG found by
  :func:`ptpkit.core.nikon.decode_live_view`), a restart on NotLiveView 0xA00B, None while busy,
  EndLiveView.

Over PTP/IP a Nikon pairs with the initiator GUID (vendors.md 2.7): ptpkit's PTP/IP transport
already sends the one GUID kept per user (:mod:`ptpkit.identity`) and waits, with a notice, while
the camera asks its user to accept the computer (``--pairing-timeout``); nothing Nikon-specific
is needed beyond that.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from ptpkit.codes import STANDARD_CODES, Vocabulary
from ptpkit.codes.common import Ec, Rc
from ptpkit.codes.properties import PropertySpec
from ptpkit.core import nikon
from ptpkit.core.buffer import Reader
from ptpkit.core.datasets import DeviceInfo, ObjectInfo
from ptpkit.core.datatypes import Value
from ptpkit.core.nikon import NikonEvent
from ptpkit.errors import (
    AccessDeniedError,
    CaptureError,
    DecodeError,
    DeviceBusyError,
    PropertyError,
    PTPError,
    ResponseError,
    StorageError,
    TransportTimeout,
    UsageError,
    response_error_class,
)
from ptpkit.ext.base import (
    AnswerEvent,
    CapturedObject,
    CaptureOutcome,
    DataSink,
    FrameSource,
    HalfPress,
    Reply,
    Session,
    Step,
)
from ptpkit.ext.lazy import LazyCodes
from ptpkit.ext.matching import is_nikon
from ptpkit.ext.mtp import checked_read_count
from ptpkit.ext.polling import ExtensionPoller

log = logging.getLogger("ptpkit.ext.nikon")

# -- codes (names in codes/nikon.py; libgphoto2 ptp.h PTP_OC_NIKON_*) -----------------------------

INITIATE_CAPTURE_REC_IN_SDRAM: Final = 0x90C0
AF_DRIVE: Final = 0x90C1
GET_EVENT: Final = 0x90C7
DEVICE_READY: Final = 0x90C8
GET_VENDOR_PROP_CODES: Final = 0x90CA
START_LIVE_VIEW: Final = 0x9201
END_LIVE_VIEW: Final = 0x9202
GET_LIVE_VIEW_IMG: Final = 0x9203
INITIATE_CAPTURE_REC_IN_MEDIA: Final = 0x9207
GET_EVENT_EX: Final = 0x941C
GET_OBJECT_SIZE: Final = 0x9421
GET_PARTIAL_OBJECT_EX: Final = 0x9431
DELETE_OBJECT: Final = 0x100B
GET_DEVICE_PROP_VALUE: Final = 0x1015
SET_DEVICE_PROP_VALUE: Final = 0x1016

OBJECT_ADDED_IN_SDRAM: Final = 0xC101
CAPTURE_COMPLETE_REC_IN_SDRAM: Final = 0xC102

WHITE_BALANCE_PROP: Final = 0x5005
COMPRESSION_PROP: Final = 0x5004
FOCUS_MODE_PROP: Final = 0x500A
STILL_CAPTURE_MODE_PROP: Final = 0x5013
AF_MODE_LIVE_VIEW_PROP: Final = 0xD061
SHUTTER_PROP: Final = 0xD100
RECORDING_MEDIA_PROP: Final = 0xD10B
LIVE_VIEW_STATUS_PROP: Final = 0xD1A2
LIVE_VIEW_PROHIBIT_PROP: Final = 0xD1A4

#: 0x9207's first parameter (vendors.md 2.3).
AF_FIRST: Final = 0xFFFFFFFE
NO_AF: Final = 0xFFFFFFFF
#: A picture in the camera's memory when ObjectAddedInSDRAM names none (library.c).
SDRAM_HANDLE: Final = 0xFFFF0001
MEDIA_CARD: Final = 0
MEDIA_SDRAM: Final = 1

INVALID_STATUS: Final = 0xA004
NOT_LIVE_VIEW: Final = 0xA00B
BULB_RELEASE_BUSY: Final = 0xA200
SILENT_RELEASE_BUSY: Final = 0xA201
WAITING_2ND_RELEASE: Final = 0xA207

#: The capture operation is asked again on these (library.c: busy, 0xA004 on Nikon 1 and in some
#: states, 0xA207 on the D850), at most this many times.
_CAPTURE_RETRY_CODES: Final = frozenset({Rc.DEVICE_BUSY, INVALID_STATUS, WAITING_2ND_RELEASE})
CAPTURE_ATTEMPTS: Final = 200
#: DeviceReady's back-off: first wait, the longest wait.
READY_FIRST_S: Final = 0.01
READY_MAX_S: Final = 0.2
#: s: a retry after a busy answer is not started with less time left than this (it could only
#: time out, and a timeout of a fraction of a millisecond would hide that the camera was busy).
LAST_ATTEMPT_MIN_S: Final = 0.02
#: GetEvent's pace (ext/polling.py): fast while events come, slower by a step per quiet poll.
POLL_FAST_S: Final = 0.05
POLL_STEP_S: Final = 0.05
POLL_IDLE_S: Final = 0.25
POLL_TROUBLE_S: Final = 0.5
#: After the new object came, this many quiet polls end the wait for the "capture complete"
#: event (bodies that never send it: libgphoto2 waits only for 0xC101 + DeviceReady).
_QUIET_POLLS_AFTER_OBJECT: Final = 3
#: GetPartialObjectEx's step (libgphoto2 reads 10 MiB at a time; a bigger step is fewer round
#: trips and the data still streams to the sink).
READ_STEP_BYTES: Final = 64 * 1024 * 1024
#: Live view: how often one frame() call starts live view again after NotLiveView (a D7000 drops
#: it after 14000 frames: library.c restarts it).
_LIVE_VIEW_RESTARTS: Final = 1
#: Frames in a row without a JPEG before frame() gives up with the DecodeError.
_FRAMES_WITHOUT_PICTURE: Final = 50
_U32_MAX: Final = 0xFFFFFFFF
_CAPTURE_RECORD_LIMIT: Final = 256


# -- errors ----------------------------------------------------------------------------------------


class NikonHardwareError(ResponseError):
    """0xA001 HardwareError."""


class NikonOutOfFocus(CaptureError):
    """0xA002 OutOfFocus: the camera could not focus before the capture (try without AF, or
    another subject)."""


class NikonInvalidStatus(ResponseError):
    """0xA004 InvalidStatus: the camera is not in a state for this (live view on, a dial
    setting; a Nikon 1 with no live-view frame ready)."""


class NikonPropertyNotSettable(PropertyError):
    """0xA005 SetPropertyNotSupported."""


class NikonBulbRefused(CaptureError):
    """0xA008 ShutterSpeedBulb / 0xA204 Shutter_Speed_Time: a capture needs a timed shutter
    speed."""


class NikonMirrorUpSequence(CaptureError):
    """0xA009 MirrorUpSequence / 0xA208 MirrorUpCapture_Already_Start."""


class NikonNotLiveView(ResponseError):
    """0xA00B NotLiveView: live view is off."""


class NikonStoreError(StorageError):
    """0xA021 StoreError / 0xA022 StoreUnformatted: the memory card has an error or is not
    formatted."""


class NikonReleaseBusy(DeviceBusyError):
    """0xA200-0xA202, 0xA207: a bulb, silent or movie-frame release is still under way."""


class NikonLiveViewRefused(AccessDeniedError):
    """The camera refuses live view; ``reasons`` are its LiveViewProhibitCondition bits in
    words."""

    def __init__(self, code: int, reasons: Sequence[str], *, name: str | None = None) -> None:
        self.reasons = tuple(reasons)
        super().__init__(code, name=name, operation=START_LIVE_VIEW, operation_name="StartLiveView")
        if self.reasons:
            self.args = (f"the camera refuses live view: {'; '.join(self.reasons)}",)


#: The Nikon response codes ptp.h names (PTP_RC_NIKON_*), by class; the names come from
#: codes/nikon.py through the camera's vocabulary.
RESPONSE_ERRORS: Final[dict[int, type[ResponseError]]] = {
    0xA001: NikonHardwareError,
    0xA002: NikonOutOfFocus,
    0xA003: NikonInvalidStatus,  # ChangeCameraModeFailed
    INVALID_STATUS: NikonInvalidStatus,
    0xA005: NikonPropertyNotSettable,
    0xA008: NikonBulbRefused,
    0xA009: NikonMirrorUpSequence,
    0xA00A: NikonPropertyNotSettable,  # CameraModeNotAdjustFNumber
    NOT_LIVE_VIEW: NikonNotLiveView,
    0xA021: NikonStoreError,
    0xA022: NikonStoreError,
    BULB_RELEASE_BUSY: NikonReleaseBusy,
    SILENT_RELEASE_BUSY: NikonReleaseBusy,
    0xA202: NikonReleaseBusy,
    0xA204: NikonBulbRefused,
    WAITING_2ND_RELEASE: NikonReleaseBusy,
    0xA208: NikonMirrorUpSequence,
}

# -- property texts --------------------------------------------------------------------------------

#: Image quality (0x5004) on Nikon bodies: libgphoto2 config.c's Nikon compression table.
COMPRESSION: Final = {0: "JPEG Basic", 1: "JPEG Normal", 2: "JPEG Fine", 4: "NEF (Raw)",
                      5: "NEF+Basic", 6: "NEF+Normal", 7: "NEF+Fine"}  # fmt: skip
#: Nikon's own white balance values (0x5005 above 0x8000: config.c).
WHITE_BALANCE: Final = {0x8010: "Cloudy", 0x8011: "Shade", 0x8012: "Color Temperature",
                        0x8013: "Preset"}  # fmt: skip
#: Nikon's own focus modes (0x500A above 0x8000: config.c).
FOCUS_MODE: Final = {0x8010: "AF-S", 0x8011: "AF-C", 0x8012: "AF-A"}
LIVE_VIEW_AF_MODE: Final = {0: "AF-S", 1: "AF-C", 4: "MF"}
#: Nikon's own still capture modes (0x5013 above 0x8000): libgphoto2 config.c's names, as
#: Debian's gphoto2 shows them for the virtual D850 (0x8012 from vendors.md 2.6).
STILL_CAPTURE_MODE: Final = {0x8010: "Continuous Low Speed", 0x8011: "Timer",
                             0x8012: "Mirror Up", 0x8016: "Quiet Release"}  # fmt: skip
RECORDING_MEDIA: Final = {MEDIA_CARD: "card", MEDIA_SDRAM: "SDRAM"}
LIVE_VIEW_STATUS: Final = {0: "off", 1: "on"}
_TABLES: Final[dict[int, dict[int, str]]] = {
    COMPRESSION_PROP: COMPRESSION,
    WHITE_BALANCE_PROP: WHITE_BALANCE,
    FOCUS_MODE_PROP: FOCUS_MODE,
    STILL_CAPTURE_MODE_PROP: STILL_CAPTURE_MODE,
    AF_MODE_LIVE_VIEW_PROP: LIVE_VIEW_AF_MODE,
    RECORDING_MEDIA_PROP: RECORDING_MEDIA,
    LIVE_VIEW_STATUS_PROP: LIVE_VIEW_STATUS,
}

NIKON_PROPERTIES: Final = (
    PropertySpec(
        code=SHUTTER_PROP,
        # libgphoto2 config.c names 0xD100 "shutterspeed2" (0x500D is its "shutterspeed").
        names=("shutterspeed2", "nikon-shutter", "nikon-exposure-time"),
        label="shutter speed (Nikon)",
    ),
    PropertySpec(
        code=RECORDING_MEDIA_PROP,
        names=("recordingmedia", "recording-media", "capture-target", "capturetarget"),
        label="recording media (card or SDRAM)",
    ),
    PropertySpec(code=LIVE_VIEW_STATUS_PROP, names=("liveviewstatus",), label="live view status"),
    PropertySpec(
        code=LIVE_VIEW_PROHIBIT_PROP,
        names=("liveviewprohibit", "live-view-prohibit-condition"),
        label="live view prohibit condition",
    ),
    PropertySpec(
        code=AF_MODE_LIVE_VIEW_PROP, names=("liveviewaf", "liveviewafmode"), label="live view AF"
    ),
)


def _lookup(table: dict[int, str], text: str) -> int | None:
    wanted = " ".join(text.strip().lower().split())
    return next((code for code, name in table.items() if name.lower() == wanted), None)


# -- events ----------------------------------------------------------------------------------------


class NikonEventPoller(ExtensionPoller):
    """GetEvent (or GetEventEx) on the camera's poller thread."""

    fast_s, step_s, idle_s, trouble_s = POLL_FAST_S, POLL_STEP_S, POLL_IDLE_S, POLL_TROUBLE_S
    what = "Nikon GetEvent data"

    def __init__(self, extension: NikonExtension) -> None:
        super().__init__(extension, extension.poll_events)


@dataclass
class _CaptureWatch:
    """What a capture waits for, fed by every decoded batch whoever polled it: the new
    object(s) and the end of the capture. These events are the capture's answer (returned in
    CaptureOutcome.events), not queued again for the program."""

    objects: list[CapturedObject] = field(default_factory=list)
    answer: list[AnswerEvent] = field(default_factory=list)
    complete: bool = False

    def feed(self, events: Sequence[NikonEvent]) -> set[int]:
        claimed: set[int] = set()
        for index, event in enumerate(events):
            if len(self.answer) >= _CAPTURE_RECORD_LIMIT:
                break
            param = event.params[0] if event.params else 0
            if event.code == OBJECT_ADDED_IN_SDRAM:
                handle = param or SDRAM_HANDLE  # 0 means 0xFFFF0001 (library.c)
                self.objects.append(CapturedObject(handle=handle, in_memory=True))
            elif event.code == Ec.OBJECT_ADDED:
                self.objects.append(CapturedObject(handle=param))
            elif event.code in (Ec.CAPTURE_COMPLETE, CAPTURE_COMPLETE_REC_IN_SDRAM):
                self.complete = True
            else:
                continue
            claimed.add(index)
            self.answer.append(AnswerEvent(code=event.code, params=event.params, details=event))
        return claimed


# -- live view -------------------------------------------------------------------------------------


class NikonLiveView:
    """Live-view frames (vendors.md 2.4; library.c camera_capture_preview)."""

    def __init__(self, extension: NikonExtension, *, timeout_s: float = 10.0) -> None:
        self.extension = extension
        self.timeout_s = timeout_s
        #: The header size this body sends (learnt from the first frame).
        self.header_bytes: int | None = None
        self._without_picture = 0
        #: The last frame's header fields (the 384-byte header's live-view and image sizes:
        #: the zoom), for LiveFrame.side_data.
        self.side_data: dict[str, object] = {}

    def start(self) -> None:
        ext = self.extension
        if ext.has_property(LIVE_VIEW_PROHIBIT_PROP):
            condition = ext.read_u32_property(LIVE_VIEW_PROHIBIT_PROP)
            if condition is not None and nikon.refusing_bits(condition):
                raise NikonLiveViewRefused(INVALID_STATUS, nikon.prohibit_reasons(condition),
                                           name="LiveViewProhibitCondition")  # fmt: skip
        if ext.has_property(RECORDING_MEDIA_PROP):
            # libgphoto2 sets SDRAM before live view (library.c); a body refusing it still
            # shows live view.
            with contextlib.suppress(ResponseError):
                ext.set_u8_property(RECORDING_MEDIA_PROP, MEDIA_SDRAM)
        self._start_once()

    def _start_once(self) -> None:
        ext = self.extension
        deadline = ext.session.clock.monotonic() + self.timeout_s
        # Only busy is asked again: InvalidStatus here is a refusal (its reasons in 0xD1A4).
        reply = ext.retry_busy(START_LIVE_VIEW, (), deadline, retry_on=(Rc.DEVICE_BUSY,))
        if reply.code not in (Rc.OK,):
            condition = None
            if ext.has_property(LIVE_VIEW_PROHIBIT_PROP):
                with contextlib.suppress(PTPError):
                    condition = ext.read_u32_property(LIVE_VIEW_PROHIBIT_PROP)
            reasons = nikon.prohibit_reasons(condition or 0)
            raise NikonLiveViewRefused(reply.code, reasons,
                                       name=ext.response_name(reply.code))  # fmt: skip
        ext.wait_ready(deadline=deadline)

    def frame(self) -> bytes | None:
        ext = self.extension
        for attempt in range(_LIVE_VIEW_RESTARTS + 1):
            reply = ext.session.run(GET_LIVE_VIEW_IMG, check=False)
            if reply.code in (Rc.DEVICE_BUSY, INVALID_STATUS):
                return None  # no frame yet (Nikon 1: 0xA004 with an empty data phase)
            if reply.code == NOT_LIVE_VIEW and attempt < _LIVE_VIEW_RESTARTS:
                log.info("%s: live view stopped; starting it again", ext.session.label)
                self._start_once()
                continue
            if reply.code != Rc.OK:
                ext.raise_for(reply.code, GET_LIVE_VIEW_IMG, "GetLiveViewImg")
            try:
                decoded = nikon.decode_live_view(reply.data, self.header_bytes)
            except DecodeError:
                # A frame without a picture (the first one after start on an S9700, an empty
                # one on a Nikon 1: library.c skips them); many in a row is a broken camera.
                self._without_picture += 1
                if self._without_picture >= _FRAMES_WITHOUT_PICTURE:
                    raise
                return None
            self._without_picture = 0
            self.header_bytes = len(decoded.header)
            fields = {
                "live_view_width": decoded.width,
                "live_view_height": decoded.height,
                "image_width": decoded.image_width,
                "image_height": decoded.image_height,
            }
            self.side_data = {name: value for name, value in fields.items() if value}
            return decoded.jpeg
        return None

    def stop(self) -> None:
        reply = self.extension.session.run(END_LIVE_VIEW, check=False)
        if reply.code not in (Rc.OK, NOT_LIVE_VIEW):
            log.info("%s: EndLiveView answered 0x%04X", self.extension.session.label, reply.code)


# -- the extension ---------------------------------------------------------------------------------


class NikonCapturePlan:
    """A Nikon capture (library.c camera_nikon_capture) cut at the release: before it, the
    events from before the shot read (they go to the event stream, not to this capture), the
    camera waited for until ready (DeviceReady), where the picture goes and whether to focus
    first read; the release is InitiateCaptureRecInMedia (autofocus or not, SDRAM or card) or
    InitiateCaptureRecInSdram. After it: asked again while the camera answers busy (library.c:
    up to 200 times), DeviceReady, then events until ObjectAdded and CaptureComplete."""

    def __init__(self, extension: NikonExtension, code: int, timeout_s: float) -> None:
        self.extension = extension
        self.code = code
        self.name = (
            "InitiateCaptureRecInMedia"
            if code == INITIATE_CAPTURE_REC_IN_MEDIA
            else "InitiateCaptureRecInSdram"
        )
        self.params: tuple[int, ...] = (NO_AF,)
        self.timeout_s = timeout_s
        self._stack = contextlib.ExitStack()
        self._watch = _CaptureWatch()

    def _remaining(self, deadline: float) -> float:
        left = deadline - self.extension.session.clock.monotonic()
        if left <= 0:
            raise TransportTimeout(
                f"the camera did not report the capture within {self.timeout_s:g} s"
            )
        return left

    def prepare(self, deadline: float) -> Step:
        ext = self.extension
        if self.code == INITIATE_CAPTURE_REC_IN_MEDIA:
            to_sdram = ext._to_sdram()
            autofocus = ext.autofocus and not ext._in_live_view()
            self.params = (AF_FIRST if autofocus else NO_AF,
                           MEDIA_SDRAM if to_sdram else MEDIA_CARD)  # fmt: skip
        if ext.event_poller_supported():
            ext.poll_events(timeout_s=self._remaining(deadline))
        ext.wait_ready(deadline=deadline)
        self._watch = self._stack.enter_context(ext._watching())
        return Step(code=self.code, params=self.params)

    def abandon(self, *, sent: bool) -> None:
        self._stack.close()

    def finish(self, reply: Reply, deadline: float) -> CaptureOutcome:
        ext = self.extension
        clock = ext.session.clock
        watch = self._watch
        try:
            if reply.code in _CAPTURE_RETRY_CODES:
                clock.sleep(min(0.002, max(0.0, deadline - clock.monotonic())))
                reply = ext.retry_busy(self.code, self.params, deadline)
            if reply.code != Rc.OK:
                ext.raise_for(reply.code, self.code, self.name)
            ext.wait_ready(deadline=deadline)
            quiet = 0
            while not (watch.objects and watch.complete):
                if watch.objects and quiet >= _QUIET_POLLS_AFTER_OBJECT:
                    break
                left = self._remaining(deadline)
                if not ext.event_poller_supported():
                    # Bodies without GetEvent (libgphoto2 turns it off on the V1, J1, S1) push
                    # their events: the transport's ObjectAdded / CaptureComplete.
                    if not ext._wait_pushed(watch, left):
                        break
                    continue
                count = ext.poll_events(timeout_s=left)
                if count == 0:
                    quiet += 1
                    clock.sleep(min(POLL_FAST_S, max(0.0, deadline - clock.monotonic())))
            return CaptureOutcome(objects=tuple(watch.objects), events=tuple(watch.answer))
        finally:
            self._stack.close()


class NikonExtension(LazyCodes):
    """Nikon behaviour (see the module's docstring)."""

    name = "nikon"
    codes_module = "nikon"
    properties = NIKON_PROPERTIES
    #: Focus before a capture (0x9207 p1 0xFFFFFFFE; never while live view is on: library.c).
    #: Off by default, as Debian's gphoto2 (its "autofocus" setting) and the seed's ptpip tool
    #: send 0xFFFFFFFF: a body that cannot focus would refuse the shot (OutOfFocus 0xA002).
    #: ``register(NikonExtension.with_options(autofocus=True), replace=True)`` turns it on.
    autofocus: bool = False

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        # Nikon PTP/IP bodies sometimes report the MTP vendor id: the manufacturer decides then
        # (library.c forces Nikon on "Nikon" in the manufacturer). The registry's stand-in
        # (ptpkit.ext.vendors) asks the same function before this module is imported.
        return is_nikon(info)

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.closing = False
        self._vendor_props: tuple[int, ...] | None = None
        self._watch_lock = threading.Lock()
        self._watches: list[_CaptureWatch] = []

    # -- helpers ---------------------------------------------------------------------------------

    def supports(self, code: int) -> bool:
        return code in self.session.device_info.operations_supported

    def has_property(self, code: int) -> bool:
        return code in self._all_property_codes()

    def response_name(self, code: int) -> str:
        """The response code's name: Nikon's (codes/nikon.py) or the standard one."""
        return Vocabulary([STANDARD_CODES, *self.code_sets]).response_name(code)

    def raise_for(self, code: int, operation: int, operation_name: str) -> None:
        cls = RESPONSE_ERRORS.get(code) or response_error_class(code)
        raise cls(
            code, name=self.response_name(code), operation=operation, operation_name=operation_name
        )

    def read_u32_property(self, code: int) -> int | None:
        reply = self.session.run(GET_DEVICE_PROP_VALUE, (code,))
        data = reply.data
        return int.from_bytes(data[:4], "little") if data else None

    def read_u8_property(self, code: int) -> int | None:
        reply = self.session.run(GET_DEVICE_PROP_VALUE, (code,))
        return reply.data[0] if reply.data else None

    def set_u8_property(self, code: int, value: int) -> None:
        self.session.run(SET_DEVICE_PROP_VALUE, (code,), data=bytes((value,)))

    # -- session ---------------------------------------------------------------------------------

    def open_session(self) -> None:
        self.closing = False

    def close_session(self) -> None:
        self.closing = True

    def response_error(self, code: int) -> type[ResponseError] | None:
        return RESPONSE_ERRORS.get(code)

    # -- events ----------------------------------------------------------------------------------

    def event_poller(self) -> NikonEventPoller | None:
        if not (self.supports(GET_EVENT) or self.supports(GET_EVENT_EX)):
            return None
        return NikonEventPoller(self)

    def poll_events(self, *, timeout_s: float | None = None, wait_turn: bool = True) -> int:
        """One GetEventEx (where listed: libgphoto2 prefers it) or GetEvent; every event to the
        captures waiting for it or the event stream. The number of events."""
        if self.supports(GET_EVENT_EX):
            reply = self.session.run(GET_EVENT_EX, timeout_s=timeout_s, wait_turn=wait_turn)
            events = nikon.decode_get_event_ex(reply.data)
        else:
            reply = self.session.run(GET_EVENT, timeout_s=timeout_s, wait_turn=wait_turn)
            events = nikon.decode_get_event(reply.data)
        self.handle_events(events)
        return len(events)

    def handle_events(self, events: Sequence[NikonEvent]) -> None:
        with self._watch_lock:
            watches = list(self._watches)
        claimed: set[int] = set()
        for watch in watches:
            claimed |= watch.feed(events)
        for index, event in enumerate(events):
            if index not in claimed:
                self._emit(event)

    def _emit(self, event: NikonEvent) -> None:
        param = event.params[0] if event.params else 0
        if event.code == OBJECT_ADDED_IN_SDRAM:
            # A picture in the camera's memory (a shot taken on the body with the computer as
            # target): the standard ObjectAdded with the object described, for `tether`.
            self.session.emit(event.code, event.params, details=event)
            handle = param or SDRAM_HANDLE
            self.session.emit(
                Ec.OBJECT_ADDED, (handle,), details=CapturedObject(handle=handle, in_memory=True)
            )
            return
        self.session.emit(event.code, event.params, details=event)

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

    # -- readiness -------------------------------------------------------------------------------

    def wait_ready(self, *, deadline: float) -> None:
        """DeviceReady until OK (or Silent_Release_Busy, which "will repeat forever":
        library.c nikon_wait_busy), backing off from 10 ms to 200 ms; TransportTimeout when the
        camera is still busy at ``deadline`` (a monotonic time of the session's clock)."""
        if not self.supports(DEVICE_READY):
            return
        clock = self.session.clock
        delay = READY_FIRST_S
        asked = False
        while True:
            left = deadline - clock.monotonic()
            # After a busy answer, a sliver of time left is no time for another: still busy.
            if left <= 0 or (asked and left < LAST_ATTEMPT_MIN_S):
                raise TransportTimeout("the camera stayed busy (DeviceReady) past the deadline")
            reply = self.session.run(DEVICE_READY, check=False, timeout_s=left)
            if reply.code in (Rc.OK, SILENT_RELEASE_BUSY):
                return
            if reply.code not in (Rc.DEVICE_BUSY, BULB_RELEASE_BUSY):
                self.raise_for(reply.code, DEVICE_READY, "DeviceReady")
            left = deadline - clock.monotonic()
            if left <= 0:
                raise TransportTimeout("the camera stayed busy (DeviceReady) past the deadline")
            clock.sleep(min(delay, left))
            asked = True
            delay = min(delay * 2, READY_MAX_S)

    def retry_busy(
        self,
        code: int,
        params: Sequence[int],
        deadline: float,
        retry_on: Collection[int] = _CAPTURE_RETRY_CODES,
    ) -> Reply:
        """``code`` asked again while the camera answers one of ``retry_on`` (library.c: up to
        200 times), within ``deadline``; the last answer (unchecked)."""
        clock = self.session.clock
        delay = 0.002  # library.c waits 2 ms between attempts
        reply = None
        for _ in range(CAPTURE_ATTEMPTS):
            left = deadline - clock.monotonic()
            if left <= 0 or (reply is not None and left < LAST_ATTEMPT_MIN_S):
                # A sliver of time left after a busy answer: that answer stands (the caller
                # names it), rather than an attempt that could only time out.
                break
            reply = self.session.run(code, params, check=False, timeout_s=left)
            if reply.code not in retry_on:
                return reply
            clock.sleep(min(delay, max(0.0, deadline - clock.monotonic())))
            delay = min(delay * 2, READY_MAX_S)
        if reply is None:
            raise TransportTimeout(f"no time left to ask 0x{code:04X}")
        return reply

    # -- capture ---------------------------------------------------------------------------------

    def _to_sdram(self) -> bool:
        """Where the picture goes: RecordingMedia 0xD10B where the camera has it (1 = SDRAM),
        else the computer (0x90C0 captures only to SDRAM)."""
        if self.has_property(RECORDING_MEDIA_PROP):
            with contextlib.suppress(ResponseError):
                return self.read_u8_property(RECORDING_MEDIA_PROP) != MEDIA_CARD
        return True

    def _in_live_view(self) -> bool:
        if not self.has_property(LIVE_VIEW_STATUS_PROP):
            return False
        with contextlib.suppress(ResponseError):
            return self.read_u8_property(LIVE_VIEW_STATUS_PROP) == 1
        return False

    def capture_plan(self, *, timeout_s: float) -> NikonCapturePlan | None:
        """Shoot the Nikon way (library.c camera_nikon_capture) and wait for the picture's
        events, as a plan cut at InitiateCaptureRecInMedia / InitiateCaptureRecInSdram
        (:class:`NikonCapturePlan`)."""
        if self.supports(INITIATE_CAPTURE_REC_IN_MEDIA):
            return NikonCapturePlan(self, INITIATE_CAPTURE_REC_IN_MEDIA, timeout_s)
        if self.supports(INITIATE_CAPTURE_REC_IN_SDRAM):
            return NikonCapturePlan(self, INITIATE_CAPTURE_REC_IN_SDRAM, timeout_s)
        return None

    def _wait_pushed(self, watch: _CaptureWatch, timeout_s: float) -> bool:
        """One pushed event for the capture (fed to ``watch``); False when none came in
        ``timeout_s`` after the object did (the capture is answered then)."""
        wanted = (Ec.OBJECT_ADDED, OBJECT_ADDED_IN_SDRAM, Ec.CAPTURE_COMPLETE,
                  CAPTURE_COMPLETE_REC_IN_SDRAM)  # fmt: skip
        try:
            event = self.session.wait_event(
                wanted, min(timeout_s, POLL_IDLE_S) if watch.objects else timeout_s
            )
        except TransportTimeout:
            if watch.objects:
                return False
            raise TransportTimeout("the camera did not report the capture in time") from None
        watch.feed([NikonEvent(code=event.code, params=event.params)])
        return True

    def event_poller_supported(self) -> bool:
        return self.supports(GET_EVENT) or self.supports(GET_EVENT_EX)

    def after_download(self, captured: CapturedObject) -> None:
        """A picture in SDRAM was read: delete it, as libgphoto2 does after its download (a full
        SDRAM buffer keeps a body busy)."""
        if not captured.in_memory:
            return
        reply = self.session.run(DELETE_OBJECT, (captured.handle, 0), check=False)
        if reply.code != Rc.OK:
            log.debug("%s: deleting SDRAM object 0x%08X answered 0x%04X",
                      self.session.label, captured.handle, reply.code)  # fmt: skip

    # -- properties ------------------------------------------------------------------------------

    def property_codes(self) -> Collection[int] | None:
        return self._all_property_codes()

    def _all_property_codes(self) -> tuple[int, ...]:
        """DeviceInfo's properties and the vendor ones GetVendorPropCodes lists (libgphoto2
        merges them the same way: library.c)."""
        if self._vendor_props is None:
            vendor: tuple[int, ...] = ()
            if self.supports(GET_VENDOR_PROP_CODES):
                try:
                    reply = self.session.run(GET_VENDOR_PROP_CODES)
                    vendor = _uint16_array(reply.data)
                except (ResponseError, DecodeError) as exc:
                    log.info("%s: GetVendorPropCodes failed: %s", self.session.label, exc)
            self._vendor_props = vendor
        listed = tuple(self.session.device_info.device_properties_supported)
        return listed + tuple(code for code in self._vendor_props if code not in listed)

    def format_value(self, code: int, value: Value) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        if code == SHUTTER_PROP:
            return nikon.format_shutter(value)
        if code == LIVE_VIEW_PROHIBIT_PROP:
            reasons = nikon.prohibit_reasons(value)
            return "; ".join(reasons) if reasons else "none"
        table = _TABLES.get(code)
        if table is not None and value in table:
            return table[value]
        return None

    def parse_value(self, code: int, text: str, allowed: Sequence[Value] | None) -> Value | None:
        if code == SHUTTER_PROP:
            try:
                value = nikon.parse_shutter(text)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        else:
            table = _TABLES.get(code)
            found = None if table is None else _lookup(table, text)
            if found is None:
                return None  # not a Nikon name: the standard spec reads it
            value = found
        if allowed is not None and value not in allowed:
            shown = ", ".join(self.format_value(code, v) or str(v) for v in allowed)
            raise UsageError(f"{text!r} is not allowed now (allowed: {shown})")
        return value

    # -- objects ---------------------------------------------------------------------------------

    def object_size(self, handle: int, info: ObjectInfo) -> int | None:
        """Past 4 GiB ObjectInfo says 0xFFFFFFFF: GetObjectSize 0x9421 gives the u64."""
        if info.compressed_size != _U32_MAX or not self.supports(GET_OBJECT_SIZE):
            return None
        return nikon.decode_object_size(self.session.run(GET_OBJECT_SIZE, (handle,)).data)

    def reads_from(self, offset: int) -> bool:
        return offset > _U32_MAX and self.supports(GET_PARTIAL_OBJECT_EX)

    def read_object(self, handle: int, offset: int, length: int, sink: DataSink) -> bool:
        """What a 32-bit GetPartialObject cannot reach, with GetPartialObjectEx 0x9431
        (handle, offset low, offset high, max low, max high; the bytes sent as r1 + r2 << 32:
        ptp.c), one sink across the pieces."""
        if offset + length <= _U32_MAX or not self.supports(GET_PARTIAL_OBJECT_EX):
            return False
        end = offset + length
        while offset < end:
            step = min(end - offset, READ_STEP_BYTES)
            reply = self.session.run(
                GET_PARTIAL_OBJECT_EX,
                (handle, offset & _U32_MAX, offset >> 32, step & _U32_MAX, step >> 32),
                sink=sink,
            )
            sent = reply.params[0] | (reply.params[1] << 32 if len(reply.params) > 1 else 0)
            offset += checked_read_count((sent,) if reply.params else (), step, offset)
        return True

    # -- half press ------------------------------------------------------------------------------

    def half_press(self) -> HalfPress | None:
        # libgphoto2 config.c _put_Nikon_AFDrive: AfDrive 0x90C1, then nikon_wait_busy: the
        # body answers DeviceBusy until it has focused, which the next operation's busy retries
        # wait out. Nothing to let go of: the body ends the drive by itself.
        return HalfPress(name="AfDrive", press=Step(code=AF_DRIVE))

    # -- live view -------------------------------------------------------------------------------

    def live_view(self) -> FrameSource | None:
        if not (self.supports(START_LIVE_VIEW) and self.supports(GET_LIVE_VIEW_IMG)):
            return None
        return NikonLiveView(self)


def _uint16_array(data: bytes) -> tuple[int, ...]:
    return Reader(data, what="Nikon GetVendorPropCodes").uint16_array()


__all__ = [
    "NIKON_PROPERTIES",
    "RESPONSE_ERRORS",
    "NikonEventPoller",
    "NikonExtension",
    "NikonLiveView",
    "NikonLiveViewRefused",
]
