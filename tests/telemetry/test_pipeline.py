"""A posted event's trace, from the API's request to the worker's stores.

The API is the real app of :func:`create_app`, with its real key check
against a project in PostgreSQL, wrapped as ``ga4clone api`` wraps it; the
worker side is the real :class:`Consumer`.
"""

from __future__ import annotations

import socket
import urllib.request
import uuid
from typing import Any

import falcon.testing
import pika
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from ga4clone.api.app import create_app
from ga4clone.settings import Settings
from ga4clone.telemetry import active_tracer, inject, instrument_asgi
from ga4clone.topology import ROUTING_KEY, Topology, declare
from tests.conftest import create_project, daily_metric, make_event, wait_for
from tests.telemetry.conftest import ServerAsTuple, named, sample
from tests.worker.test_consumer import RunningWorker, message

pytestmark = pytest.mark.integration


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_flush_interval_ms": 100})


def _one(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [found] = named(spans, name)
    return found


async def test_request_publish_and_batch_share_one_trace(
    fast: Settings, postgres: Any, spans: InMemorySpanExporter
) -> None:
    # Given the API as `ga4clone api` serves it, and a project's write key,
    created = create_project(fast)
    app = ServerAsTuple(instrument_asgi(create_app(fast)))

    # when an event is posted to /events and the worker stores it,
    async with falcon.testing.ASGIConductor(app) as client:
        result = await client.simulate_post(
            "/events",
            json=make_event(created.id),
            headers={"X-Api-Key": created.write_key},
        )
    assert result.status_code == 202, result.text
    with RunningWorker(fast):
        wait_for(lambda: daily_metric(postgres, created.id, "events") == 1)
    finished = spans.get_finished_spans()

    # then the request's SERVER span parents the PRODUCER span, the batch's
    # CONSUMER span links to that producer in the same trace, and the two
    # store writes are children of the batch span.
    server = _one(finished, "POST /events")
    producer = _one(finished, f"publish {fast.rabbitmq_exchange}")
    batch = _one(finished, f"process {fast.rabbitmq_queue}")
    insert = _one(finished, "INSERT events")
    transaction = _one(finished, "transaction daily_metrics")
    assert server.kind is SpanKind.SERVER
    assert producer.kind is SpanKind.PRODUCER
    assert batch.kind is SpanKind.CONSUMER
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/events"
    assert producer.parent is not None
    assert producer.parent.span_id == server.context.span_id
    assert producer.context.trace_id == server.context.trace_id
    [link] = batch.links
    assert link.context.trace_id == server.context.trace_id
    assert link.context.span_id == producer.context.span_id
    for child in (insert, transaction):
        assert child.parent is not None
        assert child.parent.span_id == batch.context.span_id
        assert child.context.trace_id == batch.context.trace_id
        assert child.kind is SpanKind.CLIENT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_dead_letter_and_redelivery_show_on_the_batch_span_and_metrics(
    fast: Settings, amqp: Any, postgres: Any, spans: InMemorySpanExporter
) -> None:
    # Given a traced undecodable message, delivered once before, and a good one ...
    served = fast.model_copy(update={"worker_metrics_port": _free_port()})
    declare(amqp, Topology.from_settings(served))
    project = uuid.uuid4()
    dead_before = sample("ga4clone_dead_lettered_total", reason="undecodable")
    redelivered_before = sample("ga4clone_redeliveries_total")
    tracer = active_tracer()
    assert tracer is not None
    with tracer.start_as_current_span("client publish") as client_span:
        headers = inject({})
    _publish(amqp, served, b"{not json", headers)
    _redeliver_once(amqp, served)
    _publish(amqp, served, message(project, 1), {})

    # ... when the worker stores the batch ...
    with RunningWorker(served):
        wait_for(lambda: daily_metric(postgres, project, "events") == 1)
        wait_for(lambda: sample("ga4clone_dead_letter_queue_depth") == 1)
        scraped = _scrape_worker(served.worker_metrics_port)

    # ... the batch span links the message and tells both facts, and so do metrics.
    batch = _one(spans.get_finished_spans(), f"process {served.rabbitmq_queue}")
    events = {event.name for event in batch.events}
    assert {"dead-lettered", "redelivered"} <= events
    assert client_span.get_span_context().span_id in {
        link.context.span_id for link in batch.links
    }
    assert sample("ga4clone_dead_lettered_total", reason="undecodable") == (
        dead_before + 1
    )
    assert sample("ga4clone_redeliveries_total") == redelivered_before + 1
    assert "ga4clone_queue_depth" in scraped


def _publish(
    amqp: Any, settings: Settings, body: bytes, headers: dict[str, Any]
) -> None:
    properties = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id=str(uuid.uuid4()),
        headers=headers,
    )
    amqp.basic_publish(settings.rabbitmq_exchange, ROUTING_KEY, body, properties)


def _redeliver_once(amqp: Any, settings: Settings) -> None:
    method, _properties, _body = wait_for(lambda: _get(amqp, settings.rabbitmq_queue))
    amqp.basic_nack(method.delivery_tag, requeue=True)


def _get(amqp: Any, queue: str) -> Any:
    method, properties, body = amqp.basic_get(queue, auto_ack=False)
    return (method, properties, body) if method else None


def _scrape_worker(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())
