"""Debian's gphoto2 (libgphoto2's PTP/IP client, written in C) against ptpkit's virtual camera.

An independent client that real users run: if it lists, downloads, uploads, captures and sets
properties correctly against our responder, our PTP/IP and PTP are right where gphoto2 cares.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from pathlib import Path

from tests.interop.conftest import GPhoto2, Served

import ptpkit
from ptpkit.virtual.storage import DEFAULT_CAPACITY_BYTES

SAMPLE_FILES = {
    "IMG_0001.JPG",
    "IMG_0002.JPG",
    "IMG_0003.JPG",
    "IMG_0004.JPG",
    "IMG_0101.JPG",
    "README.TXT",
    "NOTES.TXT",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_summary_reports_device_storage_and_properties(gphoto2: GPhoto2) -> None:
    out = gphoto2("--summary").stdout
    assert "Manufacturer: ptpkit" in out
    assert "Model: Virtual Camera" in out
    assert "Serial Number: PTPKIT-0001" in out
    assert "Generic Image Capture" in out  # InitiateCapture is in OperationsSupported
    assert "StorageDescription: Virtual SD card" in out
    assert re.search(r"Exposure Index.*Enumeration \[100,200,400", out)
    assert "Battery Level(0x5001):(read only)" in out


def test_storage_info(gphoto2: GPhoto2, served: Served) -> None:
    out = gphoto2("--storage-info").stdout
    assert "[Storage 0]" in out
    assert "description=Virtual SD card" in out
    assert "access=0 Read-Write" in out
    total_kib = int(re.search(r"totalcapacity=(\d+) KB", out).group(1))  # type: ignore[union-attr]
    free_kib = int(re.search(r"free=(\d+) KB", out).group(1))  # type: ignore[union-attr]
    # The card's own size and contents, never the host's disk (which other processes change).
    used = sum(p.stat().st_size for p in served.root.rglob("*") if p.is_file())
    assert total_kib == DEFAULT_CAPACITY_BYTES // 1024
    assert free_kib == (DEFAULT_CAPACITY_BYTES - used) // 1024


def test_list_files_shows_the_whole_card(gphoto2: GPhoto2) -> None:
    out = gphoto2("--list-files").stdout
    listed = set(re.findall(r"^#\d+\s+(\S+)", out, re.MULTILINE))
    assert listed == SAMPLE_FILES
    assert "folder '/store_00010001/MISC/nested/level2/level3'" in out


def test_get_all_files_is_byte_identical(gphoto2: GPhoto2, served: Served) -> None:
    # A file over 1 MiB makes gphoto2 use GetPartialObject in 1 MiB chunks (libgphoto2
    # library.c: size > 1 MiB and 0x101B supported); the others come with GetObject.
    big = served.root / "DCIM" / "100PTPKT" / "BIG_0001.MOV"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    served.camera.stores[0x00010001].scan()
    gphoto2("--get-all-files")
    saved = {p.name: p for p in gphoto2.work.iterdir()}
    assert set(saved) == SAMPLE_FILES | {"BIG_0001.MOV"}
    for name, path in saved.items():
        original = next(served.root.rglob(name))
        assert _sha(path) == _sha(original), name


def test_get_thumbnail_is_a_small_jpeg(gphoto2: GPhoto2) -> None:
    gphoto2("--folder", "/store_00010001/DCIM/100PTPKT", "--get-thumbnail", "1")
    thumb = gphoto2.work / "thumb_IMG_0001.jpg"
    data = thumb.read_bytes()
    assert data[:2] == b"\xff\xd8"
    assert 1000 < len(data) < 20000


def test_upload_file_lands_on_the_card(gphoto2: GPhoto2, served: Served, tmp_path: Path) -> None:
    source = tmp_path / "notes-from-gphoto2.txt"
    source.write_bytes(os.urandom(70000))
    gphoto2("--folder", "/store_00010001/MISC", "--upload-file", str(source))
    landed = served.root / "MISC" / "notes-from-gphoto2.txt"
    assert _sha(landed) == _sha(source)
    assert "notes-from-gphoto2.txt" in gphoto2("--list-files").stdout


def test_upload_of_an_empty_file(gphoto2: GPhoto2, served: Served, tmp_path: Path) -> None:
    # libgphoto2 sends a zero-length data phase as StartData alone, without EndData.
    source = tmp_path / "empty.txt"
    source.write_bytes(b"")
    gphoto2("--folder", "/store_00010001/MISC", "--upload-file", str(source))
    assert (served.root / "MISC" / "empty.txt").read_bytes() == b""


def test_delete_file_removes_it_from_the_card(gphoto2: GPhoto2, served: Served) -> None:
    target = served.root / "MISC" / "README.TXT"
    assert target.exists()
    gphoto2("--folder", "/store_00010001/MISC", "--delete-file", "README.TXT")
    assert not target.exists()
    assert "README.TXT" not in gphoto2("--list-files").stdout


def test_list_get_and_set_config(gphoto2: GPhoto2, served: Served) -> None:
    listed = gphoto2("--list-config").stdout.split()
    assert "/main/imgsettings/iso" in listed
    assert "/main/capturesettings/f-number" in listed
    out = gphoto2("--get-config", "/main/imgsettings/iso").stdout
    assert "Current: 200" in out
    assert "Choice: 3 800" in out
    gphoto2("--set-config", "/main/imgsettings/iso=800")
    assert served.camera.properties[0x500F].current() == 800
    assert "Current: 800" in gphoto2("--get-config", "/main/imgsettings/iso").stdout


def test_capture_image_and_download(gphoto2: GPhoto2, served: Served) -> None:
    out = gphoto2("--capture-image-and-download", "--keep").stdout
    assert "New file is in location /store_00010001/DCIM/100PTPKT/IMG_0005.JPG" in out
    saved = gphoto2.work / "IMG_0005.JPG"
    on_card = served.root / "DCIM" / "100PTPKT" / "IMG_0005.JPG"
    assert saved.read_bytes()[:2] == b"\xff\xd8"
    assert _sha(saved) == _sha(on_card)


def test_capture_without_keep_deletes_the_picture_on_the_camera(
    gphoto2: GPhoto2, served: Served
) -> None:
    gphoto2("--capture-image-and-download")
    assert (gphoto2.work / "IMG_0005.JPG").exists()
    assert not (served.root / "DCIM" / "100PTPKT" / "IMG_0005.JPG").exists()


def test_wait_event_sees_a_property_change(gphoto2: GPhoto2, served: Served) -> None:
    def change_iso() -> None:
        time.sleep(1.0)  # gphoto2 is connected and waiting by then
        with ptpkit.connect(served.server.url.rsplit(":", 1)[0]) as cam:
            cam.set_property("iso", 1600)

    changer = threading.Thread(target=change_iso)
    changer.start()
    try:
        out = gphoto2("--wait-event=4s").stdout
    finally:
        changer.join()
    assert re.search(r"Property 500f changed.*1600", out), out
