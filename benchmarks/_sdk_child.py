"""One measured pull with Miva's official Python SDK (``merchantapi``): the reference loops of the benchmark.

Run by ``bench_pull.py`` with the interpreter of a scratch virtual environment that has ``merchantapi``
installed (it is never a dependency of this project). Uses only the SDK's public API and the standard
library: ``OrderListLoadQuery`` with ``Count``/``Offset`` until the store has no more, every on-demand
column, and the same checksum as our own variants.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import merchantapi.request  # type: ignore[import-not-found]  # only in the scratch venv
from _checksum import Checksum
from merchantapi.client import Client  # type: ignore[import-not-found]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    store = json.loads(os.environ["MIVAORDERS_BENCH_STORE"])
    count = int(sys.argv[1])
    columns = json.loads(sys.argv[2])
    rss_before = peak_rss_mib()
    client = Client(
        store["endpoint"], store["token"], store["signing_key"], {"default_store_code": store["store_code"]}
    )
    checksum = Checksum()
    requests = 0
    started = time.perf_counter()
    offset = 0
    while True:
        query = merchantapi.request.OrderListLoadQuery(client)
        query.set_count(count)
        query.set_offset(offset)
        query.set_on_demand_columns(columns)
        response = query.send()
        requests += 1
        if response.is_error():
            raise SystemExit(f"the official SDK got an error: {response.get_error_code()}")
        orders = response.get_orders()
        for order in orders:
            checksum.add(
                order.get_id(),
                order.get_total(),
                [item.get_quantity() for item in order.get_items()],
                [payment.get_amount() for payment in order.get_payments()],
                [shipment.get_id() for shipment in order.get_shipments()],
            )
        offset += len(orders)
        if len(orders) < count or offset >= response.get_total_count():
            break
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "requests": requests,
                "orders": checksum.orders,
                "distinct": len(checksum.ids),
                "checksum": checksum.hexdigest(),
                "rss_start_mib": rss_before,
                "rss_peak_mib": peak_rss_mib(),
            }
        )
    )


if __name__ == "__main__":
    main()
