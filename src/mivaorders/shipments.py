"""``client.shipments``: create, update and list an order's shipments, each call safe in its own way.

- :meth:`Shipments.create` is **never** sent twice once the request may have reached the store: Miva's
  ``OrderItemList_CreateShipment`` makes a new shipment every time. A failure that proves the store never
  saw it is retried; any other raises :class:`~mivaorders.UncertainWriteError` (``maybe_sent``).
- :meth:`Shipments.update` always sends tracking number, tracking type and cost together, because Miva resets
  whichever one an update leaves out; that makes it safe to retry.
- :meth:`Shipments.list` queries ``OrderShipmentList_Load_Query`` (a read, retried).

For the whole "ship it" step, safe to repeat after any failure, use ``client.orders.fulfil()``. Each method
is written once, as a conversation; ``Shipments`` and ``AsyncShipments`` only run it with their client's
driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, TypeVar

from ._conversation import Awaited, ask, first_of
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
    from ._conversation import AsyncDriver, Driver, Steps
    from ._envelope import Call

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


def _create_steps(call: Call) -> Steps[OrderShipment]:
    # Never sent again once it may have reached the store (the call's safety): say so when that happens.
    try:
        envelope, _ = yield from ask(call)
    except MivaError as exc:
        raise uncertain(exc, call) from exc
    return decode_created(envelope)


def _update_steps(call: Call) -> Steps[None]:
    yield from ask(call)


def _list_steps(call: Call) -> Steps[Page[OrderShipment]]:
    envelope, _ = yield from ask(call)
    return decode_shipments(envelope)


_ShipmentR = TypeVar("_ShipmentR")  # OrderShipment, or a coroutine of one
_NoneR = TypeVar("_NoneR")  # None, or a coroutine of it
_PageR = TypeVar("_PageR")  # Page[OrderShipment], or a coroutine of one
_FoundR = TypeVar("_FoundR")  # OrderShipment | None, or a coroutine of one


class _ShipmentsApi(Generic[_ShipmentR, _NoneR, _PageR, _FoundR]):
    """``client.shipments``, written once for both clients: each method checks its arguments and builds the
    conversation; the client's driver runs it (on :class:`~mivaorders.AsyncClient` every method returns a
    coroutine to await)."""

    _client: Client | AsyncClient
    _run_shipment: Callable[[Steps[OrderShipment]], _ShipmentR]
    _run_none: Callable[[Steps[None]], _NoneR]
    _run_page: Callable[[Steps[Page[OrderShipment]]], _PageR]
    _run_found: Callable[[Steps[OrderShipment | None]], _FoundR]

    def create(self, order_id: int, line_ids: Iterable[int]) -> _ShipmentR:
        """Put these lines of the order into a new shipment (status picking, no tracking yet).

        Not idempotent: once the request may have reached the store it is never sent again, and the error
        is an :class:`~mivaorders.UncertainWriteError`. Line ids of another order are skipped by the store
        without a word; ``orders.fulfil()`` refuses them before writing.
        """
        return self._run_shipment(_create_steps(create_call(order_id, line_ids)))

    def update(
        self,
        shipment_id: int | ShipmentUpdate,
        *,
        tracking_number: str | None = None,
        tracking_type: str | None = None,
        cost: Decimal | int | str | None = None,
        mark_shipped: bool = False,
        more: Iterable[ShipmentUpdate] = (),
    ) -> _NoneR:
        """Set a shipment's tracking number, tracking type and cost (all three, always), and optionally
        mark it shipped (status 200 and ship date; the store may e-mail the customer).

        Pass :class:`ShipmentUpdate` objects (first argument and ``more``) to update several in one call.
        Unknown shipment ids are skipped by the store silently.
        """
        updates = _updates(shipment_id, tracking_number, tracking_type, cost, mark_shipped, more)
        return self._run_none(_update_steps(update_call(updates)))

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
    ) -> _PageR:
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
        return self._run_page(_list_steps(call))

    def get(self, shipment_id: int) -> _FoundR:
        """The shipment with this id (with its lines), or ``None``."""
        call = shipment_list_call(
            order_id=None,
            where=F.id == shipment_id,
            sort=None,
            count=1,
            offset=0,
            items=True,
            include_order=False,
        )
        lookup = first_of(_list_steps(call))  # not inferred from the return type: Page is invariant
        return self._run_found(lookup)


class Shipments(_ShipmentsApi[OrderShipment, None, Page[OrderShipment], OrderShipment | None]):
    """Shipments for :class:`~mivaorders.Client` (``client.shipments``)."""

    def __init__(self, client: Client, driver: Driver) -> None:
        self._client = client
        self._run_shipment = self._run_none = self._run_page = self._run_found = driver.run


class AsyncShipments(
    _ShipmentsApi[
        Awaited[OrderShipment], Awaited[None], Awaited[Page[OrderShipment]], Awaited[OrderShipment | None]
    ]
):
    """Shipments for :class:`~mivaorders.AsyncClient` (``client.shipments``): the methods of
    :class:`Shipments`, awaited."""

    def __init__(self, client: AsyncClient, driver: AsyncDriver) -> None:
        self._client = client
        self._run_shipment = self._run_none = self._run_page = self._run_found = driver.run
