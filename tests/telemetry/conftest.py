"""Fixtures of the telemetry tests: spans kept in memory, a local OTLP/HTTP
collector, metric deltas."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
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


@dataclass(frozen=True)
class Export:
    """One OTLP/HTTP export request as the collector received it."""

    path: str
    content_type: str
    request: ExportTraceServiceRequest

    def span_names(self) -> list[str]:
        return [
            span.name
            for resource in self.request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def service_names(self) -> set[str]:
        return {
            attribute.value.string_value
            for resource in self.request.resource_spans
            for attribute in resource.resource.attributes
            if attribute.key == "service.name"
        }


class OtlpSink:
    """A local OTLP/HTTP collector that keeps every trace export it is sent."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.exports: list[Export] = []
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> OtlpSink:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        exports = self.exports

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                content_type = self.headers.get("Content-Type", "")
                exports.append(Export(self.path, content_type, request))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                """Keep the test output free of access lines."""

        return Handler


@pytest.fixture
def otlp_sink() -> Iterator[OtlpSink]:
    """A collector on a free local port, for real OTLP/HTTP exports."""
    with OtlpSink() as sink:
        yield sink


def sample(name: str, **labels: str) -> float:
    """The current value of one sample of the default registry; 0 when absent."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def named(finished: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in finished if span.name == name]


class ServerAsTuple:
    """ASGI shim: falcon.testing gives ``scope["server"]``, the headers and
    each header as iterators (to prove an app asks only for iterables); the
    OpenTelemetry middleware indexes the one and reads the others before the
    app does, which would leave it none. ASGI servers give tuples."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope = dict(scope)
        if "server" in scope:
            scope["server"] = tuple(scope["server"])
        if "headers" in scope:
            scope["headers"] = [tuple(header) for header in scope["headers"]]
        await self._app(scope, receive, send)
