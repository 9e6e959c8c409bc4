"""The column catalogs of ``OrderList_Load_Query`` / ``QueueOrderList_Load_Query``.

Miva silently ignores a search field, sort column or on-demand column it does not know, so every
name the library sends is checked against these sets first. The lists follow the server source
(``order-functions.md`` §1.2, §1.3, §1.5), not the official SDKs' older client-side lists.
"""

from __future__ import annotations

import re

__all__ = [
    # search and sort columns
    "BOOLEAN_COLUMNS",
    "DECIMAL_COLUMNS",
    "INTEGER_COLUMNS",
    "NUMERIC_COLUMNS",
    "SEARCH_COLUMNS",
    "SORT_COLUMNS",
    "SORT_ONLY_COLUMNS",
    "SPECIAL_SEARCH_FIELDS",
    "TEXT_COLUMNS",
    "TIMESTAMP_COLUMNS",
    "PAYMENT_FILTER_VALUES",
    "CUSTOM_FIELD_PREFIX",
    "is_custom_field_column",
    # on-demand columns
    "ALL_COLUMNS",
    "BUSINESS_TITLE",
    "CHARGES",
    "COUPONS",
    "CUSTOMER",
    "CUSTOM_FIELDS",
    "CUST_LOGIN",
    "CUST_PW_EMAIL",
    "DISCOUNTS",
    "ITEMS",
    "NOTES",
    "ONDEMAND_COLUMNS",
    "PARTS",
    "PAYMENTS",
    "PAYMENT_DATA",
    "PAYMENT_MODULE",
    "RETURNS",
    "SHIPMENTS",
    "SHIP_METHOD",
]

#: The twelve suffixes of an address block (``ship_<part>``, ``bill_<part>``).
ADDRESS_PARTS = (
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

#: Unix-second timestamps (the database columns are integers).
TIMESTAMP_COLUMNS: frozenset[str] = frozenset({"orderdate", "dt_instock", "dt_updated"})

#: Whole-number columns (ids, status codes, counters).
INTEGER_COLUMNS: frozenset[str] = frozenset(
    {
        "id",
        "batch_id",
        "status",
        "pay_status",
        "ship_id",
        "source_id",
        "pend_count",
        "bord_count",
        "note_count",
    }
)

#: Money columns.
DECIMAL_COLUMNS: frozenset[str] = frozenset(
    {"total", "total_ship", "total_tax", "total_auth", "total_capt", "total_rfnd", "net_capt"}
)

#: Every numeric column that is not a timestamp: integers and money.
NUMERIC_COLUMNS: frozenset[str] = INTEGER_COLUMNS | DECIMAL_COLUMNS

#: Columns compared with ``TRUE``/``FALSE``.
BOOLEAN_COLUMNS: frozenset[str] = frozenset({"ship_res"})

#: Text columns (``cust_login``, ``cust_pw_email``, ``business_title`` come from joins; NULL reads as "").
TEXT_COLUMNS: frozenset[str] = frozenset(
    {f"ship_{part}" for part in ADDRESS_PARTS}
    | {f"bill_{part}" for part in ADDRESS_PARTS}
    | {"ship_data", "source", "cust_login", "cust_pw_email", "business_title"}
)

#: Search fields handled by the order function itself: equality only (the server ignores the operator).
SPECIAL_SEARCH_FIELDS: frozenset[str] = frozenset({"payment", "pay_id", "product_code"})

#: The four values the ``payment`` search field understands (compared case-sensitively).
PAYMENT_FILTER_VALUES: frozenset[str] = frozenset(
    {"auth_0_capt", "partial_capt", "capt_not_ship", "ship_not_capt"}
)

#: Every field accepted in a ``search`` condition (custom fields aside).
SEARCH_COLUMNS: frozenset[str] = (
    TIMESTAMP_COLUMNS | NUMERIC_COLUMNS | BOOLEAN_COLUMNS | TEXT_COLUMNS | SPECIAL_SEARCH_FIELDS
)

#: Sort aliases that cannot be searched: first then last name; payment module name then ``pay_id``.
SORT_ONLY_COLUMNS: frozenset[str] = frozenset({"ship_name", "bill_name", "payment_module"})

#: Every column accepted by ``Sort`` (custom fields aside); ``ship_id`` and the special fields are not.
SORT_COLUMNS: frozenset[str] = (SEARCH_COLUMNS - SPECIAL_SEARCH_FIELDS - {"ship_id"}) | SORT_ONLY_COLUMNS

#: The exact, case-sensitive prefix of custom-field columns.
CUSTOM_FIELD_PREFIX = "CustomField_Values:"

# A module or field code: no colon, no wildcard, no whitespace.
_CODE = r"[^:*\s]+"
_CUSTOM_FIELD_COLUMN = re.compile(rf"CustomField_Values:{_CODE}:{_CODE}")


def is_custom_field_column(name: str) -> bool:
    """True for a well-formed ``CustomField_Values:<module>:<code>`` (one field, no wildcard)."""
    return _CUSTOM_FIELD_COLUMN.fullmatch(name) is not None


# On-demand columns (order-functions.md §1.2).
SHIP_METHOD = "ship_method"
CUST_LOGIN = "cust_login"
CUST_PW_EMAIL = "cust_pw_email"
BUSINESS_TITLE = "business_title"
PAYMENT_MODULE = "payment_module"
CUSTOMER = "customer"
ITEMS = "items"
CHARGES = "charges"
COUPONS = "coupons"
DISCOUNTS = "discounts"
PAYMENTS = "payments"
#: Decrypted payment data on each payment; needs ``payments`` and the request's ``Passphrase``.
PAYMENT_DATA = "payment_data"
NOTES = "notes"
#: Kit components inside each kit line of ``items`` (needs ``items``).
PARTS = "parts"
SHIPMENTS = "shipments"
RETURNS = "returns"
#: Every custom field of every module (including ``orderworkflow``'s audit log and queue flags).
CUSTOM_FIELDS = "CustomField_Values:*"

#: Every on-demand column except ``payment_data`` (which needs a passphrase), in Miva's documented order.
ALL_COLUMNS: tuple[str, ...] = (
    SHIP_METHOD,
    CUST_LOGIN,
    CUST_PW_EMAIL,
    BUSINESS_TITLE,
    PAYMENT_MODULE,
    CUSTOMER,
    ITEMS,
    CHARGES,
    COUPONS,
    DISCOUNTS,
    PAYMENTS,
    NOTES,
    PARTS,
    SHIPMENTS,
    RETURNS,
    CUSTOM_FIELDS,
)

#: Every plain (non-custom-field) on-demand column name, lower-case as Miva documents them.
ONDEMAND_COLUMNS: frozenset[str] = frozenset(ALL_COLUMNS) - {CUSTOM_FIELDS} | {PAYMENT_DATA}
