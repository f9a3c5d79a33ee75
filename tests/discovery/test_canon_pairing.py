"""The Canon pairing responder, over unicast SSDP and HTTP on 127.0.0.1.

What is checked is what the cameras need (the seed, ptpip-canon-helpers): the exact SSDP answer
with the Windows ``Server`` string, the description's HTTP headers and XML, the UUID kept across
restarts, and a responder that shrugs off malformed or oversize datagrams and keeps answering.
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from ptpkit.discovery.canon_pairing import (
    CANON_HTTP_SERVER,
    CANON_SSDP_SERVER,
    DESCRIPTION_PATH,
    UUID_FILE,
    CanonPairingResponder,
    PairingEvent,
    pairing_uuid,
    set_pairing_uuid,
)
from ptpkit.discovery.description import DescriptionServer
from ptpkit.discovery.responder import SsdpResponder
from ptpkit.discovery.ssdp import MAX_DATAGRAM_BYTES, build_search, parse_response
from ptpkit.errors import ConnectError, UsageError

from .conftest import UdpPeer

NS = {"u": "urn:schemas-upnp-org:device-1-0"}


@pytest.fixture
def events() -> list[PairingEvent]:
    return []


@pytest.fixture
def responder(events: list[PairingEvent]) -> Iterator[CanonPairingResponder]:
    with CanonPairingResponder(
        "127.0.0.1",
        name="studio-pc",
        description_port=0,
        ssdp_host="127.0.0.1",
        ssdp_port=0,
        on_event=events.append,
    ) as running:
        yield running


def get(url_port: int, path: str, method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", url_port, timeout=5)
    connection.request(method, path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def test_answers_a_rootdevice_search_exactly_as_the_seed(
    responder: CanonPairingResponder, udp: UdpPeer
) -> None:
    udp.search(responder.ssdp.port, "upnp:rootdevice", mx=3)
    (answer,) = udp.receive()
    port = responder.description_server.port
    assert answer == (
        b"HTTP/1.1 200 OK\r\n"
        b"ST: upnp:rootdevice\r\n"
        + f"USN: uuid:{responder.uuid}::upnp:rootdevice\r\n".encode()
        + f"LOCATION: http://127.0.0.1:{port}{DESCRIPTION_PATH}\r\n".encode()
        + b"CACHE-CONTROL: max-age=900\r\n"
        b"SERVER: Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0\r\n"
        b"EXT:\r\n"
        b"\r\n"
    )
    assert parse_response(answer).server == CANON_SSDP_SERVER


def test_ssdp_all_gets_the_rootdevice_answer(
    responder: CanonPairingResponder, udp: UdpPeer
) -> None:
    udp.search(responder.ssdp.port, "ssdp:all")
    (answer,) = udp.receive()
    response = parse_response(answer)
    assert response.st == "upnp:rootdevice"
    assert response.usn == f"uuid:{responder.uuid}::upnp:rootdevice"


def test_other_search_targets_get_no_answer(responder: CanonPairingResponder, udp: UdpPeer) -> None:
    udp.search(responder.ssdp.port, "urn:schemas-upnp-org:device:MediaServer:1")
    assert udp.receive(0.3) == []
    assert responder.ssdp.searches_answered == 0


def test_description_headers_and_xml(responder: CanonPairingResponder) -> None:
    response, body = get(responder.description_server.port, DESCRIPTION_PATH)
    assert response.status == 200
    assert response.version == 11
    assert response.getheader("Server") == CANON_HTTP_SERVER
    assert CANON_HTTP_SERVER == (
        "Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0 Microsoft-HTTPAPI/2.0"
    )
    assert response.getheader("Content-Type") == 'text/xml; charset="utf-8"'
    assert response.getheader("Content-Length") == str(len(body))
    assert response.getheader("Connection") == "close"

    root = ET.fromstring(body)
    assert root.tag == "{urn:schemas-upnp-org:device-1-0}root"
    assert root.findtext("u:specVersion/u:major", namespaces=NS) == "1"
    assert root.findtext("u:specVersion/u:minor", namespaces=NS) == "0"
    device = root.find("u:device", NS)
    assert device is not None
    assert device.findtext("u:UDN", namespaces=NS) == f"uuid:{responder.uuid}"
    # Windows' "Computer: User:" form; the camera shows "studio-pc".
    assert device.findtext("u:friendlyName", namespaces=NS) == "studio-pc: ptpkit:"
    assert device.findtext("u:deviceType", namespaces=NS) == "urn:schemas-upnp-org:device:Basic:1"
    assert device.findtext("u:manufacturer", namespaces=NS) == "ptpkit"


def test_the_location_in_the_answer_serves_the_description(
    responder: CanonPairingResponder, udp: UdpPeer
) -> None:
    udp.search(responder.ssdp.port, "upnp:rootdevice")
    location = parse_response(udp.receive()[0]).location
    assert location is not None
    host_port, _, path = location.removeprefix("http://").partition("/")
    response, body = get(int(host_port.split(":")[1]), "/" + path)
    assert response.status == 200
    assert f"uuid:{responder.uuid}".encode() in body


def test_head_and_unknown_paths(responder: CanonPairingResponder) -> None:
    response, body = get(responder.description_server.port, DESCRIPTION_PATH, "HEAD")
    assert response.status == 200
    assert body == b""
    response, _ = get(responder.description_server.port, "/other.xml")
    assert response.status == 404
    assert response.getheader("Server") == CANON_HTTP_SERVER
    response, _ = get(responder.description_server.port, DESCRIPTION_PATH, "POST")
    assert response.status == 501


def test_requests_are_reported_with_the_requesters_address(
    responder: CanonPairingResponder, udp: UdpPeer, events: list[PairingEvent]
) -> None:
    udp.search(responder.ssdp.port, "upnp:rootdevice")
    udp.receive()
    get(responder.description_server.port, DESCRIPTION_PATH)
    get(responder.description_server.port, "/favicon.ico")  # not reported: not the description
    assert [(e.kind, e.address) for e in events] == [
        ("search", "127.0.0.1"),
        ("description", "127.0.0.1"),
    ]
    assert events[0].port == udp.sock.getsockname()[1]
    assert events[0].detail == "upnp:rootdevice"


def test_uuid_is_created_once_and_kept_across_restarts(config_dir: Path, udp: UdpPeer) -> None:
    seen = []
    for _ in range(2):
        with CanonPairingResponder(
            "127.0.0.1", description_port=0, ssdp_host="127.0.0.1", ssdp_port=0
        ) as running:
            udp.search(running.ssdp.port, "upnp:rootdevice")
            usn = parse_response(udp.receive()[0]).usn
            _, body = get(running.description_server.port, DESCRIPTION_PATH)
            udn = ET.fromstring(body).findtext("u:device/u:UDN", namespaces=NS)
            seen.append((running.uuid, usn, udn))
    (first, first_usn, first_udn), (second, second_usn, second_udn) = seen
    assert first == second
    assert first_usn == second_usn == f"uuid:{first}::upnp:rootdevice"
    assert first_udn == second_udn == f"uuid:{first}"
    assert (config_dir / UUID_FILE).read_text().strip() == str(first)


def test_each_user_has_their_own_uuid(tmp_path: Path) -> None:
    one = pairing_uuid(tmp_path / "a")
    assert pairing_uuid(tmp_path / "a") == one
    assert pairing_uuid(tmp_path / "b") != one


def test_a_damaged_uuid_file_is_replaced(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / UUID_FILE).write_text("not a uuid\n")
    made = pairing_uuid()
    assert (config_dir / UUID_FILE).read_text().strip() == str(made)


def test_a_uuid_from_the_seed_helper_can_be_kept(config_dir: Path) -> None:
    # The seed keeps it in ./ptpip-canon-helper.uuid; a camera paired with it knows that one.
    seed_uuid = "6a9b6f5e-0b4d-4f0e-9d3c-3a1f2b7c8d9e"
    assert set_pairing_uuid(seed_uuid + "\n") == uuid.UUID(seed_uuid)
    assert pairing_uuid() == uuid.UUID(seed_uuid)
    with pytest.raises(UsageError):
        set_pairing_uuid("nope")


MALFORMED = [
    b"",
    b"\x00" * 64,
    os.urandom(512),
    b"M-SEARCH * HTTP/1.1\r\nST: upnp:rootdevice\r\n\r\n",  # no MAN
    b'GET / HTTP/1.1\r\nMAN: "ssdp:discover"\r\nST: upnp:rootdevice\r\n\r\n',
    b"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n",
    build_search("upnp:rootdevice").replace(b"rootdevice", b"root\xffdevice"),
    build_search("upnp:rootdevice")[:-2] + b"X: " + b"a" * (MAX_DATAGRAM_BYTES + 10) + b"\r\n\r\n",
    b"M" * 60_000,  # far over the limit: read as one byte more than allowed, then dropped
]


def test_malformed_and_oversize_datagrams_are_ignored_and_it_still_answers(
    responder: CanonPairingResponder, udp: UdpPeer
) -> None:
    for packet in MALFORMED:
        udp.send(packet, responder.ssdp.port)
    assert udp.receive(0.3) == []
    udp.search(responder.ssdp.port, "upnp:rootdevice")
    (answer,) = udp.receive()
    assert parse_response(answer).st == "upnp:rootdevice"
    assert responder.ssdp.datagrams_ignored == len(MALFORMED)
    assert responder.ssdp.searches_answered == 1


def test_a_flood_of_random_datagrams_does_no_harm(
    responder: CanonPairingResponder, udp: UdpPeer
) -> None:
    rng = random.Random(7)
    valid = build_search("upnp:rootdevice")
    for _ in range(300):
        packet = bytearray(valid)
        for _ in range(rng.randint(1, 8)):
            packet[rng.randrange(len(packet))] = rng.randrange(256)
        udp.send(bytes(packet), responder.ssdp.port)
    # Whatever the mutations made (some may still be valid searches), it answers now.
    udp.receive(0.5, count=1000)
    udp.search(responder.ssdp.port, "upnp:rootdevice")
    assert [parse_response(a).st for a in udp.receive()] == ["upnp:rootdevice"]


def test_replies_are_rate_limited(udp: UdpPeer) -> None:
    # Forged searches must not turn the responder into a flood of answers to a third party.
    answer = build_search("x")  # any payload will do
    with SsdpResponder(
        lambda request, requester: [answer], host="127.0.0.1", port=0, max_replies_per_s=5
    ) as responder:
        for _ in range(20):
            udp.search(responder.port, "upnp:rootdevice")
        answers = udp.receive(0.5, count=20)
    assert 5 <= len(answers) < 20


def test_lan_ip_must_be_ipv4() -> None:
    with pytest.raises(UsageError, match="not an IPv4 address"):
        CanonPairingResponder("camera.local")
    with pytest.raises(UsageError, match="IPv4"):
        CanonPairingResponder("::1")


def test_an_error_in_the_answer_does_not_stop_the_responder(udp: UdpPeer) -> None:
    # An answer that is not bytes makes sendto() raise TypeError, outside the answer callback.
    bad = {"reply": [b"ok"]}

    def answer(request: object, requester: object) -> list[bytes]:
        return bad["reply"]

    with SsdpResponder(answer, host="127.0.0.1", port=0) as responder:
        bad["reply"] = ["not bytes"]  # type: ignore[list-item]
        udp.search(responder.port, "upnp:rootdevice")
        assert udp.receive(0.3) == []
        bad["reply"] = [b"ok"]
        udp.search(responder.port, "upnp:rootdevice")
        assert udp.receive() == [b"ok"]


def test_the_port_is_still_known_after_close() -> None:
    responder = SsdpResponder(lambda request, requester: [], host="127.0.0.1", port=0).start()
    port = responder.port
    responder.close()
    assert responder.port == port != 0


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_responder_that_fails_to_start_holds_no_sockets() -> None:
    before = _open_fds()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        for _ in range(3):
            responder = CanonPairingResponder(
                "127.0.0.1",
                description_port=taken.getsockname()[1],
                ssdp_host="127.0.0.1",
                ssdp_port=0,
            )
            with pytest.raises(ConnectError):
                responder.start()
        never_started = SsdpResponder(lambda request, requester: [], host="127.0.0.1", port=0)
        assert _open_fds() == before + 1  # `taken` only
    del never_started


def test_a_busy_description_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        responder = CanonPairingResponder(
            "127.0.0.1", description_port=port, ssdp_host="127.0.0.1", ssdp_port=0
        )
        with pytest.raises(ConnectError, match=rf"127\.0\.0\.1:{port}: .*-P PORT"):
            responder.start()
    # Nothing was left running.
    assert responder.description_server._server is None


def test_a_busy_ssdp_port_is_a_clear_error_and_closes_the_description() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))  # without SO_REUSEADDR: nobody can share it
        port = taken.getsockname()[1]
        responder = CanonPairingResponder(
            "127.0.0.1", description_port=0, ssdp_host="127.0.0.1", ssdp_port=port
        )
        with pytest.raises(ConnectError, match=r"SSDP searches .*stop it and try again"):
            responder.start()
    assert responder.description_server._server is None


def test_a_lan_ip_that_is_not_ours_is_a_clear_error() -> None:
    # Binding fails (nothing is sent): TEST-NET-2 (RFC 5737) is never an address of this
    # computer. Port 0 for SSDP, should it get that far.
    address = "198.51.100.77"
    responder = CanonPairingResponder(
        address, description_port=0, ssdp_host="127.0.0.1", ssdp_port=0
    )
    with pytest.raises(ConnectError, match="not an address of this computer"):
        responder.start()


def test_description_server_closes_cleanly() -> None:
    server = DescriptionServer(b"<root/>", port=0).start()
    port = server.port
    server.close()
    server.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
