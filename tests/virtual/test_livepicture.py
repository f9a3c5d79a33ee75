"""The virtual camera's live-view picture: its options, its stamp, its pace (on a fake clock)."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image

from ptpkit.errors import UsageError
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.livepicture import (
    DEFAULT_LIVE_VIEW,
    LivePicture,
    LiveViewSettings,
    frame_stamp,
    parse_options,
)
from ptpkit.virtual.models import parse_virtual_url, virtual_url_options


class FakeClock:
    """Monotonic nanoseconds that move only when slept."""

    def __init__(self) -> None:
        self.now_ns = 1_000_000_000
        self.slept: list[float] = []

    def __call__(self) -> int:
        return self.now_ns

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_ns += round(seconds * 1e9)


def test_options_parse_and_refuse_bad_values() -> None:
    settings, rest = parse_options({"liveview_size": "640x480", "liveview_fps": "30", "x": "1"})
    assert settings == LiveViewSettings(width=640, height=480, fps=30.0)
    assert rest == {"x": "1"}
    assert parse_options({}) == (DEFAULT_LIVE_VIEW, {})
    assert (DEFAULT_LIVE_VIEW.width, DEFAULT_LIVE_VIEW.height, DEFAULT_LIVE_VIEW.fps) == (
        1024,
        680,
        60.0,
    )
    for bad in ({"liveview_size": "640"}, {"liveview_size": "8x8"}, {"liveview_size": "9000x10"}):
        with pytest.raises(UsageError, match="liveview_size"):
            parse_options(bad)
    for fps in ("0", "fast", "1000"):
        with pytest.raises(UsageError, match="liveview_fps"):
            parse_options({"liveview_fps": fps})


def test_every_live_view_model_takes_the_options() -> None:
    for model in ("canon-eos", "nikon", "sony", "fuji-x"):
        p = personality_for(model, {"liveview_size": "320x200", "liveview_fps": "25"})
        assert p.live_view == LiveViewSettings(width=320, height=200, fps=25.0)
        assert personality_for(model).live_view == DEFAULT_LIVE_VIEW
    url = "virtual:?model=nikon&liveview_fps=30&get_event_ex=0"
    assert parse_virtual_url(url) == (None, "nikon")
    assert virtual_url_options(url) == {"liveview_fps": "30", "get_event_ex": "0"}
    with pytest.raises(UsageError, match="its options: liveview_size, liveview_fps"):
        personality_for("canon-eos", {"colour": "red"})
    with pytest.raises(UsageError, match="takes no options"):
        personality_for("generic", {"liveview_fps": "30"})


def test_frames_carry_their_number_and_time() -> None:
    clock = FakeClock()
    picture = LivePicture(LiveViewSettings(width=64, height=48, fps=50), clock_ns=clock,
                          sleep=clock.sleep)  # fmt: skip
    first = picture.next_frame()
    assert frame_stamp(first) == (0, 1_000_000_000)
    with Image.open(io.BytesIO(first)) as image:
        image.load()
        assert image.size == (64, 48)
    assert frame_stamp(b"\xff\xd8 any other jpeg") is None
    assert picture.last_frame == first
    assert picture.frames == 1


def test_a_new_frame_comes_at_most_every_interval() -> None:
    clock = FakeClock()
    picture = LivePicture(LiveViewSettings(width=32, height=32, fps=50), clock_ns=clock,
                          sleep=clock.sleep)  # fmt: skip
    stamps = []
    for _ in range(4):
        jpeg = picture.next_frame()
        found = frame_stamp(jpeg)
        assert found is not None
        stamps.append(found)
    # Asked at once, each frame waited for its turn: 20 ms apart, numbered 0..3.
    assert [n for n, _ in stamps] == [0, 1, 2, 3]
    assert [b - a for (_, a), (_, b) in itertools.pairwise(stamps)] == [20_000_000] * 3
    assert clock.slept == [0.02] * 3
    # Asked late (the client was slow): no wait, and the pace starts from then.
    clock.now_ns += 500_000_000
    late = frame_stamp(picture.next_frame())
    assert late == (4, clock.now_ns)
    assert clock.slept == [0.02] * 3


def test_the_camera_makes_its_picture_from_its_personality() -> None:
    personality = personality_for("sony", {"liveview_size": "48x32"})
    with VirtualCamera(personality=personality) as camera:
        assert camera.live_picture is camera.live_picture
        assert camera.live_picture.size == (48, 32)
        assert camera.live_picture.label == "ILCE-7M3"
