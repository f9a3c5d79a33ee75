"""Which devices the built-in vendor extensions are for, apart from the extensions themselves:
the registry asks every registered extension ``matches()`` for every camera, so these tests must
not import what they test for (a Canon EOS, Nikon, Fujifilm or Sony extension, with its codecs'
frozen dataclasses, loads only for a camera that chooses it:
:class:`ptpkit.ext.lazy.LazyExtension`)."""

from __future__ import annotations

from typing import Final

from ptpkit.codes import VendorId
from ptpkit.core.datasets import DeviceInfo

#: PTP_OC_CANON_EOS_GetEvent (libgphoto2 ptp.h), ptpkit.ext.canon_eos.GET_EVENT.
EOS_GET_EVENT: Final = 0x9116


def is_eos(info: DeviceInfo) -> bool:
    """A Canon (vendor id 0xB or manufacturer) that lists EOS_GetEvent: libgphoto2's test for
    its EOS paths (``ptp_operation_issupported(params, PTP_OC_CANON_EOS_GetEvent)``)."""
    canon = info.vendor_extension_id == VendorId.CANON or "canon" in info.manufacturer.lower()
    return canon and EOS_GET_EVENT in info.operations_supported


def is_fujifilm(info: DeviceInfo) -> bool:
    """Fujifilm's vendor extension id 0x0000000E, or its name as the manufacturer."""
    maker = info.manufacturer.lower()
    return info.vendor_extension_id == VendorId.FUJI or "fujifilm" in maker or "fuji photo" in maker


def is_nikon(info: DeviceInfo) -> bool:
    """Nikon's vendor extension id 0x0000000A, or "Nikon" in the manufacturer: Nikon PTP/IP
    bodies sometimes report the MTP vendor id, and libgphoto2 then goes by the manufacturer
    (library.c; vendors.md 2.7)."""
    return info.vendor_extension_id == VendorId.NIKON or "nikon" in info.manufacturer.lower()


def is_sony(info: DeviceInfo) -> bool:
    """Sony's vendor extension id 0x00000011, or "Sony" in the manufacturer: over PTP/IP Sony
    bodies report MTP's vendor id with "Sony Corporation", which libgphoto2 takes for Sony
    (library.c; vendors.md 3.6)."""
    return info.vendor_extension_id == VendorId.SONY or "sony" in info.manufacturer.lower()


__all__ = ["EOS_GET_EVENT", "is_eos", "is_fujifilm", "is_nikon", "is_sony"]
