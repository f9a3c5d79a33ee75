"""Helpers shared by tests of several layers (h11's tests/helpers.py idea)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from ptpkit.virtual import VirtualCamera
from ptpkit.virtual.responder import OperationContext, Reply


def watch_operations(
    camera: VirtualCamera,
    record: Callable[[OperationContext], object],
    codes: Iterable[int] | None = None,
) -> None:
    """Call ``record(ctx)`` before the virtual camera answers each of ``codes`` (every operation
    it has when None): what an independent client (gphoto2) or ptpkit's own asked, in order."""
    operations = camera.operations
    for code in list(operations) if codes is None else list(codes):
        operation = operations[code]

        def watched(
            ctx: OperationContext, _handler: Callable[[OperationContext], Reply] = operation.handler
        ) -> Reply:
            record(ctx)
            return _handler(ctx)

        operations[code] = replace(operation, handler=watched)
