"""A virtual Canon EOS: the personality ``canon-eos`` and the EOS operations it answers.

What makes libgphoto2 treat a camera as an EOS (camlibs/ptp2/library.c; vendors.md 1.1): the
Canon vendor extension id 0x0000000B, manufacturer "Canon", and the EOS operations in DeviceInfo
(EOS_RemoteRelease, EOS_GetEvent ...). It then sends EOS_SetRemoteMode(1), EOS_SetEventMode(1)
and polls EOS_GetEvent: the first answer is a dump of every property (PropValueChanged 0xC189 and
AvailListChanged 0xC18A records), later ones only what changed, always ending with a terminator
(vendors.md 1.2). Properties are set with EOS_SetDevicePropValueEx (vendors.md 1.5), which the
camera answers OK and reports through the next GetEvent.
"""

from __future__ import annotations

import threading
import weakref
from typing import Final

from ptpkit.codes.canon_eos_values import (
    APERTURE,
    APERTURE_PROP,
    EXPOSURE_COMP,
    EXPOSURE_COMP_PROP,
    ISO,
    ISO_PROP,
    SHUTTER,
    SHUTTER_PROP,
    WHITE_BALANCE,
    WHITE_BALANCE_PROP,
)
from ptpkit.codes.common import Op, Rc
from ptpkit.core.canon_eos import (
    AvailListChanged,
    EosRecord,
    PropKind,
    PropValueChanged,
    decode_prop_value,
    decode_set_prop_value_ex,
    encode_get_event,
    encode_prop_value,
    prop_kind,
)
from ptpkit.core.datasets import DevicePropDesc, EnumerationForm, GetSet, decode_value, encode_value
from ptpkit.core.datatypes import DataType
from ptpkit.errors import DecodeError
from ptpkit.virtual.camera import Personality, VirtualCamera
from ptpkit.virtual.operations import build_operations
from ptpkit.virtual.responder import Operation, OperationContext, Reply, error

# EOS operation codes (codes/canon.py; libgphoto2 ptp.h PTP_OC_CANON_EOS_*).
REMOTE_RELEASE: Final = 0x910F
SET_DEVICE_PROP_VALUE_EX: Final = 0x9110
SET_REMOTE_MODE: Final = 0x9114
SET_EVENT_MODE: Final = 0x9115
GET_EVENT: Final = 0x9116
KEEP_DEVICE_ON: Final = 0x911D
BATTERY_LEVEL: Final = 0x5001
DEVICE_FRIENDLY_NAME: Final = 0xD402

#: Property -> (current value, allowed values); the codes are libgphoto2 config.c's tables
#: (codes/canon_eos_values.py). ISO 100, f/5.6, 1/125 s, 0 EV, Auto white balance.
_START: Final[dict[int, tuple[int, tuple[int, ...]]]] = {
    ISO_PROP: (0x48, tuple(ISO)),
    APERTURE_PROP: (0x35, tuple(APERTURE)),
    SHUTTER_PROP: (0x6B, tuple(SHUTTER)),
    EXPOSURE_COMP_PROP: (0x00, tuple(EXPOSURE_COMP)),
    WHITE_BALANCE_PROP: (0x00, tuple(WHITE_BALANCE)),
}


class EosState:
    """The EOS properties of one virtual camera and what each connection has not seen yet."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: dict[int, bytes] = {}
        self.allowed: dict[int, tuple[int, ...]] = {}
        for prop, (value, allowed) in _START.items():
            self.current[prop] = encode_prop_value(prop, value)
            self.allowed[prop] = allowed
        # Per connection (weakly: a closed one is forgotten, and a new one never inherits an
        # old one's state): missing until its first GetEvent (then a full dump), else the
        # changed properties not yet reported, in order.
        self._pending: weakref.WeakKeyDictionary[object, list[int]] = weakref.WeakKeyDictionary()

    def codes(self) -> tuple[int, ...]:
        return tuple(sorted(self.current))

    def next_event(self, connection: object) -> list[EosRecord]:
        with self.lock:
            pending = self._pending.get(connection)
            self._pending[connection] = []
            records: list[EosRecord] = []
            if pending is None:
                for prop in self.codes():
                    records.append(PropValueChanged(prop=prop, raw=self.current[prop]))
                    records.append(AvailListChanged.of(prop, self._allowed_values(prop)))
                return records
            for prop in pending:
                records.append(PropValueChanged(prop=prop, raw=self.current[prop]))
            return records

    def _allowed_values(self, prop: int) -> list[int]:
        out = []
        for code in self.allowed[prop]:
            value = decode_prop_value(prop, encode_prop_value(prop, code))
            if isinstance(value, int):
                out.append(value)
        return out

    def set(self, prop: int, raw: bytes) -> int:
        """Set ``prop`` to ``raw``: a response code (only allowed values are taken)."""
        with self.lock:
            if prop not in self.current:
                return Rc.DEVICE_PROP_NOT_SUPPORTED
            try:
                # Compare values, not bytes: a 16-bit value may come in 2 or 4 bytes.
                value = decode_prop_value(prop, raw)
            except DecodeError:
                return Rc.INVALID_DEVICE_PROP_FORMAT
            if value not in self._allowed_values(prop):
                return Rc.INVALID_DEVICE_PROP_VALUE
            raw = encode_prop_value(prop, value)
            if raw != self.current[prop]:
                self.current[prop] = raw
                for pending in self._pending.values():
                    if prop not in pending:
                        pending.append(prop)
            return Rc.OK

    def desc(self, prop: int) -> DevicePropDesc:
        """``prop`` as a standard DevicePropDesc: libgphoto2's config.c asks GetDevicePropDesc
        for the EOS properties DeviceInfo lists (seen in its --debug log)."""
        with self.lock:
            value = decode_prop_value(prop, self.current[prop])
            assert isinstance(value, int)
            datatype = DataType.UINT16 if prop_kind(prop) is PropKind.U16 else DataType.UINT8
            return DevicePropDesc(
                code=prop,
                datatype=datatype,
                get_set=GetSet.GET_SET,
                factory_default=_START[prop][0],
                current=value,
                form=EnumerationForm(values=tuple(self._allowed_values(prop))),
            )


_STATES: weakref.WeakKeyDictionary[VirtualCamera, EosState] = weakref.WeakKeyDictionary()


def _ok(ctx: OperationContext) -> Reply:
    return Reply()


def _operations(state: EosState) -> dict[int, Operation]:
    def get_event(ctx: OperationContext) -> Reply:
        return Reply(data=encode_get_event(state.next_event(ctx.session)))

    def set_prop_value_ex(ctx: OperationContext) -> Reply:
        try:
            sent = decode_set_prop_value_ex(ctx.data)
        except DecodeError:
            return error(Rc.INVALID_DEVICE_PROP_FORMAT)
        return error(state.set(sent.prop, sent.raw))

    def remote_release(ctx: OperationContext) -> Reply:
        # Announced so libgphoto2 takes its EOS paths; capture is not part of this personality.
        return error(Rc.OPERATION_NOT_SUPPORTED)

    generic = build_operations()

    def get_prop_desc(ctx: OperationContext) -> Reply:
        if ctx.param(0) in state.current:
            return Reply(data=state.desc(ctx.param(0)).to_bytes())
        return generic[Op.GET_DEVICE_PROP_DESC].handler(ctx)

    def get_prop_value(ctx: OperationContext) -> Reply:
        if ctx.param(0) in state.current:
            d = state.desc(ctx.param(0))
            return Reply(data=encode_value(d.datatype, d.current))
        return generic[Op.GET_DEVICE_PROP_VALUE].handler(ctx)

    def set_prop_value(ctx: OperationContext) -> Reply:
        prop = ctx.param(0)
        if prop not in state.current:
            return generic[Op.SET_DEVICE_PROP_VALUE].handler(ctx)
        try:
            value = decode_value(ctx.data, state.desc(prop).datatype)
        except DecodeError:
            return error(Rc.INVALID_DEVICE_PROP_FORMAT)
        assert isinstance(value, int)
        return error(state.set(prop, encode_prop_value(prop, value)))

    handlers = {
        Op.GET_DEVICE_PROP_DESC: get_prop_desc,
        Op.SET_DEVICE_PROP_VALUE: set_prop_value,
        Op.GET_DEVICE_PROP_VALUE: get_prop_value,
        SET_REMOTE_MODE: _ok,
        SET_EVENT_MODE: _ok,
        KEEP_DEVICE_ON: _ok,
        GET_EVENT: get_event,
        SET_DEVICE_PROP_VALUE_EX: set_prop_value_ex,
        REMOTE_RELEASE: remote_release,
    }
    return {
        code: Operation(
            code=code,
            handler=handler,
            data_out=code in (SET_DEVICE_PROP_VALUE_EX, Op.SET_DEVICE_PROP_VALUE),
            sessionless=False,
            sink_factory=None,
        )
        for code, handler in handlers.items()
    }


def install(camera: VirtualCamera) -> None:
    """Give ``camera`` the EOS operations and properties (Personality.install)."""
    state = EosState()
    camera.operations.update(_operations(state))
    # A real EOS lists its vendor properties, not the standard exposure ones: libgphoto2's
    # config.c would otherwise show the standard ISO (0x500F) under "iso".
    camera.property_codes = (BATTERY_LEVEL, DEVICE_FRIENDLY_NAME, *state.codes())
    _STATES[camera] = state


def eos_state(camera: VirtualCamera) -> EosState:
    """The EOS properties of a camera made with the ``canon-eos`` personality (KeyError if not)."""
    return _STATES[camera]


def personality() -> Personality:
    """The ``canon-eos`` personality."""
    return Personality(
        manufacturer="Canon Inc.",
        model="Canon EOS 6D",
        serial_number="PTPKIT-EOS-0001",
        vendor_extension_id=0x0000000B,  # Canon (PTP_VENDOR_CANON, libgphoto2 ptp.h)
        vendor_extension_version=100,
        vendor_extension_desc="",
        install=install,
    )
