"""The API's log lines: JSON with the request and trace ids, at LOG_LEVEL, and
never a password, in process and as ``ga4clone api`` writes them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import falcon.testing
import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from ga4clone.api.app import create_app
from ga4clone.logs import configure_logging
from ga4clone.settings import Settings
from ga4clone.telemetry import instrument_asgi
from tests.conftest import create_project, make_event, wait_for
from tests.telemetry.conftest import ServerAsTuple, named
from tests.test_e2e import Process, environment, free_port

pytestmark = pytest.mark.integration

# Distinctive, so that any appearance in a log line is this test's password.
_PASSWORDS = {
    "POSTGRES_PASSWORD": "pg-pw-Qm4t8Zr1",
    "RABBITMQ_PASSWORD": "amqp-pw-Vx2n7Lk9",
    "CLICKHOUSE_PASSWORD": "ch-pw-Hs5d3Wy6",
}
_REPORT = {
    "dateRanges": [{"startDate": "yesterday", "endDate": "today"}],
    "metrics": [{"name": "eventCount"}],
}


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Logging as `ga4clone` sets it up, its stderr stream swapped for a
    buffer; pytest's own logging is back after the test."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("pika").level
    configure_logging("INFO")
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    yield buffer
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("pika").setLevel(saved[2])


def _lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON; fails on a line that is not."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_a_request_log_line_carries_its_request_id_and_trace_id(
    settings: Settings,
    spans: InMemorySpanExporter,
    json_logs: io.StringIO,
) -> None:
    # Given the real app with tracing on, and a broker it cannot reach,
    created = create_project(settings)
    nowhere = settings.model_copy(update={"rabbitmq_port": 1})
    app = ServerAsTuple(instrument_asgi(create_app(nowhere)))

    # when a valid event is posted and cannot be published,
    async with falcon.testing.ASGIConductor(app) as client:
        result = await client.simulate_post(
            "/events",
            json=make_event(created.id),
            headers={"X-Api-Key": created.write_key},
        )

    # then the warning is one JSON line naming the request and its trace.
    assert result.status_code == 503
    [line] = [
        line
        for line in _lines(json_logs.getvalue())
        if line["message"].startswith("Publishing message")
    ]
    [server] = named(spans.get_finished_spans(), "POST /events")
    assert line["level"] == "WARNING"
    assert line["logger"] == "ga4clone.api.app"
    assert line["request_id"] == result.headers["X-Request-Id"]
    assert line["trace_id"] == format(server.context.trace_id, "032x")
    assert line["span_id"] == format(server.context.span_id, "016x")


def _serve(settings: Settings, **env: str) -> tuple[str, Process]:
    port = free_port()
    process = Process("api", {**environment(settings, port), **env})
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(base), timeout_s=20)
    return base, process


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: Process) -> list[dict[str, Any]]:
    """Stop `ga4clone api`; its output, every line of it JSON."""
    assert process.terminate() == 0
    return _lines(process.output())


def _post_event_and_report(
    base: str, created: Any
) -> tuple[httpx.Response, httpx.Response]:
    """Post one event with the write key and run a report with the secret key."""
    posted = httpx.post(
        f"{base}/events",
        json=make_event(created.id),
        headers={"X-Api-Key": created.write_key},
    )
    report = httpx.post(
        f"{base}/v1beta/properties/{created.id}:runReport",
        json=_REPORT,
        headers={"Authorization": f"Bearer {created.secret_key}"},
    )
    return posted, report


def _no_password_in(lines: list[dict[str, Any]]) -> None:
    text = json.dumps(lines)
    for name, password in _PASSWORDS.items():
        assert password not in text, f"{name} appears in a log line"


def test_api_at_debug_logs_debug_lines_and_no_password_when_logins_fail(
    settings: Settings,
) -> None:
    # Given passwords RabbitMQ and ClickHouse refuse (PostgreSQL trusts us),
    created = create_project(settings)
    base, api = _serve(settings, LOG_LEVEL="DEBUG", **_PASSWORDS)

    # when requests need the broker and ClickHouse,
    try:
        posted, report = _post_event_and_report(base, created)
    finally:
        lines = _stop(api)

    # then the failures are logged, DEBUG lines too, and no password is.
    assert posted.status_code == 503
    assert report.status_code >= 500
    levels = {line["level"] for line in lines}
    assert {"DEBUG", "INFO", "WARNING"} <= levels
    assert any("RabbitMQ" in line["message"] for line in lines)
    _no_password_in(lines)


def test_api_at_warning_logs_nothing_below_and_no_password_without_postgres(
    settings: Settings,
) -> None:
    # Given PostgreSQL unreachable, and every password set,
    created = create_project(settings)
    unreachable = settings.model_copy(update={"postgres_port": 1})
    base, api = _serve(unreachable, LOG_LEVEL="WARNING", **_PASSWORDS)

    # when requests need a key checked,
    try:
        posted, report = _post_event_and_report(base, created)
    finally:
        lines = _stop(api)

    # then only warnings and worse are written, PostgreSQL's among them,
    # with neither its password nor the others.
    assert posted.status_code == 503
    assert report.status_code == 503
    assert lines
    assert {line["level"] for line in lines} <= {"WARNING", "ERROR", "CRITICAL"}
    assert any("PostgreSQL unreachable" in line["message"] for line in lines)
    _no_password_in(lines)
