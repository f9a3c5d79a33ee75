"""UPnP device descriptions (UDA 1.1 §2.3): building one, serving it over HTTP, reading one.

An SSDP answer's LOCATION points at an XML description of the device; a Canon camera fetches
ours to learn the computer's name and identity, and discovery fetches a camera's to learn its
name, model and, where the camera says it (Panasonic's ``X_PTPPortNo``), its PTP/IP port.

Descriptions from the network are untrusted: at most :data:`MAX_DESCRIPTION_BYTES` are read
within the timeout, a document that is not UTF-8 or has a DTD or entities is refused before
parsing (no entity expansion), and only a location on the host that sent the SSDP answer is
fetched (see :mod:`ptpkit.discovery.find`).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import logging
import re
import socket
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from xml.sax.saxutils import escape

from ptpkit.discovery.responder import bind_error
from ptpkit.errors import ConnectError, DecodeError

log = logging.getLogger("ptpkit.discovery")

DEVICE_NAMESPACE: Final = "urn:schemas-upnp-org:device-1-0"
BASIC_DEVICE: Final = "urn:schemas-upnp-org:device:Basic:1"
#: Descriptions are a few KB; refuse more.
MAX_DESCRIPTION_BYTES: Final = 64 * 1024
#: The seed's description server answers with this content type: "cam requires this content
#: type" (ptpip-canon-desc-helper.py).
XML_CONTENT_TYPE: Final = 'text/xml; charset="utf-8"'
#: One deadline per connection, from accept to the end of the answer: a client that sends its
#: request a byte at a time (or reads the answer so) is cut off then, however steadily it trickles.
#: A camera's request and our answer are a few hundred bytes each.
HTTP_TIMEOUT_S: Final = 10.0
#: Connections served at once (a thread each). A camera needs one; when they are all taken, the
#: oldest is dropped for the newcomer, so connections that hold on cannot keep the camera out.
MAX_CONNECTIONS: Final = 16
#: The request line and headers, in all; a camera sends a few hundred bytes. Bodies are never
#: read (every answer closes the connection).
MAX_REQUEST_HEAD_BYTES: Final = 8 * 1024

_DTD: Final = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# XML 1.0 §2.2 allows no C0 control character but tab, CR and LF. Refusing them also refuses
# UTF-16 and UTF-32 text that happens to be valid UTF-8 (ASCII with NULs between).
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True, kw_only=True)
class DeviceDescription:
    """What discovery reads from a description."""

    friendly_name: str | None = None
    manufacturer: str | None = None
    model_name: str | None = None
    model_number: str | None = None
    serial_number: str | None = None
    udn: str | None = None
    device_type: str | None = None
    #: The PTP/IP port, where the description gives one (an ``X_PTPPortNo`` element in any
    #: namespace: Panasonic's ``pana:X_PTPPortNo``, bitfocus/companion-module-requests#402, and
    #: ptpkit's virtual camera).
    ptpip_port: int | None = None


def build_description(
    *,
    udn: str,
    friendly_name: str,
    manufacturer: str,
    model_name: str,
    device_type: str = BASIC_DEVICE,
    model_number: str | None = None,
    model_description: str | None = None,
    serial_number: str | None = None,
    manufacturer_url: str | None = None,
    extra: Sequence[tuple[str, str, str, str]] = (),
) -> bytes:
    """A root device description. ``extra`` adds vendor elements to the device, each as
    ``(prefix, namespace, local name, text)`` (UDA 1.1 §2.3 allows ``prefix:X_name``)."""
    fields = [
        ("deviceType", device_type),
        ("friendlyName", friendly_name),
        ("manufacturer", manufacturer),
        ("manufacturerURL", manufacturer_url),
        ("modelDescription", model_description),
        ("modelName", model_name),
        ("modelNumber", model_number),
        ("serialNumber", serial_number),
        ("UDN", udn),
    ]
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<root xmlns="{DEVICE_NAMESPACE}">',
        "  <specVersion>",
        "    <major>1</major>",
        "    <minor>0</minor>",
        "  </specVersion>",
        "  <device>",
    ]
    lines += [f"    <{tag}>{escape(text)}</{tag}>" for tag, text in fields if text is not None]
    for prefix, namespace, name, text in extra:
        lines.append(
            f'    <{prefix}:{name} xmlns:{prefix}="{escape(namespace)}">{escape(text)}'
            f"</{prefix}:{name}>"
        )
    lines += ["  </device>", "</root>", ""]
    return "\n".join(lines).encode("utf-8")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse_description(data: bytes) -> DeviceDescription:
    """Read a root device description; DecodeError if it is not one (or is too big, or has a
    DTD)."""
    what = "UPnP device description"
    if len(data) > MAX_DESCRIPTION_BYTES:
        raise DecodeError(f"more than {MAX_DESCRIPTION_BYTES} bytes", what=what)
    # The DTD check must see the characters the XML parser will see: searching the raw bytes
    # misses a DTD in UTF-16. So the text is decoded here (descriptions are UTF-8; a BOM is
    # allowed) and the parser is given the decoded string, which expat reads as UTF-8 whatever
    # the XML declaration says.
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DecodeError("not UTF-8 text", offset=exc.start, what=what) from None
    control = _CONTROL.search(text)
    if control:
        raise DecodeError("control character in the document", offset=control.start(), what=what)
    if _DTD.search(text):
        raise DecodeError("a DTD or entity declaration (refused)", what=what)
    try:
        root = ET.fromstring(text)  # noqa: S314  (size-bounded and DTD-free, checked above)
    except ET.ParseError as exc:
        raise DecodeError(str(exc), what=what) from None
    if _local(root.tag) != "root":
        raise DecodeError(f"the document is <{_local(root.tag)}>, not <root>", what=what)
    device = next((child for child in root if _local(child.tag) == "device"), None)
    if device is None:
        raise DecodeError("no <device>", what=what)
    values: dict[str, str] = {}
    for child in device:
        text = (child.text or "").strip()
        if text and len(text) <= 1024:
            values.setdefault(_local(child.tag), text)
    port_text = values.get("X_PTPPortNo", "")
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    return DeviceDescription(
        friendly_name=values.get("friendlyName"),
        manufacturer=values.get("manufacturer"),
        model_name=values.get("modelName"),
        model_number=values.get("modelNumber"),
        serial_number=values.get("serialNumber"),
        udn=values.get("UDN"),
        device_type=values.get("deviceType"),
        ptpip_port=port,
    )


def fetch_description(url: str, *, timeout_s: float = 2.0) -> DeviceDescription:
    """GET a description over HTTP and read it: at most :data:`MAX_DESCRIPTION_BYTES`, all
    within ``timeout_s`` (ConnectError after that)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 80
    except ValueError as exc:  # a port out of range, a bad IPv6 literal
        raise DecodeError(f"{url!r}: {exc}", what="description location") from None
    if parts.scheme != "http" or not parts.hostname:
        raise DecodeError(f"{url!r} is not an http:// URL", what="description location")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    too_slow = ConnectError(f"{url} is too slow to send its description")
    connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout_s)
    # The socket timeout bounds each read, not the whole answer: a server that sends its status
    # line or headers a byte at a time would hold us for as long as it likes (and, in
    # discover(), the interpreter's exit, which waits for the fetching threads). At the
    # deadline, shutting the socket down ends whatever read is under way.
    expired = threading.Event()

    def give_up() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout_s, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.connect()
        if expired.is_set():  # the deadline passed while connecting, before there was a socket
            raise too_slow
        connection.request("GET", path, headers={"Accept": "text/xml, application/xml"})
        response = connection.getresponse()
        if response.status != 200:
            raise DecodeError(f"HTTP {response.status} for {url}", what="device description")
        data = response.read(MAX_DESCRIPTION_BYTES + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise (
            too_slow if expired.is_set() else ConnectError(f"cannot fetch {url}: {exc}")
        ) from exc
    finally:
        watchdog.cancel()
        connection.close()
    if expired.is_set():  # what was read may be cut short
        raise too_slow
    return parse_description(data)


# -- serving -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DescriptionRequest:
    """A request the description server answered (for logging who fetched it)."""

    address: str
    port: int
    path: str
    status: int
    user_agent: str | None = None


class DescriptionServer:
    """Serves one description document at one path over HTTP/1.1, from threads (at most
    ``max_connections`` connections at once, the oldest dropped for a newcomer; each within one
    deadline of ``timeout_s`` from accept; a request head of at most
    :data:`MAX_REQUEST_HEAD_BYTES`).

    ``server_header`` is the exact ``Server`` header value; the Canon pairing responder gives a
    Windows-like one because the cameras require it.
    """

    def __init__(
        self,
        body: bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/description.xml",
        server_header: str = "ptpkit",
        on_request: Callable[[DescriptionRequest], None] | None = None,
        max_connections: int = MAX_CONNECTIONS,
        timeout_s: float = HTTP_TIMEOUT_S,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections}")
        if not 0 < timeout_s < float("inf"):
            raise ValueError(f"timeout_s must be a finite number of seconds > 0, not {timeout_s}")
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self.body = body
        self.host = host
        self.requested_port = port
        self.path = path if path.startswith("/") else "/" + path
        self.server_header = server_header
        self.on_request = on_request
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    def url(self, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{self.path}"

    def start(self) -> DescriptionServer:
        handler = _make_handler(self)
        try:
            server = _HttpServer(
                (self.host, self.requested_port),
                handler,
                max_connections=self.max_connections,
                timeout_s=self.timeout_s,
            )
        except OSError as exc:
            raise bind_error(
                exc,
                "description requests (HTTP)",
                self.host,
                self.requested_port,
                "another program is using that TCP port; choose another one (-P PORT)",
            ) from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = "upnp-description"
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> DescriptionServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _HttpServer(http.server.ThreadingHTTPServer):
    """The standard threading HTTP server, with at most ``max_connections`` connections (the
    oldest dropped for a newcomer), one deadline each, and errors logged instead of printed."""

    daemon_threads = True
    request_queue_size = 64  # socketserver's 5 makes a burst of connections wait for SYN retries

    def __init__(self, *args: Any, max_connections: int, timeout_s: float, **kwargs: Any) -> None:
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        #: Open connections and their deadlines, oldest first (dicts keep order).
        self._deadlines: dict[socket.socket, float] = {}
        self._deadlines_lock = threading.Lock()
        #: Connections cut off by the deadline or dropped for a newcomer (diagnostics, tests).
        self.connections_dropped = 0
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._deadlines_lock:
            oldest = None
            if len(self._deadlines) >= self.max_connections:
                # Refusing the newcomer would let whoever holds every place keep the camera out
                # for as long as it likes; the oldest has had its time.
                oldest = next(iter(self._deadlines))
                del self._deadlines[oldest]
                self.connections_dropped += 1
            self._deadlines[request] = time.monotonic() + self.timeout_s
        if oldest is not None:
            log.debug("description server: too many connections; dropping the oldest")
            _cut(oldest)
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: socket.socket) -> None:
        with self._deadlines_lock:
            self._deadlines.pop(request, None)

    def service_actions(self) -> None:
        # Called by serve_forever() every poll interval: the per-connection deadline. A read
        # timeout alone would be reset by every byte a slow client sends.
        now = time.monotonic()
        with self._deadlines_lock:
            expired = [sock for sock, deadline in self._deadlines.items() if deadline <= now]
            for sock in expired:
                del self._deadlines[sock]
            self.connections_dropped += len(expired)
        for sock in expired:
            log.debug("description server: a connection took over %g s; cut off", self.timeout_s)
            _cut(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback to stderr, e.g. when a client resets the connection
        # during the answer; the library never prints.
        log.debug("description server: request from %s failed", client_address, exc_info=True)


def _cut(sock: socket.socket) -> None:
    """End a connection served by another thread: its reads and writes fail at once."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _HeadLimit:
    """The request stream, refusing to give more than ``limit`` bytes of request head:
    BaseHTTPRequestHandler alone reads up to 64 KiB per line and 100 header lines."""

    def __init__(self, raw: Any, limit: int) -> None:
        self._raw = raw
        self._left = limit

    def readline(self, size: int | None = -1) -> bytes:
        cap = self._left if size is None or size < 0 else min(size, self._left)
        if cap <= 0:
            raise http.client.LineTooLong("request head")
        line: bytes = self._raw.readline(cap)
        self._left -= len(line)
        if self._left <= 0 and not line.endswith(b"\n"):
            raise http.client.LineTooLong("request head")
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _make_handler(owner: DescriptionServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        # The seed answers in HTTP/1.1 with Connection: close (ptpip-canon-desc-helper.py).
        protocol_version = "HTTP/1.1"
        # Each read's timeout; the whole connection's deadline is the server's (service_actions).
        timeout = owner.timeout_s

        def setup(self) -> None:
            super().setup()
            self.rfile = _HeadLimit(self.rfile, MAX_REQUEST_HEAD_BYTES)  # type: ignore[assignment]

        def handle(self) -> None:
            try:
                super().handle()
            except http.client.LineTooLong:
                # An oversize request line (an oversize header is answered 431 by the base
                # class): closed without an answer.
                log.debug("description server: request head too long from %s", self.client_address)

        def version_string(self) -> str:
            return owner.server_header

        def do_GET(self) -> None:
            self._answer(with_body=True)

        def do_HEAD(self) -> None:
            self._answer(with_body=False)

        def _answer(self, *, with_body: bool) -> None:
            path = urllib.parse.urlsplit(self.path).path
            # Reported before answering, so that whoever sees the answer sees the report too.
            if path != owner.path:
                self._report(404)
                self.send_error(404, "Not Found")
                return
            self._report(200)
            body = owner.body
            self.send_response(200)
            self.send_header("Content-Type", XML_CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if with_body:
                self.wfile.write(body)

        def _report(self, status: int) -> None:
            if owner.on_request is None:
                return
            try:
                owner.on_request(
                    DescriptionRequest(
                        address=str(self.client_address[0]),
                        port=int(self.client_address[1]),
                        path=self.path[:200],
                        status=status,
                        user_agent=self.headers.get("User-Agent"),
                    )
                )
            except Exception:  # a logging callback must not break the answer
                log.exception("description server: on_request failed")

        def log_message(self, format: str, *args: object) -> None:
            # The library never prints; requests go to the logger (and on_request).
            log.debug("description server: %s - %s", self.client_address[0], format % args)

    return Handler
