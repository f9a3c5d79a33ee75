"""``ptpkit focus``: the half press (autofocus without a picture) of the camera's extension,
from the command line; a standard camera is refused in one line."""

from __future__ import annotations

import pytest
from tests.cli.conftest import Cli

from ptpkit.cli.exitcodes import ExitCode


@pytest.mark.parametrize(
    ("model", "named", "code"),
    [
        ("canon-eos", "DoAf", 0x9154),
        ("nikon", "AfDrive", 0x90C1),
        ("sony", "half press", 0x9207),
        # Shutter action 0xD208 = 0x9300, then InitiateCapture, AF status 0xD209 polled.
        ("fuji-x", "Fujifilm AF drive", 0x100E),
    ],
)
def test_focus_half_presses_the_vendors_way(cli: Cli, model: str, named: str, code: int) -> None:
    camera = f"virtual:?model={model}"
    result = cli("--camera", camera, "focus")
    assert result.code == 0, result
    assert result.stdout.strip() == f"focused: {named} (0x{code:04X})"
    held = cli("--camera", camera, "focus", "--hold", "--json")
    assert held.code == 0, held
    assert held.json() == {"action": "hold", "half_press": named, "operation": code}
    released = cli("--camera", camera, "focus", "--release")
    assert released.code == 0, released
    # A Nikon's AfDrive ends by itself: nothing is sent.
    assert ("nothing to let go" in released.stdout) == (model == "nikon")


def test_focus_that_finds_no_focus_is_one_line(cli: Cli) -> None:
    result = cli("--camera", "virtual:?model=fuji-x&af=fail", "focus")
    assert result.code == ExitCode.CAMERA_ERROR, result
    assert "could not focus" in result.stderr
    assert "0xD209 = 3" in result.stderr
    assert "Traceback" not in result.stderr


def test_focus_on_a_standard_camera_is_refused(cli: Cli) -> None:
    result = cli("--camera", "virtual:", "focus")
    assert result.code == ExitCode.CAMERA_ERROR, result
    assert "no half-press" in result.stderr
    assert "Traceback" not in result.stderr
    both = cli("--camera", "virtual:", "focus", "--hold", "--release")
    assert both.code == ExitCode.INVALID_ARGUMENTS, both
