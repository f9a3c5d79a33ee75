"""Live view (issue 15 §4): frames per second, latency and CPU per frame of ``cam.live_view()``
against ``gphoto2 --capture-movie`` on the same virtual Canon EOS over PTP/IP on 127.0.0.1.

The camera is ``ptpkit virtual serve --model canon-eos`` in its own process, its live view at
1024x680. Each frame carries its number and the camera's ``time.monotonic_ns()`` when it was
made (a JPEG comment, ptpkit.virtual.livepicture); latency is from that stamp to the moment the
client has the frame (ptpkit: ``LiveFrame.timestamp_s``; gphoto2: the moment its MJPEG on
standard output holds the whole frame, read as it comes). Both clocks are the machine's
CLOCK_MONOTONIC.

Two camera paces:

- 60 fps (the default): the camera gives a frame at most every 16.7 ms. Targets: ptpkit at 60
  fps, latency under one frame interval (16.7 ms).
- 240 fps: the camera is (nearly) never what a client waits for, so each client's own ceiling
  shows: the frame rate a client can pull, and the ">= 2x gphoto2" comparison.

Each contender runs ``DURATION_S`` per round, alternated with the order rotated each round.
CPU per frame: the client's CPU time (ptpkit: this process's; gphoto2: its process's) and the
virtual camera's (its process's, from /proc) over the frames received.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ptpkit
from bench.harness import header, note, rounds
from bench.ptpip import command_env
from ptpkit.virtual.livepicture import frame_stamp

DURATION_S = 3.0
SIZE = "1024x680"
GPHOTO2_EOS_MODEL = "Canon EOS (WLAN)"
_SOI = b"\xff\xd8\xff"


@dataclass
class Run:
    frames: int
    seconds: float
    latencies_ms: list[float]
    client_cpu_s: float
    camera_cpu_s: float
    dropped: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Results:
    name: str
    runs: list[Run] = field(default_factory=list)


@dataclass
class _Server:
    url: str
    pid: int


@contextlib.contextmanager
def _served(card: Path, fps: int) -> Iterator[_Server]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ptpkit",
            "virtual",
            "serve",
            "--root",
            str(card),
            "--port",
            "0",
            "--model",
            "canon-eos",
            "--model-option",
            f"liveview_size={SIZE}",
            "--model-option",
            f"liveview_fps={fps}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    url = ""
    for line in process.stdout:
        if line.startswith("listening on "):
            url = line.split()[-1]
            break
    if not url:
        process.kill()
        raise RuntimeError("ptpkit virtual serve did not start")
    try:
        yield _Server(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _ptpkit_run(server: _Server) -> Run:
    with ptpkit.connect(server.url) as cam:
        latencies: list[float] = []
        with cam.live_view() as view:
            view.next_frame()  # warmed up (the EOS answers ObjectNotReady at first)
            cpu0, camera0 = time.process_time(), _cpu_s(server.pid)
            start = time.monotonic()
            frames = 0
            while (now := time.monotonic()) < start + DURATION_S:
                frame = view.poll_frame(start + DURATION_S - now)
                if frame is None:
                    break
                frames += 1
                stamp = frame_stamp(frame.jpeg)
                if stamp is not None:
                    latencies.append((frame.timestamp_s * 1e9 - stamp[1]) / 1e6)
            seconds = time.monotonic() - start
            cpu, camera = time.process_time() - cpu0, _cpu_s(server.pid) - camera0
            dropped = view.dropped
    return Run(frames, seconds, latencies, cpu, camera, dropped)


def _gphoto2_run(gphoto2: str, server: _Server, env: dict[str, str], cwd: Path) -> Run:
    host_port = server.url.removeprefix("ptpip:")
    argv = [gphoto2, "--port", f"ptpip:{host_port}", "--camera", GPHOTO2_EOS_MODEL,
            f"--capture-movie={DURATION_S:g}s", "--stdout"]  # fmt: skip
    camera0 = _cpu_s(server.pid)
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    latencies: list[float] = []
    frames = 0
    first: float | None = None
    last = 0.0
    buffer = bytearray()
    # The frame being read: its stamp once its head is in, then whole at its end of image
    # (0xFFD9: the virtual camera's frames hold no embedded thumbnail, whose EOI could come
    # first, and entropy-coded data never holds the marker, ITU T.81 B.1.1.5).
    stamp_ns: int | None = None
    stdout = process.stdout
    assert isinstance(stdout, io.BufferedReader)
    while chunk := stdout.read1(1 << 20):
        now_ns = time.monotonic_ns()
        first = now_ns / 1e9 if first is None else first
        last = now_ns / 1e9
        buffer += chunk
        while True:
            if stamp_ns is None:
                start = buffer.find(_SOI)
                if start < 0:
                    del buffer[: max(0, len(buffer) - 2)]
                    break
                if len(buffer) - start < 256:
                    del buffer[:start]
                    break
                found = frame_stamp(bytes(buffer[start : start + 256]))
                stamp_ns = found[1] if found is not None else -1
                del buffer[: start + 3]
            end = buffer.find(b"\xff\xd9")
            if end < 0:
                del buffer[: max(0, len(buffer) - 1)]
                break
            frames += 1
            if stamp_ns >= 0:
                latencies.append((now_ns - stamp_ns) / 1e6)
            stamp_ns = None
            del buffer[: end + 2]
    process.wait(timeout=60)
    usage = _children_cpu()
    camera = _cpu_s(server.pid) - camera0
    # gphoto2's own --capture-movie duration (its first frames start the clock, as ours do).
    seconds = DURATION_S if first is None else max(DURATION_S, last - first)
    return Run(frames, seconds, latencies, usage, camera)


_children_before = [0.0]


def _children_cpu() -> float:
    """CPU seconds of child processes since the previous call (gphoto2's, once it ended)."""
    usage = os.times()
    total = usage.children_user + usage.children_system
    spent, _children_before[0] = total - _children_before[0], total
    return spent


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _print(results: list[Results], interval_ms: float) -> None:
    heads = ("fps best", "median", "worst", "lat. median", "p95", "client CPU/fr", "camera CPU/fr")
    widths = (9, 8, 8, 12, 8, 14, 14)
    print(
        f"    {'contender':<34} "
        + " ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))
    )
    for result in results:
        fps = [run.fps for run in result.runs]
        latencies = [value for run in result.runs for value in run.latencies_ms]
        frames = sum(run.frames for run in result.runs) or 1
        client = sum(run.client_cpu_s for run in result.runs) / frames * 1e3
        camera = sum(run.camera_cpu_s for run in result.runs) / frames * 1e3
        median = statistics.median(latencies) if latencies else float("nan")
        p95 = _p95(latencies) if latencies else float("nan")
        print(f"    {result.name:<34} {max(fps):9.1f} {statistics.median(fps):8.1f} "
              f"{min(fps):8.1f} {median:9.1f} ms {p95:5.1f} ms {client:11.2f} ms "
              f"{camera:11.2f} ms")  # fmt: skip
    ours, theirs = results[0], results[-1]
    if len(results) > 1:
        ratio = statistics.median(r.fps for r in ours.runs) / max(
            statistics.median(r.fps for r in theirs.runs), 1e-9
        )
        note(f"  ptpkit / gphoto2 frame rate (medians): {ratio:.2f}x")
    dropped = sum(run.dropped for run in ours.runs)
    note(f"  one frame interval: {interval_ms:.1f} ms; ptpkit frames dropped (newer came "
         f"before the loop took them): {dropped}")  # fmt: skip


def run() -> None:
    count = rounds(3)
    header(f"Live view, virtual Canon EOS {SIZE} over PTP/IP on 127.0.0.1, "
           f"{DURATION_S:g} s per run", count)  # fmt: skip
    gphoto2 = shutil.which("gphoto2")
    if gphoto2 is None:
        note("gphoto2 is not installed: ptpkit alone")
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = command_env(tmp)
        card = tmp / "card"
        card.mkdir()
        for fps in (60, 240):
            print(f"  camera paced at {fps} fps:")
            ours, theirs = Results("ptpkit cam.live_view()"), Results("gphoto2 --capture-movie")
            with _served(card, fps) as server:
                runners: list[tuple[Results, Callable[[], Run]]] = [
                    (ours, functools.partial(_ptpkit_run, server))
                ]
                if gphoto2 is not None:
                    runners.append(
                        (theirs, functools.partial(_gphoto2_run, gphoto2, server, env, tmp))
                    )
                _children_cpu()
                for round_index in range(count):
                    for offset in range(len(runners)):
                        results, run_once = runners[(round_index + offset) % len(runners)]
                        results.runs.append(run_once())
            _print([ours, theirs] if gphoto2 is not None else [ours], 1e3 / fps)


__all__ = ["run"]
