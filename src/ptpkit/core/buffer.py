"""Byte cursors for PTP's little-endian encoding: ``Reader`` pulls values, ``Writer`` pushes them.

Every read is bounded by the bytes actually present: a count or length that claims more than what
is left raises :class:`~ptpkit.errors.DecodeError` carrying the offset, before anything sized by
that count is allocated. Device data is untrusted input (libgphoto2 took several CVEs for parsers
that trusted a count), so this is the only place where bytes become numbers and strings.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

from ptpkit.errors import DecodeError, LocalProtocolError

_U8: Final = struct.Struct("<B")
_U16: Final = struct.Struct("<H")
_U32: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
_I8: Final = struct.Struct("<b")
_I16: Final = struct.Struct("<h")
_I32: Final = struct.Struct("<i")
_I64: Final = struct.Struct("<q")

#: A PTP string holds at most 255 UTF-16 code units including the terminating NUL (ISO 15740
#: §5.3.4: the length is a single byte).
MAX_STRING_UNITS: Final = 255

BytesLike = bytes | bytearray | memoryview


class Reader:
    """Reads PTP values from a bytes-like object, front to back, never past its end."""

    __slots__ = ("_data", "_pos", "what")

    def __init__(self, data: BytesLike, *, what: str | None = None) -> None:
        self._data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self._pos = 0
        #: What is being decoded, for error messages ("DeviceInfo", "ObjectInfo"...).
        self.what = what

    @property
    def offset(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def fail(self, message: str) -> DecodeError:
        """A DecodeError at the current offset, for callers that validate what they read."""
        return DecodeError(message, offset=self._pos, what=self.what)

    def _need(self, size: int, what: str) -> None:
        if size > len(self._data) - self._pos:
            raise DecodeError(
                f"{what} needs {size} bytes but only {self.remaining} are left",
                offset=self._pos,
                what=self.what,
            )

    def _unpack(self, fmt: struct.Struct, what: str) -> int:
        self._need(fmt.size, what)
        (value,) = fmt.unpack_from(self._data, self._pos)
        self._pos += fmt.size
        return int(value)

    def unpack(self, fmt: struct.Struct, what: str = "fields") -> tuple[int, ...]:
        """Several fixed-size fields at once (a hot loop's header), bounds-checked as a whole."""
        self._need(fmt.size, what)
        values = fmt.unpack_from(self._data, self._pos)
        self._pos += fmt.size
        return values

    # -- integers --------------------------------------------------------------------------------

    def uint8(self) -> int:
        return self._unpack(_U8, "uint8")

    def uint16(self) -> int:
        return self._unpack(_U16, "uint16")

    def uint32(self) -> int:
        return self._unpack(_U32, "uint32")

    def uint64(self) -> int:
        return self._unpack(_U64, "uint64")

    def uint128(self) -> int:
        self._need(16, "uint128")
        value = int.from_bytes(self._data[self._pos : self._pos + 16], "little")
        self._pos += 16
        return value

    def int8(self) -> int:
        return self._unpack(_I8, "int8")

    def int16(self) -> int:
        return self._unpack(_I16, "int16")

    def int32(self) -> int:
        return self._unpack(_I32, "int32")

    def int64(self) -> int:
        return self._unpack(_I64, "int64")

    def int128(self) -> int:
        self._need(16, "int128")
        value = int.from_bytes(self._data[self._pos : self._pos + 16], "little", signed=True)
        self._pos += 16
        return value

    # -- bytes, arrays, strings -----------------------------------------------------------------

    def raw(self, size: int) -> bytes:
        self._need(size, f"a block of {size} bytes")
        value = bytes(self._data[self._pos : self._pos + size])
        self._pos += size
        return value

    def since(self, start: int) -> bytes:
        """The bytes between offset ``start`` and the current offset (already read)."""
        return bytes(self._data[start : self._pos])

    def rest(self) -> bytes:
        """Everything not read yet."""
        return self.raw(self.remaining)

    def int_array(self, element_size: int, signed: bool = False) -> tuple[int, ...]:
        """A PTP array: a uint32 count, then that many integers of ``element_size`` bytes."""
        count = self.uint32()
        # Check the count against the bytes present before building anything of that size.
        self._need(count * element_size, f"an array of {count} elements of {element_size} bytes")
        start = self._pos
        self._pos += count * element_size
        if element_size in (1, 2, 4, 8):
            code = {1: "b", 2: "h", 4: "i", 8: "q"}[element_size]
            fmt = f"<{count}{code if signed else code.upper()}"
            return struct.unpack_from(fmt, self._data, start)
        data = self._data
        return tuple(
            int.from_bytes(data[i : i + element_size], "little", signed=signed)
            for i in range(start, start + count * element_size, element_size)
        )

    def uint16_array(self) -> tuple[int, ...]:
        return self.int_array(2)

    def uint32_array(self) -> tuple[int, ...]:
        return self.int_array(4)

    def string(self) -> str:
        """A PTP string: a count byte of UTF-16 code units (NUL included), then the units.

        The empty string is a single zero byte. Units that are not valid UTF-16 (a lone surrogate)
        become U+FFFD rather than an exception: names come from untrusted devices.
        """
        units = self.uint8()
        if units == 0:
            return ""
        self._need(units * 2, f"a string of {units} characters")
        raw = self._data[self._pos : self._pos + units * 2]
        self._pos += units * 2
        text = bytes(raw).decode("utf-16-le", errors="replace")
        # The count includes the terminating NUL; stop at the first NUL like C readers do, so an
        # embedded NUL cannot hide a suffix from code that compares names.
        nul = text.find("\x00")
        return text if nul < 0 else text[:nul]


class Writer:
    """Appends PTP values to a growing bytearray."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def _pack(self, fmt: struct.Struct, value: int, what: str) -> None:
        try:
            self._data += fmt.pack(value)
        except struct.error as exc:
            raise LocalProtocolError(f"{value!r} does not fit in a PTP {what}") from exc

    def uint8(self, value: int) -> None:
        self._pack(_U8, value, "uint8")

    def uint16(self, value: int) -> None:
        self._pack(_U16, value, "uint16")

    def uint32(self, value: int) -> None:
        self._pack(_U32, value, "uint32")

    def uint64(self, value: int) -> None:
        self._pack(_U64, value, "uint64")

    def uint128(self, value: int) -> None:
        self.int_bytes(value, 16, signed=False)

    def int8(self, value: int) -> None:
        self._pack(_I8, value, "int8")

    def int16(self, value: int) -> None:
        self._pack(_I16, value, "int16")

    def int32(self, value: int) -> None:
        self._pack(_I32, value, "int32")

    def int64(self, value: int) -> None:
        self._pack(_I64, value, "int64")

    def int128(self, value: int) -> None:
        self.int_bytes(value, 16, signed=True)

    def int_bytes(self, value: int, size: int, *, signed: bool) -> None:
        try:
            self._data += value.to_bytes(size, "little", signed=signed)
        except OverflowError as exc:
            kind = "int" if signed else "uint"
            raise LocalProtocolError(f"{value!r} does not fit in a PTP {kind}{size * 8}") from exc

    def raw(self, value: BytesLike) -> None:
        self._data += value

    def int_array(self, values: Sequence[int], element_size: int, signed: bool = False) -> None:
        self.uint32(len(values))
        if element_size in (1, 2, 4, 8):
            code = {1: "b", 2: "h", 4: "i", 8: "q"}[element_size]
            try:
                self._data += struct.pack(
                    f"<{len(values)}{code if signed else code.upper()}", *values
                )
            except struct.error as exc:
                raise LocalProtocolError(
                    f"an element of {list(values)[:8]!r}... does not fit in "
                    f"{element_size * 8}-bit {'signed' if signed else 'unsigned'} integers"
                ) from exc
            return
        for value in values:
            self.int_bytes(value, element_size, signed=signed)

    def uint16_array(self, values: Sequence[int]) -> None:
        self.int_array(values, 2)

    def uint32_array(self, values: Sequence[int]) -> None:
        self.int_array(values, 4)

    def string(self, value: str) -> None:
        """A PTP string (see :meth:`Reader.string`). Lone surrogates pass through unchanged, so a
        file name that was not valid UTF-8 on disk can still be served."""
        if not value:
            self._data.append(0)
            return
        encoded = value.encode("utf-16-le", errors="surrogatepass")
        units = len(encoded) // 2 + 1
        if units > MAX_STRING_UNITS:
            raise LocalProtocolError(
                f"a PTP string holds at most {MAX_STRING_UNITS - 1} UTF-16 units, "
                f"this one needs {units - 1}: {value[:40]!r}..."
            )
        self._data.append(units)
        self._data += encoded
        self._data += b"\x00\x00"
