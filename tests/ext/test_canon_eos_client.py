"""The Canon EOS extension's hooks against a scripted fake Session: golden transactions in
order (session start, tear-down, capture), the GetEvent poller's interval on a FakeClock, every
record type as an event, the property cache, value texts, listing, 64-bit reads, errors."""

from __future__ import annotations

import time
import tracemalloc
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from tests.forked import in_a_forked_child

from ptpkit._sync import Latch
from ptpkit.codes.common import Ec, Ofc, Rc
from ptpkit.core.buffer import BytesLike
from ptpkit.core.canon_eos import (
    AvailListChanged,
    BulbExposureTime,
    CameraStatusChanged,
    CtgInfoCheckComplete,
    EosRecord,
    FolderEntry,
    ImageFormat,
    ObjectAdded,
    ObjectContentChanged,
    ObjectRemoved,
    OlcInfoChanged,
    PropValueChanged,
    RequestObjectTransfer,
    StorageChanged,
    UnknownRecord,
    encode_get_event,
    encode_object_info_ex,
    encode_set_prop_value_ex,
)
from ptpkit.core.datasets import DeviceInfo, EnumerationForm, GetSet, ObjectInfo
from ptpkit.core.datatypes import DataType
from ptpkit.errors import (
    AccessDeniedError,
    BusyError,
    CaptureError,
    DeviceBusyError,
    OperationNotSupportedError,
    ResponseError,
    TransportTimeout,
    UsageError,
)
from ptpkit.ext import CanonEosExtension, CanonExtension, extensions_for
from ptpkit.ext.base import CapturedObject, Reply
from ptpkit.ext.canon_eos import (
    POLL_FAST_S,
    POLL_IDLE_S,
    POLL_TROUBLE_S,
    EosLiveView,
    EosObjectNotReady,
    is_eos,
    next_interval,
    viewfinder_jpeg,
)
from ptpkit.testing import FakeClock

ISO, APERTURE, SHUTTER, EXPCOMP, DRIVE, WB, TARGET, QUALITY = (
    0xD103, 0xD101, 0xD102, 0xD104, 0xD106, 0xD109, 0xD11C, 0xD120,
)  # fmt: skip

EOS_OPS = (
    0x9101, 0x9102, 0x9108, 0x9109, 0x910F, 0x9110, 0x9114, 0x9115, 0x9116, 0x9117, 0x911A,
    0x911C, 0x911D, 0x9127, 0x9128, 0x9129, 0x9153, 0x9160, 0x9170, 0x9174,
)  # fmt: skip


def eos_info(
    ops: Sequence[int] = EOS_OPS, vendor: int = 0xB, maker: str = "Canon Inc."
) -> DeviceInfo:
    return DeviceInfo(
        vendor_extension_id=vendor,
        operations_supported=(0x1001, 0x1002, 0x1003, *ops),
        manufacturer=maker,
        model="Canon EOS 6D",
    )


Handler = Callable[[int, tuple[int, ...], bytes | None], Reply]


@dataclass
class FakeSession:
    """A Session whose camera is a script: ``handler(code, params, data) -> Reply`` (default OK,
    and GetEvent answers the queued batches, then nothing)."""

    device_info: DeviceInfo = field(default_factory=eos_info)
    transport_kind: str = "usb"
    label: str = "fake:"
    clock: FakeClock = field(default_factory=FakeClock)
    idle: bool = True
    handler: Handler | None = None
    events: list[list[EosRecord]] = field(default_factory=list)
    calls: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    emitted: list[tuple[int, tuple[int, ...], object]] = field(default_factory=list)

    @property
    def transactions_run(self) -> int:
        return len(self.calls)

    def run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data: BytesLike | None = None,
        sink: object = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Reply:
        self.calls.append((code, tuple(params)))
        if data is not None:
            self.sent.append(bytes(data))
        reply = self.handler(code, tuple(params), data) if self.handler else None
        if reply is None:
            if code == 0x9116:
                batch = self.events.pop(0) if self.events else []
                reply = Reply(code=Rc.OK, data=encode_get_event(batch))
            else:
                reply = Reply(code=Rc.OK)
        if check and reply.code != Rc.OK:
            raise ResponseError(reply.code, operation=code)
        if sink is not None and reply.data:
            sink.start(len(reply.data))  # type: ignore[attr-defined]
            sink.write(reply.data)  # type: ignore[attr-defined]
            sink.finish()  # type: ignore[attr-defined]
            return Reply(code=reply.code, params=reply.params)
        return reply

    def emit(self, code: int, params: Sequence[int] = (), *, details: object = None) -> None:
        self.emitted.append((code, tuple(params), details))

    def codes(self) -> list[int]:
        return [code for code, _ in self.calls]


def dump() -> list[EosRecord]:
    """A first GetEvent as a camera sends it: values, CTG, allowed lists, CTG."""
    return [
        PropValueChanged.of(ISO, 0x48),
        PropValueChanged.of(APERTURE, 0x30),
        PropValueChanged.of(SHUTTER, 0x70),
        PropValueChanged.of(EXPCOMP, 0x03),
        PropValueChanged.of(DRIVE, 0x00),
        PropValueChanged.of(WB, 1),
        PropValueChanged.of(TARGET, 2),
        PropValueChanged.of(QUALITY, ImageFormat.of([(6, 0, 4), (1, 0, 3)])),
        PropValueChanged.of(0xD11B, 999),
        CtgInfoCheckComplete(value=0x20001),
        AvailListChanged.of(ISO, [0x00, 0x48, 0x50, 0x60]),
        AvailListChanged.of(APERTURE, [0x28, 0x30, 0x38]),
        AvailListChanged.of(TARGET, [2, 4]),
        CtgInfoCheckComplete(value=0x20001),
    ]


def opened(session: FakeSession | None = None) -> tuple[CanonEosExtension, FakeSession]:
    session = session or FakeSession()
    session.events = [dump(), *session.events]
    ext = CanonEosExtension.with_options(keepalive_interval_s=None)(session)
    ext.open_session()
    session.calls.clear()
    session.emitted.clear()
    return ext, session  # type: ignore[return-value]


# -- matching ----------------------------------------------------------------------------------


def test_matches_a_canon_that_lists_get_event() -> None:
    assert is_eos(eos_info())
    assert is_eos(eos_info(vendor=6))  # an MTP id, Canon by its manufacturer
    assert not is_eos(eos_info(ops=(0x9101,)))  # a PowerShot: no EOS_GetEvent
    assert not is_eos(eos_info(maker="Nikon Corporation", vendor=0xA))
    names = [factory.name for factory in extensions_for(eos_info())]
    assert names == ["canon", "canon-eos"]


def test_the_powershot_keepalive_is_not_sent_to_an_eos() -> None:
    session = FakeSession(transport_kind="ptpip")
    canon = CanonExtension(session)  # type: ignore[arg-type]
    canon.open_session()
    canon.close_session()
    assert session.calls == []


# -- session start and tear-down ------------------------------------------------------------------


def test_session_start_golden_order() -> None:
    session = FakeSession()
    session.events = [dump()]

    def handler(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == 0x9101:
            return Reply(code=Rc.OK, data=bytes.fromhex("01000000 01000100"))
        return None

    session.handler = handler  # type: ignore[assignment]
    ext = CanonEosExtension.with_options(keepalive_interval_s=None)(session)  # type: ignore[arg-type]
    ext.open_session()
    assert session.calls == [
        (0x9114, (1,)),  # SetRemoteMode 1
        (0x9115, (1,)),  # SetEventMode 1
        (0x9116, ()),  # the full dump
        (0x9127, (0xD115,)),  # RequestDevicePropValue Owner, Artist, Copyright, Serial
        (0x9127, (0xD1D0,)),
        (0x9127, (0xD1D1,)),
        (0x9127, (0xD1AF,)),
        (0x9108, ()),  # GetDeviceInfoEx
        (0x9101, ()),  # EOS storage ops
        (0x9102, (0x00010001,)),
        (0x9116, ()),
    ]
    # The dump fills the cache; it is not reported as changes.
    assert ext.cache.value(ISO) == 0x48
    assert ext.cache.snapshot(ISO)[1] == (0x00, 0x48, 0x50, 0x60)
    assert not [e for e in session.emitted if e[0] in (0xC189, 0xC18A)]


def test_olc_group_requested_when_supported() -> None:
    session = FakeSession(device_info=eos_info((*EOS_OPS, 0x913D)))
    session.events = [dump()]
    ext = CanonEosExtension.with_options(keepalive_interval_s=None)(session)  # type: ignore[arg-type]
    ext.open_session()
    assert session.calls[2] == (0x913D, (0x1FFF,))


def test_tear_down_golden_order() -> None:
    ext, session = opened()
    ext.close_session()
    assert session.calls == [
        (0x9160, ()),  # AfCancel
        (0x9116, ()),  # drain
        (0x9114, (0,)),  # SetRemoteMode 0 then 1
        (0x9114, (1,)),
        (0x9115, (0,)),  # SetEventMode 0
    ]


def test_tear_down_puts_the_capture_target_back_on_the_card() -> None:
    ext, session = opened()
    assert ext.set_property(TARGET, 4, DataType.UINT32)
    session.calls.clear()
    ext.close_session()
    assert session.calls[:2] == [(0x9160, ()), (0x9110, ())]
    assert session.sent[-1] == encode_set_prop_value_ex(TARGET, 2)


def test_tear_down_failures_are_only_logged() -> None:
    ext, session = opened()
    session.handler = lambda code, params, data: Reply(code=0x2019)  # type: ignore[assignment]
    ext.close_session()  # no raise
    assert session.codes()[-3:] == [0x9114, 0x9114, 0x9115]


# -- the poller -----------------------------------------------------------------------------------


def test_poll_interval_fast_while_records_come_then_backs_off() -> None:
    ext, session = opened()
    poller = ext.event_poller()
    session.events = [
        [PropValueChanged.of(ISO, 0x50)],
        [],
        [],
        [],
        [],
        [CameraStatusChanged(status=1)],
    ]
    intervals = [poller.poll() for _ in range(6)]
    assert intervals == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2, 0.05])
    assert intervals[0] == POLL_FAST_S
    assert max(intervals) == POLL_IDLE_S


def test_poller_driven_by_a_fake_clock() -> None:
    ext, session = opened()
    poller = ext.event_poller()
    session.events = [[PropValueChanged.of(ISO, 0x50)]]
    clock = session.clock
    start = clock.monotonic()
    for _ in range(5):
        clock.sleep(poller.poll())
    assert clock.slept == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.2])
    assert clock.monotonic() - start == pytest.approx(0.7)


def test_a_poll_does_not_queue_behind_another_transaction() -> None:
    """The poller asks for its turn without waiting: while another transaction runs (a long
    download) the poll is skipped, not failed, and taken at the next interval."""
    ext, session = opened()
    poller = ext.event_poller()
    asked: list[bool] = []

    def busy(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        raise BusyError("another thread's transaction is under way")

    original_run = session.run

    def run(code: int, params: Sequence[int] = (), **kwargs: object) -> Reply:
        asked.append(bool(kwargs.get("wait_turn", True)))
        return original_run(code, params, **kwargs)  # type: ignore[arg-type]

    session.run = run  # type: ignore[method-assign]
    session.handler = busy  # type: ignore[assignment]
    session.events = [[PropValueChanged.of(ISO, 0x50)]]
    assert poller.poll() == POLL_FAST_S  # the interval it had
    assert session.emitted == []
    session.handler = None
    assert poller.poll() == POLL_FAST_S
    assert [code for code, _, _ in session.emitted] == [0xC189]
    assert asked == [False, False]


def test_next_interval_bounds() -> None:
    assert next_interval(0.2, 3) == POLL_FAST_S
    assert next_interval(0.0, 0) == pytest.approx(0.1)
    assert next_interval(10.0, 0) == POLL_IDLE_S


def test_undecodable_get_event_is_not_fatal() -> None:
    ext, session = opened()
    poller = ext.event_poller()
    session.handler = lambda code, params, data: Reply(  # type: ignore[assignment]
        code=Rc.OK, data=bytes.fromhex("ff000000 89c10000")
    )
    assert poller.poll() == POLL_TROUBLE_S
    session.handler = None
    assert poller.poll() > 0


def test_every_record_type_is_an_event_and_unknown_ones_too() -> None:
    ext, session = opened()
    batch: list[EosRecord] = [
        PropValueChanged.of(ISO, 0x60),
        AvailListChanged.of(ISO, [0x48, 0x60]),
        ObjectAdded(
            handle=7, storage_id=0x10001, format=Ofc.EXIF_JPEG, size=10, parent=3,
            name="IMG_0001.JPG",
        ),
        RequestObjectTransfer(handle=8, format=Ofc.EXIF_JPEG, size=20, name="IMG_0002.JPG"),
        ObjectRemoved(handle=5),
        ObjectContentChanged(handle=6),
        StorageChanged(type=0xC185, storage_id=0x10001),
        CameraStatusChanged(status=1),
        BulbExposureTime(seconds=3),
        CtgInfoCheckComplete(value=0x20001),
        OlcInfoChanged(mask=0x8, data=bytes(3)),
        UnknownRecord(type=0xC1FE, payload=b"\x01\x02"),
    ]  # fmt: skip
    session.events = [batch]
    ext.event_poller().poll()
    codes = [code for code, _, _ in session.emitted]
    assert codes == [
        0xC189, 0xC18A, 0xC181, Ec.OBJECT_ADDED, 0xC186, Ec.OBJECT_ADDED, 0xC182, 0xC188,
        0xC185, 0xC18B, 0xC194, 0xC1A4, 0xC1A5, 0xC1FE,
    ]  # fmt: skip
    assert session.emitted[0][1] == (ISO, 0x60)
    assert session.emitted[-1][2] == UnknownRecord(type=0xC1FE, payload=b"\x01\x02")
    added = session.emitted[3][2]
    assert isinstance(added, CapturedObject)
    assert added.info is not None
    assert (added.handle, added.info.filename, added.in_memory) == (7, "IMG_0001.JPG", False)
    transfer = session.emitted[5][2]
    assert isinstance(transfer, CapturedObject)
    assert transfer.in_memory
    assert ext.cache.value(ISO) == 0x60  # the cache follows the records
    assert ext.cache.snapshot(ISO)[1] == (0x48, 0x60)


def test_a_big_batch_is_handled_once_in_order() -> None:
    ext, session = opened()
    batch: list[EosRecord] = [PropValueChanged.of(ISO, n & 0xFF) for n in range(20000)]
    session.events = [batch]
    assert ext.poll_events() == 20000
    assert [params[1] for _, params, _ in session.emitted] == [n & 0xFF for n in range(20000)]
    assert ext.cache.value(ISO) == 19999 & 0xFF


# -- properties ------------------------------------------------------------------------------------


def test_describe_from_the_cache_without_transactions() -> None:
    ext, session = opened()
    desc = ext.describe_property(ISO)
    assert desc is not None
    assert (desc.datatype, desc.current, desc.get_set) == (DataType.UINT16, 0x48, GetSet.GET_SET)
    assert desc.form == EnumerationForm(values=(0x00, 0x48, 0x50, 0x60))
    shots = ext.describe_property(0xD11B)
    assert shots is not None
    assert shots.get_set == GetSet.GET
    assert ext.describe_property(0xD1FF) is None
    # DRIVE's value is 0: still a property (a falsy value is not a missing one).
    assert {ISO, APERTURE, SHUTTER, QUALITY, DRIVE} <= set(ext.property_codes())
    assert session.calls == []


@pytest.mark.parametrize(
    ("prop", "raw", "text"),
    [
        (ISO, 0x48, "ISO 100"),
        (ISO, 0x00, "Auto"),
        (APERTURE, 0x30, "f/5.6"),
        (SHUTTER, 0x70, "1/125"),
        (SHUTTER, 0x10, "30s"),
        (EXPCOMP, 0x03, "+1/3"),
        (EXPCOMP, 0xF8, "-1"),
        (WB, 1, "Daylight"),
        (DRIVE, 0x01, "Continuous"),
        (TARGET, 4, "computer"),
        (QUALITY, ImageFormat.of([(6, 0, 4), (1, 0, 3)]).code, "RAW + Large Fine JPEG"),
    ],
)
def test_values_as_photographers_write_them(prop: int, raw: int, text: str) -> None:
    ext, _ = opened()
    assert ext.format_value(prop, raw) == text
    assert ext.parse_value(prop, text, None) == raw


def test_parse_checks_the_allowed_list() -> None:
    ext, _ = opened()
    assert ext.parse_value(APERTURE, "5.6", [0x28, 0x30]) == 0x30
    with pytest.raises(UsageError, match="not allowed"):
        ext.parse_value(APERTURE, "f/22", [0x28, 0x30])
    with pytest.raises(UsageError):
        ext.parse_value(ISO, "banana", None)
    assert ext.parse_value(0xD1FF, "1", None) is None  # not an EOS value table: not mine


def test_set_with_set_prop_value_ex_golden_bytes() -> None:
    ext, session = opened()
    assert ext.set_property(ISO, 0x60, DataType.UINT16)
    assert session.calls == [(0x9110, ())]
    assert session.sent == [bytes.fromhex("0c000000 03d10000 60000000")]
    assert ext.cache.value(ISO) == 0x60
    assert not ext.set_property(0x5001, 1, DataType.UINT8)  # not an EOS property: not mine


def test_set_image_quality_packs_the_entries() -> None:
    ext, session = opened()
    code = ImageFormat.of([(1, 0, 3)]).code
    assert ext.set_property(QUALITY, code, DataType.UINT16)
    assert session.sent[-1] == encode_set_prop_value_ex(QUALITY, ImageFormat.of([(1, 0, 3)]))


# -- capture ---------------------------------------------------------------------------------------


def shooting_camera(
    session: FakeSession, shot: list[EosRecord], *, full_press: int = 0x9128
) -> None:
    """Queue ``shot`` (framed by busy/idle) for the GetEvent after the full press."""

    def handler(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == full_press and (code == 0x910F or params[0] == 2):
            session.events[:0] = [
                [CameraStatusChanged(status=1), *shot, CameraStatusChanged(status=0)]
            ]
            return Reply(code=Rc.OK, params=(0,))
        if code == 0x9128 and params[0] == 1:
            session.events[:0] = [[PropValueChanged(prop=0xD1D3, raw=b"{focus}")]]
        return None

    session.handler = handler  # type: ignore[assignment]


ADDED = ObjectAdded(
    handle=0x30, storage_id=0x10001, format=Ofc.EXIF_JPEG, size=1234, parent=2, name="IMG_0042.JPG"
)


def test_capture_to_card_golden_transactions() -> None:
    ext, session = opened()
    shooting_camera(session, [ADDED])
    outcome = ext.capture(timeout_s=10)
    assert outcome is not None
    assert session.calls == [
        (0x9116, ()),  # poll first ("otherwise capture might return busy")
        (0x9128, (1, 0)),  # half press
        (0x9116, ()),  # focus result
        (0x9128, (2, 0)),  # full press
        (0x9129, (2,)),  # release full
        (0x9116, ()),  # the picture's records
        (0x9129, (1,)),  # release half
    ]
    (obj,) = outcome.objects
    assert obj.handle == 0x30
    assert not obj.in_memory
    assert obj.info == ObjectInfo(
        storage_id=0x10001,
        object_format=Ofc.EXIF_JPEG,
        compressed_size=1234,
        parent_object=2,
        filename="IMG_0042.JPG",
    )
    # The answer: camera busy, the object (and its standard ObjectAdded), camera idle; kept
    # with the outcome and not emitted (only the focus result, a property change, is).
    assert [(e.code, e.params) for e in outcome.events] == [
        (0xC18B, (1,)),
        (0xC181, (0x30, 0x10001, 2)),
        (Ec.OBJECT_ADDED, (0x30,)),
        (0xC18B, (0,)),
    ]
    assert outcome.events[1].details == ADDED
    assert outcome.events[2].details == obj
    assert [code for code, _, _ in session.emitted] == [0xC189]


def test_capture_to_pc_announces_room_and_completes_the_transfer() -> None:
    ext, session = opened()
    ext.set_property(TARGET, 4, DataType.UINT32)
    session.calls.clear()
    request = RequestObjectTransfer(
        handle=0x9000, format=Ofc.EXIF_JPEG, size=99, name="IMG_0043.JPG"
    )
    shooting_camera(session, [request])
    outcome = ext.capture(timeout_s=10)
    assert outcome is not None
    assert session.calls[:2] == [(0x9116, ()), (0x911A, (0x0FFFFFFF, 0x1000, 1))]
    (obj,) = outcome.objects
    assert obj.in_memory
    assert obj.info is not None
    assert obj.info.filename == "IMG_0043.JPG"
    session.calls.clear()
    ext.after_download(obj)
    assert session.calls == [(0x9117, (0x9000,))]


def test_capture_raw_plus_jpeg_waits_for_both() -> None:
    ext, session = opened()
    raw = ObjectAdded(
        handle=0x31, storage_id=0x10001, format=0xB103, size=9, parent=2, name="IMG_0044.CR2"
    )
    folder = ObjectAdded(
        handle=0x2, storage_id=0x10001, format=Ofc.ASSOCIATION, size=0, parent=1, name="100CANON"
    )
    shooting_camera(session, [folder, raw, ADDED])
    outcome = ext.capture(timeout_s=10)
    assert outcome is not None
    assert [o.handle for o in outcome.objects] == [0x31, 0x30]  # the folder is not a capture


def test_capture_deadline_bounds_the_call_and_releases_the_buttons() -> None:
    ext, session = opened()
    shooting_camera(session, [])  # the camera never announces a picture
    start = session.clock.monotonic()
    with pytest.raises(TransportTimeout):
        ext.capture(timeout_s=2)
    assert session.clock.monotonic() - start == pytest.approx(2.0)
    assert (0x9129, (2,)) in session.calls
    assert (0x9129, (1,)) in session.calls


@pytest.mark.parametrize("announces", [False, True])
def test_a_camera_that_chatters_forever_ends_the_capture_at_its_deadline(announces: bool) -> None:
    """Issue 11 section 2 (no camera can keep a call alive past its deadline, whatever it sends
    meanwhile) on the EOS capture loop: every GetEvent answers a property change (each poll
    taking 50 ms), before or after the picture, and after it the camera never says it is idle
    again.
    Without a picture the capture times out at its deadline; with one it returns it then."""
    ext, session = opened()
    step_s = 0.05

    def chatter(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == 0x9116:
            session.clock.advance(step_s)
            batch: list[EosRecord] = [PropValueChanged.of(ISO, 0x48 + len(session.calls) % 8)]
            if announces and (0x9128, (2, 0)) in session.calls and not announced:
                batch.append(ADDED)  # once, after the full press; busy from then on
                announced.append(ADDED)
            if announced:
                batch.insert(0, CameraStatusChanged(status=1))
            return Reply(code=Rc.OK, data=encode_get_event(batch))
        return None

    announced: list[EosRecord] = []
    session.handler = chatter  # type: ignore[assignment]
    start = session.clock.monotonic()
    if announces:
        outcome = ext.capture(timeout_s=3)
        assert outcome is not None
        assert [o.handle for o in outcome.objects] == [0x30]
    else:
        with pytest.raises(TransportTimeout, match="within 3 s"):
            ext.capture(timeout_s=3)
    assert session.clock.monotonic() - start <= 3 + step_s + 1e-9
    assert (0x9129, (1,)) in session.calls  # the buttons released all the same


def test_old_body_remote_release_and_its_failure_codes() -> None:
    ops = tuple(op for op in EOS_OPS if op not in (0x9128, 0x9129))
    ext, session = opened(FakeSession(device_info=eos_info(ops)))
    shooting_camera(session, [ADDED], full_press=0x910F)
    outcome = ext.capture(timeout_s=5)
    assert outcome is not None
    assert [o.handle for o in outcome.objects] == [0x30]
    assert 0x910F in session.codes()
    assert 0x9128 not in session.codes()
    session.handler = lambda code, params, data: Reply(code=Rc.OK, params=(7,))  # type: ignore[assignment]
    with pytest.raises(CaptureError, match="card is full"):
        ext.capture(timeout_s=5)


def test_not_an_eos_shooter_is_not_mine() -> None:
    ext, _ = opened(FakeSession(device_info=eos_info((0x9116,))))
    assert ext.capture(timeout_s=1) is None


# -- errors ----------------------------------------------------------------------------------------


def test_eos_response_codes_are_named_errors() -> None:
    ext, _ = opened()
    assert ext.response_error(0xA001) is not None
    assert issubclass(ext.response_error(0xA001), OperationNotSupportedError)  # type: ignore[arg-type]
    assert issubclass(ext.response_error(0xA005), AccessDeniedError)  # type: ignore[arg-type]
    assert issubclass(ext.response_error(0xA102), DeviceBusyError)  # type: ignore[arg-type]
    assert ext.response_error(0xA102) is EosObjectNotReady
    assert issubclass(ext.response_error(0xA104), CaptureError)  # type: ignore[arg-type]
    assert ext.response_error(0x2019) is None


# -- objects ---------------------------------------------------------------------------------------


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The host's local time is Tokyo's (UTC+9), for this test."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_list_folder_is_one_get_object_info_ex(tokyo: None) -> None:
    ext, session = opened()
    entries = [
        FolderEntry(handle=0x92740C72, storage_id=0x20001, format=0x3801, flags=0x21,
                    size=0x21D519, parent=5, name="IMG_0199.JPG", time=1_700_000_000),
        FolderEntry(handle=9, storage_id=0x20001, format=Ofc.ASSOCIATION, size=0, parent=5,
                    name="100CANON"),
    ]  # fmt: skip
    session.handler = lambda code, params, data: (  # type: ignore[assignment]
        Reply(code=Rc.OK, data=encode_object_info_ex(entries)) if code == 0x9109 else None
    )
    listed = ext.list_folder(0x20001, 0)
    assert session.calls == [(0x9109, (0x20001, 0xFFFFFFFF, 0x100000))]
    assert listed is not None
    (h1, i1), (h2, i2) = listed
    assert (h1, i1.filename, i1.compressed_size, i1.object_format) == (
        0x92740C72,
        "IMG_0199.JPG",
        0x21D519,
        0x3801,
    )
    # 1_700_000_000 is 2023-11-14 22:13:20 UTC: shown in local time, as the ObjectInfo date
    # of the same file is (libgphoto2 keeps both as one time_t).
    assert i1.capture_date == i1.modification_date == "20231115T071320"
    assert (h2, i2.association_type) == (9, 1)


def test_reads_past_4_gib_use_the_64_bit_operation() -> None:
    ext, session = opened()

    class Sink:
        got = b""

        def start(self, total: int | None) -> None: ...

        def write(self, chunk: BytesLike) -> None:
            self.got += bytes(chunk)

        def finish(self) -> None: ...

    assert not ext.read_object(5, 0, 1000, Sink())  # the standard way
    offset = 5 << 30
    session.handler = lambda code, params, data: Reply(code=Rc.OK, params=(4,), data=b"abcd")  # type: ignore[assignment]
    sink = Sink()
    assert ext.read_object(5, offset, 4, sink)
    assert session.calls == [(0x9174, (5, offset & 0xFFFFFFFF, offset >> 32, 4))]
    assert sink.got == b"abcd"
    assert ext.reads_from(offset)
    assert not ext.reads_from(10)


def test_object_size_from_a_64_bit_record() -> None:
    ext, session = opened()
    big = ObjectAdded(
        type=0xC1A7,
        handle=0x40,
        storage_id=1,
        format=0xB982,
        size=6 << 30,
        parent=2,
        name="MVI_0001.MP4",
    )
    session.events = [[big]]
    ext.poll_events()
    session.calls.clear()
    assert ext.object_size(0x40, ObjectInfo(compressed_size=0xFFFFFFFF)) == 6 << 30
    assert ext.object_size(0x41, ObjectInfo(compressed_size=100)) is None
    assert session.calls == []


# -- live view and keep-alive ---------------------------------------------------------------------


def test_live_view_waits_through_not_ready() -> None:
    ext, session = opened()
    answers = [Reply(code=0xA102), Reply(code=0x2019)]
    jpeg = b"\xff\xd8frame\xff\xd9"
    blob = (8 + len(jpeg)).to_bytes(4, "little") + (1).to_bytes(4, "little") + jpeg
    meta = (12).to_bytes(4, "little") + (5).to_bytes(4, "little") + bytes(4)

    def handler(code: int, params: tuple[int, ...], data: bytes | None) -> Reply | None:
        if code == 0x9153:
            assert params == (0x00200000, 0, 0)
            return answers.pop(0) if answers else Reply(code=Rc.OK, data=meta + blob)
        return None

    session.handler = handler  # type: ignore[assignment]
    source = ext.live_view()
    assert source is not None
    source.start()
    assert session.calls == [(0x9110, ())]
    assert session.sent[-1] == encode_set_prop_value_ex(0xD1B0, 2)
    assert [source.frame(), source.frame(), source.frame()] == [None, None, jpeg]
    # The answer's other blob (type 5) is the frame's side data.
    assert isinstance(source, EosLiveView)
    assert source.side_data == {"blobs": {"blob_0x5": bytes(4)}}
    source.stop()
    assert session.sent[-1] == encode_set_prop_value_ex(0xD1B0, 0)


def test_viewfinder_blob_lengths_are_checked() -> None:
    from ptpkit.errors import DecodeError

    with pytest.raises(DecodeError):
        viewfinder_jpeg(bytes.fromhex("ff000000 01000000"))
    assert viewfinder_jpeg(b"") is None


class _StillClock(FakeClock):
    """Time that passes only when the test says: a wait ends when its flag is set, never by
    timing out. The keep-alive thread then sleeps until it is stopped and never sends, however
    long the test takes (the real clock sent KeepDeviceOn if 10 s passed on a loaded machine; a
    FakeClock's waits time out at once, so its thread would run ahead on its own)."""

    def wait(self, flag: Latch, timeout_s: float | None) -> bool:
        return flag.wait(None)


def test_keepalive_does_not_count_our_own_polls_as_activity() -> None:
    session = FakeSession(clock=_StillClock())
    session.events = [dump()]
    ext = CanonEosExtension(session)  # type: ignore[arg-type]
    ext.open_session()
    try:
        keepalive = ext._keepalive
        assert keepalive is not None
        assert keepalive.interval_s == 10.0
        before = keepalive.session.transactions_run
        ext.poll_events()
        ext.poll_events()
        assert keepalive.session.transactions_run == before
        session.run(0x1001)
        assert keepalive.session.transactions_run == before + 1
    finally:
        ext.close_session()
    assert not keepalive.running


def test_viewfinder_data_golden_bytes() -> None:
    from ptpkit.core.canon_eos import ViewfinderBlob, decode_viewfinder_data
    from ptpkit.errors import DecodeError

    data = bytes.fromhex("0c000000 05000000 000000000a000000 01000000 ffd8")
    assert decode_viewfinder_data(data) == (
        ViewfinderBlob(type=5, payload=bytes(4)),
        ViewfinderBlob(type=1, payload=b"\xff\xd8"),
    )
    assert viewfinder_jpeg(data) == b"\xff\xd8"
    with pytest.raises(DecodeError) as cut:
        decode_viewfinder_data(data + b"\x08\x00\x00")
    assert cut.value.offset == len(data)


def test_capture_waits_while_the_camera_says_busy() -> None:
    ext, session = opened()
    session.events = [[CameraStatusChanged(status=1)], [], [CameraStatusChanged(status=0)]]
    shooting_camera(session, [ADDED])
    outcome = ext.capture(timeout_s=10)
    assert outcome is not None
    assert session.codes()[:4] == [0x9116, 0x9116, 0x9116, 0x9128]  # released once idle


def test_a_camera_busy_forever_times_out_before_the_release() -> None:
    ext, session = opened()
    session.events = [[CameraStatusChanged(status=1)]]
    with pytest.raises(TransportTimeout):
        ext.capture(timeout_s=1)
    assert 0x9128 not in session.codes()


#: The most data one folder's answer can carry (the client's in-memory data limit).
_ANSWER_BYTES = 64 << 20


def _huge_folder_answer(entry_bytes: int, answer_bytes: int = _ANSWER_BYTES) -> bytes:
    """A GetObjectInfoEx answer as big as a data phase can be: entries of ``entry_bytes``
    (56, or more: bytes past the 56 known ones are ignored), handles 1, 2, 3 ..."""
    template = bytearray(
        encode_object_info_ex(
            [FolderEntry(handle=0, storage_id=0x20001, format=0x3801, size=1 << 20,
                         parent=5, name="IMG_0001.JPG", time=1_700_000_000)]
        )[4:]
    )  # fmt: skip
    template[0:4] = entry_bytes.to_bytes(4, "little")
    template += bytes(entry_bytes - len(template))
    count = (answer_bytes - 4) // entry_bytes
    data = bytearray(count.to_bytes(4, "little")) + template * count
    words = memoryview(data)[4:].cast("I")  # every entry is a whole number of u32s here
    words[1 :: entry_bytes // 4] = array("I", range(1, count + 1))
    words.release()
    return bytes(data)


@pytest.mark.parametrize(
    ("entry_bytes", "answer_bytes"),
    # Entries that say they are bigger take the packing path, a loop per entry in Python: a
    # smaller answer keeps the test quick (the memory per entry is what is checked).
    [(56, _ANSWER_BYTES), (112, _ANSWER_BYTES // 16)],
)
def test_a_64_mib_folder_listing_is_held_compact(entry_bytes: int, answer_bytes: int) -> None:
    """Issue 11 (memory stays bounded however large the card): a hostile EOS answers one
    folder with a whole data phase of entries (~1.2 million). Decoded at once they took ~780
    bytes each (~0.9 GB); the listing keeps the answer's 52 known bytes an entry (the answer
    itself when entries are 56 bytes) and describes an object when it is reached."""
    data = _huge_folder_answer(entry_bytes, answer_bytes)
    count = (answer_bytes - 4) // entry_bytes
    ext, session = opened()
    session.handler = lambda code, params, _: (  # type: ignore[assignment]
        Reply(code=Rc.OK, data=data) if code == 0x9109 else None
    )

    def measured() -> tuple[int, int]:
        tracemalloc.start()
        try:
            listed = ext.list_folder(0x20001, 5)
            assert listed is not None
            assert len(listed) == count
            # What a walk does, object after object (each described, then dropped).
            for position in range(0, count, 997):
                handle, info = listed[position]
                assert handle == position + 1
                assert info.filename == "IMG_0001.JPG"
                assert info.parent_object == 5
            assert listed.handle(count - 1) == count  # type: ignore[attr-defined]
            return tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    # In a forked child (tests.forked): tracemalloc counts every thread, an xdist worker's
    # leftover threads of earlier tests included.
    current, peak = in_a_forked_child(measured)
    # Held: the answer as received (56-byte entries), else only the packed entries; at the
    # peak, the answer and the packed entries while they are packed.
    held = len(data) if entry_bytes == 56 else count * 52
    assert current < held + (1 << 20), current
    assert peak < len(data) + count * 52 * (entry_bytes != 56) + (4 << 20), peak  # was ~0.9 GB
