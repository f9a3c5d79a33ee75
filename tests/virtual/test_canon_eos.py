"""The virtual Canon EOS (``canon-eos``): EOS session start, GetEvent dump then deltas, and
SetDevicePropValueEx validated against the allowed list, through ptpkit's raw transactions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.codes.common import Op, Rc
from ptpkit.core.canon_eos import (
    AvailListChanged,
    PropValueChanged,
    decode_get_event,
    encode_set_prop_value_ex,
)
from ptpkit.core.datasets import DeviceInfo
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.canon_eos import (
    GET_EVENT,
    KEEP_DEVICE_ON,
    REMOTE_RELEASE,
    SET_DEVICE_PROP_VALUE_EX,
    SET_EVENT_MODE,
    SET_REMOTE_MODE,
    eos_state,
    personality,
)

ISO = 0xD103
APERTURE = 0xD101
ISO_100 = 0x48
ISO_800 = 0x60


@pytest.fixture
def eos() -> Iterator[Camera]:
    with (
        VirtualCamera(personality=personality()) as virtual,
        ptpkit.connect("virtual:", camera=virtual) as cam,
    ):
        yield cam


def get_event(cam: Camera) -> list[object]:
    result = cam.transaction(GET_EVENT)
    assert result.code == Rc.OK
    return list(decode_get_event(result.data))


def test_device_info_says_canon_eos(eos: Camera) -> None:
    info = DeviceInfo.from_bytes(eos.transaction(Op.GET_DEVICE_INFO).data)
    assert info.vendor_extension_id == 0x0000000B
    assert info.manufacturer.startswith("Canon")
    assert "EOS" in info.model
    for code in (REMOTE_RELEASE, SET_REMOTE_MODE, SET_EVENT_MODE, GET_EVENT):
        assert code in info.operations_supported
    assert ISO in info.device_properties_supported
    assert 0x500F not in info.device_properties_supported  # not the standard ISO


def test_session_start_then_full_dump_then_only_changes(eos: Camera) -> None:
    for code in (SET_REMOTE_MODE, SET_EVENT_MODE, KEEP_DEVICE_ON):
        assert eos.transaction(code, [1]).code == Rc.OK
    first = get_event(eos)
    values = {r.prop: r.value for r in first if isinstance(r, PropValueChanged)}
    lists = {r.prop: r.allowed for r in first if isinstance(r, AvailListChanged)}
    assert set(values) == set(lists) == {0xD101, 0xD102, 0xD103, 0xD104, 0xD109}
    assert values[ISO] == ISO_100
    assert ISO_800 in lists[ISO]
    assert get_event(eos) == []  # nothing changed since: only the terminator


def test_set_prop_value_ex_is_reported_by_the_next_get_event(eos: Camera) -> None:
    get_event(eos)
    result = eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=encode_set_prop_value_ex(ISO, ISO_800))
    assert result.code == Rc.OK
    assert get_event(eos) == [PropValueChanged.of(ISO, ISO_800)]
    assert get_event(eos) == []


def test_a_value_not_allowed_is_refused_and_not_reported(eos: Camera) -> None:
    get_event(eos)
    bad = encode_set_prop_value_ex(ISO, 0x01)
    assert eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=bad).code == Rc.INVALID_DEVICE_PROP_VALUE
    unknown = encode_set_prop_value_ex(0xD1FF, 1)
    assert (
        eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=unknown).code == Rc.DEVICE_PROP_NOT_SUPPORTED
    )
    short = b"\x04\x00"
    assert (
        eos.transaction(SET_DEVICE_PROP_VALUE_EX, data=short).code == Rc.INVALID_DEVICE_PROP_FORMAT
    )
    assert get_event(eos) == []


def test_standard_set_device_prop_value_on_an_eos_property(eos: Camera) -> None:
    # libgphoto2 2.5's --set-config iso= sends the standard SetDevicePropValue (its --debug log).
    get_event(eos)
    data = ISO_800.to_bytes(2, "little")
    assert eos.transaction(Op.SET_DEVICE_PROP_VALUE, [ISO], data=data).code == Rc.OK
    assert get_event(eos) == [PropValueChanged.of(ISO, ISO_800)]


def test_the_generic_camera_has_no_eos_operations() -> None:
    with VirtualCamera() as virtual:
        info = virtual.device_info()
    assert GET_EVENT not in info.operations_supported
    assert info.vendor_extension_id == 0x00000006


def test_each_connection_gets_its_own_dump_and_sees_the_others_changes() -> None:
    with VirtualCamera(personality=personality()) as virtual:
        with (
            ptpkit.connect("virtual:", camera=virtual) as first,
            ptpkit.connect("virtual:", camera=virtual) as second,
        ):
            get_event(first)
            get_event(second)
            data = encode_set_prop_value_ex(ISO, ISO_800)
            assert first.transaction(SET_DEVICE_PROP_VALUE_EX, data=data).code == Rc.OK
            assert get_event(second) == [PropValueChanged.of(ISO, ISO_800)]
        with ptpkit.connect("virtual:", camera=virtual) as later:
            dump = get_event(later)  # a new connection: the full dump, with the new value
            assert PropValueChanged.of(ISO, ISO_800) in dump
            assert any(isinstance(r, AvailListChanged) for r in dump)
        assert eos_state(virtual).current[ISO] == PropValueChanged.of(ISO, ISO_800).raw
