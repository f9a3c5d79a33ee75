"""Rig files (TOML) and rigs from URLs: what is accepted, and one line for what is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptpkit.rig.spec import (
    CameraSpec,
    RigFileError,
    RigSpec,
    load_rig_file,
    parse_rig_toml,
    rig_from_urls,
)

GOOD = """
[rig]
name = "booth"
layout = "meshroom"

[rig.settings]
iso = 100

[[camera]]
name = "front"
serial = "0123456789"
position = [0, 1.5, 2]
host = "node-a"

[camera.settings]
shutter = "1/125"
iso = "200"

[[camera]]
name = "left"
url = "ptpip:192.168.1.31"
serial = "ABC123"
index = 7
"""


def test_a_rig_file_gives_its_cameras_in_order() -> None:
    spec = parse_rig_toml(GOOD, source="booth.toml")
    assert spec.name == "booth"
    assert spec.layout == "meshroom"
    front, left = spec.cameras
    assert front == CameraSpec(
        name="front",
        serial="0123456789",
        index=0,
        position=(0.0, 1.5, 2.0),
        settings={"shutter": "1/125", "iso": "200"},
        host="node-a",
    )
    # A USB camera is found by its serial number, so the rig survives re-enumeration.
    assert front.target == "usb:serial=0123456789"
    assert left.target == "ptpip:192.168.1.31"
    assert left.index == 7
    # The camera's own settings win over the rig's; numbers are kept as people typed them.
    assert spec.settings_for(front) == {"iso": "200", "shutter": "1/125"}
    assert spec.settings_for(left) == {"iso": "100"}


def test_rig_from_urls_names_the_cameras_by_place() -> None:
    spec = rig_from_urls(["ptpip:10.0.0.1", "usb:serial=X"])
    assert [(c.name, c.index, c.target) for c in spec.cameras] == [
        ("cam00", 0, "ptpip:10.0.0.1"),
        ("cam01", 1, "usb:serial=X"),
    ]
    with pytest.raises(RigFileError, match="not a camera URL"):
        rig_from_urls(["10.0.0.1"])
    with pytest.raises(RigFileError, match="at least one camera"):
        rig_from_urls([])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[camera]\nname='a'", "not valid TOML: .*line 1"),
        ("[rig]\nname='x'", "no cameras"),
        ("[[camera]]\nname='a'", "needs a url or a serial"),
        ("[[camera]]\nname='a b'\nurl='ptpip:x'", "name 'a b' must be"),
        ("[[camera]]\nname='../up'\nurl='ptpip:x'", "name '../up' must be"),
        ("[[camera]]\nurl='ptpip:x'\nlens='50mm'", "unknown key 'lens'"),
        ("[[camera]]\nurl='ptpip:x'\nindex=-1", "index must be"),
        ("[[camera]]\nurl='ptpip:x'\nindex=true", "index must be"),
        ("[[camera]]\nurl='192.168.1.2'", "url must be a camera URL"),
        ("[[camera]]\nurl='ptpip:x'\nposition=[1,2,3,4]", "position must be"),
        ("[[camera]]\nurl='ptpip:x'\nposition=['a']", "position must be"),
        ("[[camera]]\nurl='ptpip:x'\nserial=''", "serial must be"),
        ("[[camera]]\nurl='ptpip:x'\n[camera.settings]\niso=[1]", "iso must be a string"),
        (
            "[[camera]]\nurl='ptpip:x'\n[[camera]]\nurl='ptpip:y'\nindex=0",
            "two cameras have index 0",
        ),
        (
            "[[camera]]\nname='a'\nurl='ptpip:x'\n[[camera]]\nname='a'\nurl='ptpip:y'",
            "two cameras are named 'a'",
        ),
        (
            "[[camera]]\nserial='S'\n[[camera]]\nserial='S'",
            "two cameras have serial number 'S'",
        ),
        ("[rig]\ncolour='red'\n[[camera]]\nurl='ptpip:x'", r"\[rig\] has an unknown key"),
        ("[cameras]\nurl='ptpip:x'", "unknown table 'cameras'"),
        ("camera = 3", "no cameras"),
    ],
)
def test_a_bad_rig_file_is_one_line_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(RigFileError, match=message) as caught:
        parse_rig_toml(text, source="rig.toml")
    assert str(caught.value).startswith("rig.toml: ")
    assert "\n" not in str(caught.value)


def test_a_missing_or_undecodable_rig_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RigFileError, match="cannot read the rig file: No such file"):
        load_rig_file(tmp_path / "nothing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00camera")
    with pytest.raises(RigFileError, match="cannot read the rig file"):
        load_rig_file(binary)
    good = tmp_path / "booth.toml"
    good.write_text(GOOD, encoding="utf-8")
    assert isinstance(load_rig_file(good), RigSpec)


def test_a_spec_made_in_python_is_checked_too() -> None:
    one = CameraSpec(name="a", url="virtual:")
    with pytest.raises(RigFileError, match="two cameras are named"):
        RigSpec(cameras=(one, CameraSpec(name="a", url="virtual:", index=1)))
