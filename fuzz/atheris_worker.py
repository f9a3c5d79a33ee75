"""The atheris engine for one target, in its own process (libFuzzer ends the process when it is
done, and a timeout or running out of memory kills it): ``python -m fuzz.atheris_worker``.

ptpkit is imported inside ``atheris.instrument_imports()`` so that libFuzzer sees which branches of
ptpkit each input takes (coverage guidance); atheris' regex and str hooks let it solve the
comparisons of the text parsers. Findings are recorded by the harness as they happen (the input
saved, the traceback in the JSON-lines log), and fuzzing goes on: one run reports every distinct
bug, not only the first. Timeouts and out-of-memory kills are left to libFuzzer, which saves the
input as an artifact in the work folder for :mod:`fuzz.runner` to collect.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_dictionary(path: Path, tokens: Sequence[bytes]) -> None:
    """A libFuzzer dictionary: one quoted token a line, bytes as \\xNN escapes."""
    lines = ['"' + "".join(f"\\x{byte:02x}" for byte in token) + '"' for token in tokens if token]
    path.write_text("\n".join(lines) + "\n")


def write_seeds(folder: Path, seeds: Sequence[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(seeds):
        (folder / f"seed-{index:03d}").write_bytes(seed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.atheris_worker")
    parser.add_argument("target")
    parser.add_argument("--seconds", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True, help="corpus, artifacts, log")
    parser.add_argument("--findings", type=Path, required=True)
    parser.add_argument("--timeout", type=int, default=5, help="seconds per input")
    parser.add_argument("--rss-limit-mb", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    atheris: Any = importlib.import_module("atheris")
    hooks = getattr(atheris, "enabled_hooks", None)  # atheris 2.3 (Python 3.10) may lack them
    if hooks is not None:
        hooks.add("RegEx")
        hooks.add("str")
    with atheris.instrument_imports(include=["ptpkit"]):
        targets = importlib.import_module("fuzz.targets")  # imports ptpkit, instrumented
    harness = importlib.import_module("fuzz.harness")

    target = targets.TARGETS[args.target]
    work: Path = args.work
    corpus = work / "corpus"  # new inputs libFuzzer finds (written to the first folder only)
    seed_dir = work / "seeds"
    corpus.mkdir(parents=True, exist_ok=True)
    write_seeds(seed_dir, target.seeds())
    recorder = harness.FindingRecorder(target.name, args.findings, log=work / "findings.jsonl")

    counts = work / "counts.json"
    flushed = [time.monotonic()]

    def test_one_input(data: bytes) -> None:
        exc, _ = harness.execute(target, data)
        if exc is not None:
            recorder.record_exception(data, exc)
            # libFuzzer ends the process without running Python's exit handlers: keep the
            # repeat counts on disk as we go (at most once a second).
            now = time.monotonic()
            if now - flushed[0] > 1.0:
                flushed[0] = now
                counts.write_text(json.dumps(recorder.counts()))

    libfuzzer_args = [
        sys.argv[0],
        f"-max_total_time={max(1, args.seconds)}",
        f"-timeout={max(1, args.timeout)}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-max_len={target.max_len}",
        f"-artifact_prefix={work}/",
        f"-seed={args.seed}",
        "-print_final_stats=1",
    ]
    if target.tokens:
        dictionary = work / "tokens.dict"
        write_dictionary(dictionary, target.tokens)
        libfuzzer_args.append(f"-dict={dictionary}")
    libfuzzer_args += [str(corpus), str(seed_dir)]
    atheris.Setup(libfuzzer_args, test_one_input)
    atheris.Fuzz()  # does not return: libFuzzer exits the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
