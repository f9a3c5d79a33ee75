"""Extensions whose code tables (:class:`LazyCodes`), or whole modules (:class:`LazyExtension`),
load when they are chosen for a device, not when registered."""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

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


class LazyExtension(Extension):
    """A built-in extension registered before its module is imported: its ``name`` and a cheap
    ``matches()`` here, and in ``target`` (``"module:Class"``) the class that makes its
    instances, imported by :meth:`loaded` when a camera chooses it. A command to one camera then
    builds no other vendor's codecs (start-up time: the Canon EOS and Fujifilm modules took
    ~15 ms of every command). :func:`ptpkit.ext.base.extensions_for` gives the loaded class."""

    target: ClassVar[str] = ""

    @classmethod
    def loaded(cls) -> type[Extension]:
        module_name, _, class_name = cls.target.partition(":")
        factory = getattr(importlib.import_module(module_name), class_name)
        if not (isinstance(factory, type) and issubclass(factory, Extension)):
            raise TypeError(f"{cls.target} is not an Extension subclass")
        if factory.name != cls.name:
            raise TypeError(f"{cls.target} is named {factory.name!r}, registered as {cls.name!r}")
        return factory

    @classmethod
    def with_options(cls, **options: Any) -> type[Extension]:
        return cls.loaded().with_options(**options)
