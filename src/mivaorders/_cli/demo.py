"""``mivaorders demo``: sync a built-in simulated store into SQLite and show what happened.

The simulated store is rebuilt on every run from the seed and the moment of the first run (kept in the
database), so a second run sees the same store, a few minutes older: a few new and updated orders,
which the incremental sync picks up from its checkpoint.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from mivaorders.incremental import OrderSync, SQLiteSink, SyncProgress, SyncReport
from mivaorders.testing import FakeStore, StoreClock

from .console import CliError, Console, plural

__all__ = ["run_demo"]

DAYS = 14
NEW_PER_RUN = 3  # orders placed in the simulated store between two demo runs
UPDATED_PER_RUN = 2  # existing orders edited between two demo runs

_REPLAY_BEFORE = 10  # seconds before the first run that earlier runs' new orders are replayed at
_PEEK = "SELECT id, total FROM orders LIMIT 5"
_META = "CREATE TABLE IF NOT EXISTS mivaorders_demo (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"


@attrs.frozen
class _Meta:
    anchor: int  # when the simulated store was first built (its orders end there)
    orders: int
    seed: int
    runs: int  # completed runs


def _load_meta(db: sqlite3.Connection, args: argparse.Namespace, path: str) -> _Meta:
    db.execute(_META)
    saved = dict(db.execute("SELECT key, value FROM mivaorders_demo").fetchall())
    if not saved:
        if db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]:
            raise CliError(f"{path} holds orders that did not come from the demo; pass another --db")
        meta = _Meta(anchor=int(time.time()), orders=args.orders, seed=args.seed, runs=0)
        _save_meta(db, meta)
        return meta
    meta = _Meta(saved["anchor"], saved["orders"], saved["seed"], saved["runs"])
    if (meta.orders, meta.seed) != (args.orders, args.seed):
        raise CliError(
            f"{path} was built with --orders {meta.orders} --seed {meta.seed}; "
            "pass those again, or another --db for a different store"
        )
    return meta


def _save_meta(db: sqlite3.Connection, meta: _Meta) -> None:
    with db:
        db.executemany(
            "INSERT INTO mivaorders_demo (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(attrs.asdict(meta).items()),
        )


def _generated_ids(sink: SQLiteSink, meta: _Meta) -> list[int]:
    rows = sink.query("SELECT id FROM orders ORDER BY id LIMIT ?", (meta.orders,))
    return [int(row[0]) for row in rows]


def _build_store(meta: _Meta, sink: SQLiteSink) -> tuple[FakeStore, int, int]:
    """The demo's store as it is now: (store, orders placed since the last run, orders edited)."""
    clock = StoreClock(start=meta.anchor, frozen=True)
    store = FakeStore(orders=meta.orders, seed=meta.seed, clock=clock)
    if meta.runs >= 1:
        # Replay the orders placed before earlier runs, so the generator's state (and the next order
        # ids) match those runs. They land well before any run's checkpoint (a watermark can sit a second
        # or so before the run started), so they are not pulled again.
        clock.advance(-_REPLAY_BEFORE)
        for _ in range(NEW_PER_RUN * (meta.runs - 1)):
            store.create_order()
        clock.advance(_REPLAY_BEFORE)
    clock.unfreeze()
    clock.advance(time.time() - clock.time())  # the store's clock is real time again
    if meta.runs == 0:
        return store, 0, 0
    for _ in range(NEW_PER_RUN):
        store.create_order()
    pick = random.Random(f"mivaorders-demo-{meta.seed}-{meta.runs}")  # noqa: S311 - not security
    edited = pick.sample(_generated_ids(sink, meta), k=min(UPDATED_PER_RUN, meta.orders))
    for order_id in edited:
        store.update_order(order_id, note=f"Edited between demo runs {meta.runs} and {meta.runs + 1}.")
    return store, NEW_PER_RUN, len(edited)


def _by_day(sink: SQLiteSink, today: date) -> list[tuple[date, int, Decimal]]:
    first = today - timedelta(days=DAYS - 1)
    start = int(datetime(first.year, first.month, first.day, tzinfo=timezone.utc).timestamp())
    counts: dict[date, int] = defaultdict(int)
    sums: dict[date, Decimal] = defaultdict(Decimal)
    for orderdate, total in sink.query("SELECT orderdate, total FROM orders WHERE orderdate >= ?", (start,)):
        day = datetime.fromtimestamp(int(orderdate), tz=timezone.utc).date()
        counts[day] += 1
        sums[day] += Decimal(total)  # stored as TEXT: exact
    days = [first + timedelta(days=n) for n in range(DAYS)]
    return [(day, counts[day], sums[day]) for day in days]


def _totals(sink: SQLiteSink) -> dict[str, Any]:
    orders = sink.count()
    revenue = sum((Decimal(row[0]) for row in sink.query("SELECT total FROM orders")), Decimal(0))
    lines, units = sink.query("SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM order_items")[0]
    return {"orders": orders, "lines": int(lines), "units": int(units), "revenue": revenue}


def run_demo(args: argparse.Namespace, console: Console) -> int:
    started = time.monotonic()
    path = str(args.db)
    if Path(path).is_dir():
        raise CliError(f"--db {path} is a directory")
    with SQLiteSink(path) as sink:
        meta_db = sqlite3.connect(path)
        try:
            meta = _load_meta(meta_db, args, path)
            store, placed, edited = _build_store(meta, sink)
            run = meta.runs + 1
            console.note(
                f"mivaorders demo: a simulated Miva store ({plural(meta.orders, 'order')}, seed {meta.seed}) "
                f"synced into {path}, run {run}"
            )
            if placed or edited:
                console.note(
                    f"since the last run the simulated store took {plural(placed, 'new order')} "
                    f"and {plural(edited, 'edit')} to existing orders"
                )
            before = sink.count()
            bar = console.progress("syncing")

            def progress(state: SyncProgress) -> None:
                bar.update(state.orders, state.total)

            try:
                with store.client() as client:
                    report = OrderSync(client, sink, progress=progress).run()
            finally:
                bar.close()
            _save_meta(meta_db, attrs.evolve(meta, runs=run))
        finally:
            meta_db.close()
        new = sink.count() - before
        totals = _totals(sink)
        days = _by_day(sink, datetime.now(timezone.utc).date())
    result = _Result(path, run, report, new, totals, days, time.monotonic() - started)
    if console.json:
        console.emit_json(_json_result(result))
    else:
        _print_summary(console, result)
    return 0


@attrs.frozen
class _Result:
    """What a run did, for its summary."""

    path: str
    run: int
    report: SyncReport
    new: int  # orders the database did not hold before the run
    totals: dict[str, Any]
    days: list[tuple[date, int, Decimal]]
    elapsed: float


def _json_result(result: _Result) -> dict[str, Any]:
    report, new = result.report, result.new
    return {
        "db": result.path,
        "run": result.run,
        "incremental": report.resumed,
        "pulled": report.orders,
        "new": new,
        "updated": report.orders - new,
        "batches": report.batches,
        "totals": result.totals,
        "by_day": [
            {"date": day.isoformat(), "orders": n, "revenue": revenue} for day, n, revenue in result.days
        ],
        "elapsed": round(result.elapsed, 3),
    }


def _print_summary(console: Console, result: _Result) -> None:
    path, run, report, new, totals = result.path, result.run, result.report, result.new, result.totals
    line = console.line
    if report.resumed:
        line(
            f"Run {run}: incremental sync from the saved checkpoint: pulled {plural(report.orders, 'order')} "
            f"({new:,} new, {report.orders - new:,} updated) instead of all {totals['orders']:,}."
        )
    else:
        line(f"Run {run}: first sync, a full pull by last update: {plural(report.orders, 'order')}.")
    line()
    line(f"Database {path}")
    line(f"  orders        {totals['orders']:,}")
    line(f"  order lines   {totals['lines']:,} ({totals['units']:,} units)")
    line(f"  revenue       {totals['revenue']:,} (sum of order totals, exact)")
    line()
    line(f"Revenue by day, last {DAYS} days (UTC)")
    for day, count, revenue in result.days:
        line(f"  {day.isoformat()}  {count:>5,} {'order ' if count == 1 else 'orders'}  {revenue:>14,}")
    line()
    line(f"Took {result.elapsed:.1f} s ({report.elapsed:.1f} s syncing).")
    if not console.quiet:
        line("Run `mivaorders demo` again: the next run is incremental, pulling only new and updated orders.")
        line(f"Look inside: sqlite3 {path} {_PEEK!r}")
