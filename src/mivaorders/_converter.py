"""The cattrs converter for Miva's order JSON: exact money, aware datetimes, nothing lost.

``converter`` is our own :class:`MivaConverter` (never ``cattrs.global_converter``).
``make_converter()`` builds a fresh one; ``configure_converter(c)`` installs the same hooks on any
cattrs ``Converter`` you own.

Two decoders share one set of rules:

- response bodies (bytes) are decoded by msgspec straight into the models
  (:mod:`mivaorders._decode`), in one pass, with a second msgspec pass that proves the body holds no
  key the models do not know and no value outside what Miva can store;
- Python objects (``converter.structure(dict, Order)``, webhook bodies, a response with unknown keys)
  go through :class:`_Builder` here: every value checked, every problem reported with its path
  (``$.items[2].price: invalid decimal 'abc'``, at most 20 lines), unknown keys kept in ``extra`` and
  the key order remembered.

Round trip: ``unstructure(structure(data)) == data`` with the key order of ``data`` (objects decoded
from bytes use the models' declared order, which is Miva's render order); only number spelling
(``5`` vs ``5.0``) and ``{"time_t": …}`` (back as the integer) differ.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
    StructureHandlerNotFoundError,
)

from . import _bounds as bounds
from . import models
from ._bounds import MONEY_DIGITS, MONEY_LIMIT
from ._exceptions import ResponseValidationError
from ._page import Page
from ._unix_time import from_unix_seconds, unix_seconds

__all__ = [
    "MivaConverter",
    "configure_converter",
    "converter",
    "make_converter",
    "structure_list",
    "structure_model",
    "structure_order",
    "structure_page",
    "unstructure_order",
]

T = TypeVar("T")
Where = tuple[str | int, ...]

_UTC = timezone.utc
_INF = float("inf")
_INT_MAX = bounds.INT_MAX
_SHAPE_CACHE_LIMIT = 512
_NO_EXTRA = models._NO_EXTRA


# ------------------------------------------------------------------------------------ value checks
class _Invalid(Exception):
    """One bad value. ``shown`` (the offending value) is dropped for sensitive fields."""

    def __init__(self, message: str, shown: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.shown = shown

    def text(self, sensitive: bool) -> str:
        return self.message if sensitive or not self.shown else f"{self.message} {self.shown}"


_JSON_NAMES = {
    bool: "boolean",
    int: "integer",
    str: "string",
    Decimal: "number",
    float: "float",
    dict: "object",
    list: "array",
    type(None): "null",
}


def _got(value: object) -> tuple[str, str]:
    name = _JSON_NAMES.get(type(value), type(value).__name__)
    if value is None or isinstance(value, (dict, list)):
        return f"got {name}", ""
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"got {name}", shown


def _wrong(expected: str, value: object) -> _Invalid:
    got, shown = _got(value)
    return _Invalid(f"expected {expected}, {got}", shown)


def _decode_int(value: object, low: int = -(2**63)) -> int:
    if type(value) is int:
        if low <= value <= _INT_MAX:
            return value
        if low > 0:
            raise _Invalid(f"expected a positive 64-bit id, got {_bounded_int(value)}")
        raise _Invalid(f"integer outside [{low}, 2**63-1]: {_bounded_int(value)}")
    raise _wrong("integer", value)


def _bounded_int(value: int) -> str:
    return str(value) if abs(value) < 10**30 else f"a {len(str(abs(value)))}-digit number"


def _text_ok(value: str) -> bool:
    # Lone surrogates ("\ud800") are valid JSON escapes but no text: UTF-8 cannot encode them, so a
    # database or file writer would fail later. isascii() is the fast path for nearly every string.
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decode_text(value: object) -> str:
    if type(value) is str:
        if _text_ok(value):
            return value
        raise _Invalid("text holds an unpaired surrogate (not encodable as UTF-8)")
    raise _wrong("string", value)


def _decode_bool(value: object) -> bool:
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return value == 1
    raise _wrong("boolean (true/false or 1/0)", value)


def _exact_float(value: float) -> Decimal:
    """A binary float from an already-parsed document, when its shortest repr is the decimal sent.

    Any decimal of at most 15 significant digits survives a round trip through binary float, so its
    shortest repr is that decimal again; beyond 15 digits the float may already have lost some.
    """
    if value != value or value in (_INF, -_INF):
        raise _Invalid("invalid decimal (NaN or Infinity)")
    result = Decimal(repr(value))
    if len(result.as_tuple().digits) > 15:
        raise _Invalid(
            "binary float with more than 15 significant digits may have lost digits "
            "(parse the body with mivaorders.json.loads)"
        )
    return result


def _money(value: Decimal, shown: str) -> Decimal:
    if not value.is_finite():
        raise _Invalid("number out of range or not finite")
    if not -MONEY_LIMIT < value < MONEY_LIMIT:
        raise _Invalid(f"number outside what Miva stores (|x| < 10**{MONEY_DIGITS})")
    return value


def _decode_decimal(value: object) -> Decimal:
    if type(value) is Decimal:
        return _money(value, repr(str(value))[:40])
    if type(value) is int:
        if -MONEY_LIMIT < value < MONEY_LIMIT:
            return Decimal(value)
        raise _Invalid(f"number outside what Miva stores (|x| < 10**{MONEY_DIGITS})")
    if type(value) is str:
        shown = _got(value)[1]
        try:
            result = Decimal(value)
        except (InvalidOperation, ValueError):
            raise _Invalid("invalid decimal", shown) from None
        return _money(result, shown)
    if type(value) is float:
        return _money(_exact_float(value), "")
    raise _wrong("number", value)


def _decode_datetime(value: object) -> datetime | None:
    if type(value) is dict and "time_t" in value:  # JSON_DateTime: only time_t is trusted
        value = value["time_t"]
    if value is None:
        return None
    if type(value) is not int:
        raise _wrong("timestamp (integer or {time_t: …})", value)
    try:
        return from_unix_seconds(value)
    except ValueError:
        raise _Invalid("invalid timestamp", repr(value)) from None


def _decode_strings(value: object) -> tuple[str, ...]:
    if type(value) is not list:
        raise _wrong("array of strings", value)
    for element in value:
        _decode_text(element)
    return tuple(value)


def _decode_string_map(value: object) -> Mapping[str, str]:
    if type(value) is not dict:
        raise _wrong("object of strings", value)
    for element in value.values():
        if type(element) is not str:
            # Sensitive (decrypted payment data): say what is wrong, never the value.
            raise _Invalid("expected an object of strings")
    if not all(_text_ok(element) for element in value.values()):
        raise _Invalid("text holds an unpaired surrogate (not encodable as UTF-8)")
    return value


def _cfv_value(value: Any) -> models.CustomFieldValue:
    if type(value) is list:
        return tuple([_cfv_value(element) for element in value])
    if type(value) is dict:
        return {key: _cfv_value(element) for key, element in value.items()}
    if type(value) is float:
        return _exact_float(value)
    _check_scalar(value)
    return value  # type: ignore[no-any-return]


def _check_scalar(value: object) -> None:
    """Text must be encodable and numbers usable, even where the models keep them untyped."""
    if type(value) is str and not _text_ok(value):
        raise _Invalid("text holds an unpaired surrogate (not encodable as UTF-8)")
    if type(value) is Decimal and not value.is_finite():
        raise _Invalid("number out of range or not finite")


def _plain(value: Any, where: Where, problems: _Problems) -> Any:
    """An unknown key's value, kept as JSON: floats made exact, text checked, nothing else changed."""
    kind = type(value)
    if kind is dict:
        return {key: _plain(element, (*where, key), problems) for key, element in value.items()}
    if kind is list:
        return [_plain(element, (*where, i), problems) for i, element in enumerate(value)]
    try:
        if kind is float:
            return _exact_float(value)
        _check_scalar(value)
    except _Invalid as exc:
        problems.add(where, exc.text(False))
    return value


def _decode_custom_field_values(value: object) -> Mapping[str, Mapping[str, models.CustomFieldValue]]:
    if type(value) is not dict:
        raise _wrong("object {module: {code: value}}", value)
    result: dict[str, Mapping[str, models.CustomFieldValue]] = {}
    for module, fields in value.items():
        if type(fields) is not dict:
            raise _wrong(f"object of field values for module {module!r}", fields)
        result[module] = {code: _cfv_value(element) for code, element in fields.items()}
    return result


def _enum_decoder(enum: type[IntEnum]) -> Callable[[object], IntEnum]:
    def convert(value: object) -> IntEnum:
        if type(value) is not int:
            raise _wrong("integer code", value)
        return enum(value)  # unknown codes become pseudo-members (models._LenientIntEnum)

    return convert


_DECODE_BY_KIND: dict[str, Callable[[Any], Any]] = {
    "int": _decode_int,
    "str": _decode_text,
    "bool": _decode_bool,
    "dec": _decode_decimal,
    "ts": _decode_datetime,
    "strseq": _decode_strings,
    "strmap": _decode_string_map,
    "cfv": _decode_custom_field_values,
}


# ------------------------------------------------------------------------------------- field table
#: How a field is decoded: a scalar (``int``, ``str`` text, ``bool``, ``dec`` Decimal, ``ts`` a Unix
#: timestamp, ``enum`` a status code), a nested model (``obj``) or a tuple of them (``seq``), a tuple of
#: strings (``strseq``), a string map (``strmap``) or the custom-field values (``cfv``).
DecodeKind = Literal["int", "str", "bool", "dec", "ts", "enum", "obj", "seq", "strseq", "strmap", "cfv"]


@attrs.frozen
class _Spec:
    """How one model field is read from and written to Miva's JSON."""

    name: str  # attribute
    key: str  # JSON key
    kind: DecodeKind
    target: Any  # enum class or model class
    required: bool
    omit: str  # never | none | empty | with
    with_: str | None
    sensitive: bool
    low: int = -(2**63)  # smallest integer accepted (ids: 0, an order's own id: 1)
    max_len: int = 0  # element bound of a collection


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [arg for arg in get_args(tp) if arg is not type(None)]
        if datetime in args:
            return datetime  # models._Time: a timestamp, however Miva spells it
        if len(args) == 1:
            return args[0]
    return tp


def _decoding_kind(tp: Any) -> tuple[DecodeKind, Any]:
    """The decoding kind of a field annotation, and its target (enum or model class) when it has one."""
    if tp is bool:
        return "bool", None
    if isinstance(tp, type) and issubclass(tp, IntEnum):
        return "enum", tp
    plain_kinds: tuple[tuple[type, DecodeKind], ...] = (
        (int, "int"),
        (str, "str"),
        (Decimal, "dec"),
        (datetime, "ts"),
    )
    for plain, kind in plain_kinds:
        if tp is plain:
            return kind, None
    if isinstance(tp, type) and attrs.has(tp):
        return "obj", tp
    if get_origin(tp) in (tuple, Sequence):
        (element, *_) = get_args(tp)
        if element is str:
            return "strseq", None
        if isinstance(element, type) and attrs.has(element):
            return "seq", element
    raise TypeError(f"no Miva decoding rule for {tp!r}")


def _specs_of(cls: type) -> tuple[_Spec, ...]:
    specs = []
    for a in attrs.fields(cls):
        meta = a.metadata
        kind = meta.get("kind")
        if kind in ("extra", "wire_keys"):
            continue
        tp = _strip_optional(a.type)
        target = None
        if kind is None:
            kind, target = _decoding_kind(tp)
        low = -(2**63)
        if a.name == "id" or a.name.endswith("_id"):
            low = 1 if (cls is models.Order and a.name == "id") else 0
        specs.append(
            _Spec(
                name=a.name,
                key=meta.get("key", a.name),
                kind=kind,
                target=target,
                required=a.default is attrs.NOTHING,
                omit=meta.get("omit", "never"),
                with_=meta.get("with"),
                sensitive=bool(meta.get("sensitive")),
                low=low,
                max_len=bounds.MAX_ORDER_ROWS if cls is models.Order else bounds.MAX_NESTED_ROWS,
            )
        )
    return tuple(specs)


def _render(where: Where) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where)


# ---------------------------------------------------------------------------------------- problems
class _Problems:
    """The problems of one decode: the first few kept as ``$.path: message`` lines, the rest counted.

    Counting stops too (``STOP``): a hostile body of a million empty objects costs a bounded walk,
    not a million error lines.
    """

    KEEP = 20
    STOP = 1000

    __slots__ = ("count", "lines")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    @property
    def full(self) -> bool:
        return self.count >= self.STOP

    def add(self, where: Where, message: str) -> None:
        self.count += 1
        if len(self.lines) < self.KEEP:
            self.lines.append(f"{_render(where)}: {message}")

    def error(self, function: str | None = None) -> ResponseValidationError:
        lines = list(self.lines)
        more = self.count - len(lines)
        if more > 0:
            lines.append(f"... and {more}{'+' if self.full else ''} more")
        return ResponseValidationError(lines, function=function)


# ------------------------------------------------------------------------------------------ builder
_Shape = tuple[tuple[str, ...], tuple[str, ...]]


class _Builder:
    """Validates a parsed JSON value against the models and builds them, collecting bounded problems.

    This is the decoder for Python objects (``converter.structure(dict, Order)``, webhooks, responses
    with keys the models do not know). Bytes from Miva take :mod:`mivaorders._decode` (msgspec) first.
    """

    def __init__(self) -> None:
        self.specs: dict[type, tuple[_Spec, ...]] = {cls: _specs_of(cls) for cls in models.MODELS}
        self.known: dict[type, frozenset[str]] = {
            cls: frozenset(spec.key for spec in specs) for cls, specs in self.specs.items()
        }
        self.setters: dict[type, tuple[Callable[[Any, Any], None], ...]] = {
            cls: tuple(cls.__dict__[spec.name].__set__ for spec in specs) for cls, specs in self.specs.items()
        }
        self.shapes: dict[type, dict[tuple[str, ...], _Shape]] = {cls: {} for cls in models.MODELS}

    def _shape(self, cls: type, data: dict[str, Any]) -> _Shape:
        keys = tuple(data)
        cache = self.shapes[cls]
        shape = cache.get(keys)
        if shape is None:
            known = self.known[cls]
            shape = (keys, tuple(key for key in keys if key not in known))
            if len(cache) < _SHAPE_CACHE_LIMIT:  # bounded: odd inputs cannot grow it forever
                cache[keys] = shape
        return shape

    def build(self, cls: type, data: object, where: Where, problems: _Problems) -> Any:
        if type(data) is not dict:
            problems.add(where, f"expected an object, {' '.join(_got(data)).strip()}")
            return None
        obj: Any = object.__new__(cls)
        before = problems.count
        for spec, setter in zip(self.specs[cls], self.setters[cls], strict=True):
            if problems.full:
                return None
            if spec.key not in data:
                if spec.required:
                    problems.add((*where, spec.key), "required key missing")
                    continue
                value = () if spec.omit == "empty" else None
            else:
                value = self._value(spec, data[spec.key], (*where, spec.key), problems)
            setter(obj, value)
        keys, unknown = self._shape(cls, data)
        extra = _NO_EXTRA
        if unknown:
            extra = {key: _plain(data[key], (*where, key), problems) for key in unknown}
        if problems.count > before:
            return None
        cls.__dict__["extra"].__set__(obj, extra)
        cls.__dict__["_wire_keys"].__set__(obj, keys)
        return obj

    def build_list(self, cls: type, data: object, where: Where, problems: _Problems, limit: int) -> Any:
        if type(data) is not list:
            problems.add(where, f"expected an array, {' '.join(_got(data)).strip()}")
            return None
        if limit and len(data) > limit:
            problems.add(where, f"too many elements ({len(data)}; an order has at most {limit})")
            return None
        return tuple([self.build(cls, element, (*where, i), problems) for i, element in enumerate(data)])

    def _value(self, spec: _Spec, value: Any, where: Where, problems: _Problems) -> Any:
        kind = spec.kind
        if value is None and (kind == "ts" or not spec.required):
            return () if spec.omit == "empty" else None
        try:
            if kind == "obj":
                return self.build(spec.target, value, where, problems)
            if kind == "seq":
                return self.build_list(spec.target, value, where, problems, spec.max_len)
            if kind == "int":
                return _decode_int(value, spec.low)
            if kind == "enum":
                return _enum_decoder(spec.target)(value)
            return _DECODE_BY_KIND[kind](value)
        except _Invalid as exc:
            problems.add(where, exc.text(spec.sensitive))
            return None


class _Encoder:
    """Models back to Miva's JSON (key order as read, unknown keys in place)."""

    def __init__(self, builder: _Builder) -> None:
        self.specs = builder.specs

    def unstructure(self, obj: Any) -> dict[str, Any]:
        wire = obj._wire_keys
        values: dict[str, Any] = {}
        for spec in self.specs[type(obj)]:
            value = getattr(obj, spec.name)
            omit = spec.omit
            if omit == "none":
                if value is None:
                    continue
            elif omit == "empty":
                if not value and not (wire and spec.key in wire):
                    continue
            elif (
                omit == "with" and getattr(obj, spec.with_ or "") is None and not (wire and spec.key in wire)
            ):
                continue
            values[spec.key] = self._encode(spec, value)
        extra = obj.extra
        if wire is None:
            for key, value in extra.items():
                values.setdefault(key, _copy_json(value))
            return values
        out: dict[str, Any] = {}
        for key in wire:
            if key in values:
                out[key] = values.pop(key)
            elif key in extra:
                out[key] = _copy_json(extra[key])
        out.update(values)  # fields set after decoding, absent from the original
        for key, value in extra.items():
            if key not in out:
                out[key] = _copy_json(value)
        return out

    def _encode(self, spec: _Spec, value: Any) -> Any:
        kind = spec.kind
        if kind == "enum":
            return int(value)
        if kind == "ts":
            if value is None:
                return 0
            if value.tzinfo is None:
                value = value.replace(tzinfo=_UTC)
            return unix_seconds(value)
        if kind == "obj":
            return self.unstructure(value)
        if kind == "seq":
            return [self.unstructure(element) for element in value]
        if kind == "strseq":
            return list(value)
        if kind in ("strmap", "cfv"):
            return _copy_json(value)
        return value


def _copy_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _copy_json(element) for key, element in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_json(element) for element in value]
    return value


# --------------------------------------------------------------------------------------- converter
def _rebase(message: str, path: str) -> str:
    return path + message[1:] if message.startswith("$") else f"{path}: {message}"


def _error_lines(exc: BaseException, path: str) -> list[str]:
    """Flatten cattrs' exception groups (and our own errors) into ``$.path: message`` lines."""
    if isinstance(exc, ResponseValidationError):
        return [_rebase(line, path) for line in exc.errors]
    if isinstance(exc, (IterableValidationError, ClassValidationError)):
        lines: list[str] = []
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            # The note says where the failure sits: an index in a list, or a field of a class.
            step = f"[{note.index!r}]" if isinstance(note, IterableValidationNote) else f".{note.name}"
            lines += _error_lines(inner, path + step)
        for inner in without:
            lines += _error_lines(inner, path)
        return lines
    if isinstance(exc, _Invalid):
        return [f"{path}: {exc.text(False)}"]
    if isinstance(exc, KeyError):
        return [f"{path}: required key missing"]
    return [f"{path}: {type(exc).__name__}: {exc}"]


class MivaConverter(cattrs.Converter):
    """A cattrs ``Converter`` whose ``structure`` raises :class:`ResponseValidationError` only."""

    _miva_builder: _Builder | None = None

    def structure(self, obj: Any, cl: type[T]) -> T:
        try:
            return super().structure(obj, cl)
        except (ResponseValidationError, StructureHandlerNotFoundError):
            raise
        except Exception as exc:
            lines = _error_lines(exc, "$")
            if len(lines) > _Problems.KEEP:
                lines = [*lines[: _Problems.KEEP], f"... and {len(lines) - _Problems.KEEP} more"]
            raise ResponseValidationError(lines) from None


def _structure_scalar(convert: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _: Any) -> Any:
        try:
            return convert(value)
        except _Invalid as exc:
            raise ResponseValidationError([f"$: {exc.text(False)}"]) from None

    return hook


def _model_hook(builder: _Builder, cls: type) -> Callable[[Any, Any], Any]:
    def hook(data: Any, _: Any) -> Any:
        return _build_one(builder, data, cls, None)

    return hook


def _is_page(tp: Any) -> bool:
    return tp is Page or get_origin(tp) is Page


def configure_converter(conv: cattrs.Converter) -> None:
    """Install the Miva hooks (every model, ``Page[T]``, Decimal, datetime, status enums) on ``conv``."""
    builder = _Builder()
    encoder = _Encoder(builder)
    for cls in models.MODELS:
        conv.register_structure_hook(cls, _model_hook(builder, cls))
        conv.register_unstructure_hook(cls, encoder.unstructure)
    conv.register_structure_hook(Decimal, _structure_scalar(_decode_decimal))
    conv.register_unstructure_hook(Decimal, lambda value: value)
    conv.register_structure_hook(datetime, _structure_scalar(_decode_datetime))
    conv.register_unstructure_hook(datetime, lambda value: encoder._encode(_TS_SPEC, value))
    conv.register_structure_hook_func(
        lambda tp: isinstance(tp, type) and issubclass(tp, IntEnum),
        lambda value, tp: _structure_scalar(_enum_decoder(tp))(value, tp),
    )
    conv.register_structure_hook_func(
        _is_page,
        lambda data, tp: _structure_page_with(builder, data, get_args(tp)[0], None),
    )
    conv.register_unstructure_hook_func(
        _is_page,
        lambda page: {
            "total_count": page.total_count,
            "start_offset": page.start_offset,
            "data": [conv.unstructure(item) for item in page.items],
        },
    )
    if isinstance(conv, MivaConverter):
        conv._miva_builder = builder


_TS_SPEC = _Spec("", "", "ts", None, True, "never", None, False)


def make_converter() -> MivaConverter:
    """A new :class:`MivaConverter` configured for Miva."""
    conv = MivaConverter()
    configure_converter(conv)
    return conv


#: The library's converter: ``converter.structure(data, Order)``, ``converter.unstructure(order)``.
converter: MivaConverter = make_converter()

# What the library itself decodes and writes with when no converter is passed. Private, so hooks a user
# registers on the public ``converter`` never change what webhooks parse or sinks store.
_BUILDER = _Builder()
_ENCODER = _Encoder(_BUILDER)


def _builder_of(conv: MivaConverter | None) -> _Builder:
    builder = _BUILDER if conv is None else conv._miva_builder
    assert builder is not None
    return builder


def unstructure_order(order: models.Order) -> dict[str, Any]:
    """The order as Miva's JSON object (what ``converter.unstructure(order)`` gives, whatever its hooks)."""
    return _ENCODER.unstructure(order)


def _build_one(builder: _Builder, data: Any, cls: type[T], function: str | None) -> T:
    problems = _Problems()
    result: T = builder.build(cls, data, (), problems)
    if problems.count:
        raise problems.error(function)
    return result


def structure_model(
    data: Any, cls: type[T], *, function: str | None = None, conv: MivaConverter | None = None
) -> T:
    """Decode one model object (``$`` is ``data``)."""
    return _build_one(_builder_of(conv), data, cls, function)


def structure_order(
    data: Any, *, function: str | None = None, conv: MivaConverter | None = None
) -> models.Order:
    """Decode one order object (a list row, a webhook body, …)."""
    return structure_model(data, models.Order, function=function, conv=conv)


def structure_list(
    data: Any, cls: type[T], *, function: str | None = None, conv: MivaConverter | None = None
) -> tuple[T, ...]:
    """Decode a JSON array of ``cls`` objects (e.g. ``OrderCustomFieldList_Load``'s ``data``)."""
    problems = _Problems()
    result: tuple[T, ...] = _builder_of(conv).build_list(cls, data, (), problems, 0)
    if problems.count:
        raise problems.error(function)
    return result


def _structure_page_with(builder: _Builder, data: Any, cls: type[T], function: str | None) -> Page[T]:
    problems = _Problems()
    if type(data) is not dict:
        problems.add((), f"expected the list object, {' '.join(_got(data)).strip()}")
    else:
        for key in ("total_count", "start_offset"):
            if type(data.get(key)) is not int:
                problems.add((key,), _wrong("integer", data.get(key)).text(False))
        if type(data.get("data")) is not list:
            problems.add(("data",), _wrong("array", data.get("data")).text(False))
    if problems.count:
        raise problems.error(function)
    items = builder.build_list(cls, data["data"], ("data",), problems, 0)
    if problems.count:
        raise problems.error(function)
    return Page(items=items, total_count=data["total_count"], start_offset=data["start_offset"])


def structure_page(
    data: Any, cls: type[T], *, function: str | None = None, conv: MivaConverter | None = None
) -> Page[T]:
    """Decode a list envelope's ``data`` object (``total_count``, ``start_offset``, ``data``).

    An already-decoded :class:`Page` (what the client's one-pass decoder hands back) passes through.
    """
    if isinstance(data, Page):
        return data
    return _structure_page_with(_builder_of(conv), data, cls, function)
