"""The Sony extension ``sony`` against the virtual ILCE-7M3 (``sony`` personality), in process on
a FakeClock (no poller thread: the tests poll themselves) and over PTP/IP on 127.0.0.1: the SDIO
handshake in both protocol versions, 0x9209 as the property source, settings by text, capture
with the not-ready-yet rule, live view with its retries, the errors Sony users hit in words, Sony
over Wi-Fi."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from tests.helpers import watch_operations

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.codes.common import Ec, Op
from ptpkit.core import sony as sony_core
from ptpkit.errors import TransportTimeout
from ptpkit.ext import SonyExtension, register
from ptpkit.ext.sony import (
    CAPTURE_HANDLE,
    LIVE_VIEW_NOT_READY_S,
    LIVE_VIEW_TOO_FAST_S,
    SonyRemoteModeError,
    SonySaveDestinationError,
)
from ptpkit.testing import FakeClock
from ptpkit.transports.inprocess import InProcessTransport
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.models import personality_for
from ptpkit.virtual.server import PtpIpServer
from ptpkit.virtual.sony import (
    FULL_PRESS,
    HALF_PRESS,
    ISO,
    SET_CONTROL_DEVICE_A,
    SET_CONTROL_DEVICE_B,
    SHUTTER_SPEED,
    SonyState,
    shutter,
    sony_state,
)

GET_ALL = 0x9209


@pytest.fixture(autouse=True)
def no_poller_thread() -> Iterator[None]:
    """The extension without its poller thread (a FakeClock would make it spin)."""
    register(SonyExtension.with_options(poll_events=False), replace=True)
    yield
    register(SonyExtension, replace=True)


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[Camera, VirtualCamera, SonyState, FakeClock]]]:
    opened: list[tuple[Camera, VirtualCamera]] = []

    def make(**options: str) -> tuple[Camera, VirtualCamera, SonyState, FakeClock]:
        virtual = VirtualCamera(personality=personality_for("sony", options))
        clock = FakeClock()
        cam = Camera(InProcessTransport(virtual, url="virtual:sony"), timeout_s=10, clock=clock)
        cam.open()
        opened.append((cam, virtual))
        return cam, virtual, sony_state(virtual), clock

    yield make
    for cam, virtual in opened:
        cam.close()
        virtual.close()


def count_calls(virtual: VirtualCamera) -> Counter[int]:
    counter: Counter[int] = Counter()
    watch_operations(virtual, lambda ctx: counter.update([ctx.request.code]))
    return counter


def log_calls(virtual: VirtualCamera, codes: set[int]) -> list[tuple[int, int]]:
    """(operation, first parameter) of each of ``codes`` the camera answers, in order."""
    calls: list[tuple[int, int]] = []
    watch_operations(virtual, lambda ctx: calls.append((ctx.request.code, ctx.param(0))), codes)
    return calls


def sony_ext(cam: Camera) -> SonyExtension:
    return next(ext for ext in cam.extensions if isinstance(ext, SonyExtension))


# -- the handshake ---------------------------------------------------------------------------------


def test_handshake_protocol_3_merges_the_codes_into_device_info(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, state, _ = make()
    ext = sony_ext(cam)
    assert ext.remote
    assert ext.protocol == sony_core.PROTOCOL_3_00
    info = cam.device_info
    assert info.vendor_extension_id == 0x11
    assert {ISO, SHUTTER_SPEED, 0xD222, 0xD215}.issubset(info.device_properties_supported)
    assert {0xC201, 0xC203}.issubset(info.events_supported)
    # PriorityMode 0xD25A = 1 ("application"), as libgphoto2 sets it after phase 3.
    assert (SET_CONTROL_DEVICE_A, 0xD25A, 1) in state.control_log
    assert all(conn.phase == 3 for conn in state.connections.values())


def test_handshake_falls_back_to_protocol_2(make) -> None:  # type: ignore[no-untyped-def]
    cam, *_ = make(protocol="200")
    assert sony_ext(cam).protocol == sony_core.PROTOCOL_2_00


def test_empty_ext_device_info_answers_are_asked_again(make) -> None:  # type: ignore[no-untyped-def]
    cam, _, _, clock = make(empty_ext_info="3")
    assert sony_ext(cam).remote
    assert clock.slept.count(0.05) == 3


def test_a_body_that_never_answers_0x9202_is_an_error_in_words() -> None:
    virtual = VirtualCamera(personality=personality_for("sony", {"empty_ext_info": "25"}))
    with virtual, pytest.raises(TransportTimeout, match="empty 20 times"):
        Camera(InProcessTransport(virtual), timeout_s=10, clock=FakeClock()).open()


# -- properties ------------------------------------------------------------------------------------


def test_values_read_as_photographers_write_them(make) -> None:  # type: ignore[no-untyped-def]
    cam, *_ = make()
    assert cam.get_property_text("iso") == "Auto"
    assert cam.get_property_text("shutterspeed") == "1/125"
    assert cam.get_property_text("f-number") == "f/5.6"
    assert cam.get_property_text("capturetarget") == "computer"
    assert cam.get_property_text("focusmode") == "AF-S"


@pytest.mark.parametrize(
    ("name", "text", "code", "value", "shown"),
    [
        ("iso", "800", ISO, 800, "800"),
        ("iso", "auto", ISO, 0xFFFFFF, "Auto"),
        ("shutterspeed", "1/250", SHUTTER_SPEED, shutter(1, 250), "1/250"),
        ("shutterspeed", '2.5"', SHUTTER_SPEED, shutter(25, 10), "2.5"),
        ("f-number", "f/8", 0x5007, 800, "f/8"),
        ("exposure-compensation", "+2/3", 0x5010, 700, "+0.7"),
        ("exposure-compensation", "-1 1/3", 0x5010, -1300, "-1.3"),
        ("whitebalance", "shade", 0x5005, 0x8011, "shade"),
    ],
)
def test_settings_by_text_go_through_set_control_device_a(  # type: ignore[no-untyped-def]
    make, name: str, text: str, code: int, value: int, shown: str
) -> None:
    cam, virtual, state, _ = make()
    cam.set_property(name, text)
    assert virtual.properties[code].current() == value
    assert (SET_CONTROL_DEVICE_A, code, value & 0xFFFFFFFF if value >= 0 else value) in [
        (op, c, v) for op, c, v in state.control_log
    ]
    assert cam.get_property_text(name) == shown


def test_protocol_2_steps_the_shutter_speed_by_notches(make) -> None:  # type: ignore[no-untyped-def]
    cam, virtual, state, _ = make(protocol="200")
    cam.set_property("shutterspeed", "1/250")
    assert virtual.properties[SHUTTER_SPEED].current() == shutter(1, 250)
    steps = [entry for entry in state.control_log if entry[0] == SET_CONTROL_DEVICE_B]
    assert [code for _, code, _ in steps] == [SHUTTER_SPEED] * 3  # 1/160, 1/200, 1/250
    assert all(raw == 1 for *_, raw in steps)
    cam.set_property("iso", "auto")  # back down from the default Auto: nothing to do
    cam.set_property("iso", "100")
    assert virtual.properties[ISO].current() == 100


def test_0x9209_is_reread_not_cached_past_one_listing(make) -> None:  # type: ignore[no-untyped-def]
    cam, virtual, state, clock = make()
    calls = count_calls(virtual)
    clock.advance(1.0)  # past the answer read at the connection
    cam.get_property_text("iso")
    cam.get_property_text("shutterspeed")
    assert calls[GET_ALL] == 1  # one answer for one listing
    state.put(ISO, 3200)  # changed on the camera: Sony's 0xC203 carries no value
    clock.advance(1.0)
    assert cam.get_property_text("iso") == "3200"
    assert calls[GET_ALL] == 2


def test_a_poll_reports_changes_with_their_values(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, state, _ = make()
    state.put(ISO, 1600)
    assert sony_ext(cam).poll() == 1
    events = [e for e in iter(lambda: cam.next_event(0), None) if e.code == Ec.DEVICE_PROP_CHANGED]
    assert (ISO, 1600) in [tuple(e.params) for e in events]


# -- capture ---------------------------------------------------------------------------------------


def test_capture_presses_waits_and_reads_only_when_ready(make, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cam, virtual, state, _ = make(ready_polls="6")
    result = cam.capture()
    (entry,) = result
    assert entry.handle == CAPTURE_HANDLE
    assert entry.in_memory
    assert entry.name == state.captured[-1][0]
    buttons = [(code, raw) for op, code, raw in state.control_log if op == SET_CONTROL_DEVICE_B]
    assert buttons == [(HALF_PRESS, 2), (FULL_PRESS, 2), (FULL_PRESS, 1), (HALF_PRESS, 1)]
    assert state.early_reads == 0  # 0xFFFFC001 never asked before ObjectInMemory >= 0x8000
    cam.download(entry, tmp_path / "pic.jpg")
    assert (tmp_path / "pic.jpg").read_bytes() == state.captured[-1][1]
    assert virtual.properties[0xD215].current() == 0  # fetched: the camera dropped it


def test_the_first_capture_waits_until_3_s_after_connecting(make) -> None:  # type: ignore[no-untyped-def]
    # library.c camera_sony_capture: an A7 III (and other recent bodies) right after connecting.
    cam, _virtual, _state, clock = make(ready_polls="0")
    connected = clock.monotonic()
    cam.capture()
    assert clock.monotonic() - connected == pytest.approx(3.0, abs=0.01)
    started = clock.monotonic()
    cam.capture()  # later ones do not wait
    assert clock.monotonic() - started < 0.5


def test_capture_with_manual_focus_does_not_wait_for_focus(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, _state, clock = make(ready_polls="0")
    cam.set_property("focusmode", "manual")
    clock.advance(5.0)  # past the settle time after connecting
    started = clock.monotonic()
    cam.capture()
    assert clock.monotonic() == started  # no focus wait, the picture was ready at once


def ready_now(state: SonyState) -> None:
    """The picture the camera is processing reaches memory now (as after its 0x9209 reads)."""
    with state.lock:
        assert state.processing is not None
        _, picture = state.processing
        state.processing = None
        state.finish(picture)


def test_a_waiting_picture_is_delivered_with_the_capture_and_none_is_dropped(
    make, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    cam, virtual, state, _ = make(ready_polls="0")
    state.fire()  # the camera's own shutter in "PC only": a picture nobody fetched yet
    calls = count_calls(virtual)
    result = cam.capture()
    # libgphoto2 would have read the first one out and thrown it away: nothing is read here.
    assert calls[Op.GET_OBJECT] == 0
    assert [p.name for p in state.in_memory] == [name for name, _ in state.captured[-2:]]
    old, new = result
    assert (old.handle, new.handle) == (CAPTURE_HANDLE, CAPTURE_HANDLE)
    assert old.in_memory
    assert new.in_memory
    # The oldest is described now; the next only in its turn (0xFFFFC001 hands out the oldest).
    assert old.name == state.captured[-2][0]
    assert not old.in_turn
    assert new.in_turn
    calls = log_calls(virtual, {Op.GET_OBJECT_INFO, Op.GET_OBJECT})
    saved = [cam.download(entry, tmp_path) for entry in result]
    assert [(path.name, path.read_bytes()) for path in saved if path] == state.captured[-2:]
    # The second is described in its turn: GetObjectInfo just before its GetObject.
    info, get = (Op.GET_OBJECT_INFO, CAPTURE_HANDLE), (Op.GET_OBJECT, CAPTURE_HANDLE)
    assert calls == [get, info, get]
    assert virtual.properties[0xD215].current() == 0  # both fetched: the camera let them go


def test_several_waiting_pictures_come_oldest_first_then_the_new_one(make, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, state, _ = make(ready_polls="0")
    state.fire()
    state.fire()
    result = cam.capture()
    assert len(result) == 3
    # read() also describes an entry in its turn just before reading it.
    assert [cam.read(entry) for entry in result] == [data for _, data in state.captured[-3:]]
    assert not state.in_memory


def test_a_capture_not_downloaded_is_delivered_by_the_next_capture(make, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, state, _ = make(ready_polls="0")
    (first,) = cam.capture()
    second = cam.capture()  # the first picture was not downloaded: still in the camera
    assert [entry.in_turn for entry in second] == [False, True]
    assert second[0].name == first.name == state.captured[-2][0]
    names = [path.name for path in (cam.download(e, tmp_path) for e in second) if path]
    assert names == [name for name, _ in state.captured[-2:]]


def test_the_wait_for_the_new_picture_does_not_end_on_the_waiting_one(make, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cam, virtual, state, clock = make(ready_polls="3")
    clock.advance(5.0)  # past the settle time after connecting
    state.fire()
    ready_now(state)  # one picture waiting: ObjectInMemory 0x8001 before the press
    calls = count_calls(virtual)
    result = cam.capture()
    # The new picture took 3 reads of 0x9209 to reach memory; the capture waited for it (the
    # waiting one alone, count > 0, would have ended the wait at the first read).
    assert state.processing is None
    assert len(state.in_memory) == 2
    assert calls[GET_ALL] >= 4
    assert len(result) == 2
    assert [cam.read(entry) for entry in result] == [data for _, data in state.captured[-2:]]


def test_the_deadline_bounds_the_capture_with_pictures_waiting(make) -> None:  # type: ignore[no-untyped-def]
    cam, virtual, state, clock = make(ready_polls="100")
    clock.advance(5.0)
    state.fire()
    ready_now(state)
    calls = count_calls(virtual)
    started = clock.monotonic()
    with pytest.raises(TransportTimeout, match="picture ready"):
        cam.capture(timeout_s=2.0)
    assert clock.monotonic() - started == pytest.approx(2.0, abs=0.06)
    assert calls[Op.GET_OBJECT] == 0
    assert [p.name for p in state.in_memory] == [state.captured[-2][0]]  # kept, not read


def test_a_picture_never_ready_times_out_under_one_deadline(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, state, clock = make(ready_polls="100")
    clock.advance(5.0)  # past the settle time after connecting
    started = clock.monotonic()
    with pytest.raises(TransportTimeout, match="picture ready"):
        cam.capture(timeout_s=2.0)
    assert clock.monotonic() - started == pytest.approx(2.0, abs=0.06)
    assert state.early_reads == 0
    assert not state.half_pressed
    assert not state.full_pressed


def test_save_destination_camera_only_is_an_error_in_words(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, state, _ = make(save="camera")
    with pytest.raises(SonySaveDestinationError) as raised:
        cam.capture()
    assert "Still Image Save Destination" in str(raised.value)
    assert "PC+Camera" in str(raised.value)
    assert not state.control_log[1:]  # nothing pressed (only PriorityMode at connect)


def test_mtp_mode_files_work_capture_says_pc_remote(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, _state, _ = make(mode="mtp")
    assert not sony_ext(cam).remote
    assert [entry.name for entry in cam.list_folder()]  # the card is there
    with pytest.raises(SonyRemoteModeError, match='"PC Remote"'):
        cam.capture()
    with pytest.raises(SonyRemoteModeError, match="USB Connection"):
        cam.set_property(ISO, 800)


def test_the_camera_shutter_button_is_an_object_added_for_tether(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, state, _ = make(ready_polls="0")
    ext = sony_ext(cam)
    ext.poll()
    state.fire()
    ext.poll()
    added = [e for e in iter(lambda: cam.next_event(0), None) if e.code == Ec.OBJECT_ADDED]
    assert [e.params[0] for e in added] == [CAPTURE_HANDLE]
    entry = cam.event_entry(added[0])
    assert entry.in_memory
    assert entry.in_turn  # described just before it is read
    assert cam.describe_now(entry).name == state.captured[-1][0]


def test_two_shots_between_polls_are_two_object_added_downloaded_in_turn(make, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, state, _ = make(ready_polls="0")
    ext = sony_ext(cam)
    ext.poll()
    state.fire()
    state.fire()
    ext.poll()
    added = [e for e in iter(lambda: cam.next_event(0), None) if e.code == Ec.OBJECT_ADDED]
    assert [e.params[0] for e in added] == [CAPTURE_HANDLE, CAPTURE_HANDLE]
    saved = []
    for event in added:  # as tether does: each described just before it is read
        path = cam.download(cam.event_entry(event), tmp_path)
        assert path is not None
        saved.append((path.name, path.read_bytes()))
    assert saved == state.captured[-2:]
    ext.poll()  # the count going down is no new picture
    assert not [e for e in iter(lambda: cam.next_event(0), None) if e.code == Ec.OBJECT_ADDED]


# -- live view -------------------------------------------------------------------------------------


def test_live_view_retries_while_starting_and_when_asked_too_fast(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, _state, clock = make(busy_frames="2")
    source = cam.live_view_source()
    source.start()
    first = source.frame()
    second = source.frame()
    source.stop()
    assert first is not None
    assert first[:2] == b"\xff\xd8"
    assert second is not None
    assert second[:2] == b"\xff\xd8"
    # InvalidObjectHandle once while live view starts, then AccessDenied twice after a frame.
    assert clock.slept.count(LIVE_VIEW_NOT_READY_S) == 1
    assert clock.slept.count(LIVE_VIEW_TOO_FAST_S) == 2


def test_live_view_gives_up_after_its_tries(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual, _state, _clock = make(busy_frames="100")
    source = cam.live_view_source()
    source.start()
    assert source.frame() is not None
    assert source.frame() is None  # 50 tries, 20 ms each: the 1 s frame deadline passes


# -- Sony over Wi-Fi -------------------------------------------------------------------------------


def test_over_ptpip_0x9280_opens_file_access_and_closes_it() -> None:
    virtual = VirtualCamera(personality=personality_for("sony"))
    with virtual, PtpIpServer(virtual, "127.0.0.1", 0) as server:
        with ptpkit.connect(f"ptpip:127.0.0.1:{server.port}") as cam:
            assert cam.device_info.manufacturer == "Sony Corporation"
            assert "sony" in [ext.name for ext in cam.extensions]
            assert [entry.name for entry in cam.list_folder()]
        state = sony_state(virtual)
        assert state.wifi_log == [sony_core.WIFI_OPEN, sony_core.WIFI_CLOSE]


def test_over_ptpip_the_card_is_closed_without_0x9280() -> None:
    virtual = VirtualCamera(personality=personality_for("sony"))
    with virtual, PtpIpServer(virtual, "127.0.0.1", 0) as server:
        register(SonyExtension.with_options(poll_events=False, open_session=lambda self: None),
                 replace=True)  # fmt: skip
        with ptpkit.connect(f"ptpip:127.0.0.1:{server.port}") as cam:
            result = cam.transaction(Op.GET_OBJECT_HANDLES, [0xFFFFFFFF, 0, 0xFFFFFFFF])
            assert result.name == "AccessDenied"
