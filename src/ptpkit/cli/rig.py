"""``ptpkit rig ...``: many cameras as one (issue 18).

The rig is ``--rig FILE.toml``, else the ``--camera URL`` given (repeat it), else every camera
discovery finds. Each command opens every camera in parallel, says how each one is, does its work
on the cameras that opened, and says which cameras delivered; one camera's failure never stops
the others. The exit code is 0 when every camera delivered, 106 (camera error) when one did not.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.numbers import Count, Seconds
from ptpkit.cli.output import Output
from ptpkit.cli.session import Session, json_option
from ptpkit.rig.local import DEFAULT_RELEASE_PRIORITY

if TYPE_CHECKING:
    from ptpkit.rig import (
        CameraOutcome,
        CameraStatus,
        DownloadOutcome,
        ReleaseOutcome,
        Rig,
        RigSpec,
        SetOutcome,
        Shot,
        ShotFile,
    )


class _RigOptions:
    """The rig group's options, for its commands (the group context's object)."""

    def __init__(
        self,
        rig_file: Path | None,
        cameras: tuple[str, ...],
        ray: str | None = None,
        files: str = "host",
    ) -> None:
        self.rig_file = rig_file
        self.cameras = cameras
        #: The Ray cluster's address (ptpkit.rig.ray_backend), and where its files go.
        self.ray = ray
        self.files = files


def _spec(options: _RigOptions, out: Output) -> RigSpec:
    from ptpkit.rig.spec import load_rig_file, rig_from_discovery, rig_from_urls  # noqa: PLC0415

    if options.rig_file is not None and options.cameras:
        raise click.UsageError("--rig and --camera name two rigs; give one")
    if options.rig_file is not None:
        return load_rig_file(options.rig_file)
    if options.cameras:
        return rig_from_urls(options.cameras)
    from ptpkit.discovery import discover  # noqa: PLC0415

    out.note("no --rig or --camera: looking for cameras ...")
    found = discover()
    if not found:
        raise CliError(
            "no camera found for the rig",
            ExitCode.CANNOT_CONNECT,
            hint="give --rig FILE.toml or --camera URL (repeat it)",
        )
    # USB cameras by serial number (usb:serial=...), the same names in every command.
    return rig_from_discovery(found)


@contextmanager
def _open_rig(
    ctx: click.Context, out: Output, *, release_priority: int | None = DEFAULT_RELEASE_PRIORITY
) -> Iterator[Rig]:
    from ptpkit.rig.rig import Rig  # noqa: PLC0415

    options = ctx.find_object(_RigOptions)
    assert options is not None
    spec = _spec(options, out)
    if options.ray is None:
        rig = Rig(spec, release_priority=release_priority)
    else:
        from ptpkit.rig.ray_backend import RayBackend  # noqa: PLC0415

        backend = RayBackend(options.ray, files=options.files, release_priority=release_priority)
        rig = Rig(spec, backend=backend)
    try:
        statuses = rig.open()
        for status in statuses:
            if not status.ok:
                out.note(f"{status.camera}: {status.state.value}: {status.error}")
            elif status.detail:
                out.note(f"{status.camera}: {status.detail}")
        yield rig
    finally:
        rig.close()


# -- JSON documents -----------------------------------------------------------------------------


def _outcome_doc(outcome: CameraOutcome) -> dict[str, Any]:
    return {
        "camera": outcome.camera,
        "index": outcome.index,
        "ok": outcome.ok,
        "error": outcome.error,
        "detail": outcome.detail,
        "host": outcome.host,
    }


def _status_doc(status: CameraStatus) -> dict[str, Any]:
    return {
        **_outcome_doc(status),
        "state": status.state.value,
        "url": status.url,
        "manufacturer": status.manufacturer,
        "model": status.model,
        "serial": status.serial,
    }


def _file_doc(item: ShotFile) -> dict[str, Any]:
    return {
        "handle": item.handle,
        "name": item.name,
        "path": item.path,
        "size": item.size,
        "in_memory": item.in_memory,
    }


def _release_doc(release: ReleaseOutcome) -> dict[str, Any]:
    return {
        **_outcome_doc(release),
        "released_ns": release.released_ns,
        "late_ms": None if release.late_ns is None else release.late_ns / 1e6,
        "completed_ns": release.completed_ns,
        "clock_offset_ns": release.clock_offset_ns,
        "release_priority": release.release_priority,
        "files": [_file_doc(item) for item in release.files],
    }


def _shot_doc(shot: Shot) -> dict[str, Any]:
    return {
        "shot": shot.shot,
        "deadline_ns": shot.deadline_ns,
        "delivered": shot.delivered,
        "failed": [r.camera for r in shot.failed],
        "skew": None if shot.skew is None else shot.skew.as_ms(),
        "cameras": [_release_doc(r) for r in shot.releases],
    }


def _download_doc(outcome: DownloadOutcome) -> dict[str, Any]:
    return {
        **_outcome_doc(outcome),
        "shot": outcome.shot,
        "source": outcome.source,
        "path": outcome.path,
        "size": outcome.size,
        "skipped": outcome.skipped,
    }


def _priority_line(shot: Shot, asked: int | None) -> str | None:
    """Which priority the shot's requests went at ("released at real-time priority 10"), per
    host when they differ; None when no request went. ``asked``: the priority asked for."""
    by_priority: dict[int | None, list[str]] = {}
    for release in shot.releases:
        if release.released_ns is not None:
            hosts = by_priority.setdefault(release.release_priority, [])
            if release.host is not None and release.host not in hosts:
                hosts.append(release.host)
    if not by_priority:
        return None
    if asked is None:
        normal = "normal priority (real-time off)"
    else:
        normal = (
            f"normal priority (real-time priority {asked} not granted: needs Linux and root, "
            "CAP_SYS_NICE or an RLIMIT_RTPRIO)"
        )
    parts = []
    for priority, hosts in sorted(by_priority.items(), key=lambda item: item[0] or 0):
        what = normal if priority is None else f"real-time priority {priority}"
        where = f" on {', '.join(hosts)}" if len(by_priority) > 1 and hosts else ""
        parts.append(f"{what}{where}")
    return "released at " + "; ".join(parts)


def _failed(names: Sequence[str], what: str) -> None:
    if names:
        shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
        raise CliError(f"{len(names)} camera(s) {what}: {shown}", ExitCode.CAMERA_ERROR)


# -- the commands -------------------------------------------------------------------------------


@click.group("rig")
@click.option(
    "--rig",
    "rig_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The rig file (TOML: [[camera]] tables with name, url or serial, index, settings).",
)
@click.option(
    "--camera",
    "cameras",
    multiple=True,
    metavar="URL",
    help="A camera of the rig (repeat it); usb:serial=S finds a USB camera by serial number.",
)
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Drive the cameras on the nodes of a Ray cluster: auto, ray://HOST:PORT or HOST:PORT "
    "(each camera's host = the node offering the resource ptpkit-host-HOST; needs ptpkit[ray]).",
)
@click.option(
    "--files",
    type=click.Choice(["host", "controller", "shared"]),
    default="host",
    show_default=True,
    help="With --ray: downloads stay on each camera host, are gathered here, or go to a "
    "folder every host shares.",
)
@click.pass_context
def rig(
    ctx: click.Context,
    rig_file: Path | None,
    cameras: tuple[str, ...],
    ray_address: str | None,
    files: str,
) -> None:
    """Many cameras as one: status, settings, synchronised capture, downloads, contact sheet.

    \b
    The rig: --rig FILE.toml, else --camera URL (repeated), else the cameras found.
    Exit code 106 when a camera did not deliver (the others' results are still given).
    """
    ctx.obj = _RigOptions(rig_file, cameras, ray_address, files)


def _session_out(ctx: click.Context, as_json: bool) -> Output:
    session = ctx.find_root().find_object(Session)
    if session is None:
        return Output(json_mode=as_json)
    return session.out(as_json)


@rig.command("status")
@json_option
@click.pass_context
def status_command(ctx: click.Context, *, as_json: bool) -> None:
    """Open every camera and say how each one is (connected, busy, failed and why)."""
    out = _session_out(ctx, as_json)
    with _open_rig(ctx, out) as opened:
        statuses = opened.status()
    out.data({"cameras": [_status_doc(s) for s in statuses]})
    for s in statuses:
        what = f"{s.manufacturer or ''} {s.model or ''}".strip() or "-"
        serial = f" serial {s.serial}" if s.serial else ""
        why = f": {s.error}" if s.error else ""
        out.text(f"{s.index:>3}  {s.camera:<12} {s.state.value:<9} {what}{serial}{why}")
    _failed([s.camera for s in statuses if not s.ok], "not connected")


@rig.command("set")
@click.argument("prop")
@click.argument("value")
@json_option
@click.pass_context
def set_command(ctx: click.Context, prop: str, value: str, *, as_json: bool) -> None:
    """Set a property on every camera and read it back; the cameras that differ are named."""
    out = _session_out(ctx, as_json)
    with _open_rig(ctx, out) as opened:
        outcomes: list[SetOutcome] = opened.set(prop, value)
        statuses = opened.status()
    failed_open = [s.camera for s in statuses if not s.ok]
    differ = [o.camera for o in outcomes if not o.ok]
    out.data(
        {
            "property": prop,
            "value": value,
            "cameras": [
                {**_outcome_doc(o), "value": o.value, "verified": o.verified} for o in outcomes
            ],
            "differ": differ,
            "not_connected": failed_open,
        }
    )
    for o in outcomes:
        state = "ok" if o.ok else f"DIFFERS: {o.error}"
        out.text(f"{o.index:>3}  {o.camera:<12} {prop} = {o.value}  {state}")
    _failed(differ + failed_open, f"do not hold {prop} = {value}")


@rig.command("capture")
@click.option("--count", type=Count(minimum=1), default=1, show_default=True, help="Shots.")
@click.option(
    "--interval",
    "interval_s",
    type=Seconds(),
    default=0.0,
    help="Seconds from one shot's release to the next (default: as soon as ready).",
)
@click.option("--no-prepare", is_flag=True, help="Skip the half press before the first shot.")
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download the shots into this folder.",
)
@click.option(
    "--layout",
    default=None,
    metavar="meshroom|shots|PATTERN",
    help="How the downloads are arranged (default: the rig file's, else shots): meshroom "
    "rig/<index>/<shot>.JPG, shots shot_0001/<camera>.JPG, or a pattern with {shot} {camera} "
    "{index} {serial} {name} {stem} {ext}.",
)
@click.option(
    "--release-priority",
    type=Count(minimum=1, maximum=99),
    default=None,
    metavar="1-99",
    help="The real-time priority (Linux SCHED_FIFO) the release waits for its deadline and "
    "sends the capture requests at, where the system allows it (root, CAP_SYS_NICE or an "
    f"RLIMIT_RTPRIO; else the normal priority). Default {DEFAULT_RELEASE_PRIORITY}.",
)
@click.option(
    "--no-realtime",
    is_flag=True,
    help="Release at the normal priority (no real-time priority asked for).",
)
@json_option
@click.pass_context
def capture_command(
    ctx: click.Context,
    *,
    count: int,
    interval_s: float,
    no_prepare: bool,
    download_dir: Path | None,
    layout: str | None,
    release_priority: int | None,
    no_realtime: bool,
    as_json: bool,
) -> None:
    """Release every camera at one common deadline (after a half press where the camera has
    one) and report each camera's release time and the skew; optionally download the shots.

    The release runs at a real-time priority where the system allows it (a loaded computer
    otherwise preempts the thread sending the requests, spreading them by milliseconds);
    each shot says which priority it was released at."""
    from ptpkit.rig.layouts import layout_for  # noqa: PLC0415

    out = _session_out(ctx, as_json)
    if no_realtime and release_priority is not None:
        raise click.UsageError("--release-priority and --no-realtime contradict; give one")
    asked = None if no_realtime else (release_priority or DEFAULT_RELEASE_PRIORITY)
    if layout is not None:
        layout_for(layout)  # a bad pattern is refused before any camera is touched
    with _open_rig(ctx, out, release_priority=asked) as opened:
        if layout is None:
            layout = opened.spec.layout or "shots"
        layout_for(layout)
        said: list[str | None] = [None]

        def shown(shot: Shot) -> None:
            skew = shot.skew
            figures = (
                f"skew median {skew.median_ns / 1e6:.2f} ms, p95 {skew.p95_ns / 1e6:.2f} ms, "
                f"max {skew.max_ns / 1e6:.2f} ms"
                if skew is not None
                else "no camera released"
            )
            out.text(
                f"shot {shot.shot}: {len(shot.delivered)}/{len(shot.releases)} cameras, {figures}"
            )
            line = _priority_line(shot, asked)
            if line is not None and line != said[-1]:  # said once, again when it changes
                out.text(f"  {line}")
                said.append(line)
            for failure in shot.failed:
                out.text(f"  {failure.camera}: {failure.error}")

        shots = opened.capture(count, interval_s=interval_s, prepare=not no_prepare, on_shot=shown)
        downloads: list[DownloadOutcome] = []
        if download_dir is not None:
            downloads = _download(opened, shots, download_dir, layout, out)
        statuses = opened.status()
    out.data(
        {
            "shots": [_shot_doc(s) for s in shots],
            "downloads": [_download_doc(d) for d in downloads],
            "not_connected": [s.camera for s in statuses if s.state.value == "failed"],
        }
    )
    missing = sorted(
        {r.camera for s in shots for r in s.failed} | {d.camera for d in downloads if not d.ok}
    )
    never = [s.camera for s in statuses if not s.ok and s.camera not in missing]
    _failed(missing + never, "did not deliver")


def _download(
    opened: Rig, shots: Sequence[Shot] | Sequence[ShotFile], folder: Path, layout: str, out: Output
) -> list[DownloadOutcome]:
    files = [f for s in shots for f in (s.files if hasattr(s, "files") else [s])]
    total = sum(f.size for f in files)
    with _rig_progress(out, files=len(files), total_bytes=total) as progress:
        outcomes = opened.download(shots, folder, layout=layout, progress=progress)
    done = [o for o in outcomes if o.ok]
    out.text(
        f"downloaded {len(done)}/{len(outcomes)} files into {folder}"
        + (
            f" ({sum(o.skipped for o in done)} already there)"
            if any(o.skipped for o in done)
            else ""
        )
    )
    for failure in (o for o in outcomes if not o.ok):
        out.text(f"  {failure.camera} {failure.source}: {failure.error}")
    return outcomes


@contextmanager
def _rig_progress(out: Output, *, files: int, total_bytes: int) -> Iterator[Any]:
    """The rig-level progress view: one bar for the whole rig's bytes and one per camera, on
    stderr when it is a terminal (rich, as every transfer of ptpkit shows it)."""
    if not out.shows_progress or out.json_mode:
        yield None
        return
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        console=out.progress_console,
        transient=True,
    )
    overall = progress.add_task(f"rig ({files} files)", total=total_bytes)
    lock = threading.Lock()
    per_camera: dict[str, Any] = {}
    # Bytes of each file so far: the overall bar is their sum.
    seen: dict[tuple[str, str], int] = {}

    def update(camera: str, source: str, done: int, total: int) -> None:
        with lock:
            task = per_camera.get(camera)
            if task is None:
                task = per_camera[camera] = progress.add_task(camera, total=None)
            before = seen.get((camera, source), 0)
            seen[(camera, source)] = done
            progress.update(task, advance=done - before)
            progress.update(overall, advance=done - before)

    with progress:
        yield update


@rig.command("download")
@click.argument("manifest", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder to download into.",
)
@click.option("--layout", default=None, metavar="meshroom|shots|PATTERN", help="As capture's.")
@json_option
@click.pass_context
def download_command(
    ctx: click.Context, manifest: Path, *, folder: Path, layout: str | None, as_json: bool
) -> None:
    """Download the shots a ``rig capture --json`` run reported (MANIFEST: its output), e.g.
    after capturing without --download, or to finish an interrupted download (each file resumes
    from its .ptpkit-part; files already there are skipped)."""
    from ptpkit.rig.backend import ShotFile  # noqa: PLC0415
    from ptpkit.rig.layouts import layout_for  # noqa: PLC0415

    out = _session_out(ctx, as_json)
    files = _manifest_files(manifest, ShotFile)
    with _open_rig(ctx, out) as opened:
        chosen = layout or opened.spec.layout or "shots"
        layout_for(chosen)
        known = {c.name for c in opened.spec.cameras}
        unknown = sorted({f.camera for f in files} - known)
        if unknown:
            raise click.UsageError(
                f"{manifest} names cameras the rig has not: {', '.join(unknown)}"
            )
        outcomes = _download(opened, files, folder, chosen, out)
    out.data({"downloads": [_download_doc(d) for d in outcomes]})
    _failed(sorted({d.camera for d in outcomes if not d.ok}), "did not deliver every file")


def _manifest_files(path: Path, shot_file: type[ShotFile]) -> list[ShotFile]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        files = [
            shot_file(
                camera=str(camera["camera"]),
                index=int(camera["index"]),
                shot=int(shot["shot"]),
                # Handles change between sessions: the file is found again by its path.
                handle=0,
                name=str(item["name"]),
                path=str(item["path"]),
                size=int(item["size"]),
                in_memory=bool(item.get("in_memory", False)),
            )
            for shot in document["shots"]
            for camera in shot["cameras"]
            for item in camera["files"]
        ]
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", ExitCode.FILE_ERROR) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise click.UsageError(
            f"{path} is not the output of 'ptpkit rig capture --json' ({type(exc).__name__}: {exc})"
        ) from None
    return files


@rig.command("contact-sheet")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--tile-width", type=Count(minimum=64), default=480, show_default=True, help="Pixels."
)
@click.option("--force-overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@json_option
@click.pass_context
def contact_sheet_command(
    ctx: click.Context, output: Path, *, tile_width: int, force_overwrite: bool, as_json: bool
) -> None:
    """Save one JPEG with every camera's live-view frame in a grid (a camera without one gets a
    tile saying why)."""
    from ptpkit.client.files import write_file  # noqa: PLC0415

    out = _session_out(ctx, as_json)
    if not force_overwrite and (output.exists() or output.is_symlink()):
        raise CliError(
            f"{output} already exists",
            ExitCode.FILE_ERROR,
            hint="choose another name, or --force-overwrite to replace it",
        )
    with _open_rig(ctx, out) as opened:
        jpeg, frames = opened.contact_sheet(tile_width=tile_width)
    try:
        write_file(output, jpeg, overwrite=force_overwrite)
    except OSError as exc:
        raise CliError(
            f"cannot write {output}: {exc.strerror or exc}", ExitCode.FILE_ERROR
        ) from None
    out.data(
        {
            "path": str(output),
            "bytes": len(jpeg),
            "cameras": [{**_outcome_doc(f), "width": f.width, "height": f.height} for f in frames],
        }
    )
    delivered = sum(f.ok for f in frames)
    out.text(f"{output}: {delivered}/{len(frames)} cameras' live view")
    for f in frames:
        if not f.ok:
            out.text(f"  {f.camera}: {f.error}")
    names = {f.camera for f in frames if f.ok}
    _failed([c.name for c in opened.spec.cameras if c.name not in names], "gave no frame")


COMMANDS = [rig]
