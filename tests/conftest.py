"""Shared fixtures: one list of client scenarios, run over every transport.

A scenario asks for ``rig`` and gets an open :class:`~ptpkit.Camera` (``rig.cam``) and the
:class:`~ptpkit.virtual.VirtualCamera` behind it (``rig.vcam``, whose card is a folder under the
test's ``tmp_path``: ``rig.card``), so it can check what happened on the card's disk.

Transports are entries of :data:`TRANSPORTS`: a name and a factory. A factory takes a
VirtualCamera and is a context manager that yields a *connector*: a function that opens a new
Camera on that VirtualCamera (called once per connection, so a scenario with two connections gets
two). Adding a transport is adding one entry, e.g. PTP/IP::

    @contextlib.contextmanager
    def _ptpip(vcam: VirtualCamera) -> Iterator[Connector]:
        with PtpIpServer(vcam, host="127.0.0.1", port=0) as server:  # one server per test
            yield lambda: ptpkit.connect(server.url)

    TRANSPORTS["ptpip"] = _ptpip

and every scenario then runs twice, ``[virtual]`` and ``[ptpip]``. A factory that cannot run on
this machine (no libusb, say) calls ``pytest.skip()``.

The camera behind the rig is the one the ``model`` fixture names (a name of
:data:`ptpkit.virtual.MODELS`): "generic" unless a test module overrides ``model`` with a
parametrised fixture, as the scenario suite does to run every scenario on the generic camera and
on the virtual Canon EOS (ids such as ``[ptpip-canon-eos]``).
"""

from __future__ import annotations

import compileall
import contextlib
import hashlib
import logging
import os
import re
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.virtual import MODELS, VirtualCamera, personality_for
from ptpkit.virtual.network import network_server
from ptpkit.virtual.samplecard import make_sample_card

# Hypothesis's per-example deadline (200 ms) and its too-slow health check measure wall time:
# on a loaded 2-core CI machine a property test failed at 272 ms without a fault. Every property
# keeps its example count; pytest-timeout (120 s a test) still stops one that hangs.
settings.register_profile("ptpkit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ptpkit")

#: Opens one more Camera on the VirtualCamera a factory was given.
Connector = Callable[[], Camera]
#: A transport under test: VirtualCamera -> context manager yielding a Connector.
TransportFactory = Callable[[VirtualCamera], contextlib.AbstractContextManager[Connector]]


@contextlib.contextmanager
def _in_process(vcam: VirtualCamera) -> Iterator[Connector]:
    """``virtual:``: the initiator and responder cores wired together in this process."""
    yield lambda: ptpkit.connect("virtual:", camera=vcam)


@contextlib.contextmanager
def _ptpip(vcam: VirtualCamera) -> Iterator[Connector]:
    """``ptpip:``: the PTP/IP client transport against the virtual camera's PTP/IP server on a
    free port of 127.0.0.1 (one server per test; each connection is a new client). The server is
    the personality's variant (``ptpip_variant``): a Fujifilm serves Fujifilm's, whose URL is
    ``fuji:HOST:P:P+1:P+2``."""
    with network_server(vcam, host="127.0.0.1", port=0) as server:
        yield lambda: ptpkit.connect(server.url)


@contextlib.contextmanager
def _virtual_usb(vcam: VirtualCamera) -> Iterator[Connector]:
    """``virtual+usb:``: ptpkit's USB transport through PyUSB, against a PyUSB backend that is the
    virtual camera as a USB device (descriptors, bulk and interrupt pipes, class requests)."""
    yield lambda: ptpkit.connect("virtual+usb:", camera=vcam)


#: Every transport the client scenarios run over (the fixture ``transport`` is parametrised by
#: these names).
TRANSPORTS: dict[str, TransportFactory] = {
    "virtual": _in_process,
    "ptpip": _ptpip,
    "virtual+usb": _virtual_usb,
}


def interruptible_children() -> None:
    """Give SIGINT back its Python handler when this process started with it ignored.

    A shell without job control (``cmd &`` in a script, a CI runner's background step) starts its
    background commands with SIGINT and SIGQUIT ignored, and an ignored signal stays ignored
    through fork and exec: every ``python -m ptpkit virtual serve`` the tests start would then
    ignore the SIGINT that is their way to stop it, and each such test would hang to its timeout
    (pytest-xdist's workers inherit it from the controller as well). Python installs its SIGINT
    handler only where SIGINT was not ignored at start-up; putting it back here makes the children
    start with SIGINT at its default (a handler set from Python becomes SIG_DFL on exec)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config: pytest.Config) -> None:
    interruptible_children()
    config.addinivalue_line(
        "markers",
        "models_over(model, *transports): run this test on that camera model over those "
        "transports only (the rest of its transport x model grid is deselected)",
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile ptpkit's bytecode once, before the tests start their hundreds of ``python -m
    ptpkit`` processes. CI sets PYTHONDONTWRITEBYTECODE, so without it each of them compiled the
    whole package from source again (about a third of its start-up), as no installed copy ever
    does (pip compiles at install). In the controller only: pytest-xdist's workers start after."""
    if not hasattr(session.config, "workerinput"):
        compileall.compile_dir(Path(ptpkit.__file__).parent, quiet=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect what a ``models_over`` marker leaves out: a costly scenario whose model-specific
    part does not depend on the transport runs on that model over one transport, not all."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        out = any(
            params.get("model") == marker.args[0] and params.get("transport") not in marker.args[1:]
            for marker in item.iter_markers("models_over")
        )
        (dropped if out else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    # The USB lab's tests first (a stable sort: the rest keep their order): their guest boots
    # are the longest work of the run, held by one pytest-xdist worker (xdist_group "usb-lab");
    # collected last, they ran after the rest, the other worker idle for their two minutes.
    items.sort(key=lambda item: item.get_closest_marker("xdist_group") is None)


def pytest_collection_finish(session: pytest.Session) -> None:
    """In a pytest-xdist worker under ``--dist loadgroup``: every test with an ``xdist_group``
    mark must carry its group in its node id (xdist's way of keeping a group on one worker).
    When it does not (pytest 9.2 with xdist 3.8), the USB lab's shared guest boots and the Ray
    cluster run once per worker, in parallel: minutes more and a machine twice as loaded. Stop
    with the reason instead."""
    if not hasattr(session.config, "workerinput") or not session.config.getvalue("loadgroup"):
        return
    lost = [
        item.nodeid
        for item in session.items
        if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid
    ]
    if lost:
        raise pytest.UsageError(
            f"pytest-xdist's loadgroup did not group {lost[0]} (and {len(lost) - 1} more): this "
            "pytest and pytest-xdist do not work together (see the pytest pin in pyproject.toml)"
        )


#: The signals whose handlers the command line sets while a command runs (cli/interrupts.py).
_GUARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@pytest.fixture(autouse=True)
def _signal_handlers_put_back() -> Iterator[None]:
    """A test (an in-process command) that leaves a signal handler changed fails, and the
    handler is put back: a SIGINT left ignored, or a SIGTERM handler closing a server long gone,
    would otherwise be inherited by every later test of the process and the processes they
    start (the SIGINT a test sends to its server would go unheard)."""
    before = {signum: signal.getsignal(signum) for signum in _GUARDED_SIGNALS}
    yield
    changed = []
    for signum, handler in before.items():
        if signal.getsignal(signum) != handler:
            changed.append(f"{signum.name}: {handler!r} -> {signal.getsignal(signum)!r}")
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(signum, handler)  # type: ignore[arg-type]
    if changed:
        pytest.fail("signal handlers left changed: " + "; ".join(changed))


@pytest.fixture(autouse=True, scope="session")
def _private_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the tests' initiator GUID out of the real user's config folder."""
    previous = os.environ.get("PTPKIT_CONFIG_DIR")
    os.environ["PTPKIT_CONFIG_DIR"] = str(tmp_path_factory.mktemp("config"))
    yield
    if previous is None:
        os.environ.pop("PTPKIT_CONFIG_DIR", None)
    else:
        os.environ["PTPKIT_CONFIG_DIR"] = previous


@dataclass
class Rig:
    """A Camera, the VirtualCamera behind it, and a way to open more connections to it."""

    cam: Camera
    vcam: VirtualCamera
    transport: str
    connector: Connector
    #: The virtual camera's model name (ptpkit.virtual.MODELS): "generic", "canon-eos", "fuji-x".
    model: str = "generic"
    #: Every Camera opened through this rig (closed at the end of the test).
    cameras: list[Camera] = field(default_factory=list)

    @property
    def card(self) -> Path:
        """The folder that is the virtual camera's card."""
        return self.vcam.root

    @property
    def eos(self) -> bool:
        """The camera is the virtual Canon EOS (the client runs its ``canon-eos`` extension)."""
        return self.model == "canon-eos"

    @property
    def fuji(self) -> bool:
        """The camera is the virtual Fujifilm X-T2 (the client runs its ``fuji`` extension)."""
        return self.model == "fuji-x"

    @property
    def nikon(self) -> bool:
        """The camera is the virtual Nikon D850 (the client runs its ``nikon`` extension)."""
        return self.model == "nikon"

    @property
    def sony(self) -> bool:
        """The camera is the virtual Sony ILCE-7M3 (the client runs its ``sony`` extension)."""
        return self.model == "sony"

    def connect(self) -> Camera:
        """Another open Camera on the same VirtualCamera, over the same transport."""
        camera = self.connector()
        self.cameras.append(camera)
        return camera

    def card_tree(self) -> dict[str, str]:
        """Everything on the card's disk, hidden files included: relative path -> "dir" or the
        sha256 of the file."""
        return tree(self.card)


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` (symlinks as "link"), mapped to "dir" or its content's sha256."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "link"
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def sample_card_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample card, rendered once per run (tests get a copy: ``card``)."""
    root = tmp_path_factory.mktemp("sample-card")
    make_sample_card(root)
    return root


@pytest.fixture
def card(tmp_path: Path, sample_card_template: Path) -> Path:
    """A fresh copy of the sample card for this test (modification times kept)."""
    root = tmp_path / "card"
    shutil.copytree(sample_card_template, root, copy_function=shutil.copy2)
    return root


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def model_of(vcam: VirtualCamera) -> str:
    """The model name of ``vcam``'s personality ("custom" for one no name makes)."""
    return next((name for name in MODELS if personality_for(name) == vcam.personality), "custom")


@pytest.fixture
def model() -> str:
    """The virtual camera's model behind ``rig`` (a module overrides it to run on others)."""
    return "generic"


@pytest.fixture
def make_rig(transport: str, model: str, card: Path) -> Iterator[Callable[..., Rig]]:
    """``make_rig(vcam=None)``: a Rig over ``transport`` on ``vcam`` (default: a VirtualCamera of
    ``model`` on the ``card`` fixture). Everything it opens is closed at the end of the test."""
    with contextlib.ExitStack() as stack:

        def make(vcam: VirtualCamera | None = None) -> Rig:
            named = model if vcam is None else model_of(vcam)
            if vcam is None:
                vcam = VirtualCamera(card, personality=personality_for(model))
            stack.callback(vcam.close)
            connector = stack.enter_context(TRANSPORTS[transport](vcam))
            rig = Rig(
                cam=connector(),
                vcam=vcam,
                transport=transport,
                connector=connector,
                model=named,
            )
            rig.cameras.append(rig.cam)

            def close_cameras() -> None:
                for camera in rig.cameras:
                    camera.close()

            stack.callback(close_cameras)
            return rig

        yield make


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    """An open Camera over the transport under test, on a VirtualCamera with the sample card."""
    return make_rig()


# -- watching transactions -----------------------------------------------------------------------

_REQUEST_RE = re.compile(r"^-> (?P<name>\S+)\((?P<params>[^)]*)\) tid=")


@dataclass(frozen=True)
class Request:
    name: str
    params: tuple[int, ...]


class TransactionLog(logging.Handler):
    """The requests the client sent, read from the ``ptpkit.transaction`` DEBUG log (the library
    logs each transaction there: ``-> GetPartialObject(0x00000003, ...) tid=7``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.requests: list[Request] = []

    def emit(self, record: logging.LogRecord) -> None:
        match = _REQUEST_RE.match(record.getMessage())
        if match:
            params = match.group("params")
            self.requests.append(
                Request(
                    match.group("name"),
                    tuple(int(p, 16) for p in params.split(", ")) if params else (),
                )
            )

    def named(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.name == name]

    def names(self) -> list[str]:
        return [r.name for r in self.requests]

    def clear(self) -> None:
        self.requests.clear()


@pytest.fixture
def transactions() -> Iterator[TransactionLog]:
    """Records every request sent while the test runs."""
    logger = logging.getLogger("ptpkit.transaction")
    handler = TransactionLog()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
