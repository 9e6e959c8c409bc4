"""The deterministic order generator: everything is drawn from one ``random.Random(seed)``.

Times are offsets from an anchor (the store clock's start), so the same seed and anchor give the same store.
Rows are dicts whose keys are already in Miva's render order and whose values are already in their JSON
form, so rendering is mostly copying.
"""

from __future__ import annotations

import contextlib
import gc
import random
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs

from ._catalog import (
    ADMIN_NOTES,
    BUSINESSES,
    COUPON_MODULE_ID,
    COUPONS,
    DELETED_PAY_ID,
    DELETED_SHIP_ID,
    DELIVERY,
    FIRST_NAMES,
    FREE_TEXT,
    GIFT_MESSAGES,
    GIFTWRAP,
    KIT_PARTS,
    LAST_NAMES,
    MEMBERS_PGRP,
    PLACES,
    PRODUCTS,
    PRODUCTS_BY_ID,
    SHIP_MODULES,
    SIZE,
    STREETS,
    TAX_MODULE_ID,
    Product,
    ascii_slug,
)
from ._records import (
    CustomerRecord,
    ItemRecord,
    OrderRecord,
    PaymentRecord,
    StoreData,
)
from ._values import (
    DAY,
    Z2,
    ZERO,
    full,
    json_datetime,
    money,
    pounds,
    q2,
)

ADDRESS_KEYS = (
    "fname",
    "lname",
    "email",
    "comp",
    "phone",
    "fax",
    "addr1",
    "addr2",
    "city",
    "state",
    "zip",
    "cntry",
)


def _address(rng: random.Random, fname: str, lname: str, comp: str) -> tuple[dict[str, str], Decimal]:
    city, state, zipc, cntry, rate = rng.choice(PLACES)
    slug = ascii_slug(fname) + "." + ascii_slug(lname)
    email = f"{slug}@example.com" if len(slug) > 2 else f"customer{rng.randint(100, 999)}@example.org"
    addr = {
        "fname": fname,
        "lname": lname,
        "email": email,
        "comp": comp,
        "phone": f"555-01{rng.randint(0, 99):02d}",
        "fax": f"555-01{rng.randint(0, 99):02d}" if comp and rng.random() < 0.5 else "",
        "addr1": f"{rng.randint(1, 999)} {rng.choice(STREETS)}",
        "addr2": rng.choice(("", "", "", "Apt 4", "Suite 300", "2. OG")),
        "city": city,
        "state": state,
        "zip": zipc,
        "cntry": cntry,
    }
    return addr, rate


def _make_customer(rng: random.Random, cid: int, created: int) -> CustomerRecord:
    c = CustomerRecord()
    c.id = cid
    fname, lname = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    c.account_id = rng.choice(tuple(BUSINESSES)) if rng.random() < 0.15 else 0
    c.ship, _ = _address(rng, fname, lname, BUSINESSES.get(c.account_id, ""))
    c.bill = dict(c.ship) if rng.random() < 0.8 else _address(rng, fname, lname, c.ship["comp"])[0]
    c.login = (ascii_slug(fname)[:1] + ascii_slug(lname)) or f"kunde{cid}"
    c.login = f"{c.login}{cid % 97}"
    c.pw_email = c.ship["email"]
    c.ship_id = 2000 + cid * 2
    c.bill_id = c.ship_id if c.bill == c.ship else c.ship_id + 1
    c.ship_res = not c.ship["comp"]
    c.tax_exempt = c.account_id != 0 and rng.random() < 0.3
    c.dt_created = created
    c.dt_pwchg = created
    c.dt_updated = created
    c.dt_login = created
    c.member = rng.random() < 0.3
    return c


def _order_row(oid: int, orderdate: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": oid,
        "pay_id": 0,
        "batch_id": 0,
        "status": 0,
        "pay_status": 0,
        "stk_status": 100,
        "dt_instock": 0,
        "orderdate": orderdate,
        "cust_id": 0,
        "ship_res": True,
    }
    for prefix in ("ship_", "bill_"):
        for key in ADDRESS_KEYS:
            row[prefix + key] = ""
    row.update(
        {
            "ship_id": 0,
            "ship_data": "",
            "source": "shopper",
            "source_id": 0,
            "total": Z2,
            "formatted_total": "$0.00",
            "total_ship": Z2,
            "formatted_total_ship": "$0.00",
            "total_tax": Z2,
            "formatted_total_tax": "$0.00",
            "total_auth": Z2,
            "formatted_total_auth": "$0.00",
            "total_capt": Z2,
            "formatted_total_capt": "$0.00",
            "total_rfnd": Z2,
            "formatted_total_rfnd": "$0.00",
            "net_capt": Z2,
            "formatted_net_capt": "$0.00",
            "pend_count": 0,
            "bord_count": 0,
            "note_count": 0,
            "dt_updated": orderdate,
        }
    )
    return row


def _make_item(
    data: StoreData, rng: random.Random, order: OrderRecord, product: Product, qty: int
) -> ItemRecord:
    c = data.counters
    oid = order.id
    line_id = c.next("line")
    base = product.price
    per_unit = ZERO
    if order.customer is not None and order.customer.member and product.kind != "digital":
        per_unit = q2(base * Decimal("0.10"))
    price = base - per_unit
    item = ItemRecord({})
    opt_total = ZERO
    opt_weight = ZERO
    for attr in product.attrs:
        if attr.kind == "select":
            if attr is GIFTWRAP and rng.random() < 0.6:
                continue
            option_id, opt_code, opt_prompt, opt_price = rng.choice(attr.options)
            data_short, data_long = "", ""
        else:
            option_id, opt_code, opt_prompt, opt_price = 0, "", "", ZERO
            text = rng.choice(FREE_TEXT)
            data_short, data_long = (
                (text, "") if attr.kind == "text" else ("", text + "\nMit herzlichen Grüßen")
            )
        opt_total += opt_price
        item.options.append(
            {
                "id": c.next("option"),
                "order_id": oid,
                "line_id": line_id,
                "attr_id": attr.attr_id,
                "attr_code": attr.code,
                "attmpat_id": 0,
                "option_id": option_id,
                "opt_code": opt_code,
                "retail": full(opt_price),
                "base_price": full(opt_price),
                "price": full(opt_price),
                "weight": 0,
                "formatted_weight": pounds(opt_weight),
                "data": data_short,
                "data_long": data_long,
                "attr_prompt": attr.prompt,
                "opt_prompt": opt_prompt,
                "attribute": attr.code,
                "value": opt_code if option_id else (data_short or data_long),
            }
        )
    if per_unit:
        item.discounts.append(
            {
                "order_id": oid,
                "line_id": line_id,
                "pgrp_id": MEMBERS_PGRP,
                "display": True,
                "descrip": "Member pricing",
                "discount": full(per_unit * qty),
            }
        )
    total = (price + opt_total) * qty
    sku = product.sku
    if product.attrs and product.attrs[0] is SIZE:
        sku = f"{sku}-{item.options[0]['opt_code'].upper()}"
    item.row = {
        "order_id": oid,
        "line_id": line_id,
        "group_id": 0,
        "parent_id": 0,
        "status": 220 if product.kind == "digital" else 0,
        "subscrp_id": 0,
        "subterm_id": 0,
        "shpmnt_id": 0,
        "rma_id": 0,
        "product_id": product.id,
        "rma_code": "",
        "rma_dt_issued": 0,
        "rma_dt_recvd": 0,
        "dt_instock": 0,
        "code": product.code,
        "name": product.name,
        "sku": sku,
        "type": "product",
        "retail": full(product.retail),
        "base_price": full(base),
        "price": full(price),
        "total": full(total),
        "formatted_total": money(total),
        "weight": full(product.weight),
        "formatted_weight": pounds(product.weight),
        "taxable": product.taxable,
        "tax": q2(ZERO),
        "formatted_tax": money(ZERO),
        "upsold": rng.random() < 0.04,
        "quantity": qty,
    }
    if product.kind == "kit":
        for part, pqty in KIT_PARTS:
            item.parts.append(
                {
                    "code": part.code,
                    "sku": part.sku,
                    "name": part.name,
                    "quantity": pqty,
                    "price": full(part.price),
                    "cost": full(part.cost),
                    "weight": full(part.weight),
                    "formatted_weight": pounds(part.weight),
                }
            )
    return item


def _line_total(item: ItemRecord) -> Decimal:
    return Decimal(item.row["total"])


def _set_money(row: dict[str, Any], key: str, value: Decimal) -> None:
    row[key] = q2(value)
    row["formatted_" + key] = money(value)


def _charge(
    order: OrderRecord, cid: int, module_id: int, ctype: str, descrip: str, amount: Decimal
) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "charge_id": cid,
        "module_id": module_id,
        "type": ctype,
        "descrip": descrip,
        "amount": q2(amount),
        "formatted_amount": money(amount),
        "disp_amt": q2(amount),
        "formatted_disp_amt": money(amount),
        "tax_exempt": True,
        "tax": q2(ZERO),
        "formatted_tax": money(ZERO),
    }


def recompute_totals(data: StoreData, order: OrderRecord, rate: Decimal | None = None) -> None:
    """Taxes, the TAX charge, the coupon charge and the order totals from the lines (order-model §21)."""
    row = order.row
    if rate is None:
        rate = next((p[4] for p in PLACES if p[0] == row["ship_city"]), ZERO)
    subtotal = ZERO
    tax_total = ZERO
    for item in order.items:
        line = _line_total(item)
        subtotal += line
        tax = q2(line * rate) if item.row["taxable"] else q2(ZERO)
        _set_money(item.row, "tax", tax)
        tax_total += tax
    for coupon in order.coupons:
        code = coupon["code"]
        disc = q2(subtotal * Decimal("0.10")) if code == "SUMMER10" else min(Decimal(5), q2(subtotal))
        coupon["total"] = full(disc)
        for pg in order.discounts:
            if pg["pgrp_id"] == COUPONS[code][1]:
                pg["total"] = full(disc)
        for ch in order.charges:
            if ch["type"] == "DISCOUNT" and code in ch["descrip"]:
                ch.update(_charge(order, ch["charge_id"], COUPON_MODULE_ID, "DISCOUNT", ch["descrip"], -disc))
    members = sum((Decimal(d["discount"]) for it in order.items for d in it.discounts), ZERO)
    for pg in order.discounts:
        if pg["pgrp_id"] == MEMBERS_PGRP:
            pg["total"] = full(members)
    tax_charges = [ch for ch in order.charges if ch["type"] == "TAX"]
    if tax_total and not tax_charges:
        order.charges.append(
            _charge(order, data.counters.next("charge"), TAX_MODULE_ID, "TAX", "Sales Tax", tax_total)
        )
    elif tax_charges:
        tax_charges[0].update(
            _charge(order, tax_charges[0]["charge_id"], TAX_MODULE_ID, "TAX", "Sales Tax", tax_total)
        )
    ship = sum((Decimal(ch["amount"]) for ch in order.charges if ch["type"] == "SHIPPING"), ZERO)
    charges = sum((Decimal(ch["amount"]) for ch in order.charges), ZERO)
    _set_money(row, "total", subtotal + charges)
    _set_money(row, "total_ship", ship)
    _set_money(row, "total_tax", tax_total)
    _recount(order)


def _recount(order: OrderRecord) -> None:
    statuses = [it.row["status"] for it in order.items]
    order.row["pend_count"] = sum(1 for s in statuses if s in (0, 100))
    order.row["bord_count"] = sum(1 for s in statuses if s == 400)


def recompute_payments(order: OrderRecord) -> None:
    row = order.row
    auth = sum((Decimal(p.row["amount"]) for p in order.payments if p.row["type"] in (1, 3, 5)), ZERO)
    capt = sum((Decimal(p.row["amount"]) for p in order.payments if p.row["type"] in (2, 4, 5)), ZERO)
    rfnd = sum((Decimal(p.row["amount"]) for p in order.payments if p.row["type"] == 6), ZERO)
    voided = any(p.row["type"] == 7 for p in order.payments)
    _set_money(row, "total_auth", auth)
    _set_money(row, "total_capt", capt)
    _set_money(row, "total_rfnd", rfnd)
    _set_money(row, "net_capt", capt - rfnd)
    if voided or auth == 0:
        row["pay_status"] = 0
    elif capt == 0:
        row["pay_status"] = 100
    else:
        row["pay_status"] = 200 if capt >= Decimal(row["total"]) else 201


def _payment(
    data: StoreData,
    rng: random.Random,
    order: OrderRecord,
    ptype: int,
    amount: Decimal,
    available: Decimal,
    when: int,
    *,
    secid: int = 0,
    brand: str = "Visa",
) -> PaymentRecord:
    pay_id = order.row["pay_id"]
    pid = data.counters.next("payment")
    prefix = {3: "AUTH", 4: "CAPT", 5: "SALE", 6: "RFND", 7: "VOID"}.get(ptype, "TXN")
    last4 = {"Visa": "1111", "Mastercard": "4444", "Amex": "0005", "Discover": "1117"}.get(brand, "0000")
    holder = f"{order.row['bill_fname']} {order.row['bill_lname']}"
    if pay_id == 9:
        description = f"PayPal ({order.row['bill_email']})"
        pdata = {"payer_email": order.row["bill_email"], "payer_id": f"PAYER{order.id % 100000:05d}X"}
        brand = ""
    elif pay_id == 21:
        description = "Check / Money Order"
        pdata = {}
        brand = ""
    else:
        description = f"{brand} ending in {last4}"
        exp = f"{rng.randint(1, 12):02d}/{rng.randint(2027, 2032)}"
        pdata = (
            {"cc_name": holder, "cc_type": brand, "cc_exp": exp, "cc_number": "X" * 12 + last4}
            if secid
            else {}
        )
    row = {
        "id": pid,
        "order_id": order.id,
        "type": ptype,
        "refnum": f"{prefix}-SIM-{pid:06d}",
        "amount": q2(amount),
        "formatted_amount": money(amount),
        "available": q2(available),
        "formatted_available": money(available),
        "dtstamp": when,
        "expires": when + 7 * DAY if ptype == 3 else 0,
        "pay_id": pay_id,
        "pay_secid": secid,
        "currency": "USD",
        "environ": "",
        "level": "",
        "cardbrand": brand,
    }
    return PaymentRecord(row, description, pdata)


def _shipment(
    data: StoreData, rng: random.Random, order: OrderRecord, lines: list[ItemRecord], when: int, shipped: bool
) -> dict[str, Any]:
    sid = data.counters.next("shipment")
    carrier = SHIP_MODULES.get(order.row["ship_id"], ("", "", {}))[1]
    tracknum = ""
    if shipped and carrier:
        tracknum = ("1Z" if carrier == "UPS" else "9400") + f"SIM{order.id:08d}{sid:05d}"
    weight = sum((Decimal(it.row["weight"]) * it.row["quantity"] for it in lines), ZERO)
    cost = q2(Decimal(order.row["total_ship"]) * Decimal("0.85"))
    day = datetime.fromtimestamp(when, timezone.utc).strftime("%Y%m%d")
    shp = {
        "id": sid,
        "code": f"{order.id}-{day}-{sid:05d}",
        "batch_id": 0,
        "order_id": order.id,
        "status": 200 if shipped else 100,
        "labelcount": 1 if shipped else 0,
        "ship_date": when if shipped else 0,
        "tracknum": tracknum,
        "tracktype": carrier if shipped else "",
        "tracklink": f"https://tracking.example.com/{carrier.lower()}/{tracknum}" if tracknum else "",
        "weight": q2(weight),
        "cost": cost if shipped else q2(ZERO),
        "formatted_cost": money(cost if shipped else ZERO),
    }
    for it in lines:
        it.row["shpmnt_id"] = sid
        if shipped and it.row["status"] in (0, 100):
            it.row["status"] = 200
    order.shipments.append(shp)
    return shp


def build_order(
    data: StoreData,
    rng: random.Random,
    oid: int,
    orderdate: int,
    anchor: int,
    *,
    customer: CustomerRecord | None,
    kind: str,
    n_items: int | None = None,
) -> OrderRecord:
    """One placed order; ``kind`` is shopper, admin, unpaid or lostmodule. Events happen up to ``anchor``.

    The steps draw from ``rng`` in a fixed order: the same seed gives the same order.
    """
    order = OrderRecord(_order_row(oid, orderdate), customer)
    tax_rate = _set_addresses(rng, order, customer)
    _set_source(rng, order.row, customer, kind)
    _choose_shipping(rng, order.row)
    _choose_payment_module(rng, order.row, kind)
    _add_lines(data, rng, order, customer, n_items)
    _add_charges_and_discounts(data, rng, order, kind)
    recompute_totals(data, order, tax_rate)
    _add_custom_fields(rng, order, customer)
    _lifecycle(data, rng, order, kind, anchor)
    return order


def _set_addresses(rng: random.Random, order: OrderRecord, customer: CustomerRecord | None) -> Decimal:
    """Ship and bill addresses (the customer's, or a guest's drawn here); returns the place's tax rate."""
    row = order.row
    if customer is not None:
        ship, bill = dict(customer.ship), dict(customer.bill)
        row["cust_id"] = customer.id
        rate = next((p[4] for p in PLACES if p[0] == ship["city"]), ZERO)
        if customer.tax_exempt:
            rate = ZERO
    else:
        fname, lname = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        ship, rate = _address(rng, fname, lname, "")
        bill = dict(ship)
    for key in ADDRESS_KEYS:
        row["ship_" + key] = ship[key]
        row["bill_" + key] = bill[key]
    row["ship_res"] = not ship["comp"]
    return rate


def _set_source(rng: random.Random, row: dict[str, Any], customer: CustomerRecord | None, kind: str) -> None:
    """Who placed the order: an admin (``user``) or the shopper."""
    if kind == "admin":
        row["source"], row["source_id"] = "user", rng.choice((3, 3, 0))
    else:
        row["source_id"] = customer.id if customer else 0


def _choose_shipping(rng: random.Random, row: dict[str, Any]) -> None:
    """The shipping module and method (a few orders use an uninstalled module, a few none)."""
    r = rng.random()
    row["ship_id"], row["ship_data"] = (
        (12, "GND")
        if r < 0.4
        else (12, "2DA")
        if r < 0.5
        else (15, "PRIORITY")
        if r < 0.7
        else (15, "FIRST")
        if r < 0.8
        else (18, "FLAT")
        if r < 0.95
        else (DELETED_SHIP_ID, "EXP")
        if r < 0.97
        else (0, "")
    )


def _choose_payment_module(rng: random.Random, row: dict[str, Any], kind: str) -> None:
    """The payment module: none for admin orders, check for unpaid ones, a deleted one for lostmodule."""
    if kind == "admin":
        row["pay_id"] = 0
    elif kind == "unpaid":
        row["pay_id"] = 21
    elif kind == "lostmodule":
        row["pay_id"] = DELETED_PAY_ID
    else:
        row["pay_id"] = 14 if rng.random() < 0.7 else 9


def _add_lines(
    data: StoreData,
    rng: random.Random,
    order: OrderRecord,
    customer: CustomerRecord | None,
    n_items: int | None,
) -> None:
    """The order's lines, and sometimes a subscription line for a registered customer."""
    row = order.row
    count = n_items if n_items is not None else rng.choice((1, 1, 2, 2, 2, 3, 3, 4, 5))
    subscribe = customer is not None and rng.random() < 0.08
    for i in range(count):
        product = rng.choice(PRODUCTS)
        if product.kind == "subscription" and not subscribe:
            product = PRODUCTS[i % 3]
        item = _make_item(data, rng, order, product, rng.choice((1, 1, 1, 2, 3)))
        order.items.append(item)
    if subscribe and customer is not None:
        order.items.append(_subscription_line(data, rng, order, customer))
    if any(PRODUCTS_BY_ID[it.row["product_id"]].kind == "digital" for it in order.items):
        row["stk_status"] = 0


def _subscription_line(
    data: StoreData, rng: random.Random, order: OrderRecord, customer: CustomerRecord
) -> ItemRecord:
    """A line of the subscription product, with the subscription it starts."""
    row = order.row
    oid, orderdate = row["id"], row["orderdate"]
    c = data.counters
    item = _make_item(data, rng, order, PRODUCTS[12], rng.choice((1, 2)))
    sub_id = c.next("subscription")
    item.row["subscrp_id"], item.row["subterm_id"] = sub_id, 44
    sub_total = Decimal(item.row["total"])
    method = SHIP_MODULES.get(row["ship_id"], ("", "", {}))[2].get(row["ship_data"], "Unknown")
    item.subscription = {
        "id": sub_id,
        "order_id": oid,
        "line_id": item.row["line_id"],
        "cust_id": customer.id,
        "custpc_id": 3000 + customer.id,
        "product_id": 410,
        "subterm_id": 44,
        "addr_id": customer.ship_id,
        "ship_id": row["ship_id"],
        "ship_data": row["ship_data"],
        "quantity": item.row["quantity"],
        "termrem": 0,
        "termproc": 1,
        "firstdate": json_datetime(orderdate),
        "lastdate": json_datetime(orderdate),
        "nextdate": json_datetime(orderdate + 30 * DAY),
        "status": "active",
        "message": "",
        "cncldate": json_datetime(0),
        "tax": q2(ZERO),
        "formatted_tax": money(ZERO),
        "shipping": q2(ZERO),
        "formatted_shipping": money(ZERO),
        "subtotal": q2(sub_total),
        "formatted_subtotal": money(sub_total),
        "total": q2(sub_total),
        "formatted_total": money(sub_total),
        "authfails": 0,
        "lastafail": json_datetime(0),
        "method": method,
        "productsubscriptionterm": {
            "id": 44,
            "disp_order": 1,
            "product_id": 410,
            "frequency": "n",
            "term": 0,
            "descrip": "Every 30 days",
            "n": 30,
            "fixed_dow": 0,
            "fixed_dom": 0,
            "sub_count": 0,
        },
        "options": [
            {"subscrp_id": sub_id, "templ_code": "", "attr_code": o["attr_code"], "value": o["value"]}
            for o in item.options
        ],
    }
    return item


def _add_charges_and_discounts(data: StoreData, rng: random.Random, order: OrderRecord, kind: str) -> None:
    """Shipping charge, a coupon now and then, and the members' price-group discount."""
    row = order.row
    oid = row["id"]
    c = data.counters
    if row["ship_id"]:
        method = SHIP_MODULES.get(row["ship_id"], ("", "", {}))[2].get(row["ship_data"], "Express")
        amount = {
            "GND": Decimal("9.95"),
            "2DA": Decimal("18.5"),
            "PRIORITY": Decimal("8.7"),
            "FIRST": Decimal("4.99"),
            "FLAT": Decimal(6),
        }.get(row["ship_data"], Decimal("24.99"))
        order.charges.append(_charge(order, c.next("charge"), row["ship_id"], "SHIPPING", method, amount))
    if kind != "admin" and rng.random() < 0.12:
        code = rng.choice(tuple(COUPONS))
        coupon_id, pgrp, pname, descrip = COUPONS[code]
        order.coupons.append(
            {"order_id": oid, "coupon_id": coupon_id, "code": code, "descrip": descrip, "total": 0}
        )
        order.discounts.append(
            {
                "order_id": oid,
                "pgrp_id": pgrp,
                "name": pname,
                "descrip": f"{descrip} (coupon {code})",
                "total": 0,
            }
        )
        order.charges.append(
            _charge(order, c.next("charge"), COUPON_MODULE_ID, "DISCOUNT", f"{pname} ({code})", ZERO)
        )
    if any(it.discounts for it in order.items):
        order.discounts.append(
            {
                "order_id": oid,
                "pgrp_id": MEMBERS_PGRP,
                "name": "Members",
                "descrip": "Member pricing",
                "total": 0,
            }
        )


def _add_custom_fields(rng: random.Random, order: OrderRecord, customer: CustomerRecord | None) -> None:
    """The order's custom fields (gift message, delivery instructions, PO number ...)."""
    if rng.random() < 0.15:
        order.custom["gift_message"] = rng.choice(GIFT_MESSAGES)
    if rng.random() < 0.1:
        order.custom["delivery_instructions"] = rng.choice(DELIVERY)
    if customer is not None and customer.account_id and rng.random() < 0.6:
        order.custom["po_number"] = f"PO-{rng.randint(10000, 99999)}"
    if rng.random() < 0.2:
        order.custom["order_priority"] = rng.choice(("Normal", "Rush"))
    if rng.random() < 0.1:
        order.custom["signature_required"] = "1"
    if rng.random() < 0.1:
        order.custom["packing_tags"] = rng.sample(["fragile", "gift", "express", "zerbrechlich", "贈り物"], 2)


def _lifecycle(data: StoreData, rng: random.Random, order: OrderRecord, kind: str, anchor: int) -> None:
    """Payments, shipping, backorders, cancellations, returns and notes, as far as the order's age allows.

    The steps draw from ``rng`` in a fixed order: the same seed gives the same history.
    """
    row = order.row
    t0 = row["orderdate"]
    brand = rng.choice(("Visa", "Visa", "Mastercard", "Amex", "Discover"))
    secid = 2 if row["pay_id"] == 14 and rng.random() < 0.4 else 0
    if kind in ("admin", "unpaid"):
        return
    auth_only = row["pay_id"] == 14 and rng.random() < 0.55
    fate = _fate(rng, order, anchor - t0)
    # The first payment follows the order by seconds, but never after the anchor (the store's "now"): an
    # order placed a minute ago must not carry a future dt_updated that a later edit would move backwards.
    when = min(t0 + rng.randint(5, 90), anchor)
    history = _History(data, rng, order, anchor, when, auth_only, secid, brand)
    if fate in ("new", "processing"):
        latest = history.not_shipped(processing=fate == "processing")
    elif fate == "cancelled":
        latest = history.cancelled()
    else:
        latest = history.shipped(partial=fate == "partial")
    recompute_payments(order)
    note_at = _maybe_admin_note(data, rng, order, anchor)
    if note_at is not None:
        latest = max(latest, note_at)
    if rng.random() < 0.03:
        order.auditlog = f"{datetime.fromtimestamp(t0, timezone.utc):%Y-%m-%d %H:%M:%S}: payment authorized"
    row["dt_updated"] = max(row["dt_updated"], latest)
    order.version = 0


def _fate(rng: random.Random, order: OrderRecord, age: int) -> str:
    """How far the order got: new (younger than two days), cancelled, partial, processing or shipped."""
    r = rng.random()
    if age < 2 * DAY:
        return "new"
    if r < 0.04:
        return "cancelled"
    if r < 0.09 and len(order.items) > 1:
        return "partial"
    if r < 0.12:
        return "processing"
    return "shipped"


@attrs.define
class _History:
    """One order's history after it was placed; each step returns the time of its last event."""

    data: StoreData
    rng: random.Random
    order: OrderRecord
    anchor: int
    when: int  # the first payment
    auth_only: bool
    secid: int
    brand: str

    def pay(self, kind: int, amount: Decimal, available: Decimal, at: int) -> PaymentRecord:
        """Record a payment transaction of ``kind`` (3 auth, 4 capture, 5 auth+capture, 6 refund, 7 void)."""
        payment = _payment(
            self.data, self.rng, self.order, kind, amount, available, at, secid=self.secid, brand=self.brand
        )
        self.order.payments.append(payment)
        return payment

    def not_shipped(self, *, processing: bool) -> int:
        """Paid (or authorized); some lines picked, and a processing order maybe packed."""
        order, rng, when = self.order, self.rng, self.when
        row = order.row
        total = Decimal(row["total"])
        latest = when
        self.pay(3 if self.auth_only else 5, total, total, when)
        for it in order.items:
            if it.row["status"] == 0:
                it.row["status"] = 100 if processing or rng.random() < 0.5 else 0
        row["status"] = 100 if any(it.row["status"] == 100 for it in order.items) else 0
        if processing and rng.random() < 0.5:
            _shipment(
                self.data,
                rng,
                order,
                [it for it in order.items if it.row["status"] == 100],
                when + 3600,
                False,
            )
            latest = when + 3600
        return max(latest, when)

    def cancelled(self) -> int:
        """Authorized, then voided; every line cancelled."""
        order, rng, when = self.order, self.rng, self.when
        total = Decimal(order.row["total"])
        self.pay(3, total, ZERO, when)
        void_at = when + rng.randint(3600, DAY)
        self.pay(7, total, ZERO, void_at)
        for it in order.items:
            it.row["status"] = 300
        order.row["status"] = 300
        _recount(order)
        return void_at

    def shipped(self, *, partial: bool) -> int:
        """Shipped (a partial order holds its last physical line back), captured, now and then returned."""
        data, rng, order, anchor, when = self.data, self.rng, self.order, self.anchor, self.when
        row = order.row
        t0: int = row["orderdate"]
        ship_at = min(t0 + rng.randint(DAY // 2, 3 * DAY), anchor - 60)
        lines = [it for it in order.items if PRODUCTS_BY_ID[it.row["product_id"]].kind != "digital"]
        held: ItemRecord | None = None
        if partial:
            held = lines[-1] if lines else None
        if held is not None:
            held.row["status"] = 400
            held.row["dt_instock"] = anchor + rng.randint(5, 30) * DAY
            row["dt_instock"] = held.row["dt_instock"]
            row["stk_status"] = 201
        shipped_lines = [it for it in lines if it is not held]
        for it in order.items:
            if PRODUCTS_BY_ID[it.row["product_id"]].kind == "digital":
                it.row["status"] = 221
        if shipped_lines:
            shp = _shipment(data, rng, order, shipped_lines, ship_at, True)
            shp["batch_id"] = 0
            row["batch_id"] = 40 + (ship_at - (anchor - 90 * DAY)) // DAY
        row["status"] = 201 if held is not None else 200
        _recount(order)
        total = Decimal(row["total"])
        if held is not None:
            captured = total - Decimal(held.row["total"]) - Decimal(held.row["tax"])
        else:
            captured = total
        captured = q2(captured)
        if self.auth_only:
            self.pay(3, total, total - captured, when)
            self.pay(4, captured, captured, ship_at)
        else:
            self.pay(5, total, total, when)
        latest = ship_at
        if held is None and len(shipped_lines) > 1 and rng.random() < 0.06:
            latest = max(latest, self.returned(shipped_lines[0], ship_at))
        return latest

    def returned(self, line: ItemRecord, ship_at: int) -> int:
        """A return of ``line`` (refunded once received)."""
        data, rng, order, anchor = self.data, self.rng, self.order, self.anchor
        rid = data.counters.next("rma")
        issued = min(ship_at + rng.randint(2, 10) * DAY, anchor - 120)
        received = issued + rng.randint(2, 6) * DAY if rng.random() < 0.7 else 0
        if received > anchor - 60:
            received = 0
        code = f"RMA-{order.id}-1"
        line.row.update(
            {
                "rma_id": rid,
                "rma_code": code,
                "rma_dt_issued": issued,
                "rma_dt_recvd": received,
                "status": 600 if received else 500,
            }
        )
        order.returns.append(
            {
                "id": rid,
                "order_id": order.id,
                "code": code,
                "status": 600 if received else 500,
                "dt_issued": issued,
                "dt_recvd": received,
            }
        )
        if not received:
            return issued
        refund = q2(Decimal(line.row["total"]) + Decimal(line.row["tax"]))
        capt_row = order.payments[-1]
        capt_row.row["available"] = q2(Decimal(capt_row.row["amount"]) - refund)
        capt_row.row["formatted_available"] = money(capt_row.row["available"])
        self.pay(6, refund, ZERO, received)
        return max(issued, received)


def _maybe_admin_note(data: StoreData, rng: random.Random, order: OrderRecord, anchor: int) -> int | None:
    """Now and then an admin's note on the order; returns when it was written."""
    if rng.random() >= 0.08:
        return None
    note_at: int = min(order.row["orderdate"] + rng.randint(600, 3 * DAY), anchor - 30)
    order.add_note(
        rng.choice(ADMIN_NOTES),
        note_at,
        user_id=3,
        admin_user="ops_user",
        note_id=data.counters.next("note"),
    )
    return note_at


def add_item(data: StoreData, order: OrderRecord, product_code: str | None = None) -> ItemRecord:
    """A new line on an existing order (an admin edit): totals are recomputed."""
    rng = data.rng
    product = next((p for p in PRODUCTS if p.code == product_code), None) or rng.choice(PRODUCTS[:12])
    item = _make_item(data, rng, order, product, 1)
    item.row["status"] = 220 if product.kind == "digital" else 0
    order.items.append(item)
    recompute_totals(data, order)
    return item


def add_payment(data: StoreData, order: OrderRecord, now: int) -> PaymentRecord:
    """A full authorize-and-capture of the current total."""
    if order.row["pay_id"] == 0:
        order.row["pay_id"] = 21
    total = Decimal(order.row["total"])
    pay = _payment(data, data.rng, order, 5, total, total, now)
    order.payments.append(pay)
    recompute_payments(order)
    return pay


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic collector while a big store is built.

    Millions of small containers are created and none of them is garbage; without the pause the
    collector's repeated passes over them cost a third of the build time for big stores.
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def generate(orders: int, seed: int, anchor: int) -> StoreData:
    """``orders`` placed orders spread over the 90 days before ``anchor``."""
    with paused_gc():
        return _generate(orders, seed, anchor)


def _generate(orders: int, seed: int, anchor: int) -> StoreData:
    rng = random.Random(seed)
    data = StoreData(random.Random(f"mivaorders-sim-runtime-{seed}"))
    n_cust = max(8, orders // 4)
    cust_ids: list[int] = []
    cid = 1000
    for _ in range(n_cust):
        cid += rng.randint(1, 4)
        created = anchor - rng.randint(95 * DAY, 900 * DAY)
        data.customers[cid] = _make_customer(rng, cid, created)
        cust_ids.append(cid)
    span_start = anchor - 90 * DAY
    step = (90 * DAY - 600) / max(orders, 1)
    oid = 100000 + rng.randint(1, 50)
    placed: list[OrderRecord] = []
    for i in range(orders):
        # an id is assigned when the shopper submits the address step; abandoned checkouts burn ids
        if rng.random() < 0.18:
            oid += rng.randint(1, 3)
        oid += 1
        assigned = int(span_start + (i + rng.random()) * step)
        delay = rng.randint(60, 1800) if rng.random() < 0.85 else rng.randint(3600, 3 * DAY)
        orderdate = max(assigned, min(assigned + delay, anchor - 60))
        r = rng.random()
        kind = "admin" if r < 0.03 else "unpaid" if r < 0.05 else "lostmodule" if r < 0.06 else "shopper"
        customer = None if (rng.random() < 0.25 and kind != "admin") else data.customers[rng.choice(cust_ids)]
        order = build_order(data, rng, oid, orderdate, anchor, customer=customer, kind=kind)
        placed.append(order)
        if customer is not None:
            customer.order_cnt += 1
            customer.order_tot += Decimal(order.row["total"])
            customer.dt_login = max(customer.dt_login, orderdate - 120)
            customer.dt_updated = max(customer.dt_updated, orderdate - 60)
    data.counters.order = oid
    for order in sorted(placed, key=lambda o: o.id):
        data.orders[order.id] = order
    return data
