"""The Go ptpip tool's commands against a Fujifilm body, run in process (``ptpkit.cli.main``)
against the scripted Fujifilm body of tests/ext/fuji_scripted.py served over the Fujifilm PTP/IP
variant on 127.0.0.1: ``capture N PREVIEW`` and its file naming, ``state``, ``get``/``set`` with
the Go tool's names and values, and its INI file with ``vendor = "fuji"``."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.ext.fuji_scripted import FILM, ISO, PROGRAM, FujiScript, scripted_camera

from ptpkit.cli.commands.events import preview_names, save_preview
from ptpkit.cli.errors import CliError
from ptpkit.cli.main import main
from ptpkit.virtual.fujiserver import FujiPtpIpServer
from ptpkit.virtual.network import network_server


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[FujiPtpIpServer, FujiScript]]:
    monkeypatch.setenv("PTPKIT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("PTPKIT_CAMERA", raising=False)
    virtual, script = scripted_camera()
    with virtual, network_server(virtual, "127.0.0.1", 0) as server:
        assert isinstance(server, FujiPtpIpServer)
        yield server, script


def test_preview_names_follow_the_go_tool() -> None:
    assert preview_names(Path("/tmp/p.jpg"), 1) == [Path("/tmp/p.jpg")]
    assert preview_names(Path("/tmp/p.jpg"), 3) == [
        Path("/tmp/p-1.jpg"),
        Path("/tmp/p-2.jpg"),
        Path("/tmp/p-3.jpg"),
    ]
    assert preview_names(Path("shot"), 2) == [Path("shot-1"), Path("shot-2")]


def test_capture_3_preview(
    served: tuple[FujiPtpIpServer, FujiScript],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, script = served
    target = tmp_path / "p.jpg"
    code, out, err = run(capsys, "--camera", server.url, "capture", "3", str(target))
    assert code == 0, err
    assert script.captures == 3
    assert script.ignored_captures == 0  # every preview fetched: the body fired each time
    for number in (1, 2, 3):
        assert (tmp_path / f"p-{number}.jpg").read_bytes() == script.preview
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "p-1.jpg",
        "p-2.jpg",
        "p-3.jpg",
    ]  # no temporary file left
    assert "preview" in out


def test_capture_preview_never_overwrites_unless_asked(
    served: tuple[FujiPtpIpServer, FujiScript],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, script = served
    target = tmp_path / "one.jpg"
    target.write_bytes(b"mine")
    code, _, err = run(capsys, "--camera", server.url, "capture", str(target))
    assert code == 108, err
    assert "already exists" in err
    assert target.read_bytes() == b"mine"
    assert script.captures == 0  # refused before shooting
    code, _, err = run(
        capsys, "--camera", server.url, "capture", "--force-overwrite", str(target), "--json"
    )
    assert code == 0, err
    assert target.read_bytes() == script.preview
    assert script.captures == 1


def test_a_preview_is_saved_by_the_download_machinery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 section 3 on the Fujifilm preview files: ptpkit's marked partial file (a
    ``.ptpkit-part`` of another program's is left alone), and on a file system without hard
    links (FAT, exFAT cards) the preview is still saved, never over an existing file. The
    preview writer had its own temporary-file code, whose hard link failed there ("cannot
    write")."""
    theirs = tmp_path / "p.jpg.ptpkit-part"
    theirs.write_bytes(b"not ptpkit's")
    save_preview(b"one", tmp_path / "p.jpg", overwrite=False)
    assert (tmp_path / "p.jpg").read_bytes() == b"one"
    assert theirs.read_bytes() == b"not ptpkit's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg", "p.jpg.ptpkit-part"]

    def no_links(src: object, dst: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    save_preview(b"two", tmp_path / "q.jpg", overwrite=False)
    assert (tmp_path / "q.jpg").read_bytes() == b"two"
    with pytest.raises(CliError, match="already exists"):
        save_preview(b"three", tmp_path / "q.jpg", overwrite=False)
    assert (tmp_path / "q.jpg").read_bytes() == b"two"
    save_preview(b"three", tmp_path / "q.jpg", overwrite=True)
    assert (tmp_path / "q.jpg").read_bytes() == b"three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg", "p.jpg.ptpkit-part", "q.jpg"]


def test_capture_json_reports_the_preview_and_the_new_file(
    served: tuple[FujiPtpIpServer, FujiScript],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = served
    code, out, err = run(
        capsys, "--camera", server.url, "capture", "-n", "1", "--preview", str(tmp_path / "x.jpg"),
        "--json",
    )  # fmt: skip
    assert code == 0, err
    (shot,) = json.loads(out)
    assert shot["preview"] == str(tmp_path / "x.jpg")
    assert shot["objects"][0]["name"].endswith(".JPG")


def test_state_is_the_cameras_list_as_the_go_tool_shows_it(
    served: tuple[FujiPtpIpServer, FujiScript], capsys: pytest.CaptureFixture[str]
) -> None:
    server, script = served
    code, out, err = run(capsys, "--camera", server.url, "state")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["Property", "Value", "as", "string", "Value", "as", "int64",
                                "Value", "in", "hex"]  # fmt: skip
    film = next(line for line in lines if line.startswith("film simulation"))
    assert film.split()[-3:] == ["Velvia", "2", "0x00000002"]
    assert "shutter speed" not in out  # program AE
    script.camera.properties[PROGRAM].set(1)  # manual on the dial
    code, out, err = run(capsys, "--camera", server.url, "state", "--json")
    assert code == 0, err
    doc = json.loads(out)
    by_label = {item["label"]: item for item in doc}
    assert by_label["shutter speed"]["text"] == "1/250"
    assert by_label["ISO"]["value"] == 0x80001900
    assert by_label["ISO"]["text"] == "S 6400"


def test_set_and_get_with_the_go_tools_names(
    served: tuple[FujiPtpIpServer, FujiScript], capsys: pytest.CaptureFixture[str]
) -> None:
    server, script = served
    url = server.url
    assert run(capsys, "--camera", url, "set", "film-simulation", "classic-chrome")[0] == 0
    assert script.camera.properties[FILM].current() == 0x0B
    assert run(capsys, "--camera", url, "set", "effect", "0x2")[0] == 0  # the Go tool's form
    assert script.camera.properties[FILM].current() == 2
    assert run(capsys, "--camera", url, "set", "iso", "800")[0] == 0
    assert script.camera.properties[ISO].current() == 800
    code, out, err = run(capsys, "--camera", url, "get", "iso")
    assert code == 0, err
    assert "800" in out
    code, out, err = run(capsys, "--camera", url, "get", "effect")
    assert code == 0, err
    assert "Velvia" in out
    code, _, err = run(capsys, "--camera", url, "set", "film-simulation", "kodachrome")
    assert code == 2
    assert "kodachrome" in err


def test_the_go_tools_fuji_ini_file(
    served: tuple[FujiPtpIpServer, FujiScript],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = served
    config = tmp_path / "fuji.conf"
    config.write_text(
        "[initiator]\n"
        'friendly_name = "Golang PTP/IP Fuji client"\n'
        'guid = "9fe5160c-4951-404d-9505-10baaf725606"\n'
        "[responder]\n"
        'host = "127.0.0.1"\n'
        'vendor = "fuji"\n'
        f"cmd_data_port = {server.port}\n"
        f"event_port = {server.event_port}\n"
        f"stream_port = {server.stream_port}\n"
    )
    code, out, err = run(capsys, "-f", str(config), "get", "effect")
    assert code == 0, err
    assert "Velvia" in out
