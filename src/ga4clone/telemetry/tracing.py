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

The worker's batch span has no parent: it links to the producer span of each
message instead. The configured sampler alone would decide for it apart from
the requests, so at a 10 % ratio only one traced request in ten could be
followed into the stores. :class:`LinkedSampler` keeps such a span whenever a
context it links to was sampled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

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


def setup_tracing(
    settings: Settings, service_name: str, *, max_links: int | None = None
) -> None:
    """Install a global tracer provider when tracing is configured.

    ``service_name`` is the default; OTEL_SERVICE_NAME overrides it.
    ``max_links`` raises the links a span keeps above the SDK's limit
    (OTEL_SPAN_LINK_COUNT_LIMIT, 128 by default), never lowers it.
    """
    if not tracing_configured(settings):
        log.debug("Tracing is off: no OTEL_EXPORTER_OTLP_ENDPOINT")
        return
    provider = tracer_provider(service_name, max_links=max_links)
    provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    trace.set_tracer_provider(provider)
    use_tracer_provider(provider)
    log.info("Tracing on as %r", provider.resource.attributes.get(SERVICE_NAME))


def tracer_provider(
    service_name: str, *, max_links: int | None = None
) -> TracerProvider:
    """A provider with the OTEL_* environment's sampler, made link-aware.

    See :func:`setup_tracing` for the arguments; no span processor is added.
    """
    limits = SpanLimits()
    if max_links is not None and max_links > (limits.max_links or 0):
        limits = SpanLimits(max_links=max_links)
    provider = TracerProvider(resource=_resource(service_name), span_limits=limits)
    # Set before any tracer exists: each tracer takes the sampler it finds.
    provider.sampler = LinkedSampler(provider.sampler)
    return provider


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


class LinkedSampler(Sampler):
    """Samples a root span that links to a sampled context; else asks ``base``.

    ``base`` is the sampler the OTEL_TRACES_SAMPLER variables configure. A
    span with a parent, or without a sampled link, gets ``base``'s decision.
    """

    def __init__(self, base: Sampler) -> None:
        self._base = base

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if not parent.is_valid and any(
            link.context.trace_flags.sampled for link in links or ()
        ):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self._base.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"LinkedSampler{{{self._base.get_description()}}}"


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
