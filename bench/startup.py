"""Start-up: how long a ``ptpkit`` command takes before (and while) it does a small thing, against
gphoto2 (issue 11 §5: target within 2x of gphoto2's).

- ``ptpkit --help`` against ``gphoto2 --version`` (no camera);
- ``ptpkit --camera ptpip:... get iso`` against ``gphoto2 --port ptpip:... --get-config iso``
  (the same work: connect, open a session, read one property) on a running virtual camera;
- ``python -c pass`` as the floor any Python command starts from.

Every command runs whole (process start to exit), alternated round by round.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.harness import Contender, Samples, compare, header, note, rounds, table
from bench.ptpip import _served, command_env, ptpkit_command

#: Within this factor of gphoto2's time (issue 11 §5).
TARGET_RATIO = 2.0


def _command(argv: list[str], env: dict[str, str], expect: str = "") -> Callable[[], None]:
    def run() -> None:
        result = subprocess.run(argv, env=env, check=True, capture_output=True, text=True)
        if expect and expect not in result.stdout:
            raise RuntimeError(f"{argv}: {expect!r} not in {result.stdout[-300:]!r}")

    return run


def _verdict(label: str, ours: Samples | None, theirs: Samples | None) -> None:
    if ours is None or theirs is None:
        return
    ratio = ours.median / theirs.median
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    note(
        f"{label}: {ratio:.1f}x gphoto2's time (median {ours.median * 1e3:.0f} ms against "
        f"{theirs.median * 1e3:.0f} ms); target within {TARGET_RATIO:g}x: {verdict}"
    )


def _compile_ptpkit() -> None:
    """Untimed: write ptpkit's bytecode caches, as ``pip install`` does (an editable install
    writes them on first use), so that no contender's first round pays for compiling."""
    import compileall  # noqa: PLC0415
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("ptpkit")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            compileall.compile_dir(location, quiet=1)


def run() -> None:
    count = rounds(10)
    header("command start-up (process start to exit)", count)
    _compile_ptpkit()
    note("ptpkit's bytecode compiled beforehand (untimed), as an installed package has it")
    with tempfile.TemporaryDirectory(prefix="ptpkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = command_env(tmp)
        # As a user runs it: the config folder found through platformdirs (in the private HOME),
        # not the PTPKIT_CONFIG_DIR override, which skips loading platformdirs.
        del env["PTPKIT_CONFIG_DIR"]
        env["XDG_CONFIG_HOME"] = str(tmp / "home" / ".config")
        card = tmp / "card"
        card.mkdir()
        ptpkit = ptpkit_command()
        gphoto2 = shutil.which("gphoto2")
        with _served(card) as server:
            contenders = [
                Contender(
                    "python -c pass (the floor)", _command([sys.executable, "-c", "pass"], env)
                ),
                Contender("ptpkit --help", _command([*ptpkit, "--help"], env, "Usage")),
                Contender(
                    "ptpkit --camera ptpip:... get iso",
                    _command([*ptpkit, "--camera", server.url, "get", "iso"], env),
                ),
            ]
            if gphoto2:
                contenders += [
                    Contender("gphoto2 --version", _command([gphoto2, "--version"], env)),
                    Contender(
                        "gphoto2 --port ptpip:... --get-config iso",
                        _command(
                            [gphoto2, "--port", server.url, "--get-config", "iso"], env, "Current"
                        ),
                    ),
                ]
            results = compare(contenders, count)
    version = results.get("gphoto2 --version")
    get_config = results.get("gphoto2 --port ptpip:... --get-config iso")
    table(
        "time per command",
        list(results.values()),
        versus=[("gp2 --version", version), ("gp2 get-config", get_config)],
    )
    note("'vs' columns: gphoto2's median time / this row's (1x: as fast; 0.5x: twice as slow)")
    floor = results["python -c pass (the floor)"]
    if version is not None:
        note(
            f"the Python interpreter alone takes {floor.median / version.median:.1f}x "
            "gphoto2 --version's time: the fair yardstick is --get-config, the same work"
        )
    _verdict("ptpkit --help against gphoto2 --version", results["ptpkit --help"], version)
    _verdict(
        "ptpkit get iso against gphoto2 --version",
        results["ptpkit --camera ptpip:... get iso"],
        version,
    )
    _verdict(
        "ptpkit get iso against gphoto2 --get-config iso (the same work)",
        results["ptpkit --camera ptpip:... get iso"],
        get_config,
    )
