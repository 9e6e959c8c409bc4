"""What a real order can hold: the limits every decoder enforces, so hostile input costs bounded work.

Miva stores money and weights with at most 8 decimals in columns far below 10**15; order and line
ids are positive 64-bit integers. The element bounds are generous: a real order has tens of lines,
not tens of thousands.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = [
    "INT_MAX",
    "MAX_BODY_COMMAS",
    "MAX_BODY_CONTAINERS",
    "MAX_NESTED_ROWS",
    "MAX_ORDER_ROWS",
    "MONEY_DIGITS",
    "MONEY_LIMIT",
    "TIME_MAX",
    "TIME_MIN",
]

#: Money and weights: ``|x| < 10**MONEY_DIGITS``.
MONEY_DIGITS = 15
MONEY_LIMIT = Decimal(10) ** MONEY_DIGITS
#: Integers are signed 64-bit; ids are also >= 0 (an order's own id >= 1).
INT_MAX = 2**63 - 1
#: Elements of one order-level collection (items, payments, notes, ...).
MAX_ORDER_ROWS = 10_000
#: Elements of one nested collection (an item's options, discounts, parts, ...).
MAX_NESTED_ROWS = 1_000
#: A webhook body (one order) holds at most this many objects and arrays, and this many commas. Both are
#: counted in C before parsing, so a body of a million ``{}`` is refused without building them. A
#: 2,000-line order with a few options per line has about 200,000 commas and 10,000 objects.
MAX_BODY_CONTAINERS = 100_000
MAX_BODY_COMMAS = 300_000
#: Timestamps Python can represent as an aware datetime (years 1..9999).
TIME_MIN = -62_135_596_800
TIME_MAX = 253_402_300_799
