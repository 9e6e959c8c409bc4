"""StoreEngine: dispatch, queues and workflows, acknowledgement, custom fields, the control API."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

from mivaorders._json import dumps, loads
from mivaorders.testing._clock import StoreClock
from mivaorders.testing._engine import StoreEngine
from mivaorders.testing._params import Params

from .conftest import load_fixture

START = 1_750_000_000
NEW = "new_and_updated"
DONE = "successfully_retrieved_orders"


def make(workflow: str = "acknowledge", orders: int = 150, **kwargs: Any) -> StoreEngine:
    return StoreEngine(
        orders=orders, seed=11, clock=StoreClock(START, frozen=True), workflow=workflow, **kwargs
    )


def call(engine: StoreEngine, function: str, **params: Any) -> Any:
    return loads(dumps(engine.execute(Params({"Function": function, **params}))))


def module(engine: StoreEngine, name: str, **params: Any) -> Any:
    return call(engine, "Module", Module_Code="orderworkflow", Module_Function=name, **params)


def queue_load(engine: StoreEngine, code: str = NEW, **params: Any) -> Any:
    return module(engine, "QueueOrderList_Load_Query", Queue_Code=code, **params)


def ack(engine: StoreEngine, order_ids: Any) -> Any:
    return module(engine, "OrderList_Acknowledge", Order_IDs=order_ids)


def truth(engine: StoreEngine, order_id: int) -> dict[str, Any]:
    return engine.orders_truth()[order_id]


# ---------------------------------------------------------------------------------------------- dispatch


def test_dispatch_errors() -> None:
    engine = make(orders=5)
    assert call(engine, "Order_Load_ID") == load_fixture("error_invalid_function_response.json")
    assert call(engine, "orderlist_load_query")["error_code"] == "invalid_function"  # case-sensitive
    assert call(engine, "QueueOrderList_Load_Query", Queue_Code=NEW)["error_code"] == "invalid_function"
    assert loads(dumps(engine.execute(Params({"Count": 1}))))["error_code"] == "MER-JSN-00024"
    assert call(engine, "Module", Module_Function="X")["error_code"] == "MER-JSN-00025"
    assert call(engine, "Module", Module_Code="orderworkflow")["error_code"] == "MER-JSN-00026"
    reply = call(engine, "Module", Module_Code="customfields", Module_Function="OrderList_Acknowledge")
    assert reply == {"success": 0, "error_code": "invalid_module", "error_message": "Invalid module"}
    assert module(engine, "OrderList_Archive") == {
        "success": 0,
        "error_code": "MER-UTIL-ORWF-00117",
        "error_message": "Invalid function",
    }


def test_params_are_case_insensitive_layers() -> None:
    engine = make(orders=20)
    reply = loads(
        dumps(engine.execute(Params({"count": 2}, {"Function": "OrderList_Load_Query", "COUNT": 5})))
    )
    assert len(reply["data"]["data"]) == 2


def test_repr_has_no_secret() -> None:
    assert "sim-passphrase" not in repr(make(orders=2))


# ------------------------------------------------------------------------------------------------ queues


def test_queue_lookup_order_and_errors() -> None:
    engine = make()
    members = engine.queue_members(NEW)
    by_code = queue_load(engine, "NEW_AND_UPDATED", Count=0)  # codes ignore case
    assert [o["id"] for o in by_code["data"]["data"]] == members
    assert by_code["data"]["total_count"] == len(members)
    # Queue_ID wins over the codes; Edit_Queue over Queue_Code
    reply = module(engine, "QueueOrderList_Load_Query", Queue_ID=2, Queue_Code=NEW, Count=1)
    assert reply["data"]["total_count"] == len(engine.queue_members(DONE))
    reply = module(engine, "QueueOrderList_Load_Query", Edit_Queue=DONE, Queue_Code=NEW, Count=1)
    assert reply["data"]["total_count"] == len(engine.queue_members(DONE))
    cases = {
        "Queue_ID": ("99", "MER-UTIL-ORWF-00029"),
        "Edit_Queue": ("nope", "MER-UTIL-ORWF-00106"),
        "Queue_Code": ("nope", "MER-UTIL-ORWF-00030"),
    }
    for key, (value, code) in cases.items():
        reply = module(engine, "QueueOrderList_Load_Query", **{key: value})
        assert (reply["error_code"], reply["error_message"]) == (code, "Queue not found")
    assert module(engine, "QueueOrderList_Load_Query")["error_code"] == "MER-UTIL-ORWF-00031"


def test_queue_filter_cannot_widen_the_queue() -> None:
    engine = make()
    reply = queue_load(
        engine,
        Count=0,
        Filter=[{"name": "search_OR", "value": [{"field": "id", "operator": "GT", "value": "0"}]}],
    )
    assert reply["data"]["total_count"] == len(engine.queue_members(NEW))


def test_acknowledge_workflow_leaves_orders_until_acknowledged() -> None:
    engine = make("acknowledge")
    before = engine.queue_members(NEW)
    assert len(before) > 3
    first = before[:2]
    old = {i: truth(engine, i) for i in first}
    engine.clock.advance(100)
    page = queue_load(engine, Count=2, Sort="id")
    assert [o["id"] for o in page["data"]["data"]] == first
    # the reply shows the orders as they were before the retrieval workflow ran
    assert [o["dt_updated"] for o in page["data"]["data"]] == [old[i]["dt_updated"] for i in first]
    assert engine.queue_members(NEW) == before
    for i in first:
        now = truth(engine, i)
        assert now["dt_updated"] == START + 100
        assert now["note_count"] == old[i]["note_count"] + 1
        assert "left in queue" in now["notes"][-1]["notetext"]
        assert now["notes"][-1]["user_id"] == 0
    assert ack(engine, first) == {"success": 1, "processed": 2}
    assert engine.queue_members(NEW) == before[2:]
    assert set(first) <= set(engine.queue_members(DONE))
    assert truth(engine, first[0])["note_count"] == old[first[0]]["note_count"] + 2


def test_move_workflow_drains_on_read() -> None:
    engine = make("move")
    before = engine.queue_members(NEW)
    page = queue_load(engine, Count=3)
    got = [o["id"] for o in page["data"]["data"]]
    assert got == before[:3]
    assert engine.queue_members(NEW) == before[3:]
    assert set(got) <= set(engine.queue_members(DONE))
    # no acknowledgement workflow: acknowledging changes nothing but still counts
    remaining = engine.queue_members(NEW)
    assert ack(engine, remaining[:2]) == {"success": 1, "processed": 2}
    assert engine.queue_members(NEW) == remaining


def test_add_workflow_never_drains() -> None:
    engine = make("add")
    before = engine.queue_members(NEW)
    first = queue_load(engine, Count=5)
    second = queue_load(engine, Count=5)
    assert [o["id"] for o in first["data"]["data"]] == [o["id"] for o in second["data"]["data"]] == before[:5]
    assert engine.queue_members(NEW) == before
    assert set(before[:5]) <= set(engine.queue_members(DONE))


def test_no_workflows() -> None:
    engine = make("none")
    before = engine.queue_members(NEW)
    old = truth(engine, before[0])
    engine.clock.advance(50)
    queue_load(engine, Count=5)
    assert ack(engine, before[:3]) == {"success": 1, "processed": 3}
    assert engine.queue_members(NEW) == before
    assert truth(engine, before[0]) == old
    new_id = engine.create_order()
    assert new_id not in engine.queue_members(NEW)


def test_unknown_workflow_variant() -> None:
    with pytest.raises(ValueError, match="workflow"):
        make("sometimes")


# ------------------------------------------------------------------------------------------ acknowledge


def test_acknowledge_counts_unknown_ids_with_warnings() -> None:
    engine = make()
    known = engine.queue_members(NEW)[0]
    reply = ack(engine, [known, 1, 2])
    assert reply == {
        "success": 1,
        "warnings": [
            {"identifier": "1", "code": "MER-UTIL-ORWF-00180", "message": "Order not found"},
            {"identifier": "2", "code": "MER-UTIL-ORWF-00180", "message": "Order not found"},
        ],
        "processed": 3,
    }
    assert list(reply) == ["success", "warnings", "processed"]


def test_acknowledge_forms() -> None:
    engine = make()
    ids = engine.queue_members(NEW)[:3]
    reply = module(engine, "OrderList_Acknowledge", Order_Ids="|".join(map(str, ids)))
    assert reply == {"success": 1, "processed": 3}
    assert not set(ids) & set(engine.queue_members(NEW))
    empties: list[Any] = [[], "", None]
    for empty in empties:
        assert ack(engine, empty) == load_fixture("acknowledge_not_processed_response.json")


def test_acknowledge_order_never_queued_goes_to_retrieved() -> None:
    engine = make()
    unpaid = engine.create_order(admin=True)
    assert ack(engine, [unpaid])["processed"] == 1
    assert unpaid in engine.queue_members(DONE)


def test_acknowledge_validation() -> None:
    engine = make()
    reply = module(engine, "OrderList_Acknowledge")
    assert reply["error_code"] == "MER-JSN-00023"
    assert reply["error_fields"] == [
        {"error_field": "Order_IDs", "error_message": "Missing required parameter"}
    ]
    before = engine.queue_members(NEW)
    reply = ack(engine, [before[0], "x", "", Decimal("2.5")])
    assert reply["success"] == 0
    assert reply["validation_error"] is True
    assert reply["input_errors"] is True
    assert reply["error_field"] == "Order_IDs[2]"
    assert reply["error_fields"] == [
        {"error_field": "Order_IDs[2]", "error_message": "Please enter a whole number"},
        {"error_field": "Order_IDs[3]", "error_message": "The value may not be blank"},
        {"error_field": "Order_IDs[4]", "error_message": "Please enter a whole number"},
    ]
    assert engine.queue_members(NEW) == before  # nothing processed


def test_acknowledge_budget() -> None:
    engine = make(ack_budget=2)
    ids = engine.queue_members(NEW)[:5]
    reply = ack(engine, ids)
    assert reply == {"success": 1, "processed": 2}
    assert engine.queue_members(NEW)[:3] == ids[2:]
    assert ack(engine, ids[2:])["processed"] == 2


def test_acknowledge_repeats_bump_dt_updated() -> None:
    engine = make()
    order_id = engine.queue_members(NEW)[0]
    ack(engine, [order_id])
    first = truth(engine, order_id)
    engine.clock.advance(30)
    ack(engine, [order_id])
    again = truth(engine, order_id)
    assert again["dt_updated"] == first["dt_updated"] + 30
    assert again["note_count"] == first["note_count"] + 1


# ------------------------------------------------------------------------------------------ custom fields


def test_custom_field_list_matches_fixture() -> None:
    engine = make(orders=3)
    fixture = load_fixture("ordercustomfieldlist_load_response.json")
    reply = call(engine, "OrderCustomFieldList_Load")
    assert reply["success"] == 1
    by_code = {f["code"]: f for f in reply["data"]}
    for field in fixture["data"]:
        assert by_code[field["code"]] == field
    types = {f["type"] for f in reply["data"] if f["module"]["code"] == "customfields"}
    assert types >= {"text", "textarea", "choice", "checkbox", "multitext"}
    queues = [
        (f["code"], f["name"])
        for f in reply["data"]
        if f["type"] == "checkbox" and f["module"]["code"] == "orderworkflow"
    ]
    assert queues == engine.queues()


def test_custom_fields_update_writes_and_bumps() -> None:
    engine = make()
    order_id = engine.order_ids()[0]
    engine.clock.advance(500)
    values = {
        "customfields": {
            "po_number": "PO-70001",
            "packing_tags": ["a", "b"],
            "signature_required": True,
            "order_priority": "Rush",
        }
    }
    assert call(
        engine, "OrderCustomFields_Update", Order_ID=order_id, CustomField_Values=values
    ) == load_fixture("ordercustomfields_update_response.json")
    after = truth(engine, order_id)
    cf = after["CustomField_Values"]["customfields"]
    assert (cf["po_number"], cf["packing_tags"], cf["signature_required"], cf["order_priority"]) == (
        "PO-70001",
        ["a", "b"],
        "1",
        "Rush",
    )
    assert after["dt_updated"] == START + 500
    # no CustomField_Values: nothing written, still a success that bumps dt_updated
    engine.clock.advance(5)
    assert call(engine, "OrderCustomFields_Update", Order_ID=order_id) == {"success": 1}
    assert truth(engine, order_id)["dt_updated"] == START + 505


def test_custom_fields_update_queue_flags() -> None:
    engine = make()
    order_id = engine.queue_members(DONE)[0]
    reply = call(
        engine,
        "OrderCustomFields_Update",
        Order_ID=order_id,
        CustomField_Values={"orderworkflow": {NEW: "1"}},
    )
    assert reply == {"success": 1}
    assert order_id in engine.queue_members(NEW)
    assert order_id in engine.queue_members(DONE)
    call(
        engine,
        "OrderCustomFields_Update",
        Order_ID=order_id,
        CustomField_Values={"orderworkflow": {DONE: False}},
    )
    assert order_id not in engine.queue_members(DONE)


def test_custom_fields_update_errors_and_partial_writes() -> None:
    engine = make()
    order_id = engine.order_ids()[1]
    assert call(engine, "OrderCustomFields_Update")["error_code"] == "MER-JSN-ORD-00058"
    assert call(engine, "OrderCustomFields_Update", Order_ID=1) == load_fixture("error_response.json")
    reply = call(
        engine,
        "OrderCustomFields_Update",
        Order_ID=order_id,
        CustomField_Values={"customfields": {"po_number": "WRITTEN", "Po_Number": "x"}},
    )
    assert reply["error_code"] == "MER-JSN-00018"
    assert reply["error_message"] == (
        "Invalid value for field 'CustomField_Values:customfields:Po_Number': "
        "Failed to load custom field 'Po_Number'"
    )
    assert (
        truth(engine, order_id)["CustomField_Values"]["customfields"]["po_number"] == "WRITTEN"
    )  # not atomic
    reply = call(
        engine, "OrderCustomFields_Update", Order_ID=order_id, CustomField_Values={"nosuch": {"a": 1}}
    )
    assert (reply["error_code"], reply["error_message"]) == ("MER-JSN-ORD-00074", "Module 'nosuch' not found")
    reply = call(
        engine, "OrderCustomFields_Update", Order_ID=order_id, CustomField_Values={"examplepay": {"a": 1}}
    )
    assert reply["error_code"] == "MER-JSN-ORD-00076"
    reply = call(
        engine,
        "OrderCustomFields_Update",
        Order_ID=order_id,
        CustomField_Values={"customfields": {"order_priority": "Whenever"}},
    )
    assert reply["error_code"] == "MER-JSN-00018"


# -------------------------------------------------------------------------------------------- control API


def test_create_order_queues_paid_orders() -> None:
    engine = make()
    engine.clock.advance(60)
    before = set(engine.order_ids())
    new_id = engine.create_order(items=2)
    assert new_id not in before
    assert new_id > max(before)
    order = truth(engine, new_id)
    assert order["orderdate"] == order["dt_updated"] == START + 60
    assert len([i for i in order["items"] if "subscription" not in i]) == 2
    assert new_id in engine.queue_members(NEW)
    assert order["notes"][-1]["user_id"] == 0
    ids = engine.order_ids()
    assert ids == sorted(ids)


def test_create_guest_and_admin_orders() -> None:
    engine = make()
    guest = truth(engine, engine.create_order(guest=True))
    assert guest["cust_id"] == 0
    assert "customer" not in guest
    admin_id = engine.create_order(admin=True)
    admin = truth(engine, admin_id)
    assert (admin["source"], admin["pay_id"], admin["payments"]) == ("user", 0, [])
    assert admin_id not in engine.queue_members(NEW)
    engine.add_payment(admin_id)
    paid = truth(engine, admin_id)
    assert paid["payments"]
    assert Decimal(paid["total_capt"]) == Decimal(paid["total"])
    assert paid["pay_status"] == 200
    assert admin_id in engine.queue_members(NEW)


def test_updates_requeue_only_on_documented_triggers() -> None:
    engine = make()
    order_id = engine.queue_members(DONE)[0]
    start_notes = truth(engine, order_id)["note_count"]
    engine.clock.advance(10)
    engine.update_order(order_id, status=200, ship_city="Zürich", note="checked")
    engine.update_order(order_id)
    order = truth(engine, order_id)
    assert order_id not in engine.queue_members(NEW)
    assert order["dt_updated"] == START + 10
    assert order["ship_city"] == "Zürich"
    assert order["note_count"] == start_notes + 1
    old_total = Decimal(order["total"])
    engine.clock.advance(10)
    engine.update_order(order_id, add_item=True)
    order = truth(engine, order_id)
    assert order_id in engine.queue_members(NEW)
    assert Decimal(order["total"]) > old_total
    assert order["dt_updated"] == START + 20
    ack(engine, [order_id])
    engine.update_order(order_id, shipping="1.00")
    assert order_id in engine.queue_members(NEW)
    with pytest.raises(TypeError):
        engine.update_order(order_id, colour="red")
    with pytest.raises(KeyError):
        engine.update_order(1)


def test_render_cache_follows_changes() -> None:
    engine = make()
    order_id = engine.order_ids()[0]
    flt = [
        {"name": "search", "value": [{"field": "id", "operator": "EQ", "value": str(order_id)}]},
        {"name": "ondemandcolumns", "value": ["CustomField_Values:*", "notes"]},
    ]
    first = call(engine, "OrderList_Load_Query", Filter=flt)["data"]["data"][0]
    engine.update_order(order_id, note="cache me not")
    second = call(engine, "OrderList_Load_Query", Filter=flt)["data"]["data"][0]
    assert second["note_count"] == first["note_count"] + 1
    assert second["notes"][-1]["notetext"] == "cache me not"


def test_concurrent_calls() -> None:
    engine = make()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                page = queue_load(engine, Count=3)
                ack(engine, [o["id"] for o in page["data"]["data"]])
                engine.create_order()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(engine.order_ids()) == 150 + 20
