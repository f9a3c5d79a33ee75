"""``ptpkit rig ...`` as users run it: a rig of virtual cameras served over PTP/IP by this test
process (each with its own serial number), a rig file, JSON results, the exit code saying a
camera did not deliver, one line for a bad rig file, downloads into a layout and again from a
capture's manifest, the contact sheet, the release's real-time priority (in process, the system's
scheduling faked)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from ptpkit.cli.main import main
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.server import PtpIpServer

from .conftest import Cli, one_line_error


@pytest.fixture
def served_rig(tmp_path: Path) -> Iterator[list[tuple[VirtualCamera, PtpIpServer]]]:
    """Three virtual cameras (generic, Nikon, Canon EOS) served on 127.0.0.1."""
    with contextlib.ExitStack() as stack:
        out = []
        for serial, model in (("RIG-A", "generic"), ("RIG-B", "nikon"), ("RIG-C", "canon-eos")):
            card = tmp_path / f"card-{serial}"
            card.mkdir()
            options = {"serial": serial}
            if model != "generic":
                options["liveview_size"] = "320x240"
            vcam = stack.enter_context(
                VirtualCamera(card, personality=personality_for(model, options))
            )
            server = stack.enter_context(PtpIpServer(vcam, host="127.0.0.1", port=0))
            out.append((vcam, server))
        yield out


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rig_file(path: Path, served: list[tuple[VirtualCamera, PtpIpServer]], extra: str = "") -> Path:
    lines = ['[rig]\nname = "test"\n[rig.settings]\niso = "400"\n']
    for place, (vcam, server) in enumerate(served):
        lines.append(
            f'[[camera]]\nname = "c{place}"\nurl = "{server.url}"\n'
            f'serial = "{vcam.personality.serial_number}"\nindex = {place * 10}\n'
        )
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path


def test_status_json_says_how_each_camera_is(cli: Cli, served_rig: list, tmp_path: Path) -> None:
    (_, a), (_, b), _ = served_rig
    gone = f"ptpip:127.0.0.1:{_closed_port()}"
    result = cli("rig", "--camera", a.url, "--camera", b.url, "--camera", gone, "status", "--json")
    assert result.code == 106, result  # a camera is not connected
    cameras = result.json()["cameras"]
    assert [(c["camera"], c["state"], c["serial"]) for c in cameras] == [
        ("cam00", "connected", "RIG-A"),
        ("cam01", "connected", "RIG-B"),
        ("cam02", "failed", None),
    ]
    assert "ConnectError" in cameras[2]["error"]
    assert one_line_error(result) == "ptpkit: 1 camera(s) not connected: cam02"


def test_set_reports_the_cameras_that_differ(cli: Cli, served_rig: list, tmp_path: Path) -> None:
    rig = _rig_file(tmp_path / "rig.toml", served_rig)
    # Opening applies the rig's settings: ISO 400 on every camera.
    assert cli("rig", "--rig", str(rig), "status").code == 0
    assert [vcam.properties[0x500F].current() for vcam, _ in served_rig[:2]] == [400, 400]
    ok = cli("rig", "--rig", str(rig), "set", "iso", "800", "--json")
    assert ok.code == 0, ok
    document = ok.json()
    assert document["differ"] == []
    assert [c["verified"] for c in document["cameras"]] == [True, True, True]
    assert served_rig[0][0].properties[0x500F].current() == 800
    # f/1.4 is none of the generic camera's apertures.
    refused = cli("rig", "--rig", str(rig), "set", "f-number", "f/1.4")
    assert refused.code == 106, refused
    assert "c0" in one_line_error(refused)
    assert "DIFFERS" in refused.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[camera]\nurl='x'", "not valid TOML"),
        ("[[camera]]\nname='a'", "needs a url or a serial"),
        ("[[camera]]\nurl='ptpip:x'\nzoom=2", "unknown key 'zoom'"),
    ],
)
def test_a_bad_rig_file_is_one_line(cli: Cli, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content, encoding="utf-8")
    result = cli("rig", "--rig", str(path), "status")
    assert result.code == 2, result
    line = one_line_error(result)
    assert line.startswith(f"ptpkit: {path}: ")
    assert message in line


def test_a_missing_rig_file_and_a_bad_layout_are_one_line(cli: Cli, tmp_path: Path) -> None:
    missing = cli("rig", "--rig", str(tmp_path / "none.toml"), "status")
    assert missing.code == 2, missing
    assert "cannot read the rig file" in one_line_error(missing)
    layout = cli("rig", "--camera", "virtual:", "capture", "--layout", "{shot}.jpg")
    assert layout.code == 2, layout
    assert "every camera's pictures under one name" in one_line_error(layout)
    both = cli("rig", "--rig", "x.toml", "--camera", "virtual:", "status")
    assert both.code == 2, both
    assert "--rig and --camera" in one_line_error(both)


def test_capture_downloads_into_the_layout_and_again_from_its_manifest(
    cli: Cli, served_rig: list, tmp_path: Path
) -> None:
    rig = _rig_file(tmp_path / "rig.toml", served_rig, extra="")
    out = tmp_path / "meshroom"
    result = cli(
        "rig", "--rig", str(rig), "capture", "--count", "2",
        "--download", str(out), "--layout", "meshroom", "--json",
    )  # fmt: skip
    assert result.code == 0, result
    document = result.json()
    assert [s["shot"] for s in document["shots"]] == [1, 2]
    for shot in document["shots"]:
        assert shot["delivered"] == ["c0", "c1", "c2"]
        skew = shot["skew"]
        assert skew["cameras"] == 3
        assert 0 <= skew["median_ms"] <= skew["p95_ms"] <= skew["max_ms"]
        assert all(c["released_ns"] >= shot["deadline_ns"] for c in shot["cameras"])
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == [f"rig/{i}/{n:04d}.JPG" for i in (0, 10, 20) for n in (1, 2)]
    for path in out.rglob("*.JPG"):
        with Image.open(path) as image:
            assert image.format == "JPEG"
    # The capture's JSON is a manifest: download it again elsewhere, in another layout.
    manifest = tmp_path / "shots.json"
    manifest.write_text(result.stdout, encoding="utf-8")
    other = tmp_path / "by-shot"
    again = cli("rig", "--rig", str(rig), "download", str(manifest), "-o", str(other), "--json")
    # The Nikon (c1) captured into its memory (SDRAM): only the capturing session could fetch
    # those pictures, and it says so.
    assert again.code == 106, again
    assert one_line_error(again) == "ptpkit: 1 camera(s) did not deliver every file: c1"
    nikon = [d for d in again.json()["downloads"] if d["camera"] == "c1"]
    assert len(nikon) == 2
    assert all("camera's memory" in d["error"] for d in nikon)
    names = sorted(p.relative_to(other).as_posix() for p in other.rglob("*") if p.is_file())
    assert names == [f"shot_{n:04d}/c{i}.JPG" for n in (1, 2) for i in (0, 2)]
    # Run once more: everything is there already.
    third = cli("rig", "--rig", str(rig), "download", str(manifest), "-o", str(other), "--json")
    assert all(d["skipped"] for d in third.json()["downloads"] if d["camera"] != "c1")
    broken = tmp_path / "broken.json"
    broken.write_text('{"shots": [{"cameras": 3}]}', encoding="utf-8")
    bad = cli("rig", "--rig", str(rig), "download", str(broken), "-o", str(other))
    assert bad.code == 2, bad
    assert "is not the output of 'ptpkit rig capture --json'" in one_line_error(bad)


def test_contact_sheet_from_the_cli(cli: Cli, served_rig: list, tmp_path: Path) -> None:
    rig = _rig_file(tmp_path / "rig.toml", served_rig)
    sheet = tmp_path / "sheet.jpg"
    result = cli("rig", "--rig", str(rig), "contact-sheet", str(sheet), "--tile-width", "160")
    # The generic camera has no live view: its tile says so, and the exit code too.
    assert result.code == 106, result
    assert "c0" in one_line_error(result)
    assert "2/3 cameras' live view" in result.stdout
    with Image.open(io.BytesIO(sheet.read_bytes())) as image:
        assert image.size == (2 * 160, 2 * (120 + 24))
    again = cli("rig", "--rig", str(rig), "contact-sheet", str(sheet))
    assert again.code == 108, again
    assert "already exists" in one_line_error(again)


class _Sched:
    """The release thread's scheduling (os.sched_*) faked: the calls, and a refusal when told."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, refuse: bool = False) -> None:
        self.calls: list[tuple[int, int]] = []
        self.refuse = refuse
        monkeypatch.setattr(os, "sched_setscheduler", self.set, raising=False)
        monkeypatch.setattr(os, "sched_getscheduler", lambda pid: os.SCHED_OTHER, raising=False)
        monkeypatch.setattr(os, "sched_getparam", lambda pid: os.sched_param(0), raising=False)

    def set(self, pid: int, policy: int, param: os.sched_param) -> None:
        if self.refuse and policy == os.SCHED_FIFO:
            raise PermissionError(1, "Operation not permitted")
        self.calls.append((policy, param.sched_priority))


def _capture_in_process(served: list, *args: str) -> tuple[int, str]:
    """``ptpkit rig --camera A --camera B capture ARGS`` in this process: exit code, stdout."""
    (_, a), (_, b), _ = served
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout), pytest.raises(SystemExit) as exited:
        main(["rig", "--camera", a.url, "--camera", b.url, "capture", "--no-prepare", *args])
    code = exited.value.code
    return (code if isinstance(code, int) else 1), stdout.getvalue()


@pytest.mark.skipif(not hasattr(os, "SCHED_FIFO"), reason="POSIX real-time scheduling (Linux)")
def test_capture_releases_at_a_real_time_priority_and_says_which(
    served_rig: list, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sched = _Sched(monkeypatch)
    code, text = _capture_in_process(served_rig, "--count", "2")
    assert code == 0, text
    assert sched.calls == [(os.SCHED_FIFO, 10), (os.SCHED_OTHER, 0)] * 2  # each shot's release
    # Said once for the two shots (again only when it changes).
    assert text.count("released at real-time priority 10") == 1, text
    sched.calls.clear()
    code, text = _capture_in_process(served_rig, "--release-priority", "30", "--json")
    assert code == 0, text
    (shot,) = json.loads(text)["shots"]
    assert [c["release_priority"] for c in shot["cameras"]] == [30, 30]
    assert sched.calls == [(os.SCHED_FIFO, 30), (os.SCHED_OTHER, 0)]


@pytest.mark.skipif(not hasattr(os, "SCHED_FIFO"), reason="POSIX real-time scheduling (Linux)")
def test_capture_at_the_normal_priority_says_why(
    served_rig: list, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sched = _Sched(monkeypatch, refuse=True)
    code, text = _capture_in_process(served_rig)
    assert code == 0, text
    assert (
        "  released at normal priority (real-time priority 10 not granted: needs Linux and root, "
        "CAP_SYS_NICE or an RLIMIT_RTPRIO)\n" in text
    ), text
    code, text = _capture_in_process(served_rig, "--no-realtime", "--json")
    assert code == 0, text
    (shot,) = json.loads(text)["shots"]
    assert [c["release_priority"] for c in shot["cameras"]] == [None, None]
    code, text = _capture_in_process(served_rig, "--no-realtime")
    assert "  released at normal priority (real-time off)\n" in text, text
    assert sched.calls == []  # refused, then never asked
    code, _ = _capture_in_process(served_rig, "--no-realtime", "--release-priority", "5")
    assert code == 2
    assert "contradict" in capsys.readouterr().err
    code, _ = _capture_in_process(served_rig, "--release-priority", "100")
    assert code == 2
