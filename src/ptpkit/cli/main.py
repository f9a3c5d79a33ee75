"""The ``ptpkit`` command: entry point, global options, and the one place errors become exit
codes and one readable line (never a traceback for a user or camera error).

Commands live in the modules of :data:`COMMAND_MODULES`; the global options here choose the
camera (see :mod:`ptpkit.cli.camera_select`) and how output looks, and are shared with every
command through a :class:`~ptpkit.cli.session.Session`.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

from ptpkit import __version__
from ptpkit.cli.exitcodes import ExitCode, help_table
from ptpkit.cli.numbers import MAX_PAIRING_TIMEOUT_S, Seconds

# Everything else is imported when it is used: `ptpkit --help` loads neither the client nor
# rich, and a command loads only its own module (the virtual camera and Pillow come with `demo`
# and `virtual` only). tests/cli/test_startup.py holds this.

__all__ = ["COMMANDS", "COMMAND_MODULES", "cli", "main"]

_EPILOG = f"""\b
The camera: --camera URL, else $PTPKIT_CAMERA, else [responder] in the config file
(-f FILE, or config.ini in the ptpkit config folder), else the only camera found.

\b
miniPtp's flags work as well: -o -p -d -i -L -g HANDLE -u STORAGE,FILE.

\b
Exit codes:
{help_table()}
"""


#: Every command: its module (which exports ``COMMANDS``) and its one-line help, so that the
#: command list in ``ptpkit --help`` needs no module imported. tests/cli/test_startup.py checks
#: this table against the commands themselves.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("ptpkit.cli.demo", "A tour of ptpkit against the built-in virtual camera."),
    "virtual": ("ptpkit.cli.virtual", "The built-in virtual camera."),
    "canon-pair": (
        "ptpkit.cli.pairing",
        "Answer a Canon camera's Wi-Fi pairing search until interrupted (Ctrl-C).",
    ),
    "list": (
        "ptpkit.cli.commands.discovery",
        "List the cameras found on USB and the network (their URLs go to --camera).",
    ),
    "info": ("ptpkit.cli.commands.device", "Show what the camera is (DeviceInfo)."),
    "ops": (
        "ptpkit.cli.commands.device",
        "List the operations the camera supports, with their names.",
    ),
    "props": (
        "ptpkit.cli.commands.device",
        "List the camera's properties with their current values.",
    ),
    "describe": (
        "ptpkit.cli.commands.device",
        "Describe a property: type, current and default value, allowed values.",
    ),
    "get": (
        "ptpkit.cli.commands.device",
        "Print a property's current value (as people write it; --json for the raw value too).",
    ),
    "set": ("ptpkit.cli.commands.device", "Set a property."),
    "state": (
        "ptpkit.cli.commands.device",
        "The exposure settings at a glance (program, shutter, aperture, ISO, bias ...).",
    ),
    "storage": (
        "ptpkit.cli.commands.files",
        "List the camera's storages (cards) with capacity and free space.",
    ),
    "ls": (
        "ptpkit.cli.commands.files",
        "List files with their handles (PATH: a folder, file, storage or handle; default: the "
        "top of every storage).",
    ),
    "download": (
        "ptpkit.cli.commands.files",
        "Download files (HANDLE or PATH; a folder means everything in it) with a progress bar.",
    ),
    "upload": ("ptpkit.cli.commands.files", "Send files to the camera."),
    "rm": ("ptpkit.cli.commands.files", "Delete objects from the camera (HANDLE or PATH)."),
    "thumb": (
        "ptpkit.cli.commands.files",
        "Save objects' thumbnails as thumb_NAME.jpg (HANDLE or PATH; a folder means every file "
        "below it, as gphoto2 does).",
    ),
    "capture": (
        "ptpkit.cli.commands.events",
        "Take pictures (InitiateCapture) and show, or download, the new files.",
    ),
    "focus": (
        "ptpkit.cli.commands.events",
        "Half-press the shutter button: autofocus without a picture (Canon EOS, Nikon, Sony, "
        "Fujifilm).",
    ),
    "wait-event": (
        "ptpkit.cli.commands.events",
        "Wait for events from the camera and print them.",
    ),
    "tether": (
        "ptpkit.cli.commands.events",
        "Download each new picture as it appears (shoot on the camera) until interrupted.",
    ),
    "liveview": (
        "ptpkit.cli.commands.liveview",
        "Stream the camera's live view as MJPEG to a file or standard output (-o), or as "
        "numbered JPEG files (--frames-dir), until --frames, --duration or Ctrl-C.",
    ),
    "capture-preview": (
        "ptpkit.cli.commands.liveview",
        "Save one live-view frame as a JPEG file (gphoto2's --capture-preview): live view is "
        "switched on, the first frame taken, and live view switched off.",
    ),
    "opreq": (
        "ptpkit.cli.commands.raw",
        "Run a raw transaction: OPCODE (hex or name) and up to 5 PARAMS in hex, e.g.",
    ),
    "shell": (
        "ptpkit.cli.shell",
        "An interactive shell on one open session: history, Tab completion, the same commands.",
    ),
    "serve-commands": (
        "ptpkit.cli.server",
        "Take commands over TCP, one per line (the Go ptpip tool's server mode).",
    ),
    "web": (
        "ptpkit.cli.web",
        "A browser UI: live view, capture, gallery, properties, several cameras.",
    ),
    "rig": (
        "ptpkit.cli.rig",
        "Many cameras as one: status, settings, synchronised capture, downloads, contact sheet.",
    ),
    "udev-rules": (
        "ptpkit.cli.usb",
        "Print (or write) a udev rule that gives the logged-in user access to PTP cameras.",
    ),
}

#: Commands that run other commands (by name, on one session): they need them all loaded.
_RUN_OTHERS = frozenset({"shell", "serve-commands"})

#: The Go ptpip tool's other names for its commands (the same table as
#: :data:`ptpkit.cli.session.ALIASES`, which the shell and server use).
_ALIASES = {"shoot": "capture", "shutter": "capture", "snap": "capture"}


class PtpkitGroup(click.Group):
    """Commands load on first use (see :data:`COMMANDS`); the Go tool's other names for
    commands (shoot, shutter, snap: capture) resolve here."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = _ALIASES.get(cmd_name, cmd_name)
        if name in _RUN_OTHERS:
            _register_commands()
        elif name not in self.commands and name in COMMANDS:
            _load(COMMANDS[name][0])
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing from the table: `ptpkit --help` imports no command module.
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _short_help(text, limit)) for name, (_, text) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _short_help(text: str, limit: int) -> str:
    """As click shortens a command's help for the listing."""
    return click.Command("x", help=text).get_short_help_str(limit=limit)


def _check_guid(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from ptpkit.errors import UsageError  # noqa: PLC0415
    from ptpkit.identity import parse_guid  # noqa: PLC0415

    try:
        parse_guid(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _check_vendor(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from ptpkit.cli.config import parse_vendor  # noqa: PLC0415
    from ptpkit.errors import UsageError  # noqa: PLC0415

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
    "--camera",
    metavar="URL",
    help="The camera: usb:..., ptpip:HOST[:PORT[:EVENTPORT]], "
    "fuji:HOST[:CMDPORT[:EVENTPORT[:STREAMPORT]]] (Fujifilm Wi-Fi), virtual:",
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
    "--usb-backend",
    metavar="NAME",
    help="PyUSB backend for usb: cameras: libusb1 (default), libusb0, openusb, or "
    "module:function returning one (e.g. a network bridge).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=Seconds(allow_minimum=False),
    help="Seconds to wait for the camera: connecting, each operation, discovery.",
)
@click.option(
    "--pairing-timeout",
    "pairing_timeout_s",
    type=Seconds(allow_minimum=False, maximum=MAX_PAIRING_TIMEOUT_S),
    help="Seconds a PTP/IP camera may take to accept this computer (default 60).",
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
    usb_backend: str | None,
    timeout_s: float | None,
    pairing_timeout_s: float | None,
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
    from ptpkit.cli.camera_select import Selection  # noqa: PLC0415
    from ptpkit.cli.config import load_config  # noqa: PLC0415
    from ptpkit.cli.output import Output  # noqa: PLC0415
    from ptpkit.cli.session import Session  # noqa: PLC0415

    _configure_logging(verbose)
    config = load_config(config_path)
    selection = Selection(
        camera=camera,
        guid=guid,
        name=name,
        vendor=vendor,
        timeout_s=timeout_s,
        pairing_timeout_s=pairing_timeout_s,
        config=config,
    )
    if usb_backend:
        import dataclasses  # noqa: PLC0415  (with inspect ~10 ms: not for --help)

        selection = dataclasses.replace(selection, usb_backend=usb_backend)
    session = Session(selection, Output(), json_mode=as_json)
    ctx.obj = session
    ctx.call_on_close(session.close)
    legacy = (legacy_ops, legacy_props, legacy_info, legacy_descriptions, legacy_tree)
    legacy_any = any(legacy) or legacy_get is not None or legacy_upload is not None
    if ctx.invoked_subcommand is not None:
        if legacy_any:
            raise click.UsageError("miniPtp's flags (-o -p -d -i -L -g -u) take no command")
        return
    if legacy_any or config.server.enabled:
        _register_commands()  # both run commands by name
    if legacy_any:
        # Loaded only for miniPtp's flags: it brings the file commands and rich's progress.
        from ptpkit.cli.legacy import LegacyFlags, run_legacy  # noqa: PLC0415

        flags = LegacyFlags(
            operations=legacy_ops,
            properties=legacy_props,
            info=legacy_info,
            descriptions=legacy_descriptions,
            tree=legacy_tree,
            get_handle=legacy_get,
            upload=legacy_upload,
        )
        run_legacy(ctx, session, flags)
    elif config.server.enabled:
        # The Go tool's [server] enabled = true: `ptpkit -f FILE` alone serves commands.
        from ptpkit.cli.server import serve  # noqa: PLC0415

        assert isinstance(ctx.command, click.Group)
        serve(session, ctx.command, listen=None, json_mode=as_json)
    else:
        click.echo(ctx.get_help())


# -- -v -------------------------------------------------------------------------------------------


def _configure_logging(verbose: int) -> None:
    """Log the library's ``ptpkit`` loggers to stderr (the library never configures logging)."""
    # logging loads with -v, or with the library, not for ``ptpkit --help`` (start-up time). No
    # handler to remove unless ptpkit.cli.verbose ran before (main() run again in one process).
    if verbose or "ptpkit.cli.verbose" in sys.modules:
        from ptpkit.cli.verbose import configure_logging  # noqa: PLC0415

        configure_logging(verbose)


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
    "ptpkit.cli.commands.liveview",
    "ptpkit.cli.shell",
    "ptpkit.cli.server",
    "ptpkit.cli.usb",
    "ptpkit.cli.web",
    "ptpkit.cli.rig",
)


def _load(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for command in module.COMMANDS:
        if command.name not in cli.commands:
            cli.add_command(command)


def _register_commands() -> None:
    """Load every command (the shell, the command server and miniPtp's flags run them)."""
    for name in COMMAND_MODULES:
        _load(name)


def _usage_line(exc: click.ClickException) -> str:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        return f"{message} — try '{ctx.command_path} --help'"
    return message


def _run(argv: list[str] | None) -> int:
    """Run the command line; the exit code (a user's or camera's error is one line on stderr)."""
    try:
        result = cli.main(args=argv, prog_name="ptpkit", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("ptpkit: interrupted", err=True)
        return ExitCode.INTERRUPTED
    except click.ClickException as exc:
        click.echo(f"ptpkit: {_usage_line(exc)}", err=True)
        return ExitCode.INVALID_ARGUMENTS if exc.exit_code == 2 else exc.exit_code
    except BrokenPipeError:
        # The reader went away (`ptpkit ls -R | head`): stop quietly; Python would otherwise
        # complain again while flushing stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.UNSPECIFIED
    except Exception as exc:
        from ptpkit.cli.errors import CliError, Hinted, describe_error  # noqa: PLC0415
        from ptpkit.errors import PTPError  # noqa: PLC0415

        if not isinstance(exc, (CliError, Hinted, PTPError, OSError)):
            raise
        message, code = describe_error(exc)
        click.echo(f"ptpkit: {message}", err=True)
        return code
    # With standalone_mode=False click returns ctx.exit()'s code (the shell's last failure).
    return result if isinstance(result, int) else ExitCode.OK


def _exit_at_once(code: int) -> None:
    """End the process now, without Python's teardown, when that teardown has nothing left to do.

    Python frees every module and object one by one before it exits: 10-15 ms of every command
    (issue 11 section 5, start-up time), for memory the system takes back at once. What the
    teardown would still do is done here: the atexit functions run (logging's flush, a coverage
    or test probe's report) and stdout and stderr are flushed. Not when another non-daemon thread
    runs (Python would wait for it), nor when a flush fails (Python's exit reports that): then
    this returns and the caller exits as usual.
    """
    threading = sys.modules.get("threading")
    if threading is not None:
        main_thread = threading.main_thread()
        if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
            return
    import atexit  # noqa: PLC0415

    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        atexit._run_exitfuncs()  # runs each once, then clears them (CPython's exit does the same)
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except Exception:
        return
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """The ``ptpkit`` command. Run as a program (``argv`` None), it ends the process without
    Python's teardown when it can (:func:`_exit_at_once`); called with arguments (tests, a
    program running ptpkit's command line in its own process), it raises SystemExit."""
    code = _run(argv)
    if argv is None:
        _exit_at_once(int(code))
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
