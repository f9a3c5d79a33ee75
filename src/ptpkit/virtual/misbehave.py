"""A virtual camera that misbehaves on purpose: ``ptpkit virtual serve --misbehave MODE,...``.

A camera is untrusted input (libgphoto2 took eight CVEs in 2026 for parsers that trusted device
data). Each mode makes the virtual camera break the rules in one way, so that clients (ptpkit's
own, or any other) can be tested against it:

======================  ==========================================================================
absurd-length           the data phase of GetObjectHandles claims 0xFFFFFFF0 bytes
absurd-count            GetObjectHandles' array claims 0xFFFFFFF0 handles
absurd-string           GetObjectInfo's file name claims 255 characters and has 3
huge-packet             (PTP/IP) the response to GetStorageIDs claims a 0xFFFFFFF0-byte packet
truncated               GetObject's data phase ends at half the object
truncated-packet        (PTP/IP) GetObject's data packet stops half way and the link closes
wrong-tid               responses to GetStorageIDs carry the wrong transaction id
early-response          GetObject answers OK halfway through its data phase
stall                   GetObject's data stops halfway and nothing more comes (USB: a stalled pipe)
disconnect              GetObject's data stops halfway and the camera hangs up (USB: unplugged)
event-flood             100,000 events right after OpenSession
hostile-names           objects named ../escape, a/b, a\\b, NUL, control characters, 254
                        characters, duplicates, lone surrogates, . and ..
busy                    every operation answers DeviceBusy a few times before it works
init-fail               (PTP/IP) InitCommandRequest is answered with InitFail (not paired)
wrong-storage-id        GetObjectInfo names storage 0x00020001, which the camera does not have
======================  ==========================================================================
"""

from __future__ import annotations

import enum
import struct
import threading
from dataclasses import dataclass, field
from typing import Final

from ptpkit.codes.common import Ec, Op
from ptpkit.core.events import Event
from ptpkit.core.ptpip import PacketType, PtpIpFraming
from ptpkit.core.usb import ContainerType, UsbFraming

#: How many events ``event-flood`` sends.
FLOOD_EVENTS: Final = 100_000
ABSURD: Final = 0xFFFFFFF0
#: The storage id ``wrong-storage-id`` puts in every ObjectInfo.
WRONG_STORAGE_ID: Final = 0x00020001


class Mode(enum.Enum):
    ABSURD_LENGTH = "absurd-length"
    ABSURD_COUNT = "absurd-count"
    ABSURD_STRING = "absurd-string"
    HUGE_PACKET = "huge-packet"
    TRUNCATED = "truncated"
    TRUNCATED_PACKET = "truncated-packet"
    WRONG_TID = "wrong-tid"
    EARLY_RESPONSE = "early-response"
    STALL = "stall"
    DISCONNECT = "disconnect"
    EVENT_FLOOD = "event-flood"
    HOSTILE_NAMES = "hostile-names"
    BUSY = "busy"
    INIT_FAIL = "init-fail"
    WRONG_STORAGE_ID = "wrong-storage-id"


class LinkFault(Exception):
    """Raised by a misbehaving session's output for what only the link can do."""

    def __init__(self, action: str) -> None:
        super().__init__(action)
        #: "stall" (stop sending, stay connected) or "disconnect" (hang up).
        self.action = action


#: Names the ``hostile-names`` mode gives objects (generated content, any name is possible).
HOSTILE_NAMES: Final = (
    "../escape.jpg",
    "../../../../etc/passwd",
    "a/b.jpg",
    "a\\b.jpg",
    "nul\x00hidden.jpg",
    "bell\x07 and \x1b[31mred.jpg",
    "lone \ud800 surrogate.jpg",
    "\u4e2d" * 250 + ".JPG",  # 254 UTF-16 units, 754 bytes of UTF-8
    "DUPLICATE.JPG",
    "DUPLICATE.JPG",
    ".",
    "..",
    "",
    "trailing dots...",
)


@dataclass
class Misbehavior:
    """What the virtual camera does wrong, and how often."""

    modes: frozenset[Mode] = frozenset()
    #: DeviceBusy answers before each operation works (``busy``).
    busy_tries: int = 3
    flood_events: int = FLOOD_EVENTS
    _busy_counts: dict[int, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def parse(cls, text: str) -> Misbehavior:
        """From ``MODE[,MODE...]`` (``busy=5`` sets the number of busy answers)."""
        modes = set()
        busy_tries = 3
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            try:
                mode = Mode(name)
            except ValueError:
                known = ", ".join(m.value for m in Mode)
                raise ValueError(f"unknown misbehaviour {name!r}; known: {known}") from None
            if value:
                if mode is not Mode.BUSY:
                    raise ValueError(f"{name} takes no value")
                busy_tries = int(value)
            modes.add(mode)
        return cls(modes=frozenset(modes), busy_tries=busy_tries)

    def __contains__(self, mode: Mode) -> bool:
        return mode in self.modes

    def busy_now(self, code: int) -> bool:
        """Whether this request of ``code`` is answered DeviceBusy (then it works)."""
        if Mode.BUSY not in self.modes or code in (Op.GET_DEVICE_INFO, Op.OPEN_SESSION):
            return False
        with self._lock:
            count = self._busy_counts.get(code, 0)
            if count < self.busy_tries:
                self._busy_counts[code] = count + 1
                return True
            self._busy_counts[code] = 0
            return False

    def flood_now(self) -> list[Event]:
        """The events of an event flood (DevicePropChanged over and over), if it is on."""
        if Mode.EVENT_FLOOD not in self.modes:
            return []
        return [
            Event(code=Ec.DEVICE_PROP_CHANGED, params=(0x5001 + index % 16,))
            for index in range(self.flood_events)
        ]


# -- wire-level corruption -----------------------------------------------------------------------
#
# These build bytes the core would refuse to send (it keeps a well-behaved responder honest), so a
# misbehaving reply is assembled here from the framing's own header layouts.

_USB_HEADER = struct.Struct("<IHHI")
_PTPIP_HEADER = struct.Struct("<II")


def data_header(
    framing: UsbFraming | PtpIpFraming, code: int, tid: int, payload: int, *, absurd: bool = False
) -> bytes:
    """The start of a data phase of ``payload`` bytes, or claiming 0xFFFFFFF0 when ``absurd``."""
    if isinstance(framing, UsbFraming):
        length = ABSURD if absurd else 12 + payload
        return _USB_HEADER.pack(length, ContainerType.DATA, code, tid)
    total = ABSURD if absurd else payload
    return _PTPIP_HEADER.pack(20, PacketType.START_DATA) + struct.pack("<IQ", tid, total)


def data_body(framing: UsbFraming | PtpIpFraming, tid: int, chunk: bytes, *, last: bool) -> bytes:
    """Payload bytes (PTP/IP: in a Data or EndData packet; USB: as they are)."""
    if isinstance(framing, UsbFraming):
        return chunk
    ptype = PacketType.END_DATA if last else PacketType.DATA
    return _PTPIP_HEADER.pack(12 + len(chunk), ptype) + struct.pack("<I", tid) + chunk


def response(framing: UsbFraming | PtpIpFraming, code: int, tid: int) -> bytes:
    if isinstance(framing, UsbFraming):
        return _USB_HEADER.pack(12, ContainerType.RESPONSE, code, tid)
    return _PTPIP_HEADER.pack(14, PacketType.OPERATION_RESPONSE) + struct.pack("<HI", code, tid)


def huge_packet_header() -> bytes:
    """(PTP/IP) An OperationResponse header that claims 0xFFFFFFF0 bytes."""
    return _PTPIP_HEADER.pack(ABSURD, PacketType.OPERATION_RESPONSE)
