"""The simulated store's shipment functions (order-functions.md §6), as Miva's server source has them.

- ``OrderItemList_CreateShipment`` is **not idempotent**: every call makes a new shipment. Line ids of
  another order are skipped silently; only when none belongs does it fail (``MER-JSN-ORD-00057``).
- ``OrderShipmentList_Update`` **overwrites** ``tracknum``, ``tracktype`` and ``cost`` on every element:
  an omitted one becomes ``""`` / 0. ``mark_shipped`` sets status 200 and the ship date, once. Unknown
  shipment ids are skipped silently.
- ``OrderShipmentList_Load_Query`` is a list query over shipments (``id``, ``order_id``, ``code``, ...,
  and the order's columns as ``order_<column>``).

Every change recalculates the order's status and bumps its ``dt_updated``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from ._answers import Envelope, error, validation_error
from ._data import ZERO, ItemRecord, OrderRecord, StoreData, money, q2
from ._params import Params
from ._query import (
    Column,
    Group,
    Node,
    _build_group,
    as_text,
    column,
    fold,
    parse_list_params,
)
from ._render import Columns, full_shipment, parse_columns, render_item, render_order
from ._workflow import QueueSet

__all__ = ["create_shipment", "load_shipments", "update_shipments"]


# Lines that take part in shipping: not digital, not cancelled, not returned.
_SHIPPABLE = frozenset({0, 100, 200, 201, 400})
_INT = frozenset({"id", "order_id", "status", "ship_date", "batch_id", "labelcount"})
_NUM = frozenset({"weight", "cost"})
_TEXT = frozenset({"code", "tracknum", "tracktype"})


class _Row:
    """One shipment with its order, as the list query sees it."""

    __slots__ = ("order", "shp")

    def __init__(self, order: OrderRecord, shp: dict[str, Any]) -> None:
        self.order = order
        self.shp = shp


def _missing(field: str) -> Envelope:
    return error(
        "MER-JSN-00023",
        "One or more parameters are invalid",
        validation_error=True,
        error_field=field,
        error_field_message="Missing required parameter",
        input_errors=True,
        error_fields=[{"error_field": field, "error_message": "Missing required parameter"}],
    )


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return None


def _truth(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def recalculate_status(order: OrderRecord) -> None:
    """The order's status from its lines (what Miva recomputes after shipment changes)."""
    lines = [it for it in order.items if it.row["status"] in _SHIPPABLE]
    if not lines:
        return
    shipped = sum(1 for it in lines if it.row["status"] == 200)
    if shipped == len(lines):
        status = 200
    elif shipped:
        status = 201
    elif any(it.row["shpmnt_id"] or it.row["status"] == 100 for it in lines):
        status = 100
    else:
        status = order.row["status"]
    order.row["status"] = status
    order.row["pend_count"] = sum(1 for it in order.items if it.row["status"] in (0, 100))


def _lines_of(order: OrderRecord, shipment_id: int) -> list[ItemRecord]:
    return [it for it in order.items if it.row["shpmnt_id"] == shipment_id]


def create_shipment(data: StoreData, params: Params, now: int) -> Envelope:
    raw_id = params.get("Order_ID")
    if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
        return error("MER-JSN-ORD-00058", "Unable to load order: Order_ID must be specified")
    order = data.orders.get(_whole(raw_id) or 0)
    if order is None:
        return error("MER-JSN-ORD-00025", "Order not found")
    if "Line_IDs" not in params:
        return _missing("Line_IDs")
    raw_lines = params.get("Line_IDs")
    wanted = {_whole(v) for v in (raw_lines if isinstance(raw_lines, list) else [raw_lines])}
    # Line ids of another order (or none at all) are skipped without a word.
    lines = [it for it in order.items if it.row["line_id"] in wanted]
    if not lines:
        return error("MER-JSN-ORD-00057", "Order items must exist in order to create a shipment")
    sid = data.counters.next("shipment")
    day = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%d")
    weight = sum((Decimal(it.row["weight"]) * it.row["quantity"] for it in lines), ZERO)
    shp: dict[str, Any] = {
        "id": sid,
        "code": f"{order.id}-{day}-{sid:05d}",
        "batch_id": 0,
        "order_id": order.id,
        "status": 100,
        "labelcount": 0,
        "ship_date": 0,
        "tracknum": "",
        "tracktype": "",
        "tracklink": "",
        "weight": q2(weight),
        "cost": q2(ZERO),
        "formatted_cost": money(ZERO),
    }
    order.shipments.append(shp)
    for it in lines:
        # ❓ a line already in another shipment moves to the new one (the LSK text does not say).
        it.row["shpmnt_id"] = sid
        if it.row["status"] == 0:
            it.row["status"] = 100
    recalculate_status(order)
    order.touch(now)
    return {"success": 1, "data": {**full_shipment(shp), "shipment_id": sid}}


def _find(data: StoreData, shipment_id: int) -> tuple[OrderRecord, dict[str, Any]] | None:
    for order in data.orders.values():
        for shp in order.shipments:
            if shp["id"] == shipment_id:
                return order, shp
    return None


def _cost(value: Any) -> Decimal:
    if value is None or value == "":
        return q2(ZERO)
    try:
        return q2(Decimal(str(value)))
    except InvalidOperation:
        return q2(ZERO)


def update_shipments(data: StoreData, params: Params, now: int) -> Envelope:
    if "Shipment_Updates" not in params:
        return _missing("Shipment_Updates")
    updates = params.get("Shipment_Updates")
    for element in updates if isinstance(updates, list) else ():
        if not isinstance(element, dict):
            continue
        member = Params(element)
        found = _find(data, _whole(member.get("shpmnt_id")) or 0)
        if found is None:
            continue  # unknown ids are skipped silently
        order, shp = found
        # Every element overwrites all three: an omitted member is reset, not kept.
        tracknum = as_text(member.get("tracknum"))
        tracktype = as_text(member.get("tracktype"))
        cost = _cost(member.get("cost"))
        shp["tracknum"] = tracknum
        shp["tracktype"] = tracktype
        shp["tracklink"] = (
            f"https://tracking.example.com/{tracktype.lower()}/{tracknum}" if tracknum and tracktype else ""
        )
        shp["cost"] = cost
        shp["formatted_cost"] = money(cost)
        if _truth(member.get("mark_shipped")) and shp["status"] != 200:
            shp["status"] = 200
            shp["ship_date"] = now
            for it in _lines_of(order, shp["id"]):
                if it.row["status"] in (0, 100, 400):
                    it.row["status"] = 200
        recalculate_status(order)
        order.touch(now)
    return {"success": 1}


# ------------------------------------------------------------------------------------- the list query


def _shipment_column(name: str, queues: QueueSet) -> Column | None:
    if name in _INT or name in _NUM:
        return Column(lambda r: cast("_Row", r).shp[name], "num", name=f"shipment.{name}")
    if name in _TEXT:
        return Column(lambda r: cast("_Row", r).shp[name], "text")
    if name.startswith("order_"):
        inner = column(name[len("order_") :], queues)
        if inner is None:
            return None
        get = inner.get
        return Column(lambda r: get(cast("_Row", r).order), inner.kind, inner.stored_text)
    return None


def _where(filters: Any, queues: QueueSet) -> Group | None:
    entries: list[tuple[str, Node]] = []
    resolve: Callable[[str], Column | None] = lambda name: _shipment_column(name, queues)  # noqa: E731
    flags: set[str] = set()
    for entry in filters if isinstance(filters, list) else ():
        if not isinstance(entry, dict):
            continue
        name, value = entry.get("name"), entry.get("value")
        joiner, default = ("OR", "AND") if name == "search_OR" else ("AND", "OR")
        if name in ("search", "search_AND", "search_OR"):
            group = _build_group(value, default, queues, flags, resolve)
            if group is not None:
                entries.append((joiner, group))
    return Group(tuple(entries)) if entries else None


def _odcs(filters: Any) -> list[str]:
    names: list[str] = []
    for entry in filters if isinstance(filters, list) else ():
        if isinstance(entry, dict) and entry.get("name") == "ondemandcolumns":
            value = entry.get("value")
            if isinstance(value, list):
                names.extend(v for v in value if isinstance(v, str))
    return names


def _sort_key(sort: Any, queues: QueueSet) -> tuple[Callable[[_Row], Any] | None, bool]:
    text = as_text(sort).strip()
    descending = text.startswith("-")
    col = _shipment_column(text.lstrip("-"), queues) if text else None
    if col is None:
        return None, descending
    get = col.get
    if col.kind == "num":
        return (lambda r: Decimal(str(get(cast("OrderRecord", r))))), descending
    return (lambda r: fold(as_text(get(cast("OrderRecord", r))))), descending


def _rows(data: StoreData) -> Iterator[_Row]:
    for order in data.orders.values():
        for shp in order.shipments:
            yield _Row(order, shp)


def load_shipments(data: StoreData, params: Params, queues: QueueSet) -> Envelope:
    parsed = parse_list_params(
        params.get("Count"), params.get("Offset"), has_count="Count" in params, has_offset="Offset" in params
    )
    if isinstance(parsed, list):
        return validation_error(parsed)
    filters = params.get("Filter")
    where = _where(filters, queues)
    rows = [r for r in _rows(data) if where is None or where.evaluate(cast("OrderRecord", r))]
    key, descending = _sort_key(params.get("Sort"), queues)
    if key is None:
        rows.sort(key=lambda r: r.shp["id"], reverse=descending)
    else:
        rows.sort(key=lambda r: (key(r), r.shp["id"]), reverse=descending)
    start, end = parsed.window(len(rows))
    odcs = _odcs(filters)
    with_items = "items" in odcs
    order_odcs = [name[len("order_") :] for name in odcs if name.startswith("order_")]
    include_order = "include_order" in odcs or bool(order_odcs)
    order_columns: Columns | None = parse_columns(order_odcs, queues) if include_order else None
    page = []
    for row in rows[start:end]:
        out = full_shipment(row.shp)
        if with_items:
            cols = parse_columns([], queues)
            out["items"] = [
                render_item(row.order, it, cols, nested=True) for it in _lines_of(row.order, row.shp["id"])
            ]
        if order_columns is not None:
            out["order"] = render_order(row.order, order_columns, queues)
        page.append(out)
    return {"success": 1, "data": {"total_count": len(rows), "start_offset": parsed.offset, "data": page}}
