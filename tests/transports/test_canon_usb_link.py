"""The PowerShot link (ptpkit.transports.canon_usb) against a scripted PyUSB device: the wake-up
sequence byte for byte, the fixed and variable dialogues, and a hostile camera (wrong serial,
short reply, status error, absurd lengths, interrupt garbage, a byte a second), all on a fake
clock. The virtual PowerShot's scenarios are in tests/client/test_powershot.py."""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import usb.core

from ptpkit.codes.powershot_models import model_for_ids
from ptpkit.core import canon_usb as cu
from ptpkit.errors import (
    ConnectError,
    RemoteProtocolError,
    TransportTimeout,
    UsageError,
)
from ptpkit.testing import FakeClock
from ptpkit.transports import canon_usb as link_module
from ptpkit.transports.canon_usb import CanonStatusError, CanonUsbLink
from ptpkit.transports.usb import UsbCamera

G3 = 0x306E
G2 = 0x3055
BULK_IN = 0x81
INTERRUPT_IN = 0x83
G3_ID = bytes.fromhex("01061583")
WAKE_MESSAGE = bytes.fromhex("02000000200000001000000000000000")


def init_packet(xfer: int = 0x1400) -> bytes:
    raw = bytearray(0x58)
    raw[0x40:0x44] = G3_ID
    struct.pack_into("<HH", raw, 0x44, 0x04A9, G3)
    struct.pack_into("<I", raw, 0x4C, xfer)
    raw[0x48:0x4C] = b"\x12\x34\x56\x78"
    return bytes(raw)


Responder = Callable[[cu.Command], list[bytes]]


@dataclass
class Endpoint:
    bEndpointAddress: int  # noqa: N815  (PyUSB's name)


@dataclass
class ScriptedCanon:
    """A PowerShot played by a script: control transfers as the wake-up wants them, command
    blocks answered by ``respond`` (a list of bulk transfers each), reads timing out on the
    fake clock when nothing is queued."""

    clock: FakeClock
    product: int = G3
    camstat: bytes = b"C"
    packet: bytes = field(default_factory=init_packet)
    respond: Responder | None = None
    #: Bytes of data per bulk read the camera sends at most (a slow camera), seconds per read.
    trickle_bytes: int | None = None
    trickle_s: float = 0.0
    #: The init answer's 0x44 bytes as one transfer (class 6 reads them in one piece).
    init_one_piece: bool = False
    bulk: deque[bytes] = field(default_factory=deque)
    interrupts: deque[bytes] = field(default_factory=deque)
    controls: list[tuple[int, int, int, bytes]] = field(default_factory=list)
    commands: list[cu.Command] = field(default_factory=list)
    reads: list[int] = field(default_factory=list)
    idVendor: int = 0x04A9  # noqa: N815
    bus: int = 1
    address: int = 7

    @property
    def idProduct(self) -> int:
        return self.product

    def ctrl_transfer(
        self, request_type: int, request: int, value: int, index: int, data: Any, timeout: int
    ) -> Any:
        if request_type == cu.REQUEST_TYPE_READ:
            self.controls.append((request_type, request, value, b""))
            answers = {
                cu.VALUE_CAMSTAT: self.camstat,
                cu.VALUE_INIT_READ: self.packet,
                cu.VALUE_ACTIVE_READ: bytes(0x50),
            }
            return answers[value]
        block = bytes(data)
        self.controls.append((request_type, request, value, block))
        if value == cu.VALUE_INIT_WRITE:
            if self.init_one_piece:
                self.bulk.append(struct.pack("<I", 4) + bytes(0x40))
            else:
                self.bulk.append(struct.pack("<I", 4) + bytes(0x3C))
                self.bulk.append(bytes(4))
            self.interrupts.append(WAKE_MESSAGE)
        elif value == cu.VALUE_COMMAND:
            command = cu.decode_command(block)
            self.commands.append(command)
            assert self.respond is not None
            self.bulk.extend(self.respond(command))
        return len(block)

    def read(self, endpoint: Any, size: int, timeout: int) -> bytes:
        queue = self.interrupts if endpoint.bEndpointAddress == INTERRUPT_IN else self.bulk
        if not queue:
            self.clock.advance(timeout / 1000)
            raise usb.core.USBTimeoutError("timeout", -7, 110)
        if endpoint.bEndpointAddress == BULK_IN:
            self.reads.append(size)
        transfer = queue[0]
        give = size
        if self.trickle_bytes and len(transfer) > cu.VARIABLE_HEADER_BYTES:
            # A slow camera: its data (not its headers) a few bytes per read.
            give = min(size, self.trickle_bytes)
            self.clock.advance(self.trickle_s)
        if give >= len(transfer):
            queue.popleft()
            return transfer
        queue[0] = transfer[give:]
        return transfer[:give]


def fixed_reply(command: cu.Command, data: bytes, status: int = 0, **changes: int) -> bytes:
    reply = cu.Reply(cmd1=command.cmd1, cmd2=command.cmd2, serial=command.serial, status=status,
                     data=data)  # fmt: skip
    raw = bytearray(cu.encode_reply(reply))
    for name, value in changes.items():
        offset = {"serial": 0x4C, "cmd1": 0x44}[name]
        if name == "serial":
            struct.pack_into("<I", raw, offset, value)
        else:
            raw[offset] = value
    return bytes(raw)


IDENTITY = cu.Identity(firmware=bytes((0, 2, 0, 1)), model="Canon PowerShot G3", owner="Kiril",
                       camera_id=G3_ID)  # fmt: skip


def g3_answers(command: cu.Command) -> list[bytes]:
    """An honest G3: each fixed reply one transfer, variable replies header then data."""
    spec = {s.name: s for s in cu.COMMANDS}
    name = next(
        s.name
        for s in cu.find_command(command.cmd1, command.cmd2, command.cmd3)
        if s.name in ("IdentifyCamera", "GenericLockKeys", "PowerStatus", "GetTime",
                      "FlashDeviceIdent", "GetFile", "GetDirEntries", "SetOwner", "DiskInfo")
    )  # fmt: skip
    del spec
    if name == "IdentifyCamera":
        return [fixed_reply(command, cu.encode_identity(IDENTITY))]
    if name == "PowerStatus":
        power = cu.encode_power_status(cu.PowerStatus(status=cu.POWER_OK, flags=0x20))
        return [fixed_reply(command, power)]
    if name == "GetTime":
        return [fixed_reply(command, struct.pack("<I", 1_000_000_000) + bytes(8))]
    if name == "FlashDeviceIdent":
        return [cu.encode_variable_header(3), b"D:\x00"]
    if name == "GetFile":
        data = bytes(range(256)) * 40 + b"tail"
        return [cu.encode_variable_header(len(data)), data]
    return [fixed_reply(command, b"")]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_link(
    monkeypatch: pytest.MonkeyPatch, camera: ScriptedCanon, *, model_pid: int | None = None
) -> CanonUsbLink:
    """A link to the scripted camera: claiming the interface is PyUSB's business (the virtual
    PowerShot's tests run it), so here it only hands out the endpoints."""

    def claim(device: Any, number: int, label: str) -> tuple[Any, bool]:
        return object(), False

    monkeypatch.setattr(link_module, "claim_interface", claim)
    monkeypatch.setattr(
        link_module,
        "endpoints",
        lambda interface: (Endpoint(0x02), Endpoint(BULK_IN), Endpoint(INTERRUPT_IN)),
    )
    monkeypatch.setattr(link_module, "release_interface", lambda *a, **k: None)
    model = model_for_ids(0x04A9, model_pid or camera.product)
    return CanonUsbLink(
        UsbCamera(camera, 0, "canon"), model=model, url="canon-usb:1,7", clock=camera.clock
    )


def test_wake_up_of_a_sleeping_g3_is_libgphoto2s_sequence(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    # camstat 0x55 (1 byte: bRequest 0x0C), init packet 0x01, then the 0x11 write.
    assert [(rt, rq, v) for rt, rq, v, _ in camera.controls[:3]] == [
        (0xC0, 0x0C, 0x55),
        (0xC0, 0x04, 0x01),
        (0x40, 0x04, 0x11),
    ]
    write = camera.controls[2][3]
    assert write == b"\x10" + bytes(0x3F) + init_packet()[0x48:0x58]
    # The 0x44-byte answer read as 0x40 then 4 (class 5), then the commands.
    assert camera.reads[:2] == [0x40, 4]
    names = [cu.find_command(c.cmd1, c.cmd2, c.cmd3)[0].name for c in camera.commands]
    # Class 5: GenericLockKeys without GetPicAbilities; PowerStatus last.
    assert names == ["IdentifyCamera", "GenericLockKeys", "PowerStatus"]
    assert [c.serial for c in camera.commands] == [1, 2, 3]
    assert link.wake_message == WAKE_MESSAGE
    assert link.identity == IDENTITY
    assert link.identity.firmware_text == "1.0.2.0"
    assert link.power is not None
    assert link.power.ok
    assert link.power.on_battery
    assert link.xfer_bytes == 0x1400


def test_an_active_camera_gets_the_0x04_read_and_no_write(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    assert [v for _, _, v, _ in camera.controls if v != cu.VALUE_COMMAND] == [0x55, 0x01, 0x04]
    assert link.camstat is cu.CamStat.ACTIVE


def test_class_1_locks_keys_after_picture_abilities(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    def answers(command: cu.Command) -> list[bytes]:
        if (command.cmd1, command.cmd2) == (0x1F, cu.CONTROL):
            # A G2's abilities are 0x334 bytes after the header (libgphoto2's expectation),
            # not the table's 0x384 - 0x50: the camera's own length is read.
            return [fixed_reply(command, bytes(0x334 - 4))]
        return g3_answers(command)

    camera = ScriptedCanon(clock, product=G2, respond=answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    names = [cu.find_command(c.cmd1, c.cmd2, c.cmd3)[0].name for c in camera.commands]
    assert names == ["IdentifyCamera", "GetPicAbilities", "GenericLockKeys", "PowerStatus"]
    # GetPicAbilities read as 0x380 then what the camera said was left (0x384 - 0x380 = 4).
    abilities_at = 2 + 2  # the init reads, IdentifyCamera's two reads
    assert camera.reads[abilities_at : abilities_at + 2] == [0x380, 0x4]


def test_identify_is_retried_when_the_first_answer_is_lost(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    lost = []

    def answers(command: cu.Command) -> list[bytes]:
        if command.cmd1 == 0x01 and command.cmd2 == cu.CONTROL and not lost:
            lost.append(command.serial)
            return []  # the camera swallowed it: the read times out (100 ms on the clock)
        return g3_answers(command)

    camera = ScriptedCanon(clock, camstat=b"A", respond=answers)
    link = make_link(monkeypatch, camera)
    start = clock.monotonic()
    link.open(5.0)
    assert lost == [1]
    assert link.identity == IDENTITY
    assert clock.monotonic() - start == pytest.approx(0.1)


def test_dialogue_reads_the_length_rounded_to_0x40_then_the_rest(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    camera.reads.clear()
    reply = link.dialogue("IdentifyCamera", timeout_s=1.0)
    assert camera.reads == [0x80, 0x1C]  # canon-remote's log: 128 then 28 bytes
    assert cu.decode_identity(reply.data).owner == "Kiril"


def test_long_dialogue_streams_in_transfer_length_pieces(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers, packet=init_packet(0x1010))
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    assert link.xfer_bytes == 0x1000  # rounded down to a multiple of 0x40
    camera.reads.clear()
    got = bytearray()
    length = link.long_dialogue("GetFile", b"\x00" * 8 + b"D:\\X.JPG\x00", got.extend,
                                timeout_s=5.0, max_bytes=1 << 20)  # fmt: skip
    assert length == len(got) == 10244
    assert bytes(got) == bytes(range(256)) * 40 + b"tail"
    # Header 0x40, then 0x1000, 0x1000, the remainder rounded down to 0x40 and its last 4
    # bytes (usb.c canon_usb_long_dialogue on the old protocol).
    assert camera.reads == [0x40, 0x1000, 0x1000, 0x800, 0x4]


def test_a_status_error_carries_its_text(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    def answers(command: cu.Command) -> list[bytes]:
        if command.cmd1 == 0x0D and command.cmd2 == cu.STORAGE:
            return [fixed_reply(command, b"", status=0x02000029)]
        return g3_answers(command)

    camera = ScriptedCanon(clock, camstat=b"A", respond=answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    with pytest.raises(CanonStatusError) as caught:
        link.dialogue("DeleteFile", b"D:\\DCIM\x00A.JPG\x00\x00", timeout_s=1.0)
    assert caught.value.code == 0x02000029
    assert str(caught.value) == "DeleteFile failed: the camera answered 0x02000029 file protected"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"serial": 99}, "out of step"),
        ({"cmd1": 0x02}, "out of step"),
    ],
)
def test_a_reply_to_another_command_is_refused(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock, change: dict[str, int], message: str
) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    camera.respond = lambda command: [fixed_reply(command, bytes(8), **change)]
    with pytest.raises(RemoteProtocolError, match=message):
        link.dialogue("GetTime", timeout_s=1.0)


def test_a_short_reply_is_refused(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    camera.respond = lambda command: [fixed_reply(command, b"")[:0x30]]
    with pytest.raises(RemoteProtocolError, match="short"):
        link.dialogue("GetTime", timeout_s=1.0)


def test_an_absurd_variable_length_is_refused(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    camera.respond = lambda command: [cu.encode_variable_header(0xFFFFFFF0)]
    with pytest.raises(RemoteProtocolError, match="announces 4294967280 bytes"):
        link.long_dialogue("FlashDeviceIdent", timeout_s=1.0, max_bytes=1024)
    # The link is usable again afterwards (nothing was left held).
    camera.respond = g3_answers
    assert link.identify(timeout_s=1.0) == IDENTITY


def test_a_fixed_reply_claiming_a_huge_length_is_refused(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)

    def huge(command: cu.Command) -> list[bytes]:
        raw = bytearray(fixed_reply(command, bytes(8)))
        struct.pack_into("<I", raw, 0, 0x7FFFFFF0)
        return [bytes(raw)]

    camera.respond = huge
    with pytest.raises(RemoteProtocolError, match="announces a reply"):
        link.dialogue("GetTime", timeout_s=1.0)


def test_interrupt_garbage_is_a_protocol_error_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    camera.interrupts.extend([b"\x01\x02", bytes.fromhex("0000000008"), b""])
    with pytest.raises(RemoteProtocolError, match="interrupt message"):
        link.read_interrupt(0.5)
    with pytest.raises(RemoteProtocolError, match="image-ready"):
        link.read_interrupt(0.5)
    with pytest.raises(RemoteProtocolError):
        link.read_interrupt(0.5)
    assert link.read_interrupt(0.5) is None  # then quiet: a timeout is "nothing came"


def test_a_camera_sending_a_byte_a_second_fails_at_the_calls_deadline(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    camera.trickle_bytes, camera.trickle_s = 1, 1.0
    start = clock.monotonic()
    with pytest.raises(TransportTimeout, match="within 10 s"):
        link.long_dialogue("GetFile", b"\x00" * 8 + b"D:\\X.JPG\x00", None, timeout_s=10.0,
                           max_bytes=1 << 20)  # fmt: skip
    # The whole call's deadline, not one read's: about ten one-byte reads, then the end.
    assert clock.monotonic() - start == pytest.approx(10.0, abs=1.0)


def test_a_camera_that_never_wakes_up_is_a_connect_error(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, camstat=b"E", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    with pytest.raises(ConnectError, match="camstat 'E'"):
        link.open(5.0)


def test_a_missing_wake_up_message_is_a_connect_error(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, respond=g3_answers)
    link = make_link(monkeypatch, camera)
    original = camera.ctrl_transfer

    def no_message(*args: Any) -> Any:
        result = original(*args)
        camera.interrupts.clear()
        return result

    camera.ctrl_transfer = no_message  # type: ignore[method-assign]
    with pytest.raises((ConnectError, TransportTimeout)):
        link.open(2.0)


def test_usage_errors_come_before_any_io(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    sent = len(camera.commands)
    with pytest.raises(UsageError):
        link.dialogue("NoSuchCommand")
    with pytest.raises(UsageError):
        link.dialogue("GetFile")  # variable: long_dialogue's
    with pytest.raises(UsageError):
        link.dialogue("SetOwner", b"x" * 2000)
    assert len(camera.commands) == sent


# -- remote capture against a scripted camera (what the virtual PowerShot never does) ----------


def capturing_g3(interrupts: deque[bytes], after_release: list[bytes]) -> Responder:
    """A G3 that lists an empty card, answers RemoteControl, and after the release queues
    ``after_release`` on the interrupt endpoint."""

    def answers(command: cu.Command) -> list[bytes]:
        if (command.cmd1, command.cmd2) == (0x0B, cu.STORAGE):
            root = cu.Dirent(attrs=cu.ATTR_DIR_ENTERED, size=0, time=1, name=b"D:")
            listing = cu.encode_dirents([root])
            return [cu.encode_variable_header(len(listing)), listing]
        if (command.cmd1, command.cmd2) == (0x13, cu.CONTROL):
            sub = struct.unpack_from("<I", command.payload)[0]
            size = cu.remote_reply_bytes(sub) - cu.HEADER_BYTES - 4
            if sub == 0x04:
                interrupts.extend(after_release)
            return [fixed_reply(command, struct.pack("<I", sub) + bytes(size - 4))]
        return g3_answers(command)

    return answers


def test_a_photographic_failure_is_an_error_and_remote_mode_is_left(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    from ptpkit.client.powershot import CaptureFailedError, PowerShot
    from ptpkit.core import canon_usb_requests as cr

    camera = ScriptedCanon(clock, camstat=b"A")
    failure = [
        cu.encode_interrupt(cr.capture_status(cu.CAPTURE_FIRST)),
        cu.encode_interrupt(cr.capture_status(cu.CAPTURE_FAILED, failure=1)),
    ]
    camera.respond = capturing_g3(camera.interrupts, failure)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    shot = PowerShot(link, timeout_s=5.0)
    with pytest.raises(CaptureFailedError, match="autofocus failed"):
        shot.capture(timeout_s=10.0)
    subs = [struct.unpack_from("<I", c.payload)[0] for c in camera.commands if c.cmd1 == 0x13]
    # Init, transfer mode, release parameters twice, release; then Exit (canon.c's way out).
    assert subs == [0x00, 0x09, 0x0A, 0x0A, 0x04, 0x01]


def test_capture_messages_out_of_sequence_or_missing_are_errors(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    from ptpkit.client.powershot import PowerShot
    from ptpkit.core import canon_usb_requests as cr

    camera = ScriptedCanon(clock, camstat=b"A")
    done_first = [cu.encode_interrupt(cr.capture_status(cu.CAPTURE_DONE))]
    camera.respond = capturing_g3(camera.interrupts, done_first)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    shot = PowerShot(link, timeout_s=5.0)
    with pytest.raises(RemoteProtocolError, match="out of sequence"):
        shot.capture(timeout_s=10.0)
    # A camera that never says "done": the capture's deadline, on the clock.
    camera.respond = capturing_g3(camera.interrupts, [])
    start = clock.monotonic()
    with pytest.raises(TransportTimeout, match="did not finish within 10 s"):
        shot.capture(timeout_s=10.0)
    assert clock.monotonic() - start == pytest.approx(10.0, abs=0.5)


# -- class 6 (the "new protocol") and the EOS key locks --------------------------------------

EOS_20D = 0x30EB
EOS_D60 = 0x3060
IDENTITY_20D = cu.Identity(firmware=bytes((0, 0, 0, 1)), model="Canon EOS 20D", owner="",
                           camera_id=G3_ID)  # fmt: skip
CLASS_6_NAMES = ("IdentifyCamera", "GetOwner2", "GetBodyID2", "GetPicAbilities2", "PowerStatus2",
                 "GetFile", "LockKeys2", "UnlockKeys2", "FlashDeviceIdent2", "DiskInfo2",
                 "DeleteFile2", "SetFileAttributes2")  # fmt: skip


def class_6_answers(command: cu.Command) -> list[bytes]:
    """A 20D: new-protocol codes only, and picky about byte 0x46 (usb.c
    canon_usb_dialogue_full)."""
    name = next(
        s.name
        for s in cu.find_command(command.cmd1, command.cmd2, command.cmd3)
        if s.name in CLASS_6_NAMES
    )
    assert command.flags == (0x20 if command.cmd3 == cu.VARIABLE else 0x10), name
    if name == "IdentifyCamera":
        return [fixed_reply(command, cu.encode_identity(IDENTITY_20D))]
    if name == "GetOwner2":
        return [fixed_reply(command, cu.encode_owner("Canon 20D owner"))]
    if name == "GetBodyID2":
        return [fixed_reply(command, cu.encode_body_id(1_234_567_890))]
    if name == "GetPicAbilities2":
        return [fixed_reply(command, bytes(0x424 - 4))]
    if name == "PowerStatus2":
        return [fixed_reply(command, cu.encode_power_status(cu.PowerStatus(status=6, flags=0)))]
    if name == "GetFile":
        data = bytes(range(256)) * 40 + b"tail"
        return [cu.encode_variable_header(len(data)), data]
    if name == "LockKeys2":
        return [fixed_reply(command, bytes(8))]
    if name == "FlashDeviceIdent2":
        return [cu.encode_variable_header(3), b"D:\x00"]
    if name == "DiskInfo2":
        return [fixed_reply(command, cu.encode_disk_info(cu.DiskInfo(capacity=4096, free=1024)))]
    return [fixed_reply(command, b"")]


def command_names(camera: ScriptedCanon, *, new: bool) -> list[str]:
    names = []
    for c in camera.commands:
        specs = cu.find_command(c.cmd1, c.cmd2, c.cmd3)
        pick = [s for s in specs if s.name.endswith("2") == new] or list(specs)
        names.append(pick[0].name)
    return names


def test_class_6_wake_up_is_the_new_protocols(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, product=EOS_20D, respond=class_6_answers, init_one_piece=True)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    # The 0x44-byte init answer in one read; every fixed reply in one read as well.
    assert camera.reads[0] == 0x44
    assert camera.reads[1:3] == [0x9C, 0x74]  # IdentifyCamera, GetOwner2
    # usb.c canon_usb_init for class 6: body id, abilities, PowerStatus2 - and no key lock;
    # canon.c canon_int_identify_camera: the owner apart, through GetOwner2.
    assert command_names(camera, new=True) == [
        "IdentifyCamera",
        "GetOwner2",
        "GetBodyID2",
        "GetPicAbilities2",
        "PowerStatus2",
    ]
    assert link.identity is not None
    assert (link.identity.model, link.identity.owner) == ("Canon EOS 20D", "Canon 20D owner")
    assert link.body_id == 1_234_567_890
    assert not link.keys_locked
    assert link.power is not None
    assert link.power.ok


def test_class_6_reads_the_rest_of_a_long_reply_at_once(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, product=EOS_20D, camstat=b"A", respond=class_6_answers,
                           packet=init_packet(0x1010))  # fmt: skip
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    camera.reads.clear()
    got = bytearray()
    length = link.long_dialogue("GetFile", b"\x00" * 4 + b"D:\\X.JPG\x00\x00", got.extend,
                                timeout_s=5.0, max_bytes=1 << 20)  # fmt: skip
    assert length == len(got) == 10244
    # usb.c canon_usb_long_dialogue: no rounding of the last read on class 6 (0x804, not
    # 0x800 + 4 as on the old protocol).
    assert camera.reads == [0x40, 0x1000, 0x1000, 0x804]


def test_class_6_keys_lock_with_abilities_and_unlock_with_unlock_keys_2(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, product=EOS_20D, camstat=b"A", respond=class_6_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    camera.commands.clear()
    assert not link.unlock_keys(timeout_s=1.0)  # nothing locked: nothing sent
    assert camera.commands == []
    link.lock_keys(timeout_s=1.0)
    assert link.keys_locked
    assert link.unlock_keys(timeout_s=1.0)
    assert not link.keys_locked
    assert command_names(camera, new=True) == ["GetPicAbilities2", "LockKeys2", "UnlockKeys2"]
    assert [c.payload for c in camera.commands[1:]] == [(6).to_bytes(4, "little"), b""]


def test_class_4_locks_before_a_release_only_and_unlocks_with_eos_unlock(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    def answers(command: cu.Command) -> list[bytes]:
        if (command.cmd1, command.cmd2) in ((0x1B, cu.CONTROL), (0x1C, cu.CONTROL)):
            return [fixed_reply(command, b"")]
        return g3_answers(command)

    camera = ScriptedCanon(clock, product=EOS_D60, respond=answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    # usb.c canon_usb_init: class 4 locks no keys at wake-up.
    assert command_names(camera, new=False) == ["IdentifyCamera", "PowerStatus"]
    assert not link.keys_locked
    link.lock_keys(timeout_s=1.0)
    assert link.unlock_keys(timeout_s=1.0)
    assert command_names(camera, new=False)[2:] == ["EOSLockKeys", "EOSUnlockKeys"]
    assert camera.commands[2].payload == (6).to_bytes(4, "little")


def test_a_class_5_camera_is_never_sent_an_unlock(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    camera = ScriptedCanon(clock, camstat=b"A", respond=g3_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    assert link.keys_locked  # GenericLockKeys at wake-up
    sent = len(camera.commands)
    # usb.c canon_usb_unlock_keys: "Key unlocking not implemented for this camera model".
    assert not link.unlock_keys(timeout_s=1.0)
    assert len(camera.commands) == sent


def test_class_6_payloads_through_the_api(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """The PowerShot API's class 6 payloads, byte for byte as libgphoto2 builds them."""
    from ptpkit.client.powershot import PowerShot

    camera = ScriptedCanon(clock, product=EOS_20D, camstat=b"A", respond=class_6_answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    cam = PowerShot(link)
    camera.commands.clear()
    space = cam.disk_space(timeout_s=1.0)
    # DiskInfo2: "D:" without its NUL; the answer in kilobytes (canon.c
    # canon_int_get_disk_name_info).
    assert camera.commands[-1].payload == b"D:"
    assert (space.capacity_bytes, space.free_bytes) == (4096 * 1024, 1024 * 1024)
    cam.delete("D:\\DCIM\\100CANON\\IMG_0001.JPG", timeout_s=1.0)
    assert camera.commands[-1].payload == (
        b"D:\\DCIM\\100CANON\\IMG_0001.JPG".ljust(0x30, b"\x00") + b"D:\\DCIM\\100CANON\\"
    )
    cam.set_attributes("D:\\DCIM\\100CANON\\IMG_0001.JPG", 0x20, timeout_s=1.0)
    assert (camera.commands[-1].cmd1, camera.commands[-1].cmd2) == (0x07, cu.STORAGE)
    assert (
        camera.commands[-1].payload == b"\x20\x00\x00\x00D:\\DCIM\\100CANON\x00IMG_0001.JPG\x00\x00"
    )


def test_a_failed_eos_capture_unlocks_the_keys_and_leaves_remote_mode(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """usb.c canon_usb_capture_dialogue FAIL2: a photographic failure (0x0A with 0x0A) unlocks
    the keys locked before the release; canon.c then ends remote control."""
    from ptpkit.client.powershot import CaptureFailedError, PowerShot
    from ptpkit.core import canon_usb_requests as cr

    camera: ScriptedCanon

    def answers(command: cu.Command) -> list[bytes]:
        key = (command.cmd1, command.cmd2)
        if key == (0x0A, cu.STORAGE):  # FlashDeviceIdent
            return [cu.encode_variable_header(3), b"D:\x00"]
        if key == (0x0B, cu.STORAGE):  # GetDirEntries: an empty card
            listing = cu.encode_dirents(
                [
                    cu.Dirent(attrs=cu.ATTR_DIR_ENTERED, size=0, time=0, name=b"D:"),
                    cu.Dirent(attrs=cu.ATTR_DIR_ENTERED, size=0, time=0, name=b".."),
                ]
            )
            return [cu.encode_variable_header(len(listing)), listing]
        if key == (0x13, cu.CONTROL):  # RemoteControl
            sub = struct.unpack_from("<I", command.payload)[0]
            extra = cu.remote_reply_bytes(sub) - 0x54
            if sub == 0x04:  # release: "first", then the failure (autofocus)
                camera.interrupts.append(cr.capture_status(cu.CAPTURE_FIRST).raw)
                camera.interrupts.append(cr.capture_status(cu.CAPTURE_FAILED, failure=1).raw)
            return [fixed_reply(command, struct.pack("<I", sub).ljust(extra, b"\x00"))]
        if key in ((0x1B, cu.CONTROL), (0x1C, cu.CONTROL)):
            return [fixed_reply(command, b"")]
        return g3_answers(command)

    camera = ScriptedCanon(clock, product=EOS_D60, camstat=b"A", respond=answers)
    link = make_link(monkeypatch, camera)
    link.open(5.0)
    cam = PowerShot(link)
    camera.commands.clear()
    with pytest.raises(CaptureFailedError, match="autofocus"):
        cam.capture(timeout_s=5.0)
    names = command_names(camera, new=False)
    release = names.index("EOSLockKeys")
    assert names[release:] == ["EOSLockKeys", "RemoteControl", "EOSUnlockKeys", "RemoteControl"]
    assert struct.unpack_from("<I", camera.commands[-1].payload)[0] == 0x01  # Exit
    assert not link.keys_locked
