"""Every wait has a deadline (issue 11, sections 1 and 2).

- A transaction's wait for its answer has one deadline, ``timeout_s``: probes answered and
  events delivered meanwhile do not extend it. A data phase moves its deadline only with real
  progress (``min_progress_bytes`` in each ``timeout_s`` window): a trickle ends, a slow honest
  download finishes. Checked on the engine with a fake transport and a fake clock (so for every
  transport), then over PTP/IP against the misbehaving virtual camera.
- The PTP/IP handshake has one deadline, not reset by each byte; the wait for the camera to
  accept this computer has its own (``pairing_timeout_s``) and is announced.
- A camera that never answers probes is not declared gone while it works.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import ptpkit
from ptpkit.client.engine import Engine
from ptpkit.client.streams import BytesSink
from ptpkit.core.buffer import BytesLike
from ptpkit.core.ptpip import PacketType, PtpIpFraming
from ptpkit.core.state import Phase
from ptpkit.errors import ConnectTimeout, PTPError, TransportTimeout
from ptpkit.transports.base import (
    EventCallback,
    EventErrorCallback,
    Transport,
    WriteProgress,
)
from ptpkit.transports.ptpip import PtpIpTransport
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.misbehave import Misbehavior, Mode
from ptpkit.virtual.responder import Reply
from ptpkit.virtual.server import PtpIpServer

_HEADER = struct.Struct("<II")
#: At the deadline the engine takes one last look (a read of 1 ms) for an answer already there.
LAST_LOOK_S = 0.001 + 1e-9


# -- the engine, with a fake clock ---------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def probe_packet() -> bytes:
    return _HEADER.pack(8, PacketType.PROBE_REQUEST)


def start_data(tid: int, total: int) -> bytes:
    return _HEADER.pack(20, PacketType.START_DATA) + struct.pack("<IQ", tid, total)


def data_packet(tid: int, payload: int, *, end: bool = False) -> bytes:
    kind = PacketType.END_DATA if end else PacketType.DATA
    return _HEADER.pack(12 + payload, kind) + struct.pack("<I", tid)


def response(tid: int, code: int = 0x2001) -> bytes:
    return _HEADER.pack(14, PacketType.OPERATION_RESPONSE) + struct.pack("<HI", code, tid)


class ScriptedLink(Transport):
    """A PTP/IP command channel whose camera is a script: each read gets the script's next
    (bytes, seconds the camera takes to send them) on the fake clock."""

    def __init__(self, clock: FakeClock, script: Iterator[tuple[bytes, float]]) -> None:
        self.clock = clock
        self.script = script
        self.timeouts: list[float | None] = []
        self.written: list[bytes] = []
        self._pending: tuple[bytes, float] | None = None

    def framing(self) -> PtpIpFraming:
        return PtpIpFraming(initial_phase=Phase.IDLE)  # as after the handshake

    @property
    def url(self) -> str:
        return "ptpip:scripted"

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
        self.written.append(b"".join(bytes(b) for b in buffers))

    def read_into(
        self, buffer: memoryview, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[int, bool]:
        self.timeouts.append(timeout_s)
        if len(self.timeouts) > 100_000:
            raise AssertionError("the engine kept reading: no deadline")
        data, took_s = self._pending or next(self.script)
        self._pending = None
        if timeout_s is not None and took_s > timeout_s:
            # Honours the timeout it is given, as the real transports do.
            self.clock.now += timeout_s
            self._pending = (data, took_s - timeout_s)
            raise TransportTimeout(f"scripted: nothing for {timeout_s:g} s")
        self.clock.now += took_s
        buffer[: len(data)] = data
        return len(data), False

    def cancel(self, request: Sequence[BytesLike]) -> None:
        pass

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        pass


def _engine(link: ScriptedLink, timeout_s: float, **kwargs: int) -> Engine:
    return Engine(link, timeout_s=timeout_s, clock=link.clock, **kwargs)  # type: ignore[arg-type]


def test_probes_every_second_do_not_keep_a_call_alive() -> None:
    clock = FakeClock()
    link = ScriptedLink(clock, iter(lambda: (probe_packet(), 1.0), None))
    started = clock.now
    with pytest.raises(TransportTimeout, match=r"no response .* within 5 s .*probe"):
        _engine(link, 5.0).run(0x1001)
    assert clock.now - started <= 5.0 + LAST_LOOK_S
    # Each probe was answered, and each read got only what was left of the deadline.
    # The request, then a ProbeResponse per probe but the fifth: it came at the deadline, and
    # a write past the deadline is not begun.
    assert len(link.written) == 1 + 4
    waits = [t for t in link.timeouts if t is not None]
    assert waits == sorted(waits, reverse=True)
    assert waits[0] == pytest.approx(5.0)


def test_a_camera_that_sends_nothing_times_out_saying_so() -> None:
    clock = FakeClock()
    link = ScriptedLink(clock, iter(lambda: (b"", 1e9), None))
    with pytest.raises(TransportTimeout, match=r"sent nothing for 2 s") as raised:
        _engine(link, 2.0).run(0x1001)
    assert isinstance(raised.value.__cause__, TransportTimeout)  # the transport's, chained
    assert clock.now - 1000.0 == pytest.approx(2.0)


def _trickle(tid: int, total: int, step: int, step_s: float) -> Iterator[tuple[bytes, float]]:
    yield start_data(tid, total) + data_packet(tid, total, end=True), 0.0
    sent = 0
    while sent < total:
        piece = min(step, total - sent)
        yield bytes(piece), step_s
        sent += piece
    yield response(tid), 0.0


def test_a_trickle_of_data_ends_within_the_window() -> None:
    """One byte a second kept a download alive for ever: each read waited its own timeout."""
    clock = FakeClock()
    link = ScriptedLink(clock, _trickle(tid=0, total=1 << 20, step=1, step_s=1.0))
    sink = BytesSink()
    with pytest.raises(TransportTimeout, match=r"too slowly: 5 bytes in the last 5 s") as raised:
        _engine(link, 5.0).run(0x1009, [1], sink=sink)
    assert "of 1,048,576 bytes received" in str(raised.value)
    assert clock.now - 1000.0 <= 5.0 + LAST_LOOK_S


def test_a_slow_but_honest_download_finishes() -> None:
    """8 MiB at 32 KiB/s takes 256 s, far past the 5 s timeout: every window brings more than
    the minimum, so the deadline moves with the data."""
    clock = FakeClock()
    total = 8 << 20
    link = ScriptedLink(clock, _trickle(tid=0, total=total, step=32 << 10, step_s=1.0))
    response_event, sink = _engine(link, 5.0).run(0x1009, [1], sink=BytesSink())
    assert response_event.code == 0x2001
    assert isinstance(sink, BytesSink)
    assert len(sink.getvalue()) == total
    assert clock.now - 1000.0 == pytest.approx(256.0)


def test_the_progress_minimum_is_a_keyword() -> None:
    clock = FakeClock()
    link = ScriptedLink(clock, _trickle(tid=0, total=1 << 20, step=1024, step_s=1.0))
    # 1 KiB/s passes a 4 KiB-per-5-s minimum...
    _engine(link, 5.0, min_progress_bytes=4096).run(0x1009, [1], sink=BytesSink())
    clock = FakeClock()
    link = ScriptedLink(clock, _trickle(tid=0, total=1 << 20, step=1024, step_s=1.0))
    # ...and not the default 64 KiB.
    with pytest.raises(TransportTimeout, match="too slowly"):
        _engine(link, 5.0).run(0x1009, [1], sink=BytesSink())


def test_the_response_after_the_data_has_its_own_deadline_and_probes_do_not_extend_it() -> None:
    clock = FakeClock()

    def script() -> Iterator[tuple[bytes, float]]:
        yield start_data(0, 4) + data_packet(0, 4, end=True) + b"abcd", 0.0
        while True:
            yield probe_packet(), 0.5

    link = ScriptedLink(clock, script())
    with pytest.raises(TransportTimeout, match=r"no response .* within 3 s"):
        _engine(link, 3.0).run(0x1009, [1], sink=BytesSink())
    assert clock.now - 1000.0 <= 3.0 + LAST_LOOK_S


# -- over PTP/IP, against the misbehaving virtual camera -----------------------------------------


def _vcam(tmp_path: Path, *modes: Mode, tick_s: float = 0.2, **settings: float) -> VirtualCamera:
    card = tmp_path / "card"
    card.mkdir(exist_ok=True)
    misbehavior = Misbehavior(modes=frozenset(modes), tick_s=tick_s, **settings)  # type: ignore[arg-type]
    return VirtualCamera(card, misbehavior=misbehavior)


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
    assert outcome, f"still waiting after {within_s} s: no deadline"
    return outcome[0]


def test_a_camera_that_chatters_without_answering_ends_the_call_in_time(tmp_path: Path) -> None:
    with (
        _vcam(tmp_path, Mode.CHATTER, tick_s=0.2) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
    ):
        handle = vcam.add_generated_object(1000, seed=1)
        with ptpkit.connect(server.url, timeout_s=1.0) as cam:
            started = time.monotonic()
            error = _ends(lambda: cam.read(handle), within_s=10)
            assert time.monotonic() - started < 4
            assert isinstance(error, TransportTimeout)
            assert "no response from the camera within 1 s" in str(error)
            assert "probe(s) or event(s)" in str(error)


def test_a_camera_that_trickles_data_ends_the_download_in_time(tmp_path: Path) -> None:
    with (
        _vcam(tmp_path, Mode.TRICKLE, tick_s=0.05) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
    ):
        handle = vcam.add_generated_object(100_000, seed=1)
        with ptpkit.connect(server.url, timeout_s=1.0) as cam:
            started = time.monotonic()
            error = _ends(lambda: cam.read(handle), within_s=10)
            assert time.monotonic() - started < 4
            assert isinstance(error, TransportTimeout)
            assert "the data came too slowly" in str(error)


def test_a_camera_that_ignores_probes_stays_usable(tmp_path: Path) -> None:
    """Probe rounds of 50 ms: two seconds are forty unanswered probes. The camera answers
    commands and sends events, so it is there; waits end with their own messages."""
    with (
        _vcam(tmp_path, Mode.IGNORE_PROBES) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
        ptpkit.connect(
            server.url, timeout_s=5.0, probe_interval_s=0.05, probe_timeout_s=0.05
        ) as cam,
    ):
        transport = cam.transport
        assert isinstance(transport, PtpIpTransport)
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            assert cam.next_event(timeout_s=0.2) is None
        assert transport.probes_missed >= 3
        assert transport.probes_answered == 0
        assert cam.storage_ids() == (0x00010001,)
        with pytest.raises(TransportTimeout, match=r"no event within 0\.3 s"):
            cam.wait_event(timeout_s=0.3)
        result = cam.capture(timeout_s=5.0)
        assert len(result) == 1
        # A capture the camera never reports ends with capture's own message, not "gone".
        original = vcam.operations[0x100E]
        vcam.operations[0x100E] = type(original)(code=0x100E, handler=lambda ctx: Reply())
        with pytest.raises(TransportTimeout, match=r"did not report the capture within 0\.5 s"):
            cam.capture(timeout_s=0.5)
        assert cam.device_info.model


def test_keepalive_follows_the_probe_schedule(tmp_path: Path) -> None:
    if not hasattr(socket, "TCP_KEEPIDLE"):
        pytest.skip("TCP_KEEPIDLE is Linux's")
    with (
        VirtualCamera(tmp_path) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
        ptpkit.connect(server.url, probe_interval_s=7, probe_timeout_s=2) as cam,
    ):
        transport = cam.transport
        assert isinstance(transport, PtpIpTransport)
        sock = transport._command
        assert sock is not None
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 2
        # Unacknowledged bytes (a probe to a vanished camera) end after send_timeout_s.
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30_000


# -- the handshake --------------------------------------------------------------------------------


def test_a_handshake_sent_a_byte_at_a_time_ends_at_its_deadline(tmp_path: Path) -> None:
    """The Ack's ~60 bytes at 0.3 s each take 18 s; each byte used to restart the wait. A bound
    of 6 s over the 1 s deadline tells the two apart with room for a loaded machine."""
    with (
        _vcam(tmp_path, Mode.HANDSHAKE_TRICKLE, tick_s=0.3) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
    ):
        started = time.monotonic()
        with pytest.raises(ConnectTimeout, match=r"handshake did not finish within 1 s"):
            ptpkit.connect(server.url, connect_timeout_s=1.0)
        assert time.monotonic() - started < 6


def test_a_camera_that_never_accepts_ends_at_the_pairing_timeout(tmp_path: Path) -> None:
    waits: list[float] = []
    with (
        _vcam(tmp_path, Mode.HANDSHAKE_STALL) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
    ):
        started = time.monotonic()
        with pytest.raises(ConnectTimeout, match="did not accept this computer"):
            ptpkit.connect(
                server.url,
                connect_timeout_s=0.5,
                pairing_timeout_s=1.5,
                on_pairing_wait=waits.append,
            )
        took = time.monotonic() - started
        assert 1.4 < took < 4
    assert waits == [1.5]  # announced once


def test_the_time_to_accept_is_not_the_handshake_s(tmp_path: Path) -> None:
    """A camera that asks its user: accepted after 1.5 s, beyond the 1 s handshake deadline,
    within the pairing timeout; the wait is announced once. An instant ack is not."""
    waits: list[float] = []
    with (
        _vcam(tmp_path, Mode.SLOW_ACCEPT, accept_delay_s=1.5) as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
        ptpkit.connect(
            server.url, connect_timeout_s=1.0, pairing_timeout_s=10, on_pairing_wait=waits.append
        ) as cam,
    ):
        assert cam.storage_ids() == (0x00010001,)
    assert waits == [10]
    with (
        VirtualCamera(tmp_path / "card") as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
        ptpkit.connect(server.url, on_pairing_wait=waits.append),
    ):
        pass
    assert waits == [10]


def test_timed_modes_parse() -> None:
    parsed = Misbehavior.parse("chatter, trickle, tick=0.25, slow-accept=2, ignore-probes")
    assert parsed.modes == {Mode.CHATTER, Mode.TRICKLE, Mode.SLOW_ACCEPT, Mode.IGNORE_PROBES}
    assert parsed.tick_s == 0.25
    assert parsed.accept_delay_s == 2.0
    assert parsed.ignores_probes
    for bad in ("tick=0", "tick=nan", "slow-accept=x", "trickle=3"):
        with pytest.raises(ValueError, match=r"tick|slow-accept|trickle"):
            Misbehavior.parse(bad)


def test_bad_timeouts_are_refused_before_any_io() -> None:
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(PTPError, match="positive number of seconds"):
            PtpIpTransport("127.0.0.1", pairing_timeout_s=bad)
