"""Incremental order sync: keep a copy of a store's orders up to date, resumably, without losing one.

A sync runs one of the seed's pull methods as a *strategy*, hands each batch to a *sink*, and only then
moves its *checkpoint* (or, for a queue, acknowledges). Killed at any point and restarted, it resumes from
the last checkpoint; whatever was delivered twice is absorbed by the sink's upsert (newest
``dt_updated`` wins).

Strategies:

- :class:`ByLastUpdate` (default, Miva 10.03+): new and updated orders by ``dt_updated``, keyset-paged; the
  checkpoint is the keyset cursor while running and the pull's watermark once complete.
- :class:`ByQueue`: drain an order workflow queue (with acknowledgement by default; without, lost pages are
  found again in the destination queue); the queue itself is the checkpoint.
- :class:`ByOrderNumber`: orders above the highest id seen, with a look-back for late completions.
- :class:`ByDateRange`: orders placed since the last run (updates to older orders are not seen).

Sinks: :class:`SQLiteSink` (default; batch and checkpoint in one transaction), :class:`JsonLinesSink`,
:class:`CallbackSink`; checkpoint stores: the SQLite sink itself, :class:`JsonFileCheckpoints`,
:class:`MemoryCheckpoints`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from ._client import async_driver, sync_driver
from ._conversation import Awaited, Close, Now, Seen, Steps, Take, handling
from ._exceptions import ArgumentError
from ._lost_pages import RETRIEVED_QUEUE, StoreTime, check_moved_to
from ._query import check_page_size
from ._sinks import (
    CallbackSink,
    Checkpoint,
    CheckpointStore,
    JsonFileCheckpoints,
    JsonLinesSink,
    MemoryCheckpoints,
    Sink,
    SQLiteSink,
    TransactionalSink,
    order_json,
)
from ._unix_time import unix_seconds
from ._validate import MAX_ID, aware_datetime, callable_, duration, shown, whole_number
from .filters import PAYMENT_DATA, F, check_columns
from .models import Order
from .orders import AsyncOrderIterator, AsyncOrders, OrderIterator, Orders
from .queues import DrainStop, _check_queue_code, _drain_steps, _QueuesBase

if TYPE_CHECKING:
    from ._client import AsyncClient, Client, ClientConfig

__all__ = [
    "AsyncOrderSync",
    "ByDateRange",
    "ByLastUpdate",
    "ByOrderNumber",
    "ByQueue",
    "CallbackSink",
    "Checkpoint",
    "CheckpointStore",
    "JsonFileCheckpoints",
    "JsonLinesSink",
    "MemoryCheckpoints",
    "OrderSync",
    "SQLiteSink",
    "Sink",
    "Strategy",
    "SyncProgress",
    "SyncReport",
    "TransactionalSink",
    "latest_by_id",
    "order_json",
]

_ClientT = TypeVar("_ClientT", "Client", "AsyncClient")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Orders per checkpoint commit when neither batch_size nor a fixed page_size says otherwise.
DEFAULT_BATCH_SIZE = 100


def _check_columns(columns: Iterable[str] | None) -> tuple[str, ...] | None:
    if columns is None:
        return None
    chosen = tuple(check_columns(columns))  # a misspelt column fails here, not at the first run
    if PAYMENT_DATA in chosen:
        raise ArgumentError("incremental sync does not store decrypted payment data; drop 'payment_data'")
    return chosen


def _since(value: object) -> datetime:
    """A timezone-aware datetime or a date, in UTC: a naive one is refused, not read as local time."""
    return aware_datetime(value, "since")


def _start(value: object) -> datetime:
    return aware_datetime(value, "start")


def _lookback(value: object) -> timedelta:
    return duration(value, "lookback")


def _start_after(value: object) -> int:
    return whole_number(value, "start_after", minimum=0, maximum=MAX_ID)


def _id_lookback(value: object) -> int:
    return whole_number(value, "lookback", minimum=0, maximum=MAX_ID)


def _check_page_size(_: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None:  # None: the adaptive page size
        check_page_size(value, name=attribute.name)


def _check_strategy(strategy: object) -> Strategy | ByQueue:
    if isinstance(strategy, ByQueue):
        return strategy
    if isinstance(strategy, type):
        raise ArgumentError(f"strategy must be an instance, e.g. {strategy.__name__}(), not the class itself")
    needed = ("name", "page_size", "pull", "after_batch", "after_pull")
    if isinstance(strategy, (str, bytes)) or not all(hasattr(strategy, attr) for attr in needed):
        raise ArgumentError(
            "strategy must be ByLastUpdate(), ByQueue(code), ByOrderNumber(), ByDateRange() or another "
            f"Strategy, not {shown(strategy)}"
        )
    return strategy  # type: ignore[return-value]


class Strategy(Protocol):
    """How a sync pulls: the pull it starts from a checkpoint, and the checkpoint after each batch."""

    @property
    def name(self) -> str:
        """Names the checkpoint format; a checkpoint of another strategy is refused."""
        ...

    @property
    def page_size(self) -> int | None:
        """The pull's page size; ``None`` lets it adapt (:class:`~mivaorders.AdaptivePageSize`)."""
        ...

    def pull(
        self, orders: Orders | AsyncOrders, checkpoint: Checkpoint | None
    ) -> OrderIterator | AsyncOrderIterator:
        """Start the pull that resumes from ``checkpoint`` (``None``: the first run) on ``client.orders``
        (the two resources have the same methods, so one strategy serves both clients)."""
        ...

    def after_batch(self, checkpoint: Checkpoint | None, batch: Sequence[Order]) -> Checkpoint:
        """The checkpoint once ``batch`` (the next orders of the pull, in its order) is stored."""
        ...

    def after_pull(
        self, checkpoint: Checkpoint | None, pull: OrderIterator | AsyncOrderIterator
    ) -> Checkpoint:
        """The checkpoint once the whole pull is stored."""
        ...


def _state(checkpoint: Checkpoint | None, name: str) -> Mapping[str, Any]:
    if checkpoint is None:
        return {}
    if checkpoint.strategy != name:
        raise ArgumentError(
            f"the saved checkpoint belongs to strategy {checkpoint.strategy!r}, not {name!r}; "
            "use another sync name to run a different strategy"
        )
    return checkpoint.state


@attrs.frozen(kw_only=True)
class ByLastUpdate:
    """New and updated orders by ``dt_updated`` (Miva 10.03+).

    While running, the checkpoint is the keyset cursor ``(dt_updated, id)`` of the last stored order; once a
    pull completes it is the pull's watermark (never later than the pull's start). ``lookback`` widens each
    pull into the past, for stores whose clock or replication may lag.
    """

    name: str = "last_update"
    since: datetime = attrs.field(default=_EPOCH, converter=_since)
    lookback: timedelta = attrs.field(default=timedelta(seconds=0), converter=_lookback)
    page_size: int | None = attrs.field(default=None, validator=_check_page_size)
    columns: tuple[str, ...] | None = attrs.field(default=None, converter=_check_columns)

    def _since(self, checkpoint: Checkpoint | None) -> tuple[int, timedelta]:
        state = _state(checkpoint, self.name)
        cursor = state.get("cursor")
        if cursor is not None:
            # Resume mid-pull: everything before the cursor is stored. GE re-reads the cursor's second.
            return int(cursor[0]), timedelta(0)
        return int(state.get("since", unix_seconds(self.since))), self.lookback

    def pull(
        self, orders: Orders | AsyncOrders, checkpoint: Checkpoint | None
    ) -> OrderIterator | AsyncOrderIterator:
        since, lookback = self._since(checkpoint)
        return orders.updated_since(since, lookback=lookback, page_size=self.page_size, columns=self.columns)

    def after_batch(self, checkpoint: Checkpoint | None, batch: Sequence[Order]) -> Checkpoint:
        state = dict(_state(checkpoint, self.name))
        last = batch[-1]
        state["cursor"] = [unix_seconds(last.dt_updated), last.id]
        state.setdefault("since", unix_seconds(self.since))
        return Checkpoint(self.name, state)

    def after_pull(
        self, checkpoint: Checkpoint | None, pull: OrderIterator | AsyncOrderIterator
    ) -> Checkpoint:
        return Checkpoint(self.name, {"since": unix_seconds(pull.watermark), "cursor": None})


@attrs.frozen(kw_only=True)
class ByOrderNumber:
    """Orders above the highest id stored, re-reading ``lookback`` order numbers each run (Miva skips
    numbers and completes lower ones after higher ones). Sees new orders only, not updates."""

    name: str = "order_number"
    start_after: int = attrs.field(default=0, converter=_start_after)
    lookback: int = attrs.field(default=30, converter=_id_lookback)
    page_size: int | None = attrs.field(default=None, validator=_check_page_size)
    columns: tuple[str, ...] | None = attrs.field(default=None, converter=_check_columns)

    def _last(self, checkpoint: Checkpoint | None) -> tuple[int, int]:
        state = _state(checkpoint, self.name)
        if state.get("running"):
            return int(state["last_id"]), 0  # resuming mid-pull: the look-back was already read
        return int(state.get("last_id", self.start_after)), self.lookback

    def pull(
        self, orders: Orders | AsyncOrders, checkpoint: Checkpoint | None
    ) -> OrderIterator | AsyncOrderIterator:
        last_id, lookback = self._last(checkpoint)
        return orders.after_number(last_id, lookback=lookback, page_size=self.page_size, columns=self.columns)

    def after_batch(self, checkpoint: Checkpoint | None, batch: Sequence[Order]) -> Checkpoint:
        state = dict(_state(checkpoint, self.name))
        previous = int(state.get("last_id", self.start_after))
        return Checkpoint(self.name, {"last_id": max(previous, batch[-1].id), "running": True})

    def after_pull(
        self, checkpoint: Checkpoint | None, pull: OrderIterator | AsyncOrderIterator
    ) -> Checkpoint:
        state = _state(checkpoint, self.name)
        return Checkpoint(
            self.name, {"last_id": int(state.get("last_id", self.start_after)), "running": False}
        )


@attrs.frozen(kw_only=True)
class ByDateRange:
    """Orders placed since the last run, in half-open windows ``[from, to)`` on ``orderdate``.

    Changes to orders placed before the window are *not* seen: pair it with :class:`ByLastUpdate` if they
    matter. ``lookback`` re-reads the end of the previous window.
    """

    name: str = "date_range"
    start: datetime = attrs.field(default=_EPOCH, converter=_start)
    lookback: timedelta = attrs.field(default=timedelta(minutes=5), converter=_lookback)
    page_size: int | None = attrs.field(default=None, validator=_check_page_size)
    columns: tuple[str, ...] | None = attrs.field(default=None, converter=_check_columns)
    clock: Callable[[], float] = attrs.field(default=time.time, repr=False)

    @clock.validator
    def _check_clock(self, _: attrs.Attribute[Callable[[], float]], value: Callable[[], float]) -> None:
        callable_(value, "clock")

    def _window(self, checkpoint: Checkpoint | None) -> tuple[int, int, int]:
        state = _state(checkpoint, self.name)
        if state.get("to") is not None:
            # Resuming a window: same bounds, after the last id stored.
            return int(state["from"]), int(state["to"]), int(state.get("after_id", 0))
        low = int(state.get("from", unix_seconds(self.start)))
        if checkpoint is not None:
            low -= int(self.lookback.total_seconds())
        high = math.floor(self.clock()) + 1  # through the current second
        return max(low, 0), high, 0

    def _args(self, checkpoint: Checkpoint | None) -> tuple[datetime, datetime, Any]:
        low, high, after_id = self._window(checkpoint)
        where = F.id > after_id if after_id else None
        # Not from_unix_seconds: these are window bounds, where 0 is the epoch itself, not "never".
        return (
            datetime.fromtimestamp(low, tz=timezone.utc),
            datetime.fromtimestamp(high, tz=timezone.utc),
            where,
        )

    def pull(
        self, orders: Orders | AsyncOrders, checkpoint: Checkpoint | None
    ) -> OrderIterator | AsyncOrderIterator:
        low, high, where = self._args(checkpoint)
        return orders.placed_between(low, high, where=where, page_size=self.page_size, columns=self.columns)

    def after_batch(self, checkpoint: Checkpoint | None, batch: Sequence[Order]) -> Checkpoint:
        low, high, _ = self._window(checkpoint)
        return Checkpoint(self.name, {"from": low, "to": high, "after_id": batch[-1].id})

    def after_pull(
        self, checkpoint: Checkpoint | None, pull: OrderIterator | AsyncOrderIterator
    ) -> Checkpoint:
        _, high, _ = self._window(checkpoint)
        return Checkpoint(self.name, {"from": high, "to": None})


@attrs.frozen(kw_only=True)
class ByQueue:
    """Drain an order workflow queue: each batch is stored, then acknowledged.

    The queue is the checkpoint, so a crash re-delivers at most the batch in flight. Only the store's
    queueing triggers put orders in the queue; pair it with a periodic :class:`ByLastUpdate` to catch the
    rest.

    ``acknowledge=False`` is for stores whose retrieval workflow moves orders out as they load, into
    ``moved_to``: a batch whose answer is lost is found again there (see ``queues.drain``);
    ``moved_to=None`` accepts losing it instead. A process killed between a load and storing its batch
    loses that batch from the queue either way: reconcile with :class:`ByLastUpdate`.
    """

    queue_code: str = attrs.field(converter=_check_queue_code)
    name: str = "queue"
    page_size: int | None = attrs.field(default=None, validator=_check_page_size)
    columns: tuple[str, ...] | None = attrs.field(default=None, converter=_check_columns)
    acknowledge: bool = True
    moved_to: str | None = attrs.field(default=RETRIEVED_QUEUE)

    @moved_to.validator
    def check_moved_to(self, _: attrs.Attribute[str | None], value: str | None) -> None:
        check_moved_to(value, self.queue_code if isinstance(self.queue_code, str) else "")


@attrs.frozen
class SyncProgress:
    """Where a running sync is (for progress bars)."""

    orders: int
    batches: int
    elapsed: float
    total: int | None


@attrs.frozen
class SyncReport:
    """What a sync run did."""

    name: str
    strategy: str
    orders: int
    batches: int
    elapsed: float
    resumed: bool
    complete: bool
    checkpoint: Checkpoint | None
    detail: str = ""


def latest_by_id(orders: Iterable[Order]) -> dict[int, Order]:
    """Collapse re-deliveries: the version with the newest ``dt_updated`` per order id."""
    newest: dict[int, Order] = {}
    for order in orders:
        kept = newest.get(order.id)
        if kept is None or unix_seconds(order.dt_updated) >= unix_seconds(kept.dt_updated):
            newest[order.id] = order
    return newest


class _Runner:
    """The commit protocol of a sync: store the batch, *then* move the checkpoint. Pure bookkeeping around
    the sink: the clock's readings come in from the conversation (the driver reads the clock)."""

    def __init__(
        self,
        sink: Sink,
        strategy: Strategy | ByQueue | None,
        checkpoints: CheckpointStore | None,
        name: str,
        batch_size: int | None,
        progress: Callable[[SyncProgress], None] | None,
    ) -> None:
        if not isinstance(sink, Sink):
            raise ArgumentError(
                f"sink must have a write(orders) method (SQLiteSink, JsonLinesSink, ...), not {shown(sink)}"
            )
        if checkpoints is not None and not isinstance(checkpoints, CheckpointStore):
            raise ArgumentError(
                f"checkpoints must be a CheckpointStore such as JsonFileCheckpoints, not {shown(checkpoints)}"
            )
        if progress is not None:
            callable_(progress, "progress")
        self.sink = sink
        chosen_strategy = ByLastUpdate() if strategy is None else _check_strategy(strategy)
        self.strategy_name = chosen_strategy.name
        # A sink that keeps the checkpoints itself stores each batch and its checkpoint in one transaction.
        self.transactional: TransactionalSink | None = None
        if checkpoints is None:
            if isinstance(sink, TransactionalSink):
                self.transactional = sink
                checkpoints = sink
            elif isinstance(sink, CheckpointStore):
                checkpoints = sink
            elif isinstance(chosen_strategy, ByQueue):
                checkpoints = MemoryCheckpoints()  # the queue is the checkpoint
            else:
                raise ArgumentError(
                    f"{type(sink).__name__} keeps no checkpoints; pass checkpoints=JsonFileCheckpoints(...)"
                )
        self.checkpoints: CheckpointStore = checkpoints
        if not isinstance(name, str) or not name:
            raise ArgumentError("name must be a non-empty string")
        self.name = name
        # A batch is what one checkpoint commit covers; an adaptive pull's pages do not set it.
        chosen = chosen_strategy.page_size or DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        self.batch_size = check_page_size(chosen, name="batch_size")
        self.progress = progress
        # How the orders arrive, chosen once: a drain hands out pages, a pull is consumed in batches.
        self.source: _QueueSource | _PullSource = (
            _QueueSource(
                chosen_strategy, chosen_strategy.page_size if batch_size is None else self.batch_size
            )
            if isinstance(chosen_strategy, ByQueue)
            else _PullSource(chosen_strategy)
        )
        self.begin(0.0)

    def begin(self, now: float) -> None:
        """Start the counters of one run, which starts at ``now`` (the client's clock)."""
        self.orders = 0
        self.batches = 0
        self.started = now

    def load(self) -> Checkpoint | None:
        return self.checkpoints.load_checkpoint(self.name)

    def commit(
        self, orders: Sequence[Order], checkpoint: Checkpoint | None, now: float, total: int | None = None
    ) -> None:
        if orders:
            if checkpoint is not None and self.transactional is not None:
                self.transactional.write_with_checkpoint(orders, self.name, checkpoint)
            else:
                self.sink.write(orders)  # durably stored first ...
                if checkpoint is not None:
                    self.checkpoints.save_checkpoint(self.name, checkpoint)  # ... then the checkpoint moves
            self.orders += len(orders)
            self.batches += 1
        elif checkpoint is not None:
            self.checkpoints.save_checkpoint(self.name, checkpoint)
        if self.progress is not None:
            self.progress(SyncProgress(self.orders, self.batches, now - self.started, total))

    def report(
        self, now: float, resumed: bool, complete: bool, checkpoint: Checkpoint | None, detail: str = ""
    ) -> SyncReport:
        return SyncReport(
            name=self.name,
            strategy=self.strategy_name,
            orders=self.orders,
            batches=self.batches,
            elapsed=now - self.started,
            resumed=resumed,
            complete=complete,
            checkpoint=checkpoint,
            detail=detail,
        )


@attrs.frozen
class _Context:
    """What a sync's conversation needs of its client: the orders resource (for a strategy's pull), the
    configuration (a drain's time limits) and the store's clock as its answers show it."""

    orders: Orders | AsyncOrders
    config: ClientConfig
    store_time: StoreTime


@attrs.frozen
class _PullSource:
    """A pull strategy's run: consume the pull in batches, each stored before the checkpoint moves past it."""

    strategy: Strategy

    def steps(self, runner: _Runner, context: _Context, max_batches: int | None) -> Steps[SyncReport]:
        strategy = self.strategy
        runner.begin((yield Now()))
        checkpoint = runner.load()
        resumed = checkpoint is not None
        pull = strategy.pull(context.orders, checkpoint)
        while True:
            batch: list[Order] = yield Take(pull, runner.batch_size)
            if batch:
                checkpoint = strategy.after_batch(checkpoint, batch)
                runner.commit(batch, checkpoint, (yield Now()), pull.total_count)
            if len(batch) < runner.batch_size:
                break  # the pull is exhausted
            if max_batches is not None and runner.batches >= max_batches:
                yield Close(pull)
                return runner.report((yield Now()), resumed, False, checkpoint, "stopped after max_batches")
        # Exhausted: the checkpoint moves to where the next run starts.
        checkpoint = strategy.after_pull(checkpoint, pull)
        now = yield Now()
        runner.commit((), checkpoint, now)
        return runner.report(now, resumed, True, checkpoint)


@attrs.frozen
class _QueueSource:
    """A queue's run: the drain's conversation, with storing each page as its handler (the queue is the
    checkpoint: a page is acknowledged only once it is stored)."""

    strategy: ByQueue
    page_size: int | None  # None: the drain adapts its page size

    def steps(self, runner: _Runner, context: _Context, max_batches: int | None) -> Steps[SyncReport]:
        strategy = self.strategy
        state = _QueuesBase._drain(
            strategy.queue_code,
            acknowledge=strategy.acknowledge,
            page_size=self.page_size,
            where=None,
            columns=strategy.columns,
            passphrase=None,
            guard_updates=True,
            max_pages=max_batches,
            moved_to=strategy.moved_to,
            config=context.config,
        )

        def store(orders: Sequence[Order]) -> Steps[None]:
            runner.commit(orders, None, (yield Now()))

        runner.begin((yield Now()))
        report = yield from handling(_drain_steps(state, context.store_time), store)
        detail = report.reason
        if report.recoveries:
            detail += (
                f"; {report.recoveries} lost answer(s), {report.recovered} order(s) recovered "
                f"from {report.moved_to!r}"
            )
        return runner.report((yield Now()), False, report.stopped is DrainStop.EMPTY, None, detail)


def _check_max_batches(max_batches: object) -> int | None:
    return None if max_batches is None else whole_number(max_batches, "max_batches", minimum=1)


_ReportR = TypeVar("_ReportR")  # SyncReport, or a coroutine of one


class _OrderSyncApi(Generic[_ClientT, _ReportR]):
    """Both syncs, written once: a client, the commit protocol around a sink, and a run that is one
    conversation for the client's driver."""

    _run: Callable[[Steps[SyncReport], None, Seen], _ReportR]

    _context: _Context

    def __init__(
        self,
        client: _ClientT,
        sink: Sink,
        *,
        strategy: Strategy | ByQueue | None = None,
        checkpoints: CheckpointStore | None = None,
        name: str = "orders",
        batch_size: int | None = None,
        progress: Callable[[SyncProgress], None] | None = None,
    ) -> None:
        self._runner = _Runner(sink, strategy, checkpoints, name, batch_size, progress)
        self._bind(client)

    def _bind(self, client: _ClientT) -> None:
        """Take the client's driver: its ``run`` and what the conversation needs."""
        raise NotImplementedError

    def run(self, *, max_batches: int | None = None) -> _ReportR:
        """Pull until the strategy's pull is complete (or ``max_batches`` batches are stored) and return a
        :class:`SyncReport` (awaitable on :class:`AsyncOrderSync`). Run it again, or after a crash, and it
        resumes where the last committed batch left off."""
        max_batches = _check_max_batches(max_batches)
        steps = self._runner.source.steps(self._runner, self._context, max_batches)
        return self._run(steps, None, self._context.store_time.saw)


class OrderSync(_OrderSyncApi["Client", SyncReport]):
    """Keeps ``sink`` up to date with the store behind a :class:`~mivaorders.Client`.

    ``OrderSync(client, SQLiteSink("orders.db")).run()`` pulls by last update, stores each batch and its
    checkpoint in one transaction, and returns a :class:`SyncReport`. Run it again (or after a crash) and it
    resumes where the last committed batch left off.
    """

    def _bind(self, client: Client) -> None:
        driver = sync_driver(client)
        self._run = driver.run
        self._context = _Context(client.orders, driver.config, StoreTime())


class AsyncOrderSync(_OrderSyncApi["AsyncClient", Awaited[SyncReport]]):
    """:class:`OrderSync` for an :class:`~mivaorders.AsyncClient`: ``await sync.run()`` (sinks are called
    synchronously)."""

    def _bind(self, client: AsyncClient) -> None:
        driver = async_driver(client)
        self._run = driver.run
        self._context = _Context(client.orders, driver.config, StoreTime())
