"""The ``mivaorders`` argument parser (argparse, stdlib only)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from mivaorders._version import __version__

from .writeback import add_writeback_commands

__all__ = ["FAULT_KINDS", "build_parser"]

#: ``simulate --faults`` names (the transient failures a client is expected to ride out by default).
FAULT_KINDS = ("http", "rate-limit", "drop", "truncate", "slow", "api-error")
WORKFLOWS = ("acknowledge", "move", "add", "none")

_EPILOG = """\
exit codes: 0 ok, 1 Miva/API/network error, 2 usage or configuration error, 3 authentication error,
4 partial result, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
store settings come from flags, then MIVA_ENDPOINT / MIVA_STORE_CODE / MIVA_API_TOKEN / MIVA_SIGNING_KEY,
then the [store] table of a TOML config file (--config, $MIVA_CONFIG or ./mivaorders.toml).
Prefer the environment or the config file for the token and signing key: flags show in the process list
and the shell history. Docs: docs/cli.md."""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's line breaks and appends each option's default, unless the help names it or the
    default says nothing (None, False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        silent = default is None or default is False or default == argparse.SUPPRESS
        if "%(default)" in text or silent or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool, store_settings: bool = True) -> None:
    """Options accepted before and after the command. In sub-parsers they default to SUPPRESS, so an
    option given before the command is not reset by the sub-parser's default. Commands that talk to no
    store (``demo``, ``simulate``, ``webhook parse``) leave out the store settings."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    out = parser.add_argument_group("output")
    out.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="no progress or notes"
    )
    out.add_argument(
        "--json", action="store_true", default=default(False), help="machine-readable result on stdout"
    )
    out.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="debug logging and tracebacks on stderr (secrets are never logged)",
    )
    if not store_settings:
        return
    store = parser.add_argument_group("store settings (flag > environment > config file)")
    store.add_argument(
        "--config",
        metavar="FILE",
        default=default(None),
        help="TOML file with a [store] table [MIVA_CONFIG] (default: ./mivaorders.toml when it exists)",
    )
    store.add_argument(
        "--endpoint", metavar="URL", default=default(None), help="the store's json.mvc URL [MIVA_ENDPOINT]"
    )
    store.add_argument(
        "--store-code",
        metavar="CODE",
        default=default(None),
        help="the Store Code shown in the Miva admin [MIVA_STORE_CODE]",
    )
    store.add_argument(
        "--token",
        metavar="TOKEN",
        default=default(None),
        help="API token [MIVA_API_TOKEN]; prefer the environment or the config file",
    )
    store.add_argument(
        "--signing-key",
        metavar="KEY",
        default=default(None),
        help="base64 signing key for HMAC signatures [MIVA_SIGNING_KEY]; prefer the environment",
    )
    store.add_argument(
        "--signing-digest",
        choices=("sha256", "sha1"),
        default=default(None),
        help="HMAC digest [MIVA_SIGNING_DIGEST] (default: sha256)",
    )
    store.add_argument(
        "--timeout",
        type=_finite(0, inclusive=False),
        metavar="SECONDS",
        default=default(None),
        help="HTTP read timeout [MIVA_TIMEOUT] (default: 90; connecting 10)",
    )
    store.add_argument(
        "--allow-insecure-http",
        action="store_true",
        default=default(False),
        help="accept a plain http:// endpoint on a non-loopback host (the token travels unencrypted)",
    )


def _no_ack_options(parser: argparse.ArgumentParser, prefix: str) -> None:
    parser.add_argument(
        "--no-ack", action="store_true", help=f"{prefix}the store's workflow moves orders out as they load"
    )
    recovery = parser.add_mutually_exclusive_group()
    recovery.add_argument(
        "--moved-to",
        metavar="CODE",
        help="with --no-ack: the queue the workflow moves loaded orders to, where a page whose answer was "
        "lost is found again (default successfully_retrieved_orders)",
    )
    recovery.add_argument(
        "--accept-loss",
        action="store_true",
        help="with --no-ack: do not look for lost pages; a lost answer stops the run and loses its orders",
    )


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535 (0 picks a free one), not {value}")
    return value


def _finite(minimum: float, *, inclusive: bool) -> Callable[[str], float]:
    """A finite number ``> minimum`` (``>=`` when inclusive): ``inf`` and ``nan`` are refused."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            relation = ">=" if inclusive else ">"
            raise argparse.ArgumentTypeError(f"must be a finite number {relation} {minimum:g}, not {text}")
        return value

    return parse


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mivaorders",
        description="Get orders out of Miva Merchant stores: sync, pull, queues, webhooks, a simulated store",
        epilog=_EPILOG,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mivaorders {__version__}")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    offline = argparse.ArgumentParser(add_help=False)
    _global_options(offline, suppress=True, store_settings=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str,
        help_text: str,
        sub: argparse._SubParsersAction[argparse.ArgumentParser] = commands,
        *,
        store: bool = True,
    ) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[common if store else offline],
            formatter_class=_HelpFormatter,
        )

    demo = command(
        "demo", "sync a built-in simulated store into SQLite and summarise it (no store needed)", store=False
    )
    demo.add_argument("--db", default="./mivaorders-demo.db", help="SQLite file (default %(default)s)")
    demo.add_argument("--orders", type=_positive, default=2000, help="orders in the simulated store")
    demo.add_argument("--seed", type=int, default=1, help="the simulated store's seed")

    sync = command("sync", "keep a SQLite copy of the store's orders up to date (resumable)")
    sync.add_argument("--db", required=True, help="SQLite file (created if missing)")
    sync.add_argument(
        "--strategy",
        choices=("last-update", "queue", "order-number", "date-range"),
        default="last-update",
        help="how to find new orders (default %(default)s)",
    )
    sync.add_argument(
        "--queue", metavar="CODE", help="queue code for --strategy queue (see `mivaorders queue list`)"
    )
    _no_ack_options(sync, "--strategy queue: ")
    sync.add_argument("--name", default="orders", help="checkpoint name (default %(default)s)")
    sync.add_argument(
        "--batch-size",
        type=_positive,
        help="orders per batch and page (default: batches of 100, adaptive pages)",
    )
    sync.add_argument(
        "--since",
        metavar="ISO",
        help="first run only (refused once a checkpoint exists): start at this time "
        "(last-update, date-range; default: the beginning)",
    )

    pull = command("pull", "write the orders of a time window as JSON Lines or CSV")
    pull.add_argument("--since", metavar="ISO", required=True, help="window start (inclusive)")
    pull.add_argument("--until", metavar="ISO", help="window end (exclusive; default: now)")
    pull.add_argument(
        "--by",
        choices=("placed", "updated"),
        default="placed",
        help="window on the order date or last update",
    )
    pull.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="JSON Lines (one order a line) or CSV"
    )
    pull.add_argument(
        "--rows",
        choices=("orders", "items"),
        default="orders",
        help="CSV only: one row per order, or one per order line (item)",
    )
    pull.add_argument("--output", "-o", default="-", metavar="FILE", help="output file, - for stdout")
    pull.add_argument(
        "--columns",
        metavar="COLS",
        help="CSV only: comma-separated columns, e.g. id,orderdate,total (default: every standard column)",
    )
    pull.add_argument(
        "--page-size", type=_positive, help="orders per request (default: adaptive, 100 to 1000)"
    )

    queue = command("queue", "order workflow queues: list, load, ack, drain")
    queue_commands = queue.add_subparsers(dest="queue_command", metavar="ACTION", required=True)
    command("list", "list the store's queues", queue_commands)
    load = command("load", "load one page of a queue and print it as JSON Lines", queue_commands)
    load.add_argument("code", metavar="CODE", help="the queue's code (see `queue list`)")
    load.add_argument("--count", type=_positive, default=100, help="orders to load")
    load.add_argument(
        "--ack-workflow",
        action="store_true",
        help="the store's workflow waits for acknowledgement (the load then moves nothing)",
    )
    ack = command("ack", "acknowledge orders (moves them out of their queue)", queue_commands)
    ack.add_argument("ids", metavar="ID", nargs="+", type=_positive, help="order ids")
    drain = command("drain", "load, store and acknowledge until the queue is empty", queue_commands)
    drain.add_argument("code", metavar="CODE", help="the queue's code (see `queue list`)")
    target = drain.add_mutually_exclusive_group(required=True)
    target.add_argument("--output", "-o", metavar="FILE", help="append orders to this .jsonl file")
    target.add_argument("--db", metavar="FILE", help="upsert orders into this SQLite file")
    _no_ack_options(drain, "")
    recover = command(
        "recover",
        "print the orders a no-acknowledgement load moved out while its answer was lost (JSON Lines)",
        queue_commands,
    )
    recover.add_argument(
        "--since", metavar="ISO", required=True, help="just before the lost load (the error message says it)"
    )
    recover.add_argument(
        "--moved-to",
        metavar="CODE",
        default="successfully_retrieved_orders",
        help="the queue the store's workflow moved the orders to (default %(default)s)",
    )
    drain.add_argument(
        "--page-size",
        type=_positive,
        help="default: adaptive; with --no-ack 100, shrinking when loads are slow",
    )

    add_writeback_commands(command)

    webhook = command("webhook", "order webhooks", store=False)
    webhook_commands = webhook.add_subparsers(dest="webhook_command", metavar="ACTION", required=True)
    parse = command(
        "parse", "parse a webhook_post_order body and summarise it", webhook_commands, store=False
    )
    parse.add_argument("file", metavar="FILE", help="the body, or - for stdin")

    from .fleet import add_fleet_parser

    add_fleet_parser(command, _positive)

    simulate = command(
        "simulate", "serve a simulated Miva store on a loopback port until Ctrl-C", store=False
    )
    simulate.add_argument("--port", type=_port, default=8765, help="TCP port; 0 picks a free one")
    simulate.add_argument("--host", default="127.0.0.1", help="a loopback address")
    simulate.add_argument("--orders", type=_positive, default=5000, help="orders in the store")
    simulate.add_argument("--seed", type=int, default=1, help="seed of the orders and the credentials")
    simulate.add_argument(
        "--latency-ms", type=_finite(0, inclusive=True), default=50.0, help="added to every answer"
    )
    simulate.add_argument(
        "--workflow",
        choices=WORKFLOWS,
        default="acknowledge",
        help="order workflow: acknowledge (Miva's stock one), move (loads move orders out), add, none",
    )
    simulate.add_argument(
        "--fault-rate",
        type=_rate,
        default=0.0,
        metavar="P",
        help="probability (0..1) that a request meets one of --faults",
    )
    simulate.add_argument(
        "--faults",
        type=_fault_kinds,
        default="http,rate-limit,drop",
        metavar="KINDS",
        help=f"comma-separated fault kinds drawn at random: {', '.join(FAULT_KINDS)}",
    )
    simulate.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws")
    simulate.add_argument(
        "--env",
        action="store_true",
        help="print `export MIVA_...=...` lines for eval (and MIVA_SIMULATOR_PID) instead of a JSON line",
    )
    simulate.add_argument(
        "--env-file", metavar="FILE", help="also write MIVA_...=... lines to this dotenv file (mode 600)"
    )
    return parser


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a rate is a probability between 0 and 1, not {value}")
    return value


def _fault_kinds(text: str) -> str:
    kinds = [kind.strip() for kind in text.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown fault kind(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(FAULT_KINDS)}"
        )
    return ",".join(kinds)
