"""Helpers for testing code built on ptpkit's sans-IO core: two connections joined in memory,
fed whole, one byte at a time or split at random points (see :mod:`ptpkit.testing.pair`), and a fake
clock for time-driven behaviour (:mod:`ptpkit.testing.clock`)."""

from ptpkit.testing.clock import FakeClock
from ptpkit.testing.pair import (
    INITIATOR_GUID,
    RESPONDER_GUID,
    ConnectionPair,
    FixedSplitter,
    RandomSplitter,
    Splitter,
    coalesce,
    copy_event,
    drain,
    feed,
    one_byte_at_a_time,
    whole,
)

__all__ = [
    "INITIATOR_GUID",
    "RESPONDER_GUID",
    "ConnectionPair",
    "FakeClock",
    "FixedSplitter",
    "RandomSplitter",
    "Splitter",
    "coalesce",
    "copy_event",
    "drain",
    "feed",
    "one_byte_at_a_time",
    "whole",
]
