"""The cattrs converter for Miva's order JSON: exact money, aware datetimes, nothing lost.

``converter`` is our own :class:`MivaConverter` (never ``cattrs.global_converter``).
``make_converter()`` builds a fresh one; ``configure_converter(c)`` installs the same hooks on any
cattrs ``Converter`` you own.

How decoding is fast and still exact: for every model class a structure function is generated
(``exec``, once per converter) that reads each key with an inline exact-type check and sets the
slots directly; any surprise drops to a slow interpreter over the same field table that collects
*all* problems as readable paths (``$.items[2].price: invalid decimal 'abc'``) and raises
:class:`~mivaorders.ResponseValidationError`. With ``lazy=True`` (the default) the order-level
collections are kept as parsed and structured on first access (:class:`~mivaorders._lazy.LazySequence`).

Round trip: each decoded object remembers the key order it was read in (one shared tuple per
shape) and its unknown keys (``extra``), so ``unstructure(structure(data)) == data``, key order
included; only number spelling (``5`` vs ``5.0``) and ``{"time_t": …}`` (back as the integer) differ.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError, StructureHandlerNotFoundError

from . import models
from ._exceptions import ResponseValidationError
from ._lazy import LazySequence
from ._page import Page

__all__ = [
    "MivaConverter",
    "configure_converter",
    "converter",
    "make_converter",
    "structure_list",
    "structure_model",
    "structure_order",
    "structure_page",
]

T = TypeVar("T")
Where = tuple[str | int, ...]

_UTC = timezone.utc
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


def _c_int(value: object) -> int:
    if type(value) is int:
        return value
    raise _wrong("integer", value)


def _c_str(value: object) -> str:
    if type(value) is str:
        return value
    raise _wrong("string", value)


def _c_bool(value: object) -> bool:
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return value == 1
    raise _wrong("boolean (true/false or 1/0)", value)


def _c_dec(value: object) -> Decimal:
    if type(value) is Decimal:
        if not value.is_finite():
            raise _Invalid("invalid decimal", repr(str(value)))
        return value
    if type(value) is int:
        return Decimal(value)
    if type(value) is str:
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise _Invalid("invalid decimal", _got(value)[1]) from None
        if not result.is_finite():
            raise _Invalid("invalid decimal", _got(value)[1])
        return result
    if type(value) is float:
        raise _Invalid("binary float refused for an exact number (parse with mivaorders._json.loads)")
    raise _wrong("number", value)


def _c_ts(value: object) -> datetime | None:
    if type(value) is dict and "time_t" in value:  # JSON_DateTime: only time_t is trusted
        value = value["time_t"]
    if value is None:
        return None
    if type(value) is not int:
        raise _wrong("timestamp (integer or {time_t: …})", value)
    if value == 0:
        return None
    try:
        return datetime.fromtimestamp(value, _UTC)
    except (OverflowError, OSError, ValueError):
        raise _Invalid("invalid timestamp", repr(value)) from None


def _c_strseq(value: object) -> tuple[str, ...]:
    if type(value) is not list:
        raise _wrong("array of strings", value)
    for element in value:
        if type(element) is not str:
            raise _wrong("array of strings", element)
    return tuple(value)


def _c_strmap(value: object) -> Mapping[str, str]:
    if type(value) is not dict:
        raise _wrong("object of strings", value)
    for element in value.values():
        if type(element) is not str:
            # Sensitive (decrypted payment data): say what is wrong, never the value.
            raise _Invalid("expected an object of strings")
    return value


def _cfv_value(value: Any) -> models.CustomFieldValue:
    if type(value) is list:
        return tuple([_cfv_value(element) for element in value])
    if type(value) is dict:
        return {key: _cfv_value(element) for key, element in value.items()}
    if type(value) is float:
        raise _Invalid("binary float refused for an exact number (parse with mivaorders._json.loads)")
    return value  # type: ignore[no-any-return]


def _c_cfv(value: object) -> Mapping[str, Mapping[str, models.CustomFieldValue]]:
    if type(value) is not dict:
        raise _wrong("object {module: {code: value}}", value)
    result: dict[str, Mapping[str, models.CustomFieldValue]] = {}
    for module, fields in value.items():
        if type(fields) is not dict:
            raise _wrong(f"object of field values for module {module!r}", fields)
        result[module] = {code: _cfv_value(element) for code, element in fields.items()}
    return result


def _make_c_enum(enum: type[IntEnum]) -> Callable[[object], IntEnum]:
    def convert(value: object) -> IntEnum:
        if type(value) is not int:
            raise _wrong("integer code", value)
        return enum(value)  # unknown codes become pseudo-members (models._LenientIntEnum)

    return convert


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "int": _c_int,
    "str": _c_str,
    "bool": _c_bool,
    "dec": _c_dec,
    "ts": _c_ts,
    "strseq": _c_strseq,
    "strmap": _c_strmap,
    "cfv": _c_cfv,
}


# ------------------------------------------------------------------------------------- field table
@attrs.frozen
class _Spec:
    name: str  # attribute
    key: str  # JSON key
    kind: str  # int str bool dec ts enum obj seq strseq strmap cfv
    target: Any  # enum class or model class
    required: bool
    omit: str  # never | none | empty | with
    with_: str | None
    lazy: bool
    sensitive: bool


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [arg for arg in get_args(tp) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _kind_of(tp: Any) -> tuple[str, Any]:
    if tp is bool:
        return "bool", None
    if isinstance(tp, type) and issubclass(tp, IntEnum):
        return "enum", tp
    for plain, kind in ((int, "int"), (str, "str"), (Decimal, "dec"), (datetime, "ts")):
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
            kind, target = _kind_of(tp)
        specs.append(
            _Spec(
                name=a.name,
                key=meta.get("key", a.name),
                kind=kind,
                target=target,
                required=a.default is attrs.NOTHING,
                omit=meta.get("omit", "never"),
                with_=meta.get("with"),
                lazy=bool(meta.get("lazy")),
                sensitive=bool(meta.get("sensitive")),
            )
        )
    return tuple(specs)


def _render(where: Where) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where)


# ------------------------------------------------------------------------------------------ codecs
class _Codecs:
    """The generated structure functions, field tables and shape caches of one converter."""

    def __init__(self, *, lazy: bool) -> None:
        self.lazy = lazy
        self.specs: dict[type, tuple[_Spec, ...]] = {cls: _specs_of(cls) for cls in models.MODELS}
        self.has_lazy = self._find_has_lazy()
        self.structure_fns: dict[type, Callable[[Any, Where | None], Any]] = {}
        self.list_fns: dict[type, Callable[[list[Any], Where], tuple[Any, ...]]] = {}
        for cls in models.MODELS:
            self._generate(cls)

    def _find_has_lazy(self) -> set[type]:
        result: set[type] = set()
        changed = True
        while changed:
            changed = False
            for cls, specs in self.specs.items():
                if cls in result:
                    continue
                for spec in specs:
                    if (spec.lazy and self.lazy) or (spec.kind in ("obj", "seq") and spec.target in result):
                        result.add(cls)
                        changed = True
                        break
        return result

    # -- slow path: collect every problem with its path
    def validate(self, cls: type, data: object, where: Where, errors: list[str]) -> None:
        if type(data) is not dict:
            errors.append(f"{_render(where)}: expected an object, {' '.join(_got(data)).strip()}")
            return
        for spec in self.specs[cls]:
            if spec.key not in data:
                if spec.required:
                    errors.append(f"{_render((*where, spec.key))}: required key missing")
                continue
            value = data[spec.key]
            path = (*where, spec.key)
            if value is None and (not spec.required or spec.kind == "ts"):
                continue
            try:
                if spec.kind == "obj":
                    self.validate(spec.target, value, path, errors)
                elif spec.kind == "seq":
                    if type(value) is not list:
                        raise _wrong("array", value)
                    for index, element in enumerate(value):
                        self.validate(spec.target, element, (*path, index), errors)
                elif spec.kind == "enum":
                    _make_c_enum(spec.target)(value)
                else:
                    _CONVERT[spec.kind](value)
            except _Invalid as exc:
                errors.append(f"{_render(path)}: {exc.text(spec.sensitive)}")

    def failure(self, cls: type, data: object, where: Where | None, cause: BaseException) -> Exception:
        errors: list[str] = []
        self.validate(cls, data, where or (), errors)
        if not errors:  # the fast path refused something the checks accept: report it plainly
            errors.append(f"{_render(where or ())}: cannot decode {cls.__name__} ({type(cause).__name__})")
        return ResponseValidationError(errors)

    def decode_list(self, cls: type, raw: list[Any], where: Where) -> tuple[Any, ...]:
        structure = self.structure_fns[cls]
        try:
            if cls in self.has_lazy:
                return tuple([structure(element, (*where, i)) for i, element in enumerate(raw)])
            return tuple([structure(element, None) for element in raw])
        except Exception as exc:
            errors: list[str] = []
            if type(raw) is not list:
                errors.append(f"{_render(where)}: expected an array, {' '.join(_got(raw)).strip()}")
            else:
                for i, element in enumerate(raw):
                    self.validate(cls, element, (*where, i), errors)
            if not errors:
                errors.append(f"{_render(where)}: cannot decode {cls.__name__} ({type(exc).__name__})")
            raise ResponseValidationError(errors) from None

    # -- fast path: one generated function per class
    def _generate(self, cls: type) -> None:
        specs = self.specs[cls]
        known = frozenset(spec.key for spec in specs)
        shapes: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}

        def new_shape(keys: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
            shape = (keys, tuple(key for key in keys if key not in known))
            if len(shapes) < _SHAPE_CACHE_LIMIT:  # bounded: odd inputs cannot grow it forever
                shapes[keys] = shape
            return shape

        ns: dict[str, Any] = {
            "_new": object.__new__,
            "_cls": cls,
            "_shapes": shapes,
            "_new_shape": new_shape,
            "_NO_EXTRA": _NO_EXTRA,
            "_Decimal": Decimal,
            "_fromts": datetime.fromtimestamp,
            "_UTC": _UTC,
            "_Lazy": LazySequence,
            "_fail": self.failure,
            "_set_extra": cls.__dict__["extra"].__set__,
            "_set_wire": cls.__dict__["_wire_keys"].__set__,
            "_fns": self.structure_fns,
            "_lists": self.list_fns,
        }
        ns.update({f"_c_{kind}": fn for kind, fn in _CONVERT.items()})
        lines = [
            "def structure(d, where):",
            "    try:",
            "        if type(d) is not dict:",
            "            raise TypeError",
            "        keys = tuple(d)",
            "        shape = _shapes.get(keys)",
            "        if shape is None:",
            "            shape = _new_shape(keys)",
            "        o = _new(_cls)",
            "        _set_wire(o, shape[0])",
            "        unknown = shape[1]",
            "        _set_extra(o, {k: d[k] for k in unknown} if unknown else _NO_EXTRA)",
        ]
        for index, spec in enumerate(specs):
            ns[f"_set{index}"] = cls.__dict__[spec.name].__set__
            lines.extend("        " + line for line in self._field_code(cls, index, spec, ns))
            lines.append(f"        _set{index}(o, v)")
        lines += [
            "        return o",
            "    except Exception as exc:",
            "        raise _fail(_cls, d, where, exc) from None",
        ]
        exec("\n".join(lines), ns)  # noqa: S102 -- code built from our own field table only
        self.structure_fns[cls] = ns["structure"]

    def _field_code(self, cls: type, index: int, spec: _Spec, ns: dict[str, Any]) -> list[str]:
        key = repr(spec.key)
        get = f"v = d[{key}]" if spec.required else f"v = d.get({key})"
        kind = spec.kind
        if kind in ("int", "str", "dec"):
            pytype = {"int": "int", "str": "str", "dec": "_Decimal"}[kind]
            cond = f"type(v) is not {pytype}"
            if not spec.required:
                cond = f"v is not None and {cond}"
            return [get, f"if {cond}:", f"    v = _c_{kind}(v)"]
        if kind == "bool":
            cond = "v is not True and v is not False"
            if not spec.required:
                cond = f"v is not None and {cond}"
            return [get, f"if {cond}:", "    v = _c_bool(v)"]
        if kind == "ts":
            return [
                get,
                "if type(v) is int:",
                "    v = _fromts(v, _UTC) if v else None",
                "elif v is not None:",
                "    v = _c_ts(v)",
            ]
        if kind == "enum":
            ns[f"_emap{index}"] = spec.target._value2member_map_
            ns[f"_cenum{index}"] = _make_c_enum(spec.target)
            code = [
                get,
                f"m = _emap{index}.get(v)",
                "if m is None or type(v) is not int:",
                f"    m = _cenum{index}(v)",
                "v = m",
            ]
            if not spec.required:
                code = [get, "if v is not None:", *("    " + line for line in code[1:])]
            return code
        if kind in ("strseq", "strmap", "cfv"):
            if spec.required:
                return [get, f"v = _c_{kind}(v)"]
            return [get, "if v is not None:", f"    v = _c_{kind}(v)"]
        target = spec.target
        child_where = f"(*where, {key})" if target in self.has_lazy else "None"
        if kind == "obj":
            call = f"_fns[_cls{index}](v, {child_where})"
            ns[f"_cls{index}"] = target
            if spec.required:
                return [get, f"v = {call}"]
            return [get, "if v is not None:", f"    v = {call}"]
        # seq
        ns[f"_cls{index}"] = target
        if spec.lazy and self.lazy:
            ns[f"_decode{index}"] = self._list_decoder(target)
            body = [
                "if type(v) is not list:",
                "    raise TypeError",
                f"v = _Lazy(v, _decode{index}, (*where, {key}))",
            ]
        else:
            if target in self.has_lazy:
                comp = f"[_fns[_cls{index}](x, (*where, {key}, i)) for i, x in enumerate(v)]"
            else:
                comp = f"[_fns[_cls{index}](x, None) for x in v]"
            body = ["if type(v) is not list:", "    raise TypeError", f"v = tuple({comp})"]
        if spec.omit == "empty":
            return [get, "if v is None:", "    v = ()", "else:", *("    " + line for line in body)]
        if spec.required:
            return [get, *body]
        return [get, "if v is not None:", *("    " + line for line in body)]

    def _list_decoder(self, cls: type) -> Callable[[list[Any], Where], tuple[Any, ...]]:
        decoder = self.list_fns.get(cls)
        if decoder is None:

            def decoder(raw: list[Any], where: Where) -> tuple[Any, ...]:
                return self.decode_list(cls, raw, where)

            self.list_fns[cls] = decoder
        return decoder

    # -- unstructure
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
            return int(value.timestamp())
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
    if isinstance(exc, IterableValidationError):
        lines: list[str] = []
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            lines += _error_lines(inner, f"{path}[{note.index!r}]")
        for inner in without:
            lines += _error_lines(inner, path)
        return lines
    if isinstance(exc, ClassValidationError):
        lines = []
        class_notes, others = exc.group_exceptions()
        for inner, class_note in class_notes:
            lines += _error_lines(inner, f"{path}.{class_note.name}")
        for inner in others:
            lines += _error_lines(inner, path)
        return lines
    if isinstance(exc, _Invalid):
        return [f"{path}: {exc.text(False)}"]
    if isinstance(exc, KeyError):
        return [f"{path}: required key missing"]
    return [f"{path}: {type(exc).__name__}: {exc}"]


class MivaConverter(cattrs.Converter):
    """A cattrs ``Converter`` whose ``structure`` raises :class:`ResponseValidationError` only."""

    _miva_codecs: _Codecs | None = None

    def structure(self, obj: Any, cl: type[T]) -> T:
        try:
            return super().structure(obj, cl)
        except (ResponseValidationError, StructureHandlerNotFoundError):
            raise
        except Exception as exc:
            raise ResponseValidationError(_error_lines(exc, "$")) from None


def _structure_scalar(convert: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _: Any) -> Any:
        try:
            return convert(value)
        except _Invalid as exc:
            raise ResponseValidationError([f"$: {exc.text(False)}"]) from None

    return hook


def _model_hook(structure: Callable[[Any, Where | None], Any]) -> Callable[[Any, Any], Any]:
    def hook(data: Any, _: Any) -> Any:
        return structure(data, ())

    return hook


def _is_page(tp: Any) -> bool:
    return tp is Page or get_origin(tp) is Page


def configure_converter(conv: cattrs.Converter, *, lazy: bool = True) -> None:
    """Install the Miva hooks (every model, ``Page[T]``, Decimal, datetime, status enums) on ``conv``."""
    codecs = _Codecs(lazy=lazy)
    for cls in models.MODELS:
        conv.register_structure_hook(cls, _model_hook(codecs.structure_fns[cls]))
        conv.register_unstructure_hook(cls, codecs.unstructure)
    conv.register_structure_hook(Decimal, _structure_scalar(_c_dec))
    conv.register_unstructure_hook(Decimal, lambda value: value)
    conv.register_structure_hook(datetime, _structure_scalar(_c_ts))
    conv.register_unstructure_hook(datetime, lambda value: _Codecs._encode(codecs, _TS_SPEC, value))
    conv.register_structure_hook_func(
        lambda tp: isinstance(tp, type) and issubclass(tp, IntEnum),
        lambda value, tp: _structure_scalar(_make_c_enum(tp))(value, tp),
    )
    conv.register_structure_hook_func(
        _is_page,
        lambda data, tp: _structure_page_with(codecs, data, get_args(tp)[0], None),
    )
    conv.register_unstructure_hook_func(
        _is_page,
        lambda page: {
            "total_count": page.total_count,
            "start_offset": page.start_offset,
            "data": [conv.unstructure(item) for item in page.items],
        },
    )
    conv.register_unstructure_hook(LazySequence, lambda seq: [conv.unstructure(item) for item in seq])
    if isinstance(conv, MivaConverter):
        conv._miva_codecs = codecs


_TS_SPEC = _Spec("", "", "ts", None, True, "never", None, False, False)


def make_converter(*, lazy: bool = True) -> MivaConverter:
    """A new :class:`MivaConverter` configured for Miva (``lazy=False`` decodes everything up front)."""
    conv = MivaConverter()
    configure_converter(conv, lazy=lazy)
    return conv


#: The library's converter: ``converter.structure(data, Order)``, ``converter.unstructure(order)``.
converter: MivaConverter = make_converter()


def _codecs_of(conv: MivaConverter | None) -> _Codecs:
    codecs = (conv or converter)._miva_codecs
    assert codecs is not None
    return codecs


def _with_function(exc: ResponseValidationError, function: str | None) -> ResponseValidationError:
    return exc if function is None else ResponseValidationError(exc.errors, function=function)


def structure_model(
    data: Any, cls: type[T], *, function: str | None = None, conv: MivaConverter | None = None
) -> T:
    """Decode one model object (``$`` is ``data``)."""
    codecs = _codecs_of(conv)
    try:
        result: T = codecs.structure_fns[cls](data, ())
    except ResponseValidationError as exc:
        raise _with_function(exc, function) from None
    return result


def structure_order(
    data: Any, *, function: str | None = None, conv: MivaConverter | None = None
) -> models.Order:
    """Decode one order object (a list row, a webhook body, …)."""
    return structure_model(data, models.Order, function=function, conv=conv)


def structure_list(
    data: Any, cls: type[T], *, function: str | None = None, conv: MivaConverter | None = None
) -> tuple[T, ...]:
    """Decode a JSON array of ``cls`` objects (e.g. ``OrderCustomFieldList_Load``'s ``data``)."""
    codecs = _codecs_of(conv)
    try:
        if type(data) is not list:
            raise ResponseValidationError([f"$: expected an array, {' '.join(_got(data)).strip()}"])
        return codecs.decode_list(cls, data, ())
    except ResponseValidationError as exc:
        raise _with_function(exc, function) from None


def _structure_page_with(codecs: _Codecs, data: Any, cls: type[T], function: str | None) -> Page[T]:
    errors: list[str] = []
    if type(data) is not dict:
        errors.append(f"$: expected the list object, {' '.join(_got(data)).strip()}")
    else:
        errors.extend(
            f"$.{key}: {_wrong('integer', data.get(key)).text(False)}"
            for key in ("total_count", "start_offset")
            if type(data.get(key)) is not int
        )
        if type(data.get("data")) is not list:
            errors.append(f"$.data: {_wrong('array', data.get('data')).text(False)}")
    if errors:
        raise ResponseValidationError(errors, function=function)
    try:
        items = codecs.decode_list(cls, data["data"], ("data",))
    except ResponseValidationError as exc:
        raise _with_function(exc, function) from None
    return Page(items=items, total_count=data["total_count"], start_offset=data["start_offset"])


def structure_page(
    data: Any, cls: type[T], *, function: str | None = None, conv: MivaConverter | None = None
) -> Page[T]:
    """Decode a list envelope's ``data`` object (``total_count``, ``start_offset``, ``data``)."""
    return _structure_page_with(_codecs_of(conv), data, cls, function)
