"""One-pass typed decoding of response bodies (msgspec) and its fallback to the exact path."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mivaorders as mo
from mivaorders._converter import converter, structure_page
from mivaorders._decode import page_decoder
from mivaorders._exceptions import ResponseValidationError
from mivaorders._json import dumps, loads
from mivaorders.models import Order, OrderStatus

from .conftest import FIXTURES, load_fixture
from .test_converter import wire_orders

ENDPOINT = "https://x.example/mm5/json.mvc"


def _body(orders: list[dict[str, Any]]) -> bytes:
    return dumps({"success": 1, "data": {"total_count": len(orders), "start_offset": 0, "data": orders}})


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = load_fixture("orderlist_load_query_response.json")["data"]["data"]
    return rows


def _many(n: int) -> list[dict[str, Any]]:
    rows = _rows()
    out = []
    for i in range(n):
        row = copy.deepcopy(rows[i % len(rows)])
        row["id"] = 1000 + i
        out.append(row)
    return out


@pytest.mark.parametrize(
    "name",
    [
        "orderlist_load_query_response.json",
        "orderlist_load_query_minimal.json",
        "queue_order_list_response.json",
    ],
)
def test_fast_path_matches_the_exact_path_on_every_fixture(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    fast = page_decoder(Order).decode(body)
    assert fast is not None  # no unknown key, nothing odd: the one-pass decoder took it
    exact = structure_page(loads(body)["data"], Order)
    assert fast == exact
    assert fast.total_count == exact.total_count
    for a, b in zip(fast, exact, strict=True):
        assert converter.unstructure(a) == converter.unstructure(b)  # same JSON back (key order aside)
        assert a.custom_field_values == b.custom_field_values


def test_fast_path_keeps_the_model_promises() -> None:
    rows = _rows()
    rows[0]["status"] = 700  # unknown code: a pseudo-member, not an error
    rows[0]["dt_instock"] = 0
    rows[0]["dt_updated"] = {"time_t": 1717243260, "year": 2024, "timezone": 0}
    rows[1]["orderdate"] = {"time_t": 0, "year": 1970}
    rows[0]["items"][0]["price"] = Decimal("1.10")
    page = page_decoder(Order).decode(_body(rows))
    assert page is not None
    first = page[0]
    assert first.status == 700
    assert isinstance(first.status, OrderStatus)
    assert not first.status.is_known
    assert first.dt_instock is None
    assert first.dt_updated == datetime(2024, 6, 1, 12, 1, tzinfo=timezone.utc)
    assert page[1].orderdate is None
    assert first.items is not None
    assert isinstance(first.items, tuple)
    assert str(first.items[0].price) == "1.10"  # the digits Miva sent
    sub = page[1].items[0].subscription if page[1].items else None
    assert sub is not None
    assert sub.nextdate == datetime(2024, 7, 3, 12, tzinfo=timezone.utc)
    assert sub.cncldate is None
    minimal = load_fixture("orderlist_load_query_minimal.json")["data"]["data"]
    bare = page_decoder(Order).decode(_body(minimal))
    assert bare is not None
    assert bare[0].items is None  # not requested
    assert page[1].coupons == ()  # requested and empty


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda row: row.update(new_column=1), "unknown key"),
        (lambda row: row["items"][0].update(future_flag=True), "unknown nested key"),
        (lambda row: row["payments"][0]["module"].update(new={"x": [Decimal("1.5")]}), "deeper"),
        (lambda row: row.update(extra={"a": 1}), "a key named like the extra attribute"),
        (lambda row: row.update(_wire_keys=["id"]), "a key named like the key-order attribute"),
    ],
)
def test_unknown_keys_are_kept_by_the_one_pass_decoder(mutate: Callable[[Any], None], why: str) -> None:
    rows = _rows()
    mutate(rows[1])
    body = _body(rows)
    fast = page_decoder(Order).decode(body)
    assert fast is not None, why
    exact = structure_page(loads(body)["data"], Order)
    assert fast == exact, why  # extra included
    for a, b in zip(fast, exact, strict=True):
        back = converter.unstructure(a)
        assert back == converter.unstructure(b)
    assert list(converter.unstructure(fast[1])) == list(rows[1])  # unknown keys back in place
    many = page_decoder(Order).decode_many(dumps([loads(body), loads(body)]))
    assert many is not None
    assert many[1]["data"] == exact


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda row: row.update(total="12.50"), "money as a string"),
        (lambda row: row.update(total=Decimal("1E+999999999999")), "money out of range"),
        (lambda row: row.update(id=0), "an order id of 0"),
        (lambda row: row.update(new_column=1, total="x"), "unknown key and a bad value"),
        (lambda row: row.update(extra=5), "an extra key the build pass cannot hold"),
    ],
)
def test_bodies_the_check_refuses_take_the_exact_path(mutate: Callable[[Any], None], why: str) -> None:
    rows = _rows()
    mutate(rows[0])
    body = _body(rows)
    assert page_decoder(Order).decode(body) is None, why


def _client(body: bytes) -> mo.Client:
    http = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body)))
    return mo.Client(ENDPOINT, store_code="S", auth=mo.TokenAuth("t"), http_client=http)


def _async_client(body: bytes) -> mo.AsyncClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body)))
    return mo.AsyncClient(ENDPOINT, store_code="S", auth=mo.TokenAuth("t"), http_client=http)


def _list_sync(body: bytes) -> mo.Page[Order]:
    with _client(body) as client:
        return client.orders.list()


def _list_async(body: bytes) -> mo.Page[Order]:
    async def run() -> mo.Page[Order]:
        async with _async_client(body) as client:
            return await client.orders.list()

    return asyncio.run(run())


@pytest.mark.parametrize("fetch", [_list_sync, _list_async], ids=["sync", "async"])
def test_a_malformed_value_fails_the_call_that_fetched_it_with_its_path(
    fetch: Callable[[bytes], mo.Page[Order]],
) -> None:
    rows = _many(20)
    rows[17]["items"][2]["price"] = "abc"
    with pytest.raises(ResponseValidationError) as info:
        fetch(_body(rows))
    assert info.value.errors == ("$.data[17].items[2].price: invalid decimal 'abc'",)
    assert info.value.function == "OrderList_Load_Query"


@pytest.mark.parametrize("fetch", [_list_sync, _list_async], ids=["sync", "async"])
def test_client_keeps_unknown_keys_through_the_fallback(fetch: Callable[[bytes], mo.Page[Order]]) -> None:
    rows = _rows()
    rows[1]["payments"][0]["future_column"] = {"a": [1, Decimal("2.5")]}
    page = fetch(_body(rows))
    assert page[1].payments is not None
    assert page[1].payments[0].extra == {"future_column": {"a": [1, Decimal("2.5")]}}
    plain = fetch(_body(_rows()))  # the same page without the unknown key: decoded in one pass
    assert page[0] == plain[0]
    assert page[1] != plain[1]  # extra is part of equality


def test_error_envelope_still_raises_the_api_error() -> None:
    body = dumps({"success": 0, "error_code": "MER-ORD-0001", "error_message": "no such thing"})
    with pytest.raises(mo.APIError, match="MER-ORD-0001"):
        _list_sync(body)


class _Spy:
    """Counts which pages the one-pass decoder produced and which fell back."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fast = 0
        self.fallback = 0
        decoder = page_decoder(Order)
        one, many = decoder.decode, decoder.decode_many

        def decode(content: bytes) -> Any:
            return self._count(one(content))

        def decode_many(content: bytes) -> Any:
            return self._count(many(content))

        monkeypatch.setattr(decoder, "decode", decode)
        monkeypatch.setattr(decoder, "decode_many", decode_many)

    def _count(self, result: Any) -> Any:
        if result is None:
            self.fallback += 1
        else:
            self.fast += 1
        return result


def test_pulls_and_queue_loads_take_the_one_pass_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    from mivaorders.pagination import OffsetPaging
    from mivaorders.testing import FakeStore

    spy = _Spy(monkeypatch)
    store = FakeStore(orders=60, seed=3, workflow="add")
    with store.client() as client:
        assert len(list(client.orders.iter(page_size=25))) == 60
        single = spy.fast
        assert single >= 3
        # several pages per request: a multicall answer, decoded in one pass too
        assert len(list(client.orders.iter(page_size=10, paging=OffsetPaging(concurrency=3)))) == 60
        assert spy.fast > single
        queue = client.queues.list_queues()[0].code
        page = client.queues.load(queue, count=5, acknowledge=True)
        assert all(isinstance(order, Order) for order in page)
    assert spy.fallback == 0


def test_async_pulls_take_the_one_pass_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    from mivaorders.testing import FakeStore

    spy = _Spy(monkeypatch)
    store = FakeStore(orders=40, seed=4)

    async def run() -> int:
        async with store.async_client() as client:
            return len([order async for order in client.orders.iter(page_size=15)])

    assert asyncio.run(run()) == 40
    assert spy.fast >= 3
    assert spy.fallback == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wire_orders(), st.booleans())
def test_one_pass_and_exact_path_agree_on_generated_orders(raw: dict[str, Any], many: bool) -> None:
    body = _body([raw, raw]) if many else _body([raw])
    fast = page_decoder(Order).decode(body)
    try:
        exact = structure_page(loads(body)["data"], Order)
    except ResponseValidationError:
        assert fast is None  # what the exact path refuses, the one-pass decoder never accepts
        return
    if fast is None:
        return  # allowed: the exact path is the authority (e.g. a value the check is strict about)
    assert fast == exact
    for a, b in zip(fast, exact, strict=True):
        assert converter.unstructure(a) == converter.unstructure(b)
