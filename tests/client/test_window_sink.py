"""WindowSink: a range of a data phase read whole, kept in memory bounded by the range."""

from __future__ import annotations

import random

import pytest

from ptpkit.client.streams import WindowSink


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000, 5000])
@pytest.mark.parametrize(
    ("offset", "length"), [(0, 10), (5, 100), (990, 10), (995, 100), (2000, 5)]
)
def test_the_window_of_the_whole_whatever_the_chunks(chunk: int, offset: int, length: int) -> None:
    data = random.Random(offset * 7 + length).randbytes(1000)
    sink = WindowSink(offset, length)
    sink.start(len(data))
    for start in range(0, len(data), chunk):
        sink.write(memoryview(data)[start : start + chunk])
    sink.finish()
    assert sink.getvalue() == data[offset : offset + length]
    assert sink.seen == len(data)


def test_memory_is_bounded_by_the_range() -> None:
    sink = WindowSink(10, 4)
    sink.start(1 << 40)  # a huge object: no refusal, nothing held beyond the window
    for _ in range(100):
        sink.write(bytes(1 << 16))
    assert len(sink.getvalue()) == 4
