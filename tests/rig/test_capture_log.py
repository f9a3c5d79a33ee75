"""The virtual camera's release record, which the rig bench measures skew with: on_capture gets
the shutter's time and the request's arrival (the kernel's stamp over PTP/IP on Linux), and
``virtual serve --capture-log`` writes both."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import ptpkit
from ptpkit.virtual import VirtualCamera

from .conftest import MakeCamera, Serve


def test_on_capture_gets_the_request_arrival_over_ptpip(
    make_camera: MakeCamera, serve: Serve
) -> None:
    camera: VirtualCamera = make_camera("LOG-1")
    server = serve(camera)
    seen: list[tuple[int, int | None]] = []
    camera.on_capture = lambda fired_ns, arrived_ns: seen.append((fired_ns, arrived_ns))
    with ptpkit.connect(server.url) as cam:
        for _ in range(3):  # the 2nd and 3rd arrive while the server answers the previous one
            before_ns = time.time_ns()
            cam.capture()
            after_ns = time.time_ns()
            fired_ns, arrived_ns = seen[-1]
            assert before_ns <= fired_ns <= after_ns
            if sys.platform == "linux":
                assert arrived_ns is not None
                assert before_ns <= arrived_ns <= fired_ns
    assert len(seen) == 3


def test_in_process_captures_have_no_arrival_stamp(make_camera: MakeCamera) -> None:
    camera = make_camera("LOG-2")
    seen: list[int | None] = []
    camera.on_capture = lambda fired_ns, arrived_ns: seen.append(arrived_ns)
    with ptpkit.connect("virtual:", camera=camera) as cam:
        cam.capture()
    assert seen == [None]


@pytest.mark.skipif(sys.platform != "linux", reason="the arrival stamp is Linux's")
def test_virtual_serve_writes_the_capture_log(tmp_path: Path) -> None:
    log = tmp_path / "captures.log"
    card = tmp_path / "card"
    card.mkdir()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ptpkit",
            "virtual",
            "serve",
            "--root",
            str(card),
            "--port",
            "0",
            "--capture-log",
            str(log),
            "--model-option",
            "serial=LOGGED",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = next(line.split()[-1] for line in process.stdout if line.startswith("listening"))
        with ptpkit.connect(url) as cam:
            assert cam.device_info.serial_number == "LOGGED"
            before_ns = time.time_ns()
            cam.capture()
            cam.capture()
            after_ns = time.time_ns()
        lines = log.read_text(encoding="ascii").splitlines()
        assert len(lines) == 2
        for line in lines:
            arrived_ns, fired_ns = (int(v) for v in line.split())
            assert before_ns <= arrived_ns <= fired_ns <= after_ns
    finally:
        process.terminate()
        process.wait(timeout=30)
