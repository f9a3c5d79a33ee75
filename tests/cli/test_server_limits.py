"""``serve-commands``: what one client can hold is bounded (a slow line, an idle client, too many
clients, a client that never reads its answers), tested in-process with small limits and a stand-in
for the command runner."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import pytest

from ptpkit.cli.main import main
from ptpkit.cli.output import Output
from ptpkit.cli.runner import LineResult
from ptpkit.cli.server import CommandServer, parse_listen

#: "Promptly", for limits of a fraction of a second: generous, the CPU may be shared.
PROMPT_S = 5.0


class FakeRunner:
    """Answers ``ping`` with ``pong``, ``big`` with 32 MiB, and ``hold`` by waiting for
    ``release``; like the real Runner, a command runs holding the one session lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.holding = threading.Event()

    def run(self, line: str, out: Output) -> LineResult:
        with self.lock:
            if line == "big":
                out.text("x" * (32 << 20))
            elif line == "hold":
                self.holding.set()
                self.release.wait(PROMPT_S)
                out.text("released")
            else:
                out.text("pong")
        return LineResult(0)


@contextmanager
def serving(**limits: Any) -> Iterator[tuple[CommandServer, FakeRunner]]:
    runner = FakeRunner()
    json_mode = limits.pop("json_mode", False)
    server = CommandServer(("127.0.0.1", 0), runner, json_mode=json_mode, **limits)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server, runner
    finally:
        runner.release.set()
        server.shutdown()
        server.server_close()
        thread.join(PROMPT_S)


class Client:
    def __init__(self, server: CommandServer, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(PROMPT_S)
        self.sock.connect(server.server_address)
        self.file = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> str:
        return self.file.readline().decode()

    def ask(self, command: str) -> list[str]:
        self.send(command.encode() + b"\n")
        lines: list[str] = []
        while not lines or (lines[-1] not in ("OK\n",) and not lines[-1].startswith("ERROR")):
            got = self.line()
            assert got, "closed by the server"
            lines.append(got)
        return lines

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _until(condition: Any, within_s: float = PROMPT_S) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def test_a_line_sent_a_byte_at_a_time_is_cut_off_at_one_deadline() -> None:
    """Old code: no deadline at all; a client could keep a half line (and a thread) forever."""
    with serving(line_timeout_s=0.5) as (server, _):
        client = Client(server)
        stop = threading.Event()

        def dribble() -> None:  # a byte every 0.05 s, never a newline
            while not stop.wait(0.05):
                try:
                    client.send(b"x")
                except OSError:
                    return

        dribbler = threading.Thread(target=dribble)
        start = time.monotonic()
        dribbler.start()
        try:
            answer = client.line()
        finally:
            stop.set()
            dribbler.join()
        assert answer == "ERROR 109 line not complete within 0.5 s; closing\n"
        assert client.line() == ""  # closed
        assert time.monotonic() - start < PROMPT_S
        client.close()
        assert _until(lambda: server.client_count == 0)


def test_an_idle_client_is_told_and_disconnected() -> None:
    with serving(idle_timeout_s=0.5) as (server, _):
        client = Client(server)
        start = time.monotonic()
        assert client.line() == "ERROR 109 idle for 0.5 s; closing\n"
        assert client.line() == ""
        assert 0.4 < time.monotonic() - start < PROMPT_S
        client.close()
        assert _until(lambda: server.client_count == 0)


def test_an_idle_json_client_gets_a_json_envelope() -> None:
    with serving(idle_timeout_s=0.3, json_mode=True) as (server, _):
        client = Client(server)
        assert json.loads(client.line()) == {
            "ok": False,
            "exit_code": 109,
            "command": None,
            "result": None,
            "error": "idle for 0.3 s; closing",
        }
        client.close()


def test_a_client_that_sends_commands_is_not_idle() -> None:
    with serving(idle_timeout_s=1.0) as (server, _):
        client = Client(server)
        for _ in range(8):  # 1.6 s in all, a command every 0.2 s
            time.sleep(0.2)
            assert client.ask("ping") == ["pong\n", "OK\n"]
        client.close()


def test_too_many_clients_are_refused_in_one_line() -> None:
    """Old code: any number of clients, a thread each."""
    with serving(max_clients=2, reclaim_idle_s=30) as (server, _):
        clients = [Client(server) for _ in range(2)]
        for client in clients:
            assert client.ask("ping") == ["pong\n", "OK\n"]
        extra = Client(server)
        assert extra.line() == "ERROR 1 too many clients (2); try again later\n"
        assert extra.line() == ""
        extra.close()
        assert server.clients_refused == 1
        for client in clients:  # the others are unharmed
            assert client.ask("ping") == ["pong\n", "OK\n"]
            client.close()


def test_when_full_an_idle_client_gives_its_place_but_a_busy_one_never() -> None:
    with serving(max_clients=2, reclaim_idle_s=0.3) as (server, runner):
        busy, idle = Client(server), Client(server)
        assert idle.ask("ping") == ["pong\n", "OK\n"]
        busy.send(b"hold\n")
        assert runner.holding.wait(PROMPT_S)
        time.sleep(0.4)  # both idle 0.3 s by their last bytes; one is running a command
        newcomer = Client(server)
        assert idle.line() == "ERROR 1 closed: idle, and a new client needs the place\n"
        assert idle.line() == ""
        runner.release.set()
        assert busy.line() == "released\n"
        assert busy.line() == "OK\n"
        assert newcomer.ask("ping") == ["pong\n", "OK\n"]
        for client in (busy, idle, newcomer):
            client.close()


def test_a_client_that_never_reads_holds_neither_the_camera_nor_its_place() -> None:
    """Old code: the answer's write blocked forever. Answers are composed before they are sent, so
    the session lock is free meanwhile; the write gives up after send_timeout_s."""
    # The stuck write gives up after 6 s: a ping queued behind it would take over 5.5 s, one
    # answered beside it takes milliseconds; 4.5 s tells them apart on a loaded machine too.
    with serving(send_timeout_s=6.0) as (server, runner):
        sink = Client(server, rcvbuf=4096)
        sink.send(b"big\n")  # 32 MiB, never read
        time.sleep(0.3)
        other = Client(server)
        start = time.monotonic()
        assert other.ask("ping") == ["pong\n", "OK\n"]
        assert time.monotonic() - start < 4.5  # not behind the stuck write (6 s)
        assert not runner.lock.locked()
        assert _until(
            lambda: server.client_count == 1, within_s=PROMPT_S + 6
        )  # the sink was dropped
        other.close()
        sink.close()


def test_the_limits_are_checked() -> None:
    for bad in (
        {"max_clients": 0},
        {"idle_timeout_s": float("nan")},
        {"line_timeout_s": 0},
        {"send_timeout_s": float("inf")},
    ):
        with pytest.raises(ValueError, match="must be"):
            CommandServer(("127.0.0.1", 0), FakeRunner(), json_mode=False, **bad)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--idle-timeout=nan", "not a number of seconds"),
        ("--idle-timeout=-1", "not a number of seconds"),
        ("--max-wait=inf", "not a number of seconds"),
        ("--max-clients=0", "range"),
    ],
)
def test_serve_commands_refuses_absurd_limits_in_one_line(
    option: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--camera", "ptpip:127.0.0.1:1", "serve-commands", option])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert option.split("=", maxsplit=1)[0] in err
    assert message in err


def test_a_pipelined_line_is_not_cut_off_for_the_time_a_command_took() -> None:
    """The line deadline measures the client, not our commands: a line begun while a long
    command ran is read in full afterwards."""
    with serving(line_timeout_s=0.5) as (server, runner):
        client = Client(server)
        client.send(b"hold\nping")  # the second line is not finished yet
        assert runner.holding.wait(PROMPT_S)
        time.sleep(0.3)
        client.send(b"\n")  # finished while "hold" still runs
        time.sleep(0.5)  # the command takes longer than line_timeout_s
        runner.release.set()
        assert client.line() == "released\n"
        assert client.line() == "OK\n"
        assert client.line() == "pong\n"
        assert client.line() == "OK\n"
        client.close()


@pytest.mark.parametrize("dontwait", [True, False], ids=["unix", "no-MSG_DONTWAIT"])
def test_reclaim_and_refusal_work_without_msg_dontwait(
    dontwait: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows has no socket.MSG_DONTWAIT. Old code: the notice raised AttributeError in the
    accepting thread, after the idle client was struck off but before its socket was shut: it
    stayed connected, uncounted, and the newcomer was closed without a word."""
    if not dontwait:
        monkeypatch.delattr(socket, "MSG_DONTWAIT", raising=False)
    with serving(max_clients=1, reclaim_idle_s=0.2) as (server, runner):
        idle = Client(server)
        assert idle.ask("ping") == ["pong\n", "OK\n"]
        time.sleep(0.3)
        newcomer = Client(server)
        assert idle.line() == "ERROR 1 closed: idle, and a new client needs the place\n"
        assert idle.line() == ""
        assert newcomer.ask("ping") == ["pong\n", "OK\n"]
        assert server.client_count == 1
        newcomer.send(b"hold\n")  # busy: never reclaimed, so the next one is refused
        assert runner.holding.wait(PROMPT_S)
        extra = Client(server)
        assert extra.line() == "ERROR 1 too many clients (1); try again later\n"
        assert extra.line() == ""
        for client in (idle, newcomer, extra):
            client.close()


@pytest.mark.parametrize(
    "listen", [":1_5740", ":\u0661\u0665\u0667\u0664\u0660", ":65536", ":-1", "x:"]
)
def test_listen_ports_are_read_as_every_other_number(listen: str) -> None:
    """Old code: int() took "1_5740" and Arabic-Indic digits as port 15740."""
    with pytest.raises(click.BadParameter, match="not HOST:PORT"):
        parse_listen(listen)
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:15740") == ("::1", 15740)
    assert parse_listen(" 15740 ") == ("127.0.0.1", 15740)
