"""``ptpkit virtual serve --model fuji-x``: the virtual X-T2 on Fujifilm's PTP/IP variant without
being asked for it, ``--port`` moving the three ports, ``--model-option`` checked."""

from __future__ import annotations

import signal

from click.testing import CliRunner
from tests.cli.conftest import Cli

import ptpkit
from ptpkit.cli import virtual as cli_virtual


def test_serve_fuji_x_speaks_fujifilms_variant(cli: Cli) -> None:
    server = cli.popen(
        "virtual", "serve", "--model", "fuji-x", "--port", "0", "--model-option", "state=changes"
    )
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "gphoto2" in line:
                break
        url = next(line.split()[-1] for line in lines if line.startswith("listening on "))
        command, event, stream = (int(p) for p in url.split(":")[2:])
        assert url.startswith("fuji:127.0.0.1:")
        assert (event, stream) == (command + 1, command + 2)
        with ptpkit.connect(url) as cam:
            assert (cam.device_info.manufacturer, cam.device_info.model) == ("FUJIFILM", "X-T2")
            assert cam.transaction(0x1015, [0xDF24]).data == bytes.fromhex("0a000200")
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=15)


def test_a_bad_model_option_is_refused() -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli_virtual.serve, ["--model", "fuji-x", "--port", "0", "--model-option", "state=all"]
    )
    assert result.exit_code != 0
    assert "state takes full or changes" in result.output
    result = runner.invoke(cli_virtual.serve, ["--model", "generic", "--model-option", "x=1"])
    assert result.exit_code != 0
    assert "takes no options" in result.output
    result = runner.invoke(cli_virtual.serve, ["--model", "fuji-x", "--model-option", "novalue"])
    assert result.exit_code != 0
    assert "KEY=VALUE" in result.output
