"""Exact JSON for Miva: numbers with a fraction become ``Decimal``; ``Decimal`` goes out as a number.

Parsing never routes a number through binary float. Serialising writes compact ASCII-only JSON, so
the bytes that are signed are the bytes that are sent, whatever characters the data holds.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["JSONDecodeError", "RawJSON", "dumps", "loads"]

JSONDecodeError = json.JSONDecodeError


def _parse_constant(name: str) -> Any:
    # Miva never sends NaN or Infinity; refusing them keeps Decimal arithmetic honest.
    raise ValueError(f"non-standard JSON number {name}")


class _DecimalCache(dict[str, Decimal]):
    """One ``Decimal`` per distinct number spelling within one document.

    Decimals are immutable, so sharing is safe; a page repeats ``0.0`` and friends thousands of
    times, and sharing them makes a decoded page smaller and the parse no slower (hits stay in C).
    """

    __slots__ = ()

    def __missing__(self, text: str) -> Decimal:
        try:
            value = Decimal(text)
        except InvalidOperation:
            # An exponent beyond what Decimal can hold (``1e99999999999999999999``). It becomes NaN, which
            # JSON cannot spell otherwise (NaN literals are refused), so the decoder that meets it can
            # refuse it with its path ("number out of range").
            value = _OUT_OF_RANGE
        self[text] = value
        return value


_OUT_OF_RANGE = Decimal("NaN")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse Miva JSON. Fractions and exponents become ``Decimal``; integers stay ``int``.

    Public as :func:`mivaorders.json.loads`: parse a webhook body with it (instead of ``json.loads``)
    and no number ever passes through binary float. A number whose exponent no ``Decimal`` can hold
    becomes ``Decimal('NaN')``, which every model field refuses with its path.
    """
    if isinstance(data, memoryview):
        data = bytes(data)
    return json.loads(data, parse_float=_DecimalCache().__getitem__, parse_constant=_parse_constant)


# The C encoder calls ``default`` only for objects it does not know, so Decimals are the only values
# that cost a Python call. Each becomes a quoted marker that is unquoted afterwards. The marker holds a
# per-process random nonce, so text in the data cannot imitate it.
_NONCE = secrets.token_hex(12)
_MARK = f"@mivaorders-decimal-{_NONCE}@"
_MARKED = re.compile(re.escape(f'"{_MARK}') + r'([-+0-9.eE]+)"')


class RawJSON:
    """Already-encoded JSON (ASCII bytes) that :func:`dumps` splices in verbatim.

    The simulated store uses it to cache each rendered order instead of re-encoding it per request.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"RawJSON({len(self.data)} bytes)"


_RAW_MARK = f"@mivaorders-raw-{_NONCE}@"
_RAW_MARKED = re.compile(re.escape(f'"{_RAW_MARK}') + r'([0-9]+)"')


class _Encoding:
    """Per-call state: the raw fragments met while encoding one document."""

    __slots__ = ("raw",)

    def __init__(self) -> None:
        self.raw: list[bytes] = []


def _default(value: object, state: _Encoding | None = None) -> Any:
    if isinstance(value, RawJSON):
        if state is None:
            raise TypeError("RawJSON is only valid inside dumps()")
        state.raw.append(value.data)
        return f"{_RAW_MARK}{len(state.raw) - 1}"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send non-finite Decimal {value!r}")
        return f"{_MARK}{value}"
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    """Serialise compactly to ASCII bytes, writing ``Decimal`` values as JSON numbers.

    Public as :func:`mivaorders.json.dumps`; ``mivaorders.json.dumps(converter.unstructure(order))`` writes an
    order back exactly as Miva spells it (money as numbers with their digits, not strings).

    :class:`RawJSON` values are spliced in as they are.
    """
    state = _Encoding()
    encoder = json.JSONEncoder(
        ensure_ascii=True,
        separators=(",", ":"),
        allow_nan=False,
        default=lambda value: _default(value, state),
    )
    text = encoder.encode(obj)
    if _MARK in text:
        text = _MARKED.sub(r"\1", text)
    if not state.raw:
        return text.encode("ascii")
    parts: list[bytes] = []
    last = 0
    for match in _RAW_MARKED.finditer(text):
        parts.append(text[last : match.start()].encode("ascii"))
        parts.append(state.raw[int(match.group(1))])
        last = match.end()
    parts.append(text[last:].encode("ascii"))
    return b"".join(parts)
