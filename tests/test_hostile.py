"""Hostile and odd input is refused at parse time, with bounded work and the value's path (issue 11)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

import mivaorders as mo
from mivaorders import WebhookError
from mivaorders._converter import structure_order
from mivaorders._exceptions import ResponseValidationError
from mivaorders.webhooks import parse_order

from .conftest import FIXTURES, load_fixture

WEBHOOK = FIXTURES / "webhook_order_payload.json"


def _order_bytes(**changes: str) -> bytes:
    """The webhook fixture with some keys' raw JSON text replaced (so any spelling can be sent)."""
    data = json.loads(WEBHOOK.read_bytes())
    marks = {}
    for index, key in enumerate(changes):
        marks[key] = f"@@{index}@@"
        data[key] = marks[key]
    text = json.dumps(data)
    for key, raw in changes.items():
        text = text.replace(f'"{marks[key]}"', raw)
    return text.encode()


def _refusal(body: bytes | dict[str, Any]) -> WebhookError:
    with pytest.raises(WebhookError) as info:
        parse_order(body)
    return info.value


# ----------------------------------------------------------------------------- 1. bounded work
def test_a_million_empty_objects_are_refused_before_parsing() -> None:
    body = b'{"id":1,"notes":[' + b"{}," * 1_000_000 + b"{}]}"  # 3 MB, under the 10 MB limit
    tracemalloc.start()
    try:
        error = _refusal(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.reason == "too_many_values"
    assert error.status == 400
    assert peak < 20_000_000  # nothing was built from it


def test_problems_are_capped_with_a_count_of_the_rest() -> None:
    # 5,000 empty items (under every element bound): each misses ~30 required keys.
    data = load_fixture("webhook_order_payload.json")
    data["items"] = [{} for _ in range(5_000)]
    error = _refusal(data)
    assert error.reason == "invalid_order"
    assert len(error.details) <= 21
    assert error.details[-1].startswith("... and ")
    assert error.details[0] == "$.items[0].order_id: required key missing"
    with pytest.raises(ResponseValidationError) as info:
        structure_order(data)
    assert len(info.value.errors) <= 21
    assert len(str(info.value)) < 4_000


def test_collections_longer_than_an_order_can_have_are_refused_without_walking_them() -> None:
    data = load_fixture("webhook_order_payload.json")
    data["notes"] = [{}] * 50_000
    error = _refusal(data)
    assert error.details == ("$.notes: too many elements (50000; an order has at most 10000)",)


# ------------------------------------------------------------------------- 3. numbers and text
@pytest.mark.parametrize(
    "raw",
    ["1e99999999999999999999", "1E+999999999999", "1000000000000000", "-1e15", '"NaN"', '"Infinity"'],
)
def test_money_outside_what_miva_stores_is_refused_with_its_path(raw: str) -> None:
    error = _refusal(_order_bytes(total=raw))
    assert error.reason == "invalid_order"
    assert any(line.startswith("$.total: ") for line in error.details), error.details


@pytest.mark.parametrize("raw", ["-1", "0", str(10**30), str(2**63)])
def test_order_ids_outside_a_positive_64_bit_range_are_refused(raw: str) -> None:
    error = _refusal(_order_bytes(id=raw))
    assert error.reason == "invalid_order"
    assert any(line.startswith("$.id: ") for line in error.details), error.details


def test_other_ids_outside_64_bits_are_refused() -> None:
    data = load_fixture("webhook_order_payload.json")
    data["items"][0]["line_id"] = 10**30
    error = _refusal(data)
    assert any(line.startswith("$.items[0].line_id: ") for line in error.details), error.details


@pytest.mark.parametrize(
    "where",
    [
        lambda d: d.__setitem__("ship_fname", "\ud800"),
        lambda d: d.__setitem__("future_column", ["ok", "\udc00x"]),
        lambda d: d["CustomField_Values"]["customfields"].__setitem__("gift_message", "a\ud800"),
    ],
    ids=["field", "unknown key", "custom field"],
)
def test_unpaired_surrogates_are_refused(where: Callable[[dict[str, Any]], None]) -> None:
    data = load_fixture("webhook_order_payload.json")
    where(data)
    error = _refusal(data)
    assert error.reason == "invalid_order"
    assert any("unpaired surrogate" in line for line in error.details)
    body = mo.json.dumps(data)  # the same as a JSON escape ("\\ud800") in the raw body
    assert "unpaired surrogate" in str(_refusal(body))


def test_the_client_refuses_out_of_range_money_from_the_call_that_fetched_it() -> None:
    row = json.loads((FIXTURES / "orderlist_load_query_response.json").read_bytes())["data"]["data"][0]
    text = json.dumps({"success": 1, "data": {"total_count": 1, "start_offset": 0, "data": [row]}})
    body = text.replace('"total": 96.46', '"total": 1E+999999999999', 1).encode()
    http = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body)))
    with (
        mo.Client(
            "https://x.example/json.mvc", store_code="S", auth=mo.TokenAuth("t"), http_client=http
        ) as c,
        pytest.raises(ResponseValidationError) as info,
    ):
        c.orders.list()
    assert info.value.errors[0].startswith("$.data[0].total: number outside what Miva stores")


# ------------------------------------------------------------ 4. dicts parsed by the stdlib / frameworks
def test_orders_parsed_by_json_loads_are_accepted_when_no_digit_was_lost() -> None:
    body = WEBHOOK.read_bytes()
    from_dict = parse_order(json.loads(body))  # what Flask's get_json() and FastAPI hand over
    assert from_dict == parse_order(body)
    assert type(from_dict.total) is Decimal
    assert str(from_dict.total) == str(parse_order(body).total)


def test_floats_that_may_have_lost_digits_are_refused_pointing_to_a_public_helper() -> None:
    data = json.loads(WEBHOOK.read_bytes())
    data["total"] = 0.1 + 0.2
    error = _refusal(data)
    assert error.reason == "invalid_order"
    assert error.details[0].startswith("$.total: binary float")
    assert "mivaorders.json.loads" in str(error)
    assert "mivaorders._" not in str(error)
    parsed = mo.json.loads(mo.json.dumps(load_fixture("webhook_order_payload.json")))
    assert isinstance(parsed, dict)
    assert parse_order(parsed).id > 0
