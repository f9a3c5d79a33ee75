"""PowerShots on Canon's native protocol, end to end against the virtual PowerShot on its PyUSB
backend: the native API (:class:`ptpkit.client.powershot.PowerShot`), ``ptpkit.connect`` through
the PTP gateway, and the command line in process (``main([...])``), for a G3 (class 5) and a G2
(class 1); the scenarios that differ by protocol class also for an EOS 350D (class 6, the "new
protocol") and an EOS D60 (class 4). Every byte goes through the link, the backend and the
virtual camera; the card is a folder of this test, compared byte for byte."""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import ptpkit
from ptpkit.cli.main import main
from ptpkit.client.powershot import PowerShot
from ptpkit.client.powershot_ptp import OWNER_PROP, PowerShotTransport
from ptpkit.codes.common import Dpc, Op
from ptpkit.errors import UsageError
from ptpkit.transports.canon_usb import CanonUsbLink
from ptpkit.transports.usb import UsbSelector, select_camera
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.imaging import exif_thumbnail_bytes
from ptpkit.virtual.powershot import PowerShotDevice, make_powershot_card
from ptpkit.virtual.powershot_usb import PowerShotUsbDevice, make_powershot_backend

MODELS = ["powershot-g3", "powershot-g2"]
#: The EOS bodies: what they do differently (commands, key locks, capture messages) is covered
#: by the scenarios parametrised over ALL_MODELS; the rest runs on the two PowerShots only.
EOS_MODELS = ["powershot-eos-350d", "powershot-eos-d60"]
ALL_MODELS = MODELS + EOS_MODELS
NAMES = {
    "powershot-g3": "Canon PowerShot G3",
    "powershot-g2": "Canon PowerShot G2",
    "powershot-eos-350d": "Canon EOS 350D DIGITAL",
    "powershot-eos-d60": "Canon EOS D60",
}
FIRMWARE = {
    "powershot-g3": "1.0.2.0",
    "powershot-g2": "1.0.1.0",
    "powershot-eos-350d": "1.0.0.0",
    "powershot-eos-d60": "1.6.0.0",
}


def make_card(root: Path) -> dict[str, bytes]:
    """A PowerShot's card as the virtual one makes it (JPEGs with EXIF thumbnails, a movie
    and its THM in DCIM/100CANON), plus a second folder. Returns the files by their path
    under the card."""
    make_powershot_card(root)
    extra = root / "DCIM/101CANON/IMG_0101.JPG"
    extra.parent.mkdir(parents=True)
    extra.write_bytes((root / "DCIM/100CANON/IMG_0001.JPG").read_bytes())
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(params=MODELS)
def model(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def card(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path / "card"
    return root, make_card(root)


@pytest.fixture
def powershot(card: tuple[Path, dict[str, bytes]], model: str) -> Iterator[PowerShot]:
    root, _ = card
    with VirtualCamera(root) as camera:
        device = PowerShotDevice(camera, model=model)
        backend = make_powershot_backend(device)
        with PowerShot.open("canon-usb:", backend=backend, timeout_s=10.0) as cam:
            yield cam


# -- the native API --------------------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_MODELS)
def test_identify_owner_and_firmware(powershot: PowerShot, model: str) -> None:
    assert powershot.model == NAMES[model]
    assert powershot.firmware == FIRMWARE[model]
    powershot.set_owner("Kiril")
    assert powershot.get_owner() == "Kiril"
    assert powershot.owner == "Kiril"
    with pytest.raises(ptpkit.errors.LocalProtocolError):
        powershot.set_owner("x" * 40)


def test_a_virtual_powershot_url_opens_the_native_api(
    model: str, card: tuple[Path, dict[str, bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    """canon-remote's README, step by step, against the virtual PowerShot: find the camera,
    read model, owner and firmware, set the owner, watch the log of the commands."""
    with (
        caplog.at_level(logging.DEBUG, logger="ptpkit.canon"),
        PowerShot.open(f"virtual+usb:?model={model}") as cam,
    ):
        assert (cam.model, cam.firmware) == (NAMES[model], cam.identify().firmware_text)
        cam.set_owner("me, not asdf")
        assert cam.get_owner() == "me, not asdf"
        first = next(iter(cam.walk()))  # its own PowerShot card
        assert first.path.startswith("D:\\")
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("-> SetOwner (0x05 0x12 0x201)") for line in lines), lines
    # The URL's folder is the card; a backend is refused for a virtual URL.
    root, _ = card
    with PowerShot.open(f"virtual:{root}?model={model}") as cam:
        names = {entry.name for entry in cam.walk()}
    assert "IMG_0001.JPG" in names
    with pytest.raises(ptpkit.errors.UsageError, match="takes no backend"):
        PowerShot.open("virtual+usb:?model=powershot-g3", backend="libusb1")


@pytest.mark.parametrize("model", ALL_MODELS)
def test_time_storage_and_power(powershot: PowerShot) -> None:
    when = _dt.datetime(2024, 2, 29, 13, 14, 15)
    powershot.set_time(when)
    assert abs(powershot.get_time() - when) <= _dt.timedelta(seconds=2)
    assert powershot.drive() == "D:"
    space = powershot.disk_space()
    assert space.capacity_bytes >= space.free_bytes > 0
    assert powershot.power_status().ok


def test_walk_lists_the_whole_card(
    powershot: PowerShot, card: tuple[Path, dict[str, bytes]]
) -> None:
    _, files = card
    entries = list(powershot.walk())
    listed = {e.path: e.size for e in entries if not e.is_dir}
    assert listed == {"D:\\" + name.replace("/", "\\"): len(data) for name, data in files.items()}
    folders = [e.path for e in entries if e.is_dir]
    assert folders == ["D:\\DCIM", "D:\\DCIM\\100CANON", "D:\\DCIM\\101CANON"]
    # Parents come before their contents.
    order = [e.path for e in entries]
    assert order.index("D:\\DCIM\\100CANON") < order.index("D:\\DCIM\\100CANON\\IMG_0001.JPG")
    names = [e.name for e in powershot.list_folder("D:\\DCIM\\100CANON") if not e.is_dir]
    assert sorted(names) == [Path(n).name for n in sorted(files) if n.startswith("DCIM/100")]


@pytest.mark.parametrize("model", ALL_MODELS)
def test_download_thumbnail_delete_and_attributes(
    powershot: PowerShot, card: tuple[Path, dict[str, bytes]]
) -> None:
    root, files = card
    got = bytearray()
    length = powershot.download("D:\\DCIM\\100CANON\\MVI_0004.AVI", got.extend)
    assert length == len(got)
    assert bytes(got) == files["DCIM/100CANON/MVI_0004.AVI"]
    # The thumbnail is the JPEG inside the picture's EXIF block, as libgphoto2 extracts it.
    thumb = powershot.thumbnail("D:\\DCIM\\100CANON\\IMG_0001.JPG")
    assert thumb is not None
    assert thumb == exif_thumbnail_bytes(files["DCIM/100CANON/IMG_0001.JPG"])
    entry = next(e for e in powershot.walk() if e.name == "IMG_0002.JPG")
    powershot.mark_downloaded(entry)
    again = next(e for e in powershot.walk() if e.name == "IMG_0002.JPG")
    assert again.downloaded
    # The write-protect bit, set and cleared (SetFileAttributes, class 6 SetFileAttributes2).
    powershot.set_attributes(entry.path, 0x01)
    assert next(e for e in powershot.walk() if e.name == "IMG_0002.JPG").attrs & 0x01
    with pytest.raises(ptpkit.errors.ResponseError, match="0x02000029"):
        powershot.delete(entry.path)
    powershot.set_attributes(entry.path, 0x00)
    powershot.delete("D:\\DCIM\\100CANON\\IMG_0002.JPG")
    assert not (root / "DCIM/100CANON/IMG_0002.JPG").exists()
    with pytest.raises(ptpkit.errors.ResponseError, match="0x0200002"):
        powershot.delete("D:\\DCIM\\100CANON\\IMG_0002.JPG")


@pytest.mark.parametrize("model", ALL_MODELS)
def test_mkdir_and_rmdir(powershot: PowerShot, card: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = card
    powershot.mkdir("D:\\DCIM\\102CANON")
    assert (root / "DCIM/102CANON").is_dir()
    powershot.rmdir("D:\\DCIM\\102CANON")
    assert not (root / "DCIM/102CANON").exists()


@pytest.mark.parametrize("model", ALL_MODELS)
def test_capture_finds_the_new_file(
    powershot: PowerShot, card: tuple[Path, dict[str, bytes]], model: str
) -> None:
    root, _ = card
    before = {p for p in root.rglob("*") if p.is_file()}
    shot = powershot.capture(timeout_s=30.0)
    after = {p for p in root.rglob("*") if p.is_file()}
    (new,) = after - before
    assert shot.path == "D:\\" + str(new.relative_to(root)).replace("/", "\\")
    assert shot.entry.size == new.stat().st_size
    kinds = [m.kind for m in shot.messages]
    # usb.c canon_usb_capture_dialogue: a PowerShot ends at 0x0A "done"; a class 6 body says
    # 0x0E (on the card) alone; class 4 brackets with 0x0A, then 0x0E and its final 0x0F.
    expected = {
        "powershot-eos-350d": [0x0E],
        "powershot-eos-d60": [0x0A, 0x0A, 0x0E, 0x0F],
    }.get(model, [0x0A, 0x0A])
    assert kinds == expected
    # The keys EOS bodies lock before the release are unlocked again (0x0E).
    assert not powershot.link.keys_locked or powershot.link.protocol_class not in (4, 6)


def test_commands_are_logged_by_name_and_dumped_at_trace(
    powershot: PowerShot, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(5, logger="ptpkit.canon"):
        powershot.get_time()
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("-> GetTime (0x03 0x12 0x201) #") for line in lines)
    assert any(
        line.startswith("<- GetTime #") and "status 0x00000000 (OK)" in line for line in lines
    )
    dumps = [line for line in lines if line.startswith("control write 0x10: 80 bytes")]
    assert dumps
    assert "  0040  02 00 00 00 03 00 00 12" in dumps[0]


# -- as an ordinary Camera (the PTP gateway) -------------------------------------------------


@pytest.fixture
def camera(card: tuple[Path, dict[str, bytes]], model: str) -> Iterator[ptpkit.Camera]:
    root, _ = card
    with ptpkit.connect(f"virtual+usb:{root}?model={model}") as cam:
        yield cam


@pytest.mark.parametrize("model", ALL_MODELS)
def test_the_gateway_is_an_ordinary_camera(camera: ptpkit.Camera, model: str) -> None:
    info = camera.device_info
    assert (info.manufacturer, info.model) == ("Canon Inc.", NAMES[model])
    assert info.device_version == FIRMWARE[model]
    # Only what the gateway answers: no live view, formatting, 64-bit reads, protection.
    for present in (Op.GET_PARTIAL_OBJECT, Op.SEND_OBJECT_INFO, Op.SEND_OBJECT, Op.DELETE_OBJECT):
        assert present in info.operations_supported
    for absent in (Op.FORMAT_STORE, Op.INITIATE_OPEN_CAPTURE, Op.SET_OBJECT_PROTECTION):
        assert absent not in info.operations_supported
    assert set(info.device_properties_supported) == {Dpc.BATTERY_LEVEL, Dpc.DATE_TIME, OWNER_PROP}
    camera.set_property("owner", "Marcus")
    assert camera.get_property("owner") == "Marcus"
    assert camera.get_property("batterylevel") == 100
    # DateTime 0x5011 is the camera's clock (its local time, no zone), set and read back.
    camera.set_property("datetime", "20040607T080910")
    shown = str(camera.get_property("datetime"))
    assert shown[:13] in ("20040607T0809", "20040607T0810")


def test_handles_are_stable_per_path(camera: ptpkit.Camera) -> None:
    first = {e.path: e.handle for e in camera.walk()}
    second = {e.path: e.handle for e in camera.walk()}
    assert first == second
    assert len(set(first.values())) == len(first)


def test_a_download_through_the_gateway_is_byte_identical(
    camera: ptpkit.Camera, card: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    _, files = card
    out = tmp_path / "out"
    out.mkdir()
    for entry in camera.walk():
        if not entry.is_folder:
            camera.download(entry, out)
    got = {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}
    assert got == {Path(name).name: data for name, data in files.items()}


def test_a_partial_download_resumes(
    camera: ptpkit.Camera, card: tuple[Path, dict[str, bytes]]
) -> None:
    _, files = card
    movie = camera.find("/store_00010001/DCIM/100CANON/MVI_0004.AVI")
    data = files["DCIM/100CANON/MVI_0004.AVI"]
    part = camera.read(movie, offset=1000, length=5000)
    assert part == data[1000:6000]
    # GetPartialObject says how much it sent: all asked, the rest near the end, none past it.
    for offset, asked, sent in ((10, 100, 100), (len(data) - 7, 100, 7), (len(data) + 5, 10, 0)):
        result = camera.transaction(Op.GET_PARTIAL_OBJECT, [movie.handle, offset, asked])
        assert result.params == (sent,)
        assert result.data == data[offset : offset + sent]
    # And the link is in step afterwards (the rest of the file was read and dropped).
    assert camera.get_property("owner") == ""


@pytest.mark.parametrize("model", ALL_MODELS)
def test_capture_answers_object_added_and_capture_complete(camera: ptpkit.Camera) -> None:
    before = {e.path for e in camera.walk()}
    shots = camera.capture(timeout_s=30.0)
    assert len(shots) == 1
    assert shots[0].path not in before
    assert [event.name for event in shots.events] == ["ObjectAdded", "CaptureComplete"]


def test_usb_with_no_selector_picks_a_powershot_by_its_ids(
    card: tuple[Path, dict[str, bytes]],
) -> None:
    root, _ = card
    with VirtualCamera(root) as virtual:
        backend = make_powershot_backend(PowerShotDevice(virtual, model="powershot-g3"))
        found = select_camera(UsbSelector(), backend)
        assert (found.kind, found.url) == ("canon", f"canon-usb:{found.bus},{found.address}")
        # Never opened as PTP: usb: gives the gateway, as canon-usb: does.
        with ptpkit.connect("usb:", backend=backend) as cam:
            assert isinstance(cam.transport, PowerShotTransport)
            assert cam.device_info.model == "Canon PowerShot G3"
        with ptpkit.connect("canon-usb:", backend=backend) as cam:
            assert cam.device_info.manufacturer == "Canon Inc."
        # The usb: selectors, for both schemes.
        for where in ("usb:04a9:306e", "canon-usb:04A9:306E", found.url):
            with ptpkit.connect(where, backend=backend) as cam:
                assert cam.device_info.model == "Canon PowerShot G3", where
        with pytest.raises(ptpkit.errors.ConnectError, match="no matching PowerShot"):
            ptpkit.connect("canon-usb:04a9:3055", backend=backend)
        with pytest.raises(UsageError):
            ptpkit.connect("canon-usb:nonsense", backend=backend)


def test_a_link_cannot_be_made_for_a_device_that_is_no_powershot() -> None:
    from ptpkit.virtual.usb_device import VirtualUsbDevice, make_backend

    with VirtualCamera() as virtual:
        backend = make_backend(VirtualUsbDevice(virtual))
        ptp = select_camera(UsbSelector(), backend)
        with pytest.raises(ptpkit.errors.ConnectError, match="not a PowerShot"):
            CanonUsbLink(ptp)
        with pytest.raises(ptpkit.errors.ConnectError):
            ptpkit.connect("canon-usb:", backend=backend)


# -- the command line, in process --------------------------------------------------------------


def run(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    code = exited.value.code
    return code if isinstance(code, int) else 1


def url(card: tuple[Path, dict[str, bytes]], model: str) -> str:
    return f"virtual+usb:{card[0]}?model={model}"


def test_cli_info_storage_and_listing(
    card: tuple[Path, dict[str, bytes]], model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    where = url(card, model)
    assert run("--camera", where, "info") == 0
    shown = capsys.readouterr().out
    assert "Canon Inc." in shown
    assert NAMES[model] in shown
    assert run("--camera", where, "storage") == 0
    assert "D:" in capsys.readouterr().out
    assert run("--camera", where, "ls", "-R") == 0
    listing = capsys.readouterr().out
    for name in card[1]:
        assert f"/store_00010001/{name}" in listing


def test_cli_download_all_is_byte_identical(
    card: tuple[Path, dict[str, bytes]], model: str, tmp_path: Path
) -> None:
    out = tmp_path / "all"
    assert run("--camera", url(card, model), "download", "--all", "--tree", "-o", str(out)) == 0
    for name, data in card[1].items():
        got = (out / name).read_bytes()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), name
    assert not list(out.rglob("*.ptpkit-part"))


def test_cli_thumb_rm_and_capture_download(
    card: tuple[Path, dict[str, bytes]], model: str, tmp_path: Path
) -> None:
    root, _ = card
    where = url(card, model)
    thumbs = tmp_path / "thumbs"
    img = "/store_00010001/DCIM/100CANON/IMG_0001.JPG"
    assert run("--camera", where, "thumb", img, "-o", str(thumbs)) == 0
    (thumb,) = thumbs.glob("*.jpg")
    assert thumb.read_bytes() == exif_thumbnail_bytes(card[1]["DCIM/100CANON/IMG_0001.JPG"])
    assert run("--camera", where, "rm", img) == 0
    assert not (root / "DCIM/100CANON/IMG_0001.JPG").exists()
    shots = tmp_path / "shots"
    before = set(root.rglob("*.JPG"))
    assert run("--camera", where, "capture", "--download", str(shots)) == 0
    (new,) = set(root.rglob("*.JPG")) - before
    assert (shots / new.name).read_bytes() == new.read_bytes()


def test_cli_owner_datetime_and_unsupported(
    card: tuple[Path, dict[str, bytes]], model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    where = url(card, model)
    assert run("--camera", where, "set", "owner", "Kiril") == 0
    assert "Kiril" in capsys.readouterr().out
    assert run("--camera", where, "get", "owner") == 0
    capsys.readouterr()
    assert run("--camera", where, "set", "datetime", "now") == 0
    assert "date-time" in capsys.readouterr().out
    assert run("--camera", where, "get", "datetime") == 0
    shown = capsys.readouterr().out.strip()
    assert abs(_dt.datetime.fromisoformat(shown) - _dt.datetime.now()) < _dt.timedelta(minutes=1)
    # What the protocol cannot do: one line, no traceback.
    code = run("--camera", where, "liveview", "--frames", "1", "-o", str(card[0] / "lv.jpg"))
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1
    assert "no live view" in err


def test_cli_vvv_shows_the_native_commands_and_their_bytes(
    card: tuple[Path, dict[str, bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        assert run("-vvv", "--camera", url(card, "powershot-g3"), "get", "owner") == 0
    finally:
        logging.getLogger("ptpkit").handlers.clear()
    err = capsys.readouterr().err
    assert "ptpkit.canon: -> IdentifyCamera (0x01 0x12 0x201) #1" in err
    assert "ptpkit.canon: control read 0x55: 1 bytes" in err
    assert "  0000  43" in err  # the camstat 'C'
    assert "ptpkit.canon: <- IdentifyCamera #1 status 0x00000000 (OK)" in err


# -- a camera that goes away, discovery --------------------------------------------------------


class _UnpluggedMidFile(PowerShotDevice):
    """Pulls its own cable once ``after_bytes`` of a file have gone out (armed by the test)."""

    usb: PowerShotUsbDevice | None = None
    armed = False
    after_bytes = 12000  # a few of the link's 0x1400-byte reads get through
    sent = 0

    def read_bulk_in(self, max_bytes: int, timeout_s: float | None) -> tuple[bytes, bool]:
        data, ended = super().read_bulk_in(max_bytes, timeout_s)
        if self.armed and len(data) > 0x40:
            self.sent += len(data)
            if self.sent >= self.after_bytes and self.usb is not None:
                self.usb.unplug()
        return data, ended


def test_a_camera_unplugged_mid_download_leaves_only_a_part_file(
    card: tuple[Path, dict[str, bytes]], tmp_path: Path
) -> None:
    root, files = card
    out = tmp_path / "out"
    out.mkdir()
    with VirtualCamera(root) as virtual:
        device = _UnpluggedMidFile(virtual, model="powershot-g3")
        device.usb = PowerShotUsbDevice(device)
        backend = make_powershot_backend(device.usb)
        with ptpkit.connect("canon-usb:", backend=backend) as cam:
            movie = cam.find("/store_00010001/DCIM/100CANON/MVI_0004.AVI")
            device.armed = True
            with pytest.raises(ptpkit.errors.DisconnectedError):
                cam.download(movie, out)
    assert not (out / "MVI_0004.AVI").exists()
    (part,) = [p for p in out.iterdir() if p.name.endswith(".ptpkit-part")]
    assert 0 < part.stat().st_size < len(files["DCIM/100CANON/MVI_0004.AVI"])
    # Plugged in again: the download resumes (GetPartialObject, read up to the offset and
    # dropped by the gateway) and the file is whole.
    with ptpkit.connect(f"virtual+usb:{root}?model=powershot-g3") as cam:
        cam.download("/store_00010001/DCIM/100CANON/MVI_0004.AVI", out)
    assert (out / "MVI_0004.AVI").read_bytes() == files["DCIM/100CANON/MVI_0004.AVI"]
    assert not part.exists()


def test_discovery_names_a_powershot_with_its_canon_usb_url(
    card: tuple[Path, dict[str, bytes]],
) -> None:
    from ptpkit.discovery.usb import find_cameras

    with VirtualCamera(card[0]) as virtual:
        backend = make_powershot_backend(PowerShotDevice(virtual, model="powershot-g2"))
        (found,) = find_cameras(backend)
    assert found.url.startswith("canon-usb:")
    assert "PowerShot G2" in found.name


# -- upload (libgphoto2's CANON_EXPERIMENTAL_UPLOAD format) -----------------------------------


@pytest.mark.parametrize("model", ALL_MODELS)
def test_upload_writes_the_file_in_blocks(
    powershot: PowerShot, card: tuple[Path, dict[str, bytes]]
) -> None:
    import io

    root, _ = card
    data = bytes(range(256)) * 41 + b"end"  # three blocks of 0x1400 and a short one
    when = _dt.datetime(2004, 6, 7, 8, 9, 10)
    entry = powershot.upload(io.BytesIO(data), "D:\\DCIM\\100CANON", "NEW_0001.JPG", modified=when)
    assert entry.path == "D:\\DCIM\\100CANON\\NEW_0001.JPG"
    assert entry.size == len(data)
    assert (root / "DCIM/100CANON/NEW_0001.JPG").read_bytes() == data
    listed = next(e for e in powershot.walk() if e.name == "NEW_0001.JPG")
    assert listed.size == len(data)
    assert listed.modified == when
    # A name that is taken is refused by the camera, and nothing is left half-written.
    with pytest.raises(ptpkit.errors.ResponseError):
        powershot.upload(io.BytesIO(b"x" * 10), "D:\\DCIM\\100CANON", "NEW_0001.JPG")
    assert (root / "DCIM/100CANON/NEW_0001.JPG").read_bytes() == data
    with pytest.raises(UsageError):
        powershot.upload(io.BytesIO(b""), "D:\\DCIM\\100CANON", "EMPTY.JPG")


def test_cli_upload_through_the_gateway(
    card: tuple[Path, dict[str, bytes]], model: str, tmp_path: Path
) -> None:
    root, _ = card
    local = tmp_path / "UP_0001.TXT"
    local.write_bytes(b"PowerShot upload " * 1000)
    where = url(card, model)
    folder = "/store_00010001/DCIM/101CANON"
    assert run("--camera", where, "upload", "--folder", folder, str(local)) == 0
    assert (root / "DCIM/101CANON/UP_0001.TXT").read_bytes() == local.read_bytes()
    # Again: the camera refuses a name that is taken (one line, exit code not 0).
    assert run("--camera", where, "upload", "--folder", folder, str(local)) != 0


def test_folders_made_and_deleted_with_their_contents(
    camera: ptpkit.Camera, card: tuple[Path, dict[str, bytes]]
) -> None:
    root, _ = card
    made = camera.make_folder("102CANON", folder="/store_00010001/DCIM")
    assert made.is_folder
    assert made.path == "/store_00010001/DCIM/102CANON"
    assert (root / "DCIM/102CANON").is_dir()
    camera.delete("/store_00010001/DCIM/101CANON")  # a folder with a picture in it
    assert not (root / "DCIM/101CANON").exists()
    assert "/store_00010001/DCIM/101CANON/IMG_0101.JPG" not in {e.path for e in camera.walk()}


def test_a_download_broken_off_by_the_caller_leaves_the_link_in_step(
    camera: ptpkit.Camera, tmp_path: Path
) -> None:
    class Stop(Exception):
        pass

    def progress(done: int, total: int | None) -> None:
        raise Stop

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(Stop):
        camera.download("/store_00010001/DCIM/100CANON/MVI_0004.AVI", out, progress=progress)
    # The engine cancelled; the gateway read and dropped the rest of the file: the next
    # commands get their own answers.
    assert camera.get_property("owner") == ""
    assert camera.read("/store_00010001/DCIM/100CANON/MVI_0004.THM")[:2] == b"\xff\xd8"


#: The card and devices of test_cli_with_no_camera_named_picks_the_powershot's backend.
_CLI_CARDS: list[Path] = []
_CLI_DEVICES: list[PowerShotDevice] = []


def cli_backend() -> object:
    """A PyUSB backend with a virtual PowerShot G2 (``--usb-backend MODULE:cli_backend``)."""
    from ptpkit.virtual.powershot import open_powershot

    device = open_powershot("powershot-g2", _CLI_CARDS[-1])
    _CLI_DEVICES.append(device)
    return make_powershot_backend(device)


def test_cli_with_no_camera_named_picks_the_powershot(
    card: tuple[Path, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("PTPKIT_CAMERA", raising=False)
    monkeypatch.setenv("PTPKIT_CONFIG_DIR", str(tmp_path / "config"))
    _CLI_CARDS.append(card[0])
    try:
        # No --camera: the backend's only camera, "usb:", is a PowerShot by its ids, so the
        # canon-usb link and the gateway take it (never PTP).
        assert run("--usb-backend", f"{__name__}:cli_backend", "info") == 0
        shown = capsys.readouterr().out
        assert "Canon PowerShot G2" in shown
        assert "Canon Inc." in shown
    finally:
        for device in _CLI_DEVICES:
            device.close()
        _CLI_DEVICES.clear()
        _CLI_CARDS.clear()


def test_a_protected_picture_is_kept(card: tuple[Path, dict[str, bytes]]) -> None:
    from ptpkit.core import canon_usb as cu

    root, _ = card
    with VirtualCamera(root) as virtual:
        backend = make_powershot_backend(PowerShotDevice(virtual, model="powershot-g3"))
        with PowerShot.open("canon-usb:", backend=backend) as cam:
            cam.set_attributes("D:\\DCIM\\100CANON\\IMG_0002.JPG", cu.ATTR_WRITE_PROTECTED)
            entry = next(e for e in cam.walk() if e.name == "IMG_0002.JPG")
            assert entry.write_protected
            with pytest.raises(ptpkit.errors.ResponseError, match="0x02000029 file protected"):
                cam.delete(entry.path)
        # Through the gateway (the protection lasts while this virtual camera runs).
        with ptpkit.connect("canon-usb:", backend=backend) as camera:
            protected = camera.find("/store_00010001/DCIM/100CANON/IMG_0002.JPG")
            with pytest.raises(ptpkit.errors.ResponseError, match="ObjectWriteProtected"):
                camera.delete(protected)
    assert (root / "DCIM/100CANON/IMG_0002.JPG").exists()


def test_a_command_inside_a_listing_loop_is_refused_until_the_listing_ends(
    powershot: PowerShot,
) -> None:
    walk = powershot.walk()
    next(walk)
    # The listing's bytes are still coming: another command now would read them.
    with pytest.raises(ptpkit.errors.BusyError, match="GetDirEntries is still being read"):
        powershot.get_time()
    walk.close()  # the rest is read and dropped
    assert powershot.get_owner() == ""


# -- EOS bodies: the commands of their class, key locks --------------------------------------


@pytest.mark.parametrize("model", EOS_MODELS)
def test_eos_bodies_use_their_class_commands_and_unlock_their_keys(
    card: tuple[Path, dict[str, bytes]], model: str
) -> None:
    """libgphoto2's class branches, as the camera logs them: class 6's own codes for delete,
    attributes, upload and capture; class 4's EOS key lock; keys locked before a release are
    unlocked when the picture is on the card (usb.c canon_usb_capture_dialogue), and again
    at close if locked (camera_exit)."""
    import io

    root, _ = card
    with VirtualCamera(root) as vcam:
        device = PowerShotDevice(vcam, model=model)
        backend = make_powershot_backend(device)
        with PowerShot.open("canon-usb:", backend=backend, timeout_s=10.0) as cam:
            wake = list(device.log)
            cam.delete("D:\\DCIM\\100CANON\\IMG_0003.JPG")
            cam.set_attributes("D:\\DCIM\\100CANON\\IMG_0001.JPG", 0)
            cam.upload(io.BytesIO(b"u" * 100), "D:\\DCIM\\100CANON", "UP_0002.JPG")
            files = list(device.log)[len(wake) :]
            device.log.clear()
            cam.capture(timeout_s=30.0)
            release = list(device.log)
    if model == "powershot-eos-350d":
        # usb.c canon_usb_init for class 6: body id and abilities, no key lock.
        assert wake[-3:] == ["GetBodyID2", "GetPicAbilities2", "PowerStatus2"]
        assert "GetOwner2" in wake
        lock, unlock, extra = ["GetPicAbilities2", "LockKeys2"], "UnlockKeys2", ["Unknown22"]
        deleted, attributes = "DeleteFile2", "SetFileAttributes2"
    else:
        assert wake[-1] == "PowerStatus"
        assert "EOSLockKeys" not in wake  # class 4 locks only before a release
        lock, unlock, extra = ["EOSLockKeys"], "EOSUnlockKeys", []
        deleted, attributes = "DeleteFile", "SetFileAttributes"
    assert not (root / "DCIM/100CANON/IMG_0003.JPG").exists()
    # delete; attributes; the upload's block, its time and its closing attributes.
    assert files == [deleted, attributes, "UploadBlock", "SetFileTime", attributes]
    i = release.index(lock[-1])
    assert release[i - len(lock) + 1 : i + 1] == lock
    after = release[release.index("RemoteControl2" if extra else "RemoteControl", i) :]
    assert after[1 : 1 + len(extra)] == extra
    assert unlock in release[i:]
    assert (root / "DCIM/100CANON/UP_0002.JPG").read_bytes() == b"u" * 100
