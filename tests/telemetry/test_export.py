"""Where spans go, per the OTEL_* variables: real OTLP/HTTP exports to a local
collector, the specification's default endpoint, and the protocols refused."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from ga4clone.settings import Settings
from ga4clone.telemetry import (
    UnsupportedOtlpProtocol,
    exporting_provider,
    traces_endpoint,
)
from ga4clone.telemetry.tracing import DEFAULT_TRACES_ENDPOINT
from tests.conftest import ROOT, base_settings
from tests.telemetry.conftest import Export, OtlpSink

# Nothing listens here: an export sent to it would be lost, not received.
_NOWHERE = "http://127.0.0.1:9"


def _export_one_span(settings: Settings, name: str) -> None:
    """Start tracing as `settings` ask, end one span named `name`, flush."""
    provider = exporting_provider(settings, "ga4clone-test")
    assert isinstance(provider, TracerProvider)
    try:
        provider.get_tracer("test").start_span(name).end()
        assert provider.force_flush(timeout_millis=10_000)
    finally:
        provider.shutdown()


def _only_export(sink: OtlpSink) -> Export:
    [export] = sink.exports
    return export


def test_signal_endpoint_is_used_as_is_and_wins_over_the_base(
    otlp_sink: OtlpSink,
) -> None:
    settings = base_settings(
        otel_exporter_otlp_traces_endpoint=f"{otlp_sink.url}/custom/spans",
        otel_exporter_otlp_endpoint=_NOWHERE,
    )

    _export_one_span(settings, "signal endpoint")

    export = _only_export(otlp_sink)
    assert export.path == "/custom/spans"
    assert export.content_type == "application/x-protobuf"
    assert export.span_names() == ["signal endpoint"]
    assert export.service_names() == {"ga4clone-test"}


def test_base_endpoint_gets_the_traces_path_appended(otlp_sink: OtlpSink) -> None:
    settings = base_settings(otel_exporter_otlp_endpoint=f"{otlp_sink.url}/prefix/")

    _export_one_span(settings, "base endpoint")

    export = _only_export(otlp_sink)
    assert export.path == "/prefix/v1/traces"
    assert export.span_names() == ["base endpoint"]


def _free_default_port() -> OtlpSink | None:
    try:
        return OtlpSink("127.0.0.1", 4318)
    except OSError:
        return None


def test_otlp_exporter_alone_sends_to_the_default_local_collector() -> None:
    settings = base_settings(otel_traces_exporter="otlp")
    sink = _free_default_port()
    if sink is None:
        pytest.skip("port 4318 is taken here, so the default endpoint cannot be")

    with sink:
        _export_one_span(settings, "default endpoint")

    assert traces_endpoint(settings) == DEFAULT_TRACES_ENDPOINT
    assert DEFAULT_TRACES_ENDPOINT == "http://localhost:4318/v1/traces"
    assert _only_export(sink).path == "/v1/traces"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"otel_traces_exporter": "none", "otel_exporter_otlp_endpoint": _NOWHERE},
        {
            "otel_traces_exporter": "none",
            "otel_exporter_otlp_traces_endpoint": f"{_NOWHERE}/v1/traces",
        },
        # The protocol alone asks for nothing, so it is not judged either.
        {"otel_exporter_otlp_protocol": "grpc"},
    ],
)
def test_tracing_is_off_without_an_endpoint_or_with_exporter_none(
    values: dict[str, Any],
) -> None:
    settings = base_settings(**values)

    assert traces_endpoint(settings) is None
    assert exporting_provider(settings, "ga4clone-test") is None


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"otel_exporter_otlp_protocol": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"),
        (
            {"otel_exporter_otlp_traces_protocol": "http/json"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json",
        ),
        (
            {
                "otel_exporter_otlp_protocol": "http/protobuf",
                "otel_exporter_otlp_traces_protocol": "grpc",
            },
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc",
        ),
    ],
)
def test_a_protocol_other_than_http_protobuf_is_refused_by_name(
    values: dict[str, str], named: str
) -> None:
    settings = base_settings(otel_exporter_otlp_endpoint=_NOWHERE, **values)

    with pytest.raises(UnsupportedOtlpProtocol, match=named) as refused:
        exporting_provider(settings, "ga4clone-test")

    assert "4318" in str(refused.value)


def test_the_traces_protocol_wins_over_the_general_one(otlp_sink: OtlpSink) -> None:
    settings = base_settings(
        otel_exporter_otlp_endpoint=otlp_sink.url,
        otel_exporter_otlp_protocol="grpc",
        otel_exporter_otlp_traces_protocol="http/protobuf",
    )

    _export_one_span(settings, "traces protocol")

    assert _only_export(otlp_sink).span_names() == ["traces protocol"]


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", ["api", "worker"])
def test_ga4clone_refuses_to_start_with_grpc_and_says_why(command: str) -> None:
    env = {
        **base_settings().environment(),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "SERVER_PORT": str(_unused_port()),
        "PATH": "/usr/bin:/bin",
    }

    result = subprocess.run(
        [sys.executable, "-m", "ga4clone", command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert f"ga4clone {command}: OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in result.stderr
