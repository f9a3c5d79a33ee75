"""The virtual PowerShot, driven through PyUSB as libgphoto2's canon driver drives a camera.

The host side here is the core codec (ptpkit.core.canon_usb, canon_usb_requests) and PyUSB's
ctrl_transfer / read / write on the virtual backend, read the way libgphoto2 reads (usb.c
canon_usb_dialogue_full: a fixed reply as its length rounded down to 0x40 then the rest;
canon_usb_long_dialogue: a 0x40 header, then the data in transfers of xfer_length rounded down
to 0x40, the last one the remainder).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import struct
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import usb.core
from tests.forked import in_a_forked_child

from ptpkit.core import canon_usb as cu
from ptpkit.core import canon_usb_requests as cr
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.content import generated_sha256
from ptpkit.virtual.imaging import (
    exif_thumbnail_bytes,
    render_jpeg_bytes,
    thumbnail_of_bytes,
    with_exif_thumbnail,
)
from ptpkit.virtual.powershot import (
    CARD_FOLDER,
    POWERSHOT_MODELS,
    POWERSHOT_PERSONALITIES,
    PowerShotDevice,
    Stall,
    card_path,
    open_powershot,
)
from ptpkit.virtual.powershot_usb import make_powershot_backend

#: The old-protocol PowerShots this host (libgphoto2's classes 1-5 on the wire) drives through
#: every test; the EOS bodies (class 4, class 6) have their own tests below and in
#: tests/client/test_powershot.py.
MODELS = sorted(k for k, m in POWERSHOT_MODELS.items() if not k.startswith("powershot-eos"))
TIMEOUT_MS = 2000


class Host:
    """What libgphoto2's canon driver does on the wire, on a PyUSB device."""

    def __init__(self, device: PowerShotDevice) -> None:
        self.device = device
        found = usb.core.find(backend=make_powershot_backend(device))
        assert found is not None
        self.usb = found
        self.usb.set_configuration()
        self.serial = 0x100
        self.xfer = 0x1400
        #: Class 6: byte 0x46 of every block (canon_usb_dialogue_full) and one-piece reads.
        self.new_protocol = False

    def ctrl_in(self, value: int, length: int) -> bytes:
        request = cu.control_request(length)
        return bytes(self.usb.ctrl_transfer(0xC0, request, value, 0, length, TIMEOUT_MS))

    def ctrl_out(self, value: int, data: bytes) -> None:
        written = self.usb.ctrl_transfer(0x40, cu.control_request(len(data)), value, 0, data)
        assert written == len(data)

    def read(self, size: int) -> bytes:
        return bytes(self.usb.read(0x81, size, TIMEOUT_MS))

    def interrupt(self, size: int = 0x40, timeout_ms: int = TIMEOUT_MS) -> bytes:
        return bytes(self.usb.read(0x83, size, timeout_ms))

    def wake(self) -> cu.CamStat:
        """canon_usb_camera_init: camstat, init packet, then the 'C' or the 'A' path."""
        camstat = cu.decode_camstat(self.ctrl_in(cu.VALUE_CAMSTAT, 1))
        packet = cu.decode_init_packet(self.ctrl_in(cu.VALUE_INIT_READ, cu.INIT_PACKET_BYTES))
        self.xfer = packet.xfer_length
        if camstat is cu.CamStat.ACTIVE:
            assert len(self.ctrl_in(cu.VALUE_ACTIVE_READ, cu.ACTIVE_READ_BYTES)) == 0x50
            return camstat
        self.ctrl_out(cu.VALUE_INIT_WRITE, cu.init_write_block(packet))
        first = self.read(0x40)
        assert cu.init_bulk_more(first) == 4
        assert self.read(4) == cu.INIT_BULK_TX
        assert len(self.interrupt(0x10)) == 0x10
        return camstat

    def send(self, name: str, payload: bytes = b"") -> int:
        spec = cu.lookup_command(name)
        self.serial += 1
        flags = (0x20 if spec.cmd3 == cu.VARIABLE else 0x10) if self.new_protocol else 0
        command = cu.Command(
            cmd1=spec.cmd1,
            cmd2=spec.cmd2,
            cmd3=spec.cmd3,
            serial=self.serial,
            flags=flags,
            payload=payload,
        )
        self.ctrl_out(cu.VALUE_COMMAND, cu.encode_command(command))
        return self.serial

    def fixed(self, name: str, payload: bytes = b"", *, length: int | None = None) -> cu.Reply:
        serial = self.send(name, payload)
        total = length or cu.lookup_command(name).reply_bytes
        assert total is not None
        first, rest = (total, 0) if self.new_protocol else cu.split_reply_read(total)
        data = self.read(first)
        reported = cu.reported_reply_bytes(data)
        if len(data) < first:
            # The camera's answer is shorter than the table's (a command it refuses): the
            # short packet ended the read, the length word says so.
            assert reported == len(data)
            total = len(data)
        else:
            assert reported == total
            if rest:
                data += self.read(rest)
        reply = cu.decode_reply(data, reply_bytes=total)
        assert reply.serial == serial
        return reply

    def long(self, name: str, payload: bytes = b"", *, chunk: int | None = None) -> bytes:
        self.send(name, payload)
        size = cu.decode_variable_header(self.read(cu.VARIABLE_HEADER_BYTES))
        xfer = chunk or self.xfer
        out = bytearray()
        while len(out) < size:
            left = size - len(out)
            ask = xfer if left > xfer else (left // 0x40 * 0x40 if left > 0x40 else left)
            out += self.read(ask)
        return bytes(out)

    def listing(self, path: str, depth: int) -> list[cu.Dirent]:
        data = self.long(
            "GetDirEntries", cr.encode_dirents_request(cr.DirentsRequest(path=path, depth=depth))
        )
        return list(cu.iter_dirents(data))

    def get_file(self, path: str, *, thumbnail: bool = False, chunk: int | None = None) -> bytes:
        request = cr.GetFileRequest(path=path, thumbnail=thumbnail, chunk_bytes=chunk or self.xfer)
        return self.long("GetFile", cr.encode_get_file_request(request), chunk=chunk)

    def remote(self, sub: int, *words: int) -> cu.Reply:
        return self.fixed(
            "RemoteControl",
            cu.encode_remote_payload(sub, *words),
            length=cu.remote_reply_bytes(sub),
        )


@pytest.fixture
def camera(card: Path) -> Iterator[VirtualCamera]:
    with VirtualCamera(card) as vcam:
        yield vcam


@pytest.fixture(params=MODELS)
def model(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def host(camera: VirtualCamera, model: str) -> Iterator[Host]:
    device = PowerShotDevice(camera, model, owner="Ansel")
    host = Host(device)
    host.wake()
    yield host
    device.close()


@pytest.fixture
def g3(camera: VirtualCamera) -> Iterator[Host]:
    device = PowerShotDevice(camera, "powershot-g3")
    host = Host(device)
    host.wake()
    yield host
    device.close()


# -- the device on the bus -----------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_descriptors_are_a_full_speed_canon(camera: VirtualCamera, name: str) -> None:
    device = PowerShotDevice(camera, name)
    found = usb.core.find(backend=make_powershot_backend(device))
    assert found is not None
    assert (found.idVendor, found.idProduct) == (0x04A9, POWERSHOT_MODELS[name].product_id)
    assert found.bcdUSB == 0x0110
    assert found.manufacturer == "Canon Inc."
    assert found.product == POWERSHOT_PERSONALITIES[name].identify_name
    interface = found.get_active_configuration()[(0, 0)]
    assert interface.bInterfaceClass == 0xFF
    endpoints = {e.bEndpointAddress: e for e in interface}
    assert sorted(endpoints) == [0x02, 0x81, 0x83]
    assert endpoints[0x81].wMaxPacketSize == endpoints[0x02].wMaxPacketSize == 64
    assert usb.util.endpoint_type(endpoints[0x83].bmAttributes) == usb.util.ENDPOINT_TYPE_INTR


def test_g3_and_g2_rows() -> None:
    assert POWERSHOT_MODELS["powershot-g3"].product_id == 0x306E
    assert POWERSHOT_MODELS["powershot-g3"].protocol_class == 5
    assert POWERSHOT_MODELS["powershot-g2"].product_id == 0x3055
    assert POWERSHOT_MODELS["powershot-g2"].protocol_class == 1


# -- wake-up -------------------------------------------------------------------------------------


def test_wake_up_sequence(camera: VirtualCamera, model: str) -> None:
    personality = POWERSHOT_PERSONALITIES[model]
    host = Host(PowerShotDevice(camera, model))
    assert host.ctrl_in(cu.VALUE_CAMSTAT, 1) == b"C"
    packet = cu.decode_init_packet(host.ctrl_in(cu.VALUE_INIT_READ, 0x58))
    assert packet.camera_id == personality.camera_id
    assert (packet.id_vendor, packet.id_product) == (0x04A9, personality.model.product_id)
    assert packet.xfer_length == 0x1400
    # Not awake yet: still "C", and commands are refused.
    assert host.ctrl_in(cu.VALUE_CAMSTAT, 1) == b"C"
    with pytest.raises(usb.core.USBError) as refused:
        host.send("IdentifyCamera")
    assert refused.value.errno == errno.EPIPE
    host.ctrl_out(cu.VALUE_INIT_WRITE, cu.init_write_block(packet))
    # 0x40 then 4 (libgphoto2 reads it so), ending "Tx\0\0"; then the 0x10-byte interrupt message.
    first = host.read(0x40)
    assert cu.init_bulk_more(first) == 4
    assert host.read(4) == b"Tx\x00\x00"
    message = cu.decode_interrupt(host.interrupt(0x10))
    assert len(message.raw) == 0x10
    # Awake: "A" from now on, and the 0x50-byte read is answered.
    assert host.ctrl_in(cu.VALUE_CAMSTAT, 1) == b"A"
    assert host.wake() is cu.CamStat.ACTIVE
    assert host.fixed("IdentifyCamera").ok


def test_wake_up_in_one_read_of_0x44(camera: VirtualCamera) -> None:
    # Class 6 and the SD500 read the 0x44 bytes at once (usb.c canon_usb_camera_init).
    host = Host(PowerShotDevice(camera, "powershot-g3"))
    host.ctrl_in(cu.VALUE_CAMSTAT, 1)
    packet = cu.decode_init_packet(host.ctrl_in(cu.VALUE_INIT_READ, 0x58))
    host.ctrl_out(cu.VALUE_INIT_WRITE, cu.init_write_block(packet))
    data = host.read(0x44)
    assert cu.init_bulk_is_tx(data)


def test_reset_puts_the_camera_back_to_sleep(g3: Host) -> None:
    g3.usb.reset()
    assert g3.ctrl_in(cu.VALUE_CAMSTAT, 1) == b"C"
    assert g3.wake() is cu.CamStat.WOKEN


def test_unknown_control_requests_stall(g3: Host) -> None:
    with pytest.raises(usb.core.USBError) as stalled:
        g3.ctrl_in(0x77, 4)
    assert stalled.value.errno == errno.EPIPE
    with pytest.raises(usb.core.USBError):
        g3.usb.ctrl_transfer(0xC0, 0x33, cu.VALUE_CAMSTAT, 0, 1)  # not bRequest 0x04/0x0C
    with pytest.raises(usb.core.USBError):
        g3.ctrl_out(cu.VALUE_INIT_WRITE, bytes(0x20))  # the wake-up write is 0x50 bytes
    with pytest.raises(usb.core.USBError):
        g3.ctrl_out(cu.VALUE_COMMAND, bytes(0x50))  # not a command block (word 0x40 is not 2)


# -- identity, owner, time, power, drive -------------------------------------------------------


def test_identify(host: Host, model: str) -> None:
    personality = POWERSHOT_PERSONALITIES[model]
    reply = host.fixed("IdentifyCamera")
    assert reply.ok
    identity = cu.decode_identity(reply.data)
    assert identity.model == personality.identify_name
    assert identity.owner == "Ansel"
    assert identity.firmware == personality.firmware
    assert identity.camera_id == personality.camera_id


def test_g3_identify_is_the_captured_one(camera: VirtualCamera) -> None:
    # A real G3's reply (canon-remote's capture, tests/core/test_canon_usb.py) but for the owner.
    device = PowerShotDevice(camera, "powershot-g3", owner="Kiril")
    host = Host(device)
    host.wake()
    identity = cu.decode_identity(host.fixed("IdentifyCamera").data)
    assert identity.firmware_text == "1.0.2.0"
    assert identity.camera_id == bytes.fromhex("01061583")
    assert (identity.model, identity.owner) == ("Canon PowerShot G3", "Kiril")


def test_owner_set_and_read_back(host: Host) -> None:
    assert host.fixed("SetOwner", cr.encode_path("Henri Cartier")).ok
    assert cu.decode_identity(host.fixed("IdentifyCamera").data).owner == "Henri Cartier"
    too_long = host.fixed("SetOwner", cr.encode_path("x" * 40))
    assert too_long.status == 0x02000086
    assert cu.decode_identity(host.fixed("IdentifyCamera").data).owner == "Henri Cartier"


def test_time_set_and_read_back(host: Host) -> None:
    when = 1_000_000_000  # 2001-09-09 01:46:40, camera local time
    assert host.fixed("SetTime", cu.encode_time(when)).ok
    now = cu.decode_time(host.fixed("GetTime").data)
    assert when <= now <= when + 5
    assert host.fixed("SetTime", b"\x01\x02").status == 0x02000086


def test_power_drive_and_disk(host: Host, camera: VirtualCamera) -> None:
    power = cu.decode_power_status(host.fixed("PowerStatus").data)
    assert power.ok
    assert power.on_battery
    assert host.long("FlashDeviceIdent") == b"D:\x00"
    info = cu.decode_disk_info(host.fixed("DiskInfo", cr.encode_path("D:\\")).data)
    storage = camera.stores[0x00010001].storage_info()
    assert info.capacity == min(storage.max_capacity, 0xFFFFFFFF)
    assert 0 < info.free <= info.capacity
    assert host.fixed("DiskInfo", cr.encode_path("E:")).status == 0x02000086


def test_lock_keys_and_picture_abilities_by_class(host: Host, model: str) -> None:
    assert host.fixed("GenericLockKeys").ok
    abilities = host.fixed("GetPicAbilities")  # 0x384 bytes: 0x334 after the header
    if POWERSHOT_MODELS[model].protocol_class == 1:
        assert abilities.ok
    else:  # class 5 does not implement it (canon.h CANON_CLASS_5)
        assert abilities.status == 0x02000086
    # The EOS lock is class 4's: this PowerShot does not know it.
    assert host.fixed("EOSLockKeys", struct.pack("<I", 6)).status == 0x02000086


def test_unknown_commands(g3: Host) -> None:
    reply = g3.fixed("Unknown1A", length=0x54)  # D30 only: a 0x54 reply with a status
    assert reply.status == 0x02000086
    assert g3.long("RetrievePreview") == b""  # a variable command it does not know: no data


# -- listings ------------------------------------------------------------------------------------


def _walk(entries: list[cu.Dirent]) -> tuple[dict[str, cu.Dirent], list[str]]:
    """Files by path and folders in order, rebuilt from a recursive listing as libgphoto2's
    canon_int_find_new_image does (".\\NAME" enters, ".." leaves)."""
    assert entries[0].attrs == cu.ATTR_DIR_ENTERED
    stack = [entries[0].name.decode()]
    files: dict[str, cu.Dirent] = {}
    folders: list[str] = []
    for entry in entries[1:]:
        name = entry.name.decode()
        if entry.is_parent:
            stack.pop()
        elif entry.attrs & cu.ATTR_DIR_ENTERED:
            stack.append(name.removeprefix(".\\"))
            folders.append("\\".join(stack))
        elif entry.attrs & cu.ATTR_DIR_NOT_ENTERED:
            folders.append("\\".join([*stack, name]))
        else:
            files["\\".join([*stack, name])] = entry
    assert stack == []  # every entered folder closed, the listed one included
    return files, folders


def _card_files(card: Path) -> dict[str, int]:
    return {
        "D:\\" + str(p.relative_to(card)).replace("/", "\\").upper(): p.stat().st_size
        for p in card.rglob("*")
        if p.is_file()
    }


def test_recursive_listing_is_the_card(host: Host, card: Path) -> None:
    entries = host.listing("D:", cr.RECURSE_ALL)
    assert entries[0].name == b"D:"
    files, folders = _walk(entries)
    assert {path: e.size for path, e in files.items()} == _card_files(card)
    # Names as DOS shows them: upper case ("nested" is NESTED on the wire).
    assert "D:\\MISC\\NESTED\\LEVEL2\\LEVEL3" in folders
    # Nobody has downloaded anything yet: the 0x20 bit on every file.
    assert all(e.attrs & cu.ATTR_NOT_DOWNLOADED for e in files.values())
    assert all(e.time > 0 for e in files.values())


def test_listing_one_folder(host: Host, card: Path) -> None:
    entries = host.listing("D:\\DCIM", 0)
    assert entries[0].name == b"D:\\DCIM"
    assert entries[-1].is_parent
    names = {e.name: e.attrs for e in entries[1:-1]}
    assert names == {b"100PTPKT": cu.ATTR_DIR_NOT_ENTERED, b"101PTPKT": cu.ATTR_DIR_NOT_ENTERED}
    pictures = host.listing("d:\\dcim\\100ptpkt", 0)  # names compare without case (FAT)
    assert sorted(e.name for e in pictures[1:-1]) == sorted(
        p.name.encode() for p in (card / "DCIM/100PTPKT").iterdir()
    )


def test_listing_a_missing_folder_is_empty(host: Host) -> None:
    assert host.listing("D:\\NOPE", 0) == []
    assert host.listing("D:\\MISC\\README.TXT", 0) == []  # a file is not a folder


# -- downloads -----------------------------------------------------------------------------------


def test_get_file_is_the_card_file(host: Host, card: Path) -> None:
    for rel in ("DCIM/100PTPKT/IMG_0001.JPG", "MISC/README.TXT", "DCIM/101PTPKT/IMG_0101.JPG"):
        data = host.get_file(card_path(host.device, rel))
        assert data == (card / rel).read_bytes()


@pytest.mark.parametrize("chunk", [0x1400, 0x3000, 0x40, 0x1234])
def test_get_file_in_the_chunks_asked_for(g3: Host, card: Path, chunk: int) -> None:
    # 0x1234 is no multiple of 0x40: the host reads each transfer as 0x1200 + 0x34.
    rel = "DCIM/100PTPKT/IMG_0002.JPG"
    expected = (card / rel).read_bytes()
    path = card_path(g3.device, rel)
    request = cr.GetFileRequest(path=path, chunk_bytes=chunk)
    g3.send("GetFile", cr.encode_get_file_request(request))
    size = cu.decode_variable_header(g3.read(0x40))
    assert size == len(expected)
    out = bytearray()
    while len(out) < size:
        transfer = min(chunk, size - len(out))
        whole = transfer // 0x40 * 0x40
        if whole:
            out += g3.read(whole)
        if transfer - whole:
            out += g3.read(transfer - whole)
    assert bytes(out) == expected


def test_transfers_are_the_chunk_size(g3: Host, card: Path) -> None:
    # At the device: each data transfer ends after the chunk the host asked for.
    device = g3.device
    rel = "DCIM/100PTPKT/IMG_0003.JPG"
    size = (card / rel).stat().st_size
    request = cr.GetFileRequest(path=card_path(device, rel), chunk_bytes=0x1000)
    g3.send("GetFile", cr.encode_get_file_request(request))
    header, ended = device.read_bulk_in(0x1000, 1.0)
    assert (len(header), ended) == (0x40, True)
    sizes = []
    while sum(sizes) < size:
        data, ended = device.read_bulk_in(0x100000, 1.0)
        assert ended
        sizes.append(len(data))
    assert sizes == [0x1000] * (size // 0x1000) + ([size % 0x1000] if size % 0x1000 else [])


def test_thumbnail_is_the_exif_thumbnail(g3: Host, card: Path, camera: VirtualCamera) -> None:
    import datetime as dt

    picture = render_jpeg_bytes(title="thumb", taken=dt.datetime(2003, 3, 3, 3, 3, 3))
    thumb = thumbnail_of_bytes(picture)
    (card / "DCIM/100PTPKT/IMG_0050.JPG").write_bytes(with_exif_thumbnail(picture, thumb))
    camera.stores[0x00010001].scan()
    whole = g3.get_file("D:\\DCIM\\100PTPKT\\IMG_0050.JPG")
    got = g3.get_file("D:\\DCIM\\100PTPKT\\IMG_0050.JPG", thumbnail=True)
    # The head of the file through its EXIF block, which holds the thumbnail (libgphoto2
    # canon.c canon_int_get_thumbnail hands it to libexif).
    assert whole.startswith(got)
    assert got[:2] == b"\xff\xd8"
    assert exif_thumbnail_bytes(got) == thumb == exif_thumbnail_bytes(whole)
    # A picture without one: its EXIF head with a thumbnail made from it.
    made = g3.get_file("D:\\DCIM\\100PTPKT\\IMG_0001.JPG", thumbnail=True)
    small = exif_thumbnail_bytes(made)
    assert small is not None
    assert small[:2] == b"\xff\xd8"
    assert len(made) < 100 * 1024
    # Text has no thumbnail.
    assert g3.get_file("D:\\MISC\\README.TXT", thumbnail=True) == b""


def test_movie_thumbnail_is_its_thm(g3: Host, card: Path, camera: VirtualCamera) -> None:
    shutil.copy(card / "DCIM/100PTPKT/IMG_0001.JPG", card / "DCIM/100PTPKT/MVI_0009.THM")
    (card / "DCIM/100PTPKT/MVI_0009.AVI").write_bytes(b"RIFF" + bytes(5000))
    camera.stores[0x00010001].scan()
    thm = g3.get_file("D:\\DCIM\\100PTPKT\\MVI_0009.AVI", thumbnail=True)
    assert thm == (card / "DCIM/100PTPKT/MVI_0009.THM").read_bytes()


def test_missing_file_announces_nothing(g3: Host) -> None:
    assert g3.get_file("D:\\DCIM\\100PTPKT\\IMG_9999.JPG") == b""
    assert g3.get_file("E:\\DCIM") == b""
    assert g3.get_file("D:\\DCIM") == b""  # a folder
    # The camera still answers the next command.
    assert g3.fixed("IdentifyCamera").ok


def test_big_download_streams(card: Path) -> None:
    size = 24 * 1024 * 1024 + 123

    def measure() -> tuple[str, int]:
        # In a forked child (tests/forked.py): tracemalloc counts every thread of the process,
        # and the worker's leftover threads of earlier tests are not in the child.
        with VirtualCamera(card) as camera:
            camera.add_generated_object(size, name="BIG.MOV", seed=5)
            device = PowerShotDevice(camera, "powershot-g3")
            try:
                g3 = Host(device)
                g3.wake()
                request = cr.GetFileRequest(path="D:\\BIG.MOV", chunk_bytes=0x10000)
                g3.send("GetFile", cr.encode_get_file_request(request))
                assert cu.decode_variable_header(g3.read(0x40)) == size
                digest = hashlib.sha256()
                got = 0
                tracemalloc.start()
                try:
                    while got < size:
                        left = size - got
                        ask = 0x10000 if left > 0x10000 else (left // 0x40 * 0x40 or left)
                        piece = g3.read(ask)
                        digest.update(piece)
                        got += len(piece)
                    _, peak = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
            finally:
                device.close()
        return digest.hexdigest(), peak

    digest, peak = in_a_forked_child(measure)
    assert digest == generated_sha256(size, seed=5)
    assert peak < 4 * 1024 * 1024  # a few chunks, never the 24 MiB


def test_an_object_over_4_gib_is_not_served(g3: Host, camera: VirtualCamera) -> None:
    camera.add_generated_object(5 * 1024**3, name="HUGE.MOV")
    entry = next(e for e in g3.listing("D:", 0) if e.name == b"HUGE.MOV")
    assert entry.size == 0xFFFFFFFF  # the u32 saturates
    assert g3.get_file("D:\\HUGE.MOV") == b""  # announced as nothing, not a wrapped length
    assert g3.fixed("IdentifyCamera").ok


# -- transfers as libusb sees them ------------------------------------------------------------


def test_a_read_inside_a_packet_overflows(g3: Host) -> None:
    g3.send("PowerStatus")  # 0x58 bytes: a 64-byte packet and a 24-byte one
    with pytest.raises(usb.core.USBError) as overflow:
        g3.read(0x30)
    assert overflow.value.errno == errno.EOVERFLOW
    g3.send("PowerStatus")
    with pytest.raises(usb.core.USBError):
        g3.read(0x50)  # the second packet (24 bytes) does not fit the 16 left
    # Exact reads, and one read of the whole reply, work.
    g3.send("PowerStatus")
    assert len(g3.read(0x58)) == 0x58
    g3.send("PowerStatus")
    assert len(g3.read(0x1000)) == 0x58  # a short packet ends the read


def test_reading_more_than_there_is_times_out(g3: Host) -> None:
    with pytest.raises(usb.core.USBTimeoutError):
        g3.usb.read(0x81, 0x40, 50)
    g3.send("GetDirEntries", cr.encode_dirents_request(cr.DirentsRequest(path="D:\\NOPE")))
    assert cu.decode_variable_header(g3.read(0x40)) == 0
    with pytest.raises(usb.core.USBTimeoutError):
        g3.usb.read(0x81, 0x40, 50)
    with pytest.raises(usb.core.USBTimeoutError):
        g3.usb.read(0x83, 0x40, 50)


def test_a_new_command_drops_an_unread_answer(g3: Host) -> None:
    g3.send("IdentifyCamera")
    g3.read(0x40)  # half of it
    assert g3.fixed("PowerStatus").ok


# -- changes to the card -----------------------------------------------------------------------


def test_delete(host: Host, card: Path, model: str) -> None:
    payload = cr.encode_delete_request(
        cr.DeleteRequest(folder="D:\\DCIM\\100PTPKT", name="IMG_0002.JPG")
    )
    assert host.fixed("DeleteFile", payload).ok
    assert not (card / "DCIM/100PTPKT/IMG_0002.JPG").exists()
    names = [e.name for e in host.listing("D:\\DCIM\\100PTPKT", 0)]
    assert b"IMG_0002.JPG" not in names
    assert b"IMG_0001.JPG" in names
    assert host.fixed("DeleteFile", payload).status == 0x02000022


def test_protected_files_are_not_deleted(g3: Host, card: Path) -> None:
    attrs = cr.encode_attributes_request(
        cr.AttributesRequest(attrs=0x01, folder="D:\\DCIM\\100PTPKT", name="IMG_0003.JPG")
    )
    assert g3.fixed("SetFileAttributes", attrs).ok
    delete = cr.encode_delete_request(
        cr.DeleteRequest(folder="D:\\DCIM\\100PTPKT", name="IMG_0003.JPG")
    )
    assert g3.fixed("DeleteFile", delete).status == 0x02000029
    assert (card / "DCIM/100PTPKT/IMG_0003.JPG").exists()


def test_set_attributes_clears_not_downloaded(g3: Host) -> None:
    def attrs_of(name: bytes) -> int:
        entries = g3.listing("D:\\DCIM\\100PTPKT", 0)
        return next(e.attrs for e in entries if e.name == name)

    assert attrs_of(b"IMG_0001.JPG") == cu.ATTR_NOT_DOWNLOADED
    payload = cr.encode_attributes_request(
        cr.AttributesRequest(attrs=0, folder="D:\\DCIM\\100PTPKT", name="IMG_0001.JPG")
    )
    assert g3.fixed("SetFileAttributes", payload).ok
    assert attrs_of(b"IMG_0001.JPG") == 0
    missing = cr.encode_attributes_request(
        cr.AttributesRequest(attrs=0, folder="D:\\DCIM\\100PTPKT", name="NOPE.JPG")
    )
    assert g3.fixed("SetFileAttributes", missing).status == 0x02000022


def test_make_and_remove_folders(g3: Host, card: Path) -> None:
    assert g3.fixed("MakeDir", cr.encode_path("D:\\DCIM\\102CANON")).ok
    assert (card / "DCIM/102CANON").is_dir()
    assert g3.fixed("MakeDir", cr.encode_path("D:\\DCIM\\102CANON")).status == 0x02000086
    assert g3.fixed("MakeDir", cr.encode_path("D:\\NOPE\\X")).status == 0x02000086
    assert g3.fixed("RemoveDir", cr.encode_path("D:\\DCIM\\100PTPKT")).status == 0x02000086
    assert g3.fixed("RemoveDir", cr.encode_path("D:\\DCIM\\102CANON")).ok
    assert not (card / "DCIM/102CANON").exists()


def test_set_file_time(g3: Host, card: Path) -> None:
    when = 1_050_000_000
    payload = cr.encode_file_time_request(
        cr.FileTimeRequest(time=when, path="D:\\MISC\\README.TXT")
    )
    assert g3.fixed("SetFileTime", payload).ok
    entry = next(e for e in g3.listing("D:\\MISC", 0) if e.name == b"README.TXT")
    assert entry.time == when


# -- remote capture ----------------------------------------------------------------------------


def _drain(host: Host) -> None:
    while True:
        try:
            host.interrupt(0x40, 50)
        except usb.core.USBTimeoutError:
            return


def _release(host: Host, mode: int) -> list[cu.InterruptMessage]:
    """canon_int_capture_image's sequence up to the "done" message."""
    assert host.remote(0x00).ok  # Init
    assert host.remote(0x09, 4, mode).ok  # SetTransferMode
    for _ in range(2):
        params = host.remote(0x0A)  # GetParams (canon.c reads the block at 0x5C)
        assert params.ok
        assert len(params.data) == 0x8C - 0x54
    _drain(host)
    assert host.remote(0x04).ok  # Release
    messages = []
    while True:
        message = cu.decode_interrupt(host.interrupt(0x40))
        messages.append(message)
        if message.kind == cu.InterruptType.CAPTURE_STATUS and message.status == cu.CAPTURE_DONE:
            return messages


def test_captures_leave_folder_times_alone(host: Host, card: Path) -> None:
    """libgphoto2 canon.c canon_int_find_new_image names a capture's file by walking the
    listings before and after it side by side: the first picture at a mismatch is the new one.
    A folder whose time moved with its new file would be that mismatch, and gphoto2 would take
    the folder's first picture for the capture: the camera's FAT keeps folder times."""
    os.utime(card / "DCIM/101PTPKT", (1e9, 1e9))  # 2001: each capture moves it to now
    for expected in ("IMG_0102.JPG", "IMG_0103.JPG"):
        before = host.listing("D:", cr.RECURSE_ALL)
        _release(host, cu.TRANSFER_FULL_TO_CARD)
        after = host.listing("D:", cr.RECURSE_ALL)
        assert host.remote(0x01).ok  # Exit
        first = next(i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b)
        assert after[first].name.decode() == expected
        assert before[first].is_parent  # the old folder's end, where the new file now is


def test_capture_to_the_card(host: Host, card: Path) -> None:
    before, _ = _walk(host.listing("D:", cr.RECURSE_ALL))
    messages = _release(host, cu.TRANSFER_FULL_TO_CARD)
    assert [(m.kind, m.status) for m in messages] == [(0x0A, 0x1C), (0x0A, 0x1D)]
    after, _ = _walk(host.listing("D:", cr.RECURSE_ALL))
    new = sorted(set(after) - set(before))
    assert new == ["D:\\DCIM\\101PTPKT\\IMG_0102.JPG"]  # the newest folder, the next number
    data = host.get_file(new[0])
    assert data == (card / "DCIM/101PTPKT/IMG_0102.JPG").read_bytes()
    assert after[new[0]].size == len(data)
    head = host.get_file(new[0], thumbnail=True)  # the picture's head through EXIF
    assert data.startswith(head)
    assert exif_thumbnail_bytes(data) == exif_thumbnail_bytes(head) is not None
    assert host.remote(0x01).ok  # Exit


def test_numbering_goes_on_after_the_newest_picture_is_deleted(host: Host, card: Path) -> None:
    """Canon's continuous file numbering: the camera remembers the last number it gave, and a
    new folder's pictures go on from the highest number on the card, so a capture never takes
    the name of a picture the card (or a computer that downloaded it) already has."""

    def delete(name: str) -> None:
        request = cr.DeleteRequest(folder="D:\\DCIM\\101PTPKT", name=name)
        assert host.fixed("DeleteFile", cr.encode_delete_request(request)).ok

    delete("IMG_0101.JPG")  # 101PTPKT is now empty
    _release(host, cu.TRANSFER_FULL_TO_CARD)
    assert (card / "DCIM/101PTPKT/IMG_0005.JPG").is_file()  # after 100PTPKT's IMG_0004
    delete("IMG_0005.JPG")
    _release(host, cu.TRANSFER_FULL_TO_CARD)
    assert (card / "DCIM/101PTPKT/IMG_0006.JPG").is_file()  # not IMG_0005 again
    assert host.remote(0x01).ok  # Exit


def test_capture_to_the_pc(g3: Host, card: Path) -> None:
    before = _card_files(card)
    mode = cu.TRANSFER_THUMB_TO_PC | cu.TRANSFER_FULL_TO_PC
    messages = _release(g3, mode)
    kinds = [m.kind for m in messages]
    assert kinds == [0x0A, 0x08, 0x0C, 0x0A]
    thumb_ready, full_ready = messages[1], messages[2]
    assert thumb_ready.key == full_ready.key
    assert full_ready.key is not None
    retrieve = cr.RetrieveRequest(key=full_ready.key, what=cr.DOWNLOAD_FULL, chunk_bytes=0x1400)
    full = g3.long("RetrieveCapture", cr.encode_retrieve_request(retrieve))
    assert len(full) == full_ready.size
    assert full[:2] == b"\xff\xd8"
    thumb_request = cr.RetrieveRequest(key=full_ready.key, what=cr.DOWNLOAD_THUMB)
    thumb = g3.long("RetrieveCapture", cr.encode_retrieve_request(thumb_request))
    assert len(thumb) == thumb_ready.size
    assert exif_thumbnail_bytes(full) == thumb
    assert _card_files(card) == before  # nothing kept on the card
    unknown = cr.RetrieveRequest(key=0xDEAD, what=cr.DOWNLOAD_FULL)
    assert g3.long("RetrieveCapture", cr.encode_retrieve_request(unknown)) == b""


def test_release_outside_remote_mode_is_refused(g3: Host) -> None:
    assert g3.remote(0x04).status == 0x02000086
    with pytest.raises(usb.core.USBTimeoutError):
        g3.interrupt(0x40, 50)


def test_interrupt_messages_in_small_reads(g3: Host) -> None:
    # A 0x17-byte image-ready message read 16 bytes at a time (one interrupt packet per read).
    _release(g3, cu.TRANSFER_FULL_TO_CARD)  # leaves nothing behind
    assert g3.remote(0x09, 4, cu.TRANSFER_FULL_TO_PC).ok
    assert g3.remote(0x04).ok
    assert cu.decode_interrupt(g3.interrupt(0x10)).status == cu.CAPTURE_FIRST
    head = g3.interrupt(0x10)
    tail = g3.interrupt(0x10)
    ready = cu.decode_interrupt(head + tail)
    assert (ready.kind, len(ready.raw)) == (0x0C, 0x17)
    with pytest.raises(usb.core.USBError) as overflow:
        g3.interrupt(0x0C)  # inside the 16-byte packet of the "done" message
    assert overflow.value.errno == errno.EOVERFLOW


# -- threads ---------------------------------------------------------------------------------


def test_interrupts_while_commands_run(g3: Host) -> None:
    """The gadget reads the interrupt pipe in one thread while commands run in another."""
    got: list[bytes] = []
    ready = threading.Event()

    def listen() -> None:
        ready.set()
        message = g3.device.read_interrupt(5.0)
        if message is not None:
            got.append(message)

    thread = threading.Thread(target=listen)
    thread.start()
    ready.wait(5)
    assert g3.remote(0x00).ok
    assert g3.fixed("PowerStatus").ok
    assert g3.remote(0x09, 4, cu.TRANSFER_FULL_TO_CARD).ok
    assert g3.remote(0x04).ok
    thread.join(5)
    assert got
    assert cu.decode_interrupt(got[0]).status == cu.CAPTURE_FIRST


def test_on_ready_is_called(camera: VirtualCamera) -> None:
    device = PowerShotDevice(camera, "powershot-g2")
    calls: list[int] = []
    device.on_ready = lambda: calls.append(1)
    device.control_in(0x0C, cu.VALUE_CAMSTAT, 0, 1)
    packet = cu.decode_init_packet(device.control_in(0x04, cu.VALUE_INIT_READ, 0, 0x58))
    device.control_out(0x04, cu.VALUE_INIT_WRITE, 0, cu.init_write_block(packet))
    assert calls == [1]
    with pytest.raises(Stall):
        device.control_out(0x04, 0x99, 0, b"")
    device.close()
    assert device.read_bulk_in(0x40, None) == (b"", False)
    assert device.read_interrupt(None) is None


# -- a PowerShot's own card ------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_open_powershot_makes_a_powershot_card(name: str) -> None:
    device = open_powershot(name, owner="Kiril")
    root = device.camera.root
    try:
        host = Host(device)
        host.wake()
        files, folders = _walk(host.listing("D:", cr.RECURSE_ALL))
        assert folders == ["D:\\DCIM", "D:\\DCIM\\100CANON"]
        assert sorted(files) == [
            f"D:\\DCIM\\100CANON\\{n}"
            for n in (
                "IMG_0001.JPG",
                "IMG_0002.JPG",
                "IMG_0003.JPG",
                "MVI_0004.AVI",
                "MVI_0004.THM",
            )
        ]
        picture = host.get_file("D:\\DCIM\\100CANON\\IMG_0001.JPG")
        assert picture == (root / CARD_FOLDER / "IMG_0001.JPG").read_bytes()
        head = host.get_file("D:\\DCIM\\100CANON\\IMG_0001.JPG", thumbnail=True)
        assert picture.startswith(head)
        assert _extract_jpeg_thumb(head) == exif_thumbnail_bytes(picture)
        movie = host.get_file("D:\\DCIM\\100CANON\\MVI_0004.AVI")
        assert movie[:4] == b"RIFF"
        assert movie[8:12] == b"AVI "
        assert b"MJPG" in movie[:512]
        thm = host.get_file("D:\\DCIM\\100CANON\\MVI_0004.AVI", thumbnail=True)
        assert thm == (root / CARD_FOLDER / "MVI_0004.THM").read_bytes()
        # libgphoto2 takes a movie's preview from its THM file the same way.
        assert _extract_jpeg_thumb(thm) == exif_thumbnail_bytes(thm)
        # Captures go on in the same folder, under the next number.
        before = set(files)
        _release(host, cu.TRANSFER_FULL_TO_CARD)
        after, _ = _walk(host.listing("D:", cr.RECURSE_ALL))
        assert sorted(set(after) - before) == ["D:\\DCIM\\100CANON\\IMG_0005.JPG"]
    finally:
        device.close()
    assert not root.exists()  # the temporary card went with the device


# -- upload (libgphoto2's CANON_EXPERIMENTAL_UPLOAD wire format) -----------------------------


def _upload(host: Host, path: str, data: bytes) -> list[cu.Reply]:
    """usb.c canon_usb_put_file's blocks: announce, read 0x40, the block on bulk OUT, read
    0x40 + 0x1C."""
    replies = []
    for offset in range(0, len(data), cr.UPLOAD_BLOCK_DATA_BYTES):
        host.serial += 1
        block = cr.encode_upload_block(
            cr.UploadBlock(
                path=path,
                offset=offset,
                data=data[offset : offset + cr.UPLOAD_BLOCK_DATA_BYTES],
                serial=host.serial,
            )
        )
        host.ctrl_out(cu.VALUE_COMMAND, cr.encode_upload_announce(len(block)))
        assert len(host.read(0x40)) == 0x40
        # In two writes, as a transport may deliver it.
        host.usb.write(0x02, block[:100], TIMEOUT_MS)
        host.usb.write(0x02, block[100:], TIMEOUT_MS)
        reply = cu.decode_reply(host.read(0x40) + host.read(0x1C), reply_bytes=0x5C)
        assert reply.serial == host.serial
        replies.append(reply)
    return replies


def test_upload(g3: Host, card: Path) -> None:
    data = hashlib.sha256(b"seed").digest() * 700  # 22400 bytes: five blocks, the last short
    path = "D:\\DCIM\\100PTPKT\\AUT_0001.JPG"
    assert all(r.ok for r in _upload(g3, path, data))
    # Not there until the host finishes it (as canon_usb_put_file does: time, attributes).
    names = [e.name for e in g3.listing("D:\\DCIM\\100PTPKT", 0)]
    assert b"AUT_0001.JPG" not in names
    assert not (card / "DCIM/100PTPKT/AUT_0001.JPG").exists()
    stamp = cr.FileTimeRequest(time=1_100_000_000, path=path)
    assert g3.fixed("SetFileTime", cr.encode_file_time_request(stamp)).ok
    attrs = cr.AttributesRequest(attrs=0, folder="D:\\DCIM\\100PTPKT\\", name="AUT_0001.JPG")
    assert g3.fixed("SetFileAttributes", cr.encode_attributes_request(attrs)).ok
    assert (card / "DCIM/100PTPKT/AUT_0001.JPG").read_bytes() == data
    entry = next(e for e in g3.listing("D:\\DCIM\\100PTPKT", 0) if e.name == b"AUT_0001.JPG")
    assert (entry.size, entry.time, entry.attrs) == (len(data), 1_100_000_000, 0)
    assert g3.get_file(path) == data
    assert not [p for p in card.rglob("*") if p.name.startswith(".ptpkit-upload-")]


def test_upload_refusals_and_an_interrupted_upload(g3: Host, card: Path) -> None:
    existing = _upload(g3, "D:\\DCIM\\100PTPKT\\IMG_0001.JPG", b"x" * 10)
    assert existing[0].status == 0x02000086  # the name is taken
    nowhere = _upload(g3, "D:\\NOPE\\A.JPG", b"x" * 10)
    assert nowhere[0].status == 0x02000086
    # An upload cut short by a reset leaves nothing, not even its temporary file.
    assert _upload(g3, "D:\\MISC\\HALF.JPG", b"y" * 0x2000)[0].ok
    assert any(p.name.startswith(".ptpkit-upload-") for p in (card / "MISC").iterdir())
    g3.usb.reset()
    assert not any(p.name.startswith(".ptpkit-upload-") for p in (card / "MISC").iterdir())
    assert not (card / "MISC/HALF.JPG").exists()
    g3.wake()
    # Bytes on bulk OUT nobody announced are dropped; the camera goes on.
    g3.usb.write(0x02, b"stray", TIMEOUT_MS)
    assert g3.fixed("IdentifyCamera").ok


def _extract_jpeg_thumb(data: bytes) -> bytes:
    """What libgphoto2 does with a thumbnail answer when it does not use libexif (canon.c
    canon_int_extract_jpeg_thumb): after the outer SOI, the inner JPEG from its SOI to the
    first EOI."""
    assert data[:2] == b"\xff\xd8"
    start = data.index(b"\xff\xd8", 3)
    return data[start : data.index(b"\xff\xd9", start) + 2]


def test_thumbnail_as_libgphoto2_extracts_it(g3: Host, card: Path, camera: VirtualCamera) -> None:
    """Both ways libgphoto2 gets a picture's thumbnail out of the answer find the same JPEG:
    libexif's IFD1 and canon_int_extract_jpeg_thumb's scan for the inner SOI/EOI."""
    made = g3.get_file("D:\\DCIM\\100PTPKT\\IMG_0002.JPG", thumbnail=True)
    assert len(made) >= 256  # library.c get_file_func refuses less
    store = camera.stores[0x00010001]
    obj = store.find("DCIM/100PTPKT/IMG_0002.JPG")
    assert obj is not None
    assert exif_thumbnail_bytes(made) == _extract_jpeg_thumb(made) == store.thumbnail(obj)


def test_another_open_closing_does_not_release_the_first_ones_claim(camera: VirtualCamera) -> None:
    """A handle per open (the virtual PTP camera's shared backend): a second program that opens
    the PowerShot only to read its descriptors, then closes it, leaves the first one's claim."""
    backend = make_powershot_backend(PowerShotDevice(camera, "powershot-g3"))
    (device,) = backend.enumerate_devices()
    first = backend.open_device(device)
    backend.claim_interface(first, 0)
    second = backend.open_device(device)
    backend.close_device(second)
    assert device.claimed
    backend.release_interface(first, 0)
    assert not device.claimed


# -- EOS bodies: class 6 ("new protocol") and class 4 ----------------------------------------


def test_class_6_body_answers_the_new_protocol_only(camera: VirtualCamera) -> None:
    device = PowerShotDevice(camera, "powershot-eos-350d")
    host = Host(device)
    assert host.ctrl_in(cu.VALUE_CAMSTAT, 1) == b"C"
    packet = cu.decode_init_packet(host.ctrl_in(cu.VALUE_INIT_READ, cu.INIT_PACKET_BYTES))
    assert packet.id_product == 0x30EE
    host.ctrl_out(cu.VALUE_INIT_WRITE, cu.init_write_block(packet))
    # Class 6 reads the init answer in one piece (usb.c canon_usb_camera_init).
    assert len(host.read(0x44)) == 0x44
    assert len(host.interrupt(0x10)) == 0x10
    # Without the new protocol's byte 0x46 a block is refused; with it, answered.
    assert host.fixed("IdentifyCamera", length=0x54).status == 0x02000086
    host.new_protocol = True
    identity = cu.decode_identity(host.fixed("IdentifyCamera").data)
    assert identity.model == "Canon EOS 350D DIGITAL"
    assert identity.owner == ""  # class 6 answers it to GetOwner2
    assert cu.decode_owner(host.fixed("GetOwner2").data) == device.owner
    assert cu.decode_body_id(host.fixed("GetBodyID2").data) == 560_012_345
    assert host.fixed("GetPicAbilities2").ok
    assert cu.decode_power_status(host.fixed("PowerStatus2").data).ok
    # DiskInfo2: the drive without its NUL, kilobytes back (canon_int_get_disk_name_info).
    disk = cu.decode_disk_info(host.fixed("DiskInfo2", b"D:").data)
    info = next(iter(camera.stores.values())).storage_info()
    assert disk.capacity == min(info.max_capacity // 1024, 0xFFFFFFFF)
    assert host.long("FlashDeviceIdent2").startswith(b"D:")
    # The old protocol's codes: what a class 6 body makes of them.
    assert host.fixed("PowerStatus", length=0x54).status == 0x02000086  # 0x0A/0x12: unknown
    assert host.fixed("DiskInfo", cr.encode_path("D:\\"), length=0x54).status == 0x02000086
    old_delete = cr.encode_delete_request(
        cr.DeleteRequest(folder="D:\\DCIM\\100PTPKT", name="IMG_0001.JPG")
    )
    # 0x0D/0x11 is DiskInfo2 here: the old payload is no drive, so it is refused.
    assert host.fixed("DiskInfo2", old_delete).status == 0x02000086
    listing = host.long(
        "GetDirEntries",
        cr.encode_dirents_request(cr.DirentsRequest(path="D:\\DCIM\\100PTPKT", depth=0)),
    )
    names = [d.name for d in cu.iter_dirents(listing)]
    assert b"IMG_0001.JPG" in names
    request = cr.DeleteRequest(folder="D:\\DCIM\\100PTPKT", name="IMG_0001.JPG")
    assert host.fixed("DeleteFile2", cr.encode_delete2_request(request)).ok
    assert host.fixed("DeleteFile2", cr.encode_delete2_request(request)).status == 0x02000022
    assert device.log[-1] == "DeleteFile2"
