"""The PowerShot's FunctionFS gadget without a kernel: its descriptors byte for byte, the
configfs attributes it sets, and its ep0 dispatch through a socket standing in for ep0 (the USB
lab runs it against the real thing: tests/usblab/test_usb_lab_powershot.py)."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptpkit.core import canon_usb as cu
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.ffs_gadget import SETUP, ControlEvent
from ptpkit.virtual.ffs_gadget import descriptors as ptp_descriptors
from ptpkit.virtual.ffs_powershot import PowerShotGadget, descriptors
from ptpkit.virtual.powershot import PowerShotDevice


def test_descriptors_are_a_vendor_interface_with_all_control_recipients() -> None:
    # functionfs.h: usb_functionfs_descs_head_v2 (magic 3, length, flags), then the full- and
    # high-speed counts, then the descriptors. Flags: HAS_FS_DESC 1 | HAS_HS_DESC 2 |
    # ALL_CTRL_RECIP 64.
    interface = bytes.fromhex("0904000003ffffff01")  # class, subclass, protocol 0xFF
    full = (
        interface
        + bytes.fromhex("07058102400000")  # bulk IN 0x81, 64-byte packets
        + bytes.fromhex("07050202400000")  # bulk OUT 0x02
        + bytes.fromhex("0705830340000a")  # interrupt IN 0x83, every 10 frames
    )
    high = (
        interface
        + bytes.fromhex("07058102000200")  # 512-byte packets
        + bytes.fromhex("07050202000200")
        + bytes.fromhex("07058303400007")  # 2^(7-1) microframes
    )
    body = struct.pack("<II", 4, 4) + full + high
    assert descriptors() == struct.pack("<III", 3, 12 + len(body), 1 | 2 | 64) + body


def test_the_ptp_gadget_descriptors_are_unchanged() -> None:
    # The PTP gadget shares the packing since the PowerShot's came; its bytes are as before.
    assert ptp_descriptors().hex() == (
        "030000005000000003000000040000000400000009040000030601010107050102400000"
        "070582024000000705830340000809040000030601010107050102000200070582020002"
        "0007058303400008"
    )


@pytest.fixture
def device(tmp_path: Path) -> Iterator[PowerShotDevice]:
    with VirtualCamera() as camera:
        device = PowerShotDevice(camera, "powershot-g3")
        yield device
        device.close()


def test_bind_shows_the_g3_as_a_full_speed_canon_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, device: PowerShotDevice
) -> None:
    gadget = tmp_path / "g1"
    (gadget / "strings" / "0x409").mkdir(parents=True)
    monkeypatch.setattr("ptpkit.virtual.ffs_gadget.os.listdir", lambda path: ["dummy_udc.0"])
    assert PowerShotGadget(device, tmp_path / "ffs").bind(gadget) == "dummy_udc.0"
    assert (gadget / "idVendor").read_text() == "0x04A9\n"
    assert (gadget / "idProduct").read_text() == "0x306E\n"
    assert (gadget / "max_speed").read_text() == "full-speed\n"
    assert (gadget / "strings" / "0x409" / "manufacturer").read_text() == "Canon Inc.\n"
    assert (gadget / "UDC").read_text() == "dummy_udc.0\n"


def test_bind_shows_a_class_6_body_at_high_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The new protocol reads every reply whole: 512-byte packets split none of its reads.
    gadget = tmp_path / "g1"
    gadget.mkdir()
    monkeypatch.setattr("ptpkit.virtual.ffs_gadget.os.listdir", lambda path: ["dummy_udc.0"])
    with VirtualCamera() as camera:
        device = PowerShotDevice(camera, "powershot-eos-350d")
        PowerShotGadget(device, tmp_path / "ffs").bind(gadget)
        device.close()
    assert (gadget / "idProduct").read_text() == "0x30EE\n"
    assert (gadget / "max_speed").read_text() == "high-speed\n"


def test_start_explains_a_missing_functionfs(tmp_path: Path, device: PowerShotDevice) -> None:
    with pytest.raises(OSError, match="cannot set up the FunctionFS function"):
        PowerShotGadget(device, tmp_path / "nothing-mounted").start()


def _setup(request_type: int, request: int, value: int, length: int) -> ControlEvent:
    return ControlEvent(SETUP, request_type, request, value, 0, length)


def test_ep0_answers_reads_takes_writes_and_stalls_the_rest(
    tmp_path: Path, device: PowerShotDevice
) -> None:
    """IN requests are answered by writing to ep0, OUT ones read their data from it; a
    request the camera refuses reads nothing and writes nothing of its own (the stall)."""
    gadget = PowerShotGadget(device, tmp_path)
    ours, host = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, host:
        gadget._ep0 = ours.fileno()
        # camstat: one byte, 'C' (the camera wakes up).
        gadget._setup(_setup(0xC0, 0x0C, cu.VALUE_CAMSTAT, 1))
        assert host.recv(64) == b"C"
        # The init packet: 0x58 bytes with the G3's ids at 0x44.
        gadget._setup(_setup(0xC0, 0x04, cu.VALUE_INIT_READ, 0x58))
        packet = host.recv(0x100)
        assert len(packet) == 0x58
        assert struct.unpack_from("<HH", packet, 0x44) == (0x04A9, 0x306E)
        # The wake-up write: its 0x50 bytes are read from ep0 and wake the camera.
        block = cu.init_write_block(cu.decode_init_packet(packet))
        host.send(block)
        gadget._setup(_setup(0x40, 0x04, cu.VALUE_INIT_WRITE, len(block)))
        assert device.awake
        # A value the camera does not know: a stall, nothing written for the host.
        host.setblocking(False)
        gadget._setup(_setup(0xC0, 0x04, 0x99, 4))
        with pytest.raises(BlockingIOError):
            host.recv(64)
        # A standard request is not the camera's either.
        gadget._setup(_setup(0x80, 0x06, 0x0100, 18))
        with pytest.raises(BlockingIOError):
            host.recv(64)
        gadget._ep0 = -1


def test_close_is_safe_before_start(tmp_path: Path, device: PowerShotDevice) -> None:
    gadget = PowerShotGadget(device, tmp_path)
    gadget.close()
    gadget.close()
    assert not os.path.exists(tmp_path / "ep0")


class _Endpoint:
    """Stands in for ep1 (bulk IN): records each write, one USB transfer request each."""

    def __init__(self, gadget: PowerShotGadget, total: int) -> None:
        self.writes: list[bytes] = []
        self.gadget = gadget
        self.total = total

    def write(self, data: bytes | bytearray) -> int:
        self.writes.append(bytes(data))
        if sum(map(len, self.writes)) >= self.total:
            self.gadget._stop.set()  # everything came: let _feed_bulk_in return
        return len(data)


def test_bulk_in_sends_a_reply_as_the_device_queues_it(
    tmp_path: Path, device: PowerShotDevice
) -> None:
    """A GetFile reply: the 0x40-byte header is a transfer of its own, then the file's bytes
    in writes of whole packets (a short packet would end the host's read early), the last
    write ending the transfer; no zero-length packets."""
    from ptpkit.core import canon_usb_requests as cr

    picture = bytes(range(256)) * 1000 + b"tail"  # 256,004 bytes: not whole packets
    store = device.camera.root / "DCIM" / "100PTPKT"
    store.mkdir(parents=True, exist_ok=True)
    (store / "BIG_0001.JPG").write_bytes(picture)
    device.camera.stores[0x00010001].scan()
    device.control_in(0x0C, cu.VALUE_CAMSTAT, 0, 1)
    packet = cu.decode_init_packet(device.control_in(0x04, cu.VALUE_INIT_READ, 0, 0x58))
    device.control_out(0x04, cu.VALUE_INIT_WRITE, 0, cu.init_write_block(packet))
    gadget = PowerShotGadget(device, tmp_path)
    wake = _Endpoint(gadget, 0x44)
    gadget._feed_bulk_in(wake)  # type: ignore[arg-type]
    # One transfer of 0x44 bytes: at full speed a 64-byte packet and a 4-byte one, which the
    # host reads as libgphoto2 asks, 0x40 then 4 (at high speed the first read would overflow:
    # why the gadget is a full-speed device).
    assert [len(w) for w in wake.writes] == [0x44]
    assert wake.writes[0][0x40:] == cu.INIT_BULK_TX
    spec = cu.lookup_command("GetFile")
    request = cr.GetFileRequest(path="D:\\DCIM\\100PTPKT\\BIG_0001.JPG", chunk_bytes=0x1400)
    command = cu.Command(
        cmd1=spec.cmd1,
        cmd2=spec.cmd2,
        cmd3=spec.cmd3,
        serial=1,
        payload=cr.encode_get_file_request(request),
    )
    device.control_out(0x04, cu.VALUE_COMMAND, 0, cu.encode_command(command))
    gadget._stop = type(gadget._stop)()
    endpoint = _Endpoint(gadget, 0x40 + len(picture))
    gadget._feed_bulk_in(endpoint)  # type: ignore[arg-type]
    header, *data = endpoint.writes
    assert cu.decode_variable_header(header) == len(picture)
    assert b"".join(data) == picture
    assert all(len(w) % 512 == 0 for w in data[:-1])
    assert all(data)
