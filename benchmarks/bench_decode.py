"""Decode speed and memory of a 1,000-order page, side by side.

Run: ``python benchmarks/bench_decode.py [--orders N] [--repeat R]``

Compares, in one process and interleaved (so machine noise hits every contender alike):

- ``json.loads`` (floats) and ``json.loads(parse_float=Decimal)``;
- mivaorders: ``mivaorders._json.loads`` + ``structure_page`` (lazy default, and eager), and the
  lazy decode followed by touching every order-level collection;
- the official SDK's parse + model construction (``merchantapi.model.Order``), if ``merchantapi`` is
  importable (install it in a scratch venv only; it is not a dependency of this project).

Memory is what stays allocated per decoded order (tracemalloc), with the page kept alive.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from mivaorders._converter import make_converter, structure_page
from mivaorders._json import dumps, loads
from mivaorders.models import Order

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "orderlist_load_query_response.json"
COLLECTIONS = ("items", "charges", "coupons", "discounts", "payments", "notes", "shipments", "returns")


def build_page(n: int) -> bytes:
    """n orders with every ODC: the fixture's three orders, replicated with distinct ids and values."""
    base = json.loads(FIXTURE.read_bytes(), parse_float=Decimal)["data"]["data"]
    orders = []
    for i in range(n):
        order = copy.deepcopy(base[i % len(base)])
        order["id"] = 300000 + i
        order["orderdate"] += i * 60
        order["dt_updated"] += i * 60
        order["total"] += Decimal(i % 97) / 100
        for item in order["items"]:
            item["order_id"] = order["id"]
            item["line_id"] += i * 10
        for payment in order["payments"]:
            payment["order_id"] = order["id"]
        orders.append(order)
    envelope = {"success": 1, "data": {"total_count": n, "start_offset": 0, "data": orders}}
    return dumps(envelope)


def sdk_decoder() -> Callable[[bytes], Any] | None:
    try:
        import merchantapi.model as sdk_model  # type: ignore[import-not-found]
    except ImportError:
        return None

    def decode(body: bytes) -> Any:
        # What the SDK does per response: parse (requests' .json() is json.loads) and wrap each order.
        data = json.loads(body)
        return [sdk_model.Order(order) for order in data["data"]["data"]]

    return decode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    body = build_page(args.orders)
    eager = make_converter(lazy=False)

    def ours(data: bytes) -> Any:
        return structure_page(loads(data)["data"], Order)

    def ours_eager(data: bytes) -> Any:
        return structure_page(loads(data)["data"], Order, conv=eager)

    def ours_touch(data: bytes) -> Any:
        page = ours(data)
        for order in page:
            for name in COLLECTIONS:
                getattr(order, name)[:1]
        return page

    contenders: dict[str, Callable[[bytes], Any]] = {
        "json.loads": json.loads,
        "json.loads(parse_float=Decimal)": lambda data: json.loads(data, parse_float=Decimal),
        "mivaorders (lazy, default)": ours,
        "mivaorders (lazy) + touch all": ours_touch,
        "mivaorders (eager)": ours_eager,
    }
    sdk = sdk_decoder()
    if sdk is not None:
        contenders["official SDK merchantapi"] = sdk

    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeat):
        for name, fn in contenders.items():
            gc.collect()
            start = time.perf_counter()
            fn(body)
            times[name].append(time.perf_counter() - start)

    print(f"page: {args.orders} orders, {len(body) / 1e6:.1f} MB, {args.repeat} runs each (interleaved)")
    plain = min(times["json.loads"])
    reference = min(times["official SDK merchantapi"]) if sdk is not None else None
    print(f"{'contender':34} {'min ms':>8} {'median':>8} {'x json':>7} {'x SDK':>7}")
    for name, values in times.items():
        best = min(values)
        vs_sdk = f"{best / reference:7.2f}" if reference else "      -"
        print(
            f"{name:34} {best * 1e3:8.1f} {statistics.median(values) * 1e3:8.1f} {best / plain:7.2f} {vs_sdk}"
        )

    print("\nmemory held per decoded order (tracemalloc, page kept alive)")
    memory: dict[str, Callable[[bytes], Any]] = {
        "parsed dict (mivaorders loads)": loads,
        "mivaorders (lazy, default)": ours,
        "mivaorders (lazy) + touch all": ours_touch,
        "mivaorders (eager)": ours_eager,
    }
    if sdk is not None:
        memory["official SDK merchantapi"] = sdk
    for name, fn in memory.items():
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        kept = fn(body)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(f"{name:34} {(after - before) / args.orders / 1024:8.1f} KiB/order")
        del kept


if __name__ == "__main__":
    main()
