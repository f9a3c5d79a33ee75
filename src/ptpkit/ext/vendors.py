"""The built-in extensions: MTP and the camera vendors whose codes ptpkit names.

How a device is recognised follows libgphoto2 (``camlibs/ptp2/ptp.c`` device-info fix-ups):
cameras that speak MTP often report Microsoft's vendor id (6) or describe "microsoft.com" in
VendorExtensionDesc, and many Canon and Nikon bodies report the MTP id while still answering their
own vendor operations, so a vendor is also recognised from the manufacturer string.
"""

from __future__ import annotations

from ptpkit.codes import CANON_CODES, FUJI_CODES, MTP_CODES, NIKON_CODES, SONY_CODES, VendorId
from ptpkit.core.datasets import DeviceInfo
from ptpkit.ext.base import Extension, register


class MtpExtension(Extension):
    name = "mtp"
    code_sets = (MTP_CODES,)

    def matches(self, info: DeviceInfo) -> bool:
        return (
            info.vendor_extension_id in (VendorId.MICROSOFT, VendorId.MTP)
            or "microsoft.com" in info.vendor_extension_desc.lower()
        )


class VendorExtension(Extension):
    """A camera vendor: recognised by its vendor extension id or its manufacturer string."""

    vendor_id: int = 0
    manufacturer_words: tuple[str, ...] = ()

    def matches(self, info: DeviceInfo) -> bool:
        if info.vendor_extension_id == self.vendor_id:
            return True
        manufacturer = info.manufacturer.lower()
        return any(word in manufacturer for word in self.manufacturer_words)


class CanonExtension(VendorExtension):
    name = "canon"
    code_sets = (CANON_CODES,)
    vendor_id = VendorId.CANON
    manufacturer_words = ("canon",)


class NikonExtension(VendorExtension):
    name = "nikon"
    code_sets = (NIKON_CODES,)
    vendor_id = VendorId.NIKON
    manufacturer_words = ("nikon",)


class FujiExtension(VendorExtension):
    name = "fuji"
    code_sets = (FUJI_CODES,)
    vendor_id = VendorId.FUJI
    manufacturer_words = ("fujifilm", "fuji photo")


class SonyExtension(VendorExtension):
    name = "sony"
    code_sets = (SONY_CODES,)
    vendor_id = VendorId.SONY
    manufacturer_words = ("sony",)


BUILTIN = (MtpExtension(), CanonExtension(), NikonExtension(), FujiExtension(), SonyExtension())


def register_builtins() -> None:
    for extension in BUILTIN:
        register(extension, replace=True)
