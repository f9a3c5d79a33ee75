"""Run every benchmark and print figures and ratios: ``python -m bench`` (``make bench``);
``python -m bench NAME...`` runs only those (names below). ``BENCH_ROUNDS=N`` sets every
benchmark's number of rounds (default: each benchmark's own, 3 to 10).

Benchmarks are measurements, not tests: nothing here fails on a slow machine.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable

from bench import (
    aio,
    eos,
    inprocess,
    listing,
    listing_scale,
    liveview,
    ptpip,
    rig,
    rig_ray,
    startup,
    usb,
)

#: Every benchmark by name, in the order ``python -m bench`` runs them. One line registers one.
BENCHMARKS: dict[str, Callable[[], None]] = {
    "inprocess": inprocess.run,
    "listing": listing.run,
    "listing_scale": listing_scale.run,
    "startup": startup.run,
    "download": ptpip.download,
    "roundtrips": ptpip.round_trips,
    "ptpip-listing": ptpip.listing,
    "memory": ptpip.peak_rss,
    "serving": ptpip.serving_rate,
    "usb": usb.run,
    "eos-capture": eos.capture_to_file,
    "eos-events": eos.event_latency,
    "liveview": liveview.run,
    "aio": aio.run,
    "rig": rig.run,
    "rig-ray": rig_ray.run,
}


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    print(
        f"ptpkit benchmarks on Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPU(s)"
    )
    for name, run in BENCHMARKS.items():
        if names and name not in names:
            continue
        print()
        started = time.perf_counter()
        run()
        print(f"  ({name}: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
