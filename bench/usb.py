"""USB: a download over ``virtual+usb:``, ptpkit's whole USB transport through PyUSB against
the virtual camera as a USB device, with 1 MiB reads against the 512-byte reads miniPtp and
camlib use (landscape.md §12). Counts the bulk read calls per MiB: each is a system call and a
USB transfer on real hardware, where the per-call cost is far higher than here."""

from __future__ import annotations

import time

import ptpkit
from bench.common import CountingWriter, GiB, MiB, rate, row
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.usb_device import VirtualUsbDevice

SIZE = 1 * GiB
#: The 512-byte variant reads less: at ~2 million calls per GiB it would take minutes.
SMALL_READS_SIZE = 64 * MiB


def _download(camera: VirtualCamera, handle: int, size: int, read_bytes: int) -> tuple[float, int]:
    calls = 0
    original = VirtualUsbDevice.bulk_read

    def counting(self: VirtualUsbDevice, buffer: object, timeout_ms: int) -> int:
        nonlocal calls
        calls += 1
        return original(self, buffer, timeout_ms)  # type: ignore[arg-type]

    VirtualUsbDevice.bulk_read = counting  # type: ignore[method-assign]
    try:
        with ptpkit.connect("virtual+usb:", camera=camera, read_bytes=read_bytes) as cam:
            entry = cam.entry(handle)
            sink = CountingWriter()
            calls = 0
            start = time.perf_counter()
            cam.download(entry, sink)  # type: ignore[arg-type]
            seconds = time.perf_counter() - start
            assert sink.count == size
    finally:
        VirtualUsbDevice.bulk_read = original  # type: ignore[method-assign]
    return seconds, calls


def run() -> None:
    print("USB download over virtual+usb: (PyUSB and the USB transport, no hardware)")
    with VirtualCamera() as camera:
        big = camera.add_generated_object(SIZE, seed=1)
        small = camera.add_generated_object(SMALL_READS_SIZE, seed=2)
        fast, fast_calls = min(_download(camera, big, SIZE, 1 << 20) for _ in range(3))
        slow, slow_calls = _download(camera, small, SMALL_READS_SIZE, 512)
    fast_rate = SIZE / fast
    slow_rate = SMALL_READS_SIZE / slow
    row(
        "1 GiB, 1 MiB reads (ptpkit)",
        rate(SIZE, fast),
        f"{fast_calls / (SIZE / MiB):.2f} bulk reads per MiB",
    )
    row(
        "64 MiB, 512-byte reads (miniPtp, camlib)",
        rate(SMALL_READS_SIZE, slow),
        f"{slow_calls / (SMALL_READS_SIZE / MiB):,.0f} bulk reads per MiB",
    )
    row(
        "ratio",
        f"{fast_rate / slow_rate:,.0f}x faster",
        f"{(slow_calls / SMALL_READS_SIZE) / (fast_calls / SIZE):,.0f}x fewer read calls",
    )
