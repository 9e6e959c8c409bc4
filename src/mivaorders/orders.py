"""``client.orders``: order queries, auto-pagination, and the seed's pull methods.

- :meth:`Orders.list` loads one page; :meth:`Orders.iter` walks every matching order, page by page.
- :meth:`Orders.placed_between` pulls by order date (half-open window).
- :meth:`Orders.updated_since` pulls new *and* updated orders by ``dt_updated`` (Miva 10.03+); its iterator's
  ``watermark`` is where the next pull resumes.
- :meth:`Orders.after_number` pulls by order number with a look-back, because Miva skips numbers and does not
  assign them in completion order.

The planning (filters, pagination, watermark) is shared; ``Orders`` and ``AsyncOrders`` only send it.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import httpx

from . import _display
from ._conversation import (
    AsyncDriver,
    Awaited,
    Driver,
    Emit,
    Landed,
    Launch,
    Next,
    Steps,
    Stream,
    ask,
    first_of,
)
from ._converter import structure_page
from ._decode import page_decoder
from ._envelope import Call, Safety, http_date
from ._exceptions import FilterError
from ._order_writes import OrderWritesApi
from ._page import Page
from ._page_size import (
    DEFAULT_ADAPTIVE,
    MIVA_DEFAULT_BUDGET,
    AdaptivePageSize,
    PageSizer,
    classify_failure,
)
from ._query import OrderQuery, check_page_size
from ._validate import MAX_ID, aware_datetime, duration, id_collection, shown, whole_number
from .filters import Expr, F, SortKey, require_effective
from .models import Order, OrderShipment
from .pagination import (
    KeysetPaging,
    PageRequest,
    Paging,
    Walk,
    default_paging,
    page_request_params,
)

if TYPE_CHECKING:
    from ._client import AsyncClient, Client, ClientConfig

__all__ = ["AsyncOrderIterator", "AsyncOrders", "OrderIterator", "Orders"]

FUNCTION = "OrderList_Load_Query"


def _list_call(params: Mapping[str, Any]) -> Call:
    return Call(FUNCTION, params, safety=Safety.IDEMPOTENT, fast_decode=page_decoder(Order).decode)


def _decode(envelope: Mapping[str, Any]) -> Page[Order]:
    # A Page already (decoded by the client in one typed pass) passes through.
    return structure_page(envelope.get("data"), Order, function=FUNCTION)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: The last second of year 9999: unix times beyond it are no moment a store can have.
_MAX_UNIX_TIME = 253402300799


def _as_utc(moment: datetime | date, name: str) -> datetime:
    return aware_datetime(moment, name, error=FilterError)


def _check_order_id(value: object, name: str) -> int:
    return whole_number(value, name, minimum=0, maximum=MAX_ID, error=FilterError)


def _check_paging(paging: object) -> Paging | None:
    if paging is None:
        return None
    if not callable(getattr(paging, "walk", None)) or not isinstance(
        getattr(paging, "concurrency", None), int
    ):
        raise FilterError(
            f"paging must be a Paging such as KeysetPaging('id') or OffsetPaging(), not {shown(paging)}"
        )
    return paging  # type: ignore[return-value]


class _Watermark:
    """When a pull started, as the store's clock saw it (never later than the real start).

    Taken as the earlier of our clock when the first request left and the store's ``Date`` header minus
    that request's round trip, so a store clock running behind ours cannot make the next pull skip orders.
    """

    def __init__(self) -> None:
        self.started: float | None = None

    def answered(self, sent: float, response: httpx.Response) -> None:
        """A page came back: it was sent at ``sent`` (our clock) and answered with ``response``."""
        self.started = sent if self.started is None else min(self.started, sent)
        server = http_date(response.headers.get("date"))
        if server is None:
            return
        try:
            elapsed = response.elapsed.total_seconds()
        except RuntimeError:  # only set once the response was read
            elapsed = 0.0
        self.started = min(self.started, server - elapsed)

    def value(self) -> datetime:
        if self.started is None:
            raise RuntimeError("no request was sent")
        return datetime.fromtimestamp(math.floor(self.started), tz=timezone.utc)


#: What a pull's ``page_size`` may be: a fixed size, a policy, or ``None`` (the default adaptive policy).
PageSize = int | AdaptivePageSize | None


def _page_policy(page_size: PageSize) -> tuple[int, AdaptivePageSize | None]:
    """The first page's size and the adaptive policy (``None`` when the size is fixed)."""
    if page_size is None:
        return DEFAULT_ADAPTIVE.start, DEFAULT_ADAPTIVE
    if isinstance(page_size, AdaptivePageSize):
        return page_size.start, page_size
    return check_page_size(page_size, name="page_size"), None


def _time_limits(config: ClientConfig) -> tuple[float | None, float]:
    """The limits a page must finish well inside: the read timeout and the multicall time budget."""
    budget = float(config.api_timeout) if config.api_timeout is not None else MIVA_DEFAULT_BUDGET
    return config.timeout.read, budget


class _Plan:
    """Everything about a pull that does not depend on sync or async."""

    def __init__(
        self,
        query: OrderQuery,
        paging: Paging,
        page_size: PageSize,
        *,
        skip_ids: Collection[int] = (),
    ) -> None:
        self.query = query
        self.paging = paging
        self.page_size, self.policy = _page_policy(page_size)
        self.sizer: PageSizer | None = None
        self.walk: Walk = paging.walk(query, self.page_size)
        self.skip_ids = frozenset(skip_ids)
        self.pages = 0
        self.requests = 0
        self.delivered = 0
        self.exhausted = False
        self.total_count: int | None = None

    @property
    def concurrency(self) -> int:
        return max(1, self.paging.concurrency)

    def adapt(self, config: ClientConfig) -> None:
        """Start sizing pages adaptively, within the client's time limits (no-op for a fixed size)."""
        if self.policy is not None:
            self.sizer = self.policy.sizer(*_time_limits(config), in_flight=self.concurrency)

    def sized(self, request: PageRequest) -> PageRequest:
        """``request`` at the current adaptive page size (probes and fixed sizes are left alone).

        Safe mid-walk: a keyset step starts after the last row seen, an offset step after the rows
        delivered, whatever the size of the page before.
        """
        if self.sizer is None or not request.emit or request.count == self.sizer.size:
            return request
        return attrs.evolve(request, count=self.sizer.size)

    def answered(self, request: PageRequest, elapsed: float) -> None:
        if self.sizer is not None and request.emit:
            self.sizer.answered(request.count, elapsed)

    def failed(self, exc: BaseException) -> None:
        failure = classify_failure(exc)
        if self.sizer is not None and failure is not None:
            self.sizer.failed(failure)

    def call(self, request: PageRequest) -> Call:
        return _list_call(page_request_params(self.query, request))

    def accept(self, request: PageRequest, page: Page[Order]) -> tuple[list[PageRequest], list[Order]]:
        """Follow-up requests and the orders to hand out for one answered page."""
        self.requests += 1
        follow = self.walk.advance(request, page)
        if not request.emit:
            return follow, []
        if self.pages == 0 and request.offset == 0:
            self.total_count = page.total_count
        self.pages += 1
        return follow, [o for o in page.items if o.id not in self.skip_ids]


class _Pull:
    """What both iterator types share: the pull's plan, its pending pages, and read-only counters."""

    def __init__(
        self, client: Client | AsyncClient, config: ClientConfig, plan: _Plan, watermark: _Watermark | None
    ) -> None:
        plan.adapt(config)
        self._client = client
        self._plan = plan
        self._watermark = watermark
        self._pending = _Pending(plan)

    def __repr__(self) -> str:
        return _display.pull_repr(self, self._client.store_code)

    def _repr_html_(self) -> str:
        return _display.pull_html(self, self._client.store_code)

    def _conversation(self) -> Stream:
        return _pull(self._plan, self._pending.requests(), self._watermark)

    @property
    def pages(self) -> int:
        """Pages of orders received so far."""
        return self._plan.pages

    @property
    def requests(self) -> int:
        """Page requests answered so far (probes included)."""
        return self._plan.requests

    @property
    def delivered(self) -> int:
        """Orders handed out so far."""
        return self._plan.delivered

    @property
    def exhausted(self) -> bool:
        return self._plan.exhausted

    @property
    def page_size(self) -> int:
        """The size the next page asks for: fixed, or where the adaptive policy has got to."""
        sizer = self._plan.sizer
        return self._plan.page_size if sizer is None else sizer.size

    @property
    def page_size_changes(self) -> list[tuple[int, int, str]]:
        """Each change of the adaptive page size so far, as ``(from, to, why)``; empty for a fixed size."""
        sizer = self._plan.sizer
        return [] if sizer is None else list(sizer.changes)

    @property
    def total_count(self) -> int | None:
        """How many orders matched when the first page was read (``None`` before that): a progress hint,
        not a promise — orders change while a pull runs."""
        return self._plan.total_count

    @property
    def watermark(self) -> datetime:
        """Where the next :meth:`~Orders.updated_since` pull should start: never later than this pull's start.

        Valid once the iterator is exhausted.
        """
        if self._watermark is None:
            raise RuntimeError("this pull has no watermark; use orders.updated_since()")
        if not self._plan.exhausted:
            raise RuntimeError("the watermark is known once the iterator is exhausted")
        return self._watermark.value()


class _PageFetch:
    """One page request of a pull, sized when it is sent (again before each retry, when adaptive)."""

    label = FUNCTION

    def __init__(self, plan: _Plan, page: PageRequest) -> None:
        self._plan = plan
        self.page = page
        self.sized = page

    @property
    def replans(self) -> bool:
        return self._plan.sizer is not None

    def request(self) -> Call:
        self.sized = self._plan.sized(self.page)
        return self._plan.call(self.sized)

    def answered(self, response: httpx.Response, elapsed: float) -> None:
        self._plan.answered(self.sized, elapsed)

    def failed(self, exc: BaseException) -> None:
        self._plan.failed(exc)


def _pull(plan: _Plan, pending: deque[PageRequest], watermark: _Watermark | None) -> Stream:
    """A pull as a streaming conversation. At most ``concurrency`` pages are in flight, one per lane; the
    pages that follow an answer go out before its orders are handed over, so the store works on them while
    the caller consumes these. Pages sent but not yet accepted go back to the front of ``pending`` when
    the pull fails or stops, so the iterator resumes there."""
    keys = itertools.count()
    unanswered: dict[int, _PageFetch] = {}

    def launches() -> Iterator[Launch]:
        while pending and len(unanswered) < plan.concurrency:
            fetch = _PageFetch(plan, pending.popleft())
            key = next(keys)
            unanswered[key] = fetch
            yield Launch(key, fetch)

    try:
        yield from launches()
        while unanswered:
            landed: Landed = yield Next()
            fetch = unanswered[landed.key]
            if watermark is not None:
                watermark.answered(landed.sent, landed.response)
            follow, orders = plan.accept(fetch.sized, _decode(landed.answer))
            del unanswered[landed.key]  # answered: only now does it leave the queue
            pending.extend(follow)
            yield from launches()
            yield Emit(orders)
        plan.exhausted = True
    finally:
        pending.extendleft(reversed([fetch.page for fetch in unanswered.values()]))


class OrderIterator(_Pull, Iterator[Order]):
    """Streams the orders of a pull, one page in memory at a time per lane, with the next page already on
    its way while the caller consumes this one."""

    def __init__(
        self, client: Client, driver: Driver, plan: _Plan, watermark: _Watermark | None = None
    ) -> None:
        super().__init__(client, driver.config, plan, watermark)
        self._driver = driver
        self._orders: Iterator[Order] | None = None

    def __iter__(self) -> OrderIterator:
        return self

    def __next__(self) -> Order:
        if self._orders is None:
            self._orders = self._driver.stream(self._conversation())
        try:
            order: Order = next(self._orders)
        except StopIteration:
            raise
        except BaseException:
            # The failed page is still pending: the next call asks for it again, never ends quietly.
            self._orders = None
            raise
        self._plan.delivered += 1
        return order


class AsyncOrderIterator(_Pull, AsyncIterator[Order]):
    """:class:`OrderIterator` for an :class:`~mivaorders.AsyncClient`: ``async for``, and :meth:`aclose`
    to stop early."""

    def __init__(
        self, client: AsyncClient, driver: AsyncDriver, plan: _Plan, watermark: _Watermark | None = None
    ) -> None:
        super().__init__(client, driver.config, plan, watermark)
        self._driver = driver
        self._orders: AsyncIterator[Order] | None = None
        self._closed = False

    def __aiter__(self) -> AsyncOrderIterator:
        return self

    async def __anext__(self) -> Order:
        if self._closed:
            raise StopAsyncIteration
        if self._orders is None:
            self._orders = self._driver.stream(self._conversation())
        try:
            order: Order = await self._orders.__anext__()
        except StopAsyncIteration:
            raise
        except BaseException:
            # The pages not yet answered went back to the pending queue: the next call resumes there.
            self._orders = None
            raise
        self._plan.delivered += 1
        return order

    async def aclose(self) -> None:
        """Stop early: cancel the page requests still in flight."""
        self._closed = True
        if isinstance(self._orders, AsyncGenerator):
            await self._orders.aclose()


class _Pending:
    """The page requests of a pull not yet answered. They outlive a failure, so that an iterator the
    caller keeps using after catching an error resumes where it stopped instead of ending quietly."""

    def __init__(self, plan: _Plan) -> None:
        self._plan = plan
        self._queue: deque[PageRequest] | None = None

    def requests(self) -> deque[PageRequest]:
        if self._queue is None:
            self._queue = deque(self._plan.walk.start())
        return self._queue


def _page_steps(call: Call) -> Steps[Page[Order]]:
    envelope, _ = yield from ask(call)
    return _decode(envelope)


def _query(
    where: Expr | None,
    sort: str | SortKey | None,
    columns: Iterable[str] | None,
    passphrase: str | None,
) -> OrderQuery:
    return OrderQuery.build(where=where, sort=sort, columns=columns, passphrase=passphrase)


def _iter_plan(query: OrderQuery, page_size: PageSize, paging: Paging | None) -> _Plan:
    return _Plan(query, _check_paging(paging) or default_paging(query), page_size)


def _placed_between_plan(
    start: datetime | date,
    end: datetime | date,
    where: Expr | None,
    query: OrderQuery,
    page_size: PageSize,
    paging: Paging | None,
) -> _Plan:
    low, high = _as_utc(start, "start"), _as_utc(end, "end")
    if low >= high:
        raise FilterError(f"start ({low.isoformat()}) must be before end ({high.isoformat()})")
    window = (F.orderdate >= low) & (F.orderdate < high)
    full = window if where is None else where & window
    return _Plan(query.evolve(where=full), _check_paging(paging) or default_paging(query), page_size)


def _updated_since_plan(
    since: datetime | date | int,
    lookback: timedelta,
    where: Expr | None,
    query: OrderQuery,
    page_size: PageSize,
    paging: Paging | None,
) -> _Plan:
    if isinstance(since, int) and not isinstance(since, bool):
        seconds = whole_number(since, "since", minimum=0, maximum=_MAX_UNIX_TIME, error=FilterError)
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    elif isinstance(since, (datetime, date)):
        moment = _as_utc(since, "since")
    else:
        raise FilterError(
            f"since must be a timezone-aware datetime, a date or a unix time, not {shown(since)}"
        )
    lookback = duration(lookback, "lookback", error=FilterError)
    paging = _check_paging(paging)
    try:
        start = max(moment - lookback, _EPOCH)
    except OverflowError:  # a look-back past year 1 reaches every order there is
        start = _EPOCH
    # GE, not GT: dt_updated has one-second resolution and writes land concurrently.
    condition = require_effective(F.dt_updated >= start)
    full = condition if where is None else where & condition
    if query.sort not in (None, "dt_updated") and paging is None:
        raise FilterError("updated_since() pages by dt_updated; leave sort unset or pass paging=")
    chosen = paging or KeysetPaging("dt_updated")
    return _Plan(query.evolve(where=full), chosen, page_size)


def _after_number_plan(
    last_id: int,
    lookback: int,
    where: Expr | None,
    query: OrderQuery,
    page_size: PageSize,
    paging: Paging | None,
    skip_ids: Collection[int],
) -> _Plan:
    last_id = _check_order_id(last_id, "last_id")
    lookback = _check_order_id(lookback, "lookback")
    skip_ids = id_collection(skip_ids, "skip_ids", error=FilterError)
    paging = _check_paging(paging)
    condition = F.id > max(0, last_id - lookback)
    full = condition if where is None else where & condition
    if query.sort not in (None, "id"):
        raise FilterError("after_number() pages by id; leave sort unset")
    return _Plan(query.evolve(where=full), paging or KeysetPaging("id"), page_size, skip_ids=skip_ids)


_Iter = TypeVar("_Iter", OrderIterator, AsyncOrderIterator)
_PageR = TypeVar("_PageR")  # Page[Order], or a coroutine of one
_OrderR = TypeVar("_OrderR")  # Order | None, or a coroutine of one


class _OrdersApi(Generic[_Iter, _PageR, _OrderR]):
    """``client.orders``, written once for both clients: each method checks its arguments and builds the
    conversation; the client's driver runs it (on :class:`~mivaorders.AsyncClient` the methods that send
    return a coroutine to await, and the pulls an async iterator)."""

    _client: Client | AsyncClient
    _run_page: Callable[[Steps[Page[Order]]], _PageR]
    _run_one: Callable[[Steps[Order | None]], _OrderR]
    _iterate: Callable[[_Plan, _Watermark | None], _Iter]

    def __repr__(self) -> str:
        return _display.resource_repr(self, self._client)

    def list(
        self,
        *,
        where: Expr | None = None,
        sort: str | SortKey | None = None,
        count: int = 100,
        offset: int = 0,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
    ) -> _PageR:
        """One page of orders (one request): a :class:`~mivaorders.Page`. ``columns`` defaults to the
        whole order (:data:`~mivaorders.ALL_COLUMNS`); pass ``()`` for the base columns only."""
        query = _query(where, sort, columns, passphrase)
        return self._run_page(_page_steps(_list_call(query.params(count=count, offset=offset))))

    def get(
        self, order_id: int, *, columns: Iterable[str] | None = None, passphrase: str | None = None
    ) -> _OrderR:
        """The :class:`~mivaorders.Order` with this id, or ``None`` when there is none."""
        order_id = _check_order_id(order_id, "order_id")
        query = _query(None, None, columns, passphrase)
        call = _list_call(query.params(count=1, where=F.id == order_id, sort=None))
        lookup = first_of(_page_steps(call))  # not inferred from the return type: Page is invariant
        return self._run_one(lookup)

    def iter(
        self,
        *,
        where: Expr | None = None,
        sort: str | SortKey | None = None,
        page_size: PageSize = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        paging: Paging | None = None,
    ) -> _Iter:
        """Every matching order, streamed page by page (keyset by id unless ``paging`` says otherwise)."""
        query = _query(where, sort, columns, passphrase)
        return self._iterate(_iter_plan(query, page_size, paging), None)

    def placed_between(
        self,
        start: datetime | date,
        end: datetime | date,
        *,
        where: Expr | None = None,
        page_size: PageSize = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        paging: Paging | None = None,
    ) -> _Iter:
        """Orders placed in ``[start, end)`` by ``orderdate``. Changes to older orders are not seen."""
        query = _query(None, None, columns, passphrase)
        return self._iterate(_placed_between_plan(start, end, where, query, page_size, paging), None)

    def updated_since(
        self,
        since: datetime | date | int,
        *,
        lookback: timedelta = timedelta(0),
        where: Expr | None = None,
        page_size: PageSize = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        paging: Paging | None = None,
    ) -> _Iter:
        """New and updated orders with ``dt_updated >= since - lookback`` (Miva 10.03+).

        Keyset-paged by ``(dt_updated, id)``, so orders updated during the pull are not skipped (they come
        again, newer). Once exhausted, the iterator's ``watermark`` is the ``since`` of the next pull.
        """
        query = _query(None, None, columns, passphrase)
        plan = _updated_since_plan(since, lookback, where, query, page_size, paging)
        return self._iterate(plan, _Watermark())

    def after_number(
        self,
        last_id: int,
        *,
        lookback: int = 30,
        where: Expr | None = None,
        page_size: PageSize = None,
        columns: Iterable[str] | None = None,
        passphrase: str | None = None,
        paging: Paging | None = None,
        skip_ids: Collection[int] = (),
    ) -> _Iter:
        """Every order with an id above ``last_id - lookback``, each once, by id.

        Miva skips order numbers and completes lower numbers after higher ones, so the look-back (counted
        in order numbers) re-reads the last ones; ``skip_ids`` leaves out ones you already hold.
        """
        query = _query(None, None, columns, passphrase)
        plan = _after_number_plan(last_id, lookback, where, query, page_size, paging, skip_ids)
        return self._iterate(plan, None)


class Orders(_OrdersApi[OrderIterator, Page[Order], Order | None], OrderWritesApi[None, OrderShipment]):
    """Order queries for :class:`~mivaorders.Client` (``client.orders``), and write-back
    (``set_custom_fields``, ``fulfil``)."""

    def __init__(self, client: Client, driver: Driver) -> None:
        self._client = client
        self._run_page = self._run_one = self._run_none = self._run_shipment = driver.run
        self._iterate = functools.partial(OrderIterator, client, driver)


class AsyncOrders(
    _OrdersApi[AsyncOrderIterator, Awaited[Page[Order]], Awaited[Order | None]],
    OrderWritesApi[Awaited[None], Awaited[OrderShipment]],
):
    """Order queries for :class:`~mivaorders.AsyncClient` (``client.orders``): the methods of
    :class:`Orders`, whose requests are awaited and whose pulls are async iterators."""

    def __init__(self, client: AsyncClient, driver: AsyncDriver) -> None:
        self._client = client
        self._run_page = self._run_one = self._run_none = self._run_shipment = driver.run
        self._iterate = functools.partial(AsyncOrderIterator, client, driver)
