"""Vendor extensions under ``ptpkit.aio``: the same extension objects as the blocking Camera's
(:mod:`ptpkit.ext`), their blocking hooks run in a few worker threads of the camera's own, every
transaction they make run by the asyncio engine on the loop.

An extension sees a small :class:`~ptpkit.ext.base.Session` (run a transaction, emit an event,
wait for one, the clock); :class:`BridgeSession` is that Session for an asyncio camera: called
from a hook's worker thread, it hands the work to the loop
(``asyncio.run_coroutine_threadsafe``) and waits for it, so the extension's code is unchanged and
its transactions are serialised with the program's on the one engine. Hooks an extension does
not override are never called (so a camera whose extensions add nothing, or only MTP's listing,
which ``ptpkit.aio`` does not use, starts no thread); pure hooks (value formatting and parsing,
vendor response codes, the property list) run inline on the loop. A poller (Canon EOS GetEvent,
Nikon GetEvent) runs as a task that calls ``poll()`` in a worker thread between its pauses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Collection, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from ptpkit._log import get_logger
from ptpkit.aio._timeouts import bounded
from ptpkit.client.objects import overrides
from ptpkit.client.streams import BytesSink, BytesSource
from ptpkit.core.buffer import BytesLike
from ptpkit.core.datasets import DeviceInfo
from ptpkit.core.events import Event
from ptpkit.errors import ClosedError, PTPError, ResponseError, UsageError
from ptpkit.ext.base import (
    AnswerEvent,
    DataSink,
    EventPoller,
    Extension,
    ExtensionFactory,
    Reply,
    SideChannels,
)
from ptpkit.timing import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from ptpkit.aio.events import AsyncEventStream
    from ptpkit.aio.transports import AsyncTransport
    from ptpkit.client.events import CameraEvent
    from ptpkit.core.events import Response


#: Hooks whose base-class default runs another hook: an extension overriding the other one has
#: the first (Extension.capture runs capture_plan's plan).
_RUN_BY_DEFAULT: dict[str, tuple[str, ...]] = {"capture": ("capture_plan",)}


class Camera(Protocol):
    """What the bridge uses of its asyncio camera (declared here: camera.py imports this)."""

    _events: AsyncEventStream

    @property
    def url(self) -> str: ...
    @property
    def transport(self) -> AsyncTransport: ...
    @property
    def device_info(self) -> DeviceInfo: ...
    @property
    def transactions_run(self) -> int: ...
    @property
    def link_idle(self) -> bool: ...

    def _run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data_out: Any = None,
        sink: Any = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Coroutine[Any, Any, Response]: ...

    def _deliver_event(self, event: Event, details: object = None) -> None: ...

    def wait_event(
        self, codes: Iterable[int] | None = None, *, timeout_s: float = 10.0
    ) -> Coroutine[Any, Any, CameraEvent]: ...


log = get_logger("ptpkit")

_T = TypeVar("_T")

#: Worker threads per camera for its extensions' hooks: the poller's, a capture waiting for its
#: events, and room for a property call meanwhile.
HOOK_THREADS: Final = 4
#: Seconds a poll refused by the camera (busy, another transaction) waits before the next.
_REFUSED_POLL_RETRY_S: Final = 1.0
#: How long close() waits for hooks still running to end (their transactions end with the
#: session at the latest).
_SETTLE_S: Final = 10.0
#: A hook's thread looks this often whether the loop it waits for is gone.
_LOOP_CHECK_S: Final = 1.0


class BridgeSession:
    """The :class:`~ptpkit.ext.base.Session` of an asyncio camera's extensions (see the module
    docstring). Its blocking calls are for hook threads; on the loop's own thread they would
    wait for themselves, and are refused."""

    def __init__(self, camera: Camera, loop: asyncio.AbstractEventLoop) -> None:
        self._camera = camera
        self._loop = loop
        self._loop_thread = threading.get_ident()

    @property
    def label(self) -> str:
        return self._camera.url

    @property
    def transport_kind(self) -> str:
        return self._camera.transport.kind

    @property
    def device_info(self) -> DeviceInfo:
        return self._camera.device_info

    @property
    def clock(self) -> Clock:
        return SYSTEM_CLOCK

    @property
    def transactions_run(self) -> int:
        return self._camera.transactions_run

    @property
    def idle(self) -> bool:
        return self._camera.link_idle

    def _on_loop(self, work: Coroutine[Any, Any, _T], what: str) -> _T:
        if threading.get_ident() == self._loop_thread:
            work.close()
            raise UsageError(
                f"an extension's {what} ran on the event loop's thread; ptpkit.aio runs hooks "
                "in worker threads"
            )
        if self._loop.is_closed():
            work.close()
            raise ClosedError("the camera's event loop is closed")
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        while True:
            try:
                return future.result(_LOOP_CHECK_S)
            except concurrent.futures.TimeoutError:
                if self._loop.is_closed() or not self._loop.is_running():
                    future.cancel()
                    raise ClosedError("the camera's event loop stopped") from None
            except concurrent.futures.CancelledError:
                raise ClosedError("the camera closed during an extension's call") from None

    def run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data: BytesLike | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Reply:
        kept = BytesSink() if sink is None else None
        response = self._on_loop(
            self._camera._run(
                code,
                params,
                data_out=None if data is None else BytesSource(data),
                sink=kept if kept is not None else sink,
                timeout_s=timeout_s,
                check=check,
                wait_turn=wait_turn,
            ),
            "transaction",
        )
        return Reply(
            code=response.code,
            params=response.params,
            data=kept.getvalue() if kept is not None else b"",
        )

    def emit(self, code: int, params: Sequence[int] = (), *, details: object = None) -> None:
        event = Event(code=code, params=tuple(params))
        if threading.get_ident() == self._loop_thread:
            self._camera._deliver_event(event, details)
        elif not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._camera._deliver_event, event, details)

    def wait_event(self, codes: Collection[int], timeout_s: float) -> AnswerEvent:
        event = self._on_loop(
            self._camera.wait_event(codes, timeout_s=timeout_s), "wait for an event"
        )
        return AnswerEvent(
            code=event.code,
            params=tuple(event.params),
            details=event.details,
            transaction_id=event.transaction_id,
        )

    @property
    def side_channels(self) -> SideChannels | None:
        transport: object = self._camera.transport
        link = getattr(transport, "link", None)  # a blocking link in a worker thread
        for candidate in (transport, link):
            if isinstance(candidate, SideChannels):
                return candidate
        return None


class VendorBridge:
    """One asyncio camera's extension instances, and how their hooks are run."""

    def __init__(self, camera: Camera) -> None:
        loop = asyncio.get_running_loop()
        self._camera = camera
        self._loop = loop
        self.session = BridgeSession(camera, loop)
        #: The camera's extension instances, in the order they are asked (vendor, then MTP).
        self.extensions: list[Extension] = []
        self._workers: concurrent.futures.ThreadPoolExecutor | None = None
        #: Hook calls under way, their threads' futures (close() waits for them: a thread must
        #: not outlive the loop it waits for).
        self._running: set[concurrent.futures.Future[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._attention = asyncio.Event()
        self._closing = False

    def configure(self, factories: Iterable[ExtensionFactory]) -> None:
        """One instance per factory (a DeviceInfo read again keeps the ones it still wants)."""
        known = {type(extension): extension for extension in self.extensions}
        self.extensions = [known.get(f) or f(self.session) for f in factories]

    # -- running hooks ---------------------------------------------------------------------------

    async def call(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)`` in one of the camera's hook threads. A cancelled caller does not
        stop it (a blocking hook cannot be interrupted); close() waits for it."""
        if self._workers is None:
            self._workers = concurrent.futures.ThreadPoolExecutor(
                max_workers=HOOK_THREADS, thread_name_prefix=f"ptpkit-ext-{self._camera.url}"
            )
        work = self._workers.submit(function, *args)
        # The thread's own future: a cancelled caller stops waiting, close() still waits for it.
        self._running.add(work)
        work.add_done_callback(self._running.discard)
        waited = asyncio.wrap_future(work)
        waited.add_done_callback(_retrieved)
        return await asyncio.shield(waited)

    def overriding(self, hook: str) -> list[Extension]:
        """The extensions that have ``hook``: their own, or one the base class's default runs
        (a ``capture_plan`` is what the base ``capture`` runs)."""
        names = (hook, *_RUN_BY_DEFAULT.get(hook, ()))
        return [
            extension
            for extension in self.extensions
            if any(overrides(extension, name) for name in names)
        ]

    async def ask(self, hook: str, call: Callable[[Extension], _T | None]) -> _T | None:
        """The first answer of the extensions that have ``hook``, in order, each asked in a
        hook thread; None when none answers (the caller does standard PTP)."""
        for extension in self.overriding(hook):
            answer = await self.call(call, extension)
            if answer is not None:
                return answer
        return None

    def ask_now(self, hook: str, call: Callable[[Extension], _T | None]) -> _T | None:
        """:meth:`ask` for a pure hook (no transaction: formatting, parsing, codes), inline."""
        for extension in self.overriding(hook):
            answer = call(extension)
            if answer is not None:
                return answer
        return None

    # -- the session -----------------------------------------------------------------------------

    async def open(self) -> None:
        """The extensions' set-up after OpenSession, then their event poller, if any."""
        for extension in self.overriding("open_session"):
            await self.call(extension.open_session)
        poller = await self.ask("event_poller", lambda extension: extension.event_poller())
        if poller is not None:
            self._poller = self._loop.create_task(
                self._poll(poller), name=f"ptpkit-poller-{self._camera.url}"
            )

    def attention(self) -> None:
        """A program waits for an event: an attentive poller polls at its fastest now."""
        self._attention.set()

    async def _poll(self, poller: EventPoller) -> None:
        """The blocking EventStream's poller loop on the loop: ``poll()`` in a hook thread,
        then the pause it asks for (at most ``attentive_interval_s`` while someone waits)."""
        attentive_s: float | None = getattr(poller, "attentive_interval_s", None)
        events = self._camera._events
        while not self._closing:
            try:
                interval_s = await self.call(poller.poll)
            except ResponseError as exc:  # busy, or refused now: not the end of the events
                log.debug("event poll answered %s; polling on", exc)
                interval_s = _REFUSED_POLL_RETRY_S
            except PTPError as exc:
                if not self._closing:
                    events.fail(exc)
                return
            polled_at = self._loop.time()
            while not self._closing:
                self._attention.clear()
                wait_s = interval_s
                if events.waiting and attentive_s is not None:
                    wait_s = min(interval_s, attentive_s)
                remaining = polled_at + wait_s - self._loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await bounded(self._attention.wait(), remaining)

    async def close(self) -> None:
        """Stop the poller, run the extensions' tear-down (in reverse order, while the engine
        still runs), and wait for hooks still under way."""
        self._closing = True
        task, self._poller = self._poller, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, PTPError):
                await task
        for extension in reversed(self.overriding("close_session")):
            try:
                await self.call(extension.close_session)
            except PTPError as exc:
                log.debug("extension %s failed before close: %s", extension.name, exc)
        await self.settle()

    async def settle(self) -> None:
        """Wait (bounded) for hook calls still running, then let the threads go."""
        running = [asyncio.wrap_future(work) for work in list(self._running)]
        if running:
            await asyncio.wait(running, timeout=_SETTLE_S)
        if self._workers is not None:
            self._workers.shutdown(wait=False)
            self._workers = None


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Take a hook's outcome off a future nobody awaits any more (its caller was cancelled),
    so asyncio does not log it as never retrieved; close() reports what matters."""
    if not future.cancelled():
        future.exception()
