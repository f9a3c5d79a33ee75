"""Rigs across computers (issue 18 §3): the same synchronised capture as the local rig bench,
across a 4-node local Ray cluster with 4 virtual cameras per node (16 cameras).

The cluster (a head for the controller and one node per camera host, every address 127.0.0.1)
runs in a private network namespace with only ``lo`` up (``unshare -n``, as root; else
``unshare -rn``), built by tests/rig/ray_cluster.py; its virtual cameras are PTP/IP servers on
their node and record when their shutters fire. Per shot, measured:

- **skew at the cameras**: every camera's release request arrival (the kernel's receive stamp,
  as bench/rig.py measures it) and shutter time after the earliest one's (one machine, one
  clock); median, p95 and max over every camera of every shot;
- **the rig's skew**: what ``Rig.capture`` reports from the agents' release times with their
  measured clock offsets applied (Cristian; the offsets' bounds are printed);
- **deadline to files on disk**: from the release deadline until the rig's download returned,
  files kept on the camera hosts (``files="host"``) or gathered to the controller through Ray
  (``files="controller"``), and the aggregate rate.

Every process (five Ray nodes, 16 cameras, the controller) shares this computer's cores: on a
small machine the figures are the machine's, not the network's.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import MiB, row
from bench.harness import note, rounds

HOSTS = 4
CAMERAS_PER_HOST = 4
SCRIPT = Path(__file__).resolve().parents[1] / "tests" / "rig" / "ray_cluster.py"
SRC = Path(__file__).resolve().parents[1] / "src"


def _isolated(argv: list[str]) -> list[str] | None:
    """As tests/rig/ray_cluster.py's ``isolated_command``: ``argv`` in a network namespace of
    its own with only ``lo`` up."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare is None or ip is None:
        return None
    flags = ["-n"] if os.geteuid() == 0 else ["-r", "-n"]
    return [unshare, *flags, "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    place = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(place) - 1]


def _ms(values: list[float]) -> str:
    return (
        f"{statistics.median(values):6.2f} / {_percentile(values, 0.95):6.2f} / "
        f"{max(values):6.2f} ms"
    )


def run() -> None:
    shots = rounds(5)
    print(
        f"Rig on Ray: {HOSTS} nodes x {CAMERAS_PER_HOST} virtual cameras, {shots} shots per "
        "file mode  [local Ray cluster in a private network namespace]"
    )
    note("skew figures: median / p95 / max")
    try:
        import ray  # noqa: F401, PLC0415
    except ImportError:
        note("Ray is not installed (pip install 'ptpkit[ray]'): skipped")
        return
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-ray-") as work:
        command = _isolated(
            [
                sys.executable,
                str(SCRIPT),
                "bench",
                work,
                str(HOSTS),
                str(CAMERAS_PER_HOST),
                str(shots),
            ]
        )
        if command is None:
            note("no unshare and ip here: cannot isolate the cluster's network; skipped")
            return
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        env.pop("RAY_ADDRESS", None)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=1800, env=env, check=False
        )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        note(f"the cluster run failed ({done.returncode}): {done.stderr.strip()[-800:]}")
        return
    found: dict[str, Any] = json.loads(lines[-1])
    load = os.getloadavg()[0]
    row(
        "cluster start (head + 4 nodes, 16 cameras)",
        f"{found['cluster_s']:.1f} s",
        f"load {load:.1f}",
    )
    for mode in ("host", "controller"):
        mine = [shot for shot in found["shots"] if shot["files"] == mode]
        if not mine:
            continue
        at_cameras = [offset for shot in mine for offset in shot["at_cameras_ms"]]
        rig_max = [shot["rig_skew"]["max_ms"] for shot in mine if shot["rig_skew"]]
        late = [shot["rig_skew"]["late_max_ms"] for shot in mine if shot["rig_skew"]]
        on_disk = [shot["on_disk_s"] for shot in mine]
        delivered = sum(shot["downloaded"] for shot in mine)
        total = HOSTS * CAMERAS_PER_HOST * len(mine)
        bounds = [bound for shot in mine for bound in shot["bounds_ms"]]
        byte_count = sum(shot["bytes"] for shot in mine)
        print(f"\n  files={mode}: rig opened in {found[f'open_{mode}_s']:.1f} s")
        arrivals = [o for shot in mine for o in (shot["arrivals_ms"] or [])]
        if arrivals:
            row("skew at the cameras: request arrival", _ms(arrivals), "kernel stamps")
        row("skew at the cameras: shutter", _ms(at_cameras), f"{len(at_cameras)} shutters")
        row("rig's skew: max per shot", _ms(rig_max), "offsets applied")
        row("latest release after the deadline", _ms(late), "per shot")
        row("clock offset bound (half round trip)", f"{max(bounds):.3f} ms", "worst host")
        row(
            "deadline to files on disk",
            f"{statistics.median(on_disk):.2f} s median",
            f"worst {max(on_disk):.2f} s",
        )
        row(
            "aggregate rate",
            f"{byte_count / sum(on_disk) / MiB:.1f} MiB/s",
            f"{delivered}/{total} files",
        )
