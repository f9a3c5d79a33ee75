"""Fujifilm's 0xD212 change list and 0x902B property list: golden bytes from the Go ptpip tool's
README (an X-T1 on firmware 5.51: ``opreq 0x902B`` and ``opreq 0x1015 0xD212``), round trips,
and bounded failures."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptpkit.core.datasets import DevicePropDesc, EnumerationForm, GetSet
from ptpkit.core.datatypes import DataType
from ptpkit.core.fuji_datasets import (
    StateEntry,
    decode_prop_desc_list,
    decode_state_list,
    encode_prop_desc_list,
    encode_state_list,
)
from ptpkit.errors import DecodeError, RemoteProtocolError


def _hexdump(text: str) -> bytes:
    """The data of a hexdump -C dump (offset column and ASCII column dropped)."""
    out = bytearray()
    for line in text.strip().splitlines():
        out += bytes.fromhex(line[10:58].replace(" ", ""))
    return bytes(out)


# The seed's `opreq 0x902B` data packet (its 12-byte container header removed below).
SEED_902B = _hexdump("""
00000000  64 01 00 00 02 00 2b 90  07 00 00 00 08 00 00 00  |d.....+.........|
00000010  16 00 00 00 12 50 04 00  01 00 00 00 00 02 03 00  |.....P..........|
00000020  00 00 02 00 04 00 14 00  00 00 0c 50 04 00 01 02  |...........P....|
00000030  00 09 80 02 02 00 09 80  0a 80 24 00 00 00 05 50  |..........$....P|
00000040  04 00 01 02 00 02 00 02  0a 00 02 00 04 00 06 80  |................|
00000050  01 80 02 80 03 80 06 00  0a 80 0b 80 0c 80 36 00  |..............6.|
00000060  00 00 10 50 03 00 01 00  00 00 00 02 13 00 48 f4  |...P..........H.|
00000070  95 f5 e3 f6 30 f8 7d f9  cb fa 18 fc 65 fd b3 fe  |....0.}.....e...|
00000080  00 00 4d 01 9b 02 e8 03  35 05 83 06 d0 07 1d 09  |..M.....5.......|
00000090  6b 0a b8 0b 26 00 00 00  01 d0 04 00 01 01 00 02  |k...&...........|
000000a0  00 02 0b 00 01 00 02 00  03 00 04 00 05 00 06 00  |................|
000000b0  07 00 08 00 09 00 0a 00  0b 00 78 00 00 00 2a d0  |..........x...*.|
000000c0  06 00 01 ff ff ff ff 00  19 00 80 02 19 00 90 01  |................|
000000d0  00 80 20 03 00 80 40 06  00 80 80 0c 00 80 00 19  |.. ...@.........|
000000e0  00 80 64 00 00 40 c8 00  00 00 fa 00 00 00 40 01  |..d..@........@.|
000000f0  00 00 90 01 00 00 f4 01  00 00 80 02 00 00 20 03  |.............. .|
00000100  00 00 e8 03 00 00 e2 04  00 00 40 06 00 00 d0 07  |..........@.....|
00000110  00 00 c4 09 00 00 80 0c  00 00 a0 0f 00 00 88 13  |................|
00000120  00 00 00 19 00 00 00 32  00 40 00 64 00 40 00 c8  |.......2.@.d.@..|
00000130  00 40 14 00 00 00 19 d0  04 00 01 01 00 01 00 02  |.@..............|
00000140  02 00 00 00 01 00 1e 00  00 00 7c d1 06 00 01 00  |..........|.....|
00000150  00 00 00 04 04 02 03 01  00 00 00 00 07 07 09 10  |................|
00000160  01 00 00 00                                       |....|
""")[12:]

# The seed's `opreq 0x1015 0xD212` data packet, without its container header.
SEED_D212 = _hexdump("""
00000000  74 00 00 00 02 00 15 10  06 00 00 00 11 00 01 50  |t..............P|
00000010  03 00 00 00 41 d2 0a 00  00 00 05 50 02 00 00 00  |....A......P....|
00000020  0a 50 01 80 00 00 0c 50  0a 80 00 00 0e 50 02 00  |.P.....P.....P..|
00000030  00 00 10 50 00 00 00 00  12 50 00 00 00 00 01 d0  |...P.....P......|
00000040  02 00 00 00 18 d0 04 00  00 00 28 d0 00 00 00 00  |..........(.....|
00000050  2a d0 00 19 00 80 7c d1  04 04 02 03 09 d2 00 00  |*.....|.........|
00000060  00 00 1b d2 00 00 00 00  29 d2 97 05 00 00 2a d2  |........).....*.|
00000070  8f 06 00 00                                       |....|
""")[12:]


def test_seed_902b_golden() -> None:
    descs = decode_prop_desc_list(SEED_902B)
    assert [d.code for d in descs] == [
        0x5012, 0x500C, 0x5005, 0x5010, 0xD001, 0xD02A, 0xD019, 0xD17C,
    ]  # fmt: skip
    delay = descs[0]
    assert delay.datatype is DataType.UINT16
    assert delay.get_set == GetSet.GET_SET
    assert delay.form == EnumerationForm(values=(0, 2, 4))
    iso = descs[5]
    assert iso.datatype is DataType.UINT32
    assert iso.factory_default == 0xFFFFFFFF
    assert iso.current == 0x80001900
    assert isinstance(iso.form, EnumerationForm)
    assert len(iso.form.values) == 25
    assert iso.form.values[:6] == (
        0x80000190, 0x80000320, 0x80000640, 0x80000C80, 0x80001900, 0x40000064,
    )  # fmt: skip
    assert iso.form.values[-1] == 0x4000C800
    bias = descs[3]
    assert bias.datatype is DataType.INT16
    assert isinstance(bias.form, EnumerationForm)
    assert bias.form.values[0] == -3000
    assert bias.form.values[-1] == 3000
    film = descs[4]
    assert film.current == 2  # Velvia
    # Encoding what was decoded gives the camera's bytes back.
    assert encode_prop_desc_list(descs) == SEED_902B


def test_seed_d212_golden() -> None:
    entries = decode_state_list(SEED_D212)
    assert len(entries) == 17
    assert entries[0] == StateEntry(code=0x5001, value=3)
    by_code = {e.code: e.value for e in entries}
    assert by_code[0xD02A] == 0x80001900  # ISO S 6400
    assert by_code[0x500E] == 2  # program AE
    assert by_code[0xD17C] == 0x03020404
    assert by_code[0xD229] == 0x597
    assert encode_state_list(entries) == SEED_D212


def test_empty_state_list_is_no_entries() -> None:
    assert decode_state_list(b"") == ()
    assert decode_state_list(b"\x00\x00") == ()


def test_short_state_list_is_a_decode_error() -> None:
    with pytest.raises(DecodeError) as info:
        decode_state_list(b"\x02\x00" + bytes(6))
    assert "2 entries" in str(info.value)


def test_prop_desc_list_bounds() -> None:
    with pytest.raises(DecodeError):
        decode_prop_desc_list(b"\xff\xff\xff\xff")  # a count no data can hold
    one = DevicePropDesc(code=0xD001, datatype=DataType.UINT16, current=1, factory_default=1)
    data = bytearray(encode_prop_desc_list([one]))
    data[4] = 200  # the length claims more than there is
    with pytest.raises(DecodeError):
        decode_prop_desc_list(bytes(data))


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)), max_size=40))
def test_state_list_round_trip(pairs: list[tuple[int, int]]) -> None:
    entries = tuple(StateEntry(code=c, value=v) for c, v in pairs)
    assert decode_state_list(encode_state_list(entries)) == entries


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_fail_cleanly(data: bytes) -> None:
    for decode in (decode_state_list, decode_prop_desc_list):
        # Decoded, or RemoteProtocolError (DecodeError): nothing else escapes.
        with contextlib.suppress(RemoteProtocolError):
            decode(data)
