"""``client.queues`` against the simulated store, in every workflow variant, sync and async.

The proofs: after draining, every order that entered the queue reached the handler at least once in its
latest version, and nothing the handler did not accept was acknowledged — with faults before and after the
store acted, orders created and edited while draining, a handler that fails and one that rejects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

import httpx
import pytest

import mivaorders as mo
from mivaorders import ArgumentError
from mivaorders.models import Order
from mivaorders.queues import ACK_BATCH, AckResult, DrainReport, DrainStop, Queue
from mivaorders.testing import FakeStore, Fault

QUEUE = "new_and_updated"
KINDS = ["sync", "async"]
FAST = mo.RetryPolicy(max_attempts=8, wait=False)


class Recorder:
    """A drain handler that keeps every version it saw, may reject ids, and churns the store."""

    def __init__(self, store: FakeStore, *, reject: set[int] | None = None, churn: bool = False) -> None:
        self.store = store
        self.reject = reject or set()
        self.churn = churn
        self.seen: dict[int, list[Order]] = {}
        self.accepted: set[int] = set()
        self.entered: set[int] = set(store.queue_members(QUEUE))
        self.calls = 0

    def __call__(self, orders: list[Order]) -> list[int] | None:
        self.calls += 1
        for order in orders:
            self.seen.setdefault(order.id, []).append(order)
        rejected = [o.id for o in orders if o.id in self.reject]
        self.accepted.update(o.id for o in orders if o.id not in self.reject)
        if self.churn and self.calls <= 8:
            self._churn(orders)
        return rejected or None

    def _churn(self, orders: list[Order]) -> None:
        """Between the load and the acknowledgement: the update race, and new orders arriving."""
        store = self.store
        store.advance(1)
        if self.calls % 2:
            # An address edit does not re-queue: only the drain's guard can save this version.
            store.update_order(orders[0].id, ship_city=f"Edited {self.calls}")
        else:
            # A line change re-queues (the store's workflow listens to it).
            store.update_order(orders[-1].id, add_item=True)
        if self.calls <= 6:
            self.entered.add(store.create_order())

    def latest(self, order_id: int) -> Order:
        return self.seen[order_id][-1]


ACKED: dict[int, set[int]] = {}


@pytest.fixture(autouse=True)
def _fresh_spy() -> None:
    ACKED.clear()  # keyed by id(store): ids are reused once a store is gone


def _spy(store: FakeStore, request: httpx.Request) -> None:
    body = json.loads(request.content)
    if body.get("Module_Function") == "OrderList_Acknowledge":
        ACKED.setdefault(id(store), set()).update(body["Order_IDs"])


def run_drain(
    kind: str, store: FakeStore, handler: Callable[[list[Order]], Any], **options: Any
) -> DrainReport:
    retry = options.pop("retry", FAST)
    if kind == "sync":
        with store.client(retry=retry) as client:
            client._http.event_hooks["request"].append(lambda r: _spy(store, r))
            return client.queues.drain(QUEUE, handler, **options)

    async def spy(request: httpx.Request) -> None:
        _spy(store, request)

    async def go() -> DrainReport:
        async with store.async_client(retry=retry) as client:
            client._http.event_hooks["request"].append(spy)
            return await client.queues.drain(QUEUE, handler, **options)

    return asyncio.run(go())


def acknowledged_ids(store: FakeStore) -> set[int]:
    """Every id the client sent in an ``OrderList_Acknowledge`` during the test."""
    return ACKED.get(id(store), set())


def assert_latest_versions_delivered(store: FakeStore, recorder: Recorder) -> None:
    truth = store.truth()
    for oid in recorder.entered:
        assert oid in recorder.seen, f"order {oid} entered the queue but never reached the handler"
        last, now = recorder.latest(oid), truth[oid]
        assert last.ship_city == now["ship_city"], f"order {oid}: edit {now['ship_city']!r} not delivered"
        assert last.total == now["total"], f"order {oid}: total {now['total']} not delivered"


# -- discovery, load, acknowledge ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_list_queues_discovers_store_defined_codes(kind: str) -> None:
    store = FakeStore(orders=20, seed=1)
    if kind == "sync":
        with store.client() as client:
            queues = client.queues.list_queues()
    else:

        async def go() -> list[Queue]:
            async with store.async_client() as client:
                return await client.queues.list_queues()

        queues = asyncio.run(go())
    assert Queue("new_and_updated", "New & Updated Orders") in queues
    assert {q.code for q in queues} >= {"new_and_updated", "successfully_retrieved_orders"}


def test_load_returns_queue_members_and_leaves_them() -> None:
    store = FakeStore(orders=150, seed=2)
    members = set(store.queue_members(QUEUE))
    with store.client() as client:
        page = client.queues.load(QUEUE, count=200, acknowledge=True)
    assert {o.id for o in page} == members
    assert page.total_count == len(members)
    assert set(store.queue_members(QUEUE)) == members  # the acknowledgement workflow leaves them


def test_unknown_queue_is_a_not_found_error() -> None:
    store = FakeStore(orders=5, seed=2)
    with store.client() as client, pytest.raises(mo.NotFoundError, match="Queue not found"):
        client.queues.load("no_such_queue", acknowledge=True)


def test_acknowledge_batches_and_resends_what_the_budget_left() -> None:
    store = FakeStore(orders=400, seed=3, ack_budget=30)
    ids = sorted(store.truth())[: ACK_BATCH + 70]
    bodies: list[dict[str, Any]] = []
    with store.client() as client:
        client._http.event_hooks["request"].append(lambda r: bodies.append(json.loads(r.content)))
        result = client.queues.acknowledge([*ids, 999999])
    assert result.sent == len(ids) + 1
    assert result.processed == len(ids) + 1
    assert result.unknown_ids == (999999,)
    assert all(len(b["Order_IDs"]) <= ACK_BATCH for b in bodies)
    sent_in_order = [i for b in bodies for i in b["Order_IDs"]]
    assert sent_in_order[:ACK_BATCH] == ids[:ACK_BATCH]
    assert result.requests == len(bodies) > 2
    assert set(ids) <= set(store.queue_members("successfully_retrieved_orders"))


@pytest.mark.parametrize("bad", [[], [0], ["12"], "1|2", [True]])
def test_acknowledge_refuses_bad_ids_before_sending(bad: Any) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("sent")

    client = mo.Client(
        "https://x.example/mm5/json.mvc",
        store_code="S",
        auth=mo.TokenAuth("t"),
        http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(ArgumentError):
        client.queues.acknowledge(bad)


def test_acknowledge_is_retried_and_load_without_ack_is_not() -> None:
    store = FakeStore(orders=50, seed=4)
    ids = sorted(store.truth())[:3]
    store.faults.script(Fault.http(503), times=1, when="after", function="OrderList_Acknowledge")
    with store.client(retry=FAST) as client:
        assert client.queues.acknowledge(ids).processed == 3
        store.faults.script(Fault.http(503), times=1, when="before", function="QueueOrderList_Load_Query")
        with pytest.raises(mo.LostPageError) as lost:
            client.queues.load(QUEUE)  # might have moved orders: never blindly retried
        assert isinstance(lost.value.__cause__, mo.HTTPStatusError)
        store.faults.script(Fault.http(503), times=1, when="before", function="QueueOrderList_Load_Query")
        assert client.queues.load(QUEUE, acknowledge=True).total_count >= 0


# -- drain with acknowledgement --------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_drain_acknowledges_exactly_what_was_accepted(kind: str) -> None:
    store = FakeStore(orders=400, seed=5)
    members = store.queue_members(QUEUE)
    assert len(members) > 10
    reject = {members[1], members[7]}
    recorder = Recorder(store, reject=reject)
    report = run_drain(kind, store, recorder, page_size=4)
    assert report.stopped is DrainStop.EMPTY
    assert set(report.rejected) == reject
    assert report.delivered == len(members)
    assert report.acknowledged == len(members) - len(reject)
    assert set(store.queue_members(QUEUE)) == reject  # rejected orders are left in the queue
    assert acknowledged_ids(store) & reject == set()
    assert set(members) - reject <= acknowledged_ids(store)
    assert "rejected" in report.reason


@pytest.mark.parametrize("kind", KINDS)
def test_drain_guards_the_update_race_and_delivers_latest_versions(kind: str) -> None:
    store = FakeStore(orders=500, seed=6)
    store.freeze()
    recorder = Recorder(store, churn=True)
    report = run_drain(kind, store, recorder, page_size=5)
    assert report.stopped is DrainStop.EMPTY
    assert report.redelivered > 0  # edited between load and acknowledge: delivered again
    assert store.queue_members(QUEUE) == []
    assert_latest_versions_delivered(store, recorder)
    assert acknowledged_ids(store) >= recorder.entered
    assert recorder.accepted >= acknowledged_ids(store)


def test_without_the_guard_an_edit_is_acknowledged_away_unseen() -> None:
    """The race the guard closes: proof that the check above can fail."""
    store = FakeStore(orders=500, seed=6)
    store.freeze()
    recorder = Recorder(store, churn=True)
    run_drain("sync", store, recorder, page_size=5, guard_updates=False)
    with pytest.raises(AssertionError, match="not delivered"):
        assert_latest_versions_delivered(store, recorder)


@pytest.mark.parametrize("kind", KINDS)
def test_handler_failure_acknowledges_nothing_of_that_page(kind: str) -> None:
    store = FakeStore(orders=300, seed=7)
    members = set(store.queue_members(QUEUE))
    calls = [0]

    def flaky(orders: list[Order]) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        run_drain(kind, store, flaky, page_size=3)
    acked = set(acknowledged_ids(store))
    assert len(acked) == 3  # the first page only
    assert acked <= members
    assert len(members - acked) == len(store.queue_members(QUEUE))
    # Run it again: everything left comes through.
    recorder = Recorder(store)
    report = run_drain(kind, store, recorder, page_size=3)
    assert report.stopped is DrainStop.EMPTY
    assert set(recorder.seen) == members - acked


@pytest.mark.parametrize("kind", KINDS)
def test_async_and_sync_handlers(kind: str) -> None:
    store = FakeStore(orders=200, seed=8)
    members = set(store.queue_members(QUEUE))
    seen: list[int] = []
    if kind == "sync":

        def handler_sync(orders: list[Order]) -> None:
            seen.extend(o.id for o in orders)

        report = run_drain(kind, store, handler_sync, page_size=7)
    else:

        async def handler(orders: list[Order]) -> None:
            await asyncio.sleep(0)
            seen.extend(o.id for o in orders)

        report = run_drain(kind, store, handler, page_size=7)
    assert set(seen) == members
    assert report.pages == -(-len(members) // 7)


def test_handler_must_reject_ids_from_its_page() -> None:
    store = FakeStore(orders=100, seed=9)
    with pytest.raises(ArgumentError, match="not in its page"):
        run_drain("sync", store, lambda orders: [1], page_size=5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("when", ["before", "after"])
def test_drain_with_acknowledgement_survives_faults(kind: str, when: Literal["before", "after"]) -> None:
    store = FakeStore(orders=500, seed=10)
    store.faults.random(
        rate=0.3, seed=3, when=when, kinds=[Fault.http(503), Fault.http(502), Fault.drop(0.5)]
    )
    recorder = Recorder(store, churn=True)
    report = run_drain(kind, store, recorder, page_size=6, retry=mo.RetryPolicy(max_attempts=25, wait=False))
    assert report.stopped is DrainStop.EMPTY
    assert store.stats.faults_before + store.stats.faults_after > 0
    assert_latest_versions_delivered(store, recorder)


# -- drain without acknowledgement -----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_no_ack_moving_workflow_drains_from_offset_zero(kind: str) -> None:
    store = FakeStore(orders=400, seed=11, workflow="move")
    recorder = Recorder(store, churn=True)
    loads: list[dict[str, Any]] = []
    report = run_drain(kind, store, recorder, acknowledge=False, page_size=4)
    del loads
    assert report.stopped is DrainStop.EMPTY
    assert report.acknowledged == 0
    assert store.queue_members(QUEUE) == []
    # Edits that re-queue come back; address edits after a load are only caught by reconciliation.
    for oid in recorder.entered:
        assert oid in recorder.seen


def test_no_ack_loads_always_read_offset_zero() -> None:
    store = FakeStore(orders=300, seed=12, workflow="move")
    offsets: list[int] = []

    def spy(request: httpx.Request) -> None:
        body = json.loads(request.content)
        if body.get("Module_Function") == "QueueOrderList_Load_Query":
            offsets.append(body["Offset"])

    with store.client() as client:
        client._http.event_hooks["request"].append(spy)
        client.queues.drain(QUEUE, lambda orders: None, acknowledge=False, page_size=2)
    assert offsets
    assert set(offsets) == {0}


@pytest.mark.parametrize("kind", KINDS)
def test_add_only_workflow_is_detected_and_reported(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mivaorders")
    store = FakeStore(orders=300, seed=13, workflow="add")
    members = set(store.queue_members(QUEUE))
    recorder = Recorder(store)
    report = run_drain(kind, store, recorder, acknowledge=False, page_size=100)
    assert report.stopped is DrainStop.NOTHING_NEW
    assert "never drains" in report.reason
    assert report.warnings
    assert "queue_move" in caplog.text
    assert set(recorder.seen) == members
    assert set(store.queue_members(QUEUE)) == members


@pytest.mark.parametrize("kind", KINDS)
def test_no_ack_lost_response_without_recovery_is_covered_by_reconciliation(kind: str) -> None:
    """With recovery off (``moved_to=None``) a response lost after the store moved the orders cannot be
    retried: the drain raises a LostPageError, and reconciling by last update from its ``since`` finds
    those orders again."""
    store = FakeStore(orders=400, seed=14, workflow="move")
    store.freeze()
    members = set(store.queue_members(QUEUE))
    store.faults.script(Fault.drop(0.5), times=1, when="after", function="QueueOrderList_Load_Query")
    recorder = Recorder(store)
    with pytest.raises(mo.LostPageError) as raised:
        run_drain(kind, store, recorder, acknowledge=False, page_size=5, moved_to=None)
    assert isinstance(raised.value, mo.TransportError)  # what callers caught before
    assert raised.value.moved_to is None
    lost = members - set(store.queue_members(QUEUE)) - set(recorder.seen)
    assert len(lost) == 5  # moved out by the load whose answer never arrived
    report = run_drain(kind, store, recorder, acknowledge=False, page_size=5, moved_to=None)
    assert report.stopped is DrainStop.EMPTY
    assert report.recoveries == 0
    assert lost.isdisjoint(recorder.seen)
    with store.client() as client:
        reconciled = {o.id for o in client.orders.updated_since(raised.value.since, columns=())}
    assert lost <= reconciled  # the move bumped dt_updated, so the lost ones show up


def test_no_ack_handler_failure_logs_the_orders_to_reconcile(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mivaorders")
    store = FakeStore(orders=200, seed=15, workflow="move")

    def broken(orders: list[Order]) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_drain("sync", store, broken, acknowledge=False, page_size=3)
    assert "reconcile" in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("workflow", ["acknowledge", "move"])
def test_drain_over_real_http_with_concurrent_writers(workflow: str) -> None:
    store = FakeStore(orders=600, seed=16, workflow=workflow)
    store.faults.random(rate=0.2, seed=5, when="before", kinds=[Fault.rate_limit(0)])
    created: list[int] = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set() and len(created) < 40:
            created.append(store.create_order())
            stop.wait(0.002)

    entered = set(store.queue_members(QUEUE))
    seen: set[int] = set()
    with store.serve() as endpoint:
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        with mo.Client(
            endpoint,
            store_code=store.store_code,
            auth=mo.HmacAuth(store.token, store.signing_key),
            retry=mo.RetryPolicy(max_attempts=10, wait=False),
            clock=store.clock.time,
        ) as client:
            report = client.queues.drain(
                QUEUE,
                lambda orders: seen.update(o.id for o in orders),
                acknowledge=workflow == "acknowledge",
                page_size=8,
            )
            thread.join()
            stop.set()
            report2 = client.queues.drain(
                QUEUE,
                lambda orders: seen.update(o.id for o in orders),
                acknowledge=workflow == "acknowledge",
                page_size=8,
            )
    assert report.stopped is DrainStop.EMPTY
    assert report2.stopped is DrainStop.EMPTY
    assert entered | set(created) <= seen
    assert store.queue_members(QUEUE) == []


def test_ack_result_unknown_ids() -> None:
    result = AckResult(2, 2, (mo.ItemError("5", "MER-UTIL-ORWF-00180", "Order not found"),), 1)
    assert result.unknown_ids == (5,)


@pytest.mark.parametrize("kind", KINDS)
def test_acknowledgement_that_moves_nothing_is_detected(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    """No enabled acknowledgement workflow: acknowledging leaves orders queued. Stop, don't loop."""
    caplog.set_level(logging.WARNING, logger="mivaorders")
    store = FakeStore(orders=300, seed=17, workflow="none")
    members = set(store.queue_members(QUEUE))
    assert members
    recorder = Recorder(store)
    report = run_drain(kind, store, recorder, page_size=100)
    assert report.stopped is DrainStop.NO_PROGRESS
    assert "does not remove them" in report.reason
    assert set(recorder.seen) == members
    assert report.pages <= 4
