"""The virtual Fujifilm X-T2 (``fuji-x``) through ptpkit's raw transactions: in process (the USB
behaviour) and over Fujifilm's PTP/IP variant (the Wi-Fi behaviour).

What each check stands on is in ``ptpkit.virtual.fujifilm``'s comments (libgphoto2's
library.c/config.c/ptp.h, malc0mn/ptp-ip, petabyt/vcam and fudge)."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.core import fujiptpip as fuji
from ptpkit.core.datasets import DeviceInfo, DevicePropDesc, EnumerationForm, ObjectInfo
from ptpkit.errors import UsageError
from ptpkit.transports.fujiptpip import FujiPtpIpTransport
from ptpkit.virtual import DEFAULT_STORAGE_ID, MODELS, VirtualCamera, personality_for
from ptpkit.virtual import fujifilm as xt
from ptpkit.virtual.fujiserver import FujiPtpIpServer
from ptpkit.virtual.models import parse_virtual_url, virtual_url_options
from ptpkit.virtual.network import network_server

OK = 0x2001
SESSION_ALREADY_OPEN = 0x201E
INVALID_VALUE = 0x201C
INVALID_HANDLE = 0x2009
GET_VALUE, SET_VALUE, GET_DESC = 0x1015, 0x1016, 0x1014


@pytest.fixture(autouse=True)
def _without_the_fujifilm_client() -> Iterator[None]:
    """These tests drive the virtual X-T2 with raw transactions and read its 0xD212 list and
    event connection themselves: the Fujifilm client extension (fuji), which would run the
    session set-up, open the event connection and poll 0xD212 on its own thread, is left out
    of their connections (tests/ext/test_fujifilm_virtual.py runs the two together)."""
    from ptpkit.ext import FujifilmExtension, register, unregister

    unregister(FujifilmExtension.name)
    try:
        yield
    finally:
        register(FujifilmExtension, replace=True)


def u16(value: int) -> bytes:
    return struct.pack("<H", value)


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def state_list(data: bytes) -> list[tuple[int, int]]:
    """0xD212's value: u16 count, then {u16 code, u32 value} records."""
    (count,) = struct.unpack_from("<H", data)
    assert len(data) == 2 + 6 * count
    return [struct.unpack_from("<HI", data, 2 + 6 * i) for i in range(count)]


def read_state(cam: Camera) -> list[tuple[int, int]]:
    result = cam.transaction(GET_VALUE, [xt.CURRENT_STATE])
    assert result.ok
    return state_list(result.data)


def set_up(cam: Camera) -> None:
    """libgphoto2's camera_init for Fujifilm (vendors.md 4.1): InitSequence, AppVersion echo,
    InitiateOpenCapture."""
    assert cam.transaction(SET_VALUE, [xt.INIT_SEQUENCE], data=u16(5)).ok
    version = cam.transaction(GET_VALUE, [xt.APP_VERSION])
    assert cam.transaction(SET_VALUE, [xt.APP_VERSION], data=version.data).ok
    assert cam.transaction(0x101C, [0, 0]).ok


@pytest.fixture
def camera() -> Iterator[VirtualCamera]:
    with VirtualCamera(personality=personality_for("fuji-x")) as camera:
        yield camera


@pytest.fixture
def cam(camera: VirtualCamera) -> Iterator[Camera]:
    with ptpkit.connect("virtual:", camera=camera) as cam:
        yield cam


@pytest.fixture(params=["virtual:", "virtual+usb:"])
def usb(camera: VirtualCamera, request: pytest.FixtureRequest) -> Iterator[Camera]:
    """In process, and as a USB device through PyUSB (events on the interrupt endpoint)."""
    with ptpkit.connect(request.param, camera=camera) as cam:
        yield cam


def test_the_personality_is_an_x_t2_served_over_fujifilms_variant() -> None:
    assert {"generic", "canon-eos", "fuji-x"} <= set(MODELS)  # other models join the list
    p = personality_for("fuji-x")
    assert (p.manufacturer, p.model, p.vendor_extension_id) == ("FUJIFILM", "X-T2", 0x0000000E)
    assert (p.usb_vendor_id, p.usb_product_id, p.ptpip_variant) == (0x04CB, 0x02CD, "fuji")
    url = "virtual:?model=fuji-x&empty_device_info=1&state=changes"
    assert parse_virtual_url(url) == (None, "fuji-x")
    assert virtual_url_options(url) == {"empty_device_info": "1", "state": "changes"}
    with pytest.raises(UsageError, match="its options: empty_device_info, state"):
        ptpkit.connect("virtual:?model=fuji-x&colour=red")
    with pytest.raises(UsageError, match="state takes full or changes"):
        personality_for("fuji-x", {"state": "some"})
    with pytest.raises(UsageError, match=r"takes \?model=NAME"):
        parse_virtual_url("virtual:?model=canon-eos&empty_device_info=1")
    with VirtualCamera(personality=p) as camera:
        server = network_server(camera)  # not started: nothing is bound
        assert isinstance(server, FujiPtpIpServer)  # the variant without being asked
        assert server.requested_port == 55740


def test_session_set_up(cam: Camera) -> None:
    assert cam.transaction(0x1002, [1]).code == SESSION_ALREADY_OPEN
    assert cam.transaction(SET_VALUE, [xt.INIT_SEQUENCE], data=u16(9)).code == INVALID_VALUE
    assert cam.transaction(SET_VALUE, [xt.INIT_SEQUENCE], data=u16(5)).ok
    version = cam.transaction(GET_VALUE, [xt.APP_VERSION])
    assert version.data == u32(xt.X_T2_APP_VERSION) == u32(0x0002000A)
    assert cam.transaction(SET_VALUE, [xt.APP_VERSION], data=u32(0x00020001)).code == INVALID_VALUE
    assert cam.transaction(SET_VALUE, [xt.APP_VERSION], data=version.data).ok
    assert cam.transaction(0x101C, [0, 0]).ok
    assert cam.transaction(GET_VALUE, [xt.CAMERA_STATE]).data == u16(xt.REMOTE_ACCESS)


def test_device_info_lists_fujifilms_operations_and_properties(cam: Camera) -> None:
    info = cam.device_info
    assert info.vendor_extension_desc == "fujifilm.co.jp: 1.0; "
    ops = set(info.operations_supported)
    assert {0x100E, 0x101C, 0x1018, 0x9022, 0x902B} <= ops
    assert not ops & set(range(0x9500, 0x9900))  # not an MTP device
    assert {0xC001, 0xC004, 0x400D} <= set(info.events_supported)
    props = set(info.device_properties_supported)
    assert {0xD001, 0xD018, 0xD02A, 0x500F, 0x5005, 0x500D, 0x5007, 0x5010, 0x500E} <= props
    assert {0x500A, 0xD242, 0xD222, 0xD207, 0xD208, 0xD209, 0xD240, 0xD38C} <= props
    assert not props & {xt.CURRENT_STATE, xt.INIT_SEQUENCE, xt.APP_VERSION}
    for code in props:  # every listed property is describable
        desc = DevicePropDesc.from_bytes(cam.transaction(GET_DESC, [code]).data)
        assert desc.code == code


def test_an_empty_device_info_on_request() -> None:
    with ptpkit.connect("virtual:?model=fuji-x&empty_device_info=1") as cam:
        info = DeviceInfo.from_bytes(cam.transaction(0x1001).data)
        assert (info.manufacturer, info.model, info.vendor_extension_id) == (
            "FUJIFILM",
            "X-T2",
            0xE,
        )
        assert info.operations_supported == info.device_properties_supported == ()
        assert info.events_supported == ()
        assert cam.transaction(GET_VALUE, [xt.FILM_SIMULATION]).data == u16(1)  # still works


def test_fujifilms_get_device_info_lists_the_settable_properties(cam: Camera) -> None:
    data = cam.transaction(xt.FUJI_GET_DEVICE_INFO).data
    (count,) = struct.unpack_from("<I", data)
    offset, codes = 4, []
    for _ in range(count):
        (length,) = struct.unpack_from("<I", data, offset)
        desc = DevicePropDesc.from_bytes(data[offset + 4 : offset + length])
        assert desc.to_bytes() == data[offset + 4 : offset + length]  # length counts itself
        assert desc.writable
        codes.append(desc.code)
        offset += length
    assert offset == len(data)
    assert {0xD001, 0xD02A, 0x5005, 0x5010, 0x500D} <= set(codes)


def test_property_encodings(cam: Camera) -> None:
    def desc(code: int) -> DevicePropDesc:
        return DevicePropDesc.from_bytes(cam.transaction(GET_DESC, [code]).data)

    film = desc(xt.FILM_SIMULATION)
    assert isinstance(film.form, EnumerationForm)
    assert film.form.values == tuple(range(1, 16))  # Provia 1 ... ACROS+G 15
    exposure = desc(0x500D)
    assert isinstance(exposure.form, EnumerationForm)
    # Microseconds on the 2^(n/3) grid: library.c's 10 s, 15 s and 30 s values.
    assert {10079368, 16000000, 32000000, 15625} <= set(exposure.form.values)  # type: ignore[arg-type]
    iso = desc(xt.EXPOSURE_INDEX)
    assert isinstance(iso.form, EnumerationForm)
    assert 0x80001900 in iso.form.values  # auto up to 6400
    assert 0x40000064 in iso.form.values  # L 100
    # The standard ISO sets Fujifilm's, with the extended flag where it belongs.
    assert cam.transaction(SET_VALUE, [0x500F], data=u16(800)).ok
    assert cam.transaction(GET_VALUE, [xt.EXPOSURE_INDEX]).data == u32(800)
    assert cam.transaction(SET_VALUE, [0x500F], data=u16(12800)).ok
    assert cam.transaction(GET_VALUE, [xt.EXPOSURE_INDEX]).data == u32(0x40003200)
    assert cam.transaction(SET_VALUE, [xt.EXPOSURE_INDEX], data=u32(0x80000C80)).ok
    assert cam.transaction(GET_VALUE, [0x500F]).data == u16(3200)
    assert cam.transaction(SET_VALUE, [xt.EXPOSURE_INDEX], data=u32(300)).code == INVALID_VALUE
    assert cam.transaction(SET_VALUE, [0x5010], data=struct.pack("<h", -667)).ok
    assert cam.transaction(SET_VALUE, [xt.BATTERY_LEVEL], data=u16(0xB)).code == 0x200F
    # A property it does not have: OK and no data (ptp-ip on the X-T1), not an error; setting
    # one is refused.
    for operation in (GET_DESC, GET_VALUE):
        unknown = cam.transaction(operation, [0xD0FF])
        assert (unknown.code, unknown.data) == (OK, b"")
    assert cam.transaction(SET_VALUE, [0xD0FF], data=u16(1)).code == 0x200A


def test_the_state_list_reports_changes_then_the_remote_state(cam: Camera) -> None:
    # Outside remote mode: what changed since the last read (first: state and picture count).
    first = dict(read_state(cam))
    assert first == {xt.CAMERA_STATE: xt.REMOTE_ACCESS, xt.OBJECT_COUNT: 7}  # the sample card
    assert read_state(cam) == []
    assert cam.transaction(SET_VALUE, [xt.FILM_SIMULATION], data=u16(11)).ok
    assert cam.transaction(SET_VALUE, [0x5010], data=struct.pack("<h", -333)).ok
    assert read_state(cam) == [(xt.FILM_SIMULATION, 11), (0x5010, 0xFEB3)]
    # In remote mode every read holds the whole remote state (ptp-ip's `state`).
    set_up(cam)
    for _ in range(2):
        state = dict(read_state(cam))
        assert set(xt.REMOTE_STATE) <= set(state)
        assert state[xt.SHUTTER_SPEED] == 15625  # manual exposure: the shutter speed
    assert cam.transaction(SET_VALUE, [0x500E], data=u16(xt.APERTURE_PRIORITY)).ok
    assert dict(read_state(cam))[xt.SHUTTER_SPEED] == xt.CAMERA_CHOOSES
    shutter = DevicePropDesc.from_bytes(cam.transaction(GET_DESC, [xt.SHUTTER_SPEED]).data)
    assert (shutter.current, shutter.writable) == (xt.CAMERA_CHOOSES, False)


def test_the_state_list_of_changes_only_on_request() -> None:
    with ptpkit.connect("virtual:?model=fuji-x&state=changes") as cam:
        set_up(cam)
        assert set(xt.REMOTE_STATE) <= dict(read_state(cam)).keys()  # all, once
        assert read_state(cam) == []
        assert cam.transaction(SET_VALUE, [0x5005], data=u16(0x8006)).ok
        assert read_state(cam) == [(0x5005, 0x8006)]


def test_usb_capture_as_libgphoto2_drives_it(camera: VirtualCamera, usb: Camera) -> None:
    cam = usb
    # library.c camera_fuji_capture: D38C=1, D207=2 (prepare), D208=0x200 + InitiateCapture
    # (focus), poll D209 while 1, D208=0x304 + InitiateCapture (shoot), then ObjectAdded.
    assert cam.transaction(SET_VALUE, [xt.PC_MODE], data=u16(1)).ok
    assert cam.transaction(SET_VALUE, [xt.PRIORITY_MODE], data=u16(2)).ok
    assert cam.transaction(GET_VALUE, [0x500D]).ok
    assert cam.transaction(SET_VALUE, [xt.SHUTTER_ACTION], data=u16(xt.ACTION_AF)).ok
    assert cam.transaction(0x100E, [0, 0]).ok
    statuses = [cam.transaction(GET_VALUE, [xt.AF_STATUS]).data for _ in range(2)]
    assert statuses == [u16(xt.AF_BUSY), u16(xt.AF_OK)]
    assert cam.next_event(timeout_s=0.05) is None  # focusing takes no picture
    assert cam.transaction(SET_VALUE, [xt.SHUTTER_ACTION], data=u16(xt.ACTION_SHOOT)).ok
    assert cam.transaction(0x100E, [0, 0]).ok
    added = cam.next_event(timeout_s=5)
    assert added is not None
    assert added.code == xt.EC_OBJECT_ADDED
    info = ObjectInfo.from_bytes(cam.transaction(0x1008, [added.params[0]]).data)
    assert info.filename == "DSCF0001.JPG"
    complete = cam.next_event(timeout_s=5)
    assert complete is not None
    assert complete.code == 0x400D
    assert complete.transaction_id == added.transaction_id
    assert cam.transaction(0x1009, [added.params[0]]).data == xt.fuji_state(camera).captured[-1][1]
    assert (xt.OBJECT_COUNT, 8) in read_state(cam)  # the sample card's 7 and this one
    # Over USB there is no preview to fetch: the next capture fires at once.
    assert cam.transaction(0x100E, [0, 0]).ok
    assert xt.fuji_state(camera).captured[-1][0] == "DSCF0002.JPG"


def test_the_self_timer_delays_the_picture(
    camera: VirtualCamera, cam: Camera, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CaptureDelay 0x5012 is the X body's self-timer (ptp-ip FujiSelfTimer): InitiateCapture is
    answered at once, the picture and its events come when the timer runs out."""
    assert (xt.SELF_TIMER_SECONDS[2], xt.SELF_TIMER_SECONDS[4]) == (2.0, 10.0)
    monkeypatch.setattr(xt, "SELF_TIMER_SECONDS", {2: 0.5})  # "2 seconds", shortened here
    assert camera.properties[xt.SELF_TIMER].set(2)
    started = time.monotonic()
    assert cam.transaction(0x100E, [0, 0]).ok
    assert xt.fuji_state(camera).captured == []  # not yet
    added = cam.next_event(timeout_s=5)
    assert added is not None
    assert added.code == xt.EC_OBJECT_ADDED
    assert time.monotonic() - started >= 0.45
    assert xt.fuji_state(camera).captured[-1][0] == "DSCF0001.JPG"
    complete = cam.next_event(timeout_s=5)
    assert complete is not None
    assert complete.code == 0x400D


def test_usb_live_view_object_after_initiate_open_capture(
    camera: VirtualCamera, usb: Camera
) -> None:
    cam = usb
    handle = xt.LIVE_VIEW_HANDLE
    assert cam.transaction(0x1008, [handle]).code == INVALID_HANDLE
    set_up(cam)
    for _ in range(2):
        info = ObjectInfo.from_bytes(cam.transaction(0x1008, [handle]).data)
        frame = cam.transaction(0x1009, [handle]).data
        assert info.compressed_size == len(frame)
        assert frame[:2] == b"\xff\xd8"
        assert frame == xt.fuji_state(camera).last_frame
    assert cam.transaction(0x1018, [0]).ok  # TerminateOpenCapture: gone again
    assert cam.transaction(0x1009, [handle]).code == INVALID_HANDLE


@pytest.fixture
def wifi(request: pytest.FixtureRequest) -> Iterator[tuple[VirtualCamera, Camera]]:
    options = getattr(request, "param", {})
    with VirtualCamera(personality=personality_for("fuji-x", options)) as camera:
        server = network_server(camera, port=0, frame_interval_s=0.02)
        assert isinstance(server, FujiPtpIpServer)
        with server, ptpkit.connect(server.url) as cam:
            set_up(cam)
            transport = cam.transport
            assert isinstance(transport, FujiPtpIpTransport)
            transport.open_event_channel()
            yield camera, cam


def test_wifi_capture_needs_the_preview_fetched(wifi: tuple[VirtualCamera, Camera]) -> None:
    camera, cam = wifi
    state = xt.fuji_state(camera)
    assert cam.transaction(0x100E).ok
    added = cam.next_event(timeout_s=5)
    preview = cam.next_event(timeout_s=5)
    assert added is not None
    assert preview is not None
    tid = added.params[1]  # the capture's transaction
    # ptp-ip's X-T1 records: ObjectAdded, then PreviewAvailable with the capture's transaction
    # and the preview size (ptp-ip's "Parameter2", the container's third parameter).
    assert (added.code, added.transaction_id, added.params[1:]) == (0xC004, 1, (tid, 0, 0))
    assert camera.find(added.params[0]) is not None  # the new picture (libgphoto2 reads it)
    assert (preview.code, preview.transaction_id) == (0xC001, 1)
    assert (preview.params[:2], preview.params[3]) == ((tid, tid), 0)
    # Not fetched: the camera takes the request and does nothing.
    assert cam.transaction(0x100E).ok
    assert state.ignored_captures == 1
    assert len(state.captured) == 1
    assert cam.next_event(timeout_s=0.1) is None
    jpeg = cam.transaction(xt.GET_CAPTURE_PREVIEW).data
    assert len(jpeg) == preview.params[2]
    assert jpeg[:2] == b"\xff\xd8"
    complete = cam.next_event(timeout_s=5)
    assert complete is not None
    assert (complete.code, complete.transaction_id) == (0x400D, tid)
    assert cam.transaction(xt.GET_CAPTURE_PREVIEW).code == 0x2010  # nothing to fetch now
    assert cam.transaction(0x100E).ok  # and the shutter works again
    assert len(state.captured) == 2


def test_wifi_live_view_frames_are_the_personalitys(wifi: tuple[VirtualCamera, Camera]) -> None:
    camera, cam = wifi
    transport = cam.transport
    assert isinstance(transport, FujiPtpIpTransport)
    transport.open_stream()
    header, jpeg = fuji.split_frame(transport.read_stream_frame(timeout_s=10))
    assert jpeg[:2] == b"\xff\xd8"
    assert header[4] == 0
    assert xt.fuji_state(camera).frames >= 1
    transport.close_stream()
    # Over Wi-Fi the USB live-view object is not there.
    assert cam.transaction(0x1008, [xt.LIVE_VIEW_HANDLE]).code == INVALID_HANDLE


@pytest.mark.parametrize("wifi", [{"preview_gate": "0"}], indirect=True)
def test_wifi_capture_without_the_preview_gate(wifi: tuple[VirtualCamera, Camera]) -> None:
    camera, cam = wifi
    state = xt.fuji_state(camera)
    for _ in range(2):  # the preview is offered, and not waited for
        assert cam.transaction(0x100E).ok
        codes = [event.code for event in (cam.next_event(timeout_s=5) for _ in range(2)) if event]
        assert codes == [0xC004, 0xC001]
    assert [name for name, _ in state.captured] == ["DSCF0001.JPG", "DSCF0002.JPG"]
    assert state.ignored_captures == 0
    assert cam.transaction(xt.GET_CAPTURE_PREVIEW).data[:2] == b"\xff\xd8"


def test_wifi_capture_records_byte_for_byte() -> None:
    # The event connection read raw: 28-byte USB-style containers (length, type 4, code,
    # transaction id 1, four parameters), as ptp-ip's X-T1 dump shows them.
    with VirtualCamera(personality=personality_for("fuji-x")) as camera:
        server = network_server(camera, port=0)
        assert isinstance(server, FujiPtpIpServer)
        with server, ptpkit.connect(server.url) as cam:
            set_up(cam)
            with socket.create_connection(("127.0.0.1", server.event_port), timeout=5) as events:
                give_up = time.monotonic() + 5
                while server.event_connections < 1 and time.monotonic() < give_up:
                    time.sleep(0.01)
                assert cam.transaction(0x100E).ok
                raw = b""
                while len(raw) < 56:
                    chunk = events.recv(56 - len(raw))
                    assert chunk
                    raw += chunk
            obj = camera.stores[DEFAULT_STORAGE_ID].find("DCIM/100_FUJI/DSCF0001.JPG")
            assert obj is not None
            tid = struct.unpack_from("<I", raw, 16)[0]
            preview_size = len(cam.transaction(xt.GET_CAPTURE_PREVIEW).data)
    assert raw[:28] == struct.pack("<IHHI4I", 28, 4, 0xC004, 1, obj.handle, tid, 0, 0)
    assert raw[28:] == struct.pack("<IHHI4I", 28, 4, 0xC001, 1, tid, tid, preview_size, 0)
