"""Issue 11, items 2, 5, 6 and 7: destructive calls checked before the first request, every argument
checked at the call with an error that names it, iterators that resume after an error, and secrets kept
out of reprs, messages and what exceptions hold on to."""

from __future__ import annotations

import asyncio
import math
import traceback
from collections.abc import Awaitable, Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

import mivaorders as mo
from mivaorders import (
    ArgumentError,
    AsyncClient,
    Client,
    ConfigurationError,
    HmacAuth,
    HTTPStatusError,
    MivaError,
    RetryPolicy,
    TokenAuth,
)
from mivaorders._envelope import Call, Multicall
from mivaorders.incremental import (
    AsyncOrderSync,
    ByDateRange,
    ByLastUpdate,
    ByOrderNumber,
    ByQueue,
    CallbackSink,
    JsonFileCheckpoints,
    JsonLinesSink,
    MemoryCheckpoints,
    OrderSync,
    SQLiteSink,
)
from mivaorders.pagination import FastPaging
from mivaorders.testing import FakeStore, Fault

ENDPOINT = "https://x.example/mm5/json.mvc"
UTC = timezone.utc


def _refusing_client() -> Client:
    """A client whose every request fails the test: the checks must come first."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a request was sent")

    return Client(
        ENDPOINT,
        store_code="S",
        auth=TokenAuth("t"),
        http_client=httpx.Client(transport=httpx.MockTransport(refuse)),
    )


def _refusing_async_client() -> AsyncClient:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("a request was sent")

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    return AsyncClient(ENDPOINT, store_code="S", auth=TokenAuth("t"), http_client=http)


# -- item 2: a call that destroys state checks every argument before its first request -----------------


def _moving_store() -> FakeStore:
    store = FakeStore(orders=50, seed=1, workflow="move")
    for _ in range(5):
        store.create_order()
    return store


def test_the_issue_reproducer_moves_nothing() -> None:
    store = _moving_store()
    queued = store.queue_members("new_and_updated")
    assert queued
    with store.client() as client, pytest.raises(ArgumentError, match="handler must be callable, not None"):
        client.queues.drain("new_and_updated", None, acknowledge=False)  # type: ignore[arg-type]
    assert store.queue_members("new_and_updated") == queued
    assert store.stats.requests == 0


def test_the_issue_reproducer_moves_nothing_async() -> None:
    store = _moving_store()
    queued = store.queue_members("new_and_updated")

    async def main() -> None:
        async with store.async_client() as client:
            with pytest.raises(ArgumentError, match="handler must be callable"):
                await client.queues.drain("new_and_updated", "print", acknowledge=False)  # type: ignore[arg-type]

    asyncio.run(main())
    assert store.queue_members("new_and_updated") == queued
    assert store.stats.requests == 0


def _take(orders: list[mo.Order]) -> None:
    return None


#: (keyword arguments of drain, a word the message must hold)
BAD_DRAINS: list[tuple[dict[str, Any], str]] = [
    ({"queue_code": ""}, "queue_code"),
    ({"queue_code": 5}, "queue_code"),
    ({"page_size": 0}, "page_size"),
    ({"page_size": 10**6}, "page_size"),
    ({"page_size": True}, "page_size"),
    ({"acknowledge": "no"}, "acknowledge"),
    ({"guard_updates": 1}, "guard_updates"),
    ({"max_pages": True}, "max_pages"),
    ({"max_pages": 0}, "max_pages"),
    ({"columns": ["no_such_column"]}, "no_such_column"),
    ({"columns": "items"}, "columns"),
    ({"where": "id > 1"}, "where"),
    ({"passphrase": ""}, "passphrase"),
    ({"handler": None}, "handler"),
    ({"handler": 42}, "handler"),
]


@pytest.mark.parametrize(("changes", "needle"), BAD_DRAINS)
@pytest.mark.parametrize("acknowledge", [False, True])
def test_drain_checks_everything_before_the_first_load(
    changes: dict[str, Any], needle: str, acknowledge: bool
) -> None:
    store = _moving_store()
    queued = store.queue_members("new_and_updated")
    kwargs: dict[str, Any] = {"queue_code": "new_and_updated", "handler": _take, "acknowledge": acknowledge}
    kwargs.update(changes)
    with store.client() as client, pytest.raises(ArgumentError, match=needle):
        client.queues.drain(**kwargs)
    assert store.stats.requests == 0
    assert store.queue_members("new_and_updated") == queued


@pytest.mark.parametrize(("changes", "needle"), BAD_DRAINS)
def test_async_drain_checks_everything_before_the_first_load(changes: dict[str, Any], needle: str) -> None:
    store = _moving_store()
    kwargs: dict[str, Any] = {"queue_code": "new_and_updated", "handler": _take, "acknowledge": False}
    kwargs.update(changes)

    async def main() -> None:
        async with store.async_client() as client:
            with pytest.raises(ArgumentError, match=needle):
                await client.queues.drain(**kwargs)

    asyncio.run(main())
    assert store.stats.requests == 0


BAD_QUEUE_CALLS: list[tuple[Callable[[Any], Any], str]] = [
    (lambda q: q.acknowledge(5), "order_ids"),
    (lambda q: q.acknowledge("123"), "order_ids"),
    (lambda q: q.acknowledge({1: 2}), "order_ids"),
    (lambda q: q.acknowledge([1, "2"]), "order id"),
    (lambda q: q.acknowledge([0]), "order id"),
    (lambda q: q.acknowledge([2**64]), "order id"),
    (lambda q: q.acknowledge([]), "empty"),
    (lambda q: q.load("new_and_updated", count=0), "count"),
    (lambda q: q.load("new_and_updated", offset=-1), "offset"),
    (lambda q: q.load("", count=5), "queue_code"),
    (lambda q: q.load("new_and_updated", acknowledge="yes"), "acknowledge"),
    (lambda q: q.load("new_and_updated", columns=["bogus"]), "bogus"),
]


@pytest.mark.parametrize(("call", "needle"), BAD_QUEUE_CALLS)
def test_queue_calls_check_before_sending(call: Callable[[Any], Any], needle: str) -> None:
    with _refusing_client() as client, pytest.raises(ArgumentError, match=needle):
        call(client.queues)


@pytest.mark.parametrize(("call", "needle"), BAD_QUEUE_CALLS)
def test_async_queue_calls_check_before_sending(call: Callable[[Any], Any], needle: str) -> None:
    async def main() -> None:
        async with _refusing_async_client() as client:
            with pytest.raises(ArgumentError, match=needle):
                await call(client.queues)

    asyncio.run(main())


def test_a_handler_returning_bad_ids_is_an_argument_error() -> None:
    store = FakeStore(orders=20, seed=1)
    with store.client() as client, pytest.raises(ArgumentError, match=r"rejects.*'a'"):
        client.queues.drain("new_and_updated", lambda orders: ["a"])  # type: ignore[list-item]
    assert store.stats.requests >= 1  # the load ran; nothing was acknowledged
    assert len(store.queue_members("new_and_updated")) > 0


def test_order_sync_with_a_queue_checks_before_draining(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="queue_code"):
        ByQueue(queue_code="")
    with pytest.raises(ArgumentError, match="no_such"):
        ByQueue(queue_code="new_and_updated", columns=["no_such"])
    store = _moving_store()
    queued = store.queue_members("new_and_updated")
    with store.client() as client:
        sync = OrderSync(
            client, SQLiteSink(tmp_path / "q.db"), strategy=ByQueue(queue_code="new_and_updated")
        )
        for bad in (0, True, "2"):
            with pytest.raises(ArgumentError, match="max_batches"):
                sync.run(max_batches=bad)  # type: ignore[arg-type]
    assert store.stats.requests == 0
    assert store.queue_members("new_and_updated") == queued


def test_cli_drain_checks_the_output_before_the_first_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mivaorders.cli import main

    store = _moving_store()
    queued = store.queue_members("new_and_updated")
    with store.serve() as endpoint:
        for name, value in (
            ("MIVA_ENDPOINT", endpoint),
            ("MIVA_STORE_CODE", store.store_code),
            ("MIVA_API_TOKEN", store.token),
            ("MIVA_SIGNING_KEY", store.signing_key),
        ):
            monkeypatch.setenv(name, value)
        target = tmp_path / "missing-dir" / "out.jsonl"
        code = main(["queue", "drain", "new_and_updated", "--no-ack", "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "cannot write" in err
    assert "Traceback" not in err
    assert store.stats.requests == 0
    assert store.queue_members("new_and_updated") == queued


# -- item 5: every argument checked at the call --------------------------------------------------------


#: Constructors: (build, the error class, a word the message must hold)
BAD_CONSTRUCTIONS: list[tuple[Callable[[], Any], type[MivaError], str]] = [
    (lambda: ByLastUpdate(since=datetime(2024, 1, 1)), ArgumentError, "since must be timezone-aware"),
    (lambda: ByLastUpdate(since="2024-01-01"), ArgumentError, "since"),
    (lambda: ByLastUpdate(lookback=5), ArgumentError, "lookback"),
    (lambda: ByLastUpdate(lookback=timedelta(seconds=-1)), ArgumentError, "lookback"),
    (lambda: ByLastUpdate(columns=["bogus"]), ArgumentError, "bogus"),
    (lambda: ByDateRange(start=datetime(2024, 1, 1)), ArgumentError, "start must be timezone-aware"),
    (lambda: ByDateRange(clock="x"), ArgumentError, "clock"),  # type: ignore[arg-type]
    (lambda: ByOrderNumber(start_after=-1), ArgumentError, "start_after"),
    (lambda: ByOrderNumber(lookback="30"), ArgumentError, "lookback"),
    (lambda: ByQueue(queue_code=None), ArgumentError, "queue_code"),
    (lambda: RetryPolicy(initial_delay=math.nan), ConfigurationError, "initial_delay"),
    (lambda: RetryPolicy(max_time=math.inf), ConfigurationError, "max_time"),
    (lambda: RetryPolicy(max_delay=-1), ConfigurationError, "max_delay"),
    (lambda: RetryPolicy(multiplier=math.nan), ConfigurationError, "multiplier"),
    (lambda: RetryPolicy(multiplier=0.5), ConfigurationError, "multiplier"),
    (lambda: RetryPolicy(max_attempts=True), ConfigurationError, "max_attempts"),
    (lambda: RetryPolicy(retry_on="x"), ConfigurationError, "retry_on"),  # type: ignore[arg-type]
    (lambda: RetryPolicy(wait="no"), ConfigurationError, "wait"),  # type: ignore[arg-type]
    (lambda: RetryPolicy(jitter=None), ConfigurationError, "jitter"),  # type: ignore[arg-type]
    (lambda: RetryPolicy(max_clock_skew_retries=-1), ConfigurationError, "max_clock_skew_retries"),
    (lambda: mo.flatten_orders([1]), ArgumentError, "Order"),  # type: ignore[list-item]
    (lambda: SQLiteSink(5), ArgumentError, "path"),  # type: ignore[arg-type]
    (lambda: SQLiteSink(":memory:", synchronous="OFF"), ArgumentError, "synchronous"),
    (lambda: JsonLinesSink(None), ArgumentError, "path"),  # type: ignore[arg-type]
    (lambda: JsonFileCheckpoints(b"x.json"), ArgumentError, "path"),  # type: ignore[arg-type]
    (lambda: CallbackSink("print"), ArgumentError, "callback"),  # type: ignore[arg-type]
    (lambda: mo.flatten_orders(5), ArgumentError, "iterable"),  # type: ignore[arg-type]
    (lambda: mo.flatten_items(["x"]), ArgumentError, "Order"),  # type: ignore[list-item]
]


@pytest.mark.parametrize(("build", "error", "needle"), BAD_CONSTRUCTIONS)
def test_constructors_check_their_arguments(
    build: Callable[[], Any], error: type[MivaError], needle: str
) -> None:
    with pytest.raises(error, match=needle) as info:
        build()
    assert isinstance(info.value, ValueError)  # what `except ValueError` callers already catch
    assert "not " in str(info.value) or "must" in str(info.value)


#: Client settings: (options, a word the message must hold); checked for both clients and by with_options().
BAD_CLIENT_OPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"allow_insecure_http": "no"}, "allow_insecure_http"),
    ({"allow_insecure_http": 1}, "allow_insecure_http"),
    ({"retry": 3}, "retry"),
    ({"clock": "x"}, "clock"),
    ({"timeout": float("inf")}, "timeout"),
    ({"timeout": float("nan")}, "timeout"),
    ({"timeout": httpx.Timeout(5.0, read=float("inf"))}, "timeout.read"),
    ({"timeout": -1}, "timeout"),
    ({"timeout": "30"}, "timeout"),
    ({"api_timeout": True}, "api_timeout"),
    ({"max_continuations": True}, "max_continuations"),
    ({"headers": [("X-A", "b")]}, "headers"),
    ({"headers": {"X-A": 1}}, "headers"),
]


@pytest.mark.parametrize(("options", "needle"), BAD_CLIENT_OPTIONS)
@pytest.mark.parametrize("client_type", [Client, AsyncClient])
def test_client_settings_are_checked_at_construction(
    client_type: type[Client] | type[AsyncClient], options: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        client_type(ENDPOINT, store_code="S", auth=TokenAuth("t"), **options)
    client = client_type(ENDPOINT, store_code="S", auth=TokenAuth("t"))
    changes = {key: value for key, value in options.items() if key != "clock"}  # a copy keeps the clock
    if changes:
        with pytest.raises(ConfigurationError, match=needle):
            client.with_options(**changes)


def test_each_client_takes_only_its_own_kind_of_http_client() -> None:
    with pytest.raises(ConfigurationError, match=r"http_client must be an httpx\.Client"):
        Client(ENDPOINT, store_code="S", auth=TokenAuth("t"), http_client=httpx.AsyncClient())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"http_client must be an httpx\.AsyncClient"):
        AsyncClient(ENDPOINT, store_code="S", auth=TokenAuth("t"), http_client=httpx.Client())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="http_client"):
        Client(ENDPOINT, store_code="S", auth=TokenAuth("t"), http_client="x")  # type: ignore[arg-type]


def test_order_sync_checks_its_arguments(tmp_path: Path) -> None:
    client = _refusing_client()
    sink = SQLiteSink(tmp_path / "s.db")
    for options, needle in (
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"strategy": "x"}, "strategy"),
        ({"strategy": ByLastUpdate}, r"ByLastUpdate\(\)"),
        ({"name": ""}, "name"),
        ({"progress": "x"}, "progress"),
        ({"checkpoints": "x"}, "checkpoints"),
    ):
        with pytest.raises(ArgumentError, match=needle):
            OrderSync(client, sink, **options)
        with pytest.raises(ArgumentError, match=needle):
            AsyncOrderSync(_refusing_async_client(), sink, **options)
    with pytest.raises(ArgumentError, match="sink"):
        OrderSync(client, "orders.db")  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="keeps no checkpoints"):
        OrderSync(client, JsonLinesSink(tmp_path / "o.jsonl"))
    OrderSync(client, JsonLinesSink(tmp_path / "o.jsonl"), checkpoints=MemoryCheckpoints())


#: Methods: (call on client.orders or the client, a word the message must hold). Sync and async.
BAD_CALLS: list[tuple[Callable[[Any], Any], str]] = [
    (lambda c: c.orders.iter(paging="x"), "paging"),
    (lambda c: c.orders.iter(page_size=0), "page_size"),
    (lambda c: c.orders.updated_since(10**20), "since"),
    (lambda c: c.orders.updated_since(-5), "since"),
    (lambda c: c.orders.updated_since(datetime(2024, 1, 1)), "timezone-aware"),
    (lambda c: c.orders.updated_since("2024-01-01"), "since"),
    (lambda c: c.orders.updated_since(0, lookback=5), "lookback"),
    (lambda c: c.orders.updated_since(0, paging="x"), "paging"),
    (lambda c: c.orders.placed_between(date(2024, 1, 1), "2024-02-01"), "end"),
    (lambda c: c.orders.placed_between(date(2024, 1, 1), date(2024, 2, 1), paging=3), "paging"),
    (lambda c: c.orders.after_number(0, skip_ids="abc"), "skip_ids"),
    (lambda c: c.orders.after_number(0, skip_ids=[1, "2"]), "skip_ids"),
    (lambda c: c.orders.after_number(True), "last_id"),
    (lambda c: c.orders.after_number(2**70), "last_id"),
    (lambda c: c.orders.get(2**64), "order_id"),
    (lambda c: c.orders.list(columns=["bogus_column"]), "bogus_column"),
    (lambda c: c.call("OrderList_Load_Query", {1: 2}), "parameter names"),
    (lambda c: c.call("OrderList_Load_Query", "x"), "params"),
    (lambda c: c.call("", {}), "function"),
    (lambda c: c.call(None), "function"),
    (lambda c: c.call("OrderList_Load_Query", {"Store_Code": "x"}), "set by the client"),
    (lambda c: c.call("OrderList_Load_Query", idempotent="yes"), "idempotent"),
    (lambda c: c.call("OrderList_Load_Query", {"Count": object()}), "JSON"),
    (lambda c: c.call("OrderList_Load_Query", {"Count": math.nan}), "JSON"),
    (lambda c: c.multicall([{"Function": "X", "Count": object()}]), "JSON"),
    (lambda c: c.call_module("", "x"), "module_code"),
    (lambda c: c.call_module("orderworkflow", None), "module_function"),
    (lambda c: c.multicall([]), "at least one"),
    (lambda c: c.multicall("OrderList_Load_Query"), "operations"),
    (lambda c: c.multicall([{"Count": 1}]), "Function"),
    (lambda c: c.multicall([{"Function": "X", 1: 2}]), "parameter names"),
    (lambda c: c.multicall([{"Function": "X", "Iterations": [1]}]), "Iterations"),
]


def _iterate_sync(result: Any) -> None:
    if isinstance(result, Iterator):
        next(result)


@pytest.mark.parametrize(("call", "needle"), BAD_CALLS)
def test_methods_check_their_arguments(call: Callable[[Any], Any], needle: str) -> None:
    with _refusing_client() as client, pytest.raises(ArgumentError, match=needle):
        _iterate_sync(call(client))


async def _settle(result: Any) -> None:
    """Await a coroutine; an async iterator is not awaited (its checks run when it is made)."""
    if isinstance(result, Awaitable):
        await result


@pytest.mark.parametrize(("call", "needle"), BAD_CALLS)
def test_async_methods_check_their_arguments(call: Callable[[Any], Any], needle: str) -> None:
    async def main() -> None:
        async with _refusing_async_client() as client:
            with pytest.raises(ArgumentError, match=needle):
                await _settle(call(client))

    asyncio.run(main())


#: Queue and shipment methods: (call on the client, a word the message must hold). On AsyncClient these
#: return a coroutine, so the check must come before it exists: at the call, not when it is awaited.
BAD_RESOURCE_CALLS: list[tuple[Callable[[Any], Any], str]] = [
    (lambda c: c.queues.load(" "), "queue_code"),
    (lambda c: c.queues.load("new_and_updated", acknowledge="yes"), "acknowledge"),
    (lambda c: c.queues.acknowledge([]), "order_ids is empty"),
    (lambda c: c.queues.acknowledge("12"), "order_ids"),
    (lambda c: c.queues.recover_lost_page(datetime(2024, 1, 1)), "timezone-aware"),
    (lambda c: c.queues.drain("new_and_updated", None), "handler"),
    (lambda c: c.queues.drain("new_and_updated", print, max_pages=0), "max_pages"),
    (lambda c: c.shipments.create(0, [1]), "order_id"),
    (lambda c: c.shipments.update(5), "tracking_number"),
    (lambda c: c.shipments.list(sort="bogus"), "sort"),
    (lambda c: c.shipments.list(offset=-1), "offset"),
]


@pytest.mark.parametrize(("call", "needle"), BAD_RESOURCE_CALLS)
def test_queue_and_shipment_methods_check_their_arguments_at_the_call(
    call: Callable[[Any], Any], needle: str
) -> None:
    with _refusing_client() as client, pytest.raises(ArgumentError, match=needle):
        call(client)

    async def main() -> None:
        async with _refusing_async_client() as client:
            with pytest.raises(ArgumentError, match=needle):
                call(client)  # not awaited: nothing to await when the arguments are wrong

    asyncio.run(main())


def test_an_unknown_column_raises_the_public_filter_error() -> None:
    with _refusing_client() as client, pytest.raises(mo.FilterError) as info:
        client.orders.list(columns=["itemz"])
    assert type(info.value) is mo.FilterError
    assert "items" in str(info.value)  # the suggestion


def test_a_huge_lookback_reads_everything_instead_of_overflowing() -> None:
    store = FakeStore(orders=15, seed=4)
    with store.client() as client:
        got = list(client.orders.updated_since(0, lookback=timedelta(days=10**6)))
    assert sorted(o.id for o in got) == sorted(store.truth())


def test_the_validator_messages_name_argument_value_and_rule() -> None:
    with pytest.raises(ConfigurationError) as info:
        RetryPolicy(initial_delay=math.nan)
    assert str(info.value) == "initial_delay must be a finite number of seconds >= 0, not nan"
    with pytest.raises(ArgumentError) as other:
        _refusing_client().orders.after_number(0, skip_ids="abc")  # type: ignore[arg-type]
    assert str(other.value) == "skip_ids must be a collection of order ids (e.g. a set of ints), not 'abc'"


# -- item 6: iterators do not go silent after an error ---------------------------------------------------

PULLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("iter", lambda orders: orders.iter(page_size=7)),
    ("iter-fast", lambda orders: orders.iter(page_size=7, paging=FastPaging(concurrency=3))),
    ("updated_since", lambda orders: orders.updated_since(0, page_size=7)),
    (
        "placed_between",
        lambda orders: orders.placed_between(date(1990, 1, 1), date(2200, 1, 1), page_size=7),
    ),
    ("after_number", lambda orders: orders.after_number(0, lookback=0, page_size=7)),
]


@pytest.mark.parametrize(("name", "pull"), PULLS, ids=[name for name, _ in PULLS])
def test_an_iterator_resumes_after_a_caught_error(name: str, pull: Callable[[Any], Any]) -> None:
    store = FakeStore(orders=40, seed=6)
    got: list[int] = []
    failures = 0
    with store.client(retry=None) as client:
        iterator = pull(client.orders)
        got.append(next(iterator).id)
        store.faults.script(Fault.http(503), times=2)  # the next two requests fail
        while True:
            try:
                order = next(iterator)
            except StopIteration:
                break
            except MivaError:
                failures += 1
                continue
            got.append(order.id)
    if name == "iter-fast":
        # Several requests are in flight at once: both faults may strike before the first is raised.
        assert 1 <= failures <= 2
    else:
        assert failures == 2
    assert sorted(set(got)) == sorted(store.truth())  # nothing skipped after the errors
    assert iterator.exhausted
    if name == "updated_since":
        assert iterator.watermark <= datetime.fromtimestamp(store.clock.time(), UTC)


@pytest.mark.parametrize(("name", "pull"), PULLS, ids=[name for name, _ in PULLS])
def test_an_async_iterator_resumes_after_a_caught_error(name: str, pull: Callable[[Any], Any]) -> None:
    store = FakeStore(orders=40, seed=6)
    got: list[int] = []
    failures = 0

    async def main() -> Any:
        nonlocal failures
        async with store.async_client(retry=None) as client:
            iterator = pull(client.orders)
            got.append((await iterator.__anext__()).id)
            store.faults.script(Fault.http(503), times=2)
            while True:
                try:
                    order = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except MivaError:
                    failures += 1
                    continue
                got.append(order.id)
            return iterator

    iterator = asyncio.run(main())
    # Two failed requests; with several pages in flight both may fail in one round and surface once.
    assert 1 <= failures <= 2
    assert sorted(set(got)) == sorted(store.truth())
    assert iterator.exhausted


def test_a_page_that_keeps_failing_keeps_raising() -> None:
    store = FakeStore(orders=20, seed=6)
    with store.client(retry=None) as client:
        iterator = client.orders.iter(page_size=5)
        for _ in range(5):  # the first page: its orders come without another request
            next(iterator)
        store.faults.script(Fault.http(500), times=50)
        for _ in range(3):  # never a quiet end while the store keeps failing
            with pytest.raises(HTTPStatusError):
                next(iterator)
        assert not iterator.exhausted


def test_an_async_iterator_closed_early_stays_closed() -> None:
    store = FakeStore(orders=20, seed=6)

    async def main() -> None:
        async with store.async_client() as client:
            iterator = client.orders.iter(page_size=5)
            await iterator.__anext__()
            await iterator.aclose()
            with pytest.raises(StopAsyncIteration):
                await iterator.__anext__()

    asyncio.run(main())


# -- item 7: secrets kept out of messages, reprs and what exceptions hold on to ---------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://u:PASSWORD@host.example/mm5/json.mvc",
        "https://u:PASSWORD@/mm5/json.mvc",
        "https://u:PASSWORD@host.example/mm5/json.mvc",
        "https://PASSWORD@host.example/mm5/json.mvc",
        "ftp://PASSWORD@/x",
        "https://u:PASSWORD@[::1/mm5",
    ],
)
def test_an_endpoint_password_is_never_echoed(endpoint: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Client(endpoint, store_code="S", auth=TokenAuth("t"))
    text = "".join(traceback.format_exception(info.value))
    assert "PASSWORD" not in text


def test_the_call_repr_hides_the_passphrase() -> None:
    call = Call("OrderList_Load_Query", {"Count": 1, "Passphrase": "hunter2-secret"})
    assert "hunter2-secret" not in repr(call)
    assert "Count" in repr(call)
    multi = Multicall.of([{"Function": "OrderList_Load_Query", "passphrase": "hunter2-secret"}])
    assert "hunter2-secret" not in repr(multi)


def test_client_headers_stay_out_of_reprs() -> None:
    client = Client(
        ENDPOINT, store_code="S", auth=TokenAuth("t"), headers={"Proxy-Authorization": "Basic c2VjcmV0"}
    )
    assert "c2VjcmV0" not in repr(client)
    assert "c2VjcmV0" not in repr(client._config)


def test_half_built_objects_have_safe_reprs() -> None:
    for cls in (HmacAuth, Client, AsyncClient, TokenAuth):
        text = repr(object.__new__(cls))
        assert cls.__name__ in text
    with pytest.raises(ConfigurationError):
        HmacAuth("token", "c2VjcmV0", digest="md5")  # type: ignore[arg-type]


def test_the_httpx_error_behind_ours_keeps_no_secrets() -> None:
    key = "c2lnbmluZy1rZXk="

    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = Client(
        ENDPOINT,
        store_code="S",
        auth=HmacAuth("tok", key),
        retry=None,
        http_client=httpx.Client(transport=httpx.MockTransport(fail)),
    )
    with pytest.raises(mo.TransportError) as info:
        client.orders.list(passphrase="hunter2-secret", count=1)
    cause = info.value.__cause__
    assert isinstance(cause, httpx.ConnectError)
    request = cause.request
    assert request.headers["X-Miva-API-Authorization"] == "<redacted>"
    assert b"hunter2-secret" not in request.content
    assert request.url == httpx.URL(ENDPOINT)


# -- item 7: the command line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["simulate", "--host", "0.0.0.0"], "loopback"),  # noqa: S104 - it must be refused
        (["simulate", "--host", "example.com"], "loopback"),
        (["simulate", "--port", "-1"], "port"),
        (["simulate", "--port", "99999"], "port"),
        (["simulate", "--port", "http"], "port"),
        (["--timeout", "inf", "queue", "list"], "timeout"),
        (["--timeout", "nan", "queue", "list"], "timeout"),
        (["queue", "list", "--timeout", "-3"], "timeout"),
    ],
)
def test_cli_bad_options_are_one_clean_line(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mivaorders.cli import main

    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert needle in err
    assert "Traceback" not in err


def test_cli_timeout_inf_from_the_environment_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mivaorders.cli import main

    for name, value in (
        ("MIVA_ENDPOINT", ENDPOINT),
        ("MIVA_STORE_CODE", "S"),
        ("MIVA_API_TOKEN", "tok"),
        ("MIVA_TIMEOUT", "inf"),
    ):
        monkeypatch.setenv(name, value)
    code = main(["queue", "list"])
    err = capsys.readouterr().err
    assert code == 2
    assert "timeout" in err
    assert "Traceback" not in err


def test_cli_file_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mivaorders.cli import main

    code = main(["webhook", "parse", str(tmp_path / "missing.json")])
    assert code == 1
    assert "cannot read" in capsys.readouterr().err


def test_a_second_ctrl_c_while_stopping_does_not_escape(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first Ctrl-C interrupts; one that arrives while the CLI reports it is ignored (it used to end
    the process with a traceback and exit -2)."""
    import io
    import signal

    from mivaorders import cli

    def interrupted(*args: Any) -> int:
        signal.raise_signal(signal.SIGINT)
        raise AssertionError("the first Ctrl-C did not interrupt")

    class ImpatientStream(io.StringIO):
        def write(self, text: str) -> int:
            if "interrupted" in text:
                signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C again
            return super().write(text)

    monkeypatch.setattr(cli, "_run", interrupted)
    err = ImpatientStream()
    code = cli.main(["sync", "--db", "x.db"], stderr=err)
    assert code == 130
    assert "resumes safely" in err.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back afterwards


def _served_env(store: FakeStore, endpoint: str) -> dict[str, str]:
    import os

    return {
        **os.environ,
        "MIVA_ENDPOINT": endpoint,
        "MIVA_STORE_CODE": store.store_code,
        "MIVA_API_TOKEN": store.token,
        "MIVA_SIGNING_KEY": store.signing_key,
    }


def _synced(db: Path) -> int:
    import contextlib
    import sqlite3

    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigterm_stops_a_sync_like_ctrl_c(tmp_path: Path) -> None:
    """SIGTERM (what `kill`, systemd and docker send) finishes the batch, prints the resume note and exits
    143; running the sync again completes it."""
    import signal
    import subprocess
    import sys
    import time

    store = FakeStore(orders=300, seed=8, latency_ms=150)
    db = tmp_path / "t.db"
    with store.serve() as endpoint:
        env = _served_env(store, endpoint)
        argv = [sys.executable, "-m", "mivaorders", "sync", "--db", str(db), "--batch-size", "10"]
        process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while _synced(db) == 0 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            assert process.poll() is None, "the sync ended before it could be stopped"
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 143, err
        assert "terminated" in err
        assert "resumes safely" in err
        assert "Traceback" not in err
        stopped_at = _synced(db)
        assert 0 < stopped_at < 300
        again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert again.returncode == 0, again.stderr
    assert _synced(db) == 300


@pytest.mark.parametrize("argv", [["--port", "99999"], ["--port", "-1"], ["--host", "0.0.0.0"]])  # noqa: S104
def test_the_simulator_module_refuses_bad_options(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from mivaorders.testing.__main__ import main as simulator_main

    with pytest.raises(SystemExit) as info:
        simulator_main(argv)
    assert info.value.code == 2
    assert "--" in capsys.readouterr().err


class _NumpyLikeInt:
    """An integer type that is not an ``int`` subclass (numpy's are like this)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


def test_integer_types_other_than_int_are_taken_floats_are_not() -> None:
    store = FakeStore(orders=10, seed=2)
    with store.client() as client:
        first = next(iter(client.orders.iter(page_size=_NumpyLikeInt(3))))  # type: ignore[arg-type]
        result = client.queues.acknowledge([_NumpyLikeInt(first.id)])  # type: ignore[list-item]
        assert result.sent == 1
        with pytest.raises(ArgumentError, match="page_size"):
            client.orders.iter(page_size=3.0)  # type: ignore[arg-type]


_STOP_DURING_A_BATCH = """
import json, os, signal, time
from mivaorders import cli
from mivaorders.incremental import CallbackSink, MemoryCheckpoints, OrderSync
from mivaorders.testing import FakeStore

store = FakeStore(orders=40, seed=1)
stored = []
checkpoints = MemoryCheckpoints()

def slow_store(orders):
    if not stored:
        os.kill(os.getpid(), signal.SIG{name})  # arrives while the first batch is being stored
    time.sleep(0.3)
    stored.append(len(orders))

def run(args, console, secrets, stdin):
    with store.client() as client:
        OrderSync(client, CallbackSink(slow_store), checkpoints=checkpoints, batch_size=10).run()
    return 0

cli._run = run
code = cli.main(["sync", "--db", "unused.db"])
saved = checkpoints.load_checkpoint("orders")
print(json.dumps({"code": code, "stored": stored, "saved": saved is not None}), flush=True)
"""


@pytest.mark.parametrize(("name", "code"), [("TERM", 143), ("INT", 130)])
def test_a_stop_signal_lets_the_batch_being_stored_finish(name: str, code: int) -> None:
    """SIGTERM or Ctrl-C while a batch is being stored: that batch and its checkpoint are finished, then the
    sync stops (without waiting for the batches after it) with the resume note."""
    import json
    import subprocess
    import sys

    script = _STOP_DURING_A_BATCH.replace("{name}", name)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["code"] == code
    assert result["stored"] == [10]  # the batch in flight was stored whole, and no other batch after it
    assert result["saved"]  # ... and its checkpoint saved
    assert "resumes safely" in done.stderr
    assert "Traceback" not in done.stderr
