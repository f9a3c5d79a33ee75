"""The Fujifilm client (``fuji`` extension) against the virtual Fujifilm X body (``fuji-x``,
built independently from vendors.md section 4), in process and over the Fujifilm PTP/IP variant
on 127.0.0.1: capture with its preview (and a second one: the preview was fetched), get/set by
name, the exposure state, events, live view.

Skipped only while the ``fuji-x`` personality has not landed (no ``ptpkit.virtual.fujifilm``,
or no model of that name); it runs as soon as it does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip(
    "ptpkit.virtual.fujifilm", reason="the virtual fuji-x personality has not landed yet"
)

from ptpkit.virtual.models import MODELS, personality_for

if "fuji-x" not in MODELS:
    pytest.skip("the fuji-x personality is not registered yet", allow_module_level=True)

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.codes.common import Ec
from ptpkit.transports.inprocess import InProcessTransport
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.network import network_server

FILM = 0xD001


@pytest.fixture(params=["inprocess", "fuji"])
def camera(request: pytest.FixtureRequest) -> Iterator[Camera]:
    virtual = VirtualCamera(personality=personality_for("fuji-x"))
    with virtual:
        if request.param == "inprocess":
            transport = InProcessTransport(virtual, url="virtual:?model=fuji-x")
            with Camera(transport, timeout_s=10) as cam:
                yield cam
        else:
            with (
                network_server(virtual, "127.0.0.1", 0, variant="fuji") as server,
                ptpkit.connect(server.url, timeout_s=10) as cam,
            ):
                assert cam.transport.kind == "fujiptpip"
                yield cam


def test_the_url_form_chooses_the_fuji_extension() -> None:
    with ptpkit.connect("virtual:?model=fuji-x", timeout_s=10) as cam:
        assert "fuji" in [extension.name for extension in cam.extensions]


def test_get_and_set_by_name(camera: Camera) -> None:
    assert "fuji" in [extension.name for extension in camera.extensions]
    description = camera.describe_property("film-simulation")
    assert description.allowed
    others = [v for v in description.allowed if v != description.current]
    assert others
    camera.set_property("film-simulation", description.format(others[0]))
    assert camera.get_property("film-simulation") == others[0]
    # The X-T2 lists the standard ExposureIndex too (libgphoto2's iso widget drives it):
    # "iso" is then the standard one, "fuji-iso" Fujifilm's with its auto flags.
    assert camera.describe_property("iso").code in (0x500F, 0xD02A)
    fuji_iso = camera.describe_property("fuji-iso")
    assert fuji_iso.code == 0xD02A
    assert fuji_iso.allowed
    target = next(v for v in fuji_iso.allowed if v != fuji_iso.current)
    camera.set_property("fuji-iso", fuji_iso.format(target))
    assert camera.get_property("fuji-iso") == target
    assert camera.get_property_text("iso")


def test_state_is_the_bodys_own_list(camera: Camera) -> None:
    state = camera.exposure_state()
    assert state is not None
    assert state
    codes = [item.code for item in state]
    for item in state:
        assert item.text
    if camera.transport.kind == "fujiptpip":
        # In remote mode (Wi-Fi, after InitiateOpenCapture) the list is the exposure state;
        # outside it (USB here) the body lists what changed: CameraState and the object count.
        assert 0x500E in codes
        assert FILM in codes
    else:
        assert 0xDF00 in codes


def test_capture_with_preview_twice(camera: Camera) -> None:
    wifi = camera.transport.kind == "fujiptpip"
    first = camera.capture(timeout_s=15)
    assert [e.code for e in first.events][-1] == Ec.CAPTURE_COMPLETE
    second = camera.capture(timeout_s=15)  # fires again (over Wi-Fi: the preview was fetched)
    if wifi:
        assert 0xC001 in [e.code for e in first.events]
        assert first.preview[:2] == b"\xff\xd8"
        assert second.preview[:2] == b"\xff\xd8"
    else:  # over USB a body announces no preview (vendors.md 4.2, libgphoto2)
        assert first.preview == second.preview == b""
    # Each shot is one picture: the folder the first shot creates (100_FUJI) is not one.
    assert [entry.name for entry in first] == ["DSCF0001.JPG"]
    assert [entry.name for entry in second] == ["DSCF0002.JPG"]
    for entry in [*first, *second]:
        assert camera.read(entry)[:2] == b"\xff\xd8"


def test_a_change_made_elsewhere_is_an_event() -> None:
    """Two programs on one body (in process): what one sets, the other hears of, as a
    DevicePropChanged naming the property (the body's own event, or the 0xD212 poller's)."""
    virtual = VirtualCamera(personality=personality_for("fuji-x"))
    with (
        virtual,
        Camera(InProcessTransport(virtual, url="virtual:?model=fuji-x"), timeout_s=10) as seen,
        Camera(InProcessTransport(virtual, url="virtual:?model=fuji-x"), timeout_s=10) as other,
    ):
        description = other.describe_property("film-simulation")
        assert description.allowed
        target = next(v for v in description.allowed if v != description.current)
        other.set_property(FILM, target)
        event = seen.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=10)
        while event.params[:1] != (FILM,):
            event = seen.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=10)
        assert seen.get_property(FILM) == target


def test_live_view_frames(camera: Camera) -> None:
    source = camera.live_view_source()
    source.start()
    try:
        frames = [source.frame() for _ in range(2)]
    finally:
        source.stop()
    got = [frame for frame in frames if frame]
    assert got
    assert got[0][:2] == b"\xff\xd8"
