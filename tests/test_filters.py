from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import reduce
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mivaorders import FilterError, filters
from mivaorders._columns import ONDEMAND_COLUMNS, SORT_ONLY_COLUMNS
from mivaorders.filters import (
    ALL_COLUMNS,
    BOOLEAN_COLUMNS,
    CHARGES,
    CUSTOM_FIELDS,
    DECIMAL_COLUMNS,
    INTEGER_COLUMNS,
    ITEMS,
    NUMERIC_COLUMNS,
    PARTS,
    PAYMENT_DATA,
    PAYMENTS,
    SEARCH_COLUMNS,
    SORT_COLUMNS,
    SPECIAL_SEARCH_FIELDS,
    TEXT_COLUMNS,
    TIMESTAMP_COLUMNS,
    And,
    Condition,
    EntryFilter,
    Expr,
    F,
    Field,
    FilterEntry,
    FilterJSON,
    Or,
    SortKey,
    build_filter_list,
    business_account_id,
    check_columns,
    check_sort,
    compile_filter,
    custom_fields,
    customer_id,
    raw,
    require_effective,
)

from .conftest import load_fixture_plain

UTC = timezone.utc
PO = "CustomField_Values:customfields:po_number"


def cond(field: str, op: str, value: str | None) -> FilterEntry:
    return {"field": field, "operator": op, "value": value}


def search(*conditions: FilterJSON) -> FilterEntry:
    return {"name": "search", "value": list(conditions)}


# --------------------------------------------------------------------------------------------------
# The fixtures
# --------------------------------------------------------------------------------------------------


def test_fixture_nested_request() -> None:
    request = load_fixture_plain("orderlist_load_query_request.json")
    start = datetime(2024, 6, 1, tzinfo=UTC)  # 1717200000
    where = (
        (F.orderdate >= start) & (F.status.in_([100, 200, 201]) | (F.pay_status == 100)) & customer_id(1042)
    )
    base = [c for c in ALL_COLUMNS if c != CUSTOM_FIELDS]
    at = base.index(PAYMENTS) + 1
    columns = [*base[:at], PAYMENT_DATA, *base[at:], custom_fields("customfields")]
    assert build_filter_list(where, columns, nested=True) == request["Filter"]
    assert check_sort(request["Sort"]) == request["Sort"]


def test_fixture_and_or_request() -> None:
    request = load_fixture_plain("orderlist_load_query_and_or_request.json")
    where = (
        (F.orderdate >= 1717200000)
        & ((F.ship_cntry == "US") | (F.ship_cntry == "CA"))
        & F.ship_comp.is_null()
        & (F.payment == "capt_not_ship")
    )
    assert build_filter_list(where, [ITEMS, CHARGES]) == request["Filter"]
    assert check_sort(F.id.desc()) == request["Sort"] == "-id"


def test_fixture_nested_intent_compiles_to_simple_form_by_default() -> None:
    # The same meaning as the nested fixture, in the documented simple form.
    where = (F.orderdate >= 1717200000) & (F.status.in_([100, 200, 201]) | (F.pay_status == 100))
    assert compile_filter(where) == [
        search(cond("orderdate", "GE", "1717200000")),
        search(cond("status", "IN", "100,200,201"), cond("pay_status", "EQ", "100")),
    ]


@pytest.mark.parametrize(
    ("name", "where", "columns"),
    [
        (
            "orderlist_load_query_by_id_request.json",
            F.id > 100210,
            [*(c for c in ALL_COLUMNS if c != CUSTOM_FIELDS), "CustomField_Values:customfields:*"],
        ),
        (
            "orderlist_load_query_by_updated_request.json",
            F.dt_updated >= 1717240000,
            [ITEMS, CHARGES, PAYMENTS],
        ),
        ("orderlist_load_query_payment_data_request.json", F.id == 100232, [PAYMENT_DATA]),
        (
            "queue_order_list_request.json",
            None,
            [*(c for c in ALL_COLUMNS if c != CUSTOM_FIELDS), custom_fields("customfields", "*")],
        ),
    ],
)
def test_other_fixtures(name: str, where: Expr | None, columns: list[str]) -> None:
    request = load_fixture_plain(name)
    assert build_filter_list(where, columns) == request["Filter"]
    assert check_sort(request.get("Sort")) == request.get("Sort")


# --------------------------------------------------------------------------------------------------
# Operators and value encoding
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (F.status == 100, cond("status", "EQ", "100")),
        (F.status != 100, cond("status", "NE", "100")),
        (F.id > 5, cond("id", "GT", "5")),
        (F.id >= 5, cond("id", "GE", "5")),
        (F.id < 5, cond("id", "LT", "5")),
        (F.id <= 5, cond("id", "LE", "5")),
        (F.ship_email.contains("@example"), cond("ship_email", "CO", "@example")),
        (F.ship_email.not_contains("@example"), cond("ship_email", "NC", "@example")),
        (F.bill_lname.like("Sm_th%"), cond("bill_lname", "LIKE", "Sm_th%")),
        (F.bill_lname.not_like("Sm_th%"), cond("bill_lname", "NOTLIKE", "Sm_th%")),
        (F.ship_res.is_true(), cond("ship_res", "TRUE", None)),
        (F.ship_res.is_false(), cond("ship_res", "FALSE", None)),
        (F.ship_res == True, cond("ship_res", "TRUE", None)),  # noqa: E712
        (F.ship_res == False, cond("ship_res", "FALSE", None)),  # noqa: E712
        (F.ship_res != True, cond("ship_res", "FALSE", None)),  # noqa: E712
        (F.ship_res != False, cond("ship_res", "TRUE", None)),  # noqa: E712
        (F.batch_id.is_null(), cond("batch_id", "NULL", None)),
        (F.ship_comp.is_null(), cond("ship_comp", "NULL", None)),
        (F.status.in_([100, 200]), cond("status", "IN", "100,200")),
        (F.id.not_in(iter([1, 2, 3])), cond("id", "NOT_IN", "1,2,3")),
        (F.ship_cntry.in_(("US", "CA")), cond("ship_cntry", "IN", "US,CA")),
        (F.payment == "auth_0_capt", cond("payment", "EQ", "auth_0_capt")),
        (F.pay_id == 3, cond("pay_id", "EQ", "3")),
        (F.product_code == "ABC-1", cond("product_code", "EQ", "ABC-1")),
        (F(PO) == "PO-1", cond(PO, "EQ", "PO-1")),
        (F(PO).contains("PO"), cond(PO, "CO", "PO")),
        (F("CustomField_Values:orderworkflow:new_and_updated").is_true(), None),
        (raw("ship_data", "CO", "UPS"), cond("ship_data", "CO", "UPS")),
        (raw("ship_comp", "NULL", None), cond("ship_comp", "NULL", None)),
    ],
)
def test_every_operator(expr: Condition, expected: FilterEntry | None) -> None:
    expected = expected or cond(expr.field, "TRUE", None)
    assert compile_filter(expr) == [search(expected)]


def test_every_miva_operator_is_reachable() -> None:
    exprs = [
        F.id == 1,
        F.id != 1,
        F.id > 1,
        F.id >= 1,
        F.id < 1,
        F.id <= 1,
        F.source.contains("a"),
        F.source.not_contains("a"),
        F.source.like("a%"),
        F.source.not_like("a%"),
        F.ship_res.is_true(),
        F.ship_res.is_false(),
        F.id.is_null(),
        F.id.in_([1]),
        F.id.not_in([1]),
    ]
    assert {e.operator for e in exprs} == filters.OPERATORS


def test_between() -> None:
    assert F.total.between(Decimal("10"), Decimal("20.50")) == (F.total >= 10) & (F.total <= Decimal("20.50"))


@pytest.mark.parametrize(
    ("expr", "wire"),
    [
        (F.orderdate >= 1717200000, "1717200000"),
        (F.orderdate >= "1717200000", "1717200000"),
        (F.orderdate >= datetime(2024, 6, 1, tzinfo=UTC), "1717200000"),
        (F.orderdate >= datetime(2024, 6, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))), "1717200000"),
        # Fractions of a second are floored, as the store floors its own clock.
        (F.dt_updated >= datetime(2024, 6, 1, 0, 0, 0, 999999, tzinfo=UTC), "1717200000"),
        (F.dt_updated >= datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), "-1"),
        (F.orderdate >= date(2024, 6, 1), "1717200000"),
        (F.dt_instock < 0, "0"),
        (F.id > 100210, "100210"),
        (F.id > -3, "-3"),
        (F.total >= Decimal("9.99"), "9.99"),
        (F.total >= Decimal("1.50"), "1.50"),
        (F.total >= Decimal("1E+2"), "100"),
        (F.total >= Decimal("1E-7"), "0.0000001"),
        (F.total >= Decimal("-0.5"), "-0.5"),
        (F.total >= "12.30", "12.30"),
        (F.status == "100", "100"),
        (F.ship_zip == "01234", "01234"),
        (F.ship_city == "", ""),
        (F.ship_city == "Zürich", "Zürich"),
        (F(PO) == 42, "42"),
        (F(PO) == Decimal("4.20"), "4.20"),
        (F.status.in_(["100", 200, Decimal("201")]), "100,200,201"),
        (F.orderdate.in_([datetime(2024, 6, 1, tzinfo=UTC), 5]), "1717200000,5"),
    ],
)
def test_value_encoding(expr: Condition, wire: str) -> None:
    assert expr.value == wire
    assert compile_filter(expr)[0]["value"] == [cond(expr.field, expr.operator, wire)]


def test_value_less_operators_send_null() -> None:
    for expr in (F.ship_res.is_true(), F.ship_res.is_false(), F.ship_comp.is_null()):
        assert compile_filter(expr) == [search(cond(expr.field, expr.operator, None))]


# --------------------------------------------------------------------------------------------------
# Errors: every one names the field (or the problem) and is raised before any request
# --------------------------------------------------------------------------------------------------


def _naive() -> object:
    return F.orderdate >= datetime(2024, 6, 1)


BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: F.dt_update, r"'dt_update'.*did you mean 'dt_updated'"),  # type: ignore[attr-defined]
    (lambda: F.Status, r"'Status'.*did you mean 'status'"),  # type: ignore[attr-defined]
    (lambda: F("dt_update"), r"'dt_update'.*'dt_updated'"),
    (lambda: F("CustomField_Values:customfields:*"), r"'CustomField_Values:customfields:\*'.*one field"),
    (lambda: F("CustomField_Values:customfields"), r"'CustomField_Values:customfields'"),
    (lambda: F("customfield_values:customfields:po"), r"'customfield_values:customfields:po'"),
    (lambda: F(42), r"column name is a str"),  # type: ignore[arg-type]
    (_naive, r"'orderdate'.*naive"),
    (lambda: F.orderdate >= Decimal(1), r"'orderdate'.*timestamp"),
    (lambda: F.orderdate >= "2024-06-01", r"'orderdate'.*timestamp"),
    (lambda: F.total > 1.5, r"'total'.*float"),  # type: ignore[operator]
    (lambda: F.total > Decimal("NaN"), r"'total'.*non-finite"),
    (lambda: F.status == "abc", r"'status'.*non-numeric"),
    (lambda: F.status == " 1", r"'status'.*non-numeric"),
    (lambda: F.status == datetime(2024, 1, 1, tzinfo=UTC), r"'status'.*numeric"),
    (lambda: F.id == True, r"'id'.*bool"),  # noqa: E712
    (lambda: F.id == None, r"'id'.*is_null"),  # noqa: E711
    (lambda: F.ship_zip == 12345, r"'ship_zip'.*str"),
    (lambda: F(PO) == 1.5, r"'CustomField_Values:customfields:po_number'.*float"),
    (lambda: F(PO) == date(2024, 1, 1), r"'CustomField_Values:customfields:po_number'"),
    (lambda: F.ship_res == 1, r"'ship_res'.*True/False"),
    (lambda: F.ship_res != "1", r"'ship_res'.*True/False"),
    (lambda: F.ship_res > 0, r"'ship_res'.*boolean"),
    (lambda: F.ship_res.in_([1]), r"'ship_res'.*boolean"),
    (lambda: F.ship_cntry.is_true(), r"'ship_cntry'.*TRUE"),
    (lambda: F.id.is_false(), r"'id'.*FALSE"),
    (lambda: F.id.contains("1"), r"'id'.*CO"),
    (lambda: F.orderdate.like("17%"), r"'orderdate'.*LIKE"),
    (lambda: F.ship_email.contains(""), r"'ship_email'.*empty"),
    (lambda: F.ship_email.not_like(""), r"'ship_email'.*empty"),
    (lambda: F.ship_email.contains(5), r"'ship_email'.*str"),  # type: ignore[arg-type]
    (lambda: F.status.in_([]), r"'status'.*empty list"),
    (lambda: F.status.not_in(iter(())), r"'status'.*empty list"),
    (lambda: F.status.in_("100,200"), r"'status'.*list"),
    (lambda: F.status.in_(100), r"'status'.*list"),  # type: ignore[arg-type]
    (lambda: F.ship_cntry.in_(["US", "C,A"]), r"'ship_cntry'.*comma"),
    (lambda: F.ship_cntry.in_(["US", " CA"]), r"'ship_cntry'.*spaces"),
    (lambda: F.ship_cntry.in_(["US", ""]), r"'ship_cntry'.*empty"),
    (lambda: F.status.in_([1, "x"]), r"'status'.*non-numeric"),
    (lambda: F.payment == "CAPT_NOT_SHIP", r"'payment'.*'CAPT_NOT_SHIP' is not one of"),
    (lambda: F.payment != "capt_not_ship", r"'payment'.*only supports =="),
    (lambda: F.payment.in_(["capt_not_ship"]), r"'payment'.*only supports =="),
    (lambda: F.payment.is_null(), r"'payment'.*only supports =="),
    (lambda: F.pay_id > 3, r"'pay_id'.*only supports =="),
    (lambda: F.pay_id == "3", r"'pay_id'.*int"),
    (lambda: F.pay_id == -1, r"'pay_id'.*int"),
    (lambda: F.product_code.contains("AB"), r"'product_code'.*only supports =="),
    (lambda: F.product_code == "", r"'product_code'.*non-empty"),
    (lambda: F.ship_name == "Smith", r"'ship_name'.*sort-only"),
    (lambda: F.payment_module.is_null(), r"'payment_module'.*sort-only"),
    (lambda: F.ship_id.desc(), r"'ship_id'.*not sorted"),
    (lambda: F.payment.asc(), r"'payment'.*not sorted"),
    (lambda: customer_id(0), r"Customer_ID.*positive"),
    (lambda: customer_id(True), r"Customer_ID.*positive"),
    (lambda: business_account_id("7"), r"BusinessAccount_ID.*positive"),  # type: ignore[arg-type]
    (lambda: (F.id > 1) | customer_id(3), r"Customer_ID.*OR"),
    (lambda: business_account_id(3) | ((F.id > 1) & (F.id < 9)), r"BusinessAccount_ID.*OR"),
    (lambda: (F.id > 1) | ((F.id < 0) & customer_id(3)), r"Customer_ID.*OR"),
    (lambda: compile_filter(Or((F.id > 1, customer_id(3)))), r"Customer_ID.*OR"),
    (lambda: compile_filter(True), r"cannot combine a filter expression with bool"),  # type: ignore[arg-type]
    (lambda: (F.id > 1) & True, r"bool"),  # type: ignore[operator]
    (lambda: ~(F.id > 1), r"no NOT"),
    (lambda: raw("id", "EQ", 5), r"raw\(\).*str or None"),  # type: ignore[arg-type]
    (lambda: raw("id", None, "5"), r"raw\(\)"),  # type: ignore[arg-type]
    (lambda: check_sort("dt_update"), r"'dt_update'.*did you mean 'dt_updated'"),
    (lambda: check_sort("-ID"), r"'ID'.*'id'"),
    (lambda: check_sort("+id"), r"'\+id'"),
    (lambda: check_sort("product_code"), r"'product_code'.*not sorted"),
    (lambda: check_sort("CustomField_Values:customfields:*"), r"not sortable"),
    (lambda: check_sort(5), r"sort must be a str"),  # type: ignore[arg-type]
    (lambda: check_columns(["itemz"]), r"'itemz'.*did you mean 'items'"),
    (lambda: check_columns("items"), r"list of column names"),
    (lambda: check_columns([""]), r"''"),
    (lambda: check_columns([ITEMS, 3]), r"str"),  # type: ignore[list-item]
    (lambda: check_columns(["customfield_values:*"]), r"case-sensitive"),
    (lambda: check_columns(["CustomField_Values:"]), r"'CustomField_Values:'"),
    (lambda: check_columns(["CustomField_Values:a:b:c"]), r"'CustomField_Values:a:b:c'"),
    (lambda: custom_fields("custom fields"), r"module code"),
    (lambda: custom_fields("customfields", "a:b"), r"field code"),
    (lambda: require_effective(None), r"every order"),
    (lambda: require_effective(raw("dt_update", "GE", "1")), r"raw\('dt_update'.*every order"),
    (lambda: require_effective(raw("dt_updated", "ge", "1")), r"every order"),
    (lambda: require_effective(raw("id", "IN", " , ")), r"every order"),
    (lambda: require_effective(raw("payment", "EQ", "nope")), r"every order"),
    (lambda: require_effective(raw("x", "EQ", "1") | raw("y", "EQ", "1")), r"every order"),
]


@pytest.mark.parametrize(("make", "message"), BAD)
def test_errors(make: Callable[[], object], message: str) -> None:
    with pytest.raises(FilterError, match=message):
        make()


def test_unknown_attribute_is_also_an_attribute_error() -> None:
    assert not hasattr(F, "dt_update")
    assert not hasattr(F, "_private")
    with pytest.raises(AttributeError):
        F.__wrapped__  # type: ignore[attr-defined]  # noqa: B018


def test_bool_trap() -> None:
    a, b = F.id > 1, F.id < 5
    with pytest.raises(FilterError, match="no truth value"):
        _ = a and b
    with pytest.raises(FilterError, match="no truth value"):
        _ = a or b
    with pytest.raises(FilterError, match="chained comparison"):
        _ = 1 < F.id < 5
    with pytest.raises(FilterError, match=r"\.in_\(\)"):
        _ = F.id in [1, 2]
    with pytest.raises(FilterError):
        _ = not a


# --------------------------------------------------------------------------------------------------
# Immutability, hashing, repr, str
# --------------------------------------------------------------------------------------------------


def test_immutable_and_hashable() -> None:
    expr = (F.id > 1) & (F.status == 100)
    assert isinstance(expr, And)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        expr.operands = ()  # type: ignore[misc]
    leaf = F.id > 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        leaf.value = "2"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        F.id.name = "status"
    with pytest.raises(AttributeError):
        F.id = F.status  # type: ignore[misc]
    same = (F.id > 1) & (F.status == "100")
    assert expr == same
    assert hash(expr) == hash(same)
    assert {expr: 1}[same] == 1
    assert len({expr, same, F.id > 1}) == 2
    assert (F.id > 1) != (F.id >= 1)
    assert raw("id", "GT", "1") != (F.id > 1)  # unchecked terms stay distinct


def test_combination_flattens() -> None:
    a, b, c = F.id > 1, F.id < 9, F.status == 1
    assert (a & b) & c == a & (b & c) == And((a, b, c))
    assert (a | b) | c == a | (b | c) == Or((a, b, c))
    assert (a & b) | c == Or((And((a, b)), c))


@pytest.mark.parametrize(
    ("expr", "text", "sql"),
    [
        (F.orderdate >= 1717200000, "F.orderdate >= 1717200000", "orderdate >= 1717200000"),
        (
            (F.orderdate >= 1717200000) & (F.status.in_([100, 200]) | (F.pay_status == 100)),
            "(F.orderdate >= 1717200000) & (F.status.in_([100, 200]) | (F.pay_status == 100))",
            "orderdate >= 1717200000 AND (status IN (100, 200) OR pay_status = 100)",
        ),
        (
            (F.ship_cntry == "US") | F.ship_comp.is_null() & F.ship_res.is_true(),
            "(F.ship_cntry == 'US') | (F.ship_comp.is_null() & F.ship_res.is_true())",
            "ship_cntry = 'US' OR (ship_comp IS EMPTY AND ship_res IS TRUE)",
        ),
        (F.total < Decimal("9.5"), "F.total < Decimal('9.5')", "total < 9.5"),
        (F.bill_lname.not_like("O'B%"), 'F.bill_lname.not_like("O\'B%")', "bill_lname NOT LIKE 'O''B%'"),
        (F(PO) != "x", f"F({PO!r}) != 'x'", f"{PO} <> 'x'"),
        (F.ship_cntry.not_in(["US"]), "F.ship_cntry.not_in(['US'])", "ship_cntry NOT IN ('US')"),
        (F.ship_email.contains("a") & customer_id(7), "F.ship_email.contains('a') & customer_id(7)", None),
        (business_account_id(2), "business_account_id(2)", "BusinessAccount_ID = 2"),
        (raw("x", "EQ", None), "raw('x', 'EQ', None)", "x = "),
        (F.payment == "partial_capt", "F.payment == 'partial_capt'", "payment = 'partial_capt'"),
        (F.pay_id == 0, "F.pay_id == 0", "pay_id = 0"),
    ],
)
def test_repr_and_str(expr: Expr, text: str, sql: str | None) -> None:
    assert repr(expr) == text
    if sql is not None:
        assert str(expr).strip() == sql.strip()
    assert _eval_repr(expr) == expr


def _eval_repr(expr: Expr) -> object:
    names = {
        "F": F,
        "Decimal": Decimal,
        "raw": raw,
        "customer_id": customer_id,
        "business_account_id": business_account_id,
    }
    return eval(repr(expr), names)  # noqa: S307 -- a test of repr round-tripping


def test_field_repr_and_sort_keys() -> None:
    assert repr(F) == "F"
    assert repr(F.id) == "F.id"
    assert str(F.id) == "id"
    assert repr(F(PO)) == f"F({PO!r})"
    assert F("status") is F.status
    assert isinstance(F(PO), Field)
    assert F.orderdate.desc() == SortKey("orderdate", descending=True)
    assert str(F.orderdate.desc()) == "-orderdate"
    assert str(F.ship_name.asc()) == "ship_name"
    assert str(F(PO).desc()) == f"-{PO}"


# --------------------------------------------------------------------------------------------------
# Sort, columns, catalogs, effectiveness
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort",
    [
        "id",
        "-id",
        "orderdate",
        "-dt_updated",
        "ship_name",
        "-bill_name",
        "payment_module",
        "-total",
        PO,
        f"-{PO}",
    ],
)
def test_check_sort_accepts(sort: str) -> None:
    assert check_sort(sort) == sort


def test_check_sort_none_and_blank() -> None:
    assert check_sort(None) is None
    assert check_sort("") is None
    assert check_sort(SortKey("status")) == "status"


def test_check_columns() -> None:
    assert check_columns(["Items", "items", "CHARGES", CUSTOM_FIELDS]) == ["items", "charges", CUSTOM_FIELDS]
    assert check_columns([PAYMENT_DATA]) == [PAYMENTS, PAYMENT_DATA]
    assert check_columns([PAYMENTS, PAYMENT_DATA]) == [PAYMENTS, PAYMENT_DATA]
    assert check_columns([PARTS]) == [ITEMS, PARTS]
    assert check_columns(
        [custom_fields("customfields", "po_number"), "CustomField_Values:orderworkflow:*"]
    ) == [
        PO,
        "CustomField_Values:orderworkflow:*",
    ]
    assert check_columns(ALL_COLUMNS) == list(ALL_COLUMNS)
    assert check_columns([]) == []


def test_all_columns_is_everything_but_payment_data() -> None:
    assert PAYMENT_DATA not in ALL_COLUMNS
    assert set(ALL_COLUMNS) == (ONDEMAND_COLUMNS - {PAYMENT_DATA}) | {CUSTOM_FIELDS}
    assert len(ALL_COLUMNS) == len(set(ALL_COLUMNS))


def test_build_filter_list_without_columns() -> None:
    assert build_filter_list(None) == []
    assert build_filter_list(None, []) == []
    assert build_filter_list(customer_id(9), [ITEMS]) == [
        {"name": "ondemandcolumns", "value": ["items"]},
        {"name": "Customer_ID", "value": 9},
    ]


def test_catalogs() -> None:
    namespace = {n for n in dir(F) if not n.startswith("_")}
    assert namespace == SEARCH_COLUMNS | SORT_ONLY_COLUMNS
    for name in namespace:
        assert getattr(F, name).name == name
    assert len(TEXT_COLUMNS) == 29
    assert NUMERIC_COLUMNS == INTEGER_COLUMNS | DECIMAL_COLUMNS
    parts = [TIMESTAMP_COLUMNS, INTEGER_COLUMNS, DECIMAL_COLUMNS, BOOLEAN_COLUMNS, TEXT_COLUMNS]
    assert sum(len(p) for p in parts) == len(SEARCH_COLUMNS - SPECIAL_SEARCH_FIELDS)
    assert {"dt_updated", "ship_name", "bill_name", "payment_module", "cust_login"} <= SORT_COLUMNS
    assert not (SORT_COLUMNS & (SPECIAL_SEARCH_FIELDS | {"ship_id"}))
    assert "dt_updated" in SEARCH_COLUMNS
    assert "ship_name" not in SEARCH_COLUMNS


def test_customer_and_business_account_entries() -> None:
    where = business_account_id(4) & (F.id > 1) & customer_id(2)
    assert compile_filter(where) == [
        search(cond("id", "GT", "1")),
        {"name": "BusinessAccount_ID", "value": 4},
        {"name": "Customer_ID", "value": 2},
    ]
    assert isinstance(customer_id(2), EntryFilter)
    assert compile_filter(customer_id(2)) == [{"name": "Customer_ID", "value": 2}]


def test_require_effective_returns_the_expression() -> None:
    for expr in (
        F.dt_updated >= 1,
        customer_id(1),
        raw("dt_updated", "GE", "1"),
        raw("x", "EQ", "1") | (F.id > 1),
        raw(PO, "EQ", "1"),
        raw("payment", "EQ", "auth_0_capt"),
    ):
        assert require_effective(expr) is expr


def test_compile_none() -> None:
    assert compile_filter(None) == []


# --------------------------------------------------------------------------------------------------
# Semantic equivalence: compiled Filter (evaluated per miva-json-api.md §10.3) == the expression
# --------------------------------------------------------------------------------------------------

Record = dict[str, Any]
RECORDS: list[Record] = [
    {"id": i, "status": s, "ship_cntry": c, "cust_id": u}
    for i in range(4)
    for s in range(3)
    for c in ("US", "CA", "")
    for u in (1, 2)
]
_NUM_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq,
    "NE": operator.ne,
    "GT": operator.gt,
    "GE": operator.ge,
    "LT": operator.lt,
    "LE": operator.le,
}


def eval_condition(c: dict[str, Any], rec: Record) -> bool | None:
    """One condition; ``None`` when the server would drop it (unknown field or operator)."""
    field, op, value = c["field"], c["operator"], c["value"]
    if field not in rec or field == "cust_id":
        return None
    column = rec[field]
    numeric = isinstance(column, int)

    def conv(text: str) -> Any:
        return int(text) if numeric else text

    if op in _NUM_OPS:
        return _NUM_OPS[op](column, conv(value))
    if op == "NULL":
        return column in (0, "")  # MySQL: ( col IS NULL OR col = '' ); '' is 0 for numbers
    if op in ("IN", "NOT_IN"):
        members = [conv(m.strip()) for m in value.split(",") if m.strip()]
        if not members:
            return None
        hit = column in members
        return hit if op == "IN" else not hit
    if op == "CO":
        return value in column
    return None


def combine(seq: Sequence[tuple[str, bool]]) -> bool:
    """A flat SQL sequence: the first connector is dropped and AND binds tighter than OR."""
    runs: list[list[bool]] = [[seq[0][1]]]
    for joiner, value in seq[1:]:
        if joiner == "AND":
            runs[-1].append(value)
        else:
            runs.append([value])
    return any(all(run) for run in runs)


GROUPS = ("search", "search_AND", "search_OR")


def eval_group(members: list[dict[str, Any]], default: str, rec: Record) -> bool | None:
    seq: list[tuple[str, bool]] = []
    for m in members:
        result: bool | None
        if m["operator"] == "SUBWHERE":
            if m["field"] not in GROUPS:
                continue
            joiner = {"search": default, "search_AND": "AND", "search_OR": "OR"}[m["field"]]
            result = eval_group(m["value"], "AND" if m["field"] == "search_OR" else "OR", rec)
        else:
            joiner, result = default, eval_condition(m, rec)
        if result is not None:
            seq.append((joiner, result))
    return combine(seq) if seq else None


def eval_filter(entries: list[FilterEntry], rec: Record) -> bool:
    seq: list[tuple[str, bool]] = []
    for entry in entries:
        name, value = entry["name"], entry["value"]
        result: bool | None
        if name in GROUPS:
            assert isinstance(value, list)
            members: list[dict[str, Any]] = [m for m in value if isinstance(m, dict)]
            result = eval_group(members, "AND" if name == "search_OR" else "OR", rec)
            joiner = "OR" if name == "search_OR" else "AND"
        elif name == "Customer_ID":
            result, joiner = rec["cust_id"] == value, "AND"
        else:
            continue
        if result is not None:
            seq.append((joiner, result))
    return combine(seq) if seq else True


def eval_expr(expr: Expr, rec: Record) -> bool | None:
    """The intended meaning; terms the server drops vanish from their group."""
    if isinstance(expr, Condition):
        return eval_condition(expr.to_json(), rec)
    if isinstance(expr, EntryFilter):
        return bool(rec["cust_id"] == expr.value)
    assert isinstance(expr, (And, Or))
    results = [r for r in (eval_expr(o, rec) for o in expr.operands) if r is not None]
    if not results:
        return None
    return all(results) if isinstance(expr, And) else any(results)


numbers = st.integers(-1, 4)
_BUILD: dict[str, Callable[[Field, int], Expr]] = {
    "EQ": lambda f, v: f == v,
    "NE": lambda f, v: f != v,
    "GT": lambda f, v: f > v,
    "GE": lambda f, v: f >= v,
    "LT": lambda f, v: f < v,
    "LE": lambda f, v: f <= v,
}
leaves = st.one_of(
    st.builds(
        lambda f, op, v: _BUILD[op](getattr(F, f), v),
        st.sampled_from(["id", "status"]),
        st.sampled_from(sorted(_BUILD)),
        numbers,
    ),
    st.builds(
        lambda f, v: getattr(F, f).in_(v), st.sampled_from(["id", "status"]), st.lists(numbers, min_size=1)
    ),
    st.builds(
        lambda f, v: getattr(F, f).not_in(v), st.sampled_from(["id", "status"]), st.lists(numbers, min_size=1)
    ),
    st.builds(lambda v: F.ship_cntry == v, st.sampled_from(["US", "CA", "MX", ""])),
    st.builds(lambda v: F.ship_cntry != v, st.sampled_from(["US", "CA"])),
    st.builds(lambda v: F.ship_cntry.contains(v), st.sampled_from(["U", "A"])),
    st.builds(lambda f: getattr(F, f).is_null(), st.sampled_from(["id", "status", "ship_cntry"])),
    # Terms the server drops: an unknown field, a lower-case operator, an IN that is empty after trimming.
    st.sampled_from([raw("dt_update", "GE", "1"), raw("id", "ge", "1"), raw("status", "IN", " , ")]),
)


def _join(parts: tuple[str, list[Expr]]) -> Expr:
    how, operands = parts
    return reduce(operator.and_ if how == "and" else operator.or_, operands)


trees: st.SearchStrategy[Expr] = st.recursive(
    leaves,
    lambda children: st.tuples(
        st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=4)
    ).map(_join),
    max_leaves=14,
)


@st.composite
def filters_with_entries(draw: st.DrawFn) -> Expr:
    expr = draw(trees)
    if draw(st.booleans()):
        expr = draw(st.sampled_from([customer_id(1), customer_id(2)])) & expr
    return expr


def documented_form(entries: list[FilterEntry]) -> str:
    """Which of the two documented forms ``entries`` use; fails on anything else."""
    searches = [e for e in entries if e["name"] != "Customer_ID"]
    assert all(e["name"] == "search" for e in searches)
    flat = all(
        isinstance(v, list) and all(isinstance(c, dict) and c["operator"] != "SUBWHERE" for c in v)
        for v in (e["value"] for e in searches)
    )
    if flat:
        return "simple"
    assert len(searches) == 1
    top = searches[0]["value"]
    assert isinstance(top, list)
    for member in top[1:]:
        assert isinstance(member, dict)
        assert member["operator"] == "SUBWHERE"
    connectors = {m["field"] for m in top[1:] if isinstance(m, dict)}
    assert len(connectors) <= 1
    assert connectors <= {"search_AND", "search_OR"}
    for member in _groups(top):
        children = member["value"]
        assert isinstance(children, list)
        assert children
        if len(children) > 1 or (isinstance(children[0], dict) and children[0]["operator"] == "SUBWHERE"):
            fields = [c["field"] for c in children if isinstance(c, dict) and c["operator"] == "SUBWHERE"]
            assert len(fields) == len(children)  # every operand of a compound is its own group
            assert fields[0] == "search"
            assert len(set(fields[1:])) <= 1
            assert set(fields[1:]) <= {"search_AND", "search_OR"}
    return "nested"


def _groups(members: list[FilterJSON]) -> Iterator[dict[str, FilterJSON]]:
    for m in members:
        if isinstance(m, dict) and m["operator"] == "SUBWHERE":
            yield m
            value = m["value"]
            assert isinstance(value, list)
            yield from _groups(value)


@settings(max_examples=400, deadline=None)
@given(filters_with_entries(), st.booleans())
def test_compiled_filter_means_the_expression(expr: Expr, nested: bool) -> None:
    entries = compile_filter(expr, nested=nested)
    form = documented_form(entries)
    if nested:
        assert form == "nested" or len(entries) - sum(e["name"] == "Customer_ID" for e in entries) <= 1
    for rec in RECORDS:
        expected = eval_expr(expr, rec)
        assert eval_filter(entries, rec) == (True if expected is None else expected), (rec, entries)


@settings(max_examples=200, deadline=None)
@given(filters_with_entries())
def test_repr_round_trips(expr: Expr) -> None:
    assert _eval_repr(expr) == expr
    assert hash(_eval_repr(expr)) == hash(expr)


def test_reference_evaluator_knows_the_precedence_pitfall() -> None:
    # (a OR b) AND c sent naively as one flat group means a OR (b AND c): the evaluator must see that.
    a, b, c = cond("id", "EQ", "1"), cond("id", "EQ", "2"), cond("status", "EQ", "0")
    naive = [
        search(
            a,
            {"field": "search_OR", "operator": "SUBWHERE", "value": [b]},
            {"field": "search_AND", "operator": "SUBWHERE", "value": [c]},
        )
    ]
    rec = {"id": 1, "status": 2, "ship_cntry": "", "cust_id": 1}
    assert eval_filter(naive, rec) is True
    expr = ((F.id == 1) | (F.id == 2)) & (F.status == 0)
    assert eval_filter(compile_filter(expr), rec) is False
    assert eval_filter(compile_filter(expr, nested=True), rec) is False
