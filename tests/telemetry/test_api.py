"""The API's side: server spans, request ids, request metrics and /metrics."""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from ga4clone.logs import JsonFormatter, request_id
from ga4clone.telemetry import (
    MetricsResource,
    RequestContext,
    RequestMetrics,
    active_tracer,
    instrument_asgi,
    record_accepted,
    record_rejected,
    setup_tracing,
    tracing_configured,
)
from tests.conftest import base_settings
from tests.telemetry.conftest import ServerAsTuple


class _Judge:
    """Accepts a body of ``{"n": k}`` as k events; refuses anything else."""

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        body: Any = await req.get_media()
        if isinstance(body, dict) and isinstance(body.get("n"), int):
            record_accepted(body["n"])
            resp.status = falcon.HTTP_202
        else:
            record_rejected("invalid")
            resp.status = falcon.HTTP_400


def _app() -> Any:
    app = falcon.asgi.App(middleware=[RequestContext(), RequestMetrics()])
    app.add_route("/events", _Judge())
    app.add_route("/metrics", MetricsResource())
    return app


def _scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


async def test_metrics_report_exact_accepted_and_rejected_counts() -> None:
    async with falcon.testing.ASGIConductor(_app()) as client:
        before = _scrape((await client.simulate_get("/metrics")).text)
        for n in (1, 2, 3):
            await client.simulate_post("/events", json={"n": n})
        for _ in range(2):
            await client.simulate_post("/events", json=["not", "events"])
        await client.simulate_post("/nowhere", json={})
        after = _scrape((await client.simulate_get("/metrics")).text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("ga4clone_events_accepted_total") == 6
    assert delta("ga4clone_events_rejected_total", reason="invalid") == 2
    assert delta("ga4clone_http_requests_total", route="/events", status="202") == 3
    assert delta("ga4clone_http_requests_total", route="/events", status="400") == 2
    assert delta("ga4clone_http_requests_total", route="unmatched", status="404") == 1


async def test_request_id_is_kept_when_given_and_made_when_not() -> None:
    async with falcon.testing.ASGIConductor(_app()) as client:
        given = await client.simulate_post(
            "/events", json={"n": 1}, headers={"X-Request-Id": "edge-42"}
        )
        forged = await client.simulate_post(
            "/events", json={"n": 1}, headers={"X-Request-Id": 'a" "b'}
        )
        absent = await client.simulate_post("/events", json={"n": 1})

    assert given.headers["X-Request-Id"] == "edge-42"
    assert forged.headers["X-Request-Id"] != 'a" "b'
    assert len(absent.headers["X-Request-Id"]) == 32


async def test_each_request_is_one_server_span_named_by_its_route(
    spans: InMemorySpanExporter,
) -> None:
    async with falcon.testing.ASGIConductor(
        ServerAsTuple(instrument_asgi(_app()))
    ) as client:
        await client.simulate_post("/events", json={"n": 1})
        await client.simulate_get("/metrics")

    [server] = spans.get_finished_spans()
    assert server.kind is SpanKind.SERVER
    assert server.name == "POST /events"
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/events"


def test_log_lines_carry_the_request_id_and_the_trace_id(
    spans: InMemorySpanExporter,
) -> None:
    tracer = active_tracer()
    assert tracer is not None
    record = logging.makeLogRecord({"msg": "Published %d", "args": (1,)})
    token = request_id.set("req-1")
    try:
        with tracer.start_as_current_span("request") as current:
            line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)

    assert line["message"] == "Published 1"
    assert line["request_id"] == "req-1"
    assert line["trace_id"] == format(current.get_span_context().trace_id, "032x")


def test_tracing_is_off_and_the_app_unwrapped_without_an_endpoint() -> None:
    settings = base_settings()
    app = _app()

    setup_tracing(settings, "ga4clone-api")

    assert not tracing_configured(settings)
    assert active_tracer() is None
    assert instrument_asgi(app) is app


def test_tracing_switch_follows_the_otel_variables() -> None:
    def configured(**values: str) -> bool:
        return tracing_configured(base_settings(**values))

    assert configured(otel_exporter_otlp_endpoint="http://collector:4318")
    assert configured(
        otel_exporter_otlp_traces_endpoint="http://collector:4318/v1/traces"
    )
    # otlp without an endpoint means the specification's localhost default.
    assert configured(otel_traces_exporter="otlp")
    assert configured(otel_traces_exporter="console")
    assert not configured(
        otel_exporter_otlp_endpoint="http://collector:4318", otel_traces_exporter="none"
    )
    assert not configured()
