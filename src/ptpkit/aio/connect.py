"""``ptpkit.aio.connect(url)``: from a URL to an asyncio Camera, opened by ``async with``.

asyncio only, not anyio: the PTP/IP link is asyncio streams and the engine an asyncio.Lock and
asyncio timeouts; anyio is not a dependency of ptpkit (trio users can run it through
trio-asyncio). A link is chosen by the URL's scheme: ``ptpip:`` gets the stream transport,
``virtual:`` the in-process camera inline, every other scheme of :func:`ptpkit.connect` its
blocking transport in a worker thread (:class:`~ptpkit.aio.transports.ThreadedTransport`).
"""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any

from ptpkit.aio.camera import Camera
from ptpkit.aio.transports import AsyncTransport, adapt, open_ptpip_url
from ptpkit.client.connect import transport_for as blocking_transport_for
from ptpkit.errors import UsageError


def transport_for(url: str, **options: Any) -> AsyncTransport:
    """The asyncio link for ``url`` (options as :func:`ptpkit.connect`'s)."""
    scheme, sep, _ = url.partition(":")
    if not sep:
        raise UsageError(f"{url!r} is not a camera URL (try virtual:, ptpip:HOST or usb:)")
    if scheme.lower() == "ptpip":
        return open_ptpip_url(url, options)
    return adapt(blocking_transport_for(url, **options))


class _Connecting:
    """What :func:`connect` returns: ``async with`` it (opened, then closed), or ``await``
    it (an open Camera the caller closes)."""

    def __init__(self, camera: Camera) -> None:
        self._camera = camera

    def __await__(self) -> Generator[Any, None, Camera]:
        return self._camera.open().__await__()

    async def __aenter__(self) -> Camera:
        return await self._camera.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._camera.close()


def connect(
    url: str = "virtual:",
    *,
    timeout_s: float | None = 20.0,
    session_id: int = 1,
    busy_retries: int = 5,
    extensions: bool = True,
    **options: Any,
) -> _Connecting:
    """An asyncio camera for ``url``::

        async with ptpkit.aio.connect("ptpip:192.168.1.1") as cam: ...
        cam = await ptpkit.aio.connect("virtual:")   # then: await cam.close()

    Other keywords go to the URL's transport (``virtual:`` takes ``camera=``, a
    VirtualCamera; ``ptpip:`` the keywords of
    :class:`~ptpkit.aio.transports.AsyncPtpIpTransport`). ``extensions=False``: standard PTP
    only, the matching vendor extensions' names without their behaviour (no thread at all)."""
    transport = transport_for(url, **options)
    return _Connecting(
        Camera(
            transport,
            timeout_s=timeout_s,
            session_id=session_id,
            busy_retries=busy_retries,
            extensions=extensions,
        )
    )
