"""``list``: the cameras discovery finds (USB, and the network's SSDP and mDNS announcements)."""

from __future__ import annotations

import click

from ptpkit.cli import camera_select
from ptpkit.cli.output import columns
from ptpkit.cli.session import Session, json_option, pass_session


@click.command(name="list")
@click.option("--no-usb", is_flag=True, help="Do not look on USB.")
@click.option("--no-network", is_flag=True, help="Do not look on the network.")
@json_option
@pass_session
def list_(session: Session, no_usb: bool, no_network: bool, as_json: bool) -> None:
    """List the cameras found on USB and the network (their URLs go to --camera)."""
    out = session.out(as_json)
    timeout_s = session.selection.timeout_s
    # Looked up on the module at call time: the one seam tests replace.
    found = camera_select.discover_cameras(
        timeout_s if timeout_s is not None else camera_select.DISCOVERY_TIMEOUT_S,
        usb=not no_usb,
        network=not no_network,
    )
    out.data(
        [
            {
                "url": camera.url,
                "name": camera.name,
                "model": camera.model,
                "source": camera.source,
                "address": camera.address,
            }
            for camera in found
        ]
    )
    if not found:
        out.note("no cameras found")
    rows = [
        [camera.url, camera.name, camera.model or "-", camera.source, camera.address or "-"]
        for camera in found
    ]
    for line in columns(rows):
        out.text(line)


COMMANDS = [list_]
