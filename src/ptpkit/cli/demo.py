"""``ptpkit demo``: the tour ``make demo`` runs against the built-in virtual camera.

It starts a virtual camera with a generated sample card, then does what a user of a real camera
would: reads what the camera is, its storages and file tree, downloads a picture with progress,
takes a picture and downloads it, changes a property and shows the event the camera sends.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

import ptpkit
from ptpkit.cli.output import format_size
from ptpkit.cli.progress import transfer_progress
from ptpkit.client.camera import Camera
from ptpkit.client.files import Entry, unique_path
from ptpkit.codes.common import Ec
from ptpkit.virtual import VirtualCamera


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the downloads (default: a temporary folder, removed afterwards).",
)
def demo(output: Path | None) -> None:
    """A tour of ptpkit against the built-in virtual camera."""
    console = Console()
    with tempfile.TemporaryDirectory(prefix="ptpkit-demo-") as scratch:
        target = output or Path(scratch)
        target.mkdir(parents=True, exist_ok=True)
        with VirtualCamera() as virtual, ptpkit.connect("virtual:", camera=virtual) as cam:
            console.rule("[bold]ptpkit demo: the virtual camera")
            console.print(f"Card folder: {virtual.root}\n")
            _device(console, cam)
            _storages(console, cam)
            entries = _tree(console, cam)
            _download(console, cam, virtual, entries, target)
            _capture(console, cam, target)
            _property(console, cam)
            console.rule("[bold]done")
            console.print(
                "Next: [bold]ptpkit --help[/bold]; in Python: "
                "[bold]with ptpkit.connect('virtual:') as cam: ...[/bold]"
            )


def _device(console: Console, cam: Camera) -> None:
    info = cam.device_info
    table = Table(title="Device info", show_header=False, title_justify="left")
    table.add_row("Manufacturer", info.manufacturer)
    table.add_row("Model", info.model)
    table.add_row("Version", info.device_version)
    table.add_row("Serial number", info.serial_number)
    table.add_row("PTP version", f"{info.standard_version / 100:.2f}")
    table.add_row(
        "Vendor extension", f"0x{info.vendor_extension_id:08X} {info.vendor_extension_desc}"
    )
    table.add_row("Extensions in use", ", ".join(e.name for e in cam.extensions) or "none")
    operations = cam.operations_supported()
    table.add_row(
        "Operations", f"{len(operations)}: " + ", ".join(o.name for o in operations[:8]) + " ..."
    )
    table.add_row("Properties", ", ".join(p.name for p in cam.properties_supported()))
    console.print(table)


def _storages(console: Console, cam: Camera) -> None:
    table = Table(title="Storages", title_justify="left")
    for column in ("id", "description", "label", "capacity", "free", "access"):
        table.add_column(column)
    for storage in cam.storages():
        info = storage.info
        table.add_row(
            storage.folder,
            info.description,
            info.volume_label,
            format_size(info.max_capacity),
            format_size(info.free_space_bytes),
            "read-only" if info.read_only else "read-write",
        )
    console.print(table)


def _tree(console: Console, cam: Camera) -> list[Entry]:
    entries = list(cam.walk())
    root = Tree("[bold]Files[/bold] (handle, size)")
    nodes: dict[str, Tree] = {}
    for entry in entries:
        parent = nodes.get(entry.folder)
        if parent is None:
            parent = nodes[entry.folder] = root.add(f"[blue]{entry.folder}")
        if entry.is_folder:
            nodes[entry.path] = parent.add(f"[blue]{entry.name}/[/blue]  #{entry.handle}")
        else:
            parent.add(f"{entry.name}  #{entry.handle}  {format_size(entry.size)}")
    console.print(root)
    return entries


def _download(
    console: Console, cam: Camera, virtual: VirtualCamera, entries: list[Entry], target: Path
) -> None:
    console.rule("Download")
    picture = next(e for e in entries if e.name.upper().endswith(".JPG"))
    with transfer_progress(console, picture.name, picture.size) as progress:
        # A new name if an earlier tour left one in --output: the demo never replaces a file.
        saved = cam.download(picture, unique_path(target, picture.local_name), progress=progress)
    assert saved is not None
    original = virtual.root / picture.path.split("/", 2)[2]
    same = _sha256(saved) == _sha256(original)
    console.print(
        f"{picture.path} -> {saved} ({format_size(saved.stat().st_size)}), "
        f"identical to the card: {'yes' if same else '[red]NO[/red]'}"
    )


def _capture(console: Console, cam: Camera, target: Path) -> None:
    console.rule("Capture")
    new = cam.capture()
    events = [str(e) for e in new.events]
    for taken in new:
        entry = cam.describe_now(taken)  # a Sony's pictures in turn: named just before read
        saved = cam.download(entry, unique_path(target, entry.local_name))
        console.print(f"new picture {entry.path} ({format_size(entry.size)}) -> {saved}")
    console.print("events: " + (", ".join(events) or "none"))


def _property(console: Console, cam: Camera) -> None:
    console.rule("Properties")
    table = Table(title_justify="left")
    for column in ("property", "value", "allowed"):
        table.add_column(column)
    for name in ("battery", "iso", "shutter", "f-number", "exp-bias", "white-balance", "date-time"):
        description = cam.describe_property(name)
        table.add_row(description.label, description.current_text, description.allowed_text())
    console.print(table)
    before = cam.get_property_text("iso")
    cam.set_property("iso", "800")
    event = cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=5)
    after = cam.get_property_text("iso")
    console.print(f"ISO {before} -> {after}; the camera sent {event}")


COMMANDS = [demo]
