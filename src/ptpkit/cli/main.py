"""The ``ptpkit`` command: entry point, global options, and the one place errors become exit
codes and one readable line (never a traceback for a user or camera error)."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ptpkit import __version__
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.errors import (
    ConnectError,
    NotFoundError,
    PTPError,
    ResponseError,
    UsageError,
)

F = TypeVar("F", bound=Callable[..., Any])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ptpkit")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="-v transactions with names, -vv with parameters, -vvv hex dumps.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Talk to cameras with PTP over USB and Wi-Fi, or to ptpkit's virtual camera."""
    ctx.ensure_object(dict)
    _configure_logging(verbose)


def _configure_logging(verbose: int) -> None:
    if not verbose:
        return
    from ptpkit.client.engine import TRACE  # noqa: PLC0415  (loads the client only when asked)

    level = {1: logging.DEBUG, 2: logging.DEBUG}.get(verbose, TRACE)
    logging.basicConfig(level=level, format="%(name)s: %(message)s", stream=sys.stderr)


#: Modules that each export ``COMMANDS``, a list of click commands to add to ``ptpkit``. They are
#: imported when the command runs, so ``import ptpkit`` stays light.
COMMAND_MODULES = (
    "ptpkit.cli.demo",
    "ptpkit.cli.virtual",
)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        for command in module.COMMANDS:
            if command.name not in cli.commands:
                cli.add_command(command)


def describe_error(exc: BaseException) -> tuple[str, ExitCode]:
    """One line for the user and the exit code, for every error a command can end with."""
    if isinstance(exc, ResponseError):
        return (
            f"{exc} — check the camera's mode and settings, or run with -v to see the exchange",
            ExitCode.CAMERA_ERROR,
        )
    if isinstance(exc, ConnectError):
        return str(exc), ExitCode.CANNOT_CONNECT
    if isinstance(exc, (UsageError, NotFoundError)):
        return str(exc), ExitCode.INVALID_ARGUMENTS
    if isinstance(exc, PTPError):
        return f"{exc} (run with -v for the transactions)", ExitCode.LINK_ERROR
    if isinstance(exc, FileExistsError):
        return f"{exc.strerror or exc}", ExitCode.FILE_ERROR
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), ExitCode.FILE_ERROR
    return f"{type(exc).__name__}: {exc}", ExitCode.UNSPECIFIED


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    try:
        cli.main(args=argv, prog_name="ptpkit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.INVALID_ARGUMENTS if exc.exit_code == 2 else exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except (PTPError, OSError) as exc:
        message, code = describe_error(exc)
        click.echo(f"ptpkit: {message}", err=True)
        sys.exit(code)
    sys.exit(ExitCode.OK)


if __name__ == "__main__":  # pragma: no cover
    main()
