"""Watching a client work: a log line per HTTP attempt, event hooks, OpenTelemetry spans and counters.

Runs against the simulated store with a flaky network (every third request fails once), so the retries
show up in all three. The OpenTelemetry part needs ``opentelemetry-sdk`` (the ``otel`` extra brings only
the API; the SDK and its exporters are the application's choice).
"""

from __future__ import annotations

import logging
from collections import Counter

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import mivaorders as mo
from mivaorders.testing import FakeStore, Fault


def main() -> None:
    # 1. Standard logging: one record per attempt on the "mivaorders.http" logger.
    logging.basicConfig(format="%(levelname)-5s %(name)s: %(message)s")
    logging.getLogger("mivaorders.http").setLevel(logging.INFO)  # DEBUG shows successful attempts too

    # 2. Event hooks: plain callables for Client (async ones for AsyncClient), called for every attempt.
    outcomes: Counter[str] = Counter()

    def on_response(event: mo.ResponseEvent) -> None:
        outcomes[event.outcome] += 1
        if not event.ok:
            print(f"hook: {event.function} attempt {event.attempt} -> {event.outcome} ({event.status_code})")

    # 3. OpenTelemetry: here with in-memory exporters; in production an OTLP exporter, set up once.
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])

    store = FakeStore(orders=120, seed=7)
    store.faults.random(rate=0.3, kinds=[Fault.http(503)], seed=3, when="before")
    with store.client(
        retry=mo.RetryPolicy(wait=False, max_attempts=6),
        event_hooks={"response": [on_response]},
        tracer_provider=tracer_provider,  # leave both out to use the global providers
        meter_provider=meter_provider,
    ) as client:
        orders = list(client.orders.iter(page_size=25))

    print(f"pulled {len(orders)} orders; attempts by outcome: {dict(outcomes)}")
    names = Counter(span.name for span in spans.get_finished_spans())
    print(f"spans: {dict(names)}")
    data = metrics.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                counts = [p.value for p in metric.data.data_points if isinstance(p, NumberDataPoint)]
                if counts:  # the counters (mivaorders.attempt.duration is a histogram)
                    print(f"{metric.name}: {sum(counts)}")
    tracer_provider.shutdown()
    meter_provider.shutdown()


if __name__ == "__main__":
    main()
