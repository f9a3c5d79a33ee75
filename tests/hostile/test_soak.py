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

import ptpkit
from ptpkit.core.connection import Connection
from ptpkit.core.events import DataPhase, Request
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
