"""The fleet at scale: N simulated stores x M orders at 50 ms latency, synced by 1, 2 and 4 Celery worker
processes into PostgreSQL. Reports stores per minute, orders per second and the ratio to one worker.

    python benchmarks/bench_fleet.py                      # 12 stores x 400 orders, 1/2/4 workers
    python benchmarks/bench_fleet.py --stores 40 --orders 2000 --workers 1,2,4,8

Everything runs on this machine: PostgreSQL (initdb/pg_ctl) and redis-server on loopback, one simulated
store per process (``python -m mivaorders.testing``), and ``mivaorders fleet worker --pool solo``
processes, so each worker process syncs one store at a time. Each worker count syncs every store from
scratch into a fresh database. The work is I/O-bound (each page waits the store's latency), so it
should scale with the worker count until the machine's cores (2 here) are busy decoding and writing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from mivaorders import HmacAuth
from mivaorders.fleet import Fleet, generate_key
from mivaorders.fleet.celery import make_app
from mivaorders.incremental import ByLastUpdate
from mivaorders.testing.servers import local_postgres, local_redis

sys.path.insert(0, str(Path(__file__).parent))
from _common import StoreInfo, simulator


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def workers(count: int, env: dict[str, str], logs: Path) -> Iterator[None]:
    """``count`` worker processes (one task at a time each), ready when this yields; stopped on exit."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(count):
            log = logs / f"worker-{count}-{i}.log"
            with open(log, "wb") as out:
                command = [
                    sys.executable,
                    "-m",
                    "mivaorders",
                    "fleet",
                    "worker",
                    "--pool",
                    "solo",
                    "--hostname",
                    f"bench{i}@%h",
                    "--loglevel",
                    "WARNING",
                ]
                started.append(
                    subprocess.Popen(  # noqa: S603
                        command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        app = make_app(env["MIVAORDERS_BROKER_URL"], dsn=env["MIVAORDERS_DSN"])
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5) or []) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only some of {count} workers came up; see {logs}")
        yield
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            stop(process)


def fresh_database(server: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.rsplit("/", 1)[0] + "/" + name


def run(
    count: int, server: str, broker: str, stores: list[StoreInfo], orders: int, logs: Path
) -> dict[str, Any]:
    dsn = fresh_database(server)
    key = generate_key()
    fleet = Fleet(dsn, key=key)
    fleet.migrate()
    for i, store in enumerate(stores):
        fleet.add_store(
            f"store-{i:03d}",
            endpoint=store.endpoint,
            store_code=store.store_code,
            auth=HmacAuth(store.token, store.signing_key),
            strategy=ByLastUpdate(page_size=100),
        )
    env = {**os.environ, "MIVAORDERS_DSN": dsn, "MIVAORDERS_BROKER_URL": broker, "MIVAORDERS_FLEET_KEY": key}
    env.pop("MIVAORDERS_RESULT_BACKEND", None)
    app = make_app(broker, dsn=dsn)
    with workers(count, env, logs):
        started = time.perf_counter()
        pending = [app.send_task("mivaorders.fleet.sync_store", (s.key,)) for s in fleet.stores()]
        results = [p.get(timeout=3600, disable_sync_subtasks=False) for p in pending]
        elapsed = time.perf_counter() - started
    synced = sum(int(r["orders"]) for r in results)
    if synced != orders * len(stores) or any(r["outcome"] != "synced" for r in results):
        raise RuntimeError(f"{count} workers: synced {synced} orders, expected {orders * len(stores)}")
    return {
        "workers": count,
        "seconds": elapsed,
        "stores_per_minute": len(stores) / elapsed * 60,
        "orders_per_second": synced / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=12)
    parser.add_argument("--orders", type=int, default=400, help="orders per store")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to compare")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counts = [int(part) for part in args.workers.split(",")]
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        server = stack.enter_context(local_postgres())
        broker = stack.enter_context(local_redis(scratch))
        stores = [
            stack.enter_context(simulator(orders=args.orders, latency_ms=args.latency_ms, seed=i + 1))
            for i in range(args.stores)
        ]
        rows = [run(count, server, broker, stores, args.orders, scratch) for count in counts]
    base = rows[0]["orders_per_second"]
    for row in rows:
        row["ratio"] = row["orders_per_second"] / base
    if args.json:
        print(
            json.dumps(
                {
                    "stores": args.stores,
                    "orders": args.orders,
                    "latency_ms": args.latency_ms,
                    "cpus": os.cpu_count(),
                    "runs": rows,
                },
                indent=2,
            )
        )
        return
    print(
        f"{args.stores} stores x {args.orders} orders, {args.latency_ms:g} ms latency, {os.cpu_count()} CPUs"
    )
    print()
    print("| worker processes | seconds | stores/minute | orders/second | vs 1 worker |")
    print("|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['workers']} | {row['seconds']:.1f} | {row['stores_per_minute']:.0f} | "
            f"{row['orders_per_second']:.0f} | {row['ratio']:.2f}x |"
        )


if __name__ == "__main__":
    main()
