"""The virtual PowerShot's URLs (``virtual+usb:?model=powershot-g3``, ``virtual:FOLDER?model=
powershot-g2``): which model a URL names, and a link to the virtual PowerShot on its PyUSB
backend. Shared by :func:`ptpkit.connect` (the PTP gateway on top) and
:meth:`ptpkit.client.powershot.PowerShot.open` (the native API), which cannot import each other.
The virtual camera loads only when such a URL is used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ptpkit.errors import UsageError

if TYPE_CHECKING:
    from ptpkit.transports.canon_usb import CanonUsbLink
    from ptpkit.virtual.powershot import PowerShotDevice


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
    return powershot_model(url) if scheme in ("virtual", "virtual+usb") else None


def powershot_model(url: str) -> str | None:
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
