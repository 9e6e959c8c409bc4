"""The simulated store's list-query engine: paging, sorting, the filter grammar, on-demand columns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mivaorders._json import dumps, loads
from mivaorders.testing._clock import StoreClock
from mivaorders.testing._engine import StoreEngine
from mivaorders.testing._params import Params

from .conftest import load_fixture

START = 1_750_000_000
Order = dict[str, Any]


@pytest.fixture(scope="module")
def engine() -> StoreEngine:
    return StoreEngine(orders=300, seed=5, clock=StoreClock(START, frozen=True))


@pytest.fixture(scope="module")
def truth(engine: StoreEngine) -> dict[int, Order]:
    return engine.orders_truth()


def run(engine: StoreEngine, **params: Any) -> Any:
    return loads(dumps(engine.execute(Params({"Function": "OrderList_Load_Query", **params}))))


def ids(engine: StoreEngine, filters: list[Any], **params: Any) -> list[int]:
    reply = run(engine, Count=0, Filter=filters, **params)
    assert reply["success"] == 1, reply
    return [o["id"] for o in reply["data"]["data"]]


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": op, "value": value}


def search(*conds: dict[str, Any], name: str = "search") -> dict[str, Any]:
    return {"name": name, "value": list(conds)}


def expect(truth: dict[int, Order], pred: Any) -> list[int]:
    return sorted(i for i, o in truth.items() if pred(o))


# ------------------------------------------------------------------------------------------------ paging


def test_count_offset_and_total(engine: StoreEngine, truth: dict[int, Order]) -> None:
    reply = run(engine, Count=10, Offset=20)
    assert reply["data"]["total_count"] == len(truth)
    assert reply["data"]["start_offset"] == 20
    assert [o["id"] for o in reply["data"]["data"]] == sorted(truth)[20:30]


@pytest.mark.parametrize("count", [0, -5, "0"])
def test_count_zero_or_negative_returns_all(engine: StoreEngine, truth: dict[int, Order], count: Any) -> None:
    assert len(run(engine, Count=count)["data"]["data"]) == len(truth)


def test_negative_offset_is_zero_but_echoed(engine: StoreEngine, truth: dict[int, Order]) -> None:
    reply = run(engine, Count=3, Offset=-4)
    assert reply["data"]["start_offset"] == -4
    assert [o["id"] for o in reply["data"]["data"]] == sorted(truth)[:3]


def test_digit_strings_are_whole_numbers(engine: StoreEngine, truth: dict[int, Order]) -> None:
    reply = run(engine, Count="2", Offset="1")
    assert [o["id"] for o in reply["data"]["data"]] == sorted(truth)[1:3]


def test_offset_past_the_end(engine: StoreEngine, truth: dict[int, Order]) -> None:
    reply = run(engine, Count=10, Offset=len(truth) + 5)
    assert reply["data"]["data"] == []
    assert reply["data"]["total_count"] == len(truth)


def test_count_and_offset_validation(engine: StoreEngine) -> None:
    reply = run(engine, Count="ten", Offset="")
    assert reply["success"] == 0
    assert reply["error_code"] == "MER-JSN-00023"
    assert reply["error_field"] == "Count"
    assert reply["error_field_message"] == "Please enter a whole number"
    assert reply["error_fields"] == [
        {"error_field": "Count", "error_message": "Please enter a whole number"},
        {"error_field": "Offset", "error_message": "If specified, the value may not be blank"},
    ]
    assert (
        run(engine, Count=2147483648)["error_field_message"]
        == "Please specify a number no greater than 2147483647"
    )
    assert run(engine, Count=Decimal("2.5"))["error_code"] == "MER-JSN-00023"
    assert run(engine, Count=None)["error_field_message"] == "If specified, the value may not be blank"


# ------------------------------------------------------------------------------------------------- sort


def test_sort_descending_id(engine: StoreEngine, truth: dict[int, Order]) -> None:
    assert ids(engine, [], Sort="-id") == sorted(truth, reverse=True)


def test_unknown_sort_column_is_id_in_requested_direction(
    engine: StoreEngine, truth: dict[int, Order]
) -> None:
    assert ids(engine, [], Sort="-no_such_column") == sorted(truth, reverse=True)
    assert ids(engine, [], Sort="Orderdate") == sorted(truth)  # names are case-sensitive
    assert ids(engine, [], Sort="") == sorted(truth)
    assert ids(engine, [], Sort=None) == sorted(truth)


def test_sort_with_id_tie_breaker(engine: StoreEngine, truth: dict[int, Order]) -> None:
    asc = ids(engine, [], Sort="status")
    assert asc == sorted(truth, key=lambda i: (truth[i]["status"], i))
    desc = ids(engine, [], Sort="-status")
    assert desc == sorted(truth, key=lambda i: (truth[i]["status"], i), reverse=True)


def test_sort_by_money_and_text(engine: StoreEngine, truth: dict[int, Order]) -> None:
    assert ids(engine, [], Sort="total") == sorted(truth, key=lambda i: (Decimal(truth[i]["total"]), i))
    by_city = ids(engine, [], Sort="ship_city")
    assert by_city == sorted(truth, key=lambda i: (truth[i]["ship_city"].casefold(), i))


def test_sort_aliases(engine: StoreEngine, truth: dict[int, Order]) -> None:
    got = ids(engine, [], Sort="ship_name")
    assert got == sorted(
        truth, key=lambda i: (truth[i]["ship_fname"].casefold(), truth[i]["ship_lname"].casefold(), i)
    )
    got = ids(engine, [], Sort="-payment_module")
    key = lambda i: (truth[i]["payment_module"].casefold(), truth[i]["pay_id"], i)  # noqa: E731
    assert got == sorted(truth, key=key, reverse=True)


def test_sort_by_custom_field(engine: StoreEngine, truth: dict[int, Order]) -> None:
    got = ids(engine, [], Sort="-CustomField_Values:customfields:po_number")
    key = lambda i: (truth[i]["CustomField_Values"]["customfields"]["po_number"].casefold(), i)  # noqa: E731
    assert got == sorted(truth, key=key, reverse=True)


# ---------------------------------------------------------------------------------------------- filters


def test_several_search_entries_are_anded(engine: StoreEngine, truth: dict[int, Order]) -> None:
    got = ids(engine, [search(cond("status", "EQ", "200")), search(cond("ship_cntry", "EQ", "us"))])
    assert got == expect(truth, lambda o: o["status"] == 200 and o["ship_cntry"] == "US")
    assert got


def test_conditions_in_one_search_are_ored(engine: StoreEngine, truth: dict[int, Order]) -> None:
    got = ids(engine, [search(cond("ship_cntry", "EQ", "CA"), cond("ship_cntry", "EQ", "DE"))])
    assert got == expect(truth, lambda o: o["ship_cntry"] in ("CA", "DE"))
    assert got


def test_top_level_search_or_ands_inside(engine: StoreEngine, truth: dict[int, Order]) -> None:
    # status = 300 OR (ship_cntry = 'JP' AND pay_id = 9)
    filters = [
        search(cond("status", "EQ", "300")),
        search(cond("ship_cntry", "EQ", "JP"), cond("pay_id", "EQ", "9"), name="search_OR"),
    ]
    got = ids(engine, filters)
    assert got == expect(
        truth, lambda o: o["status"] == 300 or (o["ship_cntry"] == "JP" and o["pay_id"] == 9)
    )


def test_and_binds_tighter_than_or(engine: StoreEngine, truth: dict[int, Order]) -> None:
    # ( a  OR  b AND c ) == a OR (b AND c), built with SUBWHERE connectors in one group
    filters = [
        search(
            cond("status", "EQ", "300"),
            {"field": "search_OR", "operator": "SUBWHERE", "value": [cond("ship_cntry", "EQ", "US")]},
            {"field": "search_AND", "operator": "SUBWHERE", "value": [cond("pay_status", "EQ", "100")]},
        )
    ]
    got = ids(engine, filters)
    want = expect(truth, lambda o: o["status"] == 300 or (o["ship_cntry"] == "US" and o["pay_status"] == 100))
    assert got == want
    wrong = expect(
        truth, lambda o: (o["status"] == 300 or o["ship_cntry"] == "US") and o["pay_status"] == 100
    )
    assert want != wrong  # the data tells the two readings apart


def test_dropped_first_entry_drops_its_connector(engine: StoreEngine, truth: dict[int, Order]) -> None:
    # the unknown field vanishes; the following search_OR group becomes first and loses its OR
    filters = [
        search(
            cond("no_such_field", "EQ", "1"),
            {"field": "search_OR", "operator": "SUBWHERE", "value": [cond("status", "EQ", "300")]},
            {"field": "search_AND", "operator": "SUBWHERE", "value": [cond("ship_cntry", "EQ", "US")]},
        )
    ]
    assert ids(engine, filters) == expect(truth, lambda o: o["status"] == 300 and o["ship_cntry"] == "US")


def test_fixture_nested_filter(engine: StoreEngine, truth: dict[int, Order]) -> None:
    request = load_fixture("orderlist_load_query_request.json")
    start = START - 30 * 86400
    request["Filter"][0]["value"][0]["value"] = str(start)
    request["Filter"] = request["Filter"][:2]  # without the Customer_ID entry
    got = ids(engine, request["Filter"], Sort="orderdate")
    want = [
        i
        for i, o in truth.items()
        if o["orderdate"] >= start and (o["status"] in (100, 200, 201) or o["pay_status"] == 100)
    ]
    assert got == sorted(want, key=lambda i: (truth[i]["orderdate"], i))


def test_fixture_and_or_filter(engine: StoreEngine, truth: dict[int, Order]) -> None:
    request = load_fixture("orderlist_load_query_and_or_request.json")
    request["Filter"][0]["value"][0]["value"] = str(START - 60 * 86400)
    got = ids(engine, request["Filter"], Sort="-id")
    want = expect(
        truth,
        lambda o: (
            o["orderdate"] >= START - 60 * 86400
            and o["ship_cntry"] in ("US", "CA")
            and o["ship_comp"] == ""
            and o["status"] not in (200, 201)
            and Decimal(o["net_capt"]) > 0
        ),
    )
    assert got == sorted(want, reverse=True)
    assert got


@pytest.mark.parametrize(
    "filters",
    [
        [search(cond("dt_update", "GE", "1"))],  # misspelled field
        [search(cond("status", "ge", "100"))],  # operators are case-sensitive
        [search(cond("status", "BETWEEN", "100"))],
        [{"name": "Search", "value": [cond("status", "EQ", "200")]}],  # filter names are case-sensitive
        [{"name": "payment", "value": "capt_not_ship"}],  # a search field, not a filter name
        [search(cond("status", "IN", " , "))],  # empty IN list adds nothing
        [search({"field": "status", "operator": "SUBWHERE", "value": [cond("id", "EQ", "1")]})],
        [search(cond("payment", "EQ", "no_such_value"))],
        "not a list",
    ],
)
def test_ignored_filters_match_everything(engine: StoreEngine, truth: dict[int, Order], filters: Any) -> None:
    reply = run(engine, Count=1, Filter=filters)
    assert reply["success"] == 1
    assert reply["data"]["total_count"] == len(truth)


def test_text_operators(engine: StoreEngine, truth: dict[int, Order]) -> None:
    assert ids(engine, [search(cond("ship_lname", "CO", "MÜLL"))]) == expect(
        truth, lambda o: "müll" in o["ship_lname"].casefold()
    )
    assert ids(engine, [search(cond("ship_email", "LIKE", "%@example.org"))]) == expect(
        truth, lambda o: o["ship_email"].endswith("@example.org")
    )
    assert ids(engine, [search(cond("ship_zip", "LIKE", "9700_"))]) == expect(
        truth, lambda o: len(o["ship_zip"]) == 5 and o["ship_zip"].startswith("9700")
    )
    assert ids(engine, [search(cond("ship_city", "NC", "o"))]) == expect(
        truth, lambda o: "o" not in o["ship_city"].casefold()
    )
    assert ids(engine, [search(cond("ship_comp", "NOTLIKE", "%"))]) == []
    assert ids(engine, [search(cond("ship_comp", "NULL"))]) == expect(truth, lambda o: o["ship_comp"] == "")


def test_number_operators(engine: StoreEngine, truth: dict[int, Order]) -> None:
    assert ids(engine, [search(cond("total", "GT", "100.5"))]) == expect(
        truth, lambda o: Decimal(o["total"]) > 100.5
    )
    assert ids(engine, [search(cond("status", "IN", "0, 300"))]) == expect(
        truth, lambda o: o["status"] in (0, 300)
    )
    assert ids(engine, [search(cond("status", "NOT_IN", "200,201"))]) == expect(
        truth, lambda o: o["status"] not in (200, 201)
    )
    # MySQL casts: NULL on a number column matches 0, and a non-numeric value compares as 0
    assert ids(engine, [search(cond("dt_instock", "NULL"))]) == expect(truth, lambda o: o["dt_instock"] == 0)
    assert ids(engine, [search(cond("batch_id", "EQ", "abc"))]) == expect(truth, lambda o: o["batch_id"] == 0)
    assert ids(engine, [search(cond("ship_res", "TRUE"))]) == expect(truth, lambda o: o["ship_res"])
    assert ids(engine, [search(cond("ship_res", "FALSE"))]) == expect(truth, lambda o: not o["ship_res"])
    assert ids(engine, [search(cond("total", "CO", ".99"))]) == expect(
        truth, lambda o: ".99" in f"{o['total']:.2f}"
    )


def test_payment_search_field(engine: StoreEngine, truth: dict[int, Order]) -> None:
    def d(o: Order, key: str) -> Decimal:
        return Decimal(o[key])

    cases = {
        "auth_0_capt": lambda o: d(o, "total_auth") > 0 and d(o, "net_capt") == 0,
        "partial_capt": lambda o: d(o, "net_capt") < d(o, "total_auth") and d(o, "net_capt") != 0,
        "capt_not_ship": lambda o: o["status"] not in (200, 201) and d(o, "net_capt") > 0,
        "ship_not_capt": lambda o: o["status"] in (200, 201) and d(o, "net_capt") == 0,
    }
    for value, pred in cases.items():
        # the operator is ignored for the special fields
        assert ids(engine, [search(cond("payment", "NE", value))]) == expect(truth, pred), value
    assert ids(engine, [search(cond("payment", "EQ", "auth_0_capt"))])


def test_product_code_and_pay_id(engine: StoreEngine, truth: dict[int, Order]) -> None:
    got = ids(engine, [search(cond("product_code", "CO", "starter-kit"))])
    assert got == expect(truth, lambda o: any(i["code"] == "STARTER-KIT" for i in o["items"]))
    assert ids(engine, [search(cond("product_code", "CO", "STARTER"))]) == []  # always equality
    reply = run(engine, Count=2, Filter=[search(cond("pay_id", "GT", "9"))])
    assert all(o["pay_id"] == 9 and o["payment_module"] == "PayPal Checkout" for o in reply["data"]["data"])


def test_customer_and_business_account_filters(engine: StoreEngine, truth: dict[int, Order]) -> None:
    cust_id = next(o["cust_id"] for o in truth.values() if o["cust_id"])
    assert ids(engine, [{"name": "Customer_ID", "value": cust_id}]) == expect(
        truth, lambda o: o["cust_id"] == cust_id
    )
    account = next(
        o["customer"]["account_id"] for o in truth.values() if o.get("customer", {}).get("account_id")
    )
    got = ids(engine, [{"name": "BusinessAccount_ID", "value": account}])
    assert got == expect(truth, lambda o: "customer" in o and o["customer"]["account_id"] == account)
    assert got
    assert ids(engine, [{"name": "BusinessAccount_ID", "value": 0}]) == expect(
        truth, lambda o: "customer" in o and o["customer"]["account_id"] == 0
    )


def test_custom_field_search(engine: StoreEngine, truth: dict[int, Order]) -> None:
    got = ids(engine, [search(cond("CustomField_Values:orderworkflow:new_and_updated", "EQ", "1"))])
    assert got == engine.queue_members("new_and_updated")
    got = ids(engine, [search(cond("CustomField_Values:customfields:po_number", "LIKE", "PO-%"))])
    assert got == expect(
        truth, lambda o: o["CustomField_Values"]["customfields"]["po_number"].startswith("PO-")
    )
    assert got
    reply = run(engine, Count=1, Filter=[search(cond("CustomField_Values:customfields:nope", "EQ", "x"))])
    assert reply["data"]["total_count"] == len(truth)


# ----------------------------------------------------------------------------------------- on-demand cols


def test_ondemand_columns_case_insensitive_unknowns_ignored(engine: StoreEngine) -> None:
    reply = run(
        engine, Count=1, Filter=[{"name": "ondemandcolumns", "value": ["Items", "SHIP_METHOD", "bogus", ""]}]
    )
    order = reply["data"]["data"][0]
    assert "items" in order
    assert "ship_method" in order
    assert "bogus" not in order
    keys = list(order)
    assert keys.index("ship_method") == keys.index("ship_data") + 1


def test_custom_field_column_forms(engine: StoreEngine) -> None:
    def cfv(*columns: str) -> Any:
        reply = run(engine, Count=1, Filter=[{"name": "ondemandcolumns", "value": list(columns)}])
        return reply["data"]["data"][0].get("CustomField_Values")

    assert list(cfv("CustomField_Values:*")) == ["customfields", "orderworkflow"]
    assert list(cfv("CustomField_Values:orderworkflow:*")["orderworkflow"]) == [
        "auditlog",
        "new_and_updated",
        "successfully_retrieved_orders",
    ]
    assert cfv("CustomField_Values:customfields:po_number") == {
        "customfields": {"po_number": cfv("CustomField_Values:customfields:*")["customfields"]["po_number"]}
    }
    assert cfv("customfield_values:*") is None  # the prefix is case-sensitive
    assert cfv("CustomField_Values:nomodule:*") is None


def test_payment_data_and_passphrase(engine: StoreEngine, truth: dict[int, Order]) -> None:
    encrypted = next(i for i, o in truth.items() if any(p["pay_secid"] for p in o["payments"]))
    columns = [
        {"name": "ondemandcolumns", "value": ["payments", "payment_data"]},
        search(cond("id", "EQ", str(encrypted))),
    ]

    def payments(**params: Any) -> list[dict[str, Any]]:
        reply = run(engine, Count=1, Filter=columns, **params)
        assert reply["success"] == 1
        return [p for p in reply["data"]["data"][0]["payments"] if p["pay_secid"]]

    good = payments(Passphrase="sim-passphrase")
    assert all(p["decrypt_status"] == "decrypted" and "decrypt_error" not in p for p in good)
    assert any("data" in p for p in good)
    for params in ({"Passphrase": "wrong"}, {}):
        bad = payments(**params)
        assert all(
            p["decrypt_status"] == "not_decrypted" and p["decrypt_error"] and "data" not in p for p in bad
        )
        assert "sim-passphrase" not in dumps(bad).decode()
    plain = run(
        engine,
        Count=1,
        Filter=[{"name": "ondemandcolumns", "value": ["payments"]}, search(cond("id", "EQ", str(encrypted)))],
    )
    assert all("decrypt_status" not in p for p in plain["data"]["data"][0]["payments"])


def _id_narrowing_cases() -> list[list[Any]]:
    import random

    rng = random.Random(5)
    ops = ["GT", "GE", "LT", "LE", "EQ", "NE"]
    cases: list[list[Any]] = []
    for _ in range(60):
        bound = str(rng.randint(99990, 100400))
        other = {"field": "status", "operator": rng.choice(["EQ", "NE"]), "value": rng.choice(["100", "200"])}
        ident = {"field": "id", "operator": rng.choice(ops), "value": bound}
        shape = rng.randrange(4)
        if shape == 0:  # AND of two entries
            cases.append([{"name": "search", "value": [ident]}, {"name": "search", "value": [other]}])
        elif shape == 1:  # OR inside one entry: the id range must not narrow
            cases.append([{"name": "search", "value": [ident, other]}])
        elif shape == 2:  # nested AND/OR groups
            cases.append(
                [
                    {
                        "name": "search",
                        "value": [
                            ident,
                            {"field": "search_OR", "operator": "SUBWHERE", "value": [other]},
                        ],
                    }
                ]
            )
        else:  # a range from two id conditions
            upper = {"field": "id", "operator": "LE", "value": str(int(bound) + rng.randint(0, 80))}
            cases.append([{"name": "search", "value": [ident]}, {"name": "search", "value": [upper]}])
    return cases


def test_id_range_narrowing_never_changes_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine looks only at orders inside a filter's id bounds; the answers must stay identical."""
    engine = StoreEngine(orders=300, seed=3, clock=StoreClock(1_790_000_000, frozen=True))
    narrowed_used = 0
    for filters in _id_narrowing_cases():
        for sort in ("id", "-id", "dt_updated"):
            params = {
                "Store_Code": engine.store_code,
                "Function": "OrderList_Load_Query",
                "Count": 50,
                "Offset": 0,
                "Sort": sort,
                "Filter": filters,
            }
            fast = dumps(engine.execute(Params(params)))
            with monkeypatch.context() as patch:
                patch.setattr(engine, "_id_index", lambda: None)
                slow = dumps(engine.execute(Params(params)))
            assert fast == slow, filters
            if engine._id_index() is not None:
                narrowed_used += 1
    assert narrowed_used > 0
