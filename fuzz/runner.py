"""``python -m fuzz``: run every target (or some) for a time budget and print what was done.

The budget is wall-clock time for the whole run, split evenly between the targets (with
``--jobs N``, N targets run at once and each gets N times the share). The engine is atheris when
it is installed (``pip install -e '.[fuzz]'``), else the random engine; the table says which ran.
The exit status is 1 when anything was found, so CI and ``make fuzz`` fail on a finding.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from fuzz.harness import DEFAULT_FINDINGS_DIR, Finding, Result, run_random, save_input

if TYPE_CHECKING:
    from fuzz.targets import Target

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
#: libFuzzer's artifact prefixes and what they mean.
_ARTIFACTS: Final = {
    "crash-": "crash",
    "timeout-": "timeout",
    "oom-": "crash",
    "leak-": "crash",
    "slow-unit-": "slow",
}
#: Restarts of a worker that died on a timeout or out of memory, per target.
_MAX_RESTARTS: Final = 3
#: Seconds an atheris worker takes beyond its fuzzing time, as last measured.
_startup_s: list[float] = [1.5]


class EngineError(Exception):
    """The atheris worker did not run (atheris broken, an import error): use the random engine."""


def atheris_available() -> bool:
    return importlib.util.find_spec("atheris") is not None


def atheris_version() -> str:
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return version("atheris")
    except Exception:
        return "?"


# -- the atheris engine --------------------------------------------------------------------------


@dataclass
class _Stats:
    inputs: int = 0
    coverage: int | None = None
    corpus: int = 0


def parse_libfuzzer_log(text: str) -> _Stats | None:
    """Executions, coverage and corpus size from libFuzzer's output (None: it never ran)."""
    stats = _Stats()
    done = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    progress = re.findall(r"^#(\d+)\s", text, re.MULTILINE)
    if done:
        stats.inputs = int(done[-1])
    elif progress:
        stats.inputs = int(progress[-1])
    else:
        return None
    coverage = re.findall(r"\bcov: (\d+)", text)
    if coverage:
        stats.coverage = int(coverage[-1])
    corpus = re.findall(r"\bcorp: (\d+)/", text)
    if corpus:
        stats.corpus = int(corpus[-1])
    return stats


def run_atheris(
    target: Target,
    seconds: float,
    *,
    findings_dir: Path = DEFAULT_FINDINGS_DIR,
    timeout_s: float = 10.0,
    seed: int = 0,
) -> Result:
    """Fuzz ``target`` with atheris in a subprocess for ``seconds``; restart it (keeping its
    corpus) after a timeout or out-of-memory kill, until the time is used."""
    work = Path(tempfile.mkdtemp(prefix=f"ptpkit-fuzz-{target.name}-"))
    started = time.monotonic()
    deadline = started + seconds
    result = Result(target=target.name, engine=f"atheris {atheris_version()}", inputs=0, seconds=0)
    findings: dict[str, Finding] = {}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    try:
        for attempt in range(_MAX_RESTARTS + 1):
            left = deadline - time.monotonic()
            if attempt and left < 1:
                break
            launched = time.monotonic()
            fuzz_seconds = max(1, round(left - _startup_s[0]))
            command = [
                sys.executable,
                "-m",
                "fuzz.atheris_worker",
                target.name,
                f"--seconds={fuzz_seconds}",
                f"--work={work}",
                f"--findings={findings_dir}",
                f"--timeout={max(1, round(timeout_s))}",
                f"--seed={seed + attempt if seed else 0}",
            ]
            log = work / f"log-{attempt}.txt"
            with log.open("wb") as out:
                process = subprocess.run(  # noqa: S603 (our own interpreter and module)
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=REPO_ROOT,
                    env=env,
                    timeout=max(left, 1) + 300,
                    check=False,
                )
            if process.returncode == 0:
                # What starting the worker costs beyond libFuzzer's own time (imports,
                # instrumentation, seeds): the next worker is given that much less.
                spent = time.monotonic() - launched - fuzz_seconds
                _startup_s[0] = min(10.0, max(0.0, spent))
            text = log.read_text(errors="replace")
            stats = parse_libfuzzer_log(text)
            if stats is None:
                raise EngineError(
                    f"the atheris worker for {target.name} exited with {process.returncode} "
                    f"without fuzzing:\n{_tail(text, 30)}"
                )
            result.inputs += stats.inputs
            result.corpus = max(result.corpus, stats.corpus)
            if stats.coverage is not None:
                result.coverage = max(result.coverage or 0, stats.coverage)
            _collect_logged(work / "findings.jsonl", work / "counts.json", findings)
            died = _collect_artifacts(work, target.name, findings_dir, text, findings)
            if not died:
                break
    finally:
        result.seconds = time.monotonic() - started
        shutil.rmtree(work, ignore_errors=True)
    result.findings = list(findings.values())
    return result


def _collect_logged(log: Path, counts: Path, findings: dict[str, Finding]) -> None:
    """The findings a worker recorded, with the repeat counts it last wrote down."""
    seen: dict[str, int] = json.loads(counts.read_text()) if counts.exists() else {}
    if log.exists():
        for line in log.read_text().splitlines():
            finding = Finding(**json.loads(line))
            finding.count = max(1, seen.get(finding.signature, 1))
            known = findings.get(finding.signature)
            if known is None:
                findings[finding.signature] = finding
            else:  # found again after a restart
                known.count += finding.count
        log.unlink()
    counts.unlink(missing_ok=True)


def _collect_artifacts(
    work: Path, target: str, findings_dir: Path, text: str, findings: dict[str, Finding]
) -> bool:
    """libFuzzer's artifacts (timeouts, crashes) as findings; True when there were any."""
    found = False
    for artifact in sorted(work.iterdir()):
        kind = next((k for prefix, k in _ARTIFACTS.items() if artifact.name.startswith(prefix)), "")
        if not kind or not artifact.is_file():
            continue
        found = True
        data = artifact.read_bytes()
        artifact.unlink()
        reason = _libfuzzer_reason(text) or kind
        signature = kind if reason == kind else f"{kind}: {reason}"
        if signature in findings:
            findings[signature].count += 1
            continue
        path = save_input(findings_dir, target, data)
        detail = _artifact_report(data, text)
        path.with_suffix(".txt").write_text(f"{signature}\n\n{detail}")
        findings[signature] = Finding(
            target=target,
            kind=kind,
            signature=signature,
            path=str(path),
            traceback=detail,
            input_size=len(data),
        )
    return found


def _libfuzzer_reason(text: str) -> str:
    """libFuzzer's one-line reason, without its figures ("timeout after 7 seconds" and "after 6
    seconds" are one finding)."""
    match = re.search(r"==\d+== ERROR: libFuzzer: ([^\n]+)", text)
    if match:
        reason = match.group(1)
        return re.split(r"\s+(?:after|\()", reason, maxsplit=1)[0].strip()
    if "ALARM: working on the last Unit" in text:
        return "timeout"
    return ""


def _artifact_report(data: bytes, text: str) -> str:
    """The input and libFuzzer's report of the kill (from its ALARM or ERROR line on)."""
    lines = text.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if "ALARM:" in line or "ERROR: libFuzzer" in line),
        max(0, len(lines) - 30),
    )
    report = "\n".join(lines[start : start + 60])
    return f"input: {data[:300]!r}{'...' if len(data) > 300 else ''}\n{report}"


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


# -- the run -------------------------------------------------------------------------------------


def _run_random_by_name(
    name: str, seconds: float, findings_dir: Path, seed: int, timeout_s: float
) -> Result:
    """For process pools (a target is found again by name in the worker process)."""
    from fuzz.targets import TARGETS  # noqa: PLC0415

    return run_random(
        TARGETS[name], seconds, findings_dir=findings_dir, seed=seed, timeout_s=timeout_s
    )


def run_targets(
    targets: Sequence[Target],
    seconds: float,
    *,
    engine: str,
    jobs: int = 1,
    findings_dir: Path = DEFAULT_FINDINGS_DIR,
    seed: int = 0,
    timeout_s: float = 10.0,
    progress: Callable[[Result], None] | None = None,
    by_name: bool = True,
) -> list[Result]:
    """Each target for its share of ``seconds``. ``engine``: "atheris" or "random"."""
    jobs = max(1, min(jobs, len(targets)))
    share = seconds * jobs / max(1, len(targets))
    deadline = time.monotonic() + seconds

    def one(index: int, target: Target) -> Result:
        share = shares(index)
        target_seed = seed + index if seed else int(time.time() * 1000) % 2**31 + index
        if engine == "atheris":
            try:
                result = run_atheris(
                    target, share, findings_dir=findings_dir, timeout_s=timeout_s, seed=target_seed
                )
            except EngineError as exc:
                print(f"warning: {exc}\nfalling back to the random engine", file=sys.stderr)
                result = run_random(
                    target, share, findings_dir=findings_dir, seed=target_seed, timeout_s=timeout_s
                )
                result.note = "atheris failed"
        else:
            result = run_random(
                target, share, findings_dir=findings_dir, seed=target_seed, timeout_s=timeout_s
            )
        if progress is not None:
            progress(result)
        return result

    def shares(index: int) -> float:
        if jobs > 1:
            return share
        # One at a time: what is left, over the targets left (a worker's start-up, or a restart
        # after a timeout, is taken from the targets after it, so the run ends on time).
        return max(0.05, (deadline - time.monotonic()) / (len(targets) - index))

    if jobs == 1:
        return [one(index, target) for index, target in enumerate(targets)]
    if engine == "atheris":
        with ThreadPoolExecutor(max_workers=jobs) as pool:  # each thread waits on a subprocess
            return list(pool.map(one, range(len(targets)), targets))
    if not by_name:
        raise ValueError("--jobs with the random engine needs targets from fuzz.targets")
    with ProcessPoolExecutor(max_workers=jobs) as processes:
        futures = [
            processes.submit(
                _run_random_by_name,
                target.name,
                share,
                findings_dir,
                seed + index if seed else int(time.time() * 1000) % 2**31 + index,
                timeout_s,
            )
            for index, target in enumerate(targets)
        ]
        results = [future.result() for future in futures]
    if progress is not None:
        for result in results:
            progress(result)
    return results


def format_table(results: Sequence[Result], wall_seconds: float) -> str:
    header = (
        f"{'target':<28} {'engine':<14} {'inputs':>12} {'inputs/s':>10} "
        f"{'corpus':>7} {'cov':>6} {'findings':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        engine = r.engine + (" *" if r.note else "")
        coverage = "-" if r.coverage is None else str(r.coverage)
        lines.append(
            f"{r.target:<28} {engine:<14} {r.inputs:>12,} {r.per_second:>10,.0f} "
            f"{r.corpus:>7} {coverage:>6} {len(r.findings):>8}"
        )
    total = sum(r.inputs for r in results)
    fuzz_seconds = sum(r.seconds for r in results)
    findings = sum(len(r.findings) for r in results)
    lines.append("-" * len(header))
    rate = total / fuzz_seconds if fuzz_seconds else 0
    lines.append(
        f"{'total':<28} {'':<14} {total:>12,} {rate:>10,.0f} {'':>7} {'':>6} {findings:>8}"
    )
    lines.append(
        f"{len(results)} targets, {total:,} inputs in {wall_seconds / 60:.1f} min wall clock "
        f"({fuzz_seconds / 60:.1f} target-minutes), {findings} findings"
    )
    if any(r.note for r in results):
        lines.append("* atheris could not run this target; the random engine did")
    return "\n".join(lines)


def format_findings(results: Sequence[Result]) -> str:
    blocks = []
    for r in results:
        for f in r.findings:
            blocks.append(
                f"== {f.target}: {f.kind}: {f.signature} (seen {f.count}x)\n"
                f"input ({f.input_size} bytes): {f.path}\n{f.traceback.rstrip()}"
            )
    return "\n\n".join(blocks)


def _parse_args(argv: Sequence[str] | None, names: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fuzz",
        description="Fuzz ptpkit's parsers; exit status 1 when anything is found.",
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="total wall-clock budget (default 60)"
    )
    parser.add_argument(
        "--target",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="fuzz only these targets (repeatable; default: all)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        nargs="?",
        const=os.cpu_count() or 1,
        default=1,
        help="targets to run at once (--jobs alone: one per CPU)",
    )
    parser.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto")
    parser.add_argument("--seed", type=int, default=0, help="0: a new seed each run")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds one input may take (default 10)"
    )
    parser.add_argument("--findings-dir", type=Path, default=DEFAULT_FINDINGS_DIR)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    args = parser.parse_args(argv)
    unknown = [name for name in args.target if name not in names]
    if unknown:
        parser.error(f"unknown target(s): {', '.join(unknown)}; try --list")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


def main(
    argv: Sequence[str] | None = None,
    *,
    targets: Mapping[str, Target] | None = None,
    out: TextIO | None = None,
) -> int:
    """The command line. ``targets`` replaces the registry (tests use it for planted bugs)."""
    from fuzz.targets import TARGETS, default_targets  # noqa: PLC0415

    stream = out or sys.stdout
    registry = dict(targets) if targets is not None else TARGETS
    args = _parse_args(argv, list(registry))
    if args.list:
        for target in registry.values():
            print(f"{target.name:<28} {target.doc}", file=stream)
        return 0
    if args.target:
        chosen = [registry[name] for name in args.target]
    elif targets is not None:
        chosen = list(registry.values())
    else:
        chosen = default_targets()

    engine = args.engine
    if engine == "auto":
        engine = "atheris" if atheris_available() else "random"
    elif engine == "atheris" and not atheris_available():
        print("atheris is not installed: pip install -e '.[fuzz]'", file=sys.stderr)
        return 2
    if engine == "atheris" and targets is not None:
        engine = "random"  # the subprocess would not know targets passed in

    how = (
        "atheris (libFuzzer, coverage-guided)"
        if engine == "atheris"
        else "random (seeded mutation, no coverage)"
    )
    print(
        f"fuzzing {len(chosen)} targets for {args.seconds:g} s in total with {how}, "
        f"{args.jobs} at a time; findings go to {args.findings_dir}",
        file=stream,
        flush=True,
    )
    done = 0

    def progress(result: Result) -> None:
        nonlocal done
        done += 1
        print(
            f"[{done}/{len(chosen)}] {result.target}: {result.inputs:,} inputs, "
            f"{len(result.findings)} findings",
            file=sys.stderr,
            flush=True,
        )

    started = time.monotonic()
    results = run_targets(
        chosen,
        args.seconds,
        engine=engine,
        jobs=args.jobs,
        findings_dir=args.findings_dir,
        seed=args.seed,
        timeout_s=args.timeout,
        progress=progress,
        by_name=targets is None,
    )
    wall = time.monotonic() - started
    print(format_table(results, wall), file=stream)
    details = format_findings(results)
    if details:
        print("\nFINDINGS\n\n" + details, file=stream)
    if args.json:
        command = "python -m fuzz " + " ".join(argv if argv is not None else sys.argv[1:])
        args.json.write_text(
            json.dumps(
                {
                    "command": command.strip(),
                    "engine": engine,
                    "wall_seconds": round(wall, 1),
                    "total_inputs": sum(r.inputs for r in results),
                    "findings": sum(len(r.findings) for r in results),
                    "targets": [r.to_json() for r in results],
                },
                indent=2,
            )
            + "\n"
        )
    return 1 if any(r.findings for r in results) else 0
