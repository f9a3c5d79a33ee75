"""Transfer progress for the terminal: a bar with bytes, rate and time left on a terminal,
nothing when output is piped (rich turns the live display off for non-terminals)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ptpkit.client.streams import ProgressCallback


@contextmanager
def transfer_progress(
    console: Console, label: str, total: int | None
) -> Iterator[ProgressCallback]:
    """A progress callback for one transfer, shown as a bar while the block runs."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    )
    task = progress.add_task(label, total=total)

    def update(done: int, total_bytes: int | None) -> None:
        progress.update(task, completed=done, total=total_bytes)

    with progress:
        yield update
