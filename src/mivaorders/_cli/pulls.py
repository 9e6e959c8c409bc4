"""``mivaorders sync`` and ``mivaorders pull``: orders from a real store."""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import IO, TextIO

import attrs

from mivaorders._client import Client
from mivaorders._flatten import FlatValue, _is_scalar, flatten_items, flatten_orders
from mivaorders.filters import F, _suggest
from mivaorders.incremental import (
    ByDateRange,
    ByLastUpdate,
    ByOrderNumber,
    ByQueue,
    OrderSync,
    SQLiteSink,
    Strategy,
    SyncProgress,
    SyncReport,
    order_json,
)
from mivaorders.models import Order, OrderItem
from mivaorders.orders import OrderIterator

from .console import EXIT_API, EXIT_PARTIAL, CliError, Console, plural
from .queues import moved_to_option

__all__ = ["parse_moment", "run_pull", "run_sync"]


def parse_moment(text: str, option: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"  # Python 3.10's fromisoformat does not read "Z"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"{option} {text!r} is not an ISO 8601 date or time (e.g. 2024-05-01 or 2024-05-01T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# -- sync ------------------------------------------------------------------------------------------


def _strategy(args: argparse.Namespace) -> Strategy | ByQueue:
    page_size = args.batch_size  # None: the strategies' pulls size their pages adaptively
    since = parse_moment(args.since, "--since") if args.since else None
    if args.strategy != "queue" and (args.queue or args.no_ack):
        raise CliError("--queue and --no-ack go with --strategy queue")
    if since is not None and args.strategy in ("queue", "order-number"):
        raise CliError(f"--since does not apply to --strategy {args.strategy}")
    if args.strategy == "queue":
        if not args.queue:
            raise CliError("--strategy queue needs --queue CODE (see `mivaorders queue list`)")
        moved_to = moved_to_option(args)
        return ByQueue(
            queue_code=args.queue, page_size=page_size, acknowledge=not args.no_ack, moved_to=moved_to
        )
    if args.strategy == "order-number":
        return ByOrderNumber(page_size=page_size)
    if args.strategy == "date-range":
        return (
            ByDateRange(page_size=page_size)
            if since is None
            else ByDateRange(start=since, page_size=page_size)
        )
    return (
        ByLastUpdate(page_size=page_size) if since is None else ByLastUpdate(since=since, page_size=page_size)
    )


def run_sync(args: argparse.Namespace, console: Console, client: Client) -> int:
    strategy = _strategy(args)
    with SQLiteSink(args.db) as sink:
        checkpoint = sink.load_checkpoint(args.name) if args.since else None
        if checkpoint is not None:
            # The checkpoint decides where a resumed run starts; --since would be silently ignored.
            raise CliError(
                f"--since applies to the first run only: {args.db} already holds checkpoint {args.name!r} "
                f"(saved {checkpoint.saved_at.isoformat()}), and the sync resumes from it. Drop --since, "
                "or start a separate sync with --name NEW_NAME (or a new --db)"
            )
        before = sink.count()
        bar = console.progress("syncing")

        def progress(state: SyncProgress) -> None:
            bar.update(state.orders, state.total)

        try:
            report = OrderSync(
                client, sink, strategy=strategy, name=args.name, batch_size=args.batch_size, progress=progress
            ).run()
        finally:
            bar.close()
        stored = sink.count()
    _report_sync(console, args, report, stored - before, stored)
    return 0 if report.complete else EXIT_PARTIAL


def _report_sync(
    console: Console, args: argparse.Namespace, report: SyncReport, new: int, stored: int
) -> None:
    if console.json:
        console.emit_json(
            {
                "db": str(args.db),
                "name": report.name,
                "strategy": report.strategy,
                "orders": report.orders,
                "new": new,
                "batches": report.batches,
                "elapsed": round(report.elapsed, 3),
                "resumed": report.resumed,
                "complete": report.complete,
                "detail": report.detail,
                "checkpoint": None if report.checkpoint is None else report.checkpoint.to_json(),
                "stored": stored,
            }
        )
        return
    how = "resumed from the checkpoint" if report.resumed else "first run"
    console.line(
        f"synced {plural(report.orders, 'order')} ({new:,} new) "
        f"in {plural(report.batches, 'batch', 'batches')}, "
        f"{report.elapsed:.1f} s, strategy {args.strategy}, {how}; {args.db} holds {stored:,} orders"
    )
    if not report.complete:
        console.warn(
            f"the sync is not complete: {report.detail or 'stopped early'}; run it again to continue"
        )


# -- pull ------------------------------------------------------------------------------------------


def _pull(args: argparse.Namespace, client: Client) -> OrderIterator:
    since = parse_moment(args.since, "--since")
    until = parse_moment(args.until, "--until") if args.until else datetime.now(timezone.utc)
    if since >= until:
        raise CliError(f"--since ({since.isoformat()}) must be before --until ({until.isoformat()})")
    if args.by == "updated":
        return client.orders.updated_since(since, where=F.dt_updated < until, page_size=args.page_size)
    return client.orders.placed_between(since, until, page_size=args.page_size)


def _cell(value: FlatValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


# What flatten_orders adds after the order's own scalar columns (tests check the header matches it).
_COMPUTED = (
    "customer_id",
    "customer_login",
    "customer_account_id",
    *(
        f"{name}_count"
        for name in ("items", "charges", "coupons", "discounts", "payments", "notes", "shipments", "returns")
    ),
    "quantity_total",
)


def _scalar_names(cls: type) -> list[str]:
    return [a.name for a in attrs.fields(cls) if a.name not in ("extra", "_wire_keys") and _is_scalar(a.type)]


def default_columns() -> list[str]:
    """The CSV header when --columns is not given: every standard column, known before any order."""
    return _scalar_names(Order) + list(_COMPUTED)


# What flatten_items puts around each line's own scalar columns.
_ITEM_ORDER_COLUMNS = ("order_id", "orderdate", "order_status", "customer_name")
_ITEM_COMPUTED = (
    "options",
    "option_price_total",
    "discount_total",
    "shipment_code",
    "ship_date",
    "tracktype",
    "tracknum",
    "subscription_id",
    "part_count",
)


def default_item_columns() -> list[str]:
    """The header of ``--rows items``: the order's id, date, status and customer, then the line's columns."""
    own = [name for name in _scalar_names(OrderItem) if name not in _ITEM_ORDER_COLUMNS]
    return [*_ITEM_ORDER_COLUMNS, *own, *_ITEM_COMPUTED]


class _CsvWriter:
    """Flattened orders (or order lines) under a stable header: the chosen columns, or every standard
    column (custom fields only when named, e.g. ``cf.customfields.po_number``)."""

    def __init__(self, stream: IO[str], columns: Sequence[str] | None, *, items: bool = False) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._flatten = flatten_items if items else flatten_orders
        self._columns = list(columns) if columns else (default_item_columns() if items else default_columns())
        self._writer.writerow(self._columns)

    def write(self, orders: Sequence[Order]) -> None:
        for record in self._flatten(orders):
            self._writer.writerow([_cell(record.get(name)) for name in self._columns])


def _columns(args: argparse.Namespace) -> list[str] | None:
    if args.columns is None:
        return None
    if args.format != "csv":
        raise CliError("--columns applies to --format csv")
    names = [name.strip() for name in args.columns.split(",") if name.strip()]
    if not names:
        raise CliError("--columns is empty")
    items = args.rows == "items"
    known = default_item_columns() if items else default_columns()
    unknown = [name for name in names if name not in known and (items or not name.startswith("cf."))]
    if unknown:
        what = "order line" if items else "order"
        hints = "; ".join(f"{name!r}{_suggest(name, known)}" for name in unknown)
        custom = "" if items else " (custom fields are cf.<module>.<code>)"
        raise CliError(f"unknown {what} CSV column(s): {hints}{custom}")
    return names


def _check_pull_options(args: argparse.Namespace) -> None:
    if args.rows == "items" and args.format != "csv":
        raise CliError("--rows items applies to --format csv")
    if args.json and args.output == "-" and args.format == "csv":
        raise CliError(
            "--json with --format csv needs --output FILE: stdout carries the CSV "
            "(with a file, --json prints a summary line)"
        )


@contextmanager
def _output(path: str, stdout: TextIO) -> Iterator[IO[str]]:
    if path == "-":
        yield stdout
        return
    try:
        handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}", EXIT_API) from None
    with handle:
        yield handle


def run_pull(args: argparse.Namespace, console: Console, client: Client) -> int:
    _check_pull_options(args)
    columns = _columns(args)
    pull = _pull(args, client)
    bar = console.progress("pulling")
    count = 0
    with _output(args.output, console.out) as stream:
        csv_out = _CsvWriter(stream, columns, items=args.rows == "items") if args.format == "csv" else None
        batch: list[Order] = []
        try:
            for order in pull:
                count += 1
                batch.append(order)
                if len(batch) >= (args.page_size or 100):
                    _write(stream, csv_out, batch)
                    batch = []
                bar.update(count, pull.total_count)
            _write(stream, csv_out, batch)
        finally:
            bar.close()
    where = "stdout" if args.output == "-" else args.output
    if console.json and args.output != "-":
        summary: dict[str, object] = {"orders": count, "output": args.output, "format": args.format}
        if args.format == "csv":
            summary["rows"] = args.rows
        console.emit_json(summary)
    console.note(
        f"pulled {plural(count, 'order')} ({args.by} {args.since} .. {args.until or 'now'}) to {where}"
    )
    return 0


def _write(stream: IO[str], csv_out: _CsvWriter | None, batch: Sequence[Order]) -> None:
    if csv_out is not None:
        csv_out.write(batch)
    else:
        stream.write("".join(order_json(order).decode("ascii") + "\n" for order in batch))
    stream.flush()
