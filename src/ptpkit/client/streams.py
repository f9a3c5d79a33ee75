"""Where data phases go and come from: sinks for data in, sources for data out.

Data phases stream: a download is a sequence of chunks written to a sink as they arrive, an upload
reads its file in chunks. Nothing here holds a whole object in memory unless asked to
(:class:`BytesSink`, which has a limit).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO, Protocol

from ptpkit.core.buffer import BytesLike
from ptpkit.errors import LocalProtocolError, RemoteProtocolError

#: Progress callback: (bytes done, bytes in all or None when unknown).
ProgressCallback = Callable[[int, "int | None"], None]

#: Default cap for data phases collected in memory (datasets, raw transactions): a DeviceInfo is a
#: few KiB, a handle list of 100,000 objects 400 KiB. Downloads stream to files and have no cap.
DEFAULT_MEMORY_LIMIT = 64 << 20


class DataSink(Protocol):
    """Receives a data phase from the device."""

    def start(self, total_bytes: int | None) -> None: ...

    def write(self, chunk: BytesLike) -> None: ...

    def finish(self) -> None: ...


class DataSource(Protocol):
    """Supplies a data phase to the device."""

    @property
    def size(self) -> int: ...

    def read(self, max_bytes: int) -> BytesLike: ...


class BytesSink:
    """Collects a data phase in memory, refusing more than ``limit`` bytes."""

    def __init__(self, limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        self.limit = limit
        self._data = bytearray()
        self.started = False
        self.total_bytes: int | None = None

    def start(self, total_bytes: int | None) -> None:
        if total_bytes is not None and total_bytes > self.limit:
            raise RemoteProtocolError(
                f"the device announced {total_bytes} bytes of data, more than the "
                f"{self.limit}-byte limit for data kept in memory"
            )
        self.started = True
        self.total_bytes = total_bytes

    def write(self, chunk: BytesLike) -> None:
        if len(self._data) + len(chunk) > self.limit:
            raise RemoteProtocolError(
                f"the device sent more than the {self.limit}-byte limit for data kept in memory"
            )
        self._data += chunk

    def finish(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return bytes(self._data)


class WindowSink(BytesSink):
    """Keeps only bytes ``offset`` to ``offset + length`` of a whole data phase: a range of an
    object read whole (where GetPartialObject is not to be trusted, Fujifilm: libgphoto2#653)
    in memory bounded by the range, not by the object."""

    def __init__(self, offset: int, length: int) -> None:
        super().__init__(limit=max(length, 1))
        self.offset = offset
        self.length = length
        #: Bytes of the data phase seen so far, kept or not.
        self.seen = 0

    def start(self, total_bytes: int | None) -> None:
        self.started = True
        self.total_bytes = total_bytes

    def write(self, chunk: BytesLike) -> None:
        start, self.seen = self.seen, self.seen + len(chunk)
        low = max(self.offset - start, 0)
        high = min(self.offset + self.length - start, len(chunk))
        if low < high:
            self._data += memoryview(chunk)[low:high]


class FileSink:
    """Writes a data phase to a binary file object, reporting progress.

    ``limit``: the most bytes this data phase may bring (the object's declared size, or the
    range asked for). A device that sends more is stopped there: the bytes up to the limit are
    written (a resume can use them), nothing past it, and :class:`RemoteProtocolError` ends the
    transaction (issue 11: a camera must not grow a file past what it declared)."""

    def __init__(
        self,
        file: BinaryIO,
        *,
        progress: ProgressCallback | None = None,
        offset: int = 0,
        total_bytes: int | None = None,
        limit: int | None = None,
    ) -> None:
        self.file = file
        self.limit = limit
        self.progress = progress
        #: Bytes already present before this data phase (a resumed download).
        self.offset = offset
        self.written = 0
        self.total_bytes = total_bytes
        self.finished = False
        #: A data phase began (a transaction that wrote here cannot simply be repeated).
        self.started = False

    def start(self, total_bytes: int | None) -> None:
        self.started = True
        if self.total_bytes is None and total_bytes is not None:
            self.total_bytes = self.offset + total_bytes
        if self.progress:
            self.progress(self.offset, self.total_bytes)

    def write(self, chunk: BytesLike) -> None:
        if self.limit is not None and self.written + len(chunk) > self.limit:
            room = self.limit - self.written
            if room > 0:
                self.file.write(memoryview(chunk)[:room])
                self.written += room
            raise RemoteProtocolError(
                f"the device sent more than the {self.limit} bytes expected; "
                f"stopped at {self.limit}"
            )
        self.file.write(chunk)
        self.written += len(chunk)
        if self.progress:
            self.progress(self.offset + self.written, self.total_bytes)

    def finish(self) -> None:
        self.finished = True


class DiscardSink:
    """Counts and drops a data phase (benchmarks, draining after a cancel)."""

    def __init__(self) -> None:
        self.received = 0

    def start(self, total_bytes: int | None) -> None:
        pass

    def write(self, chunk: BytesLike) -> None:
        self.received += len(chunk)

    def finish(self) -> None:
        pass


class BytesSource:
    def __init__(self, data: BytesLike) -> None:
        self._view = memoryview(data).cast("B")
        self._pos = 0

    @property
    def size(self) -> int:
        return len(self._view)

    def read(self, max_bytes: int) -> BytesLike:
        chunk = self._view[self._pos : self._pos + max_bytes]
        self._pos += len(chunk)
        return chunk


class FileSource:
    """Reads an upload from a binary file object of known size, reporting progress."""

    def __init__(
        self, file: BinaryIO, size: int, *, progress: ProgressCallback | None = None
    ) -> None:
        self._file = file
        self._size = size
        self._sent = 0
        self._progress = progress

    @property
    def size(self) -> int:
        return self._size

    def read(self, max_bytes: int) -> BytesLike:
        chunk = self._file.read(min(max_bytes, self._size - self._sent))
        if not chunk and self._sent < self._size:
            raise LocalProtocolError(
                f"the file ended after {self._sent} of {self._size} bytes "
                "(did it change during the upload?)"
            )
        self._sent += len(chunk)
        if self._progress:
            self._progress(self._sent, self._size)
        return chunk


def file_size(file: BinaryIO) -> int:
    """Size of a seekable binary file from its current position to its end."""
    position = file.tell()
    end = file.seek(0, io.SEEK_END)
    file.seek(position)
    return end - position
