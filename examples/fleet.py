"""Many stores in one PostgreSQL database: add three stores to a fleet, sync each, show the status.

Uses ``MIVAORDERS_DSN`` if set; otherwise starts a throwaway PostgreSQL (``initdb``/``pg_ctl`` must be
installed). The stores are simulated ones served over loopback HTTP. In production the syncs run on
Celery workers (``mivaorders fleet worker``); here ``fleet.sync(key)`` runs them in this process.
"""

from __future__ import annotations

import contextlib
import os

from mivaorders import HmacAuth
from mivaorders.fleet import Fleet, generate_key
from mivaorders.testing import FakeStore
from mivaorders.testing.servers import ServerUnavailable, local_postgres


def main() -> None:
    with contextlib.ExitStack() as stack:
        dsn = os.environ.get("MIVAORDERS_DSN")
        if not dsn:
            try:
                dsn = stack.enter_context(local_postgres())
            except ServerUnavailable as exc:
                print(f"this example needs PostgreSQL: {exc}")
                return
        # Keep the real key in a secret store and give it to every worker as MIVAORDERS_FLEET_KEY.
        fleet = Fleet(dsn, key=os.environ.get("MIVAORDERS_FLEET_KEY") or generate_key())
        fleet.migrate()
        for number, size in enumerate((150, 40, 300), start=1):
            store = FakeStore(orders=size, seed=number)
            endpoint = stack.enter_context(store.serve())
            fleet.add_store(
                f"shop-{number}",
                endpoint=endpoint,
                store_code=store.store_code,
                auth=HmacAuth(store.token, store.signing_key),  # stored encrypted, never shown
            )
        for store in fleet.stores():
            result = fleet.sync(store.key)  # under the store's lease: "busy" if a worker has it
            print(f"{result.key}: {result.outcome}, {result.orders} orders in {result.elapsed:.2f}s")
        for status in fleet.status():
            print(
                f"{status.key}: {status.orders} orders stored, last success {status.last_success_at:%H:%M:%S}"
            )


if __name__ == "__main__":
    main()
