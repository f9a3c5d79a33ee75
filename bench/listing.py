"""Listing a full card: MTP's GetObjPropList (one transaction) against the classic per-object
walk (GetObjectHandles per folder + GetObjectInfo per object), which is what libgphoto2 does and
what makes listing thousands of pictures slow on real cameras (landscape.md §11.1)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import ptpkit
from bench.common import best_of, row
from ptpkit.virtual import VirtualCamera

FOLDERS = 40
FILES_PER_FOLDER = 125  # 5,000 files


def _make_card(root: Path) -> int:
    for folder in range(FOLDERS):
        path = root / "DCIM" / f"{100 + folder}PTPKT"
        path.mkdir(parents=True)
        for index in range(FILES_PER_FOLDER):
            (path / f"DSC{index:05d}.ARW").write_bytes(b"x" * (index + 1))
    return FOLDERS * FILES_PER_FOLDER


def run() -> None:
    print("listing a card of 5,000 files in 40 folders")
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-card-") as tmp:
        files = _make_card(Path(tmp))
        with VirtualCamera(tmp) as virtual, ptpkit.connect("virtual:", camera=virtual) as cam:
            engine = cam._engine
            assert engine is not None

            def fast() -> None:
                cam._fast_listing_failed = False
                assert sum(not e.is_folder for e in cam.walk()) == files

            def slow() -> None:
                cam._fast_listing_failed = True
                assert sum(not e.is_folder for e in cam.walk()) == files

            before = engine.transactions
            fast()
            fast_transactions = engine.transactions - before
            before = engine.transactions
            slow()
            slow_transactions = engine.transactions - before
            fast_s = best_of(3, fast)
            slow_s = best_of(3, slow)
    row(
        "GetObjPropList (fast path)",
        f"{fast_s * 1000:,.0f} ms",
        f"{fast_transactions} transaction(s)",
    )
    row(
        "per object (GetObjectHandles + GetObjectInfo)",
        f"{slow_s * 1000:,.0f} ms",
        f"{slow_transactions} transactions",
    )
    row(
        "ratio",
        f"{slow_s / fast_s:,.1f}x faster",
        f"{slow_transactions / fast_transactions:,.0f}x fewer round trips",
    )
