"""The local rig against virtual cameras: opening in parallel with a status per camera, set and
verify, synchronised capture with a camera that dies, downloads into layouts (resumable, never
overwriting), identity by serial number across USB re-enumeration, the contact sheet."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import ptpkit
from ptpkit.client.camera import Camera
from ptpkit.client.capture import ArmedCapture
from ptpkit.discovery.result import DiscoveredCamera
from ptpkit.discovery.usb import find_cameras
from ptpkit.errors import UsageError
from ptpkit.rig import CameraSpec, CameraState, LocalBackend, Rig, RigSpec, rig_from_discovery
from ptpkit.rig.local import DEFAULT_RELEASE_PRIORITY
from ptpkit.virtual.misbehave import Misbehavior
from ptpkit.virtual.sony import sony_state
from ptpkit.virtual.usb_device import VirtualUsbDevice, make_backend

from .conftest import MakeCamera, Serve, in_process

#: Release deadlines this far ahead: the only waiting these tests do.
LEAD_S = 0.01


def _closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_camera_that_fails_to_open_never_stops_the_others(
    make_camera: MakeCamera, serve: Serve
) -> None:
    a, b = make_camera("SN-A"), make_camera("SN-B", "nikon")
    server = serve(b)
    spec = RigSpec(
        cameras=(
            CameraSpec(name="a", url="virtual:a", serial="SN-A", index=0),
            CameraSpec(name="b", url=server.url, serial="SN-B", index=1),
            CameraSpec(name="gone", url=f"ptpip:127.0.0.1:{_closed_port()}", index=2),
            # The camera answering at b's address is not the one the rig expects there.
            CameraSpec(name="swapped", url=server.url, serial="SN-Z", index=3),
        )
    )
    backend = LocalBackend(connect=in_process({"a": a}))
    with Rig(spec, backend=backend, lead_s=LEAD_S) as rig:
        status = {s.camera: s for s in rig.status()}
        assert status["a"].state is CameraState.CONNECTED
        assert status["a"].serial == "SN-A"
        assert status["b"].state is CameraState.CONNECTED
        assert status["b"].model is not None
        assert status["gone"].state is CameraState.FAILED
        assert status["gone"].error is not None
        assert "ConnectError" in status["gone"].error
        assert status["swapped"].state is CameraState.FAILED
        assert "serial number 'SN-B', not 'SN-Z'" in (status["swapped"].error or "")
        assert [s.ok for s in rig.status()] == [True, True, False, False]
        shots = rig.capture(prepare=True)
        assert shots[0].delivered == ["a", "b"]
        # The Nikon's half press is its AfDrive; the generic camera has none.
        prepared = {o.camera: o for o in rig.prepare()}
        assert "AfDrive" in (prepared["b"].detail or "")
        assert "no half press" in (prepared["a"].detail or "")
    assert [s.state for s in rig.status()][:2] == [CameraState.CLOSED, CameraState.CLOSED]


def test_set_verifies_on_every_camera_and_names_those_that_differ(
    make_camera: MakeCamera,
) -> None:
    cams = {
        "g": make_camera("G"),
        "s": make_camera("S", "sony"),
        "e": make_camera("E", "canon-eos"),
    }
    rig = Rig(
        [CameraSpec(name=n, url=f"virtual:{n}", index=i) for i, n in enumerate(cams)],
        backend=LocalBackend(connect=in_process(cams)),
        lead_s=LEAD_S,
    )
    with rig:
        same = rig.set("iso", 400)
        assert [(o.camera, o.ok, o.verified) for o in same] == [
            ("g", True, True),
            ("s", True, True),
            ("e", True, True),
        ]
        assert cams["g"].properties[0x500F].current() == 400
        # 125 is one of the Sony's ISO values, not the generic camera's.
        differ = {o.camera: o for o in rig.set("iso", "125")}
        assert differ["s"].ok
        assert differ["s"].value is not None
        assert "125" in differ["s"].value
        assert not differ["g"].ok
        assert differ["g"].error
        assert cams["g"].properties[0x500F].current() == 400  # untouched


def test_settings_from_the_rig_file_are_applied_when_it_opens(make_camera: MakeCamera) -> None:
    cams = {"a": make_camera("A"), "b": make_camera("B")}
    spec = RigSpec(
        cameras=(
            CameraSpec(name="a", url="virtual:a", settings={"iso": "800"}),
            CameraSpec(name="b", url="virtual:b", index=1),
        ),
        settings={"iso": "200", "whitebalance": "daylight"},
    )
    with Rig(spec, backend=LocalBackend(connect=in_process(cams))) as rig:
        assert all(s.ok for s in rig.status())
    assert cams["a"].properties[0x500F].current() == 800
    assert cams["b"].properties[0x500F].current() == 200
    assert cams["b"].properties[0x5005].current() == 4  # daylight


def test_capture_records_each_release_and_a_camera_that_dies_mid_capture(
    make_camera: MakeCamera, serve: Serve, tmp_path: Path
) -> None:
    cams = {name: make_camera(name.upper()) for name in ("a", "b", "c")}
    dying = make_camera("D")
    server = serve(dying)
    fired: dict[str, int] = {}
    for name, cam in cams.items():
        cam.on_capture = lambda now_ns, arrived_ns, name=name: fired.__setitem__(name, now_ns)

    def die(now_ns: int, arrived_ns: int | None) -> None:
        # The camera hangs up as its shutter fires (a cable pulled, a battery gone).
        threading.Thread(target=server.close).start()

    dying.on_capture = die
    specs = [CameraSpec(name=n, url=f"virtual:{n}", index=i) for i, n in enumerate(cams)]
    specs.append(CameraSpec(name="d", url=server.url, index=3))
    with Rig(specs, backend=LocalBackend(connect=in_process(cams)), lead_s=LEAD_S) as rig:
        (shot,) = rig.capture(prepare=False)
        assert shot.delivered == ["a", "b", "c"]
        (failure,) = shot.failed
        assert failure.camera == "d"
        assert "DisconnectedError" in (failure.error or "")
        for release in shot.releases:
            assert release.released_ns is not None
            # Parked at the gate, released at the deadline (not before).
            assert release.released_ns >= shot.deadline_ns
        # The release times recorded are the ones the skew is computed from.
        times = sorted(r.released_ns for r in shot.releases if r.released_ns is not None)
        assert shot.skew is not None
        assert shot.skew.max_ns == times[-1] - times[0]
        # The captures were armed: each release time is recorded right after its request's
        # send, and the in-process cameras fire their shutters inside that send, so each
        # shutter fired between the deadline and its release's time.
        by_name = {r.camera: r for r in shot.releases}
        for name, at_ns in fired.items():
            assert shot.deadline_ns <= at_ns <= (by_name[name].released_ns or 0)
        assert {f.camera for f in shot.files} == {"a", "b", "c"}
        status = {s.camera: s.state for s in rig.status()}
        assert status == {
            "a": CameraState.CONNECTED,
            "b": CameraState.CONNECTED,
            "c": CameraState.CONNECTED,
            "d": CameraState.FAILED,
        }
        # The rig goes on without it.
        (again,) = rig.capture(prepare=False)
        assert again.shot == 2
        assert again.delivered == ["a", "b", "c"]
        assert [r.camera for r in again.releases] == ["a", "b", "c"]
        out = tmp_path / "out"
        done = rig.download([shot, again], out, layout="shots")
        assert sorted(str(Path(o.path or "").relative_to(out)) for o in done if o.ok) == [
            "shot_0001/a.JPG",
            "shot_0001/b.JPG",
            "shot_0001/c.JPG",
            "shot_0002/a.JPG",
            "shot_0002/b.JPG",
            "shot_0002/c.JPG",
        ]


def test_downloads_land_in_the_layout_resume_and_never_overwrite(
    make_camera: MakeCamera, serve: Serve, tmp_path: Path
) -> None:
    cams = {"a": make_camera("A"), "b": make_camera("B")}
    specs = [
        CameraSpec(name="a", url="virtual:a", index=0),
        CameraSpec(name="b", url="virtual:b", index=5),
    ]
    out = tmp_path / "meshroom"
    with Rig(specs, backend=LocalBackend(connect=in_process(cams)), lead_s=LEAD_S) as rig:
        shots = rig.capture(2, prepare=False)
        # A file the user put where a picture would go is never replaced.
        (out / "rig" / "5").mkdir(parents=True)
        (out / "rig" / "5" / "0002.JPG").write_bytes(b"mine")
        seen: list[tuple[str, int, int]] = []
        first = rig.download(
            shots,
            out,
            layout="meshroom",
            progress=lambda cam, src, done, total: seen.append((cam, done, total)),
        )
        result = {(o.camera, o.shot): o for o in first}
        assert len(result) == 4
        assert not result[("b", 2)].ok
        assert "exists" in (result[("b", 2)].error or "")
        assert (out / "rig" / "5" / "0002.JPG").read_bytes() == b"mine"
        for key in [("a", 1), ("a", 2), ("b", 1)]:
            outcome = result[key]
            assert outcome.ok
            assert outcome.path is not None
            assert not outcome.skipped
            local = Path(outcome.path)
            assert local.stat().st_size == outcome.size
            with Image.open(local) as image:
                assert image.format == "JPEG"
        assert (out / "rig" / "0" / "0001.JPG").is_file()
        assert (out / "rig" / "5" / "0001.JPG").is_file()
        assert {cam for cam, _, _ in seen} == {"a", "b"}
        assert any(done == total for _, done, total in seen)
        assert not list(out.rglob("*.ptpkit-part"))
        # Run again: what is there is not fetched again.
        again = {(o.camera, o.shot): o for o in rig.download(shots, out, layout="meshroom")}
        assert again[("a", 1)].ok
        assert again[("a", 1)].skipped
        # The same layout name for two files of one camera is refused for the second.
        clash = rig.download(shots, tmp_path / "clash", layout="{camera}/x_{stem}.{ext}")
        assert all(o.ok for o in clash)  # stems differ: no clash
        one = rig.download(
            [f for s in shots for f in s.files if f.camera == "a"],
            tmp_path / "one",
            layout="{camera}/{index}_{ext}_{stem}",
        )
        assert all(o.ok for o in one)


def test_a_download_cut_short_is_reported_and_resumed(
    make_camera: MakeCamera, serve: Serve, tmp_path: Path
) -> None:
    good = make_camera("OK")
    flaky = make_camera("FLAKY")
    server = serve(flaky)
    cams = {"good": good}
    specs = [
        CameraSpec(name="good", url="virtual:good", index=0),
        CameraSpec(name="flaky", url=server.url, index=1),
    ]
    out = tmp_path / "out"
    with Rig(specs, backend=LocalBackend(connect=in_process(cams)), lead_s=LEAD_S) as rig:
        (shot,) = rig.capture(prepare=False)
        assert shot.delivered == ["good", "flaky"]
        # The camera hangs up half way through its picture's data.
        flaky.misbehavior = Misbehavior.parse("disconnect")
        first = {o.camera: o for o in rig.download([shot], out)}
        assert first["good"].ok
        assert not first["flaky"].ok
        assert first["flaky"].error
        assert not (out / "shot_0001" / "flaky.JPG").exists()
        assert list((out / "shot_0001").glob("flaky.JPG*.ptpkit-part"))
    # Plugged in again: a new rig, the file found by its path, the partial file resumed.
    flaky.misbehavior = Misbehavior()
    server2 = serve(flaky)
    files = [f.__class__(**{**f.__dict__, "handle": 0}) for f in shot.files if f.camera == "flaky"]
    specs2 = [CameraSpec(name="flaky", url=server2.url, index=1)]
    with Rig(specs2, lead_s=LEAD_S) as rig:
        (outcome,) = rig.download(files, out)
    assert outcome.ok, outcome
    assert Path(outcome.path or "").stat().st_size == outcome.size
    assert not list(out.rglob("*.ptpkit-part"))


def test_cameras_are_found_by_serial_number_across_usb_re_enumeration(
    make_camera: MakeCamera,
) -> None:
    left, right = make_camera("LEFT-1"), make_camera("RIGHT-2")
    spec = RigSpec(
        cameras=(
            CameraSpec(name="left", serial="LEFT-1", index=0),
            CameraSpec(name="right", serial="RIGHT-2", index=1),
        )
    )

    def rig_on(backend: object) -> Rig:
        return Rig(
            spec,
            backend=LocalBackend(connect=lambda url: ptpkit.connect(url, backend=backend)),
            lead_s=LEAD_S,
        )

    first_bus = make_backend(
        VirtualUsbDevice(left, bus=1, address=4), VirtualUsbDevice(right, bus=1, address=5)
    )
    with rig_on(first_bus) as rig:
        status = {s.camera: s for s in rig.status()}
        assert status["left"].serial == "LEFT-1"
        assert status["right"].serial == "RIGHT-2"
        assert status["left"].url == "usb:serial=LEFT-1"
        (shot,) = rig.capture(prepare=False)
        by_camera = {f.camera: f for f in shot.files}
    # Unplugged and plugged in again the other way round: new addresses, another order.
    second_bus = make_backend(
        VirtualUsbDevice(right, bus=2, address=9), VirtualUsbDevice(left, bus=3, address=2)
    )
    left_before = len(list(left.root.rglob("*.JPG")))
    with rig_on(second_bus) as rig:
        status = {s.camera: s for s in rig.status()}
        assert status["left"].serial == "LEFT-1"
        assert status["right"].serial == "RIGHT-2"
        (shot2,) = rig.capture(prepare=False)
    assert len(list(left.root.rglob("*.JPG"))) == left_before + 1
    # Each camera's files came from the camera of that name.
    assert by_camera["left"].camera == "left"
    assert {f.camera for f in shot2.files} == {"left", "right"}


def test_a_rig_from_discovery_finds_its_usb_cameras_by_serial_number_when_re_plugged(
    make_camera: MakeCamera,
) -> None:
    """Discovery sees USB cameras at bus addresses; the rig made from it (``ptpkit rig`` with
    neither --rig nor --camera) names each by its serial number, so re-plugged (here: each at
    the other's old address) every camera is still itself, under the same name."""
    left, right = make_camera("LEFT-1"), make_camera("RIGHT-2")
    first_bus = make_backend(
        VirtualUsbDevice(right, bus=1, address=4), VirtualUsbDevice(left, bus=1, address=5)
    )
    found = find_cameras(first_bus)
    assert [(c.url, c.serial) for c in found] == [("usb:1,4", "RIGHT-2"), ("usb:1,5", "LEFT-1")]
    spec = rig_from_discovery(found)
    # Named in serial number order, not the bus's.
    assert [(c.name, c.url) for c in spec.cameras] == [
        ("cam00", "usb:serial=LEFT-1"),
        ("cam01", "usb:serial=RIGHT-2"),
    ]
    second_bus = make_backend(
        VirtualUsbDevice(left, bus=1, address=4), VirtualUsbDevice(right, bus=1, address=5)
    )
    assert rig_from_discovery(find_cameras(second_bus)) == spec  # the next command's rig
    backend = LocalBackend(connect=lambda url: ptpkit.connect(url, backend=second_bus))
    with Rig(spec, backend=backend, lead_s=LEAD_S) as rig:
        status = {s.camera: s for s in rig.status()}
        assert {name: s.serial for name, s in status.items()} == {
            "cam00": "LEFT-1",
            "cam01": "RIGHT-2",
        }
        assert all(s.ok for s in status.values())


def test_a_rig_from_discovery_keeps_addresses_where_serial_numbers_cannot_tell() -> None:
    """No serial number, or one two cameras share (a cheap device's "0000"): the bus address
    is all there is. A network camera keeps its URL (PTP/IP reaches a camera by address); its
    description's serial number only orders it."""
    found = [
        DiscoveredCamera(url="usb:1,9", name="a", source="usb", address="1,9"),
        DiscoveredCamera(url="usb:1,2", name="b", source="usb", address="1,2", serial="0000"),
        DiscoveredCamera(url="usb:1,3", name="c", source="usb", address="1,3", serial="0000"),
        DiscoveredCamera(url="canon-usb:2,1", name="g3", source="usb", serial="PS-G3"),
        DiscoveredCamera(url="ptpip:10.0.0.9", name="n", source="ssdp", serial="AA-1"),
        DiscoveredCamera(url="ptpip:10.0.0.5", name="m", source="mdns"),
    ]
    spec = rig_from_discovery(found)
    assert [(c.name, c.url, c.serial) for c in spec.cameras] == [
        ("cam00", "usb:1,2", None),
        ("cam01", "usb:1,3", None),
        ("cam02", "ptpip:10.0.0.9", None),
        ("cam03", "canon-usb:serial=PS-G3", None),
        ("cam04", "ptpip:10.0.0.5", None),
        ("cam05", "usb:1,9", None),
    ]


def test_the_contact_sheet_has_a_tile_per_camera(make_camera: MakeCamera) -> None:
    cams = {
        "eos": make_camera("E1", "canon-eos", liveview_size="320x240"),
        "nikon": make_camera("N1", "nikon", liveview_size="320x240"),
        "plain": make_camera("P1"),  # standard PTP: no live view
    }
    specs = [CameraSpec(name=n, url=f"virtual:{n}", index=i) for i, n in enumerate(cams)]
    with Rig(specs, backend=LocalBackend(connect=in_process(cams))) as rig:
        jpeg, frames = rig.contact_sheet(tile_width=200)
    result = {f.camera: f for f in frames}
    assert result["eos"].ok
    assert result["eos"].width == 320
    assert result["nikon"].ok
    assert not result["plain"].ok
    assert "live view" in (result["plain"].error or "")
    with Image.open(io.BytesIO(jpeg)) as sheet:
        assert sheet.format == "JPEG"
        # Three tiles: two columns, two rows of 150 + a caption band.
        assert sheet.size == (400, 2 * (150 + 24))
        pixels = sheet.convert("RGB")
        # The third camera (no live view) has the grey tile, first in the second row; the
        # fourth place is empty; the first two show their pictures.
        grey = pixels.getpixel((20, 174 + 20))
        assert isinstance(grey, tuple)
        assert all(abs(c - 70) <= 3 for c in grey)
        assert pixels.getpixel((200 + 20, 174 + 20)) == (24, 24, 24)
        middle = pixels.crop((0, 0, 400, 150)).getcolors(maxcolors=1 << 16)
        assert middle is None or len(middle) > 50  # a picture, not a flat tile


def test_prepare_half_presses_where_the_vendor_can(make_camera: MakeCamera) -> None:
    cams = {
        "eos": make_camera("E2", "canon-eos"),
        "nikon": make_camera("N2", "nikon"),
        "sony": make_camera("S2", "sony"),
    }
    specs = [CameraSpec(name=n, url=f"virtual:{n}", index=i) for i, n in enumerate(cams)]
    with Rig(specs, backend=LocalBackend(connect=in_process(cams)), lead_s=LEAD_S) as rig:
        prepared = {o.camera: o for o in rig.prepare()}
        assert sony_state(cams["sony"]).half_pressed  # held until the release
        (shot,) = rig.capture(prepare=False)
    assert all(o.ok for o in prepared.values())
    assert prepared["eos"].detail == "autofocus (DoAf 0x9154)"
    assert prepared["nikon"].detail == "autofocus (AfDrive 0x90C1)"
    assert prepared["sony"].detail == "autofocus (half press 0x9207)"
    assert shot.delivered == ["eos", "nikon", "sony"]
    # The Sony's capture pressed its button again and let go of it.
    assert not sony_state(cams["sony"]).half_pressed


def _arming(
    connect: Callable[[str], Camera], armed: dict[str, bool], after: Callable[[Camera], None]
) -> Callable[[str], Camera]:
    """A connect whose cameras note whether each capture was armed (by URL) and run ``after``
    once one is."""

    def wrapped(url: str) -> Camera:
        camera = connect(url)
        arm = camera.arm_capture

        def arm_capture(**options: Any) -> ArmedCapture | None:
            capture = arm(**options)
            armed[url] = capture is not None
            if capture is not None:
                after(camera)
            return capture

        camera.arm_capture = arm_capture  # type: ignore[method-assign]
        return camera

    return wrapped


def test_the_release_is_armed_where_it_can_be_and_a_failed_send_is_one_cameras_error(
    make_camera: MakeCamera, serve: Serve
) -> None:
    cams = {
        "eos": make_camera("E3", "canon-eos"),
        "nikon": make_camera("N3", "nikon"),
        "sony": make_camera("S3", "sony"),
    }
    pulled = make_camera("P3")
    server = serve(pulled)
    armed: dict[str, bool] = {}

    def pull_the_cable(camera: Camera) -> None:
        # Armed over PTP/IP: the connection goes before the deadline's send.
        if camera.transport.kind == "ptpip":
            camera.transport._command.shutdown(socket.SHUT_WR)  # type: ignore[attr-defined]

    specs = [CameraSpec(name=n, url=f"virtual:{n}", index=i) for i, n in enumerate(cams)]
    specs.append(CameraSpec(name="pulled", url=server.url, index=3))
    backend = LocalBackend(connect=_arming(in_process(cams), armed, pull_the_cable))
    with Rig(specs, backend=backend, lead_s=LEAD_S) as rig:
        (shot,) = rig.capture(prepare=False)
        # Canon EOS, Nikon and the generic camera armed; the Sony captures its own way (its
        # thread runs capture() when its gate opens).
        assert armed == {
            "virtual:eos": True,
            "virtual:nikon": True,
            "virtual:sony": False,
            server.url: True,
        }
        assert shot.delivered == ["eos", "nikon", "sony"]
        (failure,) = shot.failed
        assert failure.camera == "pulled"
        assert "DisconnectedError" in (failure.error or "")
        # Every request went at the deadline, the failed one's too (its send was tried).
        for release in shot.releases:
            assert release.released_ns is not None
            assert release.released_ns >= shot.deadline_ns
        (again,) = rig.capture(prepare=False)
        assert again.delivered == ["eos", "nikon", "sony"]


class _Abandoned(Exception):
    pass


def test_an_abandoned_release_disarms_every_camera_and_the_rig_goes_on(
    make_camera: MakeCamera,
) -> None:
    cams = {"a": make_camera("A4"), "eos": make_camera("E4", "canon-eos")}
    shutters: dict[str, int] = {}
    for name, cam in cams.items():
        cam.on_capture = lambda now_ns, arrived_ns, name=name: shutters.__setitem__(
            name, shutters.get(name, 0) + 1
        )
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        # The first wait for the deadline is interrupted (Ctrl-C, the controller gone).
        naps.append(seconds)
        if len(naps) == 1:
            raise _Abandoned
        time.sleep(seconds)

    armed: dict[str, bool] = {}
    backend = LocalBackend(
        connect=_arming(in_process(cams), armed, lambda camera: None), sleep=sleep
    )
    specs = [CameraSpec(name=n, url=f"virtual:{n}", index=i) for i, n in enumerate(cams)]
    with backend:
        assert all(status.ok for status in backend.open(specs))
        with pytest.raises(_Abandoned):
            backend.release_at(time.time() + 60, 1)  # interrupted at once, in its first nap
        assert armed == {"virtual:a": True, "virtual:eos": True}
        # Nothing was sent; each camera's thread disarmed its capture, the sessions go on.
        outcomes = backend.release_at(time.time() + LEAD_S, 2)
        assert [o.ok for o in outcomes] == [True, True]
        assert shutters == {"a": 1, "eos": 1}


class _Sched:
    """The calling thread's scheduling (os.sched_*) faked: what the release asks of it, a
    policy of its own to go back to, and a refusal when told (no CAP_SYS_NICE)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, policy: int, priority: int) -> None:
        self.policy, self.priority = policy, priority
        #: Every sched_* call: ("get",) or ("set", policy, priority).
        self.calls: list[tuple[Any, ...]] = []
        self.refuse = False
        monkeypatch.setattr(os, "sched_setscheduler", self.set, raising=False)
        monkeypatch.setattr(os, "sched_getscheduler", self.get_policy, raising=False)
        monkeypatch.setattr(os, "sched_getparam", self.get_param, raising=False)

    def set(self, pid: int, policy: int, param: os.sched_param) -> None:
        assert pid == 0  # the calling thread only
        if self.refuse and policy == os.SCHED_FIFO:
            raise PermissionError(1, "Operation not permitted")
        self.calls.append(("set", policy, param.sched_priority))

    def get_policy(self, pid: int) -> int:
        self.calls.append(("get",))
        return self.policy

    def get_param(self, pid: int) -> os.sched_param:
        return os.sched_param(self.priority)


class _Wall:
    """A wall clock that moves only when slept on or read (each read 50 µs)."""

    def __init__(self) -> None:
        self.now_ns = 1_800_000_000 * 10**9
        self.naps: list[float] = []

    def read(self) -> int:
        self.now_ns += 50_000
        return self.now_ns

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now_ns += round(seconds * 1e9)


_LINUX_RT = pytest.mark.skipif(
    not hasattr(os, "SCHED_FIFO"), reason="POSIX real-time scheduling (Linux)"
)


def _priority_rig(
    make_camera: MakeCamera, wall: _Wall, **options: Any
) -> tuple[LocalBackend, list[CameraSpec]]:
    cams = {"a": make_camera("A5"), "eos": make_camera("E5", "canon-eos")}
    specs = [CameraSpec(name=n, url=f"virtual:{n}", index=i) for i, n in enumerate(cams)]
    backend = LocalBackend(connect=in_process(cams), wall_ns=wall.read, sleep=wall.sleep, **options)
    return backend, specs


@_LINUX_RT
def test_the_release_runs_at_a_real_time_priority_by_default(
    make_camera: MakeCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing asked: the calling thread is raised to SCHED_FIFO 10 for the wait and the sends,
    then set back to its own policy; every outcome says the release ran at 10."""
    sched = _Sched(monkeypatch, os.SCHED_BATCH, 0)
    wall = _Wall()
    backend, specs = _priority_rig(make_camera, wall)
    assert backend.release_priority == DEFAULT_RELEASE_PRIORITY == 10
    with backend:
        assert all(status.ok for status in backend.open(specs))
        outcomes = backend.release_at((wall.now_ns + 20_000_000) / 1e9, 1)
    assert [(o.ok, o.release_priority) for o in outcomes] == [(True, 10), (True, 10)]
    # Its own policy (SCHED_BATCH here) read, FIFO 10, then that policy again.
    assert sched.calls == [("get",), ("set", os.SCHED_FIFO, 10), ("set", os.SCHED_BATCH, 0)]
    assert wall.naps  # the deadline was waited for (on the fake clock)


@_LINUX_RT
def test_a_refused_priority_releases_at_the_normal_one_and_says_so(
    make_camera: MakeCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    sched = _Sched(monkeypatch, os.SCHED_OTHER, 0)
    sched.refuse = True
    wall = _Wall()
    backend, specs = _priority_rig(make_camera, wall, release_priority=20)
    with backend:
        backend.open(specs)
        outcomes = backend.release_at((wall.now_ns + 20_000_000) / 1e9, 1)
    assert [(o.ok, o.release_priority) for o in outcomes] == [(True, None), (True, None)]
    assert sched.calls == [("get",)]  # asked, refused, nothing to set back


@_LINUX_RT
@pytest.mark.parametrize("off", [None, 0])
def test_real_time_off_asks_nothing_of_the_system(
    make_camera: MakeCamera, monkeypatch: pytest.MonkeyPatch, off: int | None
) -> None:
    sched = _Sched(monkeypatch, os.SCHED_OTHER, 0)
    wall = _Wall()
    backend, specs = _priority_rig(make_camera, wall, release_priority=off)
    assert backend.release_priority is None
    with backend:
        backend.open(specs)
        outcomes = backend.release_at((wall.now_ns + 20_000_000) / 1e9, 1)
    assert [(o.ok, o.release_priority) for o in outcomes] == [(True, None), (True, None)]
    assert sched.calls == []


@_LINUX_RT
def test_the_policy_is_set_back_when_the_release_is_abandoned(
    make_camera: MakeCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    sched = _Sched(monkeypatch, os.SCHED_OTHER, 0)
    wall = _Wall()

    def interrupted(seconds: float) -> None:
        raise _Abandoned  # Ctrl-C in the wait for the deadline, at the real-time priority

    backend, specs = _priority_rig(make_camera, wall)
    backend._sleep = interrupted
    with backend:
        backend.open(specs)
        with pytest.raises(_Abandoned):
            backend.release_at((wall.now_ns + 20_000_000) / 1e9, 1)
    assert sched.calls == [("get",), ("set", os.SCHED_FIFO, 10), ("set", os.SCHED_OTHER, 0)]


def test_a_release_priority_out_of_range_is_refused() -> None:
    for bad in (-1, 100):
        with pytest.raises(UsageError, match="1 to 99"):
            LocalBackend(release_priority=bad)
        with pytest.raises(UsageError, match="1 to 99"):
            Rig(["virtual:"], release_priority=bad)


def test_the_rig_passes_its_release_priority_to_its_backend() -> None:
    assert Rig(["virtual:"]).backend.release_priority == DEFAULT_RELEASE_PRIORITY  # type: ignore[attr-defined]
    assert Rig(["virtual:"], release_priority=30).backend.release_priority == 30  # type: ignore[attr-defined]
    assert Rig(["virtual:"], release_priority=0).backend.release_priority is None  # type: ignore[attr-defined]
