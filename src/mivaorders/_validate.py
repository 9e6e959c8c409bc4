"""The argument checks every public constructor and method runs before it does anything.

One small set, so every message reads the same: ``<name> must be <what is allowed>, not <value>``. Each
check returns the (normalised) value and raises ``error`` -- :class:`ArgumentError` for call arguments,
:class:`ConfigurationError` for client and policy settings -- which are both ``MivaError`` and
``ValueError``. Never pass a secret through these: the message shows the value.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Collection, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import TypeVar

from ._exceptions import ArgumentError, MivaError

__all__ = [
    "aware_datetime",
    "boolean",
    "callable_",
    "duration",
    "id_collection",
    "instance_of",
    "seconds",
    "shown",
    "whole_number",
]

T = TypeVar("T")
ErrorType = type[MivaError]

_MAX_SHOWN = 60
#: The largest value a positive signed 64-bit column holds (Miva's ids are such columns).
MAX_ID = 2**63 - 1


def shown(value: object) -> str:
    """A short repr for a message (long values are cut, so a message stays one readable line)."""
    try:
        text = repr(value)
    except Exception:  # a repr that raises must not hide the real problem
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _fail(error: ErrorType, name: str, allowed: str, value: object) -> MivaError:
    return error(f"{name} must be {allowed}, not {shown(value)}")


def whole_number(
    value: object,
    name: str,
    *,
    minimum: int | None = 1,
    maximum: int | None = None,
    error: ErrorType = ArgumentError,
) -> int:
    """An ``int`` (never a ``bool``) within ``[minimum, maximum]``; integer types such as numpy's are taken
    through ``__index__``, floats and strings are not."""
    if minimum is not None and maximum is not None:
        allowed = f"a whole number from {minimum} to {maximum}"
    elif minimum is not None:
        allowed = f"a whole number >= {minimum}"
    elif maximum is not None:
        allowed = f"a whole number <= {maximum}"
    else:
        allowed = "a whole number"
    if isinstance(value, bool):
        raise _fail(error, name, allowed, value)
    if not isinstance(value, int):
        try:
            value = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            raise _fail(error, name, allowed, value) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _fail(error, name, allowed, value)
    return value


def seconds(
    value: object,
    name: str,
    *,
    allow_zero: bool = False,
    maximum: float | None = None,
    error: ErrorType = ArgumentError,
) -> float:
    """A finite number of seconds, > 0 (or >= 0 with ``allow_zero``); ``nan`` and ``inf`` are refused."""
    allowed = "a finite number of seconds " + (">= 0" if allow_zero else "> 0")
    if maximum is not None:
        allowed += f" and <= {maximum:g}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _fail(error, name, allowed, value)
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise _fail(error, name, allowed, value)
    if maximum is not None and number > maximum:
        raise _fail(error, name, allowed, value)
    return number


def duration(
    value: object,
    name: str,
    *,
    maximum: timedelta | None = None,
    error: ErrorType = ArgumentError,
) -> timedelta:
    """A ``timedelta`` >= 0 (and <= ``maximum``)."""
    allowed = "a timedelta >= 0" + (f" and <= {maximum.days} days" if maximum is not None else "")
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise _fail(error, name, allowed, value)
    if maximum is not None and value > maximum:
        raise _fail(error, name, allowed, value)
    return value


def aware_datetime(
    value: object, name: str, *, allow_date: bool = True, error: ErrorType = ArgumentError
) -> datetime:
    """A timezone-aware ``datetime`` (or a ``date``, read as midnight UTC), returned in UTC.

    A naive datetime is refused rather than read as local time: that guess can skip hours of orders.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise error(
                f"{name} must be timezone-aware (e.g. datetime(..., tzinfo=timezone.utc)), not {shown(value)}"
            )
        try:
            return value.astimezone(timezone.utc)
        except OverflowError:
            raise _fail(error, name, "a datetime that exists in UTC", value) from None
    if allow_date and isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    allowed = "a timezone-aware datetime" + (" or a date" if allow_date else "")
    raise _fail(error, name, allowed, value)


def callable_(value: T, name: str, *, error: ErrorType = ArgumentError) -> T:
    """Something that can be called (a function, a bound method, a class, an object with ``__call__``)."""
    if not callable(value):
        raise _fail(error, name, "callable", value)
    return value


def boolean(value: object, name: str, *, error: ErrorType = ArgumentError) -> bool:
    """``True`` or ``False`` exactly: ``"no"`` and ``0`` are refused rather than guessed."""
    if not isinstance(value, bool):
        raise _fail(error, name, "True or False", value)
    return value


def instance_of(value: object, kind: type[T], name: str, what: str, *, error: ErrorType = ArgumentError) -> T:
    """``value`` when it is an instance of ``kind``; ``what`` says in words what is allowed."""
    if not isinstance(value, kind):
        raise _fail(error, name, what, value)
    return value


def id_collection(value: object, name: str, *, error: ErrorType = ArgumentError) -> frozenset[int]:
    """A collection of order ids (whole numbers >= 1); a string is refused, not read as characters."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Collection):
        raise _fail(error, name, "a collection of order ids (e.g. a set of ints)", value)
    return frozenset(
        whole_number(item, f"each id in {name}", minimum=1, maximum=MAX_ID, error=error) for item in value
    )
