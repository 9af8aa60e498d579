"""Tracing: whether it is on, the tracer, and trace context in AMQP headers.

Configuration follows the OpenTelemetry specification. :class:`Settings`
carries the variables that decide *whether*, *where* and *how* spans go
(``OTEL_TRACES_EXPORTER``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` and its
``_TRACES_`` variant, ``OTEL_EXPORTER_OTLP_PROTOCOL`` and its ``_TRACES_``
variant), so the switch is read once with the rest of the configuration.
Every other ``OTEL_*`` variable (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and its argument, span
limits, exporter headers, timeouts and compression) is read by the SDK
itself, as the specification requires of every SDK: re-parsing them here
would only drift from the standard the Helm chart and collectors rely on.

Where spans go (:func:`traces_endpoint`), per the specification's OTLP
exporter section: the traces endpoint as it is; else the base endpoint with
``/v1/traces`` appended; else, when ``OTEL_TRACES_EXPORTER=otlp`` asks for
OTLP without an endpoint, the default ``http://localhost:4318/v1/traces``.
One deliberate departure: with nothing set at all, the specification's
default exporter is otlp, but here tracing is off, so a process nobody asked
to trace never posts spans to a collector that is not there. Off means no
tracer provider is installed, :func:`active_tracer` returns ``None`` and
every caller skips its span work after that one check;
:func:`instrument_asgi` returns the app as is.

Only the OTLP/HTTP protobuf exporter is installed. A ``grpc`` (or
``http/json``) protocol makes :func:`setup_tracing` raise
:class:`UnsupportedOtlpProtocol`, which stops ``ga4clone api`` and ``worker``
at start-up with that message: exporting protobuf over HTTP to a port that
speaks gRPC would fail on every batch, losing every span behind one warning
in the log, while a refusal shows at the rollout (Kubernetes keeps the old
pods serving) and names the fix.

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

from ga4clone.errors import Ga4cloneError
from ga4clone.settings import Settings

log = logging.getLogger(__name__)

_SCOPE = "ga4clone"
# The specification's default OTLP/HTTP traces endpoint.
DEFAULT_TRACES_ENDPOINT = "http://localhost:4318/v1/traces"
_TRACES_PATH = "v1/traces"
_HTTP_PROTOBUF = "http/protobuf"
# Health probes and scrapes would outnumber real requests in every trace store.
_UNTRACED_PATHS = "/health,/ready,/metrics"


class _State:
    """The provider spans go to; ``None`` while tracing is off."""

    provider: TracerProvider | None = None
    tracer: Tracer | None = None


_state = _State()


class UnsupportedOtlpProtocol(Ga4cloneError):
    """Raised when the OTEL_* settings ask for an OTLP protocol not installed."""


def traces_endpoint(settings: Settings) -> str | None:
    """The URL OTLP spans are posted to; ``None`` when no OTLP export is asked."""
    if settings.otel_traces_exporter in ("none", "console"):
        return None
    if settings.otel_exporter_otlp_traces_endpoint:
        return settings.otel_exporter_otlp_traces_endpoint
    if settings.otel_exporter_otlp_endpoint:
        # The specification: the signal's path joins the base with one slash.
        return f"{settings.otel_exporter_otlp_endpoint.rstrip('/')}/{_TRACES_PATH}"
    if settings.otel_traces_exporter == "otlp":
        return DEFAULT_TRACES_ENDPOINT
    return None


def tracing_configured(settings: Settings) -> bool:
    """Whether the OTEL_* settings ask for spans to be exported."""
    if settings.otel_traces_exporter == "console":
        return True
    return traces_endpoint(settings) is not None


def exporting_provider(
    settings: Settings, service_name: str, *, max_links: int | None = None
) -> TracerProvider | None:
    """A provider exporting as the settings ask; ``None`` when tracing is off.

    Raises :class:`UnsupportedOtlpProtocol` for a protocol other than
    http/protobuf. Nothing global is touched; see :func:`setup_tracing`.
    """
    if not tracing_configured(settings):
        return None
    exporter = _exporter(settings)
    provider = tracer_provider(service_name, max_links=max_links)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def setup_tracing(
    settings: Settings, service_name: str, *, max_links: int | None = None
) -> None:
    """Install a global tracer provider when tracing is configured.

    ``service_name`` is the default; OTEL_SERVICE_NAME overrides it.
    ``max_links`` raises the links a span keeps above the SDK's limit
    (OTEL_SPAN_LINK_COUNT_LIMIT, 128 by default), never lowers it.
    """
    provider = exporting_provider(settings, service_name, max_links=max_links)
    if provider is None:
        log.debug("Tracing is off: no OTLP endpoint and no OTEL_TRACES_EXPORTER")
        return
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
    endpoint = traces_endpoint(settings)
    if endpoint is None:
        # tracing_configured let only the console exporter through.
        return ConsoleSpanExporter()
    _require_http_protobuf(settings)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )

    return OTLPSpanExporter(endpoint=endpoint)


def _require_http_protobuf(settings: Settings) -> None:
    """Refuse a protocol the installed exporter cannot speak; see the module doc."""
    name = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    protocol = settings.otel_exporter_otlp_traces_protocol
    if not protocol:
        name = "OTEL_EXPORTER_OTLP_PROTOCOL"
        protocol = settings.otel_exporter_otlp_protocol
    if protocol in ("", _HTTP_PROTOBUF):
        return
    raise UnsupportedOtlpProtocol(
        f"{name}={protocol} is not supported: only the OTLP/HTTP protobuf "
        f"exporter is installed. Set {name}={_HTTP_PROTOBUF} (or leave it unset) "
        "and point the endpoint at the collector's OTLP/HTTP port (4318), "
        "not its gRPC port (4317)."
    )
