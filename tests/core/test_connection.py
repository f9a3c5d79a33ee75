"""The state table and the connection's checks: who may send what when, transaction ids, data
phase lengths, sessions, cancel, broken connections, the PTP/IP handshake.

The legal transitions are written out below from the phase diagram in ptpkit.core.state's
docstring (ISO 15740 §9/§10 transactions, CIPA DC-X005 §2.3 handshake) and checked three ways:
against the table, against what ``Connection.send`` accepts (illegal -> LocalProtocolError), and
against what ``Connection.next_event`` accepts from the peer (illegal -> RemoteProtocolError).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ptpkit.core.connection import Connection, ConnectionEvent, OutgoingEvent
from ptpkit.core.events import (
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
    InitCommandAck,
    InitCommandRequest,
    InitEventAck,
    InitEventRequest,
    InitFail,
    ProbeRequest,
    ProbeResponse,
    PtpIpFraming,
    PtpIpPhase,
    probe_response_for,
)
from ptpkit.core.state import AnyPhase, Phase, Role, StateTable, next_phase
from ptpkit.core.usb import UsbFraming
from ptpkit.errors import ClosedError, LocalProtocolError, RemoteProtocolError
from ptpkit.testing import ConnectionPair, drain

I, R = Role.INITIATOR, Role.RESPONDER  # noqa: E741 (the letters of state.py's table)
P = Phase
TID = 1

TRANSACTION_PHASES = (P.REQUESTED, P.INITIATOR_DATA, P.RESPONDER_DATA, P.DATA_DONE)
OPEN_PHASES = (P.IDLE, P.EVENT_CHANNEL, P.CANCELLING, *TRANSACTION_PHASES)

PP = PtpIpPhase
PTPIP_HANDSHAKE: dict[tuple[AnyPhase, Role, type], AnyPhase] = {
    # PTP/IP handshake (CIPA DC-X005 §2.3.1-2.3.5): PtpIpFraming's own rows.
    (P.CONNECTING, I, InitCommandRequest): PP.AWAITING_COMMAND_ACK,
    (PP.AWAITING_COMMAND_ACK, R, InitCommandAck): P.IDLE,
    (PP.AWAITING_COMMAND_ACK, R, InitFail): P.CLOSED,
    (P.CONNECTING, I, InitEventRequest): PP.AWAITING_EVENT_ACK,
    (PP.AWAITING_EVENT_ACK, R, InitEventAck): P.EVENT_CHANNEL,
    (PP.AWAITING_EVENT_ACK, R, InitFail): P.CLOSED,
}
GENERIC: dict[tuple[AnyPhase, Role, type], AnyPhase] = {
    # Transactions: request, optional data phase in either direction, response.
    (P.IDLE, I, Request): P.REQUESTED,
    (P.REQUESTED, R, Response): P.IDLE,
    (P.REQUESTED, I, DataStart): P.INITIATOR_DATA,
    (P.REQUESTED, R, DataStart): P.RESPONDER_DATA,
    (P.INITIATOR_DATA, I, Data): P.INITIATOR_DATA,
    (P.INITIATOR_DATA, I, DataEnd): P.DATA_DONE,
    (P.INITIATOR_DATA, R, Response): P.IDLE,  # refusing an upload before it ends
    (P.RESPONDER_DATA, R, Data): P.RESPONDER_DATA,
    (P.RESPONDER_DATA, R, DataEnd): P.DATA_DONE,
    (P.DATA_DONE, R, Response): P.IDLE,
    # Cancel, from either end, during a transaction; in-flight data; the answer ends it.
    **{(phase, role, Cancel): P.CANCELLING for phase in TRANSACTION_PHASES for role in (I, R)},
    **{
        (P.CANCELLING, role, kind): P.CANCELLING
        for role in (I, R)
        for kind in (Cancel, DataStart, Data, DataEnd)
    },
    (P.CANCELLING, R, Response): P.IDLE,
    # A cancel crossing the response on the wire names a finished transaction.
    (P.IDLE, I, Cancel): P.IDLE,
    (P.IDLE, R, Cancel): P.IDLE,
    # A PTP/IP Cancel may travel on the event connection.
    (P.EVENT_CHANNEL, I, Cancel): P.EVENT_CHANNEL,
    (P.EVENT_CHANNEL, R, Cancel): P.EVENT_CHANNEL,
    # Events (from the responder) in every open phase, changing nothing.
    **{(phase, R, Event): phase for phase in OPEN_PHASES},
}
LEGAL: dict[tuple[AnyPhase, Role, type], AnyPhase] = {
    **GENERIC,
    **PTPIP_HANDSHAKE,
    # PTP/IP probes (either end) in every open phase, changing nothing.
    **{
        (phase, role, kind): phase
        for phase in OPEN_PHASES
        for role in (I, R)
        for kind in (ProbeRequest, ProbeResponse)
    },
}
ALL_PHASES: list[AnyPhase] = [*Phase, *PtpIpPhase]

EVENT_TYPES: list[type] = [
    Request,
    DataStart,
    Data,
    DataEnd,
    Response,
    Event,
    Cancel,
    InitCommandRequest,
    InitCommandAck,
    InitEventRequest,
    InitEventAck,
    InitFail,
    ProbeRequest,
    ProbeResponse,
]


def test_state_table_is_the_documented_one() -> None:
    table = StateTable(PtpIpFraming.transitions, PtpIpFraming.anytime)
    for phase in ALL_PHASES:
        for role in Role:
            for kind in EVENT_TYPES:
                assert table.next_phase(phase, role, kind) == LEGAL.get((phase, role, kind)), (
                    phase,
                    role,
                    kind.__name__,
                )


def test_the_generic_table_knows_no_link_packets() -> None:
    # The PTP/IP handshake and probes live with PtpIpFraming, not in the generic table (USB's).
    for table in (StateTable(), StateTable(UsbFraming.transitions, UsbFraming.anytime)):
        for phase in ALL_PHASES:
            for role in Role:
                for kind in EVENT_TYPES:
                    expected = GENERIC.get((phase, role, kind))
                    assert table.next_phase(phase, role, kind) == expected
                    assert next_phase(phase, role, kind) == expected


def test_a_framing_cannot_redefine_a_generic_row() -> None:
    with pytest.raises(ValueError, match="redefine"):
        StateTable({(P.IDLE, I, Request): P.IDLE})
    with pytest.raises(ValueError, match="redefine"):
        StateTable(anytime={Event: (I, R)})


# -- the table, enforced by Connection ------------------------------------------------------------

PAYLOAD_TOTAL = 4


def sample(kind: type) -> OutgoingEvent:
    """An event of ``kind`` for transaction TID (so that only the phase decides)."""
    samples: dict[type, OutgoingEvent] = {
        Request: Request(code=0x1009, transaction_id=TID, params=(5,)),
        DataStart: DataStart(transaction_id=TID, total_bytes=PAYLOAD_TOTAL),
        Data: Data(transaction_id=TID, chunk=b"ab"),
        Response: Response(code=0x2001, transaction_id=TID),
        Event: Event(code=0x4002, params=(9,)),
        Cancel: Cancel(transaction_id=TID),
        InitCommandRequest: InitCommandRequest(guid=bytes(16), friendly_name="host"),
        InitCommandAck: InitCommandAck(connection_number=7, guid=bytes(16), friendly_name="cam"),
        InitEventRequest: InitEventRequest(connection_number=7),
        InitEventAck: InitEventAck(),
        InitFail: InitFail(reason=2),
        ProbeRequest: ProbeRequest(),
        ProbeResponse: ProbeResponse(),
    }
    return samples[kind]


def wire_bytes(kind: type) -> bytes:
    """What a peer puts on the wire for an event of ``kind`` (PTP/IP)."""
    if kind is DataEnd:
        # The end of a data phase comes with its last bytes: EndData carrying the whole total.
        return bytes.fromhex("10000000 0c000000 01000000 01020304")
    return b"".join(PtpIpFraming().encode(sample(kind)))


Recipe = list[tuple[Role, OutgoingEvent]]
HANDSHAKE: Recipe = [
    (I, InitCommandRequest(guid=bytes(16), friendly_name="host")),
    (R, InitCommandAck(connection_number=7, guid=bytes(16), friendly_name="cam")),
]
REQUEST: Recipe = [*HANDSHAKE, (I, Request(code=0x1009, transaction_id=TID, params=(5,)))]

RECIPES: dict[AnyPhase, Recipe] = {
    P.CONNECTING: [],
    PP.AWAITING_COMMAND_ACK: HANDSHAKE[:1],
    PP.AWAITING_EVENT_ACK: [(I, InitEventRequest(connection_number=7))],
    P.EVENT_CHANNEL: [(I, InitEventRequest(connection_number=7)), (R, InitEventAck())],
    P.IDLE: HANDSHAKE,
    P.REQUESTED: REQUEST,
    P.INITIATOR_DATA: [*REQUEST, (I, DataStart(transaction_id=TID, total_bytes=PAYLOAD_TOTAL))],
    P.RESPONDER_DATA: [*REQUEST, (R, DataStart(transaction_id=TID, total_bytes=PAYLOAD_TOTAL))],
    P.DATA_DONE: [
        *REQUEST,
        (R, DataStart(transaction_id=TID, total_bytes=PAYLOAD_TOTAL)),
        (R, Data(transaction_id=TID, chunk=b"wxyz")),
    ],
    P.CANCELLING: [*REQUEST, (I, Cancel(transaction_id=TID))],
    P.CLOSED: [*HANDSHAKE[:1], (R, InitFail(reason=1))],
}


def pair_in(phase: AnyPhase) -> ConnectionPair:
    pair = ConnectionPair(PtpIpFraming, handshake=False)
    for sender, event in RECIPES[phase]:
        pair.send(sender, event)
    assert pair.initiator.phase is phase
    assert pair.responder.phase is phase
    return pair


@pytest.mark.parametrize("phase", list(RECIPES), ids=[p.name for p in RECIPES])
def test_sending_follows_the_table(phase: AnyPhase) -> None:
    for sender in Role:
        for kind in EVENT_TYPES:
            if kind is DataEnd:
                continue  # never sent: a data phase ends by its byte count
            conn = pair_in(phase).conn(sender)
            expected = LEGAL.get((phase, sender, kind))
            what = (phase, sender, kind.__name__)
            if phase is P.CLOSED:
                with pytest.raises(ClosedError):
                    conn.send(sample(kind))
            elif expected is None:
                with pytest.raises(LocalProtocolError):
                    conn.send(sample(kind))
                assert conn.phase is phase, what  # a refused send changes nothing
            else:
                conn.send(sample(kind))
                assert conn.phase is expected, what


@pytest.mark.parametrize("phase", list(RECIPES), ids=[p.name for p in RECIPES])
def test_receiving_follows_the_table(phase: AnyPhase) -> None:
    for sender in Role:
        for kind in EVENT_TYPES:
            pair = pair_in(phase)
            receiver = pair.peer(sender)
            expected = LEGAL.get((phase, sender, kind))
            what = (phase, sender, kind.__name__)
            receiver.receive_data(wire_bytes(kind))
            if expected is None:
                with pytest.raises(RemoteProtocolError):
                    drain(receiver)
                assert receiver.phase is P.BROKEN, what
            else:
                events = drain(receiver)
                assert isinstance(events[-1], kind), what
                assert receiver.phase is expected, what


# -- transaction ids -----------------------------------------------------------------------------


def usb_pair_with_request(tid: int = 5) -> ConnectionPair:
    pair = ConnectionPair(UsbFraming)
    pair.send(I, Request(code=0x1009, transaction_id=tid, params=(1,)))
    return pair


WRONG_TID_USB = {
    "response": "0c000000 0300 0120 06000000",
    "data container": "10000000 0200 0910 06000000 01020304",
}
WRONG_TID_PTPIP = {
    "response": "0e000000 07000000 0120 06000000",
    "start data": "14000000 09000000 06000000 0400000000000000",
    "data after a good start": "14000000 09000000 05000000 0400000000000000"
    " 10000000 0a000000 06000000 01020304",
    "end data after a good start": "14000000 09000000 05000000 0400000000000000"
    " 10000000 0c000000 06000000 01020304",
    "empty end data after good data": "14000000 09000000 05000000 0400000000000000"
    " 10000000 0a000000 05000000 01020304 0c000000 0c000000 06000000",
}


@pytest.mark.parametrize("case", sorted(WRONG_TID_USB))
def test_wrong_transaction_id_usb(case: str) -> None:
    pair = usb_pair_with_request(5)
    pair.initiator.receive_data(bytes.fromhex(WRONG_TID_USB[case]), transfer_ended=True)
    with pytest.raises(RemoteProtocolError, match="transaction"):
        drain(pair.initiator)
    assert pair.initiator.phase is P.BROKEN


@pytest.mark.parametrize("case", sorted(WRONG_TID_PTPIP))
def test_wrong_transaction_id_ptpip(case: str) -> None:
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x1009, transaction_id=5, params=(1,)))
    pair.initiator.receive_data(bytes.fromhex(WRONG_TID_PTPIP[case]))
    with pytest.raises(RemoteProtocolError, match="transaction"):
        drain(pair.initiator)
    assert pair.initiator.phase is P.BROKEN


def test_wrong_transaction_id_from_the_initiator_is_refused_by_the_responder() -> None:
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x100D, transaction_id=5, data_phase=DataPhase.OUT))
    pair.responder.receive_data(bytes.fromhex("14000000 09000000 04000000 0400000000000000"))
    with pytest.raises(RemoteProtocolError):
        drain(pair.responder)


@pytest.mark.parametrize("framing", [UsbFraming, PtpIpFraming])
def test_sending_with_the_wrong_transaction_id_is_a_local_error(
    framing: type[UsbFraming] | type[PtpIpFraming],
) -> None:
    pair = ConnectionPair(framing)
    pair.send(I, Request(code=0x1009, transaction_id=5, params=(1,)))
    responder = pair.responder
    with pytest.raises(LocalProtocolError):
        responder.send(Response(code=0x2001, transaction_id=6))
    with pytest.raises(LocalProtocolError):
        responder.send(DataStart(transaction_id=6, total_bytes=4))
    assert responder.phase is P.REQUESTED
    pair.send(R, DataStart(transaction_id=5, total_bytes=4))
    with pytest.raises(LocalProtocolError):
        responder.send(Data(transaction_id=6, chunk=b"abcd"))
    assert responder.data_bytes_left == 4
    # The refused sends changed nothing: the transaction finishes normally.
    events = pair.send(
        R, Data(transaction_id=5, chunk=b"abcd"), Response(code=0x2001, transaction_id=5)
    )
    assert events[-2:] == [DataEnd(transaction_id=5), Response(code=0x2001, transaction_id=5)]


# -- data phase lengths --------------------------------------------------------------------------


def test_ptpip_data_phase_shorter_than_announced_is_refused() -> None:
    # StartData(10), then EndData after 5 bytes: never a complete download.
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x1009, transaction_id=5, params=(1,)))
    pair.initiator.receive_data(
        bytes.fromhex("14000000 09000000 05000000 0a00000000000000 11000000 0c000000 05000000")
        + b"12345"
    )
    with pytest.raises(RemoteProtocolError, match="5 of 10"):
        drain(pair.initiator)
    assert pair.initiator.phase is P.BROKEN


def test_ptpip_data_phase_longer_than_announced_is_refused() -> None:
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x1009, transaction_id=5, params=(1,)))
    pair.initiator.receive_data(
        bytes.fromhex("14000000 09000000 05000000 0400000000000000 14000000 0a000000 05000000")
        + b"12345678"
    )
    with pytest.raises(RemoteProtocolError, match="more"):
        drain(pair.initiator)


def test_usb_data_phase_shorter_than_announced_is_refused() -> None:
    pair = usb_pair_with_request(5)
    # A 20-byte container (8 bytes of data) whose transfer ends after 4.
    pair.initiator.receive_data(
        bytes.fromhex("14000000 0200 0910 05000000 01020304"), transfer_ended=True
    )
    with pytest.raises(RemoteProtocolError, match="ended 4 bytes before"):
        drain(pair.initiator)
    assert pair.initiator.phase is P.BROKEN


def test_usb_data_phase_longer_than_announced_is_refused() -> None:
    pair = usb_pair_with_request(5)
    # An 8-byte data phase whose transfer carries 4 bytes more than announced.
    pair.initiator.receive_data(
        bytes.fromhex("14000000 0200 0910 05000000 0102030405060708 0a0b0c0d"), transfer_ended=True
    )
    with pytest.raises(RemoteProtocolError):
        drain(pair.initiator)


def test_responder_refuses_an_upload_shorter_than_announced() -> None:
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x100D, transaction_id=5, data_phase=DataPhase.OUT))
    pair.responder.receive_data(
        bytes.fromhex("14000000 09000000 05000000 0800000000000000 0c000000 0c000000 05000000")
    )
    with pytest.raises(RemoteProtocolError):
        drain(pair.responder)


def test_sending_more_than_announced_is_a_local_error() -> None:
    pair = ConnectionPair(UsbFraming)
    pair.send(I, Request(code=0x100D, transaction_id=5))
    initiator = pair.initiator
    initiator.send(DataStart(transaction_id=5, total_bytes=6))
    assert initiator.data_bytes_left == 6
    initiator.send(Data(transaction_id=5, chunk=b"abcd"))
    assert initiator.data_bytes_left == 2
    with pytest.raises(LocalProtocolError, match="exceed"):
        initiator.send(Data(transaction_id=5, chunk=b"xyz"))
    # Nothing was counted: the right amount still completes the phase.
    assert initiator.data_bytes_left == 2
    initiator.send(Data(transaction_id=5, chunk=b"ef"))
    assert initiator.phase is P.DATA_DONE
    with pytest.raises(LocalProtocolError):
        initiator.send(Data(transaction_id=5, chunk=b"g"))


def test_data_phase_must_be_sent_with_its_size() -> None:
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x100D, transaction_id=5))
    with pytest.raises(LocalProtocolError):
        pair.initiator.send(DataStart(transaction_id=5, total_bytes=None))
    assert pair.initiator.phase is P.REQUESTED


def test_a_refused_encoding_leaves_the_connection_as_it_was() -> None:
    # Six parameters cannot be encoded; the request must not count as sent.
    conn = Connection(I, UsbFraming())
    with pytest.raises(LocalProtocolError):
        conn.send(Request(code=0x1001, transaction_id=0, params=(1, 2, 3, 4, 5, 6)))
    assert conn.phase is P.IDLE
    assert conn.request is None
    with pytest.raises(LocalProtocolError):
        conn.send(Request(code=0x1001, transaction_id=0, params=(1 << 32,)))
    assert conn.phase is P.IDLE
    with pytest.raises(LocalProtocolError):
        conn.send(Request(code=0x10001, transaction_id=0))
    assert conn.phase is P.IDLE
    conn.send(Request(code=0x1001, transaction_id=0))
    assert conn.phase is P.REQUESTED


def test_responder_may_refuse_an_upload_before_it_ends() -> None:
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x100D, transaction_id=5, data_phase=DataPhase.OUT))
    pair.send(
        I, DataStart(transaction_id=5, total_bytes=100), Data(transaction_id=5, chunk=b"x" * 10)
    )
    assert pair.send(R, Response(code=0x200C, transaction_id=5)) == [
        Response(code=0x200C, transaction_id=5)  # StoreFull
    ]
    assert pair.initiator.phase is pair.responder.phase is P.IDLE
    with pytest.raises(LocalProtocolError):
        pair.initiator.send(Data(transaction_id=5, chunk=b"y"))


def test_data_start_takes_the_operation_code_over_usb() -> None:
    pair = ConnectionPair(UsbFraming)
    pair.send(I, Request(code=0x1009, transaction_id=5, params=(1,)))
    assert pair.responder.send(DataStart(transaction_id=5, total_bytes=0)) == [
        bytes.fromhex("0c000000 0200 0910 05000000")
    ]


# -- sessions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", [UsbFraming, PtpIpFraming])
def test_session_tracking(framing: type[UsbFraming] | type[PtpIpFraming]) -> None:
    pair = ConnectionPair(framing)
    initiator, responder = pair.initiator, pair.responder
    assert initiator.session_id is None
    # Outside a session every request has transaction id 0 (GetDeviceInfo), and so has
    # OpenSession itself (ISO 15740 §9.3.1).
    assert initiator.next_transaction_id(0x1001) == 0
    assert initiator.next_transaction_id(0x1001) == 0
    tid = initiator.next_transaction_id(0x1002)
    assert tid == 0
    pair.send(I, Request(code=0x1002, transaction_id=tid, params=(0x42,)))
    assert initiator.session_id is None  # not before the OK
    pair.send(R, Response(code=0x2001, transaction_id=tid))
    assert initiator.session_id == responder.session_id == 0x42
    assert [initiator.next_transaction_id(0x1001) for _ in range(3)] == [1, 2, 3]
    pair.send(I, Request(code=0x1003, transaction_id=4))
    pair.send(R, Response(code=0x2001, transaction_id=4))
    assert initiator.session_id is None
    assert responder.session_id is None
    assert initiator.next_transaction_id(0x1001) == 0


def test_failed_open_session_opens_nothing() -> None:
    pair = ConnectionPair(UsbFraming)
    pair.send(I, Request(code=0x1002, transaction_id=0, params=(1,)))
    pair.send(R, Response(code=0x201E, transaction_id=0))  # SessionAlreadyOpen
    assert pair.initiator.session_id is None
    assert pair.initiator.next_transaction_id(0x1001) == 0


def test_reopening_a_session_restarts_transaction_ids() -> None:
    pair = ConnectionPair(UsbFraming)
    pair.send(I, Request(code=0x1002, transaction_id=0, params=(1,)))
    pair.send(R, Response(code=0x2001, transaction_id=0))
    assert pair.initiator.next_transaction_id(0x1001) == 1
    assert pair.initiator.next_transaction_id(0x1001) == 2
    pair.send(I, Request(code=0x1002, transaction_id=0, params=(2,)))
    pair.send(R, Response(code=0x2001, transaction_id=0))
    assert pair.initiator.session_id == 2
    assert pair.initiator.next_transaction_id(0x1001) == 1


def test_transaction_ids_skip_0xffffffff() -> None:
    # 0xFFFFFFFF is reserved (ISO 15740 §9.3.1): after 0xFFFFFFFE comes 1.
    conn = Connection(I, UsbFraming())
    conn.session_id = 1
    conn._next_tid = 0xFFFFFFFD
    assert [conn.next_transaction_id(0x1001) for _ in range(3)] == [0xFFFFFFFD, 0xFFFFFFFE, 1]


def test_reset_forgets_the_session() -> None:
    pair = ConnectionPair(UsbFraming)
    pair.send(I, Request(code=0x1002, transaction_id=0, params=(1,)))
    pair.send(R, Response(code=0x2001, transaction_id=0))
    pair.initiator.reset()
    assert pair.initiator.session_id is None
    assert pair.initiator.phase is P.IDLE


# -- cancel --------------------------------------------------------------------------------------


def test_ptpip_cancel_mid_data_in() -> None:
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x1009, transaction_id=5, params=(1,)))
    pair.send(
        R, DataStart(transaction_id=5, total_bytes=100), Data(transaction_id=5, chunk=b"a" * 40)
    )
    assert pair.initiator.data_bytes_left == 60
    assert pair.send(I, Cancel(transaction_id=5)) == [Cancel(transaction_id=5)]
    assert pair.initiator.phase is pair.responder.phase is P.CANCELLING
    # The responder stops sending data; data already in flight is still accepted.
    assert pair.responder.send(Data(transaction_id=5, chunk=b"b" * 10)) == []
    in_flight = bytes.fromhex("12000000 0a000000 05000000") + b"cccccc"
    assert pair.deliver(I, in_flight) == [Data(transaction_id=5, chunk=b"cccccc")]
    # The responder answers TransactionCancelled, which ends the transaction at both ends.
    assert pair.send(R, Response(code=0x201F, transaction_id=5)) == [
        Response(code=0x201F, transaction_id=5)
    ]
    assert pair.initiator.phase is pair.responder.phase is P.IDLE
    assert pair.initiator.request is None
    # The next transaction works.
    pair.send(I, Request(code=0x1001, transaction_id=6))
    assert pair.send(R, Response(code=0x2001, transaction_id=6)) == [
        Response(code=0x2001, transaction_id=6)
    ]


def test_ptpip_cancel_from_the_responder() -> None:
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x100D, transaction_id=5, data_phase=DataPhase.OUT))
    pair.send(I, DataStart(transaction_id=5, total_bytes=100))
    assert pair.send(R, Cancel(transaction_id=5)) == [Cancel(transaction_id=5)]
    assert pair.initiator.send(Data(transaction_id=5, chunk=b"x")) == []
    pair.send(R, Response(code=0x201F, transaction_id=5))
    assert pair.initiator.phase is pair.responder.phase is P.IDLE


def test_usb_cancel_mid_data_in() -> None:
    pair = ConnectionPair(UsbFraming)
    pair.send(I, Request(code=0x1009, transaction_id=5, params=(1,)))
    pair.send(
        R, DataStart(transaction_id=5, total_bytes=100), Data(transaction_id=5, chunk=b"a" * 40)
    )
    # The Cancel class request (0x64) goes on the control pipe: 01 40 + transaction id.
    assert pair.send(I, Cancel(transaction_id=5)) == []
    assert pair.control_requests == [bytes.fromhex("0140 05000000")]
    assert pair.responder.phase is pair.initiator.phase is P.CANCELLING
    assert pair.responder.send(Data(transaction_id=5, chunk=b"b" * 60)) == []
    # No response over USB: the host polls Get Device Status until OK, then both ends drop the
    # transaction and whatever part of it was buffered.
    pair.finish_cancel()
    assert pair.initiator.phase is pair.responder.phase is P.IDLE
    pair.send(I, Request(code=0x1001, transaction_id=6))
    assert pair.send(R, Response(code=0x2001, transaction_id=6)) == [
        Response(code=0x2001, transaction_id=6)
    ]


def test_cancel_received_ignores_other_transactions() -> None:
    pair = usb_pair_with_request(5)
    pair.responder.cancel_received(4)
    assert pair.responder.phase is P.REQUESTED
    pair.responder.cancel_received(5)
    assert pair.responder.phase is P.CANCELLING
    pair.responder.cancel_received(5)  # a repeated cancel changes nothing
    assert pair.responder.phase is P.CANCELLING
    idle = Connection(R, UsbFraming())
    idle.cancel_received(5)
    assert idle.phase is P.IDLE


def test_finish_cancel_when_idle_keeps_the_session() -> None:
    pair = ConnectionPair(UsbFraming)
    pair.send(I, Request(code=0x1002, transaction_id=0, params=(1,)))
    pair.send(R, Response(code=0x2001, transaction_id=0))
    pair.initiator.finish_cancel()
    assert pair.initiator.phase is P.IDLE
    assert pair.initiator.session_id == 1


def test_a_cancel_crossing_the_response_is_harmless() -> None:
    # The initiator cancels just as the responder answers: the response arrives, then the
    # responder receives a Cancel for a transaction that is over.
    pair = ConnectionPair(PtpIpFraming)
    pair.send(I, Request(code=0x1009, transaction_id=5, params=(1,)))
    response = b"".join(pair.responder.send(Response(code=0x2001, transaction_id=5)))
    cancel = b"".join(pair.initiator.send(Cancel(transaction_id=5)))
    assert pair.deliver(R, cancel) == [Cancel(transaction_id=5)]
    assert pair.responder.phase is P.IDLE
    assert pair.deliver(I, response) == [Response(code=0x2001, transaction_id=5)]
    assert pair.initiator.phase is P.IDLE


# -- broken and closed connections ---------------------------------------------------------------


def broken_connection() -> Connection:
    conn = Connection(I, UsbFraming())
    conn.receive_data(bytes.fromhex("0c000000 0300 0120 01000000"), transfer_ended=True)
    with pytest.raises(RemoteProtocolError, match="out of turn"):
        conn.next_event()  # a response nobody asked for
    return conn


@pytest.mark.parametrize(
    "use",
    [
        lambda c: c.next_event(),
        lambda c: c.receive_data(b"\x00"),
        lambda c: c.send(Request(code=0x1001, transaction_id=0)),
        lambda c: c.send(ProbeRequest()),
    ],
    ids=["next_event", "receive_data", "send", "send-probe"],
)
def test_broken_connection_refuses_further_use(use: Callable[[Connection], object]) -> None:
    conn = broken_connection()
    assert conn.phase is P.BROKEN
    with pytest.raises(LocalProtocolError):
        use(conn)


def test_closed_connection() -> None:
    conn = Connection(I, UsbFraming())
    conn.close()
    with pytest.raises(ClosedError):
        conn.send(Request(code=0x1001, transaction_id=0))


# -- events and probes ---------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [P.IDLE, P.CANCELLING, *TRANSACTION_PHASES], ids=lambda p: p.name)
def test_events_and_probes_in_any_open_phase(phase: Phase) -> None:
    pair = pair_in(phase)
    event = Event(code=0x4006, params=(0x5001,))
    assert pair.send(R, event, ProbeRequest()) == [event, ProbeRequest()]
    assert pair.send(I, ProbeResponse(), ProbeRequest()) == [ProbeResponse(), ProbeRequest()]
    assert pair.send(R, ProbeResponse()) == [ProbeResponse()]
    assert pair.initiator.phase is pair.responder.phase is phase


def test_initiator_cannot_send_events() -> None:
    conn = Connection(I, UsbFraming())
    with pytest.raises(LocalProtocolError):
        conn.send(Event(code=0x4002))


def test_probe_response_for() -> None:
    assert probe_response_for(ProbeRequest()) == ProbeResponse()
    assert probe_response_for(ProbeResponse()) is None
    assert probe_response_for(Event(code=0x4002)) is None


def test_events_on_the_event_channel() -> None:
    for framing in (UsbFraming, PtpIpFraming):
        pair = ConnectionPair(framing)
        events = [Event(code=0x4002, transaction_id=3, params=(10,)), Event(code=0x400D)]
        assert pair.send_event(*events) == events
        host, device = pair.event_channel
        assert host.phase is device.phase is P.EVENT_CHANNEL


# -- PTP/IP handshake ----------------------------------------------------------------------------


def connection_number(conn: Connection) -> int | None:
    # The number is the PTP/IP framing's link state now, not the generic connection's.
    assert isinstance(conn.framing, PtpIpFraming)
    return conn.framing.connection_number


def test_handshake_command_connection() -> None:
    pair = ConnectionPair(PtpIpFraming, handshake=False)
    with pytest.raises(LocalProtocolError):
        pair.initiator.send(Request(code=0x1001, transaction_id=0))  # not before the handshake
    request = InitCommandRequest(guid=bytes(range(16)), friendly_name="host")
    assert pair.send(I, request) == [request]
    assert pair.initiator.phase is pair.responder.phase is PP.AWAITING_COMMAND_ACK
    ack = InitCommandAck(connection_number=3, guid=bytes(16), friendly_name="cam")
    assert pair.send(R, ack) == [ack]
    assert pair.initiator.phase is pair.responder.phase is P.IDLE
    assert connection_number(pair.initiator) == connection_number(pair.responder) == 3


def test_handshake_event_connection() -> None:
    pair = ConnectionPair(PtpIpFraming, handshake=False)
    assert pair.send(I, InitEventRequest(connection_number=3)) == [
        InitEventRequest(connection_number=3)
    ]
    assert connection_number(pair.responder) == 3
    assert pair.initiator.phase is PP.AWAITING_EVENT_ACK
    assert pair.send(R, InitEventAck()) == [InitEventAck()]
    assert pair.initiator.phase is pair.responder.phase is P.EVENT_CHANNEL
    # An event channel carries no transactions.
    with pytest.raises(LocalProtocolError):
        pair.initiator.send(Request(code=0x1001, transaction_id=0))


@pytest.mark.parametrize(
    "request_",
    [
        InitCommandRequest(guid=bytes(16), friendly_name="host"),
        InitEventRequest(connection_number=1),
    ],
    ids=["command", "event"],
)
def test_init_fail_closes(request_: InitCommandRequest | InitEventRequest) -> None:
    pair = ConnectionPair(PtpIpFraming, handshake=False)
    pair.send(I, request_)
    assert pair.send(R, InitFail(reason=1)) == [InitFail(reason=1)]
    assert pair.initiator.phase is pair.responder.phase is P.CLOSED
    with pytest.raises(ClosedError):
        pair.initiator.send(ProbeRequest())
    # Anything the peer sends after InitFail is the peer's error, not a use after close.
    pair.initiator.receive_data(bytes.fromhex("08000000 0d000000"))
    with pytest.raises(RemoteProtocolError):
        pair.initiator.next_event()


def test_handshake_out_of_order_is_refused() -> None:
    responder = Connection(R, PtpIpFraming())
    responder.receive_data(bytes.fromhex("0e000000 07000000 0120 00000000"))
    with pytest.raises(RemoteProtocolError):
        responder.next_event()
    initiator = Connection(I, PtpIpFraming())
    with pytest.raises(LocalProtocolError):
        initiator.send(InitCommandAck(connection_number=1, guid=bytes(16), friendly_name="x"))
    initiator.send(InitCommandRequest(guid=bytes(16), friendly_name="host"))
    with pytest.raises(LocalProtocolError):
        initiator.send(InitCommandRequest(guid=bytes(16), friendly_name="host"))


def received_kinds(events: list[ConnectionEvent]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_usb_connection_needs_no_handshake() -> None:
    pair = ConnectionPair(UsbFraming)
    assert pair.initiator.phase is P.IDLE
    pair.send(I, Request(code=0x1001, transaction_id=0))
    info = b"\x64\x00" + bytes(33)
    events = pair.send(
        R,
        DataStart(transaction_id=0, total_bytes=len(info)),
        Data(transaction_id=0, chunk=info),
        Response(code=0x2001, transaction_id=0),
    )
    assert received_kinds(events) == ["DataStart", "Data", "DataEnd", "Response"]


def test_a_cancel_for_another_transaction_changes_nothing() -> None:
    from ptpkit.core.connection import Connection
    from ptpkit.core.events import Cancel, Request
    from ptpkit.core.ptpip import CancelPacket, PtpIpFraming, push_packet
    from ptpkit.core.state import Phase, Role

    responder = Connection(Role.RESPONDER, PtpIpFraming())
    responder.phase = Phase.IDLE
    initiator = Connection(Role.INITIATOR, PtpIpFraming())
    initiator.phase = Phase.IDLE
    for buffer in initiator.send(Request(code=0x1009, transaction_id=4, params=(1,))):
        responder.receive_data(bytes(buffer))
    assert isinstance(responder.next_event(), Request)
    responder.receive_data(push_packet(CancelPacket(transaction_id=3)))  # an older transaction's
    event = responder.next_event()
    assert isinstance(event, Cancel)
    assert event.transaction_id == 3
    assert responder.phase is Phase.REQUESTED  # still serving transaction 4


def test_a_request_encoded_ahead_counts_only_once_sent_and_its_id_can_be_given_back() -> None:
    """An armed capture's request: encode_request leaves the connection as it is,
    request_sent starts the transaction, and an id never sent is the next request's again
    (only the last one handed out, and only inside a session)."""
    conn = Connection(Role.INITIATOR, UsbFraming())
    assert conn.next_transaction_id(0x1004) == 0  # outside a session: always 0
    conn.give_back_transaction_id(0)
    conn.send(Request(code=0x1002, transaction_id=0, params=(1,)))
    conn.receive_data(b"\x0c\x00\x00\x00\x03\x00\x01\x20\x00\x00\x00\x00", transfer_ended=True)
    assert isinstance(conn.next_event(), Response)
    tid = conn.next_transaction_id(0x100E)
    assert tid == 1
    request = Request(code=0x100E, transaction_id=tid, params=(0, 0))
    wire = conn.encode_request(request)
    # The USB command container, golden: length 20, type 1, InitiateCapture, id 1, two params.
    assert b"".join(wire) == bytes.fromhex("1400000001000e10010000000000000000000000")
    assert conn.phase is Phase.IDLE
    assert not conn.in_transaction
    conn.give_back_transaction_id(tid)
    assert conn.next_transaction_id(0x100E) == tid  # disarmed: the id again
    conn.request_sent(request)
    assert conn.phase is Phase.REQUESTED
    assert conn.request == request
    with pytest.raises(LocalProtocolError, match="cannot send Request"):
        conn.encode_request(Request(code=0x1001, transaction_id=2))
    conn.receive_data(b"\x0c\x00\x00\x00\x03\x00\x01\x20\x01\x00\x00\x00", transfer_ended=True)
    assert isinstance(conn.next_event(), Response)
    first, second = conn.next_transaction_id(0x1001), conn.next_transaction_id(0x1001)
    conn.give_back_transaction_id(first)  # not the last handed out: left alone
    assert conn.next_transaction_id(0x1001) == second + 1
