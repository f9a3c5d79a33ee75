"""Nikon's own wire formats, sans-IO (vendors.md section 2; libgphoto2 camlibs/ptp2).

- **GetEvent 0x90C7** (``ptp-pack.c ptp_unpack_Nikon_EC``): ``u16 count`` then ``count`` x
  ``{u16 code, u32 param}``.
- **GetEventEx 0x941C** (``ptp_unpack_Nikon_EC_EX``): ``u16 count``, two bytes libgphoto2 skips
  (the records start at offset 4), then ``count`` x ``{u16 code, u16 nparams (<= 5), nparams x
  u32}``.
- **GetLiveViewImg 0x9203**: a header (64 bytes on the D3X/D700/D90 family, 384 on the
  D800/D600/D500 family and later: digiCamControl's per-model classes) and a JPEG. libgphoto2
  only looks for the JPEG's start (FF D8); :func:`decode_live_view` tries the known header sizes
  first and searches after that, so a body with another header size still gives its picture.
- **ExposureTime 0xD100** (u32): ``numerator << 16 | denominator`` seconds (0x00010FA0 =
  1/4000 s); 0xFFFFFFFF bulb, 0xFFFFFFFD time, 0xFFFFFFFE flash sync.
- **LiveViewProhibitCondition 0xD1A4** (u32): one bit per reason live view is refused
  (libgphoto2 library.c camera_capture_preview), in words by :func:`prohibit_reasons`.
- **GetObjectSize 0x9421**: the size as a u64 (``ptp.c ptp_nikon_getobjectsize``).

Strict on counts and lengths: a count larger than the bytes that follow can hold is a
DecodeError before anything is allocated for it. Every multi-byte field is little-endian, as
PTP's, except inside the live-view header (big-endian: the TypeScript reimplementation cited in
vendors.md 2.4).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ptpkit.core.buffer import BytesLike, Reader, Writer
from ptpkit.errors import DecodeError, LocalProtocolError

__all__ = [
    "BULB",
    "FLASH_SYNC",
    "IGNORABLE_PROHIBIT_BITS",
    "LIVE_VIEW_HEADER_SIZES",
    "PROHIBIT_REASONS",
    "TIME",
    "LiveViewFrame",
    "NikonEvent",
    "decode_get_event",
    "decode_get_event_ex",
    "decode_live_view",
    "decode_object_size",
    "encode_get_event",
    "encode_get_event_ex",
    "encode_live_view",
    "encode_object_size",
    "find_jpeg",
    "format_shutter",
    "parse_shutter",
    "prohibit_reasons",
    "refusing_bits",
]

_U16_MAX: Final = 0xFFFF
_U32_MAX: Final = 0xFFFFFFFF

# -- events ----------------------------------------------------------------------------------------

#: One GetEvent record: u16 code + u32 parameter.
EVENT_RECORD_BYTES: Final = 6
#: GetEventEx: at most five parameters a record (ptp-pack.c refuses more).
MAX_EVENT_EX_PARAMS: Final = 5
#: GetEventEx's records start after the u16 count and two bytes libgphoto2 skips.
_EVENT_EX_START: Final = 4


@dataclass(frozen=True, kw_only=True, slots=True)
class NikonEvent:
    """One event from GetEvent (always one parameter) or GetEventEx (zero to five)."""

    code: int
    params: tuple[int, ...] = ()


def decode_get_event(data: BytesLike) -> tuple[NikonEvent, ...]:
    """The events of a GetEvent 0x90C7 answer. Empty data is no events (a body with nothing to
    report may send none); bytes after the last record are ignored, as libgphoto2 ignores them."""
    if len(data) == 0:
        return ()
    reader = Reader(data, what="Nikon GetEvent (0x90C7)")
    count = reader.uint16()
    if count * EVENT_RECORD_BYTES > reader.remaining:
        raise reader.fail(
            f"{count} records need {count * EVENT_RECORD_BYTES} bytes, "
            f"only {reader.remaining} are left"
        )
    return tuple(NikonEvent(code=reader.uint16(), params=(reader.uint32(),)) for _ in range(count))


def encode_get_event(events: Sequence[NikonEvent]) -> bytes:
    """A GetEvent 0x90C7 answer; each event's first parameter (0 without one) is sent."""
    if len(events) > _U16_MAX:
        raise LocalProtocolError(f"GetEvent holds at most {_U16_MAX} records, not {len(events)}")
    writer = Writer()
    writer.uint16(len(events))
    for event in events:
        if len(event.params) > 1:
            raise LocalProtocolError(
                f"a GetEvent record has one parameter; event 0x{event.code:04X} has "
                f"{len(event.params)} (GetEventEx carries more)"
            )
        writer.uint16(event.code)
        writer.uint32(event.params[0] if event.params else 0)
    return writer.getvalue()


def decode_get_event_ex(data: BytesLike) -> tuple[NikonEvent, ...]:
    """The events of a GetEventEx 0x941C answer (records of 0 to 5 parameters)."""
    if len(data) == 0:
        return ()
    reader = Reader(data, what="Nikon GetEventEx (0x941C)")
    count = reader.uint16()
    if reader.remaining < 2:
        raise reader.fail("the two bytes before the first record are missing")
    reader.raw(2)
    # Each record is at least its 4-byte head: refuse an impossible count before the loop.
    if count * 4 > reader.remaining:
        raise reader.fail(
            f"{count} records need at least {count * 4} bytes, only {reader.remaining} are left"
        )
    events = []
    for _ in range(count):
        code = reader.uint16()
        nparams = reader.uint16()
        if nparams > MAX_EVENT_EX_PARAMS:
            raise DecodeError(
                f"event 0x{code:04X} claims {nparams} parameters (at most 5)",
                offset=reader.offset - 2,
                what=reader.what,
            )
        events.append(NikonEvent(code=code, params=tuple(reader.uint32() for _ in range(nparams))))
    return tuple(events)


def encode_get_event_ex(events: Sequence[NikonEvent]) -> bytes:
    if len(events) > _U16_MAX:
        raise LocalProtocolError(f"GetEventEx holds at most {_U16_MAX} records, not {len(events)}")
    writer = Writer()
    writer.uint16(len(events))
    writer.uint16(0)
    for event in events:
        if len(event.params) > MAX_EVENT_EX_PARAMS:
            raise LocalProtocolError(
                f"a GetEventEx record has at most 5 parameters, not {len(event.params)}"
            )
        writer.uint16(event.code)
        writer.uint16(len(event.params))
        for param in event.params:
            writer.uint32(param)
    return writer.getvalue()


# -- 64-bit object size ----------------------------------------------------------------------------


def decode_object_size(data: BytesLike) -> int:
    """GetObjectSize 0x9421's data: the object's size as a u64 (exactly 8 bytes)."""
    reader = Reader(data, what="Nikon GetObjectSize (0x9421)")
    size = reader.uint64()
    if not reader.at_end():
        raise reader.fail(f"{reader.remaining} bytes after the 64-bit size")
    return size


def encode_object_size(size: int) -> bytes:
    writer = Writer()
    writer.uint64(size)
    return writer.getvalue()


# -- live view -------------------------------------------------------------------------------------

#: The header sizes bodies send before the JPEG: 384 (D800/D600/D500 and later), 64 (D3X, D700,
#: D300, D90). digiCamControl's per-model classes (vendors.md 2.4).
LIVE_VIEW_HEADER_SIZES: Final = (384, 64)
_SOI: Final = b"\xff\xd8\xff"
_EOI: Final = b"\xff\xd9"
#: Where the 384-byte header holds the live-view and image sizes (u16 big-endian).
_LV_WIDTH_AT: Final = 8
_IMAGE_WIDTH_AT: Final = 12


@dataclass(frozen=True, kw_only=True, slots=True)
class LiveViewFrame:
    """A GetLiveViewImg answer: the header as sent, the JPEG, and the sizes the 384-byte header
    tells (0 when the header is another size: the 64-byte form's fields are not documented)."""

    header: bytes
    jpeg: bytes
    width: int = 0
    height: int = 0
    image_width: int = 0
    image_height: int = 0


def find_jpeg(data: BytesLike, start: int = 0) -> int:
    """Where the JPEG in ``data`` starts (FF D8 FF), at ``start`` or after; -1 if nowhere."""
    return bytes(data).find(_SOI, start)


def decode_live_view(data: BytesLike, header_bytes: int | None = None) -> LiveViewFrame:
    """The header and JPEG of a GetLiveViewImg answer. The JPEG is found where ``header_bytes``
    (or else one of :data:`LIVE_VIEW_HEADER_SIZES`) says, else by searching for its start; it
    ends at its last FF D9 (bodies pad the data phase). No JPEG start anywhere: DecodeError."""
    view = bytes(data)
    sizes = (header_bytes,) if header_bytes is not None else LIVE_VIEW_HEADER_SIZES
    start = next((size for size in sizes if view[size : size + 3] == _SOI), -1)
    if start < 0:
        start = find_jpeg(view)
    if start < 0:
        raise DecodeError(
            f"no JPEG in {len(view)} bytes", offset=len(view), what="Nikon live view image"
        )
    end = view.rfind(_EOI, start + 2)
    jpeg = view[start : end + 2] if end >= 0 else view[start:]
    header = view[:start]
    fields = [0, 0, 0, 0]
    if len(header) == 384:
        fields = [
            int.from_bytes(header[at : at + 2], "big")
            for at in range(_LV_WIDTH_AT, _IMAGE_WIDTH_AT + 4, 2)
        ]
    return LiveViewFrame(
        header=header,
        jpeg=jpeg,
        width=fields[0],
        height=fields[1],
        image_width=fields[2],
        image_height=fields[3],
    )


def encode_live_view(frame: LiveViewFrame) -> bytes:
    """A GetLiveViewImg answer: ``frame.header`` when given, else a 384-byte header holding the
    sizes, then the JPEG."""
    if frame.jpeg[:3] != _SOI:
        raise LocalProtocolError("a live-view frame is a JPEG (starting FF D8 FF)")
    header = frame.header
    if not header:
        raw = bytearray(384)
        for index, value in enumerate(
            (frame.width, frame.height, frame.image_width, frame.image_height)
        ):
            if not 0 <= value <= _U16_MAX:
                raise LocalProtocolError(f"a live-view size is a u16, not {value}")
            at = _LV_WIDTH_AT + 2 * index
            raw[at : at + 2] = value.to_bytes(2, "big")
        header = bytes(raw)
    if find_jpeg(header) >= 0:
        raise LocalProtocolError("a live-view header must not hold a JPEG start (FF D8 FF)")
    return header + frame.jpeg


# -- shutter speed (0xD100) ------------------------------------------------------------------------

BULB: Final = 0xFFFFFFFF
FLASH_SYNC: Final = 0xFFFFFFFE
TIME: Final = 0xFFFFFFFD
_SPECIAL: Final = {BULB: "Bulb", TIME: "Time", FLASH_SYNC: "Flash sync"}
_SPECIAL_WORDS: Final = {
    "bulb": BULB,
    "time": TIME,
    "flash sync": FLASH_SYNC,
    "flashsync": FLASH_SYNC,
    "x-sync": FLASH_SYNC,
    "x sync": FLASH_SYNC,
}
_FRACTION: Final = re.compile(r"^(\d{1,5})/(\d{1,5}(?:\.\d)?)$")
_SECONDS: Final = re.compile(r"^(\d{1,5}(?:\.\d)?)\s*(?:s|sec|\")?$")


def format_shutter(value: int) -> str:
    """0xD100's value as photographers write it: "1/250", "1/2.5", "30s", "1.3s", "Bulb";
    other ratios as libgphoto2 shows them ("num/den"). :func:`parse_shutter` inverts it."""
    if value in _SPECIAL:
        return _SPECIAL[value]
    num, den = value >> 16, value & _U16_MAX
    if den == 1:
        return f"{num}s"
    if num == 1 and den:
        return f"1/{den}"
    if num == 10 and den % 10:
        return f"1/{den // 10}.{den % 10}"
    if den == 10 and num % 10:
        return f"{num // 10}.{num % 10}s"
    return f"{num}/{den}"


def parse_shutter(text: str) -> int:
    """The 0xD100 value ``text`` means: "1/250", "1/2.5", "30", "30s", '30"', "1.3s", "10/25"
    (libgphoto2's form), "bulb", "time", "flash sync". ValueError otherwise."""
    cleaned = " ".join(text.strip().lower().split())
    if cleaned in _SPECIAL_WORDS:
        return _SPECIAL_WORDS[cleaned]
    num: int
    den: int
    fraction = _FRACTION.match(cleaned)
    seconds = _SECONDS.match(cleaned)
    if fraction is not None:
        num_text, den_text = fraction.groups()
        if "." in den_text:
            if num_text != "1":
                raise ValueError(f"{text!r}: a decimal denominator only as 1/x.y")
            whole, tenth = den_text.split(".")
            num, den = 10, int(whole) * 10 + int(tenth)
        else:
            num, den = int(num_text), int(den_text)
    elif seconds is not None:
        number = seconds.group(1)
        if "." in number:
            whole, tenth = number.split(".")
            num, den = int(whole) * 10 + int(tenth), 10
        else:
            num, den = int(number), 1
    else:
        raise ValueError(f"{text!r} is not a shutter speed (1/250, 2.5s, 30s, bulb)")
    if not (0 < num <= _U16_MAX and 0 < den <= _U16_MAX):
        raise ValueError(f"{text!r}: numerator and denominator must be 1 to 65535")
    value = num << 16 | den
    if value in _SPECIAL:
        raise ValueError(f"{text!r} is the code of {_SPECIAL[value]}")
    return value


# -- live view prohibit condition (0xD1A4) ---------------------------------------------------------

#: Bit -> why live view is refused (libgphoto2 library.c camera_capture_preview's messages,
#: vendors.md 2.4).
PROHIBIT_REASONS: Final[dict[int, str]] = {
    2: "a sequence error",
    4: "a button is pressed on the camera",
    5: "the lens is not at its minimum aperture",
    8: "the battery is too low",
    9: "a TTL error",
    12: "a picture in the camera's memory (SDRAM) has not been fetched",
    14: "there is no memory card",
    15: "the camera is shooting",
    17: "the camera is too hot",
    18: "the memory card is write-protected",
    19: "the memory card has an error",
    20: "the memory card is not formatted",
    21: "the shutter speed is bulb",
    22: "mirror-up shooting is under way",
    24: "the lens is retracting",
    31: "the exposure mode is not P, A, S or M",
}
#: Bits that do not stop live view from starting (libgphoto2 ignores "lens retracting").
IGNORABLE_PROHIBIT_BITS: Final = 1 << 24


def refusing_bits(condition: int) -> int:
    """The bits of ``condition`` that stop live view (all but the ignorable ones)."""
    return condition & ~IGNORABLE_PROHIBIT_BITS & _U32_MAX


def prohibit_reasons(condition: int) -> tuple[str, ...]:
    """Each set bit of 0xD1A4 in words, lowest first; bits no source names as "reason bit N"."""
    return tuple(
        PROHIBIT_REASONS.get(bit, f"reason bit {bit}") for bit in range(32) if condition >> bit & 1
    )
