"""Taking pictures and listening to the camera: ``capture``, ``wait-event``, ``tether``."""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from ptpkit._sync import Latch
from ptpkit.cli import downloads, schema
from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.interrupts import handling, stop_on_sigterm
from ptpkit.cli.numbers import Count, NumberError, Seconds, parse_count, parse_seconds
from ptpkit.cli.output import Output, format_size
from ptpkit.cli.session import Session, json_option, pass_session, session_command
from ptpkit.client.camera import Camera, CameraEvent
from ptpkit.client.files import write_file
from ptpkit.codes import Kind, UnknownNameError
from ptpkit.codes.common import Ec
from ptpkit.errors import ResponseError, UsageError
from ptpkit.ext.base import CapturedObject

#: How often a wait without a deadline wakes up (so Ctrl-C is seen at once on every platform).
_POLL_S = 0.5


def drain(cam: Camera) -> list[CameraEvent]:
    """Forget events that came before this command (a shell's earlier capture, say): these
    commands are about what happens from now on. Returned: those among them that announce a
    picture waiting in the camera's memory (:func:`waiting_in_memory`), for ``tether``."""
    kept: list[CameraEvent] = []
    while (event := cam.next_event(0)) is not None:
        if waiting_in_memory(event):
            kept.append(event)
    return kept


def waiting_in_memory(event: CameraEvent) -> bool:
    """An ObjectAdded of a picture in the camera's memory for the computer to fetch (a Sony's
    0xFFFFC001 after its own shutter button): not news from before but a picture not fetched
    yet, which a Sony hands out oldest first (the next one is read only after it)."""
    details = event.details
    return (
        event.code == Ec.OBJECT_ADDED and isinstance(details, CapturedObject) and details.in_memory
    )


#: New pictures are always kept: a name already in the folder gets a " (2)" twin.
_KEEP_EVERYTHING = downloads.Policy(rename_existing=True)


@session_command
@click.command()
@click.option(
    "-n",
    "--count",
    "--frames",
    "count",
    type=Count(minimum=1),
    default=None,
    help="Pictures to take (gphoto2's --frames). Default: 1, or with --interval until Ctrl-C.",
)
@click.option(
    "--interval",
    "interval_s",
    type=Seconds(),
    default=None,
    help="Seconds from the start of one shot to the start of the next; without -n, shoots "
    "until Ctrl-C (gphoto2's --interval).",
)
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download each new picture into this folder.",
)
@click.option(
    "--preview",
    "preview_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the preview the camera sends with each shot (Fujifilm) here; with several "
    "shots NAME-1.jpg, NAME-2.jpg ... (the Go ptpip tool's naming).",
)
@click.option("--force-overwrite", is_flag=True, help="Replace preview files that already exist.")
@click.argument("words", nargs=-1, metavar="[N] [PREVIEW]")
@json_option
@pass_session
def capture(
    session: Session,
    *,
    count: int | None,
    interval_s: float | None,
    download_dir: Path | None,
    preview_path: Path | None,
    force_overwrite: bool,
    words: tuple[str, ...],
    as_json: bool,
) -> None:
    """Take pictures (InitiateCapture) and show, or download, the new files.

    The Go ptpip tool's forms work too: ``capture 3`` takes three, ``capture /tmp/p.jpg``
    saves the shot's preview there, ``capture 3 /tmp/p.jpg`` saves /tmp/p-1.jpg, p-2.jpg and
    p-3.jpg. An existing file is never replaced unless --force-overwrite.

    With --interval and no -n it runs until Ctrl-C (or SIGTERM), which ends it normally (exit
    0) once the shot in progress is taken and reported, as gphoto2 does with --interval alone.
    A second Ctrl-C stops at once."""
    count, preview_path = _go_words(words, count, preview_path)
    # gphoto2: --frames defaults to "infinite" when an interval is given (gphoto2(1), -F).
    forever = count is None and interval_s is not None
    cap_s = session.default_wait_s
    if forever and cap_s is not None:
        # The command server: no Ctrl-C reaches it, and it would hold the camera from every
        # other client for good.
        raise click.UsageError("over serve-commands, --interval needs -n N")
    if cap_s is not None and interval_s is not None and ((count or 1) - 1) * interval_s > cap_s:
        # The same reason: one client's shots must not keep the others waiting for days.
        raise click.UsageError(
            f"over serve-commands, a capture may last at most --max-wait ({cap_s:g} s): "
            f"{count} shots {interval_s:g} s apart would take longer"
        )
    previews = None
    if preview_path is not None:
        if forever:
            raise click.UsageError("a preview file needs a number of shots (-n N)")
        previews = preview_names(preview_path, count or 1)
        if not force_overwrite:
            _refuse_existing(previews)
    out = session.out(as_json)
    cam = session.camera()
    shots: list[schema.Doc] = []
    tally = downloads.Tally()
    try:
        with _stop_between_shots() as stop:
            _shoot(
                cam,
                out=out,
                shots=shots,
                tally=tally,
                total=None if forever else (count or 1),
                interval_s=interval_s or 0.0,
                download_dir=download_dir,
                stop=stop,
                previews=previews,
                overwrite=force_overwrite,
            )
    finally:
        out.data(shots)  # what was taken is reported, however it ended
    if stop.is_set():
        out.note(f"capture stopped: {len(shots)} shot(s)")
    if tally.failed:
        # A new picture that was not saved is not a success (106 or 108, as download).
        downloads.fail_batch(tally)
    if stop.is_set() and not forever:
        raise KeyboardInterrupt  # -n N cut short: interrupted (130)


def _go_words(
    words: tuple[str, ...], count: int | None, preview: Path | None
) -> tuple[int | None, Path | None]:
    """The Go tool's ``capture [N] [PREVIEW]`` (its README): a number of shots, then a file for
    the previews."""
    rest = list(words)
    if rest and _DIGITS.match(rest[0]):
        if count is not None:
            raise click.UsageError("the number of shots is given twice (N and -n)")
        try:
            count = parse_count(rest.pop(0), minimum=1)
        except NumberError as exc:
            raise click.BadParameter(str(exc)) from None
    if rest:
        if preview is not None or len(rest) > 1:
            raise click.UsageError(f"unexpected argument(s): {' '.join(rest)}")
        if rest[0] == "view":
            raise click.UsageError("'capture view' (a preview window) is not supported: save it "
                                   "to a file (capture PREVIEW.jpg) and open that")  # fmt: skip
        preview = Path(rest[0])
    return count, preview


def preview_names(path: Path, count: int) -> list[Path]:
    """Where each shot's preview goes: ``path`` for one shot; for several, a counter from 1
    before the suffix (``/tmp/p.jpg`` -> ``/tmp/p-1.jpg``, ``p-2.jpg``...: the Go tool's
    ``/tmp/my-preview-%d.jpg``)."""
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{number}{path.suffix}") for number in range(1, count + 1)]


def _refuse_existing(paths: list[Path]) -> None:
    """Before any shot: a preview name that is taken stops the command (nothing was shot)."""
    taken = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if taken:
        raise CliError(
            f"{taken[0]} already exists"
            + (f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""),
            ExitCode.FILE_ERROR,
            hint="choose another name, or --force-overwrite to replace it",
        )


def save_preview(data: bytes, final: Path, *, overwrite: bool) -> None:
    """Save a shot's preview as ``final`` with a download's guarantees (ptpkit.client.files
    write_file: a marked partial file of ours, synced, then published): a reader never sees half
    a preview, a file ptpkit did not make is never touched, and without ``overwrite`` an
    existing ``final`` is kept (also one made since the check before the shots, and on a file
    system without hard links) and this raises CliError."""
    try:
        write_file(final, data, overwrite=overwrite)
    except FileExistsError:
        raise CliError(
            f"{final} already exists",
            ExitCode.FILE_ERROR,
            hint="choose another name, or --force-overwrite to replace it",
        ) from None
    except OSError as exc:
        raise CliError(f"cannot write {final}: {exc.strerror or exc}", ExitCode.FILE_ERROR) from exc


@contextlib.contextmanager
def _stop_between_shots() -> Iterator[Latch]:
    """Ctrl-C and SIGTERM ask the capture loop to stop after the shot in progress, so a picture
    the camera took is always reported (and downloaded); a second one stops at once. Outside the
    main thread (a command server's client) no handler is set (signal handlers belong to it)."""
    stop = Latch()  # set from a signal handler, waited on by the main thread

    def request(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    with handling(request, signal.SIGINT, signal.SIGTERM):
        yield stop


def _shoot(
    cam: Camera,
    *,
    out: Output,
    shots: list[schema.Doc],
    tally: downloads.Tally,
    total: int | None,
    interval_s: float,
    download_dir: Path | None,
    stop: Latch,
    previews: list[Path] | None = None,
    overwrite: bool = False,
) -> None:
    started: float | None = None
    number = 0
    while total is None or number < total:
        if started is not None and stop.wait(max(0.0, started + interval_s - time.monotonic())):
            return
        if stop.is_set():
            return
        number += 1
        started = time.monotonic()
        new = cam.capture()
        for entry in new:
            if entry.in_turn:
                # A Sony's next picture at 0xFFFFC001: named only when its turn comes.
                out.text(f"shot {number}: a picture in the camera's memory (0x{entry.handle:08X}"
                         ", named when downloaded)")  # fmt: skip
                continue
            out.text(
                f"shot {number}: {entry.path} (0x{entry.handle:08X}, {format_size(entry.size)})"
            )
        preview_doc: str | None = None
        if previews is not None and number <= len(previews):
            if new.preview:
                save_preview(new.preview, previews[number - 1], overwrite=overwrite)
                preview_doc = str(previews[number - 1])
                out.text(f"shot {number}: preview {preview_doc} ({format_size(len(new.preview))})")
            else:
                out.note(f"shot {number}: the camera sent no preview")
        saved: list[downloads.Outcome] = []
        if download_dir is not None:
            planned = downloads.plan(cam, [e for e in new if not e.is_folder], tree=False)
            saved = downloads.run(cam, planned, download_dir, _KEEP_EVERYTHING, out)
            for outcome in saved:
                tally.add(outcome)
        # Entries described at their download (Sony pictures in turn) as they were described.
        described = [o.entry for o in saved] if len(saved) == len(new) else list(new)
        shots.append(
            {
                "shot": number,
                "objects": [schema.entry(entry, cam) for entry in described],
                "downloads": [outcome.doc() for outcome in saved],
                "preview": preview_doc,
            }
        )


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


@dataclass(frozen=True)
class WaitSpec:
    """What gphoto2's ``--wait-event=SPEC`` means (gphoto2(1)): a number of events (``5``), a
    time with a unit (``10s``, ``500ms``), or an event to wait for (ours: a code or name)."""

    count: int | None = None
    duration_s: float | None = None
    code: str | None = None


_DIGITS = re.compile(r"^[0-9]+$")


def parse_wait_spec(text: str) -> WaitSpec:
    cleaned = text.strip()
    if _DIGITS.match(cleaned):
        try:
            return WaitSpec(count=parse_count(cleaned, minimum=1))
        except NumberError as exc:
            raise click.BadParameter(str(exc)) from None
    if re.match(r"^[0-9.]", cleaned) and not cleaned.lower().startswith("0x"):  # 0x4002: a code
        try:
            return WaitSpec(duration_s=parse_seconds(cleaned))
        except NumberError as exc:
            raise click.BadParameter(str(exc)) from None
    return WaitSpec(code=cleaned)


@session_command
@click.command(name="wait-event")
@click.argument("spec", required=False, metavar="[N|10s|500ms|EVENT]")
@click.option(
    "--count",
    type=Count(minimum=1),
    default=None,
    help="Stop after N events (default 1; with --duration, no limit).",
)
@click.option(
    "--duration",
    "duration_s",
    type=Seconds(),
    default=None,
    help="Listen for this long (10, 10s, 500ms, 5m), print what comes, exit 0.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=Seconds(),
    default=None,
    help="Give up after S seconds (exit code 109); default: wait until interrupted (in "
    "serve-commands, at most its --max-wait).",
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
    session: Session,
    *,
    spec: str | None,
    count: int | None,
    duration_s: float | None,
    timeout_s: float | None,
    codes: tuple[str, ...],
    as_json: bool,
) -> None:
    """Wait for events from the camera and print them.

    SPEC is gphoto2's --wait-event argument: a number of events (5), a time (10s, 500ms) or an
    event code or name (ObjectAdded)."""
    if spec is not None:
        parsed = parse_wait_spec(spec)
        if (parsed.count is not None and count is not None) or (
            parsed.duration_s is not None and duration_s is not None
        ):
            raise click.UsageError(f"{spec!r} and the option say the same thing twice")
        count = parsed.count if parsed.count is not None else count
        duration_s = parsed.duration_s if parsed.duration_s is not None else duration_s
        codes = (*codes, parsed.code) if parsed.code is not None else codes
    if duration_s is not None and timeout_s is not None:
        raise click.UsageError("--duration or --timeout, not both")
    out = session.out(as_json)
    cam = session.camera()
    wanted = {_event_code(cam, code) for code in codes}
    limit_count = count if count is not None else (None if duration_s is not None else 1)
    wait_s = duration_s if duration_s is not None else timeout_s
    cap_s = session.default_wait_s
    if cap_s is not None and (wait_s is None or wait_s > cap_s):
        # The command server runs one command at a time: a wait holds the camera from every
        # other client, so no wait there lasts longer than its --max-wait.
        wait_s = cap_s
    drain(cam)
    limit = "Ctrl-C to stop" if wait_s is None else f"up to {wait_s:g} s"
    wanted_text = "events" if limit_count is None else f"{limit_count} event(s)"
    out.note(f"waiting for {wanted_text} from {cam.url} ({limit})")
    deadline = None if wait_s is None else time.monotonic() + wait_s
    received: list[CameraEvent] = []
    try:
        while limit_count is None or len(received) < limit_count:
            remaining = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
            if remaining <= 0:
                break
            event = cam.next_event(remaining)
            if event is None or (wanted and event.code not in wanted):
                continue
            received.append(event)
            out.text(_event_line(event, cam))
    finally:
        # Printed on Ctrl-C too: what came before it is not lost.
        out.data([schema.event(event, cam) for event in received])
    if duration_s is None and limit_count is not None and len(received) < limit_count:
        raise CliError(
            f"{len(received)} of {limit_count} event(s) within {wait_s:g} s",
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
@click.option("--count", type=Count(minimum=1), default=None, help="Stop after N pictures.")
@json_option
@pass_session
def tether(session: Session, download_dir: Path, count: int | None, as_json: bool) -> None:
    """Download each new picture as it appears (shoot on the camera) until interrupted.

    With --json, one JSON document per picture, one per line."""
    out = session.out(as_json)
    cam = session.camera()
    # Pictures already waiting in the camera's memory are downloaded first: nothing is lost,
    # and a Sony hands out its pictures oldest first.
    waiting = drain(cam)
    out.note(
        f"tethered to {cam.device_info.model}: new pictures go to {download_dir} (Ctrl-C stops)"
    )
    done = 0
    try:
        with stop_on_sigterm():
            while count is None or done < count:
                event = waiting.pop(0) if waiting else cam.next_event(_POLL_S)
                if event is None or event.code != Ec.OBJECT_ADDED or not event.params:
                    continue
                try:
                    # From the event's details when an extension described the object (an EOS
                    # capture to PC: the object is in the camera's memory, on no card).
                    entry = cam.event_entry(event)
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


@session_command
@click.command()
@click.option(
    "--hold",
    is_flag=True,
    help="Keep the button half pressed (in the shell: until a capture or focus --release).",
)
@click.option("--release", is_flag=True, help="Let go of a held half press.")
@json_option
@pass_session
def focus(session: Session, *, hold: bool, release: bool, as_json: bool) -> None:
    """Half-press the shutter button: autofocus without a picture (Canon EOS, Nikon, Sony,
    Fujifilm)."""
    if hold and release:
        raise click.UsageError("--hold or --release, not both")
    out = session.out(as_json)
    cam = session.camera()
    plan = cam.release_half_press() if release else cam.half_press(hold=hold)
    action = "release" if release else "hold" if hold else "focus"
    out.data({"action": action, "half_press": plan.name, "operation": plan.press.code})
    done = {"focus": "focused", "hold": "half pressed (held)", "release": "let go"}[action]
    if release and plan.release is None:
        done = "nothing to let go (the camera ends it by itself)"
    out.text(f"{done}: {plan.name} (0x{plan.press.code:04X})")


COMMANDS = [capture, wait_event, tether, focus]
