"""``ptpkit.aio``: the asyncio API, on the same sans-IO core and operation specs as
:class:`ptpkit.Camera`::

    import asyncio
    import ptpkit.aio

    async def main() -> None:
        async with ptpkit.aio.connect("ptpip:192.168.1.1") as cam:
            print(cam.device_info.model)
            async for entry in cam.walk():
                print(entry.path)

    asyncio.run(main())

Links: ``ptpip:`` on the event loop (no thread: many cameras in one loop), ``virtual:`` (the
in-process virtual camera) inline, and any other scheme of :func:`ptpkit.connect` (``usb:``,
``virtual+usb:``, ``fuji:``) through its blocking transport in one worker thread per camera.
Vendor extensions run their blocking hooks in worker threads of the camera's
(:mod:`ptpkit.aio.vendor`). asyncio only (see :mod:`ptpkit.aio.connect`).
"""

from __future__ import annotations

from ptpkit.aio.camera import Camera
from ptpkit.aio.connect import connect, transport_for
from ptpkit.aio.engine import AsyncEngine
from ptpkit.aio.liveview import AsyncLiveView
from ptpkit.aio.transports import (
    AsyncInProcessTransport,
    AsyncPtpIpTransport,
    AsyncTransport,
    ThreadedTransport,
)

__all__ = [
    "AsyncEngine",
    "AsyncInProcessTransport",
    "AsyncLiveView",
    "AsyncPtpIpTransport",
    "AsyncTransport",
    "Camera",
    "ThreadedTransport",
    "connect",
    "transport_for",
]
