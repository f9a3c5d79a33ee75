"""Debian's gphoto2 as an independent client of the virtual camera's live view (issue 15 §3):
``--capture-preview`` and ``--capture-movie`` against ``ptpkit virtual serve --model canon-eos``
and ``--model nikon`` over PTP/IP on 127.0.0.1 give decodable frames, in order, each the
animated test picture with its own number (ptpkit.virtual.livepicture).

The server runs as users run it (``python -m ptpkit virtual serve``, its own process), at a small
frame size so the three-second movie stays light.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from tests.interop.conftest import require_tool

from ptpkit.virtual.livepicture import frame_stamp

#: libgphoto2's models for the two bodies over PTP/IP (camlibs/ptp2/library.c models).
GPHOTO2_MODELS = {"canon-eos": "Canon EOS (WLAN)", "nikon": "Nikon DSLR (WLAN)"}
SIZE = (320, 240)


@pytest.fixture(params=sorted(GPHOTO2_MODELS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(model, host:port) of ``ptpkit virtual serve --model MODEL`` on a free loopback port."""
    model: str = request.param
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
            "--model",
            model,
            "--model-option",
            f"liveview_size={SIZE[0]}x{SIZE[1]}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if line.startswith("listening on "):
                url = line.split()[-1]
                break
        assert url, "ptpkit virtual serve did not start"
        yield model, url.removeprefix("ptpip:")
    finally:
        process.terminate()
        process.wait(timeout=30)


def gphoto2(model: str, host_port: str, work: Path, *args: str) -> bytes:
    home = work / "home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "LANG": "C", "LC_ALL": "C"}
    done = subprocess.run(
        [
            require_tool("gphoto2"),
            "--port",
            f"ptpip:{host_port}",
            "--camera",
            GPHOTO2_MODELS[model],
            *args,
        ],
        cwd=work,
        env=env,
        capture_output=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def split_mjpeg(data: bytes) -> list[bytes]:
    """The JPEGs of an MJPEG stream (each starts with SOI 0xFFD8 and a marker)."""
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


def test_capture_preview_saves_a_decodable_frame(server: tuple[str, str], tmp_path: Path) -> None:
    model, host_port = server
    gphoto2(model, host_port, tmp_path, "--capture-preview")
    saved = (tmp_path / "capture_preview.jpg").read_bytes()
    assert decodes(saved) == SIZE
    assert frame_stamp(saved) is not None  # the virtual camera's picture, numbered


def test_capture_movie_gives_decodable_frames_in_order(
    server: tuple[str, str], tmp_path: Path
) -> None:
    model, host_port = server
    stream = gphoto2(model, host_port, tmp_path, "--capture-movie=3s", "--stdout")
    frames = split_mjpeg(stream)
    # At 60 fps for 3 s; at least a frame every 100 ms on a loaded machine.
    assert len(frames) >= 30, len(frames)
    numbers = []
    for frame in frames:
        assert decodes(frame) == SIZE
        stamp = frame_stamp(frame)
        assert stamp is not None
        numbers.append(stamp[0])
    assert numbers == sorted(set(numbers))  # each frame new, in order
