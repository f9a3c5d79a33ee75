"""Links for ``ptpkit.aio``: the blocking :class:`~ptpkit.transports.base.Transport` interface,
each call a coroutine, and events handed to the event loop.

::

    framing() -> Framing             the command channel's framing after open() (as blocking)
    await open() / await close()
    await write(buffers, timeout_s, progress, *, ends_transfer=True)
    await receive(timeout_s, *, in_data=False) -> (bytes, transfer_ended)
                                     the bytes stay valid until the next receive()
    await cancel(request) / cancel_finished()
    set_idle(idle), start_events(on_event, on_error), kind, url

The rules are the blocking interface's (see :mod:`ptpkit.transports.base`): a transport is I/O
and never holds the command channel's connection; a handshake runs inside ``open()`` on a
throw-away connection; an event channel has a private connection. What changes is only how a
call waits: on the event loop, so one loop drives any number of cameras. ``on_event`` and
``on_error`` are always called on the loop's thread.

Three links:

- :class:`AsyncPtpIpTransport`: PTP/IP on asyncio streams, both connections on the loop (no
  thread): the handshake through the core's packets, probes answered, the event connection read
  by a task that also probes an idle camera.
- :class:`AsyncInProcessTransport`: the in-process virtual camera (``virtual:``); it never
  blocks, so its calls run inline, yielding to the loop after each read.
- :class:`ThreadedTransport`: any blocking transport (USB, Fujifilm's PTP/IP variant), each call
  in one worker thread of its own (USB has no non-blocking reads in PyUSB). A call whose caller
  was cancelled still runs to its end in that thread; what a read brought is kept for the next
  read, so no byte is lost and nothing overlaps on the link.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from ptpkit._log import get_logger
from ptpkit.aio._timeouts import bounded
from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection, ConnectionEvent
from ptpkit.core.events import NEED_DATA, Event
from ptpkit.core.framing import Framing
from ptpkit.core.ptpip import (
    DEFAULT_PORT,
    HEADER,
    HEADER_SIZE,
    InitCommandAck,
    InitCommandRequest,
    InitEventAck,
    InitEventRequest,
    InitFail,
    ProbeRequest,
    ProbeResponse,
    PtpIpFraming,
)
from ptpkit.core.state import Phase, Role
from ptpkit.errors import (
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    ProtocolError,
    PTPError,
    TransportTimeout,
    UsageError,
)
from ptpkit.identity import default_friendly_name, format_guid, initiator_guid, parse_guid
from ptpkit.transports.base import (
    EventCallback,
    EventErrorCallback,
    Transport,
    WriteProgress,
)
from ptpkit.transports.inprocess import InProcessTransport
from ptpkit.transports.ptpip import (
    EVENT_CONNECT_ATTEMPTS,
    EVENT_CONNECT_PAUSE_S,
    PAIRING_NOTICE_S,
    READ_BYTES,
    PairingWaitCallback,
    PtpIpAddress,
    check_options,
    init_fail_error,
    parse_url,
    tune_socket,
)

log = get_logger("ptpkit.ptpip")

_T = TypeVar("_T")

#: Bytes the event connection reads at a time (events are 12 to 32 bytes each).
_EVENT_READ_BYTES: Final = 65536


class AsyncTransport(abc.ABC):
    """One link to one camera, for the asyncio engine (see the module docstring)."""

    kind: str = "unknown"
    #: The extension a link of one vendor's own protocol always needs (Fujifilm's PTP/IP
    #: variant: "fuji"), as :attr:`ptpkit.transports.base.Transport.vendor_hint`.
    vendor_hint: str | None = None

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The URL that reaches this camera again."""

    @abc.abstractmethod
    def framing(self) -> Framing:
        """A new framing for the command channel, as :meth:`open` leaves it."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Establish the link; ConnectError on failure."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the link. Safe to call twice."""

    @abc.abstractmethod
    async def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        """Send these bytes on the command channel (the rules of
        :meth:`ptpkit.transports.base.Transport.write`)."""

    @abc.abstractmethod
    async def receive(
        self, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[BytesLike, bool]:
        """The next bytes of the command channel and whether a transfer ended with them (USB);
        TransportTimeout when nothing comes within ``timeout_s``, DisconnectedError when the
        link is gone. The bytes stay valid until the next call."""

    @abc.abstractmethod
    async def cancel(self, request: Sequence[BytesLike]) -> None:
        """Send a cancel request encoded by the framing, on the channel it goes on."""

    def cancel_finished(self) -> bool:
        """Whether a cancelled transaction is over without a response (USB, in-process)."""
        return False

    def set_idle(self, idle: bool) -> None:
        """No transaction under way (a USB link polls its events only then)."""
        return

    @abc.abstractmethod
    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        """Start delivering the event channel's events (called on the loop's thread)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


def _on_loop(loop: asyncio.AbstractEventLoop, call: Callable[[Any], None]) -> Callable[[Any], None]:
    """``call`` made safe to call from any thread: run at once on the loop's thread, else
    handed to the loop (a blocking transport's event thread, the virtual camera's timers)."""
    owner = threading.get_ident()

    def handed(item: Any) -> None:
        if threading.get_ident() == owner:
            call(item)
        elif not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(call, item)

    return handed


# -- PTP/IP on asyncio streams ---------------------------------------------------------------------


#: How early asyncio may run a timer (BaseEventLoop._run_once: its clock's resolution).
_TIMER_RESOLUTION_S: Final = time.get_clock_info("monotonic").resolution

#: A read buffer with less room than this left is not offered to the socket: reading pauses
#: until the engine has taken what is in it, and the buffer starts over.
_MIN_ROOM_BYTES: Final = 64 * 1024


class CommandChannel(asyncio.BufferedProtocol):
    """The command connection as a buffered protocol: the kernel's bytes are received straight
    into one buffer (``recv_into``, no copy per read, as the blocking transport does) and handed
    to the engine as views of it; writes go to the transport, waiting only when its buffer is
    over the high-water mark.

    The buffer is one region: bytes arrive at its end and are handed out in order. A view
    handed out stays valid until the next :meth:`receive` (the engine's contract), so the
    buffer starts over only when everything in it has been handed out and the engine asks for
    more; when the room left is small, reading pauses until then (TCP's window holds the
    camera back meanwhile)."""

    def __init__(self, size: int) -> None:
        self._buffer = memoryview(bytearray(size))
        #: Bytes [0, _given) were handed out; [_given, _filled) wait for the engine.
        self._given = 0
        self._filled = 0
        self._paused_reading = False
        self._transport: asyncio.Transport | None = None
        #: Set when bytes arrive, the connection ends, or writing may go on.
        self._waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None
        self._paused_writing = False
        self._eof = False
        self._error: Exception | None = None
        self.heard_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        #: When the wait under way gives up (loop time; None: it does not).
        self._wait_until: float | None = None
        #: One timer outlives the waits: a wait whose end is not before the timer's keeps it
        #: (when it fires early it is set again for the wait then under way), so the waits of a
        #: transaction (one each, under one deadline) do not each make and cancel a timer.
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio's side --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._loop = asyncio.get_running_loop()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer[self._filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self._filled += nbytes
        if len(self._buffer) - self._filled < _MIN_ROOM_BYTES and not self._paused_reading:
            assert self._transport is not None
            self._transport.pause_reading()
            self._paused_reading = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._error = exc
        self._wake()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        waiter, self._write_waiter = self._write_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the engine's side -----------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    async def _wait(self, timeout_s: float | None) -> bool:
        """Wait for bytes (or the end) at most ``timeout_s``; False on timeout."""
        loop = self._loop or asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiter = waiter
        if timeout_s is None:
            self._wait_until = None
        else:
            until = loop.time() + max(0.0, timeout_s)
            self._wait_until = until
            timer = self._timer
            if timer is None or timer.when() > until:
                if timer is not None:
                    timer.cancel()
                self._timer = loop.call_at(until, self._on_timer)
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None
                self._wait_until = None
        return self._filled > self._given or self._eof

    def _on_timer(self) -> None:
        """The timer fired: the wait under way ends if its time is up, else the timer is set
        for it (a wait that began after the timer was set, with a later end)."""
        self._timer = None
        until = self._wait_until
        if until is None or self._waiter is None:
            return
        loop = self._loop or asyncio.get_running_loop()
        # asyncio runs a timer up to its clock's resolution early: that counts as on time.
        if until - loop.time() <= _TIMER_RESOLUTION_S:
            self._wake()
        else:
            self._timer = loop.call_at(until, self._on_timer)

    def _restart(self) -> None:
        """Everything handed out was used: the buffer starts over, reading goes on."""
        if self._given == self._filled:
            self._given = self._filled = 0
            if self._paused_reading and self._transport is not None:
                self._paused_reading = False
                self._transport.resume_reading()

    async def receive(self, timeout_s: float | None) -> memoryview | None:
        """The bytes that came since the last call (at least one), None on timeout; raises
        EOFError (or the connection's error) at the end."""
        self._restart()
        if self._filled == self._given:
            if self._eof:
                raise self._error or EOFError()
            if not await self._wait(timeout_s):
                return None
            if self._filled == self._given:
                raise self._error or EOFError()
        start, self._given = self._given, self._filled
        self.heard_at = (self._loop or asyncio.get_running_loop()).time()
        return self._buffer[start : self._filled]

    async def read_exactly(self, count: int, timeout_s: float | None) -> bytes:
        """Exactly ``count`` bytes (a handshake packet), no more taken; None never: timeout is
        asyncio.TimeoutError, the end EOFError."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while self._filled - self._given < count:
            if self._eof:
                raise self._error or EOFError()
            if len(self._buffer) - self._given < count:
                raise ConnectError(f"a handshake packet of {count} bytes does not fit")
            left = None if deadline is None else deadline - loop.time()
            if (left is not None and left <= 0) or not await self._wait(left):
                raise asyncio.TimeoutError
        start = self._given
        self._given += count
        return bytes(self._buffer[start : self._given])

    def write(self, buffers: Sequence[BytesLike]) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("the connection is closed")
        if len(buffers) == 1:
            # A request is one buffer: written as it is (writelines joins into a copy first).
            self._transport.write(buffers[0])
        else:
            self._transport.writelines(buffers)

    @property
    def must_drain(self) -> bool:
        """Whether :meth:`drain` has anything to do (wait, or raise the connection's error)."""
        return self._paused_writing or self._error is not None

    async def drain(self, timeout_s: float | None) -> None:
        """Wait until the transport's buffer is under its high-water mark (at once when it
        is); asyncio.TimeoutError after ``timeout_s``."""
        if self._error is not None:
            raise self._error
        if not self._paused_writing:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._write_waiter = waiter
        await bounded(waiter, timeout_s)
        if self._error is not None:
            raise self._error
        if self._eof and self.closing:
            raise ConnectionResetError("the connection is closed")

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()


class AsyncPtpIpTransport(AsyncTransport):
    """One PTP/IP camera (CIPA DC-X005) on the event loop: the handshake, deadlines and probe
    rules of :class:`ptpkit.transports.ptpip.PtpIpTransport`, without a thread. The command
    connection is a :class:`CommandChannel` (bytes received into one buffer, no copy per read:
    a download is the link's speed, not the stream reader's); the event connection, a few
    bytes per event, an asyncio stream read by a task."""

    kind = "ptpip"

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        event_port: int | None = None,
        *,
        guid: bytes | None = None,
        friendly_name: str | None = None,
        connect_timeout_s: float = 5.0,
        pairing_timeout_s: float = 60.0,
        probe_interval_s: float | None = 10.0,
        probe_timeout_s: float = 5.0,
        send_timeout_s: float = 30.0,
        on_pairing_wait: PairingWaitCallback | None = None,
        read_bytes: int = READ_BYTES,
    ) -> None:
        self.address = PtpIpAddress(host, port, event_port)
        self.guid = guid if guid is not None else initiator_guid()
        if len(self.guid) != 16:
            raise UsageError("a PTP/IP GUID is 16 bytes")
        self.friendly_name = friendly_name or default_friendly_name()
        check_options(
            connect_timeout_s=connect_timeout_s,
            pairing_timeout_s=pairing_timeout_s,
            probe_timeout_s=probe_timeout_s,
            send_timeout_s=send_timeout_s,
            probe_interval_s=probe_interval_s,
        )
        if read_bytes < 2 * _MIN_ROOM_BYTES:
            raise UsageError(f"read_bytes must be at least {2 * _MIN_ROOM_BYTES}")
        self.connect_timeout_s = connect_timeout_s
        self.pairing_timeout_s = pairing_timeout_s
        self.on_pairing_wait = on_pairing_wait
        self.probe_interval_s = probe_interval_s
        self.probe_timeout_s = probe_timeout_s
        self.send_timeout_s = send_timeout_s
        #: The command connection's receive buffer: big reads mean few wake-ups per gigabyte.
        self.read_bytes = read_bytes
        self.probes_answered = 0
        self.probes_missed = 0
        self.responder_name = ""
        self.responder_guid = b""
        self.connection_number: int | None = None
        self._command: CommandChannel | None = None
        self._events: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._event_connection: Connection | None = None
        self._event_task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def url(self) -> str:
        return self.address.url

    def framing(self) -> Framing:
        return PtpIpFraming(initial_phase=Phase.IDLE, connection_number=self.connection_number)

    # -- opening ---------------------------------------------------------------------------------

    async def _connect(self, port: int, what: str, deadline: float, opening: Any) -> Any:
        """``opening`` (a connection being made to ``port``) within the handshake's deadline,
        its errors as ConnectError; the socket tuned as the blocking transport's."""
        host = self.address.host
        loop = asyncio.get_running_loop()
        try:
            made = await bounded(opening, deadline - loop.time())
        except asyncio.TimeoutError as exc:
            raise ConnectTimeout(
                f"no answer from {host}:{port} ({what} connection) within "
                f"{self.connect_timeout_s:g} s: is the camera on this network with PTP/IP on?"
            ) from exc
        except ConnectionRefusedError as exc:
            raise ConnectError(
                f"{host}:{port} refused the {what} connection: is PTP/IP enabled on the camera "
                "(a 'connect to computer' mode), and is the port right?"
            ) from exc
        except OSError as exc:
            raise ConnectError(f"cannot reach {host}:{port}: {exc.strerror or exc}") from exc
        # (transport, protocol) from create_connection, (reader, writer) from open_connection.
        carrier = made[1] if isinstance(made[0], asyncio.StreamReader) else made[0]
        sock = carrier.get_extra_info("socket")
        if sock is not None:
            tune_socket(
                sock,
                probe_interval_s=self.probe_interval_s,
                probe_timeout_s=self.probe_timeout_s,
                send_timeout_s=self.send_timeout_s,
            )
        return made

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout_s
        port = self.address.port
        channel = CommandChannel(self.read_bytes)
        await self._connect(
            port,
            "command",
            deadline,
            loop.create_connection(lambda: channel, self.address.host, port),
        )
        self._command = channel
        # The handshake's own connection, thrown away after it (as the blocking transport's).
        greeting = Connection(Role.INITIATOR, PtpIpFraming())
        try:
            channel.write(
                greeting.send(InitCommandRequest(guid=self.guid, friendly_name=self.friendly_name))
            )
            await self._drain(channel.drain(deadline - loop.time()), "InitCommandRequest")
            # The user's time to accept this computer is not the handshake's.
            started = loop.time()
            first = await self._await_acceptance(channel)
            deadline += loop.time() - started
            ack = await self._read_packet(
                channel.read_exactly, greeting, deadline, "InitCommandAck", first
            )
            if isinstance(ack, InitFail):
                raise init_fail_error(self.url, self.guid, ack)
            if not isinstance(ack, InitCommandAck):
                raise ConnectError(f"{self.url}: the camera answered InitCommandRequest: {ack!r}")
            self.connection_number = ack.connection_number
            self.responder_name = ack.friendly_name
            self.responder_guid = ack.guid
            log.debug(
                "connected to %r (guid %s), connection number %d",
                ack.friendly_name,
                format_guid(ack.guid),
                ack.connection_number,
            )
            await self._open_events(ack.connection_number, deadline)
            channel.heard_at = loop.time()
        except BaseException:
            await self.close()
            raise

    async def _await_acceptance(self, channel: CommandChannel) -> bytes:
        """The first byte of the answer to InitCommandRequest: a camera may ask its user to
        accept this computer first (``on_pairing_wait`` is told after a second of that)."""
        try:
            if self.on_pairing_wait is not None:
                try:
                    return await channel.read_exactly(1, PAIRING_NOTICE_S)
                except asyncio.TimeoutError:
                    self.on_pairing_wait(self.pairing_timeout_s)
            return await channel.read_exactly(1, self.pairing_timeout_s)
        except asyncio.TimeoutError as exc:
            raise ConnectTimeout(
                f"{self.url}: no InitCommandAck within {self.pairing_timeout_s:g} s: the "
                "camera did not accept this computer. If it asks, accept it on the camera "
                "(more time: pairing_timeout_s)"
            ) from exc
        except (EOFError, OSError) as exc:
            raise ConnectError(
                f"{self.url}: the camera closed the connection instead of sending InitCommandAck"
            ) from exc

    async def _read_packet(
        self,
        read_exactly: Callable[[int, float], Awaitable[bytes]],
        conn: Connection,
        deadline: float,
        what: str,
        first: bytes = b"",
    ) -> ConnectionEvent:
        """The next handshake packet, by the handshake's ``deadline``. Whole packets only
        (header, then the length it gives, once the framing has judged it), so no byte past
        the packet is taken: what follows is the engine's."""
        loop = asyncio.get_running_loop()
        late = (
            f"{self.url}: the PTP/IP handshake did not finish within "
            f"{self.connect_timeout_s:g} s (waiting for {what})"
        )
        try:
            while True:
                header = first + await read_exactly(
                    HEADER_SIZE - len(first), deadline - loop.time()
                )
                first = b""
                conn.receive_data(header)
                event = conn.next_event()  # judges the header: a bad length raises here
                if event is NEED_DATA:
                    length = HEADER.unpack(header)[0]
                    conn.receive_data(
                        await read_exactly(length - HEADER_SIZE, deadline - loop.time())
                    )
                    event = conn.next_event()
                if event is not NEED_DATA:
                    return event  # type: ignore[return-value]
        except asyncio.TimeoutError as exc:
            raise ConnectTimeout(late) from exc
        except (EOFError, asyncio.IncompleteReadError) as exc:
            raise ConnectError(
                f"{self.url}: the camera closed the connection instead of sending {what}"
            ) from exc
        except OSError as exc:
            raise ConnectError(f"{self.url}: connection lost waiting for {what}: {exc}") from exc

    async def _open_events(self, connection_number: int, deadline: float) -> None:
        port = self.address.event_port or self.address.port
        loop = asyncio.get_running_loop()
        for attempt in range(EVENT_CONNECT_ATTEMPTS):
            try:
                self._events = await self._connect(
                    port,
                    "event",
                    deadline,
                    asyncio.open_connection(self.address.host, port),
                )
                break
            except ConnectError as exc:
                # libgphoto2 retries a refused event connection ("seen on Ricoh Theta").
                if not isinstance(exc.__cause__, ConnectionRefusedError):
                    raise
                if attempt == EVENT_CONNECT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(EVENT_CONNECT_PAUSE_S)
        assert self._events is not None
        reader, writer = self._events
        conn = Connection(Role.INITIATOR, PtpIpFraming())
        self._event_connection = conn
        writer.writelines(conn.send(InitEventRequest(connection_number=connection_number)))
        await self._drain(bounded(writer.drain(), deadline - loop.time()), "InitEventRequest")

        async def read_exactly(count: int, timeout_s: float) -> bytes:
            return await bounded(reader.readexactly(count), timeout_s)

        answer = await self._read_packet(read_exactly, conn, deadline, "InitEventAck")
        if isinstance(answer, InitFail):
            raise init_fail_error(self.url, self.guid, answer)
        if not isinstance(answer, InitEventAck):
            raise ConnectError(f"the camera answered InitEventRequest with {answer!r}")

    async def _drain(self, draining: Awaitable[None], what: str) -> None:
        try:
            await draining
        except asyncio.TimeoutError as exc:
            raise ConnectTimeout(f"{self.url}: the camera did not take {what} in time") from exc
        except OSError as exc:
            raise ConnectError(f"{self.url}: connection lost sending {what}: {exc}") from exc

    # -- the command connection ------------------------------------------------------------------

    def _channel(self) -> CommandChannel:
        if self._command is None:
            raise DisconnectedError(f"{self.url}: not connected")
        return self._command

    async def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        channel = self._channel()
        # A camera that takes nothing for send_timeout_s is gone, whatever the caller allows;
        # the caller's deadline otherwise (the engine's window).
        limit = self.send_timeout_s if timeout_s is None else min(timeout_s, self.send_timeout_s)
        try:
            channel.write(buffers)
            if channel.must_drain:  # not an await per request when the buffer has room
                await channel.drain(limit)
        except asyncio.TimeoutError as exc:
            raise TransportTimeout(f"{self.url}: the camera did not take the data in time") from exc
        except OSError as exc:
            raise DisconnectedError(f"{self.url}: connection lost while sending: {exc}") from exc
        if progress is not None:
            # Taken once the transport's buffer is under its mark: the camera's TCP took it.
            progress(sum(len(b) for b in buffers))

    async def receive(
        self, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[BytesLike, bool]:
        channel = self._channel()
        try:
            data = await channel.receive(timeout_s)
        except EOFError:
            raise DisconnectedError(
                f"{self.url}: the camera closed the command connection"
            ) from None
        except OSError as exc:
            raise DisconnectedError(f"{self.url}: connection lost: {exc}") from exc
        if data is None:
            raise TransportTimeout(
                f"{self.url}: the camera sent nothing for {timeout_s:g} s (waiting for "
                "data or a response)"
            )
        return data, False

    async def cancel(self, request: Sequence[BytesLike]) -> None:
        # On the command connection, as the blocking transport sends it (see its docstring).
        await self.write(request)

    # -- the event connection --------------------------------------------------------------------

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        if self._events is None or self._event_connection is None:
            raise DisconnectedError(f"{self.url}: the event connection is not open")
        self._event_task = asyncio.get_running_loop().create_task(
            self._event_loop(self._events, self._event_connection, on_event, on_error),
            name=f"ptpkit-events-{self.address.host}",
        )

    def _command_heard_at(self) -> float:
        return self._command.heard_at if self._command is not None else 0.0

    async def _event_loop(
        self,
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        conn: Connection,
        on_event: EventCallback,
        on_error: EventErrorCallback,
    ) -> None:
        """Read the event connection; answer the camera's probes; probe an idle camera every
        ``probe_interval_s`` (an unanswered probe is counted, never fatal: libgphoto2 answers
        none, so cameras that ignore them exist; see :mod:`ptpkit.transports.ptpip`)."""
        reader, writer = streams
        loop = asyncio.get_running_loop()
        interval = self.probe_interval_s
        heard_at = loop.time()
        answer_due: float | None = None
        probe_sent_at = 0.0
        try:
            while True:
                now = loop.time()
                if answer_due is not None and self._command_heard_at() > probe_sent_at:
                    answer_due = None  # the command connection answered: the camera is there
                if answer_due is not None and now >= answer_due:
                    answer_due = None
                    self.probes_missed += 1
                    if self.probes_missed == 1:
                        log.debug(
                            "%s: the camera does not answer PTP/IP probes (%g s); TCP "
                            "keep-alive and transaction deadlines watch the link instead",
                            self.url,
                            self.probe_timeout_s,
                        )
                wait: float | None = None
                if interval is not None:
                    next_probe = max(heard_at, self._command_heard_at()) + interval
                    if now >= next_probe and answer_due is None:
                        writer.writelines(conn.send(ProbeRequest()))
                        await bounded(writer.drain(), self.send_timeout_s)
                        probe_sent_at = now
                        answer_due = now + self.probe_timeout_s
                        heard_at = now
                        continue
                    wait = max(0.0, (answer_due or next_probe) - now)
                try:
                    data = await bounded(reader.read(_EVENT_READ_BYTES), wait)
                except asyncio.TimeoutError:
                    continue
                if not data:
                    raise DisconnectedError(f"{self.url}: the camera closed the event connection")
                heard_at = loop.time()
                answer_due = None  # anything from the camera shows it is there
                conn.receive_data(data)
                while (event := conn.next_event()) is not NEED_DATA:
                    if isinstance(event, Event):
                        on_event(event)
                    elif isinstance(event, ProbeRequest):
                        writer.writelines(conn.send(ProbeResponse()))
                        await bounded(writer.drain(), self.send_timeout_s)
                    elif isinstance(event, ProbeResponse):
                        self.probes_answered += 1
        except asyncio.CancelledError:
            raise  # close(): not an error
        except Exception as exc:  # a task must not die unseen: all is reported
            if self._closed:
                return
            error = (
                exc
                if isinstance(exc, PTPError)
                else DisconnectedError(f"{self.url}: event connection lost: {exc!r}")
            )
            if isinstance(error, ProtocolError):
                log.warning("%s: event connection: %s", self.url, error)
            on_error(error)

    # -- closing ---------------------------------------------------------------------------------

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._event_task = self._event_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._command is not None:
            self._command.close()
        if self._events is not None:
            writer = self._events[1]
            writer.close()
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await bounded(writer.wait_closed(), 1.0)
        self._command = None
        self._events = None


_PTPIP_OPTIONS: Final = frozenset(
    {
        "friendly_name",
        "connect_timeout_s",
        "pairing_timeout_s",
        "probe_interval_s",
        "probe_timeout_s",
        "send_timeout_s",
        "on_pairing_wait",
        "read_bytes",
    }
)


def open_ptpip_url(url: str, options: dict[str, Any]) -> AsyncPtpIpTransport:
    """``ptpip:HOST[:PORT[:EVENTPORT]]`` for :func:`ptpkit.aio.connect`; options are
    :class:`AsyncPtpIpTransport`'s keywords (``guid`` may be given as text)."""
    address = parse_url(url)
    guid = options.pop("guid", None)
    if isinstance(guid, str):
        guid = parse_guid(guid)
    unknown = set(options) - _PTPIP_OPTIONS
    if unknown:
        raise UsageError(
            f"ptpip: unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: guid, {', '.join(sorted(_PTPIP_OPTIONS))}"
        )
    return AsyncPtpIpTransport(address.host, address.port, address.event_port, guid=guid, **options)


# -- the in-process virtual camera -----------------------------------------------------------------


#: The in-process link gives the loop a turn after this many bytes (one 1 MiB read, or a few
#: hundred small answers).
_YIELD_EVERY_BYTES: Final = 1 << 20


class AsyncInProcessTransport(AsyncTransport):
    """The in-process responder (``virtual:``) for the loop. Its link never blocks (the
    responder answers inside each write), so calls run inline, giving the loop a turn every
    :data:`_YIELD_EVERY_BYTES` read or written: a long download or upload lets other tasks
    (and a cancel) in between its chunks."""

    kind = "inprocess"

    def __init__(self, link: InProcessTransport) -> None:
        self._link = link
        self._view = link.receive_buffer()
        #: Bytes read since the loop last had a turn.
        self._unyielded = 0

    @property
    def url(self) -> str:
        return self._link.url

    def framing(self) -> Framing:
        return self._link.framing()

    async def open(self) -> None:
        self._link.open()

    async def close(self) -> None:
        self._link.close()

    async def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        if self._unyielded >= _YIELD_EVERY_BYTES:
            # An upload gives other tasks (and a cancel) a turn between its chunks too.
            self._unyielded = 0
            await asyncio.sleep(0)
        self._link.write(buffers, timeout_s, progress, ends_transfer=ends_transfer)
        self._unyielded += sum(len(b) for b in buffers)

    async def receive(
        self, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[BytesLike, bool]:
        if self._unyielded >= _YIELD_EVERY_BYTES:
            # A long data phase lets other tasks (and a cancel) in between its reads; a small
            # transaction's two reads do not pay a turn of the loop each.
            self._unyielded = 0
            await asyncio.sleep(0)
        count, ended = self._link.read_into(self._view, timeout_s, in_data=in_data)
        self._unyielded += max(count, 1)
        return self._view[:count], ended

    async def cancel(self, request: Sequence[BytesLike]) -> None:
        self._link.cancel(request)

    def cancel_finished(self) -> bool:
        return self._link.cancel_finished()

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        loop = asyncio.get_running_loop()
        self._link.start_events(_on_loop(loop, on_event), _on_loop(loop, on_error))


# -- a blocking transport in a worker thread -------------------------------------------------------


class ThreadedTransport(AsyncTransport):
    """A blocking :class:`~ptpkit.transports.base.Transport` (USB) for the loop: each call runs
    in this link's one worker thread, so calls keep their order and one camera's blocking read
    holds no other camera's thread.

    A cancelled caller does not stop a blocking call: it runs to its end (bounded by the
    timeout it was given), and the next call waits for it. What a read brought meanwhile is
    not lost: the next :meth:`receive` returns it (the engine's drain after a cancel reads it).
    """

    def __init__(self, link: Transport) -> None:
        self._link = link
        self.kind = link.kind
        self.vendor_hint = link.vendor_hint
        self._view = link.receive_buffer()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ptpkit-{link.kind}")
        #: The blocking call whose caller stopped waiting (a cancelled task), still running.
        self._pending: asyncio.Future[Any] | None = None
        self._pending_is_read = False
        #: What a read finished after its caller left brought: the next receive()'s answer.
        self._kept: tuple[int, bool] | None = None

    @property
    def url(self) -> str:
        return self._link.url

    @property
    def link(self) -> Transport:
        return self._link

    def framing(self) -> Framing:
        return self._link.framing()

    async def _settle(self) -> None:
        """Wait for a call a cancelled caller left running; keep what its read brought."""
        pending = self._pending
        if pending is None:
            return
        try:
            result = await asyncio.shield(pending)
        finally:
            if pending.done():
                self._pending = None
        if self._pending_is_read:
            self._kept = result

    async def _in_thread(self, is_read: bool, call: Callable[[], _T]) -> _T:
        await self._settle()
        future = asyncio.get_running_loop().run_in_executor(self._worker, call)
        self._pending, self._pending_is_read = future, is_read
        result = await asyncio.shield(future)  # CancelledError: it stays pending (above)
        self._pending = None
        return result

    async def open(self) -> None:
        await self._in_thread(False, self._link.open)

    async def close(self) -> None:
        with contextlib.suppress(PTPError, asyncio.CancelledError):
            await self._settle()
        try:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._link.close)
        finally:
            self._worker.shutdown(wait=False)

    async def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        # The buffers' bytes must outlive a cancelled caller: the thread may still send them.
        held = [bytes(b) if isinstance(b, memoryview) else b for b in buffers]
        await self._in_thread(
            False,
            functools.partial(
                self._link.write, held, timeout_s, progress, ends_transfer=ends_transfer
            ),
        )

    async def receive(
        self, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[BytesLike, bool]:
        await self._settle()
        if self._kept is not None:
            (count, ended), self._kept = self._kept, None
            return self._view[:count], ended
        count, ended = await self._in_thread(
            True, functools.partial(self._link.read_into, self._view, timeout_s, in_data=in_data)
        )
        return self._view[:count], ended

    async def cancel(self, request: Sequence[BytesLike]) -> None:
        held = [bytes(b) for b in request]
        await self._in_thread(False, functools.partial(self._link.cancel, held))

    def cancel_finished(self) -> bool:
        if not self._link.cancel_finished():
            return False
        # Over without a response (USB: the device dropped the rest): what a read brought
        # after its caller left belongs to the cancelled transaction too.
        self._kept = None
        return True

    def set_idle(self, idle: bool) -> None:
        self._link.set_idle(idle)  # read from any thread (Transport.set_idle)

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        loop = asyncio.get_running_loop()
        self._link.start_events(_on_loop(loop, on_event), _on_loop(loop, on_error))


def adapt(link: Transport | AsyncTransport) -> AsyncTransport:
    """An asyncio link for any link: the in-process camera inline, PTP/IP's blocking transport
    replaced by the stream one is the caller's choice (:func:`ptpkit.aio.connect` makes that),
    anything else blocking in a worker thread."""
    if isinstance(link, AsyncTransport):
        return link
    if isinstance(link, InProcessTransport):
        return AsyncInProcessTransport(link)
    return ThreadedTransport(link)


__all__ = [
    "AsyncInProcessTransport",
    "AsyncPtpIpTransport",
    "AsyncTransport",
    "ThreadedTransport",
    "adapt",
    "open_ptpip_url",
]
