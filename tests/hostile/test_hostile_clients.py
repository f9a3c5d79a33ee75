"""Hostile clients of ``ptpkit virtual serve`` (PtpIpServer): slow handshakes, half handshakes,
idle sessions, floods of silent connections and clients that stop reading. Each is bounded, and a
real client still gets in.

Limits are made small here (a fraction of a second) so that no test sleeps for long; the bounds
asserted are generous, since the machine running the tests may be loaded.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ptpkit
from ptpkit.cli.main import main
from ptpkit.cli.virtual import serve
from ptpkit.core.connection import Connection
from ptpkit.core.events import NEED_DATA
from ptpkit.core.ptpip import (
    InitCommandAck,
    InitCommandRequest,
    InitEventRequest,
    InitFail,
    InitFailReason,
    PtpIpFraming,
)
from ptpkit.core.state import Role
from ptpkit.errors import ConnectError
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual import network as network_module
from ptpkit.virtual import server as server_module
from ptpkit.virtual.server import PtpIpServer

#: "Promptly", for a limit of a fraction of a second: generous, the CPU may be shared.
PROMPT_S = 5.0


@pytest.fixture
def camera(tmp_path: Path) -> Iterator[VirtualCamera]:
    card = tmp_path / "card"
    card.mkdir()
    (card / "a.txt").write_text("keep")
    with VirtualCamera(card) as vcam:
        yield vcam


def _bytes(*buffers: object) -> bytes:
    return b"".join(bytes(b) for b in buffers)  # type: ignore[call-overload]


def _init_command_bytes(name: str = "hostile") -> bytes:
    conn = Connection(Role.INITIATOR, PtpIpFraming())
    return _bytes(*conn.send(InitCommandRequest(guid=b"\x09" * 16, friendly_name=name)))


def _packet(ptype: int, payload: bytes = b"") -> bytes:
    return struct.pack("<II", len(payload) + 8, ptype) + payload


def _read_answer(sock: socket.socket) -> object:
    """The first packet the server sends, decoded as an initiator would."""
    client = Connection(Role.INITIATOR, PtpIpFraming())
    client.send(InitCommandRequest(guid=b"\x09" * 16, friendly_name="hostile"))
    while True:
        data = sock.recv(4096)
        assert data, "the server closed the connection"
        client.receive_data(data)
        event = client.next_event()
        if event is not NEED_DATA:
            return event


def _open_command(port: int) -> tuple[socket.socket, int]:
    """A command connection with its handshake done: (socket, connection number)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=PROMPT_S)
    sock.sendall(_init_command_bytes())
    ack = _read_answer(sock)
    assert isinstance(ack, InitCommandAck), ack
    return sock, ack.connection_number


def _open_session(port: int) -> tuple[socket.socket, socket.socket]:
    """A complete handshake (command and event connections), then nothing."""
    command, number = _open_command(port)
    event = socket.create_connection(("127.0.0.1", port), timeout=PROMPT_S)
    event.sendall(
        _bytes(
            *Connection(Role.INITIATOR, PtpIpFraming()).send(
                InitEventRequest(connection_number=number)
            )
        )
    )
    data = event.recv(64)
    assert struct.unpack_from("<I", data, 4)[0] == 4, data  # InitEventAck
    return command, event


def _closed_by_server(sock: socket.socket, within_s: float = PROMPT_S) -> bool:
    """Whether the server closes ``sock`` within ``within_s`` (reading and dropping what comes)."""
    sock.settimeout(0.1)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset
            return True
    return False


def _until(condition: object, within_s: float = PROMPT_S) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def test_an_init_packet_sent_a_byte_at_a_time_is_cut_off_at_one_deadline(
    camera: VirtualCamera,
) -> None:
    """Old code: a timeout per read (10 s), so a byte every few seconds held the connection and its
    thread for as long as the client liked."""
    with PtpIpServer(camera, port=0, handshake_timeout_s=0.5) as server:
        data = _init_command_bytes()
        with socket.create_connection(("127.0.0.1", server.port), timeout=PROMPT_S) as sock:
            start = time.monotonic()
            closed = False
            for byte in data[:-1]:  # never complete; a byte every 0.1 s keeps reads alive
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    closed = True
                    break
                if _closed_by_server(sock, within_s=0.1):
                    closed = True
                    break
            assert closed, "the slow client was not cut off"
            assert time.monotonic() - start < 0.5 + PROMPT_S
        assert _until(lambda: server.pending_connections == 0)


def test_a_session_whose_event_connection_never_comes_expires(camera: VirtualCamera) -> None:
    with PtpIpServer(camera, port=0, handshake_timeout_s=0.5) as server:
        sock, _ = _open_command(server.port)
        with sock:
            assert server.active_sessions == 1
            start = time.monotonic()
            assert _closed_by_server(sock)
            assert time.monotonic() - start < PROMPT_S
        assert _until(lambda: server.active_sessions == 0)
        with ptpkit.connect(server.url, timeout_s=PROMPT_S) as cam:  # a real client is fine
            assert [e.name for e in cam.walk()] == ["a.txt"]


def test_a_session_that_sends_nothing_expires_after_the_idle_timeout(
    camera: VirtualCamera,
) -> None:
    with PtpIpServer(camera, port=0, idle_timeout_s=0.5) as server:
        command, event = _open_session(server.port)
        with command, event:
            start = time.monotonic()
            assert _closed_by_server(command)
            assert _closed_by_server(event)
            assert 0.4 < time.monotonic() - start < PROMPT_S
        assert _until(lambda: server.active_sessions == 0)


def test_traffic_keeps_a_session_open_past_the_idle_timeout(camera: VirtualCamera) -> None:
    with (
        PtpIpServer(camera, port=0, idle_timeout_s=2.0) as server,
        ptpkit.connect(server.url, timeout_s=PROMPT_S, probe_interval_s=None) as cam,
    ):
        # 2.8 s in all, never 2 s without a transaction: a loaded machine that holds this thread
        # back a second still keeps within it (with 1 s of idle timeout it need not).
        for _ in range(14):
            time.sleep(0.2)
            assert cam.storage_ids() == (0x00010001,)
        assert server.active_sessions == 1


def test_idle_timeout_zero_means_never(camera: VirtualCamera) -> None:
    with PtpIpServer(camera, port=0, idle_timeout_s=0) as server:
        command, event = _open_session(server.port)
        with command, event:
            assert not _closed_by_server(command, within_s=0.5)
            assert server.active_sessions == 1


def test_a_flood_of_silent_connections_does_not_lock_out_a_real_client(
    camera: VirtualCamera,
) -> None:
    """Old code: every silent connection held a thread for 10 s, unbounded in number. Now at most
    max_pending wait, the oldest giving way, and a real client connects at once."""
    with PtpIpServer(camera, port=0, max_pending=4, handshake_timeout_s=30) as server:
        silent = [
            socket.create_connection(("127.0.0.1", server.port), timeout=PROMPT_S)
            for _ in range(20)
        ]
        try:
            assert _until(lambda: server.pending_connections <= 4)
            # The oldest were dropped, the newest still wait (none of them are served).
            assert all(_closed_by_server(sock) for sock in silent[:16])
            start = time.monotonic()
            with ptpkit.connect(server.url, timeout_s=PROMPT_S) as cam:
                assert [e.name for e in cam.walk()] == ["a.txt"]
            assert time.monotonic() - start < PROMPT_S
            assert server.pending_connections <= 4
        finally:
            for sock in silent:
                sock.close()


def test_half_handshakes_give_their_places_to_a_real_client(camera: VirtualCamera) -> None:
    """Command connections that never open their event connection: when every session is taken
    by them, a real client takes the oldest's place instead of getting InitFail(busy)."""
    with PtpIpServer(camera, port=0, max_sessions=3, handshake_timeout_s=30) as server:
        halves = [_open_command(server.port)[0] for _ in range(3)]
        try:
            assert server.active_sessions == 3
            with ptpkit.connect(server.url, timeout_s=PROMPT_S) as cam:
                assert cam.storage_ids() == (0x00010001,)
            assert _closed_by_server(halves[0])
        finally:
            for sock in halves:
                sock.close()


def test_when_full_a_new_client_is_refused_busy_until_a_session_has_idled(
    camera: VirtualCamera,
) -> None:
    with PtpIpServer(camera, port=0, max_sessions=2, reclaim_idle_s=2.0) as server:
        sessions = [_open_session(server.port) for _ in range(2)]
        try:
            # Both sessions are fresh: a newcomer gets a clear InitFail(busy), nobody is dropped.
            with socket.create_connection(("127.0.0.1", server.port), timeout=PROMPT_S) as sock:
                sock.sendall(_init_command_bytes())
                answer = _read_answer(sock)
            assert isinstance(answer, InitFail)
            assert answer.reason == InitFailReason.BUSY
            with pytest.raises(ConnectError, match="busy"):
                ptpkit.connect(server.url, timeout_s=PROMPT_S)
            assert server.active_sessions == 2
            # Once idle for reclaim_idle_s, the session idle longest gives its place.
            time.sleep(2.1)
            with ptpkit.connect(server.url, timeout_s=PROMPT_S) as cam:
                assert cam.storage_ids() == (0x00010001,)
            assert _closed_by_server(sessions[0][0])
            assert not _closed_by_server(sessions[1][0], within_s=0.2)
        finally:
            for command, event in sessions:
                command.close()
                event.close()


def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(
    camera: VirtualCamera,
) -> None:
    """Old code: the server's write blocked forever once the client's window was full, holding
    the session and its thread."""
    handle = camera.add_generated_object(64 << 20)
    with PtpIpServer(camera, port=0, send_timeout_s=0.5, idle_timeout_s=0) as server:
        command, event = _open_session(server.port)
        with command, event:
            command.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            open_session = _packet(6, struct.pack("<IHII", 1, 0x1002, 0, 1))
            get_object = _packet(6, struct.pack("<IHII", 1, 0x1009, 1, handle))
            command.sendall(open_session + get_object)
            # Never read: the server's writes stall, then it gives up.
            start = time.monotonic()
            assert _until(lambda: server.active_sessions == 0, within_s=PROMPT_S + 0.5)
            assert time.monotonic() - start < PROMPT_S + 0.5


def test_the_limits_are_checked() -> None:
    with VirtualCamera() as vcam:
        for bad in (
            {"max_sessions": -1},
            {"max_pending": 0},
            {"handshake_timeout_s": 0},
            {"idle_timeout_s": float("inf")},
            {"reclaim_idle_s": float("nan")},
            {"send_timeout_s": -1},
        ):
            with pytest.raises(ValueError, match="must be"):
                PtpIpServer(vcam, port=0, **bad)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--idle-timeout=nan", "not a number of seconds"),
        ("--handshake-timeout=0", "must be more than 0"),
        ("--reclaim-idle=inf", "not a number of seconds"),
        ("--send-timeout=-1", "not a number of seconds"),
        ("--max-sessions=0", "range"),
    ],
)
def test_virtual_serve_refuses_absurd_limits_in_one_line(
    option: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["virtual", "serve", "--port", "0", option])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert option.split("=", maxsplit=1)[0] in err
    assert message in err


def test_virtual_serve_passes_its_limits_to_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, object] = {}

    class Recorder(PtpIpServer):
        def __init__(self, *args: object, **kwargs: object) -> None:
            seen.update(kwargs)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

        def serve_forever(self) -> None:
            self.close()

    # Patched where `virtual serve` finds it (ptpkit.virtual.network imported it by name), so
    # the result does not depend on which test imported that module first.
    monkeypatch.setattr(network_module, "PtpIpServer", Recorder)
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # leave pytest's SIGTERM alone
    args = ["virtual", "serve", "--port", "0", "--idle-timeout", "0", "--max-sessions", "5"]
    args += ["--max-pending", "7", "--handshake-timeout", "2.5", "--reclaim-idle", "9"]
    args += ["--send-timeout", "4"]
    with contextlib.suppress(SystemExit):
        main(args)
    assert "listening on" in capsys.readouterr().out
    assert seen == {
        "name": None,
        "packet_per_write": False,
        "max_sessions": 5,
        "max_pending": 7,
        "handshake_timeout_s": 2.5,
        "idle_timeout_s": 0.0,
        "reclaim_idle_s": 9.0,
        "send_timeout_s": 4.0,
    }


def test_the_cli_defaults_are_the_servers() -> None:
    defaults = {param.name: param.default for param in serve.params}
    assert defaults["handshake_timeout_s"] == server_module.HANDSHAKE_TIMEOUT_S
    assert defaults["idle_timeout_s"] == server_module.IDLE_TIMEOUT_S
    assert defaults["max_sessions"] == server_module.MAX_SESSIONS
    assert defaults["reclaim_idle_s"] == server_module.RECLAIM_IDLE_S
    assert defaults["max_pending"] == server_module.MAX_PENDING
    assert defaults["send_timeout_s"] == server_module.SEND_TIMEOUT_S


def test_an_event_connection_from_another_host_is_refused(camera: VirtualCamera) -> None:
    """Connection numbers are sequential: a stranger must not take another client's events."""
    stranger = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        stranger.bind(("127.0.0.2", 0))
    except OSError:
        stranger.close()
        pytest.skip("cannot connect from 127.0.0.2")
    with PtpIpServer(camera, port=0) as server, stranger:
        command, number = _open_command(server.port)
        with command:
            stranger.settimeout(PROMPT_S)
            stranger.connect(("127.0.0.1", server.port))
            request = Connection(Role.INITIATOR, PtpIpFraming()).send(
                InitEventRequest(connection_number=number)
            )
            stranger.sendall(_bytes(*request))
            data = stranger.recv(64)
            assert struct.unpack_from("<I", data, 4)[0] == 5, data  # InitFail
            # The real client's event connection is still welcome.
            event = socket.create_connection(("127.0.0.1", server.port), timeout=PROMPT_S)
            with event:
                request = Connection(Role.INITIATOR, PtpIpFraming()).send(
                    InitEventRequest(connection_number=number)
                )
                event.sendall(_bytes(*request))
                assert struct.unpack_from("<I", event.recv(64), 4)[0] == 4  # InitEventAck


def test_events_other_clients_cause_do_not_keep_an_abandoned_session_in_use(
    camera: VirtualCamera,
) -> None:
    """Old code: every event written to a session counted as its activity, so while one client
    worked (each capture, each property change is an event for every other session), sessions
    whose clients had long gone silent were never idle: never reclaimed, never expired, and a
    full server refused every newcomer busy."""
    with PtpIpServer(camera, port=0, max_sessions=1, reclaim_idle_s=0.6) as server:
        command, event = _open_session(server.port)  # then silent, never reads its events
        with command, event:
            for _ in range(12):  # 1.2 s of events caused elsewhere
                camera.emit(0x4006, 0x5001)  # DevicePropChanged
                time.sleep(0.1)
            with ptpkit.connect(server.url, timeout_s=PROMPT_S) as cam:
                assert cam.storage_ids() == (0x00010001,)
            assert _closed_by_server(command)
