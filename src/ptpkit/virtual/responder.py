"""One connection's responder: the core in the responder role, driving the virtual camera.

A :class:`ResponderSession` takes the initiator's bytes, runs each operation against the camera,
and produces its answer lazily: a data phase is generated chunk by chunk as the transport pulls
output, so serving a 10 GiB object costs one chunk of memory. Transports (the in-process link,
the PTP/IP server, the PyUSB device backend) only move bytes in and out.

Output keeps its boundaries: each item ends a USB transfer or a PTP/IP packet where the framing
says so, which is what a cancel needs (stop at a boundary) and what a USB device needs (end a
transfer with a short packet).
"""

from __future__ import annotations

import collections
import logging
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, Protocol

from ptpkit.codes.common import Ec, Op, Rc
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
from ptpkit.core.framing import Framing
from ptpkit.core.link import LinkFault
from ptpkit.core.ptpip import ProbeRequest, ProbeResponse, PtpIpFraming
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import UsbFraming
from ptpkit.errors import RemoteProtocolError
from ptpkit.virtual.content import ObjectData

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from ptpkit.core.datasets import DeviceInfo
    from ptpkit.virtual.misbehave import Misbehavior
    from ptpkit.virtual.properties import DeviceProperties
    from ptpkit.virtual.storage import Store, StoredObject

log = logging.getLogger("ptpkit.virtual")

#: Data-out phases kept in memory (datasets, property values) are refused beyond this.
MAX_MEMORY_DATA_OUT: Final = 16 << 20


# -- what handlers return and receive ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A handler's answer: a response code and parameters, and optionally a data phase."""

    code: int = Rc.OK
    params: tuple[int, ...] = ()
    #: Data for the initiator: bytes, or an object's content streamed from ``offset``.
    data: bytes | ObjectData | None = None
    offset: int = 0
    length: int | None = None
    #: Runs once the response is queued (events that must follow the response).
    after: Callable[[], None] | None = None


def error(code: int, *params: int) -> Reply:
    return Reply(code=code, params=params)


class DataOutSink(Protocol):
    """Receives a data phase from the initiator (an upload, a dataset)."""

    def start(self, total_bytes: int | None) -> None: ...

    def write(self, chunk: BytesLike) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


class MemorySink:
    """Collects a small data-out phase; beyond the limit it keeps counting but stores nothing."""

    def __init__(self, limit: int = MAX_MEMORY_DATA_OUT) -> None:
        self.limit = limit
        self.data = bytearray()
        self.overflowed = False

    def start(self, total_bytes: int | None) -> None:
        pass

    def write(self, chunk: BytesLike) -> None:
        if len(self.data) + len(chunk) > self.limit:
            self.overflowed = True
            return
        self.data += chunk

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        self.data.clear()


@dataclass(kw_only=True)
class OperationContext:
    session: ResponderSession
    request: Request
    #: The data the initiator sent (for operations with a data-out phase).
    sink: DataOutSink | None = None

    @property
    def camera(self) -> ServedCamera:
        return self.session.camera

    def param(self, index: int, default: int = 0) -> int:
        params = self.request.params
        return params[index] if index < len(params) else default

    @property
    def data(self) -> bytes:
        if isinstance(self.sink, MemorySink):
            return bytes(self.sink.data)
        return b""


Handler = Callable[[OperationContext], Reply]
SinkFactory = Callable[[OperationContext], "DataOutSink | Reply"]


@dataclass(frozen=True, kw_only=True)
class Operation:
    code: int
    handler: Handler
    #: The initiator sends data (over USB this is known only from the operation).
    data_out: bool = False
    #: Runs outside a session too (GetDeviceInfo, OpenSession).
    sessionless: bool = False
    #: Where the data-out phase goes; a Reply instead refuses the operation (after the data).
    sink_factory: SinkFactory | None = None


class ServedCamera(Protocol):
    """What sessions and operation handlers need of the camera they serve.

    :class:`~ptpkit.virtual.camera.VirtualCamera` is one. Typed here, below the camera (which
    builds its operations and sessions from this module), so that nothing under the camera
    imports it back (the layering contract in pyproject.toml forbids import circles).
    """

    @property
    def lock(self) -> AbstractContextManager[object]: ...
    @property
    def misbehavior(self) -> Misbehavior: ...
    @property
    def operations(self) -> dict[int, Operation]: ...
    @property
    def stores(self) -> dict[int, Store]: ...
    @property
    def properties(self) -> DeviceProperties: ...

    def device_info(self) -> DeviceInfo: ...
    def attach(self, session: ResponderSession) -> None: ...
    def detach(self, session: ResponderSession) -> None: ...
    def emit(
        self,
        code: int,
        *params: int,
        transaction_id: int = ...,
        exclude: ResponderSession | None = None,
    ) -> None: ...
    def store(self, storage_id: int) -> Store | None: ...
    def find(self, handle: int) -> tuple[Store, StoredObject] | None: ...
    def capture(self) -> StoredObject: ...
    def after(self, delay_s: float, action: Callable[[], None]) -> None: ...


# -- output with boundaries ----------------------------------------------------------------------


@dataclass
class _Item:
    data: memoryview
    #: This item ends a USB transfer (short packet) / is the last piece of a PTP/IP packet.
    boundary: bool
    #: A misbehaving camera's link fault ("stall", "disconnect") instead of data.
    fault: str | None = None


class Outbox:
    """Bytes waiting to go to the initiator, consumed from the front in any sizes."""

    def __init__(self) -> None:
        self._items: collections.deque[_Item] = collections.deque()
        #: Bytes queued.
        self.size = 0

    def __bool__(self) -> bool:
        return bool(self._items)

    def put(self, buffers: list[BytesLike], *, boundary: bool) -> None:
        views = [memoryview(b).cast("B") for b in buffers if len(b)]
        if not views:
            if boundary and self._items:
                self._items[-1].boundary = True
            return
        for view in views[:-1]:
            self._items.append(_Item(view, False))
        self._items.append(_Item(views[-1], boundary))
        self.size += sum(len(view) for view in views)

    def put_fault(self, action: str) -> None:
        """After what is queued, the link misbehaves (see :class:`LinkFault`)."""
        self._items.append(_Item(memoryview(b""), True, action))

    def _check_fault(self) -> None:
        if self._items and self._items[0].fault is not None:
            raise LinkFault(self._items[0].fault)

    def read_into(self, target: memoryview) -> tuple[int, bool]:
        """Copy into ``target`` up to the next boundary; returns (bytes, boundary reached)."""
        filled = 0
        if not filled:
            self._check_fault()
        while self._items and filled < len(target):
            item = self._items[0]
            if item.fault is not None:
                # What came before the fault goes out first; the transfer does not end (a
                # device that stalls or vanishes never sends its short packet).
                return filled, False
            step = min(len(item.data), len(target) - filled)
            target[filled : filled + step] = item.data[:step]
            filled += step
            self.size -= step
            if step == len(item.data):
                self._items.popleft()
                if item.boundary:
                    return filled, True
            else:
                item.data = item.data[step:]
        return filled, False

    def peek_until_boundary(self) -> list[memoryview]:
        """The buffers from the front up to and including the first boundary (one packet)."""
        self._check_fault()
        out = []
        for item in self._items:
            if item.fault is not None:
                break
            out.append(item.data)
            if item.boundary:
                break
        return out

    def peek_buffers(self, max_items: int = 64) -> list[memoryview]:
        """Buffers from the front, for a vectored socket write (``consume`` what was sent)."""
        self._check_fault()
        out = []
        for _, item in zip(range(max_items), self._items, strict=False):
            if item.fault is not None:
                break
            out.append(item.data)
        return out

    def consume(self, count: int) -> None:
        self.size -= count
        while count > 0 and self._items:
            item = self._items[0]
            if count >= len(item.data):
                count -= len(item.data)
                self._items.popleft()
            else:
                item.data = item.data[count:]
                count = 0

    def drop_after_boundary(self) -> None:
        """Forget every item after the one in progress (a cancel: finish the current packet)."""
        kept: collections.deque[_Item] = collections.deque()
        while self._items:
            item = self._items.popleft()
            kept.append(item)
            if item.boundary:
                break
        self._items = kept
        self.size = sum(len(item.data) for item in kept)

    def clear(self) -> None:
        self._items.clear()
        self.size = 0


# -- the session ---------------------------------------------------------------------------------

_Output = Iterator[tuple[list[BytesLike], bool]]


@dataclass
class _PendingData:
    request: Request
    operation: Operation | None
    sink: DataOutSink
    refusal: Reply | None = None


class ResponderSession:
    """One connection to the virtual camera (USB or PTP/IP command channel, or in process)."""

    def __init__(
        self,
        camera: ServedCamera,
        framing: UsbFraming | PtpIpFraming | None = None,
        *,
        connection: Connection | None = None,
    ) -> None:
        self.camera = camera
        if connection is None:
            if framing is None:
                raise ValueError("a ResponderSession needs a framing or a connection")
            connection = Connection(Role.RESPONDER, framing)
        #: The core in the responder role (PTP/IP: after its handshake).
        self.connection = connection
        self.outbox = Outbox()
        self.events: collections.deque[Event] = collections.deque()
        #: Called (from any thread) when an event is queued for this connection's event channel.
        self.on_event: Callable[[], None] | None = None
        #: Called (from any thread) when output is queued outside a request's handling (a
        #: misbehaving camera's timer): the network server then sends it.
        self.on_output: Callable[[], None] | None = None
        #: The object SendObjectInfo announced; SendObject fills it.
        self.send_target: tuple[Store, StoredObject] | None = None
        # PTP/IP: every packet is a boundary (a cancel stops after a whole packet); USB: only
        # the end of a transfer is.
        self._packet_boundaries = isinstance(connection.framing, PtpIpFraming)
        # The network server reads and writes from one thread and takes a cancel from the event
        # connection's thread: every entry point below holds this lock.
        self._lock = threading.RLock()
        self._stream: _Output | None = None
        self._pending: _PendingData | None = None
        self._events_lock = threading.Lock()
        self.closed = False
        camera.attach(self)

    # -- input -----------------------------------------------------------------------------------

    def receive_data(self, data: BytesLike, *, transfer_ended: bool = False) -> None:
        """Bytes from the initiator. RemoteProtocolError means the link must be dropped."""
        with self._lock:
            conn = self.connection
            conn.receive_data(data, transfer_ended=transfer_ended)
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    return
                self._handle(event)

    def _handle(self, event: object) -> None:
        if isinstance(event, Request):
            self._request(event)
        elif isinstance(event, DataStart):
            if self._pending:
                self._pending.sink.start(event.total_bytes)
        elif isinstance(event, Data):
            if self._pending:
                self._pending.sink.write(event.chunk)
        elif isinstance(event, DataEnd):
            self._data_out_done()
        elif isinstance(event, Cancel):
            self._cancelled(event.transaction_id)
        elif isinstance(event, ProbeRequest):
            if not self.camera.misbehavior.ignores_probes:
                self.outbox.put(self.connection.send(ProbeResponse()), boundary=True)
        elif isinstance(event, ProbeResponse):
            pass
        else:
            raise RemoteProtocolError(f"the virtual camera did not expect {event!r}")

    def _request(self, request: Request) -> None:
        operation = self.camera.operations.get(request.code)
        ctx = OperationContext(session=self, request=request)
        expects_data = request.data_phase == DataPhase.OUT or (
            operation is not None and operation.data_out
        )
        refusal: Reply | None = None
        if operation is None:
            refusal = error(Rc.OPERATION_NOT_SUPPORTED)
        elif not operation.sessionless and self.connection.session_id is None:
            refusal = error(Rc.SESSION_NOT_OPEN)
        if refusal is None and not expects_data and self.camera.misbehavior.busy_now(request.code):
            refusal = error(Rc.DEVICE_BUSY)
        if expects_data:
            sink: DataOutSink = MemorySink()
            if refusal is None and operation is not None and operation.sink_factory is not None:
                made = operation.sink_factory(ctx)
                if isinstance(made, Reply):
                    refusal = made
                else:
                    sink = made
            # The initiator sends its data whatever we think of it; answer after it.
            self._pending = _PendingData(request, operation, sink, refusal)
            return
        if refusal is not None:
            self._send_reply(request, refusal)
            return
        assert operation is not None
        self._send_reply(request, self._run(operation, ctx))

    def _data_out_done(self) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        pending.sink.finish()
        if pending.refusal is not None or pending.operation is None:
            pending.sink.abort()
            self._send_reply(pending.request, pending.refusal or error(Rc.OPERATION_NOT_SUPPORTED))
            return
        if isinstance(pending.sink, MemorySink) and pending.sink.overflowed:
            self._send_reply(pending.request, error(Rc.INVALID_DATASET))
            return
        ctx = OperationContext(session=self, request=pending.request, sink=pending.sink)
        self._send_reply(pending.request, self._run(pending.operation, ctx))

    def _run(self, operation: Operation, ctx: OperationContext) -> Reply:
        try:
            with self.camera.lock:
                return operation.handler(ctx)
        except Exception:  # a bug in a handler must not kill the link
            log.exception("virtual camera: operation 0x%04X failed", operation.code)
            return error(Rc.GENERAL_ERROR)

    # -- output ----------------------------------------------------------------------------------

    def _send_reply(self, request: Request, reply: Reply) -> None:
        misbehavior = self.camera.misbehavior
        if misbehavior.modes:
            if misbehave_reply(self, request, reply):
                # The reply went out broken on purpose; the camera acts as if it had ended.
                self.connection.finish_cancel()
                return
            if request.code == Op.OPEN_SESSION and reply.code == Rc.OK:
                reply = replace(reply, after=lambda: self.queue_events(misbehavior.flood_now()))
        tid = request.transaction_id
        response = Response(code=reply.code, transaction_id=tid, params=reply.params)
        if reply.data is None:
            self.outbox.put(self.connection.send(response), boundary=True)
            self._after(reply)
            return
        self._stream = self._generate(tid, reply, response)
        # Queue the start at once so transports see there is something to send.
        self._advance()

    def _generate(self, tid: int, reply: Reply, response: Response) -> _Output:
        conn = self.connection
        data = reply.data
        if isinstance(data, (bytes, bytearray)):
            total = len(data)
            chunks: Iterator[BytesLike] = iter([data] if data else [])
        else:
            assert data is not None
            available = max(0, data.size - reply.offset)
            total = available if reply.length is None else min(reply.length, available)
            chunks = data.chunks(reply.offset, total)
        header = conn.send(DataStart(transaction_id=tid, total_bytes=total))
        if total == 0:
            yield header, True
        elif self._packet_boundaries:
            # PTP/IP: one packet per item, each a boundary.
            yield header, True
            for chunk in chunks:
                yield conn.send(Data(transaction_id=tid, chunk=chunk)), True
        else:
            # USB: the container header shares the first chunk's transfer; the transfer ends
            # with the data.
            first = True
            for chunk in chunks:
                out = conn.send(Data(transaction_id=tid, chunk=chunk))
                if first:
                    out = header + out
                    first = False
                yield out, conn.phase is Phase.DATA_DONE
        yield conn.send(response), True
        self._after(reply)

    @staticmethod
    def _after(reply: Reply) -> None:
        """Run a reply's follow-up (events after a response): its failure is the camera's
        problem to log, never a reason to break the link."""
        if reply.after is None:
            return
        try:
            reply.after()
        except Exception:
            log.exception("virtual camera: a follow-up after a response failed")

    def _advance(self) -> bool:
        if self._stream is None:
            return False
        try:
            buffers, boundary = next(self._stream)
        except StopIteration:
            self._stream = None
            return False
        self.outbox.put(buffers, boundary=boundary)
        return True

    def has_output(self) -> bool:
        with self._lock:
            return bool(self.outbox) or self._advance()

    def read_output(self, target: memoryview) -> tuple[int, bool]:
        """Fill ``target`` with output up to a transfer boundary: (bytes, boundary reached)."""
        with self._lock:
            filled = 0
            while filled < len(target):
                if not self.outbox and not self._advance():
                    break
                count, boundary = self.outbox.read_into(target[filled:])
                filled += count
                if boundary:
                    return filled, True
            return filled, False

    def output_buffers(self, max_bytes: int = 4 << 20) -> list[memoryview]:
        """Buffers to write now (vectored), or [] when there is nothing to send.

        Pulls ahead until ``max_bytes`` are queued or the reply is complete, so a small reply
        (StartData, EndData and the response) goes out in one write.
        """
        with self._lock:
            while self.outbox.size < max_bytes and self._advance():
                pass
            return self.outbox.peek_buffers()

    def output_packet(self) -> list[memoryview]:
        """The next whole packet's buffers (PTP/IP), or [] when there is nothing to send."""
        with self._lock:
            if not self.outbox:
                self._advance()
            return self.outbox.peek_until_boundary()

    def consume_output(self, count: int) -> None:
        with self._lock:
            self.outbox.consume(count)

    # -- cancel, events, close -------------------------------------------------------------------

    def cancel(self, transaction_id: int, *, respond: bool) -> None:
        """The initiator cancelled ``transaction_id`` out of band (USB class request) or with a
        PTP/IP Cancel packet. ``respond``: end with a TransactionCancelled response (PTP/IP);
        otherwise the transaction just stops (USB: the host polls the device status)."""
        with self._lock:
            self.connection.cancel_received(transaction_id)
            self._cancelled(transaction_id, respond=respond)

    def _cancelled(self, transaction_id: int, *, respond: bool = True) -> None:
        conn = self.connection
        request = conn.request
        if request is None or request.transaction_id != transaction_id:
            if not respond and request is None:
                # USB: the host cancels a transaction whose whole answer (data and response)
                # is queued already; a device drops what it has not sent (ISO 15740 D.5.2.1),
                # or the next transaction would read this one's leftovers.
                self.outbox.clear()
            return
        self._stream = None
        if self._pending:
            self._pending.sink.abort()
            self._pending = None
        if respond:
            self.outbox.drop_after_boundary()
            self.outbox.put(
                conn.send(Response(code=Rc.TRANSACTION_CANCELLED, transaction_id=transaction_id)),
                boundary=True,
            )
        else:
            self.outbox.clear()
            conn.finish_cancel()

    def reset(self) -> None:
        """A USB Device Reset: drop the transaction under way and the session."""
        with self._lock:
            self._stream = None
            if self._pending:
                self._pending.sink.abort()
                self._pending = None
            self.outbox.clear()
            self.send_target = None
            self.connection.reset()

    def misbehave_later(self, tick: Callable[[], bytes]) -> None:
        """A misbehaving camera's timed output: every tick, ``tick()``'s bytes are queued and
        sent (empty bytes: none); it ends with the session."""
        from ptpkit.virtual.misbehave import every  # noqa: PLC0415

        def run() -> bool:
            with self._lock:
                if self.closed:
                    return False
                out = tick()
                if out:
                    self.outbox.put([out], boundary=False)
            if out and self.on_output is not None:
                self.on_output()
            return True

        every(self.camera.misbehavior.tick_s, run, lambda: self.closed)

    def queue_event(self, event: Event) -> None:
        self.queue_events([event])

    def queue_events(self, events: list[Event]) -> None:
        with self._events_lock:
            self.events.extend(events)
        if self.on_event:
            self.on_event()

    def take_events(self) -> list[Event]:
        with self._events_lock:
            events = list(self.events)
            self.events.clear()
        return events

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._stream = None
        if self._pending:
            self._pending.sink.abort()
            self._pending = None
        self.camera.detach(self)


__all__ = [
    "MemorySink",
    "Operation",
    "OperationContext",
    "Outbox",
    "Reply",
    "ResponderSession",
    "error",
]


def misbehave_reply(session: ResponderSession, request: Request, reply: Reply) -> bool:
    """Send ``reply`` broken in the way the camera's misbehaviour asks; False when none applies.

    Kept out of the well-behaved path: the core refuses to send what this writes, so the bytes
    are assembled from the framings' header layouts (:mod:`ptpkit.virtual.misbehave`).
    """
    from ptpkit.virtual import misbehave as m  # noqa: PLC0415

    modes = session.camera.misbehavior.modes
    framing = session.connection.framing
    code, tid = request.code, request.transaction_id
    put = session.outbox.put
    ptpip = isinstance(framing, PtpIpFraming)
    data = reply.data if isinstance(reply.data, (bytes, bytearray)) else None

    def whole(payload: bytes, *, absurd: bool = False, response_tid: int = tid) -> None:
        put(
            [
                m.data_header(framing, code, tid, len(payload), absurd=absurd),
                m.data_body(framing, tid, payload, last=True),
            ],
            boundary=True,
        )
        put([m.response(framing, reply.code, response_tid)], boundary=True)

    if code == Op.GET_STORAGE_IDS and data is not None:
        if m.Mode.HUGE_PACKET in modes and ptpip:
            put([m.huge_packet_header() + bytes(32)], boundary=True)
            return True
        if m.Mode.WRONG_TID in modes:
            whole(bytes(data), response_tid=tid + 7)
            return True
    if code == Op.GET_OBJECT_HANDLES and data is not None:
        if m.Mode.ABSURD_LENGTH in modes:
            whole(bytes(data), absurd=True)
            return True
        if m.Mode.ABSURD_COUNT in modes:
            whole(struct.pack("<III", m.ABSURD, 1, 2))
            return True
    if code == Op.GET_OBJECT_INFO and data is not None and m.Mode.ABSURD_STRING in modes:
        # ObjectInfo's fixed fields end at byte 52; the file name then claims 255 characters.
        whole(bytes(data[:52]) + b"\xff" + "abc".encode("utf-16-le"))
        return True
    if code == Op.GET_OBJECT_INFO and data is not None and m.Mode.SHORT_OBJECT_INFO in modes:
        whole(m.short_object_info(bytes(data), request.params[0] if request.params else 0))
        return True
    if code == Op.GET_OBJECT and reply.data is not None and m.Mode.CHATTER in modes:
        session.misbehave_later(_chatter(session, framing))
        return True
    if code == Op.GET_OBJECT and reply.data is not None and m.Mode.TRICKLE in modes and ptpip:
        size = len(data) if data is not None else reply.data.size  # type: ignore[union-attr]
        header = m.data_header(framing, code, tid, size)
        put([header, m.data_packet_header(tid, size)], boundary=False)
        session.misbehave_later(_trickle(session, size))
        return True
    if code == Op.GET_OBJECT and reply.data is not None and m.Mode.OVERSIZE in modes:
        body = reply.data
        if not isinstance(body, (bytes, bytearray)):
            body = b"".join(bytes(chunk) for chunk in body.chunks(0, body.size))
        whole(bytes(body) + b"\xee" * m.OVERSIZE_EXTRA)
        return True
    if code == Op.GET_OBJECT_INFO and data is not None and m.Mode.WRONG_STORAGE_ID in modes:
        # ObjectInfo starts with its StorageID (ISO 15740 §5.5.2).
        whole(struct.pack("<I", m.WRONG_STORAGE_ID) + bytes(data[4:]))
        return True
    data_modes = {
        m.Mode.TRUNCATED,
        m.Mode.TRUNCATED_PACKET,
        m.Mode.EARLY_RESPONSE,
        m.Mode.STALL,
        m.Mode.DISCONNECT,
    }
    if code != Op.GET_OBJECT or reply.data is None or not data_modes & modes:
        return False
    content = reply.data
    if isinstance(content, (bytes, bytearray)):
        size, first = len(content), bytes(content[: len(content) // 2])
    else:
        size = content.size
        first = b"".join(bytes(chunk) for chunk in content.chunks(0, size // 2))
    header = m.data_header(framing, code, tid, size)
    if m.Mode.TRUNCATED_PACKET in modes and ptpip:
        # A Data packet that claims the rest of the object, half of it sent, then hang up.
        put([header, struct.pack("<III", 12 + size, 10, tid), first], boundary=True)
        session.outbox.put_fault("disconnect")
    elif m.Mode.TRUNCATED in modes:
        put([header, m.data_body(framing, tid, first, last=True)], boundary=True)
        put([m.response(framing, reply.code, tid)], boundary=True)
    elif m.Mode.EARLY_RESPONSE in modes:
        # The response comes while the data phase is still open.
        put([header, m.data_body(framing, tid, first, last=False)], boundary=not ptpip)
        put([m.response(framing, reply.code, tid)], boundary=True)
    else:
        put([header, m.data_body(framing, tid, first, last=False)], boundary=False)
        session.outbox.put_fault("stall" if m.Mode.STALL in modes else "disconnect")
    return True


def _chatter(session: ResponderSession, framing: Framing) -> Callable[[], bytes]:
    """``chatter``: a probe on the command connection and an event each tick, never an answer."""
    from ptpkit.virtual import misbehave as m  # noqa: PLC0415

    def tick() -> bytes:
        session.queue_event(Event(code=Ec.DEVICE_PROP_CHANGED, params=(0x5001,)))
        return m.probe_request(framing)

    return tick


def _trickle(session: ResponderSession, size: int) -> Callable[[], bytes]:
    """``trickle``: one byte of the object's data per tick (its value does not matter)."""
    left = [size]

    def tick() -> bytes:
        if left[0] <= 0:
            return b""
        left[0] -= 1
        return b"\x5a"

    return tick
