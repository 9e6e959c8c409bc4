"""StoreEngine: the domain half of the simulated Miva store (one function call in, one envelope out).

The protocol half (HTTP, authentication, envelopes, multicall) resolves the parameters and calls
:meth:`StoreEngine.execute`; tests and users drive the store's life through the control methods.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from ._answers import Envelope, error, validation_error
from ._clock import StoreClock
from ._data import (
    ADDRESS_KEYS,
    CUSTOM_FIELDS,
    PAYMENT_MODULES,
    OrderRecord,
    add_item,
    add_payment,
    build_order,
    generate,
    money,
    paused_gc,
    q2,
    recompute_payments,
    recompute_totals,
)
from ._params import Params
from ._query import FieldError, Query, compile_query, parse_list_params
from ._render import RenderCache, all_columns, field_definitions, render_order
from ._shipments import create_shipment, load_shipments, update_shipments
from ._workflow import VARIANTS, QueueSet, Workflows, seed_history

__all__ = ["StoreEngine"]

_BASE_EDITABLE = frozenset(
    {
        "batch_id",
        "status",
        "pay_status",
        "stk_status",
        "dt_instock",
        "ship_res",
        "ship_id",
        "ship_data",
        "source",
        "source_id",
    }
    | {f"{side}_{key}" for side in ("ship", "bill") for key in ADDRESS_KEYS}
)
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no", ""})


def field_value_error(field: str, detail: str) -> Envelope:
    return error(
        "MER-JSN-00018",
        f"Invalid value for field '{field}': {detail}",
        validation_error=True,
        error_field=field,
        error_field_message=detail,
        input_errors=True,
        error_fields=[{"error_field": field, "error_message": detail}],
    )


class StoreEngine:
    """An in-memory Miva store: generated orders, queues, workflows, and the order functions."""

    def __init__(
        self,
        *,
        orders: int = 500,
        seed: int = 1,
        store_code: str = "SIM",
        clock: StoreClock | None = None,
        workflow: str = "acknowledge",
        passphrase: str = "sim-passphrase",  # noqa: S107 - a documented fake
        ack_budget: int | None = None,
    ) -> None:
        if workflow not in VARIANTS:
            raise ValueError(f"unknown workflow {workflow!r}; expected one of {', '.join(VARIANTS)}")
        if orders < 0:
            raise ValueError("orders must be >= 0")
        self.store_code = store_code
        self.clock = clock if clock is not None else StoreClock()
        self._passphrase = passphrase
        self._ack_budget = ack_budget
        self._lock = threading.RLock()
        anchor = self.clock.now()
        self._queues = QueueSet()
        with paused_gc():
            self._data = generate(orders, seed, anchor)
            seed_history(self._data, self._queues, anchor, seed)
        self._workflows = Workflows(workflow, self._queues, self._data, self.clock.now)
        self._cache = RenderCache()
        self._ids: list[int] | None = None  # see _id_index
        self._functions: dict[str, Callable[[Params], Envelope]] = {
            "OrderList_Load_Query": self._order_list_load_query,
            "OrderCustomFieldList_Load": self._custom_field_list_load,
            "OrderCustomFields_Update": self._custom_fields_update,
            "OrderItemList_CreateShipment": self._create_shipment,
            "OrderShipmentList_Update": self._update_shipments,
            "OrderShipmentList_Load_Query": self._load_shipments,
        }
        self._module_functions: dict[str, Callable[[Params], Envelope]] = {
            "QueueOrderList_Load_Query": self._queue_order_list_load_query,
            "OrderList_Acknowledge": self._acknowledge,
        }

    def __repr__(self) -> str:
        return f"StoreEngine(store_code={self.store_code!r}, orders={len(self._data.orders)})"

    # ------------------------------------------------------------------------------------------ dispatch

    def execute(self, params: Params) -> dict[str, Any]:
        """Run one function call; always returns an envelope (Miva's error form for bad input)."""
        function = params.get("Function")
        if function is None or function == "":
            return error("MER-JSN-00024", "Missing required parameter Function")
        with self._lock:
            if function == "Module":
                return self._module(params)
            handler = self._functions.get(function) if isinstance(function, str) else None
            if handler is None:
                return error("invalid_function", "Invalid function")
            return handler(params)

    def _module(self, params: Params) -> Envelope:
        code = params.get("Module_Code")
        if code is None or code == "":
            return error("MER-JSN-00025", "Missing required parameter Module_Code")
        name = params.get("Module_Function")
        if name is None or name == "":
            return error("MER-JSN-00026", "Missing required parameter Module_Function")
        if not isinstance(code, str) or code.strip().lower() != "orderworkflow":
            return error("invalid_module", "Invalid module")
        handler = self._module_functions.get(name) if isinstance(name, str) else None
        if handler is None:
            return error("MER-UTIL-ORWF-00117", "Invalid function")
        return handler(params)

    # -------------------------------------------------------------------------------------- list queries

    def _list(
        self, params: Params, restrict: Callable[[OrderRecord], bool] | None
    ) -> tuple[Envelope, list[OrderRecord]]:
        parsed = parse_list_params(
            params.get("Count"),
            params.get("Offset"),
            has_count="Count" in params,
            has_offset="Offset" in params,
        )
        if isinstance(parsed, list):
            return validation_error(parsed), []
        query: Query = compile_query(params.get("Filter"), params.get("Sort"), self._queues)
        matches = [
            o for o in self._candidates(query) if (restrict is None or restrict(o)) and query.matches(o)
        ]
        if query.sort_key is not None or query.descending:
            matches = query.order(matches)
        start, end = parsed.window(len(matches))
        page = matches[start:end]
        passphrase = params.get("Passphrase")
        passphrase = passphrase.strip() if isinstance(passphrase, str) else None
        ok = bool(passphrase) and passphrase == self._passphrase
        data = [
            self._cache.encoded(o, query.columns, self._queues, passphrase_ok=ok, passphrase=passphrase)
            for o in page
        ]
        envelope = {
            "success": 1,
            "data": {"total_count": len(matches), "start_offset": parsed.offset, "data": data},
        }
        return envelope, page

    def _candidates(self, query: Query) -> Iterable[OrderRecord]:
        """The orders that can match, in store order: only those inside the query's id bounds.

        MySQL walks the primary key for ``id`` ranges; without this every keyset page re-scanned the whole
        store. The filter is still applied to each candidate, so this changes speed, never results.
        """
        orders = self._data.orders
        low, high = query.id_bounds()
        if low is None and high is None:
            return orders.values()
        ids = self._id_index()
        if ids is None:
            return orders.values()
        start = 0 if low is None else bisect.bisect_left(ids, low)
        end = len(ids) if high is None else bisect.bisect_right(ids, high)
        return [orders[i] for i in ids[start:end]]

    def _id_index(self) -> list[int] | None:
        """Order ids in store order, when that order is ascending (orders are only ever added)."""
        if self._ids is None or len(self._ids) != len(self._data.orders):
            ids = list(self._data.orders)
            ascending = all(a < b for a, b in itertools.pairwise(ids))
            self._ids = ids if ascending else None
            if not ascending:
                return None
        return self._ids

    def _order_list_load_query(self, params: Params) -> Envelope:
        envelope, _ = self._list(params, None)
        return envelope

    def _queue_order_list_load_query(self, params: Params) -> Envelope:
        queue = None
        queue_id = params.get("Queue_ID")
        edit_queue = params.get("Edit_Queue")
        queue_code = params.get("Queue_Code")
        if _given(queue_id) and _int_or_zero(queue_id) != 0:
            queue = self._queues.by_id(_int_or_zero(queue_id))
            if queue is None:
                return error("MER-UTIL-ORWF-00029", "Queue not found")
        elif _given(edit_queue):
            queue = self._queues.by_code(str(edit_queue))
            if queue is None:
                return error("MER-UTIL-ORWF-00106", "Queue not found")
        elif _given(queue_code):
            queue = self._queues.by_code(str(queue_code))
            if queue is None:
                return error("MER-UTIL-ORWF-00030", "Queue not found")
        else:
            return error(
                "MER-UTIL-ORWF-00031",
                "Unable to load queue: One of Queue_ID, Edit_Queue, or Queue_Code must be specified",
            )
        qid = queue.id
        envelope, page = self._list(params, lambda o: qid in o.queues)
        # the page is rendered first; then each rendered order goes through the order_retrieved workflows
        for order in page:
            self._workflows.fire("order_retrieved", order)
        return envelope

    # ----------------------------------------------------------------------------------- acknowledgement

    def _acknowledge(self, params: Params) -> Envelope:
        if "Order_IDs" not in params:
            return validation_error([FieldError("Order_IDs", "Missing required parameter")])
        raw = params.get("Order_IDs")
        if raw is None or raw == "":
            values: list[Any] = []
        elif isinstance(raw, list):
            values = raw
        elif isinstance(raw, str):
            values = raw.split("|")
        else:
            values = [raw]
        ids: list[int] = []
        errors: list[FieldError] = []
        for index, value in enumerate(values, start=1):
            name = f"Order_IDs[{index}]"
            if value is None or (isinstance(value, str) and value.strip() == ""):
                errors.append(FieldError(name, "The value may not be blank"))
            elif (
                isinstance(value, bool)
                or not isinstance(value, (int, str))
                or not str(value).strip().lstrip("-+").isdigit()
            ):
                errors.append(FieldError(name, "Please enter a whole number"))
            else:
                ids.append(int(str(value).strip()))
        if errors:
            return validation_error(errors)
        processed = 0
        warnings: list[dict[str, str]] = []
        budget = self._ack_budget
        for order_id in ids:
            order = self._data.orders.get(order_id)
            if order is None:
                warnings.append(
                    {"identifier": str(order_id), "code": "MER-UTIL-ORWF-00180", "message": "Order not found"}
                )
            else:
                self._workflows.fire("order_acknowledged", order)
            processed += 1
            if budget is not None and processed >= max(budget, 1):
                break  # the 60-second budget ran out: the rest is not processed
        envelope: Envelope = {"success": 1}
        if warnings:
            envelope["warnings"] = warnings
        envelope["processed"] = processed
        return envelope

    # ------------------------------------------------------------------------------------- custom fields

    def _custom_field_list_load(self, params: Params) -> Envelope:
        return {"success": 1, "data": field_definitions(self._queues)}

    def _custom_fields_update(self, params: Params) -> Envelope:
        raw_id = params.get("Order_ID")
        if raw_id is None or (isinstance(raw_id, str) and raw_id.strip() == ""):
            return error("MER-JSN-ORD-00058", "Unable to load order: Order_ID must be specified")
        order = self._data.orders.get(_int_or_zero(raw_id))
        if order is None:
            return error("MER-JSN-ORD-00025", "Order not found")
        values = params.get("CustomField_Values")
        now = self.clock.now()
        if isinstance(values, dict):
            for module, fields in values.items():
                failure = self._write_module_fields(order, str(module), fields, now)
                if failure is not None:
                    return failure
        order.touch(now)
        return {"success": 1}

    def _write_module_fields(self, order: OrderRecord, module: str, fields: Any, now: int) -> Envelope | None:
        if module == "customfields":
            defs = {f.code: f for f in CUSTOM_FIELDS}
        elif module == "orderworkflow":
            defs = {}
        elif module in {m["code"] for m in PAYMENT_MODULES.values()} or module in ("ups", "usps", "flatrate"):
            return error("MER-JSN-ORD-00076", f"Module '{module}' does not provide feature 'fields_ordr'")
        else:
            return error("MER-JSN-ORD-00074", f"Module '{module}' not found")
        if not isinstance(fields, dict):
            return None
        for code, value in fields.items():
            field = f"CustomField_Values:{module}:{code}"
            if module == "customfields":
                fdef = defs.get(code)
                if fdef is None:
                    return field_value_error(field, f"Failed to load custom field '{code}'")
                if fdef.type == "multitext":
                    stored: Any = (
                        [str(v) for v in value]
                        if isinstance(value, list)
                        else ([str(value)] if value not in (None, "") else [])
                    )
                elif fdef.type == "checkbox":
                    stored = "1" if _truth(value) else ""
                else:
                    stored = "" if value is None else _text(value)
                    if fdef.type == "choice" and stored and stored not in fdef.choices:
                        return field_value_error(field, f"{code}: Must be one of: {', '.join(fdef.choices)}")
                order.custom[code] = stored
                order.touch(now)
                continue
            if code == "auditlog":
                return field_value_error(field, "auditlog: Field is read-only")  # ⚠️ invented wording
            queue = self._queues.by_code(code) if isinstance(code, str) else None
            if queue is None or queue.code != code:
                return field_value_error(field, f"Failed to load custom field '{code}'")
            flag = _truth_or_none(value)
            if flag is None:
                return field_value_error(field, f"{code}: Boolean values must be Yes/No, True/False, or 0/1")
            if flag:
                self._queues.add(order, queue, now)
            else:
                self._queues.remove(order, queue, now)
        return None

    # ------------------------------------------------------------------------------------------ shipments

    def _create_shipment(self, params: Params) -> Envelope:
        return create_shipment(self._data, params, self.clock.now())

    def _update_shipments(self, params: Params) -> Envelope:
        return update_shipments(self._data, params, self.clock.now())

    def _load_shipments(self, params: Params) -> Envelope:
        return load_shipments(self._data, params, self._queues)

    def shipments(self, order_id: int) -> list[dict[str, Any]]:
        """An order's shipments as the store holds them (copies), for tests."""
        with self._lock:
            return [dict(shp) for shp in self._order(order_id).shipments]

    # ----------------------------------------------------------------------------------- control API

    def create_order(
        self, *, paid: bool = True, admin: bool = False, guest: bool = False, items: int | None = None
    ) -> int:
        """Place a new order now; fires ``order_created``. Admin orders have no payment (see add_payment)."""
        with self._lock:
            data = self._data
            rng = data.rng
            if rng.random() < 0.3:
                data.counters.order += rng.randint(1, 3)  # abandoned checkouts burn ids
            oid = data.counters.next("order")
            now = self.clock.now()
            customer = None
            if not guest and data.customers:
                customer = data.customers[rng.choice(sorted(data.customers))]
            kind = "admin" if admin else "shopper" if paid else "unpaid"
            order = build_order(
                data,
                rng,
                oid,
                now,
                now,
                customer=customer,
                kind=kind,
                n_items=None if items is None else max(1, items),
            )
            order.row["dt_updated"] = now
            data.orders[oid] = order
            if customer is not None:
                customer.order_cnt += 1
                customer.order_tot += Decimal(order.row["total"])
                customer.version += 1
            self._workflows.fire("order_created", order)
            return oid

    def update_order(self, order_id: int, **changes: Any) -> None:
        """Edit an order.

        Base columns (``status=200``, ``ship_city=...``) change without re-queueing. ``add_item=True``,
        ``remove_item=<line_id>`` and ``shipping=<amount>`` change lines or the total and fire the triggers
        the stock queueing workflow listens to. ``note="..."`` adds an admin note.
        ``update_order(id)`` alone is a generic edit that only bumps ``dt_updated``.
        """
        with self._lock:
            order = self._order(order_id)
            now = self.clock.now()
            triggers: list[str] = []
            old_total = Decimal(order.row["total"])
            for key, value in changes.items():
                if key in _BASE_EDITABLE:
                    if key == "status" and value != order.row["status"]:
                        triggers.append("order_status_change")
                    order.row[key] = value
                elif key == "add_item":
                    if value:
                        add_item(self._data, order, value if isinstance(value, str) else None)
                        triggers.append("orderitem_created")
                elif key == "remove_item":
                    before = len(order.items)
                    order.items = [it for it in order.items if it.row["line_id"] != value]
                    if len(order.items) == before:
                        raise ValueError(f"order {order_id} has no line {value}")
                    recompute_totals(self._data, order)
                    triggers.append("orderitem_deleted")
                elif key == "shipping":
                    self._set_shipping(order, Decimal(str(value)))
                elif key == "note":
                    order.add_note(
                        str(value),
                        now,
                        user_id=3,
                        admin_user="ops_user",
                        note_id=self._data.counters.next("note"),
                    )
                else:
                    raise TypeError(f"update_order() got an unsupported change {key!r}")
            if Decimal(order.row["total"]) != old_total:
                recompute_payments(order)
                triggers.append("order_total_change")
            order.touch(now)
            for trigger in triggers:
                self._workflows.fire(trigger, order)

    def add_payment(self, order_id: int) -> None:
        """Record a payment (authorize + capture of the total); the first one lets the order queue."""
        with self._lock:
            order = self._order(order_id)
            first = not order.payments
            add_payment(self._data, order, self.clock.now())
            order.touch(self.clock.now())
            if first:
                # stands in for the stock workflow's hourly re-check of its "has a payment" condition
                self._workflows.fire("order_created", order)

    def orders_truth(self) -> dict[int, dict[str, Any]]:
        """Every order with every on-demand column, payment data decrypted, all custom fields."""
        with self._lock:
            cols = all_columns(self._queues)
            return {
                oid: render_order(o, cols, self._queues, passphrase_ok=True)
                for oid, o in self._data.orders.items()
            }

    def order_ids(self) -> list[int]:
        with self._lock:
            return list(self._data.orders)

    def queue_members(self, queue_code: str) -> list[int]:
        with self._lock:
            queue = self._queues.by_code(queue_code)
            if queue is None:
                raise KeyError(queue_code)
            return [oid for oid, o in self._data.orders.items() if queue.id in o.queues]

    def queues(self) -> list[tuple[str, str]]:
        return [(q.code, q.name) for q in self._queues.queues]

    # --------------------------------------------------------------------------------------- helpers

    def _order(self, order_id: int) -> OrderRecord:
        order = self._data.orders.get(order_id)
        if order is None:
            raise KeyError(f"no order {order_id}")
        return order

    def _set_shipping(self, order: OrderRecord, amount: Decimal) -> None:
        for ch in order.charges:
            if ch["type"] == "SHIPPING":
                ch.update(
                    {
                        "amount": q2(amount),
                        "formatted_amount": money(amount),
                        "disp_amt": q2(amount),
                        "formatted_disp_amt": money(amount),
                    }
                )
                break
        else:
            raise ValueError(f"order {order.id} has no shipping charge")
        recompute_totals(self._data, order)


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and value.strip() == "")


def _int_or_zero(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _truth(value: Any) -> bool:
    return bool(_truth_or_none(value))


def _truth_or_none(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, Decimal)):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None
