"""``ptpkit.connect(url)``: from a URL to an open Camera.

Schemes are registered by name, so each transport plugs in where it is written:

- ``virtual:`` the virtual camera in this process, with a generated sample card;
  ``virtual:/some/folder`` serves that folder as its card; ``?model=canon-eos`` (any of
  ``ptpkit.virtual.MODELS``) chooses which camera it is (also for ``virtual+usb:``).
- ``ptpip:HOST[:PORT]``, ``fuji:HOST[:CMDPORT[:EVENTPORT[:STREAMPORT]]]`` (Fujifilm's PTP/IP
  variant) and ``usb:...`` come with their transports.
- ``canon-usb:`` (the ``usb:`` selectors) a PowerShot on Canon's native USB protocol, behind a
  PTP gateway (``ptpkit.client.powershot_ptp``); ``usb:`` picks it too when its ids say so.
  ``virtual:?model=powershot-g3`` / ``virtual+usb:?model=powershot-g3``: the virtual PowerShot
  on its PyUSB backend (the protocol exists over USB only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ptpkit.client.camera import Camera
from ptpkit.errors import UsageError
from ptpkit.ext.base import ExtensionFactory, check_extension_names
from ptpkit.timing import SYSTEM_CLOCK, Clock
from ptpkit.transports.base import Transport

if TYPE_CHECKING:
    from ptpkit.transports.canon_usb import CanonUsbLink
    from ptpkit.virtual import VirtualCamera
    from ptpkit.virtual.powershot import PowerShotDevice

#: Makes a transport for a URL of its scheme; ``options`` are connect()'s extra keywords.
TransportFactory = Callable[[str, dict[str, Any]], Transport]

_SCHEMES: dict[str, TransportFactory] = {}


def register_scheme(scheme: str, factory: TransportFactory) -> None:
    _SCHEMES[scheme.lower()] = factory


def schemes() -> list[str]:
    return sorted(_SCHEMES)


def transport_for(url: str, **options: Any) -> Transport:
    scheme, sep, _ = url.partition(":")
    if not sep:
        raise UsageError(f"{url!r} is not a camera URL (try virtual:, ptpip:HOST or usb:)")
    factory = _SCHEMES.get(scheme.lower())
    if factory is None:
        raise UsageError(
            f"unknown camera URL scheme {scheme!r} in {url!r}; known: {', '.join(schemes())}"
        )
    return factory(url, options)


def connect(
    url: str = "virtual:",
    *,
    timeout_s: float | None = 20.0,
    session_id: int = 1,
    extensions: Iterable[ExtensionFactory] = (),
    vendors: Iterable[str] = (),
    clock: Clock = SYSTEM_CLOCK,
    **options: Any,
) -> Camera:
    """Open a camera and its session. Use the result as a context manager::

    with ptpkit.connect("virtual:") as cam:
        print(cam.device_info.model)

    ``extensions`` adds unregistered extension classes (each still asked ``matches()``);
    ``vendors`` names registered ones to use whatever the camera says, e.g. ``("canon",)``.
    ``clock``: the time behind busy back-off, capture waits, pollers and keep-alives (a test's
    :class:`ptpkit.testing.FakeClock`).

    Other keywords go to the URL's transport. ``usb:`` takes ``backend=``, the PyUSB backend
    that reaches the camera: a ``usb.backend.IBackend`` object, or a name ("libusb1", the
    default; "libusb0"; "openusb"; or "module:function", a function returning a backend, such
    as one that reaches a camera through a network bridge); ``events=`` "auto" (default),
    "thread" or "between": how the interrupt endpoint is read (see ``ptpkit.transports.usb``);
    and ``read_bytes=`` (bytes per bulk read).
    """
    check_extension_names(vendors)  # before a transport is made: nothing to clean up
    transport = transport_for(url, **options)
    camera = Camera(
        transport,
        timeout_s=timeout_s,
        session_id=session_id,
        extensions=extensions,
        vendors=vendors,
        clock=clock,
    )
    return camera.open()


def _virtual(url: str, options: dict[str, Any]) -> Transport:
    # Imported here: the virtual camera (and Pillow) load only when a virtual: URL is used.
    from ptpkit.transports.inprocess import InProcessTransport  # noqa: PLC0415

    model = _powershot_model(url)
    if model is not None:
        # The PowerShot protocol exists over USB only: the virtual one is always on USB.
        return _virtual_powershot(url, options, model)
    camera = options.pop("camera", None)
    if options:
        unknown = ", ".join(sorted(options))
        raise UsageError(f"virtual: takes the option camera=VirtualCamera(...), not {unknown}")
    if camera is not None:
        return InProcessTransport(camera, url=url)
    owned = _own_virtual_camera(url)
    return InProcessTransport(owned, url=url, on_close=owned.close)


def _ptpip(url: str, options: dict[str, Any]) -> Transport:
    from ptpkit.transports.ptpip import open_url  # noqa: PLC0415  (sockets load when used)

    return open_url(url, options)


def _fuji(url: str, options: dict[str, Any]) -> Transport:
    from ptpkit.transports.fujiptpip import open_url  # noqa: PLC0415  (sockets load when used)

    return open_url(url, options)


def _usb(url: str, options: dict[str, Any]) -> Transport:
    from ptpkit.transports.usb import open_url  # noqa: PLC0415  (PyUSB loads when used)

    return open_url(url, options, native={"canon": _powershot_gateway})


def _powershot_gateway(camera: Any, url: str, backend: Any) -> Transport:
    """A PowerShot found by ``usb:`` (its ids say it speaks Canon's native protocol, never
    PTP): the PTP gateway over a canon-usb link (ptpkit.client.powershot_ptp)."""
    from ptpkit.client.powershot_ptp import PowerShotTransport  # noqa: PLC0415
    from ptpkit.transports.canon_usb import CanonUsbLink  # noqa: PLC0415

    return PowerShotTransport(CanonUsbLink(camera), url=camera.url)


def _canon_usb(url: str, options: dict[str, Any]) -> Transport:
    """``canon-usb:`` a PowerShot on Canon's native USB protocol, behind the PTP gateway
    (options: backend=, as for usb:)."""
    from ptpkit.client.powershot_ptp import PowerShotTransport  # noqa: PLC0415
    from ptpkit.transports.canon_usb import find_link  # noqa: PLC0415

    backend = options.pop("backend", None)
    if options:
        raise UsageError(f"canon-usb: takes backend=, not {', '.join(sorted(options))}")
    link = find_link(url, backend)
    return PowerShotTransport(link, url=link.url)


def _virtual_usb(url: str, options: dict[str, Any]) -> Transport:
    """``virtual+usb:`` the virtual camera as a USB device: the whole USB transport runs through
    PyUSB, against a backend that is the virtual camera (options: camera=, faults=)."""
    from ptpkit.transports.usb import UsbSelector, UsbTransport, select_camera  # noqa: PLC0415
    from ptpkit.virtual.usb_device import VirtualUsbDevice, make_backend  # noqa: PLC0415

    model = _powershot_model(url)
    if model is not None:
        return _virtual_powershot(url, options, model)
    camera = options.pop("camera", None)
    faults = options.pop("faults", None)
    read_bytes = _read_bytes(options.pop("read_bytes", 1 << 20))
    events = options.pop("events", "auto")
    if options:
        raise UsageError(
            "virtual+usb: takes camera=, faults=, read_bytes= and events=, "
            f"not {', '.join(options)}"
        )
    owned = None
    if camera is None:
        owned = camera = _own_virtual_camera(url)
    try:
        device = VirtualUsbDevice(camera, faults=faults)
        transport = UsbTransport(
            select_camera(UsbSelector(), make_backend(device)),
            url=url,
            read_bytes=read_bytes,
            events=events,
        )
    except BaseException:
        # The camera made here (and its temporary card) is ours to close: no Camera owns it yet.
        if owned is not None:
            owned.close()
        raise
    if owned is not None:
        transport.on_close = owned.close
    return transport


def _virtual_powershot(url: str, options: dict[str, Any], model: str) -> Transport:
    """The virtual PowerShot (ptpkit.virtual.powershot) on its PyUSB backend, behind the PTP
    gateway: the whole client path of a real one (link, wake-up, native commands, gateway)."""
    from ptpkit.client.powershot_ptp import PowerShotTransport  # noqa: PLC0415

    link, owned = virtual_powershot_link(url, options, model)
    return PowerShotTransport(link, url=url, on_close=owned.close if owned else None)


def virtual_powershot_link(
    url: str, options: dict[str, Any], model: str
) -> tuple[CanonUsbLink, PowerShotDevice | None]:
    """A link (not yet woken) to the virtual PowerShot a ``virtual[+usb]:[FOLDER]?model=...``
    URL names, on its PyUSB backend, and the device when the link's user must close it.
    Its card: the URL's folder, else a new PowerShot card of its own (JPEGs with EXIF
    thumbnails, a movie and its THM); ``camera=`` a VirtualCamera of the caller's instead."""
    from ptpkit.transports.canon_usb import CanonUsbLink  # noqa: PLC0415
    from ptpkit.transports.usb import UsbSelector, select_camera  # noqa: PLC0415
    from ptpkit.virtual.powershot import PowerShotDevice, open_powershot  # noqa: PLC0415
    from ptpkit.virtual.powershot_usb import make_powershot_backend  # noqa: PLC0415

    camera = options.pop("camera", None)
    if options:
        raise UsageError(
            f"{url.partition(':')[0]}: a virtual PowerShot takes camera=, not "
            f"{', '.join(sorted(options))}"
        )
    root = url.partition(":")[2].partition("?")[0]
    if camera is not None:
        device = PowerShotDevice(camera, model=model)
        owned = None
    else:
        # The device owns the camera it makes (and a temporary card): closed with the link.
        device = owned = open_powershot(model, root or None)
    try:
        found = select_camera(UsbSelector(), make_powershot_backend(device), kinds=("canon",))
        link = CanonUsbLink(found, url=url)
    except BaseException:
        if owned is not None:
            owned.close()
        raise
    return link, owned


def virtual_powershot_model(url: str) -> str | None:
    """The virtual PowerShot a ``virtual:`` / ``virtual+usb:`` URL names, or None."""
    scheme = url.partition(":")[0].lower()
    return _powershot_model(url) if scheme in ("virtual", "virtual+usb") else None


def _powershot_model(url: str) -> str | None:
    """The PowerShot a ``virtual:[FOLDER]?model=powershot-...`` URL asks for, or None (then
    the URL is the PTP virtual camera's, checked by ptpkit.virtual.models)."""
    from urllib.parse import parse_qsl  # noqa: PLC0415

    query = url.partition("?")[2]
    pairs = parse_qsl(query, keep_blank_values=True)
    models = [value.strip().lower() for key, value in pairs if key == "model"]
    if len(models) != 1 or not models[0].startswith("powershot-"):
        return None
    from ptpkit.virtual.powershot import POWERSHOT_PERSONALITIES  # noqa: PLC0415

    if models[0] not in POWERSHOT_PERSONALITIES:
        known = ", ".join(sorted(POWERSHOT_PERSONALITIES))
        raise UsageError(f"{url!r}: unknown virtual PowerShot {models[0]!r}; known: {known}")
    others = [key for key, _ in pairs if key != "model"]
    if others:
        raise UsageError(f"{url!r}: a virtual PowerShot takes ?model=NAME only, not {others[0]!r}")
    return models[0]


def _own_virtual_camera(url: str) -> VirtualCamera:
    """The camera a ``virtual:[FOLDER][?model=NAME]`` URL names (ptpkit.virtual.models)."""
    from ptpkit.virtual import VirtualCamera  # noqa: PLC0415
    from ptpkit.virtual.models import (  # noqa: PLC0415
        parse_virtual_url,
        personality_for,
        virtual_url_options,
    )

    root, model = parse_virtual_url(url)
    return VirtualCamera(root, personality=personality_for(model, virtual_url_options(url)))


def _read_bytes(value: Any) -> int:
    """``read_bytes=`` as a number (a bad value is a UsageError, never a bare ValueError)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError(f"read_bytes={value!r}: give a whole number of bytes") from None


register_scheme("virtual", _virtual)
register_scheme("usb", _usb)
register_scheme("virtual+usb", _virtual_usb)
register_scheme("ptpip", _ptpip)
register_scheme("fuji", _fuji)
register_scheme("canon-usb", _canon_usb)
