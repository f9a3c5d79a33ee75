"""Skew from recorded release times, the deadline kept on a fake clock, and the Rig's shot
schedule (count, interval) over a backend that records what it is asked."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ptpkit.errors import UsageError
from ptpkit.rig.backend import (
    CameraOutcome,
    CameraState,
    CameraStatus,
    DownloadOutcome,
    FrameOutcome,
    ReleaseOutcome,
    RigBackend,
    RigProgress,
    SetOutcome,
    ShotFile,
)
from ptpkit.rig.local import SPIN_S, LocalBackend
from ptpkit.rig.rig import Rig, skew_of
from ptpkit.rig.spec import CameraSpec

MS = 1_000_000


def test_skew_is_each_release_from_the_earliest() -> None:
    base = 1_700_000_000 * 10**9
    offsets_ms = [0, 1, 1, 2, 3, 3, 4, 5, 6, 9]
    skew = skew_of([base + ms * MS for ms in reversed(offsets_ms)], deadline_ns=base - MS)
    assert skew is not None
    assert skew.count == 10
    assert skew.median_ns == 3 * MS  # (3 + 3) / 2
    assert skew.p95_ns == 9 * MS  # nearest rank: the 10th of 10
    assert skew.max_ns == 9 * MS
    assert skew.late_max_ns == 10 * MS  # the last went 10 ms after the deadline
    assert skew.as_ms()["p95_ms"] == 9.0
    odd = skew_of([base, base + 2 * MS, base + 7 * MS])
    assert odd is not None
    assert (odd.median_ns, odd.p95_ns, odd.max_ns, odd.late_max_ns) == (
        2 * MS,
        7 * MS,
        7 * MS,
        None,
    )
    hundred = skew_of([base + i for i in range(100)])
    assert hundred is not None
    assert hundred.p95_ns == 94  # the 95th of 100
    assert skew_of([]) is None


class _FakeWall:
    """A wall clock that moves only when slept on or read (each read costs 100 µs)."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns
        self.sleeps: list[float] = []

    def read(self) -> int:
        self.now_ns += 100_000
        return self.now_ns

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_ns += round(seconds * 1e9)


def test_the_deadline_is_slept_towards_then_spun_on() -> None:
    wall = _FakeWall(10**18)
    backend = LocalBackend(wall_ns=wall.read, sleep=wall.sleep)
    deadline = wall.now_ns + 500 * MS
    backend._wait_until(deadline)
    # One sleep to SPIN_S before the deadline, then reads until it passes, no sleep after.
    assert len(wall.sleeps) == 1
    assert wall.sleeps[0] == pytest.approx(0.5 - SPIN_S - 0.0001, abs=1e-6)
    assert deadline <= wall.now_ns < deadline + 200_000
    wall.sleeps.clear()
    backend._wait_until(wall.now_ns - 5 * MS)  # already past: no wait at all
    assert wall.sleeps == []


class _Recorder:
    """A RigBackend that records the deadlines it is given and releases each camera at a
    given lateness (ns), as if it had."""

    def __init__(self, wall: _FakeWall, late_ns: Sequence[int], *, busy_ns: int = 0) -> None:
        self.wall = wall
        self.late_ns = late_ns
        self.busy_ns = busy_ns
        self.deadlines: list[int] = []
        self.prepared = 0

    def open(self, cameras: Sequence[CameraSpec]) -> list[CameraStatus]:
        self.cameras = list(cameras)
        return self.status()

    def close(self) -> None:
        pass

    def status(self) -> list[CameraStatus]:
        return [
            CameraStatus(camera=c.name, index=c.index, ok=True, state=CameraState.CONNECTED)
            for c in self.cameras
        ]

    def set_property(self, name: str, value: str) -> list[SetOutcome]:
        return []

    def prepare(self) -> list[CameraOutcome]:
        self.prepared += 1
        return [CameraOutcome(camera=c.name, index=c.index, ok=True) for c in self.cameras]

    def release_at(self, deadline_wall_s: float, shot: int) -> list[ReleaseOutcome]:
        deadline_ns = round(deadline_wall_s * 1e9)
        self.deadlines.append(deadline_ns)
        self.wall.now_ns = max(self.wall.now_ns, deadline_ns) + self.busy_ns
        return [
            ReleaseOutcome(
                camera=c.name,
                index=c.index,
                ok=late is not None,
                error=None if late is not None else "died",
                shot=shot,
                deadline_ns=deadline_ns,
                released_ns=None if late is None else deadline_ns + late,
            )
            for c, late in zip(self.cameras, self.late_ns, strict=True)
        ]

    def download(
        self,
        files: Sequence[ShotFile],
        layout: str,
        destination: str,
        *,
        progress: RigProgress | None = None,
    ) -> list[DownloadOutcome]:
        return []

    def live_frames(self) -> list[FrameOutcome]:
        return []


def test_the_rig_spaces_its_shots_by_the_interval_and_measures_each() -> None:
    wall = _FakeWall(10**18)
    late = [0, 2 * MS, None, 1 * MS]  # the third camera never releases
    backend = _Recorder(wall, late, busy_ns=300 * MS)
    assert isinstance(backend, RigBackend)
    rig = Rig(
        ["virtual:", "virtual:", "virtual:", "virtual:"],
        backend=backend,
        lead_s=0.1,
        wall_ns=wall.read,
        sleep=wall.sleep,
    )
    rig.open()
    start = wall.now_ns
    shots = rig.capture(3, interval_s=1.0)
    assert backend.prepared == 1
    assert [s.shot for s in shots] == [1, 2, 3]
    first = backend.deadlines[0]
    assert 100 * MS <= first - start < 101 * MS
    # Deadline to deadline: the interval, as the cameras were ready in time.
    assert [d - first for d in backend.deadlines] == [0, 1000 * MS, 2000 * MS]
    for shot in shots:
        assert shot.delivered == ["cam00", "cam01", "cam03"]
        assert [r.camera for r in shot.failed] == ["cam02"]
        assert shot.skew is not None
        assert (shot.skew.count, shot.skew.median_ns, shot.skew.max_ns) == (3, MS, 2 * MS)
    # Shots taking longer than the interval: the next follows a lead after the cameras are ready.
    slow = _Recorder(wall, [0, 0, 0, 0], busy_ns=3000 * MS)
    rig = Rig(
        ["a:", "b:", "c:", "d:"], backend=slow, lead_s=0.1, wall_ns=wall.read, sleep=wall.sleep
    )
    rig.open()
    rig.capture(2, interval_s=1.0, prepare=False)
    assert slow.prepared == 0
    gap = slow.deadlines[1] - slow.deadlines[0]
    assert 3100 * MS <= gap < 3101 * MS
    with pytest.raises(UsageError):
        rig.capture(0)
    with pytest.raises(UsageError):
        rig.capture(1, interval_s=-1)
