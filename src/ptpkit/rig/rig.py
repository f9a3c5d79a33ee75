"""``ptpkit.Rig``: many cameras as one.

::

    with ptpkit.Rig(["ptpip:10.0.0.11", "ptpip:10.0.0.12"]) as rig:   # or Rig("booth.toml")
        print(rig.status())
        rig.set("iso", "100")                       # set and read back on every camera
        shots = rig.capture(count=3, interval_s=2)  # released together, skew measured
        rig.download(shots, "out/", layout="meshroom")

The rig drives its cameras through a backend (:class:`ptpkit.rig.backend.RigBackend`):
``cluster=None`` uses :class:`~ptpkit.rig.local.LocalBackend` (this computer); any other value
(``"ray://HOST:PORT"``, ``"auto"``) the Ray backend, loaded only then from
``ptpkit.rig.ray_backend`` (its ``backend_for(cluster, spec)`` returns a RigBackend that runs
a LocalBackend on each camera host). The rig's API is the same for both.

No call raises for one camera's failure: every result says which cameras delivered.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ptpkit.errors import UsageError
from ptpkit.rig.backend import (
    CameraOutcome,
    CameraStatus,
    DownloadOutcome,
    FrameOutcome,
    ReleaseOutcome,
    RigBackend,
    RigProgress,
    SetOutcome,
    ShotFile,
)
from ptpkit.rig.local import DEFAULT_RELEASE_PRIORITY, LocalBackend, check_release_priority
from ptpkit.rig.spec import CameraSpec, RigSpec, load_rig_file, rig_from_urls

__all__ = ["DEFAULT_LEAD_S", "Rig", "Shot", "Skew", "skew_of"]

#: How far ahead of "now" the release deadline is set: time for every camera's thread to park
#: at the gate (and, across hosts, for the request to reach every host).
DEFAULT_LEAD_S: Final = 0.1


@dataclass(frozen=True, kw_only=True)
class Skew:
    """How far apart the cameras released: each release's offset from the earliest, ns."""

    count: int
    median_ns: int
    p95_ns: int
    max_ns: int
    #: The latest release's lateness after the common deadline (None without a deadline).
    late_max_ns: int | None = None

    def as_ms(self) -> dict[str, float | int | None]:
        return {
            "cameras": self.count,
            "median_ms": self.median_ns / 1e6,
            "p95_ms": self.p95_ns / 1e6,
            "max_ms": self.max_ns / 1e6,
            "late_max_ms": None if self.late_max_ns is None else self.late_max_ns / 1e6,
        }


def _rank(sorted_values: Sequence[int], fraction: float) -> int:
    """The nearest-rank percentile of sorted values."""
    import math  # noqa: PLC0415

    place = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[place - 1]


def skew_of(times_ns: Iterable[int], *, deadline_ns: int | None = None) -> Skew | None:
    """The skew of release times (ns on one clock): offsets from the earliest; None for none."""
    times = sorted(times_ns)
    if not times:
        return None
    offsets = [t - times[0] for t in times]
    middle = len(offsets) // 2
    median = offsets[middle] if len(offsets) % 2 else (offsets[middle - 1] + offsets[middle]) // 2
    return Skew(
        count=len(offsets),
        median_ns=median,
        p95_ns=_rank(offsets, 0.95),
        max_ns=offsets[-1],
        late_max_ns=None if deadline_ns is None else times[-1] - deadline_ns,
    )


@dataclass(frozen=True, kw_only=True)
class Shot:
    """One synchronised release of the rig."""

    shot: int
    deadline_ns: int
    releases: tuple[ReleaseOutcome, ...]
    #: Over the cameras whose request went out (their clocks' offsets applied).
    skew: Skew | None

    @property
    def delivered(self) -> list[str]:
        """The cameras that made a picture."""
        return [r.camera for r in self.releases if r.ok]

    @property
    def failed(self) -> list[ReleaseOutcome]:
        return [r for r in self.releases if not r.ok]

    @property
    def files(self) -> list[ShotFile]:
        return [f for r in self.releases for f in r.files]


class Rig:
    """A rig of cameras: a :class:`RigSpec`, a rig file's path, or a list of camera URLs (or
    :class:`CameraSpec`). See the module's docstring.

    ``release_priority``: the real-time priority (Linux SCHED_FIFO 1-99) each host's release
    waits for its deadline and sends at, where the system allows it (root, CAP_SYS_NICE or an
    RLIMIT_RTPRIO), else the normal priority; None or 0: the normal priority. Each release's
    outcomes say which it ran at. It goes to the backend the rig makes (a ``backend`` given is
    used as it is)."""

    def __init__(
        self,
        cameras: RigSpec | str | os.PathLike[str] | Sequence[str | CameraSpec],
        *,
        cluster: str | None = None,
        backend: RigBackend | None = None,
        lead_s: float = DEFAULT_LEAD_S,
        wall_ns: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], None] = time.sleep,
        release_priority: int | None = DEFAULT_RELEASE_PRIORITY,
    ) -> None:
        self.spec = _as_spec(cameras)
        release_priority = check_release_priority(release_priority)
        if backend is None:
            if cluster is None:
                backend = LocalBackend(
                    wall_ns=wall_ns, sleep=sleep, release_priority=release_priority
                )
            else:
                # Only a rig on Ray loads Ray (an optional extra: ptpkit[ray]).
                module = importlib.import_module("ptpkit.rig.ray_backend")
                backend = module.backend_for(cluster, self.spec, release_priority=release_priority)
        self.backend: RigBackend = backend
        # A backend may need a longer lead (Ray's: the release must reach every host first).
        self.lead_s = max(lead_s, float(getattr(backend, "min_lead_s", 0.0)))
        self._wall_ns = wall_ns
        self._sleep = sleep
        self._opened: list[CameraStatus] | None = None
        self._next_shot = 1

    # -- life ----------------------------------------------------------------------------------

    def open(self) -> list[CameraStatus]:
        """Open every camera in parallel (checked against its serial number, the rig's and its
        own settings applied); each camera's status."""
        cameras = tuple(
            _with_settings(spec, self.spec.settings_for(spec)) for spec in self.spec.cameras
        )
        self._opened = self.backend.open(cameras)
        return self._opened

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Rig:
        if self._opened is None:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operations ----------------------------------------------------------------------------

    def status(self) -> list[CameraStatus]:
        return self.backend.status()

    def set(self, prop: str, value: str | int) -> list[SetOutcome]:
        """Set a property on every open camera and read it back: ``ok`` False for a camera that
        refused or holds another value."""
        return self.backend.set_property(prop, str(value))

    def prepare(self) -> list[CameraOutcome]:
        """Half press / focus lock where the vendor has it."""
        return self.backend.prepare()

    def capture(
        self,
        count: int = 1,
        *,
        interval_s: float = 0.0,
        prepare: bool = True,
        on_shot: Callable[[Shot], None] | None = None,
    ) -> list[Shot]:
        """``count`` synchronised shots, ``interval_s`` apart (deadline to deadline; a shot
        that takes longer is followed as soon as the cameras are ready). Each camera is
        prepared first (``prepare``), then all release at one deadline :attr:`lead_s` ahead."""
        if count < 1:
            raise UsageError("count must be at least 1")
        if interval_s < 0:
            raise UsageError("interval_s must be 0 or more")
        if prepare:
            self.prepare()
        shots = []
        deadline_ns = self._wall_ns() + round(self.lead_s * 1e9)
        for _ in range(count):
            now_ns = self._wall_ns()
            if deadline_ns < now_ns + round(self.lead_s * 1e9) // 2:
                deadline_ns = now_ns + round(self.lead_s * 1e9)
            number = self._next_shot
            self._next_shot += 1
            releases = tuple(self.backend.release_at(deadline_ns / 1e9, number))
            times = [
                r.released_ns + r.clock_offset_ns for r in releases if r.released_ns is not None
            ]
            shot = Shot(
                shot=number,
                deadline_ns=deadline_ns,
                releases=releases,
                skew=skew_of(times, deadline_ns=deadline_ns),
            )
            shots.append(shot)
            if on_shot is not None:
                on_shot(shot)
            deadline_ns += round(interval_s * 1e9)
        return shots

    def download(
        self,
        shots: Iterable[Shot | ShotFile],
        destination: str | os.PathLike[str],
        *,
        layout: str | None = None,
        progress: RigProgress | None = None,
    ) -> list[DownloadOutcome]:
        """Download the shots' files into ``destination`` arranged by ``layout`` (default: the
        rig file's, else ``shots``): all cameras at once, each through its Camera's download
        (resumable, never overwriting a file ptpkit did not make)."""
        files: list[ShotFile] = []
        for item in shots:
            files.extend(item.files if isinstance(item, Shot) else [item])
        chosen = layout or self.spec.layout or "shots"
        from ptpkit.rig.layouts import layout_for  # noqa: PLC0415

        layout_for(chosen)  # a bad pattern is the caller's error, before anything is read
        return self.backend.download(files, chosen, os.fspath(destination), progress=progress)

    def live_frames(self) -> list[FrameOutcome]:
        return self.backend.live_frames()

    def contact_sheet(self, *, tile_width: int = 480) -> tuple[bytes, list[FrameOutcome]]:
        """A JPEG of every camera's live-view frame in a grid (a failed camera's tile says why),
        and the frames."""
        from ptpkit.rig.sheet import contact_sheet  # noqa: PLC0415

        frames = self.live_frames()
        return contact_sheet(frames, self.spec, tile_width=tile_width), frames


def _with_settings(spec: CameraSpec, settings: dict[str, str]) -> CameraSpec:
    import dataclasses  # noqa: PLC0415

    return dataclasses.replace(spec, settings=settings)


def _as_spec(cameras: RigSpec | str | os.PathLike[str] | Sequence[str | CameraSpec]) -> RigSpec:
    if isinstance(cameras, RigSpec):
        return cameras
    if isinstance(cameras, (str, os.PathLike)):
        text = os.fspath(cameras)
        if text.endswith(".toml") or Path(text).is_file():
            return load_rig_file(text)
        return rig_from_urls([text])
    items = list(cameras)
    if all(isinstance(item, str) for item in items):
        return rig_from_urls([str(item) for item in items])
    specs = []
    for place, item in enumerate(items):
        if isinstance(item, CameraSpec):
            specs.append(item)
        else:
            specs.append(CameraSpec(name=f"cam{place:02d}", url=item, index=place))
    return RigSpec(cameras=tuple(specs))
