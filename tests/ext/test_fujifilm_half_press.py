"""Fujifilm's half press (``fuji`` extension, libgphoto2 config.c _put_Fuji_AFDrive) against the
virtual X-T2 (``fuji-x``), in process, as a USB device (PyUSB, vendor 0x04CB) and over
Fujifilm's PTP/IP variant, on the blocking and the asyncio Camera: the shutter action 0xD208 =
0x9300 and InitiateCapture focus without a picture, the AF status 0xD209 is polled, 0x0005 and
InitiateCapture let go; a capture after it (held or not) takes a picture; a focus failure is a
FocusError with the camera let go and still able to shoot; a focus that never ends is a
TransportTimeout on the camera's (fake) clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from tests.helpers import watch_operations

import ptpkit
import ptpkit.aio
from ptpkit.client.camera import Camera
from ptpkit.core.datasets import encode_value
from ptpkit.core.datatypes import DataType
from ptpkit.errors import FocusError, TransportTimeout, UsageError
from ptpkit.ext import FujifilmExtension, register
from ptpkit.ext.base import SetProperty, Steps, WaitProperty
from ptpkit.ext.fujifilm import FOCUS_POLL_S, FOCUS_TIMEOUT_S
from ptpkit.testing import FakeClock
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual import fujifilm as xt
from ptpkit.virtual.network import network_server
from ptpkit.virtual.responder import OperationContext

SET, GET, INITIATE = 0x1016, 0x1015, 0x100E
Sent = list[tuple[int, tuple[int, ...], bytes]]


def u16(value: int) -> bytes:
    return encode_value(DataType.UINT16, value)


def record(vcam: VirtualCamera) -> Sent:
    """What the camera is asked of the shutter action, the AF status and InitiateCapture."""
    into: Sent = []

    def seen(ctx: OperationContext) -> None:
        params = tuple(ctx.request.params)
        if ctx.request.code == INITIATE or (
            params and params[0] in (xt.SHUTTER_ACTION, xt.AF_STATUS)
        ):
            into.append((ctx.request.code, params, bytes(ctx.data or b"")))

    watch_operations(vcam, seen, [SET, GET, INITIATE])
    return into


PRESS = [(SET, (xt.SHUTTER_ACTION,), u16(0x9300)), (INITIATE, (0, 0), b"")]
READ = (GET, (xt.AF_STATUS,), b"")
RELEASE = [(SET, (xt.SHUTTER_ACTION,), u16(0x0005)), (INITIATE, (0, 0), b"")]
SHOOT = (SET, (xt.SHUTTER_ACTION,), u16(0x0304))


@pytest.fixture(params=["virtual", "virtual+usb", "fuji"])
def link(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_camera(stack: ExitStack, vcam: VirtualCamera, link: str, **keywords: object) -> Camera:
    if link == "fuji":
        server = stack.enter_context(network_server(vcam, "127.0.0.1", 0, variant="fuji"))
        cam = stack.enter_context(ptpkit.connect(server.url, timeout_s=10, **keywords))
        assert cam.transport.kind == "fujiptpip"
        return cam
    return stack.enter_context(ptpkit.connect(f"{link}:", camera=vcam, timeout_s=10, **keywords))


@pytest.fixture
def fuji(link: str) -> Iterator[tuple[VirtualCamera, Camera]]:
    with ExitStack() as stack:
        vcam = stack.enter_context(VirtualCamera(personality=personality_for("fuji-x")))
        yield vcam, open_camera(stack, vcam, link)


def test_the_plan_is_libgphoto2s_af_drive(fuji: tuple[VirtualCamera, Camera]) -> None:
    _, cam = fuji
    plan = cam.half_press_plan()
    assert plan is not None
    assert plan.name == "Fujifilm AF drive"
    assert plan.capture_releases
    assert isinstance(plan.press, Steps)
    assert plan.press.code == INITIATE
    *prepare, action, initiate, wait = plan.press.steps
    # Over USB the body is put in PC mode with USB priority first (until a capture did it).
    assert [(s.code, s.value) for s in prepare if isinstance(s, SetProperty)] == (
        [(0xD38C, 1), (0xD207, 2)] if cam.transport.kind == "usb" else []
    )
    assert action == SetProperty(code=0xD208, datatype=DataType.UINT16, value=0x9300)
    assert (initiate.code, initiate.params) == (INITIATE, (0, 0))  # type: ignore[union-attr]
    assert isinstance(wait, WaitProperty)
    assert (wait.code, wait.leaves, wait.error) == (0xD209, 1, FocusError)
    assert (wait.interval_s, wait.timeout_s) == (FOCUS_POLL_S, FOCUS_TIMEOUT_S)
    assert [code for code, _ in wait.failures] == [3]


def test_half_press_focuses_without_a_picture(fuji: tuple[VirtualCamera, Camera]) -> None:
    vcam, cam = fuji
    state = xt.fuji_state(vcam)
    sent = record(vcam)
    objects = state.object_count()
    assert cam.half_press().name == "Fujifilm AF drive"
    # Focus, the status read while 1 (focusing) until 2, then the focus lock let go.
    assert sent == [*PRESS, READ, READ, *RELEASE]
    assert state.af_runs == 1
    assert state.captured == []  # InitiateCapture in AF mode took no picture
    assert state.object_count() == objects
    assert vcam.properties[xt.SHUTTER_ACTION].current() == xt.ACTION_RELEASE_FOCUS
    assert vcam.properties[xt.AF_STATUS].current() == xt.AF_IDLE
    # No ObjectAdded came for it (the poller's DevicePropChanged events may).
    while (event := cam.next_event(timeout_s=0.2)) is not None:
        assert event.code not in (xt.EC_OBJECT_ADDED, 0x4002, 0x400D), event
    # A capture after it sets the shutter action back to Shoot and takes a picture.
    shot = cam.capture(timeout_s=10)
    assert [entry.name for entry in shot] == ["DSCF0001.JPG"]
    assert SHOOT in sent[len(PRESS) + 2 + len(RELEASE) :]


def test_held_until_a_capture_which_lets_go(fuji: tuple[VirtualCamera, Camera]) -> None:
    vcam, cam = fuji
    state = xt.fuji_state(vcam)
    sent = record(vcam)
    plan = cam.half_press(hold=True)
    assert sent == [*PRESS, READ, READ]
    assert vcam.properties[xt.SHUTTER_ACTION].current() == xt.ACTION_AF_DRIVE
    shot = cam.capture(timeout_s=10)
    assert [entry.name for entry in shot] == ["DSCF0001.JPG"]
    assert sent[4] == SHOOT
    assert sent[5][0] == INITIATE
    assert vcam.properties[xt.SHUTTER_ACTION].current() == xt.ACTION_SHOOT
    # Held again, then let go.
    cam.half_press(hold=True)
    cam.release_half_press()
    assert sent[-2:] == RELEASE
    assert state.af_runs == 2
    assert plan.capture_releases


def test_a_focus_failure_is_named_and_the_camera_still_shoots(link: str) -> None:
    with ExitStack() as stack:
        failing = personality_for("fuji-x", {"af": "fail"})
        vcam = stack.enter_context(VirtualCamera(personality=failing))
        cam = open_camera(stack, vcam, link)
        sent = record(vcam)
        with pytest.raises(FocusError, match="could not focus") as caught:
            cam.half_press(hold=True)
        assert caught.value.code == 3
        assert "0xD209 = 3" in str(caught.value)
        # Let go although held: the body answers a shot busy after a failed focus until then.
        assert sent == [*PRESS, READ, READ, *RELEASE]
        assert vcam.properties[xt.AF_STATUS].current() == xt.AF_IDLE
        shot = cam.capture(timeout_s=10)
        assert [entry.name for entry in shot] == ["DSCF0001.JPG"]


def test_the_virtual_body_is_busy_after_a_failed_focus_until_let_go() -> None:
    """What makes letting go after a failure matter (library.c camera_fuji_capture: "3 - means
    failed and initiatecapture will get busy"), through raw transactions."""
    with (
        VirtualCamera(personality=personality_for("fuji-x", {"af": "fail"})) as vcam,
        ptpkit.connect("virtual:", camera=vcam, timeout_s=10) as cam,
    ):
        assert cam.transaction(SET, [xt.SHUTTER_ACTION], data=u16(xt.ACTION_AF_DRIVE)).ok
        assert cam.transaction(INITIATE, [0, 0]).ok
        statuses = [cam.transaction(GET, [xt.AF_STATUS]).data for _ in range(2)]
        assert statuses == [u16(xt.AF_BUSY), u16(xt.AF_FAILED)]
        assert cam.transaction(SET, [xt.SHUTTER_ACTION], data=u16(xt.ACTION_SHOOT)).ok
        assert cam.transaction(INITIATE, [0, 0]).code == 0x2019  # DeviceBusy
        assert cam.transaction(SET, [xt.SHUTTER_ACTION], data=u16(xt.ACTION_RELEASE_FOCUS)).ok
        assert cam.transaction(INITIATE, [0, 0]).ok
        assert cam.transaction(SET, [xt.SHUTTER_ACTION], data=u16(xt.ACTION_SHOOT)).ok
        assert cam.transaction(INITIATE, [0, 0]).ok
        assert xt.fuji_state(vcam).captured[-1][0] == "DSCF0001.JPG"


@pytest.fixture
def without_the_poller() -> Iterator[None]:
    """The extension without its 0xD212 poller thread: a FakeClock would make it spin."""
    register(FujifilmExtension.with_options(event_poller=lambda self: None), replace=True)
    try:
        yield
    finally:
        register(FujifilmExtension, replace=True)


@pytest.mark.usefixtures("without_the_poller")
def test_a_focus_that_never_ends_times_out_on_the_cameras_clock() -> None:
    clock = FakeClock()
    with (
        VirtualCamera(personality=personality_for("fuji-x", {"af": "never"})) as vcam,
        ptpkit.connect("virtual:", camera=vcam, timeout_s=10, clock=clock) as cam,
    ):
        sent = record(vcam)
        start = clock.monotonic()
        with pytest.raises(TransportTimeout, match="still focusing after 10 s"):
            cam.half_press()
        assert clock.monotonic() - start == pytest.approx(FOCUS_TIMEOUT_S, abs=FOCUS_POLL_S)
        assert set(clock.slept) == {FOCUS_POLL_S}  # the reads' pace, on the camera's clock
        assert sent[:2] == PRESS
        assert sent[-2:] == RELEASE
        reads = sent[2:-2]
        assert set(reads) == {READ}
        assert len(reads) == pytest.approx(FOCUS_TIMEOUT_S / FOCUS_POLL_S, abs=2)
        # The call's own deadline is shorter: it bounds the whole call, the release included.
        sent.clear()
        start = clock.monotonic()
        with pytest.raises(TransportTimeout):
            cam.half_press(timeout_s=2.0)
        assert clock.monotonic() - start <= 2.0
        assert sent[-2:] == RELEASE
        assert vcam.properties[xt.SHUTTER_ACTION].current() == xt.ACTION_RELEASE_FOCUS


@pytest.mark.parametrize("transport", ["virtual", "fuji"])
def test_aio_half_press(transport: str) -> None:
    async def scenario(url: str, vcam: VirtualCamera, **options: object) -> None:
        state = xt.fuji_state(vcam)
        async with ptpkit.aio.connect(url, timeout_s=10, **options) as cam:
            plan = cam.half_press_plan()
            assert plan is not None
            sent = record(vcam)
            assert await cam.half_press(hold=True) == plan
            assert await cam.release_half_press() == plan
            assert await cam.half_press() == plan
            assert sent == [*PRESS, READ, READ, *RELEASE, *PRESS, READ, READ, *RELEASE]
            assert state.captured == []
            shot = await cam.capture(timeout_s=10)
            assert [entry.name for entry in shot] == ["DSCF0001.JPG"]

    async def failing(url: str, **options: object) -> None:
        async with ptpkit.aio.connect(url, timeout_s=10, **options) as cam:
            with pytest.raises(FocusError, match="could not focus"):
                await cam.half_press()

    for af, run in (("ok", scenario), ("fail", failing)):
        with ExitStack() as stack:
            vcam = stack.enter_context(
                VirtualCamera(personality=personality_for("fuji-x", {"af": af}))
            )
            if transport == "fuji":
                server = stack.enter_context(network_server(vcam, "127.0.0.1", 0, variant="fuji"))
                url, options = server.url, {}
            else:
                url, options = "virtual:", {"camera": vcam}
            if run is scenario:
                asyncio.run(scenario(url, vcam, **options))
            else:
                asyncio.run(failing(url, **options))
                assert vcam.properties[xt.SHUTTER_ACTION].current() == xt.ACTION_RELEASE_FOCUS


def test_the_af_option_of_the_virtual_body() -> None:
    assert xt.parse_options({}).af == "ok"
    assert xt.parse_options({"af": "Fail"}).af == "fail"
    with pytest.raises(UsageError, match="af takes ok, fail or never, not 'sometimes'"):
        xt.parse_options({"af": "sometimes"})
