"""A PostgreSQL sink and checkpoint store for :class:`~mivaorders.OrderSync` (the ``fleet`` extra).

The same contract as :class:`~mivaorders.SQLiteSink`, keyed by store: ``orders`` and ``order_items`` rows
carry a ``store_key``, the newest ``dt_updated`` wins, money is ``numeric`` (exact), and each batch is
committed in one transaction with the checkpoint after it. Many stores share one database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from . import _json
from ._exceptions import ArgumentError, ConfigurationError
from ._sinks import Checkpoint, _SqlSink, item_columns, order_columns
from .incremental import latest_by_id
from .models import Order

try:
    import psycopg
    from psycopg.types.json import Jsonb
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("PostgresSink needs psycopg 3: pip install 'mivaorders[fleet]'") from None

__all__ = ["SCHEMA_LOCK", "PostgresSink", "create_order_tables"]

# Advisory-lock namespace of mivaorders (first int4 of the two-key form): schema changes and store leases.
SCHEMA_LOCK = (0x6D697661, 0)

_ORDER_TABLES = """
CREATE TABLE IF NOT EXISTS orders (
    store_key   text    NOT NULL,
    id          bigint  NOT NULL,
    dt_updated  bigint  NOT NULL,
    orderdate   bigint  NOT NULL,
    status      integer NOT NULL,
    pay_status  integer NOT NULL,
    cust_id     bigint  NOT NULL,
    batch_id    bigint  NOT NULL,
    total       numeric NOT NULL,
    bill_email  text    NOT NULL,
    bill_name   text    NOT NULL,
    ship_name   text    NOT NULL,
    ship_state  text    NOT NULL,
    ship_cntry  text    NOT NULL,
    item_count  integer,
    data        jsonb   NOT NULL,
    synced_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_key, id)
);
CREATE INDEX IF NOT EXISTS orders_store_dt_updated ON orders (store_key, dt_updated);
CREATE INDEX IF NOT EXISTS orders_store_orderdate ON orders (store_key, orderdate);
CREATE TABLE IF NOT EXISTS order_items (
    store_key   text    NOT NULL,
    order_id    bigint  NOT NULL,
    line_id     bigint  NOT NULL,
    code        text    NOT NULL,
    sku         text    NOT NULL,
    name        text    NOT NULL,
    quantity    integer NOT NULL,
    price       numeric NOT NULL,
    total       numeric NOT NULL,
    status      integer NOT NULL,
    PRIMARY KEY (store_key, order_id, line_id),
    FOREIGN KEY (store_key, order_id) REFERENCES orders (store_key, id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS sync_checkpoints (
    store_key   text  NOT NULL,
    name        text  NOT NULL,
    checkpoint  jsonb NOT NULL,
    saved_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_key, name)
);
"""

_UPSERT = """
INSERT INTO orders (store_key, id, dt_updated, orderdate, status, pay_status, cust_id, batch_id, total,
                    bill_email, bill_name, ship_name, ship_state, ship_cntry, item_count, data, synced_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, now())
ON CONFLICT (store_key, id) DO UPDATE SET
    dt_updated = excluded.dt_updated, orderdate = excluded.orderdate, status = excluded.status,
    pay_status = excluded.pay_status, cust_id = excluded.cust_id, batch_id = excluded.batch_id,
    total = excluded.total, bill_email = excluded.bill_email, bill_name = excluded.bill_name,
    ship_name = excluded.ship_name, ship_state = excluded.ship_state, ship_cntry = excluded.ship_cntry,
    item_count = excluded.item_count, data = excluded.data, synced_at = excluded.synced_at
WHERE excluded.dt_updated >= orders.dt_updated
RETURNING id
"""


def create_order_tables(connection: psycopg.Connection[Any]) -> None:
    """Create the order and checkpoint tables if missing (serialised by an advisory lock: workers that
    start together must not race on ``CREATE TABLE IF NOT EXISTS``)."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s, %s)", SCHEMA_LOCK)
        connection.execute(_ORDER_TABLES)


def _numeric(value: Decimal) -> Decimal:
    return value  # Decimal -> numeric: exact (and jsonb keeps the JSON's numbers exactly)


class PostgresSink(_SqlSink[psycopg.Connection[Any]]):
    """Orders of one store (``store_key``) in PostgreSQL: ``orders``, ``order_items``, ``sync_checkpoints``.

    ``PostgresSink(dsn, store_key="acme")`` connects and creates the tables if missing (``create=False``
    skips that). ``connection=`` uses an open psycopg connection in autocommit mode instead of a DSN (the
    fleet does so, to hold its store lease on the same session that writes). Thread-safe.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        store_key: str,
        connection: psycopg.Connection[Any] | None = None,
        create: bool = True,
    ) -> None:
        if not isinstance(store_key, str) or not store_key:
            raise ArgumentError("store_key must be a non-empty string")
        if (dsn is None) == (connection is None):
            raise ArgumentError("give either dsn or connection")
        self.store_key = store_key
        self._lock = threading.Lock()
        self._owned = connection is None
        if connection is None:
            try:
                connection = psycopg.connect(str(dsn), autocommit=True)
            except psycopg.OperationalError as exc:
                raise ConfigurationError(f"cannot connect to PostgreSQL: {_first_line(exc)}") from None
        elif not connection.autocommit:
            raise ArgumentError("the connection must be in autocommit mode (transactions are the sink's)")
        self._db: psycopg.Connection[Any] = connection
        if create:
            create_order_tables(self._db)

    def __repr__(self) -> str:
        return f"PostgresSink(store_key={self.store_key!r})"  # the DSN may hold a password

    def close(self) -> None:
        if self._owned:
            with self._lock:
                self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock, self._db.transaction():
            yield self._db

    def _put(self, db: psycopg.Connection[Any], orders: Sequence[Order]) -> None:
        if not orders:
            return
        # One statement may not upsert a row twice: keep each order's newest version in the batch.
        newest = latest_by_id(orders)
        rows = [(self.store_key, *order_columns(o, _numeric)) for o in newest.values()]
        with db.cursor() as cursor:
            cursor.executemany(_UPSERT, rows, returning=True)
            written: list[int] = []
            while True:
                row = cursor.fetchone()
                if row is not None:
                    written.append(int(row[0]))
                if not cursor.nextset():
                    break
            # Rows written (new, or not older) get their items replaced; skipped rows keep theirs.
            with_items = [newest[oid] for oid in written if newest[oid].items is not None]
            if not with_items:
                return
            cursor.execute(
                "DELETE FROM order_items WHERE store_key = %s AND order_id = ANY(%s)",
                (self.store_key, [o.id for o in with_items]),
            )
            cursor.executemany(
                "INSERT INTO order_items VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(self.store_key, *row) for order in with_items for row in item_columns(order, _numeric)],
            )

    def _save(self, db: psycopg.Connection[Any], name: str, checkpoint: Checkpoint) -> None:
        db.execute(
            "INSERT INTO sync_checkpoints (store_key, name, checkpoint, saved_at) VALUES (%s, %s, %s, now()) "
            "ON CONFLICT (store_key, name) DO UPDATE SET checkpoint = excluded.checkpoint, saved_at = now()",
            (self.store_key, name, Jsonb(checkpoint.to_json())),
        )

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        with self._lock:
            row = self._db.execute(
                "SELECT checkpoint FROM sync_checkpoints WHERE store_key = %s AND name = %s",
                (self.store_key, name),
            ).fetchone()
        return None if row is None else Checkpoint.from_json(row[0])

    def stored(self) -> dict[int, dict[str, Any]]:
        """Every stored order's JSON, by id, numbers exact (for checks and small stores)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, data::text FROM orders WHERE store_key = %s", (self.store_key,)
            ).fetchall()
        return {int(oid): _json.loads(data) for oid, data in rows}

    def count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM orders WHERE store_key = %s", (self.store_key,))
            return int(row.fetchone()[0])  # type: ignore[index]

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a query on the database (reports); filter on ``store_key`` yourself."""
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
