"""Pull by date range: orders placed in a window, with a look-back overlap and de-duplication by id.

``client.orders.placed_between(start, end)`` filters ``orderdate >= start AND orderdate < end``. It never sees
changes to orders placed before the window: pair it with a pull by last update if those matter.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import mivaorders as mo
from mivaorders.testing import FakeStore

OVERLAP = timedelta(minutes=5)  # re-read the end of the previous window


def pull_window(client: mo.Client, start: datetime, end: datetime, stored: dict[int, mo.Order]) -> int:
    """Upsert the orders placed in ``[start, end)``; returns how many were new."""
    new = 0
    for order in client.orders.placed_between(start, end, page_size=50):
        new += order.id not in stored
        stored[order.id] = order  # upsert by id: the overlap re-delivers some orders
    return new


def main() -> None:
    store = FakeStore(orders=150, seed=1)
    stored: dict[int, mo.Order] = {}
    with store.client() as client:
        now = datetime.now(timezone.utc)
        last_run = now - timedelta(days=14)
        print("first run, new:", pull_window(client, last_run, now, stored))

        store.create_order()  # a shopper checks out
        later = datetime.now(timezone.utc) + timedelta(seconds=1)  # end is exclusive
        print("second run, new:", pull_window(client, now - OVERLAP, later, stored))
    print("orders held:", len(stored))


if __name__ == "__main__":
    main()
