"""The PTP/IP client transport: handshake, failures, timeouts, events, probes and identity.

Most cases need a camera that misbehaves in one precise way, so a small scripted responder
(:class:`ScriptedCamera`, built on ptpkit's own core) plays the camera; the rest use the virtual
camera's PTP/IP server. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import ptpkit
from ptpkit.client.connect import transport_for
from ptpkit.client.engine import Engine
from ptpkit.core.connection import Connection
from ptpkit.core.events import NEED_DATA, Event, Request, Response
from ptpkit.core.framing import LinkEvent
from ptpkit.core.ptpip import (
    InitCommandAck,
    InitCommandRequest,
    InitEventAck,
    InitEventRequest,
    InitFail,
    ProbeRequest,
    ProbeResponse,
    PtpIpFraming,
)
from ptpkit.core.state import Role
from ptpkit.errors import (
    ClosedError,
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    TransportTimeout,
    UsageError,
)
from ptpkit.identity import initiator_guid
from ptpkit.transports.ptpip import PtpIpAddress, PtpIpTransport, parse_url
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.responder import Reply
from ptpkit.virtual.server import PtpIpServer

# -- a scripted camera ---------------------------------------------------------------------------


def _listen() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def _read_event(sock: socket.socket, conn: Connection, timeout_s: float = 5.0) -> object:
    sock.settimeout(timeout_s)
    while (event := conn.next_event()) is NEED_DATA:
        data = sock.recv(65536)
        if not data:
            raise ConnectionResetError("peer closed")
        conn.receive_data(data)
    return event


def _send(sock: socket.socket, buffers: list[bytes | memoryview]) -> None:
    sock.sendall(b"".join(bytes(b) for b in buffers))


class ScriptedCamera:
    """A PTP/IP camera that does only the handshake, the way each test asks it to."""

    def __init__(
        self,
        *,
        answer: Callable[[InitCommandRequest], object] | None = None,
        event_port_delay_s: float = 0.0,
        after_events: Callable[[socket.socket, Connection], None] | None = None,
        with_ack: Sequence[LinkEvent] = (),
        after_command: Callable[[socket.socket, Connection], None] | None = None,
    ) -> None:
        self.command = _listen()
        self.port = self.command.getsockname()[1]
        # The event connection on its own port, opened late when asked (a camera that is slow
        # to accept its second connection).
        self.event_port_delay_s = event_port_delay_s
        with contextlib.closing(_listen()) as probe:
            self.event_port = probe.getsockname()[1]
        self.answer = answer or (
            lambda req: InitCommandAck(connection_number=7, guid=b"\x42" * 16, friendly_name="cam")
        )
        self.after_events = after_events
        #: Link packets sent in the same write as InitCommandAck (a camera that probes at once).
        self.with_ack = with_ack
        #: Plays the command connection once both handshakes are done.
        self.after_command = after_command
        self.requests: list[InitCommandRequest] = []
        self.event_requests: list[InitEventRequest] = []
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"ptpip:127.0.0.1:{self.port}:{self.event_port}"

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            client, _ = self.command.accept()
            self.sockets.append(client)
            conn = Connection(Role.RESPONDER, PtpIpFraming())
            request = _read_event(client, conn)
            assert isinstance(request, InitCommandRequest)
            self.requests.append(request)
            reply = self.answer(request)
            if reply is None:
                return  # stay silent: a camera showing a pairing prompt
            out = conn.send(reply)  # type: ignore[arg-type]
            if isinstance(reply, InitCommandAck):
                for packet in self.with_ack:
                    out += conn.send(packet)
            _send(client, out)
            if not isinstance(reply, InitCommandAck):
                return
            time.sleep(self.event_port_delay_s)
            events = socket.socket()
            events.bind(("127.0.0.1", self.event_port))
            events.listen(1)
            self.sockets.append(events)
            event_client, _ = events.accept()
            self.sockets.append(event_client)
            event_conn = Connection(Role.RESPONDER, PtpIpFraming())
            event_request = _read_event(event_client, event_conn)
            assert isinstance(event_request, InitEventRequest)
            self.event_requests.append(event_request)
            _send(event_client, event_conn.send(InitEventAck()))
            if self.after_events:
                self.after_events(event_client, event_conn)
            if self.after_command:
                self.after_command(client, conn)

    def close(self) -> None:
        for sock in [self.command, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedCamera]]:
    made: list[ScriptedCamera] = []

    def make(**kwargs: object) -> ScriptedCamera:
        camera = ScriptedCamera(**kwargs)  # type: ignore[arg-type]
        made.append(camera)
        return camera

    yield make
    for camera in made:
        camera.close()


def _transport(camera: ScriptedCamera, **kwargs: object) -> PtpIpTransport:
    return PtpIpTransport(
        "127.0.0.1",
        camera.port,
        camera.event_port,
        guid=b"\x01" * 16,
        **kwargs,  # type: ignore[arg-type]
    )


# -- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ptpip:192.168.1.1", PtpIpAddress("192.168.1.1", 15740, None)),
        ("ptpip:192.168.1.1:15741", PtpIpAddress("192.168.1.1", 15741, None)),
        ("ptpip:127.0.0.1:5000:5001", PtpIpAddress("127.0.0.1", 5000, 5001)),
        ("ptpip://camera.local", PtpIpAddress("camera.local", 15740, None)),
        ("ptpip:[::1]:15740", PtpIpAddress("::1", 15740, None)),
        ("PTPIP:cam", PtpIpAddress("cam", 15740, None)),
    ],
)
def test_parse_url(url: str, expected: PtpIpAddress) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize("url", ["ptpip:", "ptpip:host:99999", "ptpip:host:port", "usb:1,2"])
def test_parse_url_refuses_nonsense(url: str) -> None:
    with pytest.raises(UsageError):
        parse_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "ptpip:host:" + "9" * 5000,  # was a bare ValueError (int()'s 4,300-digit limit)
        "ptpip:host:15740:" + "1" * 5000,
        "ptpip:host:\u0661\u0665\u0667\u0664\u0660",  # Arabic-Indic 15740: int() took it
        "ptpip:host:0",
        "ptpip:host:000000000000000000065536",
    ],
)
def test_url_ports_are_read_as_every_other_number(url: str) -> None:
    """Issue 11 (non-finite or absurd numbers refused with a clear message): the URL's ports
    too, in ASCII digits, 1 to 65535, whatever their length; leading zeros are only zeros."""
    with pytest.raises(UsageError, match=r"out of range|not a PTP/IP URL"):
        parse_url(url)
    assert parse_url("ptpip:host:015740") == PtpIpAddress(host="host", port=15740)


def test_url_round_trips() -> None:
    for url in ("ptpip:10.0.0.2", "ptpip:10.0.0.2:5000", "ptpip:10.0.0.2:5000:5001"):
        assert parse_url(url).url == url


# -- the handshake -------------------------------------------------------------------------------


def test_what_follows_init_command_ack_is_the_engines_to_read(
    scripted: Callable[..., ScriptedCamera],
) -> None:
    """The handshake runs on a connection of its own, thrown away after it: it reads
    InitCommandAck to its last byte and no further, so a probe the camera sends in the same
    segment reaches the engine's connection, which answers it and then gets its response."""
    heard: list[object] = []

    def serve(sock: socket.socket, conn: Connection) -> None:
        request = _read_event(sock, conn)
        assert isinstance(request, Request)
        _send(sock, conn.send(Response(code=0x2001, transaction_id=request.transaction_id)))
        heard.append(_read_event(sock, conn))

    camera = scripted(with_ack=[ProbeRequest()], after_command=serve)
    transport = _transport(camera)
    transport.open()
    try:
        assert transport.connection_number == 7
        engine = Engine(transport, timeout_s=5.0)
        assert engine.idle  # the engine's connection starts after the handshake
        answer, _ = engine.run(0x1001)
        assert answer.code == 0x2001
        camera.thread.join(timeout=5)
        assert heard == [ProbeResponse()]
    finally:
        transport.close()


def test_handshake_sends_guid_name_and_version_and_quotes_the_connection_number(
    scripted: Callable[..., ScriptedCamera],
) -> None:
    camera = scripted()
    transport = _transport(camera, friendly_name="studio-mac")
    transport.open()
    try:
        (request,) = camera.requests
        assert request.guid == b"\x01" * 16
        assert request.friendly_name == "studio-mac"
        assert request.protocol_version == 0x00010000
        assert camera.event_requests[0].connection_number == 7
        assert transport.responder_name == "cam"
        assert transport.responder_guid == b"\x42" * 16
    finally:
        transport.close()


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (1, "not paired"),
        (2, "busy"),
        (3, "without saying why"),
        (4, "GUID"),
        (99, "reason 99"),
    ],
)
def test_init_fail_is_a_connect_error_naming_the_cause(
    scripted: Callable[..., ScriptedCamera], reason: int, words: str
) -> None:
    camera = scripted(answer=lambda req: InitFail(reason=reason))
    transport = _transport(camera)
    with pytest.raises(ConnectError, match=words) as raised:
        transport.open()
    # The user needs the GUID the camera refused to pair it.
    assert str(uuid.UUID(bytes=b"\x01" * 16)) in str(raised.value)


def test_busy_server_answers_init_fail(tmp_path: Path) -> None:
    with (
        VirtualCamera(tmp_path) as camera,
        PtpIpServer(camera, "127.0.0.1", 0, max_sessions=0) as server,
        pytest.raises(ConnectError, match="busy"),
    ):
        ptpkit.connect(server.url)


def test_refused_connection_says_so() -> None:
    with contextlib.closing(_listen()) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there now
    with pytest.raises(ConnectError, match="refused"):
        ptpkit.connect(f"ptpip:127.0.0.1:{port}")


def test_a_camera_that_never_acknowledges_times_out_as_pairing(
    scripted: Callable[..., ScriptedCamera],
) -> None:
    camera = scripted(answer=lambda req: None)
    transport = _transport(camera, pairing_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(ConnectTimeout, match="InitCommandAck") as raised:
        transport.open()
    assert time.monotonic() - started < 3
    # A ConnectTimeout is both a connect failure and a timeout.
    assert isinstance(raised.value, TransportTimeout)
    assert isinstance(raised.value, ConnectError)


def test_event_connection_is_retried_while_refused(
    scripted: Callable[..., ScriptedCamera],
) -> None:
    camera = scripted(event_port_delay_s=0.25)  # refused for the first ~3 attempts
    transport = _transport(camera)
    transport.open()
    try:
        assert camera.event_requests
    finally:
        transport.close()


# -- timeouts, events and probes -----------------------------------------------------------------


def test_response_timeout_says_what_was_waited_for(tmp_path: Path) -> None:
    with VirtualCamera(tmp_path) as virtual, PtpIpServer(virtual, "127.0.0.1", 0) as server:
        original = virtual.operations[0x1005]
        # The camera answers only when the test is over (30 s at most): a wait that ignored the
        # 0.3 s would take that long, told apart from the deadline by a margin a loaded machine
        # does not reach (the answer in 1.5 s this once waited for was too close to it).
        over = threading.Event()

        def slow(ctx: object) -> Reply:
            over.wait(30)
            return original.handler(ctx)  # type: ignore[arg-type]

        virtual.operations[0x1005] = type(original)(code=0x1005, handler=slow)
        try:
            with ptpkit.connect(server.url) as cam:
                started = time.monotonic()
                with pytest.raises(TransportTimeout, match=r"sent nothing for 0\.3 s"):
                    cam.transaction(0x1005, [0x00010001], timeout_s=0.3)
                assert time.monotonic() - started < 5
                # The abandoned transaction leaves the link unusable, and says so.
                with pytest.raises(ClosedError, match="reconnect"):
                    cam.storage_ids()
        finally:
            over.set()


def test_a_camera_that_stops_reading_times_out_a_send(
    scripted: Callable[..., ScriptedCamera],
) -> None:
    """A camera that takes none of our bytes (a Wi-Fi link gone without a reset) ends a send
    after send_timeout_s, not after TCP's ~15 minutes of retries."""
    camera = scripted()  # after the handshake it never reads its command connection again
    transport = _transport(camera, send_timeout_s=0.5, probe_interval_s=None)
    transport.open()
    try:
        started = time.monotonic()
        with pytest.raises(TransportTimeout, match=r"took no data for 0\.5 s"):
            transport.write([bytes(64 * 1024 * 1024)])
        assert time.monotonic() - started < 10
    finally:
        transport.close()


def test_events_arrive_from_the_event_connection(tmp_path: Path) -> None:
    with (
        VirtualCamera(tmp_path) as virtual,
        PtpIpServer(virtual, "127.0.0.1", 0) as server,
        ptpkit.connect(server.url) as cam,
    ):
        virtual.emit(0x4008)  # DeviceInfoChanged, from the camera's side
        event = cam.next_event(timeout_s=5)
        assert event is not None
        assert event.code == 0x4008
        assert event.name == "DeviceInfoChanged"


def test_a_closed_event_connection_is_an_error_on_the_event_stream_not_a_hang(
    scripted: Callable[..., ScriptedCamera],
) -> None:
    def close_soon(sock: socket.socket, conn: Connection) -> None:
        time.sleep(0.2)
        sock.close()

    camera = scripted(after_events=close_soon)
    transport = _transport(camera, probe_interval_s=None)
    transport.open()
    errors: list[Exception] = []
    done = threading.Event()
    transport.start_events(lambda e: None, lambda exc: (errors.append(exc), done.set()))
    try:
        assert done.wait(5)
        assert isinstance(errors[0], DisconnectedError)
        assert "closed the event connection" in str(errors[0])
    finally:
        transport.close()


def test_the_client_answers_the_cameras_probe_and_delivers_events(
    scripted: Callable[..., ScriptedCamera],
) -> None:
    answers: list[object] = []

    def probe_then_event(sock: socket.socket, conn: Connection) -> None:
        _send(sock, conn.send(ProbeRequest()))
        answers.append(_read_event(sock, conn))
        _send(sock, conn.send(Event(code=0x4002, transaction_id=0xFFFFFFFF, params=(5,))))
        time.sleep(1.0)

    camera = scripted(after_events=probe_then_event)
    transport = _transport(camera, probe_interval_s=None)
    transport.open()
    received: list[Event] = []
    got = threading.Event()
    transport.start_events(lambda e: (received.append(e), got.set()), lambda exc: None)
    try:
        assert got.wait(5)
        assert isinstance(answers[0], ProbeResponse)
        assert received[0].code == 0x4002
        assert received[0].params == (5,)
    finally:
        transport.close()


def test_an_idle_camera_is_probed_and_a_silent_one_is_not_declared_gone(
    scripted: Callable[..., ScriptedCamera],
) -> None:
    """Probes keep an idle link alive; a camera that stops answering them is not gone for it
    (libgphoto2 never answers probes, so cameras that ignore them exist): the miss is counted,
    no error reaches the event stream."""
    probes: list[object] = []

    def answer_one_probe_then_ignore_them(sock: socket.socket, conn: Connection) -> None:
        probes.append(_read_event(sock, conn))
        _send(sock, conn.send(ProbeResponse()))
        probes.append(_read_event(sock, conn))  # the next probe: never answered
        time.sleep(3)

    camera = scripted(after_events=answer_one_probe_then_ignore_them)
    transport = _transport(camera, probe_interval_s=0.2, probe_timeout_s=0.4)
    transport.open()
    errors: list[Exception] = []
    transport.start_events(lambda e: None, errors.append)
    try:
        deadline = time.monotonic() + 5
        while transport.probes_missed < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(isinstance(p, ProbeRequest) for p in probes)
        assert len(probes) == 2
        assert transport.probes_answered == 1
        assert transport.probes_missed >= 1
        assert errors == []
    finally:
        transport.close()


def test_the_virtual_camera_answers_probes(tmp_path: Path) -> None:
    with (
        VirtualCamera(tmp_path) as virtual,
        PtpIpServer(virtual, "127.0.0.1", 0) as server,
        ptpkit.connect(server.url, probe_interval_s=0.1, probe_timeout_s=1.0) as cam,
    ):
        # Many probe rounds pass without an error reaching the event stream.
        assert cam.next_event(timeout_s=1.0) is None
        assert cam.storage_ids() == (0x00010001,)


# -- identity ------------------------------------------------------------------------------------


def test_the_initiator_guid_is_made_once_and_kept(tmp_path: Path) -> None:
    first = initiator_guid(tmp_path)
    assert len(first) == 16
    assert initiator_guid(tmp_path) == first
    assert (tmp_path / "initiator-guid").read_text().strip() == str(uuid.UUID(bytes=first))


def test_guid_and_name_can_be_set_per_connection(scripted: Callable[..., ScriptedCamera]) -> None:
    camera = scripted()
    guid = "00112233-4455-6677-8899-aabbccddeeff"
    # The scripted camera only does the handshake: open the transport that connect() would use.
    transport = transport_for(camera.url, guid=guid, friendly_name="rig-7")
    transport.open()
    transport.close()
    assert camera.requests[0].guid == bytes.fromhex(guid.replace("-", ""))
    assert camera.requests[0].friendly_name == "rig-7"


def test_unknown_connect_options_are_refused() -> None:
    with pytest.raises(UsageError, match="unknown option"):
        ptpkit.connect("ptpip:127.0.0.1", colour="blue")
