"""``to_arrow`` / ``to_pandas``: money exact *and* numeric, labels next to codes, aware UTC timestamps."""

from __future__ import annotations

import sys
from decimal import Decimal

import attrs
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import mivaorders as mo
from mivaorders import tables
from mivaorders.models import OrderStatus
from mivaorders.testing import FakeStore


@pytest.fixture(scope="module")
def orders() -> list[mo.Order]:
    store = FakeStore(orders=240, seed=7)
    with store.client() as client:
        return list(client.orders.iter(page_size=100))


def test_order_totals_sum_exactly(orders: list[mo.Order]) -> None:
    table = mo.to_arrow(orders)
    expected = sum((o.total for o in orders), Decimal(0))
    assert pa.types.is_decimal(table.schema.field("total").type)
    assert pc.sum(table["total"]).as_py() == expected
    frame = mo.to_pandas(orders)
    total = frame["total"].sum()
    assert isinstance(total, Decimal)
    assert total == expected
    for name in ("total_ship", "total_tax", "total_capt", "net_capt"):
        assert frame[name].sum() == sum((getattr(o, name) for o in orders), Decimal(0)), name
    # Each value, not just the sum, is the one Miva sent.
    assert table["total"].to_pylist() == [o.total for o in orders]


def test_line_totals_sum_exactly(orders: list[mo.Order]) -> None:
    lines = [item for o in orders for item in o.items or ()]
    frame = mo.to_pandas(orders, table="items")
    assert len(frame) == len(lines) > 0
    assert frame["total"].sum() == sum((i.total for i in lines), Decimal(0))
    assert frame["price"].to_list() == [i.price for i in lines]
    assert frame["order_id"].to_list() == [o.id for o in orders for _ in o.items or ()]
    assert (frame["quantity"] * 1).sum() == sum(i.quantity for i in lines)


def test_status_labels_sit_next_to_codes(orders: list[mo.Order]) -> None:
    odd = attrs.evolve(orders[0], status=OrderStatus(700))
    table = mo.to_arrow([odd, *orders[1:5]])
    names = table.column_names
    assert names[names.index("status") + 1] == "status_label"
    assert names[names.index("pay_status") + 1] == "pay_status_label"
    assert table["status"].to_pylist()[0] == 700
    assert table["status_label"].to_pylist() == ["UNKNOWN_700", *(o.status.name for o in orders[1:5])]
    items = mo.to_arrow(orders[:20], table="items")
    assert {"status", "status_label", "order_status", "order_status_label"} <= set(items.column_names)


def test_timestamps_are_aware_utc(orders: list[mo.Order]) -> None:
    table = mo.to_arrow(orders)
    field = table.schema.field("orderdate").type
    assert isinstance(field, pa.TimestampType)
    assert field.tz == "UTC"
    assert table["orderdate"].to_pylist() == [o.orderdate for o in orders]
    frame = mo.to_pandas(orders)
    first = frame["orderdate"].iloc[0]
    assert first.tzinfo is not None
    assert first.to_pydatetime() == orders[0].orderdate
    assert first.utcoffset().total_seconds() == 0
    unset = attrs.evolve(orders[0], dt_instock=None)
    assert mo.to_arrow([unset])["dt_instock"].to_pylist() == [None]


def test_every_pandas_column_is_an_arrow_dtype(orders: list[mo.Order]) -> None:
    for table in ("orders", "items"):
        frame = mo.to_pandas(orders[:30], table=table)
        assert all(isinstance(dtype, pd.ArrowDtype) for dtype in frame.dtypes), table


def test_scale_follows_the_digits_and_never_rounds(
    orders: list[mo.Order], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of 2: the precise value arrives in a later batch, so batches must be widened losslessly.
    monkeypatch.setattr(tables, "_BATCH_ROWS", 2)
    precise = attrs.evolve(orders[4], total=Decimal("1234.56789"))
    whole = attrs.evolve(orders[1], total=Decimal("20"))
    batch = [orders[0], whole, orders[2], orders[3], precise]
    table = mo.to_arrow(batch)
    assert table.schema.field("total").type == pa.decimal128(38, 5)
    assert [str(v) for v in table["total"].to_pylist()][-1] == "1234.56789"
    assert pc.sum(table["total"]).as_py() == sum((o.total for o in batch), Decimal(0))


def test_collections_become_counts(orders: list[mo.Order]) -> None:
    with_items = next(o for o in orders if o.items)
    bare = attrs.evolve(with_items, items=None, payments=None)
    table = mo.to_arrow([with_items, bare])
    assert table["items_count"].to_pylist() == [len(with_items.items or ()), None]
    assert table["payments_count"].to_pylist()[1] is None
    assert mo.to_arrow([bare], table="items").num_rows == 0


def test_no_payment_data_and_no_nested_objects(orders: list[mo.Order]) -> None:
    names = set(mo.to_arrow(orders[:5]).column_names)
    assert "payments" not in names
    assert not {n for n in names if n.startswith(("decrypt", "card"))}
    assert "payments_count" in names


def test_custom_fields_are_a_map(orders: list[mo.Order]) -> None:
    order = next(o for o in orders if o.custom_field_values)
    row = mo.to_arrow([order])["custom_fields"].to_pylist()[0]
    assert row
    keys = {key for key, _ in row}
    for module, fields in (order.custom_field_values or {}).items():
        for code in fields:
            assert f"{module}.{code}" in keys


def test_streams_an_iterator() -> None:
    store = FakeStore(orders=60, seed=2)
    with store.client() as client:
        pull = client.orders.iter(page_size=25, columns=())
        table = mo.to_arrow(pull)
    assert table.num_rows == 60
    assert pull.exhausted
    assert set(table["id"].to_pylist()) == set(store.truth())


def test_empty_input_has_the_schema() -> None:
    table = mo.to_arrow([])
    assert table.num_rows == 0
    assert "total" in table.column_names
    assert pa.types.is_decimal(table.schema.field("total").type)


def test_refusals(orders: list[mo.Order]) -> None:
    with pytest.raises(mo.ArgumentError, match="non-finite"):
        mo.to_arrow([attrs.evolve(orders[0], total=Decimal("NaN"))])
    with pytest.raises(mo.ArgumentError, match="table must be"):
        mo.to_arrow(orders, table="lines")  # type: ignore[arg-type]
    with pytest.raises(mo.ArgumentError, match="takes orders"):
        mo.to_arrow([{"id": 1}])  # type: ignore[list-item]
    huge = attrs.evolve(orders[0], total=Decimal("1" * 40))
    with pytest.raises(mo.ArgumentError, match="'total'"):
        mo.to_arrow([huge])


def test_utc_everywhere(orders: list[mo.Order]) -> None:
    frame = mo.to_pandas(orders[:10])
    assert str(frame["orderdate"].dtype) == "timestamp[us, tz=UTC][pyarrow]"


def test_a_clear_message_when_an_extra_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match=r"mivaorders\[pandas\]"):
        mo.to_pandas([])
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"mivaorders\[arrow\]"):
        mo.to_arrow([])
