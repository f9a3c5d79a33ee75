"""What a framing is: the open protocol every wire format of PTP implements.

A framing turns a byte stream into transport-neutral events (:mod:`ptpkit.core.events`) and back,
and brings its own link level: packets that are not PTP transactions (PTP/IP's handshake and
probes) and the rows of the state table those packets move through. :class:`~ptpkit.core.
connection.Connection` knows only this protocol, so a new framing (Fujifilm's PTP/IP variant,
a test's toy framing) plugs in without an edit to the connection or to the generic table.

::

    class MyFraming:
        name = "mine"
        initial_phase = Phase.CONNECTING          # or Phase.IDLE: no handshake
        transitions = {(Phase.CONNECTING, Role.INITIATOR, Hello): Phase.IDLE}
        anytime = {}                              # link packets allowed in every open phase
        def encode(self, event, *, final=False): ...
        def encode_empty_end(self, transaction_id): ...
        def receive_data(self, data, *, transfer_ended=False): ...
        def next_event(self): ...                 # an event, a LinkEvent, or NEED_DATA
        def link_event(self, sender, event): ...  # bookkeeping once a link packet is legal
        def reset(self): ...

Link packets subclass :class:`LinkEvent`, so the connection can tell them from PTP's own events
without knowing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ptpkit.core.buffer import BytesLike
from ptpkit.core.events import (
    Cancel,
    Data,
    DataEnd,
    DataStart,
    Event,
    Request,
    Response,
    _NeedData,
)
from ptpkit.core.state import AnyPhase, Role, TransitionKey


class LinkEvent:
    """Base of a framing's link-level packets (handshake, probes): not part of a transaction."""

    __slots__ = ()


#: What a connection yields: PTP's events or a framing's link packets.
ConnectionEvent = Request | DataStart | Data | DataEnd | Response | Event | Cancel | LinkEvent
#: What a connection sends (a sender ends a data phase by its byte count, not with DataEnd).
OutgoingEvent = Request | DataStart | Data | Response | Event | Cancel | LinkEvent


class Framing(Protocol):
    """One wire format: codec, buffered decoder, and the link-level rows of the state table."""

    @property
    def name(self) -> str:
        """A short name for messages ("usb", "ptpip")."""

    @property
    def initial_phase(self) -> AnyPhase:
        """Where a new connection starts: IDLE, or CONNECTING when a handshake comes first. It
        may differ per instance: Fujifilm's event connection has no handshake (no
        InitEventRequest, vendors.md §4.1), so its framing would start in EVENT_CHANNEL while
        the command connection's starts in CONNECTING."""

    @property
    def transitions(self) -> Mapping[TransitionKey, AnyPhase]:
        """The framing's own rows (its handshake), joined to the generic table's. Its phases
        may be members of an enum of its own; they must lead to IDLE or EVENT_CHANNEL (or
        CLOSED) for transactions or events to flow."""

    @property
    def anytime(self) -> Mapping[type, tuple[Role, ...]]:
        """Link packets allowed in every open phase, and who may send them (PTP/IP probes)."""

    def encode(self, event: object, *, final: bool = False) -> list[BytesLike]:
        """The bytes of one event; a ``Data`` chunk is the last of its phase when ``final``.
        An event the framing cannot carry is a LocalProtocolError."""

    def encode_empty_end(self, transaction_id: int) -> list[BytesLike]:
        """What follows the DataStart of a zero-length data phase (may be nothing)."""

    def receive_data(self, data: BytesLike, *, transfer_ended: bool = False) -> None:
        """Bytes from the peer (``transfer_ended``: a USB read ended with a short packet)."""

    def next_event(self) -> ConnectionEvent | _NeedData:
        """The next decoded event, or NEED_DATA. Bad bytes raise RemoteProtocolError."""

    def link_event(self, sender: Role, event: LinkEvent) -> None:
        """A link packet passed the table (sent or received): keep what it says (PTP/IP's
        connection number). Called after the transition is known to be legal."""

    def reset(self) -> None:
        """Forget partial input (a cancelled transfer, a device reset)."""
