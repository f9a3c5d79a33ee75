"""``ptpkit liveview --http`` as a command, and ``liveview`` in the background of
``serve-commands`` and the shell: other commands (property changes) go on while it runs, and
``liveview stop`` ends it with live view off on the camera. Against the virtual Nikon served over
PTP/IP by the test, so the test can look at the camera's live-view state afterwards."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.livepicture import frame_stamp
from ptpkit.virtual.nikon import nikon_state
from ptpkit.virtual.server import PtpIpServer

from .conftest import RUN_TIMEOUT_S, Cli
from .test_liveview_http import Viewer
from .test_server import Client, serving

SIZE = (160, 120)


@pytest.fixture
def nikon(card: Path) -> Iterator[tuple[VirtualCamera, PtpIpServer]]:
    personality = personality_for("nikon", {"liveview_size": f"{SIZE[0]}x{SIZE[1]}"})
    with (
        VirtualCamera(card, personality=personality) as vcam,
        PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
    ):
        yield vcam, server


def picture_numbers(viewer: Viewer, count: int) -> list[int]:
    """The virtual camera's frame numbers of ``count`` parts, each a valid JPEG of SIZE."""
    found = []
    for _ in range(count):
        headers, body = viewer.part()
        assert headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(body)) as image:
            image.load()
            assert image.size == SIZE
        stamp = frame_stamp(body)
        assert stamp is not None
        found.append(stamp[0])
    return found


def state_iso(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url + "state.json", timeout=RUN_TIMEOUT_S) as response:
        state = json.load(response)
    return {item["key"]: item["text"] for item in state["exposure"]}["iso"]


def test_liveview_http_command_serves_until_ctrl_c(
    cli: Cli, nikon: tuple[VirtualCamera, PtpIpServer]
) -> None:
    vcam, server = nikon
    process = cli.popen("--camera", server.url, "liveview", "--http", "127.0.0.1:0")
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.match(r"serving live view at (http://127\.0\.0\.1:(\d+)/)$", line.strip())
    assert match, line + (process.stderr.read() if process.stderr else "")
    url, port = match.group(1), int(match.group(2))
    viewers = [Viewer(port), Viewer(port)]
    for viewer in viewers:
        found = picture_numbers(viewer, 4)
        assert found == sorted(set(found))  # increasing, none twice
    assert state_iso(url)
    assert nikon_state(vcam).live_view
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    assert process.returncode == 0, stderr
    assert "frames served" in stdout
    assert "Traceback" not in stderr
    assert not nikon_state(vcam).live_view  # live view was switched off on the camera
    for viewer in viewers:
        viewer.close()


def test_liveview_http_refuses_a_bad_address(cli: Cli) -> None:
    result = cli("--camera", "virtual:?model=nikon", "liveview", "--http", "127.0.0.1:99999")
    assert result.code == 2, str(result)
    assert "--http" in result.stderr


def test_serve_commands_runs_liveview_in_the_background(
    cli: Cli, nikon: tuple[VirtualCamera, PtpIpServer]
) -> None:
    vcam, server = nikon
    with serving(cli, "--camera", server.url, "serve-commands", "--listen", "127.0.0.1:0") as (
        _,
        port,
    ):
        client = Client(port)
        lines, status = client.text("liveview --http 127.0.0.1:0")
        assert status == "OK", lines
        match = re.search(r"(http://127\.0\.0\.1:(\d+)/)", lines[0])
        assert match, lines
        url, http_port = match.group(1), int(match.group(2))
        viewer = Viewer(http_port)
        before = picture_numbers(viewer, 2)
        # The other commands go on during live view, and the page's state follows them.
        assert client.text("set iso 800")[1] == "OK"
        assert client.text("get iso") == (["800"], "OK")
        after = picture_numbers(viewer, 3)
        assert after[0] > before[-1]
        # Read again at once on the camera's DevicePropChanged (else each second).
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while (iso := state_iso(url)) != "800":
            assert time.monotonic() < deadline, f"the page's ISO stayed {iso}"
        assert client.text("liveview")[1].startswith("ERROR 2 live view is running already")
        lines, status = client.text("liveview status")
        assert status == "OK"
        assert lines[0].startswith("live view running:")
        lines, status = client.text("liveview stop")
        assert status == "OK", lines
        assert lines[0].startswith("live view stopped:")
        assert not nikon_state(vcam).live_view
        assert client.text("liveview stop")[1].startswith("ERROR 2 no live view is running")
        viewer.close()
        client.close()


def test_serve_commands_liveview_to_a_file_while_setting_properties_and_capturing(
    cli: Cli, nikon: tuple[VirtualCamera, PtpIpServer]
) -> None:
    vcam, server = nikon
    with serving(cli, "--camera", server.url, "serve-commands", "--listen", "127.0.0.1:0") as (
        _,
        port,
    ):
        client = Client(port)
        assert client.json("format json")["ok"]
        answer = client.json("liveview -o live.mjpeg")
        assert answer["ok"], answer
        assert answer["result"]["running"] is True
        for value in ("400", "800", "1600"):
            assert client.json(f"set iso {value}")["ok"]
        # A picture taken during live view (the Nikon takes it without AF there).
        shot = client.json("capture")
        assert shot["ok"], shot
        status = client.json("liveview status")["result"]
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while status["frames"] < 5:
            assert time.monotonic() < deadline, status
            status = client.json("liveview status")["result"]
        done = client.json("liveview stop")
        assert done["ok"], done
        assert done["result"]["running"] is False
        assert done["result"]["frames"] >= 5
        client.close()
    data = (cli.cwd / "live.mjpeg").read_bytes()
    assert data.count(b"\xff\xd8\xff") == done["result"]["frames"]
    assert not nikon_state(vcam).live_view


def test_shell_runs_liveview_in_the_background(
    cli: Cli, nikon: tuple[VirtualCamera, PtpIpServer]
) -> None:
    vcam, server = nikon
    process = subprocess.Popen(
        cli.command("--camera", server.url, "shell"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        cwd=cli.cwd,
    )
    cli.started.append(process)
    assert process.stdin is not None
    assert process.stdout is not None

    def run(line: str) -> str:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(line + "\n")
        process.stdin.flush()
        return process.stdout.readline().strip()

    assert run("liveview --frames-dir frames").startswith("live view running in the background")
    assert run("set iso 800") == "iso: 200 -> 800"
    frames = cli.cwd / "frames"
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while len(list(frames.glob("frame-*.jpg"))) < 3:
        assert time.monotonic() < deadline, "no frames written"
        assert run("get iso") == "800"  # commands answered while frames are written
    stopped = run("liveview stop")
    assert stopped.startswith("live view stopped:"), stopped
    assert not nikon_state(vcam).live_view
    _, stderr = process.communicate("exit\n", timeout=RUN_TIMEOUT_S)
    assert process.returncode == 0, stderr
    saved = sorted(frames.glob("frame-*.jpg"))
    assert len(saved) >= 3
    numbers = []
    for path in saved:
        stamp = frame_stamp(path.read_bytes())
        assert stamp is not None
        numbers.append(stamp[0])
    assert numbers == sorted(set(numbers))


def test_the_shell_stops_live_view_when_it_ends(
    cli: Cli, nikon: tuple[VirtualCamera, PtpIpServer]
) -> None:
    vcam, server = nikon
    result = cli("--camera", server.url, "shell", input="liveview --http 127.0.0.1:0\nget iso\n")
    assert result.code == 0, str(result)
    assert "live view running in the background" in result.stdout
    assert not nikon_state(vcam).live_view


def test_liveview_stop_outside_the_shell_says_so(cli: Cli) -> None:
    result = cli("--camera", "virtual:?model=nikon", "liveview", "stop")
    assert result.code == 2, str(result)
    assert "Ctrl-C stops it here" in result.stderr
