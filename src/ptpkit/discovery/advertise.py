"""Advertise a PTP/IP camera over SSDP the way a Canon EOS does, so discovery finds it.

::

    with VirtualCamera() as camera, PtpIpServer(camera, port=0) as server:
        with advertise_server(server, ssdp_port=0) as advertiser:   # 127.0.0.1, unicast only
            found = discover(usb=False, mdns=False,
                             ssdp_targets=[("127.0.0.1", advertiser.ssdp_port)])
            # [DiscoveredCamera(url="ptpip:127.0.0.1:PORT", source="ssdp", ...)]

A Canon EOS answers searches for ``urn:schemas-canon-com:service:ICPO-WFTEOSSystemService:1``
with a LOCATION to ``/upnp/CameraDevDesc.xml`` on port 49152 (julianschroden.com, "Pairing and
Initializing a PTP/IP Connection with a Canon EOS Camera", 2023-05-10). This advertiser answers
that type, and what UDA 1.1 §1.3.2 says every root device answers (``ssdp:all``,
``upnp:rootdevice``, ``uuid:...``, its device type), pointing at a description that carries the
camera's name, model and serial number, and its PTP/IP port in an ``X_PTPPortNo`` element (the
element Panasonic cameras use for the same, bitfocus/companion-module-requests#402), since a
virtual camera rarely listens on 15740.

It answers the way the camera is reachable: bound to a specific address (127.0.0.1, the virtual
camera's default) it answers unicast searches there, and only requesters on this computer; bound
to the wildcard it joins the multicast group and gives each requester the address of the
interface that reaches it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from ptpkit._version import __version__
from ptpkit.discovery.description import BASIC_DEVICE, DescriptionServer, build_description
from ptpkit.discovery.responder import SsdpResponder
from ptpkit.discovery.ssdp import (
    ROOT_DEVICE,
    SSDP_ALL,
    SSDP_GROUP,
    SSDP_PORT,
    WILDCARD_HOSTS,
    Address,
    SearchRequest,
    build_response,
)

if TYPE_CHECKING:
    from ptpkit.virtual.server import PtpIpServer

log = logging.getLogger("ptpkit.discovery")

#: The service Canon EOS cameras advertise for PTP/IP (julianschroden.com, 2023-05-10).
CANON_EOS_SERVICE: Final = "urn:schemas-canon-com:service:ICPO-WFTEOSSystemService:1"
#: Canon's description path and port (same source).
CANON_DESCRIPTION_PATH: Final = "/upnp/CameraDevDesc.xml"
PTPKIT_NAMESPACE: Final = "urn:schemas-ptpkit:device-1-0"
SERVER: Final = f"ptpkit/{__version__} UPnP/1.0 ptpkit-camera/{__version__}"
MAX_AGE_S: Final = 1800


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _is_local_address(host: str) -> bool:
    """Whether ``host`` is an address of this computer (binding to it succeeds only then)."""
    if _is_loopback(host):
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError:
            return False
    return True


def _address_towards(host: str) -> str | None:
    """This computer's address on the route to ``host`` (connecting a UDP socket sends
    nothing; it only picks the route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return None


class CameraAdvertiser:
    """Answers SSDP searches for one PTP/IP camera and serves its description."""

    def __init__(
        self,
        *,
        friendly_name: str,
        model: str,
        manufacturer: str,
        serial_number: str,
        ptpip_port: int,
        device_uuid: uuid.UUID,
        host: str = "127.0.0.1",
        ssdp_port: int = SSDP_PORT,
        description_port: int = 0,
        service_types: Sequence[str] = (CANON_EOS_SERVICE,),
    ) -> None:
        self.host = host
        self.uuid = device_uuid
        self.ptpip_port = ptpip_port
        self.device_type = BASIC_DEVICE
        self.service_types = tuple(service_types)
        self.description_server = DescriptionServer(
            build_description(
                udn=f"uuid:{device_uuid}",
                friendly_name=friendly_name,
                manufacturer=manufacturer,
                model_name=model,
                serial_number=serial_number,
                device_type=self.device_type,
                extra=[("ptpkit", PTPKIT_NAMESPACE, "X_PTPPortNo", str(ptpip_port))],
            ),
            host=host,
            port=description_port,
            path=CANON_DESCRIPTION_PATH,
            server_header=SERVER,
        )
        self.ssdp = SsdpResponder(
            self._answer,
            host=host,
            port=ssdp_port,
            group=SSDP_GROUP,
            name="camera-advertiser",
        )

    @property
    def ssdp_port(self) -> int:
        return self.ssdp.port

    def start(self) -> CameraAdvertiser:
        self.description_server.start()
        try:
            self.ssdp.start()
        except BaseException:
            self.description_server.close()
            raise
        return self

    def close(self) -> None:
        self.ssdp.close()
        self.description_server.close()

    def __enter__(self) -> CameraAdvertiser:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- answering -------------------------------------------------------------------------------

    def _targets(self, st: str) -> list[str]:
        """The search targets to answer for ``st`` (UDA 1.1 §1.3.2)."""
        own = [ROOT_DEVICE, f"uuid:{self.uuid}", self.device_type, *self.service_types]
        if st == SSDP_ALL:
            return own
        return [st] if st in own else []

    def _location_host(self, requester: str) -> str | None:
        if self.host not in WILDCARD_HOSTS:
            if _is_loopback(self.host) and not _is_local_address(requester):
                # 127.0.0.1 in LOCATION would send another machine to itself.
                log.debug("not answering %s: this camera is only on %s", requester, self.host)
                return None
            return self.host
        return _address_towards(requester)

    def _answer(self, request: SearchRequest, requester: Address) -> list[bytes]:
        targets = self._targets(request.st)
        if not targets:
            return []
        host = self._location_host(requester[0])
        if host is None:
            return []
        location = self.description_server.url(host)
        log.debug("answering %s from %s:%d", request.st, *requester)
        return [
            build_response(
                st=st,
                usn=f"uuid:{self.uuid}" if st.startswith("uuid:") else f"uuid:{self.uuid}::{st}",
                location=location,
                server=SERVER,
                max_age_s=MAX_AGE_S,
            )
            for st in targets
        ]


def advertise_server(
    server: PtpIpServer,
    *,
    ssdp_port: int = SSDP_PORT,
    service_types: Sequence[str] = (CANON_EOS_SERVICE,),
) -> CameraAdvertiser:
    """An advertiser for the virtual camera behind a running :class:`PtpIpServer`, on the
    server's address. Use as a context manager (or call start() and close())."""
    personality = server.camera.personality
    return CameraAdvertiser(
        friendly_name=server.name,
        model=personality.model,
        manufacturer=personality.manufacturer,
        serial_number=personality.serial_number,
        ptpip_port=server.port,
        device_uuid=uuid.UUID(bytes=server.guid),
        host=server.host,
        ssdp_port=ssdp_port,
        service_types=service_types,
    )
