"""Typed, frozen models of Miva's order data architecture.

Attribute names are Miva's JSON keys in snake_case (``CustomField_Values`` is ``custom_field_values``),
declared in the order Miva renders them. Decoding and encoding live in :mod:`mivaorders._converter`.

Conventions (see ``docs/models.md``):

- money, prices and weights are :class:`~decimal.Decimal` with exactly the digits Miva sent;
- timestamps are aware UTC :class:`~datetime.datetime`, and ``0`` (or ``{"time_t": 0}``) is ``None``;
- status codes are lenient ``IntEnum`` s: an unknown code becomes a pseudo-member such as
  ``OrderStatus.UNKNOWN_700`` that still equals (and encodes back to) the plain integer;
- an order-level on-demand column that was not requested is ``None``; requested and empty is ``()``;
- item-level ``options``/``discounts``/``parts`` are omitted by Miva when empty, so they are ``()``;
- keys the models do not know are kept in ``extra`` and written back by ``unstructure``.

``repr`` is compact on purpose: it never shows payment data, and shows no address beyond a name.
"""

# ruff: noqa: RUF009 -- the field helpers below wrap attrs.field() with our metadata
from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeAlias, Union

import attrs
from attrs import field, frozen

from ._unix_time import from_unix_seconds

__all__ = [
    "Address",
    "BusinessAccount",
    "CustomFieldValue",
    "Customer",
    "ItemStatus",
    "Module",
    "Order",
    "OrderCharge",
    "OrderCoupon",
    "OrderCustomField",
    "OrderDiscountTotal",
    "OrderItem",
    "OrderItemDiscount",
    "OrderItemOption",
    "OrderItemOptionDiscount",
    "OrderItemSubscription",
    "OrderNote",
    "OrderPart",
    "OrderPayment",
    "OrderReturn",
    "OrderShipment",
    "OrderStatus",
    "PaymentStatus",
    "PaymentType",
    "ProductSubscriptionTerm",
    "ReturnStatus",
    "ShipmentStatus",
    "StockStatus",
    "SubscriptionOption",
]

#: A custom field value as Miva sends it: text, a number, ``null``, or an array (``multitext``).
#: Arrays become tuples and objects read-only mappings; nothing else is coerced.
CustomFieldValue: TypeAlias = (
    str | int | Decimal | bool | tuple["CustomFieldValue", ...] | Mapping[str, "CustomFieldValue"] | None
)


@frozen
class _JsonDateTime:
    """Miva's ``JSON_DateTime`` object as decoded; only ``time_t`` is trusted (the rest is local time)."""

    time_t: int


# What the decoder reads into a timestamp or custom field attribute. Type checkers see the attribute's
# real type; msgspec sees the wider wire type, and ``_decoded_fixer`` narrows timestamps once the object
# is built (``0`` and ``{"time_t": 0}`` become ``None``).
if TYPE_CHECKING:
    _Time: TypeAlias = datetime
    _CustomFields: TypeAlias = Mapping[str, Mapping[str, CustomFieldValue]]
else:
    _Time = Union[datetime, _JsonDateTime]  # noqa: UP007 -- evaluated at runtime on Python 3.10
    _CustomFields = Mapping[str, Mapping[str, Any]]


class _EmptyMapping(Mapping[str, object]):
    """The shared, immutable, picklable ``extra`` of objects without unknown keys."""

    __slots__ = ()

    def __getitem__(self, key: str) -> object:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"

    def __reduce__(self) -> str:
        return "_NO_EXTRA"


_NO_EXTRA: Mapping[str, object] = _EmptyMapping()


# --------------------------------------------------------------------------------------------- enums
class _LenientIntEnum(IntEnum):
    """An IntEnum that turns an unknown code into a pseudo-member instead of raising."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if type(value) is not int:
            return None
        pseudo = int.__new__(cls, value)
        pseudo._name_ = f"UNKNOWN_{value}"
        pseudo._value_ = value
        return pseudo

    @property
    def is_known(self) -> bool:
        """False for a code this version of mivaorders has no name for."""
        return self._value_ in type(self)._value2member_map_


class OrderStatus(_LenientIntEnum):
    PENDING = 0
    PROCESSING = 100
    SHIPPED = 200
    PARTIALLY_SHIPPED = 201
    CANCELLED = 300
    BACKORDERED = 400
    RMA_ISSUED = 500
    RETURNED = 600


class PaymentStatus(_LenientIntEnum):
    PENDING = 0
    AUTHORIZED = 100
    CAPTURED = 200
    PARTIALLY_CAPTURED = 201


class StockStatus(_LenientIntEnum):
    #: At least one line does not track inventory (not a named SDK constant).
    PENDING = 0
    AVAILABLE = 100
    UNAVAILABLE = 200
    PARTIAL = 201


class ItemStatus(_LenientIntEnum):
    PENDING = 0
    PROCESSING = 100
    SHIPPED = 200
    PARTIALLY_SHIPPED = 201
    GIFT_CERT_NOT_REDEEMED = 210
    GIFT_CERT_REDEEMED = 211
    DIGITAL_NOT_DOWNLOADED = 220
    DIGITAL_DOWNLOADED = 221
    CANCELLED = 300
    BACKORDERED = 400
    RMA_ISSUED = 500
    RETURNED = 600


class ShipmentStatus(_LenientIntEnum):
    PENDING = 0
    PICKING = 100
    SHIPPED = 200


class ReturnStatus(_LenientIntEnum):
    ISSUED = 500
    RECEIVED = 600


class PaymentType(_LenientIntEnum):
    DECLINED = 0
    LEGACY_AUTH = 1
    LEGACY_CAPTURE = 2
    AUTH = 3
    CAPTURE = 4
    AUTH_CAPTURE = 5
    REFUND = 6
    VOID = 7


# ------------------------------------------------------------------------------------- field helpers
# Field metadata read by the converter: "omit" says when a key is left out of the JSON
# ("none": when None; "empty": when empty; "with": when the field named by "with" is None);
# "key" is the JSON key when it is not the attribute name; "sensitive" keeps values out of error messages.


def _absent_none(**meta: object) -> Any:
    """A key that may be absent (on-demand column, newer server); absent -> None."""
    # Mappings are left out of the hash (they are not hashable); they still count for equality.
    return field(default=None, hash=False if "kind" in meta else None, metadata={"omit": "none", **meta})


def _absent_empty() -> Any:
    """An item-level list Miva omits when empty; absent -> ()."""
    return field(default=(), metadata={"omit": "empty"})


def _present_with(name: str) -> Any:
    """A key Miva sends only together with another one (``rma_*`` with ``rma_code``)."""
    return field(default=None, metadata={"omit": "with", "with": name})


def _extra() -> Any:
    return field(default=_NO_EXTRA, repr=False, hash=False, metadata={"kind": "extra"})


def _wire_keys() -> Any:
    # The JSON key order seen when decoding (shared between objects of the same shape), so that
    # unstructure reproduces it exactly. Not part of equality.
    return field(default=None, eq=False, repr=False, metadata={"kind": "wire_keys"})


def _short_repr(obj: object, names: tuple[str, ...]) -> str:
    parts = []
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, datetime):
            parts.append(f"{name}={value.isoformat()}")
        elif isinstance(value, IntEnum):
            parts.append(f"{name}={value._name_}")
        else:
            parts.append(f"{name}={value!r}")
    return f"{type(obj).__name__}({', '.join(parts)})"


# --------------------------------------------------------------------------------------- value types
@frozen(kw_only=True, repr=False)
class Address:
    """A ship-to or bill-to address block, a view over the ``ship_*``/``bill_*`` columns."""

    first_name: str
    last_name: str
    email: str
    company: str
    phone: str
    fax: str
    address1: str
    address2: str
    city: str
    state: str
    zip: str
    country: str
    residential: bool | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def __repr__(self) -> str:
        # Only the name: addresses are personal data and reprs end up in logs.
        return f"Address(name={self.name!r})"


def _address(obj: object, prefix: str, residential: bool | None) -> Address:
    def g(suffix: str) -> str:
        value: str = getattr(obj, f"{prefix}_{suffix}")
        return value

    return Address(
        first_name=g("fname"),
        last_name=g("lname"),
        email=g("email"),
        company=g("comp"),
        phone=g("phone"),
        fax=g("fax"),
        address1=g("addr1"),
        address2=g("addr2"),
        city=g("city"),
        state=g("state"),
        zip=g("zip"),
        country=g("cntry"),
        residential=residential,
    )


# -------------------------------------------------------------------------------------------- models
@frozen(kw_only=True, repr=False)
class Module:
    """A store module (payment module of a payment, owner of a custom field)."""

    id: int
    code: str
    name: str
    provider: str
    api_ver: str
    version: str
    module: str
    refcount: int
    active: bool
    priority: int
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("id", "code", "name"))


@frozen(kw_only=True, repr=False)
class Customer:
    """``order.customer`` (ODC ``customer``; absent for guests)."""

    id: int
    account_id: int
    login: str
    pw_email: str
    ship_id: int
    ship_res: bool
    ship_fname: str
    ship_lname: str
    ship_email: str
    ship_comp: str
    ship_phone: str
    ship_fax: str
    ship_addr1: str
    ship_addr2: str
    ship_city: str
    ship_state: str
    ship_zip: str
    ship_cntry: str
    bill_id: int
    bill_fname: str
    bill_lname: str
    bill_email: str
    bill_comp: str
    bill_phone: str
    bill_fax: str
    bill_addr1: str
    bill_addr2: str
    bill_city: str
    bill_state: str
    bill_zip: str
    bill_cntry: str
    tax_exempt: bool
    order_cnt: int
    order_avg: Decimal
    formatted_order_avg: str
    order_tot: Decimal
    formatted_order_tot: str
    note_count: int
    dt_created: _Time | None
    dt_updated: _Time | None = _absent_none()  # LSK only, absent on older stores
    dt_login: _Time | None
    dt_pwchg: _Time | None
    credit: Decimal
    formatted_credit: str
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    @property
    def ship_to(self) -> Address:
        return _address(self, "ship", self.ship_res)

    @property
    def bill_to(self) -> Address:
        return _address(self, "bill", None)

    def __repr__(self) -> str:
        name = f"{self.bill_fname} {self.bill_lname}".strip()
        return f"Customer(id={self.id}, login={self.login!r}, name={name!r})"


@frozen(kw_only=True, repr=False)
class OrderItemDiscount:
    order_id: int
    line_id: int
    pgrp_id: int
    display: bool
    descrip: str
    discount: Decimal
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("line_id", "pgrp_id", "descrip", "discount"))


@frozen(kw_only=True, repr=False)
class OrderItemOptionDiscount:
    order_id: int
    line_id: int
    lineopt_id: int
    attr_id: int
    attmpat_id: int
    pgrp_id: int
    display: bool
    descrip: str
    discount: Decimal
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("lineopt_id", "pgrp_id", "descrip", "discount"))


@frozen(kw_only=True, repr=False)
class OrderItemOption:
    id: int
    order_id: int
    line_id: int
    attr_id: int
    attr_code: str
    attmpat_id: int
    option_id: int
    opt_code: str
    retail: Decimal
    base_price: Decimal
    price: Decimal
    weight: Decimal
    formatted_weight: str
    data: str
    data_long: str
    attr_prompt: str
    opt_prompt: str
    attribute: str
    value: str
    discounts: tuple[OrderItemOptionDiscount, ...] = _absent_empty()
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("attr_code", "value", "price"))


@frozen(kw_only=True, repr=False)
class ProductSubscriptionTerm:
    id: int
    disp_order: int
    product_id: int
    frequency: str
    term: int
    descrip: str
    n: int
    fixed_dow: int
    fixed_dom: int
    sub_count: int
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("id", "frequency", "n", "descrip"))


@frozen(kw_only=True, repr=False)
class SubscriptionOption:
    subscrp_id: int
    templ_code: str
    attr_code: str
    value: str
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("attr_code", "value"))


@frozen(kw_only=True, repr=False)
class OrderItemSubscription:
    """``items[].subscription`` (subscription lines only). Its dates come as JSON_DateTime objects."""

    id: int
    order_id: int
    line_id: int
    cust_id: int
    custpc_id: int
    product_id: int
    subterm_id: int
    addr_id: int
    ship_id: int
    ship_data: str
    quantity: int
    termrem: int
    termproc: int
    firstdate: _Time | None
    lastdate: _Time | None
    nextdate: _Time | None
    status: str
    message: str
    cncldate: _Time | None
    tax: Decimal
    formatted_tax: str
    shipping: Decimal
    formatted_shipping: str
    subtotal: Decimal
    formatted_subtotal: str
    total: Decimal
    formatted_total: str
    authfails: int
    lastafail: _Time | None
    method: str
    productsubscriptionterm: ProductSubscriptionTerm | None = _absent_none()
    options: tuple[SubscriptionOption, ...] = _absent_empty()
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("id", "status", "nextdate", "total"))


@frozen(kw_only=True, repr=False)
class OrderPart:
    """A kit component (``items[].parts[]``), read from the catalog when the order is rendered."""

    code: str
    sku: str
    name: str
    quantity: int
    total_quantity: int
    price: Decimal
    cost: Decimal | None = _absent_none()
    weight: Decimal | None = _absent_none()
    formatted_weight: str | None = _absent_none()
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("code", "quantity", "total_quantity"))


@frozen(kw_only=True, repr=False)
class OrderShipment:
    """A shipment. One class for both forms Miva renders:

    the full form (``order.shipments[]``, CreateShipment, ``OrderShipmentList_Load_Query``) has
    ``batch_id`` and no ``formatted_weight``; the short form (``items[].shipment``) the reverse.
    ``items`` (full form with ODC items), ``order`` (``include_order``) and ``shipment_id``
    (CreateShipment) are ``None`` when absent.
    """

    id: int
    code: str
    batch_id: int | None = _absent_none()
    order_id: int
    status: ShipmentStatus
    labelcount: int
    ship_date: _Time | None
    tracknum: str
    tracktype: str
    tracklink: str | None = _absent_none()
    weight: Decimal
    formatted_weight: str | None = _absent_none()
    cost: Decimal
    formatted_cost: str
    items: tuple[OrderItem, ...] | None = _absent_none()
    order: Order | None = _absent_none()
    shipment_id: int | None = _absent_none()
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("id", "code", "status", "ship_date", "tracktype", "tracknum"))


@frozen(kw_only=True, repr=False)
class OrderItem:
    """An order line (``order.items[]``, also inside shipments and returns)."""

    order_id: int
    line_id: int
    group_id: int
    parent_id: int | None = _absent_none()  # LSK only
    status: ItemStatus
    subscrp_id: int
    subterm_id: int
    shpmnt_id: int
    rma_id: int
    product_id: int
    rma_code: str | None = _absent_none()  # only when rma_id != 0
    rma_dt_issued: _Time | None = _present_with("rma_code")
    rma_dt_recvd: _Time | None = _present_with("rma_code")
    dt_instock: _Time | None
    code: str
    name: str
    sku: str
    type: str | None = _absent_none()  # LSK only
    retail: Decimal
    base_price: Decimal
    price: Decimal
    total: Decimal
    formatted_total: str
    weight: Decimal
    formatted_weight: str
    taxable: bool
    tax: Decimal
    formatted_tax: str
    upsold: bool
    quantity: int
    shipment: OrderShipment | None = _absent_none()
    discounts: tuple[OrderItemDiscount, ...] = _absent_empty()
    options: tuple[OrderItemOption, ...] = _absent_empty()
    parts: tuple[OrderPart, ...] = _absent_empty()
    subscription: OrderItemSubscription | None = _absent_none()
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("line_id", "code", "quantity", "total", "status"))


@frozen(kw_only=True, repr=False)
class OrderCharge:
    order_id: int
    charge_id: int
    module_id: int
    type: str  # open set: SHIPPING, TAX, DISCOUNT, module-defined
    descrip: str
    amount: Decimal
    formatted_amount: str
    disp_amt: Decimal
    formatted_disp_amt: str
    tax_exempt: bool
    tax: Decimal
    formatted_tax: str
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("charge_id", "type", "descrip", "amount"))


@frozen(kw_only=True, repr=False)
class OrderCoupon:
    order_id: int
    coupon_id: int
    code: str
    descrip: str
    total: Decimal
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("coupon_id", "code", "total"))


@frozen(kw_only=True, repr=False)
class OrderDiscountTotal:
    order_id: int
    pgrp_id: int
    name: str
    descrip: str
    total: Decimal
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("pgrp_id", "name", "total"))


@frozen(kw_only=True, repr=False)
class OrderPayment:
    """A payment transaction row. ``decrypt_status`` … ``data`` come only with ODC ``payment_data``.

    ``data`` holds the payment module's (possibly decrypted) fields: never log it. It is not in
    ``repr`` and never in error messages, nor are ``description`` and ``decrypt_error``.
    """

    id: int
    order_id: int
    type: PaymentType
    refnum: str
    amount: Decimal
    formatted_amount: str
    available: Decimal
    formatted_available: str
    dtstamp: _Time | None
    expires: _Time | None
    pay_id: int
    pay_secid: int
    currency: str | None = _absent_none()  # LSK only
    environ: str | None = _absent_none()
    level: str | None = _absent_none()
    cardbrand: str | None = _absent_none()
    decrypt_status: str | None = _absent_none()
    decrypt_error: str | None = _absent_none(sensitive=True)
    description: str | None = _absent_none(sensitive=True)
    module: Module | None = _absent_none()
    data: Mapping[str, str] | None = _absent_none(kind="strmap", sensitive=True)
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("id", "type", "amount", "dtstamp", "decrypt_status"))


@frozen(kw_only=True, repr=False)
class OrderNote:
    """A note. The renderer is outside the LSK; fields follow the SDK models (trailing ones optional)."""

    id: int
    cust_id: int
    account_id: int
    order_id: int
    user_id: int
    notetext: str
    dtstamp: _Time | None
    cust_login: str | None = _absent_none()
    business_title: str | None = _absent_none()
    admin_user: str | None = _absent_none()
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    @property
    def is_workflow(self) -> bool:
        """Written by an order-workflow action rather than an admin user (``user_id == 0``)."""
        return self.user_id == 0

    def __repr__(self) -> str:
        return _short_repr(self, ("id", "user_id", "dtstamp"))


@frozen(kw_only=True, repr=False)
class OrderReturn:
    id: int
    order_id: int
    code: str
    status: ReturnStatus
    dt_issued: _Time | None
    dt_recvd: _Time | None
    items: tuple[OrderItem, ...] | None = _absent_none()
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("id", "code", "status", "dt_issued"))


@frozen(kw_only=True, repr=False)
class Order:
    """An order as ``OrderList_Load_Query`` / ``QueueOrderList_Load_Query`` / webhooks render it.

    On-demand keys that were not requested are ``None``; requested-and-empty collections are empty
    tuples.
    """

    id: int
    pay_id: int
    batch_id: int
    status: OrderStatus
    pay_status: PaymentStatus
    stk_status: StockStatus
    dt_instock: _Time | None
    orderdate: _Time | None
    cust_id: int
    ship_res: bool
    ship_fname: str
    ship_lname: str
    ship_email: str
    ship_comp: str
    ship_phone: str
    ship_fax: str
    ship_addr1: str
    ship_addr2: str
    ship_city: str
    ship_state: str
    ship_zip: str
    ship_cntry: str
    bill_fname: str
    bill_lname: str
    bill_email: str
    bill_comp: str
    bill_phone: str
    bill_fax: str
    bill_addr1: str
    bill_addr2: str
    bill_city: str
    bill_state: str
    bill_zip: str
    bill_cntry: str
    ship_id: int
    ship_data: str
    ship_method: str | None = _absent_none()
    cust_login: str | None = _absent_none()
    cust_pw_email: str | None = _absent_none()
    business_title: str | None = _absent_none()
    payment_module: str | None = _absent_none()
    source: str
    source_id: int
    total: Decimal
    formatted_total: str
    total_ship: Decimal
    formatted_total_ship: str
    total_tax: Decimal
    formatted_total_tax: str
    total_auth: Decimal
    formatted_total_auth: str
    total_capt: Decimal
    formatted_total_capt: str
    total_rfnd: Decimal
    formatted_total_rfnd: str
    net_capt: Decimal
    formatted_net_capt: str
    pend_count: int
    bord_count: int
    note_count: int
    dt_updated: _Time | None
    customer: Customer | None = _absent_none()
    items: tuple[OrderItem, ...] | None = _absent_none()
    charges: tuple[OrderCharge, ...] | None = _absent_none()
    coupons: tuple[OrderCoupon, ...] | None = _absent_none()
    discounts: tuple[OrderDiscountTotal, ...] | None = _absent_none()
    payments: tuple[OrderPayment, ...] | None = _absent_none()
    notes: tuple[OrderNote, ...] | None = _absent_none()
    shipments: tuple[OrderShipment, ...] | None = _absent_none()
    returns: tuple[OrderReturn, ...] | None = _absent_none()
    custom_field_values: _CustomFields | None = _absent_none(key="CustomField_Values", kind="cfv")
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    @property
    def is_guest(self) -> bool:
        """A guest checkout (``cust_id == 0``): there is no ``customer``."""
        return self.cust_id == 0

    @property
    def ship_to(self) -> Address:
        return _address(self, "ship", self.ship_res)

    @property
    def bill_to(self) -> Address:
        return _address(self, "bill", None)

    def custom_field(self, module: str, code: str) -> CustomFieldValue:
        """One custom field value, or None when it was not requested."""
        if self.custom_field_values is None:
            return None
        return self.custom_field_values.get(module, {}).get(code)

    def __repr__(self) -> str:
        name = f"{self.bill_fname} {self.bill_lname}".strip()
        date = self.orderdate.isoformat() if self.orderdate is not None else None
        items = "?" if self.items is None else str(len(self.items))
        return (
            f"Order(id={self.id}, orderdate={date}, customer={name!r}, total={self.total}, "
            f"status={self.status._name_}, items={items})"
        )

    def _repr_html_(self) -> str:
        """A compact table for notebooks (no payment data, no address beyond a name, as in ``repr``)."""
        from ._display import order_html

        return order_html(self)


@frozen(kw_only=True, repr=False)
class OrderCustomField:
    """An order custom field definition (``OrderCustomFieldList_Load``)."""

    code: str
    name: str
    type: str
    public: bool | None = _absent_none()
    readonly: bool | None = _absent_none()
    searchable: bool
    sortable: bool
    module: Module
    choices: tuple[str, ...] | None = _absent_none()
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return f"OrderCustomField(module={self.module.code!r}, code={self.code!r}, type={self.type!r})"


@frozen(kw_only=True, repr=False)
class BusinessAccount:
    """A business account (business-account functions; an order carries only ``business_title``)."""

    id: int
    title: str
    tax_exempt: bool
    order_cnt: int
    order_avg: Decimal
    formatted_order_avg: str
    order_tot: Decimal
    formatted_order_tot: str
    note_count: int
    extra: Mapping[str, object] = _extra()
    _wire_keys: tuple[str, ...] | None = _wire_keys()

    def __repr__(self) -> str:
        return _short_repr(self, ("id", "title"))


MODELS: tuple[type, ...] = (
    Module,
    Customer,
    OrderItemDiscount,
    OrderItemOptionDiscount,
    OrderItemOption,
    ProductSubscriptionTerm,
    SubscriptionOption,
    OrderItemSubscription,
    OrderPart,
    OrderShipment,
    OrderItem,
    OrderCharge,
    OrderCoupon,
    OrderDiscountTotal,
    OrderPayment,
    OrderNote,
    OrderReturn,
    Order,
    OrderCustomField,
    BusinessAccount,
)

for _cls in MODELS:
    attrs.resolve_types(_cls, globals(), locals())
del _cls


# ------------------------------------------------------------------------------- decode-time fixups
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _decoded_fixer(times: tuple[str, ...]) -> Callable[[Any], None]:
    """msgspec's post-build hook: narrow the wire forms of timestamps (``0``, ``{"time_t": …}``).

    Installed as ``__attrs_post_init__`` after the class is made, so attrs' own ``__init__`` (models
    built by hand) never calls it; msgspec calls it on every object it decodes, so it is kept lean:
    one C call reads every timestamp, and the common case (a real date) costs one type check and
    one attribute read.
    """
    set_slot = object.__setattr__
    read = operator.attrgetter(*times)
    single = len(times) == 1

    def fix(obj: Any) -> None:
        values = (read(obj),) if single else read(obj)
        for name, value in zip(times, values, strict=True):
            if value.__class__ is datetime:
                if value.year == 1970 and value == _EPOCH:  # 0 means "not set"
                    set_slot(obj, name, None)
            elif value is not None:
                set_slot(obj, name, from_unix_seconds(value.time_t))

    return fix


for _cls in MODELS:
    _times = tuple(a.name for a in attrs.fields(_cls) if a.type == _Time | None)
    if _times:
        _cls.__attrs_post_init__ = _decoded_fixer(_times)  # type: ignore[attr-defined]
del _cls, _times
