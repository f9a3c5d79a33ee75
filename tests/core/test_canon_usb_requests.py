"""Canon's pre-PTP USB protocol, command payloads (ptpkit.core.canon_usb_requests).

Golden bytes are built from libgphoto2's code that sends each payload (camlibs/canon usb.c
canon_usb_get_file, canon_usb_get_thumbnail, canon_usb_get_dirents, canon_usb_list_all_dirs,
canon_usb_set_file_attributes, canon_usb_set_file_time, canon_usb_get_captured_image; canon.c
canon_int_delete_file, canon_int_directory_operations, canon_int_set_owner_name): each byte
below is the one that code writes.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptpkit.core import canon_usb as cu
from ptpkit.core import canon_usb_requests as cr
from ptpkit.errors import DecodeError, LocalProtocolError

IMG = "D:\\DCIM\\100CANON\\IMG_0001.JPG"


def test_get_file_golden_bytes() -> None:
    # usb.c canon_usb_get_file: u32 0, u32 xfer_length, the path and its NUL.
    golden = struct.pack("<II", 0, 0x1400) + IMG.encode() + b"\x00"
    request = cr.GetFileRequest(path=IMG, chunk_bytes=0x1400)
    assert cr.encode_get_file_request(request) == golden
    assert cr.decode_get_file_request(golden) == request
    # canon_usb_get_thumbnail: the same with 1.
    thumb = cr.GetFileRequest(path=IMG, thumbnail=True, chunk_bytes=0x3000)
    assert cr.encode_get_file_request(thumb)[:8] == struct.pack("<II", 1, 0x3000)
    # Class 6: no chunk size, two NULs after the path.
    new = cr.GetFileRequest(path=IMG, thumbnail=True, chunk_bytes=None)
    new_golden = struct.pack("<I", 1) + IMG.encode() + b"\x00\x00"
    assert cr.encode_get_file_request(new) == new_golden
    assert cr.decode_get_file_request(new_golden, new_protocol=True) == new


def test_get_file_refusals() -> None:
    good = cr.encode_get_file_request(cr.GetFileRequest(path=IMG))
    with pytest.raises(DecodeError):
        cr.decode_get_file_request(struct.pack("<II", 2, 0x1400) + b"D:\x00")  # flag 2
    with pytest.raises(DecodeError):
        cr.decode_get_file_request(good[:-1])  # no NUL
    with pytest.raises(DecodeError):
        cr.decode_get_file_request(good + b"junk")
    with pytest.raises(DecodeError):
        cr.decode_get_file_request(struct.pack("<II", 0, 0x1400) + b"\x00")  # empty path
    for cut in range(8):
        with pytest.raises(DecodeError):
            cr.decode_get_file_request(good[:cut])
    with pytest.raises(DecodeError) as long_path:
        cr.decode_get_file_request(struct.pack("<II", 0, 0) + b"A" * 5000 + b"\x00")
    assert long_path.value.offset == 8
    with pytest.raises(LocalProtocolError):
        cr.encode_get_file_request(cr.GetFileRequest(path="D:\\\x00"))
    with pytest.raises(LocalProtocolError):
        cr.encode_get_file_request(cr.GetFileRequest(path="D:\\\u20ac"))
    with pytest.raises(LocalProtocolError):
        cr.encode_get_file_request(cr.GetFileRequest(path="D:", chunk_bytes=-1))


def test_dirents_request_golden_bytes() -> None:
    # canon_usb_list_all_dirs: 0x0F, the drive, its NUL, two more zero bytes (strlen + 4).
    golden = b"\x0fD:\x00\x00\x00"
    request = cr.DirentsRequest(path="D:", depth=cr.RECURSE_ALL)
    assert cr.encode_dirents_request(request) == golden
    assert cr.decode_dirents_request(golden) == request
    # canon_usb_get_dirents: depth 0.
    one = b"\x00D:\\DCIM\x00\x00\x00"
    assert cr.decode_dirents_request(one) == cr.DirentsRequest(path="D:\\DCIM")
    assert cr.decode_dirents_request(b"\x00D:\\DCIM\x00") == cr.DirentsRequest(path="D:\\DCIM")
    with pytest.raises(DecodeError):
        cr.decode_dirents_request(b"\x00D:\\DCIM\x00\x00\x00\x00")  # three after the NUL
    with pytest.raises(DecodeError):
        cr.decode_dirents_request(b"\x00D:\\DCIM")
    with pytest.raises(DecodeError):
        cr.decode_dirents_request(b"")
    with pytest.raises(LocalProtocolError):
        cr.encode_dirents_request(cr.DirentsRequest(path="D:", depth=256))


def test_path_payloads() -> None:
    # MakeDir / RemoveDir / DiskInfo / SetOwner: the string and its NUL (canon.c).
    assert cr.encode_path("D:\\DCIM\\101CANON") == b"D:\\DCIM\\101CANON\x00"
    assert cr.decode_path(b"D:\\DCIM\\101CANON\x00") == "D:\\DCIM\\101CANON"
    assert cr.decode_path(b"D:") == "D:"  # class 6's DiskInfo: no NUL
    assert cr.decode_path(b"Ansel\x00") == "Ansel"
    # Class 6's DiskInfo2: the drive without its NUL (canon_int_get_disk_name_info).
    assert cr.encode_path("D:", nul=False) == b"D:"
    assert cr.decode_path(cr.encode_path("D:", nul=False)) == "D:"
    for bad in (b"", b"\x00", b"D:\x00x", b"D:\x00\x00\x00\x00"):
        with pytest.raises(DecodeError):
            cr.decode_path(bad)
    with pytest.raises(LocalProtocolError):
        cr.encode_path("")


def test_delete_request_golden_bytes() -> None:
    # canon.c canon_int_delete_file (old): folder NUL name NUL NUL.
    golden = b"D:\\DCIM\\100CANON\x00IMG_0001.JPG\x00\x00"
    request = cr.DeleteRequest(folder="D:\\DCIM\\100CANON", name="IMG_0001.JPG")
    assert cr.encode_delete_request(request) == golden
    assert cr.decode_delete_request(golden) == request
    assert cr.decode_delete_request(golden[:-1]) == request  # the second NUL may be missing
    with pytest.raises(DecodeError):
        cr.decode_delete_request(b"D:\\DCIM\\100CANON\x00\x00")  # no name
    with pytest.raises(DecodeError):
        cr.decode_delete_request(b"D:\\DCIM\\100CANON\x00IMG_0001.JPG")


def test_attributes_request_golden_bytes() -> None:
    # usb.c canon_usb_set_file_attributes: u32 attrs, folder NUL, name NUL NUL.
    golden = struct.pack("<I", 0x20) + b"D:\\DCIM\\100CANON\x00IMG_0001.JPG\x00\x00"
    request = cr.AttributesRequest(attrs=0x20, folder="D:\\DCIM\\100CANON", name="IMG_0001.JPG")
    assert cr.encode_attributes_request(request) == golden
    assert cr.decode_attributes_request(golden) == request
    with pytest.raises(DecodeError):
        cr.decode_attributes_request(golden[:3])


def test_file_time_request_golden_bytes() -> None:
    # usb.c canon_usb_set_file_time: u32 time, the path, its NUL, one more zero byte.
    golden = struct.pack("<I", 1_050_000_000) + IMG.encode() + b"\x00\x00"
    request = cr.FileTimeRequest(time=1_050_000_000, path=IMG)
    assert cr.encode_file_time_request(request) == golden
    assert cr.decode_file_time_request(golden) == request


def test_retrieve_request_golden_bytes() -> None:
    # usb.c canon_usb_get_captured_image: 0, xfer_length, CANON_DOWNLOAD_FULL (2), the key.
    golden = struct.pack("<IIII", 0, 0x1400, 2, 0x81818181)
    request = cr.RetrieveRequest(key=0x81818181, what=cr.DOWNLOAD_FULL, chunk_bytes=0x1400)
    assert cr.encode_retrieve_request(request) == golden
    assert cr.decode_retrieve_request(golden) == request
    with pytest.raises(DecodeError):
        cr.decode_retrieve_request(golden[:15])
    with pytest.raises(DecodeError):
        cr.decode_retrieve_request(struct.pack("<IIII", 1, 0x1400, 2, 7))


def test_capture_status_golden_bytes() -> None:
    first = cr.capture_status(cu.CAPTURE_FIRST)
    assert first.raw == bytes.fromhex("000000000a000000000000001c000000")
    assert cr.capture_status(cu.CAPTURE_DONE).raw[0x0C] == 0x1D
    failed = cr.capture_status(cu.CAPTURE_FAILED, failure=1)
    assert failed.raw == bytes.fromhex("000000000a000000000000000a00000001000000")
    assert (failed.status, failed.failure) == (0x0A, 1)
    with pytest.raises(LocalProtocolError):
        cr.capture_status(0x33)
    with pytest.raises(LocalProtocolError):
        cr.capture_status(cu.CAPTURE_DONE, failure=1)
    with pytest.raises(LocalProtocolError):
        cr.capture_status(cu.CAPTURE_FAILED)


def test_make_init_packet() -> None:
    packet = cr.make_init_packet(
        camera_id=bytes.fromhex("01061583"), id_vendor=0x04A9, id_product=0x306E
    )
    raw = cu.encode_init_packet(packet)
    assert raw[0x40:0x50] == bytes.fromhex("01061583a9046e30 00000000 ffffffff".replace(" ", ""))
    assert raw[:0x40] == bytes(0x40)
    assert raw[0x50:] == bytes(8)
    assert packet.xfer_length == 0x1400
    assert cr.make_init_packet(camera_id=bytes(4), id_vendor=1, id_product=2, xfer_word=0x3000)
    with pytest.raises(LocalProtocolError):
        cr.make_init_packet(camera_id=b"\x01", id_vendor=1, id_product=2)
    with pytest.raises(LocalProtocolError):
        cr.make_init_packet(camera_id=bytes(4), id_vendor=0x10000, id_product=2)


def test_delete2_request_golden_bytes() -> None:
    # canon.c canon_int_delete_file, class 6: folder "\\" name in a 0x30-byte field, then the
    # folder with a backslash at its end; the payload length stops there (0x30 + strlen + 1).
    golden = b"D:\\DCIM\\100CANON\\IMG_0001.JPG".ljust(0x30, b"\x00") + b"D:\\DCIM\\100CANON\\"
    request = cr.DeleteRequest(folder="D:\\DCIM\\100CANON", name="IMG_0001.JPG")
    assert cr.encode_delete2_request(request) == golden
    assert len(golden) == 0x30 + len("D:\\DCIM\\100CANON") + 1
    assert cr.decode_delete2_request(golden) == request
    assert cr.decode_delete2_request(golden + b"\x00\x00") == request  # the comment's 2 NULs
    # A folder given with its backslash encodes the same.
    with_sep = cr.DeleteRequest(folder="D:\\DCIM\\100CANON\\", name="IMG_0001.JPG")
    assert cr.encode_delete2_request(with_sep) == golden
    for bad in (
        golden[:0x30],  # no folder
        b"X" * 0x30 + b"D:\\",  # no NUL in the path field
        golden[:0x30] + b"D:\\OTHER\\",  # not the path's folder
        golden[:0x2F] + b"\x01" + golden[0x30:],  # garbage in the padding
        golden + b"\x00\x00\x00",  # more than two NULs at the end
    ):
        with pytest.raises(DecodeError):
            cr.decode_delete2_request(bad)
    with pytest.raises(LocalProtocolError):  # would not keep its NUL in the field
        cr.encode_delete2_request(cr.DeleteRequest(folder="D:\\" + "A" * 30, name="B" * 20))


@given(
    folder=st.text(alphabet="ABCDEFGHIJ0123456789_\\", min_size=1, max_size=20).filter(
        lambda f: f.strip("\\") != ""
    ),
    name=st.text(alphabet="ABCDEFGHIJ0123456789_.", min_size=1, max_size=12),
)
def test_delete2_round_trip(folder: str, name: str) -> None:
    request = cr.DeleteRequest(folder=folder.rstrip("\\"), name=name)
    assert cr.decode_delete2_request(cr.encode_delete2_request(request)) == request


_NAMES = st.text(
    alphabet=st.characters(min_codepoint=1, max_codepoint=0xFF), min_size=1, max_size=64
)


@given(path=_NAMES, thumbnail=st.booleans(), chunk=st.none() | st.integers(0, 0xFFFFFFFF))
def test_get_file_round_trip(path: str, thumbnail: bool, chunk: int | None) -> None:
    request = cr.GetFileRequest(path=path, thumbnail=thumbnail, chunk_bytes=chunk)
    data = cr.encode_get_file_request(request)
    assert cr.decode_get_file_request(data, new_protocol=chunk is None) == request


@given(folder=_NAMES, name=_NAMES, attrs=st.integers(0, 0xFFFFFFFF))
def test_two_name_payloads_round_trip(folder: str, name: str, attrs: int) -> None:
    delete = cr.DeleteRequest(folder=folder, name=name)
    assert cr.decode_delete_request(cr.encode_delete_request(delete)) == delete
    attributes = cr.AttributesRequest(attrs=attrs, folder=folder, name=name)
    assert cr.decode_attributes_request(cr.encode_attributes_request(attributes)) == attributes


@given(path=_NAMES, depth=st.integers(0, 255), when=st.integers(0, 0xFFFFFFFF))
def test_one_path_payloads_round_trip(path: str, depth: int, when: int) -> None:
    request = cr.DirentsRequest(path=path, depth=depth)
    assert cr.decode_dirents_request(cr.encode_dirents_request(request)) == request
    stamp = cr.FileTimeRequest(time=when, path=path)
    assert cr.decode_file_time_request(cr.encode_file_time_request(stamp)) == stamp
    assert cr.decode_path(cr.encode_path(path)) == path


def test_upload_golden_bytes() -> None:
    # usb.c canon_usb_put_file: the announcement (03 02 at 4, len1 + 0x40 at 6) and the block
    # (len1 at 0 and 0x48, 03 04, 02/03/11 at 0x40/0x44/0x47, serial, offset, length, path).
    path = "D:\\DCIM\\100CANON\\AUT_0001.JPG"
    data = bytes(range(16))
    len1 = len(data) + 0x1C + len(path) + 1
    announce = cr.encode_upload_announce(len1 + 0x40)
    assert announce == bytes(4) + b"\x03\x02" + struct.pack("<I", len1 + 0x40) + bytes(0x36)
    assert cr.decode_upload_announce(announce) == len1 + 0x40
    golden = bytearray(0x5C)
    struct.pack_into("<I", golden, 0, len1)
    golden[4:6] = b"\x03\x04"
    golden[0x40], golden[0x44], golden[0x47] = 2, 3, 0x11
    struct.pack_into("<II", golden, 0x48, len1, 7)
    struct.pack_into("<II", golden, 0x54, 0x2800, len(data))
    golden += path.encode() + b"\x00" + data
    block = cr.UploadBlock(path=path, offset=0x2800, data=data, serial=7)
    assert cr.encode_upload_block(block) == bytes(golden)
    assert len(golden) == len1 + 0x40
    assert cr.decode_upload_block(bytes(golden)) == block


def test_upload_refusals() -> None:
    good = cr.encode_upload_block(cr.UploadBlock(path="D:\\A.JPG", offset=0, data=b"xyz"))
    with pytest.raises(DecodeError):
        cr.decode_upload_block(good[:-1])  # one data byte missing
    with pytest.raises(DecodeError):
        cr.decode_upload_block(good + b"!")
    wrong_code = bytearray(good)
    wrong_code[5] = 2
    with pytest.raises(DecodeError):
        cr.decode_upload_block(bytes(wrong_code))
    for cut in range(0x5E):
        with pytest.raises(DecodeError):
            cr.decode_upload_block(good[:cut])
    with pytest.raises(DecodeError):
        cr.decode_upload_announce(bytes(0x40))
    with pytest.raises(DecodeError):
        cr.decode_upload_announce(cr.encode_upload_announce(0x100)[:0x3F])
    with pytest.raises(LocalProtocolError):
        cr.encode_upload_block(cr.UploadBlock(path="D:\\A", offset=0, data=bytes(0x1401)))


@given(
    path=_NAMES,
    offset=st.integers(0, 0xFFFFFFFF),
    data=st.binary(max_size=64),
    serial=st.integers(0, 0xFFFFFFFF),
)
def test_upload_round_trip(path: str, offset: int, data: bytes, serial: int) -> None:
    block = cr.UploadBlock(path=path, offset=offset, data=data, serial=serial)
    raw = cr.encode_upload_block(block)
    assert cr.decode_upload_block(raw) == block
    assert cr.decode_upload_announce(cr.encode_upload_announce(len(raw))) == len(raw)
