"""Finding cameras and pairing with them: USB enumeration, SSDP and mDNS search, and the Canon
Wi-Fi pairing responder.

::

    import ptpkit

    for camera in ptpkit.discover():            # USB, SSDP and mDNS at once, ~2 s
        print(camera.url, camera.name, camera.model)

    with ptpkit.connect(ptpkit.discover()[0].url) as cam:
        ...

Modules, one concern each:

- :mod:`~ptpkit.discovery.result`: :class:`DiscoveredCamera`;
- :mod:`~ptpkit.discovery.ssdp`: the bounded SSDP codec and the search;
- :mod:`~ptpkit.discovery.responder`: a threaded SSDP responder;
- :mod:`~ptpkit.discovery.description`: UPnP device descriptions, built, served and read;
- :mod:`~ptpkit.discovery.canon_pairing`: what Canon cameras need to pair (``ptpkit canon-pair``);
- :mod:`~ptpkit.discovery.advertise`: advertising a PTP/IP camera (the virtual one) over SSDP;
- :mod:`~ptpkit.discovery.mdns`: ``_ptp._tcp`` and ``_imink_http._tcp`` with python-zeroconf;
- :mod:`~ptpkit.discovery.usb`: USB cameras, from the USB transport's enumeration;
- :mod:`~ptpkit.discovery.find`: :func:`discover`, all of it together.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Loaded on first use: whoever needs only DiscoveredCamera (USB discovery, a caller's type hints)
# must not pull in the network code (sockets, http, XML) with it.
_EXPORTS = {
    "CAMERA_SEARCH_TARGETS": "ptpkit.discovery.find",
    "CameraAdvertiser": "ptpkit.discovery.advertise",
    "CanonPairingResponder": "ptpkit.discovery.canon_pairing",
    "DiscoveredCamera": "ptpkit.discovery.result",
    "PairingEvent": "ptpkit.discovery.canon_pairing",
    "advertise_server": "ptpkit.discovery.advertise",
    "discover": "ptpkit.discovery.find",
    "pairing_uuid": "ptpkit.discovery.canon_pairing",
}

__all__ = [
    "CAMERA_SEARCH_TARGETS",
    "CameraAdvertiser",
    "CanonPairingResponder",
    "DiscoveredCamera",
    "PairingEvent",
    "advertise_server",
    "discover",
    "pairing_uuid",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ptpkit.discovery' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from ptpkit.discovery.advertise import CameraAdvertiser, advertise_server
    from ptpkit.discovery.canon_pairing import CanonPairingResponder, PairingEvent, pairing_uuid
    from ptpkit.discovery.find import CAMERA_SEARCH_TARGETS, discover
    from ptpkit.discovery.result import DiscoveredCamera
