"""mDNS / DNS-SD discovery with python-zeroconf: ``_ptp._tcp`` and Canon's ``_imink_http._tcp``.

- ``_ptp._tcp``: the DNS-SD type for PTP/IP, the one libgphoto2 browses
  (``libgphoto2_port/ptpip/ptpip.c``, ``DNSServiceBrowse(... "_ptp._tcp" ...)``); the service's
  port is the PTP/IP port.
- ``_imink_http._tcp``: Canon PowerShots (a G7 X, gphoto/gphoto2#282) advertise their "mobile"
  HTTP service on port 8615 with TXT records such as ``md.iml=Camera 1.0/Canon PowerShot G7 X``
  and ``mn.iml=g7x``; their PTP/IP is on the standard port 15740.

The browse is behind :func:`browse` with a short timeout, and never raises: a machine without a
network (or without multicast) gets an empty list and a DEBUG line. The result building,
:func:`camera_from_service`, takes zeroconf ``ServiceInfo`` objects and is what tests exercise.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from ptpkit.core.ptpip import DEFAULT_PORT
from ptpkit.discovery.result import DiscoveredCamera
from ptpkit.transports.ptpip import PtpIpAddress

if TYPE_CHECKING:
    from zeroconf import ServiceInfo, Zeroconf

log = logging.getLogger("ptpkit.discovery")

PTP_SERVICE: Final = "_ptp._tcp.local."
CANON_IMINK_SERVICE: Final = "_imink_http._tcp.local."
SERVICE_TYPES: Final = (PTP_SERVICE, CANON_IMINK_SERVICE)
#: TXT values longer than this are ignored (names and models are short).
_MAX_TXT_CHARS: Final = 128


def _txt(info: ServiceInfo) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in info.properties.items():
        if value is None or len(value) > _MAX_TXT_CHARS:
            continue
        out[key.decode("utf-8", "replace").lower()] = value.decode("utf-8", "replace").strip()
    return out


def _address(info: ServiceInfo) -> str | None:
    """The address to reach the camera at: IPv4 first (Canon cameras are IPv4 only, per the
    ptpip-canon-helpers README), else a global IPv6 one (a link-local one needs a scope the URL
    cannot carry)."""
    v6: list[str] = []
    for text in info.parsed_addresses():
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if address.version == 4:
            return text
        if not address.is_link_local:
            v6.append(text)
    return v6[0] if v6 else None


def _instance(info: ServiceInfo) -> str:
    suffix = "." + info.type
    return info.name[: -len(suffix)] if info.name.lower().endswith(suffix.lower()) else info.name


def camera_from_service(info: ServiceInfo) -> DiscoveredCamera | None:
    """The camera a resolved service stands for (None without a usable address)."""
    address = _address(info)
    if address is None:
        return None
    txt = _txt(info)
    instance = _instance(info)
    service = info.type.lower()
    model: str | None
    if service == CANON_IMINK_SERVICE:
        # md.iml is "<something>/<model>" ("Camera 1.0/Canon PowerShot G7 X"); mn.iml is the
        # camera's short name ("g7x"). The advertised port is the HTTP service's, not PTP/IP's.
        described = txt.get("md.iml", "")
        model = described.rpartition("/")[2].strip() or None
        name = txt.get("mn.iml") or model or instance
        port = DEFAULT_PORT
    else:
        model = txt.get("model") or txt.get("md") or None
        name = instance or model or address
        port = info.port or DEFAULT_PORT
    return DiscoveredCamera(
        url=PtpIpAddress(address, port).url,
        name=name,
        model=model,
        source="mdns",
        address=address,
    )


def browse(
    timeout_s: float = 2.0,
    *,
    service_types: Sequence[str] = SERVICE_TYPES,
    zeroconf_factory: Callable[[], Zeroconf] | None = None,
) -> list[DiscoveredCamera]:
    """Browse the service types for ``timeout_s`` seconds, resolve what answered, and return the
    cameras. Never raises: failures are logged at DEBUG and what was found is returned."""
    try:
        from zeroconf import ServiceBrowser, ServiceStateChange, Zeroconf  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover  (a dependency; only a broken install)
        log.debug("mDNS discovery unavailable: %s", exc)
        return []
    deadline = time.monotonic() + timeout_s
    try:
        zc = (zeroconf_factory or Zeroconf)()
    except Exception as exc:  # no interfaces, no multicast, sockets refused...
        log.debug("mDNS discovery unavailable: %s", exc)
        return []
    names: dict[tuple[str, str], None] = {}
    lock = threading.Lock()

    def on_change(
        zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change in (ServiceStateChange.Added, ServiceStateChange.Updated):
            with lock:
                names[(service_type, name)] = None

    cameras: list[DiscoveredCamera] = []
    try:
        browser = ServiceBrowser(zc, list(service_types), handlers=[on_change])
        try:
            # Browsing takes most of the time; resolving (usually answered from the cache the
            # browse filled) gets the rest, and at least a moment.
            time.sleep(max(0.0, deadline - time.monotonic() - min(0.5, timeout_s / 4)))
        finally:
            browser.cancel()
        with lock:
            pending = list(names)
        for done, (service_type, name) in enumerate(pending):
            # One at a time, each within what is left: a network answering with many names
            # must not stretch the browse past its deadline.
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                log.debug("mDNS: out of time, %d services not resolved", len(pending) - done)
                break
            info = zc.get_service_info(service_type, name, timeout=left_ms)
            if info is None:
                log.debug("mDNS: %s did not resolve", name)
                continue
            camera = camera_from_service(info)
            if camera is not None:
                cameras.append(camera)
    except Exception as exc:
        log.debug("mDNS discovery failed: %s", exc)
    finally:
        try:
            zc.close()
        except Exception as exc:
            log.debug("mDNS: closing zeroconf failed: %s", exc)
    return cameras
