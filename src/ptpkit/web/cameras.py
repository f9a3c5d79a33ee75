"""The cameras of one ``ptpkit web``: each an open :class:`ptpkit.aio.Camera` in a
:class:`Slot`, with the task that turns its events into messages for the page, its live view
(:class:`~ptpkit.web.hub.FrameHub`) and a small cache of object descriptions for the gallery.

The gallery never lists a whole card: a folder is one GetObjectHandles (handles only), and
only the page on screen is described (GetObjectInfo each, kept in a bounded cache), so a card
of 10,000 pictures costs one handle list and a page of descriptions per look.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from ptpkit.aio import Camera
from ptpkit.aio import connect as aio_connect
from ptpkit.client.events import CameraEvent
from ptpkit.client.files import Entry, storage_folder
from ptpkit.client.objects import entry_from_info
from ptpkit.client.operations import ROOT
from ptpkit.client.properties import PropertyDescription
from ptpkit.codes.common import Ec, Ofc
from ptpkit.errors import PTPError, UsageError
from ptpkit.web.hub import Broadcaster, FrameHub

#: What the live-view overlay shows, each as the first of these property names the camera has
#: in its vendor's vocabulary (the table of ``ptpkit liveview --http``'s overlay: names, not
#: codes, as vendors reuse codes).
OVERLAY: Final = (
    ("Program", ("EOS_AutoExposureMode", "ExposureProgramMode")),
    ("Shutter", ("EOS_ShutterSpeed", "ShutterSpeed2", "ShutterSpeed", "ExposureTime")),
    ("Aperture", ("EOS_Aperture", "FNumber")),
    ("ISO", ("EOS_ISOSpeed", "ISO", "ExposureIndex")),
    ("EV", ("EOS_ExpCompensation", "ExposureBiasCompensation")),
)
BATTERY_NAMES: Final = ("EOS_BatteryPower", "BatteryLevel")
#: StorageInfo's FreeSpaceInImages when the camera does not say (ISO 15740 §5.5.3).
_UNKNOWN_IMAGES: Final = 0xFFFFFFFF
#: Object entries kept per camera (with their ObjectInfo: a few hundred bytes each).
ENTRY_CACHE: Final = 4096
#: ObjectCompressedSize of an object of 4 GiB or more (ISO 15740 §5.5.2: 32 bits).
_SIZE_UNKNOWN: Final = 0xFFFFFFFF
#: The largest gallery page.
MAX_PAGE: Final = 500
#: Selections kept for downloads (each at most routes.MAX_SELECTION handles).
SELECTIONS_KEPT: Final = 32
#: How long connecting to a camera may take.
CONNECT_TIMEOUT_S: Final = 30.0
#: Events that change what the status bar shows.
_STATUS_EVENTS: Final = frozenset(
    {
        Ec.OBJECT_ADDED,
        Ec.OBJECT_REMOVED,
        Ec.STORE_ADDED,
        Ec.STORE_REMOVED,
        Ec.STORAGE_INFO_CHANGED,
        Ec.STORE_FULL,
        Ec.CAPTURE_COMPLETE,
    }
)


class UnknownCameraError(LookupError):
    """No camera of that id on this server."""


class Discovered(Protocol):
    """A camera :func:`ptpkit.discover` found."""

    @property
    def url(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def source(self) -> str: ...


Connector = Callable[[str, dict[str, Any]], Awaitable[Camera]]
Discoverer = Callable[[float], Sequence[Discovered]]


async def _connect(url: str, options: dict[str, Any]) -> Camera:
    return await aio_connect(url, **options)


def browser_may_open(url: str) -> bool:
    """Whether a URL typed in the page may be opened: any camera URL but a virtual camera
    serving a local folder (``virtual:/some/folder``), which would let the page read this
    computer's files."""
    scheme, sep, rest = url.partition(":")
    if not sep:
        return False
    if scheme.lower() in ("virtual", "virtual+usb"):
        return rest.partition("?")[0] == ""
    return scheme.lower() in ("ptpip", "fuji", "usb")


def folder_key(storage_id: int, parent: int) -> str:
    """The page's name of a folder (the top of a storage is parent ROOT; entries say 0)."""
    return f"{storage_id:08X}:{ROOT if parent in (0, ROOT) else parent:08X}"


def entry_json(entry: Entry) -> dict[str, Any]:
    info = entry.info
    return {
        "handle": entry.handle,
        "name": entry.name,
        "size": entry.size,
        "folder": entry.is_folder,
        "storage": entry.storage_id,
        "key": folder_key(entry.storage_id, entry.parent),
        "captured": entry.captured.isoformat() if entry.captured else None,
        # Pictures have thumbnails on every camera seen; the page falls back to an icon when
        # GetThumb fails.
        "thumb": bool(info and info.thumb_format and info.thumb_compressed_size)
        or entry.object_format in _IMAGE_FORMATS,
        "image": entry.object_format in _IMAGE_FORMATS,
    }


#: Formats a browser shows: EXIF/JPEG, BMP, GIF, JFIF, PNG (ISO 15740 table 18).
_IMAGE_FORMATS: Final = frozenset({Ofc.EXIF_JPEG, 0x3804, 0x3807, 0x3808, 0x380B})


def property_json(desc: PropertyDescription) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": desc.code,
        "name": desc.name,
        "label": desc.label,
        "writable": desc.writable,
        "current": desc.current_text,
    }
    if desc.allowed is not None:
        out["allowed"] = [desc.format(v) for v in desc.allowed]
        out["index"] = next((i for i, v in enumerate(desc.allowed) if v == desc.current), None)
    elif desc.range is not None:
        r = desc.range
        out["range"] = [desc.format(r.minimum), desc.format(r.maximum), desc.format(r.step)]
    return out


@dataclass
class Slot:
    """One camera of the server."""

    id: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    #: connecting, connected, failed, disconnected
    state: str = "connecting"
    error: str | None = None
    cam: Camera | None = None
    hub: FrameHub | None = None
    overlay: list[tuple[str, int]] = field(default_factory=list)
    battery_code: int | None = None
    property_codes: frozenset[int] = frozenset()
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    entries: OrderedDict[int, Entry] = field(default_factory=OrderedDict)

    def camera(self) -> Camera:
        if self.cam is None or self.state != "connected":
            raise UsageError(f"camera {self.id} ({self.url}) is {self.state}")
        return self.cam

    def summary(self) -> dict[str, Any]:
        model = None
        if self.cam is not None and self.state == "connected":
            info = self.cam.device_info
            model = f"{info.manufacturer} {info.model}".strip()
        return {
            "id": self.id,
            "url": self.url,
            "state": self.state,
            "error": self.error,
            "model": model,
            "overlay": [{"label": label, "code": code} for label, code in self.overlay],
            "live_view": self.hub is not None,
            "half_press": self.cam is not None
            and self.state == "connected"
            and self.cam.half_press_plan() is not None,
        }


class CameraManager:
    """The cameras, their events as messages (:attr:`broadcaster`), and what the routes ask of
    them."""

    def __init__(
        self,
        *,
        download_dir: Path,
        connect: Connector = _connect,
        discover: Discoverer | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.download_dir = download_dir
        self.broadcaster = Broadcaster()
        self._connect = connect
        self._discover = discover
        self.connect_timeout_s = connect_timeout_s
        self.slots: dict[str, Slot] = {}
        self._ids = itertools.count(1)
        #: URLs the last discovery found (the page may open these as they are).
        self.discovered: dict[str, str] = {}
        #: Selections kept for a download: name -> (camera, handles).
        self.selections: OrderedDict[str, tuple[str, list[int]]] = OrderedDict()

    # -- messages --------------------------------------------------------------------------------

    def note(self, text: str, *, camera: str | None = None, level: str = "info") -> None:
        self.broadcaster.publish(
            {"type": "log", "camera": camera, "level": level, "text": text, "time": time.time()}
        )

    def _publish(self, slot: Slot, kind: str, **fields: Any) -> None:
        self.broadcaster.publish({"type": kind, "camera": slot.id, **fields})

    # -- cameras ---------------------------------------------------------------------------------

    def get(self, slot_id: str) -> Slot:
        try:
            return self.slots[slot_id]
        except KeyError:
            raise UnknownCameraError(slot_id) from None

    def keep_selection(self, slot: Slot, handles: list[int]) -> str:
        """Keep a selection for a later GET (a zip the browser downloads by following a
        link: a long selection does not fit in a URL). The newest :data:`SELECTIONS_KEPT`."""
        name = secrets.token_urlsafe(12)
        self.selections[name] = (slot.id, handles)
        while len(self.selections) > SELECTIONS_KEPT:
            self.selections.popitem(last=False)
        return name

    def selection(self, slot: Slot, name: str) -> list[int]:
        kept = self.selections.get(name)
        if kept is None or kept[0] != slot.id:
            raise UsageError("that selection is gone; select the files again")
        return kept[1]

    async def add(self, url: str, options: dict[str, Any] | None = None) -> Slot:
        """Open a camera (its failure is the slot's state and error, not an exception)."""
        slot = Slot(id=f"c{next(self._ids)}", url=url, options=dict(options or {}))
        self.slots[slot.id] = slot
        self._publish(slot, "camera", camera_info=slot.summary())
        try:
            slot.cam = await asyncio.wait_for(
                self._connect(url, slot.options), self.connect_timeout_s
            )
        except (PTPError, OSError, TimeoutError) as exc:
            slot.state, slot.error = "failed", str(exc) or type(exc).__name__
            self.note(f"cannot connect to {url}: {slot.error}", camera=slot.id, level="error")
        else:
            slot.state = "connected"
            await self._configure(slot)
            self._spawn(slot, self._pump_events(slot))
            self.note(f"connected to {url} ({slot.summary()['model']})", camera=slot.id)
        self._publish(slot, "camera", camera_info=slot.summary())
        return slot

    async def _configure(self, slot: Slot) -> None:
        cam = slot.camera()
        by_name: dict[str, int] = {}
        codes = await cam.property_codes()
        slot.property_codes = frozenset(codes)
        for code in codes:
            by_name.setdefault(cam.vocabulary.property_name(code), code)
        for label, names in OVERLAY:
            found = next((by_name[n] for n in names if n in by_name), None)
            if found is not None:
                slot.overlay.append((label, found))
        slot.battery_code = next((by_name[n] for n in BATTERY_NAMES if n in by_name), None)
        # Live view from the camera's extension; one without says so when a viewer asks.
        slot.hub = FrameHub(
            cam.live_view, lambda text: self.note(text, camera=slot.id, level="error")
        )

    def _spawn(self, slot: Slot, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        slot.tasks.add(task)
        task.add_done_callback(slot.tasks.discard)

    async def remove(self, slot_id: str) -> None:
        slot = self.slots.pop(slot_id)
        await self._close(slot)
        self.broadcaster.publish({"type": "removed", "camera": slot_id})

    async def _close(self, slot: Slot) -> None:
        tasks = list(slot.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if slot.hub is not None:
            await slot.hub.close()
        if slot.cam is not None:
            with contextlib.suppress(PTPError, OSError):
                await slot.cam.close()
        slot.state = "disconnected"

    async def close(self) -> None:
        for slot in list(self.slots.values()):
            await self._close(slot)
        self.broadcaster.close()

    async def discover(self, timeout_s: float) -> list[dict[str, str]]:
        """Cameras found on USB and the network (in a worker thread: discovery blocks)."""
        if self._discover is None:
            return []
        found = await asyncio.to_thread(self._discover, timeout_s)
        self.discovered = {camera.url: camera.name for camera in found}
        return [{"url": c.url, "name": c.name, "source": c.source} for c in found]

    # -- events ----------------------------------------------------------------------------------

    async def _pump_events(self, slot: Slot) -> None:
        cam = slot.camera()
        try:
            async for event in cam.events():
                params = ", ".join(f"0x{p:08X}" for p in event.params)
                self.note(f"0x{event.code:04X} {event.name}({params})", camera=slot.id)
                try:
                    await self._on_event(slot, event)
                except PTPError as exc:
                    self.note(f"after {event.name}: {exc}", camera=slot.id, level="error")
        except PTPError as exc:
            slot.state, slot.error = "disconnected", str(exc)
            self.note(f"connection lost: {exc}", camera=slot.id, level="error")
            self._publish(slot, "camera", camera_info=slot.summary())

    async def _on_event(self, slot: Slot, event: CameraEvent) -> None:
        cam = slot.camera()
        code, name, params = event.code, event.name, event.params
        # DevicePropChanged, or a vendor's own (Canon EOS 0xC189 EOS_PropValueChanged: property,
        # value), for a property the page shows.
        changed = params[0] if params and (
            code == Ec.DEVICE_PROP_CHANGED or name.endswith("PropValueChanged")
        ) else None  # fmt: skip
        if code == Ec.OBJECT_ADDED and params:
            # From the event's details where the extension described the object there.
            await self.announce(slot, [await cam.event_entry(event)])
        elif code == Ec.OBJECT_REMOVED and params:
            slot.entries.pop(params[0], None)
            self._publish(slot, "removed-object", handle=params[0])
        elif changed is not None and changed in slot.property_codes:
            desc = await cam.describe_property(changed)
            self._publish(slot, "property", property=property_json(desc))
        if code in _STATUS_EVENTS or (changed is not None and changed == slot.battery_code):
            self._publish(slot, "status", status=await self.status(slot))

    async def announce(self, slot: Slot, entries: Sequence[Entry]) -> None:
        """Tell the pages of new objects (a capture's, or ObjectAdded's)."""
        for entry in entries:
            if entry.info is not None:
                self._remember(slot, entry)
            self._publish(slot, "object", entry=entry_json(entry))

    # -- what the page asks ----------------------------------------------------------------------

    async def status(self, slot: Slot) -> dict[str, Any]:
        cam = slot.camera()
        battery = None
        if slot.battery_code is not None:
            with contextlib.suppress(PTPError):
                battery = (await cam.describe_property(slot.battery_code)).current_text
        storages = []
        for storage in await cam.storages():
            info = storage.info
            storages.append(
                {
                    "id": storage.storage_id,
                    "name": info.description or info.volume_label or storage.folder,
                    "free_bytes": info.free_space_bytes,
                    "capacity": info.max_capacity,
                    "free_images": None
                    if info.free_space_images == _UNKNOWN_IMAGES
                    else info.free_space_images,
                }
            )
        return {"state": slot.state, "battery": battery, "storages": storages}

    async def properties(self, slot: Slot) -> list[dict[str, Any]]:
        return [property_json(desc) for desc in await slot.camera().properties()]

    async def set_property(
        self, slot: Slot, code: int, *, index: int | None, text: str | None
    ) -> dict[str, Any]:
        cam = slot.camera()
        desc = await cam.describe_property(code)
        if index is not None:
            if desc.allowed is None or not 0 <= index < len(desc.allowed):
                raise UsageError(f"{desc.label}: no allowed value number {index}")
            await cam.set_property(code, desc.allowed[index])
        elif text is not None:
            await cam.set_property(code, text)
        else:
            raise UsageError("say which value: index or text")
        now = property_json(await cam.describe_property(code))
        self.note(f"{desc.label} set to {now['current']}", camera=slot.id)
        self._publish(slot, "property", property=now)
        return now

    async def storages(self, slot: Slot) -> list[dict[str, Any]]:
        return [
            {
                "storage": s["id"],
                "name": s["name"],
                "key": folder_key(s["id"], ROOT),
                "path": "/" + storage_folder(s["id"]),
            }
            for s in (await self.status(slot))["storages"]
        ]

    def _remember(self, slot: Slot, entry: Entry) -> None:
        slot.entries[entry.handle] = entry
        slot.entries.move_to_end(entry.handle)
        while len(slot.entries) > ENTRY_CACHE:
            slot.entries.popitem(last=False)

    async def entry(self, slot: Slot, handle: int, storage_id: int | None = None) -> Entry:
        """An object's entry from one GetObjectInfo (kept in the slot's bounded cache). Its
        path is only its name: the page needs no more, and it never becomes a local path."""
        cached = slot.entries.get(handle)
        if cached is not None:
            slot.entries.move_to_end(handle)
            return cached
        cam = slot.camera()
        info = await cam.object_info(handle)
        size = None
        if info.compressed_size == _SIZE_UNKNOWN:
            # 4 GiB or more: the 64-bit size where the camera can tell it.
            size = await cam.object_size(handle, info)
        sid = info.storage_id if storage_id is None else storage_id
        entry = entry_from_info(handle, info, "/" + info.filename, sid, size=size)
        self._remember(slot, entry)
        return entry

    async def folder_page(
        self, slot: Slot, storage_id: int, parent: int, offset: int, limit: int
    ) -> dict[str, Any]:
        """One page of a folder, newest first (cameras list in the order objects were made):
        the folder's handles in one transaction, descriptions for this page only."""
        cam = slot.camera()
        handles = await cam.object_handles(storage_id, parent=parent)
        newest_first = handles[::-1]
        limit = max(1, min(limit, MAX_PAGE))
        page = newest_first[offset : offset + limit]
        items = []
        for handle in page:
            try:
                entry = await self.entry(slot, handle, storage_id)
            except PTPError as exc:
                self.note(f"object 0x{handle:08X}: {exc}", camera=slot.id, level="error")
                continue
            items.append(entry_json(entry))
        # Folders first, as a file manager shows them.
        items.sort(key=lambda item: not item["folder"])
        return {
            "key": folder_key(storage_id, parent),
            "total": len(handles),
            "offset": offset,
            "items": items,
        }
