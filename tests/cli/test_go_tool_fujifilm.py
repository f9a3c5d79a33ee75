"""The Go ``ptpip`` tool's command set (seeds/001: info, describe, get, set, state, capture,
opreq, and its server mode) through ``ptpkit`` with the tool's own Fujifilm INI file, against the
virtual Fujifilm X-T2 (``fuji-x``) over Fujifilm's PTP/IP variant on 127.0.0.1.

The one-shot commands run in process (``ptpkit.cli.main``); ``serve-commands`` runs as the
user runs it, a process answering lines on a socket."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptpkit.cli.main import main
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.fujiserver import FujiPtpIpServer
from ptpkit.virtual.models import personality_for
from ptpkit.virtual.network import network_server

from .conftest import Cli
from .test_fuji_wire import GO_FUJI_INI
from .test_server import Client, serving

#: The Go tool's hex dump line: offset, 16 bytes in two groups of 8, the text column.
HEX_LINE = re.compile(r"^[0-9a-f]{8}  ([0-9a-f]{2} ){1,8}( ([0-9a-f]{2} ){0,8})? *\|.{1,16}\|$")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def xt2() -> Iterator[FujiPtpIpServer]:
    with VirtualCamera(personality=personality_for("fuji-x")) as camera:
        server = network_server(camera, "127.0.0.1", 0)
        assert isinstance(server, FujiPtpIpServer)
        with server:
            yield server


@pytest.fixture
def go_config(xt2: FujiPtpIpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seed's Fuji file, ports pointed at the virtual body (a camera is on 55740-55742)."""
    monkeypatch.setenv("PTPKIT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("PTPKIT_CAMERA", raising=False)
    path = tmp_path / "fuji.conf"
    path.write_text(
        GO_FUJI_INI.format(
            cmd=xt2.port, event=xt2.event_port, stream=xt2.stream_port, host='host = "127.0.0.1"'
        )
    )
    return path


def test_info_describe_get_set_state(go_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def ok(*args: str) -> str:
        code, out, err = run(capsys, "-f", str(go_config), *args)
        assert code == 0, (args, out, err)
        return out

    info = ok("info")
    assert "X-T2" in info
    assert re.search(r"Extensions in use:\s+fuji", info)
    assert ok("--json", "info")  # the tool's `info json`
    # describe by code and by the tool's unified names.
    assert "automatic" in ok("describe", "0x5005")
    assert ok("describe", "whitebalance") == ok("describe", "0x5005")
    film = ok("describe", "effect")
    for name in ("PROVIA", "Velvia", "Classic Chrome"):
        assert name in film
    # get with each of the tool's names the body has.
    assert ok("get", "effect").strip() == "PROVIA"
    assert ok("get", "exposure").strip() == "1/60"  # 15625 us, Fujifilm's microseconds
    assert ok("get", "exp-bias").strip() == "0"
    assert ok("get", "iso").strip() == "200"
    for name in ("delay", "flashmode", "whitebalance"):
        assert ok("get", name).strip()
    # focusmtr (0xD17C) is a property this body does not have: said in one line.
    code, out, err = run(capsys, "-f", str(go_config), "get", "focusmtr")
    assert code == 2, (out, err)
    assert "the camera has no property focusmtr" in err
    assert "Traceback" not in err
    # set takes the tool's hexadecimal values (`set iso 0x320`) and names.
    assert ok("set", "iso", "0x320").strip() == "iso: 200 -> 800"
    assert ok("get", "iso").strip() == "800"
    assert "-> Velvia" in ok("set", "effect", "0x2")
    assert "-> 1/250" in ok("set", "exposure", "1/250")
    # state: the body's own list (in remote mode, the exposure state), as the tool prints it.
    state = ok("state")
    assert state.splitlines()[0].split() == [
        "Property",
        "Value",
        "as",
        "string",
        "Value",
        "as",
        "int64",
        "Value",
        "in",
        "hex",
    ]
    assert re.search(r"film simulation\s+Velvia\s+2\s+0x00000002", state)
    assert re.search(r"exposure program\s+manual\s+1\s+0x00000001", state)
    assert re.search(r"ISO\s+800\s+800\s+0x00000320", state)
    items = {item["label"]: item for item in json.loads(ok("--json", "state"))}
    assert items["film simulation"]["text"] == "Velvia"
    assert items["shutter speed"]["text"] == "1/250"


def test_capture_3_with_preview_files(
    go_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`capture 3 /tmp/p.jpg` -> p-1.jpg, p-2.jpg, p-3.jpg (the tool's naming); every preview
    fetched, so the body fires each time."""
    target = tmp_path / "shots" / "p.jpg"
    target.parent.mkdir()
    code, out, err = run(capsys, "-f", str(go_config), "capture", "3", str(target))
    assert code == 0, err
    assert sorted(p.name for p in target.parent.iterdir()) == ["p-1.jpg", "p-2.jpg", "p-3.jpg"]
    for number in (1, 2, 3):
        assert (target.parent / f"p-{number}.jpg").read_bytes()[:2] == b"\xff\xd8"
        assert f"DSCF000{number}.JPG" in out


def test_opreq_prints_the_tool_s_hex_dumps(
    go_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (("0x902B",), ("0x1015", "0xD212")):
        code, out, err = run(capsys, "-f", str(go_config), "opreq", *args)
        assert code == 0, err
        lines = out.splitlines()
        received = next(i for i, line in enumerate(lines) if line.startswith("Received "))
        size = int(re.fullmatch(r"Received (\d+) bytes\. HEX dump:", lines[received]).group(1))  # type: ignore[union-attr]
        dump = lines[received + 1 : received + 1 + (size + 15) // 16]
        assert all(HEX_LINE.match(line) for line in dump), dump
        assert lines[-1] == "<- 0x2001 OK()"
        data = bytes.fromhex("".join(line[10:58] for line in dump))
        assert len(data) == size
        if args == ("0x902B",):  # u32 count, then u32 length + DevicePropDesc per property
            assert int.from_bytes(data[:4], "little") > 5
        else:  # 0xD212: u16 count of {u16 code, u32 value}
            assert 2 + 6 * int.from_bytes(data[:2], "little") == size


def test_server_mode_answers_the_tool_s_lines(cli: Cli, go_config: Path) -> None:
    with serving(cli, "-f", str(go_config), "serve-commands", "--listen", "127.0.0.1:0") as (
        process,
        port,
    ):
        client = Client(port)
        lines, status = client.text("opreq 0x902B")
        assert status == "OK"
        assert any(line.startswith("Received ") for line in lines)
        lines, status = client.text("state")
        assert status == "OK"
        assert any(line.startswith("film simulation") for line in lines)
        assert client.text("set effect 0x2")[1] == "OK"
        assert client.text("get effect") == (["Velvia"], "OK")
        client.close()
    assert process.returncode == 0
