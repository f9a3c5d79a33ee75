"""ptpkit's EOS client (the ``canon-eos`` extension) against the virtual Canon EOS, over every
transport of the scenario suite (in-process, PTP/IP on 127.0.0.1, virtual USB): properties from
the GetEvent cache with EOS value texts, capture to the card and to the computer delivered by the
camera's records, GetObjectInfoEx listing, live view, unknown records, the tear-down."""

from __future__ import annotations

import dataclasses
import functools
import logging
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.forked import in_a_forked_child

import ptpkit
from ptpkit.client import objects as objects_module
from ptpkit.client.camera import Camera
from ptpkit.codes.common import Ec
from ptpkit.core.canon_eos import (
    FolderEntry,
    ObjectAdded,
    PropValueChanged,
    UnknownRecord,
    encode_object_info_ex,
)
from ptpkit.ext.base import CapturedObject
from ptpkit.virtual import VirtualCamera, generated_bytes
from ptpkit.virtual.canon_eos import (
    GET_OBJECT_INFO_EX,
    EosState,
    eos_state,
    personality,
    take_picture,
)
from ptpkit.virtual.responder import OperationContext, Reply

if TYPE_CHECKING:
    from conftest import Rig

ISO = 0xD103


@pytest.fixture
def eos(make_rig: Callable[..., Rig], card: Path) -> Rig:
    return make_rig(VirtualCamera(card, personality=personality()))


def state(rig: Rig) -> EosState:
    return eos_state(rig.vcam)


def wait_for(cam: Camera, code: int, timeout_s: float = 10.0) -> object:
    for event in cam.events(timeout_s):
        if event.code == code:
            return event
    raise AssertionError(f"no event 0x{code:04X} within {timeout_s} s")


def test_the_eos_extension_is_chosen(eos: Rig) -> None:
    assert [ext.name for ext in eos.cam.extensions] == ["canon", "canon-eos"]


@pytest.mark.parametrize(
    ("prop", "text"),
    [
        (0xD103, "ISO 800"),
        (0xD101, "f/5.6"),
        (0xD102, "1/125"),
        (0xD104, "+1/3"),
        (0xD109, "Daylight"),
        (0xD106, "Continuous"),
        (0xD120, "RAW + Large Fine JPEG"),
        (0xD11C, "computer"),
    ],
)
def test_set_and_get_as_photographers_write_them(eos: Rig, prop: int, text: str) -> None:
    eos.cam.set_property(prop, text)
    assert eos.cam.get_property_text(prop) == text
    # The camera took it (SetDevicePropValueEx), not only our cache.
    description = eos.cam.describe_property(prop)
    assert description.desc.current == eos.cam.get_property(prop)
    assert state(eos).value(prop) is not None


def test_every_eos_property_is_listed_by_its_friendly_name(eos: Rig) -> None:
    codes = set(eos.cam.property_codes())
    assert {0xD101, 0xD102, 0xD103, 0xD104, 0xD106, 0xD109, 0xD11C, 0xD120} <= codes
    eos.cam.set_property("eos-shutterspeed", "1/250")
    assert eos.cam.get_property_text(0xD102) == "1/250"
    assert state(eos).value(0xD102) == 0x78


def test_describe_lists_the_allowed_values(eos: Rig) -> None:
    description = eos.cam.describe_property(ISO)
    assert description.allowed is not None
    assert 0x60 in description.allowed
    assert description.writable
    with pytest.raises(Exception, match="allowed"):
        eos.cam.set_property(0xD101, "f/1.0")


def test_a_change_on_the_camera_arrives_as_an_event(eos: Rig) -> None:
    state(eos).set(ISO, PropValueChanged.of(ISO, 0x50).raw, by_host=False)
    event = wait_for(eos.cam, 0xC189)
    assert getattr(event, "params", ())[:2] == (ISO, 0x50)
    assert eos.cam.get_property_text(ISO) == "ISO 200"


def test_unknown_records_are_reported_and_the_session_goes_on(eos: Rig) -> None:
    state(eos).queue([UnknownRecord(type=0xC1FE, payload=b"\x01\x02\x03\x04")])
    event = wait_for(eos.cam, 0xC1FE)
    assert getattr(event, "details", None) == UnknownRecord(
        type=0xC1FE, payload=b"\x01\x02\x03\x04"
    )
    eos.cam.set_property(ISO, "ISO 400")
    assert eos.cam.get_property_text(ISO) == "ISO 400"


def test_capture_to_the_card(eos: Rig, tmp_path: Path) -> None:
    (entry,) = eos.cam.capture(timeout_s=20)
    name, data = state(eos).captured[-1]
    assert entry.name == name
    assert not entry.in_memory
    assert (eos.card / entry.path.split("/", 2)[2]).read_bytes() == data
    saved = tmp_path / name
    eos.cam.download(entry, saved)
    assert saved.read_bytes() == data


def test_capture_to_the_computer_and_transfer_complete(eos: Rig, tmp_path: Path) -> None:
    eos.cam.set_property(0xD11C, "computer")
    files_before = sorted(p.name for p in eos.card.rglob("*"))
    (entry,) = eos.cam.capture(timeout_s=20)
    assert entry.in_memory
    assert len(state(eos).in_memory) == 1
    saved = tmp_path / entry.name
    eos.cam.download(entry, saved)
    assert saved.read_bytes() == state(eos).captured[-1][1]
    assert state(eos).in_memory == {}  # TransferComplete freed it
    assert sorted(p.name for p in eos.card.rglob("*")) == files_before


def test_tether_sees_the_standard_object_added_with_the_object(eos: Rig) -> None:
    """A picture taken on the camera (its own shutter button: what `tether` waits for) arrives
    as the EOS record and the standard ObjectAdded, with the object described."""
    with eos.vcam.lock:
        code, records = take_picture(eos.vcam, state(eos))
    assert code == 0x2001
    state(eos).queue(records)
    event = wait_for(eos.cam, Ec.OBJECT_ADDED)
    details = getattr(event, "details", None)
    assert isinstance(details, CapturedObject)
    assert eos.cam.event_entry(event).name == state(eos).captured[-1][0]  # type: ignore[arg-type]


def test_a_capture_keeps_its_answer_out_of_the_event_queue(eos: Rig) -> None:
    """capture()'s own records (the new object, the camera busy then idle) are its answer, in
    CaptureResult.events, and not queued again, as the standard capture's ObjectAdded and
    CaptureComplete are not."""
    (entry,) = result = eos.cam.capture(timeout_s=20)
    answer = [(event.code, event.params[:1]) for event in result.events]
    assert answer == [
        (0xC18B, (1,)),  # CameraStatusChanged: busy
        (0xC181, (entry.handle,)),  # ObjectAddedEx
        (Ec.OBJECT_ADDED, (entry.handle,)),
        (0xC18B, (0,)),  # idle
    ]
    assert isinstance(result.events[1].details, ObjectAdded)
    state(eos).set(ISO, PropValueChanged.of(ISO, 0x50).raw, by_host=False)
    queued = [event.code for event in eos.cam.events(timeout_s=1.0) if event.code != 0xC189]
    assert queued == []  # property changes (focus, the ISO above) only


def test_listing_with_get_object_info_ex(eos: Rig) -> None:
    on_disk = sorted(
        p.relative_to(eos.card).as_posix()
        for p in eos.card.rglob("*")
        if p.is_file() and not p.name.startswith(".") and len(p.name) <= 15
    )
    listed = sorted(entry.path.split("/", 2)[2] for entry in eos.cam.walk() if not entry.is_folder)
    assert set(on_disk) <= set(listed) | {p for p in on_disk if len(p.rsplit("/", 1)[-1]) > 15}
    assert listed


def test_live_view_frames_after_warm_up(eos: Rig) -> None:
    source = eos.cam.live_view_source()
    source.start()
    try:
        frames = [source.frame() for _ in range(6)]
    finally:
        source.stop()
    assert frames[0] is None  # ObjectNotReady while it warms up
    got = [f for f in frames if f is not None]
    assert got
    assert got[-1] == state(eos).last_frame
    assert got[-1].startswith(b"\xff\xd8")


def test_close_tears_down_cleanly(eos: Rig) -> None:
    eos.cam.set_property(0xD11C, "computer")
    eos.cam.close()
    assert state(eos).value(0xD11C) == 2  # the capture target back on the card


def test_an_object_past_4_gib_is_sized_and_read_with_the_64_bit_operations(
    make_rig: Callable[..., Rig], card: Path
) -> None:
    size = (4 << 30) + 4096
    vcam = VirtualCamera(card, personality=personality())
    handle = vcam.add_generated_object(size, seed=3)
    rig = make_rig(vcam)
    entry = rig.cam.entry(handle)
    assert entry.size == size  # ObjectInfo's 0xFFFFFFFF, then EOS_GetObjectInfo64
    offset = (4 << 30) + 100
    assert rig.cam.read(entry, offset, 500) == generated_bytes(size, seed=3, offset=offset)[:500]


def test_standard_names_mean_the_eos_properties_on_an_eos(eos: Rig) -> None:
    """ "iso" names the standard ExposureIndex and the EOS ISO: on an EOS (which lists only its
    own) the EOS one, so ``ptpkit set iso ...`` changes what the camera uses."""
    for name, code in (
        ("iso", 0xD103),
        ("shutter", 0xD102),
        ("shutterspeed", 0xD102),
        ("f-number", 0xD101),
        ("aperture", 0xD101),
        ("ev", 0xD104),
        ("white-balance", 0xD109),
    ):
        assert eos.cam.property_code(name) == code, name


def test_standard_names_keep_their_standard_meaning_elsewhere() -> None:
    import ptpkit

    with ptpkit.connect("virtual:", vendors=("canon",)) as cam:
        assert cam.property_code("iso") == 0x500F
        assert cam.property_code("shutter") == 0x500D


def test_a_folder_listing_that_does_not_decode_is_listed_object_by_object(
    eos: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11 section 1 (one object the camera describes wrongly never ends a listing) on
    the EOS listing: a GetObjectInfoEx answer with an entry of a bad size cannot be decoded
    past it, so that folder is listed the standard way (GetObjectHandles, GetObjectInfo each),
    as libgphoto2's ptp_list_folder does when ptp_list_folder_eos fails. It ended walk(),
    ls -R and download --all with a DecodeError."""
    cam, vcam = eos.cam, eos.vcam
    walked = list(cam.walk())
    clean = [(entry.path, entry.size) for entry in walked]
    assert any(path.endswith(".JPG") for path, _ in clean)
    dcim = next(entry for entry in walked if entry.path == "/store_00010001/DCIM")
    get_info_ex = vcam.operations[GET_OBJECT_INFO_EX]

    def bad_entry_in_dcim(ctx: OperationContext) -> Reply:
        reply = get_info_ex.handler(ctx)
        if ctx.param(1) != dcim.handle or not isinstance(reply.data, bytes):
            return reply
        data = bytearray(reply.data)
        data[4:8] = (3).to_bytes(4, "little")  # the first entry's size: below 56
        return dataclasses.replace(reply, data=bytes(data))

    vcam.operations[GET_OBJECT_INFO_EX] = dataclasses.replace(
        get_info_ex, handler=bad_entry_in_dcim
    )
    skipped: list[object] = []
    with caplog.at_level(logging.WARNING, logger="ptpkit"):
        assert [(e.path, e.size) for e in cam.walk(on_error=skipped.append)] == clean
    assert skipped == []
    assert "listing it object by object" in caplog.text


def _eos_walk_peak_bytes(tmp_path: Path, files: int) -> int:
    """Peak traced memory of walking a card whose top folder the camera lists as ``files``
    JPEGs in one GetObjectInfoEx answer (made before tracing: the camera's side is not the
    client's)."""
    answer = encode_object_info_ex(
        [
            FolderEntry(handle=0x1000 + n, storage_id=0x00010001, format=0x3801, size=n,
                        name=f"IMG_{n % 10000:04d}.JPG", time=1_700_000_000)
            for n in range(files)
        ]
    )  # fmt: skip
    card = tmp_path / f"card{files}"
    card.mkdir()
    with VirtualCamera(card, personality=personality()) as vcam:
        get_info_ex = vcam.operations[GET_OBJECT_INFO_EX]

        def top_folder(ctx: OperationContext) -> Reply:
            reply = get_info_ex.handler(ctx)
            if ctx.param(1) != 0xFFFFFFFF:
                return reply
            return dataclasses.replace(reply, data=answer)

        vcam.operations[GET_OBJECT_INFO_EX] = dataclasses.replace(get_info_ex, handler=top_folder)
        with ptpkit.connect("virtual:", camera=vcam) as cam:
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                count = sum(1 for entry in cam.walk() if entry.path.endswith(".JPG"))
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
    assert count == files
    return peak


def test_the_walk_of_a_huge_eos_folder_describes_one_object_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 (memory bounded however large the card) on the EOS listing: the walk's memory
    grows with a folder's answer (56 bytes an entry, the data phase), not with ObjectInfos for
    every entry at once (~780 bytes each: +11.6 MB for the 15,000 more objects here; now
    +1.8 MB: the answer, as received and as kept)."""
    # A folder of more than 100 objects is streamed (a test cannot list a million).
    monkeypatch.setattr(objects_module, "SORTED_FOLDER_LIMIT", 100)
    # Each in a forked child (tests.forked): tracemalloc counts every thread, an xdist worker's
    # leftover threads of earlier tests included.
    small = in_a_forked_child(functools.partial(_eos_walk_peak_bytes, tmp_path, 5_000))
    big = in_a_forked_child(functools.partial(_eos_walk_peak_bytes, tmp_path, 20_000))
    answer_growth = 15_000 * 56
    assert big - small < 3 * answer_growth, (small, big)


def test_a_64_mib_eos_folder_answer_costs_its_size_through_the_session(tmp_path: Path) -> None:
    """The biggest answer a folder can have (the 64 MiB data limit, ~1.2 million entries),
    received through the real session: the listing keeps the bytes as received, never a copy
    (136 MiB at the peak when the data phase was kept as bytes; ~0.9 GB decoded at once)."""
    answer_bytes = 64 << 20
    count = (answer_bytes - 4) // 56
    template = encode_object_info_ex(
        [FolderEntry(handle=0, storage_id=0x00010001, format=0x3801, size=1, name="IMG.JPG")]
    )[4:]
    answer = count.to_bytes(4, "little") + template * count
    with VirtualCamera(tmp_path, personality=personality()) as vcam:
        get_info_ex = vcam.operations[GET_OBJECT_INFO_EX]

        def top_folder(ctx: OperationContext) -> Reply:
            reply = get_info_ex.handler(ctx)
            if ctx.param(1) != 0xFFFFFFFF:
                return reply
            return dataclasses.replace(reply, data=answer)

        vcam.operations[GET_OBJECT_INFO_EX] = dataclasses.replace(get_info_ex, handler=top_folder)
        with ptpkit.connect("virtual:", camera=vcam) as cam:
            eos_ext = next(ext for ext in cam.extensions if ext.name == "canon-eos")
            tracemalloc.start()
            try:
                listed = eos_ext.list_folder(0x00010001, 0)
                assert listed is not None
                assert len(listed) == count
                assert listed[count - 1][1].filename == "IMG.JPG"
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    assert peak < answer_bytes + (16 << 20), peak
