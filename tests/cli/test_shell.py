"""``ptpkit shell`` in a real pseudo-terminal (pexpect): Tab completion of commands, property
names, values and camera paths, history kept across sessions, and one session for every command
(a property set in the shell is read back in the same shell). Also the progress bar, which only
a terminal gets.

prompt_toolkit redraws only what changed: after a Tab the terminal receives just the characters
completion inserted, so the tests wait for those (a completion is computed in the background, and
keys sent before it lands would be handled first), and check what the completed command did.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from .conftest import Cli, Served

PROMPT = "Camera>"
KEY_PAUSE_S = 0.1


class Terminal:
    def __init__(self, cli: Cli, *args: str) -> None:
        env = dict(cli.env, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "ptpkit", *args],
            env=env,
            cwd=str(cli.cwd),
            encoding="utf-8",
            dimensions=(40, 160),
            timeout=30,
        )

    def keys(self, *parts: str) -> None:
        for part in parts:
            self.child.send(part)
            time.sleep(KEY_PAUSE_S)

    def complete(self, typed: str, inserted: str) -> None:
        """Type ``typed``, press Tab, and wait until completion has inserted ``inserted``."""
        self.child.send(typed + "\t")
        self.child.expect_exact(inserted)

    def expect(self, pattern: str) -> None:
        self.child.expect(pattern)

    def close(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        status: int = self.child.exitstatus
        return status


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        if terminal.child.isalive():
            terminal.child.terminate(force=True)


def test_shell_completion_history_and_one_session(
    served: Served, cli: Cli, config_dir: Path, terminals: list[Terminal]
) -> None:
    shell = Terminal(cli, *served.camera_args(), "shell")
    terminals.append(shell)
    shell.expect(PROMPT)
    # Command and property name completed: "descr<Tab> whiteb<Tab>" runs describe whitebalance.
    shell.complete("descr", "ibe")
    shell.complete(" whiteb", "alance")
    shell.keys("\r")
    shell.expect(r"white-balance \(0x5005 WhiteBalance\)")
    shell.expect(PROMPT)
    # A value completed from the property's allowed values: "8<Tab>" is 800.
    shell.complete("set is", "o")
    shell.complete(" 8", "00")
    shell.keys("\r")
    shell.expect("iso: 200 -> 800")
    shell.expect(PROMPT)
    # A camera path completed folder by folder.
    shell.complete("ls DC", "IM/")
    shell.complete("100", "PTPKT/")
    shell.keys("\r")
    shell.expect("/store_00010001/DCIM/100PTPKT/IMG_0004.JPG")
    shell.expect(PROMPT)
    # An error is one line and the shell goes on.
    shell.keys("get nosuchprop\r")
    shell.expect("ptpkit: unknown property 'nosuchprop'")
    shell.expect(PROMPT)
    shell.keys("\x04")  # Ctrl-D leaves
    assert shell.close() == 0
    assert served.vcam.properties[0x500F].current() == 800

    history = (config_dir / "shell_history").read_text()
    assert "+describe whitebalance" in history
    assert "+set iso 800" in history

    # A new shell: the history is there (Up, Up: "set iso 800" again, on a camera now at 400).
    served.vcam.properties[0x500F].set(400)
    again = Terminal(cli, *served.camera_args(), "shell")
    terminals.append(again)
    again.expect(PROMPT)
    time.sleep(0.5)  # prompt_toolkit loads the history file in the background
    again.keys("\x1b[A", "\x1b[A", "\x1b[A", "\r")
    again.expect("iso: 400 -> 800")
    again.expect(PROMPT)
    again.keys("exit\r")
    assert again.close() == 0


def test_progress_bar_on_a_terminal_only(
    cli: Cli, tmp_path: Path, terminals: list[Terminal]
) -> None:
    out = tmp_path / "out"
    terminal = Terminal(cli, "--camera", "virtual:", "download", "--all", "-o", str(out))
    terminals.append(terminal)
    terminal.expect("━")  # rich's bar
    terminal.expect("KiB")
    assert terminal.close() == 0
    piped = cli("--camera", "virtual:", "download", "--all", "-o", str(tmp_path / "piped"))
    assert piped.code == 0, piped
    assert "━" not in piped.stderr + piped.stdout


def test_shell_reads_commands_from_a_pipe(served: Served, cli: Cli) -> None:
    script = (
        "# set and read back on one session\nset iso 1600\nget iso\nget nosuchprop\nstate --json\n"
    )
    result = cli(*served.camera_args(), "shell", input=script)
    assert result.code == 2, result  # the last failure's code
    lines = result.stdout.splitlines()
    assert lines[:2] == ["iso: 200 -> 1600", "1600"]
    assert "ptpkit: unknown property 'nosuchprop'" in result.stderr
    assert '"text": "1600"' in result.stdout  # state --json ran after the failure
    ok = cli(*served.camera_args(), "shell", input="get iso\nexit\nget nosuchprop\n")
    assert (ok.code, ok.stdout) == (0, "1600\n")
