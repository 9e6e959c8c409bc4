"""``python -m mivaorders.testing``: run the simulated store on a loopback port."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._http import check_loopback
from ._simulate import run_simulator


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mivaorders.testing", description="Serve a simulated Miva store on loopback."
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be from 0 to 65535 (0 picks a free one), not {args.port}")
    try:
        check_loopback(args.host)
    except ValueError as exc:
        parser.error(f"--host: {exc}")
    run_simulator(args.port, args.orders, args.seed, args.latency_ms, host=args.host)


if __name__ == "__main__":
    main()
