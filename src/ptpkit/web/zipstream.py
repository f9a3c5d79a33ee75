"""A zip of camera objects written as it is sent: the standard library's :mod:`zipfile` on a
write-only stream (it then writes each member's sizes and CRC after its data, in a data
descriptor), each chunk from the camera handed on to the HTTP response at once. Memory holds a
chunk, never a file; members are stored, not compressed (pictures and movies are compressed
already), and ZIP64 where a member or the archive passes 4 GiB.
"""

from __future__ import annotations

import datetime as _dt
import io
import zipfile
from collections.abc import Awaitable, Callable, Iterable
from typing import IO, Final

from ptpkit.client.files import Entry, numbered, safe_filename

#: ZIP's earliest date (DOS time); earlier or unknown times become it.
_ZIP_EPOCH: Final = _dt.datetime(1980, 1, 1)

Send = Callable[[bytes], Awaitable[None]]
#: Reads one object into a sink whose ``write`` may be a coroutine.
ReadObject = Callable[[Entry, "MemberSink"], Awaitable[None]]


class _Pipe(io.RawIOBase):
    """Where zipfile writes: bytes kept until :meth:`take` (no seek, no tell: zipfile then
    streams)."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._pending += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._pending)
        self._pending.clear()
        return out


def member_names(entries: Iterable[Entry]) -> list[str]:
    """Each entry's name in the zip: its camera name made safe as one file name (no folders,
    no ``..``), a second of the same name numbered ``NAME (2).EXT``."""
    seen: set[str] = set()
    names = []
    for entry in entries:
        name = next(n for n in numbered(safe_filename(entry.name)) if n.lower() not in seen)
        seen.add(name.lower())
        names.append(name)
    return names


class MemberSink:
    """The sink one object is read into: each chunk into the zip member, and on to the
    response."""

    def __init__(self, member: IO[bytes], pipe: _Pipe, send: Send) -> None:
        self._member = member
        self._pipe = pipe
        self._send = send
        self.written = 0

    def start(self, total_bytes: int | None) -> None:
        return None

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        self._member.write(chunk)
        self.written += len(chunk)
        await self._send(self._pipe.take())

    def finish(self) -> None:
        return None


async def stream_zip(entries: list[Entry], read: ReadObject, send: Send) -> int:
    """Write the zip of ``entries`` through ``send``; the number of bytes of file data."""
    pipe = _Pipe()
    total = 0
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for entry, name in zip(entries, member_names(entries), strict=True):
            when = entry.modified or entry.captured or _ZIP_EPOCH
            when = max(when.replace(tzinfo=None), _ZIP_EPOCH)
            info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            # ZIP64 from the start for a member that may pass 4 GiB (an unknown size is
            # 0xFFFFFFFF): zipfile cannot switch after writing the member's header.
            with zf.open(info, "w", force_zip64=entry.size >= 0xFFFFFFFF) as member:
                sink = MemberSink(member, pipe, send)
                await read(entry, sink)
                total += sink.written
            await send(pipe.take())
    await send(pipe.take())
    return total
