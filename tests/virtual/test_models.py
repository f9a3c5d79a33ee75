"""Choosing the virtual camera's model by name: the Python API, virtual: and virtual+usb: URLs,
the command line's --model, and the USB ids a Canon EOS shows as a gadget."""

from __future__ import annotations

from pathlib import Path

import pytest

import ptpkit
from ptpkit.errors import UsageError
from ptpkit.virtual import GENERIC, MODELS, VirtualCamera, personality_for
from ptpkit.virtual.canon_eos import USB_PRODUCT_ID, USB_VENDOR_ID
from ptpkit.virtual.ffs_gadget import FunctionFsGadget
from ptpkit.virtual.models import parse_virtual_url


def test_the_python_api_names_the_models() -> None:
    assert MODELS == ("generic", "canon-eos", "fuji-x", "nikon", "sony")
    assert personality_for("generic") is GENERIC
    eos = personality_for("Canon-EOS")
    assert eos.vendor_extension_id == 0x0000000B
    with VirtualCamera(personality=eos) as camera:
        assert "EOS" in camera.device_info().model
    with pytest.raises(UsageError, match="generic, canon-eos"):
        personality_for("nikon-z")


@pytest.mark.parametrize("scheme", ["virtual", "virtual+usb"])
def test_a_url_chooses_the_model(scheme: str) -> None:
    with ptpkit.connect(f"{scheme}:?model=canon-eos") as cam:
        assert cam.device_info.vendor_extension_id == 0x0000000B
        assert cam.device_info.manufacturer.startswith("Canon")
    with ptpkit.connect(f"{scheme}:") as cam:
        assert cam.device_info.model == "Virtual Camera"


def test_a_url_with_a_folder_and_a_model(tmp_path: Path) -> None:
    (tmp_path / "ONLY.TXT").write_text("one file\n")
    with ptpkit.connect(f"virtual:{tmp_path}?model=canon-eos") as cam:
        assert cam.device_info.manufacturer.startswith("Canon")
        assert cam.transaction(0x9101).ok  # EOS_GetStorageIDs
    assert parse_virtual_url(f"virtual:{tmp_path}?model=canon-eos") == (str(tmp_path), "canon-eos")
    assert parse_virtual_url("virtual:") == (None, "generic")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("virtual:?model=nikon-z", "known: generic, canon-eos"),
        ("virtual+usb:?model=", "known: generic, canon-eos"),
        ("virtual:?colour=red", r"takes \?model=NAME"),
        ("virtual:?model=generic&model=canon-eos", "twice"),
        ("virtual:?junk", r"takes \?model=NAME"),
    ],
)
def test_a_bad_model_in_a_url_is_a_usage_error(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ptpkit.connect(url)


def test_the_command_line_lists_the_same_models() -> None:
    import click

    from ptpkit.cli.virtual import serve

    option = next(p for p in serve.params if p.name == "model")
    assert isinstance(option.type, click.Choice)
    from ptpkit.virtual.powershot import POWERSHOT_PERSONALITIES

    assert tuple(option.type.choices) == MODELS + tuple(POWERSHOT_PERSONALITIES)


def test_a_canon_eos_gadget_shows_canons_usb_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libgphoto2's models table (camlibs/ptp2/library.c) and Debian's hwdb: 0x04A9:0x3250 is
    # "Canon EOS 6D".
    assert (USB_VENDOR_ID, USB_PRODUCT_ID) == (0x04A9, 0x3250)
    gadget = tmp_path / "g1"
    gadget.mkdir()
    monkeypatch.setattr("ptpkit.virtual.ffs_gadget.os.listdir", lambda path: ["dummy_udc.0"])
    with VirtualCamera(personality=personality_for("canon-eos")) as camera:
        assert FunctionFsGadget(camera, tmp_path / "ffs").bind(gadget) == "dummy_udc.0"
    assert (gadget / "idVendor").read_text() == "0x04A9\n"
    assert (gadget / "idProduct").read_text() == "0x3250\n"
    assert (gadget / "UDC").read_text() == "dummy_udc.0\n"
    # The generic camera leaves the gadget's ids alone.
    other = tmp_path / "g2"
    other.mkdir()
    with VirtualCamera() as camera:
        FunctionFsGadget(camera, tmp_path / "ffs").bind(other)
    assert not (other / "idVendor").exists()


def test_virtual_usb_shows_canons_ids() -> None:
    from ptpkit.virtual.usb_device import VirtualUsbDevice

    with VirtualCamera(personality=personality_for("canon-eos")) as camera:
        device = VirtualUsbDevice(camera)
        assert device.device_descriptor.idVendor == 0x04A9  # type: ignore[attr-defined]
        assert device.device_descriptor.idProduct == 0x3250  # type: ignore[attr-defined]


def test_a_nikon_by_name_and_its_usb_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``nikon``: a D850 with Nikon's vendor extension id; as a gadget and over virtual+usb it
    shows 0x04B0:0x0441, what libgphoto2's models table calls "Nikon:DSC D850"."""
    from ptpkit.virtual.usb_device import VirtualUsbDevice

    nikon = personality_for("Nikon")
    assert nikon.vendor_extension_id == 0x0000000A
    with ptpkit.connect("virtual+usb:?model=nikon") as cam:
        assert cam.device_info.model == "D850"
        assert [ext.name for ext in cam.extensions] == ["nikon"]
    with VirtualCamera(personality=nikon) as camera:
        device = VirtualUsbDevice(camera)
        assert device.device_descriptor.idVendor == 0x04B0  # type: ignore[attr-defined]
        assert device.device_descriptor.idProduct == 0x0441  # type: ignore[attr-defined]
        gadget = tmp_path / "g"
        gadget.mkdir()
        monkeypatch.setattr("ptpkit.virtual.ffs_gadget.os.listdir", lambda path: ["dummy_udc.0"])
        FunctionFsGadget(camera, tmp_path / "ffs").bind(gadget)
    assert (gadget / "idVendor").read_text() == "0x04B0\n"
    assert (gadget / "idProduct").read_text() == "0x0441\n"


def test_the_nikon_options_in_a_url() -> None:
    with ptpkit.connect("virtual:?model=nikon&get_event_ex=0") as cam:
        assert 0x941C not in cam.device_info.operations_supported
        assert 0x90C7 in cam.device_info.operations_supported
    with pytest.raises(UsageError, match="live_view_header takes 384 or 64"):
        ptpkit.connect("virtual:?model=nikon&live_view_header=100")
    with pytest.raises(UsageError, match="no option 'colour'"):
        personality_for("nikon", {"colour": "red"})
