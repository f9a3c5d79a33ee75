"""Fair comparisons: every contender does the same work, in alternation, with the same untimed
set-up, and is reported as best, median and worst of its samples.

- Rounds alternate the contenders and rotate their order (round r starts at contender r mod n),
  so no contender always runs first (cold caches) or right after a heavy writer (dirty pages).
- Before each timed run, untimed and the same for everyone: the contender's ``setup`` (removing
  its previous output, say), then ``os.sync()`` so nobody pays for pages another left dirty (the
  kernel throttles a writer while too much is dirty).
- Each contender states whether its output is fsynced inside the timed part (``fsync``), since a
  download that waits for the disk is not the same work as one that leaves it to the page cache.

Round counts come from the caller, scaled by ``BENCH_ROUNDS`` (``BENCH_ROUNDS=3 make bench`` for
a quicker run; default: each benchmark's own count).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.common import MiB


@dataclass
class Contender:
    name: str
    #: The timed work.
    run: Callable[[], object]
    #: Untimed, before each run: remove the previous output, reset state.
    setup: Callable[[], object] | None = None
    #: "yes", "no" or "" (no file is written): whether the output is fsynced inside the timing.
    fsync: str = ""
    #: Printed after the figures (what the contender is, what its timing includes).
    note: str = ""
    #: The work one run does (bytes, round trips), when contenders do different amounts;
    #: None: the table's ``work``.
    work: float | None = None


@dataclass
class Samples:
    name: str
    fsync: str = ""
    note: str = ""
    work: float | None = None
    seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def worst(self) -> float:
        return max(self.seconds)


def rounds(default: int) -> int:
    """``default`` unless ``BENCH_ROUNDS`` says otherwise (at least 1)."""
    text = os.environ.get("BENCH_ROUNDS", "")
    return max(1, int(text)) if text.isdigit() else default


def settle() -> None:
    """Write back what earlier runs left dirty (untimed, before every run of every contender)."""
    os.sync()


def compare(contenders: Sequence[Contender], round_count: int) -> dict[str, Samples]:
    """Run every contender once per round, the order rotated each round; samples by name."""
    results = {c.name: Samples(c.name, c.fsync, c.note, c.work) for c in contenders}
    count = len(contenders)
    for round_index in range(round_count):
        for offset in range(count):
            contender = contenders[(round_index + offset) % count]
            if contender.setup is not None:
                contender.setup()
            settle()
            start = time.perf_counter()
            contender.run()
            results[contender.name].seconds.append(time.perf_counter() - start)
    return results


# -- printing ------------------------------------------------------------------------------------

#: Contenders whose note was printed already (a contender can appear in several tables).
_noted: set[str] = set()


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"


def _figure(seconds: float, work: float, unit: str) -> str:
    """A time as a rate of ``work`` per second (``unit``: "MiB/s", "/s") or, with no unit,
    as a duration."""
    if not unit:
        return _duration(seconds)
    if unit == "MiB/s":
        return f"{work / seconds / MiB:,.0f} MiB/s"
    return f"{work / seconds:,.0f} {unit}"


def table(
    title: str,
    rows: Sequence[Samples],
    *,
    work: float = 1.0,
    unit: str = "",
    versus: Sequence[tuple[str, Samples | None]] = (),
    ceiling: Samples | None = None,
) -> None:
    """Print best / median / worst for each contender (as rates when ``unit`` is given), the
    ratio of its median to each ``versus`` contender's median (>1x: this row is faster; per unit
    of work when contenders did different amounts), and its median as a percentage of the
    ``ceiling``'s."""

    def per_unit(samples: Samples) -> float:
        return samples.median / (samples.work or work)

    if title:
        print(f"  {title}")
    head = f"    {'contender':<46} {'fsync':>5} {'best':>12} {'median':>12} {'worst':>12}"
    compared = [(label, other) for label, other in versus if other is not None]
    for label, _ in compared:
        head += f" {'vs ' + label:>14}"
    if ceiling is not None:
        head += f" {'of ceiling':>11}"
    print(head)
    for samples in rows:
        amount = samples.work or work
        line = (
            f"    {samples.name:<46} {samples.fsync or '-':>5}"
            f" {_figure(samples.best, amount, unit):>12}"
            f" {_figure(samples.median, amount, unit):>12}"
            f" {_figure(samples.worst, amount, unit):>12}"
        )
        for _, other in compared:
            assert other is not None
            ratio = "" if other is samples else f"{per_unit(other) / per_unit(samples):.2f}x"
            line += f" {ratio:>14}"
        if ceiling is not None:
            share = "" if ceiling is samples else f"{per_unit(ceiling) / per_unit(samples):.0%}"
            line += f" {share:>11}"
        print(line)
    for samples in rows:
        if samples.note and samples.name not in _noted:
            _noted.add(samples.name)
            print(f"      {samples.name}: {samples.note}")


def header(text: str, round_count: int) -> None:
    rounds_text = "1 round" if round_count == 1 else f"{round_count} rounds"
    print(f"{text}  [{rounds_text}; contenders alternated, order rotated each round]")


def note(text: str) -> None:
    print(f"  {text}")
