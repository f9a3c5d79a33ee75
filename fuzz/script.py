"""How a stream target reads its input: a split table, then the byte stream it splits.

::

    byte 0        count of table entries (low 6 bits); bit 7: the final piece ends a USB
                  transfer; bit 6: the harness acts after the final piece
    count bytes   one entry per piece: size (low 5 bits, 0..31 bytes), act (bits 5-6, 0..3),
                  bit 7: the piece ends a USB transfer (``transfer_ended``)
    the rest      the stream: each entry takes its size from it, the final piece is what is left

Keeping the split table apart from the stream means a mutation of the stream keeps the splits, and
a valid stream stays valid whatever the splits. ``act`` is what the harness's own end does after
the piece (a connection sends a request, answers, cancels...; a framing resets): see
:mod:`fuzz.conn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

MAX_ENTRIES: Final = 0x3F
MAX_PIECE: Final = 0x1F


@dataclass(frozen=True, slots=True)
class Piece:
    data: bytes
    transfer_ended: bool = False
    act: int = 0


def split_script(data: bytes) -> list[Piece]:
    """The pieces an input describes (an empty input is no piece at all)."""
    if not data:
        return []
    head = data[0]
    count = head & MAX_ENTRIES
    entries = data[1 : 1 + count]
    stream = data[1 + count :]
    pieces: list[Piece] = []
    pos = 0
    for entry in entries:
        size = entry & MAX_PIECE
        pieces.append(Piece(stream[pos : pos + size], bool(entry & 0x80), (entry >> 5) & 3))
        pos += size
    pieces.append(Piece(stream[pos:], bool(head & 0x80), (head >> 6) & 1))
    return pieces


def make_script(pieces: Sequence[Piece]) -> bytes:
    """The input for ``pieces`` (for seeds). A piece longer than 31 bytes takes several entries;
    the final piece's ``act`` can only be 0 or 1."""
    if not pieces:
        return b""
    *body, final = pieces
    entries = bytearray()
    stream = bytearray()
    for piece in body:
        data = piece.data
        while len(data) > MAX_PIECE:
            entries.append(MAX_PIECE)
            stream += data[:MAX_PIECE]
            data = data[MAX_PIECE:]
        entries.append(len(data) | (piece.act & 3) << 5 | (0x80 if piece.transfer_ended else 0))
        stream += data
    if len(entries) > MAX_ENTRIES:
        raise ValueError(f"a script holds at most {MAX_ENTRIES} split entries")
    head = len(entries) | (0x80 if final.transfer_ended else 0) | (final.act & 1) << 6
    return bytes([head]) + bytes(entries) + bytes(stream) + final.data
