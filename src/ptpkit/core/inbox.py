"""A receive queue that hands out payload without copying it.

Transports read into one reused buffer and pass a view of it to ``receive_data()``. Decoders take
headers out of the inbox as small copies and payload as zero-copy slices of that view. Before
``next_event()`` answers NEED_DATA, :meth:`Inbox.stash` copies whatever is left (a partial header,
never payload) into storage the inbox owns, so the transport may then overwrite its buffer.
"""

from __future__ import annotations

from ptpkit.core.buffer import BytesLike


class Inbox:
    __slots__ = ("_borrowed", "_bpos", "_opos", "_owned", "transfer_ended")

    def __init__(self) -> None:
        self._owned = bytearray()
        self._opos = 0
        self._borrowed: memoryview | None = None
        self._bpos = 0
        #: USB only: the bytes fed last ended a transfer (short packet or zero-length packet).
        self.transfer_ended = False

    def feed(self, data: BytesLike, *, transfer_ended: bool = False) -> None:
        self.stash()
        if len(data):
            self._borrowed = data if isinstance(data, memoryview) else memoryview(data)
            if self._borrowed.format != "B" or self._borrowed.ndim != 1:
                self._borrowed = self._borrowed.cast("B")
            self._bpos = 0
        self.transfer_ended = transfer_ended

    def __len__(self) -> int:
        size = len(self._owned) - self._opos
        if self._borrowed is not None:
            size += len(self._borrowed) - self._bpos
        return size

    def take_exact(self, size: int) -> bytes:
        """Copy out exactly ``size`` bytes; the caller has checked ``len(self) >= size``."""
        out = bytearray()
        owned_left = len(self._owned) - self._opos
        if owned_left:
            step = min(size, owned_left)
            out += self._owned[self._opos : self._opos + step]
            self._opos += step
            self._compact()
        if len(out) < size:
            assert self._borrowed is not None
            step = size - len(out)
            out += self._borrowed[self._bpos : self._bpos + step]
            self._bpos += step
            self._release_borrowed_if_done()
        return bytes(out)

    def take_upto(self, size: int) -> bytes | memoryview:
        """Up to ``size`` bytes, as a zero-copy view when they come from the fed buffer."""
        owned_left = len(self._owned) - self._opos
        if owned_left:
            step = min(size, owned_left)
            chunk = bytes(self._owned[self._opos : self._opos + step])
            self._opos += step
            self._compact()
            return chunk
        if self._borrowed is None:
            return b""
        step = min(size, len(self._borrowed) - self._bpos)
        view = self._borrowed[self._bpos : self._bpos + step]
        self._bpos += step
        self._release_borrowed_if_done()
        return view

    def peek(self, size: int) -> bytes:
        """The first ``size`` bytes without consuming them (``len(self) >= size``)."""
        owned_left = len(self._owned) - self._opos
        if owned_left >= size:
            return bytes(self._owned[self._opos : self._opos + size])
        out = bytearray(self._owned[self._opos :])
        assert self._borrowed is not None
        out += self._borrowed[self._bpos : self._bpos + size - len(out)]
        return bytes(out)

    def head(self, size: int) -> tuple[BytesLike, int]:
        """The first ``size`` bytes without consuming them (``len(self) >= size``), as a buffer
        and the offset they start at: the fed buffer itself when they are all in it (no copy,
        the common case of a whole packet in one read), else a copy (:meth:`peek`)."""
        borrowed = self._borrowed
        if (
            borrowed is not None
            and self._opos == len(self._owned)
            and len(borrowed) - self._bpos >= size
        ):
            return borrowed, self._bpos
        return self.peek(size), 0

    def skip(self, size: int) -> None:
        """Consume ``size`` bytes (``len(self) >= size``) without copying them."""
        owned_left = len(self._owned) - self._opos
        if owned_left:
            step = min(size, owned_left)
            self._opos += step
            self._compact()
            size -= step
        if size:
            assert self._borrowed is not None
            self._bpos += size
            self._release_borrowed_if_done()

    def stash(self) -> None:
        """Copy any unconsumed borrowed bytes into owned storage (amortised linear)."""
        if self._borrowed is not None:
            self._owned += self._borrowed[self._bpos :]
            self._borrowed = None
            self._bpos = 0

    def clear(self) -> None:
        self._owned = bytearray()
        self._opos = 0
        self._borrowed = None
        self._bpos = 0

    def _release_borrowed_if_done(self) -> None:
        if self._borrowed is not None and self._bpos >= len(self._borrowed):
            self._borrowed = None
            self._bpos = 0

    def _compact(self) -> None:
        if self._opos >= len(self._owned):
            self._owned.clear()
            self._opos = 0
        elif self._opos > 65536 and self._opos * 2 > len(self._owned):
            del self._owned[: self._opos]
            self._opos = 0
