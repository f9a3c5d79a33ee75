"""``ptpkit.aio`` against the virtual camera: the client scenarios that matter, over PTP/IP on
127.0.0.1 (asyncio streams), the in-process camera (``virtual:``) and the PyUSB transport in a
worker thread (``virtual+usb:``); cancellation, deadlines, and sixteen cameras in one loop.

pytest-asyncio is not a dependency: each test runs its scenario with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

import ptpkit
import ptpkit.aio
from ptpkit.client.events import CameraEvent
from ptpkit.client.files import PART_SUFFIX, Entry
from ptpkit.codes.common import Dpc, Ec, Op, Rc
from ptpkit.core.datasets import DeviceInfo, encode_value
from ptpkit.core.datatypes import DataType
from ptpkit.errors import (
    BusyError,
    ClosedError,
    LocalProtocolError,
    NotFoundError,
    ObjectError,
    OperationNotSupportedError,
    TransportTimeout,
    UsageError,
)
from ptpkit.virtual import DEFAULT_STORAGE_ID, VirtualCamera, personality_for
from ptpkit.virtual.content import GeneratedData, generated_bytes
from ptpkit.virtual.misbehave import Misbehavior
from ptpkit.virtual.network import network_server
from ptpkit.virtual.powershot import make_powershot_card
from ptpkit.virtual.responder import error
from ptpkit.virtual.server import PtpIpServer
from ptpkit.virtual.sony import sony_state

STORE = "/store_00010001"
_T = TypeVar("_T")


def run(scenario: Callable[[], Awaitable[_T]]) -> _T:
    """One scenario in a new event loop (no pytest-asyncio: plain tests)."""

    async def main() -> _T:
        return await scenario()

    return asyncio.run(main())


@dataclass
class AioRig:
    """A VirtualCamera on the test's card and how ``ptpkit.aio`` reaches it."""

    vcam: VirtualCamera
    transport: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def card(self) -> Path:
        return self.vcam.root

    def connect(self, **keywords: Any) -> Any:
        return ptpkit.aio.connect(self.url, **self.options, **keywords)


@contextlib.contextmanager
def _rig(vcam: VirtualCamera, transport: str) -> Iterator[AioRig]:
    if transport == "fuji":
        with network_server(vcam, host="127.0.0.1", port=0) as fuji:
            assert fuji.url.startswith("fuji:")
            yield AioRig(vcam, transport, fuji.url)
    elif transport == "ptpip":
        with PtpIpServer(vcam, host="127.0.0.1", port=0) as server:
            yield AioRig(vcam, transport, server.url)
    else:
        yield AioRig(vcam, transport, f"{transport}:", {"camera": vcam})


@pytest.fixture(params=["virtual", "ptpip", "virtual+usb"])
def rig(request: pytest.FixtureRequest, card: Path) -> Iterator[AioRig]:
    with VirtualCamera(card) as vcam, _rig(vcam, request.param) as made:
        yield made


def card_files(card: Path) -> dict[str, bytes]:
    return {
        f"{STORE}/{p.relative_to(card).as_posix()}": p.read_bytes()
        for p in sorted(card.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


# -- what the camera is ---------------------------------------------------------------------


def test_device_info_storages_and_names(rig: AioRig) -> None:
    async def scenario() -> None:
        async with rig.connect() as cam:
            assert cam.device_info.model == rig.vcam.personality.model
            assert cam.supports("GetObject")
            assert "GetDeviceInfo" in {n.name for n in cam.operations_supported()}
            assert "ObjectAdded" in {n.name for n in cam.events_supported()}
            storages = await cam.storages()
            assert [s.storage_id for s in storages] == [DEFAULT_STORAGE_ID]
            assert storages[0].info.volume_label == "PTPKIT"
            assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)
            assert repr(cam).endswith("open>")
        assert repr(cam).endswith("closed>")
        with pytest.raises(ClosedError):
            await cam.storage_ids()

    run(scenario)


# -- listing ----------------------------------------------------------------------------------


def test_walk_gives_what_the_blocking_camera_gives(rig: AioRig) -> None:
    with ptpkit.connect("virtual:", camera=rig.vcam) as blocking:
        expected = [(e.path, e.handle, e.size, e.is_folder) for e in blocking.walk()]
        folder = [e.path for e in blocking.list_folder("DCIM/100PTPKT")]

    async def scenario() -> None:
        async with rig.connect() as cam:
            walked = [(e.path, e.handle, e.size, e.is_folder) async for e in cam.walk()]
            assert walked == expected
            assert [e.path for e in await cam.list_folder("DCIM/100PTPKT")] == folder
            assert [e.path async for e in cam.iter_folder("DCIM/100PTPKT")] == folder
            tops = [e.path async for e in cam.iter_folder()]
            assert tops == [p for p, *_ in expected if p.count("/") == 2]
            picture = await cam.find("DCIM/100PTPKT/IMG_0001.JPG")
            assert await cam.object_size(picture.handle) == picture.size
            below = [e.path async for e in cam.walk(folder="MISC")]
            assert below == [p for p, *_ in expected if p.startswith(f"{STORE}/MISC/")]
            found = await cam.find("DCIM/100PTPKT/IMG_0002.JPG")
            assert found.path == f"{STORE}/DCIM/100PTPKT/IMG_0002.JPG"
            assert (await cam.entry(found.handle)).path == found.path
            with pytest.raises(NotFoundError):
                await cam.find("DCIM/NOPE.JPG")

    run(scenario)


# -- downloads --------------------------------------------------------------------------------


def test_every_file_downloads_byte_identical(rig: AioRig, tmp_path: Path) -> None:
    files = card_files(rig.card)

    async def scenario() -> None:
        async with rig.connect() as cam:
            async for entry in cam.walk():
                if entry.is_folder:
                    continue
                target = tmp_path / entry.path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                assert await cam.download(entry, target) == target
                assert target.read_bytes() == files[entry.path], entry.path
            entry = await cam.find("DCIM/100PTPKT/IMG_0003.JPG")
            buffer = io.BytesIO()
            assert await cam.download(entry.handle, buffer) is None
            assert buffer.getvalue() == files[entry.path]
            assert await cam.read(entry, 10, 100) == files[entry.path][10:110]
            # The safety rules are the blocking download's: nothing replaced unless asked.
            with pytest.raises(FileExistsError):
                await cam.download(entry, tmp_path / entry.path.lstrip("/"))
            thumb = await cam.thumbnail(entry)
            assert thumb[:2] == b"\xff\xd8"

    run(scenario)
    downloaded = {f"/{p.relative_to(tmp_path).as_posix()}" for p in tmp_path.rglob("*.*")}
    assert not any(p.endswith(PART_SUFFIX) for p in downloaded)


def test_a_big_download_streams_with_progress(rig: AioRig, tmp_path: Path) -> None:
    size = 3 * 2**20 + 12_345  # several data packets and reads
    handle = rig.vcam.add_generated_object(size, name="CLIP.MOV", seed=5)
    calls: list[tuple[int, int | None]] = []

    async def scenario() -> Path | None:
        async with rig.connect() as cam:
            return await cam.download(
                handle, f"{tmp_path}/new/", progress=lambda done, total: calls.append((done, total))
            )

    result = run(scenario)
    assert result == tmp_path / "new/CLIP.MOV"
    assert result.read_bytes() == generated_bytes(size, 5)
    assert calls[-1] == (size, size)
    assert len({done for done, _ in calls}) > 2


def test_a_cancelled_download_leaves_the_session_usable_and_no_file(
    rig: AioRig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """task.cancel() mid-way: the transaction is cancelled on the camera and drained, no final
    file appears, the partial file stays (ours, marked) and a second download resumes it."""
    caplog.set_level(logging.DEBUG, logger="ptpkit.transaction")
    size = 24 * 2**20
    handle = rig.vcam.add_generated_object(size, name="LONG.MOV", seed=9)
    final = tmp_path / "LONG.MOV"

    async def scenario() -> None:
        async with rig.connect() as cam:
            task: asyncio.Task[Path | None] | None = None

            def progress(done: int, total: int | None) -> None:
                assert task is not None
                if done >= 2**20 and not task.cancelling():
                    task.cancel()

            task = asyncio.create_task(cam.download(handle, final, progress=progress))
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not final.exists()
            part = tmp_path / f"LONG.MOV{PART_SUFFIX}"
            assert part.exists()
            assert 0 < part.stat().st_size < size
            assert cam.link_idle  # drained: the next transaction starts clean
            assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)
            readme = await cam.read("MISC/README.TXT")
            assert readme == (rig.card / "MISC/README.TXT").read_bytes()
            assert await cam.download(handle, final) == final

    run(scenario)
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("cancelling transaction") for m in said)
    assert not any(m.startswith("cancel of transaction") for m in said)  # the drain worked
    ended = [m for m in said if m.startswith("transaction") and " cancelled: " in m]
    if rig.transport == "ptpip":
        # The PTP/IP Cancel packet reached the camera mid-data: it ended the transaction with
        # TransactionCancelled (CIPA DC-X005), not with the rest of the object.
        assert ended == [ended[0]]
        assert ended[0].endswith("the camera answered TransactionCanceled")
    else:
        # USB's Cancel class request (and the in-process link's twin of it): the device drops
        # the rest and says so in its status, no response.
        assert len(ended) == 1
        assert ended[0].endswith("the link says it is over")
    # The second download resumed the partial file (GetPartialObject from where it ended).
    assert any(m.startswith("-> GetPartialObject") for m in said)
    assert final.read_bytes() == generated_bytes(size, 9)
    assert not (tmp_path / f"LONG.MOV{PART_SUFFIX}").exists()


def test_a_caller_timeout_cancels_like_a_task_cancel(rig: AioRig, tmp_path: Path) -> None:
    """asyncio.timeout() / wait_for() of the caller's around a call is a cancellation: the
    camera stays usable."""
    handle = rig.vcam.add_generated_object(64 * 2**20, name="HUGE.MOV", seed=3)

    async def scenario() -> None:
        async with rig.connect() as cam:

            class Stuck:
                """A sink that takes the first chunk, then waits for ever (a stalled consumer)."""

                def __init__(self) -> None:
                    self.received = 0

                def start(self, total_bytes: int | None) -> None:
                    pass

                async def write(self, chunk: Any) -> None:
                    self.received += len(chunk)
                    await asyncio.Event().wait()

                def finish(self) -> None:
                    pass

            stuck = Stuck()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(cam.transaction(Op.GET_OBJECT, [handle], into=stuck), 0.2)
            assert 0 < stuck.received < 64 * 2**20
            assert cam.link_idle
            assert (await cam.object_info(handle)).filename == "HUGE.MOV"

    run(scenario)


# -- changing objects -------------------------------------------------------------------------


def test_upload_make_folder_and_delete(rig: AioRig, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    data = os.urandom(2 * 2**20 + 4321)  # more than one chunk
    source.write_bytes(data)

    async def scenario() -> None:
        async with rig.connect() as cam:
            sent: list[int] = []
            entry = await cam.upload(source, progress=lambda done, total: sent.append(done))
            assert entry.path == f"{STORE}/upload.bin"
            assert entry.size == len(data)
            assert sent[-1] == len(data)
            assert (rig.card / "upload.bin").read_bytes() == data
            assert await cam.read(entry) == data

            trip = await cam.make_folder("TRIP")
            assert trip.path == f"{STORE}/TRIP"
            note = await cam.upload(io.BytesIO(b"first day\n"), name="NOTE.TXT", folder=trip)
            assert note.path == f"{STORE}/TRIP/NOTE.TXT"
            assert (rig.card / "TRIP/NOTE.TXT").read_bytes() == b"first day\n"
            paths = {e.path async for e in cam.walk()}
            assert {entry.path, trip.path, note.path} <= paths

            await cam.delete(entry)
            assert not (rig.card / "upload.bin").exists()
            await cam.delete(trip.path)
            assert not (rig.card / "TRIP").exists()
            with pytest.raises(ObjectError):
                await cam.object_info(note.handle)
            with pytest.raises(UsageError):
                await cam.upload(io.BytesIO(b"x"))  # a file object needs a name

    run(scenario)


# -- properties, capture, events --------------------------------------------------------------


def test_properties_by_name_code_and_text(rig: AioRig) -> None:
    async def scenario() -> None:
        async with rig.connect() as cam:
            described = await cam.describe_property("iso")
            assert described.code == Dpc.EXPOSURE_INDEX
            assert described.name == "ExposureIndex"
            assert described.writable
            await cam.set_property("iso", 400)
            assert await cam.get_property("iso") == 400
            await cam.set_property(Dpc.EXPOSURE_INDEX, "1600")
            assert await cam.get_property("ExposureIndex") == 1600
            assert await cam.get_property_text("iso") == "1600"
            with pytest.raises(UsageError, match="allowed"):
                await cam.set_property("iso", 123)
            with pytest.raises(UsageError, match="unknown property"):
                await cam.property_code("no-such-thing")
            listed = await cam.properties()
            assert Dpc.EXPOSURE_INDEX in {p.code for p in listed}
            # Every connection hears of a change, the one that made it too.
            async for _ in cam.events(timeout_s=0.2):
                pass  # the ISO changes above
            await cam.set_property("f-number", "f/11")
            event = await cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=5)
            assert event.params == (Dpc.F_NUMBER,)
            assert event.name == "DevicePropChanged"
            assert await cam.get_property("f-number") == 1100

    run(scenario)


def test_capture_and_events(rig: AioRig) -> None:
    async def scenario() -> None:
        async with rig.connect() as cam, rig.connect() as other:
            async for _ in cam.events(timeout_s=0.2):
                pass  # what opening the session said
            seen: list[CameraEvent] = []
            with cam.observing_events(seen.append):
                new = await cam.capture(timeout_s=10)
            assert [e.path for e in new] == [f"{STORE}/DCIM/100PTPKT/IMG_0005.JPG"]
            # The observer saw the capture's answer go by without taking it.
            assert [e.code for e in seen][:2] == [Ec.OBJECT_ADDED, Ec.CAPTURE_COMPLETE]
            assert (rig.card / "DCIM/100PTPKT/IMG_0005.JPG").read_bytes()[:2] == b"\xff\xd8"
            assert [e.code for e in new.events] == [Ec.OBJECT_ADDED, Ec.CAPTURE_COMPLETE]
            # The capture's answer is not queued again.
            assert Ec.OBJECT_ADDED not in {e.code async for e in cam.events(timeout_s=0.3)}
            # Another connection hears of the new picture and of its deletion, in order.
            added = await other.wait_event([Ec.OBJECT_ADDED], timeout_s=5)
            assert added.params[:1] == (new[0].handle,)
            assert (await other.event_entry(added)).path == new[0].path
            await cam.delete(new[0])
            removed = await other.wait_event([Ec.OBJECT_REMOVED], timeout_s=5)
            assert removed.params == (new[0].handle,)
            assert removed.received >= added.received

    run(scenario)


def test_raw_transactions(rig: AioRig, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig.connect() as cam:
            result = await cam.transaction(Op.GET_DEVICE_INFO)
            assert result.ok
            assert DeviceInfo.from_bytes(result.data).model == rig.vcam.personality.model
            unsupported = await cam.transaction(0x9999, [1, 2, 3])
            assert unsupported.code == Rc.OPERATION_NOT_SUPPORTED
            assert unsupported.name == "OperationNotSupported"
            value = encode_value(DataType.UINT16, 3200)
            sent = await cam.transaction(Op.SET_DEVICE_PROP_VALUE, [Dpc.EXPOSURE_INDEX], data=value)
            assert sent.ok
            assert await cam.get_property("iso") == 3200
            with (tmp_path / "info.bin").open("wb") as into:
                streamed = await cam.transaction(Op.GET_DEVICE_INFO, into=into)
            assert streamed.data == b""
            assert streamed.data_size == len(result.data)
            assert (tmp_path / "info.bin").read_bytes() == result.data

            class Chunks:
                """A sink whose methods are coroutines (a queue to a web response, say)."""

                def __init__(self) -> None:
                    self.parts: list[bytes] = []
                    self.total: int | None = None

                async def start(self, total_bytes: int | None) -> None:
                    self.total = total_bytes

                async def write(self, chunk: Any) -> None:
                    await asyncio.sleep(0)
                    self.parts.append(bytes(chunk))

                async def finish(self) -> None:
                    self.parts.append(b"<end>")

            chunks = Chunks()
            await cam.transaction(Op.GET_DEVICE_INFO, into=chunks)
            assert b"".join(chunks.parts) == result.data + b"<end>"
            assert chunks.total == len(result.data)
            refused = await cam.transaction(Op.GET_OBJECT_INFO, [0xDEAD])
            assert refused.code == Rc.INVALID_OBJECT_HANDLE
            assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)

    run(scenario)


# -- one camera, many tasks -------------------------------------------------------------------


def test_tasks_share_one_camera_one_transaction_at_a_time(rig: AioRig) -> None:
    async def scenario() -> None:
        async with rig.connect() as cam:
            entries = [e async for e in cam.walk() if not e.is_folder]
            before = cam.transactions_run
            infos = await asyncio.gather(*(cam.object_info(e.handle) for e in entries * 4))
            assert [i.filename for i in infos] == [e.name for e in entries * 4]
            assert cam.transactions_run - before == len(entries) * 4

            class Reentrant:
                """A sink that calls the camera from inside the transaction."""

                def start(self, total_bytes: int | None) -> None:
                    pass

                async def write(self, chunk: Any) -> None:
                    await cam.storage_ids()

                def finish(self) -> None:
                    pass

            with pytest.raises(BusyError):
                await cam.transaction(Op.GET_DEVICE_INFO, into=Reentrant())
            assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)

    run(scenario)


def test_device_busy_is_retried(rig: AioRig) -> None:
    rig.vcam.misbehavior = Misbehavior.parse("busy=2")

    async def scenario() -> None:
        async with rig.connect() as cam:
            assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)

    run(scenario)


# -- a slow camera ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("transport", "modes"),
    [
        ("virtual", "stall"),
        ("ptpip", "stall"),
        # PTP/IP only: probes on the command connection and events meanwhile, or a byte a tick.
        ("ptpip", "chatter,tick=0.05"),
        ("ptpip", "trickle,tick=0.05"),
    ],
)
def test_a_deadline_bounds_a_slow_camera(
    card: Path, tmp_path: Path, transport: str, modes: str
) -> None:
    """The data stops (stall), never comes while probes and events do (chatter), or comes a
    byte at a time (trickle): the call's deadline ends it with TransportTimeout, no final file;
    the link is broken after (the next call says to reconnect), as in the blocking engine."""
    final = tmp_path / "IMG_0001.JPG"

    async def scenario() -> float:
        async with ptpkit.aio.connect(rig.url, timeout_s=0.5, **rig.options) as cam:
            entry = await cam.find("DCIM/100PTPKT/IMG_0001.JPG")
            rig.vcam.misbehavior = Misbehavior.parse(modes)
            started = time.monotonic()
            with pytest.raises(TransportTimeout):
                await cam.download(entry, final)
            took = time.monotonic() - started
            with pytest.raises(ClosedError, match="reconnect"):
                await cam.storage_ids()
            return took

    with VirtualCamera(card) as vcam, _rig(vcam, transport) as rig:
        took = run(scenario)
    assert took < 3.0
    assert not final.exists()


# -- many cameras -----------------------------------------------------------------------------


def test_sixteen_cameras_in_one_loop_without_threads(card: Path, tmp_path: Path) -> None:
    """Sixteen PTP/IP cameras (sixteen servers) in one event loop: their transactions
    interleave, and the client side starts no thread (no event thread, no executor)."""
    files = card_files(card)
    picture = f"{STORE}/DCIM/100PTPKT/IMG_0004.JPG"
    client_threads: set[str] = set()

    async def one(url: str, index: int) -> tuple[int, list[str]]:
        async with ptpkit.aio.connect(url) as cam:
            paths = [e.path async for e in cam.walk()]
            target = tmp_path / f"cam{index:02d}.jpg"
            await cam.download(picture, target)
            assert target.read_bytes() == files[picture]
            client_threads.update(
                t.name
                for t in threading.enumerate()
                if t.name.startswith(("asyncio", "ptpkit-events", "ptpkit-usb", "ptpkit-ptpip"))
            )
            return cam.transactions_run, paths

    async def scenario(urls: list[str]) -> list[tuple[int, list[str]]]:
        return await asyncio.gather(*(one(url, i) for i, url in enumerate(urls)))

    with contextlib.ExitStack() as stack:
        vcam = stack.enter_context(VirtualCamera(card))
        servers = [
            stack.enter_context(PtpIpServer(vcam, host="127.0.0.1", port=0)) for _ in range(16)
        ]
        results = run(lambda: scenario([s.url for s in servers]))
    assert len(results) == 16
    expected = sorted(files)
    for count, paths in results:
        assert count > 10
        assert sorted(p for p in paths if p in files) == expected
    assert client_threads == set()


def test_connect_is_awaitable_and_refuses_a_bad_url() -> None:
    async def scenario() -> None:
        cam = await ptpkit.aio.connect("virtual:")
        try:
            assert isinstance(await cam.entry((await cam.object_handles())[0]), Entry)
        finally:
            await cam.close()
        await cam.close()  # twice is fine
        with pytest.raises(UsageError):
            ptpkit.aio.connect("nonsense")
        with pytest.raises(UsageError):
            ptpkit.aio.connect("ptpip:127.0.0.1", bogus=1)

    run(scenario)


@pytest.mark.parametrize(
    ("model", "extension", "vendor_operation"),
    [
        ("canon-eos", "canon-eos", (0x9116, "EOS_GetEvent")),
        ("nikon", "nikon", (0x90C7, "GetEvent")),
        ("sony", "sony", (0x9209, "SDIO_GetAllExtDevicePropInfo")),
    ],
)
def test_standard_ptp_on_the_vendor_personalities(
    card: Path, tmp_path: Path, model: str, extension: str, vendor_operation: tuple[int, str]
) -> None:
    """The vendors' cameras (in process) over ptpkit.aio with ``extensions=False``: standard
    PTP works on them (listing as the blocking Camera lists, downloads, InitiateCapture), and
    the matching extensions' names are known, their behaviour not used."""
    code, name = vendor_operation
    with VirtualCamera(card, personality=personality_for(model)) as vcam:
        with ptpkit.connect("virtual:", camera=vcam) as blocking:
            expected = [(e.path, e.handle) for e in blocking.walk()]

        async def scenario() -> None:
            async with ptpkit.aio.connect("virtual:", camera=vcam, extensions=False) as cam:
                assert cam.extensions == []
                assert extension in cam.extension_names
                assert cam.vocabulary.operation_name(code) == name
                walked = [e async for e in cam.walk()]
                assert [(e.path, e.handle) for e in walked] == expected
                picture = next(e for e in walked if e.name == "IMG_0001.JPG")
                saved = await cam.download(picture, tmp_path)
                assert saved is not None
                assert saved.read_bytes() == (card / "DCIM/100PTPKT/IMG_0001.JPG").read_bytes()
                new = await cam.capture(timeout_s=10)
                assert [e.name for e in new] == ["IMG_0005.JPG"]

        run(scenario)


@pytest.mark.parametrize(
    ("model", "transport", "iso", "shot"),
    [
        ("canon-eos", "virtual", ("ISO 400", 0x58, "ISO 400"), "IMG_0005.JPG"),
        ("canon-eos", "ptpip", ("ISO 400", 0x58, "ISO 400"), "IMG_0005.JPG"),
        ("nikon", "virtual", ("400", 400, "400"), "DSC_0001.JPG"),
        ("nikon", "ptpip", ("400", 400, "400"), "DSC_0001.JPG"),
        ("sony", "virtual", ("400", 400, "400"), "DSC00001.JPG"),
        ("fuji-x", "virtual", ("400", 400, "400"), "DSCF0001.JPG"),
        # Fujifilm's own PTP/IP variant (fuji:HOST:P:P+1:P+2): its blocking transport in a
        # worker thread, the extension's hooks in the camera's hook threads.
        ("fuji-x", "fuji", ("400", 400, "400"), "DSCF0001.JPG"),
    ],
)
def test_vendor_extensions_run_over_aio(
    card: Path, model: str, transport: str, iso: tuple[str, int, str], shot: str
) -> None:
    """The vendors' extensions under ptpkit.aio (their hooks in worker threads, their
    transactions on the loop): set-up, vendor properties, vendor capture, the event poller and
    live view; the camera closes cleanly with its threads gone."""
    given, raw, shown = iso

    async def scenario(rig: AioRig) -> None:
        async with rig.connect() as cam:
            named = {"fuji-x": "fuji"}.get(model, model)  # the extension of the X-T2's
            assert named in [extension.name for extension in cam.extensions]
            await cam.set_property("iso", given)
            assert await cam.get_property("iso") == raw
            assert await cam.get_property_text("iso") == shown
            new = await cam.capture(timeout_s=10)
            assert [e.name for e in new] == [shot]
            if model != "sony":  # a Sony's capture answers in its property poll, not events
                assert new.events  # the vendor's answer events, kept with the result
            picture = io.BytesIO()
            await cam.download(new[0], picture)
            assert picture.getvalue()[:2] == b"\xff\xd8"
            assert len(picture.getvalue()) == new[0].size
            if model == "sony":
                # Still Image Save Destination "PC": in the camera's memory, on no card.
                assert new[0].in_memory
                assert not sony_state(rig.vcam).in_memory  # read once, it let it go
            if model == "nikon":
                # In SDRAM (the camera's memory) until downloaded; told so (after_download),
                # the extension deletes it there, as libgphoto2 does.
                assert new[0].in_memory
                with pytest.raises(ObjectError):
                    await cam.object_info(new[0].handle)
            async with cam.live_view() as lv:
                frames = [await lv.next_frame() for _ in range(3)]
                async for frame in lv:  # the iterator form
                    assert frame.sequence == 3
                    break
                assert lv.received >= 4
                assert lv.fps > 0
                # The program's transactions run between the reader's frames.
                assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)
                # A slow consumer gets the newest frame; the ones it missed are dropped.
                seen = lv.received
                while lv.received < seen + 3:
                    await asyncio.sleep(0.005)  # the reader keeps asking meanwhile
                await lv.next_frame()
                assert lv.dropped >= 2
            preview = await cam.capture_preview()
            assert preview.jpeg[:2] == b"\xff\xd8"
            state = await cam.exposure_state()
            if model == "fuji-x":  # Fujifilm's 0xD212 list, each value with its text
                assert state
            if state is not None:
                assert all(item.text and item.label for item in state)
            assert [f.sequence for f in frames] == [0, 1, 2]
            assert all(f.jpeg[:2] == b"\xff\xd8" and f.width > 0 for f in frames)
            # Transactions of the program still run between the poller's.
            assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)

    before = set(threading.enumerate())
    with (
        VirtualCamera(card, personality=personality_for(model)) as vcam,
        _rig(vcam, transport) as rig,
    ):
        run(lambda: scenario(rig))
    hook_threads = [
        t for t in threading.enumerate() if t not in before and t.name.startswith("ptpkit-ext")
    ]
    for thread in hook_threads:
        thread.join(timeout=5)  # let go at close (idle workers end at once)
    assert not any(t.is_alive() for t in hook_threads)


def test_no_live_view_on_a_standard_camera(rig: AioRig) -> None:
    async def scenario() -> None:
        async with rig.connect() as cam:
            with pytest.raises(OperationNotSupportedError, match="no live view"):
                async with cam.live_view():
                    pass

    run(scenario)


@pytest.mark.parametrize(
    ("model", "read_64"),
    [
        ("generic", "Android_GetPartialObject64"),
        ("canon-eos", "EOS_GetPartialObjectEX64"),
        ("nikon", "GetPartialObjectEx"),
    ],
)
def test_past_4_gib_the_extensions_size_and_read(
    card: Path, caplog: pytest.LogCaptureFixture, model: str, read_64: str
) -> None:
    """An object over 4 GiB: its 64-bit size from the extension (ObjectInfo says 0xFFFFFFFF),
    a range past the 4 GiB line read with the extension's 64-bit operation, and ranges
    across the line and at the end (as the blocking Camera)."""
    caplog.set_level(logging.DEBUG, logger="ptpkit.transaction")
    size, seed = 5 * 2**30 + 3, 12
    content = GeneratedData(size, seed)

    def expected(offset: int, length: int) -> bytes:
        return b"".join(bytes(c) for c in content.chunks(offset, length))

    offset = 4 * 2**30 + 12_345
    with VirtualCamera(card, personality=personality_for(model)) as vcam:
        handle = vcam.add_generated_object(size, name="HUGE.MOV", seed=seed)

        async def scenario() -> None:
            async with ptpkit.aio.connect("virtual:", camera=vcam) as cam:
                entry = await cam.entry(handle)
                assert entry.size == size
                assert (await cam.find(entry.path)).size == size
                assert await cam.read(entry, offset, 5000) == expected(offset, 5000)
                assert await cam.read(entry, size - 7) == expected(size - 7, 7)
                assert await cam.read(entry, 2**32 - 10, 20) == expected(2**32 - 10, 20)

        run(scenario)
    asked = [r.getMessage() for r in caplog.records if r.getMessage().startswith("-> ")]
    assert any(m.startswith(f"-> {read_64}(") for m in asked)


def test_a_canon_eos_is_listed_its_way(card: Path, caplog: pytest.LogCaptureFixture) -> None:
    """EOS_GetObjectInfoEx per folder (one transaction each, no GetObjectInfo per object), the
    same entries as the blocking walk; with extensions=False the standard way, same paths."""
    with VirtualCamera(card, personality=personality_for("canon-eos")) as vcam:
        with ptpkit.connect("virtual:", camera=vcam) as blocking:
            entries = list(blocking.walk())
        expected = [(e.path, e.handle, e.size, e.info is None) for e in entries]
        folders = 1 + sum(e.is_folder for e in entries)  # the top, and each folder
        caplog.set_level(logging.DEBUG, logger="ptpkit.transaction")

        async def walk(extensions: bool) -> list[tuple[str, int, int, bool]]:
            async with ptpkit.aio.connect("virtual:", camera=vcam, extensions=extensions) as cam:
                caplog.clear()
                return [(e.path, e.handle, e.size, e.info is None) async for e in cam.walk()]

        assert run(lambda: walk(True)) == expected
        asked = [r.getMessage().split("(")[0] for r in caplog.records]
        assert asked.count("-> EOS_GetObjectInfoEx") == folders
        assert "-> GetObjectInfo" not in asked
        standard = run(lambda: walk(False))
        assert [item[:3] for item in standard] == [item[:3] for item in expected]
        assert "-> EOS_GetObjectInfoEx" not in [
            r.getMessage().split("(")[0] for r in caplog.records
        ]


def test_sony_pictures_handed_out_in_turn(tmp_path: Path) -> None:
    """Two pictures taken on a Sony between its polls wait in its memory at one handle
    (0xFFFFC001): the poller announces both, and each is described just before it is read,
    in order, as the blocking Camera's tether does."""
    with VirtualCamera(personality=personality_for("sony", {"ready_polls": "0"})) as vcam:
        state = sony_state(vcam)

        async def scenario() -> list[tuple[str, bytes]]:
            async with ptpkit.aio.connect("virtual:", camera=vcam) as cam:
                async for _ in cam.events(timeout_s=0.3):
                    pass
                state.fire()
                state.fire()
                added = [await cam.wait_event([Ec.OBJECT_ADDED], timeout_s=10) for _ in range(2)]
                saved = []
                for event in added:
                    entry = await cam.event_entry(event)
                    path = await cam.download(entry, tmp_path)
                    assert path is not None
                    saved.append((path.name, path.read_bytes()))
                return saved

        assert run(scenario) == state.captured[-2:]


@pytest.mark.parametrize("transport", ["virtual", "ptpip"])
def test_an_mtp_camera_is_listed_in_one_transaction(
    card: Path, caplog: pytest.LogCaptureFixture, transport: str
) -> None:
    """MTP's whole-card GetObjPropList (run on the engine, no hook thread): one transaction,
    the same entries as the blocking walk; below a folder too; a camera that refuses it is
    listed folder by folder from then on."""
    with VirtualCamera(card) as vcam, _rig(vcam, transport) as rig:
        with ptpkit.connect("virtual:", camera=vcam) as blocking:
            expected = [(e.path, e.handle, e.size, e.is_folder) for e in blocking.walk()]
            below = [e.path for e in blocking.walk(folder="DCIM")]
        caplog.set_level(logging.DEBUG, logger="ptpkit.transaction")

        async def scenario() -> None:
            async with rig.connect() as cam:
                caplog.clear()
                walked = [(e.path, e.handle, e.size, e.is_folder) async for e in cam.walk()]
                assert walked == expected
                asked = [r.getMessage().split("(")[0] for r in caplog.records]
                assert asked.count("-> GetObjPropList") == 1
                assert "-> GetObjectInfo" not in asked
                assert [e.path async for e in cam.walk(folder="DCIM")] == below
                hook_threads = [t for t in threading.enumerate() if t.name.startswith("ptpkit-")]
                assert hook_threads == []

                def refuse(ctx: Any) -> Any:
                    return error(Rc.OPERATION_NOT_SUPPORTED)

                vcam.operations[Op.GET_OBJ_PROP_LIST] = dataclasses.replace(
                    vcam.operations[Op.GET_OBJ_PROP_LIST], handler=refuse
                )
                assert [e.path async for e in cam.walk()] == [p for p, *_ in expected]
                caplog.clear()
                assert [e.path async for e in cam.walk()] == [p for p, *_ in expected]
                asked = [r.getMessage().split("(")[0] for r in caplog.records]
                assert "-> GetObjPropList" not in asked  # not asked again

        run(scenario)


@pytest.mark.parametrize("modes", ["", "ignore-probes"])
def test_an_idle_ptpip_camera_is_probed(card: Path, modes: str) -> None:
    """The event connection's task probes an idle camera every ``probe_interval_s``; one that
    ignores probes (libgphoto2 answers none) stays usable, its misses counted."""

    async def scenario(url: str) -> tuple[int, int]:
        async with ptpkit.aio.connect(url, probe_interval_s=0.05, probe_timeout_s=0.05) as cam:
            link = cam.transport
            assert isinstance(link, ptpkit.aio.AsyncPtpIpTransport)
            loop = asyncio.get_running_loop()
            give_up = loop.time() + 10
            while link.probes_answered + link.probes_missed < 3 and loop.time() < give_up:
                await cam.next_event(timeout_s=0.05)  # idle: the loop runs the probes
            assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)
            return link.probes_answered, link.probes_missed

    with (
        VirtualCamera(card, misbehavior=Misbehavior.parse(modes)) as vcam,
        _rig(vcam, "ptpip") as rig,
    ):
        answered, missed = run(lambda: scenario(rig.url))
    if modes:
        assert (answered, missed >= 3) == (0, True)
    else:
        assert (answered >= 3, missed) == (True, 0)


def test_a_fujifilm_with_an_empty_device_info_over_its_variant(card: Path) -> None:
    """Over Wi-Fi an X-T answers GetDeviceInfo empty: the link (Fujifilm's PTP/IP variant)
    chooses the extension, which synthesises the DeviceInfo (again after a refresh); its
    properties and capture work over aio, as on the blocking Camera."""
    personality = personality_for("fuji-x", {"empty_device_info": "1"})
    with VirtualCamera(card, personality=personality) as vcam, _rig(vcam, "fuji") as rig:

        async def scenario() -> None:
            async with rig.connect(timeout_s=10) as cam:
                assert cam.transport.kind == "fujiptpip"
                assert [e.name for e in cam.extensions] == ["fuji"]  # chosen by the link
                assert cam.device_info.manufacturer == "FUJIFILM"  # synthesised
                assert cam.device_info.operations_supported
                assert (await cam.refresh_device_info()).manufacturer == "FUJIFILM"
                assert await cam.get_property_text("iso") == "200"
                new = await cam.capture(timeout_s=10)
                assert [e.name for e in new] == ["DSCF0001.JPG"]

        run(scenario)


def test_a_cancelled_upload_leaves_the_session_usable(rig: AioRig, tmp_path: Path) -> None:
    """task.cancel() while the data goes to the camera: the data phase is cancelled the
    link's way (PTP/IP Cancel packet, USB Cancel request) and drained; the camera keeps no
    complete object and the session goes on."""
    size = 24 * 2**20
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(size))

    async def scenario() -> None:
        async with rig.connect() as cam:
            task: asyncio.Task[Entry] | None = None

            def progress(done: int, total: int | None) -> None:
                assert task is not None
                if done >= 2**20 and not task.cancelling():
                    task.cancel()

            task = asyncio.create_task(cam.upload(source, progress=progress))
            with pytest.raises(asyncio.CancelledError):
                await task
            assert cam.link_idle
            assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)
            uploaded = rig.card / "big.bin"
            assert not uploaded.exists() or uploaded.stat().st_size < size
            again = await cam.upload(io.BytesIO(b"after\n"), name="AFTER.TXT")
            assert await cam.read(again) == b"after\n"

    run(scenario)


def test_a_data_source_shorter_than_it_said_is_a_local_error(rig: AioRig) -> None:
    """The length goes out first: a source that ends early is our error, at once, and the
    link is still usable (the data phase cancelled and drained)."""

    class Short:
        size = 1000
        given = False

        async def read(self, max_bytes: int) -> bytes:
            if self.given:
                return b""
            self.given = True
            return b"x" * 10

    async def scenario() -> None:
        async with rig.connect() as cam:
            with pytest.raises(LocalProtocolError, match="990 bytes short of the 1000"):
                await cam.transaction(Op.SEND_OBJECT, data=Short())
            assert await cam.storage_ids() == (DEFAULT_STORAGE_ID,)

    run(scenario)


def test_a_powershot_behind_its_ptp_gateway(tmp_path: Path) -> None:
    """A PowerShot G3 on Canon's native USB protocol (the virtual one through PyUSB): its PTP
    gateway transport in a worker thread; listing as the blocking Camera lists, a download
    byte-identical to the card, a capture answered by ObjectAdded and CaptureComplete."""
    root = tmp_path / "card"
    root.mkdir()
    make_powershot_card(root)
    url = f"virtual+usb:{root}?model=powershot-g3"
    with ptpkit.connect(url) as blocking:
        expected = [(e.path, e.size) for e in blocking.walk()]

    async def scenario() -> None:
        async with ptpkit.aio.connect(url) as cam:
            assert cam.transport.kind == "canon-usb"
            assert cam.device_info.model == "Canon PowerShot G3"
            entries = [e async for e in cam.walk()]
            assert [(e.path, e.size) for e in entries] == expected
            picture = next(e for e in entries if e.name.endswith(".JPG"))
            saved = await cam.download(picture, tmp_path / "out/")
            assert saved is not None
            on_card = root / picture.path.split("/", 2)[2]
            assert saved.read_bytes() == on_card.read_bytes()
            new = await cam.capture(timeout_s=30)
            assert len(new) == 1
            assert [e.name for e in new.events] == ["ObjectAdded", "CaptureComplete"]

    run(scenario)


def test_close_from_another_task_ends_a_capture_and_a_download(rig: AioRig) -> None:
    """A waiting capture and a running download both end at once with ClosedError when
    another task closes the camera: not a timeout, not an error blamed on the camera."""
    handle = rig.vcam.add_generated_object(64 * 2**20, seed=11)

    async def scenario() -> None:
        async with rig.connect() as cam:
            # The camera reports the picture in 10 s.
            await cam.set_property(Dpc.CAPTURE_DELAY, 10_000)
            before = cam.transactions_run
            capture = asyncio.create_task(cam.capture(timeout_s=30))
            while cam.transactions_run == before or not cam.link_idle:
                await asyncio.sleep(0.01)  # until InitiateCapture is answered
            assert not capture.done()  # waiting for the camera's events
            loop = asyncio.get_running_loop()
            started = loop.time()
            await cam.close()
            with pytest.raises(ClosedError):
                await capture
            assert loop.time() - started < 5

        async with rig.connect() as cam:
            first = asyncio.Event()

            class Slow:
                def start(self, total_bytes: int | None) -> None:
                    pass

                async def write(self, chunk: Any) -> None:
                    first.set()
                    await asyncio.sleep(0.001)

                def finish(self) -> None:
                    pass

            download = asyncio.create_task(cam.transaction(Op.GET_OBJECT, [handle], into=Slow()))
            await first.wait()
            await cam.close()
            with pytest.raises(ClosedError):
                await download

    run(scenario)
