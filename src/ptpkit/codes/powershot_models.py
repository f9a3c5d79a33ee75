"""Cameras that speak Canon's native (pre-PTP) USB protocol: libgphoto2's ``canon`` driver table.

Facts from libgphoto2 ``camlibs/canon/canon.c`` ``models[]`` (commit 0019630) and ``canon.h``
(``canonCamClass``, ``canonCaptureSupport``, ``struct canonCamModelData``). Only the entries
libgphoto2 compiles in and that carry a USB id are here: the ``#if 0`` blocks of that table
(SD100/IXUS II 0x3072, A70 0x3073, A60 0x3074, S400 0x3075, A300 0x3076, S50 0x3077, G5 0x3085,
A80 0x309A, S1 IS 0x309C, S60/S70/G6/... 0x30B1-0x30C2, S2 IS 0x30F0, SD500 0x30F2, A610 0x30FD)
are cameras whose one product id serves PTP as well, which libgphoto2 leaves to its ``ptp2``
driver ("served better by ptp2 driver"), so a native-protocol client must not claim them. The
PTP-mode ids of the bodies listed here (G3 0x306F, S45 0x306D, S230 0x3071, ...) are likewise not
in this table.

Several names share one product id (regional names of one body: "PowerShot S200" / "Digital IXUS
v2" on 0x3065). :func:`model_for_ids` returns the first of them, as libgphoto2's table order has
it; the others are in :attr:`PowerShotModel.aliases`. Where the aliases disagree about capture
(0x3081: "Optura 10" CAP_SUP, "MVX100i" CAP_NON) the first entry's value is kept.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "CANON_USB_VENDOR_ID",
    "MODELS",
    "CaptureSupport",
    "PowerShotModel",
    "is_powershot",
    "model_for_ids",
    "models_by_pid",
]

#: Canon's USB vendor id; every native-protocol camera uses it.
CANON_USB_VENDOR_ID = 0x04A9

_KILOBYTE = 1024
_MEGABYTE = 1024 * _KILOBYTE
# canon.c SL_* size limits (libgphoto2 notes that it hardly uses them; a client may bound a
# download with them).
_SL_THUMB = 100 * _KILOBYTE
_SL_THUMB_CR2 = 10 * _MEGABYTE
_SL_PICTURE = 10 * _MEGABYTE
_SL_MOVIE_SMALL = 100 * _MEGABYTE
_SL_MOVIE_LARGE = 2048 * _MEGABYTE


class CaptureSupport(enum.IntEnum):
    """canon.h ``canonCaptureSupport``: how far remote capture works with a model."""

    NONE = 0
    """CAP_NON: no capture."""
    SUPPORTED = 1
    """CAP_SUP: capture supported."""
    EXPERIMENTAL = 2
    """CAP_EXP: capture works with known problems."""


@dataclass(frozen=True, slots=True)
class PowerShotModel:
    """One native-protocol camera (one USB product id) of libgphoto2's ``canon`` table."""

    name: str
    """libgphoto2's name, e.g. ``"Canon:PowerShot G3 (normal mode)"``."""
    product_id: int
    protocol_class: int
    """canon.h ``CANON_CLASS_0`` .. ``CANON_CLASS_6`` as 0..6 (how keys lock, which commands)."""
    capture: CaptureSupport
    max_movie_size: int
    """Largest movie libgphoto2 accepts, in bytes."""
    max_thumbnail_size: int
    """Largest thumbnail, in bytes."""
    max_picture_size: int
    """Largest picture, in bytes."""
    aliases: tuple[str, ...] = ()
    """Other names libgphoto2 lists for the same product id (regional names)."""
    vendor_id: int = CANON_USB_VENDOR_ID

    @property
    def capture_capable(self) -> bool:
        """Whether libgphoto2 offers remote capture for the model (supported or experimental)."""
        return self.capture is not CaptureSupport.NONE

    @property
    def display_name(self) -> str:
        """The name without libgphoto2's ``"Canon:"`` prefix."""
        return self.name.removeprefix("Canon:")


_S = CaptureSupport.SUPPORTED
_N = CaptureSupport.NONE
_E = CaptureSupport.EXPERIMENTAL

# (name, class, pid, capture, max movie, max thumbnail, max picture, aliases); canon.c order.
_ROWS: tuple[tuple[str, int, int, CaptureSupport, int, int, int, tuple[str, ...]], ...] = (
    ("Canon:PowerShot S10", 0, 0x3041, _N, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot S20", 0, 0x3043, _N, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:EOS D30", 4, 0x3044, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot S100", 0, 0x3045, _N, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:IXY DIGITAL", 0, 0x3046, _N, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:Digital IXUS", 0, 0x3047, _N, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot G1", 0, 0x3048, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot Pro90 IS", 0, 0x3049, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:IXY DIGITAL 300", 1, 0x304B, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot S300", 1, 0x304C, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:Digital IXUS 300", 1, 0x304D, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot A20", 1, 0x304E, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot A10", 1, 0x304F, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot unknown 1", 1, 0x3050, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot S110", 0, 0x3051, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:Digital IXUS v", 0, 0x3052, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot G2", 1, 0x3055, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot S40", 1, 0x3056, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot S30", 1, 0x3057, _S, _SL_MOVIE_LARGE, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot A40", 1, 0x3058, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot A30", 1, 0x3059, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot unknown 2", 1, 0x305C, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:EOS D60", 4, 0x3060, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot A100", 1, 0x3061, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:PowerShot A200", 1, 0x3062, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    (
        "Canon:PowerShot S200",
        1,
        0x3065,
        _S,
        _SL_MOVIE_SMALL,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:Digital IXUS v2",),
    ),
    (
        "Canon:PowerShot S330",
        1,
        0x3066,
        _S,
        _SL_MOVIE_SMALL,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:Digital IXUS 330",),
    ),
    ("Canon:Digital unknown 3", 1, 0x306A, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    (
        "Canon:Optura 200 MC",
        1,
        0x306B,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:MVX2i", "Canon:IXY DV M"),
    ),
    (
        "Canon:PowerShot S45 (normal mode)",
        5,
        0x306C,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        (),
    ),
    (
        "Canon:PowerShot G3 (normal mode)",
        5,
        0x306E,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        (),
    ),
    (
        "Canon:PowerShot S230 (normal mode)",
        4,
        0x3070,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:Digital IXUS v3 (normal mode)",),
    ),
    ("Canon:ZR70MC (normal mode)", 1, 0x3078, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:MV650i (normal mode)", 1, 0x307A, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:MV630i (normal mode)", 1, 0x307C, _S, _SL_MOVIE_LARGE, _SL_THUMB, _SL_PICTURE, ()),
    ("Canon:Optura 20", 1, 0x307F, _S, _SL_MOVIE_LARGE, _SL_THUMB, _SL_PICTURE, ()),
    (
        "Canon:Optura 20 (normal mode)",
        1,
        0x3080,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:MVX150i (normal mode)",),
    ),
    # canon.c lists "MVX100i" on 0x3081 with CAP_NON after "Optura 10" with CAP_SUP.
    (
        "Canon:Optura 10",
        1,
        0x3081,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:MVX100i",),
    ),
    (
        "Canon:Optura 10",
        1,
        0x3082,
        _N,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:MVX100i",),
    ),
    ("Canon:EOS 10D", 4, 0x3083, _S, _SL_MOVIE_SMALL, _SL_THUMB, _SL_PICTURE, ()),
    (
        "Canon:EOS 300D (normal mode)",
        4,
        0x3084,
        _S,
        _SL_MOVIE_SMALL,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:EOS Digital Rebel (normal mode)", "Canon:EOS Kiss Digital (normal mode)"),
    ),
    (
        "Canon:Elura 50 (normal mode)",
        1,
        0x3088,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        (),
    ),
    (
        "Canon:Optura Xi (normal mode)",
        1,
        0x308E,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:MVX 3i (normal mode)", "Canon:FV M1 (normal mode)"),
    ),
    (
        "Canon:Optura 300 (normal mode)",
        1,
        0x3096,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:MVX 10i (normal mode)", "Canon:IXY DV M2 (normal mode)"),
    ),
    (
        "Canon:PowerShot SD10 Digital ELPH (normal mode)",
        1,
        0x309B,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:Digital IXUS i (normal mode)", "Canon:PowerShot IXY Digital L (normal mode)"),
    ),
    (
        "Canon:Optura 40 (normal mode)",
        1,
        0x30A9,
        _S,
        _SL_MOVIE_LARGE,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:MVX25i (normal mode)",),
    ),
    (
        "Canon:PowerShot SD20 (normal mode)",
        5,
        0x30C4,
        _S,
        _SL_MOVIE_SMALL,
        _SL_THUMB,
        _SL_PICTURE,
        ("Canon:Digital IXUS i5 (normal mode)", "Canon:IXY Digital L2 (normal mode)"),
    ),
    (
        "Canon:EOS 20D (normal mode)",
        6,
        0x30EB,
        _E,
        _SL_MOVIE_LARGE,
        _SL_THUMB_CR2,
        _SL_PICTURE,
        (),
    ),
    (
        "Canon:EOS 350D (normal mode)",
        6,
        0x30EE,
        _E,
        _SL_MOVIE_LARGE,
        _SL_THUMB_CR2,
        _SL_PICTURE,
        ("Canon:Digital Rebel XT (normal mode)", "Canon:EOS Kiss Digital N (normal mode)"),
    ),
    ("Canon:EOS 5D (normal mode)", 6, 0x3101, _S, _SL_MOVIE_LARGE, _SL_THUMB, _SL_PICTURE, ()),
)

#: Every native-protocol model with a USB id, in libgphoto2's table order.
MODELS: tuple[PowerShotModel, ...] = tuple(
    PowerShotModel(
        name=name,
        product_id=pid,
        protocol_class=cls,
        capture=capture,
        max_movie_size=movie,
        max_thumbnail_size=thumb,
        max_picture_size=picture,
        aliases=aliases,
    )
    for name, cls, pid, capture, movie, thumb, picture, aliases in _ROWS
)

_BY_PID: dict[int, PowerShotModel] = {model.product_id: model for model in MODELS}


def models_by_pid() -> dict[int, PowerShotModel]:
    """A fresh product id -> model mapping (a copy: callers may not change the table)."""
    return dict(_BY_PID)


def model_for_ids(vendor_id: int, product_id: int) -> PowerShotModel | None:
    """The native-protocol model with this USB vendor/product id, or None (PTP-mode ids too)."""
    if vendor_id != CANON_USB_VENDOR_ID:
        return None
    return _BY_PID.get(product_id)


def is_powershot(vendor_id: int, product_id: int) -> bool:
    """Whether the USB id is a camera that speaks Canon's native protocol (not PTP)."""
    return model_for_ids(vendor_id, product_id) is not None
