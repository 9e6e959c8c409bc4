"""An order list query, validated once and turned into ``OrderList_Load_Query`` parameters.

``QueueOrderList_Load_Query`` takes the same parameters, so the queue resource uses this too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ._columns import PAYMENT_DATA, PAYMENTS
from ._exceptions import FilterError
from ._validate import whole_number
from .filters import ALL_COLUMNS, Expr, SortKey, build_filter_list, check_columns, check_sort

__all__ = ["DEFAULT_COLUMNS", "MAX_PAGE_SIZE", "OrderQuery", "check_page_size"]

#: The columns a query brings when the caller does not choose: the whole order except decrypted
#: payment data (which needs a passphrase).
DEFAULT_COLUMNS: tuple[str, ...] = ALL_COLUMNS

#: Larger pages are refused: one response must stay a reasonable size for the store and for memory.
MAX_PAGE_SIZE = 5000


def check_page_size(value: object, *, name: str = "count") -> int:
    """A page size: a whole number from 1 to :data:`MAX_PAGE_SIZE` (``Count: 0`` would mean *everything*)."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 1:
        raise FilterError(
            f"{name} must be at least 1, not {value} (Miva reads 0 or less as 'every matching order')"
        )
    return whole_number(value, name, minimum=1, maximum=MAX_PAGE_SIZE, error=FilterError)


def _check_offset(value: object) -> int:
    return whole_number(value, "offset", minimum=0, error=FilterError)


@attrs.frozen
class OrderQuery:
    """What to ask for: filter, sort, on-demand columns and the passphrase for payment data."""

    where: Expr | None = None
    sort: str | None = None
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    passphrase: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        *,
        where: Expr | None = None,
        sort: str | SortKey | None = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
    ) -> OrderQuery:
        """Validate everything Miva would silently ignore, before any request is made."""
        if where is not None and not isinstance(where, Expr):
            raise FilterError(f"where must be a filter expression built with F, not {type(where).__name__}")
        if isinstance(columns, str):
            raise FilterError("columns must be a list of column names, not a single string")
        chosen = list(DEFAULT_COLUMNS if columns is None else columns)
        if passphrase is not None:
            if not isinstance(passphrase, str) or not passphrase:
                raise FilterError("passphrase must be a non-empty string")
            # A passphrase only serves decrypted payment data, so asking with one means wanting it.
            for needed in (PAYMENTS, PAYMENT_DATA):
                if needed not in chosen:
                    chosen.append(needed)
        # payment_data without a passphrase is allowed: unencrypted payments still show their data.
        checked = tuple(check_columns(chosen))
        return cls(where=where, sort=check_sort(sort), columns=checked, passphrase=passphrase)

    def evolve(self, **changes: Any) -> OrderQuery:
        return attrs.evolve(self, **changes)

    def params(
        self,
        *,
        count: int,
        offset: int = 0,
        where: Any = attrs.NOTHING,
        sort: Any = attrs.NOTHING,
        columns: tuple[str, ...] | None = None,
    ) -> dict[str, Any]:
        """The list-query parameters for one page; ``where``/``sort``/``columns`` override the query's."""
        chosen_where = self.where if where is attrs.NOTHING else where
        chosen_sort = self.sort if sort is attrs.NOTHING else sort
        params: dict[str, Any] = {
            "Count": check_page_size(count),
            "Offset": _check_offset(offset),
        }
        if chosen_sort:
            params["Sort"] = chosen_sort
        params["Filter"] = build_filter_list(chosen_where, self.columns if columns is None else columns)
        if self.passphrase is not None:
            params["Passphrase"] = self.passphrase
        return params
