"""Golden seed inputs, built at start-up with ptpkit's own encoders (``to_bytes``, ``push_packet``,
``push_container``, the framings): mutations then explore bytes near what real cameras send.

The values imitate real devices: a Canon EOS and an Android MTP DeviceInfo, an SD card, JPEG and
folder ObjectInfos, the standard properties' descriptions as cameras report them.
"""

from __future__ import annotations

from fuzz.conn import GET_OBJECT, OBJECT_ADDED, OK, OPEN_SESSION, STATES, local_action, start
from fuzz.script import Piece, make_script, split_script
from ptpkit.codes.properties import STANDARD_PROPERTIES
from ptpkit.core import canon_eos as eos
from ptpkit.core import canon_usb, nikon, sony
from ptpkit.core import canon_usb_requests as canon_req
from ptpkit.core import fuji_datasets as fuji_ds
from ptpkit.core import fujiptpip as fuji
from ptpkit.core.buffer import Writer
from ptpkit.core.connection import Connection, OutgoingEvent
from ptpkit.core.datasets import (
    ASSOCIATION_GENERIC_FOLDER,
    FORMAT_ASSOCIATION,
    DeviceInfo,
    DevicePropDesc,
    EnumerationForm,
    GetSet,
    ObjectInfo,
    ObjectPropElement,
    ObjectPropList,
    OtherForm,
    RangeForm,
    StorageInfo,
    encode_uint32_array,
    encode_value,
)
from ptpkit.core.datatypes import DataType
from ptpkit.core.events import Data, DataPhase, DataStart, Event, Request, Response
from ptpkit.core.ptpip import (
    CancelPacket,
    DataPacket,
    EndData,
    EventPacket,
    InitCommandAck,
    InitCommandRequest,
    InitEventAck,
    InitEventRequest,
    InitFail,
    OperationRequest,
    OperationResponse,
    Packet,
    ProbeRequest,
    ProbeResponse,
    PtpIpPhase,
    StartData,
    push_packet,
)
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import (
    Container,
    ContainerType,
    DeviceStatus,
    UsbFraming,
    encode_cancel_request,
    encode_device_status,
    push_container,
)
from ptpkit.errors import ProtocolError
from ptpkit.identity import format_guid
from ptpkit.testing import drain

_GUID = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")

# -- datasets ------------------------------------------------------------------------------------

_CANON_OPS = (
    *range(0x1001, 0x101C),
    0x9101,
    0x9102,
    0x9103,
    0x9104,
    0x9105,
    0x9107,
    0x9108,
    0x9109,
    0x910A,
    0x910B,
    0x9110,
    0x9114,
    0x9115,
    0x911C,
    0x9153,
    0x9154,
    0x9160,
)


def device_info() -> list[bytes]:
    canon = DeviceInfo(
        standard_version=100,
        vendor_extension_id=0x0000000B,
        vendor_extension_version=100,
        vendor_extension_desc="",
        functional_mode=0,
        operations_supported=_CANON_OPS,
        events_supported=(0x4001, 0x4002, 0x4003, 0x4004, 0x400C, 0xC101, 0xC102),
        device_properties_supported=(0x5001, 0xD402, 0xD407, 0xD406, 0xD303),
        capture_formats=(0x3801, 0xB103),
        playback_formats=(0x3001, 0x3002, 0x3006, 0x300A, 0x3801, 0xB103, 0xB982),
        manufacturer="Canon Inc.",
        model="Canon EOS 5D Mark IV",
        device_version="3-1.2.0",
        serial_number="0123456789abcdef0123456789abcdef",
    )
    android = DeviceInfo(
        standard_version=100,
        vendor_extension_id=0x00000006,
        vendor_extension_version=100,
        vendor_extension_desc="microsoft.com: 1.0; android.com: 1.0;",
        operations_supported=(0x1001, 0x1002, 0x1003, 0x1004, 0x9801, 0x9802, 0x9803, 0x9805),
        events_supported=(0x4002, 0x4003, 0x4004, 0x4005),
        device_properties_supported=(0xD401, 0xD402, 0x5003, 0x5001),
        capture_formats=(),
        playback_formats=(0x3000, 0x3001, 0x3004, 0x3008, 0x3009, 0x300B, 0x3801, 0xB982),
        manufacturer="Google",
        model="Pixel 7 — MTP",
        device_version="1.0",
        serial_number="29031FDH2001XL",
    )
    return [canon.to_bytes(), android.to_bytes(), DeviceInfo().to_bytes()]


def storage_info() -> list[bytes]:
    card = StorageInfo(
        max_capacity=63_864_569_856,
        free_space_bytes=41_234_890_752,
        free_space_images=6012,
        description="SD",
        volume_label="EOS_DIGITAL",
    )
    return [card.to_bytes(), StorageInfo().to_bytes()]


def object_info() -> list[bytes]:
    jpeg = ObjectInfo(
        storage_id=0x00010001,
        object_format=0x3801,
        compressed_size=6_482_133,
        thumb_format=0x3808,
        thumb_compressed_size=11_520,
        thumb_pix_width=160,
        thumb_pix_height=120,
        image_pix_width=6720,
        image_pix_height=4480,
        image_bit_depth=24,
        parent_object=0x90000001,
        filename="IMG_0001.JPG",
        capture_date="20240131T235959",
        modification_date="20240131T235959.5+0100",
    )
    folder = ObjectInfo(
        storage_id=0x00010001,
        object_format=FORMAT_ASSOCIATION,
        association_type=ASSOCIATION_GENERIC_FOLDER,
        filename="100CANON",
        capture_date="20240101T000000Z",
    )
    odd = ObjectInfo(filename="../Ünïcødé \u202e.gpj.exe", keywords="a" * 200)
    return [jpeg.to_bytes(), folder.to_bytes(), odd.to_bytes()]


def _descs() -> list[DevicePropDesc]:
    return [
        DevicePropDesc(
            code=0x5001,
            datatype=DataType.UINT8,
            factory_default=100,
            current=75,
            form=RangeForm(minimum=0, maximum=100, step=25),
        ),
        DevicePropDesc(
            code=0x5005,
            datatype=DataType.UINT16,
            get_set=GetSet.GET_SET,
            factory_default=2,
            current=4,
            form=EnumerationForm(values=(2, 4, 5, 6, 7, 0x8001)),
        ),
        DevicePropDesc(
            code=0x500D,
            datatype=DataType.UINT32,
            get_set=GetSet.GET_SET,
            factory_default=80,
            current=40,
            form=EnumerationForm(values=(1, 2, 4, 8, 10, 20, 40, 80, 125, 250, 10000, 300000)),
        ),
        DevicePropDesc(
            code=0x5010,
            datatype=DataType.INT16,
            get_set=GetSet.GET_SET,
            factory_default=0,
            current=-333,
            form=RangeForm(minimum=-3000, maximum=3000, step=333),
        ),
        DevicePropDesc(
            code=0x5011,
            datatype=DataType.STR,
            get_set=GetSet.GET_SET,
            factory_default="",
            current="20240131T235959",
            form=OtherForm(flag=3),
        ),
        DevicePropDesc(
            code=0xD402,
            datatype=DataType.STR,
            factory_default="",
            current="EOS 5D",
            form=OtherForm(flag=5, raw=b"\x05[a-z]\x00"),
        ),
        DevicePropDesc(
            code=0xD303,
            datatype=DataType.AUINT8,
            factory_default=(),
            current=(1, 2, 3),
        ),
        DevicePropDesc(code=0xD101, datatype=DataType.UINT128, current=(1 << 127) + 5),
        DevicePropDesc(
            code=0xD102, datatype=DataType.AINT64, factory_default=(), current=(-1, 1 << 40)
        ),
    ]


def device_prop_desc() -> list[bytes]:
    return [desc.to_bytes() for desc in _descs()]


def object_prop_list() -> list[bytes]:
    elements = (
        ObjectPropElement(
            handle=1, property_code=0xDC07, datatype=DataType.STR, value="IMG_0001.JPG"
        ),
        ObjectPropElement(
            handle=1, property_code=0xDC04, datatype=DataType.UINT64, value=6_482_133
        ),
        ObjectPropElement(handle=1, property_code=0xDC02, datatype=DataType.UINT16, value=0x3801),
        ObjectPropElement(handle=1, property_code=0xDC0B, datatype=DataType.UINT32, value=7),
        ObjectPropElement(
            handle=2, property_code=0xDC99, datatype=DataType.AUINT16, value=(1, 2, 0xFFFF)
        ),
    )
    return [ObjectPropList(elements=elements).to_bytes(), ObjectPropList().to_bytes()]


_SAMPLE_VALUES: dict[DataType, object] = {
    DataType.STR: "20240131T235959",
    DataType.INT128: -(1 << 100),
    DataType.UINT128: 1 << 100,
}


def _sample(datatype: DataType) -> bytes:
    value = _SAMPLE_VALUES.get(datatype)
    if value is None:
        value = (1, 2, 3) if datatype.is_array else (-5 if datatype.signed else 200)
    assert isinstance(value, (int, str, tuple))
    return encode_value(datatype, value)


def prop_value() -> list[bytes]:
    return [
        int(datatype).to_bytes(2, "little") + _sample(datatype)
        for datatype in DataType
        if datatype is not DataType.UNDEF
    ]


def uint32_array() -> list[bytes]:
    return [encode_uint32_array([0x00010001, 0x00020001]), encode_uint32_array([]),
            encode_uint32_array(list(range(1, 40)))]  # fmt: skip


# -- USB -----------------------------------------------------------------------------------------


def _usb_messages() -> list[bytes]:
    """Whole containers: one command, response, event and data container each, and variants."""
    info = device_info()[0]
    return [
        push_container(Container(type=ContainerType.COMMAND, code=0x1001, transaction_id=0)),
        push_container(
            Container(
                type=ContainerType.COMMAND,
                code=0x1002,
                transaction_id=0,
                payload=(1).to_bytes(4, "little"),
            )
        ),
        push_container(
            Container(
                type=ContainerType.RESPONSE,
                code=OK,
                transaction_id=7,
                payload=bytes.fromhex("0100000002000000"),
            )
        ),
        push_container(
            Container(
                type=ContainerType.EVENT,
                code=OBJECT_ADDED,
                transaction_id=0xFFFFFFFF,
                payload=(0x1234).to_bytes(4, "little"),
            )
        ),
        push_container(
            Container(type=ContainerType.DATA, code=0x1001, transaction_id=0, payload=info)
        ),
    ]


def usb_container() -> list[bytes]:
    messages = _usb_messages()
    unknown = bytes.fromhex("ffffffff 0200 0910 05000000") + b"JPEG" * 8
    return [*messages, unknown]


def usb_framing() -> list[bytes]:
    """Streams as the bulk-IN pipe delivers them, one transfer per container, split in places."""
    usb = UsbFraming()
    messages = _usb_messages()
    info = device_info()[0]
    transfer = b"".join(usb.encode(DataStart(transaction_id=1, total_bytes=len(info), code=0x1001)))
    response = b"".join(usb.encode(Response(code=OK, transaction_id=1)))
    unknown = bytes.fromhex("ffffffff 0200 0910 02000000")
    event = b"".join(usb.encode(Event(code=OBJECT_ADDED, params=(5,))))
    return [
        make_script([Piece(message, True) for message in messages]),
        # A data transfer split across reads, then its response.
        make_script(
            [
                Piece(transfer[:12]),
                Piece(info[:20]),
                Piece(info[20:], True),
                Piece(response, True),
            ]
        ),
        # A 4 GiB+ object: length unknown, read to the end of the transfer.
        make_script([Piece(unknown + b"data" * 6), Piece(b"tail", True), Piece(response, True)]),
        # Containers back to back in one read, and an event cut mid-header.
        make_script([Piece(response + event[:5]), Piece(event[5:], True)]),
        # A zero-length data phase, then a reset, then a fresh response.
        make_script(
            [
                Piece(bytes.fromhex("0c000000 0200 1410 03000000"), True),
                Piece(b"", True, 3),
                Piece(response, True),
            ]
        ),
    ]


def usb_device_status() -> list[bytes]:
    return [
        encode_device_status(DeviceStatus(code=OK)),
        encode_device_status(DeviceStatus(code=0x2019)),
        encode_device_status(DeviceStatus(code=0x201F, params=(0x81, 0x02))),
    ]


def _extended_event(code: int, tid: int, params: list[bytes]) -> bytes:
    writer = Writer()
    writer.uint16(code)
    writer.uint32(tid)
    writer.uint16(len(params))
    for param in params:
        writer.uint16(len(param))
        writer.raw(param)
    return writer.getvalue()


def usb_extended_event() -> list[bytes]:
    return [
        _extended_event(0x4002, 0xFFFFFFFF, [(0x1234).to_bytes(4, "little")]),
        _extended_event(0xC101, 7, [b"\x01\x02", b"", bytes(range(16))]),
        _extended_event(0x4008, 0, []),
    ]


def usb_cancel_request() -> list[bytes]:
    return [encode_cancel_request(5), encode_cancel_request(0xFFFFFFFE)]


# -- PTP/IP --------------------------------------------------------------------------------------


def _packets() -> list[Packet]:
    return [
        InitCommandRequest(guid=_GUID, friendly_name="ptpkit-host"),
        InitCommandAck(connection_number=1, guid=_GUID[::-1], friendly_name="Canon EOS R5"),
        InitEventRequest(connection_number=1),
        InitEventAck(),
        InitFail(reason=1),
        OperationRequest(data_phase=1, code=0x1002, transaction_id=0, params=(1,)),
        OperationRequest(data_phase=2, code=0x100C, transaction_id=3, params=(0x00010001, 0)),
        OperationResponse(code=OK, transaction_id=1, params=(0x00010001,)),
        EventPacket(code=OBJECT_ADDED, transaction_id=0xFFFFFFFF, params=(0x1234,)),
        StartData(transaction_id=1, total_length=64),
        StartData(transaction_id=1, total_length=0xFFFFFFFFFFFFFFFF),
        DataPacket(transaction_id=1, payload=b"x" * 24),
        EndData(transaction_id=1, payload=b"y" * 40),
        CancelPacket(transaction_id=1),
        ProbeRequest(),
        ProbeResponse(),
    ]


def ptpip_packet() -> list[bytes]:
    return [push_packet(packet) for packet in _packets()]


def ptpip_framing() -> list[bytes]:
    packets = ptpip_packet()
    start_data = push_packet(StartData(transaction_id=1, total_length=64))
    data = push_packet(DataPacket(transaction_id=1, payload=b"x" * 24))
    end = push_packet(EndData(transaction_id=1, payload=b"y" * 40))
    response = push_packet(OperationResponse(code=OK, transaction_id=1))
    empty = push_packet(StartData(transaction_id=2, total_length=0))
    empty_end = push_packet(EndData(transaction_id=2))
    download = start_data + data + end + response
    return [
        make_script([Piece(b"".join(packets))]),
        make_script([Piece(download[i : i + 7]) for i in range(0, len(download), 7)]),
        make_script([Piece(download[:30]), Piece(download[30:])]),
        # libgphoto2's zero-length phase (StartData alone) and CIPA's (with an empty EndData).
        make_script([Piece(empty + response), Piece(empty + empty_end + response)]),
        make_script([Piece(download[:21], act=3), Piece(response)]),
    ]


# -- Fujifilm PTP/IP -----------------------------------------------------------------------------


def _fuji_link_packets() -> list[fuji.LinkPacket]:
    return [
        fuji.InitCommandRequest(guid=_GUID, friendly_name="ptpkit-host"),
        fuji.InitCommandAck(guid=_GUID[::-1], friendly_name="X-T4"),
        fuji.InitCommandAck(guid=_GUID[::-1], friendly_name="X-H2", connection_number=3),
        fuji.InitFail(reason=fuji.InitFailReason.DEVICE_BUSY),
        fuji.InitFail(reason=fuji.InitFailReason.INVALID_PARAMETER),
    ]


def fujiptpip_packet() -> list[bytes]:
    # And the request of the name's length, as older libgphoto2 and the Go tool send it.
    short = fuji.push_link_packet(_fuji_link_packets()[0])[:52]
    return [fuji.push_link_packet(p) for p in _fuji_link_packets()] + [
        (52).to_bytes(4, "little") + short[4:]
    ]


def fujiptpip_framing() -> list[bytes]:
    command = fuji.FujiPtpIpFraming()
    request = b"".join(fuji.push_link_packet(p) for p in _fuji_link_packets()[:2])
    get = b"".join(command.encode(Request(code=GET_OBJECT, transaction_id=1, params=(1,))))
    download = (
        b"".join(command.encode(DataStart(transaction_id=1, total_bytes=24, code=GET_OBJECT)))
        + b"x" * 24
        + b"".join(command.encode(Response(code=OK, transaction_id=1, params=(7,))))
    )
    event = b"".join(command.encode(Event(code=0xC004, transaction_id=1, params=(6, 6, 0, 0))))
    return [
        make_script([Piece(request + get + download + event)]),
        make_script([Piece(download[i : i + 5]) for i in range(0, len(download), 5)]),
        make_script([Piece(download[:20], act=3), Piece(download[20:])]),
    ]


# -- connections ---------------------------------------------------------------------------------


def _play(
    local: Connection, peer: Connection, script: list[tuple[int, list[OutgoingEvent]]]
) -> bytes:
    """A session where the local end acts (``act``) and the peer answers ``events``: returns the
    fuzz input (state byte excluded) that replays the peer's side, one USB transfer per piece."""
    pieces: list[Piece] = []
    for act, events in script:
        sent = b"".join(local_action(local, act))
        if sent:
            try:
                peer.receive_data(sent, transfer_ended=True)
                drain(peer)
            except ProtocolError:
                pass  # a cancel the peer model did not make itself (USB's control pipe)
        pieces.append(Piece(b"", act=act))
        transfer = bytearray()
        for event in events:
            transfer += b"".join(peer.send(event))
            if peer.phase in (Phase.INITIATOR_DATA, Phase.RESPONDER_DATA):
                continue  # a data container and its data are one USB transfer
            local.receive_data(bytes(transfer), transfer_ended=True)
            drain(local)
            pieces.append(Piece(bytes(transfer), transfer_ended=True))
            transfer.clear()
    return make_script(pieces)


def connection(framing: str, role: Role) -> list[bytes]:
    """Each start state with nothing more, with a well-behaved peer, and with the peer's bytes
    cut into small pieces."""
    found: list[bytes] = []
    for state in range(STATES):
        found.append(bytes([state]))
        local, peer = start(framing, role, state)
        script: list[tuple[int, list[OutgoingEvent]]]
        if role is Role.INITIATOR:
            tid = local.request.transaction_id if local.request else 1
            if local.request is not None and local.request.code == GET_OBJECT:
                script = [
                    (
                        0,
                        [
                            DataStart(transaction_id=tid, total_bytes=10, code=GET_OBJECT),
                            Data(transaction_id=tid, chunk=b"0123456789"),
                            Response(code=OK, transaction_id=tid),
                        ],
                    )
                ]
            elif local.request is not None:
                script = [(0, [Response(code=OK, transaction_id=tid)])]
            elif local.phase is fuji.FujiPhase.AWAITING_ACK:
                fuji_ack = fuji.InitCommandAck(guid=_GUID, friendly_name="X-T2")
                script = [(0, [fuji_ack]), (1, [DataStart(transaction_id=0, total_bytes=4)])]
            elif local.phase is PtpIpPhase.AWAITING_COMMAND_ACK:
                ack = InitCommandAck(connection_number=1, guid=_GUID, friendly_name="camera")
                script = [(0, [ack]), (1, [DataStart(transaction_id=0, total_bytes=4)])]
            else:
                script = [(0, [Event(code=OBJECT_ADDED, params=(9,))])]
        elif local.request is not None and local.request.data_phase == DataPhase.OUT:
            tid = local.request.transaction_id
            data: list[OutgoingEvent] = [
                DataStart(transaction_id=tid, total_bytes=8),
                Data(transaction_id=tid, chunk=b"12345678"),
            ]
            script = [(0, data), (1, [])]
        elif local.phase is Phase.RESPONDER_DATA:
            script = [(3, []), (1, [])]  # the host cancels (control pipe); the device answers
        elif local.request is None and local.phase is Phase.IDLE:
            script = [
                (0, [Request(code=OPEN_SESSION, transaction_id=0, params=(1,))]),
                (1, [Request(code=GET_OBJECT, transaction_id=1, params=(1,))]),
                (2, []),
                (1, []),
            ]
        else:
            script = [(1, [])]
        played = _play(local, peer, script)
        found.append(bytes([state]) + played)
        # The same peer bytes, cut every 5 bytes.
        stream = b"".join(_stream_of(played))
        cut = [Piece(stream[i : i + 5]) for i in range(0, min(len(stream), 300), 5)]
        if cut:
            found.append(bytes([state]) + make_script([*cut, Piece(stream[300:])]))
    return found


def _stream_of(script: bytes) -> list[bytes]:
    return [piece.data for piece in split_script(script)]


# -- text ----------------------------------------------------------------------------------------


def utf8(text: str) -> bytes:
    """A text target's input for ``text`` (mode byte 0: UTF-8, surrogates escaped)."""
    return b"\x00" + text.encode("utf-8", "surrogateescape")


def utf16(text: str) -> bytes:
    """A text target's input for ``text`` as UTF-16 (mode byte 1: lone surrogates pass)."""
    return b"\x01" + text.encode("utf-16-le", "surrogatepass")


_PROPERTY_TEXTS = (
    "1/125",
    "30s",
    "0.5",
    "f/5.6",
    "f8",
    "+1 1/3",
    "-0.7 EV",
    "50mm",
    "2 s",
    "500ms",
    "now",
    "2024-01-31T12:00:00",
    "20240131T235959",
    "daylight",
    "automatic",
    "0x10",
    "[1, 2, 3]",
    "100",
    "",
)


def property_parse() -> list[bytes]:
    found = []
    for index in range(len(STANDARD_PROPERTIES)):
        for text in _PROPERTY_TEXTS[index % 5 :: 5]:
            found.append(bytes([index]) + utf8(text))
    return found


def property_format() -> list[bytes]:
    found = []
    values = prop_value()
    for index in range(len(STANDARD_PROPERTIES)):
        found.append(bytes([index]) + values[(index * 7) % len(values)])
        found.append(bytes([index]) + int(DataType.UINT32).to_bytes(2, "little") + bytes(4))
    return found


def safe_filename() -> list[bytes]:
    return [
        utf8("IMG_0001.JPG"),
        utf8("../../etc/passwd"),
        utf8("..\\..\\boot.ini"),
        utf8(".."),
        utf8(" . "),
        utf8("name\x00hidden.jpg"),
        utf8("tab\there\x7f.jpg"),
        utf8("Ünïcødé \u202e.jpg"),
        utf8("a" * 300 + ".jpeg"),
        utf8("é" * 200 + "." + "x" * 20),
        utf8("photo." + "ü" * 16),
        utf16("lone \ud800 surrogate.jpg"),
        b"\x00" + b"bad utf-8 \xff\xfe.jpg",
        b"\x02" + bytes(range(256)),
    ]


def parse_guid() -> list[bytes]:
    return [
        utf8(format_guid(_GUID)),
        utf8(_GUID.hex()),
        utf8("{" + format_guid(_GUID).upper() + "}"),
        utf8(":".join(f"{b:02x}" for b in _GUID)),
        utf8(" " + _GUID.hex() + "\n"),
    ]


def parse_datetime() -> list[bytes]:
    return [
        utf8("20240131T235959"),
        utf8("20240131T235959.5"),
        utf8("20240131T235959Z"),
        utf8("20240131T235959+0130"),
        utf8("20240131T235959.123456789-05:30"),
        utf8("00010101T000000"),
        utf8("99991231T235959+2359"),
        utf8("00000000T000000"),
        utf8(""),
    ]


def ptpip_url() -> list[bytes]:
    return [
        utf8("ptpip:192.168.1.1"),
        utf8("ptpip://camera.local:15740"),
        utf8("ptpip:[fe80::1]:15740:15741"),
        utf8("PTPIP:10.0.0.2:1:65535/"),
    ]


def usb_url() -> list[bytes]:
    return [utf8("usb:"), utf8("usb:001,004"), utf8("usb:04a9:32b4"), utf8("usb:serial=0123")]


# -- Canon EOS wire formats (ptpkit.core.canon_eos) ----------------------------------------------


def _eos_records() -> list[eos.EosRecord]:
    jpeg = eos.ImageFormat.from_code(0x03FF)
    return [
        eos.PropValueChanged.of(0xD103, 0x68),
        eos.PropValueChanged.of(0xD104, 0xFD),
        eos.PropValueChanged.of(0xD115, "J. Smith"),
        eos.PropValueChanged.of(0xD120, 0x0C03),
        eos.AvailListChanged.of(0xD103, [0x48, 0x50, 0x58, 0x60]),
        eos.AvailListChanged.of(0xD120, [jpeg, eos.ImageFormat.from_code(0x0BD2)]),
        eos.AvailListChanged(prop=0xD1FF, list_type=7, extra=b"\x01\x00\x00\x00"),
        eos.CtgInfoCheckComplete(value=0x20001),
        eos.ObjectAdded(
            handle=0x92740C72, storage_id=0x20001, format=0x3801, size=2217241,
            parent=0x92740000, name="IMG_0199.JPG",
        ),
        eos.ObjectAdded(
            type=eos.OBJECT_ADDED_EX64, handle=7, storage_id=0x10001, format=0xB108,
            size=5 << 30, parent=0x90000000, second_handle=8, name="IMG_0200.CR3",
        ),
        eos.RequestObjectTransfer(handle=0x0A, format=0xB108, size=123456, name="IMG_0002.CR3"),
        eos.RequestObjectTransfer(
            type=eos.REQUEST_OBJECT_TRANSFER64, handle=0x0B, format=0x3801, size=6 << 30,
            name="IMG_0003.JPG",
        ),
        eos.CameraStatusChanged(status=1),
        eos.ObjectRemoved(handle=0x92740C72),
        eos.StorageChanged(type=eos.STORE_ADDED, storage_id=0x20001),
        eos.OlcInfoChanged(mask=0x0002, data=bytes.fromhex("0000010198100060")),
        eos.UnknownRecord(type=0xC1B8, payload=bytes(24)),
    ]  # fmt: skip


def eos_get_event() -> list[bytes]:
    records = _eos_records()
    return [
        eos.encode_get_event(records),
        eos.encode_get_event(records[:4], terminator_size=12),
        eos.encode_get_event([]),
        b"",
    ] + [eos.encode_get_event([r]) for r in records]


_EOS_PROPS = (0xD101, 0xD102, 0xD103, 0xD104, 0xD109, 0xD10B, 0xD114, 0xD115, 0xD11C, 0xD120)


def eos_prop_value() -> list[bytes]:
    samples: list[bytes] = []
    for index, prop in enumerate(_EOS_PROPS):
        kind = eos.prop_kind(prop)
        if kind is eos.PropKind.STRING:
            value: eos.PropValue = "Canon EOS R5"
        elif kind is eos.PropKind.IMAGE_FORMAT:
            value = 0x0C03
        else:
            value = -2 if kind in (eos.PropKind.I16, eos.PropKind.I32) else 0x68
        samples.append(bytes([index]) + eos.encode_prop_value(prop, value))
    return samples


def eos_set_prop_value_ex() -> list[bytes]:
    return [
        eos.encode_set_prop_value_ex(0xD103, 0x68),
        eos.encode_set_prop_value_ex(0xD115, "abc"),
        eos.encode_set_prop_value_ex(0xD120, 0x0BD2),
        eos.encode_set_prop_value_ex(0xD11C, 4),
    ]


def eos_object_info_ex() -> list[bytes]:
    entries = [
        eos.FolderEntry(handle=0x92740C72, storage_id=0x20001, format=0x3801, flags=0x21,
                        size=2217241, parent=0x92740000, name="IMG_0199.JPG", time=0x4D987C10),
        eos.FolderEntry(handle=0xA0080000, storage_id=0x20001, format=0x3001, flags=0x11,
                        size=0, parent=0x80000000, name="MISC", time=0x4674BC84),
    ]  # fmt: skip
    return [eos.encode_object_info_ex(entries), eos.encode_object_info_ex([]), b""]


def fuji_state_list() -> list[bytes]:
    """Fujifilm 0xD212 answers: the seed's X-T1 entries, none, one."""
    entries = [
        fuji_ds.StateEntry(code=code, value=value)
        for code, value in (
            (0x5001, 3), (0xD241, 0x0A), (0x5005, 2), (0x500A, 0x8001), (0x500E, 2),
            (0x5010, 0xFEB3), (0xD001, 2), (0xD02A, 0x80001900), (0xD17C, 0x03020404),
        )
    ]  # fmt: skip
    return [
        fuji_ds.encode_state_list(entries),
        fuji_ds.encode_state_list([]),
        fuji_ds.encode_state_list(entries[:1]),
        b"",
    ]


def fuji_prop_desc_list() -> list[bytes]:
    """Fujifilm 0x902B answers: enumerations of u16, u32 and i16, a range, none."""
    descs = [
        DevicePropDesc(code=0x5012, datatype=DataType.UINT16, get_set=1,
                       form=EnumerationForm(values=(0, 2, 4))),
        DevicePropDesc(code=0xD02A, datatype=DataType.UINT32, get_set=1,
                       factory_default=0xFFFFFFFF, current=0x80001900,
                       form=EnumerationForm(values=(0x80000190, 200, 0x40003200))),
        DevicePropDesc(code=0x5010, datatype=DataType.INT16, get_set=1, current=-333,
                       form=EnumerationForm(values=(-333, 0, 333))),
        DevicePropDesc(code=0xD17C, datatype=DataType.UINT32, get_set=1,
                       form=RangeForm(minimum=0, maximum=0x0707, step=1)),
    ]  # fmt: skip
    return [
        fuji_ds.encode_prop_desc_list(descs),
        fuji_ds.encode_prop_desc_list([]),
        fuji_ds.encode_prop_desc_list(descs[1:2]),
    ]


def eos_viewfinder_data() -> list[bytes]:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(12) + b"\xff\xd9"
    return [
        b"",
        eos.encode_viewfinder_data([eos.ViewfinderBlob(type=1, payload=jpeg)]),
        eos.encode_viewfinder_data(
            [
                eos.ViewfinderBlob(type=5, payload=bytes(4)),
                eos.ViewfinderBlob(type=11, payload=jpeg),
            ]
        ),
    ]


def sony_ext_device_info() -> list[bytes]:
    """Sony 0x9202 answers: protocol 3.00 with both arrays, 2.00 with one, empty arrays."""
    full = sony.ExtDeviceInfo(version=sony.PROTOCOL_3_00, property_codes=(0x5007, 0xD20D, 0xD21E),
                              control_codes=(0xD2C1, 0xD2C2, 0x9209, 0xC201))  # fmt: skip
    return [
        sony.encode_ext_device_info(full),
        sony.encode_ext_device_info(sony.ExtDeviceInfo(version=sony.PROTOCOL_2_00))[:6],
        sony.encode_ext_device_info(sony.ExtDeviceInfo(version=sony.PROTOCOL_2_00)),
        b"",
    ]


def sony_all_prop_info() -> list[bytes]:
    """Sony 0x9209 answers: enumerations (one with a 2024 second list), a range, a string, a
    descriptor cut after its current value, none."""
    descs = [
        sony.SonyPropDesc(code=0xD21E, datatype=DataType.UINT32, factory_default=0xFFFFFF,
                          current=400, form=EnumerationForm(values=(0xFFFFFF, 100, 400)),
                          second_values=(100, 400)),
        sony.SonyPropDesc(code=0x5010, datatype=DataType.INT16, current=-300,
                          form=RangeForm(minimum=-3000, maximum=3000, step=300)),
        sony.SonyPropDesc(code=0xD215, datatype=DataType.UINT16, get_set=0, current=0x8001),
        sony.SonyPropDesc(code=0xD2C1, datatype=DataType.UINT16, get_set=0x81, current=1,
                          form=EnumerationForm(values=(1, 2))),
        sony.SonyPropDesc(code=0xD20D, datatype=DataType.UINT32, current=0x0001007D,
                          form=EnumerationForm(values=(0x0001007D, 0x000A0001))),
        sony.SonyPropDesc(code=0xD2FE, datatype=DataType.STR, is_enabled=2,
                          factory_default="", current="ILCE"),
    ]  # fmt: skip
    whole = sony.encode_all_prop_info(descs)
    return [whole, whole[:-1], sony.encode_all_prop_info([]), sony.encode_all_prop_info(descs[:1])]


def sony_live_view() -> list[bytes]:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(12) + b"\xff\xd9"
    frame = sony.LiveViewFrame(jpeg=jpeg)
    return [
        sony.encode_live_view(frame),
        sony.encode_live_view(
            sony.LiveViewFrame(jpeg=jpeg, focal_frame=b"\x01\x02"), padding_bytes=8
        ),
        b"\x00\xff\xd8\x00" + jpeg,
        b"",
    ]


def sony_wifi_block() -> list[bytes]:
    return [sony.encode_wifi_block(sony.WIFI_OPEN), sony.encode_wifi_block(sony.WIFI_CLOSE), b""]


def sony_value_parse() -> list[bytes]:
    texts = ["1/250", '2.5"', "30", "bulb", "auto", "ISO 3200", "f/8", "5.6", "+2/3", "-1 1/3",
             "0", "computer", "card+sdram", "AF-C", "mf", "shade", "0x8011"]  # fmt: skip
    return [bytes([index % 7]) + utf8(text) for index, text in enumerate(texts)]


def eos_value_parse() -> list[bytes]:
    texts = ["f/5.6", "5.6", "1/125", "30s", '0.5"', "ISO 400", "Auto", "+1/3", "-1 2/3",
             "0x68", "card", "computer", "RAW + Large Fine JPEG", "cRAW",
             "Small 1 Normal JPEG"]  # fmt: skip
    return [bytes([index % 8]) + utf8(text) for index, text in enumerate(texts)]


# -- Canon PowerShot pre-PTP USB protocol (vendors.md section 5) --------------------------------


def canon_usb_command() -> list[bytes]:
    """IdentifyCamera, GetDirEntries of the whole card (class 6 flags), SetOwner."""
    return [
        canon_usb.encode_command(canon_usb.Command(cmd1=0x01, cmd2=0x12, cmd3=0x201, serial=1)),
        canon_usb.encode_command(
            canon_usb.Command(
                cmd1=0x0B, cmd2=0x11, cmd3=0x202, serial=2, flags=0x20,
                payload=b"\x0fD:\\\x00\x00\x00",
            )
        ),
        canon_usb.encode_command(
            canon_usb.Command(cmd1=0x05, cmd2=0x12, cmd3=0x201, payload=b"Ansel\x00")
        ),
    ]  # fmt: skip


def canon_usb_reply() -> list[bytes]:
    """IdentifyCamera's answer, a file-not-found status, a reply with 0 in its first length."""
    identity = canon_usb.encode_identity(
        canon_usb.Identity(firmware=bytes((0, 2, 0, 1)), model="Canon PowerShot G3", owner="")
    )
    answer = canon_usb.encode_reply(canon_usb.Reply(cmd1=0x01, cmd2=0x12, serial=1, data=identity))
    missing = canon_usb.encode_reply(canon_usb.Reply(cmd1=0x0D, cmd2=0x11, status=0x02000022))
    return [answer, missing, bytes(4) + missing[4:]]


def canon_usb_dirents() -> list[bytes]:
    """A recursive listing of a card: DCIM entered, 100CANON entered, a JPEG and a movie."""
    entries = [
        canon_usb.Dirent(attrs=0x80, size=0, time=0x3C000000, name=b"D:\\DCIM"),
        canon_usb.Dirent(attrs=0x80, size=0, time=0x3C000000, name=b".\\100CANON"),
        canon_usb.Dirent(attrs=0x20, size=1_234_567, time=0x3C000100, name=b"IMG_0001.JPG"),
        canon_usb.Dirent(attrs=0x21, size=9_876_543, time=0x3C000200, name=b"MVI_0002.AVI"),
        canon_usb.Dirent(attrs=0x80, size=0, time=0, name=b".."),
        canon_usb.Dirent(attrs=0x80, size=0, time=0, name=b".."),
    ]
    return [canon_usb.encode_dirents(entries), canon_usb.encode_dirents([]), b""]


def canon_usb_thumbnail() -> list[bytes]:
    """A picture's head with its EXIF thumbnail, an A50-style one (DHT first), a THM, nothing."""
    thumb = bytes.fromhex("ffd8ffdb000400010203ffd9")
    head = bytes.fromhex("ffd8ffe10024") + b"Exif\x00\x00" + thumb + bytes.fromhex("ffdb0043")
    a50 = bytes.fromhex("ffd800ffd8ffc4000201ffd9")
    return [head, a50, thumb + b"\x00" * 8, b"\xff\xd8"]


def canon_usb_interrupt() -> list[bytes]:
    """The 300D's wake-up message, image-ready, capture done and a failure."""
    ready = canon_usb.image_ready(canon_usb.InterruptType.FULL_IMAGE_READY, key=7, size=99_999)
    failed = bytearray(0x14)
    failed[4], failed[0x0C], failed[0x10] = 0x0A, 0x0A, 1
    done = bytearray(0x10)
    done[4], done[0x0C] = 0x0A, 0x1D
    return [
        bytes.fromhex("02000000200000001000000000000000"),
        ready.raw,
        bytes(failed),
        bytes(done),
    ]


def canon_usb_init_packet() -> list[bytes]:
    """A G3-like init packet (id 01 06 15 83, default transfer length) and a G1-like one."""
    seeds = []
    for camera_id, xfer in ((b"\x01\x06\x15\x83", 0xFFFFFFFF), (b"\x00\x05\x07\x00", 0x3000)):
        packet = bytearray(0x58)
        packet[0x40:0x44] = camera_id
        packet[0x44:0x48] = bytes.fromhex("a9046e30")
        packet[0x4C:0x50] = xfer.to_bytes(4, "little")
        seeds.append(bytes(packet))
    return seeds


def canon_usb_remote_payload() -> list[bytes]:
    return [
        canon_usb.encode_remote_payload(0x00),
        canon_usb.encode_remote_payload(0x09, 4, 0x2),
        canon_usb.encode_remote_payload(0x04, new_protocol=True),
        canon_usb.encode_remote_payload(0x13),
    ]


_CANON_IMG = "D:\\DCIM\\100CANON\\IMG_0001.JPG"


def canon_usb_get_file_request() -> list[bytes]:
    """A file and a thumbnail as libgphoto2 asks for them (usb.c canon_usb_get_file)."""
    return [
        canon_req.encode_get_file_request(canon_req.GetFileRequest(path=_CANON_IMG)),
        canon_req.encode_get_file_request(
            canon_req.GetFileRequest(path=_CANON_IMG, thumbnail=True, chunk_bytes=0x3000)
        ),
    ]


def canon_usb_get_file_request_new() -> list[bytes]:
    """Class 6: no chunk size, two NULs."""
    request = canon_req.GetFileRequest(path=_CANON_IMG, thumbnail=True, chunk_bytes=None)
    return [canon_req.encode_get_file_request(request)]


def canon_usb_dirents_request() -> list[bytes]:
    """The whole card (depth 0x0F) and one folder."""
    return [
        canon_req.encode_dirents_request(canon_req.DirentsRequest(path="D:", depth=0x0F)),
        canon_req.encode_dirents_request(canon_req.DirentsRequest(path="D:\\DCIM")),
    ]


def canon_usb_path() -> list[bytes]:
    """MakeDir's path, an owner name, class 6's DiskInfo without its NUL."""
    return [canon_req.encode_path("D:\\DCIM\\101CANON"), canon_req.encode_path("Ansel"), b"D:"]


def canon_usb_delete_request() -> list[bytes]:
    request = canon_req.DeleteRequest(folder="D:\\DCIM\\100CANON", name="IMG_0001.JPG")
    return [canon_req.encode_delete_request(request)]


def canon_usb_delete2_request() -> list[bytes]:
    """Class 6's DeleteFile2 as libgphoto2 sends it, and with the two NULs its comment names."""
    request = canon_req.DeleteRequest(folder="D:\\DCIM\\100CANON", name="IMG_0001.JPG")
    data = canon_req.encode_delete2_request(request)
    return [data, data + b"\x00\x00"]


def canon_usb_attributes_request() -> list[bytes]:
    request = canon_req.AttributesRequest(
        attrs=0x20, folder="D:\\DCIM\\100CANON", name="IMG_0001.JPG"
    )
    return [canon_req.encode_attributes_request(request)]


def canon_usb_file_time_request() -> list[bytes]:
    request = canon_req.FileTimeRequest(time=1_050_000_000, path=_CANON_IMG)
    return [canon_req.encode_file_time_request(request)]


def canon_usb_upload_block() -> list[bytes]:
    """A first block and a later one (usb.c canon_usb_put_file)."""
    return [
        canon_req.encode_upload_block(
            canon_req.UploadBlock(path=_CANON_IMG, offset=0, data=b"\xff\xd8\xff\xe1", serial=3)
        ),
        canon_req.encode_upload_block(
            canon_req.UploadBlock(path=_CANON_IMG, offset=0x1400, data=bytes(100), serial=5)
        ),
    ]


def canon_usb_retrieve_request() -> list[bytes]:
    return [canon_req.encode_retrieve_request(canon_req.RetrieveRequest(key=0x81818181))]


# -- Nikon ---------------------------------------------------------------------------------------


def nikon_get_event() -> list[bytes]:
    """GetEvent answers: a capture's ObjectAddedInSDRAM + CaptureComplete, none, empty data."""
    events = [
        nikon.NikonEvent(code=0xC101, params=(0xFFFF0001,)),
        nikon.NikonEvent(code=0x400D, params=(0,)),
        nikon.NikonEvent(code=0x4006, params=(0x5007,)),
    ]
    return [nikon.encode_get_event(events), nikon.encode_get_event([]), b""]


def nikon_get_event_ex() -> list[bytes]:
    events = [
        nikon.NikonEvent(code=0x4002, params=(0x10001,)),
        nikon.NikonEvent(code=0xC102, params=()),
        nikon.NikonEvent(code=0xC10C, params=(1, 2, 3, 4, 5)),
    ]
    return [nikon.encode_get_event_ex(events), nikon.encode_get_event_ex([]), b""]


def nikon_live_view() -> list[bytes]:
    jpeg = b"\xff\xd8\xff\xe0" + bytes(12) + b"\xff\xd9"
    return [
        nikon.encode_live_view(nikon.LiveViewFrame(header=b"", jpeg=jpeg, width=640, height=424)),
        nikon.encode_live_view(nikon.LiveViewFrame(header=bytes(64), jpeg=jpeg)),
        bytes(12),
    ]


def nikon_shutter_parse() -> list[bytes]:
    texts = ["1/250", "1/2.5", "30s", '30"', "1.3s", "10/25", "Bulb", "time", "flash sync", "0"]
    return [text.encode() for text in texts]
