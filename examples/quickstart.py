"""Getting started: connect, load a page, stream every order, fetch one by id.

Runs against the simulated store; for a real store build the client with
``mo.Client("https://www.example.com/mm5/json.mvc", store_code=..., auth=mo.HmacAuth(token, key))``
or ``mo.Client.from_env()``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import mivaorders as mo
from mivaorders.testing import FakeStore


def main() -> None:
    store = FakeStore(orders=120, seed=1)
    with store.client() as client:
        # One page (one request): the ten newest orders, base columns only.
        page = client.orders.list(sort="-orderdate", count=10, columns=())
        print(f"{page.total_count} orders in the store; newest: {[o.id for o in page]}")

        # Every order of the last week, streamed page by page, with customer and items.
        week_ago = datetime.now(timezone.utc) - timedelta(days=7)
        pull = client.orders.iter(where=mo.F.orderdate >= week_ago, columns=[mo.CUSTOMER, mo.ITEMS])
        for order in pull:
            lines = len(order.items or ())
            print(f"#{order.id} {order.orderdate:%Y-%m-%d} {order.total} ({lines} lines) {order.bill_email}")
        print(f"{pull.delivered} orders in {pull.pages} page(s)")

        # One order by id (None when there is none).
        one = client.orders.get(page[0].id)
        print("fetched:", one)


if __name__ == "__main__":
    main()
