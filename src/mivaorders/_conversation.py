"""The conversation protocol: every exchange with the store written once, as a generator of steps.

A conversation is plain code that yields steps and is sent their answers (or has their failures thrown
in, so it decides what a failure means). Each client has one *driver* that runs conversations
(:class:`Driver` for :class:`~mivaorders.Client`, :class:`AsyncDriver` for
:class:`~mivaorders.AsyncClient`, both in ``_client.py``).

Steps of a conversation run to its end (:meth:`Driver.run`):

- :class:`Send`: run one call with the client's retry policy; answers ``(envelope, response)``.
- :class:`SendMulticall`: run a multicall, following HTTP 206 continuations; answers
  ``(results, first response)``.
- :class:`Pause`: wait before going on (skipped when the retry policy never sleeps).
- :class:`Now`: read the client's clock.
- :class:`Handle`: run the caller's handler on some orders (a queue drain); answers what it returned.
- :class:`Log`: write a log record (the pure parts say what happened; the driver logs it).
- :class:`Take`: take the next items of an iterator (an incremental sync consuming a pull); :class:`Close`
  stops one early.

Steps of a streaming conversation (:meth:`Driver.stream`, an order pull):

- :class:`Launch`: put a :class:`Fetch` in flight and go on at once.
- :class:`Next`: take the next answer of a fetch in flight, as a :class:`Landed`.
- :class:`Emit`: hand items to the caller; the fetches in flight keep going while it consumes them.

How many fetches are in flight is the conversation's business (a pull launches at most one page ahead
per lane, so memory stays bounded); how they travel is the driver's: the synchronous driver sends each
fetch as a request of its own from a small thread pool (decoding it in the caller's thread unless the fetch
re-plans), the asynchronous one runs each as a task.

Below the conversations, sending one call is itself written once, as a generator of :data:`Primitive`
steps (``_client.py``: build and sign the request, the retry loop, HTTP 206 continuations, telemetry):

- :class:`Transmit`: send this ``httpx.Request``; answers the ``httpx.Response`` (or the
  ``httpx.HTTPError`` is thrown in);
- :class:`Notify`: run these event hooks on this event (awaited when async, on an ``AsyncClient``);
- :class:`Pause` (a retry's wait), and a conversation's own :class:`Pause`, :class:`Handle`, :class:`Take`
  and :class:`Close`, as above.

So a driver only carries out primitives (``http.send`` or ``await http.send``, ``time.sleep`` or
``asyncio.sleep``, a hook called or awaited) and moves a stream's fetches (threads or tasks): the drivers
are the only code that differs between sync and async, and the only place that sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs
import httpx

from ._envelope import Call, Multicall

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from ._client import ClientConfig
    from ._page import Page

__all__ = [
    "AsyncDriver",
    "Awaited",
    "Close",
    "Driver",
    "Emit",
    "Fetch",
    "Handle",
    "Handler",
    "Landed",
    "Launch",
    "Log",
    "Next",
    "Notify",
    "Now",
    "Pause",
    "Primitive",
    "Primitives",
    "Seen",
    "Send",
    "SendMulticall",
    "Steps",
    "Stream",
    "Take",
    "Transmit",
    "Turns",
    "ask",
    "first_of",
    "handling",
]

T = TypeVar("T")

#: What an :class:`~mivaorders.AsyncClient` method that sends returns: a coroutine of its result
#: (``asyncio.create_task`` takes it).
Awaited = Coroutine[Any, Any, T]

#: The caller's handler of a :class:`Handle` step (it may return an awaitable on an ``AsyncClient``).
Handler = Callable[[Any], Any]

#: Shown every response of a conversation, with the clock's reading when it came.
Seen = Callable[[httpx.Response, float], None]


@attrs.frozen
class Send:
    """Run this call through the client (its retry policy applies); answer ``(envelope, response)``."""

    call: Call


@attrs.frozen
class SendMulticall:
    """Run this multicall through the client, following HTTP 206 continuations (its retry policy applies
    to each request); answer ``(results, first response)``."""

    multicall: Multicall


@attrs.frozen
class Pause:
    """Wait ``seconds`` before the next step (skipped when the client's retry policy never sleeps)."""

    seconds: float


@attrs.frozen
class Now:
    """Read the client's clock; answered with its reading (seconds since the epoch)."""


@attrs.frozen
class Handle:
    """Run the caller's handler on these orders; answer what it returned (awaited if it is awaitable)."""

    orders: Any


@attrs.frozen
class Log:
    """Write a record to the ``mivaorders`` logger (``message % args`` at ``level``); answers nothing.
    Conversations say what happened; the driver does the logging."""

    level: int
    message: str
    args: tuple[object, ...] = ()


@attrs.frozen
class Take:
    """Take up to ``count`` items from an iterator (sync or async, as the client is); answer them as a list,
    shorter only once the iterator is exhausted. Lets a conversation consume a pull (an incremental sync)."""

    items: Any
    count: int


@attrs.frozen
class Close:
    """Stop an iterator early (an async one is closed, cancelling what it has in flight); answers nothing."""

    items: Any


class Fetch(Protocol):
    """A request a streaming conversation puts in flight; the driver sends it and times it.

    ``request()`` is asked again before each attempt, so a fetch that ``replans`` can change its request
    after a failure (an adaptive pull retries a page smaller); the driver then runs the client's retry
    policy around single attempts itself.
    """

    @property
    def replans(self) -> bool: ...

    @property
    def label(self) -> str:
        """What the retry policy's log lines call it."""
        ...

    def request(self) -> Call: ...

    def answered(self, response: httpx.Response, elapsed: float) -> None: ...

    def failed(self, exc: BaseException) -> None: ...


@attrs.frozen
class Launch:
    """Put ``fetch`` in flight under ``key``; answers nothing."""

    key: int
    fetch: Fetch


@attrs.frozen
class Next:
    """Take the next answer of a fetch in flight: a :class:`Landed`, or its failure thrown in."""


@attrs.frozen
class Landed:
    """The answer of a fetch: what it returned, the HTTP response it came in, and when it was sent (by
    the client's clock)."""

    key: int
    answer: Any
    response: httpx.Response
    sent: float


@attrs.frozen
class Emit:
    """Hand ``items`` to the streaming caller, one at a time."""

    items: Sequence[Any]


@attrs.frozen
class Transmit:
    """Send this request; answered with the ``httpx.Response``, or the ``httpx.HTTPError`` thrown in."""

    request: httpx.Request


@attrs.frozen
class Notify:
    """Run each of these event hooks on ``event``, in order (awaited if it returns an awaitable)."""

    hooks: Sequence[Callable[[Any], Any]]
    event: Any


Steps = Generator["Send | SendMulticall | Pause | Now | Handle | Take | Close | Log", Any, T]
Stream = Generator["Launch | Next | Emit", Any, None]
Primitive = Transmit | Notify | Pause | Handle | Take | Close
Primitives = Generator[Primitive, Any, T]


class Turns(Generic[T]):
    """A conversation taken turn by turn, for a driver: :meth:`step` gives the next step (``None`` once the
    conversation has returned, its value then in :attr:`result`); :meth:`answer` or :meth:`fail` says how
    that step went, before the next :meth:`step`."""

    def __init__(self, steps: Generator[Any, Any, T]) -> None:
        self._steps = steps
        self._answer: Any = None
        self._failure: BaseException | None = None
        self._done = False
        self._result: T | None = None

    def step(self) -> Any:
        answer, failure = self._answer, self._failure
        self._answer, self._failure = None, None
        try:
            return self._steps.send(answer) if failure is None else self._steps.throw(failure)
        except StopIteration as done:
            self._done, self._result = True, done.value
            return None

    def answer(self, value: Any) -> None:
        self._answer = value

    def fail(self, failure: BaseException) -> None:
        self._failure = failure

    def close(self) -> None:
        self._steps.close()

    @property
    def result(self) -> T:
        assert self._done, "the conversation has not returned yet"
        return self._result  # type: ignore[return-value]


class Driver(Protocol):
    """What a synchronous resource needs from its client."""

    @property
    def config(self) -> ClientConfig: ...

    def run(self, steps: Steps[T], handler: Handler | None = None, seen: Seen | None = None) -> T:
        """Run a conversation to its end; ``seen`` is shown every response, with the clock's reading."""
        ...

    def stream(self, steps: Stream) -> Iterator[Any]:
        """Run a streaming conversation, handing out what it emits."""
        ...


class AsyncDriver(Protocol):
    """What an asynchronous resource needs from its client: :class:`Driver`, awaited."""

    @property
    def config(self) -> ClientConfig: ...

    def run(
        self, steps: Steps[T], handler: Handler | None = None, seen: Seen | None = None
    ) -> Awaited[T]: ...

    def stream(self, steps: Stream) -> AsyncIterator[Any]: ...


def handling(steps: Steps[T], handle: Callable[[Any], Steps[Any]]) -> Steps[T]:
    """``steps`` with its :class:`Handle` steps answered by the conversation ``handle(orders)`` instead of
    the caller's handler: how an incremental sync stores each page a drain hands out. A failure of
    ``handle`` is thrown into ``steps``, as a failing handler's would be."""
    turns = Turns(steps)
    while (step := turns.step()) is not None:
        yield from _handled(turns, step, handle)
    return turns.result


def _handled(turns: Turns[Any], step: Any, handle: Callable[[Any], Steps[Any]]) -> Steps[None]:
    """One step of :func:`handling`: a ``Handle`` answered by ``handle``, any other passed on."""
    try:
        answer = (yield from handle(step.orders)) if isinstance(step, Handle) else (yield step)
    except GeneratorExit:
        turns.close()
        raise
    except BaseException as exc:  # the inner conversation decides what a failure means
        turns.fail(exc)
    else:
        turns.answer(answer)


def first_of(steps: Steps[Page[T]]) -> Steps[T | None]:
    """The first item of the page a conversation returns (a lookup by id), or ``None``."""
    page = yield from steps
    return page.items[0] if page.items else None


def ask(call: Call) -> Steps[tuple[dict[str, Any], httpx.Response]]:
    """The smallest conversation: one call, answered ``(envelope, response)``."""
    answer: tuple[dict[str, Any], httpx.Response] = yield Send(call)
    return answer
