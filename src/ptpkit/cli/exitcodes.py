"""Exit codes of the ``ptpkit`` command.

0, 1, 2, 102, 104 and 105 are the Go ptpip tool's, so scripts written for it keep working; the
others are ptpkit's own. The table below is printed in ``ptpkit --help`` and the README.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    UNSPECIFIED = 1
    INVALID_ARGUMENTS = 2
    #: Something the user named (a path, handle, storage or property) that the camera does not
    #: have, whether ptpkit or the camera (InvalidObjectHandle, InvalidStorageID,
    #: DevicePropNotSupported) finds out: the Go tool's "invalid arguments", as unknown names
    #: always were, so its scripts keep working.
    NOT_FOUND = 2
    CONFIG_ERROR = 102
    CANNOT_CREATE_CLIENT = 104
    CANNOT_CONNECT = 105
    #: The camera answered an operation with an error response code.
    CAMERA_ERROR = 106
    #: The link failed or the camera broke the protocol after connecting.
    LINK_ERROR = 107
    #: A local file problem (exists, cannot write).
    FILE_ERROR = 108
    #: A wait ended before what was waited for came (wait-event --timeout).
    TIMED_OUT = 109
    INTERRUPTED = 130


#: One line per code, for ``--help`` and the README.
DESCRIPTIONS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.UNSPECIFIED: "unspecified error",
    ExitCode.INVALID_ARGUMENTS: "invalid arguments (bad value); not found (no such file, "
    "handle, storage or property)",
    ExitCode.CONFIG_ERROR: "config file error (-f)",
    ExitCode.CANNOT_CREATE_CLIENT: "cannot create the client (bad camera URL or option)",
    ExitCode.CANNOT_CONNECT: "cannot connect to the camera (or no camera found)",
    ExitCode.CAMERA_ERROR: "the camera answered with an error response code",
    ExitCode.LINK_ERROR: "the link failed or the camera broke the protocol",
    ExitCode.FILE_ERROR: "local file error (file exists, cannot write)",
    ExitCode.TIMED_OUT: "timed out waiting (wait-event --timeout)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def help_table() -> str:
    """The exit codes as an aligned block (click keeps it as is after a ``\\b`` line)."""
    return "\n".join(f"  {int(code):>3}  {text}" for code, text in DESCRIPTIONS.items())
