"""The error tree's shared parts: the function prefix, and the value classes errors carry."""

from __future__ import annotations

import attrs
import pytest

import mivaorders as mo


def test_field_and_item_problems_are_frozen_values_under_both_names() -> None:
    assert mo.FieldError is mo.FieldProblem
    assert mo.ItemError is mo.ItemProblem
    assert not issubclass(mo.FieldProblem, BaseException)
    problem = mo.FieldProblem("Order_ID", "Please enter a whole number")
    assert problem == mo.FieldError("Order_ID", "Please enter a whole number")
    assert hash(problem) == hash(mo.FieldProblem("Order_ID", "Please enter a whole number"))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        problem.field = "x"  # type: ignore[misc]
    item = mo.ItemProblem("5", "MER-UTIL-ORWF-00180", "Order not found")
    assert (item.identifier, item.code, item.message) == ("5", "MER-UTIL-ORWF-00180", "Order not found")


@pytest.mark.parametrize(
    "error",
    [
        mo.APIError("nope", function="Order_Load", error_code="E1"),
        mo.HTTPStatusError(503, function="Order_Load", reason="Service Unavailable"),
        mo.TransportError("reset", function="Order_Load"),
        mo.ResponseDecodeError("truncated", function="Order_Load"),
        mo.ResponseValidationError(["$.id: bad"], function="Order_Load"),
    ],
)
def test_the_function_leads_the_message_once(error: mo.MivaError) -> None:
    assert error.function == "Order_Load"
    assert str(error).startswith("Order_Load: ")
    assert str(error).count("Order_Load") == 1


def test_without_a_function_the_message_is_unchanged() -> None:
    assert mo.MivaError().args == ()
    assert mo.ConfigurationError("bad").function is None
    assert str(mo.TransportError("reset")) == "reset"
    assert str(mo.APIError("nope", error_code="E1")) == "[E1] nope"
    partial = mo.PartialWriteError(
        mo.APIError("refused", function="OrderCustomFields_Update"),
        written=["a"],
        failed="b",
        not_written=["c"],
    )
    assert str(partial).startswith("OrderCustomFields_Update: refused; the store stopped at 'b'")
