from __future__ import annotations

import copy
import pickle
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import cattrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mivaorders._converter import (
    MivaConverter,
    configure_converter,
    converter,
    make_converter,
    structure_list,
    structure_model,
    structure_order,
    structure_page,
)
from mivaorders._exceptions import ResponseValidationError
from mivaorders._json import dumps, loads
from mivaorders._page import Page
from mivaorders.models import (
    Order,
    OrderCustomField,
    OrderItem,
    OrderShipment,
    OrderStatus,
    PaymentType,
)

from .conftest import load_fixture

ORDER_FIXTURES = [
    ("orderlist_load_query_response.json", ("data", "data")),
    ("orderlist_load_query_minimal.json", ("data", "data")),
    ("queue_order_list_response.json", ("data", "data")),
]


def _normalize(value: Any) -> Any:
    """A JSON_DateTime object compares as its time_t (the one allowed round-trip difference)."""
    if isinstance(value, dict):
        if "time_t" in value and "year" in value:
            return value["time_t"]
        return {key: _normalize(element) for key, element in value.items()}
    if isinstance(value, list):
        return [_normalize(element) for element in value]
    return value


def _key_orders(value: Any) -> Any:
    if isinstance(value, dict):
        return [(key, _key_orders(element)) for key, element in value.items()]
    if isinstance(value, list):
        return [_key_orders(element) for element in value]
    return None


def assert_round_trip(raw: Any, back: Any) -> None:
    expected = _normalize(raw)
    assert back == expected  # Decimal("5.0") == 5: number spelling may differ, values may not
    assert _key_orders(back) == _key_orders(expected)  # key order reproduced too


def _orders(name: str) -> list[Any]:
    rows: list[Any] = load_fixture(name)["data"]["data"]
    return rows


# ------------------------------------------------------------------------------- fixtures decode
@pytest.mark.parametrize(("name", "_path"), ORDER_FIXTURES)
def test_every_order_fixture_decodes_and_round_trips(name: str, _path: tuple[str, ...]) -> None:
    envelope = load_fixture(name)
    page = structure_page(envelope["data"], Order)
    assert len(page) == len(envelope["data"]["data"]) > 0
    assert page.total_count == envelope["data"]["total_count"]
    for order, raw in zip(page, envelope["data"]["data"], strict=True):
        assert isinstance(order, Order)
        assert order.id == raw["id"]
        assert_round_trip(raw, converter.unstructure(order))


def test_page_unstructures_to_the_list_object() -> None:
    data = load_fixture("orderlist_load_query_response.json")["data"]
    page = converter.structure(data, Page[Order])
    assert isinstance(page, Page)
    assert_round_trip(data, converter.unstructure(page))


def test_webhook_payload_round_trips() -> None:
    raw = load_fixture("webhook_order_payload.json")
    order = structure_order(raw)
    assert order.custom_field_values is not None
    assert order.custom_field_values["orderworkflow"]["new_and_updated"] == "1"
    assert order.custom_field("orderworkflow", "auditlog") == ""
    assert_round_trip(raw, converter.unstructure(order))


def test_multicall_rows_decode() -> None:
    results = load_fixture("multicall_response.json")
    page = structure_page(results[0]["data"], Order)
    assert page[0].items is None  # no ondemandcolumns: not requested
    fields = structure_list(results[1]["data"], OrderCustomField)
    assert all(isinstance(field, OrderCustomField) for field in fields)


def test_shipment_forms() -> None:
    listed = structure_page(load_fixture("ordershipmentlist_load_query_response.json")["data"], OrderShipment)
    assert listed[0].batch_id == 0
    assert listed[0].formatted_weight is None
    created_raw = load_fixture("orderitemlist_createshipment_response.json")["data"]
    created = structure_model(created_raw, OrderShipment)
    assert created.shipment_id == created.id == 312
    assert created.ship_date is None
    assert_round_trip(created_raw, converter.unstructure(created))
    order = structure_page(load_fixture("orderlist_load_query_response.json")["data"], Order)[0]
    assert order.items is not None
    short = order.items[0].shipment
    assert short is not None
    assert short.batch_id is None
    assert short.formatted_weight == "2.50 pounds"


def test_custom_field_definitions_round_trip() -> None:
    raw = load_fixture("ordercustomfieldlist_load_response.json")["data"]
    fields = structure_list(raw, OrderCustomField)
    assert [converter.unstructure(field) for field in fields] == raw
    choice = [field for field in fields if field.choices is not None]
    assert choice
    assert all(isinstance(value, str) for value in choice[0].choices or ())


# ---------------------------------------------------------------------------------- value types
def _minimal_order() -> dict[str, Any]:
    order: dict[str, Any] = copy.deepcopy(_orders("orderlist_load_query_minimal.json")[0])
    return order


def _full_order() -> dict[str, Any]:
    order: dict[str, Any] = copy.deepcopy(_orders("orderlist_load_query_response.json")[0])
    return order


@pytest.mark.parametrize("text", ["0.1", "31.4567", "1e-7", "0.00000001", "123456789.12345678", "-5.0"])
def test_decimal_exactness(text: str) -> None:
    raw = loads(dumps(_full_order()).replace(b'"total":96.46', f'"total":{text}'.encode(), 1))
    order = structure_order(raw)
    assert order.total == Decimal(text)
    assert str(order.total) == str(Decimal(text))  # the very digits, not a float's
    item_raw = _full_order()
    item_raw["items"][0]["price"] = loads(text.encode())
    item = structure_order(item_raw)
    assert item.items is not None
    assert item.items[0].price == Decimal(text)


def test_integer_money_becomes_decimal() -> None:
    raw = _minimal_order()
    raw["total"] = 20
    order = structure_order(raw)
    assert type(order.total) is Decimal
    assert order.total == Decimal(20)
    assert converter.unstructure(order)["total"] == 20


def test_timestamp_forms() -> None:
    raw = _minimal_order()
    raw["orderdate"] = 1717243200
    raw["dt_instock"] = 0
    raw["dt_updated"] = {"time_t": 1717243260, "year": 2024, "month": 6, "day": 1, "timezone": 0}
    order = structure_order(raw)
    assert order.orderdate == datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
    assert order.orderdate.tzinfo is not None
    assert order.dt_instock is None
    assert order.dt_updated == datetime(2024, 6, 1, 12, 1, tzinfo=timezone.utc)
    raw["dt_updated"] = {"time_t": 0, "year": 1970}
    assert structure_order(raw).dt_updated is None
    back = converter.unstructure(structure_order(raw))
    assert back["dt_instock"] == 0
    assert back["dt_updated"] == 0
    assert back["orderdate"] == 1717243200


def test_subscription_json_datetimes() -> None:
    order = structure_page(load_fixture("orderlist_load_query_response.json")["data"], Order)[1]
    assert order.items is not None
    subscription = order.items[0].subscription
    assert subscription is not None
    assert subscription.nextdate == datetime(2024, 7, 3, 12, tzinfo=timezone.utc)
    assert subscription.cncldate is None  # time_t 0


def test_unknown_status_codes_are_kept() -> None:
    raw = _full_order()
    raw["status"] = 700
    raw["payments"][0]["type"] = 42
    order = structure_order(raw)
    assert order.status == 700
    assert isinstance(order.status, OrderStatus)
    assert not order.status.is_known
    assert order.status.name == "UNKNOWN_700"
    assert order.payments is not None
    assert order.payments[0].type == 42
    assert isinstance(order.payments[0].type, PaymentType)
    back = converter.unstructure(order)
    assert back["status"] == 700
    assert type(back["status"]) is int
    assert back["payments"][0]["type"] == 42


def test_bool_flags_accept_zero_one() -> None:
    raw = _minimal_order()
    raw["ship_res"] = 1
    assert structure_order(raw).ship_res is True
    raw["ship_res"] = 0
    assert structure_order(raw).ship_res is False


# ---------------------------------------------------------------------------- ODC and presence
def test_odc_absent_is_none_and_requested_empty_is_empty() -> None:
    minimal = structure_order(_minimal_order())
    for name in ("items", "charges", "coupons", "payments", "notes", "shipments", "returns", "customer"):
        assert getattr(minimal, name) is None, name
    assert minimal.ship_method is None
    assert minimal.custom_field_values is None
    full = structure_page(load_fixture("orderlist_load_query_response.json")["data"], Order)
    assert full[1].coupons == ()
    assert len(full[1].coupons or ()) == 0
    assert full[2].customer is None
    assert full[2].is_guest


def test_item_level_lists_absent_means_empty_and_stays_absent() -> None:
    raw = copy.deepcopy(_orders("orderlist_load_query_response.json")[1])
    item_raw = raw["items"][1]
    assert "options" not in item_raw
    assert "discounts" not in item_raw
    order = structure_order(raw)
    assert order.items is not None
    assert order.items[1].options == ()
    assert order.items[1].discounts == ()
    assert order.items[1].parts == ()
    back = converter.unstructure(order)
    assert "options" not in back["items"][1]
    assert "parts" not in back["items"][1]
    # present-but-empty (not what Miva sends, but possible) comes back present
    item_raw["options"] = []
    assert converter.unstructure(structure_order(raw))["items"][1]["options"] == []


def test_unknown_keys_kept_in_place() -> None:
    raw = _full_order()
    keys = list(raw)
    raw = {key: raw[key] for key in [*keys[:3], *keys[3:]]}
    raw = dict([*list(raw.items())[:5], ("new_column", {"a": [1, Decimal("2.5")]}), *list(raw.items())[5:]])
    raw["items"][0]["future_flag"] = True
    order = structure_order(raw)
    assert order.extra == {"new_column": {"a": [1, Decimal("2.5")]}}
    assert order.items is not None
    assert order.items[0].extra == {"future_flag": True}
    assert_round_trip(raw, converter.unstructure(order))


def test_key_order_is_reproduced_even_when_unusual() -> None:
    raw = _minimal_order()
    shuffled = dict(reversed(list(raw.items())))
    assert list(converter.unstructure(structure_order(shuffled))) == list(shuffled)


def test_hand_built_model_unstructures_in_miva_order() -> None:
    raw = _full_order()
    order = structure_order(raw)
    assert order.items is not None
    rebuilt = OrderItem(**{a: getattr(order.items[0], a) for a in _init_names(OrderItem) if a != "wire_keys"})
    assert list(converter.unstructure(rebuilt)) == list(raw["items"][0])
    assert rebuilt == order.items[0]


def _init_names(cls: type) -> list[str]:
    import attrs

    return [a.alias for a in attrs.fields(cls)]


# ------------------------------------------------------------------------------------- errors
def test_error_paths_are_readable() -> None:
    raw = _full_order()
    raw["items"][2]["price"] = "abc"
    raw["total"] = "x1"
    raw["status"] = "shipped"
    del raw["id"]
    with pytest.raises(ResponseValidationError) as info:
        structure_order(raw, function="OrderList_Load_Query")
    errors = info.value.errors
    assert "$.id: required key missing" in errors
    assert "$.total: invalid decimal 'x1'" in errors
    assert "$.status: expected integer code, got string 'shipped'" in errors
    assert "$.items[2].price: invalid decimal 'abc'" in errors
    assert info.value.function == "OrderList_Load_Query"
    assert "OrderList_Load_Query" in str(info.value)


def test_page_error_paths_include_the_row() -> None:
    data = load_fixture("orderlist_load_query_response.json")["data"]
    data["data"][1]["payments"][0]["amount"] = [1]
    data["data"][2]["customer"] = "nobody"
    with pytest.raises(ResponseValidationError) as info:
        structure_page(data, Order)
    assert info.value.errors == (
        "$.data[1].payments[0].amount: expected number, got array",
        "$.data[2].customer: expected an object, got string 'nobody'",
    )


def test_collection_errors_surface_at_decode_time_with_paths() -> None:
    # Decoding is eager: a bad child fails the call that decodes the page, not a later access.
    data = load_fixture("orderlist_load_query_response.json")["data"]
    data["data"][0]["charges"][1]["amount"] = "oops"
    data["data"][0]["status"] = 200
    with pytest.raises(ResponseValidationError) as info:
        structure_page(data, Order)
    assert info.value.errors == ("$.data[0].charges[1].amount: invalid decimal 'oops'",)


def test_converter_structure_raises_response_validation_error_only() -> None:
    raw = _full_order()
    raw["items"][0]["quantity"] = True
    eager = make_converter()
    with pytest.raises(ResponseValidationError) as info:
        eager.structure(raw, Order)
    assert info.value.errors == ("$.items[0].quantity: expected integer, got boolean True",)
    with pytest.raises(ResponseValidationError) as info:
        eager.structure([raw, raw], list[Order])
    assert info.value.errors[0] == "$[0].items[0].quantity: expected integer, got boolean True"
    with pytest.raises(ResponseValidationError):
        converter.structure("abc", Decimal)
    with pytest.raises(ResponseValidationError):
        structure_order([])
    with pytest.raises(ResponseValidationError):
        structure_page({"total_count": 1, "start_offset": 0, "data": {}}, Order)


def test_floats_that_lost_digits_are_refused() -> None:
    raw = _minimal_order()
    raw["total"] = 0.1 + 0.2  # 0.30000000000000004: 17 significant digits, not what Miva sent
    with pytest.raises(ResponseValidationError, match=r"binary float .* mivaorders\.json\.loads"):
        structure_order(raw)


def test_payment_data_never_in_error_text() -> None:
    raw = load_fixture("orderlist_load_query_response.json")["data"]["data"][1]
    raw["payments"][0]["data"]["cc_number"] = ["4111111111111111"]
    raw["payments"][0]["description"] = 4111111111111111
    with pytest.raises(ResponseValidationError) as info:
        structure_order(raw)
    text = str(info.value) + " ".join(info.value.errors)
    assert "4111111111111111" not in text
    assert "$.payments[0].data: expected an object of strings" in info.value.errors


# --------------------------------------------------------------------------- converter plumbing
def test_converter_is_ours_and_configurable() -> None:
    assert isinstance(converter, MivaConverter)
    assert converter is not cattrs.global_converter
    other = cattrs.Converter()
    configure_converter(other)
    order = other.structure(_full_order(), Order)
    assert isinstance(order.items, tuple)
    assert other.unstructure(order) == converter.unstructure(structure_order(_full_order()))


def test_collections_are_tuples_and_models_pickle() -> None:
    order = structure_order(_full_order())
    items = order.items
    assert isinstance(items, tuple)
    assert len(items) == 3
    assert items[-1].line_id == 5003
    assert hash(items) == hash(structure_order(_full_order()).items)
    restored = pickle.loads(pickle.dumps(order))  # noqa: S301 -- our own bytes
    assert restored == order


# ----------------------------------------------------------------------------------- hypothesis
_SIMPLE_KEYS = {
    "total": "dec",
    "total_ship": "dec",
    "pay_id": "int",
    "status": "int",
    "ship_res": "bool",
    "ship_fname": "str",
    "orderdate": "ts",
}
# Money Miva can store (|x| < 10**15); larger values are refused (see test_hostile_values).
_DECIMALS = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda d: d.is_finite() and -30 < d.adjusted() < 15
)
_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), _DECIMALS)


@st.composite
def wire_orders(draw: st.DrawFn) -> dict[str, Any]:
    base = draw(
        st.sampled_from(
            _orders("orderlist_load_query_response.json") + _orders("queue_order_list_response.json")
        )
    )
    order: dict[str, Any] = copy.deepcopy(base)
    order["id"] = draw(st.integers(min_value=1, max_value=2**40))
    order["total"] = draw(st.one_of(_DECIMALS, st.integers(-(10**9), 10**9)))
    order["status"] = draw(st.integers(min_value=0, max_value=10_000))
    order["orderdate"] = draw(st.integers(min_value=0, max_value=4_000_000_000))
    order["ship_fname"] = draw(st.text(max_size=20))
    for odc in draw(
        st.sets(st.sampled_from(["items", "payments", "customer", "notes", "CustomField_Values"]))
    ):
        order.pop(odc, None)
    if order.get("items"):
        item = order["items"][0]
        item["price"] = draw(_DECIMALS)
        item["quantity"] = draw(st.integers(0, 10_000))
        if draw(st.booleans()):
            item.pop("options", None)
    if draw(st.booleans()):
        order[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in order))] = draw(_JSON_LEAF)
    return order


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wire_orders())
def test_generated_orders_round_trip(raw: dict[str, Any]) -> None:
    # Through the real wire bytes, as the client sees them.
    parsed = loads(dumps(raw))
    order = structure_order(parsed)
    assert_round_trip(parsed, converter.unstructure(order))
    assert structure_order(converter.unstructure(order)) == order
