"""The virtual Sony (``sony`` personality) at the transaction level, with the client's Sony
extension kept out of the way (its set-up replaced by nothing): the SDIO handshake's order and
answers, the picture-in-memory and live-view objects, SetControlDeviceA/B checks, the options, the
MTP-mode and Wi-Fi faces (vendors.md section 3 and 8)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.codes.common import Rc
from ptpkit.core import sony
from ptpkit.core.datasets import DeviceInfo, ObjectInfo, encode_value
from ptpkit.core.datatypes import DataType
from ptpkit.errors import UsageError
from ptpkit.ext import SonyExtension, register
from ptpkit.transports.inprocess import InProcessTransport
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.models import personality_for
from ptpkit.virtual.server import PtpIpServer
from ptpkit.virtual.sony import (
    CAPTURE_HANDLE,
    FULL_PRESS,
    HALF_PRESS,
    ISO,
    LIVE_VIEW_HANDLE,
    OBJECT_IN_MEMORY,
    SHUTTER_SPEED,
    parse_options,
    shutter,
    sony_state,
)


@pytest.fixture(autouse=True)
def bare_client() -> Iterator[None]:
    """The client connects without Sony's set-up: each test does the transactions itself."""
    register(
        SonyExtension.with_options(open_session=lambda self: None, poll_events=False),
        replace=True,
    )
    yield
    register(SonyExtension, replace=True)


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[Camera, VirtualCamera]]]:
    opened: list[tuple[Camera, VirtualCamera]] = []

    def make(**options: str) -> tuple[Camera, VirtualCamera]:
        virtual = VirtualCamera(personality=personality_for("sony", options))
        cam = Camera(InProcessTransport(virtual, url="virtual:sony"), timeout_s=10)
        cam.open()
        opened.append((cam, virtual))
        return cam, virtual

    yield make
    for cam, virtual in opened:
        cam.close()
        virtual.close()


def handshake(cam: Camera, version: int = sony.PROTOCOL_3_00) -> sony.ExtDeviceInfo:
    assert cam.transaction(0x9201, [1, 0, 0]).ok
    assert cam.transaction(0x9201, [2, 0, 0]).ok
    answer = cam.transaction(0x9202, [version, 1])
    assert answer.ok
    info = sony.decode_ext_device_info(answer.data)
    assert cam.transaction(0x9201, [3, 0, 0]).ok
    return info


def descs(cam: Camera) -> dict[int, sony.SonyPropDesc]:
    answer = cam.transaction(0x9209)
    assert answer.ok
    return {d.code: d for d in sony.decode_all_prop_info(answer.data)}


def button(cam: Camera, code: int, value: int) -> None:
    assert cam.transaction(0x9207, [code], data=encode_value(DataType.UINT16, value)).ok


def test_the_handshake_in_order_and_the_versions(make) -> None:  # type: ignore[no-untyped-def]
    cam, _ = make()
    # Phase 3 before 0x9202, and phase 2 before phase 1, are refused.
    assert cam.transaction(0x9201, [2, 0, 0]).code == Rc.INVALID_PARAMETER
    assert cam.transaction(0x9201, [1, 0, 0]).data == b""  # a data phase, empty
    assert cam.transaction(0x9201, [2, 0, 0]).ok
    assert cam.transaction(0x9201, [3, 0, 0]).code == Rc.INVALID_PARAMETER
    info = sony.decode_ext_device_info(cam.transaction(0x9202, [0x12C, 1]).data)
    assert info.version == 0x12C
    assert {ISO, SHUTTER_SPEED, 0xD222, OBJECT_IN_MEMORY} <= set(info.property_codes)
    assert {HALF_PRESS, FULL_PRESS, 0xC201, 0xC203} <= set(info.control_codes)
    assert 0xD402 not in info.codes()  # MTP's friendly name is not Sony's
    assert sony.decode_ext_device_info(cam.transaction(0x9202, [0xC8, 1]).data).version == 0xC8
    assert cam.transaction(0x9201, [3, 0, 0]).ok
    # 0x9209 is answered only after phase 3 (it is, now).
    assert descs(cam)[ISO].current == 0xFFFFFF


def test_a_protocol_2_body_answers_0xc8_when_asked_0x12c(make) -> None:  # type: ignore[no-untyped-def]
    cam, _ = make(protocol="200")
    assert handshake(cam).version == sony.PROTOCOL_2_00


def test_settings_need_phase_3(make) -> None:  # type: ignore[no-untyped-def]
    cam, _ = make()
    assert cam.transaction(0x9209).code == Rc.ACCESS_DENIED
    value = encode_value(DataType.UINT32, 800)
    assert cam.transaction(0x9205, [ISO], data=value).code == Rc.ACCESS_DENIED


def test_set_control_device_a_checks_what_it_sets(make) -> None:  # type: ignore[no-untyped-def]
    cam, _virtual = make()
    handshake(cam)
    u32 = DataType.UINT32
    assert cam.transaction(0x9205, [ISO], data=encode_value(u32, 800)).ok
    assert descs(cam)[ISO].current == 800
    assert cam.transaction(0x9205, [ISO], data=encode_value(u32, 801)).code == 0x201C
    assert cam.transaction(0x9205, [ISO], data=b"\x01").code == 0x201B  # too short for a u32
    assert cam.transaction(0x9205, [0xD215], data=b"\x00\x00").code == Rc.ACCESS_DENIED
    assert cam.transaction(0x9205, [0xD2C1], data=b"\x02\x00").code == 0x200A  # a button: B only
    assert cam.transaction(0x9205, [0xDEAD], data=b"\x00").code == 0x200A


def test_read_only_values_are_display_only_in_0x9209(make) -> None:  # type: ignore[no-untyped-def]
    cam, _ = make()
    handshake(cam)
    found = descs(cam)
    assert (found[OBJECT_IN_MEMORY].get_set, found[OBJECT_IN_MEMORY].is_enabled) == (0, 2)
    assert found[ISO].writable
    assert found[HALF_PRESS].get_set == 0x81  # a button


def test_the_picture_is_at_0xffffc001_only_once_in_memory(make) -> None:  # type: ignore[no-untyped-def]
    cam, virtual = make(ready_polls="2")
    state = sony_state(virtual)
    handshake(cam)
    button(cam, HALF_PRESS, 2)
    button(cam, FULL_PRESS, 2)
    button(cam, FULL_PRESS, 1)
    button(cam, HALF_PRESS, 1)
    # Not ready yet: ObjectInMemory below 0x8000 and 0xFFFFC001 refused.
    assert descs(cam)[OBJECT_IN_MEMORY].current == 0
    assert cam.transaction(0x1008, [CAPTURE_HANDLE]).code == Rc.INVALID_OBJECT_HANDLE
    assert cam.transaction(0x1009, [CAPTURE_HANDLE]).code == Rc.INVALID_OBJECT_HANDLE
    assert state.early_reads == 2
    assert descs(cam)[OBJECT_IN_MEMORY].current == 0x8001  # the second read: processed
    info = ObjectInfo.from_bytes(cam.transaction(0x1008, [CAPTURE_HANDLE]).data)
    name, data = state.captured[-1]
    assert (info.filename, info.compressed_size, info.storage_id) == (name, len(data), 0)
    assert cam.transaction(0x1009, [CAPTURE_HANDLE]).data == data
    assert descs(cam)[OBJECT_IN_MEMORY].current == 0  # read: gone from memory


def test_save_destination_decides_card_or_memory(make) -> None:  # type: ignore[no-untyped-def]
    cam, virtual = make(save="both", ready_polls="0")
    state = sony_state(virtual)
    handshake(cam)
    button(cam, FULL_PRESS, 2)
    button(cam, FULL_PRESS, 1)
    name, data = state.captured[-1]
    assert (virtual.root / "DCIM/100MSDCF" / name).read_bytes() == data
    assert descs(cam)[OBJECT_IN_MEMORY].current == 0x8001
    cam2, _virtual2 = make(save="camera", ready_polls="0")
    handshake(cam2)
    button(cam2, FULL_PRESS, 2)
    assert descs(cam2)[OBJECT_IN_MEMORY].current == 0  # the card only


def test_live_view_object_with_its_header(make) -> None:  # type: ignore[no-untyped-def]
    cam, virtual = make(busy_frames="1")
    handshake(cam)
    assert cam.transaction(0x1008, [LIVE_VIEW_HANDLE]).code == Rc.INVALID_OBJECT_HANDLE  # starting
    info = ObjectInfo.from_bytes(cam.transaction(0x1008, [LIVE_VIEW_HANDLE]).data)
    raw = cam.transaction(0x1009, [LIVE_VIEW_HANDLE]).data
    assert len(raw) == info.compressed_size
    frame = sony.decode_live_view(raw)
    assert frame.from_header
    assert frame.jpeg == sony_state(virtual).last_frame
    assert cam.transaction(0x1009, [LIVE_VIEW_HANDLE]).code == Rc.ACCESS_DENIED  # too fast
    assert cam.transaction(0x1009, [LIVE_VIEW_HANDLE]).ok


def test_protocol_2_notches_and_ignored_direct_sets(make) -> None:  # type: ignore[no-untyped-def]
    cam, virtual = make(protocol="200")
    handshake(cam, 0xC8)
    assert cam.transaction(0x9207, [SHUTTER_SPEED], data=b"\x01").ok  # one notch faster
    assert virtual.properties[SHUTTER_SPEED].current() == shutter(1, 160)
    assert cam.transaction(0x9207, [SHUTTER_SPEED], data=b"\xff").ok  # one notch slower
    assert virtual.properties[SHUTTER_SPEED].current() == shutter(1, 125)
    # libgphoto2 2.5.30 sends SetControlDeviceA(0xD20D, 0) after stepping: no effect on 2.00.
    assert cam.transaction(0x9205, [SHUTTER_SPEED], data=bytes(4)).ok
    assert virtual.properties[SHUTTER_SPEED].current() == shutter(1, 125)


def test_mtp_mode_has_no_sdio_operations(make) -> None:  # type: ignore[no-untyped-def]
    cam, virtual = make(mode="mtp")
    info = DeviceInfo.from_bytes(cam.transaction(0x1001).data)
    assert (info.vendor_extension_id, info.manufacturer) == (6, "Sony Corporation")
    assert 0x9201 not in info.operations_supported
    assert cam.transaction(0x9201, [1, 0, 0]).code == Rc.OPERATION_NOT_SUPPORTED
    assert virtual.personality.usb_product_id == 0x0C03  # libgphoto2's "(MTP mode)" id


def test_over_ptpip_the_mtp_vendor_id_and_the_0x9280_gate() -> None:
    virtual = VirtualCamera(personality=personality_for("sony"))
    with virtual, PtpIpServer(virtual, "127.0.0.1", 0) as server:
        with ptpkit.connect(f"ptpip:127.0.0.1:{server.port}") as cam:
            info = DeviceInfo.from_bytes(cam.transaction(0x1001).data)
            assert info.vendor_extension_id == 0xFFFFFFFF  # libgphoto2's PTP_VENDOR_MTP
            everything = [0xFFFFFFFF, 0, 0xFFFFFFFF]
            assert cam.transaction(0x1007, everything).code == Rc.ACCESS_DENIED
            assert cam.transaction(0x9280, [4], data=b"\x01" + bytes(15)).code == 0x201D
            assert cam.transaction(0x9280, [4], data=sony.encode_wifi_block(sony.WIFI_OPEN)).ok
            assert cam.transaction(0x9281, [4]).ok
            assert cam.transaction(0x1007, everything).ok
        assert sony_state(virtual).wifi_log == [sony.WIFI_OPEN]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"protocol": "250"}, "300 or 200"),
        ({"mode": "usb"}, "remote or mtp"),
        ({"save": "sd"}, "pc, camera or both"),
        ({"ready_polls": "-1"}, "a count"),
        ({"colour": "red"}, "no option 'colour'"),
    ],
)
def test_bad_options_are_usage_errors(options: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_options(options)
    with pytest.raises(UsageError):
        ptpkit.connect("virtual:?model=sony&" + "&".join(f"{k}={v}" for k, v in options.items()))
