"""Taking pictures: the vendor's way when an extension has one (:meth:`Extension.capture`,
Canon EOS RemoteReleaseOn/Off), else standard InitiateCapture answered by ObjectAdded and
CaptureComplete events; objects a capture leaves in the camera's memory (capture to PC), and
telling the extensions when one has been downloaded. Also the live-view frame source and the
half press (autofocus without a picture), which come from the same extensions (standard PTP has
neither).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Final, Protocol, TypeVar

from ptpkit._sync import Latch
from ptpkit.client import operations as ops
from ptpkit.client.engine import PreparedRequest
from ptpkit.client.events import CameraEvent, EventStream
from ptpkit.client.files import Entry, storage_folder
from ptpkit.client.streams import BytesSink, BytesSource, DataSink, DataSource
from ptpkit.codes import Vocabulary
from ptpkit.codes.common import Ec, Rc
from ptpkit.core.datasets import DeviceInfo, ObjectInfo
from ptpkit.core.events import Event, Response
from ptpkit.errors import OperationNotSupportedError, TransportTimeout, UsageError
from ptpkit.ext.base import (
    CapturedObject,
    CaptureOutcome,
    CapturePlan,
    Extension,
    FrameSource,
    HalfPress,
    Reply,
    Step,
    plan_operations,
)
from ptpkit.ext.plans import Transact, drive, half_press_run, release_run
from ptpkit.timing import Clock

_T = TypeVar("_T")

#: Captured objects in the camera's memory remembered until downloaded (one per capture; a
#: program that never downloads them must not grow the camera without bound).
IN_MEMORY_LIMIT: Final = 1000


class CaptureResult(list[Entry]):
    """The objects a capture made, in the order the camera announced them (a plain list of
    :class:`Entry`), with :attr:`events`: the ObjectAdded and CaptureComplete events that were
    the capture's answer, kept here because they are not queued again for
    :meth:`Camera.events`."""

    def __init__(
        self,
        entries: Iterable[Entry] = (),
        events: Iterable[CameraEvent] = (),
        preview: bytes = b"",
    ) -> None:
        super().__init__(entries)
        self.events: list[CameraEvent] = list(events)
        #: The preview JPEG the camera sent with the capture (Fujifilm's GetCapturePreview),
        #: or empty.
        self.preview = preview


def capture_event(item: object, vocabulary: Vocabulary, now: float) -> CameraEvent:
    """One of an extension's capture answer events as a CameraEvent: a PTP event (or anything
    with an int ``code`` and ``params``) by its code; a vendor record of another shape is kept
    whole in ``details``. ``now``: when it arrived (monotonic seconds)."""
    if isinstance(item, CameraEvent):
        return item
    code = getattr(item, "code", None)
    if not isinstance(code, int):
        return CameraEvent(code=0, name="vendor record", received=now, details=item)
    details = getattr(item, "details", None)
    return CameraEvent(
        code=code,
        name=vocabulary.event_name(code),
        params=tuple(getattr(item, "params", ())),
        transaction_id=getattr(item, "transaction_id", 0xFFFFFFFF),
        received=now,
        details=details if details is not None or isinstance(item, Event) else item,
    )


#: What a camera without a half press is refused (OperationNotSupportedError.operation_name).
HALF_PRESS_WHAT: Final = "half-press (autofocus)"


def _half_press_operations(plan: HalfPress) -> tuple[int, ...]:
    """Every operation a plan sends (its steps', SetDevicePropValue and GetDevicePropValue for
    its property steps), each once."""
    parts = [plan.press] + ([plan.release] if plan.release is not None else [])
    return tuple(dict.fromkeys(code for part in parts for code in plan_operations(part)))


def usable_half_press(plan: HalfPress | None, operations: Collection[int]) -> HalfPress | None:
    """An extension's half press when the camera lists every operation it sends
    (``operations``: DeviceInfo's), else None."""
    if plan is None or any(code not in operations for code in _half_press_operations(plan)):
        return None
    return plan


def no_half_press(
    plan: HalfPress | None, model: str, extensions: Sequence[Extension], vocabulary: Vocabulary
) -> OperationNotSupportedError:
    """The error for a camera without a usable half press: what it lacks, in words."""
    error = OperationNotSupportedError(
        Rc.OPERATION_NOT_SUPPORTED,
        name=vocabulary.response_name(Rc.OPERATION_NOT_SUPPORTED),
        operation_name=HALF_PRESS_WHAT,
        operation=plan.press.code if plan is not None else None,
    )
    camera = model or "this camera"
    if plan is None:
        names = ", ".join(extension.name for extension in extensions) or "none"
        error.args = (
            f"{camera} has no half-press (autofocus without a picture) ptpkit can use: "
            f"standard PTP has none, and no extension of this camera offers one "
            f"(extensions: {names})",
        )
    else:
        listed = ", ".join(
            f"{vocabulary.operation_name(c)} 0x{c:04X}" for c in _half_press_operations(plan)
        )
        error.args = (
            f"{camera} does not list {listed}, its vendor's half-press ({plan.name}), among "
            "its operations",
        )
    return error


#: The most of a data phase a plan's step keeps in memory (a property value).
PLAN_DATA_LIMIT: Final = 1 << 20


class _Camera(Protocol):
    """What the capture service uses of its camera (declared here: camera.py imports this)."""

    extensions: list[Extension]
    vocabulary: Vocabulary
    clock: Clock

    @property
    def device_info(self) -> DeviceInfo: ...

    def _run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data_out: DataSource | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
        check: bool = True,
    ) -> Response: ...

    def _ask(self, hook: Callable[[Extension], _T | None]) -> _T | None: ...

    def _check(self, code: int, response: Response) -> None: ...

    def _prepare(
        self, code: int, params: Sequence[int], *, timeout_s: float | None
    ) -> PreparedRequest | None: ...

    def _can_prepare(self) -> bool: ...

    @property
    def busy_retries(self) -> int: ...

    def entry(self, handle: int) -> Entry: ...

    def object_info(self, handle: int) -> ObjectInfo: ...

    def _entry_at(self, handle: int, info: ObjectInfo, *, in_memory: bool = False) -> Entry: ...


class Capture:
    """The capture service of one camera."""

    def __init__(self, camera: _Camera, events: EventStream) -> None:
        self._camera = camera
        self._events = events
        #: Captured objects in the camera's memory, by handle, until they are downloaded.
        self._in_memory: dict[int, CapturedObject] = {}

    def capture(self, *, timeout_s: float, storage_id: int) -> CaptureResult:
        cam = self._camera
        outcome = cam._ask(lambda extension: extension.capture(timeout_s=timeout_s))
        if outcome is not None:
            return self._result(outcome)
        plan = _StandardPlan(self, storage_id, timeout_s)
        step = plan.prepare(cam.clock.monotonic() + timeout_s)
        try:
            response = cam._run(step.code, step.params, check=False)
        except BaseException:
            plan.abandon(sent=True)
            raise
        return plan.finish_standard(_reply(response), 0.0)

    def arm(self, *, timeout_s: float, storage_id: int) -> ArmedCapture | None:
        """A capture made ready up to its release (see :meth:`Camera.arm_capture`); None
        where it cannot be armed."""
        cam = self._camera
        if not cam._can_prepare():
            return None
        plan: CapturePlan | _StandardPlan | None = None
        for extension in cam.extensions:
            kind = type(extension)
            if kind.capture_plan is not Extension.capture_plan:
                plan = extension.capture_plan(timeout_s=timeout_s)
                if plan is not None:
                    break
            elif kind.capture is not Extension.capture:
                # This vendor takes pictures its own way, in one piece (Sony, Fujifilm).
                return None
        if plan is None:
            plan = _StandardPlan(self, storage_id, timeout_s)
        clock = cam.clock
        deadline = clock.monotonic() + timeout_s
        step = plan.prepare(deadline)
        prepared = None
        try:
            left = deadline - clock.monotonic()
            if left <= 0:
                raise TransportTimeout(f"the capture could not be armed within {timeout_s:g} s")
            if step.data is None:
                prepared = cam._prepare(step.code, step.params, timeout_s=None)
        finally:
            if prepared is None:
                plan.abandon(sent=False)
        if prepared is None:
            return None
        return ArmedCapture(self, plan, prepared, timeout_s)

    def _result(self, outcome: CaptureOutcome) -> CaptureResult:
        """A capture an extension made: entries from the ObjectInfo it gave (else
        GetObjectInfo); objects in the camera's memory are marked so (:attr:`Entry.in_memory`)."""
        return CaptureResult(
            (self.captured_entry(captured) for captured in outcome.objects),
            (self._camera_event(item) for item in outcome.events),
            outcome.preview,
        )

    def _camera_event(self, item: object) -> CameraEvent:
        return capture_event(item, self._camera.vocabulary, self._camera.clock.monotonic())

    # -- the objects it made ---------------------------------------------------------------------

    def event_entry(self, event: CameraEvent) -> Entry:
        """The entry of the object an ObjectAdded event announces (see
        :meth:`Camera.event_entry`)."""
        details = event.details
        if isinstance(details, CapturedObject):
            return self.captured_entry(details)
        if not event.params:
            raise UsageError(f"event {event} names no object")
        if isinstance(details, ObjectInfo):
            return self._camera._entry_at(event.params[0], details)
        return self._camera.entry(event.params[0])

    def captured_entry(self, captured: CapturedObject) -> Entry:
        """The entry of a captured object; one held in the camera's memory is remembered for
        :meth:`Extension.after_download` once it is downloaded."""
        if captured.in_memory:
            self._in_memory[captured.handle] = captured
            while len(self._in_memory) > IN_MEMORY_LIMIT:
                del self._in_memory[next(iter(self._in_memory))]
        if captured.in_turn:
            # Not described yet (its turn comes when the ones before it are read): a name from
            # its handle until :meth:`describe_now`.
            name = f"object_{captured.handle:08x}"
            return Entry(
                handle=captured.handle,
                storage_id=0,
                parent=0,
                name=name,
                path=f"/{storage_folder(0)}/{name}",
                size=0,
                is_folder=False,
                object_format=0,
                in_memory=captured.in_memory,
                in_turn=True,
            )
        if captured.info is None:
            entry = self._camera.entry(captured.handle)
            return dataclasses.replace(entry, in_memory=True) if captured.in_memory else entry
        return self._camera._entry_at(captured.handle, captured.info, in_memory=captured.in_memory)

    def describe_now(self, entry: Entry) -> Entry:
        """An entry whose turn has come (:attr:`Entry.in_turn`) described now, with
        GetObjectInfo just before it is read; any other entry as it is."""
        if not entry.in_turn:
            return entry
        info = self._camera.object_info(entry.handle)
        return self._camera._entry_at(entry.handle, info, in_memory=entry.in_memory)

    def downloaded(self, entry: Entry) -> None:
        """A download is complete: an object in the camera's memory (capture to PC) is
        reported to every extension (:meth:`Extension.after_download`: the camera may drop it)."""
        if not entry.in_memory:
            return
        captured = self._in_memory.pop(entry.handle, None) or CapturedObject(
            handle=entry.handle, info=entry.info, in_memory=True
        )
        for extension in self._camera.extensions:
            extension.after_download(captured)

    # -- half press ------------------------------------------------------------------------------

    def half_press_plan(self) -> HalfPress | None:
        cam = self._camera
        plan = cam._ask(lambda extension: extension.half_press())
        return usable_half_press(plan, cam.device_info.operations_supported)

    def _require_half_press(self) -> HalfPress:
        cam = self._camera
        plan = cam._ask(lambda extension: extension.half_press())
        usable = usable_half_press(plan, cam.device_info.operations_supported)
        if usable is None:
            raise no_half_press(plan, cam.device_info.model, cam.extensions, cam.vocabulary)
        return usable

    def _transact(self, request: Transact) -> Reply:
        """One transaction of a plan (ptpkit.ext.plans runs the plan)."""
        sink = BytesSink(PLAN_DATA_LIMIT) if request.keep_data else None
        response = self._camera._run(
            request.code,
            request.params,
            data_out=None if request.data is None else BytesSource(request.data),
            sink=sink,
            timeout_s=request.timeout_s,
        )
        data = sink.getvalue() if sink is not None else b""
        return Reply(code=response.code, params=tuple(response.params), data=data)

    def half_press(self, *, hold: bool, timeout_s: float | None = None) -> HalfPress:
        plan = self._require_half_press()
        clock = self._camera.clock
        run = half_press_run(plan, hold=hold, timeout_s=timeout_s, monotonic=clock.monotonic)
        drive(run, self._transact, clock.sleep)
        return plan

    def release_half_press(self, *, timeout_s: float | None = None) -> HalfPress:
        plan = self._require_half_press()
        clock = self._camera.clock
        drive(release_run(plan, timeout_s=timeout_s, monotonic=clock.monotonic),
              self._transact, clock.sleep)  # fmt: skip
        return plan

    # -- live view -------------------------------------------------------------------------------

    def live_view(self) -> FrameSource:
        cam = self._camera
        source = cam._ask(lambda extension: extension.live_view())
        if source is None:
            names = ", ".join(extension.name for extension in cam.extensions) or "none"
            error = OperationNotSupportedError(
                Rc.OPERATION_NOT_SUPPORTED,
                name=cam.vocabulary.response_name(Rc.OPERATION_NOT_SUPPORTED),
                operation_name="live view",
            )
            error.args = (
                f"{cam.device_info.model or 'this camera'} has no live view ptpkit can use: "
                "standard PTP has none, and no extension of this camera offers one "
                f"(extensions: {names})",
            )
            raise error
        return source


def _reply(response: Response) -> Reply:
    return Reply(code=response.code, params=response.params, transaction_id=response.transaction_id)


class _StandardPlan:
    """Standard PTP's capture as a plan (the shape of :class:`ptpkit.ext.base.CapturePlan`):
    InitiateCapture, then ObjectAdded events until CaptureComplete (or, on a camera that does
    not send CaptureComplete, the first ObjectAdded), waited for within the capture's timeout
    from InitiateCapture's answer. The events are listened for from :meth:`prepare` on."""

    def __init__(self, service: Capture, storage_id: int, timeout_s: float) -> None:
        self._service = service
        self._storage_id = storage_id
        self._timeout_s = timeout_s
        self._stack = contextlib.ExitStack()
        self._added: list[CameraEvent] = []
        self._answer: list[CameraEvent] = []
        self._done = False
        # Set when the capture is answered, and when no more events can come (the event link
        # failed, close()): the wait is on the camera's clock.
        self._wake = Latch()
        self._capture_tid: list[int] = []
        self._has_complete = False

    def _listen(self, event: CameraEvent) -> bool:
        if self._done:
            return False  # arrived after the capture finished: somebody else's
        if event.code == Ec.OBJECT_ADDED and event.params:
            self._added.append(event)
            self._answer.append(event)
            if not self._has_complete:
                self._done = True
                self._wake.set()
            return True
        tid = self._capture_tid
        if event.code == Ec.CAPTURE_COMPLETE and (
            not tid or event.transaction_id in (tid[0], 0xFFFFFFFF)
        ):
            self._answer.append(event)
            self._done = True
            self._wake.set()
            return True
        return False

    def prepare(self, deadline: float) -> Step:
        cam = self._service._camera
        self._has_complete = Ec.CAPTURE_COMPLETE in cam.device_info.events_supported
        self._stack.enter_context(self._service._events.listening(self._listen, self._wake))
        initiate = ops.initiate_capture(self._storage_id)
        return Step(code=initiate.code, params=initiate.params)

    def abandon(self, *, sent: bool) -> None:
        self._stack.close()

    def finish_standard(self, reply: Reply, deadline: float) -> CaptureResult:
        """The capture's result (``deadline`` unused: the wait's runs from the answer)."""
        service = self._service
        cam = service._camera
        events = service._events
        try:
            if reply.code != Rc.OK:
                cam._check(
                    ops.initiate_capture(self._storage_id).code,
                    Response(code=reply.code, transaction_id=reply.transaction_id,
                             params=reply.params),
                )  # fmt: skip
            self._capture_tid.append(reply.transaction_id)
            timeout_s = self._timeout_s
            until = cam.clock.monotonic() + timeout_s
            while not self._done:
                events.raise_if_ended()
                remaining = until - cam.clock.monotonic()
                if remaining <= 0:
                    raise TransportTimeout(
                        f"the camera did not report the capture within {timeout_s:g} s "
                        f"({len(self._added)} new object(s) so far)"
                    )
                cam.clock.wait(self._wake, remaining)
        finally:
            self._stack.close()
        return CaptureResult((service.event_entry(event) for event in self._added), self._answer)


class ArmedCapture:
    """A capture made ready up to the release of the shutter (:meth:`Camera.arm_capture`):
    what comes before the release is done (a vendor's plan: events read, busy waited out,
    Canon EOS's half press and focus), and the release's request is encoded with its
    transaction id reserved. The camera's command channel is held for it: other transactions
    wait (an event poller skips its turn) until it is finished or disarmed.

    - :meth:`fire` sends the request: the only work left at the moment it must go, so one
      thread can fire many cameras' in a tight loop (a rig's synchronised release). It never
      raises for the link's failure: the error is this camera's, raised by :meth:`finish`.
    - :meth:`finish`, from any thread, reads the answer and does the rest exactly as
      :meth:`Camera.capture` would (the vendor's follow-up, the wait for the picture), within
      the capture's timeout from the moment it was fired.
    - :meth:`disarm` drops it unsent: the reserved transaction id is the next request's, the
      plan lets go of what it holds (EOS: RemoteReleaseOff), the session goes on.

    As a context manager, leaving it unfired disarms it.
    """

    def __init__(
        self,
        service: Capture,
        plan: CapturePlan | _StandardPlan,
        prepared: PreparedRequest,
        timeout_s: float,
    ) -> None:
        self._service = service
        self._plan = plan
        self._prepared = prepared
        self.timeout_s = timeout_s
        #: When :meth:`fire` sent the request (the camera's clock, monotonic s), or None.
        self.fired_at: float | None = None

    @property
    def operation(self) -> int:
        """The release's operation code."""
        return self._prepared.request.code

    @property
    def transaction_id(self) -> int:
        return self._prepared.transaction_id

    @property
    def armed(self) -> bool:
        """Ready and not fired (nor disarmed) yet."""
        return self._prepared.armed

    @property
    def error(self) -> Exception | None:
        """Why :meth:`fire` failed, or None."""
        return self._prepared.error

    def fire(self) -> bool:
        """Send the release's request now; False when the link failed (see :meth:`finish`)."""
        sent = self._prepared.send()
        self.fired_at = self._service._camera.clock.monotonic()
        return sent

    def finish(self) -> CaptureResult:
        """The capture's result, as :meth:`Camera.capture` gives it; the send's error when
        :meth:`fire` failed."""
        if self.fired_at is None:
            raise UsageError(
                "the capture was not fired: fire() it first"
                if self._prepared.armed
                else "the capture was disarmed, not fired"
            )
        service = self._service
        cam = service._camera
        clock = cam.clock
        deadline = self.fired_at + self.timeout_s
        request = self._prepared.request
        try:
            response = self._prepared.finish()
            if response.code == Rc.DEVICE_BUSY and cam.busy_retries:
                # As an ordinary transaction is asked again (Camera._run), within the time left.
                left = deadline - clock.monotonic()
                if left > 0:
                    response = cam._run(request.code, request.params, check=False, timeout_s=left)
        except BaseException:
            self._plan.abandon(sent=True)
            raise
        reply = _reply(response)
        plan = self._plan
        if isinstance(plan, _StandardPlan):
            return plan.finish_standard(reply, deadline)
        return service._result(plan.finish(reply, deadline))

    def disarm(self) -> None:
        """Drop the capture unsent (nothing to do once fired: :meth:`finish` it)."""
        if self._prepared.armed:
            try:
                self._prepared.disarm()
            finally:
                self._plan.abandon(sent=False)

    def __enter__(self) -> ArmedCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disarm()

    def __repr__(self) -> str:
        state = "armed" if self.armed else "fired" if self.fired_at is not None else "disarmed"
        return f"<ArmedCapture 0x{self.operation:04X} tid={self.transaction_id} {state}>"
