"""Armed captures (Camera.arm_capture): the release's request prepared before the moment it
goes, fired with one send, then finished as capture() finishes; over every transport of the
scenario suite (in-process, PTP/IP on 127.0.0.1, virtual USB) and for the generic camera, the
Canon EOS (its plan: half press, RemoteReleaseOn(2, 0), both buttons let go, the records) and
the Nikon (InitiateCaptureRecInMedia, DeviceReady, ObjectAdded / CaptureComplete polled)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from ptpkit.client.camera import Camera
from ptpkit.client.capture import ArmedCapture, CaptureResult
from ptpkit.client.files import Entry
from ptpkit.codes.common import Op
from ptpkit.errors import BusyError, DisconnectedError, LocalProtocolError, UsageError

if TYPE_CHECKING:
    from conftest import Rig

#: The release each model's capture is armed at.
RELEASE = {"generic": Op.INITIATE_CAPTURE, "canon-eos": 0x9128, "nikon": 0x9207}

_TID = re.compile(r"^-> \S+\(.*\) tid=(\d+)")


@pytest.fixture(params=sorted(RELEASE))
def model(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _transaction_ids(caplog: pytest.LogCaptureFixture) -> list[int]:
    """Every request's transaction id, in the order the engine sent them."""
    ids = []
    for record in caplog.records:
        if record.name == "ptpkit.transaction" and (found := _TID.match(record.getMessage())):
            ids.append(int(found.group(1)))
    return ids


def _assert_consecutive(ids: list[int]) -> None:
    assert ids, "no transaction logged"
    assert ids == list(range(ids[0], ids[0] + len(ids))), ids


def _armed(cam: Camera) -> ArmedCapture:
    armed = cam.arm_capture(timeout_s=20)
    assert armed is not None
    return armed


def _assert_delivered(rig: Rig, entry: Entry) -> None:
    """The picture is on the card (or in the camera's memory: Nikon's SDRAM) and reads back
    whole."""
    if not entry.in_memory:
        assert entry.path.split("/", 2)[2] in rig.card_tree()
    assert len(rig.cam.read(entry)) == entry.size > 0


def _shape(result: CaptureResult) -> list[tuple[int, int]]:
    """A capture's answer events without the handles: (code, number of parameters)."""
    return [(event.code, len(event.params)) for event in result.events]


def test_an_armed_capture_delivers_what_capture_delivers(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    cam = rig.cam
    caplog.set_level(logging.DEBUG, logger="ptpkit.transaction")
    ordinary = cam.capture(timeout_s=20)
    files_before = rig.card_tree()
    armed = _armed(cam)
    assert armed.armed
    assert armed.operation == RELEASE[rig.model]
    # Prepared, not sent: the camera has taken no picture yet.
    assert rig.card_tree() == files_before
    assert armed.fire()
    assert not armed.armed
    assert armed.fired_at is not None
    result = armed.finish()
    assert len(result) == len(ordinary) == 1
    (entry,) = result
    assert entry.name != ordinary[0].name
    assert _shape(result) == _shape(ordinary)
    _assert_delivered(rig, entry)
    # The session goes on, and no transaction id was skipped or used twice.
    assert cam.capture(timeout_s=20)
    _assert_consecutive(_transaction_ids(caplog))
    assert armed.transaction_id in _transaction_ids(caplog)


def test_a_disarmed_capture_sends_nothing_and_gives_its_transaction_id_back(
    make_rig: Callable[..., Rig], caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    cam = rig.cam
    caplog.set_level(logging.DEBUG, logger="ptpkit.transaction")
    files_before = rig.card_tree()
    armed = _armed(cam)
    reserved = armed.transaction_id
    sent_before = len(_transaction_ids(caplog))
    armed.disarm()
    armed.disarm()  # twice: nothing more to do
    assert not armed.armed
    with pytest.raises(UsageError, match="disarmed, not fired"):
        armed.finish()
    assert rig.card_tree() == files_before
    assert cam.storage_ids()
    ids = _transaction_ids(caplog)
    _assert_consecutive(ids)
    # The next request took it (Canon EOS's RemoteReleaseOff(1), letting go of the half
    # press, else GetStorageIDs).
    assert ids[sent_before] == reserved
    if rig.eos:
        requests = [r.getMessage() for r in caplog.records if r.getMessage().startswith("-> ")]
        assert "RemoteReleaseOff(0x00000001)" in requests[sent_before]
    (entry,) = cam.capture(timeout_s=20)
    _assert_delivered(rig, entry)
    _assert_consecutive(_transaction_ids(caplog))


def test_the_camera_is_held_for_an_armed_capture(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    cam = rig.cam
    # This thread's transaction would wait for ever behind its own armed capture.
    with _armed(cam) as armed, pytest.raises(BusyError, match="armed capture"):
        cam.storage_ids()
    assert not armed.armed  # leaving the block unfired disarmed it
    assert cam.storage_ids()
    armed = _armed(cam)
    armed.fire()
    with pytest.raises(LocalProtocolError, match="not armed"):
        armed.fire()
    armed.finish()
    with pytest.raises(LocalProtocolError, match="over"):
        armed._prepared.finish()
    assert cam.storage_ids()


@pytest.mark.parametrize("model", ["generic"])
def test_a_failed_send_is_that_cameras_error_and_the_others_deliver(
    make_rig: Callable[..., Rig],
) -> None:
    good = make_rig()
    broken = good.connect()  # a second session on the same camera
    good_armed = _armed(good.cam)
    # The second link fails at the moment of the send (its raw send raises, as a dropped
    # connection's would).
    other_armed = _armed(broken)

    def fail() -> int:
        raise DisconnectedError("the cable was pulled")

    other_armed._prepared._send_now = fail
    fired = [capture.fire() for capture in (other_armed, good_armed)]
    assert fired == [False, True]
    assert isinstance(other_armed.error, DisconnectedError)
    (entry,) = good_armed.finish()
    _assert_delivered(good, entry)
    with pytest.raises(DisconnectedError, match="cable"):
        other_armed.finish()
    # The failed link is out of step (how much went is not known): it says to reconnect.
    with pytest.raises(Exception, match="reconnect"):
        broken.storage_ids()
    assert good.cam.storage_ids()


@pytest.mark.parametrize("model", ["sony"])
def test_a_vendor_that_captures_its_own_way_is_not_armed(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    assert rig.cam.arm_capture(timeout_s=20) is None
    # Nothing was held: the session goes on.
    assert rig.cam.storage_ids()
