"""Writes have the same deadline as reads (issue 11, section 2).

A transaction has one deadline, ``timeout_s``, whatever the camera does meanwhile: the request's
write shares it with the wait for the answer, and a data phase to the camera (SendObject) moves
it only with progress, as a download does: each ``timeout_s`` window must see
``min_progress_bytes`` more taken by the camera. A camera that stops reading, or takes a byte
now and then, ends an upload with TransportTimeout; a slow but honest one finishes.

Checked on the engine with a fake transport and a fake clock (for every transport), then over
PTP/IP against the ``slow-reader`` virtual camera and over USB (through PyUSB) against the virtual
device's ``stop_out_after`` fault.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

import ptpkit
from ptpkit.client.engine import Engine
from ptpkit.client.streams import BytesSink
from ptpkit.core.buffer import BytesLike
from ptpkit.core.ptpip import PtpIpFraming
from ptpkit.core.state import Phase
from ptpkit.errors import ClosedError, TransportTimeout
from ptpkit.transports.base import (
    EventCallback,
    EventErrorCallback,
    Transport,
    WriteDeadline,
    WriteProgress,
)
from ptpkit.transports.ptpip import PtpIpTransport
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.misbehave import Misbehavior, Mode
from ptpkit.virtual.server import PtpIpServer
from ptpkit.virtual.usb_device import UsbFaults

from .test_deadlines import LAST_LOOK_S, FakeClock, response

MiB = 1 << 20
#: SendObject: a data phase to the camera.
SEND_OBJECT = 0x100D


# -- the engine, with a fake clock ---------------------------------------------------------------


class SlowTaker(Transport):
    """A PTP/IP command channel to a camera that takes the request at once, then ``step``
    bytes each ``step_s`` of the fake clock (with ``slow_request``, the request too; never, with
    step 0), honouring the write deadline as real transports do; once it has all the bytes, it
    answers OK."""

    def __init__(
        self, clock: FakeClock, step: int, step_s: float, *, slow_request: bool = False
    ) -> None:
        self.clock = clock
        self.slow_request = slow_request
        self.step = step
        self.step_s = step_s
        self.write_timeouts: list[float | None] = []
        self.taken = 0
        self._steps = 0
        self._answered = False

    def framing(self) -> PtpIpFraming:
        return PtpIpFraming(initial_phase=Phase.IDLE)  # as after the handshake

    @property
    def url(self) -> str:
        return "ptpip:slow-taker"

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
        self.write_timeouts.append(timeout_s)
        left = sum(len(b) for b in buffers)
        if len(self.write_timeouts) == 1 and not self.slow_request:
            self.taken += left
            return
        deadline = None if timeout_s is None else self.clock.now + timeout_s
        while left:
            self._steps += 1
            if self._steps > 1_000_000:
                raise AssertionError("the camera kept the write going: no deadline")
            take = min(self.step, left)
            if deadline is not None and (take == 0 or self.clock.now + self.step_s > deadline):
                self.clock.now = max(self.clock.now, deadline)
                raise TransportTimeout("slow-taker: the camera did not take the data in time")
            self.clock.now += self.step_s
            left -= take
            self.taken += take
            if progress is not None:
                remaining = progress(take)
                deadline = None if remaining is None else self.clock.now + remaining

    def read_into(
        self, buffer: memoryview, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[int, bool]:
        if self._answered:
            raise AssertionError("read past the response")
        self._answered = True
        data = response(tid=0)
        buffer[: len(data)] = data
        return len(data), False

    def cancel(self, request: Sequence[BytesLike]) -> None:
        pass

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        pass


def _upload(link: SlowTaker, size: int, timeout_s: float, **kwargs: int) -> int:
    engine = Engine(link, timeout_s=timeout_s, clock=link.clock, **kwargs)  # type: ignore[arg-type]
    answer, _ = engine.run(SEND_OBJECT, data_out=_Zeros(size), sink=BytesSink())
    return answer.code


class _Zeros:
    """A DataSource of ``size`` zero bytes."""

    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, count: int) -> bytes:
        return bytes(count)


def test_an_upload_the_camera_takes_a_byte_at_a_time_ends_within_the_window() -> None:
    """A byte a second: every write used to wait for ever (the transport had no deadline)."""
    clock = FakeClock()
    link = SlowTaker(clock, step=1, step_s=1.0)
    engine = Engine(link, timeout_s=5.0, clock=clock)
    with pytest.raises(
        TransportTimeout, match=r"took the data too slowly: 5 bytes in the last 5 s"
    ):
        engine.run(SEND_OBJECT, data_out=_Zeros(8 * MiB), sink=BytesSink())
    assert clock.now - 1000.0 <= 5.0 + LAST_LOOK_S
    assert not engine.idle  # broken off: the next call says reconnect


def test_a_slow_but_honest_upload_finishes() -> None:
    """8 MiB at 32 KiB/s takes 256 s, far past the 5 s timeout: every window sees more than the
    minimum taken, so the deadline moves with the data."""
    clock = FakeClock()
    link = SlowTaker(clock, step=32 << 10, step_s=1.0)
    assert _upload(link, 8 * MiB, timeout_s=5.0) == 0x2001
    assert link.taken >= 8 * MiB
    # (each 1 MiB write's headers and last partial step add a second)
    assert 256.0 <= clock.now - 1000.0 <= 256.0 + 2 * 8


def test_the_upload_minimum_is_the_same_keyword() -> None:
    clock = FakeClock()
    # 1 KiB/s passes a 4 KiB-per-5-s minimum...
    assert _upload(SlowTaker(clock, 1024, 1.0), MiB // 4, 5.0, min_progress_bytes=4096) == 0x2001
    # ...and not the default 64 KiB.
    with pytest.raises(TransportTimeout, match="too slowly"):
        _upload(SlowTaker(FakeClock(), 1024, 1.0), MiB // 4, 5.0)


def test_a_request_the_camera_never_takes_ends_at_the_deadline() -> None:
    clock = FakeClock()
    link = SlowTaker(clock, step=0, step_s=1.0, slow_request=True)
    engine = Engine(link, timeout_s=2.0, clock=clock)
    with pytest.raises(TransportTimeout, match=r"did not take the request within 2 s"):
        engine.run(0x1001)
    assert link.write_timeouts == [pytest.approx(2.0)]
    assert clock.now - 1000.0 == pytest.approx(2.0)
    with pytest.raises(ClosedError, match="reconnect"):
        engine.run(0x1001)


def test_no_timeout_means_no_deadline_for_writes() -> None:
    link = SlowTaker(FakeClock(), step=1 << 20, step_s=1.0)
    engine = Engine(link, timeout_s=None, clock=link.clock)
    engine.run(SEND_OBJECT, data_out=_Zeros(3 * MiB), sink=BytesSink())
    assert set(link.write_timeouts) == {None}


def test_a_write_deadline_moves_with_progress() -> None:
    told: list[int] = []

    def progress(count: int) -> float:
        told.append(count)
        return 7.0

    deadline = WriteDeadline(0.5, progress)
    remaining = deadline.remaining()
    assert remaining is not None
    assert 0 < remaining <= 0.5
    deadline.took(100)
    remaining = deadline.remaining()
    assert remaining is not None
    assert 6.5 < remaining <= 7.0
    assert told == [100]
    assert WriteDeadline(None, None).remaining() is None


# -- over PTP/IP, against a camera that reads slowly ---------------------------------------------


def _ends(call: Callable[[], object], within_s: float) -> BaseException | None:
    """Run ``call`` in a thread; fail the test if it is still running after ``within_s``."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within_s)
    assert outcome, f"still running after {within_s} s: no deadline"
    return outcome[0]


def _sparse(tmp_path: Path, size: int) -> Path:
    """A file of ``size`` zero bytes that takes no disk space."""
    path = tmp_path / "upload.bin"
    with path.open("wb") as file:
        file.truncate(size)
    return path


@pytest.mark.parametrize(
    ("bytes_per_tick", "size"),
    [
        (1, 64 * MiB),  # stops reading: ended after send_timeout_s (30 s) before
        (2048, 256 * MiB),  # 40 KiB/s, below 64 KiB/s: ran on for an hour and more before
    ],
    ids=["stops-reading", "trickle"],
)
def test_an_upload_to_a_camera_that_reads_slowly_ends_in_time(
    tmp_path: Path, bytes_per_tick: int, size: int
) -> None:
    card = tmp_path / "card"
    card.mkdir()
    misbehavior = Misbehavior(
        modes=frozenset({Mode.SLOW_READER}), tick_s=0.05, slow_read_bytes=bytes_per_tick
    )
    source = _sparse(tmp_path, size)
    with (
        VirtualCamera(card, misbehavior=misbehavior) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
        ptpkit.connect(server.url, timeout_s=1.0) as cam,
    ):
        assert isinstance(cam.transport, PtpIpTransport)
        assert cam.transport.send_timeout_s == 30.0  # the outer bound is not what ends it
        started = time.monotonic()
        error = _ends(lambda: cam.upload(source), within_s=25)
        took = time.monotonic() - started
        assert isinstance(error, TransportTimeout), error
        assert "the camera took the data too slowly" in str(error)
        assert took < 10
        # The link is out of step: the next call says so instead of mixing transactions.
        with pytest.raises(ClosedError, match="reconnect"):
            cam.storage_ids()


def test_the_slow_reader_mode_parses() -> None:
    parsed = Misbehavior.parse("slow-reader=512,tick=0.1")
    assert parsed.modes == {Mode.SLOW_READER}
    assert parsed.slow_read_bytes == 512
    assert Misbehavior.parse("slow-reader").slow_read_bytes == 1
    for bad in ("slow-reader=0", "slow-reader=x", "slow-reader=1.5"):
        with pytest.raises(ValueError, match="slow-reader"):
            Misbehavior.parse(bad)


def test_a_slow_reader_still_takes_small_uploads(tmp_path: Path) -> None:
    """The mode slows a camera down; it is honest: what fits in the socket buffers goes."""
    card = tmp_path / "card"
    card.mkdir()
    misbehavior = Misbehavior(modes=frozenset({Mode.SLOW_READER}), tick_s=0.01)
    with (
        VirtualCamera(card, misbehavior=misbehavior) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
        ptpkit.connect(server.url, timeout_s=10.0) as cam,
    ):
        entry = cam.upload(io.BytesIO(b"small"), name="small.txt")
        assert (card / entry.name).read_bytes() == b"small"


def test_uploads_over_ptpip_are_unaffected(tmp_path: Path) -> None:
    card = tmp_path / "card"
    card.mkdir()
    data = bytes((i * 13) % 251 for i in range(9 * MiB + 17))
    with (
        VirtualCamera(card) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
        ptpkit.connect(server.url, timeout_s=5.0) as cam,
    ):
        entry = cam.upload(io.BytesIO(data), name="big.bin")
        assert (card / entry.name).read_bytes() == data
        assert cam.storage_ids() == (0x00010001,)


# -- over USB, through PyUSB, against a device that stops taking bulk OUT ------------------------


@pytest.mark.parametrize("timeouts_as", [None, "errno", "libusb_code"])
def test_an_upload_to_a_usb_camera_that_stops_taking_data_ends_in_time(
    tmp_path: Path, timeouts_as: str | None
) -> None:
    """libusb's timeout 0 is no timeout: such a write used to block for ever. However the
    backend reports the OUT transfer's timeout, it is one."""
    card = tmp_path / "card"
    card.mkdir()
    source = _sparse(tmp_path, 8 * MiB)
    with (
        VirtualCamera(card) as vcam,
        ptpkit.connect(
            "virtual+usb:",
            camera=vcam,
            faults=UsbFaults(stop_out_after=2 * MiB, timeouts_as=timeouts_as),
            timeout_s=1.0,
        ) as cam,
    ):
        started = time.monotonic()
        error = _ends(lambda: cam.upload(source), within_s=20)
        took = time.monotonic() - started
        assert isinstance(error, TransportTimeout), error
        assert "the camera took the data too slowly" in str(error)
        assert took < 8
        with pytest.raises(ClosedError, match="reconnect"):
            cam.storage_ids()
        closing = time.monotonic()
    assert time.monotonic() - closing < 5  # the link lets go at once


def test_a_usb_camera_that_takes_nothing_after_the_request_ends_in_time(tmp_path: Path) -> None:
    card = tmp_path / "card"
    card.mkdir()
    with (
        VirtualCamera(card) as vcam,
        ptpkit.connect(
            "virtual+usb:", camera=vcam, faults=UsbFaults(stop_out_after=0), timeout_s=1.0
        ) as cam,
    ):
        started = time.monotonic()
        error = _ends(lambda: cam.upload(io.BytesIO(b"x" * 1000), name="x.bin"), within_s=20)
        assert isinstance(error, TransportTimeout), error
        assert time.monotonic() - started < 8


def test_uploads_over_usb_are_unaffected(tmp_path: Path) -> None:
    card = tmp_path / "card"
    card.mkdir()
    data = bytes((i * 13) % 251 for i in range(3 * MiB + 512))  # whole packets: a ZLP ends it
    with (
        VirtualCamera(card) as vcam,
        ptpkit.connect("virtual+usb:", camera=vcam, timeout_s=5.0) as cam,
    ):
        entry = cam.upload(io.BytesIO(data), name="big.bin")
        assert (card / entry.name).read_bytes() == data
        assert cam.storage_ids() == (0x00010001,)


def test_an_answer_already_there_at_the_deadline_is_taken() -> None:
    """The in-process camera does its work inside the request's write (an event flood took
    1.5 s on a loaded machine): its answer is there at the deadline, and is taken (one last
    read of 1 ms), not refused unread."""
    clock = FakeClock()

    class WorksInTheWrite(SlowTaker):
        def write(
            self,
            buffers: Sequence[BytesLike],
            timeout_s: float | None = None,
            progress: WriteProgress | None = None,
            *,
            ends_transfer: bool = True,
        ) -> None:
            self.clock.now += 10.0

    link = WorksInTheWrite(clock, step=1, step_s=1.0)
    answer, _ = Engine(link, timeout_s=2.0, clock=clock).run(0x1001)
    assert answer.code == 0x2001


def test_a_device_reset_after_a_timed_out_upload_sends_no_stale_bytes(tmp_path: Path) -> None:
    """A timed-out upload leaves part of its data in the transport's OUT buffer. Device Reset
    starts the link afresh: those bytes must not go out in front of the next request (the
    camera would read them as a container and the link would be silently out of step)."""
    card = tmp_path / "card"
    card.mkdir()
    source = _sparse(tmp_path, 8 * MiB)
    with (
        VirtualCamera(card) as vcam,
        ptpkit.connect(
            "virtual+usb:", camera=vcam, faults=UsbFaults(stop_out_after=2 * MiB), timeout_s=1.0
        ) as cam,
    ):
        error = _ends(lambda: cam.upload(source), within_s=20)
        assert isinstance(error, TransportTimeout), error
        engine = cam._engine
        assert engine is not None
        engine.reset()  # Device Reset, and the engine's connection afresh
        response, sink = engine.run(0x1001)  # GetDeviceInfo: needs no session
        assert response.code == 0x2001
        assert isinstance(sink, BytesSink)
        assert len(sink.getvalue()) > 0
