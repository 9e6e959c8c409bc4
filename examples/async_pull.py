"""The async client: the same names, awaited; several pages in flight with ``FastPaging``.

``mo.AsyncClient`` mirrors ``mo.Client``: ``await client.orders.list(...)``, ``async for`` over
``client.orders.iter(...)`` / ``updated_since(...)`` / ``placed_between(...)`` / ``after_number(...)``, and
``await client.queues.drain(queue, handler)`` (the handler may be sync or async).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import mivaorders as mo
from mivaorders.testing import FakeStore


async def main() -> None:
    store = FakeStore(orders=300, seed=1)
    async with store.async_client() as client:
        page = await client.orders.list(count=5, columns=())
        print("total:", page.total_count)

        # Four keyset lanes over disjoint id ranges, requested concurrently; orders come in no set order.
        pull = client.orders.iter(paging=mo.FastPaging(concurrency=4), page_size=50, columns=())
        ids = [order.id async for order in pull]
        assert len(ids) == len(set(ids)) == page.total_count
        print(f"{len(ids)} orders in {pull.requests} requests")

        since = datetime.now(timezone.utc) - timedelta(days=1)
        updates = client.orders.updated_since(since)
        changed = [order async for order in updates]
        print(f"{len(changed)} changed since yesterday; next since = {updates.watermark.isoformat()}")

        async def handler(orders: list[mo.Order]) -> None:
            await asyncio.sleep(0)  # e.g. write to an async database

        report = await client.queues.drain("new_and_updated", handler)
        print("queue drained:", report.acknowledged, "acknowledged")


if __name__ == "__main__":
    asyncio.run(main())
