"""The Session a Camera gives each of its extensions (:class:`ptpkit.ext.base.Session`): run a
transaction, the transport's kind, the device info, emit an event, the clock. Nothing else of the
camera is reachable from an extension."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any, Protocol

from ptpkit.client.streams import BytesSink, BytesSource, DataSource
from ptpkit.core.buffer import BytesLike
from ptpkit.core.datasets import DeviceInfo
from ptpkit.core.events import Event, Response
from ptpkit.ext.base import AnswerEvent, DataSink, Reply, SideChannels
from ptpkit.timing import Clock
from ptpkit.transports.base import Transport


class _Camera(Protocol):
    """What a CameraSession uses of its Camera (declared here: camera.py imports this module)."""

    @property
    def url(self) -> str: ...
    @property
    def transport(self) -> Transport: ...
    @property
    def device_info(self) -> DeviceInfo: ...
    @property
    def transactions_run(self) -> int: ...
    @property
    def link_idle(self) -> bool: ...

    def _run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data_out: DataSource | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Response: ...

    def _deliver_event(self, event: Event, details: object = None) -> None: ...

    def wait_event(self, codes: Iterable[int] | None = None, *, timeout_s: float = 10.0) -> Any: ...


class CameraSession:
    def __init__(self, camera: _Camera, clock: Clock) -> None:
        self._camera = camera
        self._clock = clock

    @property
    def label(self) -> str:
        return self._camera.url

    @property
    def transport_kind(self) -> str:
        return self._camera.transport.kind

    @property
    def device_info(self) -> DeviceInfo:
        return self._camera.device_info

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def transactions_run(self) -> int:
        return self._camera.transactions_run

    @property
    def idle(self) -> bool:
        return self._camera.link_idle

    def run(
        self,
        code: int,
        params: Sequence[int] = (),
        *,
        data: BytesLike | None = None,
        sink: DataSink | None = None,
        timeout_s: float | None = None,
        check: bool = True,
        wait_turn: bool = True,
    ) -> Reply:
        kept = BytesSink() if sink is None else None
        response = self._camera._run(
            code,
            params,
            data_out=None if data is None else BytesSource(data),
            sink=kept if kept is not None else sink,
            timeout_s=timeout_s,
            check=check,
            wait_turn=wait_turn,
        )
        return Reply(
            code=response.code,
            params=response.params,
            data=kept.getvalue() if kept is not None else b"",
            transaction_id=response.transaction_id,
        )

    def emit(self, code: int, params: Sequence[int] = (), *, details: object = None) -> None:
        self._camera._deliver_event(Event(code=code, params=tuple(params)), details=details)

    def wait_event(self, codes: Collection[int], timeout_s: float) -> AnswerEvent:
        event = self._camera.wait_event(codes, timeout_s=timeout_s)
        return AnswerEvent(
            code=event.code,
            params=tuple(event.params),
            details=event.details,
            transaction_id=event.transaction_id,
        )

    @property
    def side_channels(self) -> SideChannels | None:
        transport = self._camera.transport
        return transport if isinstance(transport, SideChannels) else None
