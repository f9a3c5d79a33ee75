"""The half press (autofocus without a picture) in the vendor extensions
(:meth:`ptpkit.ext.base.Extension.half_press`, a pure-data plan) and on both camera front ends
(``half_press(hold=)`` / ``release_half_press()``), against the virtual Canon EOS, Nikon and Sony;
a standard camera, and a camera that does not list its vendor's operation, are refused."""

from __future__ import annotations

import asyncio

import pytest
from tests.helpers import watch_operations

import ptpkit
import ptpkit.aio
from ptpkit.core.datasets import DeviceInfo, encode_value
from ptpkit.core.datatypes import DataType
from ptpkit.errors import OperationNotSupportedError
from ptpkit.ext import base, vendors
from ptpkit.ext.base import Extension, HalfPress, Step
from ptpkit.ext.lazy import LazyExtension
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.canon_eos import eos_state
from ptpkit.virtual.nikon import nikon_state
from ptpkit.virtual.responder import OperationContext
from ptpkit.virtual.sony import sony_state

DO_AF, AF_CANCEL, AF_DRIVE, SET_CONTROL_DEVICE_B, SONY_HALF_BUTTON = (
    0x9154,
    0x9160,
    0x90C1,
    0x9207,
    0xD2C1,
)
U16_PRESS = encode_value(DataType.UINT16, 2)
U16_RELEASE = encode_value(DataType.UINT16, 1)

PLANS = {
    "canon-eos": HalfPress(name="DoAf", press=Step(code=DO_AF), release=Step(code=AF_CANCEL)),
    "nikon": HalfPress(name="AfDrive", press=Step(code=AF_DRIVE)),
    "sony": HalfPress(
        name="half press",
        press=Step(code=SET_CONTROL_DEVICE_B, params=(SONY_HALF_BUTTON,), data=U16_PRESS),
        release=Step(code=SET_CONTROL_DEVICE_B, params=(SONY_HALF_BUTTON,), data=U16_RELEASE),
        capture_releases=True,
    ),
}


Sent = list[tuple[int, tuple[int, ...], bytes]]


def record(vcam: VirtualCamera) -> Sent:
    """What the virtual camera is asked of the half-press operations from now on, in order."""
    into: Sent = []

    def seen(ctx: OperationContext) -> None:
        into.append((ctx.request.code, tuple(ctx.request.params), bytes(ctx.data or b"")))

    codes = [c for c in (DO_AF, AF_CANCEL, AF_DRIVE, SET_CONTROL_DEVICE_B) if c in vcam.operations]
    watch_operations(vcam, seen, codes)
    return into


# -- the hook -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(PLANS))
def test_each_vendor_gives_its_plan(model: str) -> None:
    with (
        VirtualCamera(personality=personality_for(model)) as vcam,
        ptpkit.connect("virtual:", camera=vcam) as cam,
    ):
        [vendor] = [e for e in cam.extensions if e.name == model]
        assert vendor.half_press() == PLANS[model]
        # The others (MTP, Canon's common codes) have none: the vendor's is the camera's.
        assert all(e.half_press() is None for e in cam.extensions if e is not vendor)
        assert cam.half_press_plan() == PLANS[model]


def test_the_lazy_stand_ins_answer_through_the_real_classes() -> None:
    """The registry holds LazyExtension stand-ins; the hook is on the classes a camera gets
    (loaded()), and the stand-ins themselves are never asked (they make no instances)."""
    stand_ins = {
        f.name: f for f in vendors.BUILTIN if isinstance(f, type) and issubclass(f, LazyExtension)
    }
    for name in PLANS:
        loaded = stand_ins[name].loaded()
        assert loaded.half_press is not Extension.half_press
    info = DeviceInfo(vendor_extension_id=0xA, manufacturer="Nikon Corporation")
    [nikon] = [f for f in base.extensions_for(info) if f.name == "nikon"]
    assert not issubclass(nikon, LazyExtension)
    assert nikon.half_press is not Extension.half_press


def test_standard_ptp_has_no_half_press() -> None:
    assert Extension(session=None).half_press() is None  # type: ignore[arg-type]


# -- the blocking Camera ---------------------------------------------------------------------------


def test_eos_half_press_lets_go_at_once_unless_held() -> None:
    with (
        VirtualCamera(personality=personality_for("canon-eos")) as vcam,
        ptpkit.connect("virtual:", camera=vcam) as cam,
    ):
        sent = record(vcam)
        state = eos_state(vcam)
        assert cam.half_press() == PLANS["canon-eos"]
        assert sent == [(DO_AF, (), b""), (AF_CANCEL, (), b"")]
        assert (state.af_drives, state.focusing) == (1, False)
        cam.half_press(hold=True)
        assert (state.af_drives, state.focusing) == (2, True)
        cam.release_half_press()
        assert not state.focusing
        assert [code for code, _, _ in sent] == [DO_AF, AF_CANCEL, DO_AF, AF_CANCEL]


def test_nikon_half_press_has_nothing_to_let_go() -> None:
    with (
        VirtualCamera(personality=personality_for("nikon")) as vcam,
        ptpkit.connect("virtual:", camera=vcam) as cam,
    ):
        sent = record(vcam)
        assert cam.half_press().release is None
        assert nikon_state(vcam).af_drives == 1
        cam.release_half_press()  # nothing to send
        assert sent == [(AF_DRIVE, (), b"")]
        # Busy until focused (DeviceReady): the next operation's busy retries wait it out.
        assert cam.storage_ids()


def test_sony_half_press_held_until_released_or_captured() -> None:
    with (
        VirtualCamera(personality=personality_for("sony")) as vcam,
        ptpkit.connect("virtual:", camera=vcam) as cam,
    ):
        state = sony_state(vcam)
        sent = record(vcam)
        cam.half_press()
        assert sent == [
            (SET_CONTROL_DEVICE_B, (SONY_HALF_BUTTON,), U16_PRESS),
            (SET_CONTROL_DEVICE_B, (SONY_HALF_BUTTON,), U16_RELEASE),
        ]
        assert not state.half_pressed
        cam.half_press(hold=True)
        assert state.half_pressed
        cam.release_half_press()
        assert not state.half_pressed
        # Held, then a capture: the capture presses the button again and lets go of it.
        plan = cam.half_press(hold=True)
        assert plan.capture_releases
        assert state.half_pressed
        assert cam.capture(timeout_s=30)
        assert not state.half_pressed


def test_a_standard_camera_is_refused_in_words() -> None:
    with VirtualCamera() as vcam, ptpkit.connect("virtual:", camera=vcam) as cam:
        assert cam.half_press_plan() is None
        for call in (cam.half_press, cam.release_half_press):
            with pytest.raises(OperationNotSupportedError, match="no half-press") as caught:
                call()
            assert caught.value.operation_name == "half-press (autofocus)"
            assert "standard PTP has none" in str(caught.value)


class _Unlisted(Extension):
    """A vendor whose half press is an operation the camera does not list."""

    name = "test-unlisted-half-press"

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return True

    def half_press(self) -> HalfPress | None:
        return HalfPress(name="Focus", press=Step(code=0x9FF1))


def test_a_camera_that_does_not_list_its_vendors_operation_is_refused() -> None:
    with (
        VirtualCamera() as vcam,
        ptpkit.connect("virtual:", camera=vcam, extensions=[_Unlisted]) as cam,
    ):
        assert cam.half_press_plan() is None
        with pytest.raises(OperationNotSupportedError, match="0x9FF1") as caught:
            cam.half_press()
        assert caught.value.operation == 0x9FF1
        assert "Focus" in str(caught.value)


# -- ptpkit.aio ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(PLANS))
def test_aio_half_press(model: str) -> None:
    plan = PLANS[model]

    async def scenario(vcam: VirtualCamera) -> None:
        async with ptpkit.aio.connect("virtual:", camera=vcam) as cam:
            assert cam.half_press_plan() == plan
            sent = record(vcam)
            assert await cam.half_press(hold=True) == plan
            assert await cam.release_half_press() == plan
            assert await cam.half_press() == plan
            steps = [plan.press, plan.release, plan.press, plan.release]
            expected = [(s.code, s.params, s.data or b"") for s in steps if s is not None]
            assert sent == expected  # before close (a Canon EOS's tear-down sends AfCancel)

    with VirtualCamera(personality=personality_for(model)) as vcam:
        asyncio.run(scenario(vcam))
        if model == "canon-eos":
            assert not eos_state(vcam).focusing
        if model == "sony":
            assert not sony_state(vcam).half_pressed


def test_aio_standard_camera_is_refused() -> None:
    async def scenario(vcam: VirtualCamera) -> None:
        async with ptpkit.aio.connect("virtual:", camera=vcam) as cam:
            assert cam.half_press_plan() is None
            with pytest.raises(OperationNotSupportedError, match="no half-press"):
                await cam.half_press()
            with pytest.raises(OperationNotSupportedError, match="no half-press"):
                await cam.release_half_press()

    with VirtualCamera() as vcam:
        asyncio.run(scenario(vcam))
