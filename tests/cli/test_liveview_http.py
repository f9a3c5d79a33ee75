"""``ptpkit liveview --http``'s server in process: several viewers of one stream, valid multipart
MJPEG, a stalled viewer dropped without slowing the others, the state endpoint following the
camera, and the bounds (viewers, loopback)."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import queue
import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image

import ptpkit
from ptpkit.cli import liveview_http
from ptpkit.client.camera import Camera
from ptpkit.virtual import VirtualCamera, personality_for

WAIT_S = 20.0


@dataclass(frozen=True)
class FakeFrame:
    jpeg: bytes
    width: int
    height: int
    sequence: int
    timestamp_s: float
    side_data: dict[str, Any] = field(default_factory=dict)


def make_jpeg(number: int, size: tuple[int, int] = (64, 48)) -> bytes:
    image = Image.new("RGB", size, ((number * 40) % 256, 80, 160))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


class FedReader:
    """A live view whose frames the test hands over (no clock: a frame is there when fed)."""

    def __init__(self) -> None:
        self.frames: queue.Queue[FakeFrame] = queue.Queue()
        self.fps = 0.0
        self.dropped = 0
        self.started = False
        self.stopped = False

    def feed(self, number: int) -> FakeFrame:
        frame = FakeFrame(make_jpeg(number), 64, 48, number, float(number))
        self.frames.put(frame)
        return frame

    def poll_frame(self, timeout_s: float) -> FakeFrame | None:
        try:
            return self.frames.get(timeout=timeout_s)
        except queue.Empty:
            return None


class FedCamera:
    """A real camera (the virtual one, for the state) whose live view the test feeds."""

    def __init__(self, cam: Camera) -> None:
        self.cam = cam
        self.reader = FedReader()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cam, name)

    @contextlib.contextmanager
    def live_view(self) -> Iterator[FedReader]:
        self.reader.started = True
        try:
            yield self.reader
        finally:
            self.reader.stopped = True


@pytest.fixture
def fed() -> Iterator[FedCamera]:
    with VirtualCamera() as vcam, ptpkit.connect("virtual:", camera=vcam) as cam:
        yield FedCamera(cam)


@contextlib.contextmanager
def running(cam: Any, **options: Any) -> Iterator[liveview_http.Running]:
    served = liveview_http.start(cam, "127.0.0.1", 0, **options)
    try:
        yield served
    finally:
        served.stop()


class Viewer:
    """One /stream.mjpg reader, parsing the multipart stream itself."""

    def __init__(self, port: int, *, path: str = "/stream.mjpg") -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()

    def part(self) -> tuple[dict[str, str], bytes]:
        fp = self.response.fp
        assert fp is not None
        boundary = fp.readline()
        assert boundary == f"--{liveview_http.BOUNDARY}\r\n".encode()
        headers: dict[str, str] = {}
        while True:
            line = fp.readline().decode("ascii")
            if line == "\r\n":
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = fp.read(int(headers["content-length"]))
        assert fp.read(2) == b"\r\n"
        return headers, body

    def close(self) -> None:
        self.conn.close()


def fetch(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_viewers_share_one_stream_of_valid_jpeg_parts(fed: FedCamera) -> None:
    with running(fed) as served:
        port = served.address[1]
        viewers = [Viewer(port) for _ in range(3)]
        for viewer in viewers:
            assert viewer.response.status == 200
            assert viewer.response.getheader("Content-Type") == (
                f"multipart/x-mixed-replace; boundary={liveview_http.BOUNDARY}"
            )
        sequences: list[list[int]] = [[] for _ in viewers]
        for number in range(1, 6):
            fed.reader.feed(number)
            for seen, viewer in zip(sequences, viewers, strict=False):
                # Each viewer reads until it has this frame (it may have skipped none or some).
                while not seen or seen[-1] < number:
                    headers, body = viewer.part()
                    assert headers["content-type"] == "image/jpeg"
                    assert int(headers["content-length"]) == len(body)
                    with Image.open(io.BytesIO(body)) as image:
                        image.load()
                        assert image.format == "JPEG"
                        assert image.size == (64, 48)
                    seen.append(int(headers["x-frame-sequence"]))
        for seen in sequences:
            assert seen == sorted(set(seen))  # increasing, no repeats
            assert seen[-1] == 5
        for viewer in viewers:
            viewer.close()
    assert fed.reader.started
    assert fed.reader.stopped


def test_a_slow_viewer_gets_the_newest_frame_not_a_backlog() -> None:
    hub = liveview_http.FrameHub()
    reader = FedReader()
    hub.publish(reader.feed(1))
    seen, frame = hub.wait_newer(0, WAIT_S) or (0, None)
    assert frame is not None
    assert frame.sequence == 1
    # Three frames arrive while this viewer is busy sending frame 1: it is handed the newest
    # next, frames 2 and 3 are skipped for it (not queued).
    for number in (2, 3, 4):
        hub.publish(reader.feed(number))
    seen, frame = hub.wait_newer(seen, WAIT_S) or (0, None)
    assert frame is not None
    assert frame.sequence == 4
    assert hub.wait_newer(seen, 0) is None  # nothing newer: no repeat
    hub.close()
    with pytest.raises(liveview_http.Closed):
        hub.wait_newer(seen, WAIT_S)


def test_a_stalled_viewer_is_dropped_without_slowing_the_others(fed: FedCamera) -> None:
    with running(fed, send_timeout_s=0.5, stream_sndbuf_bytes=4096) as served:
        port = served.address[1]
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")  # and never reads
        good = Viewer(port)
        number = 0
        # Noise frames of ~250 KB fill the stalled viewer's small buffers at once; its write
        # then waits until send_timeout_s ends it, while the good viewer gets every frame, each
        # as soon as it is fed.
        noise = Image.frombytes("RGB", (320, 240), random.Random(1).randbytes(320 * 240 * 3))
        out = io.BytesIO()
        noise.save(out, "JPEG", quality=95)
        big = out.getvalue()
        deadline = time.monotonic() + WAIT_S
        while served.server.viewers_dropped == 0:
            number += 1
            assert time.monotonic() < deadline, "the stalled viewer was never dropped"
            fed.reader.frames.put(FakeFrame(big, 320, 240, number, float(number)))
            headers, _ = good.part()
            while int(headers["x-frame-sequence"]) < number:
                headers, _ = good.part()
        # The good viewer goes on after the stalled one is gone.
        fed.reader.feed(number + 1)
        seq = 0
        while seq < number + 1:
            seq = int(good.part()[0]["x-frame-sequence"])
        assert served.server.viewers_dropped == 1
        good.close()
        stalled.close()


def test_too_many_viewers_are_refused(fed: FedCamera) -> None:
    with running(fed, max_viewers=2) as served:
        port = served.address[1]
        fed.reader.feed(1)
        first, second = Viewer(port), Viewer(port)
        first.part()
        second.part()
        status, _, body = fetch(port, "/stream.mjpg")
        assert status == 503
        assert b"2 viewers already" in body
        assert served.server.viewers_refused == 1
        first.close()
        second.close()


def test_the_page_and_the_state_follow_the_camera(fed: FedCamera) -> None:
    with running(fed, state_interval_s=3600) as served:
        port = served.address[1]
        status, headers, page = fetch(port, "/")
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
        assert b'src="stream.mjpg"' in page
        assert b"http://" not in page
        assert b"https://" not in page
        status, headers, body = fetch(port, "/state.json")
        assert headers["Content-Type"] == "application/json"
        state = json.loads(body)
        exposure = {item["key"]: item["text"] for item in state["exposure"]}
        assert exposure["iso"] == "200"
        assert {"shutter", "aperture", "exposure_compensation"} <= set(exposure)
        assert state["battery"] is not None
        assert state["shots_left"] > 0
        version = state["version"]
        # A property set on the camera: the virtual camera's DevicePropChanged event makes the
        # watcher read again (the periodic read is an hour away here).
        fed.cam.set_property("iso", 800)
        served.state.wait_changed(version, WAIT_S)
        state = json.loads(fetch(port, "/state.json")[2])
        assert state["version"] > version
        assert {item["key"]: item["text"] for item in state["exposure"]}["iso"] == "800"


def test_server_sent_events_push_the_state(fed: FedCamera) -> None:
    with running(fed, state_interval_s=3600) as served:
        conn = http.client.HTTPConnection("127.0.0.1", served.address[1], timeout=WAIT_S)
        conn.request("GET", "/events")
        response = conn.getresponse()
        assert response.getheader("Content-Type") == "text/event-stream"

        def next_state() -> dict[str, Any]:
            assert response.fp is not None
            assert response.fp.readline() == b"event: state\n"
            data = response.fp.readline().decode()
            assert data.startswith("data: ")
            assert response.fp.readline() == b"\n"
            return json.loads(data[6:])

        first = next_state()
        fed.cam.set_property("iso", 400)
        state = first
        while {item["key"]: item["text"] for item in state["exposure"]}["iso"] != "400":
            state = next_state()
        conn.close()


def test_frame_jpg_and_unknown_paths(fed: FedCamera) -> None:
    with running(fed) as served:
        port = served.address[1]
        frame = fed.reader.feed(7)
        status, headers, body = fetch(port, "/frame.jpg")
        assert (status, headers["Content-Type"], body) == (200, "image/jpeg", frame.jpeg)
        assert fetch(port, "/nothing")[0] == 404


def test_stop_ends_the_streams_and_the_live_view(fed: FedCamera) -> None:
    served = liveview_http.start(fed, "127.0.0.1", 0)
    viewer = Viewer(served.address[1])
    fed.reader.feed(1)
    viewer.part()
    served.stop()
    assert served.ended.is_set()
    assert fed.reader.stopped
    assert viewer.response.fp is not None
    # The stream ended (after the boundary that closed the last part).
    assert viewer.response.fp.read() in (b"", f"--{liveview_http.BOUNDARY}\r\n".encode())
    viewer.close()


@pytest.mark.parametrize("model", ["canon-eos", "nikon", "sony", "fuji-x"])
def test_every_live_view_personality_streams_and_follows_its_iso(model: str) -> None:
    """The real live view of each virtual personality (in process): frames through the stream,
    and the overlay's ISO follows a change made on the camera meanwhile (the vendor's own ISO
    property: the overlay picks it by name)."""
    options = {"liveview_size": "160x120"}
    with (
        VirtualCamera(personality=personality_for(model, options)) as vcam,
        ptpkit.connect("virtual:", camera=vcam) as cam,
        running(cam, state_interval_s=0.2) as served,
    ):
        port = served.address[1]
        viewer = Viewer(port)
        found = []
        for _ in range(3):
            headers, body = viewer.part()
            with Image.open(io.BytesIO(body)) as image:
                image.load()
                assert image.size == (160, 120)
            found.append(int(headers["x-frame-sequence"]))
        assert found == sorted(set(found))
        state = json.loads(fetch(port, "/state.json")[2])
        iso = next(item for item in state["exposure"] if item["key"] == "iso")
        description = cam.describe_property(iso["code"])
        allowed = [v for v in description.allowed or () if v != description.current]
        assert allowed, f"{model}: no other ISO to set"
        cam.set_property(iso["code"], allowed[-1])
        wanted = cam.describe_property(iso["code"]).current_text
        assert wanted != iso["text"]
        version = state["version"]
        while True:
            version = served.state.wait_changed(version, WAIT_S)
            state = json.loads(fetch(port, "/state.json")[2])
            texts = {item["key"]: item["text"] for item in state["exposure"]}
            if texts["iso"] == wanted:
                break
        # Frames still come after the change.
        assert int(viewer.part()[0]["x-frame-sequence"]) > found[-1]
        viewer.close()
