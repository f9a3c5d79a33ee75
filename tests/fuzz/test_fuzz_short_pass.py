"""CI's short fuzzing pass, and tests of the harness itself.

Every target of ``fuzz/`` runs for a fraction of a second through the same harness code that
``make fuzz`` uses (the random engine, in this process) and must find nothing. ``make fuzz`` runs
the same targets for minutes with atheris; a finding there becomes a test in
``test_fuzz_regressions.py``.
"""

from __future__ import annotations

import io
import json
import os
import platform
import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

# The harness is the ``fuzz`` package at the repository root (not installed).
REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from fuzz.harness import FindingRecorder, Mutator, execute, run_random  # noqa: E402
from fuzz.runner import (  # noqa: E402
    atheris_available,
    format_findings,
    main,
    parse_libfuzzer_log,
)
from fuzz.script import Piece, make_script, split_script  # noqa: E402
from fuzz.targets import TARGETS, InvariantViolation, Target, check, default_targets  # noqa: E402

#: Seconds per target: 30 targets make about 18 s.
BUDGET_S = float(os.environ.get("PTPKIT_FUZZ_SHORT_S", "0.6"))


@pytest.mark.parametrize("name", [target.name for target in default_targets()])
def test_short_pass_finds_nothing(name: str, tmp_path: Path) -> None:
    # A fixed seed per target: CI explores the same inputs every run (findings reproduce), and
    # PTPKIT_FUZZ_SEED moves it.
    seed = zlib.crc32(name.encode()) + int(os.environ.get("PTPKIT_FUZZ_SEED", "0"))
    result = run_random(TARGETS[name], BUDGET_S, findings_dir=tmp_path, seed=seed)
    assert not result.findings, format_findings([result])
    assert result.inputs >= len(TARGETS[name].seeds())
    assert result.per_second > 0


def test_every_seed_runs_cleanly() -> None:
    for target in default_targets():
        seeds = target.seeds()
        assert seeds, target.name
        assert sum(len(seed) for seed in seeds) < 16_384, target.name
        for seed in seeds:
            exc, _ = execute(target, seed)
            assert exc is None, f"{target.name}: seed {seed.hex()} gives {exc!r}"


# -- the harness itself --------------------------------------------------------------------------


def test_a_planted_bug_is_a_finding_with_its_input_saved(tmp_path: Path) -> None:
    target = TARGETS["selftest_broken"]
    result = run_random(target, 0.3, findings_dir=tmp_path, seed=1)
    assert len(result.findings) == 1  # one bug, however often it is hit
    finding = result.findings[0]
    assert finding.kind == "exception"
    assert finding.signature.startswith("ZeroDivisionError at targets.py:")
    assert finding.count >= 1
    saved = Path(finding.path)
    assert saved.parent == tmp_path
    assert saved.name.startswith("selftest_broken-")
    assert saved.suffix == ".bin"
    data = saved.read_bytes()
    assert data[:1] == b"\x01"  # the input that triggers the planted bug
    assert "planted bug" in saved.with_suffix(".txt").read_text()
    # Replaying the saved input reproduces it.
    exc, _ = execute(target, data)
    assert isinstance(exc, ZeroDivisionError)
    # An allowed error is not a finding.
    assert execute(target, b"\x02")[0] is None


def test_an_invariant_violation_is_a_finding(tmp_path: Path) -> None:
    def run(data: bytes) -> None:
        check(len(data) < 3, "short-inputs-only", "{} bytes", len(data))

    target = Target(
        name="invariant_demo", doc="", run=run, allowed=(), seeds=lambda: [b"", b"abcd"]
    )
    result = run_random(target, 0.1, findings_dir=tmp_path, seed=2)
    assert [f.signature for f in result.findings] == ["invariant short-inputs-only"]
    assert result.findings[0].kind == "invariant"
    assert "bytes" in result.findings[0].traceback


def test_findings_are_grouped_by_where_they_happen(tmp_path: Path) -> None:
    recorder = FindingRecorder("demo", tmp_path)
    for data in (b"a", b"b", b"c"):
        try:
            raise InvariantViolation("same-place", data.decode())
        except InvariantViolation as exc:
            recorder.record_exception(data, exc)
    assert recorder.counts() == {"invariant same-place": 3}
    assert len(list(tmp_path.glob("*.bin"))) == 1


def test_the_command_reports_findings_and_fails(tmp_path: Path) -> None:
    out = io.StringIO()
    figures = tmp_path / "figures.json"
    status = main(
        [
            "--seconds=0.6",
            "--engine=random",
            f"--findings-dir={tmp_path}",
            f"--json={figures}",
            "--seed=7",
        ],
        targets={
            "selftest_broken": TARGETS["selftest_broken"],
            "uint32_array": TARGETS["uint32_array"],
        },
        out=out,
    )
    text = out.getvalue()
    assert status == 1
    assert "selftest_broken" in text
    assert "FINDINGS" in text
    assert "ZeroDivisionError: planted bug" in text  # the traceback is printed
    report = json.loads(figures.read_text())
    rows = {row["target"]: row for row in report["targets"]}
    assert rows["selftest_broken"]["findings"]
    assert rows["uint32_array"]["findings"] == []
    assert rows["uint32_array"]["per_second"] > 0
    assert report["total_inputs"] == sum(row["inputs"] for row in report["targets"]) > 0
    assert list(tmp_path.glob("selftest_broken-*.bin"))


def test_a_clean_run_exits_zero_and_prints_the_figures(tmp_path: Path) -> None:
    out = io.StringIO()
    status = main(
        ["--seconds=0.3", "--engine=random", f"--findings-dir={tmp_path}", "--seed=3"],
        targets={"usb_cancel_request": TARGETS["usb_cancel_request"]},
        out=out,
    )
    assert status == 0
    row = next(line for line in out.getvalue().splitlines() if line.startswith("usb_cancel"))
    _, engine, inputs, per_second, *_ = row.split()
    assert engine == "random"
    assert int(inputs.replace(",", "")) > 0
    assert float(per_second.replace(",", "")) > 0
    assert not list(tmp_path.iterdir())


def test_unknown_target_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        main(["--target", "no_such_target"], out=io.StringIO())
    assert info.value.code == 2


#: Where the dev extra installs atheris (pyproject.toml): there CI must run this test, not skip it.
ATHERIS_EXPECTED = (
    sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info >= (3, 11)
)


@pytest.mark.skipif(
    not atheris_available() and not (os.environ.get("CI") and ATHERIS_EXPECTED),
    reason="atheris is not installed (it has wheels for Linux x86_64, CPython 3.11+ only)",
)
def test_the_atheris_engine_finds_the_planted_bug(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    findings = tmp_path / "findings"
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "fuzz",
            "--engine=atheris",
            "--seconds=6",
            "--target",
            "selftest_broken",
            "usb_cancel_request",
            f"--findings-dir={findings}",
            f"--json={figures}",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 1, process.stdout + process.stderr
    assert "atheris" in process.stdout
    report = json.loads(figures.read_text())
    assert report["engine"] == "atheris"
    rows = {row["target"]: row for row in report["targets"]}
    assert rows["usb_cancel_request"]["findings"] == []
    assert rows["usb_cancel_request"]["inputs"] > 1000
    assert rows["usb_cancel_request"]["coverage"]  # libFuzzer saw ptpkit's branches
    (finding,) = rows["selftest_broken"]["findings"]
    assert "ZeroDivisionError" in finding["signature"]
    assert Path(finding["path"]).read_bytes()[:1] == b"\x01"


# -- pieces of the harness -----------------------------------------------------------------------


def test_split_scripts_round_trip() -> None:
    pieces = [
        Piece(b"a" * 40, transfer_ended=True, act=2),
        Piece(b"", act=3),
        Piece(b"bc", transfer_ended=True),
        Piece(b"tail", transfer_ended=True, act=1),
    ]
    decoded = split_script(make_script(pieces))
    assert b"".join(p.data for p in decoded) == b"".join(p.data for p in pieces)
    assert decoded[-1] == pieces[-1]
    assert decoded[-3:] == pieces[1:]  # the 40-byte piece took two entries (31 + 9)
    assert [len(p.data) for p in decoded[:2]] == [31, 9]
    assert decoded[1].act == 2
    assert split_script(b"") == []


def test_mutations_stay_within_the_size_limit() -> None:
    mutator = Mutator(random.Random(5), [bytes(100)], max_len=64, tokens=[b"xyz"])
    sizes = [len(mutator.next_input()) for _ in range(2000)]
    assert max(sizes) <= 64
    assert len(set(sizes)) > 10


def test_the_libfuzzer_log_is_read() -> None:
    log = (
        "#2\tINITED cov: 50 ft: 51 corp: 5/205b exec/s: 0 rss: 45Mb\n"
        "#9001\tNEW    cov: 61 ft: 70 corp: 9/300b lim: 20 exec/s: 4500 rss: 46Mb\n"
        "Done 123456 runs in 10 second(s)\n"
        "stat::number_of_executed_units: 123456\n"
    )
    stats = parse_libfuzzer_log(log)
    assert stats is not None
    assert (stats.inputs, stats.coverage, stats.corpus) == (123456, 61, 9)
    assert parse_libfuzzer_log("ImportError: no module named atheris") is None
