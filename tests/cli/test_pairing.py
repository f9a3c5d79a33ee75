"""``--pairing-timeout`` and the wait for a PTP/IP camera to accept this computer (issue 11, 2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ptpkit.cli.camera_select import Selection, choose_camera
from ptpkit.cli.config import load_config
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.misbehave import Misbehavior, Mode
from ptpkit.virtual.server import PtpIpServer

from .conftest import Cli, one_line_error

WAITING = "waiting for the camera to accept this computer..."


def _card(tmp_path: Path) -> Path:
    card = tmp_path / "card"
    card.mkdir(exist_ok=True)
    return card


@pytest.fixture
def asking(tmp_path: Path) -> Iterator[PtpIpServer]:
    """A camera that asks its user and is accepted after 1.5 s."""
    misbehavior = Misbehavior(modes=frozenset({Mode.SLOW_ACCEPT}), accept_delay_s=1.5)
    with (
        VirtualCamera(_card(tmp_path), misbehavior=misbehavior) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
    ):
        yield server


@pytest.fixture
def never_accepts(tmp_path: Path) -> Iterator[PtpIpServer]:
    misbehavior = Misbehavior(modes=frozenset({Mode.HANDSHAKE_STALL}))
    with (
        VirtualCamera(_card(tmp_path), misbehavior=misbehavior) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
    ):
        yield server


def test_the_wait_for_acceptance_is_announced_once(cli: Cli, asking: PtpIpServer) -> None:
    # --timeout 1 bounds the handshake; the 1.5 s the user takes are the pairing timeout's.
    result = cli("--camera", asking.url, "--timeout", "1", "--pairing-timeout", "20", "info")
    assert result.code == 0, str(result)
    assert result.stderr.count(WAITING) == 1, str(result)
    assert "giving up after 20 s" in result.stderr


def test_an_instant_accept_says_nothing(cli: Cli, tmp_path: Path) -> None:
    with (
        VirtualCamera(_card(tmp_path)) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
    ):
        result = cli("--camera", server.url, "info")
    assert result.code == 0, str(result)
    assert WAITING not in result.stderr


def test_a_camera_that_never_accepts_ends_at_the_pairing_timeout(
    cli: Cli, never_accepts: PtpIpServer
) -> None:
    result = cli("--camera", never_accepts.url, "--pairing-timeout", "1.5", "info")
    assert result.code == ExitCode.CANNOT_CONNECT, str(result)
    assert result.stderr.count(WAITING) == 1, str(result)
    error = one_line_error(result)
    assert "no InitCommandAck within 1.5 s" in error
    assert "did not accept this computer" in error


def test_the_config_file_sets_the_pairing_timeout(
    cli: Cli, never_accepts: PtpIpServer, tmp_path: Path
) -> None:
    config = tmp_path / "ptpip.conf"
    config.write_text(
        '[initiator]\nfriendly_name = "rig"\npairing_timeout = 1.2\n'
        f'[responder]\nurl = "{never_accepts.url}"\n'
    )
    result = cli("-f", str(config), "info")
    assert result.code == ExitCode.CANNOT_CONNECT, str(result)
    assert "no InitCommandAck within 1.2 s" in one_line_error(result)
    # The command line wins over the file.
    chosen = choose_camera(Selection(config=load_config(config), pairing_timeout_s=7.0))
    assert chosen.options["pairing_timeout_s"] == 7.0
    assert choose_camera(Selection(config=load_config(config))).options["pairing_timeout_s"] == 1.2
    # A PTP/IP option: not passed to other cameras.
    assert (
        "pairing_timeout_s"
        not in choose_camera(Selection(camera="virtual:", config=load_config(config))).options
    )


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan"])
def test_a_bad_pairing_timeout_is_refused(cli: Cli, tmp_path: Path, value: str) -> None:
    config = tmp_path / "ptpip.conf"
    config.write_text(f"[initiator]\npairing_timeout = {value}\n")
    result = cli("-f", str(config), "--camera", "virtual:", "info")
    assert result.code == ExitCode.CONFIG_ERROR, str(result)
    assert "pairing_timeout" in one_line_error(result)
    result = cli("--pairing-timeout", value, "--camera", "virtual:", "info")
    assert result.code != 0
    assert "--pairing-timeout" in result.stderr
    assert "Traceback" not in result.stderr
