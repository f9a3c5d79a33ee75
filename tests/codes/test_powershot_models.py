"""The native-protocol model table (libgphoto2 camlibs/canon/canon.c models[])."""

from __future__ import annotations

import dataclasses

import pytest

from ptpkit.codes.powershot_models import (
    CANON_USB_VENDOR_ID,
    MODELS,
    CaptureSupport,
    is_powershot,
    model_for_ids,
    models_by_pid,
)


@pytest.mark.parametrize(
    ("pid", "name", "protocol_class"),
    [
        # vendors.md 5.1 (canon.c rows)
        (0x3041, "Canon:PowerShot S10", 0),
        (0x3048, "Canon:PowerShot G1", 0),
        (0x304C, "Canon:PowerShot S300", 1),
        (0x3055, "Canon:PowerShot G2", 1),
        (0x306C, "Canon:PowerShot S45 (normal mode)", 5),
        (0x306E, "Canon:PowerShot G3 (normal mode)", 5),
        (0x3070, "Canon:PowerShot S230 (normal mode)", 4),
        (0x3044, "Canon:EOS D30", 4),
        (0x3083, "Canon:EOS 10D", 4),
        (0x3084, "Canon:EOS 300D (normal mode)", 4),
        (0x30EB, "Canon:EOS 20D (normal mode)", 6),
    ],
)
def test_known_rows(pid: int, name: str, protocol_class: int) -> None:
    model = model_for_ids(0x04A9, pid)
    assert model is not None
    assert model.name == name
    assert model.protocol_class == protocol_class
    assert model.vendor_id == CANON_USB_VENDOR_ID
    assert is_powershot(0x04A9, pid)


def test_g3_sizes_and_capture() -> None:
    g3 = model_for_ids(0x04A9, 0x306E)
    assert g3 is not None
    assert g3.capture is CaptureSupport.SUPPORTED
    assert g3.capture_capable
    assert g3.max_movie_size == 2048 * 1024 * 1024
    assert g3.max_thumbnail_size == 100 * 1024
    assert g3.max_picture_size == 10 * 1024 * 1024
    assert g3.display_name == "PowerShot G3 (normal mode)"
    g2 = model_for_ids(0x04A9, 0x3055)
    assert g2 is not None
    assert g2.max_movie_size == 100 * 1024 * 1024


def test_capture_flags() -> None:
    s10 = model_for_ids(0x04A9, 0x3041)
    assert s10 is not None
    assert not s10.capture_capable
    d20 = model_for_ids(0x04A9, 0x30EB)
    assert d20 is not None
    assert d20.capture is CaptureSupport.EXPERIMENTAL
    assert d20.capture_capable
    assert d20.max_thumbnail_size == 10 * 1024 * 1024


@pytest.mark.parametrize(
    "pid",
    [
        0x306F,  # G3 in PTP mode
        0x306D,  # S45 in PTP mode
        0x3071,  # S230 in PTP mode
        0x3085,  # G5: one id for both, left to ptp2 (#if 0 in canon.c)
        0x30B3,  # G6: likewise
        0x3073,  # A70: likewise
        0x3042,  # a scanner
    ],
)
def test_ptp_mode_ids_are_not_native(pid: int) -> None:
    assert model_for_ids(0x04A9, pid) is None
    assert not is_powershot(0x04A9, pid)


def test_other_vendor_is_not_native() -> None:
    assert model_for_ids(0x04B0, 0x306E) is None
    assert not is_powershot(0x04B0, 0x306E)


def test_no_duplicate_pids_and_aliases_kept() -> None:
    pids = [model.product_id for model in MODELS]
    assert len(pids) == len(set(pids))
    s200 = model_for_ids(0x04A9, 0x3065)
    assert s200 is not None
    assert s200.name == "Canon:PowerShot S200"
    assert s200.aliases == ("Canon:Digital IXUS v2",)
    # every name is a libgphoto2 "Canon:" name, and no name is listed twice for one id
    for model in MODELS:
        names = (model.name, *model.aliases)
        assert all(n.startswith("Canon:") for n in names)
        assert len(set(names)) == len(names)
        assert 0 <= model.protocol_class <= 6


def test_table_is_frozen_and_lookup_copy_is_independent() -> None:
    g3 = MODELS[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        g3.product_id = 1  # type: ignore[misc]
    table = models_by_pid()
    table.clear()
    assert model_for_ids(0x04A9, 0x306E) is not None
