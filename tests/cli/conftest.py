"""The ``ptpkit`` command run as users run it: a subprocess (``python -m ptpkit``), against the
virtual camera in its own process (``--camera virtual:``) or served over PTP/IP on 127.0.0.1 by
this test process, so a test can look at the card's files on disk and keep state across several
invocations.

``PTPKIT_CONFIG_DIR`` is a fresh folder per test (the initiator GUID and the shell history live
there), and ``PTPKIT_CAMERA`` is cleared so the user's environment cannot leak in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.server import PtpIpServer

#: Long enough for a loaded CI machine, short enough that a hang fails the test instead of the run.
RUN_TIMEOUT_S = 60


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:  # shown when an assertion fails
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path
    #: Processes started with popen(), ended at the end of the test if still running.
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "ptpkit", *args]

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = RUN_TIMEOUT_S
    ) -> Result:
        done = subprocess.run(
            self.command(*args),
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            self.command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )
        self.started.append(process)
        return process

    def end_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.communicate()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    return folder


@pytest.fixture
def cli_env(config_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PTPKIT_CAMERA", "PTPKIT_CONFIG_DIR")}
    env["PTPKIT_CONFIG_DIR"] = str(config_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def cli(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Cli]:
    work = tmp_path / "work"
    work.mkdir()
    runner = Cli(env=cli_env, cwd=work)
    yield runner
    runner.end_all()  # a test that failed half-way leaves no process behind


@dataclass
class Served:
    """A VirtualCamera on the test's copy of the sample card, served over PTP/IP."""

    vcam: VirtualCamera
    server: PtpIpServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def card(self) -> Path:
        return self.vcam.root

    def camera_args(self) -> tuple[str, str]:
        return ("--camera", self.url)


@pytest.fixture
def served(card: Path) -> Iterator[Served]:
    with VirtualCamera(card) as vcam, PtpIpServer(vcam, host="127.0.0.1", port=0) as server:
        yield Served(vcam, server)


def card_files(card: Path) -> dict[str, bytes]:
    """The card's files: camera path (``/store_00010001/...``) -> content."""
    return {
        "/store_00010001/" + p.relative_to(card).as_posix(): p.read_bytes()
        for p in sorted(card.rglob("*"))
        if p.is_file()
    }


def one_line_error(result: Result) -> str:
    """The error a failed command printed: exactly one line, no traceback."""
    assert "Traceback" not in result.stderr, str(result)
    lines = [line for line in result.stderr.splitlines() if line.startswith("ptpkit: ")]
    assert len(lines) == 1, str(result)
    return lines[0]
