"""A sans-IO PTP connection: bytes in, events out; events in, bytes out (h11's shape).

::

    conn = Connection(Role.INITIATOR, UsbFraming())
    transport.write(conn.send(Request(code=0x1001, transaction_id=0)))
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(transport.read(), transfer_ended=...)
        ...

The same class serves the initiator (a client) and the responder (the virtual camera); the phase
table in :mod:`ptpkit.core.state` keeps both ends honest. The connection checks transaction ids,
counts data-phase bytes against the announced total (so a truncated download can never look
complete), tracks the session, and never blocks, sleeps or touches a socket.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from ptpkit.core.buffer import BytesLike
from ptpkit.core.events import (
    NEED_DATA,
    SESSIONLESS_TRANSACTION_ID,
    Cancel,
    Data,
    DataEnd,
    DataStart,
    Request,
    Response,
    _NeedData,
)
from ptpkit.core.framing import ConnectionEvent, Framing, LinkEvent, OutgoingEvent
from ptpkit.core.state import AnyPhase, Phase, Role, StateTable
from ptpkit.errors import ClosedError, LocalProtocolError, ProtocolError, RemoteProtocolError

_OPEN_SESSION: Final = 0x1002
_CLOSE_SESSION: Final = 0x1003
_OK: Final = 0x2001
#: Transaction ids run 1..0xFFFFFFFE inside a session; 0xFFFFFFFF is reserved (ISO 15740 §9.3.1).
_LAST_TRANSACTION_ID: Final = 0xFFFFFFFE

#: The joined table of each framing class, reused while the framing's rows are the same objects
#: (they are class-level data in ptpkit's framings; a framing with rows of its own per instance
#: gets a table of its own).
_TABLES: dict[type, StateTable] = {}


def _table_for(framing: Framing) -> StateTable:
    table = _TABLES.get(type(framing))
    if table is None or not table.made_from(framing.transitions, framing.anytime):
        table = StateTable(framing.transitions, framing.anytime)
        _TABLES[type(framing)] = table
    return table


class Connection:
    """One end of a PTP connection over a given framing (any :class:`Framing`)."""

    def __getstate__(self) -> dict[str, object]:
        # The joined table is shared derived data (read-only mappings, which do not pickle):
        # a copy (the fuzzer's saved start states) rebuilds it from its framing.
        state = dict(self.__dict__)
        del state["_table"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._table = _table_for(self.framing)

    def __init__(self, role: Role, framing: Framing) -> None:
        self.role = role
        self.peer_role = Role.RESPONDER if role is Role.INITIATOR else Role.INITIATOR
        self.framing = framing
        self._table = _table_for(framing)
        #: Phase of the generic table, or of the framing's handshake.
        self.phase: AnyPhase = framing.initial_phase
        #: The open session's id, or None outside a session.
        self.session_id: int | None = None
        #: The transaction under way (its request), or None.
        self.request: Request | None = None
        self._next_tid = 1
        self._data_total: int | None = None
        self._data_count = 0

    # -- transaction ids -------------------------------------------------------------------------

    def next_transaction_id(self, code: int) -> int:
        """The id for a new request: 0 outside a session and for OpenSession, then 1, 2, ..."""
        if code == _OPEN_SESSION or self.session_id is None:
            return SESSIONLESS_TRANSACTION_ID
        tid = self._next_tid
        self._next_tid = tid + 1 if tid < _LAST_TRANSACTION_ID else 1
        return tid

    def give_back_transaction_id(self, tid: int) -> None:
        """A request made with ``tid`` was never sent (an armed capture disarmed): the next
        request takes ``tid`` again, so the camera sees no gap (ISO 15740 §9.3.1: each
        transaction's id is one more than the last). Only the id handed out last can be given
        back; any other is left alone."""
        if tid == SESSIONLESS_TRANSACTION_ID or self.session_id is None:
            return
        after = tid + 1 if tid < _LAST_TRANSACTION_ID else 1
        if self._next_tid == after:
            self._next_tid = tid

    @property
    def in_transaction(self) -> bool:
        return self.request is not None

    # -- sending ---------------------------------------------------------------------------------

    def send(self, event: OutgoingEvent) -> list[BytesLike]:
        """The bytes to write for ``event`` (a list, so data chunks are never copied).

        Data phases are sent as ``DataStart(total_bytes=N)`` then ``Data`` chunks; the phase ends
        when N bytes have been sent (the last chunk becomes PTP/IP's EndData).
        """
        if isinstance(event, Data):
            return self._send_data(event)
        if isinstance(event, DataStart):
            if event.total_bytes is None:
                raise LocalProtocolError("a data phase must be sent with its total size")
            if not event.code and self.request is not None:
                event = replace(event, code=self.request.code)
        # DataStart too, not only Response: a wrong id would go out and break the peer's
        # connection instead of failing here, where the mistake is.
        self._check_outgoing_tid(event)
        # Encode before applying the table: an event that cannot be encoded (six parameters, a
        # value over 32 bits) must not count as sent and leave the connection stuck in a phase.
        out = self.framing.encode(event)
        self._apply(self.role, event)
        if isinstance(event, DataStart) and event.total_bytes == 0:
            out += self.framing.encode_empty_end(event.transaction_id)
            self._apply(self.role, DataEnd(transaction_id=event.transaction_id))
        return out

    def encode_request(self, request: Request) -> list[BytesLike]:
        """The bytes of ``request`` without sending it: the connection stays as it is until
        :meth:`request_sent` says the bytes went (an armed capture prepares its request before
        the moment it is sent). LocalProtocolError when a request could not be sent now."""
        if self._table.next_phase(self.phase, self.role, Request) is None:
            raise LocalProtocolError(f"cannot send Request now ({self.phase.value})")
        return self.framing.encode(request)

    def request_sent(self, request: Request) -> None:
        """The bytes :meth:`encode_request` gave went out: the transaction is under way."""
        self._apply(self.role, request)

    def _check_outgoing_tid(self, event: OutgoingEvent) -> None:
        request = self.request
        if (
            isinstance(event, (Response, DataStart, Data))
            and request is not None
            and event.transaction_id != request.transaction_id
        ):
            raise LocalProtocolError(
                f"{type(event).__name__} for transaction {event.transaction_id} while "
                f"{request.transaction_id} is under way"
            )

    def _send_data(self, event: Data) -> list[BytesLike]:
        size = len(event.chunk)
        self._check_outgoing_tid(event)
        if self.phase is Phase.CANCELLING:
            return []  # nothing more goes out for a cancelled transaction
        self._apply(self.role, event)
        total = self._data_total
        assert total is not None
        if self._data_count + size > total:
            raise LocalProtocolError(
                f"sending {size} more bytes would exceed the announced {total}-byte data phase "
                f"({self._data_count} sent)"
            )
        final = self._data_count + size == total
        # Count only once encoded (a chunk too large for one PTP/IP packet is refused).
        out = self.framing.encode(event, final=final)
        self._data_count += size
        if final:
            self._apply(self.role, DataEnd(transaction_id=event.transaction_id))
        return out

    @property
    def data_bytes_left(self) -> int | None:
        """Bytes still to come in the current data phase (None when unknown)."""
        if self._data_total is None:
            return None
        return self._data_total - self._data_count

    # -- receiving -------------------------------------------------------------------------------

    def receive_data(self, data: BytesLike, *, transfer_ended: bool = False) -> None:
        """Bytes from the peer. Drain :meth:`next_event` until NEED_DATA before the buffer behind
        ``data`` is reused. ``transfer_ended`` is for USB: the read ended with a short packet."""
        if self.phase is Phase.BROKEN:
            raise LocalProtocolError("the connection is broken by an earlier protocol error")
        self.framing.receive_data(data, transfer_ended=transfer_ended)

    def next_event(self) -> ConnectionEvent | _NeedData:
        if self.phase is Phase.BROKEN:
            raise LocalProtocolError("the connection is broken by an earlier protocol error")
        try:
            event = self.framing.next_event()
            if isinstance(event, _NeedData):
                return event
            self._check_incoming(event)
            if (
                isinstance(event, Cancel)
                and self.request is not None
                and event.transaction_id != self.request.transaction_id
            ):
                # A cancel for some other (finished) transaction changes nothing here.
                return event
            self._apply(self.peer_role, event)
        except ProtocolError:
            self.phase = Phase.BROKEN
            raise
        return event

    def _check_incoming(self, event: ConnectionEvent) -> None:
        request = self.request
        if (
            isinstance(event, (Response, DataStart, Data, DataEnd))
            and request is not None
            and event.transaction_id != request.transaction_id
        ):
            raise RemoteProtocolError(
                f"{type(event).__name__} carries transaction id {event.transaction_id}, but "
                f"transaction {request.transaction_id} (0x{request.code:04X}) is under way"
            )

    # -- the table -------------------------------------------------------------------------------

    def _apply(self, sender: Role, event: ConnectionEvent) -> None:
        if self.phase is Phase.CLOSED:
            if sender is self.peer_role:
                # Bytes the peer sent after its InitFail (or after we closed) are the peer
                # breaking the protocol, not a use after close: a RemoteProtocolError, like any
                # other bad input (ClosedError is not a ProtocolError).
                raise RemoteProtocolError(
                    f"the peer sent {type(event).__name__} after the connection closed"
                )
            raise ClosedError("the connection is closed")
        new_phase = self._table.next_phase(self.phase, sender, type(event))
        if new_phase is None:
            what = type(event).__name__
            if sender is self.role:
                raise LocalProtocolError(f"cannot send {what} now ({self.phase.value})")
            raise RemoteProtocolError(f"the peer sent {what} out of turn ({self.phase.value})")
        self._bookkeep(sender, event)
        self.phase = new_phase

    def _bookkeep(self, sender: Role, event: ConnectionEvent) -> None:
        # The most frequent first (a download's chunks, then each transaction's own events).
        if isinstance(event, Data):
            if sender is self.peer_role:
                self._data_count += len(event.chunk)
                if self._data_total is not None and self._data_count > self._data_total:
                    raise RemoteProtocolError(
                        f"the data phase announced {self._data_total} bytes and sent more"
                    )
        elif isinstance(event, Response):
            self._finish_transaction(event)
        elif isinstance(event, Request):
            self.request = event
            self._data_total = None
            self._data_count = 0
        elif isinstance(event, DataStart):
            self._data_total = event.total_bytes
            self._data_count = 0
        elif isinstance(event, DataEnd) and sender is self.peer_role:
            total = self._data_total
            if (
                total is not None
                and self._data_count != total
                and self.phase is not Phase.CANCELLING
            ):
                raise RemoteProtocolError(
                    f"the data phase ended after {self._data_count} of {total} announced bytes"
                )
        elif isinstance(event, LinkEvent):
            self.framing.link_event(sender, event)

    def _finish_transaction(self, response: Response) -> None:
        request = self.request
        if request is not None and response.code == _OK:
            if request.code == _OPEN_SESSION:
                self.session_id = request.params[0] if request.params else 0
                self._next_tid = 1
            elif request.code == _CLOSE_SESSION:
                self.session_id = None
        self.request = None
        self._data_total = None
        self._data_count = 0

    # -- cancel, reset, close --------------------------------------------------------------------

    def cancel_received(self, transaction_id: int) -> None:
        """A cancel from the peer that did not come through the framing (USB's Cancel class
        request arrives on the control pipe). Ignored unless it names the transaction under way."""
        if self.request is None or self.request.transaction_id != transaction_id:
            return
        if self.phase is not Phase.CANCELLING:
            self._apply(self.peer_role, Cancel(transaction_id=transaction_id))

    def finish_cancel(self) -> None:
        """End a cancelled transaction that gets no response (USB: the device reports OK status
        after the Cancel class request). Partial input is dropped."""
        if self.request is None and self.phase is Phase.IDLE:
            return
        self.framing.reset()
        self.request = None
        self._data_total = None
        self._data_count = 0
        self.phase = Phase.IDLE

    def reset(self) -> None:
        """Back to a fresh connection without a session (after a USB Device Reset)."""
        self.finish_cancel()
        self.session_id = None

    def close(self) -> None:
        self.phase = Phase.CLOSED


__all__ = [
    "NEED_DATA",
    "Connection",
    "ConnectionEvent",
    "Framing",
    "LinkEvent",
    "OutgoingEvent",
    "Phase",
    "Role",
]
