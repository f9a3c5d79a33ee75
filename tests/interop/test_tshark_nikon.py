"""Wireshark's PTP/IP dissector on a ptpkit client <-> virtual Nikon session: the Nikon
operations (GetVendorPropCodes, GetEventEx polls from the extension's poller thread, DeviceReady
with its busy answers, InitiateCaptureRecInMedia, GetObjectSize) decode with the opcodes,
transaction ids and response codes ptpkit logged, and no frame is malformed. The capture fixture
and the decoding are test_tshark.py's (no TCP reassembly there: small data phases only)."""

from __future__ import annotations

import logging
from pathlib import Path

import ptpkit
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.nikon import personality
from ptpkit.virtual.server import PtpIpServer

from .test_tshark import Capture, _decode, _number, _Recorder, capture

__all__ = ["capture"]  # the fixture, used by name


def test_wireshark_decodes_a_nikon_session(capture: Capture, tmp_path: Path) -> None:
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
            VirtualCamera(card, personality=personality()) as camera,
            PtpIpServer(camera, "127.0.0.1", port, packet_per_write=True),
            ptpkit.connect(f"ptpip:127.0.0.1:{port}") as cam,
        ):
            cam.set_property("shutterspeed2", "1/250")
            result = cam.capture(timeout_s=20)
            assert result[0].in_memory
            cam.transaction(0x9421, [next(e for e in cam.walk() if e.name == "NOTES.TXT").handle])
    finally:
        logger.removeHandler(recorder)
        capture.stop()

    sent = [line for line in recorder.lines if line.startswith("-> ")]
    answers = [line for line in recorder.lines if line.startswith("<- ")]
    assert len(sent) == len(answers)
    tids = [int(line.rsplit("tid=", 1)[1].split()[0]) for line in sent]
    codes = [int(line.split("(0x", 1)[1][:4], 16) for line in answers]

    rows = _decode(capture.tshark, capture.pcap, port)
    assert not [r for r in rows if r["_ws.malformed"]], "Wireshark marked frames malformed"
    requests = [r for r in rows if r["ptpip.pktType"] and _number(r["ptpip.pktType"]) == 6]
    responses = [r for r in rows if r["ptpip.pktType"] and _number(r["ptpip.pktType"]) == 7]
    assert sorted(_number(r["ptpip.transactionID"]) for r in requests) == sorted(tids)
    by_tid = {_number(r["ptpip.transactionID"]): _number(r["ptpip.opcode"]) for r in responses}
    assert [by_tid[tid] for tid in tids] == codes
    opcodes = {_number(r["ptpip.opcode"]) for r in requests}
    # GetVendorPropCodes, GetEventEx, DeviceReady, InitiateCaptureRecInMedia, GetObjectSize.
    assert {0x90CA, 0x941C, 0x90C8, 0x9207, 0x9421} <= opcodes
    assert 0x2019 in codes  # DeviceReady's busy answers after the capture, as sent
