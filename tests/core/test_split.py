"""Byte-split invariance: an initiator and a responder joined in memory (ptpkit.testing) see the
same events whether bytes arrive whole, one at a time, or cut at random points, over both
framings and in both directions.

Expected events are written out by hand for the whole delivery; every other splitter must give
exactly the same list once adjacent Data chunks are joined (``coalesce``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptpkit.core.connection import ConnectionEvent, OutgoingEvent
from ptpkit.core.events import (
    Data,
    DataEnd,
    DataPhase,
    DataStart,
    Event,
    Request,
    Response,
)
from ptpkit.core.ptpip import InitCommandAck, InitCommandRequest, PtpIpFraming
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import UsbFraming
from ptpkit.errors import RemoteProtocolError
from ptpkit.testing import (
    INITIATOR_GUID,
    RESPONDER_GUID,
    ConnectionPair,
    FixedSplitter,
    RandomSplitter,
    Splitter,
    coalesce,
    one_byte_at_a_time,
    whole,
)

I, R = Role.INITIATOR, Role.RESPONDER  # noqa: E741 (the letters of state.py's table)
FramingType = type[UsbFraming] | type[PtpIpFraming]
FRAMINGS: list[FramingType] = [UsbFraming, PtpIpFraming]


def splitters() -> list[Splitter]:
    """Fresh splitters (a RandomSplitter's state advances as it cuts)."""
    return [
        whole,
        one_byte_at_a_time,
        FixedSplitter(3),
        FixedSplitter(13),
        RandomSplitter(1),
        RandomSplitter(2),
        RandomSplitter(3, max_cuts=1000),
    ]


SPLITTER_IDS = ["whole", "bytes", "fixed3", "fixed13", "random1", "random2", "random3"]


@dataclass(frozen=True)
class Step:
    sender: Role
    events: tuple[OutgoingEvent, ...]


def run(
    framing: FramingType, splitter: Splitter, steps: Sequence[Step]
) -> tuple[list[list[ConnectionEvent]], ConnectionPair]:
    pair = ConnectionPair(framing, splitter=splitter)
    received = [coalesce(pair.send(step.sender, *step.events)) for step in steps]
    return received, pair


def data_in(tid: int, code: int, payload: bytes, chunk_bytes: int) -> list[Step]:
    chunks = [payload[i : i + chunk_bytes] for i in range(0, len(payload), chunk_bytes)]
    return [
        Step(I, (Request(code=code, transaction_id=tid, params=(1,)),)),
        Step(
            R,
            (
                DataStart(transaction_id=tid, total_bytes=len(payload)),
                *(Data(transaction_id=tid, chunk=c) for c in chunks),
                Response(code=0x2001, transaction_id=tid),
            ),
        ),
    ]


def data_out(tid: int, code: int, payload: bytes, chunk_bytes: int) -> list[Step]:
    chunks = [payload[i : i + chunk_bytes] for i in range(0, len(payload), chunk_bytes)]
    return [
        Step(I, (Request(code=code, transaction_id=tid, data_phase=DataPhase.OUT),)),
        Step(
            I,
            (
                DataStart(transaction_id=tid, total_bytes=len(payload)),
                *(Data(transaction_id=tid, chunk=c) for c in chunks),
            ),
        ),
        Step(R, (Response(code=0x2001, transaction_id=tid),)),
    ]


def expected_data_in(
    framing: FramingType, tid: int, code: int, payload: bytes
) -> list[list[ConnectionEvent]]:
    # USB data containers repeat the operation code; PTP/IP's StartData does not carry it.
    usb_code = code if framing is UsbFraming else 0
    data: list[ConnectionEvent] = [Data(transaction_id=tid, chunk=payload)] if payload else []
    return [
        [Request(code=code, transaction_id=tid, params=(1,))],
        [
            DataStart(transaction_id=tid, total_bytes=len(payload), code=usb_code),
            *data,
            DataEnd(transaction_id=tid),
            Response(code=0x2001, transaction_id=tid),
        ],
    ]


def expected_data_out(
    framing: FramingType, tid: int, code: int, payload: bytes
) -> list[list[ConnectionEvent]]:
    usb_code = code if framing is UsbFraming else 0
    # Over USB the data phase's direction is known from the operation, not the wire.
    phase = DataPhase.OUT if framing is PtpIpFraming else DataPhase.NONE_OR_IN
    data: list[ConnectionEvent] = [Data(transaction_id=tid, chunk=payload)] if payload else []
    return [
        [Request(code=code, transaction_id=tid, data_phase=phase)],
        [
            DataStart(transaction_id=tid, total_bytes=len(payload), code=usb_code),
            *data,
            DataEnd(transaction_id=tid),
        ],
        [Response(code=0x2001, transaction_id=tid)],
    ]


SMALL = bytes(range(256)) * 3 + b"tail"  # 772 bytes: not a multiple of anything


@pytest.mark.parametrize("framing", FRAMINGS, ids=["usb", "ptpip"])
@pytest.mark.parametrize("splitter", splitters(), ids=SPLITTER_IDS)
class TestTransactions:
    def test_no_data(self, framing: FramingType, splitter: Splitter) -> None:
        received, pair = run(
            framing,
            splitter,
            [
                Step(I, (Request(code=0x1002, transaction_id=0, params=(1,)),)),
                Step(R, (Response(code=0x2001, transaction_id=0),)),
                Step(I, (Request(code=0x1003, transaction_id=1),)),
                Step(R, (Response(code=0x2019, transaction_id=1, params=(1, 2, 3, 4, 5)),)),
            ],
        )
        assert received == [
            [Request(code=0x1002, transaction_id=0, params=(1,))],
            [Response(code=0x2001, transaction_id=0)],
            [Request(code=0x1003, transaction_id=1)],
            [Response(code=0x2019, transaction_id=1, params=(1, 2, 3, 4, 5))],
        ]
        assert pair.initiator.phase is pair.responder.phase is Phase.IDLE
        assert pair.initiator.session_id == pair.responder.session_id == 1

    def test_data_in(self, framing: FramingType, splitter: Splitter) -> None:
        received, pair = run(framing, splitter, data_in(7, 0x1009, SMALL, 100))
        assert received == expected_data_in(framing, 7, 0x1009, SMALL)
        assert pair.initiator.phase is Phase.IDLE

    def test_data_in_one_chunk(self, framing: FramingType, splitter: Splitter) -> None:
        # PTP/IP: StartData then a single EndData carrying everything (what libgphoto2 accepts
        # from the capture's responder).
        received, _ = run(framing, splitter, data_in(7, 0x1009, SMALL, len(SMALL)))
        assert received == expected_data_in(framing, 7, 0x1009, SMALL)

    def test_data_out(self, framing: FramingType, splitter: Splitter) -> None:
        received, pair = run(framing, splitter, data_out(8, 0x100D, SMALL, 333))
        assert received == expected_data_out(framing, 8, 0x100D, SMALL)
        assert pair.responder.phase is Phase.IDLE

    def test_zero_length_data_in(self, framing: FramingType, splitter: Splitter) -> None:
        received, _ = run(framing, splitter, data_in(9, 0x1009, b"", 1))
        assert received == expected_data_in(framing, 9, 0x1009, b"")

    def test_zero_length_data_out(self, framing: FramingType, splitter: Splitter) -> None:
        received, _ = run(framing, splitter, data_out(9, 0x100D, b"", 1))
        assert received == expected_data_out(framing, 9, 0x100D, b"")

    def test_events_between_transactions(self, framing: FramingType, splitter: Splitter) -> None:
        pair = ConnectionPair(framing, splitter=splitter)
        pair.send(I, Request(code=0x100E, transaction_id=5, params=(0, 0)))
        events = [
            Event(code=0x4002, transaction_id=5, params=(10,)),
            Event(code=0x400D, transaction_id=5),
        ]
        # On the event channel (USB interrupt pipe / PTP/IP event connection)...
        assert pair.send_event(*events) == events
        # ... and on the command channel, where the state table also allows them.
        assert coalesce(pair.send(R, *events, Response(code=0x2001, transaction_id=5))) == [
            *events,
            Response(code=0x2001, transaction_id=5),
        ]


@pytest.mark.parametrize("splitter", splitters(), ids=SPLITTER_IDS)
def test_usb_data_header_of_unknown_length(splitter: Splitter) -> None:
    # A data phase of 4 GiB or more carries length 0xFFFFFFFF; its end is the end of the USB
    # transfer (only the last piece is fed with transfer_ended=True).
    pair = ConnectionPair(UsbFraming, splitter=splitter)
    pair.send(I, Request(code=0x1009, transaction_id=3, params=(1,)))
    header = bytes.fromhex("ffffffff 0200 0910 03000000")
    events = pair.deliver(I, header + SMALL, transfer_ended=True)
    assert coalesce(events) == [
        DataStart(transaction_id=3, total_bytes=None, code=0x1009),
        Data(transaction_id=3, chunk=SMALL),
        DataEnd(transaction_id=3),
    ]
    assert pair.initiator.data_bytes_left is None
    response = bytes.fromhex("0c000000 0300 0120 03000000")
    assert pair.deliver(I, response, transfer_ended=True) == [
        Response(code=0x2001, transaction_id=3)
    ]
    assert pair.initiator.phase is Phase.IDLE


@pytest.mark.parametrize("splitter", splitters(), ids=SPLITTER_IDS)
def test_usb_data_of_unknown_length_ended_by_a_zero_length_packet(splitter: Splitter) -> None:
    # 512 bytes of data is a whole number of full-speed packets: the device ends the transfer
    # with a zero-length packet, which the transport reports as an empty read that ended it.
    pair = ConnectionPair(UsbFraming, splitter=splitter)
    pair.send(I, Request(code=0x1009, transaction_id=3, params=(1,)))
    payload = bytes(range(256)) * 2
    events = pair.deliver(I, bytes.fromhex("ffffffff 0200 0910 03000000") + payload)
    events += pair.deliver(I, b"", transfer_ended=True)
    assert coalesce(events) == [
        DataStart(transaction_id=3, total_bytes=None, code=0x1009),
        Data(transaction_id=3, chunk=payload),
        DataEnd(transaction_id=3),
    ]


@pytest.mark.parametrize("framing", FRAMINGS, ids=["usb", "ptpip"])
@pytest.mark.parametrize(
    "splitter",
    [whole, FixedSplitter(4093), RandomSplitter(11, max_cuts=3000)],
    ids=["whole", "fixed4093", "random"],
)
def test_multi_megabyte_data_phases(framing: FramingType, splitter: Splitter) -> None:
    # 3 MiB + 5 bytes, sent in 1 MiB chunks (a transport's read size). Byte-at-a-time would
    # take minutes here; the small-payload tests above cover it.
    payload = os.urandom(3 * 1024 * 1024 + 5)
    received, _ = run(framing, splitter, data_in(20, 0x1009, payload, 1 << 20))
    assert received == expected_data_in(framing, 20, 0x1009, payload)
    received, _ = run(framing, splitter, data_out(21, 0x100D, payload, 1 << 20))
    assert received == expected_data_out(framing, 21, 0x100D, payload)


@pytest.mark.parametrize("splitter", splitters(), ids=SPLITTER_IDS)
def test_ptpip_handshake(splitter: Splitter) -> None:
    pair = ConnectionPair(PtpIpFraming, splitter=splitter, handshake=False)
    assert pair.initiator.phase is pair.responder.phase is Phase.CONNECTING
    assert pair.handshake(initiator_name="ptpkit-test", responder_name="virtual") == [
        InitCommandRequest(guid=INITIATOR_GUID, friendly_name="ptpkit-test"),
        InitCommandAck(connection_number=1, guid=RESPONDER_GUID, friendly_name="virtual"),
    ]
    assert pair.initiator.phase is pair.responder.phase is Phase.IDLE
    host, device = pair.event_channel
    assert host.phase is device.phase is Phase.EVENT_CHANNEL
    assert device.framing.connection_number == 1


@pytest.mark.parametrize("splitter", splitters(), ids=SPLITTER_IDS)
def test_ptpip_zero_length_data_out_like_libgphoto2(splitter: Splitter) -> None:
    # libgphoto2 (upempty.pcapng) sends StartData(total 0) and no EndData; the responder must
    # still see the phase end, exactly once, and the next packet must decode normally.
    pair = ConnectionPair(PtpIpFraming, splitter=splitter)
    pair.send(I, Request(code=0x100D, transaction_id=12, data_phase=DataPhase.OUT))
    start_data = bytes.fromhex("14000000 09000000 0c000000 0000000000000000")
    assert pair.deliver(R, start_data) == [
        DataStart(transaction_id=12, total_bytes=0),
        DataEnd(transaction_id=12),
    ]
    assert pair.responder.phase is Phase.DATA_DONE
    assert pair.send(R, Response(code=0x2001, transaction_id=12)) == [
        Response(code=0x2001, transaction_id=12)
    ]
    assert pair.send(I, Request(code=0x1003, transaction_id=13)) == [
        Request(code=0x1003, transaction_id=13)
    ]


@pytest.mark.parametrize("splitter", splitters(), ids=SPLITTER_IDS)
def test_ptpip_zero_length_data_out_like_cipa(splitter: Splitter) -> None:
    # A CIPA sender adds an empty EndData (what our own initiator sends): one DataEnd still.
    pair = ConnectionPair(PtpIpFraming, splitter=splitter)
    pair.send(I, Request(code=0x100D, transaction_id=12, data_phase=DataPhase.OUT))
    sent = pair.initiator.send(DataStart(transaction_id=12, total_bytes=0))
    assert b"".join(sent) == bytes.fromhex(
        "14000000 09000000 0c000000 0000000000000000 0c000000 0c000000 0c000000"
    )
    assert pair.deliver(R, b"".join(sent)) == [
        DataStart(transaction_id=12, total_bytes=0),
        DataEnd(transaction_id=12),
    ]
    assert pair.send(R, Response(code=0x2001, transaction_id=12)) == [
        Response(code=0x2001, transaction_id=12)
    ]


# -- random transactions, random cuts -------------------------------------------------------------


@st.composite
def scenarios(draw: st.DrawFn) -> list[Step]:
    """A few transactions: no data, data in or data out, with random payloads and chunking."""
    steps: list[Step] = []
    for tid in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["none", "in", "out"]))
        payload = draw(st.binary(max_size=300))
        chunk_bytes = draw(st.integers(1, 301))
        if kind == "none":
            steps += [
                Step(I, (Request(code=0x1001, transaction_id=tid),)),
                Step(R, (Response(code=0x2001, transaction_id=tid, params=(tid,)),)),
            ]
        elif kind == "in":
            steps += data_in(tid, 0x1009, payload, chunk_bytes)
        else:
            steps += data_out(tid, 0x100D, payload, chunk_bytes)
    return steps


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.integers(0, 2**32), st.sampled_from(FRAMINGS))
def test_random_transactions_split_anywhere(
    steps: list[Step], seed: int, framing: FramingType
) -> None:
    reference, _ = run(framing, whole, steps)
    for splitter in (RandomSplitter(seed, max_cuts=400), one_byte_at_a_time, FixedSplitter(7)):
        received, pair = run(framing, splitter, steps)
        assert received == reference, splitter
        assert pair.initiator.phase is pair.responder.phase is Phase.IDLE


# -- hostile streams: the verdict does not depend on the cuts ------------------------------------


def ptpip_verdict(
    stream: bytes, splitter: Splitter
) -> tuple[list[ConnectionEvent], type[Exception] | None]:
    """Feed a responder's byte stream to an initiator that asked for transaction 1."""
    pair = ConnectionPair(PtpIpFraming, splitter=splitter)
    pair.send(I, Request(code=0x1009, transaction_id=1, params=(1,)))
    try:
        pair.deliver(I, stream)
    except RemoteProtocolError as exc:
        return coalesce(pair.received[I]), type(exc)
    return coalesce(pair.received[I]), None


def _packet(ptype: int, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "little") + ptype.to_bytes(4, "little") + payload


hostile_packets = st.one_of(
    # StartData with a total that may or may not match what follows.
    st.builds(
        lambda tid, total: _packet(9, tid.to_bytes(4, "little") + total.to_bytes(8, "little")),
        st.integers(0, 2),
        st.sampled_from([0, 1, 3, 8, 0xFFFFFFFFFFFFFFFF]),
    ),
    # Data / EndData of some bytes.
    st.builds(
        lambda ptype, tid, payload: _packet(ptype, tid.to_bytes(4, "little") + payload),
        st.sampled_from([10, 12]),
        st.integers(0, 2),
        st.binary(max_size=9),
    ),
    # Responses, events, probes, cancel.
    st.builds(
        lambda tid, code: _packet(7, code.to_bytes(2, "little") + tid.to_bytes(4, "little")),
        st.integers(0, 2),
        st.sampled_from([0x2001, 0x201F]),
    ),
    st.just(_packet(8, bytes.fromhex("0240 ffffffff 0a000000"))),
    st.just(_packet(13, b"")),
    st.builds(lambda tid: _packet(11, tid.to_bytes(4, "little")), st.integers(0, 2)),
    # Junk.
    st.binary(min_size=1, max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(hostile_packets, max_size=6).map(b"".join), st.integers(0, 2**32))
def test_ptpip_hostile_streams_get_the_same_verdict_under_any_split(
    stream: bytes, seed: int
) -> None:
    events, error = ptpip_verdict(stream, whole)
    for splitter in (one_byte_at_a_time, RandomSplitter(seed)):
        split_events, split_error = ptpip_verdict(stream, splitter)
        assert split_error is error, splitter
        if error is None:
            assert split_events == events, splitter
        elif any(isinstance(e, DataEnd) for e in split_events):
            # A data phase that looked complete under one split must under all: a truncated or
            # overlong download never ends cleanly just because of where the bytes were cut.
            assert any(isinstance(e, DataEnd) for e in events), splitter
