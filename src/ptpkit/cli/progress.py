"""Transfer progress for the terminal: a bar with bytes, rate and time left on a terminal,
nothing when output is piped.

rich is loaded only when a bar is drawn: a piped or scripted command (``capture --download``
from a script, a benchmark) does not pay the ~20 ms its import costs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ptpkit.cli.output import Output, printable
from ptpkit.client.streams import ProgressCallback

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


def _bar(console: Console, *, transient: bool, enabled: bool) -> Progress:
    """A bar with bytes, rate and time left, drawn only when ``enabled`` on a terminal."""
    from rich.progress import (  # noqa: PLC0415  (see the module's docstring)
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        # Labels are camera file names: never read as rich markup (a name like "[/]x" would be a
        # markup error, "[bold]" would change the display), and their control characters
        # shown escaped (``\\x1b``) as on every other line: rich passes an ESC through.
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=not (enabled and console.is_terminal),
    )


@contextmanager
def transfer_progress(
    console: Console, label: str, total: int | None
) -> Iterator[ProgressCallback]:
    """A progress callback for one transfer, shown as a bar while the block runs."""
    progress = _bar(console, transient=False, enabled=True)
    task = progress.add_task(printable(label), total=total)

    def update(done: int, total_bytes: int | None) -> None:
        progress.update(task, completed=done, total=total_bytes)

    with progress:
        yield update


class BatchProgress:
    """Progress of several transfers: one bar for the whole batch and one for the current file
    (bytes, rate, time left), drawn on ``console`` when it is a terminal. ``console`` None:
    nothing is drawn and rich is not loaded (:meth:`for_output` chooses). ``files`` and
    ``total_bytes`` None: a batch too large to count first (the bar counts up)."""

    def __init__(
        self, console: Console | None, *, files: int | None, total_bytes: int | None
    ) -> None:
        self._progress = None if console is None else _bar(console, transient=True, enabled=True)
        self._files = files
        self._done_files = 0
        self._done_bytes = 0
        self._total = (
            self._progress.add_task(self._total_label(), total=total_bytes)
            if self._progress is not None and (files is None or files > 1)
            else None
        )

    @classmethod
    def for_output(
        cls, out: Output, *, files: int | None, total_bytes: int | None
    ) -> BatchProgress:
        """Bars when ``out`` shows progress (stderr a terminal, not --json), else none."""
        console = out.progress_console if out.shows_progress else None
        return cls(console, files=files, total_bytes=total_bytes)

    def _total_label(self) -> str:
        if self._files is None:
            return f"all ({self._done_files})"
        return f"all ({self._done_files}/{self._files})"

    def __enter__(self) -> BatchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def file(self, label: str, size: int | None) -> Iterator[ProgressCallback | None]:
        """A progress callback for one file of the batch (None when nothing is drawn)."""
        bar = self._progress
        if bar is None:
            yield None
            return
        task = bar.add_task(printable(label), total=size)
        base = self._done_bytes

        def update(done: int, total_bytes: int | None) -> None:
            bar.update(task, completed=done, total=total_bytes)
            if self._total is not None:
                bar.update(self._total, completed=base + done)

        try:
            yield update
        finally:
            bar.remove_task(task)

    def finished(self, size: int) -> None:
        """A file is done (or skipped): count it in the batch."""
        self._done_files += 1
        self._done_bytes += size
        if self._progress is not None and self._total is not None:
            self._progress.update(
                self._total, completed=self._done_bytes, description=self._total_label()
            )
