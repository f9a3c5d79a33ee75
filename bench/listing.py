"""Listing a full card: MTP's GetObjPropList (one transaction) against the classic per-object
walk (GetObjectHandles per folder + GetObjectInfo per object), which is what libgphoto2 does and
what makes listing thousands of pictures slow on real cameras (landscape.md §11.1)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import ptpkit
from bench.harness import Contender, compare, header, note, rounds, table
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
    count = rounds(3)
    header("listing a card of 5,000 files in 40 folders (in process, virtual:)", count)
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
            results = compare(
                [
                    Contender(
                        "GetObjPropList (fast path)",
                        fast,
                        note=f"{fast_transactions} transaction(s)",
                    ),
                    Contender(
                        "per object (GetObjectHandles + GetObjectInfo)",
                        slow,
                        note=f"{slow_transactions:,} transactions",
                    ),
                ],
                count,
            )
    slow_samples = results["per object (GetObjectHandles + GetObjectInfo)"]
    table("time to walk the card", list(results.values()), versus=[("per object", slow_samples)])
    note(f"{slow_transactions / fast_transactions:,.0f}x fewer round trips on the fast path")
