"""The server-side list-query engine: ``Filter`` -> expression tree, ``Sort``, ``Count``/``Offset``.

An independent implementation of miva-json-api.md §9-§10 and order-functions.md §1.3/§1.5: every group
is a flat sequence of entries joined by connectors, entries that produce no SQL vanish (and take their
connector with them), and AND binds tighter than OR. Comparisons imitate MySQL: text is compared
case-insensitively, numbers numerically, a non-numeric value against a number column counts as 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Union

import attrs

from ._data import OrderRecord
from ._render import Columns, custom_value, module_fields, parse_columns, payment_module_name
from ._workflow import QueueSet

__all__ = ["FieldError", "ListParams", "NumCompare", "Query", "compile_query", "parse_list_params"]

Predicate = Callable[[OrderRecord], bool]

INT_COLUMNS = frozenset(
    {
        "id",
        "batch_id",
        "status",
        "pay_status",
        "orderdate",
        "dt_instock",
        "dt_updated",
        "ship_id",
        "source_id",
        "pend_count",
        "bord_count",
        "note_count",
    }
)
MONEY_COLUMNS = frozenset(
    {"total", "total_ship", "total_tax", "total_auth", "total_capt", "total_rfnd", "net_capt"}
)
BOOL_COLUMNS = frozenset({"ship_res"})
_ADDR = ("fname", "lname", "email", "comp", "phone", "fax", "addr1", "addr2", "city", "state", "zip", "cntry")
TEXT_COLUMNS = frozenset(
    {*(f"ship_{a}" for a in _ADDR), *(f"bill_{a}" for a in _ADDR), "ship_data", "source"}
)
JOIN_COLUMNS = frozenset({"cust_login", "cust_pw_email", "business_title"})
SEARCH_COLUMNS = INT_COLUMNS | MONEY_COLUMNS | BOOL_COLUMNS | TEXT_COLUMNS | JOIN_COLUMNS
SORT_COLUMNS = (SEARCH_COLUMNS - {"ship_id"}) | {"ship_name", "bill_name", "payment_module"}
OPERATORS = frozenset(
    {
        "EQ",
        "NE",
        "GT",
        "GE",
        "LT",
        "LE",
        "CO",
        "NC",
        "LIKE",
        "NOTLIKE",
        "TRUE",
        "FALSE",
        "NULL",
        "IN",
        "NOT_IN",
    }
)
GROUP_FIELDS = frozenset({"search", "search_AND", "search_OR"})
MAX_INT = 2147483647


# --------------------------------------------------------------------------------------- value semantics

_NUM_PREFIX = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")


def mysql_number(value: Any) -> Decimal:
    """MySQL's string-to-number cast: the longest numeric prefix, else 0."""
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    match = _NUM_PREFIX.match(str(value))
    if not match:
        return Decimal(0)
    try:
        return Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the regex only admits valid numbers
        return Decimal(0)


def _number(value: Any) -> int | Decimal:
    """:func:`mysql_number` without building a Decimal for a plain int: int and Decimal compare exactly."""
    return value if type(value) is int else mysql_number(value)


def as_text(value: Any) -> str:
    if value is None:
        return ""  # MivaScript has no null: a JSON null arrives as an empty value
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (``%``, ``_``, backslash escape), case-insensitive."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def fold(text: str) -> str:
    # case-insensitive collation; MySQL's PAD SPACE collations also ignore trailing spaces
    return text.casefold().rstrip(" ")


@attrs.frozen
class Column:
    """How to read one searchable/sortable column of an order, and its kind."""

    get: Callable[[OrderRecord], Any]
    kind: str  # "num" | "text"
    stored_text: Callable[[Any], str] = as_text  # the column as text (for LIKE on numbers)
    name: str = ""


def _row_getter(name: str) -> Callable[[OrderRecord], Any]:
    return lambda o: o.row[name]


def _join_getter(name: str) -> Callable[[OrderRecord], Any]:
    def get(o: OrderRecord) -> str:
        cust = o.customer
        if cust is None:
            return ""  # a NULL from the join compares as ""
        if name == "cust_login":
            return cust.login
        if name == "cust_pw_email":
            return cust.pw_email
        return cust.business_title

    return get


def _money_text(value: Any) -> str:
    return f"{Decimal(value):.2f}"


def column(name: str, queues: QueueSet) -> Column | None:
    if name in INT_COLUMNS:
        return Column(_row_getter(name), "num", name=name)
    if name in MONEY_COLUMNS:
        return Column(_row_getter(name), "num", _money_text)
    if name in BOOL_COLUMNS:
        return Column(lambda o: 1 if o.row[name] else 0, "num")
    if name in TEXT_COLUMNS:
        return Column(_row_getter(name), "text")
    if name in JOIN_COLUMNS:
        return Column(_join_getter(name), "text")
    if name.startswith("CustomField_Values:"):
        parts = name.split(":")
        if len(parts) != 3 or parts[2] not in module_fields(parts[1], queues):
            return None
        module, code = parts[1], parts[2]

        def get(o: OrderRecord) -> str:
            value = custom_value(o, module, code, queues)
            return "\n".join(value) if isinstance(value, list) else str(value)

        return Column(get, "text")
    return None


def compare(col: Column, op: str, raw: Any) -> Predicate | None:
    """A predicate for one condition, or None when it adds nothing to the WHERE clause."""
    get = col.get
    text = as_text(raw)
    if op in ("TRUE", "FALSE"):
        want = Decimal(1 if op == "TRUE" else 0)
        return lambda o: mysql_number(get(o)) == want
    if op == "NULL":
        if col.kind == "text":
            return lambda o: get(o) == ""
        return lambda o: mysql_number(get(o)) == 0  # MySQL casts '' to 0 for number columns
    if op in ("CO", "NC", "LIKE", "NOTLIKE"):
        pattern = like_regex(f"%{text}%" if op in ("CO", "NC") else text)
        negate = op in ("NC", "NOTLIKE")
        stored = col.stored_text
        return lambda o: bool(pattern.fullmatch(stored(get(o)))) != negate
    if op in ("IN", "NOT_IN"):
        members = [m.strip() for m in text.split(",")]
        members = [m for m in members if m]
        if not members:
            return None
        tests = [compare(col, "EQ", m) for m in members]
        preds = [t for t in tests if t is not None]
        if op == "IN":
            return lambda o: any(p(o) for p in preds)
        return lambda o: not any(p(o) for p in preds)
    if col.kind == "num":
        return NumCompare(get, op, mysql_number(text), col.name)
    target_text = fold(text)

    def text_cmp(o: OrderRecord) -> bool:
        return _cmp(op, fold(as_text(get(o))), target_text)

    return text_cmp


@attrs.frozen
class NumCompare:
    """``column op number``: a predicate that also tells the engine which ids it can match at all."""

    get: Callable[[OrderRecord], Any]
    op: str
    target: Decimal
    name: str

    def __call__(self, o: OrderRecord) -> bool:
        return _cmp(self.op, _number(self.get(o)), self.target)

    def id_bounds(self) -> tuple[int | None, int | None]:
        """Inclusive bounds on an integer ``id`` this condition implies; ``(None, None)`` when none."""
        if self.name != "id" or self.target.adjusted() > 18:
            return None, None
        t = self.target
        if self.op == "GT":
            return math.floor(t) + 1, None
        if self.op == "GE":
            return math.ceil(t), None
        if self.op == "LT":
            return None, math.ceil(t) - 1
        if self.op == "LE":
            return None, math.floor(t)
        if self.op == "EQ":
            return math.ceil(t), math.floor(t)  # empty when t is not a whole number
        return None, None


def _cmp(op: str, a: Any, b: Any) -> bool:
    if op == "EQ":
        return bool(a == b)
    if op == "NE":
        return bool(a != b)
    if op == "GT":
        return bool(a > b)
    if op == "GE":
        return bool(a >= b)
    if op == "LT":
        return bool(a < b)
    return bool(a <= b)  # LE


# ----------------------------------------------------------------------------------------- special fields


def _payment_filter(value: str) -> Predicate | None:
    def d(o: OrderRecord, key: str) -> Decimal:
        return Decimal(o.row[key])

    if value == "auth_0_capt":
        return lambda o: d(o, "total_auth") > 0 and d(o, "net_capt") == 0
    if value == "partial_capt":
        return lambda o: d(o, "net_capt") < d(o, "total_auth") and d(o, "net_capt") != 0
    if value == "capt_not_ship":
        return lambda o: o.row["status"] not in (200, 201) and d(o, "net_capt") > 0
    if value == "ship_not_capt":
        return lambda o: o.row["status"] in (200, 201) and d(o, "net_capt") == 0
    return None


def _special(field: str, raw: Any, flags: set[str]) -> Predicate | None:
    text = as_text(raw)
    if field == "payment":
        return _payment_filter(text)
    if field == "product_code":
        wanted = fold(text)
        return lambda o: any(fold(it.row["code"]) == wanted for it in o.items)
    # pay_id: always equality, and it switches on the payment_module output column
    flags.add("payment_module")
    pay_id = mysql_number(text)
    return lambda o: Decimal(o.row["pay_id"]) == pay_id


SPECIAL_FIELDS = frozenset({"payment", "product_code", "pay_id"})


# ------------------------------------------------------------------------------------------ expressions

Node = Union["Group", Predicate]


@attrs.frozen
class Group:
    """A flat sequence ``e1 J e2 J e3 ...``; AND binds tighter than OR."""

    entries: tuple[tuple[str, Node], ...]  # (joiner, node); the first joiner is ignored

    def evaluate(self, order: OrderRecord) -> bool:
        # OR of AND-runs
        result = False
        run = True
        for index, (joiner, node) in enumerate(self.entries):
            value = node.evaluate(order) if isinstance(node, Group) else node(order)
            if index == 0:
                run = value
            elif joiner == "AND":
                run = run and value
            else:
                result = result or run
                run = value
        return result or run

    def id_bounds(self) -> tuple[int | None, int | None]:
        """Inclusive ``id`` bounds every match must satisfy (only AND-only groups imply any)."""
        if any(joiner != "AND" for joiner, _ in self.entries[1:]):
            return None, None
        low: int | None = None
        high: int | None = None
        for _, node in self.entries:
            if isinstance(node, (Group, NumCompare)):
                lo, hi = node.id_bounds()
                low = lo if low is None else low if lo is None else max(low, lo)
                high = hi if high is None else high if hi is None else min(high, hi)
        return low, high


def _build_group(
    items: Any,
    default_joiner: str,
    queues: QueueSet,
    flags: set[str],
    resolve: Callable[[str], Column | None] | None = None,
) -> Group | None:
    """A ``search`` value array -> group, or None when nothing in it produced a condition.

    ``resolve`` names the columns of another record type (shipments); by default, the order columns.
    """
    if not isinstance(items, list):
        return None  # ❓ a single object instead of an array: treated as no condition
    entries: list[tuple[str, Node]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        field = item.get("field")
        op = item.get("operator")
        if not isinstance(field, str) or not isinstance(op, str):
            continue
        node: Node | None
        joiner = default_joiner
        if op == "SUBWHERE":
            if field not in GROUP_FIELDS:
                continue
            inner_default = "AND" if field == "search_OR" else "OR"
            node = _build_group(item.get("value"), inner_default, queues, flags, resolve)
            if field == "search_AND":
                joiner = "AND"
            elif field == "search_OR":
                joiner = "OR"
        elif op not in OPERATORS:
            continue
        elif resolve is None and field in SPECIAL_FIELDS:
            node = _special(field, item.get("value"), flags)  # the operator is ignored for these
        else:
            col = column(field, queues) if resolve is None else resolve(field)
            node = compare(col, op, item.get("value")) if col is not None else None
        if node is not None:
            entries.append((joiner, node))
    return Group(tuple(entries)) if entries else None


@attrs.frozen
class Query:
    where: Group | None
    columns: Columns
    sort_key: Callable[[OrderRecord], Any] | None
    descending: bool

    def matches(self, order: OrderRecord) -> bool:
        return self.where is None or self.where.evaluate(order)

    def id_bounds(self) -> tuple[int | None, int | None]:
        """Inclusive ``id`` bounds outside which nothing matches (an index hint; ``matches`` decides)."""
        return (None, None) if self.where is None else self.where.id_bounds()

    def order(self, orders: Sequence[OrderRecord]) -> list[OrderRecord]:
        """Sorted, with ``id`` as the tie-breaker in the same direction."""
        key = self.sort_key
        if key is None:
            return sorted(orders, key=lambda o: o.id, reverse=self.descending)
        return sorted(orders, key=lambda o: (key(o), o.id), reverse=self.descending)


def compile_query(filters: Any, sort: Any, queues: QueueSet) -> Query:
    flags: set[str] = set()
    entries: list[tuple[str, Node]] = []
    column_values: list[Any] = []
    for entry in filters if isinstance(filters, list) else ():
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        value = entry.get("value")
        node: Node | None = None
        joiner = "AND"
        if name == "ondemandcolumns":
            if isinstance(value, list):
                column_values.extend(value)
            continue
        if name == "Customer_ID":
            cust_id = mysql_number(as_text(value))
            node = lambda o, c=cust_id: Decimal(o.row["cust_id"]) == c  # noqa: E731
        elif name == "BusinessAccount_ID":
            acct = mysql_number(as_text(value))
            node = lambda o, a=acct: o.customer is not None and Decimal(o.customer.account_id) == a  # noqa: E731
        elif name == "search":
            node = _build_group(value, "OR", queues, flags)
        elif name == "search_AND":
            node, joiner = _build_group(value, "OR", queues, flags), "AND"
        elif name == "search_OR":
            node, joiner = _build_group(value, "AND", queues, flags), "OR"
        if node is not None:
            entries.append((joiner, node))
    cols = parse_columns(column_values, queues)
    if flags:
        cols = cols.with_names(*flags)
    key, descending = _sort(sort, queues)
    return Query(Group(tuple(entries)) if entries else None, cols, key, descending)


def _sort(sort: Any, queues: QueueSet) -> tuple[Callable[[OrderRecord], Any] | None, bool]:
    text = as_text(sort).strip()
    descending = text.startswith("-")
    name = text[1:] if descending else text
    if name in ("ship_name", "bill_name"):
        prefix = name[:5]
        return (lambda o: (fold(o.row[prefix + "fname"]), fold(o.row[prefix + "lname"]))), descending
    if name == "payment_module":
        return (lambda o: (fold(payment_module_name(o)), o.row["pay_id"])), descending
    if name in SORT_COLUMNS or name.startswith("CustomField_Values:"):
        if name == "CustomField_Values:orderworkflow:auditlog":
            return None, descending  # not sortable
        col = column(name, queues)
        if col is not None:
            get = col.get
            if col.kind == "num":
                return (lambda o: _number(get(o))), descending
            return (lambda o: fold(as_text(get(o)))), descending
    return None, descending


# ---------------------------------------------------------------------------------------- Count/Offset


@attrs.frozen
class FieldError:
    field: str
    message: str


@attrs.frozen
class ListParams:
    count: int
    offset: int  # as sent (echoed in start_offset)

    def window(self, total: int) -> tuple[int, int]:
        start = max(self.offset, 0)
        if self.count <= 0:
            return start, total
        return start, min(total, start + self.count)


def _whole(name: str, value: Any, errors: list[FieldError]) -> int:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        errors.append(FieldError(name, "If specified, the value may not be blank"))
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        errors.append(FieldError(name, "Please enter a whole number"))
        return 0
    text = str(value).strip()
    if not re.fullmatch(r"[-+]?\d+", text):
        errors.append(FieldError(name, "Please enter a whole number"))
        return 0
    number = int(text)
    if number > MAX_INT:
        errors.append(FieldError(name, f"Please specify a number no greater than {MAX_INT}"))
        return 0
    return number


def parse_list_params(
    count: Any, offset: Any, *, has_count: bool, has_offset: bool
) -> ListParams | list[FieldError]:
    errors: list[FieldError] = []
    c = _whole("Count", count, errors) if has_count else 0
    o = _whole("Offset", offset, errors) if has_offset else 0
    if errors:
        return errors
    return ListParams(c, o)
