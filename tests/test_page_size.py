"""The adaptive page size: the pure policy, and the pulls (sync and async) that follow it.

The policy reads no clock, so the pulls here run on a client clock that steps by a set amount on every
reading: each page then seems to take a known time, and what the policy does with it is deterministic.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

import mivaorders as mo
from mivaorders import AdaptivePageSize, FilterError, PageFailure, PageSizer
from mivaorders._page_size import classify_failure
from mivaorders.incremental import CallbackSink, MemoryCheckpoints, OrderSync
from mivaorders.models import Order
from mivaorders.pagination import FastPaging, Paging
from mivaorders.queues import DrainReport, DrainStop
from mivaorders.testing import FakeStore, Fault

from .test_orders import TRANSIENT_FAULTS, assert_nothing_lost, churn, concurrent_writer

KINDS = ["sync", "async"]

# -- the policy, alone ------------------------------------------------------------------------------


def grow_all_the_way(sizer: PageSizer, elapsed: float = 0.05) -> list[int]:
    sizes = [sizer.size]
    for _ in range(10):
        sizer.answered(sizer.size, elapsed)
        sizes.append(sizer.size)
    return sizes


def test_starts_polite_and_grows_while_answers_are_fast() -> None:
    sizer = AdaptivePageSize().sizer()
    assert sizer.size == 100
    assert grow_all_the_way(sizer)[:6] == [100, 200, 400, 800, 1000, 1000]
    assert [change[:2] for change in sizer.changes] == [(100, 200), (200, 400), (400, 800), (800, 1000)]


def test_grows_only_while_a_bigger_page_is_expected_within_the_target() -> None:
    sizer = AdaptivePageSize(target_seconds=2.0).sizer()
    sizer.answered(100, 0.9)  # 200 orders at this pace: 1.8 s, inside the target
    assert sizer.size == 200
    sizer.answered(200, 1.5)  # 400 would take 3 s: stay
    assert sizer.size == 200


def test_a_slow_answer_shrinks_to_what_fits_the_target() -> None:
    sizer = AdaptivePageSize(start=800, target_seconds=2.0).sizer()
    sizer.answered(800, 8.0)
    assert sizer.size == 160  # 800 * 0.8 * 2 / 8
    assert "slow" in sizer.changes[-1][2]


@pytest.mark.parametrize("failure", list(PageFailure))
def test_each_failure_halves_and_growth_waits_for_calm(failure: PageFailure) -> None:
    sizer = AdaptivePageSize(start=400, calm_pages=2).sizer()
    sizer.failed(failure)
    assert sizer.size == 200
    assert sizer.changes[-1] == (400, 200, failure.value)
    sizer.answered(200, 0.01)
    sizer.answered(200, 0.01)
    assert sizer.size == 200  # two calm pages first
    sizer.answered(200, 0.01)
    assert sizer.size == 400


def test_never_below_the_minimum_nor_above_the_maximum() -> None:
    sizer = AdaptivePageSize(start=20, minimum=10, maximum=40).sizer()
    for _ in range(5):
        sizer.failed(PageFailure.TIMEOUT)
    assert sizer.size == 10
    sizer.answered(10, 100.0)
    assert sizer.size == 10
    assert max(grow_all_the_way(AdaptivePageSize(start=20, minimum=10, maximum=40).sizer())) == 40


def test_pages_in_flight_share_the_maximum() -> None:
    sizer = AdaptivePageSize().sizer(in_flight=4)
    assert max(grow_all_the_way(sizer)) == 250
    many = AdaptivePageSize(minimum=10).sizer(in_flight=32)
    assert many.size == 31  # the start is capped too
    assert AdaptivePageSize(minimum=50).sizer(in_flight=32).maximum == 50
    with pytest.raises(FilterError, match="in_flight"):
        AdaptivePageSize().sizer(in_flight=0)


def test_shrink_only_policy_never_grows() -> None:
    sizer = AdaptivePageSize(grow=False).sizer()
    assert grow_all_the_way(sizer) == [100] * 11
    sizer.failed(PageFailure.SERVER_ERROR)
    assert sizer.size == 50


def test_answers_to_older_smaller_pages_do_not_drive_growth() -> None:
    sizer = AdaptivePageSize().sizer()
    sizer.answered(100, 0.01)
    assert sizer.size == 200
    sizer.answered(100, 0.01)  # in flight before the growth
    assert sizer.size == 200


def test_the_target_stays_well_inside_the_tightest_time_limit() -> None:
    policy = AdaptivePageSize(target_seconds=2.0)
    assert policy.sizer().target == 2.0
    assert policy.sizer(None, 60.0).target == 2.0
    assert policy.sizer(90.0, 4.0).target == 1.0  # api_timeout=4: a quarter of it
    assert policy.sizer(2.0, 60.0).target == 0.5  # a 2 s read timeout


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"start": 0}, "start"),
        ({"maximum": 6000}, "maximum"),
        ({"start": 5, "minimum": 10}, "minimum <= start"),
        ({"target_seconds": 0}, "target_seconds"),
        ({"growth": 1}, "growth"),
        ({"calm_pages": -1}, "calm_pages"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(FilterError, match=needle):
        AdaptivePageSize(**options)


def test_failures_are_classified() -> None:
    assert classify_failure(mo.RequestTimeoutError("t", maybe_sent=True)) is PageFailure.TIMEOUT
    assert classify_failure(mo.HTTPStatusError(503)) is PageFailure.SERVER_ERROR
    assert classify_failure(mo.HTTPStatusError(429)) is PageFailure.RATE_LIMITED
    assert classify_failure(mo.HTTPStatusError(404)) is None
    assert classify_failure(ValueError("x")) is None


# -- pulls that follow it ---------------------------------------------------------------------------


class SteppingClock:
    """A client clock that moves ``step`` seconds on every reading (from the store's own time)."""

    def __init__(self, store: FakeStore, step: float) -> None:
        self.store = store
        self.step = step
        self.ticks = 0.0

    def __call__(self) -> float:
        self.ticks += self.step
        return self.store.clock.time() + self.ticks


def sent_counts(http: httpx.Client | httpx.AsyncClient, function: str = "OrderList_Load_Query") -> list[int]:
    """The ``Count`` of every order page the client sends (multicall operations included)."""
    counts: list[int] = []

    def record(request: httpx.Request) -> None:
        body = json.loads(request.content)
        for operation in body.get("Operations", [body]):
            called = operation.get("Module_Function") or operation.get("Function")
            if called == function and operation.get("Count", 0) > 1:
                counts.append(operation["Count"])

    async def arecord(request: httpx.Request) -> None:
        record(request)

    if isinstance(http, httpx.AsyncClient):
        http.event_hooks["request"].append(arecord)
    else:
        http.event_hooks["request"].append(record)
    return counts


def pull(
    kind: str,
    store: FakeStore,
    make: Callable[[Any], Any],
    *,
    between: Callable[[int], None] | None = None,
    **options: Any,
) -> tuple[list[Order], list[int], Any]:
    """Run a pull to the end; ``between(n)`` runs after each delivered order. Returns the orders, the
    page sizes sent and the exhausted iterator."""
    delivered: list[Order] = []
    if kind == "sync":
        with store.client(**options) as client:
            counts = sent_counts(client._http)
            it = make(client)
            for order in it:
                delivered.append(order)
                if between is not None:
                    between(len(delivered))
        return delivered, counts, it

    async def go() -> tuple[list[Order], list[int], Any]:
        async with store.async_client(**options) as client:
            counts = sent_counts(client._http)
            it = make(client)
            async for order in it:
                delivered.append(order)
                if between is not None:
                    between(len(delivered))
            return delivered, counts, it

    return asyncio.run(go())


def fresh_store(orders: int, seed: int = 5) -> FakeStore:
    store = FakeStore(orders=orders, seed=seed, timestamp_window=100_000)
    store.freeze()
    return store


@pytest.mark.parametrize("kind", KINDS)
def test_iter_with_no_options_grows_to_a_thousand(kind: str) -> None:
    store = fresh_store(2600)
    clock = SteppingClock(store, 0.01)
    orders, counts, it = pull(kind, store, lambda c: c.orders.iter(columns=()), clock=clock)
    assert sorted(o.id for o in orders) == sorted(store.truth())
    assert counts[:5] == [100, 200, 400, 800, 1000]
    assert it.page_size == 1000
    assert len(counts) == 6  # a fixed Count=100 would take 26 requests


@pytest.mark.parametrize("kind", KINDS)
def test_fast_paging_lanes_share_the_adaptive_maximum(kind: str) -> None:
    store = fresh_store(2600)
    make = lambda c: c.orders.iter(paging=FastPaging(concurrency=4), columns=())  # noqa: E731
    orders, counts, it = pull(kind, store, make, clock=SteppingClock(store, 0.01))
    assert sorted(o.id for o in orders) == sorted(store.truth())
    assert max(counts) == 250  # four pages in flight hold at most 1,000 orders
    assert it.page_size == 250


@pytest.mark.parametrize("kind", KINDS)
def test_an_explicit_page_size_wins(kind: str) -> None:
    store = fresh_store(250)
    orders, counts, it = pull(kind, store, lambda c: c.orders.iter(page_size=100, columns=()))
    assert len(orders) == 250
    assert counts == [100, 100, 100]
    assert it.page_size_changes == []


@pytest.mark.parametrize("kind", KINDS)
def test_slow_answers_shrink_the_pages(kind: str) -> None:
    store = fresh_store(300)
    clock = SteppingClock(store, 1.5)  # every page seems to take 3 s (two readings a request)
    policy = AdaptivePageSize(start=100, minimum=10)
    orders, counts, _ = pull(kind, store, lambda c: c.orders.iter(page_size=policy, columns=()), clock=clock)
    assert len(orders) == 300
    assert counts[:3] == [100, 53, 28]  # 100 * 0.8 * 2 / 3, then again
    assert min(counts) >= 10


@pytest.mark.parametrize("kind", KINDS)
def test_the_api_timeout_setting_caps_how_long_a_page_may_take(kind: str) -> None:
    store = fresh_store(700)
    # Each page seems to take 0.8 s: fast against the default 2 s target, slow inside api_timeout=2.
    make = lambda c: c.orders.iter(columns=())  # noqa: E731
    _, unlimited, _ = pull(kind, store, make, clock=SteppingClock(store, 0.4))
    _, limited, it = pull(kind, store, make, clock=SteppingClock(store, 0.4), api_timeout=2)
    assert unlimited[:2] == [100, 200]
    assert limited[:2] == [100, 50]
    assert "slow answer" in it.page_size_changes[0][2]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("fault", "why"),
    [(Fault.http(503), "server error"), (Fault.rate_limit(0), "rate limited"), (Fault.slow(5), "timeout")],
    ids=["5xx", "429", "timeout"],
)
def test_failures_shrink_the_retried_page(kind: str, fault: Fault, why: str) -> None:
    store = fresh_store(400)
    store.faults.script(fault, times=2, when="before" if fault.kind != "slow" else "after")
    policy = mo.RetryPolicy(max_attempts=5, wait=False)
    orders, counts, it = pull(
        kind,
        store,
        lambda c: c.orders.iter(columns=()),
        retry=policy,
        timeout=0.2,
        clock=SteppingClock(store, 0),
    )
    assert sorted(o.id for o in orders) == sorted(store.truth())
    assert counts[:3] == [100, 50, 25]  # the failed page is re-planned smaller before each retry
    assert [change[2] for change in it.page_size_changes[:2]] == [why, why]


def test_the_same_steps_sync_and_async() -> None:
    store = fresh_store(1200)

    def run(kind: str) -> list[int]:
        store.faults.script(Fault.http(503), times=1)
        return pull(
            kind,
            store,
            lambda c: c.orders.iter(columns=()),
            retry=mo.RetryPolicy(wait=False),
            clock=SteppingClock(store, 0.01),
        )[1]

    assert run("sync") == run("async")


# -- keyset correctness while the size changes and the store churns ---------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("paging", [None, FastPaging(concurrency=3)], ids=["keyset", "fast"])
@pytest.mark.parametrize("method", ["iter", "updated_since", "after_number", "placed_between"])
def test_nothing_lost_while_the_page_size_changes_and_orders_change(
    kind: str, paging: Paging | None, method: str
) -> None:
    store = fresh_store(200, seed=21)
    before = store.truth()
    first_id = min(before)
    # Grow from 8 towards 64, with 503s along the way that halve it again mid-pull.
    store.faults.random(rate=0.25, kinds=[Fault.http(503)], seed=3, when="before")
    policy = AdaptivePageSize(start=5, minimum=2, maximum=40, calm_pages=1)

    def make(client: Any) -> Any:
        options: dict[str, Any] = {"page_size": policy, "paging": paging, "columns": ()}
        if method == "iter":
            return client.orders.iter(**options)
        if method == "updated_since":
            return client.orders.updated_since(0, **options)
        if method == "placed_between":
            return client.orders.placed_between(date(1970, 1, 2), date(2100, 1, 1), **options)
        return client.orders.after_number(first_id, lookback=first_id, **options)

    steps = [0]

    def between(delivered: int) -> None:
        if delivered % 9 == 0:
            steps[0] += 1
            churn(store, steps[0])

    orders, counts, it = pull(
        kind,
        store,
        make,
        between=between,
        retry=mo.RetryPolicy(max_attempts=20, wait=False),
        clock=SteppingClock(store, 0.01),
    )
    reasons = {why.split(" (")[0] for _, _, why in it.page_size_changes}
    assert {"fast answer", "server error"} <= reasons  # it grew and shrank during this pull
    assert len(set(counts)) > 3
    assert steps[0] > 5
    if method == "placed_between":
        # New orders churn adds are placed "now", inside the window too; only the existing ones are promised.
        assert {o.id for o in orders} >= set(before)
    else:
        assert_nothing_lost(before, orders)
    if method != "updated_since":
        assert len({o.id for o in orders}) == len(orders)  # by id: each once


# -- syncs and queue drains ------------------------------------------------------------------------


def test_order_sync_pulls_with_the_adaptive_size_and_commits_batches_of_100() -> None:
    store = fresh_store(1600)
    committed: list[int] = []
    with store.client(clock=SteppingClock(store, 0.01)) as client:
        counts = sent_counts(client._http)
        sink = CallbackSink(lambda orders: committed.append(len(orders)))
        report = OrderSync(client, sink, checkpoints=MemoryCheckpoints()).run()
    assert report.complete
    assert report.orders == 1600
    assert counts[:4] == [100, 200, 400, 800]
    assert set(committed[:-1]) == {100}


def drain_counts(kind: str, store: FakeStore, step: float, **options: Any) -> tuple[list[int], DrainReport]:
    def handler(orders: list[Order]) -> None:
        return None

    if kind == "sync":
        with store.client(clock=SteppingClock(store, step), retry=mo.RetryPolicy(wait=False)) as client:
            counts = sent_counts(client._http, "QueueOrderList_Load_Query")
            return counts, client.queues.drain("new_and_updated", handler, **options)

    async def go() -> tuple[list[int], DrainReport]:
        async with store.async_client(
            clock=SteppingClock(store, step), retry=mo.RetryPolicy(wait=False)
        ) as client:
            counts = sent_counts(client._http, "QueueOrderList_Load_Query")
            return counts, await client.queues.drain("new_and_updated", handler, **options)

    return asyncio.run(go())


@pytest.mark.parametrize("kind", KINDS)
def test_a_drain_with_acknowledgement_grows_its_pages(kind: str) -> None:
    store = fresh_store(100)
    for _ in range(400):
        store.create_order()  # new orders enter the queue
    queued = len(store.queue_members("new_and_updated"))
    assert queued > 400
    counts, report = drain_counts(kind, store, 0.01, guard_updates=False)
    assert report.stopped is DrainStop.EMPTY
    assert report.acknowledged == queued
    assert counts[:3] == [100, 200, 400]


def moving_queue(new_orders: int) -> FakeStore:
    """A store whose no-acknowledgement workflow moves loaded orders out, with ``new_orders`` queued."""
    store = FakeStore(orders=50, seed=11, workflow="move", timestamp_window=100_000)
    store.freeze()
    for _ in range(new_orders):
        store.create_order()
    return store


@pytest.mark.parametrize("kind", KINDS)
def test_a_drain_without_acknowledgement_never_grows_its_pages(kind: str) -> None:
    store = moving_queue(300)
    queued = len(store.queue_members("new_and_updated"))
    counts, report = drain_counts(kind, store, 0.01, acknowledge=False)
    assert report.delivered == queued
    assert len(counts) > 3
    assert set(counts) == {100}


@pytest.mark.parametrize("kind", KINDS)
def test_a_drain_without_acknowledgement_shrinks_after_slow_loads(kind: str) -> None:
    store = moving_queue(200)
    queued = len(store.queue_members("new_and_updated"))
    counts, report = drain_counts(kind, store, 1.5, acknowledge=False)
    assert report.delivered == queued
    # How far it shrinks depends on how many clock readings a load spans (the no-acknowledgement drain
    # also reads the store's clock offset); what matters is that every slow load makes the next smaller.
    assert counts[0] == 100
    assert counts[0] > counts[1] > counts[2] >= 10


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_nothing_lost_over_real_http_with_faults_writers_and_a_changing_size(kind: str) -> None:
    store = FakeStore(orders=400, seed=33)
    store.faults.random(rate=0.3, seed=6, kinds=TRANSIENT_FAULTS)
    before = store.truth()
    policy = AdaptivePageSize(start=10, minimum=5, maximum=80)
    options: dict[str, Any] = {
        "store_code": store.store_code,
        "auth": mo.HmacAuth(store.token, store.signing_key),
        "retry": mo.RetryPolicy(max_attempts=12, wait=False),
        "clock": store.clock.time,
    }
    with store.serve() as endpoint, concurrent_writer(store) as changes:
        if kind == "sync":
            with mo.Client(endpoint, **options) as client:
                it: Any = client.orders.updated_since(0, page_size=policy, columns=(mo.ITEMS,))
                delivered = list(it)
        else:

            async def go() -> tuple[Any, list[Order]]:
                async with mo.AsyncClient(endpoint, **options) as client:
                    pull = client.orders.iter(page_size=policy, columns=(mo.ITEMS,))
                    return pull, [o async for o in pull]

            it, delivered = asyncio.run(go())
    assert changes[0] > 0
    assert store.stats.faults_before + store.stats.faults_after > 0
    assert it.page_size_changes  # the size moved during this pull
    assert_nothing_lost(before, delivered)
    if kind == "async":
        assert len({o.id for o in delivered}) == len(delivered)
