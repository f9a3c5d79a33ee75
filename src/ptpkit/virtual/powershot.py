"""The virtual Canon PowerShot: Canon's pre-PTP USB protocol played on a virtual camera's card.

A :class:`PowerShotDevice` is the camera side of libgphoto2's ``canon`` driver and canon-remote:
vendor control transfers in, bulk-IN replies and interrupt messages out, every byte through the
sans-IO codec (:mod:`ptpkit.core.canon_usb`, :mod:`ptpkit.core.canon_usb_requests`). It is
transport-neutral: the PyUSB backend (:mod:`ptpkit.virtual.powershot_usb`) and the USB lab's
FunctionFS gadget call the same methods, from several threads::

    with VirtualCamera(card) as camera:
        device = PowerShotDevice(camera, model="powershot-g3")
        device.control_in(0x0C, 0x55, 0, 1)              # camstat: b"C"
        ...

What the camera does, and where each behaviour comes from (``lgc`` = libgphoto2
``camlibs/canon/``; vendors.md section 5 has the same facts with line numbers):

- **Wake-up** (lgc usb.c canon_usb_camera_init): control read 0x55 gives the camstat, "C" until
  the camera has been woken by the 0x11 write, "A" after; control read 0x01 the 0x58-byte init
  packet (the model's id bytes, the USB ids, the transfer length); control read 0x04 (0x50
  bytes) when active. The 0x11 write queues one 0x44-byte bulk transfer ("read 4 more", then
  "Tx\\0\\0", read by libgphoto2 as 0x40 + 4) and the 0x10-byte interrupt message.
- **Commands** are control writes with wValue 0x10; the answer is queued on bulk IN: a fixed
  reply (status at 0x50, the serial echoed, as long as libgphoto2's table says whatever the
  status), or a variable reply's 0x40-byte header and then its data in transfers of the chunk
  size the host asked for (GetFile's second word, RetrieveCapture's; else the camera's transfer
  length). Files are streamed from the card, never held whole. A picture's thumbnail (GetFile
  flag 1) is the head of the file through its EXIF block, which holds the thumbnail: libgphoto2
  extracts it from there (canon.c canon_int_get_thumbnail, canon_int_extract_jpeg_thumb;
  library.c hands it to libexif). Folder times stay as first listed, as FAT keeps them.
- **Commands by protocol class** (lgc canon.h CANON_CLASS_*, usb.c canon_usb_lock_keys): class 1
  answers GetPicAbilities (0x1F) and GenericLockKeys (0x20); class 5 the lock, not the
  abilities (canon.c: the S45 "will cause an error if issued"); class 4 the EOS lock/unlock
  (0x1B/0x1C) and GetBodyID (0x1D); class 3 cannot delete. Class 6 (the EOS 350D, libgphoto2's
  "new protocol") answers its own codes (usb.c canon_usb_cmd[] "(new)" rows: DeleteFile2,
  SetFileAttributes2, DiskInfo2 in kilobytes, FlashDeviceIdent2, GetOwner2/SetOwner2,
  PowerStatus2, RemoteControl2, RetrieveCapture2, GetBodyID2, GetPicAbilities2,
  LockKeys2/UnlockKeys2, 0x22 after a release) and only blocks with its byte 0x46 set ("picky
  about this byte": canon_usb_dialogue_full). The overloaded codes (0x0D/0x11, 0x0E/0x11,
  0x0A/0x11, 0x13/0x12, 0x05/0x12) mean the class's own command: an old-protocol block sent to
  a class 6 body gets the new command's answer or a refusal, and the other way round.
- **Errors** are status codes (lgc usb.c canon_usb_status_table): 0x02000022 file not found,
  0x02000029 protected, 0x02000086 invalid parameters / path not found, 0x02000085 could not
  switch to capture mode. A command the model does not know gets a 0x54-byte reply with
  0x02000086 (the status libgphoto2 reads as "Invalid command parameters"), an unknown
  variable-reply command a header announcing no data (a variable reply has no status word; a
  host reading the header then finds nothing to read, as libgphoto2's long dialogue does with an
  empty answer). A block that does not decode stalls ep0 (:class:`Stall`).
- **Remote capture** (lgc canon.c canon_int_capture_image, usb.c canon_usb_capture_dialogue):
  RemoteControl Init / SetTransferMode / GetParams / Release / Exit. Release answers on bulk IN
  and then sends interrupt messages: 0x0A with 0x1C ("first"), an image-ready message per part
  the transfer mode sends to the PC (0x08 thumbnail, 0x0C full image: key and size), 0x0A with
  0x1D ("done", where a PowerShot ends); an EOS then 0x0E once the picture is on the card, and
  class 4 a final 0x0F; class 6 sends no 0x0A pair, only the image-ready messages and 0x0E
  (the orders usb.c canon_usb_capture_dialogue accepts). A picture kept on the card appears
  there (the newest DCF folder, the next number), so a listing before and after finds it, as
  libgphoto2 does; RetrieveCapture fetches a part by its key.
- **Upload** in the wire format of libgphoto2's canon_usb_put_file, which is compiled only with
  CANON_EXPERIMENTAL_UPLOAD (without it: GP_ERROR_NOT_SUPPORTED; Debian's gphoto2 does not
  upload to these cameras): per block a 0x40-byte control write announcing it, 0x40 bytes
  back, the block on bulk OUT (the path, the offset, at most 0x1400 bytes), a 0x5C-byte reply.
  The file grows in a hidden temporary file and takes its name when the host sets its time or
  attributes (what canon_usb_put_file does after the last block); a reset or a close drops an
  unfinished one, so no partial file is ever left under its name.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import logging
import os
import re
import struct
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Final

from ptpkit.codes.powershot_models import PowerShotModel, model_for_ids
from ptpkit.core import canon_usb as cu
from ptpkit.core import canon_usb_requests as cr
from ptpkit.core.datatypes import as_int
from ptpkit.errors import DecodeError
from ptpkit.virtual.camera import DEFAULT_STORAGE_ID, VirtualCamera
from ptpkit.virtual.content import BytesData, FileData, ObjectData
from ptpkit.virtual.imaging import (
    EMPTY_EXIF_HEAD,
    exif_head,
    exif_thumbnail_bytes,
    mjpeg_avi,
    render_jpeg_bytes,
    thumbnail_of_bytes,
    with_exif_thumbnail,
)
from ptpkit.virtual.storage import UPLOAD_PREFIX, Store, StoredObject, unsafe_name_reason

__all__ = [
    "CARD_CAPACITY_BYTES",
    "CARD_FOLDER",
    "POWERSHOT_MODELS",
    "POWERSHOT_PERSONALITIES",
    "PowerShotDevice",
    "PowerShotPersonality",
    "Stall",
    "card_path",
    "make_powershot_card",
    "open_powershot",
    "personality_for",
]

_log = logging.getLogger(__name__)


class Stall(Exception):
    """The camera refuses a control request: the transport stalls endpoint 0."""


@dataclass(frozen=True, kw_only=True)
class PowerShotPersonality:
    """What one virtual PowerShot model says about itself (beyond libgphoto2's table row)."""

    key: str
    """The virtual model's name: ``virtual+usb:?model=powershot-g3``."""
    model: PowerShotModel
    identify_name: str
    """IdentifyCamera's model string, e.g. "Canon PowerShot G3"."""
    firmware: bytes
    """IdentifyCamera's 4 firmware bytes (shown reversed: 00 02 00 01 = 1.0.2.0)."""
    camera_id: bytes
    """The 4 id bytes of the init packet at 0x40 and of IdentifyCamera at +4."""
    xfer_word: int = 0xFFFFFFFF
    """The init packet's u32 at 0x4C: the largest transfer (0xFFFFFFFF: libgphoto2's 0x1400)."""
    owner: str = ""
    drive: str = "D:"
    """What FlashDeviceIdent answers; paths start with it ("D:\\DCIM\\100CANON\\...")."""
    image_size: tuple[int, int] = (1024, 768)
    """Size of the pictures remote capture takes (small: they are rendered on the fly)."""
    body_id: int = 0
    """What an EOS answers to GetBodyID (class 4 0x1D, class 6 0x23): its serial number."""


def _row(pid: int) -> PowerShotModel:
    model = model_for_ids(0x04A9, pid)
    assert model is not None, f"0x{pid:04X} is in libgphoto2's canon table"
    return model


#: The virtual PowerShots. The G3's identity bytes are a real G3's (its IdentifyCamera reply as
#: canon-remote captured it: id 01 06 15 83, firmware 00 02 00 01, "Canon PowerShot G3"); the
#: G2's id is vendors.md 5.3's (01 00 05 03, "G2/D30"), its firmware bytes chosen. Neither
#: model's transfer-length word is documented: the G3 says "default", the G2 0x1400.
POWERSHOT_PERSONALITIES: Final[dict[str, PowerShotPersonality]] = {
    "powershot-g3": PowerShotPersonality(
        key="powershot-g3",
        model=_row(0x306E),
        identify_name="Canon PowerShot G3",
        firmware=bytes((0x00, 0x02, 0x00, 0x01)),
        camera_id=bytes.fromhex("01061583"),
    ),
    "powershot-g2": PowerShotPersonality(
        key="powershot-g2",
        model=_row(0x3055),
        identify_name="Canon PowerShot G2",
        firmware=bytes((0x00, 0x01, 0x00, 0x01)),
        camera_id=bytes.fromhex("01000503"),
        xfer_word=0x1400,
    ),
    # Class 6 ("new protocol"): libgphoto2's EOS 350D row (0x30EE). Its identify name is the
    # one its pictures' EXIF carries; id, firmware and body-id bytes are not documented anywhere
    # libgphoto2 or vendors.md quote, so they are chosen (libgphoto2 only prints them).
    "powershot-eos-350d": PowerShotPersonality(
        key="powershot-eos-350d",
        model=_row(0x30EE),
        identify_name="Canon EOS 350D DIGITAL",
        firmware=bytes((0x00, 0x00, 0x00, 0x01)),
        camera_id=bytes.fromhex("01061583"),
        body_id=560_012_345,
    ),
    # Class 4 (EOS lock/unlock keys, 0x0E/0x0F after a release): libgphoto2's EOS D60 row
    # (0x3060); vendors.md 5.3's G2/D30 id bytes, firmware chosen.
    "powershot-eos-d60": PowerShotPersonality(
        key="powershot-eos-d60",
        model=_row(0x3060),
        identify_name="Canon EOS D60",
        firmware=bytes((0x00, 0x00, 0x06, 0x01)),
        camera_id=bytes.fromhex("01000503"),
        xfer_word=0x1400,
        body_id=0x04A90123,
    ),
}

#: The virtual models' libgphoto2 rows, by virtual model name (ps-contract.md).
POWERSHOT_MODELS: Final[dict[str, PowerShotModel]] = {
    key: personality.model for key, personality in POWERSHOT_PERSONALITIES.items()
}


def personality_for(model: str | PowerShotModel | PowerShotPersonality) -> PowerShotPersonality:
    """A virtual model by its name ("powershot-g3"), its table row, or itself."""
    if isinstance(model, PowerShotPersonality):
        return model
    if isinstance(model, PowerShotModel):
        for personality in POWERSHOT_PERSONALITIES.values():
            if personality.model == model:
                return personality
        raise KeyError(f"no virtual PowerShot plays {model.name}")
    try:
        return POWERSHOT_PERSONALITIES[model]
    except KeyError:
        known = ", ".join(sorted(POWERSHOT_PERSONALITIES))
        raise KeyError(f"unknown virtual PowerShot {model!r} (known: {known})") from None


# -- status codes (lgc usb.c canon_usb_status_table) -----------------------------------------

STATUS_NOT_FOUND: Final = 0x02000022
STATUS_PROTECTED: Final = 0x02000029
STATUS_CARD_FULL: Final = 0x0200002A
STATUS_NO_CAPTURE_MODE: Final = 0x02000085
STATUS_INVALID: Final = 0x02000086

#: PowerStatus byte @+4 when the battery is low (canon.h CAMERA_POWER_BAD).
_POWER_BAD: Final = 0x04
#: The 0x10-byte interrupt message after the wake-up write: vendors.md 5.3's example (an EOS
#: 300D's; what a G3 sends there is not recorded, and libgphoto2 only counts its bytes).
_WAKE_INTERRUPT: Final = bytes.fromhex("02000000200000001000000000000000")
#: The 0x44 bytes after the init write: "read 4 more" (u32 at 0), then "Tx\0\0" (lgc usb.c
#: canon_usb_camera_init reads 0x40, takes the count at 0, reads 4).
_INIT_BULK: Final = struct.pack("<I", 4) + bytes(0x3C) + cu.INIT_BULK_TX
#: Fixed replies without data: the header and the status.
_BARE_REPLY: Final = 0x54
#: Bound on a transfer size a host may ask for (GetFile's chunk word); larger asks are served in
#: transfers of this size, which a host reading exact lengths cannot tell apart.
_MAX_CHUNK: Final = 1 << 20
#: GetParams' release-parameter block (canon.c canon_int_get_release_params: 0x2F bytes used of
#: the 0x30 at reply offset 0x5C).
_PARAMS_BYTES: Final = 0x30
_DCF_FOLDER: Final = re.compile(r"^(\d{3})[0-9A-Z_]{5}$", re.IGNORECASE)
_DCF_FILE: Final = re.compile(r"^[A-Z_]{4}(\d{4})\.", re.IGNORECASE)
_THUMB_SIBLING: Final = ".THM"


#: The longest upload block: the header, a path of the longest kind, 0x1400 bytes of data.
_MAX_UPLOAD_BLOCK: Final = 0x5C + cr.MAX_PATH_BYTES + 1 + cr.UPLOAD_BLOCK_DATA_BYTES


# -- bulk-IN transfers -------------------------------------------------------------------------


class _Transfer:
    """One bulk-IN transfer held in memory (a fixed reply, a header, a small answer)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, max_bytes: int) -> tuple[bytes, bool]:
        piece = self.data[self.pos : self.pos + max_bytes]
        self.pos += len(piece)
        return piece, self.pos >= len(self.data)

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)

    def close(self) -> None:
        """Nothing to release."""


class _Stream:
    """A variable reply's data: ``total`` bytes from ``source`` in transfers of ``chunk`` bytes,
    read from the card as the host reads (an open file, never the whole of it in memory)."""

    __slots__ = ("_file", "_left_in_transfer", "chunk", "pos", "source", "total")

    def __init__(self, source: ObjectData, chunk: int) -> None:
        self.source = source
        self.total = source.size
        self.chunk = chunk
        self.pos = 0
        self._left_in_transfer = min(chunk, self.total)
        self._file: BinaryIO | None = None

    def _read(self, count: int) -> bytes:
        if isinstance(self.source, FileData):
            if self._file is None:
                self._file = self.source.path.open("rb")
                self._file.seek(self.pos)
            data = self._file.read(count)
            # A file that shrank under the camera: pad, so the announced length still holds.
            return data.ljust(count, b"\x00")
        return b"".join(bytes(c) for c in self.source.chunks(self.pos, count))

    def take(self, max_bytes: int) -> tuple[bytes, bool]:
        count = min(max_bytes, self._left_in_transfer)
        data = self._read(count)
        self.pos += count
        self._left_in_transfer -= count
        ended = self._left_in_transfer == 0
        if ended:
            self._left_in_transfer = min(self.chunk, self.total - self.pos)
        if self.done:
            self.close()
        return data, ended

    @property
    def done(self) -> bool:
        return self.pos >= self.total

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_Pending = _Transfer | _Stream
#: What a command handler gives: bulk-IN transfers, interrupt messages.
_Answer = tuple[tuple[_Pending, ...], tuple[bytes, ...]]


class _Root:
    """The card's root folder, as :meth:`PowerShotDevice._find` names it."""


_ROOT: Final = _Root()
_Target = StoredObject | _Root


@dataclass
class _Upload:
    """A file being uploaded: its hidden temporary file until the host finishes it."""

    temp: Path
    relpath: PurePosixPath
    size: int = 0


@dataclass
class _Capture:
    """A picture remote capture took: its parts, kept for RetrieveCapture by key."""

    key: int
    full: bytes
    thumbnail: bytes


def _default_params() -> bytearray:
    """A release-parameter block: large fine JPEG, flash auto, beep on (canon.h *_INDEX
    offsets: image format 1-3, flash 6, beep 7); the other bytes zero."""
    block = bytearray(_PARAMS_BYTES)
    block[1:4] = bytes((0x02, 0x01, 0x00))
    block[6] = 0x02  # FLASH_MODE_AUTO
    block[7] = 0x01  # BEEP_ON
    return block


@dataclass
class _RemoteState:
    active: bool = False
    transfer_mode: int = cu.TRANSFER_FULL_TO_CARD
    params: bytearray = field(default_factory=_default_params)
    captures: dict[int, _Capture] = field(default_factory=dict)
    next_key: int = 0x10
    #: The last file number given (the camera remembers it: numbering goes on after a delete).
    last_number: int = 0


# -- the device --------------------------------------------------------------------------------


class PowerShotDevice:
    """A virtual PowerShot on top of a :class:`VirtualCamera` (its card and its clock)."""

    def __init__(
        self,
        camera: VirtualCamera,
        model: str | PowerShotModel | PowerShotPersonality = "powershot-g3",
        *,
        owner: str | None = None,
    ) -> None:
        self.camera = camera
        self.personality = personality_for(model)
        self.model: PowerShotModel = self.personality.model
        self.vendor_id: int = self.model.vendor_id
        self.product_id: int = self.model.product_id
        #: Called (from any thread) when bulk-IN or interrupt data has been queued.
        self.on_ready: Callable[[], None] | None = None
        self.owner = self.personality.owner if owner is None else owner
        self._init_packet = cr.make_init_packet(
            camera_id=self.personality.camera_id,
            id_vendor=self.vendor_id,
            id_product=self.product_id,
            xfer_word=self.personality.xfer_word,
        )
        self._cond = threading.Condition()
        self._bulk_in: deque[_Pending] = deque()
        self._interrupts: deque[bytes] = deque()
        self._awake = False
        self._closed = False
        self._keys_locked = False
        self._remote = _RemoteState()
        #: Attribute bytes the host set (SetFileAttributes), by card path.
        self._attrs: dict[PurePosixPath, int] = {}
        self._owned: tuple[VirtualCamera, tempfile.TemporaryDirectory[str] | None] | None = None
        #: Upload: the block length announced and the bytes of it received so far; the files
        #: being uploaded, by their camera path in upper case.
        self._upload_expect: int | None = None
        self._upload_buffer = bytearray()
        self._uploads: dict[str, _Upload] = {}
        #: Folder times as first listed (FAT does not move them when files are added).
        self._folder_times: dict[PurePosixPath, int] = {}
        #: The last commands answered, by name (for tests and logs).
        self.log: deque[str] = deque(maxlen=256)

    # -- the transport-neutral interface (ps-contract.md) ------------------------------------

    @property
    def xfer_length(self) -> int:
        """The transfer length the init packet announces (0xFFFFFFFF reads as 0x1400)."""
        return self._init_packet.xfer_length

    @property
    def awake(self) -> bool:
        with self._cond:
            return self._awake

    def control_in(self, request: int, value: int, index: int, length: int) -> bytes:
        """A vendor control read (bmRequestType 0xC0)."""
        self._check_request(request)
        with self._cond:
            if value == cu.VALUE_CAMSTAT and length == cu.CAMSTAT_BYTES:
                stat = cu.CamStat.ACTIVE if self._awake else cu.CamStat.WOKEN
                return str(stat.value).encode("ascii")
            if value == cu.VALUE_INIT_READ and length == cu.INIT_PACKET_BYTES:
                return cu.encode_init_packet(self._init_packet)
            if value == cu.VALUE_ACTIVE_READ and length == cu.ACTIVE_READ_BYTES and self._awake:
                # Its content is not documented and libgphoto2 only checks its length: the block
                # the host would write back at wake-up (the same id and transfer words).
                return cu.init_write_block(self._init_packet)
        raise Stall(f"control read wValue 0x{value:02X} of {length} bytes is not answered")

    def control_out(self, request: int, value: int, index: int, data: bytes) -> None:
        """A vendor control write (bmRequestType 0x40): the wake-up write or a command."""
        self._check_request(request)
        if value == cu.VALUE_INIT_WRITE:
            self._wake(bytes(data))
        elif value == cu.VALUE_COMMAND and len(data) == cr.UPLOAD_ANNOUNCE_BYTES:
            self._announce(bytes(data))
        elif value == cu.VALUE_COMMAND:
            self._command(bytes(data))
        else:
            raise Stall(f"control write wValue 0x{value:02X} is not a request this camera knows")

    def read_bulk_in(self, max_bytes: int, timeout_s: float | None) -> tuple[bytes, bool]:
        """Up to ``max_bytes`` of the current bulk-IN transfer, and whether it ended with them;
        (b"", False) when nothing came within ``timeout_s``."""
        if max_bytes <= 0:
            return b"", False
        with self._cond:
            if not self._cond.wait_for(lambda: self._bulk_in or self._closed, timeout_s):
                return b"", False
            if not self._bulk_in:
                return b"", False
            current = self._bulk_in[0]
            data, ended = current.take(max_bytes)
            if current.done:
                self._bulk_in.popleft()
            return data, ended

    def write_bulk_out(self, data: bytes) -> None:
        """Bulk OUT: an upload block, after its announcement (in as many pieces as the
        transport delivers). Bytes nobody announced are dropped, as a camera does."""
        with self._cond:
            expect = self._upload_expect
            if expect is None:
                _log.debug("bulk OUT of %d bytes without an announcement: dropped", len(data))
                return
            self._upload_buffer += data
            if len(self._upload_buffer) < expect:
                return
            block = bytes(self._upload_buffer[:expect])
            self._upload_buffer.clear()
            self._upload_expect = None
        with self.camera.lock:
            items, interrupts = self._upload_block(block)
        self._queue(*items, interrupts=interrupts)

    def read_interrupt(self, timeout_s: float | None) -> bytes | None:
        """The next interrupt message, or None when none came within ``timeout_s``."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._interrupts or self._closed, timeout_s):
                return None
            return self._interrupts.popleft() if self._interrupts else None

    def reset(self) -> None:
        """A USB reset (or the cable pulled and put back): asleep, nothing pending."""
        with self._cond:
            self._drop_pending()
            self._drop_uploads()
            self._awake = False
            self._keys_locked = False
            self._remote.active = False
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._drop_pending()
            self._drop_uploads()
            self._closed = True
            self._awake = False
            self._cond.notify_all()
        owned, self._owned = self._owned, None
        if owned is not None:
            camera, holder = owned
            camera.close()
            if holder is not None:
                holder.cleanup()

    def owns(self, camera: VirtualCamera, holder: tempfile.TemporaryDirectory[str] | None) -> None:
        """Close ``camera`` (and remove ``holder``'s folder) when the device closes."""
        self._owned = (camera, holder)

    def __enter__(self) -> PowerShotDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    @staticmethod
    def _check_request(request: int) -> None:
        # bRequest is 0x04 above one byte, 0x0C for one (Protocol.xml "USB Interface / Notes");
        # a camera takes either (libgphoto2 itself uses both for the same wValue).
        if request not in (0x04, 0x0C):
            raise Stall(f"bRequest 0x{request:02X} is not Canon's")

    def _drop_bulk(self) -> None:
        for pending in self._bulk_in:
            pending.close()
        self._bulk_in.clear()

    def _drop_uploads(self) -> None:
        """Unfinished uploads go, temporary files and all (nothing partial is kept)."""
        self._upload_expect = None
        self._upload_buffer.clear()
        for upload in self._uploads.values():
            upload.temp.unlink(missing_ok=True)
        self._uploads.clear()

    def _drop_pending(self) -> None:
        self._drop_bulk()
        self._interrupts.clear()

    def _queue(self, *items: _Pending, interrupts: tuple[bytes, ...] = ()) -> None:
        with self._cond:
            self._bulk_in.extend(i for i in items if not i.done)
            self._interrupts.extend(interrupts)
            self._cond.notify_all()
        callback = self.on_ready
        if callback is not None:
            callback()

    def _wake(self, block: bytes) -> None:
        if len(block) != cu.INIT_WRITE_BYTES:
            raise Stall(f"the wake-up write is 0x50 bytes, not {len(block):#x}")
        with self._cond:
            self._drop_pending()
            self._awake = True
        self._queue(_Transfer(_INIT_BULK), interrupts=(_WAKE_INTERRUPT,))

    def _announce(self, data: bytes) -> None:
        """An upload block announced (0x40 bytes, too short for a command block)."""
        with self._cond:
            awake = self._awake
        if not awake:
            raise Stall("an upload before the wake-up")
        try:
            length = cr.decode_upload_announce(data)
        except DecodeError as exc:
            raise Stall(f"an announcement that does not decode: {exc}") from None
        if length > _MAX_UPLOAD_BLOCK:
            raise Stall(f"a block of {length} bytes is more than a block holds")
        with self._cond:
            self._drop_bulk()
            self._upload_expect = length
            self._upload_buffer.clear()
        # What the camera reads back is not documented (libgphoto2 checks only its 0x40 bytes).
        self._queue(_Transfer(bytes(cr.UPLOAD_ANNOUNCE_BYTES)))

    def _command(self, block: bytes) -> None:
        with self._cond:
            awake = self._awake
        if not awake:
            raise Stall("a command before the wake-up")
        try:
            command = cu.decode_command(block)
        except DecodeError as exc:
            raise Stall(f"a command block that does not decode: {exc}") from None
        with self._cond:
            # A new command ends whatever the host left unread of the last answer (the
            # interrupt pipe is its own: capture messages stay).
            self._drop_bulk()
        handler = self._handler(command)
        with self.camera.lock:
            items, interrupts = handler(command)
        self._queue(*items, interrupts=interrupts)

    # -- dispatch --------------------------------------------------------------------------------

    def _handler(self, command: cu.Command) -> Callable[[cu.Command], _Answer]:
        klass = self.model.protocol_class
        key = (command.cmd1, command.cmd2, command.cmd3)
        if klass == 6 and command.flags != (0x20 if command.cmd3 == cu.VARIABLE else 0x10):
            # "New style of protocol is picky about this byte" (lgc usb.c
            # canon_usb_dialogue_full): a class 6 body does not take a block without it.
            return self._unknown
        table: dict[tuple[int, int, int], Callable[[cu.Command], _Answer]] = {
            (0x01, cu.STORAGE, cu.VARIABLE): self._get_file,
            (0x05, cu.STORAGE, cu.FIXED): self._make_dir,
            (0x06, cu.STORAGE, cu.FIXED): self._remove_dir,
            (0x0B, cu.STORAGE, cu.VARIABLE): self._get_dirents,
            (0x0F, cu.STORAGE, cu.FIXED): self._set_file_time,
            (0x01, cu.CONTROL, cu.FIXED): self._identify,
            (0x03, cu.CONTROL, cu.FIXED): self._get_time,
            (0x04, cu.CONTROL, cu.FIXED): self._set_time,
        }
        if klass == 6:
            # The new protocol's codes (lgc usb.c canon_usb_cmd[] "...(new)" rows); the
            # overloaded ones mean their new command here, so an old-protocol block gets the
            # new command's answer (e.g. old RemoteControl 0x13 is PowerStatus2), or a refusal.
            table.update(
                {
                    (0x07, cu.STORAGE, cu.FIXED): self._set_attributes,
                    (0x0A, cu.STORAGE, cu.FIXED): self._delete_file,
                    (0x0D, cu.STORAGE, cu.FIXED): self._disk_info,
                    (0x0E, cu.STORAGE, cu.VARIABLE): self._flash_device_ident,
                    (0x05, cu.CONTROL, cu.FIXED): self._get_owner,
                    (0x06, cu.CONTROL, cu.FIXED): self._set_owner,
                    (0x13, cu.CONTROL, cu.FIXED): self._power_status,
                    (0x22, cu.CONTROL, cu.FIXED): self._after_release,
                    (0x23, cu.CONTROL, cu.FIXED): self._body_id,
                    (0x24, cu.CONTROL, cu.FIXED): self._pic_abilities,
                    (0x25, cu.CONTROL, cu.FIXED): self._remote_control,
                    (0x26, cu.CONTROL, cu.VARIABLE): self._retrieve_capture,
                    (0x35, cu.CONTROL, cu.FIXED): self._lock_keys,
                    (0x36, cu.CONTROL, cu.FIXED): self._unlock_keys,
                }
            )
        else:
            table.update(
                {
                    (0x09, cu.STORAGE, cu.FIXED): self._disk_info,
                    (0x0A, cu.STORAGE, cu.VARIABLE): self._flash_device_ident,
                    (0x0D, cu.STORAGE, cu.FIXED): self._delete_file,
                    (0x0E, cu.STORAGE, cu.FIXED): self._set_attributes,
                    (0x05, cu.CONTROL, cu.FIXED): self._set_owner,
                    (0x0A, cu.CONTROL, cu.FIXED): self._power_status,
                    (0x13, cu.CONTROL, cu.FIXED): self._remote_control,
                    (0x17, cu.CONTROL, cu.VARIABLE): self._retrieve_capture,
                }
            )
        if klass in (1, 2, 3):
            table[(0x1F, cu.CONTROL, cu.FIXED)] = self._pic_abilities
        if klass in (1, 2, 3, 5):
            table[(0x20, cu.CONTROL, cu.FIXED)] = self._lock_keys
        if klass == 4:
            table[(0x1B, cu.CONTROL, cu.FIXED)] = self._lock_keys
            table[(0x1C, cu.CONTROL, cu.FIXED)] = self._unlock_keys
            table[(0x1D, cu.CONTROL, cu.FIXED)] = self._body_id
        handler = table.get(key)
        if handler is None:
            return self._unknown
        return handler

    def _spec(self, command: cu.Command) -> cu.CommandSpec | None:
        """The table row this model reads a block as: an overloaded code means the new
        protocol's "...2" command on class 6, the old one on the others."""
        specs = cu.find_command(command.cmd1, command.cmd2, command.cmd3)
        if len(specs) > 1:
            new = self.model.protocol_class == 6
            specs = tuple(s for s in specs if s.name.endswith("2") == new) or specs
        return specs[0] if specs else None

    def _name(self, command: cu.Command) -> str:
        spec = self._spec(command)
        return spec.name if spec else f"0x{command.cmd1:02X}/0x{command.cmd2:02X}"

    def _fixed(self, command: cu.Command, status: int = cu.STATUS_OK, data: bytes = b"") -> _Answer:
        """A fixed reply as long as libgphoto2's table has it for this command, data padded
        (an error status keeps the length: the host reads the table's length either way)."""
        spec = self._spec(command)
        total = spec.reply_bytes if spec and spec.reply_bytes else _BARE_REPLY
        room = total - _BARE_REPLY
        if len(data) > room:
            raise AssertionError(f"{len(data)} data bytes do not fit a {total:#x}-byte reply")
        return self._reply(command, status, data.ljust(room, b"\x00"))

    def _reply(self, command: cu.Command, status: int, data: bytes) -> _Answer:
        self.log.append(self._name(command))
        if status != cu.STATUS_OK:
            _log.debug(
                "%s: status 0x%08X (%s)", self._name(command), status, cu.status_text(status)
            )
        reply = cu.Reply(
            cmd1=command.cmd1,
            cmd2=command.cmd2,
            cmd3=command.cmd3,
            serial=command.serial,
            flags=command.flags,
            status=status,
            data=data,
        )
        return (_Transfer(cu.encode_reply(reply)),), ()

    def _variable(self, command: cu.Command, data: bytes | ObjectData, chunk: int) -> _Answer:
        """A variable reply: the 0x40-byte header, then the data in transfers of ``chunk``."""
        self.log.append(self._name(command))
        source: ObjectData = BytesData(data) if isinstance(data, bytes) else data
        if source.size > 0xFFFFFFFF:
            # The header counts in a u32, and these cameras' FAT holds nothing larger: an
            # object of 4 GiB or more (a generated one) is announced as no data at all.
            _log.debug(
                "%s: %d bytes do not fit the reply's length word", self._name(command), source.size
            )
            source = BytesData(b"")
        header = _Transfer(cu.encode_variable_header(source.size))
        return (header, _Stream(source, chunk)), ()

    def _chunk(self, asked: int | None) -> int:
        """The transfer size to serve a variable reply in: what the host asked for, else the
        camera's own transfer length; bounded."""
        size = asked or self.xfer_length
        return max(0x40, min(size, _MAX_CHUNK))

    def _unknown(self, command: cu.Command) -> _Answer:
        _log.debug("unknown command %s", self._name(command))
        if command.cmd3 == cu.VARIABLE:
            return self._variable(command, b"", self._chunk(None))
        return self._reply(command, STATUS_INVALID, b"")

    # -- card paths --------------------------------------------------------------------------

    @property
    def _store(self) -> Store:
        return self.camera.stores[DEFAULT_STORAGE_ID]

    def _split(self, path: str) -> list[str] | None:
        """A camera path's components below the drive ("D:\\DCIM\\100CANON" -> [DCIM,
        100CANON]); None for another drive. "D:" and "D:\\" are the card's root."""
        drive = self.personality.drive
        if path[: len(drive)].upper() != drive.upper():
            return None
        rest = path[len(drive) :]
        return [part for part in rest.replace("/", "\\").split("\\") if part]

    def _find(self, path: str) -> _Target | None:
        """The object at a camera path; _ROOT for the root; None when there is nothing there.
        Names compare without case, as on the card's FAT."""
        parts = self._split(path)
        if parts is None:
            return None
        if not parts:
            return _ROOT
        parent = 0
        found: StoredObject | None = None
        for part in parts:
            wanted = part.upper()
            found = next(
                (o for o in self._store.children(parent) if _wire(o.name) == wanted),
                None,
            )
            if found is None:
                return None
            parent = found.handle
        return found

    def _find_in(self, folder: str, name: str) -> StoredObject | None:
        target = self._find(folder.rstrip("\\") + "\\" + name)
        return target if isinstance(target, StoredObject) else None

    def _attrs_of(self, obj: StoredObject) -> int:
        if obj.is_folder:
            return cu.ATTR_DIR_NOT_ENTERED
        key = obj.relpath or PurePosixPath(obj.name)
        attrs = self._attrs.get(key)
        if attrs is None:
            # A file nobody downloaded yet: the "archive" bit 0x20 (canon.h
            # CANON_ATTR_DOWNLOADED: set until the host clears it).
            attrs = cu.ATTR_NOT_DOWNLOADED
        if obj.protected:
            attrs |= cu.ATTR_WRITE_PROTECTED
        return attrs & ~(cu.ATTR_DIR_ENTERED | cu.ATTR_DIR_NOT_ENTERED)

    def _time_of(self, obj: StoredObject) -> int:
        """The entry's time: camera local time as Unix-like seconds (lgc canon.c
        canon_int_list_directory converts it with the host's zone)."""
        if obj.relpath is not None:
            try:
                stamp = self._store.path_of(obj).stat().st_mtime
            except OSError:
                return 0
            local = _dt.datetime.fromtimestamp(stamp)
        else:
            local = obj.created
        return _local_seconds(local)

    def _folder_time(self, obj: StoredObject) -> int:
        """A folder's time as the camera's FAT keeps it: set when the folder is first seen and
        unchanged as files come and go (a host folder's mtime moves with every capture, which
        would derail libgphoto2's canon_int_find_new_image: it compares the listings before and
        after a capture entry by entry and takes the first picture after a mismatch)."""
        key = obj.relpath if obj.relpath is not None else PurePosixPath(f"#{obj.handle}")
        with self._cond:
            when = self._folder_times.get(key)
            if when is None:
                when = self._folder_times[key] = self._time_of(obj) or 1
        return when

    # -- storage commands --------------------------------------------------------------------

    def _flash_device_ident(self, command: cu.Command) -> _Answer:
        # The drive as a C string (lgc canon.c canon_int_get_disk_name uses the data as one).
        return self._variable(command, self.personality.drive.encode("latin-1") + b"\x00", 0x40)

    def _disk_info(self, command: cu.Command) -> _Answer:
        try:
            path = cr.decode_path(command.payload)
        except DecodeError:
            return self._fixed(command, STATUS_INVALID)
        if self._find(path) is not _ROOT:
            return self._fixed(command, STATUS_INVALID)
        info = self._store.storage_info()
        # Bytes on the old protocol (libgphoto2 divides by 1024); a u32 caps them at 4 GiB,
        # more than any card of these cameras' time held. Class 6's DiskInfo2 counts kilobytes
        # ("These newer cameras report sizes in K instead of bytes": canon.c
        # canon_int_get_disk_name_info).
        unit = 1024 if self.model.protocol_class == 6 else 1
        disk = cu.DiskInfo(
            capacity=min(info.max_capacity // unit, 0xFFFFFFFF),
            free=min(info.free_space_bytes // unit, 0xFFFFFFFF),
        )
        return self._fixed(command, cu.STATUS_OK, cu.encode_disk_info(disk))

    def _get_dirents(self, command: cu.Command) -> _Answer:
        try:
            request = cr.decode_dirents_request(command.payload)
        except DecodeError:
            return self._variable(command, b"", 0x40)
        target = self._find(request.path)
        if target is None or (isinstance(target, StoredObject) and not target.is_folder):
            # No such folder: no entries at all, not even the terminator (libgphoto2 then
            # reports a listing too short to hold the folder's own entry).
            return self._variable(command, b"", self._chunk(None))
        listing = self._listing(request.path, target, request.depth)
        return self._variable(command, listing, self._chunk(None))

    def _listing(self, path: str, target: _Target, depth: int) -> bytes:
        """The folder's own entry (attr 0x80, its path as asked), its contents (entered
        subfolders as ".\\NAME" with 0x80, to ``depth`` levels; others 0x10), a ".." closing
        each entered folder, the all-zero terminator (vendors.md 5.7; lgc canon.c
        canon_int_find_new_image walks such a listing)."""
        folder = target if isinstance(target, StoredObject) else None
        root_handle = folder.handle if folder is not None else 0
        own_time = self._folder_time(folder) if folder is not None else 0
        entries = [
            cu.Dirent(
                attrs=cu.ATTR_DIR_ENTERED,
                size=0,
                time=own_time,
                name=path.rstrip("\\").encode("latin-1"),
            )
        ]
        self._list_into(entries, root_handle, depth)
        entries.append(cu.Dirent(attrs=cu.ATTR_DIR_ENTERED, size=0, time=0, name=b".."))
        return cu.encode_dirents(entries)

    def _list_into(self, entries: list[cu.Dirent], parent: int, depth: int) -> None:
        children = sorted(self._store.children(parent), key=lambda o: _wire(o.name))
        # Files first, then folders (DOS directory order is creation order; files before
        # subfolders keeps a folder's new picture at the end of its own entries).
        for obj in (c for c in children if not c.is_folder):
            entries.append(
                cu.Dirent(
                    attrs=self._attrs_of(obj),
                    size=min(self._store.size_of(obj), 0xFFFFFFFF),
                    time=self._time_of(obj),
                    name=_wire(obj.name).encode("latin-1"),
                )
            )
        for obj in (c for c in children if c.is_folder):
            when = self._folder_time(obj)
            name = _wire(obj.name).encode("latin-1")
            if depth > 0:
                entries.append(
                    cu.Dirent(attrs=cu.ATTR_DIR_ENTERED, size=0, time=when, name=b".\\" + name)
                )
                self._list_into(entries, obj.handle, depth - 1)
                entries.append(cu.Dirent(attrs=cu.ATTR_DIR_ENTERED, size=0, time=0, name=b".."))
            else:
                entries.append(
                    cu.Dirent(attrs=cu.ATTR_DIR_NOT_ENTERED, size=0, time=when, name=name)
                )

    def _get_file(self, command: cu.Command) -> _Answer:
        try:
            request = cr.decode_get_file_request(
                command.payload, new_protocol=self.model.protocol_class == 6
            )
        except DecodeError:
            return self._variable(command, b"", 0x40)
        chunk = self._chunk(request.chunk_bytes)
        target = self._find(request.path)
        if not isinstance(target, StoredObject) or target.is_folder:
            return self._variable(command, b"", chunk)
        if request.thumbnail:
            return self._variable(command, self._thumbnail(target), chunk)
        return self._variable(command, self._store.open_data(target), chunk)

    def _thumbnail(self, obj: StoredObject) -> bytes:
        """GetFile flag 1. A JPEG's answer is the head of the file, SOI through the EXIF block
        that holds the thumbnail, not the thumbnail alone: libgphoto2 canon.c
        canon_int_get_thumbnail ("the first 10813 bytes of the image (most oftenly the EXIF
        header with thumbnail data in it)"), which hands it to libexif. A picture without an
        EXIF thumbnail gets one made from it in that head; a movie its .THM sibling (lgc canon.c
        canon_int_filename2thumbname); anything else nothing."""
        store = self._store
        if obj.relpath is not None:
            path = store.path_of(obj)
            head = _file_exif_head(path)
            if head is not None and exif_thumbnail_bytes(head) is not None:
                return head
            made = store.thumbnail(obj)
            if made is not None:
                try:
                    return with_exif_thumbnail(head or EMPTY_EXIF_HEAD, made)
                except ValueError:  # an EXIF block that has a broken IFD1: a fresh head
                    return with_exif_thumbnail(EMPTY_EXIF_HEAD, made)
            sibling = self._find_in(
                self._camera_path(obj.relpath.parent), PurePosixPath(obj.name).stem + _THUMB_SIBLING
            )
            if sibling is not None and sibling.relpath is not None:
                return store.path_of(sibling).read_bytes()[: self.model.max_thumbnail_size]
        return b""

    def _camera_path(self, relpath: PurePosixPath) -> str:
        parts = [p for p in relpath.parts if p not in ("", ".")]
        return "\\".join([self.personality.drive, *parts])

    def _delete_file(self, command: cu.Command) -> _Answer:
        if self.model.protocol_class == 3:
            return self._fixed(command, STATUS_INVALID)  # class 3 "can't delete image"
        decode = (
            cr.decode_delete2_request
            if self.model.protocol_class == 6
            else cr.decode_delete_request
        )
        try:
            request = decode(command.payload)
        except DecodeError:
            return self._fixed(command, STATUS_INVALID)
        obj = self._find_in(request.folder, request.name)
        if obj is None or obj.is_folder:
            return self._fixed(command, STATUS_NOT_FOUND)
        if obj.protected or self._attrs_of(obj) & cu.ATTR_WRITE_PROTECTED:
            return self._fixed(command, STATUS_PROTECTED)
        try:
            self._store.delete(obj)
        except OSError as exc:
            _log.warning("could not delete %s: %s", obj.name, exc)
            return self._fixed(command, STATUS_PROTECTED)
        if obj.relpath is not None:
            self._attrs.pop(obj.relpath, None)
        return self._fixed(command)

    def _set_attributes(self, command: cu.Command) -> _Answer:
        try:
            request = cr.decode_attributes_request(command.payload)
        except DecodeError:
            return self._fixed(command, STATUS_INVALID)
        self._finish_upload(request.folder.rstrip("\\") + "\\" + request.name)
        obj = self._find_in(request.folder, request.name)
        if obj is None:
            return self._fixed(command, STATUS_NOT_FOUND)
        if not obj.is_folder:
            self._attrs[obj.relpath or PurePosixPath(obj.name)] = request.attrs & 0xFF
            obj.protected = bool(request.attrs & cu.ATTR_WRITE_PROTECTED)
        return self._fixed(command)

    def _set_file_time(self, command: cu.Command) -> _Answer:
        try:
            request = cr.decode_file_time_request(command.payload)
        except DecodeError:
            return self._fixed(command, STATUS_INVALID)
        self._finish_upload(request.path)
        target = self._find(request.path)
        if not isinstance(target, StoredObject) or target.relpath is None:
            return self._fixed(command, STATUS_NOT_FOUND)
        stamp = _from_local_seconds(request.time).timestamp()
        os.utime(self._store.path_of(target), (stamp, stamp))
        return self._fixed(command)

    def _make_dir(self, command: cu.Command) -> _Answer:
        try:
            path = cr.decode_path(command.payload)
        except DecodeError:
            return self._fixed(command, STATUS_INVALID)
        parts = self._split(path)
        if not parts or self._find(path) is not None:
            return self._fixed(command, STATUS_INVALID)
        parent = self._find("\\".join([self.personality.drive, *parts[:-1]]))
        if parent is None or (isinstance(parent, StoredObject) and not parent.is_folder):
            return self._fixed(command, STATUS_INVALID)
        base = self._store.path_of(parent) if isinstance(parent, StoredObject) else self._store.root
        if self._store.read_only or not _safe_name(parts[-1]):
            return self._fixed(command, STATUS_PROTECTED)
        (base / parts[-1]).mkdir()
        self._store.scan()
        return self._fixed(command)

    def _remove_dir(self, command: cu.Command) -> _Answer:
        try:
            path = cr.decode_path(command.payload)
        except DecodeError:
            return self._fixed(command, STATUS_INVALID)
        target = self._find(path)
        if not isinstance(target, StoredObject) or not target.is_folder:
            return self._fixed(command, STATUS_INVALID)
        if any(True for _ in self._store.children(target.handle)):
            return self._fixed(command, STATUS_INVALID)  # DOS rmdir: only an empty folder
        self._store.delete(target)
        return self._fixed(command)

    # -- upload ----------------------------------------------------------------------------

    def _upload_reply(self, serial: int, status: int) -> _Answer:
        """The 0x5C-byte answer to a block (usb.c reads 0x40 + 0x1C); its header is a fixed
        reply's, as nothing else is documented of it."""
        self.log.append("UploadBlock")
        reply = cu.Reply(
            cmd1=cr.UPLOAD_CMD1,
            cmd2=cu.STORAGE,
            serial=serial,
            status=status,
            data=bytes(cr.UPLOAD_REPLY_BYTES - _BARE_REPLY),
        )
        return (_Transfer(cu.encode_reply(reply)),), ()

    def _upload_block(self, raw: bytes) -> _Answer:
        try:
            block = cr.decode_upload_block(raw)
        except DecodeError as exc:
            _log.debug("an upload block that does not decode: %s", exc)
            return self._upload_reply(0, STATUS_INVALID)
        key = block.path.upper()
        upload = self._uploads.get(key)
        store = self._store
        if upload is None:
            parts = self._split(block.path)
            if not parts or block.offset != 0:
                return self._upload_reply(block.serial, STATUS_INVALID)
            folder = self._find("\\".join([self.personality.drive, *parts[:-1]]))
            name = parts[-1]
            if folder is None or (isinstance(folder, StoredObject) and not folder.is_folder):
                return self._upload_reply(block.serial, STATUS_INVALID)
            if self._find(block.path) is not None or unsafe_name_reason(name) is not None:
                return self._upload_reply(block.serial, STATUS_INVALID)
            if store.read_only:
                return self._upload_reply(block.serial, STATUS_PROTECTED)
            base_rel = folder.relpath if isinstance(folder, StoredObject) else None
            relpath = (base_rel or PurePosixPath()) / name
            temp = store.root / str(relpath.parent) / f"{UPLOAD_PREFIX}{name}"
            temp.write_bytes(b"")
            upload = self._uploads[key] = _Upload(temp=temp, relpath=relpath)
        if block.offset != upload.size:
            return self._upload_reply(block.serial, STATUS_INVALID)
        if store.storage_info().free_space_bytes < upload.size + len(block.data):
            return self._upload_reply(block.serial, STATUS_CARD_FULL)
        with upload.temp.open("r+b") as file:
            file.seek(block.offset)
            file.write(block.data)
        upload.size += len(block.data)
        return self._upload_reply(block.serial, cu.STATUS_OK)

    def _finish_upload(self, path: str) -> None:
        """The host names a file it uploaded (its time, its attributes): it is complete."""
        upload = self._uploads.pop(path.upper(), None)
        if upload is None:
            return
        final = self._store.root / str(upload.relpath)
        if final.exists():
            upload.temp.unlink(missing_ok=True)
            return
        os.replace(upload.temp, final)
        self._store.add_file(str(upload.relpath))

    # -- control commands --------------------------------------------------------------------

    def _identify(self, command: cu.Command) -> _Answer:
        identity = cu.Identity(
            firmware=self.personality.firmware,
            model=self.personality.identify_name,
            # Class 6 answers its owner apart, to GetOwner2 (canon.c canon_int_identify_camera:
            # "Need to get owner explicitly").
            owner="" if self.model.protocol_class == 6 else self.owner,
            camera_id=self.personality.camera_id,
        )
        return self._fixed(command, cu.STATUS_OK, cu.encode_identity(identity))

    def _get_time(self, command: cu.Command) -> _Answer:
        seconds = _local_seconds(self.camera.properties.clock.now())
        return self._fixed(command, cu.STATUS_OK, cu.encode_time(seconds))

    def _set_time(self, command: cu.Command) -> _Answer:
        try:
            seconds = cu.decode_time(command.payload)
        except DecodeError:
            return self._fixed(command, STATUS_INVALID)
        clock = self.camera.properties.clock
        clock.offset = _from_local_seconds(seconds) - _dt.datetime.now()
        return self._fixed(command)

    def _set_owner(self, command: cu.Command) -> _Answer:
        owner: str | None
        try:
            owner = cr.decode_path(command.payload)
        except DecodeError:
            owner = "" if command.payload in (b"", b"\x00") else None
        # The owner field is 32 bytes with its NUL (libgphoto2 allows 30 characters).
        if owner is None or len(owner) > 31 or not owner.isascii():
            return self._fixed(command, STATUS_INVALID)
        self.owner = owner
        return self._fixed(command)

    def _get_owner(self, command: cu.Command) -> _Answer:
        return self._fixed(command, cu.STATUS_OK, cu.encode_owner(self.owner))

    def _body_id(self, command: cu.Command) -> _Answer:
        return self._fixed(command, cu.STATUS_OK, cu.encode_body_id(self.personality.body_id))

    def _after_release(self, command: cu.Command) -> _Answer:
        # 0x22 with u32 0x0F, which libgphoto2 sends after a class 6 release because "the
        # Windows software issues it here" (usb.c canon_usb_capture_dialogue): acknowledged.
        return self._fixed(command)

    def _power_status(self, command: cu.Command) -> _Answer:
        properties = self.camera.properties
        level = as_int(properties[0x5001].current()) if 0x5001 in properties else 100
        power = cu.PowerStatus(
            status=cu.POWER_OK if level > 10 else _POWER_BAD,
            flags=cu.POWER_BATTERY_BIT,  # running on its battery
        )
        return self._fixed(command, cu.STATUS_OK, cu.encode_power_status(power))

    def _pic_abilities(self, command: cu.Command) -> _Answer:
        # libgphoto2 checks only the length (0x334 after the header: usb.c canon_usb_lock_keys)
        # and "ignores them as we don't know how to interpret the data" (canon.c): the data
        # is not documented, so the reply carries the status and zeros.
        return self._fixed(command)

    def _lock_keys(self, command: cu.Command) -> _Answer:
        self._keys_locked = True
        return self._fixed(command)

    def _unlock_keys(self, command: cu.Command) -> _Answer:
        self._keys_locked = False
        return self._fixed(command)

    # -- remote capture ----------------------------------------------------------------------

    def _remote_reply(self, command: cu.Command, sub: int, status: int, extra: bytes) -> _Answer:
        """A RemoteControl reply: 0x40 + the subcommand's extra length; after the status, the
        subcommand echoed and its data (canon.c canon_int_get_release_params reads the
        parameters at 0x5C, canon_int_get_zoom the zoom at 0x5C/0x5E)."""
        try:
            total = cu.remote_reply_bytes(sub)
        except KeyError:
            return self._reply(command, STATUS_INVALID, b"")
        room = total - _BARE_REPLY
        data = (struct.pack("<I", sub) + extra)[:room].ljust(room, b"\x00")
        return self._reply(command, status, data)

    def _remote_control(self, command: cu.Command) -> _Answer:
        payload = command.payload
        if len(payload) < 4:
            return self._reply(command, STATUS_INVALID, b"")
        (sub,) = struct.unpack_from("<I", payload)
        _word0, word1 = _words(payload)
        state = self._remote
        if sub == 0x00:  # Init: lens out, remote mode
            if not self.model.capture_capable:
                return self._remote_reply(command, sub, STATUS_NO_CAPTURE_MODE, b"")
            state.active = True
            return self._remote_reply(command, sub, cu.STATUS_OK, b"")
        if sub == 0x01:  # Exit
            state.active = False
            state.captures.clear()
            return self._remote_reply(command, sub, cu.STATUS_OK, b"")
        if not state.active:
            return self._remote_reply(command, sub, STATUS_INVALID, b"")
        if sub == 0x09:  # SetTransferMode: word0 = 4, word1 = the mode bits
            state.transfer_mode = word1 & 0x0F
            return self._remote_reply(command, sub, cu.STATUS_OK, b"")
        if sub == 0x0A:  # GetParams: u32 block length, then the block
            return self._remote_reply(
                command, sub, cu.STATUS_OK, struct.pack("<I", _PARAMS_BYTES) + bytes(state.params)
            )
        if sub == 0x07:  # SetParams: the block from payload offset 8 (canon.c set_release_params)
            block = payload[8 : 8 + _PARAMS_BYTES]
            state.params[: len(block)] = block
            return self._remote_reply(command, sub, cu.STATUS_OK, b"")
        if sub == 0x0B:  # GetZoom: level at +8, maximum at +10 after the status (canon.c)
            return self._remote_reply(command, sub, cu.STATUS_OK, bytes((4, 0, 0, 0, 0, 0, 10, 0)))
        if sub == 0x0C:  # SetZoom
            return self._remote_reply(command, sub, cu.STATUS_OK, b"")
        if sub == 0x0D:  # GetAvailableShots
            free = self._store.storage_info().free_space_bytes
            shots = min(free // 1_500_000, 0xFFFFFFFF)
            return self._remote_reply(command, sub, cu.STATUS_OK, struct.pack("<II", 4, shots))
        if sub == 0x04:  # Release
            return self._release(command)
        if sub in {s.sub for s in cu.REMOTE_SUBS}:
            return self._remote_reply(command, sub, cu.STATUS_OK, b"")
        return self._reply(command, STATUS_INVALID, b"")

    def _release(self, command: cu.Command) -> _Answer:
        state = self._remote
        mode = state.transfer_mode
        capture = self._take_picture(to_card=bool(mode & cu.TRANSFER_FULL_TO_CARD))
        answer, _ = self._remote_reply(command, 0x04, cu.STATUS_OK, b"")
        klass = self.model.protocol_class
        # PowerShots and class 4 bracket the image-ready messages with 0x0A "first"/"done"; a
        # class 6 body sends the image-ready ones and 0x0E alone (libgphoto2 accepts 0x0E at
        # any step only from class 6: usb.c canon_usb_capture_dialogue).
        messages = [] if klass == 6 else [cr.capture_status(cu.CAPTURE_FIRST).raw]
        if mode & cu.TRANSFER_THUMB_TO_PC:
            messages.append(
                cu.image_ready(
                    cu.InterruptType.THUMBNAIL_READY, key=capture.key, size=len(capture.thumbnail)
                ).raw
            )
        if mode & cu.TRANSFER_FULL_TO_PC:
            messages.append(
                cu.image_ready(
                    cu.InterruptType.FULL_IMAGE_READY, key=capture.key, size=len(capture.full)
                ).raw
            )
        if klass != 6:
            messages.append(cr.capture_status(cu.CAPTURE_DONE).raw)
        if klass in (4, 6):
            # EOS: 0x0E once the picture is on the card ("never seen if the transfer mode
            # didn't include any local storage"), then class 4's final 0x0F.
            if mode & (cu.TRANSFER_THUMB_TO_CARD | cu.TRANSFER_FULL_TO_CARD):
                messages.append(cr.eos_message(cu.InterruptType.EOS_FLASH_WRITE_COMPLETE).raw)
            if klass == 4:
                messages.append(cr.eos_message(cu.InterruptType.EOS_FINAL).raw)
        if mode & (cu.TRANSFER_THUMB_TO_PC | cu.TRANSFER_FULL_TO_PC):
            # Kept for RetrieveCapture (the newest few only: bounded memory).
            state.captures[capture.key] = capture
            for old in sorted(state.captures)[:-4]:
                del state.captures[old]
        return answer, tuple(messages)

    def _take_picture(self, *, to_card: bool) -> _Capture:
        """Render a picture (with its EXIF thumbnail, as the camera writes it); on the card in
        the newest DCF folder under the next number when the mode keeps it there."""
        state = self._remote
        state.next_key += 1
        folder, number = self._next_capture_slot()
        name = f"IMG_{number:04d}.JPG"
        settings = self.camera.properties
        full = render_jpeg_bytes(
            title=f"{self.personality.identify_name}  {name}",
            taken=settings.clock.now(),
            size=self.personality.image_size,
            seed=2000 + number,
            make="Canon",
            model=self.personality.identify_name,
        )
        thumb = thumbnail_of_bytes(full)
        full = with_exif_thumbnail(full, thumb)
        if to_card:
            store = self._store
            relpath = PurePosixPath(folder) / name
            path = store.root / str(relpath)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(full)
            store.add_file(str(relpath))
        return _Capture(key=state.next_key, full=full, thumbnail=thumb)

    def _next_capture_slot(self) -> tuple[str, int]:
        """The newest DCF folder under DCIM (or DCIM/100CANON) and the next file number.

        Numbered on from the highest number in any DCF folder and from the last one this camera
        gave (Canon's default "File numbering: Continuous"): a capture after the newest
        picture was deleted, or into a folder of its own, never takes a number the card or the
        camera has already used."""
        store = self._store
        dcim = next(
            (o for o in store.children(0) if o.is_folder and o.name.upper() == "DCIM"), None
        )
        folders = (
            [o for o in store.children(dcim.handle) if o.is_folder and _DCF_FOLDER.match(o.name)]
            if dcim is not None
            else []
        )
        numbers = [
            int(m.group(1))
            for folder in folders
            for o in store.children(folder.handle)
            if (m := _DCF_FILE.match(o.name))
        ]
        number = max(self._remote.last_number, *numbers, 0) % 9999 + 1
        self._remote.last_number = number
        if dcim is None or not folders:
            return "DCIM/100CANON", number
        newest = max(folders, key=lambda o: (int(o.name[:3]), o.name.upper()))
        return f"{dcim.name}/{newest.name}", number

    def _retrieve_capture(self, command: cu.Command) -> _Answer:
        try:
            request = cr.decode_retrieve_request(command.payload)
        except DecodeError:
            return self._variable(command, b"", 0x40)
        chunk = self._chunk(request.chunk_bytes)
        capture = self._remote.captures.get(request.key)
        if capture is None:
            return self._variable(command, b"", chunk)
        if request.what == cr.DOWNLOAD_THUMB:
            return self._variable(command, capture.thumbnail, chunk)
        if request.what == cr.DOWNLOAD_FULL:
            return self._variable(command, capture.full, chunk)
        return self._variable(command, b"", chunk)  # no secondary (RAW + JPEG) image

    def __repr__(self) -> str:
        return f"<PowerShotDevice {self.personality.key} on {self.camera!r}>"


def _words(payload: bytes) -> tuple[int, int]:
    """A RemoteControl payload's word0 and word1 (0 where the payload is shorter): read
    leniently, as libgphoto2 sends SetParams with a length of its own (canon.c
    canon_int_set_release_params) that the codec's strict decoder refuses."""
    padded = payload[4:12].ljust(8, b"\x00")
    word0, word1 = struct.unpack("<II", padded)
    return int(word0), int(word1)


def _wire(name: str) -> str:
    """A card name as the camera sends it: upper case, as DOS shows FAT names (the camera
    knows no long names; libgphoto2's gphoto2canonpath upper-cases every path it sends and
    calls lower case "not allowed"), Latin-1 ("?" for what does not fit)."""
    return name.upper().encode("latin-1", errors="replace").decode("latin-1")


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\x00" not in name


def _local_seconds(local: _dt.datetime) -> int:
    """A naive local time as the camera counts it: Unix-like seconds of the wall clock."""
    return max(0, min(calendar.timegm(local.timetuple()), 0xFFFFFFFF))


def _from_local_seconds(seconds: int) -> _dt.datetime:
    return _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=seconds)


def card_path(device: PowerShotDevice, relpath: str | Path) -> str:
    """A card file's camera path: "DCIM/100CANON/IMG_0001.JPG" -> "D:\\DCIM\\100CANON\\...".
    (For tests and clients that know a file by its place on the card.)"""
    return device._camera_path(PurePosixPath(str(relpath)))


# -- a PowerShot's card ------------------------------------------------------------------------

#: Where a PowerShot of this time keeps its pictures (DCF: three digits, "CANON").
CARD_FOLDER: Final = "DCIM/100CANON"
_MOVIE_SIZE: Final = (320, 240)
_MOVIE_FRAMES: Final = 15


def make_powershot_card(
    root: Path,
    model: str | PowerShotModel | PowerShotPersonality = "powershot-g3",
    *,
    now: _dt.datetime | None = None,
) -> None:
    """Fill ``root`` as a PowerShot leaves its card: DCIM/100CANON with three JPEGs (EXIF with
    the camera's make and model and an embedded thumbnail, as the camera writes them), a
    Motion-JPEG movie MVI_0004.AVI (320x240, 15 frames: the G3's movie format) and its
    MVI_0004.THM thumbnail, a day apart; the files' times are their pictures' times."""
    personality = personality_for(model)
    now = (now or _dt.datetime.now()).replace(microsecond=0)
    folder = root / CARD_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    start = now - _dt.timedelta(days=4)
    for index in range(1, 4):
        taken = start + _dt.timedelta(days=index - 1, hours=index)
        picture = render_jpeg_bytes(
            title=f"{personality.identify_name}  IMG_{index:04d}",
            taken=taken,
            size=personality.image_size,
            seed=500 + index,
            make="Canon",
            model=personality.identify_name,
        )
        path = folder / f"IMG_{index:04d}.JPG"
        path.write_bytes(with_exif_thumbnail(picture, thumbnail_of_bytes(picture)))
        _touch(path, taken)
    taken = start + _dt.timedelta(days=3, hours=4)
    frames = [
        render_jpeg_bytes(
            title=f"MVI_0004 {frame + 1:02d}",
            taken=taken,
            size=_MOVIE_SIZE,
            seed=600,
            make="Canon",
            model=personality.identify_name,
            quality=70,
        )
        for frame in range(_MOVIE_FRAMES)
    ]
    movie = folder / "MVI_0004.AVI"
    movie.write_bytes(mjpeg_avi(frames, size=_MOVIE_SIZE, fps=15))
    thm = folder / "MVI_0004.THM"
    thm.write_bytes(with_exif_thumbnail(frames[0], thumbnail_of_bytes(frames[0])))
    _touch(movie, taken)
    _touch(thm, taken)


def _touch(path: Path, when: _dt.datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


#: The card of a virtual PowerShot made here: 1 GiB, a CompactFlash card (or IBM Microdrive) of
#: the G3's time. Its DiskInfo words (u32 bytes on the old protocol) then hold the real figures,
#: where the virtual camera's default 64 GB card would be clipped to 4 GiB.
CARD_CAPACITY_BYTES: Final = 1 << 30


def open_powershot(
    model: str | PowerShotModel | PowerShotPersonality = "powershot-g3",
    root: str | Path | None = None,
    *,
    owner: str | None = None,
) -> PowerShotDevice:
    """A virtual PowerShot with a card of its own: ``root`` (an existing folder), or a new
    temporary PowerShot card (:func:`make_powershot_card`). Closing the device closes the
    camera it made (and removes a temporary card)."""
    personality = personality_for(model)
    if root is None:
        holder = tempfile.TemporaryDirectory(prefix="ptpkit-powershot-")
        make_powershot_card(Path(holder.name), personality)
        camera = VirtualCamera(holder.name, capacity_bytes=CARD_CAPACITY_BYTES)
        device = PowerShotDevice(camera, personality, owner=owner)
        device.owns(camera, holder)
        return device
    camera = VirtualCamera(root, capacity_bytes=CARD_CAPACITY_BYTES)
    device = PowerShotDevice(camera, personality, owner=owner)
    device.owns(camera, None)
    return device


def _file_exif_head(path: Path) -> bytes | None:
    """The head of a JPEG file through its EXIF block (APP1 is at most 64 KiB, and comes
    first)."""
    try:
        with path.open("rb") as file:
            start = file.read(1 << 17)
    except OSError:
        return None
    return exif_head(start)
