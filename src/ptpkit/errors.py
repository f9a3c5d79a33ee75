"""One exception tree for everything ptpkit raises, split by who is at fault.

::

    PTPError
    ├── ProtocolError             the rules of PTP / PTP-IP were broken
    │   ├── LocalProtocolError    the caller asked for something illegal now
    │   └── RemoteProtocolError   the device sent something illegal (bad length, wrong id)
    │       └── DecodeError       a container, packet or dataset could not be parsed (.offset)
    ├── ResponseError             the device answered with a code other than OK
    │   ├── DeviceBusyError, SessionError, OperationNotSupportedError, InvalidParameterError,
    │   │   ObjectError, StorageError, AccessDeniedError, PropertyError, CaptureError
│   │   └── FocusError        the camera could not focus (it said so: a code or a status)
    │   └── CancelledResponse     (also a TransactionCancelled) the device answered 0x201F
    ├── TransactionCancelled      the transaction was cancelled (by us or by the device)
    ├── TransportError            below the protocol; mapped once at the transport edge
    │   ├── TransportTimeout
    │   ├── ConnectError          incl. PTP/IP InitFail, permission denied, interface claimed
    │   │   └── ConnectTimeout    (also a TransportTimeout)
    │   └── DisconnectedError
    ├── ClosedError               the camera or connection was used after close
    └── BusyError                 a second transaction was started while one is under way

Transports map their own exceptions (OSError, usb.core.USBError ...) into this tree once, with
``raise ... from exc``, so callers only ever catch ``PTPError`` subclasses.
"""

from __future__ import annotations

from collections.abc import Sequence


class PTPError(Exception):
    """Root of every error ptpkit raises on purpose."""


# -- protocol ------------------------------------------------------------------------------------


class ProtocolError(PTPError):
    """The rules of PTP or PTP/IP were broken, by us or by the device."""


class LocalProtocolError(ProtocolError):
    """The caller asked for something that is illegal in the current state."""


class RemoteProtocolError(ProtocolError):
    """The device sent something illegal: a bad length, a wrong transaction id, a stray packet."""


class DecodeError(RemoteProtocolError):
    """Bytes from the device could not be parsed. ``offset`` is where parsing stopped."""

    def __init__(self, message: str, *, offset: int | None = None, what: str | None = None) -> None:
        self.offset = offset
        self.what = what
        text = f"cannot decode {what}: {message}" if what else message
        if offset is not None:
            text += f" (at offset {offset})"
        super().__init__(text)


# -- responses -----------------------------------------------------------------------------------


class ResponseError(PTPError):
    """The device answered an operation with a response code other than OK (0x2001)."""

    #: Response codes this class stands for; used to pick the subclass for a code.
    codes: tuple[int, ...] = ()

    def __init__(
        self,
        code: int,
        *,
        name: str | None = None,
        operation: int | None = None,
        operation_name: str | None = None,
        params: Sequence[int] = (),
    ) -> None:
        self.code = code
        self.name = name or f"0x{code:04X}"
        self.operation = operation
        self.operation_name = operation_name
        self.params = tuple(params)
        what = operation_name or (f"0x{operation:04X}" if operation is not None else "operation")
        super().__init__(f"{what} failed: the camera answered 0x{code:04X} {self.name}")


class DeviceBusyError(ResponseError):
    """The device is busy (0x2019); retrying later usually helps."""

    codes = (0x2019,)


class SessionError(ResponseError):
    """No session, one already open, or a transaction id the device did not accept."""

    codes = (0x2003, 0x2004, 0x201E)  # SessionNotOpen, InvalidTransactionID, SessionAlreadyOpen


class OperationNotSupportedError(ResponseError):
    """The device does not support this operation, parameter or specification."""

    # OperationNotSupported, ParameterNotSupported, SpecificationByFormatUnsupported,
    # UnknownVendorCode, SpecificationOfDestinationUnsupported
    codes = (0x2005, 0x2006, 0x2014, 0x2017, 0x2020)


class InvalidParameterError(ResponseError):
    """A parameter or dataset was refused."""

    # InvalidParameter, NoValidObjectInfo, InvalidCodeFormat, InvalidEnumHandle, NoStreamEnabled,
    # InvalidDataSet
    codes = (0x201D, 0x2015, 0x2016, 0x2021, 0x2022, 0x2023)


class ObjectError(ResponseError):
    """The object handle or format is wrong, the object is protected or has no thumbnail."""

    # InvalidObjectHandle, InvalidObjectFormatCode, ObjectWriteProtected, NoThumbnailPresent,
    # PartialDeletion, InvalidParentObject
    codes = (0x2009, 0x200B, 0x200D, 0x2010, 0x2012, 0x201A)


class StorageError(ResponseError):
    """The storage id is wrong, or the store is full, read-only or not available."""

    codes = (0x2008, 0x200C, 0x200E, 0x2013)  # InvalidStorageID, StoreFull, StoreReadOnly, ...


class AccessDeniedError(ResponseError):
    """The device refused access (0x200F)."""

    codes = (0x200F,)


class PropertyError(ResponseError):
    """A device property is unsupported, or its value or format was refused."""

    # DevicePropNotSupported, InvalidDevicePropFormat, InvalidDevicePropValue
    codes = (0x200A, 0x201B, 0x201C)


class CaptureError(ResponseError):
    """Capture was already terminated (0x2018)."""

    codes = (0x2018,)


class FocusError(CaptureError):
    """The camera could not focus (a half press, or the autofocus before a shot), as it
    reported: ``code`` is what it answered, a vendor response code or the value of its focus
    status property (Fujifilm's AF status 0xD209 = 3); ``name`` says what that means."""


class TransactionCancelled(PTPError):
    """The transaction was cancelled, by us (cancel()) or by the device (TransactionCancelled)."""


class CancelledResponse(TransactionCancelled, ResponseError):
    """The device answered TransactionCancelled (0x201F)."""

    codes = (0x201F,)


_RESPONSE_CLASSES: tuple[type[ResponseError], ...] = (
    DeviceBusyError,
    SessionError,
    OperationNotSupportedError,
    InvalidParameterError,
    ObjectError,
    StorageError,
    AccessDeniedError,
    PropertyError,
    CaptureError,
    CancelledResponse,
)


def response_error_class(code: int) -> type[ResponseError]:
    """The most specific ResponseError subclass for a response code."""
    for cls in _RESPONSE_CLASSES:
        if code in cls.codes:
            return cls
    return ResponseError


# -- the rest ------------------------------------------------------------------------------------


class TransportError(PTPError):
    """A failure below the protocol: sockets, USB, the link itself."""


class TransportTimeout(TransportError):
    """Nothing arrived within the time allowed. The message says what was waited for."""


class ConnectError(TransportError):
    """The camera could not be reached or refused the connection (incl. PTP/IP InitFail)."""


class ConnectTimeout(ConnectError, TransportTimeout):
    """Connecting (or the PTP/IP handshake) did not finish in time."""


class DisconnectedError(TransportError):
    """The connection or the device went away."""


class ClosedError(PTPError):
    """The camera or connection was used after it was closed."""


class BusyError(PTPError):
    """A transaction was started while another one is still under way on the same session."""


class UsageError(PTPError, ValueError):
    """The caller passed something that cannot work: an unknown property name, a value the
    property cannot take, a folder where a file is needed."""


class NotFoundError(UsageError, LookupError):
    """No object or storage answers to that path or name on this camera."""
