"""Multi-camera rigs (issue 18): :class:`Rig` drives many cameras as one, through a backend
(:mod:`ptpkit.rig.backend`): this computer's (:mod:`ptpkit.rig.local`) or Ray's.

Names are loaded on first use (``import ptpkit`` stays light).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Rig": "ptpkit.rig.rig",
    "Shot": "ptpkit.rig.rig",
    "Skew": "ptpkit.rig.rig",
    "skew_of": "ptpkit.rig.rig",
    "CameraSpec": "ptpkit.rig.spec",
    "RigSpec": "ptpkit.rig.spec",
    "RigFileError": "ptpkit.rig.spec",
    "load_rig_file": "ptpkit.rig.spec",
    "rig_from_urls": "ptpkit.rig.spec",
    "rig_from_discovery": "ptpkit.rig.spec",
    "RigBackend": "ptpkit.rig.backend",
    "CameraState": "ptpkit.rig.backend",
    "CameraStatus": "ptpkit.rig.backend",
    "CameraOutcome": "ptpkit.rig.backend",
    "SetOutcome": "ptpkit.rig.backend",
    "ReleaseOutcome": "ptpkit.rig.backend",
    "DownloadOutcome": "ptpkit.rig.backend",
    "FrameOutcome": "ptpkit.rig.backend",
    "ShotFile": "ptpkit.rig.backend",
    "LocalBackend": "ptpkit.rig.local",
    "layout_for": "ptpkit.rig.layouts",
}

__all__ = [
    "CameraOutcome",
    "CameraSpec",
    "CameraState",
    "CameraStatus",
    "DownloadOutcome",
    "FrameOutcome",
    "LocalBackend",
    "ReleaseOutcome",
    "Rig",
    "RigBackend",
    "RigFileError",
    "RigSpec",
    "SetOutcome",
    "Shot",
    "ShotFile",
    "Skew",
    "layout_for",
    "load_rig_file",
    "rig_from_discovery",
    "rig_from_urls",
    "skew_of",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from ptpkit.rig.backend import (
        CameraOutcome,
        CameraState,
        CameraStatus,
        DownloadOutcome,
        FrameOutcome,
        ReleaseOutcome,
        RigBackend,
        SetOutcome,
        ShotFile,
    )
    from ptpkit.rig.layouts import layout_for
    from ptpkit.rig.local import LocalBackend
    from ptpkit.rig.rig import Rig, Shot, Skew, skew_of
    from ptpkit.rig.spec import (
        CameraSpec,
        RigFileError,
        RigSpec,
        load_rig_file,
        rig_from_discovery,
        rig_from_urls,
    )
