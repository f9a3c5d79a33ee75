"""Sony, client side: the extension ``sony`` (issue 14 section 2), over USB and PTP/IP.

Facts (vendors.md section 3; libgphoto2 ``camlibs/ptp2`` library.c camera_init / fixup,
camera_sony_capture, the Sony live view; ptp.c; config.c); wire codecs in
:mod:`ptpkit.core.sony`, value texts in :mod:`ptpkit.codes.sony_values`. One
:class:`SonyExtension` per camera:

- **Recognised** by Sony's vendor extension id 0x11, or the manufacturer "Sony" (over PTP/IP a
  body reports the MTP id with "Sony Corporation": library.c "Mostly for PTP/IP mode").
- **The SDIO handshake** (library.c camera_init), when DeviceInfo lists SDIO_GetExtDeviceInfo
  0x9202: SDIO_Connect 0x9201 phase 1 and 2 (each with a data-in phase), 0x9202 asking protocol
  3.00 (0x12C; a body that answers 0xC8, or refuses 0x12C, speaks 2.00) with up to 20 tries while
  the answer is empty, SDIO_Connect phase 3, then PriorityMode 0xD25A = 1 ("application"). The
  0x9202 codes are merged into DeviceInfo by class (:meth:`synthesise_device_info`).
  A body without 0x9202 is not in "PC Remote" mode (its USB setting is MTP or Mass Storage):
  files work, settings and capture raise :class:`SonyRemoteModeError` saying what to change.
- **Over PTP/IP**: 0x9280(4) "open" + 0x9281(4) after the handshake, before any file access,
  and 0x9280(4) "close" + 0x9281(4) at the end (library.c, ptp.c ptp_sony_9280).
- **Properties**: GetAllExtDevicePropInfo 0x9209 is the only source (Sony pushes no values: a
  0xC203 names the property, not its value). Describe and get re-read it; one answer serves
  every property asked within ``fresh_s`` (one listing, one poll), never longer.
- **Setting** with SetControlDeviceA 0x9205 (the value in the property's type). On a protocol
  2.00 body, shutter speed, ISO and f-number move by notches only: SetControlDeviceB 0x9207 with
  a signed byte, one notch at a time, re-reading 0x9209 until the value is reached (bounded).
- **Capture** (library.c camera_sony_capture): Still Image Save Destination must include the
  computer (else :class:`SonySaveDestinationError`); half press 0xD2C1 (2), full press 0xD2C2
  (2); unless the focus mode is manual, up to ``focus_wait_s`` for FocusFound 0xD213 = 2 (or
  the picture); release 0xD2C2 (1), 0xD2C1 (1); then 0x9209 polled until ObjectInMemory 0xD215
  counts more pictures than before the press, all under the capture's one deadline; only then
  GetObjectInfo(0xFFFFC001) (reading it earlier "will crash the firmware"). Pictures already
  waiting in memory (the body's own shutter in "PC only", a capture not downloaded) are
  delivered with it, oldest first, as the camera hands them out: libgphoto2 reads them out
  and throws them away; ptpkit loses no picture (see :meth:`SonyExtension.capture`).
- **Events**: a poller re-reads 0x9209; each changed value is a DevicePropChanged(code, value),
  and each picture appearing in memory (the camera's own shutter button) an ObjectAdded of
  0xFFFFC001 as an in-memory object, so ``tether`` downloads every one, in order.
- **Live view**: GetObjectInfo + GetObject of 0xFFFFC002 (InvalidObjectHandle: again after
  50 ms, AccessDenied 0x200F "too fast": again after 20 ms; at most 50 tries within
  ``live_view_frame_timeout_s``), the JPEG found through the header (core.sony.decode_live_view).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Final

from ptpkit.codes import VendorId
from ptpkit.codes import sony_values as values
from ptpkit.codes.common import Ec, Op, Rc
from ptpkit.codes.properties import PropertySpec
from ptpkit.core import sony
from ptpkit.core.datasets import DeviceInfo, DevicePropDesc, ObjectInfo, encode_value
from ptpkit.core.datatypes import DataType, Value
from ptpkit.errors import (
    CaptureError,
    DecodeError,
    OperationNotSupportedError,
    PTPError,
    ResponseError,
    TransportTimeout,
    UsageError,
)
from ptpkit.ext.base import (
    CapturedObject,
    CaptureOutcome,
    FrameSource,
    HalfPress,
    Session,
    Step,
)
from ptpkit.ext.lazy import LazyCodes
from ptpkit.ext.matching import is_sony
from ptpkit.ext.polling import ExtensionPoller

log = logging.getLogger("ptpkit.ext.sony")

# -- codes (libgphoto2 ptp.h PTP_OC_SONY_*, PTP_DPC_SONY_*; names in codes/sony.py) -------------

SDIO_CONNECT: Final = 0x9201
SDIO_GET_EXT_DEVICE_INFO: Final = 0x9202
SET_CONTROL_DEVICE_A: Final = 0x9205
SET_CONTROL_DEVICE_B: Final = 0x9207
GET_ALL_EXT_DEVICE_PROP_INFO: Final = 0x9209
WIFI_9280: Final = 0x9280
WIFI_9281: Final = 0x9281
#: 0x9280 / 0x9281's first parameter (library.c: 4).
WIFI_PARAM: Final = 4

HALF_PRESS: Final = 0xD2C1
FULL_PRESS: Final = 0xD2C2
BUTTONS: Final = frozenset({HALF_PRESS, FULL_PRESS})
PRESS: Final = 2
RELEASE: Final = 1
FOCUS_FOUND_VALUE: Final = 2
MANUAL_FOCUS: Final = 1
IN_MEMORY_BASE: Final = 0x8000
CAPTURE_HANDLE: Final = 0xFFFFC001
LIVE_VIEW_HANDLE: Final = 0xFFFFC002
#: library.c: "PriorityMode" 1 = application.
PRIORITY_APPLICATION: Final = 1
#: Set directly only in protocol 3.00 (vendors.md 3.1: "direct-set shutter/ISO/f-stop").
NOTCH_ONLY: Final = frozenset({values.SHUTTER_SPEED, values.ISO, values.F_NUMBER})

#: What ``state`` shows, in this order.
EXPOSURE_STATE: Final = (
    0x500E,
    values.SHUTTER_SPEED,
    values.F_NUMBER,
    values.ISO,
    values.EXPOSURE_COMPENSATION,
    values.WHITE_BALANCE,
    values.FOCUS_MODE,
)
#: libgphoto2 asks 0x9202 up to 20 times while the answer is empty.
EXT_INFO_TRIES: Final = 20
EXT_INFO_RETRY_S: Final = 0.05
#: Poll pace (a Sony is asked, as libgphoto2's wait loops ask it).
POLL_FAST_S: Final = 0.1
POLL_STEP_S: Final = 0.1
POLL_IDLE_S: Final = 0.5
POLL_TROUBLE_S: Final = 2.0
#: Capture: the focus wait (library.c: 1 s), the wait for the picture (library.c: 35 s), the
#: pause between 0x9209 reads while waiting.
FOCUS_WAIT_S: Final = 1.0
IMAGE_WAIT_S: Final = 35.0
CAPTURE_POLL_S: Final = 0.05
#: Bodies that take no picture in their first seconds after the handshake: library.c
#: camera_sony_capture waits until 3 s after connecting for these (vendors.md 3.4: ZV-1,
#: RX100M7, A7RM4, A7M3/4/5, A7SM3, A9M2, A1, A7C, ZV-E10, RX0M2), as their model strings.
SETTLE_MODELS: Final = frozenset({
    "ZV-1", "DSC-RX100M7", "ILCE-7RM4", "ILCE-7RM4A", "ILCE-7M3", "ILCE-7M4", "ILCE-7M5",
    "ILCE-7SM3", "ILCE-9M2", "ILCE-1", "ILCE-7C", "ZV-E10", "DSC-RX0M2",
})  # fmt: skip
SETTLE_S: Final = 3.0
#: Live view (library.c): InvalidObjectHandle -> 50 ms, AccessDenied -> 20 ms, 50 tries, 1 s.
LIVE_VIEW_NOT_READY_S: Final = 0.05
LIVE_VIEW_TOO_FAST_S: Final = 0.02
LIVE_VIEW_TRIES: Final = 50
LIVE_VIEW_FRAME_TIMEOUT_S: Final = 1.0
#: The least time a live-view transaction gets once started.
TRANSFER_MIN_S: Final = 2.0
#: Notches at most when stepping a protocol-2.00 setting.
MAX_NOTCHES: Final = 64

REMOTE_MODE_FIX: Final = (
    'on the camera set MENU > Setup > USB Connection (or "PC Connection") to "PC Remote" '
    '(on some bodies "PC Control" / "Remote Shooting"), then connect again'
)
SAVE_DESTINATION_FIX: Final = (
    'on the camera set MENU > Camera Settings > PC Remote Function > "Still Img. Save Dest." '
    'to "PC Only" or "PC+Camera" (or: ptpkit set still-image-save-destination computer)'
)


class SonyRemoteModeError(OperationNotSupportedError):
    """The body is not in "PC Remote" mode: no SDIO operations (its USB setting is MTP or Mass
    Storage; gphoto2#208, libgphoto2#912). Files work; settings and capture do not."""


class SonySaveDestinationError(CaptureError):
    """Still Image Save Destination 0xD222 is the camera's card only: a capture never reaches the
    computer (libgphoto2#471)."""


def remote_mode_error(what: str, operation: int) -> SonyRemoteModeError:
    error = SonyRemoteModeError(Rc.OPERATION_NOT_SUPPORTED, operation=operation,
                                operation_name=what)  # fmt: skip
    error.args = (
        f'{what}: the camera is not in "PC Remote" mode (it is connected as an MTP / mass '
        f"storage device: files only); {REMOTE_MODE_FIX}",
    )
    return error


#: Friendly names (gphoto2's where it has one).
SONY_PROPERTIES: Final = tuple(
    PropertySpec(code=code, names=names, label=label)
    for code, names, label in (
        (values.SHUTTER_SPEED, ("sony-shutter", "shutterspeed", "shutter-speed", "shutter"),
         "shutter speed"),
        (values.ISO, ("sony-iso", "iso"), "ISO"),
        (values.SAVE_DESTINATION, ("still-image-save-destination", "capturetarget",
                                   "capture-target", "save-destination"),
         "still image save destination"),
        (values.PRIORITY_MODE, ("priority-mode", "prioritymode"), "priority mode"),
        (values.BATTERY_LEVEL, ("sony-battery", "battery", "battery-level", "batterylevel"),
         "battery level"),
        (values.OBJECT_IN_MEMORY, ("objects-in-memory", "object-in-memory"),
         "objects in memory"),
        (values.FOCUS_FOUND, ("focus-found", "focus-status"), "focus status"),
    )
)  # fmt: skip


class SonyPoller(ExtensionPoller):
    """GetAllExtDevicePropInfo on the camera's poller thread."""

    fast_s, step_s, idle_s, trouble_s = POLL_FAST_S, POLL_STEP_S, POLL_IDLE_S, POLL_TROUBLE_S
    what = "Sony property list (0x9209)"

    def __init__(self, extension: SonyExtension) -> None:
        super().__init__(extension, extension.poll)


class SonyLiveView:
    """Frames from 0xFFFFC002 (library.c Sony live view)."""

    def __init__(self, extension: SonyExtension) -> None:
        self.extension = extension
        #: The last frame's focus frame information (its raw bytes), for LiveFrame.side_data.
        self.side_data: dict[str, object] = {}

    def start(self) -> None:
        self.extension.require_remote("live view", GET_ALL_EXT_DEVICE_PROP_INFO)

    def frame(self) -> bytes | None:
        ext = self.extension
        session = ext.session
        clock = session.clock
        deadline = clock.monotonic() + ext.live_view_frame_timeout_s
        for _ in range(LIVE_VIEW_TRIES):
            left = deadline - clock.monotonic()
            if left <= 0:
                return None
            # The frame's deadline decides whether to try again; a transaction already under way
            # gets at least TRANSFER_MIN_S (cut short, a USB transfer would break the session).
            info = session.run(Op.GET_OBJECT_INFO, (LIVE_VIEW_HANDLE,), check=False,
                               timeout_s=max(left, TRANSFER_MIN_S))  # fmt: skip
            code = info.code
            if code == Rc.OK:
                after_s = max(deadline - clock.monotonic(), TRANSFER_MIN_S)
                data = session.run(Op.GET_OBJECT, (LIVE_VIEW_HANDLE,), check=False,
                                   timeout_s=after_s)  # fmt: skip
                code = data.code
                if code == Rc.OK:
                    frame = sony.decode_live_view(data.data)
                    self.side_data = {"focal_frame": frame.focal_frame} if frame.focal_frame else {}
                    return frame.jpeg
            if code == Rc.INVALID_OBJECT_HANDLE:
                # Live view starting ("can persist for up to 1 second on the ZV-1").
                clock.sleep(min(LIVE_VIEW_NOT_READY_S, max(0.0, deadline - clock.monotonic())))
            elif code == Rc.ACCESS_DENIED:
                # Asked before the next frame (photobooth#321's flood): a moment later.
                clock.sleep(min(LIVE_VIEW_TOO_FAST_S, max(0.0, deadline - clock.monotonic())))
            else:
                raise ResponseError(code, operation=Op.GET_OBJECT,
                                    operation_name="live view (0xFFFFC002)")  # fmt: skip
        return None

    def stop(self) -> None:
        return  # nothing to end: the body shows live view while in PC Remote


class SonyExtension(LazyCodes):
    """Sony behaviour (see the module's docstring)."""

    name = "sony"
    codes_module = "sony"
    properties = SONY_PROPERTIES

    #: How long one 0x9209 answer serves describe/get (one listing of every property).
    fresh_s: float = 0.2
    focus_wait_s: float = FOCUS_WAIT_S
    image_wait_s: float = IMAGE_WAIT_S
    live_view_frame_timeout_s: float = LIVE_VIEW_FRAME_TIMEOUT_S
    #: False: no poller thread (events only as the transport pushes them); tests on a fake
    #: clock call :meth:`poll` themselves.
    poll_events: bool = True

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return is_sony(info)

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.closing = False
        self._lock = threading.Lock()
        #: The SDIO handshake was done (the body is in PC Remote mode).
        self.remote = False
        #: What 0x9202 answered.
        self.ext_info: sony.ExtDeviceInfo | None = None
        self._descs: dict[int, sony.SonyPropDesc] = {}
        self._read_at: float | None = None
        #: Bumped by each change this extension makes (_forget): a read that began before it
        #: holds the old values and must not stand as the fresh answer.
        self._generation = 0
        #: Values the poller last saw (to report changes).
        self._seen: dict[int, Value] = {}
        self._capturing = False
        self._wifi_open = False
        #: When the handshake ended (the settle wait counts from it).
        self._connected_at: float | None = None

    # -- helpers ---------------------------------------------------------------------------------

    @property
    def protocol(self) -> int:
        return self.ext_info.version if self.ext_info is not None else 0

    def supports(self, code: int) -> bool:
        return code in self.session.device_info.operations_supported

    def require_remote(self, what: str, operation: int) -> None:
        if not self.remote:
            raise remote_mode_error(what, operation)

    # -- the session -----------------------------------------------------------------------------

    def open_session(self) -> None:
        self.closing = False
        if not self.supports(SDIO_GET_EXT_DEVICE_INFO):
            log.info('%s: no SDIO operations: the camera is not in "PC Remote" mode',
                     self.session.label)  # fmt: skip
            return
        run = self.session.run
        run(SDIO_CONNECT, (1, 0, 0))
        run(SDIO_CONNECT, (2, 0, 0))
        self.ext_info = self._ext_device_info()
        run(SDIO_CONNECT, (3, 0, 0))
        self.remote = True
        self._connected_at = self.session.clock.monotonic()
        priority = encode_value(DataType.UINT8, PRIORITY_APPLICATION)
        reply = run(SET_CONTROL_DEVICE_A, (values.PRIORITY_MODE,), data=priority, check=False)
        if reply.code != Rc.OK:
            log.info("%s: PriorityMode not set (0x%04X)", self.session.label, reply.code)
        if self.session.transport_kind == "ptpip":
            self._wifi(sony.WIFI_OPEN)
            self._wifi_open = True
        self._seen = {code: desc.current for code, desc in self.read_descs(fresh=True).items()}
        # Pictures already waiting in memory (taken with the body's button before we came)
        # are news too: the first poll announces them, so that ``tether`` fetches them.
        self._seen[values.OBJECT_IN_MEMORY] = 0

    def _ext_device_info(self) -> sony.ExtDeviceInfo:
        """0x9202: protocol 3.00 asked first, 2.00 when the body refuses it; asked again while
        the answer is empty (a body not ready yet), at most EXT_INFO_TRIES times."""
        run = self.session.run
        version = sony.PROTOCOL_3_00
        for _ in range(EXT_INFO_TRIES):
            reply = run(SDIO_GET_EXT_DEVICE_INFO, (version, 1), check=False)
            if reply.code != Rc.OK:
                if version == sony.PROTOCOL_2_00:
                    raise ResponseError(reply.code, operation=SDIO_GET_EXT_DEVICE_INFO,
                                        operation_name="SDIO_GetExtDeviceInfo")  # fmt: skip
                version = sony.PROTOCOL_2_00
                continue
            if reply.data:
                return sony.decode_ext_device_info(reply.data)
            self.session.clock.sleep(EXT_INFO_RETRY_S)
        raise TransportTimeout(
            f"the camera answered SDIO_GetExtDeviceInfo empty {EXT_INFO_TRIES} times; it is "
            "not ready for remote control (switch it off and on, check PC Remote mode)"
        )

    def _wifi(self, block: sony.WifiBlock) -> None:
        # ptp.c ptp_sony_9280 (data out), ptp_sony_9281 (data in, discarded).
        self.session.run(WIFI_9280, (WIFI_PARAM,), data=sony.encode_wifi_block(block))
        self.session.run(WIFI_9281, (WIFI_PARAM,))

    def close_session(self) -> None:
        self.closing = True
        if self._wifi_open:
            self._wifi_open = False
            try:
                self._wifi(sony.WIFI_CLOSE)
            except PTPError as exc:
                log.info("%s: Sony Wi-Fi close not answered: %s", self.session.label, exc)

    def synthesise_device_info(self, info: DeviceInfo) -> DeviceInfo | None:
        """DeviceInfo with the 0x9202 codes merged in by class (library.c fixup): 0x1xxx
        operations, 0x4xxx events, 0x5xxx properties; the vendor id Sony's."""
        if self.ext_info is None:
            return None
        ops, events, props = (
            list(info.operations_supported),
            list(info.events_supported),
            list(info.device_properties_supported),
        )
        for code in self.ext_info.codes():
            target = {0x1000: ops, 0x4000: events, 0x5000: props}.get(code & 0x7000)
            if target is not None and code not in target:
                target.append(code)
        return replace(
            info,
            vendor_extension_id=VendorId.SONY,
            operations_supported=tuple(ops),
            events_supported=tuple(events),
            device_properties_supported=tuple(props),
        )

    # -- properties ------------------------------------------------------------------------------

    def read_descs(self, *, fresh: bool = False, wait_turn: bool = True
                   ) -> dict[int, sony.SonyPropDesc]:  # fmt: skip
        """The 0x9209 descriptors by code: read now, or the answer of the last ``fresh_s``."""
        clock = self.session.clock
        with self._lock:
            recent = self._read_at is not None and clock.monotonic() - self._read_at < self.fresh_s
            if recent and not fresh:
                return dict(self._descs)
            generation = self._generation
        reply = self.session.run(GET_ALL_EXT_DEVICE_PROP_INFO, wait_turn=wait_turn)
        descs = {desc.code: desc for desc in sony.decode_all_prop_info(reply.data)}
        with self._lock:
            # The poller's read can be under way while another thread sets a property: an
            # answer from before the set is not cached as fresh (the next get would return
            # the old value: seen with ptpkit.aio's hook threads, possible with the blocking
            # Camera's poller thread too).
            if generation == self._generation:
                self._descs = descs
                self._read_at = clock.monotonic()
        return dict(descs)

    def _forget(self) -> None:
        with self._lock:
            self._read_at = None
            self._generation += 1

    def poll(self, *, wait_turn: bool = True) -> int:
        """One 0x9209 read: each changed value a DevicePropChanged(code, value); a picture newly
        in memory (not this extension's capture) an ObjectAdded of 0xFFFFC001."""
        descs = self.read_descs(fresh=True, wait_turn=wait_turn)
        changed = [
            (code, d.current) for code, d in descs.items() if self._seen.get(code) != d.current
        ]
        before = self._seen.get(values.OBJECT_IN_MEMORY, 0)
        self._seen.update({code: d.current for code, d in descs.items()})
        for code, value in changed:
            number = value & 0xFFFFFFFF if isinstance(value, int) else 0
            self.session.emit(Ec.DEVICE_PROP_CHANGED, (code, number))
        now = descs.get(values.OBJECT_IN_MEMORY)
        if now is not None and not self._capturing:
            count, was = _in_memory(now.current), _in_memory(before)
            # One ObjectAdded per new picture (two shots between reads are two). 0xFFFFC001
            # hands out the oldest, and which one that is when the event is handled depends on
            # what was read meanwhile: each is described in its turn, just before it is read.
            for _ in range(was, count):
                self.session.emit(
                    Ec.OBJECT_ADDED, (CAPTURE_HANDLE,), details=_in_memory_object(None)
                )
        return len(changed)

    def event_poller(self) -> SonyPoller | None:
        return SonyPoller(self) if self.remote and self.poll_events else None

    def property_codes(self) -> Collection[int] | None:
        if not self.remote:
            return None
        return tuple(code for code in self.read_descs() if code not in BUTTONS)

    def describe_property(self, code: int) -> DevicePropDesc | None:
        if not self.remote:
            if code in self.session.device_info.device_properties_supported:
                return None  # a standard property of an MTP-mode body: standard PTP
            # A Sony's settings are read with 0x9209 only, which needs PC Remote mode.
            raise remote_mode_error(f"reading property 0x{code:04X}", GET_ALL_EXT_DEVICE_PROP_INFO)
        desc = self.read_descs().get(code)
        return None if desc is None else desc.to_standard()

    def set_property(self, code: int, value: Value, datatype: DataType) -> bool:
        if not self.remote:
            if code in self.session.device_info.device_properties_supported:
                return False  # a standard property of an MTP-mode body: standard set
            raise remote_mode_error(f"setting 0x{code:04X}", SET_CONTROL_DEVICE_A)
        desc = self.read_descs(fresh=True).get(code)
        if desc is None:
            return False
        self._forget()
        try:
            if code in BUTTONS:
                self.session.run(
                    SET_CONTROL_DEVICE_B, (code,), data=encode_value(DataType.UINT16, value)
                )
                return True
            if self.protocol != sony.PROTOCOL_3_00 and code in NOTCH_ONLY:
                self._step_to(desc, value)
                return True
            self.session.run(SET_CONTROL_DEVICE_A, (code,), data=encode_value(desc.datatype, value))
            return True
        finally:
            # Again once changed: a poll that read between the first forget and the change
            # holds the old value (see read_descs).
            self._forget()

    def _step_to(self, desc: sony.SonyPropDesc, value: Value) -> None:
        """Protocol 2.00: one notch at a time (SetControlDeviceB, a signed byte) toward
        ``value`` by its place in the offered list, re-reading 0x9209 after each."""
        form = desc.to_standard().form
        offered = list(getattr(form, "values", ()))
        if value not in offered:
            raise UsageError(f"0x{desc.code:04X}: {value!r} is not a value the camera offers")
        current = desc.current
        for _ in range(MAX_NOTCHES):
            if current == value:
                return
            here = offered.index(current) if current in offered else 0
            step = 1 if offered.index(value) > here else -1
            self.session.run(SET_CONTROL_DEVICE_B, (desc.code,),
                             data=(step & 0xFF).to_bytes(1, "little"))  # fmt: skip
            moved = self.read_descs(fresh=True).get(desc.code)
            if moved is None or moved.current == current:
                break
            current = moved.current
        if current != value:
            raise ResponseError(Rc.INVALID_DEVICE_PROP_VALUE, operation=SET_CONTROL_DEVICE_B,
                                operation_name=f"stepping 0x{desc.code:04X}")  # fmt: skip

    def exposure_state(self) -> Sequence[tuple[int, Value]] | None:
        """The exposure settings from one 0x9209 read: program, shutter speed (Sony's 0xD20D),
        f-number, ISO (0xD21E), EV, white balance, focus mode, where the body has them."""
        if not self.remote:
            return None
        descs = self.read_descs(fresh=True)
        return [(code, descs[code].current) for code in EXPOSURE_STATE if code in descs]

    def format_value(self, code: int, value: Value) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool) or not values.has_table(code):
            return None
        return values.format_value(code, value)

    def parse_value(self, code: int, text: str, allowed: Sequence[Value] | None) -> Value | None:
        if not values.has_table(code):
            return None
        allowed_ints = None if allowed is None else [v for v in allowed if isinstance(v, int)]
        try:
            return values.parse_value(code, text, allowed_ints)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    # -- capture ---------------------------------------------------------------------------------

    def _captured_info(self) -> ObjectInfo | None:
        try:
            reply = self.session.run(Op.GET_OBJECT_INFO, (CAPTURE_HANDLE,))
            return ObjectInfo.from_bytes(reply.data)
        except (ResponseError, DecodeError) as exc:
            log.warning("%s: the picture in memory cannot be described: %s",
                        self.session.label, exc)  # fmt: skip
            return None

    def _in_memory_now(self) -> int:
        desc = self.read_descs(fresh=True).get(values.OBJECT_IN_MEMORY)
        return 0 if desc is None else _in_memory(desc.current)

    def capture(self, *, timeout_s: float) -> CaptureOutcome | None:
        self.require_remote("capture", SET_CONTROL_DEVICE_B)
        session = self.session
        clock = session.clock
        deadline = clock.monotonic() + min(timeout_s, self.image_wait_s)

        def remaining() -> float:
            left = deadline - clock.monotonic()
            if left <= 0:
                raise TransportTimeout(
                    f"the camera did not have the picture ready within {timeout_s:g} s"
                )
            return left

        descs = self.read_descs(fresh=True)
        destination = descs.get(values.SAVE_DESTINATION)
        if destination is not None and destination.current == values.SAVE_CAMERA:
            error = SonySaveDestinationError(Rc.ACCESS_DENIED, operation=SET_CONTROL_DEVICE_B,
                                             operation_name="capture")  # fmt: skip
            error.args = (
                'capture: "Still Image Save Destination" is the camera only, so the picture '
                f"would never reach this computer; {SAVE_DESTINATION_FIX}",
            )
            raise error
        self._settle(remaining)
        self._capturing = True
        try:
            # libgphoto2 (library.c camera_sony_capture, vendors.md 3.4 step 2): while
            # ObjectInMemory >= 0x8000 before the press, GetObjectInfo + GetObject 0xFFFFC001
            # and the data thrown away, so that the next picture read there is the capture's.
            # That loses a picture taken with the body's own shutter in "PC only" (or a
            # capture nobody downloaded) for good. ptpkit loses nothing: the waiting pictures
            # are counted here, stay in the camera, and are delivered with this capture's,
            # oldest first, as 0xFFFFC001 hands them out (the next once one is read).
            waiting = self._in_memory_now()
            if waiting:
                log.info("%s: %d earlier picture(s) still in the camera's memory are delivered "
                         "with this capture", session.label, waiting)  # fmt: skip
            manual = _current(descs, values.FOCUS_MODE) == MANUAL_FOCUS
            try:
                self._button(HALF_PRESS, PRESS)
                self._button(FULL_PRESS, PRESS)
                if not manual:
                    self._wait_focus(min(self.focus_wait_s, remaining()), waiting)
            finally:
                self._button(FULL_PRESS, RELEASE)
                self._button(HALF_PRESS, RELEASE)
            # This capture's picture is in memory when the count grows past what was waiting
            # (a count above zero would be the earlier pictures).
            count = self._in_memory_now()
            while count <= waiting:
                clock.sleep(min(CAPTURE_POLL_S, remaining()))
                count = self._in_memory_now()
            # Only the oldest can be described now; the others in their turn, each just before
            # it is read (CapturedObject.in_turn).
            info = self._captured_info()
        finally:
            self._capturing = False
            self._forget()
        self._seen[values.OBJECT_IN_MEMORY] = IN_MEMORY_BASE + count
        first = _in_memory_object(info)
        return CaptureOutcome(objects=(first, *(_in_memory_object(None) for _ in range(count - 1))))

    def _settle(self, remaining: Callable[[], float]) -> None:
        """The bodies of SETTLE_MODELS right after connecting: wait until SETTLE_S have passed,
        reading 0x9209 meanwhile as libgphoto2 does (within the capture's deadline)."""
        if self.session.device_info.model not in SETTLE_MODELS or self._connected_at is None:
            return
        clock = self.session.clock
        until = self._connected_at + SETTLE_S
        while clock.monotonic() < until:
            self.read_descs(fresh=True)
            clock.sleep(min(CAPTURE_POLL_S * 4, until - clock.monotonic(), remaining()))

    def _button(self, code: int, value: int) -> None:
        self.session.run(SET_CONTROL_DEVICE_B, (code,), data=encode_value(DataType.UINT16, value))

    def _wait_focus(self, wait_s: float, waiting: int) -> None:
        """Up to ``wait_s`` for FocusFound = 2 or the picture, i.e. more than the ``waiting``
        pictures in memory (library.c: 1 s)."""
        clock = self.session.clock
        end = clock.monotonic() + wait_s
        while True:
            descs = self.read_descs(fresh=True)
            if _current(descs, values.FOCUS_FOUND) == FOCUS_FOUND_VALUE:
                return
            if _in_memory(_current(descs, values.OBJECT_IN_MEMORY)) > waiting:
                return
            left = end - clock.monotonic()
            if left <= 0:
                log.info("%s: no focus within %g s; the shutter is released anyway",
                         self.session.label, wait_s)  # fmt: skip
                return
            clock.sleep(min(CAPTURE_POLL_S, left))

    # -- half press ------------------------------------------------------------------------------

    def half_press(self) -> HalfPress | None:
        # libgphoto2 library.c camera_sony_capture: SetControlDeviceB 0x9207 of the half-press
        # button 0xD2C1 with 2 (a u16) presses it, with 1 lets go. A capture while it is held
        # presses 0xD2C1 again and lets go of it at its end (:meth:`capture`), so a held half
        # press needs no release after a capture.
        button = (HALF_PRESS,)
        return HalfPress(
            name="half press",
            press=Step(code=SET_CONTROL_DEVICE_B, params=button, data=_u16(PRESS)),
            release=Step(code=SET_CONTROL_DEVICE_B, params=button, data=_u16(RELEASE)),
            capture_releases=True,
        )

    # -- live view -------------------------------------------------------------------------------

    def live_view(self) -> FrameSource | None:
        return SonyLiveView(self) if self.remote else None


def _in_memory_object(info: ObjectInfo | None) -> CapturedObject:
    """A picture in memory at 0xFFFFC001: described by ``info`` when it is the oldest (the one
    0xFFFFC001 hands out now), else described in its turn (``in_turn``)."""
    return CapturedObject(handle=CAPTURE_HANDLE, info=info, in_memory=True, in_turn=info is None)


def _u16(value: int) -> bytes:
    return encode_value(DataType.UINT16, value)


def _current(descs: dict[int, sony.SonyPropDesc], code: int) -> int:
    desc = descs.get(code)
    return desc.current if desc is not None and isinstance(desc.current, int) else 0


def _in_memory(value: Value) -> int:
    """ObjectInMemory as a count: 0x8000 + n means n pictures; below 0x8000 none is ready."""
    if not isinstance(value, int) or value < IN_MEMORY_BASE:
        return 0
    return value - IN_MEMORY_BASE


__all__ = [
    "SONY_PROPERTIES",
    "SonyExtension",
    "SonyLiveView",
    "SonyPoller",
    "SonyRemoteModeError",
    "SonySaveDestinationError",
    "is_sony",
]
