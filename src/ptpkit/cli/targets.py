"""Reading what users type for objects, storages, codes and parameters.

- An object is a handle or a path. A handle is a number, ``0x``-prefixed hex (as ``ls`` prints
  it) or decimal; anything else is a path (``/store_00010001/DCIM/100PTPKT/IMG_0001.JPG``, or
  ``DCIM/...`` on a one-storage camera). A file whose name is all digits is written with a slash:
  ``/1234``.
- A storage is ``store_00010001`` (as in paths) or its id in hex, with or without ``0x``: storage
  ids are physical<<16 | logical (ISO 15740 §5.5.3) and are always shown in hex.
- Operation codes and raw parameters are hex with ``0x`` optional, as the Go ptpip tool's
  ``opreq 0x1014 0x5003``; handles for miniPtp's ``-g`` are hex too (miniPtp prints them so).
"""

from __future__ import annotations

import re
from typing import Final

from ptpkit.client.camera import Camera
from ptpkit.client.files import Entry, parse_storage_folder
from ptpkit.codes import Kind, UnknownNameError
from ptpkit.errors import UsageError

_HANDLE: Final = re.compile(r"^(0[xX][0-9a-fA-F]{1,8}|[0-9]{1,10})$")
_HEX: Final = re.compile(r"^(0[xX])?[0-9a-fA-F]{1,8}$")
#: Handles that are never one object (ISO 15740): 0 is "none" (the parent of what is at the top
#: of a storage), 0xFFFFFFFF "all" (DeleteObject of it deletes every object).
_NOT_OBJECTS: Final = frozenset({0, 0xFFFFFFFF})


def parse_handle(text: str) -> int | None:
    """The handle ``text`` names, or None when it is a path."""
    cleaned = text.strip()
    if not _HANDLE.match(cleaned):
        return None
    value = int(cleaned, 16 if cleaned[:2].lower() == "0x" else 10)
    if value > 0xFFFFFFFF:
        raise UsageError(f"{text!r} is too big for an object handle (32 bits)")
    if value in _NOT_OBJECTS:
        # Refused here, not left to the camera: `rm 0xFFFFFFFF` would be DeleteObject of
        # every object on the card, should a camera describe that handle at all.
        raise UsageError(f"{text!r} names no object: handles 0 and 0xFFFFFFFF are reserved")
    return value


def resolve(cam: Camera, text: str) -> Entry:
    """The object a handle or path names (NotFoundError, or the camera's InvalidObjectHandle)."""
    handle = parse_handle(text)
    return cam.entry(handle) if handle is not None else cam.find(text)


def parse_hex(text: str, what: str) -> int:
    """A 32-bit value in hex, ``0x`` optional."""
    cleaned = text.strip()
    if not _HEX.match(cleaned):
        raise UsageError(f"{what} {text!r} is not hex (e.g. 0x1014 or 5003)")
    return int(cleaned, 16)


def parse_storage(text: str) -> int:
    folder = parse_storage_folder(text.strip().strip("/"))
    if folder is not None:
        return folder
    return parse_hex(text, "storage id")


def operation_code(cam: Camera, text: str) -> int:
    """An operation by hex code (``0x1014``, ``1014``) or name (``GetDevicePropDesc``)."""
    if _HEX.match(text.strip()):
        return int(text.strip(), 16)
    try:
        return cam.vocabulary.code(Kind.OPERATION, text)
    except UnknownNameError:
        raise UsageError(
            f"{text!r} is neither a hex operation code nor an operation name this camera knows"
        ) from None
