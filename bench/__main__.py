"""Run every benchmark and print figures and ratios: ``python -m bench`` (``make bench``).

Benchmarks are measurements, not tests: nothing here fails on a slow machine.
"""

from __future__ import annotations

import platform
import sys

from bench import inprocess, listing, listing_scale, ptpip, usb

BENCHMARKS = [inprocess, listing, listing_scale, ptpip, usb]


def main(names: list[str]) -> None:
    print(f"ptpkit benchmarks on Python {platform.python_version()}, {platform.machine()}")
    for module in BENCHMARKS:
        short = module.__name__.rsplit(".", 1)[-1]
        if names and short not in names:
            continue
        print()
        module.run()


if __name__ == "__main__":
    main(sys.argv[1:])
