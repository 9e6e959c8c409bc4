"""Draining a queue *without* acknowledgement, when answers get lost after the store acted.

The store's retrieval workflow moves each rendered order into another queue and bumps its ``dt_updated``
before the answer leaves; when that answer is lost, the drain finds the page again in the destination
queue. The proofs: under lost answers and 5xx the drain finishes and every queued order reached the handler
at least once; with recovery off the same faults lose orders; a drain that could not recover refuses to
load anything. Sync and async alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import mivaorders as mo
from mivaorders import incremental as mo_incremental
from mivaorders.cli import main as cli_main
from mivaorders.models import Order
from mivaorders.queues import RETRIEVED_QUEUE, DrainPage, DrainReport, DrainStop
from mivaorders.testing import FakeStore, Fault

QUEUE = "new_and_updated"
KINDS = ["sync", "async"]
FAST = mo.RetryPolicy(max_attempts=8, wait=False)
LOAD = "QueueOrderList_Load_Query"


class Collector:
    """A handler that keeps what it was given, page by page, with the page's recovery flag."""

    def __init__(self, fail_on_recovered: bool = False) -> None:
        self.pages: list[tuple[bool, list[int]]] = []
        self.seen: dict[int, list[Order]] = {}
        self.fail_on_recovered = fail_on_recovered

    def __call__(self, orders: DrainPage) -> None:
        assert isinstance(orders, list)
        self.pages.append((orders.recovered, [o.id for o in orders]))
        if orders.recovered and self.fail_on_recovered:
            raise RuntimeError("handler broke on a recovered page")
        for order in orders:
            self.seen.setdefault(order.id, []).append(order)

    @property
    def recovered_ids(self) -> list[int]:
        return [oid for flag, ids in self.pages if flag for oid in ids]


def run_drain(
    kind: str, store: FakeStore, handler: Callable[[DrainPage], Any], **options: Any
) -> DrainReport:
    options.setdefault("acknowledge", False)
    retry = options.pop("retry", FAST)
    if kind == "sync":
        with store.client(retry=retry) as client:
            return client.queues.drain(QUEUE, handler, **options)

    async def go() -> DrainReport:
        async with store.async_client(retry=retry) as client:
            return await client.queues.drain(QUEUE, handler, **options)

    return asyncio.run(go())


def queued_store(orders: int, *, seed: int, workflow: str = "move") -> tuple[FakeStore, set[int]]:
    """A store whose ``new_and_updated`` queue holds exactly ``orders`` new orders."""
    store = FakeStore(orders=0, seed=seed, workflow=workflow)
    created = {store.create_order() for _ in range(orders)}
    assert set(store.queue_members(QUEUE)) == created
    return store, created


def loads_sent(store: FakeStore) -> int:
    return sum(LOAD in functions for functions in store.stats.request_log)


def lost_answers_and_5xx(store: FakeStore, seed: int) -> None:
    """16 % of all requests strike after the store acted: half lose the answer, half answer 5xx."""
    store.faults.random(
        rate=0.16,
        seed=seed,
        when="after",
        kinds=[Fault.drop(0.5), Fault.truncate(0.4), Fault.http(503), Fault.http(502)],
    )


# -- the proof -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_drain_recovers_every_lost_page(kind: str, seed: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mivaorders")
    store, queued = queued_store(300, seed=seed)
    lost_answers_and_5xx(store, seed)
    collector = Collector()
    report = run_drain(kind, store, collector, page_size=10)
    assert report.stopped is DrainStop.EMPTY
    assert store.queue_members(QUEUE) == []
    missing = queued - set(collector.seen)
    assert not missing, f"{len(missing)} queued orders never reached the handler"
    assert store.stats.faults_after > 0
    assert report.recoveries > 0
    assert report.recovered > 0
    assert report.moved_to == RETRIEVED_QUEUE
    assert report.recovered == len(collector.recovered_ids)
    only_recovered = set(collector.recovered_ids) - {
        i for flag, ids in collector.pages if not flag for i in ids
    }
    assert only_recovered, "no order depended on recovery: the faults did not lose a page"
    assert report.delivered == sum(len(ids) for _, ids in collector.pages)
    assert "recovered" in caplog.text
    assert RETRIEVED_QUEUE in caplog.text


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_control_without_recovery_loses_orders(kind: str, seed: int) -> None:
    """The same faults with ``moved_to=None``: restarting after each LostPageError still loses orders."""
    store, queued = queued_store(300, seed=seed)
    lost_answers_and_5xx(store, seed)
    collector = Collector()
    lost_errors: list[mo.LostPageError] = []
    for _ in range(200):
        try:
            report = run_drain(kind, store, collector, page_size=10, moved_to=None)
        except mo.LostPageError as exc:
            lost_errors.append(exc)
            continue
        if report.stopped is DrainStop.EMPTY:
            break
    assert store.queue_members(QUEUE) == []
    assert lost_errors
    assert queued - set(collector.seen), "with recovery off, lost answers must lose orders"
    assert not collector.recovered_ids


@pytest.mark.parametrize("kind", KINDS)
def test_orders_changing_during_a_faulty_drain_are_all_delivered(kind: str) -> None:
    """New orders arrive and queued ones are re-queued by line changes while answers get lost."""
    store, queued = queued_store(120, seed=26)
    lost_answers_and_5xx(store, 26)
    collector = Collector()
    entered = set(queued)
    requeued: set[int] = set()

    def handler(orders: DrainPage) -> None:
        collector(orders)
        if len(collector.pages) <= 10:
            entered.add(store.create_order())
            store.update_order(orders[0].id, add_item=True)  # back into the queue, with a new total
            requeued.add(orders[0].id)

    report = run_drain(kind, store, handler, page_size=6)
    assert report.stopped is DrainStop.EMPTY
    assert report.recoveries > 0
    assert store.queue_members(QUEUE) == []
    assert entered <= set(collector.seen)
    truth = store.truth()
    for oid in requeued:
        assert collector.seen[oid][-1].total == truth[oid]["total"], (
            f"order {oid}: re-queued edit not delivered"
        )


# -- refusing to start -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_missing_destination_queue_sends_no_load(kind: str) -> None:
    store, queued = queued_store(20, seed=4)
    collector = Collector()
    with pytest.raises(mo.RecoveryUnavailableError) as refused:
        run_drain(kind, store, collector, moved_to="shipped_orders")
    assert refused.value.reason == "no_such_queue"
    assert refused.value.moved_to == "shipped_orders"
    assert "shipped_orders" in str(refused.value)
    assert RETRIEVED_QUEUE in str(refused.value)
    assert store.stats.request_log  # it did ask the store ...
    assert loads_sent(store) == 0  # ... but sent no load
    assert set(store.queue_members(QUEUE)) == queued
    assert not collector.pages


@pytest.mark.parametrize("kind", KINDS)
def test_token_that_may_not_search_sends_no_load(kind: str) -> None:
    store, queued = queued_store(20, seed=5)
    store.configure(denied_functions={"OrderList_Load_Query"})
    with pytest.raises(mo.RecoveryUnavailableError) as refused:
        run_drain(kind, store, Collector())
    assert refused.value.reason == "permission"
    assert "OrderList_Load_Query" in str(refused.value)
    assert isinstance(refused.value.__cause__, mo.AuthenticationError)
    assert loads_sent(store) == 0
    assert set(store.queue_members(QUEUE)) == queued
    # Accepting the loss explicitly drains without searching.
    report = run_drain(kind, store, Collector(), moved_to=None)
    assert report.stopped is DrainStop.EMPTY


def test_destination_is_matched_case_insensitively_and_searched_in_the_stores_spelling() -> None:
    store, queued = queued_store(12, seed=6)
    store.faults.script(Fault.drop(0.5), times=1, when="after", function=LOAD)
    collector = Collector()
    report = run_drain("sync", store, collector, page_size=4, moved_to="Successfully_Retrieved_Orders")
    assert report.moved_to == RETRIEVED_QUEUE
    assert set(collector.seen) == queued


@pytest.mark.parametrize(
    ("moved_to", "message"),
    [(QUEUE, "the queue being drained"), ("", "moved_to must be"), (7, "moved_to must be")],
)
def test_bad_moved_to_is_refused_before_any_request(moved_to: Any, message: str) -> None:
    store, _ = queued_store(3, seed=7)
    with store.client() as client, pytest.raises(mo.ArgumentError, match=message):
        client.queues.drain(QUEUE, lambda orders: None, acknowledge=False, moved_to=moved_to)
    assert store.stats.requests == 0


def test_moved_to_is_ignored_with_acknowledgement() -> None:
    store = FakeStore(orders=60, seed=8)
    with store.client() as client:
        report = client.queues.drain(QUEUE, lambda orders: None, moved_to="anything")
    assert report.stopped is DrainStop.EMPTY
    assert report.moved_to is None
    assert "OrderCustomFieldList_Load" not in {f for fs in store.stats.request_log for f in fs}


@pytest.mark.parametrize("kind", KINDS)
def test_workflow_that_moves_orders_nowhere_is_detected_after_the_first_page(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``queue_remove`` leaves no trace to search: the drain delivers the first page, then refuses."""
    caplog.set_level(logging.ERROR, logger="mivaorders")
    store, queued = queued_store(20, seed=9, workflow="remove")
    collector = Collector()
    with pytest.raises(mo.RecoveryUnavailableError) as refused:
        run_drain(kind, store, collector, page_size=5)
    assert refused.value.reason == "not_moved_there"
    assert loads_sent(store) == 1
    assert len(collector.seen) == 5  # the page that was loaded was handed out
    assert "does not move orders there" in caplog.text
    report = run_drain(kind, store, collector, page_size=5, moved_to=None)
    assert report.stopped is DrainStop.EMPTY
    assert set(collector.seen) == queued


# -- what a recovery hands out ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_lost_page_comes_back_flagged_and_exactly_once(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mivaorders")
    store, queued = queued_store(23, seed=10)
    first_five = sorted(queued)[:5]
    lost_page = sorted(queued)[5:10]
    # The second load's answer is cut off after the store moved its five orders.
    store.faults.script(Fault.drop(0.3), times=1, when="after", function=LOAD)
    collector = Collector()
    original = collector.__call__

    def handler(orders: DrainPage) -> None:
        original(orders)
        if len(collector.pages) == 1:
            assert [o.id for o in orders] == first_five
            store.faults.clear()
            store.faults.script(Fault.drop(0.3), times=1, when="after", function=LOAD)

    store.faults.clear()
    report = run_drain(kind, store, handler, page_size=5)
    assert collector.pages[1] == (True, lost_page)
    assert [flag for flag, _ in collector.pages].count(True) == 1
    assert report.recoveries == 1
    assert report.recovered == 5
    assert report.redelivered == 0
    assert set(collector.seen) == queued
    assert report.stopped is DrainStop.EMPTY
    assert "recovered 5 order(s)" in caplog.text


@pytest.mark.parametrize("kind", KINDS)
def test_a_store_that_acts_after_the_search_is_caught_by_the_final_search(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A read timeout while the store is still working: it moves the page after the drain searched for it.
    Once the queue is empty those orders have left it, so a last search from the first loss finds them."""
    caplog.set_level(logging.INFO, logger="mivaorders")
    store, queued = queued_store(15, seed=30)
    collector = Collector()

    def handler(orders: DrainPage) -> None:
        collector(orders)
        if len(collector.pages) == 1:
            # The next load's connection drops; the store acts on it just before the 2nd request after it
            # (the next load), i.e. after the drain's immediate search came back empty.
            store.faults.script(Fault.late(requests=2), times=1, function=LOAD)

    report = run_drain(kind, store, handler, page_size=5)
    late_page = sorted(queued)[5:10]
    assert report.stopped is DrainStop.EMPTY
    assert set(collector.seen) == queued
    assert collector.pages[-1] == (True, late_page)  # found by the final search
    assert report.recoveries == 1
    assert report.recovered == 5
    assert "final search after 1 lost answer(s): 5 more order(s)" in caplog.text


def test_without_the_final_search_a_late_acting_store_would_lose_the_page() -> None:
    """The control for the test above: the immediate search alone finds nothing."""
    store, queued = queued_store(15, seed=30)
    with store.client(retry=FAST) as client:
        client.queues.load(QUEUE, count=5)
        # It acts before the 3rd request after the lost load: after recover_lost_page's two requests.
        store.faults.script(Fault.late(requests=3), times=1, function=LOAD)
        with pytest.raises(mo.LostPageError) as raised:
            client.queues.load(QUEUE, count=5)
        assert client.queues.recover_lost_page(raised.value, exclude=sorted(queued)[:5]) == []
        client.queues.load(QUEUE, count=5)  # the store acts on the lost load first
        late = client.queues.recover_lost_page(raised.value, exclude=sorted(queued)[:5], columns=())
    assert [o.id for o in late][:5] == sorted(queued)[5:10]


@pytest.mark.parametrize("kind", KINDS)
def test_failure_before_the_store_acted_recovers_nothing(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mivaorders")
    store, queued = queued_store(15, seed=11)
    store.faults.script(Fault.http(502), times=1, when="before", function=LOAD)
    collector = Collector()
    report = run_drain(kind, store, collector, page_size=5)
    assert report.recoveries == 1
    assert report.recovered == 0
    assert report.redelivered == 0
    assert set(collector.seen) == queued
    assert "had not acted" in caplog.text


def test_an_order_edited_after_delivery_comes_back_with_the_lost_page() -> None:
    """Recovery leaves out what was delivered unchanged, not what changed since it was handed out."""
    store, queued = queued_store(12, seed=12)
    collector = Collector()
    edited: list[int] = []

    def handler(orders: DrainPage) -> None:
        collector(orders)
        if len(collector.pages) == 1:
            edited.append(orders[0].id)
            store.update_order(orders[0].id, ship_city="Edited after delivery")  # stays in moved_to
            store.faults.script(Fault.truncate(0.5), times=1, when="after", function=LOAD)

    report = run_drain("sync", store, handler, page_size=4)
    recovered = collector.recovered_ids
    assert edited[0] in recovered
    assert collector.seen[edited[0]][-1].ship_city == "Edited after delivery"
    assert len(recovered) == 5  # the lost page of 4, and the edited order
    assert report.redelivered == 1
    assert set(collector.seen) == queued


def test_handler_failing_on_a_recovered_page_says_where_the_orders_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="mivaorders")
    store, _ = queued_store(10, seed=13)
    store.faults.script(Fault.drop(0.5), times=1, when="after", function=LOAD)
    with pytest.raises(RuntimeError, match="recovered page"):
        run_drain("sync", store, Collector(fail_on_recovered=True), page_size=5)
    assert "reconcile" in caplog.text
    assert RETRIEVED_QUEUE in caplog.text


def test_loads_lost_again_and_again_give_up_after_recovering_each() -> None:
    store, queued = queued_store(10, seed=14)
    store.faults.script(Fault.http(503), times=10, when="before", function=LOAD)
    collector = Collector()
    with pytest.raises(mo.HTTPStatusError):
        run_drain("sync", store, collector, page_size=5)
    assert loads_sent(store) == 10
    assert set(store.queue_members(QUEUE)) == queued  # nothing moved, nothing lost


def test_search_that_fails_too_raises_what_is_needed_to_recover() -> None:
    store, queued = queued_store(15, seed=15)
    collector = Collector()

    def handler(orders: DrainPage) -> None:
        collector(orders)
        if len(collector.pages) == 2:
            # Past the check that the first page landed in moved_to: lose the next answer, and let every
            # search fail as well.
            store.faults.script(Fault.drop(0.5), times=1, when="after", function=LOAD)
            store.faults.script(Fault.http(500), times=8, when="before", function="OrderList_Load_Query")

    with pytest.raises(mo.LostPageError) as raised:
        run_drain("sync", store, handler, page_size=5)
    error = raised.value
    assert error.moved_to == RETRIEVED_QUEUE
    assert error.queue == QUEUE
    assert error.delivered == 10
    assert "search failed" in str(error)
    store.faults.clear()
    with store.client() as client:
        found = client.queues.recover_lost_page(error, exclude=collector.seen)
    assert {o.id for o in found} == queued - set(collector.seen)


def test_a_body_that_does_not_fit_the_model_is_a_lost_page() -> None:
    store, _ = queued_store(6, seed=16)
    store.faults.script(Fault.api_error(), times=1, when="after", function=LOAD)
    # Miva's own success: 0 comes before any workflow runs: it is raised as it is.
    with pytest.raises(mo.APIError):
        run_drain("sync", store, Collector(), page_size=3)


# -- load() on its own -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_load_raises_lost_page_error_and_recover_lost_page_finds_it(kind: str) -> None:
    store, queued = queued_store(30, seed=17)
    store.faults.script(Fault.truncate(0.5), times=1, when="after", function=LOAD)

    async def go_async() -> tuple[mo.LostPageError, list[Order], list[Order]]:
        async with store.async_client(retry=FAST) as client:
            with pytest.raises(mo.LostPageError) as raised:
                await client.queues.load(QUEUE, count=7)
            found = await client.queues.recover_lost_page(raised.value)
            fewer = await client.queues.recover_lost_page(
                raised.value.since, moved_to=RETRIEVED_QUEUE, exclude=[o.id for o in found[:3]], columns=()
            )
            return raised.value, found, fewer

    if kind == "sync":
        with store.client(retry=FAST) as client:
            with pytest.raises(mo.LostPageError) as raised:
                client.queues.load(QUEUE, count=7)
            error = raised.value
            found = client.queues.recover_lost_page(error)
            fewer = client.queues.recover_lost_page(
                error.since, moved_to=RETRIEVED_QUEUE, exclude=[o.id for o in found[:3]], columns=()
            )
    else:
        error, found, fewer = asyncio.run(go_async())
    moved = queued - set(store.queue_members(QUEUE))
    assert len(moved) == 7
    assert isinstance(error.__cause__, mo.ResponseDecodeError)
    assert error.queue == QUEUE
    assert error.moved_to is None
    assert "recover_lost_page" in str(error)
    assert {o.id for o in found} == moved
    assert [o.id for o in found] == sorted(moved)
    assert {o.id for o in fewer} == moved - {o.id for o in found[:3]}
    assert found[0].items  # the default columns, like load()


def test_recover_lost_page_checks_its_arguments_first() -> None:
    store, _ = queued_store(3, seed=18)
    with store.client() as client:
        with pytest.raises(mo.ArgumentError, match="timezone-aware"):
            client.queues.recover_lost_page(datetime(2026, 1, 1))
        with pytest.raises(mo.ArgumentError, match="LostPageError"):
            client.queues.recover_lost_page("yesterday")  # type: ignore[arg-type]
        with pytest.raises(mo.ArgumentError):
            client.queues.recover_lost_page(datetime.now(timezone.utc), exclude=[0])
        with pytest.raises(mo.ArgumentError, match="moved_to"):
            client.queues.recover_lost_page(datetime.now(timezone.utc), moved_to="")
    assert store.stats.requests == 0


def test_recover_lost_page_refuses_a_queue_the_store_does_not_have() -> None:
    """Miva ignores a search field it does not know: searching a missing queue would return everything."""
    store, _ = queued_store(3, seed=25)
    with store.client() as client, pytest.raises(mo.RecoveryUnavailableError) as refused:
        client.queues.recover_lost_page(datetime.now(timezone.utc), moved_to="exported")
    assert refused.value.reason == "no_such_queue"
    assert "OrderList_Load_Query" not in {f for fs in store.stats.request_log for f in fs}


def test_since_follows_the_stores_clock_not_ours() -> None:
    """Our clock runs an hour ahead of the store's: the search still starts before the store's load."""
    store, _queued = queued_store(9, seed=19)
    store.configure(require_timestamp=False)  # else the store would refuse our skewed timestamps
    with store.client(retry=FAST, clock=lambda: store.clock.time() + 3600) as client:
        client.queues.list_queues()  # the store's Date is seen
        store.faults.script(Fault.drop(0.5), times=1, when="after", function=LOAD)
        with pytest.raises(mo.LostPageError) as raised:
            client.queues.load(QUEUE, count=4)
        assert raised.value.since <= datetime.fromtimestamp(store.clock.now(), tz=timezone.utc)
        assert raised.value.since >= datetime.fromtimestamp(store.clock.now(), tz=timezone.utc) - timedelta(
            seconds=60
        )


def test_load_with_acknowledgement_is_not_a_lost_page() -> None:
    store = FakeStore(orders=30, seed=20)
    store.faults.script(Fault.http(503), times=8, when="after", function=LOAD)
    with store.client(retry=FAST) as client, pytest.raises(mo.HTTPStatusError):
        client.queues.load(QUEUE, acknowledge=True)


# -- OrderSync and the command line ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_order_sync_by_queue_without_acknowledgement_recovers(kind: str, tmp_path: Path) -> None:
    store, queued = queued_store(60, seed=21)
    lost_answers_and_5xx(store, 21)
    sink = mo_incremental.SQLiteSink(tmp_path / "orders.db")
    strategy = mo_incremental.ByQueue(queue_code=QUEUE, acknowledge=False, page_size=5)
    if kind == "sync":
        with store.client(retry=FAST) as client:
            report = mo_incremental.OrderSync(client, sink, strategy=strategy).run()
    else:

        async def go() -> mo_incremental.SyncReport:
            async with store.async_client(retry=FAST) as client:
                return await mo_incremental.AsyncOrderSync(client, sink, strategy=strategy).run()

        report = asyncio.run(go())
    assert report.complete
    assert "recovered" in report.detail
    with contextlib.closing(sqlite3.connect(tmp_path / "orders.db")) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM orders")}
    sink.close()
    assert stored == queued
    assert store.queue_members(QUEUE) == []


def test_by_queue_checks_moved_to_at_construction() -> None:
    with pytest.raises(mo.ArgumentError, match="being drained"):
        mo_incremental.ByQueue(queue_code=QUEUE, acknowledge=False, moved_to=QUEUE)


def cli(
    capsys: pytest.CaptureFixture[str], endpoint: str, store: FakeStore, *argv: str
) -> tuple[int, str, str]:
    settings = ["--endpoint", endpoint, "--store-code", store.store_code, "--token", store.token]
    settings += ["--signing-key", store.signing_key]
    code = cli_main([*argv, *settings])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_drain_no_ack_recovers_and_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store, queued = queued_store(12, seed=22)
    output = tmp_path / "drained.jsonl"
    with store.serve() as endpoint:
        code, _, err = cli(
            capsys,
            endpoint,
            store,
            "queue",
            "drain",
            QUEUE,
            "--no-ack",
            "--moved-to",
            "nowhere",
            "-o",
            str(output),
        )
        assert code == 1
        assert "'nowhere' does not exist" in err
        assert loads_sent(store) == 0
        code, _, err = cli(
            capsys, endpoint, store, "queue", "drain", QUEUE, "--accept-loss", "-o", str(output)
        )
        assert code == 2
        assert "go with --no-ack" in err
        store.faults.script(Fault.drop(0.5), times=1, when="after", function=LOAD)
        code, out, _ = cli(
            capsys,
            endpoint,
            store,
            "--json",
            "queue",
            "drain",
            QUEUE,
            "--no-ack",
            "--page-size",
            "4",
            "-o",
            str(output),
        )
    assert code == 0
    report = json.loads(out)
    assert report["recoveries"] == 1
    assert report["recovered"] == 4
    assert report["moved_to"] == RETRIEVED_QUEUE
    assert {json.loads(line)["id"] for line in output.read_text().splitlines()} == queued


def test_cli_lost_load_says_how_to_recover_and_recover_prints_the_orders(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store, queued = queued_store(12, seed=23)
    with store.serve() as endpoint:
        store.faults.script(Fault.truncate(0.5), times=1, when="after", function=LOAD)
        code, _, err = cli(capsys, endpoint, store, "queue", "load", QUEUE, "--count", "5")
        assert code == 1
        assert "mivaorders queue recover --since" in err
        since = err.split("--since ")[1].split()[0]
        code, out, _ = cli(capsys, endpoint, store, "queue", "recover", "--since", since)
    assert code == 0
    recovered = {json.loads(line)["id"] for line in out.splitlines()}
    assert recovered == queued - set(store.queue_members(QUEUE))
    assert len(recovered) == 5


def test_cli_sync_queue_no_ack(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store, queued = queued_store(10, seed=24)
    db = tmp_path / "sync.db"
    with store.serve() as endpoint:
        code, _, err = cli(capsys, endpoint, store, "sync", "--db", str(db), "--no-ack")
        assert code == 2
        assert "--strategy queue" in err
        store.faults.script(Fault.drop(0.5), times=1, when="after", function=LOAD)
        code, _, _ = cli(
            capsys,
            endpoint,
            store,
            "sync",
            "--db",
            str(db),
            "--strategy",
            "queue",
            "--queue",
            QUEUE,
            "--no-ack",
            "--batch-size",
            "3",
        )
    assert code == 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert {row[0] for row in conn.execute("SELECT id FROM orders")} == queued


# -- the simulator behaves like the store here -----------------------------------------------------


def test_simulated_move_bumps_dt_updated_and_membership_is_searchable() -> None:
    store, queued = queued_store(8, seed=27)
    store.freeze()
    store.advance(120)
    moment = datetime.fromtimestamp(store.clock.now(), tz=timezone.utc)
    member = mo.F(f"CustomField_Values:orderworkflow:{RETRIEVED_QUEUE}") == "1"
    # The answer is lost after the store acted: the orders moved all the same.
    store.faults.script(Fault.drop(0.5), times=1, when="after", function=LOAD)
    with store.client(retry=FAST) as client:
        with pytest.raises(mo.LostPageError):
            client.queues.load(QUEUE, count=3)
        moved = client.orders.list(where=member & (mo.F.dt_updated >= moment), columns=(), count=100)
        before = client.orders.list(where=member & (mo.F.dt_updated < moment), columns=(), count=100)
    assert {o.id for o in moved} == set(sorted(queued)[:3])
    assert all(o.dt_updated == moment for o in moved)
    assert not {o.id for o in before} & queued
    assert set(store.queue_members(RETRIEVED_QUEUE)) >= {o.id for o in moved}
    assert store.stats.request_log[-3] == (LOAD,)  # faulted requests are logged too


def test_simulated_remove_workflow_moves_orders_nowhere() -> None:
    store, queued = queued_store(6, seed=28, workflow="remove")
    with store.client() as client:
        page = client.queues.load(QUEUE, count=4)
    taken = {o.id for o in page}
    assert len(taken) == 4
    assert set(store.queue_members(QUEUE)) == queued - taken
    assert taken.isdisjoint(store.queue_members(RETRIEVED_QUEUE))


def test_simulated_token_without_a_function_permission() -> None:
    store, _ = queued_store(3, seed=29)
    store.configure(denied_functions=["Module:orderworkflow:OrderList_Acknowledge"])
    assert store.access.denied_functions == frozenset({"Module:orderworkflow:OrderList_Acknowledge"})
    with store.client() as client:
        assert client.queues.list_queues()
        with pytest.raises(mo.AuthenticationError, match="Access denied"):
            client.queues.acknowledge([1])


def test_late_fault_is_checked() -> None:
    with pytest.raises(ValueError, match="requests"):
        Fault.late(0)
    store = FakeStore(orders=0, seed=31)
    with pytest.raises(ValueError, match="before the store acts"):
        store.faults.script(Fault.late(), when="after")


@pytest.mark.parametrize("moved_to", [RETRIEVED_QUEUE, None])
def test_a_page_of_reedited_orders_is_not_mistaken_for_an_add_only_workflow(moved_to: str | None) -> None:
    """Orders edited right after delivery come back first (loads sort by id); they are new versions."""
    store, queued = queued_store(6, seed=32)
    collector = Collector()

    def handler(orders: DrainPage) -> None:
        collector(orders)
        if len(collector.pages) == 1:
            for order in orders:
                store.update_order(order.id, add_item=True)  # re-queued, with a new total

    report = run_drain("sync", store, handler, page_size=2, moved_to=moved_to)
    assert report.stopped is DrainStop.EMPTY, report.reason
    assert set(collector.seen) == queued
    assert report.redelivered == 2


def test_drain_page_is_a_list_with_a_flag() -> None:
    page = DrainPage([], recovered=True)
    assert page == []
    assert isinstance(page, list)
    assert repr(page) == "DrainPage([], recovered=True)"
    assert DrainPage().recovered is False
