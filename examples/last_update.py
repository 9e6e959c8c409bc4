"""Pull by last update (Miva 10.03+): new *and* changed orders, resuming from a watermark.

``client.orders.updated_since(since)`` filters ``dt_updated >= since - lookback``, pages by
``(dt_updated, id)``, and once exhausted gives ``watermark``: the ``since`` of the next run (never later than
this run's start, so nothing written during the run is skipped).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import mivaorders as mo
from mivaorders.testing import FakeStore


def sync(client: mo.Client, since: datetime, stored: dict[int, mo.Order]) -> datetime:
    pull = client.orders.updated_since(since, lookback=timedelta(seconds=5), page_size=50)
    for order in pull:
        kept = stored.get(order.id)
        # Upsert, newest dt_updated wins; the look-back and GE re-deliver some orders.
        if kept is None or (order.dt_updated or since) >= (kept.dt_updated or since):
            stored[order.id] = order
    print(f"  {pull.delivered} order(s) delivered in {pull.requests} request(s)")
    return pull.watermark


def main() -> None:
    store = FakeStore(orders=150, seed=1)
    stored: dict[int, mo.Order] = {}
    with store.client() as client:
        since = datetime.now(timezone.utc) - timedelta(days=2)
        print("first run")
        since = sync(client, since, stored)

        store.advance(60)
        old = client.orders.list(sort="orderdate", count=1, columns=())[0].id  # placed months ago ...
        store.update_order(old, status=200)  # ... and shipped in the admin now: dt_updated moves
        store.create_order()

        print("second run (sees the new order and the edit)")
        since = sync(client, since, stored)
        assert stored[old].status == mo.OrderStatus.SHIPPED
    print("orders held:", len(stored), "next run starts at", since.isoformat())


if __name__ == "__main__":
    main()
