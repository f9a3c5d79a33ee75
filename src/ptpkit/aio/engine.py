"""Runs transactions on the event loop: the asyncio twin of :mod:`ptpkit.client.engine`.

The only place of ``ptpkit.aio`` that loops the core connection's ``next_event()`` and feeds it
bytes. Its rules are the blocking engine's, kept by the same pieces
(:class:`~ptpkit.client.engine.TransactionWindow` for deadlines and their messages):

- one transaction at a time per camera: an :class:`asyncio.Lock`, fair (first come, first
  served); a transaction started from inside one (a sink that calls the camera) is BusyError,
  not a deadlock;
- data phases stream: each chunk goes to the sink as it comes (a sink's ``start``, ``write`` and
  ``finish`` may be coroutines: a file written in a thread, a queue to a web response), and an
  upload reads its source in chunks (``read`` may be a coroutine);
- one deadline bounds a call: the request, the wait for the answer, probes answered and events
  delivered meanwhile; in a data phase the deadline moves with progress only (curl's low-speed
  rule, ``min_progress_bytes`` per ``timeout_s``). A deadline that passes breaks the link (the
  next call says to reconnect), as in the blocking engine: waiting longer for a cancel to drain
  would break the caller's timeout;
- a transaction that fails half way (a sink's error, or the task cancelled: ``task.cancel()``,
  an ``asyncio.timeout()`` of the caller's) is cancelled the protocol's way (PTP/IP's Cancel
  packet, USB's Cancel class request, through the transport) and drained to its end, within
  :data:`~ptpkit.client.engine.CANCEL_DRAIN_TIMEOUT_S`, so the session stays usable; the
  CancelledError is re-raised after. A second cancel during that drain leaves the link broken.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ptpkit import _log
from ptpkit._log import get_logger, hexdump
from ptpkit.aio.transports import AsyncTransport
from ptpkit.client.engine import _LAST_LOOK_S as LAST_LOOK_S
from ptpkit.client.engine import (
    CANCEL_DRAIN_TIMEOUT_S,
    MIN_PROGRESS_BYTES,
    TRACE,
    UPLOAD_CHUNK_BYTES,
    TransactionWindow,
)
from ptpkit.client.streams import BytesSink
from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection
from ptpkit.core.events import (
    NEED_DATA,
    Cancel,
    Data,
    DataEnd,
    DataPhase,
    DataStart,
    Event,
    Request,
    Response,
)
from ptpkit.core.ptpip import ProbeRequest
from ptpkit.core.ptpip import ProbeResponse as _ProbeResponse
from ptpkit.core.state import Phase, Role
from ptpkit.errors import (
    BusyError,
    ClosedError,
    LocalProtocolError,
    PTPError,
    TransportError,
    TransportTimeout,
)
from ptpkit.transports.base import WriteProgress

log = get_logger("ptpkit.transaction")

NameFunc = Callable[[int], str]


class AnySink(Protocol):
    """Where a data phase from the camera goes: a :class:`~ptpkit.client.streams.DataSink`,
    or the same three methods as coroutines. A chunk given to ``write`` is a view of the
    link's receive buffer, valid until ``write`` returns (or its coroutine ends): a sink that
    keeps it copies it (``bytes(chunk)``)."""

    def start(self, total_bytes: int | None) -> Any: ...

    def write(self, chunk: BytesLike) -> Any: ...

    def finish(self) -> Any: ...


class AnySource(Protocol):
    """Where a data phase to the camera comes from: a
    :class:`~ptpkit.client.streams.DataSource`, or one whose ``read`` is a coroutine."""

    @property
    def size(self) -> int: ...

    def read(self, max_bytes: int) -> Any: ...


async def _maybe(result: Any) -> Any:
    """The result of a sink's or source's method, awaited when it is a coroutine."""
    if inspect.isawaitable(result):
        return await result
    return result


class AsyncEngine:
    """One transaction at a time over one :class:`~ptpkit.aio.transports.AsyncTransport`."""

    def __init__(
        self,
        transport: AsyncTransport,
        *,
        timeout_s: float | None = 20.0,
        on_event: Callable[[Event], None] | None = None,
        operation_name: NameFunc | None = None,
        response_name: NameFunc | None = None,
        min_progress_bytes: int = MIN_PROGRESS_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if min_progress_bytes < 1:
            raise ValueError("min_progress_bytes must be at least 1")
        self.transport = transport
        self.timeout_s = timeout_s
        self.min_progress_bytes = min_progress_bytes
        self._clock = clock
        self.on_event = on_event
        self.operation_name: NameFunc = operation_name or (lambda code: f"0x{code:04X}")
        self.response_name: NameFunc = response_name or (lambda code: f"0x{code:04X}")
        self._lock = asyncio.Lock()
        #: The task running a transaction (a nested call from it is BusyError).
        self._owner: asyncio.Task[Any] | None = None
        self._waiting = 0
        self.connection = Connection(Role.INITIATOR, transport.framing())
        self.closed = False
        #: Transactions run so far.
        self.transactions = 0

    @property
    def idle(self) -> bool:
        """No transaction under way, and the connection usable for the next."""
        return self.connection.phase is Phase.IDLE

    @property
    def waiting(self) -> int:
        """Tasks waiting for their turn (a loop that would take the lock again at once, live
        view's, steps aside)."""
        return self._waiting

    async def run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data_out: AnySource | None = None,
        sink: AnySink | None = None,
        timeout_s: float | None = None,
        wait_turn: bool = True,
    ) -> tuple[Response, AnySink]:
        """Run one transaction; its response and the sink that got its data. Concurrent
        callers wait their turn (``wait_turn=False``: BusyError instead)."""
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            raise BusyError(
                f"cannot start {self.operation_name(code)} while another transaction is under "
                "way in this task (called from a data sink?)"
            )
        if self._lock.locked() and not wait_turn:
            raise BusyError(
                f"cannot start {self.operation_name(code)}: another task's transaction is under way"
            )
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        self._owner = task
        try:
            return await self._run_locked(
                code, params if type(params) is tuple else tuple(params), data_out, sink, timeout_s
            )
        except PTPError as exc:
            if self.closed and not isinstance(exc, ClosedError):
                raise ClosedError(
                    f"the camera was closed during {self.operation_name(code)}"
                ) from exc
            raise
        finally:
            self._owner = None
            self._lock.release()

    def close(self) -> None:
        """No more transactions; the connection is closed (the caller closes the transport)."""
        self.closed = True
        self.connection.close()

    # -- internals -------------------------------------------------------------------------------

    async def _run_locked(
        self,
        code: int,
        params: tuple[int, ...],
        data_out: AnySource | None,
        sink: AnySink | None,
        timeout_s: float | None,
    ) -> tuple[Response, AnySink]:
        if self.closed:
            raise ClosedError("the camera is closed")
        conn = self.connection
        if conn.phase is not Phase.IDLE:
            raise ClosedError(
                f"the connection cannot start a transaction ({conn.phase.value}); reconnect"
            )
        timeout = self.timeout_s if timeout_s is None else timeout_s
        out_sink: AnySink = sink if sink is not None else BytesSink()
        self.transactions += 1
        tid = conn.next_transaction_id(code)
        request = Request(
            code=code,
            transaction_id=tid,
            params=params,
            data_phase=DataPhase.OUT if data_out is not None else DataPhase.NONE_OR_IN,
        )
        if log.isEnabledFor(_log.DEBUG):
            log.debug(
                "-> %s(%s) tid=%d%s",
                self.operation_name(code),
                ", ".join(f"0x{p:08X}" for p in params),
                tid,
                f" + {data_out.size} bytes" if data_out is not None else "",
            )
        window = TransactionWindow(self._clock(), timeout, self.min_progress_bytes)
        self.transport.set_idle(False)
        try:
            await self._write(conn.send(request), window, code)
            if data_out is not None:
                await self._send_data(conn, tid, data_out, window, code)
            response = await self._receive(conn, code, out_sink, window)
        except TransportError as exc:
            # The link failed or the camera went quiet: the next transaction says to reconnect
            # (the blocking engine's rule).
            log.debug("transaction %d abandoned: %r", tid, exc)
            conn.phase = Phase.BROKEN
            raise
        except BaseException as exc:  # incl. CancelledError: the session must stay usable
            if conn.in_transaction and conn.phase not in (Phase.BROKEN, Phase.CLOSED):
                await self._cancel(conn, tid, exc)
            raise
        finally:
            if conn.phase is Phase.IDLE:
                self.transport.set_idle(True)
        if log.isEnabledFor(_log.DEBUG):
            log.debug(
                "<- %s (0x%04X)%s tid=%d",
                self.response_name(response.code),
                response.code,
                "(" + ", ".join(f"0x{p:08X}" for p in response.params) + ")"
                if response.params
                else "",
                response.transaction_id,
            )
        return response, out_sink

    async def _write(
        self,
        buffers: list[BytesLike],
        window: TransactionWindow,
        code: int,
        what: str = "the request",
    ) -> None:
        if log.isEnabledFor(TRACE):
            for buf in buffers:
                log.log(TRACE, "write %d bytes\n%s", len(buf), hexdump(buf))
        clock = self._clock
        remaining = window.remaining(clock())
        if remaining is not None and remaining <= 0:
            raise window.timeout_error(self.operation_name(code))
        progress: WriteProgress | None = None
        out = window.in_data and window.data_out
        if out:

            def progress(count: int) -> float | None:
                now = clock()
                window.progress(count, now)
                return window.remaining(now)

        window.writing = "" if out else what
        try:
            await self.transport.write(
                buffers,
                remaining,
                progress,
                ends_transfer=self.connection.phase is not Phase.INITIATOR_DATA,
            )
        except TransportTimeout as exc:
            if not window.expired(clock()):
                raise
            raise window.timeout_error(self.operation_name(code)) from exc
        finally:
            window.writing = ""

    async def _send_data(
        self,
        conn: Connection,
        tid: int,
        source: AnySource,
        window: TransactionWindow,
        code: int,
    ) -> None:
        out = conn.send(DataStart(transaction_id=tid, total_bytes=source.size))
        window.start_data(source.size, self._clock(), out=True)
        left = source.size
        while left > 0:
            chunk = await _maybe(source.read(min(UPLOAD_CHUNK_BYTES, left)))
            if not len(chunk):
                raise LocalProtocolError(
                    f"the data source ended {left} bytes short of the {source.size} it announced"
                )
            out += conn.send(Data(transaction_id=tid, chunk=chunk))
            left -= len(chunk)
            await self._write(out, window, code)
            out = []
            if conn.phase is Phase.IDLE:  # the device answered early (refused the data)
                break
            # A turn of the loop per chunk (1 MiB): while the socket takes the data at once no
            # await above waits, and a whole upload would hold the loop from every other camera
            # and from a cancel (CI: a task cancelled at 1 MiB completed its 24 MiB first).
            await asyncio.sleep(0)
        if out:
            await self._write(out, window, code)
        window.end_data(self._clock())

    async def _receive(
        self, conn: Connection, code: int, sink: AnySink, window: TransactionWindow
    ) -> Response:
        """Read until the response, within the transaction's deadline (the blocking engine's
        ``_receive``: the same window, the same messages)."""
        clock = self._clock
        transport = self.transport
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                remaining = window.remaining(clock())
                if remaining is not None and remaining <= 0:
                    if window.looked:
                        raise window.timeout_error(self.operation_name(code))
                    window.looked = True
                    remaining = LAST_LOOK_S
                try:
                    data, ended = await transport.receive(
                        remaining, in_data=conn.phase is Phase.RESPONDER_DATA
                    )
                except TransportTimeout as exc:
                    if not window.expired(clock()):
                        raise
                    raise window.timeout_error(self.operation_name(code)) from exc
                window.heard(len(data))
                if log.isEnabledFor(TRACE):
                    log.log(TRACE, "read %d bytes\n%s", len(data), hexdump(data))
                conn.receive_data(data, transfer_ended=ended)
                continue
            if isinstance(event, Data):
                result = sink.write(event.chunk)
                if result is not None:
                    await _maybe(result)
                window.progress(len(event.chunk), clock())
            elif isinstance(event, DataStart):
                result = sink.start(event.total_bytes)
                if result is not None:
                    await _maybe(result)
                window.start_data(event.total_bytes, clock())
            elif isinstance(event, DataEnd):
                result = sink.finish()
                if result is not None:
                    await _maybe(result)
                window.end_data(clock())
            elif isinstance(event, Response):
                return event
            elif isinstance(event, Event):
                window.chatter += 1
                if self.on_event:
                    self.on_event(event)
            elif isinstance(event, ProbeRequest):
                window.chatter += 1
                await self._write(conn.send(_ProbeResponse()), window, code, "a probe's answer")

    async def _cancel(self, conn: Connection, tid: int, cause: BaseException) -> None:
        """Cancel the transaction and drain what is left of it, so the link stays usable."""
        log.debug("cancelling transaction %d after %r", tid, cause)
        deadline = time.monotonic() + CANCEL_DRAIN_TIMEOUT_S
        sending = conn.phase is Phase.INITIATOR_DATA
        try:
            request = conn.send(Cancel(transaction_id=tid))
            if sending and not any(len(part) for part in request):
                # A link without a cancel in the middle of our data (Fujifilm's PTP/IP).
                log.debug("transaction %d: no cancel for a data phase sent in part", tid)
                conn.phase = Phase.BROKEN
                return
            await self.transport.cancel(request)
            while conn.phase is Phase.CANCELLING:
                if self.transport.cancel_finished():
                    conn.finish_cancel()
                    log.debug("transaction %d cancelled: the link says it is over", tid)
                    break
                event = conn.next_event()
                if event is NEED_DATA:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TransportTimeout(
                            f"the camera did not end the cancelled transaction within "
                            f"{CANCEL_DRAIN_TIMEOUT_S:g} s"
                        )
                    data, ended = await self.transport.receive(remaining)
                    conn.receive_data(data, transfer_ended=ended)
                elif isinstance(event, Response):
                    log.debug(
                        "transaction %d cancelled: the camera answered %s",
                        tid,
                        self.response_name(event.code),
                    )
                elif isinstance(event, Event) and self.on_event:
                    self.on_event(event)
                elif isinstance(event, ProbeRequest):
                    await self.transport.write(conn.send(_ProbeResponse()), remaining_s(deadline))
                # Data still in flight for the cancelled transaction is dropped.
        except (PTPError, asyncio.CancelledError) as exc:
            # The link could not be brought back (or the drain itself was cancelled): later
            # transactions say so.
            log.debug("cancel of transaction %d failed: %r", tid, exc)
            conn.phase = Phase.BROKEN
            if isinstance(exc, asyncio.CancelledError):
                raise


def remaining_s(deadline: float) -> float:
    """Seconds left until ``deadline`` (monotonic), never below zero."""
    return max(0.0, deadline - time.monotonic())
