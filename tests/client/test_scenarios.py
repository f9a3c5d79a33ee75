"""Client scenarios against the virtual camera, run over every transport in ``TRANSPORTS``.

Each scenario drives the public Camera API and checks the outcome on both sides: what the client
returns and what is on the virtual camera's card (a folder under ``tmp_path``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import hashlib
import io
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from ptpkit.client.camera import ALL_STORAGES, RESUME_CHECK_BYTES, ROOT, Camera
from ptpkit.client.events import CameraEvent
from ptpkit.client.files import Entry, open_part
from ptpkit.codes.common import Dpc, Ec, Op, Rc
from ptpkit.core.canon_eos import ImageFormat, encode_set_prop_value_ex
from ptpkit.core.datasets import SIZE_UNKNOWN_32, DeviceInfo, encode_value
from ptpkit.core.datatypes import DataType
from ptpkit.core.usb import UsbFraming
from ptpkit.errors import (
    AccessDeniedError,
    BusyError,
    ClosedError,
    DecodeError,
    DeviceBusyError,
    LocalProtocolError,
    NotFoundError,
    ObjectError,
    OperationNotSupportedError,
    PropertyError,
    UsageError,
)
from ptpkit.virtual import DEFAULT_STORAGE_ID, MODELS, VirtualCamera
from ptpkit.virtual.canon_eos import eos_state
from ptpkit.virtual.content import GeneratedData, generated_bytes, generated_sha256
from ptpkit.virtual.responder import OperationContext, Reply, error
from ptpkit.virtual.sony import sony_state

if TYPE_CHECKING:
    from conftest import Rig, TransactionLog

STORE = "/store_00010001"


#: The virtual Canon EOS's properties (libgphoto2 ptp.h PTP_DPC_CANON_EOS_*), its ISO at start
#: (0x48: ISO 100) and its record types (vendors.md 1.2).
EOS_APERTURE, EOS_SHUTTER, EOS_ISO, EOS_DRIVE, EOS_AVAILABLE_SHOTS = (
    0xD101, 0xD102, 0xD103, 0xD106, 0xD11B,
)  # fmt: skip
EOS_ISO_100 = 0x48
EOS_PROP_VALUE_CHANGED, EOS_OBJECT_ADDED, EOS_CAMERA_STATUS = 0xC189, 0xC181, 0xC18B
EOS_FOCUS_INFO = 0xD1D3

#: The virtual Fujifilm X-T2's ISO list (ExposureIndex), its battery (0xD242, in bars: 0xA is
#: four of five) and CameraState 0xDF00, which only its 0xD212 state list reports.
FUJI_ISOS = (100, 200, 250, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000, 2500, 3200)
FUJI_ISOS += (4000, 5000, 6400, 12800, 25600, 51200)
FUJI_BATTERY, FUJI_BATTERY_4_OF_5, FUJI_CAMERA_STATE = 0xD242, 0xA, 0xDF00
#: The X-T2's count of objects on the card (0xD222), which 0xD212 reports after a capture, and its
#: capture events: 0xC004 (ObjectAdded), 0xC001 (PreviewAvailable, over Wi-Fi only).
FUJI_OBJECT_COUNT, FUJI_OBJECT_ADDED, FUJI_PREVIEW_AVAILABLE = 0xD222, 0xC004, 0xC001
#: The virtual Sony's ISO (0xD21E: 0xFFFFFF is Auto, where it starts) and its ISO list.
SONY_ISO, SONY_ISO_AUTO, SONY_BATTERY = 0xD21E, 0xFFFFFF, 0xD20E
#: Sony's own events (a property changed, naming it; an object ready in memory): pushed by the
#: body, and besides them the client's 0x9209 poller reports DevicePropChanged with values.
SONY_NEWS = frozenset({0xC203, 0xC201, Ec.DEVICE_PROP_CHANGED})


#: Every virtual camera model. The Fujifilm X-T2 (fuji-x) joins with its own ways, asserted where
#: they differ (``rig.fuji``): its model and DSCFnnnn names in 100_FUJI, no MTP listing (the
#: ObjectInfo path), its ISO list and battery in bars, no 64-bit operation (a size past 4 GiB is
#: unknown: one GetObject), neither resume nor GetPartialObject (libgphoto2#653: the object read
#: whole), property changes reported by the client's 0xD212 poller, capture events 0xC004,
#: 0xC001 (Wi-Fi) and 0x400D, and over PTP/IP Fujifilm's variant (``fuji:``, no cancel).
SCENARIO_MODELS = tuple(MODELS)


@pytest.fixture(params=SCENARIO_MODELS)
def model(request: pytest.FixtureRequest) -> str:
    """Every scenario on every virtual camera model: the generic one, the Canon EOS (whose
    client runs the ``canon-eos`` extension: GetEvent polling, SetDevicePropValueEx,
    GetObjectInfoEx listing, RemoteReleaseOn/Off) and the Fujifilm X-T2 (the ``fuji`` one).
    Where a model does a thing its own way the scenario asserts that way (``rig.eos``,
    ``rig.fuji``)."""
    name: str = request.param
    return name


def start_iso(rig: Rig) -> int:
    """The camera's ISO value at start, as get_property("iso") gives it."""
    if rig.sony:
        return SONY_ISO_AUTO
    return EOS_ISO_100 if rig.eos else 200


def camera_value(rig: Rig, code: int) -> object:
    """A property's value on the virtual camera's side (not the client's cache)."""
    if rig.eos:
        value = eos_state(rig.vcam).value(code)
        return value.code if isinstance(value, ImageFormat) else value
    return rig.vcam.properties[code].current()


def wait_eos_value(cam: Camera, code: int, value: int, timeout_s: float = 5.0) -> None:
    """Wait for the EOS record saying property ``code`` is now ``value`` (other events are
    kept for later)."""
    deadline = time.monotonic() + timeout_s
    while True:
        event = cam.wait_event([EOS_PROP_VALUE_CHANGED], timeout_s=deadline - time.monotonic())
        if event.params[:2] == (code, value):
            return


def wait_fuji_value(cam: Camera, code: int, value: int, timeout_s: float = 5.0) -> None:
    """Wait for the DevicePropChanged the Fujifilm 0xD212 poller reports when property ``code``
    becomes ``value`` (earlier ones of other properties are dropped, other events kept)."""
    deadline = time.monotonic() + timeout_s
    while True:
        event = cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=deadline - time.monotonic())
        if event.params == (code, value):
            return


def not_focus(events: list[CameraEvent]) -> list[CameraEvent]:
    """The events without the EOS autofocus result (FocusInfoEx changes around a half press):
    property news of the capture's own, queued like any property change."""
    return [
        e
        for e in events
        if not (e.code == EOS_PROP_VALUE_CHANGED and e.params[:1] == (EOS_FOCUS_INFO,))
    ]


#: The generated sample card, as walk() must list it (depth first, folders before contents).
SAMPLE_PATHS = [
    "DCIM",
    "DCIM/100PTPKT",
    "DCIM/100PTPKT/IMG_0001.JPG",
    "DCIM/100PTPKT/IMG_0002.JPG",
    "DCIM/100PTPKT/IMG_0003.JPG",
    "DCIM/100PTPKT/IMG_0004.JPG",
    "DCIM/101PTPKT",
    "DCIM/101PTPKT/IMG_0101.JPG",
    "MISC",
    "MISC/README.TXT",
    "MISC/nested",
    "MISC/nested/level2",
    "MISC/nested/level2/level3",
    "MISC/nested/level2/level3/NOTES.TXT",
]


class Interrupted(Exception):
    """Raised by a test's progress callback to break a transfer midway."""


class HashingFile(io.RawIOBase):
    """A write-only file object that hashes what it is given (a 5 GiB download, no disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        view = memoryview(data)  # type: ignore[arg-type]
        self.digest.update(view)
        self.size += view.nbytes
        return view.nbytes


def on_disk(entries: list[Entry]) -> list[tuple[str, int, bool]]:
    return [(e.path, e.size, e.is_folder) for e in entries]


def card_listing(root: Path) -> list[tuple[str, int, bool]]:
    """What walk() must return for a card folder: (path, size, is folder), depth first."""
    out: list[tuple[str, int, bool]] = []

    def visit(folder: Path, prefix: str) -> None:
        for child in sorted(folder.iterdir(), key=lambda p: p.name):
            path = f"{prefix}/{child.name}"
            if child.is_dir():
                out.append((path, 0, True))
                visit(child, path)
            else:
                out.append((path, child.stat().st_size, False))

    visit(root, STORE)
    return out


def without_info(entries: list[Entry]) -> list[Entry]:
    """Entries without the ObjectInfo the slow path carries (the fast path does not fetch it)."""
    return [dataclasses.replace(e, info=None) for e in entries]


def slow_walk(cam: Camera, folder: str | None = None) -> list[Entry]:
    """walk() by GetObjectHandles and GetObjectInfo, as on a camera without MTP nor a vendor
    listing (the Canon EOS GetObjectInfoEx: its extension's list_folder says "not mine")."""
    cam._fast_listing_failed = True
    for extension in cam.extensions:
        extension.list_folder = lambda storage_id, parent: None  # type: ignore[method-assign]
    try:
        return list(cam.walk(folder=folder))
    finally:
        cam._fast_listing_failed = False
        for extension in cam.extensions:
            del extension.list_folder


def drain_events(cam: Camera) -> None:
    list(cam.events(timeout_s=0))


def busy_then_ok(
    monkeypatch: pytest.MonkeyPatch, vcam: VirtualCamera, code: int, busy_times: int
) -> list[int]:
    """Make the virtual camera answer DeviceBusy to ``code`` ``busy_times`` times, then run the
    operation. Returns the list of transaction ids it was asked with (one per attempt)."""
    original = vcam.operations[code]
    attempts: list[int] = []

    def handler(ctx: OperationContext) -> Reply:
        attempts.append(ctx.request.transaction_id)
        if len(attempts) <= busy_times:
            return error(Rc.DEVICE_BUSY)
        return original.handler(ctx)

    monkeypatch.setitem(vcam.operations, code, dataclasses.replace(original, handler=handler))
    return attempts


# -- what the camera is ---------------------------------------------------------------------------


def test_device_info_and_supported_names(rig: Rig) -> None:
    cam = rig.cam
    info = cam.device_info
    if rig.eos:
        assert (info.manufacturer, info.model) == ("Canon Inc.", "Canon EOS 6D")
        assert info.serial_number == "PTPKIT-EOS-0001"
        assert info.vendor_extension_id == 0x0000000B  # Canon
    elif rig.fuji:
        assert (info.manufacturer, info.model) == ("FUJIFILM", "X-T2")
        assert info.serial_number == "PTPKIT-XT2-0001"
        assert info.vendor_extension_id == 0x0000000E  # Fujifilm
    elif rig.nikon:
        assert (info.manufacturer, info.model) == ("Nikon Corporation", "D850")
        assert info.serial_number == "PTPKIT-NIKON-0001"
        assert info.vendor_extension_id == 0x0000000A  # Nikon
    elif rig.sony:
        assert (info.manufacturer, info.model) == ("Sony Corporation", "ILCE-7M3")
        # Sony's id (over PTP/IP the body says MTP's; the client takes it as libgphoto2 does).
        assert info.vendor_extension_id == 0x00000011
    else:
        assert (info.manufacturer, info.model) == ("ptpkit", "Virtual Camera")
        assert info.serial_number == "PTPKIT-0001"
    assert info.operations_supported == tuple(sorted(rig.vcam.operations))

    operations = {str(op) for op in cam.operations_supported()}
    expected_operations = ["0x1001 GetDeviceInfo", "0x1009 GetObject", "0x101B GetPartialObject"]
    if rig.eos:  # named by the Canon vocabulary
        expected_operations += [
            "0x9116 EOS_GetEvent",
            "0x9109 EOS_GetObjectInfoEx",
            "0x9110 EOS_SetDevicePropValueEx",
            "0x9128 EOS_RemoteReleaseOn",
            "0x9174 EOS_GetPartialObjectEX64",
        ]
    elif rig.fuji:  # no MTP listing, no 64-bit reads; the capture preview of its own
        expected_operations += ["0x9022 GetCapturePreview", "0x101C InitiateOpenCapture"]
        assert not operations & {"0x9805 GetObjPropList", "0x95C1 Android_GetPartialObject64"}
    elif rig.nikon:  # named by the Nikon vocabulary; its own 64-bit reads, no MTP listing
        expected_operations += [
            "0x90C7 GetEvent",
            "0x90C8 DeviceReady",
            "0x9207 InitiateCaptureRecInMedia",
            "0x9421 GetObjectSize",
            "0x9431 GetPartialObjectEx",
        ]
    elif rig.sony:  # no MTP listing, no 64-bit reads; the SDIO operations
        # (by code: over PTP/IP MTP's vocabulary, which joins there, names 0x92xx its way)
        assert all(cam.supports(code) for code in (0x9201, 0x9202, 0x9205, 0x9207, 0x9209))
        assert not cam.supports(0x9805)
        assert not cam.supports(0x95C1)
    else:
        expected_operations += ["0x9805 GetObjPropList", "0x95C1 Android_GetPartialObject64"]
    for expected in expected_operations:
        assert expected in operations
    assert {e.name for e in cam.events_supported()} >= {
        "ObjectAdded",
        "DevicePropChanged",
        "CaptureComplete",
    }
    properties = {p.name for p in cam.properties_supported()}
    if rig.eos:
        # DeviceInfo lists two standard ones; the EOS ones come from the GetEvent dump.
        assert set(info.device_properties_supported) == {0x5001, 0xD402}
        assert properties >= {"BatteryLevel", "EOS_ISOSpeed", "EOS_Aperture", "EOS_ShutterSpeed"}
        assert "ExposureIndex" not in properties
    elif rig.sony:
        # Every one from SDIO_GetExtDeviceInfo 0x9202 (DeviceInfo lists none).
        assert properties >= {"ISO", "ShutterSpeed", "FNumber", "StillImageStoreDestination"}
        assert "ExposureIndex" not in properties
    else:
        assert properties >= {"ExposureIndex", "FNumber"}
    assert cam.supports("GetObject")
    assert cam.supports(Op.GET_PARTIAL_OBJECT)
    assert not cam.supports(0x9999)
    names = [ext.name for ext in cam.extensions]
    if rig.sony:
        # Over PTP/IP the body reports MTP's vendor id: MTP's extension joins, after Sony's.
        assert names == (["sony", "mtp"] if rig.transport == "ptpip" else ["sony"])
    else:
        expected_names = {
            "canon-eos": ["canon", "canon-eos"],
            "fuji-x": ["fuji"],
            "nikon": ["nikon"],
        }
        assert names == expected_names.get(rig.model, ["mtp"])


def test_storages(rig: Rig) -> None:
    storages = rig.cam.storages()
    assert [s.storage_id for s in storages] == [DEFAULT_STORAGE_ID]
    assert rig.cam.storage_ids() == (DEFAULT_STORAGE_ID,)
    storage = storages[0]
    assert storage.folder == "store_00010001"
    assert storage.description == "Virtual SD card"
    assert storage.info.volume_label == "PTPKIT"
    assert 0 < storage.info.free_space_bytes <= storage.info.max_capacity


# -- listing ----------------------------------------------------------------------------------


def test_walk_lists_the_whole_sample_card(rig: Rig, transactions: TransactionLog) -> None:
    entries = list(rig.cam.walk())
    assert [e.path for e in entries] == [f"{STORE}/{p}" for p in SAMPLE_PATHS]
    assert on_disk(entries) == card_listing(rig.card)
    names = transactions.names()
    if rig.eos:
        # EOS_GetObjectInfoEx: one transaction per folder (the top and each folder), no
        # ObjectInfo per object (vendors.md 1.8).
        folders = 1 + sum(e.is_folder for e in entries)
        assert names.count("EOS_GetObjectInfoEx") == folders
        assert "GetObjectInfo" not in names
        assert "GetObjectHandles" not in names
    elif rig.fuji or rig.nikon or rig.sony:
        # No MTP, no vendor listing: GetObjectHandles per folder, GetObjectInfo per object.
        assert "GetObjPropList" not in names
        assert names.count("GetObjectInfo") == len(entries)
        assert names.count("GetObjectHandles") == 1 + sum(e.is_folder for e in entries)
    else:
        assert names.count("GetObjPropList") == 1  # the fast path: one transaction
    if rig.fuji or rig.nikon or rig.sony:
        assert all(e.info is not None for e in entries)  # the ObjectInfo is the listing
    else:
        assert all(e.info is None for e in entries)  # neither fetches the full ObjectInfo
    by_path = {e.path: e for e in entries}
    picture = by_path[f"{STORE}/DCIM/100PTPKT/IMG_0001.JPG"]
    assert picture.name == "IMG_0001.JPG"
    assert picture.folder == f"{STORE}/DCIM/100PTPKT"
    assert picture.parent == by_path[f"{STORE}/DCIM/100PTPKT"].handle
    assert picture.object_format == 0x3801  # EXIF/JPEG
    assert picture.captured is not None
    assert by_path[f"{STORE}/DCIM"].parent == 0
    assert by_path[f"{STORE}/DCIM"].object_format == 0x3001  # Association
    assert len({e.handle for e in entries}) == len(entries)


def test_fast_and_slow_listing_agree(rig: Rig, transactions: TransactionLog) -> None:
    rig.vcam.add_generated_object(5 * 2**30 + 3, name="BIG.MOV", seed=1)  # a size over 4 GiB
    fast = list(rig.cam.walk())
    # The camera's own listing: MTP's whole-card index, or the EOS folder by folder (its
    # 32-bit size field says 0xFFFFFFFF for BIG.MOV: EOS_GetObjectInfo64 gives the size).
    listing = "EOS_GetObjectInfoEx" if rig.eos else "GetObjPropList"
    if rig.fuji or rig.nikon or rig.sony:
        # No listing of its own (no MTP): walk() is the ObjectInfo path already, and a size
        # over 4 GiB stays unknown on a Fujifilm (0xFFFFFFFF: no 64-bit size to ask for); a
        # Nikon asks GetObjectSize 0x9421 for it.
        assert listing not in transactions.names()
        assert all(e.info is not None for e in fast)
    else:
        assert listing in transactions.names()
    transactions.clear()
    slow = slow_walk(rig.cam)
    assert listing not in transactions.names()
    assert "GetObjectInfo" in transactions.names()
    assert without_info(fast) == without_info(slow)
    assert all(e.info is not None for e in slow)
    big = next(e for e in slow if e.name == "BIG.MOV")
    assert big.size == (SIZE_UNKNOWN_32 if rig.fuji or rig.sony else 5 * 2**30 + 3)
    assert big.info is not None
    assert big.info.compressed_size == SIZE_UNKNOWN_32

    # The same below one folder.
    fast_misc = list(rig.cam.walk(folder="MISC"))
    assert [e.path for e in fast_misc] == [
        f"{STORE}/{p}" for p in SAMPLE_PATHS if p.startswith("MISC/")
    ]
    assert without_info(fast_misc) == without_info(slow_walk(rig.cam, folder="MISC"))


def test_list_folder(rig: Rig) -> None:
    top = rig.cam.list_folder()
    assert [e.path for e in top] == [f"{STORE}/DCIM", f"{STORE}/MISC"]
    inside = rig.cam.list_folder(f"{STORE}/DCIM/100PTPKT")
    assert [e.name for e in inside] == [f"IMG_000{i}.JPG" for i in range(1, 5)]
    with pytest.raises(UsageError, match="not a folder"):
        rig.cam.list_folder("MISC/README.TXT")


def test_find_by_full_and_storage_less_path(rig: Rig) -> None:
    cam = rig.cam
    full = cam.find(f"{STORE}/DCIM/100PTPKT/IMG_0002.JPG")
    assert full.path == f"{STORE}/DCIM/100PTPKT/IMG_0002.JPG"
    assert full.size == (rig.card / "DCIM/100PTPKT/IMG_0002.JPG").stat().st_size
    assert not full.is_folder
    for short in ("DCIM/100PTPKT/IMG_0002.JPG", "/DCIM/100PTPKT/IMG_0002.JPG"):
        assert cam.find(short) == full
    folder = cam.find("MISC/nested/level2")
    assert folder.is_folder
    assert folder.path == f"{STORE}/MISC/nested/level2"
    by_handle = cam.entry(full.handle)  # GetObjectInfo: the full ObjectInfo
    assert by_handle.info is not None
    if rig.eos:
        # find() went folder by folder with GetObjectInfoEx, which has no full ObjectInfo;
        # the rest (size, dates, parent, format) agrees with GetObjectInfo's.
        assert full.info is None
        assert dataclasses.replace(by_handle, info=None) == full
    else:
        assert by_handle == full


# -- downloads --------------------------------------------------------------------------------


def test_download_to_folder_file_path_and_file_object(rig: Rig, tmp_path: Path) -> None:
    cam = rig.cam
    expected = (rig.card / "DCIM/100PTPKT/IMG_0003.JPG").read_bytes()
    entry = cam.find("DCIM/100PTPKT/IMG_0003.JPG")

    folder = tmp_path / "to-folder"
    folder.mkdir()
    result = cam.download(entry, folder)
    assert result == folder / "IMG_0003.JPG"
    assert result.read_bytes() == expected
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0003.JPG"]  # no .part left

    named = tmp_path / "renamed.jpg"
    assert cam.download(entry.path, named) == named
    assert named.read_bytes() == expected
    assert not (tmp_path / "renamed.jpg.ptpkit-part").exists()

    buffer = io.BytesIO()
    assert cam.download(entry.handle, buffer) is None
    assert buffer.getvalue() == expected


def test_download_to_a_folder_that_does_not_exist_yet(rig: Rig, tmp_path: Path) -> None:
    for entry in rig.cam.walk(folder="DCIM/100PTPKT"):
        rig.cam.download(entry, f"{tmp_path}/new/photos/")
    folder = tmp_path / "new/photos"
    assert folder.is_dir()
    assert sorted(p.name for p in folder.iterdir()) == [f"IMG_000{i}.JPG" for i in range(1, 5)]
    for picture in folder.iterdir():
        assert picture.read_bytes() == (rig.card / "DCIM/100PTPKT" / picture.name).read_bytes()


def test_empty_files_go_both_ways(rig: Rig, tmp_path: Path) -> None:
    entry = rig.cam.upload(io.BytesIO(b""), name="EMPTY.BIN", folder="MISC")
    assert entry.size == 0
    assert (rig.card / "MISC/EMPTY.BIN").read_bytes() == b""
    result = rig.cam.download("MISC/EMPTY.BIN", tmp_path)
    assert result is not None
    assert result.read_bytes() == b""
    assert rig.cam.read(entry) == b""


def test_download_reports_progress_up_to_the_total(rig: Rig, tmp_path: Path) -> None:
    size = 3 * 2**20 + 12_345  # several chunks
    handle = rig.vcam.add_generated_object(size, name="CLIP.MOV", seed=5)
    calls: list[tuple[int, int | None]] = []
    result = rig.cam.download(
        handle, tmp_path, progress=lambda done, total: calls.append((done, total))
    )
    assert result is not None
    assert result.read_bytes() == generated_bytes(size, 5)
    done = [d for d, _ in calls]
    assert done == sorted(done)
    assert len(set(done)) > 2  # reported along the way, not only at the end
    assert calls[-1] == (size, size)
    assert {total for _, total in calls} == {size}


def test_download_refuses_to_overwrite(rig: Rig, tmp_path: Path) -> None:
    existing = tmp_path / "README.TXT"
    existing.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        rig.cam.download("MISC/README.TXT", tmp_path)
    with pytest.raises(FileExistsError):
        rig.cam.download("MISC/README.TXT", existing)
    assert existing.read_bytes() == b"mine"
    assert not (tmp_path / "README.TXT.ptpkit-part").exists()
    rig.cam.download("MISC/README.TXT", tmp_path, overwrite=True)
    assert existing.read_bytes() == (rig.card / "MISC/README.TXT").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.TXT", "card"]


def test_interrupted_download_resumes_from_the_part_file(
    rig: Rig, tmp_path: Path, transactions: TransactionLog
) -> None:
    cam = rig.cam
    size, seed = 3 * 2**20 + 777, 9
    handle = rig.vcam.add_generated_object(size, name="RESUME.MOV", seed=seed)
    dest = tmp_path / "downloads"
    dest.mkdir()
    final, part = dest / "RESUME.MOV", dest / "RESUME.MOV.ptpkit-part"

    def stop_after_a_megabyte(done: int, total: int | None) -> None:
        if done >= 2**20:
            raise Interrupted

    with pytest.raises(Interrupted):
        cam.download(handle, dest, progress=stop_after_a_megabyte)
    assert not final.exists()
    have = part.stat().st_size
    assert 0 < have < size
    assert part.read_bytes() == generated_bytes(size, seed)[:have]

    # The engine cancelled and drained the transaction: the next one works.
    assert cam.storage_ids() == (DEFAULT_STORAGE_ID,)
    assert cam.read("MISC/README.TXT") == (rig.card / "MISC/README.TXT").read_bytes()

    transactions.clear()
    assert cam.download(handle, dest) == final
    if rig.fuji:
        # A Fujifilm's GetPartialObject is not to be trusted (libgphoto2#653): no resume, the
        # download starts again from byte 0 with one GetObject, over the .part's bytes.
        assert "GetPartialObject" not in transactions.names()
        assert [r.params for r in transactions.named("GetObject")] == [(handle,)]
    else:
        partial = transactions.named("GetPartialObject")
        # First the end of the .part is compared with the camera's bytes, then the rest.
        check = min(have, RESUME_CHECK_BYTES)
        assert [r.params for r in partial] == [
            (handle, have - check, check),
            (handle, have, size - have),
        ]
        assert "GetObject" not in transactions.names()
    assert hashlib.sha256(final.read_bytes()).hexdigest() == generated_sha256(size, seed)
    assert sorted(p.name for p in dest.iterdir()) == ["RESUME.MOV"]


def test_a_part_file_of_another_object_is_not_resumed(
    rig: Rig, tmp_path: Path, transactions: TransactionLog
) -> None:
    """A partial file recorded as this object's whose bytes differ (the camera rewrote the
    object, keeping its name, size and date) is shorter than the object: the download starts
    over instead of completing a file of the right size and the wrong content."""
    size = 200_000
    handle = rig.vcam.add_generated_object(size, name="CLIP.MOV", seed=1)
    stale = generated_bytes(size, seed=2)[:150_000]
    owner = rig.cam._part_owner(rig.cam.entry(handle))
    with open_part(tmp_path / "CLIP.MOV", owner=owner) as other:
        other.file.write(stale)
    final = rig.cam.download(handle, tmp_path)
    assert final.read_bytes() == generated_bytes(size, seed=1)
    assert "GetObject" in transactions.names()  # started over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CLIP.MOV", "card"]  # no .part left


def test_download_without_resume_starts_again(
    rig: Rig, tmp_path: Path, transactions: TransactionLog
) -> None:
    entry = rig.cam.find("DCIM/100PTPKT/IMG_0001.JPG")
    with open_part(tmp_path / "IMG_0001.JPG", owner=rig.cam._part_owner(entry)) as earlier:
        earlier.file.write(b"garbage that is not the picture")
    rig.cam.download(entry, tmp_path, resume=False)
    assert "GetPartialObject" not in transactions.names()
    expected = (rig.card / "DCIM/100PTPKT/IMG_0001.JPG").read_bytes()
    assert (tmp_path / "IMG_0001.JPG").read_bytes() == expected
    assert not (tmp_path / "IMG_0001.JPG.ptpkit-part").exists()


def test_read_a_byte_range(rig: Rig, transactions: TransactionLog) -> None:
    content = (rig.card / "DCIM/101PTPKT/IMG_0101.JPG").read_bytes()
    entry = rig.cam.find("DCIM/101PTPKT/IMG_0101.JPG")
    assert rig.cam.read(entry, 1000, 4096) == content[1000:5096]
    if rig.fuji:
        # No GetPartialObject on a Fujifilm (libgphoto2#653): the object read whole, the range
        # kept.
        assert transactions.names()[-1] == "GetObject"
        assert transactions.named("GetObject")[-1].params == (entry.handle,)
    else:
        assert transactions.named("GetPartialObject")[-1].params == (entry.handle, 1000, 4096)
    assert rig.cam.read(entry) == content
    assert rig.cam.read(entry, len(content) - 10) == content[-10:]
    # A range past the end reads what is there, like a file.
    assert rig.cam.read(entry, len(content) - 10, 1000) == content[-10:]
    assert rig.cam.read(entry, len(content), 10) == b""
    if rig.fuji:
        assert "GetPartialObject" not in transactions.names()


def test_thumbnail_is_a_jpeg(rig: Rig) -> None:
    entry = rig.cam.find("DCIM/100PTPKT/IMG_0004.JPG")
    if rig.eos:  # found by GetObjectInfoEx: the thumbnail's fields are GetObjectInfo's
        entry = rig.cam.entry(entry.handle)
    thumb = rig.cam.thumbnail(entry)
    assert thumb[:2] == b"\xff\xd8"
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.format == "JPEG"
        assert image.width <= 160
        assert image.height <= 120
        size = image.size
    assert entry.info is not None
    assert entry.info.thumb_compressed_size == len(thumb)
    assert (entry.info.thumb_pix_width, entry.info.thumb_pix_height) == size
    with pytest.raises(ObjectError) as caught:
        rig.cam.thumbnail("MISC/README.TXT")
    assert caught.value.code == Rc.NO_THUMBNAIL_PRESENT


# -- changing the card ------------------------------------------------------------------------


def test_upload_lands_on_the_card(rig: Rig, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    data = os.urandom(2 * 2**20 + 4321)  # more than one chunk
    source.write_bytes(data)
    sent: list[int] = []
    entry = rig.cam.upload(source, progress=lambda done, total: sent.append(done))
    assert entry.path == f"{STORE}/upload.bin"
    assert entry.size == len(data)
    assert (rig.card / "upload.bin").read_bytes() == data
    assert sent[-1] == len(data)
    assert entry.path in {e.path for e in rig.cam.walk()}
    assert entry.path in {e.path for e in slow_walk(rig.cam)}
    assert rig.cam.read(entry) == data


def test_upload_into_a_subfolder_and_from_a_file_object(rig: Rig) -> None:
    entry = rig.cam.upload(io.BytesIO(b"hello camera\n"), name="HELLO.TXT", folder="MISC/nested")
    assert entry.path == f"{STORE}/MISC/nested/HELLO.TXT"
    assert (rig.card / "MISC/nested/HELLO.TXT").read_bytes() == b"hello camera\n"
    assert rig.cam.find("MISC/nested/HELLO.TXT").handle == entry.handle
    assert on_disk(list(rig.cam.walk())) == card_listing(rig.card)


def test_an_upload_the_camera_then_describes_badly_is_still_an_upload(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The object is on the card once SendObject answered OK: an ObjectInfo of it that does not
    decode must not turn that success into an error (the caller would send it again)."""
    real = Camera.object_info

    def garbled(self: Camera, handle: int) -> object:
        info = real(self, handle)
        if info.filename == "LATE.TXT":
            raise DecodeError("ObjectInfo ends inside its file name", offset=60)
        return info

    monkeypatch.setattr(Camera, "object_info", garbled)
    entry = rig.cam.upload(io.BytesIO(b"late\n"), name="LATE.TXT", folder="MISC")
    assert entry.path == f"{STORE}/MISC/LATE.TXT"
    assert entry.size == 5
    assert (rig.card / "MISC/LATE.TXT").read_bytes() == b"late\n"


def test_make_folder_then_upload_into_it(rig: Rig, tmp_path: Path) -> None:
    made = rig.cam.make_folder("TRIP")
    assert made.is_folder
    assert made.path == f"{STORE}/TRIP"
    inner = rig.cam.make_folder("DAY1", folder=made)
    assert inner.path == f"{STORE}/TRIP/DAY1"
    assert (rig.card / "TRIP/DAY1").is_dir()
    source = tmp_path / "note.txt"
    source.write_text("first day\n")
    uploaded = rig.cam.upload(source, folder=inner.path)
    assert uploaded.path == f"{STORE}/TRIP/DAY1/note.txt"
    assert (rig.card / "TRIP/DAY1/note.txt").read_text() == "first day\n"
    assert on_disk(list(rig.cam.walk())) == card_listing(rig.card)


def test_delete_a_file_and_a_folder(rig: Rig) -> None:
    cam = rig.cam
    picture = cam.find("DCIM/100PTPKT/IMG_0002.JPG")
    cam.delete(picture)
    assert not (rig.card / "DCIM/100PTPKT/IMG_0002.JPG").exists()
    assert picture.path not in {e.path for e in cam.walk()}
    with pytest.raises(ObjectError):
        cam.object_info(picture.handle)

    misc = cam.find("MISC")
    notes = cam.find("MISC/nested/level2/level3/NOTES.TXT")
    cam.delete(misc.path)
    assert not (rig.card / "MISC").exists()
    paths = [e.path for e in cam.walk()]
    assert not any(p.startswith(f"{STORE}/MISC") for p in paths)
    assert paths == [e.path for e in slow_walk(cam)]
    assert on_disk(list(cam.walk())) == card_listing(rig.card)
    with pytest.raises(ObjectError):
        cam.object_info(notes.handle)
    with pytest.raises(NotFoundError):
        cam.find("MISC/README.TXT")


# -- properties -------------------------------------------------------------------------------


def test_describe_property_by_friendly_name_code_and_ptp_name(
    rig: Rig, transactions: TransactionLog
) -> None:
    cam = rig.cam
    by_name = cam.describe_property("iso")
    if rig.eos:
        # "iso" names the EOS ISO on an EOS (which does not list ExposureIndex), described from
        # the GetEvent dump's cache, in the EOS encoding (0x48 is ISO 100, vendors.md 1.4).
        assert by_name.code == EOS_ISO
        assert by_name.name == "EOS_ISOSpeed"
        assert by_name.friendly_name == "eos-iso"
        assert by_name.current == EOS_ISO_100
        assert by_name.current_text == "ISO 100"
        assert by_name.allowed is not None
        assert by_name.allowed[:3] == (0x00, 0x48, 0x4B)  # Auto, 100, 125
        assert "Auto, ISO 100, ISO 125" in by_name.allowed_text()
        others: tuple[int | str, ...] = (EOS_ISO, "EOS_ISOSpeed", "0xD103", "eos-iso")
    elif rig.sony:
        # "iso" names Sony's ISO 0xD21E (no ExposureIndex), from GetAllExtDevicePropInfo 0x9209.
        assert by_name.code == SONY_ISO
        assert by_name.name == "ISO"
        assert by_name.friendly_name == "sony-iso"
        assert by_name.current == SONY_ISO_AUTO
        assert by_name.current_text == "Auto"
        assert by_name.allowed is not None
        assert by_name.allowed[:3] == (SONY_ISO_AUTO, 50, 100)
        others = (SONY_ISO, "ISO", "0xD21E", "sony-iso")
    else:
        assert by_name.code == Dpc.EXPOSURE_INDEX
        assert by_name.name == "ExposureIndex"
        assert by_name.friendly_name == "iso"
        assert by_name.current == 200
        if rig.fuji:  # the X-T2's third stops, and its extended ISOs
            assert by_name.allowed == FUJI_ISOS
        else:
            assert by_name.allowed == (100, 200, 400, 800, 1600, 3200, 6400)
        others = (0x500F, "ExposureIndex", "0x500F", "exposure-index")
    assert by_name.writable
    for other in others:
        assert cam.describe_property(other) == by_name
    assert cam.get_property("iso") == cam.get_property(by_name.code) == start_iso(rig)
    # DeviceInfo's list, and on an EOS what its events report besides.
    assert len(cam.properties()) == len(cam.property_codes())
    if rig.eos:
        assert len(cam.property_codes()) > len(cam.device_info.device_properties_supported)
        # The EOS ones from the event cache; GetDevicePropDesc only for DeviceInfo's.
        asked = {r.params[0] for r in transactions.named("GetDevicePropDesc")}
        assert asked == set(cam.device_info.device_properties_supported)
    elif rig.sony:
        # The 0x9202 codes merged into DeviceInfo, described from 0x9209, never one by one.
        assert set(cam.property_codes()) == set(cam.device_info.device_properties_supported)
        assert "GetDevicePropDesc" not in transactions.names()
    elif rig.fuji:
        # DeviceInfo's, and what the 0xD212 state list reports besides (CameraState 0xDF00).
        listed = set(cam.device_info.device_properties_supported)
        assert set(cam.property_codes()) - listed == {FUJI_CAMERA_STATE}
        assert listed <= set(cam.property_codes())
    elif rig.nikon:
        # DeviceInfo's, and the vendor ones GetVendorPropCodes 0x90CA lists (vendors.md 2).
        listed = set(cam.device_info.device_properties_supported)
        assert set(cam.property_codes()) - listed == {0xD061, 0xD100, 0xD10B, 0xD1A2, 0xD1A4}
    else:
        assert len(cam.property_codes()) == len(cam.device_info.device_properties_supported)


def test_set_property_by_name_code_and_raw_value(rig: Rig, transactions: TransactionLog) -> None:
    cam = rig.cam
    steps: tuple[tuple[int, int | str], ...]
    if rig.eos:
        # EOS codes (ISO 400 is 0x58, 800 0x60, 1600 0x68), set with SetDevicePropValueEx.
        iso, name = EOS_ISO, "EOS_ISOSpeed"
        steps = ((0x58, "ISO 400"), (0x60, 0x60), (0x68, "1600"))
    elif rig.sony:
        iso, name = SONY_ISO, "ISO"
        steps = ((400, 400), (800, 800), (1600, "1600"))
    else:
        iso, name = Dpc.EXPOSURE_INDEX, "ExposureIndex"
        steps = ((400, 400), (800, 800), (1600, "1600"))
    (first, first_given), (second, second_given), (third, third_given) = steps
    cam.set_property("iso", first_given)
    assert cam.get_property("iso") == first
    assert camera_value(rig, iso) == first
    cam.set_property(iso, second_given)
    assert cam.get_property(name) == second
    cam.set_property(name, third_given)
    assert cam.get_property(iso) == third
    assert camera_value(rig, iso) == third
    assert cam.get_property_text("iso") == ("ISO 1600" if rig.eos else "1600")
    names = transactions.names()
    if rig.eos:
        assert names.count("EOS_SetDevicePropValueEx") == 3
        assert "SetDevicePropValue" not in names
    elif rig.sony:
        # SetControlDeviceA 0x9205 (named so by Sony's vocabulary; over PTP/IP MTP's names none).
        assert len([n for n in names if n in ("SDIO_SetExtDevicePropValue", "0x9205")]) == 3
        assert "SetDevicePropValue" not in names
    else:
        assert names.count("SetDevicePropValue") == 3


#: (model, property, text typed, raw value, text shown). On the EOS its own properties and
#: encodings (vendors.md 1.4; the standard names resolve to them); where the generic row has no
#: EOS property the EOS way of the same thing: the self-timer drive mode for a capture delay,
#: the image format (size and quality) for the image size, the EOS Artist (plain ASCII).
_TEXT_ROWS = [
    ("generic", "shutter", "1/60", 166, "1/60"),
    ("generic", "shutter", "1/125", 80, "1/125"),
    ("generic", "shutter", "2s", 20000, "2s"),
    ("generic", "f-number", "f/8", 800, "f/8"),
    ("generic", "aperture", "5.6", 560, "f/5.6"),
    ("generic", "exp-bias", "+1/3", 333, "+0.3"),
    ("generic", "exp-bias", "-0.7", -667, "-0.7"),
    ("generic", "exp-bias", "+1 1/3", 1333, "+1.3"),
    # What the allowed list shows, typed without its sign or rounded: the library matches it.
    ("generic", "exp-bias", "0.3", 333, "+0.3"),
    ("generic", "exp-bias", "0.333", 333, "+0.3"),
    ("generic", "exp-bias", "-1", -1000, "-1.0"),
    ("generic", "white-balance", "daylight", 4, "daylight"),
    ("generic", "delay", "2 s", 2000, "2 s"),
    ("generic", "image-size", "1920x1280", "1920x1280", "1920x1280"),
    ("generic", "artist", "Zoë Ōtake 写真", "Zoë Ōtake 写真", "Zoë Ōtake 写真"),
    ("canon-eos", "shutter", "1/60", 0x68, "1/60"),
    ("canon-eos", "shutter", "1/125", 0x70, "1/125"),
    ("canon-eos", "shutter", "2s", 0x30, "2s"),
    ("canon-eos", "shutter", '2"', 0x30, "2s"),  # gphoto2's way of writing seconds
    ("canon-eos", "f-number", "f/8", 0x38, "f/8"),
    ("canon-eos", "aperture", "5.6", 0x30, "f/5.6"),
    ("canon-eos", "exp-bias", "+1/3", 0x03, "+1/3"),
    ("canon-eos", "exp-bias", "-0.7", 0xFB, "-2/3"),
    ("canon-eos", "exp-bias", "+1 1/3", 0x0B, "+1 1/3"),
    # Decimals mean the nearest third: "0.3" and gphoto2's "-0.6" (config.c expcompensation2).
    ("canon-eos", "exp-bias", "0.3", 0x03, "+1/3"),
    ("canon-eos", "ev", "-0.6", 0xFB, "-2/3"),
    ("canon-eos", "exp-bias", "-1", 0xF8, "-1"),
    ("canon-eos", "white-balance", "daylight", 1, "Daylight"),
    ("canon-eos", "drive", "Timer 2 s", 0x11, "Timer 2 s"),
    (
        "canon-eos",
        "quality",
        "RAW + Large Fine JPEG",
        ImageFormat.of([(6, 0, 4), (1, 0, 3)]).code,
        "RAW + Large Fine JPEG",
    ),
    ("canon-eos", "artist", "Zoe Otake", "Zoe Otake", "Zoe Otake"),
    # Sony's encodings (codes/sony_values.py): shutter num << 16 | den, ISO with Auto 0xFFFFFF.
    ("sony", "shutter", "1/250", 0x000100FA, "1/250"),
    ("sony", "shutter", '2.5"', 0x0019000A, "2.5"),
    ("sony", "iso", "auto", 0xFFFFFF, "Auto"),
    ("sony", "iso", "3200", 3200, "3200"),
    ("sony", "f-number", "f/8", 800, "f/8"),
    ("sony", "exp-bias", "+2/3", 700, "+0.7"),
    ("sony", "exp-bias", "-1 1/3", -1300, "-1.3"),
    ("sony", "white-balance", "shade", 0x8011, "shade"),
    ("sony", "capturetarget", "camera+computer", 0x0011, "camera+computer"),
]


@pytest.mark.parametrize(("model", "prop", "text", "raw", "shown"), _TEXT_ROWS, indirect=["model"])
def test_set_property_from_text(rig: Rig, prop: str, text: str, raw: object, shown: str) -> None:
    rig.cam.set_property(prop, text)
    assert rig.cam.get_property(prop) == raw
    assert rig.cam.get_property_text(prop) == shown
    assert rig.cam.describe_property(prop).current_text == shown
    assert camera_value(rig, rig.cam.property_code(prop)) == raw  # the camera took it


def test_refused_value_lists_the_allowed_ones(rig: Rig) -> None:
    cam = rig.cam
    if rig.eos:
        # 0x4C is off the EOS third-stop grid; 1/16000 is past this body's 1/8000.
        off_grid, iso_allowed = 0x4C, r"allowed: Auto, ISO 100, ISO 125, ISO 160, ISO 200"
        too_fast, not_a_value = "1/16000", "not a value"
    elif rig.fuji:
        # 300 is off the X-T2's third-stop grid (250, 320); its slowest shutter time is 30 s.
        off_grid, iso_allowed = 300, r"allowed: 100, 200, 250, 320, 400, 500"
        too_fast, not_a_value = "1/16000", "allowed"
    elif rig.sony:
        # 300 is off the Alpha's third-stop grid; its fastest shutter is 1/8000.
        off_grid, iso_allowed = 300, r"allowed: Auto, 50, 100, 125, 160, 200, 250, 320"
        too_fast, not_a_value = "1/16000", "an ISO"
    else:
        off_grid, iso_allowed = 250, r"allowed: 100, 200, 400, 800, 1600, 3200, 6400"
        too_fast, not_a_value = "1/3", "allowed"
    with pytest.raises(UsageError, match=iso_allowed):
        cam.set_property("iso", off_grid)
    with pytest.raises(UsageError, match=r"allowed.*1/60.*"):
        cam.set_property("shutter", too_fast)
    with pytest.raises(UsageError, match=not_a_value):
        cam.set_property("iso", "fast")
    assert cam.get_property("iso") == start_iso(rig)
    # Without the local check the camera itself refuses it.
    with pytest.raises(PropertyError) as caught:
        cam.set_property("iso", off_grid, check=False)
    assert caught.value.code == Rc.INVALID_DEVICE_PROP_VALUE
    assert cam.get_property("iso") == start_iso(rig)


def test_read_only_property_cannot_be_set(rig: Rig) -> None:
    cam = rig.cam
    battery = cam.describe_property("battery")
    assert not battery.writable
    # A Fujifilm's battery is its own property (0xD242) in bars: 0xA is four of five. A Sony's
    # is its own too (0xD20E), a number.
    if rig.sony:
        level, text, code = 80, "80", SONY_BATTERY
    elif rig.fuji:
        level, text, code = FUJI_BATTERY_4_OF_5, "4/5", FUJI_BATTERY
    else:
        level, text, code = 87, "87%", Dpc.BATTERY_LEVEL
    assert battery.code == code
    assert battery.current_text == text
    with pytest.raises(UsageError, match="read-only"):
        cam.set_property("battery", 50)
    with pytest.raises(AccessDeniedError) as caught:
        cam.set_property("battery", 50, check=False)
    assert caught.value.code == Rc.ACCESS_DENIED
    assert caught.value.name == "AccessDenied"
    assert cam.get_property("battery") == level
    if rig.eos:
        # An EOS property the camera only reports: refused here, and by the camera to
        # SetDevicePropValueEx.
        shots = cam.describe_property(EOS_AVAILABLE_SHOTS)
        assert not shots.writable
        with pytest.raises(UsageError, match="read-only"):
            cam.set_property(EOS_AVAILABLE_SHOTS, 5)
        with pytest.raises(AccessDeniedError):
            cam.set_property(EOS_AVAILABLE_SHOTS, 5, check=False)
        assert camera_value(rig, EOS_AVAILABLE_SHOTS) == shots.current


def test_device_prop_changed_follows_a_set(rig: Rig) -> None:
    other = rig.connect()
    drain_events(rig.cam)
    drain_events(other)
    rig.cam.set_property("f-number", "f/11")
    for cam in (rig.cam, other):  # every connection hears of it, the one that set it too
        if rig.eos:
            # An EOS reports it in GetEvent: PropValueChanged with the new value (f/11: 0x40).
            wait_eos_value(cam, EOS_APERTURE, 0x40)
        else:
            if rig.fuji and cam is rig.cam and rig.transport == "ptpip":
                # Over Wi-Fi (remote mode) the setter's 0xD212 list already carries the
                # f-number: its cache took the value at the set, and its own change is no news.
                assert cam.extensions[0].state[Dpc.F_NUMBER] == 1100  # type: ignore[attr-defined]
                continue
            if rig.sony:
                # Not pushed with its value (Sony's 0xC203 names the property only): the
                # client's 0x9209 poller saw the value change and reports it with the value.
                wait_fuji_value(cam, Dpc.F_NUMBER, 1100)
                continue
            event = cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=5)
            if rig.fuji:
                # Not pushed by the camera: the client's 0xD212 poller saw the value change and
                # reports it as a DevicePropChanged with the new value.
                assert event.params == (Dpc.F_NUMBER, 1100)
            else:
                assert event.params == (Dpc.F_NUMBER,)
            assert event.name == "DevicePropChanged"
    assert other.get_property("f-number") == (0x40 if rig.eos else 1100)


def test_unknown_property_name(rig: Rig) -> None:
    with pytest.raises(UsageError, match=r"unknown property 'warp-speed'.*iso"):
        rig.cam.get_property("warp-speed")
    with pytest.raises(PropertyError) as caught:
        rig.cam.describe_property(0x5999)
    assert caught.value.code == Rc.DEVICE_PROP_NOT_SUPPORTED


# -- capture and events -----------------------------------------------------------------------


def test_capture_returns_the_new_picture(rig: Rig) -> None:
    cam = rig.cam
    if rig.nikon:
        # A Nikon shoots to its memory (SDRAM) unless RecordingMedia says the card; the change
        # comes back through the client's GetEvent poller.
        cam.set_property("recordingmedia", "card")
        event = cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=5)
        assert event.params == (0xD10B,)
    drain_events(cam)
    new = cam.capture(timeout_s=10)
    if rig.sony:
        # Still Image Save Destination "PC": the picture is in the camera's memory (0xFFFFC001),
        # on no card, read once ObjectInMemory said so; the camera lets it go once read.
        state = sony_state(rig.vcam)
        name, data = state.captured[-1]
        assert [(e.name, e.handle, e.in_memory) for e in new] == [(name, 0xFFFFC001, True)]
        assert new[0].size == len(data)
        assert new[0].path not in {e.path for e in cam.walk()}
        assert cam.read(new[0]) == data
        assert state.early_reads == 0
        assert not state.in_memory
        # Sony's news of the capture (buttons, focus, the object in memory) and the poller's.
        assert {e.code for e in cam.events(timeout_s=0.3)} <= SONY_NEWS
        return
    # A Fujifilm files its pictures as DCF does: DSCFnnnn.JPG in 100_FUJI.
    shot = "DCIM/100_FUJI/DSCF0001.JPG" if rig.fuji else "DCIM/100PTPKT/IMG_0005.JPG"
    assert [e.path for e in new] == [f"{STORE}/{shot}"]
    picture = rig.card / shot
    assert picture.read_bytes()[:2] == b"\xff\xd8"
    assert new[0].size == picture.stat().st_size
    assert new[0].path in {e.path for e in cam.walk()}

    # The ObjectAdded and CaptureComplete were capture()'s answer: kept with the result, not
    # queued a second time. An EOS answers in GetEvent records: the camera busy, ObjectAddedEx
    # (with the standard ObjectAdded ptpkit derives from it), the camera idle again.
    if rig.eos:
        assert [e.code for e in new.events] == [
            EOS_CAMERA_STATUS,
            EOS_OBJECT_ADDED,
            Ec.OBJECT_ADDED,
            EOS_CAMERA_STATUS,
        ]
        assert [e.params for e in new.events[::3]] == [(1,), (0,)]
        added = new.events[2]
    elif rig.fuji:
        # Fujifilm's ObjectAdded 0xC004 (naming the new object), over Wi-Fi the preview's
        # PreviewAvailable 0xC001 (GetCapturePreview fetched it), then CaptureComplete.
        wifi = [FUJI_PREVIEW_AVAILABLE] if rig.transport == "ptpip" else []
        codes = [FUJI_OBJECT_ADDED, *wifi, Ec.CAPTURE_COMPLETE]
        assert [e.code for e in new.events] == codes
        added = new.events[0]
    else:
        assert [e.code for e in new.events] == [Ec.OBJECT_ADDED, Ec.CAPTURE_COMPLETE]
        added = new.events[0]
    assert added.params[:1] == (new[0].handle,)
    assert len(added.params) == (4 if rig.fuji and rig.transport == "ptpip" else 1)
    if rig.fuji:
        # The 0xD212 poller's news of the capture (and, before it, of the remote set-up the
        # capture made: PC mode, USB priority) as DevicePropChanged: one more object.
        wait_fuji_value(cam, FUJI_OBJECT_COUNT, 8)
    assert [e.name for e in not_focus(list(cam.events(timeout_s=0.3)))] == []


def test_half_press_focuses_without_a_picture(rig: Rig) -> None:
    """The vendor's half press (one plan runner for every vendor: Canon EOS DoAf, Nikon AfDrive,
    Sony's button, Fujifilm's shutter action with its AF status polled) writes nothing; held,
    the next capture still takes one picture. The generic camera has none."""
    cam = rig.cam
    if rig.model == "generic":
        assert cam.half_press_plan() is None
        with pytest.raises(OperationNotSupportedError, match="no half-press"):
            cam.half_press()
        return
    on_card = sorted(p.relative_to(rig.card) for p in rig.card.rglob("*"))
    plan = cam.half_press()
    assert plan == cam.half_press_plan()
    assert sorted(p.relative_to(rig.card) for p in rig.card.rglob("*")) == on_card
    cam.half_press(hold=True)
    if plan.release is not None and not plan.capture_releases:
        cam.release_half_press()  # the vendor's capture would not let go of it (EOS)
    assert len(cam.capture(timeout_s=10)) == 1


def test_close_from_another_thread_ends_a_capture_and_a_download(rig: Rig) -> None:
    """A waiting capture and a running download both end at once with ClosedError when another
    thread closes the camera: not a timeout, not an error blamed on the camera."""
    cam = rig.connect()
    # The camera reports the picture in 10 s (an EOS: its self-timer drive mode; a Fujifilm: its
    # self-timer, CaptureDelay in its own values).
    if rig.eos:
        cam.set_property("drive", "Timer 10 s")
    elif rig.nikon:
        cam.set_property("still-capture-mode", 0x8011)  # Nikon's self-timer (vendors.md 2.6)
    elif rig.sony:
        # A Sony has the picture ready when ObjectInMemory says so: not for a long while here.
        state = sony_state(rig.vcam)
        state.options = dataclasses.replace(state.options, ready_polls=100_000)
    else:
        cam.set_property(Dpc.CAPTURE_DELAY, "10 seconds" if rig.fuji else 10_000)
    handle = rig.vcam.add_generated_object(256 * 1024 * 1024, seed=11)
    entry = cam.entry(handle)
    started = threading.Event()
    errors: dict[str, BaseException] = {}

    def capture() -> None:
        try:
            started.set()
            cam.capture(timeout_s=30)
        except BaseException as exc:
            errors["capture"] = exc

    thread = threading.Thread(target=capture)
    thread.start()
    started.wait()
    time.sleep(0.5)  # InitiateCapture answered; now waiting for the events
    cam.close()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert isinstance(errors["capture"], ClosedError), errors

    cam = rig.connect()
    first_chunk = threading.Event()

    def download() -> None:
        def slowly(done: int, total: int | None) -> None:
            first_chunk.set()
            time.sleep(0.01)

        try:
            cam.download(entry, io.BytesIO(), progress=slowly)
        except BaseException as exc:
            errors["download"] = exc

    thread = threading.Thread(target=download)
    thread.start()
    assert first_chunk.wait(timeout=10)
    cam.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert isinstance(errors["download"], ClosedError), errors


def test_wait_event_keeps_what_it_skipped_first_and_the_newest(rig: Rig) -> None:
    cam = rig.cam
    drain_events(cam)
    rig.vcam.emit(Ec.DEVICE_INFO_CHANGED)
    rig.vcam.emit(Ec.STORE_FULL, 0x00010001)
    rig.vcam.emit(Ec.DEVICE_PROP_CHANGED, 0x500F)
    event = cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=5)
    assert event.params == (0x500F,)
    rig.vcam.emit(Ec.OBJECT_ADDED, 1)
    seen = [event.code for event in cam.events(timeout_s=0.5)]
    if rig.sony:
        # Sony's own news of its set-up (0xC203 for PriorityMode) may reach the queue after
        # drain_events over USB's interrupt endpoint: not what this checks.
        seen = [code for code in seen if code != 0xC203]
    assert seen == [Ec.DEVICE_INFO_CHANGED, Ec.STORE_FULL, Ec.OBJECT_ADDED]


def test_capture_leaves_other_events_queued(rig: Rig) -> None:
    cam = rig.cam
    drain_events(cam)
    rig.vcam.emit(Ec.DEVICE_INFO_CHANGED)  # someone else's news, before and during the capture
    new = cam.capture(timeout_s=10)
    if rig.fuji:  # the 0xD212 poller's news of the capture, as in the test above
        wait_fuji_value(cam, FUJI_OBJECT_COUNT, 8)
    rig.vcam.emit(Ec.STORE_FULL, 0x00010001)
    assert len(new) == 1
    seen = [event.code for event in not_focus(list(cam.events(timeout_s=0.5)))]
    if rig.sony:
        seen = [code for code in seen if code not in SONY_NEWS]
    assert seen == [Ec.DEVICE_INFO_CHANGED, Ec.STORE_FULL]


def test_forced_vendor_extension(card: Path) -> None:
    """``vendors=`` uses a registered extension whatever DeviceInfo says; an unknown name is a
    UsageError before anything is sent."""
    import ptpkit

    with VirtualCamera(card) as vcam:
        with ptpkit.connect("virtual:", camera=vcam) as plain:
            assert "canon" not in {ext.name for ext in plain.extensions}
            assert plain.vocabulary.operation_name(0x9008) == "0x9008"
        with ptpkit.connect("virtual:", camera=vcam, vendors=("canon",)) as forced:
            # Vendor first, then MTP: the order hooks are asked in (issue 12).
            assert [ext.name for ext in forced.extensions] == ["canon", "mtp"]
            assert forced.vocabulary.operation_name(0x9008) == "InitiateReleaseControl"
        with pytest.raises(UsageError, match=r"no extension named nikkon; known: .*canon"):
            ptpkit.connect("virtual:", camera=vcam, vendors=["nikkon"])
        assert vcam.sessions == []


def test_other_connections_hear_of_uploads_and_deletes(rig: Rig) -> None:
    other = rig.connect()
    drain_events(other)
    entry = rig.cam.upload(io.BytesIO(b"x" * 100), name="NEW.TXT")
    assert other.wait_event([Ec.OBJECT_ADDED], timeout_s=5).params == (entry.handle,)
    assert other.find("NEW.TXT").handle == entry.handle
    rig.cam.delete(entry)
    assert other.wait_event([Ec.OBJECT_REMOVED], timeout_s=5).params == (entry.handle,)


# -- raw transactions -------------------------------------------------------------------------


def test_raw_transactions(rig: Rig) -> None:
    cam = rig.cam
    result = cam.transaction(Op.GET_DEVICE_INFO)
    assert result.ok
    assert result.name == "OK"
    assert DeviceInfo.from_bytes(result.data).model == rig.vcam.personality.model

    unsupported = cam.transaction(0x9999, [1, 2, 3])
    assert not unsupported.ok
    assert unsupported.code == Rc.OPERATION_NOT_SUPPORTED
    assert unsupported.name == "OperationNotSupported"
    assert unsupported.data == b""

    if rig.eos:
        # EOS_SetDevicePropValueEx by hand (ISO 3200 is 0x70): the client's cache learns the
        # value as from any other program, from the camera's next GetEvent.
        sent = cam.transaction(0x9110, data=encode_set_prop_value_ex(EOS_ISO, 0x70))
        assert sent.ok
        wait_eos_value(cam, EOS_ISO, 0x70)
        assert cam.get_property("iso") == 0x70
    elif rig.sony:
        # SetControlDeviceA by hand: the client learns the value from its next 0x9209 read.
        sent = cam.transaction(0x9205, [SONY_ISO], data=encode_value(DataType.UINT32, 3200))
        assert sent.ok
        wait_fuji_value(cam, SONY_ISO, 3200)
        assert cam.get_property("iso") == 3200
    else:
        value = encode_value(DataType.UINT16, 3200)
        sent = cam.transaction(Op.SET_DEVICE_PROP_VALUE, [Dpc.EXPOSURE_INDEX], data=value)
        assert sent.ok
        assert cam.get_property("iso") == 3200
        back = cam.transaction(Op.GET_DEVICE_PROP_VALUE, [Dpc.EXPOSURE_INDEX])
        assert back.data == value

    refused = cam.transaction(Op.GET_OBJECT_INFO, [0xDEAD])
    assert refused.code == Rc.INVALID_OBJECT_HANDLE
    assert cam.storage_ids() == (DEFAULT_STORAGE_ID,)  # still usable


# -- over 4 GiB -------------------------------------------------------------------------------


#: SHA-256 of generated content by (size, seed), each computed once in a session.
_reference_sha256 = functools.cache(generated_sha256)


@pytest.mark.slow
# Five GiB through each transport takes seconds: the EOS way of it (64-bit pieces) does not
# depend on the transport, and virtual+usb checks those pieces' data-phase headers too.
@pytest.mark.models_over("canon-eos", "virtual+usb")
# A Fujifilm reads it with one GetObject: over USB, whose data phase says 0xFFFFFFFF.
@pytest.mark.models_over("fuji-x", "virtual+usb")
# A Nikon reads it with GetPartialObjectEx pieces, whatever the transport.
@pytest.mark.models_over("nikon", "virtual+usb")
# A Sony reads it with one GetObject too (no 64-bit size or read ptpkit knows of on it).
@pytest.mark.models_over("sony", "virtual+usb")
def test_download_of_an_object_over_4_gib(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, transactions: TransactionLog
) -> None:
    size, seed = 5 * 2**30 + 3, 11
    handle = rig.vcam.add_generated_object(size, name="HUGE.MOV", seed=seed)
    # The reference hash, computed while the download runs (hashlib releases the GIL), by the
    # first of this test's cases only: the content, hence its hash, is the same for all.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reference = pool.submit(_reference_sha256, size, seed)

        entry = rig.cam.entry(handle)
        assert entry.info is not None
        assert entry.info.compressed_size == 0xFFFFFFFF  # ObjectInfo cannot hold the size
        if rig.fuji or rig.sony:
            # No 64-bit size on a Fujifilm (no MTP ObjectSize, no vendor operation): unknown,
            # and the download takes what GetObject brings.
            assert entry.size == SIZE_UNKNOWN_32
            assert "GetObjectPropValue" not in transactions.names()
        else:
            assert entry.size == size  # MTP ObjectSize can, and EOS_GetObjectInfo64
            read_size = {"canon-eos": "EOS_GetObjectInfo64", "nikon": "GetObjectSize"}.get(
                rig.model, "GetObjectPropValue"
            )
            assert read_size in transactions.names()

        headers: list[tuple[int, int, int]] = []
        engine = rig.cam._engine
        assert engine is not None
        if isinstance(engine.connection.framing, UsbFraming):
            read_into = rig.cam.transport.read_into

            def watch(
                buffer: memoryview, timeout_s: float | None, *, in_data: bool = False
            ) -> tuple[int, bool]:
                count, ended = read_into(buffer, timeout_s, in_data=in_data)
                if count >= 8:
                    length, kind, code = struct.unpack_from("<IHH", buffer)
                    if kind == 2:  # a data container's first bytes
                        headers.append((length, kind, code))
                return count, ended

            monkeypatch.setattr(rig.cam.transport, "read_into", watch)

        sink = HashingFile()
        assert rig.cam.download(entry, sink) is None
        assert sink.size == size
        assert sink.digest.hexdigest() == reference.result()
    if rig.eos:
        # An EOS reads it with EOS_GetPartialObjectEX64 (handle, offset low, offset high, max):
        # pieces of at most 0x7FFFFFFF bytes, the length parameter being 32 bits.
        step = 0x7FFFFFFF
        pieces = [(offset, min(step, size - offset)) for offset in range(0, size, step)]
        assert [r.params for r in transactions.named("EOS_GetPartialObjectEX64")] == [
            (handle, offset & 0xFFFFFFFF, offset >> 32, length) for offset, length in pieces
        ]
        assert "GetObject" not in transactions.names()
        if headers:
            data = [h for h in headers if h[2] == 0x9174]
            assert data == [(12 + length, 2, 0x9174) for _, length in pieces]
    elif rig.fuji or rig.sony:
        assert [r.params for r in transactions.named("GetObject")] == [(handle,)]
        assert "GetPartialObject" not in transactions.names()
        assert (0xFFFFFFFF, 2, Op.GET_OBJECT) in headers
    elif rig.nikon:
        # A Nikon reads it with GetPartialObjectEx 0x9431 (handle, offset low, offset high, max
        # low, max high) in pieces of the extension's step (64 MiB).
        step = 64 * 2**20
        pieces = [(offset, min(step, size - offset)) for offset in range(0, size, step)]
        assert [r.params for r in transactions.named("GetPartialObjectEx")] == [
            (handle, offset & 0xFFFFFFFF, offset >> 32, length, 0) for offset, length in pieces
        ]
        assert "GetObject" not in transactions.names()
        if headers:
            data = [h for h in headers if h[2] == 0x9431]
            assert data == [(12 + length, 2, 0x9431) for _, length in pieces]
    elif isinstance(engine.connection.framing, UsbFraming):
        # Over USB a data phase over 4 GiB announces the length 0xFFFFFFFF.
        assert (0xFFFFFFFF, 2, Op.GET_OBJECT) in headers


# A Fujifilm reads the whole object for a range (no GetPartialObject): on one transport only.
@pytest.mark.models_over("fuji-x", "virtual")
@pytest.mark.models_over("sony", "virtual")
def test_read_past_4_gib_uses_get_partial_object_64(rig: Rig, transactions: TransactionLog) -> None:
    size, seed = 5 * 2**30 + 3, 12
    handle = rig.vcam.add_generated_object(size, name="HUGE.MOV", seed=seed)
    content = GeneratedData(size, seed)

    def expected(offset: int, length: int) -> bytes:
        return b"".join(bytes(c) for c in content.chunks(offset, length))

    if rig.fuji:
        # No 64-bit operation and no GetPartialObject (libgphoto2#653), the size unknown
        # (0xFFFFFFFF): a range across the 4 GiB line, and the end of the object, each from one
        # GetObject of the whole object.
        assert rig.cam.read(handle, 2**32 - 10, 20) == expected(2**32 - 10, 20)
        assert rig.cam.read(handle, size - 7) == expected(size - 7, 7)
        assert [r.params for r in transactions.named("GetObject")] == [(handle,), (handle,)]
        assert not {"GetPartialObject", "Android_GetPartialObject64"} & set(transactions.names())
        return
    if rig.sony:
        # GetPartialObject below 4 GiB; past it no 64-bit operation (SDIO_GetPartialLargeObject
        # 0x9211 is not modelled): refused in words, nothing read wrong.
        assert rig.cam.read(handle, 2**32 - 30, 20) == expected(2**32 - 30, 20)
        with pytest.raises(UsageError, match="cannot read part of an object"):
            rig.cam.read(handle, 2**32 + 10, 20)
        assert "Android_GetPartialObject64" not in transactions.names()
        return

    offset = 4 * 2**30 + 12_345
    assert rig.cam.read(handle, offset, 5000) == expected(offset, 5000)
    # MTP's Android op, or the EOS one (handle, offset low, offset high, max: vendors.md 1.9).
    if rig.nikon:
        # Nikon's GetPartialObjectEx: (handle, offset low, offset high, max low, max high).
        assert transactions.named("GetPartialObjectEx")[-1].params == (
            handle,
            offset & 0xFFFFFFFF,
            offset >> 32,
            5000,
            0,
        )
    else:
        read_64 = "EOS_GetPartialObjectEX64" if rig.eos else "Android_GetPartialObject64"
        assert transactions.named(read_64)[-1].params == (
            handle,
            offset & 0xFFFFFFFF,
            offset >> 32,
            5000,
        )
    # The last bytes of the object, and a range across the 4 GiB line.
    assert rig.cam.read(handle, size - 7) == expected(size - 7, 7)
    assert rig.cam.read(handle, 2**32 - 10, 20) == expected(2**32 - 10, 20)


# -- errors -----------------------------------------------------------------------------------


def test_unknown_object_handle(rig: Rig, tmp_path: Path) -> None:
    with pytest.raises(ObjectError) as caught:
        rig.cam.object_info(0xDEAD)
    exc = caught.value
    assert exc.code == Rc.INVALID_OBJECT_HANDLE
    assert exc.name == "InvalidObjectHandle"
    assert exc.operation == Op.GET_OBJECT_INFO
    assert "GetObjectInfo" in str(exc)
    assert "0x2009 InvalidObjectHandle" in str(exc)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ObjectError):
        rig.cam.download(0xDEAD, tmp_path)
    assert sorted(tmp_path.iterdir()) == before


def test_missing_paths(rig: Rig) -> None:
    for missing in (
        "DCIM/100PTPKT/IMG_9999.JPG",
        "NOPE/IMG_0001.JPG",
        f"{STORE}/MISC/nested/level2/level3/level4",
        "/store_00020001/DCIM",
        "",
        STORE,
    ):
        with pytest.raises(NotFoundError):
            rig.cam.find(missing)
    with pytest.raises(NotFoundError):
        rig.cam.download("DCIM/NOPE.JPG", io.BytesIO())
    with pytest.raises(UsageError, match="is a folder"):
        rig.cam.download("DCIM", io.BytesIO())
    with pytest.raises(UsageError, match="not a folder"):
        rig.cam.upload(io.BytesIO(b"x"), name="X.TXT", folder="MISC/README.TXT")


def test_a_closed_camera_refuses_work(rig: Rig, tmp_path: Path) -> None:
    cam = rig.cam
    entry = cam.find("MISC/README.TXT")
    cam.close()
    cam.close()  # twice is fine
    calls: list[Callable[[], object]] = [
        cam.storage_ids,
        lambda: list(cam.walk()),
        lambda: cam.download(entry, tmp_path),
        lambda: cam.read(entry),
        lambda: cam.transaction(Op.GET_DEVICE_INFO),
        lambda: cam.get_property("iso"),
        cam.open,
    ]
    for call in calls:
        with pytest.raises(ClosedError):
            call()
    assert not (tmp_path / "README.TXT").exists()
    # The virtual camera is still there for a new connection.
    with rig.connect() as again:
        assert again.storage_ids() == (DEFAULT_STORAGE_ID,)


def test_a_transaction_from_a_progress_callback_is_busy(rig: Rig, tmp_path: Path) -> None:
    cam = rig.cam
    entry = cam.find("DCIM/100PTPKT/IMG_0001.JPG")
    expected = (rig.card / "DCIM/100PTPKT/IMG_0001.JPG").read_bytes()
    refused: list[BusyError] = []

    def nested(done: int, total: int | None) -> None:
        try:
            cam.storage_ids()
        except BusyError as exc:
            refused.append(exc)

    assert cam.download(entry, io.BytesIO(), progress=nested) is None
    assert refused
    assert "GetStorageIDs" in str(refused[0])

    # Let the BusyError escape: the download stops cleanly, the camera stays usable.
    with pytest.raises(BusyError):
        cam.download(entry, tmp_path, progress=lambda done, total: cam.storage_ids())
    assert not (tmp_path / "IMG_0001.JPG").exists()
    assert cam.storage_ids() == (DEFAULT_STORAGE_ID,)
    assert cam.download(entry, tmp_path) == tmp_path / "IMG_0001.JPG"
    assert (tmp_path / "IMG_0001.JPG").read_bytes() == expected


def test_device_busy_is_retried(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, transactions: TransactionLog
) -> None:
    attempts = busy_then_ok(monkeypatch, rig.vcam, Op.GET_STORAGE_IDS, busy_times=2)
    assert rig.cam.storage_ids() == (DEFAULT_STORAGE_ID,)
    assert len(attempts) == 3
    assert len(set(attempts)) == 3  # each try is a new transaction
    assert transactions.names().count("GetStorageIDs") == 3

    # What find() asks per folder: GetObjectInfo, or an EOS's GetObjectInfoEx.
    per_folder = 0x9109 if rig.eos else Op.GET_OBJECT_INFO
    attempts = busy_then_ok(monkeypatch, rig.vcam, per_folder, busy_times=2)
    entry = rig.cam.find("MISC/README.TXT")
    assert rig.cam.read(entry) == (rig.card / "MISC/README.TXT").read_bytes()
    assert len(attempts) >= 3


def test_device_busy_gives_up(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = busy_then_ok(monkeypatch, rig.vcam, Op.GET_STORAGE_IDS, busy_times=1000)
    rig.cam.busy_retries = 2
    with pytest.raises(DeviceBusyError) as caught:
        rig.cam.storage_ids()
    assert caught.value.code == Rc.DEVICE_BUSY
    assert "GetStorageIDs" in str(caught.value)
    assert len(attempts) == 3
    assert rig.cam.get_property("iso") == start_iso(rig)


def test_device_busy_retries_end_at_the_calls_timeout(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A timeout bounds the whole call, busy retries and their pauses included: with 20 retries
    # allowed (about 16 s of back-off) a call given 0.4 s ends by then with the busy answer.
    attempts = busy_then_ok(monkeypatch, rig.vcam, Op.GET_STORAGE_IDS, busy_times=1000)
    rig.cam.busy_retries = 20
    started = time.monotonic()
    result = rig.cam.transaction(Op.GET_STORAGE_IDS, timeout_s=0.4)
    elapsed_s = time.monotonic() - started
    assert result.code == Rc.DEVICE_BUSY
    assert 2 <= len(attempts) < 21
    # 0.4 s and the last answer's round trip; retrying past the deadline would take ~16 s.
    assert elapsed_s < 5.0


# -- concurrency ------------------------------------------------------------------------------


def test_two_connections_in_two_threads(rig: Rig, tmp_path: Path) -> None:
    cameras = [rig.cam, rig.connect()]
    files = [p for p in card_listing(rig.card) if not p[2]]
    start = threading.Barrier(len(cameras))

    def work(index: int) -> list[str]:
        cam = cameras[index]
        dest = tmp_path / f"copy{index}"
        dest.mkdir()
        start.wait(timeout=10)
        listed: list[str] = []
        for round_ in range(3):
            entries = list(cam.walk()) if round_ % 2 == 0 else slow_walk(cam)
            listed = [e.path for e in entries]
            for entry in entries:
                if not entry.is_folder:
                    cam.download(entry, dest / f"{round_}-{entry.name}")
        return listed

    with concurrent.futures.ThreadPoolExecutor(len(cameras)) as pool:
        results = [f.result(timeout=60) for f in [pool.submit(work, i) for i in range(2)]]
    for index, listed in enumerate(results):
        assert listed == [p for p, _, _ in card_listing(rig.card)]
        for path, _, _ in files:
            relative = path.removeprefix(STORE + "/")
            for round_ in range(3):
                copy = tmp_path / f"copy{index}" / f"{round_}-{Path(relative).name}"
                assert copy.read_bytes() == (rig.card / relative).read_bytes()


def test_sixteen_threads_share_one_camera(rig: Rig) -> None:
    cam = rig.cam
    files = [e for e in cam.walk() if not e.is_folder]
    contents = {e.handle: (rig.card / e.path.removeprefix(STORE + "/")).read_bytes() for e in files}
    start = threading.Barrier(16)

    def work(index: int) -> int:
        start.wait(timeout=10)
        done = 0
        for step in range(15):
            entry = files[(index + step) % len(files)]
            data = contents[entry.handle]
            offset = (index * 31 + step * 7) % max(1, len(data) - 64)
            assert cam.read(entry, offset, 64) == data[offset : offset + 64]
            assert cam.object_info(entry.handle).filename == entry.name
            assert cam.get_property("iso") == start_iso(rig)
            assert cam.object_handles(parent=ROOT, storage_id=ALL_STORAGES)
            done += 1
        return done

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(work, i) for i in range(16)]
        assert [f.result(timeout=60) for f in futures] == [15] * 16
    assert cam.storage_ids() == (DEFAULT_STORAGE_ID,)


def test_a_data_source_shorter_than_it_said_is_a_local_error(rig: Rig) -> None:
    """The length goes out before the data: a source that ends early would leave the camera
    waiting; it is our error, raised at once, and the link is still usable."""

    class Short:
        size = 1000
        given = False

        def read(self, max_bytes: int) -> bytes:
            if self.given:
                return b""
            self.given = True
            return b"x" * 10

    cam = rig.cam
    started = time.monotonic()
    with pytest.raises(LocalProtocolError, match="990 bytes short of the 1000"):
        cam._run(Op.SEND_OBJECT, data_out=Short())
    assert time.monotonic() - started < 5  # at once: not after a cancel's drain that cannot end
    if rig.fuji and rig.transport == "ptpip":
        # Fujifilm's PTP/IP has no cancel: a data phase sent in part cannot be ended, so the
        # link is given up (a clear error, not a hang) and a new connection works.
        with pytest.raises(ClosedError, match="reconnect"):
            cam.storage_ids()
        cam.close()
        cam = rig.connect()
    assert cam.storage_ids() == (0x00010001,)


def test_close_does_not_wait_behind_another_threads_transaction(rig: Rig) -> None:
    """close() checks that no transaction runs, then sends CloseSession; another thread may start
    one in between (a big download: minutes). close() must not queue behind it: that thread's
    call ends with ClosedError, and closing the link ends the session anyway."""
    engine = rig.cam._engine
    assert engine is not None
    taken = threading.Event()
    release = threading.Event()

    def hold_the_turn() -> None:  # a transaction that has its turn and has not started yet
        with engine._lock:
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_turn)
    holder.start()
    try:
        assert taken.wait(5)
        started = time.monotonic()
        rig.cam.close()
        assert time.monotonic() - started < 3
    finally:
        release.set()
        holder.join(10)
    with pytest.raises(ClosedError):
        rig.cam.storage_ids()
