"""miniPtp's flags as aliases, so ``ptpkit -Lodip`` does what ``miniPtp.py -Lodip`` did::

    -o   list the operations supported          (ptpkit ops)
    -p   list the properties supported          (ptpkit ops --properties)
    -i   show device info                       (ptpkit info)
    -d   the properties with type and value     (ptpkit props)
    -L   the file tree, miniPtp's layout:       handle storage parent format size name, in hex,
                                                indented by depth
    -g HANDLE        get a file by handle (hex, as -L prints it) into the current folder
    -u STORAGE,FILE  upload FILE to STORAGE (hex id; 0 lets the camera choose)

They run in miniPtp's order (o, p, i, d, L, g, u) whatever order they are given in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import click

from ptpkit.cli import schema
from ptpkit.cli.commands.files import JsonArray, SkipReport
from ptpkit.cli.session import Session
from ptpkit.cli.targets import parse_hex, parse_storage
from ptpkit.errors import UsageError


@dataclass(frozen=True)
class LegacyFlags:
    operations: bool = False
    properties: bool = False
    info: bool = False
    descriptions: bool = False
    tree: bool = False
    get_handle: str | None = None
    upload: str | None = None

    @property
    def any(self) -> bool:
        return (
            self.operations
            or self.properties
            or self.info
            or self.descriptions
            or self.tree
            or self.get_handle is not None
            or self.upload is not None
        )


def parse_upload(text: str) -> tuple[int | None, Path]:
    """``STORAGE,FILE`` -> (storage id or None for 0, file)."""
    storage_text, comma, file_text = text.partition(",")
    if not comma or not file_text:
        raise UsageError(f"-u takes STORAGE,FILE (e.g. 0,photo.jpg), not {text!r}")
    storage = parse_storage(storage_text)
    path = Path(file_text)
    if not path.is_file():
        raise UsageError(f"-u: {path} is not a file")
    return (storage or None), path


def run_legacy(ctx: click.Context, session: Session, flags: LegacyFlags) -> None:
    """Run the commands the flags stand for, through the same click commands."""
    group = ctx.command
    assert isinstance(group, click.Group)
    commands = group.commands
    # Checked before anything runs: a bad -u or -g must not come after half the output.
    handle = parse_hex(flags.get_handle, "handle") if flags.get_handle is not None else None
    upload = parse_upload(flags.upload) if flags.upload is not None else None
    if flags.operations:
        ctx.invoke(commands["ops"])
    if flags.properties:
        ctx.invoke(commands["ops"], properties=True)
    if flags.info:
        ctx.invoke(commands["info"])
    if flags.descriptions:
        ctx.invoke(commands["props"])
    if flags.tree:
        _tree(session)
    if handle is not None:
        ctx.invoke(commands["download"], targets=(f"0x{handle:08X}",))
    if upload is not None:
        storage, path = upload
        ctx.invoke(
            commands["upload"],
            files=(path,),
            storage_text=f"{storage:08x}" if storage is not None else None,
        )


def _tree(session: Session) -> None:
    """miniPtp's ``-L``: ``  00080000 00010001 00000000 3001        0 DCIM``, two spaces of
    indent per level; with --json, the entries as ``ls -R --json`` gives them."""
    out = session.out()
    cam = session.camera()
    # Streamed as ``ls -R`` is: a card of a million objects is printed, never held.
    docs = JsonArray(out)
    skips = SkipReport(out, docs)
    try:
        for entry in cam.walk(on_error=skips):
            docs.add(schema.entry(entry, cam))
            depth = len(PurePosixPath(entry.path).parts) - 2  # "/" and the storage folder
            out.text(
                "  " * depth
                + f"{entry.handle:08x} {entry.storage_id:08x} {entry.parent:08x} "
                + f"{entry.object_format:04x} {entry.size:8d} {entry.name}"
            )
    finally:
        docs.close()
    skips.finish()
