"""Pull by order number: orders above the highest id seen, re-reading a look-back of order numbers.

Miva assigns the number when the shopper reaches the address step, so abandoned checkouts burn numbers and a
shopper who comes back later completes an order *below* newer ones. ``client.orders.after_number(last_id,
lookback=30)`` reads every order with ``id > last_id - lookback`` by id; ``skip_ids`` leaves out the ones
already held, so only the late arrivals come back. New orders only: updates are not seen.
"""

from __future__ import annotations

import mivaorders as mo
from mivaorders.testing import FakeStore

LOOKBACK = 30  # order numbers, not orders; more on busy stores


def pull(client: mo.Client, stored: dict[int, mo.Order]) -> int:
    last_id = max(stored, default=0)
    recent = [i for i in stored if i > last_id - LOOKBACK]  # only these can come back
    new = 0
    for order in client.orders.after_number(last_id, lookback=LOOKBACK, skip_ids=recent, page_size=50):
        stored[order.id] = order
        new += 1
    return new


def main() -> None:
    store = FakeStore(orders=150, seed=1)
    stored: dict[int, mo.Order] = {}
    with store.client() as client:
        print("first run, new:", pull(client, stored))
        for _ in range(3):
            store.create_order()
        print("second run, new:", pull(client, stored))
        print("third run, new:", pull(client, stored))
    print("orders held:", len(stored), "highest id:", max(stored))


if __name__ == "__main__":
    main()
