"""``set``: values parsed by the property's type and format, state kept on the camera across
invocations (PTP/IP), and a refused value answered with the allowed ones."""

from __future__ import annotations

from .conftest import Cli, Served, one_line_error


def test_set_values_as_people_write_them(served: Served, cli: Cli) -> None:
    props = served.vcam.properties
    cases = [
        (("iso", "800"), 0x500F, 800, "800"),
        (("iso", "0x190"), 0x500F, 400, "400"),  # the Go tool's hex values
        (("0x500F", "1600"), 0x500F, 1600, "1600"),  # by code
        (("ExposureIndex", "3200"), 0x500F, 3200, "3200"),  # by PTP name
        (("exposure", "1/60"), 0x500D, 166, "1/60"),
        (("f-number", "f/8"), 0x5007, 800, "f/8"),
        (("exp-bias", "+1/3"), 0x5010, 333, "+0.3"),
        (("whitebalance", "daylight"), 0x5005, 4, "daylight"),
        (("flashmode", "fill"), 0x500C, 3, "fill"),
        (("focusmtr", "center-spot"), 0x501C, 1, "center-spot"),
        (("effect", "sepia"), 0x5017, 3, "sepia"),
        (("delay", "2s"), 0x5012, 2000, "2 s"),
        (("artist", "Jane Doe"), 0x501E, "Jane Doe", "Jane Doe"),
    ]
    # One process for all of them: the shell reads the commands from stdin, one per line.
    script = "".join(f'set {prop} "{value}"\n' for (prop, value), *_ in cases)
    result = cli(*served.camera_args(), "shell", input=script)
    assert result.code == 0, result
    lines = result.stdout.splitlines()
    assert len(lines) == len(cases), result
    for line, ((prop, value), _, _, text) in zip(lines, cases, strict=True):
        assert line.endswith(f" -> {text}"), (prop, value, line)
    final = {code: raw for _, code, raw, _ in cases}
    for code, raw in final.items():
        assert props[code].current() == raw, hex(code)
    # The change is seen by the next invocation (a new connection to the same camera).
    get = cli(*served.camera_args(), "get", "iso", "--json").json()
    assert get["value"] == 3200


def test_set_json_reports_before_and_after(served: Served, cli: Cli) -> None:
    result = cli(*served.camera_args(), "set", "iso", "400", "--json")
    assert result.code == 0, result
    doc = result.json()
    assert (doc["previous"], doc["value"], doc["text"], doc["hex"]) == (200, 400, "400", "0x500F")
    text = cli(*served.camera_args(), "set", "shutter", "1/250")
    assert text.stdout == "shutter: 1/125 -> 1/250\n"


def test_refused_values_name_the_allowed_ones(served: Served, cli: Cli) -> None:
    # Refused here, from the camera's own description: invalid arguments.
    result = cli(*served.camera_args(), "set", "iso", "12345")
    assert result.code == 2, result
    line = one_line_error(result)
    assert "allowed: 100, 200, 400, 800, 1600, 3200, 6400" in line

    # Sent anyway with --force: the camera answers InvalidDevicePropValue (106).
    forced = cli(*served.camera_args(), "set", "iso", "12345", "--force")
    assert forced.code == 106, forced
    line = one_line_error(forced)
    assert "0x201C InvalidDevicePropValue" in line
    assert "SetDevicePropValue" in line
    assert "allowed: 100, 200" in line
    assert served.vcam.properties[0x500F].current() == 200

    read_only = cli(*served.camera_args(), "set", "battery", "50")
    assert read_only.code == 2
    assert "read-only" in one_line_error(read_only)

    unknown = cli(*served.camera_args(), "set", "nosuchprop", "1")
    assert unknown.code == 2
    assert "unknown property 'nosuchprop'" in one_line_error(unknown)

    not_a_number = cli(*served.camera_args(), "set", "f-number", "wide")
    assert not_a_number.code == 2
    assert "f-number" in one_line_error(not_a_number)
