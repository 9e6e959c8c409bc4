"""Order workflow queue with acknowledgement: load, store, acknowledge exactly what was stored.

``client.queues.drain(queue_code, handler)`` loops: load a page at offset 0, hand it to ``handler``,
re-read the accepted orders' ``dt_updated`` (the update-race guard), acknowledge the unchanged ones, repeat
until the queue is empty. The handler returns ``None`` (all stored) or the ids it rejects; rejected orders
stay in the queue and are reported. If the handler raises, nothing of that page is acknowledged.
"""

from __future__ import annotations

from collections.abc import Iterable

import mivaorders as mo
from mivaorders.testing import FakeStore

QUEUE = "new_and_updated"  # queue codes are store-defined: client.queues.list_queues() shows them


def main() -> None:
    store = FakeStore(orders=150, seed=1, workflow="acknowledge")
    for _ in range(5):
        store.create_order()
    stored: dict[int, mo.Order] = {}

    def handler(orders: list[mo.Order]) -> Iterable[int] | None:
        rejected = []
        for order in orders:
            if order.total < 0:  # whatever your system cannot take
                rejected.append(order.id)
                continue
            stored[order.id] = order  # must be durable before returning
        return rejected

    with store.client() as client:
        print("queues:", [q.code for q in client.queues.list_queues()])
        report = client.queues.drain(QUEUE, handler, page_size=5)
    print(f"{report.delivered} delivered, {report.acknowledged} acknowledged, rejected {report.rejected}")
    print("stopped:", report.stopped.value, "-", report.reason)
    assert store.queue_members(QUEUE) == list(report.rejected)


if __name__ == "__main__":
    main()
