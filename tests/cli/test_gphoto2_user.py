"""The command line as a gphoto2 user expects it (issue 11, section 5): negative values, listening
for a time, a timelapse until Ctrl-C, uploads that go on past a failure, one "not found" exit
code, storages by hex id, gphoto2's config names, and one JSON vocabulary."""

from __future__ import annotations

import importlib
import json
import re
import signal
import time
from pathlib import Path

import pytest

import ptpkit
from ptpkit.cli import main as cli_main
from ptpkit.cli.exitcodes import ExitCode
from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.models import personality_for
from ptpkit.virtual.network import network_server

from .conftest import Cli, Served, one_line_error
from .test_events import _wait_for
from .test_server import Client, serving

# -- set: negative values, and the value as the allowed list shows it ---------------------------


@pytest.mark.parametrize(
    ("typed", "raw"),
    [("-1", -1000), ("-1/3", -333), ("-0.3", -333), ("-0.333", -333), ("-2 1/3", -2333)],
)
def test_set_takes_negative_values_without_double_dash(
    served: Served, cli: Cli, typed: str, raw: int
) -> None:
    result = cli(*served.camera_args(), "set", "exp-bias", typed, "--json")
    assert result.code == 0, result
    assert result.json()["value"] == raw


@pytest.mark.parametrize("typed", ["0.3", "+0.3", "0.333", "+1/3", "1/3"])
def test_set_point_three_is_plus_point_three(served: Served, cli: Cli, typed: str) -> None:
    result = cli(*served.camera_args(), "set", "exp-bias", typed, "--json")
    assert result.code == 0, result
    assert (result.json()["value"], result.json()["text"]) == (333, "+0.3")


def test_set_still_refuses_unknown_options_after_the_value(served: Served, cli: Cli) -> None:
    result = cli(*served.camera_args(), "set", "iso", "400", "--bogus")
    assert result.code == ExitCode.INVALID_ARGUMENTS, result


# -- wait-event for a time; gphoto2's --wait-event forms ------------------------------------------


def test_wait_event_duration_listens_then_exits_0(served: Served, cli: Cli) -> None:
    process = cli.popen(*served.camera_args(), "wait-event", "--duration", "4s", "--json")
    _wait_for(process, "waiting for events")
    with ptpkit.connect(served.url) as cam:
        cam.set_property("iso", 800)
        cam.set_property("iso", 400)
        cam.set_property("whitebalance", "daylight")
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert [e["params"] for e in json.loads(stdout)] == [[0x500F], [0x500F], [0x5005]]


@pytest.mark.parametrize(
    "spec", [("--duration", "300ms"), ("300ms",), ("0.3s",), ("--duration", "1")]
)
def test_wait_event_time_with_nothing_happening_is_success(
    served: Served, cli: Cli, spec: tuple[str, ...]
) -> None:
    result = cli(*served.camera_args(), "wait-event", *spec, "--json")
    assert result.code == 0, result
    assert result.json() == []


def test_wait_event_plain_number_is_a_count(served: Served, cli: Cli) -> None:
    # gphoto2's --wait-event=2: two events. None come here, so --timeout ends it (109).
    result = cli(*served.camera_args(), "wait-event", "2", "--timeout", "0.3")
    assert result.code == ExitCode.TIMED_OUT, result
    assert "0 of 2 event(s)" in one_line_error(result)


@pytest.mark.parametrize("event", ["ObjectAdded", "0x4002"])
def test_wait_event_spec_as_event_name(served: Served, cli: Cli, event: str) -> None:
    process = cli.popen(*served.camera_args(), "wait-event", event, "--timeout", "20")
    _wait_for(process, "waiting for 1 event(s)")
    with ptpkit.connect(served.url) as cam:
        cam.set_property("iso", 400)  # not the one asked for
        [entry] = cam.capture()
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert stdout == f"0x4002 ObjectAdded(0x{entry.handle:08X})\n"


def test_wait_event_ctrl_c_keeps_what_came(served: Served, cli: Cli) -> None:
    process = cli.popen(*served.camera_args(), "wait-event", "--count", "5", "--json")
    _wait_for(process, "waiting for 5 event(s)")
    with ptpkit.connect(served.url) as cam:
        cam.set_property("iso", 800)
    time.sleep(1.0)  # the event reaches the command
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert [e["params"] for e in json.loads(stdout)] == [[0x500F]]


# -- capture --interval without -n: until Ctrl-C ---------------------------------------------------


def test_capture_interval_without_count_runs_until_ctrl_c(served: Served, cli: Cli) -> None:
    before = len(list(served.card.rglob("*.JPG")))
    process = cli.popen(*served.camera_args(), "capture", "--interval", "0.2", "--json")
    deadline = time.monotonic() + 30
    while len(list(served.card.rglob("*.JPG"))) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None  # still shooting after 3 pictures: no count means forever
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr  # Ctrl-C is how an endless timelapse ends
    shots = json.loads(stdout)
    assert len(shots) >= 3
    assert [s["shot"] for s in shots] == list(range(1, len(shots) + 1))
    # Nothing lost: the shot in progress at Ctrl-C is finished and reported.
    taken = len(list(served.card.rglob("*.JPG"))) - before
    assert sum(len(s["objects"]) for s in shots) == taken
    assert "capture stopped" in stderr
    assert "Traceback" not in stderr


def test_endless_capture_is_refused_over_the_command_server(served: Served, cli: Cli) -> None:
    args = ("serve-commands", "--listen", "127.0.0.1:0")
    with serving(cli, *served.camera_args(), *args) as (_process, port):
        client = Client(port)
        _lines, status = client.text("capture --interval 1")
        assert status == "ERROR 2 over serve-commands, --interval needs -n N"
        lines, status = client.text("capture --interval 0.1 -n 2")
        assert status == "OK"
        assert [line.split(":")[0] for line in lines] == ["shot 1", "shot 2"]
        client.close()


def test_capture_frames_with_interval_stops_after_n(served: Served, cli: Cli) -> None:
    result = cli(*served.camera_args(), "capture", "--frames", "2", "--interval", "0.1", "--json")
    assert result.code == 0, result
    assert [s["shot"] for s in result.json()] == [1, 2]


def test_capture_alone_takes_one_picture(served: Served, cli: Cli) -> None:
    result = cli(*served.camera_args(), "capture", "--json")
    assert result.code == 0, result
    assert len(result.json()) == 1


# -- upload goes on past a failed file -------------------------------------------------------------


def test_upload_goes_on_past_a_refused_file_and_names_it(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    files = []
    for name in ("A.TXT", "README.TXT", "C.TXT"):  # README.TXT is already in MISC
        path = tmp_path / name
        path.write_bytes(name.encode())
        files.append(str(path))
    result = cli(*served.camera_args(), "upload", *files, "--folder", "MISC", "--json")
    assert result.code == ExitCode.CAMERA_ERROR, result
    line = one_line_error(result)
    assert "1 of 3 file(s) not uploaded" in line
    assert "README.TXT" in line
    docs = result.json()
    assert [d["status"] for d in docs] == ["uploaded", "failed", "uploaded"]
    assert [Path(d["file"]).name for d in docs] == ["A.TXT", "README.TXT", "C.TXT"]
    assert docs[1]["handle"] is None
    assert "InvalidParameter" in docs[1]["reason"]
    assert (served.card / "MISC" / "A.TXT").read_bytes() == b"A.TXT"
    assert (served.card / "MISC" / "C.TXT").read_bytes() == b"C.TXT"
    assert (served.card / "MISC" / "README.TXT").read_bytes() != b"README.TXT"


# -- one "not found" ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("download", "0x7777"),
        ("download", "/store_00010001/NOPE.JPG"),
        ("rm", "0x7777"),
        ("rm", "DCIM/NOPE.JPG"),
        ("thumb", "0x7777"),
        ("thumb", "NOPE"),
        ("ls", "0x7777"),
        ("ls", "/NOPE"),
        ("ls", "/store_00020001"),
        ("describe", "nosuch"),
        ("describe", "0x5555"),
        ("get", "0x5555"),
        ("get", "/main/other/5555"),
        ("set", "0x5555", "1"),
        ("upload", "--folder", "/NOPE", "FILE"),
        ("upload", "--folder", "0x7777", "FILE"),
        ("upload", "--storage", "0x00020001", "FILE"),
        ("-g", "7777"),
    ],
)
def test_not_found_is_one_exit_code(
    served: Served, cli: Cli, tmp_path: Path, args: tuple[str, ...]
) -> None:
    local = tmp_path / "local.txt"
    local.write_text("x")
    argv = [str(local) if a == "FILE" else a for a in args]
    result = cli(*served.camera_args(), *argv)
    assert result.code == ExitCode.NOT_FOUND == ExitCode.INVALID_ARGUMENTS, result
    one_line_error(result)


# -- storages by hex id ----------------------------------------------------------------------------


@pytest.mark.parametrize("storage", ["store_00010001", "0x00010001", "00010001", "/store_00010001"])
def test_storage_by_hex_id_everywhere(
    served: Served, cli: Cli, tmp_path: Path, storage: str
) -> None:
    listed = cli(*served.camera_args(), "ls", storage, "--json")
    assert listed.code == 0, listed
    assert {e["name"] for e in listed.json()} == {"DCIM", "MISC"}
    below = cli(*served.camera_args(), "ls", f"{storage.strip('/')}/MISC", "--json")
    assert below.code == 0, below
    assert "README.TXT" in {e["name"] for e in below.json()}
    local = tmp_path / f"UP_{storage.strip('/')}.TXT"
    local.write_text("x")
    sent = cli(*served.camera_args(), "upload", str(local), "--storage", storage, "--json")
    assert sent.code == 0, sent
    assert sent.json()[0]["storage_id"] == 0x00010001


@pytest.mark.parametrize("storage", ["store_00010001", "0x00010001", "00010001"])
def test_storage_command_shows_one_storage(served: Served, cli: Cli, storage: str) -> None:
    result = cli(*served.camera_args(), "storage", storage, "--json")
    assert result.code == 0, result
    assert [doc["storage_id"] for doc in result.json()] == [0x00010001]
    missing = cli(*served.camera_args(), "storage", "0x00020001")
    assert missing.code == ExitCode.NOT_FOUND, missing
    assert "no storage 0x00020001" in one_line_error(missing)


def test_legacy_upload_takes_a_hex_storage(served: Served, cli: Cli, tmp_path: Path) -> None:
    local = tmp_path / "LEGACY.TXT"
    local.write_text("x")
    result = cli(*served.camera_args(), "-u", f"0x00010001,{local}")
    assert result.code == 0, result
    assert (served.card / "LEGACY.TXT").exists()


# -- gphoto2's config names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("imagequality", 0x5004),
        ("expprogram", 0x500E),
        ("exposurecompensation", 0x5010),
        ("exposuremetermode", 0x500B),
        ("focusmetermode", 0x501C),
        ("shutterspeed", 0x500D),
        ("capturedelay", 0x5012),
        ("effectmode", 0x5017),
        ("capturemode", 0x5013),
        ("batterylevel", 0x5001),
        ("/main/capturesettings/expprogram", 0x500E),
        ("/main/imgsettings/iso", 0x500F),
        ("/main/capturesettings/f-number", 0x5007),
        ("/main/status/batterylevel", 0x5001),
        ("/main/other/500f", 0x500F),
        ("500f", 0x500F),
    ],
)
def test_gphoto2_config_names(served: Served, cli: Cli, name: str, code: int) -> None:
    for command in ("get", "describe"):
        result = cli(*served.camera_args(), command, name, "--json")
        assert result.code == 0, result
        assert result.json()["code"] == code


def test_set_by_gphoto2_path(served: Served, cli: Cli) -> None:
    result = cli(*served.camera_args(), "set", "/main/imgsettings/iso", "800", "--json")
    assert result.code == 0, result
    assert (result.json()["code"], result.json()["value"]) == (0x500F, 800)


# -- JSON vocabulary -------------------------------------------------------------------------------


def test_json_objects_share_handle_hex_path_file(served: Served, cli: Cli, tmp_path: Path) -> None:
    args = served.camera_args()
    out = tmp_path / "out"
    listed = cli(*args, "ls", "MISC/README.TXT", "--json").json()[0]
    downloaded = cli(*args, "download", "MISC/README.TXT", "-o", str(out), "--json").json()[0]
    thumb = cli(*args, "thumb", "DCIM/100PTPKT/IMG_0001.JPG", "-o", str(out), "--json")
    assert thumb.code == 0, thumb
    [thumbnail] = thumb.json()
    local = tmp_path / "NEW.TXT"
    local.write_text("new")
    [uploaded] = cli(*args, "upload", str(local), "--json").json()
    for doc in (listed, downloaded, thumbnail, uploaded):
        assert doc["hex"] == f"0x{doc['handle']:08X}"
        assert doc["path"].startswith("/store_00010001/")
    # "file" is the local file, "status" what happened, in downloads and uploads alike.
    assert (downloaded["status"], uploaded["status"]) == ("downloaded", "uploaded")
    assert Path(downloaded["file"]).name == "README.TXT"
    assert uploaded["file"] == str(local)
    # A thumbnail's bytes are file_bytes ("size" stays, deprecated, for old scripts).
    assert thumbnail["file_bytes"] == thumbnail["size"] == Path(thumbnail["file"]).stat().st_size


def test_json_describe_has_value_and_text_as_get(served: Served, cli: Cli) -> None:
    described = cli(*served.camera_args(), "describe", "iso", "--json").json()
    got = cli(*served.camera_args(), "get", "iso", "--json").json()
    assert (described["value"], described["text"]) == (got["value"], got["text"])
    assert (described["current"], described["current_text"]) == (got["value"], got["text"])


def _json_section() -> str:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("### JSON output")
    return readme[start : readme.index("\n### ", start + 1)]


def test_readme_documents_every_json_field(served: Served, cli: Cli, tmp_path: Path) -> None:
    """Each field these commands print is named in README's JSON section."""
    args = served.camera_args()
    local = tmp_path / "DOC.TXT"
    local.write_text("doc")
    docs = [
        *cli(*args, "ls", "-R", "--json").json(),
        *cli(*args, "download", "MISC/README.TXT", "-o", str(tmp_path), "--json").json(),
        *cli(*args, "thumb", "DCIM/100PTPKT/IMG_0001.JPG", "-o", str(tmp_path), "--json").json(),
        *cli(*args, "upload", str(local), "--json").json(),
        *cli(*args, "storage", "--json").json(),
        cli(*args, "describe", "iso", "--json").json(),
        cli(*args, "get", "iso", "--json").json(),
        cli(*args, "set", "iso", "400", "--json").json(),
        *cli(*args, "capture", "--json").json(),
    ]
    section = _json_section()
    missing = sorted({key for doc in docs for key in doc if f"`{key}`" not in section})
    assert missing == [], f"README's JSON section does not name {missing}"


def _field_names(doc: object, found: set[str]) -> set[str]:
    """Every key of a JSON document, nested ones included (a capture's objects and downloads,
    a describe's range, wait-event's property)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            found.add(key)
            _field_names(value, found)
    elif isinstance(doc, list):
        for value in doc:
            _field_names(value, found)
    return found


@pytest.mark.parametrize("model", ["canon-eos", "fuji-x"])
def test_readme_documents_every_json_field_of_a_vendor_camera(
    cli: Cli, tmp_path: Path, model: str
) -> None:
    """The same rule, nested fields included, where the vendor extensions shape the answers
    (the EOS's properties and capture, the Fujifilm's state and capture preview)."""
    commands = [
        ("info",),
        ("describe", "iso"),
        ("get", "iso"),
        ("set", "iso", "400"),
        ("ls", "-R"),
        ("capture", "-n", "1", "--download", str(tmp_path / "shots")),
        ("wait-event", "--duration", "0.2s"),
    ]
    if model == "fuji-x":
        commands += [("state",), ("capture", str(tmp_path / "preview.jpg"))]
    found: set[str] = set()
    with (
        VirtualCamera(personality=personality_for(model)) as vcam,
        network_server(vcam, port=0) as server,
    ):
        for command in commands:
            result = cli("--camera", server.url, *command, "--json")
            assert result.code == 0, (command, result)
            _field_names(result.json(), found)
    assert {"objects", "downloads"} <= found  # the walk reached nested documents
    section = _json_section()
    missing = sorted(key for key in found if f"`{key}`" not in section)
    assert missing == [], f"README's JSON section does not name {missing}"


# -- README: coming from gphoto2 -------------------------------------------------------------------


def _options_of(command_name: str) -> set[str]:
    module_name, _help = cli_main.COMMANDS[command_name]
    module = importlib.import_module(module_name)
    (command,) = [c for c in module.COMMANDS if c.name == command_name]
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_readme_gphoto2_table_names_real_commands_and_options() -> None:
    """Issue 11 section 5 (README: a table "gphoto2 command -> ptpkit command"): every ptpkit
    command the table gives is a command, and every option given after it is one of its
    options, so the table cannot drift from the command line."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("| gphoto2 | ptpkit |")
    rows = readme[start : readme.index("\n\n", start)].splitlines()[2:]
    global_options = {opt for param in cli_main.cli.params for opt in param.opts}
    checked = 0
    for row in rows:
        ptpkit_cell = re.split(r"(?<!\\)\|", row)[2]
        if ptpkit_cell.strip().startswith("not yet"):
            continue  # what to do meanwhile, loosely (`-o DIR`, `--tree` of download)
        command_options: set[str] = set()  # of the last command the cell named
        for code in re.findall(r"`([^`]+)`", ptpkit_cell):
            first, *rest = code.split()
            if first.startswith("-"):  # a global option, or one of the command just named
                assert first in global_options | command_options | {"-vv", "-vvv"}, (row, code)
                continue
            if not re.fullmatch(r"[a-z][a-z-]*", first):  # PTPKIT_CAMERA, a path's `/`
                continue
            assert first in cli_main.COMMANDS, (row, code)
            options = command_options = _options_of(first)
            for word in rest:
                if word.startswith("-"):
                    assert word in options, (row, code, word)
            checked += 1
    assert checked >= 20
