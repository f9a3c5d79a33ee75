"""Vendor extensions: registered objects with safe default hooks, chosen from DeviceInfo.

An extension contributes code names (a :class:`~ptpkit.codes.CodeSet`), friendly properties,
and hooks the Camera calls at open and close. Several can be active at once (MTP and a vendor).
Third parties register theirs in code (:func:`register`) or through the ``ptpkit.extensions``
entry point group, whose objects are Extension instances or classes.

This is the wsproto ``extensions.py`` pattern, not sequoia-ptpy's runtime mixin classes: the
Camera holds a list of extension objects and asks each one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from ptpkit.codes import CodeSet
from ptpkit.codes.properties import PropertySpec
from ptpkit.core.datasets import DeviceInfo
from ptpkit.errors import UsageError

if TYPE_CHECKING:
    from ptpkit.transports.base import Transport

log = logging.getLogger("ptpkit.ext")

ENTRY_POINT_GROUP = "ptpkit.extensions"


class CameraView(Protocol):
    """What an extension's hooks may use of the camera they are given.

    :class:`ptpkit.client.camera.Camera` is one. Declared here, below the client, so that ext/
    never imports client/ (the layering contract in pyproject.toml forbids it).
    """

    @property
    def url(self) -> str: ...
    @property
    def transport(self) -> Transport: ...
    @property
    def transactions_run(self) -> int: ...

    def transaction(self, code: int, params: Sequence[int] = ..., /) -> object: ...


class Extension:
    """Base class: every hook does nothing, so an extension overrides only what it needs."""

    #: Unique short name ("mtp", "canon"...).
    name: str = "extension"
    #: Code names this extension brings to the camera's vocabulary.
    code_sets: tuple[CodeSet, ...] = ()
    #: Friendly property specs (names, value formatting) for vendor properties.
    properties: tuple[PropertySpec, ...] = ()

    def matches(self, info: DeviceInfo) -> bool:
        """Whether this extension applies to the device that sent ``info``."""
        return False

    def after_open(self, camera: CameraView) -> None:
        """Called once the session is open (vendor set-up, e.g. a remote mode)."""

    def before_close(self, camera: CameraView) -> None:
        """Called before the session is closed."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


_registry: dict[str, Extension] = {}
_lock = threading.Lock()
_entry_points_loaded = False


def register(extension: Extension, *, replace: bool = False) -> None:
    """Make ``extension`` available to every Camera opened from now on."""
    with _lock:
        if extension.name in _registry and not replace:
            raise ValueError(f"an extension named {extension.name!r} is already registered")
        _registry[extension.name] = extension


def unregister(name: str) -> None:
    with _lock:
        _registry.pop(name, None)


def registered() -> list[Extension]:
    _load_entry_points()
    with _lock:
        return list(_registry.values())


def extensions_for(
    info: DeviceInfo, extra: Iterable[Extension] = (), *, forced: Iterable[str] = ()
) -> list[Extension]:
    """The extensions that apply to a device, in registration order, then ``extra``.

    ``forced`` names registered extensions used whatever ``matches()`` says: a camera that hides
    its vendor (or a virtual one that plays another) can still be driven with that vendor's codes.
    """
    wanted = check_extension_names(forced)
    available = registered()
    chosen = []
    for extension in [*available, *extra]:
        try:
            if extension.name in wanted or extension.matches(info):
                chosen.append(extension)
        except Exception:  # a broken third-party extension must not break the connection
            log.exception("extension %r failed in matches(); ignoring it", extension.name)
    return chosen


def check_extension_names(names: Iterable[str]) -> set[str]:
    """``names`` as a set, or UsageError naming the ones no registered extension has."""
    wanted = {names} if isinstance(names, str) else set(names)
    known = {extension.name for extension in registered()}
    if wanted - known:
        raise UsageError(
            f"no extension named {', '.join(sorted(wanted - known))}; "
            f"known: {', '.join(sorted(known))}"
        )
    return wanted


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    # importlib.metadata (with the email package it parses metadata with) costs ~15 ms to
    # import: loaded when a camera's extensions are chosen, not with the package.
    from importlib.metadata import entry_points  # noqa: PLC0415

    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
            extension = loaded() if isinstance(loaded, type) else loaded
            if not isinstance(extension, Extension):
                raise TypeError(f"{point.value} is not a ptpkit Extension")
            register(extension)
        except Exception:
            log.exception("could not load ptpkit extension %r", point.name)
