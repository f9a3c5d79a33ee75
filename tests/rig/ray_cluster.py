"""A multi-node Ray cluster on this machine with virtual cameras on each node, for the Ray rig's
tests (tests/rig/test_ray.py) and benchmark (bench/rig_ray.py).

Run as a program it plays one scenario and prints its findings as one JSON line (the last line
of its output); the tests run it inside a private network namespace with only ``lo`` up
(:func:`isolated_command`), so that no Ray traffic can leave loopback whatever address Ray picks.

Each camera host is a Ray node offering ``ptpkit-host-<name>`` (the rig's agent asks for it) and
``ptpkit-rack-<name>``, on which a :class:`Rack` actor serves that host's virtual cameras over
PTP/IP on 127.0.0.1: the cameras live and die with their node, as a host's USB cameras do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

#: How long a scenario waits for Ray to restart an agent, at most.
RESTART_WAIT_S = 90.0


class Rack:
    """Virtual cameras served over PTP/IP on 127.0.0.1 from one node (a Ray actor)."""

    def __init__(self, count: int) -> None:
        from ptpkit.virtual.camera import VirtualCamera
        from ptpkit.virtual.server import PtpIpServer

        self.servers = [PtpIpServer(VirtualCamera(), "127.0.0.1", 0).start() for _ in range(count)]
        #: Each camera's releases as it saw them: (request arrival, by the kernel's stamp where
        #: there is one, else None; shutter), wall clock ns.
        self.fired: list[list[tuple[int | None, int]]] = [[] for _ in range(count)]
        for server, times in zip(self.servers, self.fired, strict=True):
            server.camera.on_capture = self._recorder(times)

    @staticmethod
    def _recorder(times: list[tuple[int | None, int]]) -> Any:
        def record(fired_ns: int, arrived_ns: int | None) -> None:
            times.append((arrived_ns, fired_ns))

        return record

    def shutter_times(self) -> list[list[tuple[int | None, int]]]:
        """Each camera's (arrival, shutter) times since the last call."""
        out = [list(times) for times in self.fired]
        for times in self.fired:
            times.clear()
        return out

    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def fresh_cameras(self) -> None:
        """Put a new virtual camera behind each URL, with the camera's own defaults: as a camera
        switched off and on loses what a program set (the old one's sessions end with their
        connections; the next connection is the new camera's)."""
        from ptpkit.virtual.camera import VirtualCamera

        for server, times in zip(self.servers, self.fired, strict=True):
            server.camera = VirtualCamera()
            server.camera.on_capture = self._recorder(times)

    def settings(self) -> list[dict[str, int]]:
        """Each camera's ISO (ExposureIndex 0x500F) and white balance (0x5005), as set now."""
        return [
            {
                "iso": int(server.camera.properties[0x500F].current()),
                "whitebalance": int(server.camera.properties[0x5005].current()),
            }
            for server in self.servers
        ]

    def node_id(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def listening(self) -> list[str]:
        """Every address a server of this rack listens on."""
        return [server._listener.getsockname()[0] for server in self.servers if server._listener]


@contextlib.contextmanager
def local_cluster(hosts: Sequence[str], cameras_per_host: int) -> Iterator[dict[str, Any]]:
    """A head node (the controller's: no cameras) and one node per host, every address
    127.0.0.1; yields the cluster, its nodes by host, the rig's camera specs and the racks."""
    import ray
    from ray.cluster_utils import Cluster

    from ptpkit.rig.ray_backend import host_resource
    from ptpkit.rig.spec import CameraSpec

    client_port = _free_port()
    # Ray Client starts a server process per client and gives it 30 s to come up: not enough on
    # a loaded 2-core machine (other tests running). The nodes inherit this environment.
    os.environ.setdefault("RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S", "180")
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "node_ip_address": "127.0.0.1",
            "include_dashboard": False,
            "ray_client_server_port": client_port,
        },
    )
    try:
        nodes = {
            host: cluster.add_node(
                num_cpus=1,
                node_ip_address="127.0.0.1",
                resources={host_resource(host): 1, f"ptpkit-rack-{host}": 1},
            )
            for host in hosts
        }
        cluster.wait_for_nodes()
        ray.init(
            address=cluster.address,
            namespace="ptpkit-tests",
            log_to_driver=False,
            logging_level="WARNING",
        )
        rack_class = ray.remote(Rack)
        racks = {
            # Detached: the cameras stay when this driver disconnects (the Ray Client scenario
            # drives the rig from another connection); they go with their node.
            host: rack_class.options(
                num_cpus=0,
                max_restarts=0,
                lifetime="detached",
                resources={f"ptpkit-rack-{host}": 1},
            ).remote(cameras_per_host)
            for host in hosts
        }
        urls = {host: ray.get(rack.urls.remote(), timeout=60) for host, rack in racks.items()}
        specs = []
        for host in hosts:
            for number, url in enumerate(urls[host]):
                specs.append(
                    CameraSpec(name=f"{host}{number}", url=url, index=len(specs), host=host)
                )
        yield {
            "cluster": cluster,
            "nodes": nodes,
            "specs": specs,
            "racks": racks,
            "client_address": f"ray://127.0.0.1:{client_port}",
        }
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        cluster.shutdown()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _release_summary(shot: Any, backend: Any = None) -> dict[str, Any]:
    bounds = {
        state.host: state.offset.bound_ns / 1e6
        for state in (backend.hosts() if backend is not None else [])
        if state.offset is not None
    }
    return {
        "shot": shot.shot,
        "delivered": shot.delivered,
        "failed": {r.camera: r.error for r in shot.failed},
        "skew": shot.skew.as_ms() if shot.skew else None,
        "offsets_ms": {r.camera: r.clock_offset_ns / 1e6 for r in shot.releases if r.ok},
        # The bounds (half the round trip) of the offsets the shot used: each host's last.
        "bounds_ms": {r.camera: bounds[r.host] for r in shot.releases if r.ok and r.host in bounds},
        "sources": sorted({r.clock_source for r in shot.releases if r.ok}),
        "late_ms": {r.camera: r.late_ns / 1e6 for r in shot.releases if r.late_ns is not None},
    }


def _listening_sockets() -> list[str]:
    """Every TCP socket listening on this machine's (the namespace's) addresses."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    out.append(fields[1])
    return out


def scenario_main(work: Path) -> dict[str, Any]:
    """Three camera hosts of two cameras each: open, set, capture with a host whose clock is
    wrong, download kept on the hosts and gathered to the controller, an agent killed and
    restarted, and a node removed in the middle of a capture series."""
    import ray

    from ptpkit.rig import Rig, RigSpec
    from ptpkit.rig.ray_backend import RayBackend

    found: dict[str, Any] = {"interfaces": sorted(name for _, name in socket.if_nameindex())}
    with local_cluster(["a", "b", "c"], 2) as lab:
        started = time.monotonic()
        backend = RayBackend(
            lab["cluster"].address,
            max_restarts=2,
            call_timeout_s=30,
            clock_errors_ns={"c": 1_000_000_000},  # host c's clock runs 1 s ahead
        )
        # Camera a0's own setting (a rig file's [camera.settings]): set when the rig opens, and
        # again by a restarted agent, with the rig's `rig set` values.
        specs = tuple(
            dataclasses.replace(spec, settings={"whitebalance": "daylight"})
            if spec.name == "a0"
            else spec
            for spec in lab["specs"]
        )
        rig = Rig(RigSpec(cameras=specs), backend=backend, lead_s=0.3)
        opened = rig.open()
        found["open_s"] = time.monotonic() - started
        found["opened"] = {s.camera: [s.ok, s.state.value, s.host] for s in opened}
        hosts = {state.host: state for state in backend.hosts()}
        found["agent_nodes"] = {h: s.node_id for h, s in hosts.items()}
        found["rack_nodes"] = {
            h: ray.get(rack.node_id.remote(), timeout=30) for h, rack in lab["racks"].items()
        }
        found["node_ids"] = {h: node.node_id for h, node in lab["nodes"].items()}
        found["set"] = {o.camera: [o.ok, o.value] for o in rig.set("ExposureIndex", "400")}

        # Trusting the hosts' clocks: host c fires 1 s early on the controller's clock. A lead of
        # 2 s: the release reaches every host before even c's early deadline, and an error that
        # large stands out of whatever delays a loaded machine adds (these two shots are about
        # clocks, not latency).
        rig.lead_s = 2.0
        first = rig.capture(1)[0]
        found["shot_trusting"] = _release_summary(first, backend)
        # Correcting each host's deadline by its measured offset.
        backend.correct_clocks = True
        second = rig.capture(1)[0]
        found["shot_corrected"] = _release_summary(second, backend)
        backend.correct_clocks = False
        rig.lead_s = 0.3

        kept = rig.download([first], str(work / "on-hosts"), layout="shots")
        found["kept"] = [[o.camera, o.ok, o.host, o.path] for o in kept]
        backend.files = "controller"
        gathered = rig.download([first, second], str(work / "gathered"), layout="meshroom")
        found["gathered"] = [[o.camera, o.ok, o.host, o.path, o.size, o.error] for o in gathered]
        found["controller_host"] = socket.gethostname()
        again = rig.download([first], str(work / "gathered"), layout="meshroom")
        found["gathered_again"] = [[o.ok, o.skipped] for o in again]
        backend.files = "shared"
        shared = rig.download([second], str(work / "shared"), layout="shots")
        found["shared"] = [[o.camera, o.ok, o.host, o.path, o.detail] for o in shared]
        found["files_on_disk"] = sorted(
            str(p.relative_to(work)) for p in work.rglob("*") if p.is_file()
        )
        backend.files = "host"

        # The agent of host a dies (its process killed) and its cameras lose their settings (new
        # virtual cameras behind the same URLs): Ray restarts the agent, which opens its cameras
        # again and sets them again: a0's own setting from the rig, and the rig's `rig set`.
        rack_a = lab["racks"]["a"]
        found["settings_before_restart"] = ray.get(rack_a.settings.remote(), timeout=30)
        ray.get(rack_a.fresh_cameras.remote(), timeout=30)
        found["settings_of_fresh_cameras"] = ray.get(rack_a.settings.remote(), timeout=30)
        killed_pid = hosts["a"].pid
        assert killed_pid is not None
        os.kill(killed_pid, signal.SIGKILL)
        waited = time.monotonic()
        status = rig.status()
        while not all(s.ok for s in status if s.camera.startswith("a")):
            if time.monotonic() - waited > RESTART_WAIT_S:
                break
            time.sleep(0.2)
            status = rig.status()
        found["restart_s"] = time.monotonic() - waited
        found["after_restart"] = {s.camera: [s.ok, s.state.value] for s in status}
        found["restarts"] = {h: s.restarts for h, s in hosts.items()}
        found["pid_changed"] = hosts["a"].pid != killed_pid
        # Read from the cameras themselves, not through the rig (whose `set` would set them).
        found["settings_after_restart"] = ray.get(rack_a.settings.remote(), timeout=30)

        # Node b goes away while a series of three shots runs (after the first).
        def remove_b(shot: Any) -> None:
            if shot.shot == 3:
                lab["cluster"].remove_node(lab["nodes"]["b"])

        series = rig.capture(3, interval_s=0.5, on_shot=remove_b)
        found["series"] = [_release_summary(shot) for shot in series]
        found["status_after_loss"] = {s.camera: [s.ok, s.error] for s in rig.status()}
        found["listening"] = _listening_sockets()
        found["rack_listening"] = {
            h: ray.get(rack.listening.remote(), timeout=30)
            for h, rack in lab["racks"].items()
            if h != "b"
        }
        rig.close()
        found["closed"] = True
        found.update(_command_line(lab, work, ["a", "c"]))
    found.update(scenario_client())
    return found


def _command_line(lab: dict[str, Any], work: Path, hosts: list[str]) -> dict[str, Any]:
    """``ptpkit rig --ray ADDRESS --rig FILE --files controller capture --download DIR --json``
    on the cameras of ``hosts`` (a rig file naming each camera's host)."""
    import subprocess

    rig_file = work / "rig.toml"
    lines = []
    for spec in lab["specs"]:
        if spec.host in hosts:
            lines += [
                "[[camera]]",
                f'name = "{spec.name}"',
                f'url = "{spec.url}"',
                f"index = {spec.index}",
                f'host = "{spec.host}"',
                "",
            ]
    rig_file.write_text("\n".join(lines), encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "ptpkit",
        "rig",
        "--ray",
        lab["cluster"].address,
        "--rig",
        str(rig_file),
        "--files",
        "controller",
        "capture",
        "--download",
        str(work / "cli"),
        "--layout",
        "shots",
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    return {
        "cli_exit": done.returncode,
        "cli_stderr": done.stderr[-2000:],
        "cli_json": json.loads(done.stdout) if done.returncode == 0 else None,
        "cli_files": sorted(str(p.relative_to(work)) for p in (work / "cli").rglob("*.JPG")),
    }


def scenario_client() -> dict[str, Any]:
    """``Rig(..., cluster="ray://...")`` through Ray Client: a fresh cluster of one host."""
    import ray

    from ptpkit.rig import Rig, RigSpec
    from ptpkit.rig.spec import CameraSpec

    found: dict[str, Any] = {}
    with local_cluster(["d"], 2) as lab:
        ray.shutdown()  # the Rig connects by itself, through the client server
        # And a camera whose host no node offers: reported, the others go on.
        stray = CameraSpec(name="z0", url="ptpip:127.0.0.1:9", index=9, host="zz")
        cameras = (*lab["specs"], stray)
        with Rig(RigSpec(cameras=cameras), cluster=lab["client_address"]) as rig:
            found["client_opened"] = {s.camera: [s.ok, s.error] for s in rig.status()}
            shots = rig.capture(2, interval_s=0.2)
            found["client_shots"] = [_release_summary(shot) for shot in shots]
        found["client_disconnected"] = not ray.is_initialized()
    return found


def scenario_bench(work: Path, hosts: int, cameras_per_host: int, shots: int) -> dict[str, Any]:
    """Shots across ``hosts`` nodes of ``cameras_per_host`` cameras, files kept on the hosts
    then gathered to the controller: each shot's skew at the cameras (their shutter times, one
    machine's clock), the rig's own skew (release times, offsets applied), and the time from
    the deadline until every file is on disk."""
    import ray

    from ptpkit.rig import Rig, RigSpec
    from ptpkit.rig.ray_backend import RayBackend

    names = [chr(ord("a") + n) for n in range(hosts)]
    out: dict[str, Any] = {"hosts": hosts, "cameras": hosts * cameras_per_host, "shots": []}
    started = time.monotonic()
    with local_cluster(names, cameras_per_host) as lab:
        out["cluster_s"] = time.monotonic() - started
        racks = list(lab["racks"].values())
        for mode in ("host", "controller"):
            backend = RayBackend(lab["cluster"].address, files=mode, call_timeout_s=120)
            opened = time.monotonic()
            with Rig(RigSpec(cameras=tuple(lab["specs"])), backend=backend) as rig:
                out[f"open_{mode}_s"] = time.monotonic() - opened
                ray.get([rack.shutter_times.remote() for rack in racks])
                for number in range(shots):
                    shot = rig.capture(1)[0]
                    target = work / f"{mode}-{number}"
                    got = rig.download([shot], str(target), layout="shots")
                    on_disk_s = time.time() - shot.deadline_ns / 1e9
                    seen = [
                        pair
                        for per_rack in ray.get([rack.shutter_times.remote() for rack in racks])
                        for per_camera in per_rack
                        for pair in per_camera
                    ]
                    fired = [shutter for _, shutter in seen]
                    arrived = [a for a, _ in seen if a is not None]
                    out["shots"].append(
                        {
                            "files": mode,
                            "delivered": len(shot.delivered),
                            "downloaded": sum(o.ok for o in got),
                            "bytes": sum(o.size for o in got if o.ok),
                            "at_cameras_ms": [(t - min(fired)) / 1e6 for t in fired],
                            "arrivals_ms": [(t - min(arrived)) / 1e6 for t in arrived]
                            if len(arrived) == len(fired)
                            else None,
                            "late_at_cameras_ms": (max(fired) - shot.deadline_ns) / 1e6,
                            "rig_skew": shot.skew.as_ms() if shot.skew else None,
                            "bounds_ms": sorted(
                                round(s.offset.bound_ns / 1e6, 3)
                                for s in backend.hosts()
                                if s.offset is not None
                            ),
                            "on_disk_s": on_disk_s,
                        }
                    )
                    shutil.rmtree(target, ignore_errors=True)
    return out


def isolated_command(argv: Sequence[str]) -> list[str] | None:
    """``argv`` run in a new network namespace with only ``lo`` up (root: ``unshare -n``;
    otherwise a user namespace too, ``unshare -rn``); None where neither is possible."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare is None or ip is None:
        return None
    script = 'ip link set lo up && exec "$@"'
    flags = ["-n"] if os.geteuid() == 0 else ["-r", "-n"]
    return [unshare, *flags, "sh", "-c", script, "sh", *argv]


def main(argv: list[str]) -> None:
    name, work = argv[0], Path(argv[1])
    if name == "main":
        found = scenario_main(work)
    elif name == "client":
        found = scenario_client()
    elif name == "cli":
        with local_cluster(["a", "c"], 2) as lab:
            found = _command_line(lab, work, ["a", "c"])
    elif name == "bench":
        found = scenario_bench(work, int(argv[2]), int(argv[3]), int(argv[4]))
    else:
        raise SystemExit(f"unknown scenario {name}")
    print(json.dumps(found))


if __name__ == "__main__":
    main(sys.argv[1:] or ["main", tempfile.mkdtemp()])
