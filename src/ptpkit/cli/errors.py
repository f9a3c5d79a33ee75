"""Errors as the user sees them: one line (what failed, the camera's response code and name, what
to try) and an exit code. This is the only place that decides either, for the command line, the
shell and the command server alike, so a failure reads the same everywhere.
"""

from __future__ import annotations

import errno

from ptpkit.cli.exitcodes import ExitCode
from ptpkit.cli.output import printable
from ptpkit.codes.common import Rc
from ptpkit.errors import (
    ClosedError,
    ConnectError,
    DisconnectedError,
    NotFoundError,
    PTPError,
    ResponseError,
    TransportTimeout,
    UsageError,
)


class CliError(Exception):
    """A failure the command line found itself (bad config, no camera, file exists...), with the
    exit code it ends with and what to try."""

    def __init__(self, message: str, code: ExitCode, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint


class Hinted(Exception):
    """A library error with advice that only the command knows ("allowed values: ...")."""

    def __init__(self, error: BaseException, hint: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.hint = hint


#: What to try when the camera answers with these codes.
_RESPONSE_HINTS: dict[int, str] = {
    Rc.INVALID_OBJECT_HANDLE: "list the files and their handles with `ptpkit ls -R`",
    Rc.INVALID_STORAGE_ID: "list the storages with `ptpkit storage`",
    Rc.INVALID_PARENT_OBJECT: "give a folder that exists (`ptpkit ls -R`)",
    Rc.OPERATION_NOT_SUPPORTED: "this camera does not do that; `ptpkit ops` lists what it does",
    Rc.PARAMETER_NOT_SUPPORTED: "this camera does not take that parameter",
    Rc.DEVICE_PROP_NOT_SUPPORTED: "`ptpkit props` lists the properties this camera has",
    Rc.INVALID_DEVICE_PROP_VALUE: "`ptpkit describe PROP` shows the allowed values",
    Rc.INVALID_DEVICE_PROP_FORMAT: "`ptpkit describe PROP` shows the property's type",
    Rc.DEVICE_BUSY: "the camera is busy; wait a moment and try again",
    Rc.STORE_FULL: "the card is full; free some space",
    Rc.STORE_READ_ONLY: "the card is read-only (check its lock switch)",
    Rc.OBJECT_WRITE_PROTECTED: "the picture is protected; unprotect it on the camera first",
    Rc.ACCESS_DENIED: "the camera refused; check its mode (some cameras need PC or remote mode)",
    Rc.NO_THUMBNAIL_PRESENT: "this object has no thumbnail",
    Rc.STORE_NOT_AVAILABLE: "the card is not available; check it is inserted",
    Rc.SESSION_NOT_OPEN: "reconnect (another program may have closed the session)",
}
_DEFAULT_RESPONSE_HINT = "check the camera's mode and settings, or run with -v to see the exchange"


def describe_error(exc: BaseException) -> tuple[str, ExitCode]:
    """One line for the user and the exit code, for every error a command can end with."""
    message, code = _describe(exc)
    # Messages quote camera names and paths, which may hold terminal control characters.
    return printable(message), code


def _describe(exc: BaseException) -> tuple[str, ExitCode]:
    hint: str | None = None
    if isinstance(exc, Hinted):
        hint, exc = exc.hint, exc.error
    if isinstance(exc, CliError):
        return _join(exc.message, hint or exc.hint), exc.code
    if isinstance(exc, ResponseError):
        # The library's message already names the operation, the code and the code's name:
        # "GetObject failed: the camera answered 0x2009 InvalidObjectHandle".
        advice = hint or _RESPONSE_HINTS.get(exc.code, _DEFAULT_RESPONSE_HINT)
        return _join(str(exc), advice), ExitCode.CAMERA_ERROR
    if isinstance(exc, ConnectError):
        return _join(str(exc), hint), ExitCode.CANNOT_CONNECT
    if isinstance(exc, NotFoundError):
        # A path, handle, storage or property the camera does not have: one code, however it
        # was found out (ptpkit.cli.targets turns the camera's InvalidObjectHandle,
        # InvalidStorageID and DevicePropNotSupported for a named thing into NotFoundError).
        return _join(str(exc), hint), ExitCode.NOT_FOUND
    if isinstance(exc, UsageError):
        return _join(str(exc), hint), ExitCode.INVALID_ARGUMENTS
    if isinstance(exc, ClosedError):
        return _join(str(exc), hint or "the link was lost; reconnect"), ExitCode.LINK_ERROR
    if isinstance(exc, DisconnectedError):
        return (
            _join(str(exc), hint or "the camera went away (off, asleep, out of range?); reconnect"),
            ExitCode.LINK_ERROR,
        )
    if isinstance(exc, TransportTimeout):
        return (
            _join(str(exc), hint or "the camera stopped answering; check it is on and awake"),
            ExitCode.LINK_ERROR,
        )
    if isinstance(exc, PTPError):
        return _join(str(exc), hint or "run with -v to see the exchange"), ExitCode.LINK_ERROR
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc)
        if exc.filename and str(exc.filename) not in text:
            text = f"{exc.filename}: {text}"
        if exc.errno == errno.EEXIST and hint is None:
            hint = "pass --force-overwrite to replace it, or --skip-existing to keep it"
        return _join(text, hint), ExitCode.FILE_ERROR
    return f"{type(exc).__name__}: {exc}", ExitCode.UNSPECIFIED


def _join(message: str, hint: str | None) -> str:
    return f"{message} — {hint}" if hint else message
