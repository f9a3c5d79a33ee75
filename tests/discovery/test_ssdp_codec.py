"""The SSDP codec: golden bytes, what is accepted, and that anything else is refused cleanly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ptpkit.discovery.ssdp import (
    MAX_DATAGRAM_BYTES,
    SearchRequest,
    SearchResponse,
    build_response,
    build_search,
    parse_response,
    parse_search,
)
from ptpkit.errors import DecodeError

CANON_SEARCH = (
    b"M-SEARCH * HTTP/1.1\r\n"
    b"HOST: 239.255.255.250:1900\r\n"
    b'MAN: "ssdp:discover"\r\n'
    b"MX: 3\r\n"
    b"ST: upnp:rootdevice\r\n"
    b"\r\n"
)


def test_build_search_golden() -> None:
    assert build_search("upnp:rootdevice") == (
        b"M-SEARCH * HTTP/1.1\r\n"
        b"HOST: 239.255.255.250:1900\r\n"
        b'MAN: "ssdp:discover"\r\n'
        b"ST: upnp:rootdevice\r\n"
        b"MX: 1\r\n"
        b"\r\n"
    )


def test_unicast_search_has_no_mx() -> None:
    # UDA 1.1 §1.3.2: a unicast M-SEARCH carries no MX.
    packet = build_search("ssdp:all", host="127.0.0.1:1900", mx_s=None)
    assert b"MX" not in packet
    assert parse_search(packet) == SearchRequest(
        st="ssdp:all",
        mx=None,
        host="127.0.0.1:1900",
        headers={"host": "127.0.0.1:1900", "man": '"ssdp:discover"', "st": "ssdp:all"},
    )


def test_build_response_golden() -> None:
    assert build_response(
        st="upnp:rootdevice",
        usn="uuid:1234::upnp:rootdevice",
        location="http://192.168.1.10:8043/d.xml",
        server="Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0",
        max_age_s=900,
    ) == (
        b"HTTP/1.1 200 OK\r\n"
        b"ST: upnp:rootdevice\r\n"
        b"USN: uuid:1234::upnp:rootdevice\r\n"
        b"LOCATION: http://192.168.1.10:8043/d.xml\r\n"
        b"CACHE-CONTROL: max-age=900\r\n"
        b"SERVER: Microsoft-Windows/10.0 UPnP/1.0 UPnP-Device-Host/1.0\r\n"
        b"EXT:\r\n"
        b"\r\n"
    )


def test_parse_a_cameras_search() -> None:
    request = parse_search(CANON_SEARCH)
    assert request.st == "upnp:rootdevice"
    assert request.mx == 3
    assert request.host == "239.255.255.250:1900"


def test_parse_is_lenient_where_real_devices_are() -> None:
    # Bare LF line ends, any header case, no space after the colon, unquoted MAN, no final blank
    # line: all seen in the wild, all harmless.
    packet = b"M-SEARCH * HTTP/1.1\nhost:239.255.255.250:1900\nman:ssdp:discover\nst:ssdp:all\nmx:9"
    request = parse_search(packet)
    assert request.st == "ssdp:all"
    assert request.mx == 5  # UDA 1.1 §1.3.3: more than 5 counts as 5


def test_response_round_trip() -> None:
    packet = build_response(
        st="urn:x:service:Y:1", usn="uuid:ab::urn:x:service:Y:1", location="http://h/", server="s"
    )
    assert parse_response(packet) == SearchResponse(
        st="urn:x:service:Y:1",
        usn="uuid:ab::urn:x:service:Y:1",
        location="http://h/",
        server="s",
        max_age_s=1800,
        headers={
            "st": "urn:x:service:Y:1",
            "usn": "uuid:ab::urn:x:service:Y:1",
            "location": "http://h/",
            "cache-control": "max-age=1800",
            "server": "s",
            "ext": "",
        },
    )


def test_a_value_cannot_smuggle_a_header() -> None:
    with pytest.raises(ValueError, match="SSDP header"):
        build_response(st="a", usn="b", location="http://h/\r\nX-Evil: 1", server="s")


MALFORMED_SEARCHES = {
    "oversize": CANON_SEARCH[:-2] + b"X-Pad: " + b"a" * MAX_DATAGRAM_BYTES + b"\r\n\r\n",
    "not utf-8": CANON_SEARCH.replace(b"upnp:rootdevice", b"upnp:\xff\xfe"),
    "NUL byte": CANON_SEARCH.replace(b"MX: 3", b"MX: 3\x00"),
    "empty": b"",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "wrong method": CANON_SEARCH.replace(b"M-SEARCH", b"GET", 1),
    "lower-case method": CANON_SEARCH.replace(b"M-SEARCH", b"m-search", 1),
    "NOTIFY": b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n"
    b"NTS: ssdp:alive\r\n\r\n",
    "a response": b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n",
    "no MAN": CANON_SEARCH.replace(b'MAN: "ssdp:discover"\r\n', b""),
    "wrong MAN": CANON_SEARCH.replace(b"ssdp:discover", b"ssdp:alive"),
    "no ST": CANON_SEARCH.replace(b"ST: upnp:rootdevice\r\n", b""),
    "empty ST": CANON_SEARCH.replace(b"ST: upnp:rootdevice", b"ST: "),
    "bad MX": CANON_SEARCH.replace(b"MX: 3", b"MX: -1"),
    "non-ascii MX": CANON_SEARCH.replace(b"MX: 3", "MX: ３".encode()),
    "request target not *": CANON_SEARCH.replace(b"M-SEARCH *", b"M-SEARCH /x", 1),
    "HTTP/2": CANON_SEARCH.replace(b"HTTP/1.1", b"HTTP/2.0", 1),
    "folded header": CANON_SEARCH.replace(b"MX: 3\r\n", b"MX: 3\r\n  continued\r\n"),
    "header without colon": CANON_SEARCH.replace(b"MX: 3", b"MX 3"),
    "bad header name": CANON_SEARCH.replace(b"MX: 3", b"M X: 3"),
    "two different STs": CANON_SEARCH.replace(b"MX: 3", b"ST: ssdp:all"),
    "too many headers": CANON_SEARCH[:-2]
    + b"".join(b"X-%d: 1\r\n" % i for i in range(50))
    + b"\r\n",
    "overlong value": CANON_SEARCH.replace(b"MX: 3", b"X-Long: " + b"v" * 2000),
}


@pytest.mark.parametrize("packet", MALFORMED_SEARCHES.values(), ids=MALFORMED_SEARCHES.keys())
def test_malformed_searches_are_refused(packet: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_search(packet)


@pytest.mark.parametrize(
    "packet",
    [
        b"HTTP/1.1 404 Not Found\r\nST: a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nUSN: a\r\n\r\n",
        b"SSDP/1.0 200 OK\r\nST: a\r\n\r\n",
        CANON_SEARCH,
        b"HTTP/1.1 200 OK\r\nST: a\r\n" + b"X: " + b"y" * MAX_DATAGRAM_BYTES + b"\r\n\r\n",
    ],
)
def test_malformed_responses_are_refused(packet: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_response(packet)


@given(st.binary(max_size=MAX_DATAGRAM_BYTES + 64))
def test_any_bytes_give_a_request_or_decode_error(data: bytes) -> None:
    try:
        request = parse_search(data)
    except DecodeError:
        return
    assert request.st


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["HOST", "MAN", "ST", "MX", "USER-AGENT", "X-Y"]),
            st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=40),
        ),
        max_size=8,
    )
)
def test_any_header_mix_gives_a_request_or_decode_error(headers: list[tuple[str, str]]) -> None:
    packet = "M-SEARCH * HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    try:
        request = parse_search(packet.encode())
    except DecodeError:
        return
    assert request.st == request.headers["st"]
    assert request.headers["man"].strip('"') == "ssdp:discover"
