"""Pagination strategies: which page requests walk a query's results, and in what order.

A strategy (:class:`Paging`) is pure: given the query it plans the first requests, and given each page that
comes back it answers "what are the next requests". The client shells only send what it plans, so the
same strategy drives ``Client`` and ``AsyncClient``; ``concurrency`` says how many requests may be in flight
(in one multicall for ``Client``, as concurrent requests for ``AsyncClient``).

- :class:`KeysetPaging` (the default): each page asks for rows *after* the last one seen
  (``id > last``, or ``(column, id) > (last value, last id)``). Nothing is skipped when orders are
  added, removed or updated during the walk; rows that move behind the cursor were already delivered.
- :class:`OffsetPaging`: ``Offset`` steps under any sort (Miva always adds ``id`` as a tie-breaker, so the
  order is stable). Simple, but rows that leave the result set while paging shift later rows forward, and
  one may be skipped: use it only for data that does not change under you.
- :class:`FastPaging`: keyset lanes over disjoint id ranges, several pages in flight. Orders come in no
  particular order.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import attrs

from ._columns import NUMERIC_COLUMNS, SORT_COLUMNS, TIMESTAMP_COLUMNS
from ._exceptions import FilterError
from ._page import Page
from ._page_size import AdaptivePageSize, PageFailure, PageSizer
from ._query import OrderQuery
from ._unix_time import unix_seconds
from .filters import Expr, F
from .models import Order

__all__ = [
    "AdaptivePageSize",
    "FastPaging",
    "KeysetPaging",
    "OffsetPaging",
    "Page",
    "PageFailure",
    "PageRequest",
    "PageSizer",
    "Paging",
    "Walk",
]

#: Columns a keyset walk can page by: the sortable numbers and timestamps (``ship_id`` cannot be sorted).
_KEYSET_COLUMNS = (TIMESTAMP_COLUMNS | NUMERIC_COLUMNS) & SORT_COLUMNS


@attrs.frozen
class PageRequest:
    """One page to load: the full filter, the sort, the page size and offset.

    ``emit=False`` marks a probe whose rows are not handed to the caller; ``columns`` overrides the query's
    on-demand columns (a probe asks for none); ``key`` lets a walk recognise its own requests.
    """

    where: Expr | None
    sort: str | None
    count: int
    offset: int = 0
    columns: tuple[str, ...] | None = None
    emit: bool = True
    key: Hashable = None


class Walk(Protocol):
    """The state of one pagination run.

    Under an adaptive page size the iterator may change the ``count`` of a request that emits rows before
    sending it; ``advance`` receives the request as sent, so a walk decides from ``request.count``, never
    from the size it was planned with.
    """

    def start(self) -> list[PageRequest]:
        """The first requests."""
        ...

    def advance(self, request: PageRequest, page: Page[Order]) -> list[PageRequest]:
        """The requests that follow ``page`` (the answer to ``request``); none when that path is done."""
        ...


class Paging(Protocol):
    """A pagination strategy: plans a :class:`Walk` for a query."""

    @property
    def concurrency(self) -> int:
        """How many page requests may be in flight at once."""
        ...

    def walk(self, query: OrderQuery, page_size: int) -> Walk:
        """A fresh walk over the query's results."""
        ...


def _key_value(order: Order, column: str) -> int | Decimal:
    value = getattr(order, column)
    if value is None or isinstance(value, datetime):
        return unix_seconds(value)  # None (Miva's 0, "never") back to 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, Decimal)):
        return value
    raise FilterError(f"cannot page by {column!r}: its value {value!r} is not a number or timestamp")


def _and(base: Expr | None, extra: Expr) -> Expr:
    return extra if base is None else base & extra


def _after(column: str, value: int | Decimal, last_id: int, *, descending: bool) -> Expr:
    """Rows strictly after ``(value, last_id)`` in the sort order, ties on ``column`` broken by ``id``."""
    if column == "id":
        return F.id < last_id if descending else F.id > last_id
    field = F(column)
    if descending:
        return (field < value) | ((field == value) & (F.id < last_id))
    return (field > value) | ((field == value) & (F.id > last_id))


def _page_is_last(request: PageRequest, page: Page[Order], *, remaining_counts: bool) -> bool:
    if len(page.items) < request.count:
        return True
    if remaining_counts:
        # A keyset page's total_count counts the rows from the cursor on: all of them are here.
        return len(page.items) >= page.total_count
    return request.offset + len(page.items) >= page.total_count


def _sort_column(sort: str | None) -> tuple[str | None, bool]:
    if not sort:
        return None, False
    return (sort[1:], True) if sort.startswith("-") else (sort, False)


# -- offset --------------------------------------------------------------------------------------


@attrs.frozen
class OffsetPaging:
    """``Offset`` steps in the query's sort order (``id`` when it has none)."""

    concurrency: int = 1

    def walk(self, query: OrderQuery, page_size: int) -> Walk:
        return _OffsetWalk(query, page_size)


class _OffsetWalk:
    def __init__(self, query: OrderQuery, page_size: int) -> None:
        self._query = query
        self._size = page_size

    def start(self) -> list[PageRequest]:
        return [PageRequest(self._query.where, self._query.sort or "id", self._size)]

    def advance(self, request: PageRequest, page: Page[Order]) -> list[PageRequest]:
        if _page_is_last(request, page, remaining_counts=False):
            return []
        return [attrs.evolve(request, offset=request.offset + len(page.items))]


# -- keyset --------------------------------------------------------------------------------------


@attrs.frozen
class KeysetPaging:
    """Keyset pages by ``column`` (``id`` by default, or a timestamp/number column with ``id`` ties).

    The query's sort must be this column (ascending or descending) or unset.
    """

    column: str = attrs.field(default="id")
    concurrency: int = 1

    @column.validator
    def _check_column(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in _KEYSET_COLUMNS:
            raise FilterError(
                f"cannot keyset-page by {value!r}; use one of {', '.join(sorted(_KEYSET_COLUMNS))}"
            )

    def walk(self, query: OrderQuery, page_size: int) -> Walk:
        column, descending = _sort_column(query.sort)
        sort: str | None
        if column is None:
            sort = self.column
        elif column == self.column:
            sort = query.sort
        else:
            raise FilterError(
                f"keyset paging by {self.column!r} needs sort={self.column!r} (or '-{self.column}'), "
                f"not {query.sort!r}; use OffsetPaging() for other sorts"
            )
        return _KeysetWalk(query.where, self.column, sort, descending, page_size)


class _KeysetWalk:
    def __init__(
        self, base: Expr | None, column: str, sort: str | None, descending: bool, page_size: int
    ) -> None:
        self._base = base
        self._column = column
        self._sort = sort
        self._descending = descending
        self._size = page_size

    def start(self) -> list[PageRequest]:
        return [PageRequest(self._base, self._sort, self._size)]

    def advance(self, request: PageRequest, page: Page[Order]) -> list[PageRequest]:
        if _page_is_last(request, page, remaining_counts=True):
            return []
        last = page.items[-1]
        after = _after(self._column, _key_value(last, self._column), last.id, descending=self._descending)
        return [PageRequest(_and(self._base, after), self._sort, self._size)]


# -- fast ----------------------------------------------------------------------------------------


@attrs.frozen
class FastPaging:
    """Several keyset lanes over disjoint id ranges, ``concurrency`` pages in flight.

    The first page (by id) and a one-row probe for the highest id go out together; the id range between
    them is then split into ``concurrency`` lanes, plus a tail lane for ids above the probe's. Each lane is
    a keyset walk, so the safety of :class:`KeysetPaging` holds; only the order of delivery is lost.
    """

    concurrency: int = attrs.field(default=4)

    @concurrency.validator
    def _check_concurrency(self, _: attrs.Attribute[int], value: int) -> None:
        if not isinstance(value, int) or not 1 <= value <= 32:
            raise FilterError(f"concurrency must be a whole number from 1 to 32, not {value!r}")

    def walk(self, query: OrderQuery, page_size: int) -> Walk:
        column, _ = _sort_column(query.sort)
        if column not in (None, "id") or (query.sort or "").startswith("-"):
            raise FilterError(
                f"FastPaging delivers orders by id lanes and cannot honour sort={query.sort!r}; "
                "drop the sort or use KeysetPaging"
            )
        return _FastWalk(query.where, page_size, self.concurrency)


_FIRST = "first"
_PROBE = "probe"


class _FastWalk:
    def __init__(self, base: Expr | None, page_size: int, lanes: int) -> None:
        self._base = base
        self._size = page_size
        self._lanes = lanes
        self._first: Page[Order] | None = None
        self._first_count = page_size
        self._max_id: int | None = None
        self._probed = False

    def start(self) -> list[PageRequest]:
        return [
            PageRequest(self._base, "id", self._size, key=_FIRST),
            PageRequest(self._base, "-id", 1, columns=(), emit=False, key=_PROBE),
        ]

    def _lane(self, low: int, high: int | None) -> PageRequest:
        bound: Expr = F.id > low if high is None else (F.id > low) & (F.id <= high)
        return PageRequest(_and(self._base, bound), "id", self._size, key=("lane", low, high))

    def _split(self) -> list[PageRequest]:
        first, max_id = self._first, self._max_id
        assert first is not None
        if len(first.items) < self._first_count or len(first.items) >= first.total_count:
            return []
        last_id = first.items[-1].id
        if max_id is None or max_id <= last_id:
            return [self._lane(last_id, None)]
        width = max(1, math.ceil((max_id - last_id) / self._lanes))
        lanes = [self._lane(low, min(low + width, max_id)) for low in range(last_id, max_id, width)]
        return [*lanes, self._lane(max_id, None)]

    def advance(self, request: PageRequest, page: Page[Order]) -> list[PageRequest]:
        if request.key == _FIRST:
            self._first, self._first_count = page, request.count
        elif request.key == _PROBE:
            self._probed = True
            self._max_id = page.items[0].id if page.items else None
        else:
            if _page_is_last(request, page, remaining_counts=True):
                return []
            key = request.key
            assert isinstance(key, tuple)
            _, _, high = key
            last_id = page.items[-1].id
            bound: Expr = F.id > last_id if high is None else (F.id > last_id) & (F.id <= high)
            return [PageRequest(_and(self._base, bound), "id", self._size, key=key)]
        if self._first is not None and self._probed:
            return self._split()
        return []


def default_paging(query: OrderQuery) -> Paging:
    """Keyset by id unless the query sorts by something keyset paging cannot follow."""
    column, _ = _sort_column(query.sort)
    if column is None or column == "id":
        return KeysetPaging("id")
    if column in _KEYSET_COLUMNS:
        return KeysetPaging(column)
    return OffsetPaging()


def page_request_params(query: OrderQuery, request: PageRequest) -> dict[str, Any]:
    """The ``OrderList_Load_Query`` parameters for one planned page."""
    return query.params(
        count=request.count,
        offset=request.offset,
        where=request.where,
        sort=request.sort,
        columns=request.columns,
    )
