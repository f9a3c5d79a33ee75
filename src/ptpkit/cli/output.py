"""Where a command's output goes, as text or as JSON.

A command prints text lines with :meth:`Output.text` (skipped in JSON mode) and hands its result
document to :meth:`Output.data` (printed only in JSON mode), so the two can never disagree about
which mode is on. Status notes ("waiting for events...") go to stderr, keeping stdout clean for
pipes. The command server swaps in an Output that collects the document for its JSON envelope.
Text lines and notes pass through :func:`printable`: they carry names from the camera.

JSON documents are built in :mod:`ptpkit.cli.schema`; their field names are documented in the
README and do not change without a note there.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import io
import re
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

#: A JSON document: what json.dumps takes.
Json = Any


class Output:
    """One command's output streams and mode."""

    def __init__(
        self,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        *,
        json_mode: bool = False,
        collect: bool = False,
        progress: bool | None = None,
    ) -> None:
        # None: sys.stdout / sys.stderr as they are at each write, so that a progress bar's live
        # display (which redirects them while it runs) keeps our lines above the bar.
        self._stdout = stdout
        self._stderr = stderr
        self.json_mode = json_mode
        #: Keep JSON documents in :attr:`collected` instead of printing them (command server).
        self.collect = collect
        self.collected: list[Json] = []
        self._progress = progress

    @property
    def stdout(self) -> TextIO:
        return self._stdout if self._stdout is not None else sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr if self._stderr is not None else sys.stderr

    def with_json(self, on: bool) -> Output:
        """This output in JSON mode if ``on`` (a command's own ``--json``): a copy, so that in the
        shell one ``info --json`` leaves the next command in text mode."""
        if not on or self.json_mode:
            return self
        clone = copy.copy(self)  # shares the streams and the collected list
        clone.json_mode = True
        return clone

    def text(self, line: str = "") -> None:
        if not self.json_mode:
            self.stdout.write(printable(line) + "\n")
            self.stdout.flush()

    def data(self, document: Json) -> None:
        """The command's result document (JSON mode only)."""
        if not self.json_mode:
            return
        if self.collect:
            self.collected.append(document)
            return
        self.stdout.write(dumps(document, indent=2) + "\n")
        self.stdout.flush()

    @contextlib.contextmanager
    def array(self) -> Iterator[Callable[[Json], None]]:
        """The command's result, a JSON array, one item at a time (JSON mode only): the same
        document as :meth:`data` with a list, written as the items come, so that a result of a
        million rows is never held whole. The array is closed however the block ends."""
        if not self.json_mode:
            yield lambda item: None
            return
        if self.collect:
            items: list[Json] = []
            try:
                yield items.append
            finally:
                self.collected.append(items)
            return
        count = 0

        def add(item: Json) -> None:
            nonlocal count
            text = dumps(item, indent=2).replace("\n", "\n  ")
            self.stdout.write(("[\n  " if count == 0 else ",\n  ") + text)
            self.stdout.flush()
            count += 1

        try:
            yield add
        finally:
            self.stdout.write("[]\n" if count == 0 else "\n]\n")
            self.stdout.flush()

    def stream(self, document: Json) -> None:
        """One item of a result that runs until interrupted (tether), in JSON mode: one document
        per line (JSON Lines), so that a reader can act on each as it comes. Text mode prints
        its own lines with :meth:`text`."""
        if not self.json_mode:
            return
        if self.collect:
            self.collected.append(document)
            return
        self.stdout.write(dumps(document) + "\n")
        self.stdout.flush()

    def note(self, line: str) -> None:
        """Status for the person watching (stderr), never part of the result."""
        self.stderr.write(printable(line) + "\n")
        self.stderr.flush()

    @property
    def progress_console(self) -> Console:
        """The console progress bars draw on: stderr, and only when it is a terminal."""
        # rich is loaded for progress bars and tables only: a command that prints a line
        # (`get iso`) starts ~20 ms sooner without it.
        from rich.console import Console  # noqa: PLC0415

        console = Console(file=self.stderr, stderr=True)
        if self._progress is False or self.collect:
            console.quiet = True
        return console

    @property
    def shows_progress(self) -> bool:
        if self._progress is not None:
            return self._progress and not self.collect
        return not self.collect and self.stderr.isatty()


def capture_output(*, json_mode: bool) -> tuple[Output, io.StringIO]:
    """An Output writing text (and notes, in text mode) into a buffer; JSON is collected."""
    buffer = io.StringIO()
    notes = buffer if not json_mode else io.StringIO()
    return Output(buffer, notes, json_mode=json_mode, collect=json_mode, progress=False), buffer


def dumps(document: Json, *, indent: int | None = None) -> str:
    import json  # noqa: PLC0415  (loads for --json, not with every command: start-up time)

    return json.dumps(document, indent=indent, ensure_ascii=False, default=_json_default)


def _json_default(value: object) -> Json:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# -- text helpers ----------------------------------------------------------------------------------

#: C0 and C1 control characters. A camera's file names can hold any of them (ESC, BEL, CR...);
#: written raw, they would drive the user's terminal: colours, cursor moves, the window title.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters shown as ``\\x1b`` escapes, safe to print."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def format_size(count: int) -> str:
    """``1536`` -> ``1.5 KiB`` (binary units, as the progress bar shows)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover  (the loop always returns)


def format_when(when: _dt.datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M") if when else "-"


def hexdump(data: bytes, *, limit: int | None = None, total: int | None = None) -> list[str]:
    """``hexdump -C`` lines, as the Go ptpip tool's ``opreq`` prints them::

    00000000  64 01 00 00 02 00 2b 90  07 00 00 00 08 00 00 00  |d.....+.........|

    ``total``: the size of the whole when ``data`` is only its beginning (the rest in a file).
    """
    shown = data if limit is None else data[:limit]
    lines = []
    for offset in range(0, len(shown), 16):
        row = shown[offset : offset + 16]
        left = " ".join(f"{b:02x}" for b in row[:8])
        right = " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{offset:08x}  {left:<23}  {right:<23}  |{text}|")
    size = len(data) if total is None else total
    if len(shown) < size:
        lines.append(f"... {size - len(shown)} more bytes not shown")
    return lines


def columns(rows: list[list[str]], *, right: set[int] | None = None) -> list[str]:
    """Rows of cells as aligned lines (plain text: greppable, no colours, no wrapping)."""
    if not rows:
        return []
    right = right or set()
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
