"""Runs transactions: drives the core connection over a transport, one transaction at a time.

This is the only place that loops ``next_event()`` / ``read_into()`` on the initiator side. It
serialises callers from several threads (a lock), streams data phases between the wire and a
sink or source, answers PTP/IP probes, forwards events that arrive on the command channel, and
cancels a transaction whose sink or source fails, draining the channel before the error is
re-raised so that the next transaction starts clean.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

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
from ptpkit.core.state import Phase
from ptpkit.errors import (
    BusyError,
    ClosedError,
    LocalProtocolError,
    PTPError,
    TransportError,
    TransportTimeout,
)
from ptpkit.transports.base import Transport

log = logging.getLogger("ptpkit.transaction")
#: Below DEBUG: hex dumps of what goes over the wire.
TRACE: Final = 5
logging.addLevelName(TRACE, "TRACE")

#: Bytes read from an upload source per chunk.
UPLOAD_CHUNK_BYTES: Final = 1 << 20
#: How long to wait for a cancelled transaction to end before giving up on the link.
CANCEL_DRAIN_TIMEOUT_S: Final = 10.0

NameFunc = Callable[[int], str]


def _hexdump(data: BytesLike, limit: int = 256) -> str:
    view = bytes(data[:limit])
    lines = []
    for offset in range(0, len(view), 16):
        row = view[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in row)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"  {offset:04x}  {hexes:<47}  {text}")
    if len(data) > limit:
        lines.append(f"  ... {len(data) - limit} more bytes")
    return "\n".join(lines)


class Engine:
    """One transaction at a time over one transport."""

    def __init__(
        self,
        transport: Transport,
        *,
        timeout_s: float | None = 20.0,
        on_event: Callable[[Event], None] | None = None,
        operation_name: NameFunc | None = None,
        response_name: NameFunc | None = None,
    ) -> None:
        self.transport = transport
        self.timeout_s = timeout_s
        self.on_event = on_event
        self.operation_name: NameFunc = operation_name or (lambda code: f"0x{code:04X}")
        self.response_name: NameFunc = response_name or (lambda code: f"0x{code:04X}")
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._view = transport.receive_buffer()
        self.closed = False
        #: Transactions run so far (benchmarks and diagnostics count round trips with it).
        self.transactions = 0

    @property
    def connection(self) -> Connection:
        return self.transport.connection

    # -- public ----------------------------------------------------------------------------------

    def run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data_out: DataSource | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
    ) -> tuple[Response, DataSink]:
        """Run one transaction and return its response and the sink that got its data.

        Concurrent callers wait their turn. A callback that starts a transaction from inside a
        running one (a progress callback, say) gets BusyError instead of a deadlock.
        """
        if self._owner == threading.get_ident():
            raise BusyError(
                f"cannot start {self.operation_name(code)} while another transaction is under "
                "way in this thread (called from a progress callback or data sink?)"
            )
        with self._lock:
            self._owner = threading.get_ident()
            try:
                return self._run_locked(code, tuple(params), data_out, sink, timeout_s)
            except PTPError as exc:
                if self.closed and not isinstance(exc, ClosedError):
                    # Closed by another thread mid-way: whatever the torn-down link said
                    # (bytes after close, a closed socket), the cause is the close.
                    raise ClosedError(
                        f"the camera was closed during {self.operation_name(code)}"
                    ) from exc
                raise
            finally:
                self._owner = None

    def close(self) -> None:
        self.closed = True

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
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "-> %s(%s) tid=%d%s",
                self.operation_name(code),
                ", ".join(f"0x{p:08X}" for p in params),
                tid,
                f" + {data_out.size} bytes" if data_out is not None else "",
            )
        self._write(conn.send(request))
        try:
            if data_out is not None:
                self._send_data(conn, tid, data_out)
            response = self._receive(conn, sink, timeout)
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
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "<- %s (0x%04X)%s tid=%d",
                self.response_name(response.code),
                response.code,
                "(" + ", ".join(f"0x{p:08X}" for p in response.params) + ")"
                if response.params
                else "",
                response.transaction_id,
            )
        return response, sink

    def _write(self, buffers: list[BytesLike]) -> None:
        if log.isEnabledFor(TRACE):
            for buf in buffers:
                log.log(TRACE, "write %d bytes\n%s", len(buf), _hexdump(buf))
        self.transport.write(buffers)

    def _send_data(self, conn: Connection, tid: int, source: DataSource) -> None:
        out = conn.send(DataStart(transaction_id=tid, total_bytes=source.size))
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
            self._write(out)
            out = []
            if conn.phase is Phase.IDLE:  # the device answered early (refused the data)
                return
        if out:
            self._write(out)

    def _receive(self, conn: Connection, sink: DataSink, timeout: float | None) -> Response:
        view = self._view
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                count, ended = self.transport.read_into(view, timeout)
                if log.isEnabledFor(TRACE):
                    log.log(TRACE, "read %d bytes\n%s", count, _hexdump(view[:count]))
                conn.receive_data(view[:count], transfer_ended=ended)
                continue
            if isinstance(event, Data):
                sink.write(event.chunk)
            elif isinstance(event, DataStart):
                sink.start(event.total_bytes)
            elif isinstance(event, DataEnd):
                sink.finish()
            elif isinstance(event, Response):
                return event
            elif isinstance(event, Event):
                if self.on_event:
                    self.on_event(event)
            elif isinstance(event, ProbeRequest):
                self._write(conn.send(_ProbeResponse()))
            # A responder's Cancel or a stray ProbeResponse needs nothing from us.

    def _cancel(self, conn: Connection, tid: int, cause: BaseException) -> None:
        """Cancel the transaction and drain what is left of it, so the link stays usable."""
        log.debug("cancelling transaction %d after %r", tid, cause)
        deadline = time.monotonic() + CANCEL_DRAIN_TIMEOUT_S
        try:
            self.transport.cancel(conn.send(Cancel(transaction_id=tid)))
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
