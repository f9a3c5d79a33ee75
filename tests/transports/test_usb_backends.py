"""USB in the field: backends other than libusb1, and a close from another thread.

- Timeouts come as ``USBTimeoutError`` from PyUSB's libusb1 backend, but as a plain ``USBError``
  with errno 110 (or only libusb's LIBUSB_ERROR_TIMEOUT code, -7) from others: each is a timeout,
  on the command pipe and on the event endpoint alike.
- A backend that runs one transfer at a time (libusb0 on some platforms, network bridges) must
  not have its bulk transfers held up by a waiting interrupt read: events are read between
  transactions there, and still arrive.
- ``close()`` from another thread ends a read that waits for the camera at once, not after the
  whole timeout.
- The backend can be chosen: ``connect("usb:", backend=...)`` takes an object or a name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import usb.core

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.client.connect import transport_for
from ptpkit.errors import ClosedError, TransportTimeout, UsageError
from ptpkit.transports.usb import (
    UsbTransport,
    events_mode,
    is_timeout,
    resolve_backend,
)
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.usb_device import UsbFaults, VirtualUsbDevice, make_backend


@pytest.fixture
def vcam(tmp_path: Path) -> Iterator[VirtualCamera]:
    (tmp_path / "card").mkdir()
    with VirtualCamera(tmp_path / "card") as camera:
        yield camera


# -- every form of a timeout ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        usb.core.USBTimeoutError("Operation timed out", -7, 110),
        usb.core.USBError("Connection timed out", None, 110),  # libusb0, openusb, bridges
        usb.core.USBError("LIBUSB_ERROR_TIMEOUT", -7, None),
        usb.core.USBError("timeout", -110, None),  # libusb0's -ETIMEDOUT as the backend code
    ],
)
def test_every_form_of_a_timeout_is_a_timeout(error: usb.core.USBError) -> None:
    assert is_timeout(error)


@pytest.mark.parametrize(
    "error",
    [usb.core.USBError("Pipe error", -9, 32), usb.core.USBError("No such device", -4, 19)],
)
def test_other_errors_are_not_timeouts(error: usb.core.USBError) -> None:
    assert not is_timeout(error)


@pytest.mark.parametrize("form", ["errno", "libusb_code"])
def test_a_plain_usberror_timeout_on_a_read_is_a_transport_timeout(
    vcam: VirtualCamera, form: str
) -> None:
    transport = transport_for("virtual+usb:", camera=vcam, faults=UsbFaults(timeouts_as=form))
    assert isinstance(transport, UsbTransport)
    transport.open()
    try:
        # Nothing was asked: the camera has nothing to send, so the read times out.
        with pytest.raises(TransportTimeout, match=r"sent nothing for 0\.3 s"):
            transport.read_into(transport.receive_buffer(), 0.3)
    finally:
        transport.close()


@pytest.mark.parametrize("events", ["thread", "between"])
@pytest.mark.parametrize("form", ["errno", "libusb_code"])
def test_events_go_on_after_plain_usberror_timeouts(
    vcam: VirtualCamera, form: str, events: str
) -> None:
    with ptpkit.connect(
        "virtual+usb:", camera=vcam, faults=UsbFaults(timeouts_as=form), events=events
    ) as cam:
        # The event endpoint has timed out several times (200 ms each) before the event comes:
        # each was a timeout, not an error that ended events.
        time.sleep(0.7)
        assert cam.storage_ids() == (0x00010001,)
        vcam.emit(0x400C, 0x00010001)  # StorageInfoChanged
        event = cam.next_event(timeout_s=10)
        assert event is not None
        assert (event.code, event.params) == (0x400C, (0x00010001,))


# -- a backend that runs one transfer at a time --------------------------------------------------


def test_events_mode_follows_the_backend() -> None:
    class Serialising:
        serialises_transfers = True

    class Concurrent:
        serialises_transfers = False

    assert events_mode("auto", Serialising()) == "between"
    assert events_mode("auto", Concurrent()) == "thread"
    assert events_mode("auto", object()) == "between"  # unknown: the safe choice
    assert events_mode("thread", Serialising()) == "thread"  # asked for: obeyed
    with pytest.raises(UsageError, match="events='sometimes'"):
        events_mode("sometimes", None)


def test_pyusb_libusb1_gets_the_event_thread() -> None:
    try:
        backend = resolve_backend("libusb1")
    except UsageError:
        pytest.skip("no libusb-1.0 here")
    assert events_mode("auto", backend) == "thread"


def test_a_serialising_backend_does_not_starve_bulk_transfers(vcam: VirtualCamera) -> None:
    faults = UsbFaults(serialise_transfers=True)
    with ptpkit.connect("virtual+usb:", camera=vcam, faults=faults) as cam:
        assert isinstance(cam.transport, UsbTransport)
        assert cam.transport.events == "between"
        time.sleep(0.3)  # the event reader is running
        start = time.monotonic()
        for _ in range(20):
            cam.transaction(0x1004, [])  # GetStorageIDs, every time on the wire
        elapsed = time.monotonic() - start
        # Each transaction may wait for one short look at the event endpoint (10 ms): 20 took
        # 0.02 s here. With a thread blocked in 200 ms interrupt reads, each transfer queued
        # behind one: 20 transactions took 12 s. 6 s tells them apart on a loaded machine too.
        assert elapsed < 6.0, elapsed
        # And events still come, between transactions.
        vcam.emit(0x400C, 0x00010001)
        event = cam.next_event(timeout_s=10)
        assert event is not None
        assert event.code == 0x400C


# -- close from another thread -------------------------------------------------------------------


@pytest.mark.parametrize("events", ["thread", "between"])
def test_close_from_another_thread_ends_a_waiting_read_at_once(
    vcam: VirtualCamera, events: str
) -> None:
    device = VirtualUsbDevice(vcam)
    cam = Camera(transport_for("usb:", backend=make_backend(device), events=events), timeout_s=20)
    cam.open()
    device.faults.silent = True  # the camera takes the next command and never answers
    outcome: list[BaseException] = []

    def ask() -> None:
        try:
            cam.storage_ids()
        except BaseException as exc:  # the test looks at it
            outcome.append(exc)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    time.sleep(0.5)  # the read is waiting
    assert thread.is_alive()
    start = time.monotonic()
    cam.close()
    thread.join(timeout=10)
    elapsed = time.monotonic() - start
    assert not thread.is_alive()
    # The timeout is 20 s; the read ends within a slice (0.25 s) of the close.
    assert elapsed < 5.0, elapsed
    assert len(outcome) == 1
    assert isinstance(outcome[0], ClosedError), outcome


def test_a_silent_camera_still_times_out_after_the_whole_timeout(vcam: VirtualCamera) -> None:
    device = VirtualUsbDevice(vcam)
    with Camera(transport_for("usb:", backend=make_backend(device)), timeout_s=1.0) as cam:
        device.faults.silent = True
        start = time.monotonic()
        with pytest.raises(TransportTimeout, match="sent nothing for 1 s"):
            cam.storage_ids()
        # Sliced waits keep the caller's timeout: not shorter, not much longer.
        assert 0.9 <= time.monotonic() - start < 5.0


# -- choosing the backend ------------------------------------------------------------------------


def test_connect_takes_a_backend_object(vcam: VirtualCamera) -> None:
    backend = make_backend(VirtualUsbDevice(vcam))
    with ptpkit.connect("usb:", backend=backend) as cam:
        assert cam.storage_ids() == (0x00010001,)
        assert cam.transport.url == "usb:1,7"


def _write_backend_module(folder: Path, card: Path) -> str:
    (folder / "w3_bridge_backend.py").write_text(
        "from ptpkit.virtual import VirtualCamera\n"
        "from ptpkit.virtual.usb_device import VirtualUsbDevice, make_backend\n"
        "def make():\n"
        f"    return make_backend(VirtualUsbDevice(VirtualCamera({str(card)!r})))\n"
        "def broken():\n"
        "    raise RuntimeError('the bridge is down')\n"
        "def not_a_backend():\n"
        "    return 42\n"
    )
    return "w3_bridge_backend"


def test_connect_takes_a_backend_by_module_and_function(
    vcam: VirtualCamera, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _write_backend_module(tmp_path, tmp_path / "card")
    monkeypatch.syspath_prepend(str(tmp_path))
    with ptpkit.connect("usb:", backend=f"{module}:make") as cam:
        assert cam.storage_ids() == (0x00010001,)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("libusb7", "unknown USB backend 'libusb7'"),
        ("no_such_module_w3:make", "cannot import no_such_module_w3"),
        ("w3_bridge_backend:missing", "has no function missing"),
        ("w3_bridge_backend:broken", "the bridge is down"),
        ("w3_bridge_backend:not_a_backend", "not a PyUSB backend"),
    ],
)
def test_a_backend_that_cannot_be_made_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    _write_backend_module(tmp_path, tmp_path / "card")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UsageError, match=message):
        resolve_backend(name)
    with pytest.raises(UsageError, match=message):
        ptpkit.connect("usb:", backend=name)


def test_a_bad_events_mode_is_refused_before_the_bus_is_searched() -> None:
    with pytest.raises(UsageError, match="events="):
        ptpkit.connect("usb:", backend=object(), events="never")


@pytest.mark.parametrize(
    "options", [{"read_bytes": 1000}, {"read_bytes": "lots"}, {"events": "sometimes"}]
)
def test_bad_virtual_usb_options_are_usage_errors_and_close_the_camera_made(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, object]
) -> None:
    """``virtual+usb:`` makes a VirtualCamera (a temporary card) before the transport: an option
    the transport refuses must not leave that camera open, nor raise a bare ValueError."""
    from ptpkit.virtual import VirtualCamera

    made: list[object] = []
    closed: list[object] = []
    real_init, real_close = VirtualCamera.__init__, VirtualCamera.close

    def init(self: VirtualCamera, *args: object, **kwargs: object) -> None:
        made.append(self)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    def close(self: VirtualCamera) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(VirtualCamera, "__init__", init)
    monkeypatch.setattr(VirtualCamera, "close", close)
    with pytest.raises(UsageError):
        ptpkit.connect("virtual+usb:", **options)
    assert closed == made


def test_a_read_size_that_is_no_number_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="read_bytes"):
        transport_for("usb:", read_bytes="lots")
