"""The command line against the virtual Sony, in process (``main([...])``): get and set with Sony's
value texts, ``capture --download`` of a picture from the camera's memory, ``tether`` downloading
what the camera's own shutter button took, and the errors Sony users hit, in words."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cli.conftest import Cli

import ptpkit
from ptpkit.cli.main import main
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.models import personality_for
from ptpkit.virtual.server import PtpIpServer
from ptpkit.virtual.sony import ISO, SHUTTER_SPEED, shutter, sony_state


@pytest.fixture
def served() -> Iterator[tuple[str, VirtualCamera]]:
    """The virtual Sony on PTP/IP, so that its state lasts from one command to the next."""
    camera = VirtualCamera(personality=personality_for("sony"))
    with camera, PtpIpServer(camera, "127.0.0.1", 0) as server:
        yield f"ptpip:127.0.0.1:{server.port}", camera


def run(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    code = exited.value.code
    return code if isinstance(code, int) else 1


def test_get_and_set_with_sonys_texts(served, capsys) -> None:  # type: ignore[no-untyped-def]
    url, camera = served
    assert run("--camera", url, "get", "iso") == 0
    assert capsys.readouterr().out.strip() == "Auto"
    assert run("--camera", url, "set", "iso", "800") == 0
    assert run("--camera", url, "set", "shutter", "1/250") == 0
    assert camera.properties[ISO].current() == 800
    assert camera.properties[SHUTTER_SPEED].current() == shutter(1, 250)
    capsys.readouterr()
    assert run("--camera", url, "get", "shutterspeed", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["hex"], shown["value"], shown["text"]) == ("0xD20D", 0x000100FA, "1/250")


def test_state_shows_sonys_shutter_and_iso(served, capsys) -> None:  # type: ignore[no-untyped-def]
    url, _ = served
    assert run("--camera", url, "state") == 0
    shown = capsys.readouterr().out
    assert "1/125" in shown
    assert "Auto" in shown
    assert "f/5.6" in shown


def test_capture_download_saves_the_picture_from_memory(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, camera = served
    out = tmp_path / "shots"
    assert run("--camera", url, "capture", "--download", str(out)) == 0
    name, data = sony_state(camera).captured[-1]
    assert (out / name).read_bytes() == data
    assert not list(out.glob("*.ptpkit-part"))
    assert not sony_state(camera).in_memory  # read: the camera let it go


def test_tether_downloads_what_the_cameras_button_took(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, camera = served
    state = sony_state(camera)
    out = tmp_path / "tether"
    # The shutter is pressed on the camera once the tether's session is up (PriorityMode set).
    shot = threading.Event()

    def press_when_tethered() -> None:
        while not shot.is_set():
            if any(conn.phase == 3 for conn in state.connections.values()):
                with state.lock:
                    state.fire()
                shot.set()
            else:
                shot.wait(0.02)

    presser = threading.Thread(target=press_when_tethered, daemon=True)
    presser.start()
    try:
        assert run("--camera", url, "tether", "--download", str(out), "--count", "1") == 0
    finally:
        shot.set()
        presser.join(timeout=5)
    name, data = state.captured[-1]
    assert (out / name).read_bytes() == data


def test_save_destination_camera_only_says_what_to_change(capsys) -> None:  # type: ignore[no-untyped-def]
    code = run("--camera", "virtual:?model=sony&save=camera", "capture")
    assert code != 0
    error = capsys.readouterr().err
    assert "Still Image Save Destination" in error
    assert "PC+Camera" in error
    assert "Traceback" not in error


def test_mtp_mode_says_pc_remote(capsys) -> None:  # type: ignore[no-untyped-def]
    code = run("--camera", "virtual:?model=sony&mode=mtp", "set", "iso", "800")
    assert code != 0
    error = capsys.readouterr().err
    assert '"PC Remote"' in error
    assert "USB Connection" in error
    assert "Traceback" not in error


def test_virtual_serve_model_sony_speaks_standard_ptpip(cli: Cli) -> None:
    server = cli.popen("virtual", "serve", "--model", "sony", "--port", "0")
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "gphoto2" in line:
                break
        url = next(line.split()[-1] for line in lines if line.startswith("listening on "))
        assert url.startswith("ptpip:127.0.0.1:")
        with ptpkit.connect(url) as cam:
            assert (cam.device_info.manufacturer, cam.device_info.model) == (
                "Sony Corporation",
                "ILCE-7M3",
            )
            assert cam.get_property_text("iso") == "Auto"
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=15)
