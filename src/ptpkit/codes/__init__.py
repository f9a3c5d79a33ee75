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

import importlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .standard import CODES as STANDARD_CODES
from .standard import DATATYPE_NAMES
from .table import CodeSet, Kind, UnknownNameError, Vocabulary, format_code, normalize_name
from .vendors import VendorId

if TYPE_CHECKING:
    from .canon import CODES as CANON_CODES
    from .fuji import CODES as FUJI_CODES
    from .mtp import CODES as MTP_CODES
    from .nikon import CODES as NIKON_CODES
    from .sony import CODES as SONY_CODES

    ALL_CODE_SETS: tuple[CodeSet, ...]
    VENDOR_CODE_SETS: Mapping[int, CodeSet]

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

# The MTP and vendor tables load when a device (or a caller) needs them, not with the package: a
# PTP/IP command to one camera does not build the four vendors' tables (start-up time).
_CODE_SET_MODULES: Mapping[str, str] = MappingProxyType(
    {
        "MTP_CODES": "mtp",
        "CANON_CODES": "canon",
        "NIKON_CODES": "nikon",
        "FUJI_CODES": "fuji",
        "SONY_CODES": "sony",
    }
)
_VENDOR_MODULES: Mapping[int, str] = MappingProxyType(
    {
        VendorId.CANON: "canon",
        VendorId.NIKON: "nikon",
        VendorId.FUJI: "fuji",
        VendorId.SONY: "sony",
    }
)


def _code_set(module: str) -> CodeSet:
    code_set: CodeSet = importlib.import_module(f"{__name__}.{module}").CODES
    return code_set


def __getattr__(name: str) -> Any:
    value: Any
    if name in _CODE_SET_MODULES:
        value = _code_set(_CODE_SET_MODULES[name])
    elif name == "ALL_CODE_SETS":
        # Every code set this package ships.
        value = (STANDARD_CODES, *(_code_set(module) for module in _CODE_SET_MODULES.values()))
    elif name == "VENDOR_CODE_SETS":
        # The vendor code set that goes with a vendor extension ID.
        value = MappingProxyType(
            {vendor: _code_set(module) for vendor, module in _VENDOR_MODULES.items()}
        )
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


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
    vendor_module = _VENDOR_MODULES.get(vendor_extension_id)
    vendor_set = _code_set(vendor_module) if vendor_module is not None else None
    key = (vendor_set.name if vendor_set is not None else None, use_mtp)
    if not extra:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
    sets: list[CodeSet] = [STANDARD_CODES]
    if use_mtp:
        sets.append(_code_set("mtp"))
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
