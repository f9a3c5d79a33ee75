"""Exit codes of the ``ptpkit`` command (the first five are the Go ptpip tool's)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    UNSPECIFIED = 1
    INVALID_ARGUMENTS = 2
    CONFIG_ERROR = 102
    CANNOT_CREATE_CLIENT = 104
    CANNOT_CONNECT = 105
    #: The camera answered an operation with an error response code.
    CAMERA_ERROR = 106
    #: The link failed or the camera broke the protocol after connecting.
    LINK_ERROR = 107
    #: A local file problem (exists, cannot write).
    FILE_ERROR = 108
    INTERRUPTED = 130
