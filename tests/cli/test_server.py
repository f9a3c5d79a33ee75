"""``serve-commands``: the Go tool's server mode, one command per line over TCP (127.0.0.1),
answered as text with a status line or as one JSON envelope per line."""

from __future__ import annotations

import json
import logging
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import Cli, Served


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rw", encoding="utf-8", newline="\n")

    def send(self, line: str) -> None:
        self.file.write(line + "\n")
        self.file.flush()

    def text(self, line: str) -> tuple[list[str], str]:
        """(output lines, status line) of a text answer."""
        self.send(line)
        lines = []
        while True:
            got = self.file.readline()
            assert got, "the server closed the connection"
            got = got.rstrip("\n")
            if got == "OK" or got.startswith("ERROR "):
                return lines, got
            lines.append(got)

    def json(self, line: str) -> dict:
        self.send(line)
        return json.loads(self.file.readline())

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@contextmanager
def serving(cli: Cli, *args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    process = cli.popen(*args)
    try:
        assert process.stdout is not None
        port = None
        for line in process.stdout:
            match = re.match(r"listening on 127\.0\.0\.1:(\d+)$", line.strip())
            if match:
                port = int(match.group(1))
                break
        assert port is not None, process.stderr.read() if process.stderr else ""
        yield process, port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_text_answers_end_with_a_status_line(served: Served, cli: Cli) -> None:
    with serving(cli, *served.camera_args(), "serve-commands", "--listen", "127.0.0.1:0") as (
        process,
        port,
    ):
        client = Client(port)
        assert client.text("get iso") == (["200"], "OK")
        assert client.text("set iso 800") == (["iso: 200 -> 800"], "OK")
        assert client.text("get iso") == (["800"], "OK")  # one session for every command
        lines, status = client.text("set iso 12345")
        assert lines == []
        assert status.startswith("ERROR 2 iso cannot be 12345; allowed: 100, 200")
        lines, status = client.text("opreq 0x1015 0x500F")
        assert lines == [
            "-> 0x1015 GetDevicePropValue(0x0000500F)",
            "Received 2 bytes. HEX dump:",
            "00000000  20 03                                             | .|",
            "<- 0x2001 OK()",
        ]
        assert status == "OK"
        lines, status = client.text("opreq 0x1014 0x9999")
        assert status.startswith("ERROR 106 ")
        assert "DevicePropNotSupported" in status
        assert client.text("tether --download x")[1].startswith("ERROR 2 unknown command 'tether'")
        lines, status = client.text("help")
        assert status == "OK"
        assert any(line.split()[0] == "describe" for line in lines)

        # A second client at the same time shares the session.
        other = Client(port)
        assert other.text("get iso") == (["800"], "OK")
        other.send("quit")
        assert other.file.readline() == ""  # closed by the server
        other.close()
        client.close()
    assert process.returncode == 0  # Ctrl-C is how a server stops


def test_json_envelopes(served: Served, cli: Cli, tmp_path: Path) -> None:
    with serving(
        cli, *served.camera_args(), "serve-commands", "--listen", "127.0.0.1:0", "--json"
    ) as (_, port):
        client = Client(port)
        info = client.json("info")
        assert (info["ok"], info["exit_code"], info["error"]) == (True, 0, None)
        assert info["command"] == "info"
        assert info["result"]["model"] == "Virtual Camera"
        ls = client.json("ls -R")
        assert "/store_00010001/MISC/README.TXT" in [e["path"] for e in ls["result"]]
        out = tmp_path / "dl"
        download = client.json(f"download MISC/README.TXT -o {out}")
        assert download["result"][0]["status"] == "downloaded"
        assert (out / "README.TXT").read_bytes() == (served.card / "MISC/README.TXT").read_bytes()
        refused = client.json("download 0x7777")
        assert refused["ok"] is False
        assert refused["exit_code"] == 2  # not found, as an unknown path
        assert "0x2009 InvalidObjectHandle" in refused["error"]
        timed_out = client.json("wait-event --timeout 0.2")
        assert (timed_out["exit_code"], timed_out["result"]) == (109, [])
        # The format can change per connection.
        client.send("format text")
        assert client.file.readline() == "OK\n"
        assert client.text("get iso") == (["200"], "OK")
        client.close()


def test_config_file_server_section(
    served: Served, cli: Cli, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The Go tool's config: [responder] names the camera, [server] enabled = true makes
    `ptpkit -f FILE` alone serve commands where [server] says."""
    host, port = served.url.removeprefix("ptpip:").split(":")[:2]
    config = tmp_path / "ptpip.conf"
    config.write_text(
        "; This is us\n"
        "[initiator]\n"
        'friendly_name = "ptpkit CLI test"\n'
        'guid = "cca455de-79ac-4b12-9731-91e433a899cf"\n'
        "\n[responder]\n"
        f'host = "{host}"\n'
        f"port = {port}\n"
        "\n[server]\n"
        "enabled = true\n"
        'address = "127.0.0.1"\n'
        "port = 0\n"
    )
    caplog.set_level(logging.INFO, logger="ptpkit")
    with serving(cli, "-f", str(config)) as (_, server_port):
        client = Client(server_port)
        assert client.text("get iso") == (["200"], "OK")
        client.close()
    # The initiator name the camera saw is the config's, unless --name says otherwise.
    assert "PTP/IP client 'ptpkit CLI test'" in caplog.text
    assert cli("-f", str(config), "--name", "override", "info").code == 0
    assert "PTP/IP client 'override'" in caplog.text


def test_hostile_lines_are_refused_and_the_server_keeps_serving(served: Served, cli: Cli) -> None:
    """A line longer than the limit is refused and its connection closed (the server never buffers
    without bound); garbage and half-open clients change nothing for the next client."""
    from ptpkit.cli.server import MAX_LINE_BYTES

    with serving(cli, *served.camera_args(), "serve-commands", "--listen", "127.0.0.1:0") as (
        process,
        port,
    ):
        flood = Client(port)
        flood.sock.sendall(b"A" * (MAX_LINE_BYTES + 10) + b"\n")
        assert flood.file.readline() == "ERROR 2 line too long\n"
        assert flood.file.readline() == ""  # closed by the server
        flood.close()

        garbage = Client(port)
        garbage.sock.sendall(b"\xff\xfe\x00 info\x00\n")
        while not (status := garbage.file.readline()).startswith(("OK", "ERROR ")):
            assert status, "the server closed the connection"
        assert status.startswith("ERROR 2 ")
        _lines, status = garbage.text("frobnicate --now")
        assert status.startswith("ERROR 2 unknown command")
        assert garbage.text("get iso") == (["200"], "OK")
        garbage.close()

        # A client that connects and says nothing (or leaves mid-line) holds nobody up.
        idle = Client(port)
        idle.sock.sendall(b"get is")
        client = Client(port)
        assert client.text("get iso") == (["200"], "OK")
        idle.close()
        client.close()
        assert process.poll() is None  # still serving
    assert process.returncode == 0


def test_wait_event_without_timeout_gives_up_after_max_wait(served: Served, cli: Cli) -> None:
    """A wait holds the one session from every other client, so over TCP a wait-event without
    --timeout ends after --max-wait (exit code 109), and the queued client is answered then."""
    args = ("serve-commands", "--listen", "127.0.0.1:0", "--max-wait", "1.5")
    with serving(cli, *served.camera_args(), *args) as (_process, port):
        waiting = Client(port)
        waiting.send("wait-event")
        assert "(up to 1.5 s)" in waiting.file.readline()  # waiting now, holding the session
        queued = Client(port)
        assert queued.text("get iso") == (["200"], "OK")  # answered once the wait ended
        assert waiting.file.readline() == "ERROR 109 0 of 1 event(s) within 1.5 s\n"
        # A shorter --timeout is kept; a longer one, or a --duration, ends at --max-wait too:
        # one client must not hold the camera from the others for days.
        _lines, status = waiting.text("wait-event --timeout 0.2")
        assert status == "ERROR 109 0 of 1 event(s) within 0.2 s"
        _lines, status = waiting.text("wait-event --timeout 2h")
        assert status == "ERROR 109 0 of 1 event(s) within 1.5 s"
        _lines, status = waiting.text("wait-event --duration 2h")
        assert status == "OK"
        _lines, status = waiting.text("capture -n 3 --interval 1h")
        assert status.startswith("ERROR 2 ")
        assert "at most --max-wait" in status
        waiting.close()
        queued.close()
