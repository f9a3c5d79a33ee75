"""The aiohttp application of ``ptpkit web`` and running it."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ptpkit.web.cameras import CameraManager
from ptpkit.web.routes import CONFIGURED, GUARD, MANAGER, errors, routes
from ptpkit.web.security import TOKEN_PARAM, Guard


def create_app(
    manager: CameraManager,
    guard: Guard,
    *,
    configured: dict[str, dict[str, Any]] | None = None,
) -> web.Application:
    """The application: the guard's checks first, then ptpkit's errors as JSON, then the
    routes. Closing it closes the cameras."""
    app = web.Application(middlewares=[guard.middleware(), errors])
    app[MANAGER] = manager
    app[GUARD] = guard
    app[CONFIGURED] = dict(configured or {})
    app.add_routes(routes)
    app.on_response_prepare.append(guard.on_prepare)

    async def close_cameras(_: web.Application) -> None:
        await manager.close()

    # Before the server waits for open streams (SSE, MJPEG) to end: closing the cameras ends
    # them.
    app.on_shutdown.append(close_cameras)
    return app


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``PORT`` or ``[V6]:PORT`` -> (host, port); 127.0.0.1 when no host."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"--listen {text!r}: the port is not a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"--listen {text!r}: ports are 0 to 65535")
    return host, number


@dataclass
class Running:
    """A started server: its runner (``await runner.cleanup()`` stops it) and its URL."""

    runner: web.AppRunner
    host: str
    port: int
    token: str | None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):  # noqa: S104  (a wildcard bind: say this machine's name)
            host = socket.gethostname()
        query = f"/?{urlencode({TOKEN_PARAM: self.token})}" if self.token else "/"
        return f"http://{host}:{self.port}{query}"


async def start(
    manager: CameraManager,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    cameras: Sequence[tuple[str, dict[str, Any]]] = (),
) -> Running:
    """Serve on ``host:port`` (0: any free port) and open ``cameras``; the server runs until
    ``await running.runner.cleanup()``."""
    guard = Guard.for_host(host, token=token)
    app = create_app(manager, guard, configured=dict(cameras))
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = int(runner.addresses[0][1])
    running = Running(runner=runner, host=host, port=bound_port, token=guard.token)
    for url, options in cameras:
        await manager.add(url, options)
    return running
