"""``ptpkit virtual serve --capacity``: the served card's size is the one asked for (default
64 GB), whatever the host's disk (issue 11, section 6)."""

from __future__ import annotations

import re
import signal

import pytest

from .conftest import Cli


def _storage(cli: Cli, *serve_args: str) -> dict[str, int]:
    server = cli.popen("virtual", "serve", "--port", "0", *serve_args)
    try:
        assert server.stdout is not None
        url = next(
            (line.split()[-1] for line in server.stdout if line.startswith("listening on ")), None
        )
        assert url is not None, server.stderr.read() if server.stderr else ""
        result = cli("--camera", url, "storage", "--json")
        assert result.code == 0, result
        [store] = result.json()
        return store  # type: ignore[no-any-return]
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=15)


@pytest.mark.parametrize(
    ("args", "capacity"),
    [((), 64 * 10**9), (("--capacity", "2G"), 2 << 30), (("--capacity", "123456789"), 123456789)],
)
def test_serve_reports_the_configured_card_size(
    cli: Cli, args: tuple[str, ...], capacity: int
) -> None:
    store = _storage(cli, *args)
    assert store["max_capacity_bytes"] == capacity
    # The sample card holds a few hundred KiB: free space is the rest of the card.
    assert capacity - 10 * 2**20 < store["free_space_bytes"] < capacity


def test_serve_refuses_a_capacity_that_is_not_a_size(cli: Cli) -> None:
    result = cli("virtual", "serve", "--port", "0", "--capacity", "lots")
    assert result.code == 2
    assert "is not a size" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_help_names_every_misbehaviour(cli: Cli) -> None:
    # The --misbehave help is written out (the command line must not import the virtual camera
    # to show it): every mode the camera knows must be in it.
    from ptpkit.virtual.misbehave import Mode

    result = cli("virtual", "serve", "--help")
    assert result.code == 0, result
    # Help text is wrapped, at hyphens too ("absurd-" / "string").
    shown = re.sub(r"-\s+", "-", " ".join(result.stdout.split()))
    missing = [mode.value for mode in Mode if mode.value not in shown]
    assert not missing, f"--misbehave help lacks {missing}"
