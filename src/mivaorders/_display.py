"""How orders, pages and pulls show themselves: short ``repr``s and compact HTML tables for notebooks.

What is shown follows ``repr``'s rule: no payment data and no address beyond a name, because what a
notebook displays ends up in saved notebooks and screenshots. Every value is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from ._page import Page
    from .models import Order

__all__ = ["order_html", "page_html", "page_repr", "pull_html", "pull_repr", "resource_repr"]

#: Pages longer than this show their first and last few rows (as pandas does).
MAX_ROWS = 20
_EDGE = MAX_ROWS // 2
#: A page ``repr`` lists this many items in full before summarising.
REPR_ITEMS = 3

T = TypeVar("T")

_STYLE = "border-collapse:collapse;font-size:90%"


class _Pull(Protocol):
    """What the order iterators expose (``OrderIterator``, ``AsyncOrderIterator``)."""

    @property
    def pages(self) -> int: ...
    @property
    def requests(self) -> int: ...
    @property
    def delivered(self) -> int: ...
    @property
    def exhausted(self) -> bool: ...
    @property
    def total_count(self) -> int | None: ...


def _cell(value: object) -> str:
    if value is None:
        text = ""
    elif isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    elif isinstance(value, IntEnum):
        text = value._name_ or str(int(value))
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        text = str(value)
    return html.escape(text)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object] | None], caption: str = "") -> str:
    """An HTML table; a ``None`` row is the "…" separator of a truncated table."""
    parts = [f'<table style="{_STYLE}">']
    if caption:
        parts.append(f'<caption style="text-align:left">{html.escape(caption)}</caption>')
    parts.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr></thead>")
    parts.append("<tbody>")
    for row in rows:
        if row is None:
            parts.append(f'<tr><td colspan="{len(headers)}">…</td></tr>')
        else:
            parts.append("<tr>" + "".join(f"<td>{_cell(value)}</td>" for value in row) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _name(order: Order) -> str:
    return f"{order.bill_fname} {order.bill_lname}".strip()


def _count(value: Sequence[object] | None) -> str:
    return "not requested" if value is None else str(len(value))


def order_html(order: Order) -> str:
    """An order as two small tables: its summary and its lines (no payments, no addresses)."""
    summary = _table(
        ("field", "value"),
        [
            ("id", order.id),
            ("orderdate", order.orderdate),
            ("customer", _name(order)),
            ("status", order.status),
            ("pay_status", order.pay_status),
            ("stk_status", order.stk_status),
            ("total", order.total),
            ("total_ship", order.total_ship),
            ("total_tax", order.total_tax),
            ("net_capt", order.net_capt),
            ("items", _count(order.items)),
            ("payments", _count(order.payments)),
            ("shipments", _count(order.shipments)),
            ("dt_updated", order.dt_updated),
        ],
        caption=f"Order {order.id}",
    )
    if not order.items:
        return f"<div>{summary}</div>"
    lines = _table(
        ("line_id", "code", "name", "quantity", "price", "total", "status"),
        [(i.line_id, i.code, i.name, i.quantity, i.price, i.total, i.status) for i in order.items],
        caption="Items",
    )
    return f"<div>{summary}{lines}</div>"


def _truncated(items: Sequence[T]) -> list[T | None]:
    if len(items) <= MAX_ROWS:
        return list(items)
    return [*items[:_EDGE], None, *items[-_EDGE:]]


def _order_row(order: Order) -> tuple[object, ...]:
    items = "?" if order.items is None else len(order.items)
    return (order.id, order.orderdate, _name(order), order.status, order.pay_status, items, order.total)


def _page_caption(page: Page[T]) -> str:
    kind = type(page.items[0]).__name__ if page.items else "items"
    more = "more pages" if page.has_more else "last page"
    return f"Page of {kind}: {len(page)} of {page.total_count} (offset {page.start_offset}, {more})"


def page_html(page: Page[T]) -> str:
    """A page as one table, one row per item; long pages show their first and last rows."""
    from .models import Order

    rows: list[Sequence[object] | None] = []
    orders = all(isinstance(item, Order) for item in page.items)
    for item in _truncated(page.items):
        if item is None:
            rows.append(None)
        elif isinstance(item, Order):
            rows.append(_order_row(item))
        else:
            rows.append((repr(item),))
    headers = (
        ("id", "orderdate", "customer", "status", "pay_status", "items", "total") if orders else ("item",)
    )
    return _table(headers, rows, caption=_page_caption(page))


def page_repr(page: Page[T]) -> str:
    """``Page(...)`` with at most :data:`REPR_ITEMS` items spelled out; the rest are counted."""
    items = page.items
    if len(items) <= REPR_ITEMS:
        shown = ", ".join(repr(item) for item in items)
        listed = f"({shown},)" if len(items) == 1 else f"({shown})"
    else:
        head = ", ".join(repr(item) for item in items[: REPR_ITEMS - 1])
        listed = f"({head}, … {len(items) - REPR_ITEMS} more …, {items[-1]!r})"
    return f"Page(items={listed}, total_count={page.total_count}, start_offset={page.start_offset})"


def _progress(pull: _Pull) -> str:
    total = "?" if pull.total_count is None else str(pull.total_count)
    return f"delivered={pull.delivered}, total_count={total}, pages={pull.pages}, requests={pull.requests}"


def pull_repr(pull: _Pull, store_code: str) -> str:
    """``OrderIterator(store_code='SIM', delivered=…, total_count=…, pages=…, requests=…, exhausted=…)``."""
    return f"{type(pull).__name__}(store_code={store_code!r}, {_progress(pull)}, exhausted={pull.exhausted})"


def pull_html(pull: _Pull, store_code: str) -> str:
    """A pull's progress as a small table (showing orders would consume the iterator)."""
    total = pull.total_count
    state = "finished" if pull.exhausted else ("not started" if pull.requests == 0 else "running")
    return _table(
        ("store", "delivered", "matched at start", "pages", "requests", "state"),
        [(store_code, pull.delivered, "?" if total is None else total, pull.pages, pull.requests, state)],
        caption=type(pull).__name__,
    )


def resource_repr(resource: object, client: object) -> str:
    """``Orders(client=Client(endpoint=…, store_code=…))``: which store a resource talks to."""
    return f"{type(resource).__name__}(client={client!r})"
