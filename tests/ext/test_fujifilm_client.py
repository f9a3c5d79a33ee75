"""The Fujifilm extension ``fuji``.

First its hooks against a scripted fake Session (golden transactions in order, the 0xD212 poller
on a FakeClock, capture's event sequence and the "never fires again" rule, USB's differences,
live-view retries, deadlines, errors); then whole flows through the real Camera against a
scripted Fujifilm body (tests/ext/fuji_scripted.py) in process and over the Fujifilm PTP/IP
variant on 127.0.0.1: set-up, DeviceInfo synthesis, events, get/set by name, state, capture with
its preview, live view, downloads."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.ext.fuji_scripted import (
    FILM,
    ISO,
    PROGRAM,
    SHUTTER,
    FujiScript,
    scripted_camera,
)

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.codes.common import Ec, Ofc, Op, Rc
from ptpkit.core.buffer import BytesLike
from ptpkit.core.datasets import DeviceInfo, DevicePropDesc, EnumerationForm, GetSet, ObjectInfo
from ptpkit.core.datatypes import DataType
from ptpkit.core.fuji_datasets import StateEntry, encode_prop_desc_list, encode_state_list
from ptpkit.core.fujiptpip import encode_stream_frame
from ptpkit.errors import (
    BusyError,
    ConnectError,
    ConnectTimeout,
    ResponseError,
    TransportTimeout,
    UsageError,
)
from ptpkit.ext import FujifilmExtension, extensions_for
from ptpkit.ext import fujifilm as fujifilm_ext
from ptpkit.ext.base import AnswerEvent, Reply
from ptpkit.ext.fujifilm import (
    LIVE_VIEW_HANDLE,
    POLL_FAST_S,
    POLL_IDLE_S,
    POLL_TROUBLE_S,
    FujiRemoteRefused,
    FujiTetherUnsupported,
    is_fujifilm,
    next_interval,
)
from ptpkit.testing import FakeClock
from ptpkit.transports.fujiptpip import FujiPtpIpTransport
from ptpkit.transports.inprocess import InProcessTransport
from ptpkit.virtual.network import network_server

JPEG = b"\xff\xd8" + bytes(range(40)) + b"\xff\xd9"


def fuji_info(*, ops: Sequence[int] = (0x902B, 0x9022), props: Sequence[int] = ()) -> DeviceInfo:
    return DeviceInfo(
        vendor_extension_id=0xE,
        operations_supported=(0x1001, 0x1002, 0x1007, 0x100E, 0x1014, 0x1015, 0x1016, *ops),
        device_properties_supported=tuple(props),
        manufacturer="FUJIFILM",
        model="X-T2",
    )


DESCS = (
    DevicePropDesc(code=FILM, datatype=DataType.UINT16, get_set=GetSet.GET_SET,
                   factory_default=1, current=1, form=EnumerationForm(values=(1, 2, 3, 11))),
    DevicePropDesc(code=ISO, datatype=DataType.UINT32, get_set=GetSet.GET_SET,
                   factory_default=0xFFFFFFFF, current=800,
                   form=EnumerationForm(values=(0xFFFFFFFF, 0x80001900, 200, 400, 800, 1600))),
    DevicePropDesc(code=0x5010, datatype=DataType.INT16, get_set=GetSet.GET_SET,
                   current=0, form=EnumerationForm(values=(-333, 0, 333))),
)  # fmt: skip


class FakeChannels:
    """The transport's side channels as a fake: what was opened, and live-view blobs."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.frames: list[bytes] = [encode_stream_frame(JPEG, n)[4:] for n in range(3)]

    def open_event_channel(self, timeout_s: float | None = None) -> None:
        self.opened.append("events")

    def open_stream(self, timeout_s: float | None = None) -> None:
        self.opened.append("stream")

    def read_stream_frame(self, timeout_s: float | None) -> bytes:
        if not self.frames:
            raise TransportTimeout("no frame")
        return self.frames.pop(0)

    def close_stream(self) -> None:
        self.opened.append("closed stream")


Handler = Callable[[int, tuple[int, ...], bytes | None], Reply | None]


@dataclass
class FakeSession:
    """A Session whose camera is a script: ``handler(code, params, data)`` (None: the default
    answer: OK, 0xD212 the queued state lists, 0x902B :data:`DESCS`, 0x9022 a JPEG), and
    ``pushed``: events the transport delivers, one batch after each operation of that code."""

    device_info: DeviceInfo = field(default_factory=fuji_info)
    transport_kind: str = "inprocess"
    label: str = "fake:"
    clock: FakeClock = field(default_factory=FakeClock)
    idle: bool = True
    handler: Handler | None = None
    states: list[list[StateEntry]] = field(default_factory=list)
    pushed: dict[int, list[list[AnswerEvent]]] = field(default_factory=dict)
    queue: list[AnswerEvent] = field(default_factory=list)
    calls: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    sent: list[tuple[int, bytes]] = field(default_factory=list)
    emitted: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    channels: FakeChannels | None = None
    #: Each run()'s timeout_s, in the order of ``calls``.
    timeouts: list[float | None] = field(default_factory=list)

    @property
    def transactions_run(self) -> int:
        return len(self.calls)

    @property
    def side_channels(self) -> FakeChannels | None:
        return self.channels

    def run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data: BytesLike | None = None,
        sink: object = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Reply:
        self.calls.append((code, tuple(params)))
        self.timeouts.append(timeout_s)
        if data is not None:
            self.sent.append((code, bytes(data)))
        reply = self.handler(code, tuple(params), data) if self.handler else None
        if reply is None:
            reply = self._default(code, tuple(params))
        batches = self.pushed.get(code)
        if batches:
            self.queue.extend(batches.pop(0))
        if check and reply.code != Rc.OK:
            raise ResponseError(reply.code, operation=code)
        return reply

    def _default(self, code: int, params: tuple[int, ...]) -> Reply:
        if code == Op.GET_DEVICE_PROP_VALUE and params == (0xD212,):
            entries = self.states.pop(0) if self.states else []
            return Reply(code=Rc.OK, data=encode_state_list(entries))
        if code == Op.GET_DEVICE_PROP_VALUE and params == (0xDF24,):
            return Reply(code=Rc.OK, data=struct.pack("<I", 0x00020001))
        if code == 0x902B:
            return Reply(code=Rc.OK, data=encode_prop_desc_list(DESCS))
        if code == 0x9022:
            return Reply(code=Rc.OK, data=JPEG)
        return Reply(code=Rc.OK)

    def emit(self, code: int, params: Sequence[int] = (), *, details: object = None) -> None:
        self.emitted.append((code, tuple(params)))

    def wait_event(self, codes: object, timeout_s: float) -> AnswerEvent:
        for index, event in enumerate(self.queue):
            if event.code in codes:  # type: ignore[operator]
                return self.queue.pop(index)
        self.clock.advance(timeout_s)
        raise TransportTimeout(f"no event within {timeout_s:g} s")

    def codes(self) -> list[int]:
        return [code for code, _ in self.calls]


def ev(code: int, *params: int) -> AnswerEvent:
    return AnswerEvent(code=code, params=params)


#: What an X-T1 sends during a capture (ptp-ip's trace): C004, C001 (size) after InitiateCapture;
#: CaptureComplete after GetCapturePreview.
def capture_script(session: FakeSession) -> None:
    session.pushed.setdefault(Op.INITIATE_CAPTURE, []).append(
        [ev(0xC004, 6, 0), ev(0xC001, 6, len(JPEG))]
    )
    session.pushed.setdefault(0x9022, []).append([ev(Ec.CAPTURE_COMPLETE)])


def opened(session: FakeSession | None = None) -> tuple[FujifilmExtension, FakeSession]:
    session = session or FakeSession()
    session.states = [[StateEntry(code=FILM, value=2), StateEntry(code=ISO, value=800)],
                      *session.states]  # fmt: skip
    ext = FujifilmExtension(session)  # type: ignore[arg-type]
    ext.open_session()
    session.calls.clear()
    session.sent.clear()
    session.emitted.clear()
    return ext, session


# -- matching and set-up ---------------------------------------------------------------------


def test_matches_fujifilm_by_vendor_id_or_maker() -> None:
    assert is_fujifilm(fuji_info())
    assert is_fujifilm(DeviceInfo(vendor_extension_id=6, manufacturer="FUJIFILM"))
    assert not is_fujifilm(DeviceInfo(vendor_extension_id=0xB, manufacturer="Canon Inc."))
    assert [f.name for f in extensions_for(fuji_info())] == ["fuji"]


def test_wifi_set_up_golden_order() -> None:
    """ptp-ip FujiInitCommandDataConn: DF01 = u16 5, DF24 read and echoed, 0x101C(0, 0), the
    event connection; then 0x902B and the first 0xD212 (not emitted: nothing changed)."""
    channels = FakeChannels()
    session = FakeSession(transport_kind="fujiptpip", channels=channels)
    session.states = [[StateEntry(code=FILM, value=2)]]
    ext = FujifilmExtension(session)  # type: ignore[arg-type]
    ext.open_session()
    assert session.calls == [
        (Op.SET_DEVICE_PROP_VALUE, (0xDF01,)),
        (Op.GET_DEVICE_PROP_VALUE, (0xDF24,)),
        (Op.SET_DEVICE_PROP_VALUE, (0xDF24,)),
        (0x101C, (0, 0)),
        (0x902B, ()),
        (Op.GET_DEVICE_PROP_VALUE, (0xD212,)),
    ]
    assert session.sent == [(0x1016, b"\x05\x00"), (0x1016, b"\x01\x00\x02\x00")]
    assert channels.opened == ["events"]
    assert session.emitted == []
    assert ext.state == {FILM: 2}


def test_app_version_per_model_option() -> None:
    session = FakeSession(transport_kind="fujiptpip", channels=FakeChannels())
    ext = FujifilmExtension.with_options(app_version=0x0002000C)(session)  # type: ignore[arg-type]
    ext.open_session()
    assert session.sent[1] == (0x1016, b"\x0c\x00\x02\x00")


def test_usb_has_no_wifi_set_up() -> None:
    session = FakeSession(transport_kind="usb")
    ext = FujifilmExtension(session)  # type: ignore[arg-type]
    ext.open_session()
    assert session.codes() == [0x902B, Op.GET_DEVICE_PROP_VALUE]


def test_a_refused_set_up_is_a_named_error() -> None:
    def refuse(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        return Reply(code=Rc.DEVICE_BUSY) if params == (0xDF01,) else None

    session = FakeSession(transport_kind="fujiptpip", handler=refuse, channels=FakeChannels())
    with pytest.raises(FujiRemoteRefused, match="accept this computer") as info:
        FujifilmExtension(session).open_session()  # type: ignore[arg-type]
    assert isinstance(info.value, ConnectError)


class PairingChannels(FakeChannels):
    """Side channels of a link with a pairing wait, as FujiPtpIpTransport has them."""

    def __init__(self, pairing_timeout_s: float) -> None:
        super().__init__()
        self.pairing_timeout_s = pairing_timeout_s
        self.notices: list[float] = []
        self.noticed = threading.Event()
        self.on_pairing_wait: Callable[[float], None] | None = self._notice

    def _notice(self, pairing_timeout_s: float) -> None:
        self.notices.append(pairing_timeout_s)
        self.noticed.set()


def test_init_sequence_waits_the_links_pairing_timeout_and_says_so() -> None:
    """Issue 11 section 2 on Fujifilm's variant: the user's accept prompt comes with
    InitSequence (vendors.md 4.1 step 3), so that transaction gets --pairing-timeout (the
    transport's pairing_timeout_s; it was a fixed 60 s whatever the user asked), and past
    accept_notice_s the link's notice runs once (the command line's "waiting for the camera
    to accept this computer..."). The other transactions keep the session's timeout."""
    channels = PairingChannels(pairing_timeout_s=7.5)

    def slow_accept(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if params == (0xDF01,):
            assert channels.noticed.wait(10)  # the user is told while the camera asks
        return None

    session = FakeSession(transport_kind="fujiptpip", channels=channels, handler=slow_accept)
    ext = FujifilmExtension.with_options(accept_notice_s=0.0)(session)  # type: ignore[arg-type]
    ext.open_session()
    assert session.calls[0] == (Op.SET_DEVICE_PROP_VALUE, (0xDF01,))
    assert session.timeouts[:4] == [7.5, None, None, None]
    assert channels.notices == [7.5]


def test_an_instant_accept_says_nothing_and_an_own_accept_timeout_wins() -> None:
    channels = PairingChannels(pairing_timeout_s=7.5)
    session = FakeSession(transport_kind="fujiptpip", channels=channels)
    FujifilmExtension.with_options(accept_timeout_s=3.0)(session).open_session()  # type: ignore[arg-type]
    assert session.timeouts[0] == 3.0
    assert channels.notices == []  # answered before the notice was due (1 s)


def test_an_unanswered_init_sequence_ends_at_the_pairing_timeout_naming_it() -> None:
    def never(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if params == (0xDF01,):
            raise TransportTimeout("no answer")
        return None

    channels = PairingChannels(pairing_timeout_s=2.0)
    session = FakeSession(transport_kind="fujiptpip", channels=channels, handler=never)
    with pytest.raises(ConnectTimeout, match=r"within 2 s.*--pairing-timeout"):
        FujifilmExtension(session).open_session()  # type: ignore[arg-type]


def test_the_fujifilm_transport_offers_its_pairing_wait() -> None:
    """What the extension looks for (ext.fujifilm._PairingLink) is what the transport has."""
    transport = FujiPtpIpTransport("127.0.0.1", pairing_timeout_s=9.0, on_pairing_wait=print)
    assert isinstance(transport, fujifilm_ext._PairingLink)
    assert transport.pairing_timeout_s == 9.0
    assert transport.on_pairing_wait is print


def test_device_info_synthesised_when_empty() -> None:
    session = FakeSession(transport_kind="fujiptpip", channels=FakeChannels(),
                          device_info=DeviceInfo())  # fmt: skip
    session.states = [[StateEntry(code=0x500E, value=2), StateEntry(code=FILM, value=2)]]
    ext = FujifilmExtension(session)  # type: ignore[arg-type]
    ext.open_session()
    info = ext.synthesise_device_info(DeviceInfo())
    assert info is not None
    assert info.vendor_extension_id == 0xE
    assert info.manufacturer == "FUJIFILM"
    assert {0x100E, 0x9022, 0x902B, 0x101C, 0x1015, 0x1016} <= set(info.operations_supported)
    assert {0xC001, 0xC004, 0x400D, 0x4006} <= set(info.events_supported)
    assert {FILM, ISO, 0x5010, 0x500E, 0xD212, 0xDF01, 0xDF24} <= set(
        info.device_properties_supported
    )
    assert ext.synthesise_device_info(fuji_info()) is None  # a whole one stays


# -- events ----------------------------------------------------------------------------------


def test_poll_emits_only_what_changed() -> None:
    ext, session = opened()
    session.states = [
        [StateEntry(code=FILM, value=2), StateEntry(code=ISO, value=1600)],
        [StateEntry(code=FILM, value=2), StateEntry(code=ISO, value=1600)],
    ]
    assert ext.poll_state() == 1
    assert session.emitted == [(Ec.DEVICE_PROP_CHANGED, (ISO, 1600))]
    assert ext.poll_state() == 0
    assert len(session.emitted) == 1


def test_poller_interval_fast_while_changing_then_backs_off() -> None:
    ext, session = opened()
    poller = ext.event_poller()
    assert poller is not None
    session.states = [[StateEntry(code=ISO, value=200)], [], [], [], [], [], [], [], [], [], []]
    intervals = [poller.poll() for _ in range(11)]
    assert intervals[0] == POLL_FAST_S
    assert intervals[1] > intervals[0]
    assert intervals[-1] == POLL_IDLE_S
    assert next_interval(0.5, 3) == POLL_FAST_S


def test_a_poll_does_not_queue_behind_another_transaction() -> None:
    def busy(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        raise BusyError("a download is under way")

    ext, session = opened()
    poller = ext.event_poller()
    assert poller is not None
    session.handler = busy
    assert poller.poll() == POLL_FAST_S
    assert session.emitted == []


def test_a_state_list_that_does_not_decode_is_not_fatal() -> None:
    def garbage(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if params == (0xD212,):
            return Reply(code=Rc.OK, data=b"\x05\x00\x01")  # 5 entries announced, none there
        return None

    ext, session = opened()
    poller = ext.event_poller()
    assert poller is not None
    session.handler = garbage
    assert poller.poll() == POLL_TROUBLE_S
    session.handler = None
    session.states = [[StateEntry(code=FILM, value=3)]]
    assert poller.poll() == POLL_FAST_S  # the next poll is fine again
    assert session.emitted == [(Ec.DEVICE_PROP_CHANGED, (FILM, 3))]


def test_no_poller_without_a_state_list() -> None:
    def refuse(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        return Reply(code=Rc.DEVICE_PROP_NOT_SUPPORTED) if params == (0xD212,) else None

    session = FakeSession(handler=refuse)
    ext = FujifilmExtension(session)  # type: ignore[arg-type]
    ext.open_session()
    assert ext.event_poller() is None
    assert ext.exposure_state() is None


# -- properties ------------------------------------------------------------------------------


def test_describe_from_902b_with_the_value_read_now() -> None:
    def film(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == Op.GET_DEVICE_PROP_VALUE and params == (FILM,):
            return Reply(code=Rc.OK, data=b"\x03\x00")  # changed since the last 0xD212
        return None

    ext, session = opened()
    session.handler = film
    desc = ext.describe_property(FILM)
    assert desc is not None
    assert desc.current == 3
    assert desc.form == EnumerationForm(values=(1, 2, 3, 11))  # 0x902B's, no GetDevicePropDesc
    assert session.calls == [(Op.GET_DEVICE_PROP_VALUE, (FILM,))]
    assert ext.state[FILM] == 3  # the next poll does not report it again
    assert ext.describe_property(0x5001) is None  # not described: standard GetDevicePropDesc
    assert set(ext.property_codes() or ()) == {FILM, ISO, 0x5010}


def test_describe_falls_back_to_the_state_value() -> None:
    def refuse(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == Op.GET_DEVICE_PROP_VALUE and params == (FILM,):
            return Reply(code=Rc.DEVICE_PROP_NOT_SUPPORTED)
        return None

    ext, session = opened()
    session.handler = refuse
    desc = ext.describe_property(FILM)
    assert desc is not None
    assert desc.current == 2  # 0xD212's value, over 0x902B's


def test_a_property_only_the_state_list_reports_is_still_described() -> None:
    """0xD018 (quality) is in 0xD212 and not in 0x902B; the body answers GetDevicePropDesc
    with nothing usable (Wi-Fi, the Go tool's README): its type comes from the X-T1 dumps."""

    def camera(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == Op.GET_DEVICE_PROP_DESC:
            return Reply(code=Rc.OK, data=b"")
        if code == Op.GET_DEVICE_PROP_VALUE and params == (0xD018,):
            return Reply(code=Rc.OK, data=b"\x04\x00")
        return None

    ext, session = opened()
    session.handler = camera
    session.states = [[StateEntry(code=0xD018, value=4)]]
    ext.poll_state()
    desc = ext.describe_property(0xD018)
    assert desc is not None
    assert desc.datatype is DataType.UINT16
    assert desc.current == 4
    assert desc.writable
    assert ext.format_value(0xD018, desc.current) == "fine + RAW"
    assert ext.set_property(0xD018, 6, desc.datatype)
    assert session.sent[-1] == (0x1016, b"\x06\x00")
    assert ext.describe_property(0x1234) is None  # unknown and not reported: standard PTP


def test_set_is_set_device_prop_value_and_updates_the_cache() -> None:
    ext, session = opened()
    assert ext.set_property(FILM, 11, DataType.UINT16)
    assert session.sent == [(0x1016, b"\x0b\x00")]
    assert ext.state[FILM] == 11
    assert ext.descs[FILM].current == 11
    session.states = [[StateEntry(code=FILM, value=11), StateEntry(code=ISO, value=800)]]
    assert ext.poll_state() == 0  # our own change is no news


def test_values_read_and_written_as_the_go_tool_writes_them() -> None:
    ext, _ = opened()
    assert ext.format_value(FILM, 2) == "Velvia"
    assert ext.format_value(ISO, 0x80001900) == "S 6400"
    assert ext.parse_value(FILM, "classic chrome", None) == 11
    assert ext.parse_value(ISO, "auto 6400", None) == 0x80001900
    assert ext.parse_value(0x5007, "f/5.6", None) is None  # standard: the catalog's
    with pytest.raises(UsageError, match="none of"):
        ext.parse_value(FILM, "kodachrome", None)


def test_exposure_state_is_the_cameras_list_in_its_order() -> None:
    ext, session = opened()
    session.states = [
        [
            StateEntry(code=0x500E, value=1),
            StateEntry(code=SHUTTER, value=4000),
            StateEntry(code=FILM, value=2),
            StateEntry(code=0x5010, value=0xFEB3),
        ]
    ]
    assert ext.exposure_state() == [(0x500E, 1), (SHUTTER, 4000), (FILM, 2), (0x5010, -333)]


# -- capture ---------------------------------------------------------------------------------


def test_capture_golden_sequence_with_preview() -> None:
    ext, session = opened(FakeSession(device_info=fuji_info(ops=(0x902B, 0x9022, 0x1007))))
    session.handler = handles_before_and_after([1, 2], [1, 2, 3])
    capture_script(session)
    outcome = ext.capture(timeout_s=5)
    assert outcome is not None
    assert session.codes() == [Op.GET_OBJECT_HANDLES, Op.INITIATE_CAPTURE, 0x9022,
                               Op.GET_OBJECT_HANDLES, Op.GET_OBJECT_INFO]  # fmt: skip
    assert (Op.INITIATE_CAPTURE, (0, 0)) in session.calls
    assert outcome.preview == JPEG
    assert [o.handle for o in outcome.objects] == [3]
    assert [e.code for e in outcome.events] == [0xC004, 0xC001, Ec.CAPTURE_COMPLETE]
    assert not ext.preview_owed


def test_a_folder_the_shot_created_is_not_a_captured_object() -> None:
    """The first shot on a card creates its folder (100_FUJI): the listing's difference has
    two handles, the picture is one."""
    ext, session = opened(FakeSession(device_info=fuji_info(ops=(0x902B, 0x9022, 0x1007))))
    listing = handles_before_and_after([1], [1, 7, 8])
    folder = ObjectInfo(storage_id=1, object_format=Ofc.ASSOCIATION, association_type=1,
                        filename="100_FUJI")  # fmt: skip
    picture = ObjectInfo(storage_id=1, object_format=Ofc.EXIF_JPEG, filename="DSCF0001.JPG")

    def handler(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == Op.GET_OBJECT_INFO:
            return Reply(code=Rc.OK, data=(folder if params[0] == 7 else picture).to_bytes())
        return listing(code, params, data)

    session.handler = handler
    capture_script(session)
    outcome = ext.capture(timeout_s=5)
    assert outcome is not None
    assert [o.handle for o in outcome.objects] == [8]


@pytest.mark.parametrize(("describable", "objects"), [(True, [6]), (False, [])])
def test_without_a_handle_list_0xc004_names_the_object(
    describable: bool, objects: list[int]
) -> None:
    """libgphoto2 reads 0xC004's first parameter as the new handle; where the camera cannot
    list its handles it is used, if the camera describes it (an X-T1 puts its transaction id
    there, which names no object)."""
    ext, session = opened(FakeSession(device_info=fuji_info(ops=(0x902B, 0x9022))))
    picture = ObjectInfo(storage_id=1, object_format=Ofc.EXIF_JPEG, filename="DSCF0001.JPG")

    def handler(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == Op.GET_OBJECT_INFO:
            if describable:
                return Reply(code=Rc.OK, data=picture.to_bytes())
            return Reply(code=Rc.INVALID_OBJECT_HANDLE)
        return None

    session.handler = handler
    capture_script(session)  # 0xC004 with 6
    outcome = ext.capture(timeout_s=5)
    assert outcome is not None
    assert [o.handle for o in outcome.objects] == objects
    assert (Op.GET_OBJECT_INFO, (6,)) in session.calls  # the listing came empty: no diff


def handles_before_and_after(*lists: list[int]) -> Handler:
    answers = [struct.pack(f"<I{len(h)}I", len(h), *h) for h in lists]

    def handler(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == Op.GET_OBJECT_HANDLES:
            return Reply(code=Rc.OK, data=answers.pop(0))
        return None

    return handler


def test_a_standard_object_added_names_the_new_object() -> None:
    ext, session = opened()
    session.pushed[Op.INITIATE_CAPTURE] = [[ev(Ec.OBJECT_ADDED, 0x42), ev(Ec.CAPTURE_COMPLETE)]]
    outcome = ext.capture(timeout_s=5)
    assert outcome is not None
    assert [o.handle for o in outcome.objects] == [0x42]
    assert outcome.preview == b""  # no PreviewAvailable: nothing to fetch
    assert 0x9022 not in session.codes()


def test_an_owed_preview_is_fetched_before_the_next_shot() -> None:
    """ptp-ip: without GetCapturePreview the camera accepts InitiateCapture and never fires
    again. A PreviewAvailable left queued (nobody fetched it) is fetched first."""
    ext, session = opened()
    session.queue.append(ev(0xC001, 5, len(JPEG)))
    # Fetching the owed preview ends the old capture: its CaptureComplete is not this one's.
    session.pushed[0x9022] = [[ev(Ec.CAPTURE_COMPLETE)]]
    capture_script(session)
    outcome = ext.capture(timeout_s=5)
    assert outcome is not None
    codes = session.codes()
    assert codes.index(0x9022) < codes.index(Op.INITIATE_CAPTURE)
    assert codes.count(0x9022) == 2
    assert [e.code for e in outcome.events] == [0xC004, 0xC001, Ec.CAPTURE_COMPLETE]
    assert outcome.preview == JPEG


def test_a_capture_that_timed_out_owes_the_preview_to_the_next() -> None:
    ext, session = opened()
    session.pushed[Op.INITIATE_CAPTURE] = [[ev(0xC004, 6, 0)]]  # then nothing: the body stalls
    with pytest.raises(TransportTimeout, match="within 2 s"):
        ext.capture(timeout_s=2)
    assert session.clock.monotonic() == pytest.approx(1002.0)  # bounded by the deadline
    # The PreviewAvailable arrives late, after the capture gave up: the next one fetches it.
    session.queue.append(ev(0xC001, 6, len(JPEG)))
    session.pushed[0x9022] = [[ev(Ec.CAPTURE_COMPLETE)]]
    capture_script(session)
    session.calls.clear()
    ext.capture(timeout_s=5)
    assert session.codes()[0] == 0x9022


def test_usb_capture_prepares_pc_mode_once() -> None:
    ext, session = opened(FakeSession(transport_kind="usb"))
    capture_script(session)
    ext.capture(timeout_s=5)
    capture_script(session)
    ext.capture(timeout_s=5)
    assert session.sent[:2] == [(0x1016, b"\x01\x00"), (0x1016, b"\x02\x00")]
    assert session.calls[:2] == [(0x1016, (0xD38C,)), (0x1016, (0xD207,))]
    assert session.codes().count(0x1016) == 2


def test_a_body_without_tether_mode_is_named() -> None:
    def refuse(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        return Reply(code=Rc.ACCESS_DENIED) if params == (0xD38C,) else None

    ext, session = opened(FakeSession(transport_kind="usb"))
    session.handler = refuse
    with pytest.raises(FujiTetherUnsupported, match="no USB tethering"):
        ext.capture(timeout_s=5)


def test_no_partial_reads_on_fujifilm() -> None:
    assert FujifilmExtension.partial_reads is False  # libgphoto2#653


# -- live view -------------------------------------------------------------------------------


def test_wifi_live_view_reads_the_stream_connection() -> None:
    channels = FakeChannels()
    ext, _ = opened(FakeSession(transport_kind="fujiptpip", channels=channels))
    source = ext.live_view()
    assert source is not None
    source.start()
    assert source.frame() == JPEG
    source.stop()
    assert channels.opened[-2:] == ["stream", "closed stream"]


def test_usb_live_view_retries_within_the_deadline() -> None:
    answers = [Rc.INVALID_OBJECT_HANDLE, Rc.INVALID_OBJECT_HANDLE, Rc.DEVICE_BUSY, Rc.OK]

    def camera(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == Op.GET_OBJECT_INFO and params == (LIVE_VIEW_HANDLE,):
            return Reply(code=answers.pop(0))
        if code == Op.GET_OBJECT and params == (LIVE_VIEW_HANDLE,):
            return Reply(code=Rc.OK, data=JPEG)
        return None

    ext, session = opened(FakeSession(transport_kind="usb"))
    session.handler = camera
    source = ext.live_view()
    assert source is not None
    source.start()
    assert (0x101C, (0, 0)) in session.calls
    assert source.frame() == JPEG
    assert session.clock.slept == [0.005, 0.005, 0.001]


def test_usb_live_view_gives_none_at_its_deadline() -> None:
    def never(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == Op.GET_OBJECT_INFO:
            return Reply(code=Rc.INVALID_OBJECT_HANDLE)
        return None

    ext, session = opened(FakeSession(transport_kind="usb", handler=never))
    source = ext.live_view()
    assert source is not None
    source.start()
    started = session.clock.monotonic()
    assert source.frame() is None
    assert session.clock.monotonic() - started == pytest.approx(ext.live_view_frame_timeout_s)


# -- whole flows through the Camera ------------------------------------------------------------


@pytest.fixture
def inprocess() -> Iterator[tuple[Camera, FujiScript]]:
    virtual, script = scripted_camera()
    with virtual, Camera(InProcessTransport(virtual, url="virtual:fuji"), timeout_s=10) as cam:
        yield cam, script


def test_flow_set_up_properties_and_state(inprocess: tuple[Camera, FujiScript]) -> None:
    cam, script = inprocess
    assert [e.name for e in cam.extensions] == ["fuji"]
    # InitSequence 5 and the AppVersion echoed (the body lists InitSequence: Wi-Fi set-up).
    assert script.set_log[:2] == [(0xDF01, 5), (0xDF24, 0x00020001)]
    assert 0x101C in script.ops
    assert cam.get_property_text("film-simulation") == "Velvia"
    assert cam.get_property_text("effect") == "Velvia"  # the Go tool's name
    assert cam.get_property_text("iso") == "S 6400"
    cam.set_property("film-simulation", "classic chrome")
    cam.set_property("iso", "800")
    cam.set_property("effect", "0x3")  # the Go tool's hex form
    assert script.camera.properties[FILM].current() == 3
    assert script.camera.properties[ISO].current() == 800
    with pytest.raises(UsageError, match="allowed"):
        cam.set_property("iso", "12345")
    state = cam.exposure_state()
    assert state is not None
    assert [s.code for s in state][:4] == [0x5001, PROGRAM, FILM, ISO]
    assert SHUTTER not in [s.code for s in state]  # program AE: no shutter listed
    cam.set_property(PROGRAM, 1)  # manual: shutter and aperture join the list
    state = cam.exposure_state()
    assert state is not None
    texts = {s.label: s.text for s in state}
    assert texts["shutter speed"] == "1/250"
    assert texts["f-number"] == "f/5.6"
    assert texts["film simulation"] == "ASTIA"


def test_flow_capture_preview_and_download(
    inprocess: tuple[Camera, FujiScript], tmp_path: Path
) -> None:
    cam, script = inprocess
    result = cam.capture(timeout_s=10)
    assert result.preview == script.preview
    assert len(result) == 1
    assert result[0].handle == script.last_handle
    assert [e.code for e in result.events] == [0xC004, 0xC001, Ec.CAPTURE_COMPLETE]
    saved = cam.download(result[0], tmp_path)
    assert saved is not None
    assert saved.read_bytes()[:2] == b"\xff\xd8"
    # A range is cut from the whole object: no GetPartialObject on a Fujifilm (libgphoto2#653).
    script.ops.clear()
    whole = saved.read_bytes()
    assert cam.read(result[0], 10, 20) == whole[10:30]
    assert Op.GET_PARTIAL_OBJECT not in script.ops
    second = cam.capture(timeout_s=10)  # fires again: the preview was fetched
    assert script.captures == 2
    assert script.ignored_captures == 0
    assert len(second) == 1


def test_flow_poller_events(inprocess: tuple[Camera, FujiScript]) -> None:
    cam, script = inprocess
    script.camera.properties[FILM].set(11)  # changed on the body's dial
    event = cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=5)
    while event.params[:1] != (FILM,):
        event = cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=5)
    assert event.params == (FILM, 11)


def test_flow_usb_style_live_view_in_process(inprocess: tuple[Camera, FujiScript]) -> None:
    cam, script = inprocess
    source = cam.live_view_source()
    source.start()
    assert source.frame() == script.preview
    assert script.live_view_polls == 3  # not there, busy, then the frame
    source.stop()


def test_flow_over_the_fujifilm_variant_with_an_empty_device_info() -> None:
    virtual, script = scripted_camera(empty_info=True)
    with (
        virtual,
        network_server(virtual, "127.0.0.1", 0) as server,
        ptpkit.connect(server.url, timeout_s=10) as cam,
    ):
        assert cam.transport.kind == "fujiptpip"
        assert [e.name for e in cam.extensions] == ["fuji"]  # chosen by the link
        info = cam.device_info
        assert info.manufacturer == "FUJIFILM"  # synthesised
        assert 0x9022 in info.operations_supported
        assert cam.refresh_device_info().manufacturer == "FUJIFILM"  # synthesised again
        assert cam.get_property_text("iso") == "S 6400"
        result = cam.capture(timeout_s=10)
        assert result.preview == script.preview
        assert [e.code for e in result.events] == [0xC004, 0xC001, Ec.CAPTURE_COMPLETE]
        source = cam.live_view_source()
        source.start()
        frame = source.frame()
        source.stop()
        assert frame is not None
        assert frame[:2] == b"\xff\xd8"
