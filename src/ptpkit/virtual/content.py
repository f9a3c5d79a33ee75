"""The bytes of a virtual camera's objects: real files, or generated content of any size.

Generated objects let tests and benchmarks move objects over 4 GiB without storing them. Their
content is a pseudo-random block repeated; the block's length is a prime, so an offset error by any
power of two (a lost chunk, a 32-bit wrap) shows up as different bytes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Final, Protocol

from ptpkit.core.buffer import BytesLike

#: A prime a little under 1 MiB.
PATTERN_BLOCK_BYTES: Final = 1_048_573
#: Default size of the chunks an object is served in.
CHUNK_BYTES: Final = 1 << 20


class ObjectData(Protocol):
    """Readable content of known size."""

    @property
    def size(self) -> int: ...

    def chunks(
        self, offset: int, length: int, chunk_bytes: int = CHUNK_BYTES
    ) -> Iterator[BytesLike]:
        """``length`` bytes from ``offset``, in chunks of at most ``chunk_bytes``."""
        ...


class BytesData:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    @property
    def size(self) -> int:
        return len(self._data)

    def chunks(
        self, offset: int, length: int, chunk_bytes: int = CHUNK_BYTES
    ) -> Iterator[BytesLike]:
        end = min(offset + length, len(self._data))
        for start in range(offset, end, chunk_bytes):
            yield self._data[start : min(start + chunk_bytes, end)]


class FileData:
    """A file on disk, opened when first read and closed when the chunks run out."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        self.path = path
        self._size = path.stat().st_size if size is None else size

    @property
    def size(self) -> int:
        return self._size

    def chunks(
        self, offset: int, length: int, chunk_bytes: int = CHUNK_BYTES
    ) -> Iterator[BytesLike]:
        left = max(0, min(length, self._size - offset))
        with self.path.open("rb") as file:
            file.seek(offset)
            while left > 0:
                chunk = file.read(min(chunk_bytes, left))
                if not chunk:
                    # The file shrank under us; the data phase would come out short, which the
                    # client detects. Pad rather than hang the transaction.
                    chunk = bytes(min(chunk_bytes, left))
                left -= len(chunk)
                yield chunk


@lru_cache(maxsize=8)
def _pattern_block(seed: int) -> bytes:
    return random.Random(seed).randbytes(PATTERN_BLOCK_BYTES)


class GeneratedData:
    """Deterministic content of any size, made on the fly from a seed."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self._size = size
        self.seed = seed

    @property
    def size(self) -> int:
        return self._size

    def chunks(
        self, offset: int, length: int, chunk_bytes: int = CHUNK_BYTES
    ) -> Iterator[BytesLike]:
        block = memoryview(_pattern_block(self.seed))
        position = offset
        end = min(offset + length, self._size)
        while position < end:
            start = position % PATTERN_BLOCK_BYTES
            step = min(chunk_bytes, end - position, PATTERN_BLOCK_BYTES - start)
            yield block[start : start + step]
            position += step


def generated_bytes(size: int, seed: int = 0, offset: int = 0) -> bytes:
    """The content of ``GeneratedData(size, seed)`` from ``offset`` (for tests, small sizes)."""
    return b"".join(bytes(c) for c in GeneratedData(size, seed).chunks(offset, size - offset))


def generated_sha256(size: int, seed: int = 0) -> str:
    """SHA-256 of generated content, computed chunk by chunk (no whole copy in memory)."""
    digest = hashlib.sha256()
    for chunk in GeneratedData(size, seed).chunks(0, size):
        digest.update(chunk)
    return digest.hexdigest()
