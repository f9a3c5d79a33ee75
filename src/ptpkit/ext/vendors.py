"""The built-in extensions: MTP (its own module, :mod:`ptpkit.ext.mtp`) and the camera vendors
whose codes ptpkit names.

How a device is recognised follows libgphoto2 (``camlibs/ptp2/ptp.c`` device-info fix-ups):
cameras that speak MTP often report Microsoft's vendor id (6) or describe "microsoft.com" in
VendorExtensionDesc, and many Canon and Nikon bodies report the MTP id while still answering their
own vendor operations, so a vendor is also recognised from the manufacturer string.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ptpkit.codes import VendorId
from ptpkit.codes.common import Op
from ptpkit.codes.properties import CANON_PROPERTIES
from ptpkit.core.datasets import DeviceInfo
from ptpkit.ext.base import Extension, Session, register
from ptpkit.ext.keepalive import IdleKeepAlive
from ptpkit.ext.lazy import LazyCodes, LazyExtension
from ptpkit.ext.matching import is_eos, is_fujifilm, is_nikon, is_sony
from ptpkit.ext.mtp import MtpExtension

if TYPE_CHECKING:
    from ptpkit.ext.canon_eos import CanonEosExtension  # noqa: F401  (on use: __getattr__)
    from ptpkit.ext.fujifilm import FujifilmExtension
    from ptpkit.ext.nikon import NikonExtension  # noqa: F401  (on use: __getattr__)
    from ptpkit.ext.sony import SonyExtension  # noqa: F401  (on use: __getattr__)

    FujiExtension = FujifilmExtension

#: The old private name of :class:`LazyCodes` (extensions written against it keep working).
_LazyCodes = LazyCodes

#: Idle seconds before a Canon PTP/IP session gets a keep-alive operation. The cameras' own
#: timeout is not documented; this is well inside what a user sitting on the "connecting" screen
#: sees time out.
CANON_KEEPALIVE_INTERVAL_S: Final = 20.0


class VendorExtension(LazyCodes):
    """A camera vendor: recognised by its vendor extension id or its manufacturer string."""

    vendor_id: int = 0
    manufacturer_words: tuple[str, ...] = ()

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        if info.vendor_extension_id == cls.vendor_id:
            return True
        manufacturer = info.manufacturer.lower()
        return any(word in manufacturer for word in cls.manufacturer_words)


class CanonExtension(VendorExtension):
    """Canon's codes, and over PTP/IP a keep-alive that stops the camera ending the session.

    reyalp (CHDK forum, topic 14294, 2021, on Elph130, SX710 and G7X): "sending
    PTP_OC_GetObjectHandles over PTP/IP allows getting past the 'connecting' screen, and avoids
    having the connection time out the way it does if you just sit in the connection screen";
    the seed (ptpip-canon-helpers README) tells chdkptp users to run ``ptp_get_object_handles()``
    "to prevent the camera from timing out and closing the connection". So, over PTP/IP only,
    right after the session opens this sends GetObjectHandles once, and again whenever the
    session has been idle for ``keepalive_interval_s`` (None turns both off:
    ``ptpkit.ext.register(CanonExtension.with_options(keepalive_interval_s=None),
    replace=True)``). The
    response does not matter, only that the camera sees an operation. Asking for the top-level
    objects keeps the answer small on a full card. As with chdkptp, a PowerShot's screen goes
    dark after it.
    """

    name = "canon"
    codes_module = "canon"
    vendor_id = VendorId.CANON
    manufacturer_words = ("canon",)
    properties = CANON_PROPERTIES

    #: Idle seconds before a keep-alive over PTP/IP; None: no keep-alive.
    keepalive_interval_s: float | None = CANON_KEEPALIVE_INTERVAL_S

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self._keepalive: IdleKeepAlive | None = None

    def open_session(self) -> None:
        if self.keepalive_interval_s is None or self.session.transport_kind != "ptpip":
            return
        if is_eos(self.session.device_info):
            # An EOS is kept awake by the canon-eos extension with EOS_KeepDeviceOn, as
            # libgphoto2 does (config.c); it never sends an EOS this PowerShot keep-alive.
            return
        keep_canon_session_alive(self.session)
        self._keepalive = IdleKeepAlive(
            self.session,
            interval_s=self.keepalive_interval_s,
            action=keep_canon_session_alive,
            name="canon-keepalive",
        ).start()

    def close_session(self) -> None:
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None:
            keepalive.stop()


def keep_canon_session_alive(session: Session) -> None:
    """One GetObjectHandles(all storages, any format, top level): an operation the camera counts
    as activity. Its response code is not checked (an error answer is activity too)."""
    session.run(Op.GET_OBJECT_HANDLES, (0xFFFFFFFF, 0, 0xFFFFFFFF), check=False)


class _CanonEos(LazyExtension):
    """:class:`ptpkit.ext.canon_eos.CanonEosExtension`, registered before it is imported."""

    name = "canon-eos"
    target = "ptpkit.ext.canon_eos:CanonEosExtension"

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return is_eos(info)


class _Nikon(LazyExtension):
    """:class:`ptpkit.ext.nikon.NikonExtension`, registered before it is imported."""

    name = "nikon"
    target = "ptpkit.ext.nikon:NikonExtension"

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return is_nikon(info)


class _Sony(LazyExtension):
    """:class:`ptpkit.ext.sony.SonyExtension`, registered before it is imported."""

    name = "sony"
    target = "ptpkit.ext.sony:SonyExtension"

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return is_sony(info)


class _Fujifilm(LazyExtension):
    """:class:`ptpkit.ext.fujifilm.FujifilmExtension`, registered before it is imported."""

    name = "fuji"
    target = "ptpkit.ext.fujifilm:FujifilmExtension"

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return is_fujifilm(info)


#: The classes whose modules load on first use (start-up time); FujiExtension is Fujifilm's
#: codes and behaviour (:mod:`ptpkit.ext.fujifilm`) under its older name.
_LAZY: Final = {
    "CanonEosExtension": _CanonEos,
    "FujifilmExtension": _Fujifilm,
    "FujiExtension": _Fujifilm,
    "NikonExtension": _Nikon,
    "SonyExtension": _Sony,
}


def __getattr__(name: str) -> Any:
    stub = _LAZY.get(name)
    if stub is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return stub.loaded()


BUILTIN: tuple[type[Extension], ...] = (
    MtpExtension,
    CanonExtension,
    _CanonEos,
    _Nikon,
    _Fujifilm,
    _Sony,
)


def register_builtins() -> None:
    for factory in BUILTIN:
        register(factory, replace=True)
