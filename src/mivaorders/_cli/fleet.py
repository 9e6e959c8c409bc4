"""``mivaorders fleet``: many stores in PostgreSQL, synced by Celery workers.

``migrate | add | remove | list | status | sync | sync-all [--wait] | worker [--concurrency N] | keygen``.
The database comes from ``--dsn`` or ``MIVAORDERS_DSN``, the broker from ``--broker`` or
``MIVAORDERS_BROKER_URL``; credentials are encrypted with ``MIVAORDERS_FLEET_KEY``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import resolve_settings
from .console import EXIT_API, EXIT_PARTIAL, CliError, Console, plural

if TYPE_CHECKING:
    from mivaorders.fleet import Fleet

__all__ = ["add_fleet_parser", "run_fleet"]

_DSN_HELP = "PostgreSQL connection string [MIVAORDERS_DSN]; prefer the environment (it may hold a password)"


def add_fleet_parser(
    command: Callable[..., argparse.ArgumentParser],
    positive: Callable[[str], int],
) -> None:
    """Register ``fleet`` and its actions (``command(name, help, sub)`` makes a sub-parser)."""
    fleet = command(
        "fleet", "many stores in PostgreSQL, synced by Celery workers (the fleet extra)", store=False
    )
    fleet.add_argument("--dsn", metavar="DSN", default=None, help=_DSN_HELP)
    actions = fleet.add_subparsers(dest="fleet_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str, *, store: bool = False) -> argparse.ArgumentParser:
        # Only `add` talks about one store's connection; the others read the fleet's database.
        parser = command(name, help_text, actions, store=store)
        parser.add_argument("--dsn", metavar="DSN", default=argparse.SUPPRESS, help=_DSN_HELP)
        return parser

    action("migrate", "create the fleet's tables (idempotent)")
    add = action(
        "add", "add a store (or replace its settings); credentials from the store settings", store=True
    )
    add.add_argument("key", metavar="KEY", help="your name for the store, e.g. acme")
    add.add_argument(
        "--strategy",
        choices=("last-update", "order-number", "date-range"),
        default="last-update",
        help="how to find new orders",
    )
    remove = action("remove", "stop syncing a store")
    remove.add_argument("key", metavar="KEY", help="the store to remove")
    remove.add_argument("--purge", action="store_true", help="also delete its orders and checkpoint")
    action("list", "list the stores")
    action("status", "per store: orders, checkpoint, last success and error, busy")
    one = action("sync", "sync one store in this process (under its lease)")
    one.add_argument("key", metavar="KEY", help="the store to sync")
    for name, help_text in (
        ("sync-all", "enqueue a sync of every store on the Celery workers"),
        ("worker", "run a Celery worker for the fleet"),
    ):
        parser = action(name, help_text)
        parser.add_argument("--broker", metavar="URL", help="Celery broker URL [MIVAORDERS_BROKER_URL]")
        if name == "sync-all":
            parser.add_argument("--wait", action="store_true", help="wait for every sync and report it")
            parser.add_argument(
                "--wait-timeout",
                type=float,
                default=3600.0,
                metavar="SECONDS",
                help="give up waiting after this many seconds",
            )
        else:
            parser.add_argument("--concurrency", type=positive, default=None, help="tasks at once")
            parser.add_argument(
                "--pool", choices=("prefork", "threads", "solo"), default="prefork", help="Celery worker pool"
            )
            parser.add_argument("--beat", action="store_true", help="also run the beat schedule (one only)")
            parser.add_argument("--loglevel", default="INFO", help="Celery's log level")
            parser.add_argument("--hostname", metavar="NAME", help="the worker's node name, e.g. w1@%%h")
    action("keygen", "print a new MIVAORDERS_FLEET_KEY")


def _dsn(args: argparse.Namespace) -> str:
    dsn = getattr(args, "dsn", None) or os.environ.get("MIVAORDERS_DSN", "")
    if not dsn:
        raise CliError("no database: pass --dsn or set MIVAORDERS_DSN (a PostgreSQL connection string)")
    return str(dsn)


def run_fleet(args: argparse.Namespace, console: Console, secrets: list[str]) -> int:
    try:
        import psycopg

        from mivaorders.fleet import Fleet, generate_key
    except ImportError:
        raise CliError("the fleet needs its extra: pip install 'mivaorders[fleet]'") from None
    action = args.fleet_command
    if action == "keygen":
        console.line(generate_key())
        return 0
    dsn = _dsn(args)
    fleet = Fleet(dsn)
    try:
        return _ACTIONS[action](args, console, fleet, secrets)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CliError(f"database error: {first} (run `mivaorders fleet migrate` first?)", EXIT_API) from None


def _migrate(args: argparse.Namespace, console: Console, fleet: Fleet, secrets: list[str]) -> int:
    fleet.migrate()
    console.note("the fleet's tables are ready")
    return 0


def _add(args: argparse.Namespace, console: Console, fleet: Fleet, secrets: list[str]) -> int:
    from mivaorders.incremental import ByDateRange, ByLastUpdate, ByOrderNumber

    settings = resolve_settings(args)
    secrets.extend(settings.secrets())
    strategies: dict[str, Any] = {
        "last-update": ByLastUpdate,
        "order-number": ByOrderNumber,
        "date-range": ByDateRange,
    }
    fleet.add_store(
        args.key,
        endpoint=settings.endpoint,
        store_code=settings.store_code,
        auth=settings.auth(),
        strategy=strategies[args.strategy](),
    )
    console.note(f"store {args.key!r} added; its credentials are stored encrypted")
    return 0


def _remove(args: argparse.Namespace, console: Console, fleet: Fleet, secrets: list[str]) -> int:
    if not fleet.remove_store(args.key, purge=args.purge):
        raise CliError(f"no store {args.key!r} in the fleet")
    console.note(f"store {args.key!r} removed" + (" with its orders" if args.purge else ""))
    return 0


def _list(args: argparse.Namespace, console: Console, fleet: Fleet, secrets: list[str]) -> int:
    stores = fleet.stores()
    if console.json:
        console.emit_json(
            [
                {
                    "key": s.key,
                    "endpoint": s.endpoint,
                    "store_code": s.store_code,
                    "auth": s.auth,
                    "strategy": s.strategy,
                }
                for s in stores
            ]
        )
        return 0
    for store in stores:
        console.line(f"{store.key}\t{store.store_code}\t{store.endpoint}\t{store.strategy}\t{store.auth}")
    console.note(plural(len(stores), "store"))
    return 0


def _status(args: argparse.Namespace, console: Console, fleet: Fleet, secrets: list[str]) -> int:
    statuses = fleet.status()
    if console.json:
        console.emit_json([s.to_json() for s in statuses])
        return 0
    console.line("store\torders\tbusy\tlast success\tlast error")
    for s in statuses:
        success = s.last_success_at.isoformat(timespec="seconds") if s.last_success_at else "never"
        failed = s.last_error_at is not None and (
            s.last_success_at is None or s.last_error_at > s.last_success_at
        )
        error = (
            f"{s.last_error_at.isoformat(timespec='seconds')} {s.last_error}"
            if failed and s.last_error_at
            else "-"
        )
        console.line(f"{s.key}\t{s.orders}\t{'yes' if s.busy else 'no'}\t{success}\t{error}")
    return 0


def _sync(args: argparse.Namespace, console: Console, fleet: Fleet, secrets: list[str]) -> int:
    result = fleet.sync(args.key)
    if console.json:
        console.emit_json(result.to_json())
    elif result.outcome == "busy":
        console.line(f"{args.key}: skipped: busy (another worker is syncing it)")
    else:
        console.line(f"{args.key}: synced {plural(result.orders, 'order')} in {result.elapsed:.1f}s")
    return 0


def _app(args: argparse.Namespace) -> Any:
    """The fleet's Celery app with its tasks, pointed at ``--dsn`` and ``--broker``, for a worker (its pool
    processes inherit these settings)."""
    from mivaorders.fleet.celery import app

    changes: dict[str, Any] = {"mivaorders_dsn": _dsn(args)}
    if args.broker:
        changes["broker_url"] = args.broker
        if not os.environ.get("MIVAORDERS_RESULT_BACKEND"):
            changes["result_backend"] = args.broker
    app.conf.update(changes)
    return app


def _outcome(key: str, result: Any, timeout: float) -> dict[str, Any]:
    try:
        return dict(result.get(timeout=timeout, propagate=True, disable_sync_subtasks=False))
    except Exception as exc:  # the task's own error (also recorded in the fleet's status), or a timeout
        return {"key": key, "outcome": "failed", "error": " ".join(f"{type(exc).__name__}: {exc}".split())}


def _sync_all(args: argparse.Namespace, console: Console, fleet: Fleet, secrets: list[str]) -> int:
    from mivaorders.fleet.celery import make_app

    # A client app of its own: the tasks are sent by name, and nothing this process did before can have
    # bound the shared app to another broker or result backend.
    app = make_app(args.broker, dsn=_dsn(args))
    keys = [store.key for store in fleet.stores()]
    pending = [(key, app.send_task("mivaorders.fleet.sync_store", (key,))) for key in keys]
    console.note(f"enqueued {plural(len(keys), 'store sync')}")
    if not args.wait:
        return 0
    results = [_outcome(key, result, args.wait_timeout) for key, result in pending]
    failed = sum(1 for entry in results if entry["outcome"] == "failed")
    if console.json:
        console.emit_json(results)
    else:
        for entry in results:
            detail = entry.get("error") or plural(int(entry.get("orders", 0)), "order")
            console.line(f"{entry['key']}\t{entry['outcome']}\t{detail}")
    return EXIT_PARTIAL if failed else 0


def _worker(args: argparse.Namespace, console: Console, fleet: Fleet, secrets: list[str]) -> int:
    app = _app(args)
    argv = ["worker", f"--loglevel={args.loglevel}", f"--pool={args.pool}"]
    if args.concurrency:
        argv.append(f"--concurrency={args.concurrency}")
    if args.beat:
        argv.append("--beat")
    if args.hostname:
        argv.append(f"--hostname={args.hostname}")
    app.worker_main(argv)
    return 0


_ACTIONS: dict[str, Callable[[argparse.Namespace, Console, Fleet, list[str]], int]] = {
    "migrate": _migrate,
    "add": _add,
    "remove": _remove,
    "list": _list,
    "status": _status,
    "sync": _sync,
    "sync-all": _sync_all,
    "worker": _worker,
}
