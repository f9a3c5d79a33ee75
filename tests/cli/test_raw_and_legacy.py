"""opreq (raw transactions with hex dumps), -v/-vv/-vvv, and miniPtp's flags."""

from __future__ import annotations

import io
import os
import re
import struct
import threading
from pathlib import Path

import pytest

import ptpkit
from ptpkit.core.datasets import DevicePropDesc, EnumerationForm, ObjectInfo
from ptpkit.errors import UsageError

from .conftest import Cli, Served, card_files, one_line_error

HEXDUMP_LINE = re.compile(r"^[0-9a-f]{8}  ([0-9a-f]{2} ){1,8}\s*( [0-9a-f]{2}){0,8}\s*\|.{1,16}\|$")


def test_opreq_dumps_the_data_and_the_response(served: Served, cli: Cli, tmp_path: Path) -> None:
    # The Go tool's own example: GetDevicePropDesc (0x1014) of ImageSize (0x5003).
    result = cli(*served.camera_args(), "opreq", "0x1014", "0x5003")
    assert result.code == 0, result
    lines = result.stdout.splitlines()
    assert lines[0] == "-> 0x1014 GetDevicePropDesc(0x00005003)"
    assert re.fullmatch(r"Received \d+ bytes\. HEX dump:", lines[1])
    dump = lines[2:-1]
    assert dump
    assert all(HEXDUMP_LINE.match(line) for line in dump), dump
    assert dump[0].startswith("00000000  03 50 ff ff")  # code 0x5003, datatype STR
    assert lines[-1] == "<- 0x2001 OK()"

    saved = tmp_path / "desc.bin"
    as_json = cli(
        *served.camera_args(),
        "opreq",
        "GetDevicePropDesc",
        "5003",
        "--data-in",
        str(saved),
        "--json",
    )
    doc = as_json.json()
    assert doc["response"] == {"code": 0x2001, "hex": "0x2001", "name": "OK"}
    assert doc["ok"] is True
    data = bytes.fromhex(doc["data_in_hex"])
    assert saved.read_bytes() == data
    assert doc["data_in_bytes"] == len(data)
    desc = DevicePropDesc.from_bytes(data)
    assert desc.code == 0x5003
    assert isinstance(desc.form, EnumerationForm)
    assert "6000x4000" in desc.form.values


def test_opreq_data_in_never_replaces_a_file_or_link(
    served: Served, cli: Cli, tmp_path: Path
) -> None:
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "nowhere")
    refused = cli(*served.camera_args(), "opreq", "0x1001", "--data-in", str(link))
    assert refused.code == 108, refused
    assert "--force-overwrite" in one_line_error(refused)
    assert link.is_symlink()
    assert not (tmp_path / "nowhere").exists()

    replaced = cli(
        *served.camera_args(), "opreq", "0x1001", "--data-in", str(link), "--force-overwrite"
    )
    assert replaced.code == 0, replaced
    assert not link.is_symlink()  # the link itself replaced, nothing written where it pointed
    assert not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("link")) == ["link.bin"]


def test_opreq_data_out_and_a_refused_operation(served: Served, cli: Cli, tmp_path: Path) -> None:
    value = tmp_path / "iso.bin"
    value.write_bytes(struct.pack("<H", 1600))
    result = cli(
        *served.camera_args(), "opreq", "0x1016", "0x500F", "--data-out", str(value), "--json"
    )
    assert result.code == 0, result
    assert result.json()["data_out_bytes"] == 2
    assert served.vcam.properties[0x500F].current() == 1600

    refused = cli(*served.camera_args(), "opreq", "0x1014", "0x9999")
    assert refused.code == 106, refused
    assert refused.stdout.splitlines()[-1] == "<- 0x200A DevicePropNotSupported()"
    assert "0x200A DevicePropNotSupported" in one_line_error(refused)

    too_many = cli(*served.camera_args(), "opreq", "0x1001", "1", "2", "3", "4", "5", "6")
    assert too_many.code == 2
    not_hex = cli(*served.camera_args(), "opreq", "0x1014", "zz")
    assert not_hex.code == 2
    assert "is not hex" in one_line_error(not_hex)


def test_verbosity_levels(cli: Cli) -> None:
    names = cli("--camera", "virtual:", "-v", "storage")
    assert names.code == 0, names
    lines = names.stderr.splitlines()
    assert "-> GetStorageIDs" in lines
    assert "<- OK" in lines
    assert "0x" not in names.stderr  # names only, no parameters

    params = cli("--camera", "virtual:", "-vv", "storage")
    assert "ptpkit.transaction: -> GetStorageInfo(0x00010001) tid=" in params.stderr
    assert "<- OK (0x2001)" in params.stderr
    assert "write 16 bytes" not in params.stderr

    dumps = cli("--camera", "virtual:", "-vvv", "storage")
    assert "ptpkit.transaction: write 16 bytes" in dumps.stderr  # GetStorageInfo's request
    assert re.search(r"^  0000  10 00 00 00 01 00 05 10", dumps.stderr, re.MULTILINE)
    assert dumps.stdout == names.stdout  # -v never changes stdout


def test_miniptp_flags(served: Served, cli: Cli, tmp_path: Path) -> None:
    result = cli(*served.camera_args(), "-Lodip")
    assert result.code == 0, result
    out = result.stdout
    # In miniPtp's order: operations, properties supported, info, descriptions, tree.
    positions = [
        out.index("0x1001 GetDeviceInfo"),
        out.index("0x500F ExposureIndex"),
        out.index("Model:"),
        out.index("0x500F  iso"),
        out.index("  00000001 00010001 00000000 3001        0 DCIM"),
    ]
    assert positions == sorted(positions)
    card = card_files(served.card)
    tree = out[positions[-1] :].splitlines()
    size = len(card["/store_00010001/DCIM/100PTPKT/IMG_0001.JPG"])
    assert f"      00000003 00010001 00000002 3801 {size:8d} IMG_0001.JPG" in tree

    as_json = cli(*served.camera_args(), "--json", "-L")
    assert as_json.code == 0, as_json
    assert as_json.json() == cli(*served.camera_args(), "ls", "-R", "--json").json()

    got = cli(*served.camera_args(), "-g", "00000003")
    assert got.code == 0, got
    assert (cli.cwd / "IMG_0001.JPG").read_bytes() == card[
        "/store_00010001/DCIM/100PTPKT/IMG_0001.JPG"
    ]

    local = tmp_path / "miniPtp.py"
    local.write_text("print('hello')\n")
    up = cli(*served.camera_args(), "-u", f"0,{local}")
    assert up.code == 0, up
    assert (served.card / "miniPtp.py").read_text() == "print('hello')\n"
    bad = cli(*served.camera_args(), "-u", "0")
    assert bad.code == 2
    assert "STORAGE,FILE" in one_line_error(bad)


def test_opreq_streams_large_data_both_ways(served: Served, cli: Cli, tmp_path: Path) -> None:
    """--data-in and --data-out stream through files: a 5 MiB object comes back byte-identical,
    only --dump-bytes of it dumped; the JSON gives the size and the dumped head."""
    body = bytes(range(256)) * (5 * 4096)  # 5 MiB
    original = tmp_path / "BIG.BIN"
    original.write_bytes(body)
    with ptpkit.connect(served.url) as cam:
        handle = cam.upload(original, folder="DCIM/100PTPKT").handle

    saved = tmp_path / "big.bin"
    args = ("opreq", "GetObject", f"{handle:x}", "--data-in", str(saved), "--dump-bytes", "32")
    text = cli(*served.camera_args(), *args)
    assert text.code == 0, text
    assert saved.read_bytes() == body
    assert not (tmp_path / "big.bin.ptpkit-part").exists()
    lines = text.stdout.splitlines()
    assert lines[1] == f"Received {len(body)} bytes. HEX dump:"
    assert lines[2].startswith("00000000  00 01 02 03 04 05 06 07")
    assert lines[4] == f"... {len(body) - 32} more bytes not shown"

    doc = cli(*served.camera_args(), *args, "--force-overwrite", "--json").json()
    assert doc["data_in_bytes"] == len(body)
    assert bytes.fromhex(doc["data_in_hex"]) == body[:32]
    assert doc["data_in_file"] == str(saved)

    # And out again with the library's raw transaction, the file as the data phase (one
    # session: SendObject belongs to the SendObjectInfo before it).
    with ptpkit.connect(served.url) as cam, saved.open("rb") as source:
        folder = cam.find("DCIM/100PTPKT")
        info = ObjectInfo(
            storage_id=folder.storage_id,
            object_format=0x3000,
            compressed_size=len(body),
            filename="BACK.BIN",
        )
        announced = cam.transaction(0x100C, (folder.storage_id, folder.handle), info.to_bytes())
        assert announced.ok, announced
        sent = cam.transaction(0x100D, data=source)
        assert sent.ok, sent
        with (tmp_path / "again.bin").open("wb") as sink:
            got = cam.transaction(0x1009, (announced.params[2],), into=sink)
        assert (got.data, got.data_size) == (b"", len(body))
    assert (served.card / "DCIM/100PTPKT/BACK.BIN").read_bytes() == body
    assert (tmp_path / "again.bin").read_bytes() == body


def test_opreq_data_out_from_a_pipe(served: Served, cli: Cli, tmp_path: Path) -> None:
    """A pipe has no length to announce: it is read first (bounded), then sent."""
    fifo = tmp_path / "value.fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("wb") as pipe:
            pipe.write(struct.pack("<H", 3200))

    writer = threading.Thread(target=write)
    writer.start()
    result = cli(*served.camera_args(), "opreq", "0x1016", "0x500F", "--data-out", str(fifo))
    writer.join(timeout=10)
    assert result.code == 0, result
    assert result.stdout.splitlines()[0] == "-> 0x1016 SetDevicePropValue(0x0000500F) + 2 bytes"
    assert served.vcam.properties[0x500F].current() == 3200


def test_raw_transaction_refuses_data_it_cannot_size(served: Served) -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with ptpkit.connect(served.url) as cam:
        with pytest.raises(UsageError, match="seekable binary file"):
            cam.transaction(0x1016, (0x500F,), Pipe())  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="seekable binary file"):
            cam.transaction(0x1016, (0x500F,), "text")  # type: ignore[arg-type]
        assert cam.get_property("iso") == 200  # nothing was sent
