"""An event poller whose pace follows the camera: fast while things change, one step slower per
quiet poll up to an idle bound, a pause after an answer it cannot read (never fatal).

Vendors that report events only when asked (Canon EOS GetEvent 0x9116, Nikon GetEvent 0x90C7,
Fujifilm's 0xD212 list, Sony's 0x9209) subclass :class:`ExtensionPoller` with their pace and
their extension's poll method; the camera's poller thread calls :meth:`poll` and
sleeps the interval it returns (:class:`ptpkit.ext.base.EventPoller`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from ptpkit.errors import BusyError, DecodeError, RemoteProtocolError

log = logging.getLogger("ptpkit.ext")


def adaptive_interval(previous_s: float, changed: int, *, fast_s: float, step_s: float,
                      idle_s: float) -> float:  # fmt: skip
    """``fast_s`` after a poll that brought news; else one ``step_s`` slower, up to ``idle_s``."""
    if changed:
        return fast_s
    return min(idle_s, max(fast_s, previous_s) + step_s)


class AdaptivePoller:
    """The pace around one vendor poll (:meth:`poll_once`: how many changes it brought)."""

    fast_s: float = 0.05
    step_s: float = 0.05
    idle_s: float = 0.2
    #: After an answer that could not be read: the camera may be fine at the next poll.
    trouble_s: float = 0.5
    #: What is polled, for the log ("EOS GetEvent data").
    what: str = "event data"

    def __init__(self) -> None:
        #: The interval the last poll returned.
        self.interval_s = self.fast_s

    @property
    def attentive_interval_s(self) -> float:
        """While a program waits for an event, at most this between polls (the camera's client
        asks for the back-off only when nobody watches; ptpkit.ext.base.EventPoller)."""
        return self.fast_s

    def closing(self) -> bool:
        """True once the camera is closing: no more polls."""
        raise NotImplementedError

    def poll_once(self) -> int:
        """One poll, not behind another transaction (BusyError then); the changes it brought."""
        raise NotImplementedError

    def label(self) -> str:
        raise NotImplementedError

    def poll(self) -> float:
        if self.closing():
            return self.idle_s
        try:
            changed = self.poll_once()
        except BusyError:
            # A transaction is under way (a download of minutes, a capture polling on its
            # own): the poll is taken at the next interval, and close() never waits for it.
            return self.interval_s
        except (DecodeError, RemoteProtocolError) as exc:
            log.warning("%s: %s not understood: %s", self.label(), self.what, exc)
            self.interval_s = self.trouble_s
            return self.interval_s
        self.interval_s = adaptive_interval(
            self.interval_s, changed, fast_s=self.fast_s, step_s=self.step_s, idle_s=self.idle_s
        )
        return self.interval_s


class _Labelled(Protocol):
    @property
    def label(self) -> str: ...


class PolledExtension(Protocol):
    """What :class:`ExtensionPoller` needs of its extension."""

    @property
    def closing(self) -> bool: ...

    @property
    def session(self) -> _Labelled: ...


class ExtensionPoller(AdaptivePoller):
    """The adaptive pace around one poll method of an extension (``poll(wait_turn=False)`` ->
    the changes it brought); a vendor's poller only sets its pace and ``what``."""

    def __init__(self, extension: PolledExtension, poll: Callable[..., int]) -> None:
        self.extension = extension
        self._poll = poll
        super().__init__()

    def closing(self) -> bool:
        return self.extension.closing

    def poll_once(self) -> int:
        return self._poll(wait_turn=False)

    def label(self) -> str:
        return self.extension.session.label


__all__ = ["AdaptivePoller", "ExtensionPoller", "PolledExtension", "adaptive_interval"]
