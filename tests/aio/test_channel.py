"""The PTP/IP command channel's waits (ptpkit.aio.transports.CommandChannel): one timer serves
the waits of many transactions, and each wait still ends at its own time, no sooner and no later
(a shorter wait than the timer's is not held up by it; a longer one is not cut short by it)."""

from __future__ import annotations

import asyncio
from typing import Any

from ptpkit.aio.transports import CommandChannel

#: The waits here are short real ones: the channel runs on asyncio's own timers.
SHORT_S = 0.05


class _Link(asyncio.Transport):
    """What the channel asks of asyncio's socket transport, with nothing behind it."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        return

    def resume_reading(self) -> None:
        return

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))


def _arrive(channel: CommandChannel, data: bytes) -> None:
    """Bytes from the camera, as asyncio's transport hands them over."""
    buffer = channel.get_buffer(len(data))
    buffer[: len(data)] = data
    channel.buffer_updated(len(data))


def test_waits_end_at_their_own_time_with_one_timer() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        channel = CommandChannel(1 << 20)
        channel.connection_made(_Link())

        # A long wait that data ends at once: its timer stays, for the waits to come.
        loop.call_soon(_arrive, channel, b"one")
        assert bytes(await channel.receive(30.0) or b"") == b"one"
        kept = channel._timer
        assert kept is not None

        # A shorter wait than the kept timer gets a timer of its own, and times out on time.
        started = loop.time()
        assert await channel.receive(SHORT_S) is None
        assert SHORT_S * 0.9 <= loop.time() - started < 10 * SHORT_S
        assert kept.cancelled()

        # A wait that ends before the timer (data) leaves the timer for the next wait: when it
        # fires early it is set again for that longer wait, which it does not end.
        loop.call_soon(_arrive, channel, b"two")
        assert bytes(await channel.receive(SHORT_S) or b"") == b"two"
        early = channel._timer
        assert early is not None
        loop.call_later(3 * SHORT_S, _arrive, channel, b"three")
        assert bytes(await channel.receive(30.0) or b"") == b"three"
        assert early.when() < loop.time()  # it fired during that wait, without ending it
        assert channel._timer is not None
        assert channel._timer.when() > loop.time() + 20

        # Without a limit a wait has no timer at all; the kept one does nothing when it fires.
        loop.call_later(SHORT_S, _arrive, channel, b"four")
        assert bytes(await channel.receive(None) or b"") == b"four"

        channel.close()
        assert channel._timer is None

    asyncio.run(scenario())


def test_the_timer_is_dropped_when_the_connection_ends() -> None:
    async def scenario() -> None:
        channel = CommandChannel(1 << 20)
        channel.connection_made(_Link())
        asyncio.get_running_loop().call_soon(_arrive, channel, b"x")
        await channel.receive(30.0)
        assert channel._timer is not None
        channel.connection_lost(None)
        assert channel._timer is None

    asyncio.run(scenario())
