"""``Page[T]``: one page of a Miva list query."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar, overload

from attrs import frozen

__all__ = ["Page"]

T = TypeVar("T")


@frozen(kw_only=True, repr=False)
class Page(Generic[T]):
    """One page of a list query: the decoded rows plus Miva's ``total_count`` and ``start_offset``.

    ``total_count`` counts every match of the query, not just this page.
    """

    items: tuple[T, ...]
    total_count: int
    start_offset: int = 0

    @property
    def next_offset(self) -> int:
        """The ``Offset`` of the next page."""
        return self.start_offset + len(self.items)

    @property
    def has_more(self) -> bool:
        """More matches exist beyond this page (by Miva's count at the time of the query)."""
        return bool(self.items) and self.next_offset < self.total_count

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self.items[index]

    def __repr__(self) -> str:
        from ._display import page_repr  # the display helpers import the models, which import Page

        return page_repr(self)

    def _repr_html_(self) -> str:
        """A compact table for notebooks: one row per item, long pages truncated in the middle."""
        from ._display import page_html

        return page_html(self)
