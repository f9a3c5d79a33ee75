"""The PTP connection state machine: one table for both roles (the h11 ``_state.py`` pattern).

A transaction moves through the same phases whichever end is looking at it; each transition is
keyed by (phase, the role that *sent* the event, the event's type). The initiator applies the table
to what it sends and what it receives, and so does the responder: both stay in lock step.

::

    CONNECTING --(the framing's handshake rows)--> IDLE, EVENT_CHANNEL or CLOSED

    IDLE --Request(I)--> REQUESTED --Response(R)---------------------------------------> IDLE
                         REQUESTED --DataStart(I)--> INITIATOR_DATA --DataEnd(I)--> DATA_DONE
                         REQUESTED --DataStart(R)--> RESPONDER_DATA --DataEnd(R)--> DATA_DONE
                                                                    DATA_DONE --Response(R)--> IDLE
    any transaction phase --Cancel(I or R)--> CANCELLING --Response(R)--> IDLE

The link-level handshake is not in this table: each framing contributes its own rows (its
:attr:`~ptpkit.core.framing.Framing.transitions`, with phases of its own enum) and its own
"anytime" packets, and :class:`StateTable` joins them to the generic rows below. USB has no
handshake and starts in IDLE; PTP/IP starts in CONNECTING and its first packet decides whether the
TCP connection is a command or an event channel (:mod:`ptpkit.core.ptpip`). Events, and a
framing's anytime packets (PTP/IP probes), are allowed in every open phase and change nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from ptpkit.core.events import Cancel, Data, DataEnd, DataStart, Event, Request, Response


class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"

    # Members are singletons compared by identity: hashed by identity too, in C. The state
    # table is looked up by (phase, role, event type) for every event a connection sends or
    # receives, and Enum's own __hash__ (hash of the name) is a Python call each time.
    __hash__ = object.__hash__


class Phase(enum.Enum):
    #: A framing with a handshake starts here; its own phases lead on to IDLE, EVENT_CHANNEL
    #: or CLOSED.
    CONNECTING = "connecting"
    IDLE = "idle"
    EVENT_CHANNEL = "event channel"
    REQUESTED = "request sent, awaiting data or response"
    INITIATOR_DATA = "data phase from the initiator"
    RESPONDER_DATA = "data phase from the responder"
    DATA_DONE = "data phase done, awaiting response"
    CANCELLING = "cancelling"
    CLOSED = "closed"
    BROKEN = "broken by a protocol error"

    __hash__ = object.__hash__  # as Role's


I: Final = Role.INITIATOR
R: Final = Role.RESPONDER

_TRANSACTION_PHASES: Final = (
    Phase.REQUESTED,
    Phase.INITIATOR_DATA,
    Phase.RESPONDER_DATA,
    Phase.DATA_DONE,
)

#: A phase of the generic table or of a framing's handshake (an enum of the framing's own).
AnyPhase = enum.Enum
#: A row key: (phase, the role that sent the event, the event's type).
TransitionKey = tuple[AnyPhase, Role, type]

TRANSITIONS: Final[dict[TransitionKey, AnyPhase]] = {
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
    # A Cancel may travel on the event channel too (PTP/IP allows it); it is about the command
    # channel's transaction and changes nothing here.
    (Phase.EVENT_CHANNEL, I, Cancel): Phase.EVENT_CHANNEL,
    (Phase.EVENT_CHANNEL, R, Cancel): Phase.EVENT_CHANNEL,
}

#: Events that may come at any time on an open connection and change no phase. Events may come
#: from the responder only. Framings add their own (PTP/IP's probes).
ANYTIME: Final[dict[type, tuple[Role, ...]]] = {
    Event: (R,),
}

#: Phases in which a connection is open for ANYTIME events.
OPEN_PHASES: Final = frozenset(
    {Phase.IDLE, Phase.EVENT_CHANNEL, Phase.CANCELLING, *_TRANSACTION_PHASES}
)


class StateTable:
    """The generic rows joined with one framing's link-level rows.

    A framing may only add rows: one that would change a generic row (say, let a Request in
    during a data phase) is refused, so no framing can loosen the rules of a transaction.
    """

    def __init__(
        self,
        transitions: Mapping[TransitionKey, AnyPhase] | None = None,
        anytime: Mapping[type, tuple[Role, ...]] | None = None,
    ) -> None:
        self._sources = (transitions, anytime)
        link = dict(transitions or {})
        link_anytime = dict(anytime or {})
        clash = [key for key in link if key in TRANSITIONS] + [
            kind for kind in link_anytime if kind in ANYTIME
        ]
        if clash:
            raise ValueError(f"a framing cannot redefine generic transitions: {clash!r}")
        self.transitions: Final = {**TRANSITIONS, **link}
        self.anytime: Final = {**ANYTIME, **link_anytime}

    def made_from(
        self,
        transitions: Mapping[TransitionKey, AnyPhase] | None,
        anytime: Mapping[type, tuple[Role, ...]] | None,
    ) -> bool:
        """Whether this table joins exactly these row objects (so it can be reused for them)."""
        return self._sources[0] is transitions and self._sources[1] is anytime

    def next_phase(self, phase: AnyPhase, sender: Role, event_type: type) -> AnyPhase | None:
        """The phase after ``sender`` sends an event of ``event_type``; None if that is illegal."""
        roles = self.anytime.get(event_type)
        if roles is not None:
            return phase if phase in OPEN_PHASES and sender in roles else None
        return self.transitions.get((phase, sender, event_type))


GENERIC_TABLE: Final = StateTable()


def next_phase(phase: AnyPhase, sender: Role, event_type: type) -> AnyPhase | None:
    """The generic table alone (a framing without a handshake, USB)."""
    return GENERIC_TABLE.next_phase(phase, sender, event_type)
