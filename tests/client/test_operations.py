"""The pure operation specs (ptpkit.client.operations): each builds the request a camera expects
and parses its answer, with no I/O, so any front end (the Camera, a future asyncio facade) runs
the same rules."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ptpkit.client import operations as ops
from ptpkit.codes.common import Op
from ptpkit.core.datasets import ObjectInfo, StorageInfo
from ptpkit.core.datatypes import DataType
from ptpkit.errors import DecodeError, PropertyError, PTPError, RemoteProtocolError


def uint32_array(*values: int) -> bytes:
    return struct.pack(f"<I{len(values)}I", len(values), *values)


def test_requests_carry_the_codes_and_parameters_of_iso_15740() -> None:
    assert (ops.get_device_info().code, ops.get_device_info().params) == (Op.GET_DEVICE_INFO, ())
    assert ops.open_session(7).params == (7,)
    assert ops.get_storage_info(0x00010001).params == (0x00010001,)
    handles = ops.get_object_handles(0x00010001, parent=ops.ROOT)
    assert (handles.code, handles.params) == (Op.GET_OBJECT_HANDLES, (0x00010001, 0, ops.ROOT))
    assert ops.get_object_handles().params == (ops.ALL_STORAGES, 0, 0)
    assert ops.delete_object(5).params == (5, 0)
    assert ops.initiate_capture().params == (0, 0)
    assert ops.get_device_prop_desc(0x500F).params == (0x500F,)
    for spec in (ops.get_device_info(), ops.get_object_info(3), ops.get_thumb(3)):
        assert spec.data is None


def test_an_empty_property_description_means_the_camera_lacks_it() -> None:
    """OK with no data (ptp-ip's X-T1, the virtual fuji-x): not a dataset cut short."""
    with pytest.raises(PropertyError, match="no property 0xD17C") as caught:
        ops.get_device_prop_desc(0xD17C).parse(b"", ())
    assert caught.value.code == 0x200A
    with pytest.raises(DecodeError):  # one byte is a dataset cut short
        ops.get_device_prop_desc(0xD17C).parse(b"\x7c", ())


def test_answers_are_parsed_strictly() -> None:
    assert ops.get_storage_ids().parse(uint32_array(0x00010001, 0x00020001), ()) == (
        0x00010001,
        0x00020001,
    )
    assert list(ops.get_object_handles().parse(uint32_array(1, 2, 3), ())) == [1, 2, 3]
    # A count the data cannot hold is the camera's fault, not a short list.
    with pytest.raises(DecodeError):
        ops.get_object_handles().parse(struct.pack("<II", 5, 1), ())
    info = StorageInfo(storage_type=3, description="card")
    assert ops.get_storage_info(1).parse(info.to_bytes(), ()).description == "card"
    assert ops.get_device_prop_value(0x500F, DataType.UINT16).parse(b"\x90\x01", ()) == 400
    assert ops.get_thumb(1).parse(b"\xff\xd8", ()) == b"\xff\xd8"


def test_datasets_to_send_are_encoded_when_the_spec_is_built() -> None:
    spec = ops.set_device_prop_value(0x500F, DataType.UINT16, 400)
    assert (spec.code, spec.params, spec.data) == (Op.SET_DEVICE_PROP_VALUE, (0x500F,), b"\x90\x01")
    with pytest.raises(PTPError):
        ops.set_device_prop_value(0x500F, DataType.UINT16, 70000)
    info = ObjectInfo(storage_id=1, object_format=0x3801, filename="A.JPG")
    sent = ops.send_object_info(1, ops.ROOT, info)
    assert sent.data == info.to_bytes()
    assert sent.parse(b"", (1, ops.ROOT, 42)) == 42
    with pytest.raises(RemoteProtocolError, match="new object's handle"):
        sent.parse(b"", (1,))


def test_specs_do_no_io() -> None:
    # Nothing in the module reaches a transport, the engine or a clock.
    source = Path(ops.__file__).read_text(encoding="utf-8")
    for forbidden in ("socket", "threading", "ptpkit.client.engine", "ptpkit.transports", "time"):
        assert f"import {forbidden}" not in source
        assert f"from {forbidden}" not in source
