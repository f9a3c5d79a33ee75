"""What the camera is and how it is set: ``info``, ``ops``, ``props``, ``describe``, ``get``,
``set``, ``state``.

Properties are named by hex code (``0x500F``), friendly name (``iso``, ``exposure``, ``exp-bias``,
``whitebalance``, ``flashmode``, ``focusmtr``, ``effect``, ``delay``: the Go tool's names among
them) or PTP name (``ExposureIndex``). Values are parsed by the property's type and format
("1/125", "f/5.6", "+1/3", "daylight", 0x320); a value the camera does not allow is refused
with the allowed ones.
"""

from __future__ import annotations

import click

from ptpkit.cli import schema
from ptpkit.cli.errors import Hinted
from ptpkit.cli.output import columns
from ptpkit.cli.session import Session, json_option, pass_session, session_command
from ptpkit.cli.targets import describe_property
from ptpkit.client.camera import Camera, PropertyDescription
from ptpkit.codes.common import Dpc
from ptpkit.errors import PropertyError, ResponseError

#: What ``state`` shows, in this order (the exposure settings a photographer checks first).
STATE_PROPERTIES = (
    Dpc.EXPOSURE_PROGRAM_MODE,
    Dpc.EXPOSURE_TIME,
    Dpc.F_NUMBER,
    Dpc.EXPOSURE_INDEX,
    Dpc.EXPOSURE_BIAS_COMPENSATION,
    Dpc.EXPOSURE_METERING_MODE,
    Dpc.WHITE_BALANCE,
    Dpc.FOCUS_MODE,
    Dpc.FOCUS_METERING_MODE,
    Dpc.FLASH_MODE,
    Dpc.STILL_CAPTURE_MODE,
    Dpc.CAPTURE_DELAY,
    Dpc.BATTERY_LEVEL,
)


@session_command
@click.command()
@json_option
@pass_session
def info(session: Session, as_json: bool) -> None:
    """Show what the camera is (DeviceInfo)."""
    out = session.out(as_json)
    cam = session.camera()
    doc = schema.device_info(cam)
    out.data(doc)
    version = doc["standard_version"]
    rows = [
        ["Camera:", doc["url"]],
        ["Manufacturer:", doc["manufacturer"]],
        ["Model:", doc["model"]],
        ["Version:", doc["device_version"]],
        ["Serial number:", doc["serial_number"]],
        ["PTP version:", f"{version // 100}.{version % 100:02d}"],
        [
            "Vendor extension:",
            f"0x{doc['vendor_extension_id']:08X} {doc['vendor_extension_desc']}".rstrip(),
        ],
        ["Extensions in use:", ", ".join(doc["extensions"]) or "none"],
        ["Functional mode:", f"0x{doc['functional_mode']:04X}"],
        ["Operations:", f"{len(doc['operations'])} (ptpkit ops lists them)"],
        ["Events:", ", ".join(e["name"] for e in doc["events"]) or "none"],
        ["Properties:", ", ".join(p["name"] for p in doc["properties"]) or "none"],
        ["Capture formats:", ", ".join(f["name"] for f in doc["capture_formats"]) or "none"],
        ["Playback formats:", ", ".join(f["name"] for f in doc["playback_formats"]) or "none"],
    ]
    for line in columns(rows):
        out.text(line)


@session_command
@click.command()
@json_option
@click.option("--events", is_flag=True, help="List the events the camera sends instead.")
@click.option("--properties", is_flag=True, help="List the properties it has instead.")
@pass_session
def ops(session: Session, as_json: bool, events: bool, properties: bool) -> None:
    """List the operations the camera supports, with their names."""
    if events and properties:
        raise click.UsageError("--events or --properties, not both")
    out = session.out(as_json)
    cam = session.camera()
    if events:
        items = cam.events_supported()
    elif properties:
        items = cam.properties_supported()
    else:
        items = cam.operations_supported()
    out.data([schema.named(item) for item in items])
    for item in items:
        out.text(str(item))


@session_command
@click.command()
@json_option
@pass_session
def props(session: Session, as_json: bool) -> None:
    """List the camera's properties with their current values."""
    out = session.out(as_json)
    cam = session.camera()
    descriptions = cam.properties()
    out.data([schema.property_description(d) for d in descriptions])
    for line in columns([_property_row(d) for d in descriptions]):
        out.text(line)


def _property_row(description: PropertyDescription) -> list[str]:
    return [
        f"0x{description.code:04X}",
        description.friendly_name,
        description.datatype.short_name,
        "rw" if description.writable else "ro",
        description.current_text,
    ]


@session_command
@click.command()
@click.argument("prop")
@json_option
@pass_session
def describe(session: Session, prop: str, as_json: bool) -> None:
    """Describe a property: type, current and default value, allowed values."""
    out = session.out(as_json)
    description = describe_property(session.camera(), prop)
    doc = schema.property_description(description)
    out.data(doc)
    out.text(f"{description.friendly_name} (0x{description.code:04X} {description.name})")
    rows = [
        ["label:", description.label],
        ["type:", f"{doc['datatype']}, {'read-write' if doc['writable'] else 'read-only'}"],
        ["current:", doc["current_text"] + _raw_note(doc["current"], doc["current_text"])],
        ["default:", doc["factory_default_text"]],
        ["allowed:", description.allowed_text()],
    ]
    for line in columns(rows):
        out.text("  " + line)


def _raw_note(raw: object, text: str) -> str:
    return "" if str(raw) == text else f"  (raw {raw})"


@session_command
@click.command()
@click.argument("prop")
@json_option
@pass_session
def get(session: Session, prop: str, as_json: bool) -> None:
    """Print a property's current value (as people write it; --json for the raw value too)."""
    out = session.out(as_json)
    cam = session.camera()
    description = describe_property(cam, prop)
    value = cam.get_property(description.code)
    out.data(schema.property_value(description, value))
    out.text(description.format(value))


@session_command
# A value may start with "-" ("set exp-bias -1", "-1/3"): an option-looking word that is no
# option of `set` is the VALUE, so no "--" is needed.
@click.command(name="set", context_settings={"ignore_unknown_options": True})
@click.argument("prop")
@click.argument("value")
@click.option(
    "--force",
    is_flag=True,
    help="Send the value even if the camera's description does not allow it (the camera decides).",
)
@json_option
@pass_session
def set_(session: Session, prop: str, value: str, force: bool, as_json: bool) -> None:
    """Set a property. VALUE as people write it: 800, 0x320, 1/125, f/5.6, +1/3, daylight, now."""
    out = session.out(as_json)
    cam = session.camera()
    before = describe_property(cam, prop)
    try:
        # Text is matched against the allowed values by the library ("0.3" is the "+0.3" shown).
        cam.set_property(before.code, value, check=not force)
    except (PropertyError, ResponseError) as exc:
        # The camera refused what its own description allowed (or --force sent something else):
        # say what it does allow.
        raise Hinted(exc, f"allowed: {before.allowed_text()}") from None
    after = cam.describe_property(before.code)
    out.data(
        {
            **schema.property_value(after, after.current),
            "previous": schema.json_value(before.current),
            "previous_text": before.current_text,
        }
    )
    out.text(f"{after.friendly_name}: {before.current_text} -> {after.current_text}")


@session_command
@click.command()
@json_option
@pass_session
def state(session: Session, as_json: bool) -> None:
    """The exposure settings at a glance (program, shutter, aperture, ISO, bias ...)."""
    out = session.out(as_json)
    cam = session.camera()
    reported = cam.exposure_state()
    if reported is not None:
        # The camera's own list (Fujifilm 0xD212: it depends on the exposure program), shown as
        # the Go ptpip tool's `state` shows it: name, value as text, as a number, in hex.
        out.data(
            [
                {
                    "code": item.code,
                    "name": item.name,
                    "label": item.label,
                    "value": item.value,
                    "text": item.text,
                }
                for item in reported
            ]
        )
        rows = [["Property", "Value as string", "Value as int64", "Value in hex"],
                ["--------", "---------------", "--------------", "------------"]]  # fmt: skip
        for item in reported:
            number = item.value if isinstance(item.value, int) else None
            rows.append(
                [
                    item.label,
                    item.text,
                    "" if number is None else str(number),
                    "" if number is None else f"0x{number & 0xFFFFFFFF:08x}",
                ]
            )
        for line in columns(rows):
            out.text(line)
        return
    shown = _state(cam)
    out.data([schema.property_value(d, d.current) for d in shown])
    for line in columns([[d.label + ":", d.current_text] for d in shown]):
        out.text(line)


def _state(cam: Camera) -> list[PropertyDescription]:
    supported = set(cam.device_info.device_properties_supported)
    return [cam.describe_property(code) for code in STATE_PROPERTIES if code in supported]


COMMANDS = [info, ops, props, describe, get, set_, state]
