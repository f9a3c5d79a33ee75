"""The fuzz targets: one per parser. Each takes bytes; the parser's documented errors are allowed,
anything else escaping it is a finding, and so is a broken invariant (:class:`InvariantViolation`).

Binary parsers (datasets, USB containers, PTP/IP packets, the framings, the connection) may raise
only :class:`~ptpkit.errors.RemoteProtocolError` (DecodeError is one): the device is untrusted, and
anything else would reach the user as a traceback. Where a parser has an encoder, a decoded value
must also survive a round trip: ``decode(encode(decode(data))) == decode(data)``.

User-text parsers (``PropertySpec.parse``, ``parse_guid``, the URL parsers) may raise only their
documented usage errors; ``parse_datetime`` and ``safe_filename`` never raise at all. Text targets
turn bytes into text with :func:`as_text`, which can produce any string, lone surrogates included.
"""

from __future__ import annotations

import datetime as _dt
import functools
import pickle
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from fuzz import seeds as golden
from fuzz.conn import STATES, local_action, start
from fuzz.script import split_script
from ptpkit.client.files import MAX_NAME_BYTES, PART_SUFFIX, safe_filename
from ptpkit.codes import canon_eos_values as eos_values
from ptpkit.codes import sony_values
from ptpkit.codes.properties import STANDARD_PROPERTIES, ValueParseError
from ptpkit.core import canon_eos as eos
from ptpkit.core import canon_usb, nikon, sony
from ptpkit.core import canon_usb_requests as canon_req
from ptpkit.core import fuji_datasets as fuji_ds
from ptpkit.core import fujiptpip as fuji
from ptpkit.core.buffer import BytesLike
from ptpkit.core.connection import Connection
from ptpkit.core.datasets import (
    DeviceInfo,
    DevicePropDesc,
    FormFlag,
    ObjectInfo,
    ObjectPropList,
    OtherForm,
    StorageInfo,
    decode_uint32_array,
    decode_value,
    encode_uint32_array,
    encode_value,
)
from ptpkit.core.datatypes import DataType, format_datetime, parse_datetime
from ptpkit.core.events import NEED_DATA, Data, DataEnd, DataStart, Response
from ptpkit.core.framing import Framing
from ptpkit.core.ptpip import PtpIpFraming, pull_packet, push_packet
from ptpkit.core.state import AnyPhase, Phase, Role
from ptpkit.core.usb import (
    DeviceStatus,
    ExtendedEvent,
    UsbFraming,
    decode_cancel_request,
    decode_device_status,
    decode_extended_event,
    encode_cancel_request,
    encode_device_status,
    pull_container,
    push_container,
)
from ptpkit.errors import (
    ClosedError,
    DecodeError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    UsageError,
)
from ptpkit.identity import format_guid, parse_guid
from ptpkit.testing import coalesce
from ptpkit.transports.ptpip import parse_url as parse_ptpip_url
from ptpkit.transports.usb import parse_url as parse_usb_url

Run = Callable[[bytes], object]
Seeds = Callable[[], list[bytes]]


class InvariantViolation(Exception):
    """A target's property does not hold. ``key`` names the property (findings are grouped by
    it)."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"{key}: {detail}")
        self.key = key


def check(condition: bool, key: str, detail: str = "", *args: object) -> None:
    """Raise InvariantViolation(key) unless ``condition``. ``detail`` is a ``str.format``
    template for ``args``, filled in only on failure (a repr on every input would cost more than
    the parser)."""
    if condition:
        return
    try:
        text = detail.format(*args) if detail else key
    except ValueError:  # an int too large for repr() (sys.get_int_max_str_digits)
        text = f"{key} (the value is too large to show)"
    raise InvariantViolation(key, text)


@dataclass(frozen=True, kw_only=True)
class Target:
    name: str
    #: What is fuzzed, for the report.
    doc: str
    run: Run
    #: Exceptions the parser may raise on bad input; anything else is a finding.
    allowed: tuple[type[BaseException], ...]
    seeds: Seeds
    #: Strings worth splicing into inputs (a libFuzzer dictionary).
    tokens: tuple[bytes, ...] = ()
    max_len: int = 4096
    #: Not part of a normal run (the harness's self-test).
    selftest: bool = False


# -- datasets and whole containers/packets -------------------------------------------------------


def _check_offset(exc: DecodeError, data: BytesLike) -> None:
    check(
        exc.offset is None or 0 <= exc.offset <= len(data),
        "decode-error-offset",
        "DecodeError offset {} outside 0..{}",
        exc.offset,
        len(data),
    )


def _decoder(
    decode: Callable[[bytes], Any],
    encode: Callable[[Any], bytes] | None,
    *,
    may_refuse: bool = False,
    also: Callable[[Any, bytes], None] | None = None,
) -> Run:
    """Decode; a DecodeError must point inside the input. A decoded value must round-trip through
    the encoder. ``may_refuse``: the encoder may refuse a decoded value with LocalProtocolError
    (a PTP string of 255 units without its NUL decodes, but cannot be sent again). ``also``: more
    checks of the decoded value (and the input), run whether or not the encoder refused it."""

    def run(data: bytes) -> None:
        try:
            value = decode(data)
        except DecodeError as exc:
            _check_offset(exc, data)
            raise
        if encode is not None:
            try:
                encoded = encode(value)
            except LocalProtocolError:
                if not may_refuse:
                    raise
            else:
                again = decode(encoded)
                check(again == value, "round-trip", "{!r} came back as {!r}", value, again)
        if also is not None:
            also(value, data)

    return run


def _dataset(cls: Any, also: Callable[[Any, bytes], None] | None = None) -> Run:
    """A dataset's ``from_bytes``, round-tripped through its ``to_bytes`` (which may refuse).

    A dataset that ended early decodes with its missing trailing fields empty, and the encoder
    writes them out, so its re-encoding is longer than the input: the round trip compares
    values, not bytes. What the leniency must keep is checked apart (:func:`_check_early_end`).
    """

    def checks(value: Any, data: bytes) -> None:
        _check_early_end(cls, value, data)
        if also is not None:
            also(value, data)

    return _decoder(cls.from_bytes, cls.to_bytes, may_refuse=True, also=checks)


#: Zero bytes enough for every trailing field a dataset may leave out: a zero byte is an empty
#: string, and FormFlag None (at most four: ObjectInfo's Filename .. Keywords).
_EMPTY_TAIL: Final = bytes(8)


def _check_early_end(cls: Any, value: Any, data: bytes) -> None:
    """A dataset that ends early reads as if its missing trailing fields had been sent empty,
    and bytes after a whole dataset are ignored: so zero bytes appended change nothing. This
    fails if a dataset is accepted cut inside a field (the zeros would complete the field
    differently) or if a missing field decodes to anything but its empty value."""
    form = value.form if isinstance(value, DevicePropDesc) else None
    if isinstance(form, OtherForm) and form.flag != FormFlag.DATETIME:
        return  # a form kept raw takes every byte after its flag, the zeros too
    padded = cls.from_bytes(data + _EMPTY_TAIL)
    check(padded == value, "early-end", "{!r} read as {!r} once padded", value, padded)


def _early_ends(seeds: Seeds) -> Seeds:
    """The seeds, and each of them without its last field where that field is an empty string
    or FormFlag None (one zero byte): datasets as devices that leave trailing fields out send
    them."""

    def more() -> list[bytes]:
        base = seeds()
        return base + [seed[:-1] for seed in base if seed.endswith(b"\x00")]

    return more


def _check_object_info(info: ObjectInfo, data: bytes) -> None:
    # What the client does with an ObjectInfo: dates, and the name as a local file name.
    for when in (info.capture_datetime, info.modification_datetime):
        check(when is None or isinstance(when, _dt.datetime), "object-info-date")
    _check_safe_name(safe_filename(info.filename), info.filename)


ENCODABLE: Final = tuple(t for t in DataType if t is not DataType.UNDEF)
_BY_CODE: Final = {int(t): t for t in ENCODABLE}


def pick_datatype(data: bytes) -> tuple[DataType, bytes]:
    """The first two bytes name a datatype (its code, or an index into the encodable ones)."""
    code = int.from_bytes(data[:2], "little")
    return _BY_CODE.get(code) or ENCODABLE[code % len(ENCODABLE)], data[2:]


def _prop_value(data: bytes) -> None:
    datatype, rest = pick_datatype(data)
    _decoder(
        lambda raw: decode_value(raw, datatype),
        lambda value: encode_value(datatype, value),
        may_refuse=True,
    )(rest)


def _check_device_status(status: object, data: bytes) -> None:
    check(isinstance(status, DeviceStatus), "device-status-type")


def _check_extended_event(event: ExtendedEvent, data: bytes) -> None:
    check(sum(len(p) for p in event.params) <= len(data), "extended-event-size")


# -- streaming framings --------------------------------------------------------------------------


def _drain(decoder: Framing | Connection, budget: int, out: list[Any]) -> None:
    """next_event() until NEED_DATA; more than ``budget`` events from the bytes fed is a loop."""
    for _ in range(budget):
        event = decoder.next_event()
        if event is NEED_DATA:
            return
        if isinstance(event, Data):
            check(len(event.chunk) > 0, "empty-data-chunk", "{!r}", event)
            # Chunks may be views of the fed buffer: keep a copy, the buffer is scribbled over.
            event = Data(transaction_id=event.transaction_id, chunk=bytes(event.chunk))
        out.append(event)
    raise InvariantViolation("never-need-data", f"more than {budget} events without NEED_DATA")


def _feed_framing(
    framing: Framing, pieces: list[tuple[bytes, bool, int]], *, scribble: bool
) -> tuple[list[Any], str | None, bool]:
    """Feed pieces, draining after each (act 3 resets the framing). Returns the events, the name
    of the RemoteProtocolError that stopped decoding (or None), and whether a reset happened."""
    events: list[Any] = []
    reset = False
    fed = 0
    try:
        for data, ended, act in pieces:
            buffer = bytearray(data)
            framing.receive_data(buffer, transfer_ended=ended)
            fed += len(data)
            _drain(framing, 4 * fed + 16, events)
            if scribble:
                buffer[:] = b"\xa5" * len(buffer)  # the transport reuses its read buffer
            if act == 3:
                framing.reset()
                reset = True
    except RemoteProtocolError as exc:
        return events, type(exc).__name__, reset
    return events, None, reset


def _check_data_phases(events: list[Any], fed: int, *, usb: bool) -> None:
    streamed = sum(len(e.chunk) for e in events if isinstance(e, Data))
    check(streamed <= fed, "data-exceeds-input", "{} data bytes from {} fed", streamed, fed)
    if not usb:
        return
    # USB: between DataStart(total) and DataEnd come only Data chunks, exactly ``total`` bytes.
    total: int | None = None
    count = 0
    open_phase = False
    for event in events:
        if isinstance(event, DataStart):
            check(not open_phase, "usb-nested-data-start")
            open_phase, total, count = True, event.total_bytes, 0
        elif isinstance(event, Data):
            check(open_phase, "usb-data-outside-phase")
            count += len(event.chunk)
            check(total is None or count <= total, "usb-data-over-total", "{} > {}", count, total)
        elif isinstance(event, DataEnd):
            check(open_phase, "usb-data-end-outside-phase")
            check(total is None or count == total, "usb-data-total", "{} != {}", count, total)
            open_phase = False
        else:
            check(not open_phase, "usb-event-inside-data-phase", "{!r}", event)


def _pieces(data: bytes) -> list[tuple[bytes, bool, int]]:
    return [(p.data, p.transfer_ended, p.act) for p in split_script(data)]


def _usb_framing(data: bytes) -> None:
    pieces = _pieces(data)
    events, error, reset = _feed_framing(UsbFraming(), pieces, scribble=True)
    if not reset:
        fed = sum(len(p[0]) for p in pieces)
        _check_data_phases(events, fed, usb=True)
    # The same pieces in immutable buffers: scribbling over a fed buffer after NEED_DATA must
    # change nothing (the inbox copies what it keeps).
    again = _feed_framing(UsbFraming(), pieces, scribble=False)
    check(again == (events, error, reset), "usb-buffer-reuse", "scribbled buffer changed events")
    if error:
        raise RemoteProtocolError(error)


def _fuji_framing(data: bytes) -> None:
    """Fujifilm's variant: split invariance (TCP), buffer reuse, and whole data phases (each
    announces its total, like a USB container of known length)."""
    pieces = [(piece, False, act) for piece, _, act in _pieces(data)]
    events, error, reset = _feed_framing(fuji.FujiPtpIpFraming(), pieces, scribble=True)
    fed = sum(len(p[0]) for p in pieces)
    _check_data_phases(events, fed, usb=not reset)
    again = _feed_framing(fuji.FujiPtpIpFraming(), pieces, scribble=False)
    check(again == (events, error, reset), "fuji-buffer-reuse", "scribbled buffer changed events")
    if not reset:
        stream = b"".join(p[0] for p in pieces)
        whole, whole_error, _ = _feed_framing(
            fuji.FujiPtpIpFraming(), [(stream, False, 0)], scribble=True
        )
        check(
            (coalesce(whole), whole_error) == (coalesce(events), error),
            "fuji-split-invariance",
            "split: {!r} {}; whole: {!r} {}",
            coalesce(events),
            error,
            coalesce(whole),
            whole_error,
        )
    if error:
        raise RemoteProtocolError(error)


def _ptpip_framing(data: bytes) -> None:
    pieces = _pieces(data)
    events, error, reset = _feed_framing(PtpIpFraming(), pieces, scribble=True)
    fed = sum(len(p[0]) for p in pieces)
    _check_data_phases(events, fed, usb=False)
    if not reset:
        # TCP has no message boundaries: the same stream in one piece gives the same events.
        stream = b"".join(p[0] for p in pieces)
        whole, whole_error, _ = _feed_framing(PtpIpFraming(), [(stream, False, 0)], scribble=True)
        check(
            (coalesce(whole), whole_error) == (coalesce(events), error),
            "ptpip-split-invariance",
            "split: {!r} {}; whole: {!r} {}",
            coalesce(events),
            error,
            coalesce(whole),
            whole_error,
        )
    if error:
        raise RemoteProtocolError(error)


# -- connections ---------------------------------------------------------------------------------


class _DataTally:
    """The peer's data phase as the local end sees it: a completed phase must hold exactly the
    announced bytes (a truncated download must never look complete)."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.count = 0

    def see(self, conn: Connection, event: object, phase_before: AnyPhase) -> None:
        if isinstance(event, DataStart):
            self.total, self.count = event.total_bytes, 0
        elif isinstance(event, Data):
            self.count += len(event.chunk)
        elif isinstance(event, DataEnd) and conn.phase is Phase.DATA_DONE:
            check(
                self.total is None or self.count == self.total,
                "connection-data-total",
                "a data phase of {} bytes ended after {}",
                self.total,
                self.count,
            )
        elif isinstance(event, Response) and phase_before is not Phase.EVENT_CHANNEL:
            check(conn.request is None, "response-ends-transaction")
            check(conn.phase is Phase.IDLE, "response-to-idle", "{}", conn.phase)


def _local(conn: Connection, act: int) -> None:
    """The local end's action; a refused send must leave the connection as it was."""
    before = (conn.phase, conn.request, conn.session_id)
    try:
        local_action(conn, act)
    except (LocalProtocolError, ClosedError):
        # Multi-step actions may stop after a step that was sent; single sends must not move.
        if act in (1, 3):
            after = (conn.phase, conn.request, conn.session_id)
            check(after == before, "refused-send-changed-state", "{} -> {}", before, after)


@functools.cache
def _start_state(framing: str, role: Role, state: int) -> bytes:
    """The local connection in a start state, pickled: unpickling a copy for each input costs a
    tenth of replaying the exchanges that lead there."""
    local, _ = start(framing, role, state)
    return pickle.dumps(local)


def _connection(framing: str, role: Role) -> Run:
    def run(data: bytes) -> None:
        state = (data[0] if data else 0) % STATES
        conn: Connection = pickle.loads(_start_state(framing, role, state))  # noqa: S301 (ours)
        tally = _DataTally()
        fed = 0
        events: list[Any] = []
        for piece in split_script(data[1:]):
            buffer = bytearray(piece.data)
            try:
                conn.receive_data(buffer, transfer_ended=piece.transfer_ended)
                fed += len(buffer)
                for _ in range(4 * fed + 16):
                    phase_before = conn.phase
                    event = conn.next_event()
                    if event is NEED_DATA:
                        break
                    if isinstance(event, Data):
                        check(len(event.chunk) > 0, "empty-data-chunk")
                    tally.see(conn, event, phase_before)
                    events.append(event)
                else:
                    raise InvariantViolation("never-need-data", "next_event() loops")
            except LocalProtocolError as exc:
                # The peer's bytes are never the local end's fault.
                raise InvariantViolation("peer-bytes-local-error", str(exc)) from exc
            except ProtocolError as exc:
                check(isinstance(exc, RemoteProtocolError), "peer-error-type", "{!r}", exc)
                check(conn.phase is Phase.BROKEN, "broken-after-error", "{}", conn.phase)
                for call in (conn.next_event, lambda: conn.receive_data(b"\x00")):
                    try:
                        call()
                    except LocalProtocolError:
                        continue
                    raise InvariantViolation("broken-stays-broken", "a call succeeded") from exc
                return
            buffer[:] = b"\xa5" * len(buffer)
            streamed = sum(len(e.chunk) for e in events if isinstance(e, Data))
            check(streamed <= fed, "data-exceeds-input", "{} > {}", streamed, fed)
            _local(conn, piece.act)

    return run


# -- user text -----------------------------------------------------------------------------------


def as_text(data: bytes) -> str:
    """Any string from bytes: the first byte picks UTF-8 (undecodable bytes become lone
    surrogates), UTF-16 (lone surrogates pass) or Latin-1 for the rest."""
    if not data:
        return ""
    mode, rest = data[0] % 3, data[1:]
    if mode == 0:
        return rest.decode("utf-8", "surrogateescape")
    if mode == 1:
        return rest[: len(rest) // 2 * 2].decode("utf-16-le", "surrogatepass")
    return rest.decode("latin-1")


def _is_value(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, str)):
        return True
    return isinstance(value, tuple) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


_DATE_TIME: Final = 0x5011


def _property_parse(data: bytes) -> None:
    spec = STANDARD_PROPERTIES[data[0] % len(STANDARD_PROPERTIES)] if data else None
    if spec is None:
        return
    value = spec.parse(as_text(data[1:]))
    check(_is_value(value), "parse-value-type", "{}: {!r}", spec.name, value)
    if spec.code == _DATE_TIME and isinstance(value, str):
        # The text goes to the camera as its DateTime: it must be a PTP date-time (one ptpkit
        # itself can read back).
        check(parse_datetime(value) is not None, "datetime-value", "{!r}", value)


def _property_format(data: bytes) -> None:
    """A value from the device (any datatype) shown with each standard property's formatter:
    ``format`` must give text for whatever the camera sends."""
    if not data:
        return
    spec = STANDARD_PROPERTIES[data[0] % len(STANDARD_PROPERTIES)]
    datatype, rest = pick_datatype(data[1:])
    try:
        value = decode_value(rest, datatype)
    except DecodeError:
        return
    text = spec.format(value)
    check(isinstance(text, str), "format-type", "{}: {!r}", spec.name, text)


def _check_safe_name(result: str, name: str | None = None) -> None:
    check(isinstance(result, str), "safe-name-type")
    check("/" not in result and "\\" not in result, "safe-name-separator", "{!r}", result)
    check(result not in ("", ".", ".."), "safe-name-dots", "{!r}", result)
    bad = [ch for ch in result if unicodedata.category(ch) in ("Cc", "Cs")]
    check(not bad, "safe-name-control", "{!r} keeps {!r}", result, bad)
    size = len(result.encode("utf-8"))
    check(size <= MAX_NAME_BYTES, "safe-name-length", "{} bytes", size)
    # safe_filename leaves room for ".part" and a " (NN)" de-duplication suffix.
    check(size + len(PART_SUFFIX) + 8 <= MAX_NAME_BYTES, "safe-name-room", "{} bytes", size)
    # ... and strips what Windows would drop (trailing dots and spaces).
    check(result == result.strip().rstrip("."), "safe-name-trailing", "{!r}", result)
    if name is not None:
        check(safe_filename(name) == result, "safe-name-deterministic")


def _safe_filename(data: bytes) -> None:
    name = as_text(data)
    _check_safe_name(safe_filename(name), name)


def _parse_guid(data: bytes) -> None:
    guid = parse_guid(as_text(data))
    check(isinstance(guid, bytes) and len(guid) == 16, "guid-size", "{!r}", guid)
    check(parse_guid(format_guid(guid)) == guid, "guid-round-trip")


def _parse_datetime(data: bytes) -> None:
    when = parse_datetime(as_text(data))
    if when is None:
        return
    check(isinstance(when, _dt.datetime), "datetime-type", "{!r}", when)
    # What ptpkit writes (the virtual camera's dates, SetDevicePropValue DateTime) reads back.
    text = format_datetime(when)
    check(
        parse_datetime(text) == when.replace(microsecond=0),
        "datetime-round-trip",
        "{!r} formats as {!r}",
        when,
        text,
    )


def _ptpip_url(data: bytes) -> None:
    address = parse_ptpip_url(as_text(data))
    check(bool(address.host), "url-host")
    for port in (address.port, address.event_port):
        check(port is None or 0 < port < 65536, "url-port", "{!r}", address)


def _usb_url(data: bytes) -> None:
    selector = parse_usb_url(as_text(data))
    for number in (selector.bus, selector.address, selector.vendor_id, selector.product_id):
        check(number is None or number >= 0, "url-number", "{!r}", selector)


def _selftest_broken(data: bytes) -> None:
    """The harness's self-test: a 'parser' with a planted bug (any input starting with 0x01...)."""
    if data[:1] == b"\x01":
        raise ZeroDivisionError("planted bug")
    if data[:1] == b"\x02":
        raise RemoteProtocolError("an allowed error")


# -- Nikon wire formats --------------------------------------------------------------------------


def _nikon_live_view(data: bytes) -> None:
    try:
        frame = nikon.decode_live_view(data)
    except DecodeError as exc:
        _check_offset(exc, data)
        raise
    # The JPEG is a piece of the data after the header, starting where a JPEG starts.
    check(frame.jpeg[:3] == b"\xff\xd8\xff", "nikon-lv-soi", "{!r}", frame.jpeg[:3])
    check(data[len(frame.header) :].startswith(frame.jpeg), "nikon-lv-slice")


def _nikon_shutter_parse(data: bytes) -> None:
    value = nikon.parse_shutter(as_text(data))
    check(0 <= value <= 0xFFFFFFFF, "nikon-shutter-range", "{:#x}", value)
    text = nikon.format_shutter(value)
    check(nikon.parse_shutter(text) == value, "nikon-shutter-text", "{!r} -> {!r}", value, text)


# -- Canon PowerShot pre-PTP USB protocol --------------------------------------------------------


def _check_canon_dirents(entries: Any, data: bytes) -> None:
    # The streaming decoder and the collected one agree; names are bounded and NUL-free.
    check(tuple(canon_usb.iter_dirents(data)) == entries, "canon-usb-dirents-iter")
    # Fed in pieces (7 bytes: every entry straddles a boundary), the stream gives the same.
    stream = canon_usb.DirentStream()
    streamed: list[Any] = []
    for at in range(0, len(data), 7):
        streamed += stream.feed(data[at : at + 7])
    stream.close()
    check(tuple(streamed) == entries, "canon-usb-dirents-stream", "{!r}", streamed)
    for entry in entries:
        check(b"\x00" not in entry.name, "canon-usb-dirent-nul", "{!r}", entry.name)
        check(len(entry.name) <= canon_usb.MAX_NAME_BYTES, "canon-usb-dirent-name-bound")


def _check_canon_init_packet(packet: Any, data: bytes) -> None:
    block = canon_usb.init_write_block(packet)
    check(len(block) == canon_usb.INIT_WRITE_BYTES, "canon-usb-init-write", "{}", len(block))
    check(block[0x40:] == data[0x48:0x58], "canon-usb-init-write-copy")


def _canon_usb_thumbnail(data: bytes) -> None:
    thumb = canon_usb.extract_jpeg_thumbnail(data)
    check(thumb[:2] == b"\xff\xd8", "canon-usb-thumbnail-soi")
    check(thumb[-2:] == b"\xff\xd9", "canon-usb-thumbnail-eoi")
    check(data.find(thumb, 3) >= 3, "canon-usb-thumbnail-inside")


def _canon_usb_remote_payload(data: bytes) -> None:
    try:
        spec, word0, word1 = canon_usb.decode_remote_payload(data)
    except DecodeError as exc:
        _check_offset(exc, data)
        raise
    new = len(data) == spec.command_length - 0x10 + 1
    try:
        again = canon_usb.encode_remote_payload(spec.sub, word0, word1, new_protocol=new)
    except LocalProtocolError:
        raise InvariantViolation("round-trip", f"{data!r} decoded but cannot be encoded") from None
    decoded = canon_usb.decode_remote_payload(again)
    check(decoded == (spec, word0, word1), "round-trip", "{!r} came back as {!r}", data, decoded)


# -- the table -----------------------------------------------------------------------------------

_BINARY = (RemoteProtocolError,)
_TEXT_TOKENS = (
    b"/",
    b"\\",
    b"..",
    b"\x00",
    b"\x1f",
    b"\xed\xa0\x80",
    b"\xff",
    b" ",
    b".",
    b"0x",
    b"e999",
    b"inf",
    b"nan",
    b"1/",
    b"[",
    b"]",
    b",",
    b"-",
    b"+",
    b":",
    b"T",
    b"Z",
)


def _target(
    name: str,
    doc: str,
    run: Run,
    *,
    allowed: tuple[type[BaseException], ...] = _BINARY,
    seeds: Seeds | None = None,
    tokens: tuple[bytes, ...] = (),
    max_len: int = 4096,
    selftest: bool = False,
) -> Target:
    """A target; unless told otherwise, a binary parser (RemoteProtocolError only) whose seeds
    are the function of the same name in :mod:`fuzz.seeds`."""
    return Target(
        name=name,
        doc=doc,
        run=run,
        allowed=allowed,
        seeds=seeds if seeds is not None else getattr(golden, name),
        tokens=tokens,
        max_len=max_len,
        selftest=selftest,
    )


def _connection_target(framing: str, role: Role, doc: str) -> Target:
    return _target(
        f"connection_{framing}_{role.value}",
        doc,
        _connection(framing, role),
        seeds=functools.partial(golden.connection, framing, role),
    )


# -- Canon EOS wire formats ----------------------------------------------------------------------


def _check_eos_records(records: tuple[eos.EosRecord, ...], data: bytes) -> None:
    # Each record takes at least its 8-byte header; every typed view reads without raising.
    check(len(records) <= len(data) // 8, "eos-record-count", "{} records", len(records))
    for record in records:
        if isinstance(record, (eos.PropValueChanged, eos.AvailListChanged)):
            values = [record.value] if isinstance(record, eos.PropValueChanged) else record.allowed
            for value in values:
                if isinstance(value, int) and eos_values.has_table(record.prop):
                    eos_values.format_value(record.prop, value)
                elif isinstance(value, eos.ImageFormat):
                    eos_values.format_image_format(value.entries)


def _check_folder_entries(entries: tuple[eos.FolderEntry, ...], data: bytes) -> None:
    check(len(entries) <= len(data) // 56, "eos-entry-count", "{} entries", len(entries))
    for entry in entries:
        _check_safe_name(safe_filename(entry.name), entry.name)
    # The listing the client walks (entry by entry, handles alone) agrees with the whole decode.
    listing = eos.decode_folder_listing(data)
    handles = [listing.handle(i) for i in range(len(listing))]
    check(handles == [e.handle for e in entries], "eos-listing-handles", "{}", handles)


def _check_sony_live_view(frame: sony.LiveViewFrame, data: bytes) -> None:
    check(frame.jpeg[:2] == b"\xff\xd8", "sony-jpeg-start", "{!r}", frame.jpeg[:4])
    check(frame.jpeg in data, "sony-jpeg-inside", "the JPEG is not a slice of the data")


def _eos_prop_value(data: bytes) -> None:
    """decode_prop_value never raises; a decoded value re-encodes to bytes that decode the same."""
    props = golden._EOS_PROPS
    prop = props[data[0] % len(props)] if data and data[0] < 0xF0 else 0xD1FF
    value = eos.decode_prop_value(prop, data[1:])
    again = eos.decode_prop_value(prop, eos.encode_prop_value(prop, value))
    check(again == value, "round-trip", "{!r} came back as {!r}", value, again)


#: Record types, list type 3 and the ImageFormat property code, as they appear on the wire.
_EOS_TOKENS: Final = tuple(
    code.to_bytes(4, "little") for code in (0xC189, 0xC18A, 0xC181, 0xC1A7, 0xC186, 3, 0xD120)
)
_EOS_TEXT_PROPS: Final = (*sorted(eos_values.TABLES), eos_values.IMAGE_FORMAT_PROP)


def _eos_value_parse(data: bytes) -> None:
    """parse_value / parse_image_format raise only ValueError; what parses formats back to a
    text that parses to the same code."""
    prop = _EOS_TEXT_PROPS[data[0] % len(_EOS_TEXT_PROPS)] if data else 0xD101
    text = as_text(data[1:])
    if prop == eos_values.IMAGE_FORMAT_PROP:
        entries = eos.ImageFormat.of(eos_values.parse_image_format(text)).entries
        back = eos_values.parse_image_format(eos_values.format_image_format(entries))
        check(eos.ImageFormat.of(back).entries == entries, "eos-image-format-text")
        return
    code = eos_values.parse_value(prop, text)
    shown = eos_values.format_value(prop, code)
    check(eos_values.parse_value(prop, shown, allowed=[code]) == code, "eos-value-text", shown)


_SONY_TEXT_PROPS: Final = (
    sony_values.SHUTTER_SPEED,
    sony_values.ISO,
    sony_values.F_NUMBER,
    sony_values.EXPOSURE_COMPENSATION,
    sony_values.SAVE_DESTINATION,
    sony_values.FOCUS_MODE,
    sony_values.WHITE_BALANCE,
)


def _sony_value_parse(data: bytes) -> None:
    """codes.sony_values.parse_value raises only ValueError; a value it gives formats to a text
    that parses back to the same value (ints within u32)."""
    prop = _SONY_TEXT_PROPS[data[0] % len(_SONY_TEXT_PROPS)] if data else sony_values.ISO
    value = sony_values.parse_value(prop, as_text(data[1:]))
    check(value is not None, "sony-value-none")
    assert value is not None
    if not 0 <= value <= 0xFFFFFFFF or (prop == sony_values.EXPOSURE_COMPENSATION):
        return  # outside what the camera's types hold: nothing to show
    shown = sony_values.format_value(prop, value)
    check(shown is not None, "sony-value-format")
    assert shown is not None
    if shown.startswith("0x") or shown in ("Bulb",):
        return
    again = sony_values.parse_value(prop, shown, [value])
    check(again == value, "sony-value-text", "{!r} -> {!r} -> {!r}", value, shown, again)


_ALL: Final = [
    # What the device sends: datasets, containers, packets, the framings, the connection.
    _target(
        "device_info",
        "DeviceInfo.from_bytes (+ round trip, early end)",
        _dataset(DeviceInfo),
        seeds=_early_ends(golden.device_info),
    ),
    _target(
        "storage_info",
        "StorageInfo.from_bytes (+ round trip, early end)",
        _dataset(StorageInfo),
        seeds=_early_ends(golden.storage_info),
    ),
    _target(
        "object_info",
        "ObjectInfo.from_bytes (+ round trip, early end, dates, safe_filename of its name)",
        _dataset(ObjectInfo, also=_check_object_info),
        seeds=_early_ends(golden.object_info),
    ),
    _target(
        "device_prop_desc",
        "DevicePropDesc.from_bytes (+ round trip, early end)",
        _dataset(DevicePropDesc),
        seeds=_early_ends(golden.device_prop_desc),
    ),
    _target(
        "object_prop_list",
        "ObjectPropList.from_bytes (MTP, + round trip, extra bytes ignored)",
        _dataset(ObjectPropList),
    ),
    _target("prop_value", "decode_value for every datatype (+ round trip)", _prop_value),
    _target(
        "uint32_array",
        "decode_uint32_array (handle and storage id lists, + round trip)",
        _decoder(decode_uint32_array, encode_uint32_array),
    ),
    _target(
        "usb_container",
        "usb.pull_container (+ round trip)",
        _decoder(pull_container, push_container),
    ),
    _target(
        "usb_framing", "UsbFraming decoder: random splits and transfer ends, resets", _usb_framing
    ),
    _target(
        "usb_device_status",
        "usb.decode_device_status (+ round trip)",
        _decoder(decode_device_status, encode_device_status, also=_check_device_status),
    ),
    _target(
        "usb_extended_event",
        "usb.decode_extended_event",
        _decoder(decode_extended_event, None, also=_check_extended_event),
    ),
    _target(
        "usb_cancel_request",
        "usb.decode_cancel_request (+ round trip)",
        _decoder(decode_cancel_request, encode_cancel_request),
    ),
    _target(
        "ptpip_packet",
        "ptpip.pull_packet, all 14 packet types (+ round trip)",
        _decoder(pull_packet, push_packet),
    ),
    _target(
        "ptpip_framing", "PtpIpFraming decoder: random splits (= one piece), resets", _ptpip_framing
    ),
    _target(
        "fujiptpip_packet",
        "fujiptpip.pull_link_packet: Fujifilm handshake packets (+ round trip)",
        _decoder(fuji.pull_link_packet, fuji.push_link_packet, may_refuse=True),
    ),
    _target(
        "fujiptpip_framing",
        "FujiPtpIpFraming decoder: random splits (= one piece), buffer reuse, resets",
        _fuji_framing,
    ),
    _connection_target(
        "fujiptpip",
        Role.INITIATOR,
        "Connection(INITIATOR, FujiPtpIpFraming): a hostile Fujifilm camera",
    ),
    _connection_target(
        "fujiptpip",
        Role.RESPONDER,
        "Connection(RESPONDER, FujiPtpIpFraming): a hostile initiator of the variant",
    ),
    _connection_target(
        "usb", Role.INITIATOR, "Connection(INITIATOR, UsbFraming): a hostile device"
    ),
    _connection_target("usb", Role.RESPONDER, "Connection(RESPONDER, UsbFraming): a hostile host"),
    _connection_target(
        "ptpip",
        Role.INITIATOR,
        "Connection(INITIATOR, PtpIpFraming) after the handshake: a hostile camera",
    ),
    _connection_target(
        "ptpip",
        Role.RESPONDER,
        "Connection(RESPONDER, PtpIpFraming) after the handshake: a hostile initiator",
    ),
    # What the user types, and what is made of device text.
    _target(
        "property_parse",
        "PropertySpec.parse over every standard spec (ValueParseError only)",
        _property_parse,
        allowed=(ValueParseError,),
        tokens=(*_TEXT_TOKENS, b"f/", b"mm", b"ms", b"s", b"now", b"1e", b"EV", b" 1/3"),
        max_len=256,
    ),
    _target(
        "property_format",
        "PropertySpec.format of any device value, every standard spec (never raises)",
        _property_format,
        allowed=(),
    ),
    _target(
        "safe_filename",
        "client.files.safe_filename: one safe component, deterministic (never raises)",
        _safe_filename,
        allowed=(),
        tokens=_TEXT_TOKENS,
        max_len=1200,
    ),
    _target(
        "parse_guid",
        "identity.parse_guid (UsageError only, + round trip)",
        _parse_guid,
        allowed=(UsageError,),
        tokens=(*_TEXT_TOKENS, b"{", b"}", b"-", b"0123456789abcdef"),
        max_len=256,
    ),
    _target(
        "parse_datetime",
        "datatypes.parse_datetime (never raises, + round trip via format_datetime)",
        _parse_datetime,
        allowed=(),
        tokens=(*_TEXT_TOKENS, b"20240131", b"T235959", b".5", b"+0100", b"-05:30"),
        max_len=256,
    ),
    _target(
        "ptpip_url",
        "transports.ptpip.parse_url (UsageError only)",
        _ptpip_url,
        allowed=(UsageError,),
        tokens=(*_TEXT_TOKENS, b"ptpip:", b"//", b"[::1]", b":15740"),
        max_len=256,
    ),
    _target(
        "usb_url",
        "transports.usb.parse_url (UsageError only)",
        _usb_url,
        allowed=(UsageError,),
        tokens=(*_TEXT_TOKENS, b"usb:", b"serial=", b"04a9:32b4", b"001,004"),
        max_len=256,
    ),
    _target(
        "eos_get_event",
        "canon_eos.decode_get_event: EOS GetEvent records (+ round trip, typed views)",
        _decoder(eos.decode_get_event, eos.encode_get_event, also=_check_eos_records),
        tokens=_EOS_TOKENS,
    ),
    _target(
        "eos_prop_value",
        "canon_eos.decode_prop_value (never raises, + round trip)",
        _eos_prop_value,
        allowed=(),
    ),
    _target(
        "eos_set_prop_value_ex",
        "canon_eos.decode_set_prop_value_ex (+ round trip)",
        _decoder(eos.decode_set_prop_value_ex, eos.encode_set_prop_value_ex),
    ),
    _target(
        "eos_object_info_ex",
        "canon_eos.decode_object_info_ex: GetObjectInfoEx entries (+ round trip, safe names)",
        _decoder(
            eos.decode_object_info_ex,
            eos.encode_object_info_ex,
            may_refuse=True,
            also=_check_folder_entries,
        ),
    ),
    _target(
        "eos_viewfinder_data",
        "canon_eos.decode_viewfinder_data: GetViewFinderData blobs (+ round trip)",
        _decoder(eos.decode_viewfinder_data, eos.encode_viewfinder_data),
    ),
    _target(
        "fuji_state_list",
        "fuji_datasets.decode_state_list: Fujifilm 0xD212 change list (+ round trip)",
        _decoder(fuji_ds.decode_state_list, fuji_ds.encode_state_list),
    ),
    _target(
        "fuji_prop_desc_list",
        "fuji_datasets.decode_prop_desc_list: Fujifilm 0x902B descriptions (+ round trip)",
        _decoder(fuji_ds.decode_prop_desc_list, fuji_ds.encode_prop_desc_list, may_refuse=True),
    ),
    _target(
        "nikon_get_event",
        "nikon.decode_get_event: Nikon GetEvent 0x90C7 records (+ round trip)",
        _decoder(nikon.decode_get_event, nikon.encode_get_event),
    ),
    _target(
        "nikon_get_event_ex",
        "nikon.decode_get_event_ex: Nikon GetEventEx 0x941C records (+ round trip)",
        _decoder(nikon.decode_get_event_ex, nikon.encode_get_event_ex),
    ),
    _target(
        "nikon_live_view",
        "nikon.decode_live_view: Nikon GetLiveViewImg header + JPEG",
        _nikon_live_view,
    ),
    _target(
        "nikon_shutter_parse",
        "nikon.parse_shutter / format_shutter: Nikon 0xD100 shutter text (ValueError only)",
        _nikon_shutter_parse,
        allowed=(ValueError,),
        tokens=(*_TEXT_TOKENS, b"s", b"bulb", b"time", b"flash sync", b'"', b"."),
        max_len=64,
    ),
    _target(
        "canon_usb_command",
        "canon_usb.decode_command: PowerShot command block, responder side (+ round trip)",
        _decoder(canon_usb.decode_command, canon_usb.encode_command),
    ),
    _target(
        "canon_usb_reply",
        "canon_usb.decode_reply: PowerShot fixed reply with status (+ round trip)",
        _decoder(canon_usb.decode_reply, canon_usb.encode_reply),
    ),
    _target(
        "canon_usb_dirents",
        "canon_usb.iter_dirents/decode_dirents: PowerShot directory entries (+ round trip)",
        _decoder(canon_usb.decode_dirents, canon_usb.encode_dirents, also=_check_canon_dirents),
        tokens=(b"\x00" * 11, b"\x80\x00", b"\x20\x00", b"..\x00", b"D:\\DCIM\\", b".\\"),
        max_len=8192,
    ),
    _target(
        "canon_usb_interrupt",
        "canon_usb.decode_interrupt: PowerShot interrupt messages (+ round trip)",
        _decoder(canon_usb.decode_interrupt, canon_usb.encode_interrupt),
        max_len=64,
    ),
    _target(
        "canon_usb_thumbnail",
        "canon_usb.extract_jpeg_thumbnail: the JPEG inside a PowerShot picture's head or .THM",
        _canon_usb_thumbnail,
        tokens=(b"\xff\xd8", b"\xff\xd9", b"\xff\xdb", b"\xff\xc4", b"\xff\xe1", b"Exif\x00\x00"),
        max_len=4096,
    ),
    _target(
        "canon_usb_init_packet",
        "canon_usb.decode_init_packet: PowerShot wake-up packet and the 0x11 write (+ round trip)",
        _decoder(
            canon_usb.decode_init_packet,
            canon_usb.encode_init_packet,
            also=_check_canon_init_packet,
        ),
        max_len=128,
    ),
    _target(
        "canon_usb_remote_payload",
        "canon_usb.decode_remote_payload: PowerShot RemoteControl payloads (+ round trip)",
        _canon_usb_remote_payload,
        max_len=128,
    ),
    _target(
        "canon_usb_get_file_request",
        "canon_usb_requests.decode_get_file_request: PowerShot GetFile payload (+ round trip)",
        _decoder(canon_req.decode_get_file_request, canon_req.encode_get_file_request),
        tokens=(b"D:\\", b"\\", b"\x00", b"\x01\x00\x00\x00", b"\x00\x14\x00\x00"),
        max_len=256,
    ),
    _target(
        "canon_usb_get_file_request_new",
        "canon_usb_requests.decode_get_file_request(new_protocol): class 6 GetFile (+ round trip)",
        _decoder(
            lambda data: canon_req.decode_get_file_request(data, new_protocol=True),
            canon_req.encode_get_file_request,
        ),
        tokens=(b"D:\\", b"\\", b"\x00", b"\x01\x00\x00\x00"),
        max_len=256,
    ),
    _target(
        "canon_usb_dirents_request",
        "canon_usb_requests.decode_dirents_request: PowerShot GetDirEntries payload (+ round trip)",
        _decoder(canon_req.decode_dirents_request, canon_req.encode_dirents_request),
        tokens=(b"D:\\", b"\\", b"\x00", b"\x0f"),
        max_len=256,
    ),
    _target(
        "canon_usb_path",
        "canon_usb_requests.decode_path: PowerShot path / owner payloads (+ round trip)",
        _decoder(canon_req.decode_path, canon_req.encode_path),
        tokens=(b"D:\\", b"\\", b"\x00"),
        max_len=256,
    ),
    _target(
        "canon_usb_delete_request",
        "canon_usb_requests.decode_delete_request: PowerShot DeleteFile payload (+ round trip)",
        _decoder(canon_req.decode_delete_request, canon_req.encode_delete_request),
        tokens=(b"D:\\", b"\\", b"\x00", b".JPG"),
        max_len=256,
    ),
    _target(
        "canon_usb_delete2_request",
        "canon_usb_requests.decode_delete2_request: class 6 DeleteFile2 payload (+ round trip)",
        _decoder(canon_req.decode_delete2_request, canon_req.encode_delete2_request),
        tokens=(b"D:\\DCIM\\", b"\\", b"\x00" * 8, b".JPG"),
        max_len=256,
    ),
    _target(
        "canon_usb_attributes_request",
        "canon_usb_requests.decode_attributes_request: SetFileAttributes payload (+ round trip)",
        _decoder(canon_req.decode_attributes_request, canon_req.encode_attributes_request),
        tokens=(b"D:\\", b"\\", b"\x00", b"\x20\x00\x00\x00"),
        max_len=256,
    ),
    _target(
        "canon_usb_file_time_request",
        "canon_usb_requests.decode_file_time_request: SetFileTime payload (+ round trip)",
        _decoder(canon_req.decode_file_time_request, canon_req.encode_file_time_request),
        tokens=(b"D:\\", b"\\", b"\x00"),
        max_len=256,
    ),
    _target(
        "canon_usb_upload_block",
        "canon_usb_requests.decode_upload_block: PowerShot upload block (+ round trip)",
        _decoder(canon_req.decode_upload_block, canon_req.encode_upload_block),
        tokens=(b"\x03\x04", b"\x02", b"\x11", b"D:\\", b"\x00"),
        max_len=512,
    ),
    _target(
        "canon_usb_retrieve_request",
        "canon_usb_requests.decode_retrieve_request: RetrieveCapture payload (+ round trip)",
        _decoder(canon_req.decode_retrieve_request, canon_req.encode_retrieve_request),
        max_len=64,
    ),
    _target(
        "sony_ext_device_info",
        "sony.decode_ext_device_info: Sony 0x9202 code arrays (+ round trip)",
        _decoder(sony.decode_ext_device_info, sony.encode_ext_device_info),
    ),
    _target(
        "sony_all_prop_info",
        "sony.decode_all_prop_info: Sony 0x9209 descriptors (+ round trip)",
        _decoder(sony.decode_all_prop_info, sony.encode_all_prop_info, may_refuse=True),
    ),
    _target(
        "sony_live_view",
        "sony.decode_live_view: the 0xFFFFC002 header or a scan for FF D8",
        _decoder(sony.decode_live_view, None, also=_check_sony_live_view),
    ),
    _target(
        "sony_wifi_block",
        "sony.decode_wifi_block: Sony 0x9280 data (+ round trip)",
        _decoder(sony.decode_wifi_block, sony.encode_wifi_block),
    ),
    _target(
        "eos_value_parse",
        "codes.canon_eos_values parse/format of EOS value text (ValueError only)",
        _eos_value_parse,
        allowed=(ValueError,),
        tokens=(*_TEXT_TOKENS, b"f/", b"s", b"ISO", b"RAW", b" JPEG", b"Fine", b" + "),
        max_len=256,
    ),
    _target(
        "sony_value_parse",
        "codes.sony_values parse/format of Sony value text (ValueError only)",
        _sony_value_parse,
        allowed=(ValueError,),
        tokens=(*_TEXT_TOKENS, b"f/", b"1/", b'"', b"auto", b"+", b"-", b" 1/3", b"shade"),
        max_len=256,
    ),
    _target(
        "selftest_broken",
        "the harness's self-test: a planted bug (input starting with 0x01)",
        _selftest_broken,
        seeds=lambda: [b"\x00", b"\x02abc", b"\x03"],
        selftest=True,
    ),
]

#: Every target by name (the self-test one included; :func:`default_targets` leaves it out).
TARGETS: Final[dict[str, Target]] = {target.name: target for target in _ALL}


def default_targets() -> list[Target]:
    return [target for target in _ALL if not target.selftest]
