"""Flat records for data frames: one dict per order or per item, plain values only.

Values are ``str``, ``int``, ``Decimal``, ``datetime``, ``bool`` or ``None`` (status codes become
their ``int``), so ``pandas.DataFrame(flatten_orders(orders))`` just works. Payment data is never
included; custom fields become ``cf.<module>.<code>`` columns (arrays joined with ``"|"``).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Iterator, Sized
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from typing import TypeAlias

import attrs

from ._exceptions import ArgumentError
from ._validate import shown
from .models import Order, OrderItem

__all__ = ["FlatValue", "flatten_items", "flatten_orders"]

FlatValue: TypeAlias = str | int | Decimal | datetime | bool | None

_PLAIN = (str, int, Decimal, datetime, bool, type(None))


def _is_scalar(tp: object) -> bool:
    args = [arg for arg in typing.get_args(tp) if arg is not type(None)] if typing.get_args(tp) else [tp]
    return len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], _PLAIN)


def _scalars(obj: attrs.AttrsInstance, prefix: str = "") -> dict[str, FlatValue]:
    record: dict[str, FlatValue] = {}
    for a in attrs.fields(type(obj)):
        if a.name in ("extra", "_wire_keys") or not _is_scalar(a.type):
            continue
        value = getattr(obj, a.name)
        if isinstance(value, IntEnum):
            record[prefix + a.name] = int(value)
        elif isinstance(value, _PLAIN):
            record[prefix + a.name] = value
    return record


def _count(value: Sized | None) -> int | None:
    return None if value is None else len(value)


def _checked(orders: Iterable[Order], function: str) -> Iterator[Order]:
    if isinstance(orders, (str, bytes, Order)) or not isinstance(orders, Iterable):
        raise ArgumentError(f"{function}() takes an iterable of Order, not {shown(orders)}")
    for order in orders:
        if not isinstance(order, Order):
            raise ArgumentError(f"{function}() takes Order objects, not {shown(order)}")
        yield order


def flatten_orders(orders: Iterable[Order]) -> list[dict[str, FlatValue]]:
    """One record per order: base and on-demand scalar columns, the customer's login, collection
    sizes (``None`` when not requested), payment totals, and custom fields."""
    records = []
    for order in _checked(orders, "flatten_orders"):
        record = _scalars(order)
        customer = order.customer
        record["customer_id"] = customer.id if customer is not None else None
        record["customer_login"] = customer.login if customer is not None else None
        record["customer_account_id"] = customer.account_id if customer is not None else None
        for name in ("items", "charges", "coupons", "discounts", "payments", "notes", "shipments", "returns"):
            record[f"{name}_count"] = _count(getattr(order, name))
        items = order.items
        record["quantity_total"] = None if items is None else sum(item.quantity for item in items)
        for module, fields in (order.custom_field_values or {}).items():
            for code, value in fields.items():
                if isinstance(value, tuple):
                    value = "|".join(str(element) for element in value)
                elif not isinstance(value, _PLAIN):
                    value = str(value)
                record[f"cf.{module}.{code}"] = value
        records.append(record)
    return records


def _option_text(item: OrderItem) -> str:
    return "; ".join(f"{option.attr_code}={option.value}" for option in item.options)


def flatten_items(orders: Iterable[Order]) -> list[dict[str, FlatValue]]:
    """One record per order line (orders decoded without ``items`` contribute nothing).

    Each record carries the order's id, date, status and customer name, the line's scalar columns,
    its options as ``"attr=value; …"``, the line's discount total, and its shipment's tracking.
    """
    records = []
    for order in _checked(orders, "flatten_items"):
        if not order.items:
            continue
        for item in order.items:
            record: dict[str, FlatValue] = {
                "order_id": order.id,
                "orderdate": order.orderdate,
                "order_status": int(order.status),
                "customer_name": f"{order.bill_fname} {order.bill_lname}".strip(),
            }
            record.update(_scalars(item))
            record["options"] = _option_text(item)
            record["option_price_total"] = sum((option.price for option in item.options), Decimal(0))
            record["discount_total"] = sum((discount.discount for discount in item.discounts), Decimal(0))
            shipment = item.shipment
            record["shipment_code"] = shipment.code if shipment is not None else None
            record["ship_date"] = shipment.ship_date if shipment is not None else None
            record["tracktype"] = shipment.tracktype if shipment is not None else None
            record["tracknum"] = shipment.tracknum if shipment is not None else None
            record["subscription_id"] = item.subscription.id if item.subscription is not None else None
            record["part_count"] = len(item.parts)
            records.append(record)
    return records
