"""What one ``ptpkit`` run shares between its commands: the global options, the output, and the
camera, opened on first use and kept open.

Keeping the camera in one place is what lets the shell and the command server run the very same
click commands as the command line, on one open session: a command never opens a camera itself,
it asks the session for it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import click

from ptpkit.cli.camera_select import Selection, choose_camera, open_camera
from ptpkit.cli.output import Output
from ptpkit.client.camera import Camera
from ptpkit.errors import PTPError

F = TypeVar("F", bound=Callable[..., Any])

#: Names of the commands that work on an open camera: the ones the shell and the command server
#: offer. Filled by :func:`session_command`.
SESSION_COMMANDS: set[str] = set()


class Job(Protocol):
    """A command running in the background of the shell or the command server."""

    def stop(self) -> None: ...


class Session:
    def __init__(self, selection: Selection, output: Output, *, json_mode: bool = False) -> None:
        self.selection = selection
        self.output = output
        #: The global --json.
        self.json_mode = json_mode
        #: Commands run one at a time (the command server has a thread per client).
        self.lock = threading.RLock()
        #: How long a command that waits for events waits when not told (None: until
        #: interrupted). The command server sets one: a wait holds the session from other clients.
        self.default_wait_s: float | None = None
        #: Set by the shell and the command server: a command that runs until stopped
        #: (``liveview``) runs in the background there, and the next commands go on meanwhile.
        self.background = False
        #: Those commands at work, by name; each has a ``stop()`` that waits for it to end.
        self.jobs: dict[str, Job] = {}
        self._camera: Camera | None = None

    def out(self, as_json: bool = False) -> Output:
        """The output for one command: JSON if the command's --json or the global one says so."""
        return self.output.with_json(as_json or self.json_mode)

    @property
    def connected(self) -> bool:
        return self._camera is not None

    def camera(self) -> Camera:
        """The camera, opened the first time a command needs it."""
        if self._camera is None:
            choice = choose_camera(self.selection)
            self._camera = open_camera(
                choice, timeout_s=self.selection.timeout_s, note=self.output.note
            )
        return self._camera

    def stop_jobs(self) -> None:
        """Stop the background commands (before the camera closes: live view ends on it)."""
        while self.jobs:
            _, job = self.jobs.popitem()
            with contextlib.suppress(PTPError, OSError):
                job.stop()

    def close(self) -> None:
        self.stop_jobs()
        camera, self._camera = self._camera, None
        if camera is not None:
            # Closing a camera that is already gone leaves nothing to tell the user.
            with contextlib.suppress(PTPError):
                camera.close()


def session_command(command: click.Command) -> click.Command:
    """Mark a command as one that works on the open camera (offered in the shell and server)."""
    assert command.name is not None
    SESSION_COMMANDS.add(command.name)
    return command


def json_option(function: F) -> F:
    """``--json``: print the result as JSON (field names in the README)."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print the result as JSON (see README)."
    )(function)


def get_session(ctx: click.Context | None = None) -> Session:
    ctx = ctx or click.get_current_context()
    session = ctx.find_object(Session)
    if session is None:  # a command called outside ptpkit's group (a test calling it directly)
        raise click.UsageError("this command needs the ptpkit command group")
    return session


pass_session = click.make_pass_decorator(Session)


#: The Go ptpip tool's other names for its commands.
ALIASES: dict[str, str] = {"shoot": "capture", "shutter": "capture", "snap": "capture"}


def resolve_alias(name: str) -> str:
    return ALIASES.get(name, name)
