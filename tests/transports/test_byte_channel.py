"""A transport is a byte channel: the engine owns the connection and says what the link must know.

The channel here records what the engine tells it (where a data-out transfer ends, whether a
read is inside the camera's data phase, when the channel is idle, the link's reset) and plays a
USB camera with ptpkit's core in the responder role, so a transfer that ends too early (or a
data phase that never ends) fails in the camera's own decoder, as it would on a device.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ptpkit.client.engine import UPLOAD_CHUNK_BYTES, Engine
from ptpkit.client.streams import BytesSink
from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection
from ptpkit.core.events import NEED_DATA, Data, DataEnd, DataStart, Request, Response
from ptpkit.core.framing import Framing
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import UsbFraming
from ptpkit.errors import ClosedError, TransportError, TransportTimeout
from ptpkit.transports.base import (
    EventCallback,
    EventErrorCallback,
    Transport,
    WriteProgress,
)

GET_OBJECT = 0x1009
SEND_OBJECT = 0x100D
OK = 0x2001


class RecordingChannel(Transport):
    """A USB-framed byte channel to a camera made of the core in the responder role."""

    kind = "usb"

    def __init__(self, *, download: tuple[int, int] = (1000, 2000), resets: bool = True) -> None:
        self.camera = Connection(Role.RESPONDER, UsbFraming())
        #: GetObject's data: the bytes in the first read (after the header), then the rest.
        self.download = download
        self.can_reset = resets
        self.outbox: list[tuple[bytes, bool]] = []
        self.writes: list[tuple[int, bool]] = []
        self.reads: list[bool] = []
        self.idle: list[bool] = []
        self.resets = 0
        self.silent = False

    def framing(self) -> Framing:
        return UsbFraming()

    @property
    def url(self) -> str:
        return "usb:recording"

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        data = b"".join(bytes(b) for b in buffers)
        self.writes.append((len(data), ends_transfer))
        # A transfer the engine ends too early fails here ("the USB transfer ended ... before
        # the end of the data phase"); one it never ends leaves the camera waiting.
        self.camera.receive_data(data, transfer_ended=ends_transfer)
        while (event := self.camera.next_event()) is not NEED_DATA:
            if isinstance(event, Request) and event.code == GET_OBJECT:
                self._send_object(event.transaction_id)
            elif isinstance(event, Request) and event.code != SEND_OBJECT:
                self._answer(event.transaction_id)  # OpenSession: no data phase
            elif isinstance(event, DataEnd):
                self._answer(event.transaction_id)

    def _send_object(self, tid: int) -> None:
        first, rest = self.download
        header = self.camera.send(DataStart(transaction_id=tid, total_bytes=first + rest))
        chunk = self.camera.send(Data(transaction_id=tid, chunk=bytes(first)))
        self.outbox.append((b"".join(bytes(b) for b in [*header, *chunk]), False))
        last = self.camera.send(Data(transaction_id=tid, chunk=bytes(rest)))
        self.outbox.append((b"".join(bytes(b) for b in last), True))
        self._answer(tid)

    def _answer(self, tid: int) -> None:
        out = self.camera.send(Response(code=OK, transaction_id=tid))
        self.outbox.append((b"".join(bytes(b) for b in out), True))

    def read_into(
        self, buffer: memoryview, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[int, bool]:
        self.reads.append(in_data)
        if self.silent or not self.outbox:
            raise TransportTimeout("recording: the camera sent nothing")
        data, ended = self.outbox.pop(0)
        buffer[: len(data)] = data
        return len(data), ended

    def cancel(self, request: Sequence[BytesLike]) -> None:
        pass

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        pass

    def set_idle(self, idle: bool) -> None:
        self.idle.append(idle)

    def reset(self) -> None:
        if not self.can_reset:
            super().reset()
        self.resets += 1
        self.camera.reset()
        self.outbox.clear()
        self.silent = False


class _Zeros:
    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, count: int) -> bytes:
        return bytes(count)


def test_the_engine_makes_its_connection_from_the_framing() -> None:
    channel = RecordingChannel()
    engine = Engine(channel)
    assert isinstance(engine.connection.framing, UsbFraming)
    assert engine.connection.role is Role.INITIATOR
    assert engine.idle
    assert not hasattr(channel, "connection")


def test_an_upload_is_one_transfer_ended_by_its_last_write() -> None:
    channel = RecordingChannel()
    size = 2 * UPLOAD_CHUNK_BYTES + UPLOAD_CHUNK_BYTES // 2
    answer, _ = Engine(channel).run(
        SEND_OBJECT, (0,), data_out=_Zeros(size), sink=BytesSink(), timeout_s=5.0
    )
    assert answer.code == OK
    # The request is a transfer of its own; the data phase goes on until its last chunk.
    assert [ends for _, ends in channel.writes] == [True, False, False, True]
    assert sum(count for count, _ in channel.writes[1:]) == 12 + size
    assert channel.camera.phase is Phase.IDLE


def test_an_empty_upload_ends_with_its_header() -> None:
    channel = RecordingChannel()
    answer, _ = Engine(channel).run(SEND_OBJECT, data_out=_Zeros(0), sink=BytesSink())
    assert answer.code == OK
    assert channel.writes == [(12, True), (12, True)]


def test_reads_inside_the_cameras_data_phase_say_so() -> None:
    channel = RecordingChannel(download=(1000, 2000))
    answer, sink = Engine(channel).run(GET_OBJECT, (1,))
    assert answer.code == OK
    assert isinstance(sink, BytesSink)
    assert len(sink.getvalue()) == 3000
    # Waiting for the data; inside it; waiting for the response.
    assert channel.reads == [False, True, False]


def test_the_channel_is_told_when_it_is_idle() -> None:
    channel = RecordingChannel()
    engine = Engine(channel)
    engine.run(GET_OBJECT, (1,))
    engine.run(GET_OBJECT, (2,))
    assert channel.idle == [False, True, False, True]


def test_a_broken_link_stays_busy_until_the_engine_resets_it() -> None:
    channel = RecordingChannel()
    engine = Engine(channel, timeout_s=1.0)
    engine.run(0x1002, (1,))  # OpenSession: the connection has a session
    assert engine.connection.session_id == 1
    channel.silent = True
    with pytest.raises(TransportTimeout):
        engine.run(GET_OBJECT, (1,))
    assert channel.idle[-1] is False
    assert not engine.idle
    with pytest.raises(ClosedError, match="reconnect"):
        engine.run(GET_OBJECT, (1,))
    engine.reset()
    assert channel.resets == 1
    assert channel.idle[-1] is True
    assert engine.idle
    assert engine.connection.session_id is None  # a reset ends the session
    answer, _ = engine.run(GET_OBJECT, (1,))
    assert answer.code == OK


def test_a_link_without_a_reset_says_so() -> None:
    engine = Engine(RecordingChannel(resets=False))
    with pytest.raises(TransportError, match="no reset; reconnect"):
        engine.reset()


def test_a_closed_engine_closes_its_connection() -> None:
    engine = Engine(RecordingChannel())
    engine.close()
    assert engine.connection.phase is Phase.CLOSED
    assert not engine.idle
    with pytest.raises(ClosedError):
        engine.run(GET_OBJECT, (1,))
    with pytest.raises(ClosedError):
        engine.reset()
