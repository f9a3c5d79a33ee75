"""The virtual camera: a PTP device in software, with a card backed by a real folder.

::

    with VirtualCamera() as camera:           # a generated sample card in a temporary folder
        session = camera.new_session(UsbFraming())
        ...

One camera serves any number of connections (``ResponderSession``); they share its stores and
properties, and each gets the events. Operations run under the camera's lock, so connections in
different threads see a consistent card. A personality sets what the camera says it is.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ptpkit._version import __version__
from ptpkit.codes.common import Ec, Ofc
from ptpkit.codes.formats import FORMATS_BY_EXTENSION
from ptpkit.core.datasets import DeviceInfo
from ptpkit.core.datatypes import as_int
from ptpkit.core.events import NO_TRANSACTION_ID, Event
from ptpkit.core.ptpip import PtpIpFraming
from ptpkit.core.usb import UsbFraming
from ptpkit.virtual.imaging import render_jpeg
from ptpkit.virtual.livepicture import DEFAULT_LIVE_VIEW, LivePicture, LiveViewSettings
from ptpkit.virtual.misbehave import HOSTILE_NAMES, Misbehavior, Mode
from ptpkit.virtual.operations import build_operations
from ptpkit.virtual.properties import DeviceProperties
from ptpkit.virtual.responder import Operation, ResponderSession
from ptpkit.virtual.samplecard import CAPTURE_FOLDER, make_sample_card
from ptpkit.virtual.storage import (
    DEFAULT_CAPACITY_BYTES,
    HandleAllocator,
    Store,
    StoredObject,
)
from ptpkit.virtual.synthetic import SyntheticCard, SyntheticStore
from ptpkit.virtual.synthetic import install as install_synthetic

#: The storage id of the first store: physical store 1, logical store 1 (ISO 15740 §5.5.3).
DEFAULT_STORAGE_ID: Final = 0x00010001

_CAPTURE_NAME = re.compile(r"^IMG_(\d{4})\.JPG$", re.IGNORECASE)


#: The arrival time of the request the current thread is answering (see request_arrived).
_request = threading.local()


def request_arrived(arrived_ns: int | None) -> None:
    """A server says when the request it is about to hand to a session (in this thread) reached
    the camera (wall clock, ns), or None when it is done; :meth:`VirtualCamera.shutter_fired`
    passes it on to :attr:`VirtualCamera.on_capture`."""
    _request.arrived_ns = arrived_ns


@dataclass(frozen=True, kw_only=True)
class Personality:
    """What the virtual camera says it is in its DeviceInfo."""

    manufacturer: str = "ptpkit"
    model: str = "Virtual Camera"
    serial_number: str = "PTPKIT-0001"
    device_version: str = __version__
    standard_version: int = 110  # PTP 1.1
    # Microsoft's vendor extension id with an MTP description, as most current cameras and
    # phones report: it tells initiators that MTP's object-property operations are available.
    vendor_extension_id: int = 0x00000006
    vendor_extension_version: int = 100
    vendor_extension_desc: str = "microsoft.com: 1.0; android.com: 1.0;"
    #: Adds a vendor's operations and properties to a new camera (e.g. the Canon EOS one in
    #: ptpkit.virtual.canon_eos); None for the generic camera.
    install: Callable[[VirtualCamera], None] | None = None
    #: USB vendor and product ids as a USB device (virtual+usb:, the FunctionFS gadget); None:
    #: the test ids of ptpkit.virtual.usb_device.
    usb_vendor_id: int | None = None
    usb_product_id: int | None = None
    #: The PTP/IP the network server speaks for this camera (``ptpkit virtual serve``,
    #: :func:`ptpkit.virtual.network.network_server`): "standard" (CIPA DC-X005 on 15740) or
    #: "fuji" (Fujifilm's variant on 55740-55742, :mod:`ptpkit.virtual.fujiserver`).
    ptpip_variant: str = "standard"
    #: Size and pace of the live-view picture (:mod:`ptpkit.virtual.livepicture`; the
    #: ``liveview_size`` and ``liveview_fps`` model options).
    live_view: LiveViewSettings = DEFAULT_LIVE_VIEW


GENERIC: Final = Personality()

EVENTS_SUPPORTED: Final = (
    Ec.OBJECT_ADDED,
    Ec.OBJECT_REMOVED,
    Ec.DEVICE_PROP_CHANGED,
    Ec.STORAGE_INFO_CHANGED,
    Ec.CAPTURE_COMPLETE,
)


class VirtualCamera:
    """A PTP responder with a card, properties and a shutter."""

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        personality: Personality = GENERIC,
        friendly_name: str | None = None,
        read_only: bool = False,
        misbehavior: Misbehavior | None = None,
        capacity_bytes: int = DEFAULT_CAPACITY_BYTES,
        synthetic: SyntheticCard | None = None,
    ) -> None:
        self.lock = threading.RLock()
        #: What this camera does wrong on purpose (nothing by default).
        self.misbehavior = misbehavior or Misbehavior()
        self.personality = personality
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        if synthetic is not None:
            # A card computed from its shape (ptpkit.virtual.synthetic): huge, nothing on disk.
            root = Path(synthetic.describe())
        elif root is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="ptpkit-card-")
            root = Path(self._tempdir.name)
            make_sample_card(root)
        root = Path(root)
        if synthetic is None and not root.is_dir():
            raise NotADirectoryError(f"the virtual camera's card must be a folder: {root}")
        self.handles = HandleAllocator()
        self.stores: dict[int, Store] = {
            DEFAULT_STORAGE_ID: SyntheticStore(DEFAULT_STORAGE_ID, synthetic, self.handles)
            if synthetic is not None
            else Store(
                DEFAULT_STORAGE_ID,
                root,
                self.handles,
                read_only=read_only,
                erasable=self._tempdir is not None,
                capacity_bytes=capacity_bytes,
            )
        }
        self.properties = DeviceProperties(friendly_name=friendly_name or personality.model)
        self.operations: dict[int, Operation] = build_operations()
        #: The property codes DeviceInfo lists, when a personality sets its own (a Canon EOS lists
        #: its vendor properties and not the standard exposure ones); None: the generic list.
        self.property_codes: tuple[int, ...] | None = None
        #: Live-view JPEG number n for a network server's stream (the Fujifilm variant's 55742
        #: connection), set by a personality; None: the server's generated frames.
        self.live_view_frames: Callable[[int], bytes | None] | None = None
        self._live_picture: LivePicture | None = None
        if synthetic is not None:
            install_synthetic(self, self.stores[DEFAULT_STORAGE_ID])  # type: ignore[arg-type]
        #: Called each time the shutter fires, before the picture is made, with the wall-clock
        #: time (time.time_ns()) and the time the request that fired it reached the camera (the
        #: kernel's arrival stamp of its packet where the server has one: PTP/IP on Linux; else
        #: None): ``virtual serve --capture-log`` and the rig bench record them.
        self.on_capture: Callable[[int, int | None], None] | None = None
        self._sessions: list[ResponderSession] = []
        self._timers: list[threading.Timer] = []
        self.closed = False
        if personality.install is not None:
            personality.install(self)
        if Mode.HOSTILE_NAMES in self.misbehavior:
            # Names no file system allows, so as generated objects: the card cannot hold them.
            store = self.stores[DEFAULT_STORAGE_ID]
            for index, name in enumerate(HOSTILE_NAMES):
                store.add_generated(name, 1000 + index, seed=index)

    # -- identity --------------------------------------------------------------------------------

    @property
    def live_picture(self) -> LivePicture:
        """The live-view picture every personality's live view shows (made on first use)."""
        with self.lock:
            if self._live_picture is None:
                self._live_picture = LivePicture(
                    self.personality.live_view, label=self.personality.model
                )
            return self._live_picture

    @property
    def root(self) -> Path:
        return self.stores[DEFAULT_STORAGE_ID].root

    @property
    def temporary(self) -> bool:
        return self._tempdir is not None

    def device_info(self) -> DeviceInfo:
        p = self.personality
        return DeviceInfo(
            standard_version=p.standard_version,
            vendor_extension_id=p.vendor_extension_id,
            vendor_extension_version=p.vendor_extension_version,
            vendor_extension_desc=p.vendor_extension_desc,
            functional_mode=0,
            operations_supported=tuple(sorted(self.operations)),
            events_supported=tuple(int(e) for e in EVENTS_SUPPORTED),
            device_properties_supported=(
                self.properties.codes() if self.property_codes is None else self.property_codes
            ),
            capture_formats=(Ofc.EXIF_JPEG,),
            playback_formats=tuple(
                sorted({Ofc.UNDEFINED, Ofc.ASSOCIATION, *FORMATS_BY_EXTENSION.values()})
            ),
            manufacturer=p.manufacturer,
            model=p.model,
            device_version=p.device_version,
            serial_number=p.serial_number,
        )

    # -- connections and events ------------------------------------------------------------------

    def new_session(self, framing: UsbFraming | PtpIpFraming) -> ResponderSession:
        """A responder for one new connection."""
        return ResponderSession(self, framing)

    def attach(self, session: ResponderSession) -> None:
        with self.lock:
            self._sessions.append(session)

    def detach(self, session: ResponderSession) -> None:
        with self.lock:
            if session in self._sessions:
                self._sessions.remove(session)

    @property
    def sessions(self) -> list[ResponderSession]:
        with self.lock:
            return list(self._sessions)

    def emit(
        self,
        code: int,
        *params: int,
        transaction_id: int = NO_TRANSACTION_ID,
        exclude: ResponderSession | None = None,
    ) -> None:
        """Send an event to every connection (but ``exclude``, whose own action caused it)."""
        event = Event(code=int(code), transaction_id=transaction_id, params=tuple(map(int, params)))
        for session in self.sessions:
            if session is not exclude:
                session.queue_event(event)

    # -- objects ---------------------------------------------------------------------------------

    def store(self, storage_id: int) -> Store | None:
        return self.stores.get(storage_id)

    def find(self, handle: int) -> tuple[Store, StoredObject] | None:
        for store in self.stores.values():
            obj = store.objects.get(handle)
            if obj is not None and not obj.pending:
                return store, obj
        return None

    def add_generated_object(
        self,
        size: int,
        *,
        name: str | None = None,
        seed: int = 0,
        storage_id: int = DEFAULT_STORAGE_ID,
    ) -> int:
        """An object of ``size`` bytes of generated content (no file; any size, e.g. 5 GiB).

        Its content is :func:`ptpkit.virtual.content.generated_bytes` of the same size and seed.
        """
        with self.lock:
            store = self.stores[storage_id]
            obj = store.add_generated(name or f"LARGE_{size}.MOV", size, seed=seed)
            return obj.handle

    def capture(self) -> StoredObject:
        """Take a picture: a new JPEG in the capture folder, named after the last one."""
        self.shutter_fired()
        with self.lock:
            store = self.stores[DEFAULT_STORAGE_ID]
            folder = store.root / CAPTURE_FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            numbers = [
                int(m.group(1)) for p in folder.iterdir() if (m := _CAPTURE_NAME.match(p.name))
            ]
            index = max(numbers, default=0) + 1
            name = f"IMG_{index:04d}.JPG"
            settings = self.properties
            exposure = as_int(settings[0x500D].current())
            render_jpeg(
                folder / name,
                title=f"ptpkit  capture {index}",
                taken=settings.clock.now(),
                seed=1000 + index,
                model=self.personality.model,
                make=self.personality.manufacturer,
                exposure=(exposure, 10000) if exposure else None,
                f_number=(as_int(settings[0x5007].current()), 100),
                iso=as_int(settings[0x500F].current()),
            )
            return store.add_file(f"{CAPTURE_FOLDER}/{name}")

    def shutter_fired(self) -> None:
        """Tell :attr:`on_capture` the shutter fires now. A personality that makes its pictures
        its own way (Canon EOS) calls it first thing, as :meth:`capture` does: a rig's skew is
        measured here, on the wall clock, comparable across processes on one computer."""
        hook = self.on_capture
        if hook is not None:
            hook(time.time_ns(), getattr(_request, "arrived_ns", None))

    def after(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` on a timer thread after ``delay_s`` (a capture delay)."""
        timer = threading.Timer(delay_s, action)
        timer.daemon = True
        with self.lock:
            self._timers.append(timer)
        timer.start()

    # -- life ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Drop every connection and remove a temporary card."""
        if self.closed:
            return
        self.closed = True
        for timer in self._timers:
            timer.cancel()
        for session in self.sessions:
            session.close()
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir.name, ignore_errors=True)
            self._tempdir.cleanup()

    def __enter__(self) -> VirtualCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<VirtualCamera {self.personality.model!r} card={str(self.root)!r}>"
