"""The rig backend for cameras on this computer: one thread per camera, the sync Camera.

Releasing at a deadline: every camera's thread arms its capture (:meth:`Camera.arm_capture`:
whatever comes before the release done, the release's request encoded with its transaction id
reserved) and parks on a gate (a lock of its own). The calling thread sleeps until shortly
before the deadline, then spins on the wall clock, and at the deadline sends every armed
camera's request itself, one after another in a tight loop (a send each, no thread to wake),
then opens the gates: each camera's thread reads its answer and finishes the capture (the
vendor's follow-up, the wait for the picture).

A camera whose capture cannot be armed (a link without a raw send, a vendor that captures its
own way: see :meth:`Camera.arm_capture`) captures when its gate opens, as every camera did
before: its woken thread records the time and runs the capture at once. One spinning thread
rather than one per camera: Python's threads share one interpreter lock, and thirty spinning
threads would take turns of 5 ms (the switch interval) and spread the releases over that much;
the woken threads still send one after another under the interpreter lock, about 0.06 ms of
Python each before the request is on the wire, which is what arming saves.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat as _stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

from ptpkit._log import get_logger
from ptpkit.errors import DeviceBusyError, PTPError, UsageError
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
from ptpkit.rig.layouts import layout_for
from ptpkit.rig.spec import CameraSpec

if TYPE_CHECKING:
    from ptpkit.client.camera import Camera
    from ptpkit.client.capture import ArmedCapture

__all__ = [
    "DEFAULT_RELEASE_PRIORITY",
    "LocalBackend",
    "check_release_priority",
    "describe_failure",
]

_T = TypeVar("_T")
log = get_logger(__name__)


#: How long before the deadline the caller stops sleeping and spins on the clock: a sleep
#: overshoots by up to a scheduler tick.
SPIN_S: Final = 0.002


#: The real-time priority a release runs at by default (Linux SCHED_FIFO, 1-99), where the
#: system allows it: above every normal task (so the camera processes, or other work, woken by
#: the sends cannot preempt the sending thread mid-loop), low among real-time ones: below the
#: kernel's own threaded interrupt handlers (SCHED_FIFO 50) and anything set up to matter more.
#: It holds the thread for the last 2 ms of the wait (:data:`SPIN_S`) and the sends, no longer.
DEFAULT_RELEASE_PRIORITY: Final = 10


def check_release_priority(priority: int | None) -> int | None:
    """``priority`` as a release's: 1-99 (SCHED_FIFO), or None for the normal priority (0 and
    None: real-time off)."""
    if priority is None or priority == 0:
        return None
    if not 1 <= priority <= 99:
        raise UsageError(f"the release priority must be 1 to 99 (0: off), not {priority}")
    return priority


@contextlib.contextmanager
def _release_priority(priority: int | None) -> Iterator[int | None]:
    """The calling thread at the real-time priority ``priority`` (Linux SCHED_FIFO) for the
    block, where the system allows it (root, CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least
    it), and at its own policy again after; the priority it runs at (None: the normal one).
    None: left as it is, nothing asked of the system."""
    if priority is None or not hasattr(os, "sched_setscheduler"):
        yield None
        return
    try:
        # pid 0: the calling thread (Linux sets a thread's policy, not the process's).
        policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, ValueError) as exc:
        log.debug("release at the normal priority: SCHED_FIFO %d refused (%s)", priority, exc)
        yield None
        return
    try:
        yield priority
    finally:
        os.sched_setscheduler(0, policy, param)


def describe_failure(exc: BaseException) -> str:
    """One line for a camera's failure."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    kind = type(exc).__name__
    return f"{kind}: {line}" if line else kind


def _connect(url: str) -> Camera:
    from ptpkit.client.connect import connect  # noqa: PLC0415

    return connect(url)


@dataclass
class _Slot:
    spec: CameraSpec
    camera: Camera | None = None
    state: CameraState = CameraState.FAILED
    error: str | None = None
    detail: str | None = None
    model: str | None = None
    serial: str | None = None
    manufacturer: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalBackend:
    """Drives the cameras attached to (or reached from) this computer.

    ``connect``: URL -> open Camera (default :func:`ptpkit.connect`). ``wall_ns`` and ``sleep``
    are the clock the deadline is kept on (a test's fake clock); ``host`` names this computer in
    outcomes (default its hostname).

    ``release_priority`` (Linux): the calling thread waits for the deadline and sends the
    armed requests at this real-time priority (SCHED_FIFO 1-99, default
    :data:`DEFAULT_RELEASE_PRIORITY`; it spins for the last 2 ms at it), then goes back to its
    own, where the system allows it (root, CAP_SYS_NICE or an RLIMIT_RTPRIO); refused, the
    release goes on at the normal priority. None or 0: the normal priority, nothing asked.
    Each release's outcomes say which it ran at (:attr:`ReleaseOutcome.release_priority`). On a
    loaded computer the scheduler otherwise preempts the sending thread for a time slice (about
    4 ms) in the middle of the loop now and then: that, not Python, is what spreads a large
    rig's requests.
    """

    def __init__(
        self,
        *,
        connect: Callable[[str], Camera] = _connect,
        host: str | None = None,
        capture_timeout_s: float = 30.0,
        wall_ns: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], None] = time.sleep,
        clock_offset_ns: int = 0,
        clock_source: str = "local",
        release_priority: int | None = DEFAULT_RELEASE_PRIORITY,
    ) -> None:
        self._connect = connect
        self.release_priority = check_release_priority(release_priority)
        self.host = host or socket.gethostname()
        self.capture_timeout_s = capture_timeout_s
        self._wall_ns = wall_ns
        self._sleep = sleep
        self.clock_offset_ns = clock_offset_ns
        self.clock_source = clock_source
        self._slots: list[_Slot] = []
        self._pool: ThreadPoolExecutor | None = None
        self._pool_threads = 0

    # -- running on every camera at once -----------------------------------------------------------

    def _each(self, slots: Sequence[_Slot], job: Callable[[_Slot], _T]) -> list[_T]:
        """``job`` on every slot in parallel (one thread each), results in order."""
        if not slots:
            return []
        pool = self._pool_for(len(slots))
        return list(pool.map(job, slots))

    def _open_slots(self) -> list[_Slot]:
        return [slot for slot in self._slots if slot.camera is not None]

    def _outcome(self, slot: _Slot, **fields: object) -> dict[str, object]:
        return {"camera": slot.spec.name, "index": slot.spec.index, "host": self.host, **fields}

    def _fail(self, slot: _Slot, exc: BaseException) -> str:
        """Mark a camera failed after ``exc`` when its link is gone; the error's line."""
        why = describe_failure(exc)
        from ptpkit.errors import ClosedError, TransportError  # noqa: PLC0415

        if isinstance(exc, (TransportError, ClosedError)):
            slot.state = CameraState.FAILED
            slot.error = why
            camera, slot.camera = slot.camera, None
            if camera is not None:
                _close_quietly(camera, slot.spec.name)
        return why

    # -- the contract --------------------------------------------------------------------------

    def open(self, cameras: Sequence[CameraSpec]) -> list[CameraStatus]:
        self.close()
        self._slots = [_Slot(spec) for spec in cameras]
        self._each(self._slots, self._open_one)
        return self.status()

    def _open_one(self, slot: _Slot) -> None:
        spec = slot.spec
        try:
            camera = self._connect(spec.target)
        except DeviceBusyError as exc:
            slot.state, slot.error = CameraState.BUSY, describe_failure(exc)
            return
        except (PTPError, OSError) as exc:
            slot.state, slot.error = CameraState.FAILED, describe_failure(exc)
            return
        try:
            info = camera.device_info
            slot.model, slot.manufacturer = info.model, info.manufacturer
            slot.serial = info.serial_number.strip() or None
            if spec.serial is not None and slot.serial != spec.serial:
                # Not the camera the rig means (a swapped cable, another camera at that address).
                raise UsageError(
                    f"the camera at {spec.target} has serial number {slot.serial!r}, "
                    f"not {spec.serial!r}"
                )
            problems = []
            for prop, value in spec.settings.items():
                outcome = self._set_one(camera, slot, prop, value)
                if not outcome.ok:
                    problems.append(f"{prop}={value}: {outcome.error}")
            slot.detail = "; ".join(problems) or None
        except (PTPError, OSError) as exc:
            slot.state, slot.error = CameraState.FAILED, describe_failure(exc)
            camera.close()
            return
        slot.camera, slot.state, slot.error = camera, CameraState.CONNECTED, None

    def close(self) -> None:
        for slot in self._slots:
            camera, slot.camera = slot.camera, None
            if camera is not None:
                _close_quietly(camera, slot.spec.name)
            if slot.state is not CameraState.FAILED:
                slot.state = CameraState.CLOSED
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def status(self) -> list[CameraStatus]:
        out = []
        for slot in self._slots:
            state = slot.state
            if slot.camera is not None and slot.lock.locked():
                state = CameraState.BUSY
            out.append(
                CameraStatus(
                    **self._outcome(slot),  # type: ignore[arg-type]
                    ok=state in (CameraState.CONNECTED, CameraState.BUSY),
                    error=slot.error,
                    detail=slot.detail,
                    state=state,
                    url=slot.spec.target if slot.spec.url or slot.spec.serial else None,
                    model=slot.model,
                    serial=slot.serial,
                    manufacturer=slot.manufacturer,
                )
            )
        return out

    def set_property(self, name: str, value: str) -> list[SetOutcome]:
        def job(slot: _Slot) -> SetOutcome:
            camera = slot.camera
            assert camera is not None
            with slot.lock:
                return self._set_one(camera, slot, name, value)

        return self._each(self._open_slots(), job)

    def _set_one(self, camera: Camera, slot: _Slot, name: str, value: str) -> SetOutcome:
        base = self._outcome(slot, prop=name, requested=value)
        try:
            camera.set_property(name, value)
        except (PTPError, OSError) as exc:
            return SetOutcome(**base, ok=False, error=self._fail(slot, exc))  # type: ignore[arg-type]
        try:
            got = camera.get_property_text(name)
            raw = camera.get_property(name)
        except (PTPError, OSError) as exc:
            why = self._fail(slot, exc)
            return SetOutcome(**base, ok=False, error=f"set, but reading it back failed: {why}")  # type: ignore[arg-type]
        verified = _same_value(value, got, raw)
        return SetOutcome(
            **base,  # type: ignore[arg-type]
            ok=verified,
            value=got,
            verified=verified,
            error=None if verified else f"the camera holds {got}, not {value}",
        )

    def prepare(self) -> list[CameraOutcome]:
        def job(slot: _Slot) -> CameraOutcome:
            camera = slot.camera
            assert camera is not None
            # The camera's extension knows its vendor's half press (Camera.half_press); it is
            # held until the capture (a Sony's capture presses and lets go of it itself).
            if camera.half_press_plan() is None:
                return CameraOutcome(
                    **self._outcome(slot),  # type: ignore[arg-type]
                    ok=True,
                    detail="no half press on this camera (standard PTP has none)",
                )
            with slot.lock:
                try:
                    plan = camera.half_press(hold=True)
                except (PTPError, OSError) as exc:
                    why = self._fail(slot, exc)
                    return CameraOutcome(**self._outcome(slot), ok=False, error=why)  # type: ignore[arg-type]
            return CameraOutcome(
                **self._outcome(slot),  # type: ignore[arg-type]
                ok=True,
                detail=f"autofocus ({plan.name} 0x{plan.press.code:04X})",
            )

        return self._each(self._open_slots(), job)

    def release_at(self, deadline_wall_s: float, shot: int) -> list[ReleaseOutcome]:
        deadline_ns = round(deadline_wall_s * 1e9)
        slots = self._open_slots()
        # One lock per camera, held until the deadline: releasing a waiter's own lock wakes it
        # sooner and more evenly than an Event's notify_all (which hands its condition's lock
        # from waiter to waiter).
        gates = [threading.Lock() for _ in slots]
        for gate in gates:
            gate.acquire()
        parked = threading.Semaphore(0)
        # Each camera's armed capture (None: it cannot be armed, it captures when its gate
        # opens), and when the calling thread sent its request (None: never sent).
        armed: list[ArmedCapture | None] = [None] * len(slots)
        fired_ns: list[int | None] = [None] * len(slots)

        def job(index: int, slot: _Slot, gate: threading.Lock) -> ReleaseOutcome:
            camera = slot.camera
            assert camera is not None
            base = self._outcome(
                slot,
                shot=shot,
                deadline_ns=deadline_ns,
                clock_offset_ns=self.clock_offset_ns,
                clock_source=self.clock_source,
            )
            with slot.lock:
                try:
                    try:
                        armed[index] = camera.arm_capture(timeout_s=self.capture_timeout_s)
                    finally:
                        parked.release()  # armed, or failing: never keep the caller waiting
                except (PTPError, OSError) as exc:
                    return ReleaseOutcome(**base, ok=False, error=self._fail(slot, exc))  # type: ignore[arg-type]
                gate.acquire()
                capture = armed[index]
                released_ns = fired_ns[index] if capture is not None else self._wall_ns()
                try:
                    if capture is None:
                        result = camera.capture(timeout_s=self.capture_timeout_s)
                    elif released_ns is None:
                        # The release was abandoned before this camera's turn: nothing went.
                        capture.disarm()
                        return ReleaseOutcome(
                            **base,  # type: ignore[arg-type]
                            ok=False,
                            error="the release was abandoned before the deadline",
                        )
                    else:
                        result = capture.finish()
                except (PTPError, OSError) as exc:
                    return ReleaseOutcome(
                        **base,  # type: ignore[arg-type]
                        ok=False,
                        error=self._fail(slot, exc),
                        released_ns=released_ns,
                        completed_ns=self._wall_ns(),
                    )
                completed_ns = self._wall_ns()
                files = tuple(
                    ShotFile(
                        camera=slot.spec.name,
                        index=slot.spec.index,
                        shot=shot,
                        handle=entry.handle,
                        name=entry.name,
                        path=entry.path,
                        size=entry.size,
                        host=self.host,
                        in_memory=entry.in_memory,
                    )
                    for entry in result
                    if not entry.is_folder
                )
            return ReleaseOutcome(
                **base,  # type: ignore[arg-type]
                ok=bool(files),
                error=None if files else "the capture made no file",
                released_ns=released_ns,
                completed_ns=completed_ns,
                files=files,
            )

        if not slots:
            return []
        # The capture service is loaded on a camera's first capture: load it now, or the first
        # shot's threads would queue on the import lock after the gate opens (7 ms of skew).
        import ptpkit.client.capture  # noqa: F401, PLC0415

        pool = self._pool_for(len(slots))
        futures = [
            pool.submit(job, index, slot, gate)
            for index, (slot, gate) in enumerate(zip(slots, gates, strict=True))
        ]
        try:
            for _ in slots:  # every camera armed (or not) and parked (a busy camera waits here)
                parked.acquire()
            with _release_priority(self.release_priority) as ran_at:
                self._wait_until(deadline_ns)
                # The armed cameras' requests, one send each from this thread: no thread to
                # wake, no Python of the capture between one camera's request and the next's.
                wall_ns = self._wall_ns
                for index, capture in enumerate(armed):
                    if capture is not None:
                        capture.fire()  # a failed send is that camera's error (finish raises it)
                        fired_ns[index] = wall_ns()
        finally:
            # Then the threads: each finishes its armed capture (or disarms one never fired),
            # or captures now when its camera could not be armed.
            for gate in gates:
                gate.release()
        # The real-time priority the sends went at (None: the normal one), every camera's.
        return [replace(future.result(), release_priority=ran_at) for future in futures]

    def _pool_for(self, count: int) -> ThreadPoolExecutor:
        """The worker threads: at least one per camera, so that every camera waits at once."""
        pool = self._pool
        if pool is None or self._pool_threads < count:
            if pool is not None:
                pool.shutdown(wait=False)
            self._pool_threads = max(count, 4)
            pool = self._pool = ThreadPoolExecutor(
                max_workers=self._pool_threads, thread_name_prefix="ptpkit-rig"
            )
        return pool

    def _wait_until(self, deadline_ns: int) -> None:
        """Sleep until shortly before ``deadline_ns`` (wall clock), then spin until it."""
        while True:
            left_s = (deadline_ns - self._wall_ns()) / 1e9
            if left_s <= 0:
                return
            if left_s > SPIN_S:
                self._sleep(left_s - SPIN_S)

    def download(
        self,
        files: Sequence[ShotFile],
        layout: str,
        destination: str,
        *,
        progress: RigProgress | None = None,
    ) -> list[DownloadOutcome]:
        chosen = layout_for(layout)
        root = Path(destination)
        by_camera = {slot.spec.name: slot for slot in self._slots}
        plans: dict[str, list[tuple[ShotFile, Path | None, str | None]]] = {}
        taken: dict[Path, ShotFile] = {}
        for item in files:
            slot = by_camera.get(item.camera)
            if slot is None:
                continue  # another host's camera
            relative = chosen.path_for(
                shot=item.shot,
                camera=slot.spec.name,
                index=slot.spec.index,
                name=item.name,
                serial=slot.serial or slot.spec.serial,
            )
            target = root / relative
            clash = taken.get(target)
            if clash is not None:
                plans.setdefault(item.camera, []).append(
                    (item, None, f"the layout gives {relative} to {clash.path} too")
                )
                continue
            taken[target] = item
            plans.setdefault(item.camera, []).append((item, target, None))

        def job(slot: _Slot) -> list[DownloadOutcome]:
            return [
                self._download_one(slot, item, target, problem, progress)
                for item, target, problem in plans.get(slot.spec.name, [])
            ]

        chosen_slots = [by_camera[name] for name in plans]
        return [outcome for batch in self._each(chosen_slots, job) for outcome in batch]

    def _download_one(
        self,
        slot: _Slot,
        item: ShotFile,
        target: Path | None,
        problem: str | None,
        progress: RigProgress | None,
    ) -> DownloadOutcome:
        base = self._outcome(slot, shot=item.shot, source=item.path, size=item.size)
        if target is None:
            return DownloadOutcome(**base, ok=False, error=problem)  # type: ignore[arg-type]
        if item.in_memory and not item.handle:
            why = (
                "the picture was held in the camera's memory by the session that took it "
                "(download it in the same run: rig capture --download)"
            )
            return DownloadOutcome(**base, ok=False, error=why)  # type: ignore[arg-type]
        camera = slot.camera
        if camera is None:
            why = slot.error or "the camera is not open"
            return DownloadOutcome(**base, ok=False, error=why)  # type: ignore[arg-type]
        if _complete_copy(target, item.size):
            # Already downloaded by an earlier run: the file is ptpkit's (a download is
            # published only when complete) and has the object's size.
            return DownloadOutcome(**base, ok=True, path=str(target), skipped=True)  # type: ignore[arg-type]

        def report(done: int, total: int | None = None) -> None:
            if progress is not None:
                progress(item.camera, item.path, done, total or item.size)

        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with slot.lock:
                # Handle 0: a file named by its path (a handle of an earlier session means nothing).
                final = camera.download(item.handle or item.path, target, progress=report)
        except (PTPError, OSError) as exc:
            why = describe_failure(exc)
            if isinstance(exc, PTPError):
                why = self._fail(slot, exc)
            return DownloadOutcome(**base, ok=False, error=why)  # type: ignore[arg-type]
        return DownloadOutcome(**base, ok=True, path=os.fspath(final or target))  # type: ignore[arg-type]

    def live_frames(self) -> list[FrameOutcome]:
        def job(slot: _Slot) -> FrameOutcome:
            camera = slot.camera
            assert camera is not None
            try:
                with slot.lock:
                    frame = camera.capture_preview()
            except (PTPError, OSError) as exc:
                return FrameOutcome(**self._outcome(slot), ok=False, error=self._fail(slot, exc))  # type: ignore[arg-type]
            return FrameOutcome(
                **self._outcome(slot),  # type: ignore[arg-type]
                ok=True,
                jpeg=frame.jpeg,
                width=frame.width,
                height=frame.height,
            )

        return self._each(self._open_slots(), job)

    # -- for tests and the Rig --------------------------------------------------------------------

    def cameras(self) -> Iterable[tuple[CameraSpec, Camera | None]]:
        """Each camera's spec and its open Camera (None when not open)."""
        return [(slot.spec, slot.camera) for slot in self._slots]

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_quietly(camera: Camera, name: str) -> None:
    """Close a camera; a failure is logged, not raised: closing goes on for the other cameras,
    and a dead link may fail to close (it is gone anyway)."""
    try:
        camera.close()
    except Exception as exc:
        log.debug("rig camera %s: closing failed: %s", name, describe_failure(exc))


def _same_value(requested: str, text: str, raw: object) -> bool:
    """Whether the value read back is the one asked for (as text, or the raw value)."""
    want = requested.strip().lower()
    if text.strip().lower() == want or str(raw).strip().lower() == want:
        return True
    # "100" against "ISO 100", "1/125" against "1/125 s": the camera's text with a unit.
    words = text.strip().lower().replace(",", " ").split()
    return want in words


def _complete_copy(path: Path, size: int) -> bool:
    try:
        stat = path.lstat()
    except OSError:
        return False
    return _stat.S_ISREG(stat.st_mode) and stat.st_size == size
