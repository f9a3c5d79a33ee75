"""SSDP floods: one address flooding the responder with searches neither uses up the answers the
camera gets nor makes ``canon-pair`` report (print) every search."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ptpkit.discovery.canon_pairing import CanonPairingResponder, PairingEvent
from ptpkit.discovery.responder import MAX_REPLIES_PER_REQUESTER_PER_S, SsdpResponder
from ptpkit.discovery.ssdp import build_search, parse_response

from .conftest import UdpPeer

#: The flood comes from another loopback address than the camera (Linux answers all 127/8).
FLOOD_HOST = "127.0.0.2"


@pytest.fixture
def flooder() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((FLOOD_HOST, 0))
    except OSError:
        sock.close()
        pytest.skip(f"cannot send from {FLOOD_HOST}")
    yield sock
    sock.close()


def _flood(sock: socket.socket, port: int, stop: threading.Event) -> None:
    search = build_search("upnp:rootdevice", host=f"127.0.0.1:{port}")
    while not stop.is_set():
        for _ in range(50):
            with contextlib.suppress(OSError):  # a full socket buffer: try again
                sock.sendto(search, ("127.0.0.1", port))
        time.sleep(0.001)


def test_a_flooding_address_does_not_use_up_the_cameras_answers(
    flooder: socket.socket, udp: UdpPeer
) -> None:
    """Old code: one bucket for everyone, emptied by the flood, so the camera went unanswered."""
    answer = build_search("x")
    with SsdpResponder(
        lambda request, requester: [answer], host="127.0.0.1", port=0, max_replies_per_s=50
    ) as responder:
        stop = threading.Event()
        thread = threading.Thread(target=_flood, args=(flooder, responder.port, stop))
        thread.start()
        try:
            time.sleep(0.3)  # the flood is on
            answered = []
            for _ in range(5):
                # Sent again when unanswered, as SSDP clients do: under load the kernel may drop
                # a datagram among the flood's (seen on a loaded machine), which is not what
                # this test is about. A flooder that used up this peer's answers would leave
                # every try unanswered (the flood goes on throughout).
                for _attempt in range(3):
                    udp.search(responder.port, "upnp:rootdevice")
                    got = udp.receive(0.5)
                    if got:
                        answered += got
                        break
        finally:
            stop.set()
            thread.join()
        assert len(answered) == 5
        assert responder.searches_limited > 0


def test_canon_pair_reports_a_flood_at_a_bounded_rate(flooder: socket.socket, udp: UdpPeer) -> None:
    """Old code: every search of the flood was passed on (a printed line each in canon-pair)."""
    events: list[PairingEvent] = []
    with CanonPairingResponder(
        "127.0.0.1",
        name="studio",
        description_port=0,
        ssdp_host="127.0.0.1",
        ssdp_port=0,
        ssdp_group=None,
        on_event=events.append,
    ) as responder:
        search = build_search("upnp:rootdevice", host=f"127.0.0.1:{responder.ssdp.port}")
        start = time.monotonic()
        for _ in range(500):
            flooder.sendto(search, ("127.0.0.1", responder.ssdp.port))
        time.sleep(0.3)
        elapsed = time.monotonic() - start
        flood_events = [e for e in events if e.address == FLOOD_HOST]
        assert 1 <= len(flood_events) <= MAX_REPLIES_PER_REQUESTER_PER_S * (1 + elapsed) + 1
        # ... and the camera is answered meanwhile.
        udp.search(responder.ssdp.port, "upnp:rootdevice")
        assert [parse_response(a).st for a in udp.receive()] == ["upnp:rootdevice"]
