"""A pull that hits an error carries on where it stopped when you keep iterating: nothing is skipped."""

from __future__ import annotations

import mivaorders as mo
from mivaorders.testing import FakeStore, Fault

store = FakeStore(orders=30, seed=1)
with store.client(retry=None) as client:  # no retries, so the failure reaches us
    pull = client.orders.updated_since(0, page_size=10)
    seen: list[int] = []
    store.faults.script(Fault.http(503), when="before")  # the first page request fails
    while not pull.exhausted:
        try:
            seen.extend(order.id for order in pull)  # what arrived before the error is kept
        except mo.HTTPStatusError as exc:  # noqa: PERF203 - retrying inside the loop is the point
            print("page failed, asking again:", exc)  # a real job might wait, or give up later
    assert sorted(seen) == sorted(store.truth())  # every order, once
    print(f"{len(seen)} orders; the next pull starts at {pull.watermark.isoformat()}")
