"""The one runner of vendor plans (:class:`ptpkit.ext.base.HalfPress`), for both camera front
ends.

A plan is data an extension gives (:meth:`Extension.half_press`); the blocking Camera
(``ptpkit.client``) and the asyncio Camera (``ptpkit.aio``) send it. What a plan means is
written here once, in the sans-IO manner of h11: :func:`half_press_run` and :func:`release_run`
are generators that yield what to do next, a :class:`Transact` (one transaction, with the
seconds left for it) or a :class:`Pause`, and are sent each transaction's :class:`Reply`; an
error of a transaction is thrown into them. :func:`drive` runs one with blocking calls,
:func:`drive_async` with awaited ones. So the order of the steps, the property encodings, the
polling of a wait, what a failure means, the deadline of the whole call and the letting go
after a partial press are the same on both front ends.

The rules:

- A deadline (``timeout_s`` of the call) bounds the whole call, not each read: every
  transaction gets what is left of it, a wait ends at its own bound or the deadline, whichever
  comes first. Without one, transactions take the camera's timeout and waits their own bound.
- A press that fails after the camera accepted a part of it (Fujifilm: the shutter action was
  set, or focusing began and failed) is let go with the plan's release, best effort, before the
  error is raised: the camera is left as it was (libgphoto2's ``_put_Fuji_AFDrive`` returns at
  a focus failure with the action still "focus"; the body then answers the next shot busy,
  library.c's comment "3 - means failed and initiatecapture will get busy"). With a deadline, a
  wait stops early enough to leave :data:`RELEASE_RESERVE_S` (at most a quarter of the call)
  for that release; a press whose transaction ran out of the call's time is still let go, with
  that reserve of its own (the one way past the deadline, by at most the reserve: a camera
  left focusing costs more than a late error).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Final

from ptpkit.core.datasets import decode_value, encode_value
from ptpkit.core.datatypes import as_int
from ptpkit.errors import PTPError, TransportTimeout
from ptpkit.ext.base import (
    GET_DEVICE_PROP_VALUE,
    SET_DEVICE_PROP_VALUE,
    HalfPress,
    PlanStep,
    Reply,
    SetProperty,
    Step,
    Steps,
    WaitProperty,
    plan_steps,
)

log = logging.getLogger("ptpkit.ext.plans")

#: With a deadline, the seconds a wait leaves for letting go after a failure (at most a
#: quarter of the call).
RELEASE_RESERVE_S: Final = 1.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Transact:
    """Run one transaction (a DeviceBusy answer retried as every transaction of the camera is);
    a response other than OK raises the camera's ResponseError for it. ``timeout_s``: what is
    left of the call (None: the camera's timeout). ``keep_data``: the data phase is wanted
    (a property value), in memory."""

    code: int
    params: tuple[int, ...] = ()
    data: bytes | None = None
    timeout_s: float | None = None
    keep_data: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Pause:
    """Wait ``seconds`` on the camera's clock."""

    seconds: float


Request = Transact | Pause
#: A plan under way: yields requests, is sent each Transact's Reply (None after a Pause).
PlanRun = Generator[Request, Reply | None, None]


class _Deadline:
    """The call's deadline on ``monotonic`` (None: no deadline)."""

    def __init__(self, monotonic: Callable[[], float], timeout_s: float | None, name: str):
        self.monotonic = monotonic
        self.name = name
        self.timeout_s = timeout_s
        self.at = None if timeout_s is None else monotonic() + timeout_s

    def left(self) -> float | None:
        """Seconds left (None: no deadline); TransportTimeout once none are."""
        if self.at is None:
            return None
        left = self.at - self.monotonic()
        if left <= 0:
            raise TransportTimeout(f"{self.name}: not done within {self.timeout_s:g} s")
        return left


def _step(
    step: PlanStep, deadline: _Deadline, *, reserve_s: float = 0.0
) -> Generator[Request, Reply | None, None]:
    if isinstance(step, Step):
        yield Transact(code=step.code, params=step.params, data=step.data,
                       timeout_s=deadline.left())  # fmt: skip
    elif isinstance(step, SetProperty):
        data = encode_value(step.datatype, step.value)
        yield Transact(code=SET_DEVICE_PROP_VALUE, params=(step.code,), data=data,
                       timeout_s=deadline.left())  # fmt: skip
    else:
        yield from _wait(step, deadline, reserve_s=reserve_s)


def _wait(
    wait: WaitProperty, deadline: _Deadline, *, reserve_s: float
) -> Generator[Request, Reply | None, None]:
    monotonic = deadline.monotonic
    ends_at = monotonic() + wait.timeout_s
    if deadline.at is not None:
        ends_at = min(ends_at, deadline.at - reserve_s)
    bound_s = max(0.0, ends_at - monotonic())
    while True:
        reply = yield Transact(code=GET_DEVICE_PROP_VALUE, params=(wait.code,),
                               timeout_s=deadline.left(), keep_data=True)  # fmt: skip
        assert reply is not None
        value = as_int(decode_value(reply.data, wait.datatype))
        failure = wait.failure(value)
        if failure is not None:
            error = wait.error(
                value,
                name=failure,
                operation=GET_DEVICE_PROP_VALUE,
                operation_name=f"{deadline.name} ({wait.what}: property 0x{wait.code:04X})",
            )
            error.args = (
                f"{deadline.name}: {failure} (the camera reported property 0x{wait.code:04X} "
                f"= {value} while {wait.what})",
            )
            raise error
        if wait.done(value):
            return
        now = monotonic()
        if now + wait.interval_s > ends_at:
            raise TransportTimeout(
                f"{deadline.name}: the camera was still {wait.what} after {bound_s:g} s "
                f"(property 0x{wait.code:04X} = {value})"
            )
        yield Pause(seconds=wait.interval_s)


def _part(part: Step | Steps, deadline: _Deadline) -> PlanRun:
    """The steps of ``part``, in order."""
    for step in plan_steps(part):
        yield from _step(step, deadline)


def _press(plan: HalfPress, deadline: _Deadline) -> PlanRun:
    steps = plan_steps(plan.press)
    reserve_s = 0.0
    if plan.release is not None and deadline.timeout_s is not None:
        reserve_s = min(RELEASE_RESERVE_S, deadline.timeout_s / 4)
    accepted = 0
    try:
        for step in steps:
            yield from _step(step, deadline, reserve_s=reserve_s)
            accepted += 1
    except PTPError as exc:
        # A step after the first failed (a wait ended badly): the camera took a part of the
        # press. Let go of it (best effort) so it is left as it was, then report the failure.
        if accepted and plan.release is not None:
            # The release has what is left of the call (the reserve), at least the reserve.
            release = _Deadline(deadline.monotonic, _release_time(deadline, reserve_s),
                                f"{plan.name} (letting go after a failure)")  # fmt: skip
            try:
                yield from _part(plan.release, release)
            except PTPError as cleanup:
                log.warning("%s: could not let go after a failed press: %s", plan.name, cleanup)
        raise exc


def _release_time(deadline: _Deadline, reserve_s: float) -> float | None:
    if deadline.at is None:
        return None
    return max(deadline.at - deadline.monotonic(), reserve_s, 0.001)


def half_press_run(
    plan: HalfPress, *, hold: bool, timeout_s: float | None, monotonic: Callable[[], float]
) -> PlanRun:
    """A half press: the press, then (unless ``hold``) the release, within ``timeout_s``."""
    deadline = _Deadline(monotonic, timeout_s, plan.name)
    yield from _press(plan, deadline)
    if not hold and plan.release is not None:
        yield from _part(plan.release, deadline)


def release_run(
    plan: HalfPress, *, timeout_s: float | None, monotonic: Callable[[], float]
) -> PlanRun:
    """Letting go of a held half press (nothing when the plan has no release)."""
    if plan.release is not None:
        yield from _part(plan.release, _Deadline(monotonic, timeout_s, plan.name))


# -- the two drivers: the same run, blocking or awaited -------------------------------------------


def drive(
    run: PlanRun, transact: Callable[[Transact], Reply], sleep: Callable[[float], None]
) -> None:
    """Run a plan with blocking calls (the blocking Camera: its ``_run`` and clock)."""
    answer: Reply | None = None
    failure: PTPError | None = None
    while True:
        try:
            request = run.send(answer) if failure is None else run.throw(failure)
        except StopIteration:
            return
        answer, failure = None, None
        try:
            if isinstance(request, Pause):
                sleep(request.seconds)
            else:
                answer = transact(request)
        except PTPError as exc:
            failure = exc


async def drive_async(
    run: PlanRun,
    transact: Callable[[Transact], Awaitable[Reply]],
    sleep: Callable[[float], Awaitable[object]],
) -> None:
    """Run a plan with awaited calls (the asyncio Camera: its ``_run`` and the loop's sleep)."""
    answer: Reply | None = None
    failure: PTPError | None = None
    while True:
        try:
            request = run.send(answer) if failure is None else run.throw(failure)
        except StopIteration:
            return
        answer, failure = None, None
        try:
            if isinstance(request, Pause):
                await sleep(request.seconds)
            else:
                answer = await transact(request)
        except PTPError as exc:
            failure = exc


__all__ = [
    "RELEASE_RESERVE_S",
    "Pause",
    "PlanRun",
    "Request",
    "Transact",
    "drive",
    "drive_async",
    "half_press_run",
    "release_run",
]
