"""A camera is untrusted input: ptpkit against a virtual camera that misbehaves on purpose.

Every misbehaviour of :mod:`ptpkit.virtual.misbehave`, over the in-process link, the USB transport
through PyUSB, and PTP/IP: the right error class, within the configured timeout, never a raw
struct/Unicode/Index error; memory bounded; no incomplete file under its final name, and the
download resumes; names made safe; DeviceBusy retried a bounded number of times; an event flood
drained.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.forked import in_a_forked_child

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.client.files import safe_filename, unique_path
from ptpkit.errors import (
    ConnectError,
    DecodeError,
    DeviceBusyError,
    DisconnectedError,
    PTPError,
    RemoteProtocolError,
    TransportError,
    TransportTimeout,
)
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.content import generated_bytes
from ptpkit.virtual.misbehave import HOSTILE_NAMES, Misbehavior
from ptpkit.virtual.server import PtpIpServer

MiB = 1 << 20
TIMEOUT_S = 1.5
Opener = Callable[[], Camera]


@contextlib.contextmanager
def _openers(vcam: VirtualCamera, transport: str) -> Iterator[Opener]:
    if transport == "ptpip":
        with PtpIpServer(vcam, "127.0.0.1", 0) as server:
            yield lambda: ptpkit.connect(server.url, timeout_s=TIMEOUT_S)
    else:
        yield lambda: ptpkit.connect(f"{transport}:", camera=vcam, timeout_s=TIMEOUT_S)


TRANSPORTS = ["virtual", "virtual+usb", "ptpip"]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _exercise(cam: Camera, handle: int) -> None:
    """The operations the misbehaviours corrupt, one after the other."""
    cam.storage_ids()
    cam.object_handles()
    cam.object_info(handle)
    list(cam.walk())
    cam.download(handle, io.BytesIO())


def _camera(tmp_path: Path, modes: str) -> VirtualCamera:
    card = tmp_path / "card"
    card.mkdir(exist_ok=True)
    return VirtualCamera(card, misbehavior=Misbehavior.parse(modes))


# -- absurd lengths and counts: an error, at once, without allocating what they claim ------------


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("absurd-length", RemoteProtocolError, "announced 4294967"),
        ("absurd-count", DecodeError, "array of 4294967280 elements"),
        ("absurd-string", DecodeError, "string of 255 characters"),
        ("wrong-tid", RemoteProtocolError, "transaction id"),
    ],
)
def test_lies_about_sizes_and_ids_are_caught_with_bounded_memory(
    tmp_path: Path, transport: str, mode: str, error: type[PTPError], words: str
) -> None:
    def peak_bytes() -> int:
        with _camera(tmp_path, mode) as vcam:
            handle = vcam.add_generated_object(1000, seed=1)
            with _openers(vcam, transport) as open_camera, open_camera() as cam:
                tracemalloc.start()
                try:
                    with pytest.raises(error, match=words):
                        _exercise(cam, handle)
                    return tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()

    # In a forked child, camera and server included (tests.forked): tracemalloc counts every
    # thread, an xdist worker's leftover threads of earlier tests included.
    peak = in_a_forked_child(peak_bytes)
    # Nothing sized by the lie: 0xFFFFFFF0 handles would be 16 GiB.
    assert peak < 8 * MiB


def test_a_control_packet_claiming_four_gigabytes_is_refused_unread(tmp_path: Path) -> None:
    with (
        _camera(tmp_path, "huge-packet") as vcam,
        _openers(vcam, "ptpip") as open_camera,
        open_camera() as cam,
        pytest.raises(DecodeError, match="exceeds the 8192-byte limit"),
    ):
        cam.storage_ids()


# -- broken data phases: the right error in time, the .part kept, the download resumed -----------


@pytest.mark.parametrize(
    ("mode", "errors"),
    [
        ("truncated", (RemoteProtocolError,)),
        ("early-response", (RemoteProtocolError,)),
        ("stall", (TransportTimeout, TransportError)),
        ("disconnect", (DisconnectedError,)),
        ("truncated-packet", (DisconnectedError, RemoteProtocolError)),
    ],
)
def test_a_broken_download_fails_in_time_keeps_its_part_and_resumes(
    tmp_path: Path, transport: str, mode: str, errors: tuple[type[PTPError], ...]
) -> None:
    size = 3 * MiB + 5
    target = tmp_path / "out" / "clip.mov"
    target.parent.mkdir()
    with _camera(tmp_path, mode) as vcam:
        handle = vcam.add_generated_object(size, seed=2)
        with _openers(vcam, transport) as open_camera:
            started = time.monotonic()
            with pytest.raises(errors), open_camera() as cam:
                cam.download(handle, target)
            # Within the configured timeout (plus the work before it), never a hang: a stall
            # unbounded by the 1.5 s timeout is forever, one bounded by the library's default
            # 20 s; 8 s over the timeout leaves a loaded machine its connect and download.
            assert time.monotonic() - started < TIMEOUT_S + 8
            assert not target.exists(), "an incomplete file stands under the final name"
            part = target.with_name("clip.mov.ptpkit-part")
            assert part.exists()
            assert part.stat().st_size < size
            # The camera behaves again: the next connection resumes and completes the file.
            vcam.misbehavior = Misbehavior()
            with open_camera() as cam:
                cam.download(handle, target)
    assert target.read_bytes() == generated_bytes(size, seed=2)
    assert not target.with_name("clip.mov.ptpkit-part").exists()


# -- hostile names -------------------------------------------------------------------------------


def test_hostile_names_stay_inside_the_target_folder_and_never_collide(
    tmp_path: Path, transport: str
) -> None:
    target = tmp_path / "downloads"
    target.mkdir()
    outside = set(tmp_path.rglob("*"))
    with (
        _camera(tmp_path, "hostile-names") as vcam,
        _openers(vcam, transport) as open_camera,
        open_camera() as cam,
    ):
        entries = [e for e in cam.walk() if not e.is_folder]
        assert len(entries) == len(HOSTILE_NAMES)
        taken: set[str] = set()
        saved = []
        for entry in entries:
            name = safe_filename(entry.name, fallback=f"object_{entry.handle:08x}")
            path = unique_path(target, name, taken)
            result = cam.download(entry, path)
            assert result is not None
            saved.append(result)
            # Written where we said, inside the folder, under one plain component.
            assert result.resolve().parent == target.resolve()
            assert result.stat().st_size == entry.size
    created_outside = set(tmp_path.rglob("*")) - outside - {target, *saved}
    created_outside -= {p for p in created_outside if target in p.parents}
    card = vcam.root
    created_outside -= {p for p in created_outside if card in p.parents or p == card}
    assert not created_outside, f"written outside the target folder: {created_outside}"
    assert len(saved) == len(set(saved)) == len(HOSTILE_NAMES)  # the duplicates did not collide
    for path in saved:
        name = path.name
        assert "/" not in name
        assert "\\" not in name
        assert "\x00" not in name
        assert name not in (".", "..", "")
        assert len(name.encode("utf-8")) <= 255
        assert not any(ord(ch) < 32 for ch in name)


def test_each_hostile_object_arrives_intact(tmp_path: Path, transport: str) -> None:
    with (
        _camera(tmp_path, "hostile-names") as vcam,
        _openers(vcam, transport) as open_camera,
        open_camera() as cam,
    ):
        for index, entry in enumerate(sorted(cam.walk(), key=lambda e: e.handle)):
            sink = io.BytesIO()
            cam.download(entry, sink)
            expected = generated_bytes(1000 + index, seed=index)
            assert hashlib.sha256(sink.getvalue()).digest() == hashlib.sha256(expected).digest()


# -- busy, floods, refusals ----------------------------------------------------------------------


def test_device_busy_is_retried_a_bounded_number_of_times(tmp_path: Path, transport: str) -> None:
    with _camera(tmp_path, "busy=3") as vcam:
        handle = vcam.add_generated_object(10_000, seed=3)
        with _openers(vcam, transport) as open_camera, open_camera() as cam:
            assert cam.storage_ids() == (0x00010001,)  # three DeviceBusy, then OK
            sink = io.BytesIO()
            cam.download(handle, sink)
            assert sink.getvalue() == generated_bytes(10_000, seed=3)
        vcam.misbehavior = Misbehavior.parse("busy=50")
        with _openers(vcam, transport) as open_camera, open_camera() as cam:
            started = time.monotonic()
            with pytest.raises(DeviceBusyError):
                cam.storage_ids()
            # Back-off 0.05 s doubling to 1 s, five retries: bounded, a few seconds at most.
            assert time.monotonic() - started < 5


def test_an_event_flood_is_drained_and_capture_still_works(tmp_path: Path, transport: str) -> None:
    with (
        _camera(tmp_path, "event-flood") as vcam,
        _openers(vcam, transport) as open_camera,
        open_camera() as cam,
    ):
        drained = 0
        deadline = time.monotonic() + 60
        while drained < 100_000 and time.monotonic() < deadline:
            event = cam.next_event(timeout_s=5)
            if event is None:
                break
            drained += 1
        assert drained == 100_000
        new = cam.capture(timeout_s=10)  # its events found after the flood
        assert len(new) == 1


def test_init_fail_is_a_connect_error_saying_not_paired(tmp_path: Path) -> None:
    with (
        _camera(tmp_path, "init-fail") as vcam,
        _openers(vcam, "ptpip") as open_camera,
        pytest.raises(ConnectError, match="not paired"),
    ):
        open_camera()


def test_no_misbehaviour_leaks_a_raw_python_error(tmp_path: Path, transport: str) -> None:
    """Whatever the camera does, only ptpkit's errors come out (the test fails on anything else,
    struct.error, UnicodeDecodeError, IndexError...)."""
    failures = 0
    for mode in (
        "absurd-length",
        "absurd-count",
        "absurd-string",
        "wrong-tid",
        "truncated",
        "early-response",
        "disconnect",
    ):
        with _camera(tmp_path, mode) as vcam:
            handle = vcam.add_generated_object(2 * MiB, seed=4)
            with _openers(vcam, transport) as open_camera:
                try:
                    with open_camera() as cam:
                        _exercise(cam, handle)
                except PTPError:
                    failures += 1
    assert failures == 7  # each misbehaviour was noticed, and only as a PTPError


def test_an_unknown_misbehaviour_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown misbehaviour"):
        Misbehavior.parse("explode")
