"""The config file: the Go ptpip tool's INI format, so its users' files work unchanged.

::

    ; This is us
    [initiator]
    friendly_name = "ptpkit on the studio laptop"
    guid = "cca455de-79ac-4b12-9731-91e433a899cf"
    ; seconds a PTP/IP camera may take to accept this computer (--pairing-timeout; ptpkit only)
    pairing_timeout = 60

    ; The camera. Instead of host and ports, ptpkit also takes url = "usb:" (or any camera URL).
    ; cmd_data_port is another name for port (the Go tool's Fuji files use it).
    [responder]
    host = "192.168.0.1"
    port = 15740
    event_port = 15740
    ; generic, or an extension to use whatever the camera says it is: canon, nikon, fuji, sony, mtp.
    ; fuji also means Fujifilm's own PTP/IP (fuji:HOST:CMD:EVENT:STREAM), with the ports
    ; cmd_data_port, event_port and stream_port (default 55740, 55741, 55742), as the Go tool's
    ; Fuji files give them.
    vendor = "generic"
    ; ptpkit only: the PyUSB backend for usb: cameras (as --usb-backend): libusb1, libusb0,
    ; openusb, or module:function returning a backend (a camera behind a network bridge)
    ; usb_backend = libusb0

    ; ptpkit serve-commands (and `ptpkit -f FILE` alone when enabled = true)
    [server]
    enabled = true
    address = "127.0.0.1"
    port = 15740

Values may be quoted; comments are whole lines starting with ``;`` or ``#`` (a value can hold
either character: "Studio #2"). Unknown sections or keys are errors (a typo must not be silently
ignored); ``stream_port`` is the Fujifilm live-view port, unused by standard PTP/IP. The file is
``-f FILE``, or ``config.ini`` in the ptpkit config folder when that exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ptpkit import PTPIP_PORT
from ptpkit.cli.errors import CliError
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.numbers import (
    MAX_PAIRING_TIMEOUT_S,
    MAX_SECONDS,
    NumberError,
    parse_port,
    parse_seconds,
)
from ptpkit.errors import UsageError
from ptpkit.identity import config_dir, parse_guid

if TYPE_CHECKING:
    import configparser

#: The Go tool's default responder host (its ``-h`` flag): a camera's own access point.
GO_DEFAULT_HOST: Final = "192.168.0.1"
#: Fujifilm's command port (ptpkit.core.fujiptpip.COMMAND_PORT; the CLI reads only the public
#: API, a test checks they agree).
FUJI_COMMAND_PORT: Final = 55740
DEFAULT_CONFIG_NAME: Final = "config.ini"

_KEYS: Final[dict[str, frozenset[str]]] = {
    "initiator": frozenset({"friendly_name", "guid", "pairing_timeout"}),
    "responder": frozenset(
        {
            "url",
            "host",
            "port",
            "cmd_data_port",
            "event_port",
            "stream_port",
            "vendor",
            "usb_backend",
        }
    ),
    "server": frozenset({"enabled", "address", "port"}),
}
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Initiator:
    friendly_name: str | None = None
    guid: str | None = None
    #: ``pairing_timeout``: seconds a PTP/IP camera may take to accept this computer.
    pairing_timeout_s: float | None = None


@dataclass(frozen=True)
class Responder:
    url: str | None = None
    host: str | None = None
    port: int | None = None
    event_port: int | None = None
    #: Fujifilm's live-view port (``stream_port``; the Go tool's Fuji files).
    stream_port: int | None = None
    vendor: str | None = None
    #: The PyUSB backend for usb: cameras, as --usb-backend names it (ptpkit's own key).
    usb_backend: str | None = None

    def camera_url(self) -> str | None:
        """The camera this section names, as a URL (None when it names none)."""
        if self.url:
            return self.url
        ports = (self.port, self.event_port, self.stream_port)
        if self.host is None and ports == (None, None, None):
            return None
        host = self.host or GO_DEFAULT_HOST
        if ":" in host:
            host = f"[{host}]"
        if self.vendor == "fuji":
            return _fuji_url(host, *ports)
        url = f"ptpip:{host}"
        if self.port is not None or self.event_port is not None:
            url += f":{self.port or PTPIP_PORT}"
        if self.event_port is not None:
            url += f":{self.event_port}"
        return url


def _fuji_url(host: str, port: int | None, event_port: int | None, stream: int | None) -> str:
    """Fujifilm's own PTP/IP (``vendor = "fuji"``, malc0mn/ptp-ip's Fuji files): each port not
    given follows the one before it, from 55740 (ptpkit.transports.fujiptpip)."""
    command = port or FUJI_COMMAND_PORT
    events = event_port or command + 1
    if stream is not None:
        return f"fuji:{host}:{command}:{events}:{stream}"
    if event_port is not None:
        return f"fuji:{host}:{command}:{events}"
    return f"fuji:{host}" if port is None else f"fuji:{host}:{command}"


@dataclass(frozen=True)
class Server:
    enabled: bool = False
    address: str | None = None
    port: int | None = None


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    initiator: Initiator = field(default_factory=Initiator)
    responder: Responder = field(default_factory=Responder)
    server: Server = field(default_factory=Server)


def default_config_path() -> Path:
    return config_dir() / DEFAULT_CONFIG_NAME


def load_config(path: Path | None) -> Config:
    """The config from ``path`` (-f: must exist), or from the default file when it exists."""
    if path is None:
        default = default_config_path()
        if not default.is_file():
            return Config()
        path = default
    # configparser (and its regular expressions) only for a file to read: start-up time of
    # every command without one (tests/cli/test_startup.py).
    import configparser  # noqa: PLC0415

    parser = configparser.ConfigParser(interpolation=None, strict=True)
    try:
        with path.open(encoding="utf-8") as file:
            parser.read_file(file)
    except OSError as exc:
        raise _error(path, exc.strerror or str(exc)) from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise _error(path, " ".join(str(exc).split())) from None
    for section in parser.sections():
        known = _KEYS.get(section)
        if known is None:
            raise _error(path, f"unknown section [{section}] (known: initiator, responder, server)")
        for key in parser[section]:
            if key not in known:
                raise _error(
                    path, f"unknown key {key!r} in [{section}] (known: {', '.join(sorted(known))})"
                )
    reader = _Reader(parser, path)
    guid = reader.text("initiator", "guid")
    if guid is not None:
        try:
            parse_guid(guid)
        except UsageError as exc:
            raise _error(path, f"[initiator] guid: {exc}") from None
    port = reader.port("responder", "port")
    data_port = reader.port("responder", "cmd_data_port")
    if port is not None and data_port is not None and port != data_port:
        raise _error(path, "[responder] has both port and cmd_data_port, and they differ")
    responder = Responder(
        url=reader.text("responder", "url"),
        host=reader.text("responder", "host"),
        port=port if port is not None else data_port,
        event_port=reader.port("responder", "event_port"),
        stream_port=reader.port("responder", "stream_port"),
        vendor=reader.vendor(),
        usb_backend=reader.text("responder", "usb_backend"),
    )
    if responder.url and (
        responder.host or responder.port or responder.event_port or responder.stream_port
    ):
        raise _error(path, "[responder] gives both url and host/ports: keep one")
    return Config(
        path=path,
        initiator=Initiator(
            friendly_name=reader.text("initiator", "friendly_name"),
            guid=guid,
            # The bound of --pairing-timeout (ptpkit.cli.main): the file and the option agree.
            pairing_timeout_s=reader.seconds(
                "initiator", "pairing_timeout", maximum=MAX_PAIRING_TIMEOUT_S
            ),
        ),
        responder=responder,
        server=Server(
            enabled=reader.flag("server", "enabled"),
            address=reader.text("server", "address"),
            port=reader.port("server", "port", allow_zero=True),
        ),
    )


def _error(path: Path, message: str) -> CliError:
    return CliError(f"config file {path}: {message}", ExitCode.CONFIG_ERROR)


class _Reader:
    def __init__(self, parser: configparser.ConfigParser, path: Path) -> None:
        self.parser = parser
        self.path = path

    def text(self, section: str, key: str) -> str | None:
        raw = self.parser.get(section, key, fallback=None)
        if raw is None:
            return None
        value = raw.strip()
        # The Go tool's files quote their values.
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        return value or None

    def port(self, section: str, key: str, *, allow_zero: bool = False) -> int | None:
        value = self.text(section, key)
        if value is None:
            return None
        try:
            return parse_port(value, allow_zero=allow_zero)
        except NumberError as exc:
            raise _error(self.path, f"[{section}] {key}: {exc}") from None

    def seconds(
        self, section: str, key: str, *, allow_zero: bool = False, maximum: float = MAX_SECONDS
    ) -> float | None:
        """A duration (``30``, ``2.5s``, ``500ms``), finite and at most 30 days, like the
        command line's (:mod:`ptpkit.cli.numbers`)."""
        value = self.text(section, key)
        if value is None:
            return None
        try:
            return parse_seconds(value, allow_minimum=allow_zero, maximum=maximum)
        except NumberError as exc:
            raise _error(self.path, f"[{section}] {key}: {exc}") from None

    def flag(self, section: str, key: str) -> bool:
        value = self.text(section, key)
        if value is None:
            return False
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise _error(self.path, f"[{section}] {key} = {value!r} is not true or false")

    def vendor(self) -> str | None:
        value = self.text("responder", "vendor")
        if value is None:
            return None
        try:
            return parse_vendor(value)
        except UsageError as exc:
            raise _error(self.path, f"[responder] vendor = {exc}") from None


def parse_vendor(value: str) -> str | None:
    """A vendor as ``--vendor`` and ``[responder] vendor`` name it: None for generic (the codes
    the camera says it speaks), else a registered extension's name."""
    from ptpkit.ext import registered  # noqa: PLC0415  (the extension registry loads on use)

    name = value.strip().lower()
    if name == "generic":
        return None
    known = sorted(extension.name for extension in registered())
    if name not in known:
        raise UsageError(f"{value!r} is unknown (known: generic, {', '.join(known)})")
    return name
