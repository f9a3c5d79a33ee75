"""capture, wait-event and tether, with a second client (this test process) acting on the same
camera over PTP/IP while the command runs."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import ptpkit
from ptpkit.codes.common import Ec

from .conftest import Cli, Served, card_files


def _wait_for(process: subprocess.Popen[str], text: str, timeout_s: float = 30) -> str:
    """Read the process's stderr until a line contains ``text`` (the command is ready)."""
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"{text!r} not in {seen}")


def test_capture_downloads_the_new_pictures(served: Served, cli: Cli, tmp_path: Path) -> None:
    before = set(card_files(served.card))
    out = tmp_path / "shots"
    result = cli(
        *served.camera_args(),
        "capture",
        "-n",
        "2",
        "--interval",
        "0.2",
        "--download",
        str(out),
        "--json",
    )
    assert result.code == 0, result
    shots = result.json()
    assert [s["shot"] for s in shots] == [1, 2]
    card = card_files(served.card)
    new = sorted(set(card) - before)
    assert [o["path"] for s in shots for o in s["objects"]] == new
    for shot in shots:
        [download] = shot["downloads"]
        assert Path(download["file"]).read_bytes() == card[download["path"]]
    text = cli(*served.camera_args(), "shoot")  # the Go tool's alias
    assert text.code == 0, text
    assert text.stdout.startswith("shot 1: /store_00010001/DCIM/100PTPKT/IMG_0007.JPG")


def test_wait_event_sees_another_clients_change(served: Served, cli: Cli) -> None:
    process = cli.popen(
        *served.camera_args(), "wait-event", "--count", "2", "--timeout", "20", "--json"
    )
    _wait_for(process, "waiting for 2 event(s)")
    with ptpkit.connect(served.url) as cam:
        cam.set_property("iso", 800)
        cam.set_property("whitebalance", "daylight")
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    events = json.loads(stdout)
    assert [e["name"] for e in events] == ["DevicePropChanged", "DevicePropChanged"]
    assert [e["params"] for e in events] == [[0x500F], [0x5005]]
    assert events[0]["property"]["friendly_name"] == "iso"


def test_wait_event_filters_by_code(served: Served, cli: Cli) -> None:
    process = cli.popen(
        *served.camera_args(), "wait-event", "--code", "ObjectAdded", "--timeout", "20"
    )
    _wait_for(process, "waiting for 1 event(s)")
    with ptpkit.connect(served.url) as cam:
        cam.set_property("iso", 400)  # DevicePropChanged: ignored
        [entry] = cam.capture()
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert stdout == f"0x4002 ObjectAdded(0x{entry.handle:08X})\n"


def test_tether_downloads_each_new_picture_until_interrupted(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "tethered"
    process = cli.popen(*served.camera_args(), "tether", "--download", str(out), "--json")
    _wait_for(process, "tethered to")
    with ptpkit.connect(served.url) as cam:
        shots = [entry for _ in range(2) for entry in cam.capture()]
    card = card_files(served.card)
    assert process.stdout is not None
    # One JSON line per picture, printed once it is downloaded (and counted).
    lines = [process.stdout.readline() for _ in range(2)]
    process.send_signal(signal.SIGINT)  # the way to stop tethering: not an error
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "tether stopped: 2 picture(s) downloaded" in stderr
    records = [json.loads(line) for line in [*lines, *stdout.splitlines()]]  # JSON Lines
    assert [r["path"] for r in records] == [e.path for e in shots]
    for record in records:
        assert record["status"] == "downloaded"
        assert Path(record["file"]).read_bytes() == card[record["path"]]


def test_tether_count_stops_by_itself(served: Served, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "t"
    process = cli.popen(*served.camera_args(), "tether", "--download", str(out), "--count", "1")
    _wait_for(process, "tethered to")
    with ptpkit.connect(served.url) as cam:
        [entry] = cam.capture()
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert stdout == f"{entry.path} -> {out / entry.name} ({entry.size / 1024:.1f} KiB)\n"


def test_tether_goes_on_past_an_object_that_is_already_gone(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    """An ObjectAdded for an object deleted before it could be read: reported, and the next
    picture is still downloaded."""
    out = tmp_path / "t"
    process = cli.popen(*served.camera_args(), "tether", "--download", str(out), "--count", "1")
    _wait_for(process, "tethered to")
    served.vcam.emit(Ec.OBJECT_ADDED, 0x0BAD0BAD)
    with ptpkit.connect(served.url) as cam:
        [entry] = cam.capture()
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    first, second = stdout.splitlines()
    assert first.startswith("not downloaded 0x0BAD0BAD: ")
    assert "InvalidObjectHandle" in first
    assert second.startswith(f"{entry.path} -> {out / entry.name}")


def test_against_virtual_serve_in_its_own_process(cli: Cli, tmp_path: Path) -> None:
    """The flow the README shows: `ptpkit virtual serve` in one terminal, commands in another."""
    server = cli.popen("virtual", "serve", "--port", "0")
    try:
        assert server.stdout is not None
        url = None
        for line in server.stdout:
            if line.startswith("listening on "):
                url = line.split()[-1]
                break
        assert url is not None
        assert url.startswith("ptpip:127.0.0.1:")
        capture = cli("--camera", url, "capture", "--json")
        assert capture.code == 0, capture
        [new] = capture.json()[0]["objects"]
        ls = cli("--camera", url, "ls", "DCIM/100PTPKT", "--json")  # a new connection sees it
        assert new["path"] in [e["path"] for e in ls.json()]
        out = tmp_path / "got"
        got = cli("--camera", url, "download", new["hex"], "-o", str(out))
        assert got.code == 0, got
        assert (out / new["name"]).stat().st_size == new["size"]
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=15)
