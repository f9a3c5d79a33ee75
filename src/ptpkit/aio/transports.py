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
from collections.abc import Callable, Sequence
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


class AsyncPtpIpTransport(AsyncTransport):
    """One PTP/IP camera (CIPA DC-X005) on asyncio streams: the handshake, deadlines and
    probe rules of :class:`ptpkit.transports.ptpip.PtpIpTransport`, without a thread."""

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
        self.connect_timeout_s = connect_timeout_s
        self.pairing_timeout_s = pairing_timeout_s
        self.on_pairing_wait = on_pairing_wait
        self.probe_interval_s = probe_interval_s
        self.probe_timeout_s = probe_timeout_s
        self.send_timeout_s = send_timeout_s
        #: Most bytes one read takes from the stream (and the stream's buffer before it pauses
        #: the socket): big reads mean few wake-ups per gigabyte.
        self.read_bytes = read_bytes
        self.probes_answered = 0
        self.probes_missed = 0
        self.responder_name = ""
        self.responder_guid = b""
        self.connection_number: int | None = None
        self._command: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._events: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._event_connection: Connection | None = None
        self._event_task: asyncio.Task[None] | None = None
        #: When the command connection last brought bytes (loop time): traffic is liveness.
        self._command_heard_at = 0.0
        self._closed = False

    @property
    def url(self) -> str:
        return self.address.url

    def framing(self) -> Framing:
        return PtpIpFraming(initial_phase=Phase.IDLE, connection_number=self.connection_number)

    # -- opening ---------------------------------------------------------------------------------

    async def _connect(
        self, port: int, what: str, deadline: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host = self.address.host
        loop = asyncio.get_running_loop()
        try:
            reader, writer = await bounded(
                asyncio.open_connection(host, port, limit=self.read_bytes),
                deadline - loop.time(),
            )
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
        sock = writer.get_extra_info("socket")
        if sock is not None:
            tune_socket(
                sock,
                probe_interval_s=self.probe_interval_s,
                probe_timeout_s=self.probe_timeout_s,
                send_timeout_s=self.send_timeout_s,
            )
        return reader, writer

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout_s
        self._command = await self._connect(self.address.port, "command", deadline)
        reader, writer = self._command
        # The handshake's own connection, thrown away after it (as the blocking transport's).
        greeting = Connection(Role.INITIATOR, PtpIpFraming())
        try:
            writer.writelines(
                greeting.send(InitCommandRequest(guid=self.guid, friendly_name=self.friendly_name))
            )
            await self._drain(writer, deadline - loop.time(), "InitCommandRequest")
            # The user's time to accept this computer is not the handshake's.
            started = loop.time()
            first = await self._await_acceptance(reader)
            deadline += loop.time() - started
            ack = await self._read_packet(reader, greeting, deadline, "InitCommandAck", first)
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
            self._command_heard_at = loop.time()
        except BaseException:
            await self.close()
            raise

    async def _await_acceptance(self, reader: asyncio.StreamReader) -> bytes:
        """The first byte of the answer to InitCommandRequest: a camera may ask its user to
        accept this computer first (``on_pairing_wait`` is told after a second of that)."""
        try:
            if self.on_pairing_wait is not None:
                try:
                    return await bounded(reader.readexactly(1), PAIRING_NOTICE_S)
                except asyncio.TimeoutError:
                    self.on_pairing_wait(self.pairing_timeout_s)
            return await bounded(reader.readexactly(1), self.pairing_timeout_s)
        except asyncio.TimeoutError as exc:
            raise ConnectTimeout(
                f"{self.url}: no InitCommandAck within {self.pairing_timeout_s:g} s: the "
                "camera did not accept this computer. If it asks, accept it on the camera "
                "(more time: pairing_timeout_s)"
            ) from exc
        except (asyncio.IncompleteReadError, OSError) as exc:
            raise ConnectError(
                f"{self.url}: the camera closed the connection instead of sending InitCommandAck"
            ) from exc

    async def _read_packet(
        self,
        reader: asyncio.StreamReader,
        conn: Connection,
        deadline: float,
        what: str,
        first: bytes = b"",
    ) -> ConnectionEvent:
        """The next handshake packet, by the handshake's ``deadline``. Whole packets only
        (header, then the length it gives, once the framing has judged it), so no byte past
        the packet is taken from the stream: what follows is the engine's."""
        loop = asyncio.get_running_loop()
        late = (
            f"{self.url}: the PTP/IP handshake did not finish within "
            f"{self.connect_timeout_s:g} s (waiting for {what})"
        )
        try:
            while True:
                header = first + await bounded(
                    reader.readexactly(HEADER_SIZE - len(first)), deadline - loop.time()
                )
                first = b""
                conn.receive_data(header)
                event = conn.next_event()  # judges the header: a bad length raises here
                if event is NEED_DATA:
                    length = HEADER.unpack(header)[0]
                    body = await bounded(
                        reader.readexactly(length - HEADER_SIZE), deadline - loop.time()
                    )
                    conn.receive_data(body)
                    event = conn.next_event()
                if event is not NEED_DATA:
                    return event  # type: ignore[return-value]
        except asyncio.TimeoutError as exc:
            raise ConnectTimeout(late) from exc
        except asyncio.IncompleteReadError as exc:
            raise ConnectError(
                f"{self.url}: the camera closed the connection instead of sending {what}"
            ) from exc
        except OSError as exc:
            raise ConnectError(f"{self.url}: connection lost waiting for {what}: {exc}") from exc

    async def _open_events(self, connection_number: int, deadline: float) -> None:
        port = self.address.event_port or self.address.port
        for attempt in range(EVENT_CONNECT_ATTEMPTS):
            try:
                self._events = await self._connect(port, "event", deadline)
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
        await self._drain(writer, deadline - asyncio.get_running_loop().time(), "InitEventRequest")
        answer = await self._read_packet(reader, conn, deadline, "InitEventAck")
        if isinstance(answer, InitFail):
            raise init_fail_error(self.url, self.guid, answer)
        if not isinstance(answer, InitEventAck):
            raise ConnectError(f"the camera answered InitEventRequest with {answer!r}")

    async def _drain(self, writer: asyncio.StreamWriter, timeout_s: float, what: str) -> None:
        try:
            await bounded(writer.drain(), timeout_s)
        except asyncio.TimeoutError as exc:
            raise ConnectTimeout(f"{self.url}: the camera did not take {what} in time") from exc
        except OSError as exc:
            raise ConnectError(f"{self.url}: connection lost sending {what}: {exc}") from exc

    # -- the command connection ------------------------------------------------------------------

    def _streams(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
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
        writer = self._streams()[1]
        if writer.is_closing():
            raise DisconnectedError(f"{self.url}: the command connection is closed")
        writer.writelines(buffers)
        # A camera that takes nothing for send_timeout_s is gone, whatever the caller allows;
        # the caller's deadline otherwise (the engine's window).
        limit = self.send_timeout_s if timeout_s is None else min(timeout_s, self.send_timeout_s)
        try:
            await bounded(writer.drain(), limit)
        except asyncio.TimeoutError as exc:
            raise TransportTimeout(f"{self.url}: the camera did not take the data in time") from exc
        except OSError as exc:
            raise DisconnectedError(f"{self.url}: connection lost while sending: {exc}") from exc
        if progress is not None:
            # Taken once the stream's buffer drained below its mark: the camera's TCP took it.
            progress(sum(len(b) for b in buffers))

    async def receive(
        self, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[BytesLike, bool]:
        reader = self._streams()[0]
        try:
            data = await bounded(reader.read(self.read_bytes), timeout_s)
        except asyncio.TimeoutError as exc:
            raise TransportTimeout(
                f"{self.url}: the camera sent nothing for {timeout_s:g} s (waiting for "
                "data or a response)"
            ) from exc
        except OSError as exc:
            raise DisconnectedError(f"{self.url}: connection lost: {exc}") from exc
        if not data:
            raise DisconnectedError(f"{self.url}: the camera closed the command connection")
        self._command_heard_at = asyncio.get_running_loop().time()
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
                if answer_due is not None and self._command_heard_at > probe_sent_at:
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
                    next_probe = max(heard_at, self._command_heard_at) + interval
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
        for streams in (self._command, self._events):
            if streams is not None:
                writer = streams[1]
                writer.close()
                with contextlib.suppress(OSError, asyncio.TimeoutError):
                    await bounded(writer.wait_closed(), 1.0)
        self._command = self._events = None


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


class AsyncInProcessTransport(AsyncTransport):
    """The in-process responder (``virtual:``) for the loop. Its link never blocks (the
    responder answers inside each write), so calls run inline; each read yields to the loop
    once, so a long download lets other tasks (and a cancel) in between its reads."""

    kind = "inprocess"

    def __init__(self, link: InProcessTransport) -> None:
        self._link = link
        self._view = link.receive_buffer()

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
        self._link.write(buffers, timeout_s, progress, ends_transfer=ends_transfer)

    async def receive(
        self, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[BytesLike, bool]:
        await asyncio.sleep(0)
        count, ended = self._link.read_into(self._view, timeout_s, in_data=in_data)
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
