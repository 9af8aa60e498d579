"""Tracing: whether it is on, the tracer, and trace context in AMQP headers.

Configuration follows the OpenTelemetry specification. :class:`Settings`
carries the two variables that decide *whether* and *where* spans go
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_EXPORTER``), so the switch is
read once with the rest of the configuration. Every other ``OTEL_*`` variable
(``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``
and its argument, span limits, exporter headers and timeouts) is read by the
SDK itself, as the specification requires of every SDK: re-parsing them here
would only drift from the standard the Helm chart and collectors rely on.

With no endpoint and no console exporter, tracing is off: no tracer provider is
installed, :func:`active_tracer` returns ``None`` and every caller skips its
span work after that one check; :func:`instrument_asgi` returns the app as is.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.trace import Link, Span, SpanKind, Tracer

from ga4clone.settings import Settings

log = logging.getLogger(__name__)

_SCOPE = "ga4clone"
# Health probes and scrapes would outnumber real requests in every trace store.
_UNTRACED_PATHS = "/health,/ready,/metrics"


class _State:
    """The provider spans go to; ``None`` while tracing is off."""

    provider: TracerProvider | None = None
    tracer: Tracer | None = None


_state = _State()


def tracing_configured(settings: Settings) -> bool:
    """Whether the OTEL_* settings ask for spans to be exported."""
    exporter = settings.otel_traces_exporter
    if exporter == "console":
        return True
    return exporter != "none" and bool(settings.otel_exporter_otlp_endpoint)


def setup_tracing(settings: Settings, service_name: str) -> None:
    """Install a global tracer provider when tracing is configured.

    ``service_name`` is the default; OTEL_SERVICE_NAME overrides it.
    """
    if not tracing_configured(settings):
        log.debug("Tracing is off: no OTEL_EXPORTER_OTLP_ENDPOINT")
        return
    provider = TracerProvider(resource=_resource(service_name))
    provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    trace.set_tracer_provider(provider)
    use_tracer_provider(provider)
    log.info("Tracing on as %r", provider.resource.attributes.get(SERVICE_NAME))


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Send ga4clone's spans to ``provider`` from now on; ``None`` turns them off.

    Unlike the global provider this can be changed, which tests rely on.
    """
    _state.provider = provider
    _state.tracer = None if provider is None else provider.get_tracer(_SCOPE)


def active_tracer() -> Tracer | None:
    """The tracer while tracing is on, else ``None``: the one cheap check."""
    return _state.tracer


def instrument_asgi(app: Any) -> Any:
    """Wrap an ASGI app in one SERVER span per request; the app itself when off."""
    if _state.provider is None:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app,
        excluded_urls=_UNTRACED_PATHS,
        tracer_provider=_state.provider,
        # The per-chunk "http receive"/"http send" spans add nothing here.
        exclude_spans=["receive", "send"],
    )


@contextlib.contextmanager
def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    links: list[Link] | None = None,
) -> Iterator[Span | None]:
    """A current span while tracing is on; yields ``None`` (and does nothing) off."""
    tracer = _state.tracer
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(
        name, kind=kind, attributes=attributes, links=links
    ) as current:
        yield current


# --- trace context in AMQP headers ------------------------------------------------


class _HeaderGetter(Getter[Mapping[str, Any]]):
    """Reads propagation fields from pika headers, which may hold bytes."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            return None
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        return [str(value)]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier)


_GETTER = _HeaderGetter()


def inject(headers: dict[str, Any]) -> dict[str, Any]:
    """Add the current trace context (W3C traceparent by default) to ``headers``."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, Any] | None) -> context.Context:
    """The trace context a message's headers carry; empty when they carry none."""
    return propagate.extract(headers or {}, getter=_GETTER)


def producer_link(
    headers: Mapping[str, Any] | None, attributes: Mapping[str, Any]
) -> Link | None:
    """A link to the span that published a message, when its headers name one."""
    producer = trace.get_current_span(extract(headers)).get_span_context()
    if not producer.is_valid:
        return None
    return Link(producer, attributes)


def _resource(service_name: str) -> Resource:
    # Resource.create lets explicit attributes win over the environment;
    # merging the environment again after restores OTEL_SERVICE_NAME's say.
    return Resource.create({SERVICE_NAME: service_name}).merge(
        OTELResourceDetector().detect()
    )


def _exporter(settings: Settings) -> SpanExporter:
    if settings.otel_traces_exporter == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )

    # The specification appends the signal's path to the base endpoint.
    base = settings.otel_exporter_otlp_endpoint.rstrip("/")
    return OTLPSpanExporter(endpoint=f"{base}/v1/traces")
