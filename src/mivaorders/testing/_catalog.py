"""The simulated store's catalog: installed modules, custom fields, products and the names orders are made of.

Fixed tables, deliberately independent of the library's own column catalog: the simulator must not share
a mistake with the code it tests.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

import attrs

from ._values import (
    ZERO,
)


def _module(
    mid: int, code: str, name: str, path: str, api_ver: str = "10.08", version: str = "10.0100"
) -> dict[str, Any]:
    return {
        "id": mid,
        "code": code,
        "name": name,
        "provider": "Example Provider Inc." if mid < 100 else "Miva Merchant",
        "api_ver": api_ver,
        "version": version,
        "module": path,
        "refcount": 1,
        "active": True,
        "priority": 0,
    }


# Payment modules by pay_id. pay_id 99 is referenced by old orders but no longer installed.
PAYMENT_MODULES: dict[int, dict[str, Any]] = {
    14: _module(14, "examplepay", "Example Card Gateway", "modules/payment/examplepay.mvc"),
    9: _module(9, "paypalcp", "PayPal Checkout", "modules/payment/paypalcp.mvc"),
    21: _module(21, "check", "Check / Money Order", "modules/payment/check.mvc"),
}
DELETED_PAY_ID = 99

# Shipping modules: id -> (name, carrier, {method code: description}). ship_id 31 is an uninstalled module.
SHIP_MODULES: dict[int, tuple[str, str, dict[str, str]]] = {
    12: ("ups", "UPS", {"GND": "UPS Ground", "2DA": "UPS 2nd Day Air"}),
    15: ("usps", "USPS", {"PRIORITY": "USPS Priority Mail", "FIRST": "USPS First-Class Package"}),
    18: ("flatrate", "", {"FLAT": "Flat Rate Shipping"}),
}
DELETED_SHIP_ID = 31
TAX_MODULE_ID = 33
COUPON_MODULE_ID = 61

CUSTOMFIELDS_MODULE = _module(
    156, "customfields", "Custom Fields", "modules/util/customfld.mvc", "10.08", "10.1000"
)
ORDERWORKFLOW_MODULE = _module(
    225, "orderworkflow", "Order Workflow", "modules/util/orderworkflow.mvc", "9.12", "26.0101"
)


@attrs.frozen
class CustomFieldDef:
    code: str
    name: str
    type: str
    choices: tuple[str, ...] = ()


# The `customfields` module's order fields, in the store's order (the fixture's four first).
CUSTOM_FIELDS: tuple[CustomFieldDef, ...] = (
    CustomFieldDef("gift_message", "Gift Message", "textarea"),
    CustomFieldDef("delivery_instructions", "Delivery Instructions", "textarea"),
    CustomFieldDef("po_number", "PO Number", "text"),
    CustomFieldDef("order_priority", "Order Priority", "choice", ("Normal", "Rush")),
    CustomFieldDef("signature_required", "Signature Required", "checkbox"),
    CustomFieldDef("packing_tags", "Packing Tags", "multitext"),
    CustomFieldDef("erp_exported", "Exported to ERP", "checkbox"),  # the usual write-back flag
)


@attrs.frozen
class Attr:
    code: str
    prompt: str
    attr_id: int
    # (option_id, opt_code, prompt, price); empty for text-entry attributes
    options: tuple[tuple[int, str, str, Decimal], ...] = ()
    kind: str = "select"  # select | text | memo


SIZE = Attr(
    "size",
    "Size",
    41,
    (
        (311, "s", "Small", ZERO),
        (312, "m", "Medium", ZERO),
        (313, "l", "Large", ZERO),
        (314, "xl", "X-Large", Decimal("2.00")),
    ),
)
COLOR = Attr(
    "color",
    "Color",
    42,
    ((318, "blue", "Blue", ZERO), (319, "red", "Red", ZERO), (320, "graphite", "Graphite", ZERO)),
)
GIFTWRAP = Attr("giftwrap", "Gift wrap", 43, ((325, "yes", "Yes", Decimal("2.5")),))
GRIND = Attr("grind", "Grind", 51, ((402, "whole", "Whole Bean", ZERO), (403, "fine", "Fine Grind", ZERO)))
ENGRAVING = Attr("engraving", "Engraving text", 60, kind="text")
MESSAGE = Attr("card_message", "Card message", 61, kind="memo")


@attrs.frozen
class Product:
    id: int
    code: str
    name: str
    sku: str
    retail: Decimal
    price: Decimal
    weight: Decimal
    cost: Decimal
    taxable: bool = True
    attrs: tuple[Attr, ...] = ()
    kind: str = "normal"  # normal | kit | subscription | digital


PRODUCTS: tuple[Product, ...] = (
    Product(
        201,
        "TEE-CLASSIC",
        "Classic Tee",
        "TEE-CLS",
        Decimal(30),
        Decimal(25),
        Decimal("0.5"),
        Decimal("9.5"),
        attrs=(SIZE, COLOR),
    ),
    Product(
        202,
        "MUG-LOGO",
        "Logo Mug",
        "MUG-LOGO-11",
        Decimal(15),
        Decimal(12),
        Decimal("0.9"),
        Decimal("4.25"),
        attrs=(GIFTWRAP,),
    ),
    Product(
        203,
        "STARTER-KIT",
        "Starter Kit",
        "KIT-START",
        Decimal(45),
        Decimal(40),
        Decimal("1.1"),
        Decimal(14),
        kind="kit",
    ),
    Product(
        204,
        "HOODIE-ZIP",
        "Zip Hoodie „Nordlicht“",
        "HOOD-ZIP",
        Decimal("64.99"),
        Decimal("59.99"),
        Decimal("1.25"),
        Decimal(22),
        attrs=(SIZE, COLOR),
    ),
    Product(
        205,
        "PEN-ENGRAVED",
        "Engraved Pen",
        "PEN-ENG",
        Decimal("24.5"),
        Decimal("19.99"),
        Decimal("0.1"),
        Decimal(6),
        attrs=(ENGRAVING,),
    ),
    Product(
        206,
        "CARD-GREETING",
        "Greeting Card",
        "CRD-GRT",
        Decimal("4.5"),
        Decimal("3.75"),
        Decimal("0.05"),
        Decimal("0.8"),
        attrs=(MESSAGE,),
    ),
    Product(
        207,
        "TEA-MATCHA",
        "Matcha Tea 抹茶 100 g",
        "TEA-MAT-100",
        Decimal("31.4567"),
        Decimal("31.4567"),
        Decimal("0.25"),
        Decimal(11),
        taxable=False,
    ),
    Product(
        208,
        "SOAP-LAV",
        "Lavender Soap",
        "SOAP-LAV",
        Decimal("7.125"),
        Decimal("6.3333"),
        Decimal("0.2"),
        Decimal("1.9"),
    ),
    Product(
        209,
        "CANDLE-CEDAR",
        "Cedar Candle",
        "CND-CED",
        Decimal("22"),
        Decimal("18.5"),
        Decimal("0.75"),
        Decimal("5.2"),
    ),
    Product(
        210,
        "BOTTLE-STEEL",
        "Steel Bottle 0,75 l",
        "BTL-STL-075",
        Decimal("27.99"),
        Decimal("24.99"),
        Decimal("0.6"),
        Decimal("8.1"),
        attrs=(COLOR,),
    ),
    Product(
        211,
        "NOTEBOOK-A5",
        "Notebook A5",
        "NTB-A5",
        Decimal("12.9"),
        Decimal("11.875"),
        Decimal("0.35"),
        Decimal("3.3"),
        attrs=(GIFTWRAP,),
    ),
    Product(
        212,
        "EBOOK-GUIDE",
        "Brewing Guide (e-book)",
        "EBK-BREW",
        Decimal("9.99"),
        Decimal("9.99"),
        ZERO,
        ZERO,
        taxable=False,
        kind="digital",
    ),
    Product(
        410,
        "COFFEE-1LB",
        "House Blend Coffee 1 lb",
        "COF-HB-1",
        Decimal(18),
        Decimal(16),
        Decimal(1),
        Decimal("6.4"),
        taxable=False,
        attrs=(GRIND,),
        kind="subscription",
    ),
    Product(
        520, "LAMP-DESK", "Desk Lamp", "LMP-DSK-BLK", Decimal(45), Decimal(40), Decimal("2.4"), Decimal(17)
    ),
    Product(
        521,
        "BULB-LED-4PK",
        "LED Bulb 4-Pack",
        "BLB-LED-4",
        Decimal(14),
        Decimal(12),
        Decimal("0.4"),
        Decimal("4.4"),
    ),
)
KIT_PARTS: tuple[tuple[Product, int], ...] = ((PRODUCTS[0], 1), (PRODUCTS[1], 1))

# (first, last) name pools; deliberately non-ASCII in places.
FIRST_NAMES = (
    "José",
    "Zoë",
    "雷",
    "Søren",
    "Ana",
    "François",
    "Mária",
    "Łukasz",
    "Jane",
    "Omar",
    "Priya",
    "Kenji",
    "Ngozi",
    "Ólafur",
    "Chloé",
    "Mehmet",
    "Aiyana",
    "Dmitrij",
    "Fatima",
    "Liam",
)
LAST_NAMES = (
    "Müller",
    "Ørsted",
    "李",
    "Kierkegård",
    "García",
    "Lefèvre",
    "Novák",
    "Żółć",
    "Sample",
    "Example",
    "Placeholder",
    "Tanaka",
    "Okafor",
    "Sigurðsson",
    "Dubois",
    "Yılmaz",  # noqa: RUF001 - a real Turkish name
    "Begay",
    "Ivanov",
    "Al-Hassan",
    "O'Brien",
)
# (city, state, zip, country, tax rate)
PLACES = (
    ("Springfield", "IL", "62701", "US", Decimal("0.0725")),
    ("Riverton", "WA", "98001", "US", Decimal("0.065")),
    ("Lakeside", "OR", "97001", "US", ZERO),
    ("Austin", "TX", "73301", "US", Decimal("0.0825")),
    ("San José", "CA", "95113", "US", Decimal("0.0925")),
    ("Toronto", "ON", "M5V 2T6", "CA", Decimal("0.13")),
    ("Montréal", "QC", "H2Y 1C6", "CA", Decimal("0.14975")),
    ("München", "", "80331", "DE", ZERO),
    ("Paris", "", "75001", "FR", ZERO),
    ("København", "", "1050", "DK", ZERO),
    ("東京都", "", "100-0001", "JP", ZERO),
)
STREETS = (
    "Example Street",
    "Sample Avenue",
    "Demo Road",
    "Musterstraße",
    "Rue de l'Exemple",
    "Østergade",
    "Placeholder Lane",
    "桜通り",
)
BUSINESSES = {88: "Example Widgets LLC", 91: "Ørsted Design ApS", 95: "株式会社サンプル"}
FREE_TEXT = (
    "Happy birthday, Zoë!",
    "Für Oma ❤",
    "To José — from all of us",
    "李雷 2024",
    "For Søren & Ana",
    "Congratulations!",
    "Thank you, Ngozi",
)
GIFT_MESSAGES = (
    "Happy birthday, Sam!",
    "Alles Gute zum Geburtstag!",
    "Joyeux anniversaire, Chloé",
    "お誕生日おめでとう",
)
DELIVERY = ("Leave at side door", "Ring twice — Klingel defekt", "Deliver to reception", "Call on arrival")
ADMIN_NOTES = (
    "Customer asked for a gift receipt.",
    "Address confirmed by phone.",
    "Kunde wünscht Lieferung nach 17 Uhr.",
    "Upgrade to faster shipping at no charge.",
)
COUPONS = {
    "SUMMER10": (21, 7, "Summer Sale", "10% off summer promotion"),
    "WELCOME5": (22, 8, "Welcome", "$5 off your first order"),
}
MEMBERS_PGRP = 3


def ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in plain.lower() if ch.isalnum())


PRODUCTS_BY_ID = {p.id: p for p in PRODUCTS}
