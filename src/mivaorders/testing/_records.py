"""The records the simulated store keeps: customers, orders and their items and payments, and the store."""

from __future__ import annotations

import random
from typing import Any

from ._catalog import (
    BUSINESSES,
    CUSTOM_FIELDS,
)
from ._values import (
    ZERO,
)


class CustomerRecord:
    __slots__ = (
        "account_id",
        "bill",
        "bill_id",
        "dt_created",
        "dt_login",
        "dt_pwchg",
        "dt_updated",
        "id",
        "login",
        "member",
        "order_cnt",
        "order_tot",
        "pw_email",
        "ship",
        "ship_id",
        "ship_res",
        "tax_exempt",
        "version",
    )

    def __init__(self) -> None:
        self.id = 0
        self.account_id = 0
        self.login = ""
        self.pw_email = ""
        self.ship_id = 0
        self.bill_id = 0
        self.ship: dict[str, str] = {}
        self.bill: dict[str, str] = {}
        self.ship_res = True
        self.tax_exempt = False
        self.order_cnt = 0
        self.order_tot = ZERO
        self.dt_created = 0
        self.dt_updated = 0
        self.dt_login = 0
        self.dt_pwchg = 0
        self.member = False
        self.version = 0

    @property
    def business_title(self) -> str:
        return BUSINESSES.get(self.account_id, "")


class ItemRecord:
    __slots__ = ("discounts", "options", "parts", "row", "subscription")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.options: list[dict[str, Any]] = []
        self.discounts: list[dict[str, Any]] = []
        self.parts: list[dict[str, Any]] = []  # without total_quantity (computed at render time)
        self.subscription: dict[str, Any] | None = None


class PaymentRecord:
    __slots__ = ("data", "description", "row")

    def __init__(self, row: dict[str, Any], description: str, data: dict[str, str]) -> None:
        self.row = row
        self.description = description
        self.data = data


class OrderRecord:
    __slots__ = (
        "auditlog",
        "charges",
        "coupons",
        "custom",
        "customer",
        "discounts",
        "items",
        "notes",
        "payments",
        "queues",
        "returns",
        "row",
        "shipments",
        "version",
    )

    def __init__(self, row: dict[str, Any], customer: CustomerRecord | None) -> None:
        self.row = row
        self.customer = customer
        self.items: list[ItemRecord] = []
        self.charges: list[dict[str, Any]] = []
        self.coupons: list[dict[str, Any]] = []
        self.discounts: list[dict[str, Any]] = []
        self.payments: list[PaymentRecord] = []
        self.notes: list[dict[str, Any]] = []
        self.shipments: list[dict[str, Any]] = []
        self.returns: list[dict[str, Any]] = []
        self.custom: dict[str, Any] = {f.code: ([] if f.type == "multitext" else "") for f in CUSTOM_FIELDS}
        self.auditlog = ""
        self.queues: set[int] = set()
        self.version = 0

    @property
    def id(self) -> int:
        return int(self.row["id"])

    def touch(self, now: int) -> None:
        """Any change: new render version, ``dt_updated`` = now."""
        self.row["dt_updated"] = now
        self.version += 1

    def add_note(self, text: str, now: int, *, user_id: int = 0, admin_user: str = "", note_id: int) -> None:
        cust = self.customer
        self.notes.append(
            {
                "id": note_id,
                "cust_id": self.row["cust_id"],
                "account_id": cust.account_id if cust else 0,
                "order_id": self.id,
                "user_id": user_id,
                "notetext": text,
                "dtstamp": now,
                "cust_login": cust.login if cust else "",
                "business_title": cust.business_title if cust else "",
                "admin_user": admin_user,
            }
        )
        self.row["note_count"] = len(self.notes)
        self.touch(now)


class Counters:
    """Id sequences. Order ids skip numbers (abandoned checkouts burn them)."""

    __slots__ = ("charge", "line", "note", "option", "order", "payment", "rma", "shipment", "subscription")

    def __init__(self) -> None:
        self.order = 100000
        self.line = 5000
        self.option = 9100
        self.charge = 800
        self.payment = 7000
        self.note = 880
        self.shipment = 300
        self.rma = 10
        self.subscription = 9000

    def next(self, name: str, step: int = 1) -> int:
        value: int = getattr(self, name) + step
        setattr(self, name, value)
        return value


class StoreData:
    __slots__ = ("counters", "customers", "orders", "rng")

    def __init__(self, rng: random.Random) -> None:
        self.orders: dict[int, OrderRecord] = {}  # ascending id order
        self.customers: dict[int, CustomerRecord] = {}
        self.counters = Counters()
        self.rng = rng  # for orders created after generation
