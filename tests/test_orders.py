"""``client.orders`` against the simulated store: queries, pagination and the pull methods, sync and async.

The proofs of "nothing lost" change the store *while* a pull runs (between pages, and from another
thread over real HTTP), inject faults, and then compare what was delivered with the store's truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

import mivaorders as mo
from mivaorders import F, FilterError
from mivaorders.models import Order
from mivaorders.pagination import FastPaging, KeysetPaging, OffsetPaging, Paging
from mivaorders.testing import FakeStore, Fault

STRATEGIES: list[Paging | None] = [None, KeysetPaging(), FastPaging(concurrency=3), OffsetPaging()]
STRATEGY_IDS = ["default", "keyset", "fast", "offset"]


def collect_sync(
    store: FakeStore, make: Callable[[mo.Client], Iterable[Order]], **options: Any
) -> list[Order]:
    with store.client(**options) as client:
        return list(make(client))


def collect_async(store: FakeStore, make: Callable[[mo.AsyncClient], Any], **options: Any) -> list[Order]:
    async def go() -> list[Order]:
        async with store.async_client(**options) as client:
            return [order async for order in make(client)]

    return asyncio.run(go())


KINDS = ["sync", "async"]


def collect(kind: str, store: FakeStore, make: Callable[[Any], Any], **options: Any) -> list[Order]:
    return (collect_sync if kind == "sync" else collect_async)(store, make, **options)


def updated_at(data: dict[str, Any]) -> int:
    value = data["dt_updated"]
    return int(value["time_t"] if isinstance(value, dict) else value)


def stamp_of(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment else 0


def stamp(order: Order) -> int:
    return int(order.dt_updated.timestamp()) if order.dt_updated else 0


def assert_nothing_lost(before: dict[int, dict[str, Any]], delivered: Iterable[Order]) -> None:
    """Every order that existed before the pull came out, in its version at the pull's start or later."""
    newest: dict[int, int] = {}
    for order in delivered:
        newest[order.id] = max(newest.get(order.id, 0), stamp(order))
    missing = sorted(set(before) - set(newest))
    assert not missing, f"orders lost: {missing[:10]}"
    stale = [oid for oid, data in before.items() if newest[oid] < updated_at(data)]
    assert not stale, f"stale versions: {stale[:10]}"


# -- list / get / iter -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store() -> FakeStore:
    return FakeStore(orders=240, seed=11)


def test_list_returns_a_typed_page(store: FakeStore) -> None:
    with store.client() as client:
        page = client.orders.list(count=7, sort="-orderdate")
    assert len(page) == 7
    assert page.total_count == len(store.truth())
    dates = [stamp_of(o.orderdate) for o in page]
    assert dates == sorted(dates, reverse=True)
    assert all(o.items is not None for o in page)  # whole orders by default


def test_list_with_base_columns_only(store: FakeStore) -> None:
    with store.client() as client:
        page = client.orders.list(count=3, columns=())
    assert all(o.items is None and o.payments is None for o in page)


@pytest.mark.parametrize("kind", KINDS)
def test_get(store: FakeStore, kind: str) -> None:
    some_id = sorted(store.truth())[5]

    async def aget(ids: list[int]) -> list[Order | None]:
        async with store.async_client() as client:
            return [await client.orders.get(i) for i in ids]

    ids = [some_id, 1]
    if kind == "sync":
        with store.client() as client:
            found = [client.orders.get(i) for i in ids]
    else:
        found = asyncio.run(aget(ids))
    assert found[0] is not None
    assert found[0].id == some_id
    assert found[1] is None


def test_the_request_is_checked_and_built_as_documented() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(
            200, json={"success": 1, "data": {"total_count": 0, "start_offset": 0, "data": []}}
        )

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = mo.Client(
        "https://x.example/mm5/json.mvc", store_code="S", auth=mo.TokenAuth("t"), http_client=http
    )
    start = datetime(2024, 6, 1, tzinfo=timezone.utc)
    client.orders.list(
        where=(F.orderdate >= start) & F.status.in_([100, 200]),
        sort="-orderdate",
        count=25,
        offset=50,
        columns=[mo.ITEMS],
        passphrase="open sesame",
    )
    body = sent[0]
    assert body["Count"] == 25
    assert body["Offset"] == 50
    assert body["Sort"] == "-orderdate"
    assert body["Passphrase"] == "open sesame"
    assert {"field": "orderdate", "operator": "GE", "value": str(int(start.timestamp()))} in body["Filter"][
        0
    ]["value"]
    columns = next(e["value"] for e in body["Filter"] if e["name"] == "ondemandcolumns")
    assert set(columns) == {"items", "payments", "payment_data"}  # a passphrase asks for payment data


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda c: c.orders.list(count=0), "at least 1"),
        (lambda c: c.orders.list(count=100_000), "from 1 to 5000"),
        (lambda c: c.orders.list(sort="dt_update"), "dt_update"),
        (lambda c: c.orders.list(columns=["itemz"]), "itemz"),
        (lambda c: c.orders.list(where="id > 3"), "filter expression"),
        (lambda c: c.orders.iter(page_size=0), "page_size"),
        (lambda c: c.orders.placed_between(datetime(2024, 1, 2), datetime(2024, 1, 3)), "timezone"),
        (
            lambda c: c.orders.placed_between(
                datetime(2024, 1, 3, tzinfo=timezone.utc), datetime(2024, 1, 2, tzinfo=timezone.utc)
            ),
            "before",
        ),
        (lambda c: c.orders.after_number(-1), "last_id"),
        (lambda c: c.orders.updated_since("yesterday"), "since"),
        (lambda c: c.orders.get("12"), "order_id"),
    ],
)
def test_bad_input_fails_before_any_request(call: Callable[[mo.Client], Any], needle: str) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a request was sent")

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    client = mo.Client(
        "https://x.example/mm5/json.mvc", store_code="S", auth=mo.TokenAuth("t"), http_client=http
    )
    with pytest.raises(FilterError, match=needle) as info:
        call(client)  # iterators validate when they are made, not on first next()
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("paging", STRATEGIES, ids=STRATEGY_IDS)
def test_iter_yields_every_order_once(store: FakeStore, kind: str, paging: Paging | None) -> None:
    orders = collect(kind, store, lambda c: c.orders.iter(page_size=17, paging=paging))
    ids = [o.id for o in orders]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(store.truth())
    if not isinstance(paging, FastPaging):
        assert ids == sorted(ids)


@pytest.mark.parametrize("kind", KINDS)
def test_iter_with_a_filter_and_descending_keyset(store: FakeStore, kind: str) -> None:
    truth = store.truth()
    expected = {oid for oid, data in truth.items() if data["status"] == 200}
    orders = collect(
        kind, store, lambda c: c.orders.iter(where=F.status == 200, sort="-dt_updated", page_size=9)
    )
    assert {o.id for o in orders} == expected
    keys = [(stamp(o), o.id) for o in orders]
    assert keys == sorted(keys, reverse=True)


def test_iterator_streams_and_counts(store: FakeStore) -> None:
    with store.client() as client:
        it = client.orders.iter(page_size=50, columns=())
        first = next(it)
        assert it.pages == 1
        assert it.delivered == 1
        assert isinstance(first, Order)
        rest = list(it)
    assert it.exhausted
    assert it.delivered == 1 + len(rest)
    with pytest.raises(RuntimeError, match="updated_since"):
        _ = it.watermark


class _InFlight(httpx.BaseTransport):
    """Counts the requests in flight at once (each lingers a little, as over a network)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.bodies.append(request.content)
        try:
            time.sleep(0.02)
            return self.inner.handle_request(request)
        finally:
            with self.lock:
                self.now -= 1


def test_sync_fast_paging_has_concurrency_requests_in_flight(store: FakeStore) -> None:
    # FastPaging(concurrency=n) means the same on both clients: n requests in flight, a page each.
    transport = _InFlight(store.transport())
    with store.client(http_client=httpx.Client(transport=transport)) as client:
        orders = list(client.orders.iter(page_size=20, paging=FastPaging(concurrency=4), columns=()))
    assert sorted(o.id for o in orders) == sorted(store.truth())
    assert not [body for body in transport.bodies if b'"Operations"' in body]  # one page per request
    assert transport.most > 1


# -- the pull methods ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_placed_between_is_half_open(store: FakeStore, kind: str) -> None:
    truth = store.truth()
    dates = sorted({data["orderdate"] for data in truth.values()})
    start, end = dates[len(dates) // 4], dates[len(dates) // 2]
    expected = {oid for oid, data in truth.items() if start <= data["orderdate"] < end}
    low = datetime.fromtimestamp(start, tz=timezone.utc)
    high = datetime.fromtimestamp(end, tz=timezone.utc)
    orders = collect(kind, store, lambda c: c.orders.placed_between(low, high, page_size=13))
    assert {o.id for o in orders} == expected
    assert expected  # the window is not empty


@pytest.mark.parametrize("kind", KINDS)
def test_after_number_looks_back_and_skips_known_ids(store: FakeStore, kind: str) -> None:
    ids = sorted(store.truth())
    last = ids[-50]
    expected = {i for i in ids if i > last - 30}
    orders = collect(kind, store, lambda c: c.orders.after_number(last, lookback=30, page_size=16))
    assert [o.id for o in orders] == sorted(expected)
    known = set(ids[-60:-45])
    orders = collect(kind, store, lambda c: c.orders.after_number(last, skip_ids=known))
    assert {o.id for o in orders} == expected - known


@pytest.mark.parametrize("kind", KINDS)
def test_updated_since_and_its_watermark(kind: str) -> None:
    store = FakeStore(orders=120, seed=5)
    truth = store.truth()
    since = sorted(updated_at(d) for d in truth.values())[60]
    expected = {oid for oid, d in truth.items() if updated_at(d) >= since}

    async def apull() -> tuple[list[Order], datetime]:
        async with store.async_client() as client:
            it = client.orders.updated_since(since, page_size=8)
            got = [o async for o in it]
            return got, it.watermark

    if kind == "sync":
        with store.client() as client:
            it = client.orders.updated_since(since, page_size=8)
            with pytest.raises(RuntimeError, match="exhausted"):
                _ = it.watermark
            orders = list(it)
            watermark = it.watermark
    else:
        orders, watermark = asyncio.run(apull())
    assert {o.id for o in orders} == expected
    assert watermark.tzinfo is not None
    assert watermark.timestamp() <= store.clock.time()

    # Changes after the pull are found from the watermark, and nothing older comes back.
    store.advance(5)
    touched = sorted(truth)[:3]
    for oid in touched:
        store.update_order(oid, ship_city="Reykjavík")
    with store.client() as client:
        again = {o.id for o in client.orders.updated_since(watermark)}
    assert set(touched) <= again
    assert again == set(touched)


def test_updated_since_handles_many_orders_in_one_second() -> None:
    store = FakeStore(orders=80, seed=9)
    store.freeze()
    store.advance(3600)
    burst = sorted(store.truth())[:37]
    for oid in burst:
        store.update_order(oid)  # all in the same frozen second
    since = updated_at(store.truth()[burst[0]])
    with store.client() as client:
        it = client.orders.updated_since(since, page_size=5, columns=())
        orders = list(it)
    assert sorted(o.id for o in orders) == burst
    assert it.requests <= len(burst) // 5 + 1  # it ended: no loop on the tie


def test_updated_since_refuses_a_watermark_lookback_that_is_negative() -> None:
    store = FakeStore(orders=5, seed=1)
    with store.client() as client, pytest.raises(FilterError, match="lookback"):
        client.orders.updated_since(0, lookback=timedelta(seconds=-1))


def test_watermark_never_runs_ahead_of_a_store_clock_that_lags() -> None:
    store = FakeStore(orders=30, seed=2)
    store.freeze()
    with store.client(clock=lambda: store.clock.time() + 30) as client:  # our clock runs 30 s ahead
        it = client.orders.updated_since(0, columns=())
        list(it)
    # The store's Date header is in store time, so the watermark follows the store, not our clock.
    assert it.watermark.timestamp() <= store.clock.time()


# -- nothing lost while the store changes ----------------------------------------------------------


def churn(store: FakeStore, step: int) -> None:
    """One burst of activity: a new order, an edit that moves dt_updated, a status change."""
    ids = sorted(store.truth())
    store.advance(1)
    store.create_order()
    store.update_order(ids[(step * 7) % len(ids)], ship_city="Zürich")
    store.update_order(ids[(step * 13 + 5) % len(ids)], status=200)


#: The transient faults an end-to-end pull must ride out: server errors, rate limits, cut bodies, drops.
TRANSIENT_FAULTS = [
    Fault.http(503),
    Fault.http(500),
    Fault.rate_limit(0),
    Fault.truncate(0.4),
    Fault.drop(0.3),
]


@contextlib.contextmanager
def concurrent_writer(store: FakeStore) -> Iterator[list[int]]:
    """A thread that keeps creating and editing orders (``churn``) until the block ends; yields a one-item
    list counting its bursts."""
    stop = threading.Event()
    changes = [0]

    def writer() -> None:
        step = 0
        while not stop.is_set():
            step += 1
            churn(store, step)
            changes[0] += 1
            stop.wait(0.005)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield changes
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("paging", [None, FastPaging(concurrency=3)], ids=["keyset", "fast"])
@pytest.mark.parametrize("method", ["iter", "updated_since", "after_number"])
def test_nothing_lost_while_orders_change_between_pages(
    kind: str, paging: Paging | None, method: str
) -> None:
    store = FakeStore(orders=150, seed=21)
    store.freeze()
    before = store.truth()
    first_id = min(before)

    def make(client: Any) -> Any:
        if method == "iter":
            return client.orders.iter(page_size=10, paging=paging, columns=())
        if method == "updated_since":
            return client.orders.updated_since(0, page_size=10, paging=paging, columns=())
        return client.orders.after_number(
            first_id, lookback=first_id, page_size=10, paging=paging, columns=()
        )

    delivered: list[Order] = []
    step = 0
    if kind == "sync":
        with store.client() as client:
            for order in make(client):
                delivered.append(order)
                if len(delivered) % 9 == 0:
                    step += 1
                    churn(store, step)
    else:

        async def go() -> None:
            nonlocal step
            async with store.async_client() as client:
                async for order in make(client):
                    delivered.append(order)
                    if len(delivered) % 9 == 0:
                        step += 1
                        churn(store, step)

        asyncio.run(go())
    assert step > 5
    assert_nothing_lost(before, delivered)
    if method != "updated_since":
        assert len({o.id for o in delivered}) == len(delivered)  # by id: each once


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_nothing_lost_over_real_http_with_faults_and_concurrent_writers(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    store = FakeStore(orders=400, seed=33)
    store.faults.random(rate=0.3, seed=4, kinds=TRANSIENT_FAULTS)
    before = store.truth()
    policy = mo.RetryPolicy(max_attempts=12, wait=False)
    with store.serve() as endpoint, concurrent_writer(store) as changes:
        if kind == "sync":
            with mo.Client(
                endpoint,
                store_code=store.store_code,
                auth=mo.HmacAuth(store.token, store.signing_key),
                retry=policy,
                clock=store.clock.time,
            ) as client:
                it = client.orders.updated_since(0, page_size=25, columns=(mo.ITEMS,))
                delivered = list(it)
        else:

            async def go() -> list[Order]:
                async with mo.AsyncClient(
                    endpoint,
                    store_code=store.store_code,
                    auth=mo.HmacAuth(store.token, store.signing_key),
                    retry=policy,
                    clock=store.clock.time,
                ) as client:
                    it = client.orders.iter(
                        page_size=25, paging=FastPaging(concurrency=4), columns=(mo.ITEMS,)
                    )
                    return [o async for o in it]

            delivered = asyncio.run(go())
    assert changes[0] > 0
    assert store.stats.faults_before + store.stats.faults_after > 0
    assert_nothing_lost(before, delivered)


@pytest.mark.parametrize(
    ("paging", "loses"), [(OffsetPaging(), True), (KeysetPaging(), False)], ids=["offset", "keyset"]
)
def test_rows_leaving_the_result_skip_orders_under_offset_paging_only(paging: Paging, loses: bool) -> None:
    """Why keyset is the default: the check above can fail, and does for offset paging."""
    store = FakeStore(orders=200, seed=4)
    before = {oid: d for oid, d in store.truth().items() if d["status"] != 300}
    delivered: list[Order] = []
    with store.client() as client:
        for order in client.orders.iter(where=F.status != 300, page_size=10, paging=paging, columns=()):
            delivered.append(order)
            if len(delivered) == 10:
                for done in delivered[:5]:
                    store.update_order(done.id, status=300)  # five delivered orders leave the result
    if loses:
        with pytest.raises(AssertionError, match="lost"):
            assert_nothing_lost(before, delivered)
    else:
        assert_nothing_lost(before, delivered)
