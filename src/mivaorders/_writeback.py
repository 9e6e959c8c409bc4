"""Write-back as pure code: custom fields, shipment calls, and the fulfilment conversation.

The protocol facts (order-functions.md §5-§6) that shape it:

- ``OrderCustomFields_Update`` is idempotent but not atomic: fields are written one at a time, in the order
  given, and a failure leaves the earlier ones written. Every call bumps the order's ``dt_updated``.
- ``OrderItemList_CreateShipment`` is **not** idempotent: a repeat after the store acted makes a second
  shipment. Line ids of another order are skipped silently.
- ``OrderShipmentList_Update`` overwrites ``tracknum``, ``tracktype`` and ``cost`` with empty/zero when they
  are omitted, so every update here carries all three.

Nothing here does I/O: :func:`custom_fields_steps` and :func:`fulfil_steps` are conversations that
:mod:`mivaorders._conversation` drives with either client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

import attrs

from ._conversation import Log, Pause, Send, Steps
from ._converter import converter, structure_page
from ._envelope import Call, Safety
from ._exceptions import (
    APIError,
    ArgumentError,
    AuthenticationError,
    FieldError,
    InvalidParameterError,
    MivaError,
    NotFoundError,
    PartialWriteError,
    ResponseDecodeError,
    ShipmentConflictError,
    UncertainWriteError,
)
from ._page import Page
from ._query import OrderQuery, check_page_size
from .filters import ITEMS, SHIPMENTS, And, Condition, Expr, F, Or, SortKey, compile_filter, raw
from .models import ItemStatus, Order, OrderCustomField, OrderItem, OrderShipment, ShipmentStatus
from .retry import proves_not_acted

__all__ = [
    "CustomFieldInput",
    "FieldCatalog",
    "FulfilRequest",
    "ShipmentUpdate",
    "create_call",
    "custom_fields_steps",
    "decode_created",
    "fulfil_steps",
    "shipment_list_call",
    "uncertain",
    "update_call",
]


LIST_FIELDS = "OrderCustomFieldList_Load"
UPDATE_FIELDS = "OrderCustomFields_Update"
CREATE = "OrderItemList_CreateShipment"
UPDATE = "OrderShipmentList_Update"
LIST = "OrderShipmentList_Load_Query"

#: A value ``set_custom_fields`` accepts: text, a number, a checkbox flag, or a list of strings (multitext).
CustomFieldInput: TypeAlias = str | int | bool | Decimal | Sequence[str]

#: After a create whose answer was lost, wait this long before looking: the store may still be at it.
SETTLE_SECONDS = 2.0
#: Rounds of "create, answer lost, look, nothing there" before fulfil gives up (and says it is safe to rerun).
MAX_CREATE_ROUNDS = 3

#: The search columns of ``OrderShipmentList_Load_Query`` (plus ``order_<column>``).
SHIPMENT_COLUMNS = frozenset(
    {"id", "order_id", "code", "tracknum", "tracktype", "weight", "cost", "status", "ship_date", "batch_id"}
)
SHIPMENT_COLUMN_ODCS = frozenset({"items", "include_order"})


def _positive_id(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ArgumentError(f"{name} must be a whole number >= 1, not {value!r}")
    return value


def _line_ids(values: Iterable[int] | None, name: str = "line_ids") -> tuple[int, ...]:
    if values is None or isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ArgumentError(f"{name} must be a list of OrderItem.line_id values, not {values!r}")
    ids: list[int] = []
    for value in values:
        checked = _positive_id(value, "a line id")
        if checked not in ids:
            ids.append(checked)
    if not ids:
        raise ArgumentError(f"{name} is empty; a shipment needs at least one line")
    return tuple(ids)


def _text(value: object, name: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ArgumentError(f"{name} must be a str, not {type(value).__name__}")
    text = value.strip()
    if not text and not allow_empty:
        raise ArgumentError(f"{name} must not be empty")
    return text


def _cost(value: object) -> Decimal:
    """A shipping cost: >= 0 with at most two decimals (Miva's limit), exact."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ArgumentError(f"cost must be a Decimal, an int or a numeric str, not {value!r}")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ArgumentError(f"cost {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ArgumentError(f"cost must be a finite amount >= 0, not {value!r}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise ArgumentError(f"cost {value!r} has more than two decimals; Miva keeps cents only")
    return amount.quantize(Decimal("0.01"))


# ------------------------------------------------------------------------------------------ custom fields


class FieldCatalog:
    """The store's custom field definitions (``OrderCustomFieldList_Load``), loaded once and cached."""

    def __init__(self) -> None:
        self.fields: dict[tuple[str, str], OrderCustomField] | None = None
        self.unavailable = False  # the token may not call OrderCustomFieldList_Load: then the store checks

    def load(self, envelope: Mapping[str, Any]) -> None:
        rows = envelope.get("data")
        if not isinstance(rows, list):
            raise ResponseDecodeError(f"{LIST_FIELDS}: 'data' is not a list", function=LIST_FIELDS)
        fields = [converter.structure(row, OrderCustomField) for row in rows]
        self.fields = {(f.module.code, f.code): f for f in fields}

    def knows(self, module: str, codes: Iterable[str]) -> bool:
        return self.fields is not None and all((module, code) in self.fields for code in codes)

    def check(self, module: str, values: Mapping[str, CustomFieldInput]) -> None:
        """Raise :class:`InvalidParameterError` naming every field the store would refuse."""
        if self.fields is None:
            return
        codes = sorted({c for m, c in self.fields if m == module})
        problems: list[FieldError] = []
        for code, value in values.items():
            name = f"CustomField_Values:{module}:{code}"
            definition = self.fields.get((module, code))
            if definition is None:
                known = f" (the store's {module!r} fields: {', '.join(codes)})" if codes else ""
                problems.append(FieldError(name, f"Failed to load custom field '{code}'{known}"))
            elif definition.readonly:
                problems.append(FieldError(name, f"{code}: the field is read-only"))
            elif definition.choices and isinstance(value, str) and value and value not in definition.choices:
                problems.append(FieldError(name, f"{code}: Must be one of: {', '.join(definition.choices)}"))
        if not codes:
            raise InvalidParameterError(
                f"the store has no order custom fields in module {module!r}; nothing was written",
                function=UPDATE_FIELDS,
                error_code="MER-JSN-ORD-00074",
                error_field="CustomField_Values",
            )
        if problems:
            unknown = [p.field.rsplit(":", 1)[-1] for p in problems]
            raise InvalidParameterError(
                f"refused before sending, nothing was written: {', '.join(repr(u) for u in unknown)}",
                function=UPDATE_FIELDS,
                error_code="MER-JSN-00018",
                error_field=problems[0].field,
                field_errors=problems,
            )


def check_custom_values(values: Mapping[str, CustomFieldInput], module: str) -> dict[str, Any]:
    """The values as they go on the wire, in the caller's order; bad types fail here."""
    if not isinstance(module, str) or not module.strip():
        raise ArgumentError("module must be a module code such as 'customfields'")
    if not isinstance(values, Mapping) or not values:
        raise ArgumentError("values must be a non-empty mapping of field code to value")
    wire: dict[str, Any] = {}
    for code, value in values.items():
        if not isinstance(code, str) or not code or code != code.strip():
            raise ArgumentError(f"field code {code!r} must be a non-empty str without surrounding spaces")
        if isinstance(value, (str, int, Decimal)):  # bool is an int
            wire[code] = value
        elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            wire[code] = list(value)  # multitext
        else:
            raise ArgumentError(
                f"field {code!r}: a value is a str, int, bool, Decimal or a list of str, not {value!r} "
                "(use '' to clear a field)"
            )
    return wire


def _failed_code(error: APIError, module: str) -> str | None:
    fields = [error.error_field or ""] + [e.field for e in error.field_errors]
    prefix = f"CustomField_Values:{module}:"
    for field in fields:
        if field.startswith(prefix):
            return field[len(prefix) :]
    return None


def custom_fields_steps(
    catalog: FieldCatalog, order_id: int, values: Mapping[str, CustomFieldInput], module: str
) -> Steps[None]:
    """Check the codes against the store's list (loaded once, reloaded when a code is new), then write."""
    order_id = _positive_id(order_id, "order_id")
    module = module.strip() if isinstance(module, str) else module
    wire = check_custom_values(values, module)
    if not catalog.unavailable and not catalog.knows(module, wire):
        # Not loaded yet, or a code we have not seen: the store may have gained a field since.
        try:
            envelope, _ = yield Send(Call(LIST_FIELDS, {}, safety=Safety.IDEMPOTENT))
            catalog.load(envelope)
        except AuthenticationError:
            catalog.unavailable = True  # this token may not list fields; the store checks them itself
            yield Log(
                logging.DEBUG, "%s refused; custom field codes are checked by the store only", (LIST_FIELDS,)
            )
    catalog.check(module, wire)
    call = Call(
        UPDATE_FIELDS,
        {"Order_ID": order_id, "CustomField_Values": {module: wire}},
        safety=Safety.IDEMPOTENT,  # the same values again leave the same state
    )
    try:
        yield Send(call)
    except APIError as exc:
        failed = _failed_code(exc, module)
        if failed is None or failed not in wire:
            raise
        codes = list(wire)
        at = codes.index(failed)
        raise PartialWriteError(exc, written=codes[:at], failed=failed, not_written=codes[at + 1 :]) from exc
    return None


# -------------------------------------------------------------------------------------------- shipments


@attrs.frozen
class ShipmentUpdate:
    """One element of ``OrderShipmentList_Update``: always all three of tracking number, type and cost.

    Miva resets whichever of them an update leaves out, so none of them is optional here.
    """

    shipment_id: int
    tracking_number: str
    tracking_type: str
    cost: Decimal
    mark_shipped: bool = False

    @classmethod
    def build(
        cls,
        shipment_id: int,
        *,
        tracking_number: str,
        tracking_type: str,
        cost: Decimal | int | str,
        mark_shipped: bool = False,
    ) -> ShipmentUpdate:
        if not isinstance(mark_shipped, bool):
            raise ArgumentError(f"mark_shipped must be True or False, not {mark_shipped!r}")
        return cls(
            _positive_id(shipment_id, "shipment_id"),
            _text(tracking_number, "tracking_number", allow_empty=True),
            _text(tracking_type, "tracking_type", allow_empty=True),
            _cost(cost),
            mark_shipped,
        )

    def wire(self) -> dict[str, Any]:
        return {
            "shpmnt_id": self.shipment_id,
            "mark_shipped": self.mark_shipped,
            "tracknum": self.tracking_number,
            "tracktype": self.tracking_type,
            "cost": self.cost,
        }


def create_call(order_id: int, line_ids: Iterable[int], *, once: bool = False) -> Call:
    """The create call: retried only on a failure that proves the store never saw it, or (``once``,
    for fulfil, which re-reads instead) never."""
    params = {"Order_ID": _positive_id(order_id, "order_id"), "Line_IDs": list(_line_ids(line_ids))}
    return Call(CREATE, params, safety=Safety.ONCE if once else Safety.UNSAFE)


def update_call(updates: Sequence[ShipmentUpdate]) -> Call:
    if not updates:
        raise ArgumentError("no shipment updates given")
    seen = [u.shipment_id for u in updates]
    if len(set(seen)) != len(seen):
        raise ArgumentError("a shipment id appears twice; the second update would overwrite the first")
    # Every element carries its full intended values, so sending it again ends in the same state.
    return Call(UPDATE, {"Shipment_Updates": [u.wire() for u in updates]}, safety=Safety.IDEMPOTENT)


def decode_created(envelope: Mapping[str, Any]) -> OrderShipment:
    shipment: OrderShipment = converter.structure(envelope.get("data"), OrderShipment)
    return shipment


_LOOK_FIRST = (
    "Look first (client.shipments.list(order_id=...)), or use client.orders.fulfil(), which looks before "
    "it creates"
)
_RUN_AGAIN = "Running the same fulfil() again is safe: it reads the order before it creates anything"


def uncertain(exc: MivaError, call: Call, *, in_fulfil: bool = False) -> MivaError:
    """The error to raise for a failed create: as is when the store provably did nothing or said no,
    an :class:`UncertainWriteError` when it may have created the shipment."""
    if isinstance(exc, (APIError, ArgumentError)) or proves_not_acted(exc):
        return exc
    if in_fulfil:
        what = "and reading the order back failed too, so it is not known whether the shipment was created"
    else:
        what = "so a shipment may have been created. It was not sent again: a repeat can create a second one"
    return UncertainWriteError(
        f"the request may have reached the store ({exc}), {what}. {_RUN_AGAIN if in_fulfil else _LOOK_FIRST}",
        function=call.label,
    )


def _check_shipment_where(expr: Expr) -> None:
    if isinstance(expr, (And, Or)):
        for operand in expr.operands:
            _check_shipment_where(operand)
        return
    if not isinstance(expr, Condition):
        raise ArgumentError(f"{expr!r} is an order filter; shipments take conditions on their own columns")
    field = expr.field
    if field not in SHIPMENT_COLUMNS and not field.startswith("order_"):
        raise ArgumentError(
            f"shipment filter field {field!r} is not a shipment column; Miva would silently ignore it "
            f"(columns: {', '.join(sorted(SHIPMENT_COLUMNS))}, and order_<order column>)"
        )


def shipment_list_call(
    *,
    order_id: int | None,
    where: Expr | None,
    sort: str | SortKey | None,
    count: int,
    offset: int,
    items: bool,
    include_order: bool,
) -> Call:
    conditions: list[Expr] = []
    if order_id is not None:
        conditions.append(raw("order_id", "EQ", str(_positive_id(order_id, "order_id"))))
    if where is not None:
        if not isinstance(where, Expr):
            raise ArgumentError(f"where must be a filter expression, not {type(where).__name__}")
        _check_shipment_where(where)
        conditions.append(where)
    combined: Expr | None = None
    for condition in conditions:
        combined = condition if combined is None else combined & condition
    if isinstance(sort, SortKey):
        sort = str(sort)
    if sort is not None and (not isinstance(sort, str) or sort.lstrip("-") not in SHIPMENT_COLUMNS):
        raise ArgumentError(
            f"sort {sort!r} is not a shipment column; Miva would silently sort by id "
            f"(columns: {', '.join(sorted(SHIPMENT_COLUMNS))}, '-' in front for descending)"
        )
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ArgumentError(f"offset must be a whole number >= 0, not {offset!r}")
    filters: list[Any] = list(compile_filter(combined))
    columns = [name for name, wanted in (("items", items), ("include_order", include_order)) if wanted]
    if columns:
        filters.append({"name": "ondemandcolumns", "value": columns})
    params: dict[str, Any] = {"Count": check_page_size(count), "Offset": offset}
    if sort:
        params["Sort"] = sort
    params["Filter"] = filters
    return Call(LIST, params, safety=Safety.IDEMPOTENT)


def decode_shipments(envelope: Mapping[str, Any]) -> Page[OrderShipment]:
    return structure_page(envelope.get("data"), OrderShipment, function=LIST)


# ------------------------------------------------------------------------------------------ fulfilment

# Lines that ship: not digital, not gift certificates, not cancelled or returned (backorders only by id).
_READY = frozenset({ItemStatus.PENDING, ItemStatus.PROCESSING})
_NOT_SHIPPABLE = frozenset(
    {
        ItemStatus.GIFT_CERT_NOT_REDEEMED,
        ItemStatus.GIFT_CERT_REDEEMED,
        ItemStatus.DIGITAL_NOT_DOWNLOADED,
        ItemStatus.DIGITAL_DOWNLOADED,
        ItemStatus.CANCELLED,
        ItemStatus.RMA_ISSUED,
        ItemStatus.RETURNED,
    }
)


@attrs.frozen
class _Create:
    lines: tuple[int, ...]


@attrs.frozen
class _Existing:
    shipment: OrderShipment


@attrs.frozen
class FulfilRequest:
    """What ``orders.fulfil`` was asked to do, checked before any request."""

    order_id: int
    tracking_number: str
    tracking_type: str
    line_ids: tuple[int, ...] | None
    cost: Decimal | None
    mark_shipped: bool

    @classmethod
    def build(
        cls,
        order_id: int,
        *,
        tracking_number: str,
        tracking_type: str,
        line_ids: Iterable[int] | None,
        cost: Decimal | int | str | None,
        mark_shipped: bool,
    ) -> FulfilRequest:
        if not isinstance(mark_shipped, bool):
            raise ArgumentError(f"mark_shipped must be True or False, not {mark_shipped!r}")
        return cls(
            _positive_id(order_id, "order_id"),
            _text(tracking_number, "tracking_number"),
            _text(tracking_type, "tracking_type"),
            None if line_ids is None else _line_ids(line_ids),
            None if cost is None else _cost(cost),
            mark_shipped,
        )

    # -- reading the order -----------------------------------------------------------------------------

    def read_call(self) -> Call:
        query = OrderQuery.build(where=F.id == self.order_id, columns=(ITEMS, SHIPMENTS))
        return Call("OrderList_Load_Query", query.params(count=1), safety=Safety.IDEMPOTENT)

    def order_from(self, envelope: Mapping[str, Any]) -> Order:
        page = structure_page(envelope.get("data"), Order, function="OrderList_Load_Query")
        if not page.items:
            raise NotFoundError(
                f"order {self.order_id} not found; nothing was written",
                function="OrderList_Load_Query",
                error_code="MER-JSN-ORD-00025",
            )
        return page.items[0]

    # -- deciding -----------------------------------------------------------------------------------------

    def _ours(self, shipment: OrderShipment | None) -> bool:
        """A shipment this request may use: it carries our tracking number, or none yet (not shipped)."""
        if shipment is None:
            return False
        if shipment.tracknum == self.tracking_number:
            return True
        return shipment.tracknum == "" and shipment.status != ShipmentStatus.SHIPPED

    def plan(self, order: Order) -> _Create | _Existing:
        """Create a shipment for these lines, or use the one that already holds them; refuse the rest."""
        items: Sequence[OrderItem] = order.items or ()
        shipments = {s.id: s for s in order.shipments or ()}
        by_line = {it.line_id: it for it in items}
        if self.line_ids is not None:
            foreign = [line for line in self.line_ids if line not in by_line]
            if foreign:
                mine = ", ".join(str(it.line_id) for it in items) or "none"
                raise ArgumentError(
                    f"line id(s) {', '.join(map(str, foreign))} are not lines of order {self.order_id} "
                    f"(its lines: {mine}); nothing was written"
                )
            wanted = list(self.line_ids)
        else:
            wanted = [
                it.line_id
                for it in items
                if it.status not in _NOT_SHIPPABLE
                and (
                    (it.shpmnt_id == 0 and it.status in _READY)
                    or (it.shpmnt_id != 0 and self._ours(shipments.get(it.shpmnt_id)))
                )
            ]
            if not wanted:
                why = "; ".join(f"line {it.line_id}: {_why_not(it, shipments)}" for it in items) or "no lines"
                raise ShipmentConflictError(
                    f"order {self.order_id} has no line left to ship ({why}); nothing was written. "
                    "Pass line_ids= to ship particular lines",
                    order_id=self.order_id,
                    shipment_ids=sorted(shipments),
                )
        groups: dict[int, list[int]] = {}
        for line in wanted:
            groups.setdefault(by_line[line].shpmnt_id, []).append(line)
        if list(groups) == [0]:
            return _Create(tuple(wanted))
        if len(groups) == 1:
            (shipment_id,) = groups
            shipment = shipments.get(shipment_id)
            members = {it.line_id for it in items if it.shpmnt_id == shipment_id}
            if shipment is not None and shipment.tracknum == self.tracking_number:
                return _Existing(shipment)  # done before (or half done): finish it
            if shipment is not None and self._ours(shipment) and members == set(wanted):
                return _Existing(shipment)  # made for exactly these lines, tracking not set yet
            held = f" with tracking number {shipment.tracknum!r}" if shipment and shipment.tracknum else ""
            raise ShipmentConflictError(
                f"order {self.order_id}: lines {_ids(wanted)} are already in shipment {shipment_id}{held}"
                f" (which holds lines {_ids(sorted(members))}); nothing was written. Change that shipment "
                "with client.shipments.update() if that is what you mean",
                order_id=self.order_id,
                shipment_ids=[shipment_id],
            )
        spread = "; ".join(
            f"{'no shipment' if sid == 0 else f'shipment {sid}'}: {_ids(lines)}"
            for sid, lines in groups.items()
        )
        raise ShipmentConflictError(
            f"order {self.order_id}: the lines are split ({spread}), so one shipment cannot carry them; "
            "nothing was written",
            order_id=self.order_id,
            shipment_ids=[sid for sid in groups if sid],
        )

    def update_for(self, shipment: OrderShipment) -> ShipmentUpdate | None:
        """The one update that sets tracking, cost and shipped state; None when all is set already."""
        cost = shipment.cost if self.cost is None else self.cost
        done = (
            shipment.tracknum == self.tracking_number
            and shipment.tracktype == self.tracking_type
            and shipment.cost == cost
            and (not self.mark_shipped or shipment.status == ShipmentStatus.SHIPPED)
        )
        if done:
            return None
        return ShipmentUpdate(
            shipment.id, self.tracking_number, self.tracking_type, _cost(cost), self.mark_shipped
        )


def _why_not(item: OrderItem, shipments: Mapping[int, OrderShipment]) -> str:
    if item.shpmnt_id:
        shipment = shipments.get(item.shpmnt_id)
        tracking = f" with tracking number {shipment.tracknum!r}" if shipment and shipment.tracknum else ""
        return f"in shipment {item.shpmnt_id}{tracking}"
    return f"status {item.status._name_.lower()}"


def _ids(values: Iterable[int]) -> str:
    return "[" + ", ".join(map(str, values)) + "]"


def fulfil_steps(request: FulfilRequest) -> Steps[OrderShipment]:
    """Read, then create only when the lines have no shipment, then one update; safe to run again."""
    envelope, _ = yield Send(request.read_call())
    plan = request.plan(request.order_from(envelope))
    rounds = 0
    while isinstance(plan, _Create):
        rounds += 1
        # Sent once: whatever goes wrong, a re-read tells what the store did (even a 429 is not trusted).
        call = create_call(request.order_id, plan.lines, once=True)
        try:
            envelope, _ = yield Send(call)
            created = decode_created(envelope)
        except MivaError as exc:
            if isinstance(exc, ArgumentError):
                raise
            # The answer is lost or the store said no: either way, look before creating anything again.
            yield Log(
                logging.INFO,
                "%s for order %d failed (%s); re-reading the order before anything else",
                (CREATE, request.order_id, type(exc).__name__),
            )
            if not proves_not_acted(exc):
                yield Pause(SETTLE_SECONDS)
            try:
                envelope, _ = yield Send(request.read_call())
            except MivaError as again:
                raise uncertain(exc, call, in_fulfil=True) from again
            plan = request.plan(request.order_from(envelope))
            if isinstance(plan, _Create) and rounds >= MAX_CREATE_ROUNDS:
                raise exc
            continue
        plan = _Existing(created)
    shipment = plan.shipment
    update = request.update_for(shipment)
    if update is None:
        return shipment
    yield Send(update_call([update]))
    envelope, _ = yield Send(
        shipment_list_call(
            order_id=None,
            where=F.id == shipment.id,
            sort=None,
            count=1,
            offset=0,
            items=False,
            include_order=False,
        )
    )
    page = decode_shipments(envelope)
    if not page.items:
        raise NotFoundError(
            f"shipment {shipment.id} of order {request.order_id} is gone after its update",
            function=LIST,
        )
    return page.items[0]
