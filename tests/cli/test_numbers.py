"""Every number the command line and the config file take goes through one validated reading:
``inf``, ``nan``, ``1e300`` and negative values are refused with one line and exit 2 (102 for
the config file), never a traceback (issue 11: ``--timeout inf``, ``--interval 1e300``)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from ptpkit.cli import main as cli_main
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.numbers import (
    MAX_SECONDS,
    Count,
    NumberError,
    Seconds,
    parse_count,
    parse_port,
    parse_seconds,
)

from .conftest import Cli, Served, one_line_error

VALIDATED = (Seconds, Count)
ABSURD = ["inf", "-inf", "nan", "NaN", "1e300", "-1", "1e999", "infinity", "", "10 s s"]


@pytest.mark.parametrize("text", ABSURD)
def test_parse_seconds_refuses(text: str) -> None:
    with pytest.raises(NumberError):
        parse_seconds(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10", 10.0),
        ("10s", 10.0),
        ("2.5", 2.5),
        ("500ms", 0.5),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("0", 0.0),
        (".5", 0.5),
        ("1e2", 100.0),
    ],
)
def test_parse_seconds_reads_gphoto2_forms(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


def test_parse_seconds_bounds() -> None:
    assert parse_seconds(f"{MAX_SECONDS:g}") == MAX_SECONDS
    with pytest.raises(NumberError, match="too long"):
        parse_seconds(str(MAX_SECONDS + 1))
    with pytest.raises(NumberError, match="too short"):
        parse_seconds("0", allow_minimum=False)


@pytest.mark.parametrize("text", ["1e3", "nan", "inf", "-1", "1.5", "9" * 4000, "0x10", ""])
def test_parse_count_refuses(text: str) -> None:
    with pytest.raises(NumberError):
        parse_count(text, minimum=0)


@pytest.mark.parametrize("text", ["0", "65536", "-1", "nan", "15740.0"])
def test_parse_port_refuses(text: str) -> None:
    with pytest.raises(NumberError):
        parse_port(text)


def _all_params() -> list[tuple[str, click.Parameter]]:
    cli_main._register_commands()
    found: list[tuple[str, click.Parameter]] = []

    def walk(command: click.Command, path: str) -> None:
        found.extend((f"{path} {p.name}", p) for p in command.params)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}")

    walk(cli_main.cli, "ptpkit")
    return found


def test_every_numeric_option_is_validated() -> None:
    """The class, not the examples: no option reads numbers with click's bare FLOAT/INT (which
    take inf/nan or have no bound) or IntRange (int() takes "1_900" and any script's digits);
    durations are Seconds, counts Count, ports Port (a Count)."""
    numeric = [
        (where, p)
        for where, p in _all_params()
        if not getattr(p, "count", False)  # -v -v: a counted flag, no number typed
        if isinstance(
            p.type, (click.types.FloatParamType, click.types.IntParamType, Seconds, Count)
        )
    ]
    assert len(numeric) >= 10  # the walk found the options
    for where, param in numeric:
        kind = param.type
        assert isinstance(kind, VALIDATED), f"{where}: {kind!r} is not read by cli.numbers"


OPTIONS = [
    ("--timeout", "{}", "info"),
    ("wait-event", "--timeout", "{}"),
    ("wait-event", "--duration", "{}"),
    ("wait-event", "--count", "{}"),
    ("wait-event", "{}"),
    ("capture", "--interval", "{}"),
    ("capture", "-n", "{}"),
    ("tether", "--download", "out", "--count", "{}"),
    ("opreq", "0x1001", "--dump-bytes", "{}"),
    ("serve-commands", "--max-wait", "{}"),
]


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-1"])
@pytest.mark.parametrize("args", OPTIONS, ids=" ".join)
def test_absurd_numbers_are_refused_with_one_line(
    served: Served, cli: Cli, args: tuple[str, ...], value: str
) -> None:
    argv = [a.format(value) for a in args]
    if value == "-1" and args == ("wait-event", "{}"):
        argv = ["wait-event", "--", "-1"]  # an option otherwise
    result = cli(*served.camera_args(), *argv)
    assert result.code == ExitCode.INVALID_ARGUMENTS, result
    line = one_line_error(result)
    # ("wait-event inf": not a time or count, so an event name the camera does not have.)
    assert any(text in line for text in ("Invalid value", "is not", "neither")), line


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-1", "99999999999999999999T"])
def test_virtual_large_object_sizes_are_validated(cli: Cli, value: str) -> None:
    result = cli("virtual", "serve", "--large-object", f"{value}G", "--port", "0")
    assert result.code == ExitCode.INVALID_ARGUMENTS, result
    one_line_error(result)


@pytest.mark.parametrize(
    ("ini", "expected"),
    [
        ("[responder]\nport = nan\n", "not a whole number"),
        ("[responder]\nport = inf\n", "not a whole number"),
        ("[responder]\nport = 1e3\n", "not a whole number"),
        ("[responder]\nevent_port = 99999999999999999999999\n", "out of range"),
        ("[server]\nport = -1\n", "not a whole number"),
        # As --pairing-timeout: at most a day (old code: 30 days here, one on the command line).
        ("[initiator]\npairing_timeout = 100000\n", "too long"),
    ],
)
def test_config_numbers_are_validated(cli: Cli, tmp_path: Path, ini: str, expected: str) -> None:
    path = tmp_path / "bad.ini"
    path.write_text(ini)
    result = cli("-f", str(path), "info")
    assert result.code == ExitCode.CONFIG_ERROR, result
    assert expected in one_line_error(result)


@pytest.mark.parametrize("text", ["1e-400", "1e-323ms", "0.1e-330"])
def test_a_duration_that_underflows_to_zero_is_refused(text: str) -> None:
    """Old code: read as 0, which --idle-timeout takes as "never": the opposite of what was
    typed. A written zero stays zero."""
    with pytest.raises(NumberError, match="too short"):
        parse_seconds(text)
    assert parse_seconds("0e-400") == 0.0
    assert parse_seconds("0.000") == 0.0
