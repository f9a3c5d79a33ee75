"""Golden bytes and properties of the Canon EOS wire formats (ptpkit.core.canon_eos).

Sources of the vectors:

- "libgphoto2 sample": bytes a camera sent, quoted in the comments of libgphoto2
  camlibs/ptp2/ptp-pack.c (the GetObjectInfoEx entries above ptp_unpack_Canon_EOS_FE, the
  ImageFormat example in ptp_unpack_EOS_ImageFormat). Copied byte by byte.
- "by hand": written from the record layouts in vendors.md 1.2 / 1.5 / 1.8 (libgphoto2's
  PTP_cee_* offsets), field by field, without the encoder.
"""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptpkit.core import canon_eos as eos
from ptpkit.core.buffer import Reader
from ptpkit.core.canon_eos import (
    AvailListChanged,
    BulbExposureTime,
    CameraStatusChanged,
    CtgInfoCheckComplete,
    FolderEntry,
    FolderListing,
    ImageFormat,
    ImageFormatEntry,
    ObjectAdded,
    ObjectContentChanged,
    ObjectRemoved,
    OlcInfoChanged,
    PropValueChanged,
    RequestObjectTransfer,
    SetPropValueEx,
    StorageChanged,
    UnknownRecord,
    decode_folder_listing,
    decode_get_event,
    decode_object_info_ex,
    decode_prop_value,
    decode_set_prop_value_ex,
    encode_get_event,
    encode_object_info_ex,
    encode_prop_value,
    encode_record,
    encode_set_prop_value_ex,
)
from ptpkit.errors import DecodeError, LocalProtocolError


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def u16(value: int) -> bytes:
    return struct.pack("<H", value)


# -- GetEvent: golden bytes (by hand) ------------------------------------------------------------

# PropValueChanged ISOSpeed (0xD103) = 0x68 (ISO 1600): size 16, type 0xC189, prop, 4-byte slot.
PROP_ISO = u32(16) + u32(0xC189) + u32(0xD103) + bytes([0x68, 0, 0, 0])
# AvailListChanged ISOSpeed: size 32, type 0xC18A, prop, list type 3, count 3, three slots.
AVAIL_ISO = (
    u32(32) + u32(0xC18A) + u32(0xD103) + u32(3) + u32(3) + u32(0x48) + u32(0x50) + u32(0x58)
)
# ObjectAddedEx: handle @8, storage @0xC, u16 ofc @0x10, 10 bytes ?, size @0x1C, parent @0x20,
# 4 bytes ?, name @0x28 NUL-terminated. "IMG_0001.JPG\0" is 13 bytes: 0x28 + 13 = 53.
OBJECT_ADDED = (
    u32(53)
    + u32(0xC181)
    + u32(0x92740C72)  # handle
    + u32(0x00020001)  # storage
    + u16(0x3801)  # EXIF/JPEG
    + bytes(10)
    + u32(2217241)  # size
    + u32(0x92740000)  # parent
    + bytes(4)
    + b"IMG_0001.JPG\x00"
)
# RequestObjectTransfer: handle @8, ofc @0xC, 6 bytes ?, size @0x14, 4 bytes ?, name @0x1C.
REQUEST_TRANSFER = (
    u32(0x1C + 13) + u32(0xC186) + u32(0x0A) + u16(0xB108) + bytes(6) + u32(123456) + bytes(4)
) + b"IMG_0002.CR3\x00"
CAMERA_BUSY = u32(12) + u32(0xC18B) + u32(1)
UNKNOWN = u32(14) + u32(0xC1F1) + b"\x01\x02\x03\x04\x05\x06"
TERMINATOR_8 = u32(8) + u32(0)
# The 12-byte terminator emulators write (vendors.md 1.2).
TERMINATOR_12 = bytes.fromhex("0c000000 00000000 00000000")

GOLDEN_STREAM = PROP_ISO + AVAIL_ISO + OBJECT_ADDED + REQUEST_TRANSFER + CAMERA_BUSY + UNKNOWN
GOLDEN_RECORDS = (
    PropValueChanged(prop=0xD103, raw=bytes([0x68, 0, 0, 0])),
    AvailListChanged(prop=0xD103, list_type=3, values=(0x48, 0x50, 0x58)),
    ObjectAdded(
        handle=0x92740C72,
        storage_id=0x00020001,
        format=0x3801,
        size=2217241,
        parent=0x92740000,
        name="IMG_0001.JPG",
    ),
    RequestObjectTransfer(handle=0x0A, format=0xB108, size=123456, name="IMG_0002.CR3"),
    CameraStatusChanged(status=1),
    UnknownRecord(type=0xC1F1, payload=b"\x01\x02\x03\x04\x05\x06"),
)


def test_golden_stream_decodes() -> None:
    records = decode_get_event(GOLDEN_STREAM + TERMINATOR_8)
    assert records == GOLDEN_RECORDS
    assert isinstance(records[0], PropValueChanged)
    assert records[0].value == 0x68
    assert isinstance(records[1], AvailListChanged)
    assert records[1].allowed == (0x48, 0x50, 0x58)


def test_golden_stream_encodes_to_the_same_bytes() -> None:
    assert encode_get_event(GOLDEN_RECORDS) == GOLDEN_STREAM + TERMINATOR_8
    assert encode_get_event(GOLDEN_RECORDS, terminator_size=12) == GOLDEN_STREAM + TERMINATOR_12


def test_twelve_byte_terminator_and_bytes_after_it() -> None:
    assert decode_get_event(PROP_ISO + TERMINATOR_12 + b"junk after") == GOLDEN_RECORDS[:1]


def test_empty_answer_means_nothing_changed() -> None:
    assert decode_get_event(b"") == ()
    assert decode_get_event(TERMINATOR_8) == ()


def test_missing_terminator_is_accepted() -> None:
    # libgphoto2 drops a record that reaches the end of the data; we keep it.
    assert decode_get_event(CAMERA_BUSY) == (CameraStatusChanged(status=1),)


def test_object_added64_reads_a_64_bit_size() -> None:
    # handle @8, storage @0xC, ofc @0x10, size @0x1C (8 bytes), parent @0x24, 2nd id @0x28,
    # name @0x2C.
    record = (
        u32(0x2C + 6)
        + u32(0xC1A7)
        + u32(7)
        + u32(0x10001)
        + u16(0xB108)
        + bytes(10)
        + struct.pack("<Q", 5 * 2**30)
        + u32(0x90000000)
        + u32(8)
        + b"A.CR3\x00"
    )
    (added,) = decode_get_event(record)
    assert added == ObjectAdded(
        type=0xC1A7,
        handle=7,
        storage_id=0x10001,
        format=0xB108,
        size=5 * 2**30,
        parent=0x90000000,
        second_handle=8,
        name="A.CR3",
    )
    assert encode_record(added) == record


def test_request_transfer64_reads_a_64_bit_size() -> None:
    record = u32(0x1C + 2) + u32(0xC1A9) + u32(3) + u16(0xB108) + bytes(6)
    record += struct.pack("<Q", 6 * 2**30) + b"X\x00"
    (request,) = decode_get_event(record)
    assert request == RequestObjectTransfer(
        type=0xC1A9, handle=3, format=0xB108, size=6 * 2**30, name="X"
    )
    assert encode_record(request) == record


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0xC182, ObjectRemoved(handle=0x1234)),
        (0xC188, ObjectContentChanged(handle=0x1234)),
        (0xC184, StorageChanged(type=0xC184, storage_id=0x1234)),
        (0xC185, StorageChanged(type=0xC185, storage_id=0x1234)),
        (0xC192, StorageChanged(type=0xC192, storage_id=0x1234)),
        (0xC193, StorageChanged(type=0xC193, storage_id=0x1234)),
        (0xC194, BulbExposureTime(seconds=0x1234)),
        (0xC1A4, CtgInfoCheckComplete(value=0x1234)),
        (0xC18B, CameraStatusChanged(status=0x1234)),
    ],
)
def test_single_value_records(code: int, expected: object) -> None:
    data = u32(12) + u32(code) + u32(0x1234)
    assert decode_get_event(data) == (expected,)
    assert encode_record(expected) == data  # type: ignore[arg-type]


def test_ctg_info_check_complete_as_emulators_send_it() -> None:
    assert decode_get_event(u32(12) + u32(0xC1A4) + u32(0x20001)) == (
        CtgInfoCheckComplete(value=0x20001),
    )


def test_olc_info_changed_keeps_its_block() -> None:
    # u32 length (= size - 8), u16 mask, then the sub-records (here: 2 bytes, then the 6-byte
    # shutter block "01 01 98 10 00 60" quoted in libgphoto2's OLC decoder).
    body = u32(14) + u16(0x0002) + bytes(2) + bytes.fromhex("010198100060")
    # Oops-proof: the length must be the record size - 8.
    body = u32(len(body)) + body[4:]
    data = u32(8 + len(body)) + u32(0xC1A5) + body
    (olc,) = decode_get_event(data)
    assert olc == OlcInfoChanged(mask=2, data=bytes(2) + bytes.fromhex("010198100060"))
    assert encode_record(olc) == data
    # A length that disagrees with the record size: libgphoto2 ignores the block; we keep it raw.
    bad = u32(8 + len(body)) + u32(0xC1A5) + u32(99) + body[4:]
    assert decode_get_event(bad) == (UnknownRecord(type=0xC1A5, payload=u32(99) + body[4:]),)


def test_string_property_value() -> None:
    # Owner (0xD115): plain ASCII, NUL-terminated (not a PTP string).
    data = u32(8 + 4 + 9) + u32(0xC189) + u32(0xD115) + b"J. Smith\x00"
    (record,) = decode_get_event(data)
    assert record.value == "J. Smith"  # type: ignore[union-attr]
    assert PropValueChanged.of(0xD115, "J. Smith") == record


def test_unknown_property_value_is_raw_bytes() -> None:
    data = u32(8 + 4 + 3) + u32(0xC189) + u32(0xD1FF) + b"\x01\x02\x03"
    (record,) = decode_get_event(data)
    assert record.value == b"\x01\x02\x03"  # type: ignore[union-attr]


def test_numeric_property_reads_its_width_from_the_slot() -> None:
    assert decode_prop_value(0xD103, bytes([0x68, 0, 0xAA, 0xBB])) == 0x68  # u16
    assert decode_prop_value(0xD104, bytes([0xFD, 0, 0, 0])) == 0xFD  # u8 (signed eighths)
    assert decode_prop_value(0xD11C, u32(4)) == 4
    assert decode_prop_value(0xD10B, bytes([0xFE, 0xFF, 0, 0])) == -2  # int16
    # Too short for the width: the bytes back, no exception.
    assert decode_prop_value(0xD11C, b"\x04") == b"\x04"


def test_encode_prop_value() -> None:
    assert encode_prop_value(0xD103, 0x68) == bytes([0x68, 0, 0, 0])
    assert encode_prop_value(0xD10B, -2) == bytes([0xFE, 0xFF, 0xFF, 0xFF])
    assert encode_prop_value(0xD115, "abc") == b"abc\x00"
    with pytest.raises(LocalProtocolError):
        encode_prop_value(0xD103, 0x10000)  # not a uint16
    with pytest.raises(LocalProtocolError):
        encode_prop_value(0xD103, "f/5.6")  # text belongs to codes.canon_eos_values
    with pytest.raises(LocalProtocolError):
        encode_prop_value(0xD115, "a\x00b")


# -- ImageFormat ---------------------------------------------------------------------------------

# libgphoto2 sample (ptp_unpack_EOS_ImageFormat comment): "cRAW + coarse S1 JPEG":
# 2 10 6 0 3 10 1 e 2, which libgphoto2 condenses to 0x0bd2.
CRAW_S1 = b"".join(u32(v) for v in (2, 0x10, 6, 0, 3, 0x10, 1, 0xE, 2))


def test_image_format_golden() -> None:
    fmt = eos.pull_image_format(Reader(CRAW_S1))
    assert fmt == ImageFormat(
        entries=(
            ImageFormatEntry(kind=6, size=0, compression=3),
            ImageFormatEntry(kind=1, size=0xE, compression=2),
        )
    )
    assert fmt.code == 0x0BD2
    assert ImageFormat.from_code(0x0BD2) == fmt
    assert encode_prop_value(0xD120, fmt) == CRAW_S1
    assert encode_prop_value(0xD120, 0x0BD2) == CRAW_S1


def test_image_format_single_entry_code() -> None:
    # One file: the second half of the code is 0xFF (libgphoto2 "empty second entry").
    large_fine = ImageFormat(entries=(ImageFormatEntry(kind=1, size=0, compression=3),))
    assert large_fine.code == 0x03FF
    assert ImageFormat.from_code(0x03FF) == large_fine


def test_image_format_avail_list() -> None:
    one = u32(1) + u32(0x10) + u32(1) + u32(0) + u32(3)  # Large Fine JPEG
    body = u32(0xD120) + u32(3) + u32(2) + one + CRAW_S1
    data = u32(8 + len(body)) + u32(0xC18A) + body
    (record,) = decode_get_event(data)
    assert isinstance(record, AvailListChanged)
    assert [v.code for v in record.values] == [0x03FF, 0x0BD2]  # type: ignore[union-attr]
    assert encode_record(record) == data


def test_image_format_bad_entry_size_is_a_decode_error_in_a_list() -> None:
    broken = u32(1) + u32(0x14) + u32(1) + u32(0) + u32(3)
    body = u32(0xD120) + u32(3) + u32(1) + broken
    data = PROP_ISO + u32(8 + len(body)) + u32(0xC18A) + body
    with pytest.raises(DecodeError) as info:
        decode_get_event(data)
    # The entry starts after the first record, the 8-byte header, prop, type, count, its count.
    assert info.value.offset == len(PROP_ISO) + 8 + 12 + 4
    # As a property value it is only shown raw.
    assert decode_prop_value(0xD120, broken) == broken


# -- strict lengths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (PROP_ISO + u32(7) + u32(0xC18B), len(PROP_ISO)),  # size below the header
        (PROP_ISO + u32(100) + u32(0xC18B) + u32(1), len(PROP_ISO)),  # size past the end
        (PROP_ISO + b"\x0c\x00\x00", len(PROP_ISO)),  # cut header
        (PROP_ISO[:-1], 0),  # cut record
    ],
)
def test_lying_sizes_are_decode_errors_at_the_record(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_get_event(data)
    assert info.value.offset == offset


def test_avail_list_count_beyond_the_record() -> None:
    # Count 1000 with 2 slots present: a DecodeError at the count, not 1000 values.
    body = u32(0xD103) + u32(3) + u32(1000) + u32(0x48) + u32(0x50)
    data = CAMERA_BUSY + u32(8 + len(body)) + u32(0xC18A) + body
    with pytest.raises(DecodeError) as info:
        decode_get_event(data)
    assert info.value.offset == len(CAMERA_BUSY) + 8 + 8


def test_known_type_too_short_is_kept_unknown() -> None:
    # An ObjectAddedEx of 12 bytes: libgphoto2 skips it ("size is smaller than"); we keep it.
    data = u32(12) + u32(0xC181) + u32(5)
    assert decode_get_event(data) == (UnknownRecord(type=0xC181, payload=u32(5)),)
    assert decode_get_event(u32(8) + u32(0xC18B)) == (UnknownRecord(type=0xC18B),)


def test_avail_list_other_list_type_kept_raw() -> None:
    body = u32(0xD115) + u32(7) + b"whatever"
    data = u32(8 + len(body)) + u32(0xC18A) + body
    (record,) = decode_get_event(data)
    assert record == AvailListChanged(prop=0xD115, list_type=7, extra=b"whatever")
    assert encode_record(record) == data


def test_name_without_nul_runs_to_the_record_end() -> None:
    data = OBJECT_ADDED[:-1]
    data = u32(len(data)) + data[4:]
    (record,) = decode_get_event(data)
    assert record.name == "IMG_0001.JPG"  # type: ignore[union-attr]


def test_encoder_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(LocalProtocolError):
        encode_record(UnknownRecord(type=0, payload=b""))
    with pytest.raises(LocalProtocolError):
        encode_record(ObjectAdded(handle=1, storage_id=1, format=1, size=2**32, parent=0, name="x"))
    with pytest.raises(LocalProtocolError):
        encode_get_event([], terminator_size=4)


# -- hypothesis: round trips, any bytes, every prefix --------------------------------------------

u32s = st.integers(0, 2**32 - 1)
u16s = st.integers(0, 2**16 - 1)
names = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20)
image_formats = st.builds(
    ImageFormat,
    entries=st.lists(
        st.builds(ImageFormatEntry, kind=u32s, size=u32s, compression=u32s), max_size=3
    ).map(tuple),
)
_TYPED = {
    0xC189, 0xC18A, 0xC181, 0xC187, 0xC1A7, 0xC186, 0xC1A9, 0xC182, 0xC188, 0xC184, 0xC185,
    0xC192, 0xC193, 0xC18B, 0xC194, 0xC1A4, 0xC1A5,
}  # fmt: skip
records = st.one_of(
    st.builds(
        UnknownRecord,
        type=u32s.filter(lambda t: t != 0 and t not in _TYPED),
        payload=st.binary(max_size=40),
    ),
    st.builds(PropValueChanged, prop=u32s, raw=st.binary(max_size=40)),
    st.builds(
        AvailListChanged,
        prop=u32s.filter(lambda p: p not in (0xD120, 0xD121, 0xD122, 0xD123)),
        list_type=st.just(3),
        values=st.lists(u32s, max_size=10).map(tuple),
        extra=st.binary(max_size=8),
    ),
    st.builds(
        AvailListChanged,
        prop=st.sampled_from([0xD120, 0xD121]),
        values=st.lists(image_formats, max_size=3).map(tuple),
    ),
    st.builds(
        AvailListChanged,
        prop=u32s,
        list_type=u32s.filter(lambda t: t != 3),
        extra=st.binary(max_size=8),
    ),
    st.builds(
        ObjectAdded,
        type=st.sampled_from([0xC181, 0xC187]),
        handle=u32s,
        storage_id=u32s,
        format=u16s,
        size=u32s,
        parent=u32s,
        name=names,
    ),
    st.builds(
        ObjectAdded,
        type=st.just(0xC1A7),
        handle=u32s,
        storage_id=u32s,
        format=u16s,
        size=st.integers(0, 2**64 - 1),
        parent=u32s,
        second_handle=u32s,
        name=names,
    ),
    st.builds(
        RequestObjectTransfer,
        type=st.just(0xC186),
        handle=u32s,
        format=u16s,
        size=u32s,
        name=names,
    ),
    st.builds(
        RequestObjectTransfer,
        type=st.just(0xC1A9),
        handle=u32s,
        format=u16s,
        size=st.integers(0, 2**64 - 1),
        name=names,
    ),
    st.builds(ObjectRemoved, handle=u32s),
    st.builds(ObjectContentChanged, handle=u32s),
    st.builds(
        StorageChanged, type=st.sampled_from([0xC184, 0xC185, 0xC192, 0xC193]), storage_id=u32s
    ),
    st.builds(CameraStatusChanged, status=u32s),
    st.builds(BulbExposureTime, seconds=u32s),
    st.builds(CtgInfoCheckComplete, value=u32s),
    st.builds(OlcInfoChanged, mask=u16s, data=st.binary(max_size=20)),
)


@settings(max_examples=300)
@given(st.lists(records, max_size=8), st.sampled_from([8, 12]))
def test_round_trip(batch: list[eos.EosRecord], terminator_size: int) -> None:
    data = encode_get_event(batch, terminator_size=terminator_size)
    assert decode_get_event(data) == tuple(batch)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_any_bytes_give_records_or_decode_error(data: bytes) -> None:
    error: DecodeError | None = None
    try:
        decoded = decode_get_event(data)
    except DecodeError as exc:
        error = exc
    if error is not None:
        assert error.offset is not None
        assert 0 <= error.offset <= len(data)
        return
    assert isinstance(decoded, tuple)
    # And what decodes re-encodes to something that decodes the same.
    assert decode_get_event(encode_get_event(decoded)) == decoded


@settings(max_examples=100)
@given(st.lists(records, min_size=1, max_size=6))
def test_every_prefix_decodes_whole_records_or_raises(batch: list[eos.EosRecord]) -> None:
    data = encode_get_event(batch)
    boundaries = {0: 0}
    pos = 0
    for index, record in enumerate(batch):
        pos += len(encode_record(record))
        boundaries[pos] = index + 1
    for cut in range(len(data) + 1):
        if cut in boundaries:
            assert decode_get_event(data[:cut]) == tuple(batch[: boundaries[cut]])
        elif cut >= len(data) - 8:
            # Inside the terminator: a cut header (DecodeError) or, whole, every record.
            with contextlib.suppress(DecodeError):
                assert decode_get_event(data[:cut]) == tuple(batch)
        else:
            with pytest.raises(DecodeError):
                decode_get_event(data[:cut])


def test_unknown_types_are_preserved_in_order() -> None:
    batch = (
        UnknownRecord(type=0xC1B8, payload=b"\x01" * 30),
        CameraStatusChanged(status=0),
        UnknownRecord(type=0xDEADBEEF, payload=b""),
    )
    assert decode_get_event(encode_get_event(batch)) == batch


# -- SetDevicePropValueEx (by hand, vendors.md 1.5) ----------------------------------------------


def test_set_prop_value_ex_numeric_golden() -> None:
    data = bytes.fromhex("0c000000 03d10000 68000000")  # size 12, ISOSpeed, 0x68 in a slot
    assert encode_set_prop_value_ex(0xD103, 0x68) == data
    decoded = decode_set_prop_value_ex(data)
    assert decoded == SetPropValueEx(prop=0xD103, raw=bytes([0x68, 0, 0, 0]))
    assert decoded.value == 0x68
    assert encode_set_prop_value_ex(decoded) == data


def test_set_prop_value_ex_string_golden() -> None:
    # 8 + strlen + 1 = 12 for "abc" on Owner (0xD115).
    data = bytes.fromhex("0c000000 15d10000") + b"abc\x00"
    assert encode_set_prop_value_ex(0xD115, "abc") == data
    assert decode_set_prop_value_ex(data).value == "abc"


@pytest.mark.parametrize(
    "data",
    [b"", b"\x0c\x00\x00", u32(7) + u32(0xD103), u32(16) + u32(0xD103) + u32(1)],
)
def test_set_prop_value_ex_lying_size(data: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decode_set_prop_value_ex(data)
    assert info.value.offset == 0


def test_set_prop_value_ex_ignores_bytes_after_its_size() -> None:
    assert decode_set_prop_value_ex(u32(12) + u32(0xD103) + u32(0x48) + b"pad").raw == u32(0x48)


# -- GetObjectInfoEx -----------------------------------------------------------------------------

# libgphoto2 sample (comment above ptp_unpack_Canon_EOS_FE): one JPEG entry, the same object a
# normal GetObjectInfo reported as IMG_0199.JPG, 2217241 bytes, parent 0x92740000.
IMG_0199 = bytes.fromhex(
    "38000000"  # size of this entry
    "720c7492"  # OID
    "01000200"  # StorageID
    "01380000"  # OFC
    "00000000"  # ??
    "21000000"  # flags
    "19d52100"  # size
    "00007492"  # ? (= ParentObject of the GetObjectInfo)
    "700c7492"  # OID
    "494d475f303139392e4a5047"  # IMG_0199.JPG
    "00000000"
    "107c984d"  # time
)
# libgphoto2 sample (same comment, older dump): the MISC folder.
MISC = bytes.fromhex(
    "38000000"
    "000008a0"  # objectid
    "01000200"  # storageid
    "01300000"  # ofc (association)
    "0100" "0000"
    "11000000"
    "00000000"
    "00000080"
    "000008a0"
    "4d495343" "0000000000000000"  # MISC
    "00000000"
    "84bc7446"  # objecttime
)  # fmt: skip


def test_object_info_ex_golden() -> None:
    entries = decode_object_info_ex(u32(2) + IMG_0199 + MISC)
    assert entries == (
        FolderEntry(
            handle=0x92740C72,
            storage_id=0x00020001,
            format=0x3801,
            flags=0x21,
            size=2217241,
            parent=0x92740000,
            name="IMG_0199.JPG",
            time=0x4D987C10,
        ),
        FolderEntry(
            handle=0xA0080000,
            storage_id=0x00020001,
            format=0x3001,
            flags=0x11,
            size=0,
            parent=0x80000000,
            name="MISC",
            time=0x4674BC84,
        ),
    )


def test_object_info_ex_encodes_what_libgphoto2_reads() -> None:
    entry = decode_object_info_ex(u32(1) + IMG_0199)[0]
    data = encode_object_info_ex([entry])
    assert len(data) == 4 + 0x38
    assert decode_object_info_ex(data) == (entry,)
    # The fields libgphoto2 reads sit where the camera put them.
    # (count 0, entry size 4, handle 8, storage 12, format 16, flags 24, size 28, parent 32,
    # name 40, time 56)
    golden = u32(1) + IMG_0199
    for offset in (0, 4, 8, 12, 16, 24, 28, 32, 40, 44, 48, 52, 56):
        assert data[offset : offset + 4] == golden[offset : offset + 4], offset


def test_object_info_ex_lying_counts() -> None:
    with pytest.raises(DecodeError) as info:
        decode_object_info_ex(u32(1000) + IMG_0199)
    assert info.value.offset == 4
    short = u32(0x30) + IMG_0199[4:]
    with pytest.raises(DecodeError) as info:
        decode_object_info_ex(u32(1) + short)
    assert info.value.offset == 4
    past = u32(0x100) + IMG_0199[4:] + bytes(0x100 - 0x38 - 1)
    with pytest.raises(DecodeError):
        decode_object_info_ex(u32(1) + past)
    with pytest.raises(DecodeError):
        decode_object_info_ex(b"\x01\x00")


def test_object_info_ex_empty_folder() -> None:
    assert decode_object_info_ex(b"") == ()
    assert decode_object_info_ex(u32(0)) == ()
    assert encode_object_info_ex([]) == u32(0)


def test_object_info_ex_refuses_long_names() -> None:
    with pytest.raises(LocalProtocolError):
        encode_object_info_ex(
            [FolderEntry(handle=1, storage_id=1, format=1, size=1, name="X" * 16)]
        )


folder_entries = st.builds(
    FolderEntry,
    handle=u32s,
    storage_id=u32s,
    format=u16s,
    flags=st.integers(0, 255),
    size=u32s,
    parent=u32s,
    name=st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=15),
    time=u32s,
)


@given(st.lists(folder_entries, max_size=5))
def test_object_info_ex_round_trip(entries: list[FolderEntry]) -> None:
    assert decode_object_info_ex(encode_object_info_ex(entries)) == tuple(entries)


def _padded(entry: bytes, extra: bytes) -> bytes:
    """One entry that says it is ``len(extra)`` bytes longer, with those bytes after its 56."""
    return u32(len(entry) + len(extra)) + entry[4:] + extra


def test_folder_listing_golden_entry_by_entry() -> None:
    """The listing decodes each entry when asked, from the answer itself (every entry 56
    bytes: no copy), and gives handles without decoding the rest."""
    data = u32(2) + IMG_0199 + MISC
    listing = decode_folder_listing(data)
    assert isinstance(listing, FolderListing)
    assert len(listing) == 2
    assert [listing.handle(0), listing.handle(1), listing.handle(-1)] == [
        0x92740C72,
        0xA0080000,
        0xA0080000,
    ]
    assert tuple(listing) == decode_object_info_ex(data)
    assert listing[1] == listing[-1] == decode_object_info_ex(data)[1]
    assert listing[0].name == "IMG_0199.JPG"
    assert listing[0].time == 0x4D987C10
    assert listing[::-1] == tuple(reversed(decode_object_info_ex(data)))
    assert listing._data is data  # kept, not copied
    for bad in (2, -3):
        with pytest.raises(IndexError):
            listing[bad]
        with pytest.raises(IndexError):
            listing.handle(bad)
    assert len(decode_folder_listing(b"")) == len(decode_folder_listing(u32(0))) == 0


def test_folder_listing_keeps_52_bytes_of_an_entry_that_says_it_is_bigger() -> None:
    """An entry that claims more than its 56 bytes (ignored, as libgphoto2 does) keeps none of
    its extra bytes: the listing packs the known ones (a camera cannot make the listing hold
    more than 52 bytes an entry, whatever sizes it sends)."""
    big = _padded(IMG_0199, bytes(range(200)))
    data = u32(3) + big + MISC + _padded(MISC, b"\xff" * 9)
    listing = decode_folder_listing(data)
    assert len(listing._data) == 3 * 52
    golden = decode_object_info_ex(u32(2) + IMG_0199 + MISC)
    assert tuple(listing) == (*golden, golden[1])
    assert [listing.handle(i) for i in range(3)] == [0x92740C72, 0xA0080000, 0xA0080000]


def test_folder_listing_checks_every_size_before_any_entry() -> None:
    """A bad size anywhere is a DecodeError of the whole answer at that entry's offset (the
    entries after it cannot be found), raised before anything is listed: the EOS listing then
    lists the folder object by object."""
    bad = u32(0x30) + MISC[4:]
    data = u32(3) + IMG_0199 + MISC + bad
    with pytest.raises(DecodeError) as info:
        decode_folder_listing(data)
    assert info.value.offset == 4 + 2 * 0x38
    past = u32(0x38 + 1) + MISC[4:]
    with pytest.raises(DecodeError) as info:
        decode_folder_listing(u32(2) + _padded(IMG_0199, b"x") + past)
    assert info.value.offset == 4 + 0x39
    # The first entry's size leaves too few bytes for the second's (found by the fuzzer).
    data = u32(2) + _padded(IMG_0199, bytes(56 - 2)) + u32(0x38)[:2]
    with pytest.raises(DecodeError) as info:
        decode_folder_listing(data)
    assert info.value.offset == len(data) - 2


@given(st.lists(st.tuples(folder_entries, st.binary(max_size=70)), max_size=6))
def test_folder_listing_of_padded_entries_is_the_unpadded_one(
    padded: list[tuple[FolderEntry, bytes]],
) -> None:
    entries = [entry for entry, _ in padded]
    plain = encode_object_info_ex(entries)
    data = u32(len(entries)) + b"".join(
        _padded(plain[4 + 56 * i : 4 + 56 * (i + 1)], extra) for i, (_, extra) in enumerate(padded)
    )
    listing = decode_folder_listing(data)
    assert tuple(listing) == decode_object_info_ex(plain) == tuple(entries)
    assert [listing.handle(i) for i in range(len(listing))] == [e.handle for e in entries]


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_object_info_ex_any_bytes(data: bytes) -> None:
    error: DecodeError | None = None
    try:
        entries = decode_object_info_ex(data)
    except DecodeError as exc:
        error = exc
    if error is None:
        assert len(entries) <= len(data) // 56
    else:
        assert error.offset is not None
        assert 0 <= error.offset <= len(data)
