"""Soak: 10,000 PTP/IP connections to the virtual camera, each dropped at a random point.

Clients vanish mid-handshake, mid-request and mid-data-phase, politely (FIN) or not (RST). The
server must keep answering and end with the file descriptors and threads it started with.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from tests.forked import in_a_forked_child

import ptpkit
from ptpkit.core.connection import Connection
from ptpkit.core.events import NEED_DATA, DataPhase, Request
from ptpkit.core.ptpip import InitCommandRequest, InitEventRequest, PtpIpFraming
from ptpkit.core.state import Role
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.server import PtpIpServer

CONNECTIONS = 10_000


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _session_bytes() -> bytes:
    """What a client sends on a command connection: the handshake, then requests."""
    conn = Connection(Role.INITIATOR, PtpIpFraming())
    out = conn.send(InitCommandRequest(guid=b"\x07" * 16, friendly_name="soak"))
    # The initiator's table wants the Ack before requests: write the requests with a fresh
    # connection past the handshake (the bytes are what matter here).
    requests = Connection(Role.INITIATOR, PtpIpFraming())
    requests.phase = requests.phase.IDLE
    for tid, (code, params) in enumerate(
        [(0x1002, (1,)), (0x1001, ()), (0x1004, ()), (0x1007, (0xFFFFFFFF, 0, 0xFFFFFFFF))]
    ):
        out += requests.send(
            Request(code=code, transaction_id=tid, params=params, data_phase=DataPhase.NONE_OR_IN)
        )
        requests.request = None
        requests.phase = requests.phase.IDLE
    return b"".join(bytes(b) for b in out)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ten_thousand_dropped_connections_leave_the_server_answering_and_leak_nothing(
    tmp_path: Path,
) -> None:
    script = _session_bytes()
    event_script = b"".join(
        bytes(b)
        for b in Connection(Role.INITIATOR, PtpIpFraming()).send(
            InitEventRequest(connection_number=1)
        )
    )
    rng = random.Random(20261121)
    card = tmp_path / "card"
    card.mkdir()
    (card / "a.txt").write_text("soak")
    with VirtualCamera(card) as camera, PtpIpServer(camera, "127.0.0.1", 0) as server:
        # A warm-up client: lets lazily created things exist before counting.
        with ptpkit.connect(server.url) as cam:
            cam.storage_ids()
        time.sleep(0.2)
        fds_before, threads_before = _open_fds(), threading.active_count()

        for _ in range(CONNECTIONS):
            data = event_script if rng.random() < 0.1 else script
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                cut = rng.randrange(len(data) + 1)
                if cut:
                    sock.sendall(data[:cut])
                if rng.random() < 0.3:
                    sock.settimeout(0.002)
                    with contextlib.suppress(OSError):
                        sock.recv(4096)  # read a little of the answer first
                if rng.random() < 0.5:
                    # An abortive close: RST instead of FIN (SO_LINGER 0).
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        # Every connection has been served and cleaned up.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            server.active_sessions or threading.active_count() > threads_before
        ):
            time.sleep(0.1)
        assert server.active_sessions == 0
        assert threading.active_count() <= threads_before
        assert _open_fds() <= fds_before
        assert server.connections_served >= CONNECTIONS

        # ... and the camera still answers a real client.
        with ptpkit.connect(server.url) as cam:
            assert cam.storage_ids() == (0x00010001,)
            assert [e.name for e in cam.walk()] == ["a.txt"]


def _handshake_bytes() -> bytes:
    conn = Connection(Role.INITIATOR, PtpIpFraming())
    out = conn.send(InitCommandRequest(guid=b"\x09" * 16, friendly_name="hostile"))
    return b"".join(bytes(b) for b in out)


def _packet(ptype: int, payload: bytes = b"", length: int | None = None) -> bytes:
    return struct.pack("<II", len(payload) + 8 if length is None else length, ptype) + payload


#: What a hostile client may send the virtual camera (after a good handshake where it says so).
HOSTILE_CLIENT_INPUT = {
    "init claiming 4 GiB": _packet(1, length=0xFFFFFFF0),
    "length shorter than a header": _packet(1, length=3),
    "unknown packet type": _packet(0xDEAD, b"\x00" * 8),
    "request claiming 4 GiB": _handshake_bytes() + _packet(6, length=0xFFFFFFF0),
    "request with 200 parameters": _handshake_bytes()
    + _packet(6, struct.pack("<IHI", 1, 0x1002, 0) + b"\x01\x00\x00\x00" * 200),
    # SendObject's data announced as 2**64 - 1 bytes, then a trickle and a hang-up.
    "data phase claiming 16 EiB": _handshake_bytes()
    + _packet(6, struct.pack("<IHI", 2, 0x100D, 1))
    + _packet(9, struct.pack("<IQ", 1, 0xFFFFFFFFFFFFFFFF))
    + _packet(10, struct.pack("<I", 1) + b"x" * 1000),
}


@pytest.mark.parametrize("what", sorted(HOSTILE_CLIENT_INPUT))
def test_the_virtual_camera_refuses_oversize_input_and_keeps_serving(
    tmp_path: Path, what: str
) -> None:
    """A client's lies are refused without allocating what they claim: the connection is closed,
    nothing lands on the card, and the next client is served."""
    import tracemalloc

    card = tmp_path / "card"
    card.mkdir()
    (card / "a.txt").write_text("keep")

    def serve_the_lie() -> int:
        """The server's peak while it refuses the lie; then the next client is served."""
        with VirtualCamera(card) as camera, PtpIpServer(camera, "127.0.0.1", 0) as server:
            tracemalloc.start()
            try:
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                    sock.sendall(HOSTILE_CLIENT_INPUT[what])
                    if what == "data phase claiming 16 EiB":
                        sock.shutdown(socket.SHUT_WR)  # the client hangs up mid data phase
                    with contextlib.suppress(ConnectionResetError):
                        while sock.recv(65536):  # until the server closes: no hang
                            pass
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            deadline = time.monotonic() + 10
            while server.active_sessions and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.active_sessions == 0
            with ptpkit.connect(server.url) as cam:
                assert [e.name for e in cam.walk()] == ["a.txt"]
        return peak

    # In a forked child, camera and server included (tests.forked): tracemalloc counts every
    # thread, an xdist worker's leftover threads of earlier tests included.
    assert in_a_forked_child(serve_the_lie) < 8 << 20  # nothing sized by the lie
    assert sorted(p.name for p in card.iterdir()) == ["a.txt"]


def test_requests_sent_with_the_handshake_are_answered(tmp_path: Path) -> None:
    """A client that sends OpenSession in the same write as InitCommandRequest (not waiting for
    the Ack) is answered: bytes read with the handshake are not left waiting in a buffer."""
    card = tmp_path / "card"
    card.mkdir()
    open_session = _packet(6, struct.pack("<IHII", 1, 0x1002, 0, 1))
    with (
        VirtualCamera(card) as camera,
        PtpIpServer(camera, "127.0.0.1", 0) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(_handshake_bytes() + open_session)
        client = Connection(Role.INITIATOR, PtpIpFraming())
        client.send(InitCommandRequest(guid=b"\x09" * 16, friendly_name="hostile"))
        seen: list[str] = []
        while len(seen) < 2:
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            client.receive_data(data)
            while (event := client.next_event()) is not NEED_DATA:
                seen.append(type(event).__name__)
                if type(event).__name__ == "InitCommandAck":
                    # From here the initiator's table expects the response to OpenSession.
                    client.send(
                        Request(
                            code=0x1002,
                            transaction_id=0,
                            params=(1,),
                            data_phase=DataPhase.NONE_OR_IN,
                        )
                    )
        assert seen == ["InitCommandAck", "Response"]
