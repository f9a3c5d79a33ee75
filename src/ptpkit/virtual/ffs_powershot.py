"""The virtual Canon PowerShot as a real USB device, through Linux FunctionFS.

A PowerShot of Canon's pre-PTP protocol (issue 16) is a vendor-specific USB device: the host
sends every command as a vendor control write on ep0 and reads the camera's wake-up values with
vendor control reads; replies come back on bulk IN, capture news on interrupt IN (vendors.md 5.1
and 5.2, from libgphoto2's camlibs/canon/usb.c and canon-remote). ``ptpkit virtual serve
--usb-gadget --model powershot-g3`` makes :class:`~ptpkit.virtual.powershot.PowerShotDevice`
such a device on a FunctionFS function of a configfs gadget:

- ``ep0``: vendor requests with any recipient (``FUNCTIONFS_ALL_CTRL_RECIP``: without it the
  kernel's composite layer refuses device-recipient requests, the only kind the camera gets; in
  the USB lab the first wake-up read then stalls and gphoto2 says "Could not establish initial
  contact with camera").
  An IN request is answered by writing the device's reply to ep0, an OUT one by reading its data
  from ep0; anything else stalls. ``FUNCTIONFS_CONFIG0_SETUP`` is not needed: the host's kernel
  selects the only configuration when it enumerates the device, before any program talks to it;
- ``ep1`` bulk IN (0x81 in the descriptors): the device's replies, each transfer as the device
  queued it and never a zero-length packet (the host reads exact lengths: libgphoto2 reads a
  reply's first 0x40 bytes, then the rest);
- ``ep2`` bulk OUT (0x02): data from the host (uploads), to the device;
- ``ep3`` interrupt IN (0x83): the device's interrupt messages (the wake-up's 0x10 bytes, capture
  progress).

The device controller decides the endpoint numbers the host finally sees (dummy_hcd has no
interrupt endpoint 3: there it is 0x85); hosts find them in the descriptors. The gadget shows
the model's USB ids and is a full-speed device, as a G3 (USB 1.1) is: 64-byte bulk packets, so
that a host reading 0x40 bytes of a longer reply gets a whole packet, never an overflow. A class 6
body (EOS 20D, 350D: USB 2.0) is high speed: the new protocol reads every reply whole (lgc usb.c
canon_usb_camera_init reads the init answer's 0x44 bytes at once, canon_usb_dialogue_full and
canon_usb_long_dialogue their exact lengths), so 512-byte packets never split a read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from io import FileIO
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ptpkit._sync import Latch
from ptpkit.virtual.ffs_gadget import (
    DISABLE,
    ENABLE,
    FS_BULK_PACKET,
    FUNCTIONFS_ALL_CTRL_RECIP,
    HS_BULK_PACKET,
    INTERRUPT_PACKET,
    SETUP,
    UNBIND,
    ControlEvent,
    bind_gadget,
    control_events,
    endpoint_descriptor,
    interface_descriptor,
    pack_descriptors,
    stall,
    strings,
)
from ptpkit.virtual.powershot import Stall

if TYPE_CHECKING:
    from ptpkit.virtual.powershot import PowerShotDevice

log = logging.getLogger("ptpkit.virtual.usb")

#: bmRequestType's type bits: vendor.
_VENDOR: Final = 0x40
_TYPE_MASK: Final = 0x60
#: Bytes asked of the device per bulk-IN write: whole packets at either speed.
_BULK_CHUNK: Final = 64 * 1024
_READ_BYTES: Final = 64 * 1024
#: How long an endpoint thread waits for the device before looking at the stop flag again.
_POLL_S: Final = 0.5
#: Manufacturer and product strings of Canon's cameras of the time (what a G3 shows in lsusb).
MANUFACTURER: Final = "Canon Inc."
PRODUCT: Final = "Canon Digital Camera"


def descriptors() -> bytes:
    """A vendor-specific interface (class 0xFF) with bulk IN 0x81, bulk OUT 0x02 and interrupt
    IN 0x83 (a G3's, vendors.md 5.1), at full and high speed; vendor requests to the device
    reach ep0."""

    def endpoints(bulk_packet: int, interval: int) -> list[bytes]:
        return [
            interface_descriptor(0xFF, 0xFF, 0xFF),
            endpoint_descriptor(0x81, 0x02, bulk_packet, 0),
            endpoint_descriptor(0x02, 0x02, bulk_packet, 0),
            endpoint_descriptor(0x83, 0x03, INTERRUPT_PACKET, interval),
        ]

    # Interrupt interval: 10 frames at full speed; 2^(7-1) microframes (8 ms) at high speed.
    return pack_descriptors(
        endpoints(FS_BULK_PACKET, 10),
        endpoints(HS_BULK_PACKET, 7),
        flags=FUNCTIONFS_ALL_CTRL_RECIP,
    )


class PowerShotGadget:
    """Serves one PowerShotDevice on a FunctionFS mount until closed."""

    def __init__(self, device: PowerShotDevice, mount: str | Path) -> None:
        self.device = device
        self.mount = Path(mount)
        self._ep0 = -1
        self._gadget: Path | None = None
        self._stop = Latch()  # waited on by serve_forever: Ctrl-C safe (ptpkit._sync)
        # Whether the host has the function enabled, and how many times it enabled it: an
        # endpoint that failed waits for the next ENABLE (it may have come already).
        self._host = threading.Condition()
        self._enabled = False
        self._generation = 0
        self._started_endpoints = False
        self._threads: list[threading.Thread] = []

    def start(self) -> PowerShotGadget:
        """Write the descriptors; the endpoints exist once this returns (bind the UDC then)."""
        try:
            self._ep0 = os.open(self.mount / "ep0", os.O_RDWR)
            os.write(self._ep0, descriptors())
            os.write(self._ep0, strings(self.device.model.name))
        except OSError as exc:
            self._close_ep0()
            raise OSError(
                exc.errno,
                f"cannot set up the FunctionFS function at {self.mount}: {exc.strerror}. Mount "
                "a FunctionFS instance of a configfs gadget there (see ptpkit virtual serve "
                "--help)",
            ) from exc
        self._spawn(self._control_loop, "ffs-ps-ep0")
        return self

    def bind(self, gadget: str | Path) -> str:
        """Give the configfs gadget the model's USB ids, Canon's strings and its speed (full;
        high for class 6), and bind it to the first USB device controller; returns the
        controller's name."""
        gadget = Path(gadget)
        # A G3 is a USB 1.1 device; the gadget's max_speed caps what it offers the host.
        speed = "high-speed" if self.device.model.protocol_class == 6 else "full-speed"
        (gadget / "max_speed").write_text(speed + "\n")
        names = gadget / "strings" / "0x409"
        if names.is_dir():
            (names / "manufacturer").write_text(MANUFACTURER + "\n")
            (names / "product").write_text(PRODUCT + "\n")
        controller = bind_gadget(gadget, self.device.vendor_id, self.device.product_id)
        self._gadget = gadget
        return controller

    def serve_forever(self) -> None:
        try:
            self._stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Stop serving: unbind the gadget if this bound it (which ends the endpoints' pending
        I/O with ESHUTDOWN), let the threads go and close the device."""
        if self._stop.is_set():
            return
        self._stop.set()
        with self._host:
            self._host.notify_all()  # endpoint threads waiting for the host see the stop flag
        if self._gadget is not None:
            with contextlib.suppress(OSError):
                (self._gadget / "UDC").write_text("\n")
            self._gadget = None
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2 * _POLL_S)
        self._close_ep0()
        self.device.close()

    def _close_ep0(self) -> None:
        if self._ep0 >= 0:
            with contextlib.suppress(OSError):
                os.close(self._ep0)
            self._ep0 = -1

    def _spawn(self, target: object, name: str) -> None:
        assert callable(target)
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- ep0: bus events and the vendor requests -------------------------------------------------

    def _control_loop(self) -> None:
        for event in control_events(self._ep0, self._stop.is_set):
            if event.kind == ENABLE:
                self._on_enable()
            elif event.kind in (DISABLE, UNBIND):
                with self._host:
                    was_enabled, self._enabled = self._enabled, False
                if was_enabled:
                    # The host reset or unconfigured the device: a camera's dialogue starts over.
                    self.device.reset()
            elif event.kind == SETUP:
                self._setup(event)

    def _on_enable(self) -> None:
        if not self._started_endpoints:
            self._started_endpoints = True
            self._spawn(self._bulk_in_loop, "ffs-ps-bulk-in")
            self._spawn(self._bulk_out_loop, "ffs-ps-bulk-out")
            self._spawn(self._interrupt_loop, "ffs-ps-interrupt")
        with self._host:
            self._enabled = True
            self._generation += 1
            self._host.notify_all()
        log.info("USB host enabled the virtual PowerShot")

    def _setup(self, event: ControlEvent) -> None:
        device = self.device
        try:
            if event.request_type & _TYPE_MASK != _VENDOR:
                raise Stall(f"not a vendor request (bmRequestType 0x{event.request_type:02x})")
            if event.inward:
                reply = device.control_in(event.request, event.value, event.index, event.length)
                os.write(self._ep0, reply[: event.length])
                return
            # The data stage is read before the device sees the request; the controller ends
            # the status stage itself once it is read, so a refusal after it cannot stall.
            data = os.read(self._ep0, event.length)
            device.control_out(event.request, event.value, event.index, data)
        except Stall as exc:
            log.debug("stalling control request %s: %s", _describe(event), exc)
            stall(self._ep0, event)
        except OSError as exc:
            # The host gave up on the request (timeout, unplug): nothing to answer any more.
            log.info("control request %s: %s", _describe(event), exc.strerror)

    # -- bulk and interrupt endpoints ------------------------------------------------------------

    def _bulk_in_loop(self) -> None:
        seen: int | None = 0
        while (seen := self._wait_for_host(seen)) is not None:
            try:
                with FileIO(self.mount / "ep1", "wb") as endpoint:
                    self._feed_bulk_in(endpoint)
            except OSError as exc:
                self._endpoint_closed("bulk IN", exc)

    def _feed_bulk_in(self, endpoint: FileIO) -> None:
        # A piece of a transfer that is not whole packets waits for the rest: written alone it
        # would be a short packet, which ends the host's read early.
        pending = bytearray()
        while not self._stop.is_set():
            data, ended = self.device.read_bulk_in(_BULK_CHUNK, _POLL_S)
            pending += data
            if ended:
                if pending:
                    endpoint.write(pending)
                pending.clear()
            elif len(pending) >= _BULK_CHUNK:
                whole = len(pending) - len(pending) % HS_BULK_PACKET
                endpoint.write(pending[:whole])
                del pending[:whole]

    def _bulk_out_loop(self) -> None:
        buffer = bytearray(_READ_BYTES)
        seen: int | None = 0
        while (seen := self._wait_for_host(seen)) is not None:
            try:
                with FileIO(self.mount / "ep2", "rb") as endpoint:
                    while not self._stop.is_set():
                        count = endpoint.readinto(buffer) or 0
                        if count:
                            self.device.write_bulk_out(bytes(buffer[:count]))
            except OSError as exc:
                self._endpoint_closed("bulk OUT", exc)

    def _interrupt_loop(self) -> None:
        seen: int | None = 0
        while (seen := self._wait_for_host(seen)) is not None:
            try:
                with FileIO(self.mount / "ep3", "wb") as endpoint:
                    while not self._stop.is_set():
                        message = self.device.read_interrupt(_POLL_S)
                        if message:
                            endpoint.write(message)
            except OSError as exc:
                self._endpoint_closed("interrupt", exc)

    def _wait_for_host(self, seen: int | None) -> int | None:
        """Wait until the host has enabled the function since enabling number ``seen``; returns
        the new number, or None once the gadget is stopping."""
        with self._host:
            while not self._stop.is_set():
                if self._enabled and self._generation != seen:
                    return self._generation
                self._host.wait(_POLL_S)
        return None

    def _endpoint_closed(self, name: str, exc: OSError) -> None:
        if not self._stop.is_set():
            # ESHUTDOWN and friends: the host went away, reset the bus or chose the
            # configuration again; the endpoint works again after the next ENABLE.
            log.info("USB %s endpoint closed (%s); waiting for the host", name, exc.strerror)


def _describe(event: ControlEvent) -> str:
    return (
        f"0x{event.request_type:02x}/0x{event.request:02x} wValue 0x{event.value:04x} "
        f"wLength {event.length}"
    )
