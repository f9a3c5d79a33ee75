"""Fujifilm's own datasets, sans-IO: the 0xD212 change list and the 0x902B property list.

- **CurrentState, GetDevicePropValue(0xD212)** (Fuji "StateChange"; malc0mn/ptp-ip
  ``FujiGetDeviceState``, libgphoto2 ``ptp_fuji_getevents``): ``u16 count`` then ``count`` x
  ``{u16 property code, u32 value}``; every value is 32 bits whatever the property's type.
- **GetDeviceInfo 0x902B** (Fuji's, not ISO 15740's 0x1001: ptp-ip ``FujiGetDeviceInfo``): ``u32
  count`` then ``count`` x ``{u32 length, DevicePropDesc}``, where ``length`` counts its own 4
  bytes (the seed's X-T1 dump: 0x16 = 4 + an 18-byte DevicePropDesc of 0x5012).

Bounded: a count larger than the bytes that follow can hold is a DecodeError before anything is
allocated for it, and each descriptor must end exactly where its length says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ptpkit.core.buffer import BytesLike, Reader, Writer
from ptpkit.core.datasets import DevicePropDesc, pull_device_prop_desc, push_device_prop_desc

__all__ = [
    "STATE_ENTRY_BYTES",
    "StateEntry",
    "decode_prop_desc_list",
    "decode_state_list",
    "encode_prop_desc_list",
    "encode_state_list",
]

#: One change-list entry: u16 code + u32 value.
STATE_ENTRY_BYTES: Final = 6
#: The smallest DevicePropDesc (code, type, get/set, two u8 values, form flag) and its length.
_MIN_DESC_BYTES: Final = 2 + 2 + 1 + 1 + 1 + 1
_LENGTH_BYTES: Final = 4


@dataclass(frozen=True, kw_only=True, slots=True)
class StateEntry:
    """One property and its value as 0xD212 reports it (always a u32 on the wire)."""

    code: int
    value: int


def decode_state_list(data: BytesLike) -> tuple[StateEntry, ...]:
    """The entries of a 0xD212 answer. Empty data is an empty list (a camera with nothing to
    report); bytes after the last entry are ignored, as ptp-ip ignores them."""
    if len(data) == 0:
        return ()
    reader = Reader(data, what="Fujifilm CurrentState (0xD212)")
    count = reader.uint16()
    if count * STATE_ENTRY_BYTES > reader.remaining:
        raise reader.fail(
            f"{count} entries need {count * STATE_ENTRY_BYTES} bytes, "
            f"only {reader.remaining} are left"
        )
    return tuple(StateEntry(code=reader.uint16(), value=reader.uint32()) for _ in range(count))


def encode_state_list(entries: Sequence[StateEntry]) -> bytes:
    writer = Writer()
    writer.uint16(len(entries))
    for entry in entries:
        writer.uint16(entry.code)
        writer.uint32(entry.value & 0xFFFFFFFF)
    return writer.getvalue()


def decode_prop_desc_list(data: BytesLike) -> tuple[DevicePropDesc, ...]:
    """The descriptors of a 0x902B answer, in the camera's order."""
    reader = Reader(data, what="Fujifilm GetDeviceInfo (0x902B)")
    count = reader.uint32()
    if count * (_LENGTH_BYTES + _MIN_DESC_BYTES) > reader.remaining:
        raise reader.fail(f"{count} property descriptions cannot fit in {reader.remaining} bytes")
    out = []
    for index in range(count):
        start = reader.offset
        length = reader.uint32()
        if length < _LENGTH_BYTES + _MIN_DESC_BYTES or length - _LENGTH_BYTES > reader.remaining:
            raise reader.fail(f"description {index} claims {length} bytes")
        desc = pull_device_prop_desc(Reader(reader.raw(length - _LENGTH_BYTES), what=reader.what))
        if reader.offset - start != length:  # pragma: no cover - raw() read exactly that
            raise reader.fail(f"description {index} does not end where its length says")
        out.append(desc)
    return tuple(out)


def encode_prop_desc_list(descs: Sequence[DevicePropDesc]) -> bytes:
    writer = Writer()
    writer.uint32(len(descs))
    for desc in descs:
        body = Writer()
        push_device_prop_desc(body, desc)
        raw = body.getvalue()
        writer.uint32(len(raw) + _LENGTH_BYTES)
        writer.raw(raw)
    return writer.getvalue()
