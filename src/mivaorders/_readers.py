"""Reading saved orders back: the CLI's JSON Lines and the incremental sync's SQLite database.

Both readers stream: one line or one row at a time, so a file of a million orders never sits in memory.
Each line or row holds the order as Miva rendered it (``order_json``), so what comes back is the
:class:`~mivaorders.Order` that was saved, exact decimals and unknown keys included.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from . import _json
from ._converter import structure_order
from ._exceptions import ArgumentError, ResponseDecodeError
from ._validate import whole_number
from .models import Order

__all__ = ["read_jsonl", "read_sqlite"]


def _decode(line: str | bytes, where: str) -> Order:
    try:
        data = _json.loads(line)
    except ValueError as exc:  # JSONDecodeError, or NaN/Infinity
        # The message names the place and the parser's complaint, never the line itself (payment data).
        reason = exc.msg if isinstance(exc, _json.JSONDecodeError) else "non-standard number"
        raise ResponseDecodeError(f"not JSON ({reason})", function=where) from None
    return structure_order(data, function=where)


def _lines(handle: Iterable[str | bytes], name: str) -> Iterator[Order]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue  # a blank line (e.g. a trailing newline in a hand-edited file)
        yield _decode(line, f"{name} line {number}")


def read_jsonl(source: str | os.PathLike[str] | Iterable[str] | Iterable[bytes]) -> Iterator[Order]:
    """The orders of a JSON Lines file, one at a time, in file order.

    ``source`` is a path (a ``str`` is always a path), or an open file (text or binary, e.g. ``sys.stdin``;
    it stays open) or any other iterable of lines. Files
    written by ``mivaorders pull`` hold each order once; files written by ``mivaorders sync`` /
    :class:`~mivaorders.incremental.JsonLinesSink` may hold re-deliveries: pass the result to
    :func:`mivaorders.incremental.latest_by_id` to keep the newest version of each order.

    A line that is not an order raises :class:`~mivaorders.ResponseDecodeError` or
    :class:`~mivaorders.ResponseValidationError` naming the file and line number.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ArgumentError(f"no JSON Lines file at {str(path)!r}")
        return _read_path(path)
    if isinstance(source, Iterable) and not isinstance(source, (bytes, bytearray, memoryview)):
        name = str(getattr(source, "name", "<stream>"))
        return _lines(source, name)
    raise ArgumentError(f"read_jsonl() takes a path or an open file, not {type(source).__name__}")


def _read_path(path: Path) -> Iterator[Order]:
    with path.open("rb") as handle:
        yield from _lines(handle, path.name)


def read_sqlite(path: str | os.PathLike[str], *, batch_size: int = 500) -> Iterator[Order]:
    """The orders stored by :class:`~mivaorders.incremental.SQLiteSink` (``mivaorders sync``), by id.

    The database is opened read-only and read ``batch_size`` rows at a time, so a sync may keep writing to
    it meanwhile (WAL mode). Each order appears once, in the newest version the sink kept.
    """
    whole_number(batch_size, "batch_size")
    source = Path(path)
    if not source.is_file():
        raise ArgumentError(f"no SQLite database at {str(source)!r}")
    return _read_sqlite(source, batch_size)


def _read_sqlite(path: Path, batch_size: int) -> Iterator[Order]:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    db = sqlite3.connect(uri, uri=True)
    try:
        try:
            cursor = db.execute("SELECT id, data FROM orders ORDER BY id")
        except sqlite3.OperationalError as exc:
            raise ArgumentError(f"{path.name} is not a mivaorders sync database ({exc})") from None
        while rows := cursor.fetchmany(batch_size):
            for order_id, data in rows:
                yield _decode(data, f"{path.name} order {order_id}")
    finally:
        db.close()
