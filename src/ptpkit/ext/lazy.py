"""Extensions whose code tables load when they are chosen for a device, not when registered."""

from __future__ import annotations

import importlib
from typing import ClassVar

from ptpkit.codes import CodeSet
from ptpkit.ext.base import Extension


class _CodesOfModule:
    """``code_sets`` read from ``ptpkit.codes.<codes_module>`` on first use, on the class or an
    instance (a non-data descriptor: an instance or subclass can still assign its own)."""

    def __get__(self, obj: object, owner: type[LazyCodes]) -> tuple[CodeSet, ...]:
        if not owner.codes_module:
            return ()
        module = importlib.import_module(f"ptpkit.codes.{owner.codes_module}")
        return (module.CODES,)


class LazyCodes(Extension):
    """An extension whose code table (``ptpkit.codes.<codes_module>``) loads when the extension
    is chosen for a device, not when it is registered: a command to one camera does not build
    every vendor's table (start-up time)."""

    #: The module's name in ptpkit.codes; none (a VendorExtension subclassed elsewhere): no codes.
    codes_module: ClassVar[str] = ""
    code_sets = _CodesOfModule()
