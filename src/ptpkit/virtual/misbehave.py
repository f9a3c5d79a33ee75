"""A virtual camera that misbehaves on purpose: ``ptpkit virtual serve --misbehave MODE,...``.

A camera is untrusted input (libgphoto2 took eight CVEs in 2026 for parsers that trusted device
data). Each mode makes the virtual camera break the rules in one way, so that clients (ptpkit's
own, or any other) can be tested against it:

======================  ==========================================================================
absurd-length           the data phase of GetObjectHandles claims 0xFFFFFFF0 bytes
absurd-count            GetObjectHandles' array claims 0xFFFFFFF0 handles
absurd-string           GetObjectInfo's file name claims 255 characters and has 3
short-object-info       GetObjectInfo's dataset ends early at a field boundary, as some cameras
                        send it: after the file name, after CaptureDate or with no Keywords
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
chatter                 (PTP/IP) GetObject is never answered; meanwhile, every tick, a
                        ProbeRequest on the command connection and an event on the event one
trickle                 (PTP/IP) GetObject's data comes one byte per tick, for ever
ignore-probes           ProbeRequest is never answered (libgphoto2 never answers one); commands
                        are served as usual
handshake-stall         (PTP/IP) InitCommandAck never comes (a camera waiting for its user)
handshake-trickle       (PTP/IP) InitCommandAck comes one byte per tick
slow-accept[=S]         (PTP/IP) InitCommandAck comes after S seconds (default 3): a camera whose
                        user accepts this computer
oversize                GetObject's data phase announces and sends 4 KiB more than the object
slow-reader[=N]         (PTP/IP) while the client sends a data phase (SendObject), the camera
                        reads its command connection N bytes per tick (default 1)
wrong-storage-id        GetObjectInfo names storage 0x00020001, which the camera does not have
======================  ==========================================================================

``tick=S`` sets the tick of the timed modes (default 1 s; tests use less).
"""

from __future__ import annotations

import enum
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ptpkit._sync import Latch
from ptpkit.codes.common import Ec, Op
from ptpkit.core.events import Event
from ptpkit.core.framing import Framing
from ptpkit.core.ptpip import PacketType, PtpIpFraming
from ptpkit.core.state import AnyPhase, Phase
from ptpkit.core.usb import ContainerType

#: How many events ``event-flood`` sends.
FLOOD_EVENTS: Final = 100_000
ABSURD: Final = 0xFFFFFFF0
#: Bytes ``oversize`` sends past the object's end.
OVERSIZE_EXTRA: Final = 4096
#: The storage id ``wrong-storage-id`` puts in every ObjectInfo.
WRONG_STORAGE_ID: Final = 0x00020001


class Mode(enum.Enum):
    ABSURD_LENGTH = "absurd-length"
    ABSURD_COUNT = "absurd-count"
    ABSURD_STRING = "absurd-string"
    SHORT_OBJECT_INFO = "short-object-info"
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
    CHATTER = "chatter"
    TRICKLE = "trickle"
    IGNORE_PROBES = "ignore-probes"
    HANDSHAKE_STALL = "handshake-stall"
    HANDSHAKE_TRICKLE = "handshake-trickle"
    SLOW_ACCEPT = "slow-accept"
    OVERSIZE = "oversize"
    SLOW_READER = "slow-reader"
    WRONG_STORAGE_ID = "wrong-storage-id"


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
    #: The period of the timed modes (chatter, trickle, handshake-trickle).
    tick_s: float = 1.0
    #: How long ``slow-accept`` takes to accept this computer.
    accept_delay_s: float = 3.0
    #: Bytes ``slow-reader`` reads per tick of a data phase from the client.
    slow_read_bytes: int = 1
    _busy_counts: dict[int, int] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def parse(cls, text: str) -> Misbehavior:
        """From ``MODE[,MODE...]`` (``busy=5`` sets the number of busy answers, ``slow-accept=2``
        the delay, ``tick=0.1`` the period of the timed modes)."""
        modes = set()
        made = cls()
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name == "tick":
                made.tick_s = _seconds(name, value)
                continue
            try:
                mode = Mode(name)
            except ValueError:
                known = ", ".join(m.value for m in Mode)
                raise ValueError(f"unknown misbehaviour {name!r}; known: {known}, tick") from None
            if value:
                if mode is Mode.BUSY:
                    made.busy_tries = int(value)
                elif mode is Mode.SLOW_ACCEPT:
                    made.accept_delay_s = _seconds(name, value)
                elif mode is Mode.SLOW_READER:
                    made.slow_read_bytes = _count(name, value)
                else:
                    raise ValueError(f"{name} takes no value")
            modes.add(mode)
        made.modes = frozenset(modes)
        return made

    def __contains__(self, mode: Mode) -> bool:
        return mode in self.modes

    def read_budget(self, phase: AnyPhase) -> int | None:
        """``slow-reader``: how many bytes the server may read now (None: as many as came),
        given the phase of the session's transaction; it waits a tick after such a read."""
        if Mode.SLOW_READER in self.modes and phase is Phase.INITIATOR_DATA:
            return self.slow_read_bytes
        return None

    @property
    def ignores_probes(self) -> bool:
        """``ignore-probes``: ProbeRequest goes unanswered on every connection."""
        return Mode.IGNORE_PROBES in self.modes

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
        # Sixteen events, each repeated (Events are frozen: one object stands for all its
        # copies). Making 100,000 Events took 0.17 s in the thread that sends OpenSession's
        # response after it, enough on a loaded machine to push that response past a client's
        # 1.5 s timeout; a camera answers OpenSession first, and the flood follows.
        kinds = [
            Event(code=Ec.DEVICE_PROP_CHANGED, params=(0x5001 + index,)) for index in range(16)
        ]
        return [kinds[index % 16] for index in range(self.flood_events)]


def _count(name: str, value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: not a whole number") from None
    if not 0 < count <= 1 << 30:
        raise ValueError(f"{name}={value!r}: give a number between 1 and {1 << 30}")
    return count


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r}: not a number of seconds") from None
    if not 0 < seconds < 86400:
        raise ValueError(f"{name}={value!r}: give seconds between 0 and 86400")
    return seconds


# -- timed misbehaviour --------------------------------------------------------------------------


def every(interval_s: float, tick: Callable[[], bool], stop: Callable[[], bool]) -> None:
    """Call ``tick`` every ``interval_s`` on a daemon thread, until it returns False or ``stop``
    says so (the session closed)."""

    def run() -> None:
        while True:
            time.sleep(interval_s)
            if stop() or not tick():
                return

    threading.Thread(target=run, name="ptpkit-misbehave", daemon=True).start()


def _client_gone(sock: socket.socket, wait_s: float) -> bool:
    """Wait up to ``wait_s`` reading (and dropping) what the client sends; True once it hung
    up."""
    try:
        readable, _, _ = select.select([sock], [], [], wait_s)
        return bool(readable) and not sock.recv(4096)
    except (OSError, ValueError):
        return True


def send_handshake_answer(
    misbehavior: Misbehavior, sock: socket.socket, answer: bytes, closed: Latch
) -> bool:
    """Send InitCommandAck (``answer``) as the handshake modes say; False when it was not sent
    (the client gave up, or the server closed)."""
    if Mode.HANDSHAKE_STALL in misbehavior:
        while not closed.is_set():
            if _client_gone(sock, 0.2):
                break
        return False
    if Mode.SLOW_ACCEPT in misbehavior:
        until = time.monotonic() + misbehavior.accept_delay_s
        while (left := until - time.monotonic()) > 0:
            if closed.is_set() or _client_gone(sock, min(left, 0.2)):
                return False
    pieces = [answer]
    if Mode.HANDSHAKE_TRICKLE in misbehavior:
        pieces = [answer[i : i + 1] for i in range(len(answer))]
    for index, piece in enumerate(pieces):
        if index and (closed.is_set() or _client_gone(sock, misbehavior.tick_s)):
            return False
        try:
            sock.sendall(piece)
        except OSError:
            return False
    return True


# -- wire-level corruption -----------------------------------------------------------------------
#
# These build bytes the core would refuse to send (it keeps a well-behaved responder honest), so a
# misbehaving reply is assembled here from the framing's own header layouts.

_USB_HEADER = struct.Struct("<IHHI")


def _containers(framing: Framing) -> bool:
    """Whether ``framing`` carries USB containers: USB itself, and Fujifilm's PTP/IP variant
    (USB containers over TCP); only standard PTP/IP has packets of its own."""
    return not isinstance(framing, PtpIpFraming)


_PTPIP_HEADER = struct.Struct("<II")


def data_header(
    framing: Framing, code: int, tid: int, payload: int, *, absurd: bool = False
) -> bytes:
    """The start of a data phase of ``payload`` bytes, or claiming 0xFFFFFFF0 when ``absurd``."""
    if _containers(framing):
        length = ABSURD if absurd else 12 + payload
        return _USB_HEADER.pack(length, ContainerType.DATA, code, tid)
    total = ABSURD if absurd else payload
    return _PTPIP_HEADER.pack(20, PacketType.START_DATA) + struct.pack("<IQ", tid, total)


def data_body(framing: Framing, tid: int, chunk: bytes, *, last: bool) -> bytes:
    """Payload bytes (PTP/IP: in a Data or EndData packet; USB: as they are)."""
    if _containers(framing):
        return chunk
    ptype = PacketType.END_DATA if last else PacketType.DATA
    return _PTPIP_HEADER.pack(12 + len(chunk), ptype) + struct.pack("<I", tid) + chunk


def response(framing: Framing, code: int, tid: int) -> bytes:
    if _containers(framing):
        return _USB_HEADER.pack(12, ContainerType.RESPONSE, code, tid)
    return _PTPIP_HEADER.pack(14, PacketType.OPERATION_RESPONSE) + struct.pack("<HI", code, tid)


def probe_request(framing: Framing) -> bytes:
    """(PTP/IP) A ProbeRequest packet; USB has none (empty)."""
    if _containers(framing):
        return b""
    return _PTPIP_HEADER.pack(8, PacketType.PROBE_REQUEST)


def data_packet_header(tid: int, payload: int) -> bytes:
    """(PTP/IP) The header of a Data packet that will carry ``payload`` bytes."""
    return _PTPIP_HEADER.pack(12 + payload, PacketType.DATA) + struct.pack("<I", tid)


def huge_packet_header() -> bytes:
    """(PTP/IP) An OperationResponse header that claims 0xFFFFFFF0 bytes."""
    return _PTPIP_HEADER.pack(ABSURD, PacketType.OPERATION_RESPONSE)


#: ObjectInfo's fixed fields end here (ISO 15740 §5.5.2); the four strings follow.
_OBJECT_INFO_FIXED: Final = 52


def short_object_info(data: bytes, handle: int) -> bytes:
    """A whole ObjectInfo ended early at a field boundary (``short-object-info``): with its file
    name and no dates, with CaptureDate only, or without Keywords, in turn by ``handle``.
    libgphoto2 ptp_unpack_OI reads such datasets (it never reads Keywords)."""
    end = _OBJECT_INFO_FIXED
    for _ in range(1 + handle % 3):
        if end >= len(data):
            break
        end += 1 + 2 * data[end]  # the count byte, then that many UTF-16 units
    return data[:end]
