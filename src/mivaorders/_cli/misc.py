"""``mivaorders webhook parse`` and ``mivaorders simulate``."""

from __future__ import annotations

import argparse
import sys
from typing import BinaryIO

from mivaorders.incremental import order_json
from mivaorders.testing._http import check_loopback
from mivaorders.testing._simulate import run_simulator
from mivaorders.webhooks import is_complete, parse_order

from .console import EXIT_API, CliError, Console, plural

__all__ = ["run_simulate", "run_webhook"]


def _read_body(path: str, stdin: BinaryIO | None) -> bytes:
    if path == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return stream.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", EXIT_API) from None


def run_webhook(args: argparse.Namespace, console: Console, stdin: BinaryIO | None = None) -> int:
    order = parse_order(_read_body(args.file, stdin))  # a malformed body raises WebhookError
    if console.json:
        console.out.write(order_json(order).decode("ascii") + "\n")
        return 0
    complete = is_complete(order)
    name = f"{order.bill_fname} {order.bill_lname}".strip() or "(no name)"
    email = f" <{order.bill_email}>" if order.bill_email else ""
    items = "not included" if order.items is None else plural(len(order.items), "line")
    units = "" if not order.items else f" ({plural(sum(i.quantity for i in order.items), 'unit')})"
    placed = order.orderdate.isoformat() if order.orderdate else "(not set)"
    rows = [
        ("order", str(order.id)),
        ("placed", placed),
        ("customer", name + email),
        ("total", f"{order.total}"),
        ("items", items + units),
        ("source", order.source or "(storefront, old order)"),
        ("complete", "yes" if complete else "no: an admin-created order without a payment yet"),
    ]
    for label, value in rows:
        console.line(f"{label:<9} {value}")
    return 0


def run_simulate(args: argparse.Namespace, console: Console) -> int:
    try:
        check_loopback(args.host)
    except ValueError as exc:
        raise CliError(f"--host: {exc} (it serves throwaway credentials; use 127.0.0.1 or ::1)") from None
    console.note(
        f"serving a simulated Miva store ({plural(args.orders, 'order')}, seed {args.seed}) on "
        f"{args.host}:{args.port}; Ctrl-C stops it. The JSON line below holds its endpoint and throwaway "
        "credentials: export them as MIVA_ENDPOINT, MIVA_STORE_CODE, MIVA_API_TOKEN, MIVA_SIGNING_KEY."
    )
    try:
        run_simulator(args.port, args.orders, args.seed, args.latency_ms, host=args.host, out=console.out)
    except OSError as exc:
        raise CliError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", 1) from None
    return 0
