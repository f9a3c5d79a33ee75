"""Reading UPnP device descriptions from the network: bounded, DTD-free, on a deadline."""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from ptpkit.discovery.description import (
    MAX_CONNECTIONS,
    MAX_DESCRIPTION_BYTES,
    DescriptionServer,
    build_description,
    fetch_description,
    parse_description,
)
from ptpkit.errors import ConnectError, DecodeError

# Trimmed from a Panasonic DC-BGH1's description (bitfocus/companion-module-requests#402).
PANASONIC = b"""<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" xmlns:pana="urn:schemas-panasonic-com:pana">
  <specVersion><major>1</major><minor>0</minor></specVersion>
  <device>
    <deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType>
    <friendlyName>BGH1-ABC123</friendlyName>
    <manufacturer>Panasonic</manufacturer>
    <modelName>LUMIX</modelName>
    <modelNumber>DC-BGH1</modelNumber>
    <UDN>uuid:4D454930-0100-1000-8000-B46C47ABC123</UDN>
    <pana:X_PTPPortNo>15740</pana:X_PTPPortNo>
  </device>
</root>
"""


def test_a_camera_description_with_its_ptpip_port() -> None:
    description = parse_description(PANASONIC)
    assert description.friendly_name == "BGH1-ABC123"
    assert description.manufacturer == "Panasonic"
    assert description.model_name == "LUMIX"
    assert description.model_number == "DC-BGH1"
    assert description.udn == "uuid:4D454930-0100-1000-8000-B46C47ABC123"
    assert description.ptpip_port == 15740


def test_build_and_parse_agree_and_escape() -> None:
    data = build_description(
        udn="uuid:1",
        friendly_name='Kim\'s <"camera"> & co',
        manufacturer="ptpkit",
        model_name="m",
        extra=[("p", "urn:x", "X_PTPPortNo", "15999")],
    )
    description = parse_description(data)
    assert description.friendly_name == 'Kim\'s <"camera"> & co'
    assert description.ptpip_port == 15999


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><root><device>'
            b"<friendlyName>&lol2;</friendlyName></device></root>",
            "DTD",
        ),
        (b"<root>" + b" " * MAX_DESCRIPTION_BYTES + b"</root>", "more than"),
        (b"<html><body>router</body></html>", "not <root>"),
        (b"<root><specVersion/></root>", "no <device>"),
        (b"<root><device>", "no element found"),
        (b"\xff\xfe<\x00r\x00", "not UTF-8"),
    ],
)
def test_bad_descriptions_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_description(data)


LAUGHS = (
    '<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE r [<!ENTITY a "AAAAAAAA">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><root><device><friendlyName>&b;</friendlyName>'
    "</device></root>"
)


@pytest.mark.parametrize(
    "data",
    [
        LAUGHS.format(encoding="UTF-16").encode("utf-16"),  # with a BOM
        LAUGHS.format(encoding="UTF-16").encode("utf-16-le"),  # without: ASCII and NULs
        LAUGHS.format(encoding="UTF-32").encode("utf-32-be"),
    ],
    ids=["utf-16", "utf-16-le without BOM", "utf-32"],
)
def test_a_dtd_in_another_encoding_is_refused_too(data: bytes) -> None:
    # The DTD check once searched the raw bytes, which a UTF-16 document got past, and expat
    # then expanded its entities.
    with pytest.raises(DecodeError):
        parse_description(data)


def test_a_utf8_bom_and_any_declared_encoding_read_as_utf8() -> None:
    data = PANASONIC.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
    assert parse_description(b"\xef\xbb\xbf" + data).friendly_name == "BGH1-ABC123"
    plain = "<root><device><friendlyName>Zoë</friendlyName></device></root>".encode()
    assert parse_description(plain).friendly_name == "Zoë"


def test_a_bad_port_number_is_ignored() -> None:
    data = PANASONIC.replace(b">15740<", b">99999<")
    assert parse_description(data).ptpip_port is None


DRIBBLED = {
    "body": b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n",
    "headers": b"HTTP/1.1 200 OK\r\nX-Pad: ",
    "status line": b"HTTP/1.1 ",
}


@pytest.fixture(params=DRIBBLED.values(), ids=DRIBBLED.keys())
def dribbler(request: pytest.FixtureRequest) -> Iterator[int]:
    """An HTTP server that sends the start of an answer, then one byte every 50 ms (of the body,
    of a header line, of the status line)."""
    start: bytes = request.param
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(start)
            while not stop.is_set():
                try:
                    connection.sendall(b" ")
                except OSError:
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(5)


def test_a_dribbling_server_is_given_up_on_at_the_deadline(dribbler: int) -> None:
    # Socket timeouts bound each read only; the deadline must hold while the status line and
    # headers are read too, not only the body.
    started = time.monotonic()
    with pytest.raises(ConnectError, match="too slow"):
        fetch_description(f"http://127.0.0.1:{dribbler}/d.xml", timeout_s=0.5)
    # The dribble never ends: a wide margin over the 0.5 s deadline still tells "ended at the
    # deadline" from "read on", and a loaded machine does not reach it.
    assert time.monotonic() - started < 5


def test_fetch_errors_are_connect_or_decode_errors() -> None:
    with DescriptionServer(b"<root/>", path="/d.xml") as server:
        with pytest.raises(DecodeError, match="HTTP 404"):
            fetch_description(server.url().replace("/d.xml", "/other"))
        with pytest.raises(DecodeError, match="no <device>"):
            fetch_description(server.url())
        port = server.port
    with pytest.raises(ConnectError, match="cannot fetch"):
        fetch_description(f"http://127.0.0.1:{port}/d.xml", timeout_s=0.5)
    with pytest.raises(DecodeError, match="not an http"):
        fetch_description("https://127.0.0.1/d.xml")
    with pytest.raises(DecodeError, match="out of range"):
        fetch_description("http://127.0.0.1:99999/d.xml")  # was a bare ValueError


def _get(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/d.xml")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_a_client_that_resets_the_connection_prints_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # socketserver's default prints a traceback to stderr for it; the library never prints.
    with DescriptionServer(b"<root/>" * 1_000_000, path="/d.xml") as server:
        client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        client.sendall(b"GET /d.xml HTTP/1.1\r\nHost: x\r\n\r\n")
        client.recv(100)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # RST, in the middle of the answer
        time.sleep(0.3)
        assert _get(server.port) == 200
    assert capfd.readouterr().err == ""


def test_connections_at_once_are_bounded() -> None:
    """At most MAX_CONNECTIONS are served; beyond, the OLDEST is dropped for the newcomer (it has
    had its time), so connections that hold on cannot keep a camera out."""
    with DescriptionServer(b"<root/>", path="/d.xml") as server:
        before = threading.active_count()
        idle = [
            socket.create_connection(("127.0.0.1", server.port), timeout=5)
            for _ in range(MAX_CONNECTIONS + 10)
        ]
        try:
            time.sleep(0.3)
            assert threading.active_count() - before <= MAX_CONNECTIONS
            # The oldest were closed, not left waiting; the newest are still open.
            closed = 0
            for sock in idle[:10]:
                sock.settimeout(2)
                closed += sock.recv(1) == b""
            assert closed == 10
            # ... and a camera arriving now is answered at once.
            assert _get(server.port) == 200
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 5
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _get(server.port) == 200  # the slots came back
