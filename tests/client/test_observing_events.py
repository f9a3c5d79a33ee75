"""Camera.observing_events: an observer sees each event as it arrives and leaves it in the queue
for next_event()/wait_event() (a live-view overlay beside a program waiting for events)."""

from __future__ import annotations

import ptpkit
from ptpkit.client.events import CameraEvent
from ptpkit.codes.common import Dpc, Ec
from ptpkit.virtual import VirtualCamera


def test_an_observer_sees_events_without_taking_them() -> None:
    seen: list[CameraEvent] = []
    with VirtualCamera() as vcam, ptpkit.connect("virtual:", camera=vcam) as cam:
        with cam.observing_events(seen.append):
            cam.set_property("iso", 800)
            event = cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=10)
        assert event.params[0] == Dpc.EXPOSURE_INDEX
        assert event in seen  # the observer saw it, and the queue still had it
        # After the block the observer sees nothing more.
        count = len(seen)
        cam.set_property("iso", 400)
        cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=10)
        assert len(seen) == count


def test_an_observer_that_fails_does_not_stop_the_events() -> None:
    def broken(event: CameraEvent) -> None:
        raise RuntimeError("observer bug")

    with VirtualCamera() as vcam, ptpkit.connect("virtual:", camera=vcam) as cam:
        with cam.observing_events(broken):
            cam.set_property("iso", 800)
            event = cam.wait_event([Ec.DEVICE_PROP_CHANGED], timeout_s=10)
        assert event.params[0] == Dpc.EXPOSURE_INDEX
