"""The library keeps no behaviour-changing state that a user can reach by accident.

Hooks registered on the public ``mivaorders.converter`` (a user's own business) change neither what a
webhook parses nor what a sink stores; ``mivaorders.webhooks`` is a plain module whose names are exactly
its ``__all__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import mivaorders as mo
import mivaorders.webhooks as webhooks
from mivaorders._sinks import order_json
from mivaorders.models import Order

from .conftest import FIXTURES


@pytest.fixture
def order_body() -> bytes:
    return (FIXTURES / "webhook_order_payload.json").read_bytes()


@pytest.fixture
def hooked_converter() -> Iterator[None]:
    """The public converter with a user's hooks that would change every order it touches."""
    conv = mo.converter
    before_unstructure = conv.get_unstructure_hook(Order)
    before_structure = conv.get_structure_hook(Order)

    def unstructure(order: Order) -> dict[str, Any]:
        return {"hijacked": True}

    def structure(data: Any, cls: type[Order]) -> Order:
        raise AssertionError("the library used the public converter")

    conv.register_unstructure_hook(Order, unstructure)
    conv.register_structure_hook(Order, structure)
    try:
        yield
    finally:
        conv.register_unstructure_hook(Order, before_unstructure)
        conv.register_structure_hook(Order, before_structure)


def test_hooks_on_the_public_converter_change_neither_webhooks_nor_sinks(
    order_body: bytes, hooked_converter: None
) -> None:
    assert mo.converter.unstructure(webhooks.parse_order(order_body)) == {"hijacked": True}
    order = webhooks.parse_order(order_body)
    assert b"hijacked" not in order_json(order)
    assert order_json(order).startswith(b'{"id":')


def test_webhooks_is_a_plain_facade() -> None:
    assert "__getattr__" not in vars(webhooks)
    assert all(hasattr(webhooks, name) for name in webhooks.__all__)
    assert not hasattr(webhooks, "AnyNameAtAll")
