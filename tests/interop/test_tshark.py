"""Wireshark's PTP/IP dissector on a ptpkit client <-> virtual camera session.

An independent decoder of our packets: tshark captures the session on the loopback interface
and must decode every operation request, response and StartData with the opcode, response code,
transaction id and length we know we sent, and mark no frame malformed.

Two limits of the dissector (Wireshark 4.0, ``epan/dissectors/packet-ptpip.c``) shape the test:
it does no TCP reassembly and decodes only the first PTP/IP packet of a segment, so the server
runs with ``packet_per_write`` and the data phases stay smaller than one loopback segment; and it
puts a response's code in the ``ptpip.opcode`` field (``ptpip.respcode`` stays empty).
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.interop.conftest import require_tool

import ptpkit
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.server import PtpIpServer


@dataclass(frozen=True)
class Exchange:
    """A transaction as the client saw it: (opcode, transaction id, response code, data bytes)."""

    opcode: int
    transaction_id: int
    response: int
    data_bytes: int | None


class _Recorder(logging.Handler):
    """Reads requests and responses from ptpkit's own transaction log (what we sent and got)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class Capture:
    """A tshark capture of one loopback port; ``stop()`` flushes it to ``pcap``."""

    def __init__(self, tshark: str, pcap: Path, port: int) -> None:
        self.tshark = tshark
        self.pcap = pcap
        self.port = port
        self.process = subprocess.Popen(
            [tshark, "-i", "lo", "-f", f"tcp port {port}", "-w", str(pcap)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        # tshark says "Capturing on 'Loopback: lo'" once packets are being captured.
        seen = ""
        while "Capturing on" not in seen:
            line = self.process.stderr.readline()
            if not line:
                self.process.kill()
                pytest.fail(f"tshark did not start capturing: {seen}")
            seen += line
        # dumpcap announces the capture a moment before its filter sees packets.
        time.sleep(1.0)

    def stop(self) -> None:
        if self.process.poll() is None:
            time.sleep(0.3)  # let the last segments reach the capture
            self.process.terminate()
            self.process.wait(timeout=30)


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[Capture]:
    """A running tshark capture of a free loopback port."""
    tshark = require_tool("tshark")
    # Find a free port: bind, read it, close; the test's server binds it again right away.
    with PtpIpServer(VirtualCamera(tmp_path), "127.0.0.1", 0) as probe:
        port = probe.port
    running = Capture(tshark, tmp_path / "session.pcapng", port)
    try:
        yield running
    finally:
        running.stop()


def _decode(tshark: str, pcap: Path, port: int) -> list[dict[str, str]]:
    fields = [
        "frame.number",
        "ptpip.pktType",
        "ptpip.opcode",
        "ptpip.transactionID",
        "ptpip.datalen",
        "_ws.malformed",
        "_ws.expert.severity",
    ]
    result = subprocess.run(
        [
            tshark,
            "-r",
            str(pcap),
            "-d",
            f"tcp.port=={port},ptpip",
            "-Y",
            "ptpip || _ws.malformed",
            "-T",
            "fields",
            "-E",
            "separator=|",
            *[arg for f in fields for arg in ("-e", f)],
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = []
    for line in result.stdout.splitlines():
        values = line.split("|")
        rows.append(dict(zip(fields, values, strict=True)))
    return rows


def _number(text: str) -> int:
    return int(text, 0)


def test_wireshark_decodes_every_request_response_and_startdata(
    capture: Capture, tmp_path: Path
) -> None:
    port = capture.port
    card = tmp_path / "card"
    card.mkdir()
    (card / "NOTES.TXT").write_bytes(b"notes " * 1000)  # 6 KB: one segment
    recorder = _Recorder()
    logger = logging.getLogger("ptpkit.transaction")
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    try:
        with (
            VirtualCamera(card) as camera,
            PtpIpServer(camera, "127.0.0.1", port, packet_per_write=True),
            ptpkit.connect(f"ptpip:127.0.0.1:{port}") as cam,
        ):
            entries = list(cam.walk())
            notes = next(e for e in entries if e.name == "NOTES.TXT")
            cam.read(notes)
            cam.get_property("iso")
            cam.set_property("iso", 400)
            cam.transaction(0x9999)  # unsupported: a response other than OK
    finally:
        logger.removeHandler(recorder)
        capture.stop()

    # What we know we exchanged, from ptpkit's own log ("-> Name(params) tid=N" then "<- Resp").
    sent = [line for line in recorder.lines if line.startswith("-> ")]
    answers = [line for line in recorder.lines if line.startswith("<- ")]
    assert len(sent) == len(answers) >= 8
    tids = [int(line.rsplit("tid=", 1)[1].split()[0]) for line in sent]
    codes = [int(line.split("(0x", 1)[1][:4], 16) for line in answers]

    rows = _decode(capture.tshark, capture.pcap, port)
    assert not [r for r in rows if r["_ws.malformed"]], "Wireshark marked frames malformed"
    assert not [r for r in rows if r["_ws.expert.severity"]], "Wireshark raised expert info"

    requests = [r for r in rows if r["ptpip.pktType"] and _number(r["ptpip.pktType"]) == 6]
    responses = [r for r in rows if r["ptpip.pktType"] and _number(r["ptpip.pktType"]) == 7]
    starts = [r for r in rows if r["ptpip.pktType"] and _number(r["ptpip.pktType"]) == 9]
    assert [_number(r["ptpip.transactionID"]) for r in requests] == tids
    assert [_number(r["ptpip.transactionID"]) for r in responses] == tids
    # The dissector files the response code under ptpip.opcode.
    assert [_number(r["ptpip.opcode"]) for r in responses] == codes
    assert 0x2005 in codes  # the unsupported operation's OperationNotSupported
    opcodes = [_number(r["ptpip.opcode"]) for r in requests]
    assert opcodes[:2] == [0x1001, 0x1002]  # GetDeviceInfo, then OpenSession
    assert 0x1016 in opcodes  # SetDevicePropValue (a data-out phase)
    # Every data phase, in and out, starts with a StartData carrying the right id and length.
    start_by_tid = {_number(r["ptpip.transactionID"]): int(r["ptpip.datalen"]) for r in starts}
    read_tid = tids[next(i for i, line in enumerate(sent) if line.startswith("-> GetObject("))]
    assert start_by_tid[read_tid] == len(b"notes " * 1000)
    set_tid = tids[next(i for i, line in enumerate(sent) if "SetDevicePropValue" in line)]
    assert start_by_tid[set_tid] == 2  # ExposureIndex is a UINT16


def test_wireshark_decodes_a_sony_session(capture: Capture, tmp_path: Path) -> None:
    """The virtual Sony with ptpkit's sony extension: the SDIO handshake, 0x9280's 18-byte data
    out and 0x9281 (PTP/IP), 0x9209 reads and a SetControlDeviceA, all well formed to Wireshark."""
    from ptpkit.virtual.models import personality_for

    port = capture.port
    card = tmp_path / "card"
    card.mkdir()
    (card / "NOTES.TXT").write_bytes(b"notes " * 100)
    recorder = _Recorder()
    logger = logging.getLogger("ptpkit.transaction")
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    try:
        with (
            VirtualCamera(card, personality=personality_for("sony")) as camera,
            PtpIpServer(camera, "127.0.0.1", port, packet_per_write=True),
            ptpkit.connect(f"ptpip:127.0.0.1:{port}") as cam,
        ):
            cam.set_property("iso", "800")
            assert cam.get_property_text("iso") == "800"
            list(cam.walk())
    finally:
        logger.removeHandler(recorder)
        capture.stop()

    sent = [line for line in recorder.lines if line.startswith("-> ")]
    tids = [int(line.rsplit("tid=", 1)[1].split()[0]) for line in sent]
    rows = _decode(capture.tshark, capture.pcap, port)
    assert not [r for r in rows if r["_ws.malformed"]], "Wireshark marked frames malformed"
    assert not [r for r in rows if r["_ws.expert.severity"]], "Wireshark raised expert info"
    requests = [r for r in rows if r["ptpip.pktType"] and _number(r["ptpip.pktType"]) == 6]
    starts = [r for r in rows if r["ptpip.pktType"] and _number(r["ptpip.pktType"]) == 9]
    assert [_number(r["ptpip.transactionID"]) for r in requests] == tids
    opcodes = [_number(r["ptpip.opcode"]) for r in requests]
    assert opcodes.count(0x9201) == 3
    assert {0x9202, 0x9205, 0x9209, 0x9280, 0x9281} <= set(opcodes)
    start_by_tid = {_number(r["ptpip.transactionID"]): int(r["ptpip.datalen"]) for r in starts}
    by_op = {op: _number(r["ptpip.transactionID"]) for op, r in zip(opcodes, requests, strict=True)}
    # 0x9280 "open" then "close" (the last one): 18 and 16 bytes; SetControlDeviceA's u8/u32.
    pairs = list(zip(opcodes, requests, strict=True))
    first_9280 = next(_number(r["ptpip.transactionID"]) for op, r in pairs if op == 0x9280)
    assert start_by_tid[first_9280] == 18
    assert start_by_tid[by_op[0x9280]] == 16
    assert start_by_tid[by_op[0x9205]] == 4  # ISO 800 as a u32, the last SetControlDeviceA
