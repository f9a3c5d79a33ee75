"""The one runner of vendor plans (:mod:`ptpkit.ext.plans`) on a fake clock, against a scripted
camera: the order of the steps, a wait's polling and bounds, the deadline of the whole call, a
focus failure, letting go after a partial press, and the blocking and asyncio drivers giving
the same requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ptpkit.core.datasets import encode_value
from ptpkit.core.datatypes import DataType
from ptpkit.errors import FocusError, PropertyError, PTPError, ResponseError, TransportTimeout
from ptpkit.ext.base import (
    HalfPress,
    Reply,
    SetProperty,
    Step,
    Steps,
    WaitProperty,
    plan_operations,
)
from ptpkit.ext.plans import (
    RELEASE_RESERVE_S,
    Transact,
    drive,
    drive_async,
    half_press_run,
    release_run,
)
from ptpkit.testing import FakeClock

SET, GET, INITIATE = 0x1016, 0x1015, 0x100E
ACTION, STATUS = 0xD208, 0xD209
U16 = DataType.UINT16


def fuji_like(*, timeout_s: float = 10.0) -> HalfPress:
    """A plan of Fujifilm's shape (ptpkit.ext.fujifilm builds the real one)."""
    initiate = Step(code=INITIATE, params=(0, 0))
    return HalfPress(
        name="test AF",
        press=Steps(
            steps=(
                SetProperty(code=ACTION, datatype=U16, value=0x9300),
                initiate,
                WaitProperty(
                    code=STATUS,
                    datatype=U16,
                    leaves=1,
                    interval_s=0.05,
                    timeout_s=timeout_s,
                    failures=((3, "no focus"),),
                    error=FocusError,
                    what="focusing",
                ),
            )
        ),
        release=Steps(steps=(SetProperty(code=ACTION, datatype=U16, value=0x0005), initiate)),
    )


class Scripted:
    """A camera that answers each request, recording it: the AF status reads give ``statuses``
    in turn (the last one forever); ``refuse`` maps (code, first parameter) to a response code
    that is raised as the camera's ResponseError."""

    def __init__(
        self,
        clock: FakeClock,
        statuses: list[int],
        refuse: dict[tuple[int, int], int] | None = None,
        *,
        transaction_s: float = 0.0,
    ) -> None:
        self.clock = clock
        self.statuses = statuses
        self.refuse = refuse or {}
        self.transaction_s = transaction_s
        self.requests: list[Transact] = []

    def transact(self, request: Transact) -> Reply:
        self.requests.append(request)
        self.clock.advance(self.transaction_s)
        first = request.params[0] if request.params else 0
        code = self.refuse.get((request.code, first))
        if code is not None:
            raise (PropertyError if code == 0x201C else ResponseError)(code, operation=request.code)
        if request.code == GET and first == STATUS:
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return Reply(code=0x2001, data=encode_value(U16, status))
        return Reply(code=0x2001)

    def sent(self) -> list[tuple[int, tuple[int, ...], bytes | None]]:
        return [(r.code, r.params, r.data) for r in self.requests]


def run(plan: HalfPress, camera: Scripted, *, hold: bool = False, timeout_s: float | None = None):
    clock = camera.clock
    drive(
        half_press_run(plan, hold=hold, timeout_s=timeout_s, monotonic=clock.monotonic),
        camera.transact,
        clock.sleep,
    )


PRESS = [(SET, (ACTION,), encode_value(U16, 0x9300)), (INITIATE, (0, 0), None)]
RELEASE = [(SET, (ACTION,), encode_value(U16, 0x0005)), (INITIATE, (0, 0), None)]
READ = (GET, (STATUS,), None)


def test_press_polls_until_focused_then_lets_go() -> None:
    clock = FakeClock()
    camera = Scripted(clock, [1, 1, 2])
    run(fuji_like(), camera)
    assert camera.sent() == [*PRESS, READ, READ, READ, *RELEASE]
    assert clock.slept == [0.05, 0.05]  # between reads, not after the last
    reads = [r for r in camera.requests if r.code == GET]
    assert all(r.keep_data for r in reads)
    assert not any(r.keep_data for r in camera.requests if r.code != GET)
    # Without a deadline, every transaction has the camera's own timeout.
    assert {r.timeout_s for r in camera.requests} == {None}


def test_held_press_sends_no_release_and_release_run_sends_it() -> None:
    clock = FakeClock()
    camera = Scripted(clock, [2])
    run(fuji_like(), camera, hold=True)
    assert camera.sent() == [*PRESS, READ]
    release = release_run(fuji_like(), timeout_s=None, monotonic=clock.monotonic)
    drive(release, camera.transact, clock.sleep)
    assert camera.sent()[3:] == RELEASE


def test_a_status_that_means_failure_is_a_focus_error_after_letting_go() -> None:
    clock = FakeClock()
    camera = Scripted(clock, [1, 3])
    with pytest.raises(FocusError, match="no focus") as caught:
        run(fuji_like(), camera, hold=True)
    assert caught.value.code == 3
    assert caught.value.name == "no focus"
    assert "0xD209 = 3" in str(caught.value)
    # The camera took the press: it is let go (held or not), so it is left usable.
    assert camera.sent() == [*PRESS, READ, READ, *RELEASE]


def test_still_focusing_at_the_waits_bound_is_a_timeout_on_the_clock() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    camera = Scripted(clock, [1])
    with pytest.raises(
        TransportTimeout, match=r"still focusing after 10 s \(property 0xD209 = 1\)"
    ):
        run(fuji_like(timeout_s=10.0), camera)
    assert clock.monotonic() - start == pytest.approx(10.0, abs=0.05)
    assert set(clock.slept) == {0.05}
    assert camera.sent()[-2:] == RELEASE


def test_a_deadline_bounds_the_whole_call_and_leaves_room_to_let_go() -> None:
    clock = FakeClock()
    start = clock.monotonic()
    # Every transaction takes 10 ms of the camera's time.
    camera = Scripted(clock, [1], transaction_s=0.01)
    with pytest.raises(TransportTimeout, match="still focusing"):
        run(fuji_like(timeout_s=60.0), camera, timeout_s=2.0)
    reserve = min(RELEASE_RESERVE_S, 2.0 / 4)
    release = camera.requests[-2:]
    assert [(r.code, r.params, r.data) for r in release] == RELEASE
    # The wait stopped before the reserve; the release had what was left, all within 2 s.
    assert clock.monotonic() - start <= 2.0
    for request in camera.requests:
        assert request.timeout_s is not None
        assert 0 < request.timeout_s <= 2.0
    assert release[0].timeout_s is not None
    assert release[0].timeout_s >= reserve - 0.05


def test_a_refused_first_step_sends_nothing_more() -> None:
    clock = FakeClock()
    camera = Scripted(clock, [2], refuse={(SET, ACTION): 0x201C})
    with pytest.raises(PropertyError):
        run(fuji_like(), camera)
    assert camera.sent() == PRESS[:1]  # nothing was taken: nothing to let go


def test_a_refused_later_step_lets_go_and_a_failed_release_keeps_the_first_error() -> None:
    clock = FakeClock()
    camera = Scripted(clock, [2], refuse={(INITIATE, 0): 0x2019})
    with pytest.raises(ResponseError) as caught:
        run(fuji_like(), camera)
    assert caught.value.code == 0x2019
    # Let go: the action was set back, its InitiateCapture was refused too (logged only).
    assert camera.sent() == [*PRESS, *RELEASE]


def test_single_step_plans_send_what_they_always_sent() -> None:
    clock = FakeClock()
    eos = HalfPress(name="DoAf", press=Step(code=0x9154), release=Step(code=0x9160))
    camera = Scripted(clock, [2])
    run(eos, camera)
    run(eos, camera, hold=True)
    assert camera.sent() == [(0x9154, (), None), (0x9160, (), None), (0x9154, (), None)]
    nikon = HalfPress(name="AfDrive", press=Step(code=0x90C1))
    camera = Scripted(clock, [2], refuse={(0x90C1, 0): 0x2019})
    with pytest.raises(ResponseError):
        run(nikon, camera)
    assert camera.sent() == [(0x90C1, (), None)]
    assert clock.slept == []


def test_the_operations_a_plan_needs() -> None:
    plan = fuji_like()
    assert plan_operations(plan.press) == (SET, INITIATE, GET)
    assert plan.press.code == INITIATE  # what people are shown: the operation that does it
    assert plan_operations(Step(code=0x9154)) == (0x9154,)
    assert Steps(steps=(SetProperty(code=ACTION, datatype=U16, value=1),)).code == SET


def test_a_wait_takes_exactly_one_condition() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        WaitProperty(code=STATUS, datatype=U16)
    with pytest.raises(ValueError, match="exactly one"):
        WaitProperty(code=STATUS, datatype=U16, equals=2, leaves=1)
    with pytest.raises(ValueError, match="above 0"):
        WaitProperty(code=STATUS, datatype=U16, equals=2, interval_s=0)
    assert WaitProperty(code=STATUS, datatype=U16, equals=2).done(2)
    with pytest.raises(ValueError, match="at least one"):
        Steps(steps=())


@pytest.mark.parametrize("statuses", [[1, 1, 2], [1, 3], [1]], ids=["focused", "no focus", "never"])
def test_the_asyncio_driver_sends_the_same_requests(statuses: list[int]) -> None:
    def outcome(drive_it: Callable[[Scripted, FakeClock], None]) -> tuple[list[object], str]:
        clock = FakeClock()
        camera = Scripted(clock, list(statuses))
        try:
            drive_it(camera, clock)
            result = "ok"
        except PTPError as exc:
            result = f"{type(exc).__name__}: {exc}"
        return [*camera.requests, *clock.slept], result

    def blocking(camera: Scripted, clock: FakeClock) -> None:
        run(fuji_like(timeout_s=1.0), camera)

    def awaited(camera: Scripted, clock: FakeClock) -> None:
        async def transact(request: Transact) -> Reply:
            return camera.transact(request)

        async def sleep(seconds: float) -> None:
            clock.sleep(seconds)

        plan_run = half_press_run(
            fuji_like(timeout_s=1.0), hold=False, timeout_s=None, monotonic=clock.monotonic
        )
        asyncio.run(drive_async(plan_run, transact, sleep))

    assert outcome(awaited) == outcome(blocking)
