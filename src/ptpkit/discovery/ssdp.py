"""SSDP (UPnP Device Architecture 1.1, §1): the HTTP-over-UDP messages, and the search.

::

    found = search(["urn:schemas-canon-com:service:ICPO-WFTEOSSystemService:1"], timeout_s=2)
    for reply in found:
        print(reply.address, reply.response.location)

The codec is a small, bounded parser of its own rather than a library's: SSDP arrives from anyone
on the network, so a datagram over :data:`MAX_DATAGRAM_BYTES`, bytes that are not UTF-8, control
characters, a header without a colon, folded lines, too many headers or two different values for
one header are refused with :class:`~ptpkit.errors.DecodeError` before anything looks at them.
An M-SEARCH must also be ``M-SEARCH * HTTP/1.x`` with ``MAN: "ssdp:discover"`` and an ST (UDA 1.1
§1.3.2); a search response must be ``HTTP/1.x 200`` with an ST (§1.3.3).

Everything that opens a socket takes its addresses as parameters: the defaults are the real
multicast group 239.255.255.250:1900; tests search 127.0.0.1 by unicast (UDA 1.1 §1.3.2 allows
unicast M-SEARCH), so no multicast leaves the machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import select
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from ptpkit.errors import ConnectError, DecodeError

log = logging.getLogger("ptpkit.discovery")

#: The SSDP multicast group and port (UDA 1.1 §1.1.1).
SSDP_GROUP: Final = "239.255.255.250"
SSDP_PORT: Final = 1900
#: Real M-SEARCH requests and responses are a few hundred bytes; anything larger is refused.
MAX_DATAGRAM_BYTES: Final = 4096
MAX_HEADERS: Final = 40
#: Longest ST / USN / LOCATION / SERVER value kept (UDA values are URNs and URLs).
MAX_VALUE_CHARS: Final = 1024
#: UDA 1.1 §1.3.3: an MX above 5 is treated as 5.
MAX_MX_S: Final = 5
#: UDA 1.1 §1.1.2: the multicast TTL "SHOULD default to 2".
MULTICAST_TTL: Final = 2

#: Host strings that mean "every address" (recognised, e.g. to decide on joining the group).
WILDCARD_HOSTS: Final = ("", "0.0.0.0")  # noqa: S104

SSDP_ALL: Final = "ssdp:all"
ROOT_DEVICE: Final = "upnp:rootdevice"

_TOKEN: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_VERSION: Final = re.compile(r"^HTTP/1\.[01]$")
# Any C0 control character or DEL except tab, CR and LF (which the line splitting handles).
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

Address = tuple[str, int]


@dataclass(frozen=True, kw_only=True)
class SearchRequest:
    """An M-SEARCH, as a device answering it sees it."""

    st: str
    #: Seconds the searcher waits for answers (None for a unicast search, which has no MX).
    mx: int | None = None
    host: str | None = None
    #: All headers, names lower-cased.
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SearchResponse:
    """A device's answer to an M-SEARCH."""

    st: str
    usn: str = ""
    location: str | None = None
    server: str | None = None
    #: From ``CACHE-CONTROL: max-age=N`` (None when absent or unreadable).
    max_age_s: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SearchReply:
    """A response and the address it came from."""

    response: SearchResponse
    address: str
    port: int


# -- the codec -----------------------------------------------------------------------------------


def _parse_message(data: bytes, what: str) -> tuple[str, dict[str, str]]:
    """The start line and the headers (names lower-cased) of one SSDP datagram."""
    if len(data) > MAX_DATAGRAM_BYTES:
        raise DecodeError(
            f"{len(data)} bytes is more than the {MAX_DATAGRAM_BYTES} an SSDP message may have",
            what=what,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("not UTF-8 text", offset=exc.start, what=what) from None
    control = _CONTROL.search(text)
    if control:
        raise DecodeError("control character in the message", offset=control.start(), what=what)
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    start = lines[0]
    if not start:
        raise DecodeError("empty start line", what=what)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            break  # the end of the headers; UDP carries no body in SSDP, anything after is ignored
        if line[0] in " \t":
            raise DecodeError("folded header line", what=what)
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.match(name):
            raise DecodeError(f"bad header line {line[:40]!r}", what=what)
        key = name.lower()
        value = value.strip()
        if len(value) > MAX_VALUE_CHARS:
            raise DecodeError(f"header {name} is too long", what=what)
        if key in headers and headers[key] != value:
            raise DecodeError(f"header {name} given twice with different values", what=what)
        headers[key] = value
        if len(headers) > MAX_HEADERS:
            raise DecodeError(f"more than {MAX_HEADERS} headers", what=what)
    return start, headers


def parse_search(data: bytes) -> SearchRequest:
    """An M-SEARCH request from a datagram; DecodeError for anything else."""
    what = "SSDP M-SEARCH"
    start, headers = _parse_message(data, what)
    parts = start.split(" ")
    if len(parts) != 3 or parts[0] != "M-SEARCH":
        raise DecodeError(f"not an M-SEARCH: {start[:40]!r}", what=what)
    if parts[1] != "*" or not _VERSION.match(parts[2]):
        raise DecodeError(f"bad request line {start[:60]!r}", what=what)
    # UDA 1.1 §1.3.2: MAN is required and quoted; the quotes are tolerated missing.
    if headers.get("man", "").strip('"') != "ssdp:discover":
        raise DecodeError('MAN is not "ssdp:discover"', what=what)
    st = headers.get("st", "")
    if not st:
        raise DecodeError("no ST (search target)", what=what)
    mx: int | None = None
    if "mx" in headers:
        text = headers["mx"]
        if not text.isdigit() or not text.isascii():
            raise DecodeError(f"MX {text[:20]!r} is not a number of seconds", what=what)
        mx = min(int(text), MAX_MX_S)
    return SearchRequest(st=st, mx=mx, host=headers.get("host"), headers=headers)


def parse_response(data: bytes) -> SearchResponse:
    """A search response (``HTTP/1.1 200 OK``) from a datagram; DecodeError for anything else."""
    what = "SSDP response"
    start, headers = _parse_message(data, what)
    parts = start.split(" ", 2)
    if len(parts) < 2 or not _VERSION.match(parts[0]):
        raise DecodeError(f"not a response: {start[:40]!r}", what=what)
    if parts[1] != "200":
        raise DecodeError(f"status {parts[1][:10]!r}, not 200", what=what)
    st = headers.get("st", "")
    if not st:
        raise DecodeError("no ST", what=what)
    max_age: int | None = None
    match = re.search(r"max-age\s*=\s*(\d{1,9})", headers.get("cache-control", ""), re.IGNORECASE)
    if match:
        max_age = int(match.group(1))
    return SearchResponse(
        st=st,
        usn=headers.get("usn", ""),
        location=headers.get("location") or None,
        server=headers.get("server") or None,
        max_age_s=max_age,
        headers=headers,
    )


def _header_lines(headers: Sequence[tuple[str, str]]) -> str:
    lines = []
    for name, value in headers:
        if not _TOKEN.match(name) or "\r" in value or "\n" in value:
            # Values come from our own settings (a friendly name, a URL): never let one smuggle
            # a header or end the message.
            raise ValueError(f"cannot put {name!r}: {value!r} in an SSDP header")
        lines.append(f"{name}: {value}\r\n" if value else f"{name}:\r\n")
    return "".join(lines)


def build_search(
    st: str, *, host: str = f"{SSDP_GROUP}:{SSDP_PORT}", mx_s: int | None = 1
) -> bytes:
    """An M-SEARCH for ``st`` (UDA 1.1 §1.3.2). A unicast search leaves out MX (``mx_s=None``)."""
    headers = [("HOST", host), ("MAN", '"ssdp:discover"'), ("ST", st)]
    if mx_s is not None:
        headers.append(("MX", str(mx_s)))
    return ("M-SEARCH * HTTP/1.1\r\n" + _header_lines(headers) + "\r\n").encode()


def build_response(
    *,
    st: str,
    usn: str,
    location: str,
    server: str,
    max_age_s: int = 1800,
    extra: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A search response (UDA 1.1 §1.3.3): ST, USN, LOCATION, CACHE-CONTROL, SERVER, EXT."""
    headers = [
        ("ST", st),
        ("USN", usn),
        ("LOCATION", location),
        ("CACHE-CONTROL", f"max-age={max_age_s}"),
        ("SERVER", server),
        ("EXT", ""),
        *extra,
    ]
    return ("HTTP/1.1 200 OK\r\n" + _header_lines(headers) + "\r\n").encode()


# -- searching -----------------------------------------------------------------------------------


def is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False


def _open_search_socket(bind: Address) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
        if bind[0] not in WILDCARD_HOSTS:
            # Multicast goes out of the interface of the address we search from.
            with contextlib.suppress(OSError):
                sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(bind[0])
                )
        sock.bind(bind)
    except OSError as exc:
        sock.close()
        raise ConnectError(
            f"cannot open an SSDP search socket on {bind[0] or '*'}:{bind[1]}: "
            f"{exc.strerror or exc}"
        ) from exc
    sock.setblocking(False)
    return sock


def search(
    search_targets: Sequence[str],
    *,
    timeout_s: float = 2.0,
    targets: Sequence[Address] = ((SSDP_GROUP, SSDP_PORT),),
    bind: Address = ("", 0),
    mx_s: int = 1,
    repeat: int = 2,
    on_reply: Callable[[SearchReply], None] | None = None,
) -> list[SearchReply]:
    """Send M-SEARCH for each of ``search_targets`` to each of ``targets`` and collect the answers
    that come within ``timeout_s`` (one per responder, search target and USN).

    Multicast targets get ``MX: mx_s``; unicast ones (e.g. 127.0.0.1:PORT) none. Each search goes
    out ``repeat`` times, as UDP may drop one (UDA 1.1 §1.3.2 recommends sending more than once).
    A target that cannot be reached (no route for multicast) is logged and skipped. Malformed
    answers are ignored.
    """
    sock = _open_search_socket(bind)
    replies: list[SearchReply] = []
    seen: set[tuple[str, int, str, str]] = set()
    try:
        deadline = time.monotonic() + timeout_s
        for attempt in range(max(1, repeat)):
            for host, port in targets:
                multicast = is_multicast(host)
                for st in search_targets:
                    packet = build_search(
                        st, host=f"{host}:{port}", mx_s=mx_s if multicast else None
                    )
                    try:
                        sock.sendto(packet, (host, port))
                    except OSError as exc:
                        if attempt == 0:
                            log.debug("SSDP search to %s:%d failed: %s", host, port, exc)
                        break  # the other search targets would fail the same way
            if attempt + 1 < repeat:
                # Collect while spacing the repeats a little.
                _collect(sock, min(deadline, time.monotonic() + 0.1), replies, seen, on_reply)
        _collect(sock, deadline, replies, seen, on_reply)
    finally:
        sock.close()
    return replies


def _collect(
    sock: socket.socket,
    deadline: float,
    replies: list[SearchReply],
    seen: set[tuple[str, int, str, str]],
    on_reply: Callable[[SearchReply], None] | None,
) -> None:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            return
        try:
            # One byte more than allowed: a datagram that fills it is oversize (recvfrom would
            # otherwise truncate it silently).
            data, (host, port, *_) = sock.recvfrom(MAX_DATAGRAM_BYTES + 1)
        except OSError as exc:  # e.g. ICMP port unreachable from a unicast target
            log.debug("SSDP search: %s", exc)
            continue
        try:
            response = parse_response(data)
        except DecodeError as exc:
            log.debug("ignoring SSDP datagram from %s:%d: %s", host, port, exc)
            continue
        key = (host, port, response.st, response.usn)
        if key in seen:
            continue
        seen.add(key)
        reply = SearchReply(response=response, address=host, port=port)
        replies.append(reply)
        if on_reply is not None:
            on_reply(reply)
