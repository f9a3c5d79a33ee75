"""Two sans-IO connections wired back to back in memory, with pluggable byte splitting.

::

    pair = ConnectionPair(PtpIpFraming, splitter=RandomSplitter(seed=7))   # runs the handshake
    pair.send(Role.INITIATOR, Request(code=0x1001, transaction_id=0))
    events = pair.send(
        Role.RESPONDER,
        DataStart(transaction_id=0, total_bytes=3),
        Data(transaction_id=0, chunk=b"abc"),
        Response(code=0x2001, transaction_id=0),
    )
    # events == [DataStart(...), Data(... b"abc"), DataEnd(...), Response(...)]

The bytes one side sends reach the other side cut into pieces by a *splitter*: whole, one byte at a
time, or at random (seeded) points. A protocol implementation is correct only if every cut gives
the same events (h11's ``tests/helpers.py::ConnectionPair`` idea).

USB is modelled as the wire behaves: each container is one bulk transfer (a data container spans
from its header to its last byte), and only the last piece of a transfer is fed with
``transfer_ended=True``. Over PTP/IP everything one :meth:`ConnectionPair.send` call produces is
one stream, so pieces may straddle packets; so it is for any other framing (a test's own, see
``tests/core/test_toy_framing.py``), whose handshake is given as a script of link packets. A USB
Cancel travels as a class request on the control pipe, not on the bulk pipe: the pair records its
data and tells the responder through ``cancel_received``. Events of the USB interrupt pipe and
the PTP/IP event connection go through a second pair of connections, see
:meth:`ConnectionPair.send_event`.

Received ``Data`` chunks may be views into the buffer given to ``receive_data()``; the helpers
copy them to ``bytes`` at once, and (``scribble=True``) overwrite each fed buffer with junk after
draining it, so a decoder that kept a view of the caller's buffer past NEED_DATA shows up as
corrupted data.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection, ConnectionEvent, OutgoingEvent
from ptpkit.core.events import Cancel, Data, Event, _NeedData
from ptpkit.core.framing import Framing
from ptpkit.core.ptpip import (
    InitCommandAck,
    InitCommandRequest,
    InitEventAck,
    InitEventRequest,
    PtpIpFraming,
)
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import UsbFraming, decode_cancel_request

#: Cuts the bytes of one delivery into pieces whose concatenation is the input.
Splitter = Callable[[bytes], Sequence[bytes]]
#: Makes one end's framing: a framing class such as :class:`UsbFraming` or any other factory.
FramingType = Callable[[], Framing]
#: Link packets to exchange in order, each with its sender (a framing's handshake).
Script = Sequence[tuple[Role, OutgoingEvent]]

#: The GUID and names the handshake uses unless told otherwise.
INITIATOR_GUID: Final = bytes(range(0x10, 0x20))
RESPONDER_GUID: Final = bytes(range(0x20, 0x30))

_JUNK: Final = 0xEE


# -- splitters -----------------------------------------------------------------------------------


def whole(data: bytes) -> list[bytes]:
    """Deliver everything in one piece."""
    return [data]


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    """Deliver one byte per ``receive_data()`` call."""
    return [data[i : i + 1] for i in range(len(data))] or [b""]


class FixedSplitter:
    """Cut into pieces of ``size`` bytes (the last may be shorter): pick an odd size so that no
    cut lines up with a header or packet."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a piece holds at least one byte")
        self.size = size

    def __call__(self, data: bytes) -> list[bytes]:
        return [data[i : i + self.size] for i in range(0, len(data), self.size)] or [b""]

    def __repr__(self) -> str:
        return f"FixedSplitter({self.size})"


class RandomSplitter:
    """Cut at random points, reproducibly (``seed``). At most ``max_cuts`` cuts per delivery, so a
    multi-megabyte payload is cut into a few dozen pieces rather than millions."""

    def __init__(self, seed: int, *, max_cuts: int = 64) -> None:
        self.seed = seed
        self.max_cuts = max_cuts
        self._rng = random.Random(seed)

    def __call__(self, data: bytes) -> list[bytes]:
        if len(data) < 2:
            return [data]
        count = self._rng.randint(0, min(len(data) - 1, self.max_cuts))
        cuts = sorted(self._rng.sample(range(1, len(data)), count))
        bounds = [0, *cuts, len(data)]
        return [data[start:end] for start, end in itertools.pairwise(bounds)]

    def __repr__(self) -> str:
        return f"RandomSplitter(seed={self.seed}, max_cuts={self.max_cuts})"


# -- feeding one connection ----------------------------------------------------------------------


def copy_event(event: ConnectionEvent) -> ConnectionEvent:
    """``event`` with a Data chunk copied to ``bytes`` (chunks may be views of a fed buffer)."""
    if isinstance(event, Data) and not isinstance(event.chunk, bytes):
        return Data(transaction_id=event.transaction_id, chunk=bytes(event.chunk))
    return event


def drain(conn: Connection | Framing) -> list[ConnectionEvent]:
    """Every event ``conn`` (or a framing on its own) can produce from the bytes it has, Data
    chunks copied."""
    events: list[ConnectionEvent] = []
    while True:
        event = conn.next_event()
        if isinstance(event, _NeedData):
            return events
        events.append(copy_event(event))


def feed(
    conn: Connection,
    data: BytesLike,
    *,
    splitter: Splitter = whole,
    transfer_ended: bool = False,
    scribble: bool = True,
) -> list[ConnectionEvent]:
    """Give ``data`` to ``conn`` in the pieces ``splitter`` cuts, draining events after each piece.

    ``transfer_ended`` (USB) is passed with the last piece only. With ``scribble``, each piece is a
    private bytearray that is overwritten once drained.
    """
    pieces = list(splitter(bytes(data))) or [b""]
    events: list[ConnectionEvent] = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        buffer = bytearray(piece) if scribble else piece
        conn.receive_data(buffer, transfer_ended=transfer_ended and last)
        events += drain(conn)
        if scribble and isinstance(buffer, bytearray):
            buffer[:] = bytes([_JUNK]) * len(buffer)
    return events


def coalesce(events: Iterable[ConnectionEvent]) -> list[ConnectionEvent]:
    """Events with adjacent Data chunks of one transaction joined into one Data (as bytes), and
    empty chunks dropped: the form in which different splits must agree."""
    out: list[ConnectionEvent] = []
    for event in events:
        if isinstance(event, Data):
            if not len(event.chunk):
                continue
            previous = out[-1] if out else None
            if isinstance(previous, Data) and previous.transaction_id == event.transaction_id:
                out[-1] = Data(
                    transaction_id=event.transaction_id,
                    chunk=bytes(previous.chunk) + bytes(event.chunk),
                )
                continue
            out.append(Data(transaction_id=event.transaction_id, chunk=bytes(event.chunk)))
            continue
        out.append(event)
    return out


# -- the pair ------------------------------------------------------------------------------------


class ConnectionPair:
    """An initiator and a responder connection joined in memory.

    ``framing`` makes each end's framing: :class:`UsbFraming`, :class:`PtpIpFraming`, or any
    other :class:`~ptpkit.core.framing.Framing`. With ``handshake=True`` PTP/IP's
    InitCommandRequest/Ack exchange runs at once, so both ends start IDLE; another framing's
    handshake is given as a script of (sender, link packet), run the same way.
    ``event_handshake`` is the event channel's script (default: PTP/IP's InitEventRequest/Ack;
    none for other framings, whose event channel starts in EVENT_CHANNEL).
    ``received`` keeps everything each end has received so far.
    """

    def __init__(
        self,
        framing: FramingType,
        *,
        splitter: Splitter = whole,
        handshake: bool | Script = True,
        event_handshake: Script | None = None,
        scribble: bool = True,
        connection_number: int = 1,
    ) -> None:
        self.framing_type = framing
        self.splitter = splitter
        self.scribble = scribble
        self.connection_number = connection_number
        self.initiator = Connection(Role.INITIATOR, framing())
        self.responder = Connection(Role.RESPONDER, framing())
        self.received: dict[Role, list[ConnectionEvent]] = {
            Role.INITIATOR: [],
            Role.RESPONDER: [],
        }
        #: USB: the data of every Cancel class request the initiator sent (control pipe).
        self.control_requests: list[bytes] = []
        #: The event channel (USB interrupt pipe / PTP/IP event connection), made on first use.
        self._event_pair: tuple[Connection, Connection] | None = None
        self._event_handshake = event_handshake
        if handshake is True:
            if self.is_ptpip:
                self.handshake()
        elif handshake is not False:
            for sender, event in handshake:
                self.send(sender, event)

    @property
    def is_usb(self) -> bool:
        return self.framing_type is UsbFraming

    @property
    def is_ptpip(self) -> bool:
        return self.framing_type is PtpIpFraming

    def conn(self, role: Role) -> Connection:
        return self.initiator if role is Role.INITIATOR else self.responder

    def peer(self, role: Role) -> Connection:
        return self.responder if role is Role.INITIATOR else self.initiator

    # -- sending ---------------------------------------------------------------------------------

    def send(self, sender: Role, *events: OutgoingEvent) -> list[ConnectionEvent]:
        """``sender`` sends ``events`` in order; the bytes reach the peer through the splitter.
        Returns what the peer's ``next_event()`` produced (Data chunks copied)."""
        conn = self.conn(sender)
        receiver = self.peer(sender)
        received: list[ConnectionEvent] = []
        stream = bytearray()  # PTP/IP: all bytes of this call; USB: the open bulk transfer
        for event in events:
            out = b"".join(conn.send(event))
            if isinstance(event, Cancel) and self.is_usb:
                # The Cancel class request goes on the control pipe. The aborted bulk transfer
                # (if any) is delivered as far as it got, without a transfer end.
                received += self._deliver(receiver, stream, transfer_ended=False)
                stream.clear()
                self.control_requests.append(out)
                receiver.cancel_received(decode_cancel_request(out))
                continue
            stream += out
            if self.is_usb and stream and not self._data_phase_open(conn):
                received += self._deliver(receiver, stream, transfer_ended=True)
                stream.clear()
        if stream:
            received += self._deliver(receiver, stream, transfer_ended=False)
        self.received[receiver.role] += received
        return received

    def deliver(
        self, receiver: Role, data: BytesLike, *, transfer_ended: bool = False
    ) -> list[ConnectionEvent]:
        """Give raw bytes (hand-made, or from a misbehaving peer) to ``receiver`` through the
        splitter, bypassing the other connection."""
        events = self._deliver(self.conn(receiver), data, transfer_ended=transfer_ended)
        self.received[receiver] += events
        return events

    def _deliver(
        self, receiver: Connection, data: BytesLike, *, transfer_ended: bool
    ) -> list[ConnectionEvent]:
        if not len(data) and not transfer_ended:
            return []
        return feed(
            receiver,
            data,
            splitter=self.splitter,
            transfer_ended=transfer_ended,
            scribble=self.scribble,
        )

    @staticmethod
    def _data_phase_open(conn: Connection) -> bool:
        own = Phase.INITIATOR_DATA if conn.role is Role.INITIATOR else Phase.RESPONDER_DATA
        return conn.phase is own

    # -- link set-up, events, cancel ------------------------------------------------------------

    def handshake(
        self,
        *,
        initiator_name: str = "ptpkit-test",
        responder_name: str = "virtual",
    ) -> list[ConnectionEvent]:
        """PTP/IP: InitCommandRequest from the initiator, InitCommandAck from the responder.
        Returns what both ends received, in order."""
        request = InitCommandRequest(guid=INITIATOR_GUID, friendly_name=initiator_name)
        ack = InitCommandAck(
            connection_number=self.connection_number,
            guid=RESPONDER_GUID,
            friendly_name=responder_name,
        )
        return self.send(Role.INITIATOR, request) + self.send(Role.RESPONDER, ack)

    def _events_channel(self) -> tuple[Connection, Connection]:
        if self._event_pair is None:
            host = Connection(Role.INITIATOR, self.framing_type())
            device = Connection(Role.RESPONDER, self.framing_type())
            if self._event_handshake is not None:
                for sender, event in self._event_handshake:
                    src, dst = (host, device) if sender is Role.INITIATOR else (device, host)
                    feed(dst, b"".join(src.send(event)), splitter=self.splitter)
            elif self.is_ptpip:
                request = InitEventRequest(connection_number=self.connection_number)
                feed(device, b"".join(host.send(request)), splitter=self.splitter)
                feed(host, b"".join(device.send(InitEventAck())), splitter=self.splitter)
            else:
                # The interrupt pipe has no handshake; it only ever carries events (and so, by
                # default, does another framing's event channel).
                host.phase = device.phase = Phase.EVENT_CHANNEL
            self._event_pair = (host, device)
        return self._event_pair

    def send_event(self, *events: Event) -> list[ConnectionEvent]:
        """The responder sends events on the event channel (USB interrupt pipe, one transfer per
        container; PTP/IP event connection). Returns what the initiator's end decoded."""
        host, device = self._events_channel()
        received: list[ConnectionEvent] = []
        for event in events:
            data = b"".join(device.send(event))
            received += self._deliver(host, data, transfer_ended=self.is_usb)
        return received

    @property
    def event_channel(self) -> tuple[Connection, Connection]:
        """(initiator end, responder end) of the event channel."""
        return self._events_channel()

    def finish_cancel(self) -> None:
        """USB: both ends drop the cancelled transaction (the device reported OK status)."""
        self.initiator.finish_cancel()
        self.responder.finish_cancel()
