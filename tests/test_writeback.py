"""Write-back: custom fields, shipments and ``orders.fulfil``, sync and async, against the simulated store.

The proofs: under 30 % faults that strike before and after the store acted, fulfilment makes exactly one
shipment per order with the right tracking and shipped state, and running it again makes nothing; a naive
create-then-retry makes duplicates (the control) where the library does not; custom fields written under
faults all land; what the store would refuse is refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import mivaorders as mo
from mivaorders import _json
from mivaorders._writeback import CustomFieldInput
from mivaorders.testing import FakeStore, Fault

FIXTURES = Path(__file__).parent / "fixtures"
FAST = mo.RetryPolicy(max_attempts=6, wait=False)
KINDS = ["sync", "async"]
CREATE = "OrderItemList_CreateShipment"
UPDATE = "OrderShipmentList_Update"
FAULTS = [
    Fault.http(502),
    Fault.http(503),
    Fault.drop(),
    Fault.truncate(),
    Fault.rate_limit(0),
    Fault.api_error(),
]
T = TypeVar("T")
NOT_SHIPPED = frozenset({210, 211, 220, 221, 300})


def fixture(name: str) -> Any:
    return _json.loads((FIXTURES / name).read_bytes())


def new_orders(store: FakeStore, count: int, items: int = 2) -> list[int]:
    return [store.create_order(items=items) for _ in range(count)]


def lines_of(store: FakeStore, order_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = store.truth()[order_id]["items"]
    return items


def until_done(action: Callable[[], T], attempts: int = 25) -> T:
    """What an integration does with a step that is safe to repeat: run it again until it succeeds."""
    for _ in range(attempts - 1):
        try:
            return action()
        except (mo.TransportError, mo.HTTPStatusError, mo.ResponseDecodeError, mo.APIError) as exc:
            if isinstance(exc, (mo.InvalidParameterError, mo.NotFoundError)):
                raise
    return action()


async def until_done_async(action: Callable[[], Any], attempts: int = 25) -> Any:
    for _ in range(attempts - 1):
        try:
            return await action()
        except (mo.TransportError, mo.HTTPStatusError, mo.ResponseDecodeError, mo.APIError) as exc:
            if isinstance(exc, (mo.InvalidParameterError, mo.NotFoundError)):
                raise
    return await action()


# ------------------------------------------------------------------------------------------- the simulator


def test_sim_create_is_not_idempotent_and_skips_foreign_lines() -> None:
    store = FakeStore(orders=5, seed=2)
    first, other = new_orders(store, 2)
    mine = [line["line_id"] for line in lines_of(store, first)]
    foreign = lines_of(store, other)[0]["line_id"]
    before = store.truth()[first]["dt_updated"]
    store.advance(5)
    with store.client(retry=None) as client:
        one = client.call(CREATE, {"Order_ID": first, "Line_IDs": [mine[0], foreign]})["data"]
        two = client.call(CREATE, {"Order_ID": first, "Line_IDs": [mine[1]]})["data"]
        assert one["id"] != two["id"]
        assert one["shipment_id"] == one["id"]
        assert (one["status"], one["ship_date"], one["tracknum"]) == (100, 0, "")
        assert len(store.shipments(first)) == 2  # a second call is a second shipment
        assert store.shipments(other) == []  # the foreign line was skipped without a word
        assert all(line["shpmnt_id"] == 0 for line in lines_of(store, other))
        assert store.truth()[first]["dt_updated"] > before
        with pytest.raises(mo.APIError) as caught:
            client.call(CREATE, {"Order_ID": first, "Line_IDs": [foreign]})
        assert caught.value.error_code == "MER-JSN-ORD-00057"
        with pytest.raises(mo.NotFoundError):
            client.call(CREATE, {"Order_ID": 1, "Line_IDs": [foreign]})


def test_sim_update_overwrites_omitted_fields_and_marks_shipped_once() -> None:
    store = FakeStore(orders=5, seed=2)
    (order_id,) = new_orders(store, 1)
    with store.client(retry=None) as client:
        line_ids = [line["line_id"] for line in lines_of(store, order_id)]
        sid = client.call(CREATE, {"Order_ID": order_id, "Line_IDs": line_ids})["data"]["id"]
        full = {"shpmnt_id": sid, "tracknum": "1ZX", "tracktype": "UPS", "cost": Decimal("7.25")}
        client.call(UPDATE, {"Shipment_Updates": [full]})
        assert store.shipments(order_id)[0]["tracknum"] == "1ZX"
        store.advance(60)
        client.call(UPDATE, {"Shipment_Updates": [{"shpmnt_id": sid, "mark_shipped": True}]})
        (shipment,) = store.shipments(order_id)
        # mark_shipped alone erased the tracking number and the cost (order-functions.md §6.2)
        assert (shipment["tracknum"], shipment["tracktype"], shipment["cost"]) == ("", "", Decimal("0.00"))
        assert shipment["status"] == 200
        assert shipment["ship_date"] == store.clock.now()
        shipped_at = shipment["ship_date"]
        store.advance(60)
        client.call(UPDATE, {"Shipment_Updates": [{**full, "mark_shipped": True}, {"shpmnt_id": 999999}]})
        assert store.shipments(order_id)[0]["ship_date"] == shipped_at  # already shipped: date kept
        order = store.truth()[order_id]
        assert order["status"] == 200
        assert all(line["status"] == 200 for line in order["items"])


def test_sim_shipment_list_query_filters_sorts_and_renders_items() -> None:
    store = FakeStore(orders=40, seed=4)
    with store.client(retry=None) as client:
        everything = client.call("OrderShipmentList_Load_Query", {"Count": 0})["data"]
        assert everything["total_count"] > 5
        some = everything["data"][3]
        params = {
            "Count": 5,
            "Sort": "-id",
            "Filter": [
                {
                    "name": "search",
                    "value": [{"field": "order_id", "operator": "EQ", "value": str(some["order_id"])}],
                },
                {"name": "ondemandcolumns", "value": ["items", "include_order"]},
            ],
        }
        page = client.call("OrderShipmentList_Load_Query", params)["data"]
        assert page["total_count"] >= 1
        assert all(s["order_id"] == some["order_id"] for s in page["data"])
        assert [s["id"] for s in page["data"]] == sorted((s["id"] for s in page["data"]), reverse=True)
        assert all(item["shpmnt_id"] == s["id"] for s in page["data"] for item in s["items"])
        assert all(s["order"]["id"] == some["order_id"] for s in page["data"])


# -------------------------------------------------------------------------------------- the wire format


def test_requests_match_the_fixtures() -> None:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = _json.loads(request.content)
        sent.append(body)
        answers = {
            CREATE: "orderitemlist_createshipment_response.json",
            UPDATE: "ordershipmentlist_update_response.json",
            "OrderCustomFieldList_Load": "ordercustomfieldlist_load_response.json",
            "OrderCustomFields_Update": "ordercustomfields_update_response.json",
            "OrderShipmentList_Load_Query": "ordershipmentlist_load_query_response.json",
        }
        return httpx.Response(200, content=(FIXTURES / answers[body["Function"]]).read_bytes())

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = mo.Client(
        "https://shop.example.com/mm5/json.mvc",
        store_code="EXSTORE",
        auth=mo.TokenAuth("t" * 32),
        http_client=http,
    )
    shipment = client.shipments.create(100232, [5010, 5011])
    assert shipment.id == 312
    assert shipment.shipment_id == 312
    assert shipment.cost == Decimal("0.0")
    client.shipments.update(
        312, tracking_number="1ZEXAMPLE0000312", tracking_type="UPS", cost="7.25", mark_shipped=True
    )
    client.orders.set_custom_fields(100231, {"po_number": "PO-70001"})
    page = client.shipments.list(order_id=100235, sort="-ship_date", count=25)
    assert page.items[0].tracknum == "9400EXAMPLE0000305"
    assert page.items[0].cost == Decimal("7.1")

    def strip(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != "Miva_Request_Timestamp"}

    functions = [b["Function"] for b in sent]
    assert functions == [
        CREATE,
        UPDATE,
        "OrderCustomFieldList_Load",
        "OrderCustomFields_Update",
        "OrderShipmentList_Load_Query",
    ]
    for body, name in zip(
        sent,
        [
            "orderitemlist_createshipment_request.json",
            "ordershipmentlist_update_request.json",
            "ordercustomfieldlist_load_request.json",
            "ordercustomfields_update_request.json",
            "ordershipmentlist_load_query_request.json",
        ],
        strict=True,
    ):
        assert strip(body) == strip(fixture(name)), name


def test_update_always_sends_all_three_and_checks_them_first() -> None:
    store = FakeStore(orders=5, seed=2)
    with store.client(retry=None) as client:
        with pytest.raises(mo.ArgumentError, match="resets"):
            client.shipments.update(301, tracking_number="1Z", tracking_type="UPS")
        with pytest.raises(mo.ArgumentError, match="two decimals"):
            client.shipments.update(301, tracking_number="1Z", tracking_type="UPS", cost="1.005")
        with pytest.raises(mo.ArgumentError, match=">= 0"):
            mo.ShipmentUpdate.build(301, tracking_number="1Z", tracking_type="UPS", cost=-1)
        one = mo.ShipmentUpdate.build(301, tracking_number="1Z", tracking_type="UPS", cost=1)
        with pytest.raises(mo.ArgumentError, match="appears twice"):
            client.shipments.update(one, more=[one])
        with pytest.raises(mo.ArgumentError, match="not a shipment column"):
            client.shipments.list(where=mo.F.orderdate >= 0)
        with pytest.raises(mo.ArgumentError, match="sort"):
            client.shipments.list(sort="-nope")
        with pytest.raises(mo.ArgumentError, match="order filter"):
            client.shipments.list(where=mo.customer_id(5))
    assert store.stats.requests == 0
    with store.client(retry=None) as client:
        newest_first = client.shipments.list(sort=mo.F.id.desc(), count=3)
        assert [s.id for s in newest_first.items] == sorted((s.id for s in newest_first.items), reverse=True)
        assert newest_first.total_count > 3


# ------------------------------------------------------------------------------ create: the control test


def test_naive_create_then_retry_duplicates_and_the_library_does_not() -> None:
    store = FakeStore(orders=5, seed=3)
    naive_order, careful_order, fulfilled_order = new_orders(store, 3)
    with store.client(retry=FAST) as client:
        # The control: a create declared safe to retry, its answer lost after the store acted.
        store.faults.script(Fault.http(502), when="after", function=CREATE)
        lines = [line["line_id"] for line in lines_of(store, naive_order)]
        client.call(CREATE, {"Order_ID": naive_order, "Line_IDs": lines}, idempotent=True)
        assert len(store.shipments(naive_order)) == 2  # a duplicate shipment

        # The library never sends it again once it may have reached the store ...
        store.faults.script(Fault.http(502), when="after", function=CREATE)
        lines = [line["line_id"] for line in lines_of(store, careful_order)]
        with pytest.raises(mo.UncertainWriteError) as caught:
            client.shipments.create(careful_order, lines)
        assert caught.value.maybe_sent
        assert "may have been created" in str(caught.value)
        assert isinstance(caught.value.__cause__, mo.HTTPStatusError)
        assert len(store.shipments(careful_order)) == 1
        # ... but does when the failure proves the store never saw it.
        store.faults.script(Fault.rate_limit(0), when="before", function=CREATE)
        (second,) = new_orders(store, 1)
        client.shipments.create(second, [line["line_id"] for line in lines_of(store, second)])
        assert len(store.shipments(second)) == 1

        # fulfil looks instead of creating again, and finishes the job.
        store.faults.script(Fault.drop(), when="after", function=CREATE)
        shipment = client.orders.fulfil(fulfilled_order, tracking_number="1ZCTRL", tracking_type="UPS")
        (held,) = store.shipments(fulfilled_order)
        assert shipment.id == held["id"]
        assert held["tracknum"] == "1ZCTRL"
        assert held["status"] == 200


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("function", [CREATE, UPDATE, "OrderList_Load_Query", "OrderShipmentList_Load_Query"])
def test_fulfil_survives_a_fault_on_every_step(when: str, function: str) -> None:
    store = FakeStore(orders=5, seed=5)
    (order_id,) = new_orders(store, 1, items=3)
    with store.client(retry=mo.RetryPolicy(max_attempts=1, wait=False)) as client:
        store.faults.script(Fault.http(503), when=when, function=function)  # type: ignore[arg-type]
        # with no retries a failed step ends the call; running it again must finish the job
        with contextlib.suppress(mo.MivaError):
            client.orders.fulfil(order_id, tracking_number="1ZSTEP", tracking_type="UPS", cost=5)
        shipment = client.orders.fulfil(order_id, tracking_number="1ZSTEP", tracking_type="UPS", cost=5)
    (held,) = store.shipments(order_id)
    assert (held["id"], held["tracknum"], held["cost"], held["status"]) == (
        shipment.id,
        "1ZSTEP",
        Decimal("5.00"),
        200,
    )


# ------------------------------------------------------------------------------------ fulfil under faults


def check_fulfilled(store: FakeStore, order_ids: list[int], tracking: Callable[[int], str]) -> None:
    truth = store.truth()
    for order_id in order_ids:
        shipments = store.shipments(order_id)
        assert len(shipments) == 1, f"order {order_id} has {len(shipments)} shipments"
        (shipment,) = shipments
        assert shipment["tracknum"] == tracking(order_id)
        assert shipment["tracktype"] == "UPS"
        assert shipment["status"] == 200
        assert shipment["ship_date"] > 0
        assert shipment["cost"] == Decimal("4.50")
        for line in truth[order_id]["items"]:
            # digital lines never ship; every other line is in the one shipment
            expected = 0 if line["status"] in NOT_SHIPPED else shipment["id"]
            assert line["shpmnt_id"] == expected
        assert truth[order_id]["status"] == 200


def test_fulfil_40_orders_under_30_percent_faults_sync() -> None:
    store = FakeStore(orders=10, seed=6)
    order_ids = new_orders(store, 40)
    tracking = "1ZSYNC{:08d}".format
    store.faults.random(rate=0.3, kinds=FAULTS, seed=6, when="any")
    with store.client(retry=FAST) as client:
        for order_id in order_ids:
            until_done(
                functools.partial(
                    client.orders.fulfil,
                    order_id,
                    tracking_number=tracking(order_id),
                    tracking_type="UPS",
                    cost=Decimal("4.50"),
                )
            )
        stats = store.stats.snapshot()
        struck = stats["faults_by_function"]
        assert struck[f"{CREATE}:before"] >= 3
        assert struck[f"{CREATE}:after"] >= 3
        assert struck[f"{UPDATE}:before"] >= 1
        assert struck[f"{UPDATE}:after"] >= 1
        # Each create that reached the store made the order's one shipment: no create was ever repeated.
        assert stats["by_function"][CREATE] == 40
        check_fulfilled(store, order_ids, tracking)
        # The same fulfilment again, still under faults: same shipments, nothing created.
        for order_id in order_ids:
            again = until_done(
                functools.partial(
                    client.orders.fulfil,
                    order_id,
                    tracking_number=tracking(order_id),
                    tracking_type="UPS",
                    cost=Decimal("4.50"),
                )
            )
            assert again.id == store.shipments(order_id)[0]["id"]
        assert store.stats.by_function[CREATE] == 40
    check_fulfilled(store, order_ids, tracking)


def test_fulfil_24_orders_concurrently_under_30_percent_faults_async() -> None:
    store = FakeStore(orders=10, seed=7)
    order_ids = new_orders(store, 24, items=3)
    tracking = "9400ASYNC{:08d}".format
    store.faults.random(rate=0.3, kinds=FAULTS, seed=7, when="any")

    async def go() -> None:
        async with store.async_client(retry=FAST) as client:

            async def one(order_id: int) -> mo.OrderShipment:
                shipment: mo.OrderShipment = await until_done_async(
                    lambda: client.orders.fulfil(
                        order_id, tracking_number=tracking(order_id), tracking_type="UPS", cost="4.5"
                    )
                )
                return shipment

            first = await asyncio.gather(*(one(o) for o in order_ids))
            again = await asyncio.gather(*(one(o) for o in order_ids))
            assert [s.id for s in first] == [s.id for s in again]
            assert all(s.status == mo.ShipmentStatus.SHIPPED and s.ship_date is not None for s in again)

    asyncio.run(go())
    struck = store.stats.faults_by_function
    assert struck[f"{CREATE}:before"] >= 3
    assert struck[f"{CREATE}:after"] >= 3
    assert store.stats.by_function[CREATE] == 24
    check_fulfilled(store, order_ids, tracking)


@pytest.mark.parametrize("kind", KINDS)
def test_partial_fulfilment_gives_two_shipments_and_repeats_give_the_same(kind: str) -> None:
    store = FakeStore(orders=5, seed=8)
    (order_id,) = new_orders(store, 1, items=3)
    lines = [line["line_id"] for line in lines_of(store, order_id)]

    def fulfil(client: Any, **kwargs: Any) -> mo.OrderShipment:
        result = client.orders.fulfil(order_id, tracking_type="UPS", **kwargs)
        if kind == "async":
            result = asyncio.run(result)
        assert isinstance(result, mo.OrderShipment)
        return result

    client: Any = store.client(retry=FAST) if kind == "sync" else store.async_client(retry=FAST)
    first = fulfil(client, tracking_number="1ZFIRST", line_ids=lines[:1])
    assert store.truth()[order_id]["status"] == 201  # partially shipped
    second = fulfil(client, tracking_number="1ZREST")  # the rest: every line not shipped yet
    again = fulfil(client, tracking_number="1ZREST")
    explicit = fulfil(client, tracking_number="1ZREST", line_ids=lines[1:])
    repeat_first = fulfil(client, tracking_number="1ZFIRST", line_ids=lines[:1])
    assert first.id != second.id
    assert second.id == again.id == explicit.id
    assert repeat_first.id == first.id
    held = {s["id"]: s for s in store.shipments(order_id)}
    assert set(held) == {first.id, second.id}
    assert held[first.id]["tracknum"] == "1ZFIRST"
    assert held[second.id]["tracknum"] == "1ZREST"
    by_line = {line["line_id"]: line["shpmnt_id"] for line in lines_of(store, order_id)}
    assert by_line == {lines[0]: first.id, lines[1]: second.id, lines[2]: second.id}
    assert store.truth()[order_id]["status"] == 200
    # Nothing left to ship with a third tracking number, and lines that ship already are not taken over.
    with pytest.raises(mo.ShipmentConflictError, match="no line left"):
        fulfil(client, tracking_number="1ZTHIRD")
    with pytest.raises(mo.ShipmentConflictError, match="already in shipment"):
        fulfil(client, tracking_number="1ZTHIRD", line_ids=lines[:1])
    assert len(store.shipments(order_id)) == 2


def test_fulfil_refuses_foreign_lines_and_unknown_orders_before_writing() -> None:
    store = FakeStore(orders=5, seed=9)
    mine, other = new_orders(store, 2)
    foreign = lines_of(store, other)[0]["line_id"]
    stamp = store.truth()[mine]["dt_updated"]
    store.advance(10)
    with store.client(retry=FAST) as client:
        with pytest.raises(mo.ArgumentError, match=f"{foreign} are not lines of order {mine}"):
            client.orders.fulfil(mine, tracking_number="1Z", tracking_type="UPS", line_ids=[foreign])
        with pytest.raises(mo.NotFoundError):
            client.orders.fulfil(42, tracking_number="1Z", tracking_type="UPS")
        with pytest.raises(mo.ArgumentError, match="tracking_number"):
            client.orders.fulfil(mine, tracking_number=" ", tracking_type="UPS")
    assert CREATE not in store.stats.by_function
    assert UPDATE not in store.stats.by_function
    assert store.shipments(mine) == []
    assert store.truth()[mine]["dt_updated"] == stamp


def test_fulfil_finishes_a_shipment_left_half_done_by_a_crash() -> None:
    store = FakeStore(orders=5, seed=10)
    (order_id,) = new_orders(store, 1, items=2)
    lines = [line["line_id"] for line in lines_of(store, order_id)]
    with store.client(retry=FAST) as client:
        made = client.shipments.create(order_id, lines)  # ... and the process died here
        done = client.orders.fulfil(order_id, tracking_number="1ZCRASH", tracking_type="FedEx", cost=3)
        assert done.id == made.id
        assert done.status == mo.ShipmentStatus.SHIPPED
        assert done.tracknum == "1ZCRASH"
        assert done.cost == Decimal("3.00")
        listed = client.shipments.list(order_id=order_id, items=True)
        assert [s.id for s in listed.items] == [made.id]
        assert {item.line_id for item in listed.items[0].items or ()} == set(lines)
        got = client.shipments.get(made.id)
        assert got is not None
        assert got.tracktype == "FedEx"
        assert client.shipments.get(999999) is None
    assert store.stats.by_function[CREATE] == 1


# ---------------------------------------------------------------------------------------- custom fields


@pytest.mark.parametrize("kind", KINDS)
def test_custom_fields_written_under_faults_all_land(kind: str) -> None:
    store = FakeStore(orders=30, seed=11)
    order_ids = store.engine.order_ids()[:20]  # type: ignore[attr-defined]
    store.faults.random(rate=0.3, kinds=FAULTS, seed=11, when="any")

    def values(order_id: int) -> dict[str, CustomFieldInput]:
        return {"erp_exported": True, "po_number": f"ERP-{order_id}", "packing_tags": ["a", str(order_id)]}

    if kind == "sync":
        with store.client(retry=FAST) as client:
            for order_id in order_ids:
                until_done(functools.partial(client.orders.set_custom_fields, order_id, values(order_id)))
    else:

        async def go() -> None:
            async with store.async_client(retry=FAST) as client:
                await asyncio.gather(
                    *(
                        until_done_async(functools.partial(client.orders.set_custom_fields, o, values(o)))
                        for o in order_ids
                    )
                )

        asyncio.run(go())
    struck = store.stats.faults_by_function
    assert struck["OrderCustomFields_Update:before"]
    assert struck["OrderCustomFields_Update:after"]
    # the field list was loaded once per client (or again after a fault cut its answer)
    assert store.stats.by_function["OrderCustomFieldList_Load"] <= 1 + store.stats.faults_after
    truth = store.truth()
    for order_id in order_ids:
        custom = truth[order_id]["CustomField_Values"]["customfields"]
        assert custom["erp_exported"] == "1"
        assert custom["po_number"] == f"ERP-{order_id}"
        assert custom["packing_tags"] == ["a", str(order_id)]


def test_unknown_readonly_or_bad_choice_fields_are_refused_before_sending() -> None:
    store = FakeStore(orders=5, seed=12)
    order_id = store.engine.order_ids()[0]  # type: ignore[attr-defined]
    with store.client(retry=FAST) as client:
        with pytest.raises(mo.APIError, match="erp_exportd") as caught:
            client.orders.set_custom_fields(order_id, {"po_number": "x", "erp_exportd": "1"})
        assert isinstance(caught.value, mo.InvalidParameterError)
        assert [e.field for e in caught.value.field_errors] == ["CustomField_Values:customfields:erp_exportd"]
        with pytest.raises(mo.APIError, match="read-only"):
            client.orders.set_custom_fields(order_id, {"auditlog": "x"}, module="orderworkflow")
        with pytest.raises(mo.APIError, match="Must be one of: Normal, Rush"):
            client.orders.set_custom_fields(order_id, {"order_priority": "Urgent"})
        with pytest.raises(mo.APIError, match="no order custom fields in module 'nosuch'"):
            client.orders.set_custom_fields(order_id, {"x": "1"}, module="nosuch")
        with pytest.raises(mo.ArgumentError):
            client.orders.set_custom_fields(order_id, {"po_number": None})  # type: ignore[dict-item]
        with pytest.raises(mo.ArgumentError):
            client.orders.set_custom_fields(order_id, {})
        assert "OrderCustomFields_Update" not in store.stats.by_function
        assert store.stats.by_function["OrderCustomFieldList_Load"] <= 5  # reloaded only for unseen codes
        # queue flags are fields of the orderworkflow module: writing one re-queues the order
        client.orders.set_custom_fields(order_id, {"new_and_updated": True}, module="orderworkflow")
        assert order_id in store.queue_members("new_and_updated")


def test_a_write_the_store_stops_half_way_says_what_was_written() -> None:
    store = FakeStore(orders=5, seed=13)
    order_id = store.engine.order_ids()[0]  # type: ignore[attr-defined]
    # An int passes the client's check (only text is checked against choices); the store refuses it.
    with store.client(retry=FAST) as client, pytest.raises(mo.PartialWriteError) as caught:
        client.orders.set_custom_fields(
            order_id, {"po_number": "PO-HALF", "order_priority": 5, "gift_message": "never"}
        )
    error = caught.value
    assert isinstance(error, mo.APIError)
    assert error.error_code == "MER-JSN-00018"
    assert (error.written, error.failed, error.not_written) == (
        ("po_number",),
        "order_priority",
        ("gift_message",),
    )
    assert "written before it: po_number" in str(error)
    custom = store.truth()[order_id]["CustomField_Values"]["customfields"]
    assert custom["po_number"] == "PO-HALF"
    assert custom["gift_message"] != "never"


def test_custom_fields_bump_dt_updated_so_the_order_comes_again() -> None:
    store = FakeStore(orders=20, seed=14)
    order_id = store.engine.order_ids()[3]  # type: ignore[attr-defined]
    with store.client(retry=FAST) as client:
        pull = client.orders.updated_since(0, columns=())
        list(pull)
        since = pull.watermark
        store.advance(5)
        client.orders.set_custom_fields(order_id, {"erp_exported": "1"})
        assert [o.id for o in client.orders.updated_since(since, columns=())] == [order_id]


def test_the_field_list_is_loaded_once_per_client_and_a_denied_list_leaves_the_check_to_the_store() -> None:
    store = FakeStore(orders=5, seed=15)
    order_id = store.engine.order_ids()[0]  # type: ignore[attr-defined]
    with store.client(retry=FAST) as client:
        for n in range(3):
            client.orders.set_custom_fields(order_id, {"po_number": f"PO-{n}"})
        assert store.stats.by_function["OrderCustomFieldList_Load"] == 1
        fresh = client.with_options(timeout=30)
        fresh.orders.set_custom_fields(order_id, {"po_number": "PO-x"})
        assert store.stats.by_function["OrderCustomFieldList_Load"] == 2
    denied = FakeStore(orders=5, seed=15)
    denied.faults.script(
        Fault.api_error("access_denied", "Access denied"), function="OrderCustomFieldList_Load"
    )
    with denied.client(retry=FAST) as client:
        client.orders.set_custom_fields(order_id, {"po_number": "PO-D"})
        with pytest.raises(mo.APIError, match="Failed to load custom field 'nope'"):
            client.orders.set_custom_fields(order_id, {"nope": "1"})  # the store's own answer
    assert denied.truth()[order_id]["CustomField_Values"]["customfields"]["po_number"] == "PO-D"


def test_async_shipments_resource() -> None:
    store = FakeStore(orders=5, seed=16)
    (order_id,) = new_orders(store, 1)
    lines = [line["line_id"] for line in lines_of(store, order_id)]

    async def go() -> None:
        async with store.async_client(retry=FAST) as client:
            made = await client.shipments.create(order_id, lines)
            await client.shipments.update(
                made.id, tracking_number="1ZA", tracking_type="USPS", cost=2, mark_shipped=True
            )
            got = await client.shipments.get(made.id)
            assert got is not None
            assert got.tracknum == "1ZA"
            assert got.status == mo.ShipmentStatus.SHIPPED
            page = await client.shipments.list(order_id=order_id)
            assert [s.id for s in page.items] == [made.id]
            store.faults.script(Fault.drop(), when="after", function=CREATE)
            (other,) = new_orders(store, 1)
            with pytest.raises(mo.UncertainWriteError):
                await client.shipments.create(other, [line["line_id"] for line in lines_of(store, other)])
            assert len(store.shipments(other)) == 1

    asyncio.run(go())


def test_fixture_shipment_decodes() -> None:
    data = fixture("ordershipmentlist_load_query_response.json")["data"]
    page = mo.structure_page(data, mo.OrderShipment)
    assert page.items[0].status == mo.ShipmentStatus.SHIPPED
    assert json.loads(json.dumps(page.total_count)) == 1


def test_the_guides_complete_programs_run() -> None:
    """Every code block of the write-back guide that is a whole program (it imports) runs as shown."""
    guide = Path(__file__).resolve().parent.parent / "docs" / "guides" / "writeback.md"
    blocks = re.findall(r"```python\n(.*?)```", guide.read_text(encoding="utf-8"), flags=re.DOTALL)
    programs = [b for b in blocks if "import " in b and "--8<--" not in b]
    assert programs
    for program in programs:
        exec(compile(program, str(guide), "exec"), {"__name__": "guide"})  # noqa: S102


def test_the_exported_flag_can_be_filtered_on() -> None:
    store = FakeStore(orders=10, seed=17)
    with store.client(retry=FAST) as client:
        ids = store.engine.order_ids()  # type: ignore[attr-defined]
        client.orders.set_custom_fields(ids[0], {"erp_exported": "1"})
        flag = mo.F("CustomField_Values:customfields:erp_exported")
        pending = {o.id for o in client.orders.iter(where=flag != "1", columns=())}
        assert pending == set(ids) - {ids[0]}


def test_fulfil_is_pure_steps_that_pause_and_look_after_an_unanswered_create() -> None:
    """The conversation without any client: a lost create answer leads to a pause and a re-read, a
    failure that proves the store never acted to a re-read without the pause; never a blind second create."""
    from mivaorders._client import sync_driver
    from mivaorders._conversation import Log, Pause, Send, ask
    from mivaorders._writeback import SETTLE_SECONDS, FulfilRequest, fulfil_steps

    store = FakeStore(orders=5, seed=18)
    (order_id,) = new_orders(store, 1, items=1)
    with store.client(retry=None) as client:

        def answer(step: Send | Pause) -> Any:
            assert isinstance(step, Send)
            return sync_driver(client).run(ask(step.call))

        for failure, pauses in [
            (mo.TransportError("lost", maybe_sent=True), True),
            (mo.TransportError("refused", maybe_sent=False), False),
        ]:
            request = FulfilRequest.build(
                order_id,
                tracking_number="1ZPURE",
                tracking_type="UPS",
                line_ids=None,
                cost=None,
                mark_shipped=True,
            )
            steps = fulfil_steps(request)
            read = next(steps)
            assert isinstance(read, Send)
            assert read.call.function == "OrderList_Load_Query"
            create = steps.send(answer(read))
            assert isinstance(create, Send)
            assert create.call.function == CREATE
            # the store never sees this create; the conversation is told it failed
            after = steps.throw(failure)
            # it says what happened (the driver writes the log record) ...
            assert isinstance(after, Log)
            assert after.level == logging.INFO
            assert CREATE in after.args
            after = steps.send(None)
            if pauses:  # ... and waits for the store to settle unless the failure proves it never acted
                assert after == Pause(SETTLE_SECONDS)
                after = steps.send(None)
            assert isinstance(after, Send)
            assert after.call.function == "OrderList_Load_Query"  # it looks before anything else
            again = steps.send(answer(after))
            assert isinstance(again, Send)
            assert again.call.function == CREATE  # nothing there: creating is safe now
            steps.close()
    assert store.shipments(order_id) == []
