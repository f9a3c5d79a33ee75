"""``opreq``: one raw transaction, for reverse engineering and debugging, as the Go ptpip tool's:
the operation and parameters in hex, a hex dump of the data the camera sent, and its response.

A response other than OK is printed like any other and ends the command with exit code 106, so
scripts can tell; the data, if any, is still shown and saved.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ptpkit.cli import schema
from ptpkit.cli.errors import CliError, Hinted
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.output import hexdump
from ptpkit.cli.session import Session, json_option, pass_session, session_command
from ptpkit.cli.targets import operation_code, parse_hex
from ptpkit.client.files import write_file
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
    type=click.IntRange(min=0),
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
    payload = data_out.read_bytes() if data_out is not None else None
    result = cam.transaction(code, values, payload)
    if data_in is not None:
        # Saved whatever the response: the data is what a reverse engineer came for.
        try:
            write_file(data_in, result.data, overwrite=force_overwrite)
        except FileExistsError as exc:  # it appeared while the transaction ran
            raise Hinted(exc, "pass --force-overwrite to replace it") from None
    doc = schema.transaction(
        cam,
        code,
        values,
        result,
        data_out_bytes=len(payload) if payload is not None else 0,
        data_in_file=str(data_in) if data_in is not None else None,
    )
    out.data(doc)
    operation = doc["operation"]
    out.text(
        f"-> {operation['hex']} {operation['name']}({', '.join(f'0x{v:08X}' for v in values)})"
        + (f" + {len(payload)} bytes" if payload is not None else "")
    )
    if result.data:
        out.text(f"Received {len(result.data)} bytes. HEX dump:")
        for line in hexdump(result.data, limit=dump_bytes):
            out.text(line)
    response_params = ", ".join(f"0x{p:08X}" for p in result.params)
    out.text(f"<- 0x{result.code:04X} {result.name}({response_params})")
    if not result.ok:
        raise CliError(
            f"{operation['name']} answered 0x{result.code:04X} {result.name}",
            ExitCode.CAMERA_ERROR,
            hint="see `ptpkit ops` for what the camera supports, and -vv for the exchange",
        )


COMMANDS = [opreq]
