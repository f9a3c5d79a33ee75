"""Vendor extensions as registered objects (see :mod:`ptpkit.ext.base`)."""

from ptpkit.ext.base import Extension, extensions_for, register, registered, unregister
from ptpkit.ext.canon_eos import CanonEosExtension
from ptpkit.ext.fujifilm import FujifilmExtension
from ptpkit.ext.mtp import MtpExtension
from ptpkit.ext.nikon import NikonExtension
from ptpkit.ext.vendors import (
    CanonExtension,
    FujiExtension,
    SonyExtension,
    register_builtins,
)

register_builtins()

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
