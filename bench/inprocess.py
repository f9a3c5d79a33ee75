"""Throughput of the protocol core on both ends, with no I/O in between.

A download over ``virtual:`` runs every byte through the responder's core (USB containers out),
the in-process link, and the initiator's core (containers in, data events to the sink): this is
the ceiling the transports add their I/O costs to.
"""

from __future__ import annotations

import ptpkit
from bench.common import CountingWriter, GiB
from bench.harness import Contender, compare, header, rounds, table
from ptpkit.virtual import VirtualCamera


def run() -> None:
    count = rounds(3)
    header("in-process download (core on both ends, no sockets)", count)
    size = 1 * GiB
    with VirtualCamera() as virtual:
        handle = virtual.add_generated_object(size, seed=7)
        with ptpkit.connect("virtual:", camera=virtual) as cam:
            entry = cam.entry(handle)

            def download() -> None:
                sink = CountingWriter()
                cam.download(entry, sink)  # type: ignore[arg-type]
                assert sink.count == size

            results = compare(
                [Contender("1 GiB GetObject, streamed to a counting sink", download)], count
            )
    table("", list(results.values()), work=size, unit="MiB/s")
