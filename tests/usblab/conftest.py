"""The USB lab: a QEMU guest with a real Linux USB stack (../shared/usb-lab/README.md).

Each test boots the guest (about 11 s) with a USB device attached, runs one script in it with
ptpkit added to its Python path, and checks what the script printed and what changed on the
device's files. ``.ci/run`` builds the guest once; a missing guest or QEMU skips these tests on a
developer's machine and fails them in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GUEST_SCRIPTS = Path(__file__).parent / "guest"


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
    def __init__(self, lab: Path) -> None:
        self.runner = lab / "run_guest.sh"

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
        for path in (REPO / "src" / "ptpkit", *add):
            command += ["--add", str(path)]  # copied into the guest's /test
        command += [str(GUEST_SCRIPTS / script), *args]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout + 60, check=False
        )
        return GuestRun(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def usb_lab() -> UsbLab:
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
    return UsbLab(lab)
