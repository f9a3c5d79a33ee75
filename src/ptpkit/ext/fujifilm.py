"""Fujifilm, client side: the extension ``fuji`` (issue 13 section 2), over USB and over
Fujifilm's own PTP/IP variant (``fuji:HOST``).

Facts (vendors.md section 4; libgphoto2 ``camlibs/ptp2`` library.c, config.c, ptp.c; malc0mn/ptp-ip
``ip/packets_fuji.go``); wire codecs in :mod:`ptpkit.core.fuji_datasets`, value texts in
:mod:`ptpkit.codes.fuji_values`. One :class:`FujifilmExtension` per camera:

- **Session set-up over Wi-Fi** (ptp-ip ``FujiInitCommandDataConn``, library.c camera_init):
  after OpenSession, SetDevicePropValue InitSequence 0xDF01 = u16 5 (the camera may ask its user
  to accept this computer here), GetDevicePropValue AppVersion 0xDF24 and Set it back to the same
  bytes, InitiateOpenCapture 0x101C(0, 0); then the event connection (55741) is opened through
  the transport's side channels. **Over USB** (config.c, vendors.md 4.2): before the first
  tethered capture or live view, 0xD38C = u16 1 ("PC mode") and PriorityMode 0xD207 = u16 2
  ("USB control"); a body without a tether mode refuses them (:class:`FujiTetherUnsupported`).
- **Properties**: Fujifilm's GetDeviceInfo 0x902B (every property's description at once) and the
  CurrentState list 0xD212 (the current value of the properties that matter now) fill a cache;
  describe/get take the description from it and read the value now (GetDevicePropValue: a change
  the body pushed is not in the cache yet); a property only 0xD212 reports is described by
  GetDevicePropDesc, or from its type in ptp-ip's X-T1 dumps when the body answers that empty
  (Wi-Fi). Set is SetDevicePropValue and updates the cache.
- **A synthesised DeviceInfo** where the body answers an empty one (an X-T4 over Wi-Fi;
  landscape.md 1.4): Fujifilm's operations, the events of its capture, the properties 0x902B and
  0xD212 named.
- **Events**: a poller on 0xD212; a property whose value changed is a DevicePropChanged event
  (libgphoto2's ``ptp_check_event`` does the same for Fujifilm), with the code and the new value.
  The capture's own events (0xC004 ObjectAdded, 0xC001 PreviewAvailable, 0x400D CaptureComplete)
  come pushed: on the event connection over Wi-Fi, the interrupt endpoint over USB.
- **Capture** (ptp-ip ``FujiInitiateCapture``): the shutter action 0xD208 set to Shoot where the
  body lists it (library.c camera_fuji_capture), InitiateCapture 0x100E, then 0xC004 and 0xC001
  (param 2: the preview's size), then GetCapturePreview 0x9022, then 0x400D. Without the preview
  fetched the camera takes further InitiateCapture requests and never fires again, so a preview
  still owed from an earlier capture (one that timed out) is fetched before the next shot. The
  new objects: handles named by a standard ObjectAdded, else those GetObjectHandles lists now and
  did not before (Fujifilm's 0xC004 names no handle).
- **Half press** (config.c _put_Fuji_AFDrive), as data for the shared plan runner
  (:mod:`ptpkit.ext.plans`): 0xD208 = 0x9300 and InitiateCapture, the AF status 0xD209 polled
  while 1 (3: FocusError), 0xD208 = 0x0005 and InitiateCapture to let go.
- **Live view**: over Wi-Fi the 55742 connection's frames (u32 length, 14-byte header, JPEG);
  elsewhere GetObjectInfo + GetObject of handle 0x80000001 (InvalidObjectHandle: again in 5 ms,
  DeviceBusy: in 1 ms, within the frame's deadline; library.c:3915-3990).
- **Downloads**: never resumed with GetPartialObject (libgphoto2#653: Fujifilm's is broken).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Final, Protocol, runtime_checkable

from ptpkit.codes import VendorId
from ptpkit.codes import fuji_values as values
from ptpkit.codes.common import Ec, Op, Rc
from ptpkit.codes.properties import PropertySpec
from ptpkit.core.datasets import (
    DeviceInfo,
    DevicePropDesc,
    GetSet,
    ObjectInfo,
    decode_value,
    encode_value,
)
from ptpkit.core.datatypes import DataType, Value
from ptpkit.core.fuji_datasets import StateEntry, decode_prop_desc_list, decode_state_list
from ptpkit.errors import (
    BusyError,
    ConnectError,
    ConnectTimeout,
    DecodeError,
    FocusError,
    PTPError,
    ResponseError,
    TransportTimeout,
    UsageError,
)
from ptpkit.ext.base import (
    AnswerEvent,
    CapturedObject,
    CaptureOutcome,
    FrameSource,
    HalfPress,
    Session,
    SetProperty,
    SideChannels,
    Step,
    Steps,
    WaitProperty,
)
from ptpkit.ext.lazy import LazyCodes
from ptpkit.ext.matching import is_fujifilm
from ptpkit.ext.polling import ExtensionPoller, adaptive_interval

log = logging.getLogger("ptpkit.ext.fujifilm")


@runtime_checkable
class _PairingLink(Protocol):
    """A link with a wait for its user's accept (ptpkit.transports.fujiptpip's transport):
    ``--pairing-timeout`` / ``pairing_timeout_s``, and what to call (once) when that wait goes
    on (the command line's "waiting for the camera to accept this computer...")."""

    pairing_timeout_s: float
    on_pairing_wait: Callable[[float], None] | None


#: Seconds InitSequence may take before the user is told the camera may be asking them (as
#: the PTP/IP handshake's notice, ptpkit.transports.ptpip PAIRING_NOTICE_S).
ACCEPT_NOTICE_S: Final = 1.0

# -- codes (libgphoto2 ptp.h; names in codes/fuji.py) ------------------------------------------

GET_CAPTURE_PREVIEW: Final = 0x9022
FUJI_GET_DEVICE_INFO: Final = 0x902B
INITIATE_OPEN_CAPTURE: Final = 0x101C
EC_PREVIEW_AVAILABLE: Final = 0xC001
EC_FUJI_OBJECT_ADDED: Final = 0xC004
#: The live-view picture's handle over USB (library.c).
LIVE_VIEW_HANDLE: Final = 0x80000001

#: ptp-ip PM_Fuji_InitSequence: "0x5 hits the sweet spot" on an X-T1 (3 accepted but unfinished,
#: 4 not accepted).
INIT_SEQUENCE_VALUE: Final = 5
#: config.c: 0xD38C = 1 "PC mode", PriorityMode 0xD207 = 2 "USB control".
PC_MODE_VALUE: Final = 1
USB_PRIORITY_VALUE: Final = 2

#: The shutter action 0xD208: what the next InitiateCapture does (libgphoto2 uses it by number,
#: config.c "fuji_action" and its comment; ptp.h has no name for it). A body starts at Shoot.
SHUTTER_ACTION: Final = 0xD208
#: config.c: 0x0304 SDK_ShootS2toS0, the shot (press fully and let go: the button ends up
#: released); library.c camera_fuji_capture sets it before every shot.
ACTION_SHOOT: Final = 0x0304
#: config.c _put_Fuji_AFDrive: 0x9300 focuses only ("seen in fuji webcam traces: 0x9300 -> wait
#: for d209 turn from 1 to 2 -> 0x0005"), 0x0005 (with an InitiateCapture) releases the focus
#: lock.
ACTION_AF_DRIVE: Final = 0x9300
ACTION_RELEASE_FOCUS: Final = 0x0005
#: The AF status 0xD209 (ptp.h PTP_DPC_FUJI_AFStatus; the Go tool's FocusLock): libgphoto2
#: polls it while 1 (focusing); 2 "means OK apparently", 3 "means failed and initiatecapture
#: will get busy" (config.c _put_Fuji_AFDrive, library.c camera_fuji_capture).
AF_STATUS: Final = values.FOCUS_LOCK
AF_FOCUSING: Final = 1
AF_FAILED: Final = 3
#: The most a half press waits for focus (libgphoto2 polls without a bound), and how often
#: it reads the AF status meanwhile (libgphoto2 reads it back to back).
FOCUS_TIMEOUT_S: Final = 10.0
FOCUS_POLL_S: Final = 0.05

#: 0xD212 poll intervals: fast while values change, slower when idle (the Go tool polls the
#: state once a second for its viewfinder; a capture or a waiting program gets the fast one).
POLL_FAST_S: Final = 0.1
POLL_STEP_S: Final = 0.1
POLL_IDLE_S: Final = 1.0
POLL_TROUBLE_S: Final = 2.0
#: Live view over USB: the waits after InvalidObjectHandle and DeviceBusy (library.c).
LIVE_VIEW_NOT_READY_S: Final = 0.005
LIVE_VIEW_BUSY_S: Final = 0.001
#: How long one live-view frame may take before frame() answers None.
LIVE_VIEW_FRAME_TIMEOUT_S: Final = 2.0
#: library.c tries InitiateOpenCapture up to five times before USB live view.
OPEN_CAPTURE_TRIES: Final = 5

#: The operations a Fujifilm body answers over Wi-Fi, for a synthesised DeviceInfo (ISO 15740
#: ones libgphoto2 uses on it, and Fujifilm's own from ptp.h).
_SYNTH_OPERATIONS: Final = (
    Op.GET_DEVICE_INFO, Op.OPEN_SESSION, Op.CLOSE_SESSION, Op.GET_STORAGE_IDS,
    Op.GET_STORAGE_INFO, Op.GET_NUM_OBJECTS, Op.GET_OBJECT_HANDLES, Op.GET_OBJECT_INFO,
    Op.GET_OBJECT, Op.GET_THUMB, Op.DELETE_OBJECT, Op.INITIATE_CAPTURE,
    Op.GET_DEVICE_PROP_DESC, Op.GET_DEVICE_PROP_VALUE, Op.SET_DEVICE_PROP_VALUE,
    INITIATE_OPEN_CAPTURE, 0x1018, GET_CAPTURE_PREVIEW, FUJI_GET_DEVICE_INFO,
)  # fmt: skip
_SYNTH_EVENTS: Final = (
    Ec.OBJECT_ADDED, Ec.DEVICE_PROP_CHANGED, Ec.CAPTURE_COMPLETE,
    EC_PREVIEW_AVAILABLE, EC_FUJI_OBJECT_ADDED,
)  # fmt: skip
#: Properties a Fujifilm body has whatever 0x902B lists (the session set-up's and the state's).
_SYNTH_PROPERTIES: Final = (values.CURRENT_STATE, values.INIT_SEQUENCE, values.APP_VERSION)

_U32_MAX: Final = 0xFFFFFFFF

#: The types of the properties 0xD212 reports, for those 0x902B does not describe: the size of
#: their GetDevicePropValue answers in ptp-ip's X-T1 dumps (docs/fuji_x-t1_known-properties.md:
#: 1 byte for BatteryLevel, 2 for the enumerations, 4 for ISO, focus point, shutter, counts;
#: FocusLock and Fujifilm's BatteryLevel are not dumped: 2 assumed) and the 0x902B types
#: of the seed's dump (ExposureBiasCompensation INT16).
_STATE_DATATYPES: Final[dict[int, DataType]] = {
    0x5001: DataType.UINT8, 0x5005: DataType.UINT16, 0x500A: DataType.UINT16,
    0x500C: DataType.UINT16, 0x500E: DataType.UINT16, 0x5010: DataType.INT16,
    0x5012: DataType.UINT16, values.FILM_SIMULATION: DataType.UINT16,
    values.IMAGE_QUALITY: DataType.UINT16, values.REC_MODE: DataType.UINT16,
    values.COMMAND_DIAL_MODE: DataType.UINT16, values.ISO: DataType.UINT32,
    values.MOVIE_ISO: DataType.UINT32, values.FOCUS_POINT: DataType.UINT32,
    values.FOCUS_LOCK: DataType.UINT16, values.DEVICE_ERROR: DataType.UINT16,
    values.CAPTURE_REMAINING: DataType.UINT32, values.MOVIE_REMAINING_TIME: DataType.UINT32,
    values.SHUTTER_SPEED: DataType.UINT32, values.IMAGE_SIZE: DataType.UINT16,
    values.BATTERY_LEVEL: DataType.UINT16,
}  # fmt: skip
#: Of those, what the body reports and does not take.
_READ_ONLY: Final = frozenset(
    {0x5001, values.BATTERY_LEVEL, values.FOCUS_LOCK, values.DEVICE_ERROR,
     values.CAPTURE_REMAINING, values.MOVIE_REMAINING_TIME}
)  # fmt: skip


class FujiRemoteRefused(ConnectError):
    """The body refused to be driven from this computer at the session set-up (InitSequence,
    AppVersion or InitiateOpenCapture answered an error)."""


class FujiTetherUnsupported(ResponseError):
    """The body refused USB tethering (PC mode 0xD38C / PriorityMode 0xD207): bodies without a
    tether mode do (X-T30, X-E3, X100VI: libgphoto2#509, #484, #964)."""


#: Friendly names: the Go tool's unified names among them ("iso", "effect", "focusmtr",
#: "recmode": ptp-ip fmt.FujiPropToDevicePropCode), gphoto2-like ones, a ``fuji-`` form first where
#: a standard property has the same name (the camera's own list then picks: client/properties.py).
FUJI_PROPERTIES: Final = tuple(
    PropertySpec(code=code, names=names, label=label)
    for code, names, label in (
        (values.FILM_SIMULATION, ("film-simulation", "filmsimulation", "film", "effect"),
         "film simulation"),
        (values.ISO, ("fuji-iso", "iso", "exposure-index", "sensitivity"), "ISO"),
        (values.MOVIE_ISO, ("movie-iso",), "movie ISO"),
        (values.SHUTTER_SPEED, ("fuji-shutter", "shutterspeed", "shutter-speed", "shutter",
                                "exposure"), "shutter speed"),
        (values.IMAGE_QUALITY, ("fuji-quality", "imagequality", "image-quality", "quality"),
         "image quality"),
        (values.IMAGE_SIZE, ("fuji-image-size", "imagesize", "image-size",
                             "image-aspect-ratio"), "image size"),
        (values.BATTERY_LEVEL, ("fuji-battery", "battery", "battery-level", "batterylevel"),
         "battery level"),
        (values.REC_MODE, ("recmode", "rec-mode"), "rec mode"),
        (values.COMMAND_DIAL_MODE, ("command-dial", "command-dial-mode"), "command dial mode"),
        (values.FOCUS_POINT, ("focus-point", "focuspoint", "focusmtr"), "focus point"),
        (values.FOCUS_LOCK, ("focus-lock", "af-status"), "focus lock"),
        (values.DEVICE_ERROR, ("device-error",), "device error"),
        (values.CAPTURE_REMAINING, ("capture-remaining", "image-space-sd", "shots-left"),
         "image space SD"),
        (values.MOVIE_REMAINING_TIME, ("movie-remaining-time",), "movie remaining time"),
        # vendors.md section 4 (ptp-ip's names): ptp.h calls 0xD222 "SensitivityFineTune1 ????".
        (values.CAMERA_STATE, ("camera-state",), "camera state"),
        (values.OBJECT_COUNT, ("object-count",), "object count"),
    )
)  # fmt: skip

#: Property codes whose value texts fuji_values gives even though they are standard.
_STANDARD_WITH_FUJI_VALUES: Final = frozenset(
    {values.STD_BATTERY_LEVEL, values.STD_WHITE_BALANCE, values.STD_FOCUS_MODE,
     values.STD_FLASH_MODE, values.STD_CAPTURE_DELAY, values.STD_EXPOSURE_TIME}
)  # fmt: skip


def next_interval(previous_s: float, changed: int) -> float:
    """Fast while values change; one step slower per quiet poll, up to the idle bound."""
    return adaptive_interval(
        previous_s, changed, fast_s=POLL_FAST_S, step_s=POLL_STEP_S, idle_s=POLL_IDLE_S
    )


def _as_datatype(value: int, datatype: DataType) -> Value:
    """A 0xD212 value (always 32 bits on the wire) as a value of the property's type."""
    raw = (value & _U32_MAX).to_bytes(4, "little")
    size = {DataType.INT8: 1, DataType.UINT8: 1, DataType.INT16: 2, DataType.UINT16: 2}.get(
        datatype, 4
    )
    try:
        return decode_value(raw[:size], datatype)
    except (PTPError, ValueError):
        return value


class FujiStatePoller(ExtensionPoller):
    """GetDevicePropValue(0xD212) on the camera's poller thread."""

    fast_s, step_s, idle_s, trouble_s = POLL_FAST_S, POLL_STEP_S, POLL_IDLE_S, POLL_TROUBLE_S
    what = "Fujifilm state list"

    def __init__(self, extension: FujifilmExtension) -> None:
        super().__init__(extension, extension.poll_state)


class FujiStreamLiveView:
    """Live view from the 55742 connection (Wi-Fi): one length-prefixed blob per frame, a
    14-byte header then the JPEG (vendors.md 4.1; core.fujiptpip.split_frame)."""

    def __init__(self, extension: FujifilmExtension, channels: SideChannels) -> None:
        self.extension = extension
        self.channels = channels

    def start(self) -> None:
        self.channels.open_stream(timeout_s=self.extension.live_view_frame_timeout_s)

    def frame(self) -> bytes | None:
        try:
            blob = self.channels.read_stream_frame(self.extension.live_view_frame_timeout_s)
        except TransportTimeout:
            return None
        # Loaded on use: a command that shows no live view does not load the variant's core.
        from ptpkit.core.fujiptpip import split_frame  # noqa: PLC0415

        _header, jpeg = split_frame(blob)
        return jpeg

    def stop(self) -> None:
        self.channels.close_stream()


class FujiHandleLiveView:
    """Live view over USB (library.c:3915-3990): InitiateOpenCapture once, then per frame
    GetObjectInfo + GetObject of handle 0x80000001, again after 5 ms while the picture is not
    there (InvalidObjectHandle) and after 1 ms while the camera is busy, within the frame's
    deadline (None when it passes)."""

    def __init__(self, extension: FujifilmExtension) -> None:
        self.extension = extension

    def start(self) -> None:
        self.extension.prepare_remote()
        self.extension.open_capture()

    def frame(self) -> bytes | None:
        ext = self.extension
        session = ext.session
        clock = session.clock
        deadline = clock.monotonic() + ext.live_view_frame_timeout_s
        while True:
            left = deadline - clock.monotonic()
            if left <= 0:
                return None
            info = session.run(Op.GET_OBJECT_INFO, (LIVE_VIEW_HANDLE,), check=False,
                               timeout_s=left)  # fmt: skip
            if info.code == Rc.OK:
                data = session.run(Op.GET_OBJECT, (LIVE_VIEW_HANDLE,), check=False,
                                   timeout_s=max(left, 0.001))  # fmt: skip
                if data.code == Rc.OK and data.data:
                    return data.data
                code = data.code
            else:
                code = info.code
            if code == Rc.INVALID_OBJECT_HANDLE:
                clock.sleep(min(LIVE_VIEW_NOT_READY_S, max(0.0, left)))
            elif code == Rc.DEVICE_BUSY:
                clock.sleep(min(LIVE_VIEW_BUSY_S, max(0.0, left)))
            elif code != Rc.OK:
                raise ResponseError(
                    code, operation=Op.GET_OBJECT_INFO, operation_name="live view (0x80000001)"
                )

    def stop(self) -> None:
        return  # the open capture stays: capture needs it too


class FujifilmExtension(LazyCodes):
    """Fujifilm behaviour (see the module's docstring)."""

    name = "fuji"
    codes_module = "fuji"
    properties = FUJI_PROPERTIES
    partial_reads = False

    #: InitSequence 0xDF01's value (ptp-ip; libgphoto2 sends the same).
    init_sequence: int = INIT_SEQUENCE_VALUE
    #: The AppVersion 0xDF24 ("remote version") to set; None: echo what the body reports
    #: (ptp-ip: "future proof"). The version a body wants depends on its model and firmware
    #: (petabyt/fudge: an X-T20 reports 0x00020004, an X-S10 0x0002000A, which Fujifilm's app
    #: answers with 0x0002000C): ``register(FujifilmExtension.with_options(app_version=...),
    #: replace=True)`` for a body that wants more than it reports.
    app_version: int | None = None
    #: Seconds a live-view frame may take.
    live_view_frame_timeout_s: float = LIVE_VIEW_FRAME_TIMEOUT_S
    #: Seconds InitSequence may take to be answered: the body may first ask its user to accept
    #: this computer (ptp-ip waits 30 s). None: the link's pairing wait (``--pairing-timeout``,
    #: the transport's ``pairing_timeout_s``, 60 s by default), as for a PTP/IP handshake.
    accept_timeout_s: float | None = None
    #: Seconds InitSequence may take before the link's notice runs (the user is told).
    accept_notice_s: float = ACCEPT_NOTICE_S
    #: Seconds the event and live-view connections may take to open.
    channel_timeout_s: float = 5.0

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return is_fujifilm(info)

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.closing = False
        self._lock = threading.Lock()
        #: The last 0xD212 list: values by code, in the camera's order.
        self.state: dict[int, int] = {}
        #: Descriptions from 0x902B (or a set), by code.
        self.descs: dict[int, DevicePropDesc] = {}
        #: 0xD212 answered at the start: the poller and ``state`` use it.
        self.has_state = False
        self._prepared = False
        self._capture_open = False
        #: A PreviewAvailable whose preview was not fetched yet (the camera waits for it).
        self.preview_owed = False
        #: The codes of the last 0xD212 answer, in its order.
        self._state_order: tuple[int, ...] = ()

    # -- helpers ---------------------------------------------------------------------------------

    @property
    def over_wifi(self) -> bool:
        """Fujifilm's PTP/IP variant, or a body that asks for its Wi-Fi set-up (InitSequence
        listed on a link that is not USB: the virtual camera in this process)."""
        kind = self.session.transport_kind
        if kind == "fujiptpip":
            return True
        info = self.session.device_info
        return kind != "usb" and values.INIT_SEQUENCE in info.device_properties_supported

    def supports(self, code: int) -> bool:
        return code in self.session.device_info.operations_supported

    def _set_value(self, code: int, datatype: DataType, value: Value) -> None:
        self.session.run(Op.SET_DEVICE_PROP_VALUE, (code,), data=encode_value(datatype, value))

    # -- the session -----------------------------------------------------------------------------

    def open_session(self) -> None:
        self.closing = False
        if self.over_wifi:
            self._wifi_set_up()
        self._read_descriptions()
        try:
            self.poll_state(emit=False)
            self.has_state = True
        except ResponseError as exc:
            log.debug("%s: no Fujifilm state list (0xD212): %s", self.session.label, exc)
        except DecodeError as exc:
            log.warning("%s: Fujifilm state list not understood: %s", self.session.label, exc)

    def _wifi_set_up(self) -> None:
        """ptp-ip FujiInitCommandDataConn steps 2-6, then the event connection."""
        run = self.session.run
        try:
            self._init_sequence()
            version = run(Op.GET_DEVICE_PROP_VALUE, (values.APP_VERSION,))
            # Echoed as the camera sent it (ptp-ip: "acknowledge it by setting it to the same").
            answer = version.data
            if self.app_version is not None:
                answer = encode_value(DataType.UINT32, self.app_version)
            run(Op.SET_DEVICE_PROP_VALUE, (values.APP_VERSION,), data=answer)
            run(INITIATE_OPEN_CAPTURE, (0, 0))
        except ResponseError as exc:
            raise FujiRemoteRefused(
                f"the camera refused remote control at the session set-up ({exc}): accept this "
                "computer on the camera if it asks, or choose 'retry' there, then connect again"
            ) from exc
        self._capture_open = True
        channels = self.session.side_channels
        if channels is not None:
            channels.open_event_channel(timeout_s=self.channel_timeout_s)

    def _init_sequence(self) -> None:
        """InitSequence 0xDF01. The camera may ask its user to accept this computer now
        (vendors.md 4.1 step 3; ptp-ip waits 30 s for the answer): this transaction gets the
        user's time, the link's pairing wait, not a transaction's; past accept_notice_s the
        link's notice says so (the command line's "waiting for the camera to accept...")."""
        link: object = self.session.side_channels  # the transport, when it has side channels
        pairing = link if isinstance(link, _PairingLink) else None
        timeout_s = self.accept_timeout_s
        if timeout_s is None:
            timeout_s = pairing.pairing_timeout_s if pairing is not None else 60.0
        notice = None
        if pairing is not None and pairing.on_pairing_wait is not None:
            notice = threading.Timer(self.accept_notice_s, pairing.on_pairing_wait, (timeout_s,))
            notice.daemon = True
            notice.start()
        try:
            self.session.run(
                Op.SET_DEVICE_PROP_VALUE,
                (values.INIT_SEQUENCE,),
                data=encode_value(DataType.UINT16, self.init_sequence),
                timeout_s=timeout_s,
            )
        except TransportTimeout as exc:
            raise ConnectTimeout(
                f"{self.session.label}: InitSequence unanswered within {timeout_s:g} s: the "
                "camera did not accept this computer. If it asks, accept it on the camera "
                "(more time: --pairing-timeout, or pairing_timeout_s)"
            ) from exc
        finally:
            if notice is not None:
                notice.cancel()

    def _read_descriptions(self) -> None:
        """Every property's description from 0x902B (on Wi-Fi, a GetDevicePropDesc asked
        before it may come back incomplete: the Go tool's README)."""
        if not (self.over_wifi or self.supports(FUJI_GET_DEVICE_INFO)):
            return
        try:
            reply = self.session.run(FUJI_GET_DEVICE_INFO)
            descs = decode_prop_desc_list(reply.data)
        except (ResponseError, DecodeError) as exc:
            log.debug("%s: Fujifilm GetDeviceInfo 0x902B: %s", self.session.label, exc)
            return
        with self._lock:
            self.descs.update({desc.code: desc for desc in descs})

    def close_session(self) -> None:
        self.closing = True
        channels = self.session.side_channels
        if channels is not None:
            with contextlib.suppress(PTPError, OSError):
                channels.close_stream()

    def synthesise_device_info(self, info: DeviceInfo) -> DeviceInfo | None:
        """libgphoto2 builds a DeviceInfo for a Fujifilm that answers an empty one over Wi-Fi
        (landscape.md 1.4); the properties are those 0x902B and 0xD212 named."""
        if info.operations_supported:
            return None
        with self._lock:
            props = dict.fromkeys((*self.descs, *self.state, *_SYNTH_PROPERTIES))
        return replace(
            info,
            vendor_extension_id=info.vendor_extension_id or VendorId.FUJI,
            operations_supported=_SYNTH_OPERATIONS,
            events_supported=_SYNTH_EVENTS,
            device_properties_supported=tuple(props),
            manufacturer=info.manufacturer or "FUJIFILM",
            model=info.model or "Fujifilm camera (Wi-Fi)",
        )

    # -- events ----------------------------------------------------------------------------------

    def poll_state(self, *, emit: bool = True, wait_turn: bool = True) -> int:
        """One GetDevicePropValue(0xD212): the cache takes the values, and each one that
        changed is a DevicePropChanged(code, value) event. The number that changed."""
        reply = self.session.run(
            Op.GET_DEVICE_PROP_VALUE, (values.CURRENT_STATE,), wait_turn=wait_turn
        )
        entries = decode_state_list(reply.data)
        changed: list[StateEntry] = []
        with self._lock:
            for entry in entries:
                if self.state.get(entry.code) != entry.value:
                    changed.append(entry)
                self.state[entry.code] = entry.value
            if entries:
                # The camera's order of this answer first (the list depends on the program).
                order = [entry.code for entry in entries]
                rest = {code: v for code, v in self.state.items() if code not in set(order)}
                self.state = {code: self.state[code] for code in order} | rest
                self._state_order = tuple(order)
        if emit:
            for entry in changed:
                self.session.emit(Ec.DEVICE_PROP_CHANGED, (entry.code, entry.value), details=entry)
        return len(changed)

    def event_poller(self) -> FujiStatePoller | None:
        return FujiStatePoller(self) if self.has_state else None

    def exposure_state(self) -> Sequence[tuple[int, Value]] | None:
        """The Go tool's ``state``: the 0xD212 list read now, in the camera's order."""
        if not self.has_state:
            return None
        self.poll_state()
        with self._lock:
            order = self._state_order or tuple(self.state)
            return [(code, self._typed(code, self.state[code])) for code in order]

    def _typed(self, code: int, value: int) -> Value:
        desc = self.descs.get(code)
        return value if desc is None else _as_datatype(value, desc.datatype)

    # -- properties ------------------------------------------------------------------------------

    def property_codes(self) -> Collection[int] | None:
        with self._lock:
            codes = dict.fromkeys((*self.descs, *self.state))
        return tuple(codes) or None

    def describe_property(self, code: int) -> DevicePropDesc | None:
        """0x902B's description (on Wi-Fi a GetDevicePropDesc may come back incomplete: the Go
        tool's README) with the value read now: a change the body announced with a pushed
        DevicePropChanged is not in the 0xD212 cache until the next poll. Where the read fails,
        the last 0xD212 value."""
        with self._lock:
            desc = self.descs.get(code)
            cached = self.state.get(code)
        if desc is None and cached is not None:
            desc = self._describe_state_only(code, cached)
        if desc is None:
            return None
        value = None if cached is None else _as_datatype(cached, desc.datatype)
        fresh = self._read_value(code, desc.datatype)
        if fresh is not None:
            value = fresh
            with self._lock:
                if code in self.state and isinstance(fresh, int):
                    self.state[code] = fresh & _U32_MAX
        return desc if value is None else replace(desc, current=value)

    def _describe_state_only(self, code: int, value: int) -> DevicePropDesc | None:
        """A property 0xD212 reports and 0x902B does not describe: the body's GetDevicePropDesc
        when it answers one whole (kept), else a description from what is known, so describe,
        get and set still work (on Wi-Fi a GetDevicePropDesc may come back empty: the Go
        tool's README). Without a known type nothing is invented (None: standard PTP)."""
        try:
            reply = self.session.run(Op.GET_DEVICE_PROP_DESC, (code,), check=False)
        except (BusyError, TransportTimeout):
            reply = None
        if reply is not None and reply.code == Rc.OK and reply.data:
            try:
                desc = DevicePropDesc.from_bytes(reply.data)
            except PTPError:
                desc = None
            if desc is not None and desc.code == code:
                with self._lock:
                    self.descs[code] = desc
                return desc
        datatype = _STATE_DATATYPES.get(code)
        if datatype is None:
            return None
        typed = _as_datatype(value, datatype)
        return DevicePropDesc(
            code=code,
            datatype=datatype,
            get_set=GetSet.GET if code in _READ_ONLY else GetSet.GET_SET,
            factory_default=typed,
            current=typed,
        )

    def _read_value(self, code: int, datatype: DataType) -> Value | None:
        try:
            reply = self.session.run(Op.GET_DEVICE_PROP_VALUE, (code,), check=False)
        except (BusyError, TransportTimeout):
            return None
        if reply.code != Rc.OK or not reply.data:
            return None
        try:
            return decode_value(reply.data, datatype)
        except PTPError:
            return None

    def set_property(self, code: int, value: Value, datatype: DataType) -> bool:
        """SetDevicePropValue, then the cache takes the value (the next 0xD212 confirms it)."""
        self._set_value(code, datatype, value)
        with self._lock:
            desc = self.descs.get(code)
            if desc is not None:
                self.descs[code] = replace(desc, current=value)
            if code in self.state and isinstance(value, int):
                self.state[code] = value & _U32_MAX
        return True

    def format_value(self, code: int, value: Value) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        if not values.has_table(code):
            return None
        return values.format_value(code, value & _U32_MAX if value >= 0 else value)

    def parse_value(self, code: int, text: str, allowed: Sequence[Value] | None) -> Value | None:
        if not values.has_table(code):
            return None
        allowed_ints = None if allowed is None else [v for v in allowed if isinstance(v, int)]
        try:
            return values.parse_value(code, text, allowed_ints)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    # -- capture ---------------------------------------------------------------------------------

    def prepare_remote(self) -> None:
        """Over USB, once: PC mode and USB priority before tethered capture (config.c)."""
        if self._prepared or self.session.transport_kind != "usb":
            return
        try:
            self._set_value(values.PC_MODE, DataType.UINT16, PC_MODE_VALUE)
            self._set_value(values.PRIORITY_MODE, DataType.UINT16, USB_PRIORITY_VALUE)
        except ResponseError as exc:
            error = FujiTetherUnsupported(
                exc.code,
                name=exc.name,
                operation=Op.SET_DEVICE_PROP_VALUE,
                operation_name="SetDevicePropValue (PC mode / USB priority)",
            )
            error.args = (
                f"{error}: this body takes no USB tethering (bodies without a tether mode, such "
                "as the X-T30, X-E3 or X100VI, refuse it); on those use Wi-Fi (fuji:HOST)",
            )
            raise error from exc
        self._prepared = True

    def open_capture(self) -> None:
        """InitiateOpenCapture(0, 0) once per session, tried up to five times (library.c)."""
        if self._capture_open:
            return
        code: int = Rc.OK
        for _ in range(OPEN_CAPTURE_TRIES):
            code = self.session.run(INITIATE_OPEN_CAPTURE, (0, 0), check=False).code
            if code in (Rc.OK, Rc.SESSION_ALREADY_OPEN):
                self._capture_open = True
                return
        raise ResponseError(code, operation=INITIATE_OPEN_CAPTURE,
                            operation_name="InitiateOpenCapture")  # fmt: skip

    def _handles(self) -> set[int] | None:
        """Every object handle now (to find the new ones after a shot), None when the camera
        cannot list them."""
        if not self.supports(Op.GET_OBJECT_HANDLES):
            return None
        try:
            reply = self.session.run(Op.GET_OBJECT_HANDLES, (_U32_MAX, 0, 0))
        except ResponseError:
            return None
        data = reply.data
        if len(data) < 4:
            return None
        count = int.from_bytes(data[:4], "little")
        if 4 + 4 * count > len(data):
            raise DecodeError("the handle list is shorter than its count", offset=0,
                              what="GetObjectHandles")  # fmt: skip
        return {int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "little") for i in range(count)}

    def _is_folder(self, handle: int, *, unknown: bool = False) -> bool:
        """Whether ``handle`` is a folder (association). An object the camera cannot describe
        counts as ``unknown`` says (default: not a folder; its download says what is wrong)."""
        try:
            info = ObjectInfo.from_bytes(self.session.run(Op.GET_OBJECT_INFO, (handle,)).data)
        except (ResponseError, DecodeError):
            return unknown
        return info.is_folder

    def fetch_preview(self, timeout_s: float | None = None) -> bytes:
        """GetCapturePreview 0x9022: the preview, and the camera free to fire again."""
        reply = self.session.run(GET_CAPTURE_PREVIEW, timeout_s=timeout_s)
        self.preview_owed = False
        return reply.data

    def capture(self, *, timeout_s: float) -> CaptureOutcome | None:
        session = self.session
        clock = session.clock
        deadline = clock.monotonic() + timeout_s

        def remaining() -> float:
            left = deadline - clock.monotonic()
            if left <= 0:
                raise TransportTimeout(
                    f"the camera did not finish the capture within {timeout_s:g} s"
                )
            return left

        self.prepare_remote()
        # A preview still owed (an earlier capture stopped waiting, or a PreviewAvailable the
        # program did not take): fetched first, or this shot never fires.
        with contextlib.suppress(TransportTimeout):
            session.wait_event({EC_PREVIEW_AVAILABLE}, 0.0)
            self.preview_owed = True
        #: Fetching an owed preview lets the earlier capture finish: its CaptureComplete may
        #: come now, before anything of this one, and is not this capture's end.
        stale_complete = False
        if self.preview_owed:
            self.fetch_preview(remaining())
            stale_complete = True
        before = self._handles()
        self._set_shoot_action(remaining())
        session.run(Op.INITIATE_CAPTURE, (0, 0), timeout_s=remaining())
        answer: list[AnswerEvent] = []
        announced: list[int] = []
        preview = b""
        #: 0xC004's first parameter: libgphoto2's camera_fuji_capture reads it as the new
        #: object's handle; ptp-ip's X-T1 dump has the transaction id there. Used only when the
        #: camera cannot list its handles, and only if it names an object.
        fuji_added = 0
        wanted = {EC_FUJI_OBJECT_ADDED, EC_PREVIEW_AVAILABLE, Ec.OBJECT_ADDED, Ec.CAPTURE_COMPLETE}
        while True:
            event = session.wait_event(wanted, remaining())
            answer.append(event)
            if event.code == Ec.OBJECT_ADDED and event.params and event.params[0]:
                announced.append(event.params[0])
            elif event.code == EC_FUJI_OBJECT_ADDED and event.params and event.params[0]:
                fuji_added = event.params[0]
            elif event.code == EC_PREVIEW_AVAILABLE:
                self.preview_owed = True
                # The camera waits for this before CaptureComplete (ptp-ip).
                preview = self.fetch_preview(remaining())
                size = event.params[1] if len(event.params) > 1 else None
                if size is not None and size != len(preview):
                    log.info("%s: preview of %d bytes, %s announced", session.label,
                             len(preview), size)  # fmt: skip
            elif event.code == Ec.CAPTURE_COMPLETE:
                if stale_complete and len(answer) == 1:
                    log.debug("%s: the earlier capture's CaptureComplete", session.label)
                    answer.pop()
                    stale_complete = False
                    continue
                break
        handles = announced
        after = None if handles or before is None else self._handles()
        if before is not None and after is not None:
            # The files the shot wrote (a RAW+JPEG shot writes two); the first shot on a card
            # also creates its folder (100_FUJI), which is not a capture.
            handles = [h for h in sorted(after - before) if not self._is_folder(h)]
        elif not handles and fuji_added and not self._is_folder(fuji_added, unknown=True):
            # No listing to compare (an X-T1's transaction id there names no object).
            handles = [fuji_added]
        objects = tuple(CapturedObject(handle=handle) for handle in handles)
        return CaptureOutcome(objects=objects, events=tuple(answer), preview=preview)

    def half_press(self) -> HalfPress | None:
        """libgphoto2's "Drive Fuji Autofocus" (config.c _put_Fuji_AFDrive): the shutter action
        0xD208 = 0x9300 (focus only) and InitiateCapture, the AF status 0xD209 read while it
        is 1 (focusing; 3: no focus, FocusError), then to let go 0xD208 = 0x0005 and
        InitiateCapture ("release focus lock"). No picture is taken. A capture while it is held
        sets the action to Shoot first (:meth:`capture`), which lets go of the button."""
        u16 = DataType.UINT16
        initiate = Step(code=Op.INITIATE_CAPTURE, params=(0, 0))
        focus = WaitProperty(
            code=AF_STATUS,
            datatype=u16,
            leaves=AF_FOCUSING,
            interval_s=FOCUS_POLL_S,
            timeout_s=FOCUS_TIMEOUT_S,
            failures=((AF_FAILED, "the camera could not focus (AF status 3: no focus found)"),),
            error=FocusError,
            what="focusing",
        )
        prepare: tuple[SetProperty, ...] = ()
        if self.session.transport_kind == "usb" and not self._prepared:
            # Over USB the body takes remote shutter actions once in PC mode with USB priority
            # (prepare_remote; libgphoto2 has set both before its autofocusdrive can run).
            prepare = (
                SetProperty(code=values.PC_MODE, datatype=u16, value=PC_MODE_VALUE),
                SetProperty(code=values.PRIORITY_MODE, datatype=u16, value=USB_PRIORITY_VALUE),
            )
        return HalfPress(
            name="Fujifilm AF drive",
            press=Steps(steps=(*prepare, self._action(ACTION_AF_DRIVE), initiate, focus)),
            release=Steps(steps=(self._action(ACTION_RELEASE_FOCUS), initiate)),
            capture_releases=True,
        )

    @staticmethod
    def _action(value: int) -> SetProperty:
        return SetProperty(code=SHUTTER_ACTION, datatype=DataType.UINT16, value=value)

    def _set_shoot_action(self, timeout_s: float) -> None:
        """The shutter action to Shoot before InitiateCapture, where the body has it: a half
        press (or another program: gphoto2's autofocusdrive leaves 0x0005) may have left it at
        something that does not take a picture. libgphoto2 sets it before every shot
        (library.c camera_fuji_capture). A body that refuses it shoots as it is."""
        if SHUTTER_ACTION not in self.session.device_info.device_properties_supported:
            return
        reply = self.session.run(
            Op.SET_DEVICE_PROP_VALUE,
            (SHUTTER_ACTION,),
            data=encode_value(DataType.UINT16, ACTION_SHOOT),
            timeout_s=timeout_s,
            check=False,
        )
        if reply.code != Rc.OK:
            log.debug("%s: shutter action Shoot refused (0x%04X)", self.session.label, reply.code)

    # -- live view -------------------------------------------------------------------------------

    def live_view(self) -> FrameSource | None:
        channels = self.session.side_channels
        if channels is not None and self.session.transport_kind == "fujiptpip":
            return FujiStreamLiveView(self, channels)
        return FujiHandleLiveView(self)


__all__ = [
    "FUJI_PROPERTIES",
    "FujiHandleLiveView",
    "FujiRemoteRefused",
    "FujiStatePoller",
    "FujiStreamLiveView",
    "FujiTetherUnsupported",
    "FujifilmExtension",
    "is_fujifilm",
    "next_interval",
]
