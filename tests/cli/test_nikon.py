"""The command line against the virtual Nikon D850 served over PTP/IP on 127.0.0.1, run in process
(``ptpkit.cli.main``): ``get`` / ``set`` with Nikon's value texts, ``capture --download`` of a
picture taken to the camera's memory (SDRAM) and to the card, and ``tether`` downloading a shot
the camera announced through GetEvent (the seed's Nikon flow)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import ptpkit
from ptpkit.cli.main import main
from ptpkit.codes.common import Op
from ptpkit.core.ptpip import InitCommandRequest, InitFail, InitFailReason, LinkEvent
from ptpkit.identity import initiator_guid
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.nikon import SHUTTER_PROP, _take_to_sdram, nikon_state, personality
from ptpkit.virtual.responder import OperationContext, Reply
from ptpkit.virtual.server import PtpIpServer


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def served(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[VirtualCamera, PtpIpServer]]:
    monkeypatch.setenv("PTPKIT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("PTPKIT_CAMERA", raising=False)
    with (
        VirtualCamera(personality=personality()) as camera,
        PtpIpServer(camera, "127.0.0.1", 0) as server,
    ):
        yield camera, server


@pytest.mark.parametrize(
    ("name", "text", "code", "raw"),
    [
        ("shutterspeed2", "1/250", SHUTTER_PROP, 1 << 16 | 250),
        ("shutterspeed2", "1/2.5", SHUTTER_PROP, 10 << 16 | 25),
        ("shutterspeed", "1/250", 0x500D, 40),
        ("iso", "800", 0x500F, 800),
        ("whitebalance", "Cloudy", 0x5005, 0x8010),
        ("imagequality", "NEF+Fine", 0x5004, 7),
        ("focusmode", "AF-C", 0x500A, 0x8011),
        ("recordingmedia", "card", 0xD10B, 0),
    ],
)
def test_set_and_get_with_nikon_texts(
    served: tuple[VirtualCamera, PtpIpServer],
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    code: int,
    raw: int,
) -> None:
    camera, server = served
    status, _, err = run(capsys, "--camera", server.url, "set", name, text)
    assert status == 0, err
    assert camera.properties[code].current() == raw
    status, out, err = run(capsys, "--camera", server.url, "get", name)
    assert status == 0, err
    assert text in out


def test_a_shutter_speed_the_camera_does_not_offer_is_one_clear_line(
    served: tuple[VirtualCamera, PtpIpServer], capsys: pytest.CaptureFixture[str]
) -> None:
    _, server = served
    status, _out, err = run(capsys, "--camera", server.url, "set", "shutterspeed2", "1/3")
    assert status != 0
    assert "Traceback" not in err
    assert "not allowed" in err
    assert "1/250" in err  # the allowed values, in Nikon's texts


def test_capture_download_from_sdram(
    served: tuple[VirtualCamera, PtpIpServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    camera, server = served
    target = tmp_path / "shots"
    status, out, err = run(
        capsys, "--camera", server.url, "capture", "--download", str(target), "--json"
    )
    assert status == 0, err
    state = nikon_state(camera)
    name, data = state.captured[-1]
    assert (target / name).read_bytes() == data
    assert not list(target.glob("*.part"))  # published whole, nothing partial left
    assert state.sdram is None  # deleted after the download, as libgphoto2 does
    assert name in out
    json.loads(out)


def test_capture_download_to_the_card(
    served: tuple[VirtualCamera, PtpIpServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    camera, server = served
    status, _, err = run(capsys, "--camera", server.url, "set", "recordingmedia", "card")
    assert status == 0, err
    target = tmp_path / "shots"
    status, _, err = run(capsys, "--camera", server.url, "capture", "--download", str(target))
    assert status == 0, err
    name, data = nikon_state(camera).captured[-1]
    assert (target / name).read_bytes() == data
    assert (camera.root / "DCIM" / "100PTPKT" / name).read_bytes() == data


def test_tether_downloads_what_the_camera_announces(
    served: tuple[VirtualCamera, PtpIpServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shot taken on the body (computer as target): ObjectAddedInSDRAM in GetEvent, which
    ``tether`` downloads. The picture is taken as soon as the session is open."""
    camera, server = served
    state = nikon_state(camera)
    opened = camera.operations[Op.OPEN_SESSION]

    def open_then_shoot(ctx: OperationContext) -> Reply:
        reply = opened.handler(ctx)

        def shoot() -> None:
            with camera.lock:
                _take_to_sdram(camera, state)

        return replace(reply, after=shoot)

    camera.operations[Op.OPEN_SESSION] = replace(opened, handler=open_then_shoot)
    target = tmp_path / "tethered"
    status, _out, err = run(
        capsys, "--camera", server.url, "tether", "--download", str(target), "--count", "1"
    )
    assert status == 0, err
    name, data = state.captured[-1]
    assert (target / name).read_bytes() == data
    assert state.sdram is None


class PairedNikon(PtpIpServer):
    """A Nikon body over Wi-Fi that pairs with the first computer it meets and refuses any other
    initiator GUID with InitFail (vendors.md 2.7: "unknown GUID -> InitFail", gphoto2#384)."""

    def __init__(self, camera: VirtualCamera) -> None:
        super().__init__(camera, "127.0.0.1", 0)
        self.seen: list[bytes] = []

    def _refusal(self, request: LinkEvent) -> LinkEvent | None:
        assert isinstance(request, InitCommandRequest)
        self.seen.append(request.guid)
        if request.guid != self.seen[0]:
            return InitFail(reason=InitFailReason.REJECTED_INITIATOR)
        return super()._refusal(request)


def test_a_paired_nikon_knows_ptpkit_again_by_its_stable_guid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ptpkit sends the one initiator GUID it keeps per user (ptpkit.identity) on every
    connection, so a Nikon that paired with it accepts it again; another computer (another
    config folder: another GUID) is refused with a clear message."""
    monkeypatch.setenv("PTPKIT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("PTPKIT_CAMERA", raising=False)
    with VirtualCamera(personality=personality()) as camera, PairedNikon(camera) as server:
        for _ in range(2):
            with ptpkit.connect(server.url) as cam:
                assert cam.device_info.model == "D850"
        assert server.seen == [initiator_guid(), initiator_guid()]
        assert initiator_guid() == initiator_guid(tmp_path / "config")  # kept on disk
        monkeypatch.setenv("PTPKIT_CONFIG_DIR", str(tmp_path / "another-computer"))
        status, _, err = run(capsys, "--camera", server.url, "info")
        assert status != 0
        assert "Traceback" not in err
        assert "pair" in err.lower() or "reject" in err.lower(), err
        assert len(set(server.seen)) == 2
