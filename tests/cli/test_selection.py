"""Choosing the camera: --camera, PTPKIT_CAMERA, the config file, else the only camera discovery
finds. Run in process with discovery replaced (the real one would search USB and the network;
its own tests are in tests/discovery)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptpkit.cli import camera_select
from ptpkit.cli.camera_select import Selection, choose_camera
from ptpkit.cli.config import load_config
from ptpkit.cli.main import main
from ptpkit.discovery import DiscoveredCamera

VIRTUAL = DiscoveredCamera(
    url="virtual:", name="Virtual Camera", model="Virtual Camera", source="usb"
)
OTHER = DiscoveredCamera(
    url="ptpip:192.0.2.7", name="EOS R6", model="Canon EOS R6", source="ssdp", address="192.0.2.7"
)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def found(monkeypatch: pytest.MonkeyPatch) -> list[DiscoveredCamera]:
    cameras: list[DiscoveredCamera] = []
    calls: list[dict[str, object]] = []

    def fake(
        timeout_s: float = 2.0, *, usb: bool = True, network: bool = True
    ) -> list[DiscoveredCamera]:
        calls.append({"timeout_s": timeout_s, "usb": usb, "network": network})
        return [c for c in cameras if (usb or c.source != "usb") and (network or c.source == "usb")]

    monkeypatch.setattr(camera_select, "discover_cameras", fake)
    monkeypatch.delenv("PTPKIT_CAMERA", raising=False)
    return cameras


def test_the_only_camera_found_is_used(
    found: list[DiscoveredCamera], capsys: pytest.CaptureFixture[str]
) -> None:
    found.append(VIRTUAL)
    code, out, err = run(capsys, "info", "--json")
    assert code == 0, err
    assert json.loads(out)["url"] == "virtual:"


def test_no_camera_found(found: list[DiscoveredCamera], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "info")
    assert code == 105
    assert err.startswith("ptpkit: no camera found")
    assert "--camera" in err
    assert len(err.splitlines()) == 1


def test_several_cameras_found(
    found: list[DiscoveredCamera], capsys: pytest.CaptureFixture[str]
) -> None:
    found.extend([VIRTUAL, OTHER])
    code, _, err = run(capsys, "info")
    assert code == 2
    assert "2 cameras found: virtual: (Virtual Camera); ptpip:192.0.2.7 (EOS R6)" in err
    assert "choose one with --camera URL" in err


def test_list(found: list[DiscoveredCamera], capsys: pytest.CaptureFixture[str]) -> None:
    found.extend([VIRTUAL, OTHER])
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0
    assert json.loads(out) == [
        {
            "url": "virtual:",
            "name": "Virtual Camera",
            "model": "Virtual Camera",
            "source": "usb",
            "address": None,
        },
        {
            "url": "ptpip:192.0.2.7",
            "name": "EOS R6",
            "model": "Canon EOS R6",
            "source": "ssdp",
            "address": "192.0.2.7",
        },
    ]
    code, out, _ = run(capsys, "list", "--no-usb")
    assert out.split() == [
        "ptpip:192.0.2.7",
        "EOS",
        "R6",
        "Canon",
        "EOS",
        "R6",
        "ssdp",
        "192.0.2.7",
    ]


def test_precedence(
    found: list[DiscoveredCamera], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found.append(OTHER)
    config_path = tmp_path / "c.ini"
    config_path.write_text('[responder]\nurl = "virtual:/from-config"\n')
    config = load_config(config_path)
    assert choose_camera(Selection()).url == "ptpip:192.0.2.7"
    assert choose_camera(Selection(config=config)).source == f"config file {config_path}"
    monkeypatch.setenv("PTPKIT_CAMERA", "virtual:/from-env")
    assert choose_camera(Selection(config=config)).url == "virtual:/from-env"
    chosen = choose_camera(Selection(camera="virtual:", config=config))
    assert (chosen.url, chosen.source) == ("virtual:", "--camera")


def test_go_fuji_config_becomes_a_fuji_url(found: list[DiscoveredCamera], tmp_path: Path) -> None:
    path = tmp_path / "fuji.conf"
    path.write_text(
        "; This is us\n[initiator]\n"
        'friendly_name = "Golang PTP/IP Fuji client"\n'
        'guid = "9fe5160c-4951-404d-9505-10baaf725606"\n'
        "; The target\n[responder]\n"
        'vendor = "fuji"\ncmd_data_port = 55740\nevent_port = 55741\nstream_port = 55742\n'
    )
    chosen = choose_camera(Selection(config=load_config(path), timeout_s=3.0))
    # No host: the Go tool's default, a camera's own access point; vendor "fuji": Fujifilm's
    # own PTP/IP, on the file's three ports.
    assert chosen.url == "fuji:192.168.0.1:55740:55741:55742"
    assert chosen.options == {
        "guid": "9fe5160c-4951-404d-9505-10baaf725606",
        "friendly_name": "Golang PTP/IP Fuji client",
        "connect_timeout_s": 3.0,
    }
    assert chosen.extensions == ("fuji",)
    # The command line wins over the file; PTP/IP options go to network URLs only.
    override = choose_camera(
        Selection(camera="ptpip:10.0.0.2", name="me", guid="00" * 16, config=load_config(path))
    )
    assert override.options["friendly_name"] == "me"
    assert override.options["guid"] == "00" * 16
    assert choose_camera(Selection(camera="virtual:", name="me")).options == {}


def test_default_config_file_is_read(
    found: list[DiscoveredCamera],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PTPKIT_CONFIG_DIR", str(tmp_path))
    (tmp_path / "config.ini").write_text("[responder]\nurl = virtual:\n")
    code, out, err = run(capsys, "get", "iso")
    assert (code, out) == (0, "200\n"), err
