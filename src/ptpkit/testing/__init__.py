"""Helpers for testing code built on ptpkit's sans-IO core: two connections joined in memory,
fed whole, one byte at a time or split at random points (see :mod:`ptpkit.testing.pair`), and a fake
clock for time-driven behaviour (:mod:`ptpkit.testing.clock`)."""

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


def __getattr__(name: str) -> object:
    # FakeClock waits with threads: loaded on use, so the sans-IO helpers stay light to import.
    if name == "FakeClock":
        from ptpkit.testing.clock import FakeClock  # noqa: PLC0415

        return FakeClock
    raise AttributeError(f"module 'ptpkit.testing' has no attribute {name!r}")
