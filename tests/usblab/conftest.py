"""The USB lab: a QEMU guest with a real Linux USB stack (../shared/usb-lab/README.md).

A guest boot (with USB devices attached) runs scripts with ptpkit added to its Python path; each
test checks what its script printed and what changed on the device's files. Tests whose devices
can share a guest share one boot (``UsbLab.run_several``: each script still in its own processes),
and the guest boots from a faster copy of the lab's build (fastboot.py): under TCG emulation a
boot is ~12 s instead of ~30 s. ``.ci/run`` builds the guest once; a missing guest or QEMU skips
these tests on a developer's machine and fails them in CI. No KVM: the CI machine has /dev/kvm,
but its nested (PVM) KVM does not run Debian's stock kernel (QEMU aborts setting MSR 0x10a with
-cpu host/max; other CPU models hang before the first console line).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.usblab.fastboot import fast_outdir, precompiled_copy

from ptpkit.virtual.imaging import render_jpeg_bytes, thumbnail_of_bytes, with_exif_thumbnail
from ptpkit.virtual.samplecard import make_sample_card

REPO = Path(__file__).resolve().parents[2]
GUEST_SCRIPTS = Path(__file__).parent / "guest"
#: The module the gadget scripts import (guest/gadget_common.py).
GUEST_COMMON = "gadget_common.py"


def lab_dir() -> Path:
    return Path(os.environ.get("PTPKIT_USB_LAB", REPO.parent / "shared" / "usb-lab"))


def guest_cache() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ptpkit-usb-lab"
    return Path(os.environ.get("PTPKIT_USB_LAB_CACHE", default))


@dataclass
class GuestRun:
    returncode: int
    stdout: str
    stderr: str

    def result(self) -> dict[str, Any]:
        for line in self.stdout.splitlines():
            if line.startswith("RESULT "):
                data: dict[str, Any] = json.loads(line[len("RESULT ") :])
                return data
        raise AssertionError(f"the guest printed no RESULT line:\n{self.stdout}\n{self.stderr}")


class UsbLab:
    def __init__(self, lab: Path, work: Path) -> None:
        self.runner = lab / "run_guest.sh"
        # The same guest, booting faster (fastboot.py); None: the lab's files as they are.
        self.outdir = fast_outdir(guest_cache() / "out", fast_cache())
        # ptpkit with its bytecode compiled for the guest's Python, made once per session.
        self.ptpkit = precompiled_copy(REPO / "src" / "ptpkit", work)

    def run(
        self,
        script: str,
        *args: str,
        mode: str,
        timeout: float = 240,
        add: tuple[Path, ...] = (),
        **dirs: Path,
    ) -> GuestRun:
        command = ["bash", str(self.runner), "--mode", mode, "--timeout", str(int(timeout))]
        if "mtp_dir" in dirs:
            command += ["--mtp-dir", str(dirs["mtp_dir"])]
        if "gadget_dir" in dirs:
            command += ["--gadget-dir", str(dirs["gadget_dir"])]
        for path in (self.ptpkit, *add):
            command += ["--add", str(path)]  # copied into the guest's /test
        command += [str(GUEST_SCRIPTS / script), *args]
        env = dict(os.environ)
        if self.outdir is not None:
            env["OUTDIR"] = str(self.outdir)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout + 60, check=False, env=env
        )
        return GuestRun(done.returncode, done.stdout, done.stderr)

    def run_several(
        self,
        scripts: dict[str, tuple[str, ...]],
        *,
        mode: str,
        timeout: float,
        add: tuple[Path, ...] = (),
        **dirs: Path,
    ) -> dict[str, GuestRun]:
        """Several guest scripts in one boot (guest/several.py), given as {label: (script,
        arguments...)}: one GuestRun per label, with what that script printed (after the
        guest's preamble) and its own exit status."""
        names = sorted({script for script, *_ in scripts.values()})
        whole = self.run(
            "several.py",
            *(",".join((label, *command)) for label, command in scripts.items()),
            mode=mode,
            timeout=timeout,
            # The scripts, and what the gadget scripts share (found beside them in /test).
            add=(*add, *(GUEST_SCRIPTS / name for name in names), GUEST_SCRIPTS / GUEST_COMMON),
            **dirs,
        )
        preamble: list[str] = []
        sections: dict[str, list[str]] = {}
        codes: dict[str, int] = {}
        current: list[str] = preamble
        for line in whole.stdout.splitlines(keepends=True):
            if line.startswith("@@@ BEGIN "):
                current = sections.setdefault(line[len("@@@ BEGIN ") :].strip(), [])
            elif line.startswith("@@@ END "):
                name, _, code = line[len("@@@ END ") :].strip().partition(" rc=")
                codes[name] = int(code)
                current = preamble
            else:
                current.append(line)
        runs = {}
        for label in scripts:
            # A script that never ended: the guest's own status (timeout 124, died 125...).
            code = codes.get(label, whole.returncode if whole.returncode else 125)
            output = "".join(preamble) + "".join(sections.get(label, ["(never started)\n"]))
            runs[label] = GuestRun(code, output, whole.stderr)
        return runs


def fast_cache() -> Path:
    # Not in guest_cache(): .ci/run builds that one as root.
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ptpkit-usb-lab-fast"
    return Path(os.environ.get("PTPKIT_USB_LAB_FAST_CACHE", default))


@pytest.fixture(scope="session")
def usb_lab(tmp_path_factory: pytest.TempPathFactory) -> UsbLab:
    lab = lab_dir()
    missing = []
    if not (lab / "run_guest.sh").exists():
        missing.append(f"the USB lab scripts ({lab})")
    if shutil.which("qemu-system-x86_64") is None:
        missing.append("qemu-system-x86_64")
    if not (guest_cache() / "out" / "base.cpio").exists():
        missing.append(f"a built guest ({guest_cache()}; .ci/run builds it)")
    if missing:
        message = "USB lab unavailable: " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return UsbLab(lab, tmp_path_factory.mktemp("usb-lab"))


@dataclass
class GadgetRun:
    """One guest script's run against a virtual camera served as a USB gadget, and its card."""

    run: GuestRun
    card: Path


# The gphoto2-over-USB tests in one guest boot, one script each (a boot is ~15 s under TCG).
GPHOTO2_GADGET_SCRIPTS = {
    "generic": "gadget_gphoto2.py",
    "canon-eos": "gadget_gphoto2_eos.py",
    "nikon": "gadget_gphoto2_nikon.py",
    "sony": "gadget_gphoto2_sony.py",
    "fuji-x": "gadget_gphoto2_fuji.py",
    "powershot": "gadget_gphoto2_powershot.py",
    "powershot-g2": "gadget_gphoto2_powershot.py",  # with the model as its argument
    # The EOS 350D, protocol class 6: a reduced run (list, one download, delete, capture).
    "powershot-eos-350d": "gadget_gphoto2_powershot.py",
    # Not gphoto2: ptpkit's own canon-usb: client against the same gadget, sharing the boot.
    "powershot-client": "client_powershot.py",
}
# Arguments of a script after its card, by the name above.
GADGET_SCRIPT_ARGS: dict[str, tuple[str, ...]] = {
    "powershot-g2": ("powershot-g2",),
    "powershot-eos-350d": ("powershot-eos-350d",),
}
# s, for all: the EOS script alone runs a dozen gphoto2 commands, the Nikon and Sony ones ten
# each (about 30 s each measured alone in the guest, on a loaded 2-core machine); the PowerShot
# ones about 50 s (G3, G2), 20 s (the EOS 350D's reduced run, measured alone: 19 s) and 20 s
# (ptpkit's client).
GPHOTO2_GADGET_TIMEOUT = 1100


@pytest.fixture(scope="session")
def gphoto2_gadget_runs(
    usb_lab: UsbLab, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, GadgetRun]:
    """Debian's gphoto2 against ptpkit's virtual camera as a FunctionFS gadget, once as the
    generic camera and once as the Canon EOS, in one boot: each script in its own processes,
    with its own card, home and folders, the gadget unbound in between (guest/several.py)."""
    root = tmp_path_factory.mktemp("gadget-cards")
    cards = {}
    for personality in GPHOTO2_GADGET_SCRIPTS:
        card = root / f"card-{personality}"  # the guest sees it as /test/card-PERSONALITY
        make_sample_card(card)
        big = card / "DCIM" / "100PTPKT" / "MVI_0002.MOV"
        big.write_bytes(os.urandom(2 * 1024 * 1024 + 11))  # read in several pieces
        if personality.startswith("powershot"):
            powershot_card(card)
        cards[personality] = card
    runs = usb_lab.run_several(
        {
            personality: (
                script,
                f"/test/{cards[personality].name}",
                *GADGET_SCRIPT_ARGS.get(personality, ()),
            )
            for personality, script in GPHOTO2_GADGET_SCRIPTS.items()
        },
        mode="ffs",
        timeout=GPHOTO2_GADGET_TIMEOUT,
        add=tuple(cards.values()),
    )
    return {personality: GadgetRun(runs[personality], card) for personality, card in cards.items()}


def powershot_card(card: Path) -> None:
    """Make a sample card look like a PowerShot G3's: pictures with EXIF thumbnails, the movie
    an AVI with its .THM thumbnail beside it (libgphoto2's canon driver lists only .JPG, .CRW,
    .AVI, .WAV... and shows a movie's .THM as its thumbnail). Its lower-case folders stay: the
    camera shows every name in upper case, as DOS does (the driver refuses lower-case paths)."""
    for picture in card.rglob("*.JPG"):
        data = picture.read_bytes()
        picture.write_bytes(with_exif_thumbnail(data, thumbnail_of_bytes(data)))
    folder = card / "DCIM" / "100PTPKT"
    (folder / "MVI_0002.MOV").rename(folder / "MVI_0002.AVI")
    # A THM is a 160x120 JPEG with its own EXIF thumbnail, as a G3 writes beside a movie. That
    # thumbnail starts with its quantization table (no JFIF APP0), which is what libgphoto2's
    # canon.c canon_int_extract_jpeg_thumb looks for to find it (FF D8 FF DB).
    still = render_jpeg_bytes(title="MVI_0002", taken=dt.datetime(2003, 3, 3), size=(160, 120))
    small = thumbnail_of_bytes(still)
    if small[2:4] == b"\xff\xe0":
        small = small[:2] + small[4 + int.from_bytes(small[4:6], "big") :]
    (folder / "MVI_0002.THM").write_bytes(with_exif_thumbnail(still, small))
