"""Who this computer is to a camera: the PTP/IP initiator GUID and friendly name.

Cameras pair with an initiator GUID and remember it (Nikon, Sony and Canon refuse a GUID they do
not know with InitFail), so the GUID is made once per user and kept in the user's config folder,
like libgphoto2's ``~/.gphoto/settings`` ``ptp2_ip/guid``. ``PTPKIT_CONFIG_DIR`` moves that
folder (tests use it to stay out of the real home).
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path
from typing import Final

from ptpkit.errors import UsageError

GUID_FILE: Final = "initiator-guid"
_HEX_GUID: Final = re.compile(r"^[0-9a-fA-F]{32}$")


def config_dir() -> Path:
    override = os.environ.get("PTPKIT_CONFIG_DIR")
    if override:
        return Path(override)
    # platformdirs (which loads tempfile, shutil, random...) only when it is asked: start-up time.
    import platformdirs  # noqa: PLC0415

    return Path(platformdirs.user_config_dir("ptpkit"))


def cache_dir() -> Path:
    """Where ptpkit keeps what it can always compute again (the entry point scan).

    ``PTPKIT_CACHE_DIR`` moves it; with only ``PTPKIT_CONFIG_DIR`` set it is a ``cache`` folder
    inside that one, so a test or a sandbox that moves the config never writes to the real home.
    """
    override = os.environ.get("PTPKIT_CACHE_DIR")
    if override:
        return Path(override)
    config_override = os.environ.get("PTPKIT_CONFIG_DIR")
    if config_override:
        return Path(config_override) / "cache"
    import platformdirs  # noqa: PLC0415  (see config_dir)

    return Path(platformdirs.user_cache_dir("ptpkit"))


def parse_guid(text: str) -> bytes:
    """A GUID from 32 hex digits, with or without ``-`` or ``:`` between them."""
    digits = re.sub(r"[-:\s{}]", "", text)
    if not _HEX_GUID.match(digits):
        raise UsageError(f"{text!r} is not a GUID (32 hex digits)")
    return bytes.fromhex(digits)


def format_guid(guid: bytes) -> str:
    return str(uuid.UUID(bytes=guid))


def initiator_guid(directory: Path | None = None) -> bytes:
    """This user's initiator GUID: read from the config folder, created there the first time."""
    folder = directory or config_dir()
    path = folder / GUID_FILE
    try:
        return parse_guid(path.read_text().strip())
    except (OSError, UsageError):
        pass
    # tempfile (shutil, random, bz2, lzma) loads only the first time: start-up time.
    import tempfile  # noqa: PLC0415

    guid = uuid.uuid4().bytes
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Write then rename: two programs starting at once never see half a GUID.
        with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, prefix=".guid-") as tmp:
            tmp.write(format_guid(guid) + "\n")
        os.replace(tmp.name, path)
        return parse_guid(path.read_text().strip())
    except OSError:
        # A read-only home: use this GUID for this run; pairing will not survive a restart.
        return guid


def default_friendly_name() -> str:
    """What the camera shows for this computer: its host name."""
    return socket.gethostname() or "ptpkit"
