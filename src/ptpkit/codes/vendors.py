"""PTP vendor extension IDs (the ``VendorExtensionID`` field of DeviceInfo).

Values from libgphoto2 ``camlibs/ptp2/ptp.h`` (``PTP_VENDOR_*``); member names
are the ptp.h names without the ``PTP_VENDOR_`` prefix.
"""

from __future__ import annotations

import enum

__all__ = ["VendorId"]


class VendorId(enum.IntEnum):
    """Vendor extension IDs as libgphoto2 knows them."""

    EASTMAN_KODAK = 0x00000001
    SEIKO_EPSON = 0x00000002
    AGILENT = 0x00000003
    POLAROID = 0x00000004
    AGFA_GEVAERT = 0x00000005
    MICROSOFT = 0x00000006
    """Also what most MTP devices (and many cameras) report."""
    EQUINOX = 0x00000007
    VIEWQUEST = 0x00000008
    STMICROELECTRONICS = 0x00000009
    NIKON = 0x0000000A
    CANON = 0x0000000B
    FOTONATION = 0x0000000C
    PENTAX = 0x0000000D
    FUJI = 0x0000000E
    SONY = 0x00000011
    """Not from the standards papers; observed in traces (Sony A900)."""
    NDD_MEDICAL_TECHNOLOGIES = 0x00000012
    SAMSUNG = 0x0000001A
    PARROT = 0x0000001B
    PANASONIC = 0x0000001C
    MTP = 0xFFFFFFFF
    """Used for MTP occasionally; usually MTP devices report 6 (MICROSOFT)."""

    # gphoto-synthetic IDs: libgphoto2 substitutes these itself ("gphoto
    # overrides"); no device reports them.
    GP_OLYMPUS = 0x0000FFFE
    """Synthetic (libgphoto2 override), never sent by a device."""
    GP_OLYMPUS_OMD = 0x0000FFFD
    """Synthetic (libgphoto2 override), never sent by a device."""
    GP_LEICA = 0x0000FFFC
    """Synthetic (libgphoto2 override), never sent by a device."""
    GP_SIGMAFP = 0x0000FFFB
    """Synthetic (libgphoto2 override), never sent by a device."""

    @property
    def synthetic(self) -> bool:
        """True for the libgphoto2-internal ``GP_*`` IDs."""
        return self.name.startswith("GP_")
