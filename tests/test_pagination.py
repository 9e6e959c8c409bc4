"""The pagination strategies as pure plans: what each page leads to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from mivaorders import FilterError
from mivaorders._page import Page
from mivaorders._query import OrderQuery
from mivaorders.filters import F, compile_filter
from mivaorders.models import Order
from mivaorders.pagination import FastPaging, KeysetPaging, OffsetPaging, PageRequest, default_paging

from .conftest import load_fixture

BASE = load_fixture("orderlist_load_query_minimal.json")["data"]["data"][0]


def order(order_id: int, dt_updated: int = 1717400000) -> Order:
    from mivaorders._converter import structure_order

    return structure_order({**BASE, "id": order_id, "dt_updated": dt_updated})


def page(ids: Sequence[int], total: int, updated: Sequence[int] | None = None) -> Page[Order]:
    stamps = updated or [1717400000] * len(ids)
    return Page(items=tuple(order(i, t) for i, t in zip(ids, stamps, strict=True)), total_count=total)


def searches(request: PageRequest) -> list[Any]:
    return compile_filter(request.where, nested=True)


def test_offset_walk_steps_and_stops() -> None:
    walk = OffsetPaging().walk(OrderQuery.build(sort="-orderdate"), 2)
    (first,) = walk.start()
    assert (first.sort, first.count, first.offset) == ("-orderdate", 2, 0)
    (second,) = walk.advance(first, page([5, 4], total=5))
    assert second.offset == 2
    (third,) = walk.advance(second, page([3, 2], total=5))
    assert third.offset == 4
    assert walk.advance(third, page([1], total=5)) == []


def test_offset_walk_stops_when_the_count_is_reached() -> None:
    walk = OffsetPaging().walk(OrderQuery.build(), 2)
    (first,) = walk.start()
    assert first.sort == "id"  # a stable sort is always sent
    assert walk.advance(first, page([1, 2], total=2)) == []


def test_keyset_by_id_asks_for_rows_after_the_last() -> None:
    walk = KeysetPaging().walk(OrderQuery.build(where=F.status == 100), 2)
    (first,) = walk.start()
    assert first.sort == "id"
    (second,) = walk.advance(first, page([10, 17], total=9))
    assert second.where == (F.status == 100) & (F.id > 17)
    assert second.offset == 0
    assert walk.advance(second, page([20, 21], total=2)) == []  # the cursor's remaining count is here


def test_keyset_by_timestamp_breaks_ties_by_id() -> None:
    walk = KeysetPaging("dt_updated").walk(OrderQuery.build(), 3)
    (first,) = walk.start()
    (second,) = walk.advance(first, page([7, 3, 9], total=10, updated=[100, 200, 200]))
    assert second.where == (F.dt_updated > 200) | ((F.dt_updated == 200) & (F.id > 9))
    assert second.sort == "dt_updated"


def test_keyset_descending() -> None:
    walk = KeysetPaging("dt_updated").walk(OrderQuery.build(sort="-dt_updated"), 2)
    (first,) = walk.start()
    (second,) = walk.advance(first, page([9, 4], total=10, updated=[300, 250]))
    assert second.where == (F.dt_updated < 250) | ((F.dt_updated == 250) & (F.id < 4))


def test_keyset_refuses_a_sort_it_cannot_follow() -> None:
    with pytest.raises(FilterError, match="sort"):
        KeysetPaging("id").walk(OrderQuery.build(sort="ship_lname"), 10)
    with pytest.raises(FilterError, match="keyset"):
        KeysetPaging("ship_lname")


def test_fast_walk_splits_the_id_range_into_lanes() -> None:
    walk = FastPaging(concurrency=3).walk(OrderQuery.build(), 2)
    first, probe = walk.start()
    assert not probe.emit
    assert probe.columns == ()
    assert probe.sort == "-id"
    assert walk.advance(probe, page([100], total=50)) == []  # waits for the first page
    lanes = walk.advance(first, page([1, 4], total=50))
    bounds = [r.where for r in lanes]
    assert bounds == [
        (F.id > 4) & (F.id <= 36),
        (F.id > 36) & (F.id <= 68),
        (F.id > 68) & (F.id <= 100),
        F.id > 100,
    ]
    follow = walk.advance(lanes[0], page([5, 9], total=20))
    assert [r.where for r in follow] == [(F.id > 9) & (F.id <= 36)]
    assert walk.advance(lanes[3], page([], total=0)) == []


def test_fast_walk_with_a_single_page() -> None:
    walk = FastPaging().walk(OrderQuery.build(), 10)
    first, probe = walk.start()
    walk.advance(first, page([1, 2, 3], total=3))
    assert walk.advance(probe, page([3], total=3)) == []


def test_fast_paging_refuses_other_sorts_and_bad_concurrency() -> None:
    with pytest.raises(FilterError, match="sort"):
        FastPaging().walk(OrderQuery.build(sort="-orderdate"), 10)
    with pytest.raises(FilterError, match="concurrency"):
        FastPaging(concurrency=0)


def test_default_paging() -> None:
    assert default_paging(OrderQuery.build()) == KeysetPaging("id")
    assert default_paging(OrderQuery.build(sort="-dt_updated")) == KeysetPaging("dt_updated")
    assert default_paging(OrderQuery.build(sort="ship_lname")) == OffsetPaging()
