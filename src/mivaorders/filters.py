"""Build Miva ``Filter`` lists from checked, typed expressions.

::

    from mivaorders import F
    where = (F.orderdate >= start) & (F.status.in_([100, 200]) | (F.pay_status == 100))
    compile_filter(where)      # the Filter array Miva expects

Miva drops an unknown field, operator or filter name without a word and then returns *more* orders
than asked for, so every name and value is checked here, before any request. Expressions compile
only to the two combination forms whose meaning is documented: the simple form (top-level ``search``
entries are ANDed, conditions inside one entry are ORed) and the connector-explicit nested form
(every compound operand its own ``SUBWHERE`` group), so the SQL precedence of Miva's flat
``AND``/``OR`` sequences cannot change what an expression means.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Final, Literal, NoReturn, TypeAlias

from attrs import frozen

from ._columns import (
    ALL_COLUMNS,
    BOOLEAN_COLUMNS,
    BUSINESS_TITLE,
    CHARGES,
    COUPONS,
    CUST_LOGIN,
    CUST_PW_EMAIL,
    CUSTOM_FIELD_PREFIX,
    CUSTOM_FIELDS,
    CUSTOMER,
    DECIMAL_COLUMNS,
    DISCOUNTS,
    INTEGER_COLUMNS,
    ITEMS,
    NOTES,
    NUMERIC_COLUMNS,
    ONDEMAND_COLUMNS,
    PARTS,
    PAYMENT_DATA,
    PAYMENT_FILTER_VALUES,
    PAYMENT_MODULE,
    PAYMENTS,
    RETURNS,
    SEARCH_COLUMNS,
    SHIP_METHOD,
    SHIPMENTS,
    SORT_COLUMNS,
    SORT_ONLY_COLUMNS,
    SPECIAL_SEARCH_FIELDS,
    TEXT_COLUMNS,
    TIMESTAMP_COLUMNS,
    is_custom_field_column,
)
from ._exceptions import FilterError
from ._validate import whole_number

__all__ = [
    # the builder
    "F",
    "Field",
    "Expr",
    "Condition",
    "And",
    "Or",
    "EntryFilter",
    "SortKey",
    "raw",
    "customer_id",
    "business_account_id",
    # compilation and checks
    "compile_filter",
    "build_filter_list",
    "require_effective",
    "check_sort",
    "check_columns",
    "custom_fields",
    "OPERATORS",
    "FilterEntry",
    "FilterJSON",
    "FilterValue",
    # catalogs
    "BOOLEAN_COLUMNS",
    "DECIMAL_COLUMNS",
    "INTEGER_COLUMNS",
    "NUMERIC_COLUMNS",
    "SEARCH_COLUMNS",
    "SORT_COLUMNS",
    "SPECIAL_SEARCH_FIELDS",
    "TEXT_COLUMNS",
    "TIMESTAMP_COLUMNS",
    "PAYMENT_FILTER_VALUES",
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
    "PARTS",
    "PAYMENTS",
    "PAYMENT_DATA",
    "PAYMENT_MODULE",
    "RETURNS",
    "SHIPMENTS",
    "SHIP_METHOD",
]

#: A JSON value as sent in a ``Filter`` list.
FilterJSON: TypeAlias = bool | int | str | list["FilterJSON"] | dict[str, "FilterJSON"] | None
#: One entry of the ``Filter`` array (``{"name": ..., "value": ...}``).
FilterEntry: TypeAlias = dict[str, FilterJSON]
#: What the builder accepts as a condition value (checked per column at run time).
FilterValue: TypeAlias = int | str | Decimal | datetime | date

#: Every condition operator of Miva's ``search`` (``SUBWHERE`` is structural: compilation emits it).
OPERATORS: frozenset[str] = frozenset(
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

_Kind = Literal[
    "timestamp",
    "integer",
    "decimal",
    "boolean",
    "text",
    "custom",
    "payment",
    "pay_id",
    "product_code",
    "sort_only",
]
_ORDERED: Final = frozenset({"timestamp", "integer", "decimal", "text", "custom"})
_PATTERN: Final = frozenset({"text", "custom"})
_TRUTH: Final = frozenset({"boolean", "custom"})
_NULLABLE: Final = frozenset({"timestamp", "integer", "decimal", "boolean", "text", "custom"})
_SPECIAL: Final = frozenset({"payment", "pay_id", "product_code"})
_NUMBER_KINDS: Final = frozenset({"timestamp", "integer", "decimal", "pay_id"})

_INT_TEXT = re.compile(r"-?[0-9]+")
_NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECOND = timedelta(seconds=1)


def _column_kind(name: str) -> _Kind:
    if name in TIMESTAMP_COLUMNS:
        return "timestamp"
    if name in INTEGER_COLUMNS:
        return "integer"
    if name in DECIMAL_COLUMNS:
        return "decimal"
    if name in BOOLEAN_COLUMNS:
        return "boolean"
    if name in TEXT_COLUMNS:
        return "text"
    if name == "payment":
        return "payment"
    if name == "pay_id":
        return "pay_id"
    if name == "product_code":
        return "product_code"
    if name in SORT_ONLY_COLUMNS:
        return "sort_only"
    if is_custom_field_column(name):
        return "custom"
    raise _unknown_name("filter field", name, SEARCH_COLUMNS | SORT_ONLY_COLUMNS)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    pool = sorted(candidates)
    folded = [c for c in pool if c.lower() == name.lower()]
    close = folded or difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


class _UnknownNameError(FilterError, AttributeError):
    """An unknown column name; also an AttributeError so ``hasattr(F, "typo")`` is simply False."""


def _unknown_name(
    what: str, name: str, candidates: Iterable[str], kind: type[FilterError] = FilterError
) -> FilterError:
    return kind(
        f"{what} {name!r} is not a known column; Miva would silently ignore it{_suggest(name, candidates)}"
    )


def _field_error(name: str, problem: str) -> FilterError:
    return FilterError(f"filter field {name!r}: {problem}")


# --------------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------------


def _require_expr(value: object) -> Expr:
    if not isinstance(value, Expr):
        raise FilterError(
            f"cannot combine a filter expression with {type(value).__name__}; use & and | between "
            "conditions such as (F.id > 1)"
        )
    return value


class Expr:
    """A filter expression: immutable, hashable, combined with ``&`` (AND) and ``|`` (OR)."""

    __slots__ = ()

    def __and__(self, other: Expr) -> Expr:
        return _combine(And, self, _require_expr(other))

    def __or__(self, other: Expr) -> Expr:
        return _combine(Or, self, _require_expr(other))

    def __invert__(self) -> NoReturn:
        raise FilterError(
            "Miva's filter grammar has no NOT; negate the condition itself instead "
            "(!= for ==, .not_in() for .in_(), .not_contains(), .not_like(), >= for <, ...)"
        )

    def __bool__(self) -> NoReturn:
        raise FilterError(
            "a filter expression has no truth value: combine conditions with & and | (not `and`/`or`), "
            "write a range as (F.id > 1) & (F.id < 5) rather than a chained comparison, "
            "and use .in_() rather than `in`"
        )

    def _repr_operand(self) -> str:
        return repr(self)

    def _str_operand(self) -> str:
        return str(self)


_SYMBOLS: Final = {"EQ": "==", "NE": "!=", "GT": ">", "GE": ">=", "LT": "<", "LE": "<="}
_METHODS: Final = {
    "CO": "contains",
    "NC": "not_contains",
    "LIKE": "like",
    "NOTLIKE": "not_like",
    "TRUE": "is_true",
    "FALSE": "is_false",
    "NULL": "is_null",
    "IN": "in_",
    "NOT_IN": "not_in",
}
_SQL_WORDS: Final = {
    "EQ": "=",
    "NE": "<>",
    "GT": ">",
    "GE": ">=",
    "LT": "<",
    "LE": "<=",
    "CO": "CONTAINS",
    "NC": "NOT CONTAINS",
    "LIKE": "LIKE",
    "NOTLIKE": "NOT LIKE",
    "TRUE": "IS TRUE",
    "FALSE": "IS FALSE",
    "NULL": "IS EMPTY",
    "IN": "IN",
    "NOT_IN": "NOT IN",
}


def _field_repr(name: str) -> str:
    if name in SEARCH_COLUMNS or name in SORT_ONLY_COLUMNS:
        return f"F.{name}"
    return f"F({name!r})"


def _value_repr(kind: str, wire: str) -> str:
    if kind in _NUMBER_KINDS:
        return wire if _INT_TEXT.fullmatch(wire) else f"Decimal({wire!r})"
    return repr(wire)


def _value_sql(kind: str | None, wire: str) -> str:
    if kind in _NUMBER_KINDS:
        return wire
    return "'" + wire.replace("'", "''") + "'"


@frozen(repr=False)
class Condition(Expr):
    """One ``{"field", "operator", "value"}`` condition; ``kind`` is ``None`` for unchecked :func:`raw`."""

    field: str
    operator: str
    value: str | None
    kind: str | None = None

    def to_json(self) -> FilterEntry:
        return {"field": self.field, "operator": self.operator, "value": self.value}

    def __repr__(self) -> str:
        if self.kind is None:
            return f"raw({self.field!r}, {self.operator!r}, {self.value!r})"
        target = _field_repr(self.field)
        if self.operator in _SYMBOLS and self.value is not None:
            return f"{target} {_SYMBOLS[self.operator]} {_value_repr(self.kind, self.value)}"
        method = _METHODS[self.operator]
        if self.value is None:
            return f"{target}.{method}()"
        if self.operator in ("IN", "NOT_IN"):
            members = ", ".join(_value_repr(self.kind, m) for m in self.value.split(","))
            return f"{target}.{method}([{members}])"
        return f"{target}.{method}({_value_repr(self.kind, self.value)})"

    def _repr_operand(self) -> str:
        text = repr(self)
        return f"({text})" if self.kind is not None and self.operator in _SYMBOLS else text

    def __str__(self) -> str:
        words = _SQL_WORDS.get(self.operator, self.operator)
        if self.value is None:
            return f"{self.field} {words}"
        if self.operator in ("IN", "NOT_IN") and self.kind is not None:
            members = ", ".join(_value_sql(self.kind, m) for m in self.value.split(","))
            return f"{self.field} {words} ({members})"
        return f"{self.field} {words} {_value_sql(self.kind, self.value)}"


@frozen(repr=False)
class EntryFilter(Expr):
    """A top-level ``Filter`` entry such as ``Customer_ID``: only valid ANDed at the top level."""

    name: Literal["Customer_ID", "BusinessAccount_ID"]
    value: int

    def to_json(self) -> FilterEntry:
        return {"name": self.name, "value": self.value}

    def __repr__(self) -> str:
        helper = "customer_id" if self.name == "Customer_ID" else "business_account_id"
        return f"{helper}({self.value})"

    def __str__(self) -> str:
        return f"{self.name} = {self.value}"


@frozen(repr=False)
class _Junction(Expr):
    """Operands joined by one connective: :class:`And` or :class:`Or`."""

    operands: tuple[Expr, ...]
    _symbol: ClassVar[str]  # in the repr: the Python operator that builds it
    _word: ClassVar[str]  # in str(): the SQL-like word
    _connector: ClassVar[str]  # in Miva's filter JSON: the field of a parenthesised sub-group

    def __repr__(self) -> str:
        return f" {self._symbol} ".join(o._repr_operand() for o in self.operands)

    def _repr_operand(self) -> str:
        return f"({self!r})"

    def __str__(self) -> str:
        return f" {self._word} ".join(o._str_operand() for o in self.operands)

    def _str_operand(self) -> str:
        return f"({self})"


@frozen(repr=False)
class And(_Junction):
    """All operands hold. Built by ``&``; nested ``And`` operands are flattened."""

    _symbol = "&"
    _word = "AND"
    _connector = "search_AND"


@frozen(repr=False)
class Or(_Junction):
    """At least one operand holds. Built by ``|``; nested ``Or`` operands are flattened."""

    _symbol = "|"
    _word = "OR"
    _connector = "search_OR"


def _entry_filters(expr: Expr) -> list[EntryFilter]:
    if isinstance(expr, EntryFilter):
        return [expr]
    if isinstance(expr, (And, Or)):
        return [e for o in expr.operands for e in _entry_filters(o)]
    return []


def _combine(cls: type[And] | type[Or], left: Expr, right: Expr) -> Expr:
    if cls is Or:
        for entry in _entry_filters(left) + _entry_filters(right):
            raise FilterError(
                f"{entry.name}: it is a separate top-level Filter entry that Miva always ANDs with the "
                "rest, so it cannot be part of an OR"
            )
    operands: list[Expr] = []
    for side in (left, right):
        operands.extend(side.operands if isinstance(side, cls) else (side,))
    return cls(tuple(operands))


# --------------------------------------------------------------------------------------------------
# Value encoding
# --------------------------------------------------------------------------------------------------


def _epoch_seconds(name: str, value: date) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _field_error(
                name, "naive datetime; pass a timezone-aware datetime (the store compares Unix seconds)"
            )
        # Floor to the second, as the store's own clock is stored.
        return str((value - _EPOCH) // _SECOND)
    midnight = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return str((midnight - _EPOCH) // _SECOND)


def _encode_scalar(name: str, kind: _Kind, value: object) -> str:
    if value is None:
        raise _field_error(name, "None is not a value; use .is_null() to match empty values")
    if isinstance(value, float):
        raise _field_error(
            name, "float values are refused because binary floats are not exact; pass int, Decimal or str"
        )
    if isinstance(value, bool):
        raise _field_error(name, "bool values are only for boolean columns (use .is_true()/.is_false())")
    if kind == "timestamp":
        if isinstance(value, int):
            return str(value)
        if isinstance(value, date):
            return _epoch_seconds(name, value)
        if isinstance(value, str) and _INT_TEXT.fullmatch(value):
            return value
        raise _field_error(
            name, f"a timestamp column takes an aware datetime, a date or Unix seconds (int), not {value!r}"
        )
    if kind in ("integer", "decimal"):
        if isinstance(value, int):
            return str(value)
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise _field_error(name, f"non-finite Decimal {value!r}")
            return format(value, "f")
        if isinstance(value, str):
            if _NUMBER_TEXT.fullmatch(value):
                return value
            raise _field_error(
                name, f"numeric column compared with non-numeric text {value!r} (MySQL would compare it as 0)"
            )
        raise _field_error(
            name, f"a numeric column takes int, Decimal or a numeric str, not {type(value).__name__}"
        )
    if kind == "custom":
        if isinstance(value, str):
            return value
        if isinstance(value, int):
            return str(value)
        if isinstance(value, Decimal) and value.is_finite():
            return format(value, "f")
        raise _field_error(name, f"a custom field takes str, int or Decimal, not {type(value).__name__}")
    if isinstance(value, str):
        return value
    raise _field_error(
        name, f"a text column takes str, not {type(value).__name__} (pass str(value) if meant)"
    )


# --------------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------------


@frozen
class SortKey:
    """A sort column with its direction; ``str()`` gives Miva's ``Sort`` value (``"-orderdate"``)."""

    column: str
    descending: bool = False

    def __str__(self) -> str:
        return f"-{self.column}" if self.descending else self.column


class Field:
    """A checked column. Comparison operators and methods build :class:`Condition` expressions.

    Values are checked against the column's type when the condition is built, so a bad filter fails
    before any request is made.
    """

    __slots__ = ("kind", "name")

    name: str
    kind: _Kind

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", _column_kind(name))

    def __setattr__(self, key: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return _field_repr(self.name)

    def __str__(self) -> str:
        return self.name

    # -- checks ------------------------------------------------------------------------------------

    def _require(self, allowed: frozenset[str], what: str) -> None:
        if self.kind in allowed:
            return
        if self.kind == "sort_only":
            raise _field_error(self.name, "is a sort-only alias and cannot be searched")
        if self.kind in _SPECIAL:
            raise _field_error(
                self.name, "only supports == (Miva ignores the operator of this special search field)"
            )
        described = {
            "boolean": "a boolean column (use .is_true(), .is_false() or == True/False)",
            "timestamp": "a timestamp column",
            "integer": "a numeric column",
            "decimal": "a numeric column",
            "text": "a text column (TRUE/FALSE would compare the text with 1/0)",
        }.get(self.kind, f"a {self.kind} column")
        raise _field_error(self.name, f"{what} is not supported on {described}")

    def _cond(self, operator: str, value: str | None) -> Condition:
        return Condition(self.name, operator, value, self.kind)

    def _compare(self, operator: str, value: object) -> Condition:
        self._require(_ORDERED, f"operator {operator}")
        return self._cond(operator, _encode_scalar(self.name, self.kind, value))

    def _special_eq(self, value: object) -> Condition:
        if self.kind == "payment":
            if not isinstance(value, str) or value not in PAYMENT_FILTER_VALUES:
                allowed = ", ".join(sorted(PAYMENT_FILTER_VALUES))
                raise _field_error(self.name, f"{value!r} is not one of {allowed} (case-sensitive)")
            return self._cond("EQ", value)
        if self.kind == "pay_id":
            module_id = whole_number(
                value,
                f"filter field {self.name!r} (a payment module id, an int)",
                minimum=0,
                error=FilterError,
            )
            return self._cond("EQ", str(module_id))
        if not isinstance(value, str) or not value:
            raise _field_error(self.name, f"takes a non-empty product code (str), not {value!r}")
        return self._cond("EQ", value)

    # -- comparisons -------------------------------------------------------------------------------

    def __eq__(self, value: FilterValue) -> Condition:  # type: ignore[override]
        if self.kind in _SPECIAL:
            return self._special_eq(value)
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise _field_error(self.name, f"a boolean column compares with True/False, not {value!r}")
            return self._cond("TRUE" if value else "FALSE", None)
        self._require(_ORDERED, "operator EQ")
        return self._compare("EQ", value)

    def __ne__(self, value: FilterValue) -> Condition:  # type: ignore[override]
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise _field_error(self.name, f"a boolean column compares with True/False, not {value!r}")
            return self._cond("FALSE" if value else "TRUE", None)
        return self._compare("NE", value)

    def __gt__(self, value: FilterValue) -> Condition:
        return self._compare("GT", value)

    def __ge__(self, value: FilterValue) -> Condition:
        return self._compare("GE", value)

    def __lt__(self, value: FilterValue) -> Condition:
        return self._compare("LT", value)

    def __le__(self, value: FilterValue) -> Condition:
        return self._compare("LE", value)

    def between(self, low: FilterValue, high: FilterValue) -> Expr:
        """``low <= column <= high`` (Miva has no BETWEEN; this is two ANDed conditions)."""
        return (self >= low) & (self <= high)

    # -- patterns ----------------------------------------------------------------------------------

    def _pattern(self, operator: str, value: str) -> Condition:
        self._require(_PATTERN, f"operator {operator}")
        if not isinstance(value, str):
            raise _field_error(self.name, f"operator {operator} takes a str, not {type(value).__name__}")
        if not value:
            raise _field_error(
                self.name,
                f"operator {operator} with an empty value matches everything or nothing; "
                "use == '' or .is_null() for empty values",
            )
        return self._cond(operator, value)

    def contains(self, text: str) -> Condition:
        """``CO``: the column contains ``text`` (``%`` and ``_`` in it still act as wildcards)."""
        return self._pattern("CO", text)

    def not_contains(self, text: str) -> Condition:
        """``NC``: the column does not contain ``text``."""
        return self._pattern("NC", text)

    def like(self, pattern: str) -> Condition:
        """``LIKE``: an SQL pattern (``%`` any run of characters, ``_`` one character)."""
        return self._pattern("LIKE", pattern)

    def not_like(self, pattern: str) -> Condition:
        """``NOTLIKE``: the negated SQL pattern."""
        return self._pattern("NOTLIKE", pattern)

    # -- value-less operators ----------------------------------------------------------------------

    def is_true(self) -> Condition:
        """``TRUE``: the column equals 1."""
        self._require(_TRUTH, "operator TRUE")
        return self._cond("TRUE", None)

    def is_false(self) -> Condition:
        """``FALSE``: the column equals 0."""
        self._require(_TRUTH, "operator FALSE")
        return self._cond("FALSE", None)

    def is_null(self) -> Condition:
        """``NULL``: NULL or ``''`` (on MySQL a numeric column then matches 0 as well)."""
        self._require(_NULLABLE, "operator NULL")
        return self._cond("NULL", None)

    # -- lists -------------------------------------------------------------------------------------

    def _list(self, operator: str, values: Iterable[FilterValue]) -> Condition:
        self._require(_ORDERED, f"operator {operator}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise _field_error(self.name, f"operator {operator} takes a list of values, not {values!r}")
        members = [_encode_scalar(self.name, self.kind, v) for v in values]
        if not members:
            raise _field_error(
                self.name,
                f"operator {operator} with an empty list adds no condition (Miva matches everything)",
            )
        for member in members:
            if "," in member:
                raise _field_error(self.name, f"{operator} member {member!r} contains a comma (no quoting)")
            if not member or member != member.strip():
                raise _field_error(
                    self.name,
                    f"{operator} member {member!r} is empty or has surrounding spaces (Miva trims them)",
                )
        return self._cond(operator, ",".join(members))

    def in_(self, values: Iterable[FilterValue]) -> Condition:
        """``IN``: the column equals one of ``values``."""
        return self._list("IN", values)

    def not_in(self, values: Iterable[FilterValue]) -> Condition:
        """``NOT_IN``: the column equals none of ``values``."""
        return self._list("NOT_IN", values)

    # -- sort --------------------------------------------------------------------------------------

    def asc(self) -> SortKey:
        """Sort ascending by this column."""
        return SortKey(check_sort(self.name) or self.name)

    def desc(self) -> SortKey:
        """Sort descending by this column."""
        return SortKey(check_sort(self.name) or self.name, descending=True)


class _Fields:
    """``F``: every order column as an attribute, and ``F("name")`` for any column by name."""

    __slots__ = ()

    id: Final = Field("id")
    batch_id: Final = Field("batch_id")
    status: Final = Field("status")
    pay_status: Final = Field("pay_status")
    orderdate: Final = Field("orderdate")
    dt_instock: Final = Field("dt_instock")
    dt_updated: Final = Field("dt_updated")
    ship_res: Final = Field("ship_res")
    ship_fname: Final = Field("ship_fname")
    ship_lname: Final = Field("ship_lname")
    ship_email: Final = Field("ship_email")
    ship_comp: Final = Field("ship_comp")
    ship_phone: Final = Field("ship_phone")
    ship_fax: Final = Field("ship_fax")
    ship_addr1: Final = Field("ship_addr1")
    ship_addr2: Final = Field("ship_addr2")
    ship_city: Final = Field("ship_city")
    ship_state: Final = Field("ship_state")
    ship_zip: Final = Field("ship_zip")
    ship_cntry: Final = Field("ship_cntry")
    bill_fname: Final = Field("bill_fname")
    bill_lname: Final = Field("bill_lname")
    bill_email: Final = Field("bill_email")
    bill_comp: Final = Field("bill_comp")
    bill_phone: Final = Field("bill_phone")
    bill_fax: Final = Field("bill_fax")
    bill_addr1: Final = Field("bill_addr1")
    bill_addr2: Final = Field("bill_addr2")
    bill_city: Final = Field("bill_city")
    bill_state: Final = Field("bill_state")
    bill_zip: Final = Field("bill_zip")
    bill_cntry: Final = Field("bill_cntry")
    ship_name: Final = Field("ship_name")
    bill_name: Final = Field("bill_name")
    ship_id: Final = Field("ship_id")
    ship_data: Final = Field("ship_data")
    source: Final = Field("source")
    source_id: Final = Field("source_id")
    total: Final = Field("total")
    total_ship: Final = Field("total_ship")
    total_tax: Final = Field("total_tax")
    total_auth: Final = Field("total_auth")
    total_capt: Final = Field("total_capt")
    total_rfnd: Final = Field("total_rfnd")
    net_capt: Final = Field("net_capt")
    pend_count: Final = Field("pend_count")
    bord_count: Final = Field("bord_count")
    note_count: Final = Field("note_count")
    cust_login: Final = Field("cust_login")
    cust_pw_email: Final = Field("cust_pw_email")
    business_title: Final = Field("business_title")
    payment_module: Final = Field("payment_module")
    payment: Final = Field("payment")
    pay_id: Final = Field("pay_id")
    product_code: Final = Field("product_code")

    def __call__(self, name: str) -> Field:
        """Any column by name: a catalog column or ``CustomField_Values:<module>:<code>``."""
        if not isinstance(name, str):
            raise FilterError(f"a column name is a str, not {type(name).__name__}")
        known = getattr(type(self), name, None) if name in SEARCH_COLUMNS | SORT_ONLY_COLUMNS else None
        if isinstance(known, Field):
            return known
        if name.startswith(CUSTOM_FIELD_PREFIX) and not is_custom_field_column(name):
            raise FilterError(
                f"filter field {name!r}: a custom-field filter names one field as "
                "'CustomField_Values:<module>:<code>' (wildcards are for on-demand columns only)"
            )
        return Field(name)

    def __repr__(self) -> str:
        return "F"

    def __setattr__(self, key: str, value: object) -> NoReturn:
        raise AttributeError("F is immutable")

    if not TYPE_CHECKING:
        # Hidden from type checkers so that a misspelt F.column is a static error as well.
        def __getattr__(self, name: str) -> NoReturn:
            if name.startswith("_"):
                raise AttributeError(name)
            if name.startswith(CUSTOM_FIELD_PREFIX):
                raise FilterError(f'use F("{name}") for custom fields')
            raise _unknown_name("filter field", name, SEARCH_COLUMNS | SORT_ONLY_COLUMNS, _UnknownNameError)


#: The column namespace: ``F.orderdate >= start``, ``F("CustomField_Values:customfields:po_number")``.
F: Final = _Fields()


def raw(field: str, operator: str, value: str | None) -> Condition:
    """An unchecked condition: sent exactly as given (the server drops it if it does not understand it)."""
    if not isinstance(field, str) or not isinstance(operator, str):
        raise FilterError("raw(): field and operator must be str")
    if value is not None and not isinstance(value, str):
        raise FilterError(f"raw(): value must be a str or None (the wire form), not {type(value).__name__}")
    return Condition(field, operator, value, None)


def _entry(name: Literal["Customer_ID", "BusinessAccount_ID"], value: int) -> EntryFilter:
    return EntryFilter(name, whole_number(value, f"{name} (a positive id)", error=FilterError))


def customer_id(value: int) -> EntryFilter:
    """Orders of one customer (the ``Customer_ID`` filter entry); AND it with the rest of the filter."""
    return _entry("Customer_ID", value)


def business_account_id(value: int) -> EntryFilter:
    """Orders of customers in one business account (``BusinessAccount_ID``); guest orders never match."""
    return _entry("BusinessAccount_ID", value)


# --------------------------------------------------------------------------------------------------
# Compilation
# --------------------------------------------------------------------------------------------------


def _is_clause(expr: Expr) -> bool:
    """A condition, or an OR of conditions: what one simple-form ``search`` entry can hold."""
    if isinstance(expr, Condition):
        return True
    return isinstance(expr, Or) and all(isinstance(o, Condition) for o in expr.operands)


def _clause(expr: Expr) -> list[FilterJSON]:
    if isinstance(expr, Condition):
        return [expr.to_json()]
    assert isinstance(expr, Or)
    return [_as_condition(o).to_json() for o in expr.operands]


def _as_condition(expr: Expr) -> Condition:
    assert isinstance(expr, Condition)
    return expr


def _wrap(expr: Expr, connector: str) -> FilterJSON:
    return {"field": connector, "operator": "SUBWHERE", "value": _group(expr)}


def _group(expr: Expr) -> list[FilterJSON]:
    """A group whose flat sequence means ``expr``: every operand its own parenthesised sub-group."""
    if isinstance(expr, Condition):
        return [expr.to_json()]
    assert isinstance(expr, _Junction)
    first, *rest = expr.operands
    return [_wrap(first, "search"), *(_wrap(o, expr._connector) for o in rest)]


def _nested_top(expr: Expr) -> list[FilterJSON]:
    """The top-level ``search`` value of the nested form: the first condition unwrapped (as Miva's SDK)."""
    if isinstance(expr, Condition):
        return [expr.to_json()]
    assert isinstance(expr, _Junction)
    first, *rest = expr.operands
    head = first.to_json() if isinstance(first, Condition) else _wrap(first, "search")
    return [head, *(_wrap(o, expr._connector) for o in rest)]


def compile_filter(expr: Expr | None, *, nested: bool = False) -> list[FilterEntry]:
    """The ``Filter`` array for ``expr`` (without ``ondemandcolumns``; see :func:`build_filter_list`).

    An AND of conditions and ORs of conditions compiles to the simple form (one top-level ``search``
    entry per ANDed clause, ORed conditions inside an entry); anything else, or any expression when
    ``nested`` is true, to the connector-explicit nested form. ``Customer_ID``/``BusinessAccount_ID``
    entries follow the search entries.
    """
    if expr is None:
        return []
    _require_expr(expr)
    operands = expr.operands if isinstance(expr, And) else (expr,)
    entries = [o for o in operands if isinstance(o, EntryFilter)]
    terms = [o for o in operands if not isinstance(o, EntryFilter)]
    for term in terms:
        for entry in _entry_filters(term):
            raise FilterError(
                f"{entry.name}: can only be ANDed at the top level of a filter, not under an OR"
            )
    result: list[FilterEntry] = []
    if terms and not nested and all(_is_clause(t) for t in terms):
        result.extend({"name": "search", "value": _clause(t)} for t in terms)
    elif terms:
        body = terms[0] if len(terms) == 1 else And(tuple(terms))
        result.append({"name": "search", "value": _nested_top(body)})
    result.extend(e.to_json() for e in entries)
    return result


def _effective(expr: Expr) -> bool:
    """Whether the server would turn ``expr`` into SQL (raw terms it does not understand vanish)."""
    if isinstance(expr, (And, Or)):
        return any(_effective(o) for o in expr.operands)
    if isinstance(expr, Condition) and expr.kind is None:
        known = expr.field in SEARCH_COLUMNS or expr.field.startswith(CUSTOM_FIELD_PREFIX)
        if not known or expr.operator not in OPERATORS:
            return False
        if expr.field == "payment":
            return expr.value in PAYMENT_FILTER_VALUES
        if expr.operator in ("IN", "NOT_IN"):
            return any(m.strip() for m in (expr.value or "").split(","))
    return True


def require_effective(expr: Expr | None) -> Expr:
    """Return ``expr``, or raise if it would compile to no condition at all (it would match every order).

    Use it for incremental pulls, where a filter that silently vanished would re-download the store.
    """
    if expr is None:
        raise FilterError("an empty filter matches every order; this query needs a filter")
    _require_expr(expr)
    if not _effective(expr):
        raise FilterError(
            f"filter {expr!r} has no condition Miva would apply (unknown raw field, operator or value), "
            "so it would match every order"
        )
    return expr


# --------------------------------------------------------------------------------------------------
# Sort and on-demand columns
# --------------------------------------------------------------------------------------------------


def check_sort(sort: str | SortKey | None) -> str | None:
    """Validate a ``Sort`` value (``"id"``, ``"-orderdate"``, a custom field) and return it; ``None``/``""``
    mean no sort (Miva then orders by ``id``)."""
    if sort is None:
        return None
    if isinstance(sort, SortKey):
        sort = str(sort)
    if not isinstance(sort, str):
        raise FilterError(f"sort must be a str such as '-orderdate', not {type(sort).__name__}")
    if not sort:
        return None
    column = sort[1:] if sort.startswith("-") else sort
    if column in SORT_COLUMNS or is_custom_field_column(column):
        return sort
    if column in SEARCH_COLUMNS:
        raise FilterError(f"sort column {column!r} can be searched but not sorted; Miva would sort by id")
    raise FilterError(
        f"sort column {column!r} is not sortable; Miva would silently sort by id instead"
        f"{_suggest(column, SORT_COLUMNS)}"
    )


_CUSTOM_WILDCARD = re.compile(r"CustomField_Values:(\*|[^:*\s]+:\*)")
_CODE = re.compile(r"[^:*\s]+")


def custom_fields(module: str, code: str = "*") -> str:
    """The on-demand column for one custom field, or (``code="*"``) all fields of one module."""
    if not isinstance(module, str) or not _CODE.fullmatch(module):
        raise FilterError(f"custom_fields(): bad module code {module!r}")
    if code != "*" and (not isinstance(code, str) or not _CODE.fullmatch(code)):
        raise FilterError(f"custom_fields(): bad field code {code!r}")
    return f"{CUSTOM_FIELD_PREFIX}{module}:{code}"


# On-demand columns that only render inside another one.
_NEEDS: Final = {PAYMENT_DATA: PAYMENTS, PARTS: ITEMS}


def check_columns(columns: Iterable[str]) -> list[str]:
    """Validate on-demand column names and return them de-duplicated, in order.

    Plain names are matched case-insensitively (as the server does) and sent lower-case; custom-field
    columns must be ``CustomField_Values:*``, ``CustomField_Values:<module>:*`` or
    ``CustomField_Values:<module>:<code>``. ``payment_data`` adds ``payments`` and ``parts`` adds
    ``items`` when missing, since they only render inside those.
    """
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Iterable):
        raise FilterError(f"columns must be a list of column names, not {columns!r}")
    result: list[str] = []
    for column in columns:
        if not isinstance(column, str):
            raise FilterError(f"on-demand column names are str, not {type(column).__name__}")
        if column.startswith(CUSTOM_FIELD_PREFIX):
            if not (is_custom_field_column(column) or _CUSTOM_WILDCARD.fullmatch(column)):
                raise FilterError(
                    f"on-demand column {column!r}: expected CustomField_Values:*, "
                    "CustomField_Values:<module>:* or CustomField_Values:<module>:<code>"
                )
            name = column
        elif column.lower() in ONDEMAND_COLUMNS:
            name = column.lower()
        elif column.lower().startswith(CUSTOM_FIELD_PREFIX.lower()):
            raise FilterError(
                f"on-demand column {column!r}: the prefix is case-sensitive, write {CUSTOM_FIELD_PREFIX!r}"
            )
        else:
            raise _unknown_name("on-demand column", column, ONDEMAND_COLUMNS)
        if name not in result:
            result.append(name)
    for column, needed in _NEEDS.items():
        if column in result and needed not in result:
            result.insert(result.index(column), needed)
    return result


def build_filter_list(
    where: Expr | None, columns: Iterable[str] | None = None, *, nested: bool = False
) -> list[FilterEntry]:
    """The full ``Filter`` array: the compiled ``where`` plus the ``ondemandcolumns`` entry.

    The columns entry goes after the ``search`` entries and before ``Customer_ID``/``BusinessAccount_ID``,
    as in Miva's examples (the server does not care about the order of these entries).
    """
    entries = compile_filter(where, nested=nested)
    checked = check_columns(columns) if columns is not None else []
    if checked:
        searches = sum(1 for e in entries if e["name"] == "search")
        value: list[FilterJSON] = list(checked)
        entries.insert(searches, {"name": "ondemandcolumns", "value": value})
    return entries
