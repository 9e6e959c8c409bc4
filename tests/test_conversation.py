"""The conversation protocol without any client: a pull's steps, answered by hand."""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any

import httpx
import pytest

import mivaorders as mo
from mivaorders._conversation import Emit, Handle, Landed, Launch, Next, Now, Send, Turns, handling
from mivaorders._envelope import Call, Safety
from mivaorders._page import Page
from mivaorders._query import OrderQuery
from mivaorders.models import Order
from mivaorders.orders import _Plan, _pull
from mivaorders.pagination import FastPaging, KeysetPaging, PageRequest
from mivaorders.testing import FakeStore


def pages_of(store: FakeStore, size: int) -> list[Page[Order]]:
    """The store's orders as keyset pages of ``size``, fetched once so the steps can be answered offline."""
    with store.client() as client:
        orders = sorted(client.orders.iter(page_size=size, columns=()), key=lambda o: o.id)
    chunks = [orders[i : i + size] for i in range(0, len(orders), size)]
    return [Page(items=tuple(chunk), total_count=len(orders), start_offset=0) for chunk in chunks]


def landed(key: int, page: Page[Order]) -> Landed:
    return Landed(key, {"success": 1, "data": page}, httpx.Response(200), sent=0.0)


def test_a_pull_launches_the_next_page_before_it_hands_out_this_one() -> None:
    store = FakeStore(orders=25, seed=3)
    pages = pages_of(store, 10)
    plan = _Plan(OrderQuery.build(columns=()), KeysetPaging("id"), 10)
    pending: deque[PageRequest] = deque(plan.walk.start())
    steps = _pull(plan, pending, None)

    kinds: list[str] = []
    delivered: list[int] = []
    in_flight: deque[int] = deque()
    step: Any = next(steps)
    answers = iter(pages)
    while True:
        kinds.append(type(step).__name__)
        if isinstance(step, Next):
            reply: Any = landed(in_flight.popleft(), next(answers))
        else:
            reply = None
            if isinstance(step, Launch):
                in_flight.append(step.key)
                step.fetch.request()  # the driver asks for the request when it sends it
            elif isinstance(step, Emit):
                delivered.extend(order.id for order in step.items)
        try:
            step = steps.send(reply)
        except StopIteration:
            break
    # Each page's follow-up is in flight before that page's orders go to the caller.
    assert kinds == ["Launch", "Next", "Launch", "Emit", "Next", "Launch", "Emit", "Next", "Emit"]
    assert delivered == [o.id for page in pages for o in page.items]
    assert plan.exhausted
    assert plan.pages == 3


def test_a_failed_page_goes_back_to_the_front_of_the_queue() -> None:
    plan = _Plan(OrderQuery.build(columns=()), FastPaging(concurrency=3), 10)
    pending: deque[PageRequest] = deque(plan.walk.start())
    first = list(pending)
    steps = _pull(plan, pending, None)
    launched = []
    step: Any = next(steps)
    while isinstance(step, Launch):
        launched.append(step)
        step = steps.send(None)
    assert isinstance(step, Next)
    assert len(launched) == min(3, len(first))  # at most one page in flight per lane
    with pytest.raises(mo.TransportError):
        steps.throw(mo.TransportError("lost", maybe_sent=True))
    assert list(pending) == first  # every page not yet accepted is asked for again


def test_turns_feed_answers_and_failures_back() -> None:
    def conversation() -> Generator[Send, Any, str]:
        first = yield Send(Call("A", {}, safety=Safety.IDEMPOTENT))
        try:
            yield Send(Call("B", {}, safety=Safety.IDEMPOTENT))
        except ValueError as exc:
            return f"{first} then {exc}"
        return "not reached"

    turns = Turns(conversation())
    assert turns.step().call.function == "A"
    turns.answer("a")
    assert turns.step().call.function == "B"
    turns.fail(ValueError("b failed"))
    assert turns.step() is None
    assert turns.result == "a then b failed"


def test_handling_answers_handle_steps_with_a_conversation_and_throws_its_failures_in() -> None:
    stored: list[list[int]] = []

    def drain() -> Generator[Any, Any, str]:
        first = yield Handle([1, 2])
        yield Send(Call("A", {}, safety=Safety.IDEMPOTENT))
        try:
            yield Handle([3])
        except OSError as exc:
            return f"first answered {first!r}; then {exc}"
        return "not reached"

    def store(orders: list[int]) -> Generator[Any, Any, str]:
        now = yield Now()
        if orders == [3]:
            raise OSError("disk full")
        stored.append(orders)
        return f"stored at {now}"

    steps = handling(drain(), store)
    assert next(steps) == Now()  # the first Handle became the store's own steps
    sent = steps.send(12.0)
    assert isinstance(sent, Send)
    assert sent.call.function == "A"
    assert steps.send(({}, None)) == Now()
    with pytest.raises(StopIteration) as done:
        steps.send(13.0)
    assert done.value.value == "first answered 'stored at 12.0'; then disk full"
    assert stored == [[1, 2]]


def test_handling_closes_the_inner_conversation_when_closed() -> None:
    closed: list[bool] = []

    def inner() -> Generator[Any, Any, None]:
        try:
            yield Send(Call("A", {}, safety=Safety.IDEMPOTENT))
        except GeneratorExit:
            closed.append(True)
            raise

    def never(orders: object) -> Generator[Any, Any, None]:
        raise AssertionError("no Handle step here")
        yield  # pragma: no cover

    steps = handling(inner(), never)
    next(steps)
    steps.close()
    assert closed == [True]


def test_an_incremental_sync_is_a_conversation_that_stores_each_batch_before_moving_on() -> None:
    """The sync's steps answered by hand: no clock, no network; the checkpoint moves after each store."""
    from mivaorders._client import sync_driver
    from mivaorders._conversation import Close, Take
    from mivaorders._lost_pages import StoreTime
    from mivaorders.incremental import (
        ByOrderNumber,
        CallbackSink,
        MemoryCheckpoints,
        SyncReport,
        _Context,
        _Runner,
    )

    store = FakeStore(orders=25, seed=5)
    orders = [o for page in pages_of(store, 10) for o in page.items]
    written: list[list[int]] = []
    checkpoints = MemoryCheckpoints()
    runner = _Runner(
        CallbackSink(lambda batch: written.append([o.id for o in batch])),
        ByOrderNumber(),
        checkpoints,
        "by-hand",
        10,
        None,
    )
    with store.client() as client:
        context = _Context(client.orders, sync_driver(client).config, StoreTime())
        steps = runner.source.steps(runner, context, max_batches=2)
        assert next(steps) == Now()
        take = steps.send(100.0)
        assert isinstance(take, Take)
        assert take.count == 10
        pull = take.items
        assert steps.send(orders[:10]) == Now()  # a full batch: store it, reading the clock for progress
        assert written == []  # stored once the clock is read, then the checkpoint moves
        take = steps.send(101.0)
        assert written == [[o.id for o in orders[:10]]]
        stored = checkpoints.load_checkpoint("by-hand")
        assert stored is not None
        assert stored.state["last_id"] == orders[9].id
        assert isinstance(take, Take)
        assert take.items is pull
        assert steps.send(orders[10:20]) == Now()
        close = steps.send(102.0)  # max_batches reached: the pull is stopped early
        assert close == Close(pull)
        assert steps.send(None) == Now()
        with pytest.raises(StopIteration) as done:
            steps.send(103.5)
    report = done.value.value
    assert isinstance(report, SyncReport)
    assert (report.orders, report.batches, report.complete, report.elapsed) == (20, 2, False, 3.5)
    assert report.detail == "stopped after max_batches"
    assert len(written) == 2


def test_a_call_is_primitive_steps_and_its_retry_wait_is_a_pause_it_never_sleeps_itself() -> None:
    """Sending one call without any I/O, answered by hand: hooks to run, requests to transmit, and after a
    503 tenacity's wait handed out as a Pause before the second, freshly signed attempt."""
    from mivaorders._conversation import Notify, Pause, Transmit

    events: list[Any] = []
    client = mo.Client(
        "https://shop.example.com/mm5/json.mvc",
        store_code="S",
        auth=mo.TokenAuth("0123456789abcdef0123456789abcdef"),
        retry=mo.RetryPolicy(jitter=False, initial_delay=0.25),
        event_hooks={"request": [events.append], "response": [events.append]},
    )
    steps = client._call_steps(Call("Module_Noop", {}, safety=Safety.IDEMPOTENT))
    statuses = [503, 200]
    sent: list[httpx.Request] = []
    pauses: list[float] = []
    answer: Any = None
    while True:
        try:
            step = steps.send(answer)
        except StopIteration as done:
            envelope, response = done.value
            break
        answer = None
        if isinstance(step, Notify):
            for hook in step.hooks:
                hook(step.event)
        elif isinstance(step, Transmit):
            sent.append(step.request)
            answer = httpx.Response(statuses.pop(0), json={"success": 1, "data": 1}, request=step.request)
        else:
            assert isinstance(step, Pause)
            pauses.append(step.seconds)
    client.close()

    assert pauses == [0.25]
    assert len(sent) == 2
    assert sent[0] is not sent[1]
    assert envelope == {"success": 1, "data": 1}
    assert response.request is sent[1]
    assert [(type(e).__name__, getattr(e, "outcome", None)) for e in events] == [
        ("RequestEvent", None),
        ("ResponseEvent", "HTTPStatusError"),
        ("RequestEvent", None),
        ("ResponseEvent", "ok"),
    ]
