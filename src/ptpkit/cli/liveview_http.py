"""``ptpkit liveview --http [HOST:]PORT``: the camera's live view in a web browser.

One reader takes frames from the camera (:class:`FrameHub`, fed by one ``cam.live_view()``) and
every viewer is sent the newest frame there is when it is ready for one: a slow viewer skips
frames instead of queueing them, a viewer that goes away costs nothing, and the camera is read
once however many watch. A second thread (:class:`StateWatcher`) reads the camera's state
(exposure settings, battery, shots left: the Go ptpip tool's viewfinder overlay) once a second,
as that tool does, and at once when the camera sends an event; viewers get it as JSON
(``/state.json``) or pushed as it changes (server-sent events, ``/events``).

Paths:

- ``/``: a page (HTML and a little JavaScript, nothing fetched from elsewhere) showing the stream
  with the state over it;
- ``/stream.mjpg``: ``multipart/x-mixed-replace`` MJPEG, the format browsers show in an ``<img>``
  and ffmpeg, VLC and OpenCV read; each part carries ``X-Frame-Sequence`` (``LiveFrame.sequence``:
  gaps are frames this viewer skipped) and ``X-Frame-Timestamp`` (``LiveFrame.timestamp_s``);
- ``/frame.jpg``: the newest frame, once;
- ``/state.json`` and ``/events``: the state, as above.

The server is the standard library's ``ThreadingHTTPServer`` (a thread per connection): nothing
in ptpkit's dependencies serves HTTP, a viewer's thread spends its life blocked on a socket or on
the next frame, and at most ``max_viewers`` streams are open at once, so threads are few and
bounded; an asyncio server would add a dependency or a second way of waiting for frames for no
gain at these numbers. Bounded like ``serve-commands``: loopback unless told otherwise, at most
``max_viewers`` streams (a 503 for more), every write to a viewer has ``send_timeout_s`` (a
viewer that stops reading is dropped; the others never wait for it), a request must arrive
within the same time, and the kernel's send buffer is kept small so that a slow viewer is sent
the newest frame, not one buffered seconds ago. There is no authentication: anyone who can
connect sees the camera's picture.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Protocol

from ptpkit._sync import Latch, Wakeup
from ptpkit.errors import PTPError

log = logging.getLogger("ptpkit.cli.liveview_http")

#: Streams (MJPEG and server-sent events) open at once.
MAX_VIEWERS: Final = 16
#: A write to a viewer (and a request from one) must complete within this long.
SEND_TIMEOUT_S: Final = 10.0
#: How often the state is read when no event says it changed (the Go tool's viewfinder: 1 s).
STATE_INTERVAL_S: Final = 1.0
#: Kernel send buffer of a stream: about two frames of 1024x680, so a viewer on a slow link gets
#: a recent frame rather than one queued long ago in the kernel.
STREAM_SNDBUF_BYTES: Final = 256 * 1024
#: The multipart boundary (any text that cannot appear in a JPEG's part headers).
BOUNDARY: Final = "ptpkitframe"
#: Requests besides the streams (the page, state.json) served at once.
_EXTRA_CONNECTIONS: Final = 16

#: What the overlay shows (the Go ptpip tool's viewfinder: exposure settings, battery), each
#: as the first of these property names the camera has, in its vendor's vocabulary (names, not
#: codes: vendors reuse codes, 0xD02A is a Fujifilm's ISO and a Canon's zoom). Vendor names
#: first: a Fujifilm lists ExposureTime beside the ShutterSpeed2 it uses (codes/fuji.py,
#: codes/canon.py, codes/sony.py).
OVERLAY: Final = (
    ("program", "Program", ("EOS_AutoExposureMode", "ExposureProgramMode")),
    ("shutter", "Shutter", ("EOS_ShutterSpeed", "ShutterSpeed2", "ShutterSpeed", "ExposureTime")),
    ("aperture", "Aperture", ("EOS_Aperture", "FNumber")),
    ("iso", "ISO", ("EOS_ISOSpeed", "ISO", "ExposureIndex")),
    ("exposure_compensation", "EV", ("EOS_ExpCompensation", "ExposureBiasCompensation")),
)
BATTERY_NAMES: Final = ("EOS_BatteryPower", "BatteryLevel")
#: StorageInfo's FreeSpaceInImages when the camera does not say (ISO 15740 §5.5.3).
_UNKNOWN_IMAGES: Final = 0xFFFFFFFF


class Frame(Protocol):
    """What the hub needs of a frame (``ptpkit.LiveFrame``)."""

    @property
    def jpeg(self) -> bytes: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def sequence(self) -> int: ...
    @property
    def timestamp_s(self) -> float: ...


class FrameReader(Protocol):
    """What the hub reads frames from (``cam.live_view()`` once entered)."""

    @property
    def fps(self) -> float: ...
    @property
    def dropped(self) -> int: ...
    def poll_frame(self, timeout_s: float) -> Frame | None: ...


class Closed(Exception):
    """The hub has no more frames: the live view ended (or failed: ``error``)."""


class FrameHub:
    """The newest frame, handed to any number of viewers, each at its own pace.

    A viewer asks for a frame newer than the last it was sent and gets the newest one there is
    (frames in between are skipped for it, not queued). Waiting uses :class:`ptpkit._sync.Wakeup`
    (no lock a Ctrl-C could leave held)."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        #: Frames published (the hub's own count: it orders frames whatever the camera numbers).
        self._count = 0
        self._wakeup = Wakeup()
        self._closed = False
        self.error: BaseException | None = None
        self.fps = 0.0
        self.dropped = 0

    @property
    def count(self) -> int:
        return self._count

    @property
    def newest(self) -> Frame | None:
        return self._frame

    @property
    def closed(self) -> bool:
        return self._closed

    def publish(self, frame: Frame) -> None:
        # Frame first, then the count: a reader that sees the new count sees the new frame.
        self._frame = frame
        self._count += 1
        self._wakeup.notify_all()

    def close(self, error: BaseException | None = None) -> None:
        if error is not None and self.error is None:
            self.error = error
        self._closed = True
        self._wakeup.notify_all()

    def wait_newer(self, seen: int, timeout_s: float | None = None) -> tuple[int, Frame] | None:
        """(count, frame) of the newest frame once there is one after ``seen`` (a count this
        method returned, 0 at first); None when ``timeout_s`` passed. Raises :class:`Closed`
        when no more frames will come."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._wakeup.watch() as sleep:
            while True:
                count, frame = self._count, self._frame
                if count > seen and frame is not None:
                    return count, frame
                if self._closed:
                    raise Closed(str(self.error) if self.error else "live view stopped")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                sleep(remaining)

    def pump(self, reader: FrameReader, stop: Latch, *, poll_s: float = 0.2) -> None:
        """Publish ``reader``'s frames until ``stop`` is set or the reader fails (the failure
        is kept in :attr:`error` and ends every viewer's stream)."""
        try:
            while not stop.is_set():
                frame = reader.poll_frame(poll_s)
                self.fps, self.dropped = reader.fps, reader.dropped
                if frame is not None:
                    self.publish(frame)
        except (PTPError, OSError) as exc:
            log.info("live view ended: %s", exc)
            self.close(exc)
        finally:
            self.close()


# -- the camera's state --------------------------------------------------------------------------


class StateCamera(Protocol):
    """What the state watcher reads (a :class:`ptpkit.Camera`)."""

    def property_codes(self) -> tuple[int, ...]: ...
    def describe_property(self, prop: int | str) -> Any: ...
    def storages(self) -> Any: ...
    @property
    def vocabulary(self) -> Any: ...
    @property
    def device_info(self) -> Any: ...


def _pick(names: tuple[str, ...], by_name: Mapping[str, int]) -> int | None:
    return next((by_name[name] for name in names if name in by_name), None)


def read_state(cam: StateCamera) -> dict[str, Any]:
    """The overlay's document: the exposure settings as the camera writes them (shutter,
    aperture, ISO, exposure compensation, program), battery level and shots left (the free
    space in images of the storages that say). What the camera does not have is left out; a
    read the camera refuses leaves that item out, not the whole state."""
    by_name: dict[str, int] = {}
    for code in cam.property_codes():
        by_name.setdefault(cam.vocabulary.property_name(code), code)
    items: list[dict[str, Any]] = []
    for key, label, names in OVERLAY:
        found = _pick(names, by_name)
        if found is None:
            continue
        with contextlib.suppress(PTPError):
            text = cam.describe_property(found).current_text
            items.append({"key": key, "label": label, "text": text, "code": found})
    battery = None
    battery_code = _pick(BATTERY_NAMES, by_name)
    if battery_code is not None:
        with contextlib.suppress(PTPError):
            battery = cam.describe_property(battery_code).current_text
    shots_left = None
    with contextlib.suppress(PTPError):
        counts = [
            storage.info.free_space_images
            for storage in cam.storages()
            if storage.info.free_space_images != _UNKNOWN_IMAGES
        ]
        if counts:
            shots_left = sum(counts)
    return {
        "model": str(cam.device_info.model),
        "exposure": items,
        "battery": battery,
        "shots_left": shots_left,
    }


class StateWatcher:
    """Reads the state every ``interval_s`` and at once when :meth:`poke` is called (an event
    arrived); viewers wait for a newer version with :meth:`wait_changed`."""

    def __init__(
        self, read: Callable[[], dict[str, Any]], *, interval_s: float = STATE_INTERVAL_S
    ) -> None:
        self._read = read
        self.interval_s = interval_s
        self._state: dict[str, Any] = {}
        self.version = 0
        self._changed = Wakeup()
        self._poked = Latch()
        self._stop = Latch()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> dict[str, Any]:
        return self._state

    def poke(self, *_: object) -> None:
        """Read again now (an event observer: returns at once)."""
        self._poked.set()

    def refresh(self) -> None:
        """Read the state once, here; a change makes a new version."""
        try:
            state = self._read()
        except PTPError as exc:  # the camera went away: say so, keep the last settings
            state = {**self._state, "error": str(exc)}
        if state != self._state:
            self._state = state
            self.version += 1
            self._changed.notify_all()

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="liveview state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._poked.set()
        self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10.0)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poked.wait(self.interval_s)
            self._poked = Latch()  # a poke from now on asks for another read
            if self._stop.is_set():
                return
            self.refresh()

    def wait_changed(self, seen: int, timeout_s: float) -> int:
        """The version once it is newer than ``seen``, or after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._changed.watch() as sleep:
            while self.version <= seen and not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sleep(remaining)
        return self.version


# -- HTTP -----------------------------------------------------------------------------------------


class LiveViewServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        hub: FrameHub,
        state: StateWatcher,
        *,
        max_viewers: int = MAX_VIEWERS,
        send_timeout_s: float = SEND_TIMEOUT_S,
        stream_sndbuf_bytes: int = STREAM_SNDBUF_BYTES,
    ) -> None:
        if max_viewers < 1:
            raise ValueError(f"max_viewers must be at least 1, not {max_viewers}")
        if not math.isfinite(send_timeout_s) or send_timeout_s <= 0:
            raise ValueError(f"send_timeout_s must be a finite number > 0, not {send_timeout_s}")
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.hub = hub
        self.state = state
        self.max_viewers = max_viewers
        self.send_timeout_s = send_timeout_s
        self.stream_sndbuf_bytes = stream_sndbuf_bytes
        self._lock = threading.Lock()
        self._viewers = 0
        self._streams = 0
        self._connections = 0
        #: Streams refused (too many) and dropped (stalled), for diagnostics and tests.
        self.viewers_refused = 0
        self.viewers_dropped = 0
        self._stopping = Latch()

    @property
    def viewers(self) -> int:
        return self._viewers

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop serving: streams end at their next frame or wait (within a second)."""
        self._stopping.set()
        self.shutdown()
        self.server_close()

    @property
    def streams(self) -> int:
        """MJPEG streams open now (viewers counts server-sent event streams too)."""
        return self._streams

    @contextlib.contextmanager
    def viewer_place(self, *, mjpeg: bool) -> Iterator[bool]:
        """A place for one stream: yields False when all are taken."""
        with self._lock:
            granted = self._viewers < self.max_viewers
            if granted:
                self._viewers += 1
                self._streams += mjpeg
            else:
                self.viewers_refused += 1
        try:
            yield granted
        finally:
            if granted:
                with self._lock:
                    self._viewers -= 1
                    self._streams -= mjpeg

    def process_request(self, request: Any, client_address: Any) -> None:
        # In the accepting thread: a thread per connection, so their number is bounded here.
        with self._lock:
            full = self._connections >= self.max_viewers + _EXTRA_CONNECTIONS
            if not full:
                self._connections += 1
        if full:
            log.info("liveview http: too many connections; closing %s", client_address[0])
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._lock:
            self._connections -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("liveview http: client %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: LiveViewServer
    # One request per connection: the streams never end on their own, and keep-alive would let
    # an idle page hold a thread.
    protocol_version = "HTTP/1.0"
    server_version = "ptpkit"

    def setup(self) -> None:
        super().setup()
        # The request must arrive, and every write complete, within send_timeout_s
        # (StreamRequestHandler's class-wide `timeout`, set per connection here).
        self.connection.settimeout(self.server.send_timeout_s)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("liveview http %s: " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        routes: dict[str, Callable[[], None]] = {
            "/": self._page,
            "/index.html": self._page,
            "/stream.mjpg": self._stream,
            "/frame.jpg": self._frame,
            "/state.json": self._state,
            "/events": self._events,
        }
        route = routes.get(path)
        if route is None:
            self.send_error(HTTPStatus.NOT_FOUND, "no such page (try /)")
            return
        try:
            route()
        except OSError as exc:
            # A viewer that went away or stopped reading (send_timeout_s): only it is dropped.
            if isinstance(exc, TimeoutError):
                self.server.viewers_dropped += 1
            log.debug("liveview http: %s dropped: %s", self.address_string(), exc)
            self.close_connection = True

    def do_HEAD(self) -> None:
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED)

    def _send_body(self, content_type: str, body: bytes) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _page(self) -> None:
        self._send_body("text/html; charset=utf-8", PAGE.encode("utf-8"))

    def _frame(self) -> None:
        try:
            got = self.server.hub.wait_newer(0, self.server.send_timeout_s)
        except Closed as exc:
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
            return
        if got is None:
            self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "no frame from the camera yet")
            return
        self._send_body("image/jpeg", got[1].jpeg)

    def _state_document(self) -> dict[str, Any]:
        hub = self.server.hub
        frame = hub.newest
        live = {
            "fps": round(hub.fps, 1),
            "dropped": hub.dropped,
            "frames": hub.count,
            "sequence": None if frame is None else frame.sequence,
            "width": None if frame is None else frame.width,
            "height": None if frame is None else frame.height,
            "viewers": self.server.streams,
            "running": not hub.closed,
            "error": None if hub.error is None else str(hub.error),
        }
        return {**self.server.state.state, "live": live, "version": self.server.state.version}

    def _state(self) -> None:
        body = json.dumps(self._state_document()).encode("utf-8")
        self._send_body("application/json", body)

    def _refuse_full(self) -> None:
        self.send_error(
            HTTPStatus.SERVICE_UNAVAILABLE,
            f"{self.server.max_viewers} viewers already; try again later",
        )

    def _stream_socket(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, self.server.stream_sndbuf_bytes
            )

    def _stream(self) -> None:
        server = self.server
        with server.viewer_place(mjpeg=True) as granted:
            if not granted:
                self._refuse_full()
                return
            self._stream_socket()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            # Each part is followed by the next boundary at once: a browser shows a part when
            # it sees the boundary after it (Chromium does), so a frame is shown as it is sent,
            # not one frame late.
            self.wfile.write(f"--{BOUNDARY}\r\n".encode("ascii"))
            seen = 0
            while not server.stopping:
                try:
                    # Woken at least each second to notice the server stopping.
                    got = server.hub.wait_newer(seen, 1.0)
                except Closed:
                    return
                if got is None:
                    continue
                seen, frame = got
                head = (
                    "Content-Type: image/jpeg\r\n"
                    f"Content-Length: {len(frame.jpeg)}\r\n"
                    f"X-Frame-Sequence: {frame.sequence}\r\n"
                    f"X-Frame-Timestamp: {frame.timestamp_s:.6f}\r\n"
                    "\r\n"
                ).encode("ascii")
                # One write per part: the socket's timeout bounds each (sendall's timeout is
                # for the whole buffer, Python 3.5+).
                self.wfile.write(head + frame.jpeg + f"\r\n--{BOUNDARY}\r\n".encode("ascii"))

    def _events(self) -> None:
        server = self.server
        with server.viewer_place(mjpeg=False) as granted:
            if not granted:
                self._refuse_full()
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = -1
            while not server.stopping and not server.state.stopped:
                # A message when the state changes, and each second anyway (the frame rate
                # changes; a viewer that left is noticed by the write failing).
                seen = server.state.wait_changed(seen, 1.0)
                body = json.dumps(self._state_document())
                self.wfile.write(f"event: state\ndata: {body}\n\n".encode())
                if server.hub.closed:
                    return


# -- running it -----------------------------------------------------------------------------------


@dataclass
class Running:
    """A live-view web server at work (:func:`start`)."""

    server: LiveViewServer
    hub: FrameHub
    state: StateWatcher
    stop_latch: Latch
    threads: list[threading.Thread]
    #: Set when the live view ended (stopped, or the camera failed: ``hub.error``).
    ended: Latch

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving and stop live view on the camera (waited for)."""
        self.stop_latch.set()
        self.server.stop()
        self.state.stop()
        self.hub.close()
        for thread in self.threads:
            if thread is not threading.current_thread():
                thread.join(timeout_s)


class LiveViewCamera(StateCamera, Protocol):
    """What :func:`start` needs of a camera (a :class:`ptpkit.Camera`)."""

    def live_view(self) -> Any: ...
    def observing_events(self, observer: Callable[[Any], None]) -> Any: ...


def start(
    cam: LiveViewCamera,
    host: str,
    port: int,
    *,
    max_viewers: int = MAX_VIEWERS,
    send_timeout_s: float = SEND_TIMEOUT_S,
    state_interval_s: float = STATE_INTERVAL_S,
    stream_sndbuf_bytes: int = STREAM_SNDBUF_BYTES,
) -> Running:
    """Start live view on ``cam`` and serve it on ``host:port`` (0: any free port), each on
    threads of its own; :meth:`Running.stop` ends both. Raises OSError when the address cannot
    be listened on (nothing started then)."""
    hub = FrameHub()
    watcher = StateWatcher(lambda: read_state(cam), interval_s=state_interval_s)
    server = LiveViewServer(
        (host, port),
        hub,
        watcher,
        max_viewers=max_viewers,
        send_timeout_s=send_timeout_s,
        stream_sndbuf_bytes=stream_sndbuf_bytes,
    )
    stop = Latch()
    ended = Latch()
    started = Latch()
    failure: list[BaseException] = []

    def camera_side() -> None:
        # Live view is started, read and stopped on this one thread: the context's exit stops
        # it on the camera however the loop ends.
        try:
            with cam.live_view() as reader, cam.observing_events(watcher.poke):
                started.set()
                hub.pump(reader, stop)
        except (PTPError, OSError) as exc:
            failure.append(exc)
            hub.close(exc)
        finally:
            started.set()
            hub.close()
            ended.set()

    reader_thread = threading.Thread(target=camera_side, name="liveview reader", daemon=True)
    reader_thread.start()
    started.wait()
    if failure:
        server.server_close()
        raise failure[0]
    watcher.start()
    server_thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="liveview http"
    )
    server_thread.daemon = True
    server_thread.start()
    return Running(server, hub, watcher, stop, [reader_thread, server_thread], ended)


#: The page: the stream in an <img>, the state over it, fed by server-sent events (polling
#: /state.json where EventSource is missing). Nothing is loaded from anywhere else.
PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ptpkit live view</title>
<style>
  html, body { margin: 0; background: #111; color: #eee; font: 14px system-ui, sans-serif; }
  #view { position: relative; display: inline-block; max-width: 100vw; }
  #stream { display: block; max-width: 100vw; max-height: 100vh; }
  .bar { position: absolute; left: 0; right: 0; padding: 6px 10px; display: flex; gap: 18px;
         flex-wrap: wrap; background: rgba(0, 0, 0, 0.55); font-variant-numeric: tabular-nums; }
  #top { top: 0; } #bottom { bottom: 0; }
  .item b { color: #9cf; font-weight: normal; margin-right: 4px; }
  #status { margin-left: auto; color: #aaa; }
  #error { color: #f88; }
</style>
</head>
<body>
<div id="view">
  <img id="stream" src="stream.mjpg" alt="live view">
  <div class="bar" id="top"><span id="model"></span><span id="status">connecting</span></div>
  <div class="bar" id="bottom"><span id="exposure"></span>
    <span class="item" id="battery"></span><span class="item" id="shots"></span>
    <span id="error"></span></div>
</div>
<script>
"use strict";
function item(label, text) {
  const span = document.createElement("span");
  span.className = "item";
  const name = document.createElement("b");
  name.textContent = label;
  span.append(name, document.createTextNode(text));
  return span;
}
function show(state) {
  document.getElementById("model").textContent = state.model || "";
  const exposure = document.getElementById("exposure");
  exposure.replaceChildren(...(state.exposure || []).map(
    (entry) => { const s = item(entry.label, entry.text); s.dataset.key = entry.key; return s; }));
  document.getElementById("battery").replaceChildren(
    ...(state.battery == null ? [] : [item("Battery", state.battery)]));
  document.getElementById("shots").replaceChildren(
    ...(state.shots_left == null ? [] : [item("Shots left", String(state.shots_left))]));
  const live = state.live || {};
  document.getElementById("status").textContent = live.running
    ? `${live.width}x${live.height} ${live.fps} fps, frame ${live.sequence}, ` +
      `${live.viewers} viewer(s)`
    : "live view stopped";
  document.getElementById("error").textContent = live.error || state.error || "";
}
function poll() {
  fetch("state.json", { cache: "no-store" }).then((r) => r.json()).then(show)
    .catch(() => {}).finally(() => setTimeout(poll, 1000));
}
// A stream that broke (the server restarted, the network hiccuped) is asked for again.
const stream = document.getElementById("stream");
stream.addEventListener("error", () => setTimeout(() => {
  stream.src = "stream.mjpg?" + Date.now();
}, 2000));
if (window.EventSource) {
  const source = new EventSource("events");
  source.addEventListener("state", (event) => show(JSON.parse(event.data)));
} else {
  poll();
}
</script>
</body>
</html>
"""
