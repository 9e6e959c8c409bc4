"""What a client tells the outside world about each call and each HTTP attempt.

Three outlets, all fed from the same two points (an attempt starts; an attempt ends):

* one ``logging`` record per attempt on the ``mivaorders.http`` logger;
* the user's event hooks (``Client(event_hooks={"request": [...], "response": [...]})``), which get
  :class:`RequestEvent` / :class:`ResponseEvent` values -- never the ``httpx`` request, whose headers carry
  the token and the signature;
* OpenTelemetry spans (one per call, one per attempt) and counters, when ``opentelemetry-api`` is installed
  (``mivaorders[otel]``). Without it the import fails once, here, and every OpenTelemetry step is skipped.

Nothing here ever sees a secret: events are built from the function name, the store code, the endpoint's
host, HTTP statuses, timings, counts and exception class names. Exception messages are not recorded.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

import attrs
import httpx

from ._exceptions import ConfigurationError
from ._page import Page
from ._version import __version__

try:  # the optional extra: looked for once, at import
    from opentelemetry import context as otel_context
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace

    OTEL_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised in a subprocess without the package
    OTEL_AVAILABLE = False

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

__all__ = [
    "OTEL_AVAILABLE",
    "AsyncEventHooks",
    "CallScope",
    "EventHooks",
    "RequestEvent",
    "ResponseEvent",
    "Telemetry",
]

logger = logging.getLogger("mivaorders.http")

#: Response headers that carry a request id set by the store's server, a proxy or a CDN (first wins).
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-amz-cf-id", "cf-ray")

_ORDER_LOADS = frozenset({"OrderList_Load_Query", "QueueOrderList_Load_Query"})
_ACKNOWLEDGE = "OrderList_Acknowledge"
_UNKNOWN_ORDER = "MER-UTIL-ORWF-00180"  # OrderList_Acknowledge's warning for an id it does not know


@attrs.frozen
class RequestEvent:
    """An HTTP attempt is about to be sent (given to ``event_hooks["request"]``).

    ``function`` is the Miva function (``Module:<module>:<function>`` for module calls,
    ``multicall[N]`` for an ``Operations`` request); ``attempt`` counts from 1 and restarts for each
    continuation request of a multicall.
    """

    function: str
    store_code: str
    attempt: int
    endpoint: str


@attrs.frozen
class ResponseEvent:
    """An HTTP attempt ended (given to ``event_hooks["response"]``), with or without a response.

    ``outcome`` is ``"ok"`` or the class name of the error the attempt ended with (``HTTPStatusError``,
    ``TransportError``, ``APIError``, ...); ``status_code`` is ``None`` when no response arrived.
    ``elapsed`` is in seconds, sending to reading the answer. ``request_id`` is the first of the
    response headers in :data:`REQUEST_ID_HEADERS` (Miva itself sets none; proxies and CDNs often do).
    """

    function: str
    store_code: str
    attempt: int
    endpoint: str
    outcome: str
    status_code: int | None
    elapsed: float
    request_id: str | None
    response_bytes: int | None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


RequestHook = Callable[[RequestEvent], object]
ResponseHook = Callable[[ResponseEvent], object]
AsyncRequestHook = Callable[[RequestEvent], "Awaitable[object] | object"]
AsyncResponseHook = Callable[[ResponseEvent], "Awaitable[object] | object"]


class EventHooks(TypedDict, total=False):
    """``Client(event_hooks=...)``: plain callables, run in order for every attempt."""

    request: Sequence[RequestHook]
    response: Sequence[ResponseHook]


class AsyncEventHooks(TypedDict, total=False):
    """``AsyncClient(event_hooks=...)``: async callables (awaited), or plain ones, run in order."""

    request: Sequence[AsyncRequestHook]
    response: Sequence[AsyncResponseHook]


def _check_hooks(hooks: Mapping[str, object] | None, *, allow_async: bool) -> tuple[list[Any], list[Any]]:
    if hooks is None:
        return [], []
    if not isinstance(hooks, Mapping):
        raise ConfigurationError('event_hooks must be a dict like {"request": [...], "response": [...]}')
    unknown = sorted(str(key) for key in hooks if key not in ("request", "response"))
    if unknown:
        raise ConfigurationError(
            f"event_hooks has unknown key(s) {', '.join(map(repr, unknown))}; use 'request' and 'response'"
        )
    lists: dict[str, list[Any]] = {}
    for key in ("request", "response"):
        value = hooks.get(key, ())
        if callable(value) or not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
            raise ConfigurationError(f'event_hooks["{key}"] must be a list of callables')
        for hook in value:
            if not callable(hook):
                raise ConfigurationError(f'event_hooks["{key}"] holds {hook!r}, which is not callable')
            if not allow_async and _is_async(hook):
                raise ConfigurationError(
                    f'event_hooks["{key}"]: {hook!r} is async; Client runs plain callables '
                    "(async hooks belong on AsyncClient)"
                )
        lists[key] = list(value)
    return lists["request"], lists["response"]


def _is_async(hook: object) -> bool:
    # A coroutine function, or an object whose class defines ``async def __call__``.
    return inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(type(hook).__call__)


def _request_id(response: httpx.Response | None) -> str | None:
    if response is None:
        return None
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)[:200]  # bounded: a header is the server's text
    return None


def _page_rows(envelope: object) -> int:
    if isinstance(envelope, Mapping):
        data = envelope.get("data")
        if isinstance(data, Page):  # decoded in one pass by the typed decoder
            return len(data.items)
        if isinstance(data, Mapping) and isinstance(data.get("data"), list):
            return len(data["data"])
    return 0


def _acknowledged(envelope: object, sent: int | None) -> int:
    """Orders an acknowledgement answer says were acknowledged: processed ids minus unknown ones."""
    if not isinstance(envelope, Mapping):
        return 0
    processed = envelope.get("processed")
    if not isinstance(processed, int) or isinstance(processed, bool):
        return 0
    unknown = sum(
        1
        for warning in envelope.get("warnings") or ()
        if isinstance(warning, Mapping) and warning.get("code") == _UNKNOWN_ORDER
    )
    return max(0, (processed if sent is None else min(processed, sent)) - unknown)


def _operation_label(operation: Mapping[str, Any]) -> str:
    """A multicall operation named as calls are: ``Module:<module>:<function>`` for module functions."""
    function = str(operation.get("Function") or "?")
    if function == "Module":
        return f"Module:{operation.get('Module_Code') or '?'}:{operation.get('Module_Function') or '?'}"
    return function


def _function_name(label: str) -> str:
    """``Module:orderworkflow:OrderList_Acknowledge`` -> ``OrderList_Acknowledge``."""
    return label.rsplit(":", 1)[-1]


class _Instruments:
    """The OpenTelemetry tracer and instruments of one client (only built when the API is installed)."""

    def __init__(self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
        self.tracer = otel_trace.get_tracer("mivaorders", __version__, tracer_provider=tracer_provider)
        meter = otel_metrics.get_meter("mivaorders", __version__, meter_provider=meter_provider)
        self.orders_pulled = meter.create_counter(
            "mivaorders.orders.pulled", unit="{order}", description="Orders received from order loads"
        )
        self.retries = meter.create_counter(
            "mivaorders.retries", unit="{retry}", description="HTTP attempts after the first of a request"
        )
        self.acknowledgements = meter.create_counter(
            "mivaorders.acknowledgements", unit="{order}", description="Orders acknowledged in their queue"
        )
        self.duration = meter.create_histogram(
            "mivaorders.attempt.duration", unit="s", description="Duration of one HTTP attempt"
        )


class Telemetry:
    """A client's logging, event hooks and OpenTelemetry instruments. Shared by ``with_options`` copies."""

    def __init__(
        self,
        *,
        event_hooks: Mapping[str, object] | None,
        allow_async_hooks: bool,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.request_hooks, self.response_hooks = _check_hooks(event_hooks, allow_async=allow_async_hooks)
        self._otel = _Instruments(tracer_provider, meter_provider) if OTEL_AVAILABLE else None

    def call(self, function: str, store_code: str, endpoint: str) -> CallScope:
        """Start one call (a span covering its attempts); end it with :meth:`CallScope.end`."""
        return CallScope(self, function, store_code, endpoint)


class CallScope:
    """One call: its span, and the attempts made for it."""

    def __init__(self, telemetry: Telemetry, function: str, store_code: str, endpoint: str) -> None:
        self._telemetry = telemetry
        self.function = function
        self.store_code = store_code
        self.endpoint = endpoint
        parts = urlsplit(endpoint)
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._attrs: dict[str, str | int] = {"miva.function": function, "miva.store_code": store_code}
        self._attempts = 0
        self._orders = 0
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        otel = telemetry._otel
        if otel is not None:
            self._span = otel.tracer.start_span(
                f"miva {function}", kind=otel_trace.SpanKind.INTERNAL, attributes=self._attrs
            )
            self._token = otel_context.attach(otel_trace.set_span_in_context(self._span))

    # -- attempts ----------------------------------------------------------------------------------

    def request_event(self, attempt: int) -> RequestEvent:
        """What the ``"request"`` hooks get; they run before :meth:`start_attempt`."""
        return RequestEvent(self.function, self.store_code, attempt, self.endpoint)

    def start_attempt(self, attempt: int) -> _AttemptProbe:
        """The attempt is being sent now: its span and clock start. End it with ``finished()``."""
        self._attempts += 1
        return _AttemptProbe(self, attempt)

    # -- results -----------------------------------------------------------------------------------

    def result(
        self,
        result: object,
        *,
        params: Mapping[str, Any] | None = None,
        operations: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Count what a successful call brought: orders loaded, orders acknowledged. ``result`` is the
        envelope of a single call, or the ``OperationResult`` list of a multicall (with ``operations``)."""
        if operations is None:
            self._count(self.function, result, params or {})
            return
        for operation, answer in zip(operations, result if isinstance(result, list) else [], strict=False):
            label = _operation_label(operation)
            for one in answer if isinstance(answer, list) else [answer]:
                if getattr(one, "ok", False):
                    self._count(label, getattr(one, "envelope", None), operation)

    def _count(self, label: str, envelope: object, params: Mapping[str, Any]) -> None:
        """Counts by the function that brought them (a multicall's operations each by their own)."""
        otel = self._telemetry._otel
        name = _function_name(label)
        attributes = {"miva.function": label, "miva.store_code": self.store_code}
        if name in _ORDER_LOADS:
            rows = _page_rows(envelope)
            self._orders += rows
            if otel is not None and rows:
                otel.orders_pulled.add(rows, attributes)
        elif name == _ACKNOWLEDGE and otel is not None:
            ids = params.get("Order_IDs")
            count = _acknowledged(envelope, len(ids) if isinstance(ids, list) else None)
            if count:
                otel.acknowledgements.add(count, attributes)

    def __enter__(self) -> CallScope:
        return self

    def __exit__(self, exc_type: object, error: BaseException | None, tb: object) -> None:
        self.end(error)

    def end(self, error: BaseException | None = None) -> None:
        span, token = self._span, self._token
        if span is None or token is None:
            return
        self._span = self._token = None
        try:
            if span.is_recording():
                span.set_attribute("miva.attempts", self._attempts)
                span.set_attribute("miva.orders", self._orders)
                _set_outcome(span, error)
            span.end()
        finally:
            otel_context.detach(token)


def _outcome(error: BaseException | None) -> str:
    return "ok" if error is None else type(error).__name__


def _set_outcome(span: Span, error: BaseException | None) -> None:
    span.set_attribute("miva.outcome", _outcome(error))
    if error is not None:
        span.set_attribute("error.type", type(error).__name__)
        # The class name only: an exception's text is the server's and is kept out of telemetry.
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, type(error).__name__))


class _AttemptProbe:
    """One HTTP attempt: its span and clock; :meth:`finished` logs it and returns the hook event."""

    def __init__(self, call: CallScope, attempt: int) -> None:
        self._call = call
        self.attempt = attempt
        self._span: Span | None = None
        self._token: Token[Context] | None = None
        otel = call._telemetry._otel
        if otel is not None:
            attributes: dict[str, str | int] = {
                **call._attrs,
                "miva.attempt": attempt,
                "http.request.method": "POST",
                "server.address": call._host,
                "server.port": call._port,
            }
            if attempt > 1:
                attributes["http.request.resend_count"] = attempt - 1
                otel.retries.add(1, call._attrs)
            self._span = otel.tracer.start_span(
                f"miva {call.function} attempt", kind=otel_trace.SpanKind.CLIENT, attributes=attributes
            )
            self._token = otel_context.attach(otel_trace.set_span_in_context(self._span))
        self._started = time.perf_counter()

    def finished(self, response: httpx.Response | None, error: BaseException | None) -> ResponseEvent:
        elapsed = time.perf_counter() - self._started
        call = self._call
        status = None if response is None else response.status_code
        outcome = _outcome(error)
        request_id = _request_id(response)
        size = None if response is None else len(response.content)
        level = logging.DEBUG if error is None else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "%s store=%s attempt=%d status=%s elapsed=%.3fs request_id=%s outcome=%s",
                call.function,
                call.store_code,
                self.attempt,
                "-" if status is None else status,
                elapsed,
                request_id or "-",
                outcome,
                extra={
                    "miva_function": call.function,
                    "miva_store": call.store_code,
                    "miva_attempt": self.attempt,
                    "miva_status": status,
                    "miva_elapsed": elapsed,
                    "miva_request_id": request_id,
                    "miva_outcome": outcome,
                },
            )
        otel = call._telemetry._otel
        span, token = self._span, self._token
        if otel is not None and span is not None and token is not None:
            self._span = self._token = None
            try:
                metric_attrs: dict[str, str | int] = {**call._attrs, "miva.outcome": outcome}
                if status is not None:
                    metric_attrs["http.response.status_code"] = status
                otel.duration.record(elapsed, metric_attrs)
                if span.is_recording():
                    if status is not None:
                        span.set_attribute("http.response.status_code", status)
                    if request_id is not None:
                        span.set_attribute("miva.request_id", request_id)
                    _set_outcome(span, error)
                span.end()
            finally:
                otel_context.detach(token)
        return ResponseEvent(
            call.function,
            call.store_code,
            self.attempt,
            call.endpoint,
            outcome,
            status,
            elapsed,
            request_id,
            size,
        )
