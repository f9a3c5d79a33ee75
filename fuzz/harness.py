"""Running inputs through a target, recording findings, and the random engine.

Both engines share :func:`execute` (one input: fine, an allowed error, or a finding) and
:class:`FindingRecorder` (a finding's input goes to ``<findings>/<target>-<sha>.bin`` with its
traceback next to it in ``.txt``; findings are grouped by where they happen, so one bug found a
million times is one finding with a count).

The random engine, used where atheris is not installed (and by CI's short pass), mutates the
golden seeds with libFuzzer's classic mutations (bit flips, interesting integers, lengths that
match the input, insertions, deletions, splices, dictionary tokens). Without coverage, it keeps an
input when it ends somewhere new: an allowed error raised at a line not seen before.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from fuzz.targets import Target

DEFAULT_FINDINGS_DIR: Final = Path(__file__).resolve().parent / "findings"


@dataclass
class Finding:
    target: str
    #: "exception" (not allowed), "invariant" (a property broke), "timeout", "crash" (the
    #: process died: out of memory, a signal), "slow" (an input took longer than the timeout).
    kind: str
    #: What groups repeats: the exception type and where it was raised.
    signature: str
    #: The saved input (the first one that found it).
    path: str
    traceback: str
    count: int = 1
    input_size: int = 0


@dataclass
class Result:
    target: str
    engine: str
    inputs: int
    seconds: float
    findings: list[Finding] = field(default_factory=list)
    #: Inputs kept because they covered something new (libFuzzer's corpus, or the random
    #: engine's pool).
    corpus: int = 0
    #: libFuzzer's coverage counter (edges and features); None for the random engine.
    coverage: int | None = None
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.inputs / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["per_second"] = round(self.per_second, 1)
        return data


def signature_of(exc: BaseException) -> str:
    """Where an exception comes from: its type and the innermost frame in ptpkit or the harness
    (an invariant is named by its key)."""
    key = getattr(exc, "key", None)
    if isinstance(key, str):
        return f"invariant {key}"
    where = "?"
    for frame, line in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if "ptpkit" in filename or "fuzz" in filename:
            where = f"{Path(filename).name}:{line} in {frame.f_code.co_name}"
    return f"{type(exc).__name__} at {where}"


def execute(target: Target, data: bytes) -> tuple[BaseException | None, tuple[str, ...]]:
    """Run one input. Returns (the exception if it is a finding, else None; the outcome: where the
    input ended, for the random engine's feedback)."""
    try:
        target.run(data)
    except target.allowed as exc:
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is None:
            return None, (type(exc).__name__,)
        return None, (type(exc).__name__, tb.tb_frame.f_code.co_filename, str(tb.tb_lineno))
    except Exception as exc:  # anything else is what we are looking for
        return exc, ("finding",)
    return None, ("ok",)


class FindingRecorder:
    """Saves each new finding's input and traceback; counts repeats."""

    def __init__(self, target: str, findings_dir: Path, log: Path | None = None) -> None:
        self.target = target
        self.findings_dir = findings_dir
        #: JSON lines, one per new finding (the atheris worker reports through it).
        self.log = log
        self.findings: dict[str, Finding] = {}

    def record_exception(self, data: bytes, exc: BaseException) -> Finding | None:
        kind = "invariant" if getattr(exc, "key", None) else "exception"
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return self.record(data, kind, signature_of(exc), text)

    def counts(self) -> dict[str, int]:
        return {signature: finding.count for signature, finding in self.findings.items()}

    def record(self, data: bytes, kind: str, signature: str, text: str) -> Finding | None:
        """Returns the Finding when it is new, None for a repeat."""
        known = self.findings.get(signature)
        if known is not None:
            known.count += 1
            return None
        path = save_input(self.findings_dir, self.target, data)
        path.with_suffix(".txt").write_text(f"{signature}\n\n{text}")
        finding = Finding(
            target=self.target,
            kind=kind,
            signature=signature,
            path=str(path),
            traceback=text,
            input_size=len(data),
        )
        self.findings[signature] = finding
        if self.log is not None:
            with self.log.open("a") as stream:
                stream.write(json.dumps(asdict(finding)) + "\n")
        return finding


def save_input(findings_dir: Path, target: str, data: bytes) -> Path:
    findings_dir.mkdir(parents=True, exist_ok=True)
    path = findings_dir / f"{target}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path


# -- the random engine ---------------------------------------------------------------------------

_INTERESTING_8: Final = (0, 1, 0x7F, 0x80, 0xFF)
_INTERESTING_16: Final = (0, 1, 0x7F, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x4002, 0x4006)
_INTERESTING_32: Final = (0, 1, 8, 12, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFE, 0xFFFFFFFF)


class Mutator:
    """libFuzzer-style mutations of seed inputs, from one seeded ``random.Random``."""

    def __init__(
        self,
        rng: random.Random,
        seeds: Sequence[bytes],
        *,
        max_len: int,
        tokens: Sequence[bytes] = (),
    ) -> None:
        self.rng = rng
        self.pool: list[bytes] = [seed for seed in seeds if len(seed) <= max_len] or [b""]
        self.max_len = max_len
        self.tokens = list(tokens) or [b"\x00", b"\xff\xff\xff\xff"]

    def keep(self, data: bytes) -> None:
        if len(self.pool) < 4096:
            self.pool.append(data)

    def next_input(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.05:
            return rng.randbytes(rng.randrange(0, 64))
        data = bytearray(rng.choice(self.pool))
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4, 6, 8))):
            self._mutate(data)
        return bytes(data[: self.max_len])

    def _mutate(self, data: bytearray) -> None:
        rng = self.rng
        size = len(data)
        choice = rng.randrange(12)
        if size == 0 or choice == 0:  # insert random bytes
            pos = rng.randrange(size + 1)
            data[pos:pos] = rng.randbytes(rng.choice((1, 1, 2, 4, 8, 16)))
        elif choice == 1:  # flip a bit
            pos = rng.randrange(size)
            data[pos] ^= 1 << rng.randrange(8)
        elif choice == 2:  # set a random byte
            data[rng.randrange(size)] = rng.randrange(256)
        elif choice == 3:  # an interesting integer of 1, 2 or 4 bytes
            width = rng.choice((1, 2, 4))
            values = {1: _INTERESTING_8, 2: _INTERESTING_16, 4: _INTERESTING_32}[width]
            value = rng.choice((*values, size, max(0, size - 8), max(0, size - 12)))
            pos = rng.randrange(size)
            data[pos : pos + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
        elif choice == 4:  # a length field that tells the truth (or lies by a little)
            pos = rng.randrange(0, size, 4) if rng.random() < 0.7 else 0
            value = max(0, size - pos + rng.choice((0, 0, 0, -1, 1, 4)))
            data[pos : pos + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
        elif choice == 5:  # add or subtract a little
            pos = rng.randrange(size)
            data[pos] = (data[pos] + rng.choice((-2, -1, 1, 2, 16, -16))) % 256
        elif choice == 6:  # delete a range
            pos = rng.randrange(size)
            del data[pos : pos + rng.choice((1, 1, 2, 4, 8, 32, size))]
        elif choice == 7:  # duplicate a range
            pos = rng.randrange(size)
            chunk = data[pos : pos + rng.choice((1, 2, 4, 8, 16, 64))]
            at = rng.randrange(len(data) + 1)
            data[at:at] = chunk
        elif choice == 8:  # truncate
            del data[rng.randrange(size) :]
        elif choice == 9:  # splice with another pool input
            other = rng.choice(self.pool)
            cut = rng.randrange(size + 1)
            other_cut = rng.randrange(len(other) + 1)
            data[cut:] = other[other_cut:]
        elif choice == 10:  # a dictionary token, inserted or overwriting
            token = rng.choice(self.tokens)
            pos = rng.randrange(size + 1)
            if rng.random() < 0.5:
                data[pos:pos] = token
            else:
                data[pos : pos + len(token)] = token
        else:  # a run of one byte value
            pos = rng.randrange(size + 1)
            data[pos:pos] = bytes([rng.choice((0, 0xFF, 0x41, 0x2E, 0x2F))]) * rng.randrange(1, 40)


def run_random(
    target: Target,
    seconds: float,
    *,
    findings_dir: Path = DEFAULT_FINDINGS_DIR,
    seed: int = 0,
    timeout_s: float = 5.0,
    max_inputs: int | None = None,
) -> Result:
    """Fuzz ``target`` in this process for ``seconds`` (or ``max_inputs``) with the random engine.
    Every seed runs first, then mutations of the pool."""
    recorder = FindingRecorder(target.name, findings_dir)
    seeds = target.seeds()
    mutator = Mutator(random.Random(seed), seeds, max_len=target.max_len, tokens=target.tokens)
    outcomes: set[tuple[str, ...]] = set()
    clock = time.perf_counter
    started = clock()
    deadline = started + seconds
    count = 0
    queue = list(seeds)
    while True:
        data = queue.pop() if queue else mutator.next_input()
        before = clock()
        exc, outcome = execute(target, data)
        after = clock()
        count += 1
        if exc is not None:
            recorder.record_exception(data, exc)
        elif after - before > timeout_s:
            recorder.record(
                data,
                "slow",
                f"slow input ({after - before:.1f} s > {timeout_s:g} s)",
                f"one input took {after - before:.2f} s",
            )
        if outcome not in outcomes:
            outcomes.add(outcome)
            mutator.keep(data)
        if (after >= deadline and not queue) or (max_inputs is not None and count >= max_inputs):
            break
    return Result(
        target=target.name,
        engine="random",
        inputs=count,
        seconds=clock() - started,
        findings=list(recorder.findings.values()),
        corpus=len(mutator.pool),
    )
