"""ptpkit's Nikon client (the ``nikon`` extension) against the virtual Nikon D850, over every
transport of the scenario suite (in-process, PTP/IP on 127.0.0.1, virtual USB): Nikon value
texts, vendor properties from GetVendorPropCodes, capture to SDRAM and to the card delivered by
GetEvent, DeviceReady busy periods, events polled to the event stream, 64-bit reads, live view and
its refusal reasons."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.helpers import watch_operations

from ptpkit.client.camera import Camera
from ptpkit.codes.common import Ec
from ptpkit.core.nikon import NikonEvent
from ptpkit.errors import DeviceBusyError
from ptpkit.ext.base import CapturedObject
from ptpkit.ext.nikon import NikonLiveViewRefused
from ptpkit.virtual import VirtualCamera, generated_bytes
from ptpkit.virtual.nikon import (
    GET_OBJECT_SIZE,
    GET_PARTIAL_OBJECT_EX,
    SDRAM_HANDLE,
    NikonState,
    nikon_state,
    personality,
)

if TYPE_CHECKING:
    from conftest import Rig


@pytest.fixture
def nikon(make_rig: Callable[..., Rig], card: Path) -> Rig:
    return make_rig(VirtualCamera(card, personality=personality()))


def state(rig: Rig) -> NikonState:
    return nikon_state(rig.vcam)


def wait_for(cam: Camera, code: int, timeout_s: float = 10.0) -> object:
    for event in cam.events(timeout_s):
        if event.code == code:
            return event
    raise AssertionError(f"no event 0x{code:04X} within {timeout_s} s")


def test_the_nikon_extension_is_chosen(nikon: Rig) -> None:
    assert [ext.name for ext in nikon.cam.extensions] == ["nikon"]


def test_vendor_properties_come_from_get_vendor_prop_codes(nikon: Rig) -> None:
    codes = set(nikon.cam.property_codes())
    assert {0xD100, 0xD10B, 0xD1A2, 0xD1A4, 0x500F, 0x5007} <= codes
    # Not in DeviceInfo: a D850 lists them only through 0x90CA.
    assert 0xD100 not in nikon.cam.device_info.device_properties_supported


@pytest.mark.parametrize(
    ("prop", "text", "raw"),
    [
        (0xD100, "1/250", 0x000100FA),
        (0xD100, "1/2.5", 0x000A0019),
        (0xD100, "30s", 0x001E0001),
        (0xD100, "Bulb", 0xFFFFFFFF),
        (0x5005, "Cloudy", 0x8010),
        (0x5004, "NEF+Fine", 7),
        (0x500A, "AF-C", 0x8011),
        (0xD10B, "card", 0),
        (0x5007, "f/8", 800),
        (0x500F, "800", 800),
    ],
)
def test_set_and_get_as_photographers_write_them(
    nikon: Rig, prop: int, text: str, raw: int
) -> None:
    nikon.cam.set_property(prop, text)
    assert nikon.cam.get_property(prop) == raw
    assert nikon.cam.get_property_text(prop) == text
    assert nikon.vcam.properties[prop].current() == raw


def test_shutterspeed2_names_the_nikon_shutter_and_follows_the_standard_one(nikon: Rig) -> None:
    assert nikon.cam.property_code("shutterspeed2") == 0xD100
    nikon.cam.set_property("shutterspeed2", "1/250")
    assert nikon.cam.get_property_text(0x500D) == "1/250"  # 0x500D in 0.0001 s: 40
    nikon.cam.set_property("shutter", "1/1000")
    assert nikon.cam.get_property_text("shutterspeed2") == "1/1000"


def test_a_value_the_camera_does_not_list_is_refused(nikon: Rig) -> None:
    from ptpkit.errors import UsageError

    with pytest.raises(UsageError, match="not allowed"):
        nikon.cam.set_property(0xD100, "1/3")


def test_liveview_prohibit_condition_in_words(nikon: Rig) -> None:
    state(nikon).prohibit = 1 << 8 | 1 << 14
    assert nikon.cam.get_property_text(0xD1A4) == (
        "the battery is too low; there is no memory card"
    )


def test_capture_to_sdram_downloads_and_frees_the_picture(nikon: Rig, tmp_path: Path) -> None:
    files_before = nikon.card_tree()
    result = nikon.cam.capture(timeout_s=20)
    (entry,) = result
    assert entry.in_memory
    assert entry.handle == SDRAM_HANDLE
    name, data = state(nikon).captured[-1]
    assert entry.name == name
    saved = tmp_path / name
    nikon.cam.download(entry, saved)
    assert saved.read_bytes() == data
    assert state(nikon).sdram is None  # deleted after the download, as libgphoto2 does
    assert nikon.card_tree() == files_before  # nothing written to the card
    answer = [(event.code, tuple(event.params)) for event in result.events]
    assert answer == [(0xC101, (SDRAM_HANDLE,)), (0xC102, (0,))]


def test_capture_to_the_card(nikon: Rig, tmp_path: Path) -> None:
    nikon.cam.set_property("recordingmedia", "card")
    (entry,) = nikon.cam.capture(timeout_s=20)
    assert not entry.in_memory
    name, data = state(nikon).captured[-1]
    assert entry.name == name
    assert (nikon.card / entry.path.split("/", 2)[2]).read_bytes() == data
    saved = tmp_path / name
    nikon.cam.download(entry, saved)
    assert saved.read_bytes() == data


def test_capture_waits_out_device_ready_and_a_busy_capture_operation(nikon: Rig) -> None:
    vstate = state(nikon)
    vstate.busy_answers_after_capture = 12  # more than one run's own busy retries
    vstate.refuse_captures = 3
    (entry,) = nikon.cam.capture(timeout_s=30)
    assert entry.in_memory
    assert vstate.refuse_captures == 0
    assert vstate.busy_answers == 0  # DeviceReady was asked until it said OK


def test_a_capture_keeps_its_answer_out_of_the_event_queue(nikon: Rig) -> None:
    nikon.cam.capture(timeout_s=20)
    nikon.cam.set_property(0x500F, "400")
    queued = [event.code for event in nikon.cam.events(timeout_s=1.0)]
    assert 0xC101 not in queued
    assert 0xC102 not in queued
    assert Ec.DEVICE_PROP_CHANGED in queued  # the ISO change, polled through GetEvent


def test_tether_sees_a_picture_taken_on_the_camera(nikon: Rig) -> None:
    """A shot on the body with the computer as target: ObjectAddedInSDRAM in GetEvent, and the
    standard ObjectAdded with the object described (what `tether` downloads)."""
    vstate = state(nikon)
    with nikon.vcam.lock:
        from ptpkit.virtual.nikon import _take_to_sdram

        _take_to_sdram(nikon.vcam, vstate)
    event = wait_for(nikon.cam, Ec.OBJECT_ADDED)
    details = getattr(event, "details", None)
    assert isinstance(details, CapturedObject)
    assert details.in_memory
    assert nikon.cam.event_entry(event).name == vstate.captured[-1][0]  # type: ignore[arg-type]


def test_unknown_events_are_delivered_as_they_came(nikon: Rig) -> None:
    state(nikon).queue(nikon.vcam, NikonEvent(code=0xC10C, params=(7,)))
    event = wait_for(nikon.cam, 0xC10C)
    assert tuple(event.params) == (7,)  # type: ignore[attr-defined]


def test_an_object_past_4_gib_is_sized_and_read_with_the_64_bit_operations(
    make_rig: Callable[..., Rig], card: Path
) -> None:
    size = (4 << 30) + 4096
    vcam = VirtualCamera(card, personality=personality())
    handle = vcam.add_generated_object(size, seed=3)
    calls: list[int] = []
    watch_operations(
        vcam, lambda ctx: calls.append(ctx.request.code), (GET_OBJECT_SIZE, GET_PARTIAL_OBJECT_EX)
    )
    rig = make_rig(vcam)
    entry = rig.cam.entry(handle)
    assert entry.size == size  # ObjectInfo's 0xFFFFFFFF, then GetObjectSize's u64
    offset = (4 << 30) + 100
    assert rig.cam.read(entry, offset, 500) == generated_bytes(size, seed=3, offset=offset)[:500]
    assert GET_OBJECT_SIZE in calls
    assert GET_PARTIAL_OBJECT_EX in calls


def test_live_view_frames(nikon: Rig) -> None:
    source = nikon.cam.live_view_source()
    source.start()
    try:
        assert state(nikon).live_view
        frames = [source.frame() for _ in range(4)]
    finally:
        source.stop()
    got = [frame for frame in frames if frame is not None]
    assert got
    assert got[-1] == state(nikon).last_frame  # the JPEG, without the 384-byte header
    assert got[-1].startswith(b"\xff\xd8")
    assert not state(nikon).live_view


def test_live_view_restarts_after_not_live_view(nikon: Rig) -> None:
    state(nikon).live_view_frame_limit = 2
    source = nikon.cam.live_view_source()
    source.start()
    try:
        frames = [source.frame() for _ in range(5)]
    finally:
        source.stop()
    assert sum(frame is not None for frame in frames) >= 4


def test_live_view_refused_in_words(nikon: Rig) -> None:
    state(nikon).prohibit = 1 << 14 | 1 << 24  # no card; lens retracting does not refuse
    source = nikon.cam.live_view_source()
    with pytest.raises(NikonLiveViewRefused, match="there is no memory card") as caught:
        source.start()
    assert "the lens is retracting" in caught.value.reasons
    assert not state(nikon).live_view


def test_live_view_on_means_capture_without_af(nikon: Rig) -> None:
    source = nikon.cam.live_view_source()
    source.start()
    try:
        (entry,) = nikon.cam.capture(timeout_s=20)  # the camera refuses AF in live view
    finally:
        source.stop()
    assert entry.in_memory


def test_device_busy_forever_is_a_named_error_not_a_hang(nikon: Rig) -> None:
    state(nikon).refuse_captures = 10_000
    with pytest.raises(DeviceBusyError):
        nikon.cam.capture(timeout_s=2)


def test_the_seeds_flow_raw_capture_then_the_object_added_event(nikon: Rig) -> None:
    """The Python ptpip tool's Nikon flow (../shared/seeds/002): InitiateCaptureRecInMedia
    (0xFFFFFFFF, 0) sent raw, then the ObjectAdded the camera announces in GetEvent, here
    delivered by the extension's poller, and GetObject of the handle it names."""
    cam = nikon.cam
    assert cam.transaction(0x9207, [0xFFFFFFFF, 0]).ok
    event = wait_for(cam, Ec.OBJECT_ADDED)
    handle = event.params[0]  # type: ignore[attr-defined]
    name, data = state(nikon).captured[-1]
    assert cam.transaction(0x1009, [handle]).data == data
    assert cam.entry(handle).name == name


def test_an_older_body_with_get_event_only_and_a_64_byte_live_view_header(
    make_rig: Callable[..., Rig], card: Path, tmp_path: Path
) -> None:
    """``virtual:?model=nikon&get_event_ex=0&live_view_header=64``: the client polls GetEvent
    0x90C7 (not listed: GetEventEx) and finds the JPEG after the 64-byte header."""
    from ptpkit.virtual import personality_for

    vcam = VirtualCamera(
        card, personality=personality_for("nikon", {"get_event_ex": "0", "live_view_header": "64"})
    )
    rig = make_rig(vcam)
    assert 0x941C not in rig.cam.device_info.operations_supported
    nikon_state(vcam).queue(vcam, NikonEvent(code=0xC10C, params=(1,)))
    assert tuple(wait_for(rig.cam, 0xC10C).params) == (1,)  # type: ignore[attr-defined]
    (entry,) = rig.cam.capture(timeout_s=20)
    saved = tmp_path / entry.name
    rig.cam.download(entry, saved)
    assert saved.read_bytes() == nikon_state(vcam).captured[-1][1]
    source = rig.cam.live_view_source()
    source.start()
    try:
        frame = next(f for f in (source.frame() for _ in range(3)) if f is not None)
    finally:
        source.stop()
    assert frame == nikon_state(vcam).last_frame
