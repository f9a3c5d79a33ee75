"""Every documented exit code, provoked; each failure is one line on stderr, never a traceback."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ptpkit.cli.exitcodes import DESCRIPTIONS, ExitCode
from ptpkit.cli.main import main

from .conftest import Cli, Served, one_line_error


def _wait_for(process: subprocess.Popen[str], text: str) -> None:
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if text in line:
            return
        if not line:
            break
    raise AssertionError(f"{text!r} never printed")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_help_documents_every_exit_code(cli: Cli) -> None:
    result = cli("--help")
    assert result.code == 0
    for code, text in DESCRIPTIONS.items():
        assert f"{int(code):>3}  {text}" in result.stdout
    assert "-o -p -d -i -L -g HANDLE -u STORAGE,FILE" in result.stdout


def test_0_success(cli: Cli) -> None:
    assert cli("--camera", "virtual:", "storage").code == ExitCode.OK


def test_1_unspecified_cannot_listen(served: Served, cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli(*served.camera_args(), "serve-commands", "--listen", f"127.0.0.1:{port}")
    assert result.code == ExitCode.UNSPECIFIED, result
    assert "cannot listen on 127.0.0.1" in one_line_error(result)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("info", "--bogus-option"), "No such option"),
        (("nosuchcommand",), "No such command"),
        (("get", "nosuchprop"), "unknown property 'nosuchprop'"),
        (("download",), "give HANDLE or PATH arguments, or --all"),
        (("ls", "NO/SUCH/FOLDER"), "no 'NO' in /store_00010001"),
        (("--guid", "xyz", "info"), "is not a GUID"),
        (("-g", "3", "info"), "miniPtp's flags"),
    ],
)
def test_2_invalid_arguments(cli: Cli, args: tuple[str, ...], expected: str) -> None:
    result = cli("--camera", "virtual:", *args)
    assert result.code == ExitCode.INVALID_ARGUMENTS, result
    assert expected in one_line_error(result)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "No such file"),
        ("[responder]\nhost = 10.0.0.1\ncolour = blue\n", "unknown key 'colour' in [responder]"),
        ('[initiator]\nguid = "not-a-guid"\n', "[initiator] guid"),
        ("[responder]\nport = 99999\n", "out of range"),
        ("[camera]\n", "unknown section [camera]"),
        ("not an ini file", "no section headers"),
        ("[responder]\nvendor = acme\n", "vendor = 'acme' is unknown"),
    ],
)
def test_102_config_file_error(
    cli: Cli, tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "ptpip.conf"
    if content is not None:
        path.write_text(content)
    result = cli("-f", str(path), "info")
    assert result.code == ExitCode.CONFIG_ERROR, result
    line = one_line_error(result)
    assert str(path) in line
    assert expected in line


@pytest.mark.parametrize("url", ["nosuch:thing", "ptpip:127.0.0.1:99999", "camera"])
def test_104_cannot_create_the_client(cli: Cli, url: str) -> None:
    result = cli("--camera", url, "info")
    assert result.code == ExitCode.CANNOT_CREATE_CLIENT, result
    assert f"cannot create a client for {url}" in one_line_error(result)


def test_105_cannot_connect(cli: Cli) -> None:
    url = f"ptpip:127.0.0.1:{_closed_port()}"
    result = cli("--camera", url, "--timeout", "3", "info")
    assert result.code == ExitCode.CANNOT_CONNECT, result
    line = one_line_error(result)
    assert f"cannot connect to {url} (from --camera)" in line
    assert "check the address" in line


def test_106_the_camera_answered_an_error(cli: Cli) -> None:
    # A text file has no thumbnail: the camera answers NoThumbnailPresent. (A handle the camera
    # does not know is "not found", exit 2: tests/cli/test_gphoto2_user.py; a folder means the
    # files below it.)
    result = cli("--camera", "virtual:", "thumb", "/store_00010001/MISC/README.TXT")
    assert result.code == ExitCode.CAMERA_ERROR, result
    line = one_line_error(result)
    assert "GetThumb failed: the camera answered 0x2010 NoThumbnailPresent" in line
    assert "this object has no thumbnail" in line  # what to try


def test_107_link_failure(served: Served, cli: Cli) -> None:
    process = cli.popen(*served.camera_args(), "wait-event")
    _wait_for(process, "waiting for")
    served.server.close()  # the camera goes away mid-command
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.LINK_ERROR, stderr
    assert "Traceback" not in stderr
    assert "ptpkit: " in stderr


def test_108_file_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "work" / "IMG_0001.JPG").write_bytes(b"already here")
    result = cli("--camera", "virtual:", "download", "DCIM/100PTPKT/IMG_0001.JPG")
    assert result.code == ExitCode.FILE_ERROR, result
    assert "--force-overwrite" in one_line_error(result)
    assert (tmp_path / "work" / "IMG_0001.JPG").read_bytes() == b"already here"


def test_108_udev_rule_without_permission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In process: the tests may run as root, which no file permission stops.
    def denied(self: Path, *args: object, **kwargs: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", denied)
    with pytest.raises(SystemExit) as exit_info:
        main(["udev-rules", "--write", "--path", str(tmp_path / "70-ptpkit.rules")])
    assert exit_info.value.code == ExitCode.FILE_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Permission denied — run: sudo ptpkit udev-rules --write" in err


def test_109_timed_out(cli: Cli) -> None:
    result = cli("--camera", "virtual:", "wait-event", "--timeout", "0.3", "--json")
    assert result.code == ExitCode.TIMED_OUT, result
    assert result.json() == []
    assert "0 of 1 event(s) within 0.3 s" in one_line_error(result)


def test_130_interrupted(served: Served, cli: Cli) -> None:
    process = cli.popen(*served.camera_args(), "wait-event")
    _wait_for(process, "waiting for")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert "Traceback" not in stderr
    assert "ptpkit: interrupted" in stderr
