"""Order records -> Miva's JSON order objects, shaped by the requested on-demand columns.

Key order, omitted-when-empty rules and the two shipment forms follow order-model.md. Rendered orders are
cached as pre-encoded :class:`RawJSON`, keyed by the order's version and the column set, so a big page of
unchanged orders costs a dictionary lookup per order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from mivaorders._json import RawJSON, dumps

from ._data import (
    CUSTOM_FIELDS,
    CUSTOMFIELDS_MODULE,
    ORDERWORKFLOW_MODULE,
    PAYMENT_MODULES,
    SHIP_MODULES,
    CustomerRecord,
    ItemRecord,
    OrderRecord,
    PaymentRecord,
    money,
)
from ._workflow import QueueSet

__all__ = ["ALL_COLUMN_NAMES", "Columns", "RenderCache", "parse_columns", "render_order"]

STRING_COLUMNS = ("ship_method", "cust_login", "cust_pw_email", "business_title", "payment_module")
CHILD_COLUMNS = (
    "customer",
    "items",
    "charges",
    "coupons",
    "discounts",
    "payments",
    "payment_data",
    "notes",
    "parts",
    "shipments",
    "returns",
)
ALL_COLUMN_NAMES = STRING_COLUMNS + CHILD_COLUMNS
_KNOWN = {name.lower(): name for name in ALL_COLUMN_NAMES}
CF_PREFIX = "CustomField_Values:"
MODULE_CODES = ("customfields", "orderworkflow")


@attrs.frozen
class Columns:
    """A resolved set of on-demand columns (hashable: it is part of the render cache key)."""

    names: frozenset[str] = frozenset()
    # (module, field codes) in the store's module order; None = no CustomField_Values key at all
    custom: tuple[tuple[str, tuple[str, ...]], ...] | None = None

    def has(self, name: str) -> bool:
        return name in self.names

    def with_names(self, *extra: str) -> Columns:
        return Columns(self.names | frozenset(extra), self.custom)


def module_fields(module: str, queues: QueueSet) -> tuple[str, ...]:
    if module == "customfields":
        return tuple(f.code for f in CUSTOM_FIELDS)
    if module == "orderworkflow":
        return ("auditlog", *(q.code for q in queues.queues))
    return ()


def parse_columns(values: Iterable[Any], queues: QueueSet) -> Columns:
    """``ondemandcolumns`` values: names case-insensitive, unknowns ignored, three custom-field forms."""
    names: set[str] = set()
    wanted: dict[str, set[str]] = {}
    any_custom = False
    for value in values:
        if not isinstance(value, str) or not value:
            continue
        if value.startswith(CF_PREFIX):
            rest = value[len(CF_PREFIX) :]
            module, _, code = rest.partition(":")
            modules = MODULE_CODES if rest == "*" else (module,) if module in MODULE_CODES else ()
            for mod in modules:
                fields = module_fields(mod, queues)
                picked = fields if rest == "*" or code == "*" else tuple(f for f in fields if f == code)
                if picked:
                    wanted.setdefault(mod, set()).update(picked)
                    any_custom = True
            continue
        known = _KNOWN.get(value.lower())
        if known is not None:
            names.add(known)
    custom = None
    if any_custom:
        custom = tuple(
            (mod, tuple(f for f in module_fields(mod, queues) if f in wanted[mod]))
            for mod in MODULE_CODES
            if mod in wanted
        )
    return Columns(frozenset(names), custom)


def all_columns(queues: QueueSet) -> Columns:
    return parse_columns((*ALL_COLUMN_NAMES, "CustomField_Values:*"), queues)


# ----------------------------------------------------------------------------------------------- pieces


def ship_method(order: OrderRecord) -> str:
    ship_id = order.row["ship_id"]
    if ship_id == 0:
        return "None"
    module = SHIP_MODULES.get(ship_id)
    if module is None:
        return "Unknown"
    return module[2].get(order.row["ship_data"], "Unknown")


def payment_module_name(order: OrderRecord) -> str:
    pay_id = order.row["pay_id"]
    if pay_id == 0:
        return "None"
    module = PAYMENT_MODULES.get(pay_id)
    return "Unknown" if module is None else str(module["name"])


def string_column(order: OrderRecord, name: str) -> str:
    cust = order.customer
    if name == "ship_method":
        return ship_method(order)
    if name == "payment_module":
        return payment_module_name(order)
    if cust is None:
        return ""
    if name == "cust_login":
        return cust.login
    if name == "cust_pw_email":
        return cust.pw_email
    return cust.business_title  # business_title


def render_customer(cust: CustomerRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": cust.id,
        "account_id": cust.account_id,
        "login": cust.login,
        "pw_email": cust.pw_email,
        "ship_id": cust.ship_id,
        "ship_res": cust.ship_res,
    }
    for key, value in cust.ship.items():
        out["ship_" + key] = value
    out["bill_id"] = cust.bill_id
    for key, value in cust.bill.items():
        out["bill_" + key] = value
    avg = (cust.order_tot / cust.order_cnt) if cust.order_cnt else Decimal(0)
    out.update(
        {
            "tax_exempt": cust.tax_exempt,
            "order_cnt": cust.order_cnt,
            "order_avg": avg.quantize(Decimal("0.01")),
            "formatted_order_avg": money(avg),
            "order_tot": cust.order_tot.quantize(Decimal("0.01")),
            "formatted_order_tot": money(cust.order_tot),
            "note_count": 0,
            "dt_created": cust.dt_created,
            "dt_updated": cust.dt_updated,
            "dt_login": cust.dt_login,
            "dt_pwchg": cust.dt_pwchg,
            "credit": Decimal("0.00"),
            "formatted_credit": money(Decimal(0)),
        }
    )
    return out


def short_shipment(shp: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in shp.items():
        if key == "batch_id":
            continue
        out[key] = value
        if key == "weight":
            out["formatted_weight"] = f"{value} pounds"
    return out


def full_shipment(shp: dict[str, Any]) -> dict[str, Any]:
    return dict(shp)


def render_item(
    order: OrderRecord, item: ItemRecord, cols: Columns, *, nested: bool = False
) -> dict[str, Any]:
    """One line. ``nested`` lines (inside shipments and returns) never carry ``parts``, as in the fixtures."""
    row = item.row
    out = dict(row)
    if not row["rma_id"]:
        del out["rma_code"], out["rma_dt_issued"], out["rma_dt_recvd"]
    if row["shpmnt_id"]:
        shp = next((s for s in order.shipments if s["id"] == row["shpmnt_id"]), None)
        if shp is not None:
            out["shipment"] = short_shipment(shp)
    if item.discounts:
        out["discounts"] = [dict(d) for d in item.discounts]
    if item.options:
        out["options"] = [dict(o) for o in item.options]
    if item.parts and cols.has("parts") and not nested:
        qty = row["quantity"]
        parts = []
        for part in item.parts:
            p = dict(part)
            rendered = {k: p[k] for k in ("code", "sku", "name", "quantity")}
            rendered["total_quantity"] = p["quantity"] * qty
            rendered.update({k: p[k] for k in ("price", "cost", "weight", "formatted_weight")})
            parts.append(rendered)
        out["parts"] = parts
    if item.subscription is not None:
        out["subscription"] = _deep_copy(item.subscription)
    return out


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def decrypt_error(passphrase: str | None) -> str:
    # Invented texts (the real ones come from the store's encryption layer, which the LSK does not show).
    if not passphrase:
        return "MER-SIM-ENC-00001: A passphrase is required to decrypt this payment's data"
    return "MER-SIM-ENC-00002: The passphrase is not correct"


def render_payment(
    pay: PaymentRecord, cols: Columns, passphrase_ok: bool, passphrase: str | None
) -> dict[str, Any]:
    out = dict(pay.row)
    module = PAYMENT_MODULES.get(out["pay_id"])
    if not cols.has("payment_data") or module is None:
        return out
    if out["pay_secid"] == 0:
        out["decrypt_status"] = "not_encrypted"
        decrypted = True
    elif passphrase_ok:
        out["decrypt_status"] = "decrypted"
        decrypted = True
    else:
        out["decrypt_status"] = "not_decrypted"
        out["decrypt_error"] = decrypt_error(passphrase)
        decrypted = False
    out["description"] = pay.description
    out["module"] = dict(module)
    if decrypted and pay.data:
        out["data"] = dict(pay.data)
    return out


def custom_values(order: OrderRecord, cols: Columns, queues: QueueSet) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for module, codes in cols.custom or ():
        values: dict[str, Any] = {}
        for code in codes:
            values[code] = custom_value(order, module, code, queues)
        result[module] = values
    return result


def custom_value(order: OrderRecord, module: str, code: str, queues: QueueSet) -> Any:
    if module == "customfields":
        value = order.custom.get(code, "")
        return list(value) if isinstance(value, list) else value
    if code == "auditlog":
        return order.auditlog
    queue = queues.by_code(code)
    return "1" if queue is not None and queue.id in order.queues else ""


_HEAD_END = "ship_data"


def _with_items(order: OrderRecord, rendered: dict[str, Any], link: str, cols: Columns) -> dict[str, Any]:
    """A shipment or return with (when items are asked for) the lines whose ``link`` column points at it."""
    if cols.has("items"):
        rendered["items"] = [
            render_item(order, it, cols, nested=True) for it in order.items if it.row[link] == rendered["id"]
        ]
    return rendered


def render_order(
    order: OrderRecord,
    cols: Columns,
    queues: QueueSet,
    *,
    passphrase_ok: bool = False,
    passphrase: str | None = None,
) -> dict[str, Any]:
    """One order object, freshly built (the caller may keep or change it)."""
    out: dict[str, Any] = {}
    for key, value in order.row.items():
        out[key] = value
        if key == _HEAD_END:
            for name in STRING_COLUMNS:
                if cols.has(name):
                    out[name] = string_column(order, name)
    if cols.has("customer") and order.customer is not None:
        out["customer"] = render_customer(order.customer)
    if cols.has("items"):
        out["items"] = [render_item(order, it, cols) for it in order.items]
    if cols.has("charges"):
        out["charges"] = [dict(c) for c in order.charges]
    if cols.has("coupons"):
        out["coupons"] = [dict(c) for c in order.coupons]
    if cols.has("discounts"):
        out["discounts"] = [dict(d) for d in order.discounts]
    if cols.has("payments"):
        out["payments"] = [render_payment(p, cols, passphrase_ok, passphrase) for p in order.payments]
    if cols.has("notes"):
        out["notes"] = [dict(n) for n in order.notes]
    if cols.has("shipments"):
        out["shipments"] = [_with_items(order, full_shipment(s), "shpmnt_id", cols) for s in order.shipments]
    if cols.has("returns"):
        out["returns"] = [_with_items(order, dict(r), "rma_id", cols) for r in order.returns]
    if cols.custom is not None:
        out["CustomField_Values"] = custom_values(order, cols, queues)
    return out


def _needs_passphrase(order: OrderRecord, cols: Columns) -> bool:
    return (
        cols.has("payments") and cols.has("payment_data") and any(p.row["pay_secid"] for p in order.payments)
    )


class RenderCache:
    """LRU of encoded orders, bounded by total bytes. Stale versions simply age out."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._max = max_bytes
        self._size = 0
        self._entries: OrderedDict[tuple[Any, ...], RawJSON] = OrderedDict()
        self._lock = threading.Lock()

    def encoded(
        self,
        order: OrderRecord,
        cols: Columns,
        queues: QueueSet,
        *,
        passphrase_ok: bool,
        passphrase: str | None,
    ) -> RawJSON:
        secret_state: tuple[bool, bool] = (False, False)
        if _needs_passphrase(order, cols):
            # the decrypt_error text depends on whether a passphrase was given at all
            secret_state = (passphrase_ok, bool(passphrase))
        cust = order.customer
        key = (order.id, order.version, cust.version if cust else -1, cols, secret_state)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        raw = RawJSON(
            dumps(render_order(order, cols, queues, passphrase_ok=passphrase_ok, passphrase=passphrase))
        )
        with self._lock:
            if key not in self._entries:
                self._entries[key] = raw
                self._size += len(raw.data)
                while self._size > self._max and self._entries:
                    _, old = self._entries.popitem(last=False)
                    self._size -= len(old.data)
        return raw

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._size = 0


def field_definitions(queues: QueueSet) -> list[dict[str, Any]]:
    """``OrderCustomFieldList_Load`` data: customfields fields, then orderworkflow's auditlog and queues."""
    out: list[dict[str, Any]] = []
    for f in CUSTOM_FIELDS:
        entry: dict[str, Any] = {
            "code": f.code,
            "name": f.name,
            "type": f.type,
            "public": False,
            "readonly": False,
            "searchable": True,
            "sortable": True,
            "module": dict(CUSTOMFIELDS_MODULE),
        }
        if f.type == "choice":
            entry["choices"] = list(f.choices)
        out.append(entry)
    out.append(
        {
            "code": "auditlog",
            "name": "Audit Log",
            "type": "textarea",
            "public": False,
            "readonly": True,
            "searchable": True,
            "sortable": False,
            "module": dict(ORDERWORKFLOW_MODULE),
        }
    )
    out.extend(
        {
            "code": q.code,
            "name": q.name,
            "type": "checkbox",
            "public": False,
            "readonly": False,
            "searchable": True,
            "sortable": True,
            "module": dict(ORDERWORKFLOW_MODULE),
        }
        for q in queues.queues
    )
    return out
