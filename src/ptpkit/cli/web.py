"""``ptpkit web``: the browser UI (:mod:`ptpkit.web`) on this computer.

Cameras: each ``--camera URL`` of the command; without one, the camera the global options name
(``ptpkit --camera``, ``$PTPKIT_CAMERA``, the config file), else every camera discovery finds,
else the built-in virtual camera (said on stderr). More can be opened from the page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import webbrowser
from pathlib import Path
from typing import Any

import click

from ptpkit.cli.camera_select import (
    CAMERA_ENV,
    Selection,
    choose_camera,
    discover_cameras,
)
from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.session import Session, pass_session


def _desktop() -> bool:
    """Whether a browser tab can be opened here: a desktop session, not CI or a server."""
    if os.environ.get("CI"):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cameras_to_open(
    selection: Selection, urls: tuple[str, ...]
) -> list[tuple[str, dict[str, Any]]]:
    """(URL, connect options) of the cameras to open at start (see the module's docstring)."""
    if urls:
        choices = [choose_camera(dataclasses.replace(selection, camera=url)) for url in urls]
    elif selection.camera or os.environ.get(CAMERA_ENV) or selection.config.responder.camera_url():
        choices = [choose_camera(selection)]
    else:
        found = discover_cameras(selection.timeout_s or 2.0)
        if not found:
            click.echo("ptpkit web: no camera found; showing the built-in virtual camera", err=True)
            return [("virtual:", {})]
        choices = [choose_camera(dataclasses.replace(selection, camera=c.url)) for c in found]
    return [(c.url, dict(c.options)) for c in choices]


@click.command("web")
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    metavar="[HOST:]PORT",
    help="Where to serve. Any address but loopback requires the token printed at start.",
)
@click.option(
    "--camera",
    "urls",
    multiple=True,
    metavar="URL",
    help="A camera to open (repeat for several).",
)
@click.option(
    "--download-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where 'Save to download folder' puts files (the only local folder the page reaches).",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser tab.")
@pass_session
def web_command(
    session: Session, *, listen: str, urls: tuple[str, ...], download_dir: Path, no_browser: bool
) -> None:
    """A browser UI: live view, capture, gallery, properties, several cameras."""
    try:
        from ptpkit import web  # noqa: PLC0415  (aiohttp loads with this command only)
    except ImportError as exc:
        raise CliError(
            f"ptpkit web needs aiohttp ({exc})",
            ExitCode.UNSPECIFIED,
            hint="pip install 'ptpkit[web]'",
        ) from None
    try:
        host, port = web.parse_listen(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--listen") from None
    cameras = cameras_to_open(session.selection, urls)

    def discover(timeout_s: float) -> Any:
        return discover_cameras(timeout_s)

    async def serve() -> None:
        manager = web.CameraManager(download_dir=download_dir.resolve(), discover=discover)
        try:
            running = await web.start(manager, host=host, port=port, cameras=cameras)
        except OSError as exc:
            await manager.close()
            raise CliError(
                f"cannot listen on {listen}: {exc.strerror or exc}", ExitCode.UNSPECIFIED
            ) from None
        click.echo(f"ptpkit web: {running.url}")
        if running.token:
            click.echo("anyone with this URL can use the cameras; Ctrl-C stops", err=True)
        else:
            click.echo("Ctrl-C stops", err=True)
        if not no_browser and _desktop():
            webbrowser.open(running.url)
        try:
            await asyncio.Event().wait()
        finally:
            await running.runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        click.echo("ptpkit web: stopped", err=True)


COMMANDS = [web_command]
