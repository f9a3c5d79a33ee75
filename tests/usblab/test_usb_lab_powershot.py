"""Debian's gphoto2 with its ``canon`` driver against ptpkit's virtual PowerShot G3 over real
USB, in the USB lab's guest (issue 16, section 3).

The virtual G3 speaks Canon's pre-PTP protocol as a FunctionFS gadget (ptpkit.virtual.
ffs_powershot) with the G3's ids, 0x04A9:0x306E, so libgphoto2's canon camlib detects it as
"Canon PowerShot G3 (normal mode)" and drives it: the wake-up with vendor control reads and
writes on ep0, every command a vendor control write, replies on bulk IN, capture news on
interrupt IN. The card is a sample card made to look like a G3's (conftest.powershot_card). It
runs in the same guest boot as the other gphoto2 gadget scripts (conftest.py), and again as
the G2 (0x04A9:0x3055, protocol class 1) and, reduced, as the EOS 350D (0x04A9:0x30EE, class 6,
libgphoto2's "new protocol"), followed by ptpkit's own canon-usb: client. A missing lab skips on
a developer's machine and fails in CI.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from tests.usblab.conftest import GPHOTO2_GADGET_TIMEOUT, GadgetRun

from ptpkit.virtual.imaging import exif_thumbnail_bytes

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("usb-lab"),  # one worker: its guest boot is shared (conftest.py)
    pytest.mark.timeout(GPHOTO2_GADGET_TIMEOUT + 120),
]

_NEW_FILE = re.compile(r"New file is in location /(DCIM/\w+)/(IMG_\d{4}\.JPG) on the camera")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# The virtual models gphoto2 drives: the run's name (conftest.py), the USB product id, the name
# gphoto2's --auto-detect shows and the one its summary shows.
MODELS = {
    "powershot": (0x306E, "Canon PowerShot G3 (normal mode)", "Canon:PowerShot G3 (normal mode)"),
    "powershot-g2": (0x3055, "Canon PowerShot G2", "Canon:PowerShot G2"),  # class 1
}


@pytest.mark.parametrize("name", list(MODELS))
def test_gphoto2_canon_driver_drives_the_virtual_powershot_over_usb(
    gphoto2_gadget_runs: dict[str, GadgetRun], name: str
) -> None:
    product_id, detected, summarized = MODELS[name]
    # The G2 runs the checks its protocol class changes (the guest script's FULL).
    full = name == "powershot-g3"
    card = gphoto2_gadget_runs[name].card
    run = gphoto2_gadget_runs[name].run
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()
    on_host = {str(p.relative_to(card)): p.read_bytes() for p in card.rglob("*") if p.is_file()}
    # What libgphoto2's canon driver lists and downloads: pictures and AVI movies (util.c
    # is_image, is_movie), not the .THM beside a movie nor other files.
    shown = {
        Path(path).name: data for path, data in on_host.items() if path.endswith((".JPG", ".AVI"))
    }
    assert len(shown) == 6

    # Debian's libgphoto2 has the canon camlib, and its table the G3 in its native protocol.
    assert result["camlibs"] == ["canon.so"]
    assert '"Canon PowerShot G3 (normal mode)"' in result["g3_models"]
    # The model's ids on the bus; gphoto2 names the camera from them.
    assert [int(x, 16) for x in result["ids"]] == [0x04A9, product_id]
    assert detected in result["detect"]["out"], result["detect"]
    assert "usb:" in result["detect"]["out"]

    # Wake-up, IdentifyCamera, FlashDeviceIdent, DiskInfo, PowerStatus, SetTime, GetTime.
    summary = result["summary"]
    assert summary["rc"] == 0, summary
    for line in (
        f"Model: {summarized}",
        "Power status: on battery (power OK)",
        "Drive D:",
        # The 1 GiB card in DiskInfo's bytes, shown by libgphoto2 divided by 1024 (canon.c).
        "1'048'576 bytes total",
        "bytes available",
    ):
        assert line in summary["out"], summary["out"]
    # The summary sets the camera's clock to the host's whole second and reads it back: the
    # camera then runs up to a second behind (as a real one does), so -1 is as right as +0.
    drift = re.search(r"\(host time ([+-]\d+) seconds\)", summary["out"])
    assert drift, summary["out"]
    assert -1 <= int(drift[1]) <= 1, summary["out"]

    # Recursive GetDirEntries: every folder, the pictures and the movie, nothing refused.
    listing = result["list"]
    assert listing["rc"] == 0, listing
    assert "There are 5 files in folder '/DCIM/100PTPKT'." in listing["out"]
    assert "There is 1 file in folder '/DCIM/101PTPKT'." in listing["out"]
    assert "MVI_0002.AVI" in listing["out"]
    assert "video/x-msvideo" in listing["out"]
    assert "There is no file in folder '/MISC/NESTED/LEVEL2/LEVEL3'." in listing["out"]
    assert "Error" not in listing["err"], listing["err"]

    # GetFile in the driver's 0x1400-byte reads: byte for byte what the card holds, the 2 MiB
    # movie included.
    assert result["get_all"]["rc"] == 0, result["get_all"]
    assert result["saved"] == {name: _sha(data) for name, data in shown.items()}

    # Thumbnails: a picture's from the EXIF head the camera sends (libexif takes it out), the
    # movie's from its .THM (canon.c canon_int_extract_jpeg_thumb).
    assert result["thumbs_get"]["rc"] == 0, result["thumbs_get"]
    expected = {
        f"thumb_{Path(name).stem}.jpg": exif_thumbnail_bytes(data) for name, data in shown.items()
    }
    expected["thumb_MVI_0002.jpg"] = exif_thumbnail_bytes(on_host["DCIM/100PTPKT/MVI_0002.THM"])
    assert all(expected.values())
    assert result["thumbs"] == {name: _sha(data or b"") for name, data in expected.items()}
    if full:
        exif = result["exif"]
        assert exif["rc"] == 0, exif
        assert re.search(r"Make\s+\|ptpkit", exif["out"]), exif["out"]
        assert re.search(r"Model\s+\|Virtual Camera", exif["out"]), exif["out"]

    # DeleteFile: the file is gone from the card, nothing else changed.
    assert result["delete"]["rc"] == 0, result["delete"]
    before = {path: _sha(data) for path, data in on_host.items()}
    deleted = before.pop("DCIM/101PTPKT/IMG_0101.JPG")
    assert deleted
    assert result["after_delete"] == before

    if full:
        # Upload: Debian builds libgphoto2 without CANON_EXPERIMENTAL_UPLOAD; nothing written.
        upload = result["upload"]
        assert upload["rc"] != 0
        assert "File upload not implemented for USB yet" in upload["err"]
        assert result["after_upload"] == result["after_delete"]

    # Remote capture to the card: the driver lists the card before and after and names the
    # new file from the difference (the protocol never names it).
    capture = result["capture"]
    assert capture["rc"] == 0, capture
    match = _NEW_FILE.search(capture["out"])
    assert match, capture["out"]
    first = f"{match[1]}/{match[2]}"
    assert set(result["after_capture"]) - set(before) == {first}
    # ... and to the computer: downloaded, then deleted from the card (no --keep).
    capture = result["capture_download"]
    assert capture["rc"] == 0, capture
    match = _NEW_FILE.search(capture["out"])
    assert match, capture["out"]
    second = f"{match[1]}/{match[2]}"
    assert second not in result["after_capture"]
    assert f"Saving file as {match[2]}" in capture["out"]
    assert f"Deleting file /{second} on the camera" in capture["out"]
    size, head, tail = result["captured"][match[2]]
    assert (head, tail) == ("ffd8", "ffd9")
    assert size > 1000
    assert result["after_capture_download"] == result["after_capture"]

    if not full:
        return
    # The command line serves the same camera; SIGTERM stops it cleanly, the gadget unbound.
    cli = result["cli"]
    assert detected in cli["detect"]["out"], cli
    assert cli["summary"]["rc"] == 0, cli
    assert f"Model: {summarized}" in cli["summary"]["out"]
    assert cli["server"]["rc"] == 0, cli["server"]
    assert f"ready at /dev/ffs-ptp (USB id 04a9:{product_id:04x})" in cli["server"]["out"]
    assert "Traceback" not in cli["server"]["err"]
    assert cli["udc_after"] == ""


def test_gphoto2_canon_driver_drives_the_class_6_eos_350d_over_usb(
    gphoto2_gadget_runs: dict[str, GadgetRun],
) -> None:
    """The reduced run (conftest.py): libgphoto2's class 6 branches against the virtual 350D,
    shown by the commands the camera answered."""
    card = gphoto2_gadget_runs["powershot-eos-350d"].card
    run = gphoto2_gadget_runs["powershot-eos-350d"].run
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()
    on_host = {str(p.relative_to(card)): p.read_bytes() for p in card.rglob("*") if p.is_file()}
    assert [int(x, 16) for x in result["ids"]] == [0x04A9, 0x30EE]
    # A USB 2.0 body at high speed (ffs_powershot: the new protocol reads replies whole).
    assert result["speed"] == ["480"]
    # Three names share the id in libgphoto2's table; --auto-detect shows one of them.
    assert "(normal mode)" in result["detect"]["out"], result["detect"]
    assert "usb:" in result["detect"]["out"]
    commands = result["commands"]
    # usb.c canon_usb_init, class 6: identify with the owner apart, body id, abilities, power.
    assert commands[:5] == [
        "IdentifyCamera",
        "GetOwner2",
        "GetBodyID2",
        "GetPicAbilities2",
        "PowerStatus2",
    ]
    assert "FlashDeviceIdent2" in commands
    # No old-protocol command reached the camera (it would have refused it).
    old = {"DeleteFile", "SetFileAttributes", "FlashDeviceIdent", "PowerStatus", "SetOwner"}
    assert not old & set(commands), commands

    listing = result["list"]
    assert listing["rc"] == 0, listing
    assert "There are 5 files in folder '/DCIM/100PTPKT'." in listing["out"]
    assert "There is 1 file in folder '/DCIM/101PTPKT'." in listing["out"]

    # One download, byte for byte; the driver then clears its "not downloaded" bit with
    # SetFileAttributes2 (0x07).
    assert result["get_one"]["rc"] == 0, result["get_one"]
    assert result["saved"] == {"IMG_0001.JPG": _sha(on_host["DCIM/100PTPKT/IMG_0001.JPG"])}
    assert commands[commands.index("GetFile") + 1] == "SetFileAttributes2"

    # DeleteFile2 (0x0A/0x11): the file is gone, nothing else changed.
    assert result["delete"]["rc"] == 0, result["delete"]
    before = dict(result["card"])
    assert before.pop("DCIM/101PTPKT/IMG_0101.JPG")
    assert result["after_delete"] == before
    assert "DeleteFile2" in commands

    # Capture through RemoteControl2: keys locked before the release (abilities first), the
    # 0x22 the Windows software sends after it, the keys unlocked at 0x0E; the new file named.
    capture = result["capture"]
    assert capture["rc"] == 0, capture
    match = _NEW_FILE.search(capture["out"])
    assert match, capture["out"]
    assert set(result["after_capture"]) - set(before) == {f"{match[1]}/{match[2]}"}
    at = commands.index("LockKeys2")
    assert commands[at - 1] == "GetPicAbilities2"
    assert commands[at + 1 :].count("Unknown22") == 1
    assert commands.index("UnlockKeys2", at) > commands.index("Unknown22", at)


def _client_result(runs: dict[str, GadgetRun]) -> tuple[dict[str, Any], dict[str, bytes]]:
    card = runs["powershot-client"].card
    run = runs["powershot-client"].run
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()
    assert result["client_rc"] == 0, result["client_err"]
    on_host = {str(p.relative_to(card)): p.read_bytes() for p in card.rglob("*") if p.is_file()}
    return result, on_host


def test_ptpkit_canon_usb_client_drives_the_virtual_powershot_over_usb(
    gphoto2_gadget_runs: dict[str, GadgetRun],
) -> None:
    """ptpkit's own client, in another process of the guest, through the kernel and libusb:
    the native API (PowerShot.open("canon-usb:")) and the PTP gateway (ptpkit.connect)."""
    result, on_host = _client_result(gphoto2_gadget_runs)
    client = result["client"]
    before = result["card_before"]
    assert before == {path: _sha(data) for path, data in on_host.items()}
    after = result["card_after"]

    # Identify, owner set and read back, time, drive, disk, power.
    assert (client["model"], client["firmware"]) == ("Canon PowerShot G3", "1.0.2.0")
    assert client["owner"] == "USB lab"
    assert client["time_error_s"] <= 2
    assert client["drive"] == "D:"
    capacity, free = client["disk"]
    assert capacity == 1 << 30 >= free > 0  # CARD_CAPACITY_BYTES, not clipped
    assert client["power_ok"] is True

    # The whole card listed (every file: the native API hides nothing) and read byte for byte.
    def canon(path: str) -> str:  # DOS names: upper case (the card has lower-case folders)
        return "D:\\" + path.replace("/", "\\").upper()

    assert client["files"] == {canon(path): len(data) for path, data in on_host.items()}
    assert client["native_sha"] == {canon(path): _sha(data) for path, data in on_host.items()}
    # The thumbnail: the JPEG in the EXIF head the camera answers GetFile flag 1 with, by the
    # native API and through the gateway's GetThumb alike.
    thumbnail = exif_thumbnail_bytes(on_host["DCIM/100PTPKT/IMG_0001.JPG"])
    assert thumbnail is not None
    assert client["thumb"] == [len(thumbnail), _sha(thumbnail)]
    assert client["native_thumbnail"] == client["gateway_thumb"] == _sha(thumbnail)

    # Upload in libgphoto2's experimental format: its blocks went out on bulk OUT (the
    # gadget's ep2), then SetFileTime and SetFileAttributes completed the file.
    path, size, digest = client["native_upload"]
    assert path == "D:\\DCIM\\100PTPKT\\UPL_0001.JPG"
    assert after["DCIM/100PTPKT/UPL_0001.JPG"] == digest
    assert size == 3 * 0x1400 + 77

    # Delete and a capture to the card, found by listing before and after.
    assert client["deleted"] == "D:\\DCIM\\101PTPKT\\IMG_0101.JPG"
    assert "DCIM/101PTPKT/IMG_0101.JPG" not in after
    path, size = client["native_capture"]
    assert path.startswith("D:\\DCIM\\")
    assert path.endswith(".JPG")
    native_shot = path[3:].replace("\\", "/")
    assert native_shot in after
    assert native_shot not in before
    assert size > 1000

    # The PTP gateway: an ordinary Camera over the same link, every file byte for byte (the
    # native API's upload and capture included), a capture, an upload.
    assert client["gateway"] == ["Canon Inc.", "Canon PowerShot G3", "1.0.2.0"]
    assert client["url"].startswith("canon-usb:")
    shot, events = client["gateway_capture"]
    assert events == ["ObjectAdded", "CaptureComplete"]
    gateway_shot = _card_path(shot)
    uploaded, size, digest = client["gateway_upload"]
    assert _card_path(uploaded) == "DCIM/101PTPKT/UPL_0002.TXT"
    assert after["DCIM/101PTPKT/UPL_0002.TXT"] == digest
    assert size == 13200
    walked = {p: d for p, d in after.items() if p not in (gateway_shot, _card_path(uploaded))}
    assert client["gateway_sha"] == {
        f"/store_00010001/{path.upper()}": digest for path, digest in walked.items()
    }
    assert set(after) - set(before) == {
        native_shot,
        "DCIM/100PTPKT/UPL_0001.JPG",
        gateway_shot,
        "DCIM/101PTPKT/UPL_0002.TXT",
    }


def _card_path(gateway_path: str) -> str:
    """A gateway path as a path under the card."""
    return gateway_path.removeprefix("/store_00010001/")
