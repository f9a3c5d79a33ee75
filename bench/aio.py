"""``ptpkit.aio`` against the blocking ``ptpkit.Camera``, on the same work over PTP/IP on
loopback, against ``ptpkit virtual serve`` in its own process (bench/ptpip.py's ``_served``):

- a 1 GiB download streamed to a counting sink (no disk: the link and the engines only);
- 2,000 GetDevicePropValue round trips on one camera;
- 16 cameras' round trips interleaved in one process: the blocking Camera with a thread per
  camera, the asyncio one with 16 cameras in one event loop and no thread; twice: 16 sessions
  on the one served camera (the figure measured since issue 17), and 16 served cameras, a
  process each, as a rig has a device per camera (the one served camera answers its sixteen
  sessions one at a time: its threads share one GIL, and that caps both contenders alike);
- listing a card of 10,000 files (``walk()`` to the end; 100 folders of 100 small files served
  by their own process: MTP's whole-card GetObjPropList, as both front ends list a camera that
  offers it).

Library contenders keep their sessions open (the asyncio ones on one loop kept across runs) and
are timed on the work alone; contenders alternate each round (bench/harness.py). Issue 17's
target: asyncio within 10% of the blocking Camera on one camera, ahead with many.

Each table is followed by the CPU time each contender's runs took (median per unit of work):
this process's (user + system, every thread) and the serving process's. On a machine shared
with other work the wall-clock ratios swing with that work (the scheduler shares a busy CPU per
thread, so sixteen threads get a larger share of it than one event loop does); the CPU time is
the cost of the work itself, and says which side (client or camera) the time went to.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import statistics
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import ptpkit
import ptpkit.aio
from bench.common import CountingWriter, GiB, MiB
from bench.harness import Contender, compare, header, note, rounds, table
from bench.ptpip import _served

BIG = 1 * GiB
BIG_PATH = "DCIM/100PTPKT/MVI_0001.MOV"
ROUND_TRIPS = 2000
CAMERAS = 16
LISTED = 10_000
#: Round trips each of the CAMERAS cameras makes per run.
EACH = 250


class _CpuMeter:
    """The CPU seconds of each timed run: this process's and the serving processes'."""

    def __init__(self, *server_pids: int) -> None:
        self.server_pids = server_pids
        #: Per contender name: (client seconds, server seconds) of each run.
        self.runs: dict[str, list[tuple[float, float]]] = {}

    def _server_s(self) -> float:
        ticks = 0
        for pid in self.server_pids:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:  # not Linux: the servers' share is not shown
                return math.nan
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def wrap(self, name: str, run: Callable[[], object]) -> Callable[[], None]:
        def measured() -> None:
            client = resource.getrusage(resource.RUSAGE_SELF)
            server = self._server_s()
            run()
            after = resource.getrusage(resource.RUSAGE_SELF)
            self.runs.setdefault(name, []).append(
                (
                    after.ru_utime + after.ru_stime - client.ru_utime - client.ru_stime,
                    self._server_s() - server,
                )
            )

        return measured

    def contender(self, name: str, run: Callable[[], object]) -> Contender:
        return Contender(name, self.wrap(name, run))

    def report(self, work: float, unit: str, scale: float = 1e6) -> None:
        """One line: each contender's median CPU per unit of work (``scale``: 1e6 for us)."""
        parts = []
        for name, runs in self.runs.items():
            client = statistics.median(c for c, _ in runs) / work * scale
            server = statistics.median(s for _, s in runs) / work * scale
            shown = "" if math.isnan(server) else f", camera {server:,.0f}"
            parts.append(f"{name.split(',')[0]}: client {client:,.0f}{shown}")
        note(f"CPU {unit} (median): " + "; ".join(parts))
        self.runs.clear()


def _write_big(card: Path) -> None:
    big = card / BIG_PATH
    big.parent.mkdir(parents=True)
    with big.open("wb") as file:
        block = os.urandom(4 * MiB)
        for _ in range(BIG // len(block)):
            file.write(block)


def run() -> None:
    count = rounds(3)
    header("ptpkit.aio vs ptpkit.Camera over PTP/IP (loopback)", count)
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name:
        card = Path(tmp_name) / "card"
        _write_big(card)
        with contextlib.ExitStack() as stack:
            stack.callback(loop.close)
            server = stack.enter_context(_served(card))
            meter = _CpuMeter(server.pid)
            cam = stack.enter_context(ptpkit.connect(server.url))
            acam = loop.run_until_complete(ptpkit.aio.connect(server.url))
            stack.callback(lambda: loop.run_until_complete(acam.close()))
            entry = cam.find(BIG_PATH)
            cam.get_property(0x500F)  # each learns the datatype once
            loop.run_until_complete(acam.get_property(0x500F))

            def blocking_download() -> None:
                sink = CountingWriter()
                cam.download(entry, sink)  # type: ignore[arg-type]
                assert sink.count == BIG

            def async_download() -> None:
                sink = CountingWriter()
                loop.run_until_complete(acam.download(entry, sink))  # type: ignore[arg-type]
                assert sink.count == BIG

            results = compare(
                [
                    meter.contender("Camera.download, 1 GiB to a counting sink", blocking_download),
                    meter.contender("aio Camera.download, same", async_download),
                ],
                count,
            )
            rows = list(results.values())
            table("1 GiB download", rows, work=BIG, unit="MiB/s", versus=[("Camera", rows[0])])
            meter.report(BIG / MiB, "us per MiB")

            def blocking_reads() -> None:
                for _ in range(ROUND_TRIPS):
                    cam.get_property(0x500F)

            async def reads() -> None:
                for _ in range(ROUND_TRIPS):
                    await acam.get_property(0x500F)

            results = compare(
                [
                    meter.contender("Camera.get_property(0x500F)", blocking_reads),
                    meter.contender(
                        "aio Camera.get_property(0x500F)", lambda: loop.run_until_complete(reads())
                    ),
                ],
                count,
            )
            rows = list(results.values())
            table(
                f"{ROUND_TRIPS:,} round trips, one camera",
                rows,
                work=ROUND_TRIPS,
                unit="/s",
                versus=[("Camera", rows[0])],
            )
            meter.report(ROUND_TRIPS, "us per round trip")

            _interleaved(
                loop, count, [server.url] * CAMERAS, meter, "sessions on one served camera"
            )
            with contextlib.ExitStack() as servers:
                # A process per camera, as a rig has a device per camera: one process serving
                # all sixteen answers them one at a time (its threads share one GIL), which caps
                # both contenders alike at the camera's rate.
                small = Path(tmp_name) / "small"
                (small / "DCIM").mkdir(parents=True)
                served = [servers.enter_context(_served(small)) for _ in range(CAMERAS)]
                each_meter = _CpuMeter(*(one.pid for one in served))
                _interleaved(
                    loop, count, [one.url for one in served], each_meter, "cameras, a process each"
                )
            _listing(loop, count)  # before the loop closes with this stack
    note("ratios: >1x is faster than the blocking Camera (target: >= 0.9x on one camera)")


def _interleaved(
    loop: asyncio.AbstractEventLoop, count: int, urls: list[str], meter: _CpuMeter, what: str
) -> None:
    """Each URL's camera makes EACH round trips, interleaved: the blocking Camera with a thread
    per camera, the asyncio one with every camera on one loop and no thread."""
    with contextlib.ExitStack() as stack:
        many = [stack.enter_context(ptpkit.connect(url)) for url in urls]
        amany = [loop.run_until_complete(ptpkit.aio.connect(url)) for url in urls]

        def close_all() -> None:
            for each in amany:
                loop.run_until_complete(each.close())

        stack.callback(close_all)
        for one in many:
            one.get_property(0x500F)

        async def learn() -> None:
            await asyncio.gather(*(a.get_property(0x500F) for a in amany))

        loop.run_until_complete(learn())

        def threads() -> None:
            def work(camera: ptpkit.Camera) -> None:
                for _ in range(EACH):
                    camera.get_property(0x500F)

            running = [threading.Thread(target=work, args=(c,)) for c in many]
            for thread in running:
                thread.start()
            for thread in running:
                thread.join()

        async def interleaved() -> None:
            async def work(camera: ptpkit.aio.Camera) -> None:
                for _ in range(EACH):
                    await camera.get_property(0x500F)

            await asyncio.gather(*(work(a) for a in amany))

        cameras = len(urls)
        results = compare(
            [
                meter.contender(f"{cameras} Cameras, a thread each", threads),
                meter.contender(
                    f"{cameras} aio Cameras, one loop",
                    lambda: loop.run_until_complete(interleaved()),
                ),
            ],
            count,
        )
        rows = list(results.values())
        table(
            f"{cameras} {what} x {EACH} round trips, interleaved",
            rows,
            work=cameras * EACH,
            unit="/s",
            versus=[("threads", rows[0])],
        )
        meter.report(cameras * EACH, "us per round trip")


def _listing(loop: asyncio.AbstractEventLoop, count: int) -> None:
    """Both front ends walk the same served card of LISTED files to the end."""
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name:
        card = Path(tmp_name) / "card"
        for index in range(LISTED):
            folder = card / "DCIM" / f"{100 + index // 100:03d}PTPKT"
            if index % 100 == 0:
                folder.mkdir(parents=True)
            (folder / f"IMG_{index:05d}.JPG").write_bytes(b"\xff\xd8" + bytes(62))
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(_served(card))
            meter = _CpuMeter(server.pid)
            cam = stack.enter_context(ptpkit.connect(server.url))
            acam = loop.run_until_complete(ptpkit.aio.connect(server.url))
            stack.callback(lambda: loop.run_until_complete(acam.close()))

            def blocking_walk() -> None:
                files = sum(1 for entry in cam.walk() if not entry.is_folder)
                assert files == LISTED, files

            async def walk() -> None:
                files = 0
                async for entry in acam.walk():
                    files += not entry.is_folder
                assert files == LISTED, files

            results = compare(
                [
                    meter.contender(f"Camera.walk(), {LISTED:,} files", blocking_walk),
                    meter.contender(
                        "aio Camera.walk(), same", lambda: loop.run_until_complete(walk())
                    ),
                ],
                count,
            )
            rows = list(results.values())
            table(
                f"listing {LISTED:,} files",
                rows,
                work=LISTED,
                unit="/s",
                versus=[("Camera", rows[0])],
            )
            meter.report(LISTED, "us per file")
