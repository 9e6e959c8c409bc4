"""``Fleet``: many stores' orders in one PostgreSQL database, each store synced by one worker at a time."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import attrs
import psycopg
from psycopg.types.json import Jsonb

from mivaorders._auth import Auth
from mivaorders._exceptions import ArgumentError, ConfigurationError
from mivaorders._postgres import SCHEMA_LOCK, PostgresSink, create_order_tables
from mivaorders._sinks import Checkpoint
from mivaorders.incremental import OrderSync, SyncProgress

from ._secrets import Credentials, auth_kind, secret_strings
from ._strategies import FleetStrategy, strategy_from_json, strategy_to_json

__all__ = ["Fleet", "FleetSyncResult", "StoreInfo", "StoreStatus", "UnknownStoreError"]

logger = logging.getLogger("mivaorders.fleet")

SYNC_NAME = "orders"  # the checkpoint name of a fleet store's sync
_LEASE_NAMESPACE = SCHEMA_LOCK[0]  # leases are (namespace, store id); (namespace, 0) guards the schema

_FLEET_TABLES = """
CREATE TABLE IF NOT EXISTS fleet_stores (
    id              bigserial PRIMARY KEY,
    key             text UNIQUE NOT NULL,
    endpoint        text NOT NULL,
    store_code      text NOT NULL,
    auth_kind       text NOT NULL,
    credentials     bytea NOT NULL,
    strategy        jsonb NOT NULL,
    added_at        timestamptz NOT NULL DEFAULT now(),
    last_started_at timestamptz,
    last_success_at timestamptz,
    last_error_at   timestamptz,
    last_error      text,
    last_orders     integer
);
CREATE TABLE IF NOT EXISTS fleet_lease_log (
    seq         bigserial PRIMARY KEY,
    store_key   text NOT NULL,
    lease       text NOT NULL,
    worker      text NOT NULL,
    event       text NOT NULL,
    orders      integer,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS fleet_lease_log_store ON fleet_lease_log (store_key, seq);
CREATE INDEX IF NOT EXISTS fleet_lease_log_at ON fleet_lease_log (at);
"""


class UnknownStoreError(ArgumentError):
    """No store with that key was added to the fleet."""


@attrs.frozen
class StoreInfo:
    """A fleet store as listed: where it is and how it syncs (never its credentials)."""

    key: str
    endpoint: str
    store_code: str
    auth: str  # "hmac", "token" or "ssh"
    strategy: str


@attrs.frozen
class StoreStatus:
    """How a fleet store is doing. ``busy``: a worker holds its lease right now."""

    key: str
    endpoint: str
    store_code: str
    strategy: str
    orders: int
    busy: bool
    checkpoint: Checkpoint | None
    last_started_at: datetime | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    last_orders: int | None

    def to_json(self) -> dict[str, Any]:
        def when(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "key": self.key,
            "endpoint": self.endpoint,
            "store_code": self.store_code,
            "strategy": self.strategy,
            "orders": self.orders,
            "busy": self.busy,
            "checkpoint": None if self.checkpoint is None else self.checkpoint.to_json(),
            "last_started_at": when(self.last_started_at),
            "last_success_at": when(self.last_success_at),
            "last_error_at": when(self.last_error_at),
            "last_error": self.last_error,
            "last_orders": self.last_orders,
        }


@attrs.frozen
class FleetSyncResult:
    """What ``Fleet.sync(key)`` did: ``outcome`` is ``"synced"`` or ``"busy"`` (another worker holds the
    store's lease; nothing was done)."""

    key: str
    outcome: str
    orders: int = 0
    complete: bool = False
    elapsed: float = 0.0
    worker: str = ""

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "<redacted>")
    return " ".join(text.split())[:1000]


class Fleet:
    """Many stores synced into one PostgreSQL database.

    ``Fleet(dsn)``; ``migrate()`` once; ``add_store("acme", endpoint=..., store_code=...,
    auth=HmacAuth(...))``;
    then ``sync("acme")`` here, or ``mivaorders.fleet.sync_store`` on Celery workers. Credentials are
    encrypted with ``key`` (default: the ``MIVAORDERS_FLEET_KEY`` environment variable), which only
    ``add_store`` and ``sync`` need.
    """

    def __init__(
        self, dsn: str, *, key: str | None = None, worker: str | None = None, timeout: float = 30.0
    ) -> None:
        if not isinstance(dsn, str) or not dsn:
            raise ConfigurationError("dsn must be a PostgreSQL connection string (or set MIVAORDERS_DSN)")
        self._dsn = dsn
        self._key = key
        self._credentials: Credentials | None = None
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Fleet(worker={self.worker!r})"  # the DSN may hold a password

    # -- plumbing -------------------------------------------------------------------------------------

    def _sealer(self) -> Credentials:
        if self._credentials is None:
            self._credentials = Credentials(self._key)
        return self._credentials

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            connection = psycopg.connect(self._dsn, autocommit=True, application_name="mivaorders-fleet")
        except psycopg.OperationalError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigurationError(f"cannot connect to PostgreSQL: {first}") from None
        with connection:
            yield connection

    # -- the stores -----------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the fleet's tables if missing (idempotent; safe while workers run)."""
        with self._connect() as db:
            create_order_tables(db)
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s, %s)", SCHEMA_LOCK)
                db.execute(_FLEET_TABLES)

    def add_store(
        self,
        key: str,
        *,
        endpoint: str,
        store_code: str,
        auth: Auth,
        strategy: FleetStrategy | None = None,
    ) -> None:
        """Add a store, or replace its endpoint, credentials and strategy (its orders and checkpoint stay)."""
        if not isinstance(key, str) or not key.strip() or key != key.strip():
            raise ArgumentError("key must be a non-empty string without surrounding spaces")
        if not isinstance(store_code, str) or not store_code:
            raise ArgumentError("store_code must be a non-empty string")
        from mivaorders._client import Client

        # Check the endpoint and auth as a client would, before anything is stored.
        Client(endpoint, store_code=store_code, auth=auth, timeout=self.timeout).close()
        kind = auth_kind(auth)
        sealed = self._sealer().seal(auth)
        plan = Jsonb(strategy_to_json(strategy))
        with self._connect() as db:
            db.execute(
                "INSERT INTO fleet_stores (key, endpoint, store_code, auth_kind, credentials, strategy) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET "
                "endpoint = excluded.endpoint, store_code = excluded.store_code, "
                "auth_kind = excluded.auth_kind, credentials = excluded.credentials, "
                "strategy = excluded.strategy",
                (key, endpoint, store_code, kind, sealed, plan),
            )

    def remove_store(self, key: str, *, purge: bool = False) -> bool:
        """Stop syncing a store; ``purge=True`` also deletes its orders and checkpoints. False if unknown."""
        with self._connect() as db, db.transaction():
            gone = db.execute("DELETE FROM fleet_stores WHERE key = %s", (key,)).rowcount > 0
            if purge:
                db.execute("DELETE FROM orders WHERE store_key = %s", (key,))
                db.execute("DELETE FROM sync_checkpoints WHERE store_key = %s", (key,))
        return gone

    def stores(self) -> list[StoreInfo]:
        """Every store, by key."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT key, endpoint, store_code, auth_kind, strategy->>'kind' "
                "FROM fleet_stores ORDER BY key"
            ).fetchall()
        return [StoreInfo(*row) for row in rows]

    def rekey(self) -> int:
        """Re-encrypt every store's credentials under the first key of ``MIVAORDERS_FLEET_KEY`` (rotation:
        set ``new,old``, run this, then drop ``old``). Returns the number of stores."""
        sealer = self._sealer()
        with self._connect() as db, db.transaction():
            rows = db.execute("SELECT id, credentials FROM fleet_stores FOR UPDATE").fetchall()
            for store_id, sealed in rows:
                db.execute(
                    "UPDATE fleet_stores SET credentials = %s WHERE id = %s",
                    (sealer.reseal(sealed), store_id),
                )
        return len(rows)

    def status(self) -> list[StoreStatus]:
        """Per store: order count, checkpoint, last success and error, whether a worker syncs it now."""
        with self._connect() as db:
            rows = db.execute(
                """
                SELECT s.key, s.endpoint, s.store_code, s.strategy->>'kind', coalesce(o.n, 0),
                       EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
                               AND l.classid = %s::bigint::oid AND l.objid = s.id::oid AND l.objsubid = 2),
                       c.checkpoint, s.last_started_at, s.last_success_at, s.last_error_at, s.last_error,
                       s.last_orders
                FROM fleet_stores s
                LEFT JOIN sync_checkpoints c ON c.store_key = s.key AND c.name = %s
                LEFT JOIN (SELECT store_key, count(*) AS n FROM orders GROUP BY store_key) o
                       ON o.store_key = s.key
                ORDER BY s.key
                """,
                (_LEASE_NAMESPACE, SYNC_NAME),
            ).fetchall()
        return [
            StoreStatus(
                key=row[0],
                endpoint=row[1],
                store_code=row[2],
                strategy=row[3],
                orders=int(row[4]),
                busy=bool(row[5]),
                checkpoint=None if row[6] is None else Checkpoint.from_json(row[6]),
                last_started_at=row[7],
                last_success_at=row[8],
                last_error_at=row[9],
                last_error=row[10],
                last_orders=row[11],
            )
            for row in rows
        ]

    def lease_log(self, key: str | None = None) -> list[tuple[int, str, str, str, str, int | None, datetime]]:
        """The lease log, oldest first: ``(seq, store_key, lease, worker, event, orders, at)``; events are
        ``acquired``, ``batch`` (a batch committed, ``orders`` so far), ``released``, ``failed``, ``busy``."""
        query = "SELECT seq, store_key, lease, worker, event, orders, at FROM fleet_lease_log"
        with self._connect() as db:
            if key is None:
                rows = db.execute(query + " ORDER BY seq").fetchall()
            else:
                rows = db.execute(query + " WHERE store_key = %s ORDER BY seq", (key,)).fetchall()
        return [tuple(row) for row in rows]

    def prune_lease_log(self, older_than: timedelta = timedelta(days=7)) -> int:
        """Delete lease-log rows older than ``older_than``; returns how many."""
        with self._connect() as db:
            cursor = db.execute("DELETE FROM fleet_lease_log WHERE at < now() - %s", (older_than,))
            return cursor.rowcount

    # -- syncing --------------------------------------------------------------------------------------

    def sync(self, key: str, *, max_batches: int | None = None) -> FleetSyncResult:
        """One incremental sync of one store, here, under the store's lease.

        The lease is a PostgreSQL advisory lock on the same session that writes the orders: if this process
        dies or loses its connection, the lease and any uncommitted batch go together, and the next sync
        resumes from the last committed checkpoint. When another worker holds the lease, returns at once
        with ``outcome="busy"``. Errors are recorded in ``status()`` (secrets redacted) and raised.
        """
        sealer = self._sealer()
        lease = uuid.uuid4().hex
        started = time.monotonic()
        with self._connect() as db:
            row = db.execute(
                "SELECT id, endpoint, store_code, credentials, strategy FROM fleet_stores WHERE key = %s",
                (key,),
            ).fetchone()
            if row is None:
                raise UnknownStoreError(f"no store {key!r} in the fleet (add it with add_store)")
            store_id, endpoint, store_code, sealed, plan = row
            auth = sealer.open(sealed)  # a wrong key fails here, before the lease is taken
            got = db.execute("SELECT pg_try_advisory_lock(%s, %s)", (_LEASE_NAMESPACE, store_id)).fetchone()
            if got is None or not got[0]:
                self._log(db, key, lease, "busy")
                logger.info("store %s: skipped, busy (another worker holds its lease)", key)
                return FleetSyncResult(key, "busy", worker=self.worker)
            try:
                return self._sync_leased(
                    db, key, lease, endpoint, store_code, auth, plan, max_batches, started
                )
            finally:
                if not db.closed and not db.broken:
                    db.execute("SELECT pg_advisory_unlock(%s, %s)", (_LEASE_NAMESPACE, store_id))

    def _log(
        self, db: psycopg.Connection[Any], key: str, lease: str, event: str, orders: int | None = None
    ) -> None:
        db.execute(
            "INSERT INTO fleet_lease_log (store_key, lease, worker, event, orders) "
            "VALUES (%s, %s, %s, %s, %s)",
            (key, lease, self.worker, event, orders),
        )

    def _sync_leased(
        self,
        db: psycopg.Connection[Any],
        key: str,
        lease: str,
        endpoint: str,
        store_code: str,
        auth: Auth,
        plan: dict[str, Any],
        max_batches: int | None,
        started: float,
    ) -> FleetSyncResult:
        from mivaorders._client import Client

        self._log(db, key, lease, "acquired")
        db.execute("UPDATE fleet_stores SET last_started_at = now() WHERE key = %s", (key,))
        logger.info("store %s: sync started by %s", key, self.worker)

        def batch_done(progress: SyncProgress) -> None:
            self._log(db, key, lease, "batch", progress.orders)

        try:
            sink = PostgresSink(store_key=key, connection=db, create=False)
            with Client(endpoint, store_code=store_code, auth=auth, timeout=self.timeout) as client:
                sync = OrderSync(
                    client, sink, strategy=strategy_from_json(plan), name=SYNC_NAME, progress=batch_done
                )
                report = sync.run(max_batches=max_batches)
        except (Exception, KeyboardInterrupt) as exc:
            if db.broken or db.closed:
                raise  # the session (and with it the lease) is gone: nothing more can be recorded here
            error = _redact(f"{type(exc).__name__}: {exc}", secret_strings(auth))
            db.execute(
                "UPDATE fleet_stores SET last_error_at = now(), last_error = %s WHERE key = %s", (error, key)
            )
            self._log(db, key, lease, "failed")
            logger.warning("store %s: sync failed: %s", key, error)
            raise
        db.execute(
            "UPDATE fleet_stores SET last_success_at = now(), last_orders = %s WHERE key = %s",
            (report.orders, key),
        )
        self._log(db, key, lease, "released", report.orders)
        logger.info("store %s: synced %d orders (complete=%s)", key, report.orders, report.complete)
        return FleetSyncResult(
            key, "synced", report.orders, report.complete, time.monotonic() - started, self.worker
        )
