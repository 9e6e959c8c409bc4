"""``client.shipments``: create, update and list an order's shipments, each call safe in its own way.

- :meth:`Shipments.create` is **never** sent twice once the request may have reached the store: Miva's
  ``OrderItemList_CreateShipment`` makes a new shipment every time. A failure that proves the store never
  saw it is retried; any other raises :class:`~mivaorders.UncertainWriteError` (``maybe_sent``).
- :meth:`Shipments.update` always sends tracking number, tracking type and cost together, because Miva resets
  whichever one an update leaves out; that makes it safe to retry.
- :meth:`Shipments.list` queries ``OrderShipmentList_Load_Query`` (a read, retried).

For the whole "ship it" step, safe to repeat after any failure, use ``client.orders.fulfil()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from ._conversation import ask
from ._exceptions import ArgumentError, MivaError
from ._page import Page
from ._writeback import (
    ShipmentUpdate,
    create_call,
    decode_created,
    decode_shipments,
    shipment_list_call,
    uncertain,
    update_call,
)
from .filters import Expr, F, SortKey
from .models import OrderShipment

if TYPE_CHECKING:
    from ._client import AsyncClient, Client
    from ._conversation import AsyncDriver, Driver

__all__ = ["AsyncShipments", "ShipmentUpdate", "Shipments"]


def _updates(
    shipment_id: int | ShipmentUpdate,
    tracking_number: str | None,
    tracking_type: str | None,
    cost: Decimal | int | str | None,
    mark_shipped: bool,
    more: Iterable[ShipmentUpdate],
) -> list[ShipmentUpdate]:
    if isinstance(shipment_id, ShipmentUpdate):
        first = shipment_id
    else:
        if tracking_number is None or tracking_type is None or cost is None:
            raise ArgumentError(
                "update() needs tracking_number, tracking_type and cost: Miva resets whichever one is left "
                "out (pass the current value to keep it)"
            )
        first = ShipmentUpdate.build(
            shipment_id,
            tracking_number=tracking_number,
            tracking_type=tracking_type,
            cost=cost,
            mark_shipped=mark_shipped,
        )
    return [first, *more]


class Shipments:
    """Shipments for :class:`~mivaorders.Client` (``client.shipments``)."""

    def __init__(self, client: Client, driver: Driver) -> None:
        self._client = client
        self._driver = driver

    def create(self, order_id: int, line_ids: Iterable[int]) -> OrderShipment:
        """Put these lines of the order into a new shipment (status picking, no tracking yet).

        Not idempotent: once the request may have reached the store it is never sent again, and the error
        is an :class:`~mivaorders.UncertainWriteError`. Line ids of another order are skipped by the store
        without a word; ``orders.fulfil()`` refuses them before writing.
        """
        call = create_call(order_id, line_ids)
        try:
            envelope, _ = self._driver.run(ask(call))
        except MivaError as exc:
            raise uncertain(exc, call) from exc
        return decode_created(envelope)

    def update(
        self,
        shipment_id: int | ShipmentUpdate,
        *,
        tracking_number: str | None = None,
        tracking_type: str | None = None,
        cost: Decimal | int | str | None = None,
        mark_shipped: bool = False,
        more: Iterable[ShipmentUpdate] = (),
    ) -> None:
        """Set a shipment's tracking number, tracking type and cost (all three, always), and optionally
        mark it shipped (status 200 and ship date; the store may e-mail the customer).

        Pass :class:`ShipmentUpdate` objects (first argument and ``more``) to update several in one call.
        Unknown shipment ids are skipped by the store silently.
        """
        updates = _updates(shipment_id, tracking_number, tracking_type, cost, mark_shipped, more)
        self._driver.run(ask(update_call(updates)))

    def list(
        self,
        *,
        order_id: int | None = None,
        where: Expr | None = None,
        sort: str | SortKey | None = None,
        count: int = 100,
        offset: int = 0,
        items: bool = False,
        include_order: bool = False,
    ) -> Page[OrderShipment]:
        """One page of shipments (``OrderShipmentList_Load_Query``), optionally of one order.

        ``where`` takes conditions on shipment columns (``F.id``, ``F.status``, ``F.batch_id`` or
        ``raw("tracknum", "EQ", "1Z...")``); ``items`` adds each shipment's lines, ``include_order``
        its order.
        """
        call = shipment_list_call(
            order_id=order_id,
            where=where,
            sort=sort,
            count=count,
            offset=offset,
            items=items,
            include_order=include_order,
        )
        envelope, _ = self._driver.run(ask(call))
        return decode_shipments(envelope)

    def get(self, shipment_id: int) -> OrderShipment | None:
        """The shipment with this id (with its lines), or ``None``."""
        page = self.list(where=F.id == shipment_id, count=1, items=True)
        return page.items[0] if page.items else None


class AsyncShipments:
    """Shipments for :class:`~mivaorders.AsyncClient`; see :class:`Shipments`."""

    def __init__(self, client: AsyncClient, driver: AsyncDriver) -> None:
        self._client = client
        self._driver = driver

    async def create(self, order_id: int, line_ids: Iterable[int]) -> OrderShipment:
        """Create a shipment, never sent twice; see :meth:`Shipments.create`."""
        call = create_call(order_id, line_ids)
        try:
            envelope, _ = await self._driver.run(ask(call))
        except MivaError as exc:
            raise uncertain(exc, call) from exc
        return decode_created(envelope)

    async def update(
        self,
        shipment_id: int | ShipmentUpdate,
        *,
        tracking_number: str | None = None,
        tracking_type: str | None = None,
        cost: Decimal | int | str | None = None,
        mark_shipped: bool = False,
        more: Iterable[ShipmentUpdate] = (),
    ) -> None:
        """Set tracking number, type and cost (always all three); see :meth:`Shipments.update`."""
        updates = _updates(shipment_id, tracking_number, tracking_type, cost, mark_shipped, more)
        await self._driver.run(ask(update_call(updates)))

    async def list(
        self,
        *,
        order_id: int | None = None,
        where: Expr | None = None,
        sort: str | SortKey | None = None,
        count: int = 100,
        offset: int = 0,
        items: bool = False,
        include_order: bool = False,
    ) -> Page[OrderShipment]:
        """One page of shipments; see :meth:`Shipments.list`."""
        call = shipment_list_call(
            order_id=order_id,
            where=where,
            sort=sort,
            count=count,
            offset=offset,
            items=items,
            include_order=include_order,
        )
        envelope, _ = await self._driver.run(ask(call))
        return decode_shipments(envelope)

    async def get(self, shipment_id: int) -> OrderShipment | None:
        """The shipment with this id, or ``None``; see :meth:`Shipments.get`."""
        page = await self.list(where=F.id == shipment_id, count=1, items=True)
        return page.items[0] if page.items else None
