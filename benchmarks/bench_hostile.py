"""What a hostile webhook body costs: time and peak memory of ``parse_order`` on bodies under the size limit.

Run: ``python benchmarks/bench_hostile.py``

Each body is built by this process, written to a temporary file, and parsed by a fresh child process that
reads it, so every peak RSS is that body's alone (it includes the interpreter, the imports and the body
itself, not the building of it). The bar (issue 11): any body up to the 10 MB limit is
accepted or refused in at most 1 s and 200 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "webhook_order_payload.json"


def _with(key: str, raw: bytes) -> bytes:
    """The fixture order with one key's value replaced by raw JSON text."""
    data = json.loads(FIXTURE.read_bytes())
    data[key] = "@@MARK@@"
    return json.dumps(data).encode().replace(b'"@@MARK@@"', raw)


BODIES: dict[str, Callable[[], bytes]] = {
    "a real order (fixture)": FIXTURE.read_bytes,
    "notes: 1,000,000 {} (3 MB, the issue's)": lambda: b'{"id":1,"notes":[' + b"{}," * 1_000_000 + b"{}]}",
    "notes: 3,300,000 {} (10 MB)": lambda: b'{"id":1,"notes":[' + b"{}," * 3_300_000 + b"{}]}",
    "items: 3,300,000 {} (10 MB)": lambda: b'{"id":1,"items":[' + b"{}," * 3_300_000 + b"{}]}",
    "notes: 99,000 {} (under the object bound)": lambda: _with("notes", b"[" + b"{}," * 98_999 + b"{}]"),
    "items: 9,000 {} (every bound met, 270k problems)": lambda: _with(
        "items", b"[" + b"{}," * 8_999 + b"{}]"
    ),
    "unknown key: 900,000 distinct decimals (9 MB)": lambda: _with(
        "future", b"[" + b",".join(b"0.%06d" % i for i in range(900_000)) + b"]"
    ),
    "unknown key: 299,000 distinct decimals": lambda: _with(
        "future", b"[" + b",".join(b"0.%06d" % i for i in range(299_000)) + b"]"
    ),
    "unknown key: 299,000 zeros": lambda: _with("future", b"[" + b"0," * 299_000 + b"0]"),
    "unknown key: 99,000 objects of 2 numbers": lambda: _with(
        "future", b"[" + b",".join(b'{"a":%d}' % i for i in range(99_000)) + b"]"
    ),
    "ship_fname: a 9 MB string": lambda: _with("ship_fname", b'"' + b"x" * 9_000_000 + b'"'),
    "100,000 nested [": lambda: b'{"id":1,"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "total: 1e99999999999999999999": lambda: _with("total", b"1e99999999999999999999"),
    "total: 1E+999999999999": lambda: _with("total", b"1E+999999999999"),
    "id: a 4,000-digit integer": lambda: _with("id", b"9" * 4_000),
    "ship_fname: unpaired surrogate": lambda: _with("ship_fname", b'"\\ud800"'),
}


def child(path: str) -> None:
    from mivaorders import WebhookError
    from mivaorders.webhooks import parse_order

    body = Path(path).read_bytes()
    start = time.perf_counter()
    try:
        parse_order(body)
        outcome = "accepted"
    except WebhookError as exc:
        outcome = f"refused: {exc.reason} ({len(exc.details)} lines)"
    elapsed = time.perf_counter() - start
    print(json.dumps({"size": len(body), "outcome": outcome, "seconds": elapsed, "peak_mib": _peak_mib()}))


def _peak_mib() -> float:
    # VmHWM is this process's own high-water mark (ru_maxrss may carry the parent's from before exec).
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    print(f"{'body':50} {'MB':>5} {'seconds':>8} {'peak RSS MiB':>13}  outcome")
    worst_s = worst_mib = 0.0
    for name, build in BODIES.items():
        with tempfile.NamedTemporaryFile(suffix=".json") as file:
            file.write(build())
            file.flush()
            result = subprocess.run(  # noqa: S603 -- our own script, no shell
                [sys.executable, __file__, "--child", file.name], capture_output=True, text=True, check=True
            )
        row = json.loads(result.stdout)
        worst_s, worst_mib = max(worst_s, row["seconds"]), max(worst_mib, row["peak_mib"])
        size, seconds, peak = row["size"] / 1e6, row["seconds"], row["peak_mib"]
        print(f"{name:50} {size:5.1f} {seconds:8.3f} {peak:13.0f}  {row['outcome']}")
    print(f"\nworst: {worst_s:.3f} s, {worst_mib:.0f} MiB peak RSS (bar: 1 s, 200 MB)")


if __name__ == "__main__":
    main()
