"""Order workflow queue *without* acknowledgement: every load moves the orders out of the queue.

A lost response loses those orders, so mivaorders never retries such a load once it may have reached the
store and always reads offset 0. Back it with a periodic reconciliation by last update. With Miva's stock
no-acknowledgement template (``queue_add``) the queue never drains; ``drain`` notices and says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import mivaorders as mo
from mivaorders.testing import FakeStore

QUEUE = "new_and_updated"


def main() -> None:
    store = FakeStore(orders=150, seed=1, workflow="move")  # retrieval moves orders out of the queue
    for _ in range(5):
        store.create_order()
    stored: dict[int, mo.Order] = {}
    last_sync = datetime.now(timezone.utc) - timedelta(hours=1)

    def handler(orders: list[mo.Order]) -> None:
        for order in orders:
            stored[order.id] = order

    with store.client() as client:
        report = client.queues.drain(QUEUE, handler, acknowledge=False, page_size=5)
        print(f"{report.delivered} delivered in {report.pages} page(s); stopped: {report.stopped.value}")

        # Reconcile: whatever a lost response or an uncovered trigger missed comes back by last update.
        for order in client.orders.updated_since(last_sync, lookback=timedelta(minutes=5)):
            stored[order.id] = order
        print("after reconciliation:", len(stored), "orders")

    # The stock template only adds retrieved orders to another queue: drain stops with a warning.
    stuck = FakeStore(orders=150, seed=1, workflow="add")
    with stuck.client() as client:
        report = client.queues.drain(QUEUE, handler, acknowledge=False, page_size=5)
    print("add-only workflow stopped:", report.stopped.value)
    assert report.stopped is mo.DrainStop.NOTHING_NEW


if __name__ == "__main__":
    main()
