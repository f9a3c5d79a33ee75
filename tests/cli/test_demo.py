"""``ptpkit demo``: the tour ``make demo`` runs, end to end."""

from __future__ import annotations

from pathlib import Path

from .conftest import Cli


def test_demo_tour(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = cli("demo", "-o", str(out))
    assert result.code == 0, result
    text = result.stdout
    for step in ("Device info", "Storages", "Files", "Download", "Capture", "Properties"):
        assert step in text
    assert "identical to the card: yes" in text
    assert "ISO 200 -> 800; the camera sent 0x4006 DevicePropChanged(0x0000500F)" in text
    # The sample picture and the capture, both downloaded.
    assert {p.name for p in out.iterdir()} >= {"IMG_0001.JPG", "IMG_0005.JPG"}
