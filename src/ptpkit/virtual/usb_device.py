"""The virtual camera as a USB device, through PyUSB: ``ptpkit.connect("virtual+usb:")``.

:class:`VirtualUsbBackend` implements PyUSB's ``usb.backend.IBackend`` (pyusb's own test double is
the pattern), so ``usb.core.find(backend=...)`` finds a still-image camera with real descriptors:
a device, one configuration, interface 6/1/1 with bulk OUT, bulk IN and interrupt IN endpoints,
and string descriptors. The whole USB transport then runs through PyUSB unchanged, against the
virtual camera's responder.

The device behaves as a USB device does: a bulk-IN read ends at the end of a transfer (a short
packet), a transfer whose length is a multiple of wMaxPacketSize is followed by a zero-length
packet, nothing to send means the read times out, the class requests Cancel (0x64), Device Reset
(0x66) and Get Device Status (0x67) are answered. :class:`UsbFaults` makes it misbehave on purpose:
stall, end a data phase early, leave out the zero-length packet, answer slowly, vanish, refuse the
class requests; and it plays backends other than libusb1: timeouts reported as a plain
``USBError`` (libusb0, openusb, bridges), one transfer at a time (``serialise_transfers``).
"""

from __future__ import annotations

import array
import contextlib
import errno
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from ptpkit.codes.common import Rc
from ptpkit.core.events import Event
from ptpkit.core.link import LinkFault
from ptpkit.core.state import Phase
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

#: pid.codes' test VID/PID: for testing only, never shipped in a product.
VENDOR_ID: Final = 0x1209
PRODUCT_ID: Final = 0x0001
#: Endpoint addresses, and high-speed bulk packets.
BULK_OUT: Final = 0x01
BULK_IN: Final = 0x82
INTERRUPT_IN: Final = 0x83
MAX_PACKET: Final = 512
INTERRUPT_PACKET: Final = 64

#: The interface's string (libmtp and gphoto2 look for "MTP" in it to spot MTP devices).
INTERFACE_STRING: Final = "PTP"
_GET_DESCRIPTOR: Final = 0x06
_DESCRIPTOR_STRING: Final = 0x03


def _usb_error(message: str, code: int) -> Exception:
    import usb.core  # noqa: PLC0415

    error: Exception = usb.core.USBError(message, None, code)
    return error


#: How :attr:`UsbFaults.timeouts_as` reports a timeout: a plain USBError (not USBTimeoutError)
#: with errno 110 (ETIMEDOUT as Linux numbers it), or with only libusb's LIBUSB_ERROR_TIMEOUT
#: (-7) as its backend code, as backends other than PyUSB's libusb1 may.
TIMEOUT_FORMS: Final = ("errno", "libusb_code")


def _timeout_error(form: str | None = None) -> Exception:
    import usb.core  # noqa: PLC0415

    error: Exception
    if form == "errno":
        error = usb.core.USBError("Connection timed out", None, 110)
    elif form == "libusb_code":
        error = usb.core.USBError("LIBUSB_ERROR_TIMEOUT", -7, None)
    else:
        error = usb.core.USBTimeoutError("Operation timed out", None, errno.ETIMEDOUT)
    return error


@dataclass
class UsbFaults:
    """Ways the virtual USB camera can misbehave (all off by default)."""

    #: Stall bulk IN once after this many bytes of a data phase (cleared by clear_halt).
    stall_after: int | None = None
    #: End the data-in transfer early after this many bytes (the rest of the phase is lost).
    truncate_after: int | None = None
    #: Never send zero-length packets: a transfer of whole packets runs into the next one.
    no_zlp: bool = False
    #: Wait this long before answering each bulk transfer.
    delay_s: float = 0.0
    #: Vanish (as if unplugged) after this many bulk-IN bytes in all.
    unplug_after: int | None = None
    #: Stall every class request (Cancel, Get Device Status, Device Reset...).
    refuse_class_requests: bool = False
    #: Claiming the interface fails as if another program held it.
    claimed_elsewhere: bool = False
    #: Stall bulk OUT once, refusing the write that would pass this many bytes of a transfer.
    stall_out_after: int | None = None
    #: The interrupt (event) endpoint stalls on every read, however often it is cleared.
    stall_events: bool = False
    #: Report timeouts as a plain USBError: "errno" (errno 110) or "libusb_code" (code -7).
    timeouts_as: str | None = None
    #: Take commands but never answer, as a camera that hangs: bulk-IN reads time out.
    silent: bool = False
    #: One transfer at a time, as some backends (libusb0 on some platforms, network bridges):
    #: a transfer waits while another runs, an interrupt read that waits included.
    serialise_transfers: bool = False
    #: Take no more bulk OUT after this many bytes of a transaction (a camera that stopped
    #: reading): each later OUT transfer NAKs until its timeout, for ever with libusb's 0.
    stop_out_after: int | None = None


class _FairLock:
    """One transfer at a time, in the order they were asked for (a bridge queues requests): a
    transfer that waits is served before the next interrupt read, not overtaken by it."""

    def __init__(self) -> None:
        self._turns = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._turns:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._turns.wait()

    def __exit__(self, *exc: object) -> None:
        with self._turns:
            self._serving += 1
            self._turns.notify_all()


@dataclass
class _Descriptor:
    """Attributes PyUSB's core reads from a backend's descriptor objects."""

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


class VirtualUsbDevice:
    """One virtual camera on a virtual bus (the ``dev`` object PyUSB's backend API passes)."""

    def __init__(
        self,
        camera: VirtualCamera,
        *,
        bus: int = 1,
        address: int = 7,
        faults: UsbFaults | None = None,
    ) -> None:
        self.camera = camera
        self.bus = bus
        self.address = address
        self.faults = faults or UsbFaults()
        self.session: ResponderSession | None = None
        self.unplugged = False
        self.halted_in = False
        self._zlp_pending = False
        self._phase_bytes = 0  # bulk-IN bytes since the last command
        self._total_in = 0
        self._stalled_once = False
        self._out_bytes = 0  # bulk-OUT bytes since the last command
        self._stalled_out_once = False
        self._truncating = False
        self._events = threading.Condition()
        self._one_transfer = _FairLock()  # serialise_transfers
        self._pending_events: list[Event] = []
        self._event_framing = UsbFraming()
        personality = camera.personality
        self.strings = {
            1: personality.manufacturer,
            2: personality.model,
            3: personality.serial_number,
            4: INTERFACE_STRING,
        }
        self.device_descriptor = _Descriptor(
            {
                "bLength": 18,
                "bDescriptorType": 1,
                "bcdUSB": 0x0200,
                "bDeviceClass": 0,  # defined per interface
                "bDeviceSubClass": 0,
                "bDeviceProtocol": 0,
                "bMaxPacketSize0": 64,
                "idVendor": personality.usb_vendor_id or VENDOR_ID,
                "idProduct": personality.usb_product_id or PRODUCT_ID,
                "bcdDevice": 0x0100,
                "iManufacturer": 1,
                "iProduct": 2,
                "iSerialNumber": 3,
                "bNumConfigurations": 1,
                "address": address,
                "bus": bus,
                "port_number": 1,
                "port_numbers": (1,),
                "speed": 3,  # high speed
            }
        )
        self.configuration_descriptor = _Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 2,
                "wTotalLength": 9 + 9 + 3 * 7,
                "bNumInterfaces": 1,
                "bConfigurationValue": 1,
                "iConfiguration": 0,
                "bmAttributes": 0xC0,  # self-powered
                "bMaxPower": 1,
                "extra_descriptors": [],
            }
        )
        self.interface_descriptor = _Descriptor(
            {
                "bLength": 9,
                "bDescriptorType": 4,
                "bInterfaceNumber": 0,
                "bAlternateSetting": 0,
                "bNumEndpoints": 3,
                "bInterfaceClass": 6,  # still image capture (ISO 15740 Annex D)
                "bInterfaceSubClass": 1,
                "bInterfaceProtocol": 1,
                "iInterface": 4,
                "extra_descriptors": [],
            }
        )
        self.endpoint_descriptors = [
            _endpoint(BULK_OUT, 0x02, MAX_PACKET, 0),
            _endpoint(BULK_IN, 0x02, MAX_PACKET, 0),
            _endpoint(INTERRUPT_IN, 0x03, INTERRUPT_PACKET, 8),
        ]

    # -- life ------------------------------------------------------------------------------------

    def check(self) -> None:
        if self.unplugged:
            raise _usb_error("No such device (it may have been disconnected)", errno.ENODEV)

    def unplug(self) -> None:
        """Vanish from the bus, as if the cable was pulled."""
        self.unplugged = True
        with self._events:
            self._events.notify_all()

    def claim(self) -> None:
        self.check()
        if self.faults.claimed_elsewhere:
            raise _usb_error("Resource busy", errno.EBUSY)
        if self.session is None:
            self.session = self.camera.new_session(UsbFraming())
            self.session.on_event = self._event_ready

    def release(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def _require_session(self) -> ResponderSession:
        self.check()
        if self.session is None:
            raise _usb_error("interface not claimed", errno.EACCES)
        return self.session

    # -- bulk OUT --------------------------------------------------------------------------------

    def _serialised(self) -> contextlib.AbstractContextManager[Any]:
        """The whole transfer under one lock when the device plays a serialising backend."""
        if self.faults.serialise_transfers:
            return self._one_transfer
        return contextlib.nullcontext()

    def bulk_write(self, data: array.array[int], timeout_ms: int = 0) -> int:
        with self._serialised():
            return self._bulk_write(data, timeout_ms)

    def _bulk_write(self, data: array.array[int], timeout_ms: int = 0) -> int:
        session = self._require_session()
        self._delay()
        stop = self.faults.stop_out_after
        if stop is not None and session.connection.in_transaction and self._out_bytes >= stop:
            self._wait_silently(timeout_ms)  # NAKed: nothing of it is taken
        # A USB transfer ends with a short packet (or a zero-length one).
        ended = len(data) % MAX_PACKET != 0 or len(data) == 0
        if len(data) and not session.connection.in_transaction:
            self._phase_bytes = 0
            self._out_bytes = 0
            self._truncating = False
        limit = self.faults.stall_out_after
        if limit is not None and not self._stalled_out_once and self._out_bytes + len(data) > limit:
            self._stalled_out_once = True
            raise _usb_error("Pipe error", errno.EPIPE)  # none of this write was taken
        self._out_bytes += len(data)
        session.receive_data(bytes(data), transfer_ended=ended)
        return len(data)

    # -- bulk IN ---------------------------------------------------------------------------------

    def bulk_read(self, buffer: array.array[int], timeout_ms: int) -> int:
        with self._serialised():
            return self._bulk_read(buffer, timeout_ms)

    def _bulk_read(self, buffer: array.array[int], timeout_ms: int) -> int:
        session = self._require_session()
        self._delay()
        if self.halted_in:
            raise _usb_error("Pipe error", errno.EPIPE)
        if self._zlp_pending:
            self._zlp_pending = False
            return 0
        target = memoryview(buffer).cast("B")
        faults = self.faults
        if faults.silent:
            self._wait_silently(timeout_ms)
        limit = len(target)
        # A stall or an unplug inside a transfer fails the whole read (libusb reports the error,
        # and PyUSB drops the bytes that transfer had received); the device has sent the bytes
        # up to that point, so they are gone.
        stall_at = unplug_at = None
        if faults.stall_after is not None and not self._stalled_once:
            stall_at = max(0, faults.stall_after - self._phase_bytes)
            limit = min(limit, stall_at)
        if faults.unplug_after is not None:
            unplug_at = max(0, faults.unplug_after - self._total_in)
            limit = min(limit, unplug_at)
        deadline = time.monotonic() + (timeout_ms / 1000 if timeout_ms else 3600)
        filled = 0
        while True:
            try:
                count, boundary = session.read_output(target[filled:limit])
            except LinkFault as fault:
                if fault.action == "disconnect":
                    self.unplug()
                    self.check()
                self.halted_in = True  # a stall: the pipe halts until the host clears it
                raise _usb_error("Pipe error", errno.EPIPE) from None
            filled += count
            if faults.truncate_after is not None and not self._truncating:
                over = self._phase_bytes + filled - faults.truncate_after
                if over >= 0 and filled:
                    # End the transfer here and throw away the rest of the data phase; the
                    # response still follows, as from a device that lost part of an object.
                    self._truncating = True
                    filled -= over
                    self._discard_data_phase(session)
                    break
            if boundary:
                if filled and filled % MAX_PACKET == 0:
                    if faults.no_zlp and filled < len(target):
                        continue  # no zero-length packet: the next transfer runs on
                    if filled == len(target):
                        self._zlp_pending = True  # the host reads the ZLP next
                break
            if filled == limit:
                break
            if count == 0:
                if filled:
                    break
                if time.monotonic() >= deadline:
                    raise _timeout_error(faults.timeouts_as)
                time.sleep(0.002)  # a device with nothing to say NAKs until it has something
        self._phase_bytes += filled
        self._total_in += filled
        if unplug_at is not None and filled >= unplug_at and filled < len(target):
            self.unplug()
            self.check()
        if stall_at is not None and filled >= stall_at and filled < len(target):
            self._stalled_once = True
            self.halted_in = True
            raise _usb_error("Pipe error", errno.EPIPE)
        return filled

    def _wait_silently(self, timeout_ms: int) -> None:
        deadline = time.monotonic() + (timeout_ms / 1000 if timeout_ms else 3600)
        while time.monotonic() < deadline:
            self.check()
            time.sleep(0.005)
        raise _timeout_error(self.faults.timeouts_as)

    def _discard_data_phase(self, session: ResponderSession) -> None:
        """Drop what is left of the data phase being sent (keeps the response)."""
        scratch = bytearray(1 << 20)
        view = memoryview(scratch)
        while session.connection.phase is Phase.RESPONDER_DATA:
            count, _ = session.read_output(view)
            if count == 0:
                break

    def _delay(self) -> None:
        if self.faults.delay_s:
            time.sleep(self.faults.delay_s)

    # -- interrupt IN ----------------------------------------------------------------------------

    def _event_ready(self) -> None:
        session = self.session
        if session is None:
            return
        events = session.take_events()
        with self._events:
            self._pending_events.extend(events)
            self._events.notify_all()

    def interrupt_read(self, buffer: array.array[int], timeout_ms: int) -> int:
        with self._serialised():
            return self._interrupt_read(buffer, timeout_ms)

    def _interrupt_read(self, buffer: array.array[int], timeout_ms: int) -> int:
        self._require_session()
        if self.faults.stall_events:
            raise _usb_error("Pipe error", errno.EPIPE)
        deadline = time.monotonic() + (timeout_ms / 1000 if timeout_ms else 3600)
        with self._events:
            while not self._pending_events:
                self.check()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timeout_error(self.faults.timeouts_as)
                self._events.wait(remaining)
            event = self._pending_events.pop(0)
        data = b"".join(bytes(b) for b in self._event_framing.encode(event))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    # -- control ---------------------------------------------------------------------------------

    def control(
        self, request_type: int, request: int, value: int, index: int, data: array.array[int]
    ) -> int:
        with self._serialised():
            return self._control(request_type, request, value, index, data)

    def _control(
        self, request_type: int, request: int, value: int, index: int, data: array.array[int]
    ) -> int:
        self.check()
        if request_type == 0x80 and request == _GET_DESCRIPTOR and value >> 8 == _DESCRIPTOR_STRING:
            return _fill(data, self._string_descriptor(value & 0xFF))
        if request_type in (0x21, 0xA1):
            if self.faults.refuse_class_requests:
                raise _usb_error("Pipe error", errno.EPIPE)
            return self._class_request(request, data)
        raise _usb_error("Pipe error", errno.EPIPE)  # a request this device does not know

    def _string_descriptor(self, index: int) -> bytes:
        if index == 0:
            return bytes([4, _DESCRIPTOR_STRING, 0x09, 0x04])  # one language: en-US
        text = self.strings.get(index)
        if text is None:
            raise _usb_error("Pipe error", errno.EPIPE)
        encoded = text.encode("utf-16-le")
        return bytes([2 + len(encoded), _DESCRIPTOR_STRING]) + encoded

    def _class_request(self, request: int, data: array.array[int]) -> int:
        session = self._require_session()
        if request == ClassRequest.CANCEL:
            transaction_id = decode_cancel_request(bytes(data))
            # USB: the transaction stops, no response; the host polls Get Device Status.
            session.cancel(transaction_id, respond=False)
            self._zlp_pending = False
            return len(data)
        if request == ClassRequest.DEVICE_RESET:
            session.reset()
            self._zlp_pending = False
            self.halted_in = False
            return 0
        if request == ClassRequest.GET_DEVICE_STATUS:
            halted = (BULK_IN,) if self.halted_in else ()
            status = DeviceStatus(code=Rc.OK, params=halted)
            return _fill(data, encode_device_status(status))
        raise _usb_error("Pipe error", errno.EPIPE)  # Get Extended Event Data: not supported

    @property
    def serialises_transfers(self) -> bool:
        """One transfer at a time, as libusb0, openusb and bridges (UsbFaults)."""
        return self.faults.serialise_transfers

    def reset(self) -> None:
        """USB's port reset: the session goes back to its start (ISO 15740 D.7.2.4)."""
        self.check()
        if self.session is not None:
            self.session.reset()

    def clear_halt(self, endpoint: int) -> None:
        self.check()
        if endpoint == BULK_IN:
            self.halted_in = False


def _endpoint(address: int, attributes: int, max_packet: int, interval: int) -> _Descriptor:
    return _Descriptor(
        {
            "bLength": 7,
            "bDescriptorType": 5,
            "bEndpointAddress": address,
            "bmAttributes": attributes,
            "wMaxPacketSize": max_packet,
            "bInterval": interval,
            "bRefresh": 0,
            "bSynchAddress": 0,
            "extra_descriptors": [],
        }
    )


def _fill(buffer: array.array[int], data: bytes) -> int:
    count = min(len(buffer), len(data))
    memoryview(buffer).cast("B")[:count] = data[:count]
    return count


class BusDevice(Protocol):
    """What :func:`make_bus_backend` needs of a virtual USB device (a PTP camera here, the
    PowerShot of :mod:`ptpkit.virtual.powershot_usb`): its descriptors, its state, and its
    transfers in PyUSB's terms (timeouts in ms, reads into ``array.array`` buffers)."""

    unplugged: bool
    device_descriptor: Any
    configuration_descriptor: Any
    interface_descriptor: Any
    endpoint_descriptors: Any

    @property
    def serialises_transfers(self) -> bool: ...

    def check(self) -> None: ...

    def claim(self) -> None: ...

    def release(self) -> None: ...

    def bulk_write(self, data: array.array[int], timeout_ms: int) -> int: ...

    def bulk_read(self, buffer: array.array[int], timeout_ms: int) -> int: ...

    def interrupt_read(self, buffer: array.array[int], timeout_ms: int) -> int: ...

    def control(
        self, request_type: int, request: int, value: int, index: int, data: Any
    ) -> int: ...

    def clear_halt(self, endpoint: int) -> None: ...

    def reset(self) -> None: ...


class _Handle:
    """One open of a device (libusb's device handle): what it claimed is released when it
    closes, and only then. Without it, a second program (or thread) that opens the device just
    to read its serial number, then closes it, released the first one's session: what a rig
    opening USB cameras in parallel did (``usb:serial=`` reads every camera's serial number)."""

    def __init__(self, device: BusDevice) -> None:
        self.device = device
        self.claimed = False

    def let_go(self) -> None:
        if self.claimed:
            self.claimed = False
            self.device.release()


def make_backend(*devices: VirtualUsbDevice) -> Any:
    """A PyUSB backend whose bus holds ``devices``."""
    return make_bus_backend(devices)


def make_bus_backend(devices: Sequence[BusDevice]) -> Any:
    """A PyUSB backend (``usb.backend.IBackend``; pyusb's own test double is the pattern) whose
    bus holds ``devices``: one interface each, its endpoints, a handle per open. The PTP
    virtual camera and the virtual PowerShot share it."""
    import usb.backend  # noqa: PLC0415  (PyUSB loads only when this is used)

    class VirtualUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
        """PyUSB's backend interface over virtual devices (see usb.backend.IBackend)."""

        def __init__(self) -> None:
            self.devices = list(devices)

        @property
        def serialises_transfers(self) -> bool:
            """What ``events="auto"`` asks a backend (ptpkit.transports.usb.events_mode)."""
            return any(d.serialises_transfers for d in self.devices)

        def enumerate_devices(self) -> list[BusDevice]:
            return [d for d in self.devices if not d.unplugged]

        def get_parent(self, dev: BusDevice) -> None:
            return None

        def get_device_descriptor(self, dev: BusDevice) -> Any:
            return dev.device_descriptor

        def get_configuration_descriptor(self, dev: BusDevice, config: int) -> Any:
            return dev.configuration_descriptor

        def get_interface_descriptor(self, dev: BusDevice, intf: int, alt: int, config: int) -> Any:
            if intf != 0 or alt != 0:
                raise IndexError("no such interface")
            return dev.interface_descriptor

        def get_endpoint_descriptor(
            self, dev: BusDevice, ep: int, intf: int, alt: int, config: int
        ) -> Any:
            return dev.endpoint_descriptors[ep]

        def open_device(self, dev: BusDevice) -> _Handle:
            dev.check()
            return _Handle(dev)

        def close_device(self, dev_handle: _Handle) -> None:
            dev_handle.let_go()

        def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
            dev_handle.device.check()

        def get_configuration(self, dev_handle: _Handle) -> int:
            dev_handle.device.check()
            return 1

        def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
            dev_handle.device.check()

        def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
            dev_handle.device.claim()
            dev_handle.claimed = True

        def release_interface(self, dev_handle: _Handle, intf: int) -> None:
            dev_handle.let_go()

        def bulk_write(
            self, dev_handle: _Handle, ep: int, intf: int, data: Any, timeout: int
        ) -> int:
            return dev_handle.device.bulk_write(data, timeout)

        def bulk_read(
            self, dev_handle: _Handle, ep: int, intf: int, buff: Any, timeout: int
        ) -> int:
            return dev_handle.device.bulk_read(buff, timeout)

        def intr_read(
            self, dev_handle: _Handle, ep: int, intf: int, buff: Any, timeout: int
        ) -> int:
            return dev_handle.device.interrupt_read(buff, timeout)

        def ctrl_transfer(  # noqa: PLR0917  (PyUSB's IBackend signature)
            self,
            dev_handle: _Handle,
            bmRequestType: int,  # noqa: N803  (PyUSB's parameter names)
            bRequest: int,  # noqa: N803
            wValue: int,  # noqa: N803
            wIndex: int,  # noqa: N803
            data: Any,
            timeout: int,
        ) -> int:
            return dev_handle.device.control(bmRequestType, bRequest, wValue, wIndex, data)

        def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
            dev_handle.device.clear_halt(ep)

        def reset_device(self, dev_handle: _Handle) -> None:
            dev_handle.device.reset()

        def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
            return False

        def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
            pass

        def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
            pass

    return VirtualUsbBackend()


__all__ = ["BusDevice", "UsbFaults", "VirtualUsbDevice", "make_backend", "make_bus_backend"]
