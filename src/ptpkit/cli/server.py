"""``ptpkit serve-commands``: the Go ptpip tool's server mode. It opens the camera, then listens
on TCP (127.0.0.1:15740 unless told otherwise) for commands, one per line, and answers each:

- as text (the default): the command's output, then a status line, ``OK`` or
  ``ERROR <exit code> <message>``, so a client knows where an answer ends;
- as JSON (``--json``, or the line ``format json`` on a connection): one line per answer,
  ``{"ok": true, "exit_code": 0, "command": "info", "result": {...}, "error": null}``, where
  ``result`` is what ``--json`` prints for that command.

Every command that works on an open camera is offered except ``tether`` (it runs until
interrupted, which a line protocol cannot do); ``help`` lists them, ``quit`` closes the connection.
Clients may connect at once; their commands run one at a time on the one session, so a command
that waits for the camera holds up every other client: ``wait-event`` without ``--timeout`` gives
up after ``--max-wait`` seconds (60 by default) instead of waiting until interrupted. There is no
authentication: anyone who can connect controls the camera, hence loopback by default and a
warning for any other address.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
from typing import Final

import click

from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.interrupts import stop_on_sigterm
from ptpkit.cli.numbers import Seconds
from ptpkit.cli.output import capture_output, dumps, printable
from ptpkit.cli.runner import Runner
from ptpkit.cli.session import Session, get_session, json_option
from ptpkit.core.ptpip import DEFAULT_PORT

#: The Go tool's defaults (its -sa and -sp flags).
DEFAULT_ADDRESS: Final = "127.0.0.1"
#: Longest command line read; a longer one is refused (a client cannot make us buffer forever).
MAX_LINE_BYTES: Final = 64 * 1024
_NOT_OVER_TCP: Final = frozenset({"tether"})
#: How long ``wait-event`` without ``--timeout`` waits over TCP (it holds the session meanwhile).
DEFAULT_MAX_WAIT_S: Final = 60.0


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` or ``PORT``."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or DEFAULT_ADDRESS
    try:
        port = int(port_text, 10)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not HOST:PORT", param_hint="--listen") from None
    if not 0 <= port <= 65535:
        raise click.BadParameter(f"port {port} is out of range", param_hint="--listen")
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CommandServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], runner: Runner, *, json_mode: bool) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.runner = runner
        self.json_mode = json_mode

    def answer(self, line: str, *, json_mode: bool) -> str:
        out, buffer = capture_output(json_mode=json_mode)
        result = self.runner.run(line, out)
        if json_mode:
            collected = out.collected
            document = collected[0] if len(collected) == 1 else collected or None
            envelope = {
                "ok": result.ok,
                "exit_code": result.code,
                "command": line,
                "result": document,
                "error": result.error,
            }
            return dumps(envelope) + "\n"
        text = buffer.getvalue()
        if text and not text.endswith("\n"):
            text += "\n"
        status = "OK" if result.ok else f"ERROR {result.code} {result.error or ''}".rstrip()
        return text + status + "\n"


class _Handler(socketserver.StreamRequestHandler):
    server: CommandServer

    def handle(self) -> None:
        json_mode = self.server.json_mode
        try:
            while True:
                raw = self.rfile.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return
                if len(raw) > MAX_LINE_BYTES:
                    self._send("ERROR 2 line too long\n")
                    return
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                if line in ("quit", "exit"):
                    return
                if line in ("format json", "format text"):
                    json_mode = line.endswith("json")
                    self._send(
                        dumps({"ok": True, "format": "json"}) + "\n" if json_mode else "OK\n"
                    )
                    continue
                self._send(self.server.answer(line, json_mode=json_mode))
        except OSError:
            return  # the client went away mid-answer: nothing to tell anyone

    def _send(self, text: str) -> None:
        self.wfile.write(text.encode("utf-8"))
        self.wfile.flush()


@click.command(name="serve-commands")
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default=None,
    help=f"Where to listen (default: [server] in the config file, else "
    f"{DEFAULT_ADDRESS}:{DEFAULT_PORT}). Any address but loopback lets other machines in.",
)
@click.option(
    "--max-wait",
    "max_wait_s",
    type=Seconds(allow_minimum=False),
    default=DEFAULT_MAX_WAIT_S,
    show_default=True,
    metavar="S",
    help="Seconds `wait-event` waits when a client gives no --timeout; other clients' commands "
    "queue behind a waiting one.",
)
@json_option
@click.pass_context
def serve_commands(
    ctx: click.Context, listen: str | None, max_wait_s: float, as_json: bool
) -> None:
    """Take commands over TCP, one per line (the Go ptpip tool's server mode)."""
    session = get_session(ctx)
    group = ctx.find_root().command
    assert isinstance(group, click.Group)
    serve(
        session, group, listen=listen, json_mode=as_json or session.json_mode, max_wait_s=max_wait_s
    )


def serve(
    session: Session,
    group: click.Group,
    *,
    listen: str | None,
    json_mode: bool,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
) -> None:
    configured = session.selection.config.server
    session.default_wait_s = max_wait_s
    if listen is not None:
        host, port = parse_listen(listen)
    else:
        host = configured.address or DEFAULT_ADDRESS
        port = configured.port if configured.port is not None else DEFAULT_PORT
    cam = session.camera()  # as the Go tool: connect first, then open the socket
    runner = Runner(group, session, excluded=_NOT_OVER_TCP)
    try:
        server = CommandServer((host, port), runner, json_mode=json_mode)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            ExitCode.FILE_ERROR if isinstance(exc, PermissionError) else ExitCode.UNSPECIFIED,
            hint="choose another port with --listen HOST:PORT",
        ) from None
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    if not _is_loopback(str(bound_host)):
        click.echo(
            f"warning: listening on {bound_host}, not loopback: anyone who can reach it controls "
            "the camera",
            err=True,
        )
    click.echo(printable(f"serving {cam.device_info.model} at {cam.url}"))
    click.echo(f"listening on {bound_host}:{bound_port}")
    click.echo("one command per line (`help` lists them); Ctrl-C to stop", err=True)
    try:
        with stop_on_sigterm():
            server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass  # the way to stop a server: not an error
    finally:
        server.server_close()


COMMANDS = [serve_commands]
