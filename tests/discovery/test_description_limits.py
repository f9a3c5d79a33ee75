"""The description server (``canon-pair``, ``virtual serve --advertise``) against hostile
clients: one deadline per connection, a bounded request head, and a camera answered while other
connections hold on."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time

import pytest

from ptpkit.discovery.description import MAX_REQUEST_HEAD_BYTES, DescriptionServer

#: "Promptly", for a limit of a fraction of a second: generous, the CPU may be shared.
PROMPT_S = 5.0


def _get(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PROMPT_S)
    try:
        connection.request("GET", "/d.xml")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def _dribble(sock: socket.socket, data: bytes, stop: threading.Event) -> None:
    for byte in data:
        if stop.wait(0.05):
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return


def test_headers_sent_a_byte_at_a_time_are_cut_off_at_one_deadline() -> None:
    """Old code: a 10 s timeout per read, so a byte every few seconds kept the connection (and
    one of the 16 places) for hours."""
    request = b"GET /d.xml HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 2000 + b"\r\n\r\n"
    with DescriptionServer(b"<root/>", path="/d.xml", timeout_s=0.5) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=PROMPT_S)
        stop = threading.Event()
        dribbler = threading.Thread(target=_dribble, args=(sock, request, stop))
        start = time.monotonic()
        dribbler.start()
        try:
            answer = sock.recv(4096)  # the server closes: b"" (or a reset)
        except ConnectionResetError:
            answer = b""
        finally:
            stop.set()
            dribbler.join()
            sock.close()
        assert answer == b""
        assert time.monotonic() - start < PROMPT_S
        assert _get(server.port) == 200


def test_a_camera_is_answered_while_slow_clients_hold_every_place() -> None:
    with DescriptionServer(b"<root/>", path="/d.xml", max_connections=4, timeout_s=30) as server:
        stop = threading.Event()
        holders = []
        threads = []
        for _ in range(4):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=PROMPT_S)
            holders.append(sock)
            thread = threading.Thread(
                target=_dribble, args=(sock, b"GET /d.xml HTTP/1.1\r\n" * 9, stop)
            )
            thread.start()
            threads.append(thread)
        try:
            time.sleep(0.2)
            start = time.monotonic()
            assert _get(server.port) == 200
            assert time.monotonic() - start < PROMPT_S
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            for sock in holders:
                sock.close()


@pytest.mark.parametrize(
    "request_head",
    [
        b"GET /" + b"a" * (MAX_REQUEST_HEAD_BYTES + 10) + b" HTTP/1.1\r\n\r\n",
        # 50 header lines of 1 KiB: under the base class's limits (100 lines of 64 KiB).
        b"GET /d.xml HTTP/1.1\r\n" + (b"X-Pad: " + b"a" * 1000 + b"\r\n") * 50 + b"\r\n",
    ],
    ids=["request line", "headers"],
)
def test_an_oversize_request_head_is_refused(request_head: bytes) -> None:
    """Old code: up to 64 KiB per line and 100 lines read and kept per connection."""
    with DescriptionServer(b"<root/>", path="/d.xml") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=PROMPT_S) as sock:
            with contextlib.suppress(OSError):  # closed under us: refused
                sock.sendall(request_head)
            answer = b""
            try:
                while chunk := sock.recv(4096):
                    answer += chunk
            except ConnectionResetError:
                pass
        assert b"200 OK" not in answer
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431")
        assert _get(server.port) == 200


def test_the_limits_are_checked() -> None:
    for bad in ({"max_connections": 0}, {"timeout_s": 0}, {"timeout_s": float("inf")}):
        with pytest.raises(ValueError, match="must be"):
            DescriptionServer(b"<root/>", **bad)
