"""Running one command line on an open session: what the shell and the command server share.

A line is split like a shell line (quotes work) and handed to the same click command the command
line uses, with the session as its context object, so ``info --json`` means the same everywhere.
Errors never escape: each line ends with an exit code and, for a failure, the same one-line
message the command line prints.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

import click

from ptpkit.cli.errors import CliError, Hinted, describe_error
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.output import Output
from ptpkit.cli.session import SESSION_COMMANDS, Session, resolve_alias
from ptpkit.errors import PTPError

#: Words the shell and the server understand besides the commands, with their help.
BUILTIN_HELP = {
    "help": "help [COMMAND]: the commands, or one command's options.",
    "reconnect": "Close the camera and open it again (after the link was lost).",
    "exit": "Leave the shell, or close the connection to the command server.",
    "quit": "The same as exit.",
}
BUILTINS = tuple(BUILTIN_HELP)


@dataclass(frozen=True)
class LineResult:
    code: int
    #: The one-line error, for a failure.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.code == ExitCode.OK


class Runner:
    def __init__(
        self, group: click.Group, session: Session, *, excluded: frozenset[str] = frozenset()
    ) -> None:
        self.group = group
        self.session = session
        self.excluded = excluded

    def command_names(self) -> list[str]:
        return sorted(
            name
            for name in SESSION_COMMANDS
            if name in self.group.commands and name not in self.excluded
        )

    def command(self, name: str) -> click.Command | None:
        name = resolve_alias(name)
        if name not in self.command_names():
            return None
        return self.group.commands[name]

    def run(self, line: str, out: Output) -> LineResult:
        """Run one line, writing its output to ``out``."""
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            return self._fail(CliError(f"cannot read that line: {exc}", ExitCode.INVALID_ARGUMENTS))
        if not words:
            return LineResult(ExitCode.OK)
        name, args = words[0], words[1:]
        if name in ("help", "?"):
            return self._help(args, out)
        if name == "reconnect":
            return self._guarded(lambda: self._reconnect(out))
        command = self.command(name)
        if command is None:
            return self._fail(
                CliError(
                    f"unknown command {name!r}",
                    ExitCode.INVALID_ARGUMENTS,
                    hint="`help` lists the commands",
                )
            )
        if "-h" in args or "--help" in args:
            return self._help([name], out)
        return self._guarded(lambda: self._invoke(command, name, args, out))

    def _invoke(self, command: click.Command, name: str, args: list[str], out: Output) -> int:
        with self.session.lock:
            previous, self.session.output = self.session.output, out
            try:
                code = command.main(
                    args=args, prog_name=name, standalone_mode=False, obj=self.session
                )
            finally:
                self.session.output = previous
        return code if isinstance(code, int) else ExitCode.OK

    def _guarded(self, action: Callable[[], int]) -> LineResult:
        try:
            return LineResult(action())
        except click.exceptions.Exit as exc:
            return LineResult(exc.exit_code)
        except click.ClickException as exc:
            return LineResult(ExitCode.INVALID_ARGUMENTS, exc.format_message())
        except (click.exceptions.Abort, KeyboardInterrupt):
            return LineResult(ExitCode.INTERRUPTED, "interrupted")
        except (CliError, Hinted, PTPError, OSError) as exc:
            return self._fail(exc)

    @staticmethod
    def _fail(exc: BaseException) -> LineResult:
        message, code = describe_error(exc)
        return LineResult(code, message)

    def _reconnect(self, out: Output) -> int:
        with self.session.lock:
            self.session.close()
            cam = self.session.camera()
        out.text(f"connected to {cam.device_info.model} at {cam.url}")
        out.data({"url": cam.url, "model": cam.device_info.model})
        return ExitCode.OK

    def _help(self, args: list[str], out: Output) -> LineResult:
        if args and args[0] in BUILTIN_HELP:
            out.data({"name": args[0], "help": BUILTIN_HELP[args[0]]})
            out.text(BUILTIN_HELP[args[0]])
            return LineResult(ExitCode.OK)
        if args:
            command = self.command(args[0])
            if command is None:
                return self._fail(CliError(f"no command {args[0]!r}", ExitCode.INVALID_ARGUMENTS))
            ctx = click.Context(command, info_name=resolve_alias(args[0]))
            text = command.get_help(ctx)
            out.data({"name": command.name, "help": text})
            for line in text.splitlines():
                out.text(line)
            return LineResult(ExitCode.OK)
        rows = [
            (name, self.group.commands[name].get_short_help_str(limit=60))
            for name in self.command_names()
        ]
        out.data([{"name": name, "help": text} for name, text in rows])
        width = max(len(name) for name, _ in rows)
        for name, text in rows:
            out.text(f"  {name.ljust(width)}  {text}")
        for name in ("reconnect", "help", "exit"):
            out.text(f"  {name.ljust(width)}  {BUILTIN_HELP[name]}")
        return LineResult(ExitCode.OK)
