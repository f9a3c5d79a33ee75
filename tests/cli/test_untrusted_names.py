"""Names from the camera are untrusted input for the command line too: they must not drive the
user's terminal, break the progress display, or invent local folders."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from ptpkit.cli.errors import describe_error
from ptpkit.cli.progress import BatchProgress
from ptpkit.errors import NotFoundError
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.misbehave import Misbehavior
from ptpkit.virtual.server import PtpIpServer

from .conftest import Cli, Served


@pytest.fixture
def hostile(card: Path) -> Iterator[Served]:
    """A camera whose objects have names like ``../escape.jpg``, ``a/b.jpg`` and ``ESC[31m``."""
    with (
        VirtualCamera(card, misbehavior=Misbehavior.parse("hostile-names")) as vcam,
        PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
    ):
        yield Served(vcam, server)


def test_control_characters_in_names_are_shown_escaped(hostile: Served, cli: Cli) -> None:
    result = cli(*hostile.camera_args(), "ls")
    assert result.code == 0, result
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "/store_00010001/bell\\x07 and \\x1b[31mred.jpg" in result.stdout
    # JSON keeps the name as the camera gave it (escaped by JSON itself).
    names = {doc["name"] for doc in cli(*hostile.camera_args(), "ls", "--json").json()}
    assert "bell\x07 and \x1b[31mred.jpg" in names


def test_error_lines_escape_control_characters() -> None:
    message, _ = describe_error(NotFoundError("no \x1b]0;owned\x07 on the camera"))
    assert message == "no \\x1b]0;owned\\x07 on the camera"


def test_download_tree_follows_parents_not_slashes_in_names(
    hostile: Served, cli: Cli, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = cli(*hostile.camera_args(), "download", "--all", "--tree", "-o", str(out))
    assert result.code == 0, result
    top = {p.name for p in out.iterdir()}
    # "a/b.jpg" and "../../../../etc/passwd" are objects at the top of the card, not folders.
    assert {"a_b.jpg", ".._.._.._.._etc_passwd", ".._escape.jpg"} <= top
    assert "a" not in top
    assert "object" not in top
    # The real folders are still recreated.
    assert (out / "DCIM/100PTPKT/IMG_0001.JPG").is_file()
    assert (out / "MISC/nested/level2/level3/NOTES.TXT").is_file()
    for path in out.rglob("*"):
        assert path.resolve().is_relative_to(out.resolve())


def test_progress_labels_are_not_read_as_markup() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with (
        BatchProgress(console, files=2, total_bytes=20) as progress,
        progress.file("[/]oops [bold]x.jpg", 10) as update,
    ):
        update(5, 10)
    assert isinstance(console.file, io.StringIO)
    assert "[/]oops [bold]x.jpg" in console.file.getvalue()
