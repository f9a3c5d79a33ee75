"""Live view from the command line: ``liveview`` (MJPEG to a file or a pipe, or numbered JPEG
files) and ``capture-preview`` (one frame, gphoto2's ``--capture-preview``)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

import click

from ptpkit._sync import Latch
from ptpkit.cli import liveview_http
from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.interrupts import handling
from ptpkit.cli.numbers import Count, Seconds
from ptpkit.cli.output import Output, format_size
from ptpkit.cli.server import is_loopback, parse_listen
from ptpkit.cli.session import Session, json_option, pass_session, session_command
from ptpkit.client.camera import Camera
from ptpkit.client.files import write_file, writing
from ptpkit.client.liveview import LiveFrame, LiveView
from ptpkit.errors import PTPError

#: How long one wait for a frame lasts before Ctrl-C and the end time are looked at again.
_STEP_S: Final = 0.1
#: Seconds between two updates of the status line.
_STATUS_EVERY_S: Final = 0.25
#: gphoto2's name for --capture-preview's file (gphoto2(1)).
PREVIEW_NAME: Final = "capture_preview.jpg"


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[Latch]:
    """Ctrl-C and SIGTERM end the stream after the frame in hand, so the file is complete and
    live view ends on the camera; a second one stops at once. (Outside the main thread, a
    command server's client, no handler is set: interrupts.handling.)"""
    stop = Latch()

    def request(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    with handling(request, signal.SIGINT, signal.SIGTERM):
        yield stop


class _Status:
    """The status line on stderr (only when it is a terminal): frames, fps, size, dropped."""

    def __init__(self, out: Output) -> None:
        stream = out.stderr
        self.out = out
        self.on = bool(getattr(stream, "isatty", lambda: False)())
        self._last_s = 0.0
        self._shown = False

    def update(self, view: LiveView, frames: int, frame: LiveFrame, *, force: bool = False) -> None:
        if not self.on:
            return
        now = time.monotonic()
        if not force and now - self._last_s < _STATUS_EVERY_S:
            return
        self._last_s = now
        line = (
            f"\r{frames} frames  {view.fps:5.1f} fps  {frame.width}x{frame.height}  "
            f"{format_size(len(frame.jpeg))}  dropped {view.dropped}   "
        )
        self.out.stderr.write(line)
        self.out.stderr.flush()
        self._shown = True

    def end(self) -> None:
        if self._shown:
            self.out.stderr.write("\n")
            self.out.stderr.flush()


def _file_error(path: Path, exc: OSError) -> CliError:
    if isinstance(exc, FileExistsError):
        return CliError(
            f"{path} already exists",
            ExitCode.FILE_ERROR,
            hint="choose another name, or --force-overwrite to replace it",
        )
    return CliError(f"cannot write {path}: {exc.strerror or exc}", ExitCode.FILE_ERROR)


class _Stream:
    """Runs the frame loop into a writer: frames until the count, the time or a stop."""

    def __init__(
        self,
        view: LiveView,
        *,
        frames: int | None,
        duration_s: float | None,
        stop: Latch,
        status: _Status,
    ) -> None:
        self.view = view
        self.frames = frames
        self.duration_s = duration_s
        self.stop = stop
        self.status = status
        self.written = 0
        self.bytes = 0
        self.last: LiveFrame | None = None
        self.started_s = time.monotonic()
        #: The camera's error that ended the stream (raised after the file is complete).
        self.error: PTPError | None = None

    def run(self, write: Callable[[LiveFrame], object]) -> None:
        end_s = None if self.duration_s is None else self.started_s + self.duration_s
        while not self.stop.is_set():
            if self.frames is not None and self.written >= self.frames:
                return
            now = time.monotonic()
            if end_s is not None and now >= end_s:
                return
            step_s = _STEP_S if end_s is None else max(0.0, min(_STEP_S, end_s - now))
            try:
                frame = self.view.poll_frame(step_s)
            except PTPError as exc:
                # What was written stays a complete file; the error is reported after it.
                self.error = exc
                return
            if frame is None:
                continue
            write(frame)
            self.written += 1
            self.bytes += len(frame.jpeg)
            self.last = frame
            self.status.update(self.view, self.written, frame)

    def doc(self, target: str) -> dict[str, object]:
        elapsed_s = time.monotonic() - self.started_s
        last = self.last
        return {
            "output": target,
            "frames": self.written,
            "bytes": self.bytes,
            "dropped": self.view.dropped,
            "fps": round(self.written / elapsed_s, 2) if elapsed_s > 0 else 0.0,
            "width": last.width if last else None,
            "height": last.height if last else None,
            "duration_s": round(elapsed_s, 3),
        }


@session_command
@click.command()
@click.option(
    "--frames",
    "frames",
    type=Count(minimum=1),
    default=None,
    help="Stop after this many frames.",
)
@click.option(
    "--duration",
    "duration_s",
    type=Seconds(),
    default=None,
    help="Stop after this long (10, 10s, 1.5m...).",
)
@click.option(
    "-o",
    "--output",
    "output",
    default=None,
    metavar="FILE|-",
    help="Write MJPEG (the JPEGs one after another, as gphoto2 --capture-movie gives; ffmpeg "
    "reads it with -f mjpeg) to FILE, or to standard output with -.",
)
@click.option(
    "--frames-dir",
    "frames_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Save each frame as a numbered JPEG file (frame-000001.jpg ...) in this folder.",
)
@click.option(
    "--http",
    "http",
    default=None,
    metavar="[HOST:]PORT",
    help="Serve the stream to web browsers instead: a page with the camera's state over the "
    "picture, and multipart MJPEG at /stream.mjpg, on 127.0.0.1 unless HOST says otherwise "
    "(anyone who can reach it sees the picture). Many viewers share one stream.",
)
@click.option(
    "--max-viewers",
    type=Count(minimum=1),
    default=liveview_http.MAX_VIEWERS,
    show_default=True,
    metavar="N",
    help="With --http: streams served at once (more are refused).",
)
@click.option("--force-overwrite", is_flag=True, help="Replace files that already exist.")
@click.argument("action", required=False, type=click.Choice(["stop", "status"]))
@json_option
@pass_session
def liveview(
    session: Session,
    *,
    action: str | None,
    http: str | None,
    max_viewers: int,
    frames: int | None,
    duration_s: float | None,
    output: str | None,
    frames_dir: Path | None,
    force_overwrite: bool,
    as_json: bool,
) -> None:
    """Stream the camera's live view as MJPEG to a file or standard output (-o), or as numbered
    JPEG files (--frames-dir), until --frames, --duration or Ctrl-C.

    A status line (frames per second, frame size, frames dropped) goes to standard error when
    it is a terminal. Ctrl-C (or SIGTERM) ends the stream normally: the file is complete and
    live view is switched off on the camera. The file is written as a partial file and gets its
    name at the end; an existing file is never replaced unless --force-overwrite.

    With --http [HOST:]PORT the stream is served to web browsers until Ctrl-C (or --frames,
    --duration): open http://127.0.0.1:PORT/ for the picture with the camera's exposure
    settings, battery and shots left over it.

    In the shell and over serve-commands, liveview runs in the background: other commands
    (get, set, capture) go on meanwhile; `liveview status` tells how it goes and `liveview stop`
    ends it."""
    out = session.out(as_json)
    if action is not None:
        _job_action(session, action, out)
        return
    if session.background and "liveview" in session.jobs:
        raise CliError(
            "live view is running already",
            ExitCode.INVALID_ARGUMENTS,
            hint="`liveview stop` ends it",
        )
    if frames is not None and duration_s is not None:
        raise click.UsageError("give --frames or --duration, not both")
    given = sum(x is not None for x in (output, frames_dir, http))
    if given != 1:
        raise click.UsageError(
            "give one of -o FILE (or -o - for standard output), --frames-dir DIR, --http PORT"
        )
    to_stdout = output == "-"
    if to_stdout and as_json:
        raise click.UsageError("-o - writes the frames to standard output: --json cannot go there")
    if to_stdout and session.background:
        raise click.UsageError("-o - cannot run in the background: give -o FILE or --frames-dir")
    target = Path(output) if output is not None and not to_stdout else None
    if target is not None and not force_overwrite and (target.exists() or target.is_symlink()):
        raise _file_error(target, FileExistsError(str(target)))
    listen = None if http is None else _parse_http(http)
    cam = session.camera()
    if session.background:
        job = _Job.start(
            cam,
            frames=frames,
            duration_s=duration_s,
            target=target,
            frames_dir=frames_dir,
            listen=listen,
            max_viewers=max_viewers,
            overwrite=force_overwrite,
        )
        session.jobs["liveview"] = job
        doc = job.doc()
        out.data(doc)
        out.text(f"live view running in the background: {doc['output']} (`liveview stop` ends it)")
        return
    if listen is not None:
        _serve_http(cam, listen, frames=frames, duration_s=duration_s,
                    max_viewers=max_viewers, out=out)  # fmt: skip
        return
    status = _Status(out)
    with _stop_on_signals() as stop, cam.live_view() as view:
        stream = _Stream(view, frames=frames, duration_s=duration_s, stop=stop, status=status)
        try:
            if to_stdout:
                _to_pipe(stream, sys.stdout.buffer)
                where = "-"
            elif target is not None:
                _to_file(stream, target, overwrite=force_overwrite)
                where = str(target)
            else:
                assert frames_dir is not None
                _to_folder(stream, frames_dir, overwrite=force_overwrite)
                where = str(frames_dir)
        finally:
            if stream.last is not None:
                status.update(view, stream.written, stream.last, force=True)
            status.end()
    doc = stream.doc(where)
    out.data(doc)
    summary = (
        f"{stream.written} frames ({format_size(stream.bytes)}) to {where}, "
        f"{doc['fps']} fps, {stream.view.dropped} dropped"
    )
    if to_stdout:
        out.note(summary)
    else:
        out.text(summary)
    if stream.error is not None:
        if stream.written:
            out.note(f"live view failed after {stream.written} frames; they are saved")
        raise stream.error


def _parse_http(text: str) -> tuple[str, int]:
    try:
        return parse_listen(text)
    except click.BadParameter as exc:
        raise click.BadParameter(exc.message, param_hint="--http") from None


def _start_http(cam: Camera, listen: tuple[str, int], *, max_viewers: int) -> liveview_http.Running:
    host, port = listen
    try:
        running = liveview_http.start(cam, host, port, max_viewers=max_viewers)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            ExitCode.FILE_ERROR if isinstance(exc, PermissionError) else ExitCode.UNSPECIFIED,
            hint="choose another port with --http HOST:PORT",
        ) from None
    if not is_loopback(running.address[0]):
        click.echo(
            f"warning: serving on {running.address[0]}, not loopback: anyone who can reach it "
            "sees the camera's picture",
            err=True,
        )
    return running


def _http_doc(running: liveview_http.Running) -> dict[str, object]:
    hub = running.hub
    newest = hub.newest
    return {
        "output": running.url,
        "frames": hub.count,
        "dropped": hub.dropped,
        "fps": round(hub.fps, 2),
        "width": newest.width if newest else None,
        "height": newest.height if newest else None,
        "viewers": running.server.streams,
    }


def _serve_http(
    cam: Camera,
    listen: tuple[str, int],
    *,
    frames: int | None,
    duration_s: float | None,
    max_viewers: int,
    out: Output,
) -> None:
    """``liveview --http`` in the foreground: until Ctrl-C, --frames or --duration."""
    with _stop_on_signals() as stop:
        running = _start_http(cam, listen, max_viewers=max_viewers)
        try:
            # The address on standard output (a script reads the port it got for PORT 0); with
            # --json on standard error, so that standard output is the one JSON document.
            click.echo(f"serving live view at {running.url}", err=out.json_mode)
            out.note("open it in a web browser; Ctrl-C stops")
            end_s = None if duration_s is None else time.monotonic() + duration_s
            while not stop.is_set() and not running.ended.is_set():
                if frames is not None and running.hub.count >= frames:
                    break
                if end_s is not None and time.monotonic() >= end_s:
                    break
                stop.wait(_STEP_S)
        finally:
            running.stop()
    doc = _http_doc(running)
    out.data(doc)
    out.text(f"{doc['frames']} frames served, {doc['dropped']} dropped")
    if running.hub.error is not None and isinstance(running.hub.error, PTPError):
        raise running.hub.error


class _Job:
    """``liveview`` in the background of the shell or the command server."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.stop_latch = Latch()
        self.thread: threading.Thread | None = None
        self.http: liveview_http.Running | None = None
        self.stream: _Stream | None = None
        self.error: BaseException | None = None
        self.ended = Latch()

    @classmethod
    def start(
        cls,
        cam: Camera,
        *,
        frames: int | None,
        duration_s: float | None,
        target: Path | None,
        frames_dir: Path | None,
        listen: tuple[str, int] | None,
        max_viewers: int,
        overwrite: bool,
    ) -> _Job:
        if listen is not None:
            running = _start_http(cam, listen, max_viewers=max_viewers)
            job = cls(running.url)
            job.http = running
            watch = threading.Thread(
                target=job._watch_http,
                args=(frames, duration_s),
                name="liveview job",
                daemon=True,
            )
        else:
            job = cls(str(target if target is not None else frames_dir))
            watch = threading.Thread(
                target=job._write,
                args=(cam,),
                kwargs={
                    "frames": frames,
                    "duration_s": duration_s,
                    "target": target,
                    "frames_dir": frames_dir,
                    "overwrite": overwrite,
                },
                name="liveview job",
                daemon=True,
            )
        job.thread = watch
        watch.start()
        return job

    def _watch_http(self, frames: int | None, duration_s: float | None) -> None:
        running = self.http
        assert running is not None
        end_s = None if duration_s is None else time.monotonic() + duration_s
        try:
            while not self.stop_latch.is_set() and not running.ended.is_set():
                if frames is not None and running.hub.count >= frames:
                    break
                if end_s is not None and time.monotonic() >= end_s:
                    break
                self.stop_latch.wait(_STEP_S)
        finally:
            running.stop()
            self.error = running.hub.error
            self.ended.set()

    def _write(
        self,
        cam: Camera,
        *,
        frames: int | None,
        duration_s: float | None,
        target: Path | None,
        frames_dir: Path | None,
        overwrite: bool,
    ) -> None:
        try:
            with cam.live_view() as view:
                status = _Status(Output(io.StringIO(), io.StringIO()))  # no status line
                stream = _Stream(
                    view, frames=frames, duration_s=duration_s, stop=self.stop_latch, status=status
                )
                self.stream = stream
                if target is not None:
                    _to_file(stream, target, overwrite=overwrite)
                else:
                    assert frames_dir is not None
                    _to_folder(stream, frames_dir, overwrite=overwrite)
                self.error = stream.error
        except (PTPError, CliError, OSError) as exc:
            self.error = exc
        finally:
            self.ended.set()

    def stop(self) -> None:
        self.stop_latch.set()
        if self.thread is not None:
            self.thread.join(30.0)

    def doc(self) -> dict[str, object]:
        if self.http is not None:
            doc = _http_doc(self.http)
        elif self.stream is not None:
            doc = self.stream.doc(self.where)
        else:
            doc = {"output": self.where, "frames": 0}
        return {
            **doc,
            "running": not self.ended.is_set(),
            "error": None if self.error is None else str(self.error),
        }


def _job_action(session: Session, action: str, out: Output) -> None:
    """``liveview stop`` and ``liveview status`` (the shell and the command server)."""
    job = session.jobs.get("liveview")
    if not isinstance(job, _Job):
        raise CliError(
            "no live view is running",
            ExitCode.INVALID_ARGUMENTS,
            hint="`liveview` runs in the background in the shell and over serve-commands"
            if session.background
            else "`liveview stop` is for the shell and serve-commands; Ctrl-C stops it here",
        )
    if action == "stop":
        job.stop()
        del session.jobs["liveview"]
    doc = job.doc()
    out.data(doc)
    state = "running" if doc["running"] else "stopped"
    out.text(
        f"live view {state}: {doc['frames']} frames to {doc['output']}"
        + (f", {doc['dropped']} dropped" if "dropped" in doc else "")
        + (f"; failed: {doc['error']}" if doc["error"] else "")
    )


def _to_file(stream: _Stream, target: Path, *, overwrite: bool) -> None:
    # The download machinery: a partial file of ours, published under the name at the end (also
    # after Ctrl-C, which ends the loop normally).
    try:
        with writing(target, overwrite=overwrite, fsync=True) as file:
            stream.run(lambda frame: file.write(frame.jpeg))
    except OSError as exc:
        raise _file_error(target, exc) from exc


def _to_pipe(stream: _Stream, pipe: BinaryIO) -> None:
    def write(frame: LiveFrame) -> None:
        pipe.write(frame.jpeg)
        pipe.flush()

    try:
        stream.run(write)
    except BrokenPipeError:
        # The reader went away (a player closed): the end of the stream, not an error. Standard
        # output now points at nothing, or Python would fail once more flushing it at exit
        # (the Python documentation's advice on SIGPIPE).
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())


def _to_folder(stream: _Stream, folder: Path, *, overwrite: bool) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _file_error(folder, exc) from exc

    def write(frame: LiveFrame) -> None:
        path = folder / f"frame-{stream.written + 1:06d}.jpg"
        try:
            # Each file complete or absent (a partial file published); not synced one by one:
            # at 60 frames a second that would be the disk's pace, not the camera's.
            write_file(path, frame.jpeg, overwrite=overwrite, fsync=False)
        except OSError as exc:
            raise _file_error(path, exc) from exc

    stream.run(write)


@session_command
@click.command("capture-preview")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=PREVIEW_NAME,
    show_default=True,
    help="Where to save the frame.",
)
@click.option("--force-overwrite", is_flag=True, help="Replace the file if it exists.")
@click.option(
    "--timeout",
    "timeout_s",
    type=Seconds(),
    default=None,
    help="Longest wait for the frame (default: 10 s).",
)
@json_option
@pass_session
def capture_preview(
    session: Session,
    *,
    output: Path,
    force_overwrite: bool,
    timeout_s: float | None,
    as_json: bool,
) -> None:
    """Save one live-view frame as a JPEG file (gphoto2's --capture-preview): live view is
    switched on, the first frame taken, and live view switched off. An existing file is never
    replaced unless --force-overwrite."""
    if not force_overwrite and (output.exists() or output.is_symlink()):
        raise _file_error(output, FileExistsError(str(output)))
    out = session.out(as_json)
    frame = session.camera().capture_preview(timeout_s=timeout_s)
    try:
        write_file(output, frame.jpeg, overwrite=force_overwrite)
    except OSError as exc:
        raise _file_error(output, exc) from exc
    out.data(
        {
            "path": str(output),
            "bytes": len(frame.jpeg),
            "width": frame.width,
            "height": frame.height,
        }
    )
    out.text(f"{output}: {frame.width}x{frame.height}, {format_size(len(frame.jpeg))}")


COMMANDS = [liveview, capture_preview]
