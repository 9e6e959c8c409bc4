"""Where an incremental sync puts orders and checkpoints: SQLite (the default), JSON Lines, a callback.

Every sink *upserts by order id*: a re-delivered order replaces the stored one only when its
``dt_updated`` is not older, so at-least-once delivery ends with each order stored once, newest version.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import attrs

from . import _json
from ._converter import unstructure_order
from ._exceptions import ArgumentError
from ._unix_time import unix_seconds
from ._validate import callable_, shown
from .models import Order

__all__ = [
    "CallbackSink",
    "Checkpoint",
    "CheckpointStore",
    "JsonFileCheckpoints",
    "JsonLinesSink",
    "MemoryCheckpoints",
    "SQLiteSink",
    "Sink",
    "TransactionalSink",
    "order_json",
]


def _path(path: object) -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ArgumentError(f"path must be a file path (str or pathlib.Path), not {shown(path)}")
    return Path(path)


@attrs.frozen
class Checkpoint:
    """Where a sync resumes: the strategy's name and its JSON-able position (``state``)."""

    strategy: str
    state: Mapping[str, Any]
    saved_at: datetime = attrs.field(factory=lambda: datetime.now(timezone.utc))

    def to_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "state": dict(self.state), "saved_at": self.saved_at.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        return cls(str(data["strategy"]), dict(data["state"]), datetime.fromisoformat(str(data["saved_at"])))


@runtime_checkable
class Sink(Protocol):
    """Takes batches of orders durably: when ``write`` returns, the batch survives a crash."""

    def write(self, orders: Sequence[Order]) -> None: ...


@runtime_checkable
class CheckpointStore(Protocol):
    """Keeps one checkpoint per sync name."""

    def load_checkpoint(self, name: str) -> Checkpoint | None: ...

    def save_checkpoint(self, name: str, checkpoint: Checkpoint) -> None: ...


@runtime_checkable
class TransactionalSink(Sink, CheckpointStore, Protocol):
    """A sink that stores a batch and the checkpoint after it in one transaction."""

    def write_with_checkpoint(self, orders: Sequence[Order], name: str, checkpoint: Checkpoint) -> None: ...


def order_json(order: Order) -> bytes:
    """The order as Miva rendered it (unknown keys included), exact decimals, as compact JSON bytes."""
    return _json.dumps(unstructure_order(order))


def _text(value: Decimal | None) -> str | None:
    # Money is stored as TEXT: SQLite's REAL would round it. CAST(total AS REAL) for quick sums.
    return None if value is None else str(value)


# The row shapes the SQL sinks share (SQLite here, PostgreSQL in ``_postgres``); each sink says how it
# stores money and adds its own key (``store_key``) or bookkeeping (``synced_at``) columns.


def order_columns(order: Order, money: Callable[[Decimal], object]) -> tuple[object, ...]:
    """The ``orders`` columns ``id`` through ``data`` of ``order``."""
    items = order.items
    return (
        order.id,
        unix_seconds(order.dt_updated),
        unix_seconds(order.orderdate),
        int(order.status),
        int(order.pay_status),
        order.cust_id,
        order.batch_id,
        money(order.total),
        order.bill_email,
        f"{order.bill_fname} {order.bill_lname}".strip(),
        f"{order.ship_fname} {order.ship_lname}".strip(),
        order.ship_state,
        order.ship_cntry,
        None if items is None else len(items),
        order_json(order).decode("ascii"),  # numbers as Miva sent them
    )


def item_columns(order: Order, money: Callable[[Decimal], object]) -> list[tuple[object, ...]]:
    """The ``order_items`` columns ``order_id`` through ``status`` of each line of ``order``."""
    return [
        (
            order.id,
            item.line_id,
            item.code,
            item.sku,
            item.name,
            item.quantity,
            money(item.price),
            money(item.total),
            int(item.status),
        )
        for item in order.items or ()
    ]


# -- SQLite --------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id          INTEGER PRIMARY KEY,
    dt_updated  INTEGER NOT NULL,
    orderdate   INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    pay_status  INTEGER NOT NULL,
    cust_id     INTEGER NOT NULL,
    batch_id    INTEGER NOT NULL,
    total       TEXT    NOT NULL,
    bill_email  TEXT    NOT NULL,
    bill_name   TEXT    NOT NULL,
    ship_name   TEXT    NOT NULL,
    ship_state  TEXT    NOT NULL,
    ship_cntry  TEXT    NOT NULL,
    item_count  INTEGER,
    data        TEXT    NOT NULL,
    synced_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_dt_updated ON orders (dt_updated);
CREATE INDEX IF NOT EXISTS orders_orderdate ON orders (orderdate);
CREATE TABLE IF NOT EXISTS order_items (
    order_id    INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_id     INTEGER NOT NULL,
    code        TEXT    NOT NULL,
    sku         TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    quantity    INTEGER NOT NULL,
    price       TEXT    NOT NULL,
    total       TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_id)
);
CREATE TABLE IF NOT EXISTS sync_checkpoints (
    name        TEXT PRIMARY KEY,
    checkpoint  TEXT NOT NULL
);
"""

_UPSERT = """
INSERT INTO orders (id, dt_updated, orderdate, status, pay_status, cust_id, batch_id, total, bill_email,
                    bill_name, ship_name, ship_state, ship_cntry, item_count, data, synced_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    dt_updated = excluded.dt_updated, orderdate = excluded.orderdate, status = excluded.status,
    pay_status = excluded.pay_status, cust_id = excluded.cust_id, batch_id = excluded.batch_id,
    total = excluded.total, bill_email = excluded.bill_email, bill_name = excluded.bill_name,
    ship_name = excluded.ship_name, ship_state = excluded.ship_state, ship_cntry = excluded.ship_cntry,
    item_count = excluded.item_count, data = excluded.data, synced_at = excluded.synced_at
WHERE excluded.dt_updated >= orders.dt_updated
"""


_Db = TypeVar("_Db")  # the connection a SQL sink writes through
_SqlSinkT = TypeVar("_SqlSinkT", bound="_SqlSink[Any]")


class _SqlSink(Generic[_Db]):
    """What the SQL sinks share: each batch, and each batch with its checkpoint, in one transaction of
    their database. A sink says how to open a transaction, store orders and store a checkpoint."""

    def _transaction(self) -> AbstractContextManager[_Db]:
        raise NotImplementedError

    def _put(self, db: _Db, orders: Sequence[Order]) -> None:
        raise NotImplementedError

    def _save(self, db: _Db, name: str, checkpoint: Checkpoint) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _SqlSinkT) -> _SqlSinkT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, orders: Sequence[Order]) -> None:
        with self._transaction() as db:
            self._put(db, orders)

    def write_with_checkpoint(self, orders: Sequence[Order], name: str, checkpoint: Checkpoint) -> None:
        with self._transaction() as db:
            self._put(db, orders)
            self._save(db, name, checkpoint)

    def save_checkpoint(self, name: str, checkpoint: Checkpoint) -> None:
        with self._transaction() as db:
            self._save(db, name, checkpoint)


class SQLiteSink(_SqlSink[sqlite3.Connection]):
    """The embedded default: table ``orders`` keyed by ``id`` (``dt_updated`` as unix seconds, the columns
    people filter on, and ``data``, the order's full JSON as Miva rendered it), ``order_items``, and the
    checkpoints in ``sync_checkpoints`` — each batch and its checkpoint in one transaction.
    """

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "FULL") -> None:
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ArgumentError(f"synchronous must be FULL, NORMAL or EXTRA, not {shown(synchronous)}")
        self.path = _path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"SQLiteSink({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _put(self, db: sqlite3.Connection, orders: Sequence[Order]) -> None:
        now = unix_seconds(datetime.now(timezone.utc))
        for order in orders:
            cursor = db.execute(_UPSERT, (*order_columns(order, _text), now))
            if cursor.rowcount and order.items is not None:
                # The order row was written (new, or not older): its items follow it.
                db.execute("DELETE FROM order_items WHERE order_id = ?", (order.id,))
                db.executemany(
                    "INSERT INTO order_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", item_columns(order, _text)
                )

    @staticmethod
    def _save(db: sqlite3.Connection, name: str, checkpoint: Checkpoint) -> None:
        db.execute(
            "INSERT INTO sync_checkpoints (name, checkpoint) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint",
            (name, json.dumps(checkpoint.to_json())),
        )

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        with self._lock:
            row = self._db.execute(
                "SELECT checkpoint FROM sync_checkpoints WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else Checkpoint.from_json(json.loads(row[0]))

    def stored(self) -> dict[int, dict[str, Any]]:
        """Every stored order's JSON, by id (for checks and small stores)."""
        with self._lock:
            rows = self._db.execute("SELECT id, data FROM orders").fetchall()
        return {int(oid): _json.loads(data) for oid, data in rows}

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query on the database (reports, the CLI's summary)."""
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())


# -- JSON Lines ----------------------------------------------------------------------------------


class JsonLinesSink:
    """Appends each batch to a ``.jsonl`` file (one order a line, fsynced per batch).

    A file cannot upsert: re-delivered orders appear again, newer. Readers keep the line with the highest
    ``dt_updated`` per ``id`` (``mivaorders.incremental.latest_by_id`` does that).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = _path(path)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JsonLinesSink({str(self.path)!r})"

    def write(self, orders: Sequence[Order]) -> None:
        data = b"".join(order_json(o) + b"\n" for o in orders)
        with self._lock, open(self.path, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


class CallbackSink:
    """Hands each batch to ``callback``; it must have stored the batch durably when it returns."""

    def __init__(self, callback: Callable[[Sequence[Order]], None]) -> None:
        self._callback = callable_(callback, "callback")

    def write(self, orders: Sequence[Order]) -> None:
        self._callback(orders)


# -- checkpoint stores ---------------------------------------------------------------------------


class MemoryCheckpoints:
    """Checkpoints in memory (tests; a process that syncs once)."""

    def __init__(self) -> None:
        self._saved: dict[str, Checkpoint] = {}

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        return self._saved.get(name)

    def save_checkpoint(self, name: str, checkpoint: Checkpoint) -> None:
        self._saved[name] = checkpoint


class JsonFileCheckpoints:
    """Checkpoints in a JSON file, replaced atomically (write a temporary file, fsync, rename)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = _path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        with self._lock:
            entry = self._read().get(name)
        return None if entry is None else Checkpoint.from_json(entry)

    def save_checkpoint(self, name: str, checkpoint: Checkpoint) -> None:
        with self._lock:
            data = self._read()
            data[name] = checkpoint.to_json()
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
