"""USB cameras for :func:`ptpkit.discover`: the USB transport's enumeration, as discovery results.

Discovery sits above the transports: this module asks :mod:`ptpkit.transports.usb` what is on the
bus and names each camera; the transport knows nothing of discovery. Importing it loads the USB
transport (and PyUSB with it), so :func:`ptpkit.discovery.find.usb_cameras` imports it only when
USB discovery is asked for.
"""

from __future__ import annotations

from typing import Any

from ptpkit.discovery.result import DiscoveredCamera
from ptpkit.transports.usb import UDEV_RULE, UDEV_RULE_PATH, UsbCamera, find_usb_cameras

# The udev rule that lets a normal user reach USB cameras (``ptpkit udev-rules``), public here.
__all__ = ["UDEV_RULE", "UDEV_RULE_PATH", "find_cameras"]


def find_cameras(backend: Any = None) -> list[DiscoveredCamera]:
    """USB cameras, each with the URL ``--camera`` takes."""
    out = []
    for camera in find_usb_cameras(backend):
        product = camera.string("iProduct")
        manufacturer = camera.string("iManufacturer")
        name = " ".join(n for n in (manufacturer, product) if n) or f"USB {camera.ids}"
        out.append(
            DiscoveredCamera(
                url=camera.url,
                name=name,
                model=product,
                source="usb",
                address=f"{camera.bus},{camera.address}",
                serial=_serial_of(camera),
            )
        )
    return out


def _serial_of(camera: UsbCamera) -> str | None:
    """The camera's iSerialNumber string, if it has a usable one (not blank)."""
    serial = camera.string("iSerialNumber")
    return serial.strip() or None if serial is not None else None
