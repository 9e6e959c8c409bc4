"""Orders as Arrow tables and pandas DataFrames, with money that stays exact *and* numeric.

``to_arrow(orders)`` builds a :class:`pyarrow.Table` (extra ``arrow``); ``to_pandas(orders)`` turns it into a
:class:`pandas.DataFrame` whose every column is a ``pd.ArrowDtype`` (extra ``pandas``). ``table="orders"``
gives one row per order, ``table="items"`` one row per order line.

- Money, prices and weights are ``decimal128(38, scale)`` columns: sums and means are exact decimal
  arithmetic, and every value keeps the digits Miva sent. The scale of a column is the largest number of
  decimals among its values (at least 2), so nothing is ever rounded.
- Timestamps are ``timestamp[us, tz=UTC]`` (aware UTC); Miva's "unset" is null.
- Each status code (``status``, ``pay_status``, ``stk_status``, an item's ``status``) is an integer column
  followed by ``<name>_label`` with the enum's name (``"SHIPPED"``, ``"UNKNOWN_700"``).
- Collections become counts (``items_count`` ... null when the column was not requested); custom fields are
  one ``custom_fields`` map column of ``"module.code"`` to text. Payment data is never included.

Any iterable of orders works: a ``Page``, an ``OrderIterator`` (consumed page by page; the table is built in
batches), a list, :func:`mivaorders.read_jsonl`.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from typing import TYPE_CHECKING, Literal, TypeAlias

import attrs

from ._exceptions import ArgumentError
from ._flatten import FlatValue, _option_text
from .models import Order, OrderItem, _JsonDateTime

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["TableName", "to_arrow", "to_pandas"]

#: Which table to build: one row per order, or one row per order line.
TableName: TypeAlias = Literal["orders", "items"]

_BATCH_ROWS = 10_000
_PRECISION = 38  # decimal128's widest: sums of a column never overflow it
_MIN_SCALE = 2

_Kind: TypeAlias = Literal["int", "bool", "str", "decimal", "time", "code", "label", "map"]
_Getter: TypeAlias = Callable[[object], object]


def _arrow() -> typing.Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError(
            "mivaorders.to_arrow() needs pyarrow: pip install 'mivaorders[arrow]' (or the 'pandas' extra)"
        ) from None
    return pyarrow


@attrs.frozen
class _Column:
    name: str
    kind: _Kind
    get: _Getter


def _base_type(tp: object) -> object:
    # A timestamp's runtime annotation also names the wire form the decoder accepts ({"time_t": ...}).
    args = [arg for arg in typing.get_args(tp) if arg is not type(None) and arg is not _JsonDateTime]
    if typing.get_origin(tp) is not None and len(args) == 1:
        return args[0]
    return tp


def _attribute(name: str) -> _Getter:
    def get(obj: object) -> object:
        return getattr(obj, name)

    return get


def _label(name: str) -> _Getter:
    def get(obj: object) -> object:
        value = getattr(obj, name)
        return None if value is None else value._name_

    return get


def _scalar_columns(cls: type, prefix: str = "", skip: frozenset[str] = frozenset()) -> list[_Column]:
    """The model's scalar attributes, in declaration order; enums get a label column after the code."""
    columns: list[_Column] = []
    for a in attrs.fields(cls):
        if a.name in skip or a.name in ("extra", "_wire_keys"):
            continue
        tp = _base_type(a.type)
        name = prefix + a.name
        if not isinstance(tp, type):
            continue
        if issubclass(tp, IntEnum):
            columns.append(_Column(name, "code", _attribute(a.name)))
            columns.append(_Column(f"{name}_label", "label", _label(a.name)))
        elif issubclass(tp, bool):
            columns.append(_Column(name, "bool", _attribute(a.name)))
        elif issubclass(tp, int):
            columns.append(_Column(name, "int", _attribute(a.name)))
        elif issubclass(tp, Decimal):
            columns.append(_Column(name, "decimal", _attribute(a.name)))
        elif issubclass(tp, datetime):
            columns.append(_Column(name, "time", _attribute(a.name)))
        elif issubclass(tp, str):
            columns.append(_Column(name, "str", _attribute(a.name)))
    return columns


_COLLECTIONS = ("items", "charges", "coupons", "discounts", "payments", "notes", "shipments", "returns")


def _count(name: str) -> _Getter:
    def get(order: object) -> object:
        value = getattr(order, name)
        return None if value is None else len(value)

    return get


def _custom_fields(order: object) -> object:
    assert isinstance(order, Order)
    if order.custom_field_values is None:
        return None
    pairs: list[tuple[str, str | None]] = []
    for module, fields in order.custom_field_values.items():
        for code, value in fields.items():
            if value is None:
                text = None
            elif isinstance(value, tuple):
                text = "|".join(str(element) for element in value)
            elif isinstance(value, bool):
                text = "1" if value else "0"
            else:
                text = str(value)
            pairs.append((f"{module}.{code}", text))
    return pairs


def _customer(name: str) -> _Getter:
    def get(order: object) -> object:
        customer = getattr(order, "customer", None)
        return None if customer is None else getattr(customer, name)

    return get


def _quantity_total(order: object) -> object:
    items = getattr(order, "items", None)
    return None if items is None else sum(item.quantity for item in items)


_ORDER_COLUMNS: tuple[_Column, ...] = (
    *_scalar_columns(Order),
    _Column("customer_login", "str", _customer("login")),
    _Column("customer_account_id", "int", _customer("account_id")),
    *(_Column(f"{name}_count", "int", _count(name)) for name in _COLLECTIONS),
    _Column("quantity_total", "int", _quantity_total),
    _Column("custom_fields", "map", _custom_fields),
)


# An item row is (order, item): the order's identity and the line's own columns.
_Row: TypeAlias = tuple[Order, OrderItem]


def _of_order(get: Callable[[Order], object]) -> _Getter:
    def of_row(row: object) -> object:
        return get(typing.cast("_Row", row)[0])

    return of_row


def _of_item(get: Callable[[OrderItem], object]) -> _Getter:
    def of_row(row: object) -> object:
        return get(typing.cast("_Row", row)[1])

    return of_row


def _customer_name(order: Order) -> str:
    return f"{order.bill_fname} {order.bill_lname}".strip()


def _shipment(name: str) -> Callable[[OrderItem], FlatValue]:
    def get(item: OrderItem) -> FlatValue:
        shipment = item.shipment
        value: FlatValue = None if shipment is None else getattr(shipment, name)
        return value

    return get


_ITEM_COLUMNS: tuple[_Column, ...] = (
    _Column("order_id", "int", _of_order(_attribute("id"))),
    _Column("orderdate", "time", _of_order(_attribute("orderdate"))),
    _Column("order_status", "code", _of_order(_attribute("status"))),
    _Column("order_status_label", "label", _of_order(_label("status"))),
    _Column("customer_name", "str", _of_order(_customer_name)),
    *(
        _Column(c.name, c.kind, _of_item(c.get))
        for c in _scalar_columns(OrderItem, skip=frozenset({"order_id"}))
    ),
    _Column("options", "str", _of_item(_option_text)),
    _Column(
        "option_price_total", "decimal", _of_item(lambda i: sum((o.price for o in i.options), Decimal(0)))
    ),
    _Column(
        "discount_total", "decimal", _of_item(lambda i: sum((d.discount for d in i.discounts), Decimal(0)))
    ),
    _Column("shipment_code", "str", _of_item(_shipment("code"))),
    _Column("ship_date", "time", _of_item(_shipment("ship_date"))),
    _Column("tracktype", "str", _of_item(_shipment("tracktype"))),
    _Column("tracknum", "str", _of_item(_shipment("tracknum"))),
    _Column(
        "subscription_id",
        "int",
        _of_item(lambda i: None if i.subscription is None else i.subscription.id),
    ),
    _Column("part_count", "int", _of_item(lambda i: len(i.parts))),
)


def _scale(values: Sequence[object]) -> int:
    scale = _MIN_SCALE
    for value in values:
        if isinstance(value, Decimal):
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int) and -exponent > scale:
                scale = -exponent
    return scale


def _arrow_type(lib: typing.Any, kind: _Kind, scale: int) -> typing.Any:
    if kind == "decimal":
        return lib.decimal128(_PRECISION, scale)
    if kind == "time":
        return lib.timestamp("us", tz="UTC")
    if kind == "map":
        return lib.map_(lib.string(), lib.string())
    return {
        "int": lib.int64(),
        "bool": lib.bool_(),
        "str": lib.string(),
        "code": lib.int32(),
        "label": lib.string(),
    }[kind]


def _check_decimals(name: str, values: Sequence[object]) -> None:
    for value in values:
        if isinstance(value, Decimal) and not value.is_finite():
            raise ArgumentError(f"column {name!r}: cannot store the non-finite value {value} exactly")
        if isinstance(value, Decimal) and _scale([value]) > _PRECISION:
            raise ArgumentError(f"column {name!r}: {value} has more digits than decimal128 holds")


def _batch(lib: typing.Any, columns: Sequence[_Column], rows: Sequence[object]) -> typing.Any:
    arrays = []
    fields = []
    for column in columns:
        values = [column.get(row) for row in rows]
        scale = 0
        if column.kind == "decimal":
            _check_decimals(column.name, values)
            scale = _scale(values)
        arrow_type = _arrow_type(lib, column.kind, scale)
        try:
            arrays.append(lib.array(values, type=arrow_type))
        except (lib.ArrowInvalid, lib.ArrowTypeError, OverflowError) as exc:
            message = f"column {column.name!r} cannot be stored exactly as {arrow_type}: {exc}"
            raise ArgumentError(message) from None
        fields.append(lib.field(column.name, arrow_type))
    return lib.RecordBatch.from_arrays(arrays, schema=lib.schema(fields))


def _rows(orders: Iterable[Order], table: TableName) -> Iterator[object]:
    if table == "orders":
        for order in orders:
            if not isinstance(order, Order):
                raise ArgumentError(f"to_arrow() takes orders, not {type(order).__name__}")
            yield order
        return
    for order in orders:
        if not isinstance(order, Order):
            raise ArgumentError(f"to_arrow() takes orders, not {type(order).__name__}")
        for item in order.items or ():
            yield (order, item)


def _unify(lib: typing.Any, columns: Sequence[_Column], batches: list[typing.Any]) -> typing.Any:
    """One schema for every batch: each decimal column at the largest scale any batch needed (lossless)."""
    fields = []
    for index, column in enumerate(columns):
        scale = 0
        if column.kind == "decimal":
            scale = max(batch.schema.field(index).type.scale for batch in batches)
        fields.append(lib.field(column.name, _arrow_type(lib, column.kind, scale)))
    schema = lib.schema(fields)
    return [batch if batch.schema.equals(schema) else batch.cast(schema) for batch in batches], schema


def to_arrow(orders: Iterable[Order], *, table: TableName = "orders") -> pa.Table:
    """An Arrow table of ``orders`` (``table="orders"``) or of their lines (``table="items"``).

    Money is ``decimal128`` (exact), timestamps ``timestamp[us, tz=UTC]``, status codes come with
    ``*_label`` columns. Needs the ``arrow`` extra (``pip install 'mivaorders[arrow]'``).

    Orders decoded without ``items`` contribute no rows to the items table.
    """
    if table not in ("orders", "items"):
        raise ArgumentError(f"table must be 'orders' or 'items', not {table!r}")
    lib = _arrow()
    columns = _ORDER_COLUMNS if table == "orders" else _ITEM_COLUMNS
    batches = []
    rows: list[object] = []
    for row in _rows(orders, table):
        rows.append(row)
        if len(rows) == _BATCH_ROWS:
            batches.append(_batch(lib, columns, rows))
            rows = []
    if rows or not batches:
        batches.append(_batch(lib, columns, rows))
    batches, schema = _unify(lib, columns, batches)
    result: pa.Table = lib.Table.from_batches(batches, schema=schema)
    return result


def to_pandas(orders: Iterable[Order], *, table: TableName = "orders") -> pd.DataFrame:
    """:func:`to_arrow` as a pandas DataFrame whose columns are all ``pd.ArrowDtype``.

    ``df["total"].sum()`` is an exact ``Decimal``; ``df["orderdate"]`` is aware UTC. Needs the ``pandas``
    extra (``pip install 'mivaorders[pandas]'``).
    """
    try:
        import pandas
    except ImportError:
        raise ImportError("mivaorders.to_pandas() needs pandas: pip install 'mivaorders[pandas]'") from None
    arrow_table = to_arrow(orders, table=table)
    frame: pd.DataFrame = arrow_table.to_pandas(types_mapper=pandas.ArrowDtype)
    return frame
