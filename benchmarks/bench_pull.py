"""Pull every order, with every on-demand column, from a simulated store over loopback HTTP: side by side.

Run: ``python benchmarks/bench_pull.py [--orders 20000] [--latency-ms 50] [--repeat 3] [--quick]
[--sdk-python /work/sdkvenv/bin/python]``

The store (``python -m mivaorders.testing``) runs in its own process, so it has its own core. Each measured
pull runs in a fresh child process that streams the orders and keeps only their ids and a checksum, so
its peak RSS is the memory a streaming pull needs. Variants alternate within each round (the order rotates
from round to round) and the table shows the median of the rounds.

The reference is Miva's official Python SDK (``merchantapi``), run from a scratch virtual environment
(``--sdk-python``; it is never a dependency of this project) through its public API only:

(a) official SDK, ``OrderListLoadQuery`` with Count=100 and Offset steps until done (the naive loop);
(b) the same with Count=1000.
    Without ``merchantapi`` the run says so and uses our own offset loop
    (``client.orders.list(count=..., offset=k)``) for (a) and (b) instead.
(c) ``client.orders.iter()`` with NO options (adaptive page size, keyset by id), sync;
(d) the same, async;
(e) ``client.orders.iter(page_size=1000)``;
(f) sync ``FastPaging``: several requests in flight from the sync driver's threads;
(g) async ``FastPaging``: several requests in flight;
(h) for reference, not a pull: the time spent only decoding the same Count=1000 responses (fetched
    untimed). It is the floor for any strategy that decodes every order in one Python process.

Every variant must deliver every order exactly once, with the same checksum (totals, item quantities,
payment amounts, shipment ids; ``_checksum.py``) as the official SDK's decoding: the run fails otherwise.
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
from _checksum import Checksum
from _common import StoreInfo, peak_rss_mib, simulator

SDK_CHILD = Path(__file__).resolve().parent / "_sdk_child.py"
DEFAULT_SDK_PYTHON = "/work/sdkvenv/bin/python"

STORE_ENV = "MIVAORDERS_BENCH_STORE"  # the store's throwaway credentials reach children by env, not argv


@attrs.frozen
class Variant:
    key: str
    label: str
    kind: str  # "sdk" | "offset" | "iter" | "async-iter" | "sync-fast" | "async-fast" | "floor"
    page_size: int | None  # None: the default (adaptive)
    concurrency: int = 1


def variants(args: argparse.Namespace) -> list[Variant]:
    reference = "sdk" if args.sdk_python else "offset"
    name = "official SDK loop" if args.sdk_python else "our offset loop (no merchantapi)"
    return [
        Variant("a", f"{name}, Count=100", reference, 100),
        Variant("b", f"{name}, Count=1000", reference, 1000),
        Variant("c", "iter() with no options, sync", "iter", None),
        Variant("d", "iter() with no options, async", "async-iter", None),
        Variant("e", "iter(page_size=1000)", "iter", 1000),
        Variant(
            "f",
            f"sync FastPaging({args.sync_concurrency}), page {args.sync_page}",
            "sync-fast",
            args.sync_page,
            args.sync_concurrency,
        ),
        Variant(
            "g",
            f"async FastPaging({args.async_concurrency}), page {args.async_page}",
            "async-fast",
            args.async_page,
            args.async_concurrency,
        ),
        Variant("h", "decode only, no network (the floor)", "floor", 1000),
    ]


# -- child: one measured pull -------------------------------------------------------------------------


class Tally(Checksum):
    """What a streaming consumer keeps: ids (to prove completeness) and the checksum of what it used."""

    def __init__(self) -> None:
        super().__init__()
        self.timed: float | None = None  # set when only part of the run is the measurement
        self.page_sizes: list[int] = []

    def add_orders(self, orders: Iterable[Order]) -> None:
        for order in orders:
            self.add(
                order.id,
                order.total,
                # Every on-demand column is requested, so the collections are there.
                [item.quantity for item in order.items or ()],
                [payment.amount for payment in order.payments or ()],
                [shipment.id for shipment in order.shipments or ()],
            )


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
        count = variant.page_size or 1000
        if variant.kind == "floor":
            decode_only(client, count, tally)
            return
        if variant.kind == "offset":
            offset = 0
            while True:
                page = client.orders.list(count=count, offset=offset, columns=ALL_COLUMNS)
                tally.add_orders(page.items)
                offset += len(page.items)
                if len(page.items) < count or offset >= page.total_count:
                    return
        paging = None if variant.kind == "iter" else FastPaging(concurrency=variant.concurrency)
        it = client.orders.iter(page_size=variant.page_size, columns=ALL_COLUMNS, paging=paging)
        tally.add_orders(it)
        tally.page_sizes = [size for _, size, _ in it.page_size_changes]


def decode_only(client: mivaorders.Client, count: int, tally: Tally) -> None:
    """Fetch each Count=``count`` page untimed, then time only its decoding (the same code path as
    ``client.orders.list``): the floor no paging strategy can go below in one process."""
    query = OrderQuery.build(where=None, sort=None, columns=ALL_COLUMNS, passphrase=None)
    offset, decoding = 0, 0.0
    while True:
        call = _list_call(query.params(count=count, offset=offset))
        # Fetched with the client's own signed request, untimed and outside its retry and telemetry loop.
        response = client._http.send(client._call_request(call))
        response.read()
        started = time.perf_counter()
        page = _decode(client._read_call(call, response))
        tally.add_orders(page.items)
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
        paging = None if variant.kind == "async-iter" else FastPaging(concurrency=variant.concurrency)
        it = client.orders.iter(page_size=variant.page_size, columns=ALL_COLUMNS, paging=paging)
        async for order in it:
            tally.add_orders((order,))
        tally.page_sizes = [size for _, size, _ in it.page_size_changes]


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
    if variant.kind in ("async-fast", "async-iter"):
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
        "checksum": tally.hexdigest(),
        "page_sizes": tally.page_sizes,
        "rss_start_mib": rss_before,
        "rss_peak_mib": peak_rss_mib(),
    }


# -- parent: alternate the variants, one child process per pull ---------------------------------------


def measure(store: StoreInfo, variant: Variant, args: argparse.Namespace) -> dict[str, Any]:
    if variant.kind == "sdk":
        command = [args.sdk_python, str(SDK_CHILD), str(variant.page_size), json.dumps(list(ALL_COLUMNS))]
    else:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            variant.key,
            *_variant_options(args),
        ]
    env = {**os.environ, STORE_ENV: json.dumps(attrs.asdict(store))}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"variant {variant.key} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _variant_options(args: argparse.Namespace) -> list[str]:
    return [
        f"--sync-page={args.sync_page}",
        f"--sync-concurrency={args.sync_concurrency}",
        f"--async-page={args.async_page}",
        f"--async-concurrency={args.async_concurrency}",
        *([f"--sdk-python={args.sdk_python}"] if args.sdk_python else ["--no-sdk"]),
    ]


def check(variant: Variant, result: dict[str, Any], expected: int, reference: str | None) -> None:
    if result["orders"] != expected or result["distinct"] != expected:
        raise SystemExit(
            f"variant {variant.key} delivered {result['orders']} orders, {result['distinct']} distinct; "
            f"expected {expected}"
        )
    if reference is not None and result["checksum"] != reference:
        raise SystemExit(
            f"variant {variant.key} decoded different contents: checksum {result['checksum']}, "
            f"the reference decoding gave {reference}"
        )


def sdk_python(requested: str | None, disabled: bool) -> str | None:
    """The interpreter of a virtual environment with ``merchantapi``, or ``None`` (and why, on stderr)."""
    if disabled:
        print("--no-sdk: (a) and (b) are our own offset loops, NOT the official SDK", file=sys.stderr)
        return None
    candidate = requested or DEFAULT_SDK_PYTHON
    probe = [candidate, "-c", "import merchantapi.version as v; print(v.Version.STRING)"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, check=False)  # noqa: S603
    except OSError:
        done = None
    if done is None or done.returncode != 0:
        print(
            f"merchantapi is not importable with {candidate}: (a) and (b) fall back to our own offset "
            "loops, so the ratios are NOT against the official SDK",
            file=sys.stderr,
        )
        return None
    print(f"reference: official SDK merchantapi {done.stdout.strip()} ({candidate})", file=sys.stderr)
    return candidate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2,000 orders, one round: a sanity run")
    parser.add_argument("--only", default="abcdefgh", help="which variants to run, e.g. 'bce'")
    parser.add_argument("--sdk-python", help=f"python with merchantapi (default {DEFAULT_SDK_PYTHON})")
    parser.add_argument("--no-sdk", action="store_true", help="compare with our own offset loops instead")
    parser.add_argument("--sync-page", type=int, default=400)
    parser.add_argument("--sync-concurrency", type=int, default=4)
    parser.add_argument("--async-page", type=int, default=200)
    parser.add_argument("--async-concurrency", type=int, default=4)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="with --child: cProfile to stderr")
    args = parser.parse_args()
    if args.child:
        args.sdk_python = None if args.no_sdk else args.sdk_python
        print(json.dumps(child({v.key: v for v in variants(args)}[args.child], args.profile)))
        return
    args.sdk_python = sdk_python(args.sdk_python, args.no_sdk)
    by_key = {v.key: v for v in variants(args)}
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
        # It is the reference loop, so its checksum (the official SDK's decoding, when available) is the
        # one every variant must match.
        warm = measure(store, by_key["b"], args)
        check(by_key["b"], warm, args.orders, None)
        reference = warm["checksum"]
        print(f"  warm-up (cold render cache): {warm['seconds']:.2f} s", file=sys.stderr)
        for round_ in range(args.repeat):
            order = chosen[round_ % len(chosen) :] + chosen[: round_ % len(chosen)]
            for variant in order:
                result = measure(store, variant, args)
                check(variant, result, args.orders, reference)
                results[variant.key].append(result)
                sizes = result.get("page_sizes") or []
                print(
                    f"  round {round_ + 1} {variant.key}: {result['seconds']:6.2f} s "
                    f"{result['requests']:4d} requests, peak {result['rss_peak_mib']:.0f} MiB"
                    + (f", page size went {'/'.join(map(str, sizes))}" if sizes else ""),
                    file=sys.stderr,
                )
    report(chosen, results, args.orders)


def report(chosen: list[Variant], results: dict[str, list[dict[str, Any]]], orders: int) -> None:
    median = {k: statistics.median(r["seconds"] for r in rs) for k, rs in results.items()}
    print(
        f"{'variant':52} {'seconds':>8} {'min':>6} {'reqs':>5} {'orders/s':>9} "
        f"{'vs a':>6} {'vs b':>6} {'peak RSS':>9}"
    )
    for v in chosen:
        rs = results[v.key]
        seconds = median[v.key]
        vs_a = f"{median['a'] / seconds:5.1f}x" if "a" in median else "     -"
        vs_b = f"{median['b'] / seconds:5.1f}x" if "b" in median else "     -"
        rss = statistics.median(r["rss_peak_mib"] for r in rs)
        print(
            f"({v.key}) {v.label:48} {seconds:8.2f} {min(r['seconds'] for r in rs):6.2f} "
            f"{rs[0]['requests']:5d} {orders / seconds:9.0f} {vs_a:>6} {vs_b:>6} {rss:6.0f} MiB"
        )
    start = statistics.median(r["rss_start_mib"] for rs in results.values() for r in rs)
    print(f"peak RSS: the whole child process (interpreter + HTTP stack + SDK alone: about {start:.0f} MiB)")
    if "a" not in median or "b" not in median:
        return
    ours = [v for v in chosen if v.kind not in ("floor", "sdk", "offset")]
    if ours:
        best = min(ours, key=lambda v: median[v.key])
        rss = statistics.median(r["rss_peak_mib"] for r in results[best.key])
        print(
            f"fastest pull ({best.key}): {median['a'] / median[best.key]:.1f}x vs (a) (bar 8x), "
            f"{median['b'] / median[best.key]:.1f}x vs (b) (bar 3x), peak RSS {rss * 1.048576:.0f} MB "
            "(bar <= 100 MB)"
        )
    for key in ("c", "d"):
        if key in median:
            print(f"iter() with no options ({key}): {median['a'] / median[key]:.1f}x vs (a) (bar 2x)")


if __name__ == "__main__":
    main()
