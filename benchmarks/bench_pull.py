"""Pull every order, with every on-demand column, from a simulated store over loopback HTTP: side by side.

Run: ``python benchmarks/bench_pull.py [--orders 20000] [--latency-ms 50] [--repeat 3] [--quick]``

The store (``python -m mivaorders.testing``) runs in its own process, so it has its own core. Each measured
pull runs in a fresh child process that streams the orders and keeps only their ids and a checksum, so
its peak RSS is the memory a streaming pull needs. Variants alternate within each round (the order rotates
from round to round) and the table shows the median of the rounds.

(a) the plain offset loop with Count=100 (``client.orders.list(count=100, offset=k)`` until done);
(b) the same loop with Count=1000 (the official SDK's approach);
(c) ``client.orders.iter()`` with the default strategy (keyset by id);
(d) sync ``FastPaging``: several pages per multicall request;
(e) async ``FastPaging``: several requests in flight;
(f) for reference, not a pull: the time spent only decoding the same 20 Count=1000 responses (fetched
    untimed). It is the floor for any strategy that decodes every order in one Python process.

Every variant decodes every page to ``Order`` models the same way (``client.orders`` decodes them) and
must deliver every order exactly once: the run fails otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx

import mivaorders
from mivaorders import ALL_COLUMNS, FastPaging
from mivaorders._query import OrderQuery
from mivaorders.models import Order
from mivaorders.orders import _decode, _list_call

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import StoreInfo, peak_rss_mib, simulator

STORE_ENV = "MIVAORDERS_BENCH_STORE"  # the store's throwaway credentials reach children by env, not argv


@attrs.frozen
class Variant:
    key: str
    label: str
    kind: str  # "offset" | "iter" | "sync-fast" | "async-fast" | "floor"
    page_size: int
    concurrency: int = 1


def variants(args: argparse.Namespace) -> list[Variant]:
    return [
        Variant("a", "offset loop, Count=100", "offset", 100),
        Variant("b", "offset loop, Count=1000", "offset", 1000),
        Variant("c", f"iter() default, page {args.iter_page}", "iter", args.iter_page),
        Variant(
            "d",
            f"sync FastPaging({args.sync_concurrency}), page {args.sync_page}",
            "sync-fast",
            args.sync_page,
            args.sync_concurrency,
        ),
        Variant(
            "e",
            f"async FastPaging({args.async_concurrency}), page {args.async_page}",
            "async-fast",
            args.async_page,
            args.async_concurrency,
        ),
        Variant("f", "decode only, no network (the floor)", "floor", 1000),
    ]


# -- child: one measured pull -------------------------------------------------------------------------


class Tally:
    """What a streaming consumer keeps: ids (to prove completeness) and a checksum of the totals."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.orders = 0
        self.total = Decimal(0)
        self.timed: float | None = None  # set when only part of the run is the measurement

    def add(self, orders: Iterable[Order]) -> None:
        for order in orders:
            self.orders += 1
            self.ids.add(order.id)
            self.total += order.total


def _auth(store: StoreInfo) -> mivaorders.HmacAuth:
    return mivaorders.HmacAuth(store.token, store.signing_key)


def run_sync(store: StoreInfo, variant: Variant, tally: Tally, count_request: Callable[[], None]) -> None:
    http = httpx.Client(
        timeout=mivaorders.DEFAULT_TIMEOUT, event_hooks={"request": [lambda _: count_request()]}
    )
    with (
        http,
        mivaorders.Client(
            store.endpoint,
            store_code=store.store_code,
            auth=_auth(store),
            allow_insecure_http=True,
            http_client=http,
        ) as client,
    ):
        if variant.kind == "floor":
            decode_only(client, variant.page_size, tally)
            return
        if variant.kind == "offset":
            offset = 0
            while True:
                page = client.orders.list(count=variant.page_size, offset=offset, columns=ALL_COLUMNS)
                tally.add(page.items)
                offset += len(page.items)
                if len(page.items) < variant.page_size or offset >= page.total_count:
                    return
        paging = None if variant.kind == "iter" else FastPaging(concurrency=variant.concurrency)
        tally.add(client.orders.iter(page_size=variant.page_size, columns=ALL_COLUMNS, paging=paging))


def decode_only(client: mivaorders.Client, count: int, tally: Tally) -> None:
    """Fetch each Count=``count`` page untimed, then time only its decoding (the same code path as
    ``client.orders.list``): the floor no paging strategy can go below in one process."""
    query = OrderQuery.build(where=None, sort=None, columns=ALL_COLUMNS, passphrase=None)
    offset, decoding = 0, 0.0
    while True:
        call = _list_call(query.params(count=count, offset=offset))
        response = client._send(client._call_request(call), call.label)
        started = time.perf_counter()
        page = _decode(client._read_call(call, response))
        tally.add(page.items)
        decoding += time.perf_counter() - started
        del response
        offset += len(page.items)
        if len(page.items) < count or offset >= page.total_count:
            break
    tally.timed = decoding


async def run_async(
    store: StoreInfo, variant: Variant, tally: Tally, count_request: Callable[[], None]
) -> None:
    async def hook(_: httpx.Request) -> None:
        count_request()

    http = httpx.AsyncClient(timeout=mivaorders.DEFAULT_TIMEOUT, event_hooks={"request": [hook]})
    async with (
        http,
        mivaorders.AsyncClient(
            store.endpoint,
            store_code=store.store_code,
            auth=_auth(store),
            allow_insecure_http=True,
            http_client=http,
        ) as client,
    ):
        paging = FastPaging(concurrency=variant.concurrency)
        async for order in client.orders.iter(
            page_size=variant.page_size, columns=ALL_COLUMNS, paging=paging
        ):
            tally.add((order,))


def child(variant: Variant, profile: bool) -> dict[str, Any]:
    store = StoreInfo(**json.loads(os.environ[STORE_ENV]))
    tally = Tally()
    requests = 0

    def count_request() -> None:
        nonlocal requests
        requests += 1

    rss_before = peak_rss_mib()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    if variant.kind == "async-fast":
        asyncio.run(run_async(store, variant, tally, count_request))
    else:
        run_sync(store, variant, tally, count_request)
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started if tally.timed is None else tally.timed
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    return {
        "seconds": seconds,
        "requests": requests,
        "orders": tally.orders,
        "distinct": len(tally.ids),
        "total": str(tally.total),
        "rss_start_mib": rss_before,
        "rss_peak_mib": peak_rss_mib(),
    }


# -- parent: alternate the variants, one child process per pull ---------------------------------------


def measure(store: StoreInfo, variant: Variant, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", variant.key, *_variant_options(args)]
    env = {**os.environ, STORE_ENV: json.dumps(attrs.asdict(store))}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"variant {variant.key} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _variant_options(args: argparse.Namespace) -> list[str]:
    return [
        f"--iter-page={args.iter_page}",
        f"--sync-page={args.sync_page}",
        f"--sync-concurrency={args.sync_concurrency}",
        f"--async-page={args.async_page}",
        f"--async-concurrency={args.async_concurrency}",
    ]


def check(variant: Variant, result: dict[str, Any], expected: int, reference_total: str | None) -> None:
    if result["orders"] != expected or result["distinct"] != expected:
        raise SystemExit(
            f"variant {variant.key} delivered {result['orders']} orders, {result['distinct']} distinct; "
            f"expected {expected}"
        )
    if reference_total is not None and result["total"] != reference_total:
        raise SystemExit(f"variant {variant.key} decoded different totals: {result['total']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2,000 orders, one round: a sanity run")
    parser.add_argument("--only", default="abcdef", help="which variants to run, e.g. 'bce'")
    parser.add_argument("--iter-page", type=int, default=1000)
    parser.add_argument("--sync-page", type=int, default=250)
    parser.add_argument("--sync-concurrency", type=int, default=4)
    parser.add_argument("--async-page", type=int, default=200)
    parser.add_argument("--async-concurrency", type=int, default=4)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="with --child: cProfile to stderr")
    args = parser.parse_args()
    by_key = {v.key: v for v in variants(args)}

    if args.child:
        print(json.dumps(child(by_key[args.child], args.profile)))
        return
    if args.quick:
        args.orders, args.repeat = 2_000, 1
    chosen = [by_key[k] for k in args.only]

    print(
        f"pull {args.orders:,} orders, all {len(ALL_COLUMNS)} on-demand columns, loopback HTTP + "
        f"{args.latency_ms:g} ms latency, {args.repeat} round(s), median shown; Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    results: dict[str, list[dict[str, Any]]] = {v.key: [] for v in chosen}
    with simulator(orders=args.orders, latency_ms=args.latency_ms, seed=args.seed) as store:
        # The store caches each rendered order; one untimed pull fills that cache for every variant alike.
        warm = measure(store, by_key["b"], args)
        check(by_key["b"], warm, args.orders, None)
        reference_total = warm["total"]
        print(f"  warm-up (cold render cache): {warm['seconds']:.2f} s", file=sys.stderr)
        for round_ in range(args.repeat):
            order = chosen[round_ % len(chosen) :] + chosen[: round_ % len(chosen)]
            for variant in order:
                result = measure(store, variant, args)
                check(variant, result, args.orders, reference_total)
                results[variant.key].append(result)
                print(
                    f"  round {round_ + 1} {variant.key}: {result['seconds']:6.2f} s "
                    f"{result['requests']:4d} requests, peak {result['rss_peak_mib']:.0f} MiB",
                    file=sys.stderr,
                )
    report(chosen, results, args.orders)


def report(chosen: list[Variant], results: dict[str, list[dict[str, Any]]], orders: int) -> None:
    median = {k: statistics.median(r["seconds"] for r in rs) for k, rs in results.items()}
    print(
        f"{'variant':45} {'seconds':>8} {'min':>6} {'reqs':>5} {'orders/s':>9} "
        f"{'vs a':>6} {'vs b':>6} {'peak RSS':>9}"
    )
    for v in chosen:
        rs = results[v.key]
        seconds = median[v.key]
        vs_a = f"{median['a'] / seconds:5.1f}x" if "a" in median else "     -"
        vs_b = f"{median['b'] / seconds:5.1f}x" if "b" in median else "     -"
        rss = statistics.median(r["rss_peak_mib"] for r in rs)
        print(
            f"({v.key}) {v.label:41} {seconds:8.2f} {min(r['seconds'] for r in rs):6.2f} "
            f"{rs[0]['requests']:5d} {orders / seconds:9.0f} {vs_a:>6} {vs_b:>6} {rss:6.0f} MiB"
        )
    start = statistics.median(r["rss_start_mib"] for rs in results.values() for r in rs)
    print(f"peak RSS: the whole child process (interpreter + httpx + mivaorders alone: {start:.0f} MiB)")
    pulls = [v for v in chosen if v.kind != "floor"]
    if "a" in median and "b" in median and pulls:
        best = min(pulls, key=lambda v: median[v.key])
        rss = statistics.median(r["rss_peak_mib"] for r in results[best.key])
        print(
            f"fastest pull ({best.key}): {median['a'] / median[best.key]:.1f}x vs (a) (goal 8x), "
            f"{median['b'] / median[best.key]:.1f}x vs (b) (goal 3x), peak RSS {rss:.0f} MiB = "
            f"{rss * 1.048576:.0f} MB (goal < 100 MB)"
        )


if __name__ == "__main__":
    main()
