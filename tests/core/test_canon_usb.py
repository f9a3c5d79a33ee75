"""Canon's pre-PTP USB protocol (ptpkit.core.canon_usb): golden bytes, round trips, refusals.

Golden bytes: a PowerShot G3's IdentifyCamera command and reply are real bytes, captured by
canon-remote (its docs, index.rst "Internals"); where vendors.md section 5 quotes bytes (the
variable-reply header "02 03 84 24 19 00", the camera ids, the 300D's first interrupt message)
they are used as quoted. The other command blocks, fixed replies, directory listings and
image-ready messages are built here field by field from the documented layouts (vendors.md 5.4,
5.5, 5.7, 5.8, confirmed in libgphoto2 camlibs/canon usb.c and canon.c), not captured.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptpkit.core import canon_usb as cu
from ptpkit.core.canon_usb import Command, Dirent, Reply
from ptpkit.errors import DecodeError, LocalProtocolError

# -- the command block ---------------------------------------------------------------------------

# IdentifyCamera (cmd1 0x01, cmd2 0x12, cmd3 0x201), serial 0x11223344, no payload: built from
# the layout in vendors.md 5.4.
IDENTIFY_BLOCK = (
    bytes.fromhex("1000000001020000")
    + bytes(0x38)
    + bytes.fromhex("02000000010000121000000044332211")
)


# A PowerShot G3's IdentifyCamera exchange as captured by canon-remote (its docs, index.rst
# "Internals": the control write, then the bulk reads of 0x80 and 0x1C bytes). Real bytes.
G3_IDENTIFY_COMMAND = bytes.fromhex(
    "10 00 00 00 01 02 00 00  00 00 00 00 00 00 00 00"
    + " 00" * 48
    + "02 00 00 00 01 00 00 12  10 00 00 00 0c 00 12 00"
)
G3_IDENTIFY_REPLY = bytes.fromhex(
    "5c 00 00 00 01 03 00 00  00 00 00 00 00 00 00 00"
    + " 00" * 48
    + "02 00 00 00 01 00 00 22  5c 00 00 00 0c 00 12 00"
    + "00 00 00 00 01 06 15 83  00 02 00 01 43 61 6e 6f"
    + "6e 20 50 6f 77 65 72 53  68 6f 74 20 47 33 00 00"
    + "00 00 00 00 00 00 00 00  00 00 00 00 4b 69 72 69"
    + "6c 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00"
    + "00 00 00 00 00 00 00 00  00 00 00 00"
)


def test_command_block_golden_bytes_from_a_g3() -> None:
    command = cu.decode_command(G3_IDENTIFY_COMMAND)
    assert command == Command(cmd1=0x01, cmd2=0x12, cmd3=0x201, serial=0x0012000C)
    assert cu.encode_command(command) == G3_IDENTIFY_COMMAND


def test_identify_reply_golden_bytes_from_a_g3() -> None:
    assert len(G3_IDENTIFY_REPLY) == 0x9C
    assert cu.split_reply_read(0x9C) == (0x80, 0x1C)  # as canon-remote read it
    assert cu.reported_reply_bytes(G3_IDENTIFY_REPLY[:0x80]) == 0x9C
    reply = cu.decode_reply(G3_IDENTIFY_REPLY, reply_bytes=0x9C)
    assert (reply.cmd1, reply.cmd2, reply.serial, reply.status) == (0x01, 0x12, 0x0012000C, 0)
    identity = cu.decode_identity(reply.data)
    assert identity.model == "Canon PowerShot G3"
    assert identity.owner == "Kiril"
    assert identity.firmware_text == "1.0.2.0"
    assert identity.camera_id == bytes.fromhex("01061583")
    assert cu.encode_reply(reply) == G3_IDENTIFY_REPLY
    assert cu.encode_identity(identity) == reply.data


def test_command_block_golden_bytes() -> None:
    command = Command(cmd1=0x01, cmd2=0x12, cmd3=0x201, serial=0x11223344)
    assert cu.encode_command(command) == IDENTIFY_BLOCK
    assert cu.decode_command(IDENTIFY_BLOCK) == command


def test_command_block_with_payload_counts_it_in_both_length_words() -> None:
    payload = b"\x0fD:\\DCIM\x00\x00\x00"  # GetDirEntries: depth 0x0F, path, NULs
    command = Command(cmd1=0x0B, cmd2=0x11, cmd3=0x202, serial=7, flags=0x20, payload=payload)
    data = cu.encode_command(command)
    assert len(data) == 0x50 + len(payload)
    assert struct.unpack_from("<I", data, 0)[0] == 0x10 + len(payload)
    assert struct.unpack_from("<I", data, 0x48)[0] == 0x10 + len(payload)
    assert data[0x44] == 0x0B
    assert data[0x46] == 0x20
    assert data[0x47] == 0x11
    assert data[0x50:] == payload
    assert cu.decode_command(data) == command


@pytest.mark.parametrize(
    ("offset", "value", "where"),
    [(0, 0x11, 0), (0x48, 0x11, 0x48), (4, 0x203, 4), (0x40, 3, 0x40)],
)
def test_command_block_bad_words_are_refused_where_they_are(
    offset: int, value: int, where: int
) -> None:
    data = bytearray(IDENTIFY_BLOCK)
    struct.pack_into("<I", data, offset, value)
    with pytest.raises(DecodeError) as caught:
        cu.decode_command(bytes(data))
    assert caught.value.offset == where


def test_command_block_encoder_refuses_bad_fields() -> None:
    with pytest.raises(LocalProtocolError):
        cu.encode_command(Command(cmd1=0x100, cmd2=0x12, cmd3=0x201))
    with pytest.raises(LocalProtocolError):
        cu.encode_command(Command(cmd1=1, cmd2=0x12, cmd3=0x301))


_commands = st.builds(
    Command,
    cmd1=st.integers(0, 0xFF),
    cmd2=st.integers(0, 0xFF),
    cmd3=st.sampled_from([0x201, 0x202]),
    serial=st.integers(0, 0xFFFFFFFF),
    flags=st.integers(0, 0xFF),
    payload=st.binary(max_size=64),
)


@given(_commands)
def test_command_round_trip(command: Command) -> None:
    assert cu.decode_command(cu.encode_command(command)) == command


def test_command_truncated_at_every_offset_is_refused() -> None:
    data = cu.encode_command(Command(cmd1=5, cmd2=0x12, cmd3=0x201, payload=b"owner\x00"))
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            cu.decode_command(data[:cut])


# -- fixed replies -------------------------------------------------------------------------------

# GetTime's reply (0x60 bytes): header answered with cmd3 0x301 and cmd2 0x22, status 0, the time
# u32 @+4 after the status, then 8 bytes (vendors.md 5.5/5.6; built field by field).
GET_TIME_REPLY = (
    bytes.fromhex("2000000001030000")
    + bytes(0x38)
    + bytes.fromhex("02000000030000222000000005000000")
    + bytes.fromhex("0000000000ca9a3b")
    + bytes(8)
)


def test_fixed_reply_golden_bytes() -> None:
    reply = Reply(cmd1=0x03, cmd2=0x12, serial=5, data=bytes.fromhex("00ca9a3b") + bytes(8))
    assert len(GET_TIME_REPLY) == cu.lookup_command("GetTime").reply_bytes == 0x60
    assert cu.encode_reply(reply) == GET_TIME_REPLY
    assert cu.decode_reply(GET_TIME_REPLY, reply_bytes=0x60) == reply
    assert cu.decode_time(reply.data) == 1_000_000_000
    assert cu.encode_time(1_000_000_000) == reply.data


def test_fixed_reply_zero_first_length_is_accepted() -> None:
    # Some models put 0 in the first length word; the one at 0x48 is used (vendors.md 5.5).
    data = bytes(4) + GET_TIME_REPLY[4:]
    assert cu.decode_reply(data).cmd1 == 0x03


def test_fixed_reply_status_decodes_to_a_name() -> None:
    data = cu.encode_reply(Reply(cmd1=0x0D, cmd2=0x11, status=0x02000022))
    reply = cu.decode_reply(data, reply_bytes=0x54)
    assert not reply.ok
    assert cu.status_text(reply.status) == "file not found"
    assert cu.status_text(0x12345678) == "unknown status 0x12345678"


def test_fixed_reply_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(DecodeError, match="0x60"):
        cu.decode_reply(GET_TIME_REPLY[:-1], reply_bytes=0x60)
    with pytest.raises(DecodeError) as caught:
        cu.decode_reply(GET_TIME_REPLY + b"\x00")
    assert caught.value.offset == 0x48


def test_fixed_reply_needs_the_reply_cmd3() -> None:
    with pytest.raises(DecodeError) as caught:
        cu.decode_reply(IDENTIFY_BLOCK + bytes(4))
    assert caught.value.offset == 0x48  # a request's lengths (0x10) do not fit a reply's 4 more
    data = bytearray(GET_TIME_REPLY)
    struct.pack_into("<I", data, 4, 0x201)
    with pytest.raises(DecodeError) as caught:
        cu.decode_reply(bytes(data))
    assert caught.value.offset == 4


_replies = st.builds(
    Reply,
    cmd1=st.integers(0, 0xFF),
    cmd2=st.integers(0, 0xEF),
    serial=st.integers(0, 0xFFFFFFFF),
    flags=st.integers(0, 0xFF),
    status=st.integers(0, 0xFFFFFFFF),
    data=st.binary(max_size=64),
)


@given(_replies)
def test_reply_round_trip(reply: Reply) -> None:
    assert cu.decode_reply(cu.encode_reply(reply)) == reply


def test_reply_truncated_at_every_offset_is_refused() -> None:
    for cut in range(len(GET_TIME_REPLY)):
        with pytest.raises(DecodeError):
            cu.decode_reply(GET_TIME_REPLY[:cut])


def test_identity_golden_fields() -> None:
    # IdentifyCamera's data after the status: 4 bytes, firmware, model (32), owner (32).
    data = bytes(4) + bytes.fromhex("00020001") + b"Canon PowerShot G3".ljust(32, b"\0")
    data += b"Ansel".ljust(32, b"\0")
    identity = cu.decode_identity(data)
    assert identity.model == "Canon PowerShot G3"
    assert identity.owner == "Ansel"
    assert identity.firmware_text == "1.0.2.0"
    assert cu.encode_identity(identity) == data
    assert len(data) + 0x54 == cu.lookup_command("IdentifyCamera").reply_bytes
    with pytest.raises(DecodeError):
        cu.decode_identity(data[:-1])
    # Longer data: libgphoto2 logs it and reads the fields anyway.
    assert cu.decode_identity(data + b"\x00\x00") == identity
    # GetOwner2 (class 6): the owner alone after the status.
    assert cu.decode_owner(b"Ansel".ljust(32, b"\0")) == "Ansel"
    assert cu.encode_owner("Ansel") == b"Ansel".ljust(32, b"\0")
    assert len(cu.encode_owner("Ansel")) + 0x54 == cu.lookup_command("GetOwner2").reply_bytes
    with pytest.raises(LocalProtocolError):
        cu.encode_identity(cu.Identity(firmware=bytes(4), model="x" * 32, owner=""))


def test_disk_info_and_power_status() -> None:
    info = cu.decode_disk_info(struct.pack("<II", 128_000, 64_000))
    assert info == cu.DiskInfo(capacity=128_000, free=64_000)
    assert cu.encode_disk_info(info) == struct.pack("<II", 128_000, 64_000)
    power = cu.decode_power_status(bytes((6, 0, 0, 0x20)))
    assert power.ok
    assert power.on_battery
    assert cu.encode_power_status(power) == bytes((6, 0, 0, 0x20))
    assert not cu.decode_power_status(bytes(4)).on_battery
    with pytest.raises(DecodeError):
        cu.decode_disk_info(bytes(7))


def test_body_id() -> None:
    # usb.c canon_usb_get_body_id: le32 right after the status of the 0x58-byte reply.
    assert cu.decode_body_id(bytes.fromhex("d2029649")) == 0x499602D2
    assert cu.encode_body_id(0x499602D2) == bytes.fromhex("d2029649")
    assert len(cu.encode_body_id(1)) + 0x54 == cu.lookup_command("GetBodyID2").reply_bytes
    with pytest.raises(DecodeError):
        cu.decode_body_id(bytes(3))
    with pytest.raises(LocalProtocolError):
        cu.encode_body_id(-1)


def test_long_read_bytes_by_protocol() -> None:
    # usb.c canon_usb_long_dialogue: transfer-length reads, then (old protocol) the rest
    # rounded down to 0x40 while over 0x40, the true rest last; class 6 the rest at once.
    sizes: dict[bool, list[int]] = {}
    for new in (False, True):
        left, reads = 0x1400 * 2 + 0x1234, []
        while left:
            step = cu.long_read_bytes(left, 0x1400, new_protocol=new)
            reads.append(step)
            left -= step
        sizes[new] = reads
    assert sizes[False] == [0x1400, 0x1400, 0x1200, 0x34]
    assert sizes[True] == [0x1400, 0x1400, 0x1234]
    assert cu.long_read_bytes(0x40, 0x1400, new_protocol=False) == 0x40
    assert cu.long_read_bytes(0x3F, 0x1400, new_protocol=False) == 0x3F
    with pytest.raises(LocalProtocolError):
        cu.long_read_bytes(0, 0x1400, new_protocol=True)


def test_command_table_lookups_both_ways() -> None:
    spec = cu.lookup_command("GetDirEntries")
    assert (spec.cmd1, spec.cmd2, spec.cmd3, spec.reply_bytes) == (0x0B, 0x11, 0x202, None)
    assert cu.find_command(0x0B, 0x11, 0x202) == (spec,)
    # 0x0D/0x11/0x201 is DeleteFile on old classes, DiskInfo on new ones: both are returned.
    names = {s.name for s in cu.find_command(0x0D, 0x11, 0x201)}
    assert names == {"DeleteFile", "DiskInfo2"}
    assert cu.find_command(0x7F, 0x12, 0x201) == ()
    assert len({s.name for s in cu.COMMANDS}) == len(cu.COMMANDS)
    for s in cu.COMMANDS:
        assert (s.reply_bytes is None) or (s.cmd3 == 0x201 and s.reply_bytes >= 0x54)
    with pytest.raises(KeyError):
        cu.lookup_command("Nope")


def test_remote_control_payloads() -> None:
    # Release: command length 0x18 -> 8 payload bytes (u32 sub 4, u32 0).
    assert cu.encode_remote_payload(0x04) == bytes.fromhex("0400000000000000")
    # SetTransferMode(4, full image to PC): 0x1C -> 12 bytes.
    assert cu.encode_remote_payload(0x09, 4, cu.TRANSFER_FULL_TO_PC) == bytes.fromhex(
        "090000000400000002000000"
    )
    assert cu.remote_sub(0x0A).reply_extra == 0x4C
    with pytest.raises(LocalProtocolError):
        cu.encode_remote_payload(0x04, 1, 2)
    with pytest.raises(KeyError):
        cu.remote_sub(0x02)
    # Class 6 (RemoteControl2 0x25) appends one zero byte; SetExtParams (0x15) holds 5 bytes.
    assert cu.encode_remote_payload(0x04, new_protocol=True) == bytes.fromhex("040000000000000000")
    assert cu.encode_remote_payload(0x13) == bytes.fromhex("1300000000")
    assert cu.remote_reply_bytes(0x00) == 0x5C
    spec, word0, word1 = cu.decode_remote_payload(bytes.fromhex("090000000400000002000000"))
    assert (spec.name, word0, word1) == ("SetTransferMode", 4, 2)
    assert cu.decode_remote_payload(bytes.fromhex("040000000000000000"))[0].name == "Release"
    for bad in ("0200000000000000", "04000000000000", "0400000000000000000000"):
        with pytest.raises(DecodeError):
            cu.decode_remote_payload(bytes.fromhex(bad))


@given(st.sampled_from(cu.REMOTE_SUBS), st.integers(0, 0xFFFFFFFF), st.booleans())
def test_remote_payload_round_trip(spec: cu.RemoteSub, word0: int, new: bool) -> None:
    size = spec.command_length - 0x10
    word0 = word0 if size >= 8 else 0
    payload = cu.encode_remote_payload(spec.sub, word0, new_protocol=new)
    assert len(payload) == size + new
    assert cu.decode_remote_payload(payload) == (spec, word0, 0)


def test_reply_read_helpers() -> None:
    # usb.c canon_usb_dialogue_full: 0x9C is read as 0x80 then 0x1C; 0x40 in one read.
    assert cu.split_reply_read(0x9C) == (0x80, 0x1C)
    assert cu.split_reply_read(0x40) == (0x40, 0)
    first = GET_TIME_REPLY[:0x40]
    assert cu.reported_reply_bytes(first) == 0x60
    zero_first = bytes(4) + GET_TIME_REPLY[4:0x50]
    assert cu.reported_reply_bytes(zero_first) == 0x60
    assert cu.reported_reply_bytes(zero_first[:0x40]) is None
    with pytest.raises(DecodeError):
        cu.reported_reply_bytes(b"\x01\x00")


# -- variable replies ----------------------------------------------------------------------------


def test_variable_header_golden_bytes() -> None:
    # vendors.md 5.5: "... 02 03 84 24 19 00" -> 0x00192484 = 1,647,748 bytes follow.
    header = bytes(4) + bytes.fromhex("020384241900") + bytes(0x36)
    assert cu.decode_variable_header(header) == 1_647_748
    assert cu.encode_variable_header(1_647_748) == header
    for cut in range(0x40):
        with pytest.raises(DecodeError):
            cu.decode_variable_header(header[:cut])
    with pytest.raises(DecodeError):
        cu.decode_variable_header(header + b"\0")


# -- directory entries ---------------------------------------------------------------------------

# A listing of D:\DCIM\100CANON (vendors.md 5.7 layout, built field by field): the directory
# itself (0x80), a JPEG not yet downloaded (0x20), a protected movie, "..", the terminator.
ENTRIES = (
    Dirent(attrs=0x80, size=0, time=0x3C000000, name=b"D:\\DCIM\\100CANON"),
    Dirent(attrs=0x20, size=1_234_567, time=0x3C000100, name=b"IMG_0001.JPG"),
    Dirent(attrs=0x21, size=9_876_543, time=0x3C000200, name=b"MVI_0002.AVI"),
    Dirent(attrs=0x80, size=0, time=0, name=b".."),
)


def test_dirents_golden_bytes() -> None:
    data = cu.encode_dirents(ENTRIES)
    assert data[:10] == bytes.fromhex("8000000000000000003c")
    assert data[10:27] == b"D:\\DCIM\\100CANON\x00"
    assert data[27:37] == struct.pack("<HII", 0x20, 1_234_567, 0x3C000100)
    assert data.endswith(bytes(11))
    assert cu.decode_dirents(data) == ENTRIES
    assert ENTRIES[0].is_dir
    assert not ENTRIES[1].is_dir
    assert ENTRIES[3].is_parent


def test_dirents_stream_one_at_a_time_and_stop_at_the_terminator() -> None:
    data = cu.encode_dirents(ENTRIES) + b"garbage after the end"
    entries = cu.iter_dirents(data)
    assert next(entries) == ENTRIES[0]
    assert list(entries) == list(ENTRIES[1:])


def test_dirents_without_terminator_end_with_the_data() -> None:
    data = cu.encode_dirents(ENTRIES)[: -len(cu.DIRENT_TERMINATOR)]
    assert cu.decode_dirents(data) == ENTRIES
    assert cu.decode_dirents(b"") == ()


def test_dirents_cut_inside_an_entry_are_refused_with_the_offset() -> None:
    data = cu.encode_dirents(ENTRIES)
    boundaries = {0}
    for entry in ENTRIES:
        boundaries.add(max(boundaries) + 10 + len(entry.name) + 1)
    for cut in range(len(data)):
        if cut in boundaries:
            cu.decode_dirents(data[:cut])  # a whole number of entries
            continue
        with pytest.raises(DecodeError) as caught:
            cu.decode_dirents(data[:cut])
        assert caught.value.offset is not None
        assert 0 <= caught.value.offset <= cut


def _stream(data: bytes, sizes: list[int]) -> tuple[list[Dirent], int]:
    """Feed ``data`` in pieces of these sizes (the last repeated); the entries and the largest
    buffer the stream held between feeds."""
    stream = cu.DirentStream()
    entries: list[Dirent] = []
    pos, index, held = 0, 0, 0
    while pos < len(data):
        size = sizes[min(index, len(sizes) - 1)]
        entries += stream.feed(data[pos : pos + size])
        held = max(held, len(stream._buffer))
        pos, index = pos + size, index + 1
    stream.close()
    return entries, held


@pytest.mark.parametrize("size", [1, 2, 7, 10, 11, 64, 0x1400])
def test_dirent_stream_gives_the_same_entries_in_any_pieces(size: int) -> None:
    data = cu.encode_dirents(ENTRIES) + b"after the end"
    entries, held = _stream(data, [size])
    assert entries == list(ENTRIES)
    # Only the unfinished entry is kept between pieces.
    assert held < max(len(e.name) for e in ENTRIES) + 11 + size


def test_dirent_stream_of_a_large_card_stays_bounded() -> None:
    card = [
        Dirent(attrs=0x20, size=index, time=index + 1, name=b"IMG_%04d.JPG" % index)
        for index in range(5000)
    ]
    entries, held = _stream(cu.encode_dirents(card), [0x1400])
    assert entries == card
    assert held < 64


def test_dirent_stream_refuses_a_listing_cut_inside_an_entry() -> None:
    data = cu.encode_dirents(ENTRIES)[:-15]  # inside the ".." entry
    stream = cu.DirentStream()
    assert stream.feed(data) == list(ENTRIES[:3])
    with pytest.raises(DecodeError) as caught:
        stream.close()
    assert caught.value.offset == len(data) - 9  # the ".." entry's start, counted overall
    assert not stream.done


def test_dirent_stream_ignores_bytes_after_the_terminator() -> None:
    stream = cu.DirentStream()
    stream.feed(cu.encode_dirents(ENTRIES[:1]))
    assert stream.done
    assert stream.feed(b"\xff" * 50) == []
    stream.close()


@given(
    st.lists(
        st.builds(
            Dirent,
            attrs=st.integers(1, 0xFFFF),
            size=st.integers(0, 0xFFFFFFFF),
            time=st.integers(0, 0xFFFFFFFF),
            name=st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"_")),
        ),
        max_size=10,
    ),
    st.lists(st.integers(1, 50), min_size=1, max_size=20),
)
def test_dirent_stream_round_trip_in_random_pieces(entries: list[Dirent], sizes: list[int]) -> None:
    assert _stream(cu.encode_dirents(entries), sizes)[0] == entries


def test_dirent_name_too_long_is_refused_without_scanning_everything() -> None:
    data = struct.pack("<HII", 0x20, 1, 1) + b"A" * 5000 + b"\x00"
    with pytest.raises(DecodeError, match="longer than"):
        cu.decode_dirents(data)
    with pytest.raises(DecodeError, match="longer than"):
        cu.DirentStream().feed(data[:2000])  # refused before the NUL arrives


def test_dirent_encoder_refusals() -> None:
    with pytest.raises(LocalProtocolError):
        cu.encode_dirents([Dirent(attrs=0, size=0, time=0, name=b"x")])
    with pytest.raises(LocalProtocolError):
        cu.encode_dirents([Dirent(attrs=1, size=0, time=0, name=b"a\x00b")])


_dirents = st.lists(
    st.builds(
        Dirent,
        attrs=st.integers(1, 0xFFFF),
        size=st.integers(0, 0xFFFFFFFF),
        time=st.integers(0, 0xFFFFFFFF),
        name=st.binary(max_size=40).map(lambda b: b.replace(b"\x00", b"_")),
    ),
    max_size=10,
)


@given(_dirents)
def test_dirents_round_trip(entries: list[Dirent]) -> None:
    assert cu.decode_dirents(cu.encode_dirents(entries)) == tuple(entries)


# -- interrupt messages --------------------------------------------------------------------------


def test_wake_up_interrupt_is_kept_raw() -> None:
    # The 300D's message after init (vendors.md 5.3 step 6).
    data = bytes.fromhex("02000000200000001000000000000000")
    message = cu.decode_interrupt(data)
    assert message.kind == 0x20
    assert message.key is None
    assert message.raw == data
    assert cu.encode_interrupt(message) == data


def test_image_ready_fields() -> None:
    message = cu.image_ready(cu.InterruptType.FULL_IMAGE_READY, key=0x01020304, size=123_456)
    assert len(message.raw) == 0x17
    assert message.raw[4] == 0x0C
    assert message.raw[0x0C:0x10] == bytes.fromhex("04030201")
    assert message.raw[0x11:0x15] == struct.pack("<I", 123_456)
    assert cu.decode_interrupt(message.raw) == message
    # libgphoto2 reads the fields of a message of another length (it only logs it): a message
    # cut after the size still decodes, one cut inside the fields does not.
    assert cu.decode_interrupt(message.raw[:0x15]).size == 123_456
    for cut in range(0x15):
        with pytest.raises(DecodeError):
            cu.decode_interrupt(message.raw[:cut])


def test_capture_status_messages() -> None:
    done = bytearray(0x10)
    done[4], done[0x0C] = 0x0A, cu.CAPTURE_DONE
    assert cu.decode_interrupt(bytes(done)).status == 0x1D
    failed = bytearray(0x14)
    failed[4], failed[0x0C] = 0x0A, cu.CAPTURE_FAILED
    struct.pack_into("<I", failed, 0x10, 1)
    assert cu.decode_interrupt(bytes(failed)).failure == 1
    with pytest.raises(DecodeError):
        cu.decode_interrupt(bytes(failed[:0x13]))
    with pytest.raises(LocalProtocolError):
        cu.encode_interrupt(cu.InterruptMessage(raw=bytes(done), kind=0x0A, status=0x1C))


# -- wake-up -------------------------------------------------------------------------------------


def _init_packet(camera_id: bytes, xfer: int) -> bytes:
    data = bytearray(range(0x58))  # recognisable filler where nothing is documented
    data[0x40:0x44] = camera_id
    struct.pack_into("<HH", data, 0x44, 0x04A9, 0x306E)
    struct.pack_into("<I", data, 0x4C, xfer)
    return bytes(data)


def test_init_packet_and_the_write_built_from_it() -> None:
    raw = _init_packet(bytes.fromhex("01061583"), 0xFFFFFFFF)  # a G3's id (vendors.md 5.3)
    packet = cu.decode_init_packet(raw)
    assert packet.camera_id == bytes.fromhex("01061583")
    assert (packet.id_vendor, packet.id_product) == (0x04A9, 0x306E)
    assert packet.xfer_length == 0x1400
    assert cu.decode_init_packet(_init_packet(bytes(4), 0x3000)).xfer_length == 0x3000
    assert cu.encode_init_packet(packet) == raw
    block = cu.init_write_block(packet)
    assert len(block) == cu.INIT_WRITE_BYTES == 0x50
    assert block[0] == 0x10
    assert block[1:0x40] == bytes(0x3F)
    assert block[0x40:0x50] == raw[0x48:0x58]
    for cut in range(0x58):
        with pytest.raises(DecodeError):
            cu.decode_init_packet(raw[:cut])


def test_camstat_and_control_constants() -> None:
    assert cu.decode_camstat(b"A") is cu.CamStat.ACTIVE
    assert cu.decode_camstat(b"C") is cu.CamStat.WOKEN
    with pytest.raises(DecodeError):
        cu.decode_camstat(b"Z")
    with pytest.raises(DecodeError):
        cu.decode_camstat(b"")
    assert (cu.VALUE_CAMSTAT, cu.VALUE_INIT_READ, cu.VALUE_ACTIVE_READ) == (0x55, 0x01, 0x04)
    assert (cu.VALUE_INIT_WRITE, cu.VALUE_COMMAND) == (0x11, 0x10)
    assert cu.control_request(0x50) == 0x04
    assert cu.control_request(1) == 0x0C
    assert cu.init_bulk_is_tx(bytes(0x40) + b"Tx\x00\x00")
    assert not cu.init_bulk_is_tx(bytes(0x44))
    assert cu.init_bulk_more(b"\x04" + bytes(0x3F)) == 4
    with pytest.raises(DecodeError):
        cu.init_bulk_more(bytes(0x3F))


# -- any bytes -----------------------------------------------------------------------------------

_DECODERS = [
    cu.decode_command,
    cu.decode_reply,
    cu.decode_dirents,
    cu.decode_interrupt,
    cu.decode_init_packet,
    cu.decode_variable_header,
    cu.decode_camstat,
    cu.decode_identity,
    cu.decode_time,
    cu.decode_disk_info,
    cu.decode_power_status,
    cu.decode_owner,
    cu.decode_body_id,
    cu.init_bulk_more,
    cu.decode_remote_payload,
    cu.reported_reply_bytes,
]


@given(st.binary(max_size=300), st.sampled_from(_DECODERS))
def test_any_bytes_give_values_or_decode_error(data: bytes, decode: object) -> None:
    assert callable(decode)
    offset: int | None = None
    try:
        value = decode(data)
    except DecodeError as exc:
        offset = 0 if exc.offset is None else exc.offset
    else:
        assert value is not None
    assert offset is None or 0 <= offset <= len(data)


# -- embedded thumbnails (lgc canon.c canon_int_extract_jpeg_thumb) ----------------------------


def test_extract_jpeg_thumbnail_finds_the_embedded_jpeg() -> None:
    thumb = bytes.fromhex("ffd8ffdb0004aabbccddffd9")
    # A picture's head: SOI, an APP1 (EXIF) block that holds the thumbnail, more after it.
    head = bytes.fromhex("ffd8ffe10020") + b"Exif\x00\x00" + thumb + bytes.fromhex("ffdb0043")
    assert cu.extract_jpeg_thumbnail(head) == thumb
    # An A50's thumbnails start with DHT (FF C4) after the SOI.
    a50 = bytes.fromhex("ffd800ffd8ffc40001ffd9")
    assert cu.extract_jpeg_thumbnail(a50) == bytes.fromhex("ffd8ffc40001ffd9")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"RIFF....AVI ", "not JFIF"),
        (bytes.fromhex("ffd8ffe1000400"), "no embedded JPEG"),
        (bytes.fromhex("ffd8ffe1ffd8ffdb0000"), "no end"),
        (b"", "not JFIF"),
    ],
)
def test_extract_jpeg_thumbnail_refuses_data_without_one(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        cu.extract_jpeg_thumbnail(data)


@given(st.binary(max_size=256))
def test_extract_jpeg_thumbnail_gives_a_jpeg_or_a_decode_error(data: bytes) -> None:
    try:
        thumb = cu.extract_jpeg_thumbnail(data)
    except DecodeError:
        return
    assert thumb[:2] == b"\xff\xd8"
    assert thumb[-2:] == b"\xff\xd9"
    assert thumb in data


def _exif_head(thumb: bytes, order: str = "<") -> bytes:
    """A JPEG head whose EXIF block has IFD0 (one entry) and IFD1 pointing at ``thumb``."""
    mark = b"II" if order == "<" else b"MM"
    ifd0 = struct.pack(order + "H", 1) + struct.pack(order + "HHII", 0x0112, 3, 1, 1 << 16)
    ifd1_at = 8 + len(ifd0) + 4
    ifd1_entries = 2
    thumb_at = ifd1_at + 2 + 12 * ifd1_entries + 4
    ifd1 = (
        struct.pack(order + "H", ifd1_entries)
        + struct.pack(order + "HHII", 0x0201, 4, 1, thumb_at)
        + struct.pack(order + "HHII", 0x0202, 4, 1, len(thumb))
        + struct.pack(order + "I", 0)
    )
    tiff = mark + struct.pack(order + "HI", 42, 8) + ifd0 + struct.pack(order + "I", ifd1_at)
    tiff += ifd1 + thumb
    app1 = b"Exif\x00\x00" + tiff
    return b"\xff\xd8\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + b"\xff\xdb\x00\x04"


@pytest.mark.parametrize("order", ["<", ">"])
def test_extract_jpeg_thumbnail_reads_exif_ifd1_first(order: str) -> None:
    # A JFIF-wrapped thumbnail (FF D8 FF E0): the scan alone would not find it; libexif does.
    thumb = bytes.fromhex("ffd8ffe000104a464946000101") + bytes(8) + bytes.fromhex("ffd9")
    assert cu.extract_jpeg_thumbnail(_exif_head(thumb, order)) == thumb


def test_extract_jpeg_thumbnail_ignores_exif_pointing_outside_its_block() -> None:
    head = bytearray(_exif_head(bytes.fromhex("ffd8ffdb0000ffd9")))
    # JPEGInterchangeFormatLength far past the block: IFD1 is refused, the scan finds it.
    at = head.find(struct.pack("<HHI", 0x0202, 4, 1))
    struct.pack_into("<I", head, at + 8, 0xFFFFFF)
    assert cu.extract_jpeg_thumbnail(bytes(head)) == bytes.fromhex("ffd8ffdb0000ffd9")
