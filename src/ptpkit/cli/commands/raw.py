"""``opreq``: one raw transaction, for reverse engineering and debugging, as the Go ptpip tool's:
the operation and parameters in hex, a hex dump of the data the camera sent, and its response.

A response other than OK is printed like any other and ends the command with exit code 106, so
scripts can tell; the data, if any, is still shown and saved. With --data-in, data of any size
streams into the file (only what is dumped stays in memory); without it, at most 64 MiB is kept.
A --data-out file streams too; a pipe is read into memory first (PTP sends the length first).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click

from ptpkit.cli import schema
from ptpkit.cli.errors import CliError, Hinted
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.numbers import Count
from ptpkit.cli.output import hexdump
from ptpkit.cli.session import Session, json_option, pass_session, session_command
from ptpkit.cli.targets import operation_code, parse_hex
from ptpkit.client.camera import Camera, TransactionResult
from ptpkit.client.files import writing
from ptpkit.client.streams import DEFAULT_MEMORY_LIMIT, file_size
from ptpkit.errors import UsageError

#: An OperationRequest carries at most five parameters (ISO 15740).
MAX_PARAMS = 5


@session_command
@click.command()
@click.argument("opcode")
@click.argument("params", nargs=-1)
@click.option(
    "--data-out",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Send this file as the data phase.",
)
@click.option(
    "--data-in",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the data the camera sends to this file.",
)
@click.option("--force-overwrite", is_flag=True, help="Replace the --data-in file if it exists.")
@click.option(
    "--dump-bytes",
    type=Count(),
    default=4096,
    show_default=True,
    help="Dump at most this many bytes of data (--data-in keeps it all).",
)
@json_option
@pass_session
def opreq(
    session: Session,
    *,
    opcode: str,
    params: tuple[str, ...],
    data_out: Path | None,
    data_in: Path | None,
    force_overwrite: bool,
    dump_bytes: int,
    as_json: bool,
) -> None:
    """Run a raw transaction: OPCODE (hex or name) and up to 5 PARAMS in hex, e.g.
    `opreq 0x1014 0x5003` (GetDevicePropDesc of ImageSize)."""
    out = session.out(as_json)
    if len(params) > MAX_PARAMS:
        raise UsageError(f"a PTP operation takes at most {MAX_PARAMS} parameters")
    if data_in is not None and os.path.lexists(data_in) and not force_overwrite:
        raise CliError(
            f"{data_in} exists", ExitCode.FILE_ERROR, hint="pass --force-overwrite to replace it"
        )
    cam = session.camera()
    code = operation_code(cam, opcode)
    values = tuple(parse_hex(p, "parameter") for p in params)
    with contextlib.ExitStack() as files:
        payload: BinaryIO | bytes | None = None
        sent: int | None = None
        if data_out is not None:
            opened = files.enter_context(data_out.open("rb"))
            if opened.seekable():
                payload, sent = opened, file_size(opened)
            else:
                piped = _read_pipe(opened, data_out)
                payload, sent = piped, len(piped)
        if data_in is None:
            result = cam.transaction(code, values, payload)
            head = result.data
        else:
            result, head = _into_file(
                cam,
                code,
                values,
                payload,
                data_in=data_in,
                force_overwrite=force_overwrite,
                dump_bytes=dump_bytes,
            )
    doc = schema.transaction(
        cam,
        code,
        values,
        result,
        data_out_bytes=sent or 0,
        data_in_file=str(data_in) if data_in is not None else None,
        data_in_head=head[:dump_bytes] if data_in is not None else None,
    )
    out.data(doc)
    operation = doc["operation"]
    out.text(
        f"-> {operation['hex']} {operation['name']}({', '.join(f'0x{v:08X}' for v in values)})"
        + (f" + {sent} bytes" if sent is not None else "")
    )
    if result.data_size:
        out.text(f"Received {result.data_size} bytes. HEX dump:")
        for line in hexdump(head, limit=dump_bytes, total=result.data_size):
            out.text(line)
    response_params = ", ".join(f"0x{p:08X}" for p in result.params)
    out.text(f"<- 0x{result.code:04X} {result.name}({response_params})")
    if not result.ok:
        raise CliError(
            f"{operation['name']} answered 0x{result.code:04X} {result.name}",
            ExitCode.CAMERA_ERROR,
            hint="see `ptpkit ops` for what the camera supports, and -vv for the exchange",
        )


def _read_pipe(pipe: BinaryIO, name: Path) -> bytes:
    data = pipe.read(DEFAULT_MEMORY_LIMIT + 1)
    if len(data) > DEFAULT_MEMORY_LIMIT:
        raise UsageError(
            f"{name} is a pipe with more than {DEFAULT_MEMORY_LIMIT >> 20} MiB: "
            "save it to a file first (PTP sends a data phase's length before the data)"
        )
    return data


def _into_file(
    cam: Camera,
    code: int,
    values: tuple[int, ...],
    payload: BinaryIO | bytes | None,
    *,
    data_in: Path,
    force_overwrite: bool,
    dump_bytes: int,
) -> tuple[TransactionResult, bytes]:
    """The transaction with its data streamed into ``data_in`` (through ``.part``); the result
    and the first ``dump_bytes`` of the data, for the dump."""
    # Saved whatever the response: the data is what a reverse engineer came for.
    with _existing_is_hinted(), writing(data_in, overwrite=force_overwrite) as file:
        result = cam.transaction(code, values, payload, into=file)
        file.seek(0)
        head = file.read(dump_bytes)
    return result, head


@contextlib.contextmanager
def _existing_is_hinted() -> Iterator[None]:
    try:
        yield
    except FileExistsError as exc:  # it appeared while the transaction ran
        raise Hinted(exc, "pass --force-overwrite to replace it") from None


COMMANDS = [opreq]
