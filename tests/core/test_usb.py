"""Golden bytes for PTP over USB (ISO 15740 Annex D, "USB Still Image Capture Device Definition").

Every vector here is written by hand from Annex D's generic container (D.7.1): ``ContainerLength
u32`` (header included) | ``ContainerType u16`` (1 command, 2 data, 3 response, 4 event) | ``Code
u16`` | ``TransactionID u32`` | payload (parameters, u32 each, or the data). The class requests are
from D.5.2: Cancel (0x64) carries ``CancellationCode u16 = 0x4001`` and the transaction id; Get
Device Status (0x67) answers ``wLength u16 | Code u16 | Parameter u32...``. No USB capture was at
hand (no USB bus on this machine); libgphoto2's ``ptp.h`` uses the same field order
(``PTPUSBBulkContainer``).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptpkit.core.connection import ConnectionEvent
from ptpkit.core.events import (
    NEED_DATA,
    Cancel,
    Data,
    DataEnd,
    DataStart,
    Event,
    Request,
    Response,
)
from ptpkit.core.ptpip import InitEventAck, ProbeRequest
from ptpkit.core.usb import (
    Container,
    ContainerType,
    DeviceStatus,
    UsbFraming,
    decode_cancel_request,
    decode_device_status,
    encode_cancel_request,
    encode_device_status,
    pull_container,
    push_container,
)
from ptpkit.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from ptpkit.testing import drain

from .core_strategies import containers, events, requests, responses


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def decode_all(data: bytes, *, transfer_ended: bool = True) -> list[ConnectionEvent]:
    framing = UsbFraming()
    framing.receive_data(data, transfer_ended=transfer_ended)
    return drain(framing)


# -- commands with 0..5 parameters ----------------------------------------------------------------

COMMANDS: list[tuple[Request, str]] = [
    # GetDeviceInfo outside a session: no parameters, transaction id 0.
    (Request(code=0x1001, transaction_id=0), "0c000000 0100 0110 00000000"),
    # OpenSession(1).
    (Request(code=0x1002, transaction_id=0, params=(1,)), "10000000 0100 0210 00000000 01000000"),
    # DeleteObject(handle 10, any format).
    (
        Request(code=0x100B, transaction_id=2, params=(10, 0)),
        "14000000 0100 0b10 02000000 0a000000 00000000",
    ),
    # GetObjectHandles(all stores, any format, root).
    (
        Request(code=0x1007, transaction_id=3, params=(0xFFFFFFFF, 0, 0xFFFFFFFF)),
        "18000000 0100 0710 03000000 ffffffff 00000000 ffffffff",
    ),
    (
        Request(code=0x9101, transaction_id=0x01020304, params=(1, 2, 3, 4)),
        "1c000000 0100 0191 04030201 01000000 02000000 03000000 04000000",
    ),
    (
        Request(code=0x101B, transaction_id=0xFFFFFFFE, params=(5, 4, 3, 2, 1)),
        "20000000 0100 1b10 feffffff 05000000 04000000 03000000 02000000 01000000",
    ),
]


@pytest.mark.parametrize(("request_", "golden"), COMMANDS, ids=lambda v: getattr(v, "code", ""))
def test_command_golden(request_: Request, golden: str) -> None:
    data = h(golden)
    assert b"".join(UsbFraming().encode(request_)) == data
    assert decode_all(data) == [request_]
    container = pull_container(data)
    assert container.type == ContainerType.COMMAND
    assert container.code == request_.code
    assert container.transaction_id == request_.transaction_id
    assert container.params == request_.params
    assert push_container(container) == data


# -- responses, events ---------------------------------------------------------------------------

RESPONSES: list[tuple[Response, str]] = [
    (Response(code=0x2001, transaction_id=1), "0c000000 0300 0120 01000000"),
    (Response(code=0x2019, transaction_id=9), "0c000000 0300 1920 09000000"),
    # SendObjectInfo's answer: StorageID, ParentObject, ObjectHandle.
    (
        Response(code=0x2001, transaction_id=11, params=(0x00010001, 2, 10)),
        "18000000 0300 0120 0b000000 01000100 02000000 0a000000",
    ),
    (
        Response(code=0xA001, transaction_id=0, params=(1, 2, 3, 4, 5)),
        "20000000 0300 01a0 00000000 01000000 02000000 03000000 04000000 05000000",
    ),
]


@pytest.mark.parametrize(("response", "golden"), RESPONSES, ids=lambda v: getattr(v, "code", ""))
def test_response_golden(response: Response, golden: str) -> None:
    data = h(golden)
    assert b"".join(UsbFraming().encode(response)) == data
    assert decode_all(data) == [response]
    assert push_container(pull_container(data)) == data


EVENTS: list[tuple[Event, str]] = [
    # ObjectAdded(10) during transaction 5 (the event the PTP/IP capture shows, framed for USB).
    (Event(code=0x4002, transaction_id=5, params=(10,)), "10000000 0400 0240 05000000 0a000000"),
    # CaptureComplete, no parameter.
    (Event(code=0x400D, transaction_id=5), "0c000000 0400 0d40 05000000"),
    # DevicePropChanged(BatteryLevel), not about any transaction (0xFFFFFFFF).
    (Event(code=0x4006, params=(0x5001,)), "10000000 0400 0640 ffffffff 01500000"),
    (
        Event(code=0xC101, transaction_id=0, params=(1, 2, 3)),
        "18000000 0400 01c1 00000000 01000000 02000000 03000000",
    ),
]


@pytest.mark.parametrize(("event", "golden"), EVENTS, ids=lambda v: getattr(v, "code", ""))
def test_event_golden(event: Event, golden: str) -> None:
    data = h(golden)
    assert b"".join(UsbFraming().encode(event)) == data
    assert decode_all(data) == [event]


# -- data containers -----------------------------------------------------------------------------


def test_data_container_golden() -> None:
    # GetObjectHandles data (transaction 3): an AUINT32 of two handles, 12 bytes of payload.
    golden = h("18000000 0200 0710 03000000 02000000 01000000 02000000")
    framing = UsbFraming()
    start = DataStart(transaction_id=3, total_bytes=12, code=0x1007)
    payload = h("02000000 01000000 02000000")
    header = framing.encode(start)
    assert header == [golden[:12]]
    body = framing.encode(Data(transaction_id=3, chunk=payload))
    assert b"".join(header + body) == golden
    assert decode_all(golden) == [
        start,
        Data(transaction_id=3, chunk=payload),
        DataEnd(transaction_id=3),
    ]
    container = pull_container(golden)
    assert (container.type, container.code, container.payload) == (2, 0x1007, payload)
    assert push_container(container) == golden


def test_empty_data_container_golden() -> None:
    # A zero-length data phase is a header alone (length 12).
    golden = h("0c000000 0200 0d10 0c000000")
    assert UsbFraming().encode(DataStart(transaction_id=12, total_bytes=0, code=0x100D)) == [golden]
    assert UsbFraming().encode_empty_end(12) == []
    assert decode_all(golden) == [
        DataStart(transaction_id=12, total_bytes=0, code=0x100D),
        DataEnd(transaction_id=12),
    ]


def test_data_chunks_pass_through_without_a_copy() -> None:
    chunk = memoryview(bytearray(b"abcdef"))
    assert UsbFraming().encode(Data(transaction_id=1, chunk=chunk))[0] is chunk


def test_data_phase_of_4_gib_or_more_carries_length_0xffffffff() -> None:
    # Annex D leaves no room for lengths above 32 bits; libgphoto2 (usb.c) and the MTP spec
    # use 0xFFFFFFFF and read until a short packet ends the transfer.
    framing = UsbFraming()
    assert framing.encode(DataStart(transaction_id=7, total_bytes=5 << 30, code=0x1009)) == [
        h("ffffffff 0200 0910 07000000")
    ]
    # The largest payload whose length still fits: 12 + 0xFFFFFFF2 = 0xFFFFFFFE.
    assert framing.encode(DataStart(transaction_id=7, total_bytes=0xFFFFFFF2, code=0x1009)) == [
        h("feffffff 0200 0910 07000000")
    ]
    assert framing.encode(DataStart(transaction_id=7, total_bytes=0xFFFFFFF3, code=0x1009)) == [
        h("ffffffff 0200 0910 07000000")
    ]


def test_data_header_0xffffffff_reads_until_the_transfer_ends() -> None:
    framing = UsbFraming()
    framing.receive_data(h("ffffffff 0200 0910 07000000") + b"abc", transfer_ended=False)
    assert framing.next_event() == DataStart(transaction_id=7, total_bytes=None, code=0x1009)
    first = framing.next_event()
    assert isinstance(first, Data)
    assert bytes(first.chunk) == b"abc"
    assert framing.next_event() is NEED_DATA
    framing.receive_data(b"de", transfer_ended=True)
    second = framing.next_event()
    assert isinstance(second, Data)
    assert bytes(second.chunk) == b"de"
    assert framing.next_event() == DataEnd(transaction_id=7)
    # The next container (the response, a new transfer) decodes normally.
    framing.receive_data(h("0c000000 0300 0120 07000000"), transfer_ended=True)
    assert framing.next_event() == Response(code=0x2001, transaction_id=7)
    assert framing.next_event() is NEED_DATA


def test_data_header_0xffffffff_ended_by_a_zero_length_packet() -> None:
    framing = UsbFraming()
    framing.receive_data(h("ffffffff 0200 0910 07000000") + b"x" * 512, transfer_ended=False)
    assert isinstance(framing.next_event(), DataStart)
    assert isinstance(framing.next_event(), Data)
    assert framing.next_event() is NEED_DATA
    framing.receive_data(b"", transfer_ended=True)  # the ZLP after a full packet
    assert framing.next_event() == DataEnd(transaction_id=7)


# -- class requests ------------------------------------------------------------------------------


def test_cancel_request_golden() -> None:
    # D.5.2.1: CancellationCode 0x4001, then the TransactionID: 01 40 + tid.
    assert encode_cancel_request(7) == h("0140 07000000")
    assert UsbFraming().encode(Cancel(transaction_id=7)) == [h("0140 07000000")]
    assert decode_cancel_request(h("0140 07000000")) == 7
    assert decode_cancel_request(h("0140 feffffff")) == 0xFFFFFFFE
    with pytest.raises(DecodeError) as info:
        decode_cancel_request(h("0240 07000000"))
    assert info.value.offset == 2
    with pytest.raises(DecodeError):
        decode_cancel_request(h("0140 0700"))


def test_device_status_golden() -> None:
    # D.5.2.4: wLength (the whole dataset), Code, then parameters (endpoint numbers).
    assert encode_device_status(DeviceStatus(code=0x2001)) == h("0400 0120")
    assert decode_device_status(h("0400 0120")) == DeviceStatus(code=0x2001)
    stalled = DeviceStatus(code=0x2019, params=(0x81, 0x02))
    assert encode_device_status(stalled) == h("0c00 1920 81000000 02000000")
    assert decode_device_status(h("0c00 1920 81000000 02000000")) == stalled
    # A wLength larger than the bytes present: believe the bytes.
    assert decode_device_status(h("1000 1920 81000000")) == DeviceStatus(
        code=0x2019, params=(0x81,)
    )
    # A wLength smaller than the bytes present: believe the field.
    assert decode_device_status(h("0400 0120 81000000")) == DeviceStatus(code=0x2001)
    with pytest.raises(DecodeError):
        decode_device_status(h("0400 01"))


# -- bad containers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        # Unknown container type 5.
        ("0c000000 0500 0120 01000000", DecodeError),
        # A response longer than a header plus five parameters.
        ("24000000 0300 0120 01000000" + "00000000" * 6, DecodeError),
        # A length that is not a header plus whole parameters.
        ("0e000000 0300 0120 01000000 0000", DecodeError),
        # A length shorter than the header.
        ("08000000 0300 0120 01000000", DecodeError),
        ("08000000 0200 0910 01000000", DecodeError),
        # A response container claiming 0xFFFFFFF0 bytes: refused from the header alone.
        ("f0ffffff 0300 0120 01000000", DecodeError),
        # The transfer ends inside a header.
        ("0c000000 0300", RemoteProtocolError),
        # The transfer ends inside a 16-byte response.
        ("10000000 0300 0120 01000000 0100", RemoteProtocolError),
        # The transfer ends 2 bytes before the end of the data phase.
        ("12000000 0200 0910 01000000 01020304", RemoteProtocolError),
    ],
)
def test_bad_containers(data: str, error: type[Exception]) -> None:
    framing = UsbFraming()
    framing.receive_data(h(data), transfer_ended=True)
    with pytest.raises(error):
        drain(framing)


def test_pull_container_length_must_match() -> None:
    with pytest.raises(DecodeError) as info:
        pull_container(h("10000000 0300 0120 01000000"))
    assert info.value.offset == 0
    with pytest.raises(DecodeError) as info:
        pull_container(h("f0ffffff 0300 0120 01000000"))
    assert info.value.offset == 0
    with pytest.raises(DecodeError):
        pull_container(h("0c000000 0300 0120"))


def test_pull_container_unknown_length_only_for_data() -> None:
    # 0xFFFFFFFF means "a data phase of 4 GiB or more"; a response cannot be that long.
    container = pull_container(h("ffffffff 0200 0910 07000000 0102"))
    assert container.payload == h("0102")
    with pytest.raises(DecodeError):
        pull_container(h("ffffffff 0300 0120 07000000 01000000"))


def test_too_many_parameters_or_out_of_range_is_a_local_error() -> None:
    framing = UsbFraming()
    with pytest.raises(LocalProtocolError):
        framing.encode(Request(code=0x1001, transaction_id=0, params=(1, 2, 3, 4, 5, 6)))
    with pytest.raises(LocalProtocolError):
        framing.encode(Response(code=0x2001, transaction_id=0, params=(1 << 32,)))
    with pytest.raises(LocalProtocolError):
        framing.encode(Event(code=0x4002, params=(-1,)))
    with pytest.raises(LocalProtocolError):
        framing.encode(DataStart(transaction_id=1, total_bytes=None))
    with pytest.raises(LocalProtocolError):
        framing.encode(DataStart(transaction_id=1, total_bytes=-5))
    with pytest.raises(LocalProtocolError):
        framing.encode(ProbeRequest())
    with pytest.raises(LocalProtocolError):
        framing.encode(InitEventAck())


@pytest.mark.parametrize(
    "event",
    [
        Request(code=0x10000, transaction_id=0),
        Response(code=0x2001, transaction_id=1 << 32),
        Event(code=-1),
        DataStart(transaction_id=-1, total_bytes=4),
        Cancel(transaction_id=1 << 32),
    ],
)
def test_header_fields_out_of_range_are_local_errors(event: object) -> None:
    # An opcode over 16 bits or an id over 32 bits is the caller's mistake: a LocalProtocolError
    # like any other, never a bare struct.error.
    with pytest.raises(LocalProtocolError):
        UsbFraming().encode(event)
    with pytest.raises(LocalProtocolError):
        push_container(Container(type=1, code=0x10000, transaction_id=0))


def test_reset_drops_partial_input() -> None:
    framing = UsbFraming()
    framing.receive_data(h("18000000 0200 0710 03000000 0200"), transfer_ended=False)
    assert isinstance(framing.next_event(), DataStart)
    assert isinstance(framing.next_event(), Data)
    assert framing.next_event() is NEED_DATA
    framing.reset()
    framing.receive_data(h("0c000000 0300 1f20 03000000"), transfer_ended=True)
    assert framing.next_event() == Response(code=0x201F, transaction_id=3)


def test_several_containers_in_one_read() -> None:
    # An event read from the interrupt pipe never shares a transfer with bulk data, but two
    # whole containers in one buffer must still decode one after the other.
    data = h("0c000000 0400 0d40 05000000") + h("10000000 0400 0240 05000000 0a000000")
    assert decode_all(data) == [
        Event(code=0x400D, transaction_id=5),
        Event(code=0x4002, transaction_id=5, params=(10,)),
    ]


# -- round trips ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(containers)
def test_container_round_trip(container: Container) -> None:
    data = push_container(container)
    assert pull_container(data) == container
    assert int.from_bytes(data[:4], "little") == 12 + len(container.payload)


@settings(max_examples=200, deadline=None)
@given(st.one_of(requests, responses, events))
def test_message_round_trip_through_the_framing(message: Request | Response | Event) -> None:
    data = b"".join(UsbFraming().encode(message))
    assert decode_all(data) == [message]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF))
def test_data_phase_round_trip_through_the_framing(payload: bytes, tid: int, code: int) -> None:
    framing = UsbFraming()
    start = DataStart(transaction_id=tid, total_bytes=len(payload), code=code)
    data = b"".join(framing.encode(start) + framing.encode(Data(transaction_id=tid, chunk=payload)))
    events = decode_all(data)
    assert events[0] == start
    assert events[-1] == DataEnd(transaction_id=tid)
    assert b"".join(bytes(e.chunk) for e in events[1:-1] if isinstance(e, Data)) == payload


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 0xFFFFFFFF))
def test_cancel_request_round_trip(tid: int) -> None:
    assert decode_cancel_request(encode_cancel_request(tid)) == tid


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 0xFFFF), st.lists(st.integers(0, 0xFFFFFFFF), max_size=4).map(tuple))
def test_device_status_round_trip(code: int, params: tuple[int, ...]) -> None:
    status = DeviceStatus(code=code, params=params)
    assert decode_device_status(encode_device_status(status)) == status
