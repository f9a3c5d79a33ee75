"""Virtual cameras for rig tests: in-process (``virtual:``), served over PTP/IP on 127.0.0.1,
and on a virtual USB bus; each with its own serial number and card."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.virtual import VirtualCamera, personality_for
from ptpkit.virtual.network import network_server
from ptpkit.virtual.server import PtpIpServer

#: Makes a virtual camera with a serial number and a model, on a card of its own.
MakeCamera = Callable[..., VirtualCamera]
#: Serves a virtual camera over PTP/IP on 127.0.0.1 (port 0); the server.
Serve = Callable[[VirtualCamera], PtpIpServer]


@pytest.fixture
def make_camera(tmp_path: Path) -> Iterator[MakeCamera]:
    made: list[VirtualCamera] = []

    def make(serial: str, model: str = "generic", **options: str) -> VirtualCamera:
        card = tmp_path / f"card-{serial}"
        card.mkdir()
        camera = VirtualCamera(
            card, personality=personality_for(model, {"serial": serial, **options})
        )
        made.append(camera)
        return camera

    yield make
    for camera in made:
        camera.close()


@pytest.fixture
def serve() -> Iterator[Serve]:
    with contextlib.ExitStack() as stack:

        def start(camera: VirtualCamera) -> PtpIpServer:
            return stack.enter_context(network_server(camera, host="127.0.0.1", port=0))

        yield start


def in_process(cameras: dict[str, VirtualCamera]) -> Callable[[str], Camera]:
    """A LocalBackend's connect for in-process cameras: ``virtual:NAME`` -> that camera; any
    other URL is opened as usual."""

    def connect(url: str) -> Camera:
        scheme, _, name = url.partition(":")
        if scheme == "virtual" and name in cameras:
            return ptpkit.connect("virtual:", camera=cameras[name])
        return ptpkit.connect(url, timeout_s=5.0)

    return connect
