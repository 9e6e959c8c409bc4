"""Unix seconds, the store's clock: the one conversion each way to and from aware UTC datetimes.

Miva stores times as whole Unix seconds and renders ``0`` for "never"; the models hold aware UTC
datetimes and ``None`` for "never".
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["from_unix_seconds", "unix_seconds"]


def unix_seconds(moment: datetime | None) -> int:
    """``moment`` as whole Unix seconds (the fraction dropped, as Miva keeps it); ``0`` for ``None``."""
    return 0 if moment is None else int(moment.timestamp())


def from_unix_seconds(value: int) -> datetime | None:
    """The aware UTC datetime of ``value`` Unix seconds; ``None`` for ``0``.

    Raises ``ValueError("invalid timestamp")`` for a number no datetime can hold.
    """
    if value == 0:
        return None
    try:
        return datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError("invalid timestamp") from None
