"""Listing huge and deep cards: time and peak memory (issue 11 §4: a card of 1,000,000 objects,
a tree 3,000 levels deep, a GetObjPropList answer of hundreds of MiB stay under ~100 MiB).

Each case runs in its own process, so that the peak RSS printed is that listing's (and the
Python interpreter's, ~20 MiB); the virtual camera's synthetic card
(:mod:`ptpkit.virtual.synthetic`) makes the objects on demand. ``walk()`` cases run the camera
in the same process (``virtual:``, its answer is streamed and small); the ``ls -R --json`` case
runs ``ptpkit virtual serve --synthetic`` and the CLI as two processes over PTP/IP.

``python -m bench listing_scale`` (part of ``make bench``); ``BENCH_SCALE=0.1`` for a quick run.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

from bench.common import row

#: (label, path, files, depth): the cases, sizes multiplied by BENCH_SCALE.
CASES = [
    ("walk() fast path (GetObjPropList), flat", "fast", 1_000_000, 1),
    ("walk() per object, flat", "slow", 100_000, 1),
    ("walk() fast path, 3,000 levels deep", "fast", 1, 3000),
    ("walk() per object, 3,000 levels deep", "slow", 1, 3000),
]
CLI_FILES = 1_000_000


def _scale(count: int) -> int:
    return max(1, round(count * float(os.environ.get("BENCH_SCALE", "1"))))


def one(path: str, files: int, depth: int) -> None:
    """In the child process: list the card, print ``objects seconds peak_rss_kib``."""
    import ptpkit  # noqa: PLC0415
    from ptpkit.virtual import VirtualCamera  # noqa: PLC0415
    from ptpkit.virtual.synthetic import SyntheticCard  # noqa: PLC0415

    card = SyntheticCard(files=files, depth=depth)
    with VirtualCamera(synthetic=card) as vcam, ptpkit.connect("virtual:", camera=vcam) as cam:
        cam._fast_listing_failed = path == "slow"
        start = time.perf_counter()
        count = sum(1 for _ in cam.walk())
        seconds = time.perf_counter() - start
        assert cam._fast_listing_failed is (path == "slow")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(count, seconds, peak_kib)


def _child_rss_mib(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


def _cli_case(files: int) -> None:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ptpkit",
            "virtual",
            "serve",
            "--port",
            "0",
            "--synthetic",
            f"files={files}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = ""
        for line in server.stdout:
            if line.startswith("listening on "):
                url = line.split()[-1]
                break
        start = time.perf_counter()
        client = subprocess.Popen(
            [sys.executable, "-m", "ptpkit", "--camera", url, "ls", "-R", "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        code, rss = _child_rss_mib(client)
        seconds = time.perf_counter() - start
        row(
            f"ptpkit ls -R --json, {files:,} files (PTP/IP)",
            f"{seconds:,.1f} s",
            f"peak RSS {rss:,.0f} MiB (exit {code})",
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def run() -> None:
    print("listing huge and deep cards (each case in its own process; peak RSS of that process)")
    for label, path, card_files, depth in CASES:
        # The deep cases stay 3,000 levels (they are cheap); the flat ones scale.
        files = _scale(card_files) if depth == 1 else card_files
        done = subprocess.run(
            [sys.executable, "-m", "bench.listing_scale", path, str(files), str(depth)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            row(label, "failed", done.stderr.strip().splitlines()[-1:][0] if done.stderr else "")
            continue
        count, seconds, peak_kib = done.stdout.split()
        row(
            f"{label}: {int(count):,} objects",
            f"{float(seconds):,.1f} s",
            f"peak RSS {int(peak_kib) / 1024:,.0f} MiB, "
            f"{int(count) / float(seconds):,.0f} objects/s",
        )
    _cli_case(_scale(CLI_FILES))


if __name__ == "__main__":
    one(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
