"""Canon Wi-Fi pairing: answer the camera's SSDP search the way Windows does, and describe this
computer so the camera lists it (``ptpkit canon-pair``).

Canon PowerShot (and similar) cameras, in "connect to computer", multicast an M-SEARCH for
``upnp:rootdevice``, follow the LOCATION of the answers, and list the devices whose description
they like; after the user picks this computer, they accept a PTP/IP connection from it. Windows
answers natively; elsewhere this responder does. Every fact below is from reyalp's
ptpip-canon-helpers (the seed ``ptpip-canon-upnp-helper.py`` / ``ptpip-canon-desc-helper.py``,
2021-2024, tested on Elph130, SX710, G7X) and the CHDK forum thread it cites (topic 10724):

- The camera searches for ``upnp:rootdevice`` only; the seed answers ``ssdp:all`` too, always
  with ``ST: upnp:rootdevice`` and ``USN: uuid:<uuid>::upnp:rootdevice``.
- The ``Server`` header must look like Windows ("Cam requires Microsoft-Windows"):
  ``Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0``, in the SSDP answer and (followed by
  ``Microsoft-HTTPAPI/2.0``) on the description's HTTP answer ("must spoof windows for cam to
  recognize").
- The description is served with ``Content-Type: text/xml; charset="utf-8"`` ("cam requires this
  content type"), over HTTP/1.1 with ``Connection: close``; the seed's port is 8043. The path is
  free (the camera follows LOCATION).
- ``friendlyName`` is in Windows' ``Computer: User:`` form and the camera shows the computer
  part; a bare friendlyName is enough for the Elph130, the rest is for other UPnP software.
- The UDN's UUID is created once and kept: "Cameras require a UPnP response from the
  corresponding GUID for every connection after pairing completes." It lives in the user's config
  folder (:func:`ptpkit.identity.config_dir`), not the current directory as in the seed.
- ``CACHE-CONTROL: max-age=900`` and an empty ``EXT`` (the seed's defaults; EXT "cam doesn't
  require, but spec appears to").

After pairing, the camera waits for PTP/IP on TCP 15740 (``ptpkit --camera ptpip:CAMERA_IP``);
keeping that session from timing out is :class:`ptpkit.ext.vendors.CanonExtension`'s job.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ptpkit._sync import Latch
from ptpkit._version import __version__
from ptpkit.discovery.description import DescriptionRequest, DescriptionServer, build_description
from ptpkit.discovery.responder import SsdpResponder
from ptpkit.discovery.ssdp import (
    ROOT_DEVICE,
    SSDP_ALL,
    SSDP_GROUP,
    SSDP_PORT,
    Address,
    SearchRequest,
    build_response,
)
from ptpkit.errors import UsageError
from ptpkit.identity import config_dir, default_friendly_name

log = logging.getLogger("ptpkit.discovery")

#: What Windows' own SSDP service says; Canon firmware answers nothing else (the seed).
CANON_SSDP_SERVER: Final = "Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0"
#: The description's HTTP ``Server`` header: the seed's BaseHTTPRequestHandler server_version
#: followed by its sys_version.
CANON_HTTP_SERVER: Final = CANON_SSDP_SERVER + " Microsoft-HTTPAPI/2.0"
DESCRIPTION_PORT: Final = 8043
DESCRIPTION_PATH: Final = "/ptpkit-canon-pairing.xml"
MAX_AGE_S: Final = 900
UUID_FILE: Final = "canon-pairing-uuid"


# -- the persisted UUID --------------------------------------------------------------------------


def _write_uuid(folder: Path, value: uuid.UUID) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # Write then rename: two programs starting at once never see half a UUID.
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, prefix=".uuid-") as tmp:
        tmp.write(f"{value}\n")
    os.replace(tmp.name, folder / UUID_FILE)


def read_pairing_uuid(directory: Path | None = None) -> uuid.UUID | None:
    """The pairing UUID kept in the config folder; None when there is none yet (or the file is
    damaged)."""
    try:
        return uuid.UUID(((directory or config_dir()) / UUID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def pairing_uuid(directory: Path | None = None) -> uuid.UUID:
    """This user's pairing UUID: read from the config folder, created there the first time."""
    folder = directory or config_dir()
    kept = read_pairing_uuid(folder)
    if kept is not None:
        return kept
    value = uuid.uuid4()
    try:
        _write_uuid(folder, value)
    except OSError:
        log.warning(
            "cannot keep the pairing UUID in %s; the camera will not recognise this computer "
            "after a restart",
            folder,
        )
        return value
    # Read back: a program starting at the same moment may have replaced ours with its own.
    return read_pairing_uuid(folder) or value


def set_pairing_uuid(value: str | uuid.UUID, directory: Path | None = None) -> uuid.UUID:
    """Keep ``value`` as the pairing UUID (e.g. the one in the seed's ``ptpip-canon-helper.uuid``,
    which a camera already paired with)."""
    try:
        parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(value.strip())
    except ValueError:
        raise UsageError(f"{value!r} is not a UUID") from None
    _write_uuid(directory or config_dir(), parsed)
    return parsed


# -- what the camera gets ------------------------------------------------------------------------


def search_response(*, pairing: uuid.UUID, location: str) -> bytes:
    """The answer to the camera's M-SEARCH (the seed's fields, in UDA 1.1 §1.3.3's format)."""
    return build_response(
        st=ROOT_DEVICE,
        usn=f"uuid:{pairing}::{ROOT_DEVICE}",
        location=location,
        server=CANON_SSDP_SERVER,
        max_age_s=MAX_AGE_S,
    )


def description(*, pairing: uuid.UUID, name: str) -> bytes:
    """The device description the camera fetches: this computer's name and UUID."""
    return build_description(
        udn=f"uuid:{pairing}",
        # Windows' "Computer: User:" form; the camera shows the part before the first colon.
        friendly_name=f"{name}: ptpkit:",
        manufacturer="ptpkit",
        model_name="ptpkit Canon pairing responder",
        model_number=__version__,
        model_description="Answers Canon cameras' UPnP search so they accept a PTP/IP connection",
    )


# -- the responder -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PairingEvent:
    """Something a camera (or another device) asked: ``kind`` is ``"search"`` or
    ``"description"``."""

    kind: str
    address: str
    port: int
    detail: str = ""


def _check_ipv4(text: str) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(
            f"{text!r} is not an IPv4 address: give this computer's address on the camera's "
            "network, e.g. 192.168.1.10"
        ) from None
    if address.version != 4:
        raise UsageError("Canon cameras use IPv4 only: give this computer's IPv4 address")
    return str(address)


class CanonPairingResponder:
    """The SSDP responder and the description server, together.

    ``lan_ip`` is this computer's IPv4 address on the camera's network: it goes in LOCATION, the
    description server listens on it, and the multicast group is joined on its interface. Tests
    pass ``ssdp_host="127.0.0.1"`` (unicast only, nothing joined) and port 0 for both.
    """

    def __init__(
        self,
        lan_ip: str,
        *,
        name: str | None = None,
        description_port: int = DESCRIPTION_PORT,
        description_host: str | None = None,
        ssdp_host: str = "",
        ssdp_port: int = SSDP_PORT,
        ssdp_group: str | None = SSDP_GROUP,
        pairing: uuid.UUID | None = None,
        on_event: Callable[[PairingEvent], None] | None = None,
    ) -> None:
        self.lan_ip = _check_ipv4(lan_ip)
        self.name = name or default_friendly_name()
        self.uuid = pairing or pairing_uuid()
        self.on_event = on_event
        self._description = description(pairing=self.uuid, name=self.name)
        self.description_server = DescriptionServer(
            self._description,
            host=self.lan_ip if description_host is None else description_host,
            port=description_port,
            path=DESCRIPTION_PATH,
            server_header=CANON_HTTP_SERVER,
            on_request=self._described,
        )
        self.ssdp = SsdpResponder(
            self._answer,
            host=ssdp_host,
            port=ssdp_port,
            group=ssdp_group,
            interface=self.lan_ip,
            name="canon-pairing-ssdp",
        )
        self._closed = Latch()  # waited on by serve_forever: Ctrl-C safe (ptpkit._sync)

    @property
    def location(self) -> str:
        """The description's URL, as the SSDP answer gives it."""
        return self.description_server.url(self.lan_ip)

    def start(self) -> CanonPairingResponder:
        # The description first: LOCATION needs its port, and the camera fetches it right after
        # our answer.
        self.description_server.start()
        try:
            self.ssdp.start()
        except BaseException:
            self.description_server.close()
            raise
        log.info(
            "Canon pairing responder %r (uuid %s): SSDP on %s:%d, description at %s",
            self.name,
            self.uuid,
            self.ssdp.host or "*",
            self.ssdp.port,
            self.location,
        )
        return self

    def serve_forever(self) -> None:
        """Answer until close() (from another thread or a signal handler) or Ctrl-C."""
        try:
            self._closed.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        self._closed.set()
        self.ssdp.close()
        self.description_server.close()

    def __enter__(self) -> CanonPairingResponder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answering -------------------------------------------------------------------------------

    def _answer(self, request: SearchRequest, requester: Address) -> list[bytes]:
        # The camera searches for upnp:rootdevice; the seed answers ssdp:all too ("cam only sends
        # upnp:rootdevice, could ignore ssdp:all").
        if request.st not in (ROOT_DEVICE, SSDP_ALL):
            return []
        log.info("qualifying M-SEARCH (%s) from %s:%d", request.st, *requester)
        self._emit(
            PairingEvent(kind="search", address=requester[0], port=requester[1], detail=request.st)
        )
        return [search_response(pairing=self.uuid, location=self.location)]

    def _described(self, request: DescriptionRequest) -> None:
        if request.status != 200:
            return
        log.info("description fetched by %s:%d", request.address, request.port)
        self._emit(
            PairingEvent(
                kind="description",
                address=request.address,
                port=request.port,
                detail=request.user_agent or "",
            )
        )

    def _emit(self, event: PairingEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a printing callback must not stop the answers
            log.exception("Canon pairing responder: on_event failed")
