from __future__ import annotations

from typing import Any

import attrs
import pytest

from mivaorders._converter import structure_page
from mivaorders.models import (
    Address,
    ItemStatus,
    Order,
    OrderStatus,
    PaymentStatus,
    PaymentType,
    ReturnStatus,
    ShipmentStatus,
    StockStatus,
)

from .conftest import load_fixture

_not_an_int: Any = "9999"


def _orders() -> tuple[Order, ...]:
    return structure_page(load_fixture("orderlist_load_query_response.json")["data"], Order).items


def test_models_are_frozen_and_slotted() -> None:
    order = _orders()[0]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        order.total = order.total  # type: ignore[misc]
    assert not hasattr(order, "__dict__")


def test_order_repr_is_compact_and_has_no_payment_or_address_data() -> None:
    for order in _orders():
        text = repr(order)
        assert f"id={order.id}" in text
        assert f"total={order.total}" in text
        assert order.bill_fname in text
        assert order.ship_addr1 not in text
        assert order.ship_email not in text
        assert order.ship_city not in text
        assert len(text) < 200
    guest = _orders()[2]
    assert "items=3" in repr(guest)


def test_no_repr_shows_payment_data_or_addresses() -> None:
    secure = _orders()[1]
    assert secure.payments is not None
    payment = secure.payments[0]
    assert payment.data is not None
    assert payment.description is not None
    for value in payment.data.values():
        assert value not in repr(payment)
        assert value not in repr(secure.payments)
    assert payment.description not in repr(payment)
    customer = secure.customer
    assert customer is not None
    for text in (repr(customer), repr(secure.ship_to), repr(customer.bill_to)):
        assert customer.ship_addr1 not in text
        assert customer.ship_email not in text
        assert customer.ship_phone not in text
    assert repr(secure.ship_to) == "Address(name='Omar Example')"


def test_address_views_and_guest_flag() -> None:
    first, _, guest = _orders()
    assert isinstance(first.ship_to, Address)
    assert first.ship_to.first_name == first.ship_fname
    assert first.bill_to.country == first.bill_cntry
    assert first.ship_to.residential is first.ship_res
    assert first.ship_to.name == f"{first.ship_fname} {first.ship_lname}"
    assert guest.is_guest
    assert not first.is_guest


@pytest.mark.parametrize(
    "enum",
    [OrderStatus, PaymentStatus, StockStatus, ItemStatus, ShipmentStatus, ReturnStatus, PaymentType],
)
def test_status_enums_tolerate_unknown_codes(enum: type[OrderStatus]) -> None:
    member = enum(9999)
    assert member == 9999
    assert int(member) == 9999
    assert isinstance(member, enum)
    assert not member.is_known
    assert all(known.is_known for known in enum)
    with pytest.raises(ValueError, match="is not a valid"):
        enum(_not_an_int)


def test_spec_codes() -> None:
    codes = [
        (OrderStatus.PARTIALLY_SHIPPED, 201),
        (ItemStatus.DIGITAL_DOWNLOADED, 221),
        (PaymentType.AUTH_CAPTURE, 5),
        (ReturnStatus.RECEIVED, 600),
        (StockStatus.PENDING, 0),
    ]
    for member, code in codes:
        assert int(member) == code


def test_decoded_collections_and_kit_parts() -> None:
    first = _orders()[0]
    assert first.items is not None
    assert first.notes is not None
    kit = first.items[2]
    assert [part.code for part in kit.parts] == ["TEE-CLASSIC", "MUG-LOGO"]
    assert first.note_count == len(first.notes)
    assert first.items[0].options[0].attr_code == "size"
