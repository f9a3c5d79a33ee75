"""``ptpkit canon-pair LAN_IP``: let a Canon camera pair with this computer over Wi-Fi.

Answers the camera's SSDP search and serves the UPnP description it asks for, as Windows would
(:mod:`ptpkit.discovery.canon_pairing`), and prints who asked, so the user learns the camera's
address and how to connect to it.
"""

from __future__ import annotations

import time

import click

from ptpkit.cli.interrupts import on_sigterm
from ptpkit.cli.numbers import Port
from ptpkit.discovery.canon_pairing import (
    DESCRIPTION_PORT,
    UUID_FILE,
    CanonPairingResponder,
    PairingEvent,
    read_pairing_uuid,
    set_pairing_uuid,
)
from ptpkit.discovery.ssdp import SSDP_PORT
from ptpkit.identity import config_dir


@click.command("canon-pair")
@click.argument("lan_ip")
@click.option(
    "-n",
    "--name",
    default=None,
    help="The name the camera lists for this computer (default: the host name).",
)
@click.option(
    "-P",
    "--port",
    "description_port",
    type=Port(),
    default=DESCRIPTION_PORT,
    show_default=True,
    help="TCP port of the description the camera fetches (0: any free port).",
)
@click.option(
    "--ssdp-port",
    type=Port(),
    default=SSDP_PORT,
    show_default=True,
    help="UDP port for the camera's searches (cameras search port 1900).",
)
@click.option(
    "--listen",
    default="",
    metavar="ADDRESS",
    help="Address to receive searches on (default: all, with the multicast group joined on "
    "LAN_IP's interface; a specific address answers unicast searches only).",
)
@click.option(
    "--uuid",
    "uuid_text",
    default=None,
    metavar="UUID",
    help="Use and keep this pairing UUID, e.g. the one in ptpip-canon-helper.uuid, so a camera "
    "paired with that helper still knows this computer.",
)
def canon_pair(
    *,
    lan_ip: str,
    name: str | None,
    description_port: int,
    ssdp_port: int,
    listen: str,
    uuid_text: str | None,
) -> None:
    """Answer a Canon camera's Wi-Fi pairing search until interrupted (Ctrl-C).

    LAN_IP is this computer's IPv4 address on the camera's network. On the camera, choose to
    connect to a computer ("Add a device"); it lists this computer's name. Keep this running
    whenever the camera connects: it looks for this computer again each time.
    """
    if uuid_text is not None:
        previous = read_pairing_uuid()
        chosen = set_pairing_uuid(uuid_text)
        if previous is not None and chosen != previous:
            click.echo(f"pairing UUID is now {chosen} (was {previous})")
    hinted: set[str] = set()

    def report(event: PairingEvent) -> None:
        stamp = time.strftime("%H:%M:%S")
        if event.kind == "search":
            click.echo(f"{stamp} search ({event.detail}) from {event.address}:{event.port}")
            return
        click.echo(f"{stamp} {event.address} fetched this computer's description")
        if event.address not in hinted:
            hinted.add(event.address)
            click.echo(
                f"         if {event.address} is the camera, once it shows this computer as "
                f"connected:  ptpkit --camera ptpip:{event.address} info"
            )

    responder = CanonPairingResponder(
        lan_ip,
        name=name,
        description_port=description_port,
        ssdp_host=listen,
        ssdp_port=ssdp_port,
        on_event=report,
    ).start()
    # SIGTERM is handled before anything is printed, so whoever reads our output can stop us as
    # soon as it sees it; closed in `finally` too, should printing fail (a closed pipe, Ctrl-C).
    try:
        with on_sigterm(responder.close):
            where = f"{listen or '*'}:{responder.ssdp.port}"
            click.echo(f"Canon pairing responder for {responder.name!r}")
            click.echo(f"  pairing UUID {responder.uuid} (kept in {config_dir() / UUID_FILE})")
            click.echo(f"  answering SSDP searches on udp {where}")
            click.echo(f"  description at {responder.location}")
            click.echo(
                f"On the camera: Wi-Fi menu, connect to a computer, add a device, choose "
                f"{responder.name!r}."
            )
            click.echo("Ctrl-C to stop", err=True)
            responder.serve_forever()
    finally:
        responder.close()


COMMANDS = [canon_pair]
