"""``ptpkit virtual serve``: the virtual camera as a PTP/IP camera on the network."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ptpkit import PTPIP_PORT
from ptpkit.cli.interrupts import on_sigterm
from ptpkit.cli.numbers import Count, Port, Seconds
from ptpkit.errors import UsageError

if TYPE_CHECKING:
    from ptpkit.virtual.camera import VirtualCamera
    from ptpkit.virtual.server import PtpIpServer

#: The command port of Fujifilm's variant (ptpkit.core.fujiptpip.COMMAND_PORT), written out so
#: that loading the command line does not import the core (a test checks they agree).
FUJI_PORT = 55740

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``5G`` -> 5 GiB; a plain number is bytes."""
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = cleaned[-1:] if cleaned[-1:] in _UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)]
    try:
        size = round(float(number) * _UNITS[unit])
    except (ValueError, OverflowError):  # "nan" is a ValueError, "inf" an OverflowError
        raise click.BadParameter(f"{text!r} is not a size (e.g. 5G, 700M, 4096)") from None
    if size < 0:
        raise click.BadParameter("a size cannot be negative")
    if size >= 1 << 64:  # PTP's largest object size (a 64-bit count of bytes)
        raise click.BadParameter(f"{text!r} is too big (PTP sizes are 64-bit)")
    return size


def _seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """A number of seconds: finite and not negative (``inf`` and ``nan`` are refused)."""
    if not math.isfinite(value) or value < 0:
        raise click.BadParameter(f"{value} is not a number of seconds (0 or more, finite)")
    return value


def _positive_seconds(ctx: click.Context, param: click.Parameter, value: float) -> float:
    value = _seconds(ctx, param, value)
    if value == 0:
        raise click.BadParameter("must be more than 0")
    return value


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
    type=Port(),
    default=None,
    help=f"TCP port for both PTP/IP connections (0: any free port; default {PTPIP_PORT}). "
    f"Fujifilm's variant uses this port and the next two (default {FUJI_PORT}-{FUJI_PORT + 2}).",
)
@click.option(
    "--ptpip-variant",
    "variant",
    type=click.Choice(["standard", "fuji"]),
    default=None,
    help="Which PTP/IP to speak: standard (CIPA DC-X005), or fuji (Fujifilm's variant: "
    "commands, events and live view on three ports; gphoto2 --camera 'Fuji X (WLAN)'). "
    "Default: the model's own.",
)
@click.option("--name", default=None, help="Friendly name the camera gives in InitCommandAck.")
@click.option("--read-only", is_flag=True, help="Refuse uploads, deletions and captures.")
@click.option(
    "--model",
    # ptpkit.virtual.MODELS, written out so that loading the command line does not import the
    # virtual camera (a test checks they agree).
    # (ptpkit.virtual.MODELS, then ptpkit.virtual.powershot.POWERSHOT_PERSONALITIES)
    type=click.Choice(
        [
            "generic",
            "canon-eos",
            "fuji-x",
            "nikon",
            "sony",
            "powershot-g3",
            "powershot-g2",
            "powershot-eos-350d",
            "powershot-eos-d60",
        ]
    ),
    default="generic",
    show_default=True,
    help="What the camera says it is: generic PTP, a Canon EOS (EOS operations and events: "
    "GetEvent, SetDevicePropValueEx for ISO, aperture, shutter speed, exposure compensation, "
    "white balance, drive mode, image format, capture target; GetObjectInfoEx listing; "
    "RemoteReleaseOn/Off capture to the card or the computer; live view; Canon's USB ids with "
    "--usb-gadget), or a Fujifilm X-T2 (Fujifilm's PTP/IP variant on 55740-55742, its session "
    "set-up, properties, 0xD212 state list, capture with the preview, live view), a Nikon "
    "D850 (GetEvent polling, DeviceReady, InitiateCaptureRecInMedia to SDRAM or the card, "
    "Nikon properties, live view, 64-bit reads; Nikon's USB ids with --usb-gadget), or a "
    "Sony Alpha 7 III in PC Remote mode (SDIO handshake, 0x9209 properties, "
    "SetControlDeviceA/B, capture into memory at 0xFFFFC001, live view at 0xFFFFC002, 0x9280 "
    "over PTP/IP; Sony's USB ids with --usb-gadget), or a Canon PowerShot G3 or G2, EOS "
    '350D (class 6, the "new protocol") or EOS D60 (class 4) speaking '
    "Canon's pre-PTP USB protocol (with --usb-gadget only; gphoto2's canon driver). The same "
    "names work in URLs: virtual:?model=canon-eos.",
)
@click.option(
    "--model-option",
    "model_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option of the model (fuji-x: empty_device_info=1 for the empty DeviceInfo an "
    "X-T4 gives over Wi-Fi; state=changes for a 0xD212 list of changes only; nikon: "
    "get_event_ex=0 for GetEvent 0x90C7 only, live_view_header=64 for older bodies; sony: "
    "protocol=200, mode=mtp, save=camera|both, empty_ext_info=N, busy_frames=N, "
    "ready_polls=N; every model with live view: liveview_size=WIDTHxHEIGHT (default 1024x680), "
    "liveview_fps=N (default 60)). Repeatable.",
)
@click.option(
    "--large-object",
    "large_objects",
    multiple=True,
    metavar="SIZE",
    help="Add a generated object of SIZE bytes (5G, 700M, 123456...) at the top of the card, "
    "named LARGE_<bytes>.MOV, for testing big transfers without storing them. Repeatable.",
)
@click.option(
    "--capacity",
    default=None,
    metavar="SIZE",
    help="The card's size (32G, 512M, 4096...; default 64 GB, 64,000,000,000 bytes as card "
    "makers count): its free space is this less what the card holds, whatever the host's disk.",
)
@click.option(
    "--packet-per-write",
    is_flag=True,
    help="One PTP/IP packet per TCP write (for Wireshark, which decodes only the first "
    "packet of a segment).",
)
@click.option(
    "--advertise",
    "advertise_port",
    type=Port(),
    default=None,
    is_flag=False,
    flag_value=1900,
    metavar="[UDP_PORT]",
    help="Answer SSDP searches as a Canon camera does, so `ptpkit list` finds this camera "
    "(UDP 1900 unless given; on --host's address, with the multicast group joined when --host "
    "is 0.0.0.0).",
)
@click.option(
    "--misbehave",
    default="",
    metavar="MODE[,MODE...]",
    help="Break the protocol on purpose, to test clients: absurd-length, absurd-count, "
    "absurd-string, short-object-info, wrong-storage-id, huge-packet, truncated, "
    "truncated-packet, wrong-tid, early-response, stall, disconnect, oversize, event-flood, "
    "hostile-names, busy[=N], init-fail, and the timed ones: chatter, trickle, ignore-probes, "
    "handshake-stall, handshake-trickle, slow-accept[=S], slow-reader[=N], with tick=S "
    "(see ptpkit.virtual.misbehave).",
)
@click.option(
    "--capture-log",
    "capture_log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append a line to FILE at every shutter release, as it happens: when the capture "
    "request reached the camera (the kernel's receive time, else the release's) and when the "
    "shutter fired, in ns since the epoch: a rig's trigger skew measured at the camera "
    "(bench/rig.py).",
)
# The defaults below are ptpkit.virtual.server's constants, written out so that loading the
# command line does not import the virtual camera (start-up time; a test checks they agree).
@click.option(
    "--handshake-timeout",
    "handshake_timeout_s",
    type=Seconds(),
    default=10.0,
    show_default=True,
    callback=_positive_seconds,
    metavar="S",
    help="One deadline from accept for a client's Init packet, and for its event connection to "
    "follow its command connection.",
)
@click.option(
    "--idle-timeout",
    "idle_timeout_s",
    type=Seconds(),
    default=3600.0,
    show_default=True,
    callback=_seconds,
    metavar="S",
    help="Close a session with no traffic for S seconds (0: never). Long by default: gphoto2 "
    "waiting for events sends nothing.",
)
@click.option(
    "--max-sessions",
    type=Count(minimum=1),
    default=64,
    show_default=True,
    metavar="N",
    help="Sessions at once. When all are taken, a new client replaces a session that never "
    "opened its event connection, or one idle --reclaim-idle seconds, else gets InitFail(busy).",
)
@click.option(
    "--reclaim-idle",
    "reclaim_idle_s",
    type=Seconds(),
    default=60.0,
    show_default=True,
    callback=_seconds,
    metavar="S",
    help="When all sessions are taken, one idle this long gives its place to a new client.",
)
@click.option(
    "--max-pending",
    type=Count(minimum=1),
    default=32,
    show_default=True,
    metavar="N",
    help="Connections that have not sent their Init packet yet; one more drops the oldest.",
)
@click.option(
    "--send-timeout",
    "send_timeout_s",
    type=Seconds(),
    default=30.0,
    show_default=True,
    callback=_positive_seconds,
    metavar="S",
    help="Drop a client that has read nothing of what is sent to it for S seconds.",
)
@click.option(
    "--synthetic",
    default=None,
    metavar="files=N[,depth=D]",
    help="Serve a synthetic card instead of a folder: N files (F0000001.JPG ...) in D nested "
    "folders (default 1; 0: at the top), made on demand, nothing on disk, read-only: for "
    "testing listings of huge or deep cards (see ptpkit.virtual.synthetic).",
)
@click.option(
    "--usb-gadget",
    is_flag=True,
    help="Be a USB camera instead of a PTP/IP one, through Linux FunctionFS (a Raspberry Pi "
    "Zero, a board with OTG, or dummy_hcd): mount FunctionFS for a configfs gadget at --ffs.",
)
@click.option(
    "--ffs",
    "ffs_mount",
    type=click.Path(path_type=Path),
    default=Path("/dev/ffs-ptp"),
    show_default=True,
    help="Where the gadget's FunctionFS instance is mounted (with --usb-gadget).",
)
@click.option(
    "--bind",
    "bind_gadget",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Bind this configfs gadget (/sys/kernel/config/usb_gadget/NAME) to the first USB "
    "device controller once the descriptors are written (with --usb-gadget).",
)
def serve(
    *,
    root: Path | None,
    host: str,
    port: int | None,
    variant: str | None,
    name: str | None,
    read_only: bool,
    model: str,
    model_options: tuple[str, ...],
    large_objects: tuple[str, ...],
    capacity: str | None,
    packet_per_write: bool,
    advertise_port: int | None,
    misbehave: str,
    capture_log: Path | None,
    handshake_timeout_s: float,
    idle_timeout_s: float,
    max_sessions: int,
    reclaim_idle_s: float,
    max_pending: int,
    send_timeout_s: float,
    synthetic: str | None,
    usb_gadget: bool,
    ffs_mount: Path,
    bind_gadget: Path | None,
) -> None:
    """Serve the virtual camera over PTP/IP until interrupted (Ctrl-C)."""
    from ptpkit.virtual import VirtualCamera, personality_for  # noqa: PLC0415
    from ptpkit.virtual.misbehave import Misbehavior  # noqa: PLC0415
    from ptpkit.virtual.network import network_server  # noqa: PLC0415
    from ptpkit.virtual.storage import DEFAULT_CAPACITY_BYTES  # noqa: PLC0415

    sizes = [parse_size(text) for text in large_objects]
    capacity_bytes = DEFAULT_CAPACITY_BYTES if capacity is None else parse_size(capacity)
    try:
        misbehavior = Misbehavior.parse(misbehave)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--misbehave") from None
    card = None
    if synthetic is not None:
        from ptpkit.virtual.synthetic import SyntheticCard  # noqa: PLC0415

        if root is not None:
            raise click.UsageError("--synthetic and --root name two cards; give one")
        try:
            card = SyntheticCard.parse(synthetic)
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc), param_hint="--synthetic") from None
    options: dict[str, str] = {}
    for text in model_options:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{text!r} is not KEY=VALUE", param_hint="--model-option")
        options[key.strip()] = value
    powershot = model.startswith("powershot-")
    if powershot and capacity is None:
        from ptpkit.virtual.powershot import CARD_CAPACITY_BYTES  # noqa: PLC0415

        capacity_bytes = CARD_CAPACITY_BYTES  # a card of its time: DiskInfo's u32 holds it
    if powershot and not usb_gadget:
        raise click.UsageError(
            f"{model} speaks Canon's USB protocol, not PTP/IP: serve it with --usb-gadget "
            f"(or use it as virtual+usb:?model={model})"
        )
    try:
        # A PowerShot plays its protocol over a plain virtual camera's card (its personality
        # only answers PTP, which the PowerShot never speaks).
        chosen = personality_for("generic" if powershot else model, options)
    except UsageError as exc:
        raise click.BadParameter(str(exc), param_hint="--model-option") from None
    with (
        VirtualCamera(
            root,
            personality=chosen,
            friendly_name=name,
            read_only=read_only,
            misbehavior=misbehavior,
            capacity_bytes=capacity_bytes,
            synthetic=card,
        ) as camera,
        contextlib.ExitStack() as logging_captures,
    ):
        for index, size in enumerate(sizes):
            camera.add_generated_object(size, seed=index)
        if capture_log is not None:
            log_file = logging_captures.enter_context(capture_log.open("a", encoding="ascii"))

            def log_capture(fired_ns: int, arrived_ns: int | None) -> None:
                # One line per release, flushed: a reader sees it as soon as it happens. The
                # request's arrival first (the shutter's time where there is none).
                log_file.write(f"{arrived_ns or fired_ns} {fired_ns}\n")
                log_file.flush()

            camera.on_capture = log_capture
        if usb_gadget:
            if powershot:
                _serve_powershot_gadget(camera, model, ffs_mount, bind_gadget)
            else:
                _serve_usb_gadget(camera, ffs_mount, bind_gadget)
            return
        server = network_server(
            camera,
            host,
            port,
            variant=variant,
            name=name,
            packet_per_write=packet_per_write,
            max_sessions=max_sessions,
            max_pending=max_pending,
            handshake_timeout_s=handshake_timeout_s,
            idle_timeout_s=idle_timeout_s,
            reclaim_idle_s=reclaim_idle_s,
            send_timeout_s=send_timeout_s,
        ).start()
        click.echo(f"virtual camera {camera.personality.model!r} serving {camera.root}")
        click.echo(f"listening on {server.url}")
        click.echo(f"  ptpkit --camera {server.url} info")
        click.echo(f"  gphoto2 {_gphoto2_args(server)} --summary")
        # SIGTERM (a service manager, `timeout`) stops as cleanly as Ctrl-C: the temporary card
        # is removed on the way out.
        with contextlib.ExitStack() as stack:
            stack.enter_context(on_sigterm(server.close))  # put back when serving ends
            stack.callback(server.close)  # also when advertising fails to start
            if advertise_port is not None:
                from ptpkit.discovery import advertise_server  # noqa: PLC0415

                advertiser = stack.enter_context(advertise_server(server, ssdp_port=advertise_port))
                click.echo(f"advertised over SSDP on udp {host}:{advertiser.ssdp_port}")
            click.echo("Ctrl-C to stop", err=True)
            server.serve_forever()


def _gphoto2_args(server: PtpIpServer) -> str:
    """gphoto2's options for the server: Fujifilm's variant needs its driver named."""
    from ptpkit.virtual.fujiserver import FujiPtpIpServer  # noqa: PLC0415

    if isinstance(server, FujiPtpIpServer):
        return f"--camera 'Fuji X (WLAN)' --port {server.gphoto2_port}"
    return f"--port {server.url}"


def _serve_usb_gadget(camera: VirtualCamera, mount: Path, bind_gadget: Path | None) -> None:
    from ptpkit.virtual.ffs_gadget import FunctionFsGadget  # noqa: PLC0415

    gadget = FunctionFsGadget(camera, mount).start()
    click.echo(f"virtual camera {camera.personality.model!r} serving {camera.root}")
    click.echo(f"USB function ready at {mount}")
    if bind_gadget is not None:
        controller = gadget.bind(bind_gadget)
        click.echo(f"bound {bind_gadget} to USB device controller {controller}")
    click.echo("Ctrl-C to stop", err=True)
    with on_sigterm(gadget.close):  # put back when serving ends
        gadget.serve_forever()


def _serve_powershot_gadget(
    camera: VirtualCamera, model: str, mount: Path, bind_gadget: Path | None
) -> None:
    from ptpkit.virtual.ffs_powershot import PowerShotGadget  # noqa: PLC0415
    from ptpkit.virtual.powershot import PowerShotDevice  # noqa: PLC0415

    device = PowerShotDevice(camera, model)
    gadget = PowerShotGadget(device, mount).start()
    click.echo(f"virtual {device.model.display_name} serving {camera.root}")
    click.echo(
        f"USB function ready at {mount} (USB id {device.vendor_id:04x}:{device.product_id:04x})"
    )
    if bind_gadget is not None:
        controller = gadget.bind(bind_gadget)
        click.echo(f"bound {bind_gadget} to USB device controller {controller}")
    click.echo("Ctrl-C to stop", err=True)
    with on_sigterm(gadget.close):  # put back when serving ends
        gadget.serve_forever()


COMMANDS = [virtual]
