"""``ptpkit virtual serve``: the virtual camera as a PTP/IP camera on the network."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from ptpkit.core.ptpip import DEFAULT_PORT

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``5G`` -> 5 GiB; a plain number is bytes."""
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = cleaned[-1:] if cleaned[-1:] in _UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)]
    try:
        size = round(float(number) * _UNITS[unit])
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 5G, 700M, 4096)") from None
    if size < 0:
        raise click.BadParameter("a size cannot be negative")
    return size


@click.group()
def virtual() -> None:
    """The built-in virtual camera."""


@virtual.command()
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Serve this folder as the card (default: a generated sample card in a temporary folder).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 to be reachable from other machines.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port for both PTP/IP connections (0: any free port).",
)
@click.option("--name", default=None, help="Friendly name the camera gives in InitCommandAck.")
@click.option("--read-only", is_flag=True, help="Refuse uploads, deletions and captures.")
@click.option(
    "--large-object",
    "large_objects",
    multiple=True,
    metavar="SIZE",
    help="Add a generated object of SIZE bytes (5G, 700M, 123456...) at the top of the card, "
    "named LARGE_<bytes>.MOV, for testing big transfers without storing them. Repeatable.",
)
@click.option(
    "--packet-per-write",
    is_flag=True,
    help="One PTP/IP packet per TCP write (for Wireshark, which decodes only the first "
    "packet of a segment).",
)
def serve(
    *,
    root: Path | None,
    host: str,
    port: int,
    name: str | None,
    read_only: bool,
    large_objects: tuple[str, ...],
    packet_per_write: bool,
) -> None:
    """Serve the virtual camera over PTP/IP until interrupted (Ctrl-C)."""
    from ptpkit.virtual import VirtualCamera  # noqa: PLC0415
    from ptpkit.virtual.server import PtpIpServer  # noqa: PLC0415

    sizes = [parse_size(text) for text in large_objects]
    with VirtualCamera(root, friendly_name=name, read_only=read_only) as camera:
        for index, size in enumerate(sizes):
            camera.add_generated_object(size, seed=index)
        server = PtpIpServer(
            camera, host, port, name=name, packet_per_write=packet_per_write
        ).start()
        click.echo(f"virtual camera {camera.personality.model!r} serving {camera.root}")
        click.echo(f"listening on {server.url}")
        click.echo(f"  ptpkit --camera {server.url} info")
        click.echo(f"  gphoto2 --port {server.url} --summary")
        click.echo("Ctrl-C to stop", err=True)
        # SIGTERM (a service manager, `timeout`) stops as cleanly as Ctrl-C: the temporary card
        # is removed on the way out.
        signal.signal(signal.SIGTERM, lambda *_: server.close())
        server.serve_forever()


COMMANDS = [virtual]
