"""Device properties: their codes, descriptions, values and the text people write for them.

Each step asks the camera's extensions first, in order (vendor, then MTP), and does standard
PTP when none answers (issue 12): the property list (DeviceInfo's, plus what an extension adds),
the description (GetDevicePropDesc, or a Canon EOS's event cache), the current value, setting it
(SetDevicePropValue, or the vendor's operation), and the values' text (``f/5.6``, ``1/125``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from ptpkit._log import get_logger
from ptpkit.client import operations as ops
from ptpkit.codes import Kind, UnknownNameError, Vocabulary
from ptpkit.codes.common import Op
from ptpkit.codes.properties import (
    STANDARD_CATALOG,
    PropertyCatalog,
    PropertySpec,
    ValueParseError,
    parse_plain,
)
from ptpkit.core.datasets import DeviceInfo, DevicePropDesc, EnumerationForm, RangeForm
from ptpkit.core.datatypes import DataType, Value
from ptpkit.errors import DecodeError, PTPError, ResponseError, UsageError
from ptpkit.ext.base import Extension

log = get_logger("ptpkit")

_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True)
class PropertyDescription:
    """A device property: its description from the camera and how to read its values."""

    code: int
    #: The name in the camera's vocabulary ("ExposureIndex").
    name: str
    desc: DevicePropDesc
    spec: PropertySpec | None = None
    #: The camera's extensions' value formatting (:meth:`Extension.format_value`, asked in
    #: order), tried before the spec's: None when no extension formats this value.
    formatter: Callable[[int, Value], str | None] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def friendly_name(self) -> str:
        return self.spec.name if self.spec else self.name

    @property
    def label(self) -> str:
        return self.spec.label if self.spec else self.name

    @property
    def datatype(self) -> DataType:
        return self.desc.datatype

    @property
    def writable(self) -> bool:
        return self.desc.writable

    @property
    def current(self) -> Value:
        return self.desc.current

    @property
    def allowed(self) -> tuple[Value, ...] | None:
        """The values an enumeration form allows (None for other forms)."""
        form = self.desc.form
        return form.values if isinstance(form, EnumerationForm) else None

    @property
    def range(self) -> RangeForm | None:
        form = self.desc.form
        return form if isinstance(form, RangeForm) else None

    def format(self, value: Value) -> str:
        if self.formatter is not None:
            text = self.formatter(self.code, value)
            if text is not None:
                return text
        return self.spec.format(value) if self.spec else STANDARD_CATALOG.format(self.code, value)

    @property
    def current_text(self) -> str:
        return self.format(self.current)

    def allowed_text(self) -> str:
        """The allowed values as people would type them."""
        if self.allowed is not None:
            return ", ".join(self.format(v) for v in self.allowed)
        if self.range is not None:
            r = self.range
            return (
                f"{self.format(r.minimum)} .. {self.format(r.maximum)} step {self.format(r.step)}"
            )
        return "any value of type " + self.datatype.short_name


class _Camera(Protocol):
    """What the property service uses of its camera (declared here: camera.py imports this)."""

    extensions: list[Extension]
    vocabulary: Vocabulary
    catalog: PropertyCatalog

    @property
    def device_info(self) -> DeviceInfo: ...

    def supports(self, operation: int | str) -> bool: ...

    def _ask(self, hook: Callable[[Extension], _T | None]) -> _T | None: ...

    def _call(self, operation: ops.Operation[_T]) -> _T: ...

    def _require_engine(self) -> object: ...


class Properties:
    """The property service of one camera."""

    def __init__(self, camera: _Camera) -> None:
        self._camera = camera
        #: Each property's data type, from its description (GetDevicePropValue's answer is
        #: decoded by it).
        self._datatypes: dict[int, DataType] = {}

    def property_code(self, prop: int | str) -> int:
        """The code of a property given by code, friendly name ("iso"), PTP name
        ("ExposureIndex") or hex ("0x500F")."""
        return property_code(
            prop, self._camera.catalog, self._camera.vocabulary, self.property_codes
        )

    def property_codes(self) -> tuple[int, ...]:
        """Every property the camera has: DeviceInfo's list, then those its extensions add
        (:meth:`Extension.property_codes`: a Canon EOS reports some only in its events)."""
        codes = dict.fromkeys(self._camera.device_info.device_properties_supported)
        for extension in self._camera.extensions:
            codes.update(dict.fromkeys(extension.property_codes() or ()))
        return tuple(codes)

    def describe_property(self, prop: int | str) -> PropertyDescription:
        """A property's description: from the first extension that describes it (a Canon EOS's
        event cache), else GetDevicePropDesc."""
        # Checked here, not only by a transaction: an extension may answer from its cache.
        self._camera._require_engine()
        code = self.property_code(prop)
        desc = self._camera._ask(lambda extension: extension.describe_property(code))
        if desc is None:
            desc = self._camera._call(ops.get_device_prop_desc(code))
        self._datatypes[code] = desc.datatype
        return describe(
            code, desc, self._camera.vocabulary, self._camera.catalog, self._format_value
        )

    def _format_value(self, code: int, value: Value) -> str | None:
        """A value as the camera's extensions write it, or None (the catalog's way then)."""
        return self._camera._ask(lambda extension: extension.format_value(code, value))

    def properties(self) -> list[PropertyDescription]:
        """Every property the camera lists, described (one that fails to describe is skipped)."""
        out = []
        for code in self.property_codes():
            try:
                out.append(self.describe_property(code))
            except (ResponseError, DecodeError) as exc:
                log.info("property 0x%04X could not be described: %s", code, exc)
        return out

    def _datatype(self, code: int) -> DataType:
        if code not in self._datatypes:
            self.describe_property(code)
        return self._datatypes[code]

    def get_property(self, prop: int | str) -> Value:
        """The current value, decoded by the property's data type."""
        self._camera._require_engine()  # a closed camera's cached values are not its values
        code = self.property_code(prop)
        desc = self._camera._ask(lambda extension: extension.describe_property(code))
        if desc is not None:
            # The extension knows the value (from its event cache): no transaction.
            self._datatypes[code] = desc.datatype
            return desc.current
        datatype = self._datatype(code)
        if not self._camera.supports(Op.GET_DEVICE_PROP_VALUE):
            return self.describe_property(code).current
        return self._camera._call(ops.get_device_prop_value(code, datatype))

    def get_property_text(self, prop: int | str) -> str:
        code = self.property_code(prop)
        value = self.get_property(code)
        text = self._format_value(code, value)
        return text if text is not None else self._camera.catalog.format(code, value)

    def set_property(self, prop: int | str, value: Value, *, check: bool = True) -> None:
        """Set a property. ``value`` is the raw value, or text people would type ("1/125",
        "f/5.6", "+1/3", "daylight", "now"). With ``check``, a value outside the camera's allowed
        values is refused here with the list of allowed ones."""
        description = self.describe_property(prop)
        raw, operation = value_to_set(
            description, value, check=check, extensions=self._camera.extensions
        )
        for extension in self._camera.extensions:
            # The vendor's way first (Canon EOS SetDevicePropValueEx), in order.
            if extension.set_property(description.code, raw, description.datatype):
                return
        self._camera._call(operation)

    def _parse_value(self, description: PropertyDescription, value: Value) -> Value:
        return parse_value(description, value, self._camera.extensions)


def property_code(
    prop: int | str,
    catalog: PropertyCatalog,
    vocabulary: Vocabulary,
    have: Callable[[], Collection[int]],
) -> int:
    """The code of a property given by code, friendly name ("iso"), PTP name ("ExposureIndex")
    or hex ("0x500F"); ``have`` gives the camera's properties (asked only when one name means
    several: standard and vendor)."""
    if isinstance(prop, int):
        return prop
    candidates = catalog.candidates(prop)
    if len(candidates) > 1:
        # One name, several properties (standard and vendor): the one this camera has.
        codes = set(have())
        for spec in candidates:
            if spec.code in codes:
                return spec.code
    if candidates:
        return candidates[0].code
    try:
        return vocabulary.code(Kind.PROPERTY, prop)
    except UnknownNameError:
        known = ", ".join(catalog.names())
        raise UsageError(f"unknown property {prop!r} (friendly names: {known})") from None


def describe(
    code: int,
    desc: DevicePropDesc,
    vocabulary: Vocabulary,
    catalog: PropertyCatalog,
    formatter: Callable[[int, Value], str | None] | None = None,
) -> PropertyDescription:
    """The description of property ``code`` from its DevicePropDesc."""
    return PropertyDescription(
        code=code,
        name=vocabulary.property_name(code),
        desc=desc,
        spec=catalog.get(code),
        formatter=formatter,
    )


def value_to_set(
    description: PropertyDescription,
    value: Value,
    *,
    check: bool,
    extensions: Sequence[Extension] = (),
) -> tuple[Value, ops.Operation[None]]:
    """The raw value for setting a property to ``value`` (raw, or text people would type),
    and the SetDevicePropValue that sets it the standard way. With ``check``, a read-only
    property or a value outside the allowed ones is a UsageError listing the allowed ones; a
    value the property's type cannot hold always is."""
    if check and not description.writable:
        # Checked here like the allowed values: the camera would only answer AccessDenied.
        raise UsageError(f"{description.friendly_name} is read-only on this camera")
    raw = parse_value(description, value, extensions)
    if check and not description.desc.allows(raw):
        raise UsageError(
            f"{description.friendly_name} cannot be {_show(description, value)}; "
            f"allowed: {description.allowed_text()}"
        )
    try:
        # Encoded first whoever sets it: a value its type cannot hold is refused here.
        operation = ops.set_device_prop_value(description.code, description.datatype, raw)
    except PTPError as exc:
        raise UsageError(f"{description.friendly_name}: {exc}") from None
    return raw, operation


def _show(description: PropertyDescription, value: Value) -> str:
    return value if isinstance(value, str) else description.format(value)


def parse_value(
    description: PropertyDescription, value: Value, extensions: Sequence[Extension] = ()
) -> Value:
    """The raw value for what the caller passed: raw values pass through; text is matched
    against the allowed values as they are shown, then parsed by the property's spec."""
    if not isinstance(value, str):
        return value
    # The extensions' reading first (EOS "f/5.6" is an encoded byte, not 560).
    for extension in extensions:
        parsed_by_extension = extension.parse_value(description.code, value, description.allowed)
        if parsed_by_extension is not None:
            return parsed_by_extension
    spec = description.spec
    if description.datatype is DataType.STR and (spec is None or spec.parser is None):
        return value
    if description.allowed is not None:
        for allowed in description.allowed:
            if description.format(allowed).lower() == value.strip().lower():
                return allowed
        # "0.3" is the "+0.3" the allowed list shows (333): shown forms round, so a value
        # also matches the allowed one whose shown form reads as it does.
        if spec is not None:
            matched = spec.match(value, description.allowed)
            if matched is not None:
                return matched
    try:
        parsed = spec.parse(value) if spec is not None else parse_plain(value)
    except ValueParseError as exc:
        raise UsageError(str(exc)) from None
    if description.datatype is not DataType.STR and isinstance(parsed, str):
        raise UsageError(
            f"{value!r} is not a value of {description.friendly_name}; "
            f"allowed: {description.allowed_text()}"
        )
    return parsed
