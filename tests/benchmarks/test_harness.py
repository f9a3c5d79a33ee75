"""bench/harness.py: the contenders of a benchmark alternate round by round with the order rotated,
each run's set-up is untimed and done for everyone, and the figures are best / median / worst
(issue 11, section 6). Measurements are not tested here, only the fairness of the procedure."""

from __future__ import annotations

import time

import pytest
from bench import harness
from bench.harness import Contender, Samples, compare


@pytest.fixture(autouse=True)
def no_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "settle", lambda: None)


def test_rounds_alternate_contenders_and_rotate_the_order() -> None:
    log: list[str] = []
    contenders = [
        Contender(name, (lambda n=name: log.append(n)), setup=(lambda n=name: log.append("s" + n)))
        for name in "abc"
    ]
    results = compare(contenders, 4)
    runs = [entry for entry in log if not entry.startswith("s")]
    assert runs == list("abcbcacababc")
    # Every run is preceded by its own contender's set-up.
    assert log[::2] == ["s" + name for name in runs]
    assert all(len(samples.seconds) == 4 for samples in results.values())


def test_setup_is_not_timed() -> None:
    contender = Contender("x", lambda: None, setup=lambda: time.sleep(0.05))
    [samples] = compare([contender], 3).values()
    assert max(samples.seconds) < 0.05


def test_best_median_worst() -> None:
    samples = Samples("x", seconds=[3.0, 1.0, 2.0, 9.0, 4.0])
    assert (samples.best, samples.median, samples.worst) == (1.0, 3.0, 9.0)


def test_table_states_fsync_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    ours = Samples("ours", fsync="yes", seconds=[1.0, 1.0, 2.0])
    theirs = Samples("theirs", fsync="no", seconds=[3.0, 3.0])
    roof = Samples("roof", fsync="no", seconds=[0.5])
    harness.table(
        "t",
        [ours, theirs, roof],
        work=10 << 20,
        unit="MiB/s",
        versus=[("theirs", theirs)],
        ceiling=roof,
    )
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.strip().startswith("ours"))
    assert row.split()[1:] == ["yes", "10", "MiB/s", "10", "MiB/s", "5", "MiB/s", "3.00x", "50%"]
    assert next(line for line in lines if line.strip().startswith("theirs")).split()[1] == "no"


def test_rounds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_ROUNDS", raising=False)
    assert harness.rounds(5) == 5
    monkeypatch.setenv("BENCH_ROUNDS", "2")
    assert harness.rounds(5) == 2
