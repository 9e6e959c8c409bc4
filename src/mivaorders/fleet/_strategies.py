"""A store's sync strategy as JSON in the database, and back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from mivaorders._exceptions import ArgumentError
from mivaorders.incremental import ByDateRange, ByLastUpdate, ByOrderNumber, ByQueue

__all__ = ["FleetStrategy", "strategy_from_json", "strategy_to_json"]

FleetStrategy = ByLastUpdate | ByOrderNumber | ByDateRange | ByQueue

_KINDS: dict[str, type[Any]] = {
    "last_update": ByLastUpdate,
    "order_number": ByOrderNumber,
    "date_range": ByDateRange,
    "queue": ByQueue,
}


def _kind(strategy: object) -> str:
    for kind, cls in _KINDS.items():
        if type(strategy) is cls:
            return kind
    raise ArgumentError(
        "a fleet store's strategy must be ByLastUpdate, ByOrderNumber, ByDateRange or ByQueue "
        f"(it is stored in the database), not {type(strategy).__name__}"
    )


def strategy_to_json(strategy: FleetStrategy | None) -> dict[str, Any]:
    chosen: FleetStrategy = ByLastUpdate() if strategy is None else strategy
    kind = _kind(chosen)
    fields: dict[str, Any] = {}
    for field in attrs.fields(type(chosen)):
        if field.name == "clock":
            continue  # a function: every worker uses the real clock
        value = getattr(chosen, field.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, timedelta):
            value = value.total_seconds()
        elif isinstance(value, tuple):
            value = list(value)
        fields[field.name] = value
    return {"kind": kind, "fields": fields}


def strategy_from_json(data: dict[str, Any]) -> FleetStrategy:
    cls = _KINDS.get(str(data.get("kind")))
    if cls is None:
        raise ArgumentError(f"unknown stored strategy {data.get('kind')!r}")
    defaults = cls() if cls is not ByQueue else None
    fields: dict[str, Any] = {}
    for name, value in dict(data.get("fields", {})).items():
        current = getattr(defaults, name, None)
        if isinstance(current, datetime):
            value = datetime.fromisoformat(value)
        elif isinstance(current, timedelta):
            value = timedelta(seconds=float(value))
        elif isinstance(value, list):
            value = tuple(value)
        fields[name] = value
    strategy: FleetStrategy = cls(**fields)
    return strategy
