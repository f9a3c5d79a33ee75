"""``ptpkit udev-rules``: let a normal user reach USB cameras on Linux."""

from __future__ import annotations

from pathlib import Path

import click

from ptpkit.cli.errors import Hinted
from ptpkit.discovery.usb import UDEV_RULE, UDEV_RULE_PATH


@click.command("udev-rules")
@click.option(
    "--write",
    "write",
    is_flag=True,
    help=f"Write the rule to {UDEV_RULE_PATH} (needs root) instead of printing it.",
)
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(UDEV_RULE_PATH),
    show_default=True,
    help="Where --write puts the rule.",
)
def udev_rules(write: bool, path: Path) -> None:
    """Print (or write) a udev rule that gives the logged-in user access to PTP cameras."""
    if not write:
        click.echo(UDEV_RULE, nl=False)
        click.echo(f"# Save as {UDEV_RULE_PATH} (or run: sudo ptpkit udev-rules --write)", err=True)
        return
    try:
        path.write_text(UDEV_RULE)
    except PermissionError as exc:
        # Exit 108 as any file that cannot be written; the hint is what this one needs.
        raise Hinted(exc, "run: sudo ptpkit udev-rules --write") from None
    click.echo(f"wrote {path}")
    click.echo("now run: sudo udevadm control --reload-rules && sudo udevadm trigger")
    click.echo("then unplug and reconnect the camera")


COMMANDS = [udev_rules]
