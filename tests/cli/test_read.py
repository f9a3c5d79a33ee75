"""Commands that read the camera, as text and as JSON: the JSON parsed and checked against what
the virtual camera really is (its card on disk, its DeviceInfo and properties)."""

from __future__ import annotations

import re

from ptpkit.virtual.camera import GENERIC

from .conftest import Cli, Served, card_files


def test_info_json_and_text(cli: Cli) -> None:
    result = cli("--camera", "virtual:", "info", "--json")
    assert result.code == 0, result
    info = result.json()
    assert info["url"] == "virtual:"
    assert info["manufacturer"] == GENERIC.manufacturer
    assert info["model"] == GENERIC.model
    assert info["serial_number"] == GENERIC.serial_number
    assert info["standard_version"] == 110
    assert "mtp" in info["extensions"]
    operations = {op["name"]: op for op in info["operations"]}
    assert operations["GetDeviceInfo"] == {"code": 0x1001, "hex": "0x1001", "name": "GetDeviceInfo"}
    assert {e["name"] for e in info["events"]} >= {"ObjectAdded", "DevicePropChanged"}
    assert {"code": 0x3801, "hex": "0x3801", "name": "EXIF_JPEG"} in info["capture_formats"]

    text = cli("--camera", "virtual:", "info")
    assert text.code == 0, text
    assert re.search(r"^Model:\s+Virtual Camera$", text.stdout, re.MULTILINE)
    assert re.search(r"^PTP version:\s+1\.10$", text.stdout, re.MULTILINE)


def test_global_json_flag_applies_to_every_command(cli: Cli) -> None:
    result = cli("--camera", "virtual:", "--json", "ops")
    assert result.code == 0, result
    names = [op["name"] for op in result.json()]
    assert names[0] == "GetDeviceInfo"
    assert "GetObjPropList" in names  # named from the MTP extension's codes


def test_ops_text_and_events(cli: Cli) -> None:
    result = cli("--camera", "virtual:", "ops")
    assert result.code == 0, result
    assert "0x1001 GetDeviceInfo" in result.stdout.splitlines()
    events = cli("--camera", "virtual:", "ops", "--events", "--json")
    assert [e["hex"] for e in events.json()] == ["0x4002", "0x4003", "0x4006", "0x400C", "0x400D"]


def test_props_describe_get_state(served: Served, cli: Cli) -> None:
    props = cli(*served.camera_args(), "props", "--json")
    assert props.code == 0, props
    by_name = {p["friendly_name"]: p for p in props.json()}
    iso = by_name["iso"]
    assert iso["hex"] == "0x500F"
    assert iso["name"] == "ExposureIndex"
    assert iso["datatype"] == "uint16"
    assert iso["writable"] is True
    assert iso["current"] == served.vcam.properties[0x500F].current()
    assert iso["form"] == "enumeration"
    assert iso["allowed"] == [100, 200, 400, 800, 1600, 3200, 6400]
    assert by_name["battery"]["writable"] is False
    assert by_name["battery"]["form"] == "range"
    assert by_name["battery"]["range"] == {"minimum": 0, "maximum": 100, "step": 1}

    # The Go tool's names: exposure, exp-bias, whitebalance, flashmode, focusmtr, effect, delay.
    describe = cli(*served.camera_args(), "describe", "exposure", "--json")
    assert describe.code == 0, describe
    shutter = describe.json()
    assert (shutter["hex"], shutter["current"], shutter["current_text"]) == ("0x500D", 80, "1/125")
    assert "1/125" in shutter["allowed_text"]

    text = cli(*served.camera_args(), "describe", "whitebalance")
    assert text.code == 0, text
    assert text.stdout.splitlines()[0] == "white-balance (0x5005 WhiteBalance)"
    assert re.search(r"allowed:\s+manual, automatic, daylight", text.stdout)

    get = cli(*served.camera_args(), "get", "0x5007")
    assert (get.code, get.stdout) == (0, "f/5.6\n")
    get_json = cli(*served.camera_args(), "get", "exp-bias", "--json").json()
    assert (get_json["value"], get_json["text"], get_json["friendly_name"]) == (0, "0", "exp-bias")

    state = cli(*served.camera_args(), "state", "--json")
    assert state.code == 0, state
    shown = {p["hex"]: p["text"] for p in state.json()}
    assert shown["0x500D"] == "1/125"
    assert shown["0x5007"] == "f/5.6"
    assert shown["0x500E"] == "automatic"
    assert shown["0x5001"] == "87%"


def test_storage(served: Served, cli: Cli) -> None:
    result = cli(*served.camera_args(), "storage", "--json")
    assert result.code == 0, result
    [store] = result.json()
    assert store["storage_id"] == 0x00010001
    assert store["folder"] == "store_00010001"
    assert store["read_only"] is False
    assert store["max_capacity_bytes"] >= store["free_space_bytes"] > 0
    text = cli(*served.camera_args(), "storage")
    assert text.stdout.startswith("store_00010001")
    assert "read-write" in text.stdout


def test_ls_tree_matches_the_card(served: Served, cli: Cli) -> None:
    result = cli(*served.camera_args(), "ls", "-R", "--json")
    assert result.code == 0, result
    entries = result.json()
    files = {e["path"]: e for e in entries if not e["is_folder"]}
    on_card = card_files(served.card)
    assert set(files) == set(on_card)
    for path, content in on_card.items():
        assert files[path]["size"] == len(content)
    folders = [e["path"] for e in entries if e["is_folder"]]
    assert "/store_00010001/MISC/nested/level2/level3" in folders
    # Each folder before what it contains.
    order = [e["path"] for e in entries]
    assert order.index("/store_00010001/DCIM") < order.index("/store_00010001/DCIM/100PTPKT")

    top = cli(*served.camera_args(), "ls", "--json").json()
    assert [e["name"] for e in top] == ["DCIM", "MISC"]

    one_folder = cli(*served.camera_args(), "ls", "-l", "DCIM/100PTPKT")
    assert one_folder.code == 0, one_folder
    lines = one_folder.stdout.splitlines()
    assert len(lines) == 4
    handle, size, _date, _time, path = lines[0].split()
    assert path == "/store_00010001/DCIM/100PTPKT/IMG_0001.JPG"
    assert int(size) == len(on_card[path])
    assert re.fullmatch(r"0x[0-9A-F]{8}", handle)

    # A handle as ls prints it names the same object.
    by_handle = cli(*served.camera_args(), "ls", handle, "--json").json()
    assert [e["path"] for e in by_handle] == [path]


def test_list_without_discovery_results(cli: Cli) -> None:
    """`list` runs discovery; on this machine (no USB, no multicast) with only loopback searched
    it finds nothing and says so, exit 0. The real search is tested in-process with a fake."""
    result = cli("list", "--no-usb", "--no-network", "--json")
    assert result.code == 0, result
    assert result.json() == []
    assert "no cameras found" in result.stderr


def test_vendor_forces_an_extension(cli: Cli) -> None:
    plain = cli("--camera", "virtual:", "info", "--json").json()
    assert "nikon" not in plain["extensions"]
    forced = cli("--camera", "virtual:", "--vendor", "nikon", "info", "--json")
    assert forced.code == 0, forced
    # Asked vendor first, then MTP (issue 12: vendor behaviour overrides MTP's).
    assert forced.json()["extensions"] == ["nikon", *plain["extensions"]]
