"""The virtual PowerShot as a USB device, through PyUSB (the pattern of :mod:`.usb_device`).

``usb.core.find(backend=make_powershot_backend(device))`` finds a Canon camera with the
descriptors of a USB 1.1 PowerShot: 04A9:PID, full speed (64-byte bulk packets), one
configuration with one vendor-specific interface (class 0xFF) and three endpoints, bulk IN 0x81,
bulk OUT 0x02 and interrupt IN 0x83 (the G3's, canon-remote protocol.py CanonUSB.__init__;
libgphoto2 usb.c canon_usb_init sets inep 0x81, outep 0x02), string descriptors "Canon Inc." and
the model. Vendor control transfers go to the device's ``control_in`` / ``control_out``; a
:class:`~ptpkit.virtual.powershot.Stall` is an ep0 stall (EPIPE).

Transfers behave as on the wire, packet by packet: a bulk-IN read takes packets until its
buffer is full or a short packet ends the transfer; a transfer that ends on a packet boundary
runs on into the next (the camera sends no zero-length packets); a read whose buffer ends
inside a packet the camera sends fails as libusb's overflow does (LIBUSB_ERROR_OVERFLOW, errno
EOVERFLOW; the packet is lost), so a host must read in multiples of 64 bytes, or exactly what
is left, as libgphoto2 does. Nothing to send: the read times out as libusb reports it
(:class:`usb.core.USBTimeoutError`, errno 110).
"""

from __future__ import annotations

import array
import errno
import threading
import time
from typing import Any, Final

from ptpkit.virtual.powershot import PowerShotDevice, Stall
from ptpkit.virtual.usb_device import (
    _Descriptor,
    _endpoint,
    _fill,
    _timeout_error,
    _usb_error,
    make_bus_backend,
)

__all__ = [
    "BULK_IN",
    "BULK_OUT",
    "BULK_PACKET",
    "INTERRUPT_IN",
    "INTERRUPT_PACKET",
    "PowerShotUsbDevice",
    "make_powershot_backend",
]

#: Endpoints of a PowerShot G3 (vendors.md 5.1).
BULK_IN: Final = 0x81
BULK_OUT: Final = 0x02
INTERRUPT_IN: Final = 0x83
#: Full speed: bulk packets are 64 bytes (USB 1.1 section 5.8.3).
BULK_PACKET: Final = 64
#: The interrupt endpoint's packets: 16 bytes, so the 0x10-byte wake-up message is one packet
#: and some models "send it as 8 + 8" (vendors.md 5.3) would be 8; not documented for the G3.
INTERRUPT_PACKET: Final = 16
INTERRUPT_INTERVAL_MS: Final = 16

_GET_DESCRIPTOR: Final = 0x06
_DESCRIPTOR_STRING: Final = 0x03
_VENDOR_IN: Final = 0xC0
_VENDOR_OUT: Final = 0x40
_MANUFACTURER: Final = "Canon Inc."


def _overflow_error() -> Exception:
    import usb.core  # noqa: PLC0415

    # What PyUSB's libusb1 backend raises for LIBUSB_ERROR_OVERFLOW (-8).
    error: Exception = usb.core.USBError("Overflow", -8, errno.EOVERFLOW)
    return error


class PowerShotUsbDevice:
    """One virtual PowerShot on the virtual bus (the ``dev`` PyUSB's backend API passes)."""

    def __init__(self, device: PowerShotDevice, *, bus: int = 1, address: int = 9) -> None:
        self.device = device
        self.bus = bus
        self.address = address
        self.unplugged = False
        self.claimed = False
        self._lock = threading.Lock()
        #: The rest of an interrupt message a read took only part of.
        self._interrupt_rest = b""
        self.strings = {1: _MANUFACTURER, 2: device.personality.identify_name}
        self.device_descriptor = _Descriptor(
            {
                "bLength": 18,
                "bDescriptorType": 1,
                "bcdUSB": 0x0110,
                "bDeviceClass": 0,
                "bDeviceSubClass": 0,
                "bDeviceProtocol": 0,
                "bMaxPacketSize0": 8,
                "idVendor": device.vendor_id,
                "idProduct": device.product_id,
                "bcdDevice": 0x0001,
                "iManufacturer": 1,
                "iProduct": 2,
                "iSerialNumber": 0,
                "bNumConfigurations": 1,
                "address": address,
                "bus": bus,
                "port_number": 1,
                "port_numbers": (1,),
                "speed": 2,  # LIBUSB_SPEED_FULL
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
                "bmAttributes": 0xC0,  # self-powered (it has its battery)
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
                "bInterfaceClass": 0xFF,  # vendor-specific: not PTP
                "bInterfaceSubClass": 0xFF,
                "bInterfaceProtocol": 0xFF,
                "iInterface": 0,
                "extra_descriptors": [],
            }
        )
        self.endpoint_descriptors = [
            _endpoint(BULK_IN, 0x02, BULK_PACKET, 0),
            _endpoint(BULK_OUT, 0x02, BULK_PACKET, 0),
            _endpoint(INTERRUPT_IN, 0x03, INTERRUPT_PACKET, INTERRUPT_INTERVAL_MS),
        ]

    # -- life ------------------------------------------------------------------------------------

    def check(self) -> None:
        if self.unplugged:
            raise _usb_error("No such device (it may have been disconnected)", errno.ENODEV)

    def unplug(self) -> None:
        """Vanish from the bus, as if the cable was pulled (the camera goes back to sleep)."""
        self.unplugged = True
        self.device.reset()

    # -- transfers -------------------------------------------------------------------------------

    def bulk_read(self, buffer: array.array[int], timeout_ms: int) -> int:
        """Packets of the camera's bulk-IN transfers into ``buffer`` (see the module's notes)."""
        self.check()
        target = memoryview(buffer).cast("B")
        size = len(target)
        deadline = time.monotonic() + (timeout_ms / 1000 if timeout_ms else 3600.0)
        filled = 0
        while filled < size:
            want = size - filled
            # Ask for whole packets: what the camera sends beyond ``want`` is an overflow.
            ask = -(-want // BULK_PACKET) * BULK_PACKET
            remaining = deadline - time.monotonic()
            data, ended = self.device.read_bulk_in(ask, max(0.0, remaining))
            self.check()
            if not data:
                # libusb reports the timeout (and PyUSB drops what the transfer got so far).
                raise _timeout_error()
            if len(data) > want:
                raise _overflow_error()
            target[filled : filled + len(data)] = data
            filled += len(data)
            if ended and len(data) % BULK_PACKET:
                break  # a short packet: the transfer, and the read, end here
        return filled

    def bulk_write(self, data: array.array[int], timeout_ms: int) -> int:
        self.check()
        self.device.write_bulk_out(bytes(data))
        return len(data)

    def interrupt_read(self, buffer: array.array[int], timeout_ms: int) -> int:
        self.check()
        size = len(buffer)
        with self._lock:
            message = self._interrupt_rest
            self._interrupt_rest = b""
        if not message:
            timeout_s = timeout_ms / 1000 if timeout_ms else None
            got = self.device.read_interrupt(timeout_s)
            self.check()
            if got is None:
                raise _timeout_error()
            message = got
        if len(message) <= size:
            _fill(buffer, message)
            return len(message)
        if size % INTERRUPT_PACKET:
            raise _overflow_error()  # the buffer ends inside a packet
        with self._lock:
            self._interrupt_rest = message[size:]
        _fill(buffer, message[:size])
        return size

    def control(
        self, request_type: int, request: int, value: int, index: int, data: array.array[int]
    ) -> int:
        self.check()
        if request_type == 0x80 and request == _GET_DESCRIPTOR and value >> 8 == _DESCRIPTOR_STRING:
            return _fill(data, self._string_descriptor(value & 0xFF))
        try:
            if request_type == _VENDOR_IN:
                return _fill(data, self.device.control_in(request, value, index, len(data)))
            if request_type == _VENDOR_OUT:
                self.device.control_out(request, value, index, bytes(data))
                return len(data)
        except Stall:
            raise _usb_error("Pipe error", errno.EPIPE) from None
        raise _usb_error("Pipe error", errno.EPIPE)  # a request this camera does not know

    def _string_descriptor(self, index: int) -> bytes:
        if index == 0:
            return bytes([4, _DESCRIPTOR_STRING, 0x09, 0x04])  # en-US
        text = self.strings.get(index)
        if text is None:
            raise _usb_error("Pipe error", errno.EPIPE)
        encoded = text.encode("utf-16-le")
        return bytes([2 + len(encoded), _DESCRIPTOR_STRING]) + encoded

    def claim(self) -> None:
        self.check()
        self.claimed = True

    def release(self) -> None:
        self.claimed = False

    #: Transfers may overlap (an interrupt read beside a bulk one), as on libusb1.
    serialises_transfers: Final = False

    def clear_halt(self, endpoint: int) -> None:
        self.check()  # nothing halts here: a refused control request stalls ep0 only

    def reset(self) -> None:
        """USB's port reset: the camera drops what it was sending and waits for commands."""
        self.check()
        self.device.reset()


def make_powershot_backend(*devices: PowerShotDevice | PowerShotUsbDevice) -> Any:
    """A PyUSB backend whose bus holds these virtual PowerShots (the virtual PTP camera's
    backend, :func:`ptpkit.virtual.usb_device.make_bus_backend`: a handle per open)."""
    return make_bus_backend(
        [
            d if isinstance(d, PowerShotUsbDevice) else PowerShotUsbDevice(d, address=9 + i)
            for i, d in enumerate(devices)
        ]
    )
