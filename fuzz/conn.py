"""Connections for the connection targets: start states reached by real exchanges, and what the
harness's own end does between the pieces of hostile input (the ``act`` of a script piece).

A connection target plays one end (the *local* connection, ptpkit's code under test); the fuzz
input is everything the other end sends. The start states put the local end where the peer's
bytes matter most: after the PTP/IP handshake, in a session, in the middle of a transaction. Local
actions let one input walk through several transactions (send a request, answer it, cancel).
"""

from __future__ import annotations

from typing import Final

from ptpkit.core import fujiptpip as fuji
from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection
from ptpkit.core.events import Cancel, Data, DataPhase, DataStart, Event, Request, Response
from ptpkit.core.ptpip import InitCommandRequest, ProbeRequest, PtpIpFraming
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import UsbFraming
from ptpkit.testing import INITIATOR_GUID, ConnectionPair

OPEN_SESSION: Final = 0x1002
GET_OBJECT: Final = 0x1009
SEND_OBJECT_INFO: Final = 0x100C
OK: Final = 0x2001
TRANSACTION_CANCELLED: Final = 0x201F
OBJECT_ADDED: Final = 0x4002
STORE: Final = 0x00010001

#: Start states per (framing, role), chosen by the first byte of the input (modulo).
STATES: Final = 4

STATE_NAMES: Final[dict[tuple[str, Role], tuple[str, ...]]] = {
    ("usb", Role.INITIATOR): ("idle", "session open", "GetObject sent", "data sent, no response"),
    ("usb", Role.RESPONDER): ("idle", "GetObject received", "SendObjectInfo received", "sending"),
    ("ptpip", Role.INITIATOR): ("awaiting InitCommandAck", "idle", "event channel", "GetObject"),
    ("ptpip", Role.RESPONDER): ("connecting", "idle", "event channel", "SendObjectInfo received"),
    ("fujiptpip", Role.INITIATOR): (
        "awaiting InitCommandAck",
        "idle",
        "event channel",
        "GetObject",
    ),
    ("fujiptpip", Role.RESPONDER): (
        "connecting",
        "idle (the request may come again)",
        "event channel",
        "SendObjectInfo received",
    ),
}


def _open_session(pair: ConnectionPair) -> None:
    pair.send(Role.INITIATOR, Request(code=OPEN_SESSION, transaction_id=0, params=(1,)))
    pair.send(Role.RESPONDER, Response(code=OK, transaction_id=0))


def _get_object(pair: ConnectionPair) -> None:
    _open_session(pair)
    pair.send(Role.INITIATOR, Request(code=GET_OBJECT, transaction_id=1, params=(1,)))


def _send_object_info(pair: ConnectionPair) -> None:
    _open_session(pair)
    pair.send(
        Role.INITIATOR,
        Request(
            code=SEND_OBJECT_INFO,
            transaction_id=1,
            params=(STORE, 0),
            data_phase=DataPhase.OUT,
        ),
    )


def start(framing: str, role: Role, state: int) -> tuple[Connection, Connection]:
    """(the local connection, its peer) in start state ``state`` (0..3), in lock step: what the
    peer sends next is what a correct device (or host) would send."""
    state %= STATES
    if framing == "usb":
        pair = ConnectionPair(UsbFraming)
        if role is Role.INITIATOR:
            if state == 1:
                _open_session(pair)
            elif state == 2:
                _get_object(pair)
            elif state == 3:
                _send_object_info(pair)
                pair.send(
                    Role.INITIATOR,
                    DataStart(transaction_id=1, total_bytes=8),
                    Data(transaction_id=1, chunk=b"ObjInfo!"),
                )
        elif state == 1:
            _get_object(pair)
        elif state == 2:
            _send_object_info(pair)
        elif state == 3:
            _get_object(pair)
            pair.send(
                Role.RESPONDER,
                DataStart(transaction_id=1, total_bytes=100),
                Data(transaction_id=1, chunk=bytes(range(50))),
            )
        return pair.conn(role), pair.peer(role)
    if framing == "fujiptpip":
        return _start_fuji(role, state)
    if state == 0:
        if role is Role.RESPONDER:
            return Connection(role, PtpIpFraming()), Connection(Role.INITIATOR, PtpIpFraming())
        pair = ConnectionPair(PtpIpFraming, handshake=False)
        pair.send(Role.INITIATOR, InitCommandRequest(guid=INITIATOR_GUID, friendly_name="fuzz"))
        return pair.initiator, pair.responder
    pair = ConnectionPair(PtpIpFraming)
    if state == 2:
        host, device = pair.event_channel
        return (host, device) if role is Role.INITIATOR else (device, host)
    if state == 3:
        if role is Role.INITIATOR:
            _get_object(pair)
        else:
            _send_object_info(pair)
    return pair.conn(role), pair.peer(role)


def _start_fuji(role: Role, state: int) -> tuple[Connection, Connection]:
    """Fujifilm's variant: before and after its handshake, its event connection (which has
    none), in a transaction."""
    if state == 2:
        host = Connection(Role.INITIATOR, fuji.FujiPtpIpFraming(fuji.Channel.EVENT))
        device = Connection(Role.RESPONDER, fuji.FujiPtpIpFraming(fuji.Channel.EVENT))
        return (host, device) if role is Role.INITIATOR else (device, host)
    request = fuji.InitCommandRequest(guid=INITIATOR_GUID, friendly_name="fuzz")
    ack = fuji.InitCommandAck(guid=INITIATOR_GUID[::-1], friendly_name="X-T2")
    pair = ConnectionPair(fuji.FujiPtpIpFraming, handshake=False)
    if state == 0:
        if role is Role.RESPONDER:
            return pair.responder, pair.initiator
        pair.send(Role.INITIATOR, request)
        return pair.initiator, pair.responder
    pair.send(Role.INITIATOR, request)
    pair.send(Role.RESPONDER, ack)
    if state == 3:
        if role is Role.INITIATOR:
            _get_object(pair)
        else:
            _send_object_info(pair)
    return pair.conn(role), pair.peer(role)


def local_action(conn: Connection, act: int) -> list[BytesLike]:
    """What the local end does after a piece of input (``act`` 1..3; 0 does nothing), chosen to
    be legal in most phases. Returns the bytes it would write. An action that is illegal in the
    current phase raises LocalProtocolError (or ClosedError), which the targets accept for the
    local end's own sends, as long as the refused send changed nothing (checked by the caller).
    """
    usb = isinstance(conn.framing, UsbFraming)
    phase = conn.phase
    request = conn.request
    out: list[BytesLike] = []
    if act == 0:
        return out
    if conn.role is Role.INITIATOR:
        if act == 1:
            if phase is Phase.IDLE:
                tid = conn.next_transaction_id(GET_OBJECT)
                out += conn.send(Request(code=GET_OBJECT, transaction_id=tid, params=(1,)))
            elif request is not None and phase is not Phase.CANCELLING:
                out += conn.send(Cancel(transaction_id=request.transaction_id))
            elif usb and phase is Phase.CANCELLING:
                conn.finish_cancel()  # the device reported OK status after the Cancel request
        elif act == 2:
            if phase is Phase.IDLE or phase is Phase.EVENT_CHANNEL:
                tid = conn.next_transaction_id(SEND_OBJECT_INFO)
                out += conn.send(
                    Request(
                        code=SEND_OBJECT_INFO,
                        transaction_id=tid,
                        params=(STORE, 0),
                        data_phase=DataPhase.OUT,
                    )
                )
                out += conn.send(DataStart(transaction_id=tid, total_bytes=8))
                out += conn.send(Data(transaction_id=tid, chunk=b"ObjInfo!"))
        elif act == 3:
            if phase is Phase.IDLE:
                tid = conn.next_transaction_id(OPEN_SESSION)
                out += conn.send(Request(code=OPEN_SESSION, transaction_id=tid, params=(1,)))
            elif not usb:
                out += conn.send(ProbeRequest())
        return out
    if act == 1:
        if request is not None:
            code = TRANSACTION_CANCELLED if phase is Phase.CANCELLING else OK
            out += conn.send(Response(code=code, transaction_id=request.transaction_id))
    elif act == 2:
        if request is not None and phase is Phase.REQUESTED:
            tid = request.transaction_id
            out += conn.send(DataStart(transaction_id=tid, total_bytes=5))
            out += conn.send(Data(transaction_id=tid, chunk=b"hello"))
    elif act == 3:
        if usb and request is not None:
            # USB's Cancel arrives on the control pipe, outside the bulk stream.
            conn.cancel_received(request.transaction_id)
        else:
            out += conn.send(Event(code=OBJECT_ADDED, params=(1,)))
    return out
