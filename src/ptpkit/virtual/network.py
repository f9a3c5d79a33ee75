"""Which network server a virtual camera gets: its personality's PTP/IP, or the one asked for.

::

    server = network_server(camera)                   # Personality.ptpip_variant decides
    server = network_server(camera, variant="fuji")   # Fujifilm's variant whatever the model

"standard" is CIPA DC-X005 on 15740 (:class:`~ptpkit.virtual.server.PtpIpServer`); "fuji" is
Fujifilm's variant on 55740-55742 (:class:`~ptpkit.virtual.fujiserver.FujiPtpIpServer`).
"""

from __future__ import annotations

from typing import Any, Final

from ptpkit.core.fujiptpip import COMMAND_PORT as FUJI_COMMAND_PORT
from ptpkit.core.ptpip import DEFAULT_PORT
from ptpkit.virtual.camera import VirtualCamera
from ptpkit.virtual.fujiserver import FujiPtpIpServer
from ptpkit.virtual.server import PtpIpServer

#: The PTP/IP variants the virtual camera serves (``Personality.ptpip_variant``).
VARIANTS: Final = ("standard", "fuji")


def network_server(
    camera: VirtualCamera,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    variant: str | None = None,
    **options: Any,
) -> PtpIpServer:
    """The server for ``camera``: ``variant`` ("standard" or "fuji"; None: the personality's
    ``ptpip_variant``) on ``port`` (None: the variant's own, 15740 or 55740). ``options`` are
    the server's keywords (name, limits...)."""
    chosen = variant or camera.personality.ptpip_variant
    if chosen == "fuji":
        return FujiPtpIpServer(camera, host, FUJI_COMMAND_PORT if port is None else port, **options)
    if chosen == "standard":
        return PtpIpServer(camera, host, DEFAULT_PORT if port is None else port, **options)
    raise ValueError(f"unknown PTP/IP variant {chosen!r}; known: {', '.join(VARIANTS)}")
