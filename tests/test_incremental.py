"""Incremental sync: strategies, sinks, checkpoints, resumption — and a sync killed 20+ times that still
ends with exactly the store's orders."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import mivaorders as mo
from mivaorders import ArgumentError
from mivaorders._json import loads
from mivaorders.incremental import (
    AsyncOrderSync,
    ByDateRange,
    ByLastUpdate,
    ByOrderNumber,
    ByQueue,
    CallbackSink,
    Checkpoint,
    JsonFileCheckpoints,
    JsonLinesSink,
    MemoryCheckpoints,
    OrderSync,
    SQLiteSink,
    SyncProgress,
    latest_by_id,
)
from mivaorders.models import Order
from mivaorders.testing import FakeStore, Fault


def normalise(value: Any) -> Any:
    """Miva JSON compared loosely only where the spec allows: number spelling and time_t objects."""
    if isinstance(value, dict):
        if "time_t" in value and "timezone" in value:
            return int(value["time_t"])
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return Decimal(value)
    return value


def store_rendering(store: FakeStore, columns: Sequence[str] | None = None) -> dict[int, Any]:
    """The store's own JSON for every order, with the sync's columns, read raw (not through our models)."""
    cols = list(mo.ALL_COLUMNS if columns is None else columns)
    with store.client() as client:
        reply = client.call(
            "OrderList_Load_Query",
            {"Count": 100000, "Filter": [{"name": "ondemandcolumns", "value": cols}]},
        )
    return {row["id"]: row for row in reply["data"]["data"]}


def without_customer(order: dict[str, Any]) -> dict[str, Any]:
    # The embedded customer mirrors the customer's *current* record and changes without the order's
    # dt_updated moving (another order of theirs updates their totals); a sync by last update does not
    # track it, as documented. Its presence must still match.
    return {k: ("present" if k == "customer" else v) for k, v in order.items()}


def assert_db_equals_store(sink: SQLiteSink, store: FakeStore) -> None:
    stored = sink.stored()
    truth = store_rendering(store)
    assert sorted(stored) == sorted(truth), "the database holds other orders than the store"
    different = [
        oid
        for oid in truth
        if normalise(without_customer(stored[oid])) != normalise(without_customer(truth[oid]))
    ]
    assert not different, f"orders differ from the store: {different[:10]}"


# -- the default: by last update into SQLite -------------------------------------------------------


def test_first_run_stores_every_order_with_its_columns(tmp_path: Path) -> None:
    store = FakeStore(orders=150, seed=1)
    with store.client() as client, SQLiteSink(tmp_path / "o.db") as sink:
        report = OrderSync(client, sink, batch_size=40).run()
        assert report.complete
        assert not report.resumed
        assert report.orders == 150
        assert report.batches == 4
        assert_db_equals_store(sink, store)
        rows = sink.query("SELECT id, dt_updated, total, item_count FROM orders ORDER BY id LIMIT 3")
        truth = store.truth()
        for oid, stamp, total, item_count in rows:
            assert stamp == truth[oid]["dt_updated"]
            assert Decimal(total) == truth[oid]["total"]  # money kept as exact text
            assert item_count == len(truth[oid]["items"])
        items = sink.query("SELECT COUNT(*) FROM order_items")[0][0]
        assert items == sum(len(d["items"]) for d in truth.values())


def test_second_run_takes_only_changes_from_the_watermark(tmp_path: Path) -> None:
    store = FakeStore(orders=100, seed=2)
    with store.client() as client, SQLiteSink(tmp_path / "o.db") as sink:
        OrderSync(client, sink).run()
        store.advance(30)
        changed = sorted(store.truth())[:4]
        for oid in changed:
            store.update_order(oid, ship_city="Tromsø")
        new = store.create_order()
        report = OrderSync(client, sink).run()
        assert report.resumed
        assert report.orders == len(changed) + 1
        assert sink.stored()[new]["id"] == new
        assert all(sink.stored()[oid]["ship_city"] == "Tromsø" for oid in changed)
        assert_db_equals_store(sink, store)


def test_an_older_version_never_overwrites_a_newer_one(tmp_path: Path) -> None:
    store = FakeStore(orders=10, seed=3)
    with store.client() as client:
        old = client.orders.get(sorted(store.truth())[0])
        store.advance(5)
        store.update_order(old.id if old else 0, ship_city="Newer")
        new = client.orders.get(old.id if old else 0)
    assert old is not None
    assert new is not None
    with SQLiteSink(tmp_path / "o.db") as sink:
        sink.write([new])
        sink.write([old])  # a late re-delivery of the old version
        assert sink.stored()[old.id]["ship_city"] == "Newer"
        sink.write([new, new])
        assert sink.count() == 1


def test_resumes_from_the_cursor_after_a_stop_mid_pull(tmp_path: Path) -> None:
    store = FakeStore(orders=120, seed=4)
    with store.client() as client, SQLiteSink(tmp_path / "o.db") as sink:
        first = OrderSync(client, sink, batch_size=25).run(max_batches=2)
        assert not first.complete
        assert first.checkpoint is not None
        assert first.checkpoint.state["cursor"] is not None
        assert sink.count() == 50
        second = OrderSync(client, sink, batch_size=25).run()
        assert second.resumed
        assert second.complete
        assert second.orders < 120  # it did not start over
        assert_db_equals_store(sink, store)


@pytest.mark.parametrize(
    "strategy",
    [ByOrderNumber(), ByDateRange(), ByQueue(queue_code="new_and_updated")],
    ids=["order_number", "date_range", "queue"],
)
def test_other_strategies(tmp_path: Path, strategy: Any) -> None:
    store = FakeStore(orders=200, seed=5)
    if isinstance(strategy, ByDateRange):
        strategy = ByDateRange(clock=store.clock.time)  # the window ends at the store's "now"
    queued = set(store.queue_members("new_and_updated"))
    with store.client() as client, SQLiteSink(tmp_path / "o.db") as sink:
        report = OrderSync(client, sink, strategy=strategy, name=strategy.name, batch_size=30).run()
        assert report.complete
        stored = set(sink.stored())
        if isinstance(strategy, ByQueue):
            assert stored == queued
            assert store.queue_members("new_and_updated") == []
        else:
            assert stored == set(store.truth())
        store.advance(2)
        new = store.create_order()
        again = OrderSync(client, sink, strategy=strategy, name=strategy.name).run()
        assert again.complete
        assert new in sink.stored()


def test_a_checkpoint_of_another_strategy_is_refused(tmp_path: Path) -> None:
    store = FakeStore(orders=20, seed=6)
    with store.client() as client, SQLiteSink(tmp_path / "o.db") as sink:
        OrderSync(client, sink).run()
        with pytest.raises(ArgumentError, match="another sync name"):
            OrderSync(client, sink, strategy=ByOrderNumber()).run()


def test_sinks_need_a_checkpoint_store() -> None:
    store = FakeStore(orders=5, seed=6)
    with store.client() as client, pytest.raises(ArgumentError, match="checkpoints="):
        OrderSync(client, CallbackSink(lambda orders: None))


def test_jsonl_sink_with_file_checkpoints(tmp_path: Path) -> None:
    store = FakeStore(orders=60, seed=7)
    path = tmp_path / "orders.jsonl"
    checkpoints = JsonFileCheckpoints(tmp_path / "checkpoints.json")
    with store.client() as client:
        OrderSync(client, JsonLinesSink(path), checkpoints=checkpoints, batch_size=25).run()
        store.advance(5)
        store.update_order(sorted(store.truth())[0], ship_city="Again")
        OrderSync(client, JsonLinesSink(path), checkpoints=checkpoints).run()
    lines = [loads(line) for line in path.read_bytes().splitlines()]
    assert len(lines) == 61  # a file appends; the newest line per id wins
    newest: dict[int, Any] = {}
    for line in lines:
        if line["id"] not in newest or line["dt_updated"] >= newest[line["id"]]["dt_updated"]:
            newest[line["id"]] = line
    assert newest[sorted(store.truth())[0]]["ship_city"] == "Again"
    saved = checkpoints.load_checkpoint("orders")
    assert saved is not None
    assert saved.strategy == "last_update"
    assert json.loads((tmp_path / "checkpoints.json").read_text())["orders"]["state"]["cursor"] is None


def test_callback_sink_and_progress() -> None:
    store = FakeStore(orders=45, seed=8)
    batches: list[int] = []
    progress: list[SyncProgress] = []
    with store.client() as client:
        OrderSync(
            client,
            CallbackSink(lambda orders: batches.append(len(orders))),
            checkpoints=MemoryCheckpoints(),
            batch_size=20,
            progress=progress.append,
        ).run()
    assert batches == [20, 20, 5]
    assert [p.orders for p in progress][-1] == 45


def test_a_failing_sink_moves_no_checkpoint() -> None:
    store = FakeStore(orders=50, seed=9)
    checkpoints = MemoryCheckpoints()
    calls = [0]

    def flaky(orders: Sequence[Order]) -> None:
        calls[0] += 1
        if calls[0] == 2:
            raise OSError("disk full")

    with store.client() as client:
        with pytest.raises(OSError, match="disk full"):
            OrderSync(client, CallbackSink(flaky), checkpoints=checkpoints, batch_size=10).run()
        saved = checkpoints.load_checkpoint("orders")
        assert saved is not None
        first_batch_last = sorted(store.truth().values(), key=lambda d: (d["dt_updated"], d["id"]))[9]
        assert saved.state["cursor"] == [first_batch_last["dt_updated"], first_batch_last["id"]]


def test_async_sync(tmp_path: Path) -> None:
    store = FakeStore(orders=90, seed=10)

    async def go() -> None:
        async with store.async_client() as client:
            with SQLiteSink(tmp_path / "o.db") as sink:
                report = await AsyncOrderSync(client, sink, batch_size=40).run()
                assert report.complete
                assert report.orders == 90
                assert_db_equals_store(sink, store)
                partial = await AsyncOrderSync(client, sink, name="other", batch_size=20).run(max_batches=1)
                assert not partial.complete
                queue = await AsyncOrderSync(
                    client, sink, strategy=ByQueue(queue_code="new_and_updated"), name="q"
                ).run()
                assert queue.complete

    asyncio.run(go())


def test_latest_by_id() -> None:
    store = FakeStore(orders=5, seed=11)
    with store.client() as client:
        first = list(client.orders.iter(columns=()))
        store.advance(3)
        store.update_order(first[0].id, ship_city="Later")
        second = list(client.orders.iter(columns=()))
    newest = latest_by_id([*second, *first])
    assert newest[first[0].id].ship_city == "Later"
    assert len(newest) == 5


def test_checkpoint_json_round_trip() -> None:
    checkpoint = Checkpoint(
        "last_update", {"since": 5, "cursor": [5, 7]}, datetime(2026, 1, 1, tzinfo=timezone.utc)
    )
    assert Checkpoint.from_json(json.loads(json.dumps(checkpoint.to_json()))) == checkpoint


def test_payment_data_is_not_synced() -> None:
    with pytest.raises(ArgumentError, match="payment"):
        ByLastUpdate(columns=[mo.PAYMENTS, mo.PAYMENT_DATA])


# -- the crash test --------------------------------------------------------------------------------

CHILD = """
import sys
import mivaorders as mo
from mivaorders.incremental import OrderSync, SQLiteSink
endpoint, store_code, token, key, db = sys.argv[1:6]
client = mo.Client(endpoint, store_code=store_code, auth=mo.HmacAuth(token, key),
                   retry=mo.RetryPolicy(max_attempts=30, wait=False))
sink = SQLiteSink(db)
print("ready", flush=True)
while True:
    OrderSync(client, sink, batch_size=20).run()
"""


@pytest.mark.slow
def test_killed_twenty_times_the_sync_still_ends_with_every_order(tmp_path: Path) -> None:
    store = FakeStore(orders=500, seed=12, timestamp_window=3600)
    store.faults.random(rate=0.2, seed=7, kinds=[Fault.http(503), Fault.drop(0.5), Fault.truncate(0.3)])
    db = tmp_path / "orders.db"
    rng = random.Random(2026)
    stop = threading.Event()
    writes = [0]

    def writer() -> None:
        ids = sorted(store.truth())
        while not stop.is_set():
            writes[0] += 1
            if writes[0] % 3 == 0:
                store.create_order()
            else:
                store.update_order(ids[rng.randrange(len(ids))], ship_city=f"Stop {writes[0]}")
            stop.wait(0.01)

    kills = 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with store.serve() as endpoint:
        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        try:
            while kills < 20:
                child = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        endpoint,
                        store.store_code,
                        store.token,
                        store.signing_key,
                        str(db),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
                assert child.stdout is not None
                assert child.stdout.readline().strip() == b"ready"
                time.sleep(
                    rng.uniform(0.02, 0.6)
                )  # somewhere in a run: mid-request, mid-commit, between runs
                child.send_signal(signal.SIGKILL)
                child.wait()
                child.stdout.close()
                kills += 1
        finally:
            stop.set()
            thread.join()
        store.faults.clear()
        # After the last kill and the last write: one more run, uninterrupted.
        with (
            mo.Client(
                endpoint, store_code=store.store_code, auth=mo.HmacAuth(store.token, store.signing_key)
            ) as client,
            SQLiteSink(db) as sink,
        ):
            OrderSync(client, sink, batch_size=20).run()
            assert kills >= 20
            assert writes[0] > 20
            assert_db_equals_store(sink, store)


def test_each_run_reports_its_own_counts() -> None:
    store = FakeStore(orders=30, seed=13)
    with store.client() as client:
        sync = OrderSync(client, CallbackSink(lambda orders: None), checkpoints=MemoryCheckpoints())
        assert sync.run().orders == 30
        store.advance(2)
        store.create_order()
        assert sync.run().orders == 1
