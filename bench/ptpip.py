"""PTP/IP on loopback: ptpkit against Debian's gphoto2 and python-gphoto2, the same virtual camera.

- a 1 GiB download to a file, with a raw TCP stream of the same file as the ceiling;
- 2,000 GetDevicePropValue round trips;
- listing a card of 10,000 files;
- the client's peak memory while downloading a 5 GiB object (checked by size and SHA-256);
- the virtual camera's own serving rate, to show it is not what limits the others.

The virtual camera runs as ``python -m ptpkit virtual serve`` in its own process, as a real camera
is another machine: nothing measured shares an interpreter with it. gphoto2 runs as a command
(its process start and session set-up are included; measured alone they are printed).
python-gphoto2 (PyPI ``gphoto2``, which carries its own libgphoto2) is used when installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ptpkit
from bench.common import CountingWriter, GiB, MiB, best_of, rate, row
from ptpkit.virtual.content import generated_sha256

BIG = 1 * GiB
ROUND_TRIPS = 2000
LIST_FILES = 10_000
HUGE = 5 * GiB + 3


@dataclass
class _Server:
    url: str


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
        yield _Server(url)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _gphoto2_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "HOME": str(home), "LANG": "C"}


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


# -- 1 GiB download ------------------------------------------------------------------------------


def _settle() -> None:
    """Write back what earlier runs left dirty, so no contender pays for another's pages (the
    kernel throttles a writer while too much is dirty)."""
    os.sync()


def _raw_ceiling(path: Path, out_dir: Path) -> float:
    """A plain TCP stream of the file over loopback, written to a file: sendfile on one end,
    recv_into a 4 MiB buffer and write on the other."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, path.open("rb") as file:
            conn.sendfile(file)

    thread = threading.Thread(target=serve)
    thread.start()
    target = out_dir / "raw.bin"
    start = time.perf_counter()
    buffer = bytearray(4 * MiB)
    view = memoryview(buffer)
    with socket.create_connection(("127.0.0.1", port)) as sock, target.open("wb") as out:
        while count := sock.recv_into(buffer):
            out.write(view[:count])
    seconds = time.perf_counter() - start
    thread.join()
    listener.close()
    target.unlink()
    return seconds


def _download(tmp: Path) -> None:
    print("1 GiB download to a file over PTP/IP (loopback)")
    card = tmp / "card"
    (card / "DCIM" / "100PTPKT").mkdir(parents=True)
    big = card / "DCIM" / "100PTPKT" / "MVI_0001.MOV"
    with big.open("wb") as file:
        block = os.urandom(4 * MiB)
        for _ in range(BIG // len(block)):
            file.write(block)
    out = tmp / "out"
    out.mkdir()
    figures: dict[str, float] = {}
    startup = 0.0
    with _served(card) as server:
        with ptpkit.connect(server.url) as cam:
            entry = cam.find("DCIM/100PTPKT/MVI_0001.MOV")

            def ptpkit_download(fsync: bool) -> Callable[[], None]:
                def run() -> None:
                    saved = cam.download(entry, out, fsync=fsync)
                    assert saved is not None
                    assert saved.stat().st_size == BIG

                return run

            def remove_last() -> None:
                # Untimed, as for the others: dropping a 1 GiB file's pages is not the download.
                (out / "MVI_0001.MOV").unlink(missing_ok=True)
                _settle()

            figures["ptpkit"] = best_of(3, ptpkit_download(fsync=False), prepare=remove_last)
            figures["ptpkit+fsync"] = best_of(3, ptpkit_download(fsync=True), prepare=remove_last)
            remove_last()

        gphoto2 = shutil.which("gphoto2")
        if gphoto2:
            env = _gphoto2_env(tmp / "home")

            def gphoto2_download() -> None:
                work = Path(tempfile.mkdtemp(dir=tmp))
                subprocess.run(
                    [
                        gphoto2,
                        "--port",
                        server.url,
                        "--folder",
                        "/store_00010001/DCIM/100PTPKT",
                        "--get-file",
                        "1",
                    ],
                    cwd=work,
                    env=env,
                    check=True,
                    capture_output=True,
                )
                assert (work / "MVI_0001.MOV").stat().st_size == BIG
                shutil.rmtree(work)

            figures["gphoto2"] = best_of(3, gphoto2_download, prepare=_settle)
            started = time.perf_counter()
            subprocess.run(
                [gphoto2, "--port", server.url, "--summary"],
                env=env,
                check=True,
                capture_output=True,
            )
            startup = time.perf_counter() - started

        gp = _python_gphoto2()
        if gp is not None:
            gp_cam = _gp_camera(gp, server.url)

            def python_gphoto2_download() -> None:
                target = out / "pg.bin"
                # A CameraFile on a file descriptor: libgphoto2 writes as it receives, and
                # closes the descriptor itself (so it gets one of its own).
                descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                camera_file = gp.CameraFile(descriptor)
                gp_cam.file_get(
                    "/store_00010001/DCIM/100PTPKT",
                    "MVI_0001.MOV",
                    gp.GP_FILE_TYPE_NORMAL,
                    camera_file,
                )
                del camera_file
                assert target.stat().st_size == BIG
                target.unlink()

            figures["python-gphoto2"] = best_of(3, python_gphoto2_download, prepare=_settle)
            gp_cam.exit()
    raw_runs = []
    for _ in range(3):
        _settle()
        raw_runs.append(_raw_ceiling(big, out))
    figures["raw socket"] = min(raw_runs)

    row("ptpkit (streamed to a file)", rate(BIG, figures["ptpkit"]), f"{figures['ptpkit']:.2f} s")
    row(
        "ptpkit, fsync before rename (the default)",
        rate(BIG, figures["ptpkit+fsync"]),
        f"{figures['ptpkit+fsync']:.2f} s",
    )
    if "gphoto2" in figures:
        row(
            "gphoto2 --get-file (whole command)",
            rate(BIG, figures["gphoto2"]),
            f"{figures['gphoto2']:.2f} s; its start-up and session alone {startup:.2f} s",
        )
    if "python-gphoto2" in figures:
        row(
            "python-gphoto2 file_get to a file",
            rate(BIG, figures["python-gphoto2"]),
            f"{figures['python-gphoto2']:.2f} s",
        )
    row(
        "raw TCP stream to a file (ceiling)",
        rate(BIG, figures["raw socket"]),
        f"{figures['raw socket']:.2f} s",
    )
    if "gphoto2" in figures:
        row(
            "ratio ptpkit / gphoto2",
            f"{figures['gphoto2'] / figures['ptpkit']:.2f}x",
            "target >= 1.5x",
        )
    if "python-gphoto2" in figures:
        row(
            "ratio ptpkit / python-gphoto2", f"{figures['python-gphoto2'] / figures['ptpkit']:.2f}x"
        )
    row(
        "ptpkit / ceiling",
        f"{figures['raw socket'] / figures['ptpkit'] * 100:.0f}%",
        "target >= 50%",
    )


# -- round trips ---------------------------------------------------------------------------------


def _round_trips(tmp: Path) -> None:
    print(f"\n{ROUND_TRIPS:,} GetDevicePropValue(ISO) round trips")
    card = tmp / "rt-card"
    card.mkdir()
    with _served(card) as server:
        with ptpkit.connect(server.url) as cam:
            cam.get_property("iso")  # the datatype is learnt once

            def ptpkit_reads() -> None:
                for _ in range(ROUND_TRIPS):
                    cam.get_property(0x500F)

            ours = best_of(3, ptpkit_reads)
        row(
            "ptpkit get_property('iso')",
            f"{ROUND_TRIPS / ours:,.0f} /s",
            f"{ours * 1e6 / ROUND_TRIPS:.0f} us each",
        )
        gp = _python_gphoto2()
        if gp is None:
            return
        gp_cam = _gp_camera(gp, server.url)
        # libgphoto2 answers get_single_config('iso') from its cache without asking the camera;
        # its raw "opcode" action sends the operation every time.
        opcode = gp_cam.get_single_config("opcode")
        opcode.set_value("0x1015,0x500f")

        def python_gphoto2_reads() -> None:
            for _ in range(ROUND_TRIPS):
                gp_cam.set_single_config("opcode", opcode)

        theirs = best_of(3, python_gphoto2_reads)
        gp_cam.exit()
    row(
        "python-gphoto2 opcode action 0x1015,0x500f",
        f"{ROUND_TRIPS / theirs:,.0f} /s",
        f"{theirs * 1e6 / ROUND_TRIPS:.0f} us each",
    )
    row("ratio ptpkit / python-gphoto2", f"{theirs / ours:.2f}x", "target >= 1x")


# -- listing -------------------------------------------------------------------------------------


def _listing(tmp: Path) -> None:
    print(f"\nlisting a card of {LIST_FILES:,} files in 40 folders")
    card = tmp / "list-card"
    per_folder = LIST_FILES // 40
    for folder in range(40):
        path = card / "DCIM" / f"{100 + folder}PTPKT"
        path.mkdir(parents=True)
        for index in range(per_folder):
            (path / f"DSC{index:05d}.ARW").write_bytes(b"r")
    with _served(card) as server:
        with ptpkit.connect(server.url) as cam:

            def fast() -> None:
                cam._fast_listing_failed = False
                assert sum(not e.is_folder for e in cam.walk()) == LIST_FILES

            def slow() -> None:
                cam._fast_listing_failed = True
                assert sum(not e.is_folder for e in cam.walk()) == LIST_FILES

            fast_s = best_of(3, fast)
            slow_s = best_of(1, slow)
        row(
            "ptpkit walk (MTP GetObjPropList, 1 transaction)",
            f"{fast_s:.2f} s",
            f"{LIST_FILES / fast_s:,.0f} files/s",
        )
        row(
            "ptpkit walk, per object (GetObjectInfo each)",
            f"{slow_s:.2f} s",
            f"{LIST_FILES / slow_s:,.0f} files/s",
        )
        gphoto2 = shutil.which("gphoto2")
        if gphoto2 is None:
            return
        env = _gphoto2_env(tmp / "home")

        def gphoto2_list() -> None:
            result = subprocess.run(
                [gphoto2, "--port", server.url, "--list-files"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            assert result.stdout.count(".ARW") == LIST_FILES

        theirs = best_of(1, gphoto2_list)
    row("gphoto2 --list-files", f"{theirs:.2f} s", f"{LIST_FILES / theirs:,.0f} files/s")
    row("ratio ptpkit / gphoto2", f"{theirs / fast_s:.1f}x", "target >= 1x")


# -- peak memory ---------------------------------------------------------------------------------

_RSS_CHILD = """
import resource, sys
import ptpkit
url, path, dest = sys.argv[1], sys.argv[2], sys.argv[3]
with ptpkit.connect(url) as cam:
    cam.download(cam.find(path), dest)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss(tmp: Path) -> None:
    print("\npeak memory of the client downloading a 5 GiB object")
    card = tmp / "rss-card"
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
    intact = dest.stat().st_size == HUGE and digest.hexdigest() == generated_sha256(HUGE, seed=0)
    dest.unlink()
    row("peak RSS (whole client process)", f"{peak_kib / 1024:.0f} MiB", "target < 100 MiB")
    row("5 GiB + 3 B download to a file", rate(HUGE, seconds), f"{seconds:.1f} s incl. start-up")
    row("size and SHA-256 match the camera's object", "yes" if intact else "NO")


# -- the server alone ----------------------------------------------------------------------------


def _serving_rate(tmp: Path) -> None:
    print("\nthe virtual camera's serving rate (the client discards the data)")
    card = tmp / "serve-card"
    card.mkdir()
    with _served(card, "--large-object", str(BIG)) as server, ptpkit.connect(server.url) as cam:
        entry = cam.find(f"LARGE_{BIG}.MOV")

        def discard() -> None:
            sink = CountingWriter()
            cam.download(entry, sink)  # type: ignore[arg-type]
            assert sink.count == BIG

        seconds = best_of(3, discard)
    row("1 GiB GetObject of generated content", rate(BIG, seconds), f"{seconds:.2f} s")


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ.setdefault("PTPKIT_CONFIG_DIR", str(tmp / "config"))
        _download(tmp)
        _round_trips(tmp)
        _listing(tmp)
        _peak_rss(tmp)
        _serving_rate(tmp)
