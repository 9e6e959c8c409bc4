"""The write-back methods of ``client.orders``: ``set_custom_fields`` and ``fulfil``.

Both are conversations written once in :mod:`mivaorders._writeback`; these mixins only run them with the
client's driver. ``Orders`` and ``AsyncOrders`` inherit them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from ._writeback import CustomFieldInput, FieldCatalog, FulfilRequest, custom_fields_steps, fulfil_steps
from .models import OrderShipment

if TYPE_CHECKING:
    from ._conversation import AsyncDriver, Driver

__all__ = ["AsyncOrderWrites", "OrderWrites"]


class _Catalog:
    _field_catalog: FieldCatalog | None = None

    def _catalog(self) -> FieldCatalog:
        # One per resource, so per client: with_options() copies start with a fresh one.
        if self._field_catalog is None:
            self._field_catalog = FieldCatalog()
        return self._field_catalog


class OrderWrites(_Catalog):
    """``set_custom_fields`` and ``fulfil`` for :class:`~mivaorders.Orders`."""

    _driver: Driver

    def set_custom_fields(
        self, order_id: int, values: Mapping[str, CustomFieldInput], *, module: str = "customfields"
    ) -> None:
        """Write order custom fields, e.g. ``{"erp_exported": "1"}``; safe to retry (same values, same state).

        Codes are checked against the store's field list (loaded once per client, reloaded when a code is
        new) before anything is sent: an unknown, read-only or out-of-choice field raises
        :class:`~mivaorders.InvalidParameterError` naming it. Miva writes fields one at a time; if it stops
        half way, :class:`~mivaorders.PartialWriteError` says which were written. Every write bumps the
        order's ``dt_updated``, so it shows up again in :meth:`updated_since` pulls.
        """
        self._driver.run(custom_fields_steps(self._catalog(), order_id, values, module))

    def fulfil(
        self,
        order_id: int,
        *,
        tracking_number: str,
        tracking_type: str,
        line_ids: Iterable[int] | None = None,
        cost: Decimal | int | str | None = None,
        mark_shipped: bool = True,
    ) -> OrderShipment:
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
        return self._driver.run(fulfil_steps(request))


class AsyncOrderWrites(_Catalog):
    """``set_custom_fields`` and ``fulfil`` for :class:`~mivaorders.AsyncOrders`."""

    _driver: AsyncDriver

    async def set_custom_fields(
        self, order_id: int, values: Mapping[str, CustomFieldInput], *, module: str = "customfields"
    ) -> None:
        """Write order custom fields; see :meth:`Orders.set_custom_fields`."""
        await self._driver.run(custom_fields_steps(self._catalog(), order_id, values, module))

    async def fulfil(
        self,
        order_id: int,
        *,
        tracking_number: str,
        tracking_type: str,
        line_ids: Iterable[int] | None = None,
        cost: Decimal | int | str | None = None,
        mark_shipped: bool = True,
    ) -> OrderShipment:
        """Ship lines of an order, safe to repeat; see :meth:`Orders.fulfil`."""
        request = FulfilRequest.build(
            order_id,
            tracking_number=tracking_number,
            tracking_type=tracking_type,
            line_ids=line_ids,
            cost=cost,
            mark_shipped=mark_shipped,
        )
        return await self._driver.run(fulfil_steps(request))
