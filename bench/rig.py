"""Rigs (issue 18 §3): 16 and 32 virtual cameras, each ``ptpkit virtual serve`` in its own
process on 127.0.0.1, released together by ptpkit's rig, against 32 sequential
``gphoto2 --capture-image-and-download`` runs on the same cameras.

Measured, per contender:

- **trigger skew at the cameras**: every virtual camera logs when each capture request reached
  it (``virtual serve --capture-log``: the kernel's receive stamp of the request's packet,
  SO_TIMESTAMPNS) and when its process got to fire the shutter; each shot's skew is every
  camera's time after the earliest one's; median, p95 and max over every camera of every shot
  (target p95 < 5 ms). The arrival is the trigger's skew; the shutter's adds the virtual
  cameras' own scheduling: 16 or 32 processes each making a 1200x800 JPEG (~20 ms of CPU) on
  this computer's cores, where real cameras have processors of their own;
- **trigger to files on disk**: from the release deadline (ptpkit) or the first gphoto2 start
  to the last file written;
- **aggregate download rate**: the shot's bytes over that time (ptpkit's library: over the
  download alone too).

Contenders: the library (``ptpkit.Rig``: sessions opened untimed before each run, as a
program holding its rig open does; the timed run is capture then download), the command
(``ptpkit rig --rig FILE capture --download DIR``: process start, opening every camera, capture,
download), and gphoto2 (one process per camera, one after another: what a script around gphoto2
does). They alternate round by round (bench/harness.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import MiB
from bench.harness import Contender, compare, header, note, rounds, table
from bench.ptpip import command_env, ptpkit_command

#: Rig sizes measured; the gphoto2 baseline runs on the largest.
SIZES = (16, 32)
#: The virtual cameras stand for devices with processors of their own: on a computer with two
#: cores, 32 of them making JPEGs at once would take the CPU from the computer under test (the
#: rig's own threads sending their requests), so they run at a lower priority.
NICE = ("nice", "-n", "10") if shutil.which("nice") else ()
#: Skew target at the cameras (issue 18 §3).
TARGET_P95_MS = 5.0
#: BENCH_RIG_ONLY=library: the library contender alone (the skew, without the command's and
#: gphoto2's rounds: many rounds of it fit in the time on a shared computer);
#: BENCH_RIG_SIZES=32 (comma-separated): only these rig sizes.
ONLY_LIBRARY = os.environ.get("BENCH_RIG_ONLY", "") == "library"
#: BENCH_RIG_PRIORITY=20: the release at that real-time priority (Rig(release_priority=...),
#: `rig capture --release-priority`, where the system allows it); 0: at the normal priority
#: (`--no-realtime`), to measure without; unset: the library's default.
PRIORITY = int(os.environ["BENCH_RIG_PRIORITY"]) if os.environ.get("BENCH_RIG_PRIORITY") else None


def _sizes() -> tuple[int, ...]:
    text = os.environ.get("BENCH_RIG_SIZES", "")
    return tuple(int(part) for part in text.split(",") if part.strip()) or SIZES


@dataclass
class _Camera:
    url: str
    serial: str
    log: Path
    process: subprocess.Popen[str]
    #: Lines of the capture log already read.
    seen: int = 0

    def new_captures(self) -> list[tuple[int, int]]:
        """(request arrived, shutter fired) of each release since the last call."""
        text = self.log.read_text(encoding="ascii") if self.log.exists() else ""
        lines = text.splitlines()
        fresh = [tuple(int(v) for v in line.split()) for line in lines[self.seen :]]
        self.seen = len(lines)
        return [(pair[0], pair[1]) for pair in fresh]


@contextlib.contextmanager
def _cameras(tmp: Path, count: int) -> Iterator[list[_Camera]]:
    """``count`` virtual cameras, each ``ptpkit virtual serve`` in its own process, started
    together."""
    cameras: list[_Camera] = []
    try:
        for index in range(count):
            card = tmp / f"card{index:02d}"
            card.mkdir()
            serial = f"RIG-{index:02d}"
            log = tmp / f"captures{index:02d}.log"
            process = subprocess.Popen(
                [
                    *NICE,
                    sys.executable,
                    "-m",
                    "ptpkit",
                    "virtual",
                    "serve",
                    "--root",
                    str(card),
                    "--port",
                    "0",
                    "--model-option",
                    f"serial={serial}",
                    "--capture-log",
                    str(log),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            cameras.append(_Camera(url="", serial=serial, log=log, process=process))
        for camera in cameras:
            assert camera.process.stdout is not None
            for line in camera.process.stdout:
                if line.startswith("listening on "):
                    camera.url = line.split()[-1]
                    break
            if not camera.url:
                raise RuntimeError("ptpkit virtual serve did not start")
        yield cameras
    finally:
        for camera in cameras:
            camera.process.terminate()
        for camera in cameras:
            camera.process.wait(timeout=30)


def _rig_file(path: Path, cameras: list[_Camera]) -> Path:
    tables = [
        f'[[camera]]\nname = "cam{i:02d}"\nurl = "{c.url}"\nserial = "{c.serial}"\nindex = {i}\n'
        for i, c in enumerate(cameras)
    ]
    path.write_text("\n".join(tables), encoding="utf-8")
    return path


@dataclass
class _Figures:
    """What one contender's runs showed besides their duration."""

    #: Each camera's capture request's arrival (the kernel's stamp) after its shot's earliest,
    #: ms, every shot pooled.
    skew_ms: list[float] = field(default_factory=list)
    #: The same for the moment each virtual camera's process got to fire its shutter (its
    #: scheduling on a computer shared with every other virtual camera included).
    fired_skew_ms: list[float] = field(default_factory=list)
    #: Per run: the trigger to the last file on disk, s; bytes downloaded; download phase, s.
    to_disk_s: list[float] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    download_s: list[float] = field(default_factory=list)
    #: Skew as the rig itself recorded it (the time each request went), ms.
    host_skew_ms: list[float] = field(default_factory=list)
    #: Shots by the real-time priority their release ran at (None: the normal priority).
    priorities: Counter[int | None] = field(default_factory=Counter)

    def released_at(self, priorities: Iterable[int | None]) -> None:
        """Count one shot's release priority (its cameras' outcomes say it)."""
        self.priorities.update(set(priorities))

    def shot(self, cameras: list[_Camera]) -> None:
        """Take one shot's release times from the cameras' logs."""
        pairs = [pair for camera in cameras for pair in camera.new_captures()]
        if len(pairs) != len(cameras):
            raise RuntimeError(f"{len(pairs)} releases logged for {len(cameras)} cameras")
        for values, times in (
            (self.skew_ms, [a for a, _ in pairs]),
            (self.fired_skew_ms, [f for _, f in pairs]),
        ):
            earliest = min(times)
            values.extend((t - earliest) / 1e6 for t in times)


def _fresh(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _library(
    spec_path: Path, cameras: list[_Camera], out: Path, figures: _Figures
) -> tuple[Callable[[], None], Callable[[], None], Callable[[], None]]:
    """Setup (a new rig, opened: untimed), run (capture, download), close."""
    from ptpkit.rig import Rig  # noqa: PLC0415
    from ptpkit.rig.local import DEFAULT_RELEASE_PRIORITY  # noqa: PLC0415

    held: list[Rig] = []

    def close() -> None:
        while held:
            held.pop().close()

    def setup() -> None:
        close()
        _fresh(out)
        rig = Rig(
            spec_path,
            release_priority=DEFAULT_RELEASE_PRIORITY if PRIORITY is None else PRIORITY,
        )
        statuses = rig.open()
        failed = [s.camera for s in statuses if not s.ok]
        if failed:
            raise RuntimeError(f"cameras did not open: {failed}")
        held.append(rig)

    def run() -> None:
        rig = held[0]
        (shot,) = rig.capture(1)
        if len(shot.delivered) != len(cameras):
            raise RuntimeError(f"only {len(shot.delivered)} cameras delivered: {shot.failed}")
        started = time.perf_counter()
        outcomes = rig.download([shot], out, layout="shots")
        figures.download_s.append(time.perf_counter() - started)
        figures.to_disk_s.append((time.time_ns() - shot.deadline_ns) / 1e9)
        if not all(o.ok for o in outcomes):
            raise RuntimeError(f"downloads failed: {[o.error for o in outcomes if not o.ok]}")
        figures.bytes.append(sum(o.size for o in outcomes))
        assert shot.skew is not None
        earliest = min(r.released_ns for r in shot.releases if r.released_ns is not None)
        figures.host_skew_ms.extend(
            (r.released_ns - earliest) / 1e6 for r in shot.releases if r.released_ns is not None
        )
        figures.released_at(r.release_priority for r in shot.releases)
        figures.shot(cameras)

    return setup, run, close


def _command(
    spec_path: Path, cameras: list[_Camera], out: Path, env: dict[str, str], figures: _Figures
) -> Callable[[], None]:
    argv = [
        *ptpkit_command(), "rig", "--rig", str(spec_path),
        "capture", "--download", str(out), "--layout", "shots", "--json",
    ]  # fmt: skip
    if PRIORITY is not None:
        argv += ["--no-realtime"] if PRIORITY == 0 else ["--release-priority", str(PRIORITY)]

    def run() -> None:
        done = subprocess.run(argv, env=env, check=False, capture_output=True, text=True)
        ended_ns = time.time_ns()
        if done.returncode != 0:
            raise RuntimeError(f"ptpkit rig capture failed ({done.returncode}): {done.stderr}")
        document = json.loads(done.stdout)
        deadline_ns = document["shots"][0]["deadline_ns"]
        figures.released_at(c["release_priority"] for c in document["shots"][0]["cameras"])
        figures.to_disk_s.append((ended_ns - deadline_ns) / 1e9)
        figures.bytes.append(_folder_bytes(out))
        figures.shot(cameras)

    return run


def _gphoto2(
    gphoto2: str, cameras: list[_Camera], out: Path, env: dict[str, str], figures: _Figures
) -> Callable[[], None]:
    def run() -> None:
        started_ns = time.time_ns()
        for index, camera in enumerate(cameras):
            host_port = camera.url.removeprefix("ptpip:")
            subprocess.run(
                [
                    gphoto2,
                    "--port",
                    f"ptpip:{host_port}",
                    "--capture-image-and-download",
                    "--filename",
                    str(out / f"cam{index:02d}_%f.%C"),
                ],
                env=env,
                cwd=out,
                check=True,
                capture_output=True,
                text=True,
            )
        figures.to_disk_s.append((time.time_ns() - started_ns) / 1e9)
        figures.bytes.append(_folder_bytes(out))
        figures.shot(cameras)

    return run


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    place = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(place) - 1]


def _print_figures(name: str, figures: _Figures, count: int) -> None:
    skew = figures.skew_ms
    note(
        f"{name}: skew at the cameras (request arrival) median {statistics.median(skew):.2f} ms,"
        f" p95 {_percentile(skew, 0.95):.2f} ms, max {max(skew):.2f} ms "
        f"({len(skew) // count} shots x {count} cameras)"
    )
    fired = figures.fired_skew_ms
    note(
        f"{name}: skew of the virtual shutters (their processes scheduled) median "
        f"{statistics.median(fired):.2f} ms, p95 {_percentile(fired, 0.95):.2f} ms, "
        f"max {max(fired):.2f} ms"
    )
    if figures.host_skew_ms:
        host = figures.host_skew_ms
        note(
            f"{name}: skew as the rig recorded it (request out) median "
            f"{statistics.median(host):.2f} ms, p95 {_percentile(host, 0.95):.2f} ms, "
            f"max {max(host):.2f} ms"
        )
    if figures.priorities:
        shots = sum(figures.priorities.values())
        said = ", ".join(
            f"{'normal priority' if priority is None else f'real-time priority {priority}'}"
            f" ({times} of {shots} shots)"
            for priority, times in sorted(figures.priorities.items(), key=lambda i: i[0] or 0)
        )
        note(f"{name}: released at {said}")
    to_disk = figures.to_disk_s
    rates = [b / s / MiB for b, s in zip(figures.bytes, to_disk, strict=True)]
    note(
        f"{name}: trigger to every file on disk best {min(to_disk):.2f} s, median "
        f"{statistics.median(to_disk):.2f} s, worst {max(to_disk):.2f} s; "
        f"{statistics.median(figures.bytes) / MiB:.1f} MiB a shot, "
        f"{statistics.median(rates):.1f} MiB/s over it"
    )
    if figures.download_s:
        phase = [b / s / MiB for b, s in zip(figures.bytes, figures.download_s, strict=True)]
        note(
            f"{name}: download phase alone median {statistics.median(figures.download_s):.2f}"
            f" s, {statistics.median(phase):.1f} MiB/s aggregate"
        )


def _one_size(count: int, round_count: int, gphoto2: str | None) -> None:
    header(
        f"rig of {count} virtual cameras (each its own process, PTP/IP on 127.0.0.1)", round_count
    )
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-rig-") as tmp_name:
        tmp = Path(tmp_name)
        env = command_env(tmp)
        started = time.perf_counter()
        with _cameras(tmp, count) as cameras:
            note(f"{count} cameras serving after {time.perf_counter() - started:.1f} s")
            spec_path = _rig_file(tmp / "rig.toml", cameras)
            library_out, command_out, gphoto2_out = (tmp / n for n in ("lib", "cmd", "gp2"))
            library_figures, command_figures, gphoto2_figures = _Figures(), _Figures(), _Figures()
            setup, run, close = _library(spec_path, cameras, library_out, library_figures)
            contenders = [
                Contender(
                    f"ptpkit.Rig capture + download ({count})",
                    run,
                    setup=setup,
                    fsync="yes",
                    note="sessions open before the timing; capture (prepare, release at a "
                    "deadline 0.1 s ahead) and download to shot_0001/<camera>.JPG",
                ),
            ]
            if not ONLY_LIBRARY:
                contenders.append(
                    Contender(
                        f"ptpkit rig capture --download ({count})",
                        _command(spec_path, cameras, command_out, env, command_figures),
                        setup=lambda: _fresh(command_out),
                        fsync="yes",
                        note="the command whole: start, open every camera, capture, download",
                    )
                )
            if gphoto2 is not None and not ONLY_LIBRARY:
                contenders.append(
                    Contender(
                        f"gphoto2 --capture-image-and-download x{count}",
                        _gphoto2(gphoto2, cameras, gphoto2_out, env, gphoto2_figures),
                        setup=lambda: _fresh(gphoto2_out),
                        fsync="no",
                        note="one gphoto2 process per camera, one after another",
                    )
                )
            try:
                results = compare(contenders, round_count)
            finally:
                close()
    theirs = results.get(f"gphoto2 --capture-image-and-download x{count}")
    table("", list(results.values()), versus=[("gphoto2", theirs)])
    _print_figures("ptpkit.Rig", library_figures, count)
    if command_figures.skew_ms:
        _print_figures("ptpkit rig capture", command_figures, count)
    if theirs is not None:
        _print_figures("gphoto2 sequential", gphoto2_figures, count)
        ours = statistics.median(library_figures.skew_ms)
        spread = [max(gphoto2_figures.skew_ms), max(library_figures.skew_ms)]
        note(
            f"max skew: gphoto2 sequential {spread[0]:.0f} ms against ptpkit.Rig "
            f"{spread[1]:.2f} ms ({spread[0] / max(spread[1], 1e-3):.0f}x); ptpkit median "
            f"{ours:.2f} ms"
        )
    p95 = _percentile(library_figures.skew_ms, 0.95)
    verdict = "PASS" if p95 < TARGET_P95_MS else "FAIL"
    note(
        f"ptpkit.Rig skew p95 {p95:.2f} ms at {count} cameras; target < {TARGET_P95_MS:g} ms: "
        f"{verdict}"
    )
    if gphoto2 is None and count == max(SIZES) and not ONLY_LIBRARY:
        note("gphoto2 not installed: no baseline (apt-get install gphoto2)")


def run() -> None:
    round_count = rounds(3)
    gphoto2 = shutil.which("gphoto2")
    for count in _sizes():
        _one_size(count, round_count, gphoto2 if count == max(SIZES) else None)
        print()


if __name__ == "__main__":
    os.environ.setdefault("BENCH_ROUNDS", "3")
    run()
