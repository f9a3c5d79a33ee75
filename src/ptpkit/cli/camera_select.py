"""Which camera a command talks to, and opening it.

In order: ``--camera URL``; the ``PTPKIT_CAMERA`` environment variable; the config file's
``[responder]``; else the cameras discovery finds (USB and network): the only one, or a clear
error when there are none or several. Options that only mean something to PTP/IP (the initiator
GUID and name, the connect timeout) are passed only to ``ptpip:`` and ``fuji:`` URLs.

Opening maps failures to the Go tool's exit codes: a URL or option that cannot make a client is
104, a camera that cannot be reached is 105.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from ptpkit.cli.config import Config
from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.client.camera import Camera
from ptpkit.errors import PTPError, ResponseError, UsageError

CAMERA_ENV: Final = "PTPKIT_CAMERA"
#: Schemes of network cameras: standard PTP/IP and Fujifilm's variant take the same options.
_NETWORK_SCHEMES: Final = frozenset({"ptpip", "fuji"})
#: How long "the only camera found" searches, unless --timeout says otherwise.
DISCOVERY_TIMEOUT_S: Final = 2.0


class Discovered(Protocol):
    """What the CLI reads of ``ptpkit.discovery.DiscoveredCamera``."""

    @property
    def url(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def source(self) -> str: ...
    @property
    def address(self) -> str | None: ...


def discover_cameras(
    timeout_s: float = DISCOVERY_TIMEOUT_S, *, usb: bool = True, network: bool = True
) -> Sequence[Discovered]:
    """``ptpkit.discover()``; the one seam tests replace (discovery itself would search the real
    USB bus and network)."""
    try:
        from ptpkit.discovery import discover  # noqa: PLC0415  (USB and sockets load on use)
    except ImportError as exc:
        raise CliError(
            f"camera discovery is not available in this installation ({exc})",
            ExitCode.UNSPECIFIED,
            hint="name the camera with --camera URL (usb:, ptpip:HOST, virtual:)",
        ) from None
    found: Sequence[Discovered] = discover(timeout_s, usb=usb, network=network)
    return found


@dataclass(frozen=True)
class CameraChoice:
    url: str
    #: Where the URL came from, for messages ("--camera", "PTPKIT_CAMERA", "config file ...").
    source: str
    #: Keyword options for ``ptpkit.connect``.
    options: dict[str, Any] = field(default_factory=dict)
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    """What the global options say about the camera."""

    camera: str | None = None
    guid: str | None = None
    name: str | None = None
    vendor: str | None = None
    timeout_s: float | None = None
    #: --pairing-timeout: how long a PTP/IP camera may take to accept this computer.
    pairing_timeout_s: float | None = None
    config: Config = field(default_factory=Config)
    #: --usb-backend: the PyUSB backend for usb: URLs (a name transports.usb resolves).
    usb_backend: str | None = None


def choose_camera(selection: Selection) -> CameraChoice:
    config = selection.config
    url: str | None
    usb_backend = selection.usb_backend or config.responder.usb_backend
    if selection.camera:
        url, source = selection.camera, "--camera"
    elif os.environ.get(CAMERA_ENV):
        url, source = os.environ[CAMERA_ENV], CAMERA_ENV
    elif (url := config.responder.camera_url()) is not None:
        source = f"config file {config.path}"
    elif usb_backend:
        # Discovery searches the default backend: the camera behind a named one is "usb:".
        url = "usb:"
        source = "--usb-backend" if selection.usb_backend else f"config file {config.path}"
    else:
        url, source = _the_only_camera(selection.timeout_s)
    options: dict[str, Any] = {}
    if usb_backend and url.partition(":")[0].lower() in ("usb", "canon-usb"):
        options["backend"] = usb_backend  # resolved (and refused, exit 104) by connect()
    if url.partition(":")[0].lower() in _NETWORK_SCHEMES:
        guid = selection.guid or config.initiator.guid
        name = selection.name or config.initiator.friendly_name
        if guid:
            options["guid"] = guid
        if name:
            options["friendly_name"] = name
        if selection.timeout_s is not None:
            options["connect_timeout_s"] = selection.timeout_s
        pairing_s = selection.pairing_timeout_s or config.initiator.pairing_timeout_s
        if pairing_s is not None:
            options["pairing_timeout_s"] = pairing_s
    vendor = selection.vendor or config.responder.vendor
    return CameraChoice(
        url=url, source=source, options=options, extensions=(vendor,) if vendor else ()
    )


def _the_only_camera(timeout_s: float | None) -> tuple[str, str]:
    found = list(discover_cameras(timeout_s if timeout_s is not None else DISCOVERY_TIMEOUT_S))
    if not found:
        raise CliError(
            "no camera found (searched USB and the network)",
            ExitCode.CANNOT_CONNECT,
            hint="connect and switch on a camera, or name one with --camera URL "
            "(ptpip:HOST for Wi-Fi, virtual: for the built-in virtual camera)",
        )
    if len(found) > 1:
        listing = "; ".join(f"{camera.url} ({camera.name})" for camera in found)
        raise CliError(
            f"{len(found)} cameras found: {listing}",
            ExitCode.INVALID_ARGUMENTS,
            hint="choose one with --camera URL or PTPKIT_CAMERA",
        )
    return found[0].url, f"discovery ({found[0].source})"


def open_camera(
    choice: CameraChoice, *, timeout_s: float | None, note: Callable[[str], None] | None = None
) -> Camera:
    """``ptpkit.connect`` with the choice, failures mapped to exit codes 104 and 105. ``note``
    tells the user (stderr) that a PTP/IP camera is waiting for them to accept this computer."""
    from ptpkit.client.connect import connect  # noqa: PLC0415  (transports load on use)

    kwargs: dict[str, Any] = dict(choice.options)
    if timeout_s is not None:
        kwargs["timeout_s"] = timeout_s
    if note is not None and choice.url.partition(":")[0].lower() in _NETWORK_SCHEMES:

        def waiting(pairing_timeout_s: float) -> None:
            note(
                "waiting for the camera to accept this computer... (confirm on the camera; "
                f"giving up after {pairing_timeout_s:g} s, see --pairing-timeout)"
            )

        kwargs["on_pairing_wait"] = waiting
    try:
        return connect(choice.url, vendors=choice.extensions, **kwargs)
    except UsageError as exc:
        # Raised before anything goes on the wire: a URL or option that makes no client.
        raise CliError(
            f"cannot create a client for {choice.url} (from {choice.source}): {exc}",
            ExitCode.CANNOT_CREATE_CLIENT,
        ) from None
    except ResponseError:
        raise  # the camera answered (OpenSession refused...): exit 106 with its code
    except PTPError as exc:
        raise CliError(
            f"cannot connect to {choice.url} (from {choice.source}): {exc}",
            ExitCode.CANNOT_CONNECT,
            hint=_connect_hint(choice.url),
        ) from None
    except OSError as exc:
        # A transport that failed below the error tree (should not happen; say so plainly).
        raise CliError(
            f"cannot connect to {choice.url}: {exc.strerror or exc}", ExitCode.CANNOT_CONNECT
        ) from None


def _connect_hint(url: str) -> str:
    scheme = url.partition(":")[0].lower()
    if scheme == "ptpip":
        return (
            "check the address, that the camera's Wi-Fi is on and this computer is on its network"
        )
    if scheme == "fuji":
        return (
            "check the address, that the camera is in its 'connect to computer' mode and this "
            "computer is on its network"
        )
    if scheme == "usb":
        return "check the cable, that the camera is on, and that no other program holds it"
    return "check the camera URL"
