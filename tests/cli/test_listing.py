"""``ls`` and ``thumb`` against a camera that cannot describe some objects, at scale and with
folders (issue 11): each skipped object is reported on stderr and in the JSON result, the rest is
listed, and the command exits with 107 (106 when the camera only refused them)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.server import PtpIpServer
from ptpkit.virtual.synthetic import SyntheticCard

from .conftest import Cli, Served

if TYPE_CHECKING:
    from pathlib import Path


FOLDER = "/store_00010001/L00001/L00002"
BAD_CARD = SyntheticCard(files=6, depth=2, refused=frozenset({2}), garbled=frozenset({5}))


@pytest.fixture
def bad_camera() -> Iterator[str]:
    """A PTP/IP camera (MTP: GetObjPropList) whose files 2 and 5 cannot be described."""
    with (
        VirtualCamera(synthetic=BAD_CARD) as vcam,
        PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
    ):
        yield server.url


@pytest.mark.parametrize("args", [("ls", "-R"), ("ls", "L00001/L00002"), ("ls", "-l", "-R")])
def test_ls_reports_skipped_objects_and_goes_on(
    cli: Cli, bad_camera: str, args: tuple[str, ...]
) -> None:
    result = cli("--camera", bad_camera, *args)
    assert result.code == ExitCode.LINK_ERROR, result
    for n in (1, 3, 4, 6):
        assert f"{FOLDER}/F000000{n}.JPG" in result.stdout
    assert "F0000002" not in result.stdout
    assert f"skipped 0x00000004 in {FOLDER}" in result.stderr
    assert f"skipped 0x00000007 in {FOLDER}" in result.stderr
    assert "2 object(s) skipped" in result.stderr
    assert "Traceback" not in result.stderr


def test_ls_json_is_streamed_valid_and_names_the_skipped(cli: Cli, bad_camera: str) -> None:
    result = cli("--camera", bad_camera, "ls", "-R", "--json")
    assert result.code == ExitCode.LINK_ERROR, result
    docs = json.loads(result.stdout)
    listed = [d["path"] for d in docs if not d.get("skipped")]
    assert listed[-1] == f"{FOLDER}/F0000006.JPG"
    skipped = [d for d in docs if d.get("skipped")]
    assert [(d["handle"], d["hex"], d["folder"]) for d in skipped] == [
        (4, "0x00000004", FOLDER),
        (7, "0x00000007", FOLDER),
    ]
    assert all(d["reason"] for d in skipped)


def test_ls_json_of_a_good_card_is_what_json_dumps_prints(cli: Cli, served: Served) -> None:
    result = cli(*served.camera_args(), "ls", "-R", "--json")
    assert result.code == 0, result
    docs = json.loads(result.stdout)
    assert result.stdout == json.dumps(docs, indent=2, ensure_ascii=False) + "\n"
    empty = cli(*served.camera_args(), "ls", "MISC/nested/level2/level3/NOTES.TXT", "--json")
    assert len(empty.json()) == 1


def test_thumb_of_a_folder_saves_every_file_below_it(
    cli: Cli, served: Served, tmp_path: Path
) -> None:
    out = tmp_path / "thumbs"
    result = cli(*served.camera_args(), "thumb", "DCIM", "-o", str(out), "--json")
    assert result.code == 0, result
    assert sorted(p.name for p in out.iterdir()) == [
        f"thumb_IMG_{n}.jpg" for n in ("0001", "0002", "0003", "0004", "0101")
    ]
    assert len(result.json()) == 5
    # A folder with files that have no thumbnail (text files): each is noted, none is an error.
    misc = cli(*served.camera_args(), "thumb", "MISC", "-o", str(tmp_path / "misc"))
    assert misc.code == 0, misc
    assert "README.TXT: no thumbnail" in misc.stderr


def test_thumb_of_a_folder_goes_on_past_skipped_objects(
    cli: Cli, bad_camera: str, tmp_path: Path
) -> None:
    result = cli("--camera", bad_camera, "thumb", "L00001", "-o", str(tmp_path / "t"))
    assert result.code == ExitCode.LINK_ERROR, result
    assert f"skipped 0x00000004 in {FOLDER}" in result.stderr
    # The four files that could be listed were each asked for (the card has no thumbnails).
    assert result.stderr.count(": no thumbnail") == 4


def test_virtual_serve_synthetic_option(cli: Cli) -> None:
    bad = cli("virtual", "serve", "--synthetic", "files=x")
    assert bad.code == ExitCode.INVALID_ARGUMENTS, bad
    assert "--synthetic" in bad.stderr
    assert "--synthetic" in cli("virtual", "serve", "--help").stdout


def test_skip_reports_are_terminal_safe() -> None:
    """A skipped object's folder and reason carry camera text: escapes are shown, not run."""
    from ptpkit.cli.commands.files import JsonArray, SkipReport
    from ptpkit.cli.output import Output
    from ptpkit.client.camera import SkippedObject
    from ptpkit.errors import DecodeError

    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(stdout, stderr, json_mode=True)
    docs = JsonArray(out)
    report = SkipReport(out, docs)
    report(
        SkippedObject(
            handle=0x2A,
            folder="/store_00010001/\x1b[31mRED",
            reason="bad name \x07",
            error=DecodeError("bad name \x07"),
        )
    )
    docs.close()
    assert "\x1b" not in stderr.getvalue()
    assert "\x07" not in stderr.getvalue()
    assert "skipped 0x0000002A in /store_00010001/\\x1b[31mRED" in stderr.getvalue()
    [doc] = json.loads(stdout.getvalue())
    assert doc == {
        "handle": 42,
        "hex": "0x0000002A",
        "folder": "/store_00010001/\x1b[31mRED",
        "skipped": True,
        "reason": "bad name \x07",
    }
    with pytest.raises(CliError) as raised:
        report.finish()
    assert raised.value.code == ExitCode.LINK_ERROR


@pytest.mark.parametrize(
    "args",
    [("ls", "NOPE", "--json"), ("ls", "-R", "0x00007777", "--json"), ("thumb", "NOPE", "--json")],
)
def test_json_of_a_target_not_found_is_no_result_not_an_empty_list(
    cli: Cli, served: Served, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Exit 2 and nothing on stdout: "[]" there read as "an empty folder" to a script."""
    result = cli(*served.camera_args(), *args, *(["-o", str(tmp_path)] if "thumb" in args else []))
    assert result.code == ExitCode.INVALID_ARGUMENTS, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
