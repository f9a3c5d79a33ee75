"""The PTP connection state machine: one table for both roles (the h11 ``_state.py`` pattern).

A transaction moves through the same phases whichever end is looking at it; each transition is
keyed by (phase, the role that *sent* the event, the event's type). The initiator applies the table
to what it sends and what it receives, and so does the responder: both stay in lock step.

::

    CONNECTING --InitCommandRequest(I)--> AWAITING_COMMAND_ACK --InitCommandAck(R)--> IDLE
               --InitEventRequest(I)--->  AWAITING_EVENT_ACK   --InitEventAck(R)---> EVENT_CHANNEL
                                          (either)             --InitFail(R)-------> CLOSED

    IDLE --Request(I)--> REQUESTED --Response(R)---------------------------------------> IDLE
                         REQUESTED --DataStart(I)--> INITIATOR_DATA --DataEnd(I)--> DATA_DONE
                         REQUESTED --DataStart(R)--> RESPONDER_DATA --DataEnd(R)--> DATA_DONE
                                                                    DATA_DONE --Response(R)--> IDLE
    any transaction phase --Cancel(I or R)--> CANCELLING --Response(R)--> IDLE

USB connections start in IDLE (no handshake); PTP/IP connections start in CONNECTING, and the first
packet decides whether the TCP connection is a command or an event channel. Events and probes are
allowed in every open phase and change nothing.
"""

from __future__ import annotations

import enum
from typing import Final

from ptpkit.core.events import Cancel, Data, DataEnd, DataStart, Event, Request, Response
from ptpkit.core.ptpip import (
    InitCommandAck,
    InitCommandRequest,
    InitEventAck,
    InitEventRequest,
    InitFail,
    ProbeRequest,
    ProbeResponse,
)


class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class Phase(enum.Enum):
    CONNECTING = "connecting"
    AWAITING_COMMAND_ACK = "awaiting InitCommandAck"
    AWAITING_EVENT_ACK = "awaiting InitEventAck"
    IDLE = "idle"
    EVENT_CHANNEL = "event channel"
    REQUESTED = "request sent, awaiting data or response"
    INITIATOR_DATA = "data phase from the initiator"
    RESPONDER_DATA = "data phase from the responder"
    DATA_DONE = "data phase done, awaiting response"
    CANCELLING = "cancelling"
    CLOSED = "closed"
    BROKEN = "broken by a protocol error"


I: Final = Role.INITIATOR
R: Final = Role.RESPONDER

_TRANSACTION_PHASES: Final = (
    Phase.REQUESTED,
    Phase.INITIATOR_DATA,
    Phase.RESPONDER_DATA,
    Phase.DATA_DONE,
)

TRANSITIONS: Final[dict[tuple[Phase, Role, type], Phase]] = {
    # PTP/IP handshake: the first packet names the channel.
    (Phase.CONNECTING, I, InitCommandRequest): Phase.AWAITING_COMMAND_ACK,
    (Phase.AWAITING_COMMAND_ACK, R, InitCommandAck): Phase.IDLE,
    (Phase.AWAITING_COMMAND_ACK, R, InitFail): Phase.CLOSED,
    (Phase.CONNECTING, I, InitEventRequest): Phase.AWAITING_EVENT_ACK,
    (Phase.AWAITING_EVENT_ACK, R, InitEventAck): Phase.EVENT_CHANNEL,
    (Phase.AWAITING_EVENT_ACK, R, InitFail): Phase.CLOSED,
    # A transaction.
    (Phase.IDLE, I, Request): Phase.REQUESTED,
    (Phase.REQUESTED, R, Response): Phase.IDLE,
    (Phase.REQUESTED, I, DataStart): Phase.INITIATOR_DATA,
    (Phase.REQUESTED, R, DataStart): Phase.RESPONDER_DATA,
    (Phase.INITIATOR_DATA, I, Data): Phase.INITIATOR_DATA,
    (Phase.INITIATOR_DATA, I, DataEnd): Phase.DATA_DONE,
    # The responder may refuse data it is being sent (StoreFull...) before the data ends.
    (Phase.INITIATOR_DATA, R, Response): Phase.IDLE,
    (Phase.RESPONDER_DATA, R, Data): Phase.RESPONDER_DATA,
    (Phase.RESPONDER_DATA, R, DataEnd): Phase.DATA_DONE,
    (Phase.DATA_DONE, R, Response): Phase.IDLE,
    # Cancelling: data already in flight may still arrive; the responder's answer ends it.
    **{(phase, role, Cancel): Phase.CANCELLING for phase in _TRANSACTION_PHASES for role in (I, R)},
    (Phase.CANCELLING, I, Cancel): Phase.CANCELLING,
    (Phase.CANCELLING, R, Cancel): Phase.CANCELLING,
    (Phase.CANCELLING, I, DataStart): Phase.CANCELLING,
    (Phase.CANCELLING, R, DataStart): Phase.CANCELLING,
    (Phase.CANCELLING, I, Data): Phase.CANCELLING,
    (Phase.CANCELLING, R, Data): Phase.CANCELLING,
    (Phase.CANCELLING, I, DataEnd): Phase.CANCELLING,
    (Phase.CANCELLING, R, DataEnd): Phase.CANCELLING,
    (Phase.CANCELLING, R, Response): Phase.IDLE,
    # A cancel can cross the response on the wire: the transaction it names is already over.
    (Phase.IDLE, I, Cancel): Phase.IDLE,
    (Phase.IDLE, R, Cancel): Phase.IDLE,
    # PTP/IP lets a Cancel travel on the event connection too; it is about the command
    # connection's transaction and changes nothing here.
    (Phase.EVENT_CHANNEL, I, Cancel): Phase.EVENT_CHANNEL,
    (Phase.EVENT_CHANNEL, R, Cancel): Phase.EVENT_CHANNEL,
}

#: Events that may come at any time on an open connection and change no phase. Events may come
#: from the responder only; probes from either end (CIPA DC-X005 §2.3.11).
ANYTIME: Final[dict[type, tuple[Role, ...]]] = {
    Event: (R,),
    ProbeRequest: (I, R),
    ProbeResponse: (I, R),
}

#: Phases in which a connection is open for ANYTIME events.
OPEN_PHASES: Final = frozenset(
    {Phase.IDLE, Phase.EVENT_CHANNEL, Phase.CANCELLING, *_TRANSACTION_PHASES}
)


def next_phase(phase: Phase, sender: Role, event_type: type) -> Phase | None:
    """The phase after ``sender`` sends an event of ``event_type``; None if that is illegal."""
    if event_type in ANYTIME:
        return phase if phase in OPEN_PHASES and sender in ANYTIME[event_type] else None
    return TRANSITIONS.get((phase, sender, event_type))
