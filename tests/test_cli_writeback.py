"""``mivaorders ship`` and ``mivaorders mark`` against a FakeStore served on loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from mivaorders._cli.console import CliError
from mivaorders._cli.writeback import parse_fields
from mivaorders.testing import FakeStore, Fault

from .test_cli import clean_env, run, serve_in_env  # noqa: F401 -- clean_env: an autouse fixture


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStore]:
    with serve_in_env(FakeStore(orders=20, seed=21), monkeypatch) as store:
        yield store


def test_ship_creates_once_and_again_finds_the_same(
    capsys: pytest.CaptureFixture[str], served: FakeStore
) -> None:
    order_id = served.create_order(items=3)
    lines = [line["line_id"] for line in served.truth()[order_id]["items"]]
    argv = ["ship", str(order_id), "--tracking", "1ZCLI001", "--carrier", "UPS", "--cost", "6.10"]
    code, out, _ = run(capsys, *argv, "--lines", f"{lines[0]},{lines[1]}")
    assert code == 0
    assert f"order {order_id}: shipment" in out
    assert "UPS 1ZCLI001, cost 6.10" in out
    # an answer lost after the store acted: the same command again finishes without a second shipment
    served.faults.script(Fault.drop(), when="after", function="OrderShipmentList_Update")
    code, _, err = run(capsys, *argv, "--lines", f"{lines[0]},{lines[1]}")
    code, out, _ = run(capsys, "--json", *argv, "--lines", f"{lines[0]},{lines[1]}")
    assert code == 0
    result = json.loads(out)
    assert result["status"] == 200
    assert result["tracking_number"] == "1ZCLI001"
    assert result["cost"] == 6.1
    assert len(served.shipments(order_id)) == 1
    code, _, err = run(
        capsys, "ship", str(order_id), "--tracking", "1ZCLI001", "--carrier", "UPS", "--lines", "1"
    )
    assert code == 2
    assert "are not lines of order" in err


def test_ship_without_marking_and_usage_errors(capsys: pytest.CaptureFixture[str], served: FakeStore) -> None:
    order_id = served.create_order(items=1)
    while served.truth()[order_id]["items"][0]["status"] != 0:  # a physical line, not a download
        order_id = served.create_order(items=1)
    code, out, _ = run(
        capsys, "ship", str(order_id), "--tracking", "9400X", "--carrier", "USPS", "--no-mark-shipped"
    )
    assert code == 0
    assert "picking" in out
    (shipment,) = served.shipments(order_id)
    assert shipment["status"] == 100
    assert shipment["tracknum"] == "9400X"
    code, _, err = run(capsys, "ship", str(order_id), "--tracking", "1ZOTHER", "--carrier", "UPS")
    assert code == 1
    assert "no line left to ship" in err
    assert "with tracking number '9400X'" in err
    assert run(capsys, "ship", "abc", "--tracking", "1", "--carrier", "UPS")[0] == 2
    assert run(capsys, "ship", "5", "--carrier", "UPS")[0] == 2


def test_mark_writes_fields_and_names_unknown_ones(
    capsys: pytest.CaptureFixture[str], served: FakeStore
) -> None:
    order_id = served.engine.order_ids()[0]  # type: ignore[attr-defined]
    code, out, _ = run(
        capsys,
        "mark",
        str(order_id),
        "erp_exported=1",
        "po_number=PO-CLI",
        "packing_tags=a",
        "packing_tags=b",
    )
    assert code == 0
    assert "wrote 3 fields" in out
    custom = served.truth()[order_id]["CustomField_Values"]["customfields"]
    assert custom["erp_exported"] == "1"
    assert custom["po_number"] == "PO-CLI"
    assert custom["packing_tags"] == ["a", "b"]
    code, _, err = run(capsys, "mark", str(order_id), "erp_exportd=1")
    assert code == 1
    assert "erp_exportd" in err
    code, out, err = run(
        capsys,
        "--json",
        "mark",
        str(order_id),
        "new_and_updated=1",
        "successfully_retrieved_orders=maybe",
        "--module",
        "orderworkflow",
    )
    assert code == 4  # the store refused the second flag after writing the first
    assert json.loads(out) == {
        "order_id": order_id,
        "written": ["new_and_updated"],
        "failed": "successfully_retrieved_orders",
        "not_written": [],
    }
    assert "written before it: new_and_updated" in err
    assert order_id in served.queue_members("new_and_updated")


def test_parse_fields() -> None:
    assert parse_fields(["a=1", "b=x=y", "a=2", "a=3"]) == {"a": ["1", "2", "3"], "b": "x=y"}
    with pytest.raises(CliError):
        parse_fields(["novalue"])
