"""The fleet: PostgresSink, Fleet (stores, leases, status, secrets), the CLI, and Celery workers — on a
real PostgreSQL and a real Redis started here, with real worker processes, one of them SIGKILLed."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="the fleet extra (psycopg) is not installed")
pytest.importorskip("celery", reason="the fleet extra (celery) is not installed")

from psycopg import sql  # noqa: E402

from mivaorders import AuthenticationError, ConfigurationError, HmacAuth, TokenAuth  # noqa: E402
from mivaorders._exceptions import ArgumentError  # noqa: E402
from mivaorders.cli import main  # noqa: E402
from mivaorders.fleet import (  # noqa: E402
    Fleet,
    PostgresSink,
    UnknownStoreError,
    generate_key,
)
from mivaorders.fleet._strategies import strategy_from_json, strategy_to_json  # noqa: E402
from mivaorders.incremental import (  # noqa: E402
    AsyncOrderSync,
    ByDateRange,
    ByLastUpdate,
    ByOrderNumber,
    ByQueue,
    Checkpoint,
    OrderSync,
    SQLiteSink,
)
from mivaorders.testing import FakeStore  # noqa: E402
from mivaorders.testing.servers import ServerUnavailable, local_postgres, local_redis  # noqa: E402

pytestmark = pytest.mark.slow


def _unavailable(exc: ServerUnavailable) -> None:
    if os.environ.get("MIVAORDERS_REQUIRE_SERVERS"):
        pytest.fail(f"a server the fleet tests need is missing (CI must have it): {exc}")
    pytest.skip(f"fleet tests need a real server: {exc}")


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        try:
            dsn = stack.enter_context(local_postgres())
        except ServerUnavailable as exc:
            _unavailable(exc)
        yield dsn


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(local_redis(tmp_path_factory.mktemp("redis")))
        except ServerUnavailable as exc:
            _unavailable(exc)
        yield url


@pytest.fixture
def dsn(postgres: str) -> str:
    """A fresh database of its own for each test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return postgres.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def fleet_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = generate_key()
    monkeypatch.setenv("MIVAORDERS_FLEET_KEY", key)
    return key


def _auth(store: FakeStore) -> HmacAuth:
    return HmacAuth(store.token, store.signing_key)


def _rows(dsn: str, store_key: str) -> dict[int, int]:
    with psycopg.connect(dsn) as db:
        found = db.execute("SELECT id, dt_updated FROM orders WHERE store_key = %s", (store_key,)).fetchall()
    return {int(oid): int(stamp) for oid, stamp in found}


def _truth(store: FakeStore) -> dict[int, int]:
    return {oid: int(order["dt_updated"]) for oid, order in store.truth().items()}


def _everything_as_text(dsn: str) -> str:
    """Every row of every table of the database, as text (to look for secrets in clear)."""
    with psycopg.connect(dsn) as db:
        tables = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        parts: list[str] = []
        for (table,) in tables:
            query = sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(table))
            parts.extend(row[0] for row in db.execute(query).fetchall())
        if ("fleet_stores",) in tables:
            # bytea prints as hex above: look at the raw bytes too, in case a secret went in as plain bytes
            blobs = db.execute("SELECT credentials FROM fleet_stores").fetchall()
            parts.extend(bytes(blob).decode("latin-1") for (blob,) in blobs)
    return "\n".join(parts)


# -- PostgresSink ------------------------------------------------------------------------------------


def test_postgres_sink_holds_what_the_sqlite_sink_holds_money_exact(dsn: str, tmp_path: Path) -> None:
    store = FakeStore(orders=120, seed=21)
    with (
        store.client() as client,
        PostgresSink(dsn, store_key="acme") as pg,
        SQLiteSink(tmp_path / "o.db") as lite,
    ):
        report = OrderSync(client, pg, batch_size=50).run()
        OrderSync(client, lite, batch_size=50).run()
        assert report.complete
        assert report.orders == 120
        assert pg.stored() == lite.stored()  # the same JSON, every decimal digit as Miva sent it
        assert pg.count() == 120
        truth = store.truth()
        assert _rows(dsn, "acme") == _truth(store)
        totals = dict(pg.query("SELECT id, total FROM orders WHERE store_key = %s", ("acme",)))
        assert all(isinstance(t, Decimal) and t == truth[oid]["total"] for oid, t in totals.items())
        items = pg.query(
            "SELECT order_id, count(*), sum(total) FROM order_items WHERE store_key = %s GROUP BY order_id",
            ("acme",),
        )
        expected = {
            oid: (len(o["items"]), sum((Decimal(i["total"]) for i in o["items"]), Decimal(0)))
            for oid, o in truth.items()
            if o["items"]
        }
        assert {oid: (n, total) for oid, n, total in items} == expected  # exact sums in SQL
        checkpoint = pg.load_checkpoint("orders")
        assert checkpoint is not None
        assert checkpoint.strategy == "last_update"
        assert checkpoint.state["cursor"] is None


def test_postgres_sink_newest_wins_and_stores_are_kept_apart(dsn: str) -> None:
    store = FakeStore(orders=5, seed=22)
    with store.client() as client:
        oid = sorted(store.truth())[0]
        old = client.orders.get(oid)
        store.advance(5)
        store.update_order(oid, ship_city="Newer", add_item=True)
        new = client.orders.get(oid)
    assert old is not None
    assert new is not None
    with PostgresSink(dsn, store_key="a") as a, PostgresSink(dsn, store_key="b") as b:
        a.write([new])
        a.write([old])  # a late re-delivery of the old version
        assert a.stored()[oid]["ship_city"] == "Newer"
        lines = a.query("SELECT count(*) FROM order_items WHERE store_key = 'a' AND order_id = %s", (oid,))
        assert new.items is not None
        assert lines[0][0] == len(new.items)  # the old version's items did not come back either
        a.write([old, new, new])  # one batch may hold an order twice
        assert a.count() == 1
        with PostgresSink(dsn, store_key="c") as c:
            c.write([new, old])  # ... newest first: the newest still wins
            assert c.stored()[oid]["ship_city"] == "Newer"
        b.write([old])
        assert b.stored()[oid]["ship_city"] != "Newer"
        assert a.stored()[oid]["ship_city"] == "Newer"
        a.save_checkpoint("orders", Checkpoint("last_update", {"since": 5}))
        assert b.load_checkpoint("orders") is None


def test_postgres_sink_commits_the_batch_and_its_checkpoint_together(
    dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore(orders=60, seed=23)
    with store.client() as client, PostgresSink(dsn, store_key="s") as sink:
        original = sink._save
        calls = [0]

        def failing_save(*args: Any) -> None:
            calls[0] += 1
            if calls[0] == 2:
                raise RuntimeError("the database went away mid-transaction")
            original(*args)

        monkeypatch.setattr(sink, "_save", failing_save)
        with pytest.raises(RuntimeError):
            OrderSync(client, sink, batch_size=20).run()
        # The first batch and its checkpoint are in; the second batch rolled back with its checkpoint.
        assert sink.count() == 20
        saved = sink.load_checkpoint("orders")
        assert saved is not None
        monkeypatch.setattr(sink, "_save", original)
        report = OrderSync(client, sink, batch_size=20).run()
        assert report.resumed
        assert _rows(dsn, "s") == _truth(store)


def test_postgres_sink_with_the_async_sync(dsn: str) -> None:
    import asyncio

    store = FakeStore(orders=70, seed=24)

    async def run() -> None:
        async with store.async_client() as client:
            with PostgresSink(dsn, store_key="x") as sink:
                report = await AsyncOrderSync(client, sink, batch_size=30).run()
            assert report.orders == 70

    asyncio.run(run())
    assert _rows(dsn, "x") == _truth(store)


def test_postgres_sink_arguments(dsn: str) -> None:
    with pytest.raises(ArgumentError, match="store_key"):
        PostgresSink(dsn, store_key="")
    with pytest.raises(ArgumentError, match="either dsn or connection"):
        PostgresSink(store_key="a")
    with psycopg.connect(dsn) as db, pytest.raises(ArgumentError, match="autocommit"):
        PostgresSink(store_key="a", connection=db)
    with pytest.raises(ConfigurationError, match="cannot connect"):
        PostgresSink("postgresql://nobody@127.0.0.1:1/none", store_key="a")
    with PostgresSink(dsn, store_key="a") as sink:
        assert "postgresql" not in repr(sink)


# -- Fleet -------------------------------------------------------------------------------------------


def test_fleet_adds_syncs_and_reports_without_a_secret_anywhere(
    dsn: str, fleet_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    stores = [FakeStore(orders=40 + 30 * i, seed=30 + i) for i in range(3)]
    fleet = Fleet(dsn)
    fleet.migrate()
    fleet.migrate()  # idempotent
    caplog.set_level("DEBUG")
    with contextlib.ExitStack() as stack:
        for i, store in enumerate(stores):
            endpoint = stack.enter_context(store.serve())
            fleet.add_store(f"s{i}", endpoint=endpoint, store_code=store.store_code, auth=_auth(store))
        assert [s.key for s in fleet.stores()] == ["s0", "s1", "s2"]
        assert {s.auth for s in fleet.stores()} == {"hmac"}
        before = {s.key: s for s in fleet.status()}
        assert before["s1"].orders == 0
        assert before["s1"].last_success_at is None
        for i, store in enumerate(stores):
            result = fleet.sync(f"s{i}")
            assert result.outcome == "synced"
            assert result.orders == len(store.truth())
            assert _rows(dsn, f"s{i}") == _truth(store)
        stores[1].advance(5)
        new = stores[1].create_order()
        again = fleet.sync("s1")
        assert again.orders == 1
        assert new in _rows(dsn, "s1")
        status = {s.key: s for s in fleet.status()}
    assert status["s1"].orders == len(stores[1].truth())
    assert status["s1"].last_success_at is not None
    assert status["s1"].last_orders == 1
    assert status["s1"].checkpoint is not None
    assert status["s1"].checkpoint.strategy == "last_update"
    assert not status["s1"].busy
    assert status["s0"].last_error is None
    secrets = [v for s in stores for v in (s.token, s.signing_key)]
    shown = repr(status) + json.dumps([s.to_json() for s in status.values()]) + repr(fleet.stores())
    shown += caplog.text + _everything_as_text(dsn) + repr(fleet)
    assert all(secret not in shown for secret in secrets)
    assert fleet_key not in shown


def test_fleet_key_is_required_and_checked(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FakeStore(orders=5, seed=40)
    monkeypatch.delenv("MIVAORDERS_FLEET_KEY", raising=False)
    fleet = Fleet(dsn)
    fleet.migrate()  # needs no key
    endpoint = "https://shop.example.com/mm5/json.mvc"
    with pytest.raises(ConfigurationError, match="MIVAORDERS_FLEET_KEY is not set"):
        fleet.add_store("a", endpoint=endpoint, store_code="S", auth=_auth(store))
    with pytest.raises(ConfigurationError, match="not a valid key"):
        Fleet(dsn, key="not-a-key").add_store("a", endpoint=endpoint, store_code="S", auth=_auth(store))
    Fleet(dsn, key=generate_key()).add_store("a", endpoint=endpoint, store_code="S", auth=_auth(store))
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        Fleet(dsn, key=generate_key()).sync("a")
    # Rotation: new key first, old key second; rekey; then the new key alone decrypts.
    old = generate_key()
    Fleet(dsn, key=old).add_store("a", endpoint=endpoint, store_code="S", auth=TokenAuth("t0ken-abcdef"))
    new = generate_key()
    assert Fleet(dsn, key=f"{new},{old}").rekey() == 1
    with psycopg.connect(dsn) as db:
        (sealed,) = db.execute("SELECT credentials FROM fleet_stores").fetchone() or (b"",)
    from mivaorders.fleet._secrets import Credentials

    assert repr(Credentials(new).open(sealed)) == "TokenAuth(token=<redacted>)"


def test_fleet_checks_its_arguments(dsn: str, fleet_key: str) -> None:
    fleet = Fleet(dsn)
    fleet.migrate()
    store = FakeStore(orders=1)
    good = {"endpoint": "https://shop.example.com/mm5/json.mvc", "store_code": "S", "auth": _auth(store)}
    with pytest.raises(ArgumentError, match="key"):
        fleet.add_store(" a", **good)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        fleet.add_store("a", **{**good, "endpoint": "ftp://nope"})  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="strategy"):
        fleet.add_store("a", strategy=object(), **good)  # type: ignore[arg-type]
    with pytest.raises(UnknownStoreError, match="'ghost'"):
        fleet.sync("ghost")
    with pytest.raises(ConfigurationError, match="dsn"):
        Fleet("")
    assert fleet.stores() == []
    assert not fleet.remove_store("ghost")


@pytest.mark.parametrize(
    "strategy",
    [
        ByLastUpdate(
            since=datetime(2024, 1, 2, tzinfo=timezone.utc), lookback=timedelta(seconds=90), page_size=50
        ),
        ByOrderNumber(start_after=1000, lookback=5, columns=("items",)),
        ByDateRange(start=datetime(2025, 3, 1, tzinfo=timezone.utc), lookback=timedelta(minutes=2)),
        ByQueue(queue_code="new_and_updated", page_size=25),
    ],
)
def test_strategies_round_trip_through_the_database_form(strategy: Any) -> None:
    back = strategy_from_json(json.loads(json.dumps(strategy_to_json(strategy))))
    assert type(back) is type(strategy)
    assert back.page_size == strategy.page_size
    for name in ("since", "lookback", "start_after", "start", "columns", "queue_code"):
        assert getattr(back, name, None) == getattr(strategy, name, None)


def test_credentials_of_every_kind_survive_encryption() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from mivaorders import SshAuth
    from mivaorders.fleet._secrets import Credentials

    store = FakeStore(orders=1, seed=44)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sealer = Credentials(generate_key())
    body = b'{"Function":"OrderList_Load_Query"}'
    for auth in (
        TokenAuth(store.token),
        HmacAuth(store.token, store.signing_key, digest="sha1"),
        SshAuth("ops_user", rsa_key, digest="sha512"),
    ):
        sealed = sealer.seal(auth)
        assert store.token.encode() not in sealed
        back = sealer.open(sealed)
        assert type(back) is type(auth)
        if isinstance(auth, SshAuth):
            assert isinstance(back, SshAuth)
            assert back.digest == "sha512"
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding

            signature = base64.b64decode(back.signature(body))
            rsa_key.public_key().verify(signature, body, padding.PKCS1v15(), hashes.SHA512())
        else:
            assert back.authorization(body) == auth.authorization(body)
    with pytest.raises(ArgumentError, match="TokenAuth, HmacAuth or SshAuth"):
        sealer.seal(object())  # type: ignore[arg-type]
    assert "redacted" in repr(sealer)


def test_the_celery_app_is_configured_for_safe_redelivery(monkeypatch: pytest.MonkeyPatch) -> None:
    from mivaorders.fleet.celery import app, make_app

    monkeypatch.setenv("MIVAORDERS_FLEET_INTERVAL", "2")
    monkeypatch.setenv("MIVAORDERS_VISIBILITY_TIMEOUT", "30")
    made = make_app("redis://127.0.0.1:1/0", dsn="postgresql://x@127.0.0.1/y")
    conf = made.conf
    assert conf.task_acks_late
    assert conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"]
    assert conf.broker_transport_options["visibility_timeout"] == 30
    assert conf.result_backend == "redis://127.0.0.1:1/0"
    (entry,) = conf.beat_schedule.values()
    assert entry == {"task": "mivaorders.fleet.sync_all", "schedule": 120.0}
    assert {"mivaorders.fleet.sync_store", "mivaorders.fleet.sync_all"} <= set(app.tasks)
    assert app.tasks["mivaorders.fleet.sync_store"].acks_late
    monkeypatch.setenv("MIVAORDERS_FLEET_INTERVAL", "soon")
    with pytest.raises(ConfigurationError, match="MIVAORDERS_FLEET_INTERVAL must be a number"):
        make_app()


def test_the_sync_task_in_process(dsn: str, fleet_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mivaorders.fleet.celery import app, sync_store

    monkeypatch.setitem(app.conf, "mivaorders_dsn", dsn)
    store = FakeStore(orders=15, seed=45)
    fleet = Fleet(dsn)
    fleet.migrate()
    with store.serve() as endpoint:
        fleet.add_store("here", endpoint=endpoint, store_code=store.store_code, auth=_auth(store))
        result = sync_store.apply(("here",)).get()
    assert result["outcome"] == "synced"
    assert result["orders"] == 15
    assert result["worker"].endswith(f":{os.getpid()}")  # named after the process that ran it
    # a store removed after its task was queued: the task says so instead of failing
    assert sync_store.apply(("gone",)).get() == {
        "key": "gone",
        "outcome": "removed",
        "worker": result["worker"],
    }


def test_a_second_sync_of_a_leased_store_returns_busy_at_once(dsn: str, fleet_key: str) -> None:
    store = FakeStore(orders=30, seed=41)
    fleet = Fleet(dsn, worker="tester")
    fleet.migrate()
    with store.serve() as endpoint:
        fleet.add_store("a", endpoint=endpoint, store_code=store.store_code, auth=_auth(store))
        with psycopg.connect(dsn, autocommit=True) as holder:
            (store_id,) = holder.execute("SELECT id FROM fleet_stores WHERE key = 'a'").fetchone() or (0,)
            namespace = 0x6D697661
            assert holder.execute("SELECT pg_try_advisory_lock(%s, %s)", (namespace, store_id)).fetchone()
            assert fleet.status()[0].busy
            started = time.monotonic()
            result = fleet.sync("a")
            assert result.outcome == "busy"
            assert time.monotonic() - started < 5  # "at once": it did not wait for the lease
            assert _rows(dsn, "a") == {}
        # The holder's session ended (as when a worker dies): the lease is free again.
        assert not fleet.status()[0].busy
        assert fleet.sync("a").outcome == "synced"
    events = [row[4] for row in fleet.lease_log("a")]
    assert events[0] == "busy"
    assert events[1] == "acquired"
    assert events[-1] == "released"
    assert "batch" in events
    assert fleet.prune_lease_log(timedelta(days=1)) == 0
    assert fleet.prune_lease_log(timedelta(seconds=-1)) == len(events)


def test_a_failing_sync_is_recorded_without_secrets(dsn: str, fleet_key: str) -> None:
    store = FakeStore(orders=10, seed=42)
    other = FakeStore(orders=1, seed=43)
    fleet = Fleet(dsn)
    fleet.migrate()
    with store.serve() as endpoint:
        # the wrong credentials: the store refuses them
        fleet.add_store("a", endpoint=endpoint, store_code=store.store_code, auth=_auth(other))
        with pytest.raises(AuthenticationError) as caught:
            fleet.sync("a")
    (status,) = fleet.status()
    assert status.last_error is not None
    assert status.last_error.startswith("AuthenticationError")
    assert status.last_error_at is not None
    assert status.last_success_at is None
    assert not status.busy  # the lease was released
    assert [row[4] for row in fleet.lease_log("a")] == ["acquired", "failed"]
    text = status.last_error + str(caught.value) + _everything_as_text(dsn)
    assert other.token not in text
    assert other.signing_key not in text
    assert fleet.remove_store("a", purge=True)
    assert fleet.status() == []


# -- the CLI -----------------------------------------------------------------------------------------


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_migrate_add_list_sync_status(dsn: str, fleet_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FakeStore(orders=25, seed=50)
    monkeypatch.setenv("MIVAORDERS_DSN", dsn)
    assert _cli("fleet", "migrate")[0] == 0
    with store.serve() as endpoint:
        monkeypatch.setenv("MIVA_API_TOKEN", store.token)
        monkeypatch.setenv("MIVA_SIGNING_KEY", store.signing_key)
        code, _, err = _cli(
            "fleet", "add", "shop", "--endpoint", endpoint, "--store-code", store.store_code, "--dsn", dsn
        )
        assert code == 0, err
        code, out, _ = _cli("--json", "fleet", "list")
        assert json.loads(out)[0]["key"] == "shop"
        code, out, _ = _cli("fleet", "sync", "shop")
        assert code == 0
        assert "synced 25 orders" in out
        code, out, _ = _cli("--json", "fleet", "status")
        (entry,) = json.loads(out)
        assert entry["orders"] == 25
        assert entry["last_success_at"] is not None
        code, out, _ = _cli("fleet", "status")
        assert out.splitlines()[1].startswith("shop\t25\tno\t")
        assert store.token not in out + err
    assert _cli("fleet", "keygen")[1].strip() != fleet_key
    monkeypatch.delenv("MIVAORDERS_DSN")
    code, _, err = _cli("fleet", "status")
    assert code == 2
    assert "MIVAORDERS_DSN" in err
    code, _, err = _cli("fleet", "remove", "ghost", "--dsn", dsn)
    assert code == 2
    assert "no store 'ghost'" in err


# -- Celery workers ----------------------------------------------------------------------------------


class Workers:
    """Real ``mivaorders fleet worker`` processes, each in its own process group, logs in files."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, concurrency: int = 2) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        command = [
            sys.executable,
            "-m",
            "mivaorders",
            "fleet",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@fleet",
            "--loglevel",
            "INFO",
        ]
        self.running[name] = subprocess.Popen(
            command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group
            process.wait()
        self.running.clear()

    def log_text(self) -> str:
        return "\n".join(path.read_text("utf-8", "replace") for path in sorted(self.logs.glob("*.log")))


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_twenty_stores_three_workers_one_killed_mid_sync(dsn: str, redis_url: str, tmp_path: Path) -> None:
    from mivaorders.fleet.celery import make_app

    key = generate_key()
    rng = random.Random(14)
    stores = [FakeStore(orders=20 + 19 * i, seed=100 + i, latency_ms=10) for i in range(20)]
    keys = [f"store-{i:02d}" for i in range(20)]
    fleet = Fleet(dsn, key=key, worker="test")
    fleet.migrate()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "MIVAORDERS_DSN": dsn,
        "MIVAORDERS_BROKER_URL": redis_url,
        "MIVAORDERS_FLEET_KEY": key,
        "MIVAORDERS_VISIBILITY_TIMEOUT": "4",  # a lost task comes back within seconds
    }
    env.pop("MIVAORDERS_RESULT_BACKEND", None)
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = Workers(env, logs)
    app = make_app(redis_url, dsn=dsn)
    stop = threading.Event()
    changes = [0]

    ids = [sorted(store.truth()) for store in stores]

    def shopkeepers() -> None:
        # Orders are created and edited in every store while the workers sync.
        while not stop.is_set():
            which = rng.randrange(len(stores))
            store, known = stores[which], ids[which]
            if rng.random() < 0.4:
                known.append(store.create_order())
            else:
                store.update_order(known[rng.randrange(len(known))], ship_city=f"Edit {changes[0]}")
            changes[0] += 1
            stop.wait(0.01)

    def enqueue_all() -> list[Any]:
        return [app.send_task("mivaorders.fleet.sync_store", (k,)) for k in keys]

    def results(pending: list[Any], timeout: float) -> list[dict[str, Any]]:
        return [dict(p.get(timeout=timeout, disable_sync_subtasks=False)) for p in pending]

    with contextlib.ExitStack() as stack:
        stack.callback(workers.stop_all)
        for store_key, store in zip(keys, stores, strict=True):
            endpoint = stack.enter_context(store.serve())
            fleet.add_store(
                store_key,
                endpoint=endpoint,
                store_code=store.store_code,
                auth=_auth(store),
                strategy=ByLastUpdate(page_size=10),
            )
        for name in ("w1", "w2", "w3"):
            workers.start(name)
        thread = threading.Thread(target=shopkeepers, daemon=True)
        thread.start()
        stack.callback(thread.join)
        stack.callback(stop.set)
        first = enqueue_all()

        def open_leases(worker: str) -> set[str]:
            """Leases of ``worker`` that committed a batch and have not ended."""
            log = fleet.lease_log()
            leases = {row[2] for row in log if row[3].startswith(f"{worker}@") and row[4] == "batch"}
            return leases - {row[2] for row in log if row[4] in ("released", "failed")}

        # SIGKILL w1 in the middle of a sync. Should it finish that sync between the look and the kill (it
        # then was not mid-sync), the kill is repeated on another worker.
        victims = []
        for victim in ("w1", "w1x", "w1y"):
            if victim != "w1":
                workers.start(victim)
            busy = lambda name=victim: bool(open_leases(name))  # noqa: E731
            _wait_for(busy, 60, f"worker {victim} to be in the middle of a sync")
            workers.kill(victim)
            victims.append(f"{victim}@fleet")
            if open_leases(victim):
                break
        workers.start("w1b")  # the restart
        # The second round goes through the sync_all task, as the beat schedule would run it.
        assert sorted(app.send_task("mivaorders.fleet.sync_all").get(timeout=120)) == keys
        done = results(first, 120)
        stop.set()
        thread.join()
        # After the last change: rounds until every store was synced by a run that started afterwards.
        # (through the CLI: `mivaorders fleet sync-all --wait` enqueues and reports every store)
        for _ in range(5):
            code, out, err = _cli(
                "--json", "fleet", "sync-all", "--wait", "--dsn", dsn, "--broker", redis_url
            )
            assert code == 0, err
            final = json.loads(out)
            assert sorted(entry["key"] for entry in final) == keys
            if all(entry["outcome"] == "synced" for entry in final):
                break
        assert all(entry["outcome"] == "synced" for entry in final)
        assert changes[0] > 20
        for store_key, store in zip(keys, stores, strict=True):
            assert _rows(dsn, store_key) == _truth(store), f"{store_key} differs from its store"
        workers.stop_all()
        log_text = workers.log_text()

    assert {entry["outcome"] for entry in done} <= {"synced", "busy"}
    # No store was synced by two workers at once: in the lease log (a sequence PostgreSQL hands out),
    # each lease's events form one unbroken run for its store, even the killed worker's.
    log = fleet.lease_log()
    killed = set()
    for store_key in keys:
        events = [row for row in log if row[1] == store_key and row[4] != "busy"]
        runs = [lease for i, (_, _, lease, *_) in enumerate(events) if i == 0 or events[i - 1][2] != lease]
        assert len(runs) == len(set(runs)), f"two leases of {store_key} overlap: {runs}"
        for lease in set(runs):
            kinds = [row[4] for row in events if row[2] == lease]
            assert kinds[0] == "acquired"
            if kinds[-1] != "released":
                killed.add((store_key, lease, events[-1][2] != lease))
    # The kill really was mid-sync: a w1 lease never released, and its store was synced again after it.
    assert killed
    assert all(resynced for _, _, resynced in killed)
    unfinished = {(k, lease) for k, lease, _ in killed}
    assert {row[3].split(":")[0] for row in log if (row[1], row[2]) in unfinished} <= set(victims)
    # Secrets: nowhere in the database in clear, nor in the workers' logs, nor in status().
    shown = _everything_as_text(dsn) + log_text + repr(fleet.status())
    for store in stores:
        assert store.token not in shown
        assert store.signing_key not in shown
    assert key not in shown
