"""The contract between a rig (:class:`ptpkit.rig.Rig`) and what drives its cameras.

A backend is what one computer does for the cameras it owns: :class:`ptpkit.rig.local.LocalBackend`
drives cameras attached to this computer; the Ray backend (``ptpkit.rig.ray_backend``) runs one
LocalBackend per camera host inside a Ray actor and speaks the same protocol. So everything that
goes in or out is a frozen dataclass of plain values (it pickles), and no method raises for one
camera's failure: each outcome names its camera and says ``ok`` or what went wrong (``error``).

Times are wall-clock nanoseconds (:func:`time.time_ns`), the clock that hosts keep in step with
NTP or PTP, so releases on several hosts are comparable; ``clock_offset_ns`` is what the backend
knows of its clock's offset from the controller's (0 on the controller itself).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ptpkit.rig.spec import CameraSpec

__all__ = [
    "CameraOutcome",
    "CameraState",
    "CameraStatus",
    "DownloadOutcome",
    "FrameOutcome",
    "ReleaseOutcome",
    "RigBackend",
    "RigProgress",
    "SetOutcome",
    "ShotFile",
]


class CameraState(str, enum.Enum):
    """Where a camera of the rig stands."""

    #: Open, its session ready.
    CONNECTED = "connected"
    #: Open, but answered busy (or is running another operation of the rig).
    BUSY = "busy"
    #: Could not be opened, or failed since (``error`` says why); the rest of the rig goes on.
    FAILED = "failed"
    #: Closed by the rig.
    CLOSED = "closed"


@dataclass(frozen=True, kw_only=True)
class CameraOutcome:
    """What one operation did on one camera."""

    #: The camera's name in the rig (:attr:`CameraSpec.name`) and its index.
    camera: str
    index: int
    ok: bool
    #: Why it failed (one line), or None.
    error: str | None = None
    #: What was done, for people ("autofocus (DoAf)", "no half press on this camera").
    detail: str | None = None
    #: The host that drives the camera (its hostname; the Ray node for the Ray backend).
    host: str | None = None


@dataclass(frozen=True, kw_only=True)
class CameraStatus(CameraOutcome):
    """A camera's state: open or not, and what it says it is."""

    state: CameraState = CameraState.FAILED
    url: str | None = None
    #: DeviceInfo's, once open.
    model: str | None = None
    serial: str | None = None
    manufacturer: str | None = None


@dataclass(frozen=True, kw_only=True)
class SetOutcome(CameraOutcome):
    """A property set on one camera and read back (``ok``: the camera holds what was asked)."""

    prop: str = ""
    requested: str = ""
    #: The value read back after setting, as text (None when it could not be read).
    value: str | None = None
    #: The value read back is the one requested (False: the camera took another, or refused).
    verified: bool = False


@dataclass(frozen=True, kw_only=True)
class ShotFile:
    """One file a camera made for a shot, still on the camera."""

    camera: str
    index: int
    shot: int
    #: The object's handle in the session that captured it; 0: find it by :attr:`path` (a
    #: handle means nothing in another session).
    handle: int
    #: The camera's name for it (untrusted: layouts make it safe) and its path on the camera.
    name: str
    path: str
    size: int
    #: The host whose camera holds it.
    host: str | None = None
    #: Held in the camera's memory, not on a card (a Nikon's SDRAM capture): only the session
    #: that captured it can fetch it, so download it in the same run (``capture --download``).
    in_memory: bool = False


@dataclass(frozen=True, kw_only=True)
class ReleaseOutcome(CameraOutcome):
    """One camera's release at a common deadline."""

    shot: int = 0
    #: The common deadline (wall clock, ns).
    deadline_ns: int = 0
    #: When this camera's capture request went out (wall clock, ns: just after an armed
    #: capture's send, else just before the capture began); None when it never went.
    released_ns: int | None = None
    #: When the camera answered that the capture was done (wall clock, ns).
    completed_ns: int | None = None
    #: The files the capture made.
    files: tuple[ShotFile, ...] = ()
    #: The backend's clock offset from the controller's, ns (add it to compare across hosts),
    #: and how it knows ("local", "ntp", ...).
    clock_offset_ns: int = 0
    clock_source: str = "local"
    #: The real-time priority (Linux SCHED_FIFO) the requests were sent at; None: the normal
    #: priority (real-time off, refused by the system, or the release never reached its sends).
    release_priority: int | None = None

    @property
    def late_ns(self) -> int | None:
        """How long after the deadline the request went (negative: before)."""
        if self.released_ns is None:
            return None
        return self.released_ns + self.clock_offset_ns - self.deadline_ns


@dataclass(frozen=True, kw_only=True)
class DownloadOutcome(CameraOutcome):
    """One file downloaded (or not) from one camera."""

    shot: int = 0
    #: The file on the camera.
    source: str = ""
    #: Where it is now: a path on :attr:`host`'s disk (None when the download failed).
    path: str | None = None
    size: int = 0
    #: True when the file was already complete there (a download run again).
    skipped: bool = False


@dataclass(frozen=True, kw_only=True)
class FrameOutcome(CameraOutcome):
    """One live-view frame from one camera (a JPEG, or empty when it failed)."""

    jpeg: bytes = b""
    width: int | None = None
    height: int | None = None


#: Progress of a rig download: (camera name, file's camera path, bytes done, bytes in all).
RigProgress = Callable[[str, str, int, int], None]


@runtime_checkable
class RigBackend(Protocol):
    """What one host does for the cameras it owns. No method raises for a camera's failure."""

    def open(self, cameras: Sequence[CameraSpec]) -> list[CameraStatus]:
        """Open every camera in parallel (each checked against its serial number, its settings
        applied); one status per camera, in the order given."""
        ...

    def close(self) -> None:
        """Close every camera (idempotent)."""
        ...

    def status(self) -> list[CameraStatus]:
        """Every camera's state now."""
        ...

    def set_property(self, name: str, value: str) -> list[SetOutcome]:
        """Set ``name`` to ``value`` on every open camera and read it back."""
        ...

    def prepare(self) -> list[CameraOutcome]:
        """Ready every open camera to release at once: half press / focus lock where the
        camera's vendor has an operation for it."""
        ...

    def release_at(self, deadline_wall_s: float, shot: int) -> list[ReleaseOutcome]:
        """Release every open camera at the wall-clock deadline (``time.time()`` seconds) and
        wait for its files; returns when every camera has answered or failed."""
        ...

    def download(
        self,
        files: Sequence[ShotFile],
        layout: str,
        destination: str,
        *,
        progress: RigProgress | None = None,
    ) -> list[DownloadOutcome]:
        """Download the files of this backend's cameras in parallel to ``destination`` (a
        folder on this host) arranged by ``layout`` (:mod:`ptpkit.rig.layouts`): through each
        Camera's download (a .part file renamed when complete, resumed, never overwriting a
        file ptpkit did not make). ``progress`` may be ignored by a remote backend."""
        ...

    def live_frames(self) -> list[FrameOutcome]:
        """One live-view frame from every open camera."""
        ...
