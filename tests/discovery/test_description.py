"""Reading UPnP device descriptions from the network: bounded, DTD-free, on a deadline."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ptpkit.discovery.description import (
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
        (b"\xff\xfe<\x00r\x00", "unclosed token"),
    ],
)
def test_bad_descriptions_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_description(data)


def test_a_bad_port_number_is_ignored() -> None:
    data = PANASONIC.replace(b">15740<", b">99999<")
    assert parse_description(data).ptpip_port is None


@pytest.fixture
def dribbler() -> Iterator[int]:
    """An HTTP server that sends a description one byte every 50 ms."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n")
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
    started = time.monotonic()
    with pytest.raises(ConnectError, match="too slow"):
        fetch_description(f"http://127.0.0.1:{dribbler}/d.xml", timeout_s=0.5)
    assert time.monotonic() - started < 1.5


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
