"""The Nikon extension's hooks against a scripted fake Session on a FakeClock: DeviceReady's
bounded back-off, the capture's golden transactions (0x9207 and the 0x90C0 fallback, busy
retries, the events that answer it), the GetEvent poller's pace, live view (refusal reasons,
busy, NotLiveView restart, a frame without a picture), 64-bit reads, value texts, errors."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import pytest

from ptpkit.codes.common import Ec, Rc
from ptpkit.core import nikon
from ptpkit.core.buffer import BytesLike
from ptpkit.core.datasets import DeviceInfo, ObjectInfo
from ptpkit.core.nikon import LiveViewFrame, NikonEvent
from ptpkit.errors import DeviceBusyError, ResponseError, TransportTimeout, UsageError
from ptpkit.ext import NikonExtension, extensions_for
from ptpkit.ext.base import AnswerEvent, Reply
from ptpkit.ext.nikon import (
    POLL_FAST_S,
    POLL_IDLE_S,
    SDRAM_HANDLE,
    NikonBulbRefused,
    NikonLiveViewRefused,
    NikonOutOfFocus,
    NikonStoreError,
)
from ptpkit.testing import FakeClock

NIKON_OPS = (0x90C0, 0x90C7, 0x90C8, 0x90CA, 0x9201, 0x9202, 0x9203, 0x9207, 0x9421, 0x9431)
VENDOR_PROPS = (0xD100, 0xD10B, 0xD1A2, 0xD1A4)
JPEG = b"\xff\xd8\xff\xe0" + bytes(12) + b"\xff\xd9"

Handler = Callable[[int, tuple[int, ...]], Reply | None]


def nikon_info(ops: Sequence[int] = NIKON_OPS) -> DeviceInfo:
    return DeviceInfo(
        vendor_extension_id=0xA,
        operations_supported=(0x1001, 0x1002, 0x1008, 0x1009, 0x100B, 0x1015, 0x1016, *ops),
        device_properties_supported=(0x5001, 0x500F),
        manufacturer="Nikon Corporation",
        model="D850",
    )


@dataclass
class FakeSession:
    """A Session whose camera is a script: ``handler(code, params) -> Reply | None`` (None: OK;
    GetEvent answers the queued batches, then none; GetVendorPropCodes the vendor list;
    properties read as ``values``)."""

    device_info: DeviceInfo = field(default_factory=nikon_info)
    transport_kind: str = "usb"
    label: str = "fake:"
    clock: FakeClock = field(default_factory=FakeClock)
    idle: bool = True
    handler: Handler | None = None
    events: list[list[NikonEvent]] = field(default_factory=list)
    values: dict[int, bytes] = field(default_factory=lambda: {0xD10B: b"\x01", 0xD1A2: b"\x00"})
    calls: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    emitted: list[tuple[int, tuple[int, ...], object]] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)
    #: Events the transport pushes (wait_event takes them in order).
    pushed: list[AnswerEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        original = self.clock.sleep

        def sleep(seconds: float) -> None:
            self.slept.append(round(seconds, 6))
            original(seconds)

        self.clock.sleep = sleep  # type: ignore[method-assign]

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
        reply = self.handler(code, tuple(params)) if self.handler else None
        if reply is None:
            if code == 0x90C7:
                batch = self.events.pop(0) if self.events else []
                reply = Reply(code=Rc.OK, data=nikon.encode_get_event(batch))
            elif code == 0x90CA:
                writer_data = len(VENDOR_PROPS).to_bytes(4, "little") + b"".join(
                    c.to_bytes(2, "little") for c in VENDOR_PROPS
                )
                reply = Reply(code=Rc.OK, data=writer_data)
            elif code == 0x1015:
                reply = Reply(code=Rc.OK, data=self.values.get(params[0], b""))
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

    def wait_event(self, codes: Collection[int], timeout_s: float) -> AnswerEvent:
        for index, event in enumerate(self.pushed):
            if event.code in codes:
                return self.pushed.pop(index)
        self.clock.advance(timeout_s)
        raise TransportTimeout(f"no event within {timeout_s} s")


def answers(script: dict[int, list[int]]) -> Handler:
    """Answer ``code`` with the listed response codes in turn (then OK)."""

    def handler(code: int, params: tuple[int, ...]) -> Reply | None:
        queue = script.get(code)
        if queue:
            return Reply(code=queue.pop(0))
        return None

    return handler


def extension(session: FakeSession, **options: object) -> NikonExtension:
    factory = NikonExtension.with_options(**options) if options else NikonExtension
    ext = factory(session)  # type: ignore[arg-type]
    assert isinstance(ext, NikonExtension)
    ext.open_session()
    return ext


# -- matching --------------------------------------------------------------------------------------


def test_matches_by_vendor_id_or_manufacturer() -> None:
    assert NikonExtension.matches(nikon_info())
    # Nikon PTP/IP bodies that report the MTP vendor id (vendors.md 2.7).
    assert NikonExtension.matches(DeviceInfo(vendor_extension_id=6, manufacturer="Nikon Corp."))
    assert not NikonExtension.matches(DeviceInfo(vendor_extension_id=0xB, manufacturer="Canon"))
    assert [f.name for f in extensions_for(nikon_info())] == ["nikon"]


# -- DeviceReady -----------------------------------------------------------------------------------


def test_device_ready_backs_off_and_returns_when_ready() -> None:
    session = FakeSession(handler=answers({0x90C8: [Rc.DEVICE_BUSY] * 6}))
    ext = extension(session)
    ext.wait_ready(deadline=session.clock.monotonic() + 10)
    assert session.codes() == [0x90C8] * 7
    assert session.slept == [0.01, 0.02, 0.04, 0.08, 0.16, 0.2]  # doubling up to 200 ms


def test_device_ready_silent_release_busy_counts_as_ready() -> None:
    # library.c nikon_wait_busy: "will repeat forever" otherwise.
    session = FakeSession(handler=answers({0x90C8: [0xA201]}))
    extension(session).wait_ready(deadline=session.clock.monotonic() + 10)
    assert session.codes() == [0x90C8]


def test_device_ready_busy_past_the_deadline_times_out_within_it() -> None:
    session = FakeSession(handler=answers({0x90C8: [Rc.DEVICE_BUSY] * 10_000}))
    ext = extension(session)
    start = session.clock.monotonic()
    with pytest.raises(TransportTimeout, match="busy"):
        ext.wait_ready(deadline=start + 1.0)
    assert session.clock.monotonic() - start == pytest.approx(1.0)  # never slept past it
    assert len(session.calls) < 20


def test_no_attempt_is_started_in_a_sliver_of_time_after_a_busy_answer() -> None:
    """CI: a capture on a camera busy forever ended in "sent nothing for 0.000148881 s" (the
    last retry started with 0.15 ms left), not in the busy error the caller names."""
    session = FakeSession(
        handler=answers({0x90C8: [Rc.DEVICE_BUSY] * 100, 0x9207: [Rc.DEVICE_BUSY] * 100})
    )
    ext = extension(session)
    start = session.clock.monotonic()
    # Asked at 0, 2 and 6 ms (back-off 2, 4, 8 ms): at 14 ms 16.1 ms are left, too few.
    reply = ext.retry_busy(0x9207, (0xFFFFFFFF, 0), start + 0.0301)
    assert reply.code == Rc.DEVICE_BUSY
    assert session.codes() == [0x9207] * 3
    session.calls.clear()
    start = session.clock.monotonic()
    with pytest.raises(TransportTimeout, match="stayed busy"):
        ext.wait_ready(deadline=start + 0.0301)  # 10 + 20 ms of back-off, then 0.1 ms left
    assert session.codes() == [0x90C8, 0x90C8]


def test_device_ready_other_answers_are_named_errors() -> None:
    session = FakeSession(handler=answers({0x90C8: [0xA022]}))
    with pytest.raises(NikonStoreError) as caught:
        extension(session).wait_ready(deadline=session.clock.monotonic() + 10)
    assert caught.value.name == "StoreUnformatted"


# -- capture ---------------------------------------------------------------------------------------


def test_capture_to_sdram_golden_transactions() -> None:
    session = FakeSession(
        handler=answers({0x9207: [Rc.DEVICE_BUSY, 0xA004], 0x90C8: [Rc.DEVICE_BUSY]}),
        events=[[], [NikonEvent(code=0xC101, params=(0,)), NikonEvent(code=0xC102, params=(0,))]],
    )
    ext = extension(session, autofocus=True)
    outcome = ext.capture(timeout_s=30)
    assert outcome is not None
    assert outcome.objects[0].handle == SDRAM_HANDLE  # 0 in the event means 0xFFFF0001
    assert outcome.objects[0].in_memory
    assert [e.code for e in outcome.events] == [0xC101, 0xC102]
    assert session.calls == [
        (0x90CA, ()),  # the vendor properties (is RecordingMedia there?)
        (0x1015, (0xD10B,)),  # RecordingMedia: 1, SDRAM
        (0x1015, (0xD1A2,)),  # LiveViewStatus: off, so AF first
        (0x90C7, ()),  # events from before the shot go to the event stream
        (0x90C8, ()),  # busy
        (0x90C8, ()),
        (0x9207, (0xFFFFFFFE, 1)),  # busy
        (0x9207, (0xFFFFFFFE, 1)),  # 0xA004 InvalidStatus
        (0x9207, (0xFFFFFFFE, 1)),
        (0x90C8, ()),
        (0x90C7, ()),
    ]
    assert session.emitted == []  # the capture's answer is not queued again


def test_capture_to_the_card_and_the_object_added() -> None:
    session = FakeSession(
        events=[[], [NikonEvent(code=Ec.OBJECT_ADDED, params=(0x42,))], [], [], []],
    )
    session.values[0xD10B] = b"\x00"
    ext = extension(session)
    outcome = ext.capture(timeout_s=30)
    assert outcome is not None
    assert [(o.handle, o.in_memory) for o in outcome.objects] == [(0x42, False)]
    assert (0x9207, (0xFFFFFFFF, 0)) in session.calls  # no AF by default, as gphoto2
    # No CaptureComplete came: three quiet polls after the object end the wait.
    assert session.codes().count(0x90C7) == 5


def test_capture_in_live_view_is_without_af() -> None:
    session = FakeSession(events=[[], [NikonEvent(code=0xC101, params=(SDRAM_HANDLE,))]])
    session.values[0xD1A2] = b"\x01"
    extension(session, autofocus=True).capture(timeout_s=30)
    assert (0x9207, (0xFFFFFFFF, 1)) in session.calls


def test_older_bodies_capture_with_0x90c0() -> None:
    ops = tuple(op for op in NIKON_OPS if op != 0x9207)
    session = FakeSession(
        device_info=nikon_info(ops),
        events=[[], [NikonEvent(code=0xC101, params=(SDRAM_HANDLE,)), NikonEvent(code=0x400D)]],
    )
    outcome = extension(session).capture(timeout_s=30)
    assert outcome is not None
    assert (0x90C0, (0xFFFFFFFF,)) in session.calls


def test_capture_without_nikon_capture_operations_is_not_mine() -> None:
    session = FakeSession(device_info=nikon_info((0x90C7, 0x90C8)))
    assert extension(session).capture(timeout_s=30) is None


def test_capture_refusal_is_a_named_error() -> None:
    session = FakeSession(handler=answers({0x9207: [0xA008]}))
    with pytest.raises(NikonBulbRefused) as caught:
        extension(session).capture(timeout_s=30)
    assert caught.value.name == "ShutterSpeedBulb"
    assert caught.value.operation_name == "InitiateCaptureRecInMedia"


def test_capture_busy_forever_ends_within_the_deadline() -> None:
    session = FakeSession(handler=answers({0x9207: [Rc.DEVICE_BUSY] * 10_000}))
    start = session.clock.monotonic()
    with pytest.raises((DeviceBusyError, TransportTimeout)):
        extension(session).capture(timeout_s=2)
    assert session.clock.monotonic() - start <= 2.0 + 1e-9
    assert session.codes().count(0x9207) <= 200  # library.c's bound


def test_capture_without_an_object_in_time_times_out() -> None:
    session = FakeSession()
    with pytest.raises(TransportTimeout, match="did not report"):
        extension(session).capture(timeout_s=1)


def test_bodies_without_get_event_answer_with_pushed_events() -> None:
    session = FakeSession(device_info=nikon_info((0x9207, 0x90C8)))  # no GetEvent at all
    session.pushed = [AnswerEvent(code=Ec.OBJECT_ADDED, params=(0x33,)),
                      AnswerEvent(code=Ec.CAPTURE_COMPLETE)]  # fmt: skip
    outcome = extension(session).capture(timeout_s=5)
    assert outcome is not None
    assert [o.handle for o in outcome.objects] == [0x33]
    assert [e.code for e in outcome.events] == [Ec.OBJECT_ADDED, Ec.CAPTURE_COMPLETE]


def test_bodies_without_get_event_and_no_pushed_event_time_out() -> None:
    session = FakeSession(device_info=nikon_info((0x9207, 0x90C8)))
    with pytest.raises(TransportTimeout):
        extension(session).capture(timeout_s=5)


def test_after_download_deletes_the_sdram_picture() -> None:
    from ptpkit.ext.base import CapturedObject

    session = FakeSession()
    ext = extension(session)
    ext.after_download(CapturedObject(handle=SDRAM_HANDLE, in_memory=True))
    ext.after_download(CapturedObject(handle=7))
    assert session.calls == [(0x100B, (SDRAM_HANDLE, 0))]


# -- events ----------------------------------------------------------------------------------------


def test_every_event_is_emitted_and_sdram_pictures_are_described() -> None:
    session = FakeSession(
        events=[
            [
                NikonEvent(code=Ec.DEVICE_PROP_CHANGED, params=(0x500F,)),
                NikonEvent(code=0xC101, params=(0,)),
                NikonEvent(code=0xC10C, params=(3,)),
            ]
        ]
    )
    ext = extension(session)
    assert ext.poll_events() == 3
    codes = [(code, params) for code, params, _ in session.emitted]
    assert codes == [
        (Ec.DEVICE_PROP_CHANGED, (0x500F,)),
        (0xC101, (0,)),
        (Ec.OBJECT_ADDED, (SDRAM_HANDLE,)),
        (0xC10C, (3,)),
    ]
    details = session.emitted[2][2]
    assert getattr(details, "in_memory", False)


def test_get_event_ex_is_preferred_where_listed() -> None:
    def handler(code: int, params: tuple[int, ...]) -> Reply | None:
        if code == 0x941C:
            batch = [NikonEvent(code=Ec.OBJECT_ADDED, params=(5,)), NikonEvent(code=0xC102)]
            return Reply(code=Rc.OK, data=nikon.encode_get_event_ex(batch))
        return None

    session = FakeSession(device_info=nikon_info((*NIKON_OPS, 0x941C)), handler=handler)
    ext = extension(session)
    assert ext.poll_events() == 2
    assert session.codes() == [0x941C]


def test_poller_pace_on_a_fake_clock() -> None:
    session = FakeSession(events=[[NikonEvent(code=0x4006, params=(0x500F,))]])
    poller = extension(session).event_poller()
    assert poller is not None
    assert poller.poll() == POLL_FAST_S  # news: fast
    intervals = [poller.poll() for _ in range(8)]
    assert intervals == sorted(intervals)
    assert intervals[-1] == POLL_IDLE_S
    assert poller.attentive_interval_s == POLL_FAST_S


def test_an_unreadable_get_event_is_not_fatal() -> None:
    session = FakeSession(handler=lambda code, params: Reply(code=Rc.OK, data=b"\xff\xff\x01"))
    poller = extension(session).event_poller()
    assert poller is not None
    assert poller.poll() == 0.5


# -- properties ------------------------------------------------------------------------------------


def test_property_codes_merge_get_vendor_prop_codes_once() -> None:
    session = FakeSession()
    ext = extension(session)
    assert tuple(ext.property_codes() or ()) == (0x5001, 0x500F, *VENDOR_PROPS)
    ext.property_codes()
    assert session.codes() == [0x90CA]


@pytest.mark.parametrize(
    ("code", "raw", "text"),
    [
        (0xD100, 0x000100FA, "1/250"),
        (0xD100, 0xFFFFFFFF, "Bulb"),
        (0x5005, 0x8011, "Shade"),
        (0x5004, 4, "NEF (Raw)"),
        (0x500A, 0x8012, "AF-A"),
        (0xD10B, 1, "SDRAM"),
        (0x5013, 0x8011, "Timer"),
        (0xD1A4, 1 << 31 | 1 << 17, "the camera is too hot; the exposure mode is not P, A, S or M"),
        (0xD1A4, 0, "none"),
    ],
)
def test_values_in_nikons_words(code: int, raw: int, text: str) -> None:
    ext = extension(FakeSession())
    assert ext.format_value(code, raw) == text
    if code != 0xD1A4:
        assert ext.parse_value(code, text, None) == raw


def test_standard_values_are_left_to_the_standard_names() -> None:
    ext = extension(FakeSession())
    assert ext.format_value(0x5005, 2) is None  # "automatic": the standard spec's
    assert ext.parse_value(0x5005, "automatic", None) is None
    assert ext.format_value(0x500F, 800) is None


def test_parse_checks_the_allowed_list() -> None:
    ext = extension(FakeSession())
    with pytest.raises(UsageError, match=r"not allowed now \(allowed: 1/125, 1/250\)"):
        ext.parse_value(0xD100, "1/500", [0x0001007D, 0x000100FA])
    with pytest.raises(UsageError, match="not a shutter speed"):
        ext.parse_value(0xD100, "fast", None)


def test_nikon_response_codes_are_named_errors() -> None:
    ext = extension(FakeSession())
    assert ext.response_error(0xA002) is NikonOutOfFocus
    assert ext.response_error(0xA021) is NikonStoreError
    assert issubclass(ext.response_error(0xA200) or object, DeviceBusyError)
    assert ext.response_error(0x2019) is None  # standard: not mine


# -- objects past 4 GiB ----------------------------------------------------------------------------


def test_object_size_from_get_object_size() -> None:
    size = 6 * 2**30

    def handler(code: int, params: tuple[int, ...]) -> Reply | None:
        if code == 0x9421:
            return Reply(code=Rc.OK, data=nikon.encode_object_size(size))
        return None

    session = FakeSession(handler=handler)
    ext = extension(session)
    assert ext.object_size(9, ObjectInfo(compressed_size=0xFFFFFFFF)) == size
    assert ext.object_size(9, ObjectInfo(compressed_size=1234)) is None
    assert session.calls == [(0x9421, (9,))]


def test_reads_past_4_gib_use_get_partial_object_ex() -> None:
    sent: list[tuple[int, ...]] = []

    def handler(code: int, params: tuple[int, ...]) -> Reply | None:
        if code == 0x9431:
            sent.append(params)
            length = params[3] | params[4] << 32
            return Reply(code=Rc.OK, params=(length & 0xFFFFFFFF, length >> 32), data=b"x" * length)
        return None

    class Sink:
        def __init__(self) -> None:
            self.data = bytearray()

        def start(self, total_bytes: int | None) -> None:
            pass

        def write(self, chunk: BytesLike) -> None:
            self.data += chunk

        def finish(self) -> None:
            pass

    ext = extension(FakeSession(handler=handler))
    sink = Sink()
    assert not ext.read_object(3, 100, 50, sink)  # within 32 bits: the standard read
    offset = 5 * 2**30 + 7
    assert ext.read_object(3, offset, 1000, sink)
    assert sent == [(3, offset & 0xFFFFFFFF, offset >> 32, 1000, 0)]
    assert len(sink.data) == 1000
    assert ext.reads_from(offset)
    assert not ext.reads_from(100)


# -- live view -------------------------------------------------------------------------------------


def frame_data(header_bytes: int = 384) -> bytes:
    header = b"" if header_bytes == 384 else bytes(header_bytes)
    return nikon.encode_live_view(LiveViewFrame(header=header, jpeg=JPEG, width=640, height=424))


def test_live_view_start_frames_and_stop() -> None:
    def handler(code: int, params: tuple[int, ...]) -> Reply | None:
        if code == 0x9203:
            return Reply(code=Rc.OK, data=frame_data())
        return None

    session = FakeSession(handler=handler)
    source = extension(session).live_view()
    assert source is not None
    source.start()
    assert source.frame() == JPEG
    source.stop()
    assert session.codes() == [0x90CA, 0x1015, 0x1016, 0x9201, 0x90C8, 0x9203, 0x9202]
    assert (0x1015, (0xD1A4,)) in session.calls  # the prohibit condition read first


def test_live_view_refusal_reasons_in_words() -> None:
    session = FakeSession()
    session.values[0xD1A4] = (1 << 8 | 1 << 20).to_bytes(4, "little")
    source = extension(session).live_view()
    assert source is not None
    with pytest.raises(NikonLiveViewRefused) as caught:
        source.start()
    assert caught.value.reasons == (
        "the battery is too low",
        "the memory card is not formatted",
    )
    assert "the battery is too low; the memory card is not formatted" in str(caught.value)
    assert 0x9201 not in session.codes()


def test_live_view_refused_by_start_live_view_reads_the_reasons() -> None:
    session = FakeSession()
    calls = {"reads": 0}

    def values_after_refusal(code: int, params: tuple[int, ...]) -> Reply | None:
        if code == 0x1015 and params == (0xD1A4,):
            calls["reads"] += 1
            value = 0 if calls["reads"] == 1 else 1 << 15
            return Reply(code=Rc.OK, data=value.to_bytes(4, "little"))
        return answers_holder(code, params)

    answers_holder = answers({0x9201: [0xA004]})
    session.handler = values_after_refusal
    source = extension(session).live_view()
    assert source is not None
    with pytest.raises(NikonLiveViewRefused, match="the camera is shooting"):
        source.start()


def test_live_view_busy_and_empty_frames_are_none_and_not_live_view_restarts() -> None:
    replies = [
        Reply(code=Rc.DEVICE_BUSY),
        Reply(code=0xA004, data=bytes(12)),  # Nikon 1: no frame ready (libgphoto2 PR #1291)
        Reply(code=Rc.OK, data=bytes(12)),  # no picture in it (a first frame on some bodies)
        Reply(code=0xA00B),  # NotLiveView: the body dropped it
        Reply(code=Rc.OK, data=frame_data(64)),
    ]

    def handler(code: int, params: tuple[int, ...]) -> Reply | None:
        if code == 0x9203:
            return replies.pop(0)
        return None

    session = FakeSession(handler=handler)
    source = extension(session).live_view()
    assert source is not None
    source.start()
    assert [source.frame() for _ in range(4)] == [None, None, None, JPEG]
    assert session.codes().count(0x9201) == 2  # started again after NotLiveView


def test_live_view_frames_without_a_picture_end_in_a_decode_error() -> None:
    from ptpkit.errors import DecodeError

    def handler(code: int, params: tuple[int, ...]) -> Reply | None:
        if code == 0x9203:
            return Reply(code=Rc.OK, data=bytes(400))
        return None

    source = extension(FakeSession(handler=handler)).live_view()
    assert source is not None
    source.start()
    assert [source.frame() for _ in range(49)] == [None] * 49
    with pytest.raises(DecodeError, match="no JPEG"):
        source.frame()
