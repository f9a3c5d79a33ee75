"""mDNS results from zeroconf ServiceInfo objects (no multicast: nothing is browsed for real)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import zeroconf
from zeroconf import ServiceInfo, ServiceStateChange

from ptpkit.discovery import DiscoveredCamera
from ptpkit.discovery.mdns import CANON_IMINK_SERVICE, PTP_SERVICE, browse, camera_from_service
from ptpkit.testing import FakeClock


def test_a_ptp_service_is_a_ptpip_camera_on_its_port() -> None:
    info = ServiceInfo(
        PTP_SERVICE,
        f"Studio Z8.{PTP_SERVICE}",
        port=15741,
        parsed_addresses=["192.168.1.40"],
        server="z8.local.",
    )
    assert camera_from_service(info) == DiscoveredCamera(
        url="ptpip:192.168.1.40:15741",
        name="Studio Z8",
        model=None,
        source="mdns",
        address="192.168.1.40",
    )


def test_the_standard_port_is_left_out_of_the_url() -> None:
    info = ServiceInfo(
        PTP_SERVICE,
        f"cam.{PTP_SERVICE}",
        port=15740,
        parsed_addresses=["10.0.0.9"],
        properties={"model": "X-T5"},
    )
    camera = camera_from_service(info)
    assert camera is not None
    assert camera.url == "ptpip:10.0.0.9"
    assert camera.model == "X-T5"


def test_a_canon_imink_service_gives_the_ptpip_camera_behind_it() -> None:
    # The TXT records of a PowerShot G7 X (gphoto/gphoto2#282); 8615 is its HTTP service, PTP/IP
    # is on 15740.
    info = ServiceInfo(
        CANON_IMINK_SERVICE,
        f"MobileConnectedCamera.{CANON_IMINK_SERVICE}",
        port=8615,
        parsed_addresses=["192.168.188.23"],
        server="g7x.local.",
        properties={
            "vexv.iml": "1-1402-329D-0.0.0",
            "exactv.iml": "1.0",
            "ctlurl.iml": "/MobileConnectedCamera/",
            "scpdurl.iml": "http://192.168.188.23:49152/desc_iml/MobileConnectedCamera.xml",
            "mn.iml": "g7x",
            "md.iml": "Camera 1.0/Canon PowerShot G7 X",
            "mf.iml": "CANON INC.",
        },
    )
    assert camera_from_service(info) == DiscoveredCamera(
        url="ptpip:192.168.188.23",
        name="g7x",
        model="Canon PowerShot G7 X",
        source="mdns",
        address="192.168.188.23",
    )


def test_ipv4_is_preferred_and_link_local_ipv6_is_not_usable() -> None:
    both = ServiceInfo(
        PTP_SERVICE,
        f"c.{PTP_SERVICE}",
        port=15740,
        parsed_addresses=["fe80::1", "fd00::5", "192.168.1.7"],
    )
    assert camera_from_service(both) is not None
    assert camera_from_service(both).url == "ptpip:192.168.1.7"  # type: ignore[union-attr]
    v6 = ServiceInfo(PTP_SERVICE, f"c.{PTP_SERVICE}", port=15740, parsed_addresses=["fd00::5"])
    assert camera_from_service(v6).url == "ptpip:[fd00::5]"  # type: ignore[union-attr]
    link_local = ServiceInfo(
        PTP_SERVICE, f"c.{PTP_SERVICE}", port=15740, parsed_addresses=["fe80::1"]
    )
    assert camera_from_service(link_local) is None
    nothing = ServiceInfo(PTP_SERVICE, f"c.{PTP_SERVICE}", port=15740)
    assert camera_from_service(nothing) is None


def test_oversize_or_binary_txt_values_do_no_harm() -> None:
    info = ServiceInfo(
        CANON_IMINK_SERVICE,
        f"MobileConnectedCamera.{CANON_IMINK_SERVICE}",
        port=8615,
        parsed_addresses=["192.168.1.2"],
        properties={b"md.iml": b"x" * 200, b"mn.iml": b"\xff\xfecam"},
    )
    camera = camera_from_service(info)
    assert camera is not None
    assert camera.model is None  # the overlong value was ignored
    assert camera.name == "\ufffd\ufffdcam"


def test_browse_without_a_network_returns_nothing_at_once() -> None:
    def no_network() -> object:
        raise OSError(19, "No such device")

    # What fails is waiting out the browse: 30 s, told apart from "at once" by a wide margin
    # that a loaded machine does not reach.
    started = time.monotonic()
    assert browse(30.0, zeroconf_factory=no_network) == []  # type: ignore[arg-type]
    assert time.monotonic() - started < 5


def test_many_names_to_resolve_do_not_stretch_the_browse(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each name is resolved within what is left of the timeout, not a fixed minimum each: 50
    # names that never resolve once took 50 x 100 ms. Nothing is browsed for real: the browser
    # reports the names at once and the resolver waits out its timeout.
    class Browser:
        def __init__(self, zc: object, types: list[str], handlers: list[Any]) -> None:
            for i in range(50):
                for handler in handlers:
                    handler(
                        zeroconf=zc,
                        service_type=PTP_SERVICE,
                        name=f"cam{i}.{PTP_SERVICE}",
                        state_change=ServiceStateChange.Added,
                    )

        def cancel(self) -> None:
            pass

    # Time is the fake clock's: browse's sleep and each resolve's wait advance it exactly by what
    # was asked, so the sum is the bound, with nothing from the machine's load in it.
    clock = FakeClock()
    monkeypatch.setattr("ptpkit.discovery.mdns.time", clock)

    class Resolver:
        asked = 0

        def get_service_info(self, service_type: str, name: str, timeout: int) -> None:
            Resolver.asked += 1
            clock.sleep(timeout / 1000)

        def close(self) -> None:
            pass

    monkeypatch.setattr(zeroconf, "ServiceBrowser", Browser)
    started = clock.monotonic()
    assert browse(0.4, zeroconf_factory=Resolver) == []  # type: ignore[arg-type]
    assert clock.monotonic() - started <= 0.4 + 1e-9
    assert Resolver.asked >= 1
