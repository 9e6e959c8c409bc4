"""Exact JSON, as mivaorders reads and writes Miva's: ``mivaorders.json.loads`` / ``mivaorders.json.dumps``.

- :func:`loads` turns every number with a fraction or an exponent into :class:`~decimal.Decimal` (never a
  binary float); integers stay ``int``; ``NaN`` and ``Infinity`` are refused.
- :func:`dumps` writes ``Decimal`` values as JSON numbers with their exact digits, compact and ASCII-only
  (the bytes you sign are the bytes you send); tuples and sets become arrays.

Use them to save or replay orders without losing a digit::

    import mivaorders as mo

    text = mo.json.dumps(mo.converter.unstructure(order))
    order_again = mo.structure_order(mo.json.loads(text))
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeAlias

from . import _json

__all__ = ["JSONDecodeError", "JSONValue", "dumps", "loads"]

#: A parsed JSON document: objects are dicts, arrays lists, numbers with a fraction ``Decimal``.
JSONValue: TypeAlias = "dict[str, JSONValue] | list[JSONValue] | str | int | Decimal | bool | None"

#: Raised by :func:`loads` for text that is not JSON (the standard library's error; also a ``ValueError``).
JSONDecodeError = _json.JSONDecodeError

#: What :func:`dumps` accepts: JSON values, plus ``Decimal``, tuples, sets and any mapping.
JSONSerializable: TypeAlias = object


def loads(data: bytes | bytearray | memoryview | str) -> JSONValue:
    """Parse JSON exactly: fractions and exponents become ``Decimal``; integers stay ``int``.

    Raises :class:`JSONDecodeError` for malformed JSON and ``ValueError`` for ``NaN``/``Infinity``.
    """
    value: JSONValue = _json.loads(data)
    return value


def dumps(obj: JSONSerializable) -> bytes:
    """Serialise compactly to ASCII bytes; ``Decimal`` is written as a JSON number with its exact digits.

    Raises ``TypeError`` for values JSON cannot hold and ``ValueError`` for a non-finite ``Decimal``.
    """
    return _json.dumps(obj)
