"""USB: a download over ``virtual+usb:``, ptpkit's whole USB transport through PyUSB against
the virtual camera as a USB device, with 1 MiB reads against the 512-byte reads miniPtp and
camlib use (landscape.md §12). Counts the bulk read calls per MiB: each is a system call and a
USB transfer on real hardware, where the per-call cost is far higher than here."""

from __future__ import annotations

import contextlib
from typing import Any

import ptpkit
from bench.common import CountingWriter, GiB, MiB
from bench.harness import Contender, compare, header, note, rounds, table
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.usb_device import VirtualUsbDevice

SIZE = 1 * GiB
#: The 512-byte variant reads less: at ~2 million calls per GiB it would take minutes.
SMALL_READS_SIZE = 64 * MiB


def run() -> None:
    count = rounds(3)
    header("USB download over virtual+usb: (PyUSB and the USB transport, no hardware)", count)
    calls = 0
    calls_per_mib: dict[int, float] = {}
    original = VirtualUsbDevice.bulk_read

    def counting(self: VirtualUsbDevice, buffer: object, timeout_ms: int) -> int:
        nonlocal calls
        calls += 1
        return original(self, buffer, timeout_ms)  # type: ignore[arg-type]

    VirtualUsbDevice.bulk_read = counting  # type: ignore[method-assign]
    try:
        with contextlib.ExitStack() as stack:
            camera = stack.enter_context(VirtualCamera())
            contenders = []
            for size, read_bytes, label in (
                (SIZE, 1 << 20, "1 GiB, 1 MiB reads (ptpkit)"),
                (SMALL_READS_SIZE, 512, "64 MiB, 512-byte reads (miniPtp, camlib)"),
            ):
                handle = camera.add_generated_object(size, seed=read_bytes)
                cam = stack.enter_context(
                    ptpkit.connect("virtual+usb:", camera=camera, read_bytes=read_bytes)
                )
                entry = cam.entry(handle)

                def download(cam: Any = cam, entry: Any = entry, size: int = size) -> None:
                    nonlocal calls
                    sink = CountingWriter()
                    calls = 0
                    cam.download(entry, sink)
                    assert sink.count == size
                    calls_per_mib[size] = calls / (size / MiB)

                contenders.append(Contender(label, download, work=size))
            results = compare(contenders, count)
    finally:
        VirtualUsbDevice.bulk_read = original  # type: ignore[method-assign]
    fast, slow = results.values()
    table("", [fast, slow], unit="MiB/s", versus=[("512-byte", slow)])
    note(
        f"bulk reads per MiB: {calls_per_mib[SIZE]:.2f} with 1 MiB reads, "
        f"{calls_per_mib[SMALL_READS_SIZE]:,.0f} with 512-byte reads"
    )
