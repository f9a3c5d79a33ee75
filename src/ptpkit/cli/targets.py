"""Reading what users type for objects, storages, codes and parameters.

- An object is a handle or a path. A handle is a number, ``0x``-prefixed hex (as ``ls`` prints
  it) or decimal; anything else is a path (``/store_00010001/DCIM/100PTPKT/IMG_0001.JPG``, or
  ``DCIM/...`` on a one-storage camera). A file whose name is all digits is written with a slash:
  ``/1234``.
- A storage is ``store_00010001`` (as in paths) or its id in hex, with or without ``0x``: storage
  ids are physical<<16 | logical (ISO 15740 §5.5.3) and are always shown in hex. Where an object
  is expected too (``ls 0x00010001``, a path's first part ``0x00010001/DCIM``), a number that is
  one of the camera's storage ids names the storage.
- Something the user names that the camera does not have (path, handle, storage, property) is
  one error, :class:`~ptpkit.errors.NotFoundError` (exit 2), whether ptpkit finds out itself or
  the camera answers InvalidObjectHandle, InvalidStorageID or DevicePropNotSupported.
- Operation codes and raw parameters are hex with ``0x`` optional, as the Go ptpip tool's
  ``opreq 0x1014 0x5003``; handles for miniPtp's ``-g`` are hex too (miniPtp prints them so).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from ptpkit.cli.errors import Hinted
from ptpkit.client.camera import Camera, PropertyDescription
from ptpkit.codes import Kind, UnknownNameError
from ptpkit.codes.common import Rc
from ptpkit.codes.properties import config_name
from ptpkit.errors import NotFoundError, ResponseError, UsageError

if TYPE_CHECKING:
    from ptpkit.client.files import Entry

_HANDLE: Final = re.compile(r"^(0[xX][0-9a-fA-F]{1,8}|[0-9]{1,10})$")
_HEX: Final = re.compile(r"^(0[xX])?[0-9a-fA-F]{1,8}$")
_HEX4: Final = re.compile(r"^[0-9a-fA-F]{4}$")
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
    """The object a handle or path names; NotFoundError when the camera has none."""
    handle = parse_handle(text)
    if handle is None:
        return cam.find(_storage_path(cam, text))
    try:
        return cam.entry(handle)
    except ResponseError as exc:
        # The camera's word for "no such object": the same error as an unknown path.
        if exc.code in (Rc.INVALID_OBJECT_HANDLE, Rc.INVALID_STORAGE_ID):
            raise Hinted(
                NotFoundError(
                    f"the camera has no object 0x{handle:08X} "
                    f"(it answered 0x{exc.code:04X} {exc.name})"
                ),
                "`ptpkit ls -R` lists the files and their handles",
            ) from exc
        raise


def _storage_path(cam: Camera, path: str) -> str:
    """``0x00010001/DCIM`` (a storage by hex id) as ``/store_00010001/DCIM``."""
    first, slash, rest = path.strip().lstrip("/").partition("/")
    storage_id = _storage_number(cam, first)
    return f"/store_{storage_id:08X}{slash}{rest}" if storage_id is not None else path


def _storage_number(cam: Camera, text: str) -> int | None:
    """The storage id ``text`` is in hex (``0x00010001`` or eight digits), if the camera has one
    by that number."""
    cleaned = text.strip()
    if not (_HEX.match(cleaned) and len(cleaned.removeprefix("0x").removeprefix("0X")) == 8):
        return None
    value = int(cleaned, 16)
    return value if value in cam.storage_ids() else None


def named_storage(cam: Camera, text: str) -> int | None:
    """The storage a PATH argument names (``store_00010001``, ``0x00010001``, ``00010001``,
    with or without slashes), or None when it names something else. A storage folder the camera
    does not have is NotFoundError."""
    cleaned = text.strip().strip("/")
    # The file machinery loads with a command that uses files (start-up time of the others).
    from ptpkit.client.files import parse_storage_folder  # noqa: PLC0415

    folder = parse_storage_folder(cleaned)
    if folder is not None:
        if folder not in cam.storage_ids():
            raise NotFoundError(f"the camera has no storage {cleaned}")
        return folder
    return _storage_number(cam, cleaned)


def storage_id(cam: Camera, text: str) -> int:
    """A storage given as an option (``--storage``): one the camera has, else NotFoundError."""
    value = parse_storage(text)
    if value == 0:
        raise UsageError("storage 0 is no storage (it means 'any' in PTP)")
    if value not in cam.storage_ids():
        known = ", ".join(f"store_{s:08X}" for s in cam.storage_ids()) or "none"
        raise NotFoundError(f"the camera has no storage 0x{value:08X} (it has: {known})")
    return value


def describe_property(cam: Camera, text: str) -> PropertyDescription:
    """The property the user named (friendly, PTP or gphoto2 name, hex code), described;
    NotFoundError when the camera does not have it."""
    name = config_name(text)
    if _HEX4.match(name.strip()) and cam.catalog.find(name) is None:
        name = "0x" + name.strip()  # gphoto2 names unnamed properties by hex code: 500f
    try:
        return cam.describe_property(name)
    except ResponseError as exc:
        if exc.code == Rc.DEVICE_PROP_NOT_SUPPORTED:
            raise NotFoundError(
                f"the camera has no property {text} (it answered 0x{exc.code:04X} {exc.name})"
            ) from exc
        raise
    except UsageError as exc:
        if isinstance(exc, NotFoundError):
            raise
        raise NotFoundError(str(exc)) from None


def parse_hex(text: str, what: str) -> int:
    """A 32-bit value in hex, ``0x`` optional."""
    cleaned = text.strip()
    if not _HEX.match(cleaned):
        raise UsageError(f"{what} {text!r} is not hex (e.g. 0x1014 or 5003)")
    return int(cleaned, 16)


def parse_storage(text: str) -> int:
    # The file machinery loads with a command that uses files (start-up time of the others).
    from ptpkit.client.files import parse_storage_folder  # noqa: PLC0415

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
