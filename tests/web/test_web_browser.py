"""``ptpkit web`` in a real browser: Debian's headless Chromium, driven by Selenium through
Debian's chromedriver (nothing downloaded), against virtual cameras (a Canon EOS and a Nikon)
served in this process: live view updates, a capture appears in the gallery, a property set in
the page reaches the camera and one changed on the camera reaches the page, and a zip download
holds the selected files. Screenshots of the main views are written to the test's folder, and
also to ``$PTPKIT_SCREENSHOTS_DIR`` when it is set (``docs/screenshots`` holds the README's).

A missing browser skips the test on a developer's machine and fails it in CI (``CI=true``), as
tests/cli/test_liveview_browser.py does.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import threading
import time
import zipfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ptpkit.core.datatypes import Value
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.canon_eos import eos_state
from ptpkit.web import CameraManager, Running, start

CHROMIUM = os.environ.get("PTPKIT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PTPKIT_CHROMEDRIVER", "/usr/bin/chromedriver")
#: Bound on every wait for the page or the camera.
WAIT_S = 20.0
#: Canon EOS ISO (codes/canon.py EOS_ISOSpeed).
EOS_ISO = 0xD103

_T = TypeVar("_T")


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Server:
    """``ptpkit web`` on its own event loop in a thread (Selenium's calls block)."""

    def __init__(self, cameras: list[tuple[str, dict[str, Any]]], download_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.manager: CameraManager | None = None
        self.running: Running | None = None
        self._cameras = cameras
        self._download_dir = download_dir
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Server:
        self._thread.start()
        self.manager = CameraManager(download_dir=self._download_dir)
        self.running = self.call(start(self.manager, host="127.0.0.1", cameras=self._cameras))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.running is not None:
            self.call(self.running.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT_S)
        self.loop.close()

    def call(self, work: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(WAIT_S)

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.url


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -e .[dev])")
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            _missing(f"{path} is missing (.ci/run installs chromium and chromium-driver)")
    monkeypatch.setenv("SE_OFFLINE", "true")
    downloads = tmp_path / "browser-downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The live view is a stream that never ends loading.
    options.page_load_strategy = "eager"
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--window-size=1400,900",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(WAIT_S)
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        driver.downloads = downloads
        yield driver
    finally:
        driver.quit()


def wait_for(what: str, check: Callable[[], _T | None]) -> _T:
    """``check()``'s first true answer, looked for until WAIT_S (no sleeps: each look is a
    round trip to the browser or to the server's loop)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")


def screenshot(browser: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"web-{name}.png"
    assert browser.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("PTPKIT_SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


#: A digest of the live view's current picture (drawn on a canvas: same origin, readable).
_LIVE_DIGEST = """
const img = document.getElementById("live");
if (!img.complete || img.naturalWidth === 0) { return null; }
const canvas = document.createElement("canvas");
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
const ctx = canvas.getContext("2d");
ctx.drawImage(img, 0, 0);
return Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data
    .filter((_, i) => i % 97 === 0)).join(",");
"""


#: Drops a file (name, text) on the page's drop zone, as a user's drag and drop does.
_DROP_FILE = """
const data = new DataTransfer();
data.items.add(new File([arguments[1]], arguments[0], {type: "text/plain"}));
const zone = document.getElementById("drop");
zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
"""
#: Ticks the checkbox of the gallery tile of this name.
_CLICK_CHECKBOX = """
const tile = [...document.querySelectorAll(".item")].find((t) => t.dataset.name === arguments[0]);
tile.querySelector("input").click();
"""
#: The gallery's names, in the page's order.
_NAMES = 'return [...document.querySelectorAll(".item")].map((t) => t.dataset.name);'
#: Clicks the gallery tile of this name, if it is there.
_CLICK_TILE = """
const tile = [...document.querySelectorAll(".item")].find((t) => t.dataset.name === arguments[0]);
if (tile) { tile.click(); return true; }
return false;
"""


def test_the_page_in_a_browser(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    eos = VirtualCamera(personality=personality_for("canon-eos"))
    nikon = VirtualCamera(personality=personality_for("nikon"))
    cameras = [("virtual:", {"camera": eos}), ("virtual:?model=nikon", {"camera": nikon})]
    with Server(cameras, tmp_path / "saved") as server:

        def names() -> list[str]:
            return list(browser.execute_script(_NAMES))

        assert server.manager is not None
        slot = server.manager.get("c1")
        cam = slot.camera()

        def iso_on_camera() -> str:
            return server.call(cam.describe_property(EOS_ISO)).current_text

        browser.get(server.url)
        wait_for("the page", lambda: browser.find_element(By.TAG_NAME, "body").get_attribute(
            "data-ready") == "yes")  # fmt: skip

        # -- live view: the picture in the page changes, frame after frame.
        seen: set[str] = set()

        def new_picture() -> bool:
            digest = browser.execute_script(_LIVE_DIGEST)
            if digest:
                seen.add(hashlib.sha256(digest.encode()).hexdigest())
            return len(seen) >= 3

        wait_for("three different live-view pictures", new_picture)
        assert slot.hub is not None
        assert slot.hub.viewers == 1
        overlay = wait_for("the overlay", lambda: browser.find_element(By.ID, "overlay").text)
        assert "ISO" in overlay
        assert "Shutter" in overlay

        # -- a property set in the page reaches the camera.
        control = Select(browser.find_element(By.CSS_SELECTOR, f'select[data-code="{EOS_ISO}"]'))
        control.select_by_visible_text("ISO 400")
        wait_for("ISO 400 on the camera", lambda: iso_on_camera() == "ISO 400")

        # -- one changed on the camera (its dial) reaches the page, control and overlay.
        desc = server.call(cam.describe_property(EOS_ISO))
        assert desc.allowed is not None
        value: Value = next(v for v in desc.allowed if desc.format(v) == "ISO 1600")
        from ptpkit.core.canon_eos import encode_prop_value

        assert (
            eos_state(eos).set(EOS_ISO, encode_prop_value(EOS_ISO, value), by_host=False) == 0x2001
        )

        def page_iso() -> str:
            # Read in one script: the control is replaced when a new value arrives.
            return str(browser.execute_script(
                f'const s = document.querySelector(\'select[data-code="{EOS_ISO}"]\');'
                "return s ? s.options[s.selectedIndex].text : null;"))  # fmt: skip

        wait_for("ISO 1600 in the page", lambda: page_iso() == "ISO 1600")
        wait_for("ISO 1600 in the overlay",
                 lambda: "ISO 1600" in browser.find_element(By.ID, "overlay").text)  # fmt: skip
        screenshot(browser, tmp_path, "camera")

        # -- the gallery: into DCIM/100PTPKT, where the EOS puts its pictures.
        browser.find_element(By.ID, "tab-gallery").click()
        for folder in ("DCIM", "100PTPKT"):
            # Found and clicked in one script: the gallery is redrawn as pages arrive.
            wait_for(folder, lambda f=folder: browser.execute_script(_CLICK_TILE, f))  # type: ignore[misc]
        wait_for("the folder's files", lambda: names() == [
            "IMG_0004.JPG", "IMG_0003.JPG", "IMG_0002.JPG", "IMG_0001.JPG"])  # fmt: skip

        # -- a capture from the camera view appears in the gallery (through its event).
        browser.find_element(By.ID, "tab-camera").click()
        browser.find_element(By.ID, "capture").click()
        browser.find_element(By.ID, "tab-gallery").click()
        wait_for("the new picture in the gallery", lambda: len(names()) == 5)
        assert names()[0] == "IMG_0005.JPG"  # newest first
        new_handle = browser.execute_script(
            'return Number(document.querySelector(".item").dataset.handle);'
        )
        assert eos.find(new_handle) is not None

        # -- select two pictures, download them as a zip.
        tiles = browser.find_elements(By.CSS_SELECTOR, ".item input")
        tiles[0].click()
        tiles[1].click()
        wait_for("the zip link", lambda: "(2)" in browser.find_element(By.ID, "zip").text)
        screenshot(browser, tmp_path, "gallery")
        chosen = names()[:2]
        browser.find_element(By.ID, "zip").click()

        def finished() -> list[Path]:
            # Chromium may show the final name before the last bytes are in: a zip is
            # complete when its central directory (written last) is there.
            files = list(browser.downloads.iterdir())
            if any(p.suffix == ".crdownload" for p in files):
                return []
            return [p for p in files if p.suffix == ".zip" and zipfile.is_zipfile(p)]

        [archive_path] = wait_for("the zip download", finished)
        with zipfile.ZipFile(archive_path) as archive:
            assert archive.namelist() == chosen
            for name in chosen:
                entry = server.call(cam.find(f"/DCIM/100PTPKT/{name}"))
                assert archive.read(name) == server.call(cam.read(entry))

        # -- upload by drag and drop: a file dropped on the page lands in the open folder.
        browser.execute_script(_DROP_FILE, "NOTE.TXT", "dropped on the page")
        wait_for("the uploaded file in the gallery", lambda: "NOTE.TXT" in names())
        note = server.call(cam.find("/DCIM/100PTPKT/NOTE.TXT"))
        assert server.call(cam.read(note)) == b"dropped on the page"

        # -- delete, after the page's confirmation (answered yes here).
        browser.execute_script("window.confirm = () => true;")
        browser.find_element(By.ID, "select-none").click()
        browser.execute_script(_CLICK_CHECKBOX, "NOTE.TXT")
        browser.find_element(By.ID, "delete").click()
        wait_for("the deleted file gone from the page", lambda: "NOTE.TXT" not in names())
        assert eos.find(note.handle) is None

        # -- every camera's live view at once.
        browser.find_element(By.ID, "tab-grid").click()
        wait_for("two live tiles", lambda: len([
            i for i in browser.find_elements(By.CSS_SELECTOR, ".tile img")
            if browser.execute_script("return arguments[0].naturalWidth", i)]) == 2)  # fmt: skip
        screenshot(browser, tmp_path, "grid")
        log = browser.find_element(By.ID, "log").text
        assert "captured IMG_0005.JPG" in log
        assert "set to ISO 400" in log
