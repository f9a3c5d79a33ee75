"""Taking pictures and listening to the camera: ``capture``, ``wait-event``, ``tether``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ptpkit.cli import downloads, schema
from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.interrupts import stop_on_sigterm
from ptpkit.cli.output import format_size
from ptpkit.cli.session import Session, json_option, pass_session, session_command
from ptpkit.client.camera import Camera, CameraEvent
from ptpkit.codes import Kind, UnknownNameError
from ptpkit.codes.common import Ec
from ptpkit.errors import ResponseError, UsageError

#: How often a wait without a deadline wakes up (so Ctrl-C is seen at once on every platform).
_POLL_S = 0.5


def drain(cam: Camera) -> None:
    """Forget events that came before this command (a shell's earlier capture, say): these
    commands are about what happens from now on."""
    while cam.next_event(0) is not None:
        pass


#: New pictures are always kept: a name already in the folder gets a " (2)" twin.
_KEEP_EVERYTHING = downloads.Policy(rename_existing=True)


@session_command
@click.command()
@click.option("-n", "--count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Seconds from the start of one shot to the start of the next.",
)
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download each new picture into this folder.",
)
@json_option
@pass_session
def capture(
    session: Session, count: int, interval: float, download_dir: Path | None, as_json: bool
) -> None:
    """Take pictures (InitiateCapture) and show, or download, the new files."""
    out = session.out(as_json)
    cam = session.camera()
    shots = []
    started: float | None = None
    for number in range(1, count + 1):
        if started is not None:
            time.sleep(max(0.0, started + interval - time.monotonic()))
        started = time.monotonic()
        new = cam.capture()
        for entry in new:
            out.text(
                f"shot {number}: {entry.path} (0x{entry.handle:08X}, {format_size(entry.size)})"
            )
        saved: list[downloads.Outcome] = []
        if download_dir is not None:
            planned = downloads.plan(cam, [e for e in new if not e.is_folder], tree=False)
            saved = downloads.run(cam, planned, download_dir, _KEEP_EVERYTHING, out)
        shots.append(
            {
                "shot": number,
                "objects": [schema.entry(entry, cam) for entry in new],
                "downloads": [outcome.doc() for outcome in saved],
            }
        )
    out.data(shots)


def _event_code(cam: Camera, text: str) -> int:
    try:
        return cam.vocabulary.code(Kind.EVENT, text)
    except UnknownNameError:
        raise UsageError(f"{text!r} is neither an event code nor an event name") from None


def _event_line(event: CameraEvent, cam: Camera) -> str:
    line = str(event)
    if event.code == Ec.DEVICE_PROP_CHANGED and event.params:
        spec = cam.catalog.get(event.params[0])
        line += f"  {spec.name if spec else cam.vocabulary.property_name(event.params[0])}"
    return line


@session_command
@click.command(name="wait-event")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0),
    default=None,
    help="Give up after S seconds (exit code 109); default: wait until interrupted (in "
    "serve-commands, its --max-wait).",
)
@click.option(
    "--code",
    "codes",
    multiple=True,
    help="Only events with this code or name (repeatable); others are ignored.",
)
@json_option
@pass_session
def wait_event(
    session: Session, count: int, timeout_s: float | None, codes: tuple[str, ...], as_json: bool
) -> None:
    """Wait for events from the camera and print them."""
    out = session.out(as_json)
    cam = session.camera()
    wanted = {_event_code(cam, code) for code in codes}
    if timeout_s is None:
        timeout_s = session.default_wait_s
    drain(cam)
    limit = "Ctrl-C to stop" if timeout_s is None else f"up to {timeout_s:g} s"
    out.note(f"waiting for {count} event(s) from {cam.url} ({limit})")
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    received: list[CameraEvent] = []
    while len(received) < count:
        remaining = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
        if remaining <= 0:
            break
        event = cam.next_event(remaining)
        if event is None or (wanted and event.code not in wanted):
            continue
        received.append(event)
        out.text(_event_line(event, cam))
    out.data([schema.event(event, cam) for event in received])
    if len(received) < count:
        raise CliError(
            f"{len(received)} of {count} event(s) within {timeout_s:g} s",
            ExitCode.TIMED_OUT,
        )


@session_command
@click.command()
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the new pictures.",
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after N pictures.")
@json_option
@pass_session
def tether(session: Session, download_dir: Path, count: int | None, as_json: bool) -> None:
    """Download each new picture as it appears (shoot on the camera) until interrupted.

    With --json, one JSON document per picture, one per line."""
    out = session.out(as_json)
    cam = session.camera()
    drain(cam)
    out.note(
        f"tethered to {cam.device_info.model}: new pictures go to {download_dir} (Ctrl-C stops)"
    )
    done = 0
    try:
        with stop_on_sigterm():
            while count is None or done < count:
                event = cam.next_event(_POLL_S)
                if event is None or event.code != Ec.OBJECT_ADDED or not event.params:
                    continue
                try:
                    entry = cam.entry(event.params[0])
                except ResponseError as exc:
                    if not downloads.refused_by_camera(exc):
                        raise
                    # Gone before we asked (deleted on the camera...): tethering goes on.
                    out.text(f"not downloaded 0x{event.params[0]:08X}: {exc}")
                    continue
                if entry.is_folder:
                    continue
                planned = downloads.plan(cam, [entry], tree=False)
                outcomes = downloads.run(cam, planned, download_dir, _KEEP_EVERYTHING, out)
                # Counted before they are printed: a reader that saw the line sees the count.
                done += sum(outcome.status == "downloaded" for outcome in outcomes)
                for outcome in outcomes:
                    out.stream(outcome.doc())
    except KeyboardInterrupt:
        pass  # the way to stop tethering: not an error
    out.note(f"tether stopped: {done} picture(s) downloaded")


COMMANDS = [capture, wait_event, tether]
