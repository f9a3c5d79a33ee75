"""The USB transport through PyUSB, against the virtual camera as a USB device with faults.

The faults are the ways real cameras and cables misbehave (libgphoto2's usb.c copes with each):
a stalled pipe, a data phase cut short, a device that never sends zero-length packets, a slow
device, an unplugged cable, a device that refuses the class requests, an interface held by
another program. Each must end in the right error or in a working transfer, never in a hang, and
never with an incomplete file under its final name.
"""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import usb.core

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.client.connect import transport_for
from ptpkit.errors import (
    ConnectError,
    DisconnectedError,
    RemoteProtocolError,
    TransportError,
    UsageError,
)
from ptpkit.transports.usb import (
    UDEV_RULE,
    UsbSelector,
    busy_message,
    find_usb_cameras,
    parse_url,
    permission_message,
)
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.content import generated_bytes, generated_sha256
from ptpkit.virtual.usb_device import UsbFaults, VirtualUsbDevice, make_backend

MiB = 1 << 20


@pytest.fixture
def vcam(tmp_path: Path) -> Iterator[VirtualCamera]:
    (tmp_path / "card").mkdir()
    with VirtualCamera(tmp_path / "card") as camera:
        yield camera


def _open(vcam: VirtualCamera, faults: UsbFaults | None = None) -> Camera:
    return ptpkit.connect("virtual+usb:", camera=vcam, faults=faults or UsbFaults())


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- URLs and enumeration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "selector"),
    [
        ("usb:", UsbSelector()),
        ("usb:3,17", UsbSelector(bus=3, address=17)),
        ("usb:001,005", UsbSelector(bus=1, address=5)),  # gphoto2 --auto-detect's form
        ("usb:04a9:3218", UsbSelector(vendor_id=0x04A9, product_id=0x3218)),
        ("usb:serial=ABC123", UsbSelector(serial="ABC123")),
    ],
)
def test_parse_url(url: str, selector: UsbSelector) -> None:
    assert parse_url(url) == selector


@pytest.mark.parametrize(
    "url",
    [
        "usb:1",
        "usb:x,y",
        "usb:04a9",
        "usb:serial=",
        "ptpip:1.2.3.4",
        "usb:1," + "5" * 5000,  # was a bare ValueError (int()'s 4,300-digit limit)
        "usb:256,1",
        "usb:\u0661,\u0662",  # Arabic-Indic digits: int() took them
    ],
)
def test_parse_url_refuses_nonsense(url: str) -> None:
    with pytest.raises(UsageError):
        parse_url(url)


def test_enumeration_finds_the_still_image_interface(vcam: VirtualCamera) -> None:
    backend = make_backend(VirtualUsbDevice(vcam, bus=2, address=9))
    (camera,) = find_usb_cameras(backend)
    assert camera.kind == "ptp"
    assert camera.url == "usb:2,9"
    assert camera.ids == "1209:0001"
    assert camera.describe() == "ptpkit Virtual Camera (usb:2,9, 1209:0001, PTP)"


def test_several_cameras_must_be_chosen_between(vcam: VirtualCamera) -> None:
    backend = make_backend(
        VirtualUsbDevice(vcam, bus=1, address=4), VirtualUsbDevice(vcam, bus=1, address=5)
    )
    with pytest.raises(UsageError, match=r"several USB cameras.*usb:1,4.*usb:1,5"):
        transport_for("usb:", backend=backend)
    transport = transport_for("usb:1,5", backend=backend)
    assert transport.url == "usb:1,5"


def test_serial_selection_and_an_unreadable_serial(
    vcam: VirtualCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    """usb:serial= picks by the serial string; when strings cannot be read (no permission
    before the udev rule), the error says that rather than "no camera found"."""
    device = VirtualUsbDevice(vcam, bus=1, address=4)
    backend = make_backend(device)
    serial = vcam.personality.serial_number
    assert transport_for(f"usb:serial={serial}", backend=backend).url == "usb:1,4"
    with pytest.raises(ConnectError, match="no matching USB camera"):
        transport_for("usb:serial=OTHER", backend=backend)

    def refuse(*args: object) -> int:
        raise usb.core.USBError("Access denied", None, errno.EACCES)

    monkeypatch.setattr(device, "control", refuse)
    with pytest.raises(ConnectError, match="cannot read the serial number") as refused:
        transport_for(f"usb:serial={serial}", backend=backend)
    assert "udev-rules" in str(refused.value)


def test_no_camera_says_what_to_check() -> None:
    with pytest.raises(ConnectError, match="PTP/MTP"):
        transport_for("usb:", backend=make_backend())


def test_discovery_reports_usb_cameras(vcam: VirtualCamera) -> None:
    from ptpkit.discovery.usb import find_cameras

    (found,) = find_cameras(make_backend(VirtualUsbDevice(vcam, bus=1, address=3)))
    assert found.url == "usb:1,3"
    assert found.source == "usb"
    assert found.serial == vcam.personality.serial_number  # its iSerialNumber: usb:serial=...
    assert found.name == "ptpkit Virtual Camera"


# -- transfers -----------------------------------------------------------------------------------


def test_reads_are_large_not_512_bytes(vcam: VirtualCamera) -> None:
    handle = vcam.add_generated_object(8 * MiB + 5, seed=3)
    device = VirtualUsbDevice(vcam)
    calls: list[int] = []
    original = device.bulk_read

    def counting(buffer: object, timeout_ms: int) -> int:
        calls.append(len(buffer))  # type: ignore[arg-type]
        return original(buffer, timeout_ms)  # type: ignore[arg-type]

    device.bulk_read = counting  # type: ignore[method-assign]
    backend = make_backend(device)
    with Camera(transport_for("usb:", backend=backend)) as cam:
        entry = cam.entry(handle)
        calls.clear()
        sink = io.BytesIO()
        cam.download(entry, sink)
    assert _sha(sink.getvalue()) == _sha(generated_bytes(8 * MiB + 5, seed=3))
    # 1 MiB reads: 9 for the 8 MiB data container and 1 for the response, where 512-byte
    # reads (miniPtp's, camlib's) would be over 16,000. The read that waits for a transfer to
    # start asks for one packet (so close() can end the wait); the rest of a transfer is 1 MiB.
    assert calls[0] == 512
    assert calls.count(MiB) == 8
    assert all(size in (512, MiB) for size in calls)
    assert len(calls) <= 12


@pytest.mark.parametrize("size", [500, 512 - 12, 1024 - 12, MiB - 12, MiB, 3 * MiB + 7])
def test_uploads_end_right_on_packet_boundaries(
    vcam: VirtualCamera, tmp_path: Path, size: int
) -> None:
    """A data phase whose container is a whole number of packets must end with a zero-length
    packet, or the device would wait for more."""
    data = bytes((i * 13) % 256 for i in range(size))
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    with _open(vcam) as cam:
        entry = cam.upload(source)
        assert entry.size == size
    assert (vcam.root / "upload.bin").read_bytes() == data


@pytest.mark.parametrize("size", [512 - 12, 1024 - 12, 4096 - 12, MiB + 500, 2 * MiB - 12])
def test_a_device_without_zero_length_packets_still_works(vcam: VirtualCamera, size: int) -> None:
    """Without a ZLP after a whole-packet data container, the response arrives in the same read
    as the data's end (libgphoto2 keeps that surplus as the response; so does ptpkit): at the
    end of a read or inside one."""
    handle = vcam.add_generated_object(size, seed=4)
    with _open(vcam, UsbFaults(no_zlp=True)) as cam:
        sink = io.BytesIO()
        cam.download(handle, sink)
        assert sink.getvalue() == generated_bytes(size, seed=4)
        assert cam.storage_ids() == (0x00010001,)  # and the next transaction is fine


def test_objects_over_4_gib_are_read_to_the_end_of_the_transfer(vcam: VirtualCamera) -> None:
    """A data container of 4 GiB or more carries length 0xFFFFFFFF: read until a short packet."""
    size = 4 * 1024 * MiB + 1234
    handle = vcam.add_generated_object(size, seed=5)
    # The reference hash, computed while the download runs (hashlib releases the GIL).
    with concurrent.futures.ThreadPoolExecutor(1) as pool, _open(vcam) as cam:
        reference = pool.submit(generated_sha256, size, 5)
        digest = hashlib.sha256()
        total = 0

        class Hasher:
            def write(self, data: bytes) -> int:
                nonlocal total
                digest.update(data)
                total += len(data)
                return len(data)

        cam.download(handle, Hasher())  # type: ignore[arg-type]
        expected = reference.result()

    assert total == size
    assert digest.hexdigest() == expected


# -- faults --------------------------------------------------------------------------------------


def test_a_stall_mid_transfer_is_an_error_and_the_download_resumes_later(
    vcam: VirtualCamera, tmp_path: Path
) -> None:
    handle = vcam.add_generated_object(3 * MiB, seed=6)
    target = tmp_path / "stalled.bin"
    with (
        _open(vcam, UsbFaults(stall_after=MiB + 100)) as cam,
        pytest.raises(TransportError, match="stalled its data pipe"),
    ):
        cam.download(handle, target)
    assert not target.exists()
    assert target.with_name("stalled.bin.ptpkit-part").exists()
    with _open(vcam) as cam:  # reconnected: the .part is resumed
        cam.download(handle, target)
    assert target.read_bytes() == generated_bytes(3 * MiB, seed=6)


def test_a_stall_between_transfers_is_cleared_and_retried(vcam: VirtualCamera) -> None:
    device = VirtualUsbDevice(vcam)
    with Camera(transport_for("usb:", backend=make_backend(device))) as cam:
        device.halted_in = True  # the device stalled bulk IN while idle
        assert cam.storage_ids() == (0x00010001,)


def test_an_upload_stalled_midway_is_an_error_not_a_resend(
    vcam: VirtualCamera, tmp_path: Path
) -> None:
    """Part of the transfer was taken: sending it again would hand the camera wrong bytes."""
    data = bytes((i * 7) % 251 for i in range(2 * MiB))
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    with (
        _open(vcam, UsbFaults(stall_out_after=600 * 1024)) as cam,
        pytest.raises(TransportError, match="stalled its data pipe"),
    ):
        cam.upload(source)
    stored = vcam.root / "upload.bin"
    assert not stored.exists() or len(stored.read_bytes()) < len(data)  # never complete, wrong


def test_an_upload_stalled_before_its_first_byte_is_retried(
    vcam: VirtualCamera, tmp_path: Path
) -> None:
    source = tmp_path / "small.bin"
    source.write_bytes(b"retried")
    with _open(vcam, UsbFaults(stall_out_after=0)) as cam:
        entry = cam.upload(source)
    assert (vcam.root / entry.name).read_bytes() == b"retried"


def test_an_event_endpoint_that_keeps_stalling_ends_events_with_an_error(
    vcam: VirtualCamera,
) -> None:
    """Cleared each time, with a pause (no busy loop), then given up with an error on the event
    stream; transactions go on."""
    with _open(vcam, UsbFaults(stall_events=True)) as cam:
        with pytest.raises(TransportError, match="event endpoint stalls"):
            cam.next_event(timeout_s=10)
        assert cam.storage_ids() == (0x00010001,)


def test_a_data_phase_cut_short_is_an_error_and_no_file_is_left_complete(
    vcam: VirtualCamera, tmp_path: Path
) -> None:
    handle = vcam.add_generated_object(3 * MiB, seed=7)
    with (
        _open(vcam, UsbFaults(truncate_after=MiB + 3)) as cam,
        pytest.raises(RemoteProtocolError, match="before the end of the data phase"),
    ):
        cam.download(handle, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    assert (tmp_path / "out.bin.ptpkit-part").exists()


def test_unplugged_mid_transfer_is_a_disconnect_and_the_part_file_stays(
    vcam: VirtualCamera, tmp_path: Path
) -> None:
    handle = vcam.add_generated_object(4 * MiB, seed=8)
    with _open(vcam, UsbFaults(unplug_after=2 * MiB)) as cam:
        with pytest.raises(DisconnectedError, match="unplugged"):
            cam.download(handle, tmp_path / "clip.mov")
        part = tmp_path / "clip.mov.ptpkit-part"
        assert part.exists()
        assert 0 < part.stat().st_size < 4 * MiB
        assert not (tmp_path / "clip.mov").exists()
        # The camera object says the link is gone rather than hanging.
        with pytest.raises((DisconnectedError, ptpkit.ClosedError)):
            cam.storage_ids()


def test_a_slow_device_is_slow_but_correct(vcam: VirtualCamera) -> None:
    with _open(vcam, UsbFaults(delay_s=0.02)) as cam:
        assert cam.storage_ids() == (0x00010001,)


def test_cancel_with_the_class_requests_keeps_the_link_usable(
    vcam: VirtualCamera, tmp_path: Path
) -> None:
    handle = vcam.add_generated_object(6 * MiB, seed=9)

    def stop_after_a_mebibyte(done: int, total: int | None) -> None:
        if done > MiB:
            raise KeyboardInterrupt

    with _open(vcam) as cam:
        with pytest.raises(KeyboardInterrupt):
            cam.download(handle, tmp_path / "x.bin", progress=stop_after_a_mebibyte)
        # Cancel (0x64), Get Device Status (0x67), then the next transaction works.
        assert cam.storage_ids() == (0x00010001,)
        cam.download(handle, tmp_path / "x.bin")  # and resumes the .part
    assert (tmp_path / "x.bin").read_bytes() == generated_bytes(6 * MiB, seed=9)


def test_a_device_that_refuses_class_requests_still_works(
    vcam: VirtualCamera, tmp_path: Path
) -> None:
    handle = vcam.add_generated_object(3 * MiB, seed=10)

    def stop_early(done: int, total: int | None) -> None:
        if done > MiB:
            raise KeyboardInterrupt

    with _open(vcam, UsbFaults(refuse_class_requests=True)) as cam:
        assert cam.storage_ids() == (0x00010001,)
        with pytest.raises(KeyboardInterrupt):
            cam.download(handle, tmp_path / "y.bin", progress=stop_early)
        # Cancel was refused: the rest of the data phase was drained to its response instead.
        assert cam.storage_ids() == (0x00010001,)


def test_events_come_from_the_interrupt_endpoint(vcam: VirtualCamera) -> None:
    with _open(vcam) as cam:
        vcam.emit(0x400C, 0x00010001)  # StorageInfoChanged
        event = cam.next_event(timeout_s=5)
        assert event is not None
        assert (event.code, event.params) == (0x400C, (0x00010001,))


# -- what users are told -------------------------------------------------------------------------


def test_an_interface_held_elsewhere_is_a_clear_connect_error(vcam: VirtualCamera) -> None:
    with pytest.raises(ConnectError, match="in use by another program") as raised:
        _open(vcam, UsbFaults(claimed_elsewhere=True))
    assert "gio mount -s gphoto2" in str(raised.value)


def test_messages_for_permission_and_busy() -> None:
    class Device:
        bus, address = 1, 9

    assert "/dev/bus/usb/001/009" in permission_message(Device())
    assert "ptpkit udev-rules --write" in permission_message(Device())
    assert "gvfs" in busy_message(Device())


def test_the_udev_rule_matches_still_image_interfaces() -> None:
    assert 'ENV{ID_USB_INTERFACES}=="*:060101:*"' in UDEV_RULE
    assert 'TAG+="uaccess"' in UDEV_RULE


def test_extended_event_data_is_decoded_and_a_refusal_is_an_error(vcam: VirtualCamera) -> None:
    from ptpkit.core.usb import decode_extended_event
    from ptpkit.transports.usb import UsbTransport

    # wEventCode 0x4002, dwTransactionID 5, two parameters of 4 and 2 bytes (Annex D §5.2.2).
    raw = bytes.fromhex("0240 05000000 0200 0400 07000000 0200 3412")
    event = decode_extended_event(raw)
    assert (event.code, event.transaction_id) == (0x4002, 5)
    assert event.params == (bytes.fromhex("07000000"), bytes.fromhex("3412"))
    with pytest.raises(ptpkit.DecodeError):
        decode_extended_event(bytes.fromhex("0240 05000000 ffff"))
    with _open(vcam) as cam:
        transport = cam.transport
        assert isinstance(transport, UsbTransport)
        # The virtual device, like many cameras, does not support the request.
        with pytest.raises(TransportError):
            transport.extended_event_data()
        assert cam.storage_ids() == (0x00010001,)
