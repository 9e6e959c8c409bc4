from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from mivaorders._converter import structure_page
from mivaorders._flatten import flatten_items, flatten_orders
from mivaorders.models import Order

from .conftest import load_fixture

PLAIN = (str, int, Decimal, datetime, bool, type(None))


def _page(name: str) -> tuple[Order, ...]:
    return structure_page(load_fixture(name)["data"], Order).items


def test_flatten_orders_gives_plain_records() -> None:
    orders = _page("orderlist_load_query_response.json")
    records = flatten_orders(orders)
    assert [record["id"] for record in records] == [order.id for order in orders]
    for record in records:
        assert all(isinstance(value, PLAIN) for value in record.values()), record
        assert type(record["status"]) is int
    first = records[0]
    assert first["total"] == orders[0].total
    assert first["items_count"] == 3
    assert first["cf.customfields.gift_message"] == "Happy birthday, Sam!"
    assert records[2]["customer_id"] is None  # guest
    assert len({frozenset(record) for record in records}) == 1  # same columns for every order


def test_flatten_orders_never_includes_payment_data() -> None:
    orders = _page("orderlist_load_query_response.json")
    payment = orders[1].payments[0] if orders[1].payments else None
    assert payment is not None
    assert payment.data is not None
    flat = repr(flatten_orders(orders))
    for value in payment.data.values():
        assert value not in flat


def test_flatten_minimal_orders_marks_collections_unrequested() -> None:
    records = flatten_orders(_page("orderlist_load_query_minimal.json"))
    assert records[0]["items_count"] is None
    assert records[0]["ship_method"] is None
    assert flatten_items(_page("orderlist_load_query_minimal.json")) == []


def test_flatten_items_one_record_per_line() -> None:
    orders = _page("orderlist_load_query_response.json")
    records = flatten_items(orders)
    assert len(records) == sum(len(order.items or ()) for order in orders)
    first = records[0]
    assert first["order_id"] == 100231
    assert first["line_id"] == 5001
    assert first["options"] == "size=m; color=blue"
    assert first["discount_total"] == Decimal("5.0")
    assert first["tracktype"] == "UPS"
    for record in records:
        assert all(isinstance(value, PLAIN) for value in record.values()), record
