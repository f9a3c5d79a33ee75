"""The Ray rig's parts that need no cluster: Cristian's offset, the agent's own work (run here
as a plain object), and Ray staying optional. The cluster itself: test_ray_cluster.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptpkit.errors import ConnectError, UsageError
from ptpkit.rig.local import DEFAULT_RELEASE_PRIORITY
from ptpkit.rig.ray_backend import (
    CHUNK_BYTES,
    ClockOffset,
    HostAgent,
    RayBackend,
    cristian_offset,
    host_resource,
    split_address,
)
from ptpkit.rig.rig import Rig
from ptpkit.rig.spec import CameraSpec

SRC = Path(__file__).resolve().parents[2] / "src"


class _Link:
    """A controller clock and a remote clock ``ahead_ns`` ahead, with a round trip per reading
    (its way out and back given), on one fake timeline."""

    def __init__(self, ahead_ns: int, trips: list[tuple[int, int]]) -> None:
        self.now_ns = 1_000_000_000_000
        self.ahead_ns = ahead_ns
        self.trips = iter(trips)
        self._back_ns = 0

    def wall_ns(self) -> int:
        self.now_ns += self._back_ns  # the answer's way back, once it is on its way
        self._back_ns = 0
        return self.now_ns

    def read_remote(self) -> int:
        out_ns, back_ns = next(self.trips)
        self.now_ns += out_ns
        self._back_ns = back_ns
        return self.now_ns + self.ahead_ns


def test_cristian_takes_the_shortest_round_trip() -> None:
    # Asymmetric trips are wrong by half their asymmetry; the short symmetric one is exact.
    link = _Link(
        ahead_ns=40_000_000,
        trips=[(9_000_000, 1_000_000), (200_000, 200_000), (1_000_000, 7_000_000)],
    )
    offset = cristian_offset(link.read_remote, rounds=3, wall_ns=link.wall_ns)
    assert offset == ClockOffset(offset_ns=-40_000_000, round_trip_ns=400_000, rounds=3)
    assert offset.bound_ns == 200_000
    assert "-40.000 ms" in offset.describe()
    assert "± 0.200 ms" in offset.describe()


def test_cristian_error_is_within_its_bound() -> None:
    link = _Link(ahead_ns=-3_000_000, trips=[(900_000, 100_000), (700_000, 300_000)])
    offset = cristian_offset(link.read_remote, rounds=2, wall_ns=link.wall_ns)
    assert offset.round_trip_ns == 1_000_000
    assert abs(offset.offset_ns - 3_000_000) <= offset.bound_ns
    with pytest.raises(UsageError):
        cristian_offset(link.read_remote, rounds=0)


def test_backend_options_are_checked() -> None:
    with pytest.raises(UsageError, match="files must be one of host, controller, shared"):
        RayBackend("auto", files="everywhere")
    with pytest.raises(UsageError, match="clock_rounds"):
        RayBackend("auto", clock_rounds=0)
    assert host_resource("pi-07") == "ptpkit-host-pi-07"


@pytest.fixture
def agent() -> Iterator[HostAgent]:
    cameras = [
        CameraSpec(name="v0", url="virtual:?serial=V0", index=0, host="h"),
        CameraSpec(name="v1", url="virtual:?serial=V1", index=1, host="h"),
    ]
    made = HostAgent("h", cameras, clock_error_ns=25_000_000)
    yield made
    made.close()


def test_agent_opens_its_cameras_when_made(agent: HostAgent) -> None:
    # What a restarted agent does: __init__ alone opens the cameras.
    assert [(s.camera, s.ok, s.host) for s in agent.opened_status()] == [
        ("v0", True, "h"),
        ("v1", True, "h"),
    ]
    assert agent.clock_ns() - time.time_ns() >= 24_000_000


def test_agent_releases_on_its_own_clock_and_stages_files(agent: HostAgent) -> None:
    # The deadline is on the agent's clock (25 ms ahead of ours): released at or after it there.
    deadline_s = agent.clock_ns() / 1e9 + 0.05
    releases = agent.release_at(deadline_s, 1)
    assert [r.ok for r in releases] == [True, True]
    for release in releases:
        assert release.released_ns is not None
        assert release.released_ns >= round(deadline_s * 1e9)
        assert release.clock_source == "cristian"
    files = [item for release in releases for item in release.files]
    staged = agent.download_staged(files, "shots")
    assert [relative for _, relative in staged] == ["shot_0001/v0.JPG", "shot_0001/v1.JPG"]
    outcome, _ = staged[0]
    assert outcome.path is not None
    data = Path(outcome.path).read_bytes()
    assert outcome.size == len(data)
    assert agent.read_chunk(outcome.path, 0, 10) == data[:10]
    assert agent.read_chunk(outcome.path, 10, 10**9) == data[10 : 10 + CHUNK_BYTES]
    agent.discard(outcome.path)
    assert not Path(outcome.path).exists()
    # Only files it staged, and only until discarded: no other file of the host is served.
    with pytest.raises(UsageError, match="not a file this camera host staged"):
        agent.read_chunk(outcome.path, 0, 10)
    with pytest.raises(UsageError):
        agent.read_chunk("/etc/passwd", 0, 10)
    with pytest.raises(UsageError):
        agent.discard("/etc/passwd")
    stage = Path(staged[1][0].path or "").parents[1]
    agent.close()
    assert not stage.exists()


def test_each_agent_gets_the_rigs_release_priority() -> None:
    """Rig(cluster=...) -> RayBackend -> every HostAgent's arguments -> its LocalBackend."""
    cameras = [CameraSpec(name="v0", url="virtual:?serial=V0", index=0, host="h")]
    default = RayBackend("auto")
    assert default.release_priority == DEFAULT_RELEASE_PRIORITY
    assert Rig(cameras, cluster="auto", release_priority=25).backend.release_priority == 25  # type: ignore[attr-defined]
    for asked, given in ((25, 25), (0, None), (None, None)):
        arguments = RayBackend("auto", release_priority=asked)._agent_arguments("h")
        assert arguments["release_priority"] == given
        made = HostAgent("h", cameras, **arguments)
        try:
            assert made.backend.release_priority == given
        finally:
            made.close()
    with pytest.raises(UsageError, match="1 to 99"):
        RayBackend("auto", release_priority=120)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_ray_is_imported_only_for_a_rig_on_ray() -> None:
    done = _python(
        "import sys, ptpkit, ptpkit.rig, ptpkit.rig.ray_backend\n"
        "ptpkit.Rig(['virtual:'])\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_rig_on_ray_without_ray_says_how_to_install_it() -> None:
    done = _python(
        "import sys\n"
        "sys.modules['ray'] = None  # as if Ray were not installed\n"
        "import ptpkit\n"
        "from ptpkit.errors import UsageError\n"
        "rig = ptpkit.Rig(['virtual:'], cluster='auto')\n"
        "try:\n"
        "    rig.open()\n"
        "except UsageError as exc:\n"
        "    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'ptpkit[ray]'" in done.stdout


def test_ray_addresses() -> None:
    assert split_address("10.0.0.1:6380") == ("10.0.0.1", 6380)
    assert split_address("head") == ("head", 6379)
    assert split_address("ray://head") == ("head", 10001)
    assert split_address("ray://10.0.0.1:10002") == ("10.0.0.1", 10002)
    assert split_address("[::1]:7000") == ("::1", 7000)
    for bad in ("ray://", ":6379", "head:port", "head:0", "head:70000"):
        with pytest.raises(UsageError):
            split_address(bad)


def test_nothing_at_the_address_is_a_prompt_connect_error() -> None:
    # A port nobody listens on (bound, never listening): refused at once, not minutes of Ray's
    # retries. Needs Ray to get that far (CI installs it: there a missing Ray fails).
    if os.environ.get("CI") == "true":
        import ray  # noqa: F401
    else:
        pytest.importorskip("ray")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        backend = RayBackend(f"127.0.0.1:{port}", connect_timeout_s=5)
        started = time.monotonic()
        with pytest.raises(ConnectError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
            backend.open([CameraSpec(name="v0", url="virtual:", index=0)])
        assert time.monotonic() - started < 5
