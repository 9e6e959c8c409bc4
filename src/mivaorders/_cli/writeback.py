"""``mivaorders ship`` and ``mivaorders mark``: write-back from the command line.

``ship`` runs ``client.orders.fulfil``, so running the same command again after a failure or a crash is
safe: it finds the shipment it made instead of creating another. ``mark`` runs
``client.orders.set_custom_fields``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from .console import EXIT_PARTIAL, CliError, Console, plural

if TYPE_CHECKING:  # the parser imports this module: keep --help free of the client's imports
    from mivaorders._client import Client
    from mivaorders._writeback import CustomFieldInput

__all__ = ["INTERRUPTED", "add_writeback_commands", "run_mark", "run_ship"]

INTERRUPTED = {
    "ship": "interrupted; running the same ship command again is safe (it finds the shipment it made)",
    "mark": "interrupted; running the same mark command again is safe (it writes the same values)",
}

Command = Callable[[str, str], argparse.ArgumentParser]


def _order_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an order id (a whole number >= 1)")
    return int(text)


def _line_ids(text: str) -> list[int]:
    ids = []
    for part in text.replace(",", " ").split():
        if not part.isdigit() or int(part) < 1:
            raise argparse.ArgumentTypeError(f"{part!r} is not a line id (a whole number >= 1)")
        ids.append(int(part))
    if not ids:
        raise argparse.ArgumentTypeError("no line ids given")
    return ids


def _cost(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount such as 7.25") from None


def add_writeback_commands(command: Command) -> None:
    """Register ``ship`` and ``mark`` (``command(name, help)`` makes a sub-parser with the common options)."""
    ship = command(
        "ship", "ship lines of an order with a tracking number (safe to run again: never a second shipment)"
    )
    ship.add_argument("order_id", metavar="ORDER_ID", type=_order_id, help="the order to ship")
    ship.add_argument("--tracking", required=True, metavar="NUMBER", help="the tracking number")
    ship.add_argument(
        "--carrier",
        required=True,
        metavar="TYPE",
        help="tracking type: UPS, FedEx, USPS, CanadaPost, Endicia ...",
    )
    ship.add_argument(
        "--lines",
        type=_line_ids,
        metavar="IDS",
        help="line ids, e.g. 5010,5011 (default: every pending or processing line not yet shipped)",
    )
    ship.add_argument("--cost", type=_cost, metavar="AMOUNT", help="actual shipping cost (default: keep)")
    ship.add_argument(
        "--no-mark-shipped",
        action="store_true",
        help="set tracking only; do not mark the shipment shipped (no ship date, no shipment e-mail)",
    )
    mark = command("mark", "write order custom fields, e.g. erp_exported=1 (bumps the order's last update)")
    mark.add_argument("order_id", metavar="ORDER_ID", type=_order_id, help="the order to mark")
    mark.add_argument(
        "fields", metavar="FIELD=VALUE", nargs="+", help="a field and its value; repeat a field for a list"
    )
    mark.add_argument(
        "--module", default="customfields", help="the module the fields belong to (default %(default)s)"
    )


def run_ship(args: argparse.Namespace, console: Console, client: Client) -> int:
    shipment = client.orders.fulfil(
        args.order_id,
        tracking_number=args.tracking,
        tracking_type=args.carrier,
        line_ids=args.lines,
        cost=args.cost,
        mark_shipped=not args.no_mark_shipped,
    )
    if console.json:
        console.emit_json(
            {
                "order_id": shipment.order_id,
                "shipment_id": shipment.id,
                "code": shipment.code,
                "status": int(shipment.status),
                "ship_date": shipment.ship_date.isoformat() if shipment.ship_date else None,
                "tracking_number": shipment.tracknum,
                "tracking_type": shipment.tracktype,
                "cost": shipment.cost,
            }
        )
        return 0
    state = shipment.status._name_.lower()
    shipped = f", shipped {shipment.ship_date:%Y-%m-%d %H:%M} UTC" if shipment.ship_date else ""
    console.line(
        f"order {shipment.order_id}: shipment {shipment.id} ({shipment.code}) {state}{shipped}, "
        f"{shipment.tracktype} {shipment.tracknum}, cost {shipment.cost}"
    )
    return 0


def parse_fields(pairs: list[str]) -> dict[str, CustomFieldInput]:
    """``code=value`` pairs, in order; a code given twice becomes a list (multitext fields)."""
    values: dict[str, CustomFieldInput] = {}
    for pair in pairs:
        code, sep, value = pair.partition("=")
        code = code.strip()
        if not sep or not code:
            raise CliError(f"{pair!r} is not FIELD=VALUE")
        if code in values:
            previous = values[code]
            values[code] = [*(previous if isinstance(previous, list) else [str(previous)]), value]
        else:
            values[code] = value
    return values


def run_mark(args: argparse.Namespace, console: Console, client: Client) -> int:
    from mivaorders._exceptions import PartialWriteError

    values = parse_fields(args.fields)
    try:
        client.orders.set_custom_fields(args.order_id, values, module=args.module)
    except PartialWriteError as exc:
        console.warn(str(exc))
        if console.json:
            console.emit_json(
                {
                    "order_id": args.order_id,
                    "written": list(exc.written),
                    "failed": exc.failed,
                    "not_written": list(exc.not_written),
                }
            )
        return EXIT_PARTIAL
    if console.json:
        console.emit_json({"order_id": args.order_id, "written": list(values), "module": args.module})
    else:
        console.line(f"order {args.order_id}: wrote {plural(len(values), 'field')} ({', '.join(values)})")
    return 0
