"""PTP/MTP code tables: names for operation, response, event, property and format codes.

Codes come from libgphoto2's ``camlibs/ptp2/ptp.h``.  Vendor codes overlap, so
names are looked up through a :class:`Vocabulary` built for one device::

    from ptpkit.codes import STANDARD, vocabulary_for, Kind

    STANDARD.operation_name(0x1001)          # "GetDeviceInfo"
    canon = vocabulary_for(0xB)              # standard + Canon
    canon.operation_name(0x9116)             # "EOS_GetEvent"
    canon.code(Kind.OPERATION, "eos-get-event")  # 0x9116
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from .canon import CODES as CANON_CODES
from .fuji import CODES as FUJI_CODES
from .mtp import CODES as MTP_CODES
from .nikon import CODES as NIKON_CODES
from .sony import CODES as SONY_CODES
from .standard import CODES as STANDARD_CODES
from .standard import DATATYPE_NAMES
from .table import CodeSet, Kind, UnknownNameError, Vocabulary, format_code, normalize_name
from .vendors import VendorId

__all__ = [
    "ALL_CODE_SETS",
    "CANON_CODES",
    "DATATYPE_NAMES",
    "FUJI_CODES",
    "MTP_CODES",
    "NIKON_CODES",
    "SONY_CODES",
    "STANDARD",
    "STANDARD_CODES",
    "VENDOR_CODE_SETS",
    "CodeSet",
    "Kind",
    "UnknownNameError",
    "VendorId",
    "Vocabulary",
    "datatype_name",
    "format_code",
    "normalize_name",
    "vocabulary_for",
]

STANDARD = Vocabulary([STANDARD_CODES])
"""The vocabulary of a plain PTP device: standard codes only."""

ALL_CODE_SETS: tuple[CodeSet, ...] = (
    STANDARD_CODES,
    MTP_CODES,
    CANON_CODES,
    NIKON_CODES,
    FUJI_CODES,
    SONY_CODES,
)
"""Every code set this package ships."""

VENDOR_CODE_SETS: Mapping[int, CodeSet] = MappingProxyType(
    {
        VendorId.CANON: CANON_CODES,
        VendorId.NIKON: NIKON_CODES,
        VendorId.FUJI: FUJI_CODES,
        VendorId.SONY: SONY_CODES,
    }
)
"""The vendor code set that goes with a vendor extension ID."""

_MTP_VENDOR_IDS = frozenset({VendorId.MICROSOFT, VendorId.MTP})
_CACHE: dict[tuple[str | None, bool], Vocabulary] = {}


def vocabulary_for(
    vendor_extension_id: int,
    *,
    mtp: bool = False,
    extra: Sequence[CodeSet] = (),
) -> Vocabulary:
    """The vocabulary for a device reporting ``vendor_extension_id``.

    Stacks, in this order (later wins on a clash): the standard codes; the MTP
    codes when ``mtp`` is true or the ID is 6 (Microsoft) or 0xFFFFFFFF (MTP);
    the vendor's codes for Canon (0xB), Nikon (0xA), Fuji (0xE) and Sony (0x11);
    then ``extra``.  Other IDs get the standard (and maybe MTP) codes only.
    Vocabularies without ``extra`` are cached and shared.
    """
    use_mtp = mtp or vendor_extension_id in _MTP_VENDOR_IDS
    vendor_set = VENDOR_CODE_SETS.get(vendor_extension_id)
    key = (vendor_set.name if vendor_set is not None else None, use_mtp)
    if not extra:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
    sets: list[CodeSet] = [STANDARD_CODES]
    if use_mtp:
        sets.append(MTP_CODES)
    if vendor_set is not None:
        sets.append(vendor_set)
    sets.extend(extra)
    vocabulary = Vocabulary(sets)
    if not extra:
        _CACHE[key] = vocabulary
    return vocabulary


def datatype_name(code: int) -> str:
    """The PTP datatype name of ``code`` ("uint16", "aint8", "str"), or hex if unknown."""
    name = DATATYPE_NAMES.get(code)
    return name if name is not None else format_code(code)
