"""The simulated store's error envelopes, as json.mvc writes them (shared by every function it runs)."""

from __future__ import annotations

from typing import Any

from ._query import FieldError

__all__ = ["Envelope", "error", "validation_error"]

Envelope = dict[str, Any]


def error(code: str, message: str, **extra: Any) -> Envelope:
    return {"success": 0, "error_code": code, "error_message": message, **extra}


def validation_error(errors: list[FieldError]) -> Envelope:
    """``MER-JSN-00023`` with every field problem, the first one also as ``error_field``."""
    first = errors[0]
    return error(
        "MER-JSN-00023",
        "One or more parameters are invalid",
        validation_error=True,
        error_field=first.field,
        error_field_message=first.message,
        input_errors=True,
        error_fields=[{"error_field": e.field, "error_message": e.message} for e in errors],
    )
