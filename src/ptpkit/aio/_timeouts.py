"""One await bounded by a number of seconds, the cheapest way the running Python offers.

``asyncio.timeout`` (3.11+) arms one timer on the current task; ``asyncio.wait_for`` (3.10) wraps
the awaitable in a task of its own, which a download pays for on every read. Both raise
``asyncio.TimeoutError`` (the builtin TimeoutError since 3.11) and both let a cancellation from
outside through as CancelledError, so the engine tells a deadline from a cancelled task.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")

if sys.version_info >= (3, 11):

    async def bounded(awaitable: Awaitable[_T], timeout_s: float | None) -> _T:
        """``await awaitable``, raising ``asyncio.TimeoutError`` after ``timeout_s`` (None:
        no limit)."""
        if timeout_s is None:
            return await awaitable
        async with asyncio.timeout(max(0.0, timeout_s)):
            return await awaitable

else:  # pragma: no cover - the test machine runs 3.11

    async def bounded(awaitable: Awaitable[_T], timeout_s: float | None) -> _T:
        """``await awaitable``, raising ``asyncio.TimeoutError`` after ``timeout_s`` (None:
        no limit)."""
        if timeout_s is None:
            return await awaitable
        return await asyncio.wait_for(awaitable, max(0.0, timeout_s))
