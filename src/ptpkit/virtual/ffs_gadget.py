"""The virtual camera as a real USB camera, through Linux FunctionFS.

On a machine with a USB device controller (a Raspberry Pi Zero, a board with OTG, or dummy_hcd),
``ptpkit virtual serve --usb-gadget`` makes the virtual camera a still-image USB device that any
computer or program (gphoto2, a phone, Windows) sees as a camera. The FunctionFS function must be
mounted and belong to a configfs gadget; ptpkit writes the interface's descriptors and strings to
``ep0``, then serves the endpoints it gets:

- ``ep1`` bulk OUT: commands and data from the host, fed to the responder;
- ``ep2`` bulk IN: data and responses, a zero-length packet after a transfer of whole packets;
- ``ep3`` interrupt IN: events;
- ``ep0``: the class requests Cancel, Get Device Status and Device Reset (ISO 15740 Annex D).

The layouts come from the kernel's ``include/uapi/linux/usb/functionfs.h`` and
``Documentation/usb/functionfs.rst``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import FileIO
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ptpkit._sync import Latch
from ptpkit.codes.common import Rc
from ptpkit.core.usb import (
    ClassRequest,
    DeviceStatus,
    UsbFraming,
    decode_cancel_request,
    encode_device_status,
)

if TYPE_CHECKING:
    from ptpkit.virtual.camera import VirtualCamera
    from ptpkit.virtual.responder import ResponderSession

log = logging.getLogger("ptpkit.virtual.usb")

# functionfs.h
_DESCRIPTORS_MAGIC_V2: Final = 3
_STRINGS_MAGIC: Final = 2
_HAS_FS_DESC: Final = 1
_HAS_HS_DESC: Final = 2
#: Vendor and class requests to any recipient (the device too) reach the function's ep0.
FUNCTIONFS_ALL_CTRL_RECIP: Final = 64
_EVENT: Final = struct.Struct("<BBHHHB3x")  # usb_ctrlrequest, then the event type
#: The kinds of ep0 events (enum usb_functionfs_event_type).
BIND, UNBIND, ENABLE, DISABLE, SETUP, SUSPEND, RESUME = range(7)

#: High-speed bulk packets (dummy_hcd and most device controllers are high speed).
HS_BULK_PACKET: Final = 512
FS_BULK_PACKET: Final = 64
INTERRUPT_PACKET: Final = 64
_READ_BYTES: Final = 1 << 20


def interface_descriptor(interface_class: int, subclass: int, protocol: int) -> bytes:
    """Interface 0, alternate setting 0, three endpoints, named by string 1."""
    # bLength, bDescriptorType, bInterfaceNumber, bAlternateSetting, bNumEndpoints,
    # bInterfaceClass, bInterfaceSubClass, bInterfaceProtocol, iInterface
    return struct.pack("<BBBBBBBBB", 9, 4, 0, 0, 3, interface_class, subclass, protocol, 1)


def endpoint_descriptor(address: int, attributes: int, max_packet: int, interval: int) -> bytes:
    return struct.pack("<BBBBHB", 7, 5, address, attributes, max_packet, interval)


def pack_descriptors(full: list[bytes], high: list[bytes], flags: int = 0) -> bytes:
    """The v2 descriptors block: full-speed and high-speed descriptor lists, and ``flags``."""
    body = struct.pack("<II", len(full), len(high)) + b"".join(full) + b"".join(high)
    flags |= _HAS_FS_DESC | _HAS_HS_DESC
    return struct.pack("<III", _DESCRIPTORS_MAGIC_V2, 12 + len(body), flags) + body


def descriptors() -> bytes:
    """Interface 6/1/1 with bulk OUT, bulk IN and interrupt IN, at full and high speed."""
    interface = interface_descriptor(6, 1, 1)  # still image, subclass 1, protocol 1
    full = [
        interface,
        endpoint_descriptor(0x01, 0x02, FS_BULK_PACKET, 0),
        endpoint_descriptor(0x82, 0x02, FS_BULK_PACKET, 0),
        endpoint_descriptor(0x83, 0x03, INTERRUPT_PACKET, 8),
    ]
    high = [
        interface,
        endpoint_descriptor(0x01, 0x02, HS_BULK_PACKET, 0),
        endpoint_descriptor(0x82, 0x02, HS_BULK_PACKET, 0),
        endpoint_descriptor(0x83, 0x03, INTERRUPT_PACKET, 8),  # interval 8: 2^(8-1) microframes
    ]
    return pack_descriptors(full, high)


def strings(interface_name: str = "PTP") -> bytes:
    """One language (en-US) with the interface's name."""
    body = struct.pack("<H", 0x0409) + interface_name.encode() + b"\0"
    return struct.pack("<IIII", _STRINGS_MAGIC, 16 + len(body), 1, 1) + body


@dataclass(frozen=True)
class ControlEvent:
    """One event read from ep0: its kind (BIND, ENABLE, SETUP...) and, for SETUP, the request."""

    kind: int
    request_type: int
    request: int
    value: int
    index: int
    length: int

    @property
    def inward(self) -> bool:
        """A request whose data stage goes to the host (answered by writing to ep0)."""
        return bool(self.request_type & 0x80)


def control_events(ep0: int, stopped: Callable[[], bool]) -> Iterator[ControlEvent]:
    """The events of ``ep0`` until ``stopped()`` or the function goes away."""
    while not stopped():
        try:
            raw = os.read(ep0, _EVENT.size * 4)
        except OSError as exc:
            if stopped():
                return
            if exc.errno in (errno.EINTR, errno.EAGAIN):
                continue
            log.warning("FunctionFS ep0: %s", exc)
            return
        if not raw:
            return  # not FunctionFS's ep0 any more (its reads block until an event comes)
        for offset in range(0, len(raw) - _EVENT.size + 1, _EVENT.size):
            request_type, request, value, index, length, kind = _EVENT.unpack_from(raw, offset)
            yield ControlEvent(kind, request_type, request, value, index, length)


def stall(ep0: int, event: ControlEvent) -> None:
    """Refuse a SETUP request: I/O on ep0 in the wrong direction halts it (functionfs.rst)."""
    with contextlib.suppress(OSError):
        if event.inward:
            os.read(ep0, 0)
        else:
            os.write(ep0, b"")


def bind_gadget(gadget: str | Path, vendor_id: int | None, product_id: int | None) -> str:
    """Give the configfs ``gadget`` these USB ids (None: leave it) and bind it to the first USB
    device controller; returns the controller's name."""
    controllers = sorted(os.listdir("/sys/class/udc"))
    if not controllers:
        raise OSError(errno.ENODEV, "no USB device controller in /sys/class/udc")
    # The gadget's attributes take new ids until it is bound.
    if vendor_id is not None:
        (Path(gadget) / "idVendor").write_text(f"0x{vendor_id:04X}\n")
    if product_id is not None:
        (Path(gadget) / "idProduct").write_text(f"0x{product_id:04X}\n")
    (Path(gadget) / "UDC").write_text(controllers[0] + "\n")
    return controllers[0]


class FunctionFsGadget:
    """Serves one VirtualCamera on a FunctionFS mount until stopped."""

    def __init__(self, camera: VirtualCamera, mount: str | Path) -> None:
        self.camera = camera
        self.mount = Path(mount)
        self._ep0 = -1
        self._session: ResponderSession | None = None
        self._enabled = threading.Event()
        self._stop = Latch()  # waited on by serve_forever: Ctrl-C safe (ptpkit._sync)
        self._threads: list[threading.Thread] = []
        self._bulk_in_halted = False
        #: Set by the responder when it queues events for the interrupt endpoint.
        self._events_waiting = threading.Event()

    def start(self) -> FunctionFsGadget:
        """Write the descriptors; the endpoints exist once this returns (bind the UDC then)."""
        try:
            self._ep0 = os.open(self.mount / "ep0", os.O_RDWR)
            os.write(self._ep0, descriptors())
            os.write(self._ep0, strings())
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot set up the FunctionFS function at {self.mount}: {exc.strerror}. Mount "
                "a FunctionFS instance of a configfs gadget there (see ptpkit virtual serve "
                "--help)",
            ) from exc
        self._spawn(self._control_loop, "ffs-ep0")
        return self

    def bind(self, gadget: str | Path) -> str:
        """Bind the configfs gadget to the first USB device controller; returns its name."""
        personality = self.camera.personality
        # A camera that has its own USB ids (a Canon EOS: Canon's vendor id, an EOS product id
        # that libgphoto2's table knows) shows them.
        return bind_gadget(gadget, personality.usb_vendor_id, personality.usb_product_id)

    def _spawn(self, target: object, name: str) -> None:
        assert callable(target)
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def serve_forever(self) -> None:
        try:
            self._stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._enabled.set()
        if self._ep0 >= 0:
            with contextlib.suppress(OSError):
                os.close(self._ep0)
            self._ep0 = -1
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- ep0: bus events and class requests --------------------------------------------------------

    def _control_loop(self) -> None:
        for event in control_events(self._ep0, self._stop.is_set):
            if event.kind == ENABLE:
                self._on_enable()
            elif event.kind in (DISABLE, UNBIND):
                self._enabled.clear()
            elif event.kind == SETUP:
                self._setup(event)

    def _on_enable(self) -> None:
        if self._session is None:
            self._session = self.camera.new_session(UsbFraming())
            self._session.on_event = self._events_waiting.set
            self._spawn(self._bulk_loop, "ffs-bulk")
            self._spawn(self._event_loop, "ffs-interrupt")
        self._enabled.set()
        log.info("USB host enabled the virtual camera")

    def _setup(self, event: ControlEvent) -> None:
        session = self._session
        request, length, inward = event.request, event.length, event.inward
        try:
            if event.request_type & 0x60 != 0x20 or session is None:
                raise _Stall
            if request == ClassRequest.GET_DEVICE_STATUS and inward:
                halted = (0x82,) if self._bulk_in_halted else ()
                status = encode_device_status(DeviceStatus(code=Rc.OK, params=halted))
                os.write(self._ep0, status[:length])
            elif request == ClassRequest.CANCEL and not inward:
                data = os.read(self._ep0, length)
                session.cancel(decode_cancel_request(data), respond=False)
            elif request == ClassRequest.DEVICE_RESET and not inward:
                os.read(self._ep0, 0)  # a read of nothing acknowledges a request without data
                session.reset()
            else:
                raise _Stall
        except (_Stall, ValueError, OSError) as exc:
            log.debug(
                "stalling control request 0x%02x/0x%02x: %r", event.request_type, request, exc
            )
            stall(self._ep0, event)

    # -- bulk: requests in, answers out ----------------------------------------------------------

    def _bulk_loop(self) -> None:
        buffer = bytearray(_READ_BYTES)
        view = memoryview(buffer)
        out = bytearray(_READ_BYTES)
        out_view = memoryview(out)
        while not self._stop.is_set():
            self._enabled.wait()
            try:
                with (
                    FileIO(self.mount / "ep1", "rb") as ep_out,
                    FileIO(self.mount / "ep2", "wb") as ep_in,
                ):
                    while not self._stop.is_set():
                        count = ep_out.readinto(buffer) or 0
                        session = self._session
                        if session is None:
                            return
                        # A read shorter than asked ended with a short packet: the transfer's end.
                        session.receive_data(view[:count], transfer_ended=count < len(buffer))
                        self._send_output(session, ep_in, out_view)
            except OSError as exc:
                if self._stop.is_set():
                    return
                # ESHUTDOWN and friends: the host went away or reset the bus; wait for ENABLE.
                log.info("USB endpoints closed (%s); waiting for the host", exc.strerror)
                self._enabled.clear()

    def _send_output(self, session: ResponderSession, ep_in: FileIO, out: memoryview) -> None:
        transfer = 0
        while True:
            count, boundary = session.read_output(out)
            if count:
                ep_in.write(out[:count])
                transfer += count
            if boundary:
                if transfer and transfer % HS_BULK_PACKET == 0:
                    ep_in.write(b"")  # a zero-length packet ends a transfer of whole packets
                transfer = 0
                continue
            if not count:
                return

    # -- interrupt: events -----------------------------------------------------------------------

    def _event_loop(self) -> None:
        framing = UsbFraming()
        while not self._stop.is_set():
            self._enabled.wait()
            try:
                with FileIO(self.mount / "ep3", "wb") as ep_event:
                    while not self._stop.is_set():
                        self._events_waiting.wait(0.5)
                        self._events_waiting.clear()
                        session = self._session
                        if session is None:
                            return
                        for event in session.take_events():
                            ep_event.write(b"".join(bytes(b) for b in framing.encode(event)))
            except OSError as exc:
                if self._stop.is_set():
                    return
                log.info("USB event endpoint closed (%s)", exc.strerror)
                self._enabled.clear()


class _Stall(Exception):
    """A control request this gadget does not answer."""
