"""Reprs and notebook HTML: short, useful, escaped, and never payment data or addresses."""

from __future__ import annotations

import attrs
import pytest

import mivaorders as mo
from mivaorders import _display
from mivaorders.testing import FakeStore

SECRET_CARD = "4111111111111111"


@pytest.fixture(scope="module")
def store() -> FakeStore:
    return FakeStore(orders=130, seed=3)


@pytest.fixture(scope="module")
def page(store: FakeStore) -> mo.Page[mo.Order]:
    with store.client() as client:
        return client.orders.list(count=100)


def _with_secrets(order: mo.Order) -> mo.Order:
    """The order with a hostile name and decrypted card data on its first payment."""
    payments = order.payments or ()
    assert payments, "the fixture order needs a payment"
    leaked = attrs.evolve(payments[0], data={"cc_number": SECRET_CARD}, description="VISA 4111")
    return attrs.evolve(order, bill_fname="<script>alert(1)</script>", payments=(leaked, *payments[1:]))


def test_a_full_page_repr_is_a_summary(page: mo.Page[mo.Order]) -> None:
    text = repr(page)
    assert len(page) == 100
    assert len(text) < 700  # was one line of ~12,000 characters
    assert "… 97 more …" in text
    assert f"total_count={page.total_count}" in text
    assert repr(page[0]) in text
    assert repr(page[-1]) in text


def test_a_short_page_repr_lists_everything(page: mo.Page[mo.Order]) -> None:
    two = mo.Page(items=page.items[:2], total_count=2)
    assert repr(two) == f"Page(items=({page[0]!r}, {page[1]!r}), total_count=2, start_offset=0)"
    one = mo.Page(items=page.items[:1], total_count=1)
    assert repr(one).startswith(f"Page(items=({page[0]!r},),")
    assert repr(mo.Page(items=(), total_count=0)) == "Page(items=(), total_count=0, start_offset=0)"


def test_page_html_is_a_truncated_table(page: mo.Page[mo.Order]) -> None:
    html = page._repr_html_()
    assert html.startswith("<table")
    assert html.count("<tr>") == 1 + _display.MAX_ROWS + 1  # header, rows, the "…" row
    assert f"<td>{page[0].id}</td>" in html
    assert f"<td>{page[-1].id}</td>" in html
    assert f"<td>{page[50].id}</td>" not in html
    assert "Page of Order: 100 of 130" in html


def test_order_html_hides_payments_and_addresses(page: mo.Page[mo.Order]) -> None:
    order = _with_secrets(next(o for o in page if o.payments and o.items))
    html = order._repr_html_()
    assert SECRET_CARD not in html
    assert "VISA" not in html
    assert order.ship_addr1 not in html
    assert order.bill_email not in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert str(order.total) in html
    assert "SHIPPED" in html or order.status.name in html
    for item in order.items or ():
        assert f"<td>{item.line_id}</td>" in html
    assert SECRET_CARD not in repr(order)


def test_page_html_escapes(page: mo.Page[mo.Order]) -> None:
    hostile = mo.Page(items=(_with_secrets(next(o for o in page if o.payments)),), total_count=1)
    html = hostile._repr_html_()
    assert "<script>" not in html
    assert SECRET_CARD not in html


def test_pages_of_other_things(page: mo.Page[mo.Order]) -> None:
    queues = mo.Page(items=(mo.Queue(code="new", name="New <orders>"),), total_count=1)
    html = queues._repr_html_()
    assert "&lt;orders&gt;" in html
    assert "Page of Queue" in html


def test_iterator_repr_and_html_follow_progress(store: FakeStore) -> None:
    with store.client() as client:
        pull = client.orders.iter(page_size=50, columns=())
        assert repr(pull) == (
            "OrderIterator(store_code='SIM', delivered=0, total_count=?, pages=0, requests=0, "
            "exhausted=False)"
        )
        assert "not started" in pull._repr_html_()
        next(pull)
        assert "delivered=1, total_count=130, pages=1" in repr(pull)
        assert "running" in pull._repr_html_()
        for _ in pull:
            pass
        assert repr(pull).endswith("delivered=130, total_count=130, pages=3, requests=3, exhausted=True)")
        assert "finished" in pull._repr_html_()
        assert store.token not in repr(pull)


@pytest.mark.anyio
async def test_async_iterator_repr(store: FakeStore) -> None:
    async with store.async_client() as client:
        pull = client.orders.iter(page_size=100, columns=())
        assert repr(pull).startswith("AsyncOrderIterator(store_code='SIM', delivered=0")
        ids = [order.id async for order in pull]
        assert f"delivered={len(ids)}" in repr(pull)
        assert "finished" in pull._repr_html_()
        assert repr(client.orders) == f"AsyncOrders(client={client!r})"
        assert repr(client.queues) == f"AsyncQueues(client={client!r})"


def test_resource_reprs_name_the_store(store: FakeStore) -> None:
    with store.client() as client:
        assert repr(client.orders) == (
            "Orders(client=Client(endpoint='https://sim.mivaorders.test/mm5/json.mvc', store_code='SIM'))"
        )
        assert repr(client.queues).startswith("Queues(client=Client(")
        for text in (repr(client.orders), repr(client.queues)):
            assert store.token not in text
            assert store.signing_key not in text
            assert " object at 0x" not in text
