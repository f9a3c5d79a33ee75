"""What a rig is: its cameras (by name, URL or USB serial number, index, position, settings).

A rig file is TOML (read with :mod:`tomllib`, or ``tomli`` before Python 3.11)::

    [rig]
    name = "booth"
    layout = "meshroom"            # optional: the download layout (ptpkit.rig.layouts)

    [rig.settings]                 # set on every camera when the rig opens
    iso = "100"

    [[camera]]
    name = "front"
    serial = "0123456789"          # a USB camera by serial number: usb:serial=0123456789
    index = 0                      # optional: the camera's index (default: its place in the file)
    position = [0.0, 1.5, 2.0]     # optional: where it stands (metres)
    host = "node-a"                # optional: the Ray node that owns it (ptpkit.rig.ray_backend)

    [camera.settings]              # this camera's own settings, over the rig's
    shutter = "1/125"

    [[camera]]
    name = "left"
    url = "ptpip:192.168.1.31"
    serial = "ABC123"              # with a URL: the serial number the camera must report

A camera is identified by its serial number (DeviceInfo's SerialNumber) wherever one is given: a
USB camera is found by it (so the rig survives USB re-enumeration), and a camera reached by URL
that reports another serial number is refused rather than taken for the wrong one.

Everything here is a frozen dataclass of plain values, so a spec pickles (a Ray actor takes it).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ptpkit.errors import UsageError

if TYPE_CHECKING:
    from ptpkit.discovery.result import DiscoveredCamera

__all__ = [
    "CameraSpec",
    "RigFileError",
    "RigSpec",
    "load_rig_file",
    "parse_rig_toml",
    "rig_from_discovery",
    "rig_from_urls",
]

#: A camera's name goes into file names (layouts): letters, digits, ``._-`` only.
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_CAMERA_KEYS: Final = frozenset({"name", "url", "serial", "index", "position", "host", "settings"})
_RIG_KEYS: Final = frozenset({"name", "layout", "settings"})


class RigFileError(UsageError):
    """A rig file (or list of cameras) that cannot be a rig: the message is one line naming the
    file and what is wrong."""


@dataclass(frozen=True, kw_only=True)
class CameraSpec:
    """One camera of a rig."""

    #: Unique in the rig; used in file names (``shot_0001/<name>.JPG``).
    name: str
    #: A camera URL (``ptpip:HOST``, ``virtual:...``, ``usb:...``), or None with :attr:`serial`.
    url: str | None = None
    #: The serial number the camera reports in its DeviceInfo (None: not checked).
    serial: str | None = None
    #: Its index in the rig (Meshroom's ``rig/<index>/`` folder).
    index: int = 0
    #: Where it stands (x, y, z), for the user's own use; ptpkit only carries it.
    position: tuple[float, ...] | None = None
    #: Property name -> value as people type it ("100", "1/125"), set when the rig opens.
    settings: Mapping[str, str] = field(default_factory=dict)
    #: The Ray node (label) that owns the camera; None: any / the local computer.
    host: str | None = None

    @property
    def target(self) -> str:
        """The URL to open: :attr:`url`, else the USB camera with :attr:`serial`."""
        if self.url is not None:
            return self.url
        if self.serial is not None:
            return f"usb:serial={self.serial}"
        raise UsageError(f"camera {self.name!r} has neither a URL nor a serial number")

    def describe(self) -> str:
        where = self.url or f"usb serial {self.serial}"
        return f"{self.name} (#{self.index}, {where})"


@dataclass(frozen=True, kw_only=True)
class RigSpec:
    """A rig: its cameras in index order, and the settings every camera gets."""

    cameras: tuple[CameraSpec, ...]
    name: str = "rig"
    #: The download layout the rig file asks for (None: the caller's choice).
    layout: str | None = None
    #: Settings for every camera (a camera's own settings win).
    settings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_unique(self.cameras, source="rig")

    def camera(self, name: str) -> CameraSpec:
        for spec in self.cameras:
            if spec.name == name:
                return spec
        raise UsageError(f"the rig has no camera {name!r}")

    def settings_for(self, spec: CameraSpec) -> dict[str, str]:
        """The rig's settings with the camera's own over them."""
        return {**self.settings, **spec.settings}


def _check_unique(cameras: Sequence[CameraSpec], *, source: str) -> None:
    seen_names: set[str] = set()
    seen_indices: set[int] = set()
    seen_serials: set[str] = set()
    for spec in cameras:
        if spec.name in seen_names:
            raise RigFileError(f"{source}: two cameras are named {spec.name!r}")
        if spec.index in seen_indices:
            raise RigFileError(f"{source}: two cameras have index {spec.index}")
        if spec.serial is not None and spec.serial in seen_serials:
            raise RigFileError(f"{source}: two cameras have serial number {spec.serial!r}")
        seen_names.add(spec.name)
        seen_indices.add(spec.index)
        if spec.serial is not None:
            seen_serials.add(spec.serial)


def _toml() -> Any:
    """The TOML reader: the standard library's from Python 3.11, its backport before."""
    if sys.version_info >= (3, 11):
        import tomllib  # noqa: PLC0415

        return tomllib
    import tomli  # noqa: PLC0415  # pragma: no cover (Python 3.10)

    return tomli  # pragma: no cover


def load_rig_file(path: str | Path) -> RigSpec:
    """The rig a TOML file describes; :class:`RigFileError` (one line: the file and what is
    wrong) for a file that cannot be read or is not a rig."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise RigFileError(f"{path}: cannot read the rig file: {reason}") from None
    return parse_rig_toml(text, source=str(path))


def parse_rig_toml(text: str, *, source: str = "rig file") -> RigSpec:
    """The rig in TOML ``text`` (see the module's docstring); ``source`` names it in errors."""
    toml = _toml()
    try:
        document: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        # tomllib's message says the line and column: "Expected '=' ... (at line 3, column 7)".
        raise RigFileError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"rig", "camera"})
    if unknown:
        raise RigFileError(
            f"{source}: unknown table {unknown[0]!r} (a rig file has [rig] and [[camera]])"
        )
    rig = document.get("rig", {})
    if not isinstance(rig, dict):
        raise RigFileError(f"{source}: [rig] must be a table")
    extra = sorted(set(rig) - _RIG_KEYS)
    if extra:
        raise RigFileError(f"{source}: [rig] has an unknown key {extra[0]!r}")
    cameras_raw = document.get("camera")
    if not isinstance(cameras_raw, list) or not cameras_raw:
        raise RigFileError(f"{source}: no cameras (add [[camera]] tables)")
    cameras = tuple(
        _camera_from_toml(entry, place, source=source) for place, entry in enumerate(cameras_raw)
    )
    _check_unique(cameras, source=source)
    name = rig.get("name", "rig")
    layout = rig.get("layout")
    if not isinstance(name, str) or not name:
        raise RigFileError(f"{source}: [rig] name must be a non-empty string")
    if layout is not None and not isinstance(layout, str):
        raise RigFileError(f"{source}: [rig] layout must be a string")
    settings = _settings(rig.get("settings", {}), where="[rig.settings]", source=source)
    return RigSpec(cameras=cameras, name=name, layout=layout, settings=settings)


def _camera_from_toml(entry: Any, place: int, *, source: str) -> CameraSpec:
    where = f"camera {place + 1}"
    if not isinstance(entry, dict):
        raise RigFileError(f"{source}: {where} must be a table")
    extra = sorted(set(entry) - _CAMERA_KEYS)
    if extra:
        raise RigFileError(f"{source}: {where} has an unknown key {extra[0]!r}")
    name = entry.get("name", f"cam{place:02d}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RigFileError(
            f"{source}: {where}: name {name!r} must be 1-64 letters, digits, '.', '_' or '-'"
        )
    where = f"camera {name!r}"
    url = entry.get("url")
    serial = entry.get("serial")
    if url is not None and (not isinstance(url, str) or ":" not in url):
        raise RigFileError(f"{source}: {where}: url must be a camera URL such as ptpip:HOST")
    if serial is not None and (not isinstance(serial, str) or not serial.strip()):
        raise RigFileError(f"{source}: {where}: serial must be a non-empty string")
    if url is None and serial is None:
        raise RigFileError(f"{source}: {where} needs a url or a serial (a USB camera)")
    index = entry.get("index", place)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise RigFileError(f"{source}: {where}: index must be a whole number >= 0")
    position = entry.get("position")
    if position is not None:
        if (
            not isinstance(position, list)
            or not 1 <= len(position) <= 3
            or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in position
            )
        ):
            raise RigFileError(f"{source}: {where}: position must be a list of 1-3 numbers")
        position = tuple(float(v) for v in position)
    host = entry.get("host")
    if host is not None and (not isinstance(host, str) or not host):
        raise RigFileError(f"{source}: {where}: host must be a non-empty string")
    settings = _settings(entry.get("settings", {}), where=f"{where} settings", source=source)
    return CameraSpec(
        name=name,
        url=url,
        serial=serial.strip() if serial is not None else None,
        index=index,
        position=position,
        settings=settings,
        host=host,
    )


def _settings(raw: Any, *, where: str, source: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise RigFileError(f"{source}: {where} must be a table")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise RigFileError(f"{source}: {where}: {key} must be a string or a number")
        out[str(key)] = str(value)
    return out


def rig_from_urls(
    urls: Iterable[str], *, serials: Mapping[str, str] | None = None, name: str = "rig"
) -> RigSpec:
    """A rig of the cameras at ``urls`` (``--camera URL`` repeated), named cam00, cam01, ...
    in that order; ``serials``: URL -> the serial number it must report."""
    cameras = []
    for index, url in enumerate(urls):
        if ":" not in url:
            raise RigFileError(f"{url!r} is not a camera URL (try ptpip:HOST, usb:serial=S)")
        cameras.append(
            CameraSpec(
                name=f"cam{index:02d}",
                url=url,
                serial=(serials or {}).get(url),
                index=index,
            )
        )
    if not cameras:
        raise RigFileError("a rig needs at least one camera")
    _check_unique(cameras, source="cameras")
    return RigSpec(cameras=tuple(cameras), name=name)


def rig_from_discovery(found: Iterable[DiscoveredCamera], *, name: str = "rig") -> RigSpec:
    """A rig of the cameras discovery found (``ptpkit rig`` without --rig or --camera), each
    identified as stably as discovery allows.

    A USB camera with a serial number is ``usb:serial=...`` (``canon-usb:serial=...``): found
    wherever it is plugged next, not at the bus address discovery saw (re-plugging, a hub or a
    reboot renumbers those, and another camera may then be at that address). A USB camera without
    a readable serial number, or one whose serial number another camera on the bus shares, keeps
    its bus address; a network camera its URL (PTP/IP reaches a camera by address only).

    The cameras are named cam00, cam01, ... in the order of their serial numbers, then URLs,
    not in the order discovery heard them (network answers race, USB enumeration follows the
    ports): every ``ptpkit rig`` command discovers again, and a camera must keep its name and
    index (file names, Meshroom's ``rig/<index>/``) from ``rig capture`` to ``rig download``."""
    cameras = list(found)
    usb_serials = [c.serial for c in cameras if c.source == "usb" and c.serial is not None]
    urls: list[tuple[tuple[bool, str, str], str]] = []
    for camera in cameras:
        url = camera.url
        if camera.source == "usb" and camera.serial and usb_serials.count(camera.serial) == 1:
            scheme = url.partition(":")[0]  # usb, or canon-usb (a PowerShot's own mode)
            url = f"{scheme}:serial={camera.serial}"
        urls.append(((camera.serial is None, camera.serial or "", url), url))
    return rig_from_urls([url for _, url in sorted(urls)], name=name)
