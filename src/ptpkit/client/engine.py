"""Runs transactions: drives the core connection over a transport, one transaction at a time.

This is the only place that loops ``next_event()`` / ``read_into()`` on the initiator side. It
serialises callers from several threads (a lock), streams data phases between the wire and a
sink or source, answers PTP/IP probes, forwards events that arrive on the command channel, and
cancels a transaction whose sink or source fails, draining the channel before the error is
re-raised so that the next transaction starts clean.

The engine owns the command channel's :class:`~ptpkit.core.connection.Connection`, made from the
transport's framing (:meth:`~ptpkit.transports.base.Transport.framing`) once the link is open; the
transport is a byte channel and never sees it. What the link must know of the protocol, the engine
says in each call, from its connection's phase: a write that leaves a data-out phase going on
(``ends_transfer=False``: USB sends whole packets until the transfer ends), a read inside the
camera's data phase (``in_data=True``: a USB stall there is fatal, between transfers it is cleared
and read again), whether the channel is idle (``set_idle``: USB polls events between transactions
only), and the link's reset under the connection's (:meth:`Engine.reset`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from ptpkit import _log
from ptpkit._log import get_logger
from ptpkit.client.streams import BytesSink, DataSink, DataSource
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
from ptpkit.transports.base import Transport

log = get_logger("ptpkit.transaction")
#: Below DEBUG: hex dumps of what goes over the wire (logging calls it "TRACE": ptpkit._log).
TRACE: Final = _log.TRACE

#: Bytes read from an upload source per chunk.
UPLOAD_CHUNK_BYTES: Final = 1 << 20
#: How long to wait for a cancelled transaction to end before giving up on the link.
CANCEL_DRAIN_TIMEOUT_S: Final = 10.0
#: A data phase must bring this many more bytes in each ``timeout_s`` window, or it ends with
#: TransportTimeout. 64 KiB per window is 3.2 KiB/s at the default 20 s: far below any working
#: link (USB 1.1 full speed moves ~1 MB/s, a weak Wi-Fi link still ~100 KiB/s), far above a
#: camera that trickles bytes to keep a call alive; and under one PTP/IP data packet of the
#: size cameras send (libgphoto2's senddata writes 64 KiB blocks), so an honest camera passes
#: it with its first packet of each window.
MIN_PROGRESS_BYTES: Final = 64 * 1024
#: A transport's timeout that fires this close to the deadline is the deadline's.
_TIMER_SLACK_S: Final = 0.05
#: At the deadline, one last read waits this long: an answer already there is taken (the
#: in-process camera answers inside the request's write, however long its work took).
_LAST_LOOK_S: Final = 0.001
#: Guards the engines' counts of waiting threads (taken briefly, only when a thread must wait).
_WAITING_LOCK: Final = threading.Lock()

NameFunc = Callable[[int], str]


#: Shared with ptpkit.aio's engine and the PowerShot link (ptpkit._log.hexdump).
hexdump = _log.hexdump


class TransactionWindow:
    """The deadline of one transaction, and what went and came meanwhile (for the message).

    The same rules both ways: the request and the wait for the answer share one deadline; a
    data phase, in or out, moves it only with progress (bytes received, or taken by the camera).
    """

    def __init__(self, now: float, timeout_s: float | None, min_progress_bytes: int) -> None:
        self.timeout_s = timeout_s
        self.min_progress_bytes = min_progress_bytes
        self.deadline = None if timeout_s is None else now + timeout_s
        #: Bytes read from the link since the wait (or the window) began.
        self.heard_bytes = 0
        #: The read at the deadline, for what had already arrived, was made.
        self.looked = False
        #: Probes and events that came meanwhile (they do not extend the deadline).
        self.chatter = 0
        #: In a data phase: its declared size, bytes so far, bytes since the window moved.
        self.in_data = False
        #: The data phase goes to the camera (an upload): progress is bytes it took.
        self.data_out = False
        #: What is being written outside a data phase ("the request", "a probe's answer").
        self.writing = ""
        self.data_total: int | None = None
        self.data_bytes = 0
        self.window_bytes = 0

    def remaining(self, now: float) -> float | None:
        return None if self.deadline is None else self.deadline - now

    def expired(self, now: float) -> bool:
        return self.deadline is not None and self.deadline - now <= _TIMER_SLACK_S

    def heard(self, count: int) -> None:
        self.heard_bytes += count

    def _restart(self, now: float) -> None:
        if self.timeout_s is not None:
            self.deadline = now + self.timeout_s
        self.heard_bytes = self.chatter = self.window_bytes = 0
        self.looked = False

    def start_data(self, total_bytes: int | None, now: float, *, out: bool = False) -> None:
        # The data has begun (the camera answered, or took the request of an upload): the data
        # phase gets its own windows.
        self.in_data = True
        self.data_out = out
        self.data_total = total_bytes
        self._restart(now)

    def progress(self, count: int, now: float) -> None:
        self.data_bytes += count
        self.window_bytes += count
        if self.window_bytes >= self.min_progress_bytes:
            self._restart(now)

    def end_data(self, now: float) -> None:
        # All the data came: the response is due, within a fresh timeout.
        self.in_data = False
        self._restart(now)

    def timeout_error(self, operation: str) -> TransportTimeout:
        seconds = f"{self.timeout_s:g} s"
        if self.in_data and self.data_out:
            total = f" of {self.data_total:,}" if self.data_total is not None else ""
            return TransportTimeout(
                f"{operation}: the camera took the data too slowly: {self.window_bytes:,} bytes "
                f"in the last {seconds}, at least {self.min_progress_bytes:,} are needed in each "
                f"{seconds} ({self.data_bytes:,}{total} bytes sent)"
            )
        if self.in_data:
            total = f" of {self.data_total:,}" if self.data_total is not None else ""
            return TransportTimeout(
                f"{operation}: the data came too slowly: {self.window_bytes:,} bytes in the "
                f"last {seconds}, at least {self.min_progress_bytes:,} are needed in each "
                f"{seconds} ({self.data_bytes:,}{total} bytes received)"
            )
        if self.writing:
            return TransportTimeout(
                f"{operation}: the camera did not take {self.writing} within {seconds}"
            )
        if self.chatter:
            return TransportTimeout(
                f"{operation}: no response from the camera within {seconds} (it sent only "
                f"{self.chatter} probe(s) or event(s) meanwhile)"
            )
        if self.heard_bytes:
            return TransportTimeout(
                f"{operation}: no complete response from the camera within {seconds} "
                f"({self.heard_bytes:,} bytes of it arrived)"
            )
        return TransportTimeout(
            f"{operation}: the camera sent nothing for {seconds} (waiting for its response)"
        )


_ARMED: Final = "armed"
_SENT: Final = "sent"
_FAILED: Final = "failed"
_DONE: Final = "done"


class PreparedRequest:
    """A transaction whose request is encoded and whose id is reserved, but not sent
    (:meth:`Engine.prepare`): the engine's command channel is held for it until :meth:`finish`
    or :meth:`disarm`.

    :meth:`send` is the only work left at the moment it must go (one thread may send many
    cameras' in a loop: a rig's synchronised release); :meth:`finish`, from any thread, reads
    the answer within the transaction's deadline, which starts at the send. The connection
    takes the request as sent (``request sent, awaiting data or response``) only once it went.
    """

    def __init__(
        self,
        engine: Engine,
        request: Request,
        wire: list[BytesLike],
        send_now: Callable[[], int],
        timeout_s: float | None,
    ) -> None:
        self._engine = engine
        self.request = request
        #: The request's bytes as they go on the wire.
        self.wire = wire
        self._send_now = send_now
        self.timeout_s = timeout_s
        #: When the send returned (the engine's clock, monotonic seconds); None before.
        self.sent_at: float | None = None
        #: Bytes the link took in the send (the rest is written by :meth:`finish`).
        self.sent_bytes = 0
        #: Why the send failed, or None.
        self.error: Exception | None = None
        self._state = _ARMED

    @property
    def transaction_id(self) -> int:
        return self.request.transaction_id

    @property
    def armed(self) -> bool:
        """Prepared and not sent (nor disarmed) yet."""
        return self._state == _ARMED

    def send(self) -> bool:
        """Send the request now. False when the link failed (the error is kept, and raised by
        :meth:`finish`): never raises for a link's failure, so that a loop sending many
        cameras' requests goes on to the next."""
        if self._state != _ARMED:
            raise LocalProtocolError(
                f"transaction {self.request.transaction_id} is not armed ({self._state})"
            )
        try:
            self.sent_bytes = self._send_now()
        except Exception as exc:  # the camera's own failure, whatever the link raised
            self.error = exc
            self._state = _FAILED
            return False
        self.sent_at = self._engine._clock()
        self._state = _SENT
        return True

    def finish(self, sink: DataSink | None = None) -> Response:
        """The transaction's answer (its data to ``sink``), as :meth:`Engine.run` gives it;
        the send's error when the send failed (the link is then out of step: reconnect)."""
        state = self._state
        if state == _ARMED:
            raise LocalProtocolError(
                f"transaction {self.request.transaction_id} was not sent: send() or disarm() it"
            )
        if state == _DONE:
            raise LocalProtocolError(f"transaction {self.request.transaction_id} is over")
        self._state = _DONE
        if state == _FAILED:
            assert self.error is not None
            self._engine._give_up_prepared(self)
            raise self.error
        return self._engine._finish_prepared(self, sink if sink is not None else BytesSink())

    def disarm(self) -> None:
        """Drop the request unsent: its transaction id is the next request's again, and the
        channel is free. Nothing to do once finished or disarmed; LocalProtocolError once sent
        (the camera has it: :meth:`finish` reads its answer)."""
        if self._state == _DONE:
            return
        if self._state != _ARMED:
            raise LocalProtocolError(
                f"transaction {self.request.transaction_id} was sent already: finish() it"
            )
        self._state = _DONE
        self._engine._disarm(self)

    def __repr__(self) -> str:
        return (
            f"<PreparedRequest 0x{self.request.code:04X} "
            f"tid={self.request.transaction_id} {self._state}>"
        )


def _skip_bytes(buffers: Sequence[BytesLike], count: int) -> list[BytesLike]:
    """What is left of ``buffers`` after their first ``count`` bytes."""
    rest: list[BytesLike] = []
    for buffer in buffers:
        size = len(buffer)
        if count >= size:
            count -= size
            continue
        rest.append(memoryview(buffer).cast("B")[count:] if count else buffer)
        count = 0
    return rest


class Engine:
    """One transaction at a time over one transport.

    ``timeout_s`` bounds each transaction as a whole, its writes and its wait (see
    :meth:`_receive`); ``min_progress_bytes`` is what a data phase must move, either way, in each
    ``timeout_s`` window.
    """

    def __init__(
        self,
        transport: Transport,
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
        #: Monotonic seconds; tests pass a fake clock.
        self._clock = clock
        self.on_event = on_event
        self.operation_name: NameFunc = operation_name or (lambda code: f"0x{code:04X}")
        self.response_name: NameFunc = response_name or (lambda code: f"0x{code:04X}")
        self._lock = threading.Lock()
        self._owner: int | None = None
        #: Threads blocked waiting for their turn (read without the lock: a hint for a loop
        #: that would take the lock again at once, live view's reader, to step aside).
        self._waiting = 0
        self._view = transport.receive_buffer()
        #: The command channel's sans-IO connection: the transport's framing as open() left it
        #: (after PTP/IP's handshake, ready for transactions).
        self.connection = Connection(Role.INITIATOR, transport.framing())
        self.closed = False
        #: Transactions run so far (benchmarks and diagnostics count round trips with it).
        self.transactions = 0

    @property
    def waiting(self) -> int:
        """Threads waiting for their turn to run a transaction."""
        return self._waiting

    @property
    def idle(self) -> bool:
        """No transaction under way, and the connection usable for the next."""
        return self.connection.phase is Phase.IDLE

    # -- public ----------------------------------------------------------------------------------

    def run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data_out: DataSource | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
        wait_turn: bool = True,
    ) -> tuple[Response, DataSink]:
        """Run one transaction and return its response and the sink that got its data.

        Concurrent callers wait their turn (``wait_turn=False``: BusyError instead, when another
        thread's transaction is under way). A callback that starts a transaction from inside a
        running one (a progress callback, say) gets BusyError instead of a deadlock.
        """
        self._take_turn(code, wait_turn)
        try:
            return self._run_locked(code, tuple(params), data_out, sink, timeout_s)
        except PTPError as exc:
            self._raise_if_closed(exc, code)
            raise
        finally:
            self._owner = None
            self._lock.release()

    def _raise_if_closed(self, exc: PTPError, code: int) -> None:
        if self.closed and not isinstance(exc, ClosedError):
            # Closed by another thread mid-way: whatever the torn-down link said (bytes after
            # close, a closed socket), the cause is the close.
            raise ClosedError(f"the camera was closed during {self.operation_name(code)}") from exc

    def _take_turn(self, code: int, wait_turn: bool) -> None:
        if self._owner == threading.get_ident():
            raise BusyError(
                f"cannot start {self.operation_name(code)} while another transaction is under "
                "way in this thread (called from a progress callback or data sink, or with an "
                "armed capture not yet finished?)"
            )
        if not self._lock.acquire(blocking=False):
            if wait_turn:
                with _WAITING_LOCK:
                    self._waiting += 1
                try:
                    self._lock.acquire()
                finally:
                    with _WAITING_LOCK:
                        self._waiting -= 1
            else:
                raise BusyError(
                    f"cannot start {self.operation_name(code)}: another thread's transaction is "
                    "under way"
                )
        self._owner = threading.get_ident()

    def prepare(
        self, code: int, params: Sequence[int] = (), *, timeout_s: float | None = None
    ) -> PreparedRequest | None:
        """A transaction without a data phase from us, its request encoded and its id reserved
        but nothing sent: :meth:`PreparedRequest.send` puts it on the wire at a moment of the
        caller's choosing (an armed capture), :meth:`PreparedRequest.finish` reads its answer,
        :meth:`PreparedRequest.disarm` drops it unsent. None where the link has no raw send
        (:meth:`Transport.prepared_send`): run the transaction the ordinary way.

        The command channel is this transaction's from now until it is finished or disarmed:
        other threads' transactions wait (a poller's, with ``wait_turn=False``, is skipped);
        one from this thread gets BusyError. ``timeout_s`` (default the engine's) bounds the
        transaction from the moment it is sent.
        """
        self._take_turn(code, wait_turn=True)
        try:
            if self.closed:
                raise ClosedError("the camera is closed")
            conn = self.connection
            if conn.phase is not Phase.IDLE:
                raise ClosedError(
                    f"the connection cannot start a transaction ({conn.phase.value}); reconnect"
                )
            tid = conn.next_transaction_id(code)
            request = Request(code=code, transaction_id=tid, params=tuple(params))
            try:
                wire = conn.encode_request(request)
                send_now = self.transport.prepared_send(wire)
            except BaseException:
                conn.give_back_transaction_id(tid)
                raise
            if send_now is None:
                conn.give_back_transaction_id(tid)
                self._owner = None
                self._lock.release()
                return None
            # A link that touches the device between transactions only (USB events="between")
            # leaves it alone from now: the request may go at any moment.
            self.transport.set_idle(False)
        except BaseException:
            self._owner = None
            self._lock.release()
            raise
        timeout = self.timeout_s if timeout_s is None else timeout_s
        return PreparedRequest(self, request, wire, send_now, timeout)

    def _disarm(self, prepared: PreparedRequest) -> None:
        try:
            self.connection.give_back_transaction_id(prepared.transaction_id)
            if self.connection.phase is Phase.IDLE:
                self.transport.set_idle(True)
        finally:
            self._owner = None
            self._lock.release()

    def _give_up_prepared(self, prepared: PreparedRequest) -> None:
        """A prepared request whose send failed: how much of it went is not known, so the
        link is out of step (as after a failed write of an ordinary request)."""
        log.debug("transaction %d abandoned: %r", prepared.transaction_id, prepared.error)
        try:
            if self.connection.phase is Phase.IDLE:
                self.connection.phase = Phase.BROKEN
        finally:
            self._owner = None
            self._lock.release()

    def _finish_prepared(self, prepared: PreparedRequest, sink: DataSink) -> Response:
        """The rest of a prepared transaction whose request went (in part: ``sent_bytes``)."""
        request = prepared.request
        conn = self.connection
        self._owner = threading.get_ident()
        try:
            if self.closed:
                raise ClosedError("the camera is closed")
            if conn.phase is not Phase.IDLE:
                raise ClosedError(
                    f"the connection cannot go on with a transaction ({conn.phase.value}); "
                    "reconnect"
                )
            # The request is on the wire: the transaction is under way from the send's time.
            conn.request_sent(request)
            self.transactions += 1
            self._log_request(request, None)
            if log.isEnabledFor(TRACE):
                for buf in prepared.wire:
                    log.log(TRACE, "write %d bytes (prepared)\n%s", len(buf), hexdump(buf))
            sent_at = prepared.sent_at if prepared.sent_at is not None else self._clock()
            window = TransactionWindow(sent_at, prepared.timeout_s, self.min_progress_bytes)
            unsent = _skip_bytes(prepared.wire, prepared.sent_bytes)
            return self._carry(request, window, sink, None, unsent)
        except PTPError as exc:
            self._raise_if_closed(exc, request.code)
            raise
        finally:
            self._owner = None
            self._lock.release()

    def reset(self) -> None:
        """Bring a link an error left out of step back: the transport's reset (USB Device Reset,
        a TransportError where the link has none), then the connection afresh, without a
        session (the caller opens one again). Waits for another thread's transaction."""
        if self._owner == threading.get_ident():
            raise BusyError("cannot reset the link from inside a transaction")
        with self._lock:
            if self.closed:
                raise ClosedError("the camera is closed")
            self.transport.reset()
            self.connection.reset()
            self.transport.set_idle(True)

    def close(self) -> None:
        """No more transactions; the connection is closed (the caller closes the transport)."""
        self.closed = True
        self.connection.close()

    # -- internals -------------------------------------------------------------------------------

    def _run_locked(
        self,
        code: int,
        params: tuple[int, ...],
        data_out: DataSource | None,
        sink: DataSink | None,
        timeout_s: float | None,
    ) -> tuple[Response, DataSink]:
        if self.closed:
            raise ClosedError("the camera is closed")
        conn = self.connection
        if conn.phase is not Phase.IDLE:
            # A previous transaction was abandoned mid-way (an error we could not drain).
            raise ClosedError(
                f"the connection cannot start a transaction ({conn.phase.value}); reconnect"
            )
        timeout = self.timeout_s if timeout_s is None else timeout_s
        sink = sink if sink is not None else BytesSink()
        self.transactions += 1
        tid = conn.next_transaction_id(code)
        request = Request(
            code=code,
            transaction_id=tid,
            params=params,
            data_phase=DataPhase.OUT if data_out is not None else DataPhase.NONE_OR_IN,
        )
        self._log_request(request, data_out)
        window = TransactionWindow(self._clock(), timeout, self.min_progress_bytes)
        self.transport.set_idle(False)
        return self._carry(request, window, sink, data_out, None), sink

    def _log_request(self, request: Request, data_out: DataSource | None) -> None:
        if log.isEnabledFor(_log.DEBUG):
            log.debug(
                "-> %s(%s) tid=%d%s",
                self.operation_name(request.code),
                ", ".join(f"0x{p:08X}" for p in request.params),
                request.transaction_id,
                f" + {data_out.size} bytes" if data_out is not None else "",
            )

    def _carry(
        self,
        request: Request,
        window: TransactionWindow,
        sink: DataSink,
        data_out: DataSource | None,
        unsent: list[BytesLike] | None,
    ) -> Response:
        """A transaction from its request to its response. ``unsent``: None to send the request
        now; else it went already (a prepared request) but for these bytes."""
        conn = self.connection
        code, tid = request.code, request.transaction_id
        try:
            # One deadline from here: the request's write, the data out, the wait for the answer.
            if unsent is None:
                self._write(conn.send(request), window, code)
            elif unsent:
                self._write(unsent, window, code)
            if data_out is not None:
                self._send_data(conn, tid, data_out, window, code)
            response = self._receive(conn, code, sink, window)
        except TransportError as exc:
            # The link itself failed or the camera went quiet: waiting longer for a cancel to
            # drain would break the caller's timeout. The next transaction says to reconnect.
            log.debug("transaction %d abandoned: %r", tid, exc)
            conn.phase = Phase.BROKEN
            raise
        except BaseException as exc:  # incl. KeyboardInterrupt: the link must stay usable
            if conn.in_transaction and conn.phase not in (Phase.BROKEN, Phase.CLOSED):
                self._cancel(conn, tid, exc)
            raise
        finally:
            # Idle again unless the transaction broke the link (it stays busy until a reset).
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
        return response

    def _write(
        self,
        buffers: list[BytesLike],
        window: TransactionWindow,
        code: int,
        what: str = "the request",
    ) -> None:
        """Write within the transaction's deadline. In a data-out phase the camera's progress
        moves it (the low-speed rule of :meth:`_receive`, with bytes taken for bytes received);
        any other write (the request, a probe's answer) gets what is left of it."""
        if log.isEnabledFor(TRACE):
            for buf in buffers:
                log.log(TRACE, "write %d bytes\n%s", len(buf), hexdump(buf))
        clock = self._clock
        remaining = window.remaining(clock())
        if remaining is not None and remaining <= 0:
            raise window.timeout_error(self.operation_name(code))

        def progress(count: int) -> float | None:
            now = clock()
            window.progress(count, now)
            return window.remaining(now)

        out = window.in_data and window.data_out
        window.writing = "" if out else what
        try:
            self.transport.write(
                buffers,
                remaining,
                progress if out else None,
                # The data-out phase goes on after these bytes: over USB, one transfer.
                ends_transfer=self.connection.phase is not Phase.INITIATOR_DATA,
            )
        except TransportTimeout as exc:
            # As for reads: a transport's own bound (PTP/IP's send_timeout_s) says what it is;
            # at the deadline, the transaction's story is the message.
            if not window.expired(clock()):
                raise
            raise window.timeout_error(self.operation_name(code)) from exc
        finally:
            window.writing = ""

    def _send_data(
        self, conn: Connection, tid: int, source: DataSource, window: TransactionWindow, code: int
    ) -> None:
        out = conn.send(DataStart(transaction_id=tid, total_bytes=source.size))
        window.start_data(source.size, self._clock(), out=True)
        left = source.size
        # The header goes out with the first chunk: over USB they must share a transfer.
        while left > 0:
            chunk = source.read(min(UPLOAD_CHUNK_BYTES, left))
            if not len(chunk):
                # The length went out first: the camera would wait for the rest forever.
                raise LocalProtocolError(
                    f"the data source ended {left} bytes short of the {source.size} it announced"
                )
            out += conn.send(Data(transaction_id=tid, chunk=chunk))
            left -= len(chunk)
            self._write(out, window, code)
            out = []
            if conn.phase is Phase.IDLE:  # the device answered early (refused the data)
                break
        if out:
            self._write(out, window, code)
        window.end_data(self._clock())

    def _receive(
        self, conn: Connection, code: int, sink: DataSink, window: TransactionWindow
    ) -> Response:
        """Read until the response, within the transaction's deadline (``window``).

        Waiting for the response (or the start of the data) is bounded by ``timeout_s`` overall:
        probes answered and events delivered meanwhile do not extend it, so a camera that
        chatters without answering cannot hold the call. In a data phase the deadline moves
        with real progress only (curl's low-speed limit, ``CURLOPT_LOW_SPEED_LIMIT/TIME``):
        each ``timeout_s`` window must bring ``min_progress_bytes`` more data bytes, so a big
        download on a slow but honest link finishes and a trickle ends. An upload follows the
        same rule with the bytes the camera took (:meth:`_write`).
        """
        view = self._view
        clock = self._clock
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                remaining = window.remaining(clock())
                if remaining is not None and remaining <= 0:
                    if window.looked:
                        raise window.timeout_error(self.operation_name(code))
                    window.looked = True
                    remaining = _LAST_LOOK_S
                try:
                    count, ended = self.transport.read_into(
                        view, remaining, in_data=conn.phase is Phase.RESPONDER_DATA
                    )
                except TransportTimeout as exc:
                    # A transport that gave up early (the in-process camera knows at once
                    # that nothing will come) says best what happened; at the deadline, the
                    # whole wait is the story.
                    if not window.expired(clock()):
                        raise
                    raise window.timeout_error(self.operation_name(code)) from exc
                window.heard(count)
                if log.isEnabledFor(TRACE):
                    log.log(TRACE, "read %d bytes\n%s", count, hexdump(view[:count]))
                conn.receive_data(view[:count], transfer_ended=ended)
                continue
            if isinstance(event, Data):
                sink.write(event.chunk)
                window.progress(len(event.chunk), clock())
            elif isinstance(event, DataStart):
                sink.start(event.total_bytes)
                window.start_data(event.total_bytes, clock())
            elif isinstance(event, DataEnd):
                sink.finish()
                window.end_data(clock())
            elif isinstance(event, Response):
                return event
            elif isinstance(event, Event):
                window.chatter += 1
                if self.on_event:
                    self.on_event(event)
            elif isinstance(event, ProbeRequest):
                window.chatter += 1
                self._write(conn.send(_ProbeResponse()), window, code, "a probe's answer")
            # A responder's Cancel or a stray ProbeResponse needs nothing from us.

    def _cancel(self, conn: Connection, tid: int, cause: BaseException) -> None:
        """Cancel the transaction and drain what is left of it, so the link stays usable."""
        log.debug("cancelling transaction %d after %r", tid, cause)
        deadline = time.monotonic() + CANCEL_DRAIN_TIMEOUT_S
        sending = conn.phase is Phase.INITIATOR_DATA
        try:
            request = conn.send(Cancel(transaction_id=tid))
            if sending and not any(len(part) for part in request):
                # A link without a cancel (Fujifilm's PTP/IP) in the middle of our data: the
                # camera waits for the rest, so no response would come to drain to. Given up at
                # once (the next transaction says to reconnect), not after the drain's timeout.
                log.debug("transaction %d: no cancel for a data phase sent in part", tid)
                conn.phase = Phase.BROKEN
                return
            self.transport.cancel(request)
            while conn.phase is Phase.CANCELLING:
                if self.transport.cancel_finished():
                    conn.finish_cancel()
                    break
                event = conn.next_event()
                if event is NEED_DATA:
                    # One deadline for the whole drain: a camera that keeps streaming the
                    # cancelled data must not hold the caller for ever.
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TransportTimeout(
                            f"the camera did not end the cancelled transaction within "
                            f"{CANCEL_DRAIN_TIMEOUT_S:g} s"
                        )
                    count, ended = self.transport.read_into(self._view, remaining)
                    conn.receive_data(self._view[:count], transfer_ended=ended)
                elif isinstance(event, Event) and self.on_event:
                    self.on_event(event)
                # Data still in flight for the cancelled transaction is dropped.
        except PTPError as exc:
            # The link could not be brought back; later transactions will say so.
            log.debug("cancel of transaction %d failed: %r", tid, exc)
            conn.phase = Phase.BROKEN
