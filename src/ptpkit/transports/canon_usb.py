"""Canon's pre-PTP USB protocol over PyUSB: the I/O of a PowerShot link (``canon-usb:`` URLs).

The bytes are :mod:`ptpkit.core.canon_usb`'s; this module only moves them (vendors.md section 5,
libgphoto2 ``camlibs/canon/usb.c``, quoted as ``lgc usb.c``):

- **wake-up** (:meth:`CanonUsbLink.open`, lgc usb.c canon_usb_camera_init and canon_usb_init):
  control read 0x55 (camstat), control read 0x01 (the 0x58-byte init packet, whose u32 at 0x4C is
  the transfer length), then for an active camera ('A') control read 0x04, for a woken one ('C')
  control write 0x11, the 0x44-byte bulk answer (0x40 + 4 on most classes, "Tx" accepted), the
  0x10-byte interrupt message; IdentifyCamera with retries (100 ms doubling, 5 tries), the key
  lock of the model's protocol class, and PowerStatus.
- **fixed dialogue** (:meth:`CanonUsbLink.dialogue`, lgc usb.c canon_usb_dialogue_full): the
  command block as one vendor control write (wValue 0x10), the reply read as the length rounded
  down to 0x40 then the rest (class 6 and replies over 0x400: one read), the length the camera
  reports trusted over the table's; serial number, cmd1 and cmd2 of the reply checked; a status
  other than 0 raised as :class:`CanonStatusError` with its text.
- **variable ("long") dialogue** (:meth:`CanonUsbLink.long_dialogue` / :meth:`stream`, lgc usb.c
  canon_usb_long_dialogue): the 0x40-byte header (u32 at 6 = the data length, refused above the
  caller's ``max_bytes``), then the data in reads of the init packet's transfer length rounded
  down to 0x40, the remainder last; handed on chunk by chunk (memory bounded by one read).
- **interrupt messages** (:meth:`CanonUsbLink.read_interrupt`): remote capture's notifications.

One deadline bounds each call (``timeout_s``): every USB transfer gets what is left of it, so a
camera that answers a byte at a time fails when the call's time is up, not a read's. Each command
is logged at DEBUG by name on ``ptpkit.canon``; the bytes of every control transfer, bulk and
interrupt read at TRACE (``-vvv``), in the engine's hex-dump format.

Device selection (``canon-usb:``, ``canon-usb:BUS,DEV``, ``canon-usb:VID:PID``,
``canon-usb:serial=...``), backends, error mapping and the permission / busy messages are the USB
transport's (:mod:`ptpkit.transports.usb`): a PowerShot is listed there by its ids
(:mod:`ptpkit.codes.powershot_models`) with kind "canon", never opened as PTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final

from ptpkit import _log
from ptpkit.codes.powershot_models import PowerShotModel, model_for_ids
from ptpkit.core import canon_usb as cu
from ptpkit.core import canon_usb_requests as cr
from ptpkit.core.buffer import BytesLike
from ptpkit.errors import (
    BusyError,
    ClosedError,
    ConnectError,
    DecodeError,
    PTPError,
    RemoteProtocolError,
    ResponseError,
    TransportError,
    TransportTimeout,
    UsageError,
)
from ptpkit.timing import SYSTEM_CLOCK, Clock
from ptpkit.transports.usb import (
    UsbCamera,
    claim_interface,
    endpoints,
    is_timeout,
    map_usb_error,
    parse_url,
    release_interface,
    resolve_backend,
    select_camera,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "CanonStatusError",
    "CanonUsbLink",
    "VariableReply",
    "open_url",
]

log = _log.get_logger("ptpkit.canon")
TRACE: Final = _log.TRACE

#: A call's deadline when the caller gives none.
DEFAULT_TIMEOUT_S: Final = 20.0
#: IdentifyCamera during init: the first try's timeout, doubled per retry, and the tries
#: (lgc usb.h IDENTIFY_INIT_TIMEOUT, IDENTIFY_MAX_ATTEMPTS).
IDENTIFY_INIT_TIMEOUT_S: Final = 0.1
IDENTIFY_MAX_ATTEMPTS: Final = 5
#: lgc canon_usb_dialogue_full reads replies up to this long in two pieces, longer in one.
_SPLIT_READ_LIMIT: Final = 0x400
#: A fixed reply the camera says is longer than this is refused (the largest in the command
#: table is GetPicAbilities2's 0x474; libgphoto2's buffer is that size).
MAX_FIXED_REPLY_BYTES: Final = 0x474
#: The largest command payload libgphoto2 sends (its packet buffer is 1024 bytes with the header).
MAX_PAYLOAD_BYTES: Final = 1024 - cu.HEADER_BYTES
#: Class 6 ("new protocol", lgc canon.h CANON_CLASS_6): other command numbers and one-piece reads.
CLASS_6: Final = 6
#: lgc usb.c canon_usb_camera_init reads the post-init 0x44 bytes at once on this product too.
_PID_ONE_PIECE_INIT: Final = 0x30F2
#: Bytes per interrupt read (libgphoto2 asks 0x40; the messages are 0x10-0x17).
INTERRUPT_READ_BYTES: Final = 0x40


class CanonStatusError(ResponseError):
    """A PowerShot answered a command with a status other than 0 (lgc usb.c status table):
    ``code`` is the 32-bit status, ``name`` its text, ``operation_name`` the command's name."""

    def __init__(self, status: int, command: str) -> None:
        super().__init__(status, name=cu.status_text(status), operation_name=command)
        # ResponseError's text shows a PTP code's 4 digits; a Canon status has 8.
        self.args = (f"{command} failed: the camera answered 0x{status:08X} {self.name}",)


class _Deadline:
    """One call's deadline on the link's clock: each transfer gets what is left of it."""

    def __init__(self, clock: Clock, timeout_s: float | None, what: str) -> None:
        self._clock = clock
        self.timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        self._at = clock.monotonic() + self.timeout_s
        self.what = what

    def restart(self, timeout_s: float | None) -> None:
        self.timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        self._at = self._clock.monotonic() + self.timeout_s

    def remaining_ms(self) -> int:
        """Milliseconds left for the next transfer (at least 1: libusb's 0 waits for ever);
        TransportTimeout once the deadline has passed."""
        left = self._at - self._clock.monotonic()
        if left <= 0:
            raise self.expired()
        return max(1, int(left * 1000))

    def expired(self) -> TransportTimeout:
        return TransportTimeout(
            f"canon-usb: {self.what} did not finish within {self.timeout_s:g} s"
        )


class VariableReply:
    """A variable reply under way: its announced ``length`` and its data, read as ``chunks``
    is iterated (each chunk one bulk read). Closing the iterator early reads and drops the
    rest, so the link stays in step. The call's deadline covers the whole reply unless the
    caller moves it with :meth:`allow` (the PTP gateway passes on the engine's time, which
    moves with progress: ptpkit.client.engine's low-speed rule)."""

    __slots__ = ("_deadline", "chunks", "command", "length")

    def __init__(self, *, command: str, length: int, chunks: _Chunks, deadline: _Deadline) -> None:
        self.command = command
        self.length = length
        self.chunks = chunks
        self._deadline = deadline

    def allow(self, timeout_s: float | None) -> None:
        """The rest of the reply must come within ``timeout_s`` from now (None: the default)."""
        self._deadline.restart(timeout_s)

    def __repr__(self) -> str:
        return f"<VariableReply {self.command} {self.length} bytes>"


class _Chunks(Iterator[bytes]):
    """A variable reply's data, one bulk read per item: reads of the transfer length, the
    remainder last; a short read is taken and reading goes on (libgphoto2 only warns). Until
    its end or :meth:`close` (which reads and drops the rest, so the next command finds a
    quiet pipe) the link takes no other command: its bytes would come after these."""

    def __init__(self, link: CanonUsbLink, command: str, length: int, deadline: _Deadline) -> None:
        self._link = link
        self._command = command
        self._length = length
        self._deadline = deadline
        self.received = 0
        self._done = False

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        if self.received >= self._length:
            self._finish()
            raise StopIteration
        want = cu.long_read_bytes(
            self._length - self.received,
            self._link.xfer_bytes,
            new_protocol=self._link.protocol_class == CLASS_6,
        )
        try:
            with self._link._lock:
                chunk = self._link._bulk_read(want, self._deadline, f"{self._command} data")
        except BaseException:
            self._finish()
            raise
        if not chunk:
            self._finish()
            raise RemoteProtocolError(
                f"{self._command}: the data ended after {self.received} of {self._length} bytes"
            )
        self.received += len(chunk)
        return chunk

    def close(self) -> None:
        if self._done:
            return
        try:
            with contextlib.suppress(PTPError), self._link._lock:
                self._link._drop(self._length - self.received, self._deadline)
        finally:
            self._finish()

    def abandon(self) -> None:
        """Stop without reading the rest (the link is being closed: nothing follows)."""
        self._finish()

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            if self._link._reading is self:
                self._link._reading = None


class CanonUsbLink:
    """One PowerShot on USB, speaking Canon's native protocol (see the module's docstring).

    ``camera`` is the device as the USB transport found it; ``model`` its row of the model
    table (found from its ids when None). Thread-safe: one call at a time holds the link (the
    interrupt endpoint has a lock of its own)."""

    def __init__(
        self,
        camera: UsbCamera,
        *,
        model: PowerShotModel | None = None,
        url: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        device = camera.device
        found = model or model_for_ids(int(device.idVendor), int(device.idProduct))
        if found is None:
            raise ConnectError(
                f"USB device {camera.ids} is not a PowerShot that speaks Canon's native protocol"
            )
        self.camera = camera
        self.model: PowerShotModel = found
        self.url = url or f"canon-usb:{camera.bus},{camera.address}"
        self._clock = clock
        self._device = device
        self._lock = threading.RLock()
        self._interrupt_lock = threading.Lock()
        #: The variable reply whose data is still to be read (no command may go out before).
        self._reading: _Chunks | None = None
        self._claimed = False
        self._detached = False
        self._closed = False
        self._serial = 0
        self._bulk_in: Any = None
        self._bulk_out: Any = None
        self._interrupt_in: Any = None
        #: What the wake-up learnt: the camstat byte, the init packet, the first identity.
        self.camstat: cu.CamStat | None = None
        self.init_packet: cu.InitPacket | None = None
        self.identity: cu.Identity | None = None
        self.power: cu.PowerStatus | None = None
        #: The body's serial number (class 6 asks for it at wake-up: GetBodyID2).
        self.body_id: int | None = None
        #: Whether this link locked the camera's keys (libgphoto2's keys_locked).
        self.keys_locked = False
        #: The interrupt message of the wake-up (16 bytes), as read.
        self.wake_message: bytes = b""
        #: Runs after the link closes (a virtual camera made for the link is closed with it).
        self.on_close: Callable[[], None] | None = None

    @property
    def clock(self) -> Clock:
        """The clock the link's deadlines run on (a test's FakeClock)."""
        return self._clock

    @property
    def protocol_class(self) -> int:
        return self.model.protocol_class

    @property
    def xfer_bytes(self) -> int:
        """Bytes per bulk read of a variable reply: the init packet's transfer length rounded
        down to a multiple of 0x40 (lgc usb.c canon_usb_long_dialogue), at least 0x40."""
        length = self.init_packet.xfer_length if self.init_packet else cu.BULK_READ_BYTES
        return max(0x40, length - length % 0x40)

    # -- opening ---------------------------------------------------------------------------------

    def open(self, timeout_s: float | None = None) -> None:
        """Claim the interface and wake the camera up (lgc usb.c canon_usb_init)."""
        try:
            self._claim()
            deadline = _Deadline(self._clock, timeout_s, "waking the camera up")
            with self._lock:
                self._wake_up(deadline)
                self._identify_with_retries(deadline)
                if self.protocol_class == CLASS_6:
                    self._new_protocol_init(deadline)
                else:
                    self._lock_keys(deadline)
                self.power = self.power_status(timeout_s=self._left_s(deadline))
        except BaseException:
            self.close()
            raise
        log.debug(
            "%s: %s (%s), firmware %s, owner %r, transfer length 0x%x",
            self.url,
            self.identity.model if self.identity else "?",
            self.model.name,
            self.identity.firmware_text if self.identity else "?",
            self.identity.owner if self.identity else "",
            self.xfer_bytes,
        )

    def _left_s(self, deadline: _Deadline) -> float:
        return deadline.remaining_ms() / 1000

    def _claim(self) -> None:
        import usb.core  # noqa: PLC0415

        try:
            interface, self._detached = claim_interface(
                self._device, self.camera.interface, self.url
            )
            self._claimed = True
        except usb.core.USBError as exc:
            raise map_usb_error(exc, "opening the camera", self._device) from exc
        self._bulk_out, self._bulk_in, self._interrupt_in = endpoints(interface)
        if self._interrupt_in is None:
            raise ConnectError(f"{self.url}: the camera's interface has no interrupt endpoint")

    def _wake_up(self, deadline: _Deadline) -> None:
        """Steps 1-6 of vendors.md 5.3 (lgc usb.c canon_usb_camera_init)."""
        raw = self._control_in(cu.VALUE_CAMSTAT, cu.CAMSTAT_BYTES, deadline)
        try:
            camstat = cu.decode_camstat(raw)
        except DecodeError as exc:
            raise ConnectError(
                f"{self.url}: the camera's first answer is not understood: {exc}"
            ) from exc
        if camstat in (cu.CamStat.ERROR_I, cu.CamStat.ERROR_E):
            raise ConnectError(
                f"{self.url}: the camera reports an error at wake-up (camstat {camstat.value!r}); "
                "switch it off and on"
            )
        self.camstat = camstat
        log.debug(
            "%s: camstat %r (%s)",
            self.url,
            camstat.value,
            "already active" if camstat is cu.CamStat.ACTIVE else "woken up",
        )
        packet = cu.decode_init_packet(
            self._control_in(cu.VALUE_INIT_READ, cu.INIT_PACKET_BYTES, deadline)
        )
        self.init_packet = packet
        log.debug("%s: transfer length 0x%x", self.url, packet.xfer_length)
        if camstat is cu.CamStat.ACTIVE:
            self._control_in(cu.VALUE_ACTIVE_READ, cu.ACTIVE_READ_BYTES, deadline)
            return
        self._control_out(cu.VALUE_INIT_WRITE, cu.init_write_block(packet), deadline)
        if self.protocol_class != CLASS_6 and self.model.product_id != _PID_ONE_PIECE_INIT:
            # "the camera is picky at this stage and we must read 0x40 bytes and then read 0x4
            # bytes more" (lgc usb.c canon_usb_camera_init)
            first = self._bulk_read(0x40, deadline, "the init answer")
            if len(first) >= 4 and first[-4:] == cu.INIT_BULK_TX:
                log.debug("%s: init answer ends in 'Tx': ignored, as libgphoto2 does", self.url)
            elif len(first) != 0x40:
                raise ConnectError(
                    f"{self.url}: the init answer was {len(first)} bytes, not 0x40; "
                    "camera not operational"
                )
            else:
                more = cu.init_bulk_more(first)
                if more != 4:
                    log.debug("%s: the camera says %d more bytes; reading 4", self.url, more)
                try:
                    self._bulk_read(4, deadline, "the init answer's last 4 bytes")
                except TransportError as exc:
                    # libgphoto2: "Camera might still work though. Continuing."
                    log.debug("%s: the init answer's last 4 bytes: %s; continuing", self.url, exc)
        else:
            whole = self._bulk_read(cu.INIT_BULK_BYTES, deadline, "the init answer")
            if len(whole) != cu.INIT_BULK_BYTES:
                raise ConnectError(
                    f"{self.url}: the init answer was {len(whole)} bytes, not 0x44; "
                    "camera not operational"
                )
        # The 0x10-byte interrupt message (some models send 8 + 8).
        message = b""
        while len(message) < cu.INTERRUPT_BYTES:
            piece = self._interrupt_read(deadline.remaining_ms() / 1000)
            if piece is None:
                raise ConnectError(
                    f"{self.url}: the camera did not send its wake-up message on the interrupt "
                    f"endpoint ({len(message)} of 16 bytes came)"
                )
            message += piece
        if len(message) > cu.INTERRUPT_BYTES:
            log.debug("%s: wake-up message of %d bytes, expected 16", self.url, len(message))
        self.wake_message = message

    def _identify_with_retries(self, deadline: _Deadline) -> None:
        """IdentifyCamera, up to 5 times with 100 ms doubling: an active camera's first answer
        often lacks its header (lgc usb.c canon_usb_init; the Windows driver sends four)."""
        timeout_s = IDENTIFY_INIT_TIMEOUT_S
        last: PTPError | None = None
        for attempt in range(1, IDENTIFY_MAX_ATTEMPTS + 1):
            left = deadline.remaining_ms() / 1000
            try:
                self.identity = self.identify(timeout_s=min(timeout_s, left))
                return
            except (TransportError, RemoteProtocolError) as exc:
                if isinstance(exc, TransportError) and not isinstance(exc, TransportTimeout):
                    raise
                last = exc
                log.debug(
                    "%s: IdentifyCamera try %d/%d failed: %s",
                    self.url,
                    attempt,
                    IDENTIFY_MAX_ATTEMPTS,
                    exc,
                )
                timeout_s *= 2
        raise ConnectError(
            f"{self.url}: camera not ready, {IDENTIFY_MAX_ATTEMPTS} IdentifyCamera requests "
            f"failed: {last}"
        )

    def _new_protocol_init(self, deadline: _Deadline) -> None:
        """Class 6 after IdentifyCamera: GetBodyID2 (its failure ends the wake-up), then
        GetPicAbilities2 (whose failure does not); no key lock here (lgc usb.c canon_usb_init,
        "camera uses newer protocol")."""
        reply = self.dialogue("GetBodyID2", timeout_s=self._left_s(deadline))
        self.body_id = cu.decode_body_id(reply.data)
        log.debug("%s: body id %010u", self.url, self.body_id)
        try:
            self.dialogue("GetPicAbilities2", timeout_s=self._left_s(deadline))
        except CanonStatusError as exc:
            log.debug("%s: GetPicAbilities2: %s; continuing", self.url, exc)

    def _lock_keys(self, deadline: _Deadline, *, eos: bool = False) -> None:
        """The key lock of the model's class (lgc usb.c canon_usb_lock_keys; canon_usb_init
        skips it for class 4, whose keys lock before a release: ``eos``)."""
        cls = self.protocol_class
        timeout_s = self._left_s(deadline)
        if cls == 0 or (cls == 4 and not eos):
            return
        if cls == 4:
            self.dialogue("EOSLockKeys", (6).to_bytes(4, "little"), timeout_s=timeout_s)
            self.keys_locked = True
            return
        if cls in (1, 2, 3):
            # GetPicAbilities first; its length varies by model ("We will continue").
            try:
                self.dialogue("GetPicAbilities", timeout_s=timeout_s)
            except CanonStatusError as exc:
                log.debug("%s: GetPicAbilities: %s; continuing", self.url, exc)
            self.dialogue("GenericLockKeys", timeout_s=self._left_s(deadline))
        elif cls == 5:
            self.dialogue("GenericLockKeys", timeout_s=timeout_s)
        elif cls == CLASS_6:
            try:
                self.dialogue("GetPicAbilities2", timeout_s=timeout_s)
            except CanonStatusError as exc:
                log.debug("%s: GetPicAbilities2: %s; continuing", self.url, exc)
            self.dialogue("LockKeys2", (6).to_bytes(4, "little"), timeout_s=self._left_s(deadline))
        self.keys_locked = True

    def lock_keys(self, *, timeout_s: float | None = None) -> None:
        """Lock the camera's keys (and turn its LCD off) the way its class does; before a
        release on classes 4 and 6 (lgc canon.c canon_int_capture_image "Lock keys here for
        EOS")."""
        with self._lock:
            self._lock_keys(_Deadline(self._clock, timeout_s, "locking the keys"), eos=True)

    def unlock_keys(self, *, timeout_s: float | None = None) -> bool:
        """Unlock keys this link locked, where the class can (lgc usb.c canon_usb_unlock_keys:
        EOSUnlockKeys on class 4, UnlockKeys2 on class 6; the others cannot, or need not).
        libgphoto2 sends it when an EOS says its picture is written (interrupt 0x0E), after a
        failed capture and when it lets the camera go. True when the unlock was sent."""
        if not self.keys_locked:
            return False
        cls = self.protocol_class
        if cls not in (4, CLASS_6):
            log.debug("%s: class %d keys are not unlocked (libgphoto2 cannot)", self.url, cls)
            return False
        name = "EOSUnlockKeys" if cls == 4 else "UnlockKeys2"
        self.dialogue(name, timeout_s=timeout_s)
        self.keys_locked = False
        return True

    # -- commands of the wake-up that the API also uses -----------------------------------------

    def identify(self, *, timeout_s: float | None = None) -> cu.Identity:
        """IdentifyCamera; on class 6 the owner comes from GetOwner2 (lgc canon.c
        canon_int_identify_camera: "Need to get owner explicitly"). One deadline for both."""
        deadline = _Deadline(self._clock, timeout_s, "IdentifyCamera")
        reply = self.dialogue("IdentifyCamera", timeout_s=self._left_s(deadline))
        identity = cu.decode_identity(reply.data)
        if self.protocol_class != CLASS_6:
            return identity
        owner = cu.decode_owner(self.dialogue("GetOwner2", timeout_s=self._left_s(deadline)).data)
        return dataclasses.replace(identity, owner=owner)

    def power_status(self, *, timeout_s: float | None = None) -> cu.PowerStatus:
        name = "PowerStatus2" if self.protocol_class == CLASS_6 else "PowerStatus"
        return cu.decode_power_status(self.dialogue(name, timeout_s=timeout_s).data)

    # -- fixed dialogue --------------------------------------------------------------------------

    def command(self, name: str) -> cu.CommandSpec:
        try:
            return cu.lookup_command(name)
        except KeyError:
            raise UsageError(f"unknown PowerShot command {name!r}") from None

    def _next_serial(self) -> int:
        self._serial = (self._serial + 1) & 0xFFFFFFFF
        return self._serial

    def _send_command(self, spec: cu.CommandSpec, payload: bytes, deadline: _Deadline) -> int:
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise UsageError(
                f"{spec.name}: a payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}"
            )
        serial = self._next_serial()
        flags = 0
        if self.protocol_class == CLASS_6:
            # "New style of protocol is picky about this byte" (lgc canon_usb_dialogue_full).
            flags = 0x20 if spec.cmd3 == cu.VARIABLE else 0x10
        block = cu.encode_command(
            cu.Command(
                cmd1=spec.cmd1,
                cmd2=spec.cmd2,
                cmd3=spec.cmd3,
                serial=serial,
                flags=flags,
                payload=payload,
            )
        )
        log.debug(
            "-> %s (0x%02x 0x%02x 0x%03x) #%d, %d payload bytes",
            spec.name,
            spec.cmd1,
            spec.cmd2,
            spec.cmd3,
            serial,
            len(payload),
        )
        self._control_out(cu.VALUE_COMMAND, block, deadline)
        return serial

    def dialogue(
        self, command: str, payload: bytes = b"", *, timeout_s: float | None = None
    ) -> cu.Reply:
        """Send a command with a fixed reply and read the reply (lgc canon_usb_dialogue_full).
        Raises CanonStatusError for a status other than 0, RemoteProtocolError for a reply that
        is not this command's, TransportTimeout past ``timeout_s`` for the whole call."""
        spec = self.command(command)
        if spec.cmd3 != cu.FIXED:
            raise UsageError(f"{spec.name} has a variable reply: use long_dialogue()")
        reply_bytes = spec.reply_bytes
        if reply_bytes is None:
            # RemoteControl: the subcommand's reply length (lgc canon_usb_dialogue_full).
            if len(payload) < 4:
                raise UsageError(f"{spec.name} needs a subcommand in its payload")
            try:
                reply_bytes = cu.remote_reply_bytes(int.from_bytes(payload[:4], "little"))
            except KeyError:
                raise UsageError(f"{spec.name}: unknown subcommand {payload[:4].hex()}") from None
        deadline = _Deadline(self._clock, timeout_s, spec.name)
        with self._lock:
            self._check_idle(spec.name)
            serial = self._send_command(spec, payload, deadline)
            raw = self._read_fixed(spec, reply_bytes, deadline)
        try:
            reply = cu.decode_reply(raw)
        except DecodeError as exc:
            raise RemoteProtocolError(
                f"{spec.name}: the camera's reply is malformed: {exc}"
            ) from exc
        if (reply.cmd1, reply.cmd2) != (spec.cmd1, spec.cmd2) or reply.serial != serial:
            raise RemoteProtocolError(
                f"{spec.name} #{serial}: the camera answered command 0x{reply.cmd1:02x} "
                f"0x{reply.cmd2:02x} #{reply.serial}; the link is out of step"
            )
        log.debug(
            "<- %s #%d status 0x%08x (%s), %d bytes",
            spec.name,
            serial,
            reply.status,
            cu.status_text(reply.status),
            len(raw),
        )
        if not reply.ok:
            raise CanonStatusError(reply.status, spec.name)
        return reply

    def _read_fixed(self, spec: cu.CommandSpec, reply_bytes: int, deadline: _Deadline) -> bytes:
        """The reply's bytes, read as libgphoto2 reads them: the length rounded down to 0x40,
        then the rest with the camera's own length; class 6 and long replies in one read."""
        if self.protocol_class == CLASS_6 or reply_bytes > _SPLIT_READ_LIMIT:
            raw = self._bulk_read(reply_bytes, deadline, f"the {spec.name} reply")
            self._check_length(spec, raw, reply_bytes)
            return raw
        first_bytes, _ = cu.split_reply_read(reply_bytes)
        first = self._bulk_read(first_bytes, deadline, f"the {spec.name} reply")
        self._check_length(spec, first, first_bytes)
        reported = cu.reported_reply_bytes(first)
        total = reply_bytes
        if reported is not None and reported != reply_bytes:
            # libgphoto2 trusts the camera (picture abilities vary by model), within bounds.
            if not first_bytes <= reported <= MAX_FIXED_REPLY_BYTES:
                raise RemoteProtocolError(
                    f"{spec.name}: the camera announces a reply of {reported:#x} bytes after "
                    f"sending {first_bytes:#x} (at most {MAX_FIXED_REPLY_BYTES:#x})"
                )
            log.debug(
                "%s: expected 0x%x bytes, the camera reports 0x%x", spec.name, reply_bytes, reported
            )
            total = reported
        rest = total - first_bytes
        if rest <= 0:
            return first
        second = self._bulk_read(rest, deadline, f"the rest of the {spec.name} reply")
        self._check_length(spec, second, rest)
        return first + second

    @staticmethod
    def _check_length(spec: cu.CommandSpec, raw: bytes, wanted: int) -> None:
        if len(raw) != wanted:
            raise RemoteProtocolError(
                f"{spec.name}: the camera's reply is short: {len(raw):#x} of {wanted:#x} bytes"
            )

    # -- variable dialogue -----------------------------------------------------------------------

    def stream(
        self,
        command: str,
        payload: bytes = b"",
        *,
        timeout_s: float | None = None,
        max_bytes: int,
    ) -> VariableReply:
        """Send a command with a variable reply and read its 0x40-byte header; the data then
        comes as the returned reply's ``chunks`` are iterated, all within ``timeout_s`` from
        this call. A length over ``max_bytes`` is refused (the rest read and dropped first, so
        the link stays in step, if it fits the deadline). The link is held until the data is
        read or the iterator closed: iterate it to its end or close it (another command before
        that is a BusyError)."""
        spec = self.command(command)
        if spec.cmd3 != cu.VARIABLE:
            raise UsageError(f"{spec.name} has a fixed reply: use dialogue()")
        deadline = _Deadline(self._clock, timeout_s, spec.name)
        with self._lock:
            self._check_idle(spec.name)
            serial = self._send_command(spec, payload, deadline)
            header = self._bulk_read(cu.VARIABLE_HEADER_BYTES, deadline, f"the {spec.name} header")
            if len(header) != cu.VARIABLE_HEADER_BYTES:
                raise RemoteProtocolError(
                    f"{spec.name}: the reply's header is {len(header)} bytes, not 0x40"
                )
            length = cu.decode_variable_header(header)
            log.debug("<- %s #%d: %d bytes follow", spec.name, serial, length)
            if length > max_bytes:
                # Whatever of it comes within the deadline is dropped; the refusal is the error.
                with contextlib.suppress(PTPError):
                    self._drop(length, deadline)
                raise RemoteProtocolError(
                    f"{spec.name}: the camera announces {length} bytes, more than the "
                    f"{max_bytes} this command can return"
                )
            chunks = _Chunks(self, spec.name, length, deadline)
            if length:
                self._reading = chunks
        return VariableReply(command=spec.name, length=length, chunks=chunks, deadline=deadline)

    def _check_idle(self, command: str) -> None:
        """Commands go out one at a time, each after the whole answer of the one before."""
        self._check_open()
        reading = self._reading
        if reading is not None:
            raise BusyError(
                f"{command}: the data of {reading._command} is still being read; finish or "
                "close it first (e.g. the loop over PowerShot.walk())"
            )

    def _drop(self, count: int, deadline: _Deadline) -> None:
        while count > 0:
            chunk = self._bulk_read(min(self.xfer_bytes, count), deadline, "data to drop")
            if not chunk:
                return
            count -= len(chunk)

    def long_dialogue(
        self,
        command: str,
        payload: bytes = b"",
        sink: Callable[[bytes], object] | None = None,
        *,
        timeout_s: float | None = None,
        max_bytes: int,
    ) -> int:
        """A variable reply's data handed to ``sink`` chunk by chunk (lgc
        canon_usb_long_dialogue); returns the length. One deadline for the whole call."""
        reply = self.stream(command, payload, timeout_s=timeout_s, max_bytes=max_bytes)
        with contextlib.closing(reply.chunks) as chunks:
            for chunk in chunks:
                if sink is not None:
                    sink(chunk)
        return reply.length

    # -- upload ----------------------------------------------------------------------------------

    def upload_block(
        self, path: str, offset: int, data: bytes, *, timeout_s: float | None = None
    ) -> None:
        """One block of an upload (at most 0x1400 bytes of the file at ``offset``), in the wire
        format of libgphoto2's canon_usb_put_file (usb.c, compiled with
        CANON_EXPERIMENTAL_UPLOAD): a 0x40-byte control write (wValue 0x10) announcing the
        block, 0x40 bytes read back, the block on bulk OUT, a 0x5C-byte reply read as 0x40 +
        0x1C whose status other than 0 is a CanonStatusError (libgphoto2 only logs it)."""
        serial = self._next_serial()
        block = cr.encode_upload_block(
            cr.UploadBlock(path=path, offset=offset, data=data, serial=serial)
        )
        deadline = _Deadline(self._clock, timeout_s, "UploadBlock")
        with self._lock:
            self._check_idle("UploadBlock")
            log.debug("-> UploadBlock %s at %d, %d bytes #%d", path, offset, len(data), serial)
            self._control_out(cu.VALUE_COMMAND, cr.encode_upload_announce(len(block)), deadline)
            echo = self._bulk_read(0x40, deadline, "the answer to an upload announcement")
            if len(echo) != 0x40:
                raise RemoteProtocolError(
                    f"UploadBlock: the camera answered the announcement with {len(echo)} bytes, "
                    "not 0x40"
                )
            self._bulk_write(block, deadline)
            first = self._bulk_read(0x40, deadline, "the UploadBlock reply")
            rest = self._bulk_read(0x1C, deadline, "the rest of the UploadBlock reply")
        raw = first + rest
        if len(raw) != cr.UPLOAD_REPLY_BYTES:
            raise RemoteProtocolError(
                f"UploadBlock: the camera's reply is {len(raw):#x} bytes, not 0x5c"
            )
        try:
            reply = cu.decode_reply(raw)
        except DecodeError as exc:
            raise RemoteProtocolError(
                f"UploadBlock: the camera's reply is malformed: {exc}"
            ) from exc
        log.debug(
            "<- UploadBlock #%d status 0x%08x (%s)",
            serial,
            reply.status,
            cu.status_text(reply.status),
        )
        if not reply.ok:
            raise CanonStatusError(reply.status, "UploadBlock")

    def _bulk_write(self, data: bytes, deadline: _Deadline) -> None:
        import usb.core  # noqa: PLC0415

        self._check_open()
        self._trace("bulk write", data)
        try:
            sent = int(self._device.write(self._bulk_out, data, deadline.remaining_ms()))
        except usb.core.USBError as exc:
            if is_timeout(exc):
                raise TransportTimeout(
                    f"canon-usb: {deadline.what}: the camera did not take {len(data)} bytes "
                    f"within {deadline.timeout_s:g} s"
                ) from exc
            raise map_usb_error(exc, "sending an upload block", self._device) from exc
        if sent != len(data):
            raise TransportError(f"{self.url}: the camera took {sent} of {len(data)} bytes")

    # -- interrupt endpoint ----------------------------------------------------------------------

    def read_interrupt(self, timeout_s: float | None) -> cu.InterruptMessage | None:
        """The next interrupt message, or None when none came within ``timeout_s``. A message
        too short to carry its type is a RemoteProtocolError (nothing is lost: the next read
        is the next message)."""
        raw = self._interrupt_read(DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s)
        if raw is None:
            return None
        try:
            message = cu.decode_interrupt(raw)
        except DecodeError as exc:
            raise RemoteProtocolError(
                f"{self.url}: an interrupt message that is not understood: {exc}"
            ) from exc
        log.debug("%s: interrupt message type 0x%02x", self.url, message.kind)
        return message

    def drain_interrupts(self, timeout_s: float = 0.05) -> int:
        """Read and drop interrupt messages until none comes within ``timeout_s`` (before a
        release, lgc usb.c canon_usb_capture_dialogue "make sure the interrupt pipe is
        clean"); returns how many were dropped (at most 64)."""
        dropped = 0
        while dropped < 64 and self._interrupt_read(timeout_s) is not None:
            dropped += 1
        return dropped

    def _interrupt_read(self, timeout_s: float) -> bytes | None:
        import usb.core  # noqa: PLC0415

        self._check_open()
        timeout_ms = max(1, int(timeout_s * 1000))
        try:
            with self._interrupt_lock:
                data = bytes(
                    self._device.read(self._interrupt_in, INTERRUPT_READ_BYTES, timeout_ms)
                )
        except usb.core.USBError as exc:
            if is_timeout(exc):
                return None
            raise map_usb_error(exc, "reading the interrupt endpoint", self._device) from exc
        self._trace("interrupt read", data)
        return data

    # -- transfers -------------------------------------------------------------------------------

    def _trace(self, what: str, data: BytesLike) -> None:
        if log.isEnabledFor(TRACE):
            log.log(TRACE, "%s %d bytes\n%s", what, len(data), _log.hexdump(data))

    def _control_in(self, value: int, length: int, deadline: _Deadline) -> bytes:
        import usb.core  # noqa: PLC0415

        self._check_open()
        try:
            data = bytes(
                self._device.ctrl_transfer(
                    cu.REQUEST_TYPE_READ,
                    cu.control_request(length),
                    value,
                    0,
                    length,
                    deadline.remaining_ms(),
                )
            )
        except usb.core.USBError as exc:
            if is_timeout(exc):
                raise deadline.expired() from exc
            raise map_usb_error(exc, f"control read 0x{value:02x}", self._device) from exc
        self._trace(f"control read 0x{value:02x}:", data)
        if len(data) != length:
            raise ConnectError(
                f"{self.url}: control read 0x{value:02x} gave {len(data)} bytes, not {length}; "
                "camera not operational"
            )
        return data

    def _control_out(self, value: int, data: bytes, deadline: _Deadline) -> None:
        import usb.core  # noqa: PLC0415

        self._check_open()
        self._trace(f"control write 0x{value:02x}:", data)
        try:
            sent = self._device.ctrl_transfer(
                cu.REQUEST_TYPE_WRITE,
                cu.control_request(len(data)),
                value,
                0,
                data,
                deadline.remaining_ms(),
            )
        except usb.core.USBError as exc:
            if is_timeout(exc):
                raise deadline.expired() from exc
            raise map_usb_error(exc, f"control write 0x{value:02x}", self._device) from exc
        if sent != len(data):
            raise TransportError(
                f"{self.url}: control write 0x{value:02x} took {sent} of {len(data)} bytes"
            )

    def _bulk_read(self, length: int, deadline: _Deadline, what: str) -> bytes:
        """One bulk-IN read of exactly ``length`` bytes asked (the camera may send fewer: a
        short packet ended its transfer); the deadline's time left is its timeout."""
        import usb.core  # noqa: PLC0415

        self._check_open()
        try:
            data = bytes(self._device.read(self._bulk_in, length, deadline.remaining_ms()))
        except usb.core.USBError as exc:
            if is_timeout(exc):
                raise TransportTimeout(
                    f"canon-usb: {deadline.what}: nothing came within {deadline.timeout_s:g} s "
                    f"(waiting for {what})"
                ) from exc
            raise map_usb_error(exc, f"reading {what}", self._device) from exc
        self._trace("bulk read", data)
        return data

    # -- closing ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"{self.url}: the link is closed")

    def close(self) -> None:
        """Release the interface. No unlock here: PowerShots cannot be sent one (libgphoto2
        sends none), and an EOS's keys are unlocked by ``PowerShot.close`` first, as
        libgphoto2's camera_exit does (:meth:`unlock_keys`). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        # A call under way holds the lock: wait briefly for it, then release regardless.
        locked = self._lock.acquire(timeout=2.0)
        try:
            if self._claimed:
                release_interface(self._device, self.camera.interface, detached=self._detached)
                self._claimed = False
        finally:
            if locked:
                self._lock.release()
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()

    def __enter__(self) -> CanonUsbLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CanonUsbLink {self.url} {self.model.display_name}>"


def find_link(url: str, backend: Any = None, *, clock: Clock = SYSTEM_CLOCK) -> CanonUsbLink:
    """The PowerShot a ``canon-usb:`` URL names (the ``usb:`` selectors), not yet open.
    ``backend``: a PyUSB backend or its name (:func:`ptpkit.transports.usb.resolve_backend`)."""
    if isinstance(backend, str):
        backend = resolve_backend(backend)
    camera = select_camera(parse_url(url, scheme="canon-usb"), backend, kinds=("canon",))
    link_url = url if url.strip() not in ("canon-usb:", "canon-usb") else None
    return CanonUsbLink(
        camera, url=link_url or f"canon-usb:{camera.bus},{camera.address}", clock=clock
    )


def open_url(url: str, backend: Any = None, *, timeout_s: float | None = None) -> CanonUsbLink:
    """:func:`find_link`, opened (woken up)."""
    link = find_link(url, backend)
    link.open(timeout_s)
    return link
