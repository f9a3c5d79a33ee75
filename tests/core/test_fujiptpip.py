"""Fujifilm's PTP/IP variant: golden bytes for every packet, the handshake in the state table,
strict lengths, and byte-split invariance like the other framings (tests/core/test_split.py).

Golden bytes are written out by hand from the layouts in ``ptpkit.core.fujiptpip`` (sources
there); the InitCommandRequest of Debian's gphoto2 2.5.30 is as captured on 127.0.0.1.
"""

from __future__ import annotations

import os
import struct

import pytest
from tests.core.test_split import SMALL, SPLITTER_IDS, splitters

from ptpkit.core import fujiptpip as fuji
from ptpkit.core.connection import Connection
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
from ptpkit.core.state import Phase, Role
from ptpkit.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from ptpkit.testing import (
    INITIATOR_GUID,
    RESPONDER_GUID,
    ConnectionPair,
    Splitter,
    coalesce,
    drain,
    feed,
)

I, R = Role.INITIATOR, Role.RESPONDER  # noqa: E741 (the letters of state.py's table)
GUID = bytes(range(16))
#: The camera's GUID in INIT_ACK.
ACK_GUID = bytes(range(0x10, 0x20))

# -- golden bytes ---------------------------------------------------------------------------------

#: InitCommandRequest(GUID 00..0f, "vm"): 82 bytes, the name zero-padded to the end.
INIT_REQUEST = bytes.fromhex(
    "52000000 01000000 f2e4538f000102030405060708090a0b0c0d0e0f76006d00" + "00" * 50
)
#: What gphoto2 2.5.30 (libgphoto2 fujiptpip.c) sent to the virtual camera, host name "vm".
GPHOTO2_INIT_REQUEST = bytes.fromhex(
    "5200000001000000f2e4538f7d8f2604bd6e38085f9eb3e8a112207176006d00" + "00" * 50
)
#: InitCommandAck(GUID 10..1f, "X-T2", connection 0): 0x44 bytes (petabyt/vcam's layout).
INIT_ACK = bytes.fromhex(
    "44000000 02000000 00000000101112131415161718191a1b1c1d1e1f58002d0054003200" + "00" * 32
)
INIT_FAIL_BUSY = bytes.fromhex("0c000000 05000000 19200000")
OPEN_SESSION = bytes.fromhex("10000000 0100 0210 00000000 01000000")
OK_WITH_PARAMS = bytes.fromhex("14000000 0300 0120 07000000 0a000000 0b000000")
DATA_HEADER_4 = bytes.fromhex("10000000 0200 1510 07000000")  # GetDevicePropValue, 4 bytes
EVENT_OBJECT_ADDED = bytes.fromhex(
    "1c000000 0400 04c0 01000000 06000000 06000000 29f10000 00000000"
)


def test_init_request_golden() -> None:
    packet = fuji.InitCommandRequest(guid=GUID, friendly_name="vm")
    assert fuji.push_link_packet(packet) == INIT_REQUEST
    assert len(INIT_REQUEST) == fuji.INIT_REQUEST_BYTES == 82
    assert fuji.pull_link_packet(INIT_REQUEST) == packet


def test_gphoto2_init_request_decodes() -> None:
    packet = fuji.pull_link_packet(GPHOTO2_INIT_REQUEST)
    assert isinstance(packet, fuji.InitCommandRequest)
    assert packet.protocol_version == fuji.PROTOCOL_VERSION
    assert packet.guid == bytes.fromhex("7d8f2604bd6e38085f9eb3e8a1122071")
    assert packet.friendly_name == "vm"
    # Ours is the same packet but for the GUID.
    assert fuji.push_link_packet(packet) == GPHOTO2_INIT_REQUEST


def test_init_request_of_the_name_s_length_decodes() -> None:
    # Older libgphoto2 and the Go tool send 28 + the name with its NUL (not padded to 82).
    short = struct.pack("<III", 34, 1, fuji.PROTOCOL_VERSION) + GUID + "Go".encode("utf-16-le")
    short += b"\x00\x00"
    assert fuji.pull_link_packet(short) == fuji.InitCommandRequest(guid=GUID, friendly_name="Go")


def test_init_request_with_another_version_decodes_for_the_camera_to_refuse() -> None:
    standard = struct.pack("<III", 82, 1, 0x00010000) + INIT_REQUEST[12:]
    packet = fuji.pull_link_packet(standard)
    assert isinstance(packet, fuji.InitCommandRequest)
    assert packet.protocol_version == 0x00010000


def test_init_ack_golden() -> None:
    ack = fuji.InitCommandAck(guid=ACK_GUID, friendly_name="X-T2")
    assert fuji.push_link_packet(ack) == INIT_ACK
    assert len(INIT_ACK) == 0x44
    assert fuji.pull_link_packet(INIT_ACK) == ack


def test_init_ack_with_a_connection_number_and_trailing_bytes() -> None:
    # A standard PTP/IP-shaped ack (name, NUL, then a version word) reads the same: what follows
    # the name's NUL is padding.
    ack = struct.pack("<III", 0, 2, 7) + RESPONDER_GUID + "X-H2".encode("utf-16-le")
    ack += b"\x00\x00" + struct.pack("<I", 0x00010000)
    ack = struct.pack("<I", len(ack)) + ack[4:]
    assert fuji.pull_link_packet(ack) == fuji.InitCommandAck(
        guid=RESPONDER_GUID, friendly_name="X-H2", connection_number=7
    )


def test_init_ack_without_name_or_nul() -> None:
    bare = struct.pack("<III", 28, 2, 0) + RESPONDER_GUID
    assert fuji.pull_link_packet(bare) == fuji.InitCommandAck(guid=RESPONDER_GUID, friendly_name="")
    full = struct.pack("<III", 32, 2, 0) + RESPONDER_GUID + "AB".encode("utf-16-le")
    assert fuji.pull_link_packet(full).friendly_name == "AB"  # type: ignore[union-attr]


def test_init_fail_golden() -> None:
    fail = fuji.InitFail(reason=fuji.InitFailReason.DEVICE_BUSY)
    assert fuji.push_link_packet(fail) == INIT_FAIL_BUSY
    assert fuji.pull_link_packet(INIT_FAIL_BUSY) == fail


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (INIT_FAIL_BUSY + b"\x00\x00\x00\x00", "length field says 12"),
        (struct.pack("<III", 16, 5, 0x2019) + bytes(4), "cannot be 16 bytes"),
        (struct.pack("<II", 27, 1) + bytes(19), "cannot be 27 bytes"),
        (struct.pack("<II", 1100, 2) + bytes(1092), "cannot be 1100 bytes"),
        (struct.pack("<II", 12, 3) + bytes(4), "type 3 is not"),
        (INIT_ACK[:-1].replace(b"\x44", b"\x43", 1), "not whole UTF-16 units"),
    ],
)
def test_bad_link_packets(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        fuji.pull_link_packet(data)


def test_names_that_do_not_fit_are_refused_and_fit_name_shortens_them() -> None:
    long = "a" * 27
    with pytest.raises(LocalProtocolError, match="holds 26"):
        fuji.push_link_packet(fuji.InitCommandRequest(guid=GUID, friendly_name=long))
    assert fuji.fit_name(long, fuji.MAX_REQUEST_NAME_UNITS) == "a" * 26
    with pytest.raises(LocalProtocolError, match="holds 19"):
        fuji.push_link_packet(fuji.InitCommandAck(guid=GUID, friendly_name="b" * 20))
    with pytest.raises(LocalProtocolError, match="NUL"):
        fuji.push_link_packet(fuji.InitCommandRequest(guid=GUID, friendly_name="a\x00b"))
    with pytest.raises(LocalProtocolError, match="16 bytes"):
        fuji.push_link_packet(fuji.InitCommandAck(guid=b"short", friendly_name="x"))
    # A pair of surrogates is never cut in half; a NUL ends the name.
    assert fuji.fit_name("ab\U0001f4f7", 3) == "ab"
    assert fuji.fit_name("ab\U0001f4f7", 4) == "ab\U0001f4f7"
    assert fuji.fit_name("cam\x00era", 26) == "cam"


# -- the framing: containers ----------------------------------------------------------------------


def framing_events(data: bytes, channel: fuji.Channel = fuji.Channel.COMMAND) -> list[object]:
    framing = fuji.FujiPtpIpFraming(channel)
    framing.receive_data(data)
    return drain(framing)


def test_containers_golden_both_ways() -> None:
    framing = fuji.FujiPtpIpFraming()
    assert b"".join(framing.encode(Request(code=0x1002, transaction_id=0, params=(1,)))) == (
        OPEN_SESSION
    )
    ok = Response(code=0x2001, transaction_id=7, params=(10, 11))
    assert b"".join(framing.encode(ok)) == OK_WITH_PARAMS
    start = DataStart(transaction_id=7, total_bytes=4, code=0x1015)
    assert b"".join(framing.encode(start)) == DATA_HEADER_4
    event = Event(code=0xC004, transaction_id=1, params=(6, 6, 0xF129, 0))
    assert b"".join(framing.encode(event)) == EVENT_OBJECT_ADDED
    assert framing_events(OPEN_SESSION + OK_WITH_PARAMS) == [
        Request(code=0x1002, transaction_id=0, params=(1,)),
        ok,
    ]
    assert framing_events(DATA_HEADER_4 + b"\x01\x00\x02\x00") == [
        start,
        Data(transaction_id=7, chunk=b"\x01\x00\x02\x00"),
        DataEnd(transaction_id=7),
    ]
    assert framing_events(EVENT_OBJECT_ADDED, fuji.Channel.EVENT) == [event]


def test_encode_refusals() -> None:
    framing = fuji.FujiPtpIpFraming()
    with pytest.raises(LocalProtocolError, match="code 0"):
        framing.encode(Request(code=0, transaction_id=1))
    with pytest.raises(LocalProtocolError, match="32-bit length"):
        framing.encode(DataStart(transaction_id=1, total_bytes=1 << 32, code=0x1009))
    with pytest.raises(LocalProtocolError, match="total size"):
        framing.encode(DataStart(transaction_id=1, total_bytes=None, code=0x1009))
    with pytest.raises(LocalProtocolError, match="at most 5"):
        framing.encode(Response(code=0x2001, transaction_id=1, params=(1, 2, 3, 4, 5, 6)))
    with pytest.raises(LocalProtocolError, match="does not fit"):
        framing.encode(Request(code=0x1001, transaction_id=1 << 32))
    # No cancel in the variant: nothing goes on the wire.
    assert framing.encode(Cancel(transaction_id=3)) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes.fromhex("0c000000 0500 0120 01000000"), "unknown container type 5"),
        (bytes.fromhex("0e000000 0300 0120 01000000 0000"), "length 14 is not"),
        (bytes.fromhex("24000000 0300 0120 01000000") + bytes(24), "length 36 is not"),
        (bytes.fromhex("08000000 0300 0120 01000000"), "length 8 is not"),
        (bytes.fromhex("0b000000 0200 0910 01000000"), "shorter than its header"),
        (bytes.fromhex("0c000000 0300 0000 01000000"), "code 0"),
        (bytes.fromhex("00100000 0100 0000") + bytes(4088), "cannot be 4096 bytes"),
    ],
)
def test_bad_containers(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        framing_events(data)


def test_a_huge_length_is_refused_before_it_is_buffered() -> None:
    # A link packet claiming 0xFFFFFFF0 bytes fails on its 8-byte header.
    with pytest.raises(DecodeError, match="cannot be"):
        framing_events(struct.pack("<IHH", 0xFFFFFFF0, 2, 0))


# -- the handshake in the state table -------------------------------------------------------------


def handshake(pair: ConnectionPair) -> None:
    pair.send(I, fuji.InitCommandRequest(guid=INITIATOR_GUID, friendly_name="test"))
    pair.send(R, fuji.InitCommandAck(guid=RESPONDER_GUID, friendly_name="X-T2"))


def test_handshake_then_transactions() -> None:
    pair = ConnectionPair(fuji.FujiPtpIpFraming, handshake=False)
    assert pair.initiator.phase is Phase.CONNECTING
    handshake(pair)
    assert pair.initiator.phase is pair.responder.phase is Phase.IDLE
    pair.send(I, Request(code=0x1002, transaction_id=0, params=(1,)))
    pair.send(R, Response(code=0x2001, transaction_id=0))
    assert pair.initiator.session_id == pair.responder.session_id == 1


def test_the_request_may_come_again_before_the_first_command() -> None:
    # libgphoto2 2.5.30 sends InitCommandRequest twice; the second gets an ack too.
    pair = ConnectionPair(fuji.FujiPtpIpFraming, handshake=False)
    handshake(pair)
    handshake(pair)
    assert pair.responder.phase is Phase.IDLE
    pair.send(I, Request(code=0x1002, transaction_id=0, params=(1,)))
    pair.send(R, Response(code=0x2001, transaction_id=0))
    with pytest.raises(LocalProtocolError, match="after the first command"):
        pair.initiator.send(fuji.InitCommandRequest(guid=INITIATOR_GUID, friendly_name="x"))
    with pytest.raises(RemoteProtocolError, match="after the first command"):
        pair.deliver(R, INIT_REQUEST)
    assert pair.responder.phase is Phase.BROKEN


def test_init_fail_closes_and_more_bytes_are_the_peer_s_fault() -> None:
    host = Connection(I, fuji.FujiPtpIpFraming())
    host.send(fuji.InitCommandRequest(guid=GUID, friendly_name="vm"))
    events = feed(host, INIT_FAIL_BUSY)
    assert events == [fuji.InitFail(reason=0x2019)]
    assert host.phase is Phase.CLOSED
    with pytest.raises(RemoteProtocolError, match="after the connection closed"):
        feed(host, OK_WITH_PARAMS)


@pytest.mark.parametrize(
    "data", [OPEN_SESSION, OK_WITH_PARAMS, INIT_FAIL_BUSY, EVENT_OBJECT_ADDED], ids=str
)
def test_nothing_but_the_handshake_comes_first(data: bytes) -> None:
    camera = Connection(R, fuji.FujiPtpIpFraming())
    with pytest.raises(RemoteProtocolError):
        feed(camera, data)


def test_an_ack_out_of_turn_is_refused() -> None:
    pair = ConnectionPair(fuji.FujiPtpIpFraming, handshake=False)
    handshake(pair)
    with pytest.raises(RemoteProtocolError, match="out of turn"):
        pair.deliver(I, INIT_ACK)


def test_the_event_channel_has_no_handshake() -> None:
    host = Connection(I, fuji.FujiPtpIpFraming(fuji.Channel.EVENT))
    assert host.phase is Phase.EVENT_CHANNEL
    assert feed(host, EVENT_OBJECT_ADDED) == [
        Event(code=0xC004, transaction_id=1, params=(6, 6, 0xF129, 0))
    ]
    for stray in (INIT_ACK, OK_WITH_PARAMS):
        fresh = Connection(I, fuji.FujiPtpIpFraming(fuji.Channel.EVENT))
        with pytest.raises(RemoteProtocolError, match="out of turn"):
            feed(fresh, stray)


def test_a_cancel_sends_nothing_and_the_transaction_drains_to_its_response() -> None:
    pair = ConnectionPair(fuji.FujiPtpIpFraming, handshake=False)
    handshake(pair)
    pair.send(I, Request(code=0x1009, transaction_id=0, params=(1,)))
    pair.send(R, DataStart(transaction_id=0, total_bytes=6), Data(transaction_id=0, chunk=b"ab"))
    assert pair.initiator.send(Cancel(transaction_id=0)) == []
    assert pair.initiator.phase is Phase.CANCELLING
    rest = pair.send(
        R, Data(transaction_id=0, chunk=b"cdef"), Response(code=0x2001, transaction_id=0)
    )
    assert rest[-1] == Response(code=0x2001, transaction_id=0)
    assert pair.initiator.phase is Phase.IDLE


def test_a_data_phase_that_overruns_the_response_is_caught() -> None:
    # The container's length is the whole phase: bytes beyond it are the next container.
    pair = ConnectionPair(fuji.FujiPtpIpFraming, handshake=False)
    handshake(pair)
    pair.send(I, Request(code=0x1009, transaction_id=0, params=(1,)))
    header = bytes.fromhex("10000000 0200 0910 00000000")  # 4 bytes announced, 6 sent
    response = bytes.fromhex("0c000000 0300 0120 00000000")
    with pytest.raises(DecodeError, match="unknown container type 0"):
        pair.deliver(I, header + b"abcd" + b"\xee\xee" + response)
    assert pair.initiator.phase is Phase.BROKEN


# -- byte-split invariance ------------------------------------------------------------------------


def pair_for(splitter: Splitter) -> ConnectionPair:
    return ConnectionPair(
        fuji.FujiPtpIpFraming,
        splitter=splitter,
        handshake=[
            (I, fuji.InitCommandRequest(guid=INITIATOR_GUID, friendly_name="split")),
            (R, fuji.InitCommandAck(guid=RESPONDER_GUID, friendly_name="X-T2")),
        ],
    )


@pytest.mark.parametrize("splitter", splitters(), ids=SPLITTER_IDS)
class TestSplits:
    def test_handshake(self, splitter: Splitter) -> None:
        pair = ConnectionPair(fuji.FujiPtpIpFraming, splitter=splitter, handshake=False)
        assert pair.send(I, fuji.InitCommandRequest(guid=GUID, friendly_name="vm")) == [
            fuji.InitCommandRequest(guid=GUID, friendly_name="vm")
        ]
        assert pair.deliver(I, INIT_ACK) == [
            fuji.InitCommandAck(guid=ACK_GUID, friendly_name="X-T2")
        ]

    def test_data_in(self, splitter: Splitter) -> None:
        pair = pair_for(splitter)
        pair.send(I, Request(code=0x1009, transaction_id=0, params=(1,)))
        chunks = [SMALL[i : i + 100] for i in range(0, len(SMALL), 100)]
        got = pair.send(
            R,
            DataStart(transaction_id=0, total_bytes=len(SMALL)),
            *(Data(transaction_id=0, chunk=c) for c in chunks),
            Response(code=0x2001, transaction_id=0),
        )
        assert coalesce(got) == [
            DataStart(transaction_id=0, total_bytes=len(SMALL), code=0x1009),
            Data(transaction_id=0, chunk=SMALL),
            DataEnd(transaction_id=0),
            Response(code=0x2001, transaction_id=0),
        ]

    def test_data_out_and_empty_data(self, splitter: Splitter) -> None:
        pair = pair_for(splitter)
        request = Request(code=0x100D, transaction_id=0, data_phase=DataPhase.OUT)
        # Over the variant, like USB, the direction is known from the operation.
        assert pair.send(I, request) == [Request(code=0x100D, transaction_id=0)]
        got = pair.send(
            I,
            DataStart(transaction_id=0, total_bytes=len(SMALL)),
            Data(transaction_id=0, chunk=SMALL),
        )
        assert coalesce(got) == [
            DataStart(transaction_id=0, total_bytes=len(SMALL), code=0x100D),
            Data(transaction_id=0, chunk=SMALL),
            DataEnd(transaction_id=0),
        ]
        pair.send(R, Response(code=0x2001, transaction_id=0))
        pair.send(I, Request(code=0x1009, transaction_id=0, params=(2,)))
        empty = pair.send(
            R, DataStart(transaction_id=0, total_bytes=0), Response(code=0x2001, transaction_id=0)
        )
        assert empty == [
            DataStart(transaction_id=0, total_bytes=0, code=0x1009),
            DataEnd(transaction_id=0),
            Response(code=0x2001, transaction_id=0),
        ]

    def test_events(self, splitter: Splitter) -> None:
        pair = pair_for(splitter)
        events = [
            Event(code=0xC004, transaction_id=1, params=(6, 6, 0xF129, 0)),
            Event(code=0xC001, transaction_id=1, params=(6, 6, 12345)),
            Event(code=0x400D),
        ]
        assert pair.send_event(*events) == events

    def test_a_stream_of_frames(self, splitter: Splitter) -> None:
        jpegs = [b"\xff\xd8" + bytes([n]) * (50 + n) + b"\xff\xd9" for n in range(3)]
        stream = b"".join(fuji.encode_stream_frame(j, n) for n, j in enumerate(jpegs))
        decoder = fuji.StreamDecoder()
        frames = []
        for piece in splitter(stream):
            decoder.receive_data(bytearray(piece))
            while (frame := decoder.next_frame()) is not NEED_DATA:
                assert isinstance(frame, bytes)
                frames.append(frame)
        assert [fuji.split_frame(f)[1] for f in frames] == jpegs
        assert [fuji.split_frame(f)[0][4] for f in frames] == [0, 1, 2]


def test_multi_megabyte_data_phase() -> None:
    payload = os.urandom(3 * 1024 * 1024 + 5)
    pair = pair_for(lambda data: [data[i : i + 65521] for i in range(0, len(data), 65521)])
    pair.send(I, Request(code=0x1009, transaction_id=0, params=(1,)))
    got = pair.send(
        R,
        DataStart(transaction_id=0, total_bytes=len(payload)),
        Data(transaction_id=0, chunk=payload),
        Response(code=0x2001, transaction_id=0),
    )
    assert bytes(coalesce(got)[1].chunk) == payload  # type: ignore[union-attr]


def test_a_data_phase_read_at_once_comes_in_bounded_events() -> None:
    """One read may bring a whole data phase (a fast link, a 4 MiB receive buffer): it still
    comes as events of at most DATA_EVENT_BYTES, so a download reports progress along the way."""
    payload = os.urandom(3 * fuji.DATA_EVENT_BYTES + 5)
    framing = fuji.FujiPtpIpFraming()
    framing.receive_data(struct.pack("<IHHI", 12 + len(payload), 2, 0x1009, 7) + payload)
    start = framing.next_event()
    assert isinstance(start, DataStart)
    assert start.total_bytes == len(payload)
    sizes = []
    while isinstance(event := framing.next_event(), Data):
        sizes.append(len(event.chunk))
    assert sizes == [fuji.DATA_EVENT_BYTES] * 3 + [5]
    assert isinstance(event, DataEnd)


# -- the live-view stream -------------------------------------------------------------------------


def test_stream_frame_golden() -> None:
    frame = fuji.encode_stream_frame(b"\xff\xd8\xff\xd9", 0x101)
    assert frame == bytes.fromhex("16000000 00000000 01" + "00" * 9 + "ffd8ffd9")
    header, jpeg = fuji.split_frame(frame[4:])
    assert (header[4], jpeg) == (1, b"\xff\xd8\xff\xd9")
    # libgphoto2 looks for FF D8 wherever it is.
    assert fuji.split_frame(bytes(20) + b"\xff\xd8\x00")[1] == b"\xff\xd8\x00"
    with pytest.raises(DecodeError, match="no FF D8"):
        fuji.split_frame(bytes(30))


def test_stream_frame_limits() -> None:
    decoder = fuji.StreamDecoder(max_frame_bytes=100)
    decoder.receive_data(struct.pack("<I", 105))
    with pytest.raises(DecodeError, match="not 4 to 104"):
        decoder.next_frame()
    decoder = fuji.StreamDecoder()
    decoder.receive_data(struct.pack("<I", 3))
    with pytest.raises(DecodeError):
        decoder.next_frame()
