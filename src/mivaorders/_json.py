"""Exact JSON for Miva: numbers with a fraction become ``Decimal``; ``Decimal`` goes out as a number.

Parsing never routes a number through binary float. Serialising writes compact ASCII-only JSON, so
the bytes that are signed are the bytes that are sent, whatever characters the data holds.
"""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any

__all__ = ["JSONDecodeError", "dumps", "loads"]

JSONDecodeError = json.JSONDecodeError


def _parse_constant(name: str) -> Any:
    # Miva never sends NaN or Infinity; refusing them keeps Decimal arithmetic honest.
    raise ValueError(f"non-standard JSON number {name}")


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse Miva JSON. Fractions and exponents become ``Decimal``; integers stay ``int``."""
    if isinstance(data, memoryview):
        data = bytes(data)
    return json.loads(data, parse_float=Decimal, parse_constant=_parse_constant)


# The C encoder calls ``default`` only for objects it does not know, so Decimals are the only values
# that cost a Python call. Each becomes a quoted marker that is unquoted afterwards. The marker holds a
# per-process random nonce, so text in the data cannot imitate it.
_NONCE = secrets.token_hex(12)
_MARK = f"@mivaorders-decimal-{_NONCE}@"
_MARKED = re.compile(re.escape(f'"{_MARK}') + r'([-+0-9.eE]+)"')


def _default(value: object) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send non-finite Decimal {value!r}")
        return f"{_MARK}{value}"
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encoder = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), allow_nan=False, default=_default
)


def dumps(obj: Any) -> bytes:
    """Serialise compactly to ASCII bytes, writing ``Decimal`` values as JSON numbers."""
    text = _encoder.encode(obj)
    if _MARK in text:
        text = _MARKED.sub(r"\1", text)
    return text.encode("ascii")
