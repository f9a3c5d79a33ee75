"""The framing is an open protocol: a third framing, defined here and nowhere in ``ptpkit``, runs
through :class:`Connection` and :class:`ConnectionPair` with its own handshake, its own phase and
its own anytime packet, at every byte split, with no edit to the core.

The toy wire format: every packet is ``u32 length (header included) | u8 kind | body``.

==========  ======  ==============================================================
kind        value   body
==========  ======  ==============================================================
HELLO       0       UTF-8 name (link: the initiator's first packet)
WELCOME     1       u32 session hint (link: the responder's answer; then IDLE)
PING        2       nothing (link: either end, any open phase)
REQUEST     3       u16 code, u32 tid, u32 params...
RESPONSE    4       u16 code, u32 tid, u32 params...
EVENT       5       u16 code, u32 tid, u32 params...
DATA_START  6       u32 tid, u64 total
DATA        7       u32 tid, u8 last, payload
CANCEL      8       u32 tid
==========  ======  ==============================================================
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import pytest

from ptpkit.core.buffer import BytesLike
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
    _NeedData,
)
from ptpkit.core.framing import Framing, LinkEvent
from ptpkit.core.state import AnyPhase, Phase, Role, TransitionKey
from ptpkit.errors import LocalProtocolError, RemoteProtocolError
from ptpkit.testing import (
    ConnectionPair,
    FixedSplitter,
    RandomSplitter,
    Splitter,
    coalesce,
    one_byte_at_a_time,
    whole,
)

I, R = Role.INITIATOR, Role.RESPONDER  # noqa: E741 (the letters of state.py's table)
_HEADER: Final = struct.Struct("<IB")
_OP: Final = struct.Struct("<HI")
_MAX_PACKET: Final = 1 << 16


class Kind(enum.IntEnum):
    HELLO = 0
    WELCOME = 1
    PING = 2
    REQUEST = 3
    RESPONSE = 4
    EVENT = 5
    DATA_START = 6
    DATA = 7
    CANCEL = 8


@dataclass(frozen=True, kw_only=True, slots=True)
class Hello(LinkEvent):
    name: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Welcome(LinkEvent):
    hint: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Ping(LinkEvent):
    pass


class ToyPhase(enum.Enum):
    """The toy's own phase: the generic Phase enum knows nothing of it."""

    HELLO_SENT = "hello sent, awaiting welcome"


class ToyFraming:
    name: Final = "toy"
    initial_phase: Final = Phase.CONNECTING
    transitions: Final[Mapping[TransitionKey, AnyPhase]] = {
        (Phase.CONNECTING, I, Hello): ToyPhase.HELLO_SENT,
        (ToyPhase.HELLO_SENT, R, Welcome): Phase.IDLE,
    }
    anytime: Final[Mapping[type, tuple[Role, ...]]] = {Ping: (I, R)}

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._end_pending: int | None = None
        #: What the link packets said, as this end saw them go by.
        self.peer_name: str | None = None
        self.hint: int | None = None

    # -- encoding --------------------------------------------------------------------------------

    @staticmethod
    def _packet(kind: Kind, body: bytes) -> bytes:
        return _HEADER.pack(_HEADER.size + len(body), kind) + body

    @staticmethod
    def _params(params: tuple[int, ...]) -> bytes:
        return struct.pack(f"<{len(params)}I", *params)

    def encode(self, event: object, *, final: bool = False) -> list[BytesLike]:
        if isinstance(event, Data):
            body = struct.pack("<IB", event.transaction_id, final) + bytes(event.chunk)
            return [self._packet(Kind.DATA, body)]
        if isinstance(event, Request):
            op = _OP.pack(event.code, event.transaction_id) + self._params(event.params)
            return [self._packet(Kind.REQUEST, op)]
        if isinstance(event, Response):
            op = _OP.pack(event.code, event.transaction_id) + self._params(event.params)
            return [self._packet(Kind.RESPONSE, op)]
        if isinstance(event, Event):
            op = _OP.pack(event.code, event.transaction_id) + self._params(event.params)
            return [self._packet(Kind.EVENT, op)]
        if isinstance(event, DataStart):
            assert event.total_bytes is not None
            body = struct.pack("<IQ", event.transaction_id, event.total_bytes)
            return [self._packet(Kind.DATA_START, body)]
        if isinstance(event, Cancel):
            return [self._packet(Kind.CANCEL, struct.pack("<I", event.transaction_id))]
        if isinstance(event, Hello):
            return [self._packet(Kind.HELLO, event.name.encode())]
        if isinstance(event, Welcome):
            return [self._packet(Kind.WELCOME, struct.pack("<I", event.hint))]
        if isinstance(event, Ping):
            return [self._packet(Kind.PING, b"")]
        raise LocalProtocolError(f"{type(event).__name__} cannot be sent over the toy framing")

    def encode_empty_end(self, transaction_id: int) -> list[BytesLike]:
        return [self._packet(Kind.DATA, struct.pack("<IB", transaction_id, 1))]

    # -- decoding --------------------------------------------------------------------------------

    def receive_data(self, data: BytesLike, *, transfer_ended: bool = False) -> None:
        self._buffer += data  # a copy: the caller may reuse its buffer after NEED_DATA

    def next_event(self) -> ConnectionEvent | _NeedData:
        if self._end_pending is not None:
            tid, self._end_pending = self._end_pending, None
            return DataEnd(transaction_id=tid)
        while True:
            if len(self._buffer) < _HEADER.size:
                return NEED_DATA
            length, kind = _HEADER.unpack_from(self._buffer)
            if not _HEADER.size <= length <= _MAX_PACKET:
                raise RemoteProtocolError(f"toy packet length {length}")
            if len(self._buffer) < length:
                return NEED_DATA
            body = bytes(self._buffer[_HEADER.size : length])
            del self._buffer[:length]
            event = self._decode(kind, body)
            if event is not None:
                return event

    def _decode(self, kind: int, body: bytes) -> ConnectionEvent | None:
        try:
            if kind == Kind.DATA:
                tid, last = struct.unpack_from("<IB", body)
                if len(body) == 5:  # an empty chunk carries nothing
                    return DataEnd(transaction_id=tid) if last else None
                if last:
                    self._end_pending = tid
                return Data(transaction_id=tid, chunk=body[5:])
            if kind in (Kind.REQUEST, Kind.RESPONSE, Kind.EVENT):
                code, tid = _OP.unpack_from(body)
                rest = body[_OP.size :]
                if len(rest) % 4:
                    raise RemoteProtocolError("toy parameters are whole uint32s")
                params = struct.unpack(f"<{len(rest) // 4}I", rest)
                if kind == Kind.REQUEST:
                    return Request(code=code, transaction_id=tid, params=params)
                if kind == Kind.RESPONSE:
                    return Response(code=code, transaction_id=tid, params=params)
                return Event(code=code, transaction_id=tid, params=params)
            if kind == Kind.DATA_START:
                tid, total = struct.unpack("<IQ", body)
                return DataStart(transaction_id=tid, total_bytes=total)
            if kind == Kind.CANCEL:
                (tid,) = struct.unpack("<I", body)
                return Cancel(transaction_id=tid)
            if kind == Kind.HELLO:
                return Hello(name=body.decode())
            if kind == Kind.WELCOME:
                (hint,) = struct.unpack("<I", body)
                return Welcome(hint=hint)
            if kind == Kind.PING and not body:
                return Ping()
        except (struct.error, UnicodeDecodeError) as exc:
            raise RemoteProtocolError(f"bad toy packet of kind {kind}: {exc}") from exc
        raise RemoteProtocolError(f"unknown toy packet kind {kind}")

    def link_event(self, sender: Role, event: LinkEvent) -> None:
        if isinstance(event, Hello):
            self.peer_name = event.name
        elif isinstance(event, Welcome):
            self.hint = event.hint

    def reset(self) -> None:
        self._buffer.clear()
        self._end_pending = None


def test_the_toy_is_a_framing() -> None:
    # Structural: mypy would check this line too; at run time, every member is there.
    framing: Framing = ToyFraming()
    for member in ("name", "initial_phase", "transitions", "anytime"):
        assert hasattr(framing, member)


HELLO: Final = [(I, Hello(name="toy-host")), (R, Welcome(hint=42))]


def pair(splitter: Splitter = whole) -> ConnectionPair:
    return ConnectionPair(ToyFraming, splitter=splitter, handshake=HELLO)


def phases(p: ConnectionPair) -> tuple[AnyPhase, AnyPhase]:
    return p.initiator.phase, p.responder.phase


def test_the_handshake_runs_through_the_framings_own_rows() -> None:
    p = ConnectionPair(ToyFraming, handshake=False)
    assert p.initiator.phase is p.responder.phase is Phase.CONNECTING
    with pytest.raises(LocalProtocolError):
        p.initiator.send(Request(code=0x1001, transaction_id=0))  # not before the hello
    with pytest.raises(LocalProtocolError):
        p.responder.send(Welcome(hint=1))  # not before the hello either
    assert p.send(I, Hello(name="toy-host")) == [Hello(name="toy-host")]
    assert phases(p) == (ToyPhase.HELLO_SENT, ToyPhase.HELLO_SENT)
    assert p.send(R, Welcome(hint=42)) == [Welcome(hint=42)]
    assert phases(p) == (Phase.IDLE, Phase.IDLE)
    # The framing kept what its link packets said (link_event).
    responder_framing = p.responder.framing
    assert isinstance(responder_framing, ToyFraming)
    assert responder_framing.peer_name == "toy-host"
    initiator_framing = p.initiator.framing
    assert isinstance(initiator_framing, ToyFraming)
    assert initiator_framing.hint == 42
    # A second hello is out of turn, from either side of the wire.
    with pytest.raises(LocalProtocolError):
        p.initiator.send(Hello(name="again"))
    p.responder.receive_data(b"".join(ToyFraming().encode(Hello(name="again"))))
    with pytest.raises(RemoteProtocolError, match="out of turn"):
        p.responder.next_event()


def test_ping_is_allowed_in_open_phases_only() -> None:
    p = ConnectionPair(ToyFraming, handshake=False)
    with pytest.raises(LocalProtocolError):
        p.initiator.send(Ping())  # CONNECTING is not open
    p = pair()
    assert p.send(I, Ping()) == [Ping()]
    p.send(I, Request(code=0x1001, transaction_id=0))
    assert p.send(R, Ping()) == [Ping()]
    assert p.initiator.phase is Phase.REQUESTED


@dataclass(frozen=True)
class Step:
    sender: Role
    events: tuple[OutgoingEvent, ...]


PAYLOAD: Final = bytes(range(256)) * 3
SESSION: Final[Sequence[Step]] = (
    Step(I, (Request(code=0x1001, transaction_id=0),)),
    Step(
        R,
        (
            DataStart(transaction_id=0, total_bytes=len(PAYLOAD)),
            Data(transaction_id=0, chunk=PAYLOAD[:100]),
            Ping(),
            Data(transaction_id=0, chunk=PAYLOAD[100:]),
            Response(code=0x2001, transaction_id=0),
        ),
    ),
    Step(I, (Request(code=0x1002, transaction_id=0, params=(1,)),)),
    Step(R, (Response(code=0x2001, transaction_id=0),)),
    Step(I, (Request(code=0x100D, transaction_id=1, data_phase=DataPhase.OUT),)),
    Step(I, (DataStart(transaction_id=1, total_bytes=5), Data(transaction_id=1, chunk=b"hello"))),
    Step(R, (Response(code=0x2001, transaction_id=1, params=(7,)),)),
    # A zero-length data phase ends by its DataStart alone.
    Step(I, (Request(code=0x1014, transaction_id=2),)),
    Step(R, (DataStart(transaction_id=2, total_bytes=0), Response(code=0x2001, transaction_id=2))),
    # A cancelled download.
    Step(I, (Request(code=0x1009, transaction_id=3, params=(5,)),)),
    Step(R, (DataStart(transaction_id=3, total_bytes=10), Data(transaction_id=3, chunk=b"abc"))),
    Step(I, (Cancel(transaction_id=3),)),
    Step(R, (Response(code=0x201F, transaction_id=3),)),
)
EXPECTED: Final[list[list[ConnectionEvent]]] = [
    [Request(code=0x1001, transaction_id=0)],
    [
        DataStart(transaction_id=0, total_bytes=len(PAYLOAD)),
        Data(transaction_id=0, chunk=PAYLOAD[:100]),
        Ping(),
        Data(transaction_id=0, chunk=PAYLOAD[100:]),
        DataEnd(transaction_id=0),
        Response(code=0x2001, transaction_id=0),
    ],
    [Request(code=0x1002, transaction_id=0, params=(1,))],
    [Response(code=0x2001, transaction_id=0)],
    [Request(code=0x100D, transaction_id=1)],
    [
        DataStart(transaction_id=1, total_bytes=5),
        Data(transaction_id=1, chunk=b"hello"),
        DataEnd(transaction_id=1),
    ],
    [Response(code=0x2001, transaction_id=1, params=(7,))],
    [Request(code=0x1014, transaction_id=2)],
    [
        DataStart(transaction_id=2, total_bytes=0),
        DataEnd(transaction_id=2),
        Response(code=0x2001, transaction_id=2),
    ],
    [Request(code=0x1009, transaction_id=3, params=(5,))],
    [DataStart(transaction_id=3, total_bytes=10), Data(transaction_id=3, chunk=b"abc")],
    [Cancel(transaction_id=3)],
    [Response(code=0x201F, transaction_id=3)],
]


def _splitters() -> list[Splitter]:
    return [
        whole,
        one_byte_at_a_time,
        FixedSplitter(3),
        FixedSplitter(13),
        RandomSplitter(1),
        RandomSplitter(2, max_cuts=1000),
    ]


@pytest.mark.parametrize(
    "splitter", _splitters(), ids=["whole", "bytes", "fixed3", "fixed13", "random1", "random2"]
)
def test_a_session_gives_the_same_events_at_every_split(splitter: Splitter) -> None:
    p = pair(splitter)
    received = [coalesce(p.send(step.sender, *step.events)) for step in SESSION]
    assert received == [coalesce(events) for events in EXPECTED]
    assert p.initiator.phase is p.responder.phase is Phase.IDLE
    assert p.initiator.session_id == p.responder.session_id == 1


class CutAt:
    """Cut every delivery in two at ``offset`` (the whole delivery when it is shorter)."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def __call__(self, data: bytes) -> list[bytes]:
        return [data[: self.offset], data[self.offset :]]


def test_every_single_cut_point() -> None:
    """Each delivery (the hello and welcome included) cut at every offset, one at a time."""
    longest = len(PAYLOAD) + 200
    for offset in range(longest):
        p = pair(CutAt(offset))
        received = [coalesce(p.send(step.sender, *step.events)) for step in SESSION]
        assert received == [coalesce(events) for events in EXPECTED], offset


def test_events_on_the_toy_event_channel() -> None:
    p = pair(one_byte_at_a_time)
    events = [Event(code=0x4002, transaction_id=3, params=(10,)), Event(code=0x400D)]
    assert p.send_event(*events) == events
    host, device = p.event_channel
    assert host.phase is device.phase is Phase.EVENT_CHANNEL


def test_bad_bytes_are_a_remote_protocol_error() -> None:
    p = pair()
    with pytest.raises(RemoteProtocolError):
        p.deliver(I, _HEADER.pack(_HEADER.size, 99))
    assert p.initiator.phase is Phase.BROKEN


def test_a_framing_with_rows_of_its_own_per_instance_gets_its_own_table() -> None:
    # The joined table is cached per framing class, but only for the same row objects.
    strict = ToyFraming()
    strict.transitions = {(Phase.CONNECTING, I, Hello): Phase.IDLE}  # type: ignore[misc]
    conn = Connection(I, strict)
    conn.send(Hello(name="h"))
    assert conn.phase is Phase.IDLE
    default = Connection(I, ToyFraming())
    default.send(Hello(name="h"))
    assert default.phase is ToyPhase.HELLO_SENT
