"""``client.queues``: order workflow queues, acknowledgement, and the at-least-once ``drain``.

Miva's queue functions only fire workflow triggers; what they do is the store's configuration
(``order-functions.md`` §2-§3):

- **with acknowledgement**, a load leaves the orders in the queue and ``OrderList_Acknowledge`` moves
  them out. Loads are safe to repeat; :meth:`Queues.drain` acknowledges exactly what the handler accepted.
- **without acknowledgement**, the load itself moves the rendered orders out. Such loads are never retried
  once the request may have reached the store, and always read offset 0. When an answer is lost after the
  store acted, :meth:`Queues.drain` finds the page again: the workflow moved those orders into another
  queue (``moved_to``) and bumped their ``dt_updated``, and queue membership is searchable
  (``CustomField_Values:orderworkflow:<code>``), so the orders now in ``moved_to`` updated since just
  before that load are the lost page (plus, perhaps, a few more), handed out flagged as a recovery.
- the stock no-acknowledgement template only *adds* orders to another queue: the queue never drains.
  ``drain`` notices a page with nothing new, stops, and says why.

Every method is written once, as a conversation (the drain's bookkeeping in :class:`_Drain`); ``Queues``
and ``AsyncQueues`` only run it with their client's driver.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from . import _display
from ._columns import ONDEMAND_COLUMNS, SEARCH_COLUMNS, SPECIAL_SEARCH_FIELDS
from ._conversation import AsyncDriver, Awaited, Driver, Handle, Log, Now, Seen, Send, Steps, ask
from ._converter import structure_page
from ._decode import page_decoder
from ._envelope import WORKFLOW_MODULE, Call, Safety, http_date
from ._exceptions import (
    APIError,
    ArgumentError,
    AuthenticationError,
    ItemError,
    LostPageError,
    MivaError,
    RecoveryUnavailableError,
    ResponseDecodeError,
    ResponseValidationError,
)
from ._lost_pages import (
    RETRIEVED_QUEUE,
    LostPageSearch,
    StoreTime,
    answer_lost,
    check_moved_to,
    list_call,
    lost_error,
    member_of,
    since_text,
)
from ._page import Page
from ._page_size import DEFAULT_ADAPTIVE, MIVA_DEFAULT_BUDGET, AdaptivePageSize, PageSizer
from ._query import OrderQuery, check_page_size
from ._unix_time import unix_seconds
from ._validate import MAX_ID, boolean, callable_, shown, whole_number
from .filters import Expr, F, SortKey
from .models import Order

if TYPE_CHECKING:
    import httpx

    from ._client import AsyncClient, Client, ClientConfig

__all__ = [
    "AckResult",
    "AsyncQueues",
    "DrainPage",
    "DrainReport",
    "DrainStop",
    "Queue",
    "Queues",
    "RETRIEVED_QUEUE",
]


T = TypeVar("T")
_R = TypeVar("_R")

LOAD = "QueueOrderList_Load_Query"
ACKNOWLEDGE = "OrderList_Acknowledge"
#: At most this many ids go into one ``OrderList_Acknowledge`` (the store stops after 60 s anyway).
ACK_BATCH = 100
_UNKNOWN_ORDER = "MER-UTIL-ORWF-00180"
#: The page size policy of no-acknowledgement drains: start at 100 and never grow, only shrink.
SHRINK_ONLY = AdaptivePageSize(grow=False)
# Rounds in a row that acknowledge nothing new before drain gives up (constant churn, a stuck queue).
_MAX_IDLE_ROUNDS = 3
# Loads in a row whose answers were lost (each one recovered) before drain gives up and raises.
_MAX_LOST_IN_A_ROW = 10


class DrainPage(list[Order]):
    """The orders a drain hands to its handler: a plain ``list``, plus where they came from.

    ``recovered`` is True for orders found again after a load's answer was lost (no-acknowledgement
    workflow): they may include orders delivered before in another version, or moved by someone else.
    """

    recovered: bool

    def __init__(self, orders: Iterable[Order] = (), *, recovered: bool = False) -> None:
        super().__init__(orders)
        self.recovered = recovered

    def __repr__(self) -> str:
        return f"DrainPage({super().__repr__()}, recovered={self.recovered})"


#: What a drain handler returns: ``None`` when it took every order, or the ids it rejects.
HandlerResult = Iterable[int] | None
#: A drain handler for :class:`Queues`.
Handler = Callable[[DrainPage], HandlerResult]
#: A drain handler for :class:`AsyncQueues`: plain, or async (what it returns is awaited).
AsyncHandler = Callable[[DrainPage], HandlerResult | Awaitable[HandlerResult]]


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
    #: The queue lost pages were looked for in (no-acknowledgement drains; ``None``: recovery was off).
    moved_to: str | None = None
    #: Loads whose answer was lost after the store may have acted, each followed by a search for its page.
    recoveries: int = 0
    #: Orders those searches handed to the handler (in pages flagged ``recovered``).
    recovered: int = 0


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
    return Call("Module", params, WORKFLOW_MODULE, LOAD, safety, fast_decode=page_decoder(Order).decode)


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
    return tuple(getattr(order, a.name) for a in attrs.fields(type(order)) if a.name in _BASE_FIELDS)


#: What a workflow note changes on the order record (a note is not an edit).
_NOTE_TOUCHED = frozenset({"dt_updated", "note_count"})

#: Columns of the order record that are no search field, so the search catalog leaves them out.
_UNSEARCHABLE_BASE = frozenset({"stk_status", "cust_id"})

#: The order record's own columns bar what a note touches: the searchable ones that are neither joins
#: (on-demand) nor the function's own search fields (``pay_id`` is both one of those and a column).
_BASE_FIELDS = (
    SEARCH_COLUMNS - ONDEMAND_COLUMNS - (SPECIAL_SEARCH_FIELDS - {"pay_id"}) - _NOTE_TOUCHED
) | _UNSEARCHABLE_BASE


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
        page_size: int | AdaptivePageSize | None,
        guard_updates: bool,
        max_pages: int | None,
        moved_to: str | None = None,
        time_limits: tuple[float | None, ...] = (),
    ) -> None:
        self.queue = _check_queue_code(queue_code)
        self.query = query
        self.acknowledge = boolean(acknowledge, "acknowledge")
        self.sizer: PageSizer | None = None
        if page_size is None:
            # A load without acknowledgement moves its orders out: a lost answer loses the whole page,
            # and it is never retried. So its pages never grow past the polite start; they only shrink.
            page_size = DEFAULT_ADAPTIVE if acknowledge else SHRINK_ONLY
        if isinstance(page_size, AdaptivePageSize):
            self.sizer = page_size.sizer(*time_limits)
            self.page_size = self.sizer.size
        else:
            self.page_size = check_page_size(page_size, name="page_size")
        self.guard_updates = boolean(guard_updates, "guard_updates")
        self.max_pages = None if max_pages is None else whole_number(max_pages, "max_pages", minimum=1)
        # Only a load that moves orders can lose them: with acknowledgement there is nothing to recover.
        self.moved_to = None if acknowledge else check_moved_to(moved_to, self.queue)
        self.verify_destination = self.moved_to is not None  # once, on the first page loaded
        self.versions: dict[int, int] = {}  # id -> fingerprint of the version delivered (no acknowledgement)
        self.recoveries = 0
        self.recovered = 0
        self.lost_in_a_row = 0
        self.unrecovered: list[datetime] = []  # lost loads whose search found nothing
        self.first_lost: datetime | None = None  # where the final search starts
        self.page_recovered = False
        self.started = 0.0  # by the client's clock, read by the conversation
        self.notes: list[Log] = []  # log records not yet written (the driver writes them)
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
        if self.sizer is not None:
            self.page_size = self.sizer.size
        return _load_call(self.queue, query, self.page_size, 0, acknowledge=self.acknowledge)

    def load_took(self, elapsed: float) -> None:
        """A load of ``page_size`` orders was answered after ``elapsed`` seconds (for the size policy)."""
        if self.sizer is not None:
            self.sizer.answered(self.page_size, elapsed)

    def loaded(self, page: Page[Order], server_time: float) -> bool:
        """Take a loaded page; ``False`` when the drain is over (nothing to hand out)."""
        if not page.items:
            suffix = f"; {len(self.rejected)} rejected order(s) left in it" if self.rejected else ""
            self._finish(DrainStop.EMPTY, f"queue {self.queue!r} is empty{suffix}")
            return False
        # Nothing new: every order was delivered before in this very version (an edit that re-queued one
        # after delivery is a new version, and comes back first when loads sort by id).
        if not self.acknowledge and not any(self.undelivered(o) for o in page.items):
            message = (
                f"queue {self.queue!r} returned only orders already delivered: its no-acknowledgement "
                "workflow adds retrieved orders to another queue without removing them, so the queue "
                "never drains. Change the workflow action to queue_move, or use the acknowledgement "
                "workflow (drain(..., acknowledge=True))"
            )
            self._give_up(DrainStop.NOTHING_NEW, message)
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
                self._give_up(DrainStop.NO_PROGRESS, message)
                return False
        else:
            self.repeat_rounds = 0
        self.pages += 1
        self.loaded_at = server_time
        self.deliver(page.items, recovered=False)
        return True

    def deliver(self, orders: Sequence[Order], *, recovered: bool) -> DrainPage:
        """Count ``orders`` as handed out; they become the page the handler's answer refers to."""
        self.page = list(orders)
        self.page_recovered = recovered
        for order in self.page:
            count = self.delivered_ids.get(order.id, 0)
            if count:
                self.redelivered += 1
            self.delivered_ids[order.id] = count + 1
            if not self.acknowledge:
                self.versions[order.id] = hash(_fingerprint(order))
        self.delivered += len(self.page)
        if recovered:
            self.recovered += len(self.page)
        return DrainPage(self.page, recovered=recovered)

    # -- lost answers (no acknowledgement) -------------------------------------------------------

    def undelivered(self, order: Order) -> bool:
        """Whether a recovery should hand ``order`` out: never delivered, or changed since it was."""
        version = self.versions.get(order.id)
        return version is None or version != hash(_fingerprint(order))

    def lost_search(self, since: datetime) -> LostPageSearch:
        assert self.moved_to is not None
        return LostPageSearch(self.moved_to, since, self.query, self.page_size, self.undelivered)

    def lost(self, since: datetime, cause: BaseException, note: str = "") -> LostPageError:
        return lost_error(
            self.queue, since, cause, moved_to=self.moved_to, delivered=self.delivered, note=note
        )

    def searched(self, search: LostPageSearch) -> None:
        self.recoveries += 1
        self.lost_in_a_row += 1
        if self.first_lost is None or search.since < self.first_lost:
            self.first_lost = search.since
        if search.found:
            self._note(
                logging.WARNING,
                "queue %r: recovered %d order(s) of a page whose answer was lost: the ones this drain had "
                "not delivered yet among the %d order(s) in queue %r updated since %s",
                self.queue,
                search.found,
                search.scanned,
                search.moved_to,
                since_text(search.since),
            )
        else:
            self.unrecovered.append(search.since)
            self._note(
                logging.WARNING,
                "queue %r: a load's answer was lost, but queue %r holds no undelivered order updated since "
                "%s (%d looked at): the store had not acted on it",
                self.queue,
                search.moved_to,
                since_text(search.since),
                search.scanned,
            )

    def swept(self, search: LostPageSearch) -> None:
        level = logging.WARNING if search.found else logging.INFO
        self._note(
            level,
            "queue %r: final search after %d lost answer(s): %d more order(s) recovered from queue %r "
            "(%d updated since %s looked at)",
            self.queue,
            self.recoveries,
            search.found,
            search.moved_to,
            search.scanned,
            since_text(search.since),
        )

    def destination_call(self) -> Call | None:
        """Once, after the first page: are the orders just loaded now in ``moved_to``?"""
        if not self.verify_destination or not self.page or self.page_recovered:
            return None
        assert self.moved_to is not None
        self.verify_destination = False
        ids = [o.id for o in self.page]
        query = OrderQuery.build(where=F.id.in_(ids) & member_of(self.moved_to), columns=())
        return list_call(query, len(ids))

    def destination_checked(self, found: Page[Order]) -> None:
        if found.items:
            return
        assert self.moved_to is not None
        lost = ""
        if self.unrecovered:
            stamps = ", ".join(since_text(s) for s in self.unrecovered)
            lost = (
                f" Earlier, {len(self.unrecovered)} load(s) lost their answer and nothing was found: "
                f"reconcile with orders.updated_since() from {stamps}."
            )
        message = (
            f"queue {self.queue!r}: none of the {len(self.page)} order(s) just loaded are in queue "
            f"{self.moved_to!r}, so the store's retrieval workflow does not move orders there (it removes "
            "them, or moves them elsewhere) and a lost answer could not be recovered. The orders loaded so "
            "far were delivered; the drain stops here. Pass the queue the workflow moves orders to as "
            f"moved_to, or moved_to=None to accept that a lost answer loses orders.{lost}"
        )
        self._note(logging.ERROR, "%s", message)
        raise RecoveryUnavailableError(
            message, queue=self.queue, moved_to=self.moved_to, reason="not_moved_there"
        )

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
            self._note(
                logging.WARNING, "queue %r: handler rejected order(s) %s", self.queue, sorted(rejected)
            )
        return [o for o in self.page if o.id not in rejected]

    def guard_query(self, accepted: Sequence[Order]) -> Call | None:
        """Re-read the accepted orders' base columns, to see which changed since the load."""
        if not (self.acknowledge and self.guard_updates and accepted):
            return None
        ids = [o.id for o in accepted]
        query = OrderQuery.build(where=F.id.in_(ids), columns=())
        return Call(
            "OrderList_Load_Query",
            query.params(count=len(ids)),
            safety=Safety.IDEMPOTENT,
            fast_decode=page_decoder(Order).decode,
        )

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
            stamp = unix_seconds(now.dt_updated)
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

    def _give_up(self, stop: DrainStop, warning: str) -> None:
        """Stop because the store's workflow does not do what a drain needs; say so in the report and log."""
        self._note(logging.WARNING, "%s", warning)
        self.warnings.append(warning)
        self._finish(stop, warning)

    def _finish(self, stop: DrainStop, reason: str) -> None:
        if self.stop is None:
            self.stop = stop
            self.reason = reason

    @property
    def done(self) -> bool:
        return self.stop is not None

    def _note(self, level: int, message: str, *args: object) -> None:
        self.notes.append(Log(level, message, args))

    def report(self, now: float) -> DrainReport:
        assert self.stop is not None
        return DrainReport(
            queue=self.queue,
            acknowledge=self.acknowledge,
            delivered=self.delivered,
            acknowledged=self.acknowledged,
            rejected=tuple(self.rejected),
            redelivered=self.redelivered,
            pages=self.pages,
            elapsed=now - self.started,
            stopped=self.stop,
            reason=self.reason,
            warnings=tuple(self.warnings),
            moved_to=self.moved_to,
            recoveries=self.recoveries,
            recovered=self.recovered,
        )

    def lost_page_warning(self) -> None:
        """A handler failed on a page a no-acknowledgement load had already moved out."""
        ids = [o.id for o in self.page]
        where = f"they are in queue {self.moved_to!r}" if self.moved_to else "they are in no queue to drain"
        self._note(
            logging.WARNING,
            "queue %r: the handler failed on orders %s, which the load had already moved out of the "
            "queue (no acknowledgement workflow); %s: reconcile them with orders.updated_since() or "
            "fetch them by id",
            self.queue,
            ids,
            where,
        )


def _told(state: _Drain) -> Steps[None]:
    """Write what the drain's bookkeeping noted (the driver logs it)."""
    while state.notes:
        yield state.notes.pop(0)


def _ack_steps(order_ids: Iterable[int]) -> Steps[AckResult]:
    # The ids are checked now, when the call is made, not when the first step runs.
    return _ack_run(_Acknowledging(order_ids))


def _ack_run(state: _Acknowledging) -> Steps[AckResult]:
    while (call := state.next_call()) is not None:
        envelope, _ = yield Send(call)
        state.accept(envelope)
    return state.result()


def _load_steps(call: Call, queue: str, acknowledge: bool, store_time: StoreTime) -> Steps[Page[Order]]:
    """One load; without acknowledgement a lost answer raises :class:`LostPageError`, saying where to look."""
    since = store_time.before_load((yield Now()))
    try:
        envelope, _ = yield Send(call)
        return _decode(envelope, call.label)
    except MivaError as exc:
        if acknowledge or not (answer_lost(exc) or isinstance(exc, ResponseValidationError)):
            raise
        raise lost_error(queue, since, exc, moved_to=None) from exc


def _queues_steps() -> Steps[list[Queue]]:
    envelope, _ = yield from ask(Call("OrderCustomFieldList_Load", {}, safety=Safety.IDEMPOTENT))
    return _queues_from(envelope)


def _destination_steps(queue: str, moved_to: str, advice: str) -> Steps[str]:
    """The destination queue as the store spells it; :class:`RecoveryUnavailableError` when it has none."""
    envelope, _ = yield Send(Call("OrderCustomFieldList_Load", {}, safety=Safety.IDEMPOTENT))
    codes = {q.code.casefold(): q.code for q in _queues_from(envelope)}
    if moved_to.casefold() not in codes:
        known = ", ".join(sorted(codes.values())) or "none"
        where = f"queue {queue!r}: " if queue else ""
        raise RecoveryUnavailableError(
            f"{where}the destination queue {moved_to!r} does not exist in this store (its queues: {known}), "
            "so the page of a lost answer could not be found again. Pass the queue the store's retrieval "
            f"workflow moves orders to as moved_to{advice}",
            queue=queue,
            moved_to=moved_to,
            reason="no_such_queue",
        )
    # The search field must name it exactly; Miva ignores a search field it does not know.
    return codes[moved_to.casefold()]


def _search_steps(queue: str, search: LostPageSearch) -> Steps[list[Order]]:
    search.moved_to = yield from _destination_steps(queue, search.moved_to, "")
    found: list[Order] = []
    while (call := search.next_call()) is not None:
        envelope, _ = yield Send(call)
        found.extend(search.take(_decode(envelope, call.label)))
    return found


def _check_recovery_steps(state: _Drain) -> Steps[None]:
    """Before the first destructive load: can a lost page be found again? If not, refuse to start."""
    moved_to = state.moved_to
    assert moved_to is not None
    advice = (
        ", or moved_to=None to accept that a lost answer loses orders; "
        f"nothing was loaded from {state.queue!r}"
    )
    try:
        state.moved_to = yield from _destination_steps(state.queue, moved_to, advice)
        # The search a recovery runs, over an empty window: proves the token may run it.
        now = datetime.fromtimestamp(math.floor((yield Now())), tz=timezone.utc)
        probe = member_of(state.moved_to) & (F.dt_updated >= now)
        yield Send(list_call(OrderQuery.build(where=probe, columns=()), 1))
    except AuthenticationError as exc:
        if exc.is_clock_skew:
            raise
        raise RecoveryUnavailableError(
            f"queue {state.queue!r}: the API token may not run {exc.function or 'the search'} "
            f"({exc.error_message}), which finding a lost page again needs: grant it "
            f"OrderCustomFieldList_Load and OrderList_Load_Query{advice}",
            queue=state.queue,
            moved_to=moved_to,
            reason="permission",
        ) from exc


def _recover_steps(state: _Drain, since: datetime, cause: MivaError) -> Steps[None]:
    """A load's answer was lost: hand out the orders it moved, found in ``moved_to``, as a recovered page."""
    if state.moved_to is None:
        raise state.lost(since, cause, note=" (recovery was off: moved_to=None)") from cause
    yield Log(
        logging.WARNING,
        "queue %r: the answer to a load was lost after the store may have acted (%s); looking for its "
        "orders in queue %r among those updated since %s",
        (state.queue, type(cause).__name__, state.moved_to, since_text(since)),
    )
    search = state.lost_search(since)
    yield from _hand_out_steps(state, search, cause)
    state.searched(search)
    yield from _told(state)


def _sweep_steps(state: _Drain) -> Steps[None]:
    """After a drain that lost answers: search once more, from the first loss on.

    A store still working when its answer was cut off (a read timeout) moves the orders after the search
    that followed; by the time the queue is empty they have all left it, so now they are in ``moved_to``.
    """
    assert state.first_lost is not None
    search = state.lost_search(state.first_lost)
    yield from _hand_out_steps(state, search, None)
    state.swept(search)
    yield from _told(state)


def _hand_out_steps(state: _Drain, search: LostPageSearch, cause: MivaError | None) -> Steps[None]:
    """Run a search for lost orders, handing each batch found to the handler as a recovered page."""
    while (call := search.next_call()) is not None:
        try:
            envelope, _ = yield Send(call)
            orders = search.take(_decode(envelope, call.label))
        except MivaError as exc:
            what = "the search failed too" if cause is not None else "the final search for late moves failed"
            raise state.lost(search.since, cause or exc, note=f" ({what}: {type(exc).__name__})") from exc
        if not orders:
            continue
        page = state.deliver(orders, recovered=True)
        try:
            state.handled((yield Handle(page)))
        except GeneratorExit:
            raise
        except BaseException:
            state.lost_page_warning()
            yield from _told(state)
            raise
        yield from _told(state)


def _drain_steps(state: _Drain, store_time: StoreTime) -> Steps[DrainReport]:
    state.started = yield Now()
    if state.moved_to is not None:
        yield from _check_recovery_steps(state)
    while (call := state.load_call()) is not None:
        since = store_time.before_load((yield Now()))
        try:
            sent = yield Now()
            envelope, response = yield Send(call)
            state.load_took((yield Now()) - sent)
            page = _decode(envelope, call.label)
        except MivaError as exc:
            if state.acknowledge:
                raise
            if isinstance(exc, ResponseValidationError):
                raise state.lost(since, exc) from exc  # the same orders would not decode when found again
            if not answer_lost(exc):
                raise
            yield from _recover_steps(state, since, exc)
            if state.lost_in_a_row >= _MAX_LOST_IN_A_ROW:
                yield Log(
                    logging.ERROR,
                    "queue %r: %d loads in a row lost their answer (each was recovered); giving up",
                    (state.queue, state.lost_in_a_row),
                )
                raise exc
            continue
        state.lost_in_a_row = 0
        going_on = state.loaded(page, _server_time(response, (yield Now())))
        yield from _told(state)
        if not going_on:
            break
        try:
            accepted = state.handled((yield Handle(DrainPage(state.page))))
        except GeneratorExit:
            raise
        except BaseException:
            if not state.acknowledge:
                state.lost_page_warning()
            yield from _told(state)
            raise
        yield from _told(state)
        if not state.acknowledge:
            check = state.destination_call()
            if check is not None:
                envelope, _ = yield Send(check)
                try:
                    state.destination_checked(_decode(envelope, check.label))
                finally:  # it notes why it raises
                    yield from _told(state)
            continue  # the load itself took these orders out of the queue
        guard = state.guard_query(accepted)
        fresh = None
        if guard is not None:
            envelope, _ = yield Send(guard)
            fresh = _decode(envelope, guard.label)
        safe = state.unchanged(accepted, fresh)
        result = (yield from _ack_steps(safe)) if safe else AckResult(0, 0)
        state.acknowledged_ids(safe, result)
        if state.done:
            break
    if state.first_lost is not None:
        yield from _sweep_steps(state)
    return state.report((yield Now()))


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
        page_size: int | AdaptivePageSize | None,
        where: Expr | None,
        columns: Iterable[str] | None,
        passphrase: str | None,
        guard_updates: bool,
        max_pages: int | None,
        moved_to: str | None,
        config: ClientConfig,
    ) -> _Drain:
        query = OrderQuery.build(where=where, sort="id", columns=columns, passphrase=passphrase)
        return _Drain(
            queue_code,
            query,
            acknowledge=acknowledge,
            page_size=page_size,
            guard_updates=guard_updates,
            max_pages=max_pages,
            moved_to=moved_to,
            time_limits=(config.timeout.read, float(config.api_timeout or MIVA_DEFAULT_BUDGET)),
        )

    @staticmethod
    def _lost_page_search(
        lost: LostPageError | datetime,
        moved_to: str | None,
        columns: Iterable[str] | None,
        passphrase: str | None,
        exclude: Iterable[int],
        page_size: int,
    ) -> LostPageSearch:
        if isinstance(lost, LostPageError):
            since = lost.since
            moved_to = lost.moved_to if moved_to is None else moved_to
        elif isinstance(lost, datetime):
            if lost.tzinfo is None or lost.utcoffset() is None:
                raise ArgumentError(
                    "since must be a timezone-aware datetime (the store compares Unix seconds)"
                )
            since = lost
        else:
            raise ArgumentError(
                f"lost must be a LostPageError or an aware datetime, not {type(lost).__name__}"
            )
        destination = check_moved_to(RETRIEVED_QUEUE if moved_to is None else moved_to, "")
        assert destination is not None
        excluded = list(exclude)
        skip = set(_check_ids(excluded)) if excluded else set()
        query = OrderQuery.build(sort="id", columns=columns, passphrase=passphrase)
        size = check_page_size(page_size, name="page_size")
        return LostPageSearch(destination, since, query, size, lambda order: order.id not in skip)


def _queue_of(lost: object) -> str:
    return lost.queue if isinstance(lost, LostPageError) else ""


def _decode(envelope: Mapping[str, Any], function: str) -> Page[Order]:
    return structure_page(envelope.get("data"), Order, function=function)


#: A client's ``driver.run``: runs a conversation (with a drain's handler), showing it every response.
_Run = Callable[[Steps[T], "Callable[[DrainPage], object] | None", Seen], _R]

_HandlerT = TypeVar("_HandlerT", bound="Callable[[DrainPage], object]")  # Handler, or AsyncHandler
_QueuesR = TypeVar("_QueuesR")  # list[Queue], or a coroutine of one
_PageR = TypeVar("_PageR")  # Page[Order], or a coroutine of one
_OrdersR = TypeVar("_OrdersR")  # list[Order], or a coroutine of one
_AckR = TypeVar("_AckR")  # AckResult, or a coroutine of one
_ReportR = TypeVar("_ReportR")  # DrainReport, or a coroutine of one


class _QueuesApi(_QueuesBase, Generic[_HandlerT, _QueuesR, _PageR, _OrdersR, _AckR, _ReportR]):
    """``client.queues``, written once for both clients: each method checks its arguments and builds the
    conversation; the client's driver runs it (on :class:`~mivaorders.AsyncClient` every method returns a
    coroutine to await, and a drain's handler may be async)."""

    _client: Client | AsyncClient
    _driver: Driver | AsyncDriver
    _store_time: StoreTime
    _run_queues: _Run[list[Queue], _QueuesR]
    _run_page: _Run[Page[Order], _PageR]
    _run_orders: _Run[list[Order], _OrdersR]
    _run_ack: _Run[AckResult, _AckR]
    _run_report: _Run[DrainReport, _ReportR]

    def __repr__(self) -> str:
        return _display.resource_repr(self, self._client)

    def list_queues(self) -> _QueuesR:
        """The store's queues, discovered through ``OrderCustomFieldList_Load``."""
        return self._run_queues(_queues_steps(), None, self._store_time.saw)

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
    ) -> _PageR:
        """One page of a queue. ``acknowledge=True`` declares that the store's workflow waits for
        acknowledgement, which makes the load safe to retry; otherwise it is treated as destructive, and an
        answer lost after the store may have acted raises :class:`~mivaorders.LostPageError`: pass it to
        :meth:`recover_lost_page` to get that page's orders."""
        query = self._query(where, sort, columns, passphrase)
        code = _check_queue_code(queue_code)
        call = _load_call(code, query, count, offset, acknowledge=acknowledge)
        return self._run_page(
            _load_steps(call, code, acknowledge, self._store_time), None, self._store_time.saw
        )

    def recover_lost_page(
        self,
        lost: LostPageError | datetime,
        *,
        moved_to: str | None = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        exclude: Iterable[int] = (),
        page_size: int = 100,
    ) -> _OrdersR:
        """The orders a load without acknowledgement moved out while its answer was lost.

        ``lost`` is the :class:`~mivaorders.LostPageError` (or the moment just before the load, on the
        store's clock). Returns every order now in ``moved_to`` (default: the error's, else
        ``successfully_retrieved_orders``) updated since then, except the ids in ``exclude`` (those you
        already have), sorted by id. It may hold orders someone else moved there in the same seconds.
        """
        search = self._lost_page_search(lost, moved_to, columns, passphrase, exclude, page_size)
        return self._run_orders(_search_steps(_queue_of(lost), search), None, self._store_time.saw)

    def acknowledge(self, order_ids: Iterable[int]) -> _AckR:
        """Acknowledge orders (at most 100 ids a call; what the store's time budget left is re-sent)."""
        return self._run_ack(_ack_steps(order_ids), None, self._store_time.saw)

    def drain(
        self,
        queue_code: str,
        handler: _HandlerT,
        *,
        acknowledge: bool = True,
        page_size: int | AdaptivePageSize | None = None,
        where: Expr | None = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        guard_updates: bool = True,
        max_pages: int | None = None,
        moved_to: str | None = RETRIEVED_QUEUE,
    ) -> _ReportR:
        """Load a page at offset 0, hand it to ``handler``, acknowledge what it accepted; repeat.

        ``handler(orders)`` gets a :class:`DrainPage` (a list of orders) and returns ``None`` (all
        accepted) or the ids it rejects; rejected orders are reported and skipped, never acknowledged. If
        it raises, nothing of that page is acknowledged and the error propagates. On
        :class:`~mivaorders.AsyncClient` the handler may be async: what it returns is awaited.

        With ``acknowledge=False`` the store's workflow moves orders out as they load, into ``moved_to``.
        Before the first load the drain checks that queue exists and the token may search it (else
        :class:`~mivaorders.RecoveryUnavailableError`, nothing loaded); when a load's answer is lost after
        the store may have acted, it hands that page's orders out again from ``moved_to``, in a page
        flagged ``recovered``, and goes on. ``moved_to=None`` turns that off: a lost answer raises
        :class:`~mivaorders.LostPageError`.
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
            moved_to=moved_to,
            config=self._driver.config,
        )
        return self._run_report(_drain_steps(state, self._store_time), handler, self._store_time.saw)


class Queues(_QueuesApi[Handler, list[Queue], Page[Order], list[Order], AckResult, DrainReport]):
    """Order workflow queues for :class:`~mivaorders.Client` (``client.queues``)."""

    def __init__(self, client: Client, driver: Driver) -> None:
        self._client, self._driver, self._store_time = client, driver, StoreTime()
        self._run_queues = self._run_page = self._run_orders = self._run_ack = self._run_report = driver.run


class AsyncQueues(
    _QueuesApi[
        AsyncHandler,
        Awaited[list[Queue]],
        Awaited[Page[Order]],
        Awaited[list[Order]],
        Awaited[AckResult],
        Awaited[DrainReport],
    ]
):
    """Order workflow queues for :class:`~mivaorders.AsyncClient` (``client.queues``): the methods of
    :class:`Queues`, awaited; a drain's handler may be async."""

    def __init__(self, client: AsyncClient, driver: AsyncDriver) -> None:
        self._client, self._driver, self._store_time = client, driver, StoreTime()
        self._run_queues = self._run_page = self._run_orders = self._run_ack = self._run_report = driver.run
