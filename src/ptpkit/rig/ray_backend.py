"""A rig across computers on Ray: one actor per camera host drives that host's cameras.

::

    rig = ptpkit.Rig("booth.toml", cluster="ray://10.0.0.1:10001")     # or cluster="auto"
    # or, with options: Rig(spec, backend=RayBackend("auto", files="controller", ...))

Each camera of the rig names the Ray node that owns it (``host = "pi-07"`` in the rig file,
:attr:`CameraSpec.host`). That node offers the custom resource ``ptpkit-host-pi-07``
(``ray start --address HEAD --resources '{"ptpkit-host-pi-07": 1}'``), and the rig's agent for
it, a :class:`HostAgent` actor, asks for one unit of it: Ray places the agent on that node and
on no other, and no second rig can open the same cameras while the first holds them. Cameras
without a host are driven from the controller's own node. The agent opens its cameras there with
the :class:`~ptpkit.rig.local.LocalBackend` and serves the same operations
(:class:`~ptpkit.rig.backend.RigBackend`): :class:`RayBackend` sends each operation to every
agent at once and merges their outcomes, so the controller's API is the rig's API.

Time. A release fires at one wall-clock deadline on every host: hosts keep their clocks with NTP
or PTP. Before each release the controller measures every agent's clock offset from its own with
Cristian's algorithm (a few round trips; the one with the shortest round trip gives the offset
as the controller's midpoint minus the agent's reading, within half that round trip), and each
release outcome carries it (:attr:`ReleaseOutcome.clock_offset_ns`, ``clock_source``
``"cristian"``; the detail says the bound), so the skew the rig reports is on the controller's
clock. With ``correct_clocks=True`` each agent fires at the deadline shifted by its measured
offset instead of trusting its clock: better than a host without NTP, worse than PTP (the bound
is half a Ray round trip, about a millisecond on a LAN).

Files stay on the camera hosts by default (``files="host"``: ``destination`` is a folder on
every host), or are gathered to the controller (``files="controller"``: each agent downloads to
a staging folder of its own, then the controller pulls every file through Ray in chunks, a few
in flight per host, and writes it with ptpkit's download rules (a partial file renamed when
complete, never over a file ptpkit did not make); the staged copy goes once the file is home),
or written by every host to one shared folder (``files="shared"``). Every
:class:`~ptpkit.rig.backend.DownloadOutcome` says where its file is: ``host`` and ``path``.

Failures. An agent that dies (its process, or its whole node) is reported: each of its cameras'
outcomes says the camera host is unavailable, and the rest of the rig goes on. Ray restarts a
dead agent (``max_restarts``) where its node still offers the resource; the restarted agent
opens its cameras again, and the controller sets again the properties the rig has set since.
Operations are never retried by Ray (``max_task_retries=0``): a release retried late is not the
same shot.

Ray is an optional extra (``pip install 'ptpkit[ray]'``): it is imported only here, and only
when a rig asks for a cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from ptpkit.errors import ConnectError, UsageError
from ptpkit.rig.backend import (
    CameraOutcome,
    CameraState,
    CameraStatus,
    DownloadOutcome,
    FrameOutcome,
    ReleaseOutcome,
    RigProgress,
    SetOutcome,
    ShotFile,
)
from ptpkit.rig.local import (
    DEFAULT_RELEASE_PRIORITY,
    LocalBackend,
    check_release_priority,
    describe_failure,
)
from ptpkit.rig.spec import CameraSpec, RigSpec

__all__ = [
    "FILE_MODES",
    "RESOURCE_PREFIX",
    "ClockOffset",
    "HostAgent",
    "HostState",
    "RayBackend",
    "backend_for",
    "cristian_offset",
    "host_resource",
    "split_address",
]

log = logging.getLogger("ptpkit")

_T = TypeVar("_T")

#: The custom resource a camera host's node offers: ``ptpkit-host-<host>``.
RESOURCE_PREFIX: Final = "ptpkit-host-"
#: Where downloaded files end up (see the module's docstring).
FILE_MODES: Final = ("host", "controller", "shared")
#: Bytes per chunk when gathering a file to the controller, and chunks in flight per host: the
#: controller holds at most their product per host.
CHUNK_BYTES: Final = 1 << 20
CHUNKS_IN_FLIGHT: Final = 4
#: Extra time a call gets beyond what it is known to need (Ray's own round trips, a busy node).
CALL_MARGIN_S: Final = 10.0
#: The deadline's lead a release needs across hosts: the call has to reach every agent and every
#: camera's thread has to park before the deadline.
MIN_LEAD_S: Final = 0.25
#: How long a measured clock offset is used before it is measured again (NTP slews a clock
#: by at most 0.5 ms a second: a 10 s old offset may be off by 5 ms at worst, far less in practice).
CLOCK_MAX_AGE_S: Final = 10.0
#: Where the agent's method calls that do not touch cameras go while an operation runs.
_AGENT_THREADS: Final = 8
_INSTALL_HINT: Final = "install it with: pip install 'ptpkit[ray]'"


def host_resource(host: str) -> str:
    """The custom resource the node owning ``host``'s cameras offers (one unit)."""
    return f"{RESOURCE_PREFIX}{host}"


def _ray() -> Any:
    """The ``ray`` module; a :class:`UsageError` saying how to install it when it is missing."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise UsageError(f"a rig on Ray needs Ray ({exc}); {_INSTALL_HINT}") from None


# -- clocks ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ClockOffset:
    """A host's clock measured from the controller: controller time = host time + ``offset_ns``,
    within ``bound_ns`` (half the shortest round trip)."""

    offset_ns: int
    round_trip_ns: int
    rounds: int

    @property
    def bound_ns(self) -> int:
        return self.round_trip_ns // 2

    def describe(self) -> str:
        return (
            f"clock offset {self.offset_ns / 1e6:+.3f} ms ± {self.bound_ns / 1e6:.3f} ms "
            f"(Cristian, best of {self.rounds} round trips)"
        )


def cristian_offset(
    read_remote_ns: Callable[[], int], *, rounds: int = 8, wall_ns: Callable[[], int] = time.time_ns
) -> ClockOffset:
    """Cristian's algorithm: read the remote clock ``rounds`` times; the reading with the
    shortest round trip was taken closest to its midpoint on our clock, so the offset is that
    midpoint minus the reading, wrong by at most half the round trip."""
    if rounds < 1:
        raise UsageError("rounds must be at least 1")
    best: tuple[int, int] | None = None  # (round trip, offset)
    for _ in range(rounds):
        sent = wall_ns()
        remote = read_remote_ns()
        received = wall_ns()
        trip = max(0, received - sent)
        offset = (sent + received) // 2 - remote
        if best is None or trip < best[0]:
            best = (trip, offset)
    assert best is not None
    return ClockOffset(offset_ns=best[1], round_trip_ns=best[0], rounds=rounds)


# -- the agent: runs on the camera host ---------------------------------------------------------


class HostAgent:
    """The camera host's side: a :class:`LocalBackend` for the cameras that host owns.

    Ray runs it as an actor (several threads: a clock reading or a file chunk is served while a
    release waits). The rig operations take one lock, one at a time, as on a local rig. Ray
    runs ``__init__`` again when it restarts the actor, so a restarted agent opens its cameras
    again. ``clock_error_ns`` makes this agent's clock wrong by that much (a host without NTP:
    for demonstrations and tests of the offset measurement). ``release_priority``: its
    LocalBackend's (the real-time priority of the release, where this host allows it).
    """

    def __init__(
        self,
        host: str,
        cameras: Sequence[CameraSpec],
        *,
        capture_timeout_s: float = 30.0,
        clock_error_ns: int = 0,
        release_priority: int | None = DEFAULT_RELEASE_PRIORITY,
    ) -> None:
        self.host = host
        self.started_ns = time.time_ns()
        self._clock_error_ns = clock_error_ns
        self._operation = threading.Lock()
        self._stage: Path | None = None
        #: Files this agent staged for the controller: the only ones it serves or removes.
        self._staged: set[str] = set()
        self.backend = LocalBackend(
            host=host,
            capture_timeout_s=capture_timeout_s,
            wall_ns=self.clock_ns,
            clock_source="cristian",
            release_priority=release_priority,
        )
        with self._operation:
            self.opened = self.backend.open(cameras)

    # -- what the controller asks outside the rig operations ------------------------------------

    def clock_ns(self) -> int:
        """This host's wall clock (ns)."""
        return time.time_ns() + self._clock_error_ns

    def identity(self) -> dict[str, Any]:
        """Where the agent runs and since when (a restart changes ``started_ns`` and ``pid``)."""
        ray = _ray()
        context = ray.get_runtime_context()
        return {
            "host": self.host,
            "hostname": socket.gethostname(),
            "node_id": context.get_node_id(),
            "pid": os.getpid(),
            "started_ns": self.started_ns,
            "restarted": bool(context.was_current_actor_reconstructed),
        }

    def opened_status(self) -> list[CameraStatus]:
        """The cameras' states as ``__init__`` left them (the first call waits for it)."""
        return self.opened

    # -- the rig operations ----------------------------------------------------------------------

    def status(self) -> list[CameraStatus]:
        return self.backend.status()

    def close(self) -> None:
        with self._operation:
            self.backend.close()
            if self._stage is not None:
                shutil.rmtree(self._stage, ignore_errors=True)
                self._stage = None
                self._staged.clear()

    def set_property(self, name: str, value: str) -> list[SetOutcome]:
        with self._operation:
            return self.backend.set_property(name, value)

    def prepare(self) -> list[CameraOutcome]:
        with self._operation:
            return self.backend.prepare()

    def release_at(self, deadline_wall_s: float, shot: int) -> list[ReleaseOutcome]:
        with self._operation:
            return self.backend.release_at(deadline_wall_s, shot)

    def download(
        self, files: Sequence[ShotFile], layout: str, destination: str
    ) -> list[DownloadOutcome]:
        with self._operation:
            return self.backend.download(files, layout, destination)

    def live_frames(self) -> list[FrameOutcome]:
        with self._operation:
            return self.backend.live_frames()

    # -- gathering files to the controller -----------------------------------------------------

    def download_staged(
        self, files: Sequence[ShotFile], layout: str
    ) -> list[tuple[DownloadOutcome, str | None]]:
        """Download into this agent's staging folder; each outcome with its path relative to
        that folder (the layout's path), to be pulled with :meth:`read_chunk`."""
        with self._operation:
            if self._stage is None:
                self._stage = Path(tempfile.mkdtemp(prefix=f"ptpkit-rig-{self.host}-"))
            outcomes = self.backend.download(files, layout, str(self._stage))
            out: list[tuple[DownloadOutcome, str | None]] = []
            for outcome in outcomes:
                relative = None
                if outcome.ok and outcome.path is not None:
                    self._staged.add(outcome.path)
                    relative = Path(outcome.path).relative_to(self._stage).as_posix()
                out.append((outcome, relative))
            return out

    def _staged_path(self, path: str) -> Path:
        if path not in self._staged:
            raise UsageError(f"{path} is not a file this camera host staged for the controller")
        return Path(path)

    def read_chunk(self, path: str, offset: int, size: int) -> bytes:
        """``size`` bytes of a staged file from ``offset`` (fewer at its end)."""
        with self._staged_path(path).open("rb") as file:
            file.seek(offset)
            return file.read(min(size, CHUNK_BYTES))

    def discard(self, path: str) -> None:
        """Remove a staged file once the controller has it."""
        self._staged_path(path).unlink(missing_ok=True)
        self._staged.discard(path)


# -- the controller's side ----------------------------------------------------------------------


@dataclass
class HostState:
    """One camera host as the controller sees it."""

    host: str
    cameras: tuple[CameraSpec, ...]
    actor: Any = None
    #: From the agent's :meth:`HostAgent.identity` (None until it answered once).
    node_id: str | None = None
    hostname: str | None = None
    pid: int | None = None
    started_ns: int | None = None
    #: How often the controller has seen the agent come back restarted.
    restarts: int = 0
    #: Why the host is unavailable now (None: it answered last time).
    error: str | None = None
    #: Ray gave up on it (no restarts left): no call goes to it any more.
    dead: bool = False
    offset: ClockOffset | None = None
    #: When :attr:`offset` was measured (the controller's wall clock, ns).
    measured_ns: int | None = None

    @property
    def available(self) -> bool:
        return self.actor is not None and not self.dead and self.error is None


class RayBackend:
    """A :class:`~ptpkit.rig.backend.RigBackend` whose cameras are on the nodes of a Ray
    cluster (see the module's docstring).

    ``cluster``: ``"auto"`` (the cluster this machine belongs to), ``"ray://HOST:PORT"`` (Ray
    Client) or ``"HOST:PORT"`` (the head's address); the controller connects when the rig opens
    (and disconnects when it closes, unless Ray was connected already). ``files``: ``"host"``,
    ``"controller"`` or ``"shared"``. ``max_restarts``: how often Ray restarts a host's agent
    (-1: always). ``clock_rounds``: round trips per offset measurement. ``call_timeout_s``
    bounds every call to a host (a release gets its deadline's wait on top).
    ``clock_errors_ns``: host -> a deliberate clock error for that host's agent (demonstrations
    and tests of the offset measurement). ``release_priority``: every host's release at this
    real-time priority where that host allows it (:class:`~ptpkit.rig.local.LocalBackend`'s;
    None or 0: the normal priority).
    """

    def __init__(
        self,
        cluster: str = "auto",
        *,
        files: str = "host",
        max_restarts: int = 3,
        correct_clocks: bool = False,
        clock_rounds: int = 8,
        call_timeout_s: float = 60.0,
        capture_timeout_s: float = 30.0,
        namespace: str | None = None,
        clock_errors_ns: dict[str, int] | None = None,
        connect_timeout_s: float = 10.0,
        wall_ns: Callable[[], int] = time.time_ns,
        release_priority: int | None = DEFAULT_RELEASE_PRIORITY,
    ) -> None:
        if files not in FILE_MODES:
            raise UsageError(f"files must be one of {', '.join(FILE_MODES)}, not {files!r}")
        if clock_rounds < 1:
            raise UsageError("clock_rounds must be at least 1")
        self.cluster = cluster
        self.files = files
        self.max_restarts = max_restarts
        self.correct_clocks = correct_clocks
        self.clock_rounds = clock_rounds
        self.call_timeout_s = call_timeout_s
        self.capture_timeout_s = capture_timeout_s
        self.namespace = namespace
        self.connect_timeout_s = connect_timeout_s
        self.clock_errors_ns = dict(clock_errors_ns or {})
        self.release_priority = check_release_priority(release_priority)
        self.min_lead_s = MIN_LEAD_S
        self._wall_ns = wall_ns
        self._hosts: dict[str, HostState] = {}
        self._order: list[CameraSpec] = []
        #: Properties set since the rig opened, in order: set again on a restarted agent.
        self._settings: dict[str, str] = {}
        self._connected_here = False
        self._pool: ThreadPoolExecutor | None = None

    # -- connecting --------------------------------------------------------------------------------

    def _connect(self) -> Any:
        ray = _ray()
        if ray.is_initialized():
            return ray
        address = None if self.cluster in ("", "auto") else self.cluster
        if address is not None:
            _probe(address, self.connect_timeout_s)
        try:
            ray.init(
                address=address or "auto",
                namespace=self.namespace,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConnectError(
                f"could not connect to the Ray cluster at {self.cluster}: {describe_failure(exc)}"
            ) from None
        self._connected_here = True
        return ray

    def _host_name(self, spec: CameraSpec) -> str:
        return spec.host if spec.host is not None else ""

    def _hosts_pool(self) -> ThreadPoolExecutor:
        # One thread per host at least: a release holds its thread until the deadline has
        # passed, and no host may wait for another's thread.
        if self._pool is None:
            workers = max(16, len(self._hosts))
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ptpkit-ray")
        return self._pool

    def _each_host(
        self, hosts: Iterable[HostState], job: Callable[[HostState], _T]
    ) -> list[tuple[HostState, _T]]:
        chosen = list(hosts)
        if not chosen:
            return []
        return list(zip(chosen, self._hosts_pool().map(job, chosen), strict=True))

    def _agent_arguments(self, host: str) -> dict[str, Any]:
        """The keyword arguments of ``host``'s :class:`HostAgent` (after its cameras)."""
        return {
            "capture_timeout_s": self.capture_timeout_s,
            "clock_error_ns": self.clock_errors_ns.get(host, 0),
            "release_priority": self.release_priority,
        }

    def _agent_options(self, ray: Any, state: HostState) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_cpus": 0,
            "max_restarts": self.max_restarts,
            "max_task_retries": 0,
            "max_concurrency": _AGENT_THREADS,
        }
        if state.host:
            options["resources"] = {host_resource(state.host): 1}
        else:
            strategies = importlib.import_module("ray.util.scheduling_strategies")
            here = ray.get_runtime_context().get_node_id()
            options["scheduling_strategy"] = strategies.NodeAffinitySchedulingStrategy(
                node_id=here, soft=False
            )
        return options

    # -- calling the agents ----------------------------------------------------------------------

    def _get(self, state: HostState, ref: Any, timeout_s: float) -> Any:
        """A call's result, or raise :class:`_HostDown` saying why the host is unavailable."""
        ray = _ray()
        exceptions = importlib.import_module("ray.exceptions")
        try:
            return ray.get(ref, timeout=timeout_s)
        except exceptions.GetTimeoutError:
            raise _HostDown(f"no answer within {timeout_s:.0f} s") from None
        except exceptions.ActorUnavailableError as exc:
            raise _HostDown(f"unavailable, restarting? ({_first_line(exc)})") from None
        except exceptions.ActorDiedError as exc:
            state.dead = True
            raise _HostDown(f"its agent died ({_first_line(exc)})") from None
        except exceptions.RayActorError as exc:
            raise _HostDown(f"its agent failed ({_first_line(exc)})") from None
        except exceptions.RayTaskError as exc:
            # A bug in the agent's operation: one line, the rest of the rig goes on.
            raise _HostDown(f"its agent raised {_first_line(exc)}") from None

    def _call(
        self,
        state: HostState,
        method: str,
        *args: Any,
        timeout_s: float | None = None,
    ) -> Any:
        if state.actor is None or state.dead:
            raise _HostDown(state.error or "its agent is gone")
        ref = getattr(state.actor, method).remote(*args)
        try:
            result = self._get(state, ref, timeout_s or self.call_timeout_s)
        except _HostDown as exc:
            state.error = str(exc)
            log.warning("camera host %s: %s", state.host or "(controller)", exc)
            raise
        return result

    def _refresh(self, state: HostState) -> None:
        """Ask the agent who it is; a restarted agent (new process) gets the rig's settings
        again. Raises :class:`_HostDown`."""
        identity = self._call(state, "identity", timeout_s=self.call_timeout_s)
        restarted = state.started_ns is not None and identity["started_ns"] != state.started_ns
        state.node_id = identity["node_id"]
        state.hostname = identity["hostname"]
        state.pid = identity["pid"]
        state.started_ns = identity["started_ns"]
        state.error = None
        if restarted:
            state.restarts += 1
            state.offset = state.measured_ns = None  # another process: measured again
            log.warning(
                "camera host %s: its agent was restarted (pid %s); setting the rig's "
                "properties again",
                state.host,
                state.pid,
            )
            for name, value in self._settings.items():
                self._call(state, "set_property", name, value)

    def _fan(
        self,
        method: str,
        args: tuple[Any, ...],
        failed: Callable[[HostState, str], list[_T]],
        *,
        timeout_s: float | None = None,
    ) -> dict[str, list[_T]]:
        """``method(*args)`` on every host at once: host -> its outcomes, or ``failed``'s for a
        host that is down (each of its cameras told why)."""

        def job(state: HostState) -> list[_T]:
            try:
                # Every operation starts by asking the agent who it is: a restarted agent is
                # found (and given the rig's settings again) before it is asked to work.
                self._refresh(state)
                result: list[_T] = self._call(state, method, *args, timeout_s=timeout_s)
            except _HostDown as exc:
                return failed(state, f"camera host {state.host or '(controller)'}: {exc}")
            return result

        return {state.host: result for state, result in self._each_host(self._hosts.values(), job)}

    def _in_order(self, by_host: dict[str, list[_T]]) -> list[_T]:
        """Outcomes in the rig's camera order (a host's outcomes naming its cameras)."""
        place = {spec.name: number for number, spec in enumerate(self._order)}
        merged = [item for items in by_host.values() for item in items]
        return sorted(merged, key=lambda item: place.get(getattr(item, "camera", ""), len(place)))

    def _base(self, state: HostState, spec: CameraSpec) -> dict[str, Any]:
        return {"camera": spec.name, "index": spec.index, "host": state.host or state.hostname}

    # -- the contract ------------------------------------------------------------------------------

    def open(self, cameras: Sequence[CameraSpec]) -> list[CameraStatus]:
        """Start one agent per camera host (on the node that offers its resource), each opening
        its cameras; every camera's status, in the order given."""
        self.close()
        ray = self._connect()
        self._order = list(cameras)
        self._settings = {}
        grouped: dict[str, list[CameraSpec]] = {}
        for spec in cameras:
            grouped.setdefault(self._host_name(spec), []).append(spec)
        offered = set(ray.cluster_resources())
        remote_agent = ray.remote(HostAgent)
        for host, specs in grouped.items():
            state = HostState(host=host, cameras=tuple(specs))
            self._hosts[host] = state
            if host and host_resource(host) not in offered:
                state.dead = True
                state.error = (
                    f"no Ray node offers the resource {host_resource(host)} (start that host "
                    f"with: ray start --address HEAD --resources "
                    f"'{{\"{host_resource(host)}\": 1}}')"
                )
                continue
            state.actor = remote_agent.options(**self._agent_options(ray, state)).remote(
                host, state.cameras, **self._agent_arguments(host)
            )
        by_host = self._fan("opened_status", (), self._failed_status)
        return self._in_order(by_host)

    def _failed_status(self, state: HostState, why: str) -> list[CameraStatus]:
        return [
            CameraStatus(
                **self._base(state, spec), ok=False, error=why, state=CameraState.FAILED, url=None
            )
            for spec in state.cameras
        ]

    def close(self) -> None:
        """Close every camera and end the agents (and the Ray connection this backend made)."""
        if self._hosts:
            ray = _ray()

            def job(state: HostState) -> None:
                if state.actor is None:
                    return
                with contextlib.suppress(_HostDown):
                    if not state.dead:
                        self._call(state, "close", timeout_s=self.call_timeout_s)
                with contextlib.suppress(Exception):
                    ray.kill(state.actor, no_restart=True)

            self._each_host(self._hosts.values(), job)
            self._hosts = {}
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._connected_here:
            _ray().shutdown()
            self._connected_here = False

    def status(self) -> list[CameraStatus]:
        return self._in_order(self._fan("status", (), self._failed_status))

    def hosts(self) -> list[HostState]:
        """Every camera host as last seen (call :meth:`status` first for a fresh look)."""
        return list(self._hosts.values())

    def set_property(self, name: str, value: str) -> list[SetOutcome]:
        def failed(state: HostState, why: str) -> list[SetOutcome]:
            return [
                SetOutcome(
                    **self._base(state, spec), ok=False, error=why, prop=name, requested=value
                )
                for spec in state.cameras
            ]

        outcomes = self._in_order(self._fan("set_property", (name, value), failed))
        self._settings.pop(name, None)
        self._settings[name] = value
        return outcomes

    def prepare(self) -> list[CameraOutcome]:
        """Half press where the vendor has it, on every host; and every host's clock offset
        measured now, before the rig sets its deadline (the measurement's round trips must not
        eat into the deadline's lead)."""

        def failed(state: HostState, why: str) -> list[CameraOutcome]:
            return [
                CameraOutcome(**self._base(state, spec), ok=False, error=why)
                for spec in state.cameras
            ]

        outcomes = self._in_order(self._fan("prepare", (), failed))
        self.measure_clocks()
        return outcomes

    def measure_clocks(self) -> dict[str, ClockOffset | None]:
        """Every host's clock offset now (None for a host that did not answer)."""

        def job(state: HostState) -> ClockOffset | None:
            if state.actor is None or state.dead:
                return None
            try:
                self._refresh(state)
                self._measure(state)
            except _HostDown as exc:
                state.error = str(exc)
                return None
            return state.offset

        return {state.host: offset for state, offset in self._each_host(self._hosts.values(), job)}

    def _measure(self, state: HostState) -> ClockOffset:
        def read() -> int:
            value: int = self._get(state, state.actor.clock_ns.remote(), self.call_timeout_s)
            return value

        state.offset = cristian_offset(read, rounds=self.clock_rounds, wall_ns=self._wall_ns)
        state.measured_ns = self._wall_ns()
        return state.offset

    def _offset_for(self, state: HostState) -> ClockOffset:
        """The host's offset: the one measured last unless it is older than
        :data:`CLOCK_MAX_AGE_S` (or the agent restarted since), else measured now."""
        offset, measured_ns = state.offset, state.measured_ns
        if (
            offset is None
            or measured_ns is None
            or self._wall_ns() - measured_ns > CLOCK_MAX_AGE_S * 1e9
        ):
            offset = self._measure(state)
        return offset

    def release_at(self, deadline_wall_s: float, shot: int) -> list[ReleaseOutcome]:
        """Every host releases its cameras at the deadline (its own clock, or shifted by its
        measured offset with ``correct_clocks``); each outcome carries the host's offset."""
        deadline_ns = round(deadline_wall_s * 1e9)
        wait_s = max(0.0, (deadline_ns - self._wall_ns()) / 1e9)
        timeout_s = wait_s + self.capture_timeout_s + CALL_MARGIN_S

        def failed(state: HostState, why: str) -> list[ReleaseOutcome]:
            return [
                ReleaseOutcome(
                    **self._base(state, spec),
                    ok=False,
                    error=why,
                    shot=shot,
                    deadline_ns=deadline_ns,
                )
                for spec in state.cameras
            ]

        def job(state: HostState) -> list[ReleaseOutcome]:
            try:
                self._refresh(state)
                offset = self._offset_for(state)
                host_deadline_s = deadline_wall_s
                if self.correct_clocks:
                    host_deadline_s = (deadline_ns - offset.offset_ns) / 1e9
                got: list[ReleaseOutcome] = self._call(
                    state, "release_at", host_deadline_s, shot, timeout_s=timeout_s
                )
            except _HostDown as exc:
                return failed(state, f"camera host {state.host or '(controller)'}: {exc}")
            return [
                dataclasses.replace(
                    outcome,
                    deadline_ns=deadline_ns,
                    clock_offset_ns=offset.offset_ns,
                    clock_source="cristian",
                    detail="; ".join(part for part in (outcome.detail, offset.describe()) if part),
                )
                for outcome in got
            ]

        by_host = {s.host: r for s, r in self._each_host(self._hosts.values(), job)}
        return self._in_order(by_host)

    def download(
        self,
        files: Sequence[ShotFile],
        layout: str,
        destination: str,
        *,
        progress: RigProgress | None = None,
    ) -> list[DownloadOutcome]:
        """Download every host's files (see ``files`` in the module's docstring). The outcomes
        say where each file is: ``host`` and ``path``."""
        camera_host = {spec.name: self._host_name(spec) for spec in self._order}
        per_host: dict[str, list[ShotFile]] = {}
        for item in files:
            per_host.setdefault(camera_host.get(item.camera, ""), []).append(item)

        def failed_files(state: HostState, why: str) -> list[DownloadOutcome]:
            return [
                DownloadOutcome(
                    camera=item.camera,
                    index=item.index,
                    host=state.host or state.hostname,
                    ok=False,
                    error=why,
                    shot=item.shot,
                    source=item.path,
                    size=item.size,
                )
                for item in per_host.get(state.host, [])
            ]

        unknown = [
            DownloadOutcome(
                camera=item.camera,
                index=item.index,
                host=item.host,
                ok=False,
                error=f"{item.camera} is not a camera of this rig",
                shot=item.shot,
                source=item.path,
                size=item.size,
            )
            for item in files
            if item.camera not in camera_host
        ]

        def job(state: HostState) -> list[DownloadOutcome]:
            mine = per_host.get(state.host, [])
            if not mine:
                return []
            try:
                self._refresh(state)
                if self.files == "controller":
                    staged = self._call(state, "download_staged", mine, layout)
                    return self._gather(state, staged, Path(destination), progress)
                got: list[DownloadOutcome] = self._call(
                    state, "download", mine, layout, destination
                )
            except _HostDown as exc:
                return failed_files(state, f"camera host {state.host}: {exc}")
            if self.files == "shared":
                return [
                    dataclasses.replace(o, detail="in the shared folder") if o.ok else o
                    for o in got
                ]
            return got

        by_host = {s.host: r for s, r in self._each_host(self._hosts.values(), job)}
        return self._in_order(by_host) + unknown

    def _gather(
        self,
        state: HostState,
        staged: list[tuple[DownloadOutcome, str | None]],
        root: Path,
        progress: RigProgress | None,
    ) -> list[DownloadOutcome]:
        """Pull a host's staged files to ``root`` on the controller, a file at a time with
        :data:`CHUNKS_IN_FLIGHT` chunks of :data:`CHUNK_BYTES` asked ahead."""
        here = socket.gethostname()
        out = []
        for outcome, relative in staged:
            if not outcome.ok or relative is None or outcome.path is None:
                out.append(outcome)
                continue
            final = root / relative
            try:
                size, skipped = self._pull(state, outcome, final, progress)
            except _HostDown as exc:
                why = f"camera host {state.host}: {exc}"
                out.append(dataclasses.replace(outcome, ok=False, path=None, error=why))
                continue
            except OSError as exc:
                why = describe_failure(exc)
                out.append(dataclasses.replace(outcome, ok=False, path=None, error=why))
                continue
            out.append(
                dataclasses.replace(
                    outcome,
                    host=here,
                    path=os.fspath(final),
                    size=size,
                    skipped=skipped,
                    detail=f"gathered from {state.host}",
                )
            )
            with contextlib.suppress(_HostDown):
                self._call(state, "discard", outcome.path)
        return out

    def _pull(
        self,
        state: HostState,
        outcome: DownloadOutcome,
        final: Path,
        progress: RigProgress | None,
    ) -> tuple[int, bool]:
        """Pull one staged file to ``final``: its size, and whether it was there already."""
        from ptpkit.client.files import writing  # noqa: PLC0415

        assert outcome.path is not None
        total = outcome.size
        if final.is_file() and not final.is_symlink() and final.stat().st_size == total:
            return total, True  # gathered before (a download run again): left as it is
        final.parent.mkdir(parents=True, exist_ok=True)
        done = 0
        with writing(final) as file:
            pending: list[Any] = []
            asked = 0
            while done < total or pending:
                while len(pending) < CHUNKS_IN_FLIGHT and asked < total:
                    length = min(CHUNK_BYTES, total - asked)
                    pending.append(state.actor.read_chunk.remote(outcome.path, asked, length))
                    asked += length
                if not pending:
                    break
                chunk: bytes = self._get(state, pending.pop(0), self.call_timeout_s)
                if not chunk:
                    raise OSError(
                        f"{outcome.path} on {state.host} ended at {done} of {total} bytes"
                    )
                file.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(outcome.camera, outcome.source, done, total)
        return done, False

    def live_frames(self) -> list[FrameOutcome]:
        def failed(state: HostState, why: str) -> list[FrameOutcome]:
            return [
                FrameOutcome(**self._base(state, spec), ok=False, error=why)
                for spec in state.cameras
            ]

        return self._in_order(self._fan("live_frames", (), failed))

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _HostDown(Exception):
    """A camera host did not answer (its agent died, is restarting, or timed out)."""


def split_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of a Ray address: ``HOST:PORT`` (the head's GCS, 6379 when no port is
    given) or ``ray://HOST:PORT`` (Ray Client, 10001); ``[::1]:PORT`` for IPv6."""
    client = address.startswith("ray://")
    rest = address[len("ray://") :] if client else address
    default = 10001 if client else 6379
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
    else:
        host, port_text = rest, ""
    if not host:
        raise UsageError(f"{address!r} is not a Ray address (auto, HOST:PORT, ray://HOST:PORT)")
    try:
        port = int(port_text) if port_text else default
    except ValueError:
        raise UsageError(f"{address!r}: the port must be a number") from None
    if not 0 < port < 65536:
        raise UsageError(f"{address!r}: the port must be 1 to 65535")
    return host, port


def _probe(address: str, timeout_s: float) -> None:
    """A :class:`ConnectError` now when nothing answers at ``address``: Ray itself retries an
    unreachable head for minutes, and a rig's call is bounded."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConnectError(
            f"no Ray cluster answers at {address} ({reason}): is the head running "
            "(ray start --head), and is the address right?"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def backend_for(cluster: str, spec: RigSpec, **options: Any) -> RayBackend:
    """The backend :class:`ptpkit.rig.Rig` uses for ``cluster=...`` (``"auto"``,
    ``"ray://HOST:PORT"``, ``"HOST:PORT"``)."""
    del spec  # the cameras come with open(); every host is known then
    return RayBackend(cluster, **options)
