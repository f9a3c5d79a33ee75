"""PTP/IP on loopback: ptpkit (library and command) against Debian's gphoto2, python-gphoto2 and
a minimal PTP/IP client (the ceiling, bench/ceiling.py), all against the same virtual camera.

- a 1 GiB download to a file: "as shipped" (ptpkit fsyncs by default; gphoto2 and
  python-gphoto2 do not), "all fsynced" (the others followed by an fsync of their file, inside
  the timing) and "none fsynced";
- 2,000 GetDevicePropValue round trips;
- listing a card of 10,000 files;
- the client's peak memory while downloading a 5 GiB object (checked by size and SHA-256);
- the virtual camera's own serving rate, to show it is not what limits the others.

Contenders alternate round by round, the order rotated each round, each with the same untimed
set-up (its previous output removed, dirty pages written back): bench/harness.py. The virtual
camera runs as ``python -m ptpkit virtual serve`` in its own process, as a real camera is another
machine: nothing measured shares an interpreter with it. Commands (``ptpkit ...``, ``gphoto2 ...``)
are timed whole: process start, session set-up and the work. Library contenders keep one open
session and are timed on the work alone. python-gphoto2 (PyPI ``gphoto2``, which carries its own
libgphoto2) is used when installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ptpkit
from bench.ceiling import MinimalClient
from bench.common import CountingWriter, GiB, MiB, rate, row
from bench.harness import Contender, Samples, compare, header, note, rounds, table
from ptpkit.virtual.content import generated_sha256

BIG = 1 * GiB
ROUND_TRIPS = 2000
LIST_FILES = 10_000
HUGE = 5 * GiB + 3
BIG_PATH = "DCIM/100PTPKT/MVI_0001.MOV"


@dataclass
class _Server:
    url: str
    #: The serving process (bench/aio.py reads its CPU time from /proc).
    pid: int = 0

    @property
    def address(self) -> tuple[str, int]:
        """Host and TCP port of a ``ptpip:HOST:PORT[:...]`` URL."""
        parts = self.url.split(":")
        return parts[1], int(parts[2])


@contextlib.contextmanager
def _served(root: Path, *extra: str) -> Iterator[_Server]:
    """``ptpkit virtual serve`` on a free loopback port, in its own process."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ptpkit",
            "virtual",
            "serve",
            "--root",
            str(root),
            "--port",
            "0",
            *extra,
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


def ptpkit_command() -> list[str]:
    """The ``ptpkit`` command users run (the venv's entry point), else ``python -m ptpkit``."""
    script = Path(sys.executable).with_name("ptpkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ptpkit"]


def command_env(tmp: Path) -> dict[str, str]:
    """For commands: a private HOME (gphoto2's settings) and ptpkit config, no default camera."""
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    # Commands run as an installed ptpkit does: with its bytecode caches (pip compiles them
    # at install; PYTHONDONTWRITEBYTECODE, set in some shells, would recompile every module of
    # every run and measure the compiler, not ptpkit). See bench/startup.py's warm-up.
    dropped = {"PTPKIT_CAMERA", "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(HOME=str(home), LANG="C", PTPKIT_CONFIG_DIR=str(tmp / "config"))
    return env


def _python_gphoto2() -> Any:
    try:
        import gphoto2  # noqa: PLC0415  (optional: only for the comparison)
    except ImportError:
        return None
    return gphoto2


def _gp_camera(gp: Any, url: str) -> Any:
    """A python-gphoto2 Camera on a ptpip: URL (PortInfoList lookup, "PTP/IP Camera" model)."""
    camera = gp.Camera()
    ports = gp.PortInfoList()
    ports.load()
    camera.set_port_info(ports[ports.lookup_path(url)])
    abilities = gp.CameraAbilitiesList()
    abilities.load()
    camera.set_abilities(abilities[abilities.lookup_model("PTP/IP Camera")])
    camera.init()
    return camera


def _fsync(path: Path) -> None:
    """Make a file another program wrote durable, as ptpkit makes its own before the rename."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fresh(folder: Path) -> Callable[[], None]:
    """Set-up: an empty ``folder`` (the last run's output and any record removed)."""

    def setup() -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    return setup


# -- 1 GiB download ------------------------------------------------------------------------------


def _write_big(card: Path) -> None:
    big = card / BIG_PATH
    big.parent.mkdir(parents=True)
    with big.open("wb") as file:
        block = os.urandom(4 * MiB)
        for _ in range(BIG // len(block)):
            file.write(block)


def _check(path: Path) -> None:
    if path.stat().st_size != BIG:
        raise RuntimeError(f"{path}: {path.stat().st_size} bytes, not {BIG}")


def download() -> None:
    count = rounds(5)
    header("1 GiB download to a file over PTP/IP (loopback)", count)
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        card = tmp / "card"
        _write_big(card)
        out = tmp / "out"
        env = command_env(tmp)
        name = Path(BIG_PATH).name
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(_served(card))
            cam = stack.enter_context(ptpkit.connect(server.url))
            entry = cam.find(BIG_PATH)
            contenders: list[Contender] = []

            def library(fsync: bool) -> Contender:
                folder = out / f"lib-{fsync}"

                def run() -> None:
                    saved = cam.download(entry, folder, fsync=fsync)
                    assert saved is not None
                    _check(saved)

                return Contender(
                    f"ptpkit library{'' if fsync else ', fsync=False'}",
                    run,
                    _fresh(folder),
                    fsync="yes" if fsync else "no",
                    note="cam.download(entry, folder) on an open session" if fsync else "",
                )

            contenders += [library(True), library(False)]
            cli_folder = out / "cli"

            def cli_run() -> None:
                subprocess.run(
                    [
                        *ptpkit_command(),
                        "--camera",
                        server.url,
                        "download",
                        BIG_PATH,
                        "-o",
                        str(cli_folder),
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                _check(cli_folder / name)

            contenders.append(
                Contender(
                    "ptpkit download (command)",
                    cli_run,
                    _fresh(cli_folder),
                    fsync="yes",
                    note="whole command: start-up, session, download, record",
                )
            )

            gphoto2 = shutil.which("gphoto2")
            if gphoto2:

                def gphoto2_contender(fsync: bool) -> Contender:
                    folder = out / f"gphoto2-{fsync}"

                    def run() -> None:
                        subprocess.run(
                            [
                                gphoto2,
                                "--port",
                                server.url,
                                "--folder",
                                "/store_00010001/" + str(Path(BIG_PATH).parent),
                                "--get-file",
                                "1",
                            ],
                            cwd=folder,
                            env=env,
                            check=True,
                            capture_output=True,
                        )
                        if fsync:
                            _fsync(folder / name)
                        _check(folder / name)

                    return Contender(
                        f"gphoto2 --get-file{' + fsync' if fsync else ''}",
                        run,
                        _fresh(folder),
                        fsync="yes" if fsync else "no",
                        note="" if fsync else "whole command: start-up, session, download",
                    )

                contenders += [gphoto2_contender(False), gphoto2_contender(True)]

            gp = _python_gphoto2()
            if gp is not None:
                gp_cam = _gp_camera(gp, server.url)
                stack.callback(gp_cam.exit)

                def python_gphoto2(fsync: bool) -> Contender:
                    folder = out / f"pg-{fsync}"
                    target = folder / name

                    def run() -> None:
                        # A CameraFile on a file descriptor: libgphoto2 writes as it receives,
                        # and closes the descriptor itself (so it gets one of its own).
                        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                        camera_file = gp.CameraFile(descriptor)
                        gp_cam.file_get(
                            "/store_00010001/" + str(Path(BIG_PATH).parent),
                            name,
                            gp.GP_FILE_TYPE_NORMAL,
                            camera_file,
                        )
                        del camera_file
                        if fsync:
                            _fsync(target)
                        _check(target)

                    return Contender(
                        f"python-gphoto2 file_get{' + fsync' if fsync else ''}",
                        run,
                        _fresh(folder),
                        fsync="yes" if fsync else "no",
                        note="" if fsync else "file_get to a file descriptor, open session",
                    )

                contenders += [python_gphoto2(False), python_gphoto2(True)]

            minimal = MinimalClient(*server.address)
            stack.callback(minimal.close)

            def ceiling(fsync: bool) -> Contender:
                folder = out / f"ceiling-{fsync}"

                def run() -> None:
                    minimal.download(entry.handle, folder / name, fsync=fsync)
                    _check(folder / name)

                return Contender(
                    f"minimal PTP/IP client{' + fsync' if fsync else ''} (ceiling)",
                    run,
                    _fresh(folder),
                    fsync="yes" if fsync else "no",
                    note="" if fsync else "bench/ceiling.py: raw sockets, recv_into, open session",
                )

            contenders += [ceiling(False), ceiling(True)]
            results = compare(contenders, count)

    def rows(*names: str) -> list[Samples]:
        return [results[n] for n in names if n in results]

    gp2, gp2_f = "gphoto2 --get-file", "gphoto2 --get-file + fsync"
    pg, pg_f = "python-gphoto2 file_get", "python-gphoto2 file_get + fsync"
    top, top_f = "minimal PTP/IP client (ceiling)", "minimal PTP/IP client + fsync (ceiling)"
    lib, cli = "ptpkit library", "ptpkit download (command)"
    groups = [
        (
            "as shipped (ptpkit fsyncs by default; gphoto2 and python-gphoto2 do not)",
            rows(lib, cli, gp2, pg, top),
            (gp2, pg, top),
        ),
        (
            "all fsynced (the others' file fsynced inside the timing)",
            rows(lib, cli, gp2_f, pg_f, top_f),
            (gp2_f, pg_f, top_f),
        ),
        (
            "none fsynced (ptpkit with fsync=False)",
            rows("ptpkit library, fsync=False", gp2, pg, top),
            (gp2, pg, top),
        ),
    ]
    for title, members, (versus_gp2, versus_pg, roof) in groups:
        table(
            title,
            members,
            work=BIG,
            unit="MiB/s",
            versus=[("gphoto2", results.get(versus_gp2)), ("py-gphoto2", results.get(versus_pg))],
            ceiling=results[roof],
        )
    note(
        "ratios compare medians (>1x: the row is faster); targets: library >= 1.5x gphoto2,"
        " >= 50% of the ceiling. The ceiling is bounded by the same server process as everyone:"
        " a share above 100% means the two are within each other's run-to-run noise."
    )


# -- round trips ---------------------------------------------------------------------------------


def round_trips() -> None:
    count = rounds(5)
    header(f"{ROUND_TRIPS:,} GetDevicePropValue(ISO) round trips", count)
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name:
        card = Path(tmp_name) / "card"
        card.mkdir()
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(_served(card))
            cam = stack.enter_context(ptpkit.connect(server.url))
            cam.get_property("iso")  # the datatype is learnt once

            def ptpkit_reads() -> None:
                for _ in range(ROUND_TRIPS):
                    cam.get_property(0x500F)

            contenders = [
                Contender("ptpkit get_property(0x500F)", ptpkit_reads, note="open session")
            ]
            gp = _python_gphoto2()
            if gp is not None:
                gp_cam = _gp_camera(gp, server.url)
                stack.callback(gp_cam.exit)
                # libgphoto2 answers get_single_config('iso') from its cache without asking the
                # camera; its raw "opcode" action sends the operation every time.
                opcode = gp_cam.get_single_config("opcode")
                opcode.set_value("0x1015,0x500f")

                def python_gphoto2_reads() -> None:
                    for _ in range(ROUND_TRIPS):
                        gp_cam.set_single_config("opcode", opcode)

                contenders.append(
                    Contender(
                        "python-gphoto2 opcode 0x1015,0x500f",
                        python_gphoto2_reads,
                        note="its raw opcode action (get_single_config is cached)",
                    )
                )
            minimal = MinimalClient(*server.address)
            stack.callback(minimal.close)

            def minimal_reads() -> None:
                for _ in range(ROUND_TRIPS):
                    minimal.get_property(0x500F)

            contenders.append(
                Contender("minimal PTP/IP client (ceiling)", minimal_reads, note="bench/ceiling.py")
            )
            results = compare(contenders, count)
    ours = results["ptpkit get_property(0x500F)"]
    table(
        "round trips per second",
        list(results.values()),
        work=ROUND_TRIPS,
        unit="/s",
        versus=[("py-gphoto2", results.get("python-gphoto2 opcode 0x1015,0x500f"))],
        ceiling=results["minimal PTP/IP client (ceiling)"],
    )
    note(f"ptpkit: {ours.median * 1e6 / ROUND_TRIPS:.0f} us per round trip (median); target >= 1x")


# -- listing -------------------------------------------------------------------------------------


def listing() -> None:
    count = rounds(3)
    header(f"listing a card of {LIST_FILES:,} files in 40 folders over PTP/IP", count)
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        card = tmp / "card"
        per_folder = LIST_FILES // 40
        for folder in range(40):
            path = card / "DCIM" / f"{100 + folder}PTPKT"
            path.mkdir(parents=True)
            for index in range(per_folder):
                (path / f"DSC{index:05d}.ARW").write_bytes(b"r")
        env = command_env(tmp)
        with _served(card) as server, ptpkit.connect(server.url) as cam:

            def fast() -> None:
                cam._fast_listing_failed = False
                assert sum(not e.is_folder for e in cam.walk()) == LIST_FILES

            def slow() -> None:
                cam._fast_listing_failed = True
                assert sum(not e.is_folder for e in cam.walk()) == LIST_FILES

            def command(*argv: str) -> Callable[[], None]:
                def run() -> None:
                    result = subprocess.run(
                        argv, env=env, check=True, capture_output=True, text=True
                    )
                    assert result.stdout.count(".ARW") == LIST_FILES, result.stdout[-500:]

                return run

            contenders = [
                Contender(
                    "ptpkit walk() (MTP GetObjPropList)", fast, note="one transaction, open session"
                ),
                Contender(
                    "ptpkit walk(), object by object",
                    slow,
                    note="GetObjectHandles per folder + GetObjectInfo per object",
                ),
                Contender(
                    "ptpkit ls -R (command)",
                    command(*ptpkit_command(), "--camera", server.url, "ls", "-R"),
                    note="whole command",
                ),
            ]
            gphoto2 = shutil.which("gphoto2")
            if gphoto2:
                contenders.append(
                    Contender(
                        "gphoto2 --list-files",
                        command(gphoto2, "--port", server.url, "--list-files"),
                        note="whole command",
                    )
                )
            results = compare(contenders, count)
    table(
        "time to list every file",
        list(results.values()),
        versus=[("gphoto2", results.get("gphoto2 --list-files"))],
    )
    note("target: ptpkit >= 1x gphoto2")


# -- peak memory ---------------------------------------------------------------------------------

_RSS_CHILD = """
import resource, sys
import ptpkit
url, path, dest = sys.argv[1], sys.argv[2], sys.argv[3]
with ptpkit.connect(url) as cam:
    cam.download(cam.find(path), dest)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss() -> None:
    print("peak memory of the client downloading a 5 GiB object  [1 run]")
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        card = tmp / "card"
        card.mkdir()
        dest = tmp / "HUGE.MOV"
        with _served(card, "--large-object", str(HUGE)) as server:
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-c", _RSS_CHILD, server.url, f"LARGE_{HUGE}.MOV", str(dest)],
                check=True,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - started
        peak_kib = int(result.stdout.split()[-1])
        digest = hashlib.sha256()
        with dest.open("rb") as file:
            while block := file.read(8 * MiB):
                digest.update(block)
        # --large-object numbers its seeds from 0.
        intact = dest.stat().st_size == HUGE and digest.hexdigest() == generated_sha256(
            HUGE, seed=0
        )
    row("peak RSS (whole client process)", f"{peak_kib / 1024:.0f} MiB", "target < 100 MiB")
    row("5 GiB + 3 B download to a file", rate(HUGE, seconds), f"{seconds:.1f} s incl. start-up")
    row("size and SHA-256 match the camera's object", "yes" if intact else "NO")


# -- the server alone ----------------------------------------------------------------------------


def serving_rate() -> None:
    count = rounds(3)
    header("the virtual camera's serving rate (the client discards the data)", count)
    with (
        tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name,
        _served(Path(tmp_name), "--large-object", str(BIG)) as server,
        ptpkit.connect(server.url) as cam,
    ):
        entry = cam.find(f"LARGE_{BIG}.MOV")

        def discard() -> None:
            sink = CountingWriter()
            cam.download(entry, sink)  # type: ignore[arg-type]
            assert sink.count == BIG

        results = compare([Contender("1 GiB GetObject of generated content", discard)], count)
    table("", list(results.values()), work=BIG, unit="MiB/s")
