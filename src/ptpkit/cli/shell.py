"""``ptpkit shell``: an interactive shell on one open session, running the same commands.

Built on prompt_toolkit rather than ``cmd`` + ``readline``: readline is missing on Windows and is
libedit (other key bindings, other history format) on macOS's Python, while prompt_toolkit is pure
Python and behaves the same everywhere, with a persistent history file, Ctrl-R search and a
completion menu. History is kept in the ptpkit config folder (``shell_history``). Tab completes
command names, their options, property names (the ones this camera has), the allowed values of a
property after ``set PROP``, and camera paths.

When standard input is not a terminal the shell reads commands from it, one per line, with no
prompt (``ptpkit shell < commands.txt``), and exits with the code of the last command that failed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import click

from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.output import printable
from ptpkit.cli.runner import Runner
from ptpkit.cli.session import Session, get_session
from ptpkit.client.camera import Camera
from ptpkit.identity import config_dir

HISTORY_NAME = "shell_history"


@click.command()
@click.pass_context
def shell(ctx: click.Context) -> None:
    """An interactive shell on one open session: history, Tab completion, the same commands."""
    session = get_session(ctx)
    group = ctx.find_root().command
    assert isinstance(group, click.Group)
    runner = Runner(group, session)
    cam = session.camera()  # connect first: a camera that cannot be reached is exit 105, as always
    session.background = True  # `liveview` runs until `liveview stop`, the prompt stays
    try:
        if sys.stdin.isatty() and sys.stdout.isatty():
            _interactive(runner, session, cam)
        else:
            code = _scripted(runner, session, sys.stdin)
            if code != ExitCode.OK:
                ctx.exit(code)
    finally:
        session.stop_jobs()  # live view ends on the camera before the session closes


def _report(error: str | None) -> None:
    if error:
        click.echo(f"ptpkit: {error}", err=True)


def _scripted(runner: Runner, session: Session, lines: Iterable[str]) -> int:
    last_failure: int = ExitCode.OK
    for line in lines:
        if line.strip() in ("exit", "quit"):
            break
        result = runner.run(line, session.output)
        _report(result.error)
        if not result.ok:
            last_failure = result.code
    return last_failure


def _interactive(runner: Runner, session: Session, cam: Camera) -> None:
    # Loaded here: every ptpkit command imports this module to register `shell`, and only an
    # interactive shell needs prompt_toolkit.
    from prompt_toolkit import PromptSession  # noqa: PLC0415
    from prompt_toolkit.history import FileHistory, History, InMemoryHistory  # noqa: PLC0415

    from ptpkit.cli.shell_completion import ShellCompleter  # noqa: PLC0415

    history: History
    try:
        folder = config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        history = FileHistory(str(folder / HISTORY_NAME))
    except OSError:
        history = InMemoryHistory()  # a read-only home: history for this run only
    prompt = PromptSession[str](
        history=history,
        completer=ShellCompleter(runner, session),
        complete_while_typing=False,  # Tab only: completing values asks the camera
    )
    model = printable(cam.device_info.model)  # the camera's text: no control characters
    click.echo(
        f"connected to {model} at {cam.url}. "
        "Tab completes, `help` lists the commands, Ctrl-D leaves."
    )
    label = f"ptpkit {model}> "
    while True:
        try:
            line = prompt.prompt(label)
        except KeyboardInterrupt:
            continue  # Ctrl-C clears the line, as in a shell
        except EOFError:
            break
        if line.strip() in ("exit", "quit"):
            break
        _report(runner.run(line, session.output).error)


COMMANDS = [shell]
