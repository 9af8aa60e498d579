"""Fixtures of the telemetry tests: spans kept in memory, metric deltas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from prometheus_client import REGISTRY

from ga4clone.telemetry import use_tracer_provider


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test only, every span kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    yield exporter
    use_tracer_provider(None)
    provider.shutdown()


def sample(name: str, **labels: str) -> float:
    """The current value of one sample of the default registry; 0 when absent."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def named(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in finished if span.name == name]


class ServerAsTuple:
    """ASGI shim: falcon.testing gives ``scope["server"]`` as an iterator, which
    the OpenTelemetry middleware indexes; ASGI servers give a tuple."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if "server" in scope:
            scope = {**scope, "server": tuple(scope["server"])}
        await self._app(scope, receive, send)
