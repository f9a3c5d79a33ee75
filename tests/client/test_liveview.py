"""Live view (``cam.live_view()``, ``cam.capture_preview()``) against every virtual personality
with live view, over PTP/IP (Fujifilm's variant for the X-T2: its 55742 stream) and the virtual
USB backend: frame numbers increase, every frame decodes, a slow consumer gets fresh frames
(stale ones dropped), stop restores the camera, other transactions run during live view.

The frames are small (320x240) to keep the tests quick; the default size is checked once.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from ptpkit.client.liveview import LiveFrame, LiveView, jpeg_size
from ptpkit.errors import DecodeError, OperationNotSupportedError, TransportTimeout
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.canon_eos import GET_VIEWFINDER_DATA, OBJECT_NOT_READY, eos_state
from ptpkit.virtual.livepicture import frame_stamp
from ptpkit.virtual.responder import error

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import Rig

LIVE_MODELS = ("canon-eos", "fuji-x", "nikon", "sony")
SIZE = (320, 240)
#: EVFOutputDevice (vendors.md 1.7) and Nikon's LiveViewStatus (vendors.md 2.4).
EOS_EVF_OUTPUT = 0xD1B0
NIKON_LIVE_VIEW_STATUS = 0xD1A2
WHITE_BALANCE_DAYLIGHT = 4


@pytest.fixture(params=["ptpip", "virtual+usb"])
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(params=LIVE_MODELS)
def model(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def live(make_rig: Callable[..., Rig], model: str, card: Path) -> Rig:
    """A rig on ``model`` whose live view is 320x240 (at the default 60 fps)."""
    options = {"liveview_size": f"{SIZE[0]}x{SIZE[1]}"}
    return make_rig(VirtualCamera(card, personality=personality_for(model, options)))


def decoded(frame: LiveFrame) -> tuple[int, int]:
    """The frame decoded whole by Pillow (not just its header): its size."""
    with Image.open(io.BytesIO(frame.jpeg)) as image:
        image.load()
        return image.size


def stamp(frame: LiveFrame) -> int:
    found = frame_stamp(frame.jpeg)
    assert found is not None, "a virtual camera frame carries its number"
    return found[0]


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ptpkit-liveview")]


def test_frames_count_up_and_decode(live: Rig, model: str) -> None:
    with live.cam.live_view() as view:
        frames = [view.next_frame() for _ in range(8)]
        assert view.received >= 8
    assert [frame.sequence for frame in frames] == list(range(8))
    numbers = [stamp(frame) for frame in frames]
    assert numbers == sorted(set(numbers)), numbers  # strictly increasing: no frame twice
    for frame in frames:
        assert (frame.width, frame.height) == SIZE
        assert decoded(frame) == SIZE
        if model == "nikon":
            # The 384-byte header's sizes: the live view's and the sensor image's (the zoom).
            assert frame.side_data == {
                "live_view_width": SIZE[0],
                "live_view_height": SIZE[1],
                "image_width": 8256,
                "image_height": 5504,
            }
        else:
            assert frame.side_data == {}  # nothing besides the JPEG
    times = [frame.timestamp_s for frame in frames]
    assert times == sorted(times)
    assert view.fps > 0
    assert not reader_threads()


def test_iteration_and_capture_preview(live: Rig) -> None:
    seen: list[int] = []
    with live.cam.live_view() as view:
        for frame in view:
            seen.append(frame.sequence)
            if len(seen) == 3:
                break
    assert seen == [0, 1, 2]
    assert view.closed
    preview = live.cam.capture_preview(timeout_s=10)
    assert decoded(preview) == SIZE == (preview.width, preview.height)
    assert stamp(preview) >= 0


def test_a_slow_consumer_gets_the_newest_frame(live: Rig) -> None:
    view = live.cam.live_view()
    arrived = threading.Event()
    count = {"after": 0}
    original = view.source.frame

    def counting() -> bytes | None:
        if count["after"] >= 3:
            # The reader asks for the next frame only once it has handed the last one over.
            arrived.set()
        jpeg = original()
        if jpeg is not None and arrived_first.is_set():
            count["after"] += 1
        return jpeg

    arrived_first = threading.Event()
    view.source.frame = counting  # type: ignore[method-assign]
    with view:
        first = view.next_frame()
        arrived_first.set()
        # The consumer is busy while three more frames arrive: it must then get the newest.
        assert arrived.wait(10)
        newest = view.next_frame()
    assert stamp(newest) >= stamp(first) + 3
    assert view.dropped >= 2  # the ones in between were dropped, not queued
    assert newest.sequence == 1


def camera_live_state(rig: Rig, model: str) -> object:
    """The camera's own record of live view being on (where the personality keeps one)."""
    if model == "canon-eos":
        return eos_state(rig.vcam).value(EOS_EVF_OUTPUT)
    if model == "nikon":
        return rig.cam.get_property(NIKON_LIVE_VIEW_STATUS)
    return None


def test_stop_restores_the_camera_even_after_an_error(live: Rig, model: str) -> None:
    before = camera_live_state(live, model)
    view = live.cam.live_view()

    def interrupted_loop() -> None:
        with view:
            view.next_frame()
            if model == "nikon":
                assert camera_live_state(live, model) == 1
            if model == "canon-eos":
                assert camera_live_state(live, model) == 2  # the PC bit
            raise KeyboardInterrupt  # Ctrl-C in the caller's loop

    with pytest.raises(KeyboardInterrupt):
        interrupted_loop()
    assert view.closed
    assert not reader_threads()
    assert camera_live_state(live, model) == before
    if model in ("canon-eos", "nikon"):
        assert before == 0
    # The camera is usable as before, and live view starts again.
    assert live.cam.get_property("white-balance") is not None
    with live.cam.live_view() as again:
        assert decoded(again.next_frame()) == SIZE


def test_a_property_set_runs_during_live_view(live: Rig) -> None:
    cam = live.cam
    with cam.live_view() as view:
        first = view.next_frame()
        # The reader keeps asking for frames; the set must get its turn between them.
        cam.set_property("white-balance", WHITE_BALANCE_DAYLIGHT)
        assert cam.get_property("white-balance") == WHITE_BALANCE_DAYLIGHT
        later = view.next_frame()
    assert stamp(later) > stamp(first)


def test_the_default_size_is_1024x680(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    with rig.cam.live_view() as view:
        frame = view.next_frame()
    assert (frame.width, frame.height) == (1024, 680) == decoded(frame)


@pytest.mark.parametrize("model", ["canon-eos"])
@pytest.mark.parametrize("transport", ["ptpip"])
def test_a_camera_that_stops_sending_times_out(live: Rig) -> None:
    view = live.cam.live_view(frame_timeout_s=0.3)
    with view:
        view.next_frame()
        # The body never has a frame ready again (ObjectNotReady for ever).
        eos_state(live.vcam).warmup_left = 10**9

        def until_it_fails() -> None:
            while True:
                view.next_frame(timeout_s=5)

        with pytest.raises(TransportTimeout, match="no live-view frame"):
            until_it_fails()
    assert camera_live_state(live, "canon-eos") == 0  # stopped all the same
    # A body that never has a frame again, even after live view is switched on anew.
    operation = live.vcam.operations[GET_VIEWFINDER_DATA]
    live.vcam.operations[GET_VIEWFINDER_DATA] = dataclasses.replace(
        operation, handler=lambda ctx: error(OBJECT_NOT_READY)
    )
    with pytest.raises(TransportTimeout, match=r"no live-view frame within 0\.3 s"):
        live.cam.capture_preview(timeout_s=0.3)
    assert camera_live_state(live, "canon-eos") == 0


@pytest.mark.parametrize("model", ["generic"])
def test_a_standard_camera_has_no_live_view(rig: Rig) -> None:
    with pytest.raises(OperationNotSupportedError, match="no live view"):
        rig.cam.live_view()
    with pytest.raises(OperationNotSupportedError, match="no live view"):
        rig.cam.capture_preview()


# -- the pieces, without a camera ------------------------------------------------------------------


class _Frames:
    """A frame source fed by the test: a list of answers (bytes, None, or an exception)."""

    def __init__(self, answers: list[object]) -> None:
        self.answers = answers
        self.calls = 0
        self.started = 0
        self.stopped = 0
        self.gate = threading.Semaphore(0)
        self.free = False

    def start(self) -> None:
        self.started += 1

    def frame(self) -> bytes | None:
        if not self.free:
            self.gate.acquire()  # one answer per release: the test paces the camera
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, BaseException):
            raise answer
        assert answer is None or isinstance(answer, bytes)
        return answer

    def run_free(self) -> None:
        """Answer without waiting from now on (before the end: the reader must not wait for
        a release that never comes)."""
        self.free = True
        self.gate.release()

    def stop(self) -> None:
        self.stopped += 1


def _jpeg(size: tuple[int, int] = (16, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, "JPEG")
    return out.getvalue()


def test_jpeg_size_reads_the_frame_header() -> None:
    assert jpeg_size(_jpeg((33, 17))) == (33, 17)
    with pytest.raises(DecodeError, match="live-view JPEG"):
        jpeg_size(b"\xff\xd8 not a jpeg")


def test_a_reader_error_reaches_the_caller_and_stop_still_runs() -> None:
    source = _Frames([_jpeg(), TransportTimeout("the link went quiet")])
    view = LiveView(source)

    def second_frame() -> None:
        with view:
            source.gate.release()
            assert view.next_frame(timeout_s=10).sequence == 0
            source.gate.release()
            view.next_frame(timeout_s=10)

    with pytest.raises(TransportTimeout, match="went quiet"):
        second_frame()
    assert (source.started, source.stopped) == (1, 1)


def test_poll_frame_gives_none_when_nothing_came_in_time() -> None:
    source = _Frames([_jpeg()])
    with LiveView(source) as view:
        assert view.poll_frame(0.0) is None
        with pytest.raises(TransportTimeout, match="within 0 s"):
            view.next_frame(timeout_s=0)
        source.gate.release()
        assert view.poll_frame(10) is not None
        source.run_free()
    assert source.stopped == 1


def test_undecodable_frames_are_skipped_and_counted() -> None:
    source = _Frames([b"\xff\xd8junk", _jpeg((20, 10))])
    with LiveView(source) as view:
        source.gate.release()
        source.gate.release()
        frame = view.next_frame(timeout_s=10)
        assert (frame.width, frame.height) == (20, 10)
        assert view.dropped == 1
        source.run_free()
