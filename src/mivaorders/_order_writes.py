"""The write-back methods of ``client.orders``: ``set_custom_fields`` and ``fulfil``.

Both are conversations written once in :mod:`mivaorders._writeback`; this mixin checks the arguments and
runs them with the client's driver. ``Orders`` and ``AsyncOrders`` inherit it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, TypeVar

from ._writeback import CustomFieldInput, FieldCatalog, FulfilRequest, custom_fields_steps, fulfil_steps
from .models import OrderShipment

if TYPE_CHECKING:
    from ._conversation import Steps

__all__ = ["OrderWritesApi"]


class _Catalog:
    _field_catalog: FieldCatalog | None = None

    def _catalog(self) -> FieldCatalog:
        # One per resource, so per client: with_options() copies start with a fresh one.
        if self._field_catalog is None:
            self._field_catalog = FieldCatalog()
        return self._field_catalog


_NoneR = TypeVar("_NoneR")  # None, or a coroutine of it
_ShipmentR = TypeVar("_ShipmentR")  # OrderShipment, or a coroutine of one


class OrderWritesApi(_Catalog, Generic[_NoneR, _ShipmentR]):
    """``set_custom_fields`` and ``fulfil`` for :class:`~mivaorders.Orders` and
    :class:`~mivaorders.AsyncOrders` (awaitable there)."""

    _run_none: Callable[[Steps[None]], _NoneR]
    _run_shipment: Callable[[Steps[OrderShipment]], _ShipmentR]

    def set_custom_fields(
        self, order_id: int, values: Mapping[str, CustomFieldInput], *, module: str = "customfields"
    ) -> _NoneR:
        """Write order custom fields, e.g. ``{"erp_exported": "1"}``; safe to retry (same values, same state).

        Codes are checked against the store's field list (loaded once per client, reloaded when a code is
        new) before anything is sent: an unknown, read-only or out-of-choice field raises
        :class:`~mivaorders.InvalidParameterError` naming it. Miva writes fields one at a time; if it stops
        half way, :class:`~mivaorders.PartialWriteError` says which were written. Every write bumps the
        order's ``dt_updated``, so it shows up again in :meth:`updated_since` pulls.
        """
        return self._run_none(custom_fields_steps(self._catalog(), order_id, values, module))

    def fulfil(
        self,
        order_id: int,
        *,
        tracking_number: str,
        tracking_type: str,
        line_ids: Iterable[int] | None = None,
        cost: Decimal | int | str | None = None,
        mark_shipped: bool = True,
    ) -> _ShipmentR:
        """Ship lines of an order with a tracking number: safe to call again after any failure or crash.

        Reads the order first; creates a shipment only when the lines have none; after a create whose answer
        was lost it re-reads instead of creating again; refuses lines that are not the order's before writing;
        then sets tracking number, type, cost and shipped state in one update. The same call twice gives the
        same shipment. ``line_ids=None`` ships every pending or processing line not yet in a shipment with
        another tracking number. ``cost=None`` keeps the shipment's cost.
        """
        request = FulfilRequest.build(
            order_id,
            tracking_number=tracking_number,
            tracking_type=tracking_type,
            line_ids=line_ids,
            cost=cost,
            mark_shipped=mark_shipped,
        )
        return self._run_shipment(fulfil_steps(request))
