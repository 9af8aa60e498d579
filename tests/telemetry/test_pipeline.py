"""A posted event's trace, from the API's request to the worker's stores.

The API side is a small app made of the real :class:`Publisher` and the
telemetry middleware, so these tests do not depend on how the ingest routes
authenticate; the worker side is the real :class:`Consumer`.
"""

from __future__ import annotations

import socket
import urllib.request
import uuid
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import pika
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind

from ga4clone.api.publisher import Publisher
from ga4clone.settings import Settings
from ga4clone.telemetry import (
    RequestContext,
    active_tracer,
    inject,
    instrument_asgi,
)
from ga4clone.topology import ROUTING_KEY, Topology, declare
from tests.conftest import daily_metric, wait_for
from tests.telemetry.conftest import ServerAsTuple, named, sample
from tests.worker.test_consumer import RunningWorker, message

pytestmark = pytest.mark.integration


class _Relay:
    """Publishes the request body, an event message, as it is."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        await self._publisher.publish(await req.stream.read(), str(uuid.uuid4()))
        resp.status = falcon.HTTP_202


class _Lifespan:
    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    async def process_startup(self, _scope: Any, _event: Any) -> None:
        await self._publisher.start()

    async def process_shutdown(self, _scope: Any, _event: Any) -> None:
        await self._publisher.close()


def _app(settings: Settings) -> Any:
    publisher = Publisher(settings)
    app = falcon.asgi.App(middleware=[_Lifespan(publisher), RequestContext()])
    app.add_route("/events", _Relay(publisher))
    return ServerAsTuple(instrument_asgi(app))


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_flush_interval_ms": 100})


def _one(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [found] = named(spans, name)
    return found


async def test_request_publish_and_batch_share_one_trace(
    fast: Settings, postgres: Any, spans: InMemorySpanExporter
) -> None:
    project = uuid.uuid4()
    async with falcon.testing.ASGIConductor(_app(fast)) as client:
        result = await client.simulate_post(
            "/events",
            body=message(project, 2),
            headers={"Content-Type": "application/json"},
        )
    assert result.status_code == 202

    with RunningWorker(fast):
        wait_for(lambda: daily_metric(postgres, project, "events") == 2)
    finished = spans.get_finished_spans()

    server = _one(finished, "POST /events")
    producer = _one(finished, f"publish {fast.rabbitmq_exchange}")
    batch = _one(finished, f"process {fast.rabbitmq_queue}")
    insert = _one(finished, "INSERT events")
    transaction = _one(finished, "transaction daily_metrics")
    assert server.kind is SpanKind.SERVER and producer.kind is SpanKind.PRODUCER
    assert producer.parent is not None
    assert producer.parent.span_id == server.context.span_id
    assert producer.context.trace_id == server.context.trace_id
    [link] = batch.links
    assert link.context.trace_id == server.context.trace_id
    assert link.context.span_id == producer.context.span_id
    for child in (insert, transaction):
        assert child.parent is not None
        assert child.parent.span_id == batch.context.span_id
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
