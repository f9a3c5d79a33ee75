"""PTP over USB with PyUSB: ``ptpkit.connect("usb:")``.

URLs: ``usb:`` (the only camera), ``usb:BUS,DEV``, ``usb:VID:PID`` (hex), ``usb:serial=...``.
Cameras are still-image interfaces (class 6, subclass 1, protocol 1) and MTP devices (a vendor-
specific interface whose string says "MTP"), as libgphoto2 and libmtp recognise them.

Transfers follow ISO 15740 Annex D as libgphoto2 ``camlibs/ptp2/usb.c`` does them, but larger:
- reads of 1 MiB (a multiple of wMaxPacketSize) straight into one reused ``array`` buffer, so a
  gigabyte takes about a thousand read calls, not two million 512-byte ones;
- a data phase goes out in large writes whose every piece but the last is a multiple of
  wMaxPacketSize (a shorter one would end the transfer early), then a zero-length packet when the
  container's length is a multiple of wMaxPacketSize, so the device sees where it ends;
- a read shorter than asked ended the transfer: that is how a data container of length
  0xFFFFFFFF (4 GiB or more) ends, and a response that came in the same read is kept;
- events come from the interrupt endpoint on their own thread, so a device that blocks until its
  events are read never stalls a transfer; on a backend that runs one transfer at a time (libusb0
  on some platforms, a network bridge), a blocking interrupt read would hold every bulk transfer
  until it timed out, so there events are read between transactions instead (``events=``);
- a read that waits for a transfer to start (a response, the first data) waits one packet at a time
  in short slices, so ``close()`` from another thread ends it at once; a transfer already under way
  is read in large pieces with the whole timeout, so a timeout never drops bytes that arrived;
- a bulk OUT transfer has a real timeout, what is left of the transaction's deadline (libusb's 0
  would wait for ever on a camera that stops taking data); each 512 KiB piece the camera takes is
  an upload's progress. A timed-out OUT transfer may have been taken in part, so the transaction
  is broken off and the engine marks the link broken (the next call says to reconnect);
- PyUSB's backends report a timeout in several ways (``USBTimeoutError``, or a plain ``USBError``
  with errno ETIMEDOUT or libusb's LIBUSB_ERROR_TIMEOUT code): all are timeouts, never fatal.
- Cancel (0x64) and Get Device Status (0x67) end a cancelled transaction, Device Reset (0x66) and
  clearing a halt recover; a device that refuses those requests still works.

The transport is a byte channel: the engine (:mod:`ptpkit.client.engine`) owns the sans-IO
connection, made from :meth:`UsbTransport.framing`, and says what a transfer needs of the
protocol: ``write(..., ends_transfer=False)`` while a data-out phase goes on (whole packets only,
the zero-length packet at its end), ``read_into(..., in_data=True)`` inside the camera's data
phase (a stall there is fatal, between transfers it is cleared and read again), ``set_idle`` for
events="between", and :meth:`ptpkit.client.engine.Engine.reset` for Device Reset. Events are
decoded by a private connection of this transport: the interrupt endpoint is a channel of its own.

libusb comes with the install (PyPI ``libusb-package``); the system's libusb is used when present.
"""

from __future__ import annotations

import array
import contextlib
import errno
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ptpkit.codes.powershot_models import is_powershot
from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection
from ptpkit.core.events import NEED_DATA, Event
from ptpkit.core.framing import Framing
from ptpkit.core.state import Phase, Role
from ptpkit.core.usb import (
    ClassRequest,
    DeviceStatus,
    ExtendedEvent,
    UsbFraming,
    decode_device_status,
    decode_extended_event,
)
from ptpkit.errors import (
    ConnectError,
    DisconnectedError,
    PTPError,
    TransportError,
    TransportTimeout,
    UsageError,
)
from ptpkit.transports.base import (
    EventCallback,
    EventErrorCallback,
    PreparedSend,
    Transport,
    WriteDeadline,
    WriteProgress,
    url_number,
)

log = logging.getLogger("ptpkit.usb")

#: A prepared request (an armed capture's) is one short packet a working device takes at
#: once; the release loop sends every camera's in turn, so one that NAKs it must not hold up
#: the others for long: past this its send fails (that camera's error).
PREPARED_SEND_TIMEOUT_S: Final = 0.25
#: Bytes asked for per bulk read (a multiple of every wMaxPacketSize: 64, 512, 1024).
READ_BYTES: Final = 1 << 20
#: Bulk writes are at most this large (a multiple of every wMaxPacketSize). QEMU's usb-mtp
#: loses data and aborts on a single OUT transfer over 512 KiB (seen in the USB lab); 512 KiB is
#: still 128 times the 4 KiB pieces libgphoto2 writes.
WRITE_BYTES: Final = 512 * 1024
#: How long a cancelled transaction may take to report OK through Get Device Status.
CANCEL_STATUS_TIMEOUT_S: Final = 5.0
#: Interrupt reads wake this often to notice a close.
EVENT_POLL_MS: Final = 200
#: events="between": how often an idle link looks at the interrupt endpoint, and how long each
#: look may hold the backend (a transaction that starts meanwhile waits at most this long).
BETWEEN_POLL_INTERVAL_S: Final = 0.05
BETWEEN_POLL_MS: Final = 10
#: A read waiting for a transfer to start wakes this often to notice a close.
WAIT_SLICE_S: Final = 0.25
#: How long close() waits for a transfer under way to end before releasing the interface.
CLOSE_WAIT_S: Final = 2.0
#: How events are read: "thread" (a thread blocks on the interrupt endpoint), "between" (only
#: between transactions, for backends that run one transfer at a time) or "auto".
EVENT_MODES: Final = ("auto", "thread", "between")
#: libusb's LIBUSB_ERROR_TIMEOUT (libusb.h), as a backend_error_code.
_LIBUSB_ERROR_TIMEOUT: Final = -7
#: ETIMEDOUT as Linux numbers it: PyUSB reports the backend's errno, whatever the host's is.
_LINUX_ETIMEDOUT: Final = 110
#: Stalls of the interrupt endpoint in a row before events are given up (each is cleared).
MAX_EVENT_STALLS: Final = 10

STILL_IMAGE_CLASS: Final = (6, 1, 1)
VENDOR_SPECIFIC_CLASS: Final = 0xFF
_CLASS_OUT: Final = 0x21  # host to device, class, interface
_CLASS_IN: Final = 0xA1  # device to host, class, interface
_OK: Final = 0x2001
_DEVICE_BUSY: Final = 0x2019

UDEV_RULE_PATH: Final = "/etc/udev/rules.d/60-ptpkit.rules"
UDEV_RULE: Final = (
    "# ptpkit: let the logged-in user (and group plugdev) use PTP/MTP cameras over USB.\n"
    "# Still-image interfaces are class 6/1/1 (the match libgphoto2's rules use).\n"
    'ACTION=="add|change", SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", '
    'ENV{ID_USB_INTERFACES}=="*:060101:*", MODE="0664", GROUP="plugdev", TAG+="uaccess"\n'
)

#: The selectors after the scheme's colon (``usb:`` and ``canon-usb:`` take the same ones).
_URL: Final = re.compile(
    r"^(?:"
    r"(?P<bus>[0-9]+),(?P<address>[0-9]+)"
    r"|(?P<vendor>[0-9a-fA-F]{4}):(?P<product>[0-9a-fA-F]{4})"
    r"|serial=(?P<serial>.+)"
    r")?$"
)


@dataclass(frozen=True)
class UsbSelector:
    """Which USB camera a URL means (all None: the only one there is)."""

    bus: int | None = None
    address: int | None = None
    vendor_id: int | None = None
    product_id: int | None = None
    serial: str | None = None


def parse_url(url: str, scheme: str = "usb") -> UsbSelector:
    """The selector of a ``usb:`` URL (or of another scheme with the same selectors, such as
    ``canon-usb:``)."""
    text = url.strip()
    prefix = f"{scheme}:"
    match = _URL.match(text[len(prefix) :]) if text.lower().startswith(prefix) else None
    if not match:
        raise UsageError(
            f"{url!r} is not a USB camera URL: use {prefix}, {prefix}BUS,DEV, {prefix}VID:PID "
            f"or {prefix}serial=..."
        )
    if match.group("bus"):
        bus, address = match.group("bus", "address")
        return UsbSelector(
            bus=url_number(bus, url, what="bus", minimum=0, maximum=255),
            address=url_number(address, url, what="device address", minimum=0, maximum=255),
        )
    if match.group("vendor"):
        return UsbSelector(
            vendor_id=int(match.group("vendor"), 16), product_id=int(match.group("product"), 16)
        )
    if match.group("serial"):
        return UsbSelector(serial=match.group("serial"))
    return UsbSelector()


# -- libusb --------------------------------------------------------------------------------------

_backend_lock = threading.Lock()
_default_backend: Any = None


def default_backend() -> Any:
    """The system's libusb when it has one, else the one PyPI's libusb-package installs."""
    global _default_backend
    with _backend_lock:
        if _default_backend is None:
            import usb.backend.libusb1  # noqa: PLC0415  (PyUSB loads only when USB is used)

            backend = usb.backend.libusb1.get_backend()
            if backend is None:
                try:
                    import libusb_package  # noqa: PLC0415

                    backend = usb.backend.libusb1.get_backend(
                        find_library=libusb_package.find_library
                    )
                except ImportError:
                    backend = None
            if backend is None:
                raise ConnectError(
                    "no libusb found: install ptpkit's dependencies (pip install libusb-package) "
                    "or the system's libusb-1.0"
                )
            _default_backend = backend
        return _default_backend


#: PyUSB's own backends, by the names ``--usb-backend`` and ``[responder] usb_backend`` take.
BUILTIN_BACKENDS: Final = ("libusb1", "libusb0", "openusb")


def resolve_backend(name: str) -> Any:
    """The PyUSB backend a name means: ``libusb1`` (ptpkit's default), ``libusb0``, ``openusb``,
    or ``module:function`` (a function of no arguments that returns a PyUSB ``IBackend``, e.g.
    one that reaches a camera through a network bridge). The module is imported only here.

    Raises UsageError for an unknown name or a backend that cannot be made."""
    name = name.strip()
    if name == "libusb1":
        try:
            return default_backend()
        except ConnectError as exc:
            raise UsageError(f"USB backend libusb1: {exc}") from None
    if name in BUILTIN_BACKENDS:
        import importlib  # noqa: PLC0415

        try:
            module = importlib.import_module(f"usb.backend.{name}")
            backend = module.get_backend()
        except Exception as exc:  # a broken library raises anything: say which backend
            raise UsageError(f"USB backend {name} cannot be loaded: {exc}") from None
        if backend is None:
            raise UsageError(f"USB backend {name}: its library is not installed on this system")
        return backend
    module_name, sep, function_name = name.partition(":")
    if not sep or not module_name or not function_name.isidentifier():
        raise UsageError(
            f"unknown USB backend {name!r}: use {', '.join(BUILTIN_BACKENDS)} or "
            "module:function (a function that returns a PyUSB backend)"
        )
    import importlib  # noqa: PLC0415

    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises while importing
        raise UsageError(f"USB backend {name!r}: cannot import {module_name}: {exc}") from None
    factory = getattr(module, function_name, None)
    if not callable(factory):
        raise UsageError(f"USB backend {name!r}: {module_name} has no function {function_name}")
    try:
        backend = factory()
    except Exception as exc:
        raise UsageError(f"USB backend {name!r} failed: {exc}") from None
    if not callable(getattr(backend, "enumerate_devices", None)):
        raise UsageError(
            f"USB backend {name!r} returned {type(backend).__name__}, not a PyUSB backend "
            "(usb.backend.IBackend)"
        )
    return backend


def events_mode(requested: str, backend: Any) -> str:
    """How events are read on ``backend``: ``requested`` unless it is "auto".

    Auto: a backend may say itself with a ``serialises_transfers`` attribute; PyUSB's libusb1
    backend runs transfers at once (libusb's synchronous API is thread-safe, libusb docs "Multi-
    threaded applications and asynchronous I/O"), so it gets the event thread; any other backend
    (libusb0, openusb, a bridge) may run one transfer at a time, so events are read between
    transactions, where they can never hold a transfer up."""
    if requested not in EVENT_MODES:
        raise UsageError(f"events={requested!r}: use one of {', '.join(EVENT_MODES)}")
    if requested != "auto":
        return requested
    serialises = getattr(backend, "serialises_transfers", None)
    if serialises is not None:
        return "between" if serialises else "thread"
    if type(backend).__module__ == "usb.backend.libusb1":
        return "thread"
    return "between"


# -- finding cameras -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class UsbCamera:
    """A camera interface on the bus."""

    device: Any  # usb.core.Device
    interface: int
    kind: str  # "ptp", "mtp", or "canon" (a PowerShot in native mode: transports.canon_usb)

    @property
    def bus(self) -> int:
        return int(self.device.bus or 0)

    @property
    def address(self) -> int:
        return int(self.device.address or 0)

    @property
    def url(self) -> str:
        # A PowerShot in its native mode speaks Canon's own protocol, never PTP.
        scheme = "canon-usb" if self.kind == "canon" else "usb"
        return f"{scheme}:{self.bus},{self.address}"

    @property
    def ids(self) -> str:
        return f"{self.device.idVendor:04x}:{self.device.idProduct:04x}"

    def string(self, index_name: str) -> str | None:
        """A string descriptor, or None when it cannot be read (no permission, no string)."""
        import usb.util  # noqa: PLC0415

        index = getattr(self.device, index_name, 0)
        if not index:
            return None
        try:
            value = usb.util.get_string(self.device, index)
        except (ValueError, NotImplementedError, OSError) as exc:
            log.debug("cannot read %s of %s: %s", index_name, self.url, exc)
            return None
        return str(value) if value else None

    def describe(self) -> str:
        names = [self.string("iManufacturer"), self.string("iProduct")]
        label = " ".join(n for n in names if n) or f"USB device {self.ids}"
        return f"{label} ({self.url}, {self.ids}, {self.kind.upper()})"


def find_usb_cameras(backend: Any = None) -> list[UsbCamera]:
    """Every PTP or MTP camera interface libusb can see."""
    import usb.core  # noqa: PLC0415

    backend = backend or default_backend()
    found: list[UsbCamera] = []
    try:
        devices = list(usb.core.find(find_all=True, backend=backend))
    except usb.core.USBError as exc:
        raise map_usb_error(exc, "listing USB devices") from exc
    for device in devices:
        try:
            # The first configuration's descriptors are cached by libusb: no need to open.
            configuration = device[0]
        except (usb.core.USBError, IndexError):
            continue
        if is_powershot(int(device.idVendor), int(device.idProduct)):
            # Known by its ids alone (libgphoto2's canon driver table); never opened as PTP.
            interfaces = [i.bInterfaceNumber for i in configuration]
            if interfaces:
                found.append(UsbCamera(device, min(interfaces), "canon"))
            continue
        for interface in configuration:
            triple = (
                interface.bInterfaceClass,
                interface.bInterfaceSubClass,
                interface.bInterfaceProtocol,
            )
            if triple == STILL_IMAGE_CLASS:
                found.append(UsbCamera(device, interface.bInterfaceNumber, "ptp"))
            elif interface.bInterfaceClass == VENDOR_SPECIFIC_CLASS and interface.iInterface:
                # MTP devices that are not still-image class say so in the interface string
                # (libmtp's detection).
                name = _interface_string(device, interface.iInterface)
                if name and "MTP" in name.upper():
                    found.append(UsbCamera(device, interface.bInterfaceNumber, "mtp"))
    return found


def _interface_string(device: Any, index: int) -> str | None:
    import usb.util  # noqa: PLC0415

    try:
        value = usb.util.get_string(device, index)
    except (ValueError, NotImplementedError, OSError):
        return None  # no permission to read strings: an MTP device stays unrecognised
    return str(value) if value else None


def select_camera(
    selector: UsbSelector, backend: Any = None, *, kinds: Collection[str] | None = None
) -> UsbCamera:
    """The one camera the selector means; ``kinds`` keeps only cameras of those kinds ("ptp",
    "mtp", "canon")."""
    cameras = find_usb_cameras(backend)
    if kinds is not None:
        cameras = [c for c in cameras if c.kind in kinds]
    if selector.bus is not None:
        cameras = [c for c in cameras if (c.bus, c.address) == (selector.bus, selector.address)]
    if selector.vendor_id is not None:
        cameras = [
            c
            for c in cameras
            if (c.device.idVendor, c.device.idProduct) == (selector.vendor_id, selector.product_id)
        ]
    unreadable: list[UsbCamera] = []
    if selector.serial is not None:
        serials = {id(c): c.string("iSerialNumber") for c in cameras}
        # A serial number that cannot be read is usually a permission problem: say so below.
        unreadable = [c for c in cameras if serials[id(c)] is None and c.device.iSerialNumber]
        cameras = [c for c in cameras if serials[id(c)] == selector.serial]
    if not cameras:
        if unreadable:
            raise ConnectError(
                f"cannot read the serial number of {len(unreadable)} camera(s) to find "
                f"{selector.serial!r}; " + permission_message(unreadable[0].device)
            )
        what = "matching USB camera" if selector != UsbSelector() else "USB camera"
        if kinds is not None and set(kinds) == {"canon"}:
            raise ConnectError(
                f"no {what.replace('USB camera', 'PowerShot')} found on USB in Canon's native "
                "mode: is it on, in playback mode, and connected with a data cable?"
            )
        raise ConnectError(
            f"no {what} found: is the camera on, connected with a data cable, and set to "
            "PTP/MTP (or 'PC connection') mode?"
        )
    if len(cameras) > 1:
        choices = "; ".join(c.describe() for c in cameras)
        raise UsageError(f"several USB cameras found, choose one: {choices}")
    return cameras[0]


# -- errors --------------------------------------------------------------------------------------


def is_timeout(exc: BaseException) -> bool:
    """Whether a PyUSB error is a timeout, however the backend reports it: libusb1's
    ``USBTimeoutError``; a plain ``USBError`` with errno ETIMEDOUT (110 on Linux, which backends
    report whatever the host), or with libusb's LIBUSB_ERROR_TIMEOUT (-7) or libusb0's
    -ETIMEDOUT as its backend code (libusb0, openusb and bridges raise those)."""
    import usb.core  # noqa: PLC0415

    if isinstance(exc, usb.core.USBTimeoutError):
        return True
    if not isinstance(exc, usb.core.USBError):
        return False
    if getattr(exc, "errno", None) in (errno.ETIMEDOUT, _LINUX_ETIMEDOUT):
        return True
    code = getattr(exc, "backend_error_code", None)
    return code in (_LIBUSB_ERROR_TIMEOUT, -errno.ETIMEDOUT, -_LINUX_ETIMEDOUT)


def map_usb_error(exc: Exception, what: str, device: Any = None) -> TransportError:
    """One place where PyUSB's errors become ptpkit's (httpx's map_httpcore_exceptions idea);
    the PowerShot link (transports.canon_usb) maps through it too."""
    if is_timeout(exc):
        return TransportTimeout(f"USB: nothing within the time allowed while {what}")
    code = getattr(exc, "errno", None)
    if code in (errno.ENODEV, errno.ENOENT) or "No such device" in str(exc):
        return DisconnectedError(f"USB: the camera went away while {what} (unplugged or off?)")
    if code == errno.EACCES:
        return ConnectError(permission_message(device))
    if code == errno.EBUSY:
        return ConnectError(busy_message(device))
    return TransportError(f"USB error while {what}: {exc}")


def permission_message(device: Any = None) -> str:
    where = f" ({_node(device)})" if device is not None else ""
    return (
        f"no permission to use the camera{where}. Allow it with a udev rule: run "
        f"'sudo ptpkit udev-rules --write' (writes {UDEV_RULE_PATH}), then reconnect the camera; "
        "or run once as root"
    )


def _node(device: Any) -> str:
    return f"/dev/bus/usb/{int(device.bus or 0):03d}/{int(device.address or 0):03d}"


def holders(device: Any) -> list[tuple[int, str]]:
    """Processes that have the device's node open: (pid, command line). Best effort, Linux."""
    node = _node(device)
    found = []
    for pid_dir in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            for fd in (pid_dir / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == node:
                        cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ")
                        found.append((int(pid_dir.name), cmdline.decode(errors="replace").strip()))
                        break
    return found


def busy_message(device: Any = None) -> str:
    message = "the camera is in use by another program"
    users = holders(device) if device is not None else []
    if users:
        message += ": " + ", ".join(f"{cmd or '?'} (pid {pid})" for pid, cmd in users)
    hints = []
    if any("gvfs" in cmd for _, cmd in users) or not users:
        hints.append(
            "GNOME's gvfs mounts cameras: 'gio mount -s gphoto2' unmounts it, "
            "'systemctl --user stop gvfs-gphoto2-volume-monitor' stops it"
        )
    if any("kio" in cmd or "solid" in cmd for _, cmd in users):
        hints.append("KDE: close the camera in Dolphin or stop kiod")
    hints.append("close other camera programs (gphoto2, Shotwell, darktable, digiKam)")
    return message + ". " + "; ".join(hints)


# -- the transport -------------------------------------------------------------------------------


class UsbTransport(Transport):
    """One USB camera interface."""

    kind = "usb"

    read_size = READ_BYTES

    def __init__(
        self,
        camera: UsbCamera,
        *,
        url: str | None = None,
        read_bytes: int = READ_BYTES,
        events: str = "auto",
    ) -> None:
        if read_bytes <= 0 or read_bytes % 512:
            raise UsageError("read_bytes must be a positive multiple of 512")
        #: "thread" or "between" (see :func:`events_mode`).
        # PyUSB keeps a device's backend in its resource manager (usb/core.py, Device._ctx).
        backend = getattr(getattr(camera.device, "_ctx", None), "backend", None)
        self.events = events_mode(events, backend)
        self.camera = camera
        self._url = url or camera.url
        self._device = camera.device
        self._interface = camera.interface
        self._detached = False
        self._claimed = False
        self.read_size = read_bytes
        self._buffer = array.array("B", bytes(read_bytes))
        #: One packet: a read that waits for a transfer to start asks for this much.
        self._packet = array.array("B", bytes(512))
        #: The last read filled its buffer: the transfer goes on and its bytes are flowing.
        self._streaming = False
        #: Held around every transfer on the command pipe and control endpoint: close() waits on
        #: it, and events="between" reads the interrupt endpoint only while it is free.
        self._io_lock = threading.Lock()
        self._out = array.array("B")
        self._transfer_bytes = 0
        self._event_thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._cancelled = False
        #: No transaction under way (the engine says, set_idle): events="between" looks at the
        #: interrupt endpoint only then.
        self._idle = True
        self.max_packet = 512
        self._out_packet = 512
        #: Runs after the link closes (``virtual+usb:`` closes the camera it made).
        self.on_close: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return self._url

    @property
    def _label(self) -> str:
        """The URL as messages start with it (``virtual+usb:`` without its colon)."""
        return self._url.rstrip(":")

    # -- opening ---------------------------------------------------------------------------------

    def open(self) -> None:
        try:
            self._open()
        except BaseException:
            # Whatever was done is undone: kernel driver given back, interface released, the
            # device handle disposed (and a virtual device closed).
            self.close()
            raise

    def _open(self) -> None:
        import usb.core  # noqa: PLC0415
        import usb.util  # noqa: PLC0415

        device = self._device
        try:
            interface, self._detached = claim_interface(device, self._interface, self._label)
            self._claimed = True
        except usb.core.USBError as exc:
            raise map_usb_error(exc, "opening the camera", device) from exc
        self._bulk_out, self._bulk_in, self._interrupt_in = endpoints(interface)
        self.max_packet = int(self._bulk_in.wMaxPacketSize) or 512
        #: The zero-length packet rule is about the OUT endpoint's packets.
        self._out_packet = int(self._bulk_out.wMaxPacketSize) or 512
        if self.read_size % self.max_packet:
            # A read that is not whole packets can overflow (a device's full packet would not
            # fit): round down to whole packets of this endpoint (SuperSpeed has 1024).
            self.read_size = max(self.max_packet, self.read_size - self.read_size % self.max_packet)
            self._buffer = array.array("B", bytes(self.read_size))
        self._packet = array.array("B", bytes(self.max_packet))
        self._event_connection = Connection(Role.INITIATOR, UsbFraming())
        self._event_connection.phase = Phase.EVENT_CHANNEL
        log.debug(
            "%s: interface %d, bulk out 0x%02x, bulk in 0x%02x (max packet %d), interrupt %s",
            self.url,
            self._interface,
            self._bulk_out.bEndpointAddress,
            self._bulk_in.bEndpointAddress,
            self.max_packet,
            f"0x{self._interrupt_in.bEndpointAddress:02x}" if self._interrupt_in else "none",
        )

    def framing(self) -> Framing:
        return UsbFraming()

    def receive_buffer(self) -> memoryview:
        return memoryview(self._buffer)

    def set_idle(self, idle: bool) -> None:
        self._idle = idle

    # -- bulk pipes ------------------------------------------------------------------------------

    def write(
        self,
        buffers: Sequence[BytesLike],
        timeout_s: float | None = None,
        progress: WriteProgress | None = None,
        *,
        ends_transfer: bool = True,
    ) -> None:
        for buffer in buffers:
            self._out.frombytes(buffer)
        deadline = WriteDeadline(timeout_s, progress)
        if not ends_transfer:
            # More of this transfer follows: send only whole packets (a short one would end it).
            whole = len(self._out) - len(self._out) % self._out_packet
            if whole >= WRITE_BYTES:
                self._send(self._out[:whole], deadline)
                del self._out[:whole]
            return
        # The transfer is complete: send the rest, then a zero-length packet if its length is a
        # multiple of the packet size (else the device would wait for more).
        if len(self._out):
            self._send(self._out, deadline)
            self._out = array.array("B")
        if self._transfer_bytes and self._transfer_bytes % self._out_packet == 0:
            self._send_zero_length_packet(deadline)
        self._transfer_bytes = 0

    def prepared_send(self, buffers: Sequence[BytesLike]) -> PreparedSend | None:
        """One bulk OUT transfer of the whole command container (a request is 12 to 32 bytes:
        one short packet, no zero-length packet to follow), bounded by
        PREPARED_SEND_TIMEOUT_S; None while bytes of an unfinished transfer wait in the
        buffer (never between transactions) or for a container of whole packets."""
        if len(self._out):
            return None
        data = array.array("B", b"".join(buffers))
        if not len(data) or len(data) % self._out_packet == 0:
            return None
        timeout_ms = self._timeout_ms(PREPARED_SEND_TIMEOUT_S)

        def send_now() -> int:
            import usb.core  # noqa: PLC0415  (loaded already: the link is open)

            try:
                with self._io_lock:
                    self._check_open()
                    return int(self._device.write(self._bulk_out, data, timeout=timeout_ms))
            except usb.core.USBError as exc:
                if is_timeout(exc):
                    raise TransportTimeout(
                        f"{self._label}: the camera did not take the request within "
                        f"{PREPARED_SEND_TIMEOUT_S:g} s"
                    ) from exc
                raise map_usb_error(exc, "sending to the camera", self._device) from exc

        return send_now

    def _out_timeout_ms(self, deadline: WriteDeadline) -> int:
        """The timeout of the next OUT transfer: what is left of the write's deadline (libusb's
        0 is no timeout at all, so an expired deadline is a timeout here, not 0 ms)."""
        remaining = deadline.remaining()
        if remaining is None:
            return 0
        if remaining <= 0:
            raise TransportTimeout(f"{self._label}: the camera did not take the data in time")
        return self._timeout_ms(remaining)

    def _send(self, data: array.array[int], deadline: WriteDeadline) -> None:
        """Send ``data`` in pieces of WRITE_BYTES, each bounded by the time left of the write's
        deadline and reported to it as progress once the camera has taken it. A piece that
        times out may have been taken in part (libusb says how much, PyUSB does not): the
        transfer cannot go on, so the timeout is the end of this link's transaction."""
        import usb.core  # noqa: PLC0415

        for attempt in (1, 2):
            try:
                for start in range(0, max(len(data), 1), WRITE_BYTES):
                    piece = data[start : start + WRITE_BYTES]
                    timeout_ms = self._out_timeout_ms(deadline)
                    with self._io_lock:
                        self._check_open()
                        sent = self._device.write(self._bulk_out, piece, timeout=timeout_ms)
                    self._transfer_bytes += sent
                    deadline.took(sent)
                return
            except usb.core.USBError as exc:
                if is_timeout(exc):
                    raise TransportTimeout(
                        f"{self._label}: the camera did not take the data within "
                        f"{timeout_ms / 1000:g} s; the transfer is broken off"
                    ) from exc
                if getattr(exc, "errno", None) != errno.EPIPE:
                    raise map_usb_error(exc, "sending to the camera", self._device) from exc
                self._clear_halt(self._bulk_out)
                if attempt == 1 and self._transfer_bytes == 0:
                    # Stalled before any byte of this transfer went: nothing can be sent twice,
                    # so try once more (libgphoto2 does the same).
                    continue
                # Part of the transfer was accepted (how much of the failed piece, libusb does
                # not say): sending it again would give the camera wrong bytes.
                raise TransportError(
                    f"{self._label}: the camera stalled its data pipe in the middle of a "
                    "transfer; nothing was sent again"
                ) from exc

    def _send_zero_length_packet(self, deadline: WriteDeadline) -> None:
        import usb.core  # noqa: PLC0415

        try:
            timeout_ms = self._out_timeout_ms(deadline)
            with self._io_lock:
                self._device.write(self._bulk_out, array.array("B"), timeout=timeout_ms)
        except usb.core.USBError as exc:
            if getattr(exc, "errno", None) != errno.EPIPE:
                raise map_usb_error(exc, "ending a transfer", self._device) from exc
            # The USB spec ends a transfer of whole packets with a zero-length packet, but some
            # devices stall it (QEMU's usb-mtp rejects OUT transfers under 12 bytes): the data
            # is all there, so clear the halt and let the response say how it went.
            log.debug("%s: the device stalled a zero-length packet", self.url)
            self._clear_halt(self._bulk_out)

    def _timeout_ms(self, timeout_s: float | None = None) -> int:
        return 0 if timeout_s is None else max(1, int(timeout_s * 1000))

    def read_into(
        self, buffer: memoryview, timeout_s: float | None, *, in_data: bool = False
    ) -> tuple[int, bool]:
        if buffer.obj is not self._buffer:
            raise UsageError("UsbTransport reads only into its receive_buffer()")
        self._check_open()
        if self._streaming:
            # The transfer is under way: its bytes flow, so read large with the whole timeout.
            # (A timed-out read may have received part of its bytes; slicing here could lose
            # them, or make a partial read look like the end of the transfer.)
            count = self._read_bulk(self._buffer, timeout_s, in_data=in_data)
        else:
            count = self._wait_for_transfer(timeout_s, in_data)
        # A read that came back shorter than asked was ended by a short or zero-length packet:
        # the end of a USB transfer.
        size = len(self._buffer) if self._streaming else len(self._packet)
        ended = count < size
        self._streaming = not ended
        return count, ended

    def _wait_for_transfer(self, timeout_s: float | None, in_data: bool) -> int:
        """Wait for a transfer to start: one packet at a time, in short slices, so a close from
        another thread ends the wait at once. A packet arrives whole or not at all, so a slice
        that times out has lost nothing."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            slice_s = WAIT_SLICE_S
            if deadline is not None:
                slice_s = min(slice_s, max(0.001, deadline - time.monotonic()))
            try:
                count = self._read_bulk(self._packet, slice_s, what=timeout_s, in_data=in_data)
            except TransportTimeout:
                self._check_open()
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                continue
            if count:
                self._buffer[:count] = self._packet[:count]
            return count

    def _read_bulk(
        self,
        target: array.array[int],
        timeout_s: float | None,
        what: float | None = None,
        *,
        in_data: bool = False,
    ) -> int:
        """One bulk-IN read; a stall between transfers is cleared and read again (``in_data``:
        the read is inside the camera's data phase, where a stall loses bytes)."""
        import usb.core  # noqa: PLC0415

        for attempt in (1, 2):
            try:
                with self._io_lock:
                    self._check_open()
                    return int(
                        self._device.read(self._bulk_in, target, self._timeout_ms(timeout_s))
                    )
            except usb.core.USBError as exc:
                if is_timeout(exc):
                    allowed = what if what is not None else timeout_s
                    raise TransportTimeout(
                        f"{self._label}: the camera sent nothing for {allowed or 0:g} s (waiting "
                        "for data or a response)"
                    ) from exc
                if getattr(exc, "errno", None) == errno.EPIPE:
                    self._clear_halt(self._bulk_in)
                    if attempt == 1 and not in_data:
                        continue  # stalled between transfers: nothing lost, read again
                    # Mid data phase, the failed transfer's bytes are lost (libusb reports the
                    # stall, PyUSB drops what arrived): the data cannot be trusted any more.
                    raise TransportError(
                        f"{self._label}: the camera stalled its data pipe in the middle of a "
                        "transfer; the data is incomplete (a partial download can be resumed)"
                    ) from exc
                raise map_usb_error(exc, "reading from the camera", self._device) from exc
        raise AssertionError("unreachable")

    def _check_open(self) -> None:
        if self._closing.is_set():
            # Engine turns this into ClosedError when the camera was closed (Camera.close).
            raise DisconnectedError(f"{self._label}: the link was closed")

    def _clear_halt(self, endpoint: Any) -> None:
        with contextlib.suppress(Exception), self._io_lock:
            self._device.clear_halt(endpoint)

    # -- class requests --------------------------------------------------------------------------

    def _class_out(self, request: int, data: bytes = b"", timeout_s: float = 2.0) -> None:
        with self._io_lock:
            self._device.ctrl_transfer(
                _CLASS_OUT, request, 0, self._interface, data, self._timeout_ms(timeout_s)
            )

    def device_status(self) -> DeviceStatus:
        """Get Device Status (0x67): the device's state and any stalled endpoints."""
        import usb.core  # noqa: PLC0415

        try:
            with self._io_lock:
                data = self._device.ctrl_transfer(
                    _CLASS_IN, ClassRequest.GET_DEVICE_STATUS, 0, self._interface, 64, 2000
                )
        except usb.core.USBError as exc:
            raise map_usb_error(exc, "reading the device status", self._device) from exc
        return decode_device_status(bytes(data))

    def extended_event_data(self) -> ExtendedEvent:
        """Get Extended Event Data (0x65): an event with parameters too large for the
        interrupt endpoint. Many devices refuse it (a TransportError then)."""
        import usb.core  # noqa: PLC0415

        try:
            with self._io_lock:
                data = self._device.ctrl_transfer(
                    _CLASS_IN, ClassRequest.GET_EXTENDED_EVENT_DATA, 0, self._interface, 512, 2000
                )
        except usb.core.USBError as exc:
            raise map_usb_error(exc, "reading extended event data", self._device) from exc
        return decode_extended_event(bytes(data))

    def reset(self) -> None:
        """Device Reset (0x66): a fresh state without a session, to recover from an error
        (through :meth:`ptpkit.client.engine.Engine.reset`, which resets its connection too)."""
        import usb.core  # noqa: PLC0415

        try:
            self._class_out(ClassRequest.DEVICE_RESET)
        except usb.core.USBError as exc:
            raise map_usb_error(exc, "resetting the camera", self._device) from exc
        # Afresh both ways: OUT bytes a broken-off transfer left behind would otherwise go out
        # in front of the next request, and the device would read them as a container.
        self._out = array.array("B")
        self._transfer_bytes = 0
        self._streaming = False

    def cancel(self, request: Sequence[BytesLike]) -> None:
        import usb.core  # noqa: PLC0415

        data = b"".join(bytes(b) for b in request)
        self._out = array.array("B")
        self._transfer_bytes = 0
        self._streaming = False
        try:
            self._class_out(ClassRequest.CANCEL, data)
            self._cancelled = True
        except usb.core.USBError as exc:
            # A device that refuses Cancel: the transaction is drained to its response instead.
            log.debug("%s: Cancel request refused (%s); draining instead", self.url, exc)
            self._cancelled = False

    def cancel_finished(self) -> bool:
        """After Cancel, wait for the device to report OK, clear stalled endpoints, and drop
        whatever the bulk-in pipe still holds of the cancelled transaction."""

        if not self._cancelled:
            return False
        self._cancelled = False
        deadline = time.monotonic() + CANCEL_STATUS_TIMEOUT_S
        while True:
            try:
                status = self.device_status()
            except DisconnectedError:
                raise
            except TransportError as exc:
                log.debug("%s: Get Device Status refused (%s)", self.url, exc)
                break
            if status.code != _DEVICE_BUSY:
                for endpoint in status.params:
                    self._clear_halt(endpoint)
                break
            if time.monotonic() > deadline:
                raise TransportTimeout(f"{self._label}: the camera stayed busy after a cancel")
            time.sleep(0.01)
        self._drain_bulk_in()
        return True

    def _drain_bulk_in(self) -> None:
        """Read and drop until the pipe is quiet (a device may have queued part of the data)."""
        import usb.core  # noqa: PLC0415

        self._streaming = False
        for _ in range(64):
            try:
                with self._io_lock:
                    self._device.read(self._bulk_in, self._buffer, 50)
            except usb.core.USBError:
                return  # a timeout: nothing more is coming

    # -- events ----------------------------------------------------------------------------------

    def start_events(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        if self._interrupt_in is None:
            log.debug("%s: no interrupt endpoint; no events", self.url)
            return
        thread = threading.Thread(
            target=self._event_loop,
            args=(on_event, on_error),
            name=f"ptpkit-usb-events-{self.url}",
            daemon=True,
        )
        self._event_thread = thread
        thread.start()

    def _event_loop(self, on_event: EventCallback, on_error: EventErrorCallback) -> None:
        import usb.core  # noqa: PLC0415

        endpoint = self._interrupt_in
        size = max(64, int(endpoint.wMaxPacketSize))
        buffer = array.array("B", bytes(size))
        conn = self._event_connection
        stalls = 0
        between = self.events == "between"
        while not self._closing.is_set():
            try:
                count = (
                    self._poll_between(endpoint, buffer)
                    if between
                    else self._device.read(endpoint, buffer, EVENT_POLL_MS)
                )
                if count is None:
                    continue  # a transaction was under way: look again later
            except usb.core.USBError as exc:
                if self._closing.is_set():
                    return
                if is_timeout(exc):  # however the backend says it (see is_timeout)
                    stalls = 0
                    continue
                if getattr(exc, "errno", None) == errno.EPIPE:
                    stalls += 1
                    if stalls > MAX_EVENT_STALLS:
                        on_error(
                            TransportError(
                                f"{self._label}: the event endpoint stalls again and again; "
                                "no more events (transactions still work)"
                            )
                        )
                        return
                    self._clear_halt(endpoint)
                    self._closing.wait(EVENT_POLL_MS / 1000)  # not a busy loop
                    continue
                on_error(map_usb_error(exc, "reading events", self._device))
                return
            except Exception as exc:  # never let the thread die without a word
                on_error(TransportError(f"{self._label}: reading events failed: {exc!r}"))
                return
            stalls = 0
            try:
                conn.receive_data(memoryview(buffer)[:count], transfer_ended=count < size)
                while (event := conn.next_event()) is not NEED_DATA:
                    if isinstance(event, Event):
                        on_event(event)
            except PTPError as exc:
                log.warning("%s: bad event container: %s", self.url, exc)
                # Start clean: the next interrupt transfer is a new container.
                conn = self._event_connection = Connection(Role.INITIATOR, UsbFraming())
                conn.phase = Phase.EVENT_CHANNEL

    def _poll_between(self, endpoint: Any, buffer: array.array[int]) -> int | None:
        """events="between": one short look at the interrupt endpoint while no transaction runs
        (None when one does). The I/O lock keeps transfers out for at most BETWEEN_POLL_MS, and
        a transfer that holds it is never waited for."""
        if self._closing.wait(BETWEEN_POLL_INTERVAL_S):
            return None
        if not self._idle or not self._io_lock.acquire(blocking=False):
            return None
        try:
            if not self._idle or self._closing.is_set():
                return None
            return int(self._device.read(endpoint, buffer, BETWEEN_POLL_MS))
        finally:
            self._io_lock.release()

    # -- closing ---------------------------------------------------------------------------------

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        thread = self._event_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * EVENT_POLL_MS / 1000 + 1)
        # A read waiting for a transfer notices the close within WAIT_SLICE_S and lets go of the
        # lock: release the interface only then (libusb must not close a handle in use). A
        # transfer stuck mid-way is not waited for past CLOSE_WAIT_S.
        locked = self._io_lock.acquire(timeout=CLOSE_WAIT_S)
        try:
            self._release()
        finally:
            if locked:
                self._io_lock.release()
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()

    def _release(self) -> None:
        if self._claimed:
            release_interface(self._device, self._interface, detached=self._detached)
        else:
            release_interface(self._device, None, detached=False)


def claim_interface(device: Any, number: int, label: str) -> tuple[Any, bool]:
    """Configure the device if needed and claim interface ``number``, taking it from a kernel
    driver that holds it: (its descriptor, whether a kernel driver was detached). PyUSB's
    USBError passes through (:func:`map_usb_error` maps it)."""
    import usb.core  # noqa: PLC0415
    import usb.util  # noqa: PLC0415

    detached = False
    with contextlib.suppress(NotImplementedError):
        if device.is_kernel_driver_active(number):
            # A kernel driver (usually none for a camera) holds it: take it, give it back later.
            device.detach_kernel_driver(number)
            detached = True
    try:
        try:
            configuration = device.get_active_configuration()
        except usb.core.USBError:
            configuration = None
        if configuration is None:
            device.set_configuration()
            configuration = device.get_active_configuration()
        interface = usb.util.find_descriptor(configuration, bInterfaceNumber=number)
        if interface is None:
            raise ConnectError(f"{label}: interface {number} has gone")
        usb.util.claim_interface(device, number)
    except BaseException:
        if detached:  # given back to the kernel driver it was taken from
            with contextlib.suppress(Exception):
                device.attach_kernel_driver(number)
        raise
    return interface, detached


def release_interface(device: Any, number: int | None, *, detached: bool) -> None:
    """Undo :func:`claim_interface` (``number`` None: nothing was claimed) and free the handle.
    Each step on its own: after an unplug the first fails, and the others still matter."""
    import usb.util  # noqa: PLC0415

    if number is not None:
        with contextlib.suppress(Exception):
            usb.util.release_interface(device, number)
        if detached:
            with contextlib.suppress(Exception):
                device.attach_kernel_driver(number)
    with contextlib.suppress(Exception):
        usb.util.dispose_resources(device)


def endpoints(interface: Any) -> tuple[Any, Any, Any]:
    """The interface's first bulk OUT, bulk IN and interrupt IN endpoints (the last may be
    None); ConnectError without bulk endpoints."""
    import usb.util  # noqa: PLC0415

    bulk_out = bulk_in = interrupt_in = None
    for endpoint in interface:
        kind = usb.util.endpoint_type(endpoint.bmAttributes)
        inward = usb.util.endpoint_direction(endpoint.bEndpointAddress) == usb.util.ENDPOINT_IN
        if kind == usb.util.ENDPOINT_TYPE_BULK and inward and bulk_in is None:
            bulk_in = endpoint
        elif kind == usb.util.ENDPOINT_TYPE_BULK and not inward and bulk_out is None:
            bulk_out = endpoint
        elif kind == usb.util.ENDPOINT_TYPE_INTR and inward and interrupt_in is None:
            interrupt_in = endpoint
    if bulk_in is None or bulk_out is None:
        raise ConnectError("the camera's interface has no bulk endpoints: not a PTP interface")
    return bulk_out, bulk_in, interrupt_in


#: Makes the transport of a camera that speaks its own protocol (kind "canon"): the client
#: registers it (``connect``), as the transports cannot import the client's gateway.
NativeOpener = Callable[[UsbCamera, str, Any], Transport]


def open_url(
    url: str, options: dict[str, Any], native: dict[str, NativeOpener] | None = None
) -> Transport:
    """The ``usb:`` scheme for :func:`ptpkit.connect`. Options: ``backend``, a PyUSB backend
    (``usb.backend.IBackend``) or its name (see :func:`resolve_backend`); ``events``, "auto",
    "thread" or "between" (see :func:`events_mode`); ``read_bytes``, bytes per bulk read (a
    multiple of 512)."""
    backend = options.pop("backend", None)
    events = options.pop("events", "auto")
    read_bytes = options.pop("read_bytes", READ_BYTES)
    try:
        read_bytes = int(read_bytes)
    except (TypeError, ValueError):
        raise UsageError(f"read_bytes={read_bytes!r}: give a whole number of bytes") from None
    if options:
        raise UsageError(f"usb: unknown option(s) {', '.join(sorted(options))}")
    if isinstance(backend, str):
        backend = resolve_backend(backend)
    if not isinstance(events, str):
        raise UsageError(f"events={events!r}: use one of {', '.join(EVENT_MODES)}")
    events_mode(events, backend)  # a bad mode is refused before the bus is searched
    camera = select_camera(parse_url(url), backend)
    if camera.kind not in ("ptp", "mtp"):
        # A PowerShot in its native mode: never opened as PTP.
        opener = (native or {}).get(camera.kind)
        if opener is None:
            raise ConnectError(f"{camera.describe()} does not speak PTP; use {camera.url}")
        return opener(camera, url, backend)
    return UsbTransport(camera, url=camera.url, read_bytes=read_bytes, events=events)
