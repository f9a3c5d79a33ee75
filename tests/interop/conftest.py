"""Fixtures for tests against programs we did not write (gphoto2, tshark).

A missing tool skips the test on a developer's machine and fails it in CI (``CI=true``), where
``.ci/run`` installs the tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.server import PtpIpServer


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it with apt-get)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class Served:
    camera: VirtualCamera
    server: PtpIpServer

    @property
    def root(self) -> Path:
        return self.camera.root

    @property
    def port_spec(self) -> str:
        # gphoto2 takes the event port as a third field and uses 15740 for it otherwise.
        return f"ptpip:127.0.0.1:{self.server.port}:{self.server.port}"


@pytest.fixture
def served() -> Iterator[Served]:
    """The virtual camera with its generated sample card, served on a free loopback port."""
    with VirtualCamera() as camera, PtpIpServer(camera, "127.0.0.1", 0) as server:
        yield Served(camera, server)


class GPhoto2:
    """Runs Debian's gphoto2 against the served camera, in its own HOME (gphoto2 writes its
    GUID to ~/.gphoto/settings) with C-locale output; files it saves go to ``work``."""

    #: gphoto2's ``--camera`` model to use (None: it detects the camera), and the default
    #: timeout of one command in seconds.
    camera_model: str | None = None
    timeout_s: float = 60.0

    def __init__(self, executable: str, served: Served, tmp_path: Path) -> None:
        self.executable = executable
        self.served = served
        home = tmp_path / "home"
        home.mkdir()
        self.work = tmp_path / "gphoto2-files"
        self.work.mkdir()
        self.env = {**os.environ, "HOME": str(home), "LANG": "C", "LC_ALL": "C"}

    def __call__(
        self, *args: str, timeout: float | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        model = ("--camera", self.camera_model) if self.camera_model else ()
        result = subprocess.run(
            [self.executable, "--port", self.served.port_spec, *model, *args],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=self.timeout_s if timeout is None else timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"gphoto2 {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result


@pytest.fixture
def gphoto2(tmp_path: Path, served: Served) -> GPhoto2:
    return GPhoto2(require_tool("gphoto2"), served, tmp_path)
