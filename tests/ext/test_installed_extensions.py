"""Third-party extensions installed as entry points: found, loaded, and the scan cached.

Each test installs a fake distribution (a ``*.dist-info`` folder with ``entry_points.txt`` and a
module) into a folder put first on ``sys.path``, as pip would into site-packages.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ptpkit.ext import base
from ptpkit.ext import installed as installed_module
from ptpkit.ext.installed import CACHE_FILE, installed_entry_points, load_entry_point

GROUP = base.ENTRY_POINT_GROUP

PLUGIN = """
from ptpkit.ext.base import Extension


class {cls}(Extension):
    name = "{name}"

    @classmethod
    def matches(cls, info):
        return False

    class Nested:
        value = 42
"""


def _install(site: Path, dist: str, name: str, cls: str) -> None:
    """A distribution ``dist`` whose module ``<dist>_mod`` holds extension ``name``."""
    (site / f"{dist}_mod.py").write_text(PLUGIN.format(cls=cls, name=name))
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{name} = {dist}_mod:{cls}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _no_scan(group: str) -> list[list[str]]:
    raise AssertionError("scanned the installed distributions although the cache was valid")


def test_an_installed_extension_is_found_and_the_scan_cached(
    site: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(site, "ptpkit_fake_one", "fake-one", "FakeOne")
    points = installed_entry_points(GROUP, directory=cache)
    assert ("fake-one", "ptpkit_fake_one_mod:FakeOne") in points
    lines = (cache / CACHE_FILE).read_text().splitlines()
    assert lines[1] == GROUP
    assert "fake-one\tptpkit_fake_one_mod:FakeOne" in lines[3:]

    # Nothing installed since: the next connection reads the cache, no scan.
    monkeypatch.setattr(installed_module, "_scan", _no_scan)
    assert installed_entry_points(GROUP, directory=cache) == points


def test_installing_another_distribution_invalidates_the_cache(site: Path, cache: Path) -> None:
    _install(site, "ptpkit_fake_two", "fake-two", "FakeTwo")
    first = installed_entry_points(GROUP, directory=cache)
    _install(site, "ptpkit_fake_three", "fake-three", "FakeThree")
    second = installed_entry_points(GROUP, directory=cache)
    assert ("fake-two", "ptpkit_fake_two_mod:FakeTwo") in first
    assert ("fake-three", "ptpkit_fake_three_mod:FakeThree") not in first
    assert ("fake-three", "ptpkit_fake_three_mod:FakeThree") in second


def test_an_entry_points_file_edited_in_place_invalidates_the_cache(
    site: Path, cache: Path
) -> None:
    _install(site, "ptpkit_fake_eight", "fake-eight", "FakeEight")
    assert ("fake-eight", "ptpkit_fake_eight_mod:FakeEight") in installed_entry_points(
        GROUP, directory=cache
    )
    points_file = site / "ptpkit_fake_eight-1.0.dist-info" / "entry_points.txt"
    points_file.write_text(f"[{GROUP}]\nrenamed = ptpkit_fake_eight_mod:FakeEight\n")
    stat = points_file.stat()  # the file system's time grain must not hide the edit
    os.utime(points_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    points = installed_entry_points(GROUP, directory=cache)
    assert ("renamed", "ptpkit_fake_eight_mod:FakeEight") in points
    assert ("fake-eight", "ptpkit_fake_eight_mod:FakeEight") not in points


def test_files_in_a_folder_without_metadata_do_not_invalidate_the_cache(
    site: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend("")  # as with python -c: the current folder first
    _install(site, "ptpkit_fake_nine", "fake-nine", "FakeNine")
    points = installed_entry_points(GROUP, directory=cache)
    (work / "IMG_0001.JPG").write_bytes(b"a download")
    monkeypatch.setattr(installed_module, "_scan", _no_scan)
    assert installed_entry_points(GROUP, directory=cache) == points


@pytest.mark.parametrize(
    "content",
    [
        b"garbage",
        b"ptpkit entry point cache 1\nptpkit.extensions\n",
        b"ptpkit entry point cache 1\nptpkit.extensions\n[]\nname-without-value\n",
        b"ptpkit entry point cache 0\nptpkit.extensions\n[]\n",
        b"\xff\xfe not utf-8\n",
        b" " * (300 * 1024),
    ],
    ids=["garbage", "no-key", "bad-points", "old-layout", "not-utf8", "oversized"],
)
def test_a_damaged_cache_is_scanned_again_and_replaced(
    site: Path, cache: Path, content: bytes
) -> None:
    _install(site, "ptpkit_fake_four", "fake-four", "FakeFour")
    cache.mkdir()
    (cache / CACHE_FILE).write_bytes(content)
    points = installed_entry_points(GROUP, directory=cache)
    assert ("fake-four", "ptpkit_fake_four_mod:FakeFour") in points
    assert (cache / CACHE_FILE).read_text().startswith("ptpkit entry point cache 1\n")


def test_an_unwritable_cache_costs_only_the_scan(site: Path, tmp_path: Path) -> None:
    _install(site, "ptpkit_fake_five", "fake-five", "FakeFive")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    points = installed_entry_points(GROUP, directory=blocker / "cache")
    assert ("fake-five", "ptpkit_fake_five_mod:FakeFive") in points


def test_load_entry_point_follows_attributes_and_ignores_extras(site: Path) -> None:
    _install(site, "ptpkit_fake_six", "fake-six", "FakeSix")
    extension = load_entry_point("ptpkit_fake_six_mod:FakeSix")
    assert isinstance(extension, type)
    assert issubclass(extension, base.Extension)
    assert extension.name == "fake-six"
    assert load_entry_point(" ptpkit_fake_six_mod : FakeSix.Nested.value [usb]") == 42
    assert load_entry_point("ptpkit_fake_six_mod") is sys.modules["ptpkit_fake_six_mod"]
    with pytest.raises(ValueError, match="names no module"):
        load_entry_point(":FakeSix")


def test_registered_includes_an_installed_extension(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(site, "ptpkit_fake_seven", "fake-seven", "FakeSeven")
    monkeypatch.setattr(base, "_entry_points_loaded", False)
    monkeypatch.setattr(base, "_registry", dict(base._registry))
    names = {factory.name for factory in base.registered()}
    assert "fake-seven" in names
    assert {"canon-eos", "mtp"} <= names
