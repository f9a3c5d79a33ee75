"""``ptpkit web``: a local browser UI on :mod:`ptpkit.aio` (aiohttp).

- :mod:`ptpkit.web.app`: the application and starting it;
- :mod:`ptpkit.web.routes`: the HTTP API and the page;
- :mod:`ptpkit.web.cameras`: the open cameras, their events as messages, the gallery's pages;
- :mod:`ptpkit.web.hub`: fan-out of messages (server-sent events) and live-view frames (MJPEG);
- :mod:`ptpkit.web.zipstream`: a zip of camera objects streamed as it is written;
- :mod:`ptpkit.web.security`: loopback, token, Host, cross-site and CSRF rules;
- ``static/``: the page (HTML, CSS, JavaScript; nothing loaded from elsewhere).

aiohttp is the optional dependency ``ptpkit[web]``.
"""

from __future__ import annotations

from ptpkit.web.app import Running, create_app, parse_listen, start
from ptpkit.web.cameras import CameraManager
from ptpkit.web.security import Guard

__all__ = ["CameraManager", "Guard", "Running", "create_app", "parse_listen", "start"]
