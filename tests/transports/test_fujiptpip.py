"""The Fujifilm PTP/IP transport against the virtual camera's Fujifilm server, and against
scripted cameras that misbehave in one precise way each. Everything stays on 127.0.0.1.

The session set-up (InitSequence, AppVersion, InitiateOpenCapture, then the event connection)
is done here by hand, as the Fujifilm extension does it for a real camera.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.interop.fuji_setup import APP_VERSION, FUJI_SETUP, INIT_SEQUENCE, X_T1_APP_VERSION

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.client.connect import transport_for
from ptpkit.client.engine import Engine
from ptpkit.core import fujiptpip as fuji
from ptpkit.errors import (
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    RemoteProtocolError,
    TransportTimeout,
    UsageError,
)
from ptpkit.transports.fujiptpip import FujiAddress, FujiPtpIpTransport, parse_url
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.fujiserver import FujiPtpIpServer
from ptpkit.virtual.misbehave import Misbehavior
from ptpkit.virtual.network import network_server

# -- URLs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected", "ports"),
    [
        ("fuji:192.168.0.1", FujiAddress("192.168.0.1"), (55740, 55741, 55742)),
        ("fuji:192.168.0.1:55740", FujiAddress("192.168.0.1", 55740), (55740, 55741, 55742)),
        ("fuji:cam:6000", FujiAddress("cam", 6000), (6000, 6001, 6002)),
        ("fuji:cam:6000:7000", FujiAddress("cam", 6000, 7000), (6000, 7000, 7001)),
        ("FUJI://cam:1:2:3", FujiAddress("cam", 1, 2, 3), (1, 2, 3)),
        ("fuji:[fe80::1]:55740", FujiAddress("fe80::1", 55740), (55740, 55741, 55742)),
    ],
)
def test_parse_url(url: str, expected: FujiAddress, ports: tuple[int, int, int]) -> None:
    address = parse_url(url)
    assert address == expected
    assert (address.port, address.events, address.stream) == ports
    assert parse_url(address.url) == address


@pytest.mark.parametrize(
    "url", ["fuji:", "fuji:cam:0", "fuji:cam:65535", "fuji:cam:1:2:3:4", "fuji:cam:x", "ptpip:cam"]
)
def test_parse_url_refuses_nonsense(url: str) -> None:
    with pytest.raises(UsageError):
        parse_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "fuji:cam:" + "9" * 5000,  # was a bare ValueError (int()'s 4,300-digit limit)
        "fuji:cam:55740:55741:" + "7" * 5000,
        "fuji:cam:\u0665\u0665\u0667\u0664\u0660",  # Arabic-Indic 55740: int() took it
    ],
)
def test_url_ports_are_read_as_every_other_number(url: str) -> None:
    with pytest.raises(UsageError, match=r"out of range|not a Fujifilm PTP/IP URL"):
        parse_url(url)


def test_the_scheme_is_registered_and_options_are_checked() -> None:
    transport = transport_for("fuji:127.0.0.1", friendly_name="a" * 40, guid=str(uuid.UUID(int=1)))
    assert isinstance(transport, FujiPtpIpTransport)
    assert transport.kind == "fujiptpip"
    assert transport.friendly_name == "a" * 26  # the 82-byte packet's field
    assert transport.guid == uuid.UUID(int=1).bytes
    with pytest.raises(UsageError, match="probe_interval_s"):
        transport_for("fuji:127.0.0.1", probe_interval_s=3)


# -- against the virtual camera -------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[VirtualCamera, FujiPtpIpServer]]:
    card = tmp_path / "card"
    (card / "DCIM" / "100FUJI").mkdir(parents=True)
    (card / "DCIM" / "100FUJI" / "DSCF0001.JPG").write_bytes(b"\xff\xd8" + bytes(range(256)) * 40)
    (card / "DCIM" / "100FUJI" / "DSCF0002.RAF").write_bytes(b"FUJIFILMCCD-RAW " * 70000)
    with VirtualCamera(card, personality=FUJI_SETUP) as camera:
        server = network_server(camera, port=0)
        assert isinstance(server, FujiPtpIpServer)
        with server:
            yield camera, server


def session_setup(cam: Camera) -> None:
    """What a Fujifilm client does after OpenSession (libgphoto2 library.c camera_init)."""
    assert cam.transaction(0x1016, [INIT_SEQUENCE], data=struct.pack("<H", 5)).ok
    version = cam.transaction(0x1015, [APP_VERSION])
    assert cam.transaction(0x1016, [APP_VERSION], data=version.data).ok
    assert cam.transaction(0x101C, [0, 0]).ok
    transport = cam.transport
    assert isinstance(transport, FujiPtpIpTransport)
    transport.open_event_channel()


def test_session_device_info_listing_and_download(
    served: tuple[VirtualCamera, FujiPtpIpServer], tmp_path: Path
) -> None:
    camera, server = served
    with ptpkit.connect(server.url, friendly_name="studio-mac") as cam:
        assert cam.transport.kind == "fujiptpip"
        assert cam.device_info.model == "Virtual Camera"
        assert cam._engine is not None
        assert cam._engine.connection.session_id == 1  # the engine owns the connection
        transport = cam.transport
        assert isinstance(transport, FujiPtpIpTransport)
        assert transport.responder_name == "Virtual Camera"
        session_setup(cam)
        assert camera.fuji_set_log == [  # type: ignore[attr-defined]
            (INIT_SEQUENCE, 5),
            (APP_VERSION, X_T1_APP_VERSION),
        ]
        names = {entry.name for entry in cam.walk()}
        assert {"DCIM", "100FUJI", "DSCF0001.JPG", "DSCF0002.RAF"} <= names
        for name in ("DSCF0001.JPG", "DSCF0002.RAF"):
            saved = cam.download(f"DCIM/100FUJI/{name}", tmp_path)
            assert saved is not None
            original = camera.root / "DCIM" / "100FUJI" / name
            assert hashlib.sha256(saved.read_bytes()).digest() == (
                hashlib.sha256(original.read_bytes()).digest()
            )


def test_events_arrive_on_the_event_connection(
    served: tuple[VirtualCamera, FujiPtpIpServer],
) -> None:
    camera, server = served
    with ptpkit.connect(server.url) as cam:
        session_setup(cam)
        camera.emit(0x4002, 0x1234)
        event = cam.next_event(timeout_s=5)
        assert event is not None
        assert (event.code, event.params) == (0x4002, (0x1234,))


def test_events_queued_before_the_event_connection_come_when_it_opens(
    served: tuple[VirtualCamera, FujiPtpIpServer],
) -> None:
    camera, server = served
    with ptpkit.connect(server.url) as cam:
        camera.emit(0x4008)
        assert cam.next_event(timeout_s=0.2) is None  # no event connection yet
        session_setup(cam)
        event = cam.next_event(timeout_s=5)
        assert event is not None
        assert event.code == 0x4008


def test_two_clients_of_one_host_each_get_their_own_events_when_the_server_falls_behind(
    served: tuple[VirtualCamera, FujiPtpIpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event connection has no handshake: the server matches it by host. Its event and
    live-view ports' accept loop is held here until both clients have dialled theirs (as a
    loaded machine can delay a thread): the first client's connection, made before the second
    session's InitiateOpenCapture, must still be the first session's. Matching it only when the
    server got round to it gave it to the second (the newest session waiting for one): each
    client heard the other's events (CI:
    test_other_connections_hear_of_uploads_and_deletes[ptpip-fuji-x])."""
    camera, server = served
    in_both = threading.Event()
    accept_loop = FujiPtpIpServer._side_accept_loop

    def late_accept_loop(self: FujiPtpIpServer, listeners: list[socket.socket]) -> None:
        in_both.wait(10)
        accept_loop(self, listeners)

    monkeypatch.setattr(FujiPtpIpServer, "_side_accept_loop", late_accept_loop)
    server.close()  # the fixture's server started its loop before the patch: a new one
    with (
        network_server(camera, port=0) as late,
        ptpkit.connect(late.url) as first,
        ptpkit.connect(late.url) as second,
    ):
        session_setup(first)
        session_setup(second)
        in_both.set()
        one, two = camera.sessions
        camera.emit(0x4008, 1, exclude=two)
        camera.emit(0x4008, 2, exclude=one)
        for cam, param in ((first, 1), (second, 2)):
            event = cam.next_event(timeout_s=5)
            assert event is not None
            assert (event.code, event.params) == (0x4008, (param,))
        assert late.event_connections == 2


def test_a_client_gone_before_the_server_got_round_to_its_connections_had_them_matched(
    served: tuple[VirtualCamera, FujiPtpIpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick client (gphoto2 --summary) opens its event and live-view connections and is done
    and gone before a loaded server's accept loop runs (held here until then): as its session
    ends, the server matches what it dialled, instead of refusing them as matching nothing once
    the session is forgotten (test_gphoto2_fuji's summary test saw (0, 0) under load)."""
    camera, server = served
    gone = threading.Event()
    accept_loop = FujiPtpIpServer._side_accept_loop
    link_ending = FujiPtpIpServer._link_ending

    def late_accept_loop(self: FujiPtpIpServer, listeners: list[socket.socket]) -> None:
        gone.wait(10)
        accept_loop(self, listeners)

    def session_gone(self: FujiPtpIpServer, link: Any) -> None:
        link_ending(self, link)
        gone.set()

    monkeypatch.setattr(FujiPtpIpServer, "_side_accept_loop", late_accept_loop)
    monkeypatch.setattr(FujiPtpIpServer, "_link_ending", session_gone)
    server.close()  # the fixture's server started its loop before the patch: a new one
    with network_server(camera, port=0) as late:
        assert isinstance(late, FujiPtpIpServer)
        with ptpkit.connect(late.url) as cam:
            session_setup(cam)
            transport = cam.transport
            assert isinstance(transport, FujiPtpIpTransport)
            transport.open_stream()
        assert gone.wait(10)  # the server saw the session end (on its own thread)
        assert (late.event_connections, late.stream_connections) == (1, 1)


def test_an_event_connection_before_initiate_open_capture_is_closed(
    served: tuple[VirtualCamera, FujiPtpIpServer],
) -> None:
    # A camera listens only after InitiateOpenCapture; the virtual one closes the connection.
    _, server = served
    transport = transport_for(server.url)
    assert isinstance(transport, FujiPtpIpTransport)
    transport.open()
    try:
        errors: list[Exception] = []
        done = threading.Event()
        transport.start_events(lambda e: None, lambda exc: (errors.append(exc), done.set()))
        transport.open_event_channel()
        assert done.wait(5)
        assert isinstance(errors[0], DisconnectedError)
        assert "closed the event connection" in str(errors[0])
    finally:
        transport.close()


def test_live_view_frames_come_on_the_stream_connection(
    served: tuple[VirtualCamera, FujiPtpIpServer],
) -> None:
    _, server = served
    with ptpkit.connect(server.url) as cam:
        session_setup(cam)
        transport = cam.transport
        assert isinstance(transport, FujiPtpIpTransport)
        transport.open_stream()
        headers = []
        for _ in range(3):
            header, jpeg = fuji.split_frame(transport.read_stream_frame(timeout_s=10))
            assert jpeg[:2] == b"\xff\xd8"
            assert jpeg[-2:] == b"\xff\xd9"
            headers.append(header)
        assert [h[4] for h in headers] == [0, 1, 2]
        transport.close_stream()
        assert not transport.stream_open


def test_a_failed_download_is_drained_and_the_link_stays_usable(
    served: tuple[VirtualCamera, FujiPtpIpServer],
) -> None:
    # The variant has no cancel: the engine drains the rest of the data phase to its response.
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    _, server = served
    with ptpkit.connect(server.url) as cam:
        entry = cam.find("DCIM/100FUJI/DSCF0002.RAF")
        with pytest.raises(OSError, match="No space"):
            cam.transaction(0x1009, [entry.handle], into=Full())  # type: ignore[arg-type]
        assert cam.device_info.model == "Virtual Camera"
        assert len(cam.read(entry, 0, 16)) == 16  # the next transactions work


def test_the_server_lays_out_three_consecutive_ports(
    served: tuple[VirtualCamera, FujiPtpIpServer],
) -> None:
    _, server = served
    assert (server.event_port, server.stream_port) == (server.port + 1, server.port + 2)
    assert server.url == f"fuji:127.0.0.1:{server.port}:{server.port + 1}:{server.port + 2}"
    assert server.gphoto2_port == f"ptpip:127.0.0.1:{server.port}:{server.port + 1}"


def test_a_generic_camera_matches_the_event_connection_at_once(tmp_path: Path) -> None:
    # A camera without InitiateOpenCapture cannot gate on it: events flow as soon as asked.
    with (
        VirtualCamera(tmp_path) as camera,
        FujiPtpIpServer(camera, port=0) as server,
        ptpkit.connect(server.url) as cam,
    ):
        transport = cam.transport
        assert isinstance(transport, FujiPtpIpTransport)
        transport.open_event_channel()
        camera.emit(0x400D)
        event = cam.next_event(timeout_s=5)
        assert event is not None
        assert event.code == 0x400D


def test_a_generic_camera_gives_two_clients_their_own_events_when_the_server_falls_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with InitiateOpenCapture above, for a camera without it (matched at once): the first
    client's event connection, made before the second client's session existed, is the first
    session's even when the server gets round to it only after the second client came."""
    in_both = threading.Event()
    accept_loop = FujiPtpIpServer._side_accept_loop

    def late_accept_loop(self: FujiPtpIpServer, listeners: list[socket.socket]) -> None:
        in_both.wait(10)
        accept_loop(self, listeners)

    monkeypatch.setattr(FujiPtpIpServer, "_side_accept_loop", late_accept_loop)
    with (
        VirtualCamera(tmp_path) as camera,
        FujiPtpIpServer(camera, port=0) as server,
        ptpkit.connect(server.url) as first,
    ):
        assert isinstance(first.transport, FujiPtpIpTransport)
        first.transport.open_event_channel()
        with ptpkit.connect(server.url) as second:
            assert isinstance(second.transport, FujiPtpIpTransport)
            second.transport.open_event_channel()
            in_both.set()
            one, two = camera.sessions
            camera.emit(0x4008, 1, exclude=two)
            camera.emit(0x4008, 2, exclude=one)
            for cam, param in ((first, 1), (second, 2)):
                event = cam.next_event(timeout_s=5)
                assert event is not None
                assert (event.code, event.params) == (0x4008, (param,))
            assert server.event_connections == 2


def test_a_standard_client_on_the_fuji_port_gets_a_clear_refusal(tmp_path: Path) -> None:
    # InitCommandRequest of CIPA's layout: the version word is not 0x8F53E4F2 -> InitFail 0x201D.
    with (
        VirtualCamera(tmp_path) as camera,
        FujiPtpIpServer(camera, port=0) as server,
        pytest.raises(ConnectError, match=r"0x201D.*use fuji:HOST"),
    ):
        ptpkit.connect(f"ptpip:127.0.0.1:{server.port}")


def test_init_fail_names_the_reason_and_the_guid(tmp_path: Path) -> None:
    with (
        VirtualCamera(tmp_path, misbehavior=Misbehavior.parse("init-fail")) as camera,
        FujiPtpIpServer(camera, port=0) as server,
        pytest.raises(ConnectError, match=r"0x2019.*'change'") as raised,
    ):
        ptpkit.connect(server.url, guid=str(uuid.UUID(int=5)))
    assert str(uuid.UUID(int=5)) in str(raised.value)


def test_a_busy_server_answers_0x2019(tmp_path: Path) -> None:
    with (
        VirtualCamera(tmp_path) as camera,
        FujiPtpIpServer(camera, port=0, max_sessions=0) as server,
        pytest.raises(ConnectError, match="0x2019"),
    ):
        ptpkit.connect(server.url)


def test_a_handshake_trickled_a_byte_at_a_time_ends_at_its_deadline(tmp_path: Path) -> None:
    misbehavior = Misbehavior.parse("handshake-trickle,tick=0.2")
    with (
        VirtualCamera(tmp_path, misbehavior=misbehavior) as camera,
        FujiPtpIpServer(camera, port=0) as server,
    ):
        transport = transport_for(server.url, connect_timeout_s=1.0)
        with pytest.raises(ConnectTimeout, match="did not finish within 1 s"):
            transport.open()


def test_a_truncated_download_is_an_error_not_a_short_file(tmp_path: Path) -> None:
    # Over TCP a container that announces more than comes looks like a camera gone quiet (its
    # response is read as data): the call's deadline ends it, and no file passes for complete.
    card = tmp_path / "card"
    card.mkdir()
    (card / "A.JPG").write_bytes(bytes(range(256)) * 100)
    out = tmp_path / "out"
    out.mkdir()
    with (
        VirtualCamera(card, misbehavior=Misbehavior.parse("truncated")) as camera,
        FujiPtpIpServer(camera, port=0) as server,
        ptpkit.connect(server.url, timeout_s=1.0) as cam,
    ):
        with pytest.raises(TransportTimeout):
            cam.download("A.JPG", out)
        assert not (out / "A.JPG").exists()


# -- scripted cameras -----------------------------------------------------------------------------


class ScriptedCamera:
    """A Fujifilm camera on 127.0.0.1 that reads the InitCommandRequest and then does what
    ``script`` does with the socket."""

    def __init__(self, script: Callable[[socket.socket], None]) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.requests: list[bytes] = []
        self.client: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with contextlib.suppress(OSError):
            client, _ = self.listener.accept()
            self.client = client
            client.settimeout(10)
            data = b""
            while len(data) < 82:
                chunk = client.recv(82 - len(data))
                if not chunk:
                    return
                data += chunk
            self.requests.append(data)
            self.script(client)

    def transport(self, event_port: int | None = None, **options: object) -> FujiPtpIpTransport:
        options.setdefault("connect_timeout_s", 2.0)
        return FujiPtpIpTransport(
            "127.0.0.1",
            self.port,
            event_port,
            guid=b"\x01" * 16,
            **options,  # type: ignore[arg-type]
        )

    def close(self) -> None:
        for sock in (self.listener, self.client):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[socket.socket], None]], ScriptedCamera]]:
    made: list[ScriptedCamera] = []

    def make(script: Callable[[socket.socket], None]) -> ScriptedCamera:
        made.append(ScriptedCamera(script))
        return made[-1]

    yield make
    for camera in made:
        camera.close()


ACK = fuji.push_link_packet(fuji.InitCommandAck(guid=b"\x42" * 16, friendly_name="X-T2"))


def ack_then(*packets: bytes, linger_s: float = 5.0) -> Callable[[socket.socket], None]:
    def script(sock: socket.socket) -> None:
        sock.sendall(ACK)
        for packet in packets:
            sock.sendall(packet)
        with contextlib.suppress(OSError):
            sock.recv(1)  # until the client closes, or linger_s
        time.sleep(0)

    return script


def test_the_handshake_sends_the_82_byte_request(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
) -> None:
    camera = scripted(ack_then())
    transport = camera.transport(friendly_name="studio-mac")
    transport.open()
    try:
        (request,) = camera.requests
        assert fuji.pull_link_packet(request) == fuji.InitCommandRequest(
            guid=b"\x01" * 16, friendly_name="studio-mac"
        )
        assert transport.responder_name == "X-T2"
        assert transport.responder_guid == b"\x42" * 16
        assert not transport.event_channel_open
    finally:
        transport.close()


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (struct.pack("<III", 12, 5, 0x2019), "0x2019.*'change'"),
        (struct.pack("<III", 12, 5, 0x201D), "protocol version"),
        (struct.pack("<III", 12, 5, 0x2001), r"reason 0x2001"),
        (struct.pack("<III", 16, 5, 0x2019) + bytes(4), "bad answer.*cannot be 16 bytes"),
        (struct.pack("<IHHI", 12, 3, 0x2001, 0), "bad answer.*out of turn"),
        (struct.pack("<IHH", 0x10000, 2, 0), "bad answer.*cannot be 65536 bytes"),
        (b"", "closed the connection instead of answering"),
    ],
)
def test_bad_answers_to_the_request_are_clear_connect_errors(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
    answer: bytes,
    words: str,
) -> None:
    def script(sock: socket.socket) -> None:
        sock.sendall(answer)
        if not answer:
            sock.close()  # what an X-T4 does with a request it does not take
        else:
            with contextlib.suppress(OSError):
                sock.recv(1)

    camera = scripted(script)
    with pytest.raises(ConnectError, match=words):
        camera.transport().open()


def test_an_ack_sent_a_byte_at_a_time_ends_at_the_handshake_deadline(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
) -> None:
    def trickle(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            for byte in ACK:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)

    camera = scripted(trickle)
    with pytest.raises(ConnectTimeout, match="did not finish within 1 s"):
        camera.transport(connect_timeout_s=1.0).open()


def test_an_ack_in_pieces_is_read_and_nothing_after_it_is_lost(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
) -> None:

    def pieces(sock: socket.socket) -> None:
        # The ack a byte at a time, and at once the answer to the first request: the handshake
        # reads the ack to its last byte only, and the engine's connection gets the rest.
        for byte in ACK[:-1]:
            sock.sendall(bytes([byte]))
            time.sleep(0.002)
        sock.sendall(ACK[-1:] + struct.pack("<IHHII", 16, 3, 0x2001, 0, 77))
        with contextlib.suppress(OSError):
            sock.recv(1)

    camera = scripted(pieces)
    transport = camera.transport()
    transport.open()
    try:
        assert transport.responder_name == "X-T2"
        response, _ = Engine(transport, timeout_s=5).run(0x1001, ())
        assert (response.code, response.params) == (0x2001, (77,))
    finally:
        transport.close()


def test_a_silent_camera_is_a_pairing_timeout(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
) -> None:
    camera = scripted(lambda sock: sock.recv(1))
    waits: list[float] = []
    transport = camera.transport(pairing_timeout_s=1.2, on_pairing_wait=waits.append)
    with pytest.raises(ConnectTimeout, match="did not accept this computer"):
        transport.open()
    assert waits == [1.2]  # told once, after a second


def test_a_refused_event_port_is_retried_until_the_deadline(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
) -> None:
    camera = scripted(ack_then())
    # The event port is one bound and not listening: refused again and again, for 0.5 s (port
    # + 1 could be anyone's when tests run in parallel).
    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    transport = camera.transport(closed_port.getsockname()[1])
    transport.open()
    try:
        started = time.monotonic()
        with pytest.raises(ConnectError, match=r"refused the event.*InitiateOpenCapture"):
            transport.open_event_channel(timeout_s=0.5)
        assert time.monotonic() - started >= 0.4
    finally:
        transport.close()
        closed_port.close()


def test_a_late_event_port_is_connected_when_it_opens(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
) -> None:
    camera = scripted(ack_then())
    # Bound now (refusing connections until it listens), so no other test takes the port.
    events_listener = socket.socket()
    events_listener.bind(("127.0.0.1", 0))
    transport = camera.transport(events_listener.getsockname()[1])
    transport.open()
    try:

        def listen_later() -> None:
            time.sleep(0.3)  # the camera starts listening a moment after InitiateOpenCapture
            events_listener.listen(1)
            conn, _ = events_listener.accept()
            conn.sendall(struct.pack("<IHHI", 16, 4, 0xC004, 1) + struct.pack("<I", 6))
            time.sleep(1)
            conn.close()

        helper = threading.Thread(target=listen_later, daemon=True)
        helper.start()
        received: list[object] = []
        got = threading.Event()
        transport.start_events(lambda e: (received.append(e), got.set()), lambda exc: None)
        transport.open_event_channel(timeout_s=5)
        assert got.wait(5)
        assert [(e.code, e.params) for e in received] == [(0xC004, (6,))]  # type: ignore[attr-defined]
        helper.join(5)
    finally:
        transport.close()
        events_listener.close()


def _engine_camera(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
    *packets: bytes,
) -> FujiPtpIpTransport:
    camera = scripted(ack_then(*packets))
    transport = camera.transport()
    transport.open()
    return transport


@pytest.mark.parametrize(
    ("packets", "error"),
    [
        # A response 13 bytes long: not a header plus whole parameters.
        ((struct.pack("<IHHI", 13, 3, 0x2001, 0) + b"\x00",), "length 13 is not"),
        # Five parameters and a sixth.
        ((struct.pack("<IHHI", 36, 3, 0x2001, 0) + bytes(24),), "length 36 is not"),
        # A response for another transaction.
        ((struct.pack("<IHHI", 12, 3, 0x2001, 9),), "transaction id 9"),
        # A data phase that says 4 bytes and sends 6 before its response.
        (
            (
                struct.pack("<IHHI", 16, 2, 0x1001, 0) + b"abcdef",
                struct.pack("<IHHI", 12, 3, 0x2001, 0),
            ),
            "unknown container type",
        ),
    ],
)
def test_bad_containers_fail_the_transaction_clearly(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
    packets: tuple[bytes, ...],
    error: str,
) -> None:
    from ptpkit.client.engine import Engine

    transport = _engine_camera(scripted, *packets)
    try:
        engine = Engine(transport, timeout_s=5)
        with pytest.raises(RemoteProtocolError, match=error):
            engine.run(0x1001, ())
    finally:
        transport.close()


def test_a_camera_that_trickles_its_answer_ends_the_call_at_its_deadline(
    scripted: Callable[[Callable[[socket.socket], None]], ScriptedCamera],
) -> None:
    from ptpkit.client.engine import Engine

    def trickle(sock: socket.socket) -> None:
        sock.sendall(ACK)
        with contextlib.suppress(OSError):
            sock.recv(64)  # the request
            sock.sendall(struct.pack("<IHHI", 12 + 100_000, 2, 0x1009, 0))
            for _ in range(200):
                sock.sendall(b"\x5a")
                time.sleep(0.05)

    camera = scripted(trickle)
    transport = camera.transport()
    transport.open()
    try:
        engine = Engine(transport, timeout_s=1.0)
        started = time.monotonic()
        with pytest.raises(TransportTimeout):
            engine.run(0x1009, (1,))
        assert time.monotonic() - started < 5
    finally:
        transport.close()


# -- hostile clients against the virtual camera's server ------------------------------------------


def _raw(server: FujiPtpIpServer, port: int | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port or server.port), timeout=5)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return True


@pytest.mark.parametrize(
    "first",
    [
        struct.pack("<II", 2000, 1) + bytes(1992),  # a request longer than any client sends
        struct.pack("<IHHI", 12, 1, 0x1001, 0),  # a command before the handshake
        struct.pack("<III", 12, 5, 0x2019),  # the camera's own packet
    ],
    ids=["huge-request", "command-first", "init-fail"],
)
def test_a_bad_first_packet_ends_that_connection_only(tmp_path: Path, first: bytes) -> None:
    with VirtualCamera(tmp_path) as camera, FujiPtpIpServer(camera, port=0) as server:
        with contextlib.closing(_raw(server)) as sock:
            sock.sendall(first)
            assert _closed_by_server(sock)
        with ptpkit.connect(server.url) as cam:  # the next client is served
            assert cam.device_info.model == "Virtual Camera"


def test_a_request_sent_a_byte_at_a_time_ends_at_the_handshake_deadline(tmp_path: Path) -> None:
    request = fuji.push_link_packet(fuji.InitCommandRequest(guid=bytes(16), friendly_name="slow"))
    with (
        VirtualCamera(tmp_path) as camera,
        FujiPtpIpServer(camera, port=0, handshake_timeout_s=0.5) as server,
        contextlib.closing(_raw(server)) as sock,
    ):
        started = time.monotonic()
        with contextlib.suppress(OSError):
            for byte in request:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
        assert _closed_by_server(sock)
        assert time.monotonic() - started < 5
        assert server.active_sessions == 0


def test_garbage_after_the_handshake_drops_the_session(tmp_path: Path) -> None:
    request = fuji.push_link_packet(fuji.InitCommandRequest(guid=bytes(16), friendly_name="bad"))
    with (
        VirtualCamera(tmp_path) as camera,
        FujiPtpIpServer(camera, port=0) as server,
        contextlib.closing(_raw(server)) as sock,
    ):
        sock.sendall(request)
        ack = b""
        while len(ack) < fuji.INIT_ACK_BYTES:
            ack += sock.recv(fuji.INIT_ACK_BYTES - len(ack))
        assert fuji.pull_link_packet(ack) == fuji.InitCommandAck(
            guid=server.guid, friendly_name="Virtual Camera"
        )
        sock.sendall(struct.pack("<IHHI", 0x7FFFFFFF, 7, 0x1001, 0))  # unknown container type
        assert _closed_by_server(sock)
        give_up = time.monotonic() + 5
        while server.active_sessions and time.monotonic() < give_up:
            time.sleep(0.02)
        assert server.active_sessions == 0


def test_an_event_connection_from_nowhere_is_closed(tmp_path: Path) -> None:
    with (
        VirtualCamera(tmp_path) as camera,
        FujiPtpIpServer(camera, port=0) as server,
        contextlib.closing(_raw(server, server.event_port)) as events,
        contextlib.closing(_raw(server, server.stream_port)) as stream,
    ):
        assert _closed_by_server(events)
        assert _closed_by_server(stream)
        assert (server.event_connections, server.stream_connections) == (0, 0)


def test_the_repeated_request_of_libgphoto2_is_answered(tmp_path: Path) -> None:
    request = fuji.push_link_packet(fuji.InitCommandRequest(guid=bytes(16), friendly_name="gp"))
    with (
        VirtualCamera(tmp_path) as camera,
        FujiPtpIpServer(camera, port=0) as server,
        contextlib.closing(_raw(server)) as sock,
    ):
        for _ in range(2):
            sock.sendall(request)
            ack = b""
            while len(ack) < fuji.INIT_ACK_BYTES:
                ack += sock.recv(fuji.INIT_ACK_BYTES - len(ack))
            assert isinstance(fuji.pull_link_packet(ack), fuji.InitCommandAck)
        sock.sendall(struct.pack("<IHHII", 16, 1, 0x1002, 0, 1))  # OpenSession(1)
        assert sock.recv(64) == struct.pack("<IHHI", 12, 3, 0x2001, 0)
        sock.sendall(request)  # after the first command: a protocol error, the link ends
        assert _closed_by_server(sock)
