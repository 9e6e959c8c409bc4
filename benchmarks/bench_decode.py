"""Decode speed and memory of a 1,000-order page, side by side.

Run: ``python benchmarks/bench_decode.py [--orders N] [--repeat R]``
(with the official SDK column: ``PYTHONPATH=src /work/sdkvenv/bin/python benchmarks/bench_decode.py``).

Compares, in one process and interleaved (so machine noise hits every contender alike):

- ``json.loads`` (floats, no models) and ``json.loads(parse_float=Decimal)``;
- mivaorders' one-pass decoder as the client runs it (``page_decoder(Order).decode(body)``: the msgspec
  check pass plus the build pass into the attrs models), alone and followed by touching every collection
  of every order (items, charges, coupons, discounts, payments, notes, shipments, returns, and each item's
  options, discounts and parts);
- the check pass alone (the price of proving there is no unknown key); the same page with one unknown key
  (the strict check fails, a lenient one passes, the page is built in one pass and the unknown keys are
  read from an untyped parse and attached); and the exact path for Python objects
  (``mivaorders.json.loads`` + ``structure_page``: what a page with a bad value, a webhook, or
  ``converter.structure(dict, Order)`` costs);
- the official SDK's parse + model construction (``merchantapi.model.Order``), alone and with the same
  touching, if ``merchantapi`` is importable (a scratch venv only; it is never a dependency).

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

from mivaorders._converter import structure_page
from mivaorders._decode import page_decoder
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


ITEM_COLLECTIONS = ("options", "discounts", "parts")


def with_unknown_key(body: bytes) -> bytes:
    """The same page with one key the models do not know, in the last order."""
    data = loads(body)
    data["data"]["data"][-1]["future_column"] = 1
    return dumps(data)


def touch_ours(page: Any) -> int:
    """Walk every collection of every order (and each item's own lists), as a consumer would."""
    seen = 0
    for order in page:
        for name in COLLECTIONS:
            for element in getattr(order, name) or ():
                seen += 1
                if name == "items":
                    for inner in ITEM_COLLECTIONS:
                        seen += len(getattr(element, inner))
    return seen


def sdk_decoder() -> tuple[Callable[[bytes], Any], Callable[[Any], int]] | None:
    try:
        import merchantapi.model as sdk_model  # type: ignore[import-not-found]
    except ImportError:
        return None

    def decode(body: bytes) -> Any:
        # What the SDK does per response: parse (requests' .json() is json.loads) and wrap each order.
        data = json.loads(body)
        return [sdk_model.Order(order) for order in data["data"]["data"]]

    getters = {name: f"get_{name}" for name in COLLECTIONS}
    # The SDK has no model for kit parts: they stay the parsed list, read with get_field.
    item_getters: tuple[Callable[[Any], Any], ...] = (
        lambda item: item.get_options(),
        lambda item: item.get_discounts(),
        lambda item: item.get_field("parts"),
    )

    def touch(orders: Any) -> int:
        seen = 0
        for order in orders:
            for name in COLLECTIONS:
                for element in getattr(order, getters[name])() or ():
                    seen += 1
                    if name == "items":
                        for getter in item_getters:
                            seen += len(getter(element) or ())
        return seen

    return decode, touch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    body = build_page(args.orders)
    odd_body = with_unknown_key(body)
    decoder = page_decoder(Order)
    odd_page = decoder.decode(odd_body)
    assert odd_page is not None
    assert odd_page[-1].extra == {"future_column": 1}

    def ours(data: bytes) -> Any:
        page = decoder.decode(data)
        assert page is not None
        return page

    def ours_touch(data: bytes) -> Any:
        page = ours(data)
        touch_ours(page)
        return page

    def unknown_key(data: bytes) -> Any:
        page = decoder.decode(odd_body)
        touch_ours(page)
        return page

    def exact_path(data: bytes) -> Any:
        return structure_page(loads(data)["data"], Order)

    def exact_touch(data: bytes) -> Any:
        page = exact_path(data)
        touch_ours(page)
        return page

    contenders: dict[str, Callable[[bytes], Any]] = {
        "json.loads": json.loads,
        "json.loads(parse_float=Decimal)": lambda data: json.loads(data, parse_float=Decimal),
        "mivaorders (default)": ours,
        "mivaorders + touch all": ours_touch,
        "  of which: check pass": decoder._check.decode,
        "mivaorders, unknown key + touch all": unknown_key,
        "exact path (dicts) + touch all": exact_touch,
    }
    sdk = sdk_decoder()
    if sdk is not None:
        sdk_decode, sdk_touch = sdk
        assert sdk_touch(sdk_decode(body)) == touch_ours(ours(body))  # the same amount of data walked

        def sdk_touch_all(data: bytes) -> Any:
            orders = sdk_decode(data)
            sdk_touch(orders)
            return orders

        contenders["official SDK merchantapi"] = sdk_decode
        contenders["official SDK + touch all"] = sdk_touch_all

    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeat):
        for name, fn in contenders.items():
            gc.collect()
            start = time.perf_counter()
            fn(body)
            times[name].append(time.perf_counter() - start)

    print(f"page: {args.orders} orders, {len(body) / 1e6:.1f} MB, {args.repeat} runs each (interleaved)")
    plain = min(times["json.loads"])
    reference = min(times["official SDK + touch all"]) if sdk is not None else None
    print(f"{'contender':36} {'min ms':>8} {'median':>8} {'x json':>7} {'x SDK+touch':>12}")
    for name, values in times.items():
        best = min(values)
        vs_sdk = f"{best / reference:12.2f}" if reference else "           -"
        print(
            f"{name:36} {best * 1e3:8.1f} {statistics.median(values) * 1e3:8.1f} {best / plain:7.2f} {vs_sdk}"
        )

    print("\nmemory held per decoded order (tracemalloc, page kept alive)")
    memory: dict[str, Callable[[bytes], Any]] = {
        "parsed dict (mivaorders.json.loads)": loads,
        "parsed dict (json.loads)": json.loads,
        "mivaorders (default)": ours,
        "mivaorders, page with an unknown key": lambda data: decoder.decode(odd_body),
        "exact path (dicts)": exact_path,
    }
    if sdk is not None:
        memory["official SDK merchantapi"] = sdk[0]
    for name, fn in memory.items():
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        kept = fn(body)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(f"{name:36} {(after - before) / args.orders / 1024:8.1f} KiB/order")
        del kept


if __name__ == "__main__":
    main()
