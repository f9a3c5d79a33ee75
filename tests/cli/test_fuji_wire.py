"""The Fujifilm variant from the command line: ``--camera fuji:...``, the Go tool's Fuji INI files
(``vendor = "fuji"`` with ``cmd_data_port``, ``event_port``, ``stream_port``), and ``ptpkit
virtual serve`` speaking the variant."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.conftest import Cli
from tests.interop.fuji_setup import FUJI_SETUP

from ptpkit.cli import config as cli_config
from ptpkit.cli import virtual as cli_virtual
from ptpkit.cli.config import Responder, load_config
from ptpkit.core import fujiptpip
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.fujiserver import FujiPtpIpServer
from ptpkit.virtual.misbehave import Misbehavior
from ptpkit.virtual.network import network_server

# The Go tool's Fuji example, as its README gives it (seeds/001).
GO_FUJI_INI = """\
; This is us
[initiator]
friendly_name = "Golang PTP/IP Fuji client"
; Generate a new random one using uuidgen or some other tool!
guid = "9fe5160c-4951-404d-9505-10baaf725606"

; The target we will be connecting to
[responder]
vendor = "fuji"
cmd_data_port = {cmd}
event_port = {event}
stream_port = {stream}
{host}
"""


@pytest.fixture
def fuji_server() -> Iterator[FujiPtpIpServer]:
    with VirtualCamera(personality=FUJI_SETUP) as camera:
        server = network_server(camera, port=0)
        assert isinstance(server, FujiPtpIpServer)
        with server:
            yield server


def test_the_cli_s_written_out_ports_agree_with_the_core() -> None:
    assert cli_virtual.FUJI_PORT == fujiptpip.COMMAND_PORT
    assert cli_config.FUJI_COMMAND_PORT == fujiptpip.COMMAND_PORT


@pytest.mark.parametrize(
    ("responder", "url"),
    [
        (Responder(vendor="fuji", port=55740, event_port=55741), "fuji:192.168.0.1:55740:55741"),
        (Responder(vendor="fuji", host="cam"), "fuji:cam"),
        (Responder(vendor="fuji", host="cam", port=6000), "fuji:cam:6000"),
        (Responder(vendor="fuji", host="::1", stream_port=9), "fuji:[::1]:55740:55741:9"),
        (Responder(vendor="fuji", url="usb:"), "usb:"),
        (Responder(vendor="canon", host="cam", port=15740), "ptpip:cam:15740"),
    ],
)
def test_the_responder_section_names_the_variant(responder: Responder, url: str) -> None:
    assert responder.camera_url() == url


def test_the_go_tool_s_fuji_file_reaches_the_camera(
    cli: Cli, fuji_server: FujiPtpIpServer, tmp_path: Path
) -> None:
    path = tmp_path / "fuji.conf"
    path.write_text(
        GO_FUJI_INI.format(
            cmd=fuji_server.port,
            event=fuji_server.event_port,
            stream=fuji_server.stream_port,
            host='host = "127.0.0.1"',
        )
    )
    assert load_config(path).responder.camera_url() == fuji_server.url
    result = cli("-f", str(path), "info")
    assert result.code == 0, result
    assert "Virtual Camera" in result.stdout


def test_camera_url(cli: Cli, fuji_server: FujiPtpIpServer) -> None:
    result = cli("--camera", fuji_server.url, "--json", "info")
    assert result.code == 0, result
    assert result.json()["model"] == "Virtual Camera"


def test_a_refused_camera_is_exit_105_naming_the_reason(cli: Cli, tmp_path: Path) -> None:
    with (
        VirtualCamera(tmp_path, misbehavior=Misbehavior.parse("init-fail")) as camera,
        FujiPtpIpServer(camera, port=0) as server,
    ):
        result = cli("--camera", server.url, "info")
    assert result.code == 105, result
    assert "0x2019" in result.stderr
    assert "'change'" in result.stderr


def test_virtual_serve_speaks_the_variant_when_asked(cli: Cli) -> None:
    server = cli.popen("virtual", "serve", "--port", "0", "--ptpip-variant", "fuji")
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "gphoto2" in line:
                break
        url = next(line.split()[-1] for line in lines if line.startswith("listening on "))
        assert url.startswith("fuji:127.0.0.1:")
        command, event, stream = (int(p) for p in url.split(":")[2:])
        assert (event, stream) == (command + 1, command + 2)
        assert f"--camera 'Fuji X (WLAN)' --port ptpip:127.0.0.1:{command}:{event}" in lines[-1]
        result = cli("--camera", url, "info")
        assert result.code == 0, result
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=15)


def test_virtual_serve_refuses_an_unknown_variant(cli: Cli) -> None:
    result = cli("virtual", "serve", "--port", "0", "--ptpip-variant", "nikon")
    assert result.code != 0
    assert "standard" in result.stderr
    assert "fuji" in result.stderr
