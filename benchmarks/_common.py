"""Helpers shared by the benchmarks: a simulated store in its own process, and peak memory."""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys
from collections.abc import Iterator

import attrs

__all__ = ["StoreInfo", "peak_rss_mib", "simulator"]


@attrs.frozen(repr=False)
class StoreInfo:
    """How to reach a simulated store (throwaway credentials; kept out of the repr anyway)."""

    endpoint: str
    store_code: str
    token: str
    signing_key: str

    def __repr__(self) -> str:
        return f"StoreInfo(endpoint={self.endpoint!r}, store_code={self.store_code!r})"


@contextlib.contextmanager
def simulator(*, orders: int, latency_ms: float, seed: int = 1) -> Iterator[StoreInfo]:
    """``python -m mivaorders.testing`` in a separate process (its own core), stopped on exit."""
    command = [
        sys.executable,
        "-m",
        "mivaorders.testing",
        "--port",
        "0",
        "--orders",
        str(orders),
        "--seed",
        str(seed),
        "--latency-ms",
        str(latency_ms),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator exited with {process.wait()} before printing its endpoint")
        info = json.loads(line)
        yield StoreInfo(info["endpoint"], info["store_code"], info["token"], info["signing_key"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (``ru_maxrss`` is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
