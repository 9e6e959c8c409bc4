"""The ``mivaorders`` command: every command in process against a FakeStore served on loopback, config
precedence, exit codes, secrets kept out of the output, and a few real subprocess runs."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from mivaorders import flatten_items, flatten_orders
from mivaorders._cli.config import resolve_settings
from mivaorders._cli.console import Progress
from mivaorders._cli.parser import build_parser
from mivaorders._cli.pulls import default_columns, default_item_columns, parse_moment
from mivaorders._json import loads
from mivaorders._version import __version__
from mivaorders.cli import main
from mivaorders.incremental import OrderSync
from mivaorders.testing import FakeStore
from mivaorders.webhooks import parse_order

FIXTURES = Path(__file__).parent / "fixtures"
WEBHOOK = FIXTURES / "webhook_order_payload.json"
ENV_NAMES = ("MIVA_ENDPOINT", "MIVA_STORE_CODE", "MIVA_API_TOKEN", "MIVA_SIGNING_KEY", "MIVA_SIGNING_DIGEST")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No store settings leak in from the environment or a ./mivaorders.toml."""
    for name in (*ENV_NAMES, "MIVA_CONFIG", "MIVA_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(orders=60, seed=3)


@contextlib.contextmanager
def serve_in_env(store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStore]:
    """The store on loopback HTTP, its settings in the environment."""
    with store.serve() as endpoint:
        monkeypatch.setenv("MIVA_ENDPOINT", endpoint)
        monkeypatch.setenv("MIVA_STORE_CODE", store.store_code)
        monkeypatch.setenv("MIVA_API_TOKEN", store.token)
        monkeypatch.setenv("MIVA_SIGNING_KEY", store.signing_key)
        yield store


@pytest.fixture
def served(store: FakeStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStore]:
    with serve_in_env(store, monkeypatch) as serving:
        yield serving


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def db_count(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM orders").fetchone()[0])


# -- demo ------------------------------------------------------------------------------------------


def test_demo_creates_the_db_and_summarises(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    code, out, err = run(capsys, "demo", "--db", str(db), "--orders", "40", "--seed", "2")
    assert code == 0
    assert db_count(db) == 40
    assert "Run 1: first sync" in out
    assert "  orders        40\n" in out
    assert "Revenue by day, last 14 days" in out
    # The revenue printed is the exact sum of the stored totals.
    with contextlib.closing(sqlite3.connect(db)) as conn:
        revenue = sum((Decimal(t) for (t,) in conn.execute("SELECT total FROM orders")), Decimal(0))
    assert f"{revenue:,}" in out
    assert "run 1" in err

    code, out, err = run(capsys, "demo", "--db", str(db), "--orders", "40", "--seed", "2")
    assert code == 0
    assert "Run 2: incremental sync from the saved checkpoint: pulled 5 orders (3 new, 2 updated)" in out
    assert db_count(db) == 43
    assert "3 new orders and 2 edits" in err


def test_demo_json_and_third_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    results = []
    for _ in range(3):
        code, out, _ = run(capsys, "--json", "demo", "--db", str(db), "--orders", "25")
        assert code == 0
        results.append(loads(out))
    first, second, third = results
    assert (first["run"], first["incremental"], first["pulled"], first["new"]) == (1, False, 25, 25)
    assert (second["run"], second["incremental"], second["new"], second["updated"]) == (2, True, 3, 2)
    assert (third["run"], third["new"], third["updated"]) == (3, 3, 2)  # new orders, not re-pulled old ones
    assert third["totals"]["orders"] == db_count(db) == 31
    assert len(third["by_day"]) == 14
    assert isinstance(third["totals"]["revenue"], Decimal)
    assert sum(day["orders"] for day in third["by_day"]) <= 31


def test_demo_refuses_a_different_store_or_a_foreign_db(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, served: FakeStore
) -> None:
    db = tmp_path / "demo.db"
    assert run(capsys, "-q", "demo", "--db", str(db), "--orders", "20")[0] == 0
    code, _out, err = run(capsys, "demo", "--db", str(db), "--orders", "21")
    assert code == 2
    assert err.count("\n") == 1
    assert "--orders 20 --seed 1" in err

    synced = tmp_path / "real.db"
    assert run(capsys, "sync", "--db", str(synced))[0] == 0
    code, _, err = run(capsys, "demo", "--db", str(synced))
    assert code == 2
    assert "did not come from the demo" in err


# -- sync ------------------------------------------------------------------------------------------


def test_sync_by_last_update_then_incremental(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, served: FakeStore
) -> None:
    db = tmp_path / "orders.db"
    code, out, _ = run(capsys, "--json", "sync", "--db", str(db), "--batch-size", "25")
    assert code == 0
    report = json.loads(out)
    assert (report["orders"], report["batches"], report["resumed"], report["complete"]) == (
        60,
        3,
        False,
        True,
    )
    assert db_count(db) == 60

    new_id = served.create_order()
    code, out, _ = run(capsys, "sync", "--db", str(db))
    assert code == 0
    assert "resumed from the checkpoint" in out
    assert "(1 new)" in out
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM orders WHERE id = ?", (new_id,)).fetchone()[0] == 1


@pytest.mark.parametrize("strategy", ["order-number", "date-range"])
def test_sync_other_strategies(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, served: FakeStore, strategy: str
) -> None:
    db = tmp_path / "orders.db"
    code, out, _ = run(capsys, "sync", "--db", str(db), "--strategy", strategy, "--name", strategy)
    assert code == 0, out
    assert db_count(db) == 60
    assert f"strategy {strategy}" in out


def test_sync_by_queue_drains_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, served: FakeStore
) -> None:
    queued = set(served.queue_members("new_and_updated"))
    assert queued
    db = tmp_path / "orders.db"
    code, _, _ = run(capsys, "sync", "--db", str(db), "--strategy", "queue", "--queue", "new_and_updated")
    assert code == 0
    assert db_count(db) == len(queued)
    assert served.queue_members("new_and_updated") == []


def test_sync_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, served: FakeStore) -> None:
    db = str(tmp_path / "x.db")
    for argv, needle in [
        (["sync", "--db", db, "--strategy", "queue"], "--queue CODE"),
        (["sync", "--db", db, "--queue", "q"], "--strategy queue"),
        (["sync", "--db", db, "--strategy", "order-number", "--since", "2024-01-01"], "--since"),
        (["sync", "--db", db, "--since", "yesterday"], "ISO 8601"),
    ]:
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert err.startswith("mivaorders: error: ")
        assert needle in err
        assert err.count("\n") == 1


def test_sync_interrupted_exits_130(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, served: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: OrderSync, **_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(OrderSync, "run", interrupted)
    code, _, err = run(capsys, "sync", "--db", str(tmp_path / "x.db"))
    assert code == 130
    assert "running it again resumes safely" in err
    assert "Traceback" not in err


# -- pull ------------------------------------------------------------------------------------------


def test_pull_jsonl_matches_the_library(
    capsys: pytest.CaptureFixture[str], served: FakeStore, tmp_path: Path
) -> None:
    code, out, err = run(capsys, "pull", "--since", "2000-01-01", "--until", "2100-01-01T00:00:00Z")
    assert code == 0
    ids = [loads(line)["id"] for line in out.splitlines()]
    assert sorted(ids) == sorted(served.truth())
    assert "pulled 60 orders" in err

    output = tmp_path / "updated.jsonl"
    code, out, _ = run(
        capsys, "--json", "pull", "--since", "2000-01-01", "--by", "updated", "--output", str(output)
    )
    assert code == 0
    assert json.loads(out) == {"orders": 60, "output": str(output), "format": "jsonl"}
    assert len(output.read_text().splitlines()) == 60


def test_pull_csv_has_a_stable_header(capsys: pytest.CaptureFixture[str], served: FakeStore) -> None:
    code, out, _ = run(capsys, "pull", "--since", "2000-01-01", "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == default_columns()
    assert len(rows) == 61
    # The header is exactly flatten_orders' standard columns.
    order = parse_order(WEBHOOK.read_bytes())
    assert [k for k in flatten_orders([order])[0] if not k.startswith("cf.")] == default_columns()

    code, out, _ = run(capsys, "pull", "--since", "2099-01-01", "--until", "2100-01-01", "--format", "csv")
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [default_columns()]  # no orders: still the header

    code, out, _ = run(capsys, "pull", "--since", "2000-01-01", "--format", "csv", "--columns", "id,total")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["id", "total"]
    totals = {int(r[0]): Decimal(r[1]) for r in rows[1:]}
    truth = served.truth()
    assert totals == {oid: Decimal(str(o["total"])) for oid, o in truth.items()}


def test_pull_usage_errors(capsys: pytest.CaptureFixture[str], served: FakeStore) -> None:
    for argv in (
        ["pull", "--since", "2024-02-01", "--until", "2024-01-01"],
        ["pull", "--since", "2024-01-01", "--columns", "id"],  # jsonl
        ["pull", "--since", "2024-01-01", "--format", "csv", "--columns", "id,nope"],
        ["pull"],  # argparse: --since is required
    ):
        code, _, _ = run(capsys, *argv)
        assert code == 2, argv


def test_parse_moment() -> None:
    assert parse_moment("2024-05-01", "--since").isoformat() == "2024-05-01T00:00:00+00:00"
    assert parse_moment("2024-05-01T12:00:00Z", "--since").isoformat() == "2024-05-01T12:00:00+00:00"
    assert parse_moment("2024-05-01T12:00:00+02:00", "--since").hour == 10


# -- queue -----------------------------------------------------------------------------------------


def test_queue_list_load_ack(capsys: pytest.CaptureFixture[str], served: FakeStore) -> None:
    code, out, _ = run(capsys, "--json", "queue", "list")
    assert code == 0
    assert "new_and_updated" in {q["code"] for q in json.loads(out)}

    before = served.queue_members("new_and_updated")
    assert len(before) >= 3
    code, out, err = run(capsys, "queue", "load", "new_and_updated", "--count", "2", "--ack-workflow")
    assert code == 0
    assert "warning" not in err
    loaded = [loads(line)["id"] for line in out.splitlines()]
    assert len(loaded) == 2
    assert set(loaded) <= set(before)
    assert served.queue_members("new_and_updated") == before  # acknowledgement workflow: nothing moved

    code, out, err = run(capsys, "queue", "load", "new_and_updated", "--count", "1")
    assert code == 0
    assert "without --ack-workflow" in err

    code, out, _ = run(capsys, "queue", "ack", *map(str, loaded))
    assert code == 0
    assert "acknowledged 2 of 2 orders" in out
    assert not set(loaded) & set(served.queue_members("new_and_updated"))


def test_queue_drain_into_jsonl_and_db(
    capsys: pytest.CaptureFixture[str], served: FakeStore, tmp_path: Path
) -> None:
    queued = set(served.queue_members("new_and_updated"))
    output = tmp_path / "drained.jsonl"
    code, out, _ = run(capsys, "--json", "queue", "drain", "new_and_updated", "--output", str(output))
    assert code == 0
    report = json.loads(out)
    assert report["stopped"] == "empty"
    assert report["acknowledged"] == len(queued)
    assert {loads(line)["id"] for line in output.read_text().splitlines()} == queued

    served.create_order()
    code, out, _ = run(capsys, "queue", "drain", "new_and_updated", "--db", str(tmp_path / "q.db"))
    assert code == 0
    assert "1 order delivered" in out
    assert db_count(tmp_path / "q.db") == 1


def test_queue_drain_that_never_empties_is_partial(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = FakeStore(orders=30, seed=4, workflow="add")
    with store.serve() as endpoint:
        argv = ["--endpoint", endpoint, "--store-code", store.store_code, "--token", store.token]
        argv += ["--signing-key", store.signing_key]
        code, out, _ = run(
            capsys,
            "queue",
            "drain",
            "new_and_updated",
            "--no-ack",
            "--output",
            str(tmp_path / "o.jsonl"),
            *argv,
        )
    assert code == 4
    assert "nothing_new" in out


def test_api_error_exits_1(capsys: pytest.CaptureFixture[str], served: FakeStore) -> None:
    code, _out, err = run(capsys, "queue", "ack", "999999999")
    assert code in (0, 4)  # unknown ids are warnings, not errors
    code, _, err = run(capsys, "queue", "load", "no_such_queue", "--ack-workflow")
    assert code == 1
    assert err.startswith("mivaorders: error: ")
    assert err.count("\n") == 1


# -- webhook ---------------------------------------------------------------------------------------


def test_webhook_parse_summary_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    order = parse_order(WEBHOOK.read_bytes())
    code, out, _ = run(capsys, "webhook", "parse", str(WEBHOOK))
    assert code == 0
    assert f"order     {order.id}" in out
    assert str(order.total) in out
    assert order.bill_email in out
    assert "complete  yes" in out or "complete  no" in out

    code, out, _ = run(capsys, "webhook", "parse", str(WEBHOOK), "--json")
    assert code == 0
    assert loads(out)["id"] == order.id
    assert loads(out)["total"] == order.total


def test_webhook_parse_rejects_garbage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    hostile = (
        b'{"id": 1, "total": 1e99999999999999999999}',  # once a traceback (decimal.InvalidOperation)
        b'{"id":1,"notes":[' + b"{}," * 1_000_000 + b"{}]}",
    )
    for body in (b"{not json", b'{"success": 1, "data": {}}', b"", b"[1, 2]", *hostile):
        path = tmp_path / "body.json"
        path.write_bytes(body)
        code, out, err = run(capsys, "webhook", "parse", str(path))
        assert code == 1, body
        assert out == ""
        assert err.startswith("mivaorders: error: webhook body")
        assert err.count("\n") == 1
    code, _, err = run(capsys, "webhook", "parse", str(tmp_path / "missing.json"))
    assert code == 1  # a file error, as docs/cli.md says
    assert "cannot read" in err


def test_webhook_parse_stdin() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["webhook", "parse", "-"], stdout=out, stderr=err, stdin=io.BytesIO(WEBHOOK.read_bytes()))
    assert code == 0
    assert "order " in out.getvalue()


# -- configuration and secrets ---------------------------------------------------------------------


def settings_for(argv: list[str], environ: dict[str, str]) -> dict[str, object]:
    args = build_parser().parse_args([*argv, "queue", "list"])
    settings = resolve_settings(args, environ)
    return {"endpoint": settings.endpoint, "store_code": settings.store_code, "token": settings.token}


def test_config_precedence_flag_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mivaorders.toml"
    config.write_text(
        '[store]\nendpoint = "https://file.example/mm5/json.mvc"\nstore_code = "FILE"\ntoken = "file-token"\n'
    )
    assert settings_for([], {}) == {
        "endpoint": "https://file.example/mm5/json.mvc",
        "store_code": "FILE",
        "token": "file-token",
    }
    env = {"MIVA_STORE_CODE": "ENV", "MIVA_API_TOKEN": "env-token"}
    assert settings_for([], env)["store_code"] == "ENV"
    assert settings_for([], env)["token"] == "env-token"
    assert settings_for(["--store-code", "FLAG"], env)["store_code"] == "FLAG"
    assert settings_for(["--store-code", "FLAG"], env)["endpoint"] == "https://file.example/mm5/json.mvc"

    other = tmp_path / "other.toml"
    other.write_text('[store]\nendpoint = "https://other.example/json.mvc"\nstore_code = "O"\ntoken = "t"\n')
    assert settings_for(["--config", str(other)], {})["store_code"] == "O"
    assert settings_for([], {"MIVA_CONFIG": str(other)})["store_code"] == "O"


def test_missing_or_bad_config_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "queue", "list")
    assert code == 2
    assert err == (
        "mivaorders: error: no endpoint configured: pass --endpoint, set MIVA_ENDPOINT, "
        "or add endpoint to [store] in ./mivaorders.toml\n"
    )
    code, _, err = run(
        capsys, "--endpoint", "https://x.example/json.mvc", "--store-code", "S", "queue", "list"
    )
    assert code == 2
    assert "no token configured" in err
    assert "MIVA_API_TOKEN" in err

    (tmp_path / "mivaorders.toml").write_text("[store\nendpoint = 1")
    code, _, err = run(capsys, "queue", "list")
    assert code == 2
    assert "not valid TOML" in err
    code, _, err = run(capsys, "--config", str(tmp_path / "nope.toml"), "queue", "list")
    assert code == 2
    assert "does not exist" in err

    (tmp_path / "mivaorders.toml").unlink()
    argv = ["--endpoint", "http://example.com/json.mvc", "--store-code", "S", "--token", "t", "queue", "list"]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "unencrypted" in err


def test_secrets_never_printed(capsys: pytest.CaptureFixture[str], store: FakeStore, tmp_path: Path) -> None:
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3I="
    with store.serve() as endpoint:
        base = ["--endpoint", endpoint, "--store-code", store.store_code, "--token", store.token]
        # Authentication error (wrong signing key), verbose: exit 3, one error line, no secret anywhere.
        code, out, err = run(
            capsys, "-v", "sync", "--db", str(tmp_path / "a.db"), *base, "--signing-key", wrong_key
        )
        assert code == 3
        assert "mivaorders: error: " in err
        for secret in (store.token, wrong_key, store.signing_key):
            assert secret not in out
            assert secret not in err
        # Success, verbose and --json: the logs and the result hold no secret either.
        good = [*base, "--signing-key", store.signing_key]
        code, out, err = run(capsys, "-v", "--json", "sync", "--db", str(tmp_path / "b.db"), *good)
        assert code == 0
        assert "DEBUG" in err
        for secret in (store.token, store.signing_key):
            assert secret not in out
            assert secret not in err


def test_auth_error_without_verbose_is_one_line(
    capsys: pytest.CaptureFixture[str], served: FakeStore
) -> None:
    served.configure(enabled=False)
    code, out, err = run(capsys, "queue", "list")
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"mivaorders {__version__}"
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "prefer the environment" in out.lower()
    code, _, err = run(capsys, "frobnicate")
    assert code == 2
    assert "invalid choice" in err


# -- progress --------------------------------------------------------------------------------------


def test_progress_bar_on_a_terminal() -> None:
    stream = io.StringIO()
    now = [0.0]
    bar = Progress(stream, "syncing", "orders", enabled=True, tty=True, clock=lambda: now[0])
    now[0] = 2.0
    bar.update(50, 200)
    now[0] = 4.0
    bar.update(100, 200)
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\rsyncing [")
    assert "100/200 orders  50%" in text
    assert "25 orders/s" in text
    assert "ETA 4s" in text
    assert text.endswith("\n")


def test_progress_is_quiet_off_a_terminal() -> None:
    stream = io.StringIO()
    now = [0.0]
    bar = Progress(stream, "syncing", "orders", enabled=True, tty=False, clock=lambda: now[0])
    now[0] = 1.0
    bar.update(10, 100)
    assert stream.getvalue() == ""  # a short run prints no plain lines
    now[0] = 30.0
    bar.update(90, 100)
    assert stream.getvalue().count("\n") == 1
    assert "\r" not in stream.getvalue()
    muted = io.StringIO()
    Progress(muted, "x", "orders", enabled=False, tty=True).update(1, 2, force=True)
    assert muted.getvalue() == ""


# -- real processes --------------------------------------------------------------------------------


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mivaorders", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_subprocess_version_webhook_and_errors() -> None:
    done = cli("--version")
    assert done.returncode == 0
    assert __version__ in done.stdout
    done = cli("webhook", "parse", str(WEBHOOK))
    assert done.returncode == 0
    assert "order " in done.stdout
    done = cli("webhook", "parse", "-", "--json")  # empty stdin
    assert done.returncode == 1
    assert done.stderr.strip() == "mivaorders: error: webhook body is empty"


def test_subprocess_demo(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    done = cli("demo", "--db", str(db), "--orders", "30")
    assert done.returncode == 0, done.stderr
    assert "Run 1" in done.stdout
    done = cli("--json", "demo", "--db", str(db), "--orders", "30")
    assert done.returncode == 0
    assert json.loads(done.stdout)["incremental"] is True


def test_subprocess_sync_against_a_served_store(tmp_path: Path, served: FakeStore) -> None:
    done = cli("sync", "--db", str(tmp_path / "s.db"))
    assert done.returncode == 0, done.stderr
    assert db_count(tmp_path / "s.db") == 60


def test_namespace_defaults_do_not_clobber_globals() -> None:
    args = build_parser().parse_args(["--json", "-q", "--token", "T", "webhook", "parse", "x"])
    assert isinstance(args, argparse.Namespace)
    assert (args.json, args.quiet, args.token) == (True, True, "T")
    args = build_parser().parse_args(["webhook", "parse", "x", "--json"])
    assert args.json is True
    assert args.quiet is False


# -- issue 13: help, simulate --env, clearer messages, options no longer ignored --------------------

STORE_FLAGS = (
    "--config",
    "--endpoint",
    "--store-code",
    "--token",
    "--signing-key",
    "--signing-digest",
    "--timeout",
)


def _subparsers(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}".strip(), sub
                yield from _subparsers(sub, f"{path} {name}")


def test_help_explains_every_option_and_its_default() -> None:
    parser = build_parser()
    commands = dict(_subparsers(parser))
    assert {"demo", "sync", "pull", "queue ack", "webhook parse", "simulate"} <= set(commands)
    for name, sub in [("", parser), *commands.items()]:
        text = sub.format_help()
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction) or action.dest in ("help", "version"):
                continue
            assert action.help, f"{name}: {action.dest} has no help"
            default = action.default
            if action.option_strings and not (
                default is None or default is False or default == argparse.SUPPRESS
            ):
                shown = rf"\(default:? {re.escape(str(default))}\)"
                assert re.search(shown, " ".join(text.split())), f"{name}: {action.dest}"
    # The seven store settings are offered only where a store is talked to.
    for name in ("demo", "simulate", "webhook parse", "webhook"):
        text = commands[name].format_help()
        assert not [flag for flag in STORE_FLAGS if flag in text], name
    for name in ("sync", "pull", "queue list", "queue drain"):
        text = commands[name].format_help()
        assert all(flag in text for flag in STORE_FLAGS), name


def test_store_flags_are_refused_where_they_do_not_apply(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--endpoint", "https://x.example/mm5/json.mvc")
    assert code == 2
    assert "unrecognized arguments: --endpoint" in err
    # Before the command, the top-level parser takes them: refused there too, not ignored.
    code, _, err = run(capsys, "--token", "abc", "--timeout", "5", "webhook", "parse", str(WEBHOOK))
    assert code == 2
    assert "--token and --timeout do not apply to `webhook`" in err
    code, _, err = run(capsys, "--json", "simulate", "--env")
    assert code == 2
    assert "does not go with --json" in err


def _start_simulator(argv: list[str]) -> tuple[io.StringIO, threading.Event, threading.Thread]:
    from mivaorders._cli.console import Console
    from mivaorders._cli.misc import run_simulate

    args = build_parser().parse_args(["simulate", "--port", "0", "--latency-ms", "0", *argv])
    out, stop = io.StringIO(), threading.Event()
    console = Console(out, io.StringIO(), quiet=True, json=False)
    thread = threading.Thread(target=run_simulate, args=(args, console, stop))
    thread.start()
    for _ in range(500):
        if out.getvalue().endswith("\n"):
            break
        time.sleep(0.01)
    return out, stop, thread


def test_simulate_env_prints_exports_and_writes_a_dotenv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dotenv = tmp_path / "sim.env"
    out, stop, thread = _start_simulator(
        ["--env", "--env-file", str(dotenv), "--orders", "12", "--seed", "5"]
    )
    try:
        exports: dict[str, str] = {}
        for line in out.getvalue().splitlines():
            word, assignment = line.split(" ", 1)
            assert word == "export"
            name, _, value = assignment.partition("=")
            exports[name] = " ".join(shlex.split(value))
        expected = FakeStore(orders=1, seed=5)
        assert exports["MIVA_STORE_CODE"] == expected.store_code
        assert exports["MIVA_API_TOKEN"] == expected.token
        assert exports["MIVA_SIGNING_KEY"] == expected.signing_key
        assert exports["MIVA_SIMULATOR_PID"] == str(os.getpid())
        assert exports["MIVA_ENDPOINT"].startswith("http://127.0.0.1:")
        assert dict(line.split("=", 1) for line in dotenv.read_text().splitlines()) == exports
        assert dotenv.stat().st_mode & 0o777 == 0o600
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        code, pulled, _ = run(capsys, "pull", "--since", "2000-01-01")
        assert code == 0
        assert len(pulled.splitlines()) == 12
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_simulate_workflow_and_fault_flags() -> None:
    import mivaorders

    out, stop, thread = _start_simulator(["--workflow", "move", "--orders", "300"])
    try:
        info = json.loads(out.getvalue())
        auth = mivaorders.HmacAuth(info["token"], info["signing_key"])
        with mivaorders.Client(info["endpoint"], store_code=info["store_code"], auth=auth) as client:
            first = client.queues.load("new_and_updated", count=2)
            second = client.queues.load("new_and_updated", count=2)
        # A "move" workflow takes loaded orders out of the queue: the second load sees others.
        assert len(first) == 2
        assert second.total_count == first.total_count - 2
        assert not {o.id for o in first} & {o.id for o in second}
    finally:
        stop.set()
        thread.join(timeout=5)

    out, stop, thread = _start_simulator(["--fault-rate", "1", "--faults", "http"])
    try:
        info = json.loads(out.getvalue())
        auth = mivaorders.HmacAuth(info["token"], info["signing_key"])
        with (
            mivaorders.Client(
                info["endpoint"], store_code=info["store_code"], auth=auth, retry=None
            ) as client,
            pytest.raises(mivaorders.HTTPStatusError) as failure,
        ):
            client.orders.list()
        assert failure.value.status_code == 503
    finally:
        stop.set()
        thread.join(timeout=5)


def test_simulate_rejects_bad_fault_flags(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--fault-rate", "1.5"], ["--faults", "http,meteor"], ["--workflow", "sometimes"]):
        code, _, err = run(capsys, "simulate", *argv)
        assert code == 2, argv
    assert "meteor" not in err or "choose from" in err


@pytest.mark.slow
def test_eval_simulate_env_in_a_real_shell(tmp_path: Path) -> None:
    """The documented one-liner: the simulator keeps serving in the background, the shell gets the
    settings, `kill $MIVA_SIMULATOR_PID` stops it."""
    python = shlex.quote(sys.executable)
    script = f"""
eval "$({python} -m mivaorders simulate --env --port 0 --orders 15 --latency-ms 0 &)"
echo "pid=$MIVA_SIMULATOR_PID"
{python} -m mivaorders -q pull --since 2000-01-01 | wc -l
kill "$MIVA_SIMULATOR_PID"
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIVA_")}
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    pid_line = next((line for line in done.stdout.splitlines() if line.startswith("pid=")), "pid=")
    pid = int(pid_line[4:] or 0)
    try:
        assert done.returncode == 0, done.stderr
        assert pid > 0
        assert done.stdout.split()[-1] == "15"
    finally:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def test_queue_ack_counts_unknown_ids(capsys: pytest.CaptureFixture[str], served: FakeStore) -> None:
    known = sorted(served.truth())[:2]
    code, out, err = run(capsys, "queue", "ack", *map(str, known), "999999")
    assert code == 4
    assert out.strip() == "acknowledged 2 of 3 orders (1 unknown: 999999)"
    assert "warning" not in err
    code, out, _ = run(capsys, "--json", "queue", "ack", *map(str, known), "999999")
    report = json.loads(out)
    assert (report["sent"], report["acknowledged"], report["unknown_ids"]) == (3, 2, [999999])


def test_unknown_store_code_says_which_and_where(
    capsys: pytest.CaptureFixture[str], served: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIVA_STORE_CODE", "NOSUCH")
    code, _, err = run(capsys, "queue", "list")
    assert code == 2
    assert "store code 'NOSUCH' (from MIVA_STORE_CODE)" in err
    assert "Miva admin" in err
    code, _, err = run(capsys, "queue", "list", "--store-code", "OTHER")
    assert "'OTHER' (from --store-code)" in err


def test_plain_http_error_names_the_cli_flag(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--endpoint", "http://example.com/json.mvc", "--store-code", "S", "--token", "t", "queue", "list"]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "--allow-insecure-http" in err
    assert "allow_insecure_http" not in err
    args = build_parser().parse_args([*argv, "--allow-insecure-http"])
    with resolve_settings(args, environ={}).client() as client:
        assert client.endpoint == "http://example.com/json.mvc"


def test_unknown_columns_get_a_suggestion(capsys: pytest.CaptureFixture[str], served: FakeStore) -> None:
    code, _, err = run(capsys, "pull", "--since", "2000-01-01", "--format", "csv", "--columns", "id,totl")
    assert code == 2
    assert "'totl' (did you mean 'total'" in err
    argv = [
        "pull",
        "--since",
        "2000-01-01",
        "--format",
        "csv",
        "--rows",
        "items",
        "--columns",
        "order_id,qty",
    ]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "order line" in err
    assert "'qty'" in err


def test_pull_csv_json_is_used_or_refused(
    capsys: pytest.CaptureFixture[str], served: FakeStore, tmp_path: Path
) -> None:
    code, out, err = run(capsys, "--json", "pull", "--since", "2000-01-01", "--format", "csv")
    assert code == 2
    assert out == ""
    assert "--json with --format csv needs --output FILE" in err
    output = tmp_path / "orders.csv"
    code, out, _ = run(
        capsys, "--json", "pull", "--since", "2000-01-01", "--format", "csv", "-o", str(output)
    )
    assert code == 0
    assert json.loads(out) == {"orders": 60, "output": str(output), "format": "csv", "rows": "orders"}
    assert len(output.read_text().splitlines()) == 61


def test_sync_since_on_a_resumed_run_is_refused(
    capsys: pytest.CaptureFixture[str], served: FakeStore, tmp_path: Path
) -> None:
    db = str(tmp_path / "s.db")
    assert run(capsys, "sync", "--db", db, "--since", "2000-01-01")[0] == 0
    code, _, err = run(capsys, "sync", "--db", db, "--since", "2024-01-01")
    assert code == 2
    assert "--since applies to the first run only" in err
    assert "--name" in err
    assert run(capsys, "sync", "--db", db)[0] == 0  # resuming without --since is fine
    assert run(capsys, "sync", "--db", db, "--name", "other", "--since", "2024-01-01")[0] == 0


def test_pull_writes_a_line_item_csv(capsys: pytest.CaptureFixture[str], served: FakeStore) -> None:
    code, out, _ = run(capsys, "pull", "--since", "2000-01-01", "--format", "csv", "--rows", "items")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == default_item_columns()
    # One row per order line, with the exact money of each line.
    with served.client() as client:
        orders = list(
            client.orders.placed_between(parse_moment("2000-01-01", "x"), parse_moment("2100-01-01", "x"))
        )
    lines = flatten_items(orders)
    assert len(rows) == len(lines) > len(orders)
    expected = sum((Decimal(str(line["total"])) for line in lines), Decimal(0))
    assert sum((Decimal(r["total"]) for r in rows), Decimal(0)) == expected
    assert {int(r["order_id"]) for r in rows} == {o.id for o in orders if o.items}
    # The header is exactly flatten_items' columns.
    order = parse_order(WEBHOOK.read_bytes())
    assert list(flatten_items([order])[0]) == default_item_columns()

    argv = [
        "pull",
        "--since",
        "2000-01-01",
        "--format",
        "csv",
        "--rows",
        "items",
        "--columns",
        "order_id,code,quantity",
    ]
    code, out, _ = run(capsys, *argv)
    assert next(csv.reader(io.StringIO(out))) == ["order_id", "code", "quantity"]
    code, _, err = run(capsys, "pull", "--since", "2000-01-01", "--rows", "items")
    assert code == 2
    assert "--rows items applies to --format csv" in err
