"""Golden bytes for the 14 PTP/IP packet types (CIPA DC-X005) and the streaming framing.

Every packet is ``u32 length (header included) | u32 type | payload``, little endian. Sources:

- "gphoto2": sent by Debian's gphoto2 2.5.28 / libgphoto2 2.5.30 (camlibs/ptp2/ptpip.c) to a
  throwaway responder on 127.0.0.1, captured with dumpcap (/tmp/research/*.pcapng).
- "capture, responder": sent by that throwaway responder and *accepted* by gphoto2 (it went on
  with the session and printed the decoded values), so the layout is what libgphoto2 parses.
- "Sony": a Sony camera's data-in sequence quoted in AlphaWire's source comments.
- "Wireshark": hand-made frames that Wireshark 4.0's PTP/IP dissector (packet-ptpip.c) decoded
  with the named type and fields (/tmp/research/synth.pcap); packets that it flagged as
  malformed are used below as bad input.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptpkit.core.connection import Connection, ConnectionEvent, OutgoingEvent
from ptpkit.core.events import (
    NEED_DATA,
    Cancel,
    Data,
    DataEnd,
    DataPhase,
    DataStart,
    Event,
    Request,
    Response,
)
from ptpkit.core.ptpip import (
    CancelPacket,
    DataPacket,
    EndData,
    EventPacket,
    InitCommandAck,
    InitCommandRequest,
    InitEventAck,
    InitEventRequest,
    InitFail,
    OperationRequest,
    OperationResponse,
    Packet,
    ProbeRequest,
    ProbeResponse,
    PtpIpFraming,
    StartData,
    _as_event,
    pull_packet,
    push_packet,
)
from ptpkit.core.state import Phase, Role
from ptpkit.errors import DecodeError, LocalProtocolError
from ptpkit.testing import drain

from .core_strategies import events, packets, params, responses, u16, u32
from .test_datasets import DEVICE_INFO_CAPTURE, DEVICE_INFO_CAPTURE_VALUE


def h(text: str) -> bytes:
    return bytes.fromhex(text)


GPHOTO2_GUID = h("ea325f2e7a72bd014b682fe4f71dc59b")

PACKETS: list[tuple[str, Packet, str]] = [
    # 1. gphoto2 on host "vm": GUID, name "vm" UTF-16LE + NUL, version 1.0 sent as u16 minor 0,
    # u16 major 1 (= u32 0x00010000).
    (
        "InitCommandRequest",
        InitCommandRequest(guid=GPHOTO2_GUID, friendly_name="vm", protocol_version=0x00010000),
        "22000000 01000000 ea325f2e7a72bd014b682fe4f71dc59b 7600 6d00 0000 00000100",
    ),
    # 2. capture, responder: connection number 1, GUID, "ptpkit-cam", version 1.0.
    (
        "InitCommandAck",
        InitCommandAck(connection_number=1, guid=bytes(range(16)), friendly_name="ptpkit-cam"),
        "36000000 02000000 01000000 000102030405060708090a0b0c0d0e0f"
        " 7000 7400 7000 6b00 6900 7400 2d00 6300 6100 6d00 0000 00000100",
    ),
    # 3. gphoto2 on the event connection: connection number 1.
    ("InitEventRequest", InitEventRequest(connection_number=1), "0c000000 03000000 01000000"),
    # 4. capture, responder.
    ("InitEventAck", InitEventAck(), "08000000 04000000"),
    # 5. capture, responder (e_initfail.pcapng): reason 1; gphoto2 gave up the connection.
    ("InitFail", InitFail(reason=1), "0c000000 05000000 01000000"),
    # 6. gphoto2: InitiateCapture, DataPhaseInfo 1, opcode 0x100E, tid 5, params 0, 0.
    (
        "OperationRequest",
        OperationRequest(data_phase=1, code=0x100E, transaction_id=5, params=(0, 0)),
        "1a000000 06000000 01000000 0e10 05000000 00000000 00000000",
    ),
    # 7. Sony: response OK to tid 4.
    (
        "OperationResponse",
        OperationResponse(code=0x2001, transaction_id=4),
        "0e000000 07000000 0120 04000000",
    ),
    # 8. capture, responder (capture.pcapng): ObjectAdded, tid 5, param 10; gphoto2 then asked
    # for the ObjectInfo of handle 10.
    (
        "Event",
        EventPacket(code=0x4002, transaction_id=5, params=(10,)),
        "12000000 08000000 0240 05000000 0a000000",
    ),
    # 9. Sony: StartData tid 4, total length 8 as a u64.
    (
        "StartData",
        StartData(transaction_id=4, total_length=8),
        "14000000 09000000 04000000 0800000000000000",
    ),
    # 10. capture, responder (e_datathenemptyend.pcapng): GetObjectHandles data in a Data packet.
    (
        "Data",
        DataPacket(transaction_id=8, payload=h("02000000 03000000 04000000")),
        "18000000 0a000000 08000000 02000000 03000000 04000000",
    ),
    # 11. Wireshark: "Cancel Packet (0x0000000b)", length 12.
    ("Cancel", CancelPacket(transaction_id=4), "0c000000 0b000000 04000000"),
    # 12. Sony: an empty EndData for tid 4.
    ("EndData", EndData(transaction_id=4), "0c000000 0c000000 04000000"),
    # 13. Wireshark: "Probe Request Packet (0x0000000d)", length 8.
    ("ProbeRequest", ProbeRequest(), "08000000 0d000000"),
    # 14. Wireshark: "Probe Response Packet (0x0000000e)", length 8.
    ("ProbeResponse", ProbeResponse(), "08000000 0e000000"),
    # More of the same types, from the captures.
    (
        "OperationRequest-OpenSession",  # gphoto2: OpenSession(1) with tid 0
        OperationRequest(data_phase=1, code=0x1002, transaction_id=0, params=(1,)),
        "16000000 06000000 01000000 0210 00000000 01000000",
    ),
    (
        "OperationRequest-GetObjectHandles",  # gphoto2: three parameters
        OperationRequest(
            data_phase=1, code=0x1007, transaction_id=3, params=(0xFFFFFFFF, 0, 0xFFFFFFFF)
        ),
        "1e000000 06000000 01000000 0710 03000000 ffffffff 00000000 ffffffff",
    ),
    (
        "OperationRequest-SendObjectInfo",  # gphoto2: DataPhaseInfo 2 (data out)
        OperationRequest(data_phase=2, code=0x100C, transaction_id=11, params=(0x00010001, 2)),
        "1a000000 06000000 02000000 0c10 0b000000 01000100 02000000",
    ),
    (
        "OperationResponse-params",  # capture, responder: SendObjectInfo's answer
        OperationResponse(code=0x2001, transaction_id=11, params=(0x00010001, 2, 10)),
        "1a000000 07000000 0120 0b000000 01000100 02000000 0a000000",
    ),
    (
        "Event-no-params",  # capture, responder: CaptureComplete
        EventPacket(code=0x400D, transaction_id=5),
        "0e000000 08000000 0d40 05000000",
    ),
    (
        "StartData-gphoto2",  # gphoto2: 78 bytes of ObjectInfo follow
        StartData(transaction_id=11, total_length=78),
        "14000000 09000000 0b000000 4e00000000000000",
    ),
    (
        "EndData-payload",  # capture, responder: GetStorageIDs data [0x00010001] in EndData
        EndData(transaction_id=2, payload=h("01000000 01000100")),
        "14000000 0c000000 02000000 01000000 01000100",
    ),
    (
        "Data-Sony",  # Sony's Data layout for tid 4; the 8 payload bytes are ours (elided there)
        DataPacket(transaction_id=4, payload=h("0102030405060708")),
        "14000000 0a000000 04000000 0102030405060708",
    ),
]


@pytest.mark.parametrize(("name", "packet", "golden"), PACKETS, ids=[n for n, *_ in PACKETS])
def test_packet_golden(name: str, packet: Packet, golden: str) -> None:
    data = h(golden)
    assert push_packet(packet) == data
    assert pull_packet(data) == packet
    assert pull_packet(bytearray(data)) == packet
    assert int.from_bytes(data[:4], "little") == len(data)


def test_all_14_packet_types_are_covered() -> None:
    types = {int.from_bytes(h(golden)[4:8], "little") for _, _, golden in PACKETS}
    assert types == set(range(1, 15))


# -- the framing: packets to events --------------------------------------------------------------


def decode_stream(data: bytes) -> list[ConnectionEvent]:
    framing = PtpIpFraming()
    framing.receive_data(data)
    return drain(framing)


def test_framing_maps_packets_to_events() -> None:
    assert decode_stream(h("1a000000 06000000 01000000 0e10 05000000 00000000 00000000")) == [
        Request(code=0x100E, transaction_id=5, params=(0, 0), data_phase=DataPhase.NONE_OR_IN)
    ]
    assert decode_stream(h("1a000000 06000000 02000000 0c10 0b000000 01000100 02000000")) == [
        Request(code=0x100C, transaction_id=11, params=(0x00010001, 2), data_phase=DataPhase.OUT)
    ]
    assert decode_stream(h("0e000000 07000000 0120 04000000")) == [
        Response(code=0x2001, transaction_id=4)
    ]
    assert decode_stream(h("12000000 08000000 0240 05000000 0a000000")) == [
        Event(code=0x4002, transaction_id=5, params=(10,))
    ]
    assert decode_stream(h("0c000000 0b000000 04000000")) == [Cancel(transaction_id=4)]
    assert decode_stream(h("08000000 0d000000 08000000 0e000000")) == [
        ProbeRequest(),
        ProbeResponse(),
    ]
    assert decode_stream(h("0c000000 03000000 01000000")) == [InitEventRequest(connection_number=1)]


def test_sony_data_in_sequence() -> None:
    # StartData(8), Data(8 bytes), empty EndData, response OK: one DataStart, the data, one
    # DataEnd, the response.
    stream = h(
        "14000000 09000000 04000000 0800000000000000"
        "14000000 0a000000 04000000 0102030405060708"
        "0c000000 0c000000 04000000"
        "0e000000 07000000 0120 04000000"
    )
    assert decode_stream(stream) == [
        DataStart(transaction_id=4, total_bytes=8),
        Data(transaction_id=4, chunk=h("0102030405060708")),
        DataEnd(transaction_id=4),
        Response(code=0x2001, transaction_id=4),
    ]


def test_data_payload_streams_before_the_packet_is_complete() -> None:
    framing = PtpIpFraming()
    framing.receive_data(h("14000000 0a000000 04000000 010203"))
    chunk = framing.next_event()
    assert isinstance(chunk, Data)
    assert bytes(chunk.chunk) == h("010203")
    assert isinstance(chunk.chunk, memoryview)  # a view of the fed buffer, not a copy
    assert framing.next_event() is NEED_DATA
    framing.receive_data(h("0405060708 0c000000 0c000000 04000000"))
    rest = framing.next_event()
    assert isinstance(rest, Data)
    assert bytes(rest.chunk) == h("0405060708")
    assert framing.next_event() == DataEnd(transaction_id=4)
    assert framing.next_event() is NEED_DATA


def test_unknown_total_length_is_none() -> None:
    assert decode_stream(h("14000000 09000000 04000000 ffffffffffffffff")) == [
        DataStart(transaction_id=4, total_bytes=None)
    ]
    framing = PtpIpFraming()
    assert framing.encode(DataStart(transaction_id=4, total_bytes=None)) == [
        h("14000000 09000000 04000000 ffffffffffffffff")
    ]


def test_libgphoto2_zero_length_data_out_has_no_end_data() -> None:
    # upempty.pcapng: "gphoto2 --upload-file empty.jpg" sends SendObject, then StartData with a
    # total of 0 and no EndData at all (ptpip.c's send loop never runs), then its next request.
    stream = h(
        "12000000 06000000 02000000 0d10 0c000000"  # SendObject, DataPhaseInfo 2, tid 12
        "14000000 09000000 0c000000 0000000000000000"  # StartData(0), nothing after it
        "12000000 06000000 01000000 0310 0d000000"  # CloseSession, tid 13
    )
    assert decode_stream(stream) == [
        Request(code=0x100D, transaction_id=12, data_phase=DataPhase.OUT),
        DataStart(transaction_id=12, total_bytes=0),
        DataEnd(transaction_id=12),
        Request(code=0x1003, transaction_id=13),
    ]


def test_cipa_zero_length_data_phase_has_one_data_end() -> None:
    # A CIPA sender follows StartData(0) with an empty EndData: still exactly one DataEnd.
    stream = h(
        "14000000 09000000 0c000000 0000000000000000"
        "0c000000 0c000000 0c000000"
        "0e000000 07000000 0120 0c000000"
    )
    assert decode_stream(stream) == [
        DataStart(transaction_id=12, total_bytes=0),
        DataEnd(transaction_id=12),
        Response(code=0x2001, transaction_id=12),
    ]
    # The empty EndData arriving in a later read is skipped all the same.
    framing = PtpIpFraming()
    framing.receive_data(stream[:20])
    assert framing.next_event() == DataStart(transaction_id=12, total_bytes=0)
    assert framing.next_event() == DataEnd(transaction_id=12)
    assert framing.next_event() is NEED_DATA
    for byte in range(20, len(stream)):
        framing.receive_data(stream[byte : byte + 1])
        event = framing.next_event()
        if event is not NEED_DATA:
            assert event == Response(code=0x2001, transaction_id=12)
            assert byte == len(stream) - 1


def test_end_data_after_zero_length_phase_of_another_transaction_is_not_skipped() -> None:
    stream = h("14000000 09000000 0c000000 0000000000000000 0c000000 0c000000 0d000000")
    assert decode_stream(stream) == [
        DataStart(transaction_id=12, total_bytes=0),
        DataEnd(transaction_id=12),
        DataEnd(transaction_id=13),
    ]


@pytest.mark.parametrize(
    "data",
    [
        # Wireshark flagged these as malformed (synth.pcap):
        # InitCommandAck without its version.
        "2a000000 02000000 01000000 000102030405060708090a0b0c0d0e0f"
        " 7000 7400 7000 6b00 6900 7400 0000",
        # StartData with a 32-bit total.
        "10000000 09000000 04000000 e8030000",
        # by hand:
        # InitCommandRequest whose name has no NUL terminator.
        "1c000000 01000000 000102030405060708090a0b0c0d0e0f 7000 7400",
        # Unknown packet type 15.
        "08000000 0f000000",
        # Two bytes of junk after a response's fields (not a whole parameter).
        "10000000 07000000 0120 04000000 0000",
        # Six parameters.
        "26000000 07000000 0120 04000000" + " 00000000" * 6,
        # InitFail without its reason.
        "08000000 05000000",
        # A length shorter than the header.
        "04000000 07000000",
        # A data packet too short for its transaction id.
        "0a000000 0a000000 0400",
    ],
)
def test_malformed_packets_are_decode_errors(data: str) -> None:
    with pytest.raises(DecodeError):
        decode_stream(h(data))


def test_unknown_packet_type_offset() -> None:
    with pytest.raises(DecodeError) as info:
        pull_packet(h("08000000 0f000000"))
    assert info.value.offset == 4


def test_control_packet_claiming_0xfffffff0_bytes_fails_at_once() -> None:
    # Refused from its header: the framing never waits for (or buffers) 4 GiB of "response".
    framing = PtpIpFraming()
    framing.receive_data(h("f0ffffff 07000000"))
    with pytest.raises(DecodeError):
        framing.next_event()
    with pytest.raises(DecodeError) as info:
        pull_packet(h("f0ffffff 07000000 0120 04000000"))
    assert info.value.offset == 0


def test_pull_packet_length_must_match() -> None:
    with pytest.raises(DecodeError):
        pull_packet(h("0e000000 07000000 0120 04000000 00"))
    with pytest.raises(DecodeError):
        pull_packet(h("0e000000 07000000 0120 0400"))


def test_unknown_data_phase_info_is_kept_as_unknown() -> None:
    # Wireshark (synth.pcap frame 18) decodes DataPhaseInfo 3 as "unknown".
    (request,) = decode_stream(h("1a000000 06000000 03000000 0c10 06000000 01000100 02000000"))
    assert isinstance(request, Request)
    assert request.data_phase is DataPhase.UNKNOWN
    (request,) = decode_stream(h("12000000 06000000 07000000 0110 01000000"))
    assert isinstance(request, Request)
    assert request.data_phase is DataPhase.UNKNOWN


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([6, 7, 8, 9]),
    st.one_of(
        st.binary(max_size=34),
        st.integers(0, 8)
        .map(lambda n: n * 4 + 2)
        .flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    ),
    st.integers(0, 60),
)
def test_the_framing_s_fast_path_decodes_as_pull_packet(
    ptype: int, payload: bytes, split: int
) -> None:
    # Requests, responses, events and StartData are decoded straight from the receive buffer
    # (whole in one read, or split across two: from the inbox's own copy); the result, or the
    # DecodeError, is the general path's (pull_packet, then the packet's event).
    data = (8 + len(payload)).to_bytes(4, "little") + ptype.to_bytes(4, "little") + payload
    expected: object
    try:
        expected = _as_event(pull_packet(data))
    except DecodeError:
        expected = DecodeError
    for parts in ([data], [data[:split], data[split:]]):
        framing = PtpIpFraming()
        got: object = NEED_DATA
        try:
            for part in parts:
                framing.receive_data(memoryview(bytearray(part)))
                got = framing.next_event()
                if got is not NEED_DATA:
                    break
        except DecodeError:
            got = DecodeError
        assert got == expected


# -- the framing: events to packets --------------------------------------------------------------


def test_encode_events() -> None:
    framing = PtpIpFraming()
    assert framing.encode(Request(code=0x100E, transaction_id=5, params=(0, 0))) == [
        h("1a000000 06000000 01000000 0e10 05000000 00000000 00000000")
    ]
    assert framing.encode(Response(code=0x2001, transaction_id=4)) == [
        h("0e000000 07000000 0120 04000000")
    ]
    assert framing.encode(Event(code=0x4002, transaction_id=5, params=(10,))) == [
        h("12000000 08000000 0240 05000000 0a000000")
    ]
    assert framing.encode(DataStart(transaction_id=4, total_bytes=8, code=0x1009)) == [
        h("14000000 09000000 04000000 0800000000000000")
    ]
    assert framing.encode(Cancel(transaction_id=4)) == [h("0c000000 0b000000 04000000")]
    assert framing.encode(ProbeRequest()) == [h("08000000 0d000000")]
    assert framing.encode_empty_end(4) == [h("0c000000 0c000000 04000000")]


def test_encode_data_is_data_or_end_data_and_does_not_copy() -> None:
    framing = PtpIpFraming()
    chunk = memoryview(bytearray(h("0102030405060708")))
    header, body = framing.encode(Data(transaction_id=4, chunk=chunk))
    assert header == h("14000000 0a000000 04000000")
    assert body is chunk
    header, body = framing.encode(Data(transaction_id=4, chunk=chunk), final=True)
    assert header == h("14000000 0c000000 04000000")
    assert framing.encode(Data(transaction_id=4, chunk=b""), final=True) == [
        h("0c000000 0c000000 04000000")
    ]


def test_encoding_errors_are_local() -> None:
    with pytest.raises(LocalProtocolError):
        push_packet(InitCommandRequest(guid=b"short", friendly_name="x"))
    with pytest.raises(LocalProtocolError):
        push_packet(OperationResponse(code=0x2001, transaction_id=1, params=(1, 2, 3, 4, 5, 6)))
    with pytest.raises(LocalProtocolError):
        push_packet(OperationResponse(code=0x2001, transaction_id=1, params=(1 << 32,)))
    with pytest.raises(LocalProtocolError):
        PtpIpFraming().encode(DataEnd(transaction_id=1))  # receivers make DataEnd, nobody sends it
    with pytest.raises(LocalProtocolError):
        PtpIpFraming().encode(Data(transaction_id=1 << 32, chunk=b"x"))
    with pytest.raises(LocalProtocolError):
        PtpIpFraming().encode_empty_end(-1)
    with pytest.raises(LocalProtocolError):
        PtpIpFraming().encode(Request(code=0x10000, transaction_id=0))
    # A NUL inside the name would end it early and shift the version field: malformed.
    with pytest.raises(LocalProtocolError):
        push_packet(InitCommandRequest(guid=bytes(16), friendly_name="a\x00b"))


# -- a real session, replayed --------------------------------------------------------------------

# cap_summary.pcapng ("gphoto2 --summary"): the command connection up to GetObjectHandles,
# as (sender, bytes). The responder sent StartData in one segment and EndData + the response
# in the next.
SESSION: list[tuple[Role, str]] = [
    (Role.INITIATOR, "22000000 01000000 ea325f2e7a72bd014b682fe4f71dc59b 7600 6d00 0000 00000100"),
    (
        Role.RESPONDER,
        "36000000 02000000 01000000 000102030405060708090a0b0c0d0e0f"
        " 7000 7400 7000 6b00 6900 7400 2d00 6300 6100 6d00 0000 00000100",
    ),
    (Role.INITIATOR, "16000000 06000000 01000000 0210 00000000 01000000"),
    (Role.RESPONDER, "0e000000 07000000 0120 00000000"),
    (Role.INITIATOR, "12000000 06000000 01000000 0110 01000000"),
    (Role.RESPONDER, "14000000 09000000 01000000 9500000000000000"),
    (
        Role.RESPONDER,
        "a1000000 0c000000 01000000"
        + DEVICE_INFO_CAPTURE.hex()
        + "0e000000 07000000 0120 01000000",
    ),
    (Role.INITIATOR, "12000000 06000000 01000000 0410 02000000"),
    (Role.RESPONDER, "14000000 09000000 02000000 0800000000000000"),
    (
        Role.RESPONDER,
        "14000000 0c000000 02000000 01000000 01000100 0e000000 07000000 0120 02000000",
    ),
    (Role.INITIATOR, "1e000000 06000000 01000000 0710 03000000 ffffffff 00000000 ffffffff"),
    (Role.RESPONDER, "14000000 09000000 03000000 0800000000000000"),
    (
        Role.RESPONDER,
        "14000000 0c000000 03000000 01000000 01000000 0e000000 07000000 0120 03000000",
    ),
]


def test_replay_of_a_gphoto2_session() -> None:
    """Both ends of the core produce gphoto2's and the responder's exact bytes, and each end
    decodes the other's bytes as captured (so the core speaks libgphoto2's dialect both ways)."""
    initiator = Connection(Role.INITIATOR, PtpIpFraming())
    responder = Connection(Role.RESPONDER, PtpIpFraming())
    wire = {Role.INITIATOR: b"", Role.RESPONDER: b""}
    received = {Role.INITIATOR: b"", Role.RESPONDER: b""}
    for sender, hex_bytes in SESSION:
        wire[sender] += h(hex_bytes)

    def send(conn: Connection, *events: OutgoingEvent) -> list[ConnectionEvent]:
        out = b"".join(b"".join(conn.send(event)) for event in events)
        peer = responder if conn is initiator else initiator
        received[conn.role] += out
        peer.receive_data(out)
        return list(drain(peer))

    guid = GPHOTO2_GUID
    assert send(initiator, InitCommandRequest(guid=guid, friendly_name="vm")) == [
        InitCommandRequest(guid=guid, friendly_name="vm")
    ]
    ack = InitCommandAck(connection_number=1, guid=bytes(range(16)), friendly_name="ptpkit-cam")
    assert send(responder, ack) == [ack]
    assert initiator.phase is Phase.IDLE
    assert initiator.framing.connection_number == responder.framing.connection_number == 1

    tid = initiator.next_transaction_id(0x1002)
    assert tid == 0
    send(initiator, Request(code=0x1002, transaction_id=tid, params=(1,)))
    assert send(responder, Response(code=0x2001, transaction_id=0)) == [
        Response(code=0x2001, transaction_id=0)
    ]
    assert initiator.session_id == responder.session_id == 1

    tid = initiator.next_transaction_id(0x1001)
    assert tid == 1
    send(initiator, Request(code=0x1001, transaction_id=tid))
    info = DEVICE_INFO_CAPTURE_VALUE.to_bytes()
    got = send(responder, DataStart(transaction_id=1, total_bytes=len(info)))
    got += send(
        responder, Data(transaction_id=1, chunk=info), Response(code=0x2001, transaction_id=1)
    )
    assert [type(e) for e in got] == [DataStart, Data, DataEnd, Response]
    assert isinstance(got[1], Data)
    assert got[1].chunk == DEVICE_INFO_CAPTURE

    for code, op_params, data, tid_expected in [
        (0x1004, (), h("01000000 01000100"), 2),
        (0x1007, (0xFFFFFFFF, 0, 0xFFFFFFFF), h("01000000 01000000"), 3),
    ]:
        tid = initiator.next_transaction_id(code)
        assert tid == tid_expected
        assert send(initiator, Request(code=code, transaction_id=tid, params=op_params)) == [
            Request(code=code, transaction_id=tid, params=op_params)
        ]
        send(responder, DataStart(transaction_id=tid, total_bytes=len(data)))
        got = send(
            responder,
            Data(transaction_id=tid, chunk=data),
            Response(code=0x2001, transaction_id=tid),
        )
        assert got == [
            Data(transaction_id=tid, chunk=data),
            DataEnd(transaction_id=tid),
            Response(code=0x2001, transaction_id=tid),
        ]

    assert received[Role.INITIATOR] == wire[Role.INITIATOR]
    assert received[Role.RESPONDER] == wire[Role.RESPONDER]


# -- round trips ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(packets)
def test_packet_round_trip(packet: Packet) -> None:
    data = push_packet(packet)
    assert pull_packet(data) == packet
    assert int.from_bytes(data[:4], "little") == len(data)


ptpip_requests = st.builds(
    Request, code=u16, transaction_id=u32, params=params, data_phase=st.sampled_from(DataPhase)
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(ptpip_requests, responses, events))
def test_message_round_trip_through_the_framing(message: Request | Response | Event) -> None:
    assert decode_stream(b"".join(PtpIpFraming().encode(message))) == [message]


@settings(max_examples=200, deadline=None)
@given(st.one_of(ptpip_requests, responses, events))
def test_requests_responses_and_events_encode_as_push_packet(
    message: Request | Response | Event,
) -> None:
    # The framing packs these in one step; the bytes are push_packet's.
    packet: Packet
    if isinstance(message, Event):
        packet = EventPacket(
            code=message.code, transaction_id=message.transaction_id, params=message.params
        )
    elif isinstance(message, Request):
        packet = OperationRequest(
            data_phase=message.data_phase,
            code=message.code,
            transaction_id=message.transaction_id,
            params=message.params,
        )
    else:
        packet = OperationResponse(
            code=message.code, transaction_id=message.transaction_id, params=message.params
        )
    assert PtpIpFraming().encode(message) == [push_packet(packet)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=100), max_size=5), u32)
def test_data_phase_round_trip_through_the_framing(chunks: list[bytes], tid: int) -> None:
    framing = PtpIpFraming()
    payload = b"".join(chunks)
    out = framing.encode(DataStart(transaction_id=tid, total_bytes=len(payload)))
    for index, chunk in enumerate(chunks):
        out += framing.encode(Data(transaction_id=tid, chunk=chunk), final=index == len(chunks) - 1)
    if not payload:
        # A zero-length phase is StartData(0) + an empty EndData (Connection.send never sends
        # Data chunks after StartData(0): that phase is already over).
        out = out[:1] + framing.encode_empty_end(tid)
    decoded = decode_stream(b"".join(out))
    assert decoded[0] == DataStart(transaction_id=tid, total_bytes=len(payload))
    assert decoded[-1] == DataEnd(transaction_id=tid)
    assert sum(isinstance(e, DataEnd) for e in decoded) == 1
    assert b"".join(bytes(e.chunk) for e in decoded if isinstance(e, Data)) == payload
