"""Saved orders come back as the same ``Order``s: ``read_jsonl``, ``read_sqlite``, and ``mivaorders.json``."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import mivaorders as mo
from mivaorders.incremental import JsonLinesSink, OrderSync, SQLiteSink, latest_by_id, order_json
from mivaorders.testing import FakeStore


@pytest.fixture(scope="module")
def store() -> FakeStore:
    return FakeStore(orders=80, seed=4)


@pytest.fixture(scope="module")
def orders(store: FakeStore) -> list[mo.Order]:
    with store.client() as client:
        return list(client.orders.iter(page_size=40))


# -- mivaorders.json ----------------------------------------------------------------------------------


def test_json_is_exact() -> None:
    data = mo.json.loads(b'{"total": 31.4500, "n": 5, "e": 1E+2}')
    assert data == {"total": Decimal("31.4500"), "n": 5, "e": Decimal("1E+2")}
    assert isinstance(data, dict)
    assert str(data["total"]) == "31.4500"
    assert mo.json.dumps({"total": Decimal("31.4500"), "t": (1, 2), "name": "Zoë"}) == (
        b'{"total":31.4500,"t":[1,2],"name":"Zo\\u00eb"}'
    )


def test_json_refuses_what_is_not_exact() -> None:
    with pytest.raises(mo.json.JSONDecodeError):
        mo.json.loads("{")
    with pytest.raises(ValueError, match="NaN"):
        mo.json.loads("[NaN]")
    with pytest.raises(ValueError, match="non-finite"):
        mo.json.dumps(Decimal("Infinity"))
    with pytest.raises(TypeError):
        mo.json.dumps(object())


def test_json_round_trips_an_order(orders: list[mo.Order]) -> None:
    order = orders[0]
    text = mo.json.dumps(mo.converter.unstructure(order))
    assert mo.structure_order(mo.json.loads(text)) == order
    assert text == order_json(order)


# -- JSON Lines -----------------------------------------------------------------------------------------


def _write_jsonl(path: Path, orders: list[mo.Order]) -> None:
    # The format `mivaorders pull` writes: one order_json() per line.
    path.write_bytes(b"".join(order_json(o) + b"\n" for o in orders))


def test_read_jsonl_gives_back_the_orders(tmp_path: Path, orders: list[mo.Order]) -> None:
    path = tmp_path / "orders.jsonl"
    _write_jsonl(path, orders)
    back = list(mo.read_jsonl(path))
    assert back == orders
    assert [o.total for o in back] == [o.total for o in orders]
    assert list(mo.read_jsonl(str(path))) == orders


def test_read_jsonl_from_open_files(tmp_path: Path, orders: list[mo.Order]) -> None:
    path = tmp_path / "orders.jsonl"
    _write_jsonl(path, orders[:5])
    with path.open("rb") as binary:
        assert list(mo.read_jsonl(binary)) == orders[:5]
    with path.open(encoding="utf-8") as text:
        assert list(mo.read_jsonl(text)) == orders[:5]
    assert list(mo.read_jsonl(io.StringIO(path.read_text() + "\n\n"))) == orders[:5]  # blank lines skipped


class _CountingLines(io.RawIOBase):
    """A stream that counts how many lines were taken from it."""

    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines
        self.taken = 0

    def readable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        for line in self._lines:
            self.taken += 1
            yield line


def test_read_jsonl_streams(orders: list[mo.Order]) -> None:
    source = _CountingLines([order_json(o) + b"\n" for o in orders])
    reader = mo.read_jsonl(source)
    assert next(reader) == orders[0]
    assert source.taken == 1  # one line read for one order, not the whole file


def test_read_jsonl_names_the_bad_line_without_showing_it(tmp_path: Path, orders: list[mo.Order]) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(order_json(orders[0]) + b"\n" + b'{"secret": "4111111111111111"\n')
    reader = mo.read_jsonl(path)
    assert next(reader) == orders[0]
    with pytest.raises(mo.ResponseDecodeError, match=r"bad\.jsonl line 2") as caught:
        next(reader)
    assert "4111" not in str(caught.value)

    path.write_bytes(b'{"id": "not a number"}\n')
    with pytest.raises(mo.ResponseValidationError, match=r"bad\.jsonl line 1"):
        list(mo.read_jsonl(path))


def test_read_jsonl_of_a_sync_file_with_repeats(tmp_path: Path, store: FakeStore) -> None:
    path = tmp_path / "sync.jsonl"
    sink = JsonLinesSink(path)
    with store.client() as client:
        first = list(client.orders.iter(page_size=40))
        store.update_order(first[0].id, status=200)
        changed = client.orders.get(first[0].id)
    assert changed is not None
    sink.write(first)
    sink.write([changed])
    back = list(mo.read_jsonl(path))
    assert len(back) == len(first) + 1
    newest = latest_by_id(mo.read_jsonl(path))
    assert newest[changed.id] == changed
    assert len(newest) == len(first)


def test_read_jsonl_refusals(tmp_path: Path) -> None:
    with pytest.raises(mo.ArgumentError, match="no JSON Lines file"):
        mo.read_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(mo.ArgumentError, match="path or an open file"):
        mo.read_jsonl(42)  # type: ignore[arg-type]


# -- SQLite ---------------------------------------------------------------------------------------------


def test_read_sqlite_gives_back_the_synced_orders(tmp_path: Path) -> None:
    store = FakeStore(orders=70, seed=9)
    path = tmp_path / "orders.db"
    with store.client() as client, SQLiteSink(path) as sink:
        OrderSync(client, sink, batch_size=25).run()
        store.update_order(next(iter(store.truth())), status=300)
        OrderSync(client, sink, batch_size=25).run()
        # Read while the sink is still open (WAL): the reader opens the file read-only.
        back = list(mo.read_sqlite(path, batch_size=7))
        expected = {o.id: o for o in client.orders.iter(page_size=50)}
    assert [o.id for o in back] == sorted(expected)
    assert {o.id: o for o in back} == expected


def test_read_sqlite_refusals(tmp_path: Path) -> None:
    with pytest.raises(mo.ArgumentError, match="no SQLite database"):
        mo.read_sqlite(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(mo.ArgumentError, match="not a mivaorders sync database"):
        list(mo.read_sqlite(other))
    with pytest.raises(mo.ArgumentError, match="batch_size"):
        mo.read_sqlite(other, batch_size=0)


# -- what the command line writes -----------------------------------------------------------------------


@pytest.mark.slow
def test_reads_what_the_cli_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mivaorders.cli import main

    store = FakeStore(orders=40, seed=6)
    for name in ("MIVA_CONFIG", "MIVA_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with store.serve() as endpoint:
        monkeypatch.setenv("MIVA_ENDPOINT", endpoint)
        monkeypatch.setenv("MIVA_STORE_CODE", store.store_code)
        monkeypatch.setenv("MIVA_API_TOKEN", store.token)
        monkeypatch.setenv("MIVA_SIGNING_KEY", store.signing_key)
        assert main(["-q", "pull", "--since", "2000-01-01", "-o", "pulled.jsonl"]) == 0
        assert main(["-q", "sync", "--db", "synced.db"]) == 0
    truth = {oid: mo.structure_order(data) for oid, data in store.truth().items()}
    pulled = list(mo.read_jsonl(tmp_path / "pulled.jsonl"))
    assert {o.id for o in pulled} == set(truth)
    synced = list(mo.read_sqlite(tmp_path / "synced.db"))
    assert [o.id for o in synced] == sorted(truth)
    for order in (*pulled, *synced):
        assert order.total == truth[order.id].total
        assert order.items == truth[order.id].items
