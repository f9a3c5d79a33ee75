"""``ptpkit.discover()``: the cameras on USB and on the network, each with its URL.

::

    for camera in ptpkit.discover():
        print(camera.url, camera.name)        # ptpip:192.168.1.23  EOS R6

USB enumeration, the SSDP search and the mDNS browse run at the same time, so the whole call
takes about ``timeout_s`` (plus at most :data:`GRACE_S` for fetching descriptions). It never
raises for a missing network, a missing USB backend or a misbehaving device: each failure is
logged at DEBUG and the rest of the results come back.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final
from urllib.parse import urlsplit

from ptpkit.core.ptpip import DEFAULT_PORT
from ptpkit.discovery.advertise import CANON_EOS_SERVICE
from ptpkit.discovery.description import DeviceDescription, fetch_description
from ptpkit.discovery.mdns import SERVICE_TYPES, browse
from ptpkit.discovery.result import DiscoveredCamera
from ptpkit.discovery.ssdp import SSDP_GROUP, SSDP_PORT, Address, SearchReply, search
from ptpkit.transports.ptpip import PtpIpAddress

log = logging.getLogger("ptpkit.discovery")

#: Canon EOS in smartphone mode (the search Canon's app makes; seen in a Canon "mobile
#: simulator" script that M-SEARCHes for it and for MobileConnectedCameraService).
CANON_SMARTPHONE_SERVICE: Final = "urn:schemas-canon-com:service:ICPO-SmartPhoneEOSSystemService:1"
#: Canon PowerShots in smartphone mode (CHDK forum topic 10724; their description is
#: ``/desc_iml/MobileConnectedCamera.xml`` on port 49152, gphoto/gphoto2#282).
CANON_MOBILE_SERVICE: Final = "urn:schemas-canon-com:service:MobileConnectedCameraService:1"
#: Sony's "Send to Computer" (falk0069/sony-pm-alt; gphoto/gphoto2#300).
SONY_MTP_SERVICE: Final = "urn:microsoft-com:service:MtpNullService:1"

#: The SSDP search targets that find PTP/IP cameras (../shared/reference/landscape.md §9).
CAMERA_SEARCH_TARGETS: Final = (
    CANON_EOS_SERVICE,
    CANON_SMARTPHONE_SERVICE,
    CANON_MOBILE_SERVICE,
    SONY_MTP_SERVICE,
)
_VENDOR_BY_TARGET: Final = {
    CANON_EOS_SERVICE: "Canon",
    CANON_SMARTPHONE_SERVICE: "Canon",
    CANON_MOBILE_SERVICE: "Canon",
    SONY_MTP_SERVICE: "Sony",
}
#: Where searches go: the multicast group, and this computer by unicast (finds a
#: ``ptpkit virtual serve --advertise`` on 127.0.0.1 without multicast).
DEFAULT_SSDP_TARGETS: Final = ((SSDP_GROUP, SSDP_PORT), ("127.0.0.1", SSDP_PORT))
#: Time for fetching descriptions after the search window.
DESCRIPTION_TIMEOUT_S: Final = 1.0
#: How much longer than ``timeout_s`` discover() may take in all.
GRACE_S: Final = 2.0


# -- USB -----------------------------------------------------------------------------------------


def usb_cameras() -> list[DiscoveredCamera]:
    """:func:`ptpkit.discovery.usb.find_cameras`, or nothing when USB support (PyUSB or a libusb
    backend) is not there."""
    try:
        # Imported here: it loads the USB transport and PyUSB, which network discovery never needs.
        from ptpkit.discovery.usb import find_cameras  # noqa: PLC0415
    except ImportError as exc:
        log.debug("USB discovery unavailable: %s", exc)
        return []
    try:
        return list(find_cameras())
    except Exception as exc:  # no libusb backend, permissions, a device that went away...
        log.debug("USB discovery failed: %s", exc)
        return []


# -- SSDP ----------------------------------------------------------------------------------------


def _usn_uuid(usn: str) -> str:
    return usn.partition("::")[0].lower()


def _location_is_on(location: str | None, address: str) -> bool:
    """Fetch only a description on the host that answered: a forged answer must not make us
    fetch URLs elsewhere."""
    if not location:
        return False
    try:
        parts = urlsplit(location)
        return parts.scheme == "http" and parts.hostname == address
    except ValueError:
        return False


def camera_from_reply(
    reply: SearchReply, description: DeviceDescription | None = None
) -> DiscoveredCamera:
    """The camera an SSDP answer (and its description, if fetched) stands for."""
    response = reply.response
    vendor = _VENDOR_BY_TARGET.get(response.st, "")
    port = DEFAULT_PORT
    model: str | None = None
    name: str | None = None
    serial: str | None = None
    if description is not None:
        port = description.ptpip_port or DEFAULT_PORT
        model = description.model_name
        name = description.friendly_name
        serial = (description.serial_number or "").strip() or None
    return DiscoveredCamera(
        url=PtpIpAddress(reply.address, port).url,
        name=name or model or f"{vendor} camera at {reply.address}".strip(),
        model=model,
        source="ssdp",
        address=reply.address,
        serial=serial,
    )


def ssdp_cameras(
    timeout_s: float = 2.0,
    *,
    targets: Sequence[Address] = DEFAULT_SSDP_TARGETS,
    bind: Address = ("", 0),
    search_targets: Sequence[str] = CAMERA_SEARCH_TARGETS,
) -> list[DiscoveredCamera]:
    """Search for cameras over SSDP and read the descriptions of those that answer."""
    wanted = set(search_targets)
    first: dict[tuple[str, str], SearchReply] = {}
    fetches: dict[str, concurrent.futures.Future[DeviceDescription]] = {}
    pool = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="ssdp-describe")
    try:

        def on_reply(reply: SearchReply) -> None:
            response = reply.response
            # Only answers for what we asked: some devices answer every search with their own
            # type.
            if response.st not in wanted:
                log.debug("SSDP: %s answered with %s; not a camera", reply.address, response.st)
                return
            key = (reply.address, _usn_uuid(response.usn) or response.location or "")
            if key in first:
                return
            first[key] = reply
            location = response.location
            if location and location not in fetches and _location_is_on(location, reply.address):
                fetches[location] = pool.submit(
                    fetch_description, location, timeout_s=DESCRIPTION_TIMEOUT_S
                )

        search(search_targets, timeout_s=timeout_s, targets=targets, bind=bind, on_reply=on_reply)
        concurrent.futures.wait(fetches.values(), timeout=DESCRIPTION_TIMEOUT_S + 0.5)
        cameras = []
        for reply in first.values():
            description = None
            future = fetches.get(reply.response.location or "")
            if future is not None and future.done():
                try:
                    description = future.result()
                except Exception as exc:
                    log.debug("SSDP: no description from %s: %s", reply.address, exc)
            cameras.append(camera_from_reply(reply, description))
    finally:
        # Never wait for a description that is late: it is left out.
        pool.shutdown(wait=False, cancel_futures=True)
    return cameras


# -- all together --------------------------------------------------------------------------------


def _merge(found: Sequence[DiscoveredCamera]) -> list[DiscoveredCamera]:
    """One entry per URL: the first seen, with a model and a serial number filled in from a
    later one."""
    merged: dict[str, DiscoveredCamera] = {}
    for camera in found:
        known = merged.get(camera.url)
        if known is None:
            merged[camera.url] = camera
        elif (known.model is None and camera.model is not None) or (
            known.serial is None and camera.serial is not None
        ):
            merged[camera.url] = dataclasses.replace(
                known, model=known.model or camera.model, serial=known.serial or camera.serial
            )
    return list(merged.values())


def discover(
    timeout_s: float = 2.0,
    *,
    usb: bool = True,
    network: bool = True,
    ssdp: bool = True,
    mdns: bool = True,
    ssdp_targets: Sequence[Address] = DEFAULT_SSDP_TARGETS,
    ssdp_bind: Address = ("", 0),
    search_targets: Sequence[str] = CAMERA_SEARCH_TARGETS,
    mdns_service_types: Sequence[str] = SERVICE_TYPES,
) -> list[DiscoveredCamera]:
    """Find cameras: on USB (``usb``), and on the network (``network``: an SSDP search and an
    mDNS browse, each of which can be turned off). Returns USB cameras first, then network ones,
    one entry per URL. Never raises for an unavailable network or USB.

    ``ssdp_targets`` and ``ssdp_bind`` say where the search goes and where it is sent from
    (tests search ``[("127.0.0.1", port)]`` from ``("127.0.0.1", 0)``, by unicast).
    """
    jobs: list[tuple[str, Callable[[], list[DiscoveredCamera]]]] = []
    if usb:
        jobs.append(("usb", usb_cameras))
    if network and ssdp:
        jobs.append(
            (
                "ssdp",
                lambda: ssdp_cameras(
                    timeout_s, targets=ssdp_targets, bind=ssdp_bind, search_targets=search_targets
                ),
            )
        )
    if network and mdns:
        jobs.append(("mdns", lambda: browse(timeout_s, service_types=mdns_service_types)))
    results: dict[str, list[DiscoveredCamera]] = {}
    threads = []
    for name, job in jobs:
        thread = threading.Thread(
            target=_collect_into, args=(results, name, job), name=f"discover-{name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    deadline = time.monotonic() + timeout_s + GRACE_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.debug("discovery: %s did not finish in time; left out", thread.name)
    found = [camera for name, _ in jobs for camera in results.get(name, [])]
    return _merge(found)


def _collect_into(
    results: dict[str, list[DiscoveredCamera]],
    name: str,
    job: Callable[[], list[DiscoveredCamera]],
) -> None:
    try:
        results[name] = job()
    except Exception as exc:  # never let one source spoil the others
        log.debug("%s discovery failed: %s", name, exc)
        results[name] = []
