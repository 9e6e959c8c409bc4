"""A read-only sequence decoded on first use (order-level collections of a decoded order).

Decoding a 1,000-order page eagerly spends most of its time building child objects that many
callers never read. The converter therefore keeps each order-level child list as parsed and
structures it the first time it is used. Validation of those children happens then too: a bad
child raises :class:`~mivaorders.ResponseValidationError` (with a ``$.`` path) on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

__all__ = ["LazySequence"]

T = TypeVar("T")


class LazySequence(Sequence[T], Generic[T]):
    """A tuple-like sequence whose elements are structured from raw JSON on first access."""

    __slots__ = ("_decode", "_items", "_raw", "_where")

    def __init__(
        self,
        raw: list[Any],
        decode: Callable[[list[Any], tuple[str | int, ...]], tuple[T, ...]],
        where: tuple[str | int, ...] = (),
    ) -> None:
        self._raw: list[Any] | None = raw
        self._decode = decode
        self._where = where  # JSON path of the list, for error messages
        self._items: tuple[T, ...] | None = None

    def materialize(self) -> tuple[T, ...]:
        """Decode now (idempotent) and return the elements as a tuple."""
        items = self._items
        if items is None:
            raw = self._raw
            assert raw is not None
            items = self._decode(raw, self._where)
            # Plain attribute writes: two racing threads decode the same data to equal tuples.
            self._items = items
            self._raw = None
        return items

    @property
    def is_materialized(self) -> bool:
        return self._items is not None

    def __len__(self) -> int:
        raw = self._raw
        if self._items is None and raw is not None:
            return len(raw)
        return len(self.materialize())

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...
    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        return self.materialize()[index]

    def __iter__(self) -> Iterator[T]:
        return iter(self.materialize())

    def __contains__(self, value: object) -> bool:
        return value in self.materialize()

    def __reversed__(self) -> Iterator[T]:
        return reversed(self.materialize())

    def __bool__(self) -> bool:
        return len(self) > 0

    def __eq__(self, other: object) -> bool:
        # Equal to a tuple with the same elements, so decoded and hand-built models compare equal.
        if isinstance(other, LazySequence):
            return self.materialize() == other.materialize()
        if isinstance(other, tuple):
            return self.materialize() == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash(self.materialize())

    def __repr__(self) -> str:
        return repr(self.materialize())

    def __reduce__(self) -> tuple[type[tuple[Any, ...]], tuple[tuple[T, ...]]]:
        # Pickles (and deep-copies) as the plain tuple it stands for.
        return (tuple, (self.materialize(),))
