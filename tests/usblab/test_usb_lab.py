"""ptpkit on a real kernel USB stack, and a real USB client against ptpkit's virtual camera.

In the QEMU guest of the USB lab: ptpkit's USB transport against QEMU's usb-mtp device and
against Debian's umtprd gadget (list, byte-identical downloads, uploads that need a zero-length
packet, delete, an error response); and the virtual camera as a FunctionFS gadget that Debian's
gphoto2 talks to over real USB.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from tests.usblab.conftest import GPHOTO2_GADGET_TIMEOUT, GadgetRun, GuestRun, UsbLab

# An emulated machine (no KVM): ~12 s for a boot, and Python and gphoto2 run many times slower
# inside it than on the host. Two boots here: the client scenarios, and the gphoto2 tests.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("usb-lab"), pytest.mark.timeout(420)]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _card(root: Path) -> dict[str, bytes]:
    """Files for the device: small, exactly a 512-byte container, and several MiB."""
    files = {
        "hello.txt": b"hello from the host side\n",
        "exact-500.bin": os.urandom(500),  # 12-byte header + 500 = 512: ends with a ZLP
        "photos/big.bin": os.urandom(3 * 1024 * 1024 + 5),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def _check_client_run(result: dict[str, object], files: dict[str, bytes], root: Path) -> None:
    listed = result["files"]
    assert isinstance(listed, dict)
    shas = result["sha"]
    assert isinstance(shas, dict)
    for name, data in files.items():
        path = next(p for p in listed if p.endswith("/" + name))
        assert listed[path] == len(data), name
        assert shas[path] == _sha(data), f"{name} is not byte-identical"
    uploaded = result["uploaded"]
    assert isinstance(uploaded, dict)
    for name, info in uploaded.items():
        on_device = next(root.rglob(name))
        assert _sha(on_device.read_bytes()) == info["sha"], f"upload {name} differs on the device"
        assert info["size"] == on_device.stat().st_size
    assert result["deleted"] == "hello.txt"
    assert not (root / "hello.txt").exists()
    error = result["error"]
    assert isinstance(error, list)
    assert error[0] == "ObjectError"
    assert error[1] == 0x2009  # InvalidObjectHandle


# QEMU's usb-mtp and umtprd's gadget are both on the guest's buses in one boot (mode both): the
# scenario runs against each in turn, chosen by its USB ids.
QEMU_MTP_URL = "usb:46f4:0004"
UMTPRD_URL = "usb:1d6b:0100"
CLIENT_TIMEOUT = 360  # s, for both scenarios


@pytest.fixture(scope="module")
def client_runs(
    usb_lab: UsbLab, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[GuestRun, Path, dict[str, bytes]]]:
    """ptpkit's client scenario against QEMU's usb-mtp ("mtp") and against umtprd's gadget
    ("gadget"), one Python process each, in one guest boot: (run, device folder, its files)."""
    roots = {"mtp": tmp_path_factory.mktemp("mtp"), "gadget": tmp_path_factory.mktemp("gadget")}
    files = {device: _card(root) for device, root in roots.items()}
    # Uploads to QEMU's usb-mtp: sizes whose data container is not a multiple of 64 bytes only.
    # QEMU's usb-mtp (hw/usb/dev-mtp.c, usb_mtp_handle_data) treats an xHCI transfer as a packet:
    # it ends a SendObject data phase only on a transfer that is not a multiple of 64 bytes, and
    # stalls every OUT transfer shorter than a container header ("packet too small"), the
    # zero-length packet the USB spec requires after a whole-packet transfer included; it then
    # trips an assertion (usb_mtp_get_data) and aborts. ptpkit sends that ZLP, as libgphoto2
    # does; the 512-byte container case runs against umtprd and the virtual device instead.
    # To umtprd: 500 bytes make a 512-byte container: the data phase must end with a ZLP.
    sizes = {"mtp": ("100", str((1 << 20) + 3)), "gadget": ("500", str((1 << 20) + 3))}
    urls = {"mtp": QEMU_MTP_URL, "gadget": UMTPRD_URL}
    runs = usb_lab.run_several(
        {
            device: ("client_scenario.py", urls[device], "photos", "hello.txt", *sizes[device])
            for device in roots
        },
        mode="both",
        timeout=CLIENT_TIMEOUT,
        mtp_dir=roots["mtp"],
        gadget_dir=roots["gadget"],
    )
    return {device: (runs[device], roots[device], files[device]) for device in roots}


@pytest.mark.timeout(CLIENT_TIMEOUT + 120)
def test_ptpkit_against_qemu_usb_mtp(
    client_runs: dict[str, tuple[GuestRun, Path, dict[str, bytes]]],
) -> None:
    run, root, files = client_runs["mtp"]
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()
    assert result["model"] == "QEMU filesharing"
    _check_client_run(result, files, root)


@pytest.mark.timeout(CLIENT_TIMEOUT + 120)
def test_ptpkit_against_umtprd_gadget(
    client_runs: dict[str, tuple[GuestRun, Path, dict[str, bytes]]],
) -> None:
    run, _, files = client_runs["gadget"]
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()
    # umtprd serves a copy of the folder inside the guest; compare what ptpkit read back.
    listed = result["files"]
    for name, data in files.items():
        path = next(p for p in listed if p.endswith("/" + name))
        assert listed[path] == len(data), name
        assert result["sha"][path] == _sha(data), f"{name} is not byte-identical"
    assert set(result["uploaded"]) == {"up-500.bin", f"up-{(1 << 20) + 3}.bin"}
    assert result["error"][0] in ("ObjectError", "ResponseError")


# One guest boot runs this test's script and test_usb_lab_canon_eos.py's (conftest.py): the
# first of the two to run waits for both.
@pytest.mark.timeout(GPHOTO2_GADGET_TIMEOUT + 120)
def test_gphoto2_against_the_virtual_camera_as_a_usb_gadget(
    gphoto2_gadget_runs: dict[str, GadgetRun],
) -> None:
    # The card holds MVI_0002.MOV, 2 MiB + 11 bytes: GetPartialObject chunks in gphoto2.
    run = gphoto2_gadget_runs["generic"].run
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.result()
    assert any(line.startswith("bound ") for line in result["server"]), result["server"]
    assert "usb:" in result["detect"]["out"], result["detect"]
    summary = result["summary"]
    assert summary["rc"] == 0, summary
    assert "Model: Virtual Camera" in summary["out"]
    assert "Generic Image Capture" in summary["out"]
    listing = result["list"]
    assert listing["rc"] == 0, listing
    assert "IMG_0101.JPG" in listing["out"]
    assert "MVI_0002.MOV" in listing["out"]
    assert result["get_all"]["rc"] == 0, result["get_all"]
    assert result["saved"] == result["card"], "gphoto2's downloads differ from the card"
    capture = result["capture"]
    assert capture["rc"] == 0, capture
    assert "IMG_0005.JPG" in result["captured"]
    assert result["captured"] == result["captured_on_card"]
