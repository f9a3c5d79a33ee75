"""``ptpkit liveview`` and ``ptpkit capture-preview`` run as users run them (a subprocess), against
the virtual camera in the command's own process (``--camera virtual:?model=...``) or served over
PTP/IP by this test (to stop a stream with Ctrl-C and look at the camera afterwards)."""

from __future__ import annotations

import dataclasses
import io
import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.livepicture import frame_stamp
from ptpkit.virtual.nikon import GET_LIVE_VIEW_IMG, nikon_state
from ptpkit.virtual.responder import OperationContext, Reply
from ptpkit.virtual.server import PtpIpServer

from .conftest import RUN_TIMEOUT_S, Cli, one_line_error

SIZE = (160, 120)
NIKON = f"virtual:?model=nikon&liveview_size={SIZE[0]}x{SIZE[1]}"
EOS = f"virtual:?model=canon-eos&liveview_size={SIZE[0]}x{SIZE[1]}"


def split_mjpeg(data: bytes) -> list[bytes]:
    starts = []
    index = data.find(b"\xff\xd8\xff")
    while index >= 0:
        starts.append(index)
        index = data.find(b"\xff\xd8\xff", index + 3)
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]


def decodes(jpeg: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(jpeg)) as image:
        image.load()
        return image.size


def numbers(frames: list[bytes]) -> list[int]:
    found = [frame_stamp(frame) for frame in frames]
    assert all(stamp is not None for stamp in found)
    return [stamp[0] for stamp in found if stamp is not None]


def test_liveview_writes_an_mjpeg_file(cli: Cli) -> None:
    result = cli("--camera", NIKON, "liveview", "--frames", "5", "-o", "live.mjpeg", "--json")
    assert result.code == 0, str(result)
    doc = result.json()
    assert (doc["frames"], doc["width"], doc["height"]) == (5, *SIZE)
    assert doc["output"] == "live.mjpeg"
    frames = split_mjpeg((cli.cwd / "live.mjpeg").read_bytes())
    assert len(frames) == 5
    assert all(decodes(frame) == SIZE for frame in frames)
    got = numbers(frames)
    assert got == sorted(set(got))
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["live.mjpeg"]  # no partial file left


def test_liveview_to_standard_output(cli: Cli) -> None:
    done = subprocess.run(
        cli.command("--camera", EOS, "liveview", "--frames", "3", "-o", "-"),
        env=cli.env,
        cwd=cli.cwd,
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    frames = split_mjpeg(done.stdout)
    assert len(frames) == 3
    assert all(decodes(frame) == SIZE for frame in frames)
    assert b"3 frames" in done.stderr  # the summary goes to stderr: stdout is the stream


def test_liveview_frames_dir_and_duration(cli: Cli) -> None:
    result = cli("--camera", NIKON, "liveview", "--frames", "3", "--frames-dir", "frames")
    assert result.code == 0, str(result)
    files = sorted((cli.cwd / "frames").iterdir())
    assert [p.name for p in files] == ["frame-000001.jpg", "frame-000002.jpg", "frame-000003.jpg"]
    assert all(decodes(p.read_bytes()) == SIZE for p in files)
    result = cli("--camera", NIKON, "liveview", "--duration", "0.5", "-o", "short.mjpeg")
    assert result.code == 0, str(result)
    assert split_mjpeg((cli.cwd / "short.mjpeg").read_bytes())


def test_existing_files_are_kept_unless_forced(cli: Cli) -> None:
    (cli.cwd / "live.mjpeg").write_bytes(b"mine")
    result = cli("--camera", NIKON, "liveview", "--frames", "1", "-o", "live.mjpeg")
    assert result.code == 108
    assert "already exists" in one_line_error(result)
    assert (cli.cwd / "live.mjpeg").read_bytes() == b"mine"
    result = cli(
        "--camera", NIKON, "liveview", "--frames", "1", "-o", "live.mjpeg", "--force-overwrite"
    )
    assert result.code == 0, str(result)
    assert decodes((cli.cwd / "live.mjpeg").read_bytes()) == SIZE

    result = cli("--camera", EOS, "capture-preview", "-o", "p.jpg", "--json")
    assert result.code == 0, str(result)
    assert result.json()["width"] == SIZE[0]
    first = (cli.cwd / "p.jpg").read_bytes()
    assert decodes(first) == SIZE
    result = cli("--camera", EOS, "capture-preview", "-o", "p.jpg")
    assert result.code == 108
    assert "already exists" in one_line_error(result)
    assert (cli.cwd / "p.jpg").read_bytes() == first


def test_usage_and_camera_errors_are_one_line(cli: Cli) -> None:
    result = cli("--camera", NIKON, "liveview", "--frames", "1", "--duration", "1", "-o", "x")
    assert result.code == 2
    assert "not both" in result.stderr
    result = cli("--camera", NIKON, "liveview", "--frames", "1")
    assert result.code == 2
    assert "--frames-dir" in result.stderr
    result = cli("--camera", "virtual:", "liveview", "--frames", "1", "-o", "x.mjpeg")
    assert result.code == 106
    assert "no live view" in one_line_error(result)
    assert not (cli.cwd / "x.mjpeg").exists()
    result = cli("--camera", "virtual:", "capture-preview")
    assert result.code == 106
    assert "no live view" in one_line_error(result)


@pytest.fixture
def nikon_served(card: Path) -> Iterator[tuple[VirtualCamera, PtpIpServer]]:
    personality = personality_for("nikon", {"liveview_size": f"{SIZE[0]}x{SIZE[1]}"})
    with (
        VirtualCamera(card, personality=personality) as vcam,
        PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
    ):
        yield vcam, server


def test_ctrl_c_ends_the_stream_with_the_file_complete(
    cli: Cli, nikon_served: tuple[VirtualCamera, PtpIpServer]
) -> None:
    vcam, server = nikon_served
    state = nikon_state(vcam)
    streaming = threading.Event()
    operation = vcam.operations[GET_LIVE_VIEW_IMG]

    def counted(ctx: OperationContext) -> Reply:
        reply = operation.handler(ctx)
        if state.frames >= 5:
            streaming.set()
        return reply

    vcam.operations[GET_LIVE_VIEW_IMG] = dataclasses.replace(operation, handler=counted)
    process = cli.popen("--camera", server.url, "liveview", "-o", "live.mjpeg", "--json")
    assert streaming.wait(RUN_TIMEOUT_S)  # the camera has sent a few frames
    assert state.live_view
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    assert process.returncode == 0, stderr
    doc = json.loads(stdout)
    frames = split_mjpeg((cli.cwd / "live.mjpeg").read_bytes())
    assert len(frames) == doc["frames"] >= 1
    assert all(decodes(frame) == SIZE for frame in frames)
    assert not state.live_view  # EndLiveView was sent
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["live.mjpeg"]
