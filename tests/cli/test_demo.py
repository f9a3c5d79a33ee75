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
    # The capture's own events, shown with it.
    assert "events: 0x4002 ObjectAdded(" in text
    assert "0x400D CaptureComplete(" in text
    assert "ISO 200 -> 800; the camera sent 0x4006 DevicePropChanged(0x0000500F)" in text
    # The sample picture and the capture, both downloaded.
    assert {p.name for p in out.iterdir()} >= {"IMG_0001.JPG", "IMG_0005.JPG"}


def test_demo_runs_again_into_the_same_folder_without_replacing(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert cli("demo", "-o", str(out)).code == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    again = cli("demo", "-o", str(out))
    assert again.code == 0, again
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {name: after[name] for name in first} == first  # nothing replaced
    assert {"IMG_0001 (2).JPG", "IMG_0005 (2).JPG"} <= set(after)
