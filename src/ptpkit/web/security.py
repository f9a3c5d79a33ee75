"""The rules every request of ``ptpkit web`` passes (checked in one middleware).

- **Who may ask.** The server binds loopback unless told otherwise. Bound to any other
  address it has a token (printed at start, in the URL it prints): a request without it, in
  the ``token`` query parameter or the cookie the first such request sets, is refused (403).
- **Which Host.** The Host header must name the address the server is bound to (or localhost on
  loopback): a page of another site whose name was made to resolve to 127.0.0.1 (DNS rebinding)
  is refused, and so cannot read the API even though its requests would be same-origin.
- **Cross-site requests.** A request a browser marks as coming from another site
  (``Sec-Fetch-Site: cross-site`` or ``same-site``) is refused, except a plain navigation to the
  page itself. A state-changing request (anything but GET and HEAD) must also carry the
  server's CSRF token in a header (:data:`CSRF_HEADER`: a cross-site form cannot set headers,
  and cross-site scripts cannot read the token from the page), and its Origin, when the browser
  sends one, must be the server's own. The token cookie is ``SameSite=Strict`` and HttpOnly.
- Every response says ``nosniff``, may not be framed (clickjacking), sends no Referer (the
  token must not leak from the page's URL) and may load nothing from elsewhere (CSP).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Middleware

#: The header a state-changing request carries the CSRF token in.
CSRF_HEADER: Final = "X-Ptpkit-Csrf"
#: The cookie that carries the access token after the first request with it in the URL.
TOKEN_COOKIE: Final = "ptpkit_web_token"  # noqa: S105  (a name, not a secret)
#: The query parameter of the access token (in the URL printed at start).
TOKEN_PARAM: Final = "token"  # noqa: S105  (a name, not a secret)

_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The name part of a Host header (``[::1]:8080`` -> ``::1``, ``a:80`` -> ``a``)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


@dataclass(frozen=True)
class Guard:
    """The secrets and names of one server."""

    #: The host the server is bound to.
    bound_host: str
    #: The access token; required exactly when the server is not loopback-only.
    token: str | None
    #: The CSRF token the page carries and state-changing requests send back.
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @classmethod
    def for_host(cls, host: str, *, token: str | None = None) -> Guard:
        """The guard of a server bound to ``host``: a token (given, or a new one) unless the
        host is loopback, where a given token is still honoured."""
        if token is None and not is_loopback(host):
            token = secrets.token_urlsafe(24)
        return cls(bound_host=host, token=token)

    def host_allowed(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        if self.token is not None:
            # The token guards the server: a rebound name's page never has it (the cookie is
            # kept per host and the URL is the user's).
            return True
        name = _host_name(host_header).lower()
        return is_loopback(name) or name == self.bound_host.lower().strip("[]")

    def token_ok(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        given = request.query.get(TOKEN_PARAM) or request.cookies.get(TOKEN_COOKIE) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    def refusal(self, request: web.Request) -> str | None:
        """Why ``request`` is refused, or None when it may go on."""
        if not self.host_allowed(request.headers.get("Host")):
            return "unknown Host (open the URL ptpkit web printed)"
        if not self.token_ok(request):
            return "a token is required (open the URL ptpkit web printed)"
        site = request.headers.get("Sec-Fetch-Site")
        navigation = (
            request.method == "GET"
            and request.path == "/"
            and request.headers.get("Sec-Fetch-Mode") == "navigate"
        )
        if site in ("cross-site", "same-site") and not navigation:
            return "cross-site request refused"
        if request.headers.get("Upgrade", "").lower() == "websocket":
            # A WebSocket carries no custom header: the page's CSRF token comes in the query,
            # and a browser always sends the Origin (cross-site WebSocket hijacking).
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                return "cross-origin request refused"
            given = request.query.get("csrf", "")
            if not hmac.compare_digest(given.encode(), self.csrf.encode()):
                return "missing or wrong CSRF token (reload the page)"
        if request.method not in _SAFE_METHODS:
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                return "cross-origin request refused"
            given = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(given.encode(), self.csrf.encode()):
                return "missing or wrong CSRF token (reload the page)"
        return None

    def middleware(self) -> Middleware:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            reason = self.refusal(request)
            if reason is not None:
                raise web.HTTPForbidden(text=reason + "\n")
            response = await handler(request)
            if (
                self.token is not None
                and request.query.get(TOKEN_PARAM) == self.token
                and not response.prepared
            ):
                # The page's own requests then carry it (never to another site: Strict).
                response.set_cookie(
                    TOKEN_COOKIE, self.token, httponly=True, samesite="Strict", path="/"
                )
            return response

        return guard

    async def on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Headers of every response (also streams: they are set as it starts)."""
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )
