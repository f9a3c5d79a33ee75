"""Code tables and vocabularies: mapping PTP/MTP codes to names and back.

A :class:`CodeSet` holds the codes one contributor defines (the PTP standard,
MTP, or one camera vendor), one table per :class:`Kind`.  A :class:`Vocabulary`
stacks several code sets, the way a session sees them: the standard codes, maybe
MTP, and the extension of the camera's vendor.  Vendor codes overlap between
vendors (0x9116 is Canon's EOS_GetEvent but means nothing to Nikon), so a name is
only meaningful within a vocabulary.

The codes and names themselves come from libgphoto2's ``camlibs/ptp2/ptp.h``
(see the data modules); this module holds no data.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = ["CodeSet", "Kind", "UnknownNameError", "Vocabulary", "format_code", "normalize_name"]

_MAX_CODE: Final = 0xFFFFFFFF
_EMPTY_ALIASES: Final[Mapping[str, int]] = MappingProxyType({})
_NORMALIZE_DROP: Final = str.maketrans("", "", "_- ")
_HEX_LITERAL: Final = re.compile(r"0[xX][0-9a-fA-F]+")
_DEC_LITERAL: Final = re.compile(r"[0-9]+")


class Kind(enum.Enum):
    """The kinds of code a PTP device speaks, each with its own code space."""

    OPERATION = "operation"
    RESPONSE = "response"
    EVENT = "event"
    PROPERTY = "property"
    """Device properties (``PTP_DPC_*``)."""
    OBJECT_PROPERTY = "object_property"
    """MTP object properties (``PTP_OPC_*``)."""
    FORMAT = "format"
    """Object formats (``PTP_OFC_*``)."""

    @property
    def label(self) -> str:
        """Human wording of the kind, e.g. ``"object property"``."""
        return self.value.replace("_", " ")


_FIELD_OF_KIND: Final[Mapping[Kind, str]] = MappingProxyType(
    {
        Kind.OPERATION: "operations",
        Kind.RESPONSE: "responses",
        Kind.EVENT: "events",
        Kind.PROPERTY: "properties",
        Kind.OBJECT_PROPERTY: "object_properties",
        Kind.FORMAT: "formats",
    }
)


def normalize_name(name: str) -> str:
    """Fold a code name for lenient matching.

    Case is ignored, and so are ``_``, ``-`` and spaces, so ``"get-device-info"``,
    ``"GET_DEVICE_INFO"`` and ``"GetDeviceInfo"`` all fold to ``"getdeviceinfo"``.
    """
    return name.translate(_NORMALIZE_DROP).casefold()


def format_code(code: int) -> str:
    """Render a code the way unknown codes are named: ``0x9999``.

    Upper-case hex digits after a lower-case ``0x``, at least four digits (more
    only for the few 32-bit codes, e.g. Nikon's ``0x1D000`` properties).
    """
    return f"0x{code:04X}"


def _check_code(code: object, where: str) -> int:
    if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code <= _MAX_CODE:
        raise ValueError(f"{where}: code {code!r} is not an integer in 0..0xFFFFFFFF")
    return code


@dataclass(frozen=True, kw_only=True, eq=False)
class CodeSet:
    """The codes one contributor defines: the PTP standard, MTP, or a vendor.

    The tables are copied into read-only mappings on construction and checked:
    every code must be an integer in 0..0xFFFFFFFF and, within one kind, no two
    codes may share a name.  ``aliases`` holds second names for codes that
    already have a primary name (ptp.h sometimes defines two names for one code);
    aliases are accepted by :meth:`Vocabulary.code` but never returned as names.

    Code sets compare and hash by identity.
    """

    name: str
    """Short identifier: ``"standard"``, ``"mtp"``, ``"canon"`` ..."""
    label: str
    """Human label: ``"PTP"``, ``"MTP"``, ``"Canon"`` ..."""
    operations: Mapping[int, str] = field(default_factory=dict)
    responses: Mapping[int, str] = field(default_factory=dict)
    events: Mapping[int, str] = field(default_factory=dict)
    properties: Mapping[int, str] = field(default_factory=dict)
    object_properties: Mapping[int, str] = field(default_factory=dict)
    formats: Mapping[int, str] = field(default_factory=dict)
    aliases: Mapping[Kind, Mapping[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, attr in _FIELD_OF_KIND.items():
            where = f"code set {self.name!r}, {kind.label}s"
            table: dict[int, str] = {}
            seen: dict[str, int] = {}
            for raw_code, name in getattr(self, attr).items():
                code = _check_code(raw_code, where)
                if not isinstance(name, str) or not name:
                    raise ValueError(f"{where}: bad name {name!r} for {format_code(code)}")
                if name in seen:
                    raise ValueError(
                        f"{where}: name {name!r} used for {format_code(seen[name])}"
                        f" and {format_code(code)}"
                    )
                seen[name] = code
                table[code] = name
            object.__setattr__(self, attr, MappingProxyType(dict(sorted(table.items()))))

        checked: dict[Kind, Mapping[str, int]] = {}
        for kind, alias_table in self.aliases.items():
            if not isinstance(kind, Kind):
                raise ValueError(f"code set {self.name!r}: alias key {kind!r} is not a Kind")
            where = f"code set {self.name!r}, {kind.label} aliases"
            primary = self.table(kind)
            primary_names = set(primary.values())
            entries: dict[str, int] = {}
            for alias, raw_code in alias_table.items():
                code = _check_code(raw_code, where)
                if code not in primary:
                    raise ValueError(
                        f"{where}: {alias!r} names {format_code(code)}, which has no primary name"
                    )
                if alias in primary_names:
                    raise ValueError(f"{where}: {alias!r} is already a primary name")
                entries[alias] = code
            if entries:
                checked[kind] = MappingProxyType(entries)
        object.__setattr__(self, "aliases", MappingProxyType(checked))

    def table(self, kind: Kind) -> Mapping[int, str]:
        """The code -> primary name table of one kind (read-only, sorted by code)."""
        table: Mapping[int, str] = getattr(self, _FIELD_OF_KIND[kind])
        return table

    def alias_table(self, kind: Kind) -> Mapping[str, int]:
        """The alias -> code table of one kind (empty when ptp.h has none)."""
        return self.aliases.get(kind, _EMPTY_ALIASES)

    def __len__(self) -> int:
        """Number of codes over all kinds (aliases not counted)."""
        return sum(len(self.table(kind)) for kind in Kind)

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{attr}={len(self.table(kind))}"
            for kind, attr in _FIELD_OF_KIND.items()
            if self.table(kind)
        )
        return f"CodeSet(name={self.name!r}, label={self.label!r}, {counts})"


class UnknownNameError(KeyError):
    """A name given to :meth:`Vocabulary.code` that the vocabulary does not know."""

    def __init__(self, kind: Kind, name: str) -> None:
        super().__init__(kind, name)
        self.kind = kind
        self.name = name

    def __str__(self) -> str:
        return f"unknown {self.kind.label} name {self.name!r}"


@dataclass(frozen=True, slots=True)
class _KindIndex:
    names: Mapping[int, str]
    exact: Mapping[str, int]
    folded: Mapping[str, int]


@functools.lru_cache(maxsize=256)
def _set_index(code_set: CodeSet, kind: Kind) -> _KindIndex:
    """Look-up tables of one kind of one code set (cached: code sets are immutable)."""
    table = code_set.table(kind)
    exact: dict[str, int] = {name: code for code, name in table.items()}
    exact.update(code_set.alias_table(kind))
    # Primary names in code order, then aliases: on a clash after folding
    # (e.g. Nikon's "ISOAuto" 0xD054 and "ISO_Auto" 0xD16A) the first one keeps
    # the folded spelling; each exact spelling still finds its own code.
    folded: dict[str, int] = {}
    for name, code in exact.items():
        folded.setdefault(normalize_name(name), code)
    return _KindIndex(table, MappingProxyType(exact), MappingProxyType(folded))


def _merge_indexes(indexes: Iterable[_KindIndex]) -> _KindIndex:
    names: dict[int, str] = {}
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    for index in indexes:
        # Code -> name: later (more specific) sets win. Name -> code: earlier sets win, so a
        # standard name keeps its standard meaning even where a vendor reuses it.
        names.update(index.names)
        for name, code in index.exact.items():
            exact.setdefault(name, code)
        for name, code in index.folded.items():
            folded.setdefault(name, code)
    return _KindIndex(MappingProxyType(names), MappingProxyType(exact), MappingProxyType(folded))


class Vocabulary:
    """The codes one context understands: standard, maybe MTP, maybe vendors.

    ``code_sets`` are stacked in order. When two sets name the same code, the
    later (more specific) set's name is used. When two sets use the same name for
    different codes of one kind, :meth:`code` returns the *earlier* set's code, so
    a standard name keeps its meaning: in a Sony vocabulary
    ``code(Kind.EVENT, "ObjectAdded")`` is the standard 0x4002, and Sony's 0xC201
    is ``"sony:ObjectAdded"``.  The exact spelling is tried before the folded one
    (case, ``_``, ``-`` and spaces ignored).

    All lookups are dictionary look-ups prepared on construction.
    """

    __slots__ = ("_by_set", "_code_sets", "_index")

    def __init__(self, code_sets: Sequence[CodeSet]) -> None:
        self._code_sets: tuple[CodeSet, ...] = tuple(code_sets)
        for code_set in self._code_sets:
            if not isinstance(code_set, CodeSet):
                raise TypeError(f"expected CodeSet, got {type(code_set).__name__}")
        self._index: dict[Kind, _KindIndex] = {
            kind: _merge_indexes(_set_index(code_set, kind) for code_set in self._code_sets)
            for kind in Kind
        }
        self._by_set: dict[str, CodeSet] = {}
        for code_set in self._code_sets:
            self._by_set[code_set.name.casefold()] = code_set

    @property
    def code_sets(self) -> tuple[CodeSet, ...]:
        """The stacked code sets, earliest (lowest priority) first."""
        return self._code_sets

    def __contains__(self, code_set: object) -> bool:
        return any(code_set is own for own in self._code_sets)

    def __repr__(self) -> str:
        return f"Vocabulary([{', '.join(s.name for s in self._code_sets)}])"

    def lookup(self, kind: Kind, code: int) -> str | None:
        """The name of ``code``, or ``None`` when no set of this vocabulary has it."""
        return self._index[kind].names.get(code)

    def name(self, kind: Kind, code: int) -> str:
        """The name of ``code``; an unknown code is rendered as hex (``"0x9999"``).

        Never raises for an integer code.
        """
        found = self._index[kind].names.get(code)
        return found if found is not None else format_code(code)

    def code(self, kind: Kind, name: str) -> int:
        """The code for ``name``.

        Accepted, in this order: a code literal (``"0x1001"`` or ``"4097"``, known
        or not, so ``code(kind, name(kind, c)) == c`` for every code ``c``); the
        exact name or an alias; the name folded as :func:`normalize_name` does
        (``"get-device-info"``); and ``"set:Name"`` to look in one code set only
        (``"canon:EOS_GetEvent"``).

        Raises :class:`UnknownNameError` when nothing matches.
        """
        text = name.strip()
        if _HEX_LITERAL.fullmatch(text) or _DEC_LITERAL.fullmatch(text):
            value = int(text, 0) if text[:2].lower() == "0x" else int(text, 10)
            if value > _MAX_CODE:
                raise UnknownNameError(kind, name)
            return value
        index = self._index[kind]
        found = index.exact.get(text)
        if found is None:
            found = index.folded.get(normalize_name(text))
        if found is None and ":" in text:
            found = self._qualified_code(kind, text)
        if found is None:
            raise UnknownNameError(kind, name)
        return found

    def _qualified_code(self, kind: Kind, text: str) -> int | None:
        set_name, _, bare = text.partition(":")
        code_set = self._by_set.get(set_name.strip().casefold())
        if code_set is None:
            return None
        index = _set_index(code_set, kind)
        bare = bare.strip()
        found = index.exact.get(bare)
        return found if found is not None else index.folded.get(normalize_name(bare))

    def names(self, kind: Kind) -> dict[int, str]:
        """The merged code -> name table of one kind, sorted by code (a new dict)."""
        return dict(sorted(self._index[kind].names.items()))

    def with_sets(self, *extra: CodeSet) -> Vocabulary:
        """A new vocabulary with ``extra`` stacked on top of this one's sets."""
        return Vocabulary(self._code_sets + extra)

    def operation_name(self, code: int) -> str:
        """:meth:`name` for an operation code."""
        return self.name(Kind.OPERATION, code)

    def response_name(self, code: int) -> str:
        """:meth:`name` for a response code."""
        return self.name(Kind.RESPONSE, code)

    def event_name(self, code: int) -> str:
        """:meth:`name` for an event code."""
        return self.name(Kind.EVENT, code)

    def property_name(self, code: int) -> str:
        """:meth:`name` for a device property code."""
        return self.name(Kind.PROPERTY, code)

    def object_property_name(self, code: int) -> str:
        """:meth:`name` for an MTP object property code."""
        return self.name(Kind.OBJECT_PROPERTY, code)

    def format_name(self, code: int) -> str:
        """:meth:`name` for an object format code."""
        return self.name(Kind.FORMAT, code)
