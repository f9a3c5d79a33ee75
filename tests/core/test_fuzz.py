"""Untrusted input: any bytes give values/events or DecodeError/RemoteProtocolError, nothing else.

Devices are untrusted (libgphoto2 took several CVEs for parsers that believed a count), so every
decoder is fed arbitrary bytes, valid bytes with corruption, and counts or lengths far beyond the
data, which must fail at once without allocating anything of the claimed size.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.forked import in_a_forked_child

from ptpkit.core.connection import Connection
from ptpkit.core.datasets import (
    DeviceInfo,
    DevicePropDesc,
    ObjectInfo,
    ObjectPropList,
    StorageInfo,
    decode_uint32_array,
)
from ptpkit.core.events import NEED_DATA, Data, DataStart, Request
from ptpkit.core.ptpip import InitCommandRequest, PtpIpFraming, pull_packet, push_packet
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import (
    UsbFraming,
    decode_cancel_request,
    decode_device_status,
    pull_container,
    push_container,
)
from ptpkit.errors import DecodeError, LocalProtocolError, ProtocolError, RemoteProtocolError

from .core_strategies import (
    containers,
    device_infos,
    events,
    object_infos,
    object_prop_lists,
    packets,
    prop_descs,
    requests,
    responses,
    storage_infos,
)

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DECODERS: dict[str, Callable[[bytes], Any]] = {
    "DeviceInfo": DeviceInfo.from_bytes,
    "StorageInfo": StorageInfo.from_bytes,
    "ObjectInfo": ObjectInfo.from_bytes,
    "DevicePropDesc": DevicePropDesc.from_bytes,
    "ObjectPropList": ObjectPropList.from_bytes,
    "uint32 array": decode_uint32_array,
    "Cancel request": decode_cancel_request,
    "device status": decode_device_status,
    "pull_container": pull_container,
    "pull_packet": pull_packet,
}

VALID: dict[str, st.SearchStrategy[bytes]] = {
    "DeviceInfo": device_infos.map(lambda v: v.to_bytes()),
    "StorageInfo": storage_infos.map(lambda v: v.to_bytes()),
    "ObjectInfo": object_infos.map(lambda v: v.to_bytes()),
    "DevicePropDesc": prop_descs().map(lambda v: v.to_bytes()),
    "ObjectPropList": object_prop_lists.map(lambda v: v.to_bytes()),
    "pull_container": containers.map(push_container),
    "pull_packet": packets.map(push_packet),
}


def check_decode(decode: Callable[[bytes], Any], data: bytes) -> None:
    error: DecodeError | None = None
    try:
        decode(data)
    except DecodeError as exc:
        error = exc
    if error is not None and error.offset is not None:
        assert 0 <= error.offset <= len(data)


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_any_bytes_decode_or_raise_decode_error(name: str) -> None:
    decode = DECODERS[name]

    @FUZZ
    @given(st.binary(max_size=300))
    def check(data: bytes) -> None:
        check_decode(decode, data)

    check()


@st.composite
def corrupted(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """Valid bytes, then truncated, extended, or with some bytes overwritten."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "truncate", "append", "max"]))
        if action == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif action == "append":
            data += draw(st.binary(min_size=1, max_size=8))
        elif data:
            index = draw(st.integers(0, len(data) - 1))
            data[index] = 0xFF if action == "max" else draw(st.integers(0, 255))
    return bytes(data)


@pytest.mark.parametrize("name", sorted(VALID))
def test_corrupted_valid_bytes_decode_or_raise_decode_error(name: str) -> None:
    decode = DECODERS[name]

    @FUZZ
    @given(corrupted(VALID[name]))
    def check(data: bytes) -> None:
        check_decode(decode, data)

    check()


# -- streaming decoders --------------------------------------------------------------------------

feeds = st.lists(st.tuples(st.binary(max_size=64), st.booleans()), max_size=12)


def usb_stream_pieces() -> st.SearchStrategy[bytes]:
    """Pieces of a plausible USB stream: valid containers and data headers, or junk."""
    return st.one_of(
        st.one_of(requests, responses, events).map(lambda m: b"".join(UsbFraming().encode(m))),
        st.builds(
            push_container_header,
            st.integers(0, 3),
            st.integers(0, 0xFFFF),
            st.binary(max_size=40),
            st.sampled_from([0, 0, 1, -1, 0xFFFFFFFF]),
        ),
        st.binary(max_size=24),
    )


def push_container_header(tid: int, code: int, payload: bytes, lie: int) -> bytes:
    """A data container whose length field may lie (by ±1, or 0xFFFFFFFF)."""
    length = 0xFFFFFFFF if lie == 0xFFFFFFFF else 12 + len(payload) + lie
    return (
        length.to_bytes(4, "little")
        + b"\x02\x00"
        + code.to_bytes(2, "little")
        + tid.to_bytes(4, "little")
        + payload
    )


def ptpip_stream_pieces() -> st.SearchStrategy[bytes]:
    return st.one_of(
        packets.map(push_packet),
        st.builds(
            push_packet_start,
            st.integers(0, 3),
            st.sampled_from([0, 1, 8, 0xFFFFFFFFFFFFFFFF]),
        ),
        st.binary(max_size=24),
    )


def push_packet_start(tid: int, total: int) -> bytes:
    return (
        b"\x14\x00\x00\x00\x09\x00\x00\x00"
        + tid.to_bytes(4, "little")
        + total.to_bytes(8, "little")
    )


structured_feeds = {
    "usb": st.lists(st.tuples(usb_stream_pieces(), st.booleans()), max_size=10),
    "ptpip": st.lists(st.tuples(ptpip_stream_pieces(), st.booleans()), max_size=10),
}


def run_framing(framing: UsbFraming | PtpIpFraming, pieces: list[tuple[bytes, bool]]) -> None:
    fed = 0
    streamed = 0
    try:
        for data, ended in pieces:
            framing.receive_data(data, transfer_ended=ended)
            fed += len(data)
            for _ in range(10_000):
                event = framing.next_event()
                if event is NEED_DATA:
                    break
                if isinstance(event, Data):
                    streamed += len(event.chunk)
            else:
                pytest.fail("next_event() never asked for more data")
    except RemoteProtocolError:
        pass  # DecodeError is a RemoteProtocolError
    assert streamed <= fed


@pytest.mark.parametrize("framing", [UsbFraming, PtpIpFraming])
def test_framing_on_any_bytes(framing: type[UsbFraming] | type[PtpIpFraming]) -> None:
    @FUZZ
    @given(feeds)
    def check(pieces: list[tuple[bytes, bool]]) -> None:
        run_framing(framing(), pieces)

    check()


@pytest.mark.parametrize("framing", [UsbFraming, PtpIpFraming])
def test_framing_on_plausible_streams(framing: type[UsbFraming] | type[PtpIpFraming]) -> None:
    strategy = structured_feeds["usb" if framing is UsbFraming else "ptpip"]

    @FUZZ
    @given(strategy)
    def check(pieces: list[tuple[bytes, bool]]) -> None:
        run_framing(framing(), pieces)

    check()


# -- connections ---------------------------------------------------------------------------------


def make_connection(role: Role, framing: str, start: str) -> Connection:
    """A connection in a starting position: fresh, or having sent/received a request."""
    conn = Connection(role, UsbFraming() if framing == "usb" else PtpIpFraming())
    if framing == "ptpip":
        if role is Role.INITIATOR:
            conn.send(InitCommandRequest(guid=bytes(16), friendly_name="fuzz"))
            if start == "fresh":
                return conn  # awaiting InitCommandAck: InitFail can close it
            conn.phase = Phase.IDLE  # as after an InitCommandAck
        elif start == "fresh":
            return conn
        else:
            conn.phase = Phase.IDLE
    if start == "in transaction":
        request = Request(code=0x1009, transaction_id=1, params=(1,))
        if role is Role.INITIATOR:
            conn.send(request)
        else:
            conn.receive_data(b"".join(type(conn.framing)().encode(request)), transfer_ended=True)
            assert conn.next_event() == request
            conn.send(DataStart(transaction_id=1, total_bytes=8))
    return conn


CONNECTION_CASES = [
    (role, framing, start)
    for role in Role
    for framing in ("usb", "ptpip")
    for start in ("fresh", "in transaction")
]


def run_connection(conn: Connection, pieces: list[tuple[bytes, bool]]) -> None:
    try:
        for data, ended in pieces:
            conn.receive_data(data, transfer_ended=ended)
            for _ in range(10_000):
                if conn.next_event() is NEED_DATA:
                    break
    except ProtocolError as exc:
        if isinstance(exc, LocalProtocolError):
            # Local errors only for using a broken connection, never from the peer's bytes.
            pytest.fail(f"the peer's bytes raised a LocalProtocolError: {exc}")
        assert conn.phase is Phase.BROKEN
        with pytest.raises(LocalProtocolError):
            conn.next_event()
        with pytest.raises(LocalProtocolError):
            conn.receive_data(b"\x00")


@pytest.mark.parametrize(
    ("role", "framing", "start"),
    CONNECTION_CASES,
    ids=[f"{r.value}-{f}-{s.replace(' ', '-')}" for r, f, s in CONNECTION_CASES],
)
def test_connection_on_any_bytes(role: Role, framing: str, start: str) -> None:
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.one_of(feeds, structured_feeds[framing]))
    def check(pieces: list[tuple[bytes, bool]]) -> None:
        run_connection(make_connection(role, framing, start), pieces)

    check()


# -- absurd counts and lengths: fail at once, allocate nothing ------------------------------------


T = TypeVar("T")


def small_peak(run: Callable[[], T], limit_bytes: int = 1 << 20) -> T:
    """``run()``'s result, asserting its peak traced allocation stays below ``limit_bytes``;
    measured in a forked child (tests.forked): tracemalloc counts every thread, and an xdist
    worker's leftover threads of earlier tests could fill a 1 MiB bound on their own."""

    def measured() -> tuple[int, T]:
        tracemalloc.start()
        try:
            result = run()
            return tracemalloc.get_traced_memory()[1], result
        finally:
            tracemalloc.stop()

    peak, result = in_a_forked_child(measured)
    assert peak < limit_bytes, f"peak allocation {peak} bytes"
    return result


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# (what, decoder, bytes, offset of the DecodeError)
HUGE_COUNTS: list[tuple[str, Callable[[bytes], Any], bytes, int]] = [
    ("uint32 array of 0xFFFFFFF0", decode_uint32_array, h("f0ffffff 01000000"), 4),
    (
        "DeviceInfo operations count 0xFFFFFFF0",
        DeviceInfo.from_bytes,
        h("6400 00000000 0000 00 0000 f0ffffff 0110"),
        15,
    ),
    (
        "DevicePropDesc AUINT128 value of 0xFFFFFFF0 elements",
        DevicePropDesc.from_bytes,
        h("01d0 0a40 00 f0ffffff 00"),
        9,
    ),
    (
        "DevicePropDesc enumeration of 0xFFFF values",
        DevicePropDesc.from_bytes,
        h("0550 0400 01 0200 0200 02 ffff 0200"),
        12,
    ),
    ("ObjectPropList of 0xFFFFFFF0 elements", ObjectPropList.from_bytes, h("f0ffffff 00"), 4),
    (
        "string of 255 units with 2 bytes",
        StorageInfo.from_bytes,
        h("0300 0200 0000" + "00" * 20 + "ff 4100"),
        27,
    ),
    ("USB response container of 0xFFFFFFF0", pull_container, h("f0ffffff 0300 0120 01000000"), 0),
    ("PTP/IP response of 0xFFFFFFF0", pull_packet, h("f0ffffff 07000000 0120 01000000"), 0),
]


@pytest.mark.parametrize(
    ("what", "decode", "data", "offset"), HUGE_COUNTS, ids=[w for w, *_ in HUGE_COUNTS]
)
def test_huge_count_fails_without_allocating(
    what: str, decode: Callable[[bytes], Any], data: bytes, offset: int
) -> None:
    def offset_of_the_error() -> int | None:
        with pytest.raises(DecodeError) as info:
            decode(data)
        return info.value.offset

    assert small_peak(offset_of_the_error) == offset


@pytest.mark.parametrize(
    ("framing", "header"),
    [
        (PtpIpFraming, "f0ffffff 07000000"),  # a response claiming 0xFFFFFFF0 bytes
        (PtpIpFraming, "f0ffffff 01000000"),  # an InitCommandRequest claiming as much
        (UsbFraming, "f0ffffff 0300 0120 01000000"),  # a USB response container
        (UsbFraming, "f0ffffff 0100 0110 01000000"),  # a USB command container
    ],
)
def test_huge_control_packet_fails_from_its_header(
    framing: type[UsbFraming] | type[PtpIpFraming], header: str
) -> None:
    def refuse() -> None:
        decoder = framing()
        decoder.receive_data(h(header), transfer_ended=False)
        with pytest.raises(DecodeError):
            decoder.next_event()

    small_peak(refuse)


@pytest.mark.parametrize("framing", [PtpIpFraming, UsbFraming])
def test_huge_data_phase_streams_without_buffering(
    framing: type[UsbFraming] | type[PtpIpFraming],
) -> None:
    # A data packet/container claiming ~4 GiB is legal; its payload streams through in the
    # pieces that arrive, and nothing of the claimed size is ever allocated.
    if framing is PtpIpFraming:
        header = h("f0ffffff 0a000000 01000000")
    else:
        header = h("f0ffffff 0200 0910 01000000")
    piece = bytes(64 * 1024)

    def stream() -> int:
        decoder = framing()
        streamed = 0
        decoder.receive_data(header)
        for _ in range(32):
            decoder.receive_data(piece)
            while (event := decoder.next_event()) is not NEED_DATA:
                if isinstance(event, Data):
                    streamed += len(event.chunk)
        return streamed

    assert small_peak(stream, 2 << 20) == 32 * len(piece)


def test_connection_refuses_a_truncated_huge_usb_data_phase() -> None:
    def refuse() -> Phase:
        conn = Connection(Role.INITIATOR, UsbFraming())
        conn.send(Request(code=0x1009, transaction_id=1, params=(1,)))
        conn.receive_data(h("f0ffffff 0200 0910 01000000") + bytes(1000), transfer_ended=True)
        assert isinstance(conn.next_event(), DataStart)
        assert isinstance(conn.next_event(), Data)
        with pytest.raises(RemoteProtocolError):
            conn.next_event()
        return conn.phase

    assert small_peak(refuse) is Phase.BROKEN
