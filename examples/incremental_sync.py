"""Incremental sync into SQLite: resumable, at-least-once, each order stored once (newest version).

``OrderSync(client, SQLiteSink(path)).run()`` pulls by last update (the default strategy), stores each batch
and its checkpoint in one SQLite transaction, and resumes from the last committed batch when run again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mivaorders.incremental import ByQueue, OrderSync, SQLiteSink
from mivaorders.testing import FakeStore


def main() -> None:
    store = FakeStore(orders=200, seed=1)
    with tempfile.TemporaryDirectory() as tmp, store.client() as client:
        with SQLiteSink(Path(tmp) / "orders.db") as sink:
            # Each run is normally its own process (a cron job): a fresh OrderSync each time.
            first = OrderSync(client, sink, batch_size=50).run(max_batches=2)  # stops early, like a crash
            print(f"run 1: {first.orders} orders, complete={first.complete}")
            second = OrderSync(client, sink, batch_size=50).run()  # resumes after the last committed batch
            print(f"run 2: {second.orders} orders, resumed={second.resumed}, complete={second.complete}")
            store.update_order(client.orders.list(count=1, columns=())[0].id, status=200)
            third = OrderSync(client, sink, batch_size=50).run()
            print(f"run 3: {third.orders} changed order(s); {sink.count()} stored")
            assert sink.count() == len(store.truth())

        # The queue method: the queue itself is the checkpoint (no checkpoint store needed).
        with SQLiteSink(Path(tmp) / "queue.db") as sink:
            report = OrderSync(client, sink, strategy=ByQueue(queue_code="new_and_updated")).run()
            print(f"queue: {report.orders} orders stored and acknowledged ({report.detail})")


if __name__ == "__main__":
    main()
