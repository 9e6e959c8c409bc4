"""One-pass typed decoding of response bodies with msgspec, straight into the attrs models.

A body is read twice by msgspec, both times in C:

1. a *check* pass into generated ``msgspec.Struct`` mirrors of the models with
   ``forbid_unknown_fields=True`` and the bounds of :mod:`mivaorders._bounds` (money ``|x| < 10**15``,
   64-bit ids, element counts, strict JSON types). It proves that the build loses nothing: msgspec drops
   keys it does not know when it builds attrs classes. It also reads ``CustomField_Values``;
2. the *build* pass into the attrs models themselves (``strict=False``: integers become aware UTC
   datetimes; ``__attrs_post_init__`` narrows ``0`` and ``{"time_t": …}``).

When the check fails, a lenient check (the same without the unknown-key rule) tells the two cases apart:
unknown keys only, and the page is still built in one pass, with the unknown keys read from an untyped
parse and attached (``_Extras``); anything else (a bad value, an error envelope, not JSON) returns ``None``
and the caller takes the exact path (``mivaorders.json.loads`` + :mod:`mivaorders._converter`), which
reports every problem with its path. The property tests check that both paths give the same models, so
the fast path is an optimisation, never a second set of rules.
"""

from __future__ import annotations

import sys
import types
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from . import _bounds as bounds
from . import models
from ._converter import _Spec, _specs_of
from ._page import Page

__all__ = ["PageDecoder", "page_decoder"]

T = TypeVar("T")

_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=bounds.INT_MAX)]
_Ref = Annotated[int, msgspec.Meta(ge=0, le=bounds.INT_MAX)]
_Id = Annotated[int, msgspec.Meta(ge=1, le=bounds.INT_MAX)]
# A float is only the check's view of a number (the build pass reads the exact Decimal); the bound is a
# coarse filter, and values near it are settled exactly by the slow path.
_Money = Annotated[float, msgspec.Meta(gt=-float(bounds.MONEY_LIMIT), lt=float(bounds.MONEY_LIMIT))]
_Flag = bool | Annotated[int, msgspec.Meta(ge=0, le=1)]
_TimeT = Annotated[int, msgspec.Meta(ge=bounds.TIME_MIN, le=bounds.TIME_MAX)]


class _JsonDateTimeCheck(msgspec.Struct, gc=False):
    time_t: _TimeT


_SCALARS: dict[str, Any] = {
    # Text is only skipped here (Raw: no string is built); the build pass reads it as str, which
    # refuses anything else and any invalid escape (an unpaired surrogate).
    "str": msgspec.Raw,
    "bool": _Flag,
    "dec": _Money,
    "ts": _TimeT | _JsonDateTimeCheck,
    "enum": _Int,
    "strseq": list[str],
    "strmap": dict[str, str],
    # msgspec builds attrs classes by attribute name, so ``CustomField_Values`` (attribute
    # ``custom_field_values``) is read by the check pass and copied over (see _with_custom_fields).
    "cfv": dict[str, dict[str, Any]],
}


def _check_type(spec: _Spec, names: dict[type, str]) -> Any:
    """The check pass's type for one field (nested models by name: they refer to each other)."""
    tp: Any
    if spec.kind == "int":
        tp = {1: _Id, 0: _Ref}.get(spec.low, _Int)
    elif spec.kind == "obj":
        tp = names[spec.target]
    elif spec.kind == "seq":
        tp = f"Annotated[list[{names[spec.target]}], msgspec.Meta(max_length={spec.max_len})]"
    else:
        tp = _SCALARS[spec.kind]
    if tp is msgspec.Raw:  # takes any value, null included
        return tp
    if spec.kind == "ts" or not spec.required:  # null wherever the exact path accepts one
        return f"{tp} | None" if isinstance(tp, str) else tp | None
    return tp


def _define_checks(prefix: str, *, forbid_unknown: bool) -> dict[type, type[msgspec.Struct]]:
    module = sys.modules[__name__]
    # Named module globals: the models nest recursively (shipment -> items -> shipment), so the
    # field types refer to each other by name and msgspec resolves them in this module.
    names = {cls: f"{prefix}{cls.__name__}" for cls in models.MODELS}
    checks: dict[type, type[msgspec.Struct]] = {}
    for cls in models.MODELS:
        fields: list[tuple[str, Any, Any]] = []
        for spec in _specs_of(cls):
            tp = _check_type(spec, names)
            default = msgspec.NODEFAULT if spec.required else None
            fields.append((spec.name, tp, msgspec.field(default=default, name=spec.key)))
        check = msgspec.defstruct(
            names[cls], fields, forbid_unknown_fields=forbid_unknown, kw_only=True, gc=False, module=__name__
        )
        setattr(module, names[cls], check)
        checks[cls] = check
    return checks


#: The check pass: strict types, bounds, and no key the models do not know.
_CHECKS = _define_checks("_Check", forbid_unknown=True)
#: The same without the unknown-key rule: run only when the strict check fails, to tell "unknown keys,
#: otherwise fine" (decoded fast, extras attached) from "something is wrong" (the exact path says what).
_LENIENT = _define_checks("_Lenient", forbid_unknown=False)


class _Envelope(msgspec.Struct, Generic[T]):
    success: int | bool
    data: T


class _PageData(msgspec.Struct, Generic[T]):
    total_count: _Int
    start_offset: _Int
    data: T


_DECODE_ERRORS = (msgspec.DecodeError, ValueError, TypeError)
_untyped = msgspec.json.Decoder(float_hook=Decimal)
_set_slot = object.__setattr__


def _ok(success: int | bool) -> bool:
    return success is True or (success == 1 and success is not False)


class _Extras:
    """Puts back what the build pass drops: unknown keys (``extra``, with the key order) and
    ``CustomField_Values`` (msgspec builds attrs classes by attribute name, and that attribute is
    ``custom_field_values``). Walks objects, not values: one set difference per object."""

    def __init__(self) -> None:
        specs = {cls: _specs_of(cls) for cls in models.MODELS}
        self.known = {cls: frozenset(spec.key for spec in cls_specs) for cls, cls_specs in specs.items()}
        self.children = {
            cls: tuple(
                (spec.name, spec.key, spec.kind == "seq", spec.target)
                for spec in cls_specs
                if spec.kind in ("obj", "seq")
            )
            for cls, cls_specs in specs.items()
        }
        self.custom = {
            cls: tuple((spec.name, spec.key) for spec in cls_specs if spec.kind == "cfv")
            for cls, cls_specs in specs.items()
        }

    def custom_fields(self, cls: type, obj: Any, data: dict[str, Any]) -> None:
        for name, key in self.custom[cls]:
            value = data.get(key)
            if value is not None:
                _set_slot(obj, name, _custom_fields(value))

    def attach(self, cls: type, obj: Any, data: dict[str, Any]) -> None:
        unknown = data.keys() - self.known[cls]
        if unknown:
            _set_slot(obj, "extra", {key: value for key, value in data.items() if key in unknown})
            _set_slot(obj, "_wire_keys", tuple(data))  # so the unknown keys go back where they were
        self.custom_fields(cls, obj, data)
        for name, key, many, target in self.children[cls]:
            child = getattr(obj, name)
            if child is None:
                continue
            raw = data.get(key)
            if many:
                for element, element_data in zip(child, raw or (), strict=True):
                    self.attach(target, element, element_data)
            elif raw is not None:
                self.attach(target, child, raw)


_EXTRAS = _Extras()


def _decoders(rows: Any, **options: Any) -> tuple[msgspec.json.Decoder[Any], msgspec.json.Decoder[Any]]:
    """Decoders of one page envelope and of a multicall's list of them, with ``rows`` as ``data``."""
    envelope: Any = _Envelope
    page_data: Any = _PageData
    one = envelope[page_data[rows]]
    return msgspec.json.Decoder(one, **options), msgspec.json.Decoder(
        types.GenericAlias(list, (one,)), **options
    )


class PageDecoder(Generic[T]):
    """Decodes a ``{"success": 1, "data": {"total_count", "start_offset", "data": [...]}}`` body.

    ``decode(content)`` returns the :class:`Page`, or ``None`` when the body needs the exact path
    (a value the check refuses, an error envelope, not JSON at all). A body whose only surprise is
    keys the models do not know is still decoded here: built in one pass, then the unknown keys are
    read from an untyped parse and attached (see the decode benchmark for what that costs).
    """

    def __init__(self, cls: type[T]) -> None:
        if cls not in _CHECKS:
            raise TypeError(f"no typed decoder for {cls!r}")
        self.cls = cls
        # The check pass also reads CustomField_Values (untyped there, exact with float_hook).
        self._check, self._check_many = _decoders(
            types.GenericAlias(list, (_CHECKS[cls],)), float_hook=Decimal
        )
        self._lenient, self._lenient_many = _decoders(types.GenericAlias(list, (_LENIENT[cls],)))
        # float_hook: custom field values are untyped; exact there too.
        self._build, self._build_many = _decoders(
            types.GenericAlias(tuple, (cls, ...)), strict=False, float_hook=Decimal
        )

    def decode(self, content: bytes) -> Page[T] | None:
        try:
            checked = self._check.decode(content)
        except _DECODE_ERRORS:
            return self._decode_with_unknown_keys(content)
        try:
            envelope = self._build.decode(content)
        except _DECODE_ERRORS:
            return None
        if not _ok(envelope.success):
            return None
        return self._checked_page(envelope.data, checked.data.data)

    def decode_many(self, content: bytes) -> list[dict[str, Any]] | None:
        """A multicall body as ``[{"success": 1, "data": Page}, ...]``, or ``None`` for the exact path."""
        checked: Any = None
        raw: Any = None
        try:
            try:
                checked = self._check_many.decode(content)
            except _DECODE_ERRORS:
                self._lenient_many.decode(content)  # unknown keys only, or the exact path
                raw = _untyped.decode(content)
            envelopes = self._build_many.decode(content)
        except _DECODE_ERRORS:
            return None
        if not all(_ok(envelope.success) for envelope in envelopes):
            return None
        pages = []
        for i, envelope in enumerate(envelopes):
            if checked is not None:
                page = self._checked_page(envelope.data, checked[i].data.data)
            else:
                page = self._page_with_extras(envelope.data, raw[i]["data"]["data"])
            pages.append({"success": 1, "data": page})
        return pages

    def _decode_with_unknown_keys(self, content: bytes) -> Page[T] | None:
        try:
            self._lenient.decode(content)  # anything but unknown keys wrong: the exact path reports it
            envelope = self._build.decode(content)
            raw = _untyped.decode(content)
        except _DECODE_ERRORS:
            return None
        if not _ok(envelope.success):
            return None
        return self._page_with_extras(envelope.data, raw["data"]["data"])

    def _checked_page(self, data: _PageData[tuple[T, ...]], checked: list[Any]) -> Page[T]:
        items = data.data
        for name, _ in _EXTRAS.custom[self.cls]:  # only orders carry CustomField_Values
            for item, check in zip(items, checked, strict=True):
                value = getattr(check, name)
                if value is not None:
                    _set_slot(item, name, _custom_fields(value))
        return Page(items=items, total_count=data.total_count, start_offset=data.start_offset)

    def _page_with_extras(self, data: _PageData[tuple[T, ...]], rows: list[Any]) -> Page[T]:
        items = data.data
        for item, row in zip(items, rows, strict=True):
            _EXTRAS.attach(self.cls, item, row)
        return Page(items=items, total_count=data.total_count, start_offset=data.start_offset)


def _freeze(value: Any) -> Any:
    # Custom field values as the exact path builds them: arrays become tuples.
    if type(value) is list:
        return tuple([_freeze(element) for element in value])
    if type(value) is dict:
        return {key: _freeze(element) for key, element in value.items()}
    return value


def _custom_fields(value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        module: {code: _freeze(element) for code, element in fields.items()}
        for module, fields in value.items()
    }


_DECODERS: dict[type, PageDecoder[Any]] = {}


def page_decoder(cls: type[T]) -> PageDecoder[T]:
    """The shared decoder of pages of ``cls`` (built once: msgspec compiles the types on first use)."""
    decoder = _DECODERS.get(cls)
    if decoder is None:
        decoder = _DECODERS[cls] = PageDecoder(cls)
    return decoder
