"""Vendor extensions: per-camera objects made by registered factories, with behaviour hooks.

The design (issue 12; DESIGN.md "Extensions carry behaviour, per camera"):

- **A registry of factories** (aioquic ``congestion/base.py``): an :class:`Extension` subclass is
  its own factory. It is registered by name, says from DeviceInfo whether it applies
  (:meth:`Extension.matches`), and the camera makes **one instance per camera** (wsproto's
  per-connection ``Extension``), so per-camera state lives on the instance, never in dicts keyed
  by ``id(camera)``.
- **A small Session protocol** is all an instance sees of its camera: run a transaction, the
  transport's kind, the device info, emit an event, the clock. Never the concrete Camera, its URL
  or a transport's internals; ext/ never imports client/ (the layering contract).
- **Behaviour hooks with standard-PTP defaults.** Every hook here is "not mine" by default
  (returns None / False / does nothing). The camera asks its extensions in order, vendor first,
  then MTP, and the first answer wins; when none answers, standard PTP is done. So an extension
  overrides only what its cameras do differently.

Third parties register theirs in code (:func:`register`) or through the ``ptpkit.extensions``
entry point group, whose objects are Extension subclasses. A minimal one::

    class Acme(ptpkit.ext.Extension):
        name = "acme"

        @classmethod
        def matches(cls, info):
            return info.manufacturer.startswith("Acme")

        def open_session(self):
            self.session.run(0x9801, (1,))  # the remote mode Acme bodies want

    ptpkit.ext.register(Acme)

Not sequoia-ptpy's runtime mixin classes: the camera holds a list of extension objects and asks
each one.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Protocol, overload, runtime_checkable

from ptpkit._log import get_logger
from ptpkit.codes import CodeSet
from ptpkit.codes.properties import PropertySpec
from ptpkit.core.buffer import BytesLike
from ptpkit.core.datasets import DeviceInfo, DevicePropDesc, ObjectInfo
from ptpkit.core.datatypes import DataType, Value
from ptpkit.errors import ResponseError, TransportTimeout, UsageError
from ptpkit.ext.listing import PropListIndex
from ptpkit.timing import Clock

log = get_logger("ptpkit.ext")

ENTRY_POINT_GROUP = "ptpkit.extensions"


# -- what an extension sees of its camera ----------------------------------------------------------


class DataSink(Protocol):
    """Receives a data phase (the same shape as :class:`ptpkit.client.streams.DataSink`)."""

    def start(self, total_bytes: int | None) -> None: ...

    def write(self, chunk: BytesLike) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Reply:
    """A transaction's answer: response code and parameters, and the data phase when it was
    kept in memory (empty when it went to a sink)."""

    code: int
    params: tuple[int, ...] = ()
    data: bytes = b""
    #: The transaction's id (0xFFFFFFFF where a session does not say).
    transaction_id: int = 0xFFFFFFFF


class Session(Protocol):
    """What an extension's hooks may use of their camera."""

    @property
    def label(self) -> str:
        """A name for logs and thread names (the camera's URL); not for parsing."""
        ...

    @property
    def transport_kind(self) -> str:
        """``"usb"``, ``"ptpip"``, ``"inprocess"``...: what carries the session."""
        ...

    @property
    def device_info(self) -> DeviceInfo: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def transactions_run(self) -> int:
        """Transactions started so far (a keep-alive watches it for idleness)."""
        ...

    @property
    def idle(self) -> bool:
        """No transaction under way."""
        ...

    def run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data: BytesLike | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Reply:
        """One transaction, serialised with every other on the camera. With ``check`` a response
        other than OK raises the ResponseError its code maps to (vendor codes included).
        ``wait_turn=False``: BusyError at once when another transaction is under way, for
        background work that can be done later (an event poll), which must not queue behind a
        download of minutes nor hold up close()."""
        ...

    def emit(self, code: int, params: Sequence[int] = (), *, details: object = None) -> None:
        """Deliver an event to the camera's event stream (and to a capture waiting for it), as
        if the transport had pushed it. ``details``: the vendor's decoded record, if any."""
        ...

    def wait_event(self, codes: Collection[int], timeout_s: float) -> AnswerEvent:
        """The next event (pushed by the transport, or emitted) with one of ``codes``, taken
        from the camera's event stream; others stay queued for the program. Raises
        TransportTimeout when none comes within ``timeout_s`` (Fujifilm's capture waits for
        its events this way: they come on the event connection, not in a poll)."""
        ...

    @property
    def side_channels(self) -> SideChannels | None:
        """The transport's extra connections a vendor's set-up opens itself (Fujifilm's
        PTP/IP event and live-view connections); None on a transport without them."""
        ...


@runtime_checkable
class SideChannels(Protocol):
    """Connections beside the command channel that only the vendor's session set-up may open:
    Fujifilm's PTP/IP event (55741) and live-view (55742) connections listen only after
    InitiateOpenCapture (vendors.md 4.1; :class:`ptpkit.transports.fujiptpip.FujiPtpIpTransport`
    has these methods)."""

    def open_event_channel(self, timeout_s: float | None = None) -> None: ...

    def open_stream(self, timeout_s: float | None = None) -> None: ...

    def read_stream_frame(self, timeout_s: float | None) -> bytes: ...

    def close_stream(self) -> None: ...


# -- what hooks return -----------------------------------------------------------------------------


class EventPoller(Protocol):
    """An event source for cameras that report events only when asked (Canon EOS GetEvent,
    Nikon GetEvent, Fujifilm's change list). The camera runs ``poll`` on a thread of its own."""

    def poll(self) -> float:
        """Ask the camera once, emitting what came through :meth:`Session.emit`; return the
        seconds to wait before the next poll (short while things change, longer when idle).

        A poller may also have ``attentive_interval_s`` (float): the longest wait between polls
        while a program waits for an event (``next_event``, ``wait_event``, a capture). The
        back-off then saves the camera's time only when nobody is watching; without it the
        returned interval always applies."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class CapturedObject:
    """One object a capture made. ``info`` when the camera described it in its event (Canon
    EOS ObjectAddedEx), else the camera reads it with GetObjectInfo. ``in_memory``: the object is
    in the camera's RAM for the computer to fetch (capture to PC), not on a card; after it is
    downloaded the extension's :meth:`Extension.after_download` is told."""

    handle: int
    info: ObjectInfo | None = None
    in_memory: bool = False
    #: One of several objects the camera hands out in turn at one handle (Sony 0xFFFFC001:
    #: the oldest picture in memory, the next once it is read): it cannot be described before
    #: its turn, so it is described (GetObjectInfo) just before it is read; read them in order.
    in_turn: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class AnswerEvent:
    """An event that answered a capture, with the vendor's decoded record behind it
    (``details``: a Canon EOS ObjectAddedEx...), as :meth:`Session.emit` would have queued it."""

    code: int
    params: tuple[int, ...] = ()
    details: object = None
    transaction_id: int = 0xFFFFFFFF


@dataclass(frozen=True, kw_only=True, slots=True)
class CaptureOutcome:
    objects: tuple[CapturedObject, ...]
    #: The events that answered the capture (core Events or AnswerEvents), in order; the
    #: extension did not emit them, so they are not queued again for events().
    events: tuple[Any, ...] = ()
    #: The preview the camera sent with the capture (Fujifilm GetCapturePreview 0x9022: a
    #: small JPEG), or empty.
    preview: bytes = b""


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One transaction of a plan: operation code, parameters, and the data sent (None: no data
    phase)."""

    code: int
    params: tuple[int, ...] = ()
    data: bytes | None = None


#: ISO 15740 operations that SetProperty and WaitProperty steps send.
GET_DEVICE_PROP_VALUE: Final = 0x1015
SET_DEVICE_PROP_VALUE: Final = 0x1016


@dataclass(frozen=True, kw_only=True, slots=True)
class SetProperty:
    """A step of a plan: SetDevicePropValue of property ``code`` to ``value``, sent as
    ``datatype`` (Fujifilm's shutter action 0xD208 before an InitiateCapture)."""

    code: int
    datatype: DataType
    value: int


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitProperty:
    """A step of a plan: GetDevicePropValue of property ``code`` (read as ``datatype``) every
    ``interval_s`` until its value ``equals`` one value or ``leaves`` one (exactly one of the
    two), within ``timeout_s`` of this step and what is left of the whole call. A value among
    ``failures`` ends the plan with ``error`` (its ``name``: the text paired with the value);
    past the time, TransportTimeout. ``what`` names the wait for people ("focusing")."""

    code: int
    datatype: DataType
    equals: int | None = None
    leaves: int | None = None
    interval_s: float = 0.05
    timeout_s: float = 10.0
    failures: tuple[tuple[int, str], ...] = ()
    error: type[ResponseError] = ResponseError
    what: str = "waiting"

    def __post_init__(self) -> None:
        if (self.equals is None) == (self.leaves is None):
            raise ValueError("WaitProperty takes equals= or leaves=, exactly one")
        if self.interval_s <= 0 or self.timeout_s <= 0:
            raise ValueError("WaitProperty's interval_s and timeout_s must be above 0")

    def done(self, value: int) -> bool:
        """Whether ``value`` ends the wait."""
        return value == self.equals if self.equals is not None else value != self.leaves

    def failure(self, value: int) -> str | None:
        """What ``value`` means when it is a failure, else None."""
        return next((text for failed, text in self.failures if failed == value), None)


#: One step of a plan of several (:class:`Steps`).
PlanStep = Step | SetProperty | WaitProperty


@dataclass(frozen=True, kw_only=True, slots=True)
class Steps:
    """A part of a plan made of several steps, sent in order (Fujifilm's half press: set the
    shutter action, InitiateCapture, wait for the AF status). Every step is one transaction but
    a wait, which is as many reads as it takes."""

    steps: tuple[PlanStep, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("Steps needs at least one step")

    @property
    def code(self) -> int:
        """The operation that does it, for people and errors: the first operation step's code
        (InitiateCapture for Fujifilm), else the property operation the first step sends."""
        for step in self.steps:
            if isinstance(step, Step):
                return step.code
        return (
            SET_DEVICE_PROP_VALUE
            if isinstance(self.steps[0], SetProperty)
            else GET_DEVICE_PROP_VALUE
        )


def plan_steps(part: Step | Steps) -> tuple[PlanStep, ...]:
    """A plan part as its steps in order (a lone Step is a sequence of one)."""
    return (part,) if isinstance(part, Step) else part.steps


def plan_operations(part: Step | Steps) -> tuple[int, ...]:
    """The operations a plan part sends, each once, in the order of first use."""
    codes: list[int] = []
    for step in plan_steps(part):
        if isinstance(step, Step):
            codes.append(step.code)
        elif isinstance(step, SetProperty):
            codes.append(SET_DEVICE_PROP_VALUE)
        else:
            codes.append(GET_DEVICE_PROP_VALUE)
    return tuple(dict.fromkeys(codes))


class CapturePlan(Protocol):
    """A vendor's capture cut where the shutter is released (:meth:`Extension.capture_plan`),
    so that the release's request can be prepared and sent at a moment the caller chooses (an
    armed capture: ``Camera.arm_capture``, a rig's synchronised release)::

        step = plan.prepare(deadline)        what comes before the release (events read, a busy
                                             camera waited out, focus); the release's request
        reply = <step run, or sent when armed and its answer read>
        outcome = plan.finish(reply, deadline)
                                             the vendor's follow-up (Canon EOS lets go of the
                                             button) and the wait for the picture
        plan.abandon(sent=...)               instead of finish(): the release was not sent
                                             (sent=False: disarmed), or its transaction failed

    ``deadline``: monotonic seconds on the session's clock. The release must have no data
    phase to be armed (``step.data`` None). ``reply`` is unchecked: a response other than OK
    is the plan's to raise, as its capture would.
    """

    def prepare(self, deadline: float) -> Step: ...

    def finish(self, reply: Reply, deadline: float) -> CaptureOutcome: ...

    def abandon(self, *, sent: bool) -> None: ...


def run_plan(session: Session, plan: CapturePlan, timeout_s: float) -> CaptureOutcome:
    """A capture plan run in one go (:meth:`Extension.capture`'s default): the deadline
    bounds the whole call."""
    clock = session.clock
    deadline = clock.monotonic() + timeout_s
    step = plan.prepare(deadline)
    left = deadline - clock.monotonic()
    if left <= 0:
        plan.abandon(sent=False)
        raise TransportTimeout(f"the camera did not report the capture within {timeout_s:g} s")
    try:
        reply = session.run(step.code, step.params, data=step.data, timeout_s=left, check=False)
    except BaseException:
        plan.abandon(sent=True)
        raise
    return plan.finish(reply, deadline)


@dataclass(frozen=True, kw_only=True, slots=True)
class HalfPress:
    """A vendor's half press (autofocus without a picture), as data (:meth:`Extension.half_press`):
    the camera front ends send it (``Camera.half_press`` / ``release_half_press``) through the
    one runner both share (:mod:`ptpkit.ext.plans`).

    ``press`` starts focusing: one :class:`Step`, or :class:`Steps` (operations, property sets,
    waits for a property); ``release`` lets go (None: nothing to send, the camera ends it by
    itself, e.g. Nikon AfDrive, whose DeviceBusy while it focuses the next operation's busy
    retries wait out). A press that fails after the camera took a part of it is let go (the
    release, best effort) before the error is raised. ``capture_releases``: a capture made
    while it is held presses and lets go of the same button itself (Sony), so nothing needs
    releasing after a capture."""

    #: For people ("DoAf", "AfDrive", "half press").
    name: str
    press: Step | Steps
    release: Step | Steps | None = None
    capture_releases: bool = False


class FrameSource(Protocol):
    """Live-view frames (:class:`ptpkit.client.liveview.LiveView` is built on it). A source may
    also have a ``side_data`` attribute: a mapping of what the camera sent with the last frame
    besides the JPEG (Nikon's live-view sizes, Sony's focus frame, EOS's other blobs), read
    after each :meth:`frame`."""

    def start(self) -> None: ...

    def frame(self) -> bytes | None:
        """The next JPEG frame, or None when the camera has none ready yet."""
        ...

    def stop(self) -> None: ...


class ListedObjects(Sequence[tuple[int, ObjectInfo]]):
    """A folder listing (:meth:`Extension.list_folder`) that describes its objects one at a
    time, when asked: (handle, ObjectInfo) pairs, with the handles alone for the cost of
    reading them. A folder's answer can hold a million entries (Canon EOS GetObjectInfoEx, up
    to the 64 MiB data limit); as ObjectInfos at once they took ~0.9 GB, so the listing keeps
    the answer compact and the walk makes each ObjectInfo as it reaches the object."""

    __slots__ = ()

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def handle(self, index: int) -> int:
        """The handle of the object at ``index``."""

    @abc.abstractmethod
    def info(self, index: int) -> ObjectInfo:
        """What the listing says of the object at ``index``."""

    @overload
    def __getitem__(self, index: int) -> tuple[int, ObjectInfo]: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[int, ObjectInfo], ...]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[int, ObjectInfo] | tuple[tuple[int, ObjectInfo], ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        return self.handle(index), self.info(index)


# -- the extension ---------------------------------------------------------------------------------


class Extension:
    """Base class and factory: the class is registered, the camera makes one instance each."""

    #: Unique short name ("mtp", "canon-eos"...).
    name: ClassVar[str] = "extension"
    #: Code names this extension brings to the camera's vocabulary.
    code_sets: tuple[CodeSet, ...] = ()
    #: Friendly property specs (names, value formatting) for vendor properties.
    properties: tuple[PropertySpec, ...] = ()

    @classmethod
    def matches(cls, info: DeviceInfo) -> bool:
        """Whether this extension applies to the device that sent ``info``."""
        return False

    @classmethod
    def with_options(cls, **options: Any) -> type[Extension]:
        """A factory for this extension with class attributes changed, to register in its
        place: ``register(CanonExtension.with_options(keepalive_interval_s=None), replace=True)``.
        """
        unknown = [key for key in options if not hasattr(cls, key)]
        if unknown:
            raise UsageError(f"{cls.__name__} has no option {', '.join(unknown)}")
        return type(cls.__name__, (cls,), dict(options))

    @classmethod
    def loaded(cls) -> type[Extension]:
        """The class that makes this extension's instances: itself, except for a built-in
        registered before its module is imported (:class:`ptpkit.ext.lazy.LazyExtension`: its
        ``matches()`` is cheap, and its module loads only for a camera that chooses it)."""
        return cls

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- the session ---------------------------------------------------------------------------

    def open_session(self) -> None:
        """After OpenSession: the vendor's set-up (remote mode, event mode, first event dump)."""

    def close_session(self) -> None:
        """Before CloseSession: the vendor's tear-down, in its order. Also stops what
        open_session started (threads, keep-alives)."""

    def response_error(self, code: int) -> type[ResponseError] | None:
        """The error class for a vendor response code (0xA0xx), or None: not mine."""
        return None

    def synthesise_device_info(self, info: DeviceInfo) -> DeviceInfo | None:
        """After :meth:`open_session`: a DeviceInfo to use instead of ``info`` when the body
        answered an empty or incomplete one (Fujifilm over Wi-Fi: landscape.md 1.4, libgphoto2's
        synthesis); None: keep it."""
        return None

    # -- events ----------------------------------------------------------------------------------

    def event_poller(self) -> EventPoller | None:
        """A poller when this camera's events must be asked for; None: they are pushed by the
        transport (interrupt endpoint, PTP/IP event connection)."""
        return None

    # -- capture ---------------------------------------------------------------------------------

    def capture(self, *, timeout_s: float) -> CaptureOutcome | None:
        """Take a picture the vendor's way; None: standard InitiateCapture.

        The default runs :meth:`capture_plan`'s plan when there is one. An extension that
        overrides this without a plan takes its pictures its own way: its cameras' captures
        cannot be armed (a rig releases them one thread each)."""
        plan = self.capture_plan(timeout_s=timeout_s)
        return None if plan is None else run_plan(self.session, plan, timeout_s)

    def capture_plan(self, *, timeout_s: float) -> CapturePlan | None:
        """The vendor's capture as a :class:`CapturePlan` (cut at the shutter's release, so
        that it can be armed); None: not mine. ``timeout_s`` is the capture's, for messages
        (each part gets its deadline). A pure choice: the plan's transactions run in its
        parts."""
        return None

    def after_download(self, captured: CapturedObject) -> None:
        """A captured object was downloaded (capture to PC: tell the camera it may drop it)."""

    def half_press(self) -> HalfPress | None:
        """This camera's half press (autofocus without a picture) as data, or None: not mine.
        Standard PTP has none. A pure hook: no transaction (the front ends send the plan)."""
        return None

    # -- properties ------------------------------------------------------------------------------

    def property_codes(self) -> Collection[int] | None:
        """The properties this camera has, when DeviceInfo does not list them all."""
        return None

    def describe_property(self, code: int) -> DevicePropDesc | None:
        """A property's description (type, value, allowed values), or None: not mine."""
        return None

    def set_property(self, code: int, value: Value, datatype: DataType) -> bool:
        """Set a property the vendor's way; False: not mine (standard SetDevicePropValue)."""
        return False

    def exposure_state(self) -> Sequence[tuple[int, Value]] | None:
        """The camera's exposure state as it reports it: (property code, value) in its order
        (Fujifilm's 0xD212 list, whose properties depend on the exposure program), read now;
        None: not mine (``state`` then shows the standard exposure properties)."""
        return None

    def format_value(self, code: int, value: Value) -> str | None:
        """A value as photographers write it (``f/5.6``, ``1/125``), or None: not mine."""
        return None

    def parse_value(self, code: int, text: str, allowed: Sequence[Value] | None) -> Value | None:
        """The value ``text`` means, or None: not mine. Raise UsageError for text that is
        this extension's property but no value of it."""
        return None

    # -- objects ---------------------------------------------------------------------------------

    #: Whether :meth:`list_folder`'s ObjectInfos are whole (an Entry keeps them as its
    #: ``info``) or hold only what the vendor's listing tells (Canon EOS GetObjectInfoEx: name,
    #: format, size, parent, date; no thumbnail or image fields): then an Entry's ``info`` stays
    #: None, as on the fast MTP listing, rather than pass zeros for facts never read.
    lists_whole_object_info: ClassVar[bool] = True

    def list_folder(self, storage_id: int, parent: int) -> Sequence[tuple[int, ObjectInfo]] | None:
        """Every object in one folder as (handle, info), in as few transactions as the vendor
        allows (Canon EOS GetObjectInfoEx: one); None: not mine. See
        :attr:`lists_whole_object_info`. A :class:`ListedObjects` is described one object at a
        time as the walk reaches it (memory bounded for a folder of any size); any other
        sequence is read whole when the folder is listed."""
        return None

    def object_size(self, handle: int, info: ObjectInfo) -> int | None:
        """The object's size when ObjectInfo's 32-bit field cannot hold it; None: not mine."""
        return None

    def read_object(self, handle: int, offset: int, length: int, sink: DataSink) -> bool:
        """Read ``length`` bytes from ``offset`` into ``sink`` (64-bit offsets where the vendor
        has an operation for them); False: not mine."""
        return False

    #: False where the vendor's bodies answer GetPartialObject wrongly (Fujifilm:
    #: libgphoto2#653): downloads are never resumed from the middle on such a camera, and reads
    #: of a part of an object read it whole.
    partial_reads: ClassVar[bool] = True

    def reads_from(self, offset: int) -> bool:
        """Whether :meth:`read_object` reads this camera's objects from ``offset`` (a download
        asks before it resumes a partial file there); False: not mine."""
        return False

    def index_objects(self, parent: int) -> PropListIndex | None:
        """Every object below ``parent`` (0xFFFFFFFF: every object on the camera), indexed from
        as few transactions as the protocol allows (MTP GetObjPropList: one for the whole
        card); the camera closes the index. None: not mine.

        Asked in order before listing starts; an earlier extension that lists folders its own
        way (overrides :meth:`list_folder`) is preferred to a later one's index, and a camera
        whose index failed (ResponseError, DecodeError, RemoteProtocolError) lists folder by
        folder from then on."""
        return None

    # -- live view -------------------------------------------------------------------------------

    def live_view(self) -> FrameSource | None:
        """The camera's live-view frames; None: this extension has none."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


#: An extension factory: an Extension subclass (name, matches, and the class makes instances).
ExtensionFactory = type[Extension]

_registry: dict[str, ExtensionFactory] = {}
_lock = threading.Lock()
_entry_points_loaded = False


def register(factory: ExtensionFactory, *, replace: bool = False) -> None:
    """Make an extension available to every Camera opened from now on."""
    if not (isinstance(factory, type) and issubclass(factory, Extension)):
        raise TypeError(
            f"register() takes an Extension subclass (its factory), not {factory!r}; "
            "for options: register(MyExtension.with_options(...))"
        )
    with _lock:
        if factory.name in _registry and not replace:
            raise ValueError(f"an extension named {factory.name!r} is already registered")
        _registry[factory.name] = factory


def unregister(name: str) -> None:
    with _lock:
        _registry.pop(name, None)


def registered() -> list[ExtensionFactory]:
    _load_entry_points()
    with _lock:
        return list(_registry.values())


def extensions_for(
    info: DeviceInfo, extra: Iterable[ExtensionFactory] = (), *, forced: Iterable[str] = ()
) -> list[ExtensionFactory]:
    """The extension factories that apply to a device, in the order the camera asks them:
    vendors first, then MTP, then any others, each group in registration order; ``extra`` after.

    ``forced`` names registered extensions used whatever ``matches()`` says: a camera that hides
    its vendor (or a virtual one that plays another) can still be driven with that vendor's codes.
    """
    wanted = check_extension_names(forced)
    chosen = []
    for factory in [*registered(), *extra]:
        try:
            if factory.name in wanted or factory.matches(info):
                chosen.append(factory.loaded())
        except Exception:  # a broken third-party extension must not break the connection
            log.exception("extension %r failed in matches(); ignoring it", factory.name)
    # Vendor behaviour overrides MTP's, which overrides the standard (issue 12).
    return sorted(chosen, key=lambda factory: 1 if factory.name == "mtp" else 0)


def check_extension_names(names: Iterable[str]) -> set[str]:
    """``names`` as a set, or UsageError naming the ones no registered extension has."""
    wanted = {names} if isinstance(names, str) else set(names)
    known = {factory.name for factory in registered()}
    if wanted - known:
        raise UsageError(
            f"no extension named {', '.join(sorted(wanted - known))}; "
            f"known: {', '.join(sorted(known))}"
        )
    return wanted


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from ptpkit.ext.installed import installed_entry_points, load_entry_point  # noqa: PLC0415

    for name, value in installed_entry_points(ENTRY_POINT_GROUP):
        try:
            register(load_entry_point(value))  # type: ignore[arg-type]  # register() checks it
        except Exception:
            log.exception("could not load ptpkit extension %r", name)
