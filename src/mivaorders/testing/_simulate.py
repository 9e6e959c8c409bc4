"""``mivaorders simulate``: a simulated store on a loopback port, for demos and manual testing."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ._faults import Fault

__all__ = ["run_simulator"]


def run_simulator(
    port: int,
    orders: int,
    seed: int,
    latency_ms: float,
    host: str = "127.0.0.1",
    *,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    workflow: str = "acknowledge",
    faults: Sequence[Fault] = (),
    fault_rate: float = 0.0,
    fault_seed: int = 0,
    announce: Callable[[Mapping[str, str]], None] | None = None,
) -> None:
    """Serve a ``FakeStore`` until interrupted, after printing ONE JSON line with how to reach it.

    The line holds ``endpoint``, ``store_code``, ``token`` and ``signing_key``: the simulator's own
    throwaway credentials, printed so a client can be pointed at it; ``announce`` replaces the line with
    a call of its own. ``workflow`` is the store's workflow variant; with ``fault_rate`` > 0 each request
    meets one of ``faults`` with that probability (drawn from ``fault_seed``). ``stop`` ends serving.
    """
    from . import FakeStore

    store = FakeStore(orders=orders, seed=seed, latency_ms=latency_ms, workflow=workflow)
    if fault_rate > 0 and faults:
        store.faults.random(rate=fault_rate, kinds=faults, seed=fault_seed)
    stream = sys.stdout if out is None else out
    with store.serve(port=port, host=host) as endpoint:
        line = {
            "endpoint": endpoint,
            "store_code": store.store_code,
            "token": store.token,
            "signing_key": store.signing_key,
        }
        if announce is not None:
            announce(line)
        else:
            stream.write(json.dumps(line) + "\n")
            stream.flush()
        waiter = stop if stop is not None else threading.Event()
        try:
            while not waiter.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
