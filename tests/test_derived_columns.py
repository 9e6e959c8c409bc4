"""The column sets derived from the catalog in ``_columns`` equal the lists they replaced."""

from __future__ import annotations

import attrs

from mivaorders._columns import ADDRESS_PARTS
from mivaorders.models import Order
from mivaorders.pagination import _KEYSET_COLUMNS
from mivaorders.queues import _BASE_FIELDS, _NOTE_TOUCHED


def test_keyset_columns_equal_the_former_list() -> None:
    former = {
        "id", "orderdate", "dt_updated", "dt_instock", "batch_id", "status", "pay_status",
        "source_id", "total", "total_ship", "total_tax", "total_auth", "total_capt", "total_rfnd",
        "net_capt", "pend_count", "bord_count", "note_count",
    }  # fmt: skip
    assert former == _KEYSET_COLUMNS


def test_base_fields_equal_the_former_list() -> None:
    former = {
        "id", "pay_id", "batch_id", "status", "pay_status", "stk_status", "dt_instock", "orderdate",
        "cust_id", "ship_res", "ship_id", "ship_data", "source", "source_id", "total", "total_ship",
        "total_tax", "total_auth", "total_capt", "total_rfnd", "net_capt", "pend_count", "bord_count",
        *(f"{side}_{part}" for side in ("ship", "bill") for part in ADDRESS_PARTS),
    }  # fmt: skip
    assert former == _BASE_FIELDS


def test_base_fields_are_order_attributes_a_note_does_not_touch() -> None:
    names = {a.name for a in attrs.fields(Order)}
    assert names >= _BASE_FIELDS | _NOTE_TOUCHED
    assert not _BASE_FIELDS & _NOTE_TOUCHED
