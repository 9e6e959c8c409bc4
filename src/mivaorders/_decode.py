"""One-pass typed decoding of response bodies with msgspec, straight into the attrs models.

A body is read twice by msgspec, both times in C:

1. a *check* pass into generated ``msgspec.Struct`` mirrors of the models with
   ``forbid_unknown_fields=True`` and the bounds of :mod:`mivaorders._bounds` (money ``|x| < 10**15``,
   64-bit ids, element counts, strict JSON types). It proves that the fast decode loses nothing: msgspec
   drops keys it does not know when it builds attrs classes, so a body with an unknown key must take the
   exact path instead;
2. the *build* pass into the attrs models themselves (``strict=False``: integers become aware UTC
   datetimes; ``__attrs_post_init__`` narrows ``0`` and ``{"time_t": …}``).

Anything the check refuses (unknown keys, odd values, an error envelope) returns ``None`` and the caller
falls back to the exact path (stdlib parse + :mod:`mivaorders._converter`), which keeps unknown keys and
reports every problem with its path. So the fast path is an optimisation with the same results, never a
second set of rules.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import attrs
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
    "str": str,
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


def _check_name(cls: type) -> str:
    return f"_Check{cls.__name__}"


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
    if spec.kind == "ts" or not spec.required:  # null wherever the exact path accepts one
        return f"{tp} | None" if isinstance(tp, str) else tp | None
    return tp


def _define_checks() -> dict[type, type[msgspec.Struct]]:
    module = sys.modules[__name__]
    # Forward references first (the models nest recursively: shipment -> items -> shipment).
    names = {cls: _check_name(cls) for cls in models.MODELS}
    checks: dict[type, type[msgspec.Struct]] = {}
    for cls in models.MODELS:
        fields: list[tuple[str, Any, Any]] = []
        for spec in _specs_of(cls):
            tp = _check_type(spec, names)
            default = msgspec.NODEFAULT if spec.required else None
            fields.append((spec.name, tp, msgspec.field(default=default, name=spec.key)))
        check = msgspec.defstruct(
            names[cls], fields, forbid_unknown_fields=True, kw_only=True, gc=False, module=__name__
        )
        setattr(module, names[cls], check)
        checks[cls] = check
    return checks


_CHECKS = _define_checks()


class _Envelope(msgspec.Struct, Generic[T]):
    success: int | bool
    data: T


class _PageData(msgspec.Struct, Generic[T]):
    total_count: _Int
    start_offset: _Int
    data: T


class PageDecoder(Generic[T]):
    """Decodes a ``{"success": 1, "data": {"total_count", "start_offset", "data": [...]}}`` body.

    ``decode(content)`` returns the :class:`Page`, or ``None`` when the body needs the exact path
    (unknown keys, a value the check refuses, an error envelope, not JSON at all).
    """

    def __init__(self, cls: type[T]) -> None:
        if cls not in _CHECKS:
            raise TypeError(f"no typed decoder for {cls!r}")
        self.cls = cls
        check = _CHECKS[cls]
        self._check = msgspec.json.Decoder(
            _Envelope[_PageData[list[check]]],  # type: ignore[valid-type]
            float_hook=Decimal,
        )
        self._build = msgspec.json.Decoder(
            _Envelope[_PageData[tuple[cls, ...]]],  # type: ignore[valid-type]
            strict=False,
            float_hook=Decimal,  # custom field values are untyped: exact there too
        )
        # A multicall answer: one envelope per operation.
        self._check_many = msgspec.json.Decoder(
            list[_Envelope[_PageData[list[check]]]],  # type: ignore[valid-type]
            float_hook=Decimal,
        )
        self._build_many = msgspec.json.Decoder(
            list[_Envelope[_PageData[tuple[cls, ...]]]],  # type: ignore[valid-type]
            strict=False,
            float_hook=Decimal,
        )

    def decode(self, content: bytes) -> Page[T] | None:
        try:
            checked = self._check.decode(content)
            envelope = self._build.decode(content)
        except (msgspec.DecodeError, ValueError, TypeError):
            return None
        if envelope.success is not True and envelope.success != 1:
            return None
        return _page(envelope.data, checked.data.data)

    def decode_many(self, content: bytes) -> list[dict[str, Any]] | None:
        """A multicall body as ``[{"success": 1, "data": Page}, ...]``, or ``None`` for the exact path."""
        try:
            checked = self._check_many.decode(content)
            envelopes = self._build_many.decode(content)
        except (msgspec.DecodeError, ValueError, TypeError):
            return None
        if any(envelope.success is not True and envelope.success != 1 for envelope in envelopes):
            return None
        return [
            {"success": 1, "data": _page(envelope.data, check.data.data)}
            for envelope, check in zip(envelopes, checked, strict=True)
        ]


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


_CUSTOM_FIELDS = {
    cls: tuple(spec.name for spec in _specs_of(cls) if spec.kind == "cfv") for cls in models.MODELS
}
_set_slot = object.__setattr__


def _page(data: _PageData[tuple[T, ...]], checked: list[Any]) -> Page[T]:
    items = data.data
    if items:
        names = _CUSTOM_FIELDS[type(items[0])]
        for name in names:
            for item, check in zip(items, checked, strict=True):
                value = getattr(check, name)
                if value is not None:
                    _set_slot(item, name, _custom_fields(value))
    return Page(items=items, total_count=data.total_count, start_offset=data.start_offset)


_DECODERS: dict[type, PageDecoder[Any]] = {}


def page_decoder(cls: type[T]) -> PageDecoder[T]:
    """The shared decoder of pages of ``cls`` (built once: msgspec compiles the types on first use)."""
    decoder = _DECODERS.get(cls)
    if decoder is None:
        decoder = _DECODERS[cls] = PageDecoder(cls)
    return decoder


def decode_hook(cls: type[T]) -> Callable[[bytes], Page[T] | None]:
    return page_decoder(cls).decode


assert all(attrs.has(cls) for cls in _CHECKS)
