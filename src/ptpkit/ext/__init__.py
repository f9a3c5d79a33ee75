"""Vendor extensions as registered objects (see :mod:`ptpkit.ext.base`)."""

from typing import TYPE_CHECKING, Any

from ptpkit.ext.base import Extension, extensions_for, register, registered, unregister
from ptpkit.ext.mtp import MtpExtension
from ptpkit.ext.vendors import CanonExtension, register_builtins

if TYPE_CHECKING:
    from ptpkit.ext.canon_eos import CanonEosExtension
    from ptpkit.ext.fujifilm import FujifilmExtension
    from ptpkit.ext.nikon import NikonExtension
    from ptpkit.ext.sony import SonyExtension
    from ptpkit.ext.vendors import FujiExtension

register_builtins()

#: Imported on first use, not with ptpkit.ext (start-up time: ptpkit.ext.lazy.LazyExtension).
_ON_USE = frozenset(
    {"CanonEosExtension", "FujifilmExtension", "FujiExtension", "NikonExtension", "SonyExtension"}
)


def __getattr__(name: str) -> Any:
    if name in _ON_USE:
        from ptpkit.ext import vendors  # noqa: PLC0415

        return getattr(vendors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CanonEosExtension",
    "CanonExtension",
    "Extension",
    "FujiExtension",
    "FujifilmExtension",
    "MtpExtension",
    "NikonExtension",
    "SonyExtension",
    "extensions_for",
    "register",
    "registered",
    "unregister",
]
