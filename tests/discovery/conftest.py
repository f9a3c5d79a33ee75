"""Discovery tests: everything on 127.0.0.1, by unicast; no multicast ever leaves the machine.

Responders bind 127.0.0.1 (which joins no multicast group), searches go to 127.0.0.1:PORT, and
each test has its own config folder (the pairing UUID lives there).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptpkit.discovery.ssdp import MAX_DATAGRAM_BYTES, build_search


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("PTPKIT_CONFIG_DIR", str(folder))
    return folder


class UdpPeer:
    """A UDP socket on 127.0.0.1 that sends datagrams and collects what comes back."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, ("127.0.0.1", port))

    def search(self, port: int, st: str, *, mx: int | None = None) -> None:
        self.send(build_search(st, host=f"127.0.0.1:{port}", mx_s=mx), port)

    def receive(self, timeout_s: float = 1.0, *, count: int = 1) -> list[bytes]:
        """Up to ``count`` datagrams, waiting at most ``timeout_s`` in all."""
        out: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(MAX_DATAGRAM_BYTES * 2)
            except TimeoutError:
                break
            out.append(data)
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def udp() -> Iterator[UdpPeer]:
    peer = UdpPeer()
    yield peer
    peer.close()
