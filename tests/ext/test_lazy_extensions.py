"""Built-in vendor extensions registered before their modules load (ptpkit.ext.lazy.LazyExtension,
start-up time): the registry's stand-ins answer ``matches()`` as the real classes do, a camera
gets the real classes, and every public name still gives them."""

from __future__ import annotations

import pytest

import ptpkit.ext
from ptpkit.core.datasets import DeviceInfo
from ptpkit.ext import base, vendors
from ptpkit.ext.canon_eos import CanonEosExtension
from ptpkit.ext.fujifilm import FujifilmExtension
from ptpkit.ext.lazy import LazyExtension
from ptpkit.ext.nikon import NikonExtension
from ptpkit.ext.sony import SonyExtension

EOS_OPS = (0x1001, 0x1002, 0x9101, 0x9116)
DEVICES = [
    DeviceInfo(vendor_extension_id=0xB, manufacturer="Canon Inc.", operations_supported=EOS_OPS),
    DeviceInfo(vendor_extension_id=6, manufacturer="Canon Inc.", operations_supported=EOS_OPS),
    DeviceInfo(vendor_extension_id=0xB, manufacturer="Canon Inc.", operations_supported=(0x9101,)),
    DeviceInfo(vendor_extension_id=0xE, manufacturer="FUJIFILM"),
    DeviceInfo(vendor_extension_id=6, manufacturer="Fuji Photo Film Co., Ltd."),
    DeviceInfo(vendor_extension_id=0xA, manufacturer="Nikon Corporation"),
    DeviceInfo(vendor_extension_id=6, manufacturer="NIKON"),
    DeviceInfo(vendor_extension_id=0x11, manufacturer="Sony Corporation"),
    DeviceInfo(vendor_extension_id=0xFFFFFFFF, manufacturer="Sony Corporation"),
    DeviceInfo(manufacturer="ptpkit"),
]


def _stand_ins() -> list[type[LazyExtension]]:
    return [f for f in vendors.BUILTIN if isinstance(f, type) and issubclass(f, LazyExtension)]


def test_the_stand_ins_are_the_real_classes_by_name_and_by_match() -> None:
    stand_ins = _stand_ins()
    assert {f.loaded() for f in stand_ins} == {
        CanonEosExtension,
        FujifilmExtension,
        NikonExtension,
        SonyExtension,
    }
    for stand_in in stand_ins:
        real = stand_in.loaded()
        assert stand_in.name == real.name
        for info in DEVICES:
            assert stand_in.matches(info) == real.matches(info), (stand_in.name, info)


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (DEVICES[0], ["canon", "canon-eos"]),
        (DEVICES[3], ["fuji"]),
        (DEVICES[5], ["nikon"]),
        (DEVICES[7], ["sony"]),
        (DEVICES[8], ["sony", "mtp"]),  # over PTP/IP: MTP's id, "Sony Corporation"
        (DEVICES[9], []),
    ],
)
def test_a_camera_gets_the_real_classes(info: DeviceInfo, expected: list[str]) -> None:
    chosen = base.extensions_for(info)
    assert [f.name for f in chosen] == expected
    assert not any(issubclass(f, LazyExtension) for f in chosen)
    forced = base.extensions_for(DEVICES[9], forced=["canon-eos"])
    assert forced == [CanonEosExtension]


def test_the_public_names_give_the_real_classes() -> None:
    assert ptpkit.ext.CanonEosExtension is CanonEosExtension
    assert ptpkit.ext.FujifilmExtension is FujifilmExtension
    assert ptpkit.ext.FujiExtension is FujifilmExtension
    assert vendors.FujiExtension is FujifilmExtension
    assert ptpkit.ext.NikonExtension is NikonExtension
    assert ptpkit.ext.SonyExtension is SonyExtension
    with pytest.raises(AttributeError):
        _ = ptpkit.ext.NoSuchExtension  # type: ignore[attr-defined]


def test_options_on_a_stand_in_are_options_on_the_real_class() -> None:
    (eos,) = [f for f in _stand_ins() if f.name == "canon-eos"]
    factory = eos.with_options(keepalive_interval_s=None)
    assert issubclass(factory, CanonEosExtension)
    assert factory.keepalive_interval_s is None  # type: ignore[attr-defined]


def test_a_stand_in_naming_the_wrong_class_is_refused() -> None:
    class Wrong(LazyExtension):
        name = "not-fuji"
        target = "ptpkit.ext.fujifilm:FujifilmExtension"

    with pytest.raises(TypeError, match="registered as 'not-fuji'"):
        Wrong.loaded()
