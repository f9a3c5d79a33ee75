"""The rig on Ray across a multi-node cluster on this machine (tests/rig/ray_cluster.py), run in
a private network namespace with only ``lo`` up: no Ray traffic can leave loopback.

One cluster run plays the whole scenario (three camera hosts of two virtual cameras each): a
cluster takes seconds to start, and these tests share one xdist worker (group "ray").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.rig.ray_cluster import isolated_command

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray"), pytest.mark.timeout(600)]

if os.environ.get("CI") == "true":
    import ray  # CI installs the ray extra (make test): a missing Ray fails here, never skips
else:
    ray = pytest.importorskip("ray")


def _run(scenario: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    command = isolated_command(
        [sys.executable, str(HERE / "ray_cluster.py"), scenario, str(tmp_path), *args]
    )
    if command is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no unshare and ip here: the Ray tests need a private network namespace")
        pytest.skip("no unshare and ip: cannot isolate the Ray cluster's network")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("RAY_ADDRESS", None)
    # A session of its own: on a timeout the whole cluster (raylets, workers) is killed with it.
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=540)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    lines = done.stdout.strip().splitlines()
    report = f"scenario {scenario}: {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    assert done.returncode == 0, report
    assert lines, report
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run("main", tmp_path_factory.mktemp("ray-rig"))


CAMERAS = ["a0", "a1", "b0", "b1", "c0", "c1"]


def test_only_loopback_in_the_namespace(found: dict[str, Any]) -> None:
    assert found["interfaces"] == ["lo"]
    # Every listening socket of the namespace (Ray's, the virtual cameras') is on 127.0.0.1.
    assert found["listening"]
    for address in found["listening"]:
        assert address.split(":")[0] in ("0100007F", "0000000000000000FFFF00000100007F"), address
    for addresses in found["rack_listening"].values():
        assert addresses == ["127.0.0.1", "127.0.0.1"]


def test_one_agent_per_host_on_the_node_that_owns_its_cameras(found: dict[str, Any]) -> None:
    assert found["opened"] == {name: [True, "connected", name[0]] for name in CAMERAS}
    assert found["agent_nodes"] == found["node_ids"] == found["rack_nodes"]
    assert len(set(found["node_ids"].values())) == 3
    assert found["set"] == {name: [True, "400"] for name in CAMERAS}


def test_offsets_measured_and_skew_on_the_controller_clock(found: dict[str, Any]) -> None:
    trusting, corrected = found["shot_trusting"], found["shot_corrected"]
    for shot in (trusting, corrected):
        assert shot["delivered"] == CAMERAS
        assert shot["sources"] == ["cristian"]
        assert sorted(shot["bounds_ms"]) == CAMERAS
        # Host c's clock runs 1 s ahead: its offset is -1000 ms; a and b share ours. One
        # machine, one clock: Cristian's offset is within its bound (half the round trip).
        for name, offset_ms in shot["offsets_ms"].items():
            expected = -1000.0 if name.startswith("c") else 0.0
            assert abs(offset_ms - expected) <= shot["bounds_ms"][name] + 0.001, name
    # Trusting its clock, host c fires 1 s early on the controller's clock, and the rig's skew
    # (offsets applied) shows it (however late a loaded machine lets the cameras fire).
    assert trusting["late_ms"]["c0"] < -500.0
    assert trusting["late_ms"]["c1"] < -500.0
    assert trusting["skew"]["max_ms"] > 500.0
    # Its deadline shifted by the measured offset, no camera fires before the deadline.
    for name in CAMERAS:
        assert corrected["late_ms"][name] >= -0.001, name


def test_files_on_hosts_and_gathered_to_the_controller(found: dict[str, Any]) -> None:
    kept = found["kept"]
    assert [[c, ok, host] for c, ok, host, _ in kept] == [[n, True, n[0]] for n in CAMERAS]
    for camera, _, _, path in kept:
        assert path.endswith(f"on-hosts/shot_0001/{camera}.JPG")
    gathered = found["gathered"]
    assert len(gathered) == 12
    for camera, ok, host, path, size, error in gathered:
        assert ok, (camera, error)
        assert error is None
        assert host == found["controller_host"]
        assert "/gathered/rig/" in path
        assert size > 1000
    assert found["gathered_again"] == [[True, True]] * 6
    shared = found["shared"]
    assert [[c, ok, host, detail] for c, ok, host, _, detail in shared] == [
        [n, True, n[0], "in the shared folder"] for n in CAMERAS
    ]
    on_disk = found["files_on_disk"]
    assert {f"shared/shot_0002/{name}.JPG" for name in CAMERAS} <= set(on_disk)
    for index in range(6):
        for shot in (1, 2):
            assert f"gathered/rig/{index}/{shot:04d}.JPG" in on_disk
    assert not [name for name in on_disk if "ptpkit-part" in name]


def test_a_dead_agent_is_restarted_and_reopens_its_cameras(found: dict[str, Any]) -> None:
    assert found["restarts"] == {"a": 1, "b": 0, "c": 0}
    assert found["pid_changed"]
    assert found["after_restart"] == {name: [True, "connected"] for name in CAMERAS}
    # The restarted agent set its cameras again, which had lost every setting: a0's own white
    # balance from the rig (daylight, 4) and the rig's `rig set` ISO 400 on both.
    assert found["settings_before_restart"] == [
        {"iso": 400, "whitebalance": 4},
        {"iso": 400, "whitebalance": 2},
    ]
    assert found["settings_of_fresh_cameras"] == [
        {"iso": 200, "whitebalance": 2},
        {"iso": 200, "whitebalance": 2},
    ]
    assert found["settings_after_restart"] == found["settings_before_restart"]


def test_a_lost_node_is_reported_and_the_rest_goes_on(found: dict[str, Any]) -> None:
    first, *after = found["series"]
    assert first["delivered"] == CAMERAS
    assert len(after) == 2
    for shot in after:
        assert shot["delivered"] == ["a0", "a1", "c0", "c1"]
        assert sorted(shot["failed"]) == ["b0", "b1"]
        for error in shot["failed"].values():
            assert error.startswith("camera host b: ")
    status = found["status_after_loss"]
    assert [name for name, (ok, _) in status.items() if not ok] == ["b0", "b1"]
    assert found["closed"]


def test_rig_cluster_through_ray_client(found: dict[str, Any]) -> None:
    opened = found["client_opened"]
    assert opened["d0"] == [True, None]
    assert opened["d1"] == [True, None]
    ok, error = opened["z0"]
    assert not ok
    assert error.startswith("camera host zz: no Ray node offers the resource ptpkit-host-zz")
    for shot in found["client_shots"]:
        assert shot["delivered"] == ["d0", "d1"]
        assert list(shot["failed"]) == ["z0"]
        assert shot["skew"]["cameras"] == 2
    assert found["client_disconnected"]


def test_command_line_rig_on_ray(found: dict[str, Any]) -> None:
    # ptpkit rig --ray ADDRESS --rig FILE --files controller capture --download DIR --json
    assert found["cli_exit"] == 0, found["cli_stderr"]
    document = found["cli_json"]
    (shot,) = document["shots"]
    assert shot["delivered"] == ["a0", "a1", "c0", "c1"]
    assert {camera["host"] for camera in shot["cameras"]} == {"a", "c"}
    assert all("Cristian" in camera["detail"] for camera in shot["cameras"])
    assert [d["host"] for d in document["downloads"]] == [found["controller_host"]] * 4
    assert found["cli_files"] == [f"cli/shot_0001/{name}.JPG" for name in ("a0", "a1", "c0", "c1")]
