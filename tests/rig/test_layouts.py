"""Download layouts: Meshroom's rig folders, a folder per shot, patterns; never outside."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from ptpkit.errors import UsageError
from ptpkit.rig.layouts import layout_for


def test_meshroom_gives_each_camera_its_folder_and_each_shot_one_name() -> None:
    layout = layout_for("meshroom")
    assert layout.path_for(shot=1, camera="front", index=3, name="IMG_0042.JPG") == PurePosixPath(
        "rig/3/0001.JPG"
    )
    # The same shot has the same name in every camera's folder (Meshroom pairs them so).
    assert layout.path_for(shot=1, camera="left", index=4, name="DSC_9.JPG").name == "0001.JPG"


def test_shots_gives_each_shot_its_folder_and_each_camera_one_name() -> None:
    layout = layout_for("shots")
    assert layout.path_for(shot=12, camera="front", index=0, name="IMG_0042.jpg") == PurePosixPath(
        "shot_0012/front.jpg"
    )
    # A RAW beside the JPEG keeps its own extension.
    assert layout.path_for(shot=1, camera="front", index=0, name="IMG_1.CR2").name == "front.CR2"


def test_a_pattern_of_ones_own() -> None:
    layout = layout_for("{serial}/{shot:03d}_{stem}.{ext}")
    path = layout.path_for(shot=5, camera="c", index=0, name="IMG_7.JPG", serial="SN1")
    assert path == PurePosixPath("SN1/005_IMG_7.JPG")


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..", "a/../../b", "x\x00y.JPG", "/abs.JPG", "a\\..\\b.JPG"],
)
def test_a_camera_file_name_never_climbs_out(name: str) -> None:
    for text in ("meshroom", "shots", "{camera}/{name}", "{index}/{stem}.{ext}"):
        path = layout_for(text).path_for(shot=1, camera="cam", index=0, name=name)
        assert not path.is_absolute()
        assert ".." not in path.parts
        assert all("/" not in part and "\x00" not in part for part in path.parts)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{shot}.JPG", "every camera's pictures under one name"),
        ("{camera}.JPG", "every shot under one name"),
        ("{camera}/{shot.__class__}", "unknown field"),
        ("{camera}/{shot[0]}", "unknown field"),
        ("{camera}/{when}", "unknown field"),
        ("{camera}/{shot!r}", "no conversion"),
        ("{camera/{shot}", "not a pattern"),
        ("{camera:04d}/{shot}", "not a pattern"),
        ("/data/{camera}/{shot}", "relative"),
    ],
)
def test_a_bad_pattern_is_refused_up_front(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        layout_for(text)
