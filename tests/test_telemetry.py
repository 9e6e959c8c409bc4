"""Observability: one log record per attempt, event hooks, OpenTelemetry spans and counters, and no secret
in any of them. Every scenario runs with ``Client`` and ``AsyncClient``."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import mivaorders as mo
from mivaorders import RetryPolicy
from mivaorders.testing import FakeStore, Fault

FAST = RetryPolicy(max_attempts=4, wait=False)
LOAD = "OrderList_Load_Query"
KINDS = ["sync", "async"]


@attrs.define
class Otel:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def counter(self, name: str) -> dict[tuple[tuple[str, Any], ...], int]:
        data = self.metrics.get_metrics_data()
        values: dict[tuple[tuple[str, Any], ...], int] = {}
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            values[tuple(sorted((point.attributes or {}).items()))] = int(point.value)  # type: ignore[union-attr]
        return values

    def total(self, name: str) -> int:
        return sum(self.counter(name).values())


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(exporter, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def run(kind: str, store: FakeStore, action: Callable[[Any], Any], **options: Any) -> Any:
    """Run ``action(client)`` with a sync client, or await it with an async one."""
    options.setdefault("retry", FAST)
    if kind == "sync":
        with store.client(**options) as client:
            return action(client)

    async def main() -> Any:
        async with store.async_client(**options) as client:
            result = action(client)
            return await result if asyncio.iscoroutine(result) else result

    return asyncio.run(main())


async def _collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


def pull_all(client: Any, **kwargs: Any) -> Any:
    iterator = client.orders.iter(**kwargs)
    return list(iterator) if isinstance(client, mo.Client) else _collect(iterator)


# -- logging ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_one_log_record_per_attempt(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mivaorders.http")
    store = FakeStore(orders=5, seed=1)
    store.faults.script(Fault.http(503), function=LOAD)
    page = run(kind, store, lambda c: c.orders.list(count=5))
    assert len(page) == 5
    records = [r for r in caplog.records if r.name == "mivaorders.http"]
    assert len(records) == 2
    failed, ok = records
    assert (failed.levelno, ok.levelno) == (logging.INFO, logging.DEBUG)
    for record, attempt, status, outcome in ((failed, 1, 503, "HTTPStatusError"), (ok, 2, 200, "ok")):
        fields = record.__dict__
        assert fields["miva_function"] == LOAD
        assert fields["miva_store"] == "SIM"
        assert fields["miva_attempt"] == attempt
        assert fields["miva_status"] == status
        assert fields["miva_outcome"] == outcome
        assert isinstance(fields["miva_elapsed"], float)
        assert fields["miva_elapsed"] >= 0
        assert fields["miva_request_id"] is None  # the simulator sets no request id header
        message = record.getMessage()
        assert f"{LOAD} store=SIM attempt={attempt} status={status}" in message
        assert f"outcome={outcome}" in message


@pytest.mark.parametrize("kind", KINDS)
def test_a_transport_failure_is_logged_without_a_status(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mivaorders.http")
    store = FakeStore(orders=3, seed=1)
    store.faults.script(Fault.drop(), times=4, function=LOAD)
    with pytest.raises(mo.TransportError):
        run(kind, store, lambda c: c.orders.list())
    records = [r for r in caplog.records if r.name == "mivaorders.http"]
    assert [r.__dict__["miva_attempt"] for r in records] == [1, 2, 3, 4]
    assert {r.__dict__["miva_status"] for r in records} == {None}
    assert {r.__dict__["miva_outcome"] for r in records} == {"TransportError"}
    assert "status=-" in records[0].getMessage()


def test_the_request_id_comes_from_the_response_headers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mivaorders.http")
    events: list[mo.ResponseEvent] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = {"success": 1, "data": {"total_count": 0, "start_offset": 0, "data": []}}
        return httpx.Response(200, json=body, headers={"X-Request-ID": "req-42"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with mo.Client(
        "https://shop.example.com/mm5/json.mvc",
        store_code="S",
        auth=mo.TokenAuth("t" * 32),
        http_client=http,
        event_hooks={"response": [events.append]},
    ) as client:
        client.orders.list()
    http.close()
    assert events[0].request_id == "req-42"
    assert caplog.records[-1].__dict__["miva_request_id"] == "req-42"


# -- event hooks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_hooks_see_every_attempt_in_order(kind: str) -> None:
    seen: list[tuple[str, Any]] = []
    store = FakeStore(orders=4, seed=2)
    store.faults.script(Fault.rate_limit(retry_after=None), function=LOAD)

    if kind == "sync":
        hooks: Any = {
            "request": [lambda e: seen.append(("request", e))],
            "response": [lambda e: seen.append(("response", e))],
        }
    else:

        async def on_request(event: mo.RequestEvent) -> None:
            await asyncio.sleep(0)
            seen.append(("request", event))

        def on_response(event: mo.ResponseEvent) -> None:  # plain callables work on AsyncClient too
            seen.append(("response", event))

        hooks = {"request": [on_request], "response": [on_response]}
    run(kind, store, lambda c: c.orders.list(count=4), event_hooks=hooks)
    assert [name for name, _ in seen] == ["request", "response", "request", "response"]
    first, second = seen[1][1], seen[3][1]
    assert isinstance(seen[0][1], mo.RequestEvent)
    assert (seen[0][1].function, seen[0][1].attempt, seen[2][1].attempt) == (LOAD, 1, 2)
    assert isinstance(first, mo.ResponseEvent)
    assert isinstance(second, mo.ResponseEvent)
    assert (first.attempt, first.status_code, first.outcome, first.ok) == (1, 429, "HTTPStatusError", False)
    assert (second.attempt, second.status_code, second.outcome, second.ok) == (2, 200, "ok", True)
    assert second.store_code == "SIM"
    assert second.endpoint == store.endpoint
    assert second.response_bytes is not None
    assert second.response_bytes > 100


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_hook_fails_the_call(kind: str, otel: Otel) -> None:
    def broken(event: mo.RequestEvent) -> None:
        raise RuntimeError("hook bug")

    store = FakeStore(orders=2, seed=1)
    hooks: Any = {"request": [broken]}
    with pytest.raises(RuntimeError, match="hook bug"):
        run(kind, store, lambda c: c.orders.list(), event_hooks=hooks, tracer_provider=otel.tracer_provider)
    assert store.stats.requests == 0  # a request hook runs before anything is sent
    # Nothing was sent, so no attempt span; the call's span ends with the hook's error.
    (call,) = otel.finished()
    assert call.name == f"miva {LOAD}"
    assert call.attributes is not None
    assert (call.attributes["miva.outcome"], call.attributes["miva.attempts"]) == ("RuntimeError", 0)
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN


def test_copies_share_the_hooks() -> None:
    seen: list[mo.ResponseEvent] = []
    store = FakeStore(orders=3, seed=1)
    with store.client(event_hooks={"response": [seen.append]}) as client:
        client.with_options(retry=None, store_code="sim").orders.list()
    assert [(e.store_code, e.outcome) for e in seen] == [("sim", "ok")]


def test_hook_shapes_are_checked() -> None:
    store = FakeStore(orders=1)

    async def async_hook(event: mo.RequestEvent) -> None:
        return None

    bad: list[tuple[Any, str]] = [
        ({"requests": []}, "unknown key"),
        ({"request": print}, "list of callables"),
        ({"response": ["not callable"]}, "not callable"),
        ({"request": [async_hook]}, "async hooks belong on AsyncClient"),
    ]
    for hooks, message in bad:
        with pytest.raises(mo.ConfigurationError, match=message):
            store.client(event_hooks=hooks)
    store.async_client(event_hooks={"request": [async_hook]})  # fine there


# -- OpenTelemetry ---------------------------------------------------------------------------------


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


@pytest.mark.parametrize("kind", KINDS)
def test_a_span_per_call_and_per_attempt(kind: str, otel: Otel) -> None:
    store = FakeStore(orders=6, seed=1)
    store.faults.script(Fault.http(502), function=LOAD)
    options = {"tracer_provider": otel.tracer_provider, "meter_provider": otel.meter_provider}
    run(kind, store, lambda c: c.orders.list(count=6), **options)
    spans = otel.finished()
    (call,) = by_name(spans, f"miva {LOAD}")
    attempts = by_name(spans, f"miva {LOAD} attempt")
    assert len(spans) == 3
    assert len(attempts) == 2
    assert call.kind is SpanKind.INTERNAL
    assert call.attributes is not None
    assert call.attributes["miva.function"] == LOAD
    assert call.attributes["miva.store_code"] == "SIM"
    assert call.attributes["miva.outcome"] == "ok"
    assert call.attributes["miva.attempts"] == 2
    assert call.attributes["miva.orders"] == 6
    assert call.status.status_code is StatusCode.UNSET
    failed, ok = sorted(attempts, key=lambda s: str((s.attributes or {}).get("miva.attempt")))
    for span in attempts:
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id == call.context.span_id
        assert span.attributes is not None
        assert span.attributes["server.address"] == "sim.mivaorders.test"
        assert span.attributes["server.port"] == 443
    assert failed.attributes is not None
    assert ok.attributes is not None
    assert failed.attributes["http.response.status_code"] == 502
    assert failed.attributes["error.type"] == "HTTPStatusError"
    assert failed.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in failed.attributes
    assert ok.attributes["http.response.status_code"] == 200
    assert ok.attributes["http.request.resend_count"] == 1
    assert ok.attributes["miva.outcome"] == "ok"
    assert otel.total("mivaorders.retries") == 1
    assert otel.total("mivaorders.orders.pulled") == 6
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN  # the context is restored


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_call_ends_its_span_with_the_error(kind: str, otel: Otel) -> None:
    store = FakeStore(orders=2, seed=1)
    store.faults.script(Fault.http(500), times=2, function=LOAD)
    options = {"tracer_provider": otel.tracer_provider, "retry": RetryPolicy(max_attempts=2, wait=False)}
    with pytest.raises(mo.HTTPStatusError):
        run(kind, store, lambda c: c.orders.list(), **options)
    (call,) = by_name(otel.finished(), f"miva {LOAD}")
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None
    assert (call.attributes["miva.outcome"], call.attributes["miva.attempts"]) == ("HTTPStatusError", 2)
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN


@pytest.mark.parametrize("kind", KINDS)
def test_call_spans_nest_under_the_callers_span(kind: str, otel: Otel) -> None:
    store = FakeStore(orders=3, seed=1)
    tracer = otel.tracer_provider.get_tracer("integration")
    with tracer.start_as_current_span("nightly sync") as outer:
        run(kind, store, lambda c: c.orders.list(), tracer_provider=otel.tracer_provider)
    (call,) = by_name(otel.finished(), f"miva {LOAD}")
    assert call.parent is not None
    assert call.parent.span_id == outer.get_span_context().span_id


@pytest.mark.parametrize("kind", KINDS)
def test_counters_for_pulls_and_acknowledgements(kind: str, otel: Otel) -> None:
    store = FakeStore(orders=30, seed=4)
    options = {"tracer_provider": otel.tracer_provider, "meter_provider": otel.meter_provider}
    orders = run(kind, store, lambda c: pull_all(c, page_size=7), **options)
    assert otel.total("mivaorders.orders.pulled") == len(orders) == 30
    ids = [*sorted(store.truth())[:2], 999_999_999]  # two members and an id the store does not know
    result = run(kind, store, lambda c: c.queues.acknowledge(ids), **options)
    assert result.unknown_ids == (999_999_999,)
    assert otel.total("mivaorders.acknowledgements") == 2
    (attributes,) = otel.counter("mivaorders.acknowledgements")
    assert dict(attributes)["miva.function"] == "Module:orderworkflow:OrderList_Acknowledge"


@pytest.mark.parametrize("kind", KINDS)
def test_a_queue_drain_counts_loads_and_acknowledgements(kind: str, otel: Otel) -> None:
    store = FakeStore(orders=200, seed=8)
    queued = set(store.queue_members("new_and_updated"))
    assert len(queued) > 3
    stored: list[int] = []
    report = run(
        kind,
        store,
        lambda c: c.queues.drain("new_and_updated", lambda orders: stored.extend(o.id for o in orders)),
        meter_provider=otel.meter_provider,
    )
    assert set(stored) == queued
    assert report.acknowledged == len(queued)
    assert otel.total("mivaorders.acknowledgements") == len(queued)
    loads = otel.counter("mivaorders.orders.pulled")
    by_function = {dict(key)["miva.function"]: value for key, value in loads.items()}
    # Every order the queue loads brought (the drain's guard re-read counts under OrderList_Load_Query).
    assert by_function["Module:orderworkflow:QueueOrderList_Load_Query"] == len(stored)
    assert store.queue_members("new_and_updated") == []


def test_multicall_pages_are_counted(otel: Otel) -> None:
    store = FakeStore(orders=12, seed=5)
    with store.client(retry=FAST, meter_provider=otel.meter_provider) as client:
        results = client.multicall(
            [
                {"Function": LOAD, "Count": 5, "Offset": 0},
                {"Function": LOAD, "Count": 5, "Offset": 5},
                {"Function": "OrderCustomFieldList_Load"},
            ]
        )
    assert len(results) == 3
    assert otel.total("mivaorders.orders.pulled") == 10
    # Counted under the operation's function, not under "multicall[3]".
    (attributes,) = otel.counter("mivaorders.orders.pulled")
    assert dict(attributes)["miva.function"] == LOAD


# -- secrets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_no_secret_in_logs_hooks_spans_or_metrics(
    kind: str, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = FakeStore(orders=4, seed=6)
    passphrase = "sim-passphrase"  # the simulator's; decrypts payment data
    events: list[Any] = []
    signatures: list[str] = []

    def capture(request: httpx.Request) -> None:
        signatures.append(request.headers["X-Miva-API-Authorization"].split(":")[-1])

    for fault in (Fault.http(503), Fault.truncate(), Fault.api_error(), Fault.drop()):
        store.faults.script(fault, when="after" if fault.kind == "truncate" else "before", function=LOAD)
    hooks: Any = {"request": [events.append], "response": [events.append]}
    options = {
        "tracer_provider": otel.tracer_provider,
        "meter_provider": otel.meter_provider,
        "event_hooks": hooks,
        "retry": RetryPolicy(max_attempts=6, wait=False, retry_on=lambda exc: True),
    }
    if kind == "sync":
        options["http_client"] = httpx.Client(transport=store.transport(), event_hooks={"request": [capture]})
    else:

        async def acapture(request: httpx.Request) -> None:
            capture(request)

        options["http_client"] = httpx.AsyncClient(
            transport=store.async_transport(), event_hooks={"request": [acapture]}
        )
    page = run(
        kind,
        store,
        lambda c: c.orders.list(columns=[mo.PAYMENTS, mo.PAYMENT_DATA], passphrase=passphrase),
        **options,
    )
    assert len(page) == 4
    assert len(events) == 10
    assert len(signatures) == 5
    texts = [caplog.text, *(repr(r.__dict__) for r in caplog.records), *(repr(e) for e in events)]
    for span in otel.finished():
        texts += [span.name, repr(dict(span.attributes or {})), repr(span.status.description)]
        texts += [repr(event.attributes) for event in span.events]
    texts.append(otel.metrics.get_metrics_data().to_json())  # type: ignore[union-attr]
    blob = "\n".join(texts)
    assert "HTTPStatusError" in blob
    assert "ResponseDecodeError" in blob
    assert "APIError" in blob
    for secret in [store.token, store.signing_key, passphrase, *signatures]:
        assert secret not in blob


# -- without the extra -----------------------------------------------------------------------------


def test_without_opentelemetry_the_client_still_logs_and_calls_hooks(tmp_path: Any) -> None:
    """``opentelemetry`` blocked from import: telemetry is logging and hooks, and nothing fails."""
    script = textwrap.dedent(
        """
        import json, logging, sys
        sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
        from mivaorders import _telemetry
        from mivaorders.testing import FakeStore
        records = []
        logging.getLogger("mivaorders.http").addHandler(logging.Handler())
        logging.getLogger("mivaorders.http").handlers[0].emit = records.append
        logging.getLogger("mivaorders.http").setLevel(logging.DEBUG)
        events = []
        with FakeStore(orders=3).client(event_hooks={"response": [events.append]}) as client:
            page = client.orders.list()
        print(json.dumps({
            "otel": _telemetry.OTEL_AVAILABLE,
            "loaded": "opentelemetry.trace" in sys.modules,
            "orders": len(page),
            "records": len(records),
            "events": [e.outcome for e in events],
        }))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == {
        "otel": False,
        "loaded": False,
        "orders": 3,
        "records": 1,
        "events": ["ok"],
    }


def test_a_sync_pull_decodes_fixed_pages_in_the_callers_thread_and_adaptive_ones_in_its_fetch_thread() -> (
    None
):
    """Pages of a fixed size only travel in the pool's threads: their hooks (and decoding) run in the
    caller's thread, between its turns; an adaptive pull's pages are fetched whole in a fetch thread."""
    store = FakeStore(orders=60, seed=4)
    threads: list[str] = []
    hooks: mo.EventHooks = {"response": [lambda event: threads.append(threading.current_thread().name)]}
    with store.client(event_hooks=hooks, retry=FAST) as client:
        fixed = client.orders.iter(page_size=10, columns=(), paging=mo.FastPaging(concurrency=3))
        assert len({order.id for order in fixed}) == 60
        assert threads
        assert set(threads) == {threading.current_thread().name}
        threads.clear()
        assert len({order.id for order in client.orders.iter(columns=())}) == 60
        assert threads
        assert all(name.startswith("mivaorders-fetch") for name in threads)
