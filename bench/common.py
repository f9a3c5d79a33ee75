"""Helpers shared by the benchmarks: timing, sizes, and a sink that only counts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

MiB = 1 << 20
GiB = 1 << 30


class CountingWriter:
    """A binary file object that counts what is written and keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes | memoryview) -> int:
        self.count += len(data)
        return len(data)


@dataclass
class Timer:
    seconds: float = 0.0
    laps: list[float] = field(default_factory=list)


@contextmanager
def timed() -> Iterator[Timer]:
    timer = Timer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - start


def best_of(
    runs: int, action: Callable[[], object], *, prepare: Callable[[], object] | None = None
) -> float:
    """The fastest of ``runs`` runs, in seconds (the least disturbed by the rest of the machine).
    ``prepare`` runs before each run, untimed (removing the last run's output, say)."""
    best = float("inf")
    for _ in range(runs):
        if prepare is not None:
            prepare()
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def rate(byte_count: int, seconds: float) -> str:
    return f"{byte_count / seconds / MiB:,.0f} MiB/s"


def row(name: str, figure: str, note: str = "") -> None:
    print(f"  {name:<44} {figure:>18}  {note}")
