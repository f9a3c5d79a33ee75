"""``ptpkit canon-pair`` and ``ptpkit virtual serve --advertise``, run as real processes on
127.0.0.1 (unicast only: ``--listen 127.0.0.1`` / ``--host 127.0.0.1`` join no multicast group)."""

from __future__ import annotations

import _thread
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptpkit.cli.main import main
from ptpkit.discovery import discover
from ptpkit.discovery.canon_pairing import UUID_FILE
from ptpkit.discovery.description import fetch_description
from ptpkit.discovery.ssdp import parse_response

from .conftest import UdpPeer


class Process:
    """A ptpkit command in a subprocess, its output read line by line."""

    def __init__(self, args: list[str], config_dir: Path) -> None:
        env = {**os.environ, "PTPKIT_CONFIG_DIR": str(config_dir), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ptpkit", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout_s: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} in {self.seen}") from None
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)


@pytest.fixture
def run(config_dir: Path) -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait()


def test_canon_pair_answers_logs_requesters_and_stops_cleanly(
    run: list[Process], config_dir: Path, udp: UdpPeer
) -> None:
    command = [
        "canon-pair",
        "127.0.0.1",
        "-n",
        "darkroom",
        "-P",
        "0",
        "--ssdp-port",
        "0",
        "--listen",
        "127.0.0.1",
    ]
    pair = Process(command, config_dir)
    run.append(pair)
    pair.expect(r"Canon pairing responder for 'darkroom'")
    pairing = pair.expect(r"pairing UUID (\S+) \(kept in (.+)\)")
    ssdp_port = int(pair.expect(r"answering SSDP searches on udp 127\.0\.0\.1:(\d+)").group(1))
    location = pair.expect(r"description at (http://127\.0\.0\.1:\d+/\S+)").group(1)
    assert Path(pairing.group(2)) == config_dir / UUID_FILE
    assert (config_dir / UUID_FILE).read_text().strip() == pairing.group(1)

    udp.search(ssdp_port, "upnp:rootdevice", mx=3)
    (answer,) = udp.receive(5.0)
    assert parse_response(answer).location == location
    pair.expect(rf"search \(upnp:rootdevice\) from 127\.0\.0\.1:{udp.sock.getsockname()[1]}")

    description = fetch_description(location)
    assert description.friendly_name == "darkroom: ptpkit:"
    assert description.udn == f"uuid:{pairing.group(1)}"
    pair.expect(r"127\.0\.0\.1 fetched this computer's description")
    pair.expect(r"ptpkit --camera ptpip:127\.0\.0\.1 info")
    assert pair.stop() == 0


def test_canon_pair_keeps_a_given_uuid(run: list[Process], config_dir: Path) -> None:
    seed_uuid = "0f8e5c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
    pair = Process(
        [
            "canon-pair",
            "127.0.0.1",
            "-P",
            "0",
            "--ssdp-port",
            "0",
            "--listen",
            "127.0.0.1",
            "--uuid",
            seed_uuid,
        ],
        config_dir,
    )
    run.append(pair)
    location = pair.expect(r"description at (\S+)").group(1)
    assert fetch_description(location).udn == f"uuid:{seed_uuid}"
    assert pair.stop() == 0
    assert (config_dir / UUID_FILE).read_text().strip() == seed_uuid


def test_canon_pair_refuses_a_host_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["canon-pair", "camera.local"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "not an IPv4 address" in err
    assert "Traceback" not in err


def test_canon_pair_port_in_use_is_one_clear_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as stopped:
            main(
                [
                    "canon-pair",
                    "127.0.0.1",
                    "-P",
                    str(port),
                    "--listen",
                    "127.0.0.1",
                    "--ssdp-port",
                    "0",
                ]
            )
    assert stopped.value.code == 105  # CANNOT_CONNECT
    err = capsys.readouterr().err.strip()
    assert err.startswith("ptpkit: cannot listen for description requests (HTTP) on 127.0.0.1:")
    assert len(err.splitlines()) == 1


def test_virtual_serve_advertise_is_found_by_discovery(
    run: list[Process], config_dir: Path
) -> None:
    serve = Process(
        [
            "virtual",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--name",
            "lab cam",
            "--advertise",
            "0",
        ],
        config_dir,
    )
    run.append(serve)
    url = serve.expect(r"listening on (ptpip:127\.0\.0\.1:(\d+)):\d+")
    ssdp_port = int(serve.expect(r"advertised over SSDP on udp 127\.0\.0\.1:(\d+)").group(1))
    found = discover(
        1.0,
        usb=False,
        mdns=False,
        ssdp_targets=[("127.0.0.1", ssdp_port)],
        ssdp_bind=("127.0.0.1", 0),
    )
    assert [(c.url, c.name, c.source) for c in found] == [(url.group(1), "lab cam", "ssdp")]
    assert serve.stop() == 0


def test_canon_pair_in_process_stops_on_sigterm_and_puts_the_handler_back(
    capsys: pytest.CaptureFixture[str], config_dir: Path
) -> None:
    # main() can run in a process that goes on (here, pytest): SIGTERM stops canon-pair, and
    # after it the process's own SIGTERM handling is back. A first --uuid has no "was" to tell.
    original = signal.getsignal(signal.SIGTERM)
    stopped_by: list[str] = []

    def stop_when_ready() -> None:
        deadline = time.monotonic() + 10
        while signal.getsignal(signal.SIGTERM) == original:
            if time.monotonic() > deadline:
                stopped_by.append("Ctrl-C")  # the handler never came: don't hang the test run
                _thread.interrupt_main()
                return
            time.sleep(0.01)
        stopped_by.append("SIGTERM")
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_when_ready)
    stopper.start()
    seed_uuid = "0f8e5c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
    try:
        with pytest.raises(SystemExit) as ended:
            main(
                [
                    "canon-pair",
                    "127.0.0.1",
                    "-P",
                    "0",
                    "--ssdp-port",
                    "0",
                    "--listen",
                    "127.0.0.1",
                    "--uuid",
                    seed_uuid,
                ]
            )
    finally:
        stopper.join()
    assert stopped_by == ["SIGTERM"]
    assert ended.value.code == 0
    assert signal.getsignal(signal.SIGTERM) == original
    out = capsys.readouterr().out
    assert f"pairing UUID {seed_uuid}" in out
    assert "(was" not in out
    location = re.search(r"description at http://127\.0\.0\.1:(\d+)/", out)
    assert location is not None
    port = int(location.group(1))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
