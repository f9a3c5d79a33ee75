"""The virtual Canon EOS (``canon-eos``): EOS session start, GetEvent dump then deltas, and
SetDevicePropValueEx validated against the allowed list, through ptpkit's raw transactions."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.codes.common import Ofc, Op, Rc
from ptpkit.core.buffer import Reader
from ptpkit.core.canon_eos import (
    AvailListChanged,
    CameraStatusChanged,
    CtgInfoCheckComplete,
    FolderEntry,
    ObjectAdded,
    ObjectRemoved,
    PropValueChanged,
    RequestObjectTransfer,
    decode_get_event,
    decode_object_info_ex,
    encode_record,
    encode_set_prop_value_ex,
)
from ptpkit.core.datasets import DeviceInfo, ObjectInfo, StorageInfo
from ptpkit.virtual import VirtualCamera, generated_bytes
from ptpkit.virtual.canon_eos import (
    DELETE_OBJECT,
    GET_DEVICE_INFO_EX,
    GET_EVENT,
    GET_OBJECT,
    GET_OBJECT_INFO_64,
    GET_OBJECT_INFO_EX,
    GET_PARTIAL_OBJECT,
    GET_PARTIAL_OBJECT_64,
    GET_PARTIAL_OBJECT_EX,
    GET_PARTIAL_OBJECT_EX_64,
    GET_STORAGE_IDS,
    GET_STORAGE_INFO,
    GET_VIEWFINDER_DATA,
    KEEP_DEVICE_ON,
    LIVE_VIEW_WARMUP_CALLS,
    MAX_IN_MEMORY,
    MAX_QUEUED_RECORDS,
    OBJECT_NOT_READY,
    PC_HDD_CAPACITY,
    REMOTE_RELEASE,
    REMOTE_RELEASE_OFF,
    REMOTE_RELEASE_ON,
    REQUEST_DEVICE_PROP_VALUE,
    SET_DEVICE_PROP_VALUE_EX,
    SET_EVENT_MODE,
    SET_REMOTE_MODE,
    TRANSFER_COMPLETE,
    EosState,
    eos_state,
    focus_info,
    personality,
)

ISO = 0xD103
APERTURE = 0xD101
ISO_100 = 0x48
ISO_800 = 0x60


@pytest.fixture(autouse=True)
def _without_the_eos_client() -> Iterator[None]:
    """These tests drive the virtual EOS with raw transactions and read its GetEvent stream
    themselves: the EOS client extension (canon-eos), which would take the first dump and poll
    GetEvent on its own thread, is left out of their connections."""
    from ptpkit.ext import CanonEosExtension, register, unregister

    unregister(CanonEosExtension.name)
    try:
        yield
    finally:
        register(CanonEosExtension, replace=True)


@pytest.fixture
def eos() -> Iterator[Camera]:
    with (
        VirtualCamera(personality=personality()) as virtual,
        ptpkit.connect("virtual:", camera=virtual) as cam,
    ):
        yield cam


def get_event(cam: Camera) -> list[object]:
    result = cam.transaction(GET_EVENT)
    assert result.code == Rc.OK
    return list(decode_get_event(result.data))


def test_device_info_says_canon_eos(eos: Camera) -> None:
    info = DeviceInfo.from_bytes(eos.transaction(Op.GET_DEVICE_INFO).data)
    assert info.vendor_extension_id == 0x0000000B
    assert info.manufacturer.startswith("Canon")
    assert "EOS" in info.model
    # vendors.md section 8: what an EOS emulator's DeviceInfo must list.
    for code in (0x9114, 0x9115, 0x9116, 0x9110, 0x9128, 0x9129, 0x9153, REMOTE_RELEASE):
        assert code in info.operations_supported, hex(code)
    # Like a real EOS, DeviceInfo lists no EOS property (they come from the GetEvent dump and
    # GetDeviceInfoEx), nor the standard ISO.
    assert ISO not in info.device_properties_supported
    assert 0x500F not in info.device_properties_supported


def test_session_start_then_full_dump_then_only_changes(eos: Camera) -> None:
    for code in (SET_REMOTE_MODE, SET_EVENT_MODE, KEEP_DEVICE_ON):
        assert eos.transaction(code, [1]).code == Rc.OK
    first = get_event(eos)
    values = {r.prop: r.value for r in first if isinstance(r, PropValueChanged)}
    lists = {r.prop: r.allowed for r in first if isinstance(r, AvailListChanged)}
    enumerated = {0xD101, 0xD102, 0xD103, 0xD104, 0xD106, 0xD109, 0xD120, 0xD11C, 0xD1B1}
    assert set(lists) == enumerated
    # Values for those, the free ones (available shots, live-view output, texts) too.
    assert set(values) == enumerated | {0xD11B, 0xD1B0, 0xD115, 0xD1D0, 0xD1D1, 0xD1AF, 0xD1D3}
    # Each block of the dump ends with a CTGInfoCheckComplete marker (vendors.md 1.2).
    markers = [i for i, r in enumerate(first) if isinstance(r, CtgInfoCheckComplete)]
    assert markers == [len(values), len(first) - 1]
    assert values[ISO] == ISO_100
    assert ISO_800 in lists[ISO]
    assert get_event(eos) == []  # nothing changed since: only the terminator


def test_set_prop_value_ex_is_reported_by_the_next_get_event(eos: Camera) -> None:
    get_event(eos)
    result = eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=encode_set_prop_value_ex(ISO, ISO_800))
    assert result.code == Rc.OK
    assert get_event(eos) == [PropValueChanged.of(ISO, ISO_800)]
    assert get_event(eos) == []


def test_a_value_not_allowed_is_refused_and_not_reported(eos: Camera) -> None:
    get_event(eos)
    bad = encode_set_prop_value_ex(ISO, 0x01)
    assert eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=bad).code == Rc.INVALID_DEVICE_PROP_VALUE
    unknown = encode_set_prop_value_ex(0xD1FF, 1)
    assert (
        eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=unknown).code == Rc.DEVICE_PROP_NOT_SUPPORTED
    )
    short = b"\x04\x00"
    assert (
        eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=short).code == Rc.INVALID_DEVICE_PROP_FORMAT
    )
    assert get_event(eos) == []


def test_standard_set_device_prop_value_on_an_eos_property(eos: Camera) -> None:
    # libgphoto2 2.5's --set-config iso= sends the standard SetDevicePropValue (its --debug log).
    get_event(eos)
    data = ISO_800.to_bytes(2, "little")
    assert eos.transaction(Op.SET_DEVICE_PROP_VALUE, [ISO], data=data).code == Rc.OK
    assert get_event(eos) == [PropValueChanged.of(ISO, ISO_800)]


def test_standard_properties_it_does_not_list_are_not_its_own(eos: Camera) -> None:
    """Of the standard properties the EOS answers those DeviceInfo lists; the generic camera's
    others (its exposure ones) are not this camera's: DevicePropNotSupported, as a camera
    answers for a property it does not have."""
    info = DeviceInfo.from_bytes(eos.transaction(Op.GET_DEVICE_INFO).data)
    assert eos.transaction(Op.GET_DEVICE_PROP_DESC, [0x5001]).code == Rc.OK  # BatteryLevel
    for code in (0x500F, 0x5007, 0x5012, 0x501E):  # ISO, FNumber, CaptureDelay, Artist
        assert code not in info.device_properties_supported
        for op in (Op.GET_DEVICE_PROP_DESC, Op.GET_DEVICE_PROP_VALUE):
            assert eos.transaction(op, [code]).code == Rc.DEVICE_PROP_NOT_SUPPORTED
        refused = eos.transaction(Op.SET_DEVICE_PROP_VALUE, [code], data=b"\x00\x00")
        assert refused.code == Rc.DEVICE_PROP_NOT_SUPPORTED


def test_a_self_timer_drive_mode_shoots_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drive mode "Timer 2 s" (0x11): the full press is answered at once with the camera busy;
    the picture and the camera idle again come when the timer ends (run here at once)."""
    timers: list[tuple[float, Callable[[], None]]] = []
    with (
        VirtualCamera(personality=personality()) as virtual,
        ptpkit.connect("virtual:", camera=virtual) as cam,
    ):
        monkeypatch.setattr(virtual, "after", lambda s, action: timers.append((s, action)))
        _drain(cam)
        drive = encode_set_prop_value_ex(0xD106, 0x11)
        assert cam.transaction(SET_DEVICE_PROP_VALUE_EX, data=drive).code == Rc.OK
        assert get_event(cam) == [PropValueChanged.of(0xD106, 0x11)]
        assert cam.transaction(REMOTE_RELEASE_ON, [3, 0]).code == Rc.OK  # half and full
        assert cam.transaction(REMOTE_RELEASE_OFF, [3]).code == Rc.OK
        records = get_event(cam)
        assert CameraStatusChanged(status=1) in records
        assert not any(isinstance(r, ObjectAdded) for r in records)
        assert not eos_state(virtual).captured
        [(delay_s, shoot)] = timers
        assert delay_s == 2.0
        shoot()
        records = get_event(cam)
        assert isinstance(records[0], ObjectAdded)
        assert records[0].name == "IMG_0005.JPG"
        assert records[-1] == CameraStatusChanged(status=0)
        assert (virtual.root / "DCIM/100PTPKT/IMG_0005.JPG").is_file()


def test_the_generic_camera_has_no_eos_operations() -> None:
    with VirtualCamera() as virtual:
        info = virtual.device_info()
    assert GET_EVENT not in info.operations_supported
    assert info.vendor_extension_id == 0x00000006


def test_each_connection_gets_its_own_dump_and_sees_the_others_changes() -> None:
    with VirtualCamera(personality=personality()) as virtual:
        with (
            ptpkit.connect("virtual:", camera=virtual) as first,
            ptpkit.connect("virtual:", camera=virtual) as second,
        ):
            get_event(first)
            get_event(second)
            data = encode_set_prop_value_ex(ISO, ISO_800)
            assert first.transaction(SET_DEVICE_PROP_VALUE_EX, data=data).code == Rc.OK
            assert get_event(second) == [PropValueChanged.of(ISO, ISO_800)]
        with ptpkit.connect("virtual:", camera=virtual) as later:
            dump = get_event(later)  # a new connection: the full dump, with the new value
            assert PropValueChanged.of(ISO, ISO_800) in dump
            assert any(isinstance(r, AvailListChanged) for r in dump)
        assert eos_state(virtual).current[ISO] == PropValueChanged.of(ISO, ISO_800).raw


# -- storage, listing, reading -------------------------------------------------------------------


def test_eos_storage_ids_and_storage_info(eos: Camera) -> None:
    ids = eos.transaction(GET_STORAGE_IDS)
    assert ids.code == Rc.OK
    assert ids.data == bytes.fromhex("01000000 01000100")  # count 1, storage 0x00010001
    info = eos.transaction(GET_STORAGE_INFO, [0x00010001])
    assert info.code == Rc.OK
    assert StorageInfo.from_bytes(info.data).description == "Virtual SD card"
    assert eos.transaction(GET_STORAGE_INFO, [0x00020001]).code == Rc.INVALID_STORAGE_ID


def _list(cam: Camera, parent: int, storage: int = 0x00010001) -> dict[str, FolderEntry]:
    result = cam.transaction(GET_OBJECT_INFO_EX, [storage, parent, 0x100000])
    assert result.code == Rc.OK
    return {entry.name: entry for entry in decode_object_info_ex(result.data)}


def test_get_object_info_ex_lists_one_folder_a_call(eos: Camera) -> None:
    top = _list(eos, 0xFFFFFFFF)
    assert set(top) == {"DCIM", "MISC"}
    assert top["DCIM"].format == Ofc.ASSOCIATION
    assert _list(eos, 0) == top  # 0 is the top too
    dcim = _list(eos, top["DCIM"].handle)
    assert set(dcim) == {"100PTPKT", "101PTPKT"}
    pictures = _list(eos, dcim["100PTPKT"].handle)
    assert sorted(pictures) == ["IMG_0001.JPG", "IMG_0002.JPG", "IMG_0003.JPG", "IMG_0004.JPG"]
    first = pictures["IMG_0001.JPG"]
    assert first.format == Ofc.EXIF_JPEG
    assert first.parent == dcim["100PTPKT"].handle
    assert first.storage_id == 0x00010001
    assert first.size == len(eos.transaction(GET_OBJECT, [first.handle]).data)
    assert first.time > 0
    # The limit parameter caps the entries.
    limited = eos.transaction(GET_OBJECT_INFO_EX, [0x00010001, dcim["100PTPKT"].handle, 2])
    assert len(decode_object_info_ex(limited.data)) == 2
    # A file is no folder; an unknown handle or store is refused.
    bad = eos.transaction(GET_OBJECT_INFO_EX, [0x00010001, first.handle, 0])
    assert bad.code == Rc.INVALID_PARENT_OBJECT
    assert eos.transaction(GET_OBJECT_INFO_EX, [0x00010001, 0x7777, 0]).code == (
        Rc.INVALID_OBJECT_HANDLE
    )
    assert eos.transaction(GET_OBJECT_INFO_EX, [0x00030001, 0, 0]).code == Rc.INVALID_STORAGE_ID


def test_get_object_info_ex_golden_entry() -> None:
    with TemporaryDirectory() as folder:
        (Path(folder) / "A.TXT").write_bytes(b"x" * 0x21)
        os.utime(Path(folder) / "A.TXT", (0x5F000000, 0x5F000000))
        with (
            VirtualCamera(folder, personality=personality()) as virtual,
            ptpkit.connect("virtual:", camera=virtual) as cam,
        ):
            data = cam.transaction(GET_OBJECT_INFO_EX, [0x00010001, 0xFFFFFFFF, 0x100000]).data
            handle = virtual.stores[0x00010001].find("A.TXT").handle  # type: ignore[union-attr]
    # vendors.md 1.8: count, then a 0x38-byte entry: handle, storage, ofc 0x3004 (text), flags,
    # size, parent, 16-byte name, unix time.
    expected = (
        bytes.fromhex("01000000 38000000")
        + handle.to_bytes(4, "little")
        + bytes.fromhex("01000100 0430 000000000000 00 000000 21000000 00000000 00000000")
        + b"A.TXT".ljust(16, b"\0")
        + bytes.fromhex("0000005F")
    )
    assert data == expected


def test_partial_reads_32_and_64_bit(eos: Camera) -> None:
    top = _list(eos, 0xFFFFFFFF)
    pictures = _list(eos, _list(eos, top["DCIM"].handle)["100PTPKT"].handle)
    handle = pictures["IMG_0002.JPG"].handle
    whole = eos.transaction(GET_OBJECT, [handle]).data
    assert whole == eos.transaction(Op.GET_OBJECT, [handle]).data
    part = eos.transaction(GET_PARTIAL_OBJECT, [handle, 100, 1000])
    assert part.code == Rc.OK
    assert part.data == whole[100:1100]
    assert part.params == (1000,)
    ex = eos.transaction(GET_PARTIAL_OBJECT_EX, [handle, 200, 50, 0])
    assert ex.data == whole[200:250]
    # ptp.h: GetPartialObject64 (oid, offset, maxbyte); GetPartialObjectEX64 (oid, offset as
    # two 32-bit halves, maxbyte).
    assert eos.transaction(GET_PARTIAL_OBJECT_64, [handle, 300, 64]).data == whole[300:364]
    got = eos.transaction(GET_PARTIAL_OBJECT_EX_64, [handle, 300, 0, 64])
    assert got.data == whole[300:364]
    # An offset past 4 GiB (high half 1) is past this small file.
    assert eos.transaction(GET_PARTIAL_OBJECT_EX_64, [handle, 0, 1, 64]).code == (
        Rc.INVALID_PARAMETER
    )
    tail = eos.transaction(GET_PARTIAL_OBJECT, [handle, len(whole) - 10, 1 << 20])
    assert tail.data == whole[-10:]
    assert eos.transaction(GET_PARTIAL_OBJECT, [0x7777, 0, 10]).code == Rc.INVALID_OBJECT_HANDLE
    assert eos.transaction(TRANSFER_COMPLETE, [handle]).code == Rc.OK
    assert eos.transaction(TRANSFER_COMPLETE, [0x7777]).code == Rc.INVALID_OBJECT_HANDLE


def test_partial_read_past_4_gib_of_a_generated_object() -> None:
    size = (4 << 30) + 4096
    with VirtualCamera(personality=personality()) as virtual:
        handle = virtual.add_generated_object(size, seed=3)
        with ptpkit.connect("virtual:", camera=virtual) as cam:
            offset = (4 << 30) + 100
            got = cam.transaction(GET_PARTIAL_OBJECT_EX_64, [handle, offset & 0xFFFFFFFF, 1, 500])
            assert got.code == Rc.OK
            assert got.data == generated_bytes(size, seed=3, offset=offset)[:500]
            info = cam.transaction(GET_OBJECT_INFO_64, [handle])
            assert info.code == Rc.OK
            assert int.from_bytes(info.data[-8:], "little") == size


# -- shooting -------------------------------------------------------------------------------------


def _drain(cam: Camera) -> None:
    get_event(cam)


def _set(cam: Camera, prop: int, value: int) -> None:
    result = cam.transaction(SET_DEVICE_PROP_VALUE_EX, data=encode_set_prop_value_ex(prop, value))
    assert result.code == Rc.OK


def test_half_then_full_press_to_the_card_reports_object_added() -> None:
    with (
        VirtualCamera(personality=personality()) as virtual,
        ptpkit.connect("virtual:", camera=virtual) as cam,
    ):
        _drain(cam)
        assert cam.transaction(REMOTE_RELEASE_ON, [1, 0]).code == Rc.OK
        # Half press: focus, no picture.
        assert [r.type for r in get_event(cam)] == [0xC189]
        assert cam.transaction(REMOTE_RELEASE_ON, [2, 0]).code == Rc.OK
        assert cam.transaction(REMOTE_RELEASE_OFF, [2]).code == Rc.OK
        records = get_event(cam)
        assert cam.transaction(REMOTE_RELEASE_OFF, [1]).code == Rc.OK
        assert records[0] == CameraStatusChanged(status=1)
        assert records[-1] == CameraStatusChanged(status=0)
        added = records[1]
        assert isinstance(added, ObjectAdded)
        assert added.name == "IMG_0005.JPG"
        on_card = virtual.root / "DCIM" / "100PTPKT" / "IMG_0005.JPG"
        assert added.size == on_card.stat().st_size
        assert added.storage_id == 0x00010001
        assert added.format == Ofc.EXIF_JPEG
        assert cam.transaction(Op.GET_OBJECT, [added.handle]).data == on_card.read_bytes()
        assert list(eos_state(virtual).captured) == [("IMG_0005.JPG", on_card.read_bytes())]
        assert [r.type for r in get_event(cam)] == [0xC189]  # focus released
        assert get_event(cam) == []


def test_object_added_record_golden_bytes() -> None:
    record = ObjectAdded(
        handle=0x11, storage_id=0x00010001, format=0x3801, size=0x1234, parent=0x5, name="A.JPG"
    )
    # vendors.md 1.2: handle@8, storage@0xC, ofc@0x10, size@0x1C, parent@0x20, name@0x28.
    assert encode_record(record) == bytes.fromhex(
        "2e000000 81c10000 11000000 01000100 0138 00000000000000000000"
        "34120000 05000000 00000000 412e4a504700"
    )


def test_capture_to_the_computer_waits_in_memory_until_transfer_complete() -> None:
    with (
        VirtualCamera(personality=personality()) as virtual,
        ptpkit.connect("virtual:", camera=virtual) as cam,
    ):
        _drain(cam)
        _set(cam, 0xD11C, 4)
        assert get_event(cam) == [PropValueChanged.of(0xD11C, 4)]
        files_before = sorted(p.name for p in virtual.root.rglob("*"))
        assert cam.transaction(PC_HDD_CAPACITY, [0x0FFFFFFF, 0x1000, 1]).code == Rc.OK
        assert cam.transaction(REMOTE_RELEASE_ON, [3, 0]).code == Rc.OK
        assert cam.transaction(REMOTE_RELEASE_OFF, [3]).code == Rc.OK
        records = get_event(cam)
        kinds = [type(r) for r in records if not isinstance(r, PropValueChanged)]
        assert kinds == [CameraStatusChanged, RequestObjectTransfer, CameraStatusChanged]
        request = next(r for r in records if isinstance(r, RequestObjectTransfer))
        assert request.format == Ofc.EXIF_JPEG
        assert sorted(p.name for p in virtual.root.rglob("*")) == files_before  # not on the card
        produced = eos_state(virtual).captured[-1][1]
        assert request.size == len(produced)
        pieces = [
            cam.transaction(Op.GET_PARTIAL_OBJECT, [request.handle, offset, 1 << 14]).data
            for offset in range(0, request.size, 1 << 14)
        ]
        assert b"".join(pieces) == produced
        assert produced[:2] == b"\xff\xd8"
        info = ObjectInfo.from_bytes(cam.transaction(Op.GET_OBJECT_INFO, [request.handle]).data)
        assert (info.storage_id, info.parent_object, info.filename) == (0, 0, request.name)
        assert cam.transaction(TRANSFER_COMPLETE, [request.handle]).code == Rc.OK
        # Transferred: gone from the camera's memory.
        assert cam.transaction(GET_PARTIAL_OBJECT, [request.handle, 0, 10]).code == (
            Rc.INVALID_OBJECT_HANDLE
        )


def test_old_remote_release_and_a_read_only_card() -> None:
    with (
        TemporaryDirectory() as folder,
        VirtualCamera(folder, personality=personality(), read_only=True) as virtual,
        ptpkit.connect("virtual:", camera=virtual) as cam,
    ):
        _drain(cam)
        result = cam.transaction(REMOTE_RELEASE)
        assert result.code == Rc.OK
        assert result.params == (8,)  # card read-only (library.c)
        assert get_event(cam) == []
        # To the computer a read-only card does not matter.
        _set(cam, 0xD11C, 4)
        result = cam.transaction(REMOTE_RELEASE)
        assert result.params == (0,)
        assert any(isinstance(r, RequestObjectTransfer) for r in get_event(cam))


def test_remote_release_on_refuses_an_unknown_press(eos: Camera) -> None:
    assert eos.transaction(REMOTE_RELEASE_ON, [4, 0]).code == Rc.INVALID_PARAMETER
    assert eos.transaction(REMOTE_RELEASE_OFF, [0]).code == Rc.INVALID_PARAMETER


# -- live view ------------------------------------------------------------------------------------


def test_live_view_warms_up_then_sends_jpeg_frames(eos: Camera) -> None:
    _drain(eos)
    assert eos.transaction(GET_VIEWFINDER_DATA, [0x00200000, 0, 0]).code == Rc.ACCESS_DENIED
    _set(eos, 0xD1B1, 1)
    _set(eos, 0xD1B0, 2)
    codes = [
        eos.transaction(GET_VIEWFINDER_DATA, [0x00200000, 0, 0]).code
        for _ in range(LIVE_VIEW_WARMUP_CALLS)
    ]
    assert codes == [OBJECT_NOT_READY] * LIVE_VIEW_WARMUP_CALLS
    for _ in range(2):
        frame = eos.transaction(GET_VIEWFINDER_DATA, [0x00200000, 0, 0])
        assert frame.code == Rc.OK
        length = int.from_bytes(frame.data[:4], "little")
        assert length == len(frame.data)
        assert frame.data[4:8] == bytes.fromhex("01000000")  # blob type 1: JPEG
        assert frame.data[8:10] == b"\xff\xd8"
        assert frame.data.endswith(b"\xff\xd9")
    _set(eos, 0xD1B0, 0)
    assert eos.transaction(GET_VIEWFINDER_DATA, [0x00200000, 0, 0]).code == Rc.ACCESS_DENIED


# -- the rest of a session ------------------------------------------------------------------------


def test_get_device_info_ex_golden_layout(eos: Camera) -> None:
    data = eos.transaction(GET_DEVICE_INFO_EX).data
    assert int.from_bytes(data[:4], "little") == len(data)
    reader = Reader(data[4:])
    events = reader.uint32_array()
    props = reader.uint32_array()
    rest = reader.uint32_array()
    assert {0xC181, 0xC186, 0xC189, 0xC18A} <= set(events)
    assert {0xD103, 0xD11C, 0xD1B0} <= set(props)
    assert rest  # libgphoto2 2.5.30 refuses the answer when this array is empty


def test_request_device_prop_value_reports_it_next(eos: Camera) -> None:
    _drain(eos)
    assert eos.transaction(REQUEST_DEVICE_PROP_VALUE, [0xD1AF]).code == Rc.OK
    assert get_event(eos) == [PropValueChanged.of(0xD1AF, "PTPKIT-EOS-0001")]
    assert eos.transaction(REQUEST_DEVICE_PROP_VALUE, [0xD1FF]).code == (
        Rc.DEVICE_PROP_NOT_SUPPORTED
    )


def test_read_only_and_text_properties(eos: Camera) -> None:
    _drain(eos)
    data = encode_set_prop_value_ex(0xD11B, 5)
    assert eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=data).code == Rc.ACCESS_DENIED
    data = encode_set_prop_value_ex(0xD1D0, "Ansel Adams")  # Artist
    assert eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=data).code == Rc.OK
    assert get_event(eos) == [PropValueChanged.of(0xD1D0, "Ansel Adams")]
    data = encode_set_prop_value_ex(0xD1D1, "(c) ptpkit")  # Copyright
    assert eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=data).code == Rc.OK
    assert get_event(eos) == [PropValueChanged(prop=0xD1D1, raw=b"(c) ptpkit\0")]
    data = encode_set_prop_value_ex(0xD1D1, "x" * 80)
    assert eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=data).code == (
        Rc.INVALID_DEVICE_PROP_VALUE
    )


def test_set_remote_mode_again_sends_the_dump_again_with_what_was_queued(eos: Camera) -> None:
    _drain(eos)
    assert eos.transaction(REMOTE_RELEASE_ON, [3, 0]).code == Rc.OK
    assert eos.transaction(SET_REMOTE_MODE, [1]).code == Rc.OK
    records = get_event(eos)
    assert any(isinstance(r, AvailListChanged) for r in records)
    assert any(isinstance(r, ObjectAdded) for r in records)
    assert get_event(eos) == []


def test_delete_is_reported_as_object_removed(eos: Camera) -> None:
    _drain(eos)
    top = _list(eos, 0xFFFFFFFF)
    misc = _list(eos, top["MISC"].handle)
    handle = misc["README.TXT"].handle
    assert eos.transaction(DELETE_OBJECT, [handle]).code == Rc.OK
    assert get_event(eos) == [ObjectRemoved(handle=handle)]


def test_half_press_reports_focus_info_and_release_clears_it(eos: Camera) -> None:
    _drain(eos)
    assert eos.transaction(REMOTE_RELEASE_ON, [1, 0]).code == Rc.OK
    found = get_event(eos)
    assert found == [PropValueChanged(prop=0xD1D3, raw=focus_info(in_focus=True))]
    assert eos.transaction(REMOTE_RELEASE_OFF, [1]).code == Rc.OK
    assert get_event(eos) == [PropValueChanged(prop=0xD1D3, raw=focus_info(in_focus=False))]


def test_focus_info_golden_bytes() -> None:
    # ptp-pack.c ptp_unpack_EOS_FocusInfoEx: size, size - 4, version, points in struct / in
    # use, AF space twice, heights, widths, x, y, selected bitfield, trailing bytes. libgphoto2
    # prints this one as "points={{0,0,300,200}},select={0,},unknown={01ffff}".
    assert focus_info(in_focus=True) == bytes.fromhex(
        "20000000 1c00 0200 0100 0100 7017 a00f 7017 a00f c800 2c01 0000 0000 01 01 ffff"
    )
    assert focus_info(in_focus=False) == bytes.fromhex("14000000 1000") + bytes(14)


def test_pictures_in_memory_are_bounded_and_numbers_go_on(eos: Camera) -> None:
    _drain(eos)
    _set(eos, 0xD11C, 4)
    requests: list[RequestObjectTransfer] = []
    for _ in range(MAX_IN_MEMORY):
        assert eos.transaction(REMOTE_RELEASE).params == (0,)
        requests += [r for r in get_event(eos) if isinstance(r, RequestObjectTransfer)]
    names = [r.name for r in requests]
    assert names == [f"IMG_{n:04d}.JPG" for n in range(5, 5 + MAX_IN_MEMORY)]
    # Full: the camera is busy until the host fetches one.
    assert eos.transaction(REMOTE_RELEASE_ON, [3, 0]).code == Rc.DEVICE_BUSY
    assert eos.transaction(REMOTE_RELEASE_OFF, [3]).code == Rc.OK
    get_event(eos)
    assert eos.transaction(TRANSFER_COMPLETE, [requests[0].handle]).code == Rc.OK
    assert eos.transaction(REMOTE_RELEASE).params == (0,)
    added = [r.name for r in get_event(eos) if isinstance(r, RequestObjectTransfer)]
    assert added == [f"IMG_{5 + MAX_IN_MEMORY:04d}.JPG"]


def test_a_connection_that_stops_polling_keeps_a_bounded_queue() -> None:
    class Connection:  # a stand-in (connections are held weakly)
        pass

    state = EosState()
    connection = Connection()
    state.next_event(connection)
    state.queue([ObjectRemoved(handle=h) for h in range(MAX_QUEUED_RECORDS + 10)])
    records = state.next_event(connection)
    assert len(records) == MAX_QUEUED_RECORDS
    assert records[0] == ObjectRemoved(handle=10)  # the oldest went


def test_get_event_golden_bytes(eos: Camera) -> None:
    dump = eos.transaction(GET_EVENT).data
    # The drive mode's allowed list: AvailListChanged, list type 3, 4 values in 4-byte slots.
    assert (
        bytes.fromhex(
            "24000000 8ac10000 06d10000 03000000 04000000 00000000 01000000 10000000 11000000"
        )
        in dump
    )
    assert dump.endswith(bytes.fromhex("08000000 00000000"))  # the terminator record
    _set(eos, 0xD103, 0x60)
    # One PropValueChanged (ISO 800 in a 4-byte slot), then the terminator.
    assert eos.transaction(GET_EVENT).data == bytes.fromhex(
        "10000000 89c10000 03d10000 60000000 08000000 00000000"
    )
    assert eos.transaction(GET_EVENT).data == bytes.fromhex("08000000 00000000")


def test_numbering_wraps_after_9999_and_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "DCIM" / "100PTPKT"
    folder.mkdir(parents=True)
    (folder / "IMG_9999.JPG").write_bytes(b"last")
    (folder / "IMG_0001.JPG").write_bytes(b"first")
    with (
        VirtualCamera(tmp_path, personality=personality()) as virtual,
        ptpkit.connect("virtual:", camera=virtual) as cam,
    ):
        _drain(cam)
        assert cam.transaction(REMOTE_RELEASE).params == (0,)
        added = [r for r in get_event(cam) if isinstance(r, ObjectAdded)]
        assert [r.name for r in added] == ["IMG_0002.JPG"]
    assert (folder / "IMG_0001.JPG").read_bytes() == b"first"
    assert (folder / "IMG_9999.JPG").read_bytes() == b"last"
