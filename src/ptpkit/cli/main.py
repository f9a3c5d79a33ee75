"""The ``ptpkit`` command: entry point, global options, and the one place errors become exit
codes and one readable line (never a traceback for a user or camera error).

Commands live in the modules of :data:`COMMAND_MODULES`; the global options here choose the
camera (see :mod:`ptpkit.cli.camera_select`) and how output looks, and are shared with every
command through a :class:`~ptpkit.cli.session.Session`.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from ptpkit import __version__
from ptpkit.cli.camera_select import CAMERA_ENV, Selection
from ptpkit.cli.config import load_config, parse_vendor
from ptpkit.cli.errors import CliError, Hinted, describe_error
from ptpkit.cli.exitcodes import ExitCode, help_table
from ptpkit.cli.legacy import LegacyFlags, run_legacy
from ptpkit.cli.numbers import Seconds
from ptpkit.cli.output import Output
from ptpkit.cli.session import Session, resolve_alias
from ptpkit.errors import PTPError, UsageError

__all__ = ["COMMAND_MODULES", "cli", "describe_error", "main"]

_EPILOG = f"""\b
The camera: --camera URL, else ${CAMERA_ENV}, else [responder] in the config file
(-f FILE, or config.ini in the ptpkit config folder), else the only camera found.

\b
miniPtp's flags work as well: -o -p -d -i -L -g HANDLE -u STORAGE,FILE.

\b
Exit codes:
{help_table()}
"""


class PtpkitGroup(click.Group):
    """The Go tool's other names for commands (shoot, shutter, snap: capture) resolve here."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, resolve_alias(cmd_name))


def _check_guid(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from ptpkit.identity import parse_guid  # noqa: PLC0415

    try:
        parse_guid(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _check_vendor(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return parse_vendor(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(
    cls=PtpkitGroup,
    invoke_without_command=True,
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="ptpkit")
@click.option(
    "--camera", metavar="URL", help="The camera: usb:..., ptpip:HOST[:PORT[:EVENTPORT]], virtual:"
)
@click.option(
    "-f",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (INI with [initiator], [responder], [server], as the Go ptpip tool's).",
)
@click.option("--guid", callback=_check_guid, help="PTP/IP initiator GUID (default: this user's).")
@click.option("--name", help="PTP/IP initiator name the camera shows (default: the host name).")
@click.option(
    "--vendor",
    callback=_check_vendor,
    help="Use this vendor's codes whatever the camera says (canon, nikon, fuji, sony, mtp).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=Seconds(allow_minimum=False),
    help="Seconds to wait for the camera: connecting, each operation, discovery.",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="-v transactions with names, -vv with parameters, -vvv hex dumps.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON (every command).")
@click.option("-o", "legacy_ops", is_flag=True, help="miniPtp: list operations.")
@click.option("-p", "legacy_props", is_flag=True, help="miniPtp: list properties.")
@click.option("-d", "legacy_descriptions", is_flag=True, help="miniPtp: properties and values.")
@click.option("-i", "legacy_info", is_flag=True, help="miniPtp: device info.")
@click.option("-L", "legacy_tree", is_flag=True, help="miniPtp: the file tree with handles.")
@click.option("-g", "legacy_get", metavar="HANDLE", help="miniPtp: download a file (hex handle).")
@click.option(
    "-u", "legacy_upload", metavar="STORAGE,FILE", help="miniPtp: upload FILE to STORAGE (hex)."
)
@click.pass_context
def cli(
    ctx: click.Context,
    *,
    camera: str | None,
    config_path: Path | None,
    guid: str | None,
    name: str | None,
    vendor: str | None,
    timeout_s: float | None,
    verbose: int,
    as_json: bool,
    legacy_ops: bool,
    legacy_props: bool,
    legacy_descriptions: bool,
    legacy_info: bool,
    legacy_tree: bool,
    legacy_get: str | None,
    legacy_upload: str | None,
) -> None:
    """Talk to cameras with PTP over USB and Wi-Fi, or to ptpkit's virtual camera."""
    _configure_logging(verbose)
    config = load_config(config_path)
    selection = Selection(
        camera=camera, guid=guid, name=name, vendor=vendor, timeout_s=timeout_s, config=config
    )
    session = Session(selection, Output(), json_mode=as_json)
    ctx.obj = session
    ctx.call_on_close(session.close)
    flags = LegacyFlags(
        operations=legacy_ops,
        properties=legacy_props,
        info=legacy_info,
        descriptions=legacy_descriptions,
        tree=legacy_tree,
        get_handle=legacy_get,
        upload=legacy_upload,
    )
    if ctx.invoked_subcommand is not None:
        if flags.any:
            raise click.UsageError("miniPtp's flags (-o -p -d -i -L -g -u) take no command")
        return
    if flags.any:
        run_legacy(ctx, session, flags)
    elif config.server.enabled:
        # The Go tool's [server] enabled = true: `ptpkit -f FILE` alone serves commands.
        from ptpkit.cli.server import serve  # noqa: PLC0415

        assert isinstance(ctx.command, click.Group)
        serve(session, ctx.command, listen=None, json_mode=as_json)
    else:
        click.echo(ctx.get_help())


# -- -v -------------------------------------------------------------------------------------------

_handler: logging.Handler | None = None


class _VerboseFormatter(logging.Formatter):
    """-v shows each transaction by name only; -vv the library's full lines with parameters."""

    def __init__(self, verbose: int) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if (
            self.verbose == 1
            and record.name == "ptpkit.transaction"
            and isinstance(record.msg, str)
            and record.msg.startswith(("-> ", "<- "))
            and isinstance(record.args, tuple)
            and record.args
        ):
            # The engine logs "-> %s(%s) tid=%d..." and "<- %s (0x%04X)... tid=%d": the first
            # argument is the operation's or the response's name.
            return f"{record.msg[:3]}{record.args[0]}"
        return f"{record.name}: {record.getMessage()}"


def _configure_logging(verbose: int) -> None:
    """Log the library's ``ptpkit`` loggers to stderr (the library never configures logging)."""
    global _handler
    logger = logging.getLogger("ptpkit")
    if _handler is not None:  # main() run again in one process (tests)
        logger.removeHandler(_handler)
        _handler = None
    if not verbose:
        return
    from ptpkit.client.engine import TRACE  # noqa: PLC0415  (loads the client only when asked)

    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(_VerboseFormatter(verbose))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO if verbose == 1 else logging.DEBUG if verbose == 2 else TRACE)
    logging.getLogger("ptpkit.transaction").setLevel(logging.DEBUG if verbose < 3 else TRACE)


#: Modules that each export ``COMMANDS``, a list of click commands to add to ``ptpkit``. They are
#: imported when the command runs, so ``import ptpkit`` stays light.
COMMAND_MODULES = (
    "ptpkit.cli.demo",
    "ptpkit.cli.virtual",
    "ptpkit.cli.pairing",
    "ptpkit.cli.commands.discovery",
    "ptpkit.cli.commands.device",
    "ptpkit.cli.commands.files",
    "ptpkit.cli.commands.events",
    "ptpkit.cli.commands.raw",
    "ptpkit.cli.shell",
    "ptpkit.cli.server",
    "ptpkit.cli.usb",
)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        for command in module.COMMANDS:
            if command.name not in cli.commands:
                cli.add_command(command)


def _usage_line(exc: click.ClickException) -> str:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        return f"{message} — try '{ctx.command_path} --help'"
    return message


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    try:
        result = cli.main(args=argv, prog_name="ptpkit", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("ptpkit: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as exc:
        click.echo(f"ptpkit: {_usage_line(exc)}", err=True)
        sys.exit(ExitCode.INVALID_ARGUMENTS if exc.exit_code == 2 else exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`ptpkit ls -R | head`): stop quietly; Python would otherwise
        # complain again while flushing stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(ExitCode.UNSPECIFIED)
    except (CliError, Hinted, PTPError, OSError) as exc:
        message, code = describe_error(exc)
        click.echo(f"ptpkit: {message}", err=True)
        sys.exit(code)
    # With standalone_mode=False click returns ctx.exit()'s code (the shell's last failure).
    sys.exit(result if isinstance(result, int) else ExitCode.OK)


if __name__ == "__main__":  # pragma: no cover
    main()
