"""The virtual card's capacity is its own, not the host's disk: what GetStorageInfo reports, and
what an upload is refused for, is the same on every machine and every run (issue 11, section 6:
a test that depended on the host's free disk space was flaky)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest

import ptpkit
from ptpkit.errors import StorageError
from ptpkit.virtual import DEFAULT_STORAGE_ID, VirtualCamera
from ptpkit.virtual.storage import DEFAULT_CAPACITY_BYTES


def _card_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


@pytest.fixture
def tiny_host_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's disk as almost full: nothing the virtual card reports may follow it."""

    def nearly_full(path: Any) -> Any:
        return shutil._ntuple_diskusage(1000, 999, 1)  # type: ignore[attr-defined]

    monkeypatch.setattr(shutil, "disk_usage", nearly_full)


@pytest.mark.usefixtures("tiny_host_disk")
def test_default_card_is_64_gb_whatever_the_host_disk() -> None:
    with VirtualCamera() as virtual:
        info = virtual.stores[DEFAULT_STORAGE_ID].storage_info()
        used = _card_bytes(virtual.root)
    assert DEFAULT_CAPACITY_BYTES == 64 * 10**9
    assert info.max_capacity == DEFAULT_CAPACITY_BYTES
    assert used > 0
    assert info.free_space_bytes == DEFAULT_CAPACITY_BYTES - used
    assert info.free_space_images == (DEFAULT_CAPACITY_BYTES - used) // 8_000_000


@pytest.mark.usefixtures("tiny_host_disk")
def test_free_space_follows_what_the_card_holds(tmp_path: Path) -> None:
    (tmp_path / "A.JPG").write_bytes(b"x" * 1000)
    with VirtualCamera(tmp_path, capacity_bytes=10_000) as virtual:
        store = virtual.stores[DEFAULT_STORAGE_ID]
        assert store.storage_info().max_capacity == 10_000
        assert store.storage_info().free_space_bytes == 9_000
        virtual.add_generated_object(2_500, name="GEN.MOV")
        assert store.storage_info().free_space_bytes == 6_500
        with ptpkit.connect("virtual:", camera=virtual) as cam:
            cam.upload(io.BytesIO(b"y" * 500), name="UP.TXT")
            [storage] = cam.storages()
            assert storage.info.free_space_bytes == 6_000
            assert storage.info.max_capacity == 10_000
            cam.delete("A.JPG")
            [storage] = cam.storages()
            assert storage.info.free_space_bytes == 7_000


def test_an_overfull_card_reports_no_free_space_never_negative(tmp_path: Path) -> None:
    with VirtualCamera(tmp_path, capacity_bytes=1_000) as virtual:
        virtual.add_generated_object(5_000, name="HUGE.MOV")
        info = virtual.stores[DEFAULT_STORAGE_ID].storage_info()
    assert info.max_capacity == 1_000
    assert info.free_space_bytes == 0
    assert info.free_space_images == 0


@pytest.mark.usefixtures("tiny_host_disk")
def test_an_upload_is_refused_by_the_card_size_not_the_host_disk(tmp_path: Path) -> None:
    with VirtualCamera(tmp_path, capacity_bytes=1_000) as virtual:
        with ptpkit.connect("virtual:", camera=virtual) as cam:
            cam.upload(io.BytesIO(b"f" * 600), name="FITS.TXT")  # the host "has" 1 byte free
            with pytest.raises(StorageError) as refused:
                cam.upload(io.BytesIO(b"n" * 600), name="TOO_BIG.TXT")  # the card has 400
        assert refused.value.code == 0x200C  # StoreFull
        assert not (tmp_path / "TOO_BIG.TXT").exists()


def test_a_negative_capacity_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="capacity"):
        VirtualCamera(tmp_path, capacity_bytes=-1)
