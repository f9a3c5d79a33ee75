"""Throughput of the protocol core on both ends, with no I/O in between.

A download over ``virtual:`` runs every byte through the responder's core (USB containers out),
the in-process link, and the initiator's core (containers in, data events to the sink): this is
the ceiling the transports add their I/O costs to.
"""

from __future__ import annotations

import ptpkit
from bench.common import CountingWriter, GiB, best_of, rate, row
from ptpkit.virtual import VirtualCamera


def run() -> None:
    print("in-process download (core on both ends, no sockets)")
    size = 1 * GiB
    with VirtualCamera() as virtual:
        handle = virtual.add_generated_object(size, seed=7)
        with ptpkit.connect("virtual:", camera=virtual) as cam:
            entry = cam.entry(handle)

            def download() -> None:
                sink = CountingWriter()
                cam.download(entry, sink)  # type: ignore[arg-type]
                assert sink.count == size

            seconds = best_of(3, download)
    row("1 GiB GetObject, streamed to a counting sink", rate(size, seconds), f"{seconds:.2f} s")
