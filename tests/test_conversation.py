"""The conversation protocol without any client: a pull's steps, answered by hand."""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any

import httpx
import pytest

import mivaorders as mo
from mivaorders._conversation import Emit, Landed, Launch, Next, Send, Turns
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
