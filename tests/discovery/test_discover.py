"""discover(): the virtual camera advertises itself the way a Canon camera does, and discovery
finds it, by unicast SSDP on 127.0.0.1, and connects with the URL it gives."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import ptpkit
from ptpkit.discovery import DiscoveredCamera, advertise_server, discover
from ptpkit.discovery.advertise import CANON_EOS_SERVICE, CameraAdvertiser
from ptpkit.discovery.description import DescriptionServer, parse_description
from ptpkit.discovery.find import CAMERA_SEARCH_TARGETS, ssdp_cameras, usb_cameras
from ptpkit.discovery.responder import SsdpResponder
from ptpkit.discovery.ssdp import build_response, parse_response, search
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.camera import Personality
from ptpkit.virtual.server import PtpIpServer

from .conftest import UdpPeer

LOOPBACK = ("127.0.0.1", 0)


@dataclass
class Advertised:
    vcam: VirtualCamera
    server: PtpIpServer
    advertiser: CameraAdvertiser

    def discover(self, **options: object) -> list[DiscoveredCamera]:
        return discover(
            0.5,
            usb=False,
            mdns=False,
            ssdp_targets=[("127.0.0.1", self.advertiser.ssdp_port)],
            ssdp_bind=LOOPBACK,
            **options,  # type: ignore[arg-type]
        )


@pytest.fixture
def advertised() -> Iterator[Advertised]:
    personality = Personality(
        manufacturer="Canon Inc.",
        model="Canon EOS Virtual",
        serial_number="VC-42",
        vendor_extension_id=0x0000000B,
        vendor_extension_desc="",
    )
    with (
        VirtualCamera(personality=personality, friendly_name="bench cam") as vcam,
        PtpIpServer(vcam, "127.0.0.1", 0) as server,
        advertise_server(server, ssdp_port=0) as advertiser,
    ):
        yield Advertised(vcam, server, advertiser)


def test_discovery_finds_the_advertised_virtual_camera(advertised: Advertised) -> None:
    found = advertised.discover()
    assert found == [
        DiscoveredCamera(
            url=f"ptpip:127.0.0.1:{advertised.server.port}",
            name="bench cam",
            model="Canon EOS Virtual",
            source="ssdp",
            address="127.0.0.1",
            serial="VC-42",  # the description's serialNumber
        )
    ]


def test_the_discovered_url_connects(advertised: Advertised) -> None:
    (camera,) = advertised.discover()
    with ptpkit.connect(camera.url) as cam:
        assert cam.device_info.model == "Canon EOS Virtual"
        assert cam.device_info.serial_number == "VC-42"


def test_it_answers_like_a_canon_eos(advertised: Advertised, udp: UdpPeer) -> None:
    udp.search(advertised.advertiser.ssdp_port, CANON_EOS_SERVICE)
    (answer,) = udp.receive()
    response = parse_response(answer)
    device_uuid = advertised.advertiser.uuid
    assert response.st == CANON_EOS_SERVICE
    assert response.usn == f"uuid:{device_uuid}::{CANON_EOS_SERVICE}"
    port = advertised.advertiser.description_server.port
    assert response.location == f"http://127.0.0.1:{port}/upnp/CameraDevDesc.xml"
    # The camera's identity is stable: its UUID is the PTP/IP GUID, made from its serial number.
    assert device_uuid.bytes == advertised.server.guid


def test_ssdp_all_gets_one_answer_per_type(advertised: Advertised, udp: UdpPeer) -> None:
    udp.search(advertised.advertiser.ssdp_port, "ssdp:all")
    answers = [parse_response(a) for a in udp.receive(count=10, timeout_s=0.5)]
    device_uuid = advertised.advertiser.uuid
    assert sorted((a.st, a.usn) for a in answers) == sorted(
        [
            ("upnp:rootdevice", f"uuid:{device_uuid}::upnp:rootdevice"),
            (f"uuid:{device_uuid}", f"uuid:{device_uuid}"),
            (
                "urn:schemas-upnp-org:device:Basic:1",
                f"uuid:{device_uuid}::urn:schemas-upnp-org:device:Basic:1",
            ),
            (CANON_EOS_SERVICE, f"uuid:{device_uuid}::{CANON_EOS_SERVICE}"),
        ]
    )


def test_its_description_gives_the_ptpip_port(advertised: Advertised) -> None:
    import urllib.request

    url = advertised.advertiser.description_server.url()
    with urllib.request.urlopen(url, timeout=5) as response:
        description = parse_description(response.read())
    assert description.ptpip_port == advertised.server.port
    assert description.friendly_name == "bench cam"
    assert description.model_name == "Canon EOS Virtual"
    assert description.manufacturer == "Canon Inc."
    assert description.serial_number == "VC-42"


def test_a_non_local_requester_gets_no_loopback_location(advertised: Advertised) -> None:
    # 127.0.0.1 in LOCATION would send another machine to itself: such a search goes unanswered.
    answer = advertised.advertiser._answer  # the decision, without sending from elsewhere
    from ptpkit.discovery.ssdp import parse_search

    request = parse_search(b'M-SEARCH * HTTP/1.1\r\nMAN: "ssdp:discover"\r\nST: ssdp:all\r\n\r\n')
    assert answer(request, ("198.51.100.7", 1900)) == []
    assert len(answer(request, ("127.0.0.1", 1900))) == 4


def test_answers_for_other_search_targets_are_not_cameras(udp: UdpPeer) -> None:
    # A device that answers every search with its own type (some routers do) is not a camera.
    def answer(request: object, requester: object) -> list[bytes]:
        return [
            build_response(
                st="urn:schemas-upnp-org:device:InternetGatewayDevice:1",
                usn="uuid:router::urn:schemas-upnp-org:device:InternetGatewayDevice:1",
                location="http://127.0.0.1:1/",
                server="router",
            )
        ]

    with SsdpResponder(answer, host="127.0.0.1", port=0) as router:
        assert search(
            CAMERA_SEARCH_TARGETS,
            timeout_s=0.3,
            targets=[("127.0.0.1", router.port)],
            bind=LOOPBACK,
        )
        found = ssdp_cameras(0.3, targets=[("127.0.0.1", router.port)], bind=LOOPBACK)
    assert found == []


def test_a_location_on_another_host_is_not_fetched() -> None:
    # A forged answer must not make discovery fetch URLs elsewhere: the camera is still listed
    # (by its address, on the standard port) but its description is left alone.
    fetched = []
    with DescriptionServer(
        b"<root/>", host="127.0.0.2", path="/d.xml", on_request=fetched.append
    ) as elsewhere:

        def answer(request: object, requester: object) -> list[bytes]:
            return [
                build_response(
                    st=CANON_EOS_SERVICE,
                    usn=f"uuid:x::{CANON_EOS_SERVICE}",
                    location=elsewhere.url(),
                    server="s",
                )
            ]

        with SsdpResponder(answer, host="127.0.0.1", port=0) as forger:
            found = ssdp_cameras(0.3, targets=[("127.0.0.1", forger.port)], bind=LOOPBACK)
    assert fetched == []
    assert found == [
        DiscoveredCamera(
            url="ptpip:127.0.0.1",
            name="Canon camera at 127.0.0.1",
            source="ssdp",
            address="127.0.0.1",
        )
    ]


def test_a_broken_description_still_lists_the_camera(udp: UdpPeer) -> None:
    with DescriptionServer(b"<root><device>", host="127.0.0.1", path="/d.xml") as broken:

        def answer(request: object, requester: object) -> list[bytes]:
            return [
                build_response(
                    st=CANON_EOS_SERVICE,
                    usn=f"uuid:x::{CANON_EOS_SERVICE}",
                    location=broken.url(),
                    server="s",
                )
            ]

        with SsdpResponder(answer, host="127.0.0.1", port=0) as camera:
            found = ssdp_cameras(0.3, targets=[("127.0.0.1", camera.port)], bind=LOOPBACK)
    assert [c.url for c in found] == ["ptpip:127.0.0.1"]


def test_nothing_there_returns_nothing_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A search that outlives its 0.3 s runs into discover()'s grace, made 20 s here: "in time"
    # is told from that by a margin a loaded machine does not reach.
    monkeypatch.setattr("ptpkit.discovery.find.GRACE_S", 20.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        started = time.monotonic()
        found = discover(
            0.3,
            usb=False,
            mdns=False,
            ssdp_targets=[("127.0.0.1", silent.getsockname()[1])],
            ssdp_bind=LOOPBACK,
        )
    assert found == []
    assert time.monotonic() - started < 5


def test_an_unreachable_target_is_not_an_error() -> None:
    # Nothing listens there: the ICMP "port unreachable" that comes back is logged, not raised.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert (
        discover(0.3, usb=False, mdns=False, ssdp_targets=[("127.0.0.1", port)], ssdp_bind=LOOPBACK)
        == []
    )


# -- USB -----------------------------------------------------------------------------------------


def _fake_usb(monkeypatch: pytest.MonkeyPatch, find: object) -> None:
    module = types.ModuleType("ptpkit.discovery.usb")
    if find is not None:
        module.find_cameras = find  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ptpkit.discovery.usb", module)


USB_CAMERA = DiscoveredCamera(
    url="usb:001,004", name="Canon EOS R6", model="Canon EOS R6", source="usb", address="1,4"
)


def test_usb_cameras_come_from_the_usb_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_usb(monkeypatch, lambda: [USB_CAMERA])
    assert discover(usb=True, network=False) == [USB_CAMERA]


def test_usb_is_skipped_quietly_when_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_usb(monkeypatch, None)  # the module without find_cameras
    assert usb_cameras() == []
    monkeypatch.setitem(sys.modules, "ptpkit.transports.usb", None)  # no USB transport
    monkeypatch.delitem(sys.modules, "ptpkit.discovery.usb")
    assert usb_cameras() == []
    monkeypatch.setitem(sys.modules, "ptpkit.discovery.usb", None)  # import fails
    assert usb_cameras() == []

    def no_backend() -> list[DiscoveredCamera]:
        raise ValueError("No backend available")  # what PyUSB raises without libusb

    _fake_usb(monkeypatch, no_backend)
    assert discover(usb=True, network=False) == []


def test_usb_and_network_results_together(
    monkeypatch: pytest.MonkeyPatch, advertised: Advertised
) -> None:
    _fake_usb(monkeypatch, lambda: [USB_CAMERA])
    found = discover(
        0.5,
        usb=True,
        mdns=False,
        ssdp_targets=[("127.0.0.1", advertised.advertiser.ssdp_port)],
        ssdp_bind=LOOPBACK,
    )
    assert [c.source for c in found] == ["usb", "ssdp"]


def test_a_hanging_source_is_left_out_not_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()

    def hang() -> list[DiscoveredCamera]:
        stop.wait(30)
        return [USB_CAMERA]

    _fake_usb(monkeypatch, hang)
    monkeypatch.setattr("ptpkit.discovery.find.GRACE_S", 0.2)
    started = time.monotonic()
    try:
        assert discover(0.1, usb=True, network=False) == []
    finally:
        stop.set()
    # 0.1 s and a grace of 0.2 s, against a source that hangs for 30 s.
    assert time.monotonic() - started < 10


def test_ptpkit_discover_is_the_same_function() -> None:
    assert ptpkit.discover is discover
    assert ptpkit.DiscoveredCamera is DiscoveredCamera


# A camera whose description server sends its headers a byte at a time, forever, and discovery
# of it, in a process of its own: what matters is that the process can end.
STALLED_DESCRIPTION = """
import socket, threading, time
from ptpkit.discovery.advertise import CANON_EOS_SERVICE
from ptpkit.discovery.find import ssdp_cameras
from ptpkit.discovery.responder import SsdpResponder
from ptpkit.discovery.ssdp import build_response

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()

def dribble():
    connection, _ = listener.accept()
    connection.recv(4096)
    connection.sendall(b"HTTP/1.1 200 OK\\r\\nX-Pad: ")
    while True:
        try:
            connection.sendall(b"a")
        except OSError:
            return
        time.sleep(0.05)

threading.Thread(target=dribble, daemon=True).start()
location = f"http://127.0.0.1:{listener.getsockname()[1]}/d.xml"

def answer(request, requester):
    usn = f"uuid:x::{CANON_EOS_SERVICE}"
    return [build_response(st=CANON_EOS_SERVICE, usn=usn, location=location, server="s")]

with SsdpResponder(answer, host="127.0.0.1", port=0) as camera:
    found = ssdp_cameras(0.3, targets=[("127.0.0.1", camera.port)], bind=("127.0.0.1", 0))
print([c.url for c in found])
"""


def test_a_stalled_description_does_not_keep_the_process_alive() -> None:
    # The description fetch runs in a thread pool, which the interpreter waits for at exit: a
    # fetch that outlived its timeout (socket timeouts bound each read, not the whole answer)
    # kept `ptpkit list` from ever exiting.
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", STALLED_DESCRIPTION],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['ptpip:127.0.0.1']"
    assert time.monotonic() - started < 10
