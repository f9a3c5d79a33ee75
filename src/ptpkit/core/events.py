"""What a PTP connection says, independent of the wire: requests, data, responses, events.

Both framings (USB containers and PTP/IP packets) decode into these events and encode from them,
and both roles (initiator and responder) exchange them. PTP/IP's handshake and probe packets are
link-level events of their own, defined in :mod:`ptpkit.core.ptpip`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from ptpkit.core.buffer import BytesLike

#: The largest number of parameters a request or response may carry (ISO 15740 §9.3).
MAX_PARAMS: Final = 5

#: Transaction id of a request outside a session (GetDeviceInfo) and of OpenSession itself.
SESSIONLESS_TRANSACTION_ID: Final = 0x00000000
#: Transaction id of an event that is not about any transaction.
NO_TRANSACTION_ID: Final = 0xFFFFFFFF


class DataPhase(enum.IntEnum):
    """Who sends data in a transaction. The values are PTP/IP's DataPhaseInfo (CIPA DC-X005)."""

    NONE_OR_IN = 1  # no data phase, or data from the responder
    OUT = 2  # data from the initiator
    UNKNOWN = 3


class _NeedData:
    """Returned by ``next_event()`` when more bytes must arrive first (h11's NEED_DATA)."""

    _instance: _NeedData | None = None

    def __new__(cls) -> _NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


@dataclass(frozen=True, kw_only=True, slots=True)
class Request:
    """An operation request from the initiator."""

    code: int
    transaction_id: int
    params: tuple[int, ...] = ()
    #: PTP/IP carries this on the wire; over USB it is known only from the operation.
    data_phase: DataPhase = DataPhase.NONE_OR_IN


@dataclass(frozen=True, kw_only=True, slots=True)
class DataStart:
    """The start of a data phase, in either direction."""

    transaction_id: int
    #: Bytes that will follow; None when the sender did not say (a USB container of 4 GiB or more
    #: carries 0xFFFFFFFF: read until the transfer ends).
    total_bytes: int | None
    #: USB data containers repeat the operation code; PTP/IP's StartData does not (0 then).
    code: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Data:
    """A piece of a data phase.

    A received chunk may be a view into the buffer that was passed to ``receive_data()``: it is
    valid until the next ``receive_data()`` call, so consume it (write it to the sink) at once.
    """

    transaction_id: int
    chunk: BytesLike


@dataclass(frozen=True, kw_only=True, slots=True)
class DataEnd:
    """The data phase is complete (produced by the receiving side; senders end by byte count)."""

    transaction_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Response:
    """The responder's answer that ends a transaction."""

    code: int
    transaction_id: int
    params: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """An asynchronous event from the responder (interrupt endpoint or PTP/IP event channel)."""

    code: int
    transaction_id: int = NO_TRANSACTION_ID
    params: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Cancel:
    """A request to cancel a transaction (USB class request 0x64, or a PTP/IP Cancel packet)."""

    transaction_id: int
