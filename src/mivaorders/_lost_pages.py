"""Finding a lost page again: what a queue load without acknowledgement moved out while its answer was lost.

The store's retrieval workflow moves each rendered order into another queue and bumps its ``dt_updated``
to the time of the load; queue membership is searchable as ``CustomField_Values:orderworkflow:<code>``
(``order-functions.md`` §1.3, §2). So the orders now in that queue updated since just before the load (on
the store's clock, with a margin) hold the lost page. The pieces here are pure; ``queues`` runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ._envelope import WORKFLOW_MODULE, Call, Safety, http_date
from ._exceptions import (
    APIOfflineError,
    ArgumentError,
    HTTPStatusError,
    LostPageError,
    ResponseDecodeError,
    TransportError,
)
from ._page import Page
from ._query import OrderQuery
from .filters import Expr, F
from .models import Order

if TYPE_CHECKING:
    import httpx

__all__ = [
    "RECOVERY_MARGIN",
    "RETRIEVED_QUEUE",
    "LostPageSearch",
    "StoreTime",
    "answer_lost",
    "check_moved_to",
    "list_call",
    "lost_error",
    "member_of",
    "since_text",
]

LOAD = "QueueOrderList_Load_Query"
#: Where the stock no-acknowledgement workflow puts retrieved orders (``order-functions.md`` §2).
RETRIEVED_QUEUE = "successfully_retrieved_orders"
#: Seconds before the store's clock at a load where the search for its lost page starts: covers a proxy
#: stamping ``Date`` with its own clock and our clock stepping between two requests.
RECOVERY_MARGIN = 10
# Until the store's ``Date`` was seen, our clock may be off from the store's by this much.
UNSEEN_CLOCK_MARGIN = 300
# Orders per request of the light pass (base columns only) that looks for a lost page.
SCAN_PAGE = 500


class StoreTime:
    """The store's clock as its last ``Date`` header showed it, carried forward by ours.

    ``Date`` is whole seconds and was stamped before the answer reached us, so the offset it gives never
    puts the store ahead of where it is: a moment computed from it is never later than the store's clock.
    """

    def __init__(self) -> None:
        self._offset: float | None = None

    def saw(self, response: httpx.Response, ours: float) -> None:
        """An answer came in when our clock read ``ours``."""
        server = http_date(response.headers.get("date"))
        if server is not None:
            self._offset = server - ours

    def before_load(self, ours: float) -> datetime:
        """A moment no later than the store's clock when the next request reaches it (our clock reads
        ``ours``), minus a margin."""
        if self._offset is None:
            start = ours - UNSEEN_CLOCK_MARGIN
        else:
            start = min(ours, ours + self._offset) - RECOVERY_MARGIN
        return datetime.fromtimestamp(math.floor(start), tz=timezone.utc)


def answer_lost(exc: BaseException) -> bool:
    """True when a load failed in a way that does not prove the store left the queue alone.

    A connection that may have carried the request, a 5xx from anything in front of the store, a cut or
    mangled body: the store may have rendered the page and run its workflows. Miva's own ``success: 0``,
    HTTP 429 and ``api_offline`` come before any workflow runs.
    """
    if isinstance(exc, TransportError):
        return exc.maybe_sent
    if isinstance(exc, APIOfflineError):
        return False
    if isinstance(exc, HTTPStatusError):
        return exc.status_code != 429
    return isinstance(exc, ResponseDecodeError)


def check_moved_to(moved_to: object, queue: str) -> str | None:
    if moved_to is None:
        return None
    if not isinstance(moved_to, str) or not moved_to.strip():
        raise ArgumentError(
            "moved_to must be the code of the queue the store's retrieval workflow moves orders to "
            f"(stock: {RETRIEVED_QUEUE!r}), or None to accept that a lost answer loses orders"
        )
    if moved_to.strip().casefold() == queue.casefold():
        raise ArgumentError(f"moved_to={moved_to!r} is the queue being drained; name the destination queue")
    return moved_to.strip()


def member_of(queue_code: str) -> Expr:
    """Orders in a queue, as a search: the ``orderworkflow`` flag field of that queue is ``"1"``."""
    return F(f"CustomField_Values:{WORKFLOW_MODULE}:{queue_code}") == "1"


def list_call(query: OrderQuery, count: int) -> Call:
    return Call("OrderList_Load_Query", query.params(count=count), safety=Safety.IDEMPOTENT)


def since_text(since: datetime) -> str:
    return since.strftime("%Y-%m-%dT%H:%M:%SZ")


class LostPageSearch:
    """Finds a lost page again: the orders now in ``moved_to`` updated since just before the load.

    A light pass (base columns only, keyset by id) walks that window and keeps the orders ``wanted``
    says were not delivered yet; then those are fetched whole, a page at a time, with the caller's columns.
    """

    def __init__(
        self,
        moved_to: str,
        since: datetime,
        query: OrderQuery,
        page_size: int,
        wanted: Callable[[Order], bool],
    ) -> None:
        self.moved_to = moved_to
        self.since = since
        self.query = query
        self.page_size = page_size
        self.wanted = wanted
        self.scanning = True
        self.after = 0
        self.scanned = 0
        self.pending: list[int] = []
        self.found = 0

    def next_call(self) -> Call | None:
        if self.scanning:
            where = member_of(self.moved_to) & (F.dt_updated >= self.since) & (F.id > self.after)
            return list_call(OrderQuery.build(where=where, sort="id", columns=()), SCAN_PAGE)
        if not self.pending:
            return None
        batch, self.pending = self.pending[: self.page_size], self.pending[self.page_size :]
        return list_call(self.query.evolve(where=F.id.in_(batch), sort="id"), len(batch))

    def take(self, page: Page[Order]) -> list[Order]:
        """The answer to the last call: nothing while scanning, then the orders to hand out."""
        if self.scanning:
            self.scanned += len(page.items)
            self.pending.extend(o.id for o in page.items if self.wanted(o))
            if len(page.items) < SCAN_PAGE:
                self.scanning = False
            else:
                self.after = page.items[-1].id
            return []
        self.found += len(page.items)
        return list(page.items)


def lost_error(
    queue: str,
    since: datetime,
    cause: BaseException,
    *,
    moved_to: str | None,
    delivered: int = 0,
    note: str = "",
) -> LostPageError:
    where = f"queue {moved_to!r}" if moved_to else "the queue the store's workflow moved them to"
    message = (
        f"queue {queue!r}: the answer to a load without acknowledgement was lost after the store may have "
        f"moved its orders out ({type(cause).__name__}: {cause}). They are in {where}, updated since "
        f"{since_text(since)}: queues.recover_lost_page(error, moved_to=...) finds them{note}"
    )
    return LostPageError(
        message,
        queue=queue,
        since=since,
        moved_to=moved_to,
        function=f"Module:{WORKFLOW_MODULE}:{LOAD}",
        delivered=delivered,
    )
