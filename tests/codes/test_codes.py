"""Tests for ptpkit.codes: the ptp.h code tables and vocabularies."""

from __future__ import annotations

import dataclasses

import pytest

from ptpkit.codes import (
    ALL_CODE_SETS,
    CANON_CODES,
    DATATYPE_NAMES,
    FUJI_CODES,
    MTP_CODES,
    NIKON_CODES,
    SONY_CODES,
    STANDARD,
    STANDARD_CODES,
    CodeSet,
    Kind,
    UnknownNameError,
    VendorId,
    Vocabulary,
    datatype_name,
    format_code,
    normalize_name,
    vocabulary_for,
)

CANON = Vocabulary([STANDARD_CODES, CANON_CODES])
NIKON = Vocabulary([STANDARD_CODES, NIKON_CODES])
MTP = Vocabulary([STANDARD_CODES, MTP_CODES])

ENTRIES = [
    pytest.param(code_set, kind, code, name, id=f"{code_set.name}-{kind.value}-{code:04X}")
    for code_set in ALL_CODE_SETS
    for kind in Kind
    for code, name in code_set.table(kind).items()
]
ALIASES = [
    pytest.param(code_set, kind, alias, code, id=f"{code_set.name}-{kind.value}-{alias}")
    for code_set in ALL_CODE_SETS
    for kind in Kind
    for alias, code in code_set.alias_table(kind).items()
]


# --- well-known facts --------------------------------------------------------


@pytest.mark.parametrize(
    ("vocabulary", "kind", "code", "name"),
    [
        (STANDARD, Kind.OPERATION, 0x1001, "GetDeviceInfo"),
        (STANDARD, Kind.OPERATION, 0x1002, "OpenSession"),
        (STANDARD, Kind.OPERATION, 0x101B, "GetPartialObject"),
        (STANDARD, Kind.OPERATION, 0x1025, "GetStream"),
        (STANDARD, Kind.RESPONSE, 0x2001, "OK"),
        (STANDARD, Kind.RESPONSE, 0x2019, "DeviceBusy"),
        (STANDARD, Kind.RESPONSE, 0x2023, "InvalidDataSet"),
        (STANDARD, Kind.EVENT, 0x4002, "ObjectAdded"),
        (STANDARD, Kind.EVENT, 0x400D, "CaptureComplete"),
        (STANDARD, Kind.PROPERTY, 0x5001, "BatteryLevel"),
        (STANDARD, Kind.PROPERTY, 0x500F, "ExposureIndex"),
        (STANDARD, Kind.PROPERTY, 0x501F, "CopyrightInfo"),
        (STANDARD, Kind.FORMAT, 0x3001, "Association"),
        (STANDARD, Kind.FORMAT, 0x3801, "EXIF_JPEG"),
        (STANDARD, Kind.FORMAT, 0x3810, "JPX"),
        (STANDARD, Kind.FORMAT, 0x3811, "DNG"),
        (CANON, Kind.OPERATION, 0x9116, "EOS_GetEvent"),
        (CANON, Kind.OPERATION, 0x910F, "EOS_RemoteRelease"),
        (CANON, Kind.OPERATION, 0x9013, "CheckEvent"),
        (CANON, Kind.EVENT, 0xC189, "EOS_PropValueChanged"),
        (CANON, Kind.PROPERTY, 0xD101, "EOS_Aperture"),
        (CANON, Kind.PROPERTY, 0xD01D, "Aperture"),
        (CANON, Kind.FORMAT, 0xB108, "CR3"),
        (NIKON, Kind.OPERATION, 0x90C7, "GetEvent"),
        (NIKON, Kind.OPERATION, 0x90C0, "InitiateCaptureRecInSdram"),
        (NIKON, Kind.RESPONSE, 0xA002, "OutOfFocus"),
        (NIKON, Kind.EVENT, 0xC101, "ObjectAddedInSDRAM"),
        (NIKON, Kind.PROPERTY, 0xD100, "ExposureTime"),
        (NIKON, Kind.PROPERTY, 0x1D000, "MovieProResToneMode"),
        (MTP, Kind.OPERATION, 0x9805, "GetObjPropList"),
        (MTP, Kind.OPERATION, 0x95C1, "Android_GetPartialObject64"),
        (MTP, Kind.RESPONSE, 0xA801, "Invalid_ObjectPropCode"),
        (MTP, Kind.EVENT, 0xC801, "ObjectPropChanged"),
        (MTP, Kind.PROPERTY, 0xD402, "DeviceFriendlyName"),
        (MTP, Kind.OBJECT_PROPERTY, 0xDC04, "ObjectSize"),
        (MTP, Kind.OBJECT_PROPERTY, 0xDC07, "ObjectFileName"),
        (MTP, Kind.FORMAT, 0xB982, "MP4"),
        (vocabulary_for(VendorId.FUJI), Kind.PROPERTY, 0xD001, "FilmSimulation"),
        (vocabulary_for(VendorId.FUJI), Kind.FORMAT, 0xB103, "RAF"),
        (vocabulary_for(VendorId.SONY), Kind.OPERATION, 0x9201, "SDIO_Connect"),
        (vocabulary_for(VendorId.SONY), Kind.EVENT, 0xC203, "DevicePropChanged"),
        (vocabulary_for(VendorId.SONY), Kind.PROPERTY, 0xD20D, "ShutterSpeed"),
    ],
)
def test_golden_names(vocabulary: Vocabulary, kind: Kind, code: int, name: str) -> None:
    assert vocabulary.name(kind, code) == name
    assert vocabulary.lookup(kind, code) == name
    resolved = vocabulary.code(kind, name)
    if resolved != code:
        # A vendor name that an earlier set (the standard) also uses: the bare name keeps the
        # earlier meaning, the vendor's code is reached by qualifying the name.
        assert vocabulary.lookup(kind, resolved) == name
        assert vocabulary.code(kind, f"{vocabulary.code_sets[-1].name}:{name}") == code


def test_convenience_methods() -> None:
    assert STANDARD.operation_name(0x1001) == "GetDeviceInfo"
    assert STANDARD.response_name(0x2001) == "OK"
    assert STANDARD.event_name(0x4002) == "ObjectAdded"
    assert STANDARD.property_name(0x5001) == "BatteryLevel"
    assert STANDARD.format_name(0x3801) == "EXIF_JPEG"
    assert MTP.object_property_name(0xDC04) == "ObjectSize"
    assert STANDARD.object_property_name(0xDC04) == "0xDC04"


# --- unknown codes and names -------------------------------------------------


@pytest.mark.parametrize("kind", list(Kind))
def test_unknown_code_renders_as_hex(kind: Kind) -> None:
    assert STANDARD.name(kind, 0x9999) == "0x9999"
    assert STANDARD.lookup(kind, 0x9999) is None


def test_hex_rendering_format() -> None:
    assert STANDARD.operation_name(0x0001) == "0x0001"
    assert STANDARD.operation_name(0xABCD) == "0xABCD"
    assert STANDARD.property_name(0x1D000) == "0x1D000"
    assert format_code(0xC0) == "0x00C0"


def test_unknown_name_raises() -> None:
    with pytest.raises(UnknownNameError) as info:
        STANDARD.code(Kind.OPERATION, "Foo")
    error = info.value
    assert isinstance(error, KeyError)
    assert str(error) == "unknown operation name 'Foo'"
    assert error.kind is Kind.OPERATION
    assert error.name == "Foo"
    with pytest.raises(UnknownNameError, match="unknown object property name 'Nope'"):
        MTP.code(Kind.OBJECT_PROPERTY, "Nope")


def test_vendor_name_unknown_without_vendor_set() -> None:
    with pytest.raises(UnknownNameError):
        STANDARD.code(Kind.OPERATION, "EOS_GetEvent")
    assert CANON.code(Kind.OPERATION, "EOS_GetEvent") == 0x9116


# --- name -> code ------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    ["GetDeviceInfo", "getdeviceinfo", "get-device-info", "GET_DEVICE_INFO", " get device info "],
)
def test_normalised_lookup(spelling: str) -> None:
    assert STANDARD.code(Kind.OPERATION, spelling) == 0x1001


def test_normalize_name() -> None:
    assert normalize_name("Get-Device_Info X") == "getdeviceinfox"


@pytest.mark.parametrize(
    ("text", "code"),
    [("0x1001", 0x1001), ("0X100a", 0x100A), ("4097", 0x1001), ("0x9999", 0x9999), ("0", 0)],
)
def test_code_literals(text: str, code: int) -> None:
    assert STANDARD.code(Kind.OPERATION, text) == code


def test_code_literal_out_of_range_raises() -> None:
    with pytest.raises(UnknownNameError):
        STANDARD.code(Kind.OPERATION, "0x100000000")


@pytest.mark.parametrize("code", [0x1001, 0x9999, 0x1D0FF, 0])
def test_name_code_round_trip_for_any_code(code: int) -> None:
    for vocabulary in (STANDARD, CANON, NIKON, MTP):
        assert vocabulary.code(Kind.PROPERTY, vocabulary.name(Kind.PROPERTY, code)) == code


@pytest.mark.parametrize(("code_set", "kind", "code", "name"), ENTRIES)
def test_every_entry_round_trips(code_set: CodeSet, kind: Kind, code: int, name: str) -> None:
    alone = Vocabulary([code_set])
    assert alone.name(kind, code) == name
    assert alone.code(kind, name) == code


@pytest.mark.parametrize(("code_set", "kind", "alias", "code"), ALIASES)
def test_aliases_resolve_but_are_not_primary(
    code_set: CodeSet, kind: Kind, alias: str, code: int
) -> None:
    alone = Vocabulary([code_set])
    assert alone.code(kind, alias) == code
    assert alone.name(kind, code) != alias


def test_known_aliases() -> None:
    assert NIKON.code(Kind.PROPERTY, "CaptureAreaCrop") == 0xD030
    assert NIKON.property_name(0xD030) == "ShootingMode"
    assert CANON.code(Kind.RESPONSE, "EOS_UnknownCommand") == 0xA001
    assert CANON.response_name(0xA001) == "UNKNOWN_COMMAND"
    assert NIKON.code(Kind.RESPONSE, "AdvancedTransferCancel") == 0xA022


def test_exact_spelling_beats_folded_clash() -> None:
    # Nikon's "ISOAuto" (0xD054) and "ISO_Auto" (0xD16A) fold to the same text.
    assert NIKON.code(Kind.PROPERTY, "ISOAuto") == 0xD054
    assert NIKON.code(Kind.PROPERTY, "ISO_Auto") == 0xD16A
    assert NIKON.code(Kind.PROPERTY, "iso-auto") == 0xD054


# --- table integrity ---------------------------------------------------------


@pytest.mark.parametrize("code_set", ALL_CODE_SETS, ids=lambda s: s.name)
def test_no_duplicate_names_inside_a_set(code_set: CodeSet) -> None:
    for kind in Kind:
        names = list(code_set.table(kind).values())
        assert len(names) == len(set(names)), kind
        assert not set(code_set.alias_table(kind)) & set(names), kind


@pytest.mark.parametrize("code_set", ALL_CODE_SETS, ids=lambda s: s.name)
def test_tables_are_sorted_read_only_and_in_range(code_set: CodeSet) -> None:
    for kind in Kind:
        table = code_set.table(kind)
        assert list(table) == sorted(table)
        with pytest.raises(TypeError):
            table[0x1234] = "X"  # type: ignore[index]
        for code, name in table.items():
            assert name
            assert name.strip() == name
            # Only Nikon's newer Z properties leave the 16-bit code space.
            if code > 0xFFFF:
                assert code_set is NIKON_CODES
                assert kind is Kind.PROPERTY


def test_sets_hold_their_own_ranges() -> None:
    assert all(0x1000 <= c <= 0x1FFF for c in STANDARD_CODES.operations)
    assert all(0x2000 <= c <= 0x2FFF for c in STANDARD_CODES.responses)
    assert all(0x4000 <= c <= 0x4FFF for c in STANDARD_CODES.events)
    assert all(0x5000 <= c <= 0x5FFF for c in STANDARD_CODES.properties)
    assert all(0x3000 <= c <= 0x3FFF for c in STANDARD_CODES.formats)
    for code_set in (CANON_CODES, NIKON_CODES, FUJI_CODES, SONY_CODES):
        assert all(0x9000 <= c <= 0x9FFF for c in code_set.operations), code_set.name
        assert all(0xC000 <= c <= 0xCFFF for c in code_set.events), code_set.name
    assert all(0xDC00 <= c <= 0xDEFF or c in (0xD901, 0xB104) for c in MTP_CODES.object_properties)


def test_sizes_match_ptp_h() -> None:
    assert len(STANDARD_CODES.operations) == 38  # 0x1000..0x1025
    assert len(STANDARD_CODES.responses) == 36  # 0x2000..0x2023
    assert len(STANDARD_CODES.events) == 15  # 0x4000..0x400E
    assert len(CANON_CODES.properties) > 300
    assert len(NIKON_CODES.properties) > 500
    assert len(CANON_CODES) == sum(len(CANON_CODES.table(kind)) for kind in Kind)


def test_code_set_validation() -> None:
    with pytest.raises(ValueError, match="name 'A'"):
        CodeSet(name="bad", label="Bad", operations={0x9001: "A", 0x9002: "A"})
    with pytest.raises(ValueError, match="no primary name"):
        CodeSet(name="bad", label="Bad", aliases={Kind.OPERATION: {"B": 0x9001}})
    with pytest.raises(ValueError, match="already a primary name"):
        CodeSet(
            name="bad",
            label="Bad",
            operations={0x9001: "A", 0x9002: "B"},
            aliases={Kind.OPERATION: {"B": 0x9001}},
        )
    with pytest.raises(ValueError, match="not an integer"):
        CodeSet(name="bad", label="Bad", events={-1: "A"})


def test_code_set_is_frozen_and_copies_input() -> None:
    source = {0x9001: "A"}
    code_set = CodeSet(name="mine", label="Mine", operations=source)
    source[0x9002] = "B"
    assert dict(code_set.operations) == {0x9001: "A"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        code_set.name = "other"  # type: ignore[misc]
    assert code_set.table(Kind.EVENT) == {}


# --- vocabularies and vendor contexts ----------------------------------------


def test_vendor_context_separation() -> None:
    assert CANON.operation_name(0x9116) == "EOS_GetEvent"
    assert NIKON.operation_name(0x9116) != CANON.operation_name(0x9116)
    assert NIKON.operation_name(0x9116) == "0x9116"
    assert CANON.operation_name(0x90C7) == "0x90C7"
    assert NIKON.operation_name(0x90C7) == "GetEvent"
    # Same code, different vendors, different meaning.
    assert CANON.operation_name(0x9006) == "GetObjectHandleByName"
    assert NIKON.operation_name(0x9006) == "GetProfileAllData"


def test_vocabulary_for_vendor_ids() -> None:
    canon = vocabulary_for(0xB)
    assert CANON_CODES in canon.code_sets
    assert MTP_CODES not in canon.code_sets
    assert canon.operation_name(0x9116) == "EOS_GetEvent"
    assert canon.code_sets[0] is STANDARD_CODES

    mtp = vocabulary_for(0xFFFFFFFF)
    assert MTP_CODES in mtp.code_sets
    assert mtp.operation_name(0x9805) == "GetObjPropList"
    assert MTP_CODES in vocabulary_for(VendorId.MICROSOFT).code_sets

    assert NIKON_CODES in vocabulary_for(VendorId.NIKON).code_sets
    assert FUJI_CODES in vocabulary_for(VendorId.FUJI).code_sets
    assert SONY_CODES in vocabulary_for(VendorId.SONY).code_sets
    assert vocabulary_for(VendorId.PANASONIC).code_sets == (STANDARD_CODES,)


def test_vocabulary_for_mtp_flag_and_order() -> None:
    both = vocabulary_for(VendorId.CANON, mtp=True)
    assert both.code_sets == (STANDARD_CODES, MTP_CODES, CANON_CODES)
    # 0x9101 is MTP's WMDRMPD_GetSecureTimeChallenge and Canon's EOS_GetStorageIDs:
    # the vendor set comes later and wins.
    assert both.operation_name(0x9101) == "EOS_GetStorageIDs"
    assert MTP.operation_name(0x9101) == "WMDRMPD_GetSecureTimeChallenge"


def test_vocabulary_for_extra_sets_win_and_cache() -> None:
    mine = CodeSet(name="mine", label="Mine", operations={0x9116: "MyGetEvent"})
    vocabulary = vocabulary_for(VendorId.CANON, extra=[mine])
    assert vocabulary.code_sets[-1] is mine
    assert vocabulary.operation_name(0x9116) == "MyGetEvent"
    assert vocabulary.code(Kind.OPERATION, "MyGetEvent") == 0x9116
    assert vocabulary_for(VendorId.CANON) is vocabulary_for(VendorId.CANON)
    assert vocabulary_for(VendorId.CANON).operation_name(0x9116) == "EOS_GetEvent"


def test_earlier_set_wins_for_names_and_qualified_lookup() -> None:
    sony = vocabulary_for(VendorId.SONY)
    assert sony.code(Kind.EVENT, "ObjectAdded") == 0x4002
    assert sony.code(Kind.EVENT, "standard:ObjectAdded") == 0x4002
    assert sony.code(Kind.EVENT, "Sony:object-added") == 0xC201
    assert sony.event_name(0x4002) == "ObjectAdded"
    with pytest.raises(UnknownNameError):
        sony.code(Kind.EVENT, "canon:EOS_PropValueChanged")


def test_with_sets_returns_new_vocabulary() -> None:
    bigger = STANDARD.with_sets(NIKON_CODES)
    assert bigger.code_sets == (STANDARD_CODES, NIKON_CODES)
    assert STANDARD.code_sets == (STANDARD_CODES,)
    assert bigger.operation_name(0x90C7) == "GetEvent"
    assert STANDARD.operation_name(0x90C7) == "0x90C7"


def test_names_is_merged_copy() -> None:
    merged = CANON.names(Kind.OPERATION)
    assert merged[0x1001] == "GetDeviceInfo"
    assert merged[0x9116] == "EOS_GetEvent"
    assert len(merged) == len(STANDARD_CODES.operations) + len(CANON_CODES.operations)
    merged[0x1001] = "changed"
    assert CANON.operation_name(0x1001) == "GetDeviceInfo"


def test_vocabulary_rejects_non_code_sets() -> None:
    with pytest.raises(TypeError):
        Vocabulary([STANDARD_CODES, "canon"])  # type: ignore[list-item]


# --- datatypes and vendor IDs ------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0x0000, "undef"),
        (0x0001, "int8"),
        (0x0004, "uint16"),
        (0x000A, "uint128"),
        (0x4001, "aint8"),
        (0x4006, "auint32"),
        (0x400A, "auint128"),
        (0xFFFF, "str"),
        (0x1234, "0x1234"),
    ],
)
def test_datatype_names(code: int, name: str) -> None:
    assert datatype_name(code) == name


def test_datatype_table_complete() -> None:
    assert len(DATATYPE_NAMES) == 22
    for code in range(0x1, 0xB):
        assert DATATYPE_NAMES[code | 0x4000] == "a" + DATATYPE_NAMES[code]


def test_vendor_ids() -> None:
    assert VendorId.EASTMAN_KODAK.value == 0x1
    assert VendorId.MICROSOFT.value == 0x6
    assert VendorId.NIKON.value == 0xA
    assert VendorId.CANON.value == 0xB
    assert VendorId.FUJI.value == 0xE
    assert VendorId.SONY.value == 0x11
    assert VendorId.PANASONIC.value == 0x1C
    assert VendorId.MTP.value == 0xFFFFFFFF
    assert VendorId(0xB) is VendorId.CANON
    assert VendorId.GP_OLYMPUS.synthetic
    assert not VendorId.CANON.synthetic


def test_common_constants_agree_with_the_tables() -> None:
    from ptpkit.codes.common import Dpc, Ec, Ofc, Op, Opc, Rc

    # Where our constant's spelling differs from ptp.h's name (besides case and underscores).
    spelled_differently = {
        "SESSIONALREADYOPEN": "SessionAlreadyOpened",
        "TRANSACTIONCANCELLED": "TransactionCanceled",
        "ANDROIDGETPARTIALOBJECT64": "Android_GetPartialObject64",
    }
    everything = vocabulary_for(VendorId.MTP)
    for enum_class, kind in (
        (Op, Kind.OPERATION),
        (Rc, Kind.RESPONSE),
        (Ec, Kind.EVENT),
        (Dpc, Kind.PROPERTY),
        (Opc, Kind.OBJECT_PROPERTY),
        (Ofc, Kind.FORMAT),
    ):
        for member in enum_class:
            name = everything.lookup(kind, member.value)
            assert name is not None, f"{enum_class.__name__}.{member.name} is not in the tables"
            bare = member.name.replace("_", "")
            expected = spelled_differently.get(bare, bare)
            assert normalize_name(expected) == normalize_name(name), (member, name)
