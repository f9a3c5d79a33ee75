"""The Camera asks its extensions' hooks in order (vendor first, then MTP), and does standard PTP
when none answers (issue 12). Small fake extensions, given to ``connect(extensions=[...])``,
against the virtual camera in this process; the requests the client sent are read from the
transaction log, so each test shows both that a hook was asked and which PTP operations ran.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

import ptpkit
from ptpkit._sync import Latch
from ptpkit.client.camera import ROOT, Camera
from ptpkit.codes import Kind
from ptpkit.codes.common import Ec, Op, Rc
from ptpkit.core.datasets import (
    SIZE_UNKNOWN_32,
    DeviceInfo,
    DevicePropDesc,
    EnumerationForm,
    ObjectInfo,
)
from ptpkit.core.datatypes import DataType, Value
from ptpkit.core.events import Event
from ptpkit.errors import OperationNotSupportedError, TransportTimeout, UsageError
from ptpkit.ext import Extension, register, unregister
from ptpkit.ext.base import (
    CapturedObject,
    CaptureOutcome,
    DataSink,
    EventPoller,
    FrameSource,
    Session,
)
from ptpkit.testing import FakeClock
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.responder import OperationContext, Reply, error

if TYPE_CHECKING:
    from conftest import TransactionLog

#: A vendor property no standard table names, served only by the fake extensions.
VENDOR_PROP = 0xD1F0
STORE = "/store_00010001"


class Recording(Extension):
    """An extension that answers nothing and records every hook asked, in a log shared by the
    test (class attribute ``calls``, replaced per test with ``recording()``)."""

    name = "recording"
    calls: ClassVar[list[tuple[str, str]]] = []

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        return True

    def _note(self, hook: str) -> None:
        self.calls.append((self.name, hook))

    def property_codes(self) -> Collection[int] | None:
        self._note("property_codes")
        return None

    def describe_property(self, code: int) -> DevicePropDesc | None:
        self._note("describe_property")
        return None

    def set_property(self, code: int, value: Value, datatype: DataType) -> bool:
        self._note("set_property")
        return False

    def format_value(self, code: int, value: Value) -> str | None:
        self._note("format_value")
        return None

    def parse_value(self, code: int, text: str, allowed: Sequence[Value] | None) -> Value | None:
        self._note("parse_value")
        return None

    def capture(self, *, timeout_s: float) -> CaptureOutcome | None:
        self._note("capture")
        return None

    def after_download(self, captured: CapturedObject) -> None:
        self._note("after_download")

    def list_folder(self, storage_id: int, parent: int) -> list[tuple[int, ObjectInfo]] | None:
        self._note("list_folder")
        return None

    def object_size(self, handle: int, info: ObjectInfo) -> int | None:
        self._note("object_size")
        return None

    def read_object(self, handle: int, offset: int, length: int, sink: DataSink) -> bool:
        self._note("read_object")
        return False

    def live_view(self) -> FrameSource | None:
        self._note("live_view")
        return None


def recording(name: str, **overrides: Any) -> type[Recording]:
    """A Recording extension class called ``name``, with hooks replaced by ``overrides``."""
    return type(f"Recording_{name}", (Recording,), {"name": name, **overrides})


@pytest.fixture
def calls() -> Iterator[list[tuple[str, str]]]:
    log: list[tuple[str, str]] = []
    Recording.calls = log
    yield log
    Recording.calls = []


@pytest.fixture
def vcam(card: Path) -> Iterator[VirtualCamera]:
    with VirtualCamera(card) as camera:
        yield camera


def connect(vcam: VirtualCamera, *extensions: type[Extension], **options: Any) -> Camera:
    return ptpkit.connect("virtual:", camera=vcam, extensions=extensions, **options)


def hooks(calls: list[tuple[str, str]], hook: str) -> list[str]:
    """The extensions asked ``hook``, in the order they were asked."""
    return [name for name, asked in calls if asked == hook]


# -- the order, and the standard fallback ---------------------------------------------------------


def test_extensions_are_asked_vendor_first_then_mtp(vcam: VirtualCamera) -> None:
    first, second = recording("first"), recording("second")
    with connect(vcam, first, second) as cam:
        assert [extension.name for extension in cam.extensions] == ["first", "second", "mtp"]


def test_no_answer_means_standard_ptp(
    vcam: VirtualCamera,
    card: Path,
    calls: list[tuple[str, str]],
    transactions: TransactionLog,
    tmp_path: Path,
) -> None:
    first, second = recording("first"), recording("second")
    with connect(vcam, first, second) as cam:
        transactions.clear()
        assert cam.describe_property("iso").current == 200
        assert transactions.names() == ["GetDevicePropDesc"]
        assert hooks(calls, "describe_property") == ["first", "second"]
        assert cam.describe_property("iso").current_text == "200"
        assert hooks(calls, "format_value") == ["first", "second"]

        transactions.clear()
        cam.set_property("iso", "400")
        assert hooks(calls, "parse_value") == ["first", "second"]
        assert hooks(calls, "set_property") == ["first", "second"]
        assert transactions.names()[-1] == "SetDevicePropValue"
        assert cam.get_property("iso") == 400

        assert cam.properties_supported() == cam._named(
            Kind.PROPERTY, cam.device_info.device_properties_supported
        )
        assert hooks(calls, "property_codes")[-2:] == ["first", "second"]

        transactions.clear()
        assert "DCIM" in [e.name for e in cam.list_folder()]
        assert hooks(calls, "list_folder") == ["first", "second"]
        assert transactions.names()[0] == "GetStorageIDs"
        assert "GetObjectHandles" in transactions.names()
        assert "GetObjectInfo" in transactions.names()

        picture = cam.find(f"{STORE}/DCIM/100PTPKT/IMG_0001.JPG")
        transactions.clear()
        assert cam.read(picture, 10, 5) == card_bytes(card, picture.path)[10:15]
        assert hooks(calls, "read_object") == ["first", "second"]
        assert transactions.names() == ["GetPartialObject"]
        assert cam.download(picture, tmp_path / "a.jpg") == tmp_path / "a.jpg"
        assert hooks(calls, "after_download") == []  # not in the camera's memory

        info = dataclasses.replace(picture.info, compressed_size=SIZE_UNKNOWN_32)
        transactions.clear()
        assert cam.object_size(picture.handle, info) == picture.size
        assert hooks(calls, "object_size") == ["first", "second"]
        assert transactions.names() == ["GetObjectPropValue"]  # MTP's ObjectSize

        with pytest.raises(OperationNotSupportedError, match="no live view") as refused:
            cam.live_view_source()
        assert "first, second, mtp" in str(refused.value)
        assert hooks(calls, "live_view") == ["first", "second"]

        drain(cam)
        transactions.clear()
        new = cam.capture()
        assert hooks(calls, "capture") == ["first", "second"]
        assert transactions.names()[0] == "InitiateCapture"
        assert [entry.name for entry in new]
        assert not new[0].in_memory
        assert [event.code for event in new.events][-1] == Ec.CAPTURE_COMPLETE


def card_bytes(card: Path, path: str) -> bytes:
    """The bytes of the card's file at camera path ``path``."""
    return (card / path.split("/", 2)[2]).read_bytes()


def drain(cam: Camera) -> None:
    list(cam.events(timeout_s=0))


def test_the_first_answer_wins(vcam: VirtualCamera, calls: list[tuple[str, str]]) -> None:
    def describe(self: Recording, code: int) -> DevicePropDesc | None:
        self._note("describe_property")
        return DevicePropDesc(code=code, datatype=DataType.UINT16, current=1234)

    first, second = recording("first", describe_property=describe), recording("second")
    with connect(vcam, first, second) as cam:
        assert cam.get_property("iso") == 1234
        assert hooks(calls, "describe_property") == ["first"]


# -- properties ------------------------------------------------------------------------------------


class VendorProps(Recording):
    """One vendor property with a value cache, its own text and its own way of setting."""

    name = "vendor-props"
    values: ClassVar[dict[int, str]] = {1: "one", 2: "two", 3: "three"}

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.current = 1
        self.sets: list[tuple[int, Value, DataType]] = []

    def property_codes(self) -> Collection[int] | None:
        return (VENDOR_PROP,)

    def describe_property(self, code: int) -> DevicePropDesc | None:
        if code != VENDOR_PROP:
            return None
        return DevicePropDesc(
            code=code,
            datatype=DataType.UINT8,
            get_set=1,
            current=self.current,
            form=EnumerationForm(values=tuple(self.values)),
        )

    def format_value(self, code: int, value: Value) -> str | None:
        return self.values.get(value) if code == VENDOR_PROP and isinstance(value, int) else None

    def parse_value(self, code: int, text: str, allowed: Sequence[Value] | None) -> Value | None:
        if code != VENDOR_PROP:
            return None
        for raw, shown in self.values.items():
            if shown == text.strip().lower():
                return raw
        raise UsageError(f"{text!r} is no value of the vendor property")

    def set_property(self, code: int, value: Value, datatype: DataType) -> bool:
        if code != VENDOR_PROP:
            return False
        self.sets.append((code, value, datatype))
        self.current = int(value)  # type: ignore[arg-type]
        return True


def test_a_vendor_property_lives_in_its_extension(
    vcam: VirtualCamera, transactions: TransactionLog
) -> None:
    with connect(vcam, VendorProps) as cam:
        [extension] = [e for e in cam.extensions if isinstance(e, VendorProps)]
        assert cam.property_codes()[-1] == VENDOR_PROP
        assert VENDOR_PROP in [named.code for named in cam.properties_supported()]
        [described] = [p for p in cam.properties() if p.code == VENDOR_PROP]
        assert described.current_text == "one"
        assert described.allowed_text() == "one, two, three"

        transactions.clear()
        assert cam.get_property(VENDOR_PROP) == 1
        assert cam.get_property_text(VENDOR_PROP) == "one"
        cam.set_property(VENDOR_PROP, "Three")
        assert extension.sets == [(VENDOR_PROP, 3, DataType.UINT8)]
        assert cam.get_property_text(VENDOR_PROP) == "three"
        cam.set_property(VENDOR_PROP, 2)
        assert cam.get_property(VENDOR_PROP) == 2
        # Never a standard property operation for it.
        assert transactions.names() == []

        with pytest.raises(UsageError, match="no value of the vendor property"):
            cam.set_property(VENDOR_PROP, "four")
        with pytest.raises(UsageError, match="allowed: one, two, three"):
            cam.set_property(VENDOR_PROP, 9)


# -- capture ---------------------------------------------------------------------------------------


def _picture(vcam: VirtualCamera, name: str = "IMG_0002.JPG") -> tuple[int, ObjectInfo]:
    """A picture on the virtual card, as (handle, ObjectInfo), read through another client."""
    with ptpkit.connect("virtual:", camera=vcam) as other:
        entry = other.find(f"DCIM/100PTPKT/{name}")
        assert entry.info is not None
        return entry.handle, entry.info


def vendor_capture(handle: int, info: ObjectInfo | None, *, in_memory: bool) -> type[Recording]:
    def capture(self: Recording, *, timeout_s: float) -> CaptureOutcome | None:
        self._note("capture")
        return CaptureOutcome(
            objects=(CapturedObject(handle=handle, info=info, in_memory=in_memory),),
            events=(Event(code=Ec.OBJECT_ADDED, params=(handle,)),),
        )

    def after_download(self: Recording, captured: CapturedObject) -> None:
        self.calls.append(("after_download", f"0x{captured.handle:08X} {captured.in_memory}"))

    return recording("vendor", capture=capture, after_download=after_download)


def test_a_vendor_capture_replaces_initiate_capture(
    vcam: VirtualCamera, calls: list[tuple[str, str]], transactions: TransactionLog, tmp_path: Path
) -> None:
    handle, _ = _picture(vcam)
    with connect(vcam, vendor_capture(handle, None, in_memory=False)) as cam:
        transactions.clear()
        [entry] = cam.capture(timeout_s=5)
        assert "InitiateCapture" not in transactions.names()
        # No ObjectInfo in the outcome: the camera reads it.
        assert transactions.names()[0] == "GetObjectInfo"
        assert entry.path == f"{STORE}/DCIM/100PTPKT/IMG_0002.JPG"
        assert not entry.in_memory
        cam.download(entry, tmp_path / "x.jpg")
        assert [c for c in calls if c[0] == "after_download"] == []


def test_an_object_in_the_cameras_memory_is_reported_after_its_download(
    vcam: VirtualCamera,
    card: Path,
    calls: list[tuple[str, str]],
    transactions: TransactionLog,
    tmp_path: Path,
) -> None:
    handle, info = _picture(vcam)
    in_ram = dataclasses.replace(info, parent_object=0, filename="CAPT0001.JPG")
    with connect(vcam, vendor_capture(handle, in_ram, in_memory=True)) as cam:
        transactions.clear()
        result = cam.capture(timeout_s=5)
        # The outcome's ObjectInfo is used as it is: no transaction at all for the entry.
        assert transactions.names() == []
        [entry] = result
        assert entry.in_memory
        assert entry.path == f"{STORE}/CAPT0001.JPG"
        assert [(event.code, event.name, event.params) for event in result.events] == [
            (Ec.OBJECT_ADDED, "ObjectAdded", (handle,))
        ]
        saved = cam.download(entry, tmp_path / "shot.jpg")
        assert saved is not None
        assert saved.read_bytes() == card_bytes(card, f"{STORE}/DCIM/100PTPKT/IMG_0002.JPG")
        assert [c for c in calls if c[0] == "after_download"] == [
            ("after_download", f"0x{handle:08X} True")
        ]


@pytest.fixture
def registered_extension() -> Iterator[list[type[Extension]]]:
    """Extensions registered for the CLI (which uses the registry) for one test."""
    added: list[type[Extension]] = []
    yield added
    for factory in added:
        unregister(factory.name)


def test_cli_capture_download_of_an_in_memory_object(
    vcam: VirtualCamera,
    card: Path,
    calls: list[tuple[str, str]],
    tmp_path: Path,
    registered_extension: list[type[Extension]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ptpkit.cli.main import main
    from ptpkit.virtual.server import PtpIpServer

    handle, info = _picture(vcam)
    factory = vendor_capture(handle, dataclasses.replace(info, parent_object=0), in_memory=True)
    register(factory)
    registered_extension.append(factory)
    out = tmp_path / "out"
    with PtpIpServer(vcam, host="127.0.0.1", port=0) as server, pytest.raises(SystemExit) as ended:
        main(["--camera", server.url, "capture", "--download", str(out)])
    assert ended.value.code == 0, capsys.readouterr()
    assert (out / "IMG_0002.JPG").read_bytes() == card_bytes(
        card, f"{STORE}/DCIM/100PTPKT/IMG_0002.JPG"
    )
    assert [c for c in calls if c[0] == "after_download"] == [
        ("after_download", f"0x{handle:08X} True")
    ]


class PolledObjects(Recording):
    """Events come from a poller (as on a Canon EOS): one ObjectAdded whose details carry the
    object, in the camera's memory."""

    name = "polled"
    announce: ClassVar[CapturedObject | None] = None

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.downloaded = Latch()

    def event_poller(self) -> EventPoller | None:
        return _Announcer(self)

    def after_download(self, captured: CapturedObject) -> None:
        self.calls.append(("after_download", f"0x{captured.handle:08X} {captured.in_memory}"))
        self.downloaded.set()


class _Announcer:
    """Announces the object on each poll until it is downloaded (``tether`` forgets the events
    that came before it started)."""

    def __init__(self, extension: PolledObjects) -> None:
        self.extension = extension

    def poll(self) -> float:
        announce = self.extension.announce
        if announce is not None and not self.extension.downloaded.is_set():
            self.extension.session.emit(Ec.OBJECT_ADDED, (announce.handle,), details=announce)
        return 0.05


def test_cli_tether_downloads_an_object_its_event_describes(
    vcam: VirtualCamera,
    card: Path,
    calls: list[tuple[str, str]],
    tmp_path: Path,
    registered_extension: list[type[Extension]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ptpkit.cli.main import main
    from ptpkit.virtual.server import PtpIpServer

    handle, info = _picture(vcam, "IMG_0003.JPG")
    announce = CapturedObject(
        handle=handle,
        info=dataclasses.replace(info, parent_object=0, filename="PC_0001.JPG"),
        in_memory=True,
    )

    factory = type("Tethered", (PolledObjects,), {"name": "tethered", "announce": announce})
    register(factory)
    registered_extension.append(factory)
    out = tmp_path / "out"
    with PtpIpServer(vcam, host="127.0.0.1", port=0) as server, pytest.raises(SystemExit) as ended:
        main(["--camera", server.url, "tether", "--download", str(out), "--count", "1"])
    assert ended.value.code in (0, None), capsys.readouterr()
    assert (out / "PC_0001.JPG").read_bytes() == card_bytes(
        card, f"{STORE}/DCIM/100PTPKT/IMG_0003.JPG"
    )
    assert [c for c in calls if c[0] == "after_download"] == [
        ("after_download", f"0x{handle:08X} True")
    ]


# -- objects ---------------------------------------------------------------------------------------


def test_a_folder_listed_by_an_extension_takes_no_standard_operations(
    vcam: VirtualCamera, transactions: TransactionLog
) -> None:
    with ptpkit.connect("virtual:", camera=vcam) as other:
        standard = other.list_folder("DCIM/100PTPKT")
        assert all(entry.info is not None for entry in standard)
        folder = other.find("DCIM/100PTPKT")
        listed = [(entry.handle, entry.info) for entry in reversed(standard)]

    asked: list[tuple[int, int]] = []

    def list_folder(self: Recording, storage_id: int, parent: int) -> Any:
        asked.append((storage_id, parent))
        return listed if parent == folder.handle else None

    with connect(vcam, recording("lister", list_folder=list_folder)) as cam:
        start = cam.find("DCIM/100PTPKT")
        transactions.clear()
        entries = cam.list_folder(start)
        # One folder, no GetObjectHandles and no GetObjectInfo: the extension's answer, sorted.
        assert transactions.names() == []
        assert entries == standard
        assert asked[-1] == (start.storage_id, start.handle)
        # The top of a storage is asked with parent ROOT; the extension declines, standard runs.
        cam.list_folder()
        assert (0x00010001, ROOT) in asked
        # find() lists through it too.
        transactions.clear()
        assert cam.find("DCIM/100PTPKT/IMG_0003.JPG") == standard[2]
        assert "GetObjectInfo" in transactions.names()  # DCIM and 100PTPKT: not the extension's


def test_object_size_and_reads_go_to_the_first_extension_that_answers(
    vcam: VirtualCamera, card: Path, transactions: TransactionLog, tmp_path: Path
) -> None:
    reads: list[tuple[int, int, int]] = []

    def read_object(self: Recording, handle: int, offset: int, length: int, sink: DataSink) -> bool:
        # The vendor's way, through the Session (here: GetPartialObject for every read).
        reads.append((handle, offset, length))
        self.session.run(Op.GET_PARTIAL_OBJECT, (handle, offset, length), sink=sink)
        return True

    def object_size(self: Recording, handle: int, info: ObjectInfo) -> int | None:
        return 5 << 30

    factory = recording("reader", read_object=read_object, object_size=object_size)
    with connect(vcam, factory) as cam:
        picture = cam.find("DCIM/100PTPKT/IMG_0001.JPG")
        data = card_bytes(card, picture.path)
        transactions.clear()
        saved = cam.download(picture, tmp_path / "a.jpg")
        assert saved is not None
        assert saved.read_bytes() == data
        assert reads == [(picture.handle, 0, picture.size)]
        assert transactions.names() == ["GetPartialObject"]
        assert cam.read(picture, 3, 4) == data[3:7]
        assert reads[-1] == (picture.handle, 3, 4)
        assert picture.info is not None
        unknown = dataclasses.replace(picture.info, compressed_size=SIZE_UNKNOWN_32)
        transactions.clear()
        assert cam.object_size(picture.handle, unknown) == 5 << 30
        assert transactions.names() == []


class Frames:
    def __init__(self) -> None:
        self.started = False

    def start(self) -> None:
        self.started = True

    def frame(self) -> bytes | None:
        return b"\xff\xd8frame\xff\xd9" if self.started else None

    def stop(self) -> None:
        self.started = False


def test_live_view_comes_from_an_extension(vcam: VirtualCamera) -> None:
    frames = Frames()
    with connect(vcam, recording("viewer", live_view=lambda self: frames)) as cam:
        source = cam.live_view_source()
        assert source is frames
        source.start()
        assert source.frame() == b"\xff\xd8frame\xff\xd9"


# -- events ----------------------------------------------------------------------------------------


class Emitting(Recording):
    """A poller that emits three events, the second with a vendor record as its details."""

    name = "emitting"

    def event_poller(self) -> EventPoller | None:
        return _Emitter(self.session)


class _Emitter:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.polls = 0

    def poll(self) -> float:
        self.polls += 1
        if self.polls == 1:
            self.session.emit(Ec.DEVICE_PROP_CHANGED, (0x5005,))
            self.session.emit(0xC189, (1, 2), details={"record": "vendor"})
            self.session.emit(Ec.DEVICE_INFO_CHANGED)
        return 0.02


def test_events_an_extension_emits_reach_every_reader(vcam: VirtualCamera) -> None:
    with connect(vcam, Emitting) as cam:
        vendor = cam.wait_event([0xC189], timeout_s=10)
        assert vendor.params == (1, 2)
        assert vendor.details == {"record": "vendor"}
        # What wait_event skipped is kept, in order.
        first = cam.next_event(10)
        assert first is not None
        assert first.code == Ec.DEVICE_PROP_CHANGED
        assert first.details is None
        rest = cam.next_event(10)
        assert rest is not None
        assert rest.name == "DeviceInfoChanged"


def test_emitted_events_answer_a_standard_capture(vcam: VirtualCamera) -> None:
    """A capture listens to extension events too: here the camera itself announces nothing,
    and the poller's ObjectAdded and CaptureComplete are the capture's answer."""
    handle, info = _picture(vcam)
    started = Latch()

    class Announcer(Recording):
        name = "announcer"

        def event_poller(self) -> EventPoller | None:
            session = self.session

            class Poll:
                def poll(self) -> float:
                    if started.is_set():
                        session.emit(Ec.OBJECT_ADDED, (handle,), details=info)
                        session.emit(Ec.CAPTURE_COMPLETE)
                        return 3600.0
                    return 0.01

            return Poll()

    def initiate(ctx: OperationContext) -> Reply:
        started.set()
        return Reply(code=Rc.OK)

    operation = vcam.operations[Op.INITIATE_CAPTURE]
    vcam.operations[Op.INITIATE_CAPTURE] = dataclasses.replace(operation, handler=initiate)
    with connect(vcam, Announcer) as cam:
        drain(cam)
        result = cam.capture(timeout_s=10)
        assert [entry.name for entry in result] == [info.filename]
        assert result[0].info == info
        assert [event.code for event in result.events] == [Ec.OBJECT_ADDED, Ec.CAPTURE_COMPLETE]
        assert result.events[0].details == info
        assert cam.next_event(0) is None  # consumed by the capture


# -- time ------------------------------------------------------------------------------------------


def test_busy_back_off_runs_on_the_cameras_clock(vcam: VirtualCamera) -> None:
    clock = FakeClock()
    with connect(vcam, clock=clock) as cam:
        original = vcam.operations[Op.GET_STORAGE_IDS]
        attempts: list[int] = []

        def busy(ctx: OperationContext) -> Reply:
            attempts.append(ctx.request.transaction_id)
            return error(Rc.DEVICE_BUSY) if len(attempts) <= 4 else original.handler(ctx)

        vcam.operations[Op.GET_STORAGE_IDS] = dataclasses.replace(original, handler=busy)
        start = clock.monotonic()
        assert cam.storage_ids() == (0x00010001,)
        assert len(attempts) == 5
        assert clock.slept == [0.05, 0.1, 0.2, 0.4]
        assert clock.monotonic() - start == pytest.approx(0.75)


def test_a_capture_waits_on_the_cameras_clock(vcam: VirtualCamera) -> None:
    operation = vcam.operations[Op.INITIATE_CAPTURE]
    # A camera that accepts the capture and never reports it.
    vcam.operations[Op.INITIATE_CAPTURE] = dataclasses.replace(
        operation, handler=lambda ctx: Reply(code=Rc.OK)
    )
    clock = FakeClock()
    with connect(vcam, clock=clock) as cam:
        with pytest.raises(TransportTimeout, match="within 30 s"):
            cam.capture(timeout_s=30)
        # The whole wait passed on the fake clock: no real 30 s.
        assert clock.slept == [30.0]


class Scheduled(Recording):
    """A poller whose intervals are a script: fast while things change, then slower."""

    name = "scheduled"
    intervals: ClassVar[tuple[float, ...]] = (0.5, 2.0, 3.0)
    polled: ClassVar[list[float]] = []
    reached: ClassVar[Latch] = Latch()
    proceed: ClassVar[Latch] = Latch()

    def event_poller(self) -> EventPoller | None:
        clock = self.session.clock

        class Poll:
            count = 0

            def poll(self) -> float:
                Scheduled.polled.append(clock.monotonic())
                self.count += 1
                if self.count <= len(Scheduled.intervals):
                    return Scheduled.intervals[self.count - 1]
                if self.count == len(Scheduled.intervals) + 1:
                    Scheduled.reached.set()
                    Scheduled.proceed.wait(10)
                return 1.0

        return Poll()


def test_a_poller_runs_on_its_intervals_and_stops_on_close(vcam: VirtualCamera) -> None:
    Scheduled.polled, Scheduled.reached, Scheduled.proceed = [], Latch(), Latch()
    clock = FakeClock(start=0.0)
    cam = connect(vcam, Scheduled, clock=clock)
    try:
        assert Scheduled.reached.wait(10)
        # Each poll came when the previous one said, on the camera's clock.
        assert Scheduled.polled[:4] == [0.0, 0.5, 2.5, 5.5]
        assert clock.slept[:3] == [0.5, 2.0, 3.0]
        thread = cam._event_stream.poller_thread
        assert thread is not None
        assert thread.is_alive()
    finally:
        Scheduled.proceed.set()
        cam.close()
    assert not thread.is_alive()  # stopped by close(), not left polling a closed camera


# -- whole-card listing ----------------------------------------------------------------------------


def test_mtp_lists_the_whole_card_through_its_hook(
    vcam: VirtualCamera, transactions: TransactionLog
) -> None:
    with connect(vcam) as cam:
        transactions.clear()
        fast = list(cam.walk())
        assert transactions.names()[0] == "GetObjPropList"
        assert "GetObjectInfo" not in transactions.names()
        cam._fast_listing_failed = True
        assert [e.path for e in cam.walk()] == [e.path for e in fast]


def test_a_vendor_that_lists_folders_comes_before_mtps_index(
    vcam: VirtualCamera, transactions: TransactionLog
) -> None:
    asked: list[int] = []

    def list_folder(self: Recording, storage_id: int, parent: int) -> Any:
        asked.append(parent)
        return None  # declines every folder: standard listing, folder by folder

    with connect(vcam, recording("lister", list_folder=list_folder)) as cam:
        transactions.clear()
        entries = list(cam.walk())
        assert "GetObjPropList" not in transactions.names()
        # Asked for the top of the card and for each folder, in the order they were listed.
        folders = [entry.handle for entry in entries if entry.is_folder]
        assert asked == [ROOT, *folders]
        assert f"{STORE}/DCIM/100PTPKT/IMG_0001.JPG" in [entry.path for entry in entries]


def test_an_index_of_an_earlier_extension_wins(
    vcam: VirtualCamera, transactions: TransactionLog
) -> None:
    from ptpkit.ext.mtp import MtpExtension

    indexed: list[int] = []

    def index_objects(self: Recording, parent: int) -> Any:
        indexed.append(parent)
        # The MTP extension's own index, built through this extension's Session.
        return MtpExtension(self.session).index_objects(parent)

    with connect(vcam, recording("indexer", index_objects=index_objects)) as cam:
        transactions.clear()
        entries = list(cam.walk())
        assert indexed == [ROOT]
        assert transactions.names().count("GetObjPropList") == 1
        assert f"{STORE}/DCIM/100PTPKT/IMG_0001.JPG" in [entry.path for entry in entries]
