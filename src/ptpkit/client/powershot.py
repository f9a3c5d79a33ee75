"""PowerShots on Canon's native USB protocol: :class:`PowerShot`, what canon-remote offers and more.

A :class:`PowerShot` works over an open :class:`~ptpkit.transports.canon_usb.CanonUsbLink`
(``PowerShot.open("canon-usb:")`` makes and wakes one)::

    with PowerShot.open("canon-usb:") as cam:
        print(cam.model, cam.owner, cam.firmware)     # "Canon PowerShot G3", "Kiril", "1.0.2.0"
        cam.set_owner("me")
        for entry in cam.walk():                       # the whole card, streamed
            print(entry.path, entry.size)
        with open("IMG_0001.JPG", "wb") as out:
            cam.download(r"D:\\DCIM\\100CANON\\IMG_0001.JPG", out.write)
        shot = cam.capture()                           # the new file, found by listing

The same camera behind an ordinary :class:`ptpkit.Camera` (and every CLI command):
``ptpkit.connect("canon-usb:")`` (:mod:`ptpkit.client.powershot_ptp`).

Paths are the camera's: a drive from FlashDeviceIdent ("D:"), backslashes
(``D:\\DCIM\\100CANON\\IMG_0001.JPG``). Times are the camera's local clock, which the protocol
carries as Unix-like seconds of local time (libgphoto2 canon.c canon_int_set_time adds the UTC
offset before sending): naive :class:`datetime.datetime` values here.

Facts from vendors.md section 5 and libgphoto2 ``camlibs/canon`` (``canon.c``, ``usb.c``), named
where used. Upload follows libgphoto2's ``canon_usb_put_file`` as compiled with
CANON_EXPERIMENTAL_UPLOAD (distributed builds answer "not supported"): its wire format is known,
its use on real cameras rare; ptpkit checks it against the virtual PowerShot only.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

from ptpkit import _log
from ptpkit.codes.powershot_models import PowerShotModel
from ptpkit.core import canon_usb as cu
from ptpkit.core import canon_usb_requests as cr
from ptpkit.errors import (
    DecodeError,
    LocalProtocolError,
    RemoteProtocolError,
    ResponseError,
    TransportTimeout,
    UsageError,
)
from ptpkit.transports.canon_usb import CanonStatusError, CanonUsbLink, VariableReply

__all__ = [
    "CAPTURE_TIMEOUT_S",
    "CaptureFailedError",
    "CaptureResult",
    "CardEntry",
    "DiskSpace",
    "PowerShot",
    "Upload",
    "canon_join",
    "canon_split",
]

log = _log.get_logger("ptpkit.canon")

#: A listing of the whole card may be this long (libgphoto2 allows 1 MiB; the data is streamed
#: here, so this only bounds a camera that announces nonsense).
MAX_LISTING_BYTES: Final = 64 << 20
#: FlashDeviceIdent answers a drive name (lgc canon.c canon_int_get_disk_name: 1024 at most).
MAX_DRIVE_NAME_BYTES: Final = 1024
#: The transfer mode of a capture kept on the card (lgc canon.h REMOTE_CAPTURE_FULL_TO_DRIVE).
TRANSFER_FULL_TO_DRIVE: Final = cu.TRANSFER_FULL_TO_CARD
#: How long a capture may take, release to the last interrupt message (libgphoto2 gives the
#: release 15 s and the interrupt reads far more: "even covering bulb exposures").
CAPTURE_TIMEOUT_S: Final = 60.0
#: Entering remote mode extends the lens: ~5 s on a G2, ~10 s with the lens cap on (vendors.md
#: 5.8); libgphoto2 allows 15 s.
REMOTE_INIT_TIMEOUT_S: Final = 15.0
#: Class 4 bodies whose capture ends at 0x0E (picture written) rather than waiting for 0x0F:
#: EOS 10D and 300D (lgc usb.c canon_usb_capture_dialogue, "Special case ... EOS 300D").
_EOS_ENDS_AT_0E: Final = frozenset({0x3083, 0x3084})
#: File kinds libgphoto2 counts as images when it looks for the captured file (canon.c is_image).
IMAGE_SUFFIXES: Final = (".JPG", ".JPEG", ".CRW", ".CR2", ".THM")
_MOVIE_SUFFIXES: Final = (".AVI", ".MOV")


class CaptureFailedError(ResponseError):
    """The camera signalled a photographic failure after the release (interrupt message 0x0A
    with 0x0A at 0x0C; code 1 = autofocus failed: lgc usb.c canon_usb_capture_dialogue)."""

    def __init__(self, code: int) -> None:
        reason = " (autofocus failed)" if code == 1 else ""
        super().__init__(code, name=f"photographic failure{reason}", operation_name="capture")
        self.args = (f"capture failed: the camera reports failure 0x{code:08X}{reason}",)


def canon_join(folder: str, name: str) -> str:
    """A camera path from its folder and name (backslashes, as the camera writes them)."""
    return f"{folder.rstrip(chr(92))}\\{name}" if folder else name


def canon_split(path: str) -> tuple[str, str]:
    """(folder, name) of a camera path."""
    folder, sep, name = path.rpartition("\\")
    return (folder, name) if sep else ("", path)


def camera_seconds(when: _dt.datetime) -> int:
    """A naive local datetime as the camera's seconds (its wall clock read as if UTC)."""
    return calendar.timegm(when.replace(tzinfo=None).timetuple())


def camera_datetime(seconds: int) -> _dt.datetime:
    """The camera's seconds as a naive datetime of its wall clock."""
    return _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=seconds)


@dataclass(frozen=True, kw_only=True, slots=True)
class CardEntry:
    """A file or folder of the card, from a directory listing (lgc canon.h CANON_DIRENT_*)."""

    #: The camera's path (``D:\\DCIM\\100CANON\\IMG_0001.JPG``; a folder without a trailing \\).
    path: str
    size: int
    #: The camera's local time of the entry, as it sends it (seconds).
    time: int
    attrs: int
    is_dir: bool

    @property
    def folder(self) -> str:
        return canon_split(self.path)[0]

    @property
    def name(self) -> str:
        return canon_split(self.path)[1]

    @property
    def modified(self) -> _dt.datetime | None:
        """The entry's time as a naive datetime of the camera's clock (None when 0)."""
        return camera_datetime(self.time) if self.time else None

    @property
    def downloaded(self) -> bool:
        """False while the camera marks the file "not yet downloaded" (attribute 0x20)."""
        return not self.attrs & cu.ATTR_NOT_DOWNLOADED

    @property
    def write_protected(self) -> bool:
        return bool(self.attrs & cu.ATTR_WRITE_PROTECTED)


@dataclass(frozen=True, kw_only=True, slots=True)
class DiskSpace:
    """A drive's capacity and free space, in bytes."""

    drive: str
    capacity_bytes: int
    free_bytes: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CaptureResult:
    """What a remote capture produced: the new file (found by listing before and after), and
    the interrupt messages the camera sent meanwhile."""

    entry: CardEntry
    messages: tuple[cu.InterruptMessage, ...]

    @property
    def path(self) -> str:
        return self.entry.path


class _Kind(enum.Enum):
    FILE = 0
    THUMBNAIL = 1


class PowerShot:
    """The native API of one PowerShot over an open link (see the module's docstring).
    Every method takes ``timeout_s``, the deadline of that whole call (default: the one given
    here)."""

    def __init__(self, link: CanonUsbLink, *, timeout_s: float = 20.0) -> None:
        self.link = link
        self.timeout_s = timeout_s
        self._drive: str | None = None
        self._in_remote = False
        self._closed = False
        #: Runs after the link closes (the virtual PowerShot that open() made for a URL).
        self._on_close: Callable[[], None] | None = None

    @classmethod
    def open(
        cls, url: str = "canon-usb:", *, backend: Any = None, timeout_s: float = 20.0
    ) -> PowerShot:
        """Find the PowerShot a ``canon-usb:`` URL names (the ``usb:`` selectors), wake it up
        and return its API. ``backend``: a PyUSB backend or its name. The virtual PowerShot's
        URLs (``virtual+usb:?model=powershot-g3``, ``virtual:?model=powershot-g2``) open it,
        on a card of its own (or the URL's folder), closed with this API."""
        from ptpkit.client.virtual_powershot import (  # noqa: PLC0415
            virtual_powershot_link,
            virtual_powershot_model,
        )
        from ptpkit.transports.canon_usb import find_link  # noqa: PLC0415

        model = virtual_powershot_model(url)
        owned = None
        if model is None:
            link = find_link(url, backend)
        else:
            if backend is not None:
                raise UsageError(f"{url!r} is the virtual PowerShot: it takes no backend")
            link, owned = virtual_powershot_link(url, {}, model)
        try:
            link.open(timeout_s)
        except BaseException:
            link.close()
            if owned is not None:
                owned.close()
            raise
        api = cls(link, timeout_s=timeout_s)
        api._on_close = owned.close if owned is not None else None
        return api

    def _t(self, timeout_s: float | None) -> float:
        return self.timeout_s if timeout_s is None else timeout_s

    # -- who the camera is -----------------------------------------------------------------------

    @property
    def model_info(self) -> PowerShotModel:
        """The model table's row (libgphoto2's name, protocol class, capture support)."""
        return self.link.model

    def identify(self, *, timeout_s: float | None = None) -> cu.Identity:
        """IdentifyCamera again: model, owner and firmware as the camera says them now."""
        # (class 6: the owner through GetOwner2, in the link's identify)
        identity = self.link.identify(timeout_s=self._t(timeout_s))
        self.link.identity = identity
        return identity

    def _identity(self) -> cu.Identity:
        return self.link.identity or self.identify()

    @property
    def model(self) -> str:
        """The model as the camera names itself ("Canon PowerShot G3")."""
        return self._identity().model

    @property
    def owner(self) -> str:
        return self._identity().owner

    @property
    def firmware(self) -> str:
        """The firmware version as libgphoto2 and canon-remote print it ("1.0.2.0")."""
        return self._identity().firmware_text

    def get_owner(self, *, timeout_s: float | None = None) -> str:
        return self.identify(timeout_s=timeout_s).owner

    def set_owner(self, owner: str, *, timeout_s: float | None = None) -> None:
        """Set the owner name (ASCII, at most 31 characters; lgc canon.c
        canon_int_set_owner_name)."""
        cu.encode_owner(owner)  # the same bounds IdentifyCamera's field has
        name = "SetOwner2" if self.link.protocol_class == 6 else "SetOwner"
        self.link.dialogue(name, cr.encode_path(owner), timeout_s=self._t(timeout_s))
        self.identify(timeout_s=timeout_s)

    # -- time ------------------------------------------------------------------------------------

    def get_time(self, *, timeout_s: float | None = None) -> _dt.datetime:
        """The camera's clock (naive: the camera's local time)."""
        reply = self.link.dialogue("GetTime", timeout_s=self._t(timeout_s))
        return camera_datetime(cu.decode_time(reply.data))

    def set_time(self, when: _dt.datetime | None = None, *, timeout_s: float | None = None) -> None:
        """Set the camera's clock; None: now, in this computer's local time. An aware datetime
        is converted to local time first (the camera knows no time zones)."""
        if when is None:
            when = _dt.datetime.now()
        elif when.tzinfo is not None:
            when = when.astimezone().replace(tzinfo=None)
        seconds = camera_seconds(when)
        if not 0 <= seconds <= 0xFFFFFFFF:
            raise UsageError(f"the camera's clock cannot hold {when.isoformat()}")
        self.link.dialogue("SetTime", cu.encode_time(seconds), timeout_s=self._t(timeout_s))

    # -- storage ---------------------------------------------------------------------------------

    def drive(self, *, timeout_s: float | None = None) -> str:
        """The card's drive name ("D:"), from FlashDeviceIdent (lgc canon.c
        canon_int_get_disk_name; class 6 FlashDeviceIdent2)."""
        if self._drive is None:
            name = "FlashDeviceIdent2" if self.link.protocol_class == 6 else "FlashDeviceIdent"
            data = bytearray()
            self.link.long_dialogue(
                name, b"", data.extend, timeout_s=self._t(timeout_s), max_bytes=MAX_DRIVE_NAME_BYTES
            )
            drive = bytes(data).split(b"\x00", 1)[0].decode("latin-1").rstrip("\\")
            if not drive:
                raise RemoteProtocolError("the camera names no drive (no card?)")
            self._drive = drive
        return self._drive

    def disk_space(self, *, timeout_s: float | None = None) -> DiskSpace:
        """Capacity and free space of the card (DiskInfo: bytes on the old protocol, kilobytes
        on class 6's DiskInfo2; vendors.md 5.6)."""
        drive = self.drive(timeout_s=timeout_s)
        new = self.link.protocol_class == 6
        # The old protocol asks for "D:\\" and its NUL; class 6 for "D:" without a NUL
        # (canon.c canon_int_get_disk_name_info).
        payload = cr.encode_path(drive, nul=False) if new else cr.encode_path(drive + "\\")
        reply = self.link.dialogue(
            "DiskInfo2" if new else "DiskInfo", payload, timeout_s=self._t(timeout_s)
        )
        info = cu.decode_disk_info(reply.data)
        scale = 1024 if new else 1
        return DiskSpace(
            drive=drive, capacity_bytes=info.capacity * scale, free_bytes=info.free * scale
        )

    def power_status(self, *, timeout_s: float | None = None) -> cu.PowerStatus:
        """Power: ``ok`` (status 6), ``on_battery`` (else on AC)."""
        return self.link.power_status(timeout_s=self._t(timeout_s))

    # -- listing ---------------------------------------------------------------------------------

    def walk(
        self, folder: str | None = None, *, timeout_s: float | None = None
    ) -> Iterator[CardEntry]:
        """Every folder and file under ``folder`` (default: the whole card), parents before
        their contents, streamed from one recursive GetDirEntries (depth 0x0F, lgc usb.c
        canon_usb_list_all_dirs): memory holds one bulk read and the folder path."""
        root = folder or self.drive(timeout_s=timeout_s)
        yield from self._listing(root, depth=0x0F, timeout_s=timeout_s)

    def list_folder(self, folder: str, *, timeout_s: float | None = None) -> list[CardEntry]:
        """The entries directly in ``folder`` (GetDirEntries depth 0, lgc usb.c
        canon_usb_get_dirents)."""
        return list(self._listing(folder, depth=0, timeout_s=timeout_s))

    def _listing(self, folder: str, *, depth: int, timeout_s: float | None) -> Iterator[CardEntry]:
        payload = cr.encode_dirents_request(cr.DirentsRequest(path=folder, depth=depth))
        reply = self.link.stream(
            "GetDirEntries", payload, timeout_s=self._t(timeout_s), max_bytes=MAX_LISTING_BYTES
        )
        stream = cu.DirentStream()
        # The folder path as libgphoto2 builds it (canon.c canon_int_find_new_image): an
        # entered directory (0x80) appends its name (its leading "." dropped), ".." pops one.
        path = ""
        first = True
        with _Closing(reply) as chunks:
            for chunk in chunks:
                for dirent in stream.feed(chunk):
                    entry, path, first = _step(dirent, path, first, folder)
                    if entry is not None:
                        yield entry
                if stream.done:
                    break
            stream.close()

    # -- files -----------------------------------------------------------------------------------

    def _size_limit(self, path: str, kind: _Kind) -> int:
        model = self.link.model
        if kind is _Kind.THUMBNAIL:
            return model.max_thumbnail_size
        if path.upper().endswith(_MOVIE_SUFFIXES):
            return model.max_movie_size
        return max(model.max_picture_size, model.max_movie_size)

    def open_file(
        self,
        path: str,
        *,
        thumbnail: bool = False,
        timeout_s: float | None = None,
        max_bytes: int | None = None,
    ) -> VariableReply:
        """Start GetFile for ``path`` (its thumbnail with ``thumbnail``): the reply's ``length``
        and its ``chunks`` as they are read (iterate to the end or close them)."""
        kind = _Kind.THUMBNAIL if thumbnail else _Kind.FILE
        # u32 file/thumbnail, u32 chunk size (libgphoto2 sends USB_BULK_READ_SIZE), the path;
        # class 6 sends no chunk size (vendors.md 5.6).
        chunk = None if self.link.protocol_class == 6 else cu.BULK_READ_BYTES
        payload = cr.encode_get_file_request(
            cr.GetFileRequest(path=path, thumbnail=thumbnail, chunk_bytes=chunk)
        )
        limit = self._size_limit(path, kind) if max_bytes is None else max_bytes
        return self.link.stream("GetFile", payload, timeout_s=self._t(timeout_s), max_bytes=limit)

    def download(
        self,
        path: str,
        sink: Callable[[bytes], object],
        *,
        thumbnail: bool = False,
        timeout_s: float | None = None,
    ) -> int:
        """The file to ``sink`` chunk by chunk, as the camera sends it (with ``thumbnail``, its
        thumbnail, :meth:`thumbnail`, in one piece); returns its length. (``ptpkit download``
        writes through ptpkit's ``.part`` machinery.)"""
        if thumbnail:
            thumb = self.thumbnail(path, timeout_s=timeout_s)
            if thumb is None:
                raise RemoteProtocolError(f"{path}: the camera sent no thumbnail JPEG")
            sink(thumb)
            return len(thumb)
        reply = self.open_file(path, timeout_s=timeout_s)
        with _Closing(reply) as chunks:
            for chunk in chunks:
                sink(chunk)
        return reply.length

    def thumbnail(self, path: str, *, timeout_s: float | None = None) -> bytes | None:
        """A picture's thumbnail: GetFile with the thumbnail flag answers the head of the file
        through its EXIF block, and the JPEG inside it is the thumbnail (lgc canon.c
        canon_int_get_thumbnail, canon_int_extract_jpeg_thumb); a camera that answers the bare
        thumbnail JPEG gives it as it is. None when the answer holds no JPEG."""
        data = bytearray()
        reply = self.open_file(path, thumbnail=True, timeout_s=timeout_s)
        with _Closing(reply) as chunks:
            for chunk in chunks:
                data += chunk
        raw = bytes(data)
        try:
            return cu.extract_jpeg_thumbnail(raw)
        except DecodeError:
            if raw[:2] == b"\xff\xd8" and raw[-2:] == b"\xff\xd9":
                return raw
            return None

    def upload(
        self,
        source: BinaryIO,
        folder: str,
        name: str,
        *,
        modified: _dt.datetime | None = None,
        timeout_s: float | None = None,
    ) -> CardEntry:
        """Write ``source`` (read to its end) to ``folder``\\``name`` on the card, as
        libgphoto2's canon_usb_put_file does it (CANON_EXPERIMENTAL_UPLOAD): blocks of at most
        0x1400 bytes, then the file's time (``modified``, default now; SetFileTime) and its
        attributes (0; SetFileAttributes), which complete it. ``timeout_s`` bounds each block.
        Returns the new entry."""
        uploader = self.start_upload(folder, name)
        while chunk := source.read(cr.UPLOAD_BLOCK_DATA_BYTES):
            uploader.send(chunk, timeout_s=self._t(timeout_s))
        return uploader.finish(modified, timeout_s=self._t(timeout_s))

    def start_upload(self, folder: str, name: str) -> Upload:
        """An upload to ``folder``\\``name`` fed piece by piece (:class:`Upload`)."""
        # No class branch: canon_usb_put_file sends the same blocks to every class, and only
        # its closing SetFileAttributes is class 6's own (see Upload.finish).
        if not name or "\\" in name:
            raise UsageError(f"a file name without backslashes, not {name!r}")
        return Upload(self, folder.rstrip("\\"), name)

    def delete(self, path: str, *, timeout_s: float | None = None) -> None:
        """Delete a file (lgc canon.c canon_int_delete_file): DeleteFile 0x0D (folder NUL name
        NUL NUL), or on class 6 DeleteFile2 0x0A (the whole path in a 0x30-byte field, the
        folder again). Class 3 cannot delete."""
        cls = self.link.protocol_class
        if cls == 3:
            raise UsageError(f"{self.link.model.display_name} cannot delete files (class 3)")
        folder, name = canon_split(path)
        request = cr.DeleteRequest(folder=folder, name=name)
        if cls == 6:
            payload = cr.encode_delete2_request(request)
            self.link.dialogue("DeleteFile2", payload, timeout_s=self._t(timeout_s))
        else:
            payload = cr.encode_delete_request(request)
            self.link.dialogue("DeleteFile", payload, timeout_s=self._t(timeout_s))

    def set_attributes(self, path: str, attrs: int, *, timeout_s: float | None = None) -> None:
        """Set a file's attribute bits (SetFileAttributes 0x0E, class 6 SetFileAttributes2 0x07:
        u32 attrs, folder NUL, name NUL; lgc usb.c canon_usb_set_file_attributes)."""
        if not 0 <= attrs <= 0xFFFFFFFF:
            raise LocalProtocolError(f"attributes are a u32, not {attrs}")
        folder, name = canon_split(path)
        payload = cr.encode_attributes_request(
            cr.AttributesRequest(attrs=attrs, folder=folder, name=name)
        )
        self.link.dialogue(
            _attributes_command(self.link.protocol_class), payload, timeout_s=self._t(timeout_s)
        )

    def mark_downloaded(self, entry: CardEntry, *, timeout_s: float | None = None) -> None:
        """Clear the "not yet downloaded" bit (0x20), as libgphoto2 does after a download."""
        if entry.attrs & cu.ATTR_NOT_DOWNLOADED:
            self.set_attributes(
                entry.path, entry.attrs & ~cu.ATTR_NOT_DOWNLOADED & 0xFF, timeout_s=timeout_s
            )

    def mkdir(self, path: str, *, timeout_s: float | None = None) -> None:
        self.link.dialogue("MakeDir", cr.encode_path(path), timeout_s=self._t(timeout_s))

    def rmdir(self, path: str, *, timeout_s: float | None = None) -> None:
        self.link.dialogue("RemoveDir", cr.encode_path(path), timeout_s=self._t(timeout_s))

    # -- remote capture --------------------------------------------------------------------------

    def _control(self, sub: int, *words: int, timeout_s: float) -> cu.Reply:
        new = self.link.protocol_class == 6
        payload = cu.encode_remote_payload(sub, *words, new_protocol=new)
        return self.link.dialogue(
            "RemoteControl2" if new else "RemoteControl", payload, timeout_s=timeout_s
        )

    def capture(self, *, timeout_s: float | None = None) -> CaptureResult:
        """Take a picture onto the card and find it (lgc canon.c canon_int_capture_image):
        list the card, enter remote mode (once), transfer mode "full image to card", release
        parameters read twice, drain the interrupt pipe, release, read the interrupt messages
        up to "done", list again; the new image is the first new image file."""
        model = self.link.model
        if not model.capture_capable:
            raise UsageError(f"{model.display_name} cannot take pictures over USB (libgphoto2)")
        total_s = CAPTURE_TIMEOUT_S if timeout_s is None else timeout_s
        before = {e.path for e in self.walk(timeout_s=timeout_s) if not e.is_dir}
        if not self._in_remote:
            # Init: "extends camera lens, puts us in remote capture mode".
            self._control(0x00, timeout_s=max(total_s, REMOTE_INIT_TIMEOUT_S))
            self._in_remote = True
        try:
            messages = self._release(total_s)
        except BaseException:
            # libgphoto2 unlocks the keys of a failed capture (usb.c canon_usb_capture_dialogue,
            # FAIL2) and "Try to leave camera in a usable state" (canon_int_end_remote_control).
            self._unlock_keys_quietly()
            self._leave_remote()
            raise
        new = [
            e
            for e in self.walk(timeout_s=timeout_s)
            if not e.is_dir and e.path not in before and e.name.upper().endswith(IMAGE_SUFFIXES)
        ]
        if not new:
            raise RemoteProtocolError(
                "the camera reported the picture taken, but no new image appeared on the card"
            )
        return CaptureResult(entry=new[0], messages=messages)

    def _release(self, total_s: float) -> tuple[cu.InterruptMessage, ...]:
        step_s = self._t(None)
        mode = TRANSFER_FULL_TO_DRIVE
        self._control(0x09, 0x04, mode, timeout_s=step_s)
        # The release parameters, read twice "just to see if that helps" (canon.c); the second
        # time libgphoto2 passes (4, mode), of which the 0x18-byte command carries only the 4
        # (canon_int_pack_control_subcmd).
        self._control(0x0A, 0x00, timeout_s=step_s)
        self._control(0x0A, 0x04, timeout_s=step_s)
        if self.link.protocol_class in (4, 6):
            self.link.lock_keys(timeout_s=step_s)
        self.link.drain_interrupts()
        reply = self._control(0x04, timeout_s=max(total_s, REMOTE_INIT_TIMEOUT_S))
        log.debug("release answered, %d bytes", len(reply.data))
        if self.link.protocol_class == 6:
            # "Don't know what this command does, but the Windows software issues it here"
            # (usb.c canon_usb_capture_dialogue); its failure is only logged there too.
            try:
                self.link.dialogue("Unknown22", (0x0F).to_bytes(4, "little"), timeout_s=step_s)
            except CanonStatusError as exc:
                log.debug("command 0x22 after the release: %s; continuing", exc)
        return self._capture_messages(total_s)

    def _unlock_keys_quietly(self) -> None:
        """Unlock the keys of an EOS-style camera (class 4 / 6) if this link locked them; a
        failure is only logged, as libgphoto2 does where it unlocks on its own."""
        try:
            self.link.unlock_keys(timeout_s=self._t(None))
        except (CanonStatusError, RemoteProtocolError) as exc:
            log.debug("unlocking the keys: %s", exc)
        except Exception as exc:  # the link may be gone already: what failed first is the news
            log.debug("unlocking the keys failed: %r", exc)

    def _leave_remote(self) -> None:
        if not self._in_remote:
            return
        self._in_remote = False
        try:
            self._control(0x01, timeout_s=self.timeout_s)
        except (CanonStatusError, RemoteProtocolError) as exc:
            log.debug("leaving remote mode: %s", exc)
        except Exception as exc:  # the link may be gone already: what failed first is the news
            log.debug("leaving remote mode failed: %r", exc)

    def _capture_messages(self, timeout_s: float) -> tuple[cu.InterruptMessage, ...]:
        """The interrupt messages after a release, up to 0x0A/0x1D (PowerShots end there; lgc
        usb.c canon_usb_capture_dialogue), within ``timeout_s``."""
        clock = self.link.clock  # the link's clock: one notion of time per link
        until = clock.monotonic() + timeout_s
        messages: list[cu.InterruptMessage] = []
        step = 0
        while True:
            left = until - clock.monotonic()
            if left <= 0:
                raise _capture_timeout(timeout_s, messages)
            message = self.link.read_interrupt(left)
            if message is None:
                raise _capture_timeout(timeout_s, messages)
            messages.append(message)
            if len(messages) > 64:
                raise RemoteProtocolError("the camera sends interrupt messages without end")
            kind = message.kind
            if kind in (cu.InterruptType.THUMBNAIL_READY, cu.InterruptType.FULL_IMAGE_READY):
                continue
            if kind == cu.InterruptType.SECONDARY_IMAGE_READY:
                continue
            if kind == cu.InterruptType.CAPTURE_STATUS:
                if message.status == cu.CAPTURE_FIRST:
                    step = 1
                    continue
                if message.status == cu.CAPTURE_DONE:
                    if step != 1:
                        raise RemoteProtocolError(
                            "capture: the camera said 'done' before 'first' (out of sequence)"
                        )
                    if self.link.protocol_class != 4:
                        return tuple(messages)
                    step = 2
                    continue
                if message.status == cu.CAPTURE_FAILED:
                    raise CaptureFailedError(message.failure or 0)
                log.debug("capture: unknown status 0x%02x in a 0x0A message", message.status or 0)
                continue
            if kind == cu.InterruptType.EOS_FLASH_WRITE_COMPLETE:
                # The picture is on the card. Class 6 sends it without the 0x0A pair; class 4
                # after "done" (usb.c canon_usb_capture_dialogue, case 0x0e).
                cls = self.link.protocol_class
                if step != 2 and cls != 6:
                    raise RemoteProtocolError(
                        "capture: 'written to the card' (0x0E) out of sequence"
                    )
                step = 3
                # "Canon SDK unlocks the keys here for EOS cameras"; libgphoto2 ignores a
                # failure ("known to not work on EOS 10D and 20D").
                self._unlock_keys_quietly()
                if cls == 6 or self.link.model.product_id in _EOS_ENDS_AT_0E:
                    return tuple(messages)
                continue
            if kind == cu.InterruptType.EOS_FINAL:
                if step == 2:
                    # No 0x0E came (nothing to the card): the keys are still locked, and here
                    # libgphoto2 gives up when they do not unlock.
                    self.link.unlock_keys(timeout_s=self._t(None))
                elif step != 3:
                    raise RemoteProtocolError(
                        "capture: the final EOS message (0x0F) out of sequence"
                    )
                return tuple(messages)
            raise RemoteProtocolError(
                f"capture: unknown interrupt message type 0x{kind:02x} (libgphoto2 gives up too)"
            )

    def next_interrupt(self, timeout_s: float | None = None) -> cu.InterruptMessage | None:
        """The next message of the interrupt endpoint (a capture's notifications, an EOS's
        "new file" 0x0E: lgc usb.c canon_usb_wait_for_event), or None within ``timeout_s``."""
        return self.link.read_interrupt(self._t(timeout_s))

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Leave remote mode if it was entered (lgc canon.c canon_int_end_remote_control) and
        close the link."""
        if self._closed:
            return
        self._closed = True
        try:
            # libgphoto2's camera_exit: unlock the keys (classes 4 and 6), then leave remote.
            self._unlock_keys_quietly()
            self._leave_remote()
        finally:
            try:
                self.link.close()
            finally:
                on_close, self._on_close = self._on_close, None
                if on_close is not None:
                    on_close()

    def __enter__(self) -> PowerShot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PowerShot {self.link.url} {self.link.model.display_name}>"


class Upload:
    """One file being uploaded: :meth:`send` takes its bytes in any pieces (blocks of 0x1400
    go out as they fill), :meth:`finish` sends the rest and completes the file."""

    def __init__(self, camera: PowerShot, folder: str, name: str) -> None:
        self._camera = camera
        self.folder = folder
        self.name = name
        self.path = canon_join(folder, name)
        self.offset = 0
        self._pending = bytearray()

    def send(self, data: bytes, *, timeout_s: float | None = None) -> None:
        self._pending += data
        while len(self._pending) >= cr.UPLOAD_BLOCK_DATA_BYTES:
            block = bytes(self._pending[: cr.UPLOAD_BLOCK_DATA_BYTES])
            del self._pending[: cr.UPLOAD_BLOCK_DATA_BYTES]
            self._block(block, timeout_s)

    def _block(self, block: bytes, timeout_s: float | None) -> None:
        self._camera.link.upload_block(self.path, self.offset, block, timeout_s=timeout_s)
        self.offset += len(block)

    def finish(
        self, modified: _dt.datetime | None = None, *, timeout_s: float | None = None
    ) -> CardEntry:
        """The last block, then the file's time and attributes (canon_usb_put_file ends with
        canon_usb_set_file_time and canon_usb_set_file_attributes: the camera names the file
        only then)."""
        if self._pending:
            self._block(bytes(self._pending), timeout_s)
            self._pending.clear()
        if self.offset == 0:
            raise UsageError(f"{self.path}: an empty file cannot be uploaded (no block to send)")
        link = self._camera.link
        seconds = camera_seconds(modified or _dt.datetime.now().replace(microsecond=0))
        link.dialogue(
            "SetFileTime",
            cr.encode_file_time_request(cr.FileTimeRequest(time=seconds, path=self.path)),
            timeout_s=timeout_s,
        )
        link.dialogue(
            _attributes_command(link.protocol_class),
            cr.encode_attributes_request(
                cr.AttributesRequest(attrs=0, folder=self.folder + "\\", name=self.name)
            ),
            timeout_s=timeout_s,
        )
        return CardEntry(path=self.path, size=self.offset, time=seconds, attrs=0, is_dir=False)


def _attributes_command(protocol_class: int) -> str:
    """SetFileAttributes (0x0E/0x11), or SetFileAttributes2 (0x07/0x11) on class 6, with the
    same payload (lgc usb.c canon_usb_set_file_attributes)."""
    return "SetFileAttributes2" if protocol_class == 6 else "SetFileAttributes"


def _capture_timeout(timeout_s: float, messages: list[cu.InterruptMessage]) -> TransportTimeout:
    seen = ", ".join(f"0x{m.kind:02x}" for m in messages) or "none"
    return TransportTimeout(
        f"capture: the camera did not finish within {timeout_s:g} s (interrupt messages: {seen})"
    )


class _Closing:
    """Iterate a variable reply's chunks; closing early drops the rest (the link stays in
    step)."""

    def __init__(self, reply: VariableReply) -> None:
        self._chunks = reply.chunks

    def __enter__(self) -> Iterator[bytes]:
        return self._chunks

    def __exit__(self, *exc: object) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def _step(
    dirent: cu.Dirent, path: str, first: bool, listed: str
) -> tuple[CardEntry | None, str, bool]:
    """One listing entry: (the entry to report or None, the folder path after it, first)."""
    name = dirent.name.decode("latin-1")
    if dirent.attrs & cu.ATTR_DIR_ENTERED:
        if dirent.is_parent:
            head, sep, _ = path.rpartition("\\")
            return None, (head if sep else path), False
        if first:
            # The listed folder itself comes first (vendors.md 5.7): its own path.
            return None, listed.rstrip("\\"), False
        part = name[1:] if name.startswith(".") else name
        part = part if part.startswith("\\") else "\\" + part
        folder = path + part
        entry = CardEntry(path=folder, size=0, time=dirent.time, attrs=dirent.attrs, is_dir=True)
        return entry, folder, False
    base = path or listed.rstrip("\\")
    entry = CardEntry(
        path=canon_join(base, name),
        size=dirent.size,
        time=dirent.time,
        attrs=dirent.attrs,
        is_dir=dirent.is_dir,
    )
    return entry, path, False
