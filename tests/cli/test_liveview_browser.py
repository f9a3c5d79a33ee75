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
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ptpkit.cli import liveview_http

from .test_liveview_http import WAIT_S, FakeFrame, FedCamera, fed, running

__all__ = ["fed"]  # the fixture, used by name below

#: Where Debian's packages put them (chromium's wrapper script; chromium-driver's link).
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -e .[dev])")
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            _missing(f"{path} is missing (.ci/run installs chromium and chromium-driver)")
    # Belt and braces: were Selenium Manager to run anyway, it must not go online.
    os.environ["SE_OFFLINE"] = "true"
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
