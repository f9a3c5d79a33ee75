"""An SSDP responder: answers M-SEARCH requests on a UDP socket, from a thread.

::

    def answer(request: SearchRequest, requester: tuple[str, int]) -> list[bytes]:
        return [build_response(...)] if request.st == "upnp:rootdevice" else []

    with SsdpResponder(answer, host="127.0.0.1", port=0) as responder:
        print(responder.port)

What to answer is the caller's (the Canon pairing responder, the virtual camera's advertiser);
this class only receives, filters and sends. It never lets a datagram hurt it: oversize, non-UTF-8
or malformed datagrams, NOTIFYs and other methods are dropped and logged at DEBUG, and an error in
``answer`` (or in sending what it returned) is logged and the loop goes on. Replies are
rate-limited in all, so the responder cannot be used to flood a third party with answers to forged
searches, and per requesting address, so that one address flooding it with searches does not use
up the answers every other requester (the camera) gets; a requester over its rate is not even
passed to ``answer`` (which may print a line per search).

Binding the wildcard address (the default) also joins the SSDP multicast group on ``interface``,
which is how real searches arrive (they are sent to 239.255.255.250:1900). Binding a specific
address (127.0.0.1 in tests) joins nothing: the responder then answers unicast searches only, and
no multicast membership report ever leaves the machine.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from ptpkit.discovery.ssdp import (
    MAX_DATAGRAM_BYTES,
    SSDP_GROUP,
    SSDP_PORT,
    WILDCARD_HOSTS,
    Address,
    SearchRequest,
    parse_search,
)
from ptpkit.errors import ConnectError, DecodeError

log = logging.getLogger("ptpkit.discovery")

#: Returns the datagrams to send back to ``requester`` (none: ignore the search).
Answer = Callable[[SearchRequest, Address], Sequence[bytes]]

#: Replies sent per second at most (a burst of this many is allowed).
MAX_REPLIES_PER_S: Final = 50.0
#: Replies per second to one address (a burst of this many is allowed). A camera sends a few
#: searches when it looks for a computer; discovery sends one per search target, a few times.
MAX_REPLIES_PER_REQUESTER_PER_S: Final = 20.0
#: Requesting addresses whose rate is tracked; the one heard least recently is forgotten first.
MAX_REQUESTERS: Final = 256


def bind_error(exc: OSError, what: str, host: str, port: int, hint: str = "") -> ConnectError:
    """A ConnectError that says why a listening socket could not be opened and what to do."""
    where = f"{host or 'all addresses'}:{port}"
    if exc.errno == errno.EADDRINUSE:
        advice = hint or "another program is using that port; stop it or choose another port"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        advice = (
            "permission denied: run as root or give Python the CAP_NET_BIND_SERVICE capability "
            "(sudo setcap cap_net_bind_service=+ep <python>)"
        )
    elif exc.errno == errno.EADDRNOTAVAIL:
        advice = f"{host} is not an address of this computer"
    else:
        advice = exc.strerror or str(exc)
    return ConnectError(f"cannot listen for {what} on {where}: {advice}")


class _RateLimit:
    """A token bucket: ``rate`` per second, bursts of ``rate``."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._at = clock()

    def available(self) -> bool:
        """Whether a token is there now (none is taken)."""
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return self._tokens >= 1

    def allow(self) -> bool:
        if not self.available():
            return False
        self._tokens -= 1
        return True


class SsdpResponder:
    """Receives M-SEARCH requests on ``host:port`` and sends what ``answer`` returns."""

    def __init__(
        self,
        answer: Answer,
        *,
        host: str = "",
        port: int = SSDP_PORT,
        group: str | None = SSDP_GROUP,
        interface: str | None = None,
        max_replies_per_s: float = MAX_REPLIES_PER_S,
        max_replies_per_requester_per_s: float = MAX_REPLIES_PER_REQUESTER_PER_S,
        name: str = "ssdp-responder",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.answer = answer
        self.host = host
        self.requested_port = port
        self.group = group
        #: The address whose interface joins the group (None: the kernel's choice).
        self.interface = interface
        self.name = name
        self._clock = clock
        self._limit = _RateLimit(max_replies_per_s, clock)
        self.max_replies_per_requester_per_s = max_replies_per_requester_per_s
        #: Each requesting address's bucket, least recently heard first.
        self._requesters: collections.OrderedDict[str, _RateLimit] = collections.OrderedDict()
        self._sock: socket.socket | None = None
        self._bound_port: int | None = None
        # Wakes the loop's select() at close(); made in start(), so that a responder that is
        # never started holds no sockets.
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        #: Counters for diagnostics and tests.
        self.searches_answered = 0
        self.datagrams_ignored = 0
        #: Searches not answered because their requester (or everyone) was over the rate.
        self.searches_limited = 0

    @property
    def port(self) -> int:
        """The port bound (still known after close()), or the one asked for before start()."""
        return self.requested_port if self._bound_port is None else self._bound_port

    @property
    def joined_group(self) -> bool:
        return self.group is not None and self.host in (*WILDCARD_HOSTS, self.group)

    def start(self) -> SsdpResponder:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            # Share UDP 1900 with an SSDP service already on it (minissdpd, a media server):
            # every socket in the group gets a copy of each multicast search.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.requested_port))
            except OSError as exc:
                raise bind_error(
                    exc,
                    "SSDP searches (UDP)",
                    self.host,
                    self.requested_port,
                    "another program holds that UDP port exclusively (an SSDP service such as "
                    "minissdpd or rygel?); stop it and try again",
                ) from exc
            if self.joined_group:
                assert self.group is not None
                self._join(sock, self.group)
        except BaseException:
            sock.close()
            self.close()
            raise
        self._sock = sock
        self._bound_port = int(sock.getsockname()[1])
        self._wake = socket.socketpair()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        log.debug(
            "SSDP responder on %s:%d%s",
            self.host or "*",
            self.port,
            f" (group {self.group})" if self.joined_group else "",
        )
        return self

    def _join(self, sock: socket.socket, group: str) -> None:
        local = (
            socket.inet_aton(self.interface)
            if self.interface
            else struct.pack("=I", socket.INADDR_ANY)
        )
        try:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + local
            )
        except OSError as exc:
            where = f"the interface of {self.interface}" if self.interface else "any interface"
            raise ConnectError(
                f"cannot join the SSDP multicast group {group} on {where}: "
                f"{exc.strerror or exc} (is {self.interface or 'the address'} an address of "
                "this computer, on a network interface that supports multicast?)"
            ) from exc

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._wake is not None:
            with contextlib.suppress(OSError):
                self._wake[1].send(b"x")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if self._sock is not None:
            self._sock.close()
        if self._wake is not None:
            for end in self._wake:
                end.close()

    def __enter__(self) -> SsdpResponder:
        return self.start() if self._sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        sock, wake = self._sock, self._wake
        assert sock is not None
        assert wake is not None
        while not self._closed.is_set():
            try:
                readable, _, _ = select.select([sock, wake[0]], [], [])
            except (OSError, ValueError):
                return  # closed under us
            if sock not in readable:
                continue
            try:
                data, (host, port, *_) = sock.recvfrom(MAX_DATAGRAM_BYTES + 1)
            except OSError as exc:
                log.debug("SSDP responder: %s", exc)
                continue
            try:
                self._handle(sock, data, (host, port))
            except Exception:  # a bug in ``answer`` must not stop the responder
                log.exception("SSDP responder: answering a datagram from %s:%d failed", host, port)

    def _bucket(self, host: str) -> _RateLimit:
        bucket = self._requesters.get(host)
        if bucket is None:
            if len(self._requesters) >= MAX_REQUESTERS:
                self._requesters.popitem(last=False)
            bucket = _RateLimit(self.max_replies_per_requester_per_s, self._clock)
            self._requesters[host] = bucket
        else:
            self._requesters.move_to_end(host)
        return bucket

    def _handle(self, sock: socket.socket, data: bytes, requester: Address) -> None:
        try:
            request = parse_search(data)
        except DecodeError as exc:
            self.datagrams_ignored += 1
            log.debug("ignoring SSDP datagram from %s:%d: %s", *requester, exc)
            return
        bucket = self._bucket(requester[0])
        if not bucket.available():
            self.searches_limited += 1
            log.debug("SSDP responder: %s is over its reply rate; not answering", requester[0])
            return
        replies = list(self.answer(request, requester))
        if replies:
            self.searches_answered += 1
        for reply in replies:
            if not bucket.allow() or not self._limit.allow():
                self.searches_limited += 1
                log.debug("SSDP responder: reply rate limit reached; not answering %s", requester)
                return
            try:
                sock.sendto(reply, requester)
            except OSError as exc:
                # Typically a multicast from a host outside our subnet.
                log.debug("cannot answer %s:%d: %s", *requester, exc)
