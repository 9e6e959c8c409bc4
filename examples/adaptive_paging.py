"""The adaptive page size: what ``iter()`` does when you give it no ``page_size``.

It starts at 100 orders a page and doubles while pages come back quickly (up to 1,000), and shrinks after a
slow page, a timeout, a 5xx or a 429. ``page_size=`` with a number fixes the size; ``AdaptivePageSize(...)``
tunes the policy.
"""

from __future__ import annotations

import mivaorders as mo
from mivaorders.testing import FakeStore

store = FakeStore(orders=2500, seed=1)
with store.client() as client:
    # No options: the page size adapts. Against this in-memory store every page is fast, so it grows.
    pull = client.orders.iter(columns=())
    ids = [order.id for order in pull]
    print(f"{len(ids)} orders in {pull.requests} requests; page size now {pull.page_size}")
    for before, after, why in pull.page_size_changes:
        print(f"  {before} -> {after}: {why}")

    # A fixed size always wins: 25 requests of 100.
    fixed = client.orders.iter(page_size=100, columns=())
    assert len(list(fixed)) == len(ids)
    print(f"page_size=100: {fixed.requests} requests")

    # A gentler policy: at most 400 a page, and pages should take no more than half a second.
    gentle = mo.AdaptivePageSize(maximum=400, target_seconds=0.5)
    tuned = client.orders.updated_since(0, page_size=gentle, columns=())
    assert len(list(tuned)) == len(ids)
    print(f"AdaptivePageSize(maximum=400): {tuned.requests} requests, ended at {tuned.page_size}")
