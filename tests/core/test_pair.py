"""The public test helpers themselves (ptpkit.testing): splitters cut losslessly and
reproducibly, ``coalesce`` joins chunks, ``feed`` flags only the last piece of a transfer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptpkit.core.connection import Connection, ConnectionEvent
from ptpkit.core.events import Data, DataEnd, DataStart, Event, Request
from ptpkit.core.state import Role
from ptpkit.core.usb import UsbFraming
from ptpkit.testing import (
    FixedSplitter,
    RandomSplitter,
    coalesce,
    feed,
    one_byte_at_a_time,
    whole,
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 2**32), st.integers(1, 20))
def test_splitters_are_lossless(data: bytes, seed: int, size: int) -> None:
    for splitter in (whole, one_byte_at_a_time, FixedSplitter(size), RandomSplitter(seed)):
        pieces = splitter(data)
        assert b"".join(pieces) == data
        assert all(pieces) or pieces == [b""]


def test_splitters_cut_as_promised() -> None:
    assert whole(b"abc") == [b"abc"]
    assert one_byte_at_a_time(b"abc") == [b"a", b"b", b"c"]
    assert one_byte_at_a_time(b"") == [b""]
    assert FixedSplitter(2)(b"abcde") == [b"ab", b"cd", b"e"]
    assert RandomSplitter(5)(b"x" * 100) == RandomSplitter(5)(b"x" * 100)
    assert len(RandomSplitter(5, max_cuts=3)(b"x" * 100)) <= 4
    with pytest.raises(ValueError, match="at least one byte"):
        FixedSplitter(0)


def test_coalesce() -> None:
    events: list[ConnectionEvent] = [
        DataStart(transaction_id=1, total_bytes=3),
        Data(transaction_id=1, chunk=b"a"),
        Data(transaction_id=1, chunk=memoryview(b"")),
        Data(transaction_id=1, chunk=memoryview(b"bc")),
        DataEnd(transaction_id=1),
        Event(code=0x4002),
        Data(transaction_id=2, chunk=b"x"),
        Data(transaction_id=3, chunk=b"y"),
    ]
    assert coalesce(events) == [
        DataStart(transaction_id=1, total_bytes=3),
        Data(transaction_id=1, chunk=b"abc"),
        DataEnd(transaction_id=1),
        Event(code=0x4002),
        Data(transaction_id=2, chunk=b"x"),
        Data(transaction_id=3, chunk=b"y"),
    ]


def test_feed_flags_only_the_last_piece_and_copies_chunks() -> None:
    # A data phase of unknown length ends when the transfer ends: had any earlier piece carried
    # transfer_ended, the data phase would end early and the rest would be a bad header.
    conn = Connection(Role.INITIATOR, UsbFraming())
    conn.send(Request(code=0x1009, transaction_id=1, params=(1,)))
    data = bytes.fromhex("ffffffff 0200 0910 01000000") + b"0123456789"
    events = feed(conn, data, splitter=one_byte_at_a_time, transfer_ended=True)
    assert all(isinstance(e.chunk, bytes) for e in events if isinstance(e, Data))
    assert coalesce(events) == [
        DataStart(transaction_id=1, total_bytes=None, code=0x1009),
        Data(transaction_id=1, chunk=b"0123456789"),
        DataEnd(transaction_id=1),
    ]
