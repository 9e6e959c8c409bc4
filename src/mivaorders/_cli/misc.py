"""``mivaorders webhook parse`` and ``mivaorders simulate``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import threading
from collections.abc import Mapping
from typing import BinaryIO

from mivaorders.incremental import order_json
from mivaorders.testing import Fault
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


#: What ``simulate --faults`` names mean.
_FAULTS = {
    "http": Fault.http(503),
    "rate-limit": Fault.rate_limit(retry_after=1),
    "drop": Fault.drop(),
    "truncate": Fault.truncate(),
    "slow": Fault.slow(2.0),
    "api-error": Fault.api_error(),
}

_ENV_NAMES = {
    "endpoint": "MIVA_ENDPOINT",
    "store_code": "MIVA_STORE_CODE",
    "token": "MIVA_API_TOKEN",
    "signing_key": "MIVA_SIGNING_KEY",
}


def simulator_env(info: Mapping[str, str], pid: int) -> dict[str, str]:
    """The environment variables that point the SDK and the CLI at a running simulator."""
    env = {_ENV_NAMES[key]: value for key, value in info.items() if key in _ENV_NAMES}
    env["MIVA_SIMULATOR_PID"] = str(pid)
    return env


def _write_dotenv(path: str, env: Mapping[str, str]) -> None:
    text = "".join(f"{name}={value}\n" for name, value in env.items())
    try:  # created private: it holds the simulator's (throwaway) credentials
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}", 1) from None


def _release_stdout(console: Console) -> None:
    """Close the real stdout once the exports are out, so ``eval "$(mivaorders simulate --env &)"``
    returns while the simulator keeps serving in the background."""
    if console.out is not sys.stdout or console.out.isatty():
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def run_simulate(args: argparse.Namespace, console: Console, stop: threading.Event | None = None) -> int:
    try:
        check_loopback(args.host)
    except ValueError as exc:
        raise CliError(f"--host: {exc} (it serves throwaway credentials; use 127.0.0.1 or ::1)") from None
    if args.env and console.json:
        raise CliError(
            "--env prints shell export lines; it does not go with --json (which prints the JSON line)"
        )
    faults = [_FAULTS[kind] for kind in args.faults.split(",")]
    chaos = f", faults {args.faults} at rate {args.fault_rate}" if args.fault_rate > 0 else ""
    how = (
        "The export lines below point the SDK and the CLI at it (eval them)."
        if args.env
        else "The JSON line below holds its endpoint and throwaway credentials: export them as "
        "MIVA_ENDPOINT, MIVA_STORE_CODE, MIVA_API_TOKEN, MIVA_SIGNING_KEY (or use --env)."
    )
    console.note(
        f"serving a simulated Miva store ({plural(args.orders, 'order')}, seed {args.seed}, workflow "
        f"{args.workflow}{chaos}) on {args.host}:{args.port}; Ctrl-C stops it. {how}"
    )

    def announce(info: Mapping[str, str]) -> None:
        env = simulator_env(info, os.getpid())
        if args.env_file:
            _write_dotenv(args.env_file, env)
        if args.env:
            console.out.write("".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items()))
            console.out.flush()
            _release_stdout(console)
        else:
            console.out.write(json.dumps(dict(info)) + "\n")
            console.out.flush()

    try:
        run_simulator(
            args.port,
            args.orders,
            args.seed,
            args.latency_ms,
            host=args.host,
            out=console.out,
            stop=stop,
            workflow=args.workflow,
            faults=faults,
            fault_rate=args.fault_rate,
            fault_seed=args.fault_seed,
            announce=announce,
        )
    except OSError as exc:
        raise CliError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", 1) from None
    return 0
