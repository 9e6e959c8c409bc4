"""The simulated store's data: a deterministic generator of Miva orders, and the records it fills.

One name space over the modules that hold it: ``_values`` (rounding, money, ``JSON_DateTime``),
``_catalog`` (modules, fields, products, names), ``_records`` (what the store keeps) and ``_generator``
(everything drawn from one ``random.Random(seed)``).
"""

from __future__ import annotations

from ._catalog import (
    CUSTOM_FIELDS,
    CUSTOMFIELDS_MODULE,
    ORDERWORKFLOW_MODULE,
    PAYMENT_MODULES,
    SHIP_MODULES,
    CustomFieldDef,
)
from ._generator import (
    ADDRESS_KEYS,
    add_item,
    add_payment,
    build_order,
    generate,
    paused_gc,
    recompute_payments,
    recompute_totals,
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
    ZERO,
    json_datetime,
    money,
    q2,
)

__all__ = [
    "ADDRESS_KEYS",
    "CUSTOMFIELDS_MODULE",
    "CUSTOM_FIELDS",
    "DAY",
    "ORDERWORKFLOW_MODULE",
    "PAYMENT_MODULES",
    "SHIP_MODULES",
    "ZERO",
    "CustomFieldDef",
    "CustomerRecord",
    "ItemRecord",
    "OrderRecord",
    "PaymentRecord",
    "StoreData",
    "add_item",
    "add_payment",
    "build_order",
    "generate",
    "json_datetime",
    "money",
    "paused_gc",
    "q2",
    "recompute_payments",
    "recompute_totals",
]
