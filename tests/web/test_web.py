"""``ptpkit web`` over aiohttp's test client against the virtual camera (in process): the API,
the streams, the gallery's bounded work, the zip, and the security rules.

pytest-asyncio is not a dependency: each test runs its scenario with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

import ptpkit.aio
from ptpkit.client.files import Entry
from ptpkit.codes.common import Ec
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.canon_eos import EVF_OUTPUT_DEVICE_PROP, EVF_PC, eos_state
from ptpkit.web import CameraManager, Guard, create_app, parse_listen
from ptpkit.web.cameras import browser_may_open
from ptpkit.web.routes import upload_name
from ptpkit.web.security import CSRF_HEADER, TOKEN_COOKIE
from ptpkit.web.zipstream import member_names, stream_zip

#: Bound on any wait for something the server pushes.
WAIT_S = 20.0
ISO = 0x500F


@dataclass
class Served:
    client: TestClient[Any, Any]
    manager: CameraManager
    guard: Guard
    camera: VirtualCamera

    @property
    def csrf(self) -> dict[str, str]:
        return {CSRF_HEADER: self.guard.csrf}

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        assert response.status == 200, (response.status, await response.text())
        return await response.json()

    async def post(self, path: str, body: Any = None) -> Any:
        return await self.json("POST", path, json=body, headers=self.csrf)


@contextlib.asynccontextmanager
async def served(
    tmp_path: Path,
    camera: VirtualCamera | None = None,
    *,
    bound_host: str = "127.0.0.1",
    token: str | None = None,
) -> AsyncIterator[Served]:
    vcam = camera or VirtualCamera()
    manager = CameraManager(download_dir=tmp_path / "downloads")
    guard = Guard.for_host(bound_host, token=token)
    app = create_app(manager, guard, configured={"virtual:": {"camera": vcam}})
    async with (
        TestServer(app, host="127.0.0.1", port=0) as server,
        TestClient(server) as client,
    ):
        slot = await manager.add("virtual:", {"camera": vcam})
        assert slot.state == "connected", slot.error
        yield Served(client=client, manager=manager, guard=guard, camera=vcam)


def run(tmp_path: Path, scenario: Callable[[Served], Awaitable[None]], **kwargs: Any) -> None:
    async def main() -> None:
        async with served(tmp_path, **kwargs) as s:
            await asyncio.wait_for(scenario(s), WAIT_S)

    asyncio.run(main())


class Messages:
    """The server-sent events of one page, read as they come."""

    def __init__(self, s: Served) -> None:
        self._s = s
        self._response: Any = None

    async def __aenter__(self) -> Messages:
        self._response = await self._s.client.get("/api/events")
        assert self._response.status == 200
        assert self._response.headers["Content-Type"] == "text/event-stream"
        assert await self._response.content.readline() == b"retry: 1000\n"
        assert await self._response.content.readline() == b": ready\n"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._response.close()

    async def next(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            line = await self._response.content.readline()
            assert line, "the event stream ended"
            if line.startswith(b"data: "):
                message = json.loads(line[6:])
                if predicate(message):
                    return message


# -- the page and its files ------------------------------------------------------------------------


def test_page_carries_the_csrf_token_and_strict_headers(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        page = await s.client.get("/")
        assert page.status == 200
        assert f'content="{s.guard.csrf}"' in await page.text()
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        script = await s.client.get("/static/app.js")
        assert script.status == 200
        assert "EventSource" in await script.text()
        # Only the listed files: no path from the browser reaches the file system.
        for path in ("/static/index.html", "/static/..%2F__init__.py", "/static/%2E%2E%2Fapp.py"):
            assert (await s.client.get(path)).status == 404, path

    run(tmp_path, scenario)


# -- cameras, status, properties -------------------------------------------------------------------


def test_cameras_status_and_properties(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        cameras = await s.json("GET", "/api/cameras")
        assert [c["state"] for c in cameras] == ["connected"]
        assert cameras[0]["model"] == "ptpkit Virtual Camera"
        assert {o["label"] for o in cameras[0]["overlay"]} >= {"ISO", "Aperture", "Shutter"}
        status = await s.json("GET", "/api/c/c1/status")
        assert status["battery"] == "87%"
        assert status["storages"][0]["capacity"] > status["storages"][0]["free_bytes"] > 0
        props = {p["code"]: p for p in await s.json("GET", "/api/c/c1/properties")}
        assert props[ISO]["allowed"][:3] == ["100", "200", "400"]
        assert props[ISO]["current"] == "200"
        assert props[0x5001]["writable"] is False
        assert (await s.client.get("/api/c/c9/status")).status == 404

    run(tmp_path, scenario)


def test_a_property_set_in_the_page_reaches_the_camera_and_every_page(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        async with Messages(s) as messages:
            done = await s.post("/api/c/c1/property", {"code": ISO, "index": 4})
            assert done["current"] == "1600"
            assert s.camera.properties[ISO].current() == 1600
            pushed = await messages.next(lambda m: m["type"] == "property")
            assert pushed["property"]["current"] == "1600"
        refused = await s.client.post(
            "/api/c/c1/property", json={"code": ISO, "index": 99}, headers=s.csrf
        )
        assert refused.status == 400
        assert "no allowed value number 99" in (await refused.json())["error"]

    run(tmp_path, scenario)


def test_a_change_on_the_camera_reaches_the_page(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        async with Messages(s) as messages:
            # The camera's own dial: the value changes there and the camera says so.
            assert s.camera.properties[ISO].set(3200)
            s.camera.emit(Ec.DEVICE_PROP_CHANGED, ISO)
            # The event log first, then the property's new value.
            logged = await messages.next(lambda m: m["type"] == "log")
            assert logged["text"] == "0x4006 DevicePropChanged(0x0000500F)"
            pushed = await messages.next(lambda m: m["type"] == "property")
            assert pushed["camera"] == "c1"
            assert pushed["property"]["code"] == ISO
            assert pushed["property"]["current"] == "3200"

    run(tmp_path, scenario)


# -- capture and the gallery -----------------------------------------------------------------------


def test_capture_announces_the_new_picture_and_the_gallery_lists_it(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        async with Messages(s) as messages:
            taken = await s.post("/api/c/c1/capture")
            assert len(taken) == 1
            assert taken[0]["name"].endswith(".JPG")
            pushed = await messages.next(lambda m: m["type"] == "object")
            assert pushed["entry"]["handle"] == taken[0]["handle"]
        storage, _, parent = taken[0]["key"].partition(":")
        page = await s.json(
            "GET", f"/api/c/c1/folder?storage=0x{storage}&parent=0x{parent}&limit=10"
        )
        assert page["items"][0]["handle"] == taken[0]["handle"]  # newest first
        thumb = await s.client.get(f"/api/c/c1/thumb/{taken[0]['handle']}")
        assert thumb.status == 200
        assert (await thumb.read())[:2] == b"\xff\xd8"

    run(tmp_path, scenario)


def test_a_picture_shot_on_the_camera_appears_through_its_event(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        async with Messages(s) as messages:
            made = s.camera.capture()
            s.camera.emit(Ec.OBJECT_ADDED, made.handle)
            pushed = await messages.next(lambda m: m["type"] == "object")
            assert pushed["entry"]["handle"] == made.handle
            assert pushed["entry"]["name"] == made.name
            status = await messages.next(lambda m: m["type"] == "status")
            assert status["status"]["storages"]

    run(tmp_path, scenario)


def test_a_folder_of_ten_thousand_costs_one_listing_and_one_page(tmp_path: Path) -> None:
    vcam = VirtualCamera()
    for index in range(10_000):
        vcam.add_generated_object(10, name=f"F{index:05d}.JPG", seed=index)

    async def scenario(s: Served) -> None:
        slot = s.manager.get("c1")
        storage = (await s.json("GET", "/api/c/c1/storages"))[0]["storage"]
        before = slot.camera().transactions_run
        page = await s.json("GET", f"/api/c/c1/folder?storage={storage}&offset=0&limit=50")
        assert page["total"] >= 10_000
        assert len(page["items"]) == 50
        # One GetObjectHandles and a GetObjectInfo per object on the page, nothing more.
        assert slot.camera().transactions_run - before == 1 + 50
        assert page["items"][0]["name"] == "F09999.JPG"
        before = slot.camera().transactions_run
        again = await s.json("GET", f"/api/c/c1/folder?storage={storage}&offset=0&limit=50")
        assert again["items"] == page["items"]
        assert slot.camera().transactions_run - before == 1  # descriptions cached
        offset = page["total"] - 10
        last = await s.json("GET", f"/api/c/c1/folder?storage={storage}&offset={offset}&limit=50")
        assert len(last["items"]) == 10

    run(tmp_path, scenario, camera=vcam)


# -- files: zip, one object, delete, upload, save --------------------------------------------------


async def _files(s: Served, count: int) -> list[Entry]:
    cam = s.manager.get("c1").camera()
    return [e async for e in cam.walk() if not e.is_folder][:count]


def test_the_zip_of_a_selection_holds_the_files(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        cam = s.manager.get("c1").camera()
        files = await _files(s, 3)
        handles = ",".join(str(e.handle) for e in files)
        response = await s.client.get(f"/api/c/c1/zip?handles={handles}")
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/zip"
        assert "attachment" in response.headers["Content-Disposition"]
        archive = zipfile.ZipFile(io.BytesIO(await response.read()))
        assert archive.testzip() is None
        assert archive.namelist() == [e.name for e in files]
        for entry in files:
            assert archive.read(entry.name) == await cam.read(entry)
        # A selection kept first (any length), then its zip.
        many = [e.handle for e in files]
        kept = await s.post("/api/c/c1/selection", {"handles": many})
        again = await s.client.get(f"/api/c/c1/zip?selection={kept['selection']}")
        assert zipfile.ZipFile(io.BytesIO(await again.read())).namelist() == archive.namelist()
        gone = await s.client.get("/api/c/c1/zip?selection=nothing")
        assert gone.status == 400
        assert (await s.client.get("/api/c/c1/zip?handles=")).status == 400
        assert (await s.client.get("/api/c/c1/zip?handles=0")).status == 400

    run(tmp_path, scenario)


def test_the_zip_streams_a_chunk_at_a_time(tmp_path: Path) -> None:
    vcam = VirtualCamera()
    size = 24 * 1024 * 1024
    handle = vcam.add_generated_object(size, name="BIG.MOV", seed=7)

    async def scenario(s: Served) -> None:
        cam = s.manager.get("c1").camera()
        entry = await cam.entry(handle)
        sent: list[int] = []
        out = io.BytesIO()

        async def send(chunk: bytes) -> None:
            sent.append(len(chunk))
            out.write(chunk)

        async def read(e: Entry, sink: Any) -> None:
            await cam.transaction(0x1009, [e.handle], into=sink)

        assert await stream_zip([entry], read, send) == size
        # Memory held a chunk of the camera's data phase at a time, never the file.
        assert max(sent) < 2 * 1024 * 1024
        with zipfile.ZipFile(out) as archive:
            assert archive.getinfo("BIG.MOV").file_size == size
            assert archive.read("BIG.MOV") == await cam.read(entry)

    run(tmp_path, scenario, camera=vcam)


def _entry(handle: int, name: str) -> Entry:
    return Entry(
        handle=handle, storage_id=1, parent=0, name=name, path="/x", size=1, is_folder=False,
        object_format=0x3801,
    )  # fmt: skip


def test_camera_names_never_become_paths(tmp_path: Path) -> None:
    names = member_names(
        [
            _entry(1, "../../etc/passwd"),
            _entry(2, "a\\..\\b.jpg"),
            _entry(3, "IMG.JPG"),
            _entry(4, "img.jpg"),
            _entry(5, ".."),
        ]
    )
    assert all("/" not in n and "\\" not in n and n not in ("", ".", "..") for n in names)
    assert names[2:4] == ["IMG.JPG", "img (2).jpg"]
    assert upload_name("C:\\Users\\me\\..\\pic.jpg") == "pic.jpg"
    assert upload_name("../../x/../evil.txt") == "evil.txt"
    assert upload_name("..") == "upload"


def test_one_object_inline_and_as_a_download(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        cam = s.manager.get("c1").camera()
        entry = (await _files(s, 1))[0]
        response = await s.client.get(f"/api/c/c1/object/{entry.handle}")
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["Content-Disposition"].startswith("inline;")
        assert await response.read() == await cam.read(entry)
        download = await s.client.get(f"/api/c/c1/object/{entry.handle}?download=1")
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert (await s.client.get("/api/c/c1/object/0x7FFFFFF0")).status == 409

    run(tmp_path, scenario)


def test_delete_upload_and_save(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        cam = s.manager.get("c1").camera()
        victim = (await _files(s, 1))[0]
        async with Messages(s) as messages:
            assert await s.post("/api/c/c1/delete", {"handles": [victim.handle]}) == {
                "deleted": [victim.handle]
            }
            gone = await messages.next(lambda m: m["type"] == "removed-object")
            assert gone["handle"] == victim.handle
        assert s.camera.find(victim.handle) is None

        storage = (await s.json("GET", "/api/c/c1/storages"))[0]["storage"]
        form = FormData()
        form.add_field("file", b"hello camera", filename="../../notes.txt")
        sent = await s.json(
            "POST", f"/api/c/c1/upload?storage={storage}", data=form, headers=s.csrf
        )
        # The browser's name is one safe name on the camera (aiohttp's client escapes the
        # slashes; upload_name's own test has raw ones).
        [name] = [e["name"] for e in sent]
        assert name.endswith("notes.txt")
        assert "/" not in name
        assert await cam.read(sent[0]["handle"]) == b"hello camera"

        saved = await s.post("/api/c/c1/save", {"handles": [sent[0]["handle"]]})
        assert saved == {"saved": [name]}
        assert (tmp_path / "downloads" / name).read_bytes() == b"hello camera"
        assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == [name]
        for bad in ({"handles": []}, {"handles": ["1"]}, {"handles": [0xFFFFFFFF]}, {}):
            refused = await s.client.post("/api/c/c1/delete", json=bad, headers=s.csrf)
            assert refused.status == 400, bad

    run(tmp_path, scenario)


def test_hostile_names_are_saved_inside_the_download_folder(tmp_path: Path) -> None:
    vcam = VirtualCamera()
    handle = vcam.add_generated_object(64, name="..\\..\\evil.JPG", seed=3)

    async def scenario(s: Served) -> None:
        saved = await s.post("/api/c/c1/save", {"handles": [handle]})
        [name] = saved["saved"]
        assert "/" not in name
        assert "\\" not in name
        assert [p.name for p in (tmp_path / "downloads").iterdir()] == [name]

    run(tmp_path, scenario, camera=vcam)


# -- live view -------------------------------------------------------------------------------------


def test_live_view_is_mjpeg_and_a_camera_without_says_so(tmp_path: Path) -> None:
    eos = VirtualCamera(personality=personality_for("canon-eos"))

    async def scenario(s: Served) -> None:
        response = await s.client.get("/api/c/c1/live.mjpg")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        sequences = []
        for _ in range(3):
            assert await response.content.readline() == b"--ptpkitframe\r\n"
            headers = {}
            while (line := await response.content.readline()) != b"\r\n":
                key, _, value = line.decode().partition(":")
                headers[key] = value.strip()
            body = await response.content.readexactly(int(headers["Content-Length"]))
            assert body[:2] == b"\xff\xd8"
            assert await response.content.readexactly(2) == b"\r\n"
            sequences.append(int(headers["X-Frame-Sequence"]))
        assert sequences == sorted(set(sequences))
        hub = s.manager.get("c1").hub
        assert hub is not None
        assert hub.viewers == 1
        response.close()
        # The last viewer gone, the reader stops and live view ends on the camera.
        await hub.wait_idle()
        assert hub.viewers == 0
        output = eos_state(eos).value(EVF_OUTPUT_DEVICE_PROP)
        assert isinstance(output, int)
        assert not output & EVF_PC

    run(tmp_path, scenario, camera=eos)

    async def generic(s: Served) -> None:
        response = await s.client.get("/api/c/c1/live.mjpg")
        assert response.status == 503
        assert "no live view" in await response.text()

    run(tmp_path, generic)


# -- more cameras ----------------------------------------------------------------------------------


def test_the_page_may_open_cameras_but_not_a_local_folder(tmp_path: Path) -> None:
    assert browser_may_open("virtual:?model=nikon")
    assert browser_may_open("ptpip:192.168.1.1")
    assert not browser_may_open("virtual:/etc")
    assert not browser_may_open("virtual+usb:/home?model=generic")
    assert not browser_may_open("file:/etc/passwd")

    async def scenario(s: Served) -> None:
        added = await s.post("/api/cameras", {"url": "virtual:?model=nikon"})
        assert added["state"] == "connected"
        assert added["model"] == "Nikon Corporation D850"
        refused = await s.client.post("/api/cameras", json={"url": "virtual:/etc"}, headers=s.csrf)
        assert refused.status == 400
        assert [c["id"] for c in await s.json("GET", "/api/cameras")] == ["c1", "c2"]
        await s.post("/api/c/c2/close")
        assert [c["id"] for c in await s.json("GET", "/api/cameras")] == ["c1"]
        failed = await s.post("/api/cameras", {"url": "ptpip:127.0.0.1:1"})
        assert failed["state"] == "failed"
        assert failed["error"]

    run(tmp_path, scenario)


# -- the rules -------------------------------------------------------------------------------------


def test_state_changes_need_the_csrf_token_and_our_origin(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        capture = "/api/c/c1/capture"
        assert (await s.client.post(capture)).status == 403
        wrong = {CSRF_HEADER: "x" * len(s.guard.csrf)}
        assert (await s.client.post(capture, headers=wrong)).status == 403
        evil = {**s.csrf, "Origin": "http://evil.example"}
        assert (await s.client.post(capture, headers=evil)).status == 403
        cross = {**s.csrf, "Sec-Fetch-Site": "cross-site"}
        assert (await s.client.post(capture, headers=cross)).status == 403
        # Reading is refused to other sites too (a cross-site <img> or fetch)...
        read = await s.client.get("/api/cameras", headers={"Sec-Fetch-Site": "cross-site"})
        assert read.status == 403
        # ... but a link from elsewhere may open the page.
        nav = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
        assert (await s.client.get("/", headers=nav)).status == 200
        origin = f"http://{s.client.host}:{s.client.port}"
        ok = await s.client.post(capture, headers={**s.csrf, "Origin": origin})
        assert ok.status == 200
        assert s.camera.find((await ok.json())[0]["handle"]) is not None

    run(tmp_path, scenario)


def test_a_foreign_host_name_is_refused_on_loopback(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        # DNS rebinding: another site's name resolved to 127.0.0.1.
        rebound = await s.client.get("/api/cameras", headers={"Host": "evil.example:8080"})
        assert rebound.status == 403
        for host in ("localhost:8080", "127.0.0.1", "[::1]:80"):
            assert (await s.client.get("/api/cameras", headers={"Host": host})).status == 200

    run(tmp_path, scenario)


def test_beyond_loopback_every_request_needs_the_token(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        token = s.guard.token
        assert token
        assert len(token) >= 24
        assert (await s.client.get("/")).status == 403
        assert (await s.client.get("/api/cameras")).status == 403
        assert (await s.client.get("/?token=" + "x" * len(token))).status == 403
        page = await s.client.get(f"/?token={token}")
        assert page.status == 200
        cookie = page.cookies[TOKEN_COOKIE]
        assert cookie.value == token
        assert cookie["httponly"]
        assert cookie["samesite"] == "Strict"
        # The cookie carries it from then on (the client's jar sends it).
        assert (await s.client.get("/api/cameras")).status == 200

    run(tmp_path, scenario, bound_host="192.0.2.10")


def test_parse_listen() -> None:
    assert parse_listen("8080") == ("127.0.0.1", 8080)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("host:port", "1:70000"):
        with pytest.raises(ValueError, match="--listen"):
            parse_listen(bad)


# -- the command -----------------------------------------------------------------------------------


def test_the_command_serves_until_interrupted(tmp_path: Path) -> None:
    env = {**os.environ, "CI": "true", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "ptpkit", "web", "--listen", "127.0.0.1:0"),
            *("--camera", "virtual:", "--no-browser", "--download-dir", str(tmp_path)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("ptpkit web: http://127.0.0.1:"), first
        url = first.split()[-1]

        async def look() -> list[dict[str, Any]]:
            from aiohttp import ClientSession

            async with ClientSession() as session, session.get(url + "api/cameras") as got:
                assert got.status == 200
                return list(await got.json())

        assert [c["state"] for c in asyncio.run(look())] == ["connected"]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=WAIT_S)
        assert process.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_aio_camera_is_what_the_server_uses(tmp_path: Path) -> None:
    async def scenario(s: Served) -> None:
        assert isinstance(s.manager.get("c1").camera(), ptpkit.aio.Camera)

    run(tmp_path, scenario)


def test_half_press_where_the_vendor_has_it(tmp_path: Path) -> None:
    from ptpkit.virtual.nikon import nikon_state

    nikon = VirtualCamera(personality=personality_for("nikon"))

    async def scenario(s: Served) -> None:
        [summary] = await s.json("GET", "/api/cameras")
        assert summary["half_press"] is True
        assert await s.post("/api/c/c1/focus") == {"focused": True}
        assert nikon_state(nikon).af_drives == 1
        # The camera is busy until focused (DeviceReady): the next operation waits it out.
        assert (await s.json("GET", "/api/c/c1/status"))["battery"]

    run(tmp_path, scenario, camera=nikon)

    async def generic(s: Served) -> None:
        [summary] = await s.json("GET", "/api/cameras")
        assert summary["half_press"] is False
        refused = await s.client.post("/api/c/c1/focus", headers=s.csrf)
        assert refused.status == 501
        assert "half-press" in (await refused.json())["error"]

    run(tmp_path, generic)


def test_fujifilm_focus_button_and_a_focus_it_cannot_find(tmp_path: Path) -> None:
    """The Focus button on the virtual X-T2: Fujifilm's half press (shutter action 0xD208,
    InitiateCapture, AF status 0xD209 polled, let go) takes no picture; where the body finds
    no focus the answer is 409 with the FocusError's words."""
    from ptpkit.virtual import fujifilm as xt

    async def scenario(s: Served, af: str) -> None:
        [summary] = await s.json("GET", "/api/cameras")
        assert summary["half_press"] is True
        answer = await s.client.post("/api/c/c1/focus", headers=s.csrf)
        if af == "ok":
            assert answer.status == 200
            assert await answer.json() == {"focused": True}
        else:
            assert answer.status == 409
            assert "could not focus" in (await answer.json())["error"]
        state = xt.fuji_state(s.camera)
        assert (state.af_runs, state.captured) == (1, [])
        # Let go either way: the body is ready to shoot.
        assert s.camera.properties[xt.SHUTTER_ACTION].current() == xt.ACTION_RELEASE_FOCUS

    for af in ("ok", "fail"):
        with VirtualCamera(personality=personality_for("fuji-x", {"af": af})) as fuji:
            run(tmp_path / af, functools.partial(scenario, af=af), camera=fuji)


def test_which_cameras_the_command_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    from ptpkit.cli import web as cli_web
    from ptpkit.cli.camera_select import Selection

    @dataclass
    class Found:
        url: str
        name: str = "a camera"
        source: str = "test"

    looked: list[float] = []

    def discover(timeout_s: float) -> list[Found]:
        looked.append(timeout_s)
        return found

    monkeypatch.setattr(cli_web, "discover_cameras", discover)
    monkeypatch.delenv("PTPKIT_CAMERA", raising=False)
    found: list[Found] = []
    # Nothing named, nothing found: the virtual camera.
    assert cli_web.cameras_to_open(Selection(), ()) == [("virtual:", {})]
    # Every camera found.
    found = [Found("ptpip:192.0.2.1"), Found("usb:001,004")]
    assert [url for url, _ in cli_web.cameras_to_open(Selection(), ())] == [
        "ptpip:192.0.2.1",
        "usb:001,004",
    ]
    assert len(looked) == 2
    # Named by the command, or by the global options / environment: no discovery.
    opened = cli_web.cameras_to_open(Selection(), ("virtual:", "ptpip:192.0.2.9"))
    assert [url for url, _ in opened] == ["virtual:", "ptpip:192.0.2.9"]
    monkeypatch.setenv("PTPKIT_CAMERA", "ptpip:192.0.2.5")
    assert [url for url, _ in cli_web.cameras_to_open(Selection(), ())] == ["ptpip:192.0.2.5"]
    assert len(looked) == 2


def test_a_page_that_falls_behind_is_dropped_not_buffered() -> None:
    from ptpkit.web.hub import LOG_KEPT, SUBSCRIBER_QUEUE, Broadcaster

    async def scenario() -> None:
        hub = Broadcaster()
        slow = hub.messages()
        first = asyncio.ensure_future(slow.__anext__())
        await asyncio.sleep(0)  # let it subscribe (one turn of the loop, no clock)
        assert hub.subscribers == 1
        for number in range(SUBSCRIBER_QUEUE + 10):
            hub.publish({"type": "log", "text": str(number)})
        # Dropped when its queue filled: no more is kept for it, and its stream ends.
        assert hub.subscribers == 0
        received = [int((await first)["text"])] + [int(m["text"]) async for m in slow]
        # What it had queued, in order (the oldest gave its place to the end of the stream).
        assert received == list(range(received[0], received[0] + len(received)))
        assert len(received) < SUBSCRIBER_QUEUE
        assert len(hub.log) == LOG_KEPT

    asyncio.run(scenario())


def test_a_camera_that_goes_away_is_shown_disconnected(tmp_path: Path) -> None:
    from ptpkit.virtual.server import PtpIpServer

    other = VirtualCamera()
    server = PtpIpServer(other, host="127.0.0.1", port=0).start()

    async def scenario(s: Served) -> None:
        try:
            async with Messages(s) as messages:
                added = await s.post("/api/cameras", {"url": server.url})
                assert added["state"] == "connected"
                # The camera goes away (switched off, out of Wi-Fi range).
                await asyncio.to_thread(server.close)
                lost = await messages.next(
                    lambda m: (
                        m["type"] == "camera"
                        and m["camera"] == added["id"]
                        and m["camera_info"]["state"] == "disconnected"
                    )
                )
                assert lost["camera_info"]["error"]
            refused = await s.client.get(f"/api/c/{added['id']}/status")
            assert refused.status == 400
            assert "disconnected" in (await refused.json())["error"]
        finally:
            server.close()

    run(tmp_path, scenario)


def test_every_camera_s_live_view_on_one_websocket(tmp_path: Path) -> None:
    from aiohttp import WSMsgType, WSServerHandshakeError

    eos = VirtualCamera(personality=personality_for("canon-eos"))

    async def scenario(s: Served) -> None:
        added = await s.post("/api/cameras", {"url": "virtual:?model=nikon"})
        socket = await s.client.ws_connect(f"/api/live.ws?csrf={s.guard.csrf}")
        await socket.send_str(json.dumps(["c1", added["id"], "c99"]))
        seen: dict[str, int] = {}
        while min(seen.get("c1", 0), seen.get(added["id"], 0)) < 2:
            message = await socket.receive()
            assert message.type == WSMsgType.BINARY
            data: bytes = message.data
            name = data[1 : 1 + data[0]].decode()
            assert data[1 + data[0] : 3 + data[0]] == b"\xff\xd8"  # a JPEG
            seen[name] = seen.get(name, 0) + 1
        assert set(seen) == {"c1", added["id"]}
        await socket.close()
        hub = s.manager.get("c1").hub
        assert hub is not None
        await hub.wait_idle()
        # Another site's page cannot open it, nor one without the page's CSRF token.
        for path, headers in (
            (f"/api/live.ws?csrf={s.guard.csrf}", {"Origin": "http://evil.example"}),
            ("/api/live.ws", {}),
        ):
            with pytest.raises(WSServerHandshakeError) as refused:
                await s.client.ws_connect(path, headers=headers)
            assert refused.value.status == 403

    run(tmp_path, scenario, camera=eos)


def test_the_command_says_when_it_cannot_listen(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "ptpkit",
                "web",
                "--listen",
                f"127.0.0.1:{port}",
                "--camera",
                "virtual:",
                "--no-browser",
            ],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
