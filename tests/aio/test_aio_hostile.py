"""``ptpkit.aio`` against a misbehaving virtual camera (:mod:`ptpkit.virtual.misbehave`), over
the in-process link and PTP/IP on 127.0.0.1: the blocking client's guarantees hold (a clear
error from ptpkit's tree, in time, with bounded memory; no incomplete file under the final name;
the partial file resumed once the camera behaves; hostile names kept inside the folder)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.forked import in_a_forked_child

import ptpkit.aio
from ptpkit.client.files import PART_SUFFIX, safe_filename, unique_path
from ptpkit.errors import (
    ConnectError,
    DecodeError,
    DeviceBusyError,
    DisconnectedError,
    PTPError,
    RemoteProtocolError,
    TransportError,
    TransportTimeout,
)
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.content import generated_bytes
from ptpkit.virtual.misbehave import HOSTILE_NAMES, Misbehavior
from ptpkit.virtual.server import PtpIpServer

MiB = 2**20
TIMEOUT_S = 1.0


@pytest.fixture(params=["virtual", "ptpip"])
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@contextlib.contextmanager
def _url(vcam: VirtualCamera, transport: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if transport == "ptpip":
        with PtpIpServer(vcam, host="127.0.0.1", port=0) as server:
            yield server.url, {}
    else:
        yield "virtual:", {"camera": vcam}


def _camera(tmp_path: Path, modes: str) -> VirtualCamera:
    card = tmp_path / "card"
    card.mkdir(exist_ok=True)
    return VirtualCamera(card, misbehavior=Misbehavior.parse(modes))


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("absurd-length", RemoteProtocolError, "announced 4294967"),
        ("absurd-count", DecodeError, "array of 4294967280 elements"),
        ("absurd-string", DecodeError, "string of 255 characters"),
        ("wrong-tid", RemoteProtocolError, "transaction id"),
    ],
)
def test_lies_about_sizes_and_ids_are_caught_with_bounded_memory(
    tmp_path: Path, transport: str, mode: str, error: type[PTPError], words: str
) -> None:
    async def exercise(url: str, options: dict[str, Any], handle: int) -> None:
        async with ptpkit.aio.connect(url, **options) as cam:
            await cam.storage_ids()
            await cam.object_handles()
            await cam.object_info(handle)
            _ = [e async for e in cam.walk()]
            await cam.download(handle, io.BytesIO())

    def measure() -> int:
        # In a forked child (tests/forked.py), camera and server included: tracemalloc counts
        # every thread of the process, and the worker's leftover threads are not in the child.
        with _camera(tmp_path, mode) as vcam, _url(vcam, transport) as (url, options):
            handle = vcam.add_generated_object(1000, seed=1)
            tracemalloc.start()
            try:
                with pytest.raises(error, match=words):
                    asyncio.run(exercise(url, options, handle))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        return peak

    assert in_a_forked_child(measure) < 8 * MiB  # nothing sized by the lie (16 GiB of handles)


@pytest.mark.parametrize(
    ("mode", "errors"),
    [
        ("truncated", (RemoteProtocolError,)),
        ("early-response", (RemoteProtocolError,)),
        ("oversize", (RemoteProtocolError,)),
        ("stall", (TransportTimeout, TransportError)),
        ("disconnect", (DisconnectedError,)),
        ("truncated-packet", (DisconnectedError, RemoteProtocolError)),
    ],
)
def test_a_broken_download_fails_in_time_keeps_its_part_and_resumes(
    tmp_path: Path, transport: str, mode: str, errors: tuple[type[PTPError], ...]
) -> None:
    if mode == "truncated-packet" and transport != "ptpip":
        errors = (*errors, TransportError)  # a PTP/IP mode: in-process, the data is whole
    size = 3 * MiB + 5
    target = tmp_path / "out" / "clip.mov"
    target.parent.mkdir()

    async def download(url: str, options: dict[str, Any], handle: int) -> None:
        async with ptpkit.aio.connect(url, timeout_s=TIMEOUT_S, **options) as cam:
            await cam.download(handle, target)

    with _camera(tmp_path, mode) as vcam, _url(vcam, transport) as (url, options):
        handle = vcam.add_generated_object(size, seed=2)
        started = time.monotonic()
        with contextlib.suppress(*errors):
            asyncio.run(download(url, options, handle))
        # Never a hang: a stall not ended by the 1 s timeout is forever (or the default 20 s);
        # 8 s over the timeout leaves a loaded machine its connect and download.
        assert time.monotonic() - started < TIMEOUT_S + 8
        if mode == "truncated-packet" and target.exists():
            # truncated-packet cuts PTP/IP packets only: in-process the object came whole.
            assert target.read_bytes() == generated_bytes(size, seed=2)
            return
        assert not target.exists(), "an incomplete file stands under the final name"
        part = target.with_name(f"clip.mov{PART_SUFFIX}")
        assert part.exists()
        # Oversize is stopped at the declared size: the bytes up to it are kept, no more.
        assert part.stat().st_size <= size if mode == "oversize" else part.stat().st_size < size
        vcam.misbehavior = Misbehavior()
        asyncio.run(download(url, options, handle))
    assert target.read_bytes() == generated_bytes(size, seed=2)
    assert not target.with_name(f"clip.mov{PART_SUFFIX}").exists()


def test_hostile_names_stay_inside_the_target_folder(tmp_path: Path, transport: str) -> None:
    target = tmp_path / "downloads"
    target.mkdir()
    saved: list[Path] = []

    async def scenario(url: str, options: dict[str, Any]) -> None:
        async with ptpkit.aio.connect(url, **options) as cam:
            entries = [e async for e in cam.walk() if not e.is_folder]
            assert len(entries) == len(HOSTILE_NAMES)
            taken: set[str] = set()
            for entry in entries:
                name = safe_filename(entry.name, fallback=f"object_{entry.handle:08x}")
                result = await cam.download(entry, unique_path(target, name, taken))
                assert result is not None
                assert result.resolve().parent == target.resolve()
                assert result.stat().st_size == entry.size
                saved.append(result)

    with _camera(tmp_path, "hostile-names") as vcam, _url(vcam, transport) as (url, options):
        asyncio.run(scenario(url, options))
    assert len(set(saved)) == len(HOSTILE_NAMES)
    assert sorted(target.iterdir()) == sorted(saved)


def test_busy_is_retried_a_bounded_number_of_times(tmp_path: Path, transport: str) -> None:
    async def storage_ids(url: str, options: dict[str, Any]) -> tuple[int, ...]:
        async with ptpkit.aio.connect(url, **options) as cam:
            return await cam.storage_ids()

    with _camera(tmp_path, "busy=3") as vcam, _url(vcam, transport) as (url, options):
        assert asyncio.run(storage_ids(url, options)) == (0x00010001,)
        vcam.misbehavior = Misbehavior.parse("busy=50")
        started = time.monotonic()
        with pytest.raises(DeviceBusyError):
            asyncio.run(storage_ids(url, options))
        assert time.monotonic() - started < 5


def test_an_event_flood_is_drained_and_capture_still_works(tmp_path: Path, transport: str) -> None:
    async def scenario(url: str, options: dict[str, Any]) -> int:
        async with ptpkit.aio.connect(url, **options) as cam:
            drained = 0
            async for _ in cam.events(timeout_s=5):
                drained += 1
                if drained == 100_000:
                    break
            new = await cam.capture(timeout_s=10)
            assert len(new) == 1
            return drained

    with _camera(tmp_path, "event-flood") as vcam, _url(vcam, transport) as (url, options):
        assert asyncio.run(scenario(url, options)) == 100_000


@pytest.mark.parametrize(
    ("mode", "words"),
    [("init-fail", "not paired"), ("handshake-stall", "did not accept this computer")],
)
def test_a_refused_or_silent_handshake_is_a_connect_error(
    tmp_path: Path, mode: str, words: str
) -> None:
    async def connect(url: str) -> None:
        async with ptpkit.aio.connect(url, pairing_timeout_s=0.5, connect_timeout_s=0.5):
            pass

    with (
        _camera(tmp_path, mode) as vcam,
        _url(vcam, "ptpip") as (url, _),
        pytest.raises(ConnectError, match=words),
    ):
        asyncio.run(connect(url))
