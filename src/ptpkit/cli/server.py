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

What one client can hold is bounded, so that none keeps the others out for long:

- a line has one deadline from its first byte (``line_timeout_s``): sending a command a byte at a
  time does not keep a connection forever;
- a client that sends nothing for ``--idle-timeout`` seconds is told so and disconnected (0:
  never). An hour by default: a program driving the camera may sit between shots for long;
- clients are at most ``--max-clients``. When all places are taken, a new client takes the place
  of the one idle longest if it has been idle ``reclaim_idle_s``; else it is told
  ``ERROR 1 too many clients`` and closed. A client running a command is never dropped;
- an answer must be written within ``send_timeout_s`` in all: a client that does not read its
  answers is disconnected. Answers are composed before they are sent, so such a client never
  holds the camera meanwhile.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import select
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import click

from ptpkit import PTPIP_PORT
from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.interrupts import stop_on_sigterm
from ptpkit.cli.numbers import Count, NumberError, Seconds, parse_port
from ptpkit.cli.output import Output, capture_output, dumps, printable
from ptpkit.cli.runner import LineResult, Runner
from ptpkit.cli.session import Session, get_session, json_option

#: The Go tool's defaults (its -sa and -sp flags).
DEFAULT_ADDRESS: Final = "127.0.0.1"
#: Longest command line read; a longer one is refused (a client cannot make us buffer forever).
MAX_LINE_BYTES: Final = 64 * 1024
_NOT_OVER_TCP: Final = frozenset({"tether"})
#: How long ``wait-event`` without ``--timeout`` waits over TCP (it holds the session meanwhile).
DEFAULT_MAX_WAIT_S: Final = 60.0
#: Clients connected at once (a thread each).
MAX_CLIENTS: Final = 16
#: A client that sends nothing for this long is disconnected (0: never).
IDLE_TIMEOUT_S: Final = 3600.0
#: When every place is taken, a client idle this long gives its place to a new one.
RECLAIM_IDLE_S: Final = 60.0
#: A line must be complete this long after its first byte: a person typing sends a whole line
#: at once (nc, telnet's line mode), a program faster still.
LINE_TIMEOUT_S: Final = 30.0
#: An answer must be written within this long, in all.
SEND_TIMEOUT_S: Final = 30.0

log = logging.getLogger("ptpkit.cli.server")


class LineRunner(Protocol):
    """What the server needs of a :class:`Runner` (tests give their own)."""

    def run(self, line: str, out: Output) -> LineResult: ...


@dataclass(eq=False)
class _Client:
    """One connected client, as the accepting thread sees it."""

    sock: socket.socket
    address: str
    #: The last byte received or answer sent (time.monotonic()).
    last_activity: float = field(default_factory=time.monotonic)
    #: A command of this client is running or waiting for the camera: it is never dropped then.
    busy: bool = False
    #: How its answers are written (``format json`` changes it).
    json_mode: bool = False


class _Closing(Exception):
    """The connection ends, with a message for the client (an error status line)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT``, ``:PORT`` or ``PORT``."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or DEFAULT_ADDRESS
    try:
        # The one checked reading of numbers (int() would take "1_5740" and other scripts'
        # digits).
        port = parse_port(port_text, allow_zero=True)
    except NumberError as exc:
        raise click.BadParameter(
            f"{text!r} is not HOST:PORT ({exc})", param_hint="--listen"
        ) from None
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class CommandServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # socketserver's 5 makes a burst of connections wait for SYN retries

    def __init__(
        self,
        address: tuple[str, int],
        runner: LineRunner,
        *,
        json_mode: bool,
        max_clients: int = MAX_CLIENTS,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        reclaim_idle_s: float = RECLAIM_IDLE_S,
        line_timeout_s: float = LINE_TIMEOUT_S,
        send_timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        if max_clients < 1:
            raise ValueError(f"max_clients must be at least 1, not {max_clients}")
        for label, seconds in (
            ("idle_timeout_s", idle_timeout_s),
            ("reclaim_idle_s", reclaim_idle_s),
            ("line_timeout_s", line_timeout_s),
            ("send_timeout_s", send_timeout_s),
        ):
            if not math.isfinite(seconds) or seconds < 0:
                raise ValueError(f"{label} must be a finite number of seconds >= 0, not {seconds}")
        if line_timeout_s == 0 or send_timeout_s == 0:
            raise ValueError("line_timeout_s and send_timeout_s must be more than 0")
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.runner = runner
        self.json_mode = json_mode
        self.max_clients = max_clients
        #: 0: clients are never disconnected for idleness.
        self.idle_timeout_s = idle_timeout_s
        self.reclaim_idle_s = reclaim_idle_s
        self.line_timeout_s = line_timeout_s
        self.send_timeout_s = send_timeout_s
        self._clients: dict[socket.socket, _Client] = {}
        self._clients_lock = threading.Lock()
        #: Clients refused or dropped for a newcomer (for diagnostics and tests).
        self.clients_refused = 0
        self.clients_dropped = 0

    @property
    def client_count(self) -> int:
        with self._clients_lock:
            return len(self._clients)

    def client(self, sock: socket.socket) -> _Client:
        """The record of a connected client (a detached one if it was dropped already: its
        socket is shut down, so its handler ends at its first read)."""
        with self._clients_lock:
            known = self._clients.get(sock)
        return known or _Client(sock, "?", json_mode=self.json_mode)

    def process_request(self, request: Any, client_address: Any) -> None:
        # In the accepting thread, before a thread is started: the number of threads is bounded.
        sock: socket.socket = request
        now = time.monotonic()
        with self._clients_lock:
            victim = None
            if len(self._clients) >= self.max_clients:
                idle = [c for c in self._clients.values() if not c.busy]
                idlest = min(idle, key=lambda c: c.last_activity, default=None)
                if idlest is not None and now - idlest.last_activity >= self.reclaim_idle_s:
                    victim = idlest
                    del self._clients[victim.sock]
                    self.clients_dropped += 1
            full = len(self._clients) >= self.max_clients
            if full:
                self.clients_refused += 1
            else:
                self._clients[sock] = _Client(
                    sock, str(client_address[0]), now, json_mode=self.json_mode
                )
        if victim is not None:
            log.info("command server: %s idle; its place goes to a new client", victim.address)
            _notify(
                victim.sock,
                _status_line(
                    ExitCode.UNSPECIFIED,
                    "closed: idle, and a new client needs the place",
                    json_mode=victim.json_mode,
                ),
            )
            with contextlib.suppress(OSError):
                victim.sock.shutdown(socket.SHUT_RDWR)
        if full:
            log.info(
                "command server: %d clients already; refusing %s",
                self.max_clients,
                client_address[0],
            )
            _notify(
                sock,
                _status_line(
                    ExitCode.UNSPECIFIED,
                    f"too many clients ({self.max_clients}); try again later",
                    json_mode=self.json_mode,
                ),
            )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._forget(sock)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, sock: socket.socket) -> None:
        with self._clients_lock:
            self._clients.pop(sock, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback to stderr; a client's surprise goes to the log.
        log.debug("command server: client %s failed", client_address, exc_info=True)

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


def _status_line(code: int, message: str, *, json_mode: bool) -> str:
    """An error status line, as text or as a JSON envelope."""
    if json_mode:
        envelope = {
            "ok": False,
            "exit_code": code,
            "command": None,
            "result": None,
            "error": message,
        }
        return dumps(envelope) + "\n"
    return f"ERROR {code} {message}\n"


def _notify(sock: socket.socket, text: str) -> None:
    """Tell a client why it is closed, if its buffer has room: never wait for it."""
    # Windows has no MSG_DONTWAIT, and the socket may be blocking: the zero-timeout select says
    # there is room, so the short send cannot wait (and the accepting thread never blocks).
    with contextlib.suppress(OSError, ValueError):
        _, writable, _ = select.select([], [sock], [], 0)
        if writable:
            sock.send(text.encode("utf-8"), getattr(socket, "MSG_DONTWAIT", 0))


class _Handler(socketserver.BaseRequestHandler):
    server: CommandServer
    request: socket.socket

    def setup(self) -> None:
        self.state = self.server.client(self.request)
        self._buffer = bytearray()
        self._line_started = 0.0

    def handle(self) -> None:
        try:
            while True:
                try:
                    raw = self._read_line()
                except _Closing as closing:
                    self._send(
                        _status_line(closing.code, closing.message, json_mode=self.state.json_mode)
                    )
                    return
                if raw is None:
                    return
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                if line in ("quit", "exit"):
                    return
                if line in ("format json", "format text"):
                    self.state.json_mode = line.endswith("json")
                    self._send(
                        dumps({"ok": True, "format": "json"}) + "\n"
                        if self.state.json_mode
                        else "OK\n"
                    )
                    continue
                self.state.busy = True
                try:
                    answer = self.server.answer(line, json_mode=self.state.json_mode)
                    self._send(answer)
                finally:
                    self.state.busy = False
                    # The time the command took is ours, not the client's: a line it had begun
                    # sending meanwhile (pipelined) gets its whole allowance from now.
                    self.state.last_activity = self._line_started = time.monotonic()
        except OSError:
            # The client went away mid-answer, or did not read it within send_timeout_s: nothing
            # to tell anyone.
            return

    def _read_line(self) -> bytes | None:
        """The next line without its newline; None when the client closed the connection.

        Two deadlines, neither reset by each byte: a started line must end within
        line_timeout_s of its first byte; between lines, the client may be silent for
        idle_timeout_s."""
        server, buffer = self.server, self._buffer
        while True:
            end = buffer.find(b"\n", 0, MAX_LINE_BYTES + 1)
            if end >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                # What follows arrived already: the next line's clock starts now.
                self._line_started = time.monotonic()
                return line
            if len(buffer) > MAX_LINE_BYTES:
                raise _Closing(ExitCode.INVALID_ARGUMENTS, "line too long")
            now = time.monotonic()
            if buffer:
                remaining = self._line_started + server.line_timeout_s - now
                if remaining <= 0:
                    raise _Closing(
                        ExitCode.TIMED_OUT,
                        f"line not complete within {server.line_timeout_s:g} s; closing",
                    )
            elif server.idle_timeout_s:
                remaining = self.state.last_activity + server.idle_timeout_s - now
                if remaining <= 0:
                    raise _Closing(
                        ExitCode.TIMED_OUT, f"idle for {server.idle_timeout_s:g} s; closing"
                    )
            else:
                remaining = None
            self.request.settimeout(remaining)
            try:
                chunk = self.request.recv(65536)
            except TimeoutError:
                continue  # the deadline checks above end it
            if not chunk:
                return None
            if not buffer:
                self._line_started = time.monotonic()
            buffer += chunk
            self.state.last_activity = time.monotonic()

    def _send(self, text: str) -> None:
        # sendall's timeout bounds the whole answer (Python 3.5+), not each write: a client
        # that reads a byte now and then cannot keep this thread for longer.
        self.request.settimeout(self.server.send_timeout_s)
        self.request.sendall(text.encode("utf-8"))


@click.command(name="serve-commands")
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default=None,
    help=f"Where to listen (default: [server] in the config file, else "
    f"{DEFAULT_ADDRESS}:{PTPIP_PORT}). Any address but loopback lets other machines in.",
)
@click.option(
    "--max-wait",
    "max_wait_s",
    type=Seconds(allow_minimum=False),  # finite, more than 0, at most 30 days
    default=DEFAULT_MAX_WAIT_S,
    show_default=True,
    metavar="S",
    help="Seconds `wait-event` waits when a client gives no --timeout; other clients' commands "
    "queue behind a waiting one.",
)
@click.option(
    "--max-clients",
    type=Count(minimum=1),
    default=MAX_CLIENTS,
    show_default=True,
    metavar="N",
    help=f"Clients connected at once. When all places are taken, a new client takes the place "
    f"of one idle {RECLAIM_IDLE_S:g} s or more, else it is refused.",
)
@click.option(
    "--idle-timeout",
    "idle_timeout_s",
    type=Seconds(),
    default=IDLE_TIMEOUT_S,
    show_default=True,
    callback=lambda ctx, param, value: _check_seconds(value),
    metavar="S",
    help="Disconnect a client that sends nothing for S seconds (0: never).",
)
@json_option
@click.pass_context
def serve_commands(
    ctx: click.Context,
    *,
    listen: str | None,
    max_wait_s: float,
    max_clients: int,
    idle_timeout_s: float,
    as_json: bool,
) -> None:
    """Take commands over TCP, one per line (the Go ptpip tool's server mode)."""
    session = get_session(ctx)
    group = ctx.find_root().command
    assert isinstance(group, click.Group)
    serve(
        session,
        group,
        listen=listen,
        json_mode=as_json or session.json_mode,
        max_wait_s=max_wait_s,
        max_clients=max_clients,
        idle_timeout_s=idle_timeout_s,
    )


def _check_seconds(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise click.BadParameter(f"{value} is not a number of seconds (0 or more, finite)")
    return value


def serve(
    session: Session,
    group: click.Group,
    *,
    listen: str | None,
    json_mode: bool,
    max_wait_s: float = DEFAULT_MAX_WAIT_S,
    max_clients: int = MAX_CLIENTS,
    idle_timeout_s: float = IDLE_TIMEOUT_S,
) -> None:
    configured = session.selection.config.server
    session.default_wait_s = max_wait_s
    if listen is not None:
        host, port = parse_listen(listen)
    else:
        host = configured.address or DEFAULT_ADDRESS
        port = configured.port if configured.port is not None else PTPIP_PORT
    cam = session.camera()  # as the Go tool: connect first, then open the socket
    session.background = True  # `liveview` runs until a client sends `liveview stop`
    runner = Runner(group, session, excluded=_NOT_OVER_TCP)
    try:
        server = CommandServer(
            (host, port),
            runner,
            json_mode=json_mode,
            max_clients=max_clients,
            idle_timeout_s=idle_timeout_s,
        )
    except OSError as exc:
        raise CliError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            ExitCode.FILE_ERROR if isinstance(exc, PermissionError) else ExitCode.UNSPECIFIED,
            hint="choose another port with --listen HOST:PORT",
        ) from None
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    if not is_loopback(str(bound_host)):
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
        session.stop_jobs()  # live view ends on the camera before the session closes


COMMANDS = [serve_commands]
