"""The HTTP API of ``ptpkit web`` and the page that uses it.

Objects are named by camera and handle only (``/api/c/c1/object/42``): a camera's object path
never becomes a local path, and no request names a local file. The one place the server writes
local files is ``POST /api/c/ID/save``, into the download folder, through the download
machinery of :meth:`ptpkit.aio.Camera.download` (safe names, ``.part`` files published when
complete).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import tempfile
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Final
from urllib.parse import quote

from aiohttp import BodyPartReader, WSMsgType, web

from ptpkit.client.files import Entry, safe_filename
from ptpkit.client.operations import ROOT
from ptpkit.codes.common import Op, Rc
from ptpkit.errors import (
    NotFoundError,
    OperationNotSupportedError,
    PTPError,
    ResponseError,
    UsageError,
    response_error_class,
)
from ptpkit.web.cameras import (
    CameraManager,
    Slot,
    UnknownCameraError,
    browser_may_open,
    entry_json,
)
from ptpkit.web.hub import log
from ptpkit.web.security import Guard
from ptpkit.web.zipstream import MemberSink, stream_zip

MANAGER: Final = web.AppKey("manager", CameraManager)
GUARD: Final = web.AppKey("guard", Guard)
#: URLs given on the command line: the page may open these as they are.
CONFIGURED: Final = web.AppKey("configured", dict)

#: The page's files (package data), served by name from this list only.
STATIC: Final = {
    "app.js": "text/javascript",
    "app.css": "text/css",
}
#: The multipart boundary of the live-view stream.
BOUNDARY: Final = "ptpkitframe"
#: An upload is kept in memory up to this size, then in a temporary file.
UPLOAD_SPOOL_BYTES: Final = 8 * 1024 * 1024
#: How many objects one zip, delete or save request may name.
MAX_SELECTION: Final = 10_000
#: An object's size when the camera could not tell it (4 GiB or more, no 64-bit size).
_SIZE_UNKNOWN: Final = 0xFFFFFFFF
#: How long discovery searches when the page asks.
DISCOVERY_S: Final = 3.0

routes = web.RouteTableDef()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """ptpkit's errors as JSON with a status that says whose fault it was."""
    try:
        return await handler(request)
    except UnknownCameraError as exc:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no camera {exc.args[0]}"}), content_type="application/json"
        ) from None
    except (UsageError, NotFoundError, ValueError) as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": str(exc)}), content_type="application/json"
        ) from None
    except OperationNotSupportedError as exc:
        raise web.HTTPNotImplemented(
            text=json.dumps({"error": str(exc)}), content_type="application/json"
        ) from None
    except ResponseError as exc:
        raise web.HTTPConflict(
            text=json.dumps({"error": str(exc)}), content_type="application/json"
        ) from None
    except PTPError as exc:
        raise web.HTTPBadGateway(
            text=json.dumps({"error": str(exc)}), content_type="application/json"
        ) from None


def _manager(request: web.Request) -> CameraManager:
    return request.app[MANAGER]


def _slot(request: web.Request) -> Slot:
    return _manager(request).get(request.match_info["cid"])


def _int(value: str | None, what: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise UsageError(f"{what} is missing")
        return default
    try:
        return int(value, 0)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not a number") from None


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError("the request's body is not JSON") from None
    if not isinstance(body, dict):
        raise UsageError("the request's body is not a JSON object")
    return body


def _handles(values: Any) -> list[int]:
    if not isinstance(values, list) or not values:
        raise UsageError("name the objects: a non-empty list of handles")
    if len(values) > MAX_SELECTION:
        raise UsageError(f"at most {MAX_SELECTION} objects at once")
    if not all(isinstance(v, int) and 0 < v < ROOT for v in values):
        raise UsageError("handles are numbers between 1 and 0xFFFFFFFE")
    return list(dict.fromkeys(values))


# -- the page -------------------------------------------------------------------------------------


def _resource(name: str) -> bytes:
    return resources.files("ptpkit.web").joinpath("static").joinpath(name).read_bytes()


@routes.get("/")
async def page(request: web.Request) -> web.Response:
    html = _resource("index.html").decode()
    html = html.replace("{{csrf}}", request.app[GUARD].csrf)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.get("/static/{name}")
async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    return web.Response(body=_resource(name), content_type=STATIC[name])


# -- cameras, discovery, events -------------------------------------------------------------------


@routes.get("/api/cameras")
async def cameras(request: web.Request) -> web.Response:
    slots = _manager(request).slots.values()
    return web.json_response([slot.summary() for slot in slots])


@routes.post("/api/cameras")
async def add_camera(request: web.Request) -> web.Response:
    body = await _json_body(request)
    url = body.get("url")
    manager = _manager(request)
    if not isinstance(url, str) or not url:
        raise UsageError("give the camera's URL")
    configured: dict[str, dict[str, Any]] = request.app[CONFIGURED]
    if url not in configured and url not in manager.discovered and not browser_may_open(url):
        raise UsageError(
            f"{url!r}: the page may open ptpip:, fuji:, usb: and virtual: cameras "
            "(a virtual camera serving a local folder only from the command line)"
        )
    slot = await manager.add(url, configured.get(url, {}))
    return web.json_response(slot.summary())


@routes.post("/api/c/{cid}/close")
async def close_camera(request: web.Request) -> web.Response:
    await _manager(request).remove(request.match_info["cid"])
    return web.json_response({"closed": request.match_info["cid"]})


@routes.get("/api/discover")
async def discover(request: web.Request) -> web.Response:
    return web.json_response(await _manager(request).discover(DISCOVERY_S))


@routes.get("/api/log")
async def event_log(request: web.Request) -> web.Response:
    return web.json_response(list(_manager(request).broadcaster.log))


@routes.get("/api/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every message of :class:`~ptpkit.web.hub.Broadcaster`."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    # Subscribed before the first byte: a page that has seen ": ready" misses nothing after.
    # aclosing: the subscription ends as soon as the page goes away (a write fails).
    async with contextlib.aclosing(_manager(request).broadcaster.messages()) as messages:
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            await response.write(b"retry: 1000\n: ready\n\n")
            async for message in messages:
                await response.write(f"data: {json.dumps(message)}\n\n".encode())
    return response


# -- one camera -----------------------------------------------------------------------------------


@routes.get("/api/c/{cid}/status")
async def status(request: web.Request) -> web.Response:
    return web.json_response(await _manager(request).status(_slot(request)))


@routes.get("/api/c/{cid}/properties")
async def properties(request: web.Request) -> web.Response:
    return web.json_response(await _manager(request).properties(_slot(request)))


@routes.post("/api/c/{cid}/property")
async def set_property(request: web.Request) -> web.Response:
    body = await _json_body(request)
    code, index, text = body.get("code"), body.get("index"), body.get("text")
    if not isinstance(code, int):
        raise UsageError("code: the property's code, a number")
    if index is not None and not isinstance(index, int):
        raise UsageError("index: a number")
    if text is not None and not isinstance(text, str):
        raise UsageError("text: a string")
    done = await _manager(request).set_property(_slot(request), code, index=index, text=text)
    return web.json_response(done)


@routes.post("/api/c/{cid}/capture")
async def capture(request: web.Request) -> web.Response:
    manager, slot = _manager(request), _slot(request)
    result = await slot.camera().capture()
    manager.note(f"captured {', '.join(e.name for e in result) or 'nothing'}", camera=slot.id)
    await manager.announce(slot, result)
    return web.json_response([entry_json(entry) for entry in result])


@routes.post("/api/c/{cid}/focus")
async def focus(request: web.Request) -> web.Response:
    """Half-press: autofocus, where the vendor has an operation for it (the camera's extension:
    :meth:`ptpkit.aio.Camera.half_press`, let go at once); 501 where it has none."""
    manager, slot = _manager(request), _slot(request)
    await slot.camera().half_press()
    manager.note("focused (half-press)", camera=slot.id)
    return web.json_response({"focused": True})


@routes.get("/api/c/{cid}/live.mjpg")
async def live(request: web.Request) -> web.StreamResponse:
    """The live view as MJPEG (``multipart/x-mixed-replace``: what an ``<img>`` shows)."""
    slot = _slot(request)
    slot.camera()
    assert slot.hub is not None
    response = web.StreamResponse(
        headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            "Cache-Control": "no-store",
        }
    )
    # aclosing: this viewer leaves the hub as soon as it goes away (the last one's leaving
    # ends live view on the camera).
    async with contextlib.aclosing(slot.hub.frames()) as frames:
        with contextlib.suppress(ConnectionResetError):
            async for frame in frames:
                if not response.prepared:
                    await response.prepare(request)
                head = (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(frame.jpeg)}\r\n"
                    f"X-Frame-Sequence: {frame.sequence}\r\n\r\n"
                )
                await response.write(head.encode() + frame.jpeg + b"\r\n")
    if not response.prepared:
        raise web.HTTPServiceUnavailable(text=f"no live view: {slot.hub.error}\n")
    return response


#: The most cameras one live-view WebSocket follows.
MAX_SOCKET_CAMERAS: Final = 64


@routes.get("/api/live.ws")
async def live_socket(request: web.Request) -> web.WebSocketResponse:
    """Several cameras' live views on one connection (the grid: a browser opens at most six
    HTTP/1.1 connections to a server, one MJPEG stream each would starve the page). The page
    sends the camera ids it shows (a JSON list); each binary message is one frame: a byte with
    the id's length, the id, the JPEG. Each camera's newest frame is sent when the connection
    can take it; older ones are skipped."""
    manager = _manager(request)
    socket = web.WebSocketResponse(heartbeat=30.0, max_msg_size=64 * 1024)
    await socket.prepare(request)
    newest: dict[str, bytes] = {}
    fresh = asyncio.Event()
    feeders: dict[str, asyncio.Task[None]] = {}

    async def feed(slot: Slot) -> None:
        assert slot.hub is not None
        async with contextlib.aclosing(slot.hub.frames()) as frames:
            async for frame in frames:
                newest[slot.id] = frame.jpeg
                fresh.set()

    async def send() -> None:
        while True:
            await fresh.wait()
            fresh.clear()
            while newest:
                slot_id, jpeg = newest.popitem()
                name = slot_id.encode()
                await socket.send_bytes(bytes([len(name)]) + name + jpeg)

    sender = asyncio.create_task(send())
    try:
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                wanted = json.loads(message.data)
            except json.JSONDecodeError:
                break
            if not isinstance(wanted, list) or len(wanted) > MAX_SOCKET_CAMERAS:
                break
            chosen = {
                manager.slots[w].id
                for w in wanted
                if isinstance(w, str) and w in manager.slots and manager.slots[w].hub is not None
            }
            for slot_id in set(feeders) - chosen:
                feeders.pop(slot_id).cancel()
            for slot_id in chosen - set(feeders):
                feeders[slot_id] = asyncio.create_task(feed(manager.slots[slot_id]))
    finally:
        tasks = [sender, *feeders.values()]
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
    return socket


# -- the gallery ----------------------------------------------------------------------------------


@routes.get("/api/c/{cid}/storages")
async def storages(request: web.Request) -> web.Response:
    return web.json_response(await _manager(request).storages(_slot(request)))


@routes.get("/api/c/{cid}/folder")
async def folder(request: web.Request) -> web.Response:
    q = request.query
    page_ = await _manager(request).folder_page(
        _slot(request),
        _int(q.get("storage"), "storage"),
        _int(q.get("parent"), "parent", ROOT),
        max(0, _int(q.get("offset"), "offset", 0)),
        _int(q.get("limit"), "limit", 100),
    )
    return web.json_response(page_)


@routes.get("/api/c/{cid}/thumb/{handle}")
async def thumb(request: web.Request) -> web.Response:
    slot = _slot(request)
    handle = _int(request.match_info["handle"], "handle")
    data = await slot.camera().thumbnail(handle)
    return web.Response(
        body=data, content_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"}
    )


class _ResponseSink:
    """A data phase straight to an HTTP response (a chunk in memory at a time)."""

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response

    def start(self, total_bytes: int | None) -> None:
        return None

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        await self._response.write(bytes(chunk))

    def finish(self) -> None:
        return None


async def _read_into(slot: Slot, entry: Entry, sink: Any) -> None:
    result = await slot.camera().transaction(Op.GET_OBJECT, [entry.handle], into=sink)
    if result.code != Rc.OK:
        raise response_error_class(result.code)(
            result.code, name=result.name, operation=Op.GET_OBJECT, operation_name="GetObject"
        )


def _disposition(kind: str, name: str) -> str:
    safe = safe_filename(name)
    ascii_name = safe.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(safe)}"


@routes.get("/api/c/{cid}/object/{handle}")
async def object_(request: web.Request) -> web.StreamResponse:
    manager, slot = _manager(request), _slot(request)
    entry = await manager.entry(slot, _int(request.match_info["handle"], "handle"))
    if entry.is_folder:
        raise UsageError(f"{entry.name} is a folder")
    kind = "attachment" if request.query.get("download") else "inline"
    content_type = mimetypes.guess_type(safe_filename(entry.name))[0]
    response = web.StreamResponse(
        headers={
            "Content-Type": content_type or "application/octet-stream",
            "Content-Disposition": _disposition(kind, entry.name),
            "Cache-Control": "private, max-age=600",
        }
    )
    if entry.size != _SIZE_UNKNOWN:
        response.content_length = entry.size
    await response.prepare(request)
    await _read_into(slot, entry, _ResponseSink(response))
    return response


@routes.post("/api/c/{cid}/selection")
async def keep_selection(request: web.Request) -> web.Response:
    """Keep a selection for ``GET zip?selection=NAME`` (any length; a URL is not)."""
    manager, slot = _manager(request), _slot(request)
    handles = _handles((await _json_body(request)).get("handles"))
    return web.json_response({"selection": manager.keep_selection(slot, handles)})


@routes.get("/api/c/{cid}/zip")
async def zip_(request: web.Request) -> web.StreamResponse:
    """The selected objects as one zip, streamed (``?handles=1,2,3``, or
    ``?selection=NAME`` from ``POST selection``)."""
    manager, slot = _manager(request), _slot(request)
    kept = request.query.get("selection")
    if kept is not None:
        handles = manager.selection(slot, kept)
    else:
        raw = request.query.get("handles", "")
        handles = _handles([_int(h, "handle") for h in raw.split(",") if h])
    entries = [await manager.entry(slot, h) for h in handles]
    files = [e for e in entries if not e.is_folder]
    if not files:
        raise UsageError("the selection has no files")
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": _disposition("attachment", f"ptpkit-{slot.id}.zip"),
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)

    async def read(entry: Entry, sink: MemberSink) -> None:
        await _read_into(slot, entry, sink)

    try:
        total = await stream_zip(files, read, response.write)
    except PTPError as exc:
        # The response has begun: the browser sees the download fail (the connection ends
        # without the zip's directory), the event log says why.
        manager.note(f"zip stopped: {exc}", camera=slot.id, level="error")
        raise
    manager.note(f"zip of {len(files)} file(s), {total} bytes sent", camera=slot.id)
    return response


@routes.post("/api/c/{cid}/delete")
async def delete(request: web.Request) -> web.Response:
    manager, slot = _manager(request), _slot(request)
    handles = _handles((await _json_body(request)).get("handles"))
    deleted = []
    for handle in handles:
        await slot.camera().delete(handle)
        slot.entries.pop(handle, None)
        deleted.append(handle)
        manager.broadcaster.publish({"type": "removed-object", "camera": slot.id, "handle": handle})
    manager.note(f"deleted {len(deleted)} object(s)", camera=slot.id)
    return web.json_response({"deleted": deleted})


@routes.post("/api/c/{cid}/save")
async def save(request: web.Request) -> web.Response:
    """Download objects into the server's download folder (no path comes from the page)."""
    manager, slot = _manager(request), _slot(request)
    handles = _handles((await _json_body(request)).get("handles"))
    folder_ = manager.download_dir
    folder_.mkdir(parents=True, exist_ok=True)
    saved = []
    for handle in handles:
        entry = await slot.camera().entry(handle)
        if entry.is_folder:
            continue
        path = await slot.camera().download(entry, folder_)
        if path is not None:
            saved.append(path.name)
    manager.note(f"saved {len(saved)} file(s) in {folder_}", camera=slot.id)
    return web.json_response({"saved": saved})


def upload_name(name: str) -> str:
    """A browser's file name as a camera object name: the last component, made safe."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return safe_filename(base, fallback="upload")


@routes.post("/api/c/{cid}/upload")
async def upload(request: web.Request) -> web.Response:
    """Files dropped on the page (multipart), each into the folder ``?storage=&parent=``."""
    manager, slot = _manager(request), _slot(request)
    storage_id = _int(request.query.get("storage"), "storage")
    parent = _int(request.query.get("parent"), "parent", ROOT)
    reader = await request.multipart()
    sent = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.filename:
            continue
        name = upload_name(part.filename)
        with tempfile.SpooledTemporaryFile(UPLOAD_SPOOL_BYTES) as spool:
            while chunk := await part.read_chunk(256 * 1024):
                await asyncio.to_thread(spool.write, chunk)
            spool.seek(0)
            entry = await slot.camera().upload(
                spool,  # type: ignore[arg-type]
                name=name,
                storage_id=storage_id,
                folder=None if parent == ROOT else parent,
            )
        sent.append(entry)
        manager.note(f"uploaded {entry.name} ({entry.size} bytes)", camera=slot.id)
    await manager.announce(slot, sent)
    return web.json_response([entry_json(entry) for entry in sent])


__all__ = ["CONFIGURED", "GUARD", "MANAGER", "errors", "log", "routes"]
