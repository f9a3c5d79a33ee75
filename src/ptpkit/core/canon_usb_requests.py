"""Canon's pre-PTP USB protocol: the payloads of its commands, and the device's own messages.

:mod:`ptpkit.core.canon_usb` frames commands and replies; this module holds what travels inside
them, paired pull/push, so the host (``ptpkit.client.powershot``) and the virtual PowerShot
(``ptpkit.virtual.powershot``) share one definition of each layout:

- **Paths** (MakeDir, RemoveDir, DiskInfo; the owner name of SetOwner): a string and its NUL
  (lgc canon.c canon_int_directory_operations, canon_int_get_disk_name_info,
  canon_int_set_owner_name). Class 6's DiskInfo sends the drive without its NUL; a path that
  ends where the payload ends is taken as it is.
- **GetFile** (0x01/0x11): ``u32 flag (0 file, 1 thumbnail), u32 chunk size, path NUL``; class
  6 drops the chunk size and ends the path with two NULs (lgc usb.c canon_usb_get_file,
  canon_usb_get_thumbnail).
- **GetDirEntries** (0x0B/0x11): ``u8 recursion depth, path NUL, 0, 0`` (lgc usb.c
  canon_usb_get_dirents: 0 = this folder only, canon_usb_list_all_dirs: 0x0F = the whole tree).
- **DeleteFile** (old 0x0D/0x11): ``folder NUL, name NUL, NUL`` (lgc canon.c
  canon_int_delete_file).
- **SetFileAttributes** (old 0x0E/0x11, new 0x07/0x11): ``u32 attributes, folder NUL, name NUL,
  NUL`` (lgc usb.c canon_usb_set_file_attributes).
- **SetFileTime** (0x0F/0x11): ``u32 time, path NUL, NUL`` (lgc usb.c canon_usb_set_file_time).
- **RetrieveCapture** (0x17/0x12): ``u32 0, u32 transfer length, u32 what (1 thumbnail, 2 full,
  3 secondary), u32 image key`` (lgc usb.c canon_usb_get_captured_image).
- **Capture-status interrupt messages** (type 0x0A; byte 0x0C 0x1C first, 0x1D done, 0x0A
  failure with its code at 0x10) built field by field (lgc usb.c canon_usb_capture_dialogue).
- **The init packet** (control read 0x01) built from its documented fields (lgc usb.c
  canon_usb_camera_init; vendors.md 5.3).
- **Upload** blocks and their announcement (lgc usb.c canon_usb_put_file, compiled only with
  CANON_EXPERIMENTAL_UPLOAD: libgphoto2 as distributed does not upload).

Decoders are strict on lengths (a payload that ends inside a field, a path without its NUL where
libgphoto2 always sends one) and bounded (paths of at most :data:`MAX_PATH_BYTES`). Paths and names
are Latin-1 text: every byte maps to one character and back, so nothing is lost either way.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from ptpkit.core.buffer import BytesLike, Reader
from ptpkit.core.canon_usb import (
    CAPTURE_DONE,
    CAPTURE_FAILED,
    CAPTURE_FIRST,
    INIT_PACKET_BYTES,
    INTERRUPT_BYTES,
    InitPacket,
    InterruptMessage,
    InterruptType,
    decode_init_packet,
    decode_interrupt,
)
from ptpkit.errors import DecodeError, LocalProtocolError

__all__ = [
    "DELETE2_PATH_FIELD_BYTES",
    "DOWNLOAD_FULL",
    "DOWNLOAD_SECONDARY",
    "DOWNLOAD_THUMB",
    "GET_FILE_FULL",
    "GET_FILE_THUMBNAIL",
    "MAX_PATH_BYTES",
    "RECURSE_ALL",
    "UPLOAD_ANNOUNCE_BYTES",
    "UPLOAD_BLOCK_DATA_BYTES",
    "UPLOAD_CMD1",
    "UPLOAD_REPLY_BYTES",
    "AttributesRequest",
    "DeleteRequest",
    "DirentsRequest",
    "FileTimeRequest",
    "GetFileRequest",
    "RetrieveRequest",
    "UploadBlock",
    "capture_status",
    "decode_attributes_request",
    "decode_delete2_request",
    "decode_delete_request",
    "decode_dirents_request",
    "decode_file_time_request",
    "decode_get_file_request",
    "decode_path",
    "decode_retrieve_request",
    "decode_upload_announce",
    "decode_upload_block",
    "encode_attributes_request",
    "encode_delete2_request",
    "encode_delete_request",
    "encode_dirents_request",
    "encode_file_time_request",
    "encode_get_file_request",
    "encode_path",
    "encode_retrieve_request",
    "encode_upload_announce",
    "encode_upload_block",
    "eos_message",
    "make_init_packet",
]

#: A path (or name) longer than this is refused: DOS paths on these cards are far shorter, and
#: libgphoto2's own payload buffers hold 100 bytes (usb.c canon_usb_get_file).
MAX_PATH_BYTES: Final = 1024

#: GetFile's first word (usb.c canon_usb_get_file / canon_usb_get_thumbnail).
GET_FILE_FULL: Final = 0
GET_FILE_THUMBNAIL: Final = 1
#: GetDirEntries' depth for the whole tree (usb.c canon_usb_list_all_dirs: "recurse to level 15").
RECURSE_ALL: Final = 0x0F
#: RetrieveCapture's "what" word (canon.h canonDownloadImageType).
DOWNLOAD_THUMB: Final = 1
DOWNLOAD_FULL: Final = 2
DOWNLOAD_SECONDARY: Final = 3

_U32_MAX: Final = 0xFFFFFFFF


def _check_u32(value: int, what: str) -> None:
    if not 0 <= value <= _U32_MAX:
        raise LocalProtocolError(f"{what} is a u32, not {value}")


def _text_bytes(text: str, what: str) -> bytes:
    """Latin-1 bytes of a path or name: no NUL, not empty, at most MAX_PATH_BYTES."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raise LocalProtocolError(f"{what} must be Latin-1 text: {text!r}") from None
    if not raw or b"\x00" in raw or len(raw) > MAX_PATH_BYTES:
        raise LocalProtocolError(f"{what} is 1 to {MAX_PATH_BYTES} bytes without NUL: {text!r}")
    return raw


_WHAT_PATH: Final = "Canon path payload"


def _text_at(
    data: bytes, pos: int, what: str, *, where: str, nul_optional: bool = False
) -> tuple[str, int]:
    """The NUL-terminated string at ``pos`` and the offset after its NUL. ``nul_optional``: a
    string that runs to the end of the payload is accepted as well."""
    nul = data.find(b"\x00", pos, pos + MAX_PATH_BYTES + 1)
    if nul < 0:
        if len(data) - pos > MAX_PATH_BYTES:
            raise DecodeError(
                f"{what} is longer than {MAX_PATH_BYTES} bytes", offset=pos, what=where
            )
        if not nul_optional:
            raise DecodeError(f"{what} has no terminating NUL", offset=pos, what=where)
        nul = len(data)
    if nul == pos:
        raise DecodeError(f"{what} is empty", offset=pos, what=where)
    return data[pos:nul].decode("latin-1"), nul + 1


def _zeros_from(data: bytes, pos: int, what: str, *, where: str, at_most: int) -> None:
    """What is left from ``pos`` must be 0..``at_most`` zero bytes (the NULs libgphoto2 adds)."""
    rest = data[pos:]
    if len(rest) > at_most or any(rest):
        raise DecodeError(
            f"{what} ends with at most {at_most} zero bytes, not {rest[:16]!r}",
            offset=min(pos, len(data)),
            what=where,
        )


# -- a path alone ----------------------------------------------------------------------------


def encode_path(path: str, *, nul: bool = True) -> bytes:
    """MakeDir, RemoveDir, DiskInfo (old protocol), SetOwner: the string and its NUL. Class 6's
    DiskInfo2 sends the drive without its NUL (``nul=False``: canon.c
    canon_int_get_disk_name_info strips the trailing backslash and sends strlen bytes)."""
    raw = _text_bytes(path, "the path")
    return raw + b"\x00" if nul else raw


def decode_path(payload: BytesLike) -> str:
    """A path payload: the string, its NUL optional (class 6's DiskInfo sends none), nothing
    but zero bytes after it."""
    data = bytes(payload)
    text, pos = _text_at(data, 0, "the path", where=_WHAT_PATH, nul_optional=True)
    _zeros_from(data, pos, "a path payload", where=_WHAT_PATH, at_most=2)
    return text


# -- GetFile ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class GetFileRequest:
    """GetFile's payload. ``chunk_bytes`` is None on the new protocol (class 6), which does
    not send one."""

    path: str
    thumbnail: bool = False
    chunk_bytes: int | None = 0x1400


def encode_get_file_request(request: GetFileRequest) -> bytes:
    flag = GET_FILE_THUMBNAIL if request.thumbnail else GET_FILE_FULL
    path = _text_bytes(request.path, "the path")
    if request.chunk_bytes is None:
        return struct.pack("<I", flag) + path + b"\x00\x00"
    _check_u32(request.chunk_bytes, "the chunk size")
    return struct.pack("<II", flag, request.chunk_bytes) + path + b"\x00"


def decode_get_file_request(payload: BytesLike, *, new_protocol: bool = False) -> GetFileRequest:
    """GetFile's payload; ``new_protocol`` for class 6 (no chunk size)."""
    where = "Canon GetFile payload"
    data = bytes(payload)
    reader = Reader(data, what=where)
    flag = reader.uint32()
    if flag not in (GET_FILE_FULL, GET_FILE_THUMBNAIL):
        raise DecodeError(f"GetFile's flag is 0 or 1, not {flag}", offset=0, what=where)
    chunk = None if new_protocol else reader.uint32()
    path, pos = _text_at(data, reader.offset, "the path", where=where)
    _zeros_from(data, pos, "GetFile's payload", where=where, at_most=1)
    return GetFileRequest(path=path, thumbnail=flag == GET_FILE_THUMBNAIL, chunk_bytes=chunk)


# -- GetDirEntries ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class DirentsRequest:
    """GetDirEntries' payload: how deep to enter subfolders (0 none, 0x0F all) and where."""

    path: str
    depth: int = 0


def encode_dirents_request(request: DirentsRequest) -> bytes:
    if not 0 <= request.depth <= 0xFF:
        raise LocalProtocolError(f"the depth is a byte, not {request.depth}")
    return bytes((request.depth,)) + _text_bytes(request.path, "the path") + b"\x00\x00\x00"


def decode_dirents_request(payload: BytesLike) -> DirentsRequest:
    """The depth byte, the path and its NUL; up to two more zero bytes (libgphoto2 sends two)."""
    where = "Canon GetDirEntries payload"
    data = bytes(payload)
    depth = Reader(data, what=where).uint8()
    path, pos = _text_at(data, 1, "the path", where=where)
    _zeros_from(data, pos, "GetDirEntries' payload", where=where, at_most=2)
    return DirentsRequest(path=path, depth=depth)


# -- DeleteFile (old) ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class DeleteRequest:
    """DeleteFile (old protocol): the folder ("D:\\DCIM\\100CANON") and the file's name."""

    folder: str
    name: str


def encode_delete_request(request: DeleteRequest) -> bytes:
    folder = _text_bytes(request.folder, "the folder")
    name = _text_bytes(request.name, "the name")
    return folder + b"\x00" + name + b"\x00\x00"


def decode_delete_request(payload: BytesLike) -> DeleteRequest:
    where = "Canon DeleteFile payload"
    data = bytes(payload)
    folder, pos = _text_at(data, 0, "the folder", where=where)
    name, pos = _text_at(data, pos, "the name", where=where)
    _zeros_from(data, pos, "DeleteFile's payload", where=where, at_most=1)
    return DeleteRequest(folder=folder, name=name)


# -- DeleteFile2 (new protocol, class 6) ----------------------------------------------------

#: DeleteFile2's first field: the whole path, NUL-padded to 0x30 bytes (lgc canon.c
#: canon_int_delete_file, class 6 branch: "full path name together, rather than directory and
#: file as separate strings").
DELETE2_PATH_FIELD_BYTES: Final = 0x30


def encode_delete2_request(request: DeleteRequest) -> bytes:
    """DeleteFile2 (0x0A/0x11, class 6), as libgphoto2's canon_int_delete_file builds it: the
    folder, a backslash and the name in a 0x30-byte field, then the folder again with a
    backslash at its end, and no NUL after it (the payload length libgphoto2 sends stops at
    that backslash). Strict where libgphoto2 is sloppy: a path that would not keep its NUL in
    the field (libgphoto2 would cut it) is refused, and the padding is zeros, not the bytes
    after the name in libgphoto2's buffer."""
    folder = _text_bytes(request.folder, "the folder")
    name = _text_bytes(request.name, "the name")
    if b"\\" in name:
        raise LocalProtocolError(f"the name has no backslash: {request.name!r}")
    folder_sep = folder if folder.endswith((b"\\", b"/")) else folder + b"\\"
    whole = folder_sep + name
    if len(whole) >= DELETE2_PATH_FIELD_BYTES:
        raise LocalProtocolError(
            f"DeleteFile2 holds a path of at most {DELETE2_PATH_FIELD_BYTES - 1} bytes, "
            f"not {len(whole)}: {request.folder!r} {request.name!r}"
        )
    return whole.ljust(DELETE2_PATH_FIELD_BYTES, b"\x00") + folder_sep


def decode_delete2_request(payload: BytesLike) -> DeleteRequest:
    """DeleteFile2's payload: the path field (the file's whole path, NUL-terminated within
    0x30 bytes, zeros after it), then the folder (a trailing NUL or two accepted); the folder
    must be the path's own. Answers the folder without its trailing backslash."""
    where = "Canon DeleteFile2 payload"
    data = bytes(payload)
    if len(data) < DELETE2_PATH_FIELD_BYTES + 1:
        raise DecodeError(
            f"DeleteFile2's payload is at least {DELETE2_PATH_FIELD_BYTES + 1} bytes, "
            f"not {len(data)}",
            offset=len(data),
            what=where,
        )
    field = data[:DELETE2_PATH_FIELD_BYTES]
    nul = field.find(b"\x00")
    if nul <= 0:
        raise DecodeError("the path field holds no NUL-terminated path", offset=0, what=where)
    _zeros_from(field, nul, "the path field", where=where, at_most=DELETE2_PATH_FIELD_BYTES)
    whole = field[:nul].decode("latin-1")
    folder, pos = _text_at(
        data, DELETE2_PATH_FIELD_BYTES, "the folder", where=where, nul_optional=True
    )
    _zeros_from(data, pos, "DeleteFile2's payload", where=where, at_most=1)
    if not folder.endswith(("\\", "/")):
        folder += "\\"
    if len(folder) < 2:
        raise DecodeError("the folder is a bare separator", offset=0x30, what=where)
    if not whole.upper().startswith(folder.upper()) or len(whole) == len(folder):
        raise DecodeError(
            f"the path {whole!r} is not a file in the folder {folder!r}",
            offset=DELETE2_PATH_FIELD_BYTES,
            what=where,
        )
    name = whole[len(folder) :]
    if "\\" in name or "/" in name:
        raise DecodeError(
            f"the path {whole!r} is not directly in the folder {folder!r}",
            offset=DELETE2_PATH_FIELD_BYTES,
            what=where,
        )
    return DeleteRequest(folder=folder[:-1], name=name)


# -- SetFileAttributes -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AttributesRequest:
    """SetFileAttributes: the new attribute bits (ATTR_* of canon_usb) of one file."""

    attrs: int
    folder: str
    name: str


def encode_attributes_request(request: AttributesRequest) -> bytes:
    _check_u32(request.attrs, "the attributes")
    folder = _text_bytes(request.folder, "the folder")
    name = _text_bytes(request.name, "the name")
    return struct.pack("<I", request.attrs) + folder + b"\x00" + name + b"\x00\x00"


def decode_attributes_request(payload: BytesLike) -> AttributesRequest:
    where = "Canon SetFileAttributes payload"
    data = bytes(payload)
    attrs = Reader(data, what=where).uint32()
    folder, pos = _text_at(data, 4, "the folder", where=where)
    name, pos = _text_at(data, pos, "the name", where=where)
    _zeros_from(data, pos, "SetFileAttributes' payload", where=where, at_most=1)
    return AttributesRequest(attrs=attrs, folder=folder, name=name)


# -- SetFileTime -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class FileTimeRequest:
    """SetFileTime: a file's new time (camera local time as Unix-like seconds) and its path."""

    time: int
    path: str


def encode_file_time_request(request: FileTimeRequest) -> bytes:
    _check_u32(request.time, "the time")
    return struct.pack("<I", request.time) + _text_bytes(request.path, "the path") + b"\x00\x00"


def decode_file_time_request(payload: BytesLike) -> FileTimeRequest:
    where = "Canon SetFileTime payload"
    data = bytes(payload)
    when = Reader(data, what=where).uint32()
    path, pos = _text_at(data, 4, "the path", where=where)
    _zeros_from(data, pos, "SetFileTime's payload", where=where, at_most=1)
    return FileTimeRequest(time=when, path=path)


# -- RetrieveCapture -------------------------------------------------------------------------

_RETRIEVE: Final = struct.Struct("<IIII")


@dataclass(frozen=True, kw_only=True, slots=True)
class RetrieveRequest:
    """RetrieveCapture: which image (the key an image-ready message gave), which part
    (DOWNLOAD_*), in transfers of ``chunk_bytes``."""

    key: int
    what: int = DOWNLOAD_FULL
    chunk_bytes: int = 0x1400


def encode_retrieve_request(request: RetrieveRequest) -> bytes:
    for value, what in (
        (request.key, "the key"),
        (request.what, "the part"),
        (request.chunk_bytes, "the chunk size"),
    ):
        _check_u32(value, what)
    return _RETRIEVE.pack(0, request.chunk_bytes, request.what, request.key)


def decode_retrieve_request(payload: BytesLike) -> RetrieveRequest:
    reader = Reader(payload, what="Canon RetrieveCapture payload")
    if len(payload) != _RETRIEVE.size:
        raise reader.fail(f"the payload is {_RETRIEVE.size} bytes, not {len(payload)}")
    zero, chunk, what, key = reader.unpack(_RETRIEVE, "the four words")
    if zero != 0:
        raise DecodeError(f"the first word is 0, not {zero}", offset=0, what=reader.what)
    return RetrieveRequest(key=key, what=what, chunk_bytes=chunk)


# -- the device's own messages ---------------------------------------------------------------

_FAILURE_BYTES: Final = 0x14


def capture_status(status: int, *, failure: int | None = None) -> InterruptMessage:
    """A capture-status interrupt message (type 0x0A): ``status`` at byte 0x0C is CAPTURE_FIRST
    (0x1C), CAPTURE_DONE (0x1D) or CAPTURE_FAILED (0x0A, with ``failure``'s code at 0x10, e.g. 1
    = autofocus failed). 0x10 bytes (0x14 with a failure code); undocumented bytes are zero."""
    if status not in (CAPTURE_FIRST, CAPTURE_DONE, CAPTURE_FAILED):
        raise LocalProtocolError(f"a capture status is 0x1C, 0x1D or 0x0A, not 0x{status:X}")
    if (failure is not None) != (status == CAPTURE_FAILED):
        raise LocalProtocolError("a failure code goes with the failure status, and only with it")
    buf = bytearray(_FAILURE_BYTES if failure is not None else INTERRUPT_BYTES)
    buf[4] = InterruptType.CAPTURE_STATUS
    buf[0x0C] = status
    if failure is not None:
        _check_u32(failure, "the failure code")
        struct.pack_into("<I", buf, 0x10, failure)
    return decode_interrupt(bytes(buf))


def eos_message(kind: int) -> InterruptMessage:
    """An EOS capture notification, 0x10 bytes: 0x0E (the picture is on the card) or 0x0F (the
    final one of class 4). libgphoto2 reads only the type at byte 4 (usb.c
    canon_usb_capture_dialogue); the undocumented bytes are zero."""
    if kind not in (InterruptType.EOS_FLASH_WRITE_COMPLETE, InterruptType.EOS_FINAL):
        raise LocalProtocolError(f"an EOS notification is 0x0E or 0x0F, not 0x{kind:X}")
    buf = bytearray(INTERRUPT_BYTES)
    buf[4] = kind
    return decode_interrupt(bytes(buf))


def make_init_packet(
    *, camera_id: bytes, id_vendor: int, id_product: int, xfer_word: int = _U32_MAX
) -> InitPacket:
    """The 0x58-byte answer to control read 0x01: the camera id at 0x40 (01 06 15 83 on a G3),
    the USB ids at 0x44, the largest transfer at 0x4C (``xfer_word``; 0xFFFFFFFF = "the default
    0x1400"); the bytes not documented are zero."""
    if len(camera_id) != 4:
        raise LocalProtocolError(f"the camera id is 4 bytes, not {len(camera_id)}")
    for value, what in ((id_vendor, "the vendor id"), (id_product, "the product id")):
        if not 0 <= value <= 0xFFFF:
            raise LocalProtocolError(f"{what} is a u16, not {value}")
    _check_u32(xfer_word, "the transfer length")
    raw = bytearray(INIT_PACKET_BYTES)
    raw[0x40:0x44] = camera_id
    struct.pack_into("<HH", raw, 0x44, id_vendor, id_product)
    struct.pack_into("<I", raw, 0x4C, xfer_word)
    return decode_init_packet(bytes(raw))


# -- upload (lgc usb.c canon_usb_put_file, compiled only with CANON_EXPERIMENTAL_UPLOAD) --------
# Per block: a 0x40-byte control write (wValue 0x10) announcing the block, 0x40 bytes read back,
# the block on bulk OUT, then a 0x5C-byte reply read as 0x40 + 0x1C. Blocks carry at most
# USB_BULK_WRITE_SIZE (0x1400, usb.h) bytes of the file, each with the whole path and its offset.

#: The announcement's length, and the most file bytes one block carries (usb.h).
UPLOAD_ANNOUNCE_BYTES: Final = 0x40
UPLOAD_BLOCK_DATA_BYTES: Final = 0x1400
#: The reply to a block (read as 0x40 then 0x1C).
UPLOAD_REPLY_BYTES: Final = 0x5C
#: Bytes 4-5 of the announcement (03 02) and of the block (03 04), as usb.c writes them.
_ANNOUNCE_CODE: Final = b"\x03\x02"
_BLOCK_CODE: Final = b"\x03\x04"
#: The block's fixed part: the 0x50-byte header, a zero word, offset, length; the path at 0x5C.
_BLOCK_HEAD: Final = 0x5C
#: cmd1 / cmd2 of a block (usb.c: packet[0x44] = 3, packet[0x47] = 0x11).
UPLOAD_CMD1: Final = 0x03


@dataclass(frozen=True, kw_only=True, slots=True)
class UploadBlock:
    """One block of an upload: ``data`` goes at ``offset`` of the file at ``path``."""

    path: str
    offset: int
    data: bytes
    serial: int = 0


def encode_upload_announce(block_bytes: int) -> bytes:
    """The 0x40-byte control write before a block: 03 02 at 4, the block's whole length (u32 at
    6); the rest zero (usb.c writes its serial at 0x4C, past the 0x40 bytes it sends)."""
    _check_u32(block_bytes, "the block length")
    return bytes(4) + _ANNOUNCE_CODE + struct.pack("<I", block_bytes) + bytes(0x36)


def decode_upload_announce(data: BytesLike) -> int:
    """The length of the block an announcement announces."""
    where = "Canon upload announcement"
    raw = bytes(data)
    if len(raw) != UPLOAD_ANNOUNCE_BYTES:
        raise DecodeError(f"an announcement is 0x40 bytes, not {len(raw):#x}", offset=0, what=where)
    if raw[4:6] != _ANNOUNCE_CODE:
        raise DecodeError(f"bytes 4-5 are 03 02, not {raw[4:6].hex()}", offset=4, what=where)
    (length,) = struct.unpack_from("<I", raw, 6)
    if length < _BLOCK_HEAD + 2:
        raise DecodeError(f"a block of {length} bytes cannot hold a path", offset=6, what=where)
    return int(length)


def encode_upload_block(block: UploadBlock) -> bytes:
    """A block as usb.c canon_usb_put_file sends it on bulk OUT."""
    path = _text_bytes(block.path, "the path")
    _check_u32(block.offset, "the offset")
    _check_u32(block.serial, "the serial")
    if len(block.data) > UPLOAD_BLOCK_DATA_BYTES:
        raise LocalProtocolError(f"a block carries at most 0x1400 bytes, not {len(block.data)}")
    body = len(block.data) + 0x1C + len(path) + 1  # usb.c len1: the bytes after 0x40
    head = bytearray(_BLOCK_HEAD)
    struct.pack_into("<I", head, 0, body)
    head[4:6] = _BLOCK_CODE
    head[0x40] = 2
    head[0x44] = UPLOAD_CMD1
    head[0x47] = 0x11
    struct.pack_into("<II", head, 0x48, body, block.serial)
    struct.pack_into("<II", head, 0x54, block.offset, len(block.data))
    return bytes(head) + path + b"\x00" + block.data


def decode_upload_block(data: BytesLike) -> UploadBlock:
    """A block as the camera receives it: both length words and the data length must agree
    with the bytes, the path NUL-terminated."""
    where = "Canon upload block"
    raw = bytes(data)
    reader = Reader(raw, what=where)
    if len(raw) < _BLOCK_HEAD + 2:
        raise reader.fail(f"a block is at least {_BLOCK_HEAD + 2:#x} bytes, not {len(raw):#x}")
    (body,) = struct.unpack_from("<I", raw, 0)
    body48, serial = struct.unpack_from("<II", raw, 0x48)
    offset, count = struct.unpack_from("<II", raw, 0x54)
    if raw[4:6] != _BLOCK_CODE:
        raise DecodeError(f"bytes 4-5 are 03 04, not {raw[4:6].hex()}", offset=4, what=where)
    if (raw[0x40], raw[0x44], raw[0x47]) != (2, UPLOAD_CMD1, 0x11):
        raise DecodeError("bytes 0x40/0x44/0x47 are 02/03/11", offset=0x40, what=where)
    if body != len(raw) - 0x40 or body48 != body:
        raise DecodeError(
            f"the length words say {body:#x}/{body48:#x}, the block has {len(raw) - 0x40:#x}",
            offset=0,
            what=where,
        )
    if count > UPLOAD_BLOCK_DATA_BYTES:
        raise DecodeError(
            f"a block carries at most 0x1400 bytes, not {count}", offset=0x58, what=where
        )
    path, pos = _text_at(raw, _BLOCK_HEAD, "the path", where=where)
    if len(raw) - pos != count:
        raise DecodeError(
            f"the block says {count} data bytes, {len(raw) - pos} follow the path",
            offset=0x58,
            what=where,
        )
    return UploadBlock(path=path, offset=offset, data=raw[pos:], serial=serial)
