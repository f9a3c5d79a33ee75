"""A real browser (Debian's headless Chromium, driven by Selenium through Debian's chromedriver)
opens the ``liveview --http`` page: frames arrive in its <img> and the overlay shows the
camera's state, and follows it when a property changes.

Selenium Manager never runs (it would download a driver): the driver and the browser are
Debian's, named by path. A missing browser skips the test on a developer's machine and fails it
in CI (``CI=true``), where ``.ci/run`` installs ``chromium`` and ``chromium-driver``, as the
gphoto2 tests do (tests/interop/conftest.py).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ptpkit.cli import liveview_http
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.nikon import nikon_state
from ptpkit.virtual.server import PtpIpServer

from .conftest import Cli
from .test_liveview_http import WAIT_S, FakeFrame, FedCamera, fed, running

__all__ = ["fed"]  # the fixture, used by name below

#: Where Debian's packages put them (chromium's wrapper script; chromium-driver's link);
#: another system names its own with these variables.
CHROMIUM = os.environ.get("PTPKIT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PTPKIT_CHROMEDRIVER", "/usr/bin/chromedriver")


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


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
    # Selenium skips its Manager when the Service names the driver (selenium's
    # driver_finder.py); were it to run anyway, it must not go online.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The page's <img> is a stream that never ends loading: get() returns at DOMContentLoaded.
    options.page_load_strategy = "eager"
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(argument)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(WAIT_S)
        yield driver
    finally:
        driver.quit()


def numbered_jpeg(number: int) -> bytes:
    image = Image.new("RGB", (64, 48), (number % 16 * 16, number // 16 % 16 * 16, 128))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


#: The width and colour of the <img>'s current picture, drawn on a canvas (same origin:
#: readable).
_COLOUR_AT_CORNER = """
const img = document.getElementById("stream");
if (img.naturalWidth === 0) { return null; }
const canvas = document.createElement("canvas");
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
const ctx = canvas.getContext("2d");
ctx.drawImage(img, 0, 0);
const pixel = ctx.getImageData(2, 2, 1, 1).data;
return [img.naturalWidth, pixel[0], pixel[1]];
"""


def test_the_page_shows_the_frames_and_the_state(fed: FedCamera, browser: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    with running(fed, state_interval_s=3600) as served:
        browser.get(served.url)
        wait = WebDriverWait(browser, WAIT_S)
        # Frames whose colour is their number (red: number % 16, green: number // 16, in
        # steps of 16), so the page's picture tells which frame it shows. The test sends a new
        # frame between looks at the page (paced by the browser's answers, no clock) until the
        # page has shown four different frames: each proves frames arrive through the stream.
        # (Chromium shows a part once the next one begins, so it is a frame behind.)
        wait.until(lambda _: served.server.streams == 1)
        shown: list[int] = []
        number = 0
        deadline = time.monotonic() + WAIT_S
        while len(shown) < 4:
            assert time.monotonic() < deadline, f"the page showed only frames {shown}"
            assert number < 255, f"the page showed only frames {shown}"  # colours wrap at 256
            number += 1
            fed.reader.frames.put(FakeFrame(numbered_jpeg(number), 64, 48, number, float(number)))
            got = browser.execute_script(_COLOUR_AT_CORNER)
            if got is None:
                continue
            width, red, green = got
            assert width == 64
            frame = round(red / 16) + 16 * round(green / 16)
            if not shown or frame != shown[-1]:
                shown.append(frame)
        assert shown == sorted(shown)
        assert shown[-1] <= number

        def iso_text(driver: Any) -> str:
            # Read in the page: the overlay is rebuilt at each update (an element found from
            # here could be replaced before its text is read).
            return str(
                driver.execute_script(
                    "const e = document.querySelector('#exposure [data-key=\"iso\"]');"
                    'return e ? e.textContent : "";'
                )
            )

        wait.until(lambda driver: iso_text(driver).endswith("200"))
        overlay = browser.execute_script('return document.getElementById("bottom").textContent;')
        assert "Battery" in overlay
        assert "Shots left" in overlay
        fed.cam.set_property("iso", 1600)
        wait.until(lambda driver: iso_text(driver).endswith("1600"))
    assert isinstance(served, liveview_http.Running)


#: A digest of the <img>'s current picture (its pixels, drawn on a canvas).
_PICTURE_DIGEST = """
const img = document.getElementById("stream");
if (img.naturalWidth === 0) { return null; }
const canvas = document.createElement("canvas");
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
const ctx = canvas.getContext("2d");
ctx.drawImage(img, 0, 0);
const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
let digest = 0;
for (let i = 0; i < data.length; i += 7) { digest = (digest * 31 + data[i]) >>> 0; }
return [img.naturalWidth, img.naturalHeight, digest];
"""


def test_the_page_of_the_liveview_command_on_the_virtual_nikon(
    cli: Cli, card: Path, browser: Any
) -> None:
    """``ptpkit liveview --http`` as users run it, against the virtual Nikon's animated live
    view over PTP/IP: the browser's picture has the camera's frame size and keeps changing, and
    the overlay shows the camera's ISO."""
    from selenium.webdriver.support.ui import WebDriverWait

    personality = personality_for("nikon", {"liveview_size": "160x120"})
    with (
        VirtualCamera(card, personality=personality) as vcam,
        PtpIpServer(vcam, host="127.0.0.1", port=0) as server,
    ):
        process = cli.popen("--camera", server.url, "liveview", "--http", "127.0.0.1:0")
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.match(r"serving live view at (http://127\.0\.0\.1:\d+/)$", line.strip())
        assert match, line
        browser.get(match.group(1))
        wait = WebDriverWait(browser, WAIT_S)
        first = wait.until(lambda driver: driver.execute_script(_PICTURE_DIGEST))
        assert first[:2] == [160, 120]
        # The picture moves and carries its frame number: a new digest is a new frame shown.
        digests = {first[2]}
        while len(digests) < 4:
            digests.add(wait.until(lambda driver: driver.execute_script(_PICTURE_DIGEST))[2])

        def iso_text(driver: Any) -> str:
            return str(
                driver.execute_script(
                    "const e = document.querySelector('#exposure [data-key=\"iso\"]');"
                    'return e ? e.textContent : "";'
                )
            )

        # The overlay's item: its label, then the camera's value ("ISO" "200").
        iso = wait.until(iso_text)
        assert iso.startswith("ISO")
        assert iso[3:].strip().isdigit()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=WAIT_S * 2)
        assert process.returncode == 0, stderr
        assert not nikon_state(vcam).live_view
