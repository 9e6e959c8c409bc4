"""``mivaorders queue list|load|ack|drain|recover``: order workflow queues."""

from __future__ import annotations

import argparse

from mivaorders._client import Client
from mivaorders.incremental import JsonLinesSink, SQLiteSink, order_json
from mivaorders.models import Order
from mivaorders.queues import RETRIEVED_QUEUE, DrainReport, DrainStop

from .console import EXIT_API, EXIT_PARTIAL, CliError, Console, plural

__all__ = ["moved_to_option", "run_queue"]


def moved_to_option(args: argparse.Namespace) -> str | None:
    """``moved_to`` for a drain without acknowledgement, from ``--moved-to`` / ``--accept-loss``."""
    if not args.no_ack:
        if args.moved_to or args.accept_loss:
            raise CliError("--moved-to and --accept-loss go with --no-ack")
        return RETRIEVED_QUEUE
    if args.accept_loss:
        return None
    return args.moved_to or RETRIEVED_QUEUE


def run_queue(args: argparse.Namespace, console: Console, client: Client) -> int:
    action = args.queue_command
    if action == "list":
        return _list(console, client)
    if action == "load":
        return _load(args, console, client)
    if action == "ack":
        return _ack(args, console, client)
    if action == "recover":
        return _recover(args, console, client)
    return _drain(args, console, client)


def _list(console: Console, client: Client) -> int:
    queues = client.queues.list_queues()
    if console.json:
        console.emit_json([{"code": q.code, "name": q.name} for q in queues])
        return 0
    if not queues:
        console.note("the store has no order workflow queues")
    width = max((len(q.code) for q in queues), default=0)
    for queue in queues:
        console.line(f"{queue.code:<{width}}  {queue.name}")
    return 0


def _load(args: argparse.Namespace, console: Console, client: Client) -> int:
    if not args.ack_workflow:
        console.warn(
            f"loading queue {args.code!r} without --ack-workflow: if the store's workflow has no "
            "acknowledgement step, this load moves the orders out of the queue"
        )
    page = client.queues.load(args.code, count=args.count, acknowledge=args.ack_workflow)
    console.out.write("".join(order_json(order).decode("ascii") + "\n" for order in page.items))
    console.note(f"loaded {plural(len(page.items), 'order')} of {page.total_count:,} in queue {args.code!r}")
    return 0


def _ack(args: argparse.Namespace, console: Console, client: Client) -> int:
    result = client.queues.acknowledge(args.ids)
    unknown = result.unknown_ids
    acknowledged = result.processed - len(unknown)  # the store counts unknown ids as processed
    if console.json:
        console.emit_json(
            {
                "sent": result.sent,
                "acknowledged": acknowledged,
                "processed": result.processed,
                "requests": result.requests,
                "unknown_ids": list(unknown),
                "warnings": [
                    {"id": w.identifier, "code": w.code, "message": w.message} for w in result.warnings
                ],
            }
        )
    else:
        missing = f" ({len(unknown):,} unknown: {', '.join(map(str, unknown))})" if unknown else ""
        console.line(f"acknowledged {acknowledged:,} of {plural(result.sent, 'order')}{missing}")
    return 0 if not unknown else EXIT_PARTIAL


def _recover(args: argparse.Namespace, console: Console, client: Client) -> int:
    from .pulls import parse_moment

    since = parse_moment(args.since, "--since")
    orders = client.queues.recover_lost_page(since, moved_to=args.moved_to)
    console.out.write("".join(order_json(order).decode("ascii") + "\n" for order in orders))
    console.note(
        f"{plural(len(orders), 'order')} in queue {args.moved_to!r} updated since {since:%Y-%m-%dT%H:%M:%SZ}"
    )
    return 0


def _drain(args: argparse.Namespace, console: Console, client: Client) -> int:
    moved_to = moved_to_option(args)
    if args.output:
        # Checked before the first load: a load without acknowledgement moves orders out of the queue,
        # and a file that cannot be written would lose them.
        try:
            open(args.output, "ab").close()
        except OSError as exc:
            raise CliError(f"cannot write {args.output}: {exc.strerror or exc}", EXIT_API) from None
    sink: SQLiteSink | JsonLinesSink = SQLiteSink(args.db) if args.db else JsonLinesSink(args.output)
    acknowledge = not args.no_ack
    bar = console.progress("draining")
    done = 0

    def handler(orders: list[Order]) -> None:
        nonlocal done
        sink.write(orders)  # stored durably before drain acknowledges them
        done += len(orders)
        bar.update(done)

    try:
        report = client.queues.drain(
            args.code, handler, acknowledge=acknowledge, page_size=args.page_size, moved_to=moved_to
        )
    finally:
        bar.close()
        if isinstance(sink, SQLiteSink):
            sink.close()
    _report(console, report, args.db or args.output)
    partial = report.stopped in (DrainStop.NOTHING_NEW, DrainStop.NO_PROGRESS)
    return EXIT_PARTIAL if partial else 0


def _report(console: Console, report: DrainReport, target: str) -> None:
    if console.json:
        console.emit_json(
            {
                "queue": report.queue,
                "acknowledge": report.acknowledge,
                "delivered": report.delivered,
                "acknowledged": report.acknowledged,
                "rejected": list(report.rejected),
                "redelivered": report.redelivered,
                "pages": report.pages,
                "elapsed": round(report.elapsed, 3),
                "stopped": report.stopped.value,
                "reason": report.reason,
                "warnings": list(report.warnings),
                "moved_to": report.moved_to,
                "recoveries": report.recoveries,
                "recovered": report.recovered,
                "output": target,
            }
        )
        return
    acked = f", acknowledged {report.acknowledged:,}" if report.acknowledge else ""
    console.line(
        f"drained queue {report.queue!r} into {target}: {plural(report.delivered, 'order')} delivered{acked} "
        f"in {plural(report.pages, 'page')}, {report.elapsed:.1f} s; stopped: {report.stopped.value} "
        f"({report.reason})"
    )
    if report.recoveries:
        console.note(
            f"{plural(report.recoveries, 'load')} lost its answer; {plural(report.recovered, 'order')} "
            f"recovered from queue {report.moved_to!r}"
        )
    if report.redelivered:
        console.note(f"{plural(report.redelivered, 'order')} came more than once (stored once, newest wins)")
