"""Order workflow queue *without* acknowledgement: every load moves the orders out of the queue.

The store's workflow moves each loaded order into ``successfully_retrieved_orders`` and bumps its
``dt_updated``. When a load's answer is lost after the store acted, ``drain`` finds that page again there and
hands it to the handler flagged ``recovered``, then goes on. A store whose destination queue is missing is
refused before anything is loaded. With Miva's stock no-acknowledgement template (``queue_add``) the queue
never drains; ``drain`` notices and says so.
"""

from __future__ import annotations

import mivaorders as mo
from mivaorders.testing import FakeStore, Fault

QUEUE = "new_and_updated"


def main() -> None:
    store = FakeStore(orders=0, seed=1, workflow="move")  # retrieval moves orders out of the queue
    queued = {store.create_order() for _ in range(60)}
    # One answer in six is lost on the way back, after the store already moved the orders.
    store.faults.random(rate=0.16, seed=7, when="after", kinds=[Fault.drop(0.5), Fault.http(502)])
    stored: dict[int, mo.Order] = {}

    def handler(orders: mo.DrainPage) -> None:
        if orders.recovered:
            print(f"  recovered page: {len(orders)} order(s) whose answer was lost")
        for order in orders:
            stored[order.id] = order  # an upsert: a recovered page may repeat an order

    with store.client(retry=mo.RetryPolicy(max_attempts=6, wait=False)) as client:
        report = client.queues.drain(
            QUEUE, handler, acknowledge=False, moved_to="successfully_retrieved_orders", page_size=5
        )
    print(
        f"{report.delivered} delivered in {report.pages} page(s); {report.recoveries} lost answer(s), "
        f"{report.recovered} order(s) recovered from {report.moved_to!r}; stopped: {report.stopped.value}"
    )
    assert queued <= stored.keys()  # every queued order reached the handler
    assert store.queue_members(QUEUE) == []

    # A destination queue that does not exist: refused before the first (destructive) load.
    store.faults.clear()
    store.create_order()
    with store.client() as client:
        try:
            client.queues.drain(QUEUE, handler, acknowledge=False, moved_to="exported_orders")
        except mo.RecoveryUnavailableError as exc:
            print("refused:", exc.reason)
    assert store.queue_members(QUEUE)  # still queued: nothing was loaded

    # The stock template only adds retrieved orders to another queue: drain stops with a warning.
    stuck = FakeStore(orders=150, seed=1, workflow="add")
    with stuck.client() as client:
        report = client.queues.drain(QUEUE, handler, acknowledge=False, page_size=5)
    print("add-only workflow stopped:", report.stopped.value)
    assert report.stopped is mo.DrainStop.NOTHING_NEW


if __name__ == "__main__":
    main()
