"""Write back: mark orders as exported, then ship them, safely, even when the network fails.

``client.orders.set_custom_fields(order_id, {...})`` writes the "exported" flag (same values again, same
state: safe to retry). ``client.orders.fulfil(order_id, tracking_number=..., tracking_type=...)`` is the
whole "ship it" step: it reads first, creates a shipment only for lines that have none, re-reads instead of
creating again when an answer is lost, and sets tracking and shipped state in one update. Running it again
after any failure, or twice on purpose, gives the same shipment and never a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import mivaorders as mo
from mivaorders.testing import FakeStore, Fault

T = TypeVar("T")


def main() -> None:
    store = FakeStore(orders=20, seed=1)
    order_ids = [store.create_order(items=3) for _ in range(5)]
    # 30 % of requests fail, before or after the store acted: lost answers, 502s, dropped connections.
    store.faults.random(rate=0.3, kinds=[Fault.http(502), Fault.drop(), Fault.truncate()], seed=1)

    with store.client(retry=mo.RetryPolicy(max_attempts=2, wait=False)) as client:
        for order_id in order_ids:
            # 1. the ERP took the order: flag it (this bumps dt_updated, so last-update pulls see it again)
            run_until_done(partial(client.orders.set_custom_fields, order_id, {"erp_exported": "1"}))
            # 2. the warehouse shipped it: one shipment, tracking number, shipped state
            ship = partial(
                client.orders.fulfil, order_id, tracking_number=f"1ZEX{order_id}", tracking_type="UPS"
            )
            shipment = run_until_done(ship)
            print(f"order {order_id}: shipment {shipment.id} {shipment.status._name_} {shipment.tracknum}")
        # The same step again (a crashed job re-run, a duplicated message): nothing new is created.
        again = client.orders.fulfil(order_ids[0], tracking_number=f"1ZEX{order_ids[0]}", tracking_type="UPS")
        print("repeat gives the same shipment:", again.id)

    store.faults.clear()
    for order_id in order_ids:
        assert len(store.shipments(order_id)) == 1, "never a duplicate shipment"
        assert store.truth()[order_id]["CustomField_Values"]["customfields"]["erp_exported"] == "1"
    print("requests that failed on purpose:", store.stats.faults_before + store.stats.faults_after)


def run_until_done(step: Callable[[], T], attempts: int = 10) -> T:
    """Both steps are safe to repeat, so a failure is handled by running the step again (a job queue's
    retry does the same). Errors about the request itself (a bad field, a foreign line) are not retried."""
    for _ in range(attempts - 1):
        try:
            return step()
        except (mo.TransportError, mo.HTTPStatusError, mo.ResponseDecodeError) as exc:  # noqa: PERF203
            print(f"  failed ({type(exc).__name__}); running the step again")
    return step()


if __name__ == "__main__":
    main()
