"""``client.queues``: order workflow queues, acknowledgement, and the at-least-once ``drain``.

Miva's queue functions only fire workflow triggers; what they do is the store's configuration
(``order-functions.md`` §2-§3):

- **with acknowledgement**, a load leaves the orders in the queue and ``OrderList_Acknowledge`` moves
  them out. Loads are safe to repeat; :meth:`Queues.drain` acknowledges exactly what the handler accepted.
- **without acknowledgement**, the load itself moves the rendered orders out. A lost response loses them,
  so such loads are never retried once the request may have reached the store, always read offset 0, and
  must be backed by a periodic reconciliation by last update.
- the stock no-acknowledgement template only *adds* orders to another queue: the queue never drains.
  ``drain`` notices a page with nothing new, stops, and says why.

The planning and bookkeeping (:class:`_Drain`) is shared; ``Queues`` and ``AsyncQueues`` only do the I/O.
"""

from __future__ import annotations

import enum
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._columns import ADDRESS_PARTS
from ._converter import structure_page
from ._envelope import WORKFLOW_MODULE, Call, Safety, http_date
from ._exceptions import APIError, ArgumentError, ItemError, ResponseDecodeError
from ._page import Page
from ._query import OrderQuery, check_page_size
from ._validate import MAX_ID, boolean, callable_, shown, whole_number
from .filters import Expr, F, SortKey
from .models import Order

if TYPE_CHECKING:
    import httpx

    from ._client import AsyncClient, Client

__all__ = [
    "AckResult",
    "AsyncQueues",
    "DrainReport",
    "DrainStop",
    "Queue",
    "Queues",
]

logger = logging.getLogger("mivaorders")

T = TypeVar("T")

LOAD = "QueueOrderList_Load_Query"
ACKNOWLEDGE = "OrderList_Acknowledge"
#: At most this many ids go into one ``OrderList_Acknowledge`` (the store stops after 60 s anyway).
ACK_BATCH = 100
_UNKNOWN_ORDER = "MER-UTIL-ORWF-00180"
# Rounds in a row that acknowledge nothing new before drain gives up (constant churn, a stuck queue).
_MAX_IDLE_ROUNDS = 3

#: What a drain handler returns: ``None`` when it took every order, or the ids it rejects.
HandlerResult = Iterable[int] | None
Handler = Callable[[list[Order]], HandlerResult]
AsyncHandler = Callable[[list[Order]], HandlerResult | Awaitable[HandlerResult]]


@attrs.frozen
class Queue:
    """An order workflow queue, as the store defines it (codes are store-specific)."""

    code: str
    name: str


@attrs.frozen
class AckResult:
    """What ``OrderList_Acknowledge`` did: ``processed`` counts the ids the store iterated (unknown ids
    included, each with a warning); ``requests`` counts the calls it took."""

    sent: int
    processed: int
    warnings: tuple[ItemError, ...] = ()
    requests: int = 0

    @property
    def unknown_ids(self) -> tuple[int, ...]:
        """Ids the store reported as ``Order not found``."""
        return tuple(
            int(w.identifier) for w in self.warnings if w.code == _UNKNOWN_ORDER and w.identifier.isdigit()
        )


class DrainStop(enum.Enum):
    """Why a drain ended."""

    EMPTY = "empty"  #: the queue has nothing left (but rejected orders)
    NOTHING_NEW = "nothing_new"  #: a load returned only orders already delivered (add-only workflow)
    NO_PROGRESS = "no_progress"  #: several rounds in a row acknowledged nothing
    MAX_PAGES = "max_pages"  #: the ``max_pages`` limit was reached


@attrs.frozen
class DrainReport:
    """What a :meth:`Queues.drain` run did."""

    queue: str
    acknowledge: bool
    delivered: int
    acknowledged: int
    rejected: tuple[int, ...]
    redelivered: int
    pages: int
    elapsed: float
    stopped: DrainStop
    reason: str
    warnings: tuple[str, ...] = ()


def _check_queue_code(code: object) -> str:
    if not isinstance(code, str) or not code.strip():
        raise ArgumentError(
            f"queue_code must be the store's queue code, e.g. 'new_and_updated', not {shown(code)}"
        )
    return code.strip()


def _check_handler(handler: object) -> None:
    # Checked before the first load: a no-acknowledgement load moves orders out of the queue.
    callable_(handler, "handler")


def _check_ids(order_ids: Iterable[int]) -> list[int]:
    if isinstance(order_ids, (str, bytes, Mapping)) or not isinstance(order_ids, Iterable):
        raise ArgumentError(f"order_ids must be a list of order ids, not {shown(order_ids)}")
    ids: list[int] = []
    seen: set[int] = set()
    for raw in order_ids:
        value = whole_number(raw, "each order id", minimum=1, maximum=MAX_ID)
        if value not in seen:  # a repeat would run the workflows (and add a note) twice
            seen.add(value)
            ids.append(value)
    if not ids:
        raise ArgumentError("order_ids is empty; Miva would answer processed: 0 and do nothing")
    return ids


def _load_call(queue_code: str, query: OrderQuery, count: int, offset: int, *, acknowledge: bool) -> Call:
    boolean(acknowledge, "acknowledge")
    params = {"Queue_Code": queue_code, **query.params(count=count, offset=offset)}
    safety = Safety.IDEMPOTENT if acknowledge else Safety.UNSAFE
    return Call("Module", params, WORKFLOW_MODULE, LOAD, safety)


def _ack_call(ids: Sequence[int]) -> Call:
    return Call("Module", {"Order_IDs": list(ids)}, WORKFLOW_MODULE, ACKNOWLEDGE, Safety.IDEMPOTENT)


def _queues_from(envelope: Mapping[str, Any]) -> list[Queue]:
    """Queues as ``OrderCustomFieldList_Load`` reveals them: one ``orderworkflow`` checkbox per queue."""
    rows = envelope.get("data")
    if not isinstance(rows, list):
        raise ResponseDecodeError("OrderCustomFieldList_Load: 'data' is not a list")
    queues = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        module = row.get("module")
        code = module.get("code") if isinstance(module, Mapping) else None
        if code == WORKFLOW_MODULE and row.get("type") == "checkbox" and isinstance(row.get("code"), str):
            queues.append(Queue(row["code"], str(row.get("name", ""))))
    return queues


class _Acknowledging:
    """Sends ids in batches and re-sends what the store's time budget left unprocessed."""

    def __init__(self, order_ids: Iterable[int]) -> None:
        self.ids = _check_ids(order_ids)
        self.position = 0
        self.batch: list[int] = []
        self.processed = 0
        self.requests = 0
        self.stalls = 0
        self.warnings: list[ItemError] = []

    def next_call(self) -> Call | None:
        if self.position >= len(self.ids):
            return None
        self.batch = self.ids[self.position : self.position + ACK_BATCH]
        return _ack_call(self.batch)

    def accept(self, envelope: Mapping[str, Any]) -> None:
        self.requests += 1
        processed = envelope.get("processed")
        if not isinstance(processed, int) or isinstance(processed, bool) or processed < 0:
            raise ResponseDecodeError(f"{ACKNOWLEDGE}: 'processed' is not a count: {processed!r}")
        for raw in envelope.get("warnings") or ():
            if isinstance(raw, Mapping):
                self.warnings.append(
                    ItemError(
                        str(raw.get("identifier", "")), str(raw.get("code", "")), str(raw.get("message", ""))
                    )
                )
        done = min(processed, len(self.batch))
        if done == 0:
            # The store handles ids in order and stops only between them: 0 for a non-empty list means
            # it made no progress at all. Try a few times, then say so.
            self.stalls += 1
            if self.stalls >= 3:
                raise APIError(
                    f"the store processed none of {len(self.batch)} ids in {self.stalls} attempts",
                    function=f"Module:{WORKFLOW_MODULE}:{ACKNOWLEDGE}",
                )
            return
        self.stalls = 0
        self.processed += done
        self.position += done

    def result(self) -> AckResult:
        return AckResult(len(self.ids), self.processed, tuple(self.warnings), self.requests)


def _fingerprint(order: Order) -> tuple[Any, ...]:
    """The base columns that a real edit changes and a workflow note does not."""
    skip = {"dt_updated", "note_count"}
    return tuple(
        getattr(order, a.name)
        for a in attrs.fields(type(order))
        if a.name in _BASE_FIELDS and a.name not in skip
    )


_BASE_FIELDS = frozenset(
    [
        "id", "pay_id", "batch_id", "status", "pay_status", "stk_status", "dt_instock", "orderdate",
        "cust_id", "ship_res", "ship_id", "ship_data", "source", "source_id", "total", "total_ship",
        "total_tax", "total_auth", "total_capt", "total_rfnd", "net_capt", "pend_count", "bord_count",
        *(f"{side}_{part}" for side in ("ship", "bill") for part in ADDRESS_PARTS),
    ]
)  # fmt: skip


def _server_time(response: httpx.Response, fallback: float) -> float:
    """The store's clock when it answered (its ``Date`` header), else ours."""
    server = http_date(response.headers.get("date"))
    return fallback if server is None else server


class _Drain:
    """The bookkeeping of one drain, with no I/O: what to load, what to acknowledge, when to stop."""

    def __init__(
        self,
        queue_code: str,
        query: OrderQuery,
        *,
        acknowledge: bool,
        page_size: int,
        guard_updates: bool,
        max_pages: int | None,
    ) -> None:
        self.queue = _check_queue_code(queue_code)
        self.query = query
        self.acknowledge = boolean(acknowledge, "acknowledge")
        self.page_size = check_page_size(page_size, name="page_size")
        self.guard_updates = boolean(guard_updates, "guard_updates")
        self.max_pages = None if max_pages is None else whole_number(max_pages, "max_pages", minimum=1)
        self.started = time.monotonic()
        self.delivered_ids: dict[int, int] = {}
        self.rejected: list[int] = []
        self.redelivered = 0
        self.delivered = 0
        self.acknowledged = 0
        self.pages = 0
        self.idle_rounds = 0
        self.repeat_rounds = 0
        self.acked_ids: set[int] = set()
        self.warnings: list[str] = []
        self.page: list[Order] = []
        self.loaded_at = 0.0
        self.stop: DrainStop | None = None
        self.reason = ""

    # -- loading ---------------------------------------------------------------------------------

    def load_call(self) -> Call | None:
        if self.max_pages is not None and self.pages >= self.max_pages:
            self._finish(DrainStop.MAX_PAGES, f"stopped after max_pages={self.max_pages}")
            return None
        where = self.query.where
        if self.acknowledge and self.rejected:
            # Rejected orders stay in the queue; filter them out rather than page past them by offset,
            # which would go wrong as soon as an order with a lower id is queued.
            parked = F.id.not_in(self.rejected)
            where = parked if where is None else where & parked
        query = self.query.evolve(where=where)
        # Always offset 0: acknowledged (or moved) orders have left, so the next ones are at the front.
        return _load_call(self.queue, query, self.page_size, 0, acknowledge=self.acknowledge)

    def loaded(self, page: Page[Order], server_time: float) -> bool:
        """Take a loaded page; ``False`` when the drain is over (nothing to hand out)."""
        if not page.items:
            suffix = f"; {len(self.rejected)} rejected order(s) left in it" if self.rejected else ""
            self._finish(DrainStop.EMPTY, f"queue {self.queue!r} is empty{suffix}")
            return False
        new = [o for o in page.items if o.id not in self.delivered_ids]
        if not new and not self.acknowledge:
            message = (
                f"queue {self.queue!r} returned only orders already delivered: its no-acknowledgement "
                "workflow adds retrieved orders to another queue without removing them, so the queue "
                "never drains. Change the workflow action to queue_move, or use the acknowledgement "
                "workflow (drain(..., acknowledge=True))"
            )
            logger.warning("%s", message)
            self.warnings.append(message)
            self._finish(DrainStop.NOTHING_NEW, message)
            return False
        if self.acknowledge and all(o.id in self.acked_ids for o in page.items):
            # Everything here was acknowledged already. Once (an edit re-queued it) is normal; page after
            # page means acknowledging does not take orders out of this queue.
            self.repeat_rounds += 1
            if self.repeat_rounds >= _MAX_IDLE_ROUNDS:
                message = (
                    f"queue {self.queue!r} keeps returning orders that were already acknowledged: the "
                    "store's acknowledgement workflow does not remove them from this queue (is "
                    "'Process Order Acknowledgement' enabled, and does it move orders out of this queue?)"
                )
                logger.warning("%s", message)
                self.warnings.append(message)
                self._finish(DrainStop.NO_PROGRESS, message)
                return False
        else:
            self.repeat_rounds = 0
        self.pages += 1
        self.page = list(page.items)
        self.loaded_at = server_time
        for order in self.page:
            count = self.delivered_ids.get(order.id, 0)
            if count:
                self.redelivered += 1
            self.delivered_ids[order.id] = count + 1
        self.delivered += len(self.page)
        return True

    # -- after the handler -----------------------------------------------------------------------

    def handled(self, result: HandlerResult) -> list[Order]:
        """The orders the handler accepted (all but the ids it returned)."""
        if result is None:
            rejected: set[int] = set()
        else:
            if isinstance(result, (str, bytes, Mapping)) or not isinstance(result, Iterable):
                raise ArgumentError(
                    f"a drain handler returns None or the ids of the orders it rejects, not {shown(result)}"
                )
            rejected = {whole_number(i, "each id a drain handler rejects", minimum=1) for i in result}
        page_ids = {o.id for o in self.page}
        unknown = rejected - page_ids
        if unknown:
            raise ArgumentError(f"the handler rejected ids that were not in its page: {sorted(unknown)}")
        for oid in sorted(rejected):
            if oid not in self.rejected:
                self.rejected.append(oid)
        if rejected:
            logger.warning("queue %r: handler rejected order(s) %s", self.queue, sorted(rejected))
        return [o for o in self.page if o.id not in rejected]

    def guard_query(self, accepted: Sequence[Order]) -> Call | None:
        """Re-read the accepted orders' base columns, to see which changed since the load."""
        if not (self.acknowledge and self.guard_updates and accepted):
            return None
        ids = [o.id for o in accepted]
        query = OrderQuery.build(where=F.id.in_(ids), columns=())
        return Call("OrderList_Load_Query", query.params(count=len(ids)), safety=Safety.IDEMPOTENT)

    def unchanged(self, accepted: Sequence[Order], fresh: Page[Order] | None) -> list[int]:
        """Ids safe to acknowledge: still there, and not edited after the load.

        An edit moves ``dt_updated`` past the moment the store answered the load (workflow notes made by
        the load itself land before it); a same-second edit is caught when it changed a base column.
        """
        if fresh is None:
            return [o.id for o in accepted]
        current = {o.id: o for o in fresh.items}
        boundary = math.floor(self.loaded_at)
        safe: list[int] = []
        for order in accepted:
            now = current.get(order.id)
            if now is None:
                continue  # gone (deleted or archived): nothing to acknowledge
            stamp = int(now.dt_updated.timestamp()) if now.dt_updated else 0
            if stamp > boundary or _fingerprint(now) != _fingerprint(order):
                continue  # changed after we read it: leave it queued, it comes back newer
            safe.append(order.id)
        return safe

    def acknowledged_ids(self, ids: Sequence[int], result: AckResult) -> None:
        self.acked_ids.update(ids[: result.processed])
        self.acknowledged += result.processed
        self.idle_rounds = 0 if result.processed else self.idle_rounds + 1
        if self.idle_rounds >= _MAX_IDLE_ROUNDS:
            self._finish(
                DrainStop.NO_PROGRESS,
                f"{_MAX_IDLE_ROUNDS} rounds in a row acknowledged nothing (orders keep changing, or the "
                "store's acknowledgement workflow does not remove them from the queue)",
            )

    def _finish(self, stop: DrainStop, reason: str) -> None:
        if self.stop is None:
            self.stop = stop
            self.reason = reason

    @property
    def done(self) -> bool:
        return self.stop is not None

    def report(self) -> DrainReport:
        assert self.stop is not None
        return DrainReport(
            queue=self.queue,
            acknowledge=self.acknowledge,
            delivered=self.delivered,
            acknowledged=self.acknowledged,
            rejected=tuple(self.rejected),
            redelivered=self.redelivered,
            pages=self.pages,
            elapsed=time.monotonic() - self.started,
            stopped=self.stop,
            reason=self.reason,
            warnings=tuple(self.warnings),
        )

    def lost_page_warning(self) -> None:
        """A handler failed on a page a no-acknowledgement load had already moved out."""
        ids = [o.id for o in self.page]
        logger.warning(
            "queue %r: the handler failed on orders %s, which the load had already moved out of the "
            "queue (no acknowledgement workflow); reconcile them with orders.updated_since()",
            self.queue,
            ids,
        )


@attrs.frozen
class _Send:
    """A step of a queue operation: run this call, answer ``(envelope, response)``."""

    call: Call


@attrs.frozen
class _Handle:
    """A step of a drain: run the user's handler on these orders, answer what it returned."""

    orders: list[Order]


#: A queue operation as plain code: it yields steps and is sent their answers (or has failures thrown in),
#: so ``Queues`` and ``AsyncQueues`` drive the same logic and only differ in whether they await.
_Steps = Generator["_Send | _Handle", Any, T]


def _ack_steps(order_ids: Iterable[int]) -> _Steps[AckResult]:
    # The ids are checked now, when the call is made, not when the first step runs.
    return _ack_run(_Acknowledging(order_ids))


def _ack_run(state: _Acknowledging) -> _Steps[AckResult]:
    while (call := state.next_call()) is not None:
        envelope, _ = yield _Send(call)
        state.accept(envelope)
    return state.result()


def _drain_steps(state: _Drain, clock: Callable[[], float]) -> _Steps[DrainReport]:
    while (call := state.load_call()) is not None:
        envelope, response = yield _Send(call)
        if not state.loaded(_decode(envelope, call.label), _server_time(response, clock())):
            break
        try:
            accepted = state.handled((yield _Handle(list(state.page))))
        except BaseException:
            if not state.acknowledge:
                state.lost_page_warning()
            raise
        if not state.acknowledge:
            continue  # the load itself took these orders out of the queue
        guard = state.guard_query(accepted)
        fresh = None
        if guard is not None:
            envelope, _ = yield _Send(guard)
            fresh = _decode(envelope, guard.label)
        safe = state.unchanged(accepted, fresh)
        result = (yield from _ack_steps(safe)) if safe else AckResult(0, 0)
        state.acknowledged_ids(safe, result)
        if state.done:
            break
    return state.report()


class _QueuesBase:
    @staticmethod
    def _query(
        where: Expr | None, sort: str | SortKey | None, columns: Iterable[str] | None, passphrase: str | None
    ) -> OrderQuery:
        return OrderQuery.build(where=where, sort=sort, columns=columns, passphrase=passphrase)

    @staticmethod
    def _drain(
        queue_code: str,
        *,
        acknowledge: bool,
        page_size: int,
        where: Expr | None,
        columns: Iterable[str] | None,
        passphrase: str | None,
        guard_updates: bool,
        max_pages: int | None,
    ) -> _Drain:
        query = OrderQuery.build(where=where, sort="id", columns=columns, passphrase=passphrase)
        return _Drain(
            queue_code,
            query,
            acknowledge=acknowledge,
            page_size=page_size,
            guard_updates=guard_updates,
            max_pages=max_pages,
        )


def _decode(envelope: Mapping[str, Any], function: str) -> Page[Order]:
    return structure_page(envelope.get("data"), Order, function=function)


class Queues(_QueuesBase):
    """Order workflow queues for :class:`~mivaorders.Client` (``client.queues``)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list_queues(self) -> list[Queue]:
        """The store's queues, discovered through ``OrderCustomFieldList_Load``."""
        envelope, _ = self._client._run(Call("OrderCustomFieldList_Load", {}, safety=Safety.IDEMPOTENT))
        return _queues_from(envelope)

    def load(
        self,
        queue_code: str,
        *,
        count: int = 100,
        offset: int = 0,
        where: Expr | None = None,
        sort: str | SortKey | None = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        acknowledge: bool = False,
    ) -> Page[Order]:
        """One page of a queue. ``acknowledge=True`` declares that the store's workflow waits for
        acknowledgement, which makes the load safe to retry; otherwise it is treated as destructive."""
        query = self._query(where, sort, columns, passphrase)
        call = _load_call(_check_queue_code(queue_code), query, count, offset, acknowledge=acknowledge)
        envelope, _ = self._client._run(call)
        return _decode(envelope, call.label)

    def _drive(self, steps: _Steps[T], handler: Handler | None = None) -> T:
        answer: Any = None
        failure: BaseException | None = None
        while True:
            try:
                step = steps.send(answer) if failure is None else steps.throw(failure)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            answer, failure = None, None
            try:
                if isinstance(step, _Send):
                    answer = self._client._run(step.call)
                else:
                    assert handler is not None
                    answer = handler(step.orders)
            except BaseException as exc:  # the steps decide what a failure means, then re-raise
                failure = exc

    def acknowledge(self, order_ids: Iterable[int]) -> AckResult:
        """Acknowledge orders (at most 100 ids a call; what the store's time budget left is re-sent)."""
        return self._drive(_ack_steps(order_ids))

    def drain(
        self,
        queue_code: str,
        handler: Handler,
        *,
        acknowledge: bool = True,
        page_size: int = 100,
        where: Expr | None = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        guard_updates: bool = True,
        max_pages: int | None = None,
    ) -> DrainReport:
        """Load a page at offset 0, hand it to ``handler``, acknowledge what it accepted; repeat.

        ``handler(orders)`` returns ``None`` (all accepted) or the ids it rejects; rejected orders are
        reported and skipped, never acknowledged. If it raises, nothing of that page is acknowledged and the
        error propagates. With ``acknowledge=False`` the store's workflow moves orders out as they load.
        """
        _check_handler(handler)
        state = self._drain(
            queue_code,
            acknowledge=acknowledge,
            page_size=page_size,
            where=where,
            columns=columns,
            passphrase=passphrase,
            guard_updates=guard_updates,
            max_pages=max_pages,
        )
        return self._drive(_drain_steps(state, self._client._config.clock), handler)


class AsyncQueues(_QueuesBase):
    """Order workflow queues for :class:`~mivaorders.AsyncClient`; see :class:`Queues`."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list_queues(self) -> list[Queue]:
        """The store's queues; see :meth:`Queues.list_queues`."""
        envelope, _ = await self._client._run(Call("OrderCustomFieldList_Load", {}, safety=Safety.IDEMPOTENT))
        return _queues_from(envelope)

    async def load(
        self,
        queue_code: str,
        *,
        count: int = 100,
        offset: int = 0,
        where: Expr | None = None,
        sort: str | SortKey | None = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        acknowledge: bool = False,
    ) -> Page[Order]:
        """One page of a queue; see :meth:`Queues.load`."""
        query = self._query(where, sort, columns, passphrase)
        call = _load_call(_check_queue_code(queue_code), query, count, offset, acknowledge=acknowledge)
        envelope, _ = await self._client._run(call)
        return _decode(envelope, call.label)

    async def _drive(self, steps: _Steps[T], handler: AsyncHandler | None = None) -> T:
        answer: Any = None
        failure: BaseException | None = None
        while True:
            try:
                step = steps.send(answer) if failure is None else steps.throw(failure)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            answer, failure = None, None
            try:
                if isinstance(step, _Send):
                    answer = await self._client._run(step.call)
                else:
                    assert handler is not None
                    answer = handler(step.orders)
                    if inspect.isawaitable(answer):
                        answer = await answer
            except BaseException as exc:  # the steps decide what a failure means, then re-raise
                failure = exc

    async def acknowledge(self, order_ids: Iterable[int]) -> AckResult:
        """Acknowledge orders; see :meth:`Queues.acknowledge`."""
        return await self._drive(_ack_steps(order_ids))

    async def drain(
        self,
        queue_code: str,
        handler: AsyncHandler,
        *,
        acknowledge: bool = True,
        page_size: int = 100,
        where: Expr | None = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        guard_updates: bool = True,
        max_pages: int | None = None,
    ) -> DrainReport:
        """Load, hand out, acknowledge, repeat; see :meth:`Queues.drain`. ``handler`` may be async."""
        _check_handler(handler)
        state = self._drain(
            queue_code,
            acknowledge=acknowledge,
            page_size=page_size,
            where=where,
            columns=columns,
            passphrase=passphrase,
            guard_updates=guard_updates,
            max_pages=max_pages,
        )
        return await self._drive(_drain_steps(state, self._client._config.clock), handler)
