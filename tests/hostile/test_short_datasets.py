"""A camera whose ObjectInfos end early (``short-object-info``): listing and downloads work.

Some cameras leave trailing ObjectInfo fields out (no Keywords string, no ModificationDate, no
dates at all); libgphoto2's ptp_unpack_OI reads them, so gphoto2 users expect them to work. The
virtual camera cuts each ObjectInfo at a field boundary, by handle: after the file name, after
CaptureDate, or before Keywords. Over the in-process link, PyUSB and PTP/IP, as an MTP camera
(listed with GetObjPropList, ObjectInfo read per object where asked) and as a plain PTP camera
(listed object by object with GetObjectInfo).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ptpkit
from ptpkit.client.camera import Camera, SkippedObject
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.camera import Personality
from ptpkit.virtual.misbehave import Misbehavior
from ptpkit.virtual.server import PtpIpServer

TIMEOUT_S = 5.0
Opener = Callable[[], Camera]

#: The card: files in nested folders, each with its own content.
FILES = {
    "DCIM/100TEST/IMG_0001.JPG": b"\xff\xd8one" * 100,
    "DCIM/100TEST/IMG_0002.JPG": b"\xff\xd8two" * 2000,
    "DCIM/100TEST/IMG_0003.JPG": b"\xff\xd8three",
    "DCIM/101TEST/CLIP_0004.MOV": bytes(range(256)) * 300,
    "DCIM/101TEST/deeper/NOTE.TXT": b"a note",
    "MISC/README.TXT": b"read me",
}


#: A camera without MTP's description in its DeviceInfo: no GetObjPropList listing, every object's
#: ObjectInfo is read (the path a short ObjectInfo broke).
PLAIN_PTP = Personality(vendor_extension_id=0, vendor_extension_desc="", model="Plain PTP")
PERSONALITIES = {"mtp": Personality(), "ptp": PLAIN_PTP}


def _card(tmp_path: Path) -> Path:
    card = tmp_path / "card"
    for name, content in FILES.items():
        path = card / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return card


def _short_camera(card: Path, personality: str) -> VirtualCamera:
    return VirtualCamera(
        card,
        personality=PERSONALITIES[personality],
        misbehavior=Misbehavior.parse("short-object-info"),
    )


@contextlib.contextmanager
def _opener(vcam: VirtualCamera, transport: str) -> Iterator[Opener]:
    if transport == "ptpip":
        with PtpIpServer(vcam, "127.0.0.1", 0) as server:
            yield lambda: ptpkit.connect(server.url, timeout_s=TIMEOUT_S)
    else:
        yield lambda: ptpkit.connect(f"{transport}:", camera=vcam, timeout_s=TIMEOUT_S)


@pytest.fixture(params=["mtp", "ptp"])
def personality(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(params=["virtual", "virtual+usb", "ptpip"])
def camera(request: pytest.FixtureRequest, tmp_path: Path, personality: str) -> Iterator[Camera]:
    with (
        _short_camera(_card(tmp_path), personality) as vcam,
        _opener(vcam, request.param) as open_camera,
        open_camera() as cam,
    ):
        assert cam.device_info.model == PERSONALITIES[personality].model
        yield cam


def test_walk_lists_every_object_of_a_camera_with_short_object_infos(camera: Camera) -> None:
    skipped: list[SkippedObject] = []
    entries = list(camera.walk(on_error=skipped.append))
    assert skipped == []
    files = {e.path.split("/", 2)[2]: e for e in entries if not e.is_folder}
    assert set(files) == set(FILES)
    for name, entry in files.items():
        assert entry.size == len(FILES[name])
    folders = {e.path.split("/", 2)[2] for e in entries if e.is_folder}
    assert folders == {"DCIM", "DCIM/100TEST", "DCIM/101TEST", "DCIM/101TEST/deeper", "MISC"}
    # The camera really did leave fields out, in each of the three ways.
    cuts = set()
    for entry in entries:
        info = camera.object_info(entry.handle)
        assert info.keywords == ""
        if not info.modification_date:
            assert info.modification_datetime is None
        cuts.add((bool(info.capture_date), bool(info.modification_date)))
    assert cuts == {(False, False), (True, False), (True, True)}


def test_downloads_work_on_a_camera_with_short_object_infos(camera: Camera, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    done = set()
    for entry in camera.walk():
        if entry.is_folder:
            continue
        name = entry.path.split("/", 2)[2]
        saved = camera.download(entry, out)
        assert saved is not None
        assert saved.name == entry.name
        assert saved.read_bytes() == FILES[name]
        buffer = io.BytesIO()
        camera.download(entry.handle, buffer)
        assert buffer.getvalue() == FILES[name]
        saved.unlink()
        done.add(name)
    assert done == set(FILES)
    assert not list(out.iterdir())  # no .part left behind


def test_the_command_line_lists_and_downloads_from_a_camera_with_short_object_infos(
    tmp_path: Path, personality: str
) -> None:
    # `ls -R` and `download --all` as a gphoto2 user runs them, against the camera over PTP/IP.
    card = _card(tmp_path)
    config = tmp_path / "config"
    config.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PTPKIT_CAMERA", "PTPKIT_CONFIG_DIR")}
    env["PTPKIT_CONFIG_DIR"] = str(config)
    out = tmp_path / "out"
    with (
        _short_camera(card, personality) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
    ):

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "ptpkit", "--camera", server.url, *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=120,
                check=False,
            )

        listing = run("ls", "-R")
        assert listing.returncode == 0, listing.stderr
        for name in FILES:
            assert name.rsplit("/", 1)[1] in listing.stdout
        fetched = run("download", "--all", "--tree", "-o", str(out))
        assert fetched.returncode == 0, fetched.stderr
    # --tree recreates the camera's folders below out/ (one storage: no storage folder).
    saved = {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in out.rglob("*")
        if p.is_file() and not p.name.startswith(".ptpkit-")
    }
    assert saved == FILES
