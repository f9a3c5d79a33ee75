"""What discovery finds: one camera and the URL that reaches it.

Kept in a module of its own with no imports beyond the standard library, so that USB discovery
(:mod:`ptpkit.discovery.usb`) can build results without loading the network discovery code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class DiscoveredCamera:
    """A camera found on USB or on the network."""

    #: What ``ptpkit --camera`` and :func:`ptpkit.connect` take, e.g. ``"ptpip:192.168.1.23"``.
    url: str
    #: The camera's friendly name if it told one, else something readable (model, address).
    name: str
    model: str | None = None
    #: How it was found: ``"usb"``, ``"ssdp"`` or ``"mdns"``.
    source: str
    #: Its network address (None for USB).
    address: str | None = None
    #: The serial number discovery read, where it gives one: a USB camera's iSerialNumber
    #: string (what ``usb:serial=...`` finds it by wherever it is plugged), an SSDP
    #: description's serialNumber. None when none was told (or it could not be read).
    serial: str | None = None

    def __str__(self) -> str:
        model = f" ({self.model})" if self.model and self.model != self.name else ""
        return f"{self.url}  {self.name}{model}  [{self.source}]"
