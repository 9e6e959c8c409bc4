"""Small value helpers of the simulated store: Miva's rounding, money formatting, ``JSON_DateTime``."""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
CENT = Decimal("0.01")
Z2 = Decimal("0.00")
DAY = 86400


@functools.lru_cache(maxsize=1 << 16)
def q2(value: Decimal) -> Decimal:
    """Miva's ``ROUND 2``: half-up to cents."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@functools.lru_cache(maxsize=1 << 14)
def full(value: Decimal) -> Decimal | int:
    """Full-precision values are written in minimal form (``5``, ``2.5``, ``31.4567``)."""
    if value == value.to_integral_value():
        return int(value)
    return value.normalize()


@functools.lru_cache(maxsize=1 << 16)
def money(value: Decimal) -> str:
    """The store currency formatter: ``$1,234.50`` / ``-$8.90``."""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(q2(value)):,.2f}"


def pounds(value: Decimal) -> str:
    return f"{q2(value)} pounds"


def json_datetime(t: int) -> dict[str, int]:
    """Miva's ``JSON_DateTime`` object; the calendar members are computed in UTC here."""
    dt = datetime.fromtimestamp(t, timezone.utc)
    return {
        "time_t": t,
        "year": dt.year,
        "month": dt.month,
        "day": dt.day,
        "hour": dt.hour,
        "minute": dt.minute,
        "second": dt.second,
        "timezone": 0,
    }
