"""What ga4clone shows of itself: traces, Prometheus metrics, request context.

- :mod:`.tracing`: the OTEL_* switch and where spans go, the tracer, W3C
  trace context in AMQP headers, and the ASGI wrapper that gives each
  request a SERVER span.
- :mod:`.metrics`: the ``ga4clone_*`` families and the ways to serve them.
- :mod:`.requests`: the request id of each API request, for logs and answers.
"""

from ga4clone.telemetry.metrics import (
    MetricsResource,
    RequestMetrics,
    record_accepted,
    record_refused,
    record_rejected,
    start_metrics_server,
)
from ga4clone.telemetry.requests import RequestContext
from ga4clone.telemetry.tracing import (
    UnsupportedOtlpProtocol,
    active_tracer,
    exporting_provider,
    extract,
    inject,
    instrument_asgi,
    setup_tracing,
    traces_endpoint,
    tracing_configured,
    use_tracer_provider,
)

__all__ = [
    "MetricsResource",
    "RequestContext",
    "RequestMetrics",
    "UnsupportedOtlpProtocol",
    "active_tracer",
    "exporting_provider",
    "extract",
    "inject",
    "instrument_asgi",
    "record_accepted",
    "record_refused",
    "record_rejected",
    "setup_tracing",
    "start_metrics_server",
    "traces_endpoint",
    "tracing_configured",
    "use_tracer_provider",
]
